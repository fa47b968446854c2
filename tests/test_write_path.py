"""The write path's promises under faults (issue 17): nothing half-written, nothing lost.

A writer is killed (SIGKILL, no cleanup) at each named point of the write path through
``GITREG_TEST_CRASH_AT`` (``gitreg/store/faults.py``), in a real process, on a real
repository; the test first checks that the kill landed where it was asked to, then that the
next command recovers exactly: the write is rolled forward when its branch update happened
and discarded when it did not, the work tree, index and branch agree, no lock or journal is
left, and every earlier write is still there. Compare-and-swap is tested in process by a
second writer that moves the branch between a transaction's read and its ref update.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitreg import Registry
from gitreg.store import _repo
from gitreg.store.faults import ENV, POINTS
from gitreg.store.store import Store
from tests._helpers import git, head, status

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = "import sys; from gitreg.cli import main; sys.exit(main(sys.argv[1:]))"
# Points a local write reaches, and whether the branch has moved when it dies there.
LOCAL = {"locked": False, "built": False, "journaled": False, "ref-moved": True,
         "worktree-written": True}  # fmt: skip


def gitreg_process(
    repo: Path, *args: str, crash_at: str | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop(ENV, None)
    if crash_at:
        env[ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-c", CLI, *args, "--repo", str(repo)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def sources_at(repo: Path, ref: str) -> list[str]:
    data = yaml.safe_load(git(repo, "show", f"{ref}:models/churn.yaml"))
    return [v["source"] for v in data["versions"]]


def assert_consistent(repo: Path) -> None:
    """Branch, index and work tree agree, and nothing of a dead writer is left behind."""
    assert status(repo) == "", f"work tree or index differs from the branch:\n{status(repo)}"
    state = repo / ".git" / "gitreg"
    assert not (state / "txn.json").exists(), "a transaction journal was left behind"
    assert not (state / "busy").exists(), "a dead writer's busy marker was left behind"
    assert not list((repo / ".git").glob("*.lock")), "a git lock file was left behind"
    assert not list((repo / ".git" / "refs").rglob("*.lock")), "a ref lock was left behind"


@pytest.fixture
def churn(registry_repo: Path) -> Path:
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    return registry_repo


def test_every_point_is_reachable_by_a_write():
    assert set(LOCAL) | {"pushed"} == set(POINTS)


@pytest.mark.parametrize("point", sorted(LOCAL))
def test_a_writer_killed_at_each_point_is_recovered_by_the_next_command(churn, point):
    before = head(churn)
    killed = gitreg_process(churn, "register", "churn", "s3://churn/2", crash_at=point)
    assert killed.returncode == -signal.SIGKILL, f"the kill did not land at {point}: {killed}"

    committed = LOCAL[point]
    assert (head(churn) != before) == committed, f"branch after a kill at {point}"
    # A read sees the registry as the branch has it: rolled forward, or as it was.
    shown = gitreg_process(churn, "show", "churn", "--json")
    assert shown.returncode == 0, shown.stderr
    expected = ["s3://churn/1", "s3://churn/2"] if committed else ["s3://churn/1"]
    versions = yaml.safe_load(shown.stdout)["registered_model"]["latest_versions"]
    assert versions[-1]["source"] == expected[-1], (
        f"after a kill at {point} the work tree does not show what the branch holds "
        "(journal roll-forward broken?)"
    )
    assert_consistent(churn)
    # The next write builds on exactly that, and nothing acknowledged earlier is lost.
    after = gitreg_process(churn, "register", "churn", "s3://churn/3")
    assert after.returncode == 0, f"the write after a kill at {point} failed: {after.stderr}"
    assert sources_at(churn, "HEAD") == [*expected, "s3://churn/3"]
    assert_consistent(churn)


def test_a_killed_writers_git_lock_is_cleared_for_the_next_writer(churn):
    """A writer killed while its git child held index.lock must not wedge the clone."""
    killed = gitreg_process(churn, "register", "churn", "s3://churn/2", crash_at="locked")
    assert killed.returncode == -signal.SIGKILL
    # The dead writer's git child, killed while it held the index lock (real git leaves it).
    child = subprocess.Popen(
        ["git", "update-index", "--index-info"], cwd=churn, stdin=subprocess.PIPE
    )
    lock = churn / ".git" / "index.lock"
    for _ in range(200):
        if lock.exists():
            break
        subprocess.run(["sleep", "0.01"], check=True)
    assert lock.exists(), "git did not take the index lock"
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdin.close()
    assert lock.exists()

    after = gitreg_process(churn, "register", "churn", "s3://churn/3")
    assert after.returncode == 0, (
        f"stale git lock after a killed writer wedged the clone: {after.stderr}"
    )
    assert sources_at(churn, "HEAD") == ["s3://churn/1", "s3://churn/3"]
    assert_consistent(churn)


def test_a_lock_left_by_a_live_git_is_not_taken_from_it(churn):
    """Without a dead writer's mark, a lock belongs to someone alive: refuse, don't delete."""
    lock = churn / ".git" / "index.lock"
    lock.write_text("")
    result = gitreg_process(churn, "register", "churn", "s3://churn/2")
    assert result.returncode == 1
    assert lock.exists(), "gitreg deleted a lock that a live git process could hold"
    assert sources_at(churn, "HEAD") == ["s3://churn/1"]
    lock.unlink()


# ----------------------------------------------------------------- with a remote


@pytest.fixture
def clone(bare_remote: Path, tmp_path: Path) -> Path:
    path = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare_remote), str(path))
    Registry(path).create_model_version("churn", "s3://churn/1")
    return path


@pytest.mark.parametrize("point", ["built", "pushed", "journaled", "ref-moved"])
def test_a_pushing_writer_killed_at_each_point_loses_nothing(clone, bare_remote, point):
    killed = gitreg_process(clone, "register", "churn", "s3://churn/2", crash_at=point)
    assert killed.returncode == -signal.SIGKILL, f"the kill did not land at {point}"
    pushed = point != "built"
    remote = ["s3://churn/1", "s3://churn/2"] if pushed else ["s3://churn/1"]
    assert sources_at(bare_remote, "main") == remote, f"the remote after a kill at {point}"

    after = gitreg_process(clone, "register", "churn", "s3://churn/3")
    assert after.returncode == 0, after.stderr
    assert sources_at(bare_remote, "main") == [*remote, "s3://churn/3"], (
        f"after a kill at {point} a pushed write was lost or registered twice"
    )
    assert head(clone) == git(bare_remote, "rev-parse", "main").strip()
    assert_consistent(clone)


# ------------------------------------------------------------- compare-and-swap


def test_a_branch_moved_during_a_transaction_is_never_overwritten(registry_repo):
    """Compare-and-swap: the ref update names the tip it read; a lost race re-applies."""
    store = Store(registry_repo)
    Registry(registry_repo).create_model_version("churn", "s3://churn/1")
    calls: list[str | None] = []

    def mutation(tx):
        calls.append(tx.base)
        if len(calls) == 1:
            # The rival moves the branch after we read the tip and before our ref update.
            env = {**os.environ, "GIT_INDEX_FILE": str(registry_repo / ".git" / "rival-index")}
            subprocess.run(["git", "read-tree", "HEAD"], cwd=registry_repo, env=env, check=True)
            blob = (
                subprocess.run(
                    ["git", "hash-object", "-w", "--stdin"],
                    cwd=registry_repo,
                    input=b"rival\n",
                    capture_output=True,
                    check=True,
                )
                .stdout.decode()
                .strip()
            )
            subprocess.run(
                ["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},notes.txt"],
                cwd=registry_repo,
                env=env,
                check=True,
            )
            tree = (
                subprocess.run(
                    ["git", "write-tree"],
                    cwd=registry_repo,
                    env=env,
                    capture_output=True,
                    check=True,
                )
                .stdout.decode()
                .strip()
            )
            rival = git(registry_repo, "commit-tree", tree, "-p", "HEAD", "-m", "rival").strip()
            git(registry_repo, "update-ref", "refs/heads/main", rival)
            calls.append(rival)
        tx.write("ours.txt", f"written on {tx.base}\n")
        tx.message = "ours"

    store.transaction(mutation)
    log = git(registry_repo, "log", "--format=%s", "-3").split()
    assert log[:2] == ["ours", "rival"], (
        "the rival's commit was overwritten: the branch update did not compare-and-swap"
    )
    assert len([c for c in calls if c is not None]) == 3, "the mutation was not re-applied"
    assert calls[2] == calls[1], "the retry did not build on the rival's commit"
    assert (registry_repo / "ours.txt").read_text() == f"written on {calls[1]}\n"
    assert git(registry_repo, "show", "HEAD:notes.txt") == "rival\n"


def test_update_ref_refuses_a_stale_old_value(registry_repo):
    repo = _repo.open_repo(registry_repo)
    tip = head(registry_repo)
    assert _repo.update_ref(repo, "refs/heads/main", tip, tip, "noop")
    assert not _repo.update_ref(repo, "refs/heads/main", tip, "1" * 40, "stale"), (
        "update_ref moved a branch that was not at the expected commit"
    )
