"""A partial rebuild (#26): which models changed since the recorded build, and the plan that
renders only those and keeps the others' files.

The inputs of every model are compared with the record's (``model_record.Sources``); a
model whose inputs are the same and whose files are intact keeps them. Anything the record
cannot vouch for answers why, and the caller builds everything. Split from
``site.incremental``.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import record, yaml_memo
from gitreg.core.config import CONFIG_FILE
from gitreg.core.events import EventKind, RegistryEvent
from gitreg.site import catalog as collecting
from gitreg.site import manifest_stats, record_events
from gitreg.site.catalog import Catalog, Extras
from gitreg.site.links import Linker
from gitreg.site.model_record import ModelOutput, Sources
from gitreg.site.output import Listing, marker_bytes, previous_listing
from gitreg.site.plan import Plan, config_blob
from gitreg.site.trust import tip_at
from gitreg.store import compare, reading, ref_lookup
from gitreg.store.remote import has_remote
from gitreg.store.timeline import events_by_model

if TYPE_CHECKING:
    from gitreg.registry import Registry

MAX_SHARE = 0.5  # more than this share of models changed: build everything


@record.dataclass
class Outdir:
    """The output directory as the previous build left it (read only)."""

    root: Path
    unchanged: set[str]  # directories whose entries are as the previous build left them
    marker: tuple[str, dict[str, str]] | None  # the marker's SHA-256 and others as recorded
    listing: dict[str, str | None] | None = None
    verified: bool | None = None  # whether the marker is byte for byte the one recorded
    raw: bytes | None = None  # the marker's bytes, when they are the ones recorded

    @property
    def previous(self) -> dict[str, str | None]:
        if self.listing is None:
            self.listing = previous_listing(self.root)
        return self.listing

    def marker_as_recorded(self) -> bool:
        """Whether the marker is the one the previous build wrote (by its SHA-256): then it
        lists exactly the files the record says, and need not be parsed (#26)."""
        if self.verified is None:
            raw = marker_bytes(self.root) if self.marker is not None else None
            digest = hashlib.sha256(raw).hexdigest() if raw is not None else None
            self.verified = self.marker is not None and digest == self.marker[0]
            self.raw = raw if self.verified else None
        return self.verified


def recorded_marker(previous: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The marker's SHA-256 and the files of no one model, as the record holds them."""
    digest, others = previous.get("marker"), previous.get("others")
    if not isinstance(digest, str) or not digest or not isinstance(others, dict):
        return None
    if not all(type(k) is str and type(v) is str for k, v in others.items()):
        return None
    return digest, others


def listing(out: Outdir, plan: Plan) -> dict[str, str | None] | None:
    """What ``SiteOutput.finish`` needs of the previous marker when it is the one recorded:
    the files it lists that this build may not write again (the files of no one model, and
    those of the models not kept), with the marker's bytes (``Listing.raw``, which
    ``finish`` patches); None: it is parsed as usual."""
    if out.marker is None or not out.marker_as_recorded():
        return None
    found = Listing(out.marker[1])
    found.raw = out.raw
    for name, part in plan.previous.get("models", {}).items():
        if name not in plan.kept:
            found.update(part["files"])
    return found


def partial(
    registry: Registry, out: Outdir, previous: Mapping[str, Any], record: Path
) -> Plan | str:
    """The plan of a rebuild that keeps what did not change, or why it cannot (``record``:
    where the previous build's record is, its events beside it)."""
    store, at = registry.store, registry.at
    # The changed manifests are parsed, checked and diffed below; what PyYAML's resolvers
    # say (the checks' canonical scalars) is in the memo a CLI write keeps, so a rebuild
    # need not import PyYAML for it (about 9 ms, #26). A memo that cannot be read is ignored.
    yaml_memo.read_file(store.state_dir)
    commit = (None if at else ref_lookup.head_commit(store.root)) or store.resolve_ref(at or "HEAD")
    old_commit = str(previous.get("commit") or "")
    if old_commit != commit and not _descends(store.root, old_commit, commit):
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
    sources = Sources.of(blobs, extras, requests, tip, signed)
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
    yaml_memo.save_file(store.state_dir)  # only when this rebuild had to ask PyYAML
    if isinstance(planned, Plan):
        planned.manifests = table
    return planned


def _descends(root: Path, old: str, new: str) -> bool:
    """Whether commit ``new`` descends from ``old``: read in process for a parent (a rebuild
    after one commit, #26), else asked of git."""
    return ref_lookup.is_parent(root, old, new) or reading.is_ancestor(root, old, new)


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


def _same(kept: Mapping[str, Any] | None, inputs: list[Any], out: Outdir) -> bool:
    """Whether a model's record says the same inputs, and its files are intact."""
    if kept is None or kept.get("inputs") != inputs:
        return False
    return _files_intact(kept, out)


def _files_intact(part: Mapping[str, Any], out: Outdir) -> bool:
    """Whether each file of a model's record (``part``) is still the regular file written:
    in a directory whose entries did not change since (nothing removed, added or renamed
    there), or else with the marker's hash, size and modification time as recorded."""
    files, folders = part.get("files"), part.get("folders")
    if not isinstance(files, dict) or not isinstance(folders, tuple):
        return False
    if out.unchanged.issuperset(folders):  # one C call per model (#26)
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
        sources=_sources(blobs, extras, config_blob(registry)),
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
