"""``gitreg audit``: judging commits already on the branch, one by one (the gate's third layer).

A pull request is judged by ``validate --base`` before it merges; a direct push is not
judged by anything until it has landed. ``audit`` walks the first-parent history of a range
and judges each commit against its parent, by the parent's policy, exactly as the gate
judges a pull request, plus one rule: a change to a protected fact (``core.protection``)
must have arrived through a merged request. That is a merge commit of a pull or merge
request, or, where a forge is configured, a commit the forge associates with a merged pull
request (a squash or rebase merge). Everything else a commit breaks (a rewritten source, a
second Production version left by two pull requests that were each valid alone) is a
violation whatever way it arrived.

The whole range costs one ``git log`` and one ``git cat-file``: file modes and blob ids
come from the log, and the policy and names are followed through it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gitreg.core import validate
from gitreg.core.config import CONFIG_FILE, MODELS_DIR, Config, Policy
from gitreg.core.errors import ForgeError, GitregError, git_kind
from gitreg.core.finding import Finding
from gitreg.core.retired import RETIRED_FILE
from gitreg.gate import files
from gitreg.gate.incremental import Incremental
from gitreg.gate.judge import Side, judge
from gitreg.integrations.forges.base import Forge
from gitreg.store import compare
from gitreg.store.blobs import BlobReader
from gitreg.store.history import FileChange, LogCommit, read_log

_ZERO = "0" * 40
_MERGED = (
    re.compile(r"^Merge pull request #\d+ from \S+"),  # GitHub's merge commit
    re.compile(r"See merge request \S*!\d+"),  # GitLab's merge commit
    re.compile(r"^Merge branch '[^']+' into '[^']+'"),  # GitLab's subject
)


@dataclasses.dataclass(frozen=True, slots=True)
class Violation:
    """One thing a commit on the branch may not have done."""

    commit: str
    author: str
    author_email: str
    timestamp: str
    pull_request: int | None
    finding: Finding

    def describe(self) -> str:
        """One line: the commit, who, where, what."""
        return f"{self.commit[:12]} by {self.author}: {self.finding}"

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        out = dataclasses.asdict(self)
        out["finding"] = self.finding.to_dict()
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class AuditReport:
    """What ``audit`` found in a range of commits."""

    since: str | None
    until: str
    commits: int
    violations: tuple[Violation, ...]
    notes: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        """True when no commit broke a rule."""
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``gitreg audit --format json``."""
        return {
            "valid": self.valid,
            "since": self.since,
            "until": self.until,
            "commits": self.commits,
            "violations": [v.to_dict() for v in self.violations],
            "notes": list(self.notes),
        }


def audit(root: Path, since: str | None, until: str, forge: Forge | None) -> AuditReport:
    """Judge every commit after ``since`` up to ``until`` on the first-parent history."""
    commits = read_log(root, since, until, [f"{MODELS_DIR}/", CONFIG_FILE])
    if not commits:
        return AuditReport(since, until, 0, ())
    start = commits[0].parents[0] if commits[0].parents else None
    walk = _Walk(root, start, commits, forge)
    violations: list[Violation] = []
    for commit in commits:
        violations += walk.judge(commit)
    return AuditReport(since, until, len(commits), tuple(violations), tuple(walk.notes))


class _Walk:
    """The registry's state as the audit walks the range: policy, retired names, files."""

    def __init__(
        self, root: Path, start: str | None, commits: Sequence[LogCommit], forge: Forge | None
    ) -> None:
        self.forge = forge
        self.notes: list[str] = []
        # One blob at a time, and each manifest judged on the blocks it changed (#23).
        self.blobs = BlobReader(root)
        self.incremental = Incremental()
        self.texts: dict[str, bytes | None] = {CONFIG_FILE: None, RETIRED_FILE: None}
        self.names: set[str] = set()
        if start is not None:
            known, _ = compare.read_files_at(root, start, [CONFIG_FILE, RETIRED_FILE])
            self.texts.update(known)
            self.names = set(compare.list_names_at(root, start, MODELS_DIR))

    def judge(self, commit: LogCommit) -> list[Violation]:
        """The violations of ``commit``, then advance the state past it."""
        old, new, unreadable = self._sides(commit.changes)
        policy = _policy(self.texts[CONFIG_FILE])
        names = _names_after(self.names, commit.changes)
        entries = files.Listing(dict.fromkeys(names, False), frozenset())

        def check_new(path: str, text: bytes | None, incumbents: frozenset[int]) -> Any:
            if path in unreadable:
                return [unreadable[path]], None
            return files.check_text(path, text, entries, incumbents)

        paths = set(old) | set(new)
        before = Side({**self._context(), **old})
        after = Side({**self._context(), **new}, frozenset(unreadable))
        findings, _ = judge(
            paths, before, after, policy, check_new, push=True, incremental=self.incremental
        )
        if any(f.code.startswith("PROTECTED_") for f in findings) and self._reviewed(commit):
            findings = [f for f in findings if not f.code.startswith("PROTECTED_")]
        self._advance(new, names)
        return [
            Violation(
                commit.commit,
                commit.author,
                commit.author_email,
                commit.committed_at,
                commit.pull_request,
                finding,
            )
            for finding in sorted(set(findings), key=lambda f: (f.path, f.line or 0, f.code))
        ]

    def _context(self) -> dict[str, bytes | None]:
        return {RETIRED_FILE: self.texts[RETIRED_FILE]}

    def _sides(
        self, changes: Iterable[FileChange]
    ) -> tuple[dict[str, bytes | None], dict[str, bytes | None], dict[str, Finding]]:
        old: dict[str, bytes | None] = {}
        new: dict[str, bytes | None] = {}
        unreadable: dict[str, Finding] = {}
        for ch in changes:
            old.setdefault(ch.old_path, None)
            new.setdefault(ch.new_path, None)
            if ch.status in ("R", "C"):
                old.setdefault(ch.new_path, None)
                if ch.status == "R":
                    new[ch.old_path] = None
            if ch.status != "A":
                old[ch.old_path] = self._text(ch.old_mode, ch.old_blob)
            if ch.status != "D":
                new[ch.new_path] = self._text(ch.new_mode, ch.new_blob)
                if ch.new_mode != "100644":
                    what = git_kind(ch.new_mode)
                    unreadable[ch.new_path] = Finding(
                        ch.new_path,
                        None,
                        "NOT_A_REGULAR_FILE",
                        f"{ch.new_path} is {what}, not a regular file; gitreg reads only "
                        "regular files (git mode 100644) there",
                    )
        return old, new, unreadable

    def _text(self, mode: str, oid: str) -> bytes | None:
        return self.blobs.get(oid) if mode == "100644" and oid != _ZERO else None

    def _advance(self, new: Mapping[str, bytes | None], names: set[str]) -> None:
        for path in (CONFIG_FILE, RETIRED_FILE):
            if path in new:
                self.texts[path] = new[path]
        self.names = names

    def _reviewed(self, commit: LogCommit) -> bool:
        """Whether ``commit`` arrived through a merged pull or merge request."""
        if self.forge is not None:
            try:
                return self.forge.merged_pull_for(commit.commit) is not None
            except ForgeError as e:
                note = f"could not ask the forge about {commit.commit[:12]} ({e.message})"
                if note not in self.notes:
                    self.notes.append(note)
        merge = len(commit.parents) > 1
        message = f"{commit.subject}\n{commit.body}"
        return merge and any(pattern.search(message) for pattern in _MERGED)


def _names_after(names: set[str], changes: Iterable[FileChange]) -> set[str]:
    """The entries directly in models/ once ``changes`` are made (what ``files.listing``
    would see): gitreg.yaml is none of them, and models/sub/x.yaml is the entry ``sub``."""
    after = set(names)
    for change in changes:
        old = _entry(change.old_path)
        if old is not None and not old[1]:  # a file in a directory may leave others there
            after.discard(old[0])
        new = _entry(change.new_path)
        if new is not None and change.status != "D":
            after.add(new[0])
    return after


def _entry(path: str) -> tuple[str, bool] | None:
    """The entry of models/ that ``path`` is or is in, and whether in (None: not in models/)."""
    top, _, rest = path.partition("/")
    if top != MODELS_DIR:
        return None
    name, _, deeper = rest.partition("/")
    return name, bool(deeper)


def _policy(text: bytes | None) -> Policy:
    if text is None:
        return Policy()
    data, syntax = validate.parse(text, CONFIG_FILE)
    try:
        return Config.from_dict(data).policy if not syntax and isinstance(data, dict) else Policy()
    except (GitregError, KeyError, TypeError, ValueError, AttributeError):
        return Policy()
