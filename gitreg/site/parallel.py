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


T = TypeVar("T")
E = TypeVar("E")
Write = Callable[[str, bytes], tuple[str, int, int]]  # SHA-256, size, mtime
Job = Callable[[Any, Write], Any]

PARALLEL_FROM = 200  # models: below this, forking costs more than it saves
MAX_WORKERS = 8
STEP = 16  # models a process takes at a time
_MAX_TAKES = 12_000  # takes of ``STEP`` at most (48 kB of tickets: less than a pipe holds)


def workers() -> int:
    """How many processes render: the cores this process may use, at most ``MAX_WORKERS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


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
    children: list[tuple[int, int]] = []
    try:
        for _ in range(count - 1):
            children.append(_fork(job, items, root, tickets, step))
        done = _take(job, items, write, tickets, step)
    except BaseException:  # this process's error is the build's: the workers stop early
        while os.read(tickets, 1 << 16):
            pass
        for pid, fd in children:
            _answer(pid, fd)
        raise
    finally:
        os.close(tickets)
    answers = [_answer(pid, fd) for pid, fd in children]  # every worker waited for
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
        done.update(answer)
    for index in range(len(items)):
        yield done[index]


def _tickets(size: int, step: int) -> int:
    """A pipe holding the first index of every ``step`` items, four bytes each, and
    nothing else: each process reads the next four (a pipe's read is atomic under its
    lock) until none is left. The one write fits the pipe (``_MAX_TAKES``)."""
    read_end, write_end = os.pipe()
    try:
        data = b"".join(start.to_bytes(4, "little") for start in range(0, size, step))
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view) :]
    finally:
        os.close(write_end)
    return read_end


def _take(job: Job, items: Sequence[Any], write: Write, tickets: int, step: int) -> dict[int, Any]:
    """Render items ``step`` at a time, each process taking the next ones not yet taken,
    until none is left: a process the machine's load slows down takes fewer (#26)."""
    done: dict[int, Any] = {}
    while True:
        ticket = os.read(tickets, 4)
        if len(ticket) < 4:
            return done
        start = int.from_bytes(ticket, "little")
        for index in range(start, min(start + step, len(items))):
            done[index] = job(items[index], write)


def _fork(job: Job, items: Sequence[Any], root: Path, tickets: int, step: int) -> tuple[int, int]:
    """A worker process rendering with a writer of its own: (its pid, the pipe its answer
    comes through: its results, or the exception that stopped it, pickled)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (coverage does not follow a fork)
        code = 1
        try:
            os.close(read_end)
            _send(write_end, _work(job, items, root, tickets, step))
            code = 0
        finally:
            os._exit(code)  # nothing of the parent's (buffers, atexit, finalizers) runs twice
    os.close(write_end)
    return pid, read_end


def _work(job: Job, items: Sequence[Any], root: Path, tickets: int, step: int) -> bytes:
    """A worker's share, pickled: ``(True, results)`` or ``(False, the exception)``."""
    import pickle

    from gitreg.site.output import FileWriter

    try:
        writer = FileWriter(root)
        try:
            return pickle.dumps((True, _take(job, items, writer.write, tickets, step)), -1)
        finally:
            writer.close()
    except BaseException as e:  # the parent raises it, as the pool did
        try:
            return pickle.dumps((False, e), -1)
        except Exception:  # an exception pickle cannot carry
            return pickle.dumps((False, RuntimeError(f"a site worker failed: {e!r}")), -1)


def _send(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _answer(pid: int, fd: int) -> dict[int, Any] | BaseException:
    """A worker's results once it has ended, or the exception that stopped it."""
    import pickle

    parts: list[bytes] = []
    try:
        while part := os.read(fd, 1 << 20):
            parts.append(part)
    finally:
        os.close(fd)
        _pid, status = os.waitpid(pid, 0)
    if status != 0 or not parts:
        return RuntimeError(f"a process rendering the site stopped (wait status {status})")
    ok, found = pickle.loads(b"".join(parts))  # our own child's, through our own pipe
    return dict(found) if ok else found
