"""A cold write trusts a shared index a former write hashed, by its stat data (#26, ninth round).

The 880 kB shared index of a 10,000-model registry was hashed whole by every CLI write
(its name is its SHA-1), which loaded OpenSSL. The CLI's write path now keeps the identity
of the file it checked (path, size, inode, device, mtime and ctime) in
``.git/gitreg/shared-verified.marshal`` and trusts the same file in a later process. A
file changed in any way must be hashed again: rewritten in place with the same size, its
mtime set back, swapped for another by a rename, touched; a damaged or foreign record is
ignored. git itself (``fsck``, ``status``) and the registry's reads judge the writes.
"""

from __future__ import annotations

import mmap
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.gate.scaffold import init_registry
from gitreg.store import _split_index
from gitreg.store import memo as store_memo
from tests._helpers import git, run_probed, status

MODELS = 300


def _shared_path(repo: Path) -> Path:
    from gitreg.store import _index_write

    view = _index_write.split_view((repo / ".git" / "index").read_bytes())
    assert view is not None
    oid = next(body[:20].hex() for sig, body in view[1] if sig == b"link")
    return repo / ".git" / f"sharedindex.{oid}"


@pytest.fixture
def split(tmp_path: Path) -> Path:
    """A registry of ``MODELS`` models with a split index, settled (no file changed in the
    last clock tick: the record of a just-written file would be racy)."""
    path = tmp_path / "split"
    init_registry(path)
    Registry(path).create_model_version("m-00000", "s3://m/0")
    text = (path / "models" / "m-00000.yaml").read_text()
    for i in range(1, MODELS):
        (path / "models" / f"m-{i:05d}.yaml").write_text(text.replace("m-00000", f"m-{i:05d}"))
    git(path, "add", "-A")
    git(path, "commit", "-qm", "many models")
    git(path, "config", "core.splitIndex", "true")
    git(path, "update-index", "--split-index")
    old = time.time() - 60
    for config in (path / ".git" / "config", Path(os.environ["HOME"]) / ".gitconfig"):
        if config.exists():
            os.utime(config, (old, old))
    time.sleep(0.05)
    return path


def _fsck(repo: Path) -> None:
    proc = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_later_write_trusts_the_shared_index_a_former_one_hashed(split: Path) -> None:
    registered = []
    for k in range(1, 13):  # git may write new shared indexes at the first writes
        before = _shared_path(split)
        proc, _loaded = run_probed(split, "register", f"m-{k:05d}", f"s3://m/{k}b")
        assert proc.returncode == 0, proc.stderr
        registered.append(k)
        if _shared_path(split) != before:
            continue
        # This write read ``before`` (the clean check), hashed it and kept its identity.
        kept = store_memo.load(split / ".git" / "gitreg", "shared-verified")
        assert kept == _identity(before)
        # The next write trusts it: the 300-model tree and the small objects go to the
        # built-in SHA-1, and no OpenSSL is loaded.
        proc, loaded = run_probed(split, "alias", "m-00001", "champion", "2")
        assert proc.returncode == 0, proc.stderr
        assert "_hashlib" not in loaded
        break
    else:
        pytest.fail("git wrote a new shared index at every write")
    assert status(split) == ""
    _fsck(split)
    registry = Registry(split)
    for j in registered:
        assert registry.get_registered_model(f"m-{j:05d}").versions[-1].source == f"s3://m/{j}b"
    assert registry.get_registered_model("m-00001").aliases == {"champion": 2}


@pytest.fixture
def checked(split: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared index of ``split`` checked once by a CLI write's ``load_shared``."""
    monkeypatch.setattr(store_memo, "for_next_process", True)
    _split_index._SHARED.clear()
    shared = _shared_path(split)
    _split_index.load_shared(split / ".git", shared.name.removeprefix("sharedindex."))
    assert (split / ".git" / "gitreg" / "shared-verified.marshal").is_file()
    _split_index._SHARED.clear()  # a new process
    return shared


def _load(shared: Path) -> _split_index.Shared:
    _split_index._SHARED.clear()
    return _split_index.load_shared(shared.parent, shared.name.removeprefix("sharedindex."))


def _other_bytes(data: bytes) -> bytes:
    """Same size, same header and trailer (the name), one entry's name changed."""
    at = data.index(b"models/m-00100.yaml")
    return data[:at] + b"models/m-00100.yaml".replace(b"100", b"999") + data[at + 19 :]


class _Counted:
    """``core.sha`` as ``_split_index`` sees it, counting what it hashes."""

    def __init__(self) -> None:
        from gitreg.core import sha

        self.sizes: list[int] = []
        self._sha = sha

    def sha1(self, data: bytes = b"", *, more: int = 0):  # type: ignore[no-untyped-def]
        self.sizes.append(len(data) + more)
        return self._sha.sha1(data, more=more)


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counted = _Counted()
    monkeypatch.setattr(_split_index, "sha", counted)
    return counted.sizes


def test_the_same_file_is_trusted(checked: Path, hashed: list[int]) -> None:
    shared = _load(checked)
    assert hashed == []  # not hashed again
    assert isinstance(shared.data, mmap.mmap)  # mapped: a lookup reads a few pages
    position = shared.find(b"models/m-00100.yaml")
    assert position is not None
    listed = git(checked.parent.parent, "ls-files", "-s", "models/m-00100.yaml").split()
    assert shared.header(position)[40:60].hex() == listed[1]  # the entry git lists


def test_same_size_other_bytes_is_hashed_again(checked: Path) -> None:
    data = checked.read_bytes()
    os.chmod(checked, 0o644)
    checked.write_bytes(_other_bytes(data))
    with pytest.raises(_split_index.Refused):
        _load(checked)


def test_same_mtime_set_back_is_hashed_again(checked: Path) -> None:
    before = checked.stat()
    data = checked.read_bytes()
    os.chmod(checked, 0o644)
    checked.write_bytes(_other_bytes(data))
    os.utime(checked, ns=(before.st_atime_ns, before.st_mtime_ns))  # ctime still moves
    assert checked.stat().st_mtime_ns == before.st_mtime_ns
    with pytest.raises(_split_index.Refused):
        _load(checked)


def test_a_file_swapped_by_rename_is_hashed_again(checked: Path) -> None:
    before = checked.stat()
    other = checked.with_name("swap.tmp")
    other.write_bytes(_other_bytes(checked.read_bytes()))
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, checked)
    with pytest.raises(_split_index.Refused):
        _load(checked)


def test_a_touched_file_is_hashed_again_then_trusted(checked: Path, hashed: list[int]) -> None:
    record = checked.parent / "gitreg" / "shared-verified.marshal"
    first = record.read_bytes()
    os.utime(checked)  # as git's freshening of a shared index does
    time.sleep(0.05)  # the next check's record is not racy
    assert _load(checked).find(b"models/m-00100.yaml") is not None
    assert hashed == [checked.stat().st_size - 20]
    assert record.read_bytes() != first  # checked again: the new identity is kept
    assert _load(checked).find(b"models/m-00100.yaml") is not None
    assert len(hashed) == 1  # and trusted from then on


@pytest.mark.parametrize(
    "record", [b"", b"garbage", b"\xff" * 64, "foreign"], ids=["empty", "text", "ff", "foreign"]
)
def test_a_damaged_or_foreign_record_is_ignored(checked: Path, record: bytes | str) -> None:
    path = checked.parent / "gitreg" / "shared-verified.marshal"
    if record == "foreign":  # well formed, another file's identity, with this one's bytes
        other = checked.with_name("sharedindex." + "0" * 40)
        shutil.copyfile(checked, other)
        store_memo.save(checked.parent / "gitreg", "shared-verified", _identity(other))
        os.chmod(checked, 0o644)
        checked.write_bytes(_other_bytes(checked.read_bytes()))
    else:
        assert isinstance(record, bytes)
        path.write_bytes(record)
        os.chmod(checked, 0o644)
        checked.write_bytes(_other_bytes(checked.read_bytes()))
    with pytest.raises(_split_index.Refused):
        _load(checked)


def _identity(path: Path) -> tuple[object, ...]:
    info = path.stat()
    return (
        str(path),
        path.name.removeprefix("sharedindex."),
        info.st_size,
        info.st_ino,
        info.st_dev,
        info.st_mtime_ns,
        info.st_ctime_ns,
    )


def test_a_long_lived_process_hashes_and_keeps_nothing(split: Path) -> None:
    """Only the CLI's write path keeps (and trusts) the record: a library caller's process
    keeps its shared index in memory."""
    assert store_memo.for_next_process is False
    shared = _shared_path(split)
    _load(shared)
    assert not (split / ".git" / "gitreg" / "shared-verified.marshal").exists()


def test_a_racy_file_is_not_remembered(split: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git's racy rule: a file changed in the same clock tick as the record would be is
    hashed, and no record is kept."""
    monkeypatch.setattr(store_memo, "for_next_process", True)
    shared = _shared_path(split)
    os.utime(shared)  # just changed: its ctime is the clock's current tick
    _load(shared)
    kept = store_memo.load(split / ".git" / "gitreg", "shared-verified")
    info = shared.stat()
    if kept is not None:  # only if the clock ticked between the touch and the record
        record = (split / ".git" / "gitreg" / "shared-verified.marshal").stat()
        assert max(info.st_mtime_ns, info.st_ctime_ns) < record.st_ctime_ns
