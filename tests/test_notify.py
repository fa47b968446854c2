"""Delivery of registry events (issue 13): real registries, real receivers on 127.0.0.1.

The receivers are tests/_servers.Receiver, each standing in for what the test says: a CI
system's webhook endpoint, Slack's incoming webhook, GitHub's dispatches API. Email goes
to a real SMTP server (aiosmtpd) on 127.0.0.1. Signatures are checked by code written here
from the Standard Webhooks and MLflow descriptions, not by calling gitreg's signer.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.events import EventKind
from gitreg.integrations import http
from gitreg.integrations.notify import Links, deliver
from tests._helpers import Cli, git, head
from tests._servers import Answer, serving, silent
from tests.test_events import _branch_of_changes, _script

SECRET = "s3cr3t-signing-key"
EVERY_KIND = [k.value for k in EventKind if k.name not in ("POLICY_VIOLATION",)]


# The receivers are servers on 127.0.0.1 that the tests start: a loopback address, which
# delivery reaches only when gitreg.yaml allow-lists it (#23).
LOCAL = "  allow:\n    hosts: [127.0.0.1]\n"


def subscribe(repo: Path, text: str, allow: str = LOCAL) -> str:
    """Append a notifications section to gitreg.yaml, commit it; return that commit."""
    config = repo / "gitreg.yaml"
    config.write_text(config.read_text() + "notifications:\n" + allow + text)
    git(repo, "commit", "-qam", "Subscribe")
    return head(repo)


def hook(url: str, **fields) -> str:
    lines = [f"    - name: {fields.pop('name', 'ci')}", f"      url: {url}/hook"]
    for key, value in fields.items():
        lines.append(f"      {key}: {json.dumps(value)}")
    return "  webhooks:\n" + "\n".join(lines) + "\n"


def verify_standard(seen, secret: str) -> dict:
    """A Standard Webhooks receiver: id, timestamp within 5 minutes, v1 HMAC-SHA256."""
    msg_id = seen.headers["webhook-id"]
    stamp = seen.headers["webhook-timestamp"]
    assert abs(time.time() - int(stamp)) < 300
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + seen.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in seen.headers["webhook-signature"].split()]
    assert any(hmac.compare_digest(expected, s) for s in offered)
    return seen.json()


def verify_mlflow(seen, secret: str) -> dict:
    """A receiver written for MLflow's webhooks (X-MLflow-* headers)."""
    delivery = seen.headers["X-MLflow-Delivery-Id"]
    stamp = seen.headers["X-MLflow-Timestamp"]
    assert abs(time.time() - int(stamp)) < 300
    payload = seen.body.decode()
    signed = f"{delivery}.{stamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    assert seen.headers["X-MLflow-Signature"] == "v1," + base64.b64encode(digest).decode()
    return json.loads(payload)


# ------------------------------------------------------------------ every event, signed


def test_every_event_kind_of_a_scripted_history_is_delivered_signed(
    registry, registry_repo, monkeypatch
):
    """The receiver stands in for a CI system's webhook endpoint."""
    with serving() as receiver:
        start = subscribe(
            registry_repo, hook(receiver.url, secret_env="HOOK_SECRET", events=EVERY_KIND)
        )
        _script(registry)
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        report = registry.notify(start)
    # Not made by commits: requests, violations, and artifacts changing under a version (#28).
    expected = set(EventKind) - {
        EventKind.TRANSITION_REQUEST_CREATED,
        EventKind.POLICY_VIOLATION,
        EventKind.ARTIFACT_CHANGED,
    }
    expected -= {EventKind.COMMENT_CREATED}  # from the comments ref, not the branch (#29)
    bodies = [verify_standard(seen, SECRET) for seen in receiver.requests]
    assert {b["event"] for b in bodies} == {k.value for k in expected}
    assert report.failed == 0
    assert report.delivered == len(report.events) == len(receiver.requests)
    assert [b["id"] for b in bodies] == [s.headers["webhook-id"] for s in receiver.requests]
    created = next(b for b in bodies if b["event"] == "MODEL_VERSION_CREATED")
    assert (created["name"], created["version"], created["source"]) == ("churn", "1", "s3://1")
    assert created["run_id"] == "r1"
    assert created["author"] == "Alice Example"


def test_a_squash_merged_copy_delivers_the_same_net_events(registry, registry_repo):
    with serving() as receiver:
        subscribe(registry_repo, hook(receiver.url, events=EVERY_KIND))
        registry.create_model_version("churn", "s3://1")
        start = head(registry_repo)
        branch = _branch_of_changes(registry_repo)
        registry.notify(start, branch)
        by_commit = [s.json() for s in receiver.requests]
        receiver.requests.clear()
        git(registry_repo, "merge", "--squash", "-q", branch)
        git(registry_repo, "commit", "-qm", "Promote churn (#41)")
        registry.notify(start)
        squashed = [s.json() for s in receiver.requests]

    def net(bodies):
        return sorted((b["event"], b["name"], b.get("version"), b.get("alias")) for b in bodies)

    assert net(squashed) == net(by_commit)
    assert {b["pull_request"] for b in squashed} == {41}
    assert len({b["commit"] for b in squashed}) == 1


def test_the_mlflow_scheme_works_with_a_receiver_written_for_mlflow(
    registry, registry_repo, monkeypatch
):
    with serving() as receiver:
        start = subscribe(
            registry_repo,
            hook(receiver.url, secret_env="HOOK_SECRET", signature="mlflow"),
        )
        registry.create_model_version("churn", "s3://1", run_id="r1", tags={"k": "v"})
        registry.set_registered_model_alias("churn", "champion", 1)
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        assert registry.notify(start).failed == 0
    bodies = [verify_mlflow(seen, SECRET) for seen in receiver.requests]
    shapes = [(b["entity"], b["action"]) for b in bodies]
    assert shapes == [
        ("registered_model", "created"),
        ("model_version", "created"),
        ("model_version_tag", "set"),
        ("model_version_alias", "created"),
    ]
    version = bodies[1]["data"]
    assert (version["name"], version["version"], version["source"]) == ("churn", "1", "s3://1")
    alias = bodies[3]["data"]
    assert (alias["name"], alias["alias"], alias["version"]) == ("churn", "champion", "1")
    assert all(set(b) == {"entity", "action", "timestamp", "data"} for b in bodies)


def test_a_whsec_secret_is_base64_and_rerunning_resends_the_same_ids(
    registry, registry_repo, monkeypatch
):
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    with serving() as receiver:
        start = subscribe(registry_repo, hook(receiver.url, secret_env="HOOK_SECRET"))
        registry.create_model_version("churn", "s3://1")
        monkeypatch.setenv("HOOK_SECRET", secret)
        registry.notify(start)
        registry.notify(start)
    for seen in receiver.requests:
        verify_standard(seen, secret)
    ids = [s.headers["webhook-id"] for s in receiver.requests]
    assert len(ids) == 4
    assert ids[:2] == ids[2:]  # the same events, the same ids: receivers deduplicate


def test_events_and_models_filter_what_a_subscription_gets(registry, registry_repo):
    with serving() as receiver:
        start = subscribe(
            registry_repo,
            hook(
                receiver.url,
                events=["MODEL_VERSION_TRANSITIONED_TO_PRODUCTION", "model_version.created"],
                models=["churn*"],
            ),
        )
        registry.create_model_version("churn-eu", "s3://1")
        registry.create_model_version("fraud", "s3://f")
        registry.transition_model_version_stage("churn-eu", 1, "Production")
        registry.transition_model_version_stage("fraud", 1, "Production")
        registry.notify(start)
    got = [(s.json()["event"], s.json()["name"]) for s in receiver.requests]
    assert got == [
        ("MODEL_VERSION_CREATED", "churn-eu"),
        ("MODEL_VERSION_TRANSITIONED_TO_PRODUCTION", "churn-eu"),
    ]


# ------------------------------------------------------------------ failures, retries


def test_a_receiver_that_fails_twice_then_succeeds(registry_repo, cli):
    with serving(Answer(503), Answer(500), Answer(200, b"ok")) as receiver:
        start = subscribe(registry_repo, hook(receiver.url))
        cli.ok("register", "churn", "s3://1")
        result = cli.ok("notify", "--since", start, "--until", "HEAD~0")
    assert "3 tries" in result.stdout
    assert len(receiver.requests) == 4  # 3 tries for the first event, 1 for the second
    assert len({s.headers["webhook-id"] for s in receiver.requests[:3]}) == 1


def test_a_404_is_not_retried_and_the_run_exits_1(registry_repo, cli):
    with serving(Answer(404, "no such hook")) as receiver:
        start = subscribe(registry_repo, hook(receiver.url))
        cli.ok("register", "churn", "s3://1")
        result = cli.fails(1, "notify", "--since", start)
    assert len(receiver.requests) == 2  # one per event, each tried once
    assert "answered 404" in result.stdout
    assert "2 of 2 deliveries failed" in result.stderr


def test_429_with_retry_after_is_honoured(registry_repo, cli):
    with serving(Answer(429, b"", {"Retry-After": "1"}), Answer(200)) as receiver:
        start = subscribe(registry_repo, hook(receiver.url, events=["MODEL_VERSION_CREATED"]))
        cli.ok("register", "churn", "s3://1")
        result = cli.ok("notify", "--since", start, "--json")
    delivery = json.loads(result.stdout)["deliveries"][0]
    assert (delivery["ok"], delivery["attempts"], delivery["status"]) == (True, 2, 200)


def test_a_receiver_that_never_answers_is_bounded_by_its_timeout(registry, registry_repo):
    with silent() as url:
        start = subscribe(registry_repo, hook(url, timeout=0.5))
        registry.create_model_version("churn", "s3://1")
        config = registry.store.read_config()
        events = registry.list_events(start)
        report = deliver(
            config.notifications,
            events,
            Links(),
            lambda name: None,
            retry=http.Retry(attempts=2, backoff=0.01),
        )
    first, second = report.deliveries
    assert "did not answer" in first.error
    assert "within 0.5s" in first.error
    assert first.attempts == 2
    assert "not sent" in second.error  # a dead endpoint costs one message's retries


def test_a_missing_secret_variable_fails_without_sending(registry_repo, cli):
    with serving() as receiver:
        start = subscribe(registry_repo, hook(receiver.url, secret_env="NOT_SET_ANYWHERE"))
        cli.ok("register", "churn", "s3://1")
        result = cli.fails(1, "notify", "--since", start)
    assert receiver.requests == []  # never sent unsigned when a signature is configured
    assert "set NOT_SET_ANYWHERE" in result.stdout


# ------------------------------------------------------------------ dry run


def test_dry_run_prints_what_it_would_send_and_sends_nothing(registry_repo, cli, monkeypatch):
    with serving() as receiver:
        start = subscribe(registry_repo, hook(receiver.url, secret_env="HOOK_SECRET"))
        cli.ok("register", "churn", "s3://1")
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        result = cli.ok("notify", "--since", start, "--dry-run")
        data = json.loads(cli.ok("notify", "--since", start, "--dry-run", "--json").stdout)
    assert receiver.requests == []
    assert "would send MODEL_VERSION_CREATED" in result.stdout
    assert '"source":"s3://1"' in result.stdout
    assert SECRET not in result.stdout + result.stderr
    assert data["dry_run"] is True
    assert [d["sent"] for d in data["deliveries"]] == [False, False]


# ------------------------------------------------------------------ formats


def test_slack_messages_have_a_fallback_text_and_blocks(registry, registry_repo, monkeypatch):
    """The receiver stands in for Slack's incoming webhook; its URL is a secret variable."""
    with serving(Answer(200, b"ok")) as slack:
        text = "  webhooks:\n    - name: slack\n      format: slack\n      url_env: SLACK_URL\n"
        text += "      events: [MODEL_VERSION_TRANSITIONED_TO_PRODUCTION]\n"
        start = subscribe(registry_repo, text)
        registry.create_model_version("churn", "s3://1")
        registry.transition_model_version_stage("churn", 1, "Production")
        monkeypatch.setenv("SLACK_URL", f"{slack.url}/services/T0/B0/xyz")
        monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
        monkeypatch.setenv("GITHUB_REPOSITORY", "team/registry")
        result = Cli(registry_repo).ok("notify", "--since", start)
    assert "$SLACK_URL" in result.stdout
    assert "xyz" not in result.stdout
    (seen,) = slack.requests
    assert seen.path == "/services/T0/B0/xyz"
    message = seen.json()
    sha = head(registry_repo)
    assert message["text"] == (
        "churn: version 1: None -&gt; Production, by Alice Example in "
        f"<https://github.com/team/registry/commit/{sha}|{sha[:7]}>"
    )
    assert message["blocks"][0] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*churn*: version 1: None -&gt; Production"},
    }
    assert message["blocks"][1]["type"] == "context"


def test_github_dispatch_within_githubs_limits(registry, registry_repo, monkeypatch):
    """The receiver stands in for GitHub's REST API (POST /repos/{owner}/{repo}/dispatches)."""
    with serving(Answer(204)) as github:
        text = (
            "  webhooks:\n    - name: deploy\n      format: github-dispatch\n"
            "      repository: team/deploy\n      token_env: DISPATCH_TOKEN\n"
            f"      api_url: {github.url}\n"
            "      events: [MODEL_VERSION_TRANSITIONED_TO_PRODUCTION]\n"
        )
        start = subscribe(registry_repo, text, LOCAL + f"    origins: [{github.url}]\n")
        registry.create_model_version("churn", "s3://bucket/" + "x" * 300, run_id="r1")
        registry.transition_model_version_stage("churn", 1, "Production")
        monkeypatch.setenv("DISPATCH_TOKEN", "ghs_token")
        assert registry.notify(start).failed == 0
    (seen,) = github.requests
    assert (seen.method, seen.path) == ("POST", "/repos/team/deploy/dispatches")
    assert seen.headers["Authorization"] == "Bearer ghs_token"
    body = seen.json()
    assert set(body) == {"event_type", "client_payload"}
    assert body["event_type"] == "gitreg.model_version_transitioned_to_production"
    assert len(body["event_type"]) <= 100
    assert len(body["client_payload"]) <= 10
    assert body["client_payload"]["name"] == "churn"
    assert body["client_payload"]["version"] == "1"
    assert body["client_payload"]["to_stage"] == "Production"


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1, standing in for the company's relay."""
    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def _email_config(port: int, digest: bool = False, starttls: bool = False) -> str:
    return (
        "  smtp:\n    host: 127.0.0.1\n"
        f"    port: {port}\n    from: registry@example.com\n    starttls: {str(starttls).lower()}\n"
        "  webhooks:\n    - name: stakeholders\n      format: email\n"
        "      to: [ml-team@example.com, cto@example.com]\n"
        "      events: [MODEL_VERSION_TRANSITIONED_TO_PRODUCTION, MODEL_VERSION_CREATED]\n"
        f"      digest: {str(digest).lower()}\n"
    )


def test_an_email_per_event_arrives_with_subject_and_both_bodies(
    registry, registry_repo, smtp_server
):
    box, port = smtp_server
    start = subscribe(registry_repo, _email_config(port))
    registry.create_model_version("churn", "s3://1")
    registry.transition_model_version_stage("churn", 1, "Production")
    assert registry.notify(start).failed == 0
    assert [m["Subject"] for m in box.messages] == [
        "[gitreg] churn: version 1 registered (s3://1)",
        "[gitreg] churn: version 1: None -> Production",
    ]
    promoted = box.messages[1]
    assert promoted["From"] == "registry@example.com"
    assert box.envelopes[1].rcpt_tos == ["ml-team@example.com", "cto@example.com"]
    text = promoted.get_body(("plain",)).get_content()
    assert "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION" in text
    assert "by:      Alice Example <alice@example.com>" in text
    page = promoted.get_body(("html",)).get_content()
    assert "<b>churn</b>" in page
    assert "None -&gt; Production" in page


def test_an_email_digest_is_one_message_per_run(registry, registry_repo, smtp_server):
    box, port = smtp_server
    start = subscribe(registry_repo, _email_config(port, digest=True))
    registry.create_model_version("churn", "s3://1")
    registry.create_model_version("fraud", "s3://2")
    report = registry.notify(start)
    assert len(report.deliveries) == 1
    (message,) = box.messages
    assert message["Subject"] == "[gitreg] 2 registry changes: churn, fraud"
    assert message.get_body(("plain",)).get_content().count("registered") == 2


def test_starttls_is_required_when_configured(registry, registry_repo, smtp_server):
    box, port = smtp_server
    start = subscribe(registry_repo, _email_config(port, starttls=True))
    registry.create_model_version("churn", "s3://1")
    report = registry.notify(start)
    assert report.failed == 1
    assert "does not offer STARTTLS" in report.deliveries[0].error
    assert box.messages == []


# ------------------------------------------------------------------ requests


def test_a_transition_request_is_announced_from_its_branch(registry, registry_repo):
    with serving() as receiver:
        subscribe(registry_repo, hook(receiver.url, events=["TRANSITION_REQUEST_CREATED"]))
        registry.create_model_version("churn", "s3://1")
        git(registry_repo, "switch", "-qc", "gitreg/churn/v1-production")
        Registry(registry_repo).transition_model_version_stage("churn", 1, "Production")
        tip = head(registry_repo)
        git(registry_repo, "switch", "-q", "main")
        first = registry.notify_request("main", tip, pull_request=12)
        again = registry.notify_request("main", tip, pull_request=12)
    (event,) = first.events
    assert event.id == again.events[0].id  # one request tip, one event id
    body = receiver.requests[0].json()
    assert body["event"] == "TRANSITION_REQUEST_CREATED"
    assert (body["name"], body["version"]) == ("churn", "1")
    assert (body["from_stage"], body["to_stage"], body["pull_request"]) == (
        "None",
        "Production",
        12,
    )
    assert body["commit"] == tip


def test_an_alias_request_is_announced_too(registry, registry_repo):
    """A request to move a protected alias is a transition request as well (#11)."""
    with serving() as receiver:
        subscribe(registry_repo, hook(receiver.url, events=["TRANSITION_REQUEST_CREATED"]))
        registry.create_model_version("churn", "s3://1")
        registry.create_model_version("churn", "s3://2")
        registry.set_registered_model_alias("churn", "champion", 1)
        git(registry_repo, "switch", "-qc", "gitreg/churn/at-champion-v2")
        Registry(registry_repo).set_registered_model_alias("churn", "champion", 2)
        tip = head(registry_repo)
        git(registry_repo, "switch", "-q", "main")
        report = registry.notify_request("main", tip, pull_request=7)
    (event,) = report.events
    assert event.event.describe() == "@champion -> version 2 requested"
    body = receiver.requests[0].json()
    assert (body["alias"], body["version"], body["previous_version"]) == ("champion", "2", "1")


def test_a_request_cannot_subscribe_to_itself(registry, registry_repo):
    """The base's gitreg.yaml decides: a request branch adding a webhook is not heard."""
    with serving() as receiver:
        registry.create_model_version("churn", "s3://1")
        git(registry_repo, "switch", "-qc", "gitreg/churn/v1-production")
        subscribe(registry_repo, hook(receiver.url))
        Registry(registry_repo).transition_model_version_stage("churn", 1, "Production")
        tip = head(registry_repo)
        git(registry_repo, "switch", "-q", "main")
        report = registry.notify_request("main", tip)
    assert len(report.events) == 1
    assert report.deliveries == ()
    assert receiver.requests == []


# ------------------------------------------------------------------ commands, config


def test_webhooks_list_and_test(registry_repo, cli, monkeypatch):
    with serving() as receiver:
        subscribe(registry_repo, hook(receiver.url, secret_env="HOOK_SECRET", models=["churn*"]))
        listed = cli.ok("webhooks", "list").stdout
        data = json.loads(cli.ok("webhooks", "list", "--json").stdout)["webhooks"]
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        tested = cli.ok("webhooks", "test", "ci", "--event", "MODEL_VERSION_ALIAS_CREATED")
        missing = cli.fails(1, "webhooks", "test", "nope")
    assert "ci" in listed
    assert "$HOOK_SECRET" in listed
    assert SECRET not in listed
    assert data[0]["secret_env"] == "HOOK_SECRET"
    assert data[0]["models"] == ["churn*"]
    assert "delivered MODEL_VERSION_ALIAS_CREATED" in tested.stdout
    body = verify_standard(receiver.requests[0], SECRET)
    assert (body["name"], body["alias"]) == ("example_model", "example_alias")
    assert "Webhook with ID nope not found" in missing.stderr


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("    - {name: a, url: 'http://ci.example/hook'}\n", "does not match"),
        ("    - {name: a, url: 'https://ci.example/hook', secret: 'hunter2'}\n", "secret"),
        ("    - {name: a, url_env: 'lower-case-not-ok'}\n", "does not match"),
        ("    - {name: a, format: github-dispatch, repository: t/r}\n", "token_env"),
        ("    - {name: a, url: 'https://ci.example/hook', timeout: '10'}\n", "not of type"),
    ],
)
def test_bad_subscriptions_are_refused_by_validate(registry_repo, cli, entry, message):
    subscribe(registry_repo, "  webhooks:\n" + entry)
    result = cli.fails(1, "validate")
    assert "gitreg.yaml" in result.stdout + result.stderr
    assert message in result.stdout + result.stderr


def test_duplicate_webhook_names_are_a_validate_finding(registry_repo, cli):
    subscribe(
        registry_repo,
        "  webhooks:\n    - {name: ci, url: 'https://a.example/h'}\n"
        "    - {name: ci, url: 'https://b.example/h'}\n",
    )
    result = cli.fails(1, "validate")
    assert "WEBHOOK_DUPLICATE" in result.stdout + result.stderr


def test_notify_needs_a_range(cli):
    assert "--since" in cli.fails(2, "notify").stderr


# ------------------------------------------------------------------ the workflow


def _workflow_job(name: str) -> dict:
    import yaml

    from gitreg.gate.scaffold import WORKFLOW_TEXT

    return yaml.safe_load(WORKFLOW_TEXT)["jobs"][name]


@pytest.mark.parametrize("name", ["notify", "notify-request"])
def test_the_notify_jobs_follow_githubs_hardening(name):
    job = _workflow_job(name)
    # notify audits the push it delivers (#22): it asks which pull request merged a commit
    reads = {"contents": "read", "pull-requests": "read"} if name == "notify" else {}
    assert job["permissions"] == (reads or {"contents": "read"})
    assert job["timeout-minutes"] <= 30
    checkout = job["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert len(checkout["uses"].split("@")[1].split()[0]) == 40  # pinned by commit
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}
    for step in job["steps"]:
        assert "${{" not in step.get("run", "")  # events reach the shell only through env:
    assert "github.event" in " ".join(job["steps"][-1]["env"].values())


def _run_step(step: dict, repo: Path, tmp_path: Path, env: dict) -> subprocess.CompletedProcess:
    """Run a workflow step's script with bash, gitreg standing where the job installs it."""
    import os
    import sys

    runner_temp = tmp_path / "runner"
    (runner_temp / "gitreg" / "bin").mkdir(parents=True)
    (runner_temp / "gitreg" / "bin" / "gitreg").symlink_to(Path(sys.executable).parent / "gitreg")
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=repo,
        env={**os.environ, "RUNNER_TEMP": str(runner_temp), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_push_job_delivers_the_push_and_skips_a_new_branch(registry, registry_repo, tmp_path):
    step = _workflow_job("notify")["steps"][-1]
    with serving() as receiver:
        before = subscribe(registry_repo, hook(receiver.url, events=["MODEL_VERSION_CREATED"]))
        registry.create_model_version("churn", "s3://1")
        new_branch = _run_step(step, registry_repo, tmp_path, {"BEFORE": "0" * 40})
        assert new_branch.returncode == 0, new_branch.stderr
        assert "new branch" in new_branch.stdout
        assert receiver.requests == []
        pushed = _run_step(step, registry_repo, tmp_path / "2", {"BEFORE": before})
        assert pushed.returncode == 0, pushed.stderr
    assert [s.json()["name"] for s in receiver.requests] == ["churn"]


def _readme_receiver(secret: str) -> dict:
    """The receiver the notifications guide shows, executed as written (SECRET replaced: the
    guide reads it from the environment; tests/test_docs_receiver.py runs it as a server)."""
    guide = Path(__file__).parent.parent / "docs" / "guides" / "notifications.md"
    section = guide.read_text().split("## A receiver", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    read = 'SECRET = os.environ["DEPLOY_HOOK_SECRET"]'
    assert read in code
    namespace: dict = {"__name__": "receiver"}  # not __main__: define it, do not serve
    exec(code.replace(read, f"SECRET = {secret!r}"), namespace)
    return namespace


@pytest.mark.parametrize("signature", ["standard", "mlflow"])
def test_the_readme_receiver_verifies_and_deduplicates(
    registry, registry_repo, monkeypatch, signature
):
    with serving() as receiver:
        start = subscribe(
            registry_repo, hook(receiver.url, secret_env="HOOK_SECRET", signature=signature)
        )
        registry.create_model_version("churn", "s3://1")
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        registry.notify(start)
        registry.notify(start)  # a re-delivery of the same two events
    verify = _readme_receiver(SECRET)["verify"]
    results = [verify(seen.headers, seen.body) for seen in receiver.requests]
    assert [bool(r) for r in results] == [True, True, False, False]
    assert all(r == {} for r in results[2:])  # recognised as already seen
    forged = receiver.requests[0]
    assert verify(forged.headers, forged.body.replace(b"churn", b"fraud")) is None
    assert _readme_receiver("wrong")["verify"](forged.headers, forged.body) is None
