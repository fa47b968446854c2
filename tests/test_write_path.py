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

import json
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
from tests._helpers import Cli, git, head, link_to_a_copy, snapshot, status

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


def _rival_commit(repo: Path, label: str) -> str:
    """Another tool commits to the clone: a commit on the branch, the work tree untouched."""
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    rival = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", label).strip()
    git(repo, "update-ref", "refs/heads/main", rival)
    return rival


def test_a_branch_that_never_stops_moving_is_given_up_on_with_the_fix(registry_repo):
    """Compare-and-swap never overwrites: after retries + 1 lost races the write gives up,
    says why and what to do, and leaves the rival's commits and the clone as they were."""
    from gitreg.core.errors import ConcurrentUpdate

    store = Store(registry_repo)
    for retries, tries in ((None, 4), (0, 1)):  # None: the default, 3 retries
        calls: list[str | None] = []

        def mutation(tx, calls=calls):
            calls.append(tx.base)
            _rival_commit(registry_repo, f"rival {len(calls)}")
            tx.write("ours.txt", "ours\n")

        with pytest.raises(ConcurrentUpdate) as caught:
            store.transaction(mutation) if retries is None else store.transaction(
                mutation, retries=retries
            )
        assert caught.value.message == (
            "refs/heads/main kept moving while gitreg was committing (another tool is "
            "committing to this clone); retry when it is done"
        )
        assert len(calls) == tries, f"retries={retries}: the write tried {len(calls)} times"
        assert len(set(calls)) == tries, "each try must build on the tip it read anew"
        assert git(registry_repo, "log", "-1", "--format=%s").strip() == f"rival {tries}"
        assert not (registry_repo / "ours.txt").exists()
        assert store.last_commit is None
        assert not (store.state_dir / "txn.json").exists()


def test_a_write_that_changes_nothing_makes_no_commit(registry_repo):
    store = Store(registry_repo)
    before = snapshot(registry_repo)
    assert store.transaction(lambda tx: "nothing to do") == "nothing to do"
    assert snapshot(registry_repo) == before
    assert store.last_commit is None, "a write that changed nothing reported a commit"
    store.transaction(lambda tx: tx.write("notes.txt", "n\n"))
    assert store.last_commit == head(registry_repo)
    store.transaction(lambda tx: None)
    assert store.last_commit is None, "last_commit must describe the last transaction only"


def test_the_branch_reflog_names_the_write(churn):
    """`git reflog` shows which gitreg command moved the branch (the commit's first line)."""
    Registry(churn).create_model_version("churn", "s3://churn/2")
    assert git(churn, "reflog", "-1", "--format=%gs", "main").strip() == (
        "gitreg: Register churn version 2"
    )
    store = Store(churn)

    def multi_line(tx):
        tx.write("notes.txt", "n\n")
        tx.message = "First line\n\nbody"

    store.transaction(multi_line)
    assert git(churn, "reflog", "-1", "--format=%gs", "main").strip() == "gitreg: First line"
    store.transaction(lambda tx: tx.write("notes.txt", "m\n"))
    assert git(churn, "reflog", "-1", "--format=%gs", "main").strip() == "gitreg: commit"


def test_a_write_on_a_detached_head_is_refused_with_the_fix(churn):
    git(churn, "checkout", "-q", "--detach")
    before = snapshot(churn)
    result = Cli(churn).fails(1, "register", "churn", "s3://churn/2")
    assert result.stderr == (
        f"Error: {churn}: HEAD is detached; check out a branch (git switch main) first\n"
    )
    assert snapshot(churn) == before


@pytest.mark.parametrize("how", ["edited", "staged", "deleted"])
def test_uncommitted_edits_to_a_touched_manifest_are_never_overwritten(churn, how):
    path = churn / "models" / "churn.yaml"
    if how == "deleted":
        path.unlink()
    else:
        path.write_text(path.read_text() + "# mine\n")
    if how == "staged":
        git(churn, "add", "models/churn.yaml")
        git(churn, "checkout", "--", "models/churn.yaml")  # the edit is in the index only
    before = snapshot(churn)
    result = Cli(churn).fails(1, "register", "churn", "s3://churn/2")
    assert result.stderr == (
        "Error: models/churn.yaml has uncommitted changes; commit them (git commit "
        "models/churn.yaml) or discard them (git checkout -- models/churn.yaml) and retry\n"
    )
    assert snapshot(churn) == before
    assert sources_at(churn, "HEAD") == ["s3://churn/1"]


def test_a_staged_manifest_on_a_branch_with_no_commit_yet_is_never_overwritten(tmp_path):
    """The index is checked even before the branch's first commit: a manifest staged there
    (and gone from disk) is an uncommitted edit like any other."""
    repo = tmp_path / "fresh"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    (repo / "gitreg.yaml").write_text("")
    (repo / "models").mkdir()
    (repo / "models" / "churn.yaml").write_text("name: churn  # mine\n")
    git(repo, "add", "models/churn.yaml")
    (repo / "models" / "churn.yaml").unlink()
    staged = git(repo, "ls-files", "-s").strip()
    result = Cli(repo).fails(1, "register", "churn", "s3://churn/1")
    assert result.stderr == (
        "Error: models/churn.yaml has uncommitted changes; commit them (git commit "
        "models/churn.yaml) or discard them (git checkout -- models/churn.yaml) and retry\n"
    )
    assert git(repo, "ls-files", "-s").strip() == staged, "the staged manifest was replaced"
    assert git(repo, "rev-list", "--all").strip() == "", "a commit was made"


@pytest.mark.parametrize(
    "flag",
    ["--skip-worktree", "--chmod=+x"],
    ids=["skip-worktree (index version 3)", "executable"],
)
def test_a_clean_manifest_with_unusual_index_flags_is_written(churn, flag):
    """A manifest staged as committed is clean however git flags it: marked skip-worktree
    (which makes git write its index in version 3, with extended entries) or executable."""
    git(churn, "update-index", flag, "models/churn.yaml")
    if flag == "--chmod=+x":
        git(churn, "commit", "-qm", "An executable manifest")
    Cli(churn).ok("register", "churn", "s3://churn/2")
    assert sources_at(churn, "HEAD") == ["s3://churn/1", "s3://churn/2"]
    assert "s3://churn/2" in (churn / "models" / "churn.yaml").read_text()


def test_edits_to_other_files_do_not_block_a_write(churn):
    (churn / "README.local").write_text("mine\n")
    other = Registry(churn)
    other.create_model_version("fraud", "s3://fraud/1")
    path = churn / "models" / "fraud.yaml"
    path.write_text(path.read_text() + "# mine\n")
    Cli(churn).ok("register", "churn", "s3://churn/2")
    assert sources_at(churn, "HEAD") == ["s3://churn/1", "s3://churn/2"]
    assert path.read_text().endswith("# mine\n"), "an unrelated edit was lost"


def test_a_link_where_a_touched_manifest_was_is_refused_with_the_fix(churn, tmp_path):
    path = churn / "models" / "churn.yaml"
    link_to_a_copy(path, tmp_path / "elsewhere.yaml")
    result = Cli(churn).fails(1, "register", "churn", "s3://churn/2")
    assert result.stderr.startswith("Error: models/churn.yaml")
    assert result.stderr.endswith("; restore it (git checkout -- models/churn.yaml) and retry\n"), (
        result.stderr
    )
    assert sources_at(churn, "HEAD") == ["s3://churn/1"]
    assert path.is_symlink()


def test_a_live_gits_index_lock_is_reported_with_the_fix(churn):
    lock = churn / ".git" / "index.lock"
    lock.write_text("")
    before = head(churn)
    result = Cli(churn).fails(1, "register", "churn", "s3://churn/2")
    assert result.stderr == (
        f"Error: another git process is using this clone ({lock} exists); wait for it to "
        "finish and retry, or remove that file if no git command is running; nothing was "
        "changed\n"
    )
    assert head(churn) == before
    assert lock.exists()
    lock.unlink()


# ------------------------------------------------------------------ recovery


def test_a_torn_journal_is_dropped_and_changes_nothing(churn):
    """A writer killed while writing its journal never moved the branch: forget the journal."""
    journal = churn / ".git" / "gitreg" / "txn.json"
    journal.write_text('{"ref": "refs/heads/main", "old": ')
    before = snapshot(churn)
    assert [m.name for m in Registry(churn).search_registered_models()] == ["churn"]
    assert not journal.exists(), "a torn journal was left for every next command to trip on"
    assert snapshot(churn) == before
    Cli(churn).ok("register", "churn", "s3://churn/2")
    assert_consistent(churn)


@pytest.mark.parametrize("point", ["journaled", "ref-moved", "worktree-written"])
def test_a_killed_writers_half_written_temp_file_is_removed(churn, point):
    """A file write killed halfway leaves .<name>.<random>.tmp: recovery removes it."""
    killed = gitreg_process(churn, "register", "churn", "s3://churn/2", crash_at=point)
    assert killed.returncode == -signal.SIGKILL
    stray = churn / "models" / ".churn.yaml.0123456789ab.tmp"
    stray.write_text("versions: [half")
    assert [m.name for m in Registry(churn).search_registered_models()] == ["churn"]
    assert not stray.exists(), f"a half-written temp file survived recovery (kill at {point})"
    assert_consistent(churn)


@pytest.mark.parametrize("point", ["ref-moved", "worktree-written"])
def test_a_delete_killed_after_the_branch_moved_is_rolled_forward(churn, point):
    Registry(churn).create_model_version("fraud", "s3://fraud/1")
    killed = gitreg_process(churn, "delete", "churn", "--yes", crash_at=point)
    assert killed.returncode == -signal.SIGKILL
    assert "models/churn.yaml" not in git(churn, "ls-tree", "--name-only", "HEAD", "models/")
    assert [m.name for m in Registry(churn).search_registered_models()] == ["fraud"], (
        f"a delete killed at {point} was not finished by the next command"
    )
    assert not (churn / "models" / "churn.yaml").exists()
    assert_consistent(churn)


def test_a_read_after_a_writer_was_killed_holding_the_index_lock_frees_the_clone(churn):
    """Reads recover too: after a writer died with its git child's index.lock, a read (not
    only the next write) clears what it left, so plain git works on the clone again."""
    killed = gitreg_process(churn, "register", "churn", "s3://churn/2", crash_at="locked")
    assert killed.returncode == -signal.SIGKILL
    state = churn / ".git" / "gitreg"
    assert (state / "busy").exists()
    assert not (state / "txn.json").exists()
    (churn / ".git" / "index.lock").write_text("")  # what its killed git child left
    assert [m.name for m in Registry(churn).search_registered_models()] == ["churn"]
    assert not (churn / ".git" / "index.lock").exists(), "the dead writer's git lock stayed"
    assert_consistent(churn)


def test_a_read_never_recovers_a_live_writers_journal(churn):
    """A journal next to a held lock belongs to a writer at work: a read leaves it alone."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from gitreg.store.store import Store\n"
            "with Store(sys.argv[1]).lock():\n"
            "    print('held', flush=True)\n"
            "    sys.stdin.readline()\n",
            str(churn),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        journal = churn / ".git" / "gitreg" / "txn.json"
        tip = head(churn)
        live = {"ref": "refs/heads/main", "old": tip, "new": tip, "paths": {}}
        journal.write_text(json.dumps(live))
        assert [m.name for m in Registry(churn).search_registered_models()] == ["churn"]
        assert json.loads(journal.read_text()) == live, "a read took over a live writer's work"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
        holder.stdout.close()
    journal.unlink()


def _commit_manifest(repo: Path, change) -> None:
    path = repo / "models" / "churn.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    git(repo, "commit", "-qam", "Hand edit")


def test_a_write_on_a_malformed_manifest_names_the_first_finding_and_counts_the_rest(churn):
    def two_faults(data):
        data["versions"][0]["version"] = "one"
        data["versions"][0]["stage"] = "Live"

    _commit_manifest(churn, two_faults)
    before = snapshot(churn)
    result = Cli(churn).fails(1, "register", "churn", "s3://churn/2")
    assert result.stderr == (
        "Error: models/churn.yaml:9: SCHEMA: versions.0.stage: 'Live' is not one of "
        "['None', 'Staging', 'Production', 'Archived']; use one of those values "
        "(and 1 more; run gitreg validate)\n"
    )
    assert snapshot(churn) == before
    _commit_manifest(churn, lambda data: data.update(versions="oops"))
    result = Cli(churn).fails(1, "register", "churn", "s3://churn/2")
    assert result.stderr == (
        "Error: models/churn.yaml:6: SCHEMA: versions: 'oops' is not of type 'array'; "
        "change the value's type\n"
    ), "one finding: no '(and N more)' tail"


@pytest.mark.parametrize("reader", ["in process", "git commands"])
def test_a_push_that_brings_other_writers_commits_updates_their_files_too(
    clone, bare_remote, tmp_path, monkeypatch, reader
):
    """The remote moved (another clone added one model and deleted another): a write here
    builds on it, and this clone's work tree gets their files as well as its own. Also when
    the write cannot read the repository itself (an environment variable such as
    GIT_AUTHOR_DATE makes it take git's own commands, _repo.Repo.fast) and asks git."""
    Registry(clone).create_model_version("old", "s3://old/1")
    Registry(clone).create_model_version("mine", "s3://mine/1")
    mine = clone / "models" / "mine.yaml"
    mine.write_text(mine.read_text() + "# an edit nobody committed\n")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare_remote), str(other))
    Registry(other).create_model_version("fraud", "s3://fraud/1")
    Registry(other).delete_registered_model("old")
    notes = {f"notes/{c}.txt": f"{c}\n" for c in "abcdefgh"}  # many paths, in any order
    Store(other).transaction(lambda tx: [tx.write(p, t) for p, t in notes.items()])
    if reader == "git commands":
        monkeypatch.setenv("GIT_AUTHOR_DATE", "2026-03-01T10:00:00Z")
    Registry(clone).create_model_version("churn", "s3://churn/2")
    assert head(clone) == git(bare_remote, "rev-parse", "main").strip()
    assert sources_at(clone, "HEAD") == ["s3://churn/1", "s3://churn/2"]
    assert not (clone / "models" / "old.yaml").exists(), "the other clone's delete was lost"
    assert (clone / "models" / "fraud.yaml").read_bytes() == git(
        other, "show", "HEAD:models/fraud.yaml"
    ).encode()
    assert {p: (clone / p).read_text() for p in notes} == notes
    assert mine.read_text().endswith("# an edit nobody committed\n"), "an unrelated edit"
    git(clone, "checkout", "--", "models/mine.yaml")
    assert_consistent(clone)


def test_a_transaction_writing_gitreg_yaml_is_validated_before_its_commit(churn):
    """A write of gitreg.yaml (webhook management does one) must leave a valid policy:
    a broken one is refused with its first finding, and nothing is committed."""
    from gitreg.core.errors import InvalidManifest

    store = Store(churn)
    text = (churn / "gitreg.yaml").read_text()
    before = snapshot(churn)
    broken = text.replace("protected_aliases: [champion]", "protected_aliases: 7")
    with pytest.raises(InvalidManifest) as found:
        store.transaction(lambda tx: tx.write("gitreg.yaml", broken))
    assert found.value.message.startswith("gitreg.yaml:"), found.value.message
    assert found.value.message.endswith("; nothing was committed"), found.value.message
    assert snapshot(churn) == before
    with pytest.raises(InvalidManifest) as found:
        store.transaction(lambda tx: tx.write("gitreg.yaml", text + "policy: [\n"))
    assert found.value.message.startswith("gitreg.yaml:"), found.value.message
    assert snapshot(churn) == before
    fine = text.replace("protected_aliases: [champion]", "protected_aliases: [gold]")
    store.transaction(lambda tx: tx.write("gitreg.yaml", fine))
    assert store.read_config().policy.protected_aliases == ("gold",)
    assert_consistent(churn)


@pytest.mark.parametrize("point", ["journaled", "ref-moved", "worktree-written"])
def test_a_transaction_straight_after_a_killed_writer_finishes_its_work_first(churn, point):
    """A transaction with no read before it (the store's own API) rolls the dead writer's
    journal forward, or drops it, under its own lock before it runs: the clone is left as
    the branch has it, with nothing acknowledged lost."""
    killed = gitreg_process(churn, "register", "churn", "s3://churn/2", crash_at=point)
    assert killed.returncode == -signal.SIGKILL, f"the kill did not land at {point}: {killed}"
    expected = ["s3://churn/1", "s3://churn/2"] if LOCAL[point] else ["s3://churn/1"]

    Store(churn).transaction(lambda tx: None)

    assert sources_at(churn, "HEAD") == expected
    assert_consistent(churn)
