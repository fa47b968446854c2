"""Judging a change between two sides of the registry: renames, retired names, the rules.

``judge`` takes the files a change touches as they were (old side) and as they are (new
side), and the base's policy, and returns the findings and the summary rows. The old side
is always read from git; the new side is the work tree (``validate --base``) or a commit
(``audit``): the caller supplies the per-file checks of the new side.

A rename is judged as one model moving, not as a deletion and a creation (see #12): a
deleted manifest and an added one are paired when they share identity (the model's
creation, or versions with the same number and source), and the added one is then held to
every change rule against the deleted one, so a rename cannot rewrite a merged version, and
a plain rename does not look like new versions entering Production.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from gitreg.core import validate
from gitreg.core.config import MODELS_DIR, Policy
from gitreg.core.finding import Finding
from gitreg.core.names import name_key, name_of_stem
from gitreg.core.retired import RETIRED_FILE, Retired
from gitreg.gate import cards, rules
from gitreg.gate.incremental import CheckNew as CheckNew
from gitreg.gate.incremental import Incremental
from gitreg.gate.rules import ModelChange


@dataclasses.dataclass(frozen=True, slots=True)
class Side:
    """The changed registry files on one side: path -> content (None: absent).

    It may hold more than the changed files (the card beside a changed manifest, the record
    of retired names): context the rules read, never judged themselves.

    ``unreadable`` paths are there but could not be read (a link, too large): their
    findings come from the per-file check, and they are neither judged nor taken as deleted.
    """

    texts: Mapping[str, bytes | None]
    unreadable: frozenset[str] = frozenset()


def judge(
    paths: Iterable[str],
    old: Side,
    new: Side,
    policy: Policy,
    check_new: CheckNew,
    *,
    push: bool = False,
    incremental: Incremental | None = None,
) -> tuple[list[Finding], list[ModelChange]]:
    """Findings and summary rows for the change from ``old`` to ``new`` of ``paths``.

    ``incremental`` (the audit's, walking commit by commit) judges a manifest that changed
    in place on the blocks it changed, when that finds nothing (see ``gate.incremental``).
    """
    paths = sorted(set(paths))
    every = [p for p in paths if _is_manifest(p)]
    settled = _settle(paths, every, old, new, policy, check_new, push, incremental)
    manifests = [p for p in every if p not in settled]
    before = {p: _quiet_parse(old.texts.get(p), p) for p in manifests}
    findings: list[Finding] = []
    after: dict[str, Any] = {}
    for path in paths:
        if path in settled:
            continue
        if path in manifests:
            incumbents = rules.production_versions(before[path])
            found, after[path] = check_new(path, new.texts.get(path), incumbents)
            _remember(incremental, path, new, found)
        else:
            found, _ = check_new(path, new.texts.get(path), frozenset())
        findings += found
    gone = {p for p in manifests if new.texts.get(p) is None and p not in new.unreadable}
    pairs = pair_renames(
        {p: d for p, d in before.items() if d is not None and p in gone},
        {p: d for p, d in after.items() if isinstance(d, Mapping) and old.texts.get(p) is None},
    )
    old_retired = _retired(old.texts.get(RETIRED_FILE))
    changes: list[ModelChange] = []
    for path in every:
        if path in settled:
            changes += settled[path]
            continue
        text = new.texts.get(path)
        if path in new.unreadable or (
            text is not None and not isinstance(after.get(path), Mapping)
        ):
            continue  # unreadable: the findings say why
        f, c = _judge_manifest(path, before, after, pairs, text, policy, push, old_retired)
        findings += f
        changes += c
    findings += _check_retirements(paths, before, after, pairs, old, new)
    findings += cards.check(
        paths, old.texts, new.texts, policy, push=push, unreadable=new.unreadable
    )
    return findings, changes


def _settle(
    paths: list[str],
    manifests: list[str],
    old: Side,
    new: Side,
    policy: Policy,
    check_new: CheckNew,
    push: bool,
    incremental: Incremental | None,
) -> dict[str, list[ModelChange]]:
    """The manifests ``incremental`` judges clean on their changed blocks, with their rows.

    Only a manifest changed in place, in a change that deletes or renames none and leaves
    the retired names alone: the rules across manifests (renames, retirements) read the
    manifests they pair whole.
    """
    if incremental is None or RETIRED_FILE in paths:
        return {}
    if any(new.texts.get(p) is None and p not in new.unreadable for p in manifests):
        return {}
    settled = {}
    for path in manifests:
        before, now = old.texts.get(path), new.texts.get(path)
        if path in new.unreadable or before is None or now is None:
            continue
        rows = incremental.settle(
            path, before, now, policy, check_new, push=push, name=_name_of(path)
        )
        if rows is not None:
            settled[path] = rows
    return settled


def _remember(incremental: Incremental | None, path: str, new: Side, found: list[Finding]) -> None:
    if incremental is not None:
        text = None if path in new.unreadable else new.texts.get(path)
        incremental.remember(path, text, clean=not found)


def _judge_manifest(
    path: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    pairs: Mapping[str, str],
    text: bytes | None,
    policy: Policy,
    push: bool,
    old_retired: Retired,
) -> tuple[list[Finding], list[ModelChange]]:
    sources = {source: target for target, source in pairs.items()}
    name = _name_of(path)
    if path in sources:
        return [], []  # judged with the manifest it was renamed to
    head = after.get(path) if text is not None else None
    if path in pairs:
        source = pairs[path]
        base, old_name = before[source], _name_of(source)
        found = rules.check_changes(
            path, base, head, text, policy, push=push, renamed_from=old_name
        )
        found += _taken_retired_name(path, name, head, old_name, old_retired)
        rows = [ModelChange(name, None, None, None, note=f"renamed from {old_name}")]
        rows += [r for r in rules.summarize(name, base, head) if r.version is not None]
        return found, rows
    base = before.get(path)
    floor = old_retired.floor(name) if base is None else 1
    found = rules.check_changes(path, base, head, text, policy, push=push, floor=floor)
    return found, rules.summarize(name, base, head)


def _taken_retired_name(
    path: str, name: str, head: Any, former: str, record: Retired
) -> list[Finding]:
    """A model renamed to a retired name must be the one that left it, or come after it."""
    entries = [e for n, e in record.names.items() if name_key(n) == name_key(name)]
    if not entries or not isinstance(head, Mapping):
        return []
    entry = max(entries, key=lambda e: e.next_version)
    if _carries(head, former, entry.next_version, entry.reason):
        return []
    return [
        Finding(
            path,
            None,
            "VERSION_REUSED",
            f"{former} is renamed to {name}, a name another model used up to version "
            f"{entry.next_version - 1}: models:/{name}/N would name two artifacts; choose "
            "another name",
        )
    ]


# ------------------------------------------------------------------------ renames


def pair_renames(
    deleted: Mapping[str, Mapping[str, Any]], added: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """Added manifest path -> the deleted one it is the same model as (see module doc).

    Evidence of identity: the same model creation (``created_at``, ``created_by``), and each
    version with the same number and ``source``. Each deleted manifest pairs at most once,
    with the added one that shares the most.
    """
    scored = sorted(
        (
            (_identity(old, new), added_path, deleted_path)
            for added_path, new in added.items()
            for deleted_path, old in deleted.items()
        ),
        reverse=True,
    )
    pairs: dict[str, str] = {}
    for score, added_path, deleted_path in scored:
        if score > 0 and added_path not in pairs and deleted_path not in pairs.values():
            pairs[added_path] = deleted_path
    return pairs


def _identity(old: Mapping[str, Any], new: Mapping[str, Any]) -> int:
    score = 0
    created = (old.get("created_at"), old.get("created_by"))
    if created[0] and created == (new.get("created_at"), new.get("created_by")):
        score += 1
    old_versions, new_versions = rules.versions_of(old), rules.versions_of(new)
    for number, version in new_versions.items():
        source = version.get("source")
        if number in old_versions and source and old_versions[number].get("source") == source:
            score += 1
    return score


# -------------------------------------------------------------------- retirements


def _check_retirements(
    paths: Iterable[str],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    pairs: Mapping[str, str],
    old: Side,
    new: Side,
) -> list[Finding]:
    """Retired names are recorded, never dropped, and a name never hands a number out twice."""
    if RETIRED_FILE not in paths and not any(
        before.get(p) is not None and new.texts.get(p) is None and p not in new.unreadable
        for p in before
    ):
        return []
    old_record = _retired(old.texts.get(RETIRED_FILE))
    new_record = _retired(new.texts.get(RETIRED_FILE))
    existing = {
        name_key(str(d.get("name"))): (d, _name_of(pairs[p]) if p in pairs else None)
        for p, d in after.items()
        if isinstance(d, Mapping)
    }
    findings = _dropped_retirements(old_record, new_record, existing)
    sources = {source: after[target] for target, source in pairs.items()}
    for path, data in before.items():
        if data is None or new.texts.get(path) is not None or path in new.unreadable:
            continue  # not deleted
        name = str(data.get("name") or _name_of(path))
        if path in sources and name_key(str(sources[path].get("name"))) == name_key(name):
            continue  # renamed in case only: the model keeps its name, and its numbers with it
        number = data.get("next_version")
        if type(number) is int and new_record.floor(name) < number:
            how = "renamed away" if path in sources else "deleted"
            findings.append(
                Finding(
                    RETIRED_FILE,
                    None,
                    "RETIREMENT_NOT_RECORDED",
                    f"{name} is {how} here but {RETIRED_FILE} does not record that it used "
                    f"versions below {number}; add retired: {{{name!r}: {{next_version: "
                    f"{number}}}}} (gitreg delete and gitreg rename write it), so that the "
                    "name never hands a number out twice",
                )
            )
    return findings


def _dropped_retirements(
    old: Retired, new: Retired, existing: Mapping[str, tuple[Mapping[str, Any], str | None]]
) -> list[Finding]:
    findings = []
    for name, entry in old.names.items():
        if new.floor(name) >= entry.next_version:
            continue
        model, former = existing.get(name_key(name), (None, None))
        if model is not None and _carries(model, former, entry.next_version, entry.reason):
            continue  # a model of that name exists again and carries its numbers on
        findings.append(
            Finding(
                RETIRED_FILE,
                None,
                "RETIREMENT_DROPPED",
                f"{RETIRED_FILE} no longer records that {name!r} used versions below "
                f"{entry.next_version}; restore the entry (numbers are never reused)",
            )
        )
    return findings


def _carries(model: Mapping[str, Any], former: str | None, floor: int, reason: str | None) -> bool:
    """Whether ``model`` may take over a retired name: it left it, or comes after its numbers.

    ``former`` is the name it was renamed from in this change (None: it is new here).
    """
    returning = former is not None and reason == f"renamed to {former}"
    numbers_after = all(number >= floor for number in rules.versions_of(model))
    following = type(model.get("next_version")) is int and model["next_version"] >= floor
    return following and (returning or numbers_after)


# ------------------------------------------------------------------------- files


def _is_manifest(path: str) -> bool:
    head, _, name = path.rpartition("/")
    return head == MODELS_DIR and name.endswith(".yaml") and path != RETIRED_FILE


def _name_of(path: str) -> str:
    stem = path.rsplit("/", 1)[-1].removesuffix(".yaml")
    return name_of_stem(stem) or stem


def _quiet_parse(text: bytes | None, path: str) -> Mapping[str, Any] | None:
    if text is None:
        return None
    data, syntax = validate.parse(text, path)
    return data if isinstance(data, Mapping) and not syntax else None


def _retired(text: bytes | None) -> Retired:
    return Retired.from_manifest(_quiet_parse(text, RETIRED_FILE))
