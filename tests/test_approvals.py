"""Who must approve a promotion: ``policy.approvals`` judged by the gate (issue 24).

The registry is a real git repository: ``main`` holds churn (version 1 in Production
with @champion, version 3 in Staging) and a policy that asks two approvals for Production
and one for @champion; each test branches ``pr`` off it, edits a manifest as a person
would, and runs ``gitreg validate --base main --pull-request 7``. ``tests/_forge.py`` is a
real HTTP server on 127.0.0.1 STANDING IN FOR GITHUB'S (and GitLab's) REST API: it knows
pull request #7, who opened it, its head commit and every review; ``tests/_servers``
stands in for a forge that fails (401, 403, 5xx) or never answers, and for an attacker's
endpoint that records every header it gets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitreg.gate.scaffold import init_registry
from tests import _forge
from tests._helpers import Cli, git, head
from tests._pr import CHURN, commit, edit, write
from tests._servers import Answer, serving, silent

FORGE = "    type: {kind}\n    repository: acme/registry\n    api_url: {url}\n"
APPROVALS = """\
  approvals:
    Production: {min: 2, from: [alice, bob, carol, "@acme/ml-leads"], after_last_push: true}
    "@champion": {min: 1, from: [alice, bob, carol]}
"""
PROMOTE_3 = (
    ("    stage: Production\n", "    stage: Archived\n"),
    ("    stage: Staging\n", "    stage: Production\n"),
)
CHAMPION_3 = (("  champion: 1\n", "  champion: 3\n"),)
DESCRIBE = (("description: Predicts 30-day churn.\n", "description: Predicts churn.\n"),)


def make_registry(root: Path, url: str, approvals: str = APPROVALS, kind: str = "github") -> Path:
    """``main``: churn and a policy with ``approvals``; ``pr`` checked out."""
    init_registry(root)
    config = (root / "gitreg.yaml").read_text()
    config = config.replace("    type: none\n", FORGE.format(kind=kind, url=url))
    write(root, "gitreg.yaml", config + approvals)
    write(root, "models/churn.yaml", CHURN)
    commit(root, "Base registry")
    git(root, "switch", "-q", "-c", "pr")
    return root


@pytest.fixture
def forge(monkeypatch: pytest.MonkeyPatch) -> Iterator[_forge.Forge]:
    monkeypatch.setenv("GITHUB_TOKEN", _forge.TOKEN)
    monkeypatch.setenv("GITLAB_TOKEN", _forge.TOKEN)
    with _forge.serving() as server:
        yield server


@pytest.fixture
def repo(tmp_path: Path, forge: _forge.Forge) -> Path:
    return make_registry(tmp_path / "registry", forge.url)


def change(root: Path, *pairs: tuple[str, str], message: str = "Change churn") -> str:
    """Edit churn as a pull request would and commit it; the new head."""
    for old, new in pairs:
        edit(root, "models/churn.yaml", old, new)
    commit(root, message)
    return head(root)


def opened(forge: _forge.Forge, root: Path, author: str = "mallory") -> None:
    """Pull request #7 from ``pr``, opened by ``author``, at the branch's head."""
    forge.add_pull(7, head(root), author=author)


def validate(root: Path, code: int, *more: str) -> dict:
    result = Cli(root).run("validate", "--base", "main", "--pull-request", "7", *more, "--json")
    assert result.exit_code == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def the_finding(report: dict, code: str = "APPROVAL_REQUIRED") -> dict:
    [found] = [f for f in report["findings"] if f["code"] == code]
    return found


# ------------------------------------------------------------------ what passes


def test_two_approvals_of_the_head_pass(repo, forge):
    change(repo, *PROMOTE_3)
    opened(forge, repo)
    forge.review(7, "alice", "APPROVED")
    forge.review(7, "bob", "APPROVED")

    report = validate(repo, 0)

    assert report["findings"] == []
    [verdict] = report["approvals"]
    assert verdict["requirement"] == "Production"
    assert verdict["approved_by"] == ["alice", "bob"]
    assert verdict["met"] is True
    [note] = [n for n in report["notes"] if n["code"] == "APPROVED"]
    assert "approved by alice, bob" in note["message"]


def test_an_alias_move_with_its_one_approval_passes(repo, forge):
    change(repo, *CHAMPION_3)
    opened(forge, repo)
    forge.review(7, "carol", "APPROVED")

    report = validate(repo, 0)

    assert [(v["requirement"], v["approved_by"]) for v in report["approvals"]] == [
        ("@champion", ["carol"])
    ]


def test_a_description_only_change_needs_no_approval_and_asks_nothing(repo, forge):
    change(repo, *DESCRIBE)
    opened(forge, repo)

    report = validate(repo, 0)

    assert report["findings"] == []
    assert "approvals" not in report
    assert forge.calls == [], "no protected change: the forge is not asked"


def test_the_default_policy_of_gitreg_init_needs_no_approval(tmp_path):
    """A registry as ``gitreg init`` writes it (forge none, no approvals section) still
    validates a promotion with no forge at all."""
    root = tmp_path / "plain"
    init_registry(root)
    write(root, "models/churn.yaml", CHURN)
    commit(root, "Base")
    git(root, "switch", "-q", "-c", "pr")
    change(root, *PROMOTE_3)

    report = validate(root, 0)

    assert report["findings"] == []


# ------------------------------------------------------------------ what fails


def test_one_approval_is_one_finding_naming_who_approved_and_who_may(repo, forge):
    change(repo, *PROMOTE_3)
    opened(forge, repo)
    forge.review(7, "alice", "APPROVED")

    report = validate(repo, 1)

    assert [f["code"] for f in report["findings"]] == ["APPROVAL_REQUIRED"]
    finding = the_finding(report)
    message = finding["message"]
    assert message.startswith("churn: version 1: Production -> Archived; version 3: Staging")
    assert "needs 2 approvals, 1 more (policy.approvals.Production: 2 approvals from alice, "
    assert "approved so far by alice" in message
    assert "may still approve: bob, carol, a member of @acme/ml-leads" in message
    assert "run this check again" in message
    assert "no new commit is needed" in message
    assert finding["path"] == "models/churn.yaml"
    text = Cli(repo).fails(1, "validate", "--base", "main", "--pull-request", "7").stdout
    assert "models/churn.yaml:" in text
    assert ": APPROVAL_REQUIRED: churn: version 1" in text


def test_the_authors_own_approval_does_not_count(repo, forge):
    change(repo, *PROMOTE_3)
    opened(forge, repo, author="carol")
    forge.review(7, "carol", "APPROVED")
    forge.review(7, "alice", "APPROVED")

    message = the_finding(validate(repo, 1))["message"]

    assert "approved so far by alice" in message
    assert "not counted: carol (the author)" in message
    assert "may still approve: bob, a member of @acme/ml-leads" in message  # not carol


def test_self_true_lets_the_author_approve(tmp_path, forge):
    rules = "  approvals:\n    Production: {min: 1, from: [carol], self: true}\n"
    root = make_registry(tmp_path / "r", forge.url, rules)
    change(root, *PROMOTE_3)
    opened(forge, root, author="carol")
    forge.review(7, "carol", "APPROVED")

    assert validate(root, 0)["approvals"][0]["approved_by"] == ["carol"]


def test_an_author_of_a_commit_is_an_author_too(repo, forge):
    """Bob opened the pull request, but alice pushed one of its commits: with self false
    her approval does not count either (GitHub attributes each commit to an account)."""
    change(repo, *PROMOTE_3)
    opened(forge, repo, author="bob")
    forge.pulls[7]["contributors"] = ["bob", "alice"]
    forge.review(7, "alice", "APPROVED")
    forge.review(7, "carol", "APPROVED")

    message = the_finding(validate(repo, 1))["message"]

    assert "not counted: alice (an author of its commits)" in message
    assert "approved so far by carol" in message


def test_approvals_of_an_older_commit_do_not_count_after_a_push(repo, forge):
    first = change(repo, *PROMOTE_3[:1], message="Archive 1")
    opened(forge, repo)
    forge.review(7, "alice", "APPROVED")
    forge.review(7, "bob", "APPROVED")
    forge.push(7, change(repo, *PROMOTE_3[1:], message="Promote 3"))

    message = the_finding(validate(repo, 1))["message"]

    assert "approved so far by nobody" in message
    assert f"alice (approved commit {first[:12]}, not the head {head(repo)[:12]})" in message
    assert "may still approve: alice, bob, carol" in message


def test_without_after_last_push_an_older_approval_counts(tmp_path, forge):
    rules = '  approvals:\n    "@champion": {min: 1, from: [alice]}\n'
    root = make_registry(tmp_path / "r", forge.url, rules)
    change(root, *CHAMPION_3)
    opened(forge, root)
    forge.review(7, "alice", "APPROVED")
    forge.push(7, change(root, *DESCRIBE, message="Reword"))

    assert validate(root, 0)["approvals"][0]["approved_by"] == ["alice"]


def test_an_approval_followed_by_changes_requested_is_withdrawn(repo, forge):
    change(repo, *PROMOTE_3)
    opened(forge, repo)
    forge.review(7, "alice", "APPROVED")
    forge.review(7, "bob", "APPROVED")
    forge.review(7, "bob", "CHANGES_REQUESTED")
    forge.review(7, "alice", "COMMENTED")  # a comment withdraws nothing

    message = the_finding(validate(repo, 1))["message"]

    assert "approved so far by alice" in message
    assert "bob (requested changes after approving)" in message


def test_a_dismissed_approval_is_withdrawn(repo, forge):
    change(repo, *CHAMPION_3)
    opened(forge, repo)
    forge.review(7, "alice", "APPROVED")
    forge.dismiss(7, "alice")

    message = the_finding(validate(repo, 1))["message"]

    assert "not counted: alice (review dismissed)" in message


def test_a_reviewer_outside_from_does_not_count(repo, forge):
    change(repo, *CHAMPION_3)
    opened(forge, repo)
    forge.review(7, "erin", "APPROVED")

    message = the_finding(validate(repo, 1))["message"]

    assert "approved so far by nobody" in message
    assert "erin (not named in from)" in message
    assert [p for _, p, _ in forge.calls if "/orgs/" in p] == [], "no team in this rule"


def test_a_team_member_counts_through_the_membership_endpoint(repo, forge):
    forge.teams["acme/ml-leads"] = {"dave"}
    change(repo, *PROMOTE_3)
    opened(forge, repo)
    forge.review(7, "dave", "APPROVED")
    forge.review(7, "erin", "APPROVED")
    forge.review(7, "alice", "APPROVED")

    report = validate(repo, 0)

    [verdict] = report["approvals"]
    assert verdict["approved_by"] == ["dave", "alice"]
    assert verdict["not_counted"] == [{"user": "erin", "why": "not named in from"}]
    asked = [p for _, p, _ in forge.calls if p.startswith("/orgs/")]
    assert asked == [
        "/orgs/acme/teams/ml-leads/memberships/dave",
        "/orgs/acme/teams/ml-leads/memberships/erin",
    ]


def test_codeowners_are_the_owners_of_the_manifest_at_the_base(tmp_path, forge):
    rules = '  approvals:\n    "@champion": {min: 1, from: codeowners}\n'
    root = make_registry(tmp_path / "r", forge.url, rules)
    git(root, "switch", "-q", "main")
    owners = "/gitreg.yaml @admins\n/models/churn.yaml @frank @acme/growth\n/models/f*.yaml @x\n"
    write(root, ".github/CODEOWNERS", owners)
    commit(root, "Owners")
    git(root, "switch", "-q", "pr")
    git(root, "merge", "-q", "main")
    # The pull request makes its author an owner: the base's file decides, not this one.
    write(root, ".github/CODEOWNERS", owners + "/models/ @mallory\n")
    change(root, *CHAMPION_3)
    opened(forge, root)
    forge.review(7, "mallory", "APPROVED")  # the author, and an owner only in the change
    forge.review(7, "alice", "APPROVED")

    message = the_finding(validate(root, 1))["message"]

    assert "from the model's code owners (CODEOWNERS)" in message
    assert "alice (not named in from)" in message
    assert "may still approve: frank, a member of @acme/growth" in message
    forge.review(7, "frank", "APPROVED")
    assert validate(root, 0)["approvals"][0]["approved_by"] == ["frank"]


def test_codeowners_without_an_owner_for_the_model_approves_nobody(tmp_path, forge):
    """The CODEOWNERS gitreg init writes has only commented examples: nobody owns churn."""
    rules = '  approvals:\n    "@champion": {min: 1, from: codeowners}\n'
    root = make_registry(tmp_path / "r", forge.url, rules)
    change(root, *CHAMPION_3)
    opened(forge, root)
    forge.review(7, "alice", "APPROVED")

    message = the_finding(validate(root, 1))["message"]

    base = git(root, "rev-parse", "main").strip()[:12]
    assert f".github/CODEOWNERS at {base} names no account or team that owns" in message
    assert "may still approve: nobody" in message
    git(root, "rm", "-q", ".github/CODEOWNERS")
    commit(root, "No owners file")
    forge.push(7, head(root))
    message = the_finding(validate(root, 1))["message"]
    assert "there is no CODEOWNERS (.github/CODEOWNERS, CODEOWNERS, docs/CODEOWNERS)" not in (
        message
    ), "the base still has its file: the change's deletion does not count"


def test_moving_production_and_the_alias_together_needs_both(repo, forge):
    change(repo, *PROMOTE_3, *CHAMPION_3)
    opened(forge, repo)
    forge.review(7, "alice", "APPROVED")

    report = validate(repo, 1)

    assert [(v["requirement"], v["met"]) for v in report["approvals"]] == [
        ("@champion", True),
        ("Production", False),
    ]
    assert [f["code"] for f in report["findings"]] == ["APPROVAL_REQUIRED"]


def test_reviews_are_read_on_every_page(repo, forge):
    """A long review: 150 comments fill the first page; alice's later change request is on
    the second, and withdraws her approval from the first."""
    change(repo, *CHAMPION_3)
    opened(forge, repo)
    forge.review(7, "alice", "APPROVED")
    for n in range(150):
        forge.review(7, f"watcher{n}", "COMMENTED")
    forge.review(7, "alice", "CHANGES_REQUESTED")

    message = the_finding(validate(repo, 1))["message"]

    assert "alice (requested changes after approving)" in message
    pages = [p for _, p, _ in forge.calls if "/reviews" in p]
    assert pages == [
        f"{_forge.GITHUB}/pulls/7/reviews?per_page=100&page=1",
        f"{_forge.GITHUB}/pulls/7/reviews?per_page=100&page=2",
    ]
    forge.review(7, "bob", "APPROVED")  # on page 2
    assert validate(repo, 0)["approvals"][0]["approved_by"] == ["bob"]


# ------------------------------------------------------------ what cannot be asked


def test_without_the_pull_request_number_the_approvals_are_unchecked(repo, forge):
    change(repo, *CHAMPION_3)
    result = Cli(repo).fails(1, "validate", "--base", "main", "--json")
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["code"] == "APPROVALS_UNCHECKED"
    assert "--pull-request N" in finding["message"]
    assert forge.calls == []


@pytest.mark.parametrize(
    ("status", "said"),
    [(401, "Bad credentials"), (403, "Resource not accessible"), (502, "Bad Gateway")],
)
def test_a_forge_that_refuses_or_fails_approves_nothing(tmp_path, monkeypatch, status, said):
    """The stand-in answers every call with ``status`` (a revoked token, a token without
    pull-requests: read, GitHub down): the gate fails closed and prints no token."""
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret_token_value")
    with serving(Answer(status, {"message": said})) as broken:
        root = make_registry(tmp_path / "r", broken.url)
        change(root, *CHAMPION_3)
        result = Cli(root).run("validate", "--base", "main", "--pull-request", "7")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "APPROVALS_UNCHECKED" in result.stdout
    assert f"GitHub could not be asked: GitHub answered {status}" in result.stdout
    assert "nothing counts as approved until they can" in result.stdout
    assert "ghp_secret_token_value" not in result.stdout + result.stderr
    assert broken.requests[0].headers["Authorization"] == "Bearer ghp_secret_token_value"


def test_a_forge_that_never_answers_times_out_and_approves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret_token_value")
    monkeypatch.setenv("GITREG_FORGE_TIMEOUT", "0.2")
    with silent() as url:
        root = make_registry(tmp_path / "r", url)
        change(root, *CHAMPION_3)
        result = Cli(root).run("validate", "--base", "main", "--pull-request", "7")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "APPROVALS_UNCHECKED" in result.stdout
    assert "did not answer GET" in result.stdout
    assert "within 0.2s" in result.stdout
    assert "ghp_secret_token_value" not in result.stdout + result.stderr


def test_without_a_token_nothing_is_approved(repo, forge, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN")
    change(repo, *CHAMPION_3)
    opened(forge, repo)
    message = the_finding(validate(repo, 1), "APPROVALS_UNCHECKED")["message"]
    assert "set GITHUB_TOKEN or GITREG_TOKEN" in message


def test_a_bad_timeout_setting_is_one_clear_line(repo, forge, monkeypatch):
    monkeypatch.setenv("GITREG_FORGE_TIMEOUT", "soon")
    change(repo, *CHAMPION_3)
    opened(forge, repo)
    message = the_finding(validate(repo, 1), "APPROVALS_UNCHECKED")["message"]
    assert "GITREG_FORGE_TIMEOUT='soon': give seconds from 0.1 to 300" in message


def test_the_reviews_of_another_head_do_not_approve_this_work_tree(repo, forge):
    change(repo, *CHAMPION_3)
    forge.add_pull(7, "1" * 40)
    forge.review(7, "alice", "APPROVED")

    message = the_finding(validate(repo, 1), "APPROVALS_UNCHECKED")["message"]

    assert f"pull request #7's head is {'1' * 12}, but this check runs on {head(repo)[:12]}" in (
        message
    )


def test_an_uncommitted_edit_is_not_what_was_approved(repo, forge):
    change(repo, *CHAMPION_3)
    opened(forge, repo)
    forge.review(7, "alice", "APPROVED")
    edit(repo, "models/churn.yaml", "  champion: 3\n", "  champion: 3\n  challenger: 3\n")

    message = the_finding(validate(repo, 1), "APPROVALS_UNCHECKED")["message"]

    assert "models/churn.yaml differs from pull request #7's head here" in message


def test_ci_checks_out_a_merge_of_the_head_and_that_is_the_change(repo, forge):
    """actions/checkout checks out refs/pull/N/merge: a merge of the head into the base."""
    pr_head = change(repo, *CHAMPION_3)
    forge.add_pull(7, pr_head)
    forge.review(7, "alice", "APPROVED")
    git(repo, "switch", "-q", "--detach", "main")
    git(repo, "merge", "-q", "--no-ff", pr_head, "-m", "Merge pr into main")

    assert validate(repo, 0)["approvals"][0]["approved_by"] == ["alice"]


# ----------------------------------------------------------- trust: the base decides


def test_the_change_cannot_choose_the_forge_or_relax_the_rules(repo, forge):
    """The pull request points registry.forge at its author's server and drops the rules:
    the base's gitreg.yaml still names the forge, and its rules judge."""
    with serving(Answer(200, {"approved": True})) as attacker:
        config = (repo / "gitreg.yaml").read_text()
        config = config.replace(forge.url, attacker.url).replace(APPROVALS, "")
        write(repo, "gitreg.yaml", config)
        change(repo, *CHAMPION_3)
        opened(forge, repo)

        message = the_finding(validate(repo, 1))["message"]

    assert "policy.approvals.@champion" in message
    assert attacker.requests == [], "the change's api_url received nothing"


def test_in_github_actions_the_runner_names_the_forge(repo, forge, monkeypatch):
    """Inside Actions the API origin and repository are the runner's (GITHUB_API_URL,
    GITHUB_REPOSITORY), as for the audit, whatever registry.forge says."""
    config = (repo / "gitreg.yaml").read_text()
    git(repo, "switch", "-q", "main")
    write(repo, "gitreg.yaml", config.replace(forge.url, "https://api.github.example"))
    commit(repo, "Forge moves")
    git(repo, "switch", "-q", "pr")
    git(repo, "merge", "-q", "main")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_API_URL", forge.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/registry")
    change(repo, *CHAMPION_3)
    opened(forge, repo)
    forge.review(7, "bob", "APPROVED")

    assert validate(repo, 0)["approvals"][0]["approved_by"] == ["bob"]


# ---------------------------------------------------------------------- GitLab


@pytest.fixture
def lab(tmp_path: Path, forge: _forge.Forge) -> Path:
    rules = (
        "  approvals:\n"
        '    Production: {min: 2, from: [alice, bob, "@acme/ml-leads"], after_last_push: true}\n'
    )
    return make_registry(tmp_path / "lab", forge.url, rules, kind="gitlab")


def test_gitlab_merge_request_approvals_pass(lab, forge):
    forge.teams["acme/ml-leads"] = {"dave"}
    change(lab, *PROMOTE_3)
    opened(forge, lab)
    forge.review(7, "alice", "APPROVED")
    forge.review(7, "dave", "APPROVED")

    report = validate(lab, 0)

    assert report["approvals"][0]["approved_by"] == ["alice", "dave"]
    asked = [p for _, p, _ in forge.calls]
    assert f"{_forge.GITLAB}/merge_requests/7/approvals" in asked
    assert f"/groups/acme%2Fml-leads/members/all/{_forge.user_id('dave')}" in asked


def test_gitlab_approvals_before_the_last_push_do_not_count(lab, forge):
    change(lab, *PROMOTE_3[:1], message="Archive 1")
    opened(forge, lab)
    forge.review(7, "alice", "APPROVED")
    forge.review(7, "bob", "APPROVED")
    forge.push(7, change(lab, *PROMOTE_3[1:], message="Promote 3"))
    forge.review(7, "alice", "APPROVED")  # alice approves again after the push

    message = the_finding(validate(lab, 1))["message"]

    assert "approved so far by alice" in message
    assert "bob (approved an earlier push, not the head" in message


def test_gitlab_changes_requested_withdraws_an_approval(lab, forge):
    change(lab, *PROMOTE_3)
    opened(forge, lab)
    forge.review(7, "alice", "APPROVED")
    forge.review(7, "bob", "CHANGES_REQUESTED")

    message = the_finding(validate(lab, 1))["message"]

    assert "approved so far by alice" in message
    assert "bob (requested changes)" in message


# ------------------------------------------------------------ the policy section


def _config_findings(tmp_path: Path, approvals: str, kind: str = "github") -> list[dict]:
    root = tmp_path / "cfg"
    init_registry(root)
    config = (root / "gitreg.yaml").read_text()
    if kind != "none":
        config = config.replace("    type: none\n", f"    type: {kind}\n")
    write(root, "gitreg.yaml", config + approvals)
    result = Cli(root).run("validate", str(root / "gitreg.yaml"), "--json")
    return json.loads(result.stdout)["findings"]


@pytest.mark.parametrize(
    ("rules", "code", "words"),
    [
        (
            "    Staging: {min: 1, from: [alice]}\n",
            "APPROVALS_NOT_PROTECTED",
            "Staging is not in policy.protected",
        ),
        (
            '    "@challenger": {min: 1, from: [alice]}\n',
            "APPROVALS_NOT_PROTECTED",
            "@challenger is not covered by policy.protected_aliases",
        ),
        (
            "    Production: {min: 0, from: [alice]}\n",
            "APPROVALS_INVALID",
            "min must be a whole number from 1 to 100",
        ),
        (
            "    Production: {min: 3, from: [alice, bob, Alice]}\n",
            "APPROVALS_UNSATISFIABLE",
            "min is 3 but from names only 2 users (alice, bob)",
        ),
        (
            "    Prod: {min: 1, from: [alice]}\n",
            "APPROVALS_INVALID",
            "the key must be a stage (None, Staging, Production, Archived)",
        ),
        (
            "    Production: {min: 1, from: [alice, 'not a user!']}\n",
            "APPROVALS_INVALID",
            "is not a user name, an @org/team team or codeowners",
        ),
        (
            '    Production: {min: 1, from: ["@acme/ml/leads"]}\n',
            "APPROVALS_INVALID",
            "@acme/ml/leads is not a GitHub team",
        ),
    ],
)
def test_validate_checks_the_approvals_section(tmp_path, rules, code, words):
    found = _config_findings(tmp_path, "  approvals:\n" + rules)
    assert [f["code"] for f in found] == [code]
    assert words in found[0]["message"]
    assert found[0]["path"] == "gitreg.yaml"
    assert found[0]["line"] is not None


def test_approvals_need_a_forge(tmp_path):
    found = _config_findings(
        tmp_path, "  approvals:\n    Production: {min: 1, from: [alice]}\n", kind="none"
    )
    assert [f["code"] for f in found] == ["APPROVALS_NEED_FORGE"]


def test_teams_and_codeowners_are_not_counted_against_min(tmp_path):
    rules = '    Production: {min: 5, from: [alice, "@acme/ml-leads", codeowners]}\n'
    assert _config_findings(tmp_path, "  approvals:\n" + rules) == []


def test_a_base_with_a_broken_approvals_section_judges_nothing(repo, forge):
    """An approvals section that cannot judge makes the base policy invalid: fail closed."""
    git(repo, "switch", "-q", "main")
    config = (repo / "gitreg.yaml").read_text()
    write(repo, "gitreg.yaml", config.replace("min: 1, from", "min: 0, from"))
    commit(repo, "Break the rules")
    git(repo, "switch", "-q", "pr")
    git(repo, "merge", "-q", "main")
    change(repo, *DESCRIBE)
    result = Cli(repo).fails(1, "validate", "--base", "main", "--json")
    assert [f["code"] for f in json.loads(result.stdout)["findings"]] == ["BASE_POLICY_INVALID"]


def test_pull_request_needs_base(repo):
    result = Cli(repo).fails(2, "validate", "--pull-request", "7")
    assert "--pull-request needs --base" in result.stderr
