"""The caller as each commit's author (#25): ``Registry(author=...)``, as data, never a global.

Behind ``mlflow server`` the plugin hands each request's writes the person the server
authenticated; everything below takes that ``Identity`` as an argument. The commit's author
is that person, its committer stays the process's git identity, and ``created_by``, the
history, the events and a promotion request's commit and body all name the person.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import InvalidParameter, PromotionPending
from gitreg.core.identity import Identity, identity_for
from tests._helpers import Cli, git
from tests.test_governance import clone, forge, remote  # noqa: F401  (fixtures)

BOB = Identity("bob", "bob@example.com")


def _who(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", ref).strip()


@pytest.mark.parametrize(
    ("user", "template", "expected"),
    [
        ("bob", None, Identity("bob", "bob@mlflow.invalid")),
        ("bob@example.com", None, Identity("bob@example.com", "bob@example.com")),
        ("Bob Smith", "{user}@example.com", Identity("Bob Smith", "Bob-Smith@example.com")),
        ("élodie", None, Identity("élodie", "élodie@mlflow.invalid")),
    ],
)
def test_an_authenticated_user_becomes_a_git_author(user, template, expected):
    assert identity_for(user, template) == expected


@pytest.mark.parametrize(
    "user", ["", "   ", "eve <eve@evil>", "eve\nCommitter: x", "bob.", 7, None, "x" * 257]
)
def test_a_user_name_git_cannot_record_faithfully_is_refused(user):
    with pytest.raises(InvalidParameter, match="cannot be a commit author"):
        identity_for(user)


def test_an_email_template_that_makes_no_address_is_refused():
    with pytest.raises(InvalidParameter, match="not an address"):
        identity_for("bob", "{user}")


def test_the_author_is_the_caller_and_the_committer_the_process(registry_repo, monkeypatch):
    monkeypatch.setenv("GIT_COMMITTER_NAME", "MLflow server")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "mlflow@example.com")
    shared = Registry(registry_repo)
    as_bob = shared.acting_as(BOB)
    mv = as_bob.create_model_version("churn", "s3://1")
    assert _who(registry_repo) == "bob <bob@example.com>|MLflow server <mlflow@example.com>"
    assert mv.user_id == "bob"
    assert as_bob.get_registered_model("churn").user_id == "bob"
    as_bob.transition_model_version_stage("churn", 1, "Staging")
    assert _who(registry_repo).startswith("bob <bob@example.com>|")
    # The registry it came from still writes as git's identity: nothing was shared.
    shared.set_registered_model_tag("churn", "team", "ml")
    assert _who(registry_repo) == (
        "Alice Example <alice@example.com>|MLflow server <mlflow@example.com>"
    )
    assert as_bob.store is shared.store


def test_history_events_and_the_site_name_the_caller(registry_repo, tmp_path):
    start = git(registry_repo, "rev-parse", "HEAD").strip()
    as_bob = Registry(registry_repo, author=BOB)
    as_bob.create_model_version("churn", "s3://1")
    as_bob.transition_model_version_stage("churn", 1, "Production")
    cli = Cli(registry_repo)
    history = json.loads(cli.ok("history", "churn", "--json").stdout)["history"]
    assert [(h["author"], h["author_email"]) for h in history] == [("bob", "bob@example.com")] * 2
    assert history[0]["committer"] == "Alice Example"
    events = json.loads(cli.ok("events", "--since", start, "--json").stdout)["events"]
    assert {e["author"] for e in events} == {"bob"}
    assert "MODEL_VERSION_TRANSITIONED_STAGE" in {e["event"] for e in events}
    cli.ok("site", str(tmp_path / "site"))
    page = (tmp_path / "site" / "models" / "churn" / "index.html").read_text()
    assert " by bob" in page


def test_git_s_own_commit_path_keeps_the_caller_too(registry_repo):
    """A commit encoding other than UTF-8 sends commits through ``git commit-tree``."""
    git(registry_repo, "config", "i18n.commitEncoding", "ISO-8859-1")
    Registry(registry_repo, author=BOB).create_model_version("churn", "s3://1")
    assert _who(registry_repo) == "bob <bob@example.com>|Alice Example <alice@example.com>"


def test_a_promotion_request_is_authored_by_and_names_the_caller(remote, forge, tmp_path):  # noqa: F811
    work = clone(remote, tmp_path / "work")
    with pytest.raises(PromotionPending) as pending:
        Registry(work, author=BOB).transition_model_version_stage("churn", 2, "Production", True)
    branch = pending.value.branch
    assert _who(remote, branch).startswith("bob <bob@example.com>|Alice Example")
    body = forge.pull_for(branch)["body"]
    assert "**Requested by**: bob <bob@example.com>" in body
