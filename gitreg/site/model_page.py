"""A model's page, assembled from strings (#26): one per model in every build.

It was ``templates/model.html`` (with ``_card.html``, ``timeline.html``, ``_trends.html``
and two macros); the markup is the same, byte for byte, and every value is escaped by
``html.esc`` as autoescape escaped it. ``render.Pages.model`` decides what the page shows
(the chart's and the trends' geometry come from ``site.chart`` and ``site.trend``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Number
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.digest import short
from gitreg.site.html import esc
from gitreg.site.markup import render_markdown
from gitreg.site.version_page import Helpers

if TYPE_CHECKING:
    from gitreg.core.card import Card
    from gitreg.core.entities import ModelVersion
    from gitreg.core.events import RegistryEvent
    from gitreg.core.finding import Finding
    from gitreg.site.catalog import ModelEntry, Request
    from gitreg.site.chart import Chart
    from gitreg.site.trend import Trends

_CRUMB = "\u203a"  # the breadcrumb separator
_CARD_FIELDS = (
    ("intended_use", "Intended use"),
    ("limitations", "Limitations"),
    ("evaluation", "Evaluation"),
)
_CARD_KNOWN = ("owners", "risk_level", "intended_use", "limitations", "evaluation")
_NO_OWNERS = '<span class="none">not named</span>'
_STALE = (
    '<span class="badge stale" title="its base moved and it no longer applies: it must be '
    'made again on the current registry">stale</span>'
)


@record.dataclass(frozen=True, slots=True)
class ModelView:
    """Everything the model page shows, decided by ``Pages.model``."""

    entry: ModelEntry
    versions: Sequence[ModelVersion]  # newest first
    chart: Chart
    trends: Trends
    card_file: str
    card_rules: Sequence[tuple[str, Sequence[str], Sequence[str]]]
    protected: Sequence[str]
    since_verified: Sequence[RegistryEvent]
    verified_commit: str  # the verified tip's commit ('' when there is none)
    compare: str  # the comparison page's link from this page
    root: str


def main(view: ModelView, h: Helpers, bundle: Any, run_url: Any) -> str:
    """The page's ``<main>`` content (``bundle``/``run_url``: a version's signing bundle
    and its run's link, or None)."""
    entry = view.entry
    model, name = entry.model, esc(entry.name)
    badge = f" {h.badge()}" if entry.newer else ""
    out = [
        f'<nav class="crumbs"><a href="{view.root}index.html">Registered models</a> '
        f"{_CRUMB} {name}</nav>\n<h1>{name}{badge}</h1>\n"
    ]
    if entry.newer:
        out.append(
            '<p class="unverified-note" id="unverified">Changed after the verified tip, commit '
            f"<code>{esc(view.verified_commit[:10])}</code>: what this page shows has not "
            "been accepted by a clean audit yet.</p>\n"
        )
    out.append(_facts(view, h))
    description = (
        f'<div class="markdown">{render_markdown(model.description)}</div>'
        if model.description
        else '<p class="none">No description.</p>'
    )
    out.append(f'<section class="description">\n<h2>Description</h2>\n{description}</section>\n')
    out.append(_card(view))
    out.append(_requests(entry.requests, view.root))
    out.append(_since_verified(view, h))
    out.append(f"<section>\n<h2>Timeline</h2>\n{_timeline(view)}</section>\n")
    out.append(_trends(view.trends))
    out.append(_versions(view, h, bundle, run_url))
    return "".join(out)


def _facts(view: ModelView, h: Helpers) -> str:
    entry = view.entry
    model = entry.model
    by = f" by {esc(model.user_id)}" if model.user_id else ""
    aliases = "".join(
        f'<a class="alias" href="v{esc(number)}.html">@{esc(alias)} -&gt; {esc(number)}</a> '
        for alias, number in model.aliases.items()
    )
    tags = "".join(
        f'<span class="tag">{esc(key)}={esc(value)}</span> ' for key, value in model.tags.items()
    )
    return (
        '<dl class="facts">\n'
        f"<dt>Created</dt><dd>{esc(h.when(model.creation_timestamp))}{by}</dd>\n"
        f"<dt>Last modified</dt><dd>{esc(h.when(entry.last_modified))}</dd>\n"
        f"<dt>Aliases</dt><dd>{aliases or 'none'}</dd>\n"
        f"<dt>Tags</dt><dd>{tags or 'none'}</dd>\n"
        f"<dt>Versions</dt><dd>{len(model.versions)} (the next is "
        f"{esc(model.next_version)})</dd>\n</dl>\n"
    )


def _card(view: ModelView) -> str:
    entry, card = view.entry, view.entry.card
    out = ['<section class="card" id="card">\n<h2>Model card</h2>\n']
    if entry.card_findings:
        items = "".join(_finding(f) for f in entry.card_findings)
        out.append(
            '<div class="card-invalid" id="card-invalid"><p><span class="badge invalid">card '
            f"invalid</span> The card <code>{esc(view.card_file)}</code> has problems; "
            f'<code>gitreg validate</code> lists them:</p>\n<ul class="findings">{items}</ul>'
            "</div>\n"
        )
    if card:
        out.append(_card_facts(card))
    if view.card_rules:
        out.append('<ul class="card-rules">\n')
        out.extend(_card_rule(*rule) for rule in view.card_rules)
        out.append("</ul>\n")
    if not card and not entry.card_findings:
        out.append(
            f'<p class="none">No model card. Write <code>{esc(view.card_file)}</code> '
            f"(<code>gitreg card {esc(entry.name)} --edit FILE</code>): intended use, "
            "limitations, evaluation, owners, risk level.</p>\n"
        )
    out.append("</section>")
    return "".join(out)


def _finding(finding: Finding) -> str:
    line = f":{esc(finding.line)}" if finding.line else ""
    return (
        f"<li><code>{esc(finding.path)}{line}</code> <strong>{esc(finding.code)}</strong>: "
        f"{esc(finding.message)}</li>"
    )


def _card_facts(card: Card) -> str:
    owners = ", ".join(f'<span class="owner">{esc(o)}</span>' for o in card.owners)
    risk = (
        f'<span class="risk risk-{esc(card.risk_level)}">{esc(card.risk_level)}</span>'
        if card.risk_level
        else '<span class="none">not given</span>'
    )
    out = [
        '<dl class="facts card-facts">\n'
        f"<dt>Owners</dt><dd>{owners or _NO_OWNERS}</dd>\n"
        f"<dt>Risk level</dt><dd>{risk}</dd>\n"
    ]
    out.extend(
        f"<dt>{esc(key)}</dt><dd>{esc(value)}</dd>\n"
        for key, value in card.front.items()
        if key not in _CARD_KNOWN
        and not isinstance(value, Mapping)
        and isinstance(value, str | Number)
    )
    out.append("</dl>\n")
    for key, label in _CARD_FIELDS:
        text = card.front.get(key)
        if isinstance(text, str):
            out.append(
                f'<h3 class="card-field">{label}</h3><div class="markdown">'
                f"{render_markdown(text)}</div>"
            )
    out.append(f'<div class="markdown card-body">{render_markdown(card.body)}</div>\n')
    return "".join(out)


def _card_rule(what: str, sections: Sequence[str], unmet: Sequence[str]) -> str:
    state = (
        f'<span class="badge invalid">missing</span> {esc("; ".join(map(str, unmet)))}'
        if unmet
        else '<span class="badge ok">met</span>'
    )
    return f"<li>{esc(what)} requires {esc(', '.join(map(str, sections)))}: {state}</li>\n"


def _requests(requests: Sequence[Request], root: str) -> str:
    if not requests:
        return ""
    items = "".join(f"{request_item(r)}\n" for r in requests)
    return f'<section class="requests">\n<h2>Open requests</h2>\n<ul>\n{items}</ul>\n</section>\n'


def request_item(request: Request, named: str = "") -> str:
    """One open request in a list (``_macros.html``'s ``request_item``); ``named``: the
    model's link (HTML) where a list names it (the index), none on the model's own page."""
    badge = _STALE if request.stale else '<span class="badge pending">pending</span>'
    label = esc(request.label)
    link = f'<a class="pr" href="{esc(request.url)}">{label}</a>' if request.url else label
    number = f" · #{esc(request.number)}" if request.number is not None else ""
    title = f" · {esc(request.title)}" if request.title else ""
    return (
        f'<li class="request">{badge}{named}{link}{number} · branch '
        f"<code>{esc(request.branch)}</code>{title}</li>"
    )


def _since_verified(view: ModelView, h: Helpers) -> str:
    if not view.since_verified:
        return ""
    items = "".join(
        f"<li>{esc(item.event.describe())}: {esc(h.change(item))} {h.badge()}</li>\n"
        for item in view.since_verified
    )
    return (
        '<section class="since-verified">\n<h2>Not yet verified <span class="count">'
        f'{len(view.since_verified)}</span></h2>\n<ol class="changes">\n{items}</ol>\n'
        "</section>\n"
    )


def _timeline(view: ModelView) -> str:
    chart = view.chart
    width, height = chart.width, chart.height
    out = [
        '<figure class="timeline">\n<div class="scroll">\n<svg xmlns="http://www.w3.org/2000/svg"'
        f' role="img" aria-labelledby="timeline-title" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">\n<title id="timeline-title">{esc(chart.title)}</title>\n'
    ]
    for lane in chart.lanes:
        out.append(
            f'<g class="lane lane-{esc(lane.kind)}">\n<rect class="lane-bg" x="0" y="{lane.y}" '
            f'width="{width}" height="28" rx="3"></rect>\n<text class="lane-label" x="8" '
            f'y="{lane.y + 18}">{esc(lane.label)}</text>\n</g>\n'
        )
    axis = chart.axis_y
    for tick in chart.ticks:
        date = (
            f'<text class="tick-date" x="{tick.x}" y="{axis + 28}">{esc(tick.date)}</text>'
            if tick.date
            else ""
        )
        out.append(
            f'<line class="grid" x1="{tick.x}" y1="{chart.lanes[0].y}" x2="{tick.x}" '
            f'y2="{axis + 2}"></line>\n<text class="tick-time" x="{tick.x}" y="{axis + 14}">'
            f"{esc(tick.time)}</text>\n{date}"
        )
    out.extend(_bar(bar) for bar in chart.bars)
    out.extend(_mark(mark) for mark in chart.marks)
    protected = " or a protected alias" if view.protected else ""
    hidden = ""
    if chart.hidden:
        plural = "s" if chart.hidden > 1 else ""
        hidden = f" {chart.hidden} earlier change{plural} not drawn."
    out.append(
        "</svg>\n</div>\n<figcaption>\nEach bar is the version that held Production"
        f"{protected}; a circle starts it (the promotion or the alias move), ↺ marks a "
        "rollback to a version that held it before, and #N is the pull request that made the "
        f"change (click a bar to open it).\n{hidden}</figcaption>\n</figure>"
    )
    return "".join(out)


def _linked(href: str | None, inner: str) -> str:
    return f'<a href="{esc(href)}">{inner}</a>' if href else inner


def _bar(bar: Any) -> str:
    kind = (" rollback" if bar.rollback else "") + (" ongoing" if bar.ongoing else "")
    number = f" #{esc(bar.pull_request)}" if bar.pull_request is not None else ""
    return _linked(
        bar.href,
        f'<g class="bar v{esc(bar.color)}{kind}">\n<title>{esc(bar.title)}</title>\n'
        f'<rect x="{bar.x}" y="{bar.y + 3}" width="{bar.width}" height="22" rx="4"></rect>\n'
        f'<circle cx="{bar.x}" cy="{bar.y + 14}" r="5"></circle>\n'
        f'<text class="bar-label" x="{bar.x + 9}" y="{bar.y + 18}">{esc(bar.label)}{number}'
        "</text>\n</g>\n",
    )


def _mark(mark: Any) -> str:
    return _linked(
        mark.href,
        f'<g class="mark mark-{esc(mark.kind)} v{esc(mark.color)}">\n<title>{esc(mark.title)}'
        f'</title>\n<circle cx="{mark.x}" cy="{mark.y + 14}" r="6"></circle>\n'
        f'<text class="mark-label" x="{mark.x + 9}" y="{mark.y + 18}">{esc(mark.label)}</text>'
        "\n</g>\n",
    )


def _trends(trends: Trends) -> str:
    if not trends.charts:
        return ""
    out = [
        '<section class="trends" id="trends">\n<h2>Metric trends</h2>\n<p class="legend">Each '
        "point is a version, placed by its number and coloured by its stage now: "
        '<span class="key stage-production">Production</span> <span class="key '
        'stage-staging">Staging</span> <span class="key stage-none">None</span> <span '
        'class="key stage-archived">Archived</span>; a ring marks a version that served in '
        "Production before. Hover or focus a point for its value and stage history; click it "
        'to open the version.</p>\n<div class="trend-grid">\n'
    ]
    for chart in trends.charts:
        metric = esc(chart.metric)
        best = (
            f' <span class="best">highest: version {esc(chart.best)}</span>'
            if chart.best is not None
            else ""
        )
        points = "".join(
            f'<a {esc(p.geometry)} data-tip="{esc(p.tip)}"><title>{esc(p.tip)}</title></circle></a>'
            for p in chart.points
        )
        out.append(
            f'<figure class="trend" data-metric="{metric}">\n<figcaption><strong>{metric}'
            f'</strong>{best}</figcaption>\n<svg xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-label="{metric} by version number" width="{chart.width}" '
            f'height="{chart.height}" viewBox="0 0 {chart.width} {chart.height}">\n'
            f"{esc(chart.frame)}\n{points}</svg>\n</figure>\n"
        )
    out.append('</div>\n<div class="trend-tip" id="trend-tip" role="status" hidden></div>\n')
    if trends.hidden:
        plural = "s" if trends.hidden != 1 else ""
        out.append(
            f'<p class="note">{trends.hidden} more metric{plural} not charted; compare '
            "versions to see every metric.</p>"
        )
    out.append("</section>\n")
    return "".join(out)


def _versions(view: ModelView, h: Helpers, bundle: Any, run_url: Any) -> str:
    link = esc(view.compare)
    rows = "".join(_version_row(mv, h, bundle, run_url) for mv in view.versions)
    return (
        '<section>\n<h2>Versions</h2>\n<form class="compare-form" id="compare-form" '
        f'data-compare="{link}">\n<p><button type="submit" id="compare-selected">Compare '
        'selected versions</button> <span class="hint">tick two or more, or open <a '
        f'href="{link}">the comparison</a> to pick there</span></p>\n<div class="scroll">\n'
        '<table class="versions">\n<thead><tr><th scope="col"><span class="visually-hidden">'
        'Compare</span></th><th scope="col">Version</th><th scope="col">Stage</th><th '
        'scope="col">Aliases</th><th scope="col">Source</th><th scope="col">Digest</th><th '
        'scope="col">Run</th><th scope="col">Metrics</th><th scope="col">Tags</th><th '
        'scope="col">Created by</th><th scope="col">Created</th></tr></thead>\n<tbody>\n'
        f"{rows or _NO_VERSIONS}</tbody>\n</table>\n</div>\n</form>\n</section>\n"
    )


_NO_VERSIONS = '<tr><td colspan="10" class="none">No versions.</td></tr>\n'


def _version_row(mv: ModelVersion, h: Helpers, bundle: Any, run_url: Any) -> str:
    number, stage = mv.version, esc(mv.current_stage.value)
    digest = ""
    if mv.digest:
        signed = (
            ' <span class="badge signed" title="a model-signing bundle is kept for this '
            'version">signed</span>'
            if bundle(mv)
            else ""
        )
        digest = f'<code title="{esc(mv.digest)}">{esc(short(mv.digest))}</code>{signed}'
    url = run_url(mv)
    if url:
        run = f'<a href="{esc(url)}">{esc(mv.run_id or "run")}</a>'
    else:
        run = f"<code>{esc(mv.run_id)}</code>" if mv.run_id else ""
    aliases = "".join(f'<span class="alias">@{esc(a)}</span> ' for a in mv.aliases)
    metrics = "".join(
        f'<span class="metric">{esc(k)}={esc(v)}</span> ' for k, v in mv.metrics.items()
    )
    tags = "".join(f'<span class="tag">{esc(k)}={esc(v)}</span> ' for k, v in mv.tags.items())
    return (
        f'<tr>\n<td><input type="checkbox" name="v" value="{number}" aria-label="compare '
        f'version {number}"></td>\n<td><a href="v{number}.html">Version {number}</a></td>\n'
        f'<td><span class="stage stage-{stage.lower()}">{stage}</span></td>\n'
        f'<td>{aliases}</td>\n<td class="source"><code>{esc(mv.source)}</code></td>\n'
        f'<td class="digest">{digest}</td>\n<td>{run}</td>\n<td>{metrics}</td>\n'
        f"<td>{tags}</td>\n<td>{esc(mv.user_id or '')}</td>\n"
        f"<td><time>{esc(h.when(mv.creation_timestamp))}</time></td>\n</tr>\n"
    )
