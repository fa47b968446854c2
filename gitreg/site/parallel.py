"""Rendering the catalog on every core: a full build of thousands of models (#26).

Rendering pages is nearly all of a full build's time, and each model's pages depend only on
that model, so the models are split into one share per core. Where the platform forks
(Linux), workers start from this process as it is (the catalog read, the templates
compiled) and each renders and writes models through a writer of its own, then sends
back only what the parent records: each file's hash, size and time, the model's index row,
its API entry and its record. This process renders too. The models are not dealt out in
fixed shares: every process takes the next few not yet taken (a ticket from a pipe filled
before the fork), so on a machine whose other load slows one process down, the others take
its part. Workers are plain forks (no pool, no queue, no thread: ``multiprocessing`` took
longer to import and start than a fork, #26); each sends its results back pickled through
a pipe of its own, or the exception that stopped it, which is raised here.
Elsewhere, or for a few models, or when threads are running (a fork would copy them
half-way), it all runs here.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pathlib import Path

    from gitreg.store.parallel import Child, Send


T = TypeVar("T")
E = TypeVar("E")
Write = Callable[[str, bytes], tuple[str, int, int]]  # SHA-256, size, mtime
Job = Callable[[Any, Write], Any]

PARALLEL_FROM = 200  # models: below this, forking costs more than it saves
MAX_WORKERS = 8
STEP = 16  # models a process takes at a time
_PIPE_BYTES = 1 << 20  # a worker's pipe: results of a few hundred models before it waits
# Tickets at most: 4 kB of them, which any pipe holds (one page; a user over the kernel's
# pipe quota gets no more), so writing them before the fork never waits. A registry of
# more than 16,384 models is taken in larger steps.
_MAX_TAKES = 1024


def workers() -> int:
    """How many processes render: the cores this process may use, at most ``MAX_WORKERS``."""
    from gitreg.store.parallel import workers as usable

    return min(usable(), MAX_WORKERS)


def render(
    job: Job, items: Sequence[E], write: Write, root: Path, count: int | None = None
) -> Iterator[Any]:
    """``job(item, write)`` for each item, in order; on every core when it pays.

    ``write`` is this process's writer; a worker makes its own below ``root``.
    """
    count = count if count is not None else workers()
    forks = sys.platform.startswith("linux") and threading.active_count() == 1
    if count < 2 or len(items) < PARALLEL_FROM or not forks:
        for item in items:
            yield job(item, write)
        return
    yield from _forked(job, items, write, root, count)


def _forked(job: Job, items: Sequence[E], write: Write, root: Path, count: int) -> Iterator[Any]:
    step = max(STEP, -(-len(items) // _MAX_TAKES))
    tickets = _tickets(len(items), step)
    inboxes: list[_Inbox] = []
    try:
        for _ in range(count - 1):
            inboxes.append(_fork(job, items, root, tickets, step))
        done: dict[int, Any] = {}
        _take(job, items, write, tickets, step, done.update, inboxes)
    except BaseException:  # this process's error is the build's: the workers stop early
        while os.read(tickets, 1 << 16):
            pass
        for inbox in inboxes:
            inbox.close()
        raise
    finally:
        os.close(tickets)
    for inbox in inboxes:  # every worker waited for before any error is raised
        inbox.close()
    for inbox in inboxes:
        if inbox.error is not None:
            raise inbox.error
        done.update(inbox.found)
    for index in range(len(items)):
        yield done[index]


def _tickets(size: int, step: int) -> int:
    """A pipe holding the first index of every ``step`` items, four bytes each, and
    nothing else: each process reads the next four (a pipe's read is atomic under its
    lock) until none is left. The one write fits any pipe (``_MAX_TAKES``)."""
    read_end, write_end = os.pipe()
    try:
        data = b"".join(start.to_bytes(4, "little") for start in range(0, size, step))
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view) :]
    finally:
        os.close(write_end)
    return read_end


def _take(
    job: Job,
    items: Sequence[Any],
    write: Write,
    tickets: int,
    step: int,
    put: Callable[[dict[int, Any]], None],
    inboxes: Sequence[_Inbox] = (),
) -> None:
    """Render items ``step`` at a time, each process taking the next ones not yet taken,
    until none is left: a process the machine's load slows down takes fewer (#26). Each
    ticket's results go to ``put``; between tickets, what the workers sent is read."""
    while True:
        ticket = os.read(tickets, 4)
        if len(ticket) < 4:
            return
        start = int.from_bytes(ticket, "little")
        put({i: job(items[i], write) for i in range(start, min(start + step, len(items)))})
        for inbox in inboxes:
            inbox.poll()


def _fork(job: Job, items: Sequence[Any], root: Path, tickets: int, step: int) -> _Inbox:
    """A worker process rendering with a writer of its own; its results (or the exception
    that stopped it) come back pickled, a ticket's at a time, through its own pipe
    (``store.parallel.fork``)."""
    from gitreg.store.parallel import fork

    def work(send: Send) -> None:
        _work(job, items, root, tickets, step, send)

    return _Inbox(fork(work, pipe_bytes=_PIPE_BYTES))


def _work(job: Job, items: Sequence[Any], root: Path, tickets: int, step: int, out: Send) -> None:
    """A worker's share: each ticket's results sent as ``(True, results)``, then
    ``(True, None)`` once there is none left, or ``(False, the exception)``."""
    import pickle

    from gitreg.site.output import FileWriter

    def send(message: tuple[bool, Any]) -> None:
        out(pickle.dumps(message, -1))

    try:
        writer = FileWriter(root)
        try:
            _take(job, items, writer.write, tickets, step, lambda found: send((True, found)))
        finally:
            writer.close()
        send((True, None))
    except BaseException as e:  # the parent raises it, as the pool did
        try:
            send((False, e))
        except Exception:  # an exception pickle cannot carry
            send((False, RuntimeError(f"a site worker failed: {e!r}")))


class _Inbox:
    """What one worker sent: its results so far, its error, whether it finished."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self.found: dict[int, Any] = {}
        self.error: BaseException | None = None
        self.finished = False

    def poll(self) -> None:
        """Take what the worker has sent so far, without waiting."""
        self._unpack(self.child.poll())

    def close(self) -> None:
        """Take the rest once the worker has ended, and wait for it (idempotent)."""
        from gitreg.store.parallel import ANSWERED

        if self.child.code is not None:
            return
        self._unpack(self.child.wait())
        if self.error is None and (self.child.code != ANSWERED or not self.finished):
            self.error = RuntimeError(
                f"a process rendering the site stopped (exit {self.child.code})"
            )

    def _unpack(self, frames: list[bytes]) -> None:
        import pickle

        for frame in frames:
            ok, found = pickle.loads(frame)  # our own child's
            if not ok:
                self.error = found
            elif found is None:
                self.finished = True
            else:
                self.found.update(found)
