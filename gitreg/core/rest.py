"""MLflow's REST JSON back into entities, read as hostile input (the static read API, #29).

``gitreg site`` writes ``api/models/<stem>.json``: a RegisteredModel and its ModelVersions in
MLflow's REST shapes. A reader (``RemoteRegistry`` in site mode, ``gitreg resolve --site``)
fetches it from any web host, so every field is checked here as a manifest would be: names,
version numbers, stages, aliases and text, each with its bounds. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import GitregError, InvalidManifest
from gitreg.core.fields import MAX_URI, check_alias, check_text, parse_version
from gitreg.core.names import check_name

MAX_VERSIONS = 200_000


def model_from_document(document: object, name: str, where: str) -> RegisteredModel:
    """The model in an ``api/models/<stem>.json`` document, which must be ``name``'s.

    Raises:
        InvalidManifest: the document is not one gitreg site writes (``where`` names it).
    """
    try:
        return _model(document, name)
    except (GitregError, KeyError, TypeError, ValueError, AttributeError) as e:
        detail = e.message if isinstance(e, GitregError) else f"{type(e).__name__}: {e}"
        raise InvalidManifest(
            f"{where} is not a model document of gitreg site ({str(detail)[:200]}); is the URL "
            "the root of a catalog built by gitreg site?"
        ) from e


def _model(document: object, name: str) -> RegisteredModel:
    if not isinstance(document, Mapping):
        raise TypeError("not a JSON object")
    data = document["registered_model"]
    versions = document["model_versions"]
    if not isinstance(data, Mapping) or not isinstance(versions, list):
        raise TypeError("registered_model or model_versions has the wrong type")
    if data["name"] != name or check_name(data["name"]) != name:
        raise ValueError(f"it describes {str(data['name'])[:80]!r}, not {name!r}")
    if len(versions) > MAX_VERSIONS:
        raise ValueError(f"more than {MAX_VERSIONS} versions")
    aliases = {
        check_alias(a["alias"]): parse_version(a["version"]) for a in _list(data.get("aliases"))
    }
    by_version: dict[int, list[str]] = {}
    for alias, number in aliases.items():
        by_version.setdefault(number, []).append(alias)
    parsed = tuple(
        sorted((_version(v, name, by_version) for v in versions), key=lambda v: v.version)
    )
    numbers = [mv.version for mv in parsed]
    if len(set(numbers)) != len(numbers):
        raise ValueError("a version number appears twice")
    if any(number not in numbers for number in aliases.values()):
        raise ValueError("an alias points at a version the document does not list")
    return RegisteredModel(
        name=name,
        creation_timestamp=_stamp(data.get("creation_timestamp")),
        last_updated_timestamp=_stamp(data.get("last_updated_timestamp")),
        description=_text(data.get("description"), "description"),
        tags=_tags(data.get("tags")),
        aliases=aliases,
        versions=parsed,
        next_version=max(numbers, default=0) + 1,
        user_id=_text(data.get("user_id"), "user_id"),
    )


def _version(data: object, name: str, aliases: Mapping[int, list[str]]) -> ModelVersion:
    if not isinstance(data, Mapping):
        raise TypeError("a model version is not a JSON object")
    if data.get("name") != name:
        raise ValueError("a model version names another model")
    number = parse_version(data["version"])
    return ModelVersion(
        name=name,
        version=number,
        source=check_text(data["source"], "source", MAX_URI),
        run_id=_text(data.get("run_id"), "run_id"),
        current_stage=Stage.parse(str(data.get("current_stage", "None"))),
        description=_text(data.get("description"), "description"),
        tags=_tags(data.get("tags")),
        aliases=tuple(aliases.get(number, ())),
        creation_timestamp=_stamp(data.get("creation_timestamp")),
        last_updated_timestamp=_stamp(data.get("last_updated_timestamp")),
        user_id=_text(data.get("user_id"), "user_id"),
        run_link=_text(data.get("run_link"), "run_link"),
    )


def _list(value: object) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return value


def _tags(value: object) -> dict[str, str]:
    return {str(t["key"]): str(t["value"]) for t in _list(value)}


def _text(value: object, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"{field} is not text")
    return check_text(value, field, 100_000)


def _stamp(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("a timestamp is not a number")
    number = int(value)
    if not 0 <= number < 2**53:
        raise ValueError("a timestamp is out of range")
    return number
