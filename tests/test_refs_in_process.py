"""Branches moved in process (#26) keep git's own rules, checked against real git.

``gitreg/store/_refs.py`` does what ``git update-ref`` does for a loose ref: the lock file,
the compare under it, the reflog line, the rename. These tests hold it to git: ``git fsck``
and ``git reflog`` read what it wrote, a lock git holds is respected, packed refs are read,
and a real ``git update-ref`` / ``git commit`` racing it from another process never loses
an update (one side loses the compare-and-swap, visibly).
"""

from __future__ import annotations

import itertools
import subprocess
import threading
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import ConcurrentUpdate, GitregError
from gitreg.store import _refs, _repo
from tests._helpers import git, head, status


def fsck(repo: Path) -> None:
    proc = subprocess.run(
        ["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error" not in proc.stderr.lower(), proc.stderr


def new_commit(repo: Path, parent: str, label: str) -> str:
    tree = git(repo, "rev-parse", f"{parent}^{{tree}}").strip()
    return git(repo, "commit-tree", tree, "-p", parent, "-m", label).strip()


def test_a_write_moves_the_branch_in_process_and_git_reads_it_all_back(registry_repo):
    registry = Registry(registry_repo)
    registry.create_model_version("churn", "s3://churn/1")
    registry.create_model_version("churn", "s3://churn/2")
    fsck(registry_repo)
    assert status(registry_repo) == ""
    # Both reflogs git keeps for a branch HEAD points at, in git's own format.
    for name in ("main", "HEAD"):
        subjects = git(registry_repo, "reflog", "--format=%gs", name).splitlines()
        assert subjects[:2] == [
            "gitreg: Register churn version 2",
            "gitreg: Register churn version 1",
        ], name
    ours = (registry_repo / ".git" / "logs" / "refs" / "heads" / "main").read_text().splitlines()
    old, new, rest = ours[-1].split(" ", 2)
    assert new == head(registry_repo)
    assert old == git(registry_repo, "rev-parse", "HEAD~1").strip()
    who, _, message = rest.partition("\t")
    assert who.startswith("Alice Example <alice@example.com> ")
    assert message == "gitreg: Register churn version 2"
    # The line git itself would have written, byte for byte but the time.
    tip = head(registry_repo)
    child = new_commit(registry_repo, tip, "by git")
    git(registry_repo, "update-ref", "-m", "by  git\n\nbody", "refs/heads/main", child, tip)
    theirs = (registry_repo / ".git" / "logs" / "refs" / "heads" / "main").read_text()
    git_line = theirs.splitlines()[-1]
    repo = _repo.open_repo(registry_repo)
    grand = new_commit(registry_repo, child, "by gitreg")
    assert _refs.update_ref(repo, "refs/heads/main", grand, child, "by  git\n\nbody") is True
    our_line = (
        (registry_repo / ".git" / "logs" / "refs" / "heads" / "main").read_text().splitlines()[-1]
    )

    def shape(line: str) -> list[str]:
        fields, _, message = line.partition("\t")
        parts = fields.split(" ")
        return [*parts[2:-2], parts[-1], message]  # identity, zone and message

    assert shape(our_line) == shape(git_line)
    assert our_line.split("\t")[1] == "by git body"
    git(registry_repo, "reset", "-q", "--hard", tip)


def test_a_packed_branch_is_read_and_compared_under_the_lock(registry_repo):
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    git(registry_repo, "pack-refs", "--all")
    loose = registry_repo / ".git" / "refs" / "heads" / "main"
    assert not loose.exists()
    repo = _repo.open_repo(registry_repo)
    tip = head(registry_repo)
    child = new_commit(registry_repo, tip, "next")
    assert _refs.update_ref(repo, "refs/heads/main", child, "1" * 40, "stale") is False
    assert not loose.exists(), "a refused update must leave the ref as it was"
    assert _refs.update_ref(repo, "refs/heads/main", child, tip, "on packed") is True
    assert git(registry_repo, "rev-parse", "main").strip() == child
    fsck(registry_repo)
    git(registry_repo, "reset", "-q", "--hard", tip)
    Registry(registry_repo).create_model_version("churn", "s3://churn/2")
    assert status(registry_repo) == ""


def test_a_branch_lock_held_by_git_is_refused_as_git_refuses_it(registry_repo):
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    lock = registry_repo / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("")
    repo = _repo.open_repo(registry_repo)
    tip = head(registry_repo)
    child = new_commit(registry_repo, tip, "next")
    assert _refs.update_ref(repo, "refs/heads/main", child, tip, "held") is False
    refused = subprocess.run(
        ["git", "update-ref", "refs/heads/main", child, tip], cwd=registry_repo, check=False
    )
    assert refused.returncode != 0, "git itself refuses while the lock is held"
    assert lock.exists(), "the other process's lock was taken from it"
    assert head(registry_repo) == tip
    with pytest.raises(ConcurrentUpdate):
        Registry(registry_repo).create_model_version("churn", "s3://churn/2")
    lock.unlink()
    assert head(registry_repo) == tip


def test_head_lock_held_by_git_is_respected_too(registry_repo):
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    lock = registry_repo / ".git" / "HEAD.lock"
    lock.write_text("")
    repo = _repo.open_repo(registry_repo)
    tip = head(registry_repo)
    child = new_commit(registry_repo, tip, "next")
    assert _refs.update_ref(repo, "refs/heads/main", child, tip, "held") is False
    assert lock.exists()
    assert not (registry_repo / ".git" / "refs" / "heads" / "main.lock").exists()
    lock.unlink()


def test_a_symbolic_branch_is_left_to_git(registry_repo):
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    git(registry_repo, "symbolic-ref", "refs/heads/alias", "refs/heads/main")
    repo = _repo.open_repo(registry_repo)
    tip = head(registry_repo)
    child = new_commit(registry_repo, tip, "next")
    assert _refs.update_ref(repo, "refs/heads/alias", child, tip, "sym") is None
    assert _repo.update_ref(repo, "refs/heads/alias", child, tip, "through git")
    assert git(registry_repo, "rev-parse", "main").strip() == child


def test_git_update_ref_racing_the_in_process_writer_loses_nothing(registry_repo):
    """Two processes compare-and-swap the same branch: every success is in one chain."""
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    script = (
        "for i in $(seq 40); do old=$(git rev-parse main); "
        'new=$(git commit-tree "$old^{tree}" -p "$old" -m "git $i"); '
        'git update-ref -m "git $i" refs/heads/main "$new" "$old" 2>/dev/null '
        '&& echo "$new"; done'
    )
    rival = subprocess.Popen(["sh", "-c", script], cwd=registry_repo, stdout=subprocess.PIPE)
    ours: list[str] = []
    repo = _repo.open_repo(registry_repo)

    def ours_loop() -> None:
        for i in range(40):
            old = _repo.rev_parse(repo, "refs/heads/main")
            assert old is not None
            new = new_commit(registry_repo, old, f"ours {i}")
            if _repo.update_ref(repo, "refs/heads/main", new, old, f"ours {i}"):
                ours.append(new)

    thread = threading.Thread(target=ours_loop)
    thread.start()
    theirs = rival.communicate()[0].decode().split()
    thread.join()
    chain = git(registry_repo, "rev-list", "--first-parent", "main").split()
    assert set(ours) <= set(chain), "an in-process update that reported success was lost"
    assert set(theirs) <= set(chain), "a git update-ref that reported success was lost"
    reflog = (registry_repo / ".git" / "logs" / "refs" / "heads" / "main").read_text()
    lines = [line.split(" ", 2)[:2] for line in reflog.splitlines()]
    for before, after in itertools.pairwise(lines):
        assert after[0] == before[1], "the reflog chain has a gap: an update was overwritten"
    subjects = git(registry_repo, "log", "--format=%s", "main").splitlines()
    assert sum(s.startswith(("git ", "ours ")) for s in subjects) == len(ours) + len(theirs)
    fsck(registry_repo)


def test_git_commit_racing_registry_writes_loses_nothing(registry_repo):
    """``git commit`` in the same clone while gitreg writes: each side's acknowledged commits
    stay on the branch; a write that loses says so (the compare-and-swap, or git's locks)."""
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    script = (
        'for i in $(seq 15); do git commit -q --allow-empty -m "git $i" 2>/dev/null '
        "&& git rev-parse HEAD; done"
    )
    rival = subprocess.Popen(["sh", "-c", script], cwd=registry_repo, stdout=subprocess.PIPE)
    acknowledged, errors = [], []
    for i in range(15):
        registry = Registry(registry_repo)
        try:
            registry.create_model_version("churn", f"s3://ours/{i}")
        except GitregError as e:
            errors.append(e.message)
            continue
        acknowledged.append(registry.last_commit)
    theirs = rival.communicate()[0].decode().split()
    assert all(errors), "a lost race must say why"
    chain = set(git(registry_repo, "rev-list", "main").split())
    assert set(acknowledged) <= chain, "a registry write that reported success was lost"
    assert set(theirs) <= chain, "a git commit that reported success was lost"
    fsck(registry_repo)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (None, set()),  # git's default fsyncs neither references nor the index
        ("reference", {"reference"}),
        ("committed", {"reference"}),
        ("added", {"reference", "index"}),
        ("all,-index", {"reference"}),
        ("added,none", set()),
        ("index", {"index"}),
    ],
)
def test_core_fsync_is_read_as_git_reads_it(setting, expected):
    assert _refs.fsync_components(setting) == expected


def test_a_write_under_core_fsync_all_is_as_clean(registry_repo):
    git(registry_repo, "config", "core.fsync", "all")
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    fsck(registry_repo)
    assert status(registry_repo) == ""
