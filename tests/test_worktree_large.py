"""A large manifest in the work tree: exchanged into place, and checked clean by its stat
data (#26).

A write replaces a manifest of 256 kB or more by exchanging it with its new version
(``renameat2(RENAME_EXCHANGE)``, ``gitreg/store/_swap.py``) and unlinking the old one, and
the next write of the same process trusts the file's stat data (inode, size, mtime, ctime)
instead of reading and hashing it, as git trusts its index (racily clean entries are read).
What users rely on is checked here on real repositories and real processes: a reader never
sees half a manifest, a writer killed between the exchange and the unlink is finished by
the next command, and an edit in the work tree is never overwritten, whatever its size and
whatever mtime it was given back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from gitreg import Registry
from gitreg.core import manifest
from gitreg.core.errors import DirtyWorktree
from gitreg.store import _swap, worktree
from tests._helpers import git, head, status
from tests.test_write_path import gitreg_process

MANIFEST = "models/churn.yaml"
VERSIONS = 1800  # about 290 kB: above _swap.LARGE, as a model with 5,000 versions is


@pytest.fixture
def long_repo(registry_repo: Path) -> Path:
    """A registry whose model ``churn`` has 1,800 versions (one commit, as a bulk import)."""
    Registry(registry_repo).create_model_version("churn", "s3://churn/1", description="first")
    data = yaml.safe_load((registry_repo / MANIFEST).read_text("utf-8"))
    first = data["versions"][0]
    data["versions"] = [
        {**first, "version": k, "source": f"s3://churn/{k}", "description": f"run {k:06d}"}
        for k in range(1, VERSIONS + 1)
    ]
    data["next_version"] = VERSIONS + 1
    (registry_repo / MANIFEST).write_text(manifest.dump(data), "utf-8")
    git(registry_repo, "commit", "-qam", "Import 1,800 versions of churn")
    assert (registry_repo / MANIFEST).stat().st_size >= _swap.LARGE
    return registry_repo


def _stray_files(repo: Path) -> list[str]:
    return sorted(p.name for p in (repo / "models").iterdir() if p.name.endswith(".tmp"))


# ------------------------------------------------------------------ the exchange


def test_a_large_manifest_is_replaced_whole_and_the_old_file_is_gone(long_repo: Path) -> None:
    registry = Registry(long_repo)
    before = (long_repo / MANIFEST).stat()
    registry.create_model_version("churn", "s3://churn/new")
    after = (long_repo / MANIFEST).stat()
    assert after.st_ino != before.st_ino, "the manifest was not replaced by a new file"
    assert git(long_repo, "show", f"HEAD:{MANIFEST}") == (long_repo / MANIFEST).read_text("utf-8")
    assert _stray_files(long_repo) == [], "the old manifest was left under its temporary name"
    assert after.st_mode & 0o777 == 0o666 & ~_umask(), "not the mode git gives a checkout"
    assert status(long_repo) == ""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_reader_sees_the_old_or_the_new_manifest_never_half(long_repo: Path) -> None:
    """A reader opening the manifest while writes exchange it gets one whole text."""
    registry = Registry(long_repo)
    committed = {git(long_repo, "show", f"HEAD:{MANIFEST}")}
    stop = threading.Event()
    seen: list[str] = []

    def read() -> None:
        while not stop.is_set():
            seen.append((long_repo / MANIFEST).read_text("utf-8"))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for k in range(6):
            registry.create_model_version("churn", f"s3://churn/r{k}")
            committed.add(git(long_repo, "show", f"HEAD:{MANIFEST}"))
    finally:
        stop.set()
        reader.join()
    assert seen, "the reader never ran"
    torn = [len(text) for text in seen if text not in committed]
    assert torn == [], f"a reader saw a manifest no commit holds ({len(torn)} reads)"


def test_a_writer_killed_between_the_exchange_and_the_unlink_is_finished(
    long_repo: Path,
) -> None:
    """Killed with the new manifest in place and the old one under its temporary name: the
    next command removes the old one and finishes the write (index included)."""
    before = head(long_repo)
    killed = gitreg_process(
        long_repo, "register", "churn", "s3://churn/killed", crash_at="worktree-exchanged"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert head(long_repo) != before, "the kill did not land after the branch moved"
    strays = _stray_files(long_repo)
    assert len(strays) == 1, "the kill did not land between the exchange and the unlink"
    old = (long_repo / "models" / strays[0]).read_text("utf-8")
    assert old == git(long_repo, "show", f"{before}:{MANIFEST}"), "not the old manifest"
    versions = Registry(long_repo).search_model_versions("name='churn'", max_results=2000)
    assert len(versions) == VERSIONS + 1
    assert _stray_files(long_repo) == [], "recovery left the old manifest behind"
    assert status(long_repo) == "", f"work tree or index not finished:\n{status(long_repo)}"
    Registry(long_repo).create_model_version("churn", "s3://churn/after")
    assert status(long_repo) == ""


def test_the_rename_is_kept_where_the_exchange_is_refused(
    long_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No renameat2 (another OS, an old libc): the rename, same result."""
    monkeypatch.setattr(_swap, "_call", [None])
    Registry(long_repo).create_model_version("churn", "s3://churn/renamed")
    assert _stray_files(long_repo) == []
    assert status(long_repo) == ""
    assert "s3://churn/renamed" in (long_repo / MANIFEST).read_text("utf-8")


def test_a_filesystem_refusing_the_exchange_falls_back_to_the_rename(tmp_path: Path) -> None:
    """EINVAL from renameat2 (a filesystem without RENAME_EXCHANGE): renamed instead, and
    the filesystem is not asked again by this process."""
    target = tmp_path / "m.yaml"
    target.write_bytes(b"old\n")
    calls: list[bytes] = []

    def refuse(old: bytes, new: bytes) -> int:
        import ctypes

        calls.append(new)
        ctypes.set_errno(22)  # EINVAL
        return -1

    data = b"x" * _swap.LARGE
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_swap, "_call", [refuse])
        patch.setattr(_swap, "_refused", set())
        _swap.write(target, data)
        assert target.read_bytes() == data
        _swap.write(target, data + b"y")
        assert target.read_bytes() == data + b"y"
    assert len(calls) == 1, "a filesystem that refused the exchange was asked again"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]


def test_a_new_large_file_is_created(tmp_path: Path) -> None:
    """Nothing to exchange with (a model imported large): the file is renamed into place."""
    target = tmp_path / "new.yaml"
    _swap.write(target, b"z" * _swap.LARGE)
    assert target.read_bytes() == b"z" * _swap.LARGE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.yaml"]


@pytest.mark.parametrize(
    ("value", "hardened"),
    [
        ("", False),
        ("committed,-loose-object", False),  # git's default
        ("reference,index", False),
        ("committed", True),
        ("objects", True),
        ("loose-object", True),
        ("all", True),
        ("added", True),
        ("all,-loose-object", False),
        ("loose-object,none", False),
        ("none,objects", True),
    ],
)
def test_core_fsync_decides_whether_the_flush_is_kept(value: str, hardened: bool) -> None:
    assert _swap.hardens_objects({"core.fsync": value}) is hardened


def test_a_repository_hardening_loose_objects_keeps_the_rename(long_repo: Path) -> None:
    """core.fsync asks git to harden loose objects: the work-tree file is renamed (ext4
    flushes it first), no exchange."""
    git(long_repo, "config", "core.fsync", "committed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_swap, "_call", [_forbidden])
        Registry(long_repo).create_model_version("churn", "s3://churn/hardened")
    assert status(long_repo) == ""
    assert _swap.hardens_objects({"core.fsyncobjectfiles": "true"})


def _forbidden(old: bytes, new: bytes) -> int:
    raise AssertionError("exchanged although core.fsync hardens loose objects")


# ------------------------------------------------------------------ the clean check


def _written_and_trusted(registry: Registry, repo: Path, source: str) -> None:
    """A write, then the stat data it recorded is what the next clean check trusts."""
    for attempt in range(20):  # racily clean (the same clock tick as the index): again
        registry.create_model_version("churn", f"{source}-{attempt}")
        if (os.fspath(repo), MANIFEST) in worktree._SEEN:
            return
    pytest.fail("no write left trusted stat data in 20 attempts")


def _same_size_edit(path: Path) -> None:
    text = path.read_text("utf-8")
    edited = text.replace("description: run 000007", "description: RUN 000007")
    assert edited != text
    assert len(edited) == len(text)
    path.write_text(edited, "utf-8")


def test_an_edit_of_another_size_is_refused(long_repo: Path) -> None:
    registry = Registry(long_repo)
    _written_and_trusted(registry, long_repo, "s3://churn/a")
    path = long_repo / MANIFEST
    path.write_text(path.read_text("utf-8") + "# mine\n", "utf-8")
    with pytest.raises(DirtyWorktree, match="uncommitted changes"):
        registry.create_model_version("churn", "s3://churn/b")
    assert path.read_text("utf-8").endswith("# mine\n"), "the user's edit was overwritten"


def test_an_edit_keeping_size_and_mtime_is_refused(long_repo: Path) -> None:
    """The same size, the old mtime given back (``touch -r``): the change time moved."""
    registry = Registry(long_repo)
    _written_and_trusted(registry, long_repo, "s3://churn/a")
    path = long_repo / MANIFEST
    before = path.stat()
    _same_size_edit(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    with pytest.raises(DirtyWorktree, match="uncommitted changes"):
        registry.create_model_version("churn", "s3://churn/b")
    assert "RUN 000007" in path.read_text("utf-8"), "the user's edit was overwritten"


def test_a_file_replaced_by_another_process_is_read_again(long_repo: Path) -> None:
    """Another tool rewrote the manifest with the same bytes (a new file): it is read, found
    clean, and the write goes on."""
    registry = Registry(long_repo)
    _written_and_trusted(registry, long_repo, "s3://churn/a")
    path = long_repo / MANIFEST
    copy = long_repo / "models" / ".copy"
    copy.write_bytes(path.read_bytes())
    os.replace(copy, path)
    registry.create_model_version("churn", "s3://churn/b")
    assert status(long_repo) == ""


def test_a_racily_clean_file_is_read(long_repo: Path) -> None:
    """git's racy rule: stat data not older than the index written after it is not
    trusted, so an edit in that clock tick is still found (by reading the file)."""
    registry = Registry(long_repo)
    registry.create_model_version("churn", "s3://churn/a")
    path = long_repo / MANIFEST
    info = path.stat()
    oid = git(long_repo, "rev-parse", f"HEAD:{MANIFEST}").strip()
    worktree._SEEN.clear()
    written = {MANIFEST: (path.read_bytes(), info)}
    fence = os.stat(long_repo / ".git")
    worktree._remember(long_repo, written, _like(fence, info.st_dev, info.st_ctime_ns))
    assert worktree._SEEN == {}, "a racily clean file's stat data was trusted"
    worktree._remember(long_repo, written, _like(fence, info.st_dev + 1, info.st_ctime_ns + 1))
    assert worktree._SEEN == {}, "times of another filesystem (another clock) were compared"
    worktree._remember(long_repo, written, _like(fence, info.st_dev, info.st_ctime_ns + 1))
    assert worktree._SEEN[(os.fspath(long_repo), MANIFEST)][0] == oid
    _same_size_edit(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    with pytest.raises(DirtyWorktree):
        registry.create_model_version("churn", "s3://churn/b")


def _like(info: os.stat_result, device: int, ctime_ns: int) -> os.stat_result:
    """``info`` as if taken on ``device`` at ``ctime_ns``."""
    fields = {name: getattr(info, name) for name in dir(info) if name.startswith("st_")}
    values = list(info)
    values[2] = device  # st_dev, a field of the tuple; the _ns times are not
    return os.stat_result(values, {**fields, "st_ctime_ns": ctime_ns})


def test_a_deleted_manifest_is_refused(long_repo: Path) -> None:
    registry = Registry(long_repo)
    _written_and_trusted(registry, long_repo, "s3://churn/a")
    (long_repo / MANIFEST).unlink()
    with pytest.raises(DirtyWorktree):
        registry.create_model_version("churn", "s3://churn/b")


def test_a_stream_in_more_parts_than_one_writev_takes_is_written_whole(tmp_path: Path) -> None:
    """A large blob's loose object is written from its compressed pieces (no join): past
    IOV_MAX parts, the rest follow the first writev in order."""
    from gitreg.store import _odb

    parts: list[bytes | memoryview] = [b"%05d|" % k for k in range(1500)]
    parts[7] = memoryview(b"a view|")
    target = tmp_path / "stream"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        _odb._write_all(fd, parts)
    finally:
        os.close(fd)
    assert target.read_bytes() == b"".join(parts)


def test_the_exchange_needs_no_ctypes_package(tmp_path: Path) -> None:
    """A fresh process exchanges a large file through ``_ctypes`` alone: the ``ctypes``
    package (1.3 ms of a cold write's imports, #26) is not loaded, and a refused exchange
    still reads the C library's errno (ENOENT: no file to exchange with)."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from gitreg.store import _swap\n"
        "target = Path(sys.argv[1])\n"
        "target.write_bytes(b'old')\n"
        "_swap.write(target, b'a' * _swap.LARGE)\n"
        "assert _swap._call and _swap._call[0] is not None, 'renameat2 not found'\n"
        "assert 'ctypes' not in sys.modules, 'the ctypes package was loaded'\n"
        "assert target.read_bytes() == b'a' * _swap.LARGE\n"
        "new = target.with_name('new.yaml')\n"
        "_swap.write(new, b'b' * _swap.LARGE)\n"
        "assert new.read_bytes() == b'b' * _swap.LARGE\n"
        "assert _swap._errno() == 2\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "m.yaml")], capture_output=True, text=True
    )
    assert found.returncode == 0, found.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml", "new.yaml"]
