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

This module decides between the two; the plan and its record are ``site.plan``'s, the
comparison of a partial rebuild ``site.partial``'s, each model's record
``site.model_record``'s (the names the builder uses are exported here as before).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.config import CONFIG_FILE, MODELS_DIR
from gitreg.core.version import __version__
from gitreg.site import catalog as collecting
from gitreg.site import manifest_stats, partial, record_models
from gitreg.site.model_record import ModelOutput, group_signed, recorded
from gitreg.site.output import DirStat
from gitreg.site.plan import FORMAT, Plan, config_blob, load_record, record_file
from gitreg.store.cache import no_gc
from gitreg.store.verified import read_verified

if TYPE_CHECKING:
    from gitreg.registry import Registry

__all__ = [
    "FORMAT",
    "ModelOutput",
    "Plan",
    "group_signed",
    "known_dirs",
    "load",
    "plan",
    "recorded",
]

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


def load(registry: Registry, outdir: Path, *, full: bool) -> dict[str, Any]:
    """The record of the previous build into ``outdir`` ({}: none, or ``full``)."""
    if full:
        return {}
    path = record_file(registry.store.root, outdir)
    found = load_record(path)
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
    path = record_file(store.root, outdir)
    why = _unusable(previous, stamp, registry)
    recorded = known_dirs(previous)
    unchanged = {d for d, now in dirs.items() if now and recorded.get(d) == now}
    seen = partial.Outdir(outdir, unchanged, partial.recorded_marker(previous))
    if why is None:
        found = partial.partial(registry, seen, previous, path)
        if isinstance(found, Plan):
            found.record_path, found.stamp, found.previous = path, stamp, previous
            found.listing, found.dirs = seen.listing or partial.listing(seen, found), dirs
            return found
        why = found
    scanned = manifest_stats.scan(store.root) if registry.at is None else None  # before
    catalog = collecting.collect(registry, deferred=True)
    config = config_blob(registry)
    if config is not None:
        catalog = record.replace(catalog, sources={**catalog.sources, CONFIG_FILE: config})
    notes = () if why in ("", "first") else (f"every page was rendered: {why}",)
    order = [e.name for e in catalog.models]
    found_plan = Plan(catalog, order, {}, {}, notes, False, path, stamp, previous, dirs=dirs)
    if scanned is not None:
        top = f"{MODELS_DIR}/"
        ids = {p[len(top) :]: oid for p, oid in catalog.sources.items() if p.startswith(top)}
        found_plan.manifests = manifest_stats.table(*scanned, ids)
    return found_plan


def _stamp(registry: Registry, base_url: str | None) -> str:
    """What every page depends on besides the registry: gitreg, its templates, the options."""
    digest = hashlib.sha256(__version__.encode())
    # The package's own directory, as ``importlib.resources`` finds it for a package on
    # disk, without importing it (with tempfile and zipfile, 4 ms of a rebuild, #26).
    package = Path(__file__).parent
    for folder in ("templates", "static"):
        for item in sorted((package / folder).iterdir(), key=lambda i: i.name):
            if item.is_file():
                digest.update(item.name.encode() + b"\0" + item.read_bytes())
    for module in _RENDERERS:
        with contextlib.suppress(OSError):
            digest.update((package / f"{module}.py").read_bytes())
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
    if previous.get("config") != config_blob(registry):
        return f"{CONFIG_FILE} changed"
    if previous.get("verified") != read_verified(registry.store.root):
        return "the verified tip moved"
    return None
