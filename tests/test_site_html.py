"""The catalog's per-model pages are assembled from strings (#26): their escaping is
autoescape's, character for character, and what is already safe HTML passes through once."""

from __future__ import annotations

import pytest
from markupsafe import Markup, escape

from gitreg.site.html import esc, layout

HOSTILE = [
    "",
    "plain",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "a & b &amp; c",
    "javascript:alert(1)",
    "</title><script>x</script>",
    "é ü 😀 \u2028 \u2029 \x00",
    "&#39; &#34; &lt;",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_is_escaped_as_autoescape_escapes_it(text):
    assert esc(text) == str(escape(text))


@pytest.mark.parametrize("value", [None, 0, 7, -3, 0.9254, 1e-07, True, False, ("a", "<b>")])
def test_values_that_are_not_text_are_escaped_as_their_text(value):
    assert esc(value) == str(escape(value))


def test_safe_html_passes_through_once_and_a_str_subclass_is_still_escaped():
    assert esc(Markup("<p>rendered</p>")) == "<p>rendered</p>"

    class Name(str):
        pass

    assert esc(Name("<b>")) == "&lt;b&gt;"


def test_the_layout_escapes_the_site_title_and_the_canonical_link():
    page = layout(
        "a title",
        "reg<script>",
        "../../",
        'https://x.test/"><script>',
        "<p>main</p>\n",
        "",
    )

    assert "<script>" not in page.replace('<script src="../../data/build.js"></script>', "")
    assert "reg&lt;script&gt;" in page
    assert 'href="https://x.test/&#34;&gt;&lt;script&gt;"' in page
    assert page.startswith("<!doctype html>")
    assert page.endswith("</html>")
