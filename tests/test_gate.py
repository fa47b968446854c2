"""The change rules of ``gitreg validate --base`` on pull-request-shaped histories (issue #4)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gitreg import Registry
from tests._helpers import Cli, git
from tests._pr import CHURN, CONFIG, FRAUD, REQUIREMENTS, commit, edit, line_of, make_base, write

PROMOTE_3 = ("    stage: Staging\n", "    stage: Production\n")
ARCHIVE_1 = ("    stage: Production\n", "    stage: Archived\n")
TAG_3 = (
    "    description: Retrained on November data.\n",
    "    description: Retrained on November data.\n    tags:\n      validation: passed\n",
)


def codes(result):
    return [f["code"] for f in json.loads(result.stdout)["findings"]]


def findings(result):
    return json.loads(result.stdout)["findings"]


def test_issue4_a_second_production_version_is_refused_at_its_stage_line(repo, gate):
    edit(repo, "models/churn.yaml", *TAG_3)
    edit(repo, "models/churn.yaml", *PROMOTE_3)
    commit(repo, "Promote churn 3")

    result = gate.fails(1, "validate", "--base", "main", "--format", "json")

    [finding] = findings(result)
    assert finding["code"] == "MULTIPLE_PRODUCTION"
    assert finding["path"] == "models/churn.yaml"
    assert finding["line"] == line_of(repo, "models/churn.yaml", "stage:", after="version: 3")
    assert "version 3" in finding["message"]
    assert "--archive-existing-versions" in finding["message"]


def test_issue4_a_policy_edit_in_the_same_branch_does_not_help(repo, gate):
    """The pull request loosens gitreg.yaml; the base's policy still judges it."""
    edit(repo, "models/churn.yaml", *PROMOTE_3)  # no validation tag, second Production
    edit(repo, "gitreg.yaml", REQUIREMENTS, "  requirements: {}\n")
    commit(repo, "Relax the policy and promote churn 3")

    result = gate.fails(1, "validate", "--base", "main", "--format", "json")

    assert sorted(codes(result)) == ["MULTIPLE_PRODUCTION", "REQUIREMENT_UNMET"]
    notes = json.loads(result.stdout)["notes"]
    assert [n["code"] for n in notes] == ["BASE_POLICY_USED"]
    assert "judged by the policy of its base" in notes[0]["message"]
    text = gate.fails(1, "validate", "--base", "main").stdout
    assert "note: this change edits gitreg.yaml" in text


def test_issue4_a_promotion_without_the_required_tag_is_refused(repo, gate):
    edit(repo, "models/churn.yaml", *ARCHIVE_1)
    edit(repo, "models/churn.yaml", *PROMOTE_3)
    commit(repo, "Promote churn 3 without validation")

    result = gate.fails(1, "validate", "--base", "main", "--format", "json")

    [finding] = findings(result)
    assert finding["code"] == "REQUIREMENT_UNMET"
    assert finding["line"] == line_of(repo, "models/churn.yaml", "stage:", after="version: 3")
    assert "tag validation='passed' is required" in finding["message"]
    assert "gitreg tag churn 3 validation=passed" in finding["message"]


def test_issue4_the_same_promotion_with_the_tag_is_accepted_with_a_summary(repo, gate):
    edit(repo, "models/churn.yaml", *ARCHIVE_1)
    edit(repo, "models/churn.yaml", *PROMOTE_3)
    edit(repo, "models/churn.yaml", *TAG_3)
    edit(repo, "models/churn.yaml", "  champion: 1\n", "  champion: 3\n")
    commit(repo, "Promote churn 3")

    result = gate.ok("validate", "--base", "main")

    assert "gitreg validate: valid; 1 file checked against main" in result.stdout
    lines = result.stdout.splitlines()
    assert any(line.split()[:5] == ["churn", "1", "Production", "->", "Archived"] for line in lines)
    row = next(line for line in lines if line.split()[:2] == ["churn", "3"])
    assert "Staging -> Production" in row
    assert "@champion 1 -> 3" in row
    assert "validation=passed" in row


def test_a_promotion_made_with_the_cli_passes_the_gate(repo, gate):
    registry = Registry(repo)
    registry.set_model_version_tag("churn", 3, "validation", "passed")
    registry.transition_model_version_stage("churn", 3, "Production", True)

    result = gate.ok("validate", "--base", "main", "--format", "json")

    changes = json.loads(result.stdout)["changes"]
    moves = {(c["version"], c["stage_from"], c["stage_to"]) for c in changes}
    assert moves == {(1, "Production", "Archived"), (3, "Staging", "Production")}


def test_issue4_a_rewritten_source_is_refused(repo, gate):
    edit(repo, "models/churn.yaml", "runs:/aaa111/model", "runs:/zzz999/model")
    commit(repo, "Point churn 1 at another artifact")

    result = gate.fails(1, "validate", "--base", "main", "--format", "json")

    [finding] = findings(result)
    assert finding["code"] == "IMMUTABLE_FIELD"
    assert finding["line"] == line_of(repo, "models/churn.yaml", "runs:/zzz999/model")
    assert "runs:/aaa111/model" in finding["message"]


@pytest.mark.parametrize("field", ["run_id", "created_at", "created_by"])
def test_provenance_fields_never_change(repo, gate, field):
    old = {"run_id": "run_id: aaa111", "created_at": '"2026-11-01', "created_by": "by: alice"}
    new = {"run_id": "run_id: bbb222", "created_at": '"2025-11-01', "created_by": "by: mallory"}
    edit(repo, "models/churn.yaml", old[field], new[field])
    commit(repo, f"Rewrite {field}")

    result = gate.fails(1, "validate", "--base", "main", "--format", "json")

    assert codes(result) == ["IMMUTABLE_FIELD"]
    assert f".{field} of version 1" in findings(result)[0]["message"]


def test_issue4_a_reused_version_number_is_refused(repo, gate):
    edit(
        repo,
        "models/churn.yaml",
        "  - version: 3\n",
        "  - version: 2\n    source: s3://new/2\n    stage: None\n  - version: 3\n",
    )
    commit(repo, "Register a version numbered 2 again")

    result = gate.fails(1, "validate", "--base", "main", "--format", "json")

    [finding] = findings(result)
    assert finding["code"] == "VERSION_REUSED"
    assert finding["line"] == line_of(repo, "models/churn.yaml", "- version: 2")
    assert "next_version was 4" in finding["message"]


def test_next_version_never_decreases(repo, gate):
    edit(repo, "models/churn.yaml", "next_version: 4", "next_version: 3", 1)
    edit(repo, "models/churn.yaml", "  - version: 3\n", "  - version: 2\n")
    commit(repo, "Renumber")

    result = gate.fails(1, "validate", "--base", "main", "--format", "json")

    assert set(codes(result)) == {"NEXT_VERSION_DECREASED", "VERSION_REUSED"}
    [decrease] = [f for f in findings(result) if f["code"] == "NEXT_VERSION_DECREASED"]
    assert decrease["line"] == line_of(repo, "models/churn.yaml", "next_version:")


def test_a_transition_the_base_policy_does_not_allow_is_refused(repo, gate):
    edit(repo, "gitreg.yaml", "    Archived: [None, Staging, Production]", "    Archived: [None]")
    commit(repo, "Archived versions stay retired")
    git(repo, "switch", "-q", "-c", "pr2")
    edit(repo, "models/churn.yaml", *ARCHIVE_1)
    commit(repo, "Archive churn 1")
    gate.ok("validate", "--base", "pr")
    git(repo, "switch", "-q", "-c", "pr3")
    edit(repo, "models/churn.yaml", "    stage: Archived\n", "    stage: Production\n")
    commit(repo, "Bring churn 1 back")

    result = gate.fails(1, "validate", "--base", "pr2", "--format", "json")

    assert codes(result) == ["TRANSITION_NOT_ALLOWED"]
    assert "Archived -> Production" in findings(result)[0]["message"]


def test_issue4_a_yaml_syntax_error_is_one_clear_finding(repo, gate):
    edit(repo, "models/churn.yaml", "  champion: 1\n", "  champion: [1\n")
    commit(repo, "Hand edit gone wrong")

    result = gate.fails(1, "validate", "--base", "main", "--format", "json")

    [finding] = findings(result)
    assert finding["code"] == "YAML_SYNTAX"
    assert finding["path"] == "models/churn.yaml"
    assert finding["line"] >= line_of(repo, "models/churn.yaml", "[1")
    assert "fix the YAML" in finding["message"]
    assert "Traceback" not in result.stdout + result.stderr


def test_only_changed_manifests_are_read(repo, gate):
    """An unchanged manifest is trusted (the base was validated); a broken one is not read."""
    git(repo, "switch", "-q", "main")
    write(repo, "models/legacy.yaml", "this: [is not, a manifest\n")
    commit(repo, "Legacy file validated by nothing")
    git(repo, "switch", "-q", "pr")
    git(repo, "rebase", "-q", "main")
    edit(repo, "models/fraud.yaml", "    stage: None\n", "    stage: Staging\n")
    commit(repo, "Stage fraud 1")

    result = gate.ok("validate", "--base", "main", "--format", "json")

    assert json.loads(result.stdout)["checked"] == 1
    gate.fails(1, "validate")  # the full check does read it


def test_uncommitted_work_tree_changes_are_checked(repo, gate):
    edit(repo, "models/fraud.yaml", "s3://models/fraud/1", "s3://models/fraud/one")
    write(repo, "models/new-model.yaml", FRAUD.replace("name: fraud", "name: new-model"))

    result = gate.fails(1, "validate", "--base", "main", "--format", "json")

    assert codes(result) == ["IMMUTABLE_FIELD"]
    changes = json.loads(result.stdout)["changes"]
    assert ("new-model", "new model") in {(c["model"], c["note"]) for c in changes}


def test_a_deleted_model_is_a_summary_row_not_a_problem(repo, gate):
    git(repo, "rm", "-q", "models/fraud.yaml")
    commit(repo, "Delete fraud by hand")
    missing = gate.fails(1, "validate", "--base", "main", "--format", "json")
    assert codes(missing) == ["RETIREMENT_NOT_RECORDED"]  # numbers are never reused (#12)
    write(
        repo, "models/.retired.yaml", "schema_version: 1\nretired:\n  fraud:\n    next_version: 2\n"
    )
    commit(repo, "Record that fraud used version 1")

    result = gate.ok("validate", "--base", "main", "--format", "json")

    changes = json.loads(result.stdout)["changes"]
    assert {"model": "fraud", "version": None, "note": "model deleted"}.items() <= changes[
        0
    ].items()
    assert (1, "None", None) in {(c["version"], c["stage_from"], c["stage_to"]) for c in changes}


def test_a_new_model_entering_production_meets_the_requirements(repo, gate):
    write(repo, "models/fraud.yaml", FRAUD.replace("stage: None", "stage: Production"))
    write(repo, "models/spam.yaml", CHURN.replace("name: churn", "name: spam"))
    commit(repo, "Fraud 1 straight to Production")

    result = gate.fails(1, "validate", "--base", "main", "--format", "json")

    assert [(f["path"], f["code"]) for f in findings(result)] == [
        ("models/fraud.yaml", "REQUIREMENT_UNMET")
    ]
    assert "metric f1 is required" in findings(result)[0]["message"]


def test_push_mode_refuses_protected_stage_changes(repo, gate):
    edit(repo, "models/churn.yaml", *ARCHIVE_1)
    commit(repo, "Archive churn 1")

    gate.ok("validate", "--base", "main")
    result = gate.fails(1, "validate", "--base", "main", "--push", "--format", "json")

    assert codes(result) == ["PROTECTED_STAGE"]
    gate.fails(2, "validate", "--push")


def test_the_merge_base_is_the_comparison_point(repo, gate):
    """Commits that landed on main after the branch was cut are not the branch's changes."""
    edit(repo, "models/fraud.yaml", "    stage: None\n", "    stage: Staging\n")
    commit(repo, "Stage fraud 1")
    git(repo, "switch", "-q", "main")
    edit(repo, "models/churn.yaml", "next_version: 4", "next_version: 5")
    commit(repo, "Someone registered a version on main")
    git(repo, "switch", "-q", "pr")

    result = gate.ok("validate", "--base", "main", "--format", "json")

    assert [c["model"] for c in json.loads(result.stdout)["changes"]] == ["fraud"]


def test_github_format_annotates_and_writes_the_summary(repo, gate, tmp_path, monkeypatch):
    summary, outputs = tmp_path / "summary.md", tmp_path / "output.txt"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    edit(repo, "models/churn.yaml", *PROMOTE_3)
    commit(repo, "Promote churn 3")

    result = gate.fails(1, "validate", "--base", "main")

    stage_line = line_of(repo, "models/churn.yaml", "stage:", after="version: 3")
    assert (
        f"::error file=models/churn.yaml,line={stage_line},title=MULTIPLE_PRODUCTION::"
        in result.stdout
    )
    assert "title=REQUIREMENT_UNMET::" in result.stdout
    markdown = summary.read_text()
    assert markdown.startswith("## :x: gitreg validate: invalid: 2 problems")
    assert "| Model | Version | Stage | Aliases moved | Tags set |" in markdown
    assert "| churn | 3 | Staging → Production |  |  |" in markdown
    assert "**MULTIPLE_PRODUCTION**" in markdown
    assert outputs.read_text() == "valid=false\nproblems=2\n"


def test_a_registry_below_the_top_of_a_repository_cannot_run(tmp_path):
    """A registry is a whole repository (DESIGN.md); a nested gitreg.yaml is refused, clearly."""
    top = tmp_path / "monorepo"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    root = top / "ml" / "registry"
    write(root, "gitreg.yaml", CONFIG)
    write(root, "models/churn.yaml", CHURN)
    commit(top, "A registry inside a larger repository")

    result = Cli(root).fails(2, "validate", "--base", "main", "--format", "github")

    assert "not at the top of a git repository" in result.stderr


def test_a_bad_base_ref_cannot_run(gate):
    result = gate.fails(2, "validate", "--base", "no-such-branch")
    assert "Unknown revision 'no-such-branch'" in result.stderr
    result = gate.fails(2, "validate", "--base", "--upload-pack=evil")
    assert "Invalid revision" in result.stderr
    result = gate.fails(2, "validate", "--base", "nope", "--format", "json")
    assert result.stdout == ""


# ------------------------------------------- the reports users read on a PR (issue 17)

BASE_SHA = "0123456789abcdef0123456789abcdef01234567"
UNTIL_SHA = "abcdefabcdefabcdefabcdefabcdefabcdefabcd"


def _reviewed_change(note="judged by main's policy | 100%\nreally"):
    from gitreg.core.finding import Finding
    from gitreg.gate.review import Report
    from gitreg.gate.rules import ModelChange

    changes = (
        ModelChange("churn", None, None, None, tags=("team",), note="new model"),
        ModelChange(
            "churn", 1, None, "None", aliases=("champion -> 1", "latest -> 1"), tags=("a", "b")
        ),
        ModelChange("churn", 2, "Staging", "Staging", aliases=("best -> 2",)),
        ModelChange("fraud", 3, "Production", None),
    )
    problems = (
        Finding("models/churn.yaml", 12, "MULTIPLE_PRODUCTION", "two | versions\nin Production"),
        Finding("gitreg.yaml", None, "CONFIG_MISSING", "gitreg.yaml is missing"),
    )
    notes = (Finding("", None, "NOTE", note),)
    return Report(problems, changes, notes, 3, "origin/main|x", BASE_SHA, prefix="ml/")


def test_the_job_summary_shows_changes_problems_notes_and_verdict_exactly():
    """$GITHUB_STEP_SUMMARY: what a reviewer reads on the PR; a '|' or newline cannot break it."""
    from gitreg.gate.report import markdown_summary

    assert markdown_summary(_reviewed_change()).split("\n") == [
        "## :x: gitreg validate: invalid: 2 problems",
        "",
        "Compared with `origin/main\\|x` (`0123456789ab`); judged by the base's `gitreg.yaml` "
        "policy.",
        "",
        "| Model | Version | Stage | Aliases moved | Tags set |",
        "|---|---|---|---|---|",
        "| churn | - | new model |  | team |",
        "| churn | 1 | new → None | champion → 1, latest → 1 | a, b |",
        "| churn | 2 | Staging | best → 2 |  |",
        "| fraud | 3 | Production → deleted |  |  |",
        "",
        "### Problems",
        "",
        "- `ml/models/churn.yaml:12` **MULTIPLE_PRODUCTION**: two \\| versions in Production",
        "- `ml/gitreg.yaml` **CONFIG_MISSING**: gitreg.yaml is missing",
        "",
        "> [!NOTE]",
        "> judged by main's policy \\| 100% really",
        "",
        "**Verdict:** gitreg validate: invalid; 2 problems in 2 files; 3 files checked against "
        "origin/main\\|x (0123456789ab)",
        "",
    ]


def test_a_carriage_return_cannot_split_a_row_of_the_job_summary():
    """Markdown ends a line at \\r too: a finding quoting one must stay on its row."""
    from gitreg.gate.report import markdown_summary

    lines = markdown_summary(_reviewed_change(note="a\rb\r\nc")).split("\n")
    assert "> a b c" in lines
    assert not any("\r" in line for line in lines)


def test_a_valid_job_summary_says_so_and_whether_models_changed():
    from gitreg.gate.report import markdown_summary
    from gitreg.gate.review import Report

    untouched = Report((), checked=1, base="main", base_commit=BASE_SHA)
    assert markdown_summary(untouched) == (
        "## :white_check_mark: gitreg validate: valid\n\n"
        "Compared with `main` (`0123456789ab`); judged by the base's `gitreg.yaml` policy.\n\n"
        "This change does not touch any model.\n\n"
        "**Verdict:** gitreg validate: valid; 1 file checked against main (0123456789ab)\n"
    )
    whole = Report((), checked=2)
    assert markdown_summary(whole) == (
        "## :white_check_mark: gitreg validate: valid\n\n"
        "**Verdict:** gitreg validate: valid; 2 files checked\n"
    )


def test_github_annotations_put_errors_and_notices_on_the_diff():
    """Each finding is an ::error on its file and line, each note a ::notice, then the verdict."""
    from gitreg.core.finding import Finding
    from gitreg.gate.report import format_github

    report = _reviewed_change(note="judged by main's policy | 100%\r\nreally")
    edited = Finding("gitreg.yaml", 1, "BASE_POLICY_USED", "judged by the base's policy")
    report = dataclasses.replace(report, notes=(*report.notes, edited))
    assert format_github(report).split("\n") == [
        "::error file=ml/models/churn.yaml,line=12,title=MULTIPLE_PRODUCTION::two | versions%0A"
        "in Production",
        "::error file=ml/gitreg.yaml,title=CONFIG_MISSING::gitreg.yaml is missing",
        "::notice title=NOTE::judged by main's policy | 100%25%0D%0Areally",
        "::notice file=ml/gitreg.yaml,line=1,title=BASE_POLICY_USED::judged by the base's policy",
        "gitreg validate: invalid; 2 problems in 2 files; 3 files checked against origin/main|x "
        "(0123456789ab)",
        "",
    ]


def test_the_text_report_lists_problems_notes_an_aligned_change_table_and_the_verdict():
    from gitreg.gate.report import format_text

    assert format_text(_reviewed_change()).split("\n") == [
        "models/churn.yaml:12: MULTIPLE_PRODUCTION: two | versions",
        "in Production",
        "gitreg.yaml: CONFIG_MISSING: gitreg.yaml is missing",
        "note: judged by main's policy | 100%",
        "really",
        "",
        "Changes:",
        "  MODEL  VERSION  STAGE                  ALIASES MOVED               TAGS SET",
        "  churn  -        new model                                          team",
        "  churn  1        new -> None            champion -> 1, latest -> 1  a, b",
        "  churn  2        Staging                best -> 2",
        "  fraud  3        Production -> deleted",
        "",
        "gitreg validate: invalid; 2 problems in 2 files; 3 files checked against origin/main|x "
        "(0123456789ab)",
        "",
    ]


def test_the_json_report_is_indented_and_keeps_names_as_written():
    from gitreg.core.finding import Finding
    from gitreg.gate.report import format_json
    from gitreg.gate.review import Report

    finding = Finding("models/café.yaml", 2, "NAME_MISMATCH", "name 'Zoë' belongs elsewhere")
    out = format_json(Report((finding,), checked=1))
    assert out.split("\n") == [
        "{",
        '  "valid": false,',
        '  "base": null,',
        '  "base_commit": null,',
        '  "checked": 1,',
        '  "findings": [',
        "    {",
        '      "path": "models/café.yaml",',
        '      "line": 2,',
        '      "code": "NAME_MISMATCH",',
        '      "message": "name \'Zoë\' belongs elsewhere"',
        "    }",
        "  ],",
        '  "notes": [],',
        '  "changes": []',
        "}",
        "",
    ]


def _audit(since, commits, violations, notes=()):
    from gitreg.core.finding import Finding
    from gitreg.gate.audit import AuditReport, Violation

    found = [
        Violation(
            "fedcba9876543210fedcba9876543210fedcba98",
            "Zoë",
            "z@example.com",
            "2026-01-01T00:00:00+00:00",
            None,
            Finding("models/churn.yaml", 7, "MULTIPLE_PRODUCTION", "two in Production"),
        ),
        Violation(
            "1111111111111111111111111111111111111111",
            "Bob",
            "b@example.com",
            "2026-01-02T00:00:00+00:00",
            4,
            Finding("gitreg.yaml", None, "CONFIG_MISSING", "gitreg.yaml is missing"),
        ),
    ]
    return AuditReport(since, UNTIL_SHA, commits, tuple(found[:violations]), notes)


def test_audit_reports_name_each_commit_its_author_and_the_range_exactly():
    """gitreg audit in the push job: one line or annotation per violation, notes, the verdict."""
    from gitreg.gate.report import format_audit_github, format_audit_json, format_audit_text

    report = _audit(BASE_SHA, 3, 2, ("could not ask 100%\nof it",))
    verdict = "gitreg audit: 2 violations in 3 commits (0123456789ab..abcdefabcdef)"
    assert format_audit_text(report).split("\n") == [
        "fedcba987654 by Zoë: models/churn.yaml:7: MULTIPLE_PRODUCTION: two in Production",
        "111111111111 by Bob: gitreg.yaml: CONFIG_MISSING: gitreg.yaml is missing",
        "note: could not ask 100%",
        "of it",
        verdict,
        "",
    ]
    assert format_audit_github(report, "ml/").split("\n") == [
        "::error file=ml/models/churn.yaml,line=7,title=POLICY_VIOLATION::fedcba987654 by Zoë: "
        "MULTIPLE_PRODUCTION: two in Production",
        "::error file=ml/gitreg.yaml,title=POLICY_VIOLATION::111111111111 by Bob: "
        "CONFIG_MISSING: gitreg.yaml is missing",
        "::notice::could not ask 100%25%0Aof it",
        verdict,
        "",
    ]
    out = format_audit_json(report)
    assert out == json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    assert '\n  "commits": 3,\n' in out, "indented JSON"
    assert '"author": "Zoë"' in out, "names as written, not \\u escapes"


@pytest.mark.parametrize(
    ("since", "commits", "violations", "verdict"),
    [
        (None, 1, 0, "gitreg audit: 1 commit in the start..abcdefabcdef, no violations"),
        (BASE_SHA, 2, 0, "gitreg audit: 2 commits in 0123456789ab..abcdefabcdef, no violations"),
        (BASE_SHA, 1, 1, "gitreg audit: 1 violation in 1 commit (0123456789ab..abcdefabcdef)"),
        (None, 2, 2, "gitreg audit: 2 violations in 2 commits (the start..abcdefabcdef)"),
    ],
)
def test_the_audit_verdict_counts_and_names_the_range(since, commits, violations, verdict):
    from gitreg.gate.report import audit_verdict

    assert audit_verdict(_audit(since, commits, violations)) == verdict


def test_audit_refuses_a_commit_that_deleted_gitreg_yaml(repo):
    """A push that removes the policy is a violation even when a later commit restores it;
    and both change what judges the registry without a forge to confirm review (#22)."""
    git(repo, "rm", "-q", "gitreg.yaml")
    commit(repo, "Drop the policy")
    dropped = git(repo, "rev-parse", "HEAD").strip()
    write(repo, "gitreg.yaml", CONFIG)
    commit(repo, "Restore the policy")
    restored = git(repo, "rev-parse", "HEAD").strip()

    result = Cli(repo).fails(1, "audit", "--since", "main", "--format", "json")

    violations = json.loads(result.stdout)["violations"]
    assert [(v["commit"], v["finding"]["code"]) for v in violations] == [
        (dropped, "CONFIG_MISSING"),
        (dropped, "UNVERIFIED"),
        (restored, "UNVERIFIED"),
    ]
    assert violations[0]["finding"] == {
        "path": "gitreg.yaml",
        "line": None,
        "code": "CONFIG_MISSING",
        "message": "gitreg.yaml is missing; restore it (git checkout -- gitreg.yaml)",
    }
    assert "registry.forge is none in gitreg.yaml at" in violations[1]["finding"]["message"]


# --------------------------------------------- each change rule's finding, exactly (#17)

# A finding as a user reads it: path, (line needle, the line it comes after), code, message.
# The line is looked up in the branch's file, so the expectation names the YAML it points at.
Expected = tuple[str, tuple[str, str] | None, str, str]
Edit = tuple[str, str, str]  # path, old text (empty: a new file), new text

CHURN_V1 = CHURN[CHURN.index("  - version: 1\n") : CHURN.index("  - version: 3\n")]
FIX = "gitreg update churn 3 -d TEXT for a description; metrics are recorded at registration)"
REVIEW = (
    " is a change to a protected fact, which happens only through a reviewed pull request; "
    "open one (gitreg does, for a registry with a remote)"
)
STRICTER = ('      metrics: ["f1 >= 0.88"]', '      metrics: ["f1 >= 0.95"]')
ALIAS_RULES = (
    "gitreg.yaml",
    REQUIREMENTS,
    REQUIREMENTS + '    "@candidate":\n      tags: {validation: passed}\n'
    '    "@shadow":\n      tags: {validation: passed}\n      metrics: ["f1 >= 0.95"]\n',
)


@dataclasses.dataclass(frozen=True)
class RuleCase:
    """``main`` (tests/_pr.py, plus ``base`` edits) and a branch that makes ``edits``."""

    edits: tuple[Edit, ...]
    findings: tuple[Expected, ...]
    base: tuple[Edit, ...] = ()
    push: bool = False


RULE_CASES = {
    "a deleted stage line is a move to None": RuleCase(
        base=(
            (
                "gitreg.yaml",
                "    Staging: [None, Production, Archived]",
                "    Staging: [Production, Archived]",
            ),
        ),
        edits=(("models/churn.yaml", "    stage: Staging\n", ""),),
        findings=(
            (
                "models/churn.yaml",
                ("- version: 3", ""),
                "SCHEMA",
                "versions.1: 'stage' is a required property; add it",
            ),
            (
                "models/churn.yaml",
                ("- version: 3", ""),
                "TRANSITION_NOT_ALLOWED",
                "version 3: Staging -> None is not an allowed transition in the base's "
                "gitreg.yaml (from Staging it allows: Archived, Production); go through an "
                "allowed stage, or change the policy in a pull request of its own first",
            ),
        ),
    ),
    "a stage the policy lists no transitions from allows nothing": RuleCase(
        base=(("gitreg.yaml", "    None: [Staging, Production, Archived]\n", ""),),
        edits=(("models/fraud.yaml", "    stage: None\n", "    stage: Staging\n"),),
        findings=(
            (
                "models/fraud.yaml",
                ("stage:", ""),
                "TRANSITION_NOT_ALLOWED",
                "version 1: None -> Staging is not an allowed transition in the base's "
                "gitreg.yaml (from None it allows: nothing); go through an allowed stage, or "
                "change the policy in a pull request of its own first",
            ),
        ),
    ),
    "a stage the base's policy does not use": RuleCase(
        base=(
            (
                "gitreg.yaml",
                "  stages: [None, Staging, Production, Archived]",
                "  stages: [None, Staging, Production]",
            ),
            # A valid base names no stage outside its stages (an invalid one judges nothing).
            ("gitreg.yaml", "    None: [Staging, Production, Archived]", "    None: [Staging]"),
            ("gitreg.yaml", "    Staging: [None, Production, Archived]", "    Staging: [None]"),
            ("gitreg.yaml", "    Production: [None, Staging, Archived]", "    Production: [None]"),
            ("gitreg.yaml", "    Archived: [None, Staging, Production]\n", ""),
        ),
        edits=(("models/churn.yaml", *ARCHIVE_1),),
        findings=(
            (
                "models/churn.yaml",
                ("stage:", "version: 1"),
                "STAGE_NOT_IN_POLICY",
                "version 1: Production -> Archived: the base's gitreg.yaml does not use stage "
                "Archived (its stages: None, Staging, Production); pick one of those",
            ),
        ),
    ),
    "every unmet requirement of a stage, and only the missing tags to set": RuleCase(
        base=(
            (
                "gitreg.yaml",
                "      tags: {validation: passed}",
                "      tags: {validation: passed, owner: ml, team: risk}",
            ),
            ("gitreg.yaml", *STRICTER),
        ),
        edits=(
            ("models/churn.yaml", *ARCHIVE_1),
            ("models/churn.yaml", *TAG_3),
            ("models/churn.yaml", *PROMOTE_3),
        ),
        findings=(
            (
                "models/churn.yaml",
                ("stage:", "version: 3"),
                "REQUIREMENT_UNMET",
                "version 3: Staging -> Production: the base's gitreg.yaml requires more to "
                "enter Production: tag owner='ml' is required (it is None); tag team='risk' is "
                "required (it is None); metric f1=0.93 does not meet f1 >= 0.95; fix the "
                "version (gitreg tag churn 3 owner=ml team=risk; " + FIX,
            ),
        ),
    ),
    "an unchanged version that fails a newer requirement is not this change's problem": RuleCase(
        base=(("gitreg.yaml", *STRICTER),),
        edits=(("models/churn.yaml", "Predicts 30-day churn.", "Predicts churn within 30 days."),),
        findings=(),
    ),
    "a base stage gitreg cannot read is no transition to judge": RuleCase(
        base=(("models/fraud.yaml", "    stage: None\n", "    stage: Retired\n"),),
        edits=(("models/fraud.yaml", "    stage: Retired\n", "    stage: Staging\n"),),
        findings=(),
    ),
    "an alias that comes to point at a version needs what the policy asks of it": RuleCase(
        base=(
            ALIAS_RULES,
            ("models/churn.yaml", "  champion: 1\n", "  champion: 1\n  candidate: 3\n"),
        ),
        edits=(("models/churn.yaml", "  candidate: 3\n", "  candidate: 3\n  shadow: 3\n"),),
        findings=(
            (
                "models/churn.yaml",
                ("shadow: 3", ""),
                "REQUIREMENT_UNMET",
                "@shadow -> version 3: the base's gitreg.yaml requires more of a version "
                "@shadow points at: tag validation='passed' is required (it is None); metric "
                "f1=0.93 does not meet f1 >= 0.95; fix the version (gitreg tag churn 3 "
                "validation=passed; " + FIX,
            ),
        ),
    ),
    "an alias on a malformed version does not stop the next alias being judged": RuleCase(
        base=(ALIAS_RULES,),
        edits=(
            (
                "models/churn.yaml",
                "  champion: 1\n",
                "  champion: 1\n  candidate: 3\n  shadow: 1\n",
            ),
            ("models/churn.yaml", "    stage: Staging\n", "    stage: Bogus\n"),
        ),
        findings=(
            (
                "models/churn.yaml",
                ("shadow: 1", ""),
                "REQUIREMENT_UNMET",
                "@shadow -> version 1: the base's gitreg.yaml requires more of a version "
                "@shadow points at: metric f1=0.91 does not meet f1 >= 0.95; fix the version "
                "(gitreg update churn 1 -d TEXT for a description; metrics are recorded at "
                "registration)",
            ),
            (
                "models/churn.yaml",
                ("stage: Bogus", ""),
                "SCHEMA",
                "versions.1.stage: 'Bogus' is not one of ['None', 'Staging', 'Production', "
                "'Archived']; use one of those values",
            ),
        ),
    ),
    "next_version going down": RuleCase(
        edits=(("models/churn.yaml", "next_version: 4", "next_version: 3"),),
        findings=(
            (
                "models/churn.yaml",
                ("next_version:", ""),
                "NEXT_VERSION",
                "next_version 3 must be above every version (version 3 exists); set it to 4",
            ),
            (
                "models/churn.yaml",
                ("next_version:", ""),
                "NEXT_VERSION_DECREASED",
                "next_version went down from 4 to 3; it never decreases, so that version "
                "numbers are never reused: set it back to 4",
            ),
        ),
    ),
    "a removed and a rewritten fact of merged versions": RuleCase(
        edits=(
            ("models/churn.yaml", "    run_id: aaa111\n", ""),
            ("models/churn.yaml", "runs:/ccc333/model", "runs:/ddd444/model"),
        ),
        findings=(
            (
                "models/churn.yaml",
                ("- version: 1", ""),
                "IMMUTABLE_FIELD",
                "versions[0].run_id of version 1 changed from 'aaa111' to None; a merged "
                "version's run_id never changes: restore it, or register the new artifact as a "
                "new version (gitreg register churn SOURCE)",
            ),
            (
                "models/churn.yaml",
                ("source:", "version: 3"),
                "IMMUTABLE_FIELD",
                "versions[1].source of version 3 changed from 'runs:/ccc333/model' to "
                "'runs:/ddd444/model'; a merged version's source never changes: restore it, or "
                "register the new artifact as a new version (gitreg register churn SOURCE)",
            ),
        ),
    ),
    "a second Production version is the newcomer, even listed first": RuleCase(
        base=(
            ("models/churn.yaml", "    stage: Production\n", "    stage: Staging\n"),
            (
                "models/churn.yaml",
                "    stage: Staging\n    description",
                "    stage: Production\n    description",
            ),
        ),
        edits=(("models/churn.yaml", "    stage: Staging\n", "    stage: Production\n"),),
        findings=(
            (
                "models/churn.yaml",
                ("stage:", "version: 1"),
                "MULTIPLE_PRODUCTION",
                "versions[0]: version 1 is in Production, but version 3 already is; at most one "
                "version per model is in Production: archive the old one in the same change "
                "(gitreg transition churn 1 Production --archive-existing-versions)",
            ),
        ),
    ),
    "a new model cannot use a number below the first": RuleCase(
        edits=(
            (
                "models/spam.yaml",
                "",
                "schema_version: 1\nname: spam\nnext_version: 1\nversions:\n"
                "  - version: 0\n    source: s3://spam/0\n    stage: None\n",
            ),
        ),
        findings=(
            (
                "models/spam.yaml",
                ("version: 0", ""),
                "SCHEMA",
                "versions.0.version: 0 is less than the minimum of 1; fix it to match gitreg's "
                "manifest.schema.json",
            ),
        ),
    ),
    "push: a protected stage left, at the version's stage line": RuleCase(
        push=True,
        edits=(("models/churn.yaml", *ARCHIVE_1),),
        findings=(
            (
                "models/churn.yaml",
                ("stage:", "version: 1"),
                "PROTECTED_STAGE",
                "churn: version 1: Production -> Archived" + REVIEW,
            ),
        ),
    ),
    "push: a protected alias moved, at the alias's line": RuleCase(
        push=True,
        edits=(("models/churn.yaml", "  champion: 1\n", "  champion: 3\n"),),
        findings=(
            (
                "models/churn.yaml",
                ("champion: 3", ""),
                "PROTECTED_ALIAS",
                "churn: @champion moved from version 1 to 3" + REVIEW,
            ),
        ),
    ),
    "push: a Production version deleted, at the model's name": RuleCase(
        push=True,
        base=(("models/churn.yaml", "  champion: 1\n", "  champion: 3\n"),),
        edits=(("models/churn.yaml", CHURN_V1, ""),),
        findings=(
            (
                "models/churn.yaml",
                ("name: churn", ""),
                "PROTECTED_STAGE",
                "churn: version 1 deleted while in Production" + REVIEW,
            ),
        ),
    ),
}


@pytest.mark.parametrize("case", RULE_CASES.values(), ids=RULE_CASES.keys())
def test_each_change_rule_reports_its_exact_finding(tmp_path, case):
    """Every rule names the file, the line to fix, its MLflow-style code and the fix itself."""
    repo = make_base(tmp_path / "r")
    if case.base:
        for path, old, new in case.base:
            edit(repo, path, old, new)
        commit(repo, "The base of this case")
        git(repo, "branch", "-f", "main")
    for path, old, new in case.edits:
        if old:
            edit(repo, path, old, new)
        else:
            write(repo, path, new)  # a new file
    commit(repo, "The change under review")

    args = ("validate", "--base", "main", "--format", "json", *(["--push"] if case.push else []))
    result = Cli(repo).run(*args)

    assert result.exit_code == (1 if case.findings else 0), result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [n["code"] for n in report["notes"]] in ([], ["BASE_POLICY_USED"])
    expected = [
        {
            "path": path,
            "line": line_of(repo, path, *where) if where else None,
            "code": code,
            "message": message,
        }
        for path, where, code, message in case.findings
    ]
    assert report["findings"] == expected, "a change rule's finding changed what users read"


def test_the_summary_rows_show_each_stage_alias_and_tag_change_exactly(repo, gate):
    """The change table reviewers read: one row per touched version, then the model's tags."""
    for old, new in (
        ("  champion: 1\n", "  alpha: 1\n  candidate: 3\n  champion: 1\n"),
        ("      validation: passed\n", "      validation: passed\n      team: risk\n"),
        ("description: Predicts 30-day churn.\n", "description: Predicts 30-day churn.\ntags:\n"),
        ("tags:\n", "tags:\n  domain: retention\n  tier: gold\n"),
    ):
        edit(repo, "models/churn.yaml", old, new)
    edit(repo, "models/fraud.yaml", "    stage: None\n", "")  # absent: MLflow's None
    commit(repo, "A base with tags, aliases and a version without a stage line")
    git(repo, "branch", "-f", "main")
    for old, new in (
        ARCHIVE_1,
        ("      team: risk\n", "      owner: ml\n"),
        ("  alpha: 1\n  candidate: 3\n  champion: 1\n", "  alpha: 1\n  beta: 3\n  champion: 3\n"),
        ("  domain: retention\n  tier: gold\n", "  tier: platinum\n"),
    ):
        edit(repo, "models/churn.yaml", old, new)
    edit(repo, "models/fraud.yaml", "fraud/1\n", "fraud/1\n    stage: Staging\n")
    commit(repo, "Archive churn 1, move aliases, retag")

    rows = json.loads(gate.ok("validate", "--base", "main", "--format", "json").stdout)["changes"]

    def row(version, stage_from, stage_to, aliases=(), tags=(), model="churn"):
        return {
            "model": model,
            "version": version,
            "stage_from": stage_from,
            "stage_to": stage_to,
            "aliases": list(aliases),
            "tags": list(tags),
            "note": "",
        }

    assert rows == [
        row(1, "Production", "Archived", tags=["owner=ml", "-team"]),
        row(
            3, "Staging", "Staging", ["@beta - -> 3", "@candidate 3 -> removed", "@champion 1 -> 3"]
        ),
        row(None, None, None, tags=["tier=platinum", "-domain"]),
        row(1, "None", "Staging", model="fraud"),
    ], "the summary misreports what the pull request changes"

    edit(repo, "models/churn.yaml", "    stage: Staging\n", "")
    commit(repo, "Drop churn 3's stage line")
    result = gate.fails(1, "validate", "--base", "main", "--format", "json")
    moved = [r for r in json.loads(result.stdout)["changes"] if r["version"] == 3]
    assert [(r["stage_from"], r["stage_to"]) for r in moved] == [("Staging", "None")]
