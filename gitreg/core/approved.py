"""The record of who approved a merged change, as the audit found it (#24). No I/O.

The audit asks the trusted forge about every merged pull request that changed a protected
fact; a clean ``gitreg audit --record`` keeps what it found as a git note on the commit
that landed on the branch (``refs/notes/gitreg/approvals``, pushed beside the verified
tip). Readers (history, events, the catalog) then show who approved each protected change
offline. A note is one line of JSON; one that does not parse is ignored, never trusted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from gitreg.core import record

MAX_NOTE = 64_000  # a note larger than this is not one gitreg wrote


@record.dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """Who approved the pull request that produced ``commit``, when it merged."""

    commit: str  # the commit on the branch (a merge, squash or rebase of the request)
    pull_request: int
    approved_by: tuple[str, ...]  # each reviewer whose latest review before the merge approved
    forge: str = "github"
    url: str | None = None
    author: str | None = None  # who opened it
    head: str | None = None  # its head commit when it merged
    merged_at: str | None = None
    # Each rule of policy.approvals it was judged by: requirement, met, approved_by, missing.
    requirements: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON shape (the note's, and ``--json``'s)."""
        out = {name: getattr(self, name) for name in record.fields(self)}
        out["approved_by"] = list(self.approved_by)
        out["requirements"] = [dict(r) for r in self.requirements]
        return out

    def to_note(self) -> str:
        """The note's text: one line of JSON without the commit (the note is on it)."""
        data = self.to_dict()
        data.pop("commit")
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_note(cls, commit: str, text: str) -> ApprovalRecord | None:
        """The record a note on ``commit`` holds, or None when it is not one gitreg wrote."""
        if len(text) > MAX_NOTE:
            return None
        try:
            data = json.loads(text.strip().splitlines()[-1]) if text.strip() else None
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                commit,
                _int(data["pull_request"]),
                _names(data.get("approved_by")),
                str(data.get("forge") or "github"),
                _text(data.get("url")),
                _text(data.get("author")),
                _text(data.get("head")),
                _text(data.get("merged_at")),
                tuple(r for r in data.get("requirements") or () if isinstance(r, dict)),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _int(value: object) -> int:
    if type(value) is not int:
        raise ValueError("not an integer")
    return value


def _names(value: object) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError("not a list")
    return tuple(str(v) for v in value if isinstance(v, str))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
