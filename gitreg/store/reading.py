"""Whole-registry reads: every manifest at once, the valid served, the invalid refused (#22).

``Store.read_registry`` lists ``models/`` (the work tree, or one ``git ls-tree`` at a
commit), reads what it must (one ``git cat-file --batch`` for blobs no cache has parsed),
and judges each manifest by ``verdict``: one that does not parse, breaks the schema or an
invariant, or is not a regular file refuses its own model only. Parses and verdicts are
kept by blob id (``cache``, ``verdict.Verdicts``), so a read of 10,000 models parses and
checks only what changed since the last one.

The helpers at the end say what is newer than the verified tip, for the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from gitreg.core.config import MODELS_DIR
from gitreg.core.entities import RegisteredModel
from gitreg.core.errors import (
    GitFailed,
    InvalidManifest,
    NotRegularFile,
    git_kind,
    not_a_models_directory,
    not_regular,
)
from gitreg.core.finding import Finding
from gitreg.core.retired import RETIRED_FILE
from gitreg.store import _git, files, verdict
from gitreg.store.cache import load_parsed, no_gc, parse, save_parsed
from gitreg.store.transaction import parse_model

if TYPE_CHECKING:
    from gitreg.store.parallel import Ahead

RETIRED_NAME = RETIRED_FILE.rsplit("/", 1)[-1]
Blobs = dict[str, tuple[str, bytes | None]]  # file name -> (blob id, its bytes if read)


class Reading(NamedTuple):
    """A whole-registry read: the models it serves and those it refuses (#22)."""

    models: list[RegisteredModel]
    refused: tuple[verdict.Refused, ...]
    blobs: Mapping[str, str]  # manifest path -> blob id, of every manifest read


def served(reading: Reading) -> dict[str, str]:
    """Manifest path -> blob id of every manifest ``reading`` served (judged valid)."""
    refused = {r.path for r in reading.refused}
    return {path: oid for path, oid in reading.blobs.items() if path not in refused}


def refused_of(path: str, error: InvalidManifest) -> verdict.Refused:
    """``error`` (a read of ``path`` that failed) as a refused model with its findings."""
    if error.findings:
        return verdict.Refused(path, tuple(error.findings))
    code = "NOT_A_REGULAR_FILE" if isinstance(error, NotRegularFile) else "FILE_UNREADABLE"
    return verdict.Refused(path, (Finding(path, None, code, error.message),))


def list_models_at(root: Path, at: str) -> dict[str, tuple[str, str]]:
    """Manifest file name -> (git mode, blob id) for every ``*.yaml`` in models/ at ``at``."""
    out = _git.run(root, ["ls-tree", "-z", "--full-tree", at, "--", f"{MODELS_DIR}/"])
    entries = {}
    for record in out.split(b"\0"):
        meta, _, raw = record.partition(b"\t")
        if not raw:
            continue
        mode, _kind, oid = meta.decode().split()
        name = raw.decode("utf-8", "surrogateescape").rsplit("/", 1)[-1]
        if name.endswith(".yaml") and name != RETIRED_NAME:
            entries[name] = (mode, oid)
    return entries


def blobs_at(root: Path, at: str) -> tuple[Blobs, list[verdict.Refused]]:
    """Every manifest at commit ``at``, and those that are not regular files there."""
    out: Blobs = {}
    refused = []
    for name, (mode, oid) in list_models_at(root, at).items():
        path = f"{MODELS_DIR}/{name}"
        if mode == "100644":
            out[name] = (oid, None)
        else:
            refused.append(refused_of(path, not_regular(path, git_kind(mode))))
    return out, refused


def worktree_blobs(root: Path) -> tuple[Blobs, list[verdict.Refused]]:
    """Every manifest in the work tree, and those that cannot be read (a link, too large).

    Raises:
        NotRegularFile: ``models`` itself is a link or not a directory.
    """
    out: Blobs = {}
    refused: list[verdict.Refused] = []
    directory = root / MODELS_DIR
    if not directory.exists():
        return out, refused
    if not files.is_real_directory(directory):
        raise not_a_models_directory(f"{MODELS_DIR} is not a directory (a link?)")
    for name, data in files.read_directory(root, MODELS_DIR).items():
        if not name.endswith(".yaml") or name == RETIRED_NAME:
            continue
        if isinstance(data, InvalidManifest):
            refused.append(refused_of(f"{MODELS_DIR}/{name}", data))
        else:
            out[name] = (_git.blob_id(data), data)
    return out, refused


def build(
    root: Path,
    state_dir: Path,
    raw: Blobs,
    unreadable: list[verdict.Refused],
    *,
    parallel: bool = False,
) -> Reading:
    """The models of ``raw`` a read may serve, those it refuses, and ``unreadable``.

    ``parallel``: the manifests no cache has parsed are parsed and checked on every core
    (``store.parallel.check_ahead``): a site build's read, which is otherwise one core's
    work before its pages render on all of them (#26).
    """
    cache = load_parsed(state_dir)
    verdicts = verdict.Verdicts(state_dir)
    fresh: dict[str, Any] = {}
    with no_gc():
        reading = _Build(root, cache, fresh, verdicts, parallel).run(raw)
    if fresh.keys() != cache.keys():
        save_parsed(state_dir, fresh)
    verdicts.save()
    if not unreadable:
        return reading
    every = sorted([*reading.refused, *unreadable], key=lambda r: r.path)
    return Reading(reading.models, tuple(every), reading.blobs)


class _Build:
    """One whole-registry read: parses (cached by blob id), then verdicts (cached too)."""

    def __init__(
        self,
        root: Path,
        cache: Mapping[str, Any],
        fresh: dict[str, Any],
        verdicts: verdict.Verdicts,
        parallel: bool = False,
    ) -> None:
        self.root = root
        self.cache = cache
        self.fresh = fresh  # the parses this read used: the next parse cache
        self.verdicts = verdicts
        self.parallel = parallel
        self.ahead: Ahead | None = None  # children parsing and checking (``parallel``)
        self.ahead_index: dict[str, int] = {}  # manifest path -> its index in ``ahead``

    def run(self, raw: Blobs) -> Reading:
        wanted = [oid for oid, text in raw.values() if text is None and oid not in self.cache]
        texts = _git.read_blobs(self.root, wanted) if wanted else {}
        if self.parallel:
            self._start_ahead(raw, texts)
        models: list[RegisteredModel] = []
        refused: list[verdict.Refused] = []
        blobs: dict[str, str] = {}
        try:
            for file_name, (oid, given) in sorted(raw.items()):
                path = f"{MODELS_DIR}/{file_name}"
                blobs[path] = oid
                text = given if given is not None else texts.get(oid)
                found = self._one(path, oid, text)
                if isinstance(found, verdict.Refused):
                    refused.append(found)
                else:
                    models.append(found)
        finally:
            if self.ahead is not None:
                self.ahead.close()
        return Reading(models, tuple(refused), blobs)

    def _start_ahead(self, raw: Blobs, texts: Mapping[str, bytes]) -> None:
        """Fork children that parse and check the manifests no cache holds, after the first
        share, which ``_one`` does here meanwhile (``parallel``, #26)."""
        from gitreg.store.parallel import check_ahead, workers

        todo: list[tuple[str, bytes]] = []
        for file_name, (oid, given) in sorted(raw.items()):  # ``run``'s order
            text = given if given is not None else texts.get(oid)
            if text is not None and oid not in self.cache:
                self.ahead_index[f"{MODELS_DIR}/{file_name}"] = len(todo)
                todo.append((f"{MODELS_DIR}/{file_name}", text))
        self.ahead = check_ahead(todo, workers())

    def _answer(self, path: str) -> tuple[Any, bool] | None:
        """What a child made of the manifest at ``path``: (parsed, passed every check)."""
        index = self.ahead_index.get(path)
        if self.ahead is None or index is None:
            return None
        return self.ahead.get(index)

    def _one(self, path: str, oid: str, text: bytes | None) -> RegisteredModel | verdict.Refused:
        data = self.cache.get(oid)
        passed = False  # a child found nothing to refuse (``parallel``)
        if data is None:
            answer = self._answer(path)
            if answer is not None:
                data, passed = answer
        if data is None:
            try:
                data = parse(text or b"", path)
            except InvalidManifest:
                return verdict.Refused(path, tuple(verdict.syntax_findings(text or b"", path)))
        self.fresh[oid] = data
        findings = self.verdicts.get(path, oid)
        if findings is None:
            findings = [] if passed else verdict.check(data, path, text)
            if findings and text is None:  # the findings' lines come from the text
                text = _git.read_blobs(self.root, [oid])[oid]
                findings = verdict.check(data, path, text)
            self.verdicts.put(path, oid, findings)
        if findings:
            return verdict.Refused(path, tuple(findings))
        return parse_model(data, path, text)


# ------------------------------------------------------- what is newer than the verified tip


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    """Whether commit ``older`` is ``newer`` or one of its ancestors."""
    try:
        _git.run(root, ["merge-base", "--is-ancestor", "--end-of-options", older, newer])
    except GitFailed:
        return False
    return True


def commits_after(root: Path, base: str, tip: str) -> frozenset[str]:
    """The commits reachable from ``tip`` and not from ``base``."""
    out = _git.run(root, ["rev-list", "--end-of-options", tip, f"^{base}"])
    return frozenset(out.decode().split())


def manifest_ids(root: Path, at: str) -> dict[str, str]:
    """Manifest path -> blob id at commit ``at`` (regular files and others alike)."""
    return {f"{MODELS_DIR}/{n}": oid for n, (_mode, oid) in list_models_at(root, at).items()}
