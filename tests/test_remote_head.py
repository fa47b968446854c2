"""A bare remote made by plain ``git init --bare`` (#27, first-day trap 1).

Such a repository's HEAD names ``master`` while ``gitreg init`` makes ``main``, so its HEAD
names a branch it never gets: ``resolve --remote`` failed with "couldn't find remote ref
HEAD", and ``git clone`` checked out nothing. Now ``gitreg init --remote`` points an empty
local one at the registry's branch, a remote read falls back to the remote's one branch,
and where gitreg still cannot choose, it says exactly what to run. Every remote here is a
local bare repository standing in for GitHub; git's default branch is set to ``master``
for it, as on a machine whose git has no ``init.defaultBranch``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._helpers import Cli, git
from tests.test_cli import assert_one_error_line


def plain_bare(path: Path) -> Path:
    """``git init --bare PATH`` as git does it with no configuration: HEAD is master."""
    git(path.parent, "-c", "init.defaultBranch=master", "init", "-q", "--bare", str(path))
    assert git(path, "symbolic-ref", "HEAD").strip() == "refs/heads/master"
    return path


def test_init_remote_points_an_empty_plain_bare_repository_at_main(tmp_path):
    """gitreg init --remote, the first push, git clone and resolve --remote, end to end."""
    remote = plain_bare(tmp_path / "registry.git")
    init = Cli().ok("init", str(tmp_path / "registry"), "--remote", str(remote))
    assert f"{remote} is empty and its HEAD named master; it now names main" in init.stderr
    assert git(remote, "symbolic-ref", "HEAD").strip() == "refs/heads/main"

    cli = Cli(tmp_path / "registry")
    git(cli.repo, "push", "-q", "-u", "origin", "main")  # the first push
    cli.ok("register", "churn", "s3://churn/1")  # pushed: registering is not protected

    git(tmp_path, "clone", "-q", str(remote), "clone")
    assert (tmp_path / "clone" / "gitreg.yaml").is_file(), "the clone checked the registry out"
    assert Cli(tmp_path / "clone").ok("resolve", "models:/churn/1").stdout == "s3://churn/1\n"
    resolved = Cli().ok("resolve", "models:/churn/1", "--remote", str(remote))
    assert resolved.stdout == "s3://churn/1\n"


def test_a_bare_repository_with_branches_is_never_changed_only_explained(tmp_path):
    remote = plain_bare(tmp_path / "other.git")
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "-b", "trunk", str(seed))
    (seed / "README").write_text("someone else's\n")
    git(seed, "add", "README")
    git(seed, "commit", "-qm", "theirs")
    git(seed, "push", "-q", str(remote), "trunk")

    init = Cli().ok("init", str(tmp_path / "registry"), "--remote", str(remote))
    assert f"{remote}'s HEAD names master, which it does not have" in init.stderr
    assert f"git --git-dir={remote} symbolic-ref HEAD refs/heads/main" in init.stderr
    assert git(remote, "symbolic-ref", "HEAD").strip() == "refs/heads/master", "left alone"


@pytest.fixture
def readme_remote(tmp_path: Path) -> tuple[Cli, Path]:
    """The README's tour with plain ``git init --bare`` (no ``-b main``): a registry pushed
    to a bare repository whose HEAD names master, which it never gets."""
    Cli().ok("init", str(tmp_path / "registry"))
    cli = Cli(tmp_path / "registry")
    cli.ok("register", "churn", "runs:/4f2e9a/model")
    remote = plain_bare(tmp_path / "registry.git")
    git(cli.repo, "remote", "add", "origin", "../registry.git")
    git(cli.repo, "push", "-q", "-u", "origin", "main")
    return cli, remote


def test_resolve_remote_reads_the_one_branch_when_head_names_none(readme_remote, tmp_path):
    cli, remote = readme_remote
    result = Cli().ok("resolve", "models:/churn/1", "--remote", str(remote))
    assert result.stdout == "runs:/4f2e9a/model\n"
    # A relative path is the user's, from where they stand, not from gitreg's cache.
    relative = Cli().ok("resolve", "models:/churn/1", "--remote", "registry.git", cwd=tmp_path)
    assert relative.stdout == "runs:/4f2e9a/model\n"
    shown = Cli().ok("show", "churn", "--remote", "../registry.git", cwd=cli.repo)
    assert "name:        churn" in shown.stdout


def test_request_branches_do_not_make_the_registry_branch_ambiguous(readme_remote):
    cli, remote = readme_remote
    cli.ok("transition", "churn", "1", "Production")  # protected: a gitreg/... branch
    assert "gitreg/churn/v1-production" in git(remote, "branch", "--list", "gitreg/*")
    result = Cli().ok("resolve", "models:/churn/1", "--remote", str(remote))
    assert result.stdout == "runs:/4f2e9a/model\n"


def test_several_branches_and_no_head_say_which_to_name_and_how_to_fix_it(readme_remote):
    cli, remote = readme_remote
    git(cli.repo, "push", "-q", "origin", "main:staging-copy")
    result = Cli().fails(2, "resolve", "models:/churn/1", "--remote", str(remote))
    assert_one_error_line(result)
    message = result.stderr
    assert f"{remote}'s HEAD names no branch it has" in message
    assert "it has several: main, staging-copy" in message
    assert "name one with --at BRANCH" in message
    assert f"git --git-dir={remote} symbolic-ref HEAD refs/heads/BRANCH" in message
    named = Cli().ok("resolve", "models:/churn/1", "--remote", str(remote), "--at", "main")
    assert named.stdout == "runs:/4f2e9a/model\n"


def test_a_remote_with_no_branch_yet_says_push_first(tmp_path):
    remote = plain_bare(tmp_path / "empty.git")
    result = Cli().fails(2, "resolve", "models:/churn/1", "--remote", str(remote))
    assert_one_error_line(result)
    assert "has no branch yet (its HEAD names none): push the registry to it first" in (
        result.stderr
    )


def test_a_clone_that_checked_out_nothing_says_which_branch_to_check_out(readme_remote, tmp_path):
    _, remote = readme_remote
    git(tmp_path, "clone", "-q", str(remote), "clone")  # git warns, checks out nothing
    clone = tmp_path / "clone"
    assert not (clone / "gitreg.yaml").exists()

    result = Cli(clone).fails(2, "models")
    assert_one_error_line(result)
    assert "run 'gitreg init" not in result.stderr, "never a second registry over the first"
    assert f"{clone} has nothing checked out" in result.stderr
    assert "the registry is on origin/main" in result.stderr
    assert f"run git -C {clone} checkout main" in result.stderr
    assert f"git --git-dir={remote} symbolic-ref HEAD refs/heads/main" in result.stderr

    git(clone, "checkout", "-q", "main")
    assert Cli(clone).ok("resolve", "models:/churn/1").stdout == "runs:/4f2e9a/model\n"


def test_a_repository_that_is_not_a_registry_still_says_gitreg_init(tmp_path):
    """An ordinary repository (commits, no gitreg.yaml) keeps the old advice."""
    plain = tmp_path / "plain"
    git(tmp_path, "init", "-q", str(plain))
    result = Cli(plain).fails(2, "models")
    assert f"run 'gitreg init {plain}'" in result.stderr
