"""Where the plugin takes a change's author from behind ``mlflow server`` (#25).

Requests are Flask's own (``app.test_request_context``, the objects MLflow's handlers run
in), the store is the real ``GitregStore`` on a real registry: the commit each request
makes is read back from git. A header a client sends is never trusted unless the server
was configured for it, and then only from a trusted proxy's address; MLflow's
authentication (``flask.g.mlflow_authenticated_user``, set only after it checked the
credentials) is. Without either, the server's git identity authors the change, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitreg.mlflow.caller import Callers, current
from tests._helpers import git, log_subjects

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)
SPOOF = {"X-Forwarded-User": "mallory", "X-Remote-User": "mallory", "Remote-User": "mallory"}


@pytest.fixture
def app() -> Any:
    import flask

    return flask.Flask("mlflow-stand-in")


def _store(registry_repo: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    from gitreg.mlflow.store import GitregStore

    for key in ("GITREG_MLFLOW_USER_HEADER", "GITREG_MLFLOW_TRUSTED_PROXIES"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return GitregStore(f"gitreg://{registry_repo}")


def _author(repo: Path) -> str:
    return git(repo, "log", "-1", "--format=%an <%ae>").strip()


@pytest.fixture
def request_from(app: Any) -> Any:
    def make(address: str = "127.0.0.1", method: str = "POST", **headers: str) -> Any:
        return app.test_request_context(
            "/api/2.0/mlflow/registered-models/create",
            method=method,
            headers=headers,
            environ_base={"REMOTE_ADDR": address},
        )

    return make


def test_without_authentication_the_server_authors_and_headers_are_ignored(
    registry_repo, monkeypatch, request_from
):
    store = _store(registry_repo, monkeypatch)
    with request_from(**SPOOF, Authorization="Basic bWFsbG9yeTp4"):
        store.create_registered_model("churn")
    assert _author(registry_repo) == "Alice Example <alice@example.com>"


def test_mlflows_authenticated_user_authors_the_change(registry_repo, monkeypatch, request_from):
    import flask

    store = _store(registry_repo, monkeypatch)
    with request_from(**SPOOF):
        flask.g.mlflow_authenticated_user = "bob"  # what MLflow's basic-auth app records
        store.create_registered_model("churn")
    assert _author(registry_repo) == "bob <bob@mlflow.invalid>"
    assert git(registry_repo, "log", "-1", "--format=%cn").strip() == "Alice Example"
    with request_from():
        flask.g.mlflow_authenticated_user = "carol@example.com"
        store.set_registered_model_tag("churn", _tag("team", "ml"))
    assert _author(registry_repo) == "carol@example.com <carol@example.com>"


def _tag(key: str, value: str) -> Any:
    from mlflow.entities.model_registry import RegisteredModelTag

    return RegisteredModelTag(key, value)


def test_a_user_name_git_cannot_record_is_refused_before_anything_is_written(
    registry_repo, monkeypatch, request_from
):
    import flask
    from mlflow.exceptions import MlflowException

    store = _store(registry_repo, monkeypatch)
    before = log_subjects(registry_repo)
    with request_from():
        flask.g.mlflow_authenticated_user = "eve <admin@example.com>"
        with pytest.raises(MlflowException) as refused:
            store.create_registered_model("churn")
    assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "cannot be a commit author" in refused.value.message
    assert log_subjects(registry_repo) == before


def test_a_trusted_proxys_header_authors_the_change(registry_repo, monkeypatch, request_from):
    store = _store(registry_repo, monkeypatch, GITREG_MLFLOW_USER_HEADER="X-Forwarded-User")
    with request_from("127.0.0.1", **{"X-Forwarded-User": "dana"}):
        store.create_registered_model("churn")
    assert _author(registry_repo) == "dana <dana@mlflow.invalid>"


def test_a_header_from_an_untrusted_address_never_names_the_author(
    registry_repo, monkeypatch, request_from
):
    from mlflow.exceptions import MlflowException

    store = _store(
        registry_repo,
        monkeypatch,
        GITREG_MLFLOW_USER_HEADER="X-Forwarded-User",
        GITREG_MLFLOW_TRUSTED_PROXIES="10.0.0.5, 192.168.7.0/24",
    )
    before = log_subjects(registry_repo)
    for address in ("127.0.0.1", "10.0.0.6", "not an address"):
        with (
            request_from(address, **{"X-Forwarded-User": "mallory"}),
            pytest.raises(MlflowException) as refused,
        ):
            store.create_registered_model("churn")
        assert refused.value.error_code == "PERMISSION_DENIED"
        assert "X-Forwarded-User" in refused.value.message
    assert log_subjects(registry_repo) == before
    with request_from("127.0.0.1", method="GET", **{"X-Forwarded-User": "mallory"}):
        assert store.search_registered_models().to_list() == []  # reads need no author
    with request_from("192.168.7.20", **{"X-Forwarded-User": "erin"}):
        store.create_registered_model("churn")
    assert _author(registry_repo) == "erin <erin@mlflow.invalid>"


def test_settings_are_off_by_default_and_checked():
    from mlflow.exceptions import MlflowException

    assert Callers.from_env({}) == Callers()
    assert current(Callers()) is None  # outside a request: the plugin in a client process
    assert Callers.from_env({"GITREG_MLFLOW_TRUSTED_PROXIES": "10.0.0.5"}).proxies == ()
    on = Callers.from_env({"GITREG_MLFLOW_USER_HEADER": "X-User"})
    assert on.trusts("127.0.0.1")
    assert on.trusts("::1")
    assert not on.trusts("10.0.0.5")
    with pytest.raises(MlflowException, match=r"GITREG_MLFLOW_TRUSTED_PROXIES: 'proxy\.local'"):
        Callers.from_env(
            {"GITREG_MLFLOW_USER_HEADER": "X-User", "GITREG_MLFLOW_TRUSTED_PROXIES": "proxy.local"}
        )
    with pytest.raises(MlflowException, match="GITREG_MLFLOW_AUTHOR_EMAIL"):
        Callers.from_env({"GITREG_MLFLOW_AUTHOR_EMAIL": "nobody"})


def test_the_email_template_names_the_addresses(registry_repo, monkeypatch, request_from):
    import flask

    store = _store(registry_repo, monkeypatch, GITREG_MLFLOW_AUTHOR_EMAIL="{user}@corp.example")
    with request_from():
        flask.g.mlflow_authenticated_user = "bob"
        store.create_registered_model("churn")
    assert _author(registry_repo) == "bob <bob@corp.example>"
