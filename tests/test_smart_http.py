"""A remote reached over git's smart HTTP protocol, with basic auth (#5).

The test starts ``git http-backend`` (as CGI) behind a Python HTTP server on 127.0.0.1 that
checks a username and password, as a git server does. A wrong credential or a server that
has gone away must give the user one clear line and leave the clone clean.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitreg import Registry
from gitreg.core.errors import RemoteUnavailable
from tests._helpers import Cli, git, snapshot

USER, PASSWORD = "ci-bot", "hunter2"


class GitServer(ThreadingHTTPServer):
    def __init__(self, project_root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.project_root = project_root

    def url(self, repo: str, user: str = USER, password: str = PASSWORD) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.server_address[1]}/{repo}"


class _Handler(BaseHTTPRequestHandler):
    server: GitServer

    def log_message(self, *args: Any) -> None:
        pass

    def _authorized(self) -> bool:
        expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return self.headers.get("Authorization") == f"Basic {expected}"

    def _serve(self, method: str) -> None:
        if not self._authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        env = {
            "GIT_PROJECT_ROOT": str(self.server.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": method,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_USER": USER,
            "REMOTE_ADDR": "127.0.0.1",
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        }
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
        status = next((v.strip() for k, v in headers if k.lower() == "status"), "200 OK")
        self.send_response(int(status.split()[0]))
        for key, value in headers:
            if key.lower() != "status":
                self.send_header(key, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


@pytest.fixture
def server(bare_remote: Path) -> Iterator[GitServer]:
    srv = GitServer(bare_remote.parent)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def http_clone(server: GitServer, bare_remote: Path, tmp_path: Path) -> Path:
    path = tmp_path / "http-clone"
    git(tmp_path, "clone", "-q", server.url(bare_remote.name), str(path))
    return path


def test_writes_push_over_smart_http(http_clone, bare_remote):
    assert Registry(http_clone).create_model_version("churn", "s3://m/1").version == 1
    assert "s3://m/1" in git(bare_remote, "show", "main:models/churn.yaml")
    assert git(http_clone, "rev-parse", "HEAD") == git(bare_remote, "rev-parse", "main")


def test_a_wrong_password_is_one_clear_line_and_the_clone_is_clean(http_clone, server, bare_remote):
    Registry(http_clone).create_model_version("churn", "s3://m/1")
    git(http_clone, "remote", "set-url", "origin", server.url(bare_remote.name, password="nope"))
    before = snapshot(http_clone)
    result = Cli(http_clone).fails(1, "register", "churn", "s3://m/2")
    assert result.stderr.count("\n") == 1
    assert "Authentication failed" in result.stderr
    assert "nope" not in result.stderr  # the credential is never echoed
    assert snapshot(http_clone) == before


def test_a_server_that_went_away_is_one_clear_line(http_clone, server):
    Registry(http_clone).create_model_version("churn", "s3://m/1")
    server.shutdown()
    server.server_close()
    before = snapshot(http_clone)
    with pytest.raises(RemoteUnavailable) as caught:
        Registry(http_clone).create_model_version("churn", "s3://m/2")
    assert "\n" not in caught.value.message
    assert "cannot fetch from origin" in caught.value.message
    assert snapshot(http_clone) == before
