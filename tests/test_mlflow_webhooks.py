"""MLflow's webhook API through the gitreg plugin (issue 13), from ``MlflowClient``.

The behaviours of MLflow's own registry-store contract tests for webhooks (create, list
with pagination, update, delete, test, event filtering) checked through
``mlflow.set_registry_uri("gitreg://...")`` on a real registry; webhook receivers are
servers on 127.0.0.1 standing in for a service written against MLflow's webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._helpers import Cli, git, log_subjects
from tests._servers import serving

# MLflow's and SQLAlchemy's own deprecations are theirs to fix (as in test_mlflow_plugin).
pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)


@pytest.fixture(scope="module")
def mlflow_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import mlflow

    old = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path_factory.mktemp('hooks') / 'mlflow.db'}")
    yield mlflow
    mlflow.set_tracking_uri(old[0])
    mlflow.set_registry_uri(old[1])


@pytest.fixture
def client(mlflow_module: Any, registry_repo: Path) -> Any:
    mlflow_module.set_registry_uri(f"gitreg://{registry_repo}")
    return mlflow_module.MlflowClient()


@pytest.fixture
def local_receivers(registry_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the plugin reach the tests' receivers, plain-http servers on 127.0.0.1.

    MLflow refuses both by default (only https, no private address); its own tests set
    MLFLOW_WEBHOOK_ALLOWED_SCHEMES, and gitreg.yaml allow-lists the loopback host, which
    is what `gitreg notify` (which has no MLflow settings) goes by (#23).
    """
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
    config = registry_repo / "gitreg.yaml"
    config.write_text(config.read_text() + "notifications:\n  allow:\n    hosts: [127.0.0.1]\n")
    git(registry_repo, "commit", "-qam", "Allow the local receivers")


def _mlflow_signature_ok(seen, secret: str) -> bool:
    stamp = seen.headers["X-MLflow-Timestamp"]
    signed = f"{seen.headers['X-MLflow-Delivery-Id']}.{stamp}.{seen.body.decode()}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return seen.headers["X-MLflow-Signature"] == "v1," + base64.b64encode(digest).decode()


def test_create_writes_one_commit_and_keeps_the_secret_out_of_git(client, registry_repo):
    hook = client.create_webhook(
        name="deploy",
        url="https://ci.example/hook",
        events=["model_version.created", "model_version_alias.created"],
        description="Deploys champions",
        secret="s3cret",
    )
    assert hook.secret == "s3cret"
    assert [str(e) for e in hook.events] == [
        "model_version.created",
        "model_version_alias.created",
    ]
    assert log_subjects(registry_repo)[0] == "Add webhook deploy"
    config = (registry_repo / "gitreg.yaml").read_text()
    assert "secret_env: GITREG_WEBHOOK_SECRET_DEPLOY" in config
    assert "signature: mlflow" in config
    assert "# gitreg registry configuration" in config  # the rest of the file is untouched
    assert "s3cret" not in git(registry_repo, "log", "-p", "--all")
    private = registry_repo / ".git" / "gitreg" / "secrets.json"
    assert json.loads(private.read_text()) == {"GITREG_WEBHOOK_SECRET_DEPLOY": "s3cret"}
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert Cli(registry_repo).ok("validate").exit_code == 0
    again = client.get_webhook(hook.webhook_id)
    assert (again.name, again.url, again.description) == (
        "deploy",
        "https://ci.example/hook",
        "Deploys champions",
    )


def test_list_pages_and_filters_by_event(client):
    from mlflow.entities.webhook import WebhookEvent

    for i in range(5):
        event = "model_version.created" if i % 2 else "registered_model.created"
        client.create_webhook(name=f"hook{i}", url=f"https://ci.example/{i}", events=[event])
    first = client.list_webhooks(max_results=2)
    second = client.list_webhooks(max_results=2, page_token=first.token)
    third = client.list_webhooks(max_results=2, page_token=second.token)
    names = [w.name for page in (first, second, third) for w in page]
    assert names == ["hook4", "hook3", "hook2", "hook1", "hook0"]  # newest first, as MLflow
    assert third.token is None
    store = client._get_registry_client().store
    versions = store.list_webhooks_by_event(WebhookEvent.from_str("model_version.created"))
    assert [w.name for w in versions] == ["hook3", "hook1"]
    with pytest.raises(Exception, match="max_results must be between 1 and 1000"):
        client.list_webhooks(max_results=1001)


def test_update_and_delete(client, registry_repo):
    hook = client.create_webhook(
        name="deploy", url="https://ci.example/hook", events=["model_version.created"]
    )
    updated = client.update_webhook(
        hook.webhook_id, name="deploy-eu", status="DISABLED", secret="new-secret"
    )
    assert updated.webhook_id == hook.webhook_id
    assert updated.name == "deploy-eu"
    assert str(updated.status) == "DISABLED"
    assert updated.last_updated_timestamp > hook.last_updated_timestamp
    assert "enabled: false" in (registry_repo / "gitreg.yaml").read_text()
    client.delete_webhook(hook.webhook_id)
    with pytest.raises(Exception, match=f"Webhook with ID {hook.webhook_id} not found") as e:
        client.get_webhook(hook.webhook_id)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # Every commit names the webhook, as the one that added it does (#25).
    assert log_subjects(registry_repo)[:3] == [
        "Delete webhook deploy-eu",
        "Update webhook deploy-eu (renamed from deploy)",
        "Add webhook deploy",
    ]
    assert json.loads((registry_repo / ".git/gitreg/secrets.json").read_text()) == {}


def test_events_come_back_in_mlflows_order(client, registry_repo):
    """MLflow's store returns a webhook's events by (entity, action), not as given (#25)."""
    given = [
        "registered_model.created",
        "prompt.created",
        "model_version_tag.set",
        "model_version_alias.created",
        "model_version.created",
    ]
    expected = [
        "model_version.created",
        "model_version_alias.created",
        "model_version_tag.set",
        "prompt.created",
        "registered_model.created",
    ]
    hook = client.create_webhook(name="all", url="https://ci.example/hook", events=given)
    assert [str(e) for e in hook.events] == expected
    assert [str(e) for e in client.get_webhook(hook.webhook_id).events] == expected
    assert [str(e) for e in client.list_webhooks()[0].events] == expected
    updated = client.update_webhook(hook.webhook_id, events=list(reversed(given)))
    assert [str(e) for e in updated.events] == expected
    client.update_webhook(hook.webhook_id, description="every event")
    assert log_subjects(registry_repo)[0] == "Update webhook all"


def test_test_webhook_sends_mlflows_request(client, local_receivers):
    with serving() as receiver:
        hook = client.create_webhook(
            name="deploy",
            url=f"{receiver.url}/hook",
            events=["model_version_alias.created"],
            secret="s3cret",
        )
        result = client.test_webhook(hook.webhook_id)
    assert result.success
    assert result.response_status == 200
    (seen,) = receiver.requests
    assert _mlflow_signature_ok(seen, "s3cret")
    body = seen.json()
    assert (body["entity"], body["action"]) == ("model_version_alias", "created")
    assert body["data"]["alias"] == "example_alias"


def test_a_failing_receiver_is_a_failed_test_result(client, local_receivers):
    from tests._servers import Answer

    with serving(Answer(404, "gone")) as receiver:
        hook = client.create_webhook(
            name="deploy", url=f"{receiver.url}/hook", events=["model_version.created"]
        )
        result = client.test_webhook(hook.webhook_id)
    assert not result.success
    assert "404" in result.error_message


def test_events_registered_through_mlflow_reach_the_subscribed_webhooks_only(
    client, registry_repo, local_receivers
):
    with serving() as receiver:
        start = git(registry_repo, "rev-parse", "HEAD").strip()
        client.create_webhook(
            name="versions",
            url=f"{receiver.url}/hook",
            events=["model_version.created"],
            secret="s3cret",
        )
        client.create_registered_model("churn")
        client.create_model_version("churn", "s3://bucket/churn/1", run_id="r1")
        client.set_registered_model_alias("churn", "champion", 1)
        Cli(registry_repo).ok("notify", "--since", start)
    (seen,) = receiver.requests
    assert _mlflow_signature_ok(seen, "s3cret")  # the secret came from the private store
    body = seen.json()
    assert (body["entity"], body["action"]) == ("model_version", "created")
    assert (body["data"]["name"], body["data"]["version"]) == ("churn", "1")
    assert body["data"]["source"] == "s3://bucket/churn/1"


def test_mlflows_rules_for_names_urls_and_events(client):
    good = ["model_version.created"]
    with pytest.raises(Exception, match="is invalid"):
        client.create_webhook(name="-bad", url="https://ci.example/h", events=good)
    with pytest.raises(Exception, match="Invalid webhook URL scheme"):
        client.create_webhook(name="a", url="ftp://ci.example/h", events=good)
    with pytest.raises(Exception, match=r"scheme: 'http'. Allowed schemes are: https \(MLFLOW"):
        client.create_webhook(name="a", url="http://ci.example/h", events=good)
    with pytest.raises(Exception, match="no budgets"):
        client.create_webhook(
            name="a", url="https://ci.example/h", events=["budget_policy.exceeded"]
        )
    client.create_webhook(name="a", url="https://ci.example/h", events=good)
    with pytest.raises(Exception, match="already exists") as e:
        client.create_webhook(name="a", url="https://ci.example/h", events=good)
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_subscriptions_mlflow_cannot_express_are_listed_by_gitreg_only(client, registry_repo):
    config = registry_repo / "gitreg.yaml"
    config.write_text(
        config.read_text() + "notifications:\n  webhooks:\n    - name: slack\n      format: slack\n"
        "      url_env: SLACK_URL\n    - name: ci\n      url: https://ci.example/h\n"
        "      events: [MODEL_VERSION_CREATED]\n"
    )
    git(registry_repo, "commit", "-qam", "Subscribe")
    assert [(w.name, [str(e) for e in w.events]) for w in client.list_webhooks()] == [
        ("ci", ["model_version.created"])
    ]
    listed = json.loads(Cli(registry_repo).ok("webhooks", "list", "--json").stdout)
    assert [w["name"] for w in listed["webhooks"]] == ["slack", "ci"]


def test_a_secret_created_through_mlflow_is_added_to_an_explicit_allow_env(client, registry_repo):
    """#23: with notifications.allow.env listed, the variable the plugin keeps a literal
    secret under is added to it in the same commit, so the hook stays deliverable."""
    from gitreg import Registry

    config = registry_repo / "gitreg.yaml"
    config.write_text(config.read_text() + "notifications:\n  allow:\n    env: [SLACK_URL]\n")
    git(registry_repo, "commit", "-qam", "Only SLACK_URL")
    client.create_webhook(
        name="deploy", url="https://ci.example/hook", events=["model_version.created"], secret="s"
    )
    allow = Registry(registry_repo).notifications_config().allow
    assert allow.env == ("SLACK_URL", "GITREG_WEBHOOK_SECRET_DEPLOY")
    assert log_subjects(registry_repo)[0] == "Add webhook deploy"
    Cli(registry_repo).ok("validate")
