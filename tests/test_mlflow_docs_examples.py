"""The code of MLflow's Model Registry documentation, unchanged, against a gitreg registry.

Each block below is the documentation's example (names and calls as printed there); only
the setup differs: tracking on a local SQLite store and ``mlflow.set_registry_uri`` naming
a gitreg repository. Every change must show up as a commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitreg.gate.scaffold import init_registry
from tests._helpers import log_subjects

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """Tracking on SQLite, the registry in a gitreg repository, for the whole module."""
    import mlflow

    base = tmp_path_factory.mktemp("docs")
    root = base / "registry"
    init_registry(root)
    old = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(f"sqlite:///{base / 'mlflow.db'}")
    mlflow.set_registry_uri(f"gitreg://{root}")
    mlflow.set_experiment(
        experiment_id=mlflow.create_experiment("docs", artifact_location=(base / "art").as_uri())
    )
    yield root, mlflow
    mlflow.set_tracking_uri(old[0])
    mlflow.set_registry_uri(old[1])


def test_register_during_logging_and_an_existing_run(docs_env: tuple[Path, Any]) -> None:
    root, mlflow = docs_env
    from mlflow.models import infer_signature
    from sklearn.datasets import make_regression
    from sklearn.ensemble import RandomForestRegressor

    # "Adding an MLflow Model to the Model Registry": register during logging.
    with mlflow.start_run() as run:
        X, y = make_regression(n_features=4, n_informative=2, random_state=0, shuffle=False)
        params = {"max_depth": 2, "random_state": 42, "n_estimators": 3}
        model = RandomForestRegressor(**params)
        model.fit(X, y)
        mlflow.log_params(params)
        y_pred = model.predict(X)
        signature = infer_signature(X, y_pred)
        mlflow.sklearn.log_model(
            sk_model=model,
            name="sklearn-model",
            signature=signature,
            registered_model_name="sk-learn-random-forest-reg-model",
            # MLflow >= 3.1x saves sklearn models with skops, which asks for this (not gitreg).
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )

    # Register an existing run's model.
    result = mlflow.register_model(
        f"runs:/{run.info.run_id}/sklearn-model", "sk-learn-random-forest-reg-model"
    )
    assert result.version == 2

    # "Fetch a model from the Model Registry"
    model_name = "sk-learn-random-forest-reg-model"
    model_version = 1
    loaded = mlflow.pyfunc.load_model(model_uri=f"models:/{model_name}/{model_version}")
    assert len(loaded.predict(X[:3])) == 3

    # MLflow 3 sources are logged models; the manifest also keeps where they resolved to.
    text = (root / "models" / f"{model_name}.yaml").read_text()
    assert "source: models:/m-" in text
    assert "storage_location: file://" in text or "storage_location: /" in text
    assert f"Register {model_name} version 2" in log_subjects(root)[0]


def test_client_api_examples(docs_env: tuple[Path, Any]) -> None:
    root, _ = docs_env
    from mlflow import MlflowClient

    client = MlflowClient()
    # create_registered_model with tags and a description, then versions from a source
    client.create_registered_model(
        "churn-model", tags={"team": "growth"}, description="Predicts churn."
    )
    versions = [
        client.create_model_version(name="churn-model", source=f"s3://b/churn/{i}", run_id=None)
        for i in (1, 2, 3)
    ]
    assert [v.version for v in versions] == [1, 2, 3]

    # Search for versions, print them as the docs do (dict(mv) must work).
    for mv in client.search_model_versions("name='churn-model'"):
        assert dict(mv)["name"] == "churn-model"

    # Update, rename back and forth.
    client.update_registered_model(name="churn-model", description="Predicts 30-day churn.")
    client.update_model_version(name="churn-model", version=1, description="First try.")
    assert client.get_model_version("churn-model", 1).description == "First try."
    client.rename_registered_model(name="churn-model", new_name="churn-predictor")
    client.rename_registered_model(name="churn-predictor", new_name="churn-model")

    # Staging -> Production -> Archived, with archive_existing_versions=True.
    client.transition_model_version_stage(name="churn-model", version=1, stage="Staging")
    client.transition_model_version_stage(name="churn-model", version=1, stage="Production")
    client.transition_model_version_stage(
        name="churn-model", version=2, stage="Production", archive_existing_versions=True
    )
    assert client.get_model_version("churn-model", 1).current_stage == "Archived"
    latest = client.get_latest_versions("churn-model", stages=["Production"])
    assert [mv.version for mv in latest] == [2]

    # search_registered_models with a LIKE filter
    found = client.search_registered_models(filter_string="name LIKE '%churn%'")
    assert [m.name for m in found] == ["churn-model"]
    assert found[0].tags == {"team": "growth"}

    # Tags on the model and on a version.
    client.set_registered_model_tag("churn-model", "task", "classification")
    client.set_model_version_tag("churn-model", "2", "validation_status", "approved")
    client.delete_registered_model_tag("churn-model", "task")
    client.delete_model_version_tag("churn-model", "2", "validation_status")

    # Aliases
    client.set_registered_model_alias("churn-model", "champion", 2)
    assert client.get_model_version_by_alias("churn-model", "champion").version == 2
    assert client.get_registered_model("churn-model").aliases == {"champion": 2}
    client.delete_registered_model_alias("churn-model", "champion")

    # Delete a version, then the model.
    client.delete_model_version(name="churn-model", version=3)
    client.delete_registered_model(name="churn-model")
    assert client.search_registered_models(filter_string="name LIKE '%churn%'") == []
    assert log_subjects(root)[0] == "Delete registered model churn-model"


def _add_n_model(n: int) -> Any:
    import mlflow.pyfunc

    class AddNModel(mlflow.pyfunc.PythonModel):
        def __init__(self, n: int) -> None:
            self.n = n

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return [x + self.n for x in model_input]

    return AddNModel(n)


def test_approval_workflow_loads_scores_and_promotes(docs_env: tuple[Path, Any]) -> None:
    """The docs' approval function: load the Staging model, score it, promote or tag."""
    _root, mlflow = docs_env
    from mlflow import MlflowClient

    client = MlflowClient()
    for n in (1, 100):
        with mlflow.start_run():
            mlflow.pyfunc.log_model(
                name="model",
                python_model=_add_n_model(n),
                registered_model_name="adder",
                pip_requirements=["mlflow"],  # skip requirement inference: slow, not ours
            )
    for version in (1, 2):
        client.transition_model_version_stage("adder", version, "Staging")

    def approve(name: str, version: int, threshold: float) -> str:
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        score = sum(model.predict([1, 2, 3])) / 3
        if score <= threshold:
            client.transition_model_version_stage(
                name, version, "Production", archive_existing_versions=True
            )
            return "promoted"
        client.set_model_version_tag(name, str(version), "validation", "failed")
        return "rejected"

    assert approve("adder", 1, threshold=10) == "promoted"
    assert approve("adder", 2, threshold=10) == "rejected"
    assert client.get_model_version("adder", 2).tags == {"validation": "failed"}

    production = mlflow.pyfunc.load_model("models:/adder/Production")
    assert production.predict([1]) == [2]
    client.set_registered_model_alias("adder", "champion", 1)
    assert mlflow.pyfunc.load_model("models:/adder@champion").predict([5]) == [6]
