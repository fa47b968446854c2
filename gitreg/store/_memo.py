"""What a new process would re-derive from content that has not changed, kept in the clone.

A cold ``gitreg register`` (one process per command, as a CI job runs it) used to derive
again, in every process, facts about files that had not changed since the last command:
git's configuration (a ``git config --list`` process), where each entry of the 400 kB
``models/`` tree starts, where each entry of the 880 kB shared index starts (#26). Each
such fact is kept here in a small file in ``.git/gitreg/`` under the identity of what it
was derived from: a tree's object id, a shared index's checksum (its name), the stat data
of git's config files. It is as trusted as the clone's other state (the index, the refs)
and checked strictly by its user before use: a memo that cannot be read, is malformed,
or does not match what it claims to describe is ignored, and the fact derived again.
Nothing is ever built from a memo without a check that it fits (see each user).
"""

from __future__ import annotations

import contextlib
import marshal
import os
from pathlib import Path
from typing import Any

_TAG = "gitreg-memo-1"


def load(state_dir: Path, name: str) -> Any:
    """What ``save(state_dir, name, ...)`` kept, or None (missing, unreadable, malformed)."""
    try:
        with open(state_dir / f"{name}.marshal", "rb") as f:
            found = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(found, tuple) or len(found) != 2 or found[0] != _TAG:
        return None
    return found[1]


def save(state_dir: Path, name: str, value: Any) -> None:
    """Keep ``value`` (plain data) as ``name``: written whole, then renamed into place, so a
    reader sees the old memo or the new one; a clone that cannot be written is left as is."""
    temp = state_dir / f"{name}.marshal.{os.getpid()}.tmp"
    try:
        image = marshal.dumps((_TAG, value))
        state_dir.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as f:
            f.write(image)
        os.replace(temp, state_dir / f"{name}.marshal")
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            os.unlink(temp)
