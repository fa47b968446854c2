"""HTML built in Python for the pages a build renders thousands of times (#26).

A build of 2,000 models renders 8,000 pages; through Jinja2 each costs a context, a chain
of generators and a ``Markup`` object per value, most of a build's time. The version page
(``site.version_page``) is therefore assembled here from strings, with the same escaping
as the templates' autoescape: every value goes through ``esc``, which escapes what
``markupsafe.escape`` escapes, in the same way, and passes through only what is already
safe HTML (an object with ``__html__``: rendered Markdown, ``Pages.change``'s links).
``layout`` is ``templates/base.html`` for a page that does not name the build's commit.
"""

from __future__ import annotations

from typing import Any

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'"
)


def esc(value: Any) -> str:
    """``value`` as HTML text or attribute content: ``markupsafe.escape``'s output, as a str."""
    if type(value) is str:
        text: str = value
    else:
        html = getattr(value, "__html__", None)
        if html is not None:
            return str(html())
        text = str(value)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "'" in text:
        text = text.replace("'", "&#39;")
    if '"' in text:
        text = text.replace('"', "&#34;")
    return text


_CSP_ATTR = esc(CSP)


def head(title: str, site: str, root: str, canonical: str | None) -> str:
    """A page's ``<head>`` and the ``<body>`` tag, as ``templates/base.html`` writes them.

    ``title`` and ``site`` are HTML (escaped by the caller)."""
    link = f'<link rel="canonical" href="{esc(canonical)}">\n' if canonical else ""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP_ATTR}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="generator" content="gitreg site">\n'
        f"<title>{title} · {site}</title>\n{link}"
        f'<link rel="stylesheet" href="{root}static/site.css">\n</head>\n<body>\n'
    )


def layout(
    title: str,
    site_title: str,
    root: str,
    canonical: str | None,
    main: str,
    scripts: str,
) -> str:
    """A page of the site around ``main`` (HTML), as ``templates/base.html`` renders one that
    is not stamped with the build's commit (that comes from ``data/build.js``).

    ``title`` is HTML (escaped by the caller); ``scripts`` is the page's own script tags.
    """
    return (
        head(title, esc(site_title), root, canonical) + '<header class="top">\n'
        f'  <a class="brand" href="{root}index.html">{esc(site_title)}</a>\n'
        '  <span class="source">model registry · <span id="built-from">see the index for the '
        "commit</span></span>\n</header>\n<main>\n"
        f"{main}</main>\n"
        '<footer>Built by <code>gitreg site</code><span id="built-footer"></span>. Every change '
        "to this registry is a commit; promotions are pull requests.</footer>\n"
        f'<script src="{root}data/build.js"></script>\n{scripts}</body>\n</html>'
    )
