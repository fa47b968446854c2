"""``gitreg events`` lists each change once (#27, first-day trap 9).

A stage change is two events, as Databricks sends them: the generic
MODEL_VERSION_TRANSITIONED_STAGE and, into Staging, Production or Archived, the specific
MODEL_VERSION_TRANSITIONED_TO_<STAGE>. The text listed both as if two things had happened;
now it gives each change one line naming both kinds. ``--each-kind`` and ``--json`` keep
every event for scripts, and delivery is unchanged: a subscription without ``events``
hears of a stage change once (the generic kind), one that names a kind gets that kind,
one that names both gets both.
"""

from __future__ import annotations

import json

import pytest

from tests._helpers import Cli, head
from tests._servers import serving
from tests.test_notify import hook, subscribe

BOTH = "MODEL_VERSION_TRANSITIONED_STAGE + MODEL_VERSION_TRANSITIONED_TO_PRODUCTION"


@pytest.fixture
def promoted(cli, registry_repo) -> tuple[Cli, str]:
    """churn v1 registered, then None -> Staging -> Production -> None (direct writes)."""
    cli.ok("create", "churn")
    start = head(registry_repo)
    cli.ok("register", "churn", "s3://churn/1")
    for stage in ("Staging", "Production", "None"):
        cli.ok("transition", "churn", "1", stage)
    return cli, start


def test_each_stage_change_is_one_line_naming_both_kinds(promoted):
    cli, start = promoted
    lines = cli.ok("events", "--since", start).stdout.splitlines()
    kinds = [line.split("  ")[2] for line in lines]
    assert kinds == [
        "MODEL_VERSION_CREATED",
        "MODEL_VERSION_TRANSITIONED_STAGE + MODEL_VERSION_TRANSITIONED_TO_STAGING",
        BOTH,
        "MODEL_VERSION_TRANSITIONED_STAGE",  # to None: there is no specific kind
    ]
    assert lines[2].split("  ")[3] == "churn: version 1: Staging -> Production"


def test_each_kind_and_json_keep_every_event(promoted):
    cli, start = promoted
    each = cli.ok("events", "--since", start, "--each-kind").stdout.splitlines()
    assert [line.split("  ")[2] for line in each] == [
        "MODEL_VERSION_CREATED",
        "MODEL_VERSION_TRANSITIONED_STAGE",
        "MODEL_VERSION_TRANSITIONED_TO_STAGING",
        "MODEL_VERSION_TRANSITIONED_STAGE",
        "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION",
        "MODEL_VERSION_TRANSITIONED_STAGE",
    ]
    events = json.loads(cli.ok("events", "--since", start, "--json").stdout)["events"]
    assert [e["event"] for e in events] == [line.split("  ")[2] for line in each]
    assert len({e["id"] for e in events}) == len(events), "each event its own stable id"


def test_the_help_says_what_a_subscriber_to_either_kind_gets(tmp_path):
    text = " ".join(Cli().ok("events", "--help", cwd=tmp_path).stdout.split())
    assert "A subscription without events: gets the first only" in text
    assert "one that names both gets both" in text
    assert "--each-kind" in text


def test_delivery_is_unchanged_one_event_per_subscribed_kind(registry_repo, cli):
    """Three receivers on 127.0.0.1 stand in for three webhook endpoints: one subscribed to
    every change, one to Production only, one to both kinds."""
    with serving() as every, serving() as production, serving() as both:
        start = subscribe(
            registry_repo,
            hook(every.url, name="every")
            + hook(
                production.url, name="prod", events=["MODEL_VERSION_TRANSITIONED_TO_PRODUCTION"]
            ).removeprefix("  webhooks:\n")
            + hook(
                both.url,
                name="both",
                events=[
                    "MODEL_VERSION_TRANSITIONED_STAGE",
                    "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION",
                ],
            ).removeprefix("  webhooks:\n"),
        )
        cli.ok("register", "churn", "s3://churn/1")
        cli.ok("transition", "churn", "1", "Production")
        cli.ok("notify", "--since", start)
    assert [s.json()["event"] for s in every.requests] == [
        "REGISTERED_MODEL_CREATED",
        "MODEL_VERSION_CREATED",
        "MODEL_VERSION_TRANSITIONED_STAGE",
    ]
    assert [s.json()["event"] for s in production.requests] == [
        "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION"
    ]
    assert [s.json()["event"] for s in both.requests] == [
        "MODEL_VERSION_TRANSITIONED_STAGE",
        "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION",
    ]
