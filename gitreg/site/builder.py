"""Building the catalog: collect, render what changed, write it into the output directory.

``build`` is what ``gitreg site`` calls. Each model's files (its page, a page per version,
the comparison page and its data, its API document) are rendered by ``model_files``; the
index, its data files and ``api/models.json`` are joined from every model's row. A rebuild
into a previous build's directory re-renders only the models whose inputs changed and keeps
the other files as they are (``site.incremental``, #26); anything it cannot vouch for makes
it build everything. Progress is reported through a callback (the CLI draws the bar; this
module never prints).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.errors import InvalidParameter
from gitreg.site import api, compare, incremental, parallel, trust
from gitreg.site.catalog import Catalog, ModelEntry
from gitreg.site.incremental import ModelOutput
from gitreg.site.links import safe_url
from gitreg.site.output import SiteOutput, check_outdir
from gitreg.site.render import Pages, index_row, js_data, model_dir, version_events, when
from gitreg.store.cache import git_dir, no_gc

if TYPE_CHECKING:
    from gitreg.registry import Registry

FIRST_PAGE = 100  # index rows in the page itself
CHUNK = 1000  # models per index data file after those
STATIC_FILES = ("site.css", "site.js", "filter.js", "model.js", "compare.js")
Progress = Callable[[int, int], None]


@record.dataclass(frozen=True, slots=True)
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
    rendered: int = 0  # models whose files this build rendered (the others were kept, #26)
    incremental: bool = False  # a rebuild that kept what had not changed

    def summary(self, shown_as: str | Path) -> str:
        """The line ``gitreg site`` ends with (``shown_as``: OUTDIR as the user gave it)."""
        kept = self.models - self.rendered
        return (
            f"Wrote the catalog of {_count(self.models, 'model')} "
            f"({_count(self.versions, 'version')}): "
            f"{self.pages} pages, {self.bytes / 1e6:.1f} MB in {shown_as} "
            f"({self.seconds:.1f}s"
            + (f"; {_count(self.rendered, 'model')} rendered, {kept} unchanged" if kept else "")
            + ")"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``gitreg site --json``."""
        import dataclasses  # records read as dataclasses (core.record); only --json asks

        out = dataclasses.asdict(self)
        out["outdir"], out["index"] = str(self.outdir), str(self.index)
        out["notes"] = list(self.notes)
        return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def build(
    registry: Registry,
    outdir: str | Path,
    *,
    base_url: str | None = None,
    progress: Progress | None = None,
    full: bool = False,
) -> SiteReport:
    """Write the catalog of ``registry`` (at its ``at`` ref, else the work tree) into ``outdir``.

    Into a previous build's directory, only the models whose inputs changed are rendered
    again (``full``: all of them).

    Raises:
        OutputRefused: ``outdir`` is the registry, contains it, or holds other files.
        InvalidParameter: ``base_url`` is not an http(s) URL.
        InvalidManifest: a manifest's model name cannot be a page (see ``catalog.collect``).
    """
    started = time.perf_counter()
    target = Path(outdir)
    if base_url is not None and safe_url(base_url) is None:
        raise InvalidParameter(f"--base-url {base_url!r} is not an http:// or https:// URL")
    # The cyclic collector is paused for the whole build (#26): what a build allocates is
    # hundreds of thousands of small acyclic objects (the history's events, the pages), and
    # its passes over them, triggered by the allocations alone, cost a third of reading the
    # history of 10,000 models. Whatever cycle a build leaves is collected once it is over.
    with no_gc():
        previous = incremental.load(registry, target, full=full)
        dirs = check_outdir(target, registry.store.root, incremental.known_dirs(previous))
        plan = incremental.plan(registry, target, base_url, previous, dirs)
        # What was read stays until the end: the collector need not walk it again and again
        # while the pages are made (a full build's objects are a few hundred thousand), and a
        # worker forked to render (site.parallel) does not copy the pages holding it by
        # touching them.
        frozen_before = gc.get_freeze_count()
        gc.freeze()
        try:
            return _build(registry, plan, target, base_url, progress, started)
        finally:
            if not frozen_before:  # an embedding program's own freeze stays as it was
                gc.unfreeze()


def _build(
    registry: Registry,
    plan: incremental.Plan,
    target: Path,
    base_url: str | None,
    progress: Progress | None,
    started: float,
) -> SiteReport:
    catalog = plan.catalog
    out = SiteOutput(target, plan.listing)
    pages = Pages(catalog, base_url, git_dir(registry.store.root) / "gitreg" / "templates")
    facts = api.build_facts(
        catalog.commit, catalog.worktree, catalog.verified.commit if catalog.verified else None
    )
    for name in STATIC_FILES:
        out.write(f"static/{name}", _static(name))
    out.write("data/build.js", _build_script(catalog))
    out.write("compare.html", pages.compare())
    fresh = _render_models(pages, catalog, plan, facts, out, progress)
    # The record's parts are saved beside the index's writing when many models were
    # rendered (``site.saving``, #26); the record naming them is written last, as before.
    parts = plan.save_parts(fresh, fork=len(fresh) >= parallel.PARALLEL_FROM)
    outputs = {**plan.kept, **fresh}
    ordered = [outputs[name] for name in plan.order]
    try:
        for bad in catalog.invalid:
            if bad.has_page:
                out.write(_model_file(bad.name), pages.invalid(bad))
                out.write(api_file(bad.name), api.dumps(api.invalid_document(bad, facts)) + "\n")
        _write_index(pages, catalog, ordered, facts, out)
        removed = out.finish()
    except BaseException:
        parts.close()  # no record: the parts saved are never named by one
        raise
    plan.remember(out, fresh, parts)
    invalid_pages = sum(1 for bad in catalog.invalid if bad.has_page)
    return SiteReport(
        outdir=target,
        index=target / "index.html",
        models=len(plan.order),
        versions=sum(o.versions for o in ordered),
        pages=2 + sum(o.pages for o in ordered) + invalid_pages,  # the index, the comparison
        files=len(out.written),
        bytes=out.size,
        removed=removed,
        seconds=time.perf_counter() - started,
        notes=(
            *catalog.notes,
            *plan.notes,
            *out.notes,
            *trust.notes(catalog.invalid, catalog.verified),
        ),
        invalid=len(catalog.invalid),
        rendered=len(fresh),
        incremental=plan.partial,
    )


def _static(name: str) -> bytes:
    return (Path(__file__).parent / "static" / name).read_bytes()  # no importlib.resources


def _render_models(
    pages: Pages,
    catalog: Catalog,
    plan: incremental.Plan,
    facts: Mapping[str, Any],
    out: SiteOutput,
    progress: Progress | None,
) -> dict[str, ModelOutput]:
    """Render the models ``plan`` says changed; write their files; keep the rest."""
    todo = [e for e in catalog.models if e.name not in plan.kept]
    fresh: dict[str, ModelOutput] = {}
    total = len(plan.order)
    done = total - len(todo)
    for output in render_all(pages, catalog, todo, facts, out):
        for relative, (digest, size, _mtime) in output.files.items():
            out.record(relative, digest, size)
        fresh[output.name] = output
        done += 1
        if progress is not None:
            progress(done, total)
    for name in plan.kept:
        for relative, digest in plan.kept_files[name].items():
            out.keep(relative, digest)
    if progress is not None and not todo:
        progress(total, total)
    return fresh


def render_all(
    pages: Pages,
    catalog: Catalog,
    entries: Sequence[ModelEntry],
    facts: Mapping[str, Any],
    out: SiteOutput,
) -> Iterable[ModelOutput]:
    """Each of ``entries``'s outputs, rendered (and written) on every core when many, with
    its record for the next build (``incremental.recorded``)."""
    signed = incremental.group_signed(catalog.signed)

    def job(entry: ModelEntry, write: parallel.Write) -> ModelOutput:
        entry = catalog.complete(entry)  # its events, made here when the catalog deferred them
        output = model_files(pages, catalog, entry, facts, write)
        made = incremental.recorded(entry, output, catalog, signed)
        return record.replace(output, record=made)

    return parallel.render(job, entries, out.write_only, out.root)


def model_files(
    pages: Pages,
    catalog: Catalog,
    entry: ModelEntry,
    facts: Mapping[str, Any],
    write: Callable[[str, bytes], tuple[str, int, int]],
) -> ModelOutput:
    """Every file of one model, written: its page, its versions' pages, its comparison
    and its API document."""
    files: dict[str, tuple[str, int, int]] = {}

    def put(relative: str, text: str) -> None:
        files[relative] = write(relative, text.encode("utf-8"))

    base = model_dir(entry.name)
    put(f"{base}/index.html", pages.model(entry))
    by_version = version_events(entry)
    ordered = sorted(entry.model.versions, key=lambda mv: mv.version)
    for i, mv in enumerate(ordered):
        previous = ordered[i - 1] if i else None
        following = ordered[i + 1].version if i + 1 < len(ordered) else None
        html = pages.version(entry, mv, previous, following, by_version.get(mv.version, []))
        put(f"{base}/v{mv.version}.html", html)
    head = compare.index_of(entry.name, ordered, entry.newer)
    for number, part in compare.chunks(ordered):
        records = [
            compare.record(
                mv, by_version.get(mv.version, []), catalog.linker, when(mv.creation_timestamp)
            )
            for mv in part
        ]
        extra = f",{js_data(head)}" if number == 0 else ""
        put(
            f"{base}/data/versions-{number}.js",
            f"gitregVersions({number},{js_data(records)}{extra});\n",
        )
    changed_in = entry.events[-1].commit if entry.events else None
    document = api.model_document(entry.model, facts, entry.newer, changed_in)
    text, registered = api.model_texts(document)
    put(api_file(entry.name), text + "\n")
    return ModelOutput(
        entry.name,
        files,
        index_row(entry).to_json(),
        registered,
        pages=len(ordered) + 1,
        versions=len(ordered),
    )


def _write_index(
    pages: Pages,
    catalog: Catalog,
    ordered: Sequence[ModelOutput],
    facts: Mapping[str, Any],
    out: SiteOutput,
) -> None:
    rows = [o.row for o in ordered]
    chunks: list[str] = []
    for start in range(FIRST_PAGE, len(rows), CHUNK):
        name = f"data/models-{len(chunks)}.js"
        out.write(name, f"gitregChunk({len(chunks)},{js_data(rows[start : start + CHUNK])});\n")
        chunks.append(name)
    out.write("index.html", pages.index(rows, chunks, FIRST_PAGE))
    unverified = [o.name for o in ordered if o.row[10]]  # IndexRow.unverified
    document = api.index_document([o.api for o in ordered], facts, catalog.invalid, unverified)
    out.write("api/models.json", document)


def _build_script(catalog: Catalog) -> str:
    """``data/build.js``: the build's commit, shown on every page (see ``Pages._common``)."""
    where = "work tree at" if catalog.worktree else "commit"
    text = f"{where} {catalog.commit[:10]}"
    if catalog.verified is not None:
        text += f" · verified tip {catalog.verified.commit[:10]}"
    footer = f" from {'the work tree at' if catalog.worktree else 'commit'} {catalog.commit[:10]}"
    data = js_data({"text": text, "footer": footer})
    return (
        "(function (b) {\n"
        '  var s = document.getElementById("built-from");\n'
        "  if (s) { s.textContent = b.text; }\n"
        '  var f = document.getElementById("built-footer");\n'
        "  if (f) { f.textContent = b.footer; }\n"
        f"}}({data}));\n"
    )


def _model_file(name: str) -> str:
    return f"{model_dir(name)}/index.html"


def api_file(name: str) -> str:
    """The API document of model ``name`` (its manifest's file stem)."""
    return f"api/{model_dir(name)}.json"
