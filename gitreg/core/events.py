"""What changed between two states of a registered model, as typed events. No I/O.

``diff(old, new)`` is the one place that knows how to read a change: history uses it on
consecutive commits of a manifest, notifications on the two sides of a write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any

from gitreg.core.entities import ModelVersion, RegisteredModel


class EventKind(str, Enum):
    """The kinds of change a manifest can record."""

    MODEL_CREATED = "model_created"
    MODEL_DELETED = "model_deleted"
    MODEL_RENAMED = "model_renamed"
    VERSION_REGISTERED = "version_registered"
    VERSION_DELETED = "version_deleted"
    STAGE_CHANGED = "stage_changed"
    ALIAS_SET = "alias_set"
    ALIAS_DELETED = "alias_deleted"
    TAG_SET = "tag_set"
    TAG_DELETED = "tag_deleted"
    DESCRIPTION_EDITED = "description_edited"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One change: ``kind`` on ``model`` (and ``version``); ``key`` is the alias or tag."""

    kind: EventKind
    model: str
    version: int | None = None
    key: str | None = None
    old: str | None = None
    new: str | None = None

    def describe(self) -> str:
        """One human-readable line, e.g. ``version 3: Staging -> Production``."""
        where = f"version {self.version}" if self.version is not None else self.model
        texts = {
            EventKind.MODEL_CREATED: f"model {self.model} created",
            EventKind.MODEL_DELETED: f"model {self.model} deleted",
            EventKind.MODEL_RENAMED: f"renamed {self.old} -> {self.new}",
            EventKind.VERSION_REGISTERED: f"version {self.version} registered ({self.new})",
            EventKind.VERSION_DELETED: f"version {self.version} deleted",
            EventKind.STAGE_CHANGED: f"version {self.version}: {self.old} -> {self.new}",
            EventKind.ALIAS_SET: f"@{self.key} -> version {self.new}"
            + (f" (was {self.old})" if self.old else ""),
            EventKind.ALIAS_DELETED: f"@{self.key} removed (was version {self.old})",
            EventKind.TAG_SET: f"{where}: tag {self.key}={self.new}"
            + (f" (was {self.old})" if self.old is not None else ""),
            EventKind.TAG_DELETED: f"{where}: tag {self.key} removed",
            EventKind.DESCRIPTION_EDITED: f"{where}: description edited",
        }
        return texts[self.kind]

    def to_dict(self) -> dict[str, Any]:
        """JSON shape: every field, ``kind`` as its string value."""
        out = dataclasses.asdict(self)
        out["kind"] = self.kind.value
        return out


def diff(old: RegisteredModel | None, new: RegisteredModel | None) -> list[Event]:
    """The events that turn ``old`` into ``new`` (None: the model does not exist)."""
    if new is None:
        return [] if old is None else [Event(EventKind.MODEL_DELETED, old.name)]
    events: list[Event] = []
    if old is None:
        events.append(Event(EventKind.MODEL_CREATED, new.name))
        # A description given at creation is part of the creation, not an edit.
        old = RegisteredModel(new.name, description=new.description)
    elif old.name != new.name:
        events.append(Event(EventKind.MODEL_RENAMED, new.name, old=old.name, new=new.name))
    events += _model_events(old, new)
    events += _version_events(old, new)
    return events


def _model_events(old: RegisteredModel, new: RegisteredModel) -> list[Event]:
    events = []
    if (old.description or None) != (new.description or None):
        events.append(Event(EventKind.DESCRIPTION_EDITED, new.name, new=new.description))
    events += _tag_events(new.name, None, old.tags, new.tags)
    for alias, number in new.aliases.items():
        before = old.aliases.get(alias)
        if before != number:
            old_text = None if before is None else str(before)
            events.append(
                Event(EventKind.ALIAS_SET, new.name, number, alias, old_text, str(number))
            )
    for alias, number in old.aliases.items():
        if alias not in new.aliases:
            events.append(Event(EventKind.ALIAS_DELETED, new.name, number, alias, str(number)))
    return events


def _version_events(old: RegisteredModel, new: RegisteredModel) -> list[Event]:
    before = {mv.version: mv for mv in old.versions}
    events = []
    for mv in new.versions:
        prior = before.pop(mv.version, None)
        if prior is None:
            events.append(Event(EventKind.VERSION_REGISTERED, new.name, mv.version, new=mv.source))
            prior = ModelVersion(new.name, mv.version, mv.source, description=mv.description)
        events += _changed_version(new.name, prior, mv)
    events += [Event(EventKind.VERSION_DELETED, new.name, v) for v in sorted(before)]
    return events


def _changed_version(name: str, old: ModelVersion, new: ModelVersion) -> list[Event]:
    events = []
    if old.current_stage != new.current_stage:
        events.append(
            Event(
                EventKind.STAGE_CHANGED,
                name,
                new.version,
                old=old.current_stage.value,
                new=new.current_stage.value,
            )
        )
    if (old.description or None) != (new.description or None):
        events.append(Event(EventKind.DESCRIPTION_EDITED, name, new.version, new=new.description))
    events += _tag_events(name, new.version, old.tags, new.tags)
    return events


def _tag_events(
    name: str, version: int | None, old: Mapping[str, str], new: Mapping[str, str]
) -> list[Event]:
    events = [
        Event(EventKind.TAG_SET, name, version, key, old.get(key), value)
        for key, value in new.items()
        if old.get(key) != value
    ]
    events += [
        Event(EventKind.TAG_DELETED, name, version, key, value)
        for key, value in old.items()
        if key not in new
    ]
    return events
