"""Named crash points in the write path, for the fault-injection tests only (issue 17).

``point(name)`` kills the process on the spot (SIGKILL: no cleanup, no ``finally``, as
``kill -9`` or a lost machine would) when the environment variable ``GITREG_TEST_CRASH_AT``
names it, and does nothing otherwise. Tests set the variable on a child process to stop a
write at an exact phase and then check that the next command recovers. It is read at call
time and is never set in normal use; it is not a user setting.

The points, in the order a write reaches them:

- ``locked``: the clone's lock is held and the busy marker written;
- ``built``: the commit object exists; no ref has moved;
- ``pushed``: the remote accepted the push; the local branch has not moved;
- ``journaled``: the journal is written; the branch has not moved;
- ``ref-moved``: the branch moved; the work tree and index are still the old ones;
- ``worktree-written``: the files are written; the index is not updated yet.
"""

from __future__ import annotations

import os
import signal

ENV = "GITREG_TEST_CRASH_AT"
POINTS = ("locked", "built", "pushed", "journaled", "ref-moved", "worktree-written")


def point(name: str) -> None:
    """Die here if ``GITREG_TEST_CRASH_AT`` names this point (see module doc)."""
    if os.environ.get(ENV) != name:
        return
    kill = getattr(signal, "SIGKILL", None)
    if kill is None:  # Windows: no SIGKILL; _exit skips cleanup just the same
        os._exit(137)
    os.kill(os.getpid(), kill)
