"""Reading a version's artifact to compute its digest, and checking its signature (#28).

``read_artifact(source)`` hashes what a version's ``source`` names, streaming: a local path
or ``file://`` URI (``local``), ``runs:/`` and ``models:/m-...`` through MLflow's artifact
repositories (``mlflow_source``), ``s3://`` through the S3 API (``s3``, the ``s3`` extra).
Any other source cannot be read here: ``ArtifactUnreadable`` says so, and a training job
that knows the digest passes it instead. ``signing`` verifies and makes model-signing
signature bundles.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from gitreg.core.errors import ArtifactUnreadable

if TYPE_CHECKING:
    from gitreg.integrations.artifacts.hashing import Hashed, Progress

SCHEMES = "a local path, file://, runs:/, models:/m-... or s3://"


def read_artifact(
    source: str, progress: Progress | None = None, *, tracking_uri: str | None = None
) -> Hashed:
    """The listing (and MLmodel bytes) of the artifact ``source`` names.

    ``tracking_uri`` is MLflow's, for ``runs:/`` and ``models:/`` sources (default: MLflow's
    own setting, MLFLOW_TRACKING_URI).

    Raises:
        ArtifactUnreadable: it cannot be read; the message says why.
    """
    from gitreg.integrations.artifacts.local import local_path, read_local

    path = local_path(source)
    if path is not None:
        return read_local(path, source, progress)
    scheme = urllib.parse.urlsplit(source).scheme
    if scheme == "s3":
        from gitreg.integrations.artifacts.s3 import read_s3

        return read_s3(source, progress)
    from gitreg.integrations.artifacts.mlflow_source import is_mlflow_source, read_mlflow

    if is_mlflow_source(source):
        return read_mlflow(source, progress, tracking_uri)
    if scheme == "models":
        raise ArtifactUnreadable(
            f"{source} names a registered model version, not an artifact: register the "
            "version's own source (or pass --digest sha256:...)"
        )
    raise ArtifactUnreadable(
        f"gitreg cannot read {scheme}:// sources; it reads {SCHEMES} (pass the digest with "
        "--digest sha256:...)"
    )


def __getattr__(name: str) -> Any:
    """``Hashed`` and ``Progress``, from ``hashing`` when first asked: a source that cannot be
    read (an s3:// one without credentials) never loads the hashing (#26)."""
    if name in ("Hashed", "Progress"):
        from gitreg.integrations.artifacts import hashing

        return getattr(hashing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SCHEMES", "ArtifactUnreadable", "Hashed", "Progress", "read_artifact"]
