"""The MLflow registry store plugin: entry point, URIs, entities, errors, MLflow 3 sources."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitreg import Registry
from gitreg.gate.scaffold import init_registry
from tests._helpers import log_subjects

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, Path]]:
    """MLflow tracking on SQLite with one logged python_function model (adds 1)."""
    import mlflow
    import mlflow.pyfunc

    class AddOne(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return [x + 1 for x in model_input]

    base = tmp_path_factory.mktemp("plugin")
    old = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(f"sqlite:///{base / 'mlflow.db'}")
    mlflow.set_experiment(
        experiment_id=mlflow.create_experiment("t", artifact_location=(base / "art").as_uri())
    )
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=AddOne(), pip_requirements=["mlflow"]
        )
    yield mlflow, info.model_uri, base
    mlflow.set_tracking_uri(old[0])
    mlflow.set_registry_uri(old[1])


@pytest.fixture
def client(tracking: tuple[Any, str, Path], registry_repo: Path) -> Any:
    mlflow = tracking[0]
    mlflow.set_registry_uri(f"gitreg://{registry_repo}")
    return mlflow.MlflowClient()


def test_entry_point_registers_both_schemes() -> None:
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group="mlflow.model_registry_store")}
    assert found["gitreg"] == "gitreg.mlflow.store:GitregStore"
    assert found["gitreg+file"] == found["gitreg"]


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("gitreg:///srv/registry", "/srv/registry"),
        ("gitreg+file:///srv/registry", "/srv/registry"),
        ("gitreg://localhost/srv/my%20registry", "/srv/my registry"),
        ("gitreg:relative/dir", "relative/dir"),
        ("gitreg:", None),
    ],
)
def test_registry_uri_names_a_directory(uri: str, path: str | None) -> None:
    from gitreg.mlflow.convert import registry_path

    assert registry_path(uri) == path


def test_registry_uri_with_a_host_is_refused() -> None:
    from mlflow.exceptions import MlflowException

    from gitreg.mlflow.convert import registry_path

    with pytest.raises(MlflowException, match="gitreg:///absolute/path"):
        registry_path("gitreg://github.com/org/registry")


def test_register_load_by_alias_and_stage(client: Any, tracking: Any, registry_repo: Path) -> None:
    mlflow, model_uri, base = tracking
    mv = mlflow.register_model(model_uri, "adder")
    assert (mv.version, mv.source, mv.status) == (1, model_uri, "READY")
    assert mv.model_id == model_uri.removeprefix("models:/")
    client.set_registered_model_alias("adder", "champion", 1)
    client.transition_model_version_stage("adder", 1, "Production")
    for uri in ("models:/adder@champion", "models:/adder/Production", "models:/adder/1"):
        assert mlflow.pyfunc.load_model(uri).predict([1, 2]) == [2, 3]

    # The manifest keeps the resolved artifact location: no tracking server needed to find it.
    stored = Registry(registry_repo).get_model_version("adder", 1)
    assert stored.storage_location is not None
    assert Path(stored.storage_location.removeprefix("file://")).is_relative_to(base)
    assert client.get_model_version_download_uri("adder", 1) == stored.storage_location
    assert stored.run_id == mlflow.get_logged_model(mv.model_id).source_run_id


def test_every_change_is_one_commit(client: Any, registry_repo: Path) -> None:
    client.create_registered_model("m", tags={"team": "ml"}, description="d")
    client.create_model_version("m", "s3://b/m/1", run_id="r1", await_creation_for=0)
    client.set_model_version_tag("m", "1", "validation", "passed")
    client.delete_registered_model_tag("m", "absent")  # a no-op, as in MLflow: no commit
    client.delete_registered_model_alias("m", "absent")
    assert log_subjects(registry_repo)[:3] == [
        "Set tag validation=passed on m version 1",
        "Register m version 1",
        "Create registered model m",
    ]


def test_errors_are_mlflow_exceptions_with_mlflow_codes(client: Any) -> None:
    from mlflow.exceptions import MlflowException

    cases = [
        (lambda: client.get_registered_model("nope"), "RESOURCE_DOES_NOT_EXIST"),
        (lambda: client.create_model_version("nope", "s3://x"), "RESOURCE_DOES_NOT_EXIST"),
        (lambda: client.get_model_version_by_alias("nope", "a"), "RESOURCE_DOES_NOT_EXIST"),
        (lambda: client.search_registered_models("name ~ 'x'"), "INVALID_PARAMETER_VALUE"),
    ]
    client.create_registered_model("m")
    cases += [
        (lambda: client.create_registered_model("m"), "RESOURCE_ALREADY_EXISTS"),
        (lambda: client.get_model_version_by_alias("m", "missing"), "INVALID_PARAMETER_VALUE"),
        (lambda: client.get_model_version("m", 7), "RESOURCE_DOES_NOT_EXIST"),
        (lambda: client.create_registered_model("has\nnewline"), "INVALID_PARAMETER_VALUE"),
    ]
    for call, code in cases:
        with pytest.raises(MlflowException) as info:
            call()
        assert info.value.error_code == code


def test_second_production_version_is_refused_unless_archiving(client: Any) -> None:
    from mlflow.exceptions import MlflowException

    for source in ("s3://b/1", "s3://b/2"):
        client.create_model_version(
            client.create_registered_model("m").name if source.endswith("1") else "m", source
        )
    client.transition_model_version_stage("m", 1, "Production")
    with pytest.raises(MlflowException, match="already in Production") as info:
        client.transition_model_version_stage("m", 2, "Production")
    # A refusal, answered 409 behind mlflow server rather than a retried 500 (#16).
    assert info.value.error_code == "RESOURCE_CONFLICT"
    assert "--" not in info.value.message  # the API's words: archive_existing_versions=True
    mv = client.transition_model_version_stage("m", 2, "Production", archive_existing_versions=True)
    assert mv.current_stage == "Production"
    assert client.get_model_version("m", 1).current_stage == "Archived"


def test_copy_model_version_resolves_the_source_version(client: Any) -> None:
    client.create_registered_model("src")
    src = client.create_model_version("src", "s3://b/src/1")
    copy = client.copy_model_version(f"models:/src/{src.version}", "dst")
    assert (copy.name, copy.version, copy.source) == ("dst", 1, "models:/src/1")
    assert client.get_model_version_download_uri("dst", 1) == "s3://b/src/1"


def test_search_pages_and_latest_alias(client: Any) -> None:
    for name in ("a", "b", "c"):
        client.create_registered_model(name)
        client.create_model_version(name, f"s3://b/{name}")
        client.create_model_version(name, f"s3://b/{name}/2")
    page = client.search_registered_models(max_results=2)
    assert [m.name for m in page] == ["a", "b"]
    rest = client.search_registered_models(max_results=2, page_token=page.token)
    assert ([m.name for m in rest], rest.token) == (["c"], None)
    versions = client.search_model_versions("name = 'b'", order_by=["version_number ASC"])
    assert [mv.version for mv in versions] == [1, 2]
    assert client.get_model_version_by_alias("c", "latest").version == 2


def test_prompts_are_kept_apart_from_models(client: Any, tracking: Any) -> None:
    mlflow = tracking[0]
    client.create_registered_model("plain")
    mlflow.genai.register_prompt(name="greeting", template="Hello {{name}}!")
    assert [m.name for m in client.search_registered_models()] == ["plain"]
    prompt = mlflow.genai.load_prompt("prompts:/greeting/1")
    assert prompt.format(name="Ada") == "Hello Ada!"


def test_a_long_prompt_template_is_registered(client: Any, tracking: Any) -> None:
    """A 6,000-character template is a version tag; MLflow allows 100,000 characters (#16)."""
    mlflow = tracking[0]
    template = "Summarise {{text}}. " + "Be precise. " * 500
    assert len(template) > 6000
    mlflow.genai.register_prompt(name="long", template=template)
    assert mlflow.genai.load_prompt("prompts:/long/1").template == template


def test_a_version_tag_value_of_none_is_refused_as_mlflows_store_does(client: Any) -> None:
    from mlflow.entities.model_registry import ModelVersionTag
    from mlflow.exceptions import MlflowException

    from gitreg.mlflow.store import GitregStore

    client.create_registered_model("m")
    client.create_model_version("m", "s3://b/1")
    store = client._get_registry_client().store
    assert isinstance(store, GitregStore)
    with pytest.raises(MlflowException, match="Tag value cannot be None") as info:
        store.set_model_version_tag("m", 1, ModelVersionTag("k", None))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_every_refusal_travels_as_a_4xx_code() -> None:
    """Behind mlflow server a 5xx is retried for minutes and loses the message (#16)."""
    from mlflow.exceptions import ERROR_CODE_TO_HTTP_STATUS

    from gitreg.core import errors
    from gitreg.mlflow.convert import mlflow_code

    classes = [c for c in vars(errors).values() if isinstance(c, type)]
    refusals = [c for c in classes if issubclass(c, errors.GitregError)]
    assert len(refusals) > 15
    for cls in refusals:
        if cls is errors.PromotionPending:
            error = cls("pending", branch="gitreg/m/v1-production")
        else:
            error = cls("refused")
        assert 400 <= ERROR_CODE_TO_HTTP_STATUS[mlflow_code(error)] < 500, cls.__name__


def test_cli_help_does_not_import_mlflow() -> None:
    code = (
        "import sys; from gitreg.cli import main; "
        "main(['--help']); assert 'mlflow' not in sys.modules, 'mlflow imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "import-mlflow" in proc.stdout


def test_a_registry_path_that_is_not_a_registry(tmp_path: Path, tracking: Any) -> None:
    from mlflow.exceptions import MlflowException

    from gitreg.mlflow.store import GitregStore

    with pytest.raises(MlflowException) as info:
        GitregStore(f"gitreg://{tmp_path}")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as info:
        GitregStore("gitreg:///nonexistent/reg")
    assert info.value.message == (
        "Registry URI 'gitreg:///nonexistent/reg': /nonexistent/reg is not a gitreg registry "
        "(it does not exist); use gitreg:///absolute/path/to/a/registry, or create one with "
        "gitreg init"
    )
    init_registry(tmp_path / "ok")
    assert GitregStore(f"gitreg://{tmp_path / 'ok'}").search_registered_models() == []
