"""An exclusive lock on a file that the operating system releases when its holder dies.

``flock`` on POSIX, ``LockFileEx`` (through ``msvcrt.locking``) on Windows: a writer
killed with SIGKILL never leaves the clone locked. It replaces the filelock package, whose
import alone cost 17 ms of every write's 120 ms budget (#15); gitreg needs only this.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# The longest wait between two tries: a writer queued behind a holder that is done wakes
# within this (at 50 ms, 16 writers queued on one clone spent more time asleep than
# writing; #26).
POLL_MAX_SECONDS = 0.005


class LockTimeout(Exception):
    """Another process held the lock for the whole timeout."""


# The descriptors of the locks this process holds now. Every git child started while one is
# held inherits it (``held_fds``), so a writer killed with SIGKILL keeps the clone locked
# until its last git child has exited too: the next writer can never take the clone while a
# dead writer's ``update-index`` or ``update-ref`` is still running (see #17's closing note).
_HELD: set[int] = set()


def held_fds() -> tuple[int, ...]:
    """The lock descriptors a git child started now must inherit (``pass_fds``)."""
    return tuple(sorted(_HELD))


def spawn(start: Callable[[tuple[int, ...]], T]) -> T:
    """``start(held_fds())``, again when a descriptor it was given is gone.

    Another thread of this process may release its lock (and close the descriptor) between
    the moment the descriptors are read and the moment the child starts: the start then
    fails with EBADF, and the next try reads them afresh (#26).
    """
    for attempt in range(5):
        try:
            return start(held_fds())
        except OSError as e:
            if e.errno != errno.EBADF or attempt == 4:
                raise
    raise AssertionError("unreachable")


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def hold(path: Path, timeout: float) -> Iterator[None]:
    """Hold the lock on ``path`` (created if needed), waiting up to ``timeout`` seconds.

    A second ``hold`` of the same file, even in the same process, waits like any other.

    Raises:
        LockTimeout: it stayed locked for ``timeout`` seconds.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.001
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise LockTimeout(str(path))
            time.sleep(delay)
            delay = min(delay * 2, POLL_MAX_SECONDS)
        _HELD.add(fd)
        try:
            yield
        finally:
            _HELD.discard(fd)
            _unlock(fd)  # releases it even where a child still holds a copy of the descriptor
    finally:
        os.close(fd)
