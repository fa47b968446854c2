"""A version's page, assembled from strings (#26): the page a build renders most often.

It was ``templates/version.html`` (with ``_conversation.html``); the markup is the same,
byte for byte, and every value is escaped by ``html.esc`` as autoescape escaped it. What
the page shows is decided in ``render.Pages.version``, which passes it here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.site.chart import short_time
from gitreg.site.html import esc
from gitreg.site.markup import render_markdown

if TYPE_CHECKING:
    from gitreg.core.comment import Comment
    from gitreg.core.entities import ModelVersion
    from gitreg.core.events import RegistryEvent
    from gitreg.integrations.forges.base import ThreadComment
    from gitreg.site.catalog import Request


@record.dataclass(frozen=True, slots=True)
class DiffRow:
    """A metric or tag of a version next to the version before it."""

    key: str
    before: str | None
    after: str | None
    change: str  # added, removed, changed, same
    delta: str | None = None


_CRUMB = "\u203a"  # the breadcrumb separator
_BY = " \u00d7 "  # between a shape's dimensions
Thread = tuple[int, "Request | None", "Sequence[ThreadComment] | None"]


@record.dataclass(frozen=True, slots=True)
class VersionView:
    """Everything the version page shows, decided by ``Pages.version``."""

    name: str
    mv: ModelVersion
    previous: int | None
    following: int | None
    registered: RegistryEvent | None
    transitions: Sequence[RegistryEvent]
    promotion: RegistryEvent | None
    metric_diff: Sequence[DiffRow]
    tag_diff: Sequence[DiffRow]
    run_url: str | None
    bundle: str | None
    comments: Sequence[Comment]
    threads: Sequence[Thread]
    root: str


@record.dataclass(frozen=True, slots=True)
class Helpers:
    """What the page takes from ``Pages``: a change as HTML, a pull request as HTML, whether
    a change is newer than the verified tip, the ``unverified`` badge, dates as text."""

    change: Callable[[RegistryEvent], Any]
    pull_request: Callable[[int], Any]
    unverified: Callable[[RegistryEvent], bool]
    badge: Callable[[], str]
    when: Callable[[int], str]
    thread_note: str


def main(view: VersionView, h: Helpers) -> str:
    """The page's ``<main>`` content."""
    mv, name = view.mv, esc(view.name)
    number, stage = mv.version, esc(mv.current_stage.value)
    out = [
        f'<nav class="crumbs"><a href="{view.root}index.html">Registered models</a> {_CRUMB} '
        f'<a href="index.html">{name}</a> {_CRUMB} Version {number}</nav>\n'
        f'<h1>{name} <span class="version">Version {number}</span> '
        f'<span class="stage stage-{stage.lower()}">{stage}</span>',
        *(f' <span class="alias">@{esc(a)}</span>' for a in mv.aliases),
        '</h1>\n<nav class="pager">',
    ]
    if view.previous is not None:
        out.append(f'<a href="v{view.previous}.html">← Version {view.previous}</a>')
    if view.following is not None:
        out.append(f' <a href="v{view.following}.html">Version {view.following} →</a>')
    out.append("</nav>\n")
    if mv.description:
        out.append(
            '<section class="description"><div class="markdown">'
            f"{render_markdown(mv.description)}</div></section>"
        )
    out.append(_lineage(view, h))
    out.append(_signature(mv))
    out.append(_transitions(view, h))
    out.append(_diff("Metrics", view.metric_diff, view))
    out.append(_diff("Tags", view.tag_diff, view))
    out.append(_comments(view, h))
    out.extend(_thread(thread, h) for thread in view.threads)
    return "".join(out)


def _lineage(view: VersionView, h: Helpers) -> str:
    mv = view.mv
    run = f"<code>{esc(mv.run_id)}</code>" if mv.run_id else ""
    if view.run_url:
        run += f' <a class="run" href="{esc(view.run_url)}">open the run</a>'
    if not mv.run_id and not view.run_url:
        run += "none"
    where = f"<code>{esc(mv.storage_location)}</code>" if mv.storage_location else "the source"
    if mv.digest:
        from gitreg.core.digest import short

        digest = esc(mv.digest)
        digest = (
            f'<code title="{digest}">{esc(short(mv.digest))}</code> <button type="button" '
            f'class="copy" data-copy="{digest}" title="Copy the full digest">Copy</button>'
        )
    else:
        digest = "none recorded"
    signed = f"yes: model-signing bundle <code>{esc(view.bundle)}</code>" if view.bundle else "no"
    by = f" by {esc(mv.user_id)}" if mv.user_id else ""
    registered = (
        f"commit {esc(h.change(view.registered))}"
        if view.registered
        else "unknown (not in this history)"
    )
    promotion = view.promotion
    promoted = (
        f"to {esc(promotion.event.to_stage)} in commit {esc(h.change(promotion))}"
        if promotion
        else "never"
    )
    return (
        '<section>\n<h2>Lineage</h2>\n<dl class="facts lineage">\n'
        f"<dt>Run</dt><dd>{run}</dd>\n"
        f"<dt>Source</dt><dd><code>{esc(mv.source)}</code></dd>\n"
        f"<dt>Storage location</dt><dd>{where}</dd>\n"
        f'<dt>Digest</dt><dd class="digest">{digest}</dd>\n'
        f'<dt>Signed</dt><dd class="signed">{signed}</dd>\n'
        f"<dt>Registered</dt><dd>{esc(h.when(mv.creation_timestamp))}{by}</dd>\n"
        f"<dt>Registered in</dt><dd>{registered}</dd>\n"
        f"<dt>Promoted</dt><dd>{promoted}</dd>\n"
        "</dl>\n</section>\n"
    )


def _signature(mv: ModelVersion) -> str:
    if not mv.signature and mv.has_input_example is None:
        return ""
    out = ['<section class="model-signature">\n<h2>Model signature</h2>\n']
    if mv.signature:
        out.append(
            '<table class="signature">\n<thead><tr><th scope="col">Part</th>'
            '<th scope="col">Name</th><th scope="col">Type</th><th scope="col">Shape or '
            'default</th><th scope="col">Required</th><th scope="col">Details</th></tr>'
            "</thead>\n<tbody>\n"
        )
        for part in ("inputs", "outputs", "params"):
            out.extend(_column(part, col) for col in mv.signature.get(part, []))
        out.append("</tbody>\n</table>\n")
    else:
        out.append('<p class="none">No signature: the MLflow model was logged without one.</p>\n')
    example = "saved with the model" if mv.has_input_example else "none"
    out.append(f"<p>Input example: {example}.</p>\n</section>\n")
    return "".join(out)


def _column(part: str, col: Mapping[str, Any]) -> str:
    kind = esc(col.get("type", ""))
    if col.get("dtype"):
        kind += f" {esc(col.get('dtype'))}"
    shape = col.get("shape")
    if shape is not None:
        size = f"<code>{_BY.join(esc(item) for item in shape)}</code>"
    elif col.get("default") is not None:
        size = f"default <code>{esc(col.get('default'))}</code>"
    else:
        size = ""
    required = "no" if col.get("required") is False else ("" if part == "params" else "yes")
    details = f"<code>{esc(col.get('details'))}</code>" if col.get("details") else ""
    return (
        f'<tr><th scope="row">{part}</th><td>{esc(col.get("name", ""))}</td>'
        f"<td><code>{kind}</code></td><td>{size}</td><td>{required}</td>"
        f"<td>{details}</td></tr>\n"
    )


def _transitions(view: VersionView, h: Helpers) -> str:
    if not view.transitions:
        return ""
    out = ['<section>\n<h2>Stage changes</h2>\n<ol class="changes">\n']
    for item in view.transitions:
        badge = f" {h.badge()}" if h.unverified(item) else ""
        out.append(
            f"<li>{esc(item.event.from_stage)} → <strong>{esc(item.event.to_stage)}</strong>: "
            f"{esc(h.change(item))}{badge}</li>\n"
        )
    out.append("</ol>\n</section>\n")
    return "".join(out)


def _diff(what: str, rows: Sequence[DiffRow], view: VersionView) -> str:
    before = view.previous
    vs = f' <span class="vs">compared with version {before}</span>' if before is not None else ""
    out = [f"<section>\n<h2>{what}{vs}</h2>\n"]
    if rows:
        head = f'<th scope="col">Version {before}</th>' if before is not None else ""
        tail = '<th scope="col">Change</th>' if before is not None else ""
        out.append(
            '<table class="diff">\n<thead><tr><th scope="col">Key</th>'
            f'{head}<th scope="col">Version {view.mv.version}</th>{tail}</tr></thead>\n<tbody>\n'
        )
        out.extend(_diff_row(row, before is not None) for row in rows)
        out.append("</tbody>\n</table>\n")
    else:
        also = f" on this version or version {before}" if before is not None else ""
        out.append(f'<p class="none">No {what.lower()}{also}.</p>\n')
    out.append("</section>\n")
    return "".join(out)


def _diff_row(row: DiffRow, previous: bool) -> str:
    after = esc(row.after) if row.after is not None else "—"
    cells = f"<td>{after}</td>"
    if previous:
        was = esc(row.before) if row.before is not None else "—"
        delta = f" ({esc(row.delta)})" if row.delta else ""
        cells = f"<td>{was}</td>{cells}<td>{esc(row.change)}{delta}</td>"
    return f'<tr class="{esc(row.change)}"><th scope="row">{esc(row.key)}</th>{cells}</tr>\n'


def _comments(view: VersionView, h: Helpers) -> str:
    out = [
        '<section class="comments" id="comments">\n'
        f'<h2>Comments <span class="count">{len(view.comments)}</span></h2>\n'
    ]
    if view.comments:
        out.append('<ol class="comment-list">\n')
        for comment in view.comments:
            edited = ""
            if comment.last_updated_timestamp != comment.creation_timestamp:
                edited = f" · edited <time>{esc(h.when(comment.last_updated_timestamp))}</time>"
            out.append(
                f'<li class="comment" id="comment-{esc(comment.id)}"><p class="who"><strong>'
                f"{esc(comment.user_id)}</strong> · <time>"
                f"{esc(h.when(comment.creation_timestamp))}</time>{edited}</p>\n"
                f'<div class="markdown">{render_markdown(comment.comment)}</div></li>\n'
            )
        out.append("</ol>\n")
    else:
        out.append('<p class="none">No comments yet.</p>\n')
    out.append(
        f'<p class="hint">Comment with <code>gitreg comment models:/{esc(view.name)}/'
        f'{view.mv.version} "TEXT"</code>; comments never change the registry.</p>\n'
        "</section>\n"
    )
    return "".join(out)


def _thread(found: Thread, h: Helpers) -> str:
    number, request, thread = found
    about = ""
    if request:
        badge = (
            ' <span class="badge stale" title="its base moved and it no longer applies">stale'
            "</span>"
            if request.stale
            else ' <span class="badge pending">pending</span>'
        )
        about = f' <span class="vs">{esc(request.label)}</span>{badge}'
    out = [
        f'<section class="thread" id="thread-{esc(number)}">\n'
        f"<h2>Conversation on {esc(h.pull_request(number))}{about}</h2>\n"
    ]
    if thread is None:
        note = (
            f"Not shown here: {esc(h.thread_note)}. Follow the link for the conversation."
            if h.thread_note
            else "Not read from the forge in this build (only the newest conversations are)."
        )
        out.append(f'<p class="none">{note}</p>\n')
    elif thread:
        out.append('<ol class="comment-list">\n')
        for item in thread:
            at = f" · <time>{esc(short_time(item.created_at))}</time>" if item.created_at else ""
            out.append(
                f'<li class="comment"><p class="who"><strong>{esc(item.author)}</strong>{at}</p>'
                f'<div class="markdown">{render_markdown(item.body)}</div></li>\n'
            )
        out.append("</ol>\n")
    else:
        out.append('<p class="none">No comments on the pull request.</p>\n')
    out.append("</section>\n")
    return "".join(out)
