"""Pull requests through forges (#5).

``FakeForge`` is an HTTP server on 127.0.0.1 that STANDS IN FOR GITHUB AND GITLAB: it
implements only the REST endpoints gitreg calls, checks the token and the payload, and
records every request. The git remote is a local bare repository.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitreg import Registry
from gitreg.core.errors import ForgeError, PromotionPending
from gitreg.integrations.forges import make_forge
from gitreg.integrations.forges.base import repository_from_url
from tests._helpers import Cli, git

TOKEN = "s3cret-token"


class FakeForge(ThreadingHTTPServer):
    """Stands in for GitHub's and GitLab's REST APIs (the few endpoints gitreg uses)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, Any]] = []
        self.pulls: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeForge

    def log_message(self, *args: Any) -> None:
        pass

    def _authorized(self) -> bool:
        github = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        gitlab = self.headers.get("PRIVATE-TOKEN") == TOKEN
        return github or gitlab

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
        self.server.requests.append((method, self.path, payload))
        if not self._authorized():
            self._reply(401, {"message": "Bad credentials"})
            return
        path, _, query = self.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        self._reply(*route(self.server, method, path, params, payload))

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


def route(
    server: FakeForge, method: str, path: str, params: dict[str, str], payload: Any
) -> tuple[int, Any]:
    pulls = server.pulls
    if path == "/repos/team/registry/pulls" and method == "POST":
        assert set(payload) == {"title", "head", "base", "body"}, payload
        number = len(pulls) + 1
        pull = {
            "number": number,
            "html_url": f"https://github.example/team/registry/pull/{number}",
            "title": payload["title"],
            "head": {"ref": payload["head"]},
        }
        pulls.append(pull)
        return 201, pull
    if path == "/repos/team/registry/pulls" and method == "GET":
        head = params.get("head", "")
        return 200, [p for p in pulls if not head or head == f"team:{p['head']['ref']}"]
    if path.startswith("/repos/team/registry/issues/") and path.endswith("/labels"):
        return 200, [{"name": name} for name in payload["labels"]]
    if path == "/projects/group%2Fregistry/merge_requests" and method == "POST":
        assert payload["target_branch"] == "main", payload
        assert payload["source_branch"], payload
        iid = len(pulls) + 1
        mr = {
            "iid": iid,
            "web_url": f"https://gitlab.example/group/registry/-/merge_requests/{iid}",
            "title": payload["title"],
            "source_branch": payload["source_branch"],
            "labels": payload.get("labels", ""),
        }
        pulls.append(mr)
        return 201, mr
    if path == "/projects/group%2Fregistry/merge_requests" and method == "GET":
        branch = params.get("source_branch")
        return 200, [m for m in pulls if branch in (None, m["source_branch"])]
    return 404, {"message": "Not Found"}


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    server = FakeForge()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def forge_clone(remote: Path, tmp_path: Path, forge_yaml: str) -> Path:
    """A clone whose gitreg.yaml (pushed to the remote) names the fake forge."""
    path = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(path))
    config = path / "gitreg.yaml"
    config.write_text(config.read_text().replace("  forge:\n    type: none\n", forge_yaml))
    git(path, "commit", "-qam", "Use the forge")
    git(path, "push", "-q")
    Registry(path).create_model_version(
        "churn", "s3://m/1", run_id="abc123", description="Better features", metrics={"f1": 0.94}
    )
    return path


def github_yaml(forge: FakeForge) -> str:
    return (
        "  forge:\n    type: github\n    repository: team/registry\n"
        f"    api_url: {forge.url}\n    labels: [gitreg, needs-review]\n"
    )


def test_github_pull_request_is_opened_with_title_body_and_labels(
    forge, bare_remote, tmp_path, monkeypatch
):
    clone = forge_clone(bare_remote, tmp_path, github_yaml(forge))
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with pytest.raises(PromotionPending) as caught:
        Registry(clone).transition_model_version_stage(
            "churn", 1, "Production", message="Beats v0 on the holdout set"
        )
    assert caught.value.url == "https://github.example/team/registry/pull/1"
    assert caught.value.number == 1
    assert caught.value.url in caught.value.message
    assert "when that pull request is merged" in caught.value.message
    posts = [(p, body) for m, p, body in forge.requests if m == "POST"]
    assert posts[0][0] == "/repos/team/registry/pulls"
    opened = posts[0][1]
    assert opened["head"] == "gitreg/churn/v1-production"
    assert opened["base"] == "main"
    assert opened["title"] == "Promote churn version 1 to Production"
    for expected in (
        "Beats v0 on the holdout set",
        "Better features",
        "f1=0.94",
        "abc123",
        "+    stage: Production",
        "when it is merged",
    ):
        assert expected in opened["body"]
    assert posts[1] == (
        "/repos/team/registry/issues/1/labels",
        {"labels": ["gitreg", "needs-review"]},
    )


def test_asking_twice_finds_the_open_pull_request(forge, bare_remote, tmp_path, monkeypatch):
    clone = forge_clone(bare_remote, tmp_path, github_yaml(forge))
    monkeypatch.setenv("GITREG_TOKEN", TOKEN)
    for _ in range(2):
        with pytest.raises(PromotionPending) as caught:
            Registry(clone).transition_model_version_stage("churn", 1, "Production")
    assert not caught.value.created
    assert caught.value.url == "https://github.example/team/registry/pull/1"
    assert len(forge.pulls) == 1


def test_cli_prints_the_url_and_requests_lists_it(forge, bare_remote, tmp_path, monkeypatch):
    clone = forge_clone(bare_remote, tmp_path, github_yaml(forge))
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    cli = Cli(clone)
    result = cli.ok("transition", "churn", "1", "Production")
    assert result.stdout.strip() == "https://github.example/team/registry/pull/1"
    listed = json.loads(cli.ok("requests", "--json").stdout)["transition_requests"]
    assert listed[0]["url"] == "https://github.example/team/registry/pull/1"
    assert listed[0]["name"] == "churn"
    assert listed[0]["version"] == 1
    assert "pull/1" in cli.ok("requests").stdout


def test_a_wrong_token_is_one_clear_line_and_rerunning_opens_it(
    forge, bare_remote, tmp_path, monkeypatch
):
    clone = forge_clone(bare_remote, tmp_path, github_yaml(forge))
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    result = Cli(clone).fails(1, "transition", "churn", "1", "Production")
    assert "GitHub answered 401" in result.stderr
    assert "Bad credentials" in result.stderr
    assert result.stderr.count("\n") == 1
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with pytest.raises(PromotionPending) as caught:
        Registry(clone).transition_model_version_stage("churn", 1, "Production")
    assert caught.value.url is not None
    assert not caught.value.created


def test_a_missing_token_says_which_variables(bare_remote, tmp_path, forge):
    clone = forge_clone(bare_remote, tmp_path, github_yaml(forge))
    with pytest.raises(ForgeError, match="GITHUB_TOKEN or GITREG_TOKEN"):
        Registry(clone).transition_model_version_stage("churn", 1, "Production")


def test_gitlab_merge_request(forge, bare_remote, tmp_path, monkeypatch):
    forge_yaml = (
        f"  forge:\n    type: gitlab\n    repository: group/registry\n    api_url: {forge.url}\n"
    )
    clone = forge_clone(bare_remote, tmp_path, forge_yaml)
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with pytest.raises(PromotionPending) as caught:
        Registry(clone).transition_model_version_stage("churn", 1, "Production")
    assert caught.value.url == "https://gitlab.example/group/registry/-/merge_requests/1"
    opened = next(body for m, _, body in forge.requests if m == "POST")
    assert opened["source_branch"] == "gitreg/churn/v1-production"
    assert opened["labels"] == "gitreg,promotion"
    assert "stage: Production" in opened["description"]
    requests = Registry(clone).list_transition_requests()
    assert [r.number for r in requests] == [1]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("git@github.com:team/registry.git", "team/registry"),
        ("https://github.com/team/registry.git", "team/registry"),
        ("https://user:pw@gitlab.com/group/sub/registry", "group/sub/registry"),
        ("ssh://git@host:22/team/registry.git", "team/registry"),
        ("/srv/git/registry.git", None),
    ],
)
def test_repository_is_read_from_the_remote_url(url, expected):
    assert repository_from_url(url) == expected


def test_the_none_forge_needs_no_token():
    assert make_forge({"type": "none"}, "/srv/git/r.git", {}).list_open() == []


# ------------------------------------------------------------------ issue 23


def _echoing_forge(status: int):
    """A forge that answers every call with ``status`` and the credentials it was sent, in
    its message and raw in the body (as a misconfigured proxy in front of GitHub does)."""
    from tests._servers import Answer

    def answer(seen):
        sent = seen.headers.get("Authorization") or seen.headers.get("PRIVATE-TOKEN")
        body = json.dumps({"message": f"Validation Failed for {sent}", "echo": sent})
        return Answer(status, body + f" {sent}")

    return answer


@pytest.mark.parametrize(
    ("kind", "variable"), [("github", "GITHUB_TOKEN"), ("gitlab", "GITLAB_TOKEN")]
)
@pytest.mark.parametrize("command", [["transition", "churn", "1", "Production"], ["requests"]])
def test_a_forge_echoing_the_token_in_a_422_never_prints_it(
    bare_remote, tmp_path, monkeypatch, kind, variable, command
):
    """#23: `transition` and `requests` printed 'Bearer …' when the forge echoed it."""
    from tests._servers import serving

    with serving(_echoing_forge(422)) as api:
        repository = "team/registry" if kind == "github" else "group/registry"
        forge_yaml = (
            f"  forge:\n    type: {kind}\n    repository: {repository}\n    api_url: {api.url}\n"
        )
        clone = forge_clone(bare_remote, tmp_path, forge_yaml)
        monkeypatch.setenv(variable, TOKEN)
        result = Cli(clone).fails(1, *command, "--json")
        text = Cli(clone).fails(1, *command)
    assert api.requests
    for out in (result.stdout + result.stderr, text.stdout + text.stderr):
        assert "answered 422" in out
        assert "Validation Failed for [REDACTED]" in out
        assert TOKEN not in out
        assert "Bearer" not in out
