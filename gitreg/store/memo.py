"""What a new process would re-derive from content that has not changed, kept in the clone.

A cold ``gitreg register`` (one process per command, as a CI job runs it) used to derive
again, in every process, facts about files that had not changed since the last command:
git's configuration (a ``git config --list`` process), where each entry of the 400 kB
``models/`` tree starts, where each entry of the 880 kB shared index starts (#26). Each
such fact is kept here in a small file in ``.git/gitreg/`` under the identity of what it
was derived from: a tree's object id, a shared index's checksum (its name), the stat data
of git's config files. It is as trusted as the clone's other state (the index, the refs)
and checked strictly by its user before use: a memo that cannot be read, is malformed,
or does not match what it claims to describe is ignored, and the fact derived again.
Nothing is ever built from a memo without a check that it fits (see each user).
"""

from __future__ import annotations

import array
import contextlib
import marshal
import os
import struct
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_TAG = "gitreg-memo-1"

# Whether this process keeps what the next one will want (entry offsets of the trees it
# writes): set by the CLI's write path, where every process is new; a long-lived one keeps
# its trees in memory and does not pay for the files.
for_next_process = False


def load(state_dir: Path, name: str) -> Any:
    """What ``save(state_dir, name, ...)`` kept, or None (missing, unreadable, malformed)."""
    try:
        with open(state_dir / f"{name}.marshal", "rb") as f:
            found = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(found, tuple) or len(found) != 2 or found[0] != _TAG:
        return None
    return found[1]


def save(
    state_dir: Path,
    name: str,
    value: Any,
    keep: Callable[[os.stat_result], bool] | None = None,
) -> None:
    """Keep ``value`` (plain data) as ``name``: written whole, then renamed into place, so a
    reader sees the old memo or the new one; a clone that cannot be written is left as is.
    ``keep``, if given, is asked with the written file's stat data (its times: the clock
    as it is now, after everything the caller read) and the memo is dropped on False."""
    temp = state_dir / f"{name}.marshal.{os.getpid()}.tmp"
    try:
        image = marshal.dumps((_TAG, value))
        state_dir.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as f:
            f.write(image)
            written = os.fstat(f.fileno())
        if keep is not None and not keep(written):
            os.unlink(temp)
            return
        os.replace(temp, state_dir / f"{name}.marshal")
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            os.unlink(temp)


# ------------------------------------------------------------------- entry offsets

# Where each entry of a large tree or shared index starts, by the object's id: one file
# each under ``offsets/``, written once (a new name, never renamed over another file: ext4
# flushes a file renamed over an existing one, #26) and removed with the tree it replaced.
_OFFSETS_MAGIC = b"gitreg-offsets-1-" + sys.byteorder.encode()[:1]
_OFFSETS_HEADER = struct.Struct("=QQI")  # size of the object, entry count, CRC-32


def load_offsets(state_dir: Path, kind: str, oid: str, size: int) -> array.array[int] | None:
    """The entry offsets kept for object ``oid`` of ``size`` bytes, or None.

    None unless the file is whole and says it describes exactly this object (its id in
    the name, its size inside) and its CRC matches: a damaged memo is ignored. The caller
    still checks each offset it uses against the object's bytes.
    """
    try:
        with open(state_dir / "offsets" / f"{kind}-{oid}", "rb") as f:
            data = f.read()
    except OSError:
        return None
    start = len(_OFFSETS_MAGIC) + _OFFSETS_HEADER.size
    if not data.startswith(_OFFSETS_MAGIC) or len(data) < start:
        return None
    known_size, count, crc = _OFFSETS_HEADER.unpack_from(data, len(_OFFSETS_MAGIC))
    body = memoryview(data)[start:]
    if known_size != size or len(body) != 4 * count or zlib.crc32(body) != crc:
        return None
    offsets = array.array("I")
    offsets.frombytes(body)
    _LOADED[kind] = (oid, size, bytes(body))
    return offsets


# The offsets file each kind last loaded in this process: (its object, size, body). A write
# that changes an entry of a large tree in place keeps the same offsets: their file is
# renamed to the new tree's name instead of written again (0.1 ms, #26).
_LOADED: dict[str, tuple[str, int, bytes]] = {}


def save_offsets(
    state_dir: Path, kind: str, oid: str, size: int, offsets: Sequence[int], replaces: str | None
) -> None:
    """Keep ``offsets`` for object ``oid``; drop those of ``replaces`` (``"*"``: of every
    other object of this ``kind``), if kept."""
    folder = state_dir / "offsets"
    body = array.array("I", offsets).tobytes()
    if replaces not in (None, "*", oid) and _LOADED.get(kind) == (replaces, size, body):
        with contextlib.suppress(OSError):  # else written as below
            if not os.path.lexists(folder / f"{kind}-{oid}"):
                os.rename(folder / f"{kind}-{replaces}", folder / f"{kind}-{oid}")
                _LOADED.pop(kind, None)
                return
    header = _OFFSETS_HEADER.pack(size, len(offsets), zlib.crc32(body))
    temp = folder / f".{kind}-{oid}.{os.getpid()}.tmp"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(temp, flags, 0o644)
        except FileNotFoundError:  # the first one (one syscall saved else)
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, flags, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(_OFFSETS_MAGIC + header + body)
        os.replace(temp, folder / f"{kind}-{oid}")
        if replaces == "*":
            for other in folder.glob(f"{kind}-*"):
                if other.name != f"{kind}-{oid}":
                    other.unlink()
        elif replaces is not None and replaces != oid:
            os.unlink(folder / f"{kind}-{replaces}")
    except (OSError, OverflowError):
        with contextlib.suppress(OSError):
            os.unlink(temp)


def drop_offsets(state_dir: Path, kind: str, oid: str) -> None:
    """Forget the offsets kept for ``oid`` (an object that is no longer the tip's)."""
    with contextlib.suppress(OSError):
        os.unlink(state_dir / "offsets" / f"{kind}-{oid}")
