"""An MLflow model's signature, read from its ``MLmodel`` file (#28). No I/O.

MLflow writes a model's signature into ``MLmodel`` as JSON text under ``signature``
(``inputs``, ``outputs`` and ``params``) and records an input example under
``saved_input_example_info``. gitreg keeps the signature in the version entry as a small
table a reviewer can read in a pull request: one row per column, ``name``, ``type``
(``double``, ``string``, ``tensor``, ...), ``dtype`` and ``shape`` for a tensor,
``required: false`` for an optional column, ``details`` (compact JSON) for MLflow's object,
array and map types, and for a parameter its ``default`` as JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gitreg.core import manifest
from gitreg.core.errors import InvalidManifest

MLMODEL = "MLmodel"
# An MLmodel is a few kilobytes; one larger than this is read no further.
MAX_MLMODEL_BYTES = 1024 * 1024
MAX_COLUMNS = 1000
SECTIONS = ("inputs", "outputs", "params")
_MAX_TEXT = 256
_MAX_DETAILS = 2000


class SignatureUnreadable(ValueError):
    """The MLmodel's signature is there but is not one gitreg can record (says why)."""


def read_mlmodel(text: bytes) -> tuple[dict[str, list[dict[str, Any]]] | None, bool]:
    """(the signature as gitreg records it or None, whether an input example was saved).

    Raises:
        SignatureUnreadable: the file is not YAML, or its signature is malformed or too big.
    """
    if len(text) > MAX_MLMODEL_BYTES:
        raise SignatureUnreadable(f"{MLMODEL} is larger than {MAX_MLMODEL_BYTES} bytes")
    try:
        data = manifest.load(text, MLMODEL)
    except InvalidManifest as e:
        raise SignatureUnreadable(f"{MLMODEL} is not YAML: {e.message}") from e
    if not isinstance(data, Mapping):
        raise SignatureUnreadable(f"{MLMODEL} is not a YAML mapping")
    has_example = bool(data.get("saved_input_example_info"))
    raw = data.get("signature")
    if raw is None:
        return None, has_example
    if not isinstance(raw, Mapping):
        raise SignatureUnreadable(f"{MLMODEL}'s signature is not a mapping")
    signature: dict[str, list[dict[str, Any]]] = {}
    for section in SECTIONS:
        specs = _specs(raw.get(section), section)
        if specs is None:
            continue
        convert = _param if section == "params" else _column
        signature[section] = [convert(spec, section) for spec in specs]
    return (signature or None), has_example


def _specs(value: Any, section: str) -> list[Mapping[str, Any]] | None:
    """A section's specs: MLflow writes JSON text; a list already parsed is taken as is."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise SignatureUnreadable(f"signature.{section} is not JSON: {e}") from e
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise SignatureUnreadable(f"signature.{section} is not a list of column specs")
    if len(value) > MAX_COLUMNS:
        raise SignatureUnreadable(f"signature.{section} has more than {MAX_COLUMNS} columns")
    return value


def _text(value: Any, what: str, limit: int = _MAX_TEXT) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise SignatureUnreadable(f"{what} is not text of at most {limit} characters")
    if any(ord(c) < 0x20 for c in value):
        raise SignatureUnreadable(f"{what} holds a control character")
    return value


def _compact(value: Any, what: str) -> str:
    return _text(json.dumps(value, separators=(",", ":"), sort_keys=True), what, _MAX_DETAILS)


def _column(spec: Mapping[str, Any], section: str) -> dict[str, Any]:
    """One input or output column as a row (see module doc)."""
    out: dict[str, Any] = {}
    if spec.get("name") is not None:
        out["name"] = _text(str(spec["name"]), f"a signature.{section} column name")
    kind = spec.get("type")
    if kind == "tensor":
        tensor = spec.get("tensor-spec")
        if not isinstance(tensor, Mapping):
            raise SignatureUnreadable(f"a signature.{section} tensor has no tensor-spec")
        out["type"] = "tensor"
        out["dtype"] = _text(str(tensor.get("dtype")), f"a signature.{section} tensor dtype")
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(type(n) is int for n in shape):
            raise SignatureUnreadable(f"a signature.{section} tensor shape is not integers")
        out["shape"] = list(shape[:32])
    else:
        out["type"] = _text(kind if isinstance(kind, str) else "", f"a signature.{section} type")
        rest = {k: v for k, v in spec.items() if k not in ("name", "type", "required")}
        if rest:
            out["details"] = _compact(rest, f"a signature.{section} column's details")
    if spec.get("required") is False:
        out["required"] = False
    return out


def _param(spec: Mapping[str, Any], section: str) -> dict[str, Any]:
    """One inference parameter: name, type, default (JSON text) and shape if any."""
    out: dict[str, Any] = {
        "name": _text(str(spec.get("name")), f"a signature.{section} name"),
        "type": _text(str(spec.get("type")), f"a signature.{section} type"),
    }
    if "default" in spec:
        out["default"] = _compact(spec["default"], f"signature.{section} {out['name']}'s default")
    shape = spec.get("shape")
    if isinstance(shape, list) and all(type(n) is int for n in shape):
        out["shape"] = list(shape[:32])
    return out
