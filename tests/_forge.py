"""A stand-in for GitHub's and GitLab's REST APIs, for the governance tests (issues 11, 24).

``Forge`` is a real HTTP server on 127.0.0.1. It keeps pull (merge) requests, who opened
them, their head commit, their reviews (who, verdict, on which commit, when), which
commits each merged one produced, team (group) memberships, and records every call,
implementing just the endpoints gitreg uses: list/open/close requests, a pull request
with its reviews (paginated, with ``Link`` headers as GitHub sends them) and commits, team
membership, GitLab's merge request, approvals, reviewers and diff versions, and "which
request did this commit come from". The git remote itself is a local bare repository.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import urllib.parse
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "forge-token"
GITHUB = "/repos/acme/registry"
GITLAB = "/projects/acme%2Fregistry"
NO_COMMIT = "0" * 40
_START = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.timezone.utc)


class Forge(ThreadingHTTPServer):
    """Pull requests by number: ``pulls[n]`` with head branch, state, reviews, merge commits.

    ``teams["org/team"]`` is the set of its members' logins (GitLab: a group's path).
    """

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: list[tuple[str, str, Any]] = []
        self.pulls: dict[int, dict[str, Any]] = {}
        self.teams: dict[str, set[str]] = {}
        # path fragment -> the status every matching call gets (a token without a permission)
        self.broken: dict[str, int] = {}
        # When set, team membership answers only this token (an organization-reading one).
        self.members_token: str | None = None
        self.clock = 0  # minutes after _START: every review, push and merge takes one

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def tick(self) -> str:
        self.clock += 1
        return (_START + dt.timedelta(minutes=self.clock)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def pull_for(self, branch: str) -> dict[str, Any]:
        return next(p for p in self.pulls.values() if p["branch"] == branch)

    def add_pull(
        self, number: int, head: str, author: str = "mallory", branch: str = "pr", **more: Any
    ) -> dict[str, Any]:
        """A pull request someone opened from ``branch`` with ``head`` as its last commit."""
        pull = _new(number, branch, "main", f"Change {number}")
        pull.update(author=author, **more)
        self.pulls[number] = pull
        self.push(number, head)
        return pull

    def push(self, number: int, head: str) -> None:
        """A new head commit is pushed to the pull request (GitLab: a new diff version)."""
        pull = self.pulls[number]
        pull["head"] = head
        pull.setdefault("versions", []).append((head, self.tick()))

    def review(self, number: int, user: str, state: str, commit: str | None = None) -> None:
        """A reviewer's verdict (GitHub's words: APPROVED, CHANGES_REQUESTED, COMMENTED) on
        ``commit`` (default: the head as it is now)."""
        pull = self.pulls[number]
        pull["reviews"].append(
            {
                "user": user,
                "state": state,
                "commit": commit or pull.get("head") or NO_COMMIT,
                "at": self.tick(),
            }
        )

    def dismiss(self, number: int, user: str) -> None:
        """A maintainer dismisses ``user``'s latest approval (GitHub marks it DISMISSED)."""
        reviews = _reviews(self.pulls[number])
        last = next(r for r in reversed(reviews) if r["user"] == user)
        last["state"] = "DISMISSED"
        self.pulls[number]["reviews"] = reviews

    def merged(self, number: int, *commits: str) -> None:
        """The request was merged, producing ``commits`` on the base branch."""
        self.pulls[number]["state"] = "merged"
        self.pulls[number]["commits"] = list(commits)
        self.pulls[number]["merged_at"] = self.tick()


def _new(number: int, branch: str, base: str, title: str) -> dict[str, Any]:
    return {
        "number": number,
        "branch": branch,
        "base": base,
        "title": title,
        "state": "open",
        "reviews": [],
        "commits": [],
        "author": "gitreg-bot",
    }


def _reviews(pull: dict[str, Any]) -> list[dict[str, Any]]:
    """The reviews as dicts (tests may write ``(user, state)`` pairs)."""
    return [
        r
        if isinstance(r, dict)
        else {"user": r[0], "state": r[1], "commit": pull.get("head") or NO_COMMIT, "at": None}
        for r in pull["reviews"]
    ]


def user_id(login: str) -> int:
    """A stable numeric id per login (GitLab asks membership by id)."""
    return zlib.crc32(login.encode()) % 100_000 + 1


class _Handler(BaseHTTPRequestHandler):
    server: Forge

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length)) if length else None
        self.server.calls.append((method, self.path, payload))
        wanted = TOKEN
        if self.server.members_token and self.path.startswith(("/orgs/", "/groups/")):
            wanted = self.server.members_token
        token_ok = self.headers.get("Authorization") == f"Bearer {wanted}" or (
            self.headers.get("PRIVATE-TOKEN") == wanted
        )
        if not token_ok:
            self._reply(401, {"message": "Bad credentials"})
            return
        path, _, query = self.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        for fragment, status in self.server.broken.items():
            if fragment in path:
                self._reply(status, {"message": "Resource not accessible by integration"})
                return
        if path.startswith(GITHUB) or path.startswith("/orgs/"):
            answer = _github(self.server, method, path, params, payload)
        else:
            answer = _gitlab(self.server, method, path, params, payload)
        if len(answer) == 2:
            self._reply(*answer)
        else:
            code, body, headers = answer
            self._reply(code, body, headers)

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
        "user": {"login": pull.get("author", "gitreg-bot")},
        "head": {"ref": pull["branch"], "sha": pull.get("head") or NO_COMMIT},
        "base": {"ref": pull["base"]},
        "state": "closed" if pull["state"] != "open" else "open",
        "merged_at": (pull.get("merged_at") or "2026-11-30T00:00:00Z")
        if pull["state"] == "merged"
        else None,
        "created_at": "2026-11-29T12:00:00Z",
    }


def _open(server: Forge, branch: str, base: str, title: str) -> dict[str, Any]:
    number = len(server.pulls) + 1
    server.pulls[number] = _new(number, branch, base, title)
    return server.pulls[number]


def _page(items: list[Any], params: dict[str, str], path: str) -> tuple[int, Any, dict[str, str]]:
    """One page of ``items`` as GitHub serves it: ``per_page`` (at most 100), ``page``, and a
    ``Link`` header naming the next and last pages."""
    size = min(int(params.get("per_page", "30")), 100)
    number = int(params.get("page", "1"))
    last = max(1, -(-len(items) // size))
    links = []
    if number < last:
        links.append(f'<{path}?per_page={size}&page={number + 1}>; rel="next"')
        links.append(f'<{path}?per_page={size}&page={last}>; rel="last"')
    headers = {"Link": ", ".join(links)} if links else {}
    return 200, items[(number - 1) * size : number * size], headers


def _github(server: Forge, method: str, path: str, params: dict[str, str], payload: Any) -> tuple:
    match = re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)", path)
    if match:
        team = urllib.parse.unquote(f"{match[1]}/{match[2]}")
        if urllib.parse.unquote(match[3]) in server.teams.get(team, set()):
            return 200, {"state": "active", "role": "member"}
        return 404, {"message": "Not Found"}
    rest = path.removeprefix(GITHUB)
    if rest == "/pulls":
        return _gh_pulls(server, method, params, payload)
    match = re.fullmatch(r"/pulls/(\d+)(/reviews|/commits)?", rest)
    if match and int(match[1]) in server.pulls:
        return _gh_pull_parts(server.pulls[int(match[1])], match[2], method, params, path, payload)
    if re.fullmatch(r"/issues/\d+/labels", rest):
        return 200, []
    match = re.fullmatch(r"/commits/([0-9a-f]+)/pulls", rest)
    if match:
        return 200, [_gh_pull(p) for p in server.pulls.values() if match[1] in p["commits"]]
    return 404, {"message": "Not Found"}


def _gh_pulls(server: Forge, method: str, params: dict[str, str], payload: Any) -> tuple:
    if method == "POST":
        pull = _open(server, payload["head"], payload["base"], payload["title"])
        pull["body"] = payload.get("body")  # what the reviewer reads (#25: who asked)
        return 201, _gh_pull(pull)
    head = params.get("head", "")
    found = [
        _gh_pull(p)
        for p in server.pulls.values()
        if p["state"] == "open" and (not head or head == f"acme:{p['branch']}")
    ]
    return 200, found if params.get("page", "1") == "1" else []


def _gh_pull_parts(
    pull: dict[str, Any],
    part: str | None,
    method: str,
    params: dict[str, str],
    path: str,
    payload: Any,
) -> tuple:
    if part is None and method == "PATCH":
        pull["state"] = "closed" if payload.get("state") == "closed" else pull["state"]
        return 200, _gh_pull(pull)
    if part is None:
        return 200, _gh_pull(pull)
    if part == "/reviews":
        shaped = [
            {
                "id": index + 1,
                "user": {"login": r["user"]},
                "state": r["state"],
                "commit_id": r["commit"],
                "submitted_at": r["at"] or "2026-11-29T12:00:00Z",
            }
            for index, r in enumerate(_reviews(pull))
        ]
        return _page(shaped, params, path)
    people = pull.get("contributors") or [pull.get("author", "gitreg-bot")]
    commits = [{"author": {"login": who}, "committer": {"login": "web-flow"}} for who in people]
    return _page(commits, params, path)


def _gl_request(pull: dict[str, Any]) -> dict[str, Any]:
    state = {"open": "opened", "merged": "merged"}.get(pull["state"], "closed")
    author = pull.get("author", "gitreg-bot")
    return {
        "iid": pull["number"],
        "web_url": f"https://gitlab.example/acme/registry/-/merge_requests/{pull['number']}",
        "title": pull["title"],
        "author": {"username": author, "id": user_id(author)},
        "source_branch": pull["branch"],
        "target_branch": pull["base"],
        "sha": pull.get("head") or NO_COMMIT,
        "state": state,
        "merged_at": pull.get("merged_at") if pull["state"] == "merged" else None,
        "created_at": "2026-11-29T12:00:00Z",
    }


def _gl_latest(pull: dict[str, Any]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for review in _reviews(pull):
        if review["state"] != "COMMENTED":
            latest[review["user"]] = review
    return latest


def _gitlab(server: Forge, method: str, path: str, params: dict[str, str], payload: Any) -> tuple:
    match = re.fullmatch(r"/groups/([^/]+)/members/all/(\d+)", path)
    if match:
        group = urllib.parse.unquote(match[1])
        members = {user_id(u) for u in server.teams.get(group, set())}
        if int(match[2]) in members:
            return 200, {"id": int(match[2]), "state": "active", "access_level": 30}
        return 404, {"message": "404 Not found"}
    rest = path.removeprefix(GITLAB)
    if rest == "/merge_requests":
        return _gl_requests(server, method, params, payload)
    match = re.fullmatch(r"/merge_requests/(\d+)(/reviewers|/approvals|/versions)?", rest)
    if match and int(match[1]) in server.pulls:
        return _gl_parts(server.pulls[int(match[1])], match[2], method, params, path, payload)
    match = re.fullmatch(r"/repository/commits/([0-9a-f]+)/merge_requests", rest)
    if match:
        return 200, [_gl_request(p) for p in server.pulls.values() if match[1] in p["commits"]]
    return 404, {"message": "404 Not Found"}


def _gl_requests(server: Forge, method: str, params: dict[str, str], payload: Any) -> tuple:
    if method == "POST":
        created = _open(
            server, payload["source_branch"], payload["target_branch"], payload["title"]
        )
        return 201, _gl_request(created)
    branch = params.get("source_branch")
    found = [
        _gl_request(p)
        for p in server.pulls.values()
        if p["state"] == "open" and branch in (None, p["branch"])
    ]
    return 200, found if params.get("page", "1") == "1" else []


_GL_STATES = {"CHANGES_REQUESTED": "requested_changes", "APPROVED": "approved"}


def _gl_parts(
    pull: dict[str, Any],
    part: str | None,
    method: str,
    params: dict[str, str],
    path: str,
    payload: Any,
) -> tuple:
    if part is None:
        if method == "PUT" and payload.get("state_event") == "close":
            pull["state"] = "closed"
        return 200, _gl_request(pull)
    latest = _gl_latest(pull)
    if part == "/reviewers":
        return 200, [
            {"user": {"username": u, "id": user_id(u)}, "state": _GL_STATES.get(r["state"], "")}
            for u, r in latest.items()
        ]
    if part == "/approvals":
        approved = [
            {"user": {"username": u, "id": user_id(u)}, "approved_at": r["at"]}
            for u, r in latest.items()
            if r["state"] == "APPROVED"
        ]
        return 200, {"approved_by": approved}
    shaped = [
        {"id": i + 1, "head_commit_sha": sha, "created_at": at}
        for i, (sha, at) in enumerate(pull.get("versions", []))
    ]
    return _page(list(reversed(shaped)), params, path)


@contextmanager
def serving() -> Iterator[Forge]:
    server = Forge()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
