"""Serving a built catalog for a local look: ``gitreg site OUTDIR --serve``.

The server listens on 127.0.0.1 only (never another interface), serves the files of the
site directory and nothing else (no directory listings), and logs nothing.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gitreg.core.errors import InvalidParameter

HOST = "127.0.0.1"


class _Handler(SimpleHTTPRequestHandler):
    """Static files of the site directory, with the content types the pages need."""

    extensions_map = {  # noqa: RUF012 (the base class declares it as a plain dict)
        ".html": "text/html; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".json": "application/json",
        ".svg": "image/svg+xml",
        ".png": "image/png",
        ".txt": "text/plain; charset=utf-8",
        ".xml": "application/xml",
    }

    def list_directory(self, path: Any) -> None:
        self.send_error(404, "Not found")

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def open_server(directory: Path, port: int) -> Iterator[ThreadingHTTPServer]:
    """A server of ``directory`` on 127.0.0.1:``port`` (0: a free port); closed on exit.

    Raises:
        InvalidParameter: the port cannot be bound (in use, or privileged).
    """
    handler = functools.partial(_Handler, directory=str(directory))
    try:
        server = ThreadingHTTPServer((HOST, port), handler)
    except OSError as e:
        raise InvalidParameter(
            f"cannot serve on {HOST}:{port} ({e.strerror}); give another port "
            "(--serve 8080), or --serve 0 for any free one"
        ) from e
    try:
        yield server
    finally:
        server.server_close()
