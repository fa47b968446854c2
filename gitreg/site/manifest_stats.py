"""The work tree's manifests by their stat data, as git's index knows its files (#26).

A rebuild of the catalog needs the blob id of every manifest in the work tree to tell
which models changed; reading and hashing 10,000 files for it cost more than rendering
the one model that did. The site's record keeps, for each manifest, its inode, size,
modification and status-change times (ns) with the blob id they had, and the time the
stat data were taken. A rebuild ``lstat``-s each manifest and reads and hashes only those
whose stat data differ. Trust is as git's: a write changes the status-change time, which
no user can set back; an entry whose status-change time is within ``RACY_NS`` of the moment
its stat was taken may have been written again within the same clock tick, so it is read
again (git's "racily clean" entries). Anything unusual (``models`` not a plain directory,
an entry that is not a regular file or is too large) answers None: the caller reads every
manifest the usual way, which refuses it with its message.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from gitreg.core.config import MODELS_DIR
from gitreg.core.manifest import MAX_FILE_BYTES
from gitreg.core.retired import RETIRED_FILE
from gitreg.store import compare

RACY_NS = 2_000_000_000  # status-change times this close to the stat's moment: read again
_RETIRED_NAME = RETIRED_FILE.rsplit("/", 1)[-1]
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_SUPPORTED = bool(_NOFOLLOW and _DIRECTORY) and {os.stat, os.open} <= os.supports_dir_fd

# A manifest's stat data: inode, size, modification time, status-change time (ns).
Stat = tuple[int, int, int, int]
# What the record keeps: {"taken": ns, "files": {file name: (*Stat, blob id)}}.
Table = dict[str, object]


def scan(root: Path) -> tuple[int, dict[str, Stat]] | None:
    """The moment, then the stat data of every manifest in ``root``'s work tree (None: see
    the module doc). Taken before the manifests are read, so that a file written in
    between differs from what is recorded for it."""
    with _models(root) as fd:
        return None if fd is None else _scan(fd)


def table(taken: int, stats: Mapping[str, Stat], ids: Mapping[str, str]) -> Table:
    """What the record keeps: the stat data of each manifest whose blob id is known."""
    files = {name: (*stats[name], ids[name]) for name in stats if name in ids}
    return {"taken": taken, "files": files}


def worktree_ids(root: Path, recorded: object) -> tuple[dict[str, str], Table] | None:
    """Every manifest's blob id (file name -> id), reading only those whose stat data are
    not ``recorded``'s (a ``table`` of a previous build), and the table to record now;
    None: read them the usual way."""
    with _models(root) as fd:
        scanned = None if fd is None else _scan(fd)
        if fd is None or scanned is None:
            return None
        taken, stats = scanned
        known, then = _known(recorded)
        trusted = then - RACY_NS
        ids: dict[str, str] = {}
        for name, now in stats.items():
            old = known.get(name)
            if type(old) is tuple and len(old) == 5 and old[:4] == now and now[3] < trusted:
                ids[name] = str(old[4])
                continue
            read = _read(fd, name)
            if read is None:
                return None
            stats[name], ids[name] = read
    return ids, table(taken, stats, ids)


@contextlib.contextmanager
def _models(root: Path) -> Iterator[int | None]:
    """A descriptor of ``root/models``, opened without following a link (None: cannot)."""
    fd = None
    if _SUPPORTED:
        with contextlib.suppress(OSError):
            fd = os.open(root / MODELS_DIR, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def _scan(fd: int) -> tuple[int, dict[str, Stat]] | None:
    taken = time.time_ns()
    found: dict[str, Stat] = {}
    try:
        for name in os.listdir(fd):
            if not name.endswith(".yaml") or name == _RETIRED_NAME:
                continue
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                return None
            found[name] = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    except OSError:  # gone since it was listed (a writer's rename): read the usual way
        return None
    return taken, found


def _known(recorded: object) -> tuple[dict[str, tuple[int, int, int, int, str]], int]:
    """The recorded files and the moment they were taken (nothing: nothing is trusted)."""
    if not isinstance(recorded, dict):
        return {}, 0
    files, taken = recorded.get("files"), recorded.get("taken")
    if not isinstance(files, dict) or type(taken) is not int:
        return {}, 0
    return files, taken


def _read(directory: int, name: str) -> tuple[Stat, str] | None:
    """One manifest's stat data (before its bytes are read) and blob id; None when it is
    not a regular file within the size limit any more."""
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK, dir_fd=directory)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_FILE_BYTES:
        return None
    now = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return now, compare.blob_id(data)
