"""SHA-1 and SHA-256 for the write path, without OpenSSL's ``hashlib`` for small inputs.

Importing ``hashlib`` loads OpenSSL (about 2.5 ms, a twentieth of a cold write, #26). What a
write hashes on a small registry is small: the manifest blob, the trees on its path, the
index, the policy's text. CPython's own SHA-1 and SHA-256 (``_sha1``, ``_sha256`` or
``_sha2``, which ``resolve`` loads anyway) hash those in microseconds but run 8x slower than
OpenSSL on large inputs, so anything of 64 kB or more (a 10,000-model tree, a shared index,
a 5,000-version manifest) is hashed by ``hashlib`` as before, and so is everything once
``hashlib`` is loaded (its import is then paid, and OpenSSL is the faster). Both give the
same digest; an interpreter built without the small modules uses ``hashlib`` for everything.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

LARGE = 64 * 1024


class Hasher(Protocol):
    """What both kinds of hasher offer (``hashlib``'s and the built-in modules')."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...
    def copy(self) -> Hasher: ...


def sha1(data: bytes | bytearray | memoryview = b"", *, more: int = 0) -> Hasher:
    """A SHA-1 hasher fed ``data``, as ``hashlib.sha1(data, usedforsecurity=False)``;
    ``more``: how many bytes the caller will still feed it."""
    if len(data) + more < LARGE and "hashlib" not in sys.modules:
        small = _builtin("_sha1", "sha1")
        if small is not None:
            made: Hasher = small(data, usedforsecurity=False)
            return made
    import hashlib

    return hashlib.sha1(data, usedforsecurity=False)


def sha256(data: bytes | bytearray | memoryview = b"", *, more: int = 0) -> Hasher:
    """A SHA-256 hasher fed ``data``, as ``hashlib.sha256(data)``."""
    if len(data) + more < LARGE and "hashlib" not in sys.modules:
        small = _builtin("_sha2", "sha256") or _builtin("_sha256", "sha256")  # 3.12+, older
        if small is not None:
            made: Hasher = small(data)
            return made
    import hashlib

    return hashlib.sha256(data)


def _builtin(module: str, name: str) -> Any:
    """``module.name`` when the interpreter has that built-in module, else None."""
    try:
        return getattr(__import__(module), name)
    except (ImportError, AttributeError):
        return None
