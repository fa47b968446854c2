"""``git log --first-parent --raw`` read into commits and the files each changed.

The one reading of a range of history that the audit trail of a model (``history``), the
events of a range (``eventlog``) and the audit (``gate.audit``) share: who, when, the
message, the pull request it names, and each file change's modes, blobs and paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from gitreg.core import record
from gitreg.store import _git

_PULL_PATTERNS = (
    re.compile(r"^Merge pull request #(\d+) "),  # GitHub merge commit
    re.compile(r"\(#(\d+)\)$"),  # GitHub squash merge
    re.compile(r"See merge request \S*!(\d+)"),  # GitLab merge commit
)


@record.dataclass(frozen=True, slots=True)
class FileChange:
    """One file a commit changed (``git log --raw``): modes, blobs, paths, status letter."""

    status: str  # A, M, D, R (rename), T (type change), C (copy)
    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str
    old_path: str
    new_path: str


@record.dataclass(frozen=True, slots=True)
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


def pull_request_number(subject: str, body: str) -> int | None:
    """The pull/merge request a commit message names (merge or squash), if any."""
    for pattern in _PULL_PATTERNS:
        match = pattern.search(subject) or pattern.search(body)
        if match:
            return int(match.group(1))
    return None
