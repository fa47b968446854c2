"""A large manifest's loose object compressed in pieces, unchanged pieces reused (#26).

The stream must be a zlib stream git inflates like any other (fsck, cat-file, clone, push,
gc all read it), equal to the blob byte for byte after any edit, and a blob id hashed once
must be git's own for any bytes given again. The thresholds are lowered here so that a
model of a few dozen versions takes the path a 5,000-version one takes.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.store import _deflate, _git
from tests._helpers import git

NAME = "churn"


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of about 1 kB from blobs of 2 kB up: a small model takes the large path."""
    monkeypatch.setattr(_deflate, "LARGE", 2048)
    monkeypatch.setattr(_deflate, "TARGET", 1024)
    monkeypatch.setattr(_deflate, "MIN_REUSE", 256)
    monkeypatch.setattr(_deflate, "PROBE", 32)
    monkeypatch.setattr(_git, "_HASHED_LARGE", 1024)


def _text(lines: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return b"".join(
        b"  - version: %d\n    source: s3://m/%d\n    stage: %s\n"
        % (k, rng.randrange(10**6), rng.choice([b"None", b"Staging", b"Archived"]))
        for k in range(lines)
    )


def _inflate(header: bytes, data: bytes, like: str | None) -> tuple[str, bytes]:
    oid = _git.blob_id(data)
    body = _deflate.deflate(oid, header, data, 1, like)
    return oid, body


@given(parts=st.lists(st.tuples(st.binary(max_size=300), st.binary(max_size=300)), max_size=8))
def test_adler_combine_is_zlibs(parts: list[tuple[bytes, bytes]]) -> None:
    for first, second in parts:
        combined = _deflate.adler_combine(zlib.adler32(first), zlib.adler32(second), len(second))
        assert combined == zlib.adler32(first + second)


edits = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "replace", "append", "head"]),
        st.floats(min_value=0, max_value=1),
        st.binary(min_size=0, max_size=400),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), steps=edits)
def test_every_stream_inflates_to_its_blob(
    seed: int, steps: list[tuple[str, float, bytes]]
) -> None:
    """Random edits in sequence, each compressed against the one before: each stream
    inflates to exactly the header and the blob, whatever was reused."""
    data = _text(400, seed)  # about 18 kB: pieces of 32 kB would be one
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_deflate, "TARGET", 1024)
        patch.setattr(_deflate, "MIN_REUSE", 256)
        patch.setattr(_deflate, "PROBE", 16)
        like = None
        for kind, where, chunk in steps:
            at = int(where * len(data))
            if kind == "insert":
                data = data[:at] + chunk + data[at:]
            elif kind == "delete":
                data = data[:at] + data[at + len(chunk) :]
            elif kind == "replace":
                data = data[:at] + chunk + data[at + len(chunk) :]
            elif kind == "append":
                data += chunk
            else:
                data = chunk + data[len(chunk) :]
            header = b"blob %d\0" % len(data)
            like, body = _inflate(header, data, like)
            assert zlib.decompress(body) == header + data


def test_unchanged_pieces_are_reused_not_compressed_again() -> None:
    data = _text(8000, 1)  # about 360 kB
    first, _body = _inflate(b"blob %d\0" % len(data), data, None)
    old_pieces = _deflate._LAYOUTS[first].pieces
    assert len(old_pieces) > 8
    # A register: the header changes, one entry is added at the end.
    changed = b"next_version: 8001\n" + data[5:] + b"  - version: 8000\n    stage: None\n"
    second, body = _inflate(b"blob %d\0" % len(changed), changed, first)
    assert zlib.decompress(body) == b"blob %d\0" % len(changed) + changed
    pieces = _deflate._LAYOUTS[second].pieces
    reused = [p for p in pieces if any(p.deflated is q.deflated for q in old_pieces)]
    assert len(reused) >= len(old_pieces) - 2  # the first and the last piece change
    # A transition in the middle: only the piece holding it is compressed again.
    middle = len(changed) // 2
    moved = changed[:middle] + changed[middle:].replace(b"stage: None", b"stage: Staging", 1)
    third, body = _inflate(b"blob %d\0" % len(moved), moved, second)
    assert zlib.decompress(body) == b"blob %d\0" % len(moved) + moved
    again = _deflate._LAYOUTS[third].pieces
    fresh = [p for p in again if not any(p.deflated is q.deflated for q in pieces)]
    assert 1 <= len(fresh) <= 2
    # Against a blob it shares nothing with, every piece is new (and the search stops).
    other = _text(8000, 99)
    assert zlib.decompress(_deflate.deflate("0" * 40, b"x\0", other, 1, third)) == b"x\0" + other
    assert not {p.deflated for p in _deflate._LAYOUTS["0" * 40].pieces} & {
        p.deflated for p in again
    }
    # Without the earlier layout, every piece is compressed: the same bytes come out.
    assert zlib.decompress(_deflate.deflate(third, b"blob\0", moved, 1, None)) == b"blob\0" + moved


def test_blob_ids_given_again_are_gits(tmp_path: Path) -> None:
    """The same bytes (another object), and other bytes of the same length, each get the
    id ``git hash-object`` gives: a remembered id is never handed to other bytes."""
    data = _text(3000, 2)
    assert len(data) >= _git._HASHED_LARGE
    other = data[:-2] + b"x\n"

    def git_id(blob: bytes) -> str:
        return (
            subprocess.run(
                ["git", "hash-object", "--stdin"], input=blob, capture_output=True, check=True
            )
            .stdout.decode()
            .strip()
        )

    assert _git.blob_id(data) == git_id(data)
    assert _git.blob_id(bytes(bytearray(data))) == git_id(data)
    assert _git.blob_id(other) == git_id(other)
    assert _git.blob_id(data) == git_id(data)
    changing = bytearray(data)  # bytes that can change are never remembered
    assert _git.blob_id(changing) == git_id(data)  # type: ignore[arg-type]
    changing[0] ^= 1
    assert _git.blob_id(changing) == git_id(bytes(changing))  # type: ignore[arg-type]


def _write_a_while(registry: Registry) -> None:
    for k in range(30):
        registry.create_model_version(NAME, f"s3://m/{k}")
    registry.transition_model_version_stage(NAME, 7, "Staging")
    registry.set_registered_model_alias(NAME, "champion", 7)
    registry.transition_model_version_stage(NAME, 3, "Production")
    registry.transition_model_version_stage(NAME, 9, "Production", True)
    registry.create_model_version(NAME, "s3://m/last")


def _fsck(root: Path) -> None:
    found = subprocess.run(["git", "fsck", "--strict"], cwd=root, capture_output=True)
    assert found.returncode == 0, found.stderr


def test_git_reads_pieced_objects_everywhere(
    small_pieces: None, registry: Registry, registry_repo: Path, tmp_path: Path
) -> None:
    """fsck, cat-file, a clone, a push and gc all read what the flat writes wrote."""
    _write_a_while(registry)
    path = f"models/{NAME}.yaml"
    on_disk = (registry_repo / path).read_bytes()
    assert len(on_disk) > 2 * _deflate.LARGE
    oid = git(registry_repo, "rev-parse", f"HEAD:{path}").strip()
    assert oid in _deflate._LAYOUTS
    assert len(_deflate._LAYOUTS[oid].pieces) > 3
    before = git(registry_repo, "rev-parse", f"HEAD~1:{path}").strip()
    old = {id(p.deflated) for p in _deflate._LAYOUTS[before].pieces}
    kept = [p for p in _deflate._LAYOUTS[oid].pieces if id(p.deflated) in old]
    assert len(kept) >= len(old) - 3  # the write reused what it did not change
    loose = registry_repo / ".git" / "objects" / oid[:2] / oid[2:]
    assert zlib.decompress(loose.read_bytes()) == b"blob %d\0" % len(on_disk) + on_disk
    _fsck(registry_repo)
    assert git(registry_repo, "cat-file", "-p", f"HEAD:{path}") == on_disk.decode()
    assert git(registry_repo, "status", "--porcelain") == ""
    every = git(registry_repo, "log", "--format=%H", "--", path).split()
    assert len(every) > 30
    for commit in every:  # each version of the manifest inflates (and matches its id)
        git(registry_repo, "cat-file", "-e", f"{commit}:{path}")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-local", str(registry_repo), str(clone))
    _fsck(clone)
    assert (clone / path).read_bytes() == on_disk
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(registry_repo, "push", "-q", str(bare), "HEAD:refs/heads/main")
    _fsck(bare)
    assert git(bare, "cat-file", "-p", f"main:{path}") == on_disk.decode()
    git(registry_repo, "gc", "-q", "--prune=now")
    _fsck(registry_repo)
    assert not loose.exists()  # packed now, and still the same blob
    assert git(registry_repo, "cat-file", "-p", f"HEAD:{path}") == on_disk.decode()
    registry.create_model_version(NAME, "s3://m/after-gc")  # its base is packed now
    _fsck(registry_repo)
    assert git(registry_repo, "status", "--porcelain") == ""


def test_a_local_write_runs_gits_auto_gc_when_git_would(
    registry: Registry, registry_repo: Path
) -> None:
    """As ``git commit`` does: with more loose objects than ``gc.auto`` allows (git counts
    them in ``objects/17``), a write without a remote packs them; below it, nothing runs."""
    registry.create_registered_model(NAME)
    objects = registry_repo / ".git" / "objects"
    # More than 8 loose in objects/17 (gc.auto / 256). The writes' own objects (a blob, two
    # trees, a commit: ids that change with the time) may land there too: the filler counts
    # leave room for all four, so neither side of the threshold depends on them.
    git(registry_repo, "config", "gc.auto", "2048")
    from gitreg.store import _odb

    def loose_in_17() -> int:
        return len(list((objects / "17").glob("*"))) if (objects / "17").exists() else 0

    # Filled up to 2: what ``gitreg init`` wrote may be there already (its workflow file's
    # blob is 1751347...).
    for k in range(100_000):
        if loose_in_17() >= 2:
            break
        data = b"filler %d\n" % k
        if _git.blob_id(data).startswith("17"):
            _odb.write_loose(objects, "blob", data)
    assert loose_in_17() == 2
    registry.create_model_version(NAME, "s3://m/below")  # at most 2 + 4, not more than 8
    assert 2 <= loose_in_17() <= 6
    assert not list((objects / "pack").glob("*.pack"))
    for k in range(100_000, 400_000):
        data = b"filler %d\n" % k
        if _git.blob_id(data).startswith("17"):
            _odb.write_loose(objects, "blob", data)
            if loose_in_17() == 9:
                break
    assert loose_in_17() == 9
    registry.create_model_version(NAME, "s3://m/above")
    assert list((objects / "pack").glob("*.pack"))
    blob = git(registry_repo, "rev-parse", f"HEAD:models/{NAME}.yaml").strip()
    assert not (objects / blob[:2] / blob[2:]).exists()  # packed (the fillers, unreachable,
    # stay loose until gc.pruneExpire)
    _fsck(registry_repo)
    assert git(registry_repo, "status", "--porcelain") == ""
    assert registry.get_model_version(NAME, 2).source == "s3://m/above"


def test_a_piece_found_again_never_overlaps_what_is_already_placed() -> None:
    """Text that repeats itself holds an old piece in more than one place: only a place
    after the pieces already laid may be reused, or bytes would come out twice."""
    unit = b"  - version: 1\n    source: s3://same\n    stage: None\n"
    data = unit * 12_000  # about 600 kB, every piece the same bytes
    first, _body = _inflate(b"blob %d\0" % len(data), data, None)
    for changed in (unit * 3 + data, data[: len(data) // 2] + b"x\n" + data[len(data) // 2 :]):
        header = b"blob %d\0" % len(changed)
        _oid, body = _inflate(header, changed, first)
        assert zlib.decompress(body) == header + changed
        placed = _deflate._LAYOUTS[_git.blob_id(changed)].pieces
        assert [p.offset for p in placed] == sorted(p.offset for p in placed)
        assert all(a.offset + a.length == b.offset for a, b in itertools.pairwise(placed))
        assert placed[-1].offset + placed[-1].length == len(changed)
