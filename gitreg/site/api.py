"""The static read API (#29): JSON files in MLflow's REST shapes, beside the catalog's pages.

``api/models.json`` is a SearchRegisteredModels answer (every model, ``latest_versions`` and
``aliases`` included); ``api/models/<file stem>.json`` is a GetRegisteredModel answer plus
the model's versions (a SearchModelVersions answer's ``model_versions``). The MLflow parts
parse strictly as MLflow's protos (gitreg's own facts, such as a version's storage
location, go under ``gitreg``). Every file says which commit it was built from and the
verified tip of that build, and whether the model changed after that tip.

A model whose manifest is invalid gets an error document instead (MLflow's
``error_code``/``message``, plus its findings): a reader such as ``gitreg resolve --site``
refuses it, as a read of the repository would (#22).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from gitreg.core.entities import ModelVersion, RegisteredModel
from gitreg.site.trust import InvalidEntry

FORMAT = 1


def version_json(mv: ModelVersion) -> dict[str, Any]:
    """A ModelVersion as MLflow's REST API gives it (metrics as ``model_metrics``)."""
    out = mv.to_dict()
    metrics = out.pop("metrics", None) or {}
    out.pop("storage_location", None)
    if metrics:
        out["model_metrics"] = [
            {"key": key, "value": value, "timestamp": mv.creation_timestamp, "step": 0}
            for key, value in metrics.items()
        ]
    return out


def model_json(model: RegisteredModel) -> dict[str, Any]:
    """A RegisteredModel as MLflow's REST API gives it, ``latest_versions`` included."""
    out = model.to_dict()
    out["latest_versions"] = [version_json(mv) for mv in model.latest_versions]
    return out


def build_facts(commit: str, worktree: bool, verified: str | None) -> dict[str, Any]:
    """What every API file says about the build it came from."""
    return {"format": FORMAT, "commit": commit, "worktree": worktree, "verified_tip": verified}


def model_document(
    model: RegisteredModel, facts: Mapping[str, Any], unverified: bool, changed_in: str | None
) -> dict[str, Any]:
    """``api/models/<stem>.json`` of a valid model.

    Its ``commit`` is the last commit that changed the model in the history the build read:
    a rebuild keeps the file while the model is unchanged, so it never names a build's
    commit (``api/models.json`` does).
    """
    locations = {
        str(mv.version): mv.storage_location for mv in model.versions if mv.storage_location
    }
    return {
        "registered_model": model_json(model),
        "model_versions": [version_json(mv) for mv in model.versions],
        "gitreg": {
            **facts,
            "commit": changed_in,
            "unverified": unverified,
            "storage_locations": locations,
        },
    }


def model_texts(document: Mapping[str, Any]) -> tuple[str, str]:
    """``document`` (a ``model_document``) as its file's JSON, and its RegisteredModel's
    JSON, that inner part serialised once for both (#26)."""
    registered = dumps(document["registered_model"])
    rest = {k: v for k, v in document.items() if k != "registered_model"}
    if next(iter(document)) != "registered_model" or not rest:
        return dumps(document), registered
    return '{"registered_model":' + registered + "," + dumps(rest)[1:], registered


def invalid_document(entry: InvalidEntry, facts: Mapping[str, Any]) -> dict[str, Any]:
    """``api/models/<stem>.json`` of a model whose manifest is invalid: an error, never state."""
    first = entry.findings[0] if entry.findings else None
    message = (
        f"{entry.path} is invalid: {first}" if first else f"{entry.path} is invalid"
    ) + "; nothing of this model is served until it is fixed"
    return {
        "error_code": "INVALID_STATE",
        "message": message,
        "gitreg": {
            **facts,
            "invalid": True,
            "path": entry.path,
            "unverified": entry.newer,
            "findings": [f.to_dict() for f in entry.findings],
        },
    }


def index_document(
    models: Sequence[str],
    facts: Mapping[str, Any],
    invalid: Sequence[InvalidEntry],
    unverified: Sequence[str],
) -> str:
    """``api/models.json``: ``models`` are the models' MLflow JSON, already serialised
    (each comes from its own file's build, so a rebuild joins what it kept)."""
    extra = {
        **facts,
        "models": len(models),
        "unverified_models": list(unverified),
        "invalid_models": [
            {"name": e.name, "path": e.path, "findings": [f.to_dict() for f in e.findings]}
            for e in invalid
        ],
    }
    head, tail = '{"registered_models":[', '],"gitreg":' + dumps(extra) + "}\n"
    if not models:
        return head + tail
    # One join, one string of megabytes: each ``+`` of the whole would copy it again (at
    # 2,000 models 4 ms of a rebuild's 190, mostly the new pages' first touch, #26).
    parts = list(models)
    parts[0] = head + parts[0]
    parts[-1] += tail  # the same part when there is one model
    return ",".join(parts)


def dumps(value: Any) -> str:
    """Compact JSON, UTF-8 kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
