"""The ``gitreg`` command line against real registries: exit codes, stdout, stderr and commits.

Every write must add exactly one commit whose subject says what changed and leave the work
tree clean; every error must exit non-zero with one ``Error:`` line and change nothing.
"""

from __future__ import annotations

import json

import pytest

from tests._helpers import Cli, git, head, log_subjects, snapshot, status

# ---------------------------------------------------------------------------- helpers


def assert_one_error_line(result):
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"wanted one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.stderr


def refuse(cli, code, *args, **kw):
    """Run a command that must fail with ``code``, say why in one line, and change nothing."""
    before = snapshot(cli.repo)
    result = cli.fails(code, *args, **kw)
    assert_one_error_line(result)
    assert snapshot(cli.repo) == before
    return result


def write(cli, subject, *args, **kw):
    """Run a write that must add exactly one commit titled ``subject`` and leave a clean tree."""
    before = log_subjects(cli.repo)
    result = cli.ok(*args, **kw)
    after = log_subjects(cli.repo)
    assert after[1:] == before, f"wanted exactly one new commit, got {after[: -len(before)]}"
    assert after[0] == subject
    assert status(cli.repo) == ""
    return result


def model_json(cli, name, *args):
    return json.loads(cli.ok("show", name, *args, "--json").stdout)["registered_model"]


def version_json(cli, name, version, *args):
    return json.loads(cli.ok("show", name, version, *args, "--json").stdout)["model_version"]


def changed_files(repo, rev="HEAD"):
    return git(repo, "show", "--name-only", "--no-renames", "--format=", rev).split()


def files_outside_git(root):
    return {p for p in root.rglob("*") if ".git" not in p.relative_to(root).parts}


@pytest.fixture
def churn(cli):
    """``churn`` with a description, a tag and two versions (1 from a run, 2 from S3)."""
    cli.ok("create", "churn", "-d", "Predicts churn", "-t", "team=growth")
    cli.ok("register", "churn", "runs:/abc123/model")
    cli.ok("register", "churn", "s3://models/churn/2")
    return cli


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """Three models, shared read-only by the search tests (they only read, or are refused).

    churn (versions 1 and 2, @champion -> 2), churn-v2 (version 1), fraud (no versions).
    """
    root = tmp_path_factory.mktemp("zoo") / "registry"
    Cli().ok("init", str(root))
    cli = Cli(root)
    cli.ok("create", "churn", "-t", "team=growth")
    cli.ok("register", "churn", "runs:/aaa/model")
    cli.ok("register", "churn", "runs:/bbb/model", "-t", "validation=passed")
    cli.ok("alias", "churn", "champion", "2")
    cli.ok("register", "churn-v2", "s3://models/churn-v2/1")
    cli.ok("create", "fraud", "-t", "team=risk")
    return cli


# ------------------------------------------------------------------------------- init


def test_init_creates_a_registry_in_a_new_directory(tmp_path):
    target = tmp_path / "new" / "registry"

    result = Cli().ok("init", str(target))

    assert str(target.resolve()) in result.stderr
    assert (target / "gitreg.yaml").is_file()
    assert (target / "models").is_dir()
    assert (target / ".github" / "workflows" / "gitreg.yml").is_file()
    assert log_subjects(target) == ["Initialize gitreg registry"]
    assert status(target) == ""
    listed = json.loads(Cli(target).ok("models", "--json").stdout)
    assert listed == {"registered_models": [], "next_page_token": None}


def test_init_turns_an_existing_repository_into_a_registry(tmp_path):
    repo = tmp_path / "existing"
    repo.mkdir()
    git(repo, "init", "-b", "main")
    (repo / "README.md").write_text("# Our models\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-m", "Existing work")

    Cli().ok("init", cwd=repo)  # DIRECTORY defaults to "."

    assert log_subjects(repo) == ["Initialize gitreg registry", "Existing work"]
    assert (repo / "README.md").read_text() == "# Our models\n"
    assert (repo / "gitreg.yaml").is_file()
    assert status(repo) == ""
    write(Cli(repo), "Create registered model churn", "create", "churn")


def test_init_refuses_a_second_init(cli, registry_repo):
    result = refuse(cli, 1, "init", str(registry_repo))
    assert "already" in result.stderr
    assert "gitreg.yaml" in result.stderr


# ----------------------------------------------------------------------------- create


def test_create_commits_one_manifest_with_description_and_tags(cli, registry_repo):
    result = write(
        cli, "Create registered model churn",
        "create", "churn", "-d", "Predicts churn", "-t", "team=growth", "-t", "priority=high",
    )  # fmt: skip

    assert result.stdout == ""
    assert "churn" in result.stderr
    assert changed_files(registry_repo) == ["models/churn.yaml"]
    model = model_json(cli, "churn")
    assert model["name"] == "churn"
    assert model["description"] == "Predicts churn"
    assert model["tags"] == [
        {"key": "team", "value": "growth"},
        {"key": "priority", "value": "high"},
    ]
    assert model["versions"] == []


def test_create_refuses_a_taken_name_also_when_only_case_differs(churn):
    for name in ["churn", "CHURN", "Churn"]:
        result = refuse(churn, 1, "create", name)
        assert "already exists" in result.stderr


def test_create_tag_without_equals_is_a_usage_error(cli):
    result = refuse(cli, 2, "create", "churn", "-t", "team")
    assert "KEY=VALUE" in result.stderr


# --------------------------------------------------------------------------- register


def test_register_prints_only_the_version_number(cli, registry_repo):
    first = write(cli, "Register churn version 1", "register", "churn", "s3://models/churn/1")
    second = write(cli, "Register churn version 2", "register", "churn", "s3://models/churn/2")

    assert first.stdout == "1\n"
    assert second.stdout == "2\n"
    assert "Registered churn version 2" in second.stderr
    assert changed_files(registry_repo) == ["models/churn.yaml"]


def test_register_creates_the_model_when_missing(cli):
    cli.ok("register", "churn", "s3://models/churn/1")
    model = model_json(cli, "churn")
    assert [v["version"] for v in model["versions"]] == ["1"]


def test_register_commit_body_records_source_and_run(cli, registry_repo):
    cli.ok("register", "churn", "runs:/abc123/model")
    body = git(registry_repo, "log", "-1", "--format=%b")
    assert "source: runs:/abc123/model" in body
    assert "run_id: abc123" in body


@pytest.mark.parametrize(
    ("args", "run_id"),
    [
        (["runs:/abc123/model"], "abc123"),
        (["runs:/abc123/model", "--run-id", "abc123"], "abc123"),
        (["s3://models/churn/1"], ""),
        (["s3://models/churn/1", "--run-id", "def456"], "def456"),
    ],
)
def test_register_run_id_comes_from_a_runs_uri_unless_given(cli, args, run_id):
    cli.ok("register", "churn", *args)
    assert version_json(cli, "churn", "1")["run_id"] == run_id


def test_register_refuses_a_runs_uri_of_another_run(cli, registry_repo):
    """As MLflow 3.17.2's server: the run in a runs:/ source is the run_id (#16)."""
    before = snapshot(registry_repo)
    result = cli.fails(1, "register", "churn", "runs:/abc123/model", "--run-id", "def456")
    assert "Invalid model version source: 'runs:/abc123/model'" in result.stderr
    assert "pass --run-id 'abc123'" in result.stderr
    assert snapshot(registry_repo) == before


def test_register_tags_metrics_and_description(cli):
    cli.ok(
        "register", "churn", "s3://models/churn/1", "-d", "New features",
        "-t", "validation=passed", "-t", "owner=alice", "-m", "f1=0.94", "--metric", "auc=0.9",
    )  # fmt: skip

    mv = version_json(cli, "churn", "1")
    assert mv["description"] == "New features"
    assert mv["tags"] == [
        {"key": "validation", "value": "passed"},
        {"key": "owner", "value": "alice"},
    ]
    assert mv["metrics"] == {"f1": 0.94, "auc": 0.9}


def test_register_json_prints_the_mlflow_model_version(cli):
    result = cli.ok("register", "churn", "s3://models/churn/1", "--json")
    mv = json.loads(result.stdout)["model_version"]
    assert mv["name"] == "churn"
    assert mv["version"] == "1"
    assert mv["source"] == "s3://models/churn/1"
    assert mv["current_stage"] == "None"


def test_register_bad_metric_is_a_usage_error_and_writes_nothing(cli, registry_repo):
    for metric in ["f1=x", "f1", "=0.9"]:
        result = refuse(cli, 2, "register", "churn", "s3://models/churn/1", "-m", metric)
        assert "--metric" in result.stderr
        assert not (registry_repo / "models" / "churn.yaml").exists()


def test_register_empty_source_is_refused(cli):
    refuse(cli, 1, "register", "churn", " ")


# -------------------------------------------------------------------- models/versions


def names_of(cli, *args):
    data = json.loads(cli.ok("models", *args, "--json").stdout)
    return [m["name"] for m in data["registered_models"]]


def test_models_lists_every_model_by_name(zoo):
    assert names_of(zoo) == ["churn", "churn-v2", "fraud"]
    lines = zoo.ok("models").stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "VERSIONS"]
    assert [line.split()[0] for line in lines[1:]] == ["churn", "churn-v2", "fraud"]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'fraud'", ["fraud"]),
        ("name = 'nope'", []),
        ("name LIKE 'churn%'", ["churn", "churn-v2"]),
        ("name ILIKE '%CHURN-%'", ["churn-v2"]),
        ("name != 'churn'", ["churn-v2", "fraud"]),
    ],
)
def test_models_filter(zoo, filter_string, expected):
    assert names_of(zoo, "--filter", filter_string) == expected


def test_models_order_by(zoo):
    assert names_of(zoo, "--order-by", "name DESC") == ["fraud", "churn-v2", "churn"]


def test_models_json_has_mlflow_rest_shape(zoo):
    data = json.loads(zoo.ok("models", "--filter", "name = 'churn'", "--json").stdout)

    assert set(data) == {"registered_models", "next_page_token"}
    assert data["next_page_token"] is None
    (model,) = data["registered_models"]
    assert model["name"] == "churn"
    assert model["tags"] == [{"key": "team", "value": "growth"}]
    assert model["aliases"] == [{"alias": "champion", "version": "2"}]
    assert [v["version"] for v in model["latest_versions"]] == ["2"]
    assert isinstance(model["creation_timestamp"], int)


def test_models_pages_round_trip(zoo):
    first = json.loads(zoo.ok("models", "--max-results", "2", "--json").stdout)
    assert [m["name"] for m in first["registered_models"]] == ["churn", "churn-v2"]
    token = first["next_page_token"]
    assert token

    second = json.loads(
        zoo.ok("models", "--max-results", "2", "--page-token", token, "--json").stdout
    )
    assert [m["name"] for m in second["registered_models"]] == ["fraud"]
    assert second["next_page_token"] is None


def test_models_text_output_says_how_to_get_the_next_page(zoo):
    result = zoo.ok("models", "--max-results", "1")
    token = json.loads(zoo.ok("models", "--max-results", "1", "--json").stdout)["next_page_token"]
    assert f"--page-token {token}" in result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["churn"]


def test_versions_json_has_mlflow_rest_shape(zoo):
    data = json.loads(zoo.ok("versions", "--filter", "name = 'churn'", "--json").stdout)

    versions = data["model_versions"]
    assert sorted(v["version"] for v in versions) == ["1", "2"]
    by_version = {v["version"]: v for v in versions}
    assert by_version["2"]["tags"] == [{"key": "validation", "value": "passed"}]
    assert by_version["1"]["tags"] == []
    assert by_version["1"]["run_id"] == "aaa"
    assert by_version["1"]["name"] == "churn"
    assert by_version["1"]["current_stage"] == "None"


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'churn'", [("churn", "1"), ("churn", "2")]),
        ("name LIKE 'churn%'", [("churn", "1"), ("churn", "2"), ("churn-v2", "1")]),
        ("run_id = 'bbb'", [("churn", "2")]),
        ("tags.validation = 'passed'", [("churn", "2")]),
        ("source_path LIKE 's3://%'", [("churn-v2", "1")]),
        ("name = 'fraud'", []),
    ],
)
def test_versions_filter(zoo, filter_string, expected):
    data = json.loads(zoo.ok("versions", "--filter", filter_string, "--json").stdout)
    assert sorted((v["name"], v["version"]) for v in data["model_versions"]) == expected


def test_versions_order_by_and_pages_round_trip(zoo):
    args = ["versions", "--order-by", "name ASC", "--order-by", "version_number DESC"]
    seen, token = [], None
    for _ in range(5):
        page_args = [*args, "--max-results", "2", "--json"]
        if token:
            page_args += ["--page-token", token]
        data = json.loads(zoo.ok(*page_args).stdout)
        seen += [(v["name"], v["version"]) for v in data["model_versions"]]
        token = data["next_page_token"]
        if token is None:
            break
    assert seen == [("churn", "2"), ("churn", "1"), ("churn-v2", "1")]


def test_versions_text_table_names_each_version(zoo):
    lines = zoo.ok("versions", "--filter", "name = 'churn'").stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "VERSION", "STAGE"]
    assert sorted(line.split()[1] for line in lines[1:]) == ["1", "2"]
    assert "runs:/bbb/model" in "\n".join(lines)


@pytest.mark.parametrize("command", ["models", "versions"])
def test_search_refuses_a_bad_filter_order_or_token(zoo, command):
    for args in [
        ["--filter", "name = "],
        ["--filter", "colour = 'red'"],
        ["--filter", "name = 'churn' AND"],
        ["--order-by", "colour ASC"],
        ["--page-token", "not-a-token"],
    ]:
        # A mistake on the command line: 2, as the README says (#16).
        result = refuse(zoo, 2, command, *args)
        assert result.stdout == ""


# ------------------------------------------------------------------------------- show


def test_show_model_prints_its_fields_and_versions(churn):
    out = churn.ok("show", "churn").stdout
    assert "churn" in out
    assert "Predicts churn" in out
    assert "team=growth" in out
    assert "runs:/abc123/model" in out
    assert "s3://models/churn/2" in out


def test_show_version_prints_one_version(churn):
    out = churn.ok("show", "churn", "1").stdout
    fields = dict(line.split(":", 1) for line in out.splitlines())
    assert fields["name"].strip() == "churn"
    assert fields["version"].strip() == "1"
    assert fields["source"].strip() == "runs:/abc123/model"
    assert fields["run_id"].strip() == "abc123"
    assert fields["stage"].strip() == "None"


def test_show_json_model_and_version(churn):
    model = model_json(churn, "churn")
    assert model["name"] == "churn"
    assert [v["version"] for v in model["versions"]] == ["1", "2"]
    assert model["tags"] == [{"key": "team", "value": "growth"}]

    mv = version_json(churn, "churn", "2")
    assert mv["version"] == "2"
    assert mv["source"] == "s3://models/churn/2"
    assert mv["tags"] == []


def test_show_at_a_ref_from_history_shows_the_old_state(churn, registry_repo):
    before = head(registry_repo)
    churn.ok("transition", "churn", "1", "Staging")
    churn.ok("update", "churn", "-d", "Retrained")

    assert version_json(churn, "churn", "1")["current_stage"] == "Staging"
    assert version_json(churn, "churn", "1", "--at", before)["current_stage"] == "None"
    assert version_json(churn, "churn", "1", "--at", "HEAD~1")["current_stage"] == "Staging"
    assert model_json(churn, "churn", "--at", before)["description"] == "Predicts churn"
    assert model_json(churn, "churn", "--at", "main")["description"] == "Retrained"
    assert "None" in churn.ok("show", "churn", "1", "--at", before).stdout


def test_show_at_a_ref_before_the_model_existed_is_not_found(churn, registry_repo):
    first = git(registry_repo, "rev-list", "--max-parents=0", "HEAD").strip()
    result = refuse(churn, 1, "show", "churn", "--at", first)
    assert "churn" in result.stderr


def test_show_at_an_unknown_ref_is_a_usage_error(churn):
    for ref in ["no-such-branch", "HEAD~99", "0" * 40]:
        result = refuse(churn, 2, "show", "churn", "--at", ref)
        assert ref in result.stderr
    refuse(churn, 2, "resolve", "models:/churn/1", "--at", "no-such-branch")
    refuse(churn, 2, "models", "--at", "no-such-branch")


def test_show_missing_model_or_version(churn):
    for args in [["nope"], ["churn", "9"]]:
        refuse(churn, 1, "show", *args)
    for args in [["churn", "zero"], ["churn", "0"]]:  # not a version number: a usage error
        refuse(churn, 2, "show", *args)


# ----------------------------------------------------------------------------- update


def test_update_model_description(churn):
    write(churn, "Update description of churn", "update", "churn", "-d", "Predicts 30-day churn")
    assert model_json(churn, "churn")["description"] == "Predicts 30-day churn"


def test_update_version_description(churn):
    write(churn, "Update description of churn version 2", "update", "churn", "2", "-d", "F1 0.94")
    assert version_json(churn, "churn", "2")["description"] == "F1 0.94"
    assert version_json(churn, "churn", "1")["description"] == ""
    assert model_json(churn, "churn")["description"] == "Predicts churn"


def test_update_missing_version_is_refused(churn):
    refuse(churn, 1, "update", "churn", "9", "-d", "x")


# -------------------------------------------------------------------------- tag/untag


def test_tag_model(churn):
    write(churn, "Set tag priority=high on churn", "tag", "churn", "priority=high")
    assert model_json(churn, "churn")["tags"] == [
        {"key": "team", "value": "growth"},
        {"key": "priority", "value": "high"},
    ]


def test_tag_version(churn):
    write(
        churn,
        "Set tag validation=passed on churn version 1",
        "tag",
        "churn",
        "1",
        "validation=passed",
    )
    assert version_json(churn, "churn", "1")["tags"] == [{"key": "validation", "value": "passed"}]
    assert version_json(churn, "churn", "2")["tags"] == []
    assert model_json(churn, "churn")["tags"] == [{"key": "team", "value": "growth"}]


@pytest.mark.parametrize("version", [[], ["1"]])
def test_tag_with_several_pairs_is_one_commit(churn, registry_repo, version):
    """The docstring promises one commit for ``gitreg tag NAME [VERSION] K=V K=V``."""
    before = log_subjects(registry_repo)
    churn.ok("tag", "churn", *version, "priority=high", "owner=alice")
    after = log_subjects(registry_repo)

    assert after[1:] == before, f"one commit per tag: {after[: len(after) - len(before)]}"
    assert "priority=high" in after[0]
    assert "owner=alice" in after[0]
    assert status(registry_repo) == ""


def test_tag_with_one_bad_key_writes_nothing(churn):
    result = refuse(churn, 1, "tag", "churn", "priority=high", "bad key!=x")
    assert "bad key!" in result.stderr


def test_tag_version_without_pairs_is_a_usage_error(churn):
    refuse(churn, 2, "tag", "churn", "1")


def test_untag_model_and_version(churn):
    churn.ok("tag", "churn", "1", "validation=passed")

    write(churn, "Delete tag team from churn", "untag", "churn", "team")
    write(churn, "Delete tag validation from churn version 1", "untag", "churn", "1", "validation")

    assert model_json(churn, "churn")["tags"] == []
    assert version_json(churn, "churn", "1")["tags"] == []


def test_untag_several_keys_is_one_commit(churn, registry_repo):
    churn.ok("tag", "churn", "priority=high")
    before = log_subjects(registry_repo)
    churn.ok("untag", "churn", "team", "priority")
    after = log_subjects(registry_repo)

    assert after[1:] == before, f"one commit per tag: {after[: len(after) - len(before)]}"
    assert model_json(churn, "churn")["tags"] == []


def test_untag_missing_tag_is_refused(churn):
    for args in [["churn", "nope"], ["churn", "1", "nope"], ["ghost", "team"]]:
        refuse(churn, 1, "untag", *args)


# ---------------------------------------------------------------------- alias/unalias


def test_alias_set_move_and_remove(churn):
    write(churn, "Set alias churn@champion -> version 2", "alias", "churn", "champion", "2")
    assert version_json(churn, "churn", "2")["aliases"] == ["champion"]

    write(churn, "Set alias churn@champion -> version 1", "alias", "churn", "champion", "1")
    assert version_json(churn, "churn", "1")["aliases"] == ["champion"]
    assert version_json(churn, "churn", "2")["aliases"] == []

    write(churn, "Delete alias churn@champion", "unalias", "churn", "champion")
    assert model_json(churn, "churn")["aliases"] == []


def test_bad_alias_commands_are_refused(churn):
    for args in [
        ["alias", "churn", "champion", "9"],
        ["alias", "churn", "latest", "1"],
        ["alias", "churn", "3", "1"],
        ["alias", "ghost", "champion", "1"],
        ["unalias", "churn", "champion"],
    ]:
        refuse(churn, 1, *args)


# ------------------------------------------------------------------------- transition


def test_transition_to_staging_then_production(churn):
    write(
        churn, "Transition churn version 1: None -> Staging", "transition", "churn", "1", "Staging"
    )
    assert version_json(churn, "churn", "1")["current_stage"] == "Staging"

    result = write(
        churn, "Transition churn version 1: Staging -> Production",
        "transition", "churn", "1", "production",
    )  # fmt: skip
    assert "Production" in result.stderr
    assert version_json(churn, "churn", "1")["current_stage"] == "Production"


def test_second_production_version_is_refused_without_archive_flag(churn):
    churn.ok("transition", "churn", "1", "Production")

    result = refuse(churn, 1, "transition", "churn", "2", "Production")

    assert "--archive-existing-versions" in result.stderr
    assert version_json(churn, "churn", "2")["current_stage"] == "None"


def test_archive_existing_versions_archives_the_old_one_in_the_same_commit(churn, registry_repo):
    churn.ok("transition", "churn", "1", "Production")

    write(
        churn, "Transition churn version 2: None -> Production",
        "transition", "churn", "2", "Production", "--archive-existing-versions",
    )  # fmt: skip

    assert changed_files(registry_repo) == ["models/churn.yaml"]
    assert "Archived version(s) 1" in git(registry_repo, "log", "-1", "--format=%b")
    now = {v["version"]: v["current_stage"] for v in model_json(churn, "churn")["versions"]}
    was = {
        v["version"]: v["current_stage"]
        for v in model_json(churn, "churn", "--at", "HEAD~1")["versions"]
    }
    assert now == {"1": "Archived", "2": "Production"}
    assert was == {"1": "Production", "2": "None"}


def test_transition_json_prints_the_version(churn):
    result = churn.ok("transition", "churn", "2", "Staging", "--json")
    assert json.loads(result.stdout)["model_version"]["current_stage"] == "Staging"


def test_transition_refusals(churn):
    for args in [
        ["ghost", "1", "Staging"],
        ["churn", "9", "Staging"],
        ["churn", "1", "Archived", "--archive-existing-versions"],
    ]:
        refuse(churn, 1, "transition", *args)


# ----------------------------------------------------------------------------- latest


def test_latest_newest_version_per_stage(churn):
    churn.ok("register", "churn", "s3://models/churn/3")
    churn.ok("transition", "churn", "1", "Production")
    churn.ok("transition", "churn", "2", "Staging")

    every = json.loads(churn.ok("latest", "churn", "--json").stdout)["model_versions"]
    assert {v["current_stage"]: v["version"] for v in every} == {
        "Production": "1",
        "Staging": "2",
        "None": "3",
    }
    prod = json.loads(churn.ok("latest", "churn", "--stage", "Production", "--json").stdout)
    assert [v["version"] for v in prod["model_versions"]] == ["1"]
    both = json.loads(
        churn.ok("latest", "churn", "--stage", "Staging", "--stage", "None", "--json").stdout
    )
    assert sorted(v["version"] for v in both["model_versions"]) == ["2", "3"]
    text = churn.ok("latest", "churn", "--stage", "Staging").stdout.splitlines()
    assert text[1].split()[:2] == ["2", "Staging"]
    assert len(text) == 2


def test_latest_missing_model_is_refused(churn):
    refuse(churn, 1, "latest", "ghost")


# ---------------------------------------------------------------------------- resolve


@pytest.fixture
def promoted(churn):
    """churn: version 1 in Production with @champion, version 2 (newest) in Staging."""
    churn.ok("transition", "churn", "1", "Production")
    churn.ok("transition", "churn", "2", "Staging")
    churn.ok("alias", "churn", "champion", "1")
    churn.ok("alias", "churn", "challenger", "2")
    return churn


def test_resolve_prints_the_source_and_nothing_else(promoted):
    expected = {
        "models:/churn/1": "runs:/abc123/model",
        "models:/churn/2": "s3://models/churn/2",
        "models:/churn/Production": "runs:/abc123/model",
        "models:/churn/production": "runs:/abc123/model",
        "models:/churn/PRODUCTION": "runs:/abc123/model",
        "models:/churn/Staging": "s3://models/churn/2",
        "models:/churn@champion": "runs:/abc123/model",
        "models:/churn@challenger": "s3://models/churn/2",
        "models:/churn/latest": "s3://models/churn/2",
    }
    printed = {uri: promoted.ok("resolve", uri).stdout for uri in expected}
    assert printed == {uri: source + "\n" for uri, source in expected.items()}


def test_resolve_json_and_at(promoted, registry_repo):
    mv = json.loads(promoted.ok("resolve", "models:/churn@champion", "--json").stdout)
    assert mv["model_version"]["version"] == "1"
    old = promoted.ok("resolve", "models:/churn/Production", "--at", "HEAD~3")
    assert old.stdout == "runs:/abc123/model\n"
    promoted.ok("transition", "churn", "2", "Production", "--archive-existing-versions")
    assert promoted.ok("resolve", "models:/churn/Production").stdout == "s3://models/churn/2\n"
    assert promoted.ok("resolve", "models:/churn/Production", "--at", "HEAD~1").stdout == (
        "runs:/abc123/model\n"
    )


def test_resolve_bad_uri_is_one_line_on_stderr(promoted):
    # A malformed URI is a command-line mistake (2); one that names nothing is refused (1).
    for uri, code in [
        ("churn", 2),
        ("models:/churn", 2),
        ("models:/churn/", 2),
        ("models:/churn/1/2", 2),
        ("models:/churn/Prod", 2),
        ("models:/churn/0", 2),
        ("models:/churn/9", 1),
        ("models:/churn@nope", 1),
        ("models:/churn@latest", 2),
        ("models:/ghost/1", 1),
        ("models:/../x/1", 2),
        ("runs:/abc123/model", 2),
    ]:
        result = refuse(promoted, code, "resolve", uri)
        assert result.stdout == "", uri


def test_resolve_on_archived_stage_with_none_is_refused(promoted):
    result = refuse(promoted, 1, "resolve", "models:/churn/Archived")
    assert "Archived" in result.stderr


# ----------------------------------------------------------------------------- rename


def test_rename_moves_the_manifest_in_one_commit(promoted, registry_repo):
    write(
        promoted, "Rename registered model churn to churn-predictor",
        "rename", "churn", "churn-predictor",
    )  # fmt: skip

    assert not (registry_repo / "models" / "churn.yaml").exists()
    assert (registry_repo / "models" / "churn-predictor.yaml").is_file()
    assert sorted(changed_files(registry_repo)) == [
        "models/.retired.yaml",  # churn's numbers stay taken (#12)
        "models/churn-predictor.yaml",
        "models/churn.yaml",
    ]
    model = model_json(promoted, "churn-predictor")
    assert [v["version"] for v in model["versions"]] == ["1", "2"]
    assert all(v["name"] == "churn-predictor" for v in model["versions"])
    assert promoted.ok("resolve", "models:/churn-predictor@champion").stdout == (
        "runs:/abc123/model\n"
    )
    refuse(promoted, 1, "show", "churn")


def test_rename_onto_a_taken_name_or_from_a_missing_one_is_refused(churn):
    churn.ok("create", "fraud")
    for new_name in ["fraud", "FRAUD"]:
        result = refuse(churn, 1, "rename", "churn", new_name)
        assert "already exists" in result.stderr
    refuse(churn, 1, "rename", "ghost", "spirit")


# ----------------------------------------------------------------------------- delete


def test_delete_version_drops_it_and_its_aliases(promoted, registry_repo):
    write(promoted, "Delete churn version 2", "delete", "churn", "2", "--yes")

    model = model_json(promoted, "churn")
    assert [v["version"] for v in model["versions"]] == ["1"]
    assert model["aliases"] == [{"alias": "champion", "version": "1"}]
    refuse(promoted, 1, "show", "churn", "2")
    refuse(promoted, 1, "resolve", "models:/churn@challenger")
    assert "s3://models/churn/2" in git(registry_repo, "show", "HEAD~1:models/churn.yaml")


def test_delete_model(churn, registry_repo):
    write(churn, "Delete registered model churn", "delete", "churn", "-y")

    assert not (registry_repo / "models" / "churn.yaml").exists()
    refuse(churn, 1, "show", "churn")
    assert names_of(churn) == []


@pytest.mark.parametrize("version", [[], ["2"]])
def test_delete_without_yes_and_no_tty_is_a_usage_error(churn, version):
    result = refuse(churn, 2, "delete", "churn", *version)
    assert "--yes" in result.stderr
    assert [v["version"] for v in model_json(churn, "churn")["versions"]] == ["1", "2"]


def test_version_numbers_are_never_reused_after_deleting_the_newest(churn):
    churn.ok("delete", "churn", "2", "--yes")
    assert churn.ok("register", "churn", "s3://models/churn/3").stdout == "3\n"
    assert [v["version"] for v in model_json(churn, "churn")["versions"]] == ["1", "3"]


def test_delete_missing_model_or_version_is_refused(churn):
    for args in [["ghost", "--yes"], ["churn", "9", "--yes"]]:
        refuse(churn, 1, "delete", *args)


# ----------------------------------------------------------------------------- errors


def test_json_errors_are_mlflow_error_bodies_on_stderr(churn):
    before = snapshot(churn.repo)
    for args, code, error_code in [
        (["show", "ghost"], 1, "RESOURCE_DOES_NOT_EXIST"),
        (["show", "churn", "9"], 1, "RESOURCE_DOES_NOT_EXIST"),
        (["create", "churn"], 1, "RESOURCE_ALREADY_EXISTS"),
        (["register", "../x", "s3://x"], 1, "INVALID_PARAMETER_VALUE"),
        (["resolve", "nope"], 2, "INVALID_PARAMETER_VALUE"),
        (["models", "--filter", "colour = 'red'"], 2, "INVALID_PARAMETER_VALUE"),
        (["show", "churn", "--at", "no-such-ref"], 2, "INVALID_PARAMETER_VALUE"),
    ]:
        result = churn.fails(code, *args, "--json")

        assert result.stdout == ""
        body = json.loads(result.stderr)
        assert body == {"error_code": error_code, "message": body["message"]}, args
        assert body["message"]
    assert snapshot(churn.repo) == before


def test_json_transition_refusal_is_an_invalid_state_body(churn):
    churn.ok("transition", "churn", "1", "Production")
    result = churn.fails(1, "transition", "churn", "2", "Production", "--json")
    body = json.loads(result.stderr)
    assert body["error_code"] == "INVALID_STATE"
    assert "--archive-existing-versions" in body["message"]


def test_json_usage_error_is_an_error_body_too(churn):
    result = churn.fails(2, "models", "--max-results", "0", "--json")
    assert result.stdout == ""
    body = json.loads(result.stderr)
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "--max-results" in body["message"]


def test_gitreg_repo_environment_variable_finds_the_registry(
    churn, registry_repo, tmp_path, monkeypatch
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("GITREG_REPO", str(registry_repo))
    anywhere = Cli()

    assert anywhere.ok("resolve", "models:/churn/1", cwd=elsewhere).stdout == "runs:/abc123/model\n"
    assert anywhere.ok("register", "churn", "s3://models/churn/3", cwd=elsewhere).stdout == "3\n"
    assert log_subjects(registry_repo)[0] == "Register churn version 3"
    assert list(elsewhere.iterdir()) == []


def test_running_from_a_subdirectory_finds_the_registry(churn, registry_repo):
    sub = registry_repo / "models"
    here = Cli()

    assert here.ok("resolve", "models:/churn/2", cwd=sub).stdout == "s3://models/churn/2\n"
    here.ok("create", "fraud", cwd=registry_repo / ".github" / "workflows")
    assert log_subjects(registry_repo)[0] == "Create registered model fraud"
    assert (registry_repo / "models" / "fraud.yaml").is_file()
    assert status(registry_repo) == ""


def test_outside_a_registry_names_the_path(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = Cli().fails(2, "models", cwd=elsewhere)

    assert_one_error_line(result)
    assert str(elsewhere.resolve()) in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_git_repository_without_gitreg_yaml_is_not_a_registry(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    git(plain, "init", "-b", "main")

    result = Cli().fails(2, "create", "churn", "--repo", str(plain))

    assert_one_error_line(result)
    assert str(plain) in result.stderr
    assert "gitreg.yaml" in result.stderr
    assert status(plain) == ""


def test_repo_that_does_not_exist_names_the_path(tmp_path):
    missing = tmp_path / "missing"
    result = Cli().fails(2, "models", "--repo", str(missing))
    assert_one_error_line(result)
    assert str(missing) in result.stderr
    assert "is not a gitreg registry (it does not exist)" in result.stderr
    assert "pass --repo PATH" in result.stderr
    assert not missing.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["create", "{}"],
        ["register", "{}", "s3://models/x/1"],
        ["rename", "churn", "{}"],
    ],
)
def test_a_bad_model_name_is_refused_before_anything_is_written(churn, tmp_path, command):
    files = files_outside_git(tmp_path)
    for bad in ["../x", "a/b", "..", ".", "x:y", "a\tb", "   ", "a\nb"]:
        args = [part.format(bad) for part in command]

        result = refuse(churn, 1, args[0], "--repo", str(churn.repo), "--", *args[1:])

        assert repr(bad) in result.stderr
        assert files_outside_git(tmp_path) == files, bad


@pytest.mark.parametrize("staged", [False, True])
def test_uncommitted_hand_edits_are_never_overwritten(churn, registry_repo, staged):
    path = registry_repo / "models" / "churn.yaml"
    edited = path.read_text().replace("Predicts churn", "Hand-edited description")
    path.write_text(edited)
    if staged:
        git(registry_repo, "add", "models/churn.yaml")

    result = refuse(churn, 1, "update", "churn", "-d", "From the CLI")

    assert "models/churn.yaml" in result.stderr
    assert path.read_text() == edited


def test_hand_edits_to_another_manifest_survive_a_write(churn, registry_repo):
    churn.ok("create", "fraud")
    other = registry_repo / "models" / "fraud.yaml"
    edited = other.read_text() + "description: Work in progress\n"
    other.write_text(edited)

    churn.ok("tag", "churn", "priority=high")

    assert log_subjects(registry_repo)[0] == "Set tag priority=high on churn"
    assert changed_files(registry_repo) == ["models/churn.yaml"]
    assert other.read_text() == edited
    assert status(registry_repo) == " M models/fraud.yaml\n"


BROKEN = """\
schema_version: 1
name: fraud
description: a: b
next_version: 1
versions: []
"""


@pytest.mark.parametrize("committed", [False, True])
def test_a_broken_manifest_is_one_line_naming_file_and_line(churn, registry_repo, committed):
    (registry_repo / "models" / "fraud.yaml").write_text(BROKEN)
    if committed:
        git(registry_repo, "add", "models/fraud.yaml")
        git(registry_repo, "commit", "-m", "Hand edit")

    for args in [["show", "fraud"], ["models"], ["versions"], ["resolve", "models:/fraud/1"]]:
        result = refuse(churn, 1, *args)
        assert "models/fraud.yaml:3" in result.stderr, args


def test_a_write_to_a_broken_committed_manifest_is_refused(churn, registry_repo):
    path = registry_repo / "models" / "fraud.yaml"
    path.write_text(BROKEN)
    git(registry_repo, "add", "models/fraud.yaml")
    git(registry_repo, "commit", "-m", "Hand edit")

    result = refuse(churn, 1, "tag", "fraud", "team=risk")

    assert "models/fraud.yaml:3" in result.stderr
    assert path.read_text() == BROKEN


def test_a_read_only_at_ref_ignores_a_broken_work_tree(churn, registry_repo):
    (registry_repo / "models" / "churn.yaml").write_text("name: [\n")
    out = churn.ok("resolve", "models:/churn/1", "--at", "HEAD").stdout
    assert out == "runs:/abc123/model\n"


# ---------------------------------------------------------------------- seed workflow


def test_seed_workflow_end_to_end_reads_as_an_audit_trail(cli, registry_repo):
    name = "churn-predictor"
    cli.ok("create", name, "-d", "Predicts churn", "-t", "team=growth", "-t", "priority=high")
    assert cli.ok("register", name, "runs:/run1/model", "-m", "f1=0.91").stdout == "1\n"
    assert cli.ok("register", name, "runs:/run2/model", "-m", "f1=0.94").stdout == "2\n"

    assert names_of(cli, "--filter", f"name = '{name}'") == [name]
    assert names_of(cli, "--filter", "name LIKE '%churn%'") == [name]
    assert names_of(cli, "--filter", "name LIKE 'fraud%'") == []

    cli.ok("update", name, "-d", "Predicts 30-day churn")
    cli.ok("transition", name, "1", "Staging")
    cli.ok("transition", name, "1", "Production")
    cli.ok("transition", name, "2", "Staging")
    cli.ok("transition", name, "2", "Production", "--archive-existing-versions")
    assert version_json(cli, name, "1")["current_stage"] == "Archived"
    cli.ok("tag", name, "2", "validation=passed")
    cli.ok("alias", name, "champion", "2")
    cli.ok("alias", name, "previous", "1")

    latest = json.loads(cli.ok("latest", name, "--stage", "Production", "--json").stdout)
    assert [v["version"] for v in latest["model_versions"]] == ["2"]
    resolved = {
        uri: cli.ok("resolve", uri).stdout
        for uri in [
            f"models:/{name}/1",
            f"models:/{name}/2",
            f"models:/{name}/Production",
            f"models:/{name}/production",
            f"models:/{name}/Archived",
            f"models:/{name}@champion",
            f"models:/{name}@previous",
            f"models:/{name}/latest",
        ]
    }
    assert resolved == {
        f"models:/{name}/1": "runs:/run1/model\n",
        f"models:/{name}/2": "runs:/run2/model\n",
        f"models:/{name}/Production": "runs:/run2/model\n",
        f"models:/{name}/production": "runs:/run2/model\n",
        f"models:/{name}/Archived": "runs:/run1/model\n",
        f"models:/{name}@champion": "runs:/run2/model\n",
        f"models:/{name}@previous": "runs:/run1/model\n",
        f"models:/{name}/latest": "runs:/run2/model\n",
    }

    cli.ok("delete", name, "1", "--yes")
    cli.ok("delete", name, "--yes")

    assert list(reversed(log_subjects(registry_repo))) == [
        "Initialize gitreg registry",
        f"Create registered model {name}",
        f"Register {name} version 1",
        f"Register {name} version 2",
        f"Update description of {name}",
        f"Transition {name} version 1: None -> Staging",
        f"Transition {name} version 1: Staging -> Production",
        f"Transition {name} version 2: None -> Staging",
        f"Transition {name} version 2: Staging -> Production",
        f"Set tag validation=passed on {name} version 2",
        f"Set alias {name}@champion -> version 2",
        f"Set alias {name}@previous -> version 1",
        f"Delete {name} version 1",
        f"Delete registered model {name}",
    ]
    assert status(registry_repo) == ""
    assert not (registry_repo / "models" / f"{name}.yaml").exists()
