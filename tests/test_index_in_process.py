"""Index entries written in process (#26) are exactly what git would have written.

``gitreg/store/_index_write.py`` replaces ``git update-index`` after a write. Real git
judges the result: ``git status`` is clean, ``git fsck`` is happy, ``git write-tree``
(which trusts the cache tree wherever it is not invalidated) gives HEAD's tree, for index
versions 2, 3 and 4; the cases it refuses (untracked cache, a gitattributes file) are left
to git and are just as clean. A split index has its own tests (``test_split_index.py``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.store import _index_write, _repo
from tests._helpers import git, status


def fsck(repo: Path) -> None:
    proc = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def assert_git_agrees(repo: Path) -> None:
    assert status(repo) == "", status(repo)
    assert git(repo, "diff-index", "--cached", "HEAD") == ""
    assert git(repo, "write-tree").strip() == git(repo, "rev-parse", "HEAD^{tree}").strip(), (
        "the cache tree kept a stale entry: git write-tree trusted it"
    )
    fsck(repo)


def writes(repo: Path) -> None:
    registry = Registry(repo)
    registry.create_model_version("churn", "s3://churn/1")  # a new file: an insert
    registry.create_model_version("churn", "s3://churn/2")  # a changed file
    registry.create_model_version("fraud", "s3://fraud/1")
    registry.set_registered_model_alias("churn", "champion", 2)
    registry.delete_registered_model("fraud")  # a removal


@pytest.mark.parametrize("version", [2, 3, 4])
def test_each_index_version_is_written_as_git_reads_it(registry_repo, version):
    git(registry_repo, "update-index", "--index-version", str(version))
    git(registry_repo, "write-tree")  # a full cache tree, so invalidation is tested
    before = (registry_repo / ".git" / "index").read_bytes()
    writes(registry_repo)
    after = (registry_repo / ".git" / "index").read_bytes()
    assert after != before
    # git keeps 4, and demotes 3 to 2 while no entry needs version 3's flags: so does gitreg.
    assert after[4:8] == before[4:8] == (2 if version == 3 else version).to_bytes(4, "big")
    assert_git_agrees(registry_repo)
    staged = git(registry_repo, "ls-files", "-s", "models/churn.yaml").split()[1]
    assert staged == git(registry_repo, "rev-parse", "HEAD:models/churn.yaml").strip()
    # git itself carries on from what was written: a commit of its own, then ours again.
    (registry_repo / "notes.txt").write_text("n\n")
    git(registry_repo, "add", "notes.txt")
    git(registry_repo, "commit", "-qm", "by git")
    Registry(registry_repo).create_model_version("churn", "s3://churn/3")
    assert_git_agrees(registry_repo)


def test_the_in_process_path_is_taken_for_a_plain_index(registry_repo):
    repo = _repo.open_repo(registry_repo)
    assert _index_write.eligible(repo, registry_repo)
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    data = (registry_repo / "models" / "churn.yaml").read_bytes()
    changes = {"models/churn.yaml": data}
    assert _index_write.update(repo, registry_repo, changes) == "done"
    assert not (registry_repo / ".git" / "index.lock").exists()
    assert_git_agrees(registry_repo)


@pytest.mark.parametrize(
    "setup",
    [
        ["update-index", "--untracked-cache"],
        ["config", "core.autocrlf", "true"],
    ],
    ids=["untracked-cache", "autocrlf"],
)
def test_what_the_fast_path_refuses_is_left_to_git(registry_repo, setup):
    git(registry_repo, *setup)
    git(registry_repo, "status", "--porcelain")  # writes the untracked cache when enabled
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    repo = _repo.open_repo(registry_repo)
    data = (registry_repo / "models" / "churn.yaml").read_bytes()
    before = (registry_repo / ".git" / "index").read_bytes()
    assert _index_write.update(repo, registry_repo, {"models/churn.yaml": data}) == "git"
    assert (registry_repo / ".git" / "index").read_bytes() == before, "refused, yet written"
    assert not (registry_repo / ".git" / "index.lock").exists()
    writes(registry_repo)
    assert_git_agrees(registry_repo)


def test_a_gitattributes_file_leaves_the_index_to_git(registry_repo):
    (registry_repo / ".gitattributes").write_text("*.yaml text\n")
    git(registry_repo, "add", ".gitattributes")
    git(registry_repo, "commit", "-qm", "attributes")
    repo = _repo.open_repo(registry_repo)
    assert not _index_write.eligible(repo, registry_repo)
    writes(registry_repo)
    assert_git_agrees(registry_repo)


def test_an_index_lock_held_by_git_is_never_taken(registry_repo):
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    lock = registry_repo / ".git" / "index.lock"
    lock.write_text("")
    repo = _repo.open_repo(registry_repo)
    data = (registry_repo / "models" / "churn.yaml").read_bytes()
    assert _index_write.update(repo, registry_repo, {"models/churn.yaml": data}) == "git"
    assert lock.exists(), "another process's index.lock was removed"
    lock.unlink()


def test_a_large_index_is_rewritten_in_place_or_left_to_git(registry_repo, monkeypatch):
    """Above MAX_ENTRIES a changed file is rewritten where it sits; inserts go to git."""
    monkeypatch.setattr(_index_write, "MAX_ENTRIES", 1)
    writes(registry_repo)
    assert_git_agrees(registry_repo)
