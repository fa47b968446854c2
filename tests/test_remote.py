"""Remote-backed registries (#5): push on write, races, refusals, pull-request transitions.

The remote is a bare repository on disk (the ``bare_remote`` fixture); git is never mocked.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import (
    BranchDiverged,
    ConcurrentUpdate,
    PromotionPending,
    PushRejected,
    RemoteUnavailable,
    TransitionNotAllowed,
    VersionNotFound,
)
from tests._helpers import Cli, git, head, snapshot, status


def clone(remote: Path, where: Path) -> Path:
    git(remote.parent, "clone", "-q", str(remote), str(where))
    return where


def remote_tip(remote: Path, branch: str = "main") -> str:
    return git(remote, "rev-parse", f"refs/heads/{branch}").strip()


def remote_versions(remote: Path, name: str = "churn") -> list[int]:
    text = git(remote, "show", f"main:models/{name}.yaml")
    lines = [line.strip() for line in text.splitlines()]
    return [int(line.split(":")[1]) for line in lines if line.startswith("- version:")]


@pytest.fixture
def a(bare_remote: Path, tmp_path: Path) -> Path:
    return clone(bare_remote, tmp_path / "a")


@pytest.fixture
def b(bare_remote: Path, tmp_path: Path) -> Path:
    return clone(bare_remote, tmp_path / "b")


def test_a_write_in_a_clone_is_pushed(a, bare_remote):
    mv = Registry(a).create_model_version("churn", "s3://m/1")
    assert mv.version == 1
    assert remote_tip(bare_remote) == head(a)
    assert status(a) == ""


def test_no_push_commits_locally_and_the_next_write_takes_it_along(a, bare_remote):
    before = remote_tip(bare_remote)
    Registry(a, push=False).create_model_version("churn", "s3://m/1")
    assert remote_tip(bare_remote) == before
    Registry(a).create_model_version("churn", "s3://m/2")
    assert remote_tip(bare_remote) == head(a)
    assert remote_versions(bare_remote) == [1, 2]


def test_push_never_in_config_is_overridden_by_push_true(a, bare_remote):
    config = a / "gitreg.yaml"
    config.write_text(config.read_text().replace("push: auto", "push: never"))
    git(a, "commit", "-qam", "Never push")
    git(a, "push", "-q")
    Registry(a).create_model_version("churn", "s3://m/1")
    assert remote_tip(bare_remote) != head(a)
    Registry(a, push=True).create_model_version("churn", "s3://m/2")
    assert remote_tip(bare_remote) == head(a)


def test_push_without_a_remote_is_a_clear_error(registry_repo):
    before = snapshot(registry_repo)
    with pytest.raises(PushRejected, match="no remote 'origin'"):
        Registry(registry_repo, push=True).create_model_version("churn", "s3://m/1")
    assert snapshot(registry_repo) == before


def test_a_registry_without_a_remote_commits_directly(registry_repo):
    registry = Registry(registry_repo)
    registry.create_model_version("churn", "s3://m/1")
    assert registry.transition_model_version_stage("churn", 1, "Production").current_stage == (
        "Production"
    )


def test_two_clones_get_different_version_numbers(a, b, bare_remote):
    assert Registry(a).create_model_version("churn", "s3://a").version == 1
    assert Registry(b).create_model_version("churn", "s3://b").version == 2
    assert remote_versions(bare_remote) == [1, 2]
    assert (b / "models/churn.yaml").read_text() == git(
        bare_remote, "show", "main:models/churn.yaml"
    )
    assert status(b) == ""


def test_a_push_that_loses_the_race_reapplies_the_mutation(a, b, bare_remote):
    """Someone pushes between our fetch and our push: we fetch again and re-apply."""
    Registry(a).create_model_version("churn", "s3://a/1")
    loser = Registry(b)
    original = loser.store.transaction
    fired: list[int] = []

    def interfering(mutation, *args, **kw):
        def wrapped(tx):
            if not fired:
                fired.append(1)
                Registry(a).create_model_version("churn", "s3://a/2")  # wins the race
            return mutation(tx)

        return original(wrapped, *args, **kw)

    loser.store.transaction = interfering  # type: ignore[method-assign]
    mv = loser.create_model_version("churn", "s3://b/1")
    assert mv.version == 3
    assert loser.store.retry_count == 1
    assert remote_versions(bare_remote) == [1, 2, 3]
    assert head(b) == remote_tip(bare_remote)


def test_fetch_reads_the_remote_tip_not_the_checkout(a, b):
    Registry(a).create_model_version("churn", "s3://a/1")
    with pytest.raises(Exception, match="not found"):
        Registry(b).get_registered_model("churn")
    assert Registry(b, fetch=True).get_model_version("churn", 1).source == "s3://a/1"
    cli = Cli(b)
    assert cli.ok("resolve", "models:/churn/1", "--fetch").stdout.strip() == "s3://a/1"
    assert cli.ok("show", "churn", "--fetch", "--at", "origin/main").exit_code == 0


def install_hook(remote: Path, body: str) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\n{body}\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)


def test_a_hook_rejection_is_one_clear_line_and_nothing_moves(a, bare_remote):
    """Issue #5: a remote that refuses the push leaves the local branch where it was."""
    Registry(a).create_model_version("churn", "s3://m/1")
    install_hook(bare_remote, 'echo "registry is frozen for the release" >&2; exit 1')
    before, remote_before = snapshot(a), remote_tip(bare_remote)
    with pytest.raises(PushRejected) as caught:
        Registry(a).create_model_version("churn", "s3://m/2")
    message = caught.value.message
    assert "pre-receive hook declined" in message
    assert "registry is frozen for the release" in message
    assert "\n" not in message
    assert snapshot(a) == before
    assert remote_tip(bare_remote) == remote_before
    assert git(a, "rev-parse", "origin/main").strip() == remote_before
    result = Cli(a).fails(1, "register", "churn", "s3://m/2")
    assert result.stderr.count("\n") == 1
    assert "refused the push" in result.stderr


def test_an_unreachable_remote_is_one_clear_line(a, tmp_path):
    git(a, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    before = snapshot(a)
    with pytest.raises(RemoteUnavailable, match="cannot fetch from origin"):
        Registry(a).create_model_version("churn", "s3://m/1")
    assert snapshot(a) == before


def test_diverged_branches_are_refused_with_the_fix(a, b):
    Registry(a, push=False).create_model_version("churn", "s3://a/1")
    Registry(b).create_model_version("churn", "s3://b/1")
    before = snapshot(a)
    with pytest.raises(BranchDiverged, match="git pull --rebase origin main"):
        Registry(a).create_model_version("churn", "s3://a/2")
    assert snapshot(a) == before


def test_an_uncommitted_edit_to_a_file_the_remote_changed_is_kept(a, b):
    Registry(a).create_model_version("churn", "s3://a/1")
    Registry(b).create_model_version("churn", "s3://b/1")
    (a / "models/churn.yaml").write_text((a / "models/churn.yaml").read_text() + "# mine\n")
    with pytest.raises(Exception, match="uncommitted changes"):
        Registry(a).create_model_version("churn", "s3://a/2")
    assert (a / "models/churn.yaml").read_text().endswith("# mine\n")


# ----------------------------------------------------------- pull-request transitions


def test_a_protected_transition_opens_a_request_and_leaves_main_alone(a, bare_remote):
    registry = Registry(a)
    registry.create_model_version("churn", "s3://m/1", description="Better features")
    main_before, local_before = remote_tip(bare_remote), snapshot(a)
    with pytest.raises(PromotionPending) as caught:
        registry.transition_model_version_stage("churn", 1, "Production", message="F1 0.94")
    pending = caught.value
    assert pending.branch == "gitreg/churn/v1-production"
    assert pending.created
    assert pending.url is None
    assert "the stage changes when it is merged" in pending.message
    assert remote_tip(bare_remote) == main_before
    assert snapshot(a) == local_before
    on_branch = git(bare_remote, "show", f"{pending.branch}:models/churn.yaml")
    assert "stage: Production" in on_branch
    message = git(bare_remote, "log", "-1", "--format=%B", pending.branch)
    assert "F1 0.94" in message
    # Idempotent: the same request finds the open branch.
    with pytest.raises(PromotionPending) as again:
        registry.transition_model_version_stage("churn", 1, "Production")
    assert not again.value.created
    assert again.value.branch == pending.branch


def test_direct_is_refused_on_a_protected_stage_but_fine_elsewhere(a, bare_remote):
    registry = Registry(a)
    registry.create_model_version("churn", "s3://m/1")
    with pytest.raises(TransitionNotAllowed, match="drop direct=True"):  # API words (#16)
        registry.transition_model_version_stage("churn", 1, "Production", direct=True)
    mv = registry.transition_model_version_stage("churn", 1, "Staging", direct=True)
    assert mv.current_stage == "Staging"
    assert "stage: Staging" in git(bare_remote, "show", "main:models/churn.yaml")


def test_no_push_cannot_sneak_past_a_protected_stage(a):
    Registry(a).create_model_version("churn", "s3://m/1")
    with pytest.raises(TransitionNotAllowed, match="drop push=False"):  # API words (#16)
        Registry(a, push=False).transition_model_version_stage("churn", 1, "Production")


def test_cli_transition_prints_the_request_and_exits_zero(a):
    cli = Cli(a)
    cli.ok("register", "churn", "s3://m/1")
    result = cli.ok("transition", "churn", "1", "Production", "-m", "Ship it")
    assert result.stdout.strip() == "gitreg/churn/v1-production"
    assert "Requested, not done yet" in result.stderr
    assert "the stage changes when it is merged" in result.stderr
    listed = cli.ok("requests", "--json").stdout
    assert '"branch": "gitreg/churn/v1-production"' in listed
    assert '"stage": "Production"' in listed


def merge_request_branch(remote: Path, work: Path, branch: str, number: int) -> None:
    """Merge a request branch on the 'forge' the way GitHub's merge button does."""
    git(work, "fetch", "-q", "origin")
    git(work, "checkout", "-q", "-B", "merge-tmp", "origin/main")
    git(
        work,
        "merge",
        "-q",
        "--no-ff",
        f"origin/{branch}",
        "-m",
        f"Merge pull request #{number} from team/{branch}",
    )
    git(work, "push", "-q", "origin", "merge-tmp:main")
    git(work, "checkout", "-q", "main")
    git(work, "branch", "-q", "-D", "merge-tmp")
    git(work, "pull", "-q", "--ff-only")


def test_merged_requests_are_not_listed_and_history_names_the_pull_request(a, b, bare_remote):
    registry = Registry(a)
    registry.create_model_version("churn", "s3://m/1")
    with pytest.raises(PromotionPending):
        registry.transition_model_version_stage("churn", 1, "Production")
    merge_request_branch(bare_remote, b, "gitreg/churn/v1-production", 7)
    assert Registry(a).list_transition_requests() == []
    Registry(a).create_model_version("churn", "s3://m/2")  # fast-forwards the merge too
    assert Registry(a).get_model_version("churn", 1).current_stage == "Production"
    entries = Registry(a).get_model_history("churn", 1)
    assert entries[0].pull_request == 7
    assert [e.describe() for e in entries[0].events] == ["version 1: None -> Production"]


def test_rollback_proposes_the_previous_production_version(a, b, bare_remote):
    registry = Registry(a)
    registry.create_model_version("churn", "s3://m/1")
    registry.create_model_version("churn", "s3://m/2")
    with pytest.raises(PromotionPending):
        registry.transition_model_version_stage("churn", 1, "Production")
    merge_request_branch(bare_remote, b, "gitreg/churn/v1-production", 1)
    with pytest.raises(PromotionPending):
        Registry(b).transition_model_version_stage("churn", 2, "Production", True)
    merge_request_branch(bare_remote, b, "gitreg/churn/v2-production", 2)
    git(a, "pull", "-q", "--ff-only")
    result = Cli(a).ok("rollback", "churn", "-m", "v2 doubles false positives")
    assert result.stdout.strip() == "gitreg/churn/v1-production"
    proposed = git(bare_remote, "show", "gitreg/churn/v1-production:models/churn.yaml")
    assert proposed.count("stage: Production") == 1
    assert "stage: Archived" in proposed
    body = git(bare_remote, "log", "-1", "--format=%B", "gitreg/churn/v1-production")
    assert "v2 doubles false positives" in body


def test_rollback_without_an_earlier_production_version_says_so(registry_repo):
    registry = Registry(registry_repo)
    registry.create_model_version("churn", "s3://m/1")
    registry.transition_model_version_stage("churn", 1, "Production")
    with pytest.raises(VersionNotFound, match="no earlier Production version"):
        registry.rollback_registered_model("churn")


def test_rollback_on_a_local_registry_is_a_direct_commit(registry_repo):
    registry = Registry(registry_repo)
    registry.create_model_version("churn", "s3://m/1")
    registry.create_model_version("churn", "s3://m/2")
    registry.transition_model_version_stage("churn", 1, "Production")
    registry.transition_model_version_stage("churn", 2, "Production", True)
    assert registry.rollback_registered_model("churn").version == 1
    assert registry.get_model_version("churn", 2).current_stage == "Archived"


def test_asking_again_for_an_open_request_leaves_its_branch_as_it_is(a, bare_remote):
    """A request branch that still merges cleanly and validly is returned, never rebuilt."""
    registry = Registry(a)
    registry.create_model_version("churn", "s3://m/1")
    with pytest.raises(PromotionPending):
        registry.transition_model_version_stage("churn", 1, "Production")
    branch = "gitreg/churn/v1-production"
    first = remote_tip(bare_remote, branch)
    with pytest.raises(PromotionPending) as again:
        registry.transition_model_version_stage("churn", 1, "Production")
    assert str(again.value) == (
        "churn: version 1: None -> Production was already proposed on branch "
        "gitreg/churn/v1-production (pushed to origin); open a pull request from it into main: "
        "the stage changes when it is merged"
    ), "an open, still valid request was rebuilt"
    assert remote_tip(bare_remote, branch) == first
    (listed,) = registry.list_transition_requests()
    assert (listed.branch, listed.commit, listed.stale) == (branch, first, False)


def test_a_request_the_registry_outgrew_is_listed_stale_with_when_it_was_made(a, b, bare_remote):
    """Both requests merge cleanly, but once v1 is in Production, v2's would make two."""
    registry = Registry(a)
    registry.create_model_version("churn", "s3://m/1")
    registry.create_model_version("churn", "s3://m/2")
    for version in (1, 2):
        with pytest.raises(PromotionPending):
            registry.transition_model_version_stage("churn", version, "Production")
    base = remote_tip(bare_remote)
    merge_request_branch(bare_remote, b, "gitreg/churn/v1-production", 1)
    (listed,) = Registry(a).list_transition_requests()
    assert listed.branch == "gitreg/churn/v2-production"
    assert listed.stale, "a request whose merge breaks the manifest must be listed stale"
    assert listed.base == base
    made = git(bare_remote, "log", "-1", "--format=%cI", "gitreg/churn/v2-production").strip()
    assert listed.created_at == made


def test_the_requests_a_clone_fetched_are_known_and_a_withdrawn_one_is_forgotten(a):
    """Also where the clone fetches only main (a push then leaves gitreg/... tracking refs)."""
    git(a, "config", "remote.origin.fetch", "+refs/heads/main:refs/remotes/origin/main")
    registry = Registry(a)
    registry.create_model_version("churn", "s3://m/1")
    with pytest.raises(PromotionPending):
        registry.transition_model_version_stage("churn", 1, "Production")
    registry.list_transition_requests()  # fetches the request branches
    known = registry.get_model_version_requests("churn", 1)
    assert [r.branch for r in known] == ["gitreg/churn/v1-production"]
    assert [r.branch for r in registry.withdraw_transition_request("churn", 1)] == [
        "gitreg/churn/v1-production"
    ]
    tracking = git(a, "for-each-ref", "refs/remotes/origin/gitreg/")
    assert tracking == "", "the withdrawn branch's remote-tracking ref was left behind"
    assert registry.get_model_version_requests("churn", 1) == []


def test_fetch_with_pushing_off_names_the_conflict(a):
    with pytest.raises(RemoteUnavailable) as caught:
        Registry(a, fetch=True, push=False).get_registered_model("churn")
    assert str(caught.value) == "fetch=True needs a remote, and pushing is off (push=False)"


def test_a_write_collects_garbage_as_git_would_after_its_fetches(a):
    """gitreg's fetches turn git's auto-gc off, so a write runs ``gc --auto`` itself."""
    git(a, "config", "gc.autoPackLimit", "1")
    for n in (1, 2):
        Registry(a).create_model_version("churn", f"s3://m/{n}")
        git(a, "repack", "-q")  # each write's objects into a pack of their own
    packs = a / ".git" / "objects" / "pack"
    assert len(list(packs.glob("*.pack"))) > 1
    Registry(a).create_model_version("churn", "s3://m/3")
    assert len(list(packs.glob("*.pack"))) == 1, "the write left git's auto-gc undone"


def test_a_garbage_collection_that_fails_does_not_fail_the_pushed_write(a, bare_remote):
    git(a, "config", "gc.autoPackLimit", "many")  # gitreg asks git; git's gc refuses it
    mv = Registry(a).create_model_version("churn", "s3://m/1")
    assert mv.version == 1
    assert remote_tip(bare_remote) == head(a)
    assert status(a) == ""


def test_a_stuck_remote_lock_is_refused_with_how_long_it_stood_and_the_fix():
    """The same lock and tip for STALE_LOCK_SECONDS: a killed push, reported exactly."""
    from gitreg.store._net import Lost
    from gitreg.store.remote import STALE_LOCK_SECONDS, Contention, Remote

    now = [1000.0]
    contention = Contention(Remote("origin", "/srv/r.git", "main"), clock=lambda: now[0])
    lost = Lost("failed to update ref", "/srv/r.git/refs/heads/main.lock")
    contention.lost(lost, "a" * 40)
    now[0] += STALE_LOCK_SECONDS + 0.5
    with pytest.raises(PushRejected) as caught:
        contention.lost(lost, "a" * 40)
    assert str(caught.value) == (
        f"origin's branch main is locked: /srv/r.git/refs/heads/main.lock has existed for "
        f"{STALE_LOCK_SECONDS + 0.5:.1f}s while the branch did not move, so a push into it was "
        "most likely killed halfway; nothing was pushed and the clone is unchanged. If no push "
        "to /srv/r.git is running, remove that file on the remote (git leaves it for a human "
        "to remove; gitreg never deletes a lock in another repository)"
    )


def test_a_push_url_that_cannot_be_reached_is_one_clear_line(a, tmp_path):
    """Fetching works but pushing goes elsewhere (remote.origin.pushurl) and fails."""
    gone = tmp_path / "gone.git"
    git(a, "config", "remote.origin.pushurl", str(gone))
    before = snapshot(a)
    with pytest.raises(RemoteUnavailable) as caught:
        Registry(a).create_model_version("churn", "s3://m/1")
    assert str(caught.value) == (
        f"cannot push to origin: '{gone}' does not appear to be a git repository; nothing was "
        "pushed and the local branch is unchanged"
    )
    assert snapshot(a) == before


def test_a_hook_refusal_that_is_not_utf8_is_still_one_line(a, bare_remote):
    install_hook(bare_remote, "printf 'frozen \\377 until Monday\\n' >&2; exit 1")
    with pytest.raises(PushRejected) as caught:
        Registry(a).create_model_version("churn", "s3://m/1")
    assert str(caught.value) == (
        "origin refused the push to refs/heads/main: pre-receive hook declined "
        "(frozen \ufffd until Monday); nothing was pushed and the local branch is unchanged"
    )


def test_a_request_branch_named_in_another_encoding_is_listed_not_a_crash(a, bare_remote):
    """Branch names are bytes to git; someone pushed one that is not UTF-8."""
    import subprocess

    tip = remote_tip(bare_remote)
    commit = git(a, "commit-tree", "-p", tip, "-m", "A hand-made request", f"{tip}^{{tree}}")
    name = b"refs/heads/gitreg/caf\xe9"
    refspec = commit.strip().encode() + b":" + name
    subprocess.run(["git", "push", "-q", "origin", refspec], cwd=a, check=True)
    (listed,) = Registry(a).list_transition_requests()
    assert (listed.branch, listed.commit, listed.kind) == ("gitreg/caf\ufffd", commit.strip(), None)


def test_a_proposal_carries_the_diff_a_reviewer_reads(a, bare_remote):
    """The pull request's body shows the change as ``git diff`` of the branch shows it."""
    from gitreg.store.proposal import propose

    def mutation(tx):
        tx.message = "Say hello"
        tx.write("README.md", "hello\n")

    store = Registry(a).store
    proposal, _ = propose(store, mutation, "gitreg/readme", None)
    assert proposal is not None
    assert proposal.created
    shown = git(bare_remote, "diff", "--no-color", "main", "gitreg/readme", "--", "README.md")
    assert "+hello" in shown
    assert proposal.diff == shown


def test_a_retry_count_in_gitreg_yaml_caps_the_re_applied_attempts(a, bare_remote):
    """registry.retries: 0 — the first lost race gives up, nothing is committed here."""
    config = a / "gitreg.yaml"
    config.write_text(config.read_text().replace("push: auto", "push: auto\n  retries: 0"))
    git(a, "commit", "-qam", "No retries")
    git(a, "push", "-q")
    loser = Registry(a)
    original = loser.store.transaction

    won: list[int] = []

    def interfering(mutation, *args, **kw):
        def wrapped(tx):
            if len(won) < 2:  # wins the first two races; a third try would land
                won.append(1)
                Registry(winner).create_model_version("churn", "s3://w/1")
            return mutation(tx)

        return original(wrapped, *args, **kw)

    winner = clone(bare_remote, a.parent / "winner")
    loser.store.transaction = interfering  # type: ignore[method-assign]
    before = snapshot(a)
    with pytest.raises(ConcurrentUpdate, match="1 pushes in"):
        loser.create_model_version("churn", "s3://a/1")
    assert snapshot(a) == before
