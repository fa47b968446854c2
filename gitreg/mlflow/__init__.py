"""The MLflow wing: a face over ``Registry`` for MLflow's own client, and import/export.

``store``: the model registry store plugin (``mlflow.set_registry_uri("gitreg:///path")``),
installed with ``pip install 'gitreg-ml[mlflow]'`` and found by MLflow through the
``mlflow.model_registry_store`` entry point; ``convert``: entities and errors as MLflow's.
``transfer``: ``gitreg import-mlflow`` / ``export-mlflow``, which talk to any
``MlflowClient`` without importing MLflow. Nothing below this wing imports it, so the core
and the CLI never pay for importing MLflow.
"""

from __future__ import annotations

SCHEMES = ("gitreg", "gitreg+file")
