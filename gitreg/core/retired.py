"""Retired model names and the version numbers they used, so numbers are never reused.

A model deleted (or renamed away) leaves its name free, but ``models:/churn/1`` may be
written in a deployment somewhere: a model created again under that name must not hand out
number 1 to a different artifact. ``models/.retired.yaml`` records, per retired name, the
``next_version`` it had reached; a model created again under a name that collides with one
(case-insensitively) continues from there (see #12). The file is never a model's manifest:
no model name encodes to ``.retired``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitreg.core import record
from gitreg.core.config import RETIRED_FILE as RETIRED_FILE
from gitreg.core.names import name_key

HEADER = (
    "# Models that were deleted or renamed away, and the version numbers they had used:\n"
    "# a model created again under one of these names continues after them (gitreg writes\n"
    "# this file; version numbers are never reused).\n"
)


@record.dataclass(frozen=True, slots=True)
class Retirement:
    """One retired name: the number its next version would have had, and why it went."""

    next_version: int
    retired_at: str | None = None
    retired_by: str | None = None
    reason: str | None = None

    def to_manifest(self) -> dict[str, Any]:
        """The YAML mapping for this entry; absent fields are left out."""
        out: dict[str, Any] = {"next_version": self.next_version}
        for field in ("retired_at", "retired_by", "reason"):
            if getattr(self, field):
                out[field] = getattr(self, field)
        return out


@record.dataclass(frozen=True, slots=True)
class Retired:
    """Every retired name (exactly as it was written) and its entry."""

    names: Mapping[str, Retirement] = record.field(default_factory=dict)

    @classmethod
    def from_manifest(cls, data: Any) -> Retired:
        """From the parsed file (None: no file); entries that are malformed are skipped.

        The schema check (``validate.check_retired``) reports malformed entries.
        """
        entries = (data or {}).get("retired") if isinstance(data, Mapping) else None
        found: dict[str, Retirement] = {}
        for name, entry in (entries or {}).items() if isinstance(entries, Mapping) else ():
            number = entry.get("next_version") if isinstance(entry, Mapping) else None
            if isinstance(name, str) and type(number) is int and number >= 1:
                found[name] = Retirement(
                    number,
                    _text(entry.get("retired_at")),
                    _text(entry.get("retired_by")),
                    _text(entry.get("reason")),
                )
        return cls(found)

    def to_manifest(self) -> dict[str, Any]:
        """The file's mapping, names sorted so that a change is one block of lines."""
        return {
            "schema_version": 1,
            "retired": {n: self.names[n].to_manifest() for n in sorted(self.names)},
        }

    def floor(self, name: str) -> int:
        """The first version number a model called ``name`` may use (1 if never retired)."""
        key = name_key(name)
        numbers = [e.next_version for n, e in self.names.items() if name_key(n) == key]
        return max(numbers, default=1)

    def retire(self, name: str, entry: Retirement) -> Retired:
        """A copy that records ``name``; an older, higher record of it is kept."""
        key = name_key(name)
        kept = {n: e for n, e in self.names.items() if name_key(n) != key}
        number = max(entry.next_version, self.floor(name))
        return Retired({**kept, name: record.replace(entry, next_version=number)})

    def revive(self, name: str) -> Retired:
        """A copy without ``name``: a model of that name exists again and carries its numbers."""
        key = name_key(name)
        return Retired({n: e for n, e in self.names.items() if name_key(n) != key})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


RENAMED = "renamed to "  # the reason a rename records: "renamed to NEW"
_MAX_STEPS = 20  # a trail of renames longer than this is cut short (a record can be hostile)


def trail(record: Retired, name: str) -> list[tuple[str, Retirement]]:
    """Where ``name`` went, step by step: each retired name on the way and its entry.

    ``churn`` renamed to ``churn-v2``, then renamed to ``churn-eu``, gives both steps; a
    name the record does not hold gives ``[]``. A cycle or a long chain stops the trail.
    """
    steps: list[tuple[str, Retirement]] = []
    seen: set[str] = set()
    current: str | None = name
    while current is not None and name_key(current) not in seen and len(steps) < _MAX_STEPS:
        seen.add(name_key(current))
        found = next(
            ((n, e) for n, e in record.names.items() if name_key(n) == name_key(current)), None
        )
        if found is None:
            break
        steps.append(found)
        reason = found[1].reason or ""
        current = reason[len(RENAMED) :] if reason.startswith(RENAMED) else None
    return steps


def describe_trail(
    steps: Sequence[tuple[str, Retirement]],
    exists: Callable[[str], bool],
    commit_of: Callable[[str], str | None] | None = None,
) -> str:
    """``churn was renamed to churn-v2 in 1a2b3c4d5e; use churn-v2`` (#27).

    ``exists`` says whether a model of that name exists now; ``commit_of`` gives the commit
    that retired a name, when the history is at hand.
    """
    said = []
    steps = [(old[:100], entry) for old, entry in steps]  # the record is input: bounded
    for old, entry in steps:
        commit = commit_of(old) if commit_of is not None else None
        where = f" in {commit[:10]}" if commit else ""
        reason = entry.reason or ""
        if reason.startswith(RENAMED):
            said.append(f"{old} was renamed to {reason[len(RENAMED) :][:100]}{where}")
        else:
            when = f" on {entry.retired_at}" if entry.retired_at else ""
            who = f" by {entry.retired_by}" if entry.retired_by else ""
            said.append(f"{old} was deleted{where}{when}{who}")
    text = "; ".join(said)
    last = (steps[-1][1].reason or "") if steps else ""
    if last.startswith(RENAMED):
        new = last[len(RENAMED) :][:100]
        text += f"; use {new}" if exists(new) else f"; no model is called {new} now"
    return text
