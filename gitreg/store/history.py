"""The audit trail of one model: ``git log --follow`` of its manifest, read into entries.

Only the history of the one manifest is read (git does the path filtering), and each
distinct manifest content is parsed once, so a registry with thousands of commits across
many models costs what the one model's history costs. ``--first-parent`` makes a change that
came through a pull request show up as its merge commit, whose message names the request.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from gitreg.core import manifest
from gitreg.core.entities import RegisteredModel, Stage
from gitreg.core.errors import GitregError, VersionNotFound
from gitreg.core.events import Event, EventKind, diff, primary
from gitreg.store import _git

_ZERO = "0" * 40
_ITEM = re.compile(rb"(?m)^(?=  - )")
_TOP_LEVEL = re.compile(rb"(?m)^[^ \n#]")
_PULL_PATTERNS = (
    re.compile(r"^Merge pull request #(\d+) "),  # GitHub merge commit
    re.compile(r"\(#(\d+)\)$"),  # GitHub squash merge
    re.compile(r"See merge request \S*!(\d+)"),  # GitLab merge commit
)


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One commit that changed the model: who, when, what, and through which request."""

    commit: str
    author: str
    author_email: str
    authored_at: str
    committer: str
    committer_email: str
    committed_at: str
    subject: str
    path: str
    pull_request: int | None
    events: tuple[Event, ...]
    approved_by: tuple[str, ...] | None = None  # as the audit recorded it (#24)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``gitreg history --json``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["events"] = [e.to_dict() for e in self.events]
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class FileChange:
    """One file a commit changed (``git log --raw``): modes, blobs, paths, status letter."""

    status: str  # A, M, D, R (rename), T (type change), C (copy)
    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str
    old_path: str
    new_path: str


@dataclasses.dataclass(frozen=True, slots=True)
class LogCommit:
    """A commit of ``git log --first-parent``, with the registry files it changed."""

    commit: str
    parents: tuple[str, ...]
    author: str
    author_email: str
    authored_at: str
    committer: str
    committer_email: str
    committed_at: str
    subject: str
    body: str
    changes: tuple[FileChange, ...]

    @property
    def pull_request(self) -> int | None:
        """The pull/merge request the commit's message names, if any."""
        return pull_request_number(self.subject, self.body)


def read_log(root: Path, since: str | None, until: str, paths: Sequence[str]) -> list[LogCommit]:
    """The first-parent commits after ``since`` up to ``until`` that touch ``paths``, oldest
    first, with their file changes (``since`` None: from the first commit)."""
    revisions = [until] if since is None else [f"^{since}", until]
    commits = list(parse_log(_git.log_raw(root, revisions, paths)))
    commits.reverse()
    return commits


def parse_log(out: bytes) -> Iterator[LogCommit]:
    """The commits in ``_git.log_raw`` output, in the order git printed them."""
    for chunk in out.split(b"\x1e"):
        if not chunk.strip(b"\0\n"):
            continue
        parts = chunk.split(b"\0", _git.LOG_FIELDS)
        fields = [p.decode("utf-8", "replace") for p in parts[: _git.LOG_FIELDS]]
        raw = parts[_git.LOG_FIELDS] if len(parts) > _git.LOG_FIELDS else b""
        commit, parents, an, ae, ad, cn, ce, cd, subject, body = fields
        yield LogCommit(
            commit, tuple(parents.split()), an, ae, ad, cn, ce, cd, subject, body, _changes(raw)
        )


def _changes(raw: bytes) -> tuple[FileChange, ...]:
    tokens = raw.lstrip(b"\0\n").split(b"\0")
    changes = []
    index = 0
    while index < len(tokens):
        meta = tokens[index]
        if not meta.startswith(b":"):
            index += 1
            continue
        old_mode, new_mode, old_blob, new_blob, status = meta[1:].decode().split()
        count = 2 if status[:1] in ("R", "C") else 1
        paths = [
            p.decode("utf-8", "surrogateescape") for p in tokens[index + 1 : index + 1 + count]
        ]
        index += 1 + count
        if len(paths) < count:
            break
        changes.append(
            FileChange(status[:1], old_mode, new_mode, old_blob, new_blob, paths[0], paths[-1])
        )
    return tuple(changes)


def read_history(
    root: Path, path: str, ref: str = "HEAD", version: int | None = None
) -> list[HistoryEntry]:
    """Entries for the manifest at ``path`` as of ``ref``, newest first.

    With ``version``, only the commits that touched that version (and only its events).
    """
    commits = [c for c in parse_log(_git.log_raw(root, [ref], [path], follow=True)) if c.changes]
    changes = [c.changes[-1] for c in commits]
    blobs = {ch.old_blob for ch in changes} | {ch.new_blob for ch in changes}
    blobs.discard(_ZERO)
    texts = _git.read_objects(root, sorted(blobs))
    cache: dict[bytes, Any] = {}
    states = {oid: parse_state(text, path, cache) for oid, text in texts.items()}
    entries = []
    for commit, change in zip(commits, changes, strict=True):
        old = states.get(change.old_blob)
        new = states.get(change.new_blob)
        if (change.old_blob != _ZERO and old is None) or (change.new_blob != _ZERO and new is None):
            continue  # a commit that broke the manifest has no readable change
        events = primary(diff(old, new))
        if version is not None:
            events = [e for e in events if e.version == version]
            if not events:
                continue
        entries.append(_entry(commit, change.new_path, events))
    return entries


def production_versions(entries: Sequence[HistoryEntry]) -> list[int]:
    """Versions that entered Production, most recent first (no repeats)."""
    seen: list[int] = []
    for entry in entries:
        for event in entry.events:
            entered = (
                event.kind == EventKind.MODEL_VERSION_TRANSITIONED_STAGE
                and event.to_stage == Stage.PRODUCTION.value
            )
            if entered and event.version is not None and event.version not in seen:
                seen.append(event.version)
    return seen


def rollback_target(model: RegisteredModel, entries: Sequence[HistoryEntry]) -> tuple[int, str]:
    """The version Production returns to on a rollback, and why (for the commit message).

    Raises:
        VersionNotFound: no earlier Production version still exists.
    """
    current = [mv.version for mv in model.versions if mv.current_stage == Stage.PRODUCTION]
    earlier = [
        v
        for v in production_versions(entries)
        if v not in current and model.get_version(v) is not None
    ]
    if not earlier:
        raise VersionNotFound(
            f"{model.name} has no earlier Production version to roll back to (history shows "
            "none that still exists)"
        )
    now = f"version {current[0]}" if current else "no version"
    return earlier[0], f"Rollback: Production returns to version {earlier[0]} (from {now})."


def pull_request_number(subject: str, body: str) -> int | None:
    """The pull/merge request a commit message names (merge or squash), if any."""
    for pattern in _PULL_PATTERNS:
        match = pattern.search(subject) or pattern.search(body)
        if match:
            return int(match.group(1))
    return None


def parse_state(text: bytes | None, path: str, cache: dict[bytes, Any]) -> RegisteredModel | None:
    """The model a manifest's content describes, or None when it is absent or unreadable."""
    if text is None:
        return None
    try:
        data = _load_by_blocks(text, path, cache)
        return RegisteredModel.from_manifest(data)
    except (GitregError, KeyError, TypeError, ValueError, AttributeError):
        return None


def _load_by_blocks(text: bytes, path: str, cache: dict[bytes, Any]) -> Any:
    """Parse a manifest, reusing the parse of each ``versions`` item seen in another commit.

    Consecutive commits of a manifest share all but a line or two, and gitreg writes one
    block per version, so parsing block by block makes a history of N commits cost about N
    blocks rather than N whole files. A file in another layout is parsed whole.
    """
    head, sep, rest = text.partition(b"\nversions:\n")
    if not sep or _TOP_LEVEL.search(rest):
        return manifest.load_mapping(text, path)
    data = manifest.load_mapping(head + b"\n", path)
    versions = []
    for block in _ITEM.split(rest):
        if not block.strip():
            continue
        if block not in cache:
            cache[block] = manifest.load(block, path)
        parsed = cache[block]
        if not isinstance(parsed, list):
            return manifest.load_mapping(text, path)
        versions += parsed
    data["versions"] = versions
    return data


def _entry(commit: LogCommit, path: str, events: list[Event]) -> HistoryEntry:
    return HistoryEntry(
        commit=commit.commit,
        author=commit.author,
        author_email=commit.author_email,
        authored_at=commit.authored_at,
        committer=commit.committer,
        committer_email=commit.committer_email,
        committed_at=commit.committed_at,
        subject=commit.subject,
        path=path,
        pull_request=commit.pull_request,
        events=tuple(events),
    )
