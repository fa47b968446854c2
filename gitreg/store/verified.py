"""The verified tip: ``refs/gitreg/verified``, the last commit a clean audit accepted (#22).

A deployment that must never load an unaudited state reads the registry at this ref instead
of the branch tip. Only a clean ``gitreg audit`` moves it, and only forward; this module
names the ref and reads it (the audit's recording and pushing of it live beside it).
"""

from __future__ import annotations

from pathlib import Path

from gitreg.core.errors import BadRef
from gitreg.store import _git

VERIFIED_REF = "refs/gitreg/verified"


def read_verified(root: Path) -> str | None:
    """The commit ``refs/gitreg/verified`` names in the clone at ``root``, None if unset."""
    try:
        return _git.resolve_commit(root, VERIFIED_REF)
    except BadRef:
        return None
