"""Who held Production or an alias, and when (``gitreg.store.timeline``, for #14 and #11).

Every history is made by real writes to a real registry and read back with one
``list_events`` call, as the catalog reads it.
"""

from __future__ import annotations

from pathlib import Path

from gitreg import Registry
from gitreg.core.entities import Stage
from gitreg.store.timeline import (
    alias_intervals,
    events_by_model,
    model_events,
    returns,
    stage_intervals,
)
from tests._helpers import git, head


def _production(registry: Registry, name: str = "churn"):
    return stage_intervals(model_events(registry.list_events(None), name), Stage.PRODUCTION)


def _spans(intervals):
    return [(i.version, i.end is None) for i in intervals]


def test_promotions_and_a_rollback_are_consecutive_intervals(registry, registry_repo):
    for n in (1, 2):
        registry.create_model_version("churn", f"s3://m/{n}")
    registry.transition_model_version_stage("churn", 1, "Production")
    first = head(registry_repo)
    registry.transition_model_version_stage("churn", 2, "Production", True)
    second = head(registry_repo)
    registry.rollback_registered_model("churn")
    third = head(registry_repo)

    intervals = _production(registry)
    assert _spans(intervals) == [(1, False), (2, False), (1, True)]
    assert [i.commit for i in intervals] == [first, second, third]
    assert [i.ended_by for i in intervals] == [second, third, None]
    assert intervals[0].end == intervals[1].start
    assert intervals[0].author == "Alice Example"
    assert returns(intervals) == [False, False, True]


def test_deleting_the_version_that_holds_production_ends_its_interval(registry, registry_repo):
    registry.create_model_version("churn", "s3://m/1")
    registry.transition_model_version_stage("churn", 1, "Production")
    registry.delete_model_version("churn", 1)
    [interval] = _production(registry)
    assert interval.version == 1
    assert interval.ended_by == head(registry_repo)


def test_a_model_deleted_and_created_again_starts_a_new_history(registry):
    registry.create_model_version("churn", "s3://old/1")
    registry.transition_model_version_stage("churn", 1, "Production")
    registry.set_registered_model_alias("churn", "champion", 1)
    registry.delete_registered_model("churn")
    again = registry.create_model_version("churn", "s3://new/1")
    assert again.version == 2  # a name never hands a number out twice (#12)
    registry.transition_model_version_stage("churn", 2, "Staging")
    events = registry.list_events(None)

    mine = model_events(events, "churn")
    assert mine[0].event.kind == "REGISTERED_MODEL_CREATED"
    assert {e.event.source for e in mine if e.event.source} == {"s3://new/1"}
    assert stage_intervals(mine, Stage.PRODUCTION) == []
    assert _spans(stage_intervals(mine, Stage.STAGING)) == [(2, True)]
    # Over the name's whole history, the deletion ended what the old model held.
    old = [e for e in events if e.event.name == "churn"]
    assert _spans(stage_intervals(old, Stage.PRODUCTION)) == [(1, False)]
    assert _spans(alias_intervals(old, "champion")) == [(1, False)]


def test_a_rename_carries_the_history_to_the_new_name(registry):
    registry.create_model_version("churn", "s3://m/1")
    registry.create_model_version("churn", "s3://m/2")
    registry.transition_model_version_stage("churn", 1, "Production")
    registry.rename_registered_model("churn", "churn-predictor")
    registry.transition_model_version_stage("churn-predictor", 2, "Production", True)
    events = registry.list_events(None)

    assert model_events(events, "churn") == []
    assert _spans(_production(registry, "churn-predictor")) == [(1, False), (2, True)]
    assert list(events_by_model(events)) == ["churn-predictor"]


def test_an_alias_moved_deleted_and_set_again(registry):
    for n in (1, 2, 3):
        registry.create_model_version("churn", f"s3://m/{n}")
    registry.set_registered_model_alias("churn", "champion", 1)
    registry.set_registered_model_alias("churn", "challenger", 3)
    registry.set_registered_model_alias("churn", "champion", 2)
    registry.delete_registered_model_alias("churn", "champion")
    registry.set_registered_model_alias("churn", "champion", 1)
    registry.delete_model_version("churn", 3)  # takes @challenger with it
    events = model_events(registry.list_events(None), "churn")

    champion = alias_intervals(events, "champion")
    assert _spans(champion) == [(1, False), (2, False), (1, True)]
    assert champion[0].end == champion[1].start
    assert champion[1].ended_by is not None  # deleted, then set again in a later commit
    assert champion[1].ended_by != champion[2].commit
    assert returns(champion) == [False, False, True]
    assert _spans(alias_intervals(events, "challenger")) == [(3, False)]
    assert alias_intervals(events, "nobody") == []


def test_a_promotion_merged_as_a_pull_request_carries_its_number(registry, registry_repo: Path):
    registry.create_model_version("churn", "s3://m/1")
    git(registry_repo, "switch", "-q", "-c", "gitreg/churn/v1-production")
    registry.transition_model_version_stage("churn", 1, "Production")
    git(registry_repo, "switch", "-q", "main")
    git(
        registry_repo,
        "merge",
        "-q",
        "--no-ff",
        "gitreg/churn/v1-production",
        "-m",
        "Merge pull request #7 from team/gitreg/churn/v1-production",
    )
    [interval] = _production(Registry(registry_repo))
    assert interval.pull_request == 7
    assert interval.commit == head(registry_repo)  # the merge, on the first-parent line
