"""A build's record saved beside the index's writing (#26).

Once every model is rendered, a full build of thousands of models has two pieces of work
left that do not depend on each other: saving the record's events and models for the next
rebuild (``record_events``, ``record_models``: 128 files, their marshal strings made from
every model's record) and joining the index, its data files, ``api/models.json`` and the
marker. They ran one after the other on one core. Where the platform forks, the first now
runs in a forked process while this one does the second; the record itself, which names the
saved parts, is written only once they are saved, as before. Elsewhere, or for a few models,
or when threads are running, it runs here, at once.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
import threading
from collections.abc import Callable

SaveJob = Callable[[], list[str]]  # writes the parts; the buckets' tokens (marshal-able)
_SAVED, _REFUSED = 0, 1  # a child's exit: saved (its answer follows), an OSError


class Pending:
    """The parts being saved: ``result`` waits for them."""

    def __init__(self, found: list[str] | None = None, child: tuple[int, int] | None = None):
        self._found = found  # the answer, once known (None: an OSError, nothing to record)
        self._child = child  # (pid, pipe) of the process saving them

    def result(self) -> list[str] | None:
        """The buckets' tokens; None when a part could not be written (``OSError``: the
        record must then not be saved).

        Raises:
            RuntimeError: the process saving them failed otherwise.
        """
        if self._child is None:
            return self._found
        pid, fd = self._child
        self._child = None
        parts: list[bytes] = []
        try:
            while part := os.read(fd, 1 << 16):
                parts.append(part)
        finally:
            os.close(fd)
            _pid, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code == _REFUSED:
            return None
        if code != _SAVED:
            raise RuntimeError(f"the process saving the site's record stopped (exit {code})")
        found = marshal.loads(b"".join(parts))  # our own child's, through our own pipe
        self._found = [str(token) for token in found]
        return self._found

    def close(self) -> None:
        """Wait for the parts without using them (a build that failed; idempotent)."""
        with contextlib.suppress(Exception):
            self.result()


def start(job: SaveJob, *, fork: bool) -> Pending:
    """Run ``job``: in a forked process when ``fork`` and the platform allows it, else now."""
    if not (fork and sys.platform.startswith("linux") and threading.active_count() == 1):
        try:
            return Pending(job())
        except OSError:
            return Pending(None)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (coverage does not follow a fork)
        code = 2
        try:
            os.close(read_end)
            try:
                data = marshal.dumps(job())
            except OSError:
                code = _REFUSED
            else:
                view = memoryview(data)
                while view:
                    view = view[os.write(write_end, view) :]
                code = _SAVED
        finally:
            os._exit(code)  # nothing of the parent's (buffers, atexit, finalizers) runs twice
    os.close(write_end)
    return Pending(None, (pid, read_end))
