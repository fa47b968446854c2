"""Registered models and versions: frozen records with MLflow's field names. No I/O.

A manifest (``models/<name>.yaml``) is the storage shape; ``RegisteredModel.from_manifest``
and ``to_manifest`` convert, and ``to_dict`` gives the JSON shape of MLflow's REST API.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import posixpath
import re
import time
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from gitreg.core.errors import InvalidParameter

SCHEMA_VERSION = 1
ALIAS_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
_ALIAS_RE = re.compile(ALIAS_PATTERN)
RESERVED_ALIASES = frozenset({"latest"})
_VERSION_LIKE_RE = re.compile(r"^[vV]\d+$")
# Tag keys and values as MLflow 3.17.2 accepts them (mlflow.utils.validation): Unicode word
# characters, '/', '.', '-', ' ' and ':', not resolving to another path; values up to
# MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH. MLflow writes system tags such as mlflow.prompt.text.
TAG_KEY_PATTERN = r"^[/\w.\- :]*$"
_TAG_KEY_RE = re.compile(TAG_KEY_PATTERN)
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
_ECHO = 40  # how much of a refused value an error message repeats


class Stage(str, Enum):
    """MLflow's model version stages; the value is the name MLflow prints."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str | Stage) -> Stage:
        """Return the stage named ``value``, case-insensitively, as MLflow accepts it.

        Raises:
            InvalidParameter: not one of None, Staging, Production, Archived.
        """
        if isinstance(value, Stage):
            return value
        stage = _STAGES_BY_LOWER_NAME.get(str(value).lower())
        if stage is not None:
            return stage
        allowed = ", ".join(s.value for s in cls)
        raise InvalidParameter(f"Invalid Model Version stage: {value!r}; use one of {allowed}")


_STAGES_BY_LOWER_NAME = {stage.value.lower(): stage for stage in Stage}


def check_alias(alias: object) -> str:
    """Return ``alias`` if it is a valid alias name, else raise InvalidParameter."""
    if not isinstance(alias, str) or not _ALIAS_RE.fullmatch(alias) or len(alias) > 255:
        raise InvalidParameter(
            f"Invalid alias {alias!r}: use letters, digits, '_' and '-', "
            "starting with a letter or '_'"
        )
    if _VERSION_LIKE_RE.fullmatch(alias):
        raise InvalidParameter(
            f"Invalid alias {alias!r}: it looks like a version number (as MLflow, gitreg "
            "reserves v<digits>); choose another name"
        )
    if alias.lower() in RESERVED_ALIASES:
        raise InvalidParameter(
            f"Invalid alias {alias!r}: 'latest' is reserved for the newest version"
        )
    return alias


def _quoted(value: str) -> str:
    """A value for an error message: JSON-quoted as MLflow does, cut to a short prefix."""
    if len(value) <= _ECHO:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value[:_ECHO], ensure_ascii=False)[:-1] + f'..." ({len(value)} characters)'


def check_tag_key(key: object) -> str:
    """Return ``key`` if MLflow accepts it as a tag key, else raise InvalidParameter.

    MLflow's rule (``_validate_tag_name``): word characters (Unicode), '/', '.', '-', ' '
    and ':'; no path that normalizes to another one ('a//b', 'a/', '../a', '.', '');
    at most 250 characters.
    """
    if key is None:
        raise InvalidParameter("Missing value for required parameter 'key'.")
    if not isinstance(key, str):
        raise InvalidParameter(f"Invalid tag key {key!r}: it must be a string")
    where = f"Invalid value {_quoted(key)} for parameter 'key' supplied"
    if not _TAG_KEY_RE.fullmatch(key):  # MLflow's "$" also lets one final "\n" through
        raise InvalidParameter(
            f"{where}: Names may only contain alphanumerics, underscores (_), dashes (-), "
            "periods (.), spaces ( ), colon(:) and slashes (/)."
        )
    normal = posixpath.normpath(key)
    if normal != key or normal == "." or normal.startswith(("..", "/")):
        raise InvalidParameter(
            f"{where}: Names may be treated as files in certain cases, and must not resolve "
            f"to other names when treated as such. This name would resolve to {normal!r}"
        )
    if len(key) > MAX_TAG_KEY_LENGTH:
        raise InvalidParameter(
            f"{where}: 'key' exceeds the maximum length of {MAX_TAG_KEY_LENGTH} characters"
        )
    return key


def check_tag_value(key: str, value: object) -> str:
    """``value`` as a tag value (text, as MLflow stores it), at most 100,000 characters.

    The message repeats only a short prefix of a refused value.
    """
    if value is None:
        raise InvalidParameter("Tag value cannot be None")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidParameter(
            f"Invalid value {_quoted(text)} for tag {key!r}: 'value' exceeds the maximum "
            f"length of {MAX_TAG_VALUE_LENGTH} characters"
        )
    return text


_DIGITS = re.compile(r"[0-9]+")
# Field limits (the README's "Limits"): MLflow's column widths where it has them.
MAX_DESCRIPTION = 5000
MAX_URI = 2048  # source, storage_location, run_link
MAX_RUN_ID = 256
MAX_METRICS = 1000
MAX_METRIC_NAME = 250
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def is_version_text(text: str) -> bool:
    """Whether ``text`` is a version number as written: ASCII digits only."""
    return _DIGITS.fullmatch(text) is not None


def parse_version(version: object) -> int:
    """Return ``version`` (an int or a string of ASCII digits) as a positive int.

    Floats, booleans and other digit characters ("²", "٣") are not version numbers.
    """
    if isinstance(version, int) and not isinstance(version, bool):
        number = version
    elif isinstance(version, str) and _DIGITS.fullmatch(version.strip()):
        number = int(version.strip())
    else:
        raise InvalidParameter(  # MLflow's words; a prefix of the input at most
            f"Parameter 'version' must be an integer, got {_shown(version)}; versions are "
            "1, 2, 3, ..."
        )
    if number < 1:
        raise InvalidParameter(
            f"Parameter 'version' must be a positive integer, got {_shown(version)}; versions "
            "are 1, 2, 3, ..."
        )
    return number


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error never echoes a whole value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_text(value: object, field: str, limit: int) -> str:
    """Return ``value`` if it is text gitreg can store, else raise InvalidParameter.

    Text must be a string of at most ``limit`` characters, valid Unicode (no lone
    surrogates, which is what bytes that are not UTF-8 become on a command line) and
    without NUL.
    """
    if not isinstance(value, str):
        raise InvalidParameter(f"Invalid {field}: {_shown(value)}; it must be text")
    bad = _NOT_TEXT.search(value)
    if bad is not None:
        what = "a NUL character" if bad.group() == "\0" else "bytes that are not UTF-8"
        raise InvalidParameter(
            f"Invalid {field}: it contains {what} (at character {bad.start()}); pass UTF-8 text"
        )
    if len(value) > limit:
        raise InvalidParameter(
            f"Invalid {field}: it is {len(value):,} characters long, above the limit of "
            f"{limit:,} (it starts {_shown(value[:40])})"
        )
    return value


def optional_text(value: object, field: str, limit: int) -> str | None:
    """``check_text`` for an optional field: None and "" mean absent."""
    if value is None or value == "":
        return None
    return check_text(value, field, limit)


def check_metrics(metrics: object) -> dict[str, float]:
    """Metric name -> finite number, or InvalidParameter (NaN and infinities are refused)."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise InvalidParameter(
            f"Invalid metrics {_shown(metrics)}: give a mapping of name to number"
        )
    if len(metrics) > MAX_METRICS:
        raise InvalidParameter(f"Invalid metrics: more than {MAX_METRICS} on one version")
    checked = {}
    for name, value in metrics.items():
        key = check_text(name, "metric name", MAX_METRIC_NAME)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameter(f"Invalid metric {key}={_shown(value)}: it must be a number")
        if not math.isfinite(value):
            raise InvalidParameter(
                f"Invalid metric {key}={value}: NaN and infinities cannot be compared or "
                "written as JSON; give a finite number"
            )
        checked[key] = float(value)
    return checked


def _strict_int(value: object) -> int:
    """An integer as the manifest wrote it: ``1.0``, ``true`` and ``"1"`` are not (see #12)."""
    if type(value) is not int:
        raise TypeError(f"{value!r} is not an integer")
    return value


def now_ms() -> int:
    """The current time in milliseconds since the epoch, as MLflow's stores take it."""
    return int(time.time() * 1000)


def format_timestamp(ms: int) -> str:
    """Epoch milliseconds as the manifest's UTC ISO-8601 text, e.g. 2026-11-22T10:04:11Z."""
    moment = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc)
    if ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: object) -> int:
    """The manifest's ISO-8601 text (or a YAML datetime) as epoch milliseconds; 0 if absent."""
    if text is None or text == "":
        return 0
    if isinstance(text, _dt.datetime):
        moment = text if text.tzinfo else text.replace(tzinfo=_dt.timezone.utc)
    else:
        value = str(text).strip().replace("Z", "+00:00")
        moment = _dt.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_dt.timezone.utc)
    return round(moment.timestamp() * 1000)


def _tags_json(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


@dataclasses.dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a registered model (``mlflow.entities.model_registry.ModelVersion``)."""

    name: str
    version: int
    source: str
    run_id: str | None = None
    current_stage: Stage = Stage.NONE
    description: str | None = None
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)
    creation_timestamp: int = 0
    last_updated_timestamp: int = 0
    user_id: str | None = None
    run_link: str | None = None
    storage_location: str | None = None
    status: str = "READY"

    @classmethod
    def from_manifest(
        cls, name: str, data: Mapping[str, Any], aliases: Iterable[str] = ()
    ) -> ModelVersion:
        """Build from one entry of a manifest's ``versions`` list."""
        created = parse_timestamp(data.get("created_at"))
        return cls(
            name=name,
            version=_strict_int(data["version"]),
            source=str(data.get("source", "")),
            run_id=data.get("run_id"),
            current_stage=Stage.parse(data.get("stage", "None")),
            description=data.get("description"),
            tags=dict(data.get("tags") or {}),
            aliases=tuple(aliases),
            metrics=check_metrics(data.get("metrics")),
            creation_timestamp=created,
            last_updated_timestamp=created,
            user_id=data.get("created_by"),
            run_link=data.get("run_link"),
            storage_location=data.get("storage_location"),
        )

    def to_manifest(self) -> dict[str, Any]:
        """The manifest entry, in the canonical key order; empty fields are left out."""
        out: dict[str, Any] = {"version": self.version, "source": self.source}
        if self.run_id:
            out["run_id"] = self.run_id
        if self.run_link:
            out["run_link"] = self.run_link
        if self.storage_location:
            out["storage_location"] = self.storage_location
        out["stage"] = self.current_stage.value
        if self.description:
            out["description"] = self.description
        if self.tags:
            out["tags"] = dict(self.tags)
        if self.metrics:
            out["metrics"] = dict(self.metrics)
        if self.creation_timestamp:
            out["created_at"] = format_timestamp(self.creation_timestamp)
        if self.user_id:
            out["created_by"] = self.user_id
        return out

    def to_dict(self) -> dict[str, Any]:
        """MLflow's REST JSON for a ModelVersion (version as a string, tags as key/value)."""
        out: dict[str, Any] = {
            "name": self.name,
            "version": str(self.version),
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "current_stage": self.current_stage.value,
            "description": self.description or "",
            "source": self.source,
            "run_id": self.run_id or "",
            "status": self.status,
            "tags": _tags_json(self.tags),
            "aliases": list(self.aliases),
        }
        if self.user_id:
            out["user_id"] = self.user_id
        if self.run_link:
            out["run_link"] = self.run_link
        if self.storage_location:
            out["storage_location"] = self.storage_location
        if self.metrics:
            out["metrics"] = dict(self.metrics)
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model and all its versions (``mlflow...RegisteredModel`` plus versions)."""

    name: str
    creation_timestamp: int = 0
    last_updated_timestamp: int = 0
    description: str | None = None
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    aliases: Mapping[str, int] = dataclasses.field(default_factory=dict)
    versions: tuple[ModelVersion, ...] = ()
    next_version: int = 1
    user_id: str | None = None

    @property
    def latest_versions(self) -> list[ModelVersion]:
        """The newest version in each stage, as MLflow's ``latest_versions``.

        In MLflow's order: the stages in the order their oldest version has them.
        """
        newest: dict[Stage, ModelVersion] = {}
        for mv in self.versions:  # ascending: a stage keeps the place it first appears at
            if mv.current_stage not in newest or mv.version > newest[mv.current_stage].version:
                newest[mv.current_stage] = mv
        return list(newest.values())

    def get_version(self, version: int) -> ModelVersion | None:
        """The version numbered ``version``, or None."""
        for mv in self.versions:
            if mv.version == version:
                return mv
        return None

    @classmethod
    def from_manifest(cls, data: Mapping[str, Any]) -> RegisteredModel:
        """Build from a parsed manifest that passed schema validation."""
        name = str(data["name"])
        aliases = {str(k): _strict_int(v) for k, v in (data.get("aliases") or {}).items()}
        by_version: dict[int, list[str]] = {}
        for alias, number in aliases.items():
            by_version.setdefault(number, []).append(alias)
        versions = tuple(
            ModelVersion.from_manifest(name, v, by_version.get(_strict_int(v["version"]), ()))
            for v in data.get("versions") or ()
        )
        created = parse_timestamp(data.get("created_at"))
        if not created and versions:
            created = min(v.creation_timestamp for v in versions)
        updated = max([created, *(v.last_updated_timestamp for v in versions)])
        return cls(
            name=name,
            creation_timestamp=created,
            last_updated_timestamp=updated,
            description=data.get("description"),
            tags=dict(data.get("tags") or {}),
            aliases=aliases,
            versions=versions,
            next_version=_strict_int(data.get("next_version", 1)),
            user_id=data.get("created_by"),
        )

    def to_manifest(self) -> dict[str, Any]:
        """The manifest, in the canonical key order; empty optional fields are left out."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "name": self.name}
        if self.description:
            out["description"] = self.description
        if self.tags:
            out["tags"] = dict(self.tags)
        if self.aliases:
            out["aliases"] = dict(self.aliases)
        out["next_version"] = self.next_version
        if self.creation_timestamp:
            out["created_at"] = format_timestamp(self.creation_timestamp)
        if self.user_id:
            out["created_by"] = self.user_id
        out["versions"] = [mv.to_manifest() for mv in self.versions]
        return out

    def to_dict(self) -> dict[str, Any]:
        """MLflow's REST JSON for a RegisteredModel."""
        out: dict[str, Any] = {
            "name": self.name,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "description": self.description or "",
            "latest_versions": [mv.to_dict() for mv in self.latest_versions],
            "tags": _tags_json(self.tags),
            "aliases": [{"alias": a, "version": str(v)} for a, v in self.aliases.items()],
        }
        if self.user_id:
            out["user_id"] = self.user_id
        return out

    def with_versions(self, versions: Iterable[ModelVersion]) -> RegisteredModel:
        """A copy with ``versions`` (kept ascending) and alias back-references refreshed."""
        by_version: dict[int, list[str]] = {}
        for alias, number in self.aliases.items():
            by_version.setdefault(number, []).append(alias)
        fresh = []
        for mv in sorted(versions, key=lambda mv: mv.version):
            aliases = tuple(by_version.get(mv.version, ()))
            same = mv.name == self.name and mv.aliases == aliases  # replace() is slow (#15)
            fresh.append(mv if same else dataclasses.replace(mv, name=self.name, aliases=aliases))
        return dataclasses.replace(self, versions=tuple(fresh))
