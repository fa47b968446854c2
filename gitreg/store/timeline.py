"""Who held a stage or an alias, and when: intervals read from a model's events. No I/O.

Pure functions over ``RegistryEvent``s (from ``eventlog.read_events``): ``events_by_model``
groups one read of the whole history by model, following renames; ``stage_intervals`` and
``alias_intervals`` turn one model's events into the spans during which a version held
Production (or any stage) or an alias. The catalog draws them (``gitreg site``, #14) and
``gitreg history --stage/--alias`` lists them (#11), so both read history the same way.

A model is its lineage: a rename carries its history to the new name, and a model deleted
and created again under the same name starts a new history (its version numbers start
again too). A version's interval ends when it leaves the stage (or the alias moves or is
deleted), when the version is deleted, or when the model is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gitreg.core import record
from gitreg.core.entities import Stage
from gitreg.core.events import EventKind, RegistryEvent


@record.dataclass(frozen=True, slots=True)
class Interval:
    """A span during which ``version`` held a stage or an alias."""

    version: int  # the version that held the stage/alias
    start: str  # ISO time of the commit that started the interval
    end: str | None  # ISO time it ended; None while it still holds
    commit: str  # the commit that started it
    author: str
    pull_request: int | None
    ended_by: str | None = None  # commit that ended it
    approved_by: tuple[str, ...] | None = None  # who approved the change that started it (#24)


def events_by_model(events: Iterable[RegistryEvent]) -> dict[str, list[RegistryEvent]]:
    """Each existing model's events (keyed by its name now), oldest first, in one pass.

    ``events`` are a registry's events oldest first. A rename moves the model's history to
    its new name; a creation starts a new history. Deleted models are left out.
    """
    live: dict[str, list[RegistryEvent]] = {}
    for item in events:
        event = item.event
        if event.kind == EventKind.REGISTERED_MODEL_CREATED:
            live[event.name] = [item]
        elif event.kind == EventKind.REGISTERED_MODEL_RENAMED and event.old_name is not None:
            history = live.pop(event.old_name, [])
            history.append(item)
            live[event.name] = history
        elif event.kind == EventKind.REGISTERED_MODEL_DELETED:
            live.pop(event.name, None)
        else:
            live.setdefault(event.name, []).append(item)
    return live


def model_events(events: Sequence[RegistryEvent], name: str) -> list[RegistryEvent]:
    """The events of the model now called ``name``, following renames back; oldest first.

    Empty when no model is called ``name`` at the end of ``events``.
    """
    return events_by_model(events).get(name, [])


class _Spans:
    """Open and closed intervals while walking events oldest first (keyed by a holder)."""

    def __init__(self) -> None:
        self.closed: list[tuple[int, Interval]] = []
        self.open: dict[object, tuple[int, Interval]] = {}
        self.count = 0

    def start(self, key: object, version: int, item: RegistryEvent) -> None:
        if key in self.open:
            return
        interval = Interval(
            version,
            item.timestamp,
            None,
            item.commit,
            item.author,
            item.pull_request,
            approved_by=item.approved_by,
        )
        self.open[key] = (self.count, interval)
        self.count += 1

    def end(self, key: object, item: RegistryEvent) -> None:
        found = self.open.pop(key, None)
        if found is not None:
            order, interval = found
            ended = record.replace(interval, end=item.timestamp, ended_by=item.commit)
            self.closed.append((order, ended))

    def end_all(self, item: RegistryEvent) -> None:
        for key in list(self.open):
            self.end(key, item)

    def holder(self, key: object) -> int | None:
        found = self.open.get(key)
        return None if found is None else found[1].version

    def result(self) -> list[Interval]:
        return [interval for _, interval in sorted([*self.closed, *self.open.values()])]


def stage_intervals(events: Sequence[RegistryEvent], stage: Stage) -> list[Interval]:
    """When each version was in ``stage``, oldest first (events of ONE model, oldest first).

    Several versions can be in Staging at once, so intervals may overlap; Production's never do
    on a valid registry.
    """
    spans = _Spans()
    for item in events:
        event = item.event
        version = event.version
        if event.kind == EventKind.MODEL_VERSION_TRANSITIONED_STAGE and version is not None:
            if event.to_stage == stage.value:
                spans.start(version, version, item)
            elif event.from_stage == stage.value:
                spans.end(version, item)
        elif event.kind == EventKind.MODEL_VERSION_DELETED:
            spans.end(version, item)
        elif event.kind == EventKind.REGISTERED_MODEL_DELETED:
            spans.end_all(item)
    return spans.result()


def alias_intervals(events: Sequence[RegistryEvent], alias: str) -> list[Interval]:
    """Where ``@alias`` pointed, oldest first (events of ONE model, oldest first)."""
    spans = _Spans()
    for item in events:
        event = item.event
        kind, version = event.kind, event.version
        if kind == EventKind.MODEL_VERSION_ALIAS_CREATED and event.alias == alias:
            spans.end(alias, item)  # a move ends the previous target's span
            if version is not None:
                spans.start(alias, version, item)
        elif _ends_alias(item, alias, spans.holder(alias)):
            spans.end(alias, item)
    return spans.result()


def _ends_alias(item: RegistryEvent, alias: str, holder: int | None) -> bool:
    """The alias is deleted, the version it points at is, or the whole model is."""
    event = item.event
    return (
        (event.kind == EventKind.MODEL_VERSION_ALIAS_DELETED and event.alias == alias)
        or (event.kind == EventKind.MODEL_VERSION_DELETED and event.version == holder)
        or event.kind == EventKind.REGISTERED_MODEL_DELETED
    )


def returns(intervals: Sequence[Interval]) -> list[bool]:
    """For each interval, whether its version had held the stage/alias before (a rollback)."""
    seen: set[int] = set()
    out = []
    for interval in intervals:
        out.append(interval.version in seen)
        seen.add(interval.version)
    return out


def aliases_in(events: Iterable[RegistryEvent]) -> list[str]:
    """Every alias the events set, in the order they first appear."""
    names: dict[str, None] = {}
    for item in events:
        if item.event.kind == EventKind.MODEL_VERSION_ALIAS_CREATED and item.event.alias:
            names.setdefault(item.event.alias, None)
    return list(names)
