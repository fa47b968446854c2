"""A build's record saved beside the index's writing (#26).

Once every model is rendered, a full build of thousands of models has two pieces of work
left that do not depend on each other: saving the record's events and models for the next
rebuild (``record_events``, ``record_models``: 128 files, their marshal strings made from
every model's record) and joining the index, its data files, ``api/models.json`` and the
marker. They ran one after the other on one core. Where the platform forks, the first now
runs in a forked process while this one does the second; the record itself, which names the
saved parts, is written only once they are saved, as before. Elsewhere, or for a few models,
or when threads are running, it runs here, at once. The process is ``store.parallel.fork``'s:
one that fails other than on a disk error, dies or answers anything but the parts' tokens
is not trusted, and the parts are saved again here (a part is replaced whole, and no record
names them until then).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from gitreg.store.parallel import ANSWERED, REFUSED, Child, Send
from gitreg.store.parallel import fork as fork_child

SaveJob = Callable[[], list[str]]  # writes the parts; the buckets' tokens (marshal-able)


class Pending:
    """The parts being saved: ``result`` waits for them."""

    def __init__(self, job: SaveJob, child: Child | None = None) -> None:
        self._job = job
        self._child = child  # the process saving them (``store.parallel.fork``)
        self._done = child is None
        self._found = None if child is not None else _here(job)  # no child: saved at once

    def result(self) -> list[str] | None:
        """The buckets' tokens; None when a part could not be written (``OSError``: the
        record must then not be saved). A process that failed otherwise, died or answered
        something else is not trusted: the parts are saved again here.

        Raises:
            Exception: what saving them here raised, other than an ``OSError``.
        """
        if self._done:
            return self._found
        child, self._child = self._child, None
        found = _answer(child) if child is not None else None
        if child is not None and found is None and child.code != REFUSED:
            found = _here(self._job)
        self._found, self._done = found, True
        return found

    def close(self) -> None:
        """Wait for the parts without using them (a build that failed; idempotent)."""
        child, self._child = self._child, None
        if child is not None:
            child.wait()
        self._done = True


def _answer(child: Child) -> list[str] | None:
    """The tokens ``child`` sent, once it ended; None unless it answered exactly that."""
    import marshal

    frames = child.wait()
    if child.code != ANSWERED or len(frames) != 1:
        return None
    try:
        found = marshal.loads(frames[0])  # our own child's, through our own pipe
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(found, list) or not all(isinstance(t, str) for t in found):
        return None
    return found


def _here(job: SaveJob) -> list[str] | None:
    try:
        return [str(token) for token in job()]
    except OSError:
        return None


def start(job: SaveJob, *, fork: bool) -> Pending:
    """Run ``job``: in a forked process when ``fork`` and the platform allows it (``result``
    waits for it), else now."""
    if not (fork and sys.platform.startswith("linux") and threading.active_count() == 1):
        return Pending(job)

    def child(send: Send) -> None:
        import marshal

        send(marshal.dumps(job()))

    return Pending(job, fork_child(child, refused=(OSError,)))
