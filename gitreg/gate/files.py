"""The work tree's side of validation: listing ``models/``, reading files safely, checking one.

Each registry file is read only if it is a regular file (``store.files``): a link, a
directory or a FIFO is one finding naming the path, and nothing is read through it. A
file's own checks (schema, invariants, its name and neighbours) are cached by content
(``FindingsCache``), so a whole-registry validate parses only what changed since the last.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitreg.core import schema_check, validate
from gitreg.core.card import check_card, is_card_path, manifest_of
from gitreg.core.config import CONFIG_FILE, MODELS_DIR
from gitreg.core.errors import InvalidManifest, NotRegularFile
from gitreg.core.finding import Finding
from gitreg.core.names import name_key, name_of_stem
from gitreg.core.retired import RETIRED_FILE
from gitreg.core.version import __version__
from gitreg.store import compare, files
from gitreg.store.cache import git_dir, load_parsed, no_gc, save_parsed

RETIRED_NAME = RETIRED_FILE.rsplit("/", 1)[-1]


def _fold(file_name: str) -> str:
    """What two entries of models/ collide on: their models' names, case-folded."""
    stem = file_name.removesuffix(".yaml")
    return name_key(name_of_stem(stem) or stem)


class Listing(dict[str, bool]):
    """Name -> is a directory, for everything directly in models/; ``folded`` by name key.

    ``links`` are the entries that are symbolic links (never followed); ``problem`` says
    what is wrong with models/ itself, if anything.
    """

    def __init__(
        self, entries: Mapping[str, bool], links: frozenset[str] = frozenset(), problem: str = ""
    ) -> None:
        super().__init__(entries)
        self.links = links
        self.problem = problem
        self.folded: dict[str, list[str]] = {}
        for name in sorted(entries):
            self.folded.setdefault(_fold(name), []).append(name)


def listing(root: Path) -> Listing:
    """What is directly in ``root/models``, without following any link."""
    directory = root / MODELS_DIR
    if not directory.exists() and not directory.is_symlink():
        return Listing({})
    if not files.is_real_directory(directory):
        return Listing({}, problem=f"{MODELS_DIR} is not a directory (a link?)")
    entries: dict[str, bool] = {}
    links = set()
    for entry in os.scandir(directory):
        entries[entry.name] = entry.is_dir(follow_symlinks=False)
        if entry.is_symlink():
            links.add(entry.name)
    return Listing(entries, frozenset(links))


def read_worktree(root: Path, path: str) -> tuple[bytes | None, list[Finding]]:
    """``path``'s bytes if it is a regular file within the limits; else None and why."""
    try:
        return files.read_regular(root, path), []
    except NotRegularFile as e:
        return None, [Finding(path, None, "NOT_A_REGULAR_FILE", e.message)]
    except InvalidManifest as e:
        return None, [Finding(path, None, "FILE_UNREADABLE", e.message)]


def check_text(
    path: str, text: bytes | None, entries: Listing, incumbents: frozenset[int]
) -> tuple[list[Finding], Any]:
    """Findings for ``path`` holding ``text`` (None: absent), and its parsed data if any."""
    if path == CONFIG_FILE:
        if text is None:
            return [missing_config()], None
        data, findings = validate.parse(text, path)
        return (findings or validate.check_config(data, path, text)), data
    name, _, rest = path[len(MODELS_DIR) + 1 :].partition("/")
    if text is None and (not rest or name not in entries):
        return [], None  # deleted, and nothing of it is left in models/ to be stray
    findings = validate.check_entry(name, is_dir=bool(rest) or entries.get(name, False))
    if findings or text is None or name == ".gitkeep":
        return findings, None
    if is_card_path(path):
        return card_findings(path, text, entries), None
    data, syntax = validate.parse(text, path)
    if syntax:
        return findings + syntax, None
    if name == RETIRED_NAME:
        return findings + validate.check_retired(data, path, text), data
    findings += case_conflicts(name, entries)
    return findings + validate.check_manifest(data, path, text, incumbents), data


def read_models(root: Path) -> dict[str, bytes | InvalidManifest]:
    """Every entry of models/ read at once (see ``store.files.read_directory``)."""
    try:
        return files.read_directory(root, MODELS_DIR)
    except InvalidManifest:
        return {}  # models/ itself is a link: the listing's finding says so


def check_file(
    root: Path,
    path: str,
    entries: Listing,
    cache: FindingsCache,
    contents: Mapping[str, bytes | InvalidManifest] | None = None,
) -> list[Finding]:
    """Schema and invariants of the work tree's ``path`` (the whole-registry validate).

    ``contents`` are models/' entries already read (``read_models``), by name.
    """
    name, _, rest = path[len(MODELS_DIR) + 1 :].partition("/")
    if path != CONFIG_FILE and not rest and name in entries.links:
        message = (
            f"{path} is a symbolic link, not a regular file; gitreg reads only regular "
            "files (git mode 100644) there: replace it with the file itself"
        )
        return [Finding(path, None, "NOT_A_REGULAR_FILE", message)]
    if path != CONFIG_FILE:
        stray = validate.check_entry(name, is_dir=bool(rest) or entries.get(name, False))
        if stray or name == ".gitkeep":
            return stray
    known = contents.get(name) if contents is not None and not rest else None
    if isinstance(known, bytes):
        text, unreadable = known, []
    elif isinstance(known, NotRegularFile):
        text, unreadable = None, [Finding(path, None, "NOT_A_REGULAR_FILE", known.message)]
    elif isinstance(known, InvalidManifest):
        text, unreadable = None, [Finding(path, None, "FILE_UNREADABLE", known.message)]
    else:
        text, unreadable = read_worktree(root, path)
    if unreadable:
        return unreadable
    if path == CONFIG_FILE or text is None or name == RETIRED_NAME or is_card_path(path):
        return check_text(path, text, entries, frozenset())[0]
    return case_conflicts(name, entries) + cache.manifest_findings(path, text)


def card_findings(path: str, text: bytes, entries: Listing) -> list[Finding]:
    """A model card's own findings (#29): it parses, and its model's manifest is there."""
    manifest = manifest_of(path).rsplit("/", 1)[-1]
    return check_card(text, path, manifest in entries)[1]


def case_conflicts(name: str, entries: Listing) -> list[Finding]:
    """Entries of models/ whose models' names differ from ``name``'s only in case."""
    path = f"{MODELS_DIR}/{name}"
    return [
        Finding(
            path,
            None,
            "NAME_CASE_CONFLICT",
            f"{path} and {MODELS_DIR}/{other} differ only in case; a checkout on macOS or "
            "Windows would merge them, so rename one",
        )
        for other in entries.folded.get(_fold(name), ())
        if other != name
    ]


def missing_config() -> Finding:
    """The finding for a registry without gitreg.yaml."""
    return Finding(
        CONFIG_FILE,
        None,
        "CONFIG_MISSING",
        f"{CONFIG_FILE} is missing; restore it (git checkout -- {CONFIG_FILE})",
    )


class FindingsCache:
    """Findings of a manifest's own checks, by path and content (git blob id).

    A whole-registry validate then parses only what changed since the last run. The key
    includes a fingerprint of gitreg's version and schema, so an upgrade re-checks all.
    """

    def __init__(self, root: Path) -> None:
        self.state_dir = git_dir(root) / "gitreg"
        self.file = self.state_dir / "validate-cache.marshal"
        self.parsed = load_parsed(self.state_dir)
        self.parsed_used: dict[str, Any] = {}
        schema = json.dumps(schema_check.schema("manifest"), sort_keys=True).encode()
        self.stamp = f"{__version__}:{validate.CHECKS_VERSION}:{compare.blob_id(schema)}"
        self.entries: dict[str, list[tuple[Any, ...]]] = {}
        self.used: dict[str, list[tuple[Any, ...]]] = {}
        self.dirty = False
        # Parsed ahead by ``prefetch`` (#15): blob id -> YAML of manifests no cache knew.
        self.prefetched: dict[str, Any] = {}
        with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
            raw = self.file.read_bytes()
            with no_gc():
                stamp, entries = marshal.loads(raw)
            if stamp == self.stamp and isinstance(entries, dict):
                self.entries = entries

    def manifest_findings(self, path: str, text: bytes) -> list[Finding]:
        """Schema and invariant findings of ``path`` holding ``text`` (cached)."""
        oid = compare.blob_id(text)
        key = f"{path}\0{oid}"
        if key not in self.entries:
            syntax: list[Finding] = []
            if oid in self.parsed:
                data = self.parsed[oid]
            elif oid in self.prefetched:
                data = self.prefetched.pop(oid)
            else:
                data, syntax = validate.parse(text, path)
            if not syntax:
                self.parsed_used[oid] = data
            found = syntax or validate.check_manifest(data, path, text, frozenset())
            self.entries[key] = [tuple(f) for f in found]
            self.dirty = True
        self.used[key] = self.entries[key]
        return [Finding(*f) for f in self.used[key]]

    def prefetch(self, contents: Mapping[str, bytes | InvalidManifest]) -> None:
        """Parse on every core the manifests of ``contents`` (``read_models``) no cache knows.

        A fresh clone's first validate of 10,000 models spent most of its time parsing on
        one core (#15). What does not parse here is parsed again, one by one, where its
        finding is made.
        """
        from gitreg.store.parallel import parse_many

        todo: list[tuple[str, bytes, str]] = []
        for name, text in contents.items():
            if not isinstance(text, bytes):
                continue
            path, oid = f"{MODELS_DIR}/{name}", compare.blob_id(text)
            if f"{path}\0{oid}" not in self.entries and oid not in self.parsed:
                todo.append((path, text, oid))
        for index, data in parse_many([(p, t) for p, t, _ in todo]).items():
            self.prefetched[todo[index][2]] = data

    def save(self) -> None:
        """Keep the entries this run used (others are for content that is gone)."""
        if self.parsed_used.keys() - self.parsed.keys():
            save_parsed(self.state_dir, {**self.parsed, **self.parsed_used})
        if not self.dirty and self.used.keys() == self.entries.keys():
            return
        with contextlib.suppress(OSError, ValueError):
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps((self.stamp, self.used)))
            os.replace(tmp, self.file)
