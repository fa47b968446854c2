"""Reading registry files from the work tree: regular files only, never through a link.

A manifest, ``gitreg.yaml`` and everything under ``models/`` must be a regular file: a
symbolic link could make gitreg read (and print in a finding) a file outside the
repository, or ``/dev/zero``. Every component of the path below the registry's root is
opened without following links (``O_NOFOLLOW`` relative to the parent directory, so nothing
can swap a component for a link in between), a FIFO or device is never read, and a file is
read to at most ``limit`` bytes. At a commit, the same rule is git mode 100644 (see
``_git.read_regular_at``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from gitreg.core.errors import InvalidManifest, not_regular
from gitreg.core.manifest import MAX_FILE_BYTES

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "a special file"


def read_regular(root: Path, path: str, limit: int = MAX_FILE_BYTES) -> bytes | None:
    """The content of ``root/path`` if it is a regular file; None if it does not exist.

    Raises:
        NotRegularFile: ``path`` or a directory on the way is a link or not a file.
        InvalidManifest: the file is larger than ``limit`` bytes.
    """
    if not _NOFOLLOW or not hasattr(os, "supports_dir_fd") or os.open not in os.supports_dir_fd:
        return _read_checked_by_lstat(root, path, limit)
    parts = path.split("/")
    try:
        fd = os.open(root, os.O_RDONLY | _DIRECTORY)
    except OSError:
        return None
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            flags = os.O_RDONLY | _NOFOLLOW | (_NONBLOCK if last else _DIRECTORY)
            try:
                child = os.open(part, flags, dir_fd=fd)
            except OSError as e:
                _raise_unless_missing(root, parts[: index + 1], e)
                return None
            os.close(fd)
            fd = child
        return _read_fd(fd, path, limit)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def read_directory(
    root: Path, directory: str, limit: int = MAX_FILE_BYTES
) -> dict[str, bytes | InvalidManifest]:
    """Every entry directly in ``root/directory``: its bytes, or why it cannot be read.

    One descriptor for the directory, opened without following a link (a whole-registry
    read opens 10,000 files; each is opened relative to it, also without following one).
    An entry that is a link, a directory or a FIFO maps to the error saying so.

    Raises:
        NotRegularFile: ``directory`` itself is a link or not a directory.
    """
    if not _NOFOLLOW or os.open not in os.supports_dir_fd:
        found = {
            name: _checked(root, f"{directory}/{name}", limit)
            for name in os.listdir(root / directory)
        }
        return {name: entry for name, entry in found.items() if entry is not None}
    try:
        top = os.open(root, os.O_RDONLY | _DIRECTORY)
    except OSError:
        return {}
    try:
        fd = os.open(directory, os.O_RDONLY | _NOFOLLOW | _DIRECTORY, dir_fd=top)
    except OSError as e:
        _raise_unless_missing(root, [directory], e)
        return {}
    finally:
        os.close(top)
    try:
        read = {name: _read_in(fd, name, f"{directory}/{name}", limit) for name in os.listdir(fd)}
    finally:
        os.close(fd)
    return {name: entry for name, entry in read.items() if entry is not None}


def _read_in(directory: int, name: str, path: str, limit: int) -> bytes | InvalidManifest | None:
    """The entry's bytes, or why it cannot be read; None when it is gone: listed, then
    removed or renamed away before its open (a concurrent writer's temporary file, a model
    deleted meanwhile), it is no longer in the directory."""
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK, dir_fd=directory)
    except FileNotFoundError:
        return None
    except OSError as e:
        try:
            mode = os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return None
        return (
            InvalidManifest(f"{path}: cannot be read ({e.strerror})")
            if stat.S_ISREG(mode)
            else not_regular(path, _kind(mode))
        )
    try:
        return _read_fd(fd, path, limit)
    except InvalidManifest as e:
        return e
    finally:
        os.close(fd)


def _checked(root: Path, path: str, limit: int) -> bytes | InvalidManifest | None:
    try:
        return read_regular(root, path, limit)  # None: gone since it was listed
    except InvalidManifest as e:
        return e


def _raise_unless_missing(root: Path, parts: list[str], error: OSError) -> None:
    """Translate a failed open of ``parts``: return if absent, else say what is there."""
    if error.errno == errno.ENOENT:
        return
    shown = "/".join(parts)
    try:
        mode = (root / shown).lstat().st_mode
    except OSError:
        return
    if error.errno == errno.ENOTDIR and stat.S_ISREG(mode):
        return  # a file where a directory was expected: the path does not exist
    if stat.S_ISREG(mode) and error.errno != errno.ELOOP:
        raise InvalidManifest(f"{shown}: cannot be read ({error.strerror}); fix its permissions")
    raise not_regular(shown, _kind(mode))


def _read_fd(fd: int, path: str, limit: int) -> bytes:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise not_regular(path, _kind(info.st_mode))
    if info.st_size > limit:
        raise InvalidManifest(
            f"{path}: the file is {info.st_size:,} bytes, above gitreg's limit of {limit:,}"
        )
    chunks = []
    remaining = limit + 1
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    data = b"".join(chunks)
    if len(data) > limit:
        raise InvalidManifest(f"{path}: the file grew past gitreg's limit of {limit:,} bytes")
    return data


def _read_checked_by_lstat(root: Path, path: str, limit: int) -> bytes | None:
    """Where ``O_NOFOLLOW`` relative opens are missing (Windows): check each component."""
    current = root
    parts = path.split("/")
    for index, part in enumerate(parts):
        current = current / part
        try:
            mode = current.lstat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        last = index == len(parts) - 1
        if (last and not stat.S_ISREG(mode)) or (not last and not stat.S_ISDIR(mode)):
            if not last and stat.S_ISREG(mode):
                return None
            raise not_regular("/".join(parts[: index + 1]), _kind(mode))
    fd = os.open(current, os.O_RDONLY | _BINARY)
    try:
        return _read_fd(fd, path, limit)
    finally:
        os.close(fd)


def check_writable(root: Path, path: str) -> None:
    """Refuse to write ``root/path`` through a link: every directory on the way must be real.

    Raises:
        NotRegularFile: a directory on the way (``models/``) is a link or a file.
    """
    current = root
    parts = path.split("/")
    for index, part in enumerate(parts[:-1]):
        current = current / part
        try:
            mode = current.lstat().st_mode
        except FileNotFoundError:
            return  # it will be created as a real directory
        if not stat.S_ISDIR(mode):
            raise not_regular("/".join(parts[: index + 1]), _kind(mode))
    try:
        mode = (current / parts[-1]).lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise not_regular(path, _kind(mode))


def is_real_directory(path: Path) -> bool:
    """Whether ``path`` is a directory itself, not a link to one."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False
