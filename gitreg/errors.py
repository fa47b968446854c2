"""The public name of gitreg's errors: ``from gitreg.errors import ModelNotFound``.

The exceptions live in ``gitreg.core.errors``; this module keeps the import path that users
and the README have always had.
"""

from __future__ import annotations

from gitreg.core.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    AliasNotFound,
    BadRef,
    BranchDiverged,
    ConcurrentUpdate,
    DeliveryFailed,
    DirtyWorktree,
    ForgeError,
    GitFailed,
    GitregError,
    InvalidFilter,
    InvalidManifest,
    InvalidParameter,
    InvalidUri,
    ModelAlreadyExists,
    ModelNotFound,
    NotARegistry,
    NotRegularFile,
    PromotionPending,
    PushRejected,
    RemoteUnavailable,
    TransitionNotAllowed,
    VersionNotFound,
    WebhookNotFound,
)

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMETER_VALUE",
    "INVALID_STATE",
    "RESOURCE_ALREADY_EXISTS",
    "RESOURCE_DOES_NOT_EXIST",
    "AliasNotFound",
    "BadRef",
    "BranchDiverged",
    "ConcurrentUpdate",
    "DeliveryFailed",
    "DirtyWorktree",
    "ForgeError",
    "GitFailed",
    "GitregError",
    "InvalidFilter",
    "InvalidManifest",
    "InvalidParameter",
    "InvalidUri",
    "ModelAlreadyExists",
    "ModelNotFound",
    "NotARegistry",
    "NotRegularFile",
    "PromotionPending",
    "PushRejected",
    "RemoteUnavailable",
    "TransitionNotAllowed",
    "VersionNotFound",
    "WebhookNotFound",
]
