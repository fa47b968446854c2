"""Nothing gitreg or MLflow makes in a registry lands in its next ``git add -A`` (#27).

``import-mlflow`` / ``export-mlflow`` without ``--tracking-uri`` let MLflow create its default
tracking store, ``./mlflow.db``, in the current directory: inside a registry. They now use
``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else the registry URI's own database or
server, and refuse (exit 2, with the fix) when none names one. ``gitreg init`` writes a
``.gitignore`` for what gitreg and MLflow may still create there: the catalog's ``_site/``,
``mlflow.db`` and ``mlruns/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.gate.scaffold import GITIGNORE_LINES, gitignore_text, init_registry
from gitreg.mlflow.transfer import sqlite_file, tracking_uri_for
from tests._helpers import Cli, git, snapshot, status

MLFLOW = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)


def _untracked(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name in ("mlflow.db", "mlruns"))


@pytest.fixture
def no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shell with no MLflow tracking URI (earlier tests may have set one in os.environ)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="module")
def mlflow_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An MLflow registry in SQLite with one model and version, made outside any registry."""
    mlflow = pytest.importorskip("mlflow")
    path = tmp_path_factory.mktemp("mlflow-source") / "source.db"
    uri = f"sqlite:///{path}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("churn", description="from MLflow")
    client.create_model_version("churn", "s3://bucket/churn/1", await_creation_for=0)
    return uri


# --------------------------------------------------------------- choosing the tracking store


def test_the_tracking_store_is_the_flag_then_the_environment_then_the_registry():
    registry = "sqlite:////srv/mlflow/registry.db"
    assert tracking_uri_for(registry, "http://t:5000", {"MLFLOW_TRACKING_URI": "x"}) == (
        "http://t:5000"
    )
    assert tracking_uri_for(registry, None, {"MLFLOW_TRACKING_URI": "http://env"}) == ("http://env")
    assert tracking_uri_for(registry, None, {}) == registry
    assert tracking_uri_for("postgresql+psycopg2://u@db/mlflow", None, {}) == (
        "postgresql+psycopg2://u@db/mlflow"
    )
    assert tracking_uri_for("https://mlflow.example", None, {}) == "https://mlflow.example"
    # Unity Catalog is a registry only: no tracking store to fall back on.
    assert tracking_uri_for("databricks-uc", None, {}) is None
    assert tracking_uri_for("databricks-uc", None, {"MLFLOW_TRACKING_URI": ""}) is None


def test_sqlite_file_names_the_database_file():
    assert sqlite_file("sqlite:///mlflow.db") == Path("mlflow.db")
    assert sqlite_file("sqlite:////abs/path%20x/m.db") == Path("/abs/path x/m.db")
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("http://server:5000") is None


# ------------------------------------------------------------------- import and export


@MLFLOW
def test_import_run_inside_a_registry_creates_no_mlflow_files(
    registry_repo: Path, mlflow_source: str, no_tracking_env: None
):
    """Run as a user runs it: in the registry, no --repo, no --tracking-uri, no env."""
    result = Cli().ok("import-mlflow", "--registry-uri", mlflow_source, cwd=registry_repo)
    assert "1 model(s) created" in result.stderr
    assert Registry(registry_repo).get_registered_model("churn").description == "from MLflow"
    assert _untracked(registry_repo) == []
    assert status(registry_repo) == ""


@MLFLOW
def test_export_run_inside_a_registry_creates_no_mlflow_files(
    registry_repo: Path, tmp_path: Path, no_tracking_env: None
):
    Registry(registry_repo).create_model_version("churn", "s3://bucket/churn/1")
    target = f"sqlite:///{tmp_path / 'exported.db'}"
    result = Cli().ok("export-mlflow", "--registry-uri", target, "--json", cwd=registry_repo)
    assert '"created": [\n    "churn"' in result.stdout
    assert (tmp_path / "exported.db").is_file()
    assert _untracked(registry_repo) == []
    assert status(registry_repo) == ""


@MLFLOW
def test_mlflow_tracking_uri_from_the_environment_is_the_one_used(
    registry_repo: Path, mlflow_source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """$MLFLOW_TRACKING_URI names the tracking store (MLflow makes its tables there), and
    is the same after the command as before it."""
    tracking = tmp_path / "tracking.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tracking}")
    Cli().ok("import-mlflow", "--registry-uri", mlflow_source, cwd=registry_repo)
    assert tracking.is_file(), "the tracking store of the environment was used"
    assert _untracked(registry_repo) == []
    import os

    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{tracking}"


@MLFLOW
def test_a_registry_uri_without_a_tracking_store_is_refused_with_the_fix(
    registry_repo: Path, no_tracking_env: None
):
    before = snapshot(registry_repo)
    result = Cli().fails(2, "export-mlflow", "--registry-uri", "databricks-uc", cwd=registry_repo)
    assert "pass --tracking-uri URI (or set MLFLOW_TRACKING_URI)" in result.stderr
    assert "would create mlflow.db in the current directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(registry_repo) == before
    assert _untracked(registry_repo) == []


@MLFLOW
def test_import_from_a_database_that_is_not_there_creates_none(
    registry_repo: Path, no_tracking_env: None
):
    """A mistyped sqlite path used to become a new, empty MLflow database: a 954 KB stray file
    beside the registry, and an import of nothing."""
    before = snapshot(registry_repo)
    result = Cli().fails(
        2, "import-mlflow", "--registry-uri", "sqlite:///mlfow.db", cwd=registry_repo
    )
    assert "mlfow.db is not an MLflow database (no such file); check the path" in result.stderr
    assert not (registry_repo / "mlfow.db").exists()
    assert snapshot(registry_repo) == before


# ---------------------------------------------------------------------- init's .gitignore


def test_init_writes_a_gitignore_of_what_gitreg_and_mlflow_create(tmp_path: Path):
    root = tmp_path / "registry"
    init_registry(root)
    lines = (root / ".gitignore").read_text().splitlines()
    assert [line for line in lines if not line.startswith("#")] == list(GITIGNORE_LINES)
    assert ".gitignore" in git(root, "ls-files").split()
    # What they make is ignored: the catalog, and MLflow's default stores.
    assert Cli().ok("site", "_site", cwd=root).exit_code == 0
    assert (root / "_site" / "index.html").is_file()
    (root / "mlflow.db").write_bytes(b"SQLite format 3\0")
    (root / "mlruns" / "0").mkdir(parents=True)
    (root / "mlruns" / "0" / "meta.yaml").write_text("name: Default\n")
    assert status(root) == ""
    # ...and a model written next to them is still seen.
    Registry(root).create_registered_model("churn", description="d")
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["models/churn.yaml"]


def test_init_adds_only_the_missing_lines_to_a_repository_s_own_gitignore(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text("node_modules/\nmlruns/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "Our ignores")
    init_registry(repo)
    text = (repo / ".gitignore").read_text()
    assert text.startswith("node_modules/\nmlruns/\n\n# Written by gitreg init")
    assert text.endswith("_site/\nmlflow.db\n")
    assert text.count("mlruns/") == 1
    assert status(repo) == ""
    assert gitignore_text(text) is None, "nothing left to add"


def test_init_leaves_a_gitignore_with_uncommitted_edits_as_it_was(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text("a\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignores")
    (repo / ".gitignore").write_text("a\nb\n")
    before = snapshot(repo)
    result = Cli().fails(1, "init", str(repo))
    assert ".gitignore has uncommitted changes" in result.stderr
    assert snapshot(repo) == before
    assert (repo / ".gitignore").read_text() == "a\nb\n"
    assert not (repo / "gitreg.yaml").exists()


def test_init_refuses_a_gitignore_that_is_a_link(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (tmp_path / "elsewhere").write_text("secret\n")
    (repo / ".gitignore").symlink_to(tmp_path / "elsewhere")
    result = Cli().fails(1, "init", str(repo))
    assert "is not a regular file" in result.stderr
    assert (tmp_path / "elsewhere").read_text() == "secret\n"
    assert not (repo / "gitreg.yaml").exists()
