"""``gitreg.core.sha`` gives hashlib's digests, whichever implementation hashes (#26).

A write hashes small inputs with CPython's built-in SHA modules (no OpenSSL import) and
large ones with ``hashlib``; every object id, index checksum and memo key must be the same
either way.
"""

from __future__ import annotations

import hashlib

import pytest

from gitreg.core import sha

SIZES = [0, 1, 63, 64, 1000, sha.LARGE - 1, sha.LARGE, sha.LARGE + 1, 3 * sha.LARGE + 7]


@pytest.mark.parametrize("size", SIZES)
def test_digests_are_hashlibs_at_every_size(size: int) -> None:
    data = bytes((i * 31 + 7) % 256 for i in range(size))
    assert sha.sha1(data).hexdigest() == hashlib.sha1(data).hexdigest()
    assert sha.sha1(data).digest() == hashlib.sha1(data).digest()
    assert sha.sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    assert sha.sha1(memoryview(data)).digest() == hashlib.sha1(data).digest()
    assert sha.sha1(bytearray(data)).digest() == hashlib.sha1(data).digest()


@pytest.mark.parametrize("size", SIZES)
def test_fed_in_pieces_and_copied_midway(size: int) -> None:
    """As git object ids are made: a header, then the data (``more`` says how much)."""
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    header = b"blob %d\0" % size
    digest = sha.sha1(header, more=size)
    half = size // 2
    digest.update(data[:half])
    copied = digest.copy()
    digest.update(data[half:])
    copied.update(data[half:])
    expected = hashlib.sha1(header + data).hexdigest()
    assert digest.hexdigest() == expected
    assert copied.hexdigest() == expected


def test_large_inputs_go_to_hashlib_and_small_ones_do_not() -> None:
    openssl = type(hashlib.sha1(b""))
    assert type(sha.sha1(b"x" * sha.LARGE)) is openssl
    assert type(sha.sha1(b"x", more=sha.LARGE)) is openssl
    assert type(sha.sha256(b"x" * sha.LARGE)) is type(hashlib.sha256(b""))
    if sha._builtin("_sha1", "sha1") is not None:  # CPython builds have it
        assert type(sha.sha1(b"x")) is not openssl


def _has_module(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def test_each_size_goes_where_the_module_doc_says() -> None:
    """Below LARGE (counting what the caller will still feed): CPython's own module when the
    interpreter has one (no OpenSSL); from LARGE on: hashlib. And no argument: the empty
    input, as hashlib's."""
    openssl1, openssl256 = type(hashlib.sha1(b"")), type(hashlib.sha256(b""))
    small = b"x" * (sha.LARGE - 1)
    assert sha.sha1().hexdigest() == hashlib.sha1().hexdigest()
    assert sha.sha256().hexdigest() == hashlib.sha256().hexdigest()
    assert type(sha.sha256(b"x", more=sha.LARGE)) is openssl256
    assert type(sha.sha1(b"x" * sha.LARGE, more=0)) is openssl1
    if _has_module("_sha1"):
        assert type(sha.sha1(small)) is not openssl1
        assert type(sha.sha1()) is not openssl1
    if _has_module("_sha2") or _has_module("_sha256"):
        assert type(sha.sha256(small)) is not openssl256
        assert type(sha.sha256()) is not openssl256
