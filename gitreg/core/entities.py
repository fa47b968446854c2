"""Registered models and versions: frozen records with MLflow's field names. No I/O.

A manifest (``models/<name>.yaml``) is the storage shape; ``RegisteredModel.from_manifest``
and ``to_manifest`` convert, and ``to_dict`` gives the JSON shape of MLflow's REST API.
What a field may hold (aliases, tags, versions, text, metrics, timestamps) is ``fields``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from gitreg.core import record
from gitreg.core.errors import InvalidParameter

# mutations imports these from here (its text is pinned by mutation testing; see #10).
from gitreg.core.fields import (
    MAX_NEXT_VERSION,
    MAX_VERSION,
    check_metrics,
    format_timestamp,
    parse_timestamp,
)
from gitreg.core.fields import MAX_TAG_VALUE_LENGTH as MAX_TAG_VALUE_LENGTH
from gitreg.core.fields import check_tag_key as check_tag_key
from gitreg.core.fields import check_tag_value as check_tag_value
from gitreg.core.fields import check_text as check_text
from gitreg.core.fields import parse_version as parse_version

SCHEMA_VERSION = 1


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


def _strict_int(value: object, limit: int = MAX_VERSION) -> int:
    """An integer as the manifest wrote it: ``1.0``, ``true`` and ``"1"`` are not (see #12),
    and one past MLflow's 32-bit version column is out of range (#23)."""
    if type(value) is not int:
        raise TypeError(f"{str(value)[:40]!r} is not an integer")
    if not 1 <= value <= limit:
        raise ValueError(f"{str(value)[:40]} is not between 1 and {limit}")
    return value


def _text(key: object) -> str:
    """A mapping key as the manifest must write it: text, never ``on`` read as true (#23)."""
    if not isinstance(key, str):
        raise TypeError(f"the key {str(key)[:40]!r} is not text")
    return key


def _plain(value: Any) -> Any:
    """A copy made of dicts and lists only (a manifest is dumped from plain data)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _tags_json(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


@record.dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a registered model (``mlflow.entities.model_registry.ModelVersion``)."""

    name: str
    version: int
    source: str
    run_id: str | None = None
    current_stage: Stage = Stage.NONE
    description: str | None = None
    tags: Mapping[str, str] = record.field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    metrics: Mapping[str, float] = record.field(default_factory=dict)
    creation_timestamp: int = 0
    last_updated_timestamp: int = 0
    user_id: str | None = None
    run_link: str | None = None
    storage_location: str | None = None
    status: str = "READY"
    # What the artifact is (#28): its digest, and an MLflow model's signature and whether it
    # saved an input example, read from the same bytes (gitreg's own; MLflow has no field).
    digest: str | None = None
    signature: Mapping[str, Any] | None = None
    has_input_example: bool | None = None

    @classmethod
    def from_manifest(
        cls, name: str, data: Mapping[str, Any], aliases: Iterable[str] = ()
    ) -> ModelVersion:
        """Build from one entry of a manifest's ``versions`` list."""
        created = parse_timestamp(data.get("created_at"))
        updated = parse_timestamp(data.get("updated_at"))
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
            last_updated_timestamp=max(created, updated),
            user_id=data.get("created_by"),
            run_link=data.get("run_link"),
            storage_location=data.get("storage_location"),
            digest=data.get("digest"),
            signature=data.get("signature"),
            has_input_example=data.get("has_input_example"),
        )

    def to_manifest(self) -> dict[str, Any]:
        """The manifest entry, in the canonical key order; empty fields are left out."""
        out: dict[str, Any] = {"version": self.version, "source": self.source}
        for key, value in (
            ("run_id", self.run_id),
            ("run_link", self.run_link),
            ("storage_location", self.storage_location),
            ("digest", self.digest),
        ):
            if value:
                out[key] = value
        out["stage"] = self.current_stage.value
        if self.description is not None:  # "" is kept: MLflow tells "" from no description
            out["description"] = self.description
        if self.tags:
            out["tags"] = dict(self.tags)
        if self.metrics:
            out["metrics"] = dict(self.metrics)
        out.update(self._artifact_fields())
        if self.creation_timestamp:
            out["created_at"] = format_timestamp(self.creation_timestamp)
        if self.user_id:
            out["created_by"] = self.user_id
        if self.last_updated_timestamp > self.creation_timestamp:
            out["updated_at"] = format_timestamp(self.last_updated_timestamp)
        return out

    def _artifact_fields(self) -> dict[str, Any]:
        """The MLflow model signature fields, where recorded (#28)."""
        out: dict[str, Any] = {}
        if self.signature:
            out["signature"] = _plain(self.signature)
        if self.has_input_example is not None:
            out["has_input_example"] = self.has_input_example
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
        # gitreg's own fields, where MLflow has none (#28; docs/artifacts.md).
        if self.digest:
            out["digest"] = self.digest
        out.update(self._artifact_fields())
        return out


@record.dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model and all its versions (``mlflow...RegisteredModel`` plus versions)."""

    name: str
    creation_timestamp: int = 0
    last_updated_timestamp: int = 0
    description: str | None = None
    tags: Mapping[str, str] = record.field(default_factory=dict)
    aliases: Mapping[str, int] = record.field(default_factory=dict)
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
        aliases = {_text(k): _strict_int(v) for k, v in (data.get("aliases") or {}).items()}
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
        # The last change the manifest records (updated_at, #25); a manifest written before
        # it, or by hand, still has its newest version's.
        updated = max(
            [created, parse_timestamp(data.get("updated_at"))]
            + [v.last_updated_timestamp for v in versions]
        )
        return cls(
            name=name,
            creation_timestamp=created,
            last_updated_timestamp=updated,
            description=data.get("description"),
            tags=dict(data.get("tags") or {}),
            aliases=aliases,
            versions=versions,
            next_version=_strict_int(data.get("next_version", 1), MAX_NEXT_VERSION),
            user_id=data.get("created_by"),
        )

    def to_manifest(self) -> dict[str, Any]:
        """The manifest, in the canonical key order; empty optional fields are left out."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "name": self.name}
        if self.description is not None:  # "" is kept: MLflow tells "" from no description
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
        if self.last_updated_timestamp > self.creation_timestamp:
            out["updated_at"] = format_timestamp(self.last_updated_timestamp)
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
            fresh.append(mv if same else record.replace(mv, name=self.name, aliases=aliases))
        return record.replace(self, versions=tuple(fresh))
