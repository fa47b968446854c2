"""Parse many manifests on every core: the first ``validate`` of a fresh clone (#15).

A whole-registry validate of 10,000 models spent 2.2 of its 3.1 s in PyYAML's parser, on
one core, because nothing was cached yet. ``parse_many`` splits the texts into one chunk
per core, parses them in worker processes (forked where the platform allows it, so they
start in milliseconds) while this process parses its own chunk, and brings the results
back in one ``marshal`` string per chunk. A text that does not parse (or parses to
something ``marshal`` cannot carry) is left out of the answer: the caller parses it itself
and reports the error exactly as it would have. Small batches are parsed here directly.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
from collections.abc import Sequence
from typing import Any

from gitreg.core import manifest, patch
from gitreg.core.errors import GitregError

PARALLEL_FROM_BYTES = 1 << 20  # below about 1 MB of YAML, starting workers costs more
# ``check_ahead``: the caller's share, against a child's. It also makes every model of the
# read (``reading._Build``), so it takes less: with 2 cores, both finish together (#26).
CALLER_SHARE = 0.7
MAX_WORKERS = 8


_UNPARSED = object()


def _parsed(path: str, text: bytes) -> Any:
    """``text`` parsed, or ``_UNPARSED`` when it does not parse or marshal cannot carry it
    (the caller then parses it itself and reports what is wrong)."""
    try:
        data = patch.load_canonical(text, path)
        if data is None:
            data = manifest.load(text, path)
        marshal.dumps(data)
    except (GitregError, ValueError):
        return _UNPARSED
    return data


def _parse_chunk(items: Sequence[tuple[int, str, bytes]]) -> bytes:
    """(index, parsed) for each item that parsed, as one marshal string."""
    parsed = ((index, _parsed(path, text)) for index, path, text in items)
    return marshal.dumps([(index, data) for index, data in parsed if data is not _UNPARSED])


def _chunks(
    items: Sequence[tuple[str, bytes]], count: int, first: float = 1.0
) -> list[list[tuple[int, str, bytes]]]:
    """``count`` chunks of about equal size in bytes (manifests vary a lot); the first
    weighs ``first`` of the others."""
    total = sum(len(text) for _, text in items)
    share = total / (count - 1 + first)
    chunks: list[list[tuple[int, str, bytes]]] = [[]]
    size = 0
    for index, (path, text) in enumerate(items):
        if size >= share * (len(chunks) - 1 + first) and len(chunks) < count:
            chunks.append([])
        chunks[-1].append((index, path, text))
        size += len(text)
    return chunks


def _context() -> Any:
    import multiprocessing

    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def parse_many(items: Sequence[tuple[str, bytes]], workers: int | None = None) -> dict[int, Any]:
    """Index in ``items`` -> parsed YAML, for every ``(path, text)`` that parses.

    Uses up to ``workers`` processes (default: the machine's cores, at most 8); what a
    worker could not parse is absent, for the caller to parse and report.
    """
    count = min(workers or os.cpu_count() or 1, MAX_WORKERS, max(1, len(items)))
    if count < 2 or sum(len(text) for _, text in items) < PARALLEL_FROM_BYTES:
        return dict(marshal.loads(_parse_chunk([(i, p, t) for i, (p, t) in enumerate(items)])))
    from concurrent.futures import ProcessPoolExecutor

    chunks = _chunks(items, count)
    if len(chunks) < 2:  # one manifest holds nearly all the bytes: nothing to share
        return dict(marshal.loads(_parse_chunk(chunks[0])))
    found: dict[int, Any] = {}
    with ProcessPoolExecutor(max_workers=len(chunks) - 1, mp_context=_context()) as pool:
        pending = [pool.submit(_parse_chunk, chunk) for chunk in chunks[1:]]
        found.update(marshal.loads(_parse_chunk(chunks[0])))
        for future in pending:
            found.update(marshal.loads(future.result()))
    return found


# ------------------------------------------------- a whole-registry read on every core (#26)


def workers() -> int:
    """The cores this process may use (at most ``MAX_WORKERS``)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def _checked_chunk(items: Sequence[tuple[int, str, bytes]]) -> bytes:
    """(index, parsed, passed every check) for each item that parsed, as one marshal string."""
    from gitreg.store import verdict

    out = []
    for index, path, text in items:
        data = _parsed(path, text)
        if data is not _UNPARSED:
            out.append((index, data, not verdict.check(data, path, text)))
    return marshal.dumps(out)


def check_ahead(items: Sequence[tuple[str, bytes]], workers: int) -> Ahead:
    """Parse and check ``items`` (``verdict.check``) in ``workers - 1`` forked children while
    this process works through the first share itself (``Ahead.get`` answers None there).

    Each child takes an equal share (by bytes) after the first, sends its answers through a
    pipe in one ``marshal`` string and ends. What a child could not parse, or a child that
    failed, answers None: the caller parses and checks it as it would have. Nothing is
    forked where it is not safe (not Linux, threads running) or for a small batch.
    """
    import threading

    count = min(workers, MAX_WORKERS, max(1, len(items)))
    forks = sys.platform.startswith("linux") and threading.active_count() == 1
    if count < 2 or not forks or sum(len(t) for _, t in items) < PARALLEL_FROM_BYTES:
        return Ahead([], len(items))
    chunks = _chunks(items, count, CALLER_SHARE)
    if len(chunks) < 2:
        return Ahead([], len(items))
    return Ahead([_fork(chunk) for chunk in chunks[1:]], chunks[1][0][0])


class Ahead:
    """The children's answers (``check_ahead``), read when first asked for."""

    def __init__(self, children: list[tuple[int, int]], first: int) -> None:
        self._children = children  # (pid, read end of its pipe)
        self._first = first  # the index of the first item a child took
        self._found: dict[int, tuple[Any, bool]] = {}

    def get(self, index: int) -> tuple[Any, bool] | None:
        """(parsed, passed every check) of item ``index``; None: the caller's to do."""
        if index < self._first:
            return None
        self.close()
        return self._found.get(index)

    def close(self) -> None:
        """Read every child's answers and wait for it (idempotent)."""
        children, self._children = self._children, []
        for pid, fd in children:
            data = _read_all(fd)
            _pid, status = os.waitpid(pid, 0)
            if status != 0:
                continue
            with contextlib.suppress(EOFError, ValueError, TypeError):
                for index, parsed, passed in marshal.loads(data):  # our own child's answer
                    self._found[index] = (parsed, bool(passed))


def _fork(chunk: Sequence[tuple[int, str, bytes]]) -> tuple[int, int]:
    """A child that parses and checks ``chunk``: (its pid, the pipe to read its answer)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (coverage does not follow a fork)
        code = 1
        try:
            os.close(read_end)
            view = memoryview(_checked_chunk(chunk))
            while view:
                view = view[os.write(write_end, view) :]
            code = 0
        finally:
            os._exit(code)  # nothing of the parent's (buffers, atexit) runs twice
    os.close(write_end)
    return pid, read_end


def _read_all(fd: int) -> bytes:
    parts: list[bytes] = []
    try:
        while True:
            part = os.read(fd, 1 << 20)
            if not part:
                return b"".join(parts)
            parts.append(part)
    finally:
        os.close(fd)
