"""The registry catalog (``gitreg site``, #14): a static site built from the registry.

A face over ``Registry``, like the CLI: ``build(registry, outdir)`` reads every model, the
whole history once and the open requests, and writes an index, a page per model and a page
per version into ``outdir``; ``serve`` shows it on 127.0.0.1.
"""

from __future__ import annotations

from gitreg.site.builder import SiteReport, build

__all__ = ["SiteReport", "build"]
