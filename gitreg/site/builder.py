"""Building the catalog: collect once, render every page, write them into the output directory.

``build`` is what ``gitreg site`` calls. The index carries its first rows; the rest of the
model list is split into data files of ``CHUNK`` models (``data/models-N.js``), so the index
of a registry of 10,000 models shows its first page at once and fills in the rest. Progress
is reported through a callback (the CLI draws the bar; this module never prints).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core.errors import InvalidParameter
from gitreg.site import trust
from gitreg.site.catalog import collect
from gitreg.site.links import safe_url
from gitreg.site.output import SiteOutput, check_outdir
from gitreg.site.render import Pages, index_row, js_data, model_dir, version_events

if TYPE_CHECKING:
    from gitreg.registry import Registry

FIRST_PAGE = 100  # index rows in the page itself
CHUNK = 1000  # models per index data file after those
STATIC_FILES = ("site.css", "site.js")
Progress = Callable[[int, int], None]


@dataclasses.dataclass(frozen=True, slots=True)
class SiteReport:
    """What a build wrote."""

    outdir: Path
    index: Path
    models: int
    versions: int
    pages: int
    files: int
    bytes: int
    removed: int
    seconds: float
    notes: tuple[str, ...] = ()
    invalid: int = 0  # models shown as invalid (their manifests are), not in ``models`` (#22)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``gitreg site --json``."""
        out = dataclasses.asdict(self)
        out["outdir"], out["index"] = str(self.outdir), str(self.index)
        out["notes"] = list(self.notes)
        return out


def build(
    registry: Registry,
    outdir: str | Path,
    *,
    base_url: str | None = None,
    progress: Progress | None = None,
) -> SiteReport:
    """Write the catalog of ``registry`` (at its ``at`` ref, else the work tree) into ``outdir``.

    Raises:
        OutputRefused: ``outdir`` is the registry, contains it, or holds other files.
        InvalidParameter: ``base_url`` is not an http(s) URL.
        InvalidManifest: a manifest's model name cannot be a page (see ``catalog.collect``).
    """
    started = time.perf_counter()
    target = Path(outdir)
    if base_url is not None and safe_url(base_url) is None:
        raise InvalidParameter(f"--base-url {base_url!r} is not an http:// or https:// URL")
    check_outdir(target, registry.store.root)
    catalog = collect(registry)
    pages = Pages(catalog, base_url)
    out = SiteOutput(target)
    for name in STATIC_FILES:
        out.write(
            f"static/{name}",
            resources.files("gitreg.site").joinpath("static").joinpath(name).read_bytes(),
        )
    for bad in catalog.invalid:
        if bad.has_page:
            out.write(_model_file(bad.name), pages.invalid(bad))
    total, versions, rows = len(catalog.models), 0, []
    for done, entry in enumerate(catalog.models, 1):
        out.write(_model_file(entry.name), pages.model(entry))
        by_version = version_events(entry)
        ordered = sorted(entry.model.versions, key=lambda mv: mv.version)
        for i, mv in enumerate(ordered):
            previous = ordered[i - 1] if i else None
            following = ordered[i + 1].version if i + 1 < len(ordered) else None
            html = pages.version(entry, mv, previous, following, by_version.get(mv.version, []))
            out.write(_version_file(entry.name, mv.version), html)
        versions += len(entry.model.versions)
        rows.append(index_row(entry))
        if progress is not None:
            progress(done, total)
    chunks: list[str] = []
    for start in range(FIRST_PAGE, len(rows), CHUNK):
        name = f"data/models-{len(chunks)}.js"
        part = [row.to_json() for row in rows[start : start + CHUNK]]
        out.write(name, f"gitregChunk({len(chunks)},{js_data(part)});\n")
        chunks.append(name)
    out.write("index.html", pages.index(rows, chunks, FIRST_PAGE))
    removed = out.finish()
    return SiteReport(
        outdir=target,
        index=target / "index.html",
        models=total,
        versions=versions,
        pages=1 + total + versions + sum(1 for bad in catalog.invalid if bad.has_page),
        files=len(out.written),
        bytes=out.size,
        removed=removed,
        seconds=time.perf_counter() - started,
        notes=(*catalog.notes, *out.notes, *trust.notes(catalog.invalid, catalog.verified)),
        invalid=len(catalog.invalid),
    )


def _model_file(name: str) -> str:
    return f"{model_dir(name)}/index.html"


def _version_file(name: str, version: int) -> str:
    return f"{model_dir(name)}/v{version}.html"
