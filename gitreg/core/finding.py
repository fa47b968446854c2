"""``Finding``: one problem in a registry file, the unit every check returns.

A finding names the file, the line, a stable code and what to do about it; checks return
lists of them and faces decide how to show them (text, JSON, GitHub annotations).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Finding(NamedTuple):
    """One problem: where (file, line), a stable code, and what to do about it."""

    path: str
    line: int | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON for ``--format json``."""
        return {"path": self.path, "line": self.line, "code": self.code, "message": self.message}
