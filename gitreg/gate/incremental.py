"""The audit's shortcut: a change to a manifest judged on the version blocks it changed (#23).

``gitreg audit`` judges every commit of a range against its parent, and each judgement
checked the old and the new manifest whole: a model with 2,000 versions, one registered per
commit, took 2,000 whole parses, schema checks and rule checks of a 300 kB file. Most
commits of such a history change a block or two of a manifest that was valid before them,
so ``Incremental`` remembers, for each manifest, its last text, its layout
(``core.blocks``) and whether it passed its own checks, and judges a change to it on a
small *stand-in*: the new header with the changed versions and the versions its aliases
name (``_stand_in``). The checks that look across all versions are counted over the whole
layout in C instead: versions unique and ascending, ``next_version`` above them, at most one
version in Production, every version readable as a model.

Nothing is weakened: the stand-in goes through the very checks the whole file would
(``check_new``, i.e. ``files.check_text``, and ``rules.check_changes``), and the shortcut
is taken only when all of them find nothing. Then the whole file would find nothing
either: every check of one version depends on that version alone, every check of the
header on the header and on the versions its aliases name, and what spans versions is
counted above. Anything else (a finding, a file in another layout, a previous state that
was not clean or not remembered, a rename, a deletion, the retired names changing) is
judged whole, by the same code as a pull request, and its findings are exactly the whole
file's.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from operator import lt
from typing import Any, cast

from gitreg.core import blocks, manifest
from gitreg.core.config import Policy
from gitreg.core.entities import ModelVersion, RegisteredModel
from gitreg.core.errors import GitregError, InvalidManifest
from gitreg.core.finding import Finding
from gitreg.gate import rules
from gitreg.gate.rules import ModelChange

# (path, text or None, Production versions before) -> (findings, parsed data or None)
CheckNew = Callable[[str, bytes | None, frozenset[int]], tuple[list[Finding], Any]]
# What makes a manifest unreadable as a model (as ``rules.model_of`` catches it).
_UNREADABLE = (GitregError, KeyError, TypeError, ValueError, AttributeError)


@dataclasses.dataclass(frozen=True, slots=True)
class _Known:
    """A manifest as the audit last saw it: its text, layout, and what is known of it."""

    text: bytes
    layout: blocks.Layout
    clean: bool  # its own checks (schema, invariants) found nothing
    readable: bool  # every version and the header read as a model (``rules.model_of``)


class Incremental:
    """Manifests as the audit walks a range: what each was at the last commit that touched it.

    One per audit; it holds one text and one layout per manifest it has seen.
    """

    def __init__(self) -> None:
        self._known: dict[str, _Known] = {}

    def settle(
        self,
        path: str,
        old: bytes,
        new: bytes,
        policy: Policy,
        check_new: CheckNew,
        *,
        push: bool,
        name: str,
    ) -> list[ModelChange] | None:
        """The summary rows of the change of ``path`` from ``old`` to ``new`` when it is
        judged clean on its changed blocks, or None when it must be judged whole."""
        known = self._known.get(path)
        if known is None or not (known.clean and known.readable) or known.text != old:
            return None
        layout = _layout(new, path, known.layout)
        if layout is None or not _spans_hold(layout):
            return None
        gone, fresh = layout.changed(known.layout)
        readable = _readable(layout, fresh)
        if not readable:
            return None
        targets = _alias_targets(known.layout, layout)
        base = _stand_in(known.layout, gone, targets)
        head = _stand_in(layout, fresh, targets)
        text = manifest.dump(head).encode()
        found, data = check_new(path, text, frozenset())
        if found or data != head:
            return None
        if rules.check_changes(path, base, head, text, policy, push=push):
            return None
        self._known[path] = _Known(new, layout, clean=True, readable=True)
        return rules.summarize(name, base, head)

    def remember(self, path: str, text: bytes | None, clean: bool) -> None:
        """What the whole judgement of ``path`` found: ``text`` is there now (None: gone),
        and it passed its own checks (``clean``) or not."""
        known = self._known.pop(path, None)
        if text is None:
            return
        layout = _layout(text, path, known.layout if known is not None else None)
        if layout is None:
            return
        readable = clean and rules.model_of(layout.data()) is not None
        self._known[path] = _Known(text, layout, clean, readable)


def _layout(text: bytes, path: str, previous: blocks.Layout | None) -> blocks.Layout | None:
    try:
        parsed = blocks.read(text, path, previous)
    except InvalidManifest:
        return None
    return parsed if isinstance(parsed, blocks.Layout) else None


def _spans_hold(layout: blocks.Layout) -> bool:
    """The checks across versions: unique ascending integers, below ``next_version``, at
    most one in Production, no two blocks alike. Counted in C over every block."""
    found = layout.numbers()
    if None in found:
        return False
    numbers = cast(list[int], found)
    if not all(map(lt, numbers, numbers[1:])):
        return False
    upper = layout.head.get("next_version")
    if type(upper) is not int or upper <= numbers[-1]:
        return False
    return layout.production_count() <= 1 and len(set(layout.blocks)) == len(layout.blocks)


def _readable(layout: blocks.Layout, fresh: Sequence[int]) -> bool:
    """Whether the header and the changed versions read as a model (the others did)."""
    try:
        header = RegisteredModel.from_manifest(layout.head)
        for index in fresh:
            ModelVersion.from_manifest(header.name, layout.entries[index].item)
    except _UNREADABLE:
        return False
    return True


def _alias_targets(old: blocks.Layout, new: blocks.Layout) -> list[int]:
    """The version numbers either header's aliases name."""
    targets: set[int] = set()
    for layout in (old, new):
        aliases = layout.head.get("aliases")
        if isinstance(aliases, Mapping):
            targets.update(v for v in aliases.values() if type(v) is int)
    return sorted(targets)


def _stand_in(layout: blocks.Layout, changed: Sequence[int], targets: Sequence[int]) -> Any:
    """The header with the versions at ``changed`` and the versions numbered ``targets``."""
    numbers = cast(list[int], layout.numbers())  # integers: ``_spans_hold``
    indexes = set(changed)
    for number in targets:
        index = bisect.bisect_left(numbers, number)
        if index < len(numbers) and numbers[index] == number:
            indexes.add(index)
    return {**layout.head, "versions": [layout.entries[i].item for i in sorted(indexes)]}
