"""MLflow model registry store plugin: ``mlflow.set_registry_uri("gitreg:///path")``.

Installed with ``pip install gitreg[mlflow]``; MLflow finds ``GitregStore`` through the
``mlflow.model_registry_store`` entry point. Nothing here is imported by ``gitreg`` itself,
so the core and the CLI never pay for importing MLflow.
"""

from __future__ import annotations

SCHEMES = ("gitreg", "gitreg+file")
