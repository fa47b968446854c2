"""Messages that match what the user did (#27, first-day traps 5, 6 and 7).

- A write refused because pushing is off names what turned it off: ``--no-push`` when it
  was given, ``registry.push: never`` when it was not (never "drop --no-push" to a user
  who typed no such flag); ``--fetch`` without a remote is a read's error, not a push's.
- A bad stage names the argument (``STAGE``) or option (``--stage``), lists the stages and
  suggests one; stage names are case-insensitive, as MLflow's.
- A model that was renamed or deleted is not just "not found": models/.retired.yaml and
  the history say where it went and when.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import ModelNotFound
from tests._helpers import Cli, git, head
from tests.test_cli import assert_one_error_line, refuse


def _clone(remote: Path, where: Path) -> Path:
    git(remote.parent, "clone", "-q", str(remote), str(where))
    return where


def _set_push(work: Path, mode: str) -> None:
    """Edit registry.push in gitreg.yaml by hand and commit it locally."""
    config = work / "gitreg.yaml"
    config.write_text(config.read_text().replace("push: auto", f"push: {mode}"))
    git(work, "commit", "-qam", f"registry.push: {mode}")


@pytest.fixture
def clone_cli(bare_remote: Path, tmp_path: Path) -> Cli:
    """A clone of a registry whose remote (a bare repository) stands in for GitHub, with
    churn version 1 registered and pushed."""
    cli = Cli(_clone(bare_remote, tmp_path / "clone"))
    cli.ok("register", "churn", "s3://churn/1")
    return cli


# --------------------------------------------------------------- trap 5: --no-push


def test_pushing_off_in_gitreg_yaml_is_named_not_a_flag_nobody_gave(clone_cli):
    _set_push(clone_cli.repo, "never")
    result = refuse(clone_cli, 1, "transition", "churn", "1", "Production")
    assert "--no-push" not in result.stderr
    assert "registry.push is never in gitreg.yaml: pass --push for this write" in result.stderr


def test_a_no_push_flag_is_named_when_it_was_given(clone_cli):
    result = refuse(clone_cli, 1, "transition", "churn", "1", "Production", "--no-push")
    assert result.stderr.rstrip().endswith("whose branch must be pushed; drop --no-push")


def test_pushing_required_without_a_remote_names_what_required_it(cli, registry_repo):
    flag = refuse(cli, 1, "create", "churn", "--push")
    assert "pushing is required (--push) but this clone has no remote 'origin'" in flag.stderr
    assert flag.stderr.rstrip().endswith("or drop --push")

    _set_push(registry_repo, "always")
    setting = refuse(cli, 1, "create", "churn")
    assert "pushing is required (registry.push: always in gitreg.yaml)" in setting.stderr
    assert setting.stderr.rstrip().endswith("or pass --no-push for this write")


def test_fetch_without_a_remote_is_a_reads_error_not_a_pushs(cli):
    cli.ok("create", "churn")
    result = refuse(cli, 1, "models", "--fetch")
    assert "--fetch reads the remote's tip, but this clone has no remote 'origin'" in (
        result.stderr
    )
    assert "push" not in result.stderr


# ------------------------------------------------------------------ trap 6: stages


@pytest.fixture
def churn(cli) -> Cli:
    cli.ok("register", "churn", "s3://churn/1")
    cli.ok("register", "churn", "s3://churn/2")
    return cli


def test_a_bad_stage_argument_is_named_stage_with_the_stages_and_a_suggestion(churn):
    result = refuse(churn, 2, "transition", "churn", "1", "Prod")
    assert result.stderr == (
        "Error: Invalid value for 'STAGE': 'Prod' is not a stage; use one of None, Staging, "
        "Production, Archived (in any case: production works too); did you mean Production?\n"
    )
    assert "[None|Staging|Production|Archived]" not in result.stderr
    other = refuse(churn, 2, "transition", "churn", "1", "stagin")
    assert "did you mean Staging?" in other.stderr


def test_a_stage_that_resembles_none_suggests_nothing(churn):
    result = refuse(churn, 2, "transition", "churn", "1", "deployed")
    assert result.stderr.rstrip().endswith("(in any case: production works too)")


@pytest.mark.parametrize(
    "args",
    [
        ["latest", "churn", "--stage", "prod"],
        ["history", "churn", "--stage", "prod"],
    ],
)
def test_a_bad_stage_option_is_named_by_its_option(churn, args):
    result = refuse(churn, 2, *args)
    assert result.stderr.startswith("Error: Invalid value for '--stage': 'prod' is not a stage;")
    assert "did you mean Production?" in result.stderr


def test_the_usage_line_says_stage_and_the_help_lists_the_stages(churn):
    usage = churn.ok("transition", "--help").stdout
    assert "Usage: gitreg transition [OPTIONS] NAME VERSION STAGE" in usage
    assert "(None, Staging, Production, Archived)" in usage
    assert "--stage [None|Staging|Production|Archived]" in churn.ok("latest", "--help").stdout


def test_stage_names_are_case_insensitive_as_mlflows(churn):
    churn.ok("transition", "churn", "1", "production")
    churn.ok("transition", "churn", "2", "STAGING")
    shown = json.loads(churn.ok("latest", "churn", "--stage", "production", "--json").stdout)
    assert [mv["version"] for mv in shown["model_versions"]] == ["1"]
    assert churn.ok("resolve", "models:/churn/production").stdout == "s3://churn/1\n"
    assert churn.ok("resolve", "models:/churn/staging").stdout == "s3://churn/2\n"
    intervals = json.loads(churn.ok("history", "churn", "--stage", "production", "--json").stdout)
    assert intervals["of"] == "Production"
    assert [i["version"] for i in intervals["intervals"]] == [1]


# ---------------------------------------------------- trap 7: renamed, deleted models


def test_show_of_a_renamed_model_says_where_it_went_and_in_which_commit(churn, registry_repo):
    churn.ok("rename", "churn", "churn-v2")
    renamed_in = head(registry_repo)
    said = f"churn was renamed to churn-v2 in {renamed_in[:10]}; use churn-v2\n"
    for args in (["show", "churn"], ["resolve", "models:/churn/1"]):
        result = refuse(churn, 1, *args)
        assert result.stderr == f"Error: Registered Model with name=churn not found: {said}"
    version = refuse(churn, 1, "show", "churn", "2")  # MLflow names the version first
    assert version.stderr.startswith("Error: Model Version (name=churn, version=2) not found")
    assert version.stderr.endswith(said)
    error = json.loads(churn.fails(1, "show", "churn", "--json").stderr)
    assert error["error_code"] == "RESOURCE_DOES_NOT_EXIST"  # MLflow's, as before
    assert churn.ok("resolve", "models:/churn-v2/1").stdout == "s3://churn/1\n"


def test_a_chain_of_renames_is_followed_to_the_model_that_exists(churn, registry_repo):
    churn.ok("rename", "churn", "churn-v2")
    first = head(registry_repo)
    churn.ok("rename", "churn-v2", "churn-eu")
    second = head(registry_repo)
    result = refuse(churn, 1, "resolve", "models:/churn/latest")
    assert result.stderr == (
        f"Error: Registered Model with name=churn not found: churn was renamed to churn-v2 in "
        f"{first[:10]}; churn-v2 was renamed to churn-eu in {second[:10]}; use churn-eu\n"
    )


def test_a_deleted_model_says_it_was_deleted_when_and_by_whom(churn, registry_repo):
    churn.ok("delete", "churn", "--yes")
    deleted_in = head(registry_repo)
    result = refuse(churn, 1, "show", "churn")
    message = result.stderr
    assert message.startswith(
        f"Error: Registered Model with name=churn not found: churn was deleted in "
        f"{deleted_in[:10]} on 20"
    )
    assert message.rstrip().endswith("by Alice Example")


def test_a_write_to_a_renamed_model_says_where_it_went(churn):
    churn.ok("rename", "churn", "churn-v2")
    result = refuse(churn, 1, "transition", "churn", "1", "Staging")
    assert "churn was renamed to churn-v2; use churn-v2" in result.stderr


def test_the_api_says_it_too_and_at_an_older_commit_the_model_is_there(churn, registry_repo):
    before = head(registry_repo)
    churn.ok("rename", "churn", "churn-v2")
    with pytest.raises(ModelNotFound, match="churn was renamed to churn-v2 in"):
        Registry(registry_repo).get_registered_model("churn")
    assert Registry(registry_repo, at=before).get_registered_model("churn").name == "churn"


def test_a_name_taken_again_is_the_new_model_not_the_old_ones_trail(churn):
    churn.ok("rename", "churn", "churn-v2")
    churn.ok("create", "churn")
    assert json.loads(churn.ok("show", "churn", "--json").stdout)["registered_model"]["name"] == (
        "churn"
    )
    never = refuse(churn, 1, "show", "ghost")
    assert never.stderr == "Error: Registered Model with name=ghost not found\n"


def test_a_hostile_record_of_renames_cannot_loop_or_break_the_message(churn, registry_repo):
    """models/.retired.yaml is input: a cycle of renames ends, a broken file is ignored."""
    record = registry_repo / "models" / ".retired.yaml"
    record.write_text(
        "schema_version: 1\nretired:\n"
        "  a: {next_version: 2, reason: renamed to b}\n"
        "  b: {next_version: 2, reason: renamed to a}\n"
    )
    result = refuse(churn, 1, "show", "a")
    assert result.stderr == (
        "Error: Registered Model with name=a not found: a was renamed to b; b was renamed to "
        "a; no model is called a now\n"
    )
    record.write_text("retired: [: :\n")
    assert refuse(churn, 1, "show", "a").stderr.startswith(
        "Error: Registered Model with name=a not found"
    )


def test_a_remote_read_of_a_renamed_model_says_where_it_went(bare_remote, tmp_path):
    """resolve --remote: the deployment pod's read, from the remote's .retired.yaml."""
    cli = Cli(_clone(bare_remote, tmp_path / "clone"))
    cli.ok("register", "churn", "s3://churn/1")
    cli.ok("rename", "churn", "churn-v2")
    result = Cli().fails(1, "resolve", "models:/churn/1", "--remote", str(bare_remote))
    assert_one_error_line(result)
    assert result.stderr.rstrip().endswith("churn was renamed to churn-v2; use churn-v2")
