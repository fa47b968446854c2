"""A large tree's loose object: its id and its zlib stream built from the blocks it shares
with the tree it was made from, instead of hashed and copied through zlib whole (#26).

The ``models/`` tree of a 10,000-model registry is 400 kB, and a write that changes one
model's blob changes 20 bytes of it. Such a tree is stored uncompressed (``_odb``), and
zlib's level 0 still took 0.3 ms for it, its SHA-1 another 0.2 ms: the part of a write
that grew with the registry. Here the tree's content is cut into ``BLOCK``-byte blocks;
for each block the SHA-1 state before it and its Adler-32 are kept (``Sums``). A tree made
from another of the same size by replacing entries (``Tree.with_entry``) hashes again only
from the first block that changed (a SHA-1 state is copied, never recomputed), and takes
the others' Adler-32 as they were. The loose object is a zlib stream of stored (level 0)
blocks, one per ``BLOCK``, written here byte for byte: ``78 01``, the object header and each
block as ``BFINAL/BTYPE=00, LEN, NLEN, bytes``, then the Adler-32 of the whole, which git
and ``zlib.decompress`` inflate like any other. Pure: no I/O.
"""

from __future__ import annotations

import zlib
from typing import Any

from gitreg.core import record, sha
from gitreg.store._deflate import adler_combine

BLOCK = 32 * 1024  # one stored deflate block (at most 65,535 bytes) and one hashing step
_ZLIB_HEADER = b"\x78\x01"  # deflate, 32 kB window, no dictionary, "fastest" (level 0)


@record.dataclass(frozen=True, slots=True)
class Sums:
    """What a tree's content hashes to, block by block: ``states[i]`` is SHA-1 after the
    object header and ``BLOCK * i`` bytes of content; ``adlers[i]`` the Adler-32 of block
    ``i``; ``size`` the content's length (its header's)."""

    size: int
    states: tuple[Any, ...]
    adlers: tuple[int, ...]


def header(size: int) -> bytes:
    """A tree object's header: ``tree <size>\\0``."""
    return b"tree %d\0" % size


def sums(
    data: bytes, old: Sums | None = None, same_below: int = 0, same_from: int | None = None
) -> tuple[str, Sums]:
    """The object id of tree ``data`` and its ``Sums``. ``old``: the sums of a tree of the
    same size that ``data`` equals except in bytes ``same_below`` to ``same_from`` (SHA-1
    is resumed at the first, the Adler-32 of the blocks wholly outside them are kept)."""
    size = len(data)
    count = (size + BLOCK - 1) // BLOCK
    start = 0
    if old is not None and old.size == size:
        start = min(same_below // BLOCK, max(count - 1, 0))  # the last block is hashed always
    else:
        old = None
    after = size if same_from is None else same_from  # blocks from here on are old ones
    states: list[Any] = list(old.states[:start]) if old is not None else []
    adlers: list[int] = list(old.adlers[:start]) if old is not None else []
    if start:
        assert old is not None
        digest = old.states[start].copy()
    else:
        digest = sha.sha1(header(size), more=size)
    view = memoryview(data)
    for i in range(start, count):
        states.append(digest.copy())
        block = view[i * BLOCK : (i + 1) * BLOCK]
        digest.update(block)
        unchanged = old is not None and i * BLOCK >= after
        adlers.append(old.adlers[i] if unchanged and old is not None else zlib.adler32(block))
    return digest.hexdigest(), Sums(size, tuple(states), tuple(adlers))


def stream(data: bytes, known: Sums) -> bytes:
    """The zlib stream (stored blocks) of the tree object with content ``data``."""
    return b"".join(pieces(data, known))


def pieces(data: bytes, known: Sums) -> list[bytes | memoryview]:
    """``stream``'s bytes in order, the content's blocks as views of ``data``: written to
    the file as they are (one ``writev``), never copied into one 400 kB buffer first."""
    head = header(len(data))
    adler = zlib.adler32(head)
    parts: list[bytes | memoryview] = [_ZLIB_HEADER, _stored(head, final=not data), head]
    view = memoryview(data)
    count = len(known.adlers)
    for i in range(count):
        block = view[i * BLOCK : (i + 1) * BLOCK]
        parts += [_stored(block, final=i == count - 1), block]
        adler = adler_combine(adler, known.adlers[i], len(block))
    parts.append(adler.to_bytes(4, "big"))
    return parts


def _stored(block: bytes | memoryview, final: bool) -> bytes:
    """A stored block's header (the stream is byte aligned before each: no bits pending)."""
    size = len(block)
    return bytes((1 if final else 0, size & 0xFF, size >> 8, ~size & 0xFF, (~size >> 8) & 0xFF))
