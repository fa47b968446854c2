"""A large blob's loose object compressed in pieces, the pieces it shares with an earlier
blob reused instead of compressed again (#26).

Compressing the 1.6 MB manifest of a model with 5,000 versions cost 7 ms of every write
(a third of it), for a change of a few hundred bytes. A zlib stream may hold any number of
deflate blocks: here each piece of about ``TARGET`` bytes is compressed on its own (no
reference outside itself) and ends byte aligned (``Z_SYNC_FLUSH``), so the pieces of an
earlier blob that the new one still holds, found at their old place shifted by what
changed before them, are copied as they are. The stream is ``zlib header + header piece +
pieces + an empty final block + Adler-32 of the whole``: a valid zlib stream that git (and
``zlib.decompress``) inflates like any other, of about the size one ``compress`` of the
whole gives (``TARGET`` is deflate's own window, so little is lost at the seams).

The layouts of the last few large blobs written are kept in memory (``KEEP``), by blob id:
a process that writes the same model again reuses them; the CLI's write path also finds
the last one in a record beside its loose object (``_deflate_record``); any other write
compresses every piece, which costs what one ``compress`` did. Pure: no I/O.
"""

from __future__ import annotations

import _thread
import zlib

from gitreg.core import record

LARGE = 256 * 1024  # smaller blobs are compressed whole: one call is cheap enough
TARGET = 32 * 1024  # a new piece's size
MIN_REUSE = 8 * 1024  # an old piece this small is compressed again with its neighbours
PROBE = 64  # bytes of an old piece searched for where it moved
WINDOW = 256 * 1024  # how far from its expected place an old piece is looked for
TRIES = 8  # places a probe is checked at before the piece counts as changed
MISSES = 8  # old pieces not found in a row: the blobs differ, stop looking
KEEP = 4
_BASE = 65521  # Adler-32's modulus
_END = b"\x03\x00"  # an empty final block (fixed Huffman codes, end of block)


@record.dataclass(frozen=True, slots=True)
class Piece:
    """``length`` bytes at ``offset`` of a blob: their raw deflate and their Adler-32."""

    offset: int
    length: int
    deflated: bytes
    adler: int


@record.dataclass(frozen=True, slots=True)
class Layout:
    """A blob's content and the pieces its loose object was compressed in."""

    data: bytes
    pieces: tuple[Piece, ...]


_LAYOUTS: dict[str, Layout] = {}
_LOCK = _thread.allocate_lock()  # a server writes from several threads (#25)


def deflate(oid: str, header: bytes, data: bytes, level: int, like: str | None) -> bytes:
    """The zlib stream of ``header + data`` (blob ``oid``), reusing the pieces it shares
    with blob ``like`` if this process compressed that one lately."""
    return b"".join(deflate_parts(oid, header, data, level, like))


def deflate_parts(
    oid: str, header: bytes, data: bytes, level: int, like: str | None
) -> list[bytes]:
    """``deflate``'s stream in its parts, in order, not joined: a loose object writes them
    with one ``writev`` (joining copied 290 kB at 5,000 versions, #26)."""
    with _LOCK:
        old = _LAYOUTS.get(like) if like is not None else None
    pieces = layout(data, old, level)
    adler = zlib.adler32(header)
    for piece in pieces:
        adler = adler_combine(adler, piece.adler, piece.length)
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    head = packer.compress(header) + packer.flush(zlib.Z_SYNC_FLUSH)
    parts = [zlib.compress(b"", level)[:2], head, *(p.deflated for p in pieces)]
    parts.append(_END + adler.to_bytes(4, "big"))
    remember(oid, Layout(data, pieces))
    return parts


def known(oid: str) -> bool:
    """Whether this process knows blob ``oid``'s layout."""
    return oid in _LAYOUTS


def layout_of(oid: str) -> Layout | None:
    """Blob ``oid``'s layout if this process knows it."""
    with _LOCK:
        return _LAYOUTS.get(oid)


def remember(oid: str, known: Layout) -> None:
    """Keep ``known`` as blob ``oid``'s layout (the most recent ``KEEP``)."""
    with _LOCK:
        _LAYOUTS.pop(oid, None)
        _LAYOUTS[oid] = known
        while len(_LAYOUTS) > KEEP:
            del _LAYOUTS[next(iter(_LAYOUTS))]


def layout(data: bytes, old: Layout | None, level: int) -> tuple[Piece, ...]:
    """``data`` in pieces: those of ``old`` it still holds (in order), the rest new."""
    if old is None:
        return tuple(_compress(data, 0, len(data), level))
    pieces: list[Piece] = []
    fresh = 0  # where the bytes not yet in a piece start
    shift = 0  # where the last reused piece moved: the next one is likely moved as much
    misses = 0
    for piece in old.pieces:
        if piece.length < MIN_REUSE:
            continue
        at = _find(data, old.data, piece, piece.offset + shift, fresh)
        if at is None:
            misses += 1
            if misses == MISSES:
                break
            continue
        misses = 0
        pieces += _compress(data, fresh, at, level)
        pieces.append(Piece(at, piece.length, piece.deflated, piece.adler))
        fresh, shift = at + piece.length, at - piece.offset
    pieces += _compress(data, fresh, len(data), level)
    return tuple(pieces)


def _find(data: bytes, old: bytes, piece: Piece, guess: int, low: int) -> int | None:
    """Where ``data`` holds ``piece`` of ``old`` at or after ``low``: at ``guess`` (it
    moved as the piece before it did), or found by its first bytes near there."""
    view = memoryview(old)[piece.offset : piece.offset + piece.length]
    if guess >= low and data.startswith(view, guess):
        return guess
    probe = old[piece.offset : piece.offset + PROBE]
    stop = guess + piece.length + WINDOW
    at = data.find(probe, max(low, guess - WINDOW), stop)
    for _try in range(TRIES):
        if at < 0:
            return None
        if data.startswith(view, at):
            return at
        at = data.find(probe, at + 1, stop)
    return None


def _compress(data: bytes, start: int, end: int, level: int) -> list[Piece]:
    """``data[start:end]`` as new pieces of about ``TARGET`` bytes, cut after a line end."""
    pieces = []
    view = memoryview(data)
    while start < end:
        cut = end
        if end - start > TARGET + TARGET // 2:
            cut = data.rfind(b"\n", start + TARGET // 2, start + TARGET) + 1 or start + TARGET
        chunk = view[start:cut]
        packer = zlib.compressobj(level, zlib.DEFLATED, -15)
        deflated = packer.compress(chunk) + packer.flush(zlib.Z_SYNC_FLUSH)
        pieces.append(Piece(start, cut - start, deflated, zlib.adler32(chunk)))
        start = cut
    return pieces


def adler_combine(first: int, second: int, length: int) -> int:
    """The Adler-32 of ``a + b`` from ``first`` (of ``a``), ``second`` (of ``b``) and
    ``len(b)``: zlib's ``adler32_combine``, which Python's zlib does not offer."""
    rem = length % _BASE
    s1 = first & 0xFFFF
    s2 = (rem * s1) % _BASE
    sum1 = (s1 + (second & 0xFFFF) + _BASE - 1) % _BASE
    sum2 = (((first >> 16) & 0xFFFF) + ((second >> 16) & 0xFFFF) + _BASE - rem + s2) % _BASE
    return sum1 | (sum2 << 16)
