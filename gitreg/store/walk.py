"""The states of manifests along a range of commits: each read once, in order, by blocks.

``walk(root, changes)`` takes the file changes of a range oldest first (``git log --raw``)
and yields each change's old and new ``ModelState``. The blobs are read in one stream
(``blobs.stream``) in the order the walk needs them; each path keeps only its latest state,
from which the next one is built block by block (``core.states``), and a path's state is
dropped after its last change in the range. So a range costs time in proportion to what
its commits changed, and memory for one state per model being walked plus the output,
never every blob of the range at once (#23).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from gitreg.core.entities import RegisteredModel
from gitreg.core.states import ModelState, read_state, state_of
from gitreg.store import blobs
from gitreg.store.gitlog import FileChange

ZERO = "0" * 40
_Held = TypeVar("_Held")

# Where a side of a change comes from: nothing (absent), the state the path holds, the
# old side (a mode change), a manifest already parsed, or a blob to read.
_NONE, _HELD, _OLD, _KNOWN, _READ = "none", "held", "old", "known", "read"


def walk(
    root: Path, changes: Sequence[FileChange], parsed: Mapping[str, Any] | None = None
) -> Iterator[tuple[ModelState | None, ModelState | None]]:
    """(old state, new state) of each change, in order; None: absent or unreadable there.

    ``parsed`` maps blob ids to manifests a whole-registry read already parsed (the parse
    cache), or to the models it made of them: those are not read again.

    Raises:
        GitFailed: git could not read the repository's objects.
    """
    known = parsed or {}
    wanted, done = _plan(changes, known)
    contents = blobs.stream(root, wanted)
    held: dict[str, tuple[str, ModelState | None]] = {}
    for index, change in enumerate(changes):
        current = held.get(change.old_path)
        reference = current[1] if current is not None else None
        source = _old_source(change, current[0] if current is not None else None, known)
        if source == _HELD:
            old = reference
        else:
            old = _side(source, change.old_blob, change.old_path, known, contents, reference)
        source = _new_source(change, known)
        if source == _OLD:
            new = old
        else:
            new = _side(source, change.new_blob, change.new_path, known, contents, old or reference)
        yield old, new
        _advance(held, change, (change.new_blob, new), done[index])


def _plan(
    changes: Sequence[FileChange], known: Mapping[str, Any]
) -> tuple[list[str], list[tuple[str, ...]]]:
    """The blobs ``walk`` reads, in its order, and after which change each path is done."""
    last: dict[str, int] = {}
    for index, change in enumerate(changes):
        last[change.old_path] = last[change.new_path] = index
    done: list[list[str]] = [[] for _ in changes]
    for path, index in last.items():
        done[index].append(path)
    wanted: list[str] = []
    held: dict[str, str] = {}
    for index, change in enumerate(changes):
        if _old_source(change, held.get(change.old_path), known) == _READ:
            wanted.append(change.old_blob)
        if _new_source(change, known) == _READ:
            wanted.append(change.new_blob)
        _advance(held, change, change.new_blob, tuple(done[index]))
    return wanted, [tuple(paths) for paths in done]


def _old_source(change: FileChange, held: str | None, known: Mapping[str, Any]) -> str:
    if change.old_blob == ZERO:
        return _NONE
    if held == change.old_blob:
        return _HELD
    return _KNOWN if change.old_blob in known else _READ


def _new_source(change: FileChange, known: Mapping[str, Any]) -> str:
    if change.new_blob == ZERO:
        return _NONE
    if change.new_blob == change.old_blob:
        return _OLD
    return _KNOWN if change.new_blob in known else _READ


def _side(
    source: str,
    oid: str,
    path: str,
    known: Mapping[str, Any],
    contents: Iterator[bytes | None],
    reference: ModelState | None,
) -> ModelState | None:
    """The state of one side of a change: absent, already parsed, or the next blob read."""
    if source == _KNOWN:
        value = known[oid]
        return ModelState(value) if isinstance(value, RegisteredModel) else state_of(value)
    if source != _READ:
        return None
    text = next(contents)
    return read_state(text, path, reference) if text is not None else None


def _advance(
    held: MutableMapping[str, _Held], change: FileChange, value: _Held, done: Sequence[str]
) -> None:
    """What each path holds after ``change``, less the paths no later change touches."""
    if change.status in ("D", "R"):
        held.pop(change.old_path, None)
    if change.new_blob != ZERO:
        held[change.new_path] = value
    for path in done:
        held.pop(path, None)
