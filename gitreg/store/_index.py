"""One entry of git's index, read without a git process (the check before a write, #15).

``git ls-files -s -- PATH`` costs a process that reads the whole index. A write only needs
the blob staged for the one path it is about to overwrite: found here by searching the
index file for the path and checking that it sits exactly where an entry's name does.
A split index (#26) is read through ``_split_index``: its small ``.git/index`` and the
shared one it links to (read once per process). Anything this reader is not sure of
(index version 4's compressed names, a conflict, a name that appears in more than one
place) answers "cannot tell", and the caller asks git.
"""

from __future__ import annotations

import struct
from pathlib import Path

_ENTRY_HEADER = 62  # stat data (40), object id (20), flags (2)
_EXTENDED = 0x4000
_STAGE = 0x3000
_NAME_MASK = 0x0FFF


class Unsure(Exception):
    """This reader cannot tell for sure: ask git."""


def staged_blob(index: Path, path: str) -> str | None:
    """The blob id staged at stage 0 for ``path``, or None if it is not staged.

    Raises:
        Unsure: the index holds something this reader does not read (see module doc).
    """
    try:
        data = index.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise Unsure(str(e)) from e
    if len(data) < 12 or data[:4] != b"DIRC":
        raise Unsure("not an index")
    version = struct.unpack_from(">I", data, 4)[0]
    if version not in (2, 3):
        raise Unsure(f"index version {version}")
    name = path.encode("utf-8", "surrogateescape")
    if b"link" in data:
        split, oid = _split_lookup(index.parent, data, name)
        if split:  # a split index (#26)
            return oid
    found = _search(data, name, version)
    if len(found) > 1:
        raise Unsure(f"{path} is named in more than one place")
    if not found and b"sdir" in data:
        raise Unsure("maybe a sparse index")  # inside a directory entry: only git can say
    return found[0] if found else None


def _search(data: bytes, name: bytes, version: int) -> list[str]:
    """The object ids of the entries named ``name``, found by searching the bytes."""
    needle = name + b"\0"
    found: list[str] = []
    at = data.find(needle, 12)
    while at >= 0:
        oid = _entry_at(data, at, len(name), version)
        if oid is not None:
            found.append(oid)
        at = data.find(needle, at + 1)
    return found


def _split_lookup(git_dir: Path, data: bytes, name: bytes) -> tuple[bool, str | None]:
    """Whether the index is split, and the blob staged for ``name`` if it is.

    Its replaced entries have no names in ``.git/index``; the rest are in the shared index.
    """
    from gitreg.store import _index_write, _split_index

    try:
        split = _split_index.peek(data[-20:])
        if split is None:
            view = _index_write.split_view(data)
            if view is None:
                return False, None
            split = _split_index.parse(*view, git_dir)
        header = split.lookup(name)
    except (_split_index.Refused, struct.error, ValueError, IndexError) as e:
        raise Unsure(f"a split index this reader does not follow: {e}") from e
    if header is None:
        return True, None
    if ((header[60] << 8) | header[61]) & _STAGE:
        raise Unsure("a conflict")
    return True, header[40:60].hex()


def _entry_at(data: bytes, at: int, length: int, version: int) -> str | None:
    """The object id if ``at`` is where an entry's name starts, else None."""
    expected = min(length, _NAME_MASK)
    candidates = [(at - _ENTRY_HEADER, at - 2, False)]
    if version == 3:
        candidates.append((at - _ENTRY_HEADER - 2, at - 4, True))
    for start, flags_at, extended in candidates:
        if start < 12:
            continue
        flags = struct.unpack_from(">H", data, flags_at)[0]
        if (flags & _NAME_MASK) != expected or bool(flags & _EXTENDED) != extended:
            continue
        mode = struct.unpack_from(">I", data, start + 24)[0]
        if mode not in (0o100644, 0o100755, 0o120000, 0o160000):
            continue
        if flags & _STAGE:
            raise Unsure("a conflict")  # git knows best which stage to show
        return data[start + 40 : start + 60].hex()
    return None
