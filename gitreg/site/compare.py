"""Versions compared side by side (#29): the data each version brings to the comparison.

The comparison works from file:// and any static host, so it is computed in the page's own
script (``static/compare.js``) from data files the build writes: one record per version,
``CHUNK`` versions per file (``models/<stem>/data/versions-N.js``; the first also lists
every version number and stage). Pre-rendering every pair would be 12.5 million pages for
a model of 5,000 versions; one file for all of them would load megabytes to compare two.
One page, ``compare.html?m=<stem>&v=3&v=5``, serves every model: it loads the model's
first file, then only the files that hold the versions picked.

A record holds what a reviewer compares: stage and aliases, source, run, storage location,
digest where the manifest records one, metrics, tags, description, who registered it and
when, its stage history (each change with its commit and pull request), and the version's
manifest entry as YAML, which the script diffs line by line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from gitreg.core import manifest
from gitreg.core.entities import ModelVersion
from gitreg.core.events import EventKind, RegistryEvent
from gitreg.site.links import Linker

CHUNK = 500  # versions per data file


def chunk_of(position: int) -> int:
    """The data file that holds the version at ``position`` (0-based, ascending order)."""
    return position // CHUNK


def chunks(versions: Sequence[ModelVersion]) -> Iterator[tuple[int, Sequence[ModelVersion]]]:
    """(file number, its versions) for versions in ascending order."""
    for start in range(0, len(versions), CHUNK):
        yield start // CHUNK, versions[start : start + CHUNK]


def index_of(name: str, ordered: Sequence[ModelVersion], unverified: bool) -> dict[str, Any]:
    """What the first data file tells the comparison page about the model: its versions,
    their stages, how many files hold them."""
    return {
        "name": name,
        "versions": [mv.version for mv in ordered],
        "stages": [mv.current_stage.value for mv in ordered],
        "chunk": CHUNK,
        "files": max(1, -(-len(ordered) // CHUNK)),
        "unverified": unverified,
    }


def record(
    mv: ModelVersion, events: Sequence[RegistryEvent], linker: Linker, when: str
) -> dict[str, Any]:
    """What the comparison shows of ``mv`` (``when``: its registration, as text)."""
    data = mv.to_manifest()
    out: dict[str, Any] = {
        "v": mv.version,
        "stage": mv.current_stage.value,
        "aliases": list(mv.aliases),
        "source": mv.source,
        "run_id": mv.run_id or "",
        "run_url": linker.run_url(mv) or "",
        "storage_location": mv.storage_location or "",
        "digest": _digest(mv, data),
        "description": mv.description or "",
        "metrics": {str(k): v for k, v in mv.metrics.items()},
        "tags": {str(k): str(v) for k, v in mv.tags.items()},
        "created": when,
        "created_by": mv.user_id or "",
        "history": [_change(e, linker) for e in events if _is_stage_change(e)],
        "yaml": _yaml(data),
    }
    return out


def _yaml(entry: dict[str, Any]) -> str:
    """``manifest.dump(entry)``: the entry is already in canonical key order, so the fast
    emitter is asked directly (no reordered copy, #26); anything it declines is ``dump``'s."""
    lines: list[str] = []
    if manifest.fast_lines(entry, "", lines):
        return "".join(lines)
    return manifest.dump(entry)


def _digest(mv: ModelVersion, data: Mapping[str, Any]) -> str:
    """The artifact's digest when the version records one (#28's field), else ''."""
    value = getattr(mv, "digest", None) or data.get("digest")
    return str(value) if value else ""


def _is_stage_change(item: RegistryEvent) -> bool:
    return item.event.kind == EventKind.MODEL_VERSION_TRANSITIONED_STAGE


def _change(item: RegistryEvent, linker: Linker) -> list[Any]:
    """[from, to, when, author, commit, pull request, link]."""
    event = item.event
    link = linker.pull_request_url(item.pull_request) or linker.commit_url(item.commit) or ""
    return [
        event.from_stage,
        event.to_stage,
        item.timestamp[:16].replace("T", " "),
        item.author,
        item.commit[:10],
        item.pull_request,
        link,
    ]
