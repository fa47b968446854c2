"""Regular expressions compiled when first used, not when their module is imported (#26).

A module-level ``re.compile`` runs on every import of its module, and a cold CLI write
imports the modules of a configuration (notifications, approvals, links) whose checks it
runs only when gitreg.yaml has such sections. ``lazy(pattern)`` is a stand-in with the
methods gitreg calls, compiling on the first of them; ``re`` caches nothing across
processes, so this is where the time is saved. Patterns on every write's path stay
compiled at import.
"""

from __future__ import annotations

import _thread  # threading's Lock, without importing threading (#26)
import re
from typing import Any


class LazyPattern:
    """``re.compile(pattern, flags)``, done on first use (thread-safe, once)."""

    __slots__ = ("_compiled", "_flags", "_pattern")
    _lock = _thread.allocate_lock()

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._pattern = pattern
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        """The compiled expression."""
        compiled = self._compiled
        if compiled is None:
            with self._lock:
                compiled = self._compiled
                if compiled is None:
                    compiled = self._compiled = re.compile(self._pattern, self._flags)
        return compiled

    @property
    def pattern(self) -> str:
        """The source of the expression, as ``re.Pattern.pattern``."""
        return self._pattern

    def match(self, string: str, pos: int = 0) -> re.Match[str] | None:
        """``re.Pattern.match``."""
        return self.compiled.match(string, pos)

    def fullmatch(self, string: str) -> re.Match[str] | None:
        """``re.Pattern.fullmatch``."""
        return self.compiled.fullmatch(string)

    def search(self, string: str) -> re.Match[str] | None:
        """``re.Pattern.search``."""
        return self.compiled.search(string)

    def findall(self, string: str) -> list[Any]:
        """``re.Pattern.findall``."""
        return self.compiled.findall(string)

    def sub(self, repl: Any, string: str, count: int = 0) -> str:
        """``re.Pattern.sub``."""
        return self.compiled.sub(repl, string, count)


def lazy(pattern: str, flags: int = 0) -> LazyPattern:
    """A pattern compiled on first use (see the module doc)."""
    return LazyPattern(pattern, flags)
