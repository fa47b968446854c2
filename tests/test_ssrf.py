"""Where delivery may connect (issue 23): the address rules, at validate, delivery and MLflow.

Link-local and metadata addresses are refused always, private and loopback ones unless
gitreg.yaml's ``notifications.allow.hosts`` lists the host; a name is checked by what it
resolves to when delivery sends, and the connection goes to the address checked.

Receivers are servers on 127.0.0.1 started here. ``dns`` stands in for a DNS server: it
answers the names a test gives it (and only those; every other name goes to the system
resolver), records each question, and can change its answer between two questions, as a
DNS-rebinding attacker's server does.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from gitreg import Registry
from gitreg.core.address import HostRules
from gitreg.integrations import http
from gitreg.mlflow.webhooks import Settings, check_url
from tests._helpers import Cli, git, log_subjects
from tests._servers import Answer, serving
from tests.test_notify import hook, subscribe

FAST = http.Retry(attempts=1)


class FakeDns:
    """Answers for some names, in order (the last one repeats; an answer may list several
    addresses, comma-separated); records the questions."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.asked: list[str] = []


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in fake.answers:
            return real(host, port, *args, **kwargs)
        fake.asked.append(name)
        queue = fake.answers[name]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        found = []
        for address in answer.split(","):
            v6 = ":" in address
            sockaddr = (address, int(port or 0), 0, 0) if v6 else (address, int(port or 0))
            found.append(
                (socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM, 6, "", sockaddr)
            )
        return found

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return fake


# ------------------------------------------------------------------------- validate

REFUSED_ALWAYS = [
    "https://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254./latest",
    "https://[::ffff:169.254.169.254]/",
    "https://[::ffff:a9fe:a9fe]/",
    "https://[fe80::1]/",
    "https://[fd00:ec2::254]/",
    "https://100.100.100.200/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://0.0.0.0/",
]
NOT_CANONICAL = [
    "https://2130706433/",
    "https://0x7f000001/",
    "https://0x7f.0.0.1/",
    "https://0177.0.0.1/",
    "https://127.1/",
]
PRIVATE = [
    "https://10.0.0.1/hook",
    "https://172.16.5.4/hook",
    "https://192.168.1.1/hook",
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://[::1]/hook",
    "https://[fd12::1]/hook",
    "https://100.64.0.1/hook",
    "https://[::ffff:10.0.0.1]/hook",
]


@pytest.mark.parametrize("url", REFUSED_ALWAYS + NOT_CANONICAL + PRIVATE)
def test_validate_refuses_a_non_public_destination(registry_repo, cli, url):
    """The issue's https://169.254.169.254/, https://10.0.0.1/ and loopback, in every
    spelling, are findings of gitreg.yaml that name the field and the fix."""
    subscribe(registry_repo, f"  webhooks:\n    - {{name: ci, url: '{url}'}}\n", allow="")
    result = cli.fails(1, "validate")
    out = result.stdout + result.stderr
    assert "gitreg.yaml:" in out
    assert "WEBHOOK_ADDRESS: notifications.webhooks[0].url" in out
    if url in PRIVATE:
        assert "must not resolve to a non-public IP address" in out
        assert "add" in out
        assert "to notifications.allow.hosts in gitreg.yaml" in out


@pytest.mark.parametrize("url", PRIVATE)
def test_allow_hosts_admits_private_and_loopback_hosts(registry_repo, cli, url):
    allow = (
        "  allow:\n    hosts: [10.0.0.0/8, 172.16.5.4, 192.168.1.1, 127.0.0.1, localhost,"
        " '::1', 'fd12::/16', 100.64.0.1]\n"
    )
    subscribe(registry_repo, f"  webhooks:\n    - {{name: ci, url: '{url}'}}\n", allow)
    cli.ok("validate")


@pytest.mark.parametrize("url", REFUSED_ALWAYS[:6])
def test_allow_hosts_never_admits_link_local_or_metadata(registry_repo, cli, url):
    allow = "  allow:\n    hosts: ['169.254.0.0/16', 'fe80::/10', 'fd00::/8', '0.0.0.0/0']\n"
    subscribe(registry_repo, f"  webhooks:\n    - {{name: ci, url: '{url}'}}\n", allow)
    result = cli.fails(1, "validate")
    assert "refused always, whatever notifications.allow.hosts says" in result.stdout


# ------------------------------------------------------------------------- delivery


def test_a_loopback_receiver_not_allow_listed_gets_nothing(registry, registry_repo):
    """The receiver stands in for a service on the CI machine the hook should not reach."""
    with serving() as receiver:
        start = subscribe(registry_repo, hook(receiver.url), allow="")
        registry.create_model_version("churn", "s3://1")
        report = registry.notify(start)
    assert receiver.requests == []
    assert "must not resolve to a non-public IP address" in report.deliveries[0].error
    assert "add 127.0.0.1 to notifications.allow.hosts" in report.deliveries[0].error


def test_the_address_a_name_resolves_to_is_checked_when_delivering(registry, registry_repo, dns):
    """localhost is allow-listed by its address (127.0.0.1), but DNS now says 10.0.0.7:
    delivery refuses before connecting."""
    with serving() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        start = subscribe(registry_repo, hook(url))
        registry.create_model_version("churn", "s3://1")
        dns.answers["localhost"] = ["10.0.0.7"]
        report = registry.notify(start)
    assert receiver.requests == []
    error = report.deliveries[0].error
    assert "localhost resolves to 10.0.0.7, which is a private address" in error


def test_a_name_resolving_to_a_metadata_address_is_refused_even_when_listed(
    registry, registry_repo, dns
):
    start = subscribe(
        registry_repo,
        hook("https://hooks.example.test"),
        allow="  allow:\n    hosts: [hooks.example.test]\n",
    )
    registry.create_model_version("churn", "s3://1")
    dns.answers["hooks.example.test"] = ["169.254.169.254"]
    report = registry.notify(start)
    assert "must not reach a cloud metadata address" in report.deliveries[0].error
    assert dns.asked == ["hooks.example.test"]  # refused after one lookup, not retried


def test_every_address_of_a_name_must_be_allowed(dns):
    """As MLflow: one private address among public ones refuses the name."""
    dns.answers["mixed.example.test"] = ["93.184.216.34,10.0.0.9"]
    with pytest.raises(http.HttpError, match=r"resolves to 10\.0\.0\.9"):
        http.request("POST", "https://mixed.example.test/h", rules=HostRules(), retry=FAST)


def test_dns_rebinding_cannot_move_the_connection(registry, registry_repo, dns):
    """The attacker's DNS answers 127.0.0.1 (allowed) to the first question and the metadata
    address to any later one: delivery asks once and connects to the address it checked."""
    with serving() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        start = subscribe(registry_repo, hook(url, events=["MODEL_VERSION_CREATED"]))
        registry.create_model_version("churn", "s3://1")
        dns.answers["localhost"] = ["127.0.0.1", "169.254.169.254"]
        report = registry.notify(start)
    assert report.failed == 0
    assert len(receiver.requests) == 1
    assert dns.asked == ["localhost"]
    assert receiver.requests[0].headers["Host"] == f"localhost:{url.rsplit(':', 1)[1]}"


def test_no_redirect_leads_to_a_refused_address(registry, registry_repo):
    """An allowed receiver answers 307 to the metadata service (and to a private address):
    not followed, nothing else reached."""
    with serving(Answer(200)) as internal:
        moves = [
            Answer(307, b"", {"Location": "http://169.254.169.254/latest/meta-data/"}),
            Answer(307, b"", {"Location": internal.url + "/admin"}),
        ]
        with serving(*moves) as receiver:
            start = subscribe(registry_repo, hook(receiver.url))
            registry.create_model_version("churn", "s3://1")
            report = registry.notify(start)
    assert [d.ok for d in report.deliveries] == [False, False]
    assert all("refused" in d.error for d in report.deliveries)
    assert internal.requests == []


# ------------------------------------------------------------- the MLflow plugin (#23)

pytestmark_mlflow = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)


MLFLOW_SETTINGS = (
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS",
    "MLFLOW_WEBHOOK_REQUEST_TIMEOUT",
    "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES",
)


@pytest.fixture(scope="module")
def mlflow_module(tmp_path_factory):
    import mlflow

    old = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path_factory.mktemp('ssrf') / 'mlflow.db'}")
    yield mlflow
    mlflow.set_tracking_uri(old[0])
    mlflow.set_registry_uri(old[1])


@pytest.fixture
def client(mlflow_module, registry_repo, monkeypatch):
    """MlflowClient on the registry through the plugin, with MLflow's defaults."""
    for name in MLFLOW_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    mlflow_module.set_registry_uri(f"gitreg://{registry_repo}")
    return mlflow_module.MlflowClient()


EVENTS = ["model_version.created"]


@pytestmark_mlflow
@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://[::ffff:169.254.169.254]/",
        "https://2130706433/",
        "https://169.254.169.254./",
    ],
)
def test_the_plugin_refuses_what_mlflow_refuses(client, registry_repo, url):
    before = git(registry_repo, "rev-parse", "HEAD")
    with pytest.raises(Exception, match=r"Webhook URL .*(non-public|metadata|canonical)") as e:
        client.create_webhook(name="a", url=url, events=EVENTS)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert git(registry_repo, "rev-parse", "HEAD") == before  # nothing written


@pytestmark_mlflow
def test_the_plugin_checks_what_a_name_resolves_to(client, dns):
    dns.answers["internal.example.test"] = ["10.1.2.3"]
    with pytest.raises(Exception, match="must not resolve to a non-public IP address"):
        client.create_webhook(name="a", url="https://internal.example.test/h", events=EVENTS)


@pytestmark_mlflow
def test_mlflow_allow_private_ips_admits_private_but_never_metadata(
    client, registry_repo, monkeypatch
):
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
    made = client.create_webhook(name="a", url="https://10.0.0.1/hook", events=EVENTS)
    assert made.url == "https://10.0.0.1/hook"
    # recorded in the same commit, so that `gitreg notify` (no MLflow settings) reaches it
    assert Registry(registry_repo).notifications_config().allow.hosts == ("10.0.0.1",)
    assert log_subjects(registry_repo)[0] == "Add webhook a"
    Cli(registry_repo).ok("validate")
    with pytest.raises(Exception, match="cloud metadata address"):
        client.create_webhook(name="b", url="https://169.254.169.254/", events=EVENTS)
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "maybe")
    with pytest.raises(Exception, match="MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS must be one of"):
        client.create_webhook(name="c", url="https://10.0.0.1/hook", events=EVENTS)


@pytestmark_mlflow
def test_gitreg_yaml_allow_hosts_admits_a_private_host_for_the_plugin(client, registry_repo):
    config = registry_repo / "gitreg.yaml"
    config.write_text(config.read_text() + "notifications:\n  allow:\n    hosts: [10.0.0.1]\n")
    git(registry_repo, "commit", "-qam", "Allow the internal receiver")
    assert client.create_webhook(name="a", url="https://10.0.0.1/h", events=EVENTS).name == "a"
    with pytest.raises(Exception, match=r"10\.0\.0\.2 is a private address"):
        client.create_webhook(name="b", url="https://10.0.0.2/h", events=EVENTS)


@pytestmark_mlflow
def test_mlflow_allowed_schemes(client, registry_repo, monkeypatch):
    allow = "notifications:\n  allow:\n    hosts: [127.0.0.1]\n"
    (registry_repo / "gitreg.yaml").write_text((registry_repo / "gitreg.yaml").read_text() + allow)
    git(registry_repo, "commit", "-qam", "Allow local receivers")
    with pytest.raises(Exception, match=r"Allowed schemes are: https \(MLFLOW_WEBHOOK"):
        client.create_webhook(name="a", url="http://127.0.0.1:9/h", events=EVENTS)
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http, https")
    assert client.create_webhook(name="a", url="http://127.0.0.1:9/h", events=EVENTS)
    with pytest.raises(Exception, match="plain http"):  # gitreg: never http beyond localhost
        client.create_webhook(name="b", url="http://ci.example.com/h", events=EVENTS)
    with pytest.raises(Exception, match="contains a space"):
        client.create_webhook(name="c", url="https://ci.example.com/a b", events=EVENTS)


@pytestmark_mlflow
def test_test_webhook_honours_the_schemes_when_it_sends(client, registry_repo, monkeypatch):
    """A hook written in gitreg.yaml by hand: MLflow's setting still decides for the plugin."""
    with serving() as receiver:
        subscribe(registry_repo, hook(receiver.url, events=["model_version.created"]))
        result = client.test_webhook("ci")
        assert not result.success
        assert "MLFLOW_WEBHOOK_ALLOWED_SCHEMES allows only https" in result.error_message
        assert receiver.requests == []
        monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
        assert client.test_webhook("ci").success
    assert len(receiver.requests) == 1


@pytestmark_mlflow
def test_test_webhook_takes_mlflows_timeout_and_retries(client, registry_repo, monkeypatch):
    """The receiver stands in for a service answering 503: MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES
    retries (MLflow's default is 3); then one that drips its answer, cut off at
    MLFLOW_WEBHOOK_REQUEST_TIMEOUT (MLflow's default is 30 s)."""
    from tests._servers import body_drip, dripping

    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
    with serving(Answer(503)) as receiver:
        subscribe(registry_repo, hook(receiver.url, events=["model_version.created"]))
        monkeypatch.setenv("MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES", "1")
        result = client.test_webhook("ci")
    assert not result.success
    assert len(receiver.requests) == 2
    head, drip = body_drip()
    with dripping(head, drip) as slow:
        config = registry_repo / "gitreg.yaml"
        config.write_text(config.read_text().replace(receiver.url, slow.url))
        git(registry_repo, "commit", "-qam", "Point at the slow receiver")
        monkeypatch.setenv("MLFLOW_WEBHOOK_REQUEST_TIMEOUT", "1")
        monkeypatch.setenv("MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES", "0")
        result = client.test_webhook("ci")
        sent = list(slow.sent)
    assert not result.success
    assert "within 1s" in result.error_message
    assert len(sent) == 1
    assert sent[0] < len(drip)


def test_mlflow_settings_defaults_and_parsing():
    assert Settings.from_env({}) == Settings(("https",), False, 30.0, 3)
    options = Settings.from_env(
        {
            "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http, https",
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "1",
            "MLFLOW_WEBHOOK_REQUEST_TIMEOUT": "5",
            "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES": "0",
        }
    ).options()
    assert (options.schemes, options.allow_private, options.timeout, options.attempts) == (
        ("http", "https"),
        True,
        5.0,
        1,
    )
    with pytest.raises(Exception, match="MLFLOW_WEBHOOK_REQUEST_TIMEOUT must be an integer"):
        Settings.from_env({"MLFLOW_WEBHOOK_REQUEST_TIMEOUT": "soon"})
    with pytest.raises(Exception, match="contains a newline"):
        check_url("https://ci.example.com/x\ny")
