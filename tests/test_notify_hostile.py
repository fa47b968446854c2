"""Delivery against hostile receivers, configs and secrets (issue 23), on real registries.

Every peer is a real server on 127.0.0.1 started here, standing in for what each test
says: a webhook endpoint or Slack that drips its answer or echoes what it was sent,
GitHub's API answering 401 with the token in its body, an attacker's endpoint a hook tries
to send a CI variable to, an SMTP relay that never finishes its greeting. The tests'
receivers are loopback addresses, which gitreg.yaml allow-lists (``LOCAL``).
"""

from __future__ import annotations

import json
import os
import re
import tempfile

import pytest

from gitreg.cli import main
from gitreg.integrations import http
from gitreg.integrations.notify import Links, deliver, lookup_for
from tests._helpers import Cli, git
from tests._servers import Answer, body_drip, dripping, header_drip, serving
from tests.test_notify import LOCAL, SECRET, hook, subscribe, verify_mlflow, verify_standard

TOKEN = "ghs_0123456789abcdefSECRETtoken"
SLACK_PATH = "/services/T0AAAA/B0BBBB/XyZsecretXyZsecret"
FAST = http.Retry(attempts=2, backoff=0.01)


def _deliver(registry, start, retry=FAST):
    """The run ``gitreg notify --since start`` makes, with few quick retries."""
    config = registry.store.read_config()
    events = registry.list_events(start)
    lookup = lookup_for(registry.store, os.environ)
    return deliver(config.notifications, events, Links(), lookup, retry=retry)


def _everything(result) -> str:
    return result.stdout + result.stderr


# ------------------------------------------------------------------ hangs (#23 item 3)


@pytest.mark.parametrize("shape", [body_drip, header_drip], ids=["body", "headers"])
def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_timeout(registry, registry_repo, shape):
    """The receiver stands in for a webhook endpoint sending one byte every 0.25 s: a 400-byte
    answer would take 100 s; each attempt must end at its 1 s timeout (it hung for 240 s+)."""
    head, drip = shape()
    with dripping(head, drip) as receiver:
        start = subscribe(
            registry_repo, hook(receiver.url, timeout=1, events=["MODEL_VERSION_CREATED"])
        )
        registry.create_model_version("churn", "s3://1")
        report = _deliver(registry, start)
        sent = list(receiver.sent)
    (delivery,) = report.deliveries
    assert not delivery.ok
    assert "did not answer POST http://127.0.0.1" in delivery.error
    assert "within 1s (tried 2 times)" in delivery.error
    assert len(sent) == 2  # two attempts, each cut off long before the drip was over
    assert all(n < len(drip) for n in sent)


def test_slack_and_dispatch_that_drip_are_cut_off_too(registry, registry_repo, monkeypatch):
    """One dripping server stands in for Slack's incoming webhook and for GitHub's API."""
    head, drip = body_drip()
    with dripping(head, drip) as receiver:
        text = (
            "  webhooks:\n    - name: slack\n      format: slack\n      url_env: SLACK_URL\n"
            "      timeout: 1\n      events: [MODEL_VERSION_CREATED]\n"
            "    - name: deploy\n      format: github-dispatch\n      repository: team/deploy\n"
            f"      token_env: DISPATCH_TOKEN\n      api_url: {receiver.url}\n      timeout: 1\n"
            "      events: [MODEL_VERSION_CREATED]\n"
        )
        start = subscribe(registry_repo, text, LOCAL + f"    origins: [{receiver.url}]\n")
        registry.create_model_version("churn", "s3://1")
        monkeypatch.setenv("SLACK_URL", receiver.url + SLACK_PATH)
        monkeypatch.setenv("DISPATCH_TOKEN", TOKEN)
        report = _deliver(registry, start)
        sent = list(receiver.sent)
    errors = [d.error for d in report.deliveries]
    assert [d.subscription for d in report.deliveries] == ["slack", "deploy"]
    assert all("within 1s (tried 2 times)" in e for e in errors)
    assert "did not answer POST $SLACK_URL" in errors[0]  # named by its variable, never shown
    assert len(sent) == 4
    assert all(n < len(drip) for n in sent)


def test_a_tls_handshake_that_drips_is_cut_off(registry, registry_repo):
    """A server that answers a TLS ClientHello one byte at a time (a ServerHello that never
    ends): the timeout bounds the handshake as well."""
    with dripping(b"\x16\x03\x03\x40\x00", b"\x02" * 400, greet=True) as receiver:
        url = f"https://localhost:{receiver.port}"
        allow = "  allow:\n    hosts: [localhost]\n"
        start = subscribe(
            registry_repo, hook(url, timeout=1, events=["MODEL_VERSION_CREATED"]), allow
        )
        registry.create_model_version("churn", "s3://1")
        report = _deliver(registry, start)
        sent = list(receiver.sent)
    (delivery,) = report.deliveries
    assert "within 1s (tried 2 times)" in delivery.error
    assert sent
    assert all(n < 400 for n in sent)


def test_an_smtp_server_that_drips_its_greeting_is_cut_off(registry, registry_repo):
    """The server stands in for a company relay that never finishes saying hello."""
    with dripping(b"220-relay.example.test ESMTP\r\n", b"220-" + b"z" * 400, greet=True) as relay:
        text = (
            f"  smtp:\n    host: 127.0.0.1\n    port: {relay.port}\n    from: r@example.com\n"
            "    starttls: false\n    timeout: 1\n"
            "  webhooks:\n    - name: team\n      format: email\n      to: [ml@example.com]\n"
            "      events: [MODEL_VERSION_CREATED]\n"
        )
        start = subscribe(registry_repo, text)
        registry.create_model_version("churn", "s3://1")
        report = _deliver(registry, start)
        sent = list(relay.sent)
    (delivery,) = report.deliveries
    assert not delivery.ok
    assert "did not finish within 1s" in delivery.error
    assert delivery.attempts == 2
    assert len(sent) == 2
    assert all(n < 404 for n in sent)


def test_an_smtp_host_must_be_allowed_like_any_destination(registry, registry_repo):
    text = (
        "  smtp:\n    host: 10.0.0.25\n    port: 25\n    from: r@example.com\n"
        "  webhooks:\n    - name: team\n      format: email\n      to: [ml@example.com]\n"
    )
    start = subscribe(registry_repo, text)
    registry.create_model_version("churn", "s3://1")
    report = _deliver(registry, start)
    assert "must not resolve to a non-public IP address" in report.deliveries[0].error
    result = Cli(registry_repo).fails(1, "validate")
    assert "notifications.smtp.host" in _everything(result)


# ------------------------------------------------------------ signatures per attempt


@pytest.mark.parametrize("signature", ["standard", "mlflow"])
def test_each_attempt_is_signed_afresh_with_the_same_id(
    registry, registry_repo, monkeypatch, signature
):
    """A receiver that asks to come back in 2 s (503, Retry-After: 2): the retry carries the
    same id but its own timestamp and signature, so a retry that comes minutes later still
    falls inside the window receivers enforce (it re-sent the first attempt's timestamp)."""
    with serving(Answer(503, b"", {"Retry-After": "2"}), Answer(200)) as receiver:
        sub = hook(
            receiver.url,
            secret_env="HOOK_SECRET",
            signature=signature,
            events=["MODEL_VERSION_CREATED"],
        )
        start = subscribe(registry_repo, sub)
        registry.create_model_version("churn", "s3://1")
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        report = registry.notify(start)
    assert report.deliveries[0].attempts == 2
    first, second = receiver.requests
    verify = verify_standard if signature == "standard" else verify_mlflow
    for seen in (first, second):
        verify(seen, SECRET)
    prefix = "webhook-" if signature == "standard" else "X-MLflow-"
    ident = "webhook-id" if signature == "standard" else "X-MLflow-Delivery-Id"
    assert first.headers[ident] == second.headers[ident]
    stamps = [int(s.headers[f"{prefix}timestamp"]) for s in (first, second)]
    assert stamps[1] >= stamps[0] + 2  # signed when it was sent, after the wait
    assert first.headers[f"{prefix}signature"] != second.headers[f"{prefix}signature"]


# ------------------------------------------------------------------ leaks (#23 item 2)


def _dispatch(url: str) -> str:
    return (
        "  webhooks:\n    - name: deploy\n      format: github-dispatch\n"
        f"      repository: team/deploy\n      token_env: DISPATCH_TOKEN\n      api_url: {url}\n"
        "      events: [MODEL_VERSION_CREATED]\n"
    )


@pytest.mark.parametrize("as_json", [False, True])
def test_a_401_echoing_the_token_does_not_print_it(registry_repo, cli, monkeypatch, as_json):
    """The server stands in for GitHub's API answering 401 with the request's Authorization
    in its body, raw and JSON-escaped."""

    def echo(seen):
        auth = seen.headers["Authorization"]
        return Answer(401, json.dumps({"message": f"Bad credentials: {auth}"}) + auth)

    with serving(echo) as api:
        start = subscribe(registry_repo, _dispatch(api.url), LOCAL + f"    origins: [{api.url}]\n")
        cli.ok("register", "churn", "s3://1")
        monkeypatch.setenv("DISPATCH_TOKEN", TOKEN)
        args = ["notify", "--since", start] + (["--json"] if as_json else [])
        result = cli.fails(1, *args)
    assert len(api.requests) == 1
    assert "answered 401" in _everything(result)
    assert "Bad credentials: [REDACTED]" in _everything(result)
    assert TOKEN not in _everything(result)
    assert "Bearer" not in _everything(result)


def test_a_200_echoing_signature_secret_and_headers_does_not_print_them(
    registry_repo, cli, monkeypatch
):
    """A receiver that answers 200 with everything it got (PHP-style escaped slashes, and
    the signing secret it was configured with): --json shows the answer, redacted."""

    def echo(seen):
        data = {
            "signature": seen.headers["webhook-signature"],
            "secret": SECRET,
            "headers": dict(seen.headers),
        }
        return Answer(200, json.dumps(data).replace("/", "\\/"))

    with serving(echo) as receiver:
        start = subscribe(
            registry_repo,
            hook(receiver.url, secret_env="HOOK_SECRET", events=["MODEL_VERSION_CREATED"]),
        )
        cli.ok("register", "churn", "s3://1")
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        result = cli.ok("notify", "--since", start, "--json")
    signature = receiver.requests[0].headers["webhook-signature"]
    delivery = json.loads(result.stdout)["deliveries"][0]
    assert delivery["response"].startswith('{"signature": "[REDACTED]", "secret": "[REDACTED]"')
    for secret in (SECRET, signature, signature.split(",", 1)[1]):
        assert secret not in _everything(result)
        assert secret.replace("/", "\\/") not in _everything(result)
    assert len(delivery["response"]) <= 500  # a peer's answer is shown bounded


def test_slack_echoing_its_secret_path_does_not_print_it(registry_repo, cli, monkeypatch):
    """The server stands in for Slack; its URL's path is the secret, and it echoes it."""
    answers = [
        lambda seen: Answer(200, f"ok {seen.path}"),
        lambda seen: Answer(404, f"no_service: {seen.path} not found"),
    ]
    with serving(*answers) as slack:
        text = "  webhooks:\n    - name: slack\n      format: slack\n      url_env: SLACK_URL\n"
        start = subscribe(registry_repo, text)
        cli.ok("register", "churn", "s3://1")
        monkeypatch.setenv("SLACK_URL", slack.url + SLACK_PATH)
        result = cli.fails(1, "notify", "--since", start, "--json")
    assert [s.path for s in slack.requests] == [SLACK_PATH, SLACK_PATH]
    data = json.loads(result.stdout)["deliveries"]
    assert data[0]["response"] == "ok [REDACTED]"
    assert "answered 404 to POST $SLACK_URL: no_service: [REDACTED] not found" in data[1]["error"]
    assert "XyZsecret" not in _everything(result)


@pytest.mark.parametrize(
    "value",
    [
        "https://hooks.slack.com/services/T0\tB0/XyZsecret",
        "https://hooks.slack.com/services/T0/B0/XyZsecret\n",
        "https://hooks.slack.com/services/T0/B0 XyZsecret",
        "https://hooks.slack.com/services/T0/B0/XyZ\x1b[31msecret",
        "https://hooks.slack.com/services/T0/B0/XyZ\u2028secret",
        "hooks.slack.com/services/XyZsecret",
    ],
    ids=["tab", "newline", "space", "escape", "line-separator", "no-scheme"],
)
def test_a_malformed_url_env_is_refused_without_showing_it(
    registry_repo, cli, monkeypatch, tmp_path, value
):
    """#23: a url_env with a tab crashed delivery (exit 3, "unexpected InvalidURL") and the
    Slack URL went to stderr and the crash log. It is one line naming the variable."""
    crashes = tmp_path / "crashes"
    crashes.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(crashes))
    text = "  webhooks:\n    - name: slack\n      format: slack\n      url_env: SLACK_URL\n"
    start = subscribe(registry_repo, text)
    cli.ok("register", "churn", "s3://1")
    monkeypatch.setenv("SLACK_URL", value)
    result = cli.fails(1, "notify", "--since", start)
    assert re.search(r"webhook slack: the URL (in )?\$SLACK_URL (contains|is not)", result.stdout)
    assert "XyZ" not in _everything(result)
    assert "hooks.slack.com" not in _everything(result)
    assert "unexpected" not in _everything(result)
    assert list(crashes.iterdir()) == []  # no crash, so no crash log
    for line in result.stdout.splitlines():
        assert "\x1b" not in line


def test_a_url_with_a_control_character_in_gitreg_yaml_is_a_finding_and_no_crash(
    registry_repo, cli
):
    subscribe(
        registry_repo, '  webhooks:\n    - name: ci\n      url: "https://ci.example/h\\x01ook"\n'
    )
    found = cli.fails(1, "validate")
    assert "gitreg.yaml" in _everything(found)
    assert "notifications.webhooks.0.url" in _everything(found)
    start = cli.ok("register", "churn", "s3://1")
    assert start.exit_code == 0
    delivered = cli.fails(1, "notify", "--since", "HEAD~1")
    assert (
        "webhook ci: its url in gitreg.yaml contains a control character (U+0001)"
        in delivered.stdout
    )
    assert "unexpected" not in _everything(delivered)


def test_the_crash_log_redacts_what_delivery_read(registry_repo, monkeypatch, tmp_path, capsys):
    """An unexpected failure after delivery read its secrets (provoked here by a client that
    raises with the URL and headers in its message): stderr and the crash log show neither."""
    crashes = tmp_path / "crashes"
    crashes.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(crashes))
    text = (
        "  webhooks:\n    - name: slack\n      format: slack\n      url_env: SLACK_URL\n"
        "    - name: ci\n      url: https://ci.example/h\n      secret_env: HOOK_SECRET\n"
    )
    start = subscribe(registry_repo, text)
    Cli(registry_repo).ok("register", "churn", "s3://1")
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.com" + SLACK_PATH)
    monkeypatch.setenv("HOOK_SECRET", SECRET)

    def broken(method, url, **kw):
        raise RuntimeError(f"client broke on {url!r} with {kw.get('secrets')} {kw.get('headers')}")

    monkeypatch.setattr(http, "request", broken)
    code = main(["notify", "--since", start, "--repo", str(registry_repo)])
    err = capsys.readouterr().err
    assert code == 3
    (log,) = crashes.iterdir()
    text = log.read_text()
    assert "RuntimeError: client broke on '[REDACTED]'" in text
    assert str(log) in err
    for secret in ("XyZsecret", SLACK_PATH, "hooks.slack.com/services"):
        assert secret not in text
        assert secret not in err


# ------------------------------------------------ what a hook may read and reach (#23)


def test_a_hook_cannot_send_a_ci_variable_to_an_origin_the_policy_does_not_name(
    registry_repo, cli, monkeypatch
):
    """The issue's exfiltration: a reviewed hook names AWS_SECRET_ACCESS_KEY as its token
    and the attacker's endpoint (a server on 127.0.0.1 recording every request) as api_url."""
    with serving(Answer(204)) as attacker:
        text = _dispatch(attacker.url).replace("DISPATCH_TOKEN", "AWS_SECRET_ACCESS_KEY")
        start = subscribe(registry_repo, text)
        cli.ok("register", "churn", "s3://1")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TOKEN)
        result = cli.fails(1, "notify", "--since", start)
        found = cli.fails(1, "validate")
    assert attacker.requests == []
    assert "is not an origin a token may be sent to (https://api.github.com)" in result.stdout
    assert "notifications.allow.origins" in result.stdout
    assert TOKEN not in _everything(result)
    assert "WEBHOOK_ORIGIN_NOT_ALLOWED" in _everything(found)


def test_only_the_variables_allow_env_names_are_read(registry_repo, cli, monkeypatch):
    """GitHub Enterprise (a server on 127.0.0.1) is an allowed origin; the hook may use the
    token variable the policy names for it, and no other."""
    with serving(Answer(204)) as api:
        allow = LOCAL + f"    origins: [{api.url}]\n    env: [DEPLOY_TOKEN]\n"
        text = _dispatch(api.url).replace("DISPATCH_TOKEN", "AWS_SECRET_ACCESS_KEY")
        start = subscribe(registry_repo, text, allow)
        cli.ok("register", "churn", "s3://1")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TOKEN)
        monkeypatch.setenv("DEPLOY_TOKEN", "deploy-token-value")
        refused = cli.fails(1, "notify", "--since", start)
        found = cli.fails(1, "validate")
        assert api.requests == []
        config = registry_repo / "gitreg.yaml"
        config.write_text(config.read_text().replace("AWS_SECRET_ACCESS_KEY", "DEPLOY_TOKEN"))
        git(registry_repo, "commit", "-qam", "Use the token the policy names")
        cli.ok("validate")
        cli.ok("notify", "--since", start)
    message = "token_env names AWS_SECRET_ACCESS_KEY, which notifications.allow.env does not list"
    assert message in refused.stdout
    assert TOKEN not in _everything(refused)
    assert "WEBHOOK_ENV_NOT_ALLOWED" in _everything(found)
    assert [s.headers["Authorization"] for s in api.requests] == ["Bearer deploy-token-value"]


def test_a_url_env_the_policy_does_not_allow_is_not_read(registry_repo, cli, monkeypatch):
    with serving() as receiver:
        allow = LOCAL + "    env: [SLACK_URL]\n"
        text = "  webhooks:\n    - name: slack\n      format: slack\n      url_env: OTHER_URL\n"
        start = subscribe(registry_repo, text, allow)
        cli.ok("register", "churn", "s3://1")
        monkeypatch.setenv("OTHER_URL", receiver.url + "/x")
        result = cli.fails(1, "notify", "--since", start)
    assert receiver.requests == []
    assert "url_env names OTHER_URL, which notifications.allow.env does not list" in result.stdout


def test_allow_env_takes_glob_patterns(registry, registry_repo, monkeypatch):
    with serving() as receiver:
        allow = LOCAL + "    env: ['HOOK_*']\n"
        start = subscribe(registry_repo, hook(receiver.url, secret_env="HOOK_SECRET"), allow)
        registry.create_model_version("churn", "s3://1")
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        assert registry.notify(start).failed == 0
    verify_standard(receiver.requests[0], SECRET)


def test_validate_lists_what_allow_refuses(registry_repo, cli):
    text = (
        "  allow:\n    hosts: [169.254.169.254, 10.0.0.0/33, 10.0.0.0/8]\n"
        "  webhooks:\n    - {name: a, url: 'https://10.1.2.3/h'}\n"
    )
    subscribe(registry_repo, text, allow="")
    result = cli.fails(1, "validate")
    out = _everything(result)
    assert out.count("WEBHOOK_ALLOW_HOST") == 2
    assert "169.254.169.254' is a cloud metadata address" in out
    assert "WEBHOOK_ADDRESS" not in out  # 10.1.2.3 is in the allowed network
    assert re.search(r"gitreg\.yaml:\d+", out)
