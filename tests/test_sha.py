"""``gitreg.core.sha`` gives hashlib's digests, whichever implementation hashes (#26).

A write hashes small inputs with CPython's built-in SHA modules (no OpenSSL import) and
large ones with ``hashlib``; every object id, index checksum and memo key must be the same
either way.
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
import sys

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


# Run in a fresh interpreter: whether ``hashlib`` is loaded decides the route, and this test
# process loaded it long ago. Prints the type each call returned, in order.
ROUTES = r"""
import sys
from gitreg.core import sha
def fresh(call):  # each call as in a new interpreter: hashlib not loaded yet
    sys.modules.pop("hashlib", None)  # (a harness such as mutmut's may have loaded it)
    sys.modules.pop("_hashlib", None)
    sha._left, sha._FOUND = sha.LARGE, {}  # nothing hashed yet
    return type(call()).__module__
small, large = b"x" * (sha.LARGE - 1), b"x" * sha.LARGE
seen = [fresh(lambda: sha.sha1()), fresh(lambda: sha.sha1(small)),
        fresh(lambda: sha.sha256()), fresh(lambda: sha.sha256(small)),
        fresh(lambda: sha.sha1(b"x", more=sha.LARGE)), fresh(lambda: sha.sha1(large)),
        fresh(lambda: sha.sha256(b"x", more=sha.LARGE)), fresh(lambda: sha.sha256(large)),
        fresh(lambda: sha.sha1(b"x", more=sha.LARGE - 2))]
def fresh_digest(make):  # the built-in modules' digests, fed whole and in pieces, copied
    sys.modules.pop("hashlib", None)
    sys.modules.pop("_hashlib", None)
    sha._left, sha._FOUND = sha.LARGE, {}
    whole = make(b"blob 3\0abc").hexdigest()
    fed = make(b"blob 3\0", more=3)
    fed.update(b"a")
    copied = fed.copy()
    fed.update(b"bc")
    copied.update(b"bc")
    return [type(fed).__module__, whole, fed.hexdigest(), copied.hexdigest()]
digests = [fresh_digest(sha.sha1), fresh_digest(sha.sha256)]
sys.modules.pop("hashlib", None)
sys.modules.pop("_hashlib", None)
sha._left, sha._FOUND = sha.LARGE, {}  # a process's budget: the sum of its inputs, not each one
half = b"x" * (sha.LARGE // 2)
budget = [type(sha.sha1(half)).__module__,
          type(sha.sha256(b"x", more=sha.LARGE // 2 - 2)).__module__,
          type(sha.sha1(b"x")).__module__, type(sha.sha1()).__module__]
without = "hashlib" not in sys.modules and "_hashlib" in sys.modules  # OpenSSL, no hashlib
import hashlib  # once loaded, every size goes to it
seen += [type(sha.sha1(b"x")).__module__, type(sha.sha256(b"x")).__module__]
print([seen, digests, budget, without])
"""


def _has_module(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def test_each_size_goes_where_the_module_doc_says() -> None:
    """Below LARGE (counting what the caller will still feed, and what the process hashed
    before), while ``hashlib`` is not loaded: CPython's own module when the interpreter has
    one (no OpenSSL import); from LARGE on: hashlib, and once hashlib is loaded, hashlib for
    every size (faster). No argument: the empty input."""
    assert sha.sha1().hexdigest() == hashlib.sha1().hexdigest()
    assert sha.sha256().hexdigest() == hashlib.sha256().hexdigest()
    found = subprocess.run(
        [sys.executable, "-c", ROUTES], capture_output=True, text=True, check=True
    ).stdout
    seen, digests, budget, without = ast.literal_eval(found)
    openssl = type(hashlib.sha1(b"")).__module__
    small1 = "_sha1" if _has_module("_sha1") else openssl
    small2 = next((m for m in ("_sha2", "_sha256") if _has_module(m)), openssl)
    assert seen == [small1, small1, small2, small2, *[openssl] * 4, small1, openssl, openssl]
    # half of the budget, then a quarter less two bytes, then the rest is OpenSSL's
    assert budget == [small1, small2, openssl, openssl]
    assert without  # OpenSSL's constructors taken from _hashlib: hashlib is not imported
    for (module, *three), made, builtin in (
        (digests[0], hashlib.sha1, small1),
        (digests[1], hashlib.sha256, small2),
    ):
        assert module == builtin
        assert three == [made(b"blob 3\0abc").hexdigest()] * 3
