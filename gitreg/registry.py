"""Registry: MlflowClient's model-registry methods over a Git repository.

Every write is a small pure mutation of one model (``gitreg.core.mutations``), handed to a store
transaction that commits it; reads go straight to the store. Method and argument names
follow ``mlflow.MlflowClient`` so that switching is a change of import.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.core import mutations as mut
from gitreg.core import record
from gitreg.core.config import Policy
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import (
    BadRef,
    GitregError,
    InvalidParameter,
    ModelNotFound,
    VersionNotFound,
)
from gitreg.core.fields import (
    check_alias,
    check_tag_key,
    now_ms,
    parse_version,
)
from gitreg.core.names import check_name
from gitreg.core.uri import parse_uri
from gitreg.services import operations as ops
from gitreg.services.collaboration import Collaboration
from gitreg.services.governance import Governance
from gitreg.services.integrity import Integrity
from gitreg.services.notifications import Notifications
from gitreg.store.store import Store
from gitreg.store.transaction import Transaction

if TYPE_CHECKING:
    from types import ModuleType

    from gitreg.core.identity import Identity
    from gitreg.integrations.artifacts import Progress
    from gitreg.services.listing import Listing

    # RemoteRegistry is documented here (#15); imported when first asked for (``__getattr__``):
    # a CLI write never reads a remote's catalog (#26).
    from gitreg.services.remote_registry import RemoteRegistry as RemoteRegistry
    from gitreg.store.reading import Reading
    from gitreg.store.spool import Recipe
    from gitreg.store.transaction import Clock


def __getattr__(name: str) -> Any:
    """``gitreg.registry.RemoteRegistry``, imported on first use (#26)."""
    if name == "RemoteRegistry":
        from gitreg.services.remote_registry import RemoteRegistry

        return RemoteRegistry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ``at="verified"`` (and ``--at verified``) names the verified tip, never a ref of that name.
VERIFIED_WORD = "verified"


class Registry(Governance, Notifications, Collaboration, Integrity):
    """A gitreg registry; ``Registry(path)`` as ``MlflowClient()``, ``at=`` for a read-only ref.

    The MLflow-named methods are here; what MLflow has no name for is in the bases:
    history, events, requests and audit (``Governance``), delivery and webhooks
    (``Notifications``, MLflow's webhook API included), model cards and comments
    (``Collaboration``, Databricks' comment API names), and the artifacts' digests and
    signatures (``Integrity``: verify, verify_all, sign_model_version, #28).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        at: str | None = None,
        *,
        push: bool | None = None,
        fetch: bool = False,
        verified: bool = False,
        author: Identity | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``push`` overrides gitreg.yaml's ``registry.push``; ``fetch`` reads the remote tip.

        ``verified=True`` reads the verified tip, ``refs/gitreg/verified``: the last commit
        a clean ``gitreg audit`` accepted (#22), what a deployment that must never load an
        unaudited state pins. Read-only, as any ``at``. ``at="verified"`` means the same,
        always: a branch or tag called verified is ``refs/heads/verified``.

        ``author`` is the author of every commit this registry writes instead of git's
        identity (which stays the committer), and the ``created_by`` of what it creates: the
        person a server authenticated (#25). ``clock`` gives the time of each write in epoch
        milliseconds (default: now).

        Raises:
            BadRef: ``at`` names no commit, or ``verified`` and the clone has no verified tip.
            InvalidParameter: ``verified`` with ``at`` or ``fetch``.
        """
        self.store = Store.discover(path)
        self.push = push
        self.author = author
        self.clock: Clock = clock or now_ms
        # What the last registration could not record of its artifact (#28), or None.
        self.artifact_note: str | None = None
        if at == VERIFIED_WORD:
            at, verified = None, True
        self.verified = verified
        if verified:
            at = self._verified_tip(at, fetch)
        if fetch:
            from gitreg.store.proposal import fetch_tip  # remote code stays off the read path

            tip = fetch_tip(self.store, push)
            at = tip if at is None else at
        self.at = self.store.resolve_ref(at) if at is not None else None

    def _verified_tip(self, at: str | None, fetch: bool) -> str:
        from gitreg.store.verified import VERIFIED_REF, read_verified

        if at is not None or fetch:
            given = "at=..." if at is not None else "fetch=True"
            raise InvalidParameter(
                f"verified=True reads {VERIFIED_REF}; it cannot be combined with {given} "
                "(for a remote's verified tip, use RemoteRegistry(url, verified=True))"
            )
        commit = read_verified(self.store.root)
        if commit is None:
            raise BadRef(
                f"{self.store.root} has no verified tip ({VERIFIED_REF}): a clean gitreg "
                "audit records it (the push workflow gitreg init writes pushes it); in a "
                f"clone, fetch it: git fetch origin {VERIFIED_REF}:{VERIFIED_REF}"
            )
        return commit

    def acting_as(self, author: Identity | None, clock: Clock | None = None) -> Registry:
        """This registry, writing as ``author`` (and timing its writes by ``clock``).

        A copy that shares the store: a server keeps one ``Registry`` and hands each
        request's writes the caller it authenticated, without any shared state (#25).
        """
        import copy  # a server's, once per request: not on a CLI write's path (#26)

        view = copy.copy(self)
        view.author = author
        view.clock = clock or now_ms
        return view

    # ------------------------------------------------------------ internals

    def _read(self, name: str) -> RegisteredModel:
        return self.store.read_model(check_name(name), self.at)

    def _write(
        self,
        mutation: Callable[[Transaction], Any],
        *,
        direct: bool = False,
        why: str | None = None,
        recipe: Callable[[ModuleType], Recipe] | None = None,
    ) -> Any:
        """Commit ``mutation``; on a registry with a remote, one that changes a protected
        fact becomes a pull request instead (PromotionPending, see ``promotion``).

        ``recipe(spooled)`` is ``mutation`` as data (``services.spooled``): with a remote,
        a writer holding the clone may apply it for this one (group commit, #26)."""
        if self.at is not None:
            raise InvalidParameter("This Registry reads a fixed ref (at=...); it cannot write")
        from gitreg.store.remote import has_remote  # remote code stays off the read path

        author, clock = self.author, self.clock
        if not has_remote(self.store.root, self.store.read_config()):
            # No remote, no reviewers: a direct write (promotion.needs_review), without
            # loading the request machinery, forges and proposals (#26).
            return self.store.transaction(mutation, push=self.push, author=author, clock=clock)
        from gitreg.services import promotion

        config = promotion.needs_review(self.store, self.push)
        if config is None:
            return self.store.transaction(mutation, push=self.push, author=author, clock=clock)
        handed = None
        if recipe is not None:
            from gitreg.services import spooled

            handed = recipe(spooled)
        try:
            return self.store.transaction(
                promotion.guarded(mutation),
                push=self.push,
                author=author,
                clock=clock,
                recipe=handed,
            )
        except promotion.ReviewRequired as e:
            promotion.refuse_direct(e.changes[0], direct, config, self.push)
            return promotion.request_change(
                self.store, mutation, e.changes, why, self.push, author=author, clock=clock
            )

    def _policy_or_none(self) -> Policy | None:
        """The policy of the gitreg.yaml read, or None when it is invalid (the write's own
        validation, and the gate, say so)."""
        try:
            return self.store.read_config(self.at).policy
        except GitregError:
            return None

    def _modify(self, name: str, change: ops.Change, message: str) -> RegisteredModel:
        result: RegisteredModel = self._write(ops.modify(check_name(name), change, message))
        return result

    @property
    def last_commit(self) -> str | None:
        """The commit the last write made on this Registry, or None if it changed nothing."""
        return self.store.last_commit

    # ---------------------------------------------------- registered models

    def create_registered_model(
        self, name: str, tags: Mapping[str, Any] | None = None, description: str | None = None
    ) -> RegisteredModel:
        """Create an empty registered model; RESOURCE_ALREADY_EXISTS if the name is taken."""
        check_name(name)
        model = RegisteredModel(
            name=name,
            creation_timestamp=self.clock(),
            description=ops.description_text(description),
            tags=mut.clean_tags(tags),
        )

        result: RegisteredModel = self._write(ops.create_model(model))
        return result

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model ``name``; RESOURCE_DOES_NOT_EXIST if there is none."""
        return self._read(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model, its versions and aliases with it, in one commit."""
        check_name(name)
        check_name(new_name, "new model name")

        result: RegisteredModel = self._write(ops.rename_model(name, new_name))
        return result

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        """Set the model's description (None removes it; ``""`` is kept, as MLflow keeps it)."""
        text = ops.description_text(description)
        return self._modify(
            name,
            lambda m: record.replace(m, description=text),
            f"Update description of {name}",
        )

    def delete_registered_model(self, name: str) -> RegisteredModel:
        """Delete the model and all its versions (history keeps them); returns what was deleted."""
        result: RegisteredModel = self._write(ops.delete_model(check_name(name)))
        return result

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> Listing[RegisteredModel]:
        """Models matching MLflow's filter grammar, ordered and paged as MLflow does.

        A model whose manifest is invalid is not listed; ``refused`` on the result names it
        and its findings (#22).
        """
        reading = self._reading_for(filter_string, versions=False)
        from gitreg.core import search  # only listings pay for the filter grammar
        from gitreg.services.listing import Listing

        found = search.search_registered_models(
            reading.models, filter_string, max_results, order_by, page_token
        )
        return Listing(found, found.token, reading.refused)

    def _reading_for(self, filter_string: str | None, versions: bool = True) -> Reading:
        from gitreg.core import search

        return self.store.read_registry(self.at, search.exact_names(filter_string, versions))

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        """Set a tag on the model."""
        self.set_tags(name, {key: value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag from the model (nothing happens if it is not set, as in MLflow)."""
        self._delete_tags(name, [key], None, strict=False)

    def set_tags(
        self, name: str, tags: Mapping[str, Any], version: int | str | None = None
    ) -> RegisteredModel:
        """Set several tags on a model (or one of its versions) in one commit; all or nothing.

        Returns the model as written.
        """
        check_name(name)
        number = None if version is None else parse_version(version)
        checked = mut.clean_tags(tags)
        result: RegisteredModel = self._write(
            ops.set_tags(name, checked, number), recipe=lambda s: s.set_tags(name, checked, number)
        )
        return result

    def delete_tags(
        self, name: str, keys: Sequence[str], version: int | str | None = None
    ) -> RegisteredModel:
        """Remove several tags in one commit; a key that is not set is an error."""
        number = None if version is None else parse_version(version)
        return self._delete_tags(name, keys, number, strict=True)

    def _delete_tags(
        self, name: str, keys: Sequence[str], number: int | None, strict: bool
    ) -> RegisteredModel:
        check_name(name)
        checked = [check_tag_key(key) for key in keys]  # as MLflow: before the model is read
        result: RegisteredModel = self._write(
            ops.delete_tags(name, checked, number, strict),
            recipe=lambda s: s.delete_tags(name, checked, number, strict),
        )
        return result

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
        digest: str | None = None,
        progress: Progress | None = None,
        tracking_uri: str | None = None,
    ) -> ModelVersion:
        """Register ``source`` as the next version of ``name``.

        Creates the model if needed (as ``mlflow.register_model``); with
        ``create_model=False`` a missing model is RESOURCE_DOES_NOT_EXIST (as
        ``MlflowClient.create_model_version``), checked inside the transaction.

        The artifact (``storage_location``, else ``source``) is read when gitreg can read
        it, and its digest recorded, with an MLflow model's signature (#28). ``digest``
        is one the caller knows: it must match a readable artifact, and is recorded as
        given for one gitreg cannot read. ``artifact_note`` says afterwards what could not
        be recorded, if anything. ``tracking_uri`` is MLflow's, for runs:/ and models:/.

        Raises:
            DigestMismatch: ``digest`` is not the readable artifact's.
            ArtifactUnreadable: gitreg.yaml's ``requirements.None`` asks for a digest (or
                a model signature) the artifact cannot give.
        """
        from gitreg.services import examination

        examined = examination.examine(
            storage_location or source, digest, progress, tracking_uri=tracking_uri
        )
        examination.check_registration(examined, self._policy_or_none())
        self.artifact_note = examined.note
        new = ops.new_version(
            name,
            source,
            run_id=run_id,
            tags=tags,
            run_link=run_link,
            description=description,
            metrics=metrics,
            storage_location=storage_location,
            digest=examined.digest,
            created=self.clock(),
        )
        new = record.replace(
            new, signature=examined.signature, has_input_example=examined.has_input_example
        )
        del await_creation_for  # versions are READY the moment they are committed

        # Without a file listing to keep, a registration is pure data (see spooled).
        pure = examined.listing is None
        result: ModelVersion = self._write(
            ops.register_version(name, new, create_model=create_model, listing=examined.listing),
            recipe=(lambda s: s.register(new, create_model)) if pure else None,
        )
        return result

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version; RESOURCE_DOES_NOT_EXIST if the model or version is missing."""
        number = parse_version(version)  # as MLflow: the arguments, then the model
        try:
            model = self._read(name)
        except ModelNotFound as e:  # MLflow names the version (its words), gitreg the model
            raise VersionNotFound(
                f"Model Version (name={name}, version={number}) not found: {e.message}"
            ) from e
        return mut.find_version(model, number)

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        """Set a version's description (None removes it; ``""`` is kept, as MLflow keeps it)."""
        number = parse_version(version)
        text = ops.description_text(description)

        def change(m: RegisteredModel) -> RegisteredModel:
            mv = mut.find_version(m, number)
            return mut.replace_version(m, record.replace(mv, description=text))

        updated = self._modify(name, change, f"Update description of {name} version {number}")
        return mut.find_version(updated, number)

    def delete_model_version(self, name: str, version: int | str) -> ModelVersion:
        """Delete a version and the aliases pointing at it; its number is never reused.

        Returns the version as it was, ``aliases`` naming the aliases deleted with it.
        """
        number = parse_version(version)
        result: ModelVersion = self._write(ops.delete_version(check_name(name), number))
        return result

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> Listing[ModelVersion]:
        """Versions matching MLflow's filter grammar (name, run_id, source_path, tags, ...).

        The versions of a model whose manifest is invalid are not listed; ``refused`` on
        the result names it and its findings (#22).
        """
        reading = self._reading_for(filter_string)
        from gitreg.core import search
        from gitreg.services.listing import Listing

        found = search.search_model_versions(
            reading.models, filter_string, max_results, order_by, page_token
        )
        return Listing(found, found.token, reading.refused)

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
                "Model version transition cannot archive existing model versions because "
                f"{target} is not an Active stage; archive_existing_versions applies only to "
                "Staging and Production"
            )

        mutation = ops.transition(name, number, target, archive_existing_versions, message)
        result: ModelVersion = self._write(
            mutation,
            direct=direct,
            why=message,
            recipe=lambda s: s.transition(name, number, target, archive_existing_versions, message),
        )
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
        self.set_tags(name, {check_tag_key(key): value}, number)

    def delete_model_version_tag(
        self,
        name: str,
        version: int | str | None = None,
        key: str | None = None,
        stage: str | None = None,
    ) -> None:
        """Remove a tag from a version (nothing happens if it is not set, as in MLflow)."""
        number = self._version_or_stage(name, version, stage)
        self._delete_tags(name, [check_tag_key(key)], number, strict=False)

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

    def set_registered_model_alias(
        self, name: str, alias: str, version: int | str
    ) -> RegisteredModel:
        """Point ``@alias`` at ``version`` (moving it if set elsewhere); returns the model."""
        check_alias(alias)
        number = parse_version(version)
        result: RegisteredModel = self._write(
            ops.set_alias(check_name(name), alias, number),
            recipe=lambda s: s.set_alias(name, alias, number, True),
        )
        return result

    def set_alias(self, name: str, alias: str, version: int | str) -> None:
        """``set_registered_model_alias`` returning nothing, as MLflow's
        ``MlflowClient.set_registered_model_alias`` does: a process's first write to a model of
        thousands of versions then skips parsing the whole manifest for an answer (#26)."""
        check_alias(alias)
        number = parse_version(version)
        self._write(
            ops.set_alias(check_name(name), alias, number, answer=False),
            recipe=lambda s: s.set_alias(name, alias, number, False),
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> RegisteredModel:
        """Remove ``@alias`` (nothing happens if it is not set, as in MLflow); returns the model."""
        return self._modify(
            name, lambda m: mut.delete_alias(m, alias), f"Delete alias {name}@{alias}"
        )

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
