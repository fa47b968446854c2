"""The registry's writes as transaction mutations: ``tx -> result`` functions for the store.

Each builder takes checked arguments and returns the mutation ``Registry`` hands to a store
transaction (or to a request branch, for a change that needs review). A mutation reads the
model at the tip through ``tx``, applies a pure change from ``core.mutations`` and stages
the manifest it rewrites, so a retry after a lost push race simply runs it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.core import manifest
from gitreg.core import mutations as mut
from gitreg.core.config import KEYS_DIR, Policy
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import GitregError, InvalidManifest, InvalidParameter, ModelNotFound
from gitreg.core.fields import (
    MAX_DESCRIPTION,
    MAX_RUN_ID,
    MAX_URI,
    check_metrics,
    check_text,
    format_timestamp,
    now_ms,
    optional_link,
    optional_text,
)
from gitreg.core.names import check_name, name_key
from gitreg.core.record import replace
from gitreg.core.uri import run_id_of
from gitreg.store.transaction import Transaction, model_path

if TYPE_CHECKING:
    from gitreg.core.card import Card
    from gitreg.core.digest import Listing
    from gitreg.core.retired import Retired

Change = Callable[[RegisteredModel], RegisteredModel]
Mutation = Callable[[Transaction], Any]


def existing(tx: Transaction, name: str) -> tuple[RegisteredModel, dict[str, Any]]:
    """The model ``name`` at the tip and its raw manifest; RESOURCE_DOES_NOT_EXIST if absent."""
    found = tx.read_model(name)
    if found is None:
        from gitreg.core.suggest import did_you_mean  # the listing is cheap: one tree

        hint = _whereabouts(tx, name) or did_you_mean(name, tx.model_names())
        raise ModelNotFound(f"Registered Model with name={name} not found{hint}")
    return found


def _whereabouts(tx: Transaction, name: str) -> str:
    """``": churn was renamed to churn-v2; use churn-v2"`` when the name was retired (#27)."""
    from gitreg.core.retired import describe_trail, trail

    def exists(other: str) -> bool:
        try:
            return tx.read_model(other) is not None
        except GitregError:
            return False

    try:
        steps = trail(retired(tx), name)
    except GitregError:
        return ""  # a malformed record is validate's to report
    return ": " + describe_trail(steps, exists) if steps else ""


def user(tx: Transaction) -> str:
    """Who is writing: git's author name, recorded as ``created_by``."""
    return tx.author()


def policy(tx: Transaction) -> Policy:
    """The policy of the tip's gitreg.yaml (the default policy when there is none)."""
    return tx.policy()


def signing_policy(tx: Transaction) -> Policy:
    """The tip's policy, its ``signed_by`` requirements checked against the tip's keys and
    signature bundles (#28): a move the gate would refuse is refused here first."""
    found = tx.policy()
    if not found.signing_keys:
        return found
    from gitreg.integrations.artifacts.signing import signing_check

    def read_key(path: str) -> bytes | None:
        return tx.read(path) if path.startswith(f"{KEYS_DIR}/") else None

    return found.with_signing(signing_check(read_key, tx.read))


def _move_artifact_files(
    tx: Transaction, name: str, new_name: str | None, numbers: Sequence[int]
) -> None:
    """Move (``new_name``) or delete (None) the listings and bundles of ``numbers`` (#28)."""
    from gitreg.core.digest import bundle_path, listing_path

    for number in numbers:
        for path_of in (listing_path, bundle_path):
            data = tx.read(path_of(name, number))
            try:
                text = data.decode("utf-8") if data is not None else None
            except UnicodeDecodeError:
                continue  # not gitreg's: left where it is
            if text is None:
                continue
            tx.delete(path_of(name, number))
            if new_name is not None:
                tx.write(path_of(new_name, number), text)


def keep_file(
    name: str, number: int, path: str, text: str, message: str
) -> Callable[[Transaction], str]:
    """Keep ``text`` at ``path`` for an existing version (a signature bundle, #28)."""

    def mutation(tx: Transaction) -> str:
        model, _raw = existing(tx, name)
        mut.find_version(model, number)
        if tx.read(path) != text.encode():
            tx.write(path, text)
            tx.message = message
        return path

    return mutation


def description_text(value: object) -> str | None:
    """A description as given: None is none, ``""`` is an empty one (MLflow keeps both)."""
    return None if value is None else check_text(value, "description", MAX_DESCRIPTION)


def modify(name: str, change: Change, message: str) -> Callable[[Transaction], RegisteredModel]:
    """Apply ``change`` to the existing model; commit only when it changed something."""

    def mutation(tx: Transaction) -> RegisteredModel:
        model, raw = existing(tx, name)
        new = change(model)
        if new != model:
            new = mut.touch(model, new, tx.now)
            tx.write_model(new, like=raw)
            tx.message = message
        return new

    return mutation


def set_alias(
    name: str, alias: str, number: int, answer: bool = True
) -> Callable[[Transaction], RegisteredModel]:
    """Point ``alias`` at version ``number``: the header alone is rewritten (#26). Without
    ``answer`` the result may be the model's header alone (its versions not read)."""
    message = f"Set alias {name}@{alias} -> version {number}"
    full = modify(name, lambda m: mut.set_alias(m, alias, number), message)

    def mutation(tx: Transaction) -> RegisteredModel:
        from gitreg.services import flat

        done = flat.set_alias(tx, name, alias, number, answer)
        if done is None:
            return full(tx)
        if tx.changes:
            tx.message = message
        return done

    return mutation


def short(value: str, limit: int = 60) -> str:
    """A tag value as a commit message or a report shows it: cut after ``limit`` characters."""
    line = value.splitlines()[0] if value else value
    return line if len(line) <= limit and line == value else f"{line[:limit]}..."


def _plural(items: Sequence[Any]) -> str:
    return "s" if len(items) > 1 else ""


def set_tags(
    name: str, tags: Mapping[str, str], number: int | None
) -> Callable[[Transaction], RegisteredModel]:
    """Set several tags on the model (``number`` None) or a version, in one commit."""
    if not tags:
        raise InvalidParameter("Give at least one tag to set")
    target = name if number is None else f"{name} version {number}"
    listed = ", ".join(f"{k}={short(v)}" for k, v in tags.items())
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


def read_card(tx: Transaction, name: str) -> Card | None:
    """The model's card at the tip (None: it has none); one that does not parse is refused.

    Raises:
        InvalidManifest: the card's front matter does not parse (its finding says where).
    """
    from gitreg.core.card import card_path, parse_card

    path = card_path(name)
    text = tx.read(path)
    if text is None:
        return None
    card, findings = parse_card(text, path)
    if card is None:
        raise InvalidManifest(f"{findings[0]}; fix the card first", findings)
    return card


def retired(tx: Transaction) -> Retired:
    """The retired names at the tip (see ``core.retired``)."""
    from gitreg.core.retired import RETIRED_FILE, Retired

    text = tx.read(RETIRED_FILE)
    return Retired.from_manifest(manifest.load(text, RETIRED_FILE) if text else None)


def _write_retired(tx: Transaction, record: Retired) -> None:
    from gitreg.core.retired import HEADER, RETIRED_FILE

    if record.names:
        tx.write(RETIRED_FILE, HEADER + manifest.dump(record.to_manifest()))
    elif tx.read(RETIRED_FILE) is not None:
        tx.delete(RETIRED_FILE)


def _start(tx: Transaction, model: RegisteredModel) -> RegisteredModel:
    """A new model under a retired name continues after the numbers that name used."""
    record = retired(tx)
    floor = record.floor(model.name)
    if floor > 1:
        _write_retired(tx, record.revive(model.name))
        return replace(model, next_version=max(model.next_version, floor))
    return model


def _retire(tx: Transaction, model: RegisteredModel, reason: str) -> None:
    from gitreg.core.retired import Retirement

    entry = Retirement(model.next_version, format_timestamp(tx.now), user(tx), reason)
    _write_retired(tx, retired(tx).retire(model.name, entry))


def create_model(model: RegisteredModel) -> Callable[[Transaction], RegisteredModel]:
    """Create ``model``; RESOURCE_ALREADY_EXISTS if its name is taken (in any case)."""

    def mutation(tx: Transaction) -> RegisteredModel:
        mut.claim_name(tx.model_names(), model.name)
        created = _start(tx, replace(model, user_id=user(tx)))
        tx.write_model(created)
        tx.message = f"Create registered model {model.name}"
        return RegisteredModel.from_manifest(created.to_manifest())

    return mutation


def rename_model(name: str, new_name: str) -> Callable[[Transaction], RegisteredModel]:
    """Rename a model, its versions and aliases with it (one commit: delete + add).

    The old name is retired with the numbers it used. Taking a retired name is allowed
    when the model is the one that left it, or when its versions all come after that
    name's numbers; otherwise two artifacts would share ``models:/NEW/N``.
    """
    from gitreg.core.digest import artifact_dir
    from gitreg.core.retired import Retirement

    def mutation(tx: Transaction) -> RegisteredModel:
        model, raw = existing(tx, name)
        if new_name == name:  # nothing to rename: no commit (it made an empty one)
            return model
        if name_key(name) != name_key(new_name):
            mut.claim_name(tx.model_names(), new_name)
        record = retired(tx)
        floor = record.floor(new_name)
        if name_key(name) != name_key(new_name):
            _check_retired_name(record, model, new_name)
            record = record.revive(new_name)
            entry = Retirement(
                model.next_version, format_timestamp(tx.now), user(tx), f"renamed to {new_name}"
            )
            record = record.retire(name, entry)
            _write_retired(tx, record)
        renamed = replace(
            model, name=new_name, next_version=max(model.next_version, floor)
        ).with_versions(model.versions)
        renamed = mut.touch(model, renamed, tx.now)  # every version's name changed, as MLflow
        tx.delete(model_path(name))
        tx.write_model(renamed, like={**raw, "name": new_name})
        if artifact_dir(name) != artifact_dir(new_name):
            _move_artifact_files(tx, name, new_name, [mv.version for mv in model.versions])
        tx.renamed_from[model_path(new_name)] = name
        _move_card(tx, name, new_name)
        tx.message = f"Rename registered model {name} to {new_name}"
        return renamed

    return mutation


def _move_card(tx: Transaction, name: str, new_name: str) -> None:
    """The model card moves with its model (#29): same text, the new name's stem."""
    from gitreg.core.card import card_path

    old, new = card_path(name), card_path(new_name)
    text = tx.read(old)
    if text is None or old == new:
        return
    tx.delete(old)
    tx.changes[new] = text


def _check_retired_name(record: Retired, model: RegisteredModel, new_name: str) -> None:
    floor = record.floor(new_name)
    reasons = {e.reason for n, e in record.names.items() if name_key(n) == name_key(new_name)}
    if floor <= 1 or f"renamed to {model.name}" in reasons:
        return
    if all(mv.version >= floor for mv in model.versions):
        return
    raise InvalidParameter(
        f"The name {new_name!r} was used by a model that was deleted or renamed, up to version "
        f"{floor - 1}; renaming {model.name} to it would give models:/{new_name}/1... two "
        "meanings. Choose another name"
    )


def delete_model(name: str) -> Callable[[Transaction], RegisteredModel]:
    """Delete the model's manifest (git history keeps it); its name is retired.

    The result is the model deleted.
    """
    from gitreg.core.card import card_path

    def mutation(tx: Transaction) -> RegisteredModel:
        model, _raw = existing(tx, name)
        tx.delete(model_path(name))
        if tx.read(card_path(name)) is not None:  # the card goes with its model (#29)
            tx.delete(card_path(name))
        _retire(tx, model, "deleted")
        tx.message = f"Delete registered model {name}"
        return model

    return mutation


def delete_version(name: str, number: int) -> Callable[[Transaction], ModelVersion]:
    """Delete a version and the aliases on it; the result is the version as it was."""

    def mutation(tx: Transaction) -> ModelVersion:
        model, raw = existing(tx, name)
        gone = mut.find_version(model, number)
        tx.write_model(mut.touch(model, mut.delete_version(model, number), tx.now), like=raw)
        _move_artifact_files(tx, name, None, [number])
        aliases = f"\n\nRemoved alias(es) {', '.join(gone.aliases)}" if gone.aliases else ""
        tx.message = f"Delete {name} version {number}{aliases}"
        return gone

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
    digest: str | None = None,
    created: int | None = None,
) -> ModelVersion:
    """The version to register (numbered by the mutation), its arguments checked.

    ``created`` is its creation time (epoch milliseconds; default now).
    """
    check_name(name)
    if not isinstance(source, str) or not source.strip():
        raise InvalidParameter("Invalid source: it must be a non-empty URI or path")
    created = now_ms() if created is None else created
    checked = ModelVersion(
        name=name,
        version=0,
        source=check_text(source, "source", MAX_URI),
        run_id=optional_text(run_id, "run_id", MAX_RUN_ID),
        description=description_text(description),
        tags=mut.clean_tags(tags),
        metrics=check_metrics(metrics),
        creation_timestamp=created,
        last_updated_timestamp=created,
        run_link=optional_link(run_link, "run_link"),
        storage_location=optional_text(storage_location, "storage_location", MAX_URI),
        digest=_parse_digest(digest),
    )
    _check_source_run(checked.source, checked.run_id)
    return checked


def _parse_digest(digest: str | None) -> str | None:
    """``core.digest.parse_digest`` of a digest given; the digest's rules load only then."""
    if digest is None:
        return None
    from gitreg.core.digest import parse_digest

    return parse_digest(digest)


def _check_source_run(source: str, run_id: str | None) -> None:
    """A ``runs:/ID/...`` source must name the run ``run_id`` names, as MLflow's server checks."""
    named = run_id_of(source)
    if named is not None and run_id and named != run_id:
        raise InvalidParameter(
            f"Invalid model version source: '{source}'. The run_id request parameter must "
            f"identify the resource that contains the source (the source names run {named}, "
            f"run_id is {run_id}); pass run_id={named!r} or the source of run {run_id}"
        )


def register_version(
    name: str, new: ModelVersion, *, create_model: bool, listing: Listing | None = None
) -> Callable[[Transaction], ModelVersion]:
    """Append ``new`` as the model's next version, creating the model unless told not to.

    ``listing`` (the artifact's files, #28) is kept beside the manifest in the same commit,
    so that ``gitreg verify`` can name a file that changes.
    """

    def mutation(tx: Transaction) -> ModelVersion:
        from gitreg.services import flat  # writes only: it loads the validator

        added = flat.register(tx, name, replace(new, user_id=user(tx)))
        if added is None:
            added = _register_in_full(tx, name, new, create_model)
        if listing is not None:
            import json

            from gitreg.core.digest import listing_path

            tx.write(
                listing_path(name, added.version),
                json.dumps(listing.to_statement(name), indent=2) + "\n",
            )
        tx.message = _registered(name, added.version, new)
        return added

    return mutation


def _register_in_full(
    tx: Transaction, name: str, new: ModelVersion, create_model: bool
) -> ModelVersion:
    """``register_version``'s change on the whole model (or a new one)."""
    found = tx.read_model(name)
    if found is None and not create_model:
        raise ModelNotFound(f"Registered Model with name={name} not found")
    if found is None:
        mut.claim_name(tx.model_names(), name)
        model = _start(tx, RegisteredModel(name, new.creation_timestamp, user_id=user(tx)))
        raw = None
    else:
        model, raw = found
    grown = mut.add_version(model, replace(new, user_id=user(tx)))
    # The model changed when its version was registered, as MLflow records it.
    grown = mut.touch(model, grown, new.creation_timestamp)
    tx.write_model(grown, like=raw)
    return mut.find_version(grown, model.next_version)


def _registered(name: str, number: int, new: ModelVersion) -> str:
    run = f"\nrun_id: {new.run_id}" if new.run_id else ""
    digest = f"\ndigest: {new.digest}" if new.digest else ""
    return f"Register {name} version {number}\n\nsource: {new.source}{run}{digest}"


def transition(
    name: str, number: int, target: Stage, archive: bool, note: str | None
) -> Callable[[Transaction], ModelVersion]:
    """Move a version to ``target`` as the tip's policy allows (see ``mutations.transition``)."""

    def mutation(tx: Transaction) -> ModelVersion:
        from gitreg.services import flat

        def rules() -> tuple[Policy, Card | None]:
            return signing_policy(tx), read_card(tx, name)

        moved = flat.transition(tx, name, number, target, archive, rules)
        if moved is not None:
            version, before, archived = moved
            if tx.changes:
                tx.message = mut.transition_text(name, number, before, target, archived, note)
            return version
        model, raw = existing(tx, name)
        new = mut.transition(
            model, number, target, archive, signing_policy(tx), read_card(tx, name)
        )
        if new != model:
            new = mut.touch(model, new, tx.now)
            tx.write_model(new, like=raw)
            tx.message = mut.transition_message(model, new, number, target, note)
        return mut.find_version(new, number)

    return mutation
