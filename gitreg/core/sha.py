"""SHA-1 and SHA-256 for the write path, without OpenSSL's ``hashlib`` unless it pays.

Importing ``hashlib`` loads OpenSSL (2.5 to 3 ms of a cold process, #26). CPython's own
SHA-1 and SHA-256 (``_sha1``, ``_sha256`` or ``_sha2``, which ``resolve`` loads anyway) need
no import but hash about 8 times slower (3.7 us per kB against OpenSSL's 0.5, so OpenSSL
saves its import from about 770 kB on). A process therefore hashes with the built-in
modules until ``LARGE`` bytes in all (512 kB) would be passed: a cold write at 10,000
models hashes its 400 kB ``models/`` tree and small objects without OpenSSL (the 880 kB
shared index is checked by ``store._split_index``'s record instead), while a 5,000-version
model's 1.6 MB manifest, or the sum of several large inputs, goes to OpenSSL (``hashlib``'s
constructors, from ``_hashlib``), as does everything once OpenSSL is loaded (its import is
then paid, and it is the faster).
At worst a process spends ``LARGE`` bytes' worth of built-in hashing (about 2 ms) before
it loads OpenSSL anyway. Both give the same digest; an interpreter built without the
small modules uses ``hashlib`` for everything.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

LARGE = 512 * 1024
# What the built-in modules may still hash in this process (``LARGE`` at the start).
_left = LARGE


class Hasher(Protocol):
    """What both kinds of hasher offer (``hashlib``'s and the built-in modules')."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...
    def copy(self) -> Hasher: ...


def sha1(data: bytes | bytearray | memoryview = b"", *, more: int = 0) -> Hasher:
    """A SHA-1 hasher fed ``data``, as ``hashlib.sha1(data, usedforsecurity=False)``;
    ``more``: how many bytes the caller will still feed it."""
    if _small(len(data) + more):
        small = _builtin("_sha1", "sha1")
        if small is not None:
            made: Hasher = small(data, usedforsecurity=False)
            return made
    openssl: Hasher = _openssl("sha1")(data, usedforsecurity=False)
    return openssl


def sha256(data: bytes | bytearray | memoryview = b"", *, more: int = 0) -> Hasher:
    """A SHA-256 hasher fed ``data``, as ``hashlib.sha256(data)``."""
    if _small(len(data) + more):
        small = _builtin("_sha2", "sha256") or _builtin("_sha256", "sha256")  # 3.12+, older
        if small is not None:
            made: Hasher = small(data)
            return made
    openssl: Hasher = _openssl("sha256")(data)
    return openssl


def _small(size: int) -> bool:
    """Whether ``size`` more bytes are for a built-in module (and count them if so)."""
    global _left
    if size >= _left or "_hashlib" in sys.modules:
        return False
    _left -= size
    return True


_FOUND: dict[str, Any] = {}


def _openssl(name: str) -> Any:
    """``hashlib``'s constructor for ``name``, OpenSSL's, taken from ``_hashlib`` as
    ``hashlib`` takes it (``hashlib`` itself, with ``_blake2``, is 0.45 ms more of a cold
    write, #26); ``hashlib``'s own choice when OpenSSL lacks it (a FIPS build)."""
    key = f"openssl.{name}"
    try:
        return _FOUND[key]
    except KeyError:
        pass
    try:
        import _hashlib

        found = getattr(_hashlib, f"openssl_{name}")
        found(usedforsecurity=False)  # refused here, as hashlib checks, when unsupported
    except (ImportError, AttributeError, ValueError):
        import hashlib

        found = getattr(hashlib, name)
    _FOUND[key] = found
    return found


def _builtin(module: str, name: str) -> Any:
    """``module.name`` when the interpreter has that built-in module, else None: asked of
    the import system once per process (a module it lacks is looked for on the whole
    path, 40 us each time, #26)."""
    key = f"{module}.{name}"
    try:
        return _FOUND[key]
    except KeyError:
        pass
    try:
        found = getattr(__import__(module), name)
    except (ImportError, AttributeError):
        found = None
    _FOUND[key] = found
    return found
