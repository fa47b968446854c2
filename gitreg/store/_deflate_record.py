"""A large blob's piece layout kept on disk beside its loose object, for the next process
(#26, tenth round).

``_deflate`` reuses the compressed pieces a blob shares with the one it replaces, but it
knew their layout only in the process that wrote that blob: a cold CLI write on a model
with 5,000 versions compressed the whole 1.6 MB again (5-6 ms). The CLI's write path
(``memo.for_next_process``) now keeps, in ``.git/gitreg/deflate-layout.marshal`` (clone
local, the last large blob written only, a few kB), where each piece of the loose object
it wrote starts in that file, its length there, the span of the blob it holds and its
Adler-32, with the file's size and CRC-32.

A later process uses the record only for the blob it replaces (``like``), and only when
everything agrees: the record names that blob and its length; the process holds the
blob's bytes, hashed to that id in this process (``_git.hashed``: the clean check and the
manifest's read hash them anyway); the loose object is a regular file of the recorded size
and CRC-32 (read whole: 300 kB, 0.05 ms to check); the pieces cover the blob in order
without a gap, each within the file and ending where a sync flush ends (``00 00 ff ff``);
the zlib header, the header piece (inflated: the blob's header) and the final empty block
are where they belong, the pieces follow each other without a gap, and the Adler-32 the
recorded pieces combine to is the one the file ends with. Anything else (a missing,
truncated, garbage, stale or foreign record, an object rewritten, replaced or packed
away) and the record is ignored: the blob is compressed whole, as before. The pieces
copied are then the bytes the former process compressed from these very bytes.
"""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path
from types import ModuleType

from gitreg.store import _git, memo

NAME = "deflate-layout"
_FLUSHED = b"\x00\x00\xff\xff"  # the empty stored block a Z_SYNC_FLUSH ends with
_MAX_FILE = 64 * 1024 * 1024


def _state_dir(objects: Path) -> Path:
    return objects.parent / "gitreg"


def recall(objects: Path, like: str | None, pieces: ModuleType) -> None:
    """Give ``pieces`` (``_deflate``) blob ``like``'s layout from the record, when this
    process does not know it already and the record checks out (see the module)."""
    if like is None or pieces.known(like):
        return
    data = _git.hashed(like)
    if data is None:
        return
    found = _load(objects, like, data)
    if found is not None:
        pieces.remember(like, pieces.Layout(data, found))


def _load(objects: Path, like: str, data: bytes) -> tuple[object, ...] | None:
    value = memo.load(_state_dir(objects), NAME)
    if not (isinstance(value, tuple) and len(value) == 5 and value[0] == like):
        return None
    _oid, length, size, crc, table = value
    if length != len(data) or not isinstance(table, tuple):
        return None
    raw = _read_object(objects / like[:2] / like[2:], size)
    if raw is None or zlib.crc32(raw) != crc:
        return None
    return _pieces(raw, table, length)


def _read_object(path: Path, size: object) -> bytes | None:
    """The loose object's bytes when it is a regular file of ``size`` bytes."""
    if type(size) is not int or not 0 < size <= _MAX_FILE:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            return None
        raw = os.read(fd, size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return raw if len(raw) == size else None


def _pieces(raw: bytes, table: tuple[object, ...], length: int) -> tuple[object, ...] | None:
    """The ``_deflate.Piece`` values of ``table`` checked against ``raw`` (see the module):
    the zlib header, the header piece (inflated: the blob's header), then the pieces one
    after the other, each ending a sync flush, then the final block and the Adler-32."""
    from gitreg.store._deflate import _END, Piece, adler_combine

    header = b"blob %d\0" % length
    if len(raw) < 8 or raw[-6:-4] != _END or raw[0] & 0x0F != 8 or (raw[0] << 8 | raw[1]) % 31:
        return None
    adler = zlib.adler32(header)
    pieces = []
    at = 0  # the blob's bytes covered so far
    low = None  # where the next piece must start in the file (after the header piece)
    for entry in table:
        if not (isinstance(entry, tuple) and len(entry) == 5):
            return None
        if not all(type(value) is int and value >= 0 for value in entry):
            return None
        offset, size, check, start, end = entry
        if low is None:
            low = start if _header_piece(raw[2:start], header) else -1
        if offset != at or size == 0 or start != low or not start < end <= len(raw) - 6:
            return None
        deflated = raw[start:end]
        if not deflated.endswith(_FLUSHED):
            return None
        pieces.append(Piece(offset, size, deflated, check))
        adler = adler_combine(adler, check, size)
        at, low = offset + size, end
    if at != length or low != len(raw) - 6 or adler != int.from_bytes(raw[-4:], "big"):
        return None
    return tuple(pieces)


def _header_piece(deflated: bytes, header: bytes) -> bool:
    """Whether ``deflated`` is a raw deflate of ``header`` ending a sync flush."""
    if not deflated.endswith(_FLUSHED):
        return False
    inflater = zlib.decompressobj(-15)
    try:
        return inflater.decompress(deflated, len(header) + 1) == header
    except zlib.error:
        return False


def keep(objects: Path, oid: str, length: int, parts: list[bytes]) -> None:
    """Record blob ``oid``'s layout (``length`` bytes), whose loose object this process
    just wrote as ``parts`` (``_deflate.deflate_parts``'s): for the CLI's write path only
    (``memo.for_next_process``); a library process keeps its layouts in memory."""
    if not memo.for_next_process:
        return
    from gitreg.store import _deflate

    known = _deflate.layout_of(oid)
    if known is None or len(known.pieces) != len(parts) - 3:
        return
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    start = len(parts[0]) + len(parts[1])
    table = []
    for piece in known.pieces:
        end = start + len(piece.deflated)
        table.append((piece.offset, piece.length, piece.adler, start, end))
        start = end
    size = start + len(parts[-1])
    memo.save(_state_dir(objects), NAME, (oid, length, size, crc, tuple(table)))
