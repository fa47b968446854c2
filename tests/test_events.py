"""Events of a range of commits (issue 13): computed from states, commit by commit.

Real repositories throughout: the registry's own writes, a hand-edited commit, a merge of a
request branch and a squash merge, read back through ``Registry.list_events`` and the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.events import EventKind
from tests._helpers import Cli, git, head


def _kinds(events) -> list[tuple[str, str, str | None]]:
    return [
        (
            e.event.kind.value,
            e.event.name,
            None if e.event.version is None else str(e.event.version),
        )
        for e in events
    ]


def _script(registry: Registry) -> None:
    """A history that makes every kind of change the diff can see."""
    registry.create_registered_model("churn", tags={"team": "growth"}, description="v0")
    registry.create_model_version("churn", "s3://1", run_id="r1", tags={"stage": "raw"})
    registry.create_model_version("churn", "s3://2")
    registry.transition_model_version_stage("churn", 1, "Staging")
    registry.transition_model_version_stage("churn", 1, "Production")
    registry.set_registered_model_alias("churn", "champion", 1)
    registry.set_registered_model_alias("churn", "champion", 2)
    registry.delete_registered_model_alias("churn", "champion")
    registry.set_model_version_tag("churn", 1, "validation", "passed")
    registry.delete_model_version_tag("churn", 1, "stage")
    registry.set_registered_model_tag("churn", "tier", "gold")
    registry.delete_registered_model_tag("churn", "team")
    registry.update_registered_model("churn", "Predicts churn")
    registry.update_model_version("churn", 2, "Retrained")
    registry.transition_model_version_stage("churn", 2, "Archived")
    registry.delete_model_version("churn", 2)
    registry.rename_registered_model("churn", "churn-predictor")
    registry.create_model_version("fraud", "s3://f1")
    registry.delete_registered_model("fraud")


def test_every_kind_of_change_becomes_its_event_in_commit_order(registry, registry_repo):
    start = head(registry_repo)
    _script(registry)
    events = registry.list_events(start)
    seen = {e.event.kind for e in events}
    # Not made by commits: requests, violations, and artifacts changing under a version (#28).
    expected = set(EventKind) - {
        EventKind.TRANSITION_REQUEST_CREATED,
        EventKind.POLICY_VIOLATION,
        EventKind.ARTIFACT_CHANGED,
    }
    expected -= {EventKind.COMMENT_CREATED}  # from the comments ref, not the branch (#29)
    assert seen == expected
    commits = [e.commit for e in events]
    assert commits == sorted(commits, key=commits.index)  # grouped by commit, in order
    assert len(set(commits)) == 19  # one commit per write
    first = events[0]
    assert first.event.kind == EventKind.REGISTERED_MODEL_CREATED
    assert first.author == "Alice Example"
    promoted = [e for e in events if e.event.kind.name.endswith("TO_PRODUCTION")]
    assert [(p.event.from_stage, p.event.to_stage) for p in promoted] == [("Staging", "Production")]
    renamed = next(e for e in events if e.event.kind == EventKind.REGISTERED_MODEL_RENAMED)
    assert (renamed.event.old_name, renamed.event.name) == ("churn", "churn-predictor")
    moved = [e.event for e in events if e.event.kind == EventKind.MODEL_VERSION_ALIAS_CREATED]
    assert [(m.version, m.previous_version) for m in moved] == [(1, None), (2, 1)]


def test_ids_are_stable_and_distinct(registry, registry_repo):
    start = head(registry_repo)
    _script(registry)
    again = Registry(registry_repo).list_events(start)
    first = registry.list_events(start)
    assert [e.id for e in first] == [e.id for e in again]
    assert len({e.id for e in first}) == len(first)
    assert all(e.id.startswith("evt_") for e in first)


def test_a_range_is_exactly_its_commits(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    middle = head(registry_repo)
    registry.create_model_version("churn", "s3://2")
    registry.transition_model_version_stage("churn", 2, "Staging")
    end = head(registry_repo)
    registry.create_model_version("churn", "s3://3")
    window = registry.list_events(middle, end)
    assert _kinds(window) == [
        ("MODEL_VERSION_CREATED", "churn", "2"),
        ("MODEL_VERSION_TRANSITIONED_STAGE", "churn", "2"),
        ("MODEL_VERSION_TRANSITIONED_TO_STAGING", "churn", "2"),
    ]
    everything = registry.list_events("0" * 40)
    assert _kinds(everything)[0] == ("REGISTERED_MODEL_CREATED", "churn", None)
    assert registry.list_events(end, end) == []


def test_a_hand_edit_is_read_from_the_state_not_the_message(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    start = head(registry_repo)
    path = registry_repo / "models" / "churn.yaml"
    path.write_text(path.read_text().replace("stage: None", "stage: Staging"))
    git(registry_repo, "commit", "-qam", "tidy up")
    assert _kinds(registry.list_events(start)) == [
        ("MODEL_VERSION_TRANSITIONED_STAGE", "churn", "1"),
        ("MODEL_VERSION_TRANSITIONED_TO_STAGING", "churn", "1"),
    ]


def _branch_of_changes(repo: Path) -> str:
    """Three commits on a request-like branch; returns the branch name."""
    git(repo, "switch", "-qc", "gitreg/churn/work")
    branch_registry = Registry(repo)
    branch_registry.transition_model_version_stage("churn", 1, "Staging")
    branch_registry.set_model_version_tag("churn", 1, "validation", "passed")
    branch_registry.set_registered_model_alias("churn", "champion", 1)
    git(repo, "switch", "-q", "main")
    return "gitreg/churn/work"


def test_a_squash_merge_yields_the_same_net_events(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    start = head(registry_repo)
    branch = _branch_of_changes(registry_repo)
    commit_by_commit = registry.list_events(start, branch)
    git(registry_repo, "merge", "--squash", "-q", branch)
    git(registry_repo, "commit", "-qm", "Promote churn (#41)")
    squashed = registry.list_events(start)
    assert sorted(_kinds(squashed)) == sorted(_kinds(commit_by_commit))
    assert {e.commit for e in squashed} == {head(registry_repo)}
    assert {e.pull_request for e in squashed} == {41}


def test_a_merge_commit_carries_its_pull_request(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    start = head(registry_repo)
    branch = _branch_of_changes(registry_repo)
    git(
        registry_repo,
        "merge",
        "--no-ff",
        "-q",
        "-m",
        f"Merge pull request #7 from o/{branch}",
        branch,
    )
    events = registry.list_events(start)
    assert {e.commit for e in events} == {head(registry_repo)}  # first parent: the merge
    assert {e.pull_request for e in events} == {7}
    assert len(events) == 4


def test_history_and_events_agree(registry, registry_repo):
    """One diff, two views: a model's history is its events, without the TO_* duplicates."""
    start = head(registry_repo)
    _script(registry)
    specific = {k for k in EventKind if "_TO_" in k.name}
    from_events = [
        e.event
        for e in registry.list_events(start)
        if e.event.name in ("churn", "churn-predictor") and e.event.kind not in specific
    ]
    history = registry.get_model_history("churn-predictor")
    from_history = [event for entry in reversed(history) for event in entry.events]
    assert from_history == from_events


def test_cli_events_text_and_json(cli, registry_repo):
    start = head(registry_repo)
    cli.ok("register", "churn", "s3://1", "--run-id", "abc")
    cli.ok("alias", "churn", "champion", "1")
    text = cli.ok("events", "--since", start).stdout
    assert "MODEL_VERSION_CREATED  churn: version 1 registered (s3://1)" in text
    assert "MODEL_VERSION_ALIAS_CREATED  churn: @champion -> version 1" in text
    data = json.loads(cli.ok("events", "--since", start, "--json").stdout)["events"]
    created = next(e for e in data if e["event"] == "MODEL_VERSION_CREATED")
    assert created["name"] == "churn"
    assert created["version"] == "1"
    assert created["source"] == "s3://1"
    assert created["run_id"] == "abc"
    assert set(created) >= {"id", "commit", "author", "author_email", "timestamp"}


@pytest.mark.parametrize("ref", ["no-such-ref", "--output=x"])
def test_cli_events_with_a_bad_ref_is_a_usage_error(cli, ref):
    result = cli.fails(2, "events", "--since", ref)
    assert "Unknown revision" in result.stderr or "Invalid revision" in result.stderr


def test_cli_events_without_since_explains(cli: Cli):
    result = cli.fails(2, "events")
    assert "--since" in result.stderr


def test_the_events_of_a_prompt_say_so_to_its_last_commit(registry, registry_repo):
    """MLflow marks prompts with a tag; their events carry is_prompt, a model's do not."""
    start = head(registry_repo)
    registry.create_registered_model("greeting", tags={"mlflow.prompt.is_prompt": "true"})
    registry.create_model_version("greeting", "s3://p/1")
    registry.create_model_version("churn", "s3://m/1")
    registry.delete_registered_model("greeting")  # the prompt is known from the old state
    marks = {(e.event.kind.value, e.event.name, e.is_prompt) for e in registry.list_events(start)}
    assert marks == {
        ("REGISTERED_MODEL_CREATED", "greeting", True),
        ("REGISTERED_MODEL_TAG_SET", "greeting", True),
        ("MODEL_VERSION_CREATED", "greeting", True),
        ("REGISTERED_MODEL_CREATED", "churn", False),
        ("MODEL_VERSION_CREATED", "churn", False),
        ("REGISTERED_MODEL_DELETED", "greeting", True),
    }
