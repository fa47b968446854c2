"""Approvals after the fact and on the record (issue 24): the audit and the readers.

A bare repository stands in for the registry on GitHub; clones open promotion requests
with gitreg and merge them as GitHub's merge button does (a merge commit), or as an
administrator does past a red check. ``tests/_forge.py`` is a real HTTP server on
127.0.0.1 STANDING IN FOR GITHUB'S (and GitLab's) REST API: it knows which pull request
produced which commit, when it merged, its head and every review. ``tests/_servers``
stands in for a webhook receiver. The audit records who approved as git notes; history,
events and delivered payloads read them back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import _forge
from tests._helpers import Cli, git, head
from tests._servers import serving
from tests.test_trust_audit import clone, make_remote

FORGE = "    type: {kind}\n    repository: acme/registry\n    api_url: {url}\n"
RULES = """\
  approvals:
    Production: {min: 2, from: [alice, bob, carol], after_last_push: true}
    "@champion": {min: 1, from: [alice, bob]}
"""
NOTES = "refs/notes/gitreg/approvals"
VERIFIED = "refs/gitreg/verified"
PRODUCTION_BRANCH = "gitreg/churn/v2-production"
CHAMPION_BRANCH = "gitreg/churn/at-champion-v2"


@pytest.fixture
def forge(monkeypatch: pytest.MonkeyPatch) -> Iterator[_forge.Forge]:
    monkeypatch.setenv("GITHUB_TOKEN", _forge.TOKEN)
    monkeypatch.setenv("GITLAB_TOKEN", _forge.TOKEN)
    with _forge.serving() as server:
        yield server


@pytest.fixture
def remote(tmp_path: Path, forge: _forge.Forge) -> Path:
    return make_remote(tmp_path, FORGE.format(kind="github", url=forge.url), RULES)


@pytest.fixture
def a(remote: Path, tmp_path: Path) -> Path:
    return clone(remote, tmp_path / "a")


@pytest.fixture
def b(remote: Path, tmp_path: Path) -> Path:
    return clone(remote, tmp_path / "b")


def tip(remote: Path, ref: str = "main") -> str:
    return git(remote, "rev-parse", ref).strip()


def request(work: Path, remote: Path, forge: _forge.Forge, *args: str) -> int:
    """Ask for a protected change with gitreg (it opens pull request N); N, with the
    stand-in told the branch's head and who opened it."""
    Cli(work).ok(*args)
    number = max(forge.pulls)
    pull = forge.pulls[number]
    pull["author"] = "mallory"
    forge.push(number, tip(remote, pull["branch"]))
    return number


def merge(work: Path, forge: _forge.Forge, number: int) -> str:
    """Merge request ``number`` as GitHub's merge button does; the merge commit."""
    branch = forge.pulls[number]["branch"]
    git(work, "fetch", "-q", "origin")
    git(work, "checkout", "-q", "-B", "merge-tmp", "origin/main")
    message = f"Merge pull request #{number} from acme/{branch}"
    git(work, "merge", "-q", "--no-ff", f"origin/{branch}", "-m", message)
    git(work, "push", "-q", "origin", "merge-tmp:main")
    git(work, "checkout", "-q", "main")
    git(work, "pull", "-q", "--ff-only", "origin", "main")
    commit = head(work)
    forge.merged(number, commit)
    return commit


def audit(work: Path, code: int, *args: str) -> dict:
    git(work, "pull", "-q", "--ff-only", "origin", "main")
    result = Cli(work).run("audit", *args, "--format", "json")
    assert result.exit_code == code, result.stdout + result.stderr
    return json.loads(result.stdout)


def promoted(a: Path, b: Path, remote: Path, forge: _forge.Forge, *approvers: str) -> str:
    """Production moves to version 2 through pull request #1, which ``approvers`` approved
    on its head before it merged; the merge commit."""
    number = request(
        a, remote, forge, "transition", "churn", "2", "Production", "--archive-existing-versions"
    )
    for who in approvers:
        forge.review(number, who, "APPROVED")
    return merge(b, forge, number)


# --------------------------------------------------------------------- the audit


def test_the_audit_records_who_approved_and_pushes_it_with_the_verified_tip(a, b, remote, forge):
    start = tip(remote)
    merged = promoted(a, b, remote, forge, "alice", "bob")

    report = audit(a, 0, "--since", start, "--record", "--bootstrap")

    [record] = report["approvals"]
    assert record["commit"] == merged
    assert record["pull_request"] == 1
    assert record["approved_by"] == ["alice", "bob"]
    assert record["author"] == "mallory"
    assert [(r["requirement"], r["met"]) for r in record["requirements"]] == [("Production", True)]
    assert tip(remote, VERIFIED) == merged
    assert report["recorded"].endswith(f"who approved 1 merge(s) kept in {NOTES}")
    note = json.loads(git(remote, "notes", f"--ref={NOTES}", "show", merged))
    assert note["approved_by"] == ["alice", "bob"]
    assert note["pull_request"] == 1
    text = Cli(a).ok("audit", "--since", start).stdout
    assert "(merged pull request #1 (GitHub)); approved by alice, bob" in text


def test_a_merge_past_a_red_check_is_reported_and_not_recorded(a, b, remote, forge):
    """An administrator merges the @champion move with no approval (branch protection
    bypassed): the audit reports it and the verified tip stays."""
    start = tip(remote)
    Cli(a).ok("audit", "--since", start, "--record", "--bootstrap")
    number = request(a, remote, forge, "alias", "churn", "champion", "2")
    forge.review(number, "erin", "APPROVED")  # not in from
    merged = merge(b, forge, number)

    report = audit(a, 1, "--record")

    [violation] = report["violations"]
    assert violation["commit"] == merged
    assert violation["pull_request"] == number
    finding = violation["finding"]
    assert finding["code"] == "MERGED_WITHOUT_APPROVAL"
    assert finding["path"] == "models/churn.yaml"
    assert (
        "churn: @champion moved from version 1 to 2: merged with 0 of the 1 approvals"
        in (finding["message"])
    )
    assert "erin (not named in from)" in finding["message"]
    assert "merged past the gate (an administrator's merge?)" in finding["message"]
    assert tip(remote, VERIFIED) == start, "a violation keeps the verified tip where it was"
    text = Cli(a).fails(1, "audit", "--since", start).stdout
    assert f"{merged[:12]} by Alice Example: models/churn.yaml:" in text
    assert ": MERGED_WITHOUT_APPROVAL: churn: @champion moved" in text


def test_an_acknowledged_merge_is_recorded_with_nobody_approving(a, b, remote, forge):
    start = tip(remote)
    Cli(a).ok("audit", "--since", start, "--record", "--bootstrap")
    merged = merge(b, forge, request(a, remote, forge, "alias", "churn", "champion", "2"))
    git(a, "pull", "-q", "--ff-only", "origin", "main")

    Cli(a).ok("audit", "--record", "--acknowledge", merged, "--reason", "hotfix, see INC-7")

    note = json.loads(git(remote, "notes", f"--ref={NOTES}", "show", merged))
    assert note["approved_by"] == []
    assert note["requirements"][0]["met"] is False
    assert "approved by nobody" in Cli(a).ok("history", "churn").stdout


def test_approvals_given_after_the_merge_do_not_count(a, b, remote, forge):
    start = tip(remote)
    merged = promoted(a, b, remote, forge, "alice")
    forge.review(1, "bob", "APPROVED")  # too late: after the merge

    [violation] = audit(a, 1, "--since", start)["violations"]

    assert violation["commit"] == merged
    assert "merged with 1 of the 2 approvals" in violation["finding"]["message"]
    assert "approved so far by alice;" in violation["finding"]["message"]


def test_after_last_push_needs_approvals_of_the_merged_head(a, b, remote, forge):
    start = tip(remote)
    number = request(
        a, remote, forge, "transition", "churn", "2", "Production", "--archive-existing-versions"
    )
    forge.review(number, "alice", "APPROVED")
    forge.review(number, "bob", "APPROVED")
    forge.push(number, "f" * 40)  # a later push: the merged head was never approved

    [violation] = audit_after(a, b, forge, number, start)

    assert "alice (approved commit" in violation["finding"]["message"]
    assert f"not the head {'f' * 12}" in violation["finding"]["message"]


def audit_after(a: Path, b: Path, forge: _forge.Forge, number: int, start: str) -> list:
    merge(b, forge, number)
    return audit(a, 1, "--since", start)["violations"]


def test_reviews_the_forge_will_not_show_fail_closed(a, b, remote, forge):
    start = tip(remote)
    promoted(a, b, remote, forge, "alice", "bob")
    forge.broken["/reviews"] = 403  # a token without pull-requests: read

    [violation] = audit(a, 1, "--since", start)["violations"]

    assert violation["finding"]["code"] == "APPROVALS_UNVERIFIED"
    assert (
        "the approvals of pull request #1 could not be read: GitHub answered 403"
        in (violation["finding"]["message"])
    )
    assert _forge.TOKEN not in json.dumps(violation)


def test_without_rules_the_audit_still_records_who_approved(tmp_path, forge):
    remote = make_remote(tmp_path, FORGE.format(kind="github", url=forge.url))
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    start = tip(remote)
    merged = promoted(a, b, remote, forge, "carol")

    report = audit(a, 0, "--since", start, "--record", "--bootstrap")

    assert report["approvals"][0]["approved_by"] == ["carol"]
    assert report["approvals"][0]["requirements"] == []
    assert json.loads(git(remote, "notes", f"--ref={NOTES}", "show", merged))["approved_by"] == [
        "carol"
    ]
    forge.broken["/reviews"] = 403
    unread = audit(a, 0, "--since", start)
    assert any("could not be read: GitHub answered 403" in n for n in unread["notes"])


def test_the_audit_reads_gitlab_approvals_of_a_merged_request(tmp_path, forge):
    remote = make_remote(tmp_path, FORGE.format(kind="gitlab", url=forge.url), RULES)
    a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
    start = tip(remote)
    number = request(a, remote, forge, "alias", "churn", "champion", "2")
    forge.review(number, "bob", "APPROVED")
    merged = merge(b, forge, number)

    report = audit(a, 0, "--since", start)

    assert report["approvals"][0]["commit"] == merged
    assert report["approvals"][0]["approved_by"] == ["bob"]
    assert report["approvals"][0]["forge"] == "gitlab"


# ------------------------------------------------------------------- the readers


@pytest.fixture
def recorded(a, b, remote, forge) -> tuple[str, str, str]:
    """Production to version 2 approved by alice and bob (#1), @champion to 2 approved by
    bob (#2), both audited and recorded; (start, first merge, second merge)."""
    start = tip(remote)
    first = promoted(a, b, remote, forge, "alice", "bob")
    number = request(a, remote, forge, "alias", "churn", "champion", "2")
    forge.review(number, "bob", "APPROVED")
    second = merge(b, forge, number)
    audit(a, 0, "--since", start, "--record", "--bootstrap")
    return start, first, second


def test_history_shows_who_approved_each_protected_change(recorded, remote, tmp_path):
    start, first, second = recorded
    fresh = clone(remote, tmp_path / "fresh")  # a plain clone has no notes

    assert "approved by" not in Cli(fresh).ok("history", "churn").stdout
    text = Cli(fresh).ok("history", "churn", "--fetch").stdout  # brings the notes

    assert f"{first[:10]}" in text
    assert "    approved by alice, bob" in text
    assert "    approved by bob" in text
    entries = json.loads(Cli(fresh).ok("history", "churn", "--json").stdout)["history"]
    by_commit = {e["commit"]: e for e in entries}
    assert by_commit[first]["approved_by"] == ["alice", "bob"]
    assert by_commit[second]["approved_by"] == ["bob"]
    assert by_commit[start]["approved_by"] is None  # a direct write: no pull request


def test_history_by_stage_and_alias_shows_the_approvers(recorded, a):
    _, first, second = recorded

    stage = Cli(a).ok("history", "churn", "--stage", "Production").stdout.splitlines()
    assert stage[0].split()[:6] == ["VERSION", "FROM", "UNTIL", "BY", "APPROVED", "BY"]
    assert "alice, bob" in next(line for line in stage if first[:10] in line)
    data = json.loads(Cli(a).ok("history", "churn", "--alias", "champion", "--json").stdout)
    assert [(i["version"], i["approved_by"], i["commit"]) for i in data["intervals"]][1:] == [
        (2, ["bob"], second)
    ]
    assert data["intervals"][0]["approved_by"] is None  # set by a direct write


def test_events_carry_approved_by_on_transitions_and_alias_moves(recorded, a):
    start, first, second = recorded

    events = json.loads(Cli(a).ok("events", "--since", start, "--json").stdout)["events"]

    carried = {(e["event"], e.get("version")): (e["commit"], e.get("approved_by")) for e in events}
    assert carried[("MODEL_VERSION_TRANSITIONED_TO_PRODUCTION", "2")] == (first, ["alice", "bob"])
    assert carried[("MODEL_VERSION_TRANSITIONED_STAGE", "1")] == (first, ["alice", "bob"])
    assert carried[("MODEL_VERSION_ALIAS_CREATED", "2")] == (second, ["bob"])


def test_delivered_payloads_carry_approved_by(tmp_path, forge):
    """A webhook receiver (a CI system's endpoint) gets approved_by in the JSON payload."""
    with serving() as receiver:
        hook = (
            "notifications:\n  allow:\n    hosts: [127.0.0.1]\n  webhooks:\n    - name: ci\n"
            f"      url: {receiver.url}/hook\n      events: [MODEL_VERSION_TRANSITIONED_STAGE]\n"
        )
        remote = make_remote(tmp_path, FORGE.format(kind="github", url=forge.url), hook)
        a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
        start = tip(remote)
        promoted(a, b, remote, forge, "carol")
        audit(a, 0, "--since", start, "--record", "--bootstrap")
        Cli(a).ok("notify", "--since", start)
        sent = [r.json() for r in receiver.requests]
    approvers = {e.get("version"): e.get("approved_by") for body in sent for e in _events(body)}
    assert approvers["2"] == ["carol"]


def _events(body: dict) -> list[dict]:
    return body.get("events") or [body]


def test_requests_show_where_each_open_requests_approvals_stand(a, remote, forge):
    production = request(
        a, remote, forge, "transition", "churn", "2", "Production", "--archive-existing-versions"
    )
    champion = request(a, remote, forge, "alias", "churn", "champion", "3")
    forge.review(production, "alice", "APPROVED")
    forge.review(champion, "bob", "APPROVED")

    listed = json.loads(Cli(a).ok("requests", "--json").stdout)["transition_requests"]

    by_target = {r["target"]: r for r in listed}
    [waiting] = by_target["Production"]["approvals"]
    assert (waiting["requirement"], waiting["approved_by"], waiting["missing"]) == (
        "Production",
        ["alice"],
        1,
    )
    assert waiting["may_approve"] == ["bob", "carol"]
    [done] = by_target["@champion"]["approvals"]
    assert (done["met"], done["approved_by"]) == (True, ["bob"])
    text = Cli(a).ok("requests").stdout
    assert "APPROVALS" in text.splitlines()[0]
    assert "Production: alice (1 more from bob, carol)" in text
    assert "@champion: bob (met)" in text


def test_requests_say_when_the_forge_cannot_tell(a, remote, forge):
    request(a, remote, forge, "alias", "churn", "champion", "3")
    forge.broken["/reviews"] = 403

    [listed] = json.loads(Cli(a).ok("requests", "--json").stdout)["transition_requests"]

    assert listed["approvals"] == []
    assert "GitHub answered 403" in listed["approvals_problem"]
    assert "unknown (GitHub answered 403" in Cli(a).ok("requests").stdout
