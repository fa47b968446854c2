"""Serving a built catalog for a local look: ``gitreg site OUTDIR --serve``.

The server listens on 127.0.0.1 only (never another interface), serves the files of the
site directory and nothing else (no directory listings, nothing a link inside it points
at), and logs nothing. It answers only requests addressed to it by a loopback name
(``Host: 127.0.0.1:PORT``, ``localhost:PORT`` or ``[::1]:PORT``): a page on another site
that rebinds its own name to 127.0.0.1 (DNS rebinding) gets 421 and a one-line body, not
the catalog (#23).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gitreg.core.errors import InvalidParameter

HOST = "127.0.0.1"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


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

    def do_GET(self) -> None:
        if self._host_allowed():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self._host_allowed():
            super().do_HEAD()

    def _host_allowed(self) -> bool:
        """Whether the request names this server by a loopback name; else answer it here."""
        port = int(self.server.server_address[1])  # type: ignore[index]  # an (host, port) pair
        hosts = self.headers.get_all("Host") or []
        allowed = {f"{name}:{port}" for name in LOOPBACK_NAMES}
        if port == 80:
            allowed.update(LOOPBACK_NAMES)
        if len(hosts) == 1 and hosts[0].strip().lower() in allowed:
            return True
        status = 400 if not hosts else 421
        self._plain(
            status,
            f"gitreg site --serve answers only requests for http://{HOST}:{port}/ (or "
            f"localhost:{port}, [::1]:{port}); this one named "
            f"{'no host' if not hosts else 'another host'}, so it is refused\n",
        )
        return False

    def _plain(self, status: int, text: str) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_head(self) -> Any:
        """The file, unless the path leads out of the site directory (through a link)."""
        root = os.path.realpath(self.directory)
        target = os.path.realpath(self.translate_path(self.path))
        if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
            self.send_error(404, "Not found")
            return None
        return super().send_head()

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
