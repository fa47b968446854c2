"""Group commit (#26): writers queued on one clone share one push, and each keeps its own
commit, result and error, even when the writer pushing for them is killed.

The bare repository stands in for GitHub. The tests make the grouping deterministic
instead of hoping for a race: they hold the clone's push lock themselves (the real
``flock`` the writers wait for) until every writer has queued its commit, then let go.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitreg import Registry
from gitreg.core.errors import GitregError
from gitreg.core.identity import Identity
from gitreg.store import _lock, group
from tests._helpers import git, head, status, wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = "import sys; from gitreg.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def clone(bare_remote: Path, tmp_path: Path) -> Path:
    path = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare_remote), str(path))
    Registry(path).create_model_version("churn", "s3://churn/0")
    git(bare_remote, "config", "core.logAllRefUpdates", "true")  # one reflog line per push
    return path


def state(clone: Path) -> Path:
    return clone / ".git" / "gitreg"


def queued_count(clone: Path) -> int:
    tip = group.read_queue(state(clone))
    if tip is None:
        return 0
    return int(git(clone, "rev-list", "--count", f"origin/main..{tip}").strip())


def remote_sources(remote: Path) -> list[str]:
    data = yaml.safe_load(git(remote, "show", "main:models/churn.yaml"))
    return [v["source"] for v in data["versions"]]


def pushes(remote: Path) -> int:
    log = remote / "logs" / "refs" / "heads" / "main"
    return len(log.read_text().splitlines()) if log.exists() else 0


def run_threads(clone: Path, jobs: dict[str, Any]) -> dict[str, Any]:
    """Run each job (a function of a fresh Registry) in its own thread; its result or error."""
    out: dict[str, Any] = {}

    def work(key: str, job: Any) -> None:
        try:
            out[key] = job()
        except GitregError as e:
            out[key] = e

    threads = [threading.Thread(target=work, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    return {"threads": threads, "out": out}


def test_queued_writers_share_one_push_and_keep_their_own_commit_result_and_error(
    clone, bare_remote
):
    before = pushes(bare_remote)
    people = {f"w{i}": Identity(f"Writer {i}", f"w{i}@example.com") for i in range(4)}
    jobs: dict[str, Any] = {
        key: (
            lambda who=who, key=key: Registry(clone, author=who).create_model_version(
                "churn", f"s3://{key}"
            )
        )
        for key, who in people.items()
    }
    # A mutation that raises fails only its caller: version 99 does not exist.
    jobs["bad"] = lambda: Registry(clone).transition_model_version_stage("churn", 99, "Staging")
    with _lock.hold(state(clone) / group.PUSH_LOCK, 10):
        run = run_threads(clone, jobs)
        wait_for(lambda: queued_count(clone) == 4, "four queued commits")
        assert pushes(bare_remote) == before, "a writer pushed while the push lock was held"
    for thread in run["threads"]:
        thread.join(60)
    out = run["out"]

    assert isinstance(out["bad"], GitregError)
    assert out["bad"].error_code == "RESOURCE_DOES_NOT_EXIST"
    versions = {key: out[key].version for key in people}
    assert sorted(versions.values()) == [2, 3, 4, 5], f"numbers reused or skipped: {versions}"
    assert pushes(bare_remote) == before + 1, "the four queued commits were not one push"
    assert remote_sources(bare_remote) == ["s3://churn/0"] + [
        f"s3://{key}" for key in sorted(versions, key=versions.__getitem__)
    ]
    # Each write is its own commit, with its own author and message.
    log = git(bare_remote, "log", "-4", "--format=%an|%s", "main").splitlines()
    assert sorted(log) == sorted(
        f"Writer {key[1]}|Register churn version {versions[key]}" for key in people
    )
    # The clone follows: branch at the remote's tip, work tree and index clean, queue empty.
    assert head(clone) == git(bare_remote, "rev-parse", "main").strip()
    assert status(clone) == ""
    assert group.read_queue(state(clone)) is None


def test_a_lost_race_drops_the_queue_and_every_queued_writer_reapplies(
    clone, bare_remote, tmp_path
):
    rival = tmp_path / "rival"
    git(tmp_path, "clone", "-q", str(bare_remote), str(rival))
    jobs = {
        f"w{i}": (lambda i=i: Registry(clone).create_model_version("churn", f"s3://w{i}"))
        for i in range(3)
    }
    with _lock.hold(state(clone) / group.PUSH_LOCK, 10):
        run = run_threads(clone, jobs)
        wait_for(lambda: queued_count(clone) == 3, "three queued commits")
        # Another machine pushes first: every queued commit is built on a tip that lost.
        Registry(rival).create_model_version("churn", "s3://rival")
    for thread in run["threads"]:
        thread.join(60)
    out = run["out"]

    assert all(not isinstance(r, Exception) for r in out.values()), out
    sources = remote_sources(bare_remote)
    assert sources[:2] == ["s3://churn/0", "s3://rival"]
    assert sorted(sources[2:]) == ["s3://w0", "s3://w1", "s3://w2"], "a write lost or doubled"
    numbers = sorted(r.version for r in out.values())
    assert numbers == [3, 4, 5], "each writer re-applied its mutation on the new tip"
    assert head(clone) == git(bare_remote, "rev-parse", "main").strip()
    assert status(clone) == ""


# ------------------------------------------------ a pusher killed carrying others' commits

BLOCK_GROUPS = """#!/bin/sh
# Stands in for a slow network: a push that carries more than one commit waits for $GO.
while read old new ref; do
  if [ "$(git rev-list --count "$old..$new")" -gt 1 ]; then
    touch "{entered}"
    while [ ! -e "{go}" ]; do sleep 0.01; done
  fi
done
"""


def writer(clone: Path, source: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CLI, "register", "churn", source, "--repo", str(clone)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_pusher_killed_while_carrying_others_commits_leaves_no_caller_in_silence(
    clone, bare_remote, tmp_path
):
    entered, go = tmp_path / "entered", tmp_path / "go"
    hook = bare_remote / "hooks" / "pre-receive"
    hook.write_text(BLOCK_GROUPS.format(entered=entered, go=go))
    hook.chmod(0o755)
    sources = [f"s3://p{i}" for i in range(4)]
    with _lock.hold(state(clone) / group.PUSH_LOCK, 30):
        procs = {source: writer(clone, source) for source in sources}
        wait_for(lambda: queued_count(clone) == 4, "four queued commits")
    # Whoever took the push lock first is now pushing all four commits, held by the hook.
    wait_for(entered.exists, "the group push to reach the remote")
    leader = int((state(clone) / group.LEADER).read_text())
    victim = next(source for source, proc in procs.items() if proc.pid == leader)
    os.kill(leader, signal.SIGKILL)
    go.write_text("")  # the dead leader's push may now land, or not
    results = {source: proc.communicate(timeout=120) for source, proc in procs.items()}
    codes = {source: proc.returncode for source, proc in procs.items()}

    assert codes[victim] == -signal.SIGKILL
    on_remote = remote_sources(bare_remote)
    for source in sources:
        if source == victim:
            continue
        _out, err = results[source]
        # Never silence: success means the commit is on the remote, else a one-line error.
        if codes[source] == 0:
            assert on_remote.count(source) == 1, f"{source} acknowledged but not pushed once"
        else:
            assert codes[source] == 1, (source, codes[source], err)
            assert err.strip()
            assert "Traceback" not in err
            assert source not in on_remote
    assert all(codes[s] == 0 for s in sources if s != victim), (codes, results)
    assert on_remote.count(victim) <= 1
    numbers = yaml.safe_load(git(bare_remote, "show", "main:models/churn.yaml"))["versions"]
    assert [v["version"] for v in numbers] == list(range(1, len(numbers) + 1))
    # The next command leaves the clone clean and at the remote's tip.
    after = subprocess.run(
        [sys.executable, "-c", CLI, "register", "churn", "s3://after", "--repo", str(clone)],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert after.returncode == 0, after.stderr
    assert remote_sources(bare_remote)[-1] == "s3://after"
    assert head(clone) == git(bare_remote, "rev-parse", "main").strip()
    assert status(clone) == ""


def test_threads_sharing_one_registry_each_get_their_own_version(clone, bare_remote):
    """A server keeps one Registry for every request (#25): its threads queue and group."""
    shared = Registry(clone)
    jobs = {
        f"t{i}": (lambda i=i: shared.create_model_version("churn", f"s3://t{i}")) for i in range(8)
    }
    run = run_threads(clone, jobs)
    for thread in run["threads"]:
        thread.join(120)
    out = run["out"]
    assert all(not isinstance(r, Exception) for r in out.values()), out
    assert sorted(int(r.version) for r in out.values()) == list(range(2, 10))
    sources = remote_sources(bare_remote)
    assert sorted(sources[1:]) == sorted(f"s3://t{i}" for i in range(8)), "a write was lost"
    for key, result in out.items():
        assert sources[int(result.version) - 1] == f"s3://{key}", "a caller got another's result"
    assert head(clone) == git(bare_remote, "rev-parse", "main").strip()
    assert status(clone) == ""
