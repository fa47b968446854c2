"""Change rules between a base manifest and a head manifest; the base's policy governs.

Pure functions over parsed manifests (no I/O): ``check_changes`` returns findings for what a
pull request (or a push) may not do to a model, ``summarize`` the rows of what it does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from gitreg.core import manifest
from gitreg.core.config import Policy
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import GitregError
from gitreg.core.finding import Finding
from gitreg.core.protection import ProtectedChange, protected_changes

# A merged version's provenance, and what a deployment loads and the policy judged: see
# DESIGN.md, "Change rules", and #12 (metrics and storage_location were forgeable).
IMMUTABLE_FIELDS = (
    "source",
    "run_id",
    "storage_location",
    "metrics",
    "created_at",
    "created_by",
    # What the bytes are (#28): the digest, and what was read from the same bytes.
    "digest",
    "signature",
    "has_input_example",
)


@dataclasses.dataclass(frozen=True, slots=True)
class ModelChange:
    """One row of what a change does to a model: a version's stage, aliases and tags."""

    model: str
    version: int | None  # None: the model itself (created, deleted, its own tags)
    stage_from: str | None  # None: the version did not exist
    stage_to: str | None  # None: the version was deleted
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    note: str = ""  # for model rows: "new model", "model deleted"

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON for ``--format json``."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class _Where:
    path: str
    name: str
    text: str | bytes | None

    def line(self, *location: str | int) -> int | None:
        return manifest.line_of(self.text, location) if self.text is not None else None


def versions_of(data: Mapping[str, Any] | None) -> dict[int, Mapping[str, Any]]:
    """Version number -> its entry, for the entries whose number is an integer."""
    return {
        v["version"]: v
        for v in _entries(data)
        if isinstance(v, Mapping) and isinstance(v.get("version"), int)
    }


def _entries(data: Mapping[str, Any] | None) -> list[Any]:
    """``data``'s versions when they are a list. A manifest is judged before its schema is
    known to hold (a base in an audit, a pull request's head): a field of another type is
    the schema check's to report, never a crash here."""
    versions = data.get("versions") if data else None
    return versions if isinstance(versions, list) else []


def _mapping(data: Mapping[str, Any] | None, key: str) -> dict[Any, Any]:
    """``data[key]`` when it is a mapping, else empty (see ``_entries``)."""
    value = data.get(key) if data else None
    return dict(value) if isinstance(value, Mapping) else {}


def _indexed(data: Mapping[str, Any]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for index, v in enumerate(_entries(data)):
        if isinstance(v, Mapping) and isinstance(v.get("version"), int):
            yield index, v


def _stage(value: Any) -> Stage | None:
    try:
        return Stage.parse(value if value is not None else "None")
    except GitregError:
        return None  # the schema check reports it


def production_versions(data: Mapping[str, Any] | None) -> frozenset[int]:
    """The version numbers that are in Production in ``data``."""
    return frozenset(n for n, v in versions_of(data).items() if v.get("stage") == "Production")


def check_changes(
    path: str,
    base: Mapping[str, Any] | None,
    head: Mapping[str, Any] | None,
    text: str | bytes | None,
    policy: Policy,
    *,
    push: bool = False,
    renamed_from: str | None = None,
    floor: int = 1,
) -> list[Finding]:
    """What the change from ``base`` to ``head`` (None: absent) may not do, judged by ``policy``.

    ``push`` means the change was not reviewed in a pull request, so protected facts may not
    change. ``renamed_from`` says ``base`` is the same model under its former name. ``floor``
    is the first number a model new under this name may use (``core.retired``).
    """
    findings = _check_protected(path, base, head, text, policy, push, renamed_from)
    if head is None:
        return findings  # deleting a model is allowed; its versions stay in git history
    where = _Where(path, str(head.get("name") or path), text)
    findings += _check_next_version(where, base, head)
    old_versions = versions_of(base)
    base_next = base.get("next_version") if base else floor if floor > 1 else None
    for index, v in _indexed(head):
        old = old_versions.get(v["version"])
        if old is None:
            findings += _check_reuse(where, index, v["version"], base_next)
        else:
            findings += _check_immutable(where, index, old, v)
        findings += _check_stage(where, index, old, v, policy)
    findings += _check_alias_requirements(where, base, head, policy)
    return findings


def model_of(data: Mapping[str, Any] | None) -> RegisteredModel | None:
    """The model a parsed manifest describes, or None when it is absent or malformed."""
    if data is None:
        return None
    try:
        return RegisteredModel.from_manifest(data)
    except (GitregError, KeyError, TypeError, ValueError, AttributeError):
        return None  # malformed: the schema check reports it


_PROTECTED_CODES = {
    "stage": "PROTECTED_STAGE",
    "delete-version": "PROTECTED_STAGE",
    "alias": "PROTECTED_ALIAS",
    "delete-model": "PROTECTED_DELETE",
    "rename": "PROTECTED_RENAME",
}


def _check_protected(
    path: str,
    base: Mapping[str, Any] | None,
    head: Mapping[str, Any] | None,
    text: str | bytes | None,
    policy: Policy,
    push: bool,
    renamed_from: str | None,
) -> list[Finding]:
    if not push:
        return []  # a pull request is the review
    where = _Where(path, str((head or base or {}).get("name") or path), text)
    changes = protected_changes(model_of(base), model_of(head), policy, renamed_from=renamed_from)
    return [
        Finding(
            path,
            _protected_line(where, head, change),
            _PROTECTED_CODES[change.kind],
            f"{change.model}: {change.what} is a change to a protected fact, which happens "
            "only through a reviewed pull request; open one (gitreg does, for a registry "
            "with a remote)",
        )
        for change in changes
    ]


def _protected_line(
    where: _Where, head: Mapping[str, Any] | None, change: ProtectedChange
) -> int | None:
    if head is None:
        return None
    if change.kind == "alias" and change.alias is not None:
        return where.line("aliases", change.alias) or where.line("aliases")
    for index, v in _indexed(head):
        if v["version"] == change.version:
            return where.line("versions", index, "stage")
    return where.line("name")


def _check_alias_requirements(
    where: _Where, base: Mapping[str, Any] | None, head: Mapping[str, Any], policy: Policy
) -> list[Finding]:
    """An alias that comes to point at a version needs what the base's policy asks of it."""
    old = _mapping(base, "aliases")
    new = head.get("aliases")
    findings: list[Finding] = []
    versions = versions_of(head)
    for alias, number in new.items() if isinstance(new, Mapping) else ():
        requirement = policy.alias_requirement(str(alias))
        if requirement is None or old.get(alias) == number or number not in versions:
            continue
        try:
            mv = ModelVersion.from_manifest(where.name, versions[number])
        except (GitregError, KeyError, TypeError, ValueError):
            continue  # malformed: the schema check reports it
        unmet = requirement.unmet(mv)
        if unmet:
            findings.append(
                Finding(
                    where.path,
                    where.line("aliases", str(alias)),
                    "REQUIREMENT_UNMET",
                    f"@{alias} -> version {number}: the base's gitreg.yaml requires more of a "
                    f"version @{alias} points at: {'; '.join(unmet)}; "
                    f"{_fixes(where.name, mv, requirement.tags)}",
                )
            )
    return findings


def _check_next_version(
    where: _Where, base: Mapping[str, Any] | None, head: Mapping[str, Any]
) -> list[Finding]:
    old, new = (base or {}).get("next_version"), head.get("next_version")
    if not (isinstance(old, int) and isinstance(new, int)) or new >= old:
        return []
    return [
        Finding(
            where.path,
            where.line("next_version"),
            "NEXT_VERSION_DECREASED",
            f"next_version went down from {old} to {new}; it never decreases, so that "
            f"version numbers are never reused: set it back to {old}",
        )
    ]


def _check_reuse(where: _Where, index: int, number: int, base_next: Any) -> list[Finding]:
    if not isinstance(base_next, int) or number >= base_next:
        return []
    return [
        Finding(
            where.path,
            where.line("versions", index),
            "VERSION_REUSED",
            f"versions[{index}]: version {number} was used before (next_version was "
            f"{base_next}) and version numbers are never reused, even after a delete; "
            f"register it as a new version instead (it gets number {base_next} or above)",
        )
    ]


def _check_immutable(
    where: _Where, index: int, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[Finding]:
    findings = []
    for field in IMMUTABLE_FIELDS:
        if old.get(field) == new.get(field):
            continue
        line = where.line("versions", index, field) if field in new else None
        findings.append(
            Finding(
                where.path,
                line or where.line("versions", index),
                "IMMUTABLE_FIELD",
                f"versions[{index}].{field} of version {new['version']} changed from "
                f"{old.get(field)!r} to {new.get(field)!r}; a merged version's {field} never "
                f"changes: restore it, or register the new artifact as a new version "
                f"(gitreg register {where.name} SOURCE)",
            )
        )
    return findings


def _check_stage(
    where: _Where,
    index: int,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    policy: Policy,
) -> list[Finding]:
    before = _stage(old.get("stage") if old is not None else "None")
    after = _stage(new.get("stage"))
    if before is None or after is None or before == after:
        return []
    number = new["version"]
    move = f"version {number}: {before} -> {after}"
    # A finding's line is looked up only when there is a finding: it reads the file again.
    if after not in policy.stages:
        allowed = ", ".join(s.value for s in policy.stages)
        return [
            Finding(
                where.path,
                where.line("versions", index, "stage"),
                "STAGE_NOT_IN_POLICY",
                f"{move}: the base's gitreg.yaml does not use stage {after} (its stages: "
                f"{allowed}); pick one of those",
            )
        ]
    if not policy.allows(before, after):
        targets = ", ".join(sorted(s.value for s in policy.transitions.get(before, ())))
        return [
            Finding(
                where.path,
                where.line("versions", index, "stage"),
                "TRANSITION_NOT_ALLOWED",
                f"{move} is not an allowed transition in the base's gitreg.yaml (from "
                f"{before} it allows: {targets or 'nothing'}); go through an allowed stage, "
                "or change the policy in a pull request of its own first",
            )
        ]
    return _check_requirement(where, index, move, new, after, policy)


def _check_requirement(
    where: _Where, index: int, move: str, new: Mapping[str, Any], after: Stage, policy: Policy
) -> list[Finding]:
    requirement = policy.requirements.get(after)
    if requirement is None:
        return []
    try:
        mv = ModelVersion.from_manifest(where.name, new)
    except (GitregError, KeyError, TypeError, ValueError):
        return []  # malformed: the schema check reports it
    unmet = requirement.unmet(mv)
    if not unmet:
        return []
    return [
        Finding(
            where.path,
            where.line("versions", index, "stage"),
            "REQUIREMENT_UNMET",
            f"{move}: the base's gitreg.yaml requires more to enter {after}: "
            f"{'; '.join(unmet)}; {_fixes(where.name, mv, requirement.tags)}",
        )
    ]


def _fixes(name: str, mv: ModelVersion, tags: Mapping[str, str]) -> str:
    missing = [f"{k}={v}" for k, v in tags.items() if mv.tags.get(k) != v]
    fixes = []
    if missing:
        fixes.append(f"gitreg tag {name} {mv.version} {' '.join(missing)}")
    fixes.append(f"gitreg update {name} {mv.version} -d TEXT for a description")
    return "fix the version (" + "; ".join(fixes) + "; metrics are recorded at registration)"


# ------------------------------------------------------------------------- summary


def summarize(
    name: str, base: Mapping[str, Any] | None, head: Mapping[str, Any] | None
) -> list[ModelChange]:
    """The rows of what the change from ``base`` to ``head`` does to model ``name``."""
    rows = []
    if base is None or head is None:
        note = "new model" if base is None else "model deleted"
        rows.append(ModelChange(name, None, None, None, note=note))
    old, new = versions_of(base), versions_of(head)
    moved = _moved_aliases(base, head)
    for number in sorted(old.keys() | new.keys()):
        before, after = old.get(number), new.get(number)
        aliases = tuple(moved.get(number, ()))
        tags = _tag_changes(before, after) if after is not None else ()
        stage_from = str(before.get("stage", "None")) if before is not None else None
        stage_to = str(after.get("stage", "None")) if after is not None else None
        if stage_from != stage_to or aliases or tags:
            rows.append(ModelChange(name, number, stage_from, stage_to, aliases, tags))
    model_tags = _tag_changes(base, head) if base is not None and head is not None else ()
    if model_tags:
        rows.append(ModelChange(name, None, None, None, tags=model_tags))
    return rows


def _moved_aliases(
    base: Mapping[str, Any] | None, head: Mapping[str, Any] | None
) -> dict[int, list[str]]:
    """Version -> the alias moves that land on it (or leave it, when removed)."""
    old, new = _mapping(base, "aliases"), _mapping(head, "aliases")
    moved: dict[int, list[str]] = {}
    for alias in sorted(old.keys() | new.keys(), key=str):
        before, after = old.get(alias), new.get(alias)
        if before == after:
            continue
        text = f"@{alias} {before if before is not None else '-'} -> "
        text += str(after) if after is not None else "removed"
        target = after if after is not None else before
        if isinstance(target, int):
            moved.setdefault(target, []).append(text)
    return moved


def _tag_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> tuple[str, ...]:
    old, new = _mapping(before, "tags"), _mapping(after, "tags")
    changes: Sequence[str] = [f"{k}={v}" for k, v in new.items() if old.get(k) != v]
    return (*changes, *(f"-{k}" for k in old if k not in new))
