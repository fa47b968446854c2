"""``validate`` and ``audit`` say a failure once (#27, first-day trap 3).

The report goes to stdout and ends with its verdict; the exit status says the rest. There
is no second message ("Error: the registry is invalid: 1 problem(s), listed above"), and
with ``--format json`` there is exactly one JSON document, on stdout, and nothing on
stderr: never a second document with INVALID_PARAMETER_VALUE for an invalid registry.
"""

from __future__ import annotations

import json

import pytest

from tests._helpers import git, head
from tests._pr import edit


@pytest.fixture
def invalid(repo, gate):
    """The pull-request registry with two versions of churn in Production."""
    edit(repo, "models/churn.yaml", "    stage: Staging\n", "    stage: Production\n")
    return gate


def test_an_invalid_registry_is_reported_once_in_text(invalid):
    result = invalid.fails(1, "validate")
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("models/churn.yaml:")
    assert "MULTIPLE_PRODUCTION" in lines[0]
    assert lines[-1] == "gitreg validate: invalid; 1 problem in 1 file; 4 files checked"
    assert result.stdout.count("MULTIPLE_PRODUCTION") == 1
    assert "listed above" not in result.stdout + result.stderr


@pytest.mark.parametrize("flag", [["--json"], ["--format", "json"]])
def test_an_invalid_registry_is_one_json_document(invalid, flag):
    result = invalid.fails(1, "validate", *flag)
    assert result.stderr == "", "a second JSON document on stderr"
    report = json.loads(result.stdout)  # one document: json.loads refuses two
    assert report["valid"] is False
    assert [f["code"] for f in report["findings"]] == ["MULTIPLE_PRODUCTION"]
    assert "INVALID_PARAMETER_VALUE" not in result.stdout


def test_an_invalid_registry_in_github_format_is_its_annotations_only(invalid):
    result = invalid.fails(1, "validate", "--format", "github")
    assert result.stderr == ""
    assert result.stdout.startswith("::error file=models/churn.yaml,")
    assert result.stdout.splitlines()[-1].startswith("gitreg validate: invalid;")


def test_a_change_judged_against_its_base_is_reported_once(invalid):
    result = invalid.fails(1, "validate", "--base", "main", "--json")
    assert result.stderr == ""
    assert json.loads(result.stdout)["valid"] is False


def test_a_validate_that_cannot_run_is_one_error_with_its_own_code(gate):
    """Could not run (exit 2) is the one case with an error document: there is no report."""
    result = gate.fails(2, "validate", "--base", "no-such-branch", "--json")
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert error["error_code"] == "INVALID_PARAMETER_VALUE"  # BadRef's own code
    assert "no-such-branch" in error["message"]


# ------------------------------------------------------------------------------ audit


@pytest.fixture
def unreviewed(cli, registry_repo):
    """A registry without a forge whose history moved a version to Production directly:
    the audit reports it (UNVERIFIED: no forge confirmed a review)."""
    start = head(registry_repo)
    cli.ok("register", "churn", "s3://churn/1")
    cli.ok("transition", "churn", "1", "Production")
    return cli, start


def test_audit_violations_are_reported_once_in_text(unreviewed):
    cli, start = unreviewed
    result = cli.fails(1, "audit", "--since", start)
    assert result.stderr == ""
    assert "UNVERIFIED" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("gitreg audit: 1 violation in 2 commits")
    assert "listed above" not in result.stdout


def test_audit_violations_are_one_json_document(unreviewed):
    cli, start = unreviewed
    result = cli.fails(1, "audit", "--since", start, "--json")
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert len(report["violations"]) == 1


def test_a_clean_audit_that_cannot_be_recorded_says_why_once(cli, registry_repo):
    """A clean verdict that --record may not record (no verified tip yet, no --bootstrap):
    text says why on stderr, JSON inside its one document."""
    start = head(registry_repo)
    cli.ok("register", "churn", "s3://churn/1")

    text = cli.fails(1, "audit", "--since", start, "--record")
    assert text.stdout.splitlines()[-1].startswith("gitreg audit: 1 commit in")
    [line] = text.stderr.splitlines()
    assert line.startswith("Error: not recorded: there is no refs/gitreg/verified yet")

    result = cli.fails(1, "audit", "--since", start, "--record", "--format", "json")
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["not_recorded"]["error_code"] == "INVALID_STATE"
    assert report["not_recorded"]["message"].startswith("not recorded: there is no")
    assert git(registry_repo, "for-each-ref", "refs/gitreg/") == ""
