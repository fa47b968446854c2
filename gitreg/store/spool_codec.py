"""The JSON a handed-over write travels in (#26): versions, models, identities and errors.

A writer that hands its mutation to the clone's lock holder (``spool``) sends data, never
code: the registry operation's arguments, and back the result or the error it would have
got alone. Everything here round-trips exactly (``decode(encode(x)) == x``), and decoding
is strict: a field of the wrong type is ``SpoolDataError``, never a half-built value.
No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from gitreg.core import errors
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import GitregError
from gitreg.core.identity import Identity


class SpoolDataError(ValueError):
    """A handed-over request or answer is not what gitreg writes (malformed or hostile)."""


_IDENT = re.compile(r"([^<>\n]+) <([^<>\n]*)>")


def identity(text: object) -> Identity:
    """``Name <email>`` as git writes it, back into an ``Identity``."""
    match = _IDENT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise SpoolDataError(f"not an identity (Name <email>): {str(text)[:60]!r}")
    return Identity(match.group(1), match.group(2))


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or check(value)


def _text_map(value: object) -> bool:
    return isinstance(value, dict) and all(_is_text(k) and _is_text(v) for k, v in value.items())


def _number_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        _is_text(k) and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in value.items()
    )


_VERSION_FIELDS: dict[str, Callable[[object], bool]] = {
    "name": _is_text,
    "version": _is_int,
    "source": _is_text,
    "run_id": _optional(_is_text),
    "current_stage": lambda v: v in {s.value for s in Stage},
    "description": _optional(_is_text),
    "tags": _text_map,
    "aliases": lambda v: isinstance(v, list) and all(_is_text(a) for a in v),
    "metrics": _number_map,
    "creation_timestamp": _is_int,
    "last_updated_timestamp": _is_int,
    "user_id": _optional(_is_text),
    "run_link": _optional(_is_text),
    "storage_location": _optional(_is_text),
    "status": _is_text,
    "digest": _optional(_is_text),
    "signature": _optional(lambda v: isinstance(v, dict)),
    "has_input_example": _optional(lambda v: isinstance(v, bool)),
}

_MODEL_FIELDS: dict[str, Callable[[object], bool]] = {
    "name": _is_text,
    "creation_timestamp": _is_int,
    "last_updated_timestamp": _is_int,
    "description": _optional(_is_text),
    "tags": _text_map,
    "aliases": lambda v: (
        isinstance(v, dict) and all(_is_text(k) and _is_int(n) for k, n in v.items())
    ),
    "versions": lambda v: isinstance(v, list),
    "next_version": _is_int,
    "user_id": _optional(_is_text),
}


def _checked(
    data: object, fields: Mapping[str, Callable[[object], bool]], what: str
) -> dict[str, Any]:
    if not isinstance(data, dict) or set(data) != set(fields):
        raise SpoolDataError(f"{what}: not the fields gitreg writes")
    for key, check in fields.items():
        if not check(data[key]):
            raise SpoolDataError(f"{what}: field {key!r} has the wrong type")
    return data


def encode_version(mv: ModelVersion) -> dict[str, Any]:
    """Every field of ``mv`` as JSON data."""
    return {
        "name": mv.name,
        "version": mv.version,
        "source": mv.source,
        "run_id": mv.run_id,
        "current_stage": mv.current_stage.value,
        "description": mv.description,
        "tags": dict(mv.tags),
        "aliases": list(mv.aliases),
        "metrics": dict(mv.metrics),
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
        "user_id": mv.user_id,
        "run_link": mv.run_link,
        "storage_location": mv.storage_location,
        "status": mv.status,
        "digest": mv.digest,
        "signature": dict(mv.signature) if mv.signature is not None else None,
        "has_input_example": mv.has_input_example,
    }


def decode_version(data: object) -> ModelVersion:
    """``encode_version``'s inverse; SpoolDataError when ``data`` is not its shape."""
    fields = _checked(data, _VERSION_FIELDS, "a model version")
    return ModelVersion(
        **{
            **fields,
            "current_stage": Stage.parse(fields["current_stage"]),
            "aliases": tuple(fields["aliases"]),
        }
    )


def encode_model(model: RegisteredModel) -> dict[str, Any]:
    """Every field of ``model`` (its versions included) as JSON data."""
    return {
        "name": model.name,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
        "description": model.description,
        "tags": dict(model.tags),
        "aliases": dict(model.aliases),
        "versions": [encode_version(mv) for mv in model.versions],
        "next_version": model.next_version,
        "user_id": model.user_id,
    }


def decode_model(data: object) -> RegisteredModel:
    """``encode_model``'s inverse; SpoolDataError when ``data`` is not its shape."""
    fields = _checked(data, _MODEL_FIELDS, "a registered model")
    versions = tuple(decode_version(v) for v in fields["versions"])
    return RegisteredModel(**{**fields, "versions": versions})


def encode_result(result: object) -> dict[str, Any]:
    """A write's result (a version, a model or None); SpoolDataError for anything else."""
    if result is None:
        return {"kind": "none"}
    if isinstance(result, ModelVersion):
        return {"kind": "version", "value": encode_version(result)}
    if isinstance(result, RegisteredModel):
        return {"kind": "model", "value": encode_model(result)}
    raise SpoolDataError(f"a result of type {type(result).__name__} cannot be handed back")


def decode_result(data: object) -> Any:
    """``encode_result``'s inverse."""
    if not isinstance(data, dict):
        raise SpoolDataError("a result: not the fields gitreg writes")
    kind = data.get("kind")
    if kind == "none" and len(data) == 1:
        return None
    if kind == "version" and set(data) == {"kind", "value"}:
        return decode_version(data["value"])
    if kind == "model" and set(data) == {"kind", "value"}:
        return decode_model(data["value"])
    raise SpoolDataError(f"a result of kind {str(kind)[:20]!r}")


def encode_error(error: GitregError) -> dict[str, Any] | None:
    """``error`` as data, or None when it carries more than its class, code and message
    (a class with its own constructor or attributes: its caller must raise it itself)."""
    kind = type(error)
    if (
        kind.__module__ != errors.__name__
        or getattr(errors, kind.__name__, None) is not kind
        or kind.__init__ is not GitregError.__init__
        or set(vars(error)) - {"message", "error_code"}
    ):
        return None
    return {"class": kind.__name__, "code": error.error_code, "message": error.message}


def decode_error(data: object) -> GitregError:
    """``encode_error``'s inverse: the same class, error code and message."""
    if not isinstance(data, dict) or set(data) != {"class", "code", "message"}:
        raise SpoolDataError("an error: not the fields gitreg writes")
    kind = getattr(errors, str(data["class"]), None)
    if not (
        isinstance(kind, type)
        and issubclass(kind, GitregError)
        and kind.__init__ is GitregError.__init__
    ):
        raise SpoolDataError(f"an error of unknown class {str(data['class'])[:40]!r}")
    if not (_is_text(data["code"]) and _is_text(data["message"])):
        raise SpoolDataError("an error: field 'code' or 'message' has the wrong type")
    return kind(data["message"], data["code"])
