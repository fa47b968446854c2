"""What ``gitreg validate`` checks: every registry file, or what a change does against its base.

Without a base, every manifest and gitreg.yaml get the schema and the invariants. With a base,
only the files that differ between the base and the work tree are read, so a pull request that
touches one model of ten thousand costs one ``diff-index`` and two small parses: the base was
valid when it was merged, and an unchanged file is still what it was (see #4).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import marshal
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gitreg.core import validate
from gitreg.core.config import CONFIG_FILE, MODELS_DIR, Config, Policy
from gitreg.core.errors import GitregError
from gitreg.core.finding import Finding
from gitreg.core.names import name_key, name_of_stem
from gitreg.core.version import __version__
from gitreg.gate import rules
from gitreg.gate.rules import ModelChange
from gitreg.store import compare
from gitreg.store.cache import git_dir, load_parsed, no_gc, save_parsed


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
    entries = _listing(root)
    if paths is None:
        selected = {CONFIG_FILE, *(f"{MODELS_DIR}/{name}" for name in entries)}
    else:
        selected = {p for p in paths if _is_registry_path(p)}
    cache = FindingsCache(root)
    findings = []
    for path in sorted(selected):
        findings += _check_file(root, path, entries, cache)
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
    wanted = [f"{base_commit}:{prefix}{CONFIG_FILE}"]
    wanted += [f"{point}:{prefix}{p}" for p in sorted(changed) if _readable(p)]
    blobs = compare.read_at(root, wanted)
    policy, policy_notes = _base_policy(blobs[wanted[0]], base, base_commit)
    notes += policy_notes
    if CONFIG_FILE in changed:
        notes.append(_config_note(base, base_commit))
    entries = _listing(root)
    findings: list[Finding] = []
    changes: list[ModelChange] = []
    for path in sorted(changed):
        old = blobs.get(f"{point}:{prefix}{path}")
        f, c = _check_changed(root, path, old, entries, policy, push)
        findings += f
        changes += c
    return Report(
        _sorted(findings), tuple(changes), tuple(notes), len(changed), base, base_commit, prefix
    )


def _sorted(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(findings, key=lambda f: (f.path, f.line or 0)))


# --------------------------------------------------------------------- per file


def _check_file(root: Path, path: str, entries: Listing, cache: FindingsCache) -> list[Finding]:
    """Schema and invariants of the work tree's ``path``."""
    text = _read_worktree(root, path)
    if path == CONFIG_FILE or text is None:
        return _check_text(path, text, entries, frozenset())[0]
    name, _, rest = path[len(MODELS_DIR) + 1 :].partition("/")
    findings = validate.check_entry(name, is_dir=bool(rest) or entries.get(name, False))
    if findings or name == ".gitkeep":
        return findings
    return findings + _case_conflicts(name, entries) + cache.manifest_findings(path, text)


def _check_text(
    path: str, text: bytes | None, entries: Listing, incumbents: frozenset[int]
) -> tuple[list[Finding], Any]:
    """Findings for ``path`` holding ``text`` (None: absent), and its parsed data if any."""
    if path == CONFIG_FILE:
        if text is None:
            return [_missing_config()], None
        data, findings = validate.parse(text, path)
        return (findings or validate.check_config(data, path, text)), data
    name, _, rest = path[len(MODELS_DIR) + 1 :].partition("/")
    findings = validate.check_entry(name, is_dir=bool(rest) or entries.get(name, False))
    if findings or text is None or name == ".gitkeep":
        return findings, None
    findings += _case_conflicts(name, entries)
    data, syntax = validate.parse(text, path)
    if syntax:
        return findings + syntax, None
    return findings + validate.check_manifest(data, path, text, incumbents), data


class FindingsCache:
    """Findings of a manifest's own checks, by path and content (git blob id).

    A whole-registry validate then parses only what changed since the last run. The key
    includes a fingerprint of gitreg's version and schema, so an upgrade re-checks all.
    """

    def __init__(self, root: Path) -> None:
        self.state_dir = git_dir(root) / "gitreg"
        self.file = self.state_dir / "validate-cache.marshal"
        self.parsed = load_parsed(self.state_dir)
        self.parsed_used: dict[str, Any] = {}
        schema = json.dumps(validate.schema("manifest"), sort_keys=True).encode()
        self.stamp = f"{__version__}:{compare.blob_id(schema)}"
        self.entries: dict[str, list[tuple[Any, ...]]] = {}
        self.used: dict[str, list[tuple[Any, ...]]] = {}
        self.dirty = False
        with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
            raw = self.file.read_bytes()
            with no_gc():
                stamp, entries = marshal.loads(raw)
            if stamp == self.stamp and isinstance(entries, dict):
                self.entries = entries

    def manifest_findings(self, path: str, text: bytes) -> list[Finding]:
        """Schema and invariant findings of ``path`` holding ``text`` (cached)."""
        oid = compare.blob_id(text)
        key = f"{path}\0{oid}"
        if key not in self.entries:
            syntax: list[Finding] = []
            data = self.parsed.get(oid)
            if data is None:
                data, syntax = validate.parse(text, path)
            if not syntax:
                self.parsed_used[oid] = data
            found = syntax or validate.check_manifest(data, path, text, frozenset())
            self.entries[key] = [tuple(f) for f in found]
            self.dirty = True
        self.used[key] = self.entries[key]
        return [Finding(*f) for f in self.used[key]]

    def save(self) -> None:
        """Keep the entries this run used (others are for content that is gone)."""
        if self.parsed_used.keys() - self.parsed.keys():
            save_parsed(self.state_dir, {**self.parsed, **self.parsed_used})
        if not self.dirty and self.used.keys() == self.entries.keys():
            return
        with contextlib.suppress(OSError, ValueError):
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps((self.stamp, self.used)))
            os.replace(tmp, self.file)


def _check_changed(
    root: Path,
    path: str,
    old_text: bytes | None,
    entries: Listing,
    policy: Policy,
    push: bool,
) -> tuple[list[Finding], list[ModelChange]]:
    """Checks of one changed file; for a manifest, change rules and summary rows too."""
    text = _read_worktree(root, path)
    if not path.startswith(f"{MODELS_DIR}/") or not _readable(path):
        return _check_text(path, text, entries, frozenset())[0], []
    old: Any = None
    if old_text is not None:
        old, syntax = validate.parse(old_text, path)
        old = old if isinstance(old, Mapping) and not syntax else None
    findings, new = _check_text(path, text, entries, rules.production_versions(old))
    if text is not None and not isinstance(new, Mapping):
        return findings, []  # unreadable: the findings say why
    findings += rules.check_changes(path, old, new, text, policy, push=push)
    name = path[len(MODELS_DIR) + 1 :].removesuffix(".yaml")
    return findings, rules.summarize(name, old, new)


def _case_conflicts(name: str, entries: Listing) -> list[Finding]:
    path = f"{MODELS_DIR}/{name}"
    return [
        Finding(
            path,
            None,
            "NAME_CASE_CONFLICT",
            f"{path} and {MODELS_DIR}/{other} differ only in case; a checkout on macOS or "
            "Windows would merge them, so rename one",
        )
        for other in entries.folded.get(_fold(name), ())
        if other != name
    ]


def _missing_config() -> Finding:
    return Finding(
        CONFIG_FILE,
        None,
        "CONFIG_MISSING",
        f"{CONFIG_FILE} is missing; restore it (git checkout -- {CONFIG_FILE})",
    )


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


def _readable(path: str) -> bool:
    """A path whose content is worth reading: gitreg.yaml or a validly named manifest."""
    if path == CONFIG_FILE:
        return True
    name, _, rest = path[len(MODELS_DIR) + 1 :].partition("/")
    return not rest and not validate.check_entry(name) and name != ".gitkeep"


def _read_worktree(root: Path, path: str) -> bytes | None:
    try:
        return (root / path).read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _fold(file_name: str) -> str:
    """What two entries of models/ collide on: their models' names, case-folded."""
    stem = file_name.removesuffix(".yaml")
    return name_key(name_of_stem(stem) or stem)


class Listing(dict[str, bool]):
    """Name -> is a directory, for everything directly in models/; ``folded`` by lower case."""

    def __init__(self, entries: Mapping[str, bool]) -> None:
        super().__init__(entries)
        self.folded: dict[str, list[str]] = {}
        for name in sorted(entries):
            self.folded.setdefault(_fold(name), []).append(name)


def _listing(root: Path) -> Listing:
    try:
        return Listing({e.name: e.is_dir() for e in os.scandir(root / MODELS_DIR)})
    except (FileNotFoundError, NotADirectoryError):
        return Listing({})
