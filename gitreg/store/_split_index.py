"""git's split index read and updated in process, so a write costs the same at any size (#26).

A registry of 10,000 models has an index of 10,000 entries (880 kB): rewriting and hashing
it after every write was most of what made a write grow with the registry. git's split
index (``core.splitIndex``, Documentation/technical/index-format.txt) keeps those entries
in a shared file, ``.git/sharedindex.<sha1>``, written rarely and never changed (its name
is its checksum), and ``.git/index`` holds only a ``link`` extension and the entries that
differ from it:

- the shared file's id, then two EWAH bitmaps over the shared entries' positions: the
  entries deleted, and the entries replaced;
- first the replacements, in position order, their names left out (git requires that);
- then the entries added, in name order.

Here a write re-reads ``.git/index`` (small) under ``index.lock``, the shared file once per
process (cached by its id, which is its content), and writes a new small index in which
the changed paths are replacements, additions or deletions. Starting a split, or folding
the changes back into a new shared file when they grow past ``MAX_CHANGED`` entries (or
``splitIndex.maxPercentChange`` of the shared ones), is left to
``git update-index --split-index``, which also expires old shared files as git does.
"""

from __future__ import annotations

import bisect
import os
import struct
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from gitreg.core import record, sha
from gitreg.store import memo

if TYPE_CHECKING:
    import mmap

    # A shared index's bytes: read, or mapped when a former write checked the file (#26).
    Data = bytes | mmap.mmap

# A split part larger than this is folded into a new shared index by git: each write
# rewrites and hashes the split part (0.3 to 0.5 us of CPU per entry, and its bytes are
# flushed when the index is renamed), a fold costs 10 to 20 ms (git writes the 880 kB
# shared index of 10,000 entries, 6 to 10 ms; the next write reads it, 4 to 10 ms). The
# mean per write, entries / 2 x 0.4 us + 15 ms / MAX_CHANGED, is least near 270 and
# within 10% of it from 200 to 400; 200 keeps the split part under 13 kB (500, before
# #26's seventh round: 32 kB).
MAX_CHANGED = 200
_HEADER = 62
_EXTENDED = 0x4000
_STAGE = 0x3000
_NAME_MASK = 0x0FFF


class Refused(Exception):
    """git's to do: something this module does not write exactly as git would."""


class Reshare(Exception):
    """The split part has grown: git should write a new shared index now."""


# ------------------------------------------------------------------------- EWAH


def ewah_decode(data: bytes, pos: int) -> tuple[list[int], int]:
    """The set bit positions of the EWAH bitmap at ``pos``, and where it ends."""
    _bits, words = struct.unpack_from(">II", data, pos)
    pos += 8
    end = pos + 8 * words
    if end + 4 > len(data):
        raise Refused("a torn bitmap")
    out: list[int] = []
    word, at = 0, pos
    while at < end:
        (rlw,) = struct.unpack_from(">Q", data, at)
        at += 8
        run, literals = (rlw >> 1) & 0xFFFFFFFF, rlw >> 33
        if rlw & 1:
            out.extend(range(word * 64, (word + run) * 64))
        word += run
        for _ in range(literals):
            if at >= end:
                raise Refused("a torn bitmap")
            (literal,) = struct.unpack_from(">Q", data, at)
            at += 8
            while literal:
                low = literal & -literal
                out.append(word * 64 + low.bit_length() - 1)
                literal ^= low
            word += 1
    return out, end + 4


def ewah_encode(positions: list[int]) -> bytes:
    """``positions`` (ascending, distinct) as git serialises an EWAH bitmap.

    The bits are set in a byte array read back as little-endian 64-bit words (bit ``p``
    is bit ``p % 64`` of word ``p // 64``): one cheap step per position, then one per word
    of the shared index (157 at 10,000 entries), instead of a dict update per bit (#26).
    """
    if not positions:
        return struct.pack(">IIQI", 0, 1, 0, 0)
    count = (positions[-1] >> 6) + 1
    bitmap = bytearray(count * 8)
    for p in positions:
        bitmap[p >> 3] |= 1 << (p & 7)
    words = struct.unpack(f"<{count}Q", bitmap)
    out: list[int] = []
    last_rlw, done, i = 0, 0, 0
    while i < count:
        if not words[i]:
            i += 1
            continue
        j = i
        while j + 1 < count and words[j + 1]:
            j += 1
        last_rlw = len(out)  # a run of empty words, then the literal words i..j
        out.append((i - done) << 1 | (j - i + 1) << 33)
        out += words[i : j + 1]
        done = i = j + 1
    return struct.pack(f">II{len(out)}QI", positions[-1] + 1, len(out), *out, last_rlw)


# ------------------------------------------------------------------ the shared file


@record.dataclass
class Shared:
    """A shared index: its bytes and where each entry starts, to find a name by bisection."""

    data: Data
    version: int
    offsets: Sequence[int]
    # False while ``offsets`` are a former process's (``memo``): each one used is checked
    # against the entry it points at, and all are walked again at the first that is wrong.
    walked: bool = True
    # ``find``'s answers, the last ``_FOUND_KEEP`` (the file never changes: its name is its hash)
    _found: dict[bytes, int | None] = record.field(default_factory=dict, compare=False)

    def name_at(self, i: int) -> bytes:
        at = self.offsets[i]
        flags = (self.data[at + 60] << 8) | self.data[at + 61]
        start = at + (64 if self.version == 3 and flags & _EXTENDED else 62)
        if not self.walked:
            self._check(i, start - at + (flags & _NAME_MASK), flags)
        return self.data[start : start + (flags & _NAME_MASK)]

    def _check(self, i: int, length: int, flags: int) -> None:
        """Raise ``_Stale`` unless entry ``i`` ends where the next one starts."""
        end = self.offsets[i] + ((length + 8) & ~7)
        following = self.offsets[i + 1] if i + 1 < len(self.offsets) else None
        if flags & _NAME_MASK == _NAME_MASK or (
            end != following if following is not None else end > len(self.data) - 20
        ):
            raise _Stale

    def header(self, i: int) -> bytes:
        return self.data[self.offsets[i] : self.offsets[i] + _HEADER]

    def _walk_again(self) -> None:
        self.offsets = _entry_offsets(self.data, self.version, len(self.offsets))
        self.walked = True
        self._found.clear()

    def find(self, name: bytes) -> int | None:
        """The position of ``name`` (refused when it has several stages).

        A write looks its path up three or four times (the clean check, the new entry,
        its replacement) by bisection, 14 names read at 10,000 entries each time: the
        answers are kept (the file is immutable, named by its hash), the last few (#26).
        """
        found = self._found.get(name, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        try:
            found = self._find(name)
        except _Stale:
            self._walk_again()
            found = self._find(name)
        if len(self._found) >= _FOUND_KEEP:
            self._found.clear()
        self._found[name] = found
        return found

    def _find(self, name: bytes) -> int | None:
        i = bisect.bisect_left(range(len(self.offsets)), name, key=self.name_at)
        if i >= len(self.offsets) or self.name_at(i) != name:
            return None
        if i + 1 < len(self.offsets) and self.name_at(i + 1) == name:
            raise Refused("a conflict (several stages of one path)")
        return i

    def first_under(self, prefix: bytes) -> bytes | None:
        """The first name starting with ``prefix``, if any."""
        try:
            return self._first_under(prefix)
        except _Stale:
            self._walk_again()
            return self._first_under(prefix)

    def _first_under(self, prefix: bytes) -> bytes | None:
        i = bisect.bisect_left(range(len(self.offsets)), prefix, key=self.name_at)
        if i < len(self.offsets) and self.name_at(i).startswith(prefix):
            return self.name_at(i)
        return None


class _Stale(Exception):
    """Offsets kept by a former process that do not describe this shared index."""


_SHARED: dict[str, Shared] = {}
_MISSING = object()
_FOUND_KEEP = 64


def load_shared(git_dir: Path, oid: str) -> Shared:
    """The shared index ``oid``, read and checked once per process (its name is its hash)."""
    cached = _SHARED.get(oid)
    if cached is not None:
        return cached
    path = git_dir / f"sharedindex.{oid}"
    state_dir = git_dir / "gitreg"
    try:
        with open(path, "rb") as f:
            stat = os.fstat(f.fileno())
            identity = _identity(path, oid, stat)
            trusted = _verified_before(state_dir, identity)
            data = _mapped(f) if trusted else f.read()
            steady = _identity(path, oid, os.fstat(f.fileno())) == identity
    except (OSError, ValueError) as e:  # ValueError: an empty file cannot be mapped
        raise Refused(str(e)) from e
    if data[:4] != b"DIRC" or data[-20:].hex() != oid or len(data) != stat.st_size:
        raise Refused("a shared index that is not the one named")
    if not (trusted and steady):
        if sha.sha1(data[:-20]).hexdigest() != oid:
            raise Refused("a shared index that is not the one named")
        if steady and not trusted:
            _remember_verified(state_dir, identity, stat)
    version, count = struct.unpack_from(">II", data, 4)
    if version not in (2, 3):
        raise Refused(f"shared index version {version}")
    offsets: Sequence[int] | None = memo.load_offsets(state_dir, "shared", oid, len(data))
    walked = offsets is None or len(offsets) != count or (count > 0 and offsets[0] != 12)
    if walked:
        offsets = _offsets_v2(data, count) if version == 2 else _entry_offsets(data, version, count)
        if memo.for_next_process:
            memo.save_offsets(state_dir, "shared", oid, len(data), offsets, "*")
    assert offsets is not None
    _SHARED.clear()  # one at a time: the one this process's index links to
    _SHARED[oid] = shared = Shared(data, version, offsets, walked)
    return shared


# A shared index's SHA-1 was checked by a former process (#26, ninth round). A cold write
# at 10,000 models hashed the 880 kB file whole to trust it, and loaded OpenSSL for that.
# The CLI's write path (``memo.for_next_process``) keeps, once the hash matched, the file's
# identity as read through the open file: its path and name (the hash), size, inode,
# device, mtime and ctime in nanoseconds. A later process trusts the bytes it reads when
# the open file's identity is the same; anything else is hashed again: a file rewritten
# in place or touched (a new ctime, which no caller can set back), replaced by a rename
# (another inode or ctime), of another size. git's racy rule: the record is kept only
# if the file's times are older than the record's own (written after the read), since a
# change within the same clock tick could leave the file's times as they were. The
# header and the trailer (the name) are checked every time.
_VERIFIED = "shared-verified"


def _identity(path: Path, oid: str, stat: os.stat_result) -> tuple[object, ...]:
    return (
        str(path),
        oid,
        stat.st_size,
        stat.st_ino,
        stat.st_dev,
        stat.st_mtime_ns,
        stat.st_ctime_ns,
    )


def _verified_before(state_dir: Path, identity: tuple[object, ...]) -> bool:
    """Whether a former CLI write checked the hash of this very file (``_VERIFIED``)."""
    if not memo.for_next_process:
        return False
    known = memo.load(state_dir, _VERIFIED)
    return isinstance(known, tuple) and known == identity


def _mapped(f: IO[bytes]) -> Data:
    """The trusted file mapped, not read: a lookup touches a few dozen of the 880 kB's
    pages (reading them all was 0.5 ms of a cold write at 10,000 models, #26). The file is
    never changed in place (git writes a new one and renames it; one unlinked stays
    mapped whole); one truncated under a live process would fault it, as for git."""
    import mmap

    return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _remember_verified(state_dir: Path, identity: tuple[object, ...], stat: os.stat_result) -> None:
    """Keep ``identity`` as checked, unless the file changed too recently to tell (racy)."""
    if not memo.for_next_process:
        return
    newest = max(stat.st_mtime_ns, stat.st_ctime_ns)

    def older(record: os.stat_result) -> bool:  # same filesystem, same clock
        return record.st_dev == stat.st_dev and newest < record.st_ctime_ns

    memo.save(state_dir, _VERIFIED, identity, keep=older)


def _entry_offsets(data: Data, version: int, count: int) -> list[int]:
    """Where each of the ``count`` entries of an index starts, walking them in turn.

    A new process used to walk the 10,000 entries of a large registry's shared index for
    the one it looks up; the walk is kept under the file's checksum (``memo``, #26), which
    the file is checked against before any use."""
    offsets, pos = [], 12
    for _ in range(count):
        flags = (data[pos + 60] << 8) | data[pos + 61]
        if flags & _NAME_MASK == _NAME_MASK:
            raise Refused("a long name")
        size = 64 if version == 3 and flags & _EXTENDED else 62
        offsets.append(pos)
        pos += (size + (flags & _NAME_MASK) + 8) & ~7
    return offsets


def _offsets_v2(data: Data, count: int) -> list[int]:
    """``_entry_offsets`` of a version 2 index (what git writes a shared index as): every header
    is 62 bytes, so one step per entry is its name's length (a third less time: a new
    process reads the 10,000 entries of a large registry's shared index once, #26)."""
    offsets = [0] * count
    pos = 12
    for i in range(count):
        offsets[i] = pos
        length = data[pos + 61] | (data[pos + 60] & 0x0F) << 8
        if length == _NAME_MASK:
            raise Refused("a long name")
        pos += (70 + length) & ~7  # 62 + name + 1 to 8 NULs, to a multiple of 8
    return offsets


# -------------------------------------------------------------------- the split part


@record.dataclass
class Split:
    """``.git/index`` of a split index: what differs from the shared entries."""

    version: int
    base: str
    shared: Shared
    replaced: dict[int, bytes]  # shared position -> header (62 bytes)
    added: dict[bytes, bytes]  # name -> header
    deleted: set[int]
    extensions: list[tuple[bytes, bytes]]  # all but link, in their order

    def lookup(self, name: bytes) -> bytes | None:
        """The header ``name`` has in the merged index, or None."""
        if name in self.added:
            return self.added[name]
        pos = self.shared.find(name)
        if pos is None or pos in self.deleted:
            return None
        return self.replaced.get(pos) or self.shared.header(pos)

    def changed(self) -> int:
        return len(self.replaced) + len(self.added) + len(self.deleted)


# The split index this process wrote last, by its trailing checksum: the next write's
# check and update find it here instead of parsing it again.
_PARSED: dict[bytes, Split] = {}


def peek(trailer: bytes) -> Split | None:
    """The index with this checksum, if this process wrote it last: to look entries up
    in, never to change (the writer holding the clone's lock is the only one that does)."""
    return _PARSED.get(trailer)


def take(trailer: bytes) -> Split | None:
    """``peek`` for the writer, which changes it and ``serialize``s it (which remembers it
    again): forgotten meanwhile, so a write that fails halfway leaves nothing changed
    behind, and the next one parses the index again. No copy of its entries (#26)."""
    found = _PARSED.get(trailer)
    if found is not None:
        _PARSED.clear()
    return found


def remember(trailer: bytes, split: Split) -> None:
    """Keep ``split`` (the caller's: it changes it no more) as the index ``trailer``."""
    _PARSED.clear()
    _PARSED[trailer] = split


def parse(
    entries: list[tuple[bytes, bytes]], extensions: list[tuple[bytes, bytes]], git_dir: Path
) -> Split:
    """The split part of an index: its entries (name, header) and extensions, one ``link``.

    Raises:
        Refused: anything git would read differently, or this module would write so.
    """
    links = [body for sig, body in extensions if sig == b"link"]
    if len(links) != 1 or len(links[0]) < 20:
        raise Refused("a torn link extension")
    link = links[0]
    deleted: list[int] = []
    positions: list[int] = []
    if len(link) > 20:
        deleted, at = ewah_decode(link, 20)
        positions, at = ewah_decode(link, at)
        if at != len(link):
            raise Refused("garbage after the link extension")
    shared = load_shared(git_dir, link[:20].hex())
    count = len(shared.offsets)
    if len(positions) > len(entries) or any(p >= count for p in [*deleted, *positions]):
        raise Refused("a link extension that does not fit its shared index")
    if set(deleted) & set(positions):
        raise Refused("an entry both replaced and deleted")
    for _name, header in entries:
        flags = (header[60] << 8) | header[61]
        if len(header) != _HEADER or flags & _STAGE:
            raise Refused("a conflict, skip-worktree or intent-to-add entry")
    replaced = {p: entries[i][1] for i, p in enumerate(positions)}
    added = dict(entries[len(positions) :])
    if any(name for name, _h in entries[: len(positions)]) or b"" in added:
        raise Refused("a replacement with a name, or an addition without one")
    kept = [(sig, body) for sig, body in extensions if sig != b"link"]
    return Split(
        entries_version(entries), link[:20].hex(), shared, replaced, added, set(deleted), kept
    )


def entries_version(entries: list[tuple[bytes, bytes]]) -> int:
    return 3 if any(len(header) > _HEADER for _n, header in entries) else 2


def check_no_clash(split: Split, name: bytes) -> None:
    """Refuse a new file where a file is a directory's name, or a directory the file's."""
    parts = name.split(b"/")
    for i in range(1, len(parts)):
        if split.lookup(b"/".join(parts[:i])) is not None:
            raise Refused("a file where a directory goes")
    prefix = name + b"/"
    if any(other.startswith(prefix) for other in split.added):
        raise Refused("a directory where a file goes")
    under = split.shared.first_under(prefix)
    if under is not None and split.lookup(under) is not None:
        raise Refused("a directory where a file goes")  # perhaps deleted: git decides


def apply(split: Split, name: bytes, header: bytes | None) -> None:
    """Give ``name`` the entry ``header`` (62 bytes, its name length in the flags; None removes)."""
    old = split.lookup(name)
    if old is not None and ((old[60] << 8) | old[61]) & (_STAGE | _EXTENDED):
        raise Refused("a conflict, skip-worktree or intent-to-add entry")
    if name in split.added:
        if header is None:
            del split.added[name]
        else:
            split.added[name] = header
        return
    pos = split.shared.find(name)
    if pos is not None and pos not in split.deleted:
        split.replaced.pop(pos, None)
        if header is None:
            split.deleted.add(pos)
        else:
            flags = struct.unpack_from(">H", header, 60)[0] & ~_NAME_MASK
            split.replaced[pos] = header[:60] + struct.pack(">H", flags)  # git wants no name
        return
    if header is not None:
        check_no_clash(split, name)
        split.added[name] = header


def too_large(split: Split, max_percent: int) -> bool:
    """Whether git should fold the split part into a new shared index (as git judges it)."""
    changed = split.changed()
    total = len(split.shared.offsets) - len(split.deleted) + len(split.added)
    return changed > MAX_CHANGED or changed * 100 > max_percent * max(total, 1)


def serialize(split: Split) -> bytes:
    """The new ``.git/index``: replacements, additions, the extensions and ``link``."""
    parts = [b"DIRC", struct.pack(">II", 2, len(split.replaced) + len(split.added))]
    for pos in sorted(split.replaced):
        parts += [split.replaced[pos], b"\0\0"]  # no name: 62 bytes padded to 64
    for name in sorted(split.added):
        length = _HEADER + len(name)
        parts += [split.added[name], name, b"\0" * (((length + 8) & ~7) - length)]
    link = bytes.fromhex(split.base)
    link += ewah_encode(sorted(split.deleted)) + ewah_encode(sorted(split.replaced))
    parts += [b"link", struct.pack(">I", len(link)), link]
    for sig, body in split.extensions:
        parts += [sig, struct.pack(">I", len(body)), body]
    out = b"".join(parts)
    trailer: bytes = sha.sha1(out).digest()
    remember(trailer, split)
    return out + trailer


# git touches the shared file on every write of the split part, so that its expiry
# (``splitIndex.sharedIndexExpire``, by mtime, two weeks unless set) never removes a file
# in use. Under the default it is touched when its mtime is an hour old: at most an hour
# against two weeks, and a write at 10,000 models reads an inode instead of updating it
# (#26). With the expiry set, every write touches it, as git does.
FRESHEN_EVERY = 3600.0


def freshen(git_dir: Path, split: Split, always: bool = False) -> None:
    """Touch the shared file, as git does whenever it reads it (its expiry goes by mtime):
    every time when ``always``, else when it was last touched ``FRESHEN_EVERY`` seconds ago.

    Raises:
        OSError: the shared file is gone (git must write the index then).
    """
    path = git_dir / f"sharedindex.{split.base}"
    if always or abs(time.time() - os.stat(path).st_mtime) >= FRESHEN_EVERY:
        os.utime(path)
