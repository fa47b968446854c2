"""A manifest as gitreg writes it, recognised without a JSON Schema engine (#26).

A CLI write checks the model's header and the one or two entries it changed
(``validate.check_change``); loading jsonschema-rs for that was a tenth of a cold
``gitreg register``. ``valid`` answers True only for the plain shapes gitreg itself writes,
each field held to rules at least as strict as ``schemas/manifest.schema.json``'s (ASCII
text, the narrow alias and tag keys, no run link or signature); for anything else it
answers False, which means "ask the schema", never "invalid". So it can only skip the
engine where the engine would have said valid: tests/test_schema_engines.py runs it beside
both engines on valid, broken and random documents.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

# Past this many entries the compiled engine is faster than this loop (a whole manifest).
MAX_ENTRIES = 16
_MAX_VERSION = 2**31 - 1
_HEADER = {
    "schema_version",
    "name",
    "description",
    "tags",
    "aliases",
    "next_version",
    "created_at",
    "created_by",
    "updated_at",
    "versions",
}
_ENTRY = {
    "version",
    "source",
    "run_id",
    "storage_location",
    "digest",
    "stage",
    "description",
    "tags",
    "metrics",
    "has_input_example",
    "created_at",
    "created_by",
    "updated_at",
}
_STAGES = ("None", "Staging", "Production", "Archived")
# Narrower than the schema's patterns (ASCII only, fullmatch: the end is the end of text).
_NAME = re.compile(r"[A-Za-z0-9_.\- ]{1,256}")
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_RESERVED_ALIAS = re.compile(r"[Ll][Aa][Tt][Ee][Ss][Tt]|[vV][0-9]+")
_TAG_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*")
_METRIC_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/ ]*")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def valid(data: Any) -> bool:
    """True only if ``data`` is a manifest the schema accepts; False: ask the schema."""
    if type(data) is not dict or not _HEADER.issuperset(data):
        return False
    versions = data.get("versions")
    if type(versions) is not list or len(versions) > MAX_ENTRIES:
        return False
    production = sum(1 for v in versions if type(v) is dict and v.get("stage") == "Production")
    return (
        production <= 1
        and _int(data.get("schema_version"), 1, 1)
        and _text(data.get("name"), 256, _NAME)
        and _int(data.get("next_version"), 1, _MAX_VERSION + 1)
        and _header_rest(data)
        and all(_entry(v) for v in versions)
    )


def _header_rest(data: dict[str, Any]) -> bool:
    return (
        _optional(data, "description", lambda v: _text(v, 5000))
        and _optional(data, "tags", _tags)
        and _optional(data, "aliases", _aliases)
        and _optional(data, "created_at", _timestamp)
        and _optional(data, "created_by", lambda v: _text(v, 256))
        and _optional(data, "updated_at", _timestamp)
    )


def _entry(entry: Any) -> bool:
    if type(entry) is not dict or not _ENTRY.issuperset(entry):
        return False
    return (
        _int(entry.get("version"), 1, _MAX_VERSION)
        and _text(entry.get("source"), 2048)
        and entry.get("source") != ""
        and entry.get("stage") in _STAGES
        and type(entry.get("stage")) is str
        and _optional(entry, "run_id", lambda v: _text(v, 256))
        and _optional(entry, "storage_location", lambda v: _text(v, 2048))
        and _optional(entry, "digest", lambda v: _text(v, 71, _DIGEST))
        and _entry_rest(entry)
    )


def _entry_rest(entry: dict[str, Any]) -> bool:
    return (
        _optional(entry, "description", lambda v: _text(v, 5000))
        and _optional(entry, "tags", _tags)
        and _optional(entry, "metrics", _metrics)
        and _optional(entry, "has_input_example", lambda v: type(v) is bool)
        and _optional(entry, "created_at", _timestamp)
        and _optional(entry, "created_by", lambda v: _text(v, 256))
        and _optional(entry, "updated_at", _timestamp)
    )


def _optional(data: dict[str, Any], key: str, check: Callable[[Any], bool]) -> bool:
    return key not in data or bool(check(data[key]))


def _int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _text(value: Any, limit: int, pattern: re.Pattern[str] | None = None) -> bool:
    if type(value) is not str or len(value) > limit or not value.isascii():
        return False
    return pattern is None or pattern.fullmatch(value) is not None


def _timestamp(value: Any) -> bool:
    return _text(value, 64, _TIMESTAMP)


def _tags(tags: Any) -> bool:
    if type(tags) is not dict:
        return False
    return all(
        type(k) is str and len(k) <= 250 and _TAG_KEY.fullmatch(k) is not None and _text(v, 100_000)
        for k, v in tags.items()
    )


def _aliases(aliases: Any) -> bool:
    if type(aliases) is not dict:
        return False
    return all(
        type(k) is str
        and _ALIAS.fullmatch(k) is not None
        and _RESERVED_ALIAS.fullmatch(k) is None
        and _int(v, 1, _MAX_VERSION)
        for k, v in aliases.items()
    )


def _metrics(metrics: Any) -> bool:
    if type(metrics) is not dict or len(metrics) > 1000:
        return False
    return all(
        type(k) is str
        and k.isascii()
        and _METRIC_KEY.fullmatch(k) is not None
        and (type(v) is int or (type(v) is float and math.isfinite(v)))
        for k, v in metrics.items()
    )
