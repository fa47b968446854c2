"""What changed between two states of a registered model, as typed events. No I/O.

``diff(old, new)`` is the one place that knows how to read a change: the history of one
model, the events of a range of commits, notifications and the catalog all use it, so they
always agree. Kinds are named as MLflow's and Databricks' registry webhooks name them;
fields use MLflow's names (``name``, ``version``, ``alias``, ``key``, ``value``,
``source``, ``run_id``). ``RegistryEvent`` places an event in the commit that made it and
gives it a stable id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from gitreg.core import record
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage


class EventKind(str, Enum):
    """The kinds of change (Databricks' registry webhook names; MLflow's map onto them)."""

    REGISTERED_MODEL_CREATED = "REGISTERED_MODEL_CREATED"
    REGISTERED_MODEL_RENAMED = "REGISTERED_MODEL_RENAMED"
    REGISTERED_MODEL_DELETED = "REGISTERED_MODEL_DELETED"
    REGISTERED_MODEL_DESCRIPTION_UPDATED = "REGISTERED_MODEL_DESCRIPTION_UPDATED"
    REGISTERED_MODEL_TAG_SET = "REGISTERED_MODEL_TAG_SET"
    REGISTERED_MODEL_TAG_DELETED = "REGISTERED_MODEL_TAG_DELETED"
    MODEL_VERSION_CREATED = "MODEL_VERSION_CREATED"
    MODEL_VERSION_DELETED = "MODEL_VERSION_DELETED"
    MODEL_VERSION_TRANSITIONED_STAGE = "MODEL_VERSION_TRANSITIONED_STAGE"
    MODEL_VERSION_TRANSITIONED_TO_STAGING = "MODEL_VERSION_TRANSITIONED_TO_STAGING"
    MODEL_VERSION_TRANSITIONED_TO_PRODUCTION = "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION"
    MODEL_VERSION_TRANSITIONED_TO_ARCHIVED = "MODEL_VERSION_TRANSITIONED_TO_ARCHIVED"
    MODEL_VERSION_ALIAS_CREATED = "MODEL_VERSION_ALIAS_CREATED"
    MODEL_VERSION_ALIAS_DELETED = "MODEL_VERSION_ALIAS_DELETED"
    MODEL_VERSION_TAG_SET = "MODEL_VERSION_TAG_SET"
    MODEL_VERSION_TAG_DELETED = "MODEL_VERSION_TAG_DELETED"
    MODEL_VERSION_DESCRIPTION_UPDATED = "MODEL_VERSION_DESCRIPTION_UPDATED"
    TRANSITION_REQUEST_CREATED = "TRANSITION_REQUEST_CREATED"
    POLICY_VIOLATION = "POLICY_VIOLATION"
    # Someone commented on a model version (Databricks' registry webhook name, #29).
    COMMENT_CREATED = "COMMENT_CREATED"
    # A version's artifact no longer has its recorded digest (``gitreg verify --all``, #28).
    ARTIFACT_CHANGED = "ARTIFACT_CHANGED"

    def __str__(self) -> str:
        return self.value


# A stage change is one MODEL_VERSION_TRANSITIONED_STAGE event and, for these stages, a
# second event of the specific kind (as Databricks sends both), so a subscription can ask
# for "anything reaching Production" alone.
TO_STAGE_KINDS: Mapping[Stage, EventKind] = {
    Stage.STAGING: EventKind.MODEL_VERSION_TRANSITIONED_TO_STAGING,
    Stage.PRODUCTION: EventKind.MODEL_VERSION_TRANSITIONED_TO_PRODUCTION,
    Stage.ARCHIVED: EventKind.MODEL_VERSION_TRANSITIONED_TO_ARCHIVED,
}


_TO_KINDS = frozenset(TO_STAGE_KINDS.values())


@record.dataclass(frozen=True, slots=True)
class Event:
    """One change to one model: ``kind``, and the fields that say what changed."""

    kind: EventKind
    name: str
    version: int | None = None
    alias: str | None = None
    key: str | None = None  # a tag key
    value: str | None = None  # the tag's new value (set) or its last value (deleted)
    previous_value: str | None = None  # a tag's value before it was set again
    from_stage: str | None = None
    to_stage: str | None = None
    previous_version: int | None = None  # where an alias pointed before it moved
    old_name: str | None = None  # a rename's former name
    description: str | None = None
    source: str | None = None
    run_id: str | None = None
    comment: str | None = None  # a COMMENT_CREATED's text
    comment_id: str | None = None
    # The version's recorded digest (#28); for ARTIFACT_CHANGED, also the one observed.
    digest: str | None = None
    observed_digest: str | None = None

    def describe(self) -> str:
        """One human-readable line, e.g. ``version 3: Staging -> Production``."""
        where = f"version {self.version}" if self.version is not None else self.name
        kind = self.kind
        if kind == EventKind.MODEL_VERSION_TRANSITIONED_STAGE or kind in _TO_KINDS:
            return f"version {self.version}: {self.from_stage} -> {self.to_stage}"
        if kind in (EventKind.MODEL_VERSION_TAG_SET, EventKind.REGISTERED_MODEL_TAG_SET):
            was = f" (was {self.previous_value})" if self.previous_value is not None else ""
            return f"{where}: tag {self.key}={self.value}{was}"
        if kind == EventKind.TRANSITION_REQUEST_CREATED and self.alias is not None:
            if self.version is None:
                return f"removing @{self.alias} requested (from version {self.previous_version})"
            return f"@{self.alias} -> version {self.version} requested"
        if kind == EventKind.MODEL_VERSION_ALIAS_CREATED:
            was = f" (was {self.previous_version})" if self.previous_version is not None else ""
            return f"@{self.alias} -> version {self.version}{was}"
        if kind == EventKind.ARTIFACT_CHANGED:
            what = f": {self.description}" if self.description else ""
            return f"version {self.version}: artifact changed{what} ({self.source})"
        texts = {
            EventKind.REGISTERED_MODEL_CREATED: f"model {self.name} created",
            EventKind.REGISTERED_MODEL_DELETED: f"model {self.name} deleted",
            EventKind.REGISTERED_MODEL_RENAMED: f"renamed {self.old_name} -> {self.name}",
            EventKind.MODEL_VERSION_CREATED: f"version {self.version} registered ({self.source})"
            + (f" {self.digest[:19]}" if self.digest else ""),
            EventKind.MODEL_VERSION_DELETED: f"version {self.version} deleted",
            EventKind.MODEL_VERSION_ALIAS_DELETED: (
                f"@{self.alias} removed (was version {self.version})"
            ),
            EventKind.REGISTERED_MODEL_TAG_DELETED: f"{where}: tag {self.key} removed",
            EventKind.MODEL_VERSION_TAG_DELETED: f"{where}: tag {self.key} removed",
            EventKind.REGISTERED_MODEL_DESCRIPTION_UPDATED: f"{where}: description edited",
            EventKind.MODEL_VERSION_DESCRIPTION_UPDATED: f"{where}: description edited",
            EventKind.TRANSITION_REQUEST_CREATED: f"{where}: transition to {self.to_stage} "
            "requested",
            EventKind.COMMENT_CREATED: f"{where}: comment {(self.comment or '')[:60]!r}",
        }
        return texts.get(kind, f"{where}: {kind.value}")

    def to_dict(self) -> dict[str, Any]:
        """JSON shape: ``event`` is the kind; fields that do not apply are left out."""
        out: dict[str, Any] = {"event": self.kind.value}
        for name in record.fields(self):
            value = getattr(self, name)
            if name != "kind" and value is not None:
                out[name] = value
        if self.version is not None:
            out["version"] = str(self.version)  # MLflow's REST shape: versions are strings
        if self.previous_version is not None:
            out["previous_version"] = str(self.previous_version)
        return out

    def identity(self) -> str:
        """What makes this event distinct within its commit (for a stable id)."""
        parts: tuple[Any, ...] = (self.kind.value, self.name, self.version, self.alias, self.key)
        if self.comment_id is not None:  # a comment's own id (#29); others keep their ids
            parts += (self.comment_id,)
        if self.kind == EventKind.ARTIFACT_CHANGED:
            parts += (self.observed_digest,)  # one event per version and bytes observed
        return "\0".join(str(part) for part in parts)


@record.dataclass(frozen=True, slots=True)
class RegistryEvent:
    """An event in the commit that made it: who, when, and the request it came through."""

    event: Event
    commit: str
    author: str
    author_email: str
    timestamp: str  # the commit's committer date, ISO-8601
    pull_request: int | None = None
    # The model is an MLflow prompt (tag mlflow.prompt.is_prompt=true): MLflow's webhooks
    # name prompt events apart (prompt.created, ...), so subscriptions can tell them apart.
    is_prompt: bool = False
    # Who approved the pull request the change came through, as the audit recorded it
    # (#24); None when no record is known (left out of the JSON).
    approved_by: tuple[str, ...] | None = None

    @property
    def id(self) -> str:
        """Stable: the same change in the same commit always has the same id.

        ARTIFACT_CHANGED is not made by a commit: its id is the version and the digest
        observed, so a scheduled ``verify --all --notify`` re-announces nothing it already
        announced until the bytes change again (#28).
        """
        where = "" if self.event.kind == EventKind.ARTIFACT_CHANGED else self.commit
        digest = hashlib.sha256(f"{where}\0{self.event.identity()}".encode())
        return f"evt_{digest.hexdigest()[:32]}"

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON: its id, its fields, and where it happened."""
        return {
            "id": self.id,
            **self.event.to_dict(),
            "commit": self.commit,
            "author": self.author,
            "author_email": self.author_email,
            "timestamp": self.timestamp,
            "pull_request": self.pull_request,
        } | ({} if self.approved_by is None else {"approved_by": list(self.approved_by)})


def primary(events: list[Event]) -> list[Event]:
    """``events`` without the stage-specific duplicates (one line per change, for history)."""
    specific = set(TO_STAGE_KINDS.values())
    return [e for e in events if e.kind not in specific]


def diff(old: RegisteredModel | None, new: RegisteredModel | None) -> list[Event]:
    """The events that turn ``old`` into ``new`` (None: the model does not exist)."""
    return diff_versions(
        old, new, old.versions if old is not None else (), new.versions if new is not None else ()
    )


def diff_versions(
    old: RegisteredModel | None,
    new: RegisteredModel | None,
    old_versions: Sequence[ModelVersion],
    new_versions: Sequence[ModelVersion],
) -> list[Event]:
    """``diff`` of two models whose versions are ``old_versions`` and ``new_versions`` (in
    manifest order) plus, possibly, versions both have unchanged, which make no event.

    So a caller that knows which versions a change touched (``core.states``, #23) diffs
    only those; the models' own ``versions`` are not read.
    """
    if new is None:
        return [] if old is None else [Event(EventKind.REGISTERED_MODEL_DELETED, old.name)]
    events: list[Event] = []
    if old is None:
        events.append(
            Event(EventKind.REGISTERED_MODEL_CREATED, new.name, description=new.description)
        )
        # A description given at creation is part of the creation, not an edit.
        old = RegisteredModel(new.name, description=new.description)
        old_versions = ()
    elif old.name != new.name:
        events.append(Event(EventKind.REGISTERED_MODEL_RENAMED, new.name, old_name=old.name))
    events += _model_events(old, new)
    events += _version_events(new.name, old_versions, new_versions)
    return events


def _model_events(old: RegisteredModel, new: RegisteredModel) -> list[Event]:
    events = []
    if (old.description or None) != (new.description or None):
        events.append(
            Event(
                EventKind.REGISTERED_MODEL_DESCRIPTION_UPDATED,
                new.name,
                description=new.description,
            )
        )
    events += _tag_events(new.name, None, old.tags, new.tags)
    for alias, number in new.aliases.items():
        before = old.aliases.get(alias)
        if before != number:
            events.append(
                Event(
                    EventKind.MODEL_VERSION_ALIAS_CREATED,
                    new.name,
                    number,
                    alias=alias,
                    previous_version=before,
                )
            )
    for alias, number in old.aliases.items():
        if alias not in new.aliases:
            events.append(Event(EventKind.MODEL_VERSION_ALIAS_DELETED, new.name, number, alias))
    return events


def _version_events(
    name: str, old_versions: Sequence[ModelVersion], new_versions: Sequence[ModelVersion]
) -> list[Event]:
    before = {mv.version: mv for mv in old_versions}
    events = []
    for mv in new_versions:
        prior = before.pop(mv.version, None)
        if prior is None:
            events.append(
                Event(
                    EventKind.MODEL_VERSION_CREATED,
                    name,
                    mv.version,
                    source=mv.source,
                    run_id=mv.run_id,
                    description=mv.description,
                    digest=mv.digest,
                )
            )
            prior = ModelVersion(name, mv.version, mv.source, description=mv.description)
        events += _changed_version(name, prior, mv)
    events += [Event(EventKind.MODEL_VERSION_DELETED, name, v) for v in sorted(before)]
    return events


def _changed_version(name: str, old: ModelVersion, new: ModelVersion) -> list[Event]:
    events = []
    if old.current_stage != new.current_stage:
        kinds = [EventKind.MODEL_VERSION_TRANSITIONED_STAGE]
        specific = TO_STAGE_KINDS.get(new.current_stage)
        kinds += [specific] if specific is not None else []
        events += [
            Event(
                kind,
                name,
                new.version,
                from_stage=old.current_stage.value,
                to_stage=new.current_stage.value,
            )
            for kind in kinds
        ]
    if (old.description or None) != (new.description or None):
        events.append(
            Event(
                EventKind.MODEL_VERSION_DESCRIPTION_UPDATED,
                name,
                new.version,
                description=new.description,
            )
        )
    events += _tag_events(name, new.version, old.tags, new.tags)
    return events


def _tag_events(
    name: str, version: int | None, old: Mapping[str, str], new: Mapping[str, str]
) -> list[Event]:
    set_kind, deleted_kind = (
        (EventKind.REGISTERED_MODEL_TAG_SET, EventKind.REGISTERED_MODEL_TAG_DELETED)
        if version is None
        else (EventKind.MODEL_VERSION_TAG_SET, EventKind.MODEL_VERSION_TAG_DELETED)
    )
    events = [
        Event(set_kind, name, version, key=key, value=value, previous_value=old.get(key))
        for key, value in new.items()
        if old.get(key) != value
    ]
    events += [
        Event(deleted_kind, name, version, key=key, value=value)
        for key, value in old.items()
        if key not in new
    ]
    return events
