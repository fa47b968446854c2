"""A large tree's loose object (the ``models/`` tree of a big registry) is hashed and
framed from the blocks it shares with the tree it replaces (``_stored``, #26): git must
read every such object as the tree it builds itself, after any sequence of writes."""

from __future__ import annotations

import hashlib
import random
import subprocess
import zlib
from pathlib import Path

import pytest

from gitreg.store import _commit, _odb, _repo, _stored
from tests._helpers import git, head

MODELS = 2500  # about 100 kB of models/ tree: above _odb.STORE_TREES_ABOVE


@pytest.fixture
def big(tmp_path: Path) -> Path:
    """A repository whose models/ tree is larger than one stored block, built by git."""
    root = tmp_path / "big"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    blob = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=root, input=b"v: 1\n", capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    lines = "".join(f"100644 blob {blob}\tm-{i:05d}.yaml\n" for i in range(MODELS))
    models = (
        subprocess.run(
            ["git", "mktree"], cwd=root, input=lines.encode(), capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
    )
    top = subprocess.run(
        ["git", "mktree"], cwd=root, input=f"040000 tree {models}\tmodels\n".encode(),
        capture_output=True, check=True,
    ).stdout.decode().strip()  # fmt: skip
    commit = git(root, "commit-tree", top, "-m", "many models").strip()
    git(root, "update-ref", "refs/heads/main", commit)
    git(root, "reset", "-q", "--hard")
    return root


def _loose(root: Path, oid: str) -> bytes:
    return zlib.decompress((root / ".git" / "objects" / oid[:2] / oid[2:]).read_bytes())


def test_writes_that_reuse_blocks_give_the_trees_git_gives(big):
    """Blob changes anywhere in the tree (same size: the blocks before them are reused),
    then a new model (another size: hashed whole), then more changes: each commit's tree
    is the one ``git mktree`` makes of the same listing, and fsck finds nothing wrong."""
    repo = _repo.open_repo(big)
    rng = random.Random(26)
    # First and last entries, both ends of a block, and random ones in between.
    picks = [0, MODELS - 1, _stored.BLOCK // 39, _stored.BLOCK // 39 + 1]
    picks += [rng.randrange(MODELS) for _ in range(8)]
    steps: list[dict[str, bytes | None]] = [{f"models/m-{i:05d}.yaml": b"v: %d\n" % k}
                                            for k, i in enumerate(picks)]  # fmt: skip
    steps.insert(6, {"models/m-99999.yaml": b"a new model: the tree grows\n"})
    steps.append({f"models/m-{i:05d}.yaml": b"two at once %d\n" % i for i in (3, MODELS - 3)})
    for changes in steps:
        blobs = {p: _commit.write_blob(repo, d) for p, d in changes.items() if d is not None}
        commit = _commit.commit_tree(repo, head(big), dict(blobs), "m")
        assert _repo.update_ref(repo, "refs/heads/main", commit, head(big), "test")
        tree = git(big, "rev-parse", f"{commit}:models").strip()
        listing = git(big, "ls-tree", tree)
        remade = (
            subprocess.run(
                ["git", "mktree"], cwd=big, input=listing.encode(), capture_output=True, check=True
            )
            .stdout.decode()
            .strip()
        )
        assert tree == remade
        body = subprocess.run(
            ["git", "cat-file", "tree", tree], cwd=big, capture_output=True, check=True
        ).stdout
        assert _loose(big, tree) == b"tree %d\0" % len(body) + body  # gitreg wrote it
    git(big, "fsck", "--strict", "--no-dangling")


def test_the_ids_and_streams_match_a_whole_hash_after_random_edits():
    """The block sums of a tree edited in place equal those computed from scratch, and
    its stream inflates to the object: no stale block is ever reused."""
    import hashlib

    rng = random.Random(15)
    data = bytearray(rng.randbytes(5 * _stored.BLOCK + 123))
    oid, known = _stored.sums(bytes(data))
    for _ in range(60):
        at = rng.randrange(len(data) - 20)
        data[at : at + 20] = rng.randbytes(20)
        new = bytes(data)
        oid, known = _stored.sums(new, known, at, at + 20)
        whole = b"tree %d\0" % len(new) + new
        assert oid == hashlib.sha1(whole).hexdigest()
        fresh = _stored.sums(new)[1]
        assert known.adlers == fresh.adlers
        assert known.size == fresh.size
        assert [s.hexdigest() for s in known.states] == [s.hexdigest() for s in fresh.states]
        assert zlib.decompress(_stored.stream(new, known)) == whole


def test_a_tree_made_by_replacing_an_entry_remembers_where_it_starts_to_differ(big):
    repo = _repo.open_repo(big)
    writer = _odb.TreeWriter(repo.reader, repo.objects, {})
    models = git(big, "rev-parse", "HEAD:models").strip()
    tree = writer.load(models)
    written = writer.load(writer.update(models, {"m-00100.yaml": "a" * 40}))
    assert written.sums is not None
    assert written.origin is None
    again = written.with_entry(b"m-02000.yaml", _odb.FILE_MODE, "b" * 40)
    then = again.with_entry(b"m-00500.yaml", _odb.FILE_MODE, "c" * 40)
    assert again.origin is not None
    assert then.origin is not None
    assert then.origin[1] == written.spans[b"m-00500.yaml"][0] < again.origin[1]
    assert then.origin[2] == again.origin[2] == written.spans[b"m-02000.yaml"][1]
    grown = written.with_entry(b"m-10000.yaml", _odb.FILE_MODE, "d" * 40)
    assert grown.origin is None  # another size: every offset after the new entry moved
    assert tree.sums is None  # read from git: its first write hashes it whole


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_a_tree_at_a_block_boundary_is_hashed_and_framed_whole(extra: int) -> None:
    """A tree whose size is one byte short of, exactly, or one byte past a multiple of the
    block: its id is the SHA-1 of all of it (a block count one short drops its last byte
    from the id, a corrupt object) and its stream inflates to all of it, with the same
    bytes as the stream of the same tree resumed from a neighbour's sums."""
    size = 3 * _stored.BLOCK + extra
    data = bytes(random.Random(size).getrandbits(8) for _ in range(size))
    whole = _stored.header(size) + data
    oid, known = _stored.sums(data)
    assert oid == hashlib.sha1(whole).hexdigest()
    stream = _stored.stream(data, known)
    assert zlib.decompress(stream) == whole
    assert len(known.adlers) == -(-size // _stored.BLOCK)
    changed = bytearray(data)
    changed[size // 2] ^= 0xFF  # one byte, in the middle block
    resumed, again = _stored.sums(bytes(changed), known, size // 2, size // 2 + 1)
    assert resumed == hashlib.sha1(_stored.header(size) + bytes(changed)).hexdigest()
    assert zlib.decompress(_stored.stream(bytes(changed), again))[-size:] == bytes(changed)
    assert _stored.stream(bytes(changed), again) == _stored.stream(
        bytes(changed), _stored.sums(bytes(changed))[1]
    )
