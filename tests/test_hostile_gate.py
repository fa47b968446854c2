"""The gate cannot be fooled (issue 12): each trick a pull request tried, judged as the Action does.

Every case is a branch ``pr`` off ``main`` (``tests/_pr.py``: churn v1 in Production, v3 in
Staging, v2 deleted, next_version 4) edited as an attacker or a careless colleague would,
then ``gitreg validate --base main``. Each trick is refused; a plain rename, a plain
registration and a reviewed promotion still pass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import InvalidManifest
from tests._helpers import Cli, git
from tests._pr import commit, edit, make_base, write


def refused(gate: Cli, *args: str) -> tuple[list[str], str]:
    result = gate.fails(1, "validate", "--base", "main", "--format", "json", *args)
    data = json.loads(result.stdout)
    return sorted({f["code"] for f in data["findings"]}), result.stdout


# ------------------------------------------------------------------ float versions


def test_a_float_version_cannot_stand_in_for_a_merged_one(repo, gate):
    edit(repo, "models/churn.yaml", "  - version: 1\n", "  - version: 1.0\n")
    edit(repo, "models/churn.yaml", "runs:/aaa111/model", "s3://attacker/model")
    commit(repo, "Rewrite v1 as 1.0")
    codes, _ = refused(gate)
    assert "NOT_AN_INTEGER" in codes
    with pytest.raises(InvalidManifest):  # nor does a read serve the rewritten source
        Registry(repo).resolve("models:/churn/1")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("  - version: 3\n", "  - version: 5.0\n"),  # promote an unqualified number
        ("  - version: 3\n", "  - version: 2.0\n"),  # re-add the deleted number
        ("next_version: 4\n", "next_version: 2.0\n"),  # lower next_version
        ("  - version: 3\n", "  - version: true\n"),
        ("  - version: 3\n", '  - version: "3"\n'),
        ("  champion: 1\n", "  champion: 1.0\n"),
    ],
)
def test_numbers_that_are_not_integers_are_refused(repo, gate, old, new):
    edit(repo, "models/churn.yaml", old, new)
    commit(repo, "numbers")
    codes, _ = refused(gate)
    assert {"NOT_AN_INTEGER", "SCHEMA"} & set(codes), codes


@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_version_infinity_and_nan_are_refused_cleanly(repo, gate, value):
    edit(repo, "models/churn.yaml", "  - version: 3\n", f"  - version: {value}\n")
    commit(repo, "infinity")
    refused(gate)
    result = Cli(repo).fails(1, "show", "churn")
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------- symlinks


def test_a_manifest_turned_into_a_symlink_is_refused(repo, gate):
    (repo / "models" / "churn.yaml").unlink()
    os.symlink("fraud.yaml", repo / "models" / "churn.yaml")
    commit(repo, "churn is now fraud")
    codes, _ = refused(gate)
    assert "NOT_A_REGULAR_FILE" in codes


def test_a_symlink_outside_the_repository_never_reaches_a_finding(repo, gate, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("ghp_SUPERSECRET_TOKEN_VALUE\n")
    (repo / "models" / "churn.yaml").unlink()
    os.symlink(secret, repo / "models" / "churn.yaml")
    commit(repo, "link to a secret")
    for form in ("json", "text", "github"):
        result = gate.fails(1, "validate", "--base", "main", "--format", form)
        assert "SUPERSECRET" not in result.stdout + result.stderr, form
        assert "NOT_A_REGULAR_FILE" in result.stdout
    whole = gate.fails(1, "validate", "--format", "json")
    assert "SUPERSECRET" not in whole.stdout


def test_a_symlink_to_dev_zero_is_refused_without_reading_it(repo, gate):
    (repo / "models" / "churn.yaml").unlink()
    os.symlink("/dev/zero", repo / "models" / "churn.yaml")
    codes, _ = refused(gate)
    assert "NOT_A_REGULAR_FILE" in codes
    result = Cli(repo).fails(1, "show", "churn")
    assert "not a regular file" in result.stderr


def test_gitreg_yaml_and_models_as_links_are_refused(repo, gate, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for entry in (repo / "models").iterdir():
        entry.rename(outside / entry.name)
    (repo / "models").rmdir()
    os.symlink(outside, repo / "models")
    codes, _ = refused(gate)
    assert "NOT_A_REGULAR_FILE" in codes
    result = Cli(repo).fails(1, "register", "churn", "s3://x")
    assert "not a directory" in result.stderr or "not a regular file" in result.stderr
    assert not list(outside.glob("*.tmp"))


def test_a_symlink_committed_to_the_branch_is_never_read_at_that_ref(repo):
    (repo / "models" / "churn.yaml").unlink()
    os.symlink("fraud.yaml", repo / "models" / "churn.yaml")
    commit(repo, "link")
    result = Cli(repo).fails(1, "show", "churn", "--at", "HEAD")
    assert "is a symbolic link, not a regular file" in result.stderr
    result = Cli(repo).fails(1, "models", "--at", "HEAD")
    assert "is a symbolic link" in result.stderr


# ------------------------------------------------------------------------ renames


def _rename(repo: Path, new: str) -> None:
    git(repo, "mv", "models/churn.yaml", f"models/{new}.yaml")
    edit(repo, f"models/{new}.yaml", "name: churn\n", f"name: {new}\n")


def _retire(repo: Path, name: str, number: int) -> None:
    write(
        repo,
        "models/.retired.yaml",
        f"schema_version: 1\nretired:\n  {name}:\n    next_version: {number}\n",
    )


@pytest.mark.parametrize(
    ("trick", "code"),
    [
        (("runs:/aaa111/model", "s3://attacker/model"), "IMMUTABLE_FIELD"),
        (("next_version: 4\n", "next_version: 4\n"), None),
        (("      f1: 0.93\n", "      f1: 0.99\n"), "IMMUTABLE_FIELD"),
    ],
    ids=["rewrite-source", "plain", "forge-metrics"],
)
def test_a_rename_is_judged_as_the_same_model(repo, gate, trick, code):
    _rename(repo, "churn-predictor")
    _retire(repo, "churn", 4)
    edit(repo, "models/churn-predictor.yaml", *trick)
    commit(repo, "Rename churn")
    if code is None:
        result = gate.ok("validate", "--base", "main", "--format", "json")
        rows = json.loads(result.stdout)["changes"]
        assert rows[0]["note"] == "renamed from churn"
        return
    codes, _ = refused(gate)
    assert code in codes


def test_a_rename_that_re_adds_a_deleted_version_is_refused(repo, gate):
    _rename(repo, "churn-predictor")
    _retire(repo, "churn", 4)
    block = "  - version: 2\n    source: s3://attacker/2\n    stage: None\n"
    edit(repo, "models/churn-predictor.yaml", "  - version: 3\n", block + "  - version: 3\n")
    commit(repo, "Rename and bring v2 back")
    codes, _ = refused(gate)
    assert "VERSION_REUSED" in codes


def test_a_plain_rename_passes_a_policy_that_forbids_none_to_production(tmp_path):
    repo = make_base(tmp_path / "r")
    git(repo, "switch", "-q", "main")
    edit(repo, "gitreg.yaml", "    None: [Staging, Production, Archived]", "    None: [Staging]")
    commit(repo, "From None, only Staging")
    git(repo, "switch", "-q", "-c", "rename")
    Registry(repo).rename_registered_model("churn", "churn-predictor")  # gitreg's own commit
    result = Cli(repo).ok("validate", "--base", "main", "--format", "json")
    assert json.loads(result.stdout)["valid"]


def test_a_rename_without_recording_the_old_name_is_refused(repo, gate):
    _rename(repo, "churn-predictor")
    commit(repo, "Rename without the record")
    codes, _ = refused(gate)
    assert codes == ["RETIREMENT_NOT_RECORDED"]


# ------------------------------------------------------------------ mutable facts


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("      f1: 0.91\n", "      f1: 0.99\n"),
        ("    run_id: aaa111\n", "    run_id: aaa111\n    storage_location: s3://attacker/\n"),
    ],
    ids=["metrics", "storage_location"],
)
def test_metrics_and_storage_location_are_immutable_once_merged(repo, gate, old, new):
    edit(repo, "models/churn.yaml", old, new)
    commit(repo, "Rewrite a merged fact")
    codes, _ = refused(gate)
    assert codes == ["IMMUTABLE_FIELD"]


# --------------------------------------------------- numbers across a model's deletion


def test_a_model_created_again_cannot_reuse_its_old_numbers(repo, gate):
    git(repo, "rm", "-q", "models/fraud.yaml")
    _retire(repo, "fraud", 2)
    commit(repo, "Delete fraud")
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "pr")
    git(repo, "switch", "-q", "-c", "again")
    fraud = "schema_version: 1\nname: fraud\nnext_version: 2\nversions:\n"
    fraud += "  - version: 1\n    source: s3://new/1\n    stage: None\n"
    write(repo, "models/fraud.yaml", fraud)
    commit(repo, "Recreate fraud with version 1")
    codes, _ = refused(gate)
    assert "VERSION_REUSED" in codes


def test_the_record_of_retired_names_cannot_be_dropped(repo, gate):
    git(repo, "rm", "-q", "models/fraud.yaml")
    _retire(repo, "fraud", 2)
    commit(repo, "Delete fraud")
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "pr")
    git(repo, "switch", "-q", "-c", "forget")
    git(repo, "rm", "-q", "models/.retired.yaml")
    commit(repo, "Forget fraud ever existed")
    codes, _ = refused(gate)
    assert codes == ["RETIREMENT_DROPPED"]


def test_the_core_continues_a_deleted_models_numbers(registry):
    for i in (1, 2, 3):
        registry.create_model_version("churn", f"s3://old/{i}")
    registry.delete_registered_model("churn")
    mv = registry.create_model_version("churn", "s3://new/1")
    assert mv.version == 4, "a recreated model reused a number its predecessor gave out"
    registry.create_registered_model("fraud")
    registry.create_model_version("fraud", "s3://f/1")
    registry.rename_registered_model("fraud", "fraud-v2")
    assert registry.create_model_version("fraud", "s3://f/again").version == 2


def test_renaming_onto_another_models_retired_name_is_refused(registry):
    registry.create_model_version("churn", "s3://old/1")
    registry.delete_registered_model("churn")
    registry.create_model_version("other", "s3://o/1")
    with pytest.raises(Exception, match="was used by a model"):
        registry.rename_registered_model("other", "churn")
    registry.create_model_version("back", "s3://b/1")
    registry.rename_registered_model("back", "forth")
    registry.rename_registered_model("forth", "back")  # the model that left may return
    assert registry.get_registered_model("back").versions[0].source == "s3://b/1"


# ----------------------------------------------------------------- duplicate keys


def test_a_duplicate_key_is_refused_not_read_as_its_last_value(repo, gate):
    edit(
        repo,
        "models/churn.yaml",
        "    stage: Staging\n",
        "    stage: Staging\n    stage: Production\n",
    )
    commit(repo, "Sneak Production in")
    codes, out = refused(gate)
    assert codes == ["YAML_SYNTAX"]
    assert "duplicate key 'stage'" in out


# ------------------------------------------------------------ still passes


def test_registration_and_reviewed_promotion_still_pass(repo, gate):
    Registry(repo).create_model_version("churn", "s3://churn/4", tags={"validation": "passed"})
    gate.ok("validate", "--base", "main")
    edit(repo, "models/churn.yaml", "    stage: Production\n", "    stage: Archived\n")
    edit(repo, "models/churn.yaml", "    stage: Staging\n", "    stage: Production\n")
    edit(
        repo,
        "models/churn.yaml",
        "    description: Retrained on November data.\n",
        "    description: Retrained on November data.\n    tags:\n      validation: passed\n",
    )
    commit(repo, "Promote churn 3, reviewed")
    result = gate.ok("validate", "--base", "main", "--format", "json")
    assert json.loads(result.stdout)["valid"]


# ---------------------------------------------------------- retired names taken again


def _land(repo: Path, branch: str) -> None:
    """Merge the checked-out ``pr`` into ``main`` and start ``branch`` from it."""
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "pr")
    git(repo, "switch", "-q", "-c", branch)


def _findings(gate: Cli, code: int) -> list[tuple[str, str, str]]:
    result = gate.run("validate", "--base", "main", "--format", "json")
    assert result.exit_code == code, result.stdout + result.stderr
    return [(f["path"], f["code"], f["message"]) for f in json.loads(result.stdout)["findings"]]


def _notes(gate: Cli) -> dict[str, str | None]:
    """Model -> the note of its model-level summary row (renamed from..., new model)."""
    result = gate.run("validate", "--base", "main", "--format", "json")
    assert result.exit_code == 0, result.stdout
    rows = json.loads(result.stdout)["changes"]
    return {r["model"]: r["note"] for r in rows if r["version"] is None}


TAKEN = "{0} is renamed to fraud, a name another model used up to version {1}: "
TAKEN += "models:/fraud/N would name two artifacts; choose another name"


@pytest.mark.parametrize(
    ("model", "spelling", "message"),
    [
        ("churn", "", TAKEN.format("churn", 1)),
        ("churn", "  FRAUD:\n    next_version: 5\n", TAKEN.format("churn", 4)),
        ("empty", "", TAKEN.format("empty", 1)),
    ],
    ids=["versions-below-the-floor", "highest-spelling-counts", "next-version-not-moved-on"],
)
def test_a_rename_onto_a_name_a_deleted_model_used_is_refused(repo, gate, model, spelling, message):
    """models:/fraud/1 named fraud's artifact: a model renamed to fraud may not name another.

    churn's versions 1 and 3 are below fraud's record; a record under another spelling of
    the name counts too (the highest does); a model without versions still has to continue
    after fraud's numbers, or its next version would be fraud/1 again.
    """
    Registry(repo).delete_registered_model("fraud")
    Registry(repo).create_registered_model("empty")
    if spelling:  # written by hand, beside gitreg's record of fraud
        write(repo, "models/.retired.yaml", (repo / "models/.retired.yaml").read_text() + spelling)
        commit(repo, "Record another spelling of fraud")
    _land(repo, "take")
    git(repo, "mv", f"models/{model}.yaml", "models/fraud.yaml")
    edit(repo, "models/fraud.yaml", f"name: {model}\n", "name: fraud\n")
    record = "  churn:\n    next_version: 4\n" if model == "churn" else ""
    write(repo, "models/.retired.yaml", (repo / "models/.retired.yaml").read_text() + record)
    commit(repo, f"Rename {model} to fraud, keeping fraud's record")

    assert _findings(gate, 1) == [("models/fraud.yaml", "VERSION_REUSED", message)]


@pytest.mark.parametrize(
    ("registered", "deleted"),
    [((1, 2), (1,)), ((1,), (1,))],
    ids=["versions-after-the-floor", "no-versions-left"],
)
def test_gitreg_may_rename_a_model_onto_a_retired_name_it_continues(
    repo, gate, registered, deleted
):
    """A model whose numbers all come after fraud's (late: only version 2 left, or none and
    next_version 2) may take the name: gitreg rename does, and its commit passes the gate."""
    registry = Registry(repo)
    registry.delete_registered_model("fraud")
    for number in registered:
        registry.create_model_version("late", f"s3://late/{number}")
    for number in deleted:
        registry.delete_model_version("late", number)
    _land(repo, "take")
    registry.rename_registered_model("late", "fraud")

    assert _notes(gate) == {"fraud": "renamed from late"}, "gitreg's own rename was refused"


def test_a_model_may_return_to_the_name_it_left(repo, gate):
    """churn renamed to churn-v2 and back: the record says it left the name, so it may return."""
    registry = Registry(repo)
    registry.rename_registered_model("churn", "churn-v2")
    _land(repo, "back")
    registry.rename_registered_model("churn-v2", "churn")

    assert _notes(gate) == {"churn": "renamed from churn-v2"}, "the model could not come back"


def _drop_record(repo: Path, name: str) -> None:
    """Remove ``name``'s entry from models/.retired.yaml by hand, as a careless edit would."""
    lines = (repo / "models/.retired.yaml").read_text().splitlines(keepends=True)
    start = lines.index(f"  {name}:\n")
    end = start + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    kept = lines[:start] + lines[end:]
    if any(line.startswith("  ") for line in kept):
        write(repo, "models/.retired.yaml", "".join(kept))
    else:  # the last record: the file goes, as gitreg removes it
        (repo / "models/.retired.yaml").unlink()


DROPPED = (
    "models/.retired.yaml",
    "RETIREMENT_DROPPED",
    "models/.retired.yaml no longer records that 'fraud' used versions below 2; restore "
    "the entry (numbers are never reused)",
)


@pytest.mark.parametrize(
    ("alpha_again", "drop_fraud", "delete_churn", "expected"),
    [
        (False, True, False, [DROPPED]),
        (True, True, False, [DROPPED]),
        (True, False, False, []),
        (False, False, True, []),
    ],
    ids=["fraud-dropped", "alpha-carried-on-fraud-dropped", "alpha-carried-on", "records-kept"],
)
def test_a_retired_record_is_dropped_only_by_a_model_that_carries_its_numbers_on(
    repo, gate, alpha_again, drop_fraud, delete_churn, expected
):
    """main records alpha and fraud (both deleted, next_version 2). gitreg drops alpha's
    record when it registers alpha again (as version 2); dropping fraud's by hand, even
    beside that, is refused; records left as they are pass whatever else the change does."""
    registry = Registry(repo)
    registry.create_model_version("alpha", "s3://alpha/1")
    registry.delete_registered_model("alpha")
    registry.delete_registered_model("fraud")
    _land(repo, "records")
    if alpha_again:
        assert registry.create_model_version("alpha", "s3://alpha/2").version == 2
    if delete_churn:
        registry.delete_registered_model("churn")
    if drop_fraud:
        _drop_record(repo, "fraud")
        commit(repo, "Drop fraud's record")

    assert _findings(gate, 1 if expected else 0) == expected


# ------------------------------------------------------- which files are one model


def _model(name: str, created: str = "", versions: tuple[str, ...] = ()) -> str:
    """A manifest of ``name`` with the model-level ``created`` fields and these sources."""
    text = f"schema_version: 1\nname: {name}\nnext_version: {len(versions) + 1}\n{created}"
    text += "versions:\n" if versions else "versions: []\n"
    for number, source in enumerate(versions, 1):
        text += f"  - version: {number}\n    source: {source}\n    stage: None\n"
    return text


ALICE = 'created_at: "2026-01-05T09:00:00Z"\ncreated_by: alice\n'


def test_deleting_a_model_and_adding_an_unrelated_one_is_no_rename(repo, gate):
    """old and new were created at different times and share no version: judged apart, new
    may start its own version 1 (a rename could not rewrite old's version 1)."""
    write(repo, "models/old.yaml", _model("old", ALICE, ("s3://old/1",)))
    commit(repo, "Register old")
    _land(repo, "replace")
    git(repo, "rm", "-q", "models/old.yaml")
    _retire(repo, "old", 2)
    created = 'created_at: "2026-02-07T09:00:00Z"\ncreated_by: alice\n'
    write(repo, "models/new.yaml", _model("new", created, ("s3://new/1",)))
    commit(repo, "Replace old by new")

    assert _notes(gate) == {"old": "model deleted", "new": "new model"}


@pytest.mark.parametrize(
    "created", [ALICE, 'created_at: "2026-01-05T09:00:00Z"\n'], ids=["at-and-by", "at-only"]
)
def test_a_rename_is_recognised_by_the_models_creation_alone(repo, gate, created):
    """A model without versions shares only its creation (created_at, and created_by when
    recorded) with its new file: that is enough to judge it as one model renamed."""
    write(repo, "models/empty.yaml", _model("empty", created))
    commit(repo, "Create empty")
    _land(repo, "rename")
    git(repo, "mv", "models/empty.yaml", "models/empty-v2.yaml")
    edit(repo, "models/empty-v2.yaml", "name: empty\n", "name: empty-v2\n")
    commit(repo, "Rename empty by hand")

    assert _notes(gate) == {"empty-v2": "renamed from empty"}


def test_a_deleted_model_is_paired_with_the_added_one_that_shares_the_most(repo, gate):
    """old's two versions moved to old-a; old-z only copied old's creation fields: old-a is
    old renamed (two pieces of evidence against one), and old-z is a new model."""
    sources = ("s3://old/1", "s3://old/2")
    write(repo, "models/old.yaml", _model("old", ALICE, sources))
    commit(repo, "Register old")
    _land(repo, "split")
    git(repo, "rm", "-q", "models/old.yaml")
    _retire(repo, "old", 3)
    write(repo, "models/old-a.yaml", _model("old-a", "", sources))
    write(repo, "models/old-z.yaml", _model("old-z", ALICE))
    commit(repo, "Rename old to old-a; start old-z from its header")

    assert _notes(gate) == {"old-a": "renamed from old", "old-z": "new model"}


def test_gitreg_may_rename_a_model_in_case_only(repo, gate):
    """churn -> Churn keeps the name (names collide case-insensitively) and its numbers:
    gitreg rename writes no record of churn, and the gate must not ask for one."""
    Registry(repo).rename_registered_model("churn", "Churn")

    assert _notes(gate) == {"Churn": "renamed from churn"}, "gitreg's own rename was refused"


def test_a_push_that_renames_a_model_holding_production_is_refused(repo, gate):
    """A rename moves what deployments load by name: without a pull request it is refused,
    naming both names and what the model holds; reviewed, the same rename passes."""
    _rename(repo, "churn-predictor")
    _retire(repo, "churn", 4)
    commit(repo, "Rename churn")

    result = gate.fails(1, "validate", "--base", "main", "--push", "--format", "json")

    assert json.loads(result.stdout)["findings"] == [
        {
            "path": "models/churn-predictor.yaml",
            "line": 2,
            "code": "PROTECTED_RENAME",
            "message": "churn-predictor: renamed from churn while it holds version 1 in "
            "Production, @champion is a change to a protected fact, which happens only "
            "through a reviewed pull request; open one (gitreg does, for a registry with a "
            "remote)",
        }
    ], "a pushed rename of a model holding Production was not refused"
    gate.ok("validate", "--base", "main")
