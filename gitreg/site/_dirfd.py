"""Files under one root directory, reached without ever following a symbolic link (#23).

``output`` writes and deletes the site through a ``Tree``. Where the platform allows (POSIX),
each directory is opened relative to its parent's descriptor with ``O_NOFOLLOW``, and files
are created, renamed, read and unlinked relative to their directory's descriptor: a link
that appears anywhere below the root, even during the build, is never followed. Elsewhere
(Windows) each component is checked with ``lstat`` before it is used.

A few directory descriptors are kept open between writes (a model's files go to three
directories), so a build of thousands of models does not open every parent again for each
file (#26). A file that does not exist yet is created in place with ``O_EXCL`` (nothing is
there to replace, and ``O_EXCL`` never follows a link); one that exists is replaced through
a temporary file and a rename, so a page a host is serving is never seen half-written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)
SUPPORTED = bool(_NOFOLLOW and _DIRECTORY) and all(
    f in os.supports_dir_fd for f in (os.open, os.rename, os.mkdir, os.unlink, os.rmdir)
)
_NOT_FOLLOWED = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
_KEPT = 16  # directory descriptors kept open between writes

Refuse = Callable[[str, str], Exception]


class Tree:
    """The directory ``root`` and what is below it, a few directory descriptors kept open."""

    def __init__(self, root: Path, refuse: Refuse, dir_fds: bool = SUPPORTED) -> None:
        self.root = root
        self._refuse = refuse  # (path shown, what it is) -> the error a write raises
        self._fds = dir_fds
        self._root_fd = os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC) if dir_fds else -1
        self._cached: dict[tuple[str, ...], int] = {}

    def close(self) -> None:
        """Close the descriptors (idempotent)."""
        self._forget()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def _forget(self) -> None:
        cached, self._cached = self._cached, {}
        for fd in cached.values():
            os.close(fd)

    def _keep(self, key: tuple[str, ...], fd: int) -> None:
        if len(self._cached) >= _KEPT:  # the oldest goes; the walk in hand uses the newest
            os.close(self._cached.pop(next(iter(self._cached))))
        self._cached[key] = fd

    def _shown(self, parts: Sequence[str]) -> str:
        return str(self.root.joinpath(*parts))

    # ---------------------------------------------------------------- directories

    def _directory(self, folders: Sequence[str], create: bool) -> int | Path | None:
        """The directory ``folders`` below the root (a descriptor, or a checked path).

        A missing one is made when ``create``; a link or a file in the way raises the
        refusal when ``create`` (a write), else answers None (a read or a delete skips).
        """
        if not self._fds:
            return self._directory_path(folders, create)
        key = tuple(folders)
        known = len(key)
        while known and key[:known] not in self._cached:
            known -= 1
        current = self._cached[key[:known]] if known else self._root_fd
        for depth in range(known + 1, len(key) + 1):
            opened = self._open_below(current, key[:depth], create)
            if opened is None:
                return None
            self._keep(key[:depth], opened)
            current = opened
        return current

    def _open_below(self, parent: int, parts: Sequence[str], create: bool) -> int | None:
        flags = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
        try:
            return os.open(parts[-1], flags, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                return None
            with contextlib.suppress(FileExistsError):
                os.mkdir(parts[-1], 0o777, dir_fd=parent)
            return self._open_below(parent, parts, create=False) or self._blocked(parts)
        except OSError as e:
            if e.errno in _NOT_FOLLOWED and create:
                return self._blocked(parts)
            if e.errno in _NOT_FOLLOWED:
                return None
            raise

    def _blocked(self, parts: Sequence[str]) -> int:
        """Raise the refusal for ``parts``, which is not a directory gitreg may enter."""
        try:
            mode = os.lstat(self.root.joinpath(*parts)).st_mode
        except OSError:
            mode = 0
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a directory"
        raise self._refuse(self._shown(parts), kind)

    def _directory_path(self, folders: Sequence[str], create: bool) -> Path | None:
        """``_directory`` where descriptors cannot be used: each component is ``lstat``-ed."""
        path = self.root
        for index, part in enumerate(folders):
            path = path / part
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                if not create:
                    return None
                path.mkdir()
                continue
            if not stat.S_ISDIR(mode):
                if create:
                    self._blocked(folders[: index + 1])
                return None
        return path

    # ---------------------------------------------------------------------- files

    def write(self, folders: Sequence[str], name: str, data: bytes) -> int:
        """Write ``folders/name`` via a temporary file in the same directory and a rename;
        the file's modification time (ns) as written, read from its descriptor (no path
        is looked up again to record it, #26)."""
        where = self._directory(folders, create=True)
        if where is None:  # create=True answers a directory or raises; this is a guard
            raise self._refuse(self._shown(folders), "not a directory")
        created = self._create(where, name, data)
        if created is not None:
            return created
        temporary = f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        if isinstance(where, Path):
            fd = os.open(where / temporary, _NEW, 0o666)
        else:
            fd = os.open(temporary, _NEW, 0o666, dir_fd=where)
        try:
            mtime = _write_all(fd, data)
            self._rename(where, temporary, name)  # a rename keeps the file's mtime
        except BaseException:
            self._unlink_in(where, temporary)
            raise
        return mtime

    def _create(self, where: int | Path, name: str, data: bytes) -> int | None:
        """Write ``name`` if nothing is there yet (a file, a link, a directory): its
        modification time, None if something was there. Nothing is left behind when the
        write fails."""
        try:
            if isinstance(where, Path):
                fd = os.open(where / name, _NEW, 0o666)
            else:
                fd = os.open(name, _NEW, 0o666, dir_fd=where)
        except FileExistsError:
            return None
        try:
            return _write_all(fd, data)
        except BaseException:
            self._unlink_in(where, name)
            raise

    def _rename(self, where: int | Path, temporary: str, name: str) -> None:
        try:
            if isinstance(where, Path):
                os.replace(where / temporary, where / name)
            else:
                os.rename(temporary, name, src_dir_fd=where, dst_dir_fd=where)
        except OSError as e:  # IsADirectoryError on POSIX, PermissionError on Windows
            if not self._is_directory(where, name):
                raise
            shown = str((where if isinstance(where, Path) else self._path_of(where)) / name)
            raise self._refuse(shown, "a directory where a page goes") from e

    def _is_directory(self, where: int | Path, name: str) -> bool:
        try:
            if isinstance(where, Path):
                mode = os.lstat(where / name).st_mode
            else:
                mode = os.stat(name, dir_fd=where, follow_symlinks=False).st_mode
        except OSError:
            return False
        return stat.S_ISDIR(mode)

    def _path_of(self, fd: int) -> Path:
        """The path of the cached directory ``fd`` (for messages only)."""
        for key, kept in self._cached.items():
            if kept == fd:
                return self.root.joinpath(*key)
        return self.root

    def read(self, folders: Sequence[str], name: str, limit: int | None) -> bytes | None:
        """The bytes of regular file ``folders/name`` (None: absent, not regular, too large)."""
        where = self._directory(folders, create=False)
        if where is None:
            return None
        flags = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC | _BINARY
        try:
            if isinstance(where, Path):
                if not stat.S_ISREG(os.lstat(where / name).st_mode):
                    return None
                fd = os.open(where / name, flags)
            else:
                fd = os.open(name, flags, dir_fd=where)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode) or (limit is not None and info.st_size > limit):
                return None
            return f.read() if limit is None else f.read(limit)

    def unlink(self, folders: Sequence[str], name: str) -> bool:
        """Remove ``folders/name`` (never through a link); whether it was removed."""
        where = self._directory(folders, create=False)
        return where is not None and self._unlink_in(where, name)

    def _unlink_in(self, where: int | Path, name: str) -> bool:
        try:
            if isinstance(where, Path):
                (where / name).unlink()
            else:
                os.unlink(name, dir_fd=where)
        except OSError:
            return False
        return True

    def prune(self, folders: Sequence[str]) -> None:
        """Remove ``folders`` and its parents below the root while they are empty."""
        self._forget()  # a directory about to go must not stay the cached one
        for depth in range(len(folders), 0, -1):
            parent = self._directory(folders[: depth - 1], create=False)
            if parent is None:
                return
            try:
                if isinstance(parent, Path):
                    (parent / folders[depth - 1]).rmdir()
                else:
                    os.rmdir(folders[depth - 1], dir_fd=parent)
            except OSError:
                return
            finally:
                self._forget()


def _write_all(fd: int, data: bytes) -> int:
    """Write ``data`` to ``fd`` and close it; the file's modification time (ns) once
    written. One ``write`` for a page, no buffered file object (which costs an ``fstat``,
    an ``ioctl`` and an ``lseek`` per file, #26)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return os.fstat(fd).st_mtime_ns
    finally:
        os.close(fd)
