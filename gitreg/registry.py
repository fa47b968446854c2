"""Registry: MlflowClient's model-registry methods over a Git repository.

Every write is a small pure mutation of one model, handed to a store transaction that
commits it; reads go straight to the store. Method and argument names follow
``mlflow.MlflowClient`` so that switching is a change of import.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gitreg import search
from gitreg.entities import (
    ModelVersion,
    RegisteredModel,
    Stage,
    check_alias,
    check_name,
    check_tag_key,
    now_ms,
    parse_version,
)
from gitreg.errors import (
    AliasNotFound,
    InvalidParameter,
    ModelAlreadyExists,
    ModelNotFound,
    TransitionNotAllowed,
    VersionNotFound,
)
from gitreg.store import Store, Transaction, model_path
from gitreg.uri import ModelRef, parse_uri

Change = Callable[[RegisteredModel], RegisteredModel]


def _tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    return {check_tag_key(k): str(v) for k, v in (tags or {}).items()}


def _version(model: RegisteredModel, version: int | str) -> ModelVersion:
    number = parse_version(version)
    found = model.get_version(number)
    if found is None:
        raise VersionNotFound(f"Model Version (name={model.name}, version={number}) not found")
    return found


def _replace_version(model: RegisteredModel, new: ModelVersion) -> RegisteredModel:
    return model.with_versions(new if mv.version == new.version else mv for mv in model.versions)


class Registry:
    """A gitreg registry; ``Registry(path)`` as ``MlflowClient()``, ``at=`` for a read-only ref."""

    def __init__(self, path: str | os.PathLike[str] | None = None, at: str | None = None) -> None:
        self.store = Store.discover(path)
        self.at = self.store.resolve_ref(at) if at is not None else None

    # ------------------------------------------------------------ internals

    def _read(self, name: str) -> RegisteredModel:
        return self.store.read_model(check_name(name), self.at)

    def _write(self, mutation: Callable[[Transaction], Any]) -> Any:
        if self.at is not None:
            raise InvalidParameter("This Registry reads a fixed ref (at=...); it cannot write")
        return self.store.transaction(mutation)

    def _modify(self, name: str, change: Change, message: str) -> RegisteredModel:
        check_name(name)

        def mutation(tx: Transaction) -> RegisteredModel:
            found = tx.read_model(name)
            if found is None:
                raise ModelNotFound(f"Registered Model with name={name} not found")
            model, raw = found
            new = change(model)
            if new != model:
                tx.write_model(new, like=raw)
                tx.message = message
            return new

        result: RegisteredModel = self._write(mutation)
        return result

    # ---------------------------------------------------- registered models

    def create_registered_model(
        self, name: str, tags: Mapping[str, Any] | None = None, description: str | None = None
    ) -> RegisteredModel:
        """Create an empty registered model; RESOURCE_ALREADY_EXISTS if the name is taken."""
        check_name(name)
        model = RegisteredModel(
            name=name,
            creation_timestamp=now_ms(),
            description=description or None,
            tags=_tags(tags),
        )

        def mutation(tx: Transaction) -> RegisteredModel:
            _claim_name(tx, name)
            created = dataclasses.replace(model, user_id=_user(tx))
            tx.write_model(created)
            tx.message = f"Create registered model {name}"
            return RegisteredModel.from_manifest(created.to_manifest())

        result: RegisteredModel = self._write(mutation)
        return result

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model ``name``; RESOURCE_DOES_NOT_EXIST if there is none."""
        return self._read(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model, its versions and aliases with it, in one commit."""
        check_name(name)
        check_name(new_name, "new model name")

        def mutation(tx: Transaction) -> RegisteredModel:
            found = tx.read_model(name)
            if found is None:
                raise ModelNotFound(f"Registered Model with name={name} not found")
            model, raw = found
            if name.lower() != new_name.lower():
                _claim_name(tx, new_name)
            renamed = dataclasses.replace(model, name=new_name).with_versions(model.versions)
            tx.delete(model_path(name))
            tx.write_model(renamed, like={**raw, "name": new_name})
            tx.message = f"Rename registered model {name} to {new_name}"
            return renamed

        result: RegisteredModel = self._write(mutation)
        return result

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        """Set the model's description (an empty string clears it)."""
        return self._modify(
            name,
            lambda m: dataclasses.replace(m, description=description or None),
            f"Update description of {name}",
        )

    def delete_registered_model(self, name: str) -> None:
        """Delete the model and all its versions (history keeps them)."""
        check_name(name)

        def mutation(tx: Transaction) -> None:
            if tx.read_model(name) is None:
                raise ModelNotFound(f"Registered Model with name={name} not found")
            tx.delete(model_path(name))
            tx.message = f"Delete registered model {name}"

        self._write(mutation)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> search.PagedList[RegisteredModel]:
        """Models matching MLflow's filter grammar, ordered and paged as MLflow does."""
        models = self._models_for(filter_string)
        return search.search_registered_models(
            models, filter_string, max_results, order_by, page_token
        )

    def _models_for(self, filter_string: str | None) -> list[RegisteredModel]:
        names = search.exact_names(filter_string)
        if names is None:
            return self.store.read_models(self.at)
        found = []
        for name in sorted(names):
            try:
                found.append(self.store.read_model(check_name(name), self.at))
            except (ModelNotFound, InvalidParameter):
                continue
        return found

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        """Set a tag on the model."""
        tags = _tags({key: value})
        self._modify(
            name,
            lambda m: dataclasses.replace(m, tags={**m.tags, **tags}),
            f"Set tag {key}={tags[key]} on {name}",
        )

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag from the model; RESOURCE_DOES_NOT_EXIST if it is not set."""

        def change(m: RegisteredModel) -> RegisteredModel:
            if key not in m.tags:
                raise InvalidParameter(f"Registered model {name} has no tag {key!r}")
            return dataclasses.replace(m, tags={k: v for k, v in m.tags.items() if k != key})

        self._modify(name, change, f"Delete tag {key} from {name}")

    # ------------------------------------------------------------- versions

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
        metrics: Mapping[str, float] | None = None,
        storage_location: str | None = None,
    ) -> ModelVersion:
        """Register ``source`` as the next version of ``name``, creating the model if needed."""
        check_name(name)
        created = now_ms()
        if not isinstance(source, str) or not source.strip():
            raise InvalidParameter("Invalid source: it must be a non-empty URI or path")
        new = ModelVersion(
            name=name,
            version=0,
            source=source,
            run_id=run_id or None,
            description=description or None,
            tags=_tags(tags),
            metrics={str(k): float(v) for k, v in (metrics or {}).items()},
            creation_timestamp=created,
            last_updated_timestamp=created,
            run_link=run_link or None,
            storage_location=storage_location or None,
        )
        del await_creation_for  # versions are READY the moment they are committed

        def mutation(tx: Transaction) -> ModelVersion:
            found = tx.read_model(name)
            if found is None:
                _claim_name(tx, name)
                model, raw = RegisteredModel(name, new.creation_timestamp, user_id=_user(tx)), None
            else:
                model, raw = found
            number = model.next_version
            mv = dataclasses.replace(new, version=number, user_id=_user(tx))
            model = dataclasses.replace(model, next_version=number + 1)
            model = model.with_versions([*model.versions, mv])
            tx.write_model(model, like=raw)
            tx.message = f"Register {name} version {number}\n\nsource: {source}" + (
                f"\nrun_id: {run_id}" if run_id else ""
            )
            return ModelVersion.from_manifest(name, mv.to_manifest())

        result: ModelVersion = self._write(mutation)
        return result

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version; RESOURCE_DOES_NOT_EXIST if the model or version is missing."""
        return _version(self._read(name), version)

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        """Set a version's description."""
        number = parse_version(version)

        def change(m: RegisteredModel) -> RegisteredModel:
            mv = _version(m, number)
            return _replace_version(m, dataclasses.replace(mv, description=description or None))

        return _version(
            self._modify(name, change, f"Update description of {name} version {number}"), number
        )

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version and the aliases pointing at it; its number is never reused."""
        number = parse_version(version)

        def change(m: RegisteredModel) -> RegisteredModel:
            _version(m, number)
            aliases = {a: v for a, v in m.aliases.items() if v != number}
            kept = [mv for mv in m.versions if mv.version != number]
            return dataclasses.replace(m, aliases=aliases).with_versions(kept)

        self._modify(name, change, f"Delete {name} version {number}")

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> search.PagedList[ModelVersion]:
        """Versions matching MLflow's filter grammar (name, run_id, source_path, tags, ...)."""
        models = self._models_for(filter_string)
        return search.search_model_versions(
            models, filter_string, max_results, order_by, page_token
        )

    def get_latest_versions(
        self, name: str, stages: Iterable[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each of ``stages`` (every stage when None), as MLflow does."""
        model = self._read(name)
        wanted = {Stage.parse(s) for s in stages} if stages else None
        return [mv for mv in model.latest_versions if wanted is None or mv.current_stage in wanted]

    def get_model_version_stages(self, name: str, version: int | str) -> list[str]:
        """The stages a version can be in (MLflow's fixed list)."""
        self.get_model_version(name, version)
        return [s.value for s in Stage]

    def transition_model_version_stage(
        self,
        name: str,
        version: int | str,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        """Move a version to ``stage``; one version at most is ever in Production.

        Raises:
            TransitionNotAllowed: another version is in Production and
                ``archive_existing_versions`` is False, or the policy forbids the move.
        """
        number, target = parse_version(version), Stage.parse(stage)
        if archive_existing_versions and target not in (Stage.STAGING, Stage.PRODUCTION):
            raise InvalidParameter(
                f"archive_existing_versions applies only to Staging and Production, not {target}"
            )

        def mutation(tx: Transaction) -> ModelVersion:
            found = tx.read_model(name)
            if found is None:
                raise ModelNotFound(f"Registered Model with name={name} not found")
            model, raw = found
            policy = _policy(tx)
            new = _transition(model, number, target, archive_existing_versions, policy)
            if new != model:
                tx.write_model(new, like=raw)
                old_stage = _version(model, number).current_stage
                moved = [
                    f"{mv.version}"
                    for mv in new.versions
                    if mv.version != number and mv != model.get_version(mv.version)
                ]
                tx.message = f"Transition {name} version {number}: {old_stage} -> {target}" + (
                    f"\n\nArchived version(s) {', '.join(moved)}" if moved else ""
                )
            return _version(new, number)

        result: ModelVersion = self._write(mutation)
        return result

    def set_model_version_tag(
        self,
        name: str,
        version: int | str | None = None,
        key: str | None = None,
        value: Any = None,
        stage: str | None = None,
    ) -> None:
        """Set a tag on a version (or on the newest version in ``stage``)."""
        number = self._version_or_stage(name, version, stage)
        if key is None:
            raise InvalidParameter("Give the tag key to set")
        tags = _tags({key: value})

        def change(m: RegisteredModel) -> RegisteredModel:
            mv = _version(m, number)
            return _replace_version(m, dataclasses.replace(mv, tags={**mv.tags, **tags}))

        self._modify(name, change, f"Set tag {key}={tags[key]} on {name} version {number}")

    def delete_model_version_tag(
        self,
        name: str,
        version: int | str | None = None,
        key: str | None = None,
        stage: str | None = None,
    ) -> None:
        """Remove a tag from a version."""
        number = self._version_or_stage(name, version, stage)

        def change(m: RegisteredModel) -> RegisteredModel:
            mv = _version(m, number)
            if key not in mv.tags:
                raise InvalidParameter(f"{name} version {number} has no tag {key!r}")
            tags = {k: v for k, v in mv.tags.items() if k != key}
            return _replace_version(m, dataclasses.replace(mv, tags=tags))

        self._modify(name, change, f"Delete tag {key} from {name} version {number}")

    def _version_or_stage(self, name: str, version: int | str | None, stage: str | None) -> int:
        if (version is None) == (stage is None):
            raise InvalidParameter("Give exactly one of version or stage")
        if version is not None:
            return parse_version(version)
        latest = self.get_latest_versions(name, [stage or ""])
        if not latest:
            raise VersionNotFound(f"Registered model {name} has no version in stage {stage}")
        return latest[0].version

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """Where the version's artifacts are (its storage location, else its source)."""
        mv = self.get_model_version(name, version)
        return mv.storage_location or mv.source

    # -------------------------------------------------------------- aliases

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``@alias`` at ``version`` (moving it if it pointed elsewhere)."""
        check_alias(alias)
        number = parse_version(version)

        def change(m: RegisteredModel) -> RegisteredModel:
            _version(m, number)
            updated = dataclasses.replace(m, aliases={**m.aliases, alias: number})
            return updated.with_versions(m.versions)

        self._modify(name, change, f"Set alias {name}@{alias} -> version {number}")

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove ``@alias``; RESOURCE_DOES_NOT_EXIST if it is not set."""

        def change(m: RegisteredModel) -> RegisteredModel:
            if alias not in m.aliases:
                raise AliasNotFound(f"Registered model alias {alias} not found on {name}")
            aliases = {a: v for a, v in m.aliases.items() if a != alias}
            return dataclasses.replace(m, aliases=aliases).with_versions(m.versions)

        self._modify(name, change, f"Delete alias {name}@{alias}")

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``@alias`` points at."""
        model = self._read(name)
        if alias not in model.aliases:
            raise AliasNotFound(f"Registered model alias {alias} not found on {name}")
        return _version(model, model.aliases[alias])

    # ----------------------------------------------------------------- URIs

    def get_version_for_uri(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names."""
        ref = parse_uri(uri)
        return self._version_for_ref(ref)

    def _version_for_ref(self, ref: ModelRef) -> ModelVersion:
        model = self._read(ref.name)
        if ref.version is not None:
            return _version(model, ref.version)
        if ref.alias is not None:
            if ref.alias not in model.aliases:
                raise AliasNotFound(f"Registered model alias {ref.alias} not found on {ref.name}")
            return _version(model, model.aliases[ref.alias])
        candidates = [mv for mv in model.versions if ref.latest or mv.current_stage == ref.stage]
        if not candidates:
            where = "any version" if ref.latest else f"a version in stage {ref.stage}"
            raise VersionNotFound(f"Registered model {ref.name} has no {where}")
        return max(candidates, key=lambda mv: mv.version)

    def resolve(self, uri: str) -> str:
        """The source URI of the version a ``models:/`` URI names."""
        return self.get_version_for_uri(uri).source


def _user(tx: Transaction) -> str:
    from gitreg import _git

    return _git.identity(tx.repo)


def _policy(tx: Transaction) -> Any:
    from gitreg import manifest
    from gitreg.config import CONFIG_FILE, Config

    text = tx.read(CONFIG_FILE)
    return (
        Config.from_dict(manifest.load_mapping(text, CONFIG_FILE)).policy
        if text
        else Config().policy
    )


def _claim_name(tx: Transaction, name: str) -> None:
    """RESOURCE_ALREADY_EXISTS if ``name`` is taken, also when only its case differs."""
    for existing in tx.model_names():
        if existing == name:
            raise ModelAlreadyExists(f"Registered Model (name={name}) already exists.")
        if existing.lower() == name.lower():
            raise ModelAlreadyExists(
                f"Registered Model (name={existing}) already exists and differs from {name!r} "
                "only in case; names must be unique case-insensitively (macOS and Windows "
                "checkouts would merge them)"
            )


def _transition(
    model: RegisteredModel, number: int, target: Stage, archive: bool, policy: Any
) -> RegisteredModel:
    mv = _version(model, number)
    if mv.current_stage == target:
        return model
    if not policy.allows(mv.current_stage, target):
        raise TransitionNotAllowed(
            f"gitreg.yaml does not allow {mv.current_stage} -> {target}; "
            "change the policy's transitions (through a pull request) or pick another stage"
        )
    unmet = policy.requirements[target].unmet(mv) if target in policy.requirements else []
    if unmet:
        raise TransitionNotAllowed(
            f"{model.name} version {number} cannot enter {target}: {'; '.join(unmet)}"
        )
    others = [o for o in model.versions if o.version != number and o.current_stage == target]
    if target == Stage.PRODUCTION and others and not archive:
        raise TransitionNotAllowed(
            f"{model.name} version {others[0].version} is already in Production; pass "
            "archive_existing_versions=True (--archive-existing-versions) to archive it in "
            "the same commit, or move it out of Production first"
        )
    updated = [
        dataclasses.replace(o, current_stage=Stage.ARCHIVED) if archive and o in others else o
        for o in model.versions
        if o.version != number
    ]
    updated.append(dataclasses.replace(mv, current_stage=target))
    return model.with_versions(updated)
