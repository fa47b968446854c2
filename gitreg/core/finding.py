"""``Finding``: one problem in a registry file, the unit every check returns.

A finding names the file, the line, a stable code and what to do about it; checks return
lists of them and faces decide how to show them (text, JSON, GitHub annotations).
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:

    class _Fields(NamedTuple):
        path: str
        line: int | None
        code: str
        message: str

else:  # the same tuple: typing.NamedTuple compiles each string annotation when the class
    # is made, a millisecond of a CLI write's start (#26); tests/test_cold_write.py checks it
    _Fields = collections.namedtuple("Finding", ("path", "line", "code", "message"))


class Finding(_Fields):
    """One problem: where (file, line), a stable code, and what to do about it."""

    __slots__ = ()

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON for ``--format json``."""
        return {"path": self.path, "line": self.line, "code": self.code, "message": self.message}
