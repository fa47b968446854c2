"""The index and the comparison page, assembled from strings (#26).

Both are written by every build, a rebuild after one commit included; rendering them through
Jinja2 made every rebuild import it and load its templates. This is what
``templates/index.html`` and ``templates/compare.html`` rendered (the same bytes, the same
escaping: every value through ``html.esc``), the way ``site.model_page`` and
``site.version_page`` are the two per-model pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.site.html import esc, head

if TYPE_CHECKING:
    from gitreg.site.catalog import Catalog, Request
    from gitreg.site.trust import InvalidEntry

Paths = Callable[..., str]


def stamped_layout(
    catalog: Catalog, title: str, root: str, canonical: str | None, main: str, scripts: str
) -> str:
    """``templates/base.html`` for a page that names the build's commit (the index)."""
    site = esc(catalog.title)
    where = "work tree at" if catalog.worktree else "commit"
    built = f"{where} <code>{esc(catalog.commit[:10])}</code>"
    if catalog.verified:
        built += f" · verified tip <code>{esc(catalog.verified.commit[:10])}</code>"
    footer_where = "the work tree at" if catalog.worktree else "commit"
    return (
        head(title, site, root, canonical)
        + f'<header class="top">\n  <a class="brand" href="{root}index.html">{site}</a>\n'
        f'  <span class="source">model registry · <span id="built-from">{built}</span></span>\n'
        "</header>\n<main>\n"
        f"{main}</main>\n"
        '<footer>Built by <code>gitreg site</code><span id="built-footer"> from '
        f"{footer_where} {esc(catalog.commit[:10])}</span>. Every change to this registry is a "
        "commit; promotions are pull requests.</footer>\n"
        f'<script src="{root}data/build.js"></script>\n{scripts}</body>\n</html>'
    )


def index_main(
    catalog: Catalog,
    rows: Sequence[Any],  # render.IndexRow (render imports this module)
    total: int,
    badge: str,
    paths: tuple[Paths, Paths, Callable[[int], str]],
) -> str:
    """The index's ``main`` block: the verified tip, invalid manifests, open requests,
    notes, then the first ``rows`` (``paths``: model_path, version_path, when)."""
    model_path, _version_path, _when = paths
    notes = "".join(f'<p class="note">{esc(note)}</p>\n' for note in catalog.notes)
    requests = "".join(f"{_request_item(r, '', model_path)}\n" for r in catalog.requests)
    parts = [f'<h1>Registered models <span class="count">{total}</span></h1>\n']
    parts.append(_verified(catalog, badge))
    parts.append(_invalid(catalog.invalid, badge, model_path))
    if catalog.requests:
        parts.append(
            '<section class="requests">\n<h2>Open requests <span class="count">'
            f"{len(catalog.requests)}</span></h2>\n<ul>\n{requests}</ul>\n</section>\n"
        )
    parts.append(notes)
    shown = len(rows)
    parts.append(
        '<div class="controls">\n  <label for="filter">Search</label>\n  <input id="filter" '
        'type="search" placeholder="words, or an MLflow filter: tags.team = \'growth\' '
        'and name LIKE \'churn%\'" autocomplete="off" spellcheck="false" '
        'aria-describedby="filter-help">\n'
        f'  <span id="status" role="status" aria-live="polite">{shown} of {total} models</span>\n'
        "</div>\n"
    )
    parts.append(_HEAD)
    parts += [_row(row, badge, paths) for row in rows]
    parts.append(
        '</tbody>\n</table>\n</div>\n<p class="more"><button id="more" type="button" hidden>'
        'Show more</button></p>\n<noscript><p class="note">Showing the first '
        f"{shown} of {total} models: filtering, sorting and the rest of the list need "
        "JavaScript.</p></noscript>\n"
    )
    return "".join(parts)


_HEAD = (
    '<p class="hint" id="filter-help">Words match names, @aliases, tags (key=value), '
    "descriptions and model cards; an MLflow filter (<code>name</code>, "
    "<code>tags.&lt;key&gt;</code>; =, !=, LIKE, ILIKE, IN; joined by AND) matches as "
    "<code>gitreg models --filter</code> does.</p>\n"
    '<div class="scroll">\n<table id="models" class="models">\n<thead><tr>\n'
    '<th scope="col" data-sort="name" aria-sort="ascending"><button type="button">Name'
    "</button></th>\n"
    '<th scope="col" data-sort="latest" aria-sort="none"><button type="button">Latest version'
    "</button></th>\n"
    '<th scope="col">Aliases</th>\n<th scope="col">Staging</th>\n'
    '<th scope="col">Production</th>\n'
    '<th scope="col" data-sort="creator" aria-sort="none"><button type="button">Created by'
    "</button></th>\n"
    '<th scope="col" data-sort="modified" aria-sort="none"><button type="button">'
    "Last modified</button></th>\n"
    '<th scope="col">Tags</th>\n</tr></thead>\n<tbody>\n'
)


def _verified(catalog: Catalog, badge: str) -> str:
    tip = catalog.verified
    if not tip:
        return ""
    out = (
        f'<p class="verified-tip" id="verified-tip">Verified tip: commit <code>'
        f"{esc(tip.commit[:10])}</code> (<code>refs/gitreg/verified</code>), the last commit "
        "a clean <code>gitreg audit</code> accepted.\n"
    )
    if tip.behind and not tip.newer_models:
        out += "This catalog shows a state it already holds.\n"
    elif tip.newer_models:
        count = len(tip.newer_models)
        plural = "s" if count != 1 else ""
        out += (
            f"{count} model{plural} changed after it, marked {badge}: not yet accepted by an "
            "audit.\n"
        )
    else:
        out += "Nothing shown here is newer than it.\n"
    if tip.deleted:
        out += f"Deleted after it, not yet verified: {', '.join(esc(d) for d in tip.deleted)}."
    return out + "</p>\n"


def _invalid(invalid: Sequence[InvalidEntry], badge: str, model_path: Paths) -> str:
    if not invalid:
        return ""
    items = []
    for bad in invalid:
        if bad.has_page:
            named = f'<a href="{esc(model_path(bad.name))}">{esc(bad.name)}</a>'
        else:
            named = f"<code>{esc(bad.path)}</code>"
        newer = f" {badge}" if bad.newer else ""
        more = (
            f'<span class="more-findings">and {len(bad.findings) - 1} more</span>'
            if len(bad.findings) > 1
            else ""
        )
        items.append(
            f'<li class="invalid-model">{named} <span class="badge invalid">invalid</span>'
            f'{newer}<ul class="findings">{_finding(bad.findings[0])}</ul>{more}</li>\n'
        )
    return (
        '<section class="invalid" id="invalid-models">\n<h2>Invalid manifests <span '
        f'class="count">{len(invalid)}</span></h2>\n<p>gitreg reads no model whose manifest '
        "is invalid, so none of their state is shown; <code>gitreg validate</code> lists every "
        f"problem.</p>\n<ul>\n{''.join(items)}</ul>\n</section>\n"
    )


def _finding(finding: Any) -> str:
    line = f":{esc(finding.line)}" if finding.line else ""
    return (
        f"<li><code>{esc(finding.path)}{line}</code> <strong>{esc(finding.code)}</strong>: "
        f"{esc(finding.message)}</li>"
    )


def _request_item(request: Request, root: str, model_path: Paths) -> str:
    """``_macros.html``'s ``request_item`` with the model named."""
    from gitreg.site.model_page import request_item

    model = ""
    if request.name:
        model = f'<a href="{esc(root)}{esc(model_path(request.name))}">{esc(request.name)}</a>: '
    return request_item(request, model)


def _row(row: Any, badge: str, paths: tuple[Paths, Paths, Callable[[int], str]]) -> str:
    model_path, version_path, when = paths
    name = esc(row.name)
    cell = f'<a href="{esc(model_path(row.name))}">{name}</a>'
    if row.unverified:
        cell += f" {badge}"
    if row.pending:
        kind = "stale" if row.stale else "pending"
        title = "; ".join(esc(label) for label, _url in row.pending)
        cell += f' <span class="badge {kind}" title="{title}">{kind}</span>'
    latest = ""
    if row.latest is not None:
        href = esc(version_path(row.name, row.latest))
        latest = f'<a href="{href}">Version {esc(row.latest)}</a>'
    aliases = "".join(
        f'<span class="alias">@{esc(alias)} -&gt; {esc(number)}</span> '
        for alias, number in row.aliases
    )
    tags = "".join(f'<span class="tag">{esc(k)}={esc(v)}</span> ' for k, v in row.tags)
    return (
        f'<tr>\n<td class="name">{cell}</td>\n<td>{latest}</td>\n<td>{aliases}</td>\n'
        f"<td>{_links(row.name, row.staging, version_path)}</td>\n"
        f"<td>{_links(row.name, row.production, version_path)}</td>\n"
        f"<td>{esc(row.creator)}</td>\n<td><time>{esc(when(row.modified))}</time></td>\n"
        f"<td>{tags}</td>\n</tr>\n"
    )


def _links(name: str, numbers: Sequence[int], version_path: Paths) -> str:
    """``_macros.html``'s ``version_links`` from the root."""
    return ", ".join(
        f'<a href="{esc(version_path(name, n))}">Version {esc(n)}</a>' for n in numbers
    )


COMPARE_MAIN = (
    '<nav class="crumbs"><a href="index.html">Registered models</a> \u203a <a id="compare-model" '
    'href="index.html">a model</a> \u203a Compare versions</nav>\n'
    '<h1>Compare versions of <span id="compare-name">a model</span> <span '
    'id="compare-unverified" hidden></span></h1>\n'
    '<form class="controls" id="pick">\n<label for="pick-versions">Versions</label>\n'
    '<input id="pick-versions" type="text" placeholder="e.g. 3, 5, 8" autocomplete="off" '
    'spellcheck="false">\n<button type="submit">Compare</button>\n'
    '<span id="compare-status" role="status" aria-live="polite">Loading the model\'s '
    "versions…</span>\n</form>\n"
    '<p class="hint" id="compare-newest"></p>\n<div id="comparison"></div>\n'
    '<noscript><p class="note">The comparison is computed in the page: it needs JavaScript. '
    "Each version's own page shows it against the version before.</p></noscript>\n"
)
