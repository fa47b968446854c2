"""Reading an artifact on this machine: a local path or a ``file://`` URI (#28).

As model-signing does by default, a symbolic link anywhere in the artifact is refused
(``allow_symlinks: false``), and so is anything that is neither a regular file nor a
directory (a FIFO or a device would never end). Files are opened without following a link
and checked again on the open descriptor, so a path swapped for a link mid-walk is refused.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from gitreg.core.errors import ArtifactUnreadable

if TYPE_CHECKING:
    from gitreg.integrations.artifacts.hashing import Hashed, Item, Opener, Progress

# The hashing and the digest's rules are imported by what hashes: ``read_artifact`` asks
# ``local_path`` of every source, an s3:// one included (#26).

_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_FLAGS |= getattr(os, "O_BINARY", 0)


def local_path(source: str) -> Path | None:
    """The path a local source names (a plain path or ``file://``), or None if it is not one."""
    parsed = urllib.parse.urlsplit(source)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            return None  # file://host/... is another machine's file
        # urllib.request loads http.client and ssl: only a file:// URL needs it (#26).
        from urllib.request import url2pathname

        return Path(url2pathname(parsed.path))
    if not parsed.scheme or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(source)
    return None


def read_local(path: Path, source: str, progress: Progress | None = None) -> Hashed:
    """Hash the file or directory at ``path`` (``source`` is how the version names it).

    Raises:
        ArtifactUnreadable: it is missing, a link, not a file or directory, or unreadable.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise ArtifactUnreadable(f"{source}: no such file or directory") from None
    except OSError as e:
        raise ArtifactUnreadable(f"{source}: {e.strerror or e}") from None
    if stat.S_ISLNK(info.st_mode):
        raise ArtifactUnreadable(_link(source))
    from gitreg.core.digest import SINGLE_FILE
    from gitreg.integrations.artifacts.hashing import Item

    if stat.S_ISREG(info.st_mode):
        items = [Item(SINGLE_FILE, info.st_size, _opener(path, source))]
        return _hash(items, True, source, progress)
    if not stat.S_ISDIR(info.st_mode):
        raise ArtifactUnreadable(f"{source} is neither a regular file nor a directory")
    items = list(_walk(path, "", source))
    return _hash(items, False, source, progress)


def _hash(items: list[Item], single: bool, source: str, progress: Progress | None) -> Hashed:
    from gitreg.integrations.artifacts.hashing import hash_items

    try:
        return hash_items(items, single, progress)
    except OSError as e:
        where = e.filename or source
        raise ArtifactUnreadable(f"{where}: {e.strerror or e}") from None


def _walk(directory: Path, prefix: str, source: str) -> Iterator[Item]:
    from gitreg.core.digest import is_ignored
    from gitreg.integrations.artifacts.hashing import Item

    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as e:
        raise ArtifactUnreadable(f"{directory}: {e.strerror or e}") from None
    for entry in entries:
        relative = f"{prefix}{entry.name}"
        if not prefix and is_ignored(relative):
            continue  # model-signing's default: the git files at the top are not the model
        if entry.is_symlink():
            raise ArtifactUnreadable(_link(f"{source}/{relative}"))
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), f"{relative}/", source)
        elif entry.is_file(follow_symlinks=False):
            size = entry.stat(follow_symlinks=False).st_size
            yield Item(relative, size, _opener(Path(entry.path), f"{source}/{relative}"))
        else:
            raise ArtifactUnreadable(
                f"{source}/{relative} is neither a regular file nor a directory"
            )


def _opener(path: Path, shown: str) -> Opener:
    @contextlib.contextmanager
    def opened() -> Iterator[io.FileIO]:
        fd = os.open(path, _FLAGS)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ArtifactUnreadable(f"{shown} is not a regular file")
            stream = io.FileIO(fd, "rb", closefd=True)
        except BaseException:
            os.close(fd)
            raise
        with stream:
            yield stream

    return opened


def _link(shown: str) -> str:
    return (
        f"{shown} is a symbolic link; gitreg, like model-signing, hashes only regular files "
        "(replace the link with the file it points to)"
    )
