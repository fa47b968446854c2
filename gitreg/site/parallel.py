"""Rendering the catalog on every core: a full build of thousands of models (#26).

Rendering pages is nearly all of a full build's time, and each model's pages depend only on
that model, so the models are split into one share per core. Where the platform forks
(Linux), workers start from this process as it is (the catalog read, the templates
compiled) and each renders and writes models through a writer of its own, then sends
back only what the parent records: each file's hash, size and time, the model's index row,
its API entry and its record. This process renders too. The models are not dealt out in
fixed shares: every process takes the next few not yet taken (a counter in shared memory),
so on a machine whose other load slows one process down, the others take its part.
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

    from gitreg.site.output import FileWriter

T = TypeVar("T")
E = TypeVar("E")
Write = Callable[[str, bytes], tuple[str, int, int]]  # SHA-256, size, mtime
Job = Callable[[Any, Write], Any]

PARALLEL_FROM = 200  # models: below this, forking costs more than it saves
MAX_WORKERS = 8
STEP = 16  # models a process takes at a time

# What a forked worker inherits: the job and its inputs (set just before the pool starts).
_JOB: Job | None = None
_ITEMS: Sequence[Any] = ()
_ROOT: Path | None = None
_NEXT: Any = None  # multiprocessing.Value: the index of the next item to take


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
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _JOB, _ITEMS, _ROOT, _NEXT
    context = multiprocessing.get_context("fork")
    _JOB, _ITEMS, _ROOT = job, items, root
    _NEXT = context.Value("q", 0)  # the next item not yet taken, shared by every process
    try:
        with ProcessPoolExecutor(max_workers=count - 1, mp_context=context) as pool:
            pending = [pool.submit(_work) for _ in range(count - 1)]
            done: dict[int, Any] = _take(job, write)
            for future in pending:
                done.update(future.result())
    finally:
        _JOB, _ITEMS, _ROOT, _NEXT = None, (), None, None
    for index in range(len(items)):
        yield done[index]


def _take(job: Job, write: Write) -> dict[int, Any]:
    """Render items ``STEP`` at a time, each process taking the next ones not yet taken,
    until none is left: a process the machine's load slows down takes fewer (#26)."""
    done: dict[int, Any] = {}
    counter, items = _NEXT, _ITEMS
    if counter is None:  # pragma: no cover - set before the fork
        raise RuntimeError("a site worker started without its items")
    while True:
        with counter.get_lock():
            start = counter.value
            counter.value = start + STEP
        if start >= len(items):
            return done
        for index in range(start, min(start + STEP, len(items))):
            done[index] = job(items[index], write)


def _work() -> dict[int, Any]:
    """A worker's share: render and write items with a writer of its own."""
    from gitreg.site.output import FileWriter

    job, root = _JOB, _ROOT
    if job is None or root is None:  # pragma: no cover - set before the fork
        raise RuntimeError("a site worker started without its job")
    writer: FileWriter = FileWriter(root)
    try:
        return _take(job, writer.write)
    finally:
        writer.close()
