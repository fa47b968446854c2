"""Store parts other areas lean on, checked on real repositories and real files (#17).

``compare`` finds what ``gitreg validate`` judges (its answers must be git's own),
``secrets`` keeps the clone's private webhook secrets, and ``files`` reads the work tree
without following links, also on platforms without ``O_NOFOLLOW`` relative opens.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import (
    BadRef,
    DirtyWorktree,
    GitregError,
    InvalidManifest,
    ModelAlreadyExists,
    ModelNotFound,
    NotRegularFile,
)
from gitreg.store import compare, files, secrets
from tests._helpers import git, head

NOT_REGULAR = (
    "{path} is {what}, not a regular file; gitreg reads only regular files (git mode 100644) "
    "there: replace it with the file itself"
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "r"
    (root / "models").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "gitreg.yaml").write_text("schema_version: 1\n")
    (root / "models" / "a.yaml").write_text("a\n")
    (root / "models" / "b.yaml").write_text("b\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    return root


# ------------------------------------------------------------------ compare


def test_a_ref_resolves_to_the_commit_git_names(repo):
    assert compare.resolve_commit(repo, "main") == head(repo)
    with pytest.raises(BadRef):
        compare.resolve_commit(repo, "no-such-branch")


def test_the_prefix_is_the_registrys_directory_in_its_repository(repo):
    sub = repo / "registry"
    sub.mkdir()
    assert compare.prefix(repo) == ""
    assert compare.prefix(sub) == "registry/"


def test_changed_paths_are_every_edit_and_new_file_by_its_exact_name(repo):
    """Untracked files count, and a name that is not UTF-8 comes back byte for byte."""
    (repo / "models" / "a.yaml").write_text("edited\n")
    (repo / "models" / "new.yaml").write_text("new\n")
    odd = os.fsencode(repo / "models") + b"/\xff.yaml"
    with open(odd, "w") as f:
        f.write("odd\n")
    found = compare.changed_paths(repo, head(repo), ["models/"])
    assert found == {"models/a.yaml", "models/new.yaml", os.fsdecode(b"models/\xff.yaml")}


def test_files_at_a_commit_are_read_in_and_above_directories(repo):
    commit = head(repo)
    (repo / "models" / "a.yaml").write_text("the work tree, not the commit\n")
    wanted = ["models/a.yaml", "models/b.yaml", "gitreg.yaml", "models/absent.yaml"]
    contents, irregular = compare.read_files_at(repo, commit, wanted)
    assert contents == {
        "models/a.yaml": b"a\n",
        "models/b.yaml": b"b\n",
        "gitreg.yaml": b"schema_version: 1\n",
        "models/absent.yaml": None,
    }
    assert irregular == {}
    specs = [f"{commit}:models/b.yaml", f"{commit}:models/absent.yaml"]
    assert compare.read_at(repo, specs) == {specs[0]: b"b\n", specs[1]: None}


# ------------------------------------------------------------------ secrets


def test_secrets_are_kept_together_private_and_forgotten_one_by_one(tmp_path):
    state = tmp_path / "r" / ".git" / "gitreg"
    secrets.write(state, "HOOK_A", "one")
    secrets.write(state, "HOOK_B", "two")  # the directory is there now
    assert secrets.read_all(state) == {"HOOK_A": "one", "HOOK_B": "two"}
    path = state / secrets.FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "secrets readable by other users"
    assert json.loads(path.read_text()) == {"HOOK_A": "one", "HOOK_B": "two"}
    secrets.write(state, "HOOK_A", None)
    assert secrets.read(state, "HOOK_A") is None
    assert secrets.read(state, "HOOK_B") == "two"


def test_a_corrupt_secrets_file_is_one_line_with_the_fix(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / secrets.FILE).write_text("{not json")
    with pytest.raises(GitregError) as caught:
        secrets.read_all(state)
    assert str(caught.value) == (
        f"{state / secrets.FILE} is not valid JSON; fix or remove it and set the secrets again"
    )


# ------------------------------------------------------------------ files


@pytest.fixture
def churn(registry_repo: Path) -> Path:
    Registry(registry_repo).create_model_version("churn", "s3://m/1")
    return registry_repo


def test_a_socket_where_a_manifest_was_is_refused_with_the_fix(churn, monkeypatch):
    (churn / "models" / "churn.yaml").unlink()
    monkeypatch.chdir(churn / "models")  # a short socket path, whatever tmp_path is
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("churn.yaml")
        with pytest.raises(NotRegularFile) as caught:
            Registry(churn).get_registered_model("churn")
    what = "a special file"
    assert str(caught.value) == NOT_REGULAR.format(path="models/churn.yaml", what=what)


def test_without_nofollow_opens_each_component_is_checked_before_reading(churn, monkeypatch):
    """The path Windows takes: reads work, and a linked directory on the way is refused."""
    monkeypatch.setattr(files, "_NOFOLLOW", 0)
    assert Registry(churn).get_model_version("churn", 1).source == "s3://m/1"
    real = churn / "elsewhere"
    (churn / "models").rename(real)
    (churn / "models").symlink_to(real)
    with pytest.raises(NotRegularFile) as caught:
        files.read_regular(churn, "models/churn.yaml")
    assert str(caught.value) == NOT_REGULAR.format(path="models", what="a symbolic link")


def test_a_read_of_the_whole_registry_refuses_a_linked_manifest(churn, tmp_path):
    """The link's model is refused with the finding; the others stay readable (#22)."""
    (churn / "models" / "fraud.yaml").symlink_to(churn / "models" / "churn.yaml")
    found = Registry(churn).search_registered_models()
    assert [m.name for m in found] == ["churn"]
    [refused] = found.refused
    what = "a symbolic link"
    assert refused.path == "models/fraud.yaml"
    assert refused.findings[0].code == "NOT_A_REGULAR_FILE"
    assert refused.findings[0].message == NOT_REGULAR.format(path="models/fraud.yaml", what=what)
    with pytest.raises(InvalidManifest) as caught:  # the strict read names it
        Registry(churn).store.read_models()
    assert str(caught.value).startswith("models/fraud.yaml: NOT_A_REGULAR_FILE: ")


def test_without_nofollow_opens_the_whole_registry_is_read_too(churn, monkeypatch):
    monkeypatch.setattr(files, "_NOFOLLOW", 0)
    Registry(churn).create_model_version("fraud", "s3://f/1")
    found = Registry(churn).search_registered_models()
    assert [m.name for m in found] == ["churn", "fraud"]


def test_a_parse_cache_of_another_format_is_ignored(churn):
    """A cache left by another gitreg version must never answer for this one."""
    import marshal

    Registry(churn).search_registered_models()  # writes the cache
    path = churn / ".git" / "gitreg" / "cache.marshal"
    fmt, data = marshal.loads(path.read_bytes())
    for parsed in data.values():
        parsed["versions"][0]["source"] = "s3://from/an/old/cache"
    path.write_bytes(marshal.dumps((fmt - 1, data)))
    assert Registry(churn).search_registered_models()[0].latest_versions[0].source == "s3://m/1"


def test_a_name_that_differs_only_in_case_is_taken(churn):
    with pytest.raises(ModelAlreadyExists) as caught:
        Registry(churn).create_registered_model("CHURN")
    assert str(caught.value) == (
        "Registered Model (name=churn) already exists and differs from 'CHURN' only in case; "
        "names must be unique case-insensitively (macOS and Windows checkouts would merge them)"
    )
    assert not (churn / "models" / "CHURN.yaml").exists()


def test_a_killed_writers_ref_lock_is_cleared(churn):
    """A gitreg process killed while its git child held a branch's lock file."""
    from gitreg.store import _git

    lock = churn / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("")
    _git.clear_stale_locks(churn / ".git", wait=0)
    assert not lock.exists()


def test_a_fifo_where_a_manifest_was_is_never_read(churn):
    path = churn / "models" / "churn.yaml"
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(NotRegularFile) as caught:
        Registry(churn).get_registered_model("churn")
    assert str(caught.value) == NOT_REGULAR.format(path="models/churn.yaml", what="a FIFO")


def test_a_git_init_that_fails_says_where_and_gits_reason(tmp_path):
    from gitreg.core.errors import GitFailed
    from gitreg.gate.scaffold import init_registry

    root = tmp_path / "registry"
    with pytest.raises(GitFailed) as caught:
        init_registry(root, branch="bad..name")
    assert str(caught.value).startswith(f"git init failed in {root}: ")
    assert "invalid initial branch name" in str(caught.value)


def test_a_submodule_in_models_is_not_a_model_a_new_name_clashes_with(registry_repo):
    commit = head(registry_repo)
    git(registry_repo, "update-index", "--add", "--cacheinfo", f"160000,{commit},models/sub.yaml")
    git(registry_repo, "commit", "-qm", "A submodule where a manifest could be")
    assert Registry(registry_repo).create_registered_model("SUB").name == "SUB"


def test_the_record_of_written_manifests_keeps_only_the_newest(churn, monkeypatch):
    """A record only saves a parse: at most MAX_WRITTEN are kept, the oldest go."""
    from gitreg.store import cache

    monkeypatch.setattr(cache, "MAX_WRITTEN", 2)
    registry = Registry(churn)
    for name in ("fraud", "ranker", "search"):
        registry.create_registered_model(name)
    kept = sorted(p.name for p in (churn / ".git" / "gitreg" / "written").iterdir())
    newest = [
        git(churn, "rev-parse", f"HEAD:models/{n}.yaml").strip() for n in ("ranker", "search")
    ]
    # A record is the data (.marshal) and that gitreg checked the blob (.ok, #26).
    assert kept == sorted(f"{oid}.{kind}" for oid in newest for kind in ("marshal", "ok"))


def test_a_directory_where_a_new_manifest_goes_is_refused_with_the_fix(churn):
    (churn / "models" / "fraud.yaml").mkdir()
    with pytest.raises(DirtyWorktree) as caught:
        Registry(churn).create_registered_model("fraud")
    what = "a directory"
    assert str(caught.value).startswith(NOT_REGULAR.format(path="models/fraud.yaml", what=what))
    assert (churn / "models" / "fraud.yaml").is_dir()


def test_a_file_where_the_models_directory_was_holds_no_model(churn):
    """``models`` replaced by a file: the model is not there, as git would see it."""
    import shutil

    shutil.rmtree(churn / "models")
    (churn / "models").write_text("not a directory\n")
    with pytest.raises(ModelNotFound):
        Registry(churn).get_registered_model("churn")


def test_finishing_a_killed_write_never_writes_into_a_directory(churn):
    """Killed after its commit; before the next command, a directory took the file's place."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    env["GITREG_TEST_CRASH_AT"] = "ref-moved"
    code = "import sys; from gitreg.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["register", "churn", "s3://m/2", "--repo", str(churn)]
    killed = subprocess.run([sys.executable, "-c", code, *args], env=env, check=False)
    assert killed.returncode < 0, "the write was not killed where the test needs it"
    target = churn / "models" / "churn.yaml"
    target.unlink()
    (target / "inside").mkdir(parents=True)
    with pytest.raises(NotRegularFile) as caught:
        Registry(churn).get_registered_model("churn")
    what = "a directory"
    assert str(caught.value) == NOT_REGULAR.format(path="models/churn.yaml", what=what)
    assert (target / "inside").is_dir()


def test_the_record_of_written_manifests_is_pruned_now_and_then_and_stays_bounded(
    tmp_path, monkeypatch
):
    """Counting the records after every write cost 1 ms a write once there were 256 of
    them (#26): the count is checked on about one write in MAX_WRITTEN // 16 (chosen by
    the blob id), and the directory never holds much more than MAX_WRITTEN records."""
    import hashlib
    import os

    from gitreg.store import cache

    monkeypatch.setattr(cache, "MAX_WRITTEN", 64)  # a check every 4 writes, on average
    state = tmp_path / "gitreg"
    written = state / "written"
    listings = 0
    scandir = os.scandir

    def counting(path):
        nonlocal listings
        listings += 1
        return scandir(path)

    monkeypatch.setattr(cache.os, "scandir", counting)
    most = 0
    for i in range(600):
        oid = hashlib.sha1(b"%d" % i).hexdigest()
        cache.remember_written(state, oid, {"n": i})
        os.utime(written / f"{oid}.ok", ns=(i * 10**9, i * 10**9))  # the order they came in
        os.utime(written / f"{oid}.marshal", ns=(i * 10**9, i * 10**9))
        most = max(most, len(list(scandir(written))) // 2)
    assert 600 // 8 < listings < 600 // 2  # about one write in four
    assert 64 <= most <= 64 + 40
    newest = hashlib.sha1(b"599").hexdigest()
    assert cache.load_written(state, newest) == {"n": 599}
    assert not (written / f"{hashlib.sha1(b'0').hexdigest()}.ok").exists()  # the oldest went


def test_git_config_set_through_the_environment_is_seen_as_soon_as_it_changes(
    registry_repo, monkeypatch
):
    """The cached ``git config --list`` is keyed by the variables git reads, looked up one
    by one (#26): a setting CI passes as GIT_CONFIG_COUNT/KEY/VALUE or
    GIT_CONFIG_PARAMETERS is seen, and a changed value is read again."""
    from gitreg.store import _git

    assert "gitreg.probe" not in _git.git_config(registry_repo)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "2")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "gitreg.other")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "0")
    monkeypatch.setenv("GIT_CONFIG_KEY_1", "gitreg.probe")
    monkeypatch.setenv("GIT_CONFIG_VALUE_1", "yes")
    assert _git.git_config(registry_repo)["gitreg.probe"] == "yes"
    monkeypatch.setenv("GIT_CONFIG_VALUE_1", "no")  # the last pair changes: read again
    assert _git.git_config(registry_repo)["gitreg.probe"] == "no"
    monkeypatch.delenv("GIT_CONFIG_COUNT")
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'gitreg.probe'='given'")
    assert _git.git_config(registry_repo)["gitreg.probe"] == "given"
    monkeypatch.delenv("GIT_CONFIG_PARAMETERS")
    assert "gitreg.probe" not in _git.git_config(registry_repo)


def test_a_write_reads_small_blobs_it_knows_without_asking_git(churn, monkeypatch):
    """gitreg.yaml and the manifest a write just made are kept by blob id (content
    addressed, #26): the next write of the same model asks ``cat-file`` for neither, and
    what it reads is what git holds."""
    from gitreg.store import _odb

    registry = Registry(churn)
    registry.create_registered_model("kept")
    registry.create_model_version("kept", "s3://b/1", run_id="1" * 32)
    asked: list[str] = []
    read = _odb.Reader.read

    def counting(self, spec):
        asked.append(spec)
        return read(self, spec)

    monkeypatch.setattr(_odb.Reader, "read", counting)
    registry.create_model_version("kept", "s3://b/2", run_id="2" * 32)
    blobs = {git(churn, "rev-parse", f"HEAD~1:{p}").strip() for p in
             ("gitreg.yaml", "models/kept.yaml")}  # fmt: skip
    assert not blobs & set(asked)
    assert registry.get_model_version("kept", 2).source == "s3://b/2"
    assert git(churn, "show", "HEAD:models/kept.yaml") == (churn / "models/kept.yaml").read_text()


def test_a_blob_is_read_from_the_work_tree_only_when_it_is_that_blob(churn, monkeypatch):
    """A write reads the manifest it changes from the work tree when the file there hashes
    to the committed blob (#26): no ``cat-file`` round trip. An edited file, or a link in
    its place, is never taken for the blob: git's copy is read."""
    from gitreg.store import _odb, _repo

    committed = git(churn, "show", "HEAD:models/churn.yaml").encode()
    asked: list[str] = []
    read = _odb.Reader.read

    def counting(self, spec):
        asked.append(spec)
        return read(self, spec)

    monkeypatch.setattr(_odb.Reader, "read", counting)
    blob = git(churn, "rev-parse", "HEAD:models/churn.yaml").strip()
    repo = _repo.open_repo(churn)
    assert _repo.read_blob(repo, head(churn), "models/churn.yaml") == committed
    assert blob not in asked

    for how in ("edited", "a link"):
        repo = _repo.open_repo(churn)  # nothing remembered
        target = churn / "models" / "churn.yaml"
        target.unlink()
        if how == "edited":
            target.write_bytes(committed + b"# edited\n")
        else:
            (churn / "elsewhere.yaml").write_bytes(committed)
            target.symlink_to(churn / "elsewhere.yaml")
        asked.clear()
        assert _repo.read_blob(repo, head(churn), "models/churn.yaml") == committed, how
        assert blob in asked, how
        target.unlink()
        target.write_bytes(committed)

    Registry(churn).create_model_version("churn", "s3://b/9", run_id="9" * 32)
    assert git(churn, "status", "--porcelain", "--untracked-files=no") == ""
