"""gitreg entities and errors as MLflow's, and MLflow URIs as gitreg paths."""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from collections.abc import Iterator

from mlflow.entities import Metric
from mlflow.entities.model_registry import (
    ModelVersion as MlflowModelVersion,
)
from mlflow.entities.model_registry import (
    ModelVersionTag,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from mlflow.entities.model_registry import (
    RegisteredModel as MlflowRegisteredModel,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE, ErrorCode

from gitreg.core.entities import ModelVersion, RegisteredModel
from gitreg.core.errors import (
    INTERNAL_ERROR as GITREG_INTERNAL_ERROR,
)
from gitreg.core.errors import (
    INVALID_STATE,
    ConcurrentUpdate,
    GitregError,
    PushRejected,
)
from gitreg.mlflow import SCHEMES

MODEL_ID_PREFIX = "models:/m-"


def error_code(name: str) -> int:
    """MLflow's numeric error code for a gitreg ``error_code`` name (INTERNAL_ERROR if unknown)."""
    try:
        return int(ErrorCode.Value(name))
    except ValueError:
        return int(INTERNAL_ERROR)


def mlflow_code(error: GitregError) -> str:
    """The MLflow error code a refusal travels as: always one MLflow's server answers 4xx.

    gitreg's INVALID_STATE (a second Production version, a policy, an uncommitted manifest)
    and INTERNAL_ERROR (git failed) are HTTP 500 behind ``mlflow server``, which MlflowClient
    retries for minutes as if the server were down, then reports without the message. A
    refusal is final, so it travels as RESOURCE_CONFLICT (409), or ABORTED (409) when
    another writer or the remote got in the way (#16).
    """
    if isinstance(error, (ConcurrentUpdate, PushRejected)):
        return "ABORTED"
    if error.error_code == INVALID_STATE:
        return "RESOURCE_CONFLICT"
    if error.error_code == GITREG_INTERNAL_ERROR:
        return "ABORTED"
    return error.error_code


@contextlib.contextmanager
def mlflow_errors() -> Iterator[None]:
    """Re-raise every GitregError as an MlflowException with its message and a 4xx code."""
    try:
        yield
    except GitregError as e:
        raise MlflowException(e.message, error_code=error_code(mlflow_code(e))) from e


def registry_path(store_uri: str | None) -> str | None:
    """The registry directory a ``gitreg:///path`` (or ``gitreg+file:``) URI names.

    ``gitreg:`` alone means $GITREG_REPO, else the current directory's repository.
    """
    if not store_uri:
        return None
    parsed = urllib.parse.urlparse(store_uri)
    if parsed.scheme not in SCHEMES or parsed.netloc not in ("", "localhost"):
        raise MlflowException(
            f"Invalid gitreg registry URI {store_uri!r}: use gitreg:///absolute/path, "
            "gitreg:relative/path or gitreg+file:///absolute/path",
            error_code=INVALID_PARAMETER_VALUE,
        )
    path = urllib.parse.unquote(parsed.path)
    if os.name == "nt" and len(path) > 2 and path[0] == "/" and path[2] == ":":
        path = path[1:]  # gitreg:///C:/registry
    return path or None


def model_id_of(source: str) -> str | None:
    """The logged model id of an MLflow 3 ``models:/m-<id>`` source, else None."""
    if source.startswith(MODEL_ID_PREFIX) and "/" not in source[len("models:/") :]:
        return source[len("models:/") :]
    return None


def to_model_version(mv: ModelVersion, with_aliases: bool = True) -> MlflowModelVersion:
    """MLflow's ModelVersion for a gitreg one (version as an int, as MLflow's SQL store)."""
    metrics = [
        Metric(key, value, mv.creation_timestamp, 0) for key, value in mv.metrics.items()
    ] or None
    return MlflowModelVersion(
        name=mv.name,
        version=mv.version,  # type: ignore[arg-type]  # MLflow's SQL store returns an int too
        creation_timestamp=mv.creation_timestamp,
        last_updated_timestamp=mv.last_updated_timestamp,
        description=mv.description,
        user_id=mv.user_id,
        current_stage=mv.current_stage.value,
        source=mv.source,
        run_id=mv.run_id,
        status=mv.status,
        tags=[ModelVersionTag(k, v) for k, v in mv.tags.items()],  # type: ignore[no-untyped-call]
        run_link=mv.run_link,
        aliases=list(mv.aliases) if with_aliases else [],
        model_id=model_id_of(mv.source),
        metrics=metrics,
    )


def to_registered_model(model: RegisteredModel) -> MlflowRegisteredModel:
    """MLflow's RegisteredModel for a gitreg one, with its latest version in each stage."""
    return MlflowRegisteredModel(
        name=model.name,
        creation_timestamp=model.creation_timestamp,
        last_updated_timestamp=model.last_updated_timestamp,
        description=model.description,
        latest_versions=[to_model_version(mv) for mv in model.latest_versions],
        tags=[RegisteredModelTag(k, v) for k, v in model.tags.items()],  # type: ignore[no-untyped-call]
        aliases=[RegisteredModelAlias(a, v) for a, v in model.aliases.items()],  # type: ignore[no-untyped-call]
    )
