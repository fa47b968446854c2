"""``forge: github`` and no token (#27, first-day trap 2).

A protected ``transition`` pushes its request branch before it asks the forge for a pull
request. Without a token it used to exit 1 with only "set GITHUB_TOKEN ...", saying
nothing of the branch it had pushed, and ``requests`` failed instead of listing it. Now:

- the error says the branch is there (its name, the remote), how to open the pull
  request by hand (GitHub's compare page) and how to let gitreg open it (the token, then
  the same command again, which finds the branch and opens only the pull request);
- it still exits 1: the registry's forge was to open a pull request and did not, so a
  script's promotion step must not carry on as if reviewers had been asked (``--json``
  gives the branch and the page to scripts);
- ``requests`` lists the request branches, each with "unknown: no token", and says once
  which variable to set.

The remote is a local bare repository standing in for GitHub; the forge, where one is
asked, is tests/_forge.py's HTTP server on 127.0.0.1 standing in for GitHub's REST API.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import _forge
from tests._helpers import Cli, git, head, status
from tests.test_cli import assert_one_error_line

BRANCH = "gitreg/churn/v1-production"


def registry_on_github(tmp_path: Path, *extra: str) -> Cli:
    """``gitreg init --forge github`` with a bare remote, pushed, churn v1 registered."""
    remote = tmp_path / "registry.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = tmp_path / "registry"
    Cli().ok(
        "init", str(work), "--remote", str(remote), "--forge", "github",
        "--repository", "acme/registry",
    )  # fmt: skip
    config = work / "gitreg.yaml"
    config.write_text(
        config.read_text().replace(
            "    repository: acme/registry\n", "    repository: acme/registry\n" + "".join(extra)
        )
    )
    git(work, "commit", "-qam", "Configure the forge", "--allow-empty")
    git(work, "push", "-q", "-u", "origin", "main")
    cli = Cli(work)
    cli.ok("register", "churn", "s3://churn/1")
    return cli


@pytest.fixture
def github(tmp_path: Path) -> Cli:
    return registry_on_github(tmp_path)


def test_without_a_token_the_transition_says_the_branch_is_there_and_what_to_do(github):
    remote = github.repo.parent / "registry.git"
    main_before = git(remote, "rev-parse", "main").strip()

    result = github.fails(1, "transition", "churn", "1", "Production")

    assert_one_error_line(result)
    message = result.stderr
    assert f"is proposed on branch {BRANCH} (pushed to origin)" in message
    assert "but no pull request was opened on github" in message
    assert "set GITHUB_TOKEN or GITREG_TOKEN to a token that may open pull requests" in message
    assert "run the same command again (it finds the branch and opens the pull request)" in (
        message
    )
    compare = f"https://github.com/acme/registry/compare/main...{BRANCH}?expand=1"
    assert f"open it by hand: {compare}" in message
    # The branch is really there, and nothing else moved.
    assert git(remote, "branch", "--list", BRANCH).strip() == BRANCH
    assert git(remote, "rev-parse", "main").strip() == main_before
    assert status(github.repo) == ""
    shown = json.loads(github.ok("show", "churn", "1", "--json").stdout)
    assert shown["model_version"]["current_stage"] == "None"


def test_json_gives_scripts_the_branch_and_the_page(github):
    result = github.fails(1, "transition", "churn", "1", "Production", "--json")
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert error["error_code"] == "INVALID_STATE"
    assert error["branch"] == BRANCH
    assert error["open_url"] == f"https://github.com/acme/registry/compare/main...{BRANCH}?expand=1"


def test_asking_again_without_a_token_says_it_was_already_proposed(github):
    github.fails(1, "transition", "churn", "1", "Production")
    again = github.fails(1, "transition", "churn", "1", "Production")
    assert f"was already proposed on branch {BRANCH}" in again.stderr


def test_requests_lists_the_branches_with_review_unknown_no_token(github):
    github.fails(1, "transition", "churn", "1", "Production")

    result = github.ok("requests")

    rows = result.stdout.splitlines()
    assert rows[0].split() == ["NAME", "VERSION", "TARGET", "REQUEST", "AGE", "STALE", "REVIEW"]
    assert rows[1].split()[:4] == ["churn", "1", "Production", BRANCH]
    assert rows[1].endswith("unknown: no token")
    assert result.stderr == (
        "Review state unknown: no token, so github was not asked about pull requests and "
        "reviews; the request branches are listed. Set GITHUB_TOKEN or GITREG_TOKEN to a "
        "token that may read them.\n"
    )
    listed = json.loads(github.ok("requests", "--json").stdout)["transition_requests"]
    assert [(r["branch"], r["review"]["state"], r["review"]["reason"]) for r in listed] == [
        (BRANCH, "unknown", "no token")
    ]


def test_with_a_token_the_same_command_opens_the_pull_request_for_the_branch(tmp_path, monkeypatch):
    """The fix the message gives works: set the token, run the same command again."""
    with _forge.serving() as forge:
        cli = registry_on_github(tmp_path, f"    api_url: {forge.url}\n")
        first = cli.fails(1, "transition", "churn", "1", "Production")
        assert "open it by hand on the forge (from gitreg/churn/v1-production into main)" in (
            first.stderr
        )  # GitHub Enterprise's web address is not known from an http API URL
        assert forge.calls == [], "no token: the forge was never called"
        branch_tip = git(tmp_path / "registry.git", "rev-parse", BRANCH).strip()

        monkeypatch.setenv("GITHUB_TOKEN", _forge.TOKEN)
        again = cli.ok("transition", "churn", "1", "Production")

        url = f"https://github.example/acme/registry/pull/{forge.pull_for(BRANCH)['number']}"
        assert again.stdout.strip() == url
        assert "was already proposed in" in again.stderr
        opened = [p for m, p, _ in forge.calls if m == "POST" and p.endswith("/pulls")]
        assert len(opened) == 1, "one pull request, from the branch already pushed"
        assert git(tmp_path / "registry.git", "rev-parse", BRANCH).strip() == branch_tip
        listed = json.loads(cli.ok("requests", "--json").stdout)["transition_requests"]
        assert listed[0]["review"]["reason"] is None
        assert listed[0]["url"] == url
        assert head(cli.repo) == git(tmp_path / "registry.git", "rev-parse", "main").strip()


@pytest.mark.parametrize(
    ("forge", "remote", "page"),
    [
        (
            {"type": "github"},
            "git@github.com:acme/registry.git",
            "https://github.com/acme/registry/compare/main...gitreg/churn/v1-production?expand=1",
        ),
        (
            {"type": "github", "repository": "ml/reg", "api_url": "https://ghe.example/api/v3"},
            "/srv/git/reg.git",
            "https://ghe.example/ml/reg/compare/main...gitreg/churn/v1-production?expand=1",
        ),
        (
            {"type": "gitlab"},
            "https://gitlab.example/acme/ml/registry.git",
            "https://gitlab.example/acme/ml/registry/-/merge_requests/new?"
            "merge_request%5Bsource_branch%5D=gitreg%2Fchurn%2Fv1-production&"
            "merge_request%5Btarget_branch%5D=main",
        ),
        ({"type": "github", "api_url": "http://127.0.0.1:9/api"}, "/srv/reg.git", None),
        ({"type": "none"}, "git@github.com:acme/registry.git", None),
    ],
)
def test_the_page_that_opens_a_request_by_hand(forge, remote, page):
    from gitreg.services.promotion import open_url

    assert open_url(forge, remote, BRANCH, "main") == page
