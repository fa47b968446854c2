"""A stand-in for GitHub's and GitLab's REST APIs, for the governance tests (issue 11).

``Forge`` is a real HTTP server on 127.0.0.1. It keeps pull (merge) requests, their
reviews, which commits each merged one produced, and records every call, implementing just
the endpoints gitreg uses: list/open/close requests, reviews and approvals, and "which
request did this commit come from". The git remote itself is a local bare repository.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "forge-token"
GITHUB = "/repos/acme/registry"
GITLAB = "/projects/acme%2Fregistry"


class Forge(ThreadingHTTPServer):
    """Pull requests by number: ``pulls[n]`` with head branch, state, reviews, merge commits."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: list[tuple[str, str, Any]] = []
        self.pulls: dict[int, dict[str, Any]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def pull_for(self, branch: str) -> dict[str, Any]:
        return next(p for p in self.pulls.values() if p["branch"] == branch)

    def review(self, number: int, user: str, state: str) -> None:
        """A reviewer's verdict: APPROVED or CHANGES_REQUESTED (GitHub's words)."""
        self.pulls[number]["reviews"].append((user, state))

    def merged(self, number: int, *commits: str) -> None:
        """The request was merged, producing ``commits`` on the base branch."""
        self.pulls[number]["state"] = "merged"
        self.pulls[number]["commits"] = list(commits)


class _Handler(BaseHTTPRequestHandler):
    server: Forge

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length)) if length else None
        self.server.calls.append((method, self.path, payload))
        token_ok = self.headers.get("Authorization") == f"Bearer {TOKEN}" or (
            self.headers.get("PRIVATE-TOKEN") == TOKEN
        )
        if not token_ok:
            self._reply(401, {"message": "Bad credentials"})
            return
        path, _, query = self.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        route = _github if path.startswith(GITHUB) else _gitlab
        self._reply(*route(self.server, method, path, params, payload))

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")


def _gh_pull(pull: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": pull["number"],
        "html_url": f"https://github.example/acme/registry/pull/{pull['number']}",
        "title": pull["title"],
        "head": {"ref": pull["branch"]},
        "base": {"ref": pull["base"]},
        "state": "closed" if pull["state"] != "open" else "open",
        "merged_at": "2026-11-30T00:00:00Z" if pull["state"] == "merged" else None,
        "created_at": "2026-11-29T12:00:00Z",
    }


def _open(server: Forge, branch: str, base: str, title: str) -> dict[str, Any]:
    number = len(server.pulls) + 1
    server.pulls[number] = {
        "number": number,
        "branch": branch,
        "base": base,
        "title": title,
        "state": "open",
        "reviews": [],
        "commits": [],
    }
    return server.pulls[number]


def _github(
    server: Forge, method: str, path: str, params: dict[str, str], payload: Any
) -> tuple[int, Any]:
    rest = path.removeprefix(GITHUB)
    if rest == "/pulls" and method == "POST":
        pull = _open(server, payload["head"], payload["base"], payload["title"])
        pull["body"] = payload.get("body")  # what the reviewer reads (#25: who asked)
        return 201, _gh_pull(pull)
    if rest == "/pulls" and method == "GET":
        head = params.get("head", "")
        found = [
            _gh_pull(p)
            for p in server.pulls.values()
            if p["state"] == "open" and (not head or head == f"acme:{p['branch']}")
        ]
        return 200, found if params.get("page", "1") == "1" else []
    match = re.fullmatch(r"/pulls/(\d+)", rest)
    if match and method == "PATCH":
        pull = server.pulls[int(match[1])]
        pull["state"] = "closed" if payload.get("state") == "closed" else pull["state"]
        return 200, _gh_pull(pull)
    match = re.fullmatch(r"/pulls/(\d+)/reviews", rest)
    if match:
        reviews = server.pulls[int(match[1])]["reviews"]
        return 200, [{"user": {"login": u}, "state": s} for u, s in reviews]
    if re.fullmatch(r"/issues/\d+/labels", rest):
        return 200, []
    match = re.fullmatch(r"/commits/([0-9a-f]+)/pulls", rest)
    if match:
        return 200, [_gh_pull(p) for p in server.pulls.values() if match[1] in p["commits"]]
    return 404, {"message": "Not Found"}


def _gl_request(pull: dict[str, Any]) -> dict[str, Any]:
    state = {"open": "opened", "merged": "merged"}.get(pull["state"], "closed")
    return {
        "iid": pull["number"],
        "web_url": f"https://gitlab.example/acme/registry/-/merge_requests/{pull['number']}",
        "title": pull["title"],
        "source_branch": pull["branch"],
        "target_branch": pull["base"],
        "state": state,
        "created_at": "2026-11-29T12:00:00Z",
    }


def _gitlab(
    server: Forge, method: str, path: str, params: dict[str, str], payload: Any
) -> tuple[int, Any]:
    rest = path.removeprefix(GITLAB)
    if rest == "/merge_requests" and method == "POST":
        created = _open(
            server, payload["source_branch"], payload["target_branch"], payload["title"]
        )
        return 201, _gl_request(created)
    if rest == "/merge_requests" and method == "GET":
        branch = params.get("source_branch")
        found = [
            _gl_request(p)
            for p in server.pulls.values()
            if p["state"] == "open" and branch in (None, p["branch"])
        ]
        return 200, found if params.get("page", "1") == "1" else []
    match = re.fullmatch(r"/merge_requests/(\d+)", rest)
    if match and method == "PUT":
        pull = server.pulls[int(match[1])]
        if payload.get("state_event") == "close":
            pull["state"] = "closed"
        return 200, _gl_request(pull)
    match = re.fullmatch(r"/merge_requests/(\d+)/reviewers", rest)
    if match:
        states = {"CHANGES_REQUESTED": "requested_changes", "APPROVED": "approved"}
        reviews = server.pulls[int(match[1])]["reviews"]
        return 200, [{"user": {"username": u}, "state": states[s]} for u, s in reviews]
    match = re.fullmatch(r"/merge_requests/(\d+)/approvals", rest)
    if match:
        return 200, {"approved_by": []}
    match = re.fullmatch(r"/repository/commits/([0-9a-f]+)/merge_requests", rest)
    if match:
        return 200, [_gl_request(p) for p in server.pulls.values() if match[1] in p["commits"]]
    return 404, {"message": "404 Not Found"}


@contextmanager
def serving() -> Iterator[Forge]:
    server = Forge()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
