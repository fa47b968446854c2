"""Reading a ``runs:/RUN_ID/path`` or ``models:/m-ID`` artifact through MLflow (#28).

MLflow's own artifact repositories find the bytes (its tracking server or store says where
a run's or a logged model's artifacts live: a file store, S3, ``mlflow-artifacts:/``, ...),
so gitreg reads exactly what ``mlflow.artifacts.download_artifacts`` would give. The files
are downloaded to a temporary directory that is removed afterwards, then hashed from there:
memory stays one chunk per file, disk holds one copy while it is hashed.

MLflow writes a ``registered_model_meta`` file into a model it downloads through a
``models:/`` repository; it is not part of the artifact as stored, so it is left out.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from gitreg.core.errors import ArtifactUnreadable
from gitreg.integrations.artifacts.hashing import Hashed, Progress
from gitreg.integrations.artifacts.local import read_local

_META = "registered_model_meta"
_LOGGED_MODEL_PREFIX = "m-"


def is_mlflow_source(source: str) -> bool:
    """Whether ``source`` is a ``runs:/`` URI or a ``models:/`` URI of a logged model."""
    scheme = urllib.parse.urlsplit(source).scheme
    return scheme == "runs" or (scheme == "models" and _logged_model_id(source) is not None)


def _logged_model_id(source: str) -> str | None:
    rest = source.split(":", 1)[1].lstrip("/")
    first = rest.split("/", 1)[0]
    return first if first.startswith(_LOGGED_MODEL_PREFIX) and "/" not in rest else None


def read_mlflow(
    source: str, progress: Progress | None = None, tracking_uri: str | None = None
) -> Hashed:
    """Hash the artifact MLflow resolves ``source`` to.

    Raises:
        ArtifactUnreadable: MLflow is not installed, no tracking server is set, or MLflow
            cannot find or download the artifact (its message says why).
    """
    uri = _check_mlflow(source, tracking_uri)
    with tempfile.TemporaryDirectory(prefix="gitreg-artifact-") as directory:
        local = _download(source, directory, uri)
        return read_local(local, source, progress)


def _check_mlflow(source: str, tracking_uri: str | None) -> str:
    """The tracking URI to resolve ``source`` with; never one MLflow would create a store at.

    Raises:
        ArtifactUnreadable: MLflow is missing, no tracking URI was set (MLflow's default, a
            ``mlflow.db`` in the current directory, is not asked), or its store is not there.
    """
    try:
        from mlflow.tracking._tracking_service import utils
    except ImportError:
        raise ArtifactUnreadable(
            f"{source} is read through MLflow, which is not installed: pip install "
            "'gitreg-ml[mlflow]' (or pass the digest with --digest sha256:...)"
        ) from None
    uri = tracking_uri
    if uri is None and utils.is_tracking_uri_set():  # type: ignore[no-untyped-call]
        uri = utils.get_tracking_uri()
        if uri == utils._get_default_tracking_uri() and not os.environ.get("MLFLOW_TRACKING_URI"):
            uri = None  # only MLflow's default: nobody chose a tracking server
    if uri is None:
        raise ArtifactUnreadable(
            f"{source} is read through MLflow, and no tracking server is set: set "
            "MLFLOW_TRACKING_URI (or pass the digest with --digest sha256:...)"
        )
    store = _local_store(uri)
    if store is not None and not store.exists():
        raise ArtifactUnreadable(
            f"{source}: the MLflow tracking store {uri} does not exist (gitreg does not create "
            "one); check MLFLOW_TRACKING_URI"
        )
    return uri


def _local_store(uri: str) -> Path | None:
    """The file a ``sqlite:///`` store or the directory a local file store is, if it is one."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme == "sqlite":
        path = parsed.path[1:]  # sqlite:///relative.db, sqlite:////absolute.db
        return Path(path) if path and path != ":memory:" else None
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if not parsed.scheme and ("/" in uri or uri.startswith(".")):  # not "databricks"
        return Path(uri)
    return None


def _download(source: str, directory: str, tracking_uri: str) -> Path:
    from mlflow.exceptions import MlflowException

    try:
        if urllib.parse.urlsplit(source).scheme == "models":
            return _download_logged_model(source, directory, tracking_uri)
        return _download_run(source, directory, tracking_uri)
    except MlflowException as e:
        raise ArtifactUnreadable(f"{source}: {_first_line(e.message)}") from None
    except OSError as e:
        raise ArtifactUnreadable(f"{source}: {e.strerror or e}") from None


def _download_logged_model(source: str, directory: str, tracking_uri: str | None) -> Path:
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    repository = ModelsArtifactRepository(source, tracking_uri=tracking_uri)
    # The repository underneath: the model as stored, without the meta file MLflow adds.
    inner: Any = repository.repo
    return Path(inner.download_artifacts("", directory))


def _download_run(source: str, directory: str, tracking_uri: str) -> Path:
    """As ``mlflow.artifacts.download_artifacts``: the run's artifacts under the path (or,
    in MLflow 3, the logged model of that name the run produced)."""
    from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository

    run_id, relative = RunsArtifactRepository.parse_runs_uri(source)  # type: ignore[no-untyped-call]
    repository = RunsArtifactRepository(f"runs:/{run_id}", tracking_uri=tracking_uri)
    path = Path(repository.download_artifacts(relative or "", directory))
    meta = path / _META
    if path.is_dir() and meta.is_file() and not _stored_in_run(repository, relative or ""):
        meta.unlink()
    return path


def _stored_in_run(repository: Any, relative: str) -> bool:
    """Whether the run's own artifacts hold ``registered_model_meta`` (MLflow did not add it)."""
    with contextlib.suppress(Exception):
        listed = repository.repo.list_artifacts(relative)
        return any(os.path.basename(f.path) == _META for f in listed)
    return False


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]
