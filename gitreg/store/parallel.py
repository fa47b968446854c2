"""Parse many manifests on every core: the first ``validate`` of a fresh clone (#15).

A whole-registry validate of 10,000 models spent 2.2 of its 3.1 s in PyYAML's parser, on
one core, because nothing was cached yet. ``parse_many`` splits the texts into one chunk
per core, parses them in worker processes (forked where the platform allows it, so they
start in milliseconds) while this process parses its own chunk, and brings the results
back in one ``marshal`` string per chunk. A text that does not parse (or parses to
something ``marshal`` cannot carry) is left out of the answer: the caller parses it itself
and reports the error exactly as it would have. Small batches are parsed here directly.

A site build's read (#26) is done on every core by ``check_ahead``: children check shares
of the manifests from their ends while this process reads from the front, each side taking
what the other has not reached. ``fork`` is the one way this package and the site start a
child that answers through a pipe: framed answers, an exit code that says how it ended.
"""

from __future__ import annotations

import bisect
import contextlib
import marshal
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from gitreg.core import manifest, patch
from gitreg.core.errors import GitregError

PARALLEL_FROM_BYTES = 1 << 20  # below about 1 MB of YAML, starting workers costs more
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


# ------------------------------------------------------------- a forked child's answer (#26)

# A child's exit code (``fork``): it answered; ``refused`` stopped it (an error the caller
# expects, e.g. a disk's); anything else stopped it (negative: the signal that killed it).
ANSWERED, REFUSED, FAILED = 0, 1, 2
Send = Callable[[bytes], None]


class _SendFailed(Exception):
    """The pipe to the parent failed: never one of the job's own ``refused`` errors."""


def fork(
    job: Callable[[Send], None],
    refused: tuple[type[BaseException], ...] = (),
    pipe_bytes: int = 0,
) -> Child:
    """Run ``job(send)`` in a forked child; each ``send(bytes)`` reaches this process as one
    frame (``Child.poll``, ``Child.wait``), and the child's exit code says how it ended:
    ``ANSWERED`` once ``job`` returned, ``REFUSED`` when it raised one of ``refused``,
    ``FAILED`` otherwise. The child never runs this process's exit handlers, buffers or
    finalizers (``os._exit``). The caller makes sure forking is safe (Linux, one thread).
    ``pipe_bytes``: a larger pipe where the kernel allows it (a child that sends much
    while this process is busy then waits less).
    """
    read_end, write_end = os.pipe()
    if pipe_bytes:
        import fcntl  # where children fork (Linux)

        with contextlib.suppress(AttributeError, OSError):  # the user's pipe quota may refuse
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, pipe_bytes)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (coverage does not follow a fork)
        code = FAILED
        try:
            os.close(read_end)

            def send(data: bytes) -> None:
                try:
                    _write_all(write_end, len(data).to_bytes(8, "little") + data)
                except OSError as e:
                    raise _SendFailed from e

            try:
                job(send)
            except _SendFailed:
                code = FAILED
            except refused:
                code = REFUSED
            else:
                code = ANSWERED
        finally:
            os._exit(code)
    os.close(write_end)
    return Child(pid, read_end)


class Child:
    """A forked child (``fork``): the frames it sent, and how it ended."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.code: int | None = None  # its exit code, once ``wait`` saw it end
        self._buffer = bytearray()
        os.set_blocking(fd, False)

    def poll(self) -> list[bytes]:
        """The whole frames sent since the last call, without waiting."""
        if self.fd >= 0:
            with contextlib.suppress(BlockingIOError):
                while part := os.read(self.fd, 1 << 20):
                    self._buffer += part
        return self._frames()

    def wait(self) -> list[bytes]:
        """The whole frames not yet taken, once the child has ended (its exit code in
        ``code``; a frame it did not finish writing is dropped). Idempotent."""
        if self.fd >= 0:
            try:
                os.set_blocking(self.fd, True)
                while part := os.read(self.fd, 1 << 20):
                    self._buffer += part
            finally:
                os.close(self.fd)
                self.fd = -1
                _pid, status = os.waitpid(self.pid, 0)
                self.code = os.waitstatus_to_exitcode(status)
        return self._frames()

    def _frames(self) -> list[bytes]:
        frames, buffer, at = [], self._buffer, 0
        while len(buffer) - at >= 8:
            size = int.from_bytes(buffer[at : at + 8], "little")
            if len(buffer) - at - 8 < size:
                break
            frames.append(bytes(buffer[at + 8 : at + 8 + size]))
            at += 8 + size
        del buffer[:at]
        return frames


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# ------------------------------------------------- a whole-registry read on every core (#26)

STEP = 16  # manifests a child checks between two answers


def workers() -> int:
    """The cores this process may use (at most ``MAX_WORKERS``)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))


def check_ahead(items: Sequence[tuple[str, bytes]], workers: int) -> Ahead:
    """Parse and check ``items`` (``verdict.check``) in ``workers - 1`` forked children while
    this process reads them in order (``Ahead.get``).

    Each child has a share of about equal bytes and works through it from its end,
    ``STEP`` manifests at a time, each step's answers sent at once (parsed YAML and "passed
    every check", one ``marshal`` string). This process, reading from the front, takes
    what no child has answered yet (``Ahead.get`` answers None: the caller parses and checks
    it as it would have) and tells the child how far it got, so the two meet wherever the
    machine's load puts them and neither waits for the other (#26). What a child could not
    parse, what it did not answer before it ended, and everything it sent after a frame that
    is not its answer are the caller's too. Nothing is forked where it is not safe (not
    Linux, threads running) or for a small batch.
    """
    import threading

    count = min(workers, MAX_WORKERS, max(1, len(items)))
    forks = sys.platform.startswith("linux") and threading.active_count() == 1
    if count < 2 or not forks or sum(len(t) for _, t in items) < PARALLEL_FROM_BYTES:
        return Ahead([], [], None)
    shares = [share for share in _chunks(items, count - 1) if share]
    import mmap

    taken = mmap.mmap(-1, 8 * len(shares))  # shared with the children: the caller's progress
    children = [_check(share, taken, slot) for slot, share in enumerate(shares)]
    return Ahead(children, [share[0][0] for share in shares], taken)


def _check(share: Sequence[tuple[int, str, bytes]], taken: Any, slot: int) -> Child:
    """A child checking ``share`` from its end, ``STEP`` at a time, until it meets the
    caller's progress (``taken[slot]``: the first index the caller has not done itself)."""

    def job(send: Send) -> None:
        end = len(share)
        while end > 0:
            start = max(0, end - STEP)
            done = int.from_bytes(taken[8 * slot : 8 * slot + 8], "little")
            if share[end - 1][0] < done:  # the caller has done this step and those before
                return
            send(_checked_chunk(share[start:end]))
            end = start

    return fork(job)


def _checked_chunk(items: Sequence[tuple[int, str, bytes]]) -> bytes:
    """(index, parsed, passed every check) for each item that parsed, as one marshal string."""
    from gitreg.store import verdict

    out = []
    for index, path, text in items:
        data = _parsed(path, text)
        if data is not _UNPARSED:
            out.append((index, data, not verdict.check(data, path, text)))
    return marshal.dumps(out)


class Ahead:
    """The children's answers (``check_ahead``), taken as they come."""

    def __init__(self, children: list[Child], starts: list[int], taken: Any) -> None:
        self._children = children  # one per share, in the shares' order
        self._starts = starts  # the first index of each child's share
        self._taken = taken  # shared: per child, the first index the caller has not done
        self._found: dict[int, tuple[Any, bool]] = {}
        self._broken: set[int] = set()  # children that sent something not an answer

    def get(self, index: int) -> tuple[Any, bool] | None:
        """(parsed, passed every check) of item ``index`` if a child has answered it; None:
        the caller's to do (it then tells that child it need not go below ``index + 1``)."""
        found = self._found.get(index)
        if found is None and self._children:  # what has come since (the pipe is drained)
            self._poll(lambda child: child.poll())
            found = self._found.get(index)
        if found is None and self._taken is not None:
            slot = bisect.bisect_right(self._starts, index) - 1
            if slot >= 0:
                self._taken[8 * slot : 8 * slot + 8] = (index + 1).to_bytes(8, "little")
        return found

    def close(self) -> None:
        """Read every child's answers and wait for it (idempotent)."""
        self._poll(lambda child: child.wait())
        if self._taken is not None:
            self._taken.close()
            self._taken = None
        self._children = []

    def _poll(self, frames_of: Callable[[Child], list[bytes]]) -> None:
        for slot, child in enumerate(self._children):
            for frame in frames_of(child):
                if slot in self._broken:
                    continue
                try:
                    answers = marshal.loads(frame)  # our own child's answer
                    found = {i: (parsed, bool(ok)) for i, parsed, ok in answers}
                except (EOFError, ValueError, TypeError):
                    self._broken.add(slot)  # garbage: nothing more of it is used
                    continue
                self._found.update(found)
