"""The Python API: MlflowClient's registry methods on a real temporary git repository."""

from __future__ import annotations

from pathlib import Path

import pytest

import gitreg
from gitreg import Registry, Stage
from gitreg.core.errors import (
    AliasNotFound,
    DirtyWorktree,
    GitregError,
    InvalidManifest,
    InvalidParameter,
    ModelAlreadyExists,
    ModelNotFound,
    NotARegistry,
    TransitionNotAllowed,
    VersionNotFound,
)
from gitreg.core.fields import format_timestamp
from tests._helpers import git, log_subjects, snapshot, status


def _commits(root: Path) -> int:
    return int(git(root, "rev-list", "--count", "HEAD").strip())


def test_create_registered_model_writes_one_manifest_and_one_commit(registry, registry_repo):
    before = _commits(registry_repo)
    model = registry.create_registered_model(
        "churn", tags={"team": "growth"}, description="Predicts churn"
    )
    assert model.name == "churn"
    assert model.tags == {"team": "growth"}
    assert model.description == "Predicts churn"
    assert model.creation_timestamp > 0
    assert model.user_id == "Alice Example"
    assert _commits(registry_repo) == before + 1
    assert log_subjects(registry_repo)[0] == "Create registered model churn"
    changed = git(registry_repo, "show", "--name-only", "--format=", "HEAD").split()
    assert changed == ["models/churn.yaml"]
    assert status(registry_repo) == ""


def test_create_existing_model_is_resource_already_exists(registry, registry_repo):
    registry.create_registered_model("churn")
    before = snapshot(registry_repo)
    with pytest.raises(ModelAlreadyExists) as err:
        registry.create_registered_model("churn")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert snapshot(registry_repo) == before


def test_names_are_unique_case_insensitively(registry, registry_repo):
    registry.create_registered_model("churn")
    before = snapshot(registry_repo)
    with pytest.raises(ModelAlreadyExists) as err:
        registry.create_registered_model("Churn")
    assert err.value.message == (  # which model clashes, and why case matters
        "Registered Model (name=churn) already exists and differs from 'Churn' only in case; "
        "names must be unique case-insensitively (macOS and Windows checkouts would merge them)"
    )
    with pytest.raises(ModelAlreadyExists, match="only in case"):
        registry.create_model_version("CHURN", "s3://x")
    assert snapshot(registry_repo) == before


@pytest.mark.parametrize(
    "name",
    [
        "../escape",
        "a/b",
        "x:y",
        "",
        "   ",
        "..",
        ".",
        "a\nb",
        "tab\tx",
        "x" * 257,
    ],
)
def test_bad_model_names_are_refused_before_anything_is_written(registry, registry_repo, name):
    before = snapshot(registry_repo)
    with pytest.raises(InvalidParameter) as err:
        registry.create_registered_model(name)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(InvalidParameter):
        registry.create_model_version(name, "s3://x")
    assert snapshot(registry_repo) == before
    assert sorted(p.name for p in (registry_repo / "models").iterdir()) == [".gitkeep"]


@pytest.mark.parametrize(
    "name", ["a\\b", "-rf", "--force", ".hidden", "a..b", "x.", "con", "NUL.x", "a b", "näme"]
)
def test_names_mlflow_accepts_are_stored_inside_models(registry, registry_repo, name):
    """Names that look like options, paths or devices stay one file inside models/ (#16)."""
    registry.create_model_version(name, "s3://x")
    files = [p for p in (registry_repo / "models").iterdir() if p.name != ".gitkeep"]
    assert len(files) == 1
    assert files[0].parent == registry_repo / "models"
    assert not files[0].name.startswith(("-", "."))
    assert registry.get_registered_model(name).name == name


def test_get_registered_model_missing_is_resource_does_not_exist(registry):
    with pytest.raises(ModelNotFound) as err:
        registry.get_registered_model("nope")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_create_model_version_numbers_and_creates_the_model(registry, registry_repo):
    mv1 = registry.create_model_version(
        "churn", "runs:/abc/model", run_id="abc", tags={"k": "v"}, description="first"
    )
    mv2 = registry.create_model_version("churn", "s3://bucket/churn/2", metrics={"f1": 0.9})
    assert (mv1.version, mv2.version) == (1, 2)
    assert mv1.current_stage == Stage.NONE
    assert mv1.run_id == "abc"
    assert mv1.tags == {"k": "v"}
    assert mv1.description == "first"
    assert mv1.status == "READY"
    assert mv2.metrics == {"f1": 0.9}
    model = registry.get_registered_model("churn")
    assert [v.version for v in model.versions] == [1, 2]
    assert model.next_version == 3
    assert log_subjects(registry_repo)[:2] == [
        "Register churn version 2",
        "Register churn version 1",
    ]


def test_module_level_register_model_and_resolve_use_gitreg_repo(registry_repo, monkeypatch):
    monkeypatch.setenv("GITREG_REPO", str(registry_repo))
    mv = gitreg.register_model("runs:/r123/model", "fraud")
    assert mv.version == 1
    assert mv.run_id == "r123"
    assert gitreg.resolve("models:/fraud/1") == "runs:/r123/model"


def test_module_level_functions_find_the_repo_of_the_current_directory(registry_repo, monkeypatch):
    monkeypatch.delenv("GITREG_REPO", raising=False)
    monkeypatch.chdir(registry_repo / "models")
    gitreg.register_model("s3://m/1", "fraud")
    assert gitreg.resolve("models:/fraud/latest") == "s3://m/1"


def test_outside_a_registry_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotARegistry, match="not inside a git repository"):
        Registry()
    git(tmp_path, "init", "-q", "plain")
    with pytest.raises(NotARegistry, match=r"no gitreg\.yaml"):
        Registry(tmp_path / "plain")


def test_get_model_version_and_errors(registry):
    registry.create_model_version("churn", "s3://1")
    assert registry.get_model_version("churn", "1").source == "s3://1"
    with pytest.raises(VersionNotFound) as err:
        registry.get_model_version("churn", 7)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(InvalidParameter):
        registry.get_model_version("churn", "one")
    with pytest.raises(InvalidParameter):
        registry.get_model_version("churn", 0)


def test_update_registered_model_and_version_descriptions(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    registry.update_registered_model("churn", "Predicts churn")
    mv = registry.update_model_version("churn", 1, "Baseline. F1 0.91")
    assert registry.get_registered_model("churn").description == "Predicts churn"
    assert mv.description == "Baseline. F1 0.91"
    assert log_subjects(registry_repo)[:2] == [
        "Update description of churn version 1",
        "Update description of churn",
    ]


def test_a_write_that_changes_nothing_makes_no_commit(registry, registry_repo):
    registry.create_registered_model("churn", description="same")
    before = snapshot(registry_repo)
    registry.update_registered_model("churn", "same")
    assert snapshot(registry_repo) == before


def test_rename_moves_manifest_versions_and_aliases_in_one_commit(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    registry.set_registered_model_alias("churn", "champion", 1)
    before = _commits(registry_repo)
    renamed = registry.rename_registered_model("churn", "churn-predictor")
    assert renamed.name == "churn-predictor"
    assert _commits(registry_repo) == before + 1
    assert not (registry_repo / "models/churn.yaml").exists()
    assert registry.get_model_version_by_alias("churn-predictor", "champion").source == "s3://1"
    assert registry.get_model_version("churn-predictor", 1).name == "churn-predictor"
    with pytest.raises(ModelNotFound):
        registry.get_registered_model("churn")
    status_lines = git(registry_repo, "show", "--name-status", "--format=", "HEAD").split("\n")
    assert any(line.startswith("R") or line.startswith("D") for line in status_lines)
    assert status(registry_repo) == ""


def test_rename_to_an_existing_name_is_refused(registry, registry_repo):
    registry.create_registered_model("a")
    registry.create_registered_model("b")
    before = snapshot(registry_repo)
    with pytest.raises(ModelAlreadyExists):
        registry.rename_registered_model("a", "B")
    assert snapshot(registry_repo) == before


def test_rename_changing_only_case_is_allowed(registry):
    registry.create_registered_model("churn")
    registry.rename_registered_model("churn", "Churn")
    assert registry.get_registered_model("Churn").name == "Churn"


def test_delete_registered_model(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    registry.delete_registered_model("churn")
    assert not (registry_repo / "models/churn.yaml").exists()
    assert log_subjects(registry_repo)[0] == "Delete registered model churn"
    with pytest.raises(ModelNotFound):
        registry.delete_registered_model("churn")


def test_version_numbers_are_never_reused_after_deleting_the_newest(registry):
    registry.create_model_version("churn", "s3://1")
    registry.create_model_version("churn", "s3://2")
    registry.delete_model_version("churn", 2)
    assert registry.create_model_version("churn", "s3://3").version == 3
    with pytest.raises(VersionNotFound):
        registry.get_model_version("churn", 2)


def test_deleting_a_version_removes_its_aliases(registry):
    registry.create_model_version("churn", "s3://1")
    registry.create_model_version("churn", "s3://2")
    registry.set_registered_model_alias("churn", "champion", 1)
    registry.set_registered_model_alias("churn", "challenger", 2)
    registry.delete_model_version("churn", 1)
    model = registry.get_registered_model("churn")
    assert model.aliases == {"challenger": 2}
    with pytest.raises(AliasNotFound):
        registry.get_model_version_by_alias("churn", "champion")


def test_registered_and_version_tags(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    registry.set_registered_model_tag("churn", "team", "growth")
    registry.set_model_version_tag("churn", "1", "validation", "passed")
    assert registry.get_registered_model("churn").tags == {"team": "growth"}
    assert registry.get_model_version("churn", 1).tags == {"validation": "passed"}
    registry.delete_registered_model_tag("churn", "team")
    registry.delete_model_version_tag("churn", 1, "validation")
    assert registry.get_registered_model("churn").tags == {}
    assert registry.get_model_version("churn", 1).tags == {}
    # the error names what has no such tag: the version, or the model itself
    with pytest.raises(InvalidParameter) as err:
        registry.delete_tags("churn", ["validation"], 1)
    assert err.value.message == "churn version 1 has no tag 'validation'; nothing was changed"
    with pytest.raises(InvalidParameter) as err:
        registry.delete_tags("churn", ["team"])
    assert err.value.message == "churn has no tag 'team'; nothing was changed"
    assert log_subjects(registry_repo)[0] == "Delete tag validation from churn version 1"


def test_set_model_version_tag_by_stage(registry):
    registry.create_model_version("churn", "s3://1")
    registry.transition_model_version_stage("churn", 1, "Staging")
    registry.set_model_version_tag("churn", key="k", value="v", stage="Staging")
    assert registry.get_model_version("churn", 1).tags == {"k": "v"}


def test_tag_values_are_stored_as_strings(registry):
    registry.create_model_version("churn", "s3://1", tags={"epochs": 10, "ok": True})
    assert registry.get_model_version("churn", 1).tags == {"epochs": "10", "ok": "True"}


def test_transition_stages_and_latest_versions(registry):
    for i in range(1, 4):
        registry.create_model_version("churn", f"s3://{i}")
    registry.transition_model_version_stage("churn", 1, "staging")
    registry.transition_model_version_stage("churn", 2, "Staging")
    registry.transition_model_version_stage("churn", 3, "Production")
    latest = registry.get_latest_versions("churn")
    assert [(mv.version, mv.current_stage) for mv in latest] == [
        (2, Stage.STAGING),
        (3, Stage.PRODUCTION),
    ]
    assert [mv.version for mv in registry.get_latest_versions("churn", ["Production"])] == [3]
    assert registry.get_latest_versions("churn", ["Archived"]) == []
    model = registry.get_registered_model("churn")
    assert [mv.version for mv in model.latest_versions] == [2, 3]


def test_second_production_is_refused_without_archive(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    registry.create_model_version("churn", "s3://2")
    registry.transition_model_version_stage("churn", 1, "Production")
    before = snapshot(registry_repo)
    with pytest.raises(TransitionNotAllowed) as err:
        registry.transition_model_version_stage("churn", 2, "Production")
    assert err.value.error_code == "INVALID_STATE"
    assert err.value.message == (  # which version holds Production, and both ways out
        "churn version 1 is already in Production; pass archive_existing_versions=True to "
        "archive it in the same commit, or move it out of Production first"
    )
    assert snapshot(registry_repo) == before


def test_archive_existing_versions_archives_the_old_production_in_the_same_commit(
    registry, registry_repo
):
    registry.create_model_version("churn", "s3://1")
    registry.create_model_version("churn", "s3://2")
    registry.transition_model_version_stage("churn", 1, "Production")
    before = _commits(registry_repo)
    mv = registry.transition_model_version_stage(
        "churn", 2, "Production", archive_existing_versions=True
    )
    assert mv.current_stage == Stage.PRODUCTION
    assert registry.get_model_version("churn", 1).current_stage == Stage.ARCHIVED
    assert _commits(registry_repo) == before + 1
    diff = git(registry_repo, "diff", "HEAD~1", "HEAD", "--unified=0").splitlines()
    changed = [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert sorted(line for line in changed if "updated_at" not in line) == sorted(
        [
            "-    stage: Production",
            "+    stage: Archived",
            "-    stage: None",
            "+    stage: Production",
        ]
    )
    # Both versions and the model changed at the same moment, as MLflow records it (#25).
    times = {
        registry.get_model_version("churn", 1).last_updated_timestamp,
        registry.get_model_version("churn", 2).last_updated_timestamp,
        registry.get_registered_model("churn").last_updated_timestamp,
    }
    assert len(times) == 1


def test_archive_existing_versions_only_for_staging_or_production(registry):
    registry.create_model_version("churn", "s3://1")
    with pytest.raises(InvalidParameter):
        registry.transition_model_version_stage("churn", 1, "Archived", True)


def test_unknown_stage_is_invalid_parameter(registry):
    registry.create_model_version("churn", "s3://1")
    with pytest.raises(InvalidParameter, match="None, Staging, Production, Archived"):
        registry.transition_model_version_stage("churn", 1, "Prod")


def test_transition_only_changes_the_stage_line_and_the_times(registry, registry_repo):
    registry.create_model_version("churn", "s3://1", description="d", tags={"a": "b"})
    registry.transition_model_version_stage("churn", 1, "Staging")
    diff = git(registry_repo, "diff", "HEAD~1", "HEAD", "--unified=0").splitlines()
    changed = [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    # Besides the stage, the version's and the model's last-updated times (#25).
    stamp = registry.get_model_version("churn", 1).last_updated_timestamp
    when = f"'{format_timestamp(stamp)}'"
    assert sorted(changed) == sorted(
        [
            f"+updated_at: {when}",
            "-    stage: None",
            "+    stage: Staging",
            f"+    updated_at: {when}",
        ]
    )


def test_aliases(registry):
    registry.create_model_version("churn", "s3://1")
    registry.create_model_version("churn", "s3://2")
    registry.set_registered_model_alias("churn", "champion", 1)
    assert registry.get_model_version_by_alias("churn", "champion").version == 1
    assert registry.get_model_version("churn", 1).aliases == ("champion",)
    registry.set_registered_model_alias("churn", "champion", "2")
    assert registry.get_model_version_by_alias("churn", "champion").version == 2
    assert registry.get_model_version("churn", 1).aliases == ()
    registry.delete_registered_model_alias("churn", "champion")
    with pytest.raises(AliasNotFound) as err:
        registry.get_model_version_by_alias("churn", "champion")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"  # as MLflow


def test_deleting_a_missing_alias_or_tag_changes_nothing_as_in_mlflow(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    before = snapshot(registry_repo)
    registry.delete_registered_model_alias("churn", "nobody")
    registry.delete_registered_model_tag("churn", "nothing")
    registry.delete_model_version_tag("churn", 1, "nothing")
    assert snapshot(registry_repo) == before


def test_latest_alias_is_the_newest_version_as_in_mlflow(registry):
    registry.create_model_version("churn", "s3://1")
    registry.create_model_version("churn", "s3://2")
    assert registry.get_model_version_by_alias("churn", "latest").version == 2


def test_archiving_applies_when_the_version_is_already_in_the_stage(registry):
    """As MLflow: v1, v2 in Staging; v2 -> Staging with archiving archives v1."""
    for i in (1, 2):
        registry.create_model_version("churn", f"s3://{i}")
        registry.transition_model_version_stage("churn", i, "Staging")
    registry.transition_model_version_stage("churn", 2, "Staging", archive_existing_versions=True)
    assert registry.get_model_version("churn", 1).current_stage == Stage.ARCHIVED
    assert registry.get_model_version("churn", 2).current_stage == Stage.STAGING


def test_create_model_version_without_creating_the_model(registry, registry_repo):
    before = snapshot(registry_repo)
    with pytest.raises(ModelNotFound):
        registry.create_model_version("ghost", "s3://1", create_model=False)
    assert snapshot(registry_repo) == before


@pytest.mark.parametrize(
    "alias", ["latest", "LATEST", "3", "v3", "V12", "1abc", "a b", "a/b", "-x", ""]
)
def test_bad_alias_names_are_refused(registry, registry_repo, alias):
    registry.create_model_version("churn", "s3://1")
    before = snapshot(registry_repo)
    with pytest.raises(InvalidParameter):
        registry.set_registered_model_alias("churn", alias, 1)
    assert snapshot(registry_repo) == before


def test_alias_must_point_at_an_existing_version(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    before = snapshot(registry_repo)
    with pytest.raises(VersionNotFound):
        registry.set_registered_model_alias("churn", "champion", 5)
    assert snapshot(registry_repo) == before


def test_resolve_every_uri_form(registry):
    registry.create_model_version("churn", "s3://1")
    registry.create_model_version("churn", "s3://2")
    registry.create_model_version("churn", "s3://3")
    registry.transition_model_version_stage("churn", 1, "Production")
    registry.transition_model_version_stage("churn", 2, "Staging")
    registry.set_registered_model_alias("churn", "champion", 1)
    assert registry.resolve("models:/churn/2") == "s3://2"
    assert registry.resolve("models:/churn/Production") == "s3://1"
    assert registry.resolve("models:/churn/production") == "s3://1"
    assert registry.resolve("models:/churn/Staging") == "s3://2"
    assert registry.resolve("models:/churn@champion") == "s3://1"
    assert registry.resolve("models:/churn/latest") == "s3://3"
    with pytest.raises(VersionNotFound) as err:
        registry.resolve("models:/churn/Archived")
    assert err.value.message == "Registered model churn has no version in stage Archived"
    registry.create_registered_model("empty")
    with pytest.raises(VersionNotFound) as err:
        registry.resolve("models:/empty/latest")
    assert err.value.message == "Registered model empty has no version"
    with pytest.raises(AliasNotFound):
        registry.resolve("models:/churn@nobody")


def test_download_uri_prefers_storage_location(registry):
    registry.create_model_version("churn", "models:/m-123", storage_location="s3://art/m-123")
    registry.create_model_version("churn", "s3://plain")
    assert registry.get_model_version_download_uri("churn", 1) == "s3://art/m-123"
    assert registry.get_model_version_download_uri("churn", 2) == "s3://plain"


def test_search_registered_models_and_versions(registry):
    registry.create_registered_model("churn-a", tags={"team": "growth"})
    registry.create_registered_model("churn-b", tags={"team": "fraud"})
    registry.create_registered_model("fraud")
    registry.create_model_version("churn-a", "s3://a1", run_id="r1")
    registry.create_model_version("churn-b", "s3://b1", run_id="r2")
    names = [m.name for m in registry.search_registered_models("name LIKE '%churn%'")]
    assert names == ["churn-a", "churn-b"]
    assert [m.name for m in registry.search_registered_models("name = 'fraud'")] == ["fraud"]
    assert [m.name for m in registry.search_registered_models("tags.team = 'fraud'")] == ["churn-b"]
    versions = registry.search_model_versions("run_id = 'r2'")
    assert [(mv.name, mv.version) for mv in versions] == [("churn-b", 1)]
    page = registry.search_registered_models(max_results=2)
    assert len(page) == 2
    assert page.token
    rest = registry.search_registered_models(max_results=2, page_token=page.token)
    assert [m.name for m in [*page, *rest]] == ["churn-a", "churn-b", "fraud"]


def test_malformed_filter_is_invalid_parameter(registry):
    with pytest.raises(InvalidParameter) as err:
        registry.search_registered_models("name = 'x' OR name = 'y'")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_hand_edited_uncommitted_manifest_is_never_overwritten(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    path = registry_repo / "models/churn.yaml"
    edited = path.read_text() + "# a note I have not committed\n"
    path.write_text(edited)
    head_before = git(registry_repo, "rev-parse", "HEAD")
    with pytest.raises(DirtyWorktree, match="uncommitted changes"):
        registry.create_model_version("churn", "s3://2")
    assert path.read_text() == edited
    assert git(registry_repo, "rev-parse", "HEAD") == head_before


def test_staged_but_uncommitted_manifest_is_never_swept_into_a_commit(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    path = registry_repo / "models/churn.yaml"
    path.write_text(path.read_text().replace("s3://1", "s3://tampered"))
    git(registry_repo, "add", "models/churn.yaml")
    git(registry_repo, "checkout", "--", "models/churn.yaml")
    with pytest.raises(DirtyWorktree):
        registry.set_registered_model_tag("churn", "k", "v")
    assert "s3://tampered" not in git(registry_repo, "show", "HEAD:models/churn.yaml")


def test_other_dirty_files_are_left_alone_and_not_committed(registry, registry_repo):
    (registry_repo / "notes.txt").write_text("scratch\n")
    (registry_repo / "README.md").write_text("edited\n")
    registry.create_model_version("churn", "s3://1")
    changed = git(registry_repo, "show", "--name-only", "--format=", "HEAD").split()
    assert changed == ["models/churn.yaml"]
    assert (registry_repo / "notes.txt").read_text() == "scratch\n"
    assert " M README.md" in status(registry_repo)


def test_a_broken_manifest_is_reported_with_file_and_line(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    path = registry_repo / "models/churn.yaml"
    path.write_text("schema_version: 1\nname: churn\nversions: [\n")
    with pytest.raises(InvalidManifest, match=r"models/churn.yaml:\d+: YAML_SYNTAX: YAML syntax"):
        registry.get_registered_model("churn")


def test_a_manifest_breaking_the_schema_names_the_field(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    path = registry_repo / "models/churn.yaml"
    path.write_text(path.read_text().replace("stage: None", "stage: Prod"))
    with pytest.raises(InvalidManifest, match=r"models/churn.yaml:\d+: .*versions.0.stage"):
        registry.get_model_version("churn", 1)


def test_writes_validate_the_result_and_leave_the_repo_unchanged(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    path = registry_repo / "models/churn.yaml"
    broken = path.read_text().replace("next_version: 2", "next_version: 1")
    path.write_text(broken)
    git(registry_repo, "commit", "-qam", "hand edit that breaks next_version")
    before = snapshot(registry_repo)
    with pytest.raises(InvalidManifest, match="next_version"):
        registry.set_registered_model_tag("churn", "k", "v")
    assert snapshot(registry_repo) == before


def test_detached_head_refuses_writes(registry, registry_repo):
    registry.create_registered_model("churn")
    git(registry_repo, "checkout", "-q", "--detach", "HEAD")
    with pytest.raises(DirtyWorktree, match="detached"):
        registry.create_model_version("churn", "s3://1")


def test_reads_at_a_ref_see_history_and_refuse_writes(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    old = git(registry_repo, "rev-parse", "HEAD").strip()
    registry.transition_model_version_stage("churn", 1, "Production")
    past = Registry(registry_repo, at=old)
    assert past.get_model_version("churn", 1).current_stage == Stage.NONE
    assert [m.name for m in past.search_registered_models()] == ["churn"]
    with pytest.raises(InvalidParameter, match="cannot write"):
        past.create_model_version("churn", "s3://2")
    with pytest.raises(GitregError, match="Unknown revision"):
        Registry(registry_repo, at="no-such-branch")
    with pytest.raises(GitregError, match="Invalid revision"):
        Registry(registry_repo, at="--output=/tmp/x")


def test_policy_transitions_and_requirements_are_enforced(registry, registry_repo):
    config = registry_repo / "gitreg.yaml"
    text = config.read_text().replace(
        "  requirements: {}",
        "  requirements:\n    Production:\n      tags: {validation: passed}\n"
        '      metrics: ["f1 >= 0.9"]',
    )
    text = text.replace("None: [Staging, Production, Archived]", "None: [Staging, Archived]")
    config.write_text(text)
    git(registry_repo, "commit", "-qam", "Stricter policy")
    registry.create_model_version("churn", "s3://1", metrics={"f1": 0.85})
    with pytest.raises(TransitionNotAllowed) as err:
        registry.transition_model_version_stage("churn", 1, "Production")
    assert err.value.message == (  # what is wrong, and the two ways out
        "gitreg.yaml does not allow None -> Production; change the policy's transitions "
        "(through a pull request) or pick another stage"
    )
    registry.transition_model_version_stage("churn", 1, "Staging")
    with pytest.raises(TransitionNotAllowed) as err:
        registry.transition_model_version_stage("churn", 1, "Production")
    assert err.value.message == (  # every unmet requirement, not just the first
        "churn version 1 cannot enter Production: tag validation='passed' is required "
        "(it is None); metric f1=0.85 does not meet f1 >= 0.9"
    )
    registry.set_model_version_tag("churn", 1, "validation", "passed")
    registry.create_model_version("churn", "s3://2", metrics={"f1": 0.95})
    registry.transition_model_version_stage("churn", 2, "Staging")
    registry.set_model_version_tag("churn", 2, "validation", "passed")
    assert registry.transition_model_version_stage("churn", 2, "Production").version == 2


def test_rewriting_a_hand_written_manifest_keeps_its_key_order(registry, registry_repo):
    (registry_repo / "models/hand.yaml").write_text(
        "name: hand\n"
        "schema_version: 1\n"
        "versions:\n"
        "- stage: None\n"
        "  source: s3://h/1\n"
        "  version: 1\n"
        "next_version: 2\n"
        "description: written by hand\n"
    )
    git(registry_repo, "add", "models/hand.yaml")
    git(registry_repo, "commit", "-qm", "Hand-written manifest")
    registry.set_registered_model_alias("hand", "champion", 1)
    text = (registry_repo / "models/hand.yaml").read_text()
    keys = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
    # updated_at (#25) goes after its canonical predecessor, next_version, as a new key does.
    assert keys == [
        "name",
        "schema_version",
        "versions",
        "next_version",
        "updated_at",
        "description",
        "aliases",
    ]
    version_keys = [
        line.strip(" -").split(":")[0]
        for line in text.splitlines()
        if line.startswith("  ") and not line.startswith("  champion")
    ]
    assert version_keys == ["stage", "source", "version"]


def test_full_workflow_reads_like_an_audit_trail(registry, registry_repo):
    """The seed workflow of issue #3 end to end through the Python API."""
    registry.create_registered_model(
        "churn-predictor", tags={"team": "growth"}, description="Predicts churn"
    )
    registry.create_model_version("churn-predictor", "runs:/r1/model", run_id="r1")
    registry.create_model_version("churn-predictor", "runs:/r2/model", run_id="r2")
    assert [m.name for m in registry.search_registered_models("name='churn-predictor'")] == [
        "churn-predictor"
    ]
    assert len(registry.search_registered_models("name LIKE 'churn%'")) == 1
    registry.update_model_version("churn-predictor", 2, "Better features")
    registry.transition_model_version_stage("churn-predictor", 1, "Production")
    registry.transition_model_version_stage("churn-predictor", 2, "Staging")
    registry.transition_model_version_stage("churn-predictor", 2, "Production", True)
    registry.set_model_version_tag("churn-predictor", 2, "validation", "passed")
    registry.set_registered_model_alias("churn-predictor", "champion", 2)
    assert registry.resolve("models:/churn-predictor@champion") == "runs:/r2/model"
    registry.delete_model_version("churn-predictor", 1)
    registry.delete_registered_model("churn-predictor")
    assert log_subjects(registry_repo) == [
        "Delete registered model churn-predictor",
        "Delete churn-predictor version 1",
        "Set alias churn-predictor@champion -> version 2",
        "Set tag validation=passed on churn-predictor version 2",
        "Transition churn-predictor version 2: Staging -> Production",
        "Transition churn-predictor version 2: None -> Staging",
        "Transition churn-predictor version 1: None -> Production",
        "Update description of churn-predictor version 2",
        "Register churn-predictor version 2",
        "Register churn-predictor version 1",
        "Create registered model churn-predictor",
        "Initialize gitreg registry",
    ]
    assert status(registry_repo) == ""


def test_a_gitreg_yaml_below_the_top_of_a_repository_is_refused(tmp_path):
    """Paths in git are relative to the top: a nested gitreg.yaml would read the wrong files."""
    git(tmp_path, "init", "-q", "mono")
    (tmp_path / "mono/registry").mkdir()
    (tmp_path / "mono/registry/gitreg.yaml").write_text("schema_version: 1\n")
    with pytest.raises(NotARegistry, match="not at the top of a git repository"):
        Registry(tmp_path / "mono/registry")


@pytest.mark.parametrize("target", ["Production", "Staging"])
def test_archive_existing_versions_archives_exactly_the_others_in_the_target_stage(
    registry, target
):
    """As MLflow: only the other versions in the target stage go to Archived (issue 17)."""
    stages = {1: "Production", 2: "Staging", 3: "Staging", 4: "None", 5: "Archived", 6: "None"}
    for number, stage in stages.items():
        registry.create_model_version("churn", f"s3://{number}")
        if stage != "None":
            registry.transition_model_version_stage("churn", number, stage)
    registry.transition_model_version_stage("churn", 6, target, archive_existing_versions=True)
    after = {
        mv.version: mv.current_stage.value for mv in registry.get_registered_model("churn").versions
    }
    expected = {n: ("Archived" if s == target else s) for n, s in stages.items() if n != 6}
    expected[6] = target
    assert after == expected, (
        "archive_existing_versions must archive exactly the other versions in the target stage"
    )


def test_a_transition_commit_says_what_it_archived_and_why(registry, registry_repo):
    """The audit trail of a transition: the move, every version archived, the reason given."""
    for number in (1, 2, 3):
        registry.create_model_version("churn", f"s3://{number}")
    registry.transition_model_version_stage("churn", 1, "Staging")
    registry.transition_model_version_stage("churn", 2, "Staging")
    assert git(registry_repo, "log", "-1", "--format=%B").strip() == (
        "Transition churn version 2: None -> Staging"
    ), "a transition that archives nothing and gives no reason is its subject line alone"
    registry.transition_model_version_stage(
        "churn", 3, "Staging", archive_existing_versions=True, message="f1 up 4 points"
    )
    assert git(registry_repo, "log", "-1", "--format=%B").strip() == (
        "Transition churn version 3: None -> Staging\n\nArchived version(s) 1, 2\n\nf1 up 4 points"
    ), "the commit must list exactly the versions archived, then the reason"


@pytest.mark.parametrize("value", ["", " ", "0"])
def test_empty_and_falsy_tag_values_are_kept(registry, registry_repo, value):
    """MLflow stores "" as a tag value; so must gitreg, on models and versions (issue 17)."""
    registry.create_model_version("churn", "s3://1", tags={"note": value})
    registry.set_registered_model_tag("churn", "owner", value)
    reread = Registry(registry_repo).get_registered_model("churn")
    assert reread.tags == {"owner": value}, "an empty or falsy model tag value was dropped"
    assert reread.versions[0].tags == {"note": value}, "an empty or falsy version tag was dropped"
