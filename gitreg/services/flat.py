"""Writes flat in a model's version count: one entry and the header, not 5,000 (#26).

``register``, ``transition`` and ``set_alias`` do what ``operations``' mutations do, on a
manifest gitreg wrote and checked in full itself (``cache.trusted_written``): they parse
the model's header and the entries they change (``core.sparse``), check only what
changed (``validate.check_change``: per entry, plus the Production count and the alias
targets) and stage the text with every other entry kept byte for byte. Each answers None,
having staged nothing, whenever it cannot be sure (another shape of text, a version it
cannot find this way, a finding, nothing to change), and the caller takes the full path;
the bytes, results, refusals and messages are the same either way (tests/test_flat.py
compares the two on random sequences of writes).
"""

from __future__ import annotations

import _thread
import bisect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.core import mutations as mut
from gitreg.core import record, validate
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import GitregError, TransitionNotAllowed
from gitreg.core.manifest import ordered_like
from gitreg.core.sparse import Sparse
from gitreg.store import cache
from gitreg.store.compare import blob_id
from gitreg.store.transaction import Transaction, model_path, parse_model

if TYPE_CHECKING:
    from gitreg.core.card import Card
    from gitreg.core.config import Policy

# The models set_alias last answered with, or a register or transition made from one, by
# blob id: content addressed, so never stale.
# It answers with the whole model; building 5,000 versions again each time would cost
# what the flat write saves (#26). A few, so that memory stays bounded. The entities are
# frozen and shared between the callers that get them, as any value a cache hands out.
_MODELS: dict[str, RegisteredModel] = {}
_KEEP = 4  # of each: a model a process writes stays while it writes a few others
# The manifests this process wrote or read here, by blob id, as Sparse: the next write of
# the same model starts from them instead of reading 1.6 MB back from git and searching
# it again (a few, likewise; a Sparse is never changed once made).
_DOCS: dict[str, Sparse] = {}
_MEMORY_LOCK = _thread.allocate_lock()  # a server writes from several threads (#25)


@record.dataclass(frozen=True, slots=True)
class _Opened:
    doc: Sparse
    path: str
    oid: str
    model: RegisteredModel  # the header only: no versions


def _open(tx: Transaction, name: str) -> _Opened | None:
    """The model's manifest at the tip as a Sparse, if gitreg wrote and checked it."""
    path = model_path(name)
    if path in tx.changes or validate.CHECKS_VERSION != cache.WRITTEN_CHECKS:
        return None
    found = _doc(tx, path)
    if found is None:
        return None
    oid, doc = found
    # Without created_at, the model's creation time is its oldest version's (from_manifest).
    if doc.header.get("name") != name or "created_at" not in doc.header:
        return None
    try:
        model = RegisteredModel.from_manifest({**doc.header, "versions": []})
    except (GitregError, KeyError, TypeError, ValueError):
        return None
    return _Opened(doc, path, oid, model)


def _doc(tx: Transaction, path: str) -> tuple[str, Sparse] | None:
    """The blob id and Sparse of ``path`` at the tip (remembered, or read and searched
    once), if gitreg wrote and checked that blob."""
    oid = tx.base_blob_id(path)
    doc = _DOCS.get(oid) if oid is not None else None
    if doc is None or oid is None:
        raw = tx.read(path)
        if raw is None:
            return None
        oid = blob_id(raw)
        try:
            doc = Sparse.read(raw)
        except UnicodeDecodeError:
            return None
    if doc is None or not (cache.trusted_written(tx.state_dir, oid) or tx.base_trusted()):
        return None
    _keep(_DOCS, oid, doc)
    return oid, doc


def _keep(memory: dict[str, Any], oid: str, value: Any, replaces: str | None = None) -> None:
    """Remember ``value`` as the newest; ``replaces``: the blob it was made from, forgotten
    (a model written in turn with others keeps one place, not one per write)."""
    with _MEMORY_LOCK:
        if replaces is not None and replaces != oid:
            memory.pop(replaces, None)
        memory.pop(oid, None)
        memory[oid] = value
        while len(memory) > _KEEP:
            del memory[next(iter(memory))]


def _aliases_of(model: RegisteredModel, number: int) -> list[str]:
    return [alias for alias, target in model.aliases.items() if target == number]


def _version(opened: _Opened, number: int) -> tuple[ModelVersion, dict[str, Any], int, int] | None:
    found = opened.doc.entry(number)
    if found is None:
        return None
    entry, begin, end = found
    try:
        mv = ModelVersion.from_manifest(opened.model.name, entry, _aliases_of(opened.model, number))
    except (GitregError, KeyError, TypeError, ValueError):
        return None
    return mv, entry, begin, end


def _header(model: RegisteredModel) -> dict[str, Any]:
    header = model.to_manifest()
    del header["versions"]
    return header


def _stage(
    tx: Transaction,
    opened: _Opened,
    model: RegisteredModel,
    replaced: dict[int, tuple[dict[str, Any], int, int]],
    appended: Sequence[dict[str, Any]] = (),
    production: Sequence[int] = (),
) -> str | None:
    """Check and stage the new text: its blob id, or None (nothing staged) if the full
    path must decide."""
    header = _header(model)
    entries = [replaced[n][0] for n in sorted(replaced)] + list(appended)
    old_targets = set(opened.model.aliases.values())

    def exists(number: Any) -> bool:
        return number in old_targets or (
            type(number) is int and opened.doc.span(number) is not None
        )

    findings = validate.check_change(
        {**header, "versions": entries}, opened.path, exists, production
    )
    doc = None if findings else opened.doc.rendered(header, replaced, list(appended))
    if doc is None:
        return None
    written = doc.data
    tx.write_checked(opened.path, written, opened.oid)
    oid = blob_id(written)  # hashed once: the object, journal and index ask again (_git)
    _keep(_DOCS, oid, doc)
    return oid


def register(tx: Transaction, name: str, new: ModelVersion) -> ModelVersion | None:
    """``operations.register_version`` on an existing model: append one entry."""
    opened = _open(tx, name)
    if opened is None:
        return None
    number = opened.model.next_version
    added = record.replace(new, name=name, version=number)
    if _aliases_of(opened.model, number):
        return None  # an alias on a version that does not exist yet: the full path says so
    first = opened.doc.first()
    if first is None:
        return None
    grown = record.replace(
        opened.model, next_version=number + 1, last_updated_timestamp=new.creation_timestamp
    )
    entry = ordered_like(added.to_manifest(), first)
    oid = _stage(tx, opened, grown, {}, [entry])
    if oid is None:
        return None
    _remember(opened, oid, grown, {number: entry})
    return added


def transition(
    tx: Transaction,
    name: str,
    number: int,
    target: Stage,
    archive: bool,
    rules: Callable[[], tuple[Policy, Card | None]],
) -> tuple[ModelVersion, Stage, list[int]] | None:
    """``operations.transition``: (the version moved, its stage before, versions archived).

    ``rules`` reads what judges the move (the policy with its signing checks, and the
    model's card), as the full path reads it, and at the same point.

    Raises:
        TransitionNotAllowed: as ``mutations.transition``, with the same words.
    """
    opened = _open(tx, name)
    found = _version(opened, number) if opened is not None else None
    if opened is None or found is None:
        return None
    mv, entry, begin, end = found
    policy, card = rules()
    if mv.current_stage != target:
        mut.check_policy(opened.model, mv, target, policy, card)
    # The others in the target stage matter only to Production's one place, and to archive.
    wanted = archive or target == Stage.PRODUCTION
    in_target = opened.doc.in_stage(target.value) if wanted else []
    production = in_target if target == Stage.PRODUCTION else opened.doc.in_stage("Production")
    if in_target is None or production is None:
        return None
    others = [n for n in in_target if n != number]
    if target == Stage.PRODUCTION and others and not archive:
        raise TransitionNotAllowed(mut.production_taken(name, others[0]))
    replaced: dict[int, tuple[dict[str, Any], int, int]] = {}
    archived = _archive(tx, opened, others if archive else [], replaced)
    moved = _move(tx, opened, number, target, replaced, (mv, entry, begin, end))
    if moved is None or archived is None:
        return None
    if not replaced:
        return moved, mv.current_stage, []  # nothing changes: no commit, as the full path
    touched = record.replace(opened.model, last_updated_timestamp=tx.now)
    oid = _stage(tx, opened, touched, replaced, production=production)
    if oid is None:
        return None
    _remember(opened, oid, touched, {n: replaced[n][0] for n in replaced})
    return moved, mv.current_stage, archived


def _archive(
    tx: Transaction,
    opened: _Opened,
    numbers: list[int],
    replaced: dict[int, tuple[dict[str, Any], int, int]],
) -> list[int] | None:
    """Move ``numbers`` to Archived: those it changed, or None if one cannot be read."""
    archived = []
    for number in numbers:
        if _move(tx, opened, number, Stage.ARCHIVED, replaced) is None:
            return None
        if number in replaced:
            archived.append(number)
    return archived


def _move(
    tx: Transaction,
    opened: _Opened,
    number: int,
    stage: Stage,
    replaced: dict[int, tuple[dict[str, Any], int, int]],
    found: tuple[ModelVersion, dict[str, Any], int, int] | None = None,
) -> ModelVersion | None:
    """Version ``number`` moved to ``stage`` (stamped ``tx.now`` if that changes it), its
    new entry added to ``replaced``; None if its entry cannot be read this way."""
    found = found or _version(opened, number)
    if found is None:
        return None
    mv, entry, begin, end = found
    if mv.current_stage == stage:
        return mv
    moved = record.replace(mv, current_stage=stage, last_updated_timestamp=tx.now)
    replaced[number] = (ordered_like(moved.to_manifest(), entry), begin, end)
    return moved


def set_alias(
    tx: Transaction, name: str, alias: str, number: int, answer: bool = True
) -> RegisteredModel | None:
    """``mutations.set_alias`` through ``operations.modify``: the header only. Without
    ``answer`` the model returned is its header alone: a cold process then never parses a
    5,000-version manifest for a result nobody reads."""
    opened = _open(tx, name)
    if opened is None:
        return None
    if opened.model.aliases.get(alias) == number:  # nothing changes: no commit, as the full path
        return _model(tx, opened) if answer else opened.model
    if opened.doc.span(number) is None:
        return None  # the full path finds it another way, or says it does not exist
    aliases = {**opened.model.aliases, alias: number}
    moved = record.replace(opened.model, aliases=aliases, last_updated_timestamp=tx.now)
    if not answer:
        return moved if _stage(tx, opened, moved, {}) is not None else None
    old = _model(tx, opened)
    oid = _stage(tx, opened, moved, {}) if old is not None else None
    if old is None or oid is None:
        return None
    result = _realias(old, aliases, tx.now)
    _keep(_MODELS, oid, result, replaces=opened.oid)
    return result


def _remember(
    opened: _Opened, oid: str, header: RegisteredModel, entries: dict[int, dict[str, Any]]
) -> None:
    """After a register or a transition, the whole new model for ``set_alias``'s answer,
    if the old one is remembered: the entries written replace (or follow) the old
    versions. Without it, a process that registers a version and then sets an alias on it
    parsed all 5,000 versions again for the answer (#26). Built from the header and
    entries as written, so it equals what a parse of the new text gives (tests/test_flat.py
    compares the two on random sequences of writes)."""
    old = _MODELS.get(opened.oid)
    if old is None:
        return
    try:
        head = RegisteredModel.from_manifest({**_header(header), "versions": []})
        changed = {
            n: ModelVersion.from_manifest(old.name, e, _aliases_of(opened.model, n))
            for n, e in entries.items()
        }
    except (GitregError, KeyError, TypeError, ValueError):
        return
    if not head.creation_timestamp:
        return  # the model's creation time would be its oldest version's: a parse decides
    versions = list(old.versions)
    for number, mv in sorted(changed.items()):
        at = bisect.bisect_left(versions, number, key=lambda v: v.version)
        if at < len(versions) and versions[at].version == number:
            versions[at] = mv
        elif at == len(versions):
            versions.append(mv)
        else:
            return
    # The newest of the header and every version, as from_manifest: the old model's time
    # bounds its versions', so unless the clock went back only the written ones can be newer.
    kept = () if head.last_updated_timestamp >= old.last_updated_timestamp else versions
    updated = max(
        [head.last_updated_timestamp, *(v.last_updated_timestamp for v in changed.values())]
        + [v.last_updated_timestamp for v in kept]
    )
    made = record.replace(head, versions=tuple(versions), last_updated_timestamp=updated)
    _keep(_MODELS, oid, made, replaces=opened.oid)


def _model(tx: Transaction, opened: _Opened) -> RegisteredModel | None:
    """The whole model at the tip (remembered, or parsed once)."""
    known = _MODELS.get(opened.oid)
    if known is not None:
        _keep(_MODELS, opened.oid, known)  # the most recently used stays longest
        return known
    raw = opened.doc.data
    try:
        model = parse_model(cache.load_large(tx.state_dir, raw, opened.path), opened.path, raw)
    except GitregError:
        return None
    _keep(_MODELS, opened.oid, model)
    return model


def _realias(model: RegisteredModel, aliases: dict[str, int], now: int) -> RegisteredModel:
    """``model`` with ``aliases``, its versions' back-references refreshed as
    ``with_versions`` does, touched at ``now``: only the versions whose aliases change are
    replaced (the versions are ascending and unique: a valid manifest's)."""
    by_version: dict[int, list[str]] = {}
    for alias, number in aliases.items():
        by_version.setdefault(number, []).append(alias)
    versions = list(model.versions)
    for number in set(by_version) | set(model.aliases.values()):
        at = bisect.bisect_left(versions, number, key=lambda mv: mv.version)
        if at == len(versions) or versions[at].version != number:
            continue
        wanted = tuple(by_version.get(number, ()))
        if versions[at].aliases != wanted:
            versions[at] = record.replace(versions[at], aliases=wanted)
    return record.replace(
        model, aliases=aliases, last_updated_timestamp=now, versions=tuple(versions)
    )
