"""The registry writes another process may apply for their caller, as data (#26).

A writer that finds its clone held hands the holder a ``Recipe``: an operation's name and
its arguments as JSON (``store.spool``). This module makes each recipe on the caller's side
and, on the holder's, turns one back into the very mutation the caller would have run: the
arguments checked again as a hostile request's must be (a bad one fails its caller alone),
and the mutation guarded exactly as ``Registry`` guards a write to a registry with a remote
(a protected change is refused to the holder, so its caller opens the pull request itself).

Only pure operations are here: registering a version whose artifact gave no file listing,
transitions, aliases and tags. Anything that needs the caller's files (an artifact to
digest, a card) keeps the caller's own path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gitreg.core.entities import ModelVersion, Stage, check_tag_key
from gitreg.core.errors import InvalidParameter
from gitreg.core.fields import check_alias, parse_version
from gitreg.core.mutations import clean_tags
from gitreg.core.names import check_name
from gitreg.services import operations as ops
from gitreg.store import spool
from gitreg.store.spool import Recipe
from gitreg.store.transaction import Transaction

Mutation = Callable[[Transaction], Any]

_TEXT = "text"


def _get(
    args: Mapping[str, Any], key: str, kind: type | tuple[type, ...], optional: bool = False
) -> Any:
    """``args[key]``, of ``kind`` (None too when ``optional``); InvalidParameter otherwise."""
    if key not in args:
        raise InvalidParameter(f"a handed-over write lacks its argument {key!r}")
    value = args[key]
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise InvalidParameter(f"a handed-over write's argument {key!r} has the wrong type")
    return value


def _exactly(args: Mapping[str, Any], keys: set[str]) -> None:
    if set(args) != keys:
        raise InvalidParameter(
            f"a handed-over write has the arguments {sorted(args)[:12]}, not {sorted(keys)}"
        )


def _guarded(mutation: Mutation) -> Mutation:
    from gitreg.services import promotion

    return promotion.guarded(mutation)


# ------------------------------------------------------------------------- registering

_REGISTER = {
    "name", "source", "run_id", "tags", "run_link", "description", "metrics",
    "storage_location", "digest", "created", "signature", "has_input_example", "create_model",
}  # fmt: skip


def register(new: ModelVersion, create_model: bool) -> Recipe:
    """``ops.register_version(new.name, new, create_model=...)`` without a file listing."""
    return Recipe(
        "register",
        {
            "name": new.name,
            "source": new.source,
            "run_id": new.run_id,
            "tags": dict(new.tags),
            "run_link": new.run_link,
            "description": new.description,
            "metrics": dict(new.metrics),
            "storage_location": new.storage_location,
            "digest": new.digest,
            "created": new.creation_timestamp,
            "signature": dict(new.signature) if new.signature is not None else None,
            "has_input_example": new.has_input_example,
            "create_model": create_model,
        },
    )


def _register(args: Mapping[str, Any]) -> Mutation:
    import dataclasses

    _exactly(args, _REGISTER)
    name = check_name(_get(args, "name", str))
    new = ops.new_version(
        name,
        _get(args, "source", str),
        run_id=_get(args, "run_id", str, True),
        tags=_get(args, "tags", dict),
        run_link=_get(args, "run_link", str, True),
        description=_get(args, "description", str, True),
        metrics=_get(args, "metrics", dict),
        storage_location=_get(args, "storage_location", str, True),
        digest=_get(args, "digest", str, True),
        created=_get(args, "created", int),
    )
    new = dataclasses.replace(
        new,
        signature=_get(args, "signature", dict, True),
        has_input_example=_get(args, "has_input_example", bool, True),
    )
    create = _get(args, "create_model", bool)
    return _guarded(ops.register_version(name, new, create_model=create))


# ----------------------------------------------------------------- stages, aliases, tags


def transition(name: str, number: int, target: Stage, archive: bool, note: str | None) -> Recipe:
    """``ops.transition(...)``."""
    return Recipe(
        "transition",
        {"name": name, "version": number, "stage": target.value, "archive": archive, "note": note},
    )


def _transition(args: Mapping[str, Any]) -> Mutation:
    _exactly(args, {"name", "version", "stage", "archive", "note"})
    return _guarded(
        ops.transition(
            check_name(_get(args, "name", str)),
            parse_version(_get(args, "version", int)),
            Stage.parse(_get(args, "stage", str)),
            _get(args, "archive", bool),
            _get(args, "note", str, True),
        )
    )


def set_alias(name: str, alias: str, number: int, answer: bool) -> Recipe:
    """``ops.set_alias(...)``."""
    return Recipe("set_alias", {"name": name, "alias": alias, "version": number, "answer": answer})


def _set_alias(args: Mapping[str, Any]) -> Mutation:
    _exactly(args, {"name", "alias", "version", "answer"})
    alias = _get(args, "alias", str)
    check_alias(alias)
    return _guarded(
        ops.set_alias(
            check_name(_get(args, "name", str)),
            alias,
            parse_version(_get(args, "version", int)),
            _get(args, "answer", bool),
        )
    )


def set_tags(name: str, tags: Mapping[str, str], number: int | None) -> Recipe:
    """``ops.set_tags(...)`` (``tags`` already checked by ``clean_tags``)."""
    return Recipe("set_tags", {"name": name, "tags": dict(tags), "version": number})


def _set_tags(args: Mapping[str, Any]) -> Mutation:
    _exactly(args, {"name", "tags", "version"})
    number = _get(args, "version", int, True)
    return _guarded(
        ops.set_tags(
            check_name(_get(args, "name", str)),
            clean_tags(_get(args, "tags", dict)),
            parse_version(number) if number is not None else None,
        )
    )


def delete_tags(name: str, keys: list[str], number: int | None, strict: bool) -> Recipe:
    """``ops.delete_tags(...)`` (``keys`` already checked)."""
    return Recipe(
        "delete_tags", {"name": name, "keys": list(keys), "version": number, "strict": strict}
    )


def _delete_tags(args: Mapping[str, Any]) -> Mutation:
    _exactly(args, {"name", "keys", "version", "strict"})
    keys = _get(args, "keys", list)
    number = _get(args, "version", int, True)
    return _guarded(
        ops.delete_tags(
            check_name(_get(args, "name", str)),
            [check_tag_key(k) for k in keys],
            parse_version(number) if number is not None else None,
            _get(args, "strict", bool),
        )
    )


for _name, _build in (
    ("register", _register),
    ("transition", _transition),
    ("set_alias", _set_alias),
    ("set_tags", _set_tags),
    ("delete_tags", _delete_tags),
):
    spool.operation(_name, _build)
