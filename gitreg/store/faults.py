"""Named crash points in the write path, for the fault-injection tests only (issue 17).

``point(name)`` kills the process on the spot (SIGKILL: no cleanup, no ``finally``, as
``kill -9`` or a lost machine would) when the environment variable ``GITREG_TEST_CRASH_AT``
names it, and does nothing otherwise. Tests set the variable on a child process to stop a
write at an exact phase and then check that the next command recovers. It is read at call
time and is never set in normal use; it is not a user setting.

``GITREG_TEST_PAUSE_AT=name:dir`` stops the process at ``name`` (once): it creates
``dir/paused`` and waits for ``dir/go``, so a test can act while it holds the clone (e.g.
hand it other writers' requests) and then let it go on to a crash point.

The points, in the order a write reaches them:

- ``locked``: the clone's lock is held and the busy marker written;
- ``built``: the commit object exists; no ref has moved;
- ``spool-claimed`` (``SPOOL_POINTS``): the lock holder took a request another writer
  handed it (#26) and has not applied it yet;
- ``spool-answered``: it wrote that writer's answer (the commit), not yet queued;
- ``spool-queued``: that commit is queued; the holder has not released the clone yet;
- ``pushed``: the remote accepted the push; the local branch has not moved;
- ``journaled``: the journal is written; the branch has not moved;
- ``ref-moved``: the branch moved; the work tree and index are still the old ones;
- ``worktree-exchanged`` (a manifest of 256 kB or more, #26): the new manifest is in
  place, the old one still under its temporary name (``_swap``);
- ``worktree-written``: the files are written; the index is not updated yet.
"""

from __future__ import annotations

import os

ENV = "GITREG_TEST_CRASH_AT"
PAUSE_ENV = "GITREG_TEST_PAUSE_AT"
POINTS = ("locked", "built", "pushed", "journaled", "ref-moved", "worktree-written")
# Reached only by a lock holder applying requests other writers handed it (``spool``).
SPOOL_POINTS = ("spool-claimed", "spool-answered", "spool-queued")


def point(name: str) -> None:
    """Die here if ``GITREG_TEST_CRASH_AT`` names this point (see module doc)."""
    if PAUSE_ENV in os.environ:
        _pause(name)
    if os.environ.get(ENV) != name:
        return
    import signal  # only when a test asks for the crash: not on every write (#26)

    kill = getattr(signal, "SIGKILL", None)
    if kill is None:  # Windows: no SIGKILL; _exit skips cleanup just the same
        os._exit(137)
    os.kill(os.getpid(), kill)


def _pause(name: str) -> None:
    """Wait at ``name`` for the test's go, once (see module doc)."""
    import time
    from pathlib import Path

    point_name, _, folder = os.environ[PAUSE_ENV].partition(":")
    if point_name != name or not folder:
        return
    del os.environ[PAUSE_ENV]
    (Path(folder) / "paused").write_text(str(os.getpid()), "ascii")
    while not (Path(folder) / "go").exists():
        time.sleep(0.01)
