"""The catalog's history: read once, made into each model's events where its pages render.

A full build needs every model's events (``Registry.list_events`` over all history, grouped
by ``store.timeline.events_by_model``), but each model's pages need only its own. Walking
the history (the ``git log`` of ``models/`` and each manifest's state before and after each
change) stays one pass here; turning those states into events (diffing them, placing them
in their commits) waits for the process that renders the model (``site.parallel``), so on a
machine with several cores that work is shared and runs beside the rendering (#26).

That split is exact when every change stays on one path and each state at a path names the
model whose manifest that path is: then the events of a model's path are exactly that
model's events, in the same order, and nothing else brings it events. Otherwise (a rename,
a manifest holding another model's name) the events are made here, all of them, as before.
A path changed more than ``MAX_DEFERRED`` times gets its events made here during the walk,
so no path keeps more than a few states in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from gitreg.core import record
from gitreg.core.errors import GitregError
from gitreg.core.events import RegistryEvent
from gitreg.services.governance import approved_events
from gitreg.store import eventlog
from gitreg.store.eventlog import Step
from gitreg.store.timeline import events_by_model
from gitreg.store.transaction import model_path

if TYPE_CHECKING:
    from gitreg.core.approved import ApprovalRecord
    from gitreg.core.entities import RegisteredModel
    from gitreg.registry import Registry

MAX_DEFERRED = 8  # changes of one path whose states wait for the model's render
Item = Step | list[RegistryEvent]  # a change still to diff, or its events


@record.dataclass(frozen=True, slots=True)
class History:
    """Each manifest path's changes, oldest first, as states still to diff or as events."""

    by_path: Mapping[str, Sequence[Item]]
    approvals: Mapping[str, ApprovalRecord]

    def events_of(self, name: str) -> list[RegistryEvent]:
        """The events of model ``name``: exactly those ``Registry.list_events(None,
        vet=False)`` grouped by ``events_by_model`` gives it."""
        events: list[RegistryEvent] = []
        for item in self.by_path.get(model_path(name), ()):
            events += item if isinstance(item, list) else eventlog.step_events([item])
        return events_by_model(approved_events(events, self.approvals)).get(name, [])


def read(
    registry: Registry, known: Mapping[str, RegisteredModel] | None, *, deferred: bool
) -> History | dict[str, list[RegistryEvent]]:
    """The history of every model: a ``History`` that makes each model's events when asked
    (``deferred``, where exact), else every model's events now (name -> events)."""
    root = registry.store.root
    approvals = registry.get_approvals()
    changes = eventlog.log_changes(root, None, registry.at or "HEAD")
    counts = Counter(change.new_path for _, change in changes)
    items: list[tuple[str, Item]] = []
    exact = deferred
    for step in eventlog.walk_changes(root, changes, known):
        path = step[1].new_path
        exact = exact and _on_its_path(step)
        if exact and counts[path] <= MAX_DEFERRED:
            items.append((path, step))
        else:
            items.append((path, eventlog.step_events([step])))
    if exact:
        by_path: dict[str, list[Item]] = {}
        for path, item in items:
            by_path.setdefault(path, []).append(item)
        return History(by_path, approvals)
    events: list[RegistryEvent] = []
    for _path, item in items:
        events += item if isinstance(item, list) else eventlog.step_events([item])
    return events_by_model(approved_events(events, approvals))


def _on_its_path(step: Step) -> bool:
    """Whether a change stays on one path, and each state it reads names that path's model."""
    _commit, change, old, new = step
    if change.old_path != change.new_path:
        return False
    sides = (old if change.status != "A" else None, new if change.status != "D" else None)
    return all(state is None or _named(state.model.name, change.new_path) for state in sides)


def _named(name: str, path: str) -> bool:
    try:
        return model_path(name) == path
    except GitregError:  # not a valid name: no path is its model's
        return False
