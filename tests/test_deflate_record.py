"""The last large blob's piece layout kept beside its loose object for the next CLI write
(``store/_deflate_record.py``, #26 tenth round).

A new process is what a CLI write is: here one is stood in for by forgetting everything
the process knew (the layouts ``_deflate`` keeps, the blobs ``_git`` hashed, the
``Registry``) with ``memo.for_next_process`` set as the CLI's write path sets it. The
thresholds are lowered so that a model of a few dozen versions takes the large path.
Every write is checked against git: ``fsck --strict``, the blob inflates to the work-tree
file. A record that is missing, stale, truncated, garbage, foreign or whose object
changed must be ignored (the blob compressed whole) and never produce a wrong object.
"""

from __future__ import annotations

import marshal
import os
import shutil
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.store import _deflate, _deflate_record, _git, memo
from tests._helpers import git

NAME = "churn"
PATH = f"models/{NAME}.yaml"


@pytest.fixture
def cold_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Small pieces, the CLI's record on, and the sizes ``_deflate`` compresses listed."""
    monkeypatch.setattr(_deflate, "LARGE", 2048)
    monkeypatch.setattr(_deflate, "TARGET", 1024)
    monkeypatch.setattr(_deflate, "MIN_REUSE", 256)
    monkeypatch.setattr(_deflate, "PROBE", 32)
    monkeypatch.setattr(_git, "_HASHED_LARGE", 1024)
    monkeypatch.setattr(memo, "for_next_process", True)
    compressed: list[int] = []
    real = _deflate._compress

    def counting(data: bytes, start: int, end: int, level: int) -> list[_deflate.Piece]:
        compressed.append(end - start)
        return real(data, start, end, level)

    monkeypatch.setattr(_deflate, "_compress", counting)
    return compressed


def _forget() -> None:
    """What a new process does not know."""
    _deflate._LAYOUTS.clear()
    _git._HASHED.clear()


def _cold_register(root: Path, k: int, compressed: list[int]) -> int:
    """One register as a new process; the bytes it compressed."""
    _forget()
    compressed.clear()
    Registry(root).create_model_version(NAME, f"s3://m/cold-{k}")
    return sum(compressed)


def _check(root: Path) -> bytes:
    """The write is git's: fsck is clean and the loose object is the work-tree file."""
    found = subprocess.run(["git", "fsck", "--strict"], cwd=root, capture_output=True)
    assert found.returncode == 0, found.stderr
    assert git(root, "status", "--porcelain") == ""
    on_disk = (root / PATH).read_bytes()
    oid = git(root, "rev-parse", f"HEAD:{PATH}").strip()
    loose = root / ".git" / "objects" / oid[:2] / oid[2:]
    assert zlib.decompress(loose.read_bytes()) == b"blob %d\0" % len(on_disk) + on_disk
    return on_disk


def _record(root: Path) -> Path:
    return root / ".git" / "gitreg" / f"{_deflate_record.NAME}.marshal"


def _grown(root: Path, compressed: list[int]) -> int:
    """A model whose manifest is well above ``LARGE``; its size."""
    registry = Registry(root)
    for k in range(100):
        registry.create_model_version(NAME, f"s3://m/{k}")
    size = len((root / PATH).read_bytes())
    assert size > 5 * _deflate.LARGE
    _cold_register(root, 0, compressed)  # the record now names the tip's blob
    return size


def test_a_cold_write_reuses_the_pieces_a_former_one_compressed(
    cold_writes: list[int], registry_repo: Path
) -> None:
    size = _grown(registry_repo, cold_writes)
    assert _record(registry_repo).is_file()
    for k in range(1, 4):
        done = _cold_register(registry_repo, k, cold_writes)
        assert done < size // 3  # the unchanged pieces were copied, not compressed
        _check(registry_repo)
    # A transition in the middle and an alias, each as a new process, also reuse.
    _forget()
    cold_writes.clear()
    Registry(registry_repo).transition_model_version_stage(NAME, 20, "Staging")
    assert 0 < sum(cold_writes) < size // 3
    _check(registry_repo)
    _forget()
    cold_writes.clear()
    Registry(registry_repo).set_registered_model_alias(NAME, "champion", 20)
    assert sum(cold_writes) < size // 3
    _check(registry_repo)


def test_a_library_process_keeps_no_record(
    cold_writes: list[int], registry_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memo, "for_next_process", False)
    _record(registry_repo).unlink(missing_ok=True)  # gitreg init's, with the small pieces
    _grown(registry_repo, cold_writes)
    assert not _record(registry_repo).exists()
    _check(registry_repo)


def _rewrite(record: Path, change: object) -> None:
    """Replace the record's value by ``change(value)``, keeping memo's framing."""
    tag, value = marshal.loads(record.read_bytes())
    record.write_bytes(marshal.dumps((tag, change(value))))  # type: ignore[operator]


def _shift_a_piece(value: tuple[object, ...]) -> tuple[object, ...]:
    oid, length, size, crc, table = value
    pieces = list(table)  # type: ignore[call-overload]
    offset, span, adler, start, end = pieces[2]
    pieces[2] = (offset, span, adler, start + 1, end)
    return (oid, length, size, crc, tuple(pieces))


def _swap_two_pieces(value: tuple[object, ...]) -> tuple[object, ...]:
    oid, length, size, crc, table = value
    pieces = list(table)  # type: ignore[call-overload]
    a, b = pieces[1], pieces[2]
    pieces[1] = (a[0], a[1], a[2], b[3], b[4])
    pieces[2] = (b[0], b[1], b[2], a[3], a[4])
    return (oid, length, size, crc, tuple(pieces))


BROKEN = {
    "missing": lambda record, root: record.unlink(),
    "empty": lambda record, root: record.write_bytes(b""),
    "garbage": lambda record, root: record.write_bytes(os.urandom(300)),
    "truncated": lambda record, root: record.write_bytes(record.read_bytes()[:-40]),
    "cut in the header": lambda record, root: record.write_bytes(record.read_bytes()[:9]),
    "another blob's": lambda record, root: _rewrite(record, lambda v: ("0" * 40, *v[1:])),
    "of another length": lambda record, root: _rewrite(record, lambda v: (v[0], v[1] + 1, *v[2:])),
    "a wrong checksum": lambda record, root: _rewrite(record, lambda v: (*v[:3], v[3] ^ 1, v[4])),
    "a piece moved": lambda record, root: _rewrite(record, _shift_a_piece),
    "pieces swapped": lambda record, root: _rewrite(record, _swap_two_pieces),
    "no pieces": lambda record, root: _rewrite(record, lambda v: (*v[:4], ())),
    "not a tuple": lambda record, root: _rewrite(record, lambda v: list(v)),
    "texts for numbers": lambda record, root: _rewrite(record, lambda v: (v[0], str(v[1]), *v[2:])),
}


@pytest.mark.parametrize("how", sorted(BROKEN))
def test_a_broken_record_is_ignored(how: str, cold_writes: list[int], registry_repo: Path) -> None:
    size = _grown(registry_repo, cold_writes)
    record = _record(registry_repo)
    BROKEN[how](record, registry_repo)
    done = _cold_register(registry_repo, 1, cold_writes)
    assert done >= size  # nothing trusted: the whole blob compressed
    _check(registry_repo)
    assert _cold_register(registry_repo, 2, cold_writes) < size // 3  # a good record again
    _check(registry_repo)


def test_an_object_rewritten_by_git_is_not_trusted(
    cold_writes: list[int], registry_repo: Path
) -> None:
    """The tip's loose object replaced by git's own compression of the same blob (as after
    a prune and a ``git hash-object -w``): other bytes, so the record does not fit."""
    size = _grown(registry_repo, cold_writes)
    oid = git(registry_repo, "rev-parse", f"HEAD:{PATH}").strip()
    loose = registry_repo / ".git" / "objects" / oid[:2] / oid[2:]
    loose.unlink()
    subprocess.run(
        ["git", "-c", "core.looseCompression=9", "hash-object", "-w", PATH],
        cwd=registry_repo,
        check=True,
        capture_output=True,
    )
    assert loose.is_file()
    assert _cold_register(registry_repo, 1, cold_writes) >= size
    _check(registry_repo)


def test_an_object_packed_away_is_not_trusted(cold_writes: list[int], registry_repo: Path) -> None:
    size = _grown(registry_repo, cold_writes)
    git(registry_repo, "gc", "-q", "--prune=now")
    assert _cold_register(registry_repo, 1, cold_writes) >= size
    _check(registry_repo)


def test_a_record_from_another_clone_is_not_trusted(
    cold_writes: list[int], registry_repo: Path, tmp_path: Path
) -> None:
    """A clone with the same manifest (the same blob id) and its own loose object of it
    (git's): the record copied from the first clone describes bytes it does not hold."""
    _grown(registry_repo, cold_writes)
    bare = tmp_path / "bare.git"  # stands in for the clones' shared remote
    git(tmp_path, "clone", "-q", "--bare", str(registry_repo), str(bare))
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "--no-local", str(bare), str(other))
    oid = git(other, "rev-parse", f"HEAD:{PATH}").strip()
    data = (other / PATH).read_bytes()
    loose = other / ".git" / "objects" / oid[:2] / oid[2:]
    loose.parent.mkdir(exist_ok=True)  # a loose copy beside the pack, as another tool writes
    loose.write_bytes(zlib.compress(b"blob %d\0" % len(data) + data, 9))
    (other / ".git" / "gitreg").mkdir(exist_ok=True)
    shutil.copy(_record(registry_repo), _record(other))
    size = len(data)
    assert _cold_register(other, 1, cold_writes) >= size
    _check(other)


def test_a_write_killed_while_keeping_the_record_leaves_a_usable_clone(
    cold_writes: list[int], registry_repo: Path
) -> None:
    """What a kill can leave: a half-written temporary record (never read), the record of
    a blob written but never committed (another blob's: ignored), the previous record."""
    size = _grown(registry_repo, cold_writes)
    record = _record(registry_repo)
    good = record.read_bytes()
    (record.parent / f"{record.name}.4242.tmp").write_bytes(good[: len(good) // 2])
    # A write killed after its object and record, before its commit: the record names a
    # blob the branch never got (the loose object stays, unreferenced).
    child = subprocess.run(
        [sys.executable, "-m", "gitreg", "register", NAME, "s3://m/killed"],
        cwd=registry_repo,
        env={**os.environ, "GITREG_TEST_CRASH_AT": "built"},
        capture_output=True,
    )
    assert child.returncode == -signal.SIGKILL
    _forget()
    cold_writes.clear()
    assert _cold_register(registry_repo, 1, cold_writes) > 0
    _check(registry_repo)
    assert _cold_register(registry_repo, 2, cold_writes) < size // 3
    _check(registry_repo)
    assert "s3://m/killed" not in (registry_repo / PATH).read_text()
