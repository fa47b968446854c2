"""Digests and model signatures of MLflow models, through a real MLflow store (#28).

A real MLflow tracking store (SQLite, artifacts on the file system) in a temporary
directory holds two logged models: one with a signature and an input example, one with
neither. gitreg reads them through MLflow's artifact repositories (``runs:/`` and
``models:/m-...``) and the registry-store plugin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitreg import Registry
from tests._helpers import Cli, git
from tests._pr import commit, edit
from tests.test_artifacts import model_signing_digest

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A tracking store with a signed-schema model and a bare one (both pyfunc)."""
    import mlflow
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.models import infer_signature

    class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input

    base = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{base / 'mlflow.db'}"
    old = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(
        experiment_id=mlflow.create_experiment("a", artifact_location=(base / "art").as_uri())
    )
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    signature = infer_signature(frame, frame["a"], params={"temperature": 0.5})
    with mlflow.start_run() as run:
        typed = mlflow.pyfunc.log_model(
            name="model",
            python_model=Echo(),
            signature=signature,
            input_example=frame,
            pip_requirements=["mlflow"],
        )
    with mlflow.start_run():
        bare = mlflow.pyfunc.log_model(
            name="bare", python_model=Echo(), pip_requirements=["mlflow"]
        )
    where = Path(mlflow.get_logged_model(typed.model_id).artifact_location.removeprefix("file://"))
    yield {
        "uri": uri,
        "run": run.info.run_id,
        "typed": typed.model_uri,
        "bare": bare.model_uri,
        "typed_dir": where,
        "base": base,
    }
    mlflow.set_tracking_uri(old)


def test_runs_and_logged_model_sources_get_model_signings_digest(
    store: dict[str, Any], cli: Cli, registry_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    root, _ = model_signing_digest(store["typed_dir"])
    cli.ok("register", "churn", f"runs:/{store['run']}/model")
    cli.ok("register", "churn", store["typed"])
    registry = Registry(registry_repo)
    for number in (1, 2):
        mv = registry.get_model_version("churn", number)
        assert mv.digest == f"sha256:{root}"
        assert mv.has_input_example is True
        assert mv.signature == {
            "inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "string"}],
            "outputs": [{"name": "a", "type": "double"}],
            "params": [{"name": "temperature", "type": "double", "default": "0.5"}],
        }
    shown = json.loads(cli.ok("show", "churn", "2", "--json").stdout)["model_version"]
    assert shown["signature"]["inputs"][1] == {"name": "b", "type": "string"}
    assert "verified" in cli.ok("verify", "models:/churn/2").stdout


def test_without_a_tracking_server_the_source_is_not_read(
    store: dict[str, Any], cli: Cli, registry_repo: Path
) -> None:
    import mlflow

    mlflow.set_tracking_uri("")  # what a process that never chose one has
    try:
        result = cli.ok("register", "churn", f"runs:/{store['run']}/model")
    finally:
        mlflow.set_tracking_uri(store["uri"])
    assert "no tracking server is set" in result.stderr
    assert Registry(registry_repo).get_model_version("churn", 1).digest is None
    assert not (registry_repo / "mlflow.db").exists()


def test_a_production_move_without_a_signature_is_refused_where_the_policy_asks(
    store: dict[str, Any], cli: Cli, registry_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    edit(
        registry_repo,
        "gitreg.yaml",
        "  requirements: {}",
        "  requirements:\n    Production: {signature: true}",
    )
    commit(registry_repo, "Require model signatures")
    cli.ok("register", "churn", store["bare"])
    cli.ok("register", "churn", store["typed"])
    assert Registry(registry_repo).get_model_version("churn", 1).signature is None
    refused = cli.fails(1, "transition", "churn", "1", "Production")
    assert "an MLflow model signature is required" in refused.stderr
    cli.ok("transition", "churn", "2", "Production")
    # And the gate: a pull request that moves version 1 in by hand is refused.
    git(registry_repo, "switch", "-q", "-c", "pr")
    text = (registry_repo / "models/churn.yaml").read_text()
    text = text.replace("stage: Production", "stage: Archived").replace(
        "stage: None", "stage: Production", 1
    )
    (registry_repo / "models/churn.yaml").write_text(text)
    gate = cli.fails(1, "validate", "--base", "main")
    assert "REQUIREMENT_UNMET" in gate.stdout
    assert "an MLflow model signature is required" in gate.stdout


def test_the_plugin_records_the_digest_and_checks_a_given_one(
    store: dict[str, Any], registry_repo: Path
) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    old = mlflow.get_registry_uri()
    mlflow.set_registry_uri(f"gitreg://{registry_repo}")
    try:
        client = mlflow.MlflowClient()
        client.create_registered_model("adder")
        root, _ = model_signing_digest(store["typed_dir"])
        client.create_model_version("adder", store["typed"])
        with pytest.raises(MlflowException, match="is not the artifact's"):
            client.create_model_version(
                "adder", store["typed"], tags={"gitreg.digest": "sha256:" + "1" * 64}
            )
        client.create_model_version(
            "adder", store["typed"], tags={"gitreg.digest": f"sha256:{root}"}
        )
    finally:
        mlflow.set_registry_uri(old)
    registry = Registry(registry_repo)
    assert [mv.digest for mv in registry.get_registered_model("adder").versions] == [
        f"sha256:{root}"
    ] * 2
    assert "gitreg.digest" not in registry.get_model_version("adder", 2).tags
