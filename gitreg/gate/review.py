"""What ``gitreg validate`` checks: every registry file, or what a change does against its base.

Without a base, every manifest and gitreg.yaml get the schema and the invariants. With a base,
only the files that differ between the base and the work tree are read, so a pull request that
touches one model of ten thousand costs one ``diff-index`` and two small parses: the base was
valid when it was merged, and an unchanged file is still what it was (see #4).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gitreg.core import validate
from gitreg.core.config import CONFIG_FILE, MODELS_DIR, Config, Policy
from gitreg.core.errors import GitregError, not_a_models_directory
from gitreg.core.finding import Finding
from gitreg.core.retired import RETIRED_FILE
from gitreg.gate import files
from gitreg.gate.judge import Side, judge
from gitreg.gate.rules import ModelChange
from gitreg.store import compare


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """The verdict: findings (any makes it invalid), what the change does, and notes."""

    findings: tuple[Finding, ...]
    changes: tuple[ModelChange, ...] = ()
    notes: tuple[Finding, ...] = ()
    checked: int = 0
    base: str | None = None  # the base ref as given
    base_commit: str | None = None
    prefix: str = ""  # the registry's directory inside its git repository, "" or "dir/"

    @property
    def valid(self) -> bool:
        """True when nothing was found."""
        return not self.findings


def check_registry(root: Path, paths: Iterable[str] | None = None) -> Report:
    """Schema and invariants for every registry file (or only ``paths``, root-relative)."""
    entries = files.listing(root)
    if paths is None:
        selected = {CONFIG_FILE, *(f"{MODELS_DIR}/{name}" for name in entries)}
    else:
        selected = {p for p in paths if _is_registry_path(p)}
    cache = files.FindingsCache(root)
    findings = _listing_findings(entries)
    contents = files.read_models(root) if paths is None else None
    if contents is not None:
        cache.prefetch(contents)  # parsed on every core (#15)
    for path in sorted(selected):
        findings += files.check_file(root, path, entries, cache, contents)
    cache.save()
    return Report(_sorted(findings), checked=len(selected), prefix=compare.prefix(root))


def check_change(
    root: Path, base: str, paths: Iterable[str] | None = None, *, push: bool = False
) -> Report:
    """The files that differ between ``base`` and the work tree: checks and change rules.

    Raises:
        BadRef: ``base`` names no commit.
    """
    base_commit = compare.resolve_commit(root, base)
    point, notes = _compare_point(root, base, base_commit)
    changed = _changed_paths(root, point)
    if paths is not None:
        changed &= set(paths)
    prefix = compare.prefix(root)
    config, _ = compare.read_files_at(root, base_commit, [CONFIG_FILE], prefix)
    policy, policy_notes = _base_policy(config[CONFIG_FILE], base, base_commit)
    notes += policy_notes
    if CONFIG_FILE in changed:
        notes.append(_config_note(base, base_commit))
    wanted = changed | {RETIRED_FILE}
    old_texts, _irregular = compare.read_files_at(root, point, wanted, prefix)
    entries = files.listing(root)
    new_texts: dict[str, bytes | None] = {}
    unreadable: dict[str, list[Finding]] = {}
    for path in sorted(wanted):
        new_texts[path], unreadable[path] = files.read_worktree(root, path)

    def check_new(
        path: str, text: bytes | None, incumbents: frozenset[int]
    ) -> tuple[list[Finding], Any]:
        if unreadable.get(path):
            return unreadable[path], None
        return files.check_text(path, text, entries, incumbents)

    skipped = {p for p, found in unreadable.items() if found}
    findings, changes = judge(
        changed, Side(old_texts), Side(new_texts, frozenset(skipped)), policy, check_new, push=push
    )
    findings += _listing_findings(entries)
    return Report(
        _sorted(findings), tuple(changes), tuple(notes), len(changed), base, base_commit, prefix
    )


def _listing_findings(entries: files.Listing) -> list[Finding]:
    if not entries.problem:
        return []
    message = not_a_models_directory(entries.problem).message
    return [Finding(MODELS_DIR, None, "NOT_A_REGULAR_FILE", message)]


def _sorted(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(set(findings), key=lambda f: (f.path, f.line or 0, f.code, f.message)))


# ----------------------------------------------------------------- base and policy


def _compare_point(root: Path, base: str, base_commit: str) -> tuple[str, list[Finding]]:
    """The merge base of ``base`` and HEAD: a branch's own changes, not the base's since."""
    head = compare.head_commit(root)
    if head is None:
        return base_commit, []  # no commit yet: everything in the work tree is new
    found = compare.merge_base(root, base_commit, head)
    if found is not None:
        return found, []
    note = Finding(
        "",
        None,
        "NO_MERGE_BASE",
        f"{base} and HEAD share no history here (a shallow clone?); compared with {base} "
        "itself: fetch more history (actions/checkout with fetch-depth: 0) if that is wrong",
    )
    return base_commit, [note]


def _base_policy(text: bytes | None, base: str, commit: str) -> tuple[Policy, list[Finding]]:
    """The policy of the base's gitreg.yaml, which judges the change (see DESIGN.md)."""
    if text is not None:
        data, syntax = validate.parse(text, CONFIG_FILE)
        with contextlib.suppress(GitregError, KeyError, TypeError, ValueError, AttributeError):
            if not syntax and isinstance(data, Mapping):
                return Config.from_dict(data).policy, []
    why = "has no gitreg.yaml" if text is None else "has an unreadable gitreg.yaml"
    note = Finding(
        "",
        None,
        "BASE_POLICY_DEFAULT",
        f"the base {base} ({commit[:12]}) {why}, so the default policy judged this change",
    )
    return Policy(), [note]


def _config_note(base: str, commit: str) -> Finding:
    return Finding(
        CONFIG_FILE,
        1,
        "BASE_POLICY_USED",
        f"this change edits {CONFIG_FILE}, but a change is judged by the policy of its base "
        f"({base} at {commit[:12]}); the edited policy applies only once it is merged",
    )


# ------------------------------------------------------------------------ files


def _changed_paths(root: Path, commit: str) -> set[str]:
    """Registry paths that differ between ``commit`` and the work tree (untracked included)."""
    paths = compare.changed_paths(root, commit, [MODELS_DIR, CONFIG_FILE])
    return {p for p in paths if _is_registry_path(p)}


def _is_registry_path(path: str) -> bool:
    return path == CONFIG_FILE or path.startswith(f"{MODELS_DIR}/")
