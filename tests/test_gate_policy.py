"""The base's policy judges a pull request, whatever the head says (issues 4 and 17).

A pull request that edits ``gitreg.yaml`` to loosen its own review must still be judged by
the policy merged on the base: loosened transitions, protections and requirements each
have a test, and so do a base with no or an unreadable ``gitreg.yaml`` and a branch that
shares no history with its base.
"""

from __future__ import annotations

import json

from tests._helpers import Cli, git
from tests._pr import commit, edit, make_base, write

PROMOTE_3 = ("    stage: Staging\n", "    stage: Production\n")
ARCHIVE_1 = ("    stage: Production\n", "    stage: Archived\n")
TAG_3 = (
    "    description: Retrained on November data.\n",
    "    description: Retrained on November data.\n    tags:\n      validation: passed\n",
)


def verdict(gate: Cli, *args: str, code: int) -> dict:
    result = gate.run("validate", "--base", "main", "--format", "json", *args)
    assert result.exit_code == code, result.stdout + result.stderr
    return json.loads(result.stdout)


def codes(report: dict) -> list[str]:
    return sorted(f["code"] for f in report["findings"])


def test_a_head_that_loosens_transitions_is_judged_by_the_base(tmp_path):
    repo = make_base(tmp_path / "r")
    git(repo, "switch", "-q", "main")
    edit(repo, "gitreg.yaml", "    None: [Staging, Production, Archived]", "    None: [Staging]")
    commit(repo, "From None, only Staging")
    git(repo, "switch", "-q", "-c", "loosen")
    edit(repo, "gitreg.yaml", "    None: [Staging]", "    None: [Staging, Production, Archived]")
    edit(repo, "models/fraud.yaml", "    stage: None\n", "    stage: Archived\n")
    commit(repo, "Allow None -> Archived and use it at once")

    report = verdict(Cli(repo), code=1)

    assert codes(report) == ["TRANSITION_NOT_ALLOWED"], (
        "a head that loosened policy.transitions was judged by its own policy, not the base's"
    )
    assert [n["code"] for n in report["notes"]] == ["BASE_POLICY_USED"]


def test_a_head_that_unprotects_production_is_judged_by_the_base(tmp_path):
    repo = make_base(tmp_path / "r")
    edit(repo, "gitreg.yaml", "  protected: [Production]", "  protected: []")
    edit(repo, "models/churn.yaml", *ARCHIVE_1)
    commit(repo, "Unprotect Production and archive churn 1")

    report = verdict(Cli(repo), "--push", code=1)

    assert codes(report) == ["PROTECTED_STAGE"], (
        "a push that removed Production from policy.protected was judged by its own policy"
    )


def test_a_head_that_lowers_a_metric_threshold_is_judged_by_the_base(tmp_path):
    repo = make_base(tmp_path / "r")
    edit(repo, "gitreg.yaml", '      metrics: ["f1 >= 0.88"]', '      metrics: ["f1 >= 0.5"]')
    edit(repo, "models/churn.yaml", "      f1: 0.93\n", "      f1: 0.93\n", 1)
    edit(repo, "models/churn.yaml", *TAG_3)
    edit(repo, "models/churn.yaml", *ARCHIVE_1)
    edit(repo, "models/churn.yaml", *PROMOTE_3)
    commit(repo, "Promote churn 3 (meets the base too)")
    assert codes(verdict(Cli(repo), code=0)) == []

    git(repo, "switch", "-q", "main")
    git(repo, "switch", "-q", "-c", "weak")
    spam = (
        "schema_version: 1\nname: spam\nnext_version: 2\nversions:\n  - version: 1\n"
        "    source: s3://spam/1\n    stage: Production\n    tags:\n      validation: passed\n"
        "    metrics:\n      f1: 0.6\n"
    )
    write(repo, "models/spam.yaml", spam)
    edit(repo, "gitreg.yaml", '      metrics: ["f1 >= 0.88"]', '      metrics: ["f1 >= 0.5"]')
    commit(repo, "Lower the bar and register spam straight into Production")

    report = verdict(Cli(repo), code=1)

    assert codes(report) == ["REQUIREMENT_UNMET"], (
        "a head that lowered a requirement's threshold was judged by its own policy"
    )
    assert "f1=0.6 does not meet f1 >= 0.88" in report["findings"][0]["message"]


def test_a_base_without_gitreg_yaml_is_judged_by_the_default_policy_not_the_heads(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, "README.md", "registry to be\n")
    commit(repo, "Empty repository")
    git(repo, "switch", "-q", "-c", "pr")
    make_files = make_base(tmp_path / "source")
    for path in ("gitreg.yaml", "models/churn.yaml", "models/fraud.yaml"):
        text = (make_files / path).read_text()
        if path == "gitreg.yaml":  # the head would forbid what it does itself
            text = text.replace("    None: [Staging, Production, Archived]", "    None: []")
        write(repo, path, text)
    commit(repo, "Add the registry")

    report = verdict(Cli(repo), code=0)

    assert codes(report) == [], "the head's own gitreg.yaml judged the change"
    notes = {n["code"]: n["message"] for n in report["notes"]}
    assert "has no gitreg.yaml" in notes["BASE_POLICY_DEFAULT"]


def test_a_base_with_an_unreadable_gitreg_yaml_is_judged_by_the_default_policy(tmp_path):
    repo = make_base(tmp_path / "r")
    git(repo, "switch", "-q", "main")
    write(repo, "gitreg.yaml", "schema_version: 1\npolicy: [unclosed\n")
    commit(repo, "Break the policy on main")
    git(repo, "switch", "-q", "-c", "archive")
    edit(repo, "models/churn.yaml", *ARCHIVE_1)
    commit(repo, "Archive churn 1")

    report = verdict(Cli(repo), code=0)

    notes = {n["code"]: n["message"] for n in report["notes"]}
    assert "has an unreadable gitreg.yaml" in notes["BASE_POLICY_DEFAULT"]
    assert [c["stage_to"] for c in report["changes"]] == ["Archived"]


def test_a_branch_with_no_history_in_common_is_compared_with_the_base_itself(tmp_path):
    repo = make_base(tmp_path / "r")
    git(repo, "switch", "-q", "--orphan", "unrelated")
    for path in ("gitreg.yaml", "models/churn.yaml", "models/fraud.yaml", "models/.gitkeep"):
        git(repo, "checkout", "main", "--", path)
    edit(repo, "models/churn.yaml", *PROMOTE_3)
    commit(repo, "Same files, no shared history, and a second Production")

    report = verdict(Cli(repo), code=1)

    assert "NO_MERGE_BASE" in [n["code"] for n in report["notes"]]
    assert "MULTIPLE_PRODUCTION" in codes(report)
