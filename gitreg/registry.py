"""Registry: MlflowClient's model-registry methods over a Git repository.

Every write is a small pure mutation of one model (``gitreg.core.mutations``), handed to a store
transaction that commits it; reads go straight to the store. Method and argument names
follow ``mlflow.MlflowClient`` so that switching is a change of import.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg import operations as ops
from gitreg.core import mutations as mut
from gitreg.core.entities import (
    MAX_DESCRIPTION,
    ModelVersion,
    RegisteredModel,
    Stage,
    check_alias,
    now_ms,
    optional_text,
    parse_version,
)
from gitreg.core.errors import GitregError, InvalidParameter, ModelNotFound, VersionNotFound
from gitreg.core.names import check_name
from gitreg.core.uri import parse_uri
from gitreg.store.store import Store
from gitreg.store.transaction import Transaction, model_path

if TYPE_CHECKING:
    from gitreg.core import search
    from gitreg.core.events import RegistryEvent
    from gitreg.core.notifications import Subscription
    from gitreg.integrations.notify import Delivery, Report
    from gitreg.promotion import TransitionRequest
    from gitreg.store.history import HistoryEntry


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
            from gitreg.store.proposal import fetch_tip  # remote code stays off the read path

            tip = fetch_tip(self.store, push)
            at = tip if at is None else at
        self.at = self.store.resolve_ref(at) if at is not None else None

    # ------------------------------------------------------------ internals

    def _read(self, name: str) -> RegisteredModel:
        return self.store.read_model(check_name(name), self.at)

    def _write(self, mutation: Callable[[Transaction], Any]) -> Any:
        if self.at is not None:
            raise InvalidParameter("This Registry reads a fixed ref (at=...); it cannot write")
        return self.store.transaction(mutation, push=self.push)

    def _modify(self, name: str, change: ops.Change, message: str) -> RegisteredModel:
        result: RegisteredModel = self._write(ops.modify(check_name(name), change, message))
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
            description=optional_text(description, "description", MAX_DESCRIPTION),
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
        """Set the model's description (an empty string clears it)."""
        text = optional_text(description, "description", MAX_DESCRIPTION)
        return self._modify(
            name,
            lambda m: dataclasses.replace(m, description=text),
            f"Update description of {name}",
        )

    def delete_registered_model(self, name: str) -> None:
        """Delete the model and all its versions (history keeps them)."""
        self._write(ops.delete_model(check_name(name)))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> search.PagedList[RegisteredModel]:
        """Models matching MLflow's filter grammar, ordered and paged as MLflow does."""
        models = self._models_for(filter_string, versions=False)
        from gitreg.core import search  # only listings pay for the filter grammar

        return search.search_registered_models(
            models, filter_string, max_results, order_by, page_token
        )

    def _models_for(
        self, filter_string: str | None, versions: bool = True
    ) -> list[RegisteredModel]:
        from gitreg.core import search

        return self.store.read_models(self.at, search.exact_names(filter_string, versions))

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
        number = None if version is None else parse_version(version)
        self._write(ops.set_tags(check_name(name), mut.clean_tags(tags), number))

    def delete_tags(self, name: str, keys: Sequence[str], version: int | str | None = None) -> None:
        """Remove several tags in one commit; a key that is not set is an error."""
        number = None if version is None else parse_version(version)
        self._delete_tags(name, keys, number, strict=True)

    def _delete_tags(
        self, name: str, keys: Sequence[str], number: int | None, strict: bool
    ) -> None:
        self._write(ops.delete_tags(check_name(name), keys, number, strict))

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
        new = ops.new_version(
            name,
            source,
            run_id=run_id,
            tags=tags,
            run_link=run_link,
            description=description,
            metrics=metrics,
            storage_location=storage_location,
        )
        del await_creation_for  # versions are READY the moment they are committed

        result: ModelVersion = self._write(
            ops.register_version(name, new, create_model=create_model)
        )
        return result

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version; RESOURCE_DOES_NOT_EXIST if the model or version is missing."""
        return mut.find_version(self._read(name), version)

    def update_model_version(
        self, name: str, version: int | str, description: str | None = None
    ) -> ModelVersion:
        """Set a version's description."""
        number = parse_version(version)
        text = optional_text(description, "description", MAX_DESCRIPTION)

        def change(m: RegisteredModel) -> RegisteredModel:
            mv = mut.find_version(m, number)
            return mut.replace_version(m, dataclasses.replace(mv, description=text))

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
        from gitreg.core import search

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

        mutation = ops.transition(name, number, target, archive_existing_versions, message)
        from gitreg import promotion  # remote code stays off the read path

        def current() -> Stage | None:
            try:
                return self.get_model_version(name, number).current_stage
            except GitregError:
                return None  # not in this clone yet: the remote tip decides in the mutation

        if promotion.needs_request(self.store, target, current, direct, self.push):
            return promotion.request_transition(
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
        from gitreg.store import history

        check_name(name)
        number = None if version is None else parse_version(version)
        ref = self.at or "HEAD"
        entries = history.read_history(self.store.root, model_path(name), ref, number)
        if not entries and number is None:
            raise ModelNotFound(f"Registered Model with name={name} has no history")
        return entries

    def list_events(self, since: str | None, until: str | None = None) -> list[RegistryEvent]:
        """Every change after commit ``since`` up to ``until`` (default: HEAD or ``at``).

        Commit by commit along the first-parent history, oldest first; each event has a
        stable id (the same range always gives the same events). ``since`` None means from
        the first commit.

        Raises:
            BadRef: ``since`` or ``until`` names no commit.
        """
        from gitreg.store import eventlog

        end = self.store.resolve_ref(until) if until is not None else (self.at or "HEAD")
        start = None if since is None or set(since) == {"0"} else self.store.resolve_ref(since)
        return eventlog.read_events(self.store.root, start, end)

    def list_transition_requests(self) -> list[TransitionRequest]:
        """Open promotion requests: the remote's ``gitreg/...`` branches and forge requests."""
        from gitreg import promotion

        return promotion.list_requests(self.store, self.push, os.environ)

    def rollback_registered_model(
        self, name: str, *, message: str | None = None, direct: bool = False
    ) -> ModelVersion:
        """Return Production to the previous Production version (from history).

        Raises:
            VersionNotFound: no earlier Production version still exists.
            PromotionPending: as ``transition_model_version_stage`` on a protected stage.
        """
        from gitreg.store import history

        model = self._read(name)
        target, why = history.rollback_target(model, self.get_model_history(name))
        return self.transition_model_version_stage(
            name, target, Stage.PRODUCTION.value, True, message=message or why, direct=direct
        )

    # ------------------------------------------------- notifications (#13)

    def notify(
        self, since: str | None, until: str | None = None, *, dry_run: bool = False
    ) -> Report:
        """Deliver the events after ``since`` up to ``until`` to gitreg.yaml's subscriptions.

        The subscriptions are those of gitreg.yaml at ``until`` (what landed). Re-running a
        range delivers the same events with the same ids. ``dry_run`` sends nothing.
        """
        from gitreg.integrations import notify

        events = self.list_events(since, until)
        end = self.store.resolve_ref(until) if until is not None else (self.at or "HEAD")
        return notify.notify(self.store, events, end, os.environ, dry_run=dry_run)

    def notify_request(
        self, base: str, head: str, pull_request: int | None = None, *, dry_run: bool = False
    ) -> Report:
        """Deliver TRANSITION_REQUEST_CREATED for the stage changes ``head`` proposes.

        The subscriptions are those of gitreg.yaml at ``base``: a request cannot add a
        subscription that hears about itself (or sends a secret elsewhere).
        """
        from gitreg.integrations import notify

        events = notify.request_events(self.store, base, head, pull_request)
        config_at = self.store.resolve_ref(base)
        return notify.notify(self.store, events, config_at, os.environ, dry_run=dry_run)

    def deliver_events(self, events: Sequence[RegistryEvent], *, dry_run: bool = False) -> Report:
        """Deliver any events (e.g. POLICY_VIOLATION from ``gitreg audit``) as ``notify`` does."""
        from gitreg.integrations import notify

        return notify.notify(self.store, events, self.at, os.environ, dry_run=dry_run)

    def list_webhooks(self) -> list[Subscription]:
        """The subscriptions in gitreg.yaml (``notifications.webhooks``), in file order."""
        return list(self.store.read_config(self.at).notifications.webhooks)

    def get_webhook(self, webhook_id: str) -> Subscription:
        """The subscription with this id or name; RESOURCE_DOES_NOT_EXIST if there is none."""
        from gitreg.core.errors import WebhookNotFound

        found = self.store.read_config(self.at).notifications.find(webhook_id)
        if found is None:
            raise WebhookNotFound(f"Webhook with ID {webhook_id} not found.")
        return found

    def create_webhook(self, name: str, secret: str | None = None, **fields: Any) -> Subscription:
        """Add a subscription (one commit). A literal ``secret`` stays out of git.

        It is kept in the clone's private store (.git/gitreg/secrets.json, mode 0600) under
        the variable name the subscription records as ``secret_env``; delivery reads that
        variable first, so CI sets a repository secret under the same name.
        """
        from gitreg.integrations.notify import manage

        entry = {"name": manage.check_name(name)}
        entry.update((k, v) for k, v in fields.items() if v is not None)
        if secret:
            taken = {w.secret_env for w in self.list_webhooks() if w.secret_env}
            entry["secret_env"] = manage.secret_name(name, taken)
        created: Subscription = self._write(manage.create(entry))
        self._keep_secret(created, secret)
        return created

    def update_webhook(
        self, webhook_id: str, secret: str | None = None, **changes: Any
    ) -> Subscription:
        """Change fields of a subscription (one commit); a None value removes a field."""
        from gitreg.integrations.notify import manage

        if changes.get("name") is not None:
            manage.check_name(changes["name"])
        current = self.get_webhook(webhook_id)
        if secret and not current.secret_env:
            taken = {w.secret_env for w in self.list_webhooks() if w.secret_env}
            changes["secret_env"] = manage.secret_name(current.name, taken)
        updated: Subscription = self._write(manage.update(webhook_id, changes))
        self._keep_secret(updated, secret)
        return updated

    def delete_webhook(self, webhook_id: str) -> None:
        """Remove a subscription (one commit) and the secret the clone kept for it."""
        from gitreg.integrations.notify import manage
        from gitreg.store import secrets

        removed: Subscription = self._write(manage.delete(webhook_id))
        still_used = {w.secret_env for w in self.list_webhooks()}
        if removed.secret_env and removed.secret_env not in still_used:
            secrets.write(self.store.state_dir, removed.secret_env, None)

    def _keep_secret(self, sub: Subscription, secret: str | None) -> None:
        from gitreg.store import secrets

        if secret and sub.secret_env:
            secrets.write(self.store.state_dir, sub.secret_env, secret)

    def webhook_secret(self, sub: Subscription) -> str | None:
        """The secret ``sub`` signs with (its variable, else the clone's private store)."""
        from gitreg.integrations import notify

        return notify.lookup_for(self.store, os.environ)(sub.secret_env) if sub.secret_env else None

    def test_webhook(self, webhook_id: str, event: str | None = None) -> Delivery:
        """Send an example event to one subscription now, as MLflow's ``test_webhook``."""
        from gitreg.integrations import notify

        return notify.send_example(self.store, webhook_id, event, os.environ, self.at)


class RemoteRegistry:
    """A remote registry's tip, read without a clone: what a deployment pod runs (#15).

    ``RemoteRegistry(url)`` reads the remote's default branch (``at``: another branch or
    tag) through a blobless, depth-1 fetch into a shared cache that then fetches only the
    one manifest asked for (``gitreg.store.fleet``). Read-only; the same checks as a local
    read apply to the manifest.
    """

    def __init__(self, url: str, at: str | None = None) -> None:
        self.url = url
        self.at = at

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model ``name`` at the remote's tip."""
        from gitreg.core import manifest
        from gitreg.store import fleet
        from gitreg.store.transaction import parse_model

        path = model_path(check_name(name))
        text = fleet.read_remote(self.url, path, self.at)
        if text is not None:
            model = parse_model(manifest.load(text, path), path, text)
            if model.name == name:
                return model
        raise ModelNotFound(f"Registered Model with name={name} not found")

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version of ``name`` at the remote's tip."""
        return mut.find_version(self.get_registered_model(name), version)

    def get_version_for_uri(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names at the remote's tip."""
        ref = parse_uri(uri)
        return mut.version_for_ref(self.get_registered_model(ref.name), ref)

    def resolve(self, uri: str) -> str:
        """The source URI of the version a ``models:/`` URI names at the remote's tip."""
        return self.get_version_for_uri(uri).source
