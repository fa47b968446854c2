"""A rebuild reads refs in process only where git's answer is certain (#26).

``store.ref_lookup`` answers that a ref is unset, HEAD's commit and a commit's parent from
the files git keeps; every answer is checked here against git itself (``rev-parse``,
``merge-base``) in real repositories: loose and packed refs, a name git's revision rules
would find elsewhere (``refs/heads/refs/gitreg/verified``), a detached HEAD, grafts, and a
repository whose config names an extension (then git is asked). A rebuild after one commit
starts no git process for an unset ref, HEAD or the parent, and writes the same site.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.site import build
from gitreg.store import comments, ref_lookup, verified
from tests._helpers import git
from tests._site import registry_and_clone
from tests.test_site_incremental import same_as_full

original, work = registry_and_clone("rebuild-refs")
REFS = (
    "refs/gitreg/verified",
    "refs/gitreg/comments",
    "refs/gitreg/fetched/comments",
    "refs/notes/gitreg/approvals",
    "refs/heads/main",
)


def _git_finds(repo: Path, ref: str) -> bool:
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for i in range(3):
        (root / "f.txt").write_text(f"{i}\n")
        git(root, "add", "f.txt")
        git(root, "commit", "-q", "-m", f"c{i}")
    return root


def _agrees(repo: Path) -> None:
    """``absent`` says True only for refs git does not find (and does for those unset)."""
    for ref in REFS:
        if ref_lookup.absent(repo, ref):
            assert not _git_finds(repo, ref), ref
    assert ref_lookup.head_commit(repo) == git(repo, "rev-parse", "HEAD").strip()


def test_unset_refs_are_absent_and_set_ones_are_not(repo):
    assert ref_lookup.absent(repo, "refs/gitreg/verified")
    assert not ref_lookup.absent(repo, "refs/heads/main")
    _agrees(repo)
    git(repo, "update-ref", "refs/gitreg/verified", "HEAD~1")
    assert not ref_lookup.absent(repo, "refs/gitreg/verified")
    assert verified.read_verified(repo) == git(repo, "rev-parse", "HEAD~1").strip()
    _agrees(repo)


def test_packed_refs_are_read(repo):
    git(repo, "update-ref", "refs/gitreg/comments", "HEAD~2")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "gitreg" / "comments").exists()
    assert not ref_lookup.absent(repo, "refs/gitreg/comments")
    assert comments.tip(repo) == git(repo, "rev-parse", "HEAD~2").strip()
    assert ref_lookup.head_commit(repo) == git(repo, "rev-parse", "HEAD").strip()
    _agrees(repo)


@pytest.mark.parametrize("packed", [False, True])
def test_a_name_git_finds_under_another_prefix_is_not_absent(repo, packed):
    """``rev-parse refs/gitreg/verified`` also finds a branch called ``refs/gitreg/verified``
    (git's revision rules): such a clone is git's to answer."""
    git(repo, "update-ref", "refs/heads/refs/gitreg/verified", "HEAD")
    if packed:
        git(repo, "pack-refs", "--all")
    assert _git_finds(repo, "refs/gitreg/verified")
    assert not ref_lookup.absent(repo, "refs/gitreg/verified")
    assert verified.read_verified(repo) == git(repo, "rev-parse", "HEAD").strip()


def test_a_detached_head_and_a_packed_branch(repo):
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert ref_lookup.head_commit(repo) == git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert ref_lookup.head_commit(repo) == git(repo, "rev-parse", "HEAD").strip()


def test_a_config_with_an_extension_or_a_moved_git_dir_is_left_to_git(repo, monkeypatch):
    git(repo, "config", "extensions.noop", "true")
    assert not ref_lookup.absent(repo, "refs/gitreg/verified")
    assert ref_lookup.head_commit(repo) is None
    assert verified.read_verified(repo) is None  # git's answer, as before
    git(repo, "config", "--unset", "extensions.noop")
    assert ref_lookup.absent(repo, "refs/gitreg/verified")
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    assert not ref_lookup.absent(repo, "refs/gitreg/verified")
    assert ref_lookup.head_commit(repo) is None


def test_names_git_reads_specially_are_never_answered(repo):
    for ref in ("refs/gitreg/verified^", "refs/gitreg/../heads/main", "refs/x.lock", "HEAD"):
        assert not ref_lookup.absent(repo, ref)


def test_a_parent_is_read_from_the_commit_and_nothing_else_is_claimed(repo):
    head, parent, grand = (git(repo, "rev-parse", r).strip() for r in ("HEAD", "HEAD~1", "HEAD~2"))
    assert ref_lookup.is_parent(repo, parent, head)
    assert not ref_lookup.is_parent(repo, grand, head)  # an ancestor, not a parent: git's
    assert not ref_lookup.is_parent(repo, head, parent)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "grafts").write_text(f"{head}\n")  # git now sees no parent
    assert not ref_lookup.is_parent(repo, parent, head)


def test_a_rebuild_after_one_commit_asks_git_nothing_about_refs(work, tmp_path, monkeypatch):
    """The rebuild's unset refs, HEAD and the recorded commit's descent are read in process;
    the site is byte for byte a full build's."""
    out = tmp_path / "out"
    build(Registry(work), out)
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    spawned: list[list[str]] = []
    real = subprocess.Popen.__init__

    def spy(self: subprocess.Popen[bytes], args: list[str], *a: object, **k: object) -> None:
        spawned.append(list(args))
        real(self, args, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(subprocess.Popen, "__init__", spy)
    report = build(Registry(work), out)
    monkeypatch.undo()
    assert (report.rendered, report.incremental) == (1, True)
    asked = [a[1:] for a in spawned if a and a[0] == "git"]
    assert asked  # the history since the last build is still git's to walk
    names = [a[-1] for a in asked if a[0] == "rev-parse"]
    assert not [n for n in names if n.startswith(("refs/", "HEAD"))], asked
    assert not [a for a in asked if a[0] == "merge-base"], asked
    same_as_full(work, out, tmp_path)
