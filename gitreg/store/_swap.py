"""A large work-tree file replaced by exchanging it with its new version (#26).

``manifest.write_atomic`` writes a temporary file and renames it over the manifest. On ext4
(its default ``auto_da_alloc``) a rename over an existing file first starts writing the new
file's data, so that a power loss cannot leave an empty file where the old one was: about
1.6 ms for the 1.6 MB manifest of a model with 5,000 versions, on every write.

Here the two files trade names instead (``renameat2(RENAME_EXCHANGE)``, atomic like a
rename: a reader opening the manifest gets the old or the new file, never half of one), and
the old one, now under the temporary name, is unlinked. ext4 flushes nothing for an
exchange. What that flush protected is a copy of a commit that git itself does not harden:
by default (``core.fsync=committed,-loose-object``) git fsyncs neither loose objects, nor
refs, nor the index, and ``git checkout`` writes a work-tree file by unlinking and creating
it, with no flush and not atomically. When the repository asks git to harden loose objects
(``core.fsync`` naming ``loose-object``, ``objects``, ``committed``, ``added`` or ``all``, or
``core.fsyncObjectFiles``), the rename is kept.

A writer killed between the exchange and the unlink leaves the old text under the temporary
name ``.<name>.<random>.tmp``; its journal makes the next command remove it, as it removes a
temporary file a killed ``write_atomic`` left (``worktree.recover``).

``_ctypes`` (0.9 ms to import; the ``ctypes`` package is not needed) is loaded for a large
file only: small files, and so every write on a registry of small manifests, keep
``write_atomic``. Where ``renameat2`` is missing (no such libc function, ``ENOSYS``) or
the filesystem refuses the exchange (``EINVAL``, ``EOPNOTSUPP``, ``EXDEV``: overlay and
network filesystems may), the rename is used, and
not tried again on that filesystem by this process.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from gitreg.core import manifest
from gitreg.store import faults

LARGE = 256 * 1024  # smaller files keep write_atomic (and ctypes stays unloaded)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_HARDENING = {"loose-object", "objects", "committed", "added", "all"}

_call: list[Callable[[bytes, bytes], int] | None] = []  # renameat2, once looked up
_refused: set[int] = set()  # st_dev of filesystems that refused an exchange


def hardens_objects(config: dict[str, str]) -> bool:
    """Whether git's config asks it to fsync loose objects (``core.fsync``, git's parse:
    comma-separated, ``-x`` removes ``x``, ``none`` clears; or ``core.fsyncObjectFiles``)."""
    if config.get("core.fsyncobjectfiles", "false").strip().lower() in ("true", "yes", "on", "1"):
        return True
    chosen = False
    for raw in config.get("core.fsync", "").split(","):
        token = raw.strip().lower()
        if token == "none":
            chosen = False
        elif token.removeprefix("-") in _HARDENING:
            chosen = not token.startswith("-")
    return chosen


def write(path: Path, data: bytes, harden: bool = False) -> None:
    """``data`` to ``path`` atomically: exchanged with the file there when ``data`` is large
    and the filesystem can (see module doc), else ``manifest.write_atomic``."""
    exchange = None if harden or len(data) < LARGE else _renameat2()
    if exchange is None:
        manifest.write_atomic(path, data)
        return
    if _refused and _device(path) in _refused:
        manifest.write_atomic(path, data)
        return
    tmp = _create(path, data)
    try:
        if exchange(os.fsencode(tmp), os.fsencode(path)) == 0:
            faults.point("worktree-exchanged")  # the old text is under the temporary name
            os.unlink(tmp)
            return
        code = _errno()
        if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
            _refused.add(_device(path))
        elif code != errno.ENOENT:  # ENOENT: no file to exchange with (a new model)
            raise OSError(code, os.strerror(code), str(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _device(path: Path) -> int:
    try:
        return path.parent.stat().st_dev
    except OSError:
        return -1


def _create(path: Path, data: bytes) -> Path:
    """A new temporary file next to ``path`` holding ``data``, with the mode git gives a
    file it checks out (as ``write_atomic``)."""
    tmp, fd = manifest.open_temp(path)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def _renameat2() -> Callable[[bytes, bytes], int] | None:
    """``renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)`` from the C library, or None
    where there is none (not Linux, or a libc older than glibc 2.28)."""
    if not _call:
        _call.append(_load())
    return _call[0]


def _load() -> Callable[[bytes, bytes], int] | None:
    """``renameat2`` through ``_ctypes``, the C module ``ctypes`` is written on: the
    package itself (``struct``, its type classes, ``CDLL``) was 1.3 ms more of a cold
    write on a large manifest (#26, tenth round). The types declared are ``ctypes``'s own
    (``c_int``, ``c_char_p``, ``c_uint`` are these ``_SimpleCData`` codes)."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return None
    try:
        import _ctypes

        class _Int(_ctypes._SimpleCData):  # type: ignore[type-arg]  # c_int
            _type_ = "i"

        class _UInt(_ctypes._SimpleCData):  # type: ignore[type-arg]  # c_uint
            _type_ = "I"

        class _Text(_ctypes._SimpleCData):  # type: ignore[type-arg]  # c_char_p
            _type_ = "z"

        class _Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = _Int
            _argtypes_ = (_Int, _Text, _Int, _Text, _UInt)

        libc = _ctypes.dlopen(None, os.RTLD_NOW | os.RTLD_LOCAL)  # type: ignore[arg-type]
        function = _Function(_ctypes.dlsym(libc, "renameat2"))
    except (ImportError, AttributeError, OSError):
        return None

    def exchange(old: bytes, new: bytes) -> int:
        result: int = function(_AT_FDCWD, old, _AT_FDCWD, new, _RENAME_EXCHANGE)
        return result

    return exchange


def _errno() -> int:
    """The C library's errno as the last foreign call left it (``use_errno``)."""
    import _ctypes

    code: int = _ctypes.get_errno()
    return code
