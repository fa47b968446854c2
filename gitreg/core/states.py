"""A model's state in one commit, built block by block, and the events between two states.

The history of a model, its events and the catalog read every state of its manifest along
a range of commits. ``read_state`` builds a state from the manifest's text reusing the
previous state's parsed blocks and versions (``core.blocks``), and ``diff_states`` turns two
states into events looking only at the blocks that differ between them (#23): a commit
that registers one version of a model with 2,000 costs one block, not 2,000. The events are
exactly ``events.diff`` of the two whole models; a state that cannot use the shortcut (a
hand-written layout, two blocks with one version number) is diffed whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from gitreg.core import blocks, record
from gitreg.core.entities import ModelVersion, RegisteredModel
from gitreg.core.errors import GitregError
from gitreg.core.events import Event, diff_versions

# What makes a manifest unreadable as a model (``RegisteredModel.from_manifest``): a commit
# that leaves a manifest so has no readable change.
UNREADABLE = (GitregError, KeyError, TypeError, ValueError, AttributeError)
_VERSION = attrgetter("version")


@record.dataclass(frozen=True, slots=True)
class ModelState:
    """A model as one commit has it.

    With a ``layout``, ``model`` has no versions: they are in ``versions``, one per block
    (each keeps the model name of the state that first read it, which no event uses).
    Without one (a manifest in another layout), ``model`` is the whole model.
    """

    model: RegisteredModel
    layout: blocks.Layout | None = None
    versions: Sequence[ModelVersion] = ()
    unique: bool = False  # distinct blocks with distinct version numbers

    def all_versions(self) -> Sequence[ModelVersion]:
        """Every version, in the manifest's order."""
        return self.model.versions if self.layout is None else self.versions


def read_state(text: bytes, path: str, previous: ModelState | None = None) -> ModelState | None:
    """The state ``text`` describes, or None when it is unreadable (not YAML, not a model).

    ``previous`` is an earlier state of the same manifest, whose blocks are reused.
    """
    try:
        parsed = blocks.read(text, path, previous.layout if previous is not None else None)
        if isinstance(parsed, blocks.Layout):
            return _from_layout(parsed, previous)
        return ModelState(RegisteredModel.from_manifest(parsed))
    except UNREADABLE:
        return None


def state_of(data: Any) -> ModelState | None:
    """The state of an already parsed manifest, or None when it is not a model."""
    try:
        return ModelState(RegisteredModel.from_manifest(data))
    except UNREADABLE:
        return None


def _from_layout(layout: blocks.Layout, previous: ModelState | None) -> ModelState:
    """Raises what ``RegisteredModel.from_manifest`` of the whole manifest would (UNREADABLE):
    it fails exactly when the header or one of the versions does."""
    header = RegisteredModel.from_manifest(layout.head)
    first, last = 0, 0
    if (
        previous is not None
        and previous.layout is not None
        and layout.base is previous.layout.token
    ):
        first, last = layout.kept
    tail = len(layout.blocks) - last
    shared = previous.versions if previous is not None else ()
    versions = list(shared[:first])
    versions += [
        ModelVersion.from_manifest(header.name, e.item) for e in layout.entries[first:tail]
    ]
    versions += shared[len(shared) - last :] if last else ()
    distinct = len(set(layout.blocks)) == len(layout.blocks)
    unique = distinct and len(set(map(_VERSION, versions))) == len(versions)
    return ModelState(header, layout, versions, unique)


def diff_states(old: ModelState | None, new: ModelState | None) -> list[Event]:
    """``events.diff`` of the two whole models, looking only at the blocks that changed."""
    if old is new:
        return []  # one state on both sides (a change of the file's mode only)
    if (
        old is not None
        and new is not None
        and old.layout is not None
        and new.layout is not None
        and old.unique
        and new.unique
    ):
        # A block in both states is one version, unchanged; a version number is in one
        # block per state, so a changed version's old block is among the gone ones.
        gone, fresh = new.layout.changed(old.layout)
        return diff_versions(
            old.model,
            new.model,
            [old.versions[index] for index in gone],
            [new.versions[index] for index in fresh],
        )
    return diff_versions(
        old.model if old is not None else None,
        new.model if new is not None else None,
        old.all_versions() if old is not None else (),
        new.all_versions() if new is not None else (),
    )
