"""Retired model names and the version numbers they used, so numbers are never reused.

A model deleted (or renamed away) leaves its name free, but ``models:/churn/1`` may be
written in a deployment somewhere: a model created again under that name must not hand out
number 1 to a different artifact. ``models/.retired.yaml`` records, per retired name, the
``next_version`` it had reached; a model created again under a name that collides with one
(case-insensitively) continues from there (see #12). The file is never a model's manifest:
no model name encodes to ``.retired``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from gitreg.core.names import name_key

RETIRED_FILE = "models/.retired.yaml"
HEADER = (
    "# Models that were deleted or renamed away, and the version numbers they had used:\n"
    "# a model created again under one of these names continues after them (gitreg writes\n"
    "# this file; version numbers are never reused).\n"
)


@dataclasses.dataclass(frozen=True, slots=True)
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


@dataclasses.dataclass(frozen=True, slots=True)
class Retired:
    """Every retired name (exactly as it was written) and its entry."""

    names: Mapping[str, Retirement] = dataclasses.field(default_factory=dict)

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
        return Retired({**kept, name: dataclasses.replace(entry, next_version=number)})

    def revive(self, name: str) -> Retired:
        """A copy without ``name``: a model of that name exists again and carries its numbers."""
        key = name_key(name)
        return Retired({n: e for n, e in self.names.items() if name_key(n) != key})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
