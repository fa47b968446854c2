"""The audit trail of one model: ``git log --follow`` of its manifest, read into entries.

Only the history of the one manifest is read (git does the path filtering), so a registry
with thousands of commits across many models costs what the one model's history costs; its
states are read in one stream, oldest first, each built from the one before it block by
block (``store.walk``), so a model with thousands of versions costs what its commits
changed, not thousands of whole manifests (#23). ``--first-parent`` makes a change that
came through a pull request show up as its merge commit, whose message names the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitreg.core import record
from gitreg.core.entities import RegisteredModel, Stage
from gitreg.core.errors import VersionNotFound
from gitreg.core.events import Event, EventKind, primary
from gitreg.core.states import diff_states
from gitreg.store import _git
from gitreg.store.gitlog import FileChange as FileChange
from gitreg.store.gitlog import LogCommit as LogCommit
from gitreg.store.gitlog import parse_log as parse_log
from gitreg.store.gitlog import pull_request_number as pull_request_number
from gitreg.store.gitlog import read_log as read_log
from gitreg.store.walk import ZERO, walk


@record.dataclass(frozen=True, slots=True)
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
        out = {name: getattr(self, name) for name in record.fields(self)}
        out["events"] = [e.to_dict() for e in self.events]
        return out


def read_history(
    root: Path, path: str, ref: str = "HEAD", version: int | None = None
) -> list[HistoryEntry]:
    """Entries for the manifest at ``path`` as of ``ref``, newest first.

    With ``version``, only the commits that touched that version (and only its events).
    The manifest's states are read oldest first, each built from the one before it (#23).
    """
    commits = [c for c in parse_log(_git.log_raw(root, [ref], [path], follow=True)) if c.changes]
    commits.reverse()
    changes = [c.changes[-1] for c in commits]
    entries = []
    states = walk(root, changes)
    for commit, change, (old, new) in zip(commits, changes, states, strict=True):
        if (change.old_blob != ZERO and old is None) or (change.new_blob != ZERO and new is None):
            continue  # a commit that broke the manifest has no readable change
        events = primary(diff_states(old, new))
        if version is not None:
            events = [e for e in events if e.version == version]
            if not events:
                continue
        entries.append(_entry(commit, change.new_path, events))
    entries.reverse()
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
