"""The catalog's pages, fed from a ``Catalog``: Jinja2 templates with autoescaping for the
index, the comparison and an invalid model, and for the pages a build renders per model and
version (thousands) HTML assembled from strings (``model_page``, ``version_page``, #26)
with the same escaping (``html.esc``).

Every value from the registry reaches HTML escaped (text, attributes and SVG text alike),
except two kinds of output that are made safe here: Markdown descriptions
(``markup.render_markdown``) and JSON data embedded in a page or a script file
(``js_data``, which also escapes ``<``, ``>``, ``&`` and U+2028/U+2029 so that neither
``</script>`` nor ``<!--`` can end the script early).
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from markupsafe import Markup

from gitreg.core import record
from gitreg.core.card import card_path, unmet_card
from gitreg.core.config import Policy
from gitreg.core.digest import bundle_path
from gitreg.core.digest import short as short_digest
from gitreg.core.entities import ModelVersion, Stage
from gitreg.core.events import TO_STAGE_KINDS, EventKind, RegistryEvent
from gitreg.core.fields import format_timestamp
from gitreg.core.names import file_stem
from gitreg.site import index_page, model_page, version_page
from gitreg.site.catalog import Catalog, ModelEntry, Request
from gitreg.site.chart import ChartLinks, build_chart, short_time
from gitreg.site.html import CSP as _CSP
from gitreg.site.html import esc, layout
from gitreg.site.markup import render_markdown
from gitreg.site.trend import build_trends
from gitreg.site.trust import InvalidEntry
from gitreg.site.version_page import DiffRow
from gitreg.store.timeline import aliases_in

if TYPE_CHECKING:
    from gitreg.integrations.forges.base import ThreadComment

_JS_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


_JS_TABLE = str.maketrans(_JS_ESCAPES)


def js_data(value: Any) -> Markup:
    """``value`` as JSON that is safe inside ``<script>`` and in a ``.js`` file."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.translate(_JS_TABLE))


# A model's pages name it and link to its versions some twenty times: its stem (checked
# character by character) and times are worked out once per model, not once per link (#26).
@functools.lru_cache(maxsize=256)
def _stem(name: str) -> str:
    return file_stem(name)


@functools.lru_cache(maxsize=256)
def _quoted_stem(name: str) -> str:
    return quote(file_stem(name), safe="")


def model_dir(name: str) -> str:
    """The directory of a model's pages: its manifest's file stem (portable, reversible)."""
    return f"models/{_stem(name)}"


def model_path(name: str) -> str:
    """The model's page as a link from the site's root (the stem, percent-encoded)."""
    return f"models/{_quoted_stem(name)}/index.html"


def version_path(name: str, version: int) -> str:
    """A version's page as a link from the site's root."""
    return f"models/{_quoted_stem(name)}/v{version}.html"


def compare_url(name: str) -> str:
    """The comparison page of model ``name``, from the site's root."""
    return f"compare.html?m={_quoted_stem(name)}"


@functools.lru_cache(maxsize=1024)
def when(ms: int) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM`` UTC ('' for none)."""
    return format_timestamp(ms)[:16].replace("T", " ") if ms else ""


@record.dataclass(frozen=True, slots=True)
class IndexRow:
    """One model in the index: MLflow's model-list columns."""

    name: str
    latest: int | None
    aliases: tuple[tuple[str, int], ...]
    staging: tuple[int, ...]
    production: tuple[int, ...]
    creator: str
    modified: int
    tags: tuple[tuple[str, str], ...]
    pending: tuple[tuple[str, str | None], ...]
    unverified: bool = False  # changed after the verified tip (#22)
    text: str = ""  # description and model card, what the search reads besides the rest (#29)
    stale: bool = False  # one of its open requests is stale (#29)

    @classmethod
    def from_json(cls, row: Sequence[Any]) -> IndexRow:
        """The row ``to_json`` made (a rebuild keeps rows as the record holds them)."""
        return cls(
            name=row[0],
            latest=row[1],
            aliases=tuple((str(a), int(v)) for a, v in row[2]),
            staging=tuple(row[3]),
            production=tuple(row[4]),
            creator=row[5],
            modified=row[6],
            tags=tuple((str(k), str(v)) for k, v in row[7]),
            pending=tuple((str(label), url) for label, url in row[8]),
            unverified=bool(row[10]),
            text=str(row[11]),
            stale=bool(row[12]),
        )

    def to_json(self) -> list[Any]:
        """The compact array the index script reads (see static/site.js)."""
        return [
            self.name,
            self.latest,
            [list(a) for a in self.aliases],
            list(self.staging),
            list(self.production),
            self.creator,
            self.modified,
            [list(t) for t in self.tags],
            [list(p) for p in self.pending],
            _quoted_stem(self.name),
            self.unverified,
            self.text,
            self.stale,
        ]


def index_row(entry: ModelEntry) -> IndexRow:
    """The index's row for one model."""
    model = entry.model
    numbers = [mv.version for mv in model.versions]
    return IndexRow(
        name=model.name,
        latest=max(numbers) if numbers else None,
        aliases=tuple((str(a), int(v)) for a, v in model.aliases.items()),
        staging=_in_stage(model.versions, Stage.STAGING),
        production=_in_stage(model.versions, Stage.PRODUCTION),
        creator=str(model.user_id or ""),
        modified=entry.last_modified,
        tags=tuple((str(k), str(v)) for k, v in model.tags.items()),
        pending=tuple((r.label, r.url) for r in entry.requests),
        unverified=entry.newer,
        text=search_text(entry),
        stale=any(r.stale for r in entry.requests),
    )


MAX_SEARCH_TEXT = 8000  # characters of description and card a model brings to the search


def search_text(entry: ModelEntry) -> str:
    """What the index's search matches besides names, tags and aliases: the description and
    the model card's words (cut at ``MAX_SEARCH_TEXT``)."""
    parts = [entry.model.description or ""]
    if entry.card is not None:
        parts.append(entry.card.text)
    return "\n".join(p for p in parts if p)[:MAX_SEARCH_TEXT]


def _in_stage(versions: Sequence[ModelVersion], stage: Stage) -> tuple[int, ...]:
    return tuple(mv.version for mv in versions if mv.current_stage == stage)


class Pages:
    """Renders the pages of one catalog."""

    def __init__(
        self, catalog: Catalog, base_url: str | None = None, cache: Path | None = None
    ) -> None:
        """``cache``: a directory where the compiled templates are kept between builds (the
        clone's git directory holds it: compiling them costs a tenth of a second, #26)."""
        self.catalog = catalog
        self.base_url = base_url.rstrip("/") + "/" if base_url else None
        self._cache = cache
        self._invalid: Any = None  # Jinja2, loaded for the first invalid model's page
        self._helpers = version_page.Helpers(
            change=self.change,
            pull_request=self.pull_request,
            unverified=self.unverified,
            badge=self._badge,
            when=when,
            thread_note=catalog.thread_note,
        )

    def unverified(self, item: RegistryEvent) -> bool:
        """Whether the change ``item`` was made after the verified tip (#22)."""
        tip = self.catalog.verified
        return tip is not None and tip.newer(item.commit)

    def bundle(self, mv: ModelVersion) -> str | None:
        """The path of the version's model-signing bundle, if the registry keeps one (#28)."""
        signed = self.catalog.signed
        if not signed:  # most registries keep no bundle: no path to work out per version
            return None
        path = bundle_path(mv.name, mv.version)
        return path if path in signed else None

    def pull_request(self, number: int) -> Markup:
        """``pull request #N``, linked when the registry says where pull requests are."""
        url = self.catalog.linker.pull_request_url(number)
        if url is None:
            return Markup(f"pull request #{int(number)}")
        return Markup(f'<a class="pr" href="{esc(url)}">pull request #{int(number)}</a>')

    def change(self, item: RegistryEvent) -> Markup:
        """A commit (linked when possible), its pull request, when and by whom, and who
        approved it when the audit recorded that (#24); escaped (``esc``: markupsafe's
        escaping without a ``Markup`` per value, 18,000 times in a build of 2,000 models)."""
        code = f"<code>{esc(item.commit[:10])}</code>"
        url = self.catalog.linker.commit_url(item.commit)
        out = f'<a href="{esc(url)}">{code}</a>' if url else code
        if item.pull_request is not None:
            out += f" ({self.pull_request(item.pull_request)})"
        out += f", {esc(short_time(item.timestamp))} by {esc(item.author)}"
        if item.approved_by is not None:
            names = esc(", ".join(item.approved_by) or "nobody")
            out += f'; approved by <span class="approved">{names}</span>'
        return Markup(out)

    def _common(self, path: str, stamped: bool = False) -> dict[str, Any]:
        """What every page needs; only the index names the build's commit in its HTML
        (``stamped``): the others take it from ``data/build.js``, so a page a rebuild keeps
        never names an older commit (#26)."""
        depth = path.count("/")
        canonical = self.base_url + path if self.base_url else None
        return {"root": "../" * depth, "canonical": canonical, "stamped": stamped}

    def index(self, rows: Sequence[list[Any]], chunks: Sequence[str], first_page: int) -> str:
        """The index page: the first rows (``IndexRow.to_json``) in the page, the rest named
        as data files."""
        first = [IndexRow.from_json(row) for row in rows[:first_page]]
        data: dict[str, Any] = {
            "rows": list(rows[:first_page]),
            "chunks": list(chunks),
            "total": len(rows),
        }
        tip = self.catalog.verified
        if tip is not None:  # the title of the script's "unverified" badges
            data["unverified"] = (
                f"changed after the verified tip {tip.commit[:10]}: not yet accepted by a "
                "clean audit"
            )
        common = self._common("index.html", True)
        main = index_page.index_main(
            self.catalog, first, len(rows), self._badge(), (model_path, version_path, when)
        )
        scripts = (
            f'<script type="application/json" id="site-data">{js_data(data)}</script>\n'
            '<script src="static/filter.js"></script>\n<script src="static/site.js"></script>\n'
        )
        return index_page.stamped_layout(
            self.catalog, "Registered models", common["root"], common["canonical"], main, scripts
        )

    def model(self, entry: ModelEntry) -> str:
        """A model's page: description, timeline, versions, open requests."""
        name = entry.name
        protected = [a for a in _aliases(entry) if self.catalog.policy.alias_protected(a)]
        links = ChartLinks(
            version=lambda v: f"v{v}.html",
            pull_request=self.catalog.linker.pull_request_url,
            commit=self.catalog.linker.commit_url,
        )
        chart = build_chart(name, entry.events, protected, links)
        versions = sorted(entry.model.versions, key=lambda mv: mv.version, reverse=True)
        path = model_path(name)
        common = self._common(path)
        tip = self.catalog.verified
        view = model_page.ModelView(
            entry=entry,
            versions=versions,
            chart=chart,
            trends=build_trends(entry.model.versions, entry.events),
            card_file=card_path(name),
            card_rules=card_rules(entry, self.catalog.policy),
            protected=protected,
            since_verified=[
                e
                for e in entry.events
                if self.unverified(e) and e.event.kind not in TO_STAGE_KINDS.values()
            ],
            verified_commit=tip.commit if tip is not None else "",
            compare=common["root"] + compare_url(name),
            root=common["root"],
        )
        main = model_page.main(view, self._helpers, self.bundle, self.catalog.linker.run_url)
        return layout(
            esc(name),
            self.catalog.title,
            common["root"],
            common["canonical"],
            main,
            f'<script src="{common["root"]}static/model.js"></script>\n',
        )

    def invalid(self, entry: InvalidEntry) -> str:
        """The page of a model whose manifest is invalid: its findings, none of its state."""
        if self._invalid is None:
            self._invalid = self._templates().get_template("invalid.html")
        return str(self._invalid.render(entry=entry, **self._common(model_path(entry.name))))

    def _templates(self) -> Any:
        """The Jinja2 environment of the templates left (an invalid model's page), made the
        first time one is needed: every other page is assembled from strings (#26)."""
        from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined

        bytecode = None
        if self._cache is not None:
            with contextlib.suppress(OSError):
                self._cache.mkdir(parents=True, exist_ok=True)
                bytecode = FileSystemBytecodeCache(str(self._cache))
        env = Environment(
            loader=PackageLoader("gitreg.site", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # templates ship in the package; no stat() per page
            bytecode_cache=bytecode,
        )
        env.filters.update(when=when, when_iso=short_time, markdown=render_markdown)
        env.globals.update(
            change=self.change,
            pull_request=self.pull_request,
            catalog=self.catalog,
            csp=_CSP,
            model_path=model_path,
            version_path=version_path,
            compare_url=compare_url,
            links=self.catalog.linker,
        )
        env.globals.update(unverified=self.unverified, bundle=self.bundle, short=short_digest)
        return env

    def version(
        self,
        entry: ModelEntry,
        mv: ModelVersion,
        previous: ModelVersion | None,
        following: int | None,
        events: Sequence[RegistryEvent],
    ) -> str:
        """A version's page: lineage, metrics and tags, and what changed since ``previous``."""
        transitions = [
            e for e in events if e.event.kind == EventKind.MODEL_VERSION_TRANSITIONED_STAGE
        ]
        path = version_path(entry.name, mv.version)
        view = version_page.VersionView(
            name=entry.name,
            mv=mv,
            previous=previous.version if previous is not None else None,
            following=following,
            registered=_last(events, EventKind.MODEL_VERSION_CREATED),
            transitions=transitions,
            promotion=_promotion(transitions, mv),
            metric_diff=_diff(previous.metrics if previous else None, mv.metrics, numeric=True),
            tag_diff=_diff(previous.tags if previous else None, mv.tags),
            run_url=self.catalog.linker.run_url(mv),
            bundle=self.bundle(mv),
            comments=entry.comments.get(mv.version, ()),
            threads=self._threads(entry, mv, events),
            root="../" * path.count("/"),
        )
        common = self._common(path)
        return layout(
            f"{esc(entry.name)} version {mv.version}",
            self.catalog.title,
            common["root"],
            common["canonical"],
            version_page.main(view, self._helpers),
            f'<script src="{common["root"]}static/site.js"></script>\n',
        )

    def _badge(self) -> str:
        """The ``unverified`` badge (``_macros.html``'s ``unverified_badge``)."""
        tip = self.catalog.verified
        commit = esc(tip.commit[:10]) if tip is not None else ""
        return (
            f'<span class="badge unverified" title="changed after the verified tip {commit}: '
            'not yet accepted by a clean audit">unverified</span>'
        )

    def _threads(
        self, entry: ModelEntry, mv: ModelVersion, events: Sequence[RegistryEvent]
    ) -> list[tuple[int, Request | None, Sequence[ThreadComment] | None]]:
        """(pull request, its open request if any, its conversation or None) for each
        request about ``mv``: the open ones first, then those merged (newest first)."""
        out: dict[int, tuple[int, Request | None, Sequence[ThreadComment] | None]] = {}
        asked = self.catalog.threads
        for request in entry.requests:
            if request.version == mv.version and request.number is not None:
                out[request.number] = (request.number, request, asked.get(request.number))
        for item in reversed(events):
            number = item.pull_request
            if number is not None and number not in out:
                out[number] = (number, None, asked.get(number))
        return list(out.values())

    def compare(self) -> str:
        """The comparison page, one for every model (``compare.html?m=<stem>&v=..``)."""
        common = self._common("compare.html")
        return layout(
            "Compare versions",
            self.catalog.title,
            common["root"],
            common["canonical"],
            index_page.COMPARE_MAIN,
            f'<script src="{common["root"]}static/compare.js"></script>\n',
        )


def card_rules(entry: ModelEntry, policy: Policy) -> list[tuple[str, tuple[str, ...], list[str]]]:
    """(what holds, the card sections the policy requires of it, those unmet) for the card
    requirements that apply to ``entry``'s model now (its stages and aliases)."""
    rules = []
    path = card_path(entry.name)
    for stage, requirement in policy.requirements.items():
        if requirement.card and any(mv.current_stage == stage for mv in entry.model.versions):
            unmet = unmet_card(entry.card, requirement.card, path)
            rules.append((f"A version in {stage.value}", requirement.card, unmet))
    for alias in entry.model.aliases:
        found = policy.alias_requirement(alias)
        if found is not None and found.card:
            rules.append((f"@{alias}", found.card, unmet_card(entry.card, found.card, path)))
    return rules


def version_events(entry: ModelEntry) -> dict[int, list[RegistryEvent]]:
    """The model's events about each version, oldest first."""
    out: dict[int, list[RegistryEvent]] = {}
    for item in entry.events:
        if item.event.version is not None:
            out.setdefault(item.event.version, []).append(item)
    return out


def _aliases(entry: ModelEntry) -> list[str]:
    names = dict.fromkeys(aliases_in(entry.events))
    names.update(dict.fromkeys(str(a) for a in entry.model.aliases))
    return list(names)


def _last(events: Sequence[RegistryEvent], kind: EventKind) -> RegistryEvent | None:
    found = [e for e in events if e.event.kind == kind]
    return found[-1] if found else None


def _promotion(transitions: Sequence[RegistryEvent], mv: ModelVersion) -> RegistryEvent | None:
    """The change that put the version in Production last, else in the stage it is in."""
    for stage in (Stage.PRODUCTION.value, mv.current_stage.value):
        found = [e for e in transitions if e.event.to_stage == stage]
        if found:
            return found[-1]
    return None


def _diff(
    before: Mapping[str, Any] | None, after: Mapping[str, Any], numeric: bool = False
) -> list[DiffRow]:
    """Each key of ``after`` (and of ``before`` that is gone), beside its earlier value."""
    old = dict(before or {})
    rows = []
    for key in [*after, *(k for k in old if k not in after)]:
        was, now = old.get(key), after.get(key)
        if key not in after:
            change = "removed"
        elif key not in old:
            change = "added" if before is not None else "same"
        else:
            change = "same" if was == now else "changed"
        delta = _delta(was, now) if numeric and change == "changed" else None
        rows.append(
            DiffRow(str(key), _text(was, key in old), _text(now, key in after), change, delta)
        )
    return rows


def _text(value: Any, present: bool) -> str | None:
    return str(value) if present else None


def _delta(was: Any, now: Any) -> str | None:
    numbers = (int, float)
    if isinstance(was, bool) or isinstance(now, bool):
        return None
    if not isinstance(was, numbers) or not isinstance(now, numbers):
        return None
    return f"{now - was:+.4g}"
