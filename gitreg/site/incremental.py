"""An incremental site (#26): a rebuild renders again only the models whose inputs changed.

A build leaves a record in the clone's git directory (``.git/gitreg/site/``, one per output
directory; never in OUTDIR, which is not trusted): the commit it was built from, what
judged and linked its pages (gitreg.yaml's blob, the verified tip, gitreg's version and
templates, the base URL), and for each model what its files were made of (its manifest's
and card's blobs, its events, its open requests, its comments, whether it changed after
the verified tip) with the hash, size and time of every file written. The models' part
lives in buckets beside the record (``site.record_models``, their events in
``site.record_events``'s), with the stat data of the work tree's manifests
(``site.manifest_stats``) and the hash of the marker the build wrote.

The next build into the same directory compares: the manifests and cards (one listing),
the events of the commits since (``list_events`` from the recorded commit: linear in the
new commits only), the requests and the comments. A model whose inputs are all the same,
and whose files are still exactly as written (same hash in the marker, same size and time
on disk, regular files), keeps its files: they are neither rendered nor rewritten. The
index, its data and ``api/models.json`` are joined again from every model's recorded row.
Anything the record cannot vouch for builds everything again: another gitreg or templates,
gitreg.yaml or the verified tip changed, history rewritten, an invalid manifest, a record
missing or unreadable, or more than half of the models changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import stat
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.card import card_path
from gitreg.core.config import CONFIG_FILE, MODELS_DIR
from gitreg.core.digest import artifact_dir
from gitreg.core.events import EventKind, RegistryEvent
from gitreg.core.version import __version__
from gitreg.site import catalog as collecting
from gitreg.site import manifest_stats, record_events, record_models, saving
from gitreg.site.catalog import Catalog, Extras, ModelEntry, Request
from gitreg.site.links import Linker
from gitreg.site.output import DirStat, dirs_after, marker_digest, previous_listing
from gitreg.site.trust import tip_at
from gitreg.store import compare, reading
from gitreg.store.cache import git_dir, no_gc
from gitreg.store.remote import has_remote
from gitreg.store.timeline import events_by_model
from gitreg.store.transaction import model_path
from gitreg.store.verified import read_verified

if TYPE_CHECKING:
    from gitreg.registry import Registry
    from gitreg.site.output import SiteOutput

FORMAT = 4  # 2: events apart (``site.record_events``); 3: models too; 4: files' hashes apart
MAX_SHARE = 0.5  # more than this share of models changed: build everything
# The modules whose code makes the pages: a record made by other code is not reused.
_RENDERERS = (
    "render",
    "html",
    "version_page",
    "model_page",
    "index_page",
    "chart",
    "trend",
    "compare",
    "api",
    "markup",
    "links",
    "builder",
)


@record.dataclass(frozen=True, slots=True)
class ModelOutput:
    """What one model contributes: its files (written: path -> SHA-256, size and
    modification time), its index row and its API entry."""

    name: str
    files: Mapping[str, tuple[str, int, int]]
    row: list[Any]
    api: str  # its RegisteredModel, MLflow JSON, for api/models.json
    pages: int
    versions: int
    # Its record for the next build and its packed events, made where it was rendered (a
    # worker process, in parallel: ``recorded``); None: ``remember`` makes them.
    record: tuple[dict[str, Any], list[record_events.Packed]] | None = None


@record.dataclass
class Plan:
    """What a build renders (``catalog.models``) and what it keeps (``kept``)."""

    catalog: Catalog
    order: list[str]  # every model shown, in the index's order
    kept: dict[str, ModelOutput]
    kept_files: dict[str, dict[str, str]]  # model -> its kept files -> SHA-256
    notes: tuple[str, ...]
    partial: bool
    record_path: Path
    stamp: str
    previous: dict[str, Any]
    listing: dict[str, str | None] | None = None  # the previous build's marker, if read
    dirs: dict[str, DirStat | None] = record.field(default_factory=dict)  # as found
    manifests: manifest_stats.Table | None = None  # the work tree's manifests' stat data

    def remember(
        self,
        out: SiteOutput,
        fresh: Mapping[str, ModelOutput],
        parts: saving.Pending | None = None,
    ) -> None:
        """Record this build for the next (fresh models' files with their size and time,
        the directories as it leaves them); after ``out.finish``. ``parts``: the record's
        events and models as ``save_parts`` is saving them (else they are saved here)."""
        parts = parts if parts is not None else self.save_parts(fresh, fork=False)
        record = {
            "format": FORMAT,
            "stamp": self.stamp,
            "commit": self.catalog.commit,
            "config": self.catalog.sources.get(CONFIG_FILE),
            "verified": self.catalog.verified.commit if self.catalog.verified else None,
            "invalid": bool(self.catalog.invalid),
            "dirs": dirs_after(out.root, self.dirs, out.touched),
            "manifests": self.manifests,
            "marker": out.marker_digest,  # the marker as written: its listing is known
            "others": out.own,  # the files of no one model, as the marker lists them
        }
        buckets = parts.result()  # the events and models first: a record never names
        if buckets is None:  # what was not saved
            return
        record["buckets"] = buckets
        _save(self.record_path, record)

    def save_parts(self, fresh: Mapping[str, ModelOutput], *, fork: bool) -> saving.Pending:
        """Save the record's events and models (``fork``: in a process of their own while
        this one writes the index, #26); ``remember`` writes the record that names them."""
        models: dict[str, Any] = {}
        events: dict[str, list[record_events.Packed]] = {}
        entries = {e.name: e for e in self.catalog.models}
        old = self.previous.get("models", {}) if self.partial else {}
        token = os.urandom(8).hex()
        signed = group_signed(self.catalog.signed)
        for name in self.order:
            if name in fresh:
                made, packed = fresh[name].record or recorded(
                    entries[name], fresh[name], self.catalog, signed
                )
                models[name] = {**made, "token": token}  # its events: in the buckets
                events[name] = packed
            elif name in old:
                models[name] = old[name]
        changed = [*fresh, *(name for name in old if name not in models)]

        def save() -> list[str]:
            self.record_path.parent.mkdir(parents=True, exist_ok=True)
            record_events.save(
                self.record_path, token, events, self.order, everything=not self.partial
            )
            return record_models.save(
                self.record_path,
                models,
                changed if self.partial else None,
                self.previous.get("buckets"),
            )

        return saving.start(save, fork=fork)


def load(registry: Registry, outdir: Path, *, full: bool) -> dict[str, Any]:
    """The record of the previous build into ``outdir`` ({}: none, or ``full``)."""
    if full:
        return {}
    path = _record_path(registry.store.root, outdir)
    found = _load(path)
    if found:  # None: a bucket is not the record's (``_unusable`` says so)
        found["models"] = record_models.load(path, found.get("buckets"))
    return found


def known_dirs(previous: Mapping[str, Any]) -> dict[str, DirStat | None]:
    """The output's directories as the previous build left them (see ``check_outdir``)."""
    found = previous.get("dirs")
    return found if isinstance(found, dict) else {}


def plan(
    registry: Registry,
    outdir: Path,
    base_url: str | None,
    previous: dict[str, Any],
    dirs: dict[str, DirStat | None],
) -> Plan:
    """Decide what to render into ``outdir`` (see module doc); nothing is written yet.

    ``previous``: the record ``load`` read; ``dirs``: the output's directories as
    ``check_outdir`` found them. The cyclic GC is paused meanwhile: what is made here holds
    no cycles, and each pass would walk every object of the record (#26).
    """
    with no_gc():
        return _plan(registry, outdir, base_url, previous, dirs)


def _plan(
    registry: Registry,
    outdir: Path,
    base_url: str | None,
    previous: dict[str, Any],
    dirs: dict[str, DirStat | None],
) -> Plan:
    store = registry.store
    stamp = _stamp(registry, base_url)
    path = _record_path(store.root, outdir)
    why = _unusable(previous, stamp, registry)
    recorded = known_dirs(previous)
    unchanged = {d for d, now in dirs.items() if now and recorded.get(d) == now}
    seen = _Outdir(outdir, unchanged, _recorded_marker(previous))
    if why is None:
        found = _partial(registry, seen, previous, path)
        if isinstance(found, Plan):
            found.record_path, found.stamp, found.previous = path, stamp, previous
            found.listing, found.dirs = seen.listing or _listing(seen, found), dirs
            return found
        why = found
    scanned = manifest_stats.scan(store.root) if registry.at is None else None  # before
    catalog = collecting.collect(registry, deferred=True)
    config_blob = _config_blob(registry)
    if config_blob is not None:
        catalog = record.replace(catalog, sources={**catalog.sources, CONFIG_FILE: config_blob})
    notes = () if why in ("", "first") else (f"every page was rendered: {why}",)
    order = [e.name for e in catalog.models]
    found_plan = Plan(catalog, order, {}, {}, notes, False, path, stamp, previous, dirs=dirs)
    if scanned is not None:
        top = f"{MODELS_DIR}/"
        ids = {p[len(top) :]: oid for p, oid in catalog.sources.items() if p.startswith(top)}
        found_plan.manifests = manifest_stats.table(*scanned, ids)
    return found_plan


# ------------------------------------------------------------------- the record


def _record_path(root: Path, outdir: Path) -> Path:
    key = hashlib.sha256(str(outdir.resolve()).encode()).hexdigest()[:20]
    return git_dir(root) / "gitreg" / "site" / f"{key}.marshal"


def _load(path: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, EOFError, ValueError, TypeError), no_gc():
        data = marshal.loads(path.read_bytes())  # ~60 objects a model: no GC pass (#26)
        if isinstance(data, dict) and data.get("format") == FORMAT:
            return data
    return {}


def _save(path: Path, record: Mapping[str, Any]) -> None:
    with contextlib.suppress(OSError, ValueError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(dict(record)))
        os.replace(tmp, path)


def _stamp(registry: Registry, base_url: str | None) -> str:
    """What every page depends on besides the registry: gitreg, its templates, the options."""
    digest = hashlib.sha256(__version__.encode())
    package = resources.files("gitreg.site")
    for folder in ("templates", "static"):
        for item in sorted(package.joinpath(folder).iterdir(), key=lambda i: i.name):
            if item.is_file():
                digest.update(item.name.encode() + b"\0" + item.read_bytes())
    for module in _RENDERERS:
        with contextlib.suppress(OSError):
            digest.update(package.joinpath(f"{module}.py").read_bytes())
    mode = "worktree" if registry.at is None else "commit"
    digest.update(f"\0{base_url}\0{mode}\0{registry.store.root.resolve().name}".encode())
    return digest.hexdigest()


def _unusable(previous: Mapping[str, Any], stamp: str, registry: Registry) -> str | None:
    """Why the record cannot serve this build (None: it may)."""
    if not previous:
        return "first"
    if previous.get("stamp") != stamp:
        return "gitreg, its templates or the build's options changed"
    if previous.get("invalid"):
        return "the last build showed an invalid manifest"
    if previous.get("models") is None:
        return "the record's models are incomplete"
    if previous.get("config") != _config_blob(registry):
        return f"{CONFIG_FILE} changed"
    if previous.get("verified") != read_verified(registry.store.root):
        return "the verified tip moved"
    return None


def _config_blob(registry: Registry) -> str | None:
    text = registry.store.read_bytes(CONFIG_FILE, registry.at)
    return compare.blob_id(text) if text is not None else None


# --------------------------------------------------------------- a partial build


@record.dataclass
class _Outdir:
    """The output directory as the previous build left it (read only)."""

    root: Path
    unchanged: set[str]  # directories whose entries are as the previous build left them
    marker: tuple[str, dict[str, str]] | None  # the marker's SHA-256 and others as recorded
    listing: dict[str, str | None] | None = None
    verified: bool | None = None  # whether the marker is byte for byte the one recorded

    @property
    def previous(self) -> dict[str, str | None]:
        if self.listing is None:
            self.listing = previous_listing(self.root)
        return self.listing

    def marker_as_recorded(self) -> bool:
        """Whether the marker is the one the previous build wrote (by its SHA-256): then it
        lists exactly the files the record says, and need not be parsed (#26)."""
        if self.verified is None:
            self.verified = self.marker is not None and marker_digest(self.root) == self.marker[0]
        return self.verified


def _recorded_marker(previous: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The marker's SHA-256 and the files of no one model, as the record holds them."""
    digest, others = previous.get("marker"), previous.get("others")
    if not isinstance(digest, str) or not digest or not isinstance(others, dict):
        return None
    if not all(type(k) is str and type(v) is str for k, v in others.items()):
        return None
    return digest, others


def _listing(out: _Outdir, plan: Plan) -> dict[str, str | None] | None:
    """What ``SiteOutput.finish`` needs of the previous marker when it is the one recorded:
    the files it lists that this build may not write again (the files of no one model, and
    those of the models not kept); None: it is parsed as usual."""
    if out.marker is None or not out.marker_as_recorded():
        return None
    found: dict[str, str | None] = dict(out.marker[1])
    for name, part in plan.previous.get("models", {}).items():
        if name not in plan.kept:
            found.update(part["files"])
    return found


def _partial(
    registry: Registry, out: _Outdir, previous: Mapping[str, Any], record: Path
) -> Plan | str:
    """The plan of a rebuild that keeps what did not change, or why it cannot (``record``:
    where the previous build's record is, its events beside it)."""
    store, at = registry.store, registry.at
    commit = store.resolve_ref(at or "HEAD")
    old_commit = str(previous.get("commit") or "")
    if old_commit != commit and not reading.is_ancestor(store.root, old_commit, commit):
        return "the history was rewritten since the last build"
    ids, table = _manifest_ids(registry, previous)
    if ids is None:
        return "a manifest cannot be read"
    blobs = {f"models/{name}": oid for name, oid in ids.items()}
    names = _names(blobs)
    if names is None:
        return "a manifest's file name is not a model's"
    config = store.read_config(at)
    linker = Linker.from_config(config)
    remote = has_remote(store.root, config)
    requests, notes = collecting.read_requests(registry, linker) if remote else ([], [])
    extras = Extras.read(registry, remote, list(names.values()))
    tip = tip_at(store, at, blobs, previous.get("verified"))  # as ``_unusable`` read it
    new_events = registry.list_events(old_commit, vet=False) if old_commit != commit else []
    signed = registry.signed_bundles()  # a version's signature bundle marks its pages (#28)
    old_models: Mapping[str, Any] = previous.get("models", {})
    touched = {e.event.name for e in new_events} | {
        e.event.old_name for e in new_events if e.event.old_name
    }
    sources = _Sources.of(blobs, extras, requests, tip, signed)
    changed = [
        name
        for path, name in names.items()
        if name in touched or not _same(old_models.get(name), sources.inputs(name, path), out)
    ]
    if len(changed) > MAX_SHARE * max(1, len(names)):
        return f"{len(changed)} of {len(names)} models changed"
    notes = [*notes, *extras.notes]
    recorded = _recorded_events(record, changed, old_models, new_events)
    if recorded is None:
        return "the record's events are incomplete"
    found = (changed, names, blobs, extras, requests, tip, new_events, signed, commit)
    planned = _plan_for(registry, found, previous, recorded, tuple(notes))
    if isinstance(planned, Plan):
        planned.manifests = table
    return planned


def _manifest_ids(
    registry: Registry, previous: Mapping[str, Any]
) -> tuple[dict[str, str] | None, manifest_stats.Table | None]:
    """Every manifest's blob id (file name -> id; None: one cannot be read), and the stat
    data to record: in the work tree, only manifests whose stat data changed are read."""
    root, at = registry.store.root, registry.at
    if at is None:
        known = manifest_stats.worktree_ids(root, previous.get("manifests"))
        if known is not None:
            return known
    raw, refused = reading.worktree_blobs(root) if at is None else reading.blobs_at(root, at)
    if refused:
        return None, None
    return {name: oid for name, (oid, _text) in raw.items()}, None


def _names(blobs: Mapping[str, str]) -> dict[str, str] | None:
    """Manifest path -> model name (None when a file name is not a model's)."""
    from gitreg.core.names import name_of_stem

    found = {}
    for path in sorted(blobs):
        name = name_of_stem(path.rsplit("/", 1)[-1].removesuffix(".yaml"))
        if name is None:
            return None
        found[path] = name
    return found


def group_signed(signed: frozenset[str]) -> dict[str, list[str]]:
    """Each directory prefix (``a/``, ``a/b/``) -> the bundles below it, sorted."""
    below: dict[str, list[str]] = {}
    for bundle in signed:
        parts = bundle.split("/")
        for depth in range(1, len(parts)):
            below.setdefault("/".join(parts[:depth]) + "/", []).append(bundle)
    return {k: sorted(v) for k, v in below.items()}


@record.dataclass(frozen=True, slots=True)
class _Sources:
    """What the models' files are made of besides their manifests' events, grouped by
    model once (a rebuild compares every model's: never a pass over all comments, requests
    or signatures per model)."""

    blobs: Mapping[str, str]
    cards: Mapping[str, bytes]
    comments: Mapping[str, list[list[Any]]]
    requests: Mapping[str, list[list[Any]]]
    newer: frozenset[str]
    signed: Mapping[str, list[str]]  # each directory prefix -> the bundles below it

    @classmethod
    def of(
        cls,
        blobs: Mapping[str, str],
        extras: Extras,
        requests: Sequence[Request],
        tip: Any,
        signed: frozenset[str] | dict[str, list[str]],
    ) -> _Sources:
        """Group the inputs of every model (``signed``: the bundles, or ``group_signed``'s
        grouping of them)."""
        comments: dict[str, list[tuple[Any, ...]]] = {}
        for (owner, version), found in extras.comments.items():
            mine = comments.setdefault(owner, [])
            mine += [(version, c.id, c.last_updated_timestamp) for c in found]
        mine_requests: dict[str, list[tuple[Any, ...]]] = {}
        for r in requests:
            if r.name is not None:
                mine_requests.setdefault(r.name, []).append(
                    (r.branch, r.version, r.stage, r.alias, r.number, r.url, r.title, r.stale)
                )
        return cls(
            blobs,
            extras.cards,
            {k: [list(c) for c in sorted(v)] for k, v in comments.items()},
            {k: [list(r) for r in sorted(v)] for k, v in mine_requests.items()},
            tip.newer_models if tip is not None else frozenset(),
            signed if isinstance(signed, dict) else group_signed(signed),
        )

    def inputs(self, name: str, path: str) -> list[Any]:
        """What model ``name``'s files are made of, besides its events (compared with the
        record); ``path``: its manifest."""
        card = self.cards.get(card_path(name)) if self.cards else None  # no name checks
        return [
            self.blobs[path],
            compare.blob_id(card) if card is not None else None,
            self.comments.get(name, []),
            self.requests.get(name, []),
            path in self.newer,
            self.signed.get(f"{artifact_dir(name)}/", []) if self.signed else [],
        ]


def _same(kept: Mapping[str, Any] | None, inputs: list[Any], out: _Outdir) -> bool:
    """Whether a model's record says the same inputs, and its files are intact."""
    if kept is None or kept.get("inputs") != inputs:
        return False
    return _files_intact(kept, out)


def _files_intact(part: Mapping[str, Any], out: _Outdir) -> bool:
    """Whether each file of a model's record (``part``) is still the regular file written:
    in a directory whose entries did not change since (nothing removed, added or renamed
    there), or else with the marker's hash, size and modification time as recorded."""
    files, folders = part.get("files"), part.get("folders")
    if not isinstance(files, dict) or not isinstance(folders, tuple):
        return False
    unchanged = out.unchanged
    if all(folder in unchanged for folder in folders):
        return True
    sizes, times = part.get("sizes"), part.get("mtimes")
    if not isinstance(sizes, tuple) or not isinstance(times, tuple):
        return False
    if not len(sizes) == len(times) == len(files):
        return False
    root = f"{out.root}{os.sep}"
    listed = out.marker_as_recorded()  # then it lists each file with the record's hash
    for (relative, digest), size, mtime in zip(files.items(), sizes, times, strict=True):
        if not listed and out.previous.get(relative) != digest:
            return False
        try:
            info = os.lstat(root + relative)
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode) or info.st_size != size or info.st_mtime_ns != mtime:
            return False
    return True


def _plan_for(
    registry: Registry,
    found: tuple[Any, ...],
    previous: Mapping[str, Any],
    recorded: Mapping[str, list[record_events.Packed]],
    notes: tuple[str, ...],
) -> Plan | str:
    """The partial plan: read the changed models, their events from the record and since.

    ``found``: (changed names, manifest path -> name, manifest path -> blob, the cards and
    comments, the open requests, the verified tip, the events since the recorded commit,
    the signature bundles, the commit shown);
    ``recorded``: the recorded events of the changed models (and of their old names).
    """
    changed, names, blobs, extras, requests, tip, new_events, signed, commit = found
    read = registry.store.read_registry(registry.at, changed)
    if read.refused or len(read.models) != len(changed):
        return "a changed manifest is invalid"
    old_models: Mapping[str, Any] = previous.get("models", {})
    history = _events_of(recorded, new_events)
    entries = tuple(
        collecting.entry_of(model, history.get(model.name, []), requests, tip, extras)
        for model in read.models
    )
    config = registry.store.read_config(registry.at)
    threads, thread_notes = collecting.read_threads(registry, entries, config.forge)
    thread_note = thread_notes[0] if thread_notes else ""
    thread_notes = [n for n in thread_notes if n != collecting.NO_FORGE]
    catalog = Catalog(
        title=registry.store.root.resolve().name,
        commit=commit,
        worktree=registry.at is None,
        models=entries,
        requests=tuple(requests),
        policy=config.policy,
        linker=Linker.from_config(config),
        notes=(*notes, *thread_notes),
        invalid=(),
        verified=tip,
        threads=threads,
        thread_note=thread_note,
        sources=_sources(blobs, extras, _config_blob(registry)),
        signed=signed,
    )
    order = list(names.values())
    kept: dict[str, ModelOutput] = {}
    kept_files: dict[str, dict[str, str]] = {}
    for name in order:
        if name in changed:
            continue
        record = old_models[name]
        kept[name] = ModelOutput(  # nothing written: its files are ``kept_files``'s
            name, {}, record["row"], record["api"], record["pages"], record["versions"]
        )
        kept_files[name] = record["files"]  # path -> SHA-256, as recorded
    return Plan(catalog, order, kept, kept_files, (), True, Path(), "", {})


def _sources(blobs: Mapping[str, str], extras: Extras, config: str | None) -> dict[str, str]:
    """Manifest, card and gitreg.yaml path -> blob id."""
    found = {**blobs, **{p: compare.blob_id(t) for p, t in extras.cards.items()}}
    if config is not None:
        found[CONFIG_FILE] = config
    return found


def _recorded_events(
    record: Path,
    changed: Sequence[str],
    old_models: Mapping[str, Any],
    new_events: Sequence[RegistryEvent],
) -> dict[str, list[record_events.Packed]] | None:
    """The recorded events of the changed models and of the names they had (renames
    followed: a model renamed since brings its old name's record); None if the record
    names events its buckets do not hold."""
    wanted = set(changed)
    for item in new_events:
        if item.event.kind == EventKind.REGISTERED_MODEL_RENAMED and item.event.name in wanted:
            wanted.add(item.event.old_name or "")
    tokens = {name: old_models[name].get("token") for name in wanted if name in old_models}
    return record_events.load(record, tokens)


def _events_of(
    recorded: Mapping[str, list[record_events.Packed]], new_events: Sequence[RegistryEvent]
) -> dict[str, list[RegistryEvent]]:
    """The events of the changed models: those recorded, then the new ones."""
    found: list[tuple[str, int, RegistryEvent]] = []
    for name in sorted(recorded):
        for packed in recorded[name]:
            event = record_events.unpack(packed)
            found.append((event.timestamp, packed[-1], event))
    found.sort(key=lambda item: (item[0], item[1]))
    return events_by_model([e for _, _, e in found] + list(new_events))


# ------------------------------------------------------------------ model records


def recorded(
    entry: ModelEntry, output: ModelOutput, catalog: Catalog, signed: dict[str, list[str]]
) -> tuple[dict[str, Any], list[record_events.Packed]]:
    """What the record keeps of a model just rendered (its token aside), and its events
    packed; ``signed``: ``group_signed(catalog.signed)``. Made where the model was rendered
    (site.parallel: on every core), with each file's time as its writer read it from the
    written file's descriptor, not by looking its path up again."""
    packed = [record_events.pack(e, i) for i, e in enumerate(entry.events)]
    return _model_record(entry, output, catalog, signed), packed


def _model_record(
    entry: ModelEntry,
    output: ModelOutput,
    catalog: Catalog,
    signed: dict[str, list[str]],
) -> dict[str, Any]:
    extras = Extras(
        {card_path(entry.name): b""} if entry.card is not None else {},
        {(entry.name, v): c for v, c in entry.comments.items()},
    )
    path = model_path(entry.name)
    card = catalog.sources.get(card_path(entry.name))
    sources = _Sources.of(catalog.sources, extras, entry.requests, catalog.verified, signed)
    inputs = sources.inputs(entry.name, path)
    inputs[1] = card
    return {
        "inputs": inputs,
        # Each file's SHA-256; its size and time apart, in the same order (fewer objects
        # for the next build to load, and its hashes as the marker lists them).
        "files": {relative: digest for relative, (digest, _s, _t) in output.files.items()},
        "sizes": tuple(size for _digest, size, _time in output.files.values()),
        "mtimes": tuple(time for _digest, _size, time in output.files.values()),
        "folders": tuple(sorted({relative.rpartition("/")[0] for relative in output.files})),
        "row": output.row,
        "api": output.api,
        "pages": output.pages,
        "versions": output.versions,
    }
