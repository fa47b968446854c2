"""A split index written in process (#26) is read by git exactly as git's own.

On a large registry gitreg keeps ``.git/index`` split (``gitreg/store/_split_index.py``):
the entries live in ``.git/sharedindex.<sha1>`` and each write rewrites only a small index
of the changed ones. Real git judges every result: ``git status``, ``git diff --cached``,
``git ls-files --stage`` against HEAD's tree, ``git write-tree``, ``git fsck``, and git's
own commands run between two gitreg writes. ``SPLIT_ABOVE`` and ``MAX_CHANGED`` are
lowered so that a registry of a few models takes the paths a 10,000-model one takes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import DirtyWorktree
from gitreg.store import _index, _index_write, _repo, _split_index
from tests._helpers import git, status


@pytest.fixture
def small_split(monkeypatch, registry_repo):
    """Split any index of more than one entry (as a 10,000-model registry's is).

    git's own threshold for a new shared index (20% of the entries changed) would fold a
    five-entry index at every write; 100 leaves that to ``MAX_CHANGED``.
    """
    monkeypatch.setattr(_index_write, "SPLIT_ABOVE", 1)
    git(registry_repo, "config", "splitIndex.maxPercentChange", "100")


def shared_files(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / ".git").glob("sharedindex.*"))


def is_split(repo: Path) -> bool:
    view = _index_write.split_view((repo / ".git" / "index").read_bytes())
    return view is not None


def assert_git_agrees(repo: Path) -> None:
    """git reads the index as HEAD's tree with the work tree's stat data: nothing to commit."""
    staged = git(repo, "ls-files", "--stage")
    committed = git(repo, "ls-tree", "-r", "HEAD")
    as_staged = "".join(
        f"{mode} {oid} 0\t{path}\n"
        for line in committed.splitlines()
        for meta, path in [line.split("\t", 1)]
        for mode, _kind, oid in [meta.split()]
    )
    assert staged == as_staged
    assert git(repo, "diff", "--cached", "--name-only") == ""
    assert status(repo) == "", status(repo)
    assert git(repo, "write-tree").strip() == git(repo, "rev-parse", "HEAD^{tree}").strip(), (
        "a stale cache tree: git write-tree trusted it"
    )
    proc = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_kind_of_change_is_written_to_a_split_index_as_git_reads_it(
    registry_repo, small_split
):
    registry = Registry(registry_repo)
    for name in ("churn", "fraud", "ltv"):
        registry.create_model_version(name, f"s3://{name}/1")  # the first splits (git)
    assert is_split(registry_repo)
    assert shared_files(registry_repo)
    registry.create_model_version("churn", "s3://churn/2")  # a replacement
    registry.set_registered_model_alias("fraud", "champion", 1)
    registry.create_model_version("zeta", "s3://zeta/1")  # an addition
    registry.create_model_version("zeta", "s3://zeta/2")  # an addition changed again
    registry.delete_registered_model("ltv")  # a shared entry deleted
    registry.delete_registered_model("zeta")  # an addition removed
    registry.create_model_version("ltv", "s3://ltv/again")  # a deleted path back
    assert is_split(registry_repo)
    assert_git_agrees(registry_repo)


def test_the_in_process_path_writes_the_small_index(registry_repo, small_split):
    registry = Registry(registry_repo)
    registry.create_model_version("churn", "s3://churn/1")
    registry.create_model_version("fraud", "s3://fraud/1")
    assert is_split(registry_repo)
    shared = shared_files(registry_repo)
    registry.create_model_version("churn", "s3://churn/2")
    repo = _repo.open_repo(registry_repo)
    data = (registry_repo / "models" / "churn.yaml").read_bytes()
    assert _index_write.update(repo, registry_repo, {"models/churn.yaml": data}) == "done"
    assert shared_files(registry_repo) == shared, "a shared index was written per write"
    assert not (registry_repo / ".git" / "index.lock").exists()
    assert_git_agrees(registry_repo)


def test_git_between_two_gitreg_writes_on_a_split_index(registry_repo, small_split):
    registry = Registry(registry_repo)
    registry.create_model_version("churn", "s3://churn/1")
    (registry_repo / "notes.txt").write_text("by hand\n")
    git(registry_repo, "add", "notes.txt")
    git(registry_repo, "commit", "-qm", "by git")
    registry.create_model_version("churn", "s3://churn/2")
    git(registry_repo, "update-index", "--split-index")  # git writes a new shared index
    registry.create_model_version("fraud", "s3://fraud/1")
    manifest = registry_repo / "models" / "fraud.yaml"
    manifest.write_text(manifest.read_text() + "# by hand\n")
    git(registry_repo, "checkout", "--", "models/fraud.yaml")  # and thrown away
    registry.create_model_version("fraud", "s3://fraud/2")
    (registry_repo / "notes.txt").unlink()
    git(registry_repo, "rm", "-q", "notes.txt")
    git(registry_repo, "commit", "-qm", "removed by git")
    registry.set_registered_model_alias("churn", "champion", 2)
    assert is_split(registry_repo)
    assert_git_agrees(registry_repo)


def test_staged_entries_are_read_from_the_split_index(registry_repo, small_split):
    registry = Registry(registry_repo)
    for name in ("churn", "fraud"):
        registry.create_model_version(name, f"s3://{name}/1")
    registry.create_model_version("churn", "s3://churn/2")  # replaced
    registry.create_model_version("ltv", "s3://ltv/1")  # added
    registry.delete_registered_model("fraud")  # deleted
    index = registry_repo / ".git" / "index"
    for path in ("models/churn.yaml", "models/ltv.yaml", "models/fraud.yaml", "gitreg.yaml"):
        out = git(registry_repo, "ls-files", "--stage", "--", path).split()
        assert _index.staged_blob(index, path) == (out[1] if out else None), path


def test_a_change_staged_by_hand_in_a_split_index_is_not_overwritten(registry_repo, small_split):
    registry = Registry(registry_repo)
    for name in ("churn", "fraud"):
        registry.create_model_version(name, f"s3://{name}/1")
    manifest = registry_repo / "models" / "churn.yaml"
    committed = manifest.read_bytes()
    manifest.write_bytes(committed + b"# edited by hand\n")
    git(registry_repo, "add", "models/churn.yaml")
    manifest.write_bytes(committed)  # the work tree matches HEAD; the index does not
    with pytest.raises(DirtyWorktree):
        registry.create_model_version("churn", "s3://churn/2")
    assert git(registry_repo, "diff", "--cached", "--name-only") == "models/churn.yaml\n"


def test_a_grown_split_part_is_folded_into_a_new_shared_index(
    registry_repo, small_split, monkeypatch
):
    monkeypatch.setattr(_split_index, "MAX_CHANGED", 2)
    registry = Registry(registry_repo)
    registry.create_model_version("churn", "s3://churn/1")
    first = shared_files(registry_repo)
    for name in ("a1", "a2", "a3", "a4"):
        registry.create_model_version(name, f"s3://{name}/1")
    assert shared_files(registry_repo) != first
    assert_git_agrees(registry_repo)


def test_core_splitindex_false_is_never_split(registry_repo, small_split):
    """A user who turned the split index off keeps a whole index, even on a large registry."""
    git(registry_repo, "config", "core.splitIndex", "false")
    registry = Registry(registry_repo)
    for name in ("churn", "fraud", "ltv"):
        registry.create_model_version(name, f"s3://{name}/1")
    assert not is_split(registry_repo)
    assert shared_files(registry_repo) == []
    assert_git_agrees(registry_repo)


def test_core_splitindex_false_after_a_split_lets_git_unsplit(registry_repo, small_split):
    registry = Registry(registry_repo)
    for name in ("churn", "fraud"):
        registry.create_model_version(name, f"s3://{name}/1")
    assert is_split(registry_repo)
    git(registry_repo, "config", "core.splitIndex", "false")
    registry.create_model_version("churn", "s3://churn/2")
    assert not is_split(registry_repo)
    assert_git_agrees(registry_repo)


def test_a_small_index_is_not_split(registry_repo):
    """Below SPLIT_ABOVE entries the index stays whole: tools that read it directly work."""
    registry = Registry(registry_repo)
    for name in ("churn", "fraud"):
        registry.create_model_version(name, f"s3://{name}/1")
    assert not is_split(registry_repo)
    assert shared_files(registry_repo) == []


def test_an_index_lock_held_by_git_is_never_taken_on_a_split_index(registry_repo, small_split):
    registry = Registry(registry_repo)
    for name in ("churn", "fraud"):
        registry.create_model_version(name, f"s3://{name}/1")
    lock = registry_repo / ".git" / "index.lock"
    lock.write_text("")
    repo = _repo.open_repo(registry_repo)
    data = (registry_repo / "models" / "churn.yaml").read_bytes()
    before = (registry_repo / ".git" / "index").read_bytes()
    assert _index_write.update(repo, registry_repo, {"models/churn.yaml": data}) == "git"
    assert lock.exists(), "another process's index.lock was removed"
    assert (registry_repo / ".git" / "index").read_bytes() == before
    lock.unlink()


def test_a_shared_index_that_is_not_the_one_named_is_left_to_git(registry_repo, small_split):
    registry = Registry(registry_repo)
    for name in ("churn", "fraud"):
        registry.create_model_version(name, f"s3://{name}/1")
    (shared,) = (registry_repo / ".git").glob("sharedindex.*")
    shared.chmod(0o644)
    shared.write_bytes(shared.read_bytes()[:-1] + b"\0")  # corrupt: git refuses it too
    _split_index._SHARED.clear()  # as a new process: nothing read yet
    _split_index._PARSED.clear()
    repo = _repo.open_repo(registry_repo)
    data = (registry_repo / "models" / "churn.yaml").read_bytes()
    before = (registry_repo / ".git" / "index").read_bytes()
    assert _index_write.update(repo, registry_repo, {"models/churn.yaml": data}) == "git"
    assert (registry_repo / ".git" / "index").read_bytes() == before


@pytest.mark.parametrize(
    "positions",
    [
        [],
        [0],
        [5, 63, 64, 65],
        list(range(130)),
        [3, 1000, 70000],
        [63, 64, 127, 128, 129, 4095, 4096],  # words next to each other and apart
        list(range(7, 10000, 37)),  # a split part's replacements across 10,000 entries
    ],
)
def test_ewah_bitmaps_round_trip(positions):
    encoded = _split_index.ewah_encode(positions)
    assert _split_index.ewah_decode(encoded, 0) == (positions, len(encoded))


def test_a_shared_index_gone_since_the_last_write_is_left_to_git(registry_repo, small_split):
    """The parse this process remembers never outlives the shared file it names."""
    registry = Registry(registry_repo)
    for name in ("churn", "fraud"):
        registry.create_model_version(name, f"s3://{name}/1")
    registry.create_model_version("churn", "s3://churn/2")  # remembered by this process
    (shared,) = (registry_repo / ".git").glob("sharedindex.*")
    shared.unlink()
    repo = _repo.open_repo(registry_repo)
    data = (registry_repo / "models" / "churn.yaml").read_bytes()
    before = (registry_repo / ".git" / "index").read_bytes()
    assert _index_write.update(repo, registry_repo, {"models/churn.yaml": data}) == "git"
    assert (registry_repo / ".git" / "index").read_bytes() == before


def test_a_name_holding_link_in_a_whole_index_is_read_as_before(registry_repo):
    """The bytes ``link`` in a path are not a split index's extension."""
    registry = Registry(registry_repo)
    registry.create_model_version("link", "s3://link/1")
    registry.create_model_version("link", "s3://link/2")
    assert not is_split(registry_repo)
    index = registry_repo / ".git" / "index"
    staged = git(registry_repo, "ls-files", "--stage", "--", "models/link.yaml").split()[1]
    assert _index.staged_blob(index, "models/link.yaml") == staged
    assert_git_agrees(registry_repo)


def test_an_index_of_version_4_is_not_split_again_at_every_write(registry_repo, small_split):
    """Version 4 (compressed names) is written whole, or left to git; never re-split per write."""
    registry = Registry(registry_repo)
    registry.create_model_version("churn", "s3://churn/1")
    git(registry_repo, "update-index", "--index-version", "4", "--split-index")
    registry.create_model_version("churn", "s3://churn/2")
    repo = _repo.open_repo(registry_repo)
    data = (registry_repo / "models" / "churn.yaml").read_bytes()
    assert _index_write.update(repo, registry_repo, {"models/churn.yaml": data}) != "split"
    registry.create_model_version("fraud", "s3://fraud/1")
    assert (registry_repo / ".git" / "index").read_bytes()[4:8] == (4).to_bytes(4, "big")
    assert_git_agrees(registry_repo)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def test_the_shared_index_is_touched_once_an_hour_not_at_every_write(registry_repo, small_split):
    """Its expiry (two weeks by default) goes by mtime: an hour-old mtime is touched, a
    newer one is left as it is (an inode update saved per write, #26)."""
    import os
    import time

    registry = Registry(registry_repo)
    for name in ("churn", "fraud"):
        registry.create_model_version(name, f"s3://{name}/1")
    (shared,) = (registry_repo / ".git").glob("sharedindex.*")
    half_an_hour_ago = time.time() - 1800
    os.utime(shared, (half_an_hour_ago, half_an_hour_ago))
    registry.create_model_version("churn", "s3://churn/2")
    assert is_split(registry_repo)
    assert _mtime(shared) == half_an_hour_ago
    two_hours_ago = time.time() - 7200
    os.utime(shared, (two_hours_ago, two_hours_ago))
    registry.create_model_version("fraud", "s3://fraud/2")
    assert _mtime(shared) > time.time() - 600
    assert_git_agrees(registry_repo)


def test_with_an_expiry_set_every_write_touches_the_shared_index(registry_repo, small_split):
    """A user who set ``splitIndex.sharedIndexExpire`` gets git's rule: touched every write."""
    import os
    import time

    git(registry_repo, "config", "splitIndex.sharedIndexExpire", "1.hour.ago")
    registry = Registry(registry_repo)
    for name in ("churn", "fraud"):
        registry.create_model_version(name, f"s3://{name}/1")
    (shared,) = (registry_repo / ".git").glob("sharedindex.*")
    ten_minutes_ago = time.time() - 600
    os.utime(shared, (ten_minutes_ago, ten_minutes_ago))
    registry.create_model_version("churn", "s3://churn/2")
    assert _mtime(shared) > ten_minutes_ago + 300
    assert_git_agrees(registry_repo)


def test_an_update_refused_halfway_leaves_the_remembered_index_correct(registry_repo, small_split):
    """The writer changes the split index it remembers in place (no copy, #26): an update
    refused after it took it leaves the index file as it was, and the next write (which
    parses the file again) is one git agrees with."""
    registry = Registry(registry_repo)
    for name in ("churn", "fraud"):
        registry.create_model_version(name, f"s3://{name}/1")
    registry.create_model_version("churn", "s3://churn/2")  # remembered by this process
    index = registry_repo / ".git" / "index"
    before = index.read_bytes()
    repo = _repo.open_repo(registry_repo)
    on_disk = (registry_repo / "models" / "fraud.yaml").read_bytes()
    # not the file just written (its size differs): refused after the parse was taken
    assert _index_write.update(repo, registry_repo, {"models/fraud.yaml": on_disk + b"#"}) == (
        "git"
    )
    assert index.read_bytes() == before
    assert_git_agrees(registry_repo)
    registry.create_model_version("fraud", "s3://fraud/2")
    registry.create_model_version("churn", "s3://churn/3")
    assert is_split(registry_repo)
    assert_git_agrees(registry_repo)


def test_the_shared_index_is_walked_to_the_entries_git_lists(registry_repo, small_split):
    """The version 2 walk (one step per name length, #26) finds every entry git wrote, for
    names of every length modulo 8 (the padding after a name is 1 to 8 NULs)."""
    registry = Registry(registry_repo)
    names = [f"m{'x' * n}" for n in range(9)]
    for name in names:
        registry.create_model_version(name, f"s3://{name}/1")
    git(registry_repo, "-c", "splitIndex.maxPercentChange=0", "update-index", "--split-index")
    view = _index_write.split_view((registry_repo / ".git" / "index").read_bytes())
    assert view is not None
    base = _split_index.parse(*view, registry_repo / ".git").base  # the one linked now
    data = (registry_repo / ".git" / f"sharedindex.{base}").read_bytes()
    count = int.from_bytes(data[8:12], "big")
    assert data[4:8] == b"\0\0\0\2"
    walked = _split_index._offsets_v2(data, count)
    assert walked == _split_index._entry_offsets(data, 2, count)
    loaded = _split_index.load_shared(registry_repo / ".git", base)
    listed = git(registry_repo, "ls-files").splitlines()
    assert [loaded.name_at(i).decode() for i in range(count)] == listed
    assert {f"models/{name}.yaml" for name in names} <= set(listed)


def test_remembered_lookups_answer_as_the_shared_index_does(registry_repo, small_split):
    """A write looks its path up in the shared index several times; the answers kept
    (#26) are the bisection's: for every entry, for names it does not hold, past the
    number kept, and after offsets found stale were walked again."""
    registry = Registry(registry_repo)
    names = [f"m{n:02d}" for n in range(80)]
    for name in names:
        registry.create_model_version(name, f"s3://{name}/1")
    git(registry_repo, "-c", "splitIndex.maxPercentChange=0", "update-index", "--split-index")
    view = _index_write.split_view((registry_repo / ".git" / "index").read_bytes())
    assert view is not None
    shared = _split_index.parse(*view, registry_repo / ".git").shared
    listed = [p.encode() for p in git(registry_repo, "ls-files").splitlines()]
    absent = [b"models/m-none.yaml", b"models/m00.yaml.bak", b"a", b"zzz"]
    for _ in range(2):  # the second time from what was kept
        assert [shared.find(name) for name in listed] == list(range(len(listed)))
        assert [shared.find(name) for name in absent] == [None] * len(absent)
    assert len(shared._found) <= _split_index._FOUND_KEEP
    # Offsets of another file (a former process's memo gone stale): walked again, the
    # kept answers dropped, and every answer still the file's.
    stale = _split_index.Shared(shared.data, shared.version, [12] * len(listed), walked=False)
    assert stale.find(listed[-1]) == len(listed) - 1
    assert [stale.find(name) for name in listed] == list(range(len(listed)))
