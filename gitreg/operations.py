"""The registry's writes as transaction mutations: ``tx -> result`` functions for the store.

Each builder takes checked arguments and returns the mutation ``Registry`` hands to a store
transaction (or to a request branch, for a change that needs review). A mutation reads the
model at the tip through ``tx``, applies a pure change from ``core.mutations`` and stages
the manifest it rewrites, so a retry after a lost push race simply runs it again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitreg.core import manifest
from gitreg.core import mutations as mut
from gitreg.core.config import CONFIG_FILE, Config, Policy
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage, now_ms
from gitreg.core.errors import InvalidParameter, ModelNotFound
from gitreg.core.names import check_name, name_key
from gitreg.store.transaction import Transaction, model_path

Change = Callable[[RegisteredModel], RegisteredModel]
Mutation = Callable[[Transaction], Any]


def existing(tx: Transaction, name: str) -> tuple[RegisteredModel, dict[str, Any]]:
    """The model ``name`` at the tip and its raw manifest; RESOURCE_DOES_NOT_EXIST if absent."""
    found = tx.read_model(name)
    if found is None:
        raise ModelNotFound(f"Registered Model with name={name} not found")
    return found


def user(tx: Transaction) -> str:
    """Who is writing: git's author name, recorded as ``created_by``."""
    return tx.author()


def policy(tx: Transaction) -> Policy:
    """The policy of the tip's gitreg.yaml (the default policy when there is none)."""
    text = tx.read(CONFIG_FILE)
    if not text:
        return Config().policy
    return Config.from_dict(manifest.load_mapping(text, CONFIG_FILE)).policy


def modify(name: str, change: Change, message: str) -> Callable[[Transaction], RegisteredModel]:
    """Apply ``change`` to the existing model; commit only when it changed something."""

    def mutation(tx: Transaction) -> RegisteredModel:
        model, raw = existing(tx, name)
        new = change(model)
        if new != model:
            tx.write_model(new, like=raw)
            tx.message = message
        return new

    return mutation


def _plural(items: Sequence[Any]) -> str:
    return "s" if len(items) > 1 else ""


def set_tags(
    name: str, tags: Mapping[str, str], number: int | None
) -> Callable[[Transaction], RegisteredModel]:
    """Set several tags on the model (``number`` None) or a version, in one commit."""
    if not tags:
        raise InvalidParameter("Give at least one tag to set")
    target = name if number is None else f"{name} version {number}"
    listed = ", ".join(f"{k}={v}" for k, v in tags.items())
    return modify(
        name,
        lambda m: mut.set_tags(m, tags, number),
        f"Set tag{_plural(list(tags))} {listed} on {target}",
    )


def delete_tags(
    name: str, keys: Sequence[str], number: int | None, strict: bool
) -> Callable[[Transaction], RegisteredModel]:
    """Remove several tags in one commit; a missing key is an error only when ``strict``."""
    if not keys:
        raise InvalidParameter("Give at least one tag key to delete")
    target = name if number is None else f"{name} version {number}"
    return modify(
        name,
        lambda m: mut.delete_tags(m, keys, number, strict),
        f"Delete tag{_plural(keys)} {', '.join(keys)} from {target}",
    )


def create_model(model: RegisteredModel) -> Callable[[Transaction], RegisteredModel]:
    """Create ``model``; RESOURCE_ALREADY_EXISTS if its name is taken (in any case)."""

    def mutation(tx: Transaction) -> RegisteredModel:
        mut.claim_name(tx.model_names(), model.name)
        created = dataclasses.replace(model, user_id=user(tx))
        tx.write_model(created)
        tx.message = f"Create registered model {model.name}"
        return RegisteredModel.from_manifest(created.to_manifest())

    return mutation


def rename_model(name: str, new_name: str) -> Callable[[Transaction], RegisteredModel]:
    """Rename a model, its versions and aliases with it (one commit: delete + add)."""

    def mutation(tx: Transaction) -> RegisteredModel:
        model, raw = existing(tx, name)
        if name_key(name) != name_key(new_name):
            mut.claim_name(tx.model_names(), new_name)
        renamed = dataclasses.replace(model, name=new_name).with_versions(model.versions)
        tx.delete(model_path(name))
        tx.write_model(renamed, like={**raw, "name": new_name})
        tx.message = f"Rename registered model {name} to {new_name}"
        return renamed

    return mutation


def delete_model(name: str) -> Callable[[Transaction], None]:
    """Delete the model's manifest (git history keeps it)."""

    def mutation(tx: Transaction) -> None:
        existing(tx, name)
        tx.delete(model_path(name))
        tx.message = f"Delete registered model {name}"

    return mutation


def new_version(
    name: str,
    source: str,
    *,
    run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    run_link: str | None = None,
    description: str | None = None,
    metrics: Mapping[str, float] | None = None,
    storage_location: str | None = None,
) -> ModelVersion:
    """The version to register (numbered by the mutation), its arguments checked."""
    check_name(name)
    if not isinstance(source, str) or not source.strip():
        raise InvalidParameter("Invalid source: it must be a non-empty URI or path")
    created = now_ms()
    return ModelVersion(
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


def register_version(
    name: str, new: ModelVersion, *, create_model: bool
) -> Callable[[Transaction], ModelVersion]:
    """Append ``new`` as the model's next version, creating the model unless told not to."""

    def mutation(tx: Transaction) -> ModelVersion:
        found = tx.read_model(name)
        if found is None and not create_model:
            raise ModelNotFound(f"Registered Model with name={name} not found")
        if found is None:
            mut.claim_name(tx.model_names(), name)
            model = RegisteredModel(name, new.creation_timestamp, user_id=user(tx))
            raw = None
        else:
            model, raw = found
        grown = mut.add_version(model, dataclasses.replace(new, user_id=user(tx)))
        tx.write_model(grown, like=raw)
        number = model.next_version
        tx.message = f"Register {name} version {number}\n\nsource: {new.source}" + (
            f"\nrun_id: {new.run_id}" if new.run_id else ""
        )
        return mut.find_version(grown, number)

    return mutation


def transition(
    name: str, number: int, target: Stage, archive: bool, note: str | None
) -> Callable[[Transaction], ModelVersion]:
    """Move a version to ``target`` as the tip's policy allows (see ``mutations.transition``)."""

    def mutation(tx: Transaction) -> ModelVersion:
        model, raw = existing(tx, name)
        new = mut.transition(model, number, target, archive, policy(tx))
        if new != model:
            tx.write_model(new, like=raw)
            tx.message = mut.transition_message(model, new, number, target, note)
        return mut.find_version(new, number)

    return mutation
