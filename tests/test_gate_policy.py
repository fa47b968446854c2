"""The base's policy judges a pull request, whatever the head says (issues 4 and 17).

A pull request that edits ``gitreg.yaml`` to loosen its own review must still be judged by
the policy merged on the base: loosened transitions, protections and requirements each
have a test, and so do a base with no or an unreadable ``gitreg.yaml`` and a branch that
shares no history with its base.
"""

from __future__ import annotations

import json

import pytest

from tests._helpers import Cli, git
from tests._pr import FRAUD, commit, edit, make_base, write

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


def test_a_base_with_an_unreadable_gitreg_yaml_allows_nothing(tmp_path):
    """Fail closed (#22): a broken base policy judges nothing as allowed, not even an
    archive its valid policy would allow; the finding says to fix gitreg.yaml first."""
    repo = make_base(tmp_path / "r")
    git(repo, "switch", "-q", "main")
    write(repo, "gitreg.yaml", "schema_version: 1\npolicy: [unclosed\n")
    commit(repo, "Break the policy on main")
    git(repo, "switch", "-q", "-c", "archive")
    edit(repo, "models/churn.yaml", *ARCHIVE_1)
    commit(repo, "Archive churn 1")

    report = verdict(Cli(repo), code=1)

    assert codes(report) == ["BASE_POLICY_INVALID"]
    assert "Fix the base's gitreg.yaml first" in report["findings"][0]["message"]
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


# ``validate --base`` judges a change as one: renames, repairs of a broken base, and each file.
#
# Every case branches ``pr`` off ``main`` (``tests/_pr.py``: churn v1 in Production, v3 in
# Staging, next_version 4; fraud v1) and edits it as a person would, then asks
# ``gitreg validate --base main`` for its findings and its summary of changes (issue 17's
# mutation testing found these promises unpinned).


def on_main(repo, files: dict[str, str]) -> None:
    """Commit ``files`` to main as a push that bypassed the gate would, then back to pr."""
    git(repo, "switch", "-q", "main")
    for path, text in files.items():
        write(repo, path, text)
    commit(repo, "Pushed past the gate")
    git(repo, "switch", "-q", "-C", "pr")


RETIRED_CHURN = (
    "schema_version: 1\nretired:\n  churn:\n    next_version: 4\n    reason: renamed to attrition\n"
)


def test_a_rename_lists_the_model_once_then_each_version_it_changes(repo, gate):
    """The summary of a rename is one row for the move, then the versions the change touches,
    under the new name, as stage moves from the old side: not every version as new."""
    git(repo, "mv", "models/churn.yaml", "models/attrition.yaml")
    edit(repo, "models/attrition.yaml", "name: churn", "name: attrition")
    edit(repo, "models/attrition.yaml", "stage: Staging", "stage: Archived")
    write(repo, "models/.retired.yaml", RETIRED_CHURN)
    commit(repo, "Rename churn to attrition; archive v3")

    report = verdict(gate, code=0)

    assert report["findings"] == []
    assert [
        (c["model"], c["version"], c["stage_from"], c["stage_to"], c["note"])
        for c in report["changes"]
    ] == [
        ("attrition", None, None, None, "renamed from churn"),
        ("attrition", 3, "Staging", "Archived", ""),
    ]


def test_a_model_whose_name_is_escaped_in_its_file_is_summarized_by_its_name(repo, gate):
    """models/what%3F.yaml holds model ``what?``: the summary names the model, not the file."""
    write(repo, "models/what%3F.yaml", FRAUD.replace("name: fraud", "name: what?"))
    commit(repo, "Register what?")

    report = verdict(gate, code=0)

    assert {c["model"] for c in report["changes"]} == {"what?"}


def test_a_deleted_model_is_not_taken_for_renamed_into_one_the_change_edits(repo, gate):
    """Deleting fraud while editing churn, which shares fraud's first version's source, is a
    deletion: the retirement finding says deleted, and churn's edit is no rename."""
    on_main(repo, {"models/fraud.yaml": FRAUD.replace("s3://models/fraud/1", "runs:/aaa111/model")})
    git(repo, "rm", "-q", "models/fraud.yaml")
    edit(repo, "models/churn.yaml", "Predicts 30-day churn.", "Predicts churn.")
    commit(repo, "Delete fraud; reword churn")

    report = verdict(gate, code=1)

    assert [(f["code"], f["message"]) for f in report["findings"]] == [
        (
            "RETIREMENT_NOT_RECORDED",
            "fraud is deleted here but models/.retired.yaml does not record that it used "
            "versions below 2; add retired: {'fraud': {next_version: 2}} (gitreg delete and "
            "gitreg rename write it), so that the name never hands a number out twice",
        )
    ]
    assert all(c["note"] != "renamed from fraud" for c in report["changes"])


def test_an_unreadable_manifest_does_not_stop_the_judging_of_the_next(repo, gate):
    """A broken manifest is one finding; a rewritten source in a later file is still refused."""
    write(repo, "models/aaa.yaml", "name: [broken\n")
    edit(repo, "models/fraud.yaml", "s3://models/fraud/1", "s3://attacker/fraud/1")
    commit(repo, "Broken aaa; rewritten fraud")

    report = verdict(gate, code=1)

    codes = {(f["path"], f["code"]) for f in report["findings"]}
    assert ("models/aaa.yaml", "YAML_SYNTAX") in codes
    assert any(path == "models/fraud.yaml" for path, _ in codes), codes


@pytest.mark.parametrize(
    "broken",
    ["name: [fraud\n", "- fraud\n- a list, not a manifest\n"],
    ids=["yaml-syntax", "not-a-mapping"],
)
def test_a_change_repairing_a_broken_manifest_on_the_base_is_judged_not_a_crash(repo, gate, broken):
    """A base that holds a broken manifest (pushed past the gate) can be repaired: the fixed
    manifest is judged as new, with no finding and no traceback."""
    on_main(repo, {"models/fraud.yaml": broken})
    write(repo, "models/fraud.yaml", FRAUD)
    commit(repo, "Repair fraud")

    report = verdict(gate, code=0)

    assert report["findings"] == []


def test_a_change_under_a_broken_retired_record_is_judged_not_a_crash(repo, gate):
    """A broken models/.retired.yaml on the base does not crash the judging of a change."""
    on_main(repo, {"models/.retired.yaml": "retired: [broken\n"})
    edit(repo, "models/churn.yaml", "Predicts 30-day churn.", "Predicts churn.")
    commit(repo, "Reword churn")

    verdict(gate, code=0)


def test_repairing_an_empty_manifest_may_start_at_version_one(repo, gate):
    """A manifest that is ``{}`` on the base used no numbers: the repair may register v1."""
    on_main(repo, {"models/fraud.yaml": "{}\n"})
    write(repo, "models/fraud.yaml", FRAUD)
    commit(repo, "Repair fraud")

    report = verdict(gate, code=0)

    assert report["findings"] == []


def _not_recorded(name: str, how: str, below: int) -> tuple[str, str, str]:
    return (
        "models/.retired.yaml",
        "RETIREMENT_NOT_RECORDED",
        f"{name} is {how} here but models/.retired.yaml does not record that it used "
        f"versions below {below}; add retired: {{'{name}': {{next_version: {below}}}}} "
        "(gitreg delete and gitreg rename write it), so that the name never hands a number "
        "out twice",
    )


def _retirement_findings(report: dict) -> list[tuple[str, str, str]]:
    return [
        (f["path"], f["code"], f["message"])
        for f in report["findings"]
        if f["code"] == "RETIREMENT_NOT_RECORDED"
    ]


def test_a_model_renamed_by_hand_is_refused_until_its_old_name_is_retired(repo, gate):
    """A rename done with git mv keeps no record of the old name's numbers: the finding,
    on models/.retired.yaml, says the name was renamed away (not deleted) and what to add."""
    git(repo, "mv", "models/fraud.yaml", "models/fraud2.yaml")
    edit(repo, "models/fraud2.yaml", "name: fraud\n", "name: fraud2\n")
    commit(repo, "Rename fraud by hand")

    assert _retirement_findings(verdict(gate, code=1)) == [
        _not_recorded("fraud", "renamed away", 2)
    ]


def test_a_case_only_rename_does_not_hide_a_deletion_after_it(repo, gate):
    """churn renamed to Churn keeps its numbers, so it needs no record; fraud, deleted in
    the same change and judged after it, still does."""
    gate.ok("rename", "churn", "Churn")
    git(repo, "rm", "-q", "models/fraud.yaml")
    commit(repo, "Delete fraud")

    assert _retirement_findings(verdict(gate, code=1)) == [_not_recorded("fraud", "deleted", 2)]


def test_a_deleted_base_manifest_without_a_name_is_named_by_its_file(repo, gate):
    """A base manifest pushed past the gate without name: its deletion is still judged, and
    the finding names the model by its file."""
    on_main(repo, {"models/fraud.yaml": FRAUD.replace("name: fraud\n", "")})
    git(repo, "rm", "-q", "models/fraud.yaml")
    commit(repo, "Delete fraud")

    assert _retirement_findings(verdict(gate, code=1)) == [_not_recorded("fraud", "deleted", 2)]


def test_a_deleted_model_is_named_by_its_manifest_not_its_file(repo, gate):
    """The numbers a name used are the manifest's name's: a base file whose name: differs
    from its file name (pushed past the gate) is retired under the manifest's name."""
    on_main(repo, {"models/fraud.yaml": FRAUD.replace("name: fraud\n", "name: fraudulent\n")})
    git(repo, "rm", "-q", "models/fraud.yaml")
    commit(repo, "Delete fraud")

    assert _retirement_findings(verdict(gate, code=1)) == [
        _not_recorded("fraudulent", "deleted", 2)
    ]
