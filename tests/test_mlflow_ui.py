"""MLflow's own UI and authentication over a gitreg registry, as a team runs it (#25).

One real ``mlflow server --app-name basic-auth --registry-store-uri gitreg://CLONE`` on
127.0.0.1 for the module, whose registry is a clone of a bare repository standing in for
GitHub (so Production and ``@champion`` change only through requests, as on a team's
server). Users are created through MLflow's own user API; ``MlflowClient`` calls the
server as alice and bob.

- Each commit's author is the user the server authenticated, its committer the server's
  git identity: in ``git log``, ``gitreg history`` and ``gitreg events``. Headers a client
  sends to name another user are ignored.
- Headless Chromium (Debian's, through Playwright, as tests/test_site_browser.py) logs in
  as alice and reads the Models pages: the list, a model, a version (stage, aliases, tags,
  Last Modified), makes a transition from the version page and sees Last Modified move,
  then asks for a protected one and sees the pending request named. Screenshots are kept
  in $GITREG_ARTIFACTS (default tests/artifacts/, ignored by git).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from gitreg.gate.scaffold import init_registry
from tests._helpers import Cli, git
from tests.test_mlflow_server import Server, _free_port, _stop, _wait_until_up
from tests.test_site_browser import CHROMIUM, FLAGS, _require_browser

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)

ADMIN = ("admin", "admin-password-1234")
USERS = {"alice": "alice-password-1234", "bob": "bob-password-1234"}
SERVER_IDENTITY = ("MLflow server", "mlflow-server@example.com")
ARTIFACTS = Path(
    os.environ.get("GITREG_ARTIFACTS") or Path(__file__).resolve().parent / "artifacts"
)
AUTH_INI = """\
[mlflow]
default_permission = MANAGE
database_uri = sqlite:///{db}
admin_username = {admin}
admin_password = {password}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
"""
MLMODEL = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: m\n"


class Team(NamedTuple):
    server: Server
    remote: Path
    start: str  # the remote's tip before the server wrote anything


def _call(url: str, path: str, body: dict[str, Any], user: tuple[str, str]) -> Any:
    token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


@contextlib.contextmanager
def _as(url: str, user: str) -> Iterator[Any]:
    """An MlflowClient calling the server with ``user``'s credentials."""
    from mlflow import MlflowClient

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"] = user
    os.environ["MLFLOW_TRACKING_PASSWORD"] = USERS.get(user, "wrong")
    try:
        yield MlflowClient(tracking_uri=url, registry_uri=url)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _logged_source(client: Any, tmp: Path) -> tuple[str, str]:
    """A run with a model's MLmodel logged to it: the source the UI can read artifacts of."""
    (tmp / "MLmodel").write_text(MLMODEL)
    run = client.create_run("0")
    client.log_artifact(run.info.run_id, str(tmp / "MLmodel"), "model")
    client.set_terminated(run.info.run_id)
    return f"runs:/{run.info.run_id}/model", run.info.run_id


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    if sys.platform == "win32":
        pytest.fail("mlflow server runs uvicorn workers under a POSIX process group here")
    base = tmp_path_factory.mktemp("ui")
    seed = base / "seed"
    init_registry(seed)
    remote = base / "remote.git"
    git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    git(seed, "push", "-q", str(remote), "main")
    clone = base / "registry"
    git(base, "clone", "-q", str(remote), str(clone))
    (base / "auth.ini").write_text(
        AUTH_INI.format(db=base / "auth.db", admin=ADMIN[0], password=ADMIN[1])
    )
    port = _free_port()
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(base / "auth.ini"),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-csrf-key",
        "GIT_AUTHOR_NAME": SERVER_IDENTITY[0],
        "GIT_AUTHOR_EMAIL": SERVER_IDENTITY[1],
        "GIT_COMMITTER_NAME": SERVER_IDENTITY[0],
        "GIT_COMMITTER_EMAIL": SERVER_IDENTITY[1],
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [
        sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{base / 'tracking.db'}",
        "--registry-store-uri", f"gitreg://{clone}",
        "--default-artifact-root", (base / "artifacts").as_uri(),
    ]  # fmt: skip
    log = base / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}", clone, log, process)
    try:
        _wait_until_up(server)
        for user, password in USERS.items():
            body = {"username": user, "password": password}
            _call(server.url, "/api/2.0/mlflow/users/create", body, ADMIN)
        start = git(remote, "rev-parse", "main").strip()
        with _as(server.url, "alice") as alice:
            alice.create_registered_model("churn", tags={"team": "growth"}, description="Churn")
            for _ in (1, 2):
                source, run_id = _logged_source(alice, base)
                alice.create_model_version(
                    "churn", source, run_id=run_id, tags={"validation": "passed"}
                )
        with _as(server.url, "bob") as bob:
            bob.transition_model_version_stage("churn", 1, "Staging")
            bob.set_registered_model_alias("churn", "canary", 2)
        yield Team(server, remote, start)
    finally:
        _stop(process)


def _authors(remote: Path, start: str) -> list[tuple[str, str, str]]:
    out = git(remote, "log", "--format=%an|%cn|%s", f"{start}..main")
    return [tuple(line.split("|", 2)) for line in out.splitlines()]  # type: ignore[misc]


def test_each_commit_is_authored_by_the_user_the_server_authenticated(team, tmp_path):
    with _as(team.server.url, "bob") as bob:
        bob.set_model_version_tag("churn", 2, "reviewed", "yes")
    # A client cannot name someone else: headers that say so are not trusted.
    token = base64.b64encode(f"bob:{USERS['bob']}".encode()).decode()
    request = urllib.request.Request(
        f"{team.server.url}/api/2.0/mlflow/registered-models/set-tag",
        data=json.dumps({"name": "churn", "key": "owner", "value": "bob"}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Basic {token}",
            "X-Forwarded-User": "mallory",
            "X-Remote-User": "mallory",
            "Remote-User": "mallory",
        },
    )
    urllib.request.urlopen(request, timeout=30).close()
    with (
        _as(team.server.url, "mallory") as mallory,
        pytest.raises(Exception, match=r"401|[Uu]nauthori"),
    ):
        mallory.set_registered_model_tag("churn", "owner", "mallory")  # no such user

    assert _authors(team.remote, team.start) == [
        ("bob", SERVER_IDENTITY[0], "Set tag owner=bob on churn"),
        ("bob", SERVER_IDENTITY[0], "Set tag reviewed=yes on churn version 2"),
        ("bob", SERVER_IDENTITY[0], "Set alias churn@canary -> version 2"),
        ("bob", SERVER_IDENTITY[0], "Transition churn version 1: None -> Staging"),
        ("alice", SERVER_IDENTITY[0], "Register churn version 2"),
        ("alice", SERVER_IDENTITY[0], "Register churn version 1"),
        ("alice", SERVER_IDENTITY[0], "Create registered model churn"),
    ]
    assert git(team.remote, "log", "-1", "--format=%ae", "main").strip() == "bob@mlflow.invalid"

    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(team.remote), str(work))
    cli = Cli(work)
    history = json.loads(cli.ok("history", "churn", "--json").stdout)["history"]
    assert [(h["author"], h["committer"]) for h in history] == [("bob", SERVER_IDENTITY[0])] * 4 + [
        ("alice", SERVER_IDENTITY[0])
    ] * 3
    events = json.loads(cli.ok("events", "--since", team.start, "--json").stdout)["events"]
    by_kind = {(e["event"], e.get("version")): e["author"] for e in events}
    assert by_kind[("MODEL_VERSION_CREATED", "1")] == "alice"
    assert by_kind[("MODEL_VERSION_TRANSITIONED_STAGE", "1")] == "bob"
    assert by_kind[("MODEL_VERSION_ALIAS_CREATED", "2")] == "bob"
    assert "mallory" not in json.dumps(events)
    model = json.loads(cli.ok("show", "churn", "--json").stdout)["registered_model"]
    assert model["user_id"] == "alice"


# --------------------------------------------------------------------------- the UI


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


def _field(text: str, label: str) -> str:
    """The value the version page shows after ``label:`` (a date such as 12/06/2026, ...)."""
    match = re.search(rf"{label}\s*:\s*(\d+/\d+/\d+, [\d:]+ [AP]M)", text)
    assert match, f"no {label} on the page:\n{text[:1500]}"
    return match[1]


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"mlflow-ui-{name}.png"), full_page=True)


def _row(page: Any, text: str) -> str:
    row = page.get_by_role("row").filter(has_text=text).first
    row.wait_for()
    return str(row.inner_text()).replace("\xa0", " ")


def test_mlflows_models_pages_show_the_registry_and_a_transition(team, browser):
    context = browser.new_context(
        http_credentials={"username": "alice", "password": USERS["alice"]},
        viewport={"width": 1400, "height": 900},
        timezone_id="UTC",
        locale="en-US",
    )
    page = context.new_page()
    failures: list[str] = []
    console: list[str] = []
    page.on("response", lambda r: r.status >= 500 and failures.append(f"{r.status} {r.url}"))
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    url = team.server.url

    # The models list (MLflow's default "new model registry UI"): aliases, tags, times.
    page.goto(f"{url}/#/models")
    page.get_by_role("button", name="Try it now").click()  # MLflow's one-time introduction
    page.get_by_role("button", name="Close").first.click()  # the assistant's side panel
    row = _row(page, "churn")
    assert "@ canary" in row
    assert "Version 2" in row
    assert "team: growth" in row
    _shot(page, "models")

    # A model: its tags, and its versions with their aliases and tags.
    page.goto(f"{url}/#/models/churn")
    table = _row(page, "Version 1")
    assert "validation" in table
    assert "passed" in table
    assert "@ canary" in _row(page, "Version 2")
    assert "growth" in page.inner_text("body")
    _shot(page, "model")

    # A version: its aliases, stage, tags, and times.
    page.goto(f"{url}/#/models/churn/versions/2")
    page.get_by_text("Last Modified").first.wait_for()
    text = page.inner_text("body").replace("\xa0", " ")
    assert "canary" in text
    assert re.search(r"Stage \(deprecated\)\s*:\s*None", text)
    _shot(page, "version-2")

    # The stages view: stages in the list and the model's versions table.
    page.goto(f"{url}/#/models")
    page.get_by_role("switch").first.click()
    page.get_by_role("button", name="Disable").click()
    row = _row(page, "churn")
    assert "Version 1" in row  # the Staging column
    _shot(page, "models-stages")
    page.goto(f"{url}/#/models/churn")
    assert "Staging" in _row(page, "Version 1")
    assert "None" in _row(page, "Version 2")

    # A transition from the version page: Last Modified moves, Registered At does not.
    with _as(url, "alice") as alice:
        changed = alice.get_model_version("churn", 2).last_updated_timestamp / 1000
    time.sleep(max(0.0, changed + 1.1 - time.time()))  # the page shows seconds
    page.goto(f"{url}/#/models/churn/versions/2")
    page.get_by_text("Last Modified").first.wait_for()
    before = page.inner_text("body")
    page.get_by_text("None", exact=True).first.click()
    page.get_by_role("menuitem").filter(has_text="Staging").first.click()
    page.get_by_role("dialog").get_by_role("button", name="OK").click()
    page.get_by_text("Staging", exact=True).first.wait_for()
    page.reload()
    page.get_by_text("Last Modified").first.wait_for()
    after = page.inner_text("body")
    assert re.search(r"Stage\s*:\s*Staging", after)
    assert _field(after, "Registered At") == _field(before, "Registered At")
    assert _field(after, "Last Modified") != _field(before, "Last Modified")
    assert "validation" in after
    _shot(page, "version-2-after-transition")
    assert git(team.remote, "log", "-1", "--format=%an|%s", "main").strip() == (
        "alice|Transition churn version 2: None -> Staging"
    )
    assert failures == []
    assert console == []

    # A protected stage from the UI becomes a request: the UI names it; the stage stays.
    page.get_by_text("Staging", exact=True).first.click()
    page.get_by_role("menuitem").filter(has_text="Production").first.click()
    page.get_by_role("dialog").get_by_role("button", name="OK").click()
    notice = page.get_by_text("is proposed on branch gitreg/churn/v2-production")
    notice.first.wait_for()
    _shot(page, "version-2-pending-request")
    page.reload()
    page.get_by_text("Last Modified").first.wait_for()
    assert re.search(r"Stage\s*:\s*Staging", page.inner_text("body"))
    assert git(team.remote, "rev-parse", "--verify", "-q", "gitreg/churn/v2-production")
    assert failures == []
    context.close()
