"""The plan of a site build and the record it leaves for the next (#26).

``Plan`` says what a build renders and what it keeps; after the build, ``remember`` saves
the record beside the clone's other caches (``.git/gitreg/site/<key>.marshal``, one per
output directory), naming the buckets of models and events ``save_parts`` saved. Split
from ``site.incremental``.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.config import CONFIG_FILE
from gitreg.site import manifest_stats, record_events, record_models, saving
from gitreg.site.catalog import Catalog
from gitreg.site.model_record import ModelOutput, group_signed, recorded
from gitreg.site.output import DirStat, dirs_after
from gitreg.store import compare
from gitreg.store.cache import git_dir, no_gc

if TYPE_CHECKING:
    from gitreg.registry import Registry
    from gitreg.site.output import SiteOutput

FORMAT = 4  # 2: events apart (``site.record_events``); 3: models too; 4: files' hashes apart


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


def record_file(root: Path, outdir: Path) -> Path:
    key = hashlib.sha256(str(outdir.resolve()).encode()).hexdigest()[:20]
    return git_dir(root) / "gitreg" / "site" / f"{key}.marshal"


def load_record(path: Path) -> dict[str, Any]:
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


def config_blob(registry: Registry) -> str | None:
    text = registry.store.read_bytes(CONFIG_FILE, registry.at)
    return compare.blob_id(text) if text is not None else None
