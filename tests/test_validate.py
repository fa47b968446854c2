"""``gitreg validate`` without a base: schemas and invariants of every file (issue #4)."""

from __future__ import annotations

import json

import pytest

from gitreg.core import validate
from tests._helpers import Cli, git
from tests._pr import CHURN, FRAUD, edit, line_of, make_base, write


@pytest.fixture
def repo(tmp_path):
    return make_base(tmp_path / "registry")


@pytest.fixture
def gate(repo):
    return Cli(repo)


def findings(result):
    return [(f["path"], f["line"], f["code"]) for f in json.loads(result.stdout)["findings"]]


def test_a_new_registry_is_valid(cli):
    result = cli.ok("validate")
    assert result.stdout == "gitreg validate: valid; 2 files checked\n"


def test_a_valid_registry_passes_in_every_format(gate):
    assert "valid; 4 files checked" in gate.ok("validate").stdout
    data = json.loads(gate.ok("validate", "--format", "json").stdout)
    assert data == {
        "valid": True,
        "base": None,
        "base_commit": None,
        "checked": 4,
        "findings": [],
        "notes": [],
        "changes": [],
    }
    assert gate.ok("validate", "--format", "github").stdout.startswith("gitreg validate: valid")


def test_two_production_versions_are_refused_at_the_second(repo, gate):
    edit(repo, "models/churn.yaml", "    stage: Staging\n", "    stage: Production\n")

    result = gate.fails(1, "validate", "--format", "json")

    stage = line_of(repo, "models/churn.yaml", "stage:", after="version: 3")
    assert findings(result) == [("models/churn.yaml", stage, "MULTIPLE_PRODUCTION")]


def test_a_yaml_syntax_error_is_one_finding_with_its_line(repo, gate):
    edit(repo, "models/fraud.yaml", "stage: None", "stage: None\n  oops: : :")

    result = gate.fails(1, "validate")

    lines = result.stdout.splitlines()
    assert lines[0].startswith("models/fraud.yaml:8: YAML_SYNTAX: YAML syntax error:")
    assert lines[-1] == "gitreg validate: invalid; 1 problem in 1 file; 4 files checked"
    assert "Traceback" not in result.stdout + result.stderr


def test_schema_and_invariant_problems_name_their_lines(repo, gate):
    edit(repo, "models/churn.yaml", "  champion: 1\n", "  champion: 2\n  latest: 3\n")
    edit(repo, "models/churn.yaml", "next_version: 4", "next_version: 3")
    edit(repo, "models/fraud.yaml", "name: fraud", "name: froud")
    edit(repo, "models/fraud.yaml", "stage: None", "stage: Retired")

    result = gate.fails(1, "validate", "--format", "json")

    got = findings(result)
    assert ("models/churn.yaml", 5, "ALIAS_DANGLING") in got
    assert ("models/churn.yaml", 6, "ALIAS_RESERVED") in got
    assert ("models/churn.yaml", 7, "NEXT_VERSION") in got
    assert ("models/fraud.yaml", 2, "NAME_MISMATCH") in got
    assert ("models/fraud.yaml", 7, "SCHEMA") in got
    for finding in json.loads(result.stdout)["findings"]:
        assert ";" in finding["message"] or "add it" in finding["message"], finding


def test_stray_files_in_models_are_refused(repo, gate):
    write(repo, "models/notes.txt", "todo\n")
    write(repo, "models/old.yml", FRAUD.replace("fraud", "old"))
    write(repo, "models/sub/x.yaml", FRAUD)
    write(repo, "models/con.yaml", FRAUD)  # the model "con" lives in %63on.yaml

    result = gate.fails(1, "validate", "--format", "json")

    assert findings(result) == [
        ("models/con.yaml", None, "NAME_INVALID"),
        ("models/notes.txt", None, "STRAY_FILE"),
        ("models/old.yml", None, "STRAY_FILE"),
        ("models/sub", None, "STRAY_FILE"),
    ]
    messages = [f["message"] for f in json.loads(result.stdout)["findings"]]
    assert "rename it to .yaml" in messages[2]


def test_names_that_differ_only_in_case_are_refused(repo, gate):
    write(repo, "models/Churn.yaml", CHURN.replace("name: churn", "name: Churn"))

    result = gate.fails(1, "validate", "--format", "json")

    assert findings(result) == [
        ("models/Churn.yaml", None, "NAME_CASE_CONFLICT"),
        ("models/churn.yaml", None, "NAME_CASE_CONFLICT"),
    ]


def test_the_config_is_checked_too(repo, gate):
    edit(repo, "gitreg.yaml", "  protected: [Production]", "  protected: [Prod]")
    result = gate.fails(1, "validate", "--format", "json")
    assert [(p, c) for p, _, c in findings(result)] == [("gitreg.yaml", "SCHEMA")]

    edit(repo, "gitreg.yaml", "  protected: [Prod]", "  protected: [Production]")
    edit(repo, "gitreg.yaml", "  stages: [None, Staging, Production, Archived]", "  stages: [None]")
    result = gate.fails(1, "validate", "--format", "json")
    assert {c for _, _, c in findings(result)} == {"POLICY_UNKNOWN_STAGE"}


def test_paths_limit_the_check_to_those_files(repo, gate):
    edit(repo, "models/fraud.yaml", "name: fraud", "name: froud")

    gate.ok("validate", "models/churn.yaml", cwd=repo)
    result = gate.fails(1, "validate", "models/fraud.yaml", "README.md", cwd=repo)
    assert "1 file checked" in result.stdout
    result = gate.fails(1, "validate", "fraud.yaml", cwd=repo / "models")
    assert "NAME_MISMATCH" in result.stdout


def test_bad_paths_cannot_run(repo, gate, tmp_path):
    result = gate.fails(2, "validate", "models/nope.yaml", cwd=repo)
    assert "no such file" in result.stderr
    (tmp_path / "elsewhere.yaml").write_text("x: 1\n")
    result = gate.fails(2, "validate", str(tmp_path / "elsewhere.yaml"), cwd=repo)
    assert "outside the registry" in result.stderr


def test_not_a_registry_cannot_run(tmp_path):
    result = Cli().fails(2, "validate", "--repo", str(tmp_path))
    assert "not inside a git repository" in result.stderr
    git(tmp_path, "init", "-q")
    result = Cli().fails(2, "validate", "--repo", str(tmp_path))
    assert "not a gitreg registry" in result.stderr


def test_github_actions_makes_github_the_default_format(repo, gate, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    edit(repo, "models/fraud.yaml", "name: fraud", "name: froud")

    result = gate.fails(1, "validate")

    assert result.stdout.startswith(
        "::error file=models/fraud.yaml,line=2,title=NAME_MISMATCH::name 'froud' belongs in "
    )


def test_github_commands_escape_what_would_break_them():
    from gitreg.gate.report import format_github
    from gitreg.gate.review import Report

    finding = validate.Finding("models/a,b:c.yaml", 3, "X", "100% bad\nreally")
    out = format_github(Report((finding,), checked=1))
    first = out.splitlines()[0]
    assert first == "::error file=models/a%2Cb%3Ac.yaml,line=3,title=X::100%25 bad%0Areally"


def test_the_store_still_reports_a_second_production_version(registry):
    """Writes validate through the same code: a hand-broken manifest fails to load."""
    from gitreg.core.errors import InvalidManifest

    text = CHURN.replace("stage: Staging", "stage: Production")
    with pytest.raises(InvalidManifest) as info:
        registry.store.transaction(lambda tx: tx.write("models/churn.yaml", text))
    assert [f.code for f in info.value.findings] == ["MULTIPLE_PRODUCTION"]
