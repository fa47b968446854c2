"""gitreg: a model registry whose database is a Git repository.

``Registry`` has ``mlflow.MlflowClient``'s model-registry methods; ``register_model`` and
``resolve`` mirror ``mlflow.register_model`` and ``models:/`` URI resolution, using the
registry named by ``$GITREG_REPO``, else the repository of the current directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gitreg.core.errors import (
    AliasNotFound,
    BranchDiverged,
    ConcurrentUpdate,
    DirtyWorktree,
    ForgeError,
    GitregError,
    InvalidManifest,
    InvalidParameter,
    ModelAlreadyExists,
    ModelNotFound,
    NotARegistry,
    PromotionPending,
    PushRejected,
    RemoteUnavailable,
    TransitionNotAllowed,
    VersionNotFound,
)
from gitreg.core.version import __version__ as __version__

if TYPE_CHECKING:
    from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
    from gitreg.registry import Registry

# Imported on first use, so that `import gitreg.core.errors` (and the CLI's --help) stay cheap.
_LAZY = {
    "Registry": "gitreg.registry",
    "ModelVersion": "gitreg.core.entities",
    "RegisteredModel": "gitreg.core.entities",
    "Stage": "gitreg.core.entities",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gitreg' has no attribute {name!r}")


__all__ = [
    "AliasNotFound",
    "BranchDiverged",
    "ConcurrentUpdate",
    "DirtyWorktree",
    "ForgeError",
    "GitregError",
    "InvalidManifest",
    "InvalidParameter",
    "ModelAlreadyExists",
    "ModelNotFound",
    "ModelVersion",
    "NotARegistry",
    "PromotionPending",
    "PushRejected",
    "RegisteredModel",
    "Registry",
    "RemoteUnavailable",
    "Stage",
    "TransitionNotAllowed",
    "VersionNotFound",
    "register_model",
    "resolve",
]


def register_model(
    model_uri: str,
    name: str,
    tags: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    description: str | None = None,
    registry: str | None = None,
) -> ModelVersion:
    """Register ``model_uri`` as a new version of ``name`` (``mlflow.register_model``).

    The run id is taken from a ``runs:/RUN_ID/path`` URI when not given.
    """
    from gitreg.core.uri import run_id_of

    run_id = run_id or run_id_of(model_uri)
    from gitreg.registry import Registry

    return Registry(registry).create_model_version(
        name, model_uri, run_id=run_id, tags=tags, description=description
    )


def resolve(uri: str, registry: str | None = None, at: str | None = None) -> str:
    """The source URI of the version a ``models:/`` URI names."""
    from gitreg.registry import Registry

    return Registry(registry, at=at).resolve(uri)
