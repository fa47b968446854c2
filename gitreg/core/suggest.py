""" "Did you mean ...?": the closest of a few known names to one that was not found (#16).

Pure and cheap: callers pass names they already have (a listing already read, a directory
listing), never read more to make a suggestion.
"""

from __future__ import annotations

from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like ``name`` (case-insensitively), or None if none is close."""
    import difflib  # only error paths pay for it

    candidates = {k.lower(): k for k in known if k != name}
    found = difflib.get_close_matches(name.lower(), list(candidates), n=1, cutoff=0.6)
    return candidates[found[0]] if found else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean churn?"`` for the closest known name, or ``""``."""
    match = closest(name, known)
    return f"; did you mean {match}?" if match else ""
