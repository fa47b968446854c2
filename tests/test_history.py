"""The audit trail (#5): events from state diffs, history from git log of one manifest."""

from __future__ import annotations

import json

import pytest

from gitreg import Registry
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import ModelNotFound
from gitreg.core.events import Event, EventKind, diff
from gitreg.store.history import pull_request_number
from tests._helpers import Cli, git


def model(*versions: ModelVersion, **kw) -> RegisteredModel:
    return RegisteredModel("churn", **kw).with_versions(versions)


def test_diff_names_each_kind_of_change():
    v1 = ModelVersion("churn", 1, "s3://1")
    old = model(v1, aliases={"champion": 1}, tags={"team": "a"})
    v1b = ModelVersion("churn", 1, "s3://1", current_stage=Stage.STAGING, tags={"ok": "yes"})
    new = model(
        v1b,
        ModelVersion("churn", 2, "s3://2"),
        aliases={"champion": 2, "canary": 1},
        description="Predicts churn",
    )
    found = diff(old, new)
    kinds = [(e.kind, e.version, e.alias or e.key) for e in found]
    assert (EventKind.REGISTERED_MODEL_DESCRIPTION_UPDATED, None, None) in kinds
    assert Event(EventKind.REGISTERED_MODEL_TAG_DELETED, "churn", key="team", value="a") in found
    assert (
        Event(EventKind.MODEL_VERSION_ALIAS_CREATED, "churn", 2, "champion", previous_version=1)
        in found
    )
    assert Event(EventKind.MODEL_VERSION_ALIAS_CREATED, "churn", 1, "canary") in found
    staged = {"from_stage": "None", "to_stage": "Staging"}
    assert Event(EventKind.MODEL_VERSION_TRANSITIONED_STAGE, "churn", 1, **staged) in found
    assert Event(EventKind.MODEL_VERSION_TRANSITIONED_TO_STAGING, "churn", 1, **staged) in found
    assert Event(EventKind.MODEL_VERSION_TAG_SET, "churn", 1, key="ok", value="yes") in found
    assert Event(EventKind.MODEL_VERSION_CREATED, "churn", 2, source="s3://2") in found
    assert diff(new, None)[0].kind == EventKind.REGISTERED_MODEL_DELETED
    assert diff(None, None) == []
    assert diff(new, new) == []


def test_describe_reads_like_a_changelog():
    event = diff(
        model(ModelVersion("churn", 3, "s3://3", current_stage=Stage.STAGING)),
        model(ModelVersion("churn", 3, "s3://3", current_stage=Stage.PRODUCTION)),
    )[0]
    assert event.describe() == "version 3: Staging -> Production"
    assert event.to_dict() == {
        "event": "MODEL_VERSION_TRANSITIONED_STAGE",
        "name": "churn",
        "version": "3",
        "from_stage": "Staging",
        "to_stage": "Production",
    }


@pytest.mark.parametrize(
    ("subject", "body", "number"),
    [
        ("Merge pull request #12 from team/gitreg/churn/v3-production", "", 12),
        ("Promote churn version 3 to Production (#41)", "", 41),
        ("Merge branch 'gitreg/churn/v3-production' into 'main'", "See merge request g/r!7", 7),
        ("Register churn version 3", "", None),
    ],
)
def test_pull_request_numbers_from_merge_messages(subject, body, number):
    assert pull_request_number(subject, body) == number


def test_history_lists_who_did_what_newest_first(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    registry.create_model_version("churn", "s3://2")
    registry.transition_model_version_stage("churn", 1, "Staging")
    registry.set_registered_model_alias("churn", "champion", 1)
    registry.set_model_version_tag("churn", 1, "validation", "passed")
    registry.update_model_version("churn", 2, "Retrained")
    entries = Registry(registry_repo).get_model_history("churn")
    described = [[e.describe() for e in entry.events] for entry in entries]
    assert described == [
        ["version 2: description edited"],
        ["version 1: tag validation=passed"],
        ["@champion -> version 1"],
        ["version 1: None -> Staging"],
        ["version 2 registered (s3://2)"],
        ["model churn created", "version 1 registered (s3://1)"],
    ]
    first = entries[-1]
    assert first.author == "Alice Example"
    assert first.committer_email == "alice@example.com"
    assert len(first.commit) == 40
    only_v1 = Registry(registry_repo).get_model_history("churn", 1)
    assert [len(e.events) for e in only_v1] == [1, 1, 1, 1]


def test_history_follows_a_rename(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    registry.rename_registered_model("churn", "churn-predictor")
    registry.transition_model_version_stage("churn-predictor", 1, "Staging")
    entries = registry.get_model_history("churn-predictor")
    kinds = [[e.kind.value for e in entry.events] for entry in entries]
    assert kinds[0] == ["MODEL_VERSION_TRANSITIONED_STAGE"]
    assert kinds[-1][0] == "REGISTERED_MODEL_CREATED"
    assert entries[-1].path == "models/churn.yaml"


def test_history_of_an_unknown_model_is_not_found(registry):
    with pytest.raises(ModelNotFound):
        registry.get_model_history("nope")


def test_cli_history_text_and_json(cli):
    cli.ok("register", "churn", "s3://1")
    cli.ok("transition", "churn", "1", "Staging")
    text = cli.ok("history", "churn").stdout
    assert "version 1: None -> Staging" in text
    assert "Alice Example" in text
    data = json.loads(cli.ok("history", "churn", "1", "--json").stdout)["history"]
    assert data[0]["events"] == [
        {
            "event": "MODEL_VERSION_TRANSITIONED_STAGE",
            "name": "churn",
            "version": "1",
            "from_stage": "None",
            "to_stage": "Staging",
        }
    ]
    assert set(data[0]) >= {"commit", "author", "committer", "committed_at", "pull_request"}


def test_history_reads_a_fixed_ref(registry_repo):
    cli = Cli(registry_repo)
    cli.ok("register", "churn", "s3://1")
    cli.ok("register", "churn", "s3://2")
    entries = json.loads(cli.ok("history", "churn", "--at", "HEAD~1", "--json").stdout)
    assert len(entries["history"]) == 1


def test_a_description_given_at_creation_is_not_reported_as_an_edit():
    created = RegisteredModel("churn", description="Predicts churn")
    registered = created.with_versions([ModelVersion("churn", 1, "s3://1", description="v1")])
    kinds = [e.kind for e in diff(None, registered)]
    assert kinds == [EventKind.REGISTERED_MODEL_CREATED, EventKind.MODEL_VERSION_CREATED]
    edited = registered.with_versions([ModelVersion("churn", 1, "s3://1", description="v1b")])
    assert [e.kind for e in diff(registered, edited)] == [
        EventKind.MODEL_VERSION_DESCRIPTION_UPDATED
    ]


def test_history_names_the_pull_request_in_text_and_json(registry, registry_repo):
    """A change merged through a pull request shows its number, both ways (issue 17)."""
    registry.create_model_version("churn", "s3://1")
    git(registry_repo, "switch", "-qc", "gitreg/churn/v1-staging")
    Registry(registry_repo).transition_model_version_stage("churn", 1, "Staging")
    git(registry_repo, "switch", "-q", "main")
    git(
        registry_repo, "merge", "--no-ff", "-q", "-m",
        "Merge pull request #12 from acme/gitreg/churn/v1-staging", "gitreg/churn/v1-staging",
    )  # fmt: skip
    cli = Cli(registry_repo)
    text = cli.ok("history", "churn").stdout.splitlines()
    assert text[0].endswith("(#12)"), f"history text lost the pull request number: {text[0]}"
    assert text[1] == "    version 1: None -> Staging"
    data = json.loads(cli.ok("history", "churn", "--json").stdout)["history"]
    assert data[0]["pull_request"] == 12, "history JSON lost the pull request number"
    assert data[1]["pull_request"] is None


def test_a_commit_that_broke_the_manifest_hides_only_itself_and_its_fix(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    registry.create_model_version("churn", "s3://2")
    path = registry_repo / "models" / "churn.yaml"
    good = path.read_text()
    path.write_text(good + "versions: [unclosed\n")
    git(registry_repo, "commit", "-qam", "Break it by hand")
    path.write_text(good)
    git(registry_repo, "commit", "-qam", "Fix it by hand")
    registry.transition_model_version_stage("churn", 1, "Staging")
    described = [
        [e.describe() for e in entry.events] for entry in registry.get_model_history("churn")
    ]
    assert described == [
        ["version 1: None -> Staging"],
        ["version 2 registered (s3://2)"],
        ["model churn created", "version 1 registered (s3://1)"],
    ], "the history stopped at the broken commit"
