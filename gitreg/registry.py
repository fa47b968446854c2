"""Registry: MlflowClient's model-registry methods over a Git repository.

Every write is a small pure mutation of one model (``gitreg.mutations``), handed to a store
transaction that commits it; reads go straight to the store. Method and argument names
follow ``mlflow.MlflowClient`` so that switching is a change of import.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg import mutations as mut
from gitreg.entities import (
    ModelVersion,
    RegisteredModel,
    Stage,
    check_alias,
    check_name,
    now_ms,
    parse_version,
)
from gitreg.errors import GitregError, InvalidParameter, ModelNotFound, VersionNotFound
from gitreg.store import Store, Transaction, model_path
from gitreg.uri import parse_uri

if TYPE_CHECKING:
    from gitreg import search
    from gitreg.config import Policy
    from gitreg.history import HistoryEntry
    from gitreg.remote import TransitionRequest

Change = Callable[[RegisteredModel], RegisteredModel]


def _plural(items: Sequence[Any]) -> str:
    return "s" if len(items) > 1 else ""


class Registry:
    """A gitreg registry; ``Registry(path)`` as ``MlflowClient()``, ``at=`` for a read-only ref."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        at: str | None = None,
        *,
        push: bool | None = None,
        fetch: bool = False,
    ) -> None:
        """``push`` overrides gitreg.yaml's ``registry.push``; ``fetch`` reads the remote tip."""
        self.store = Store.discover(path)
        self.push = push
        if fetch:
            from gitreg import remote  # remote code stays off the read path

            tip = remote.fetch_tip(self.store, push)
            at = tip if at is None else at
        self.at = self.store.resolve_ref(at) if at is not None else None

    # ------------------------------------------------------------ internals

    def _read(self, name: str) -> RegisteredModel:
        return self.store.read_model(check_name(name), self.at)

    def _write(self, mutation: Callable[[Transaction], Any]) -> Any:
        if self.at is not None:
            raise InvalidParameter("This Registry reads a fixed ref (at=...); it cannot write")
        return self.store.transaction(mutation, push=self.push)

    def _modify(self, name: str, change: Change, message: str) -> RegisteredModel:
        check_name(name)

        def mutation(tx: Transaction) -> RegisteredModel:
            model, raw = _existing(tx, name)
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
            tags=mut.clean_tags(tags),
        )

        def mutation(tx: Transaction) -> RegisteredModel:
            mut.claim_name(tx.model_names(), name)
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
            model, raw = _existing(tx, name)
            if name.lower() != new_name.lower():
                mut.claim_name(tx.model_names(), new_name)
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
            _existing(tx, name)
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
        models = self._models_for(filter_string, versions=False)
        from gitreg import search  # only listings pay for the filter grammar

        return search.search_registered_models(
            models, filter_string, max_results, order_by, page_token
        )

    def _models_for(
        self, filter_string: str | None, versions: bool = True
    ) -> list[RegisteredModel]:
        from gitreg import search

        names = search.exact_names(filter_string, versions)
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
        self.set_tags(name, {key: value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag from the model (nothing happens if it is not set, as in MLflow)."""
        self._delete_tags(name, [key], None, strict=False)

    def set_tags(
        self, name: str, tags: Mapping[str, Any], version: int | str | None = None
    ) -> None:
        """Set several tags on a model (or one of its versions) in one commit; all or nothing."""
        checked = mut.clean_tags(tags)
        if not checked:
            raise InvalidParameter("Give at least one tag to set")
        number = None if version is None else parse_version(version)
        target = name if number is None else f"{name} version {number}"
        listed = ", ".join(f"{k}={v}" for k, v in checked.items())
        self._modify(
            name,
            lambda m: mut.set_tags(m, checked, number),
            f"Set tag{_plural(list(checked))} {listed} on {target}",
        )

    def delete_tags(self, name: str, keys: Sequence[str], version: int | str | None = None) -> None:
        """Remove several tags in one commit; a key that is not set is an error."""
        number = None if version is None else parse_version(version)
        self._delete_tags(name, keys, number, strict=True)

    def _delete_tags(
        self, name: str, keys: Sequence[str], number: int | None, strict: bool
    ) -> None:
        if not keys:
            raise InvalidParameter("Give at least one tag key to delete")
        target = name if number is None else f"{name} version {number}"
        self._modify(
            name,
            lambda m: mut.delete_tags(m, keys, number, strict),
            f"Delete tag{_plural(keys)} {', '.join(keys)} from {target}",
        )

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
        *,
        create_model: bool = True,
    ) -> ModelVersion:
        """Register ``source`` as the next version of ``name``.

        Creates the model if needed (as ``mlflow.register_model``); with
        ``create_model=False`` a missing model is RESOURCE_DOES_NOT_EXIST (as
        ``MlflowClient.create_model_version``), checked inside the transaction.
        """
        check_name(name)
        if not isinstance(source, str) or not source.strip():
            raise InvalidParameter("Invalid source: it must be a non-empty URI or path")
        created = now_ms()
        new = ModelVersion(
            name=name,
            version=0,
            source=source,
            run_id=run_id or None,
            description=description or None,
            tags=mut.clean_tags(tags),
            metrics={str(k): float(v) for k, v in (metrics or {}).items()},
            creation_timestamp=created,
            last_updated_timestamp=created,
            run_link=run_link or None,
            storage_location=storage_location or None,
        )
        del await_creation_for  # versions are READY the moment they are committed

        def mutation(tx: Transaction) -> ModelVersion:
            found = tx.read_model(name)
            if found is None and not create_model:
                raise ModelNotFound(f"Registered Model with name={name} not found")
            if found is None:
                mut.claim_name(tx.model_names(), name)
                model, raw = RegisteredModel(name, created, user_id=_user(tx)), None
            else:
                model, raw = found
            grown = mut.add_version(model, dataclasses.replace(new, user_id=_user(tx)))
            tx.write_model(grown, like=raw)
            number = model.next_version
            tx.message = f"Register {name} version {number}\n\nsource: {source}" + (
                f"\nrun_id: {run_id}" if run_id else ""
            )
            return mut.find_version(grown, number)

        result: ModelVersion = self._write(mutation)
        return result

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version; RESOURCE_DOES_NOT_EXIST if the model or version is missing."""
        return mut.find_version(self._read(name), version)

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        """Set a version's description."""
        number = parse_version(version)

        def change(m: RegisteredModel) -> RegisteredModel:
            mv = mut.find_version(m, number)
            return mut.replace_version(m, dataclasses.replace(mv, description=description or None))

        updated = self._modify(name, change, f"Update description of {name} version {number}")
        return mut.find_version(updated, number)

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version and the aliases pointing at it; its number is never reused."""
        number = parse_version(version)
        self._modify(
            name, lambda m: mut.delete_version(m, number), f"Delete {name} version {number}"
        )

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> search.PagedList[ModelVersion]:
        """Versions matching MLflow's filter grammar (name, run_id, source_path, tags, ...)."""
        models = self._models_for(filter_string)
        from gitreg import search

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
        *,
        message: str | None = None,
        direct: bool = False,
    ) -> ModelVersion:
        """Move a version to ``stage``; one version at most is ever in Production.

        On a registry with a remote, a stage the policy protects changes through a pull
        request: ``gitreg/NAME/vVERSION-STAGE`` is pushed and a request opened (see #5).

        Raises:
            TransitionNotAllowed: another version is in Production and
                ``archive_existing_versions`` is False, or the policy forbids the move
                (``direct`` on a protected stage included).
            PromotionPending: the request is open; the stage changes when it is merged.
        """
        number, target = parse_version(version), Stage.parse(stage)
        if archive_existing_versions and target not in (Stage.STAGING, Stage.PRODUCTION):
            raise InvalidParameter(
                f"archive_existing_versions applies only to Staging and Production, not {target}"
            )

        def mutation(tx: Transaction) -> ModelVersion:
            model, raw = _existing(tx, name)
            new = mut.transition(model, number, target, archive_existing_versions, _policy(tx))
            if new != model:
                tx.write_model(new, like=raw)
                tx.message = mut.transition_message(model, new, number, target, message)
            return mut.find_version(new, number)

        from gitreg import remote  # remote code stays off the read path

        def current() -> Stage | None:
            try:
                return self.get_model_version(name, number).current_stage
            except GitregError:
                return None  # not in this clone yet: the remote tip decides in the mutation

        if remote.needs_request(self.store, target, current, direct, self.push):
            return remote.request_transition(
                self.store, mutation, name, number, target, message, self.push
            )
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
        self.set_tags(name, {key: value}, number)

    def delete_model_version_tag(
        self,
        name: str,
        version: int | str | None = None,
        key: str | None = None,
        stage: str | None = None,
    ) -> None:
        """Remove a tag from a version (nothing happens if it is not set, as in MLflow)."""
        number = self._version_or_stage(name, version, stage)
        if key is None:
            raise InvalidParameter("Give the tag key to delete")
        self._delete_tags(name, [key], number, strict=False)

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
        self._modify(
            name,
            lambda m: mut.set_alias(m, alias, number),
            f"Set alias {name}@{alias} -> version {number}",
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove ``@alias`` (nothing happens if it is not set, as in MLflow)."""
        self._modify(name, lambda m: mut.delete_alias(m, alias), f"Delete alias {name}@{alias}")

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``@alias`` points at (``latest``: the newest version)."""
        return mut.version_for_alias(self._read(name), alias)

    # ----------------------------------------------------------------- URIs

    def get_version_for_uri(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names."""
        ref = parse_uri(uri)
        return mut.version_for_ref(self._read(ref.name), ref)

    def resolve(self, uri: str) -> str:
        """The source URI of the version a ``models:/`` URI names."""
        return self.get_version_for_uri(uri).source

    # ------------------------------------------------- audit and promotions

    def get_model_history(self, name: str, version: int | str | None = None) -> list[HistoryEntry]:
        """The audit trail of ``name`` (or of one version), newest first, from git history."""
        from gitreg import history

        check_name(name)
        number = None if version is None else parse_version(version)
        ref = self.at or "HEAD"
        entries = history.read_history(self.store.root, model_path(name), ref, number)
        if not entries and number is None:
            raise ModelNotFound(f"Registered Model with name={name} has no history")
        return entries

    def list_transition_requests(self) -> list[TransitionRequest]:
        """Open promotion requests: the remote's ``gitreg/...`` branches and forge requests."""
        from gitreg import remote

        return remote.list_requests(self.store, self.push, os.environ)

    def rollback_registered_model(
        self, name: str, *, message: str | None = None, direct: bool = False
    ) -> ModelVersion:
        """Return Production to the previous Production version (from history).

        Raises:
            VersionNotFound: no earlier Production version still exists.
            PromotionPending: as ``transition_model_version_stage`` on a protected stage.
        """
        from gitreg import history

        model = self._read(name)
        current = [mv.version for mv in model.versions if mv.current_stage == Stage.PRODUCTION]
        earlier = [
            v
            for v in history.production_versions(self.get_model_history(name))
            if v not in current and model.get_version(v) is not None
        ]
        if not earlier:
            raise VersionNotFound(
                f"{name} has no earlier Production version to roll back to (history shows none "
                "that still exists)"
            )
        now = f"version {current[0]}" if current else "no version"
        why = message or f"Rollback: Production returns to version {earlier[0]} (from {now})."
        return self.transition_model_version_stage(
            name, earlier[0], Stage.PRODUCTION.value, True, message=why, direct=direct
        )


def _existing(tx: Transaction, name: str) -> tuple[RegisteredModel, dict[str, Any]]:
    found = tx.read_model(name)
    if found is None:
        raise ModelNotFound(f"Registered Model with name={name} not found")
    return found


def _user(tx: Transaction) -> str:
    from gitreg import _git

    return _git.identity(tx.repo)


def _policy(tx: Transaction) -> Policy:
    from gitreg import manifest
    from gitreg.config import CONFIG_FILE, Config

    text = tx.read(CONFIG_FILE)
    if not text:
        return Config().policy
    return Config.from_dict(manifest.load_mapping(text, CONFIG_FILE)).policy
