"""Descriptions as HTML: Markdown rendered with raw HTML off, and links only to http(s).

Everything a manifest says is hostile input. markdown-it-py escapes raw HTML instead of
passing it through, images are not rendered (a catalog loads nothing from elsewhere), and a
link whose target is not http(s) (``javascript:``, ``data:``, a relative path) stays text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token


@functools.cache
def _markdown() -> MarkdownIt:
    """The parser, made the first time a text needs it: most descriptions are one plain
    sentence (``_plain``), and a rebuild of one model should not import markdown-it (#26)."""
    from markdown_it import MarkdownIt

    class _SafeMarkdown(MarkdownIt):
        """CommonMark with tables and strikethrough, no raw HTML, no images, http(s) links."""

        def __init__(self) -> None:
            options = {"html": False, "linkify": False, "typographer": False}
            super().__init__("commonmark", options)
            self.enable(["table", "strikethrough"])
            self.disable("image")
            self.add_render_rule("link_open", _render_link_open)

        def validateLink(self, url: str) -> bool:
            """Only absolute http(s) links become links; anything else stays text."""
            return url.strip().lower().startswith(("http://", "https://"))

    return _SafeMarkdown()


def _render_link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
    rendered: str = self.renderToken(tokens, idx, options, env)
    return rendered


# Text with none of Markdown's syntax is one paragraph of itself: most descriptions are a
# sentence, and a build renders thousands (#26). Anything else goes through the parser.
_SYNTAX = frozenset("\\`*_[]<>#!&|~\n\r\t\u2028\u2029")
_BLOCK_START = re.compile(r"^(?:[-+=]|\d{1,9}[.)])")
_CONTROL = re.compile("[\x00-\x1f\x7f]")  # NUL becomes U+FFFD, line breaks end lines


def render_markdown(text: str | None) -> Markup:
    """``text`` (Markdown) as safe HTML; empty for no text."""
    if not text:
        return Markup("")
    text = str(text)
    if _plain(text):
        return Markup("<p>" + text.replace('"', "&quot;") + "</p>\n")  # as markdown-it does
    return Markup(_markdown().render(text))  # markdown-it escaped everything it was given


def _plain(text: str) -> bool:
    """Whether ``text`` is a single line markdown-it would render as one plain paragraph."""
    return (
        text == text.strip()
        and not _SYNTAX.intersection(text)
        and _BLOCK_START.match(text) is None
        and _CONTROL.search(text) is None
    )
