"""``gitreg import-mlflow`` / ``export-mlflow``: an MLflow SQLite registry in, and back out."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitreg import Registry
from gitreg.gate.scaffold import init_registry
from tests._helpers import Cli, log_subjects, snapshot

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)

MODELS, VERSIONS = 100, 5


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty MLflow database (also the tracking store); copies skip MLflow's migrations."""
    import mlflow

    path = tmp_path_factory.mktemp("empty") / "mlflow.db"
    old = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{path}")
    mlflow.MlflowClient(registry_uri=f"sqlite:///{path}").search_registered_models()
    yield path
    mlflow.set_tracking_uri(old)


@pytest.fixture(scope="module")
def mlflow_client(empty_db: Path) -> Any:
    import mlflow

    return lambda uri: mlflow.MlflowClient(registry_uri=uri)


@pytest.fixture
def new_db(tmp_path: Path, empty_db: Path) -> str:
    target = tmp_path / "mlflow-registry.db"
    shutil.copy(empty_db, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="module")
def big_registry(tmp_path_factory: pytest.TempPathFactory, empty_db: Path) -> str:
    """An MLflow registry of 100 models x 5 versions, with stages, aliases and tags.

    Written as rows of MLflow's own tables in one transaction (the client would take ~700
    round trips); the import reads it back through MlflowClient only.
    """
    from mlflow.store.model_registry.dbmodels import models as db
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    target = tmp_path_factory.mktemp("big") / "registry.db"
    shutil.copy(empty_db, target)
    uri = f"sqlite:///{target}"
    store = SqlAlchemyStore(uri)
    rows: list[Any] = []
    for i in range(MODELS):
        name, at = f"model-{i:03d}", 1_700_000_000_000 + i * 1000
        rows += [
            db.SqlRegisteredModel(
                name=name, creation_time=at, last_updated_time=at, description=f"#{i}"
            ),
            db.SqlRegisteredModelTag(name=name, key="team", value=f"t{i % 7}"),
            db.SqlRegisteredModelAlias(name=name, alias="champion", version=4),
        ]
        for v in range(1, VERSIONS + 1):
            stage = {4: "Production", 5: "Staging"}.get(v, "None")
            rows += [
                db.SqlModelVersion(
                    name=name,
                    version=v,
                    creation_time=at + v,
                    last_updated_time=at + v,
                    source=f"s3://bucket/{name}/{v}",
                    run_id=f"run{i}x{v}",
                    description=f"version {v}",
                    current_stage=stage,
                    status="READY",
                ),
                db.SqlModelVersionTag(name=name, version=v, key="v", value=str(v)),
            ]
    with store.ManagedSessionMaker(read_only=False) as session:
        session.add_all(rows)
    store.engine.dispose()
    return uri


def test_import_100_models_then_again_adds_nothing(
    big_registry: str, mlflow_client: Any, registry_repo: Path, cli: Cli
) -> None:
    result = cli.ok("import-mlflow", "--registry-uri", big_registry, "--json")
    report = json.loads(result.stdout)
    assert (len(report["created"]), report["versions_added"]) == (MODELS, MODELS * VERSIONS)
    assert "100 model(s) created" in result.stderr
    subjects = log_subjects(registry_repo)
    assert len(subjects) == MODELS + 1  # one commit per model, after gitreg init
    assert subjects[0] == "Import model-099 from MLflow"

    registry = Registry(registry_repo)
    source = mlflow_client(big_registry)
    for name in ("model-000", "model-042"):
        mine, theirs = registry.get_registered_model(name), source.get_registered_model(name)
        assert (mine.description, dict(mine.tags)) == (theirs.description, theirs.tags)
        assert mine.creation_timestamp == theirs.creation_timestamp
        assert dict(mine.aliases) == {"champion": 4}
        for mv in mine.versions:
            ref = source.get_model_version(name, mv.version)
            assert (mv.source, mv.run_id, mv.current_stage.value, mv.description) == (
                ref.source,
                ref.run_id,
                ref.current_stage,
                ref.description,
            )
            assert (dict(mv.tags), mv.creation_timestamp) == (ref.tags, ref.creation_timestamp)

    before = snapshot(registry_repo)
    again = cli.ok("import-mlflow", "--registry-uri", big_registry, "--json")
    assert json.loads(again.stdout)["unchanged"] == [f"model-{i:03d}" for i in range(MODELS)]
    assert snapshot(registry_repo) == before


def test_import_is_resumable_and_adds_only_new_versions(
    new_db: str, mlflow_client: Any, registry_repo: Path, cli: Cli
) -> None:
    uri = new_db
    client = mlflow_client(uri)
    client.create_registered_model("churn")
    for v in (1, 2):
        client.create_model_version("churn", f"s3://b/{v}", await_creation_for=0)
    client.delete_model_version("churn", 1)  # MLflow never reuses 1; neither does gitreg
    cli.ok("import-mlflow", "--registry-uri", uri)
    client.create_model_version("churn", "s3://b/3", await_creation_for=0)
    client.create_registered_model("fraud")
    result = cli.ok("import-mlflow", "--registry-uri", uri, "--json")
    report = json.loads(result.stdout)
    assert (report["created"], report["updated"], report["versions_added"]) == (
        ["fraud"],
        ["churn"],
        1,
    )
    model = Registry(registry_repo).get_registered_model("churn")
    assert [mv.version for mv in model.versions] == [2, 3]
    assert model.next_version == 4


def test_refuses_several_production_versions_and_names_the_fix(
    new_db: str, mlflow_client: Any, registry_repo: Path, cli: Cli
) -> None:
    uri = new_db
    client = mlflow_client(uri)
    client.create_registered_model("churn")
    client.create_registered_model("Bad\tName")  # MLflow accepts a tab; gitreg does not
    for v in (1, 2, 3):
        client.create_model_version("churn", f"s3://b/{v}", await_creation_for=0)
        client.transition_model_version_stage("churn", v, "Production")
    before = snapshot(registry_repo)
    result = cli.fails(1, "import-mlflow", "--registry-uri", uri)
    assert "churn: versions 1, 2, 3 are all in Production" in result.stderr
    assert "--archive-extra-production" in result.stderr
    assert "Invalid model name 'Bad\\tName': it contains a control character" in result.stderr
    assert snapshot(registry_repo) == before  # nothing was imported

    client.rename_registered_model("Bad\tName", "Bad Name")  # spaces are fine (#16)
    result = cli.ok("import-mlflow", "--registry-uri", uri, "--archive-extra-production")
    assert "archived extra Production versions: churn v1, churn v2" in result.stderr
    assert Registry(registry_repo).get_registered_model("Bad Name").name == "Bad Name"
    model = Registry(registry_repo).get_registered_model("churn")
    assert [mv.current_stage.value for mv in model.versions] == [
        "Archived",
        "Archived",
        "Production",
    ]


def test_export_round_trip_keeps_numbers_and_stages(
    tmp_path: Path, new_db: str, mlflow_client: Any, cli: Cli, registry_repo: Path
) -> None:
    registry = Registry(registry_repo)
    registry.create_registered_model("churn", tags={"team": "growth"}, description="d")
    for v in (1, 2, 3):
        registry.create_model_version("churn", f"s3://b/{v}", run_id=f"r{v}", tags={"n": str(v)})
    registry.delete_model_version("churn", 2)
    registry.transition_model_version_stage("churn", 3, "Production")
    registry.set_registered_model_alias("churn", "champion", 3)
    uri = new_db

    result = cli.ok("export-mlflow", "--registry-uri", uri, "--json")
    assert json.loads(result.stdout)["created"] == ["churn"]
    client = mlflow_client(uri)
    versions = client.search_model_versions("name = 'churn'", order_by=["version_number ASC"])
    assert [(mv.version, mv.current_stage, mv.run_id) for mv in versions] == [
        (1, "None", "r1"),
        (3, "Production", "r3"),
    ]
    assert client.get_model_version_by_alias("churn", "champion").version == 3
    assert json.loads(cli.ok("export-mlflow", "--registry-uri", uri, "--json").stdout)[
        "unchanged"
    ] == ["churn"]

    # ...and imported into a fresh registry, it is the same registry.
    other = tmp_path / "other"
    init_registry(other)
    Cli(other).ok("import-mlflow", "--registry-uri", uri)
    copy = Registry(other).get_registered_model("churn")
    assert [(mv.version, mv.current_stage, mv.source) for mv in copy.versions] == [
        (mv.version, mv.current_stage, mv.source)
        for mv in registry.get_registered_model("churn").versions
    ]


def test_export_and_import_print_only_gitreg_s_progress_and_report(
    tmp_path: Path, registry_repo: Path
) -> None:
    """No MLflow INFO logs, no FutureWarning about stages (#16): run as a user runs it."""
    import subprocess
    import sys

    registry = Registry(registry_repo)
    registry.create_model_version("churn", "s3://b/1")
    registry.transition_model_version_stage("churn", 1, "Staging")
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"  # a new database: MLflow migrates it
    outputs = []
    for command, repo in (("export-mlflow", registry_repo), ("import-mlflow", tmp_path / "b")):
        if command == "import-mlflow":
            init_registry(repo)
        proc = subprocess.run(
            [sys.executable, "-m", "gitreg", command, "--registry-uri", uri, "--repo", str(repo)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stderr)
    export, imported = outputs
    for stderr in outputs:
        assert "INFO" not in stderr
        assert "Warning" not in stderr
    assert export.splitlines()[-1] == (
        "1 model(s) created, 0 updated, 0 already up to date; 1 version(s) added"
    )
    assert imported.splitlines()[0] == f"Reading {uri} ..."
    assert len(imported.splitlines()) <= 3, imported
