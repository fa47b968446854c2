"""Streaming SHA-256 of an artifact's files, in fixed-size chunks, on a few threads (#28).

Memory is one chunk buffer per worker, whatever the artifact's size: hashing several GB
never holds them (bench/hashing.py measures it). ``hashlib`` releases the GIL on large
updates, so a directory's files hash in parallel, as model-signing hashes them. The top
``MLmodel`` file's bytes are kept as they are hashed (it is small), so the signature gitreg
records is read from the very bytes the digest covers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from gitreg.core.digest import FileDigest, Listing
from gitreg.core.model_signature import MAX_MLMODEL_BYTES, MLMODEL

CHUNK = 1024 * 1024
WORKERS = max(1, min(4, os.cpu_count() or 1))


class Progress(Protocol):
    """Told how many bytes there are to hash, then each chunk as it is hashed."""

    def start(self, total: int | None) -> None:
        """``total`` bytes are about to be hashed (None: not known)."""

    def advance(self, done: int) -> None:
        """``done`` more bytes were hashed."""


class Readable(Protocol):
    """A binary stream: a file (``readinto``) or an object store's body (``read``)."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; empty at the end."""


Opener = Callable[[], AbstractContextManager[Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class Item:
    """One file to hash: its path in the artifact, its size if known, how to open it."""

    path: str
    size: int | None
    open: Opener


@dataclasses.dataclass(frozen=True, slots=True)
class Hashed:
    """An artifact's listing and, for an MLflow model, its ``MLmodel`` bytes."""

    listing: Listing
    mlmodel: bytes | None


class _Locked:
    """Progress reports from several threads, one at a time."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.lock = threading.Lock()

    def advance(self, done: int) -> None:
        if self.progress is not None:
            with self.lock:
                self.progress.advance(done)


def hash_stream(stream: Readable, progress: _Locked, keep: bool = False) -> tuple[str, int, bytes]:
    """(SHA-256 hex, size, the bytes if ``keep`` and at most an MLmodel's bound) of a stream."""
    hasher = hashlib.sha256()
    size = 0
    kept = bytearray()
    readinto = getattr(stream, "readinto", None)
    buffer = bytearray(CHUNK) if readinto is not None else None
    view = memoryview(buffer) if buffer is not None else None
    while True:
        if readinto is not None and view is not None:
            n = readinto(view)
            if not n:
                break
            data: bytes | memoryview = view[:n]
        else:
            data = stream.read(CHUNK)
            n = len(data)
            if not n:
                break
        hasher.update(data)
        size += n
        if keep and len(kept) <= MAX_MLMODEL_BYTES:
            kept += data
        progress.advance(n)
    return hasher.hexdigest(), size, bytes(kept) if keep else b""


def hash_items(items: Sequence[Item], single: bool, progress: Progress | None = None) -> Hashed:
    """Hash every item (on up to WORKERS threads) into a listing.

    An ``OSError`` or any error an opener raises propagates: the caller says what it means.
    """
    if progress is not None:
        sizes = [i.size for i in items]
        progress.start(None if None in sizes else sum(s or 0 for s in sizes))
    locked = _Locked(progress)

    def one(item: Item) -> tuple[FileDigest, bytes]:
        keep = item.path == MLMODEL and not single
        with item.open() as stream:
            hexdigest, size, kept = hash_stream(stream, locked, keep)
        return FileDigest(item.path, hexdigest, size), kept

    results = list(_map(one, items))
    mlmodel = next((kept for f, kept in results if f.path == MLMODEL and not single), None)
    # A listing's files are named by path; one file alone is named "." (model-signing's way).
    if mlmodel is not None and len(mlmodel) > MAX_MLMODEL_BYTES:
        mlmodel = None
    return Hashed(Listing.of([f for f, _ in results], single=single), mlmodel)


def _map(
    function: Callable[[Item], tuple[FileDigest, bytes]], items: Sequence[Item]
) -> Iterator[tuple[FileDigest, bytes]]:
    if len(items) <= 1 or WORKERS == 1:
        yield from map(function, items)
        return
    import concurrent.futures  # its logging and threads: only for files to hash (#26)

    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        yield from pool.map(function, items)
