"""events and notify never announce what the audit flags as a normal change (#22).

A bare repository stands in for GitHub; the pusher's clone edits a manifest by hand and
pushes it straight to main, as anyone with push access can. The receiver (a real HTTP
server on 127.0.0.1, tests/_servers.py) stands in for a deployment system's webhook
endpoint and records everything that arrives: an unreviewed move to Production must reach
it as POLICY_VIOLATION, never as MODEL_VERSION_TRANSITIONED_STAGE, while the changes around
it that broke no rule still arrive as themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.gate.scaffold import init_registry
from tests._helpers import Cli, git, head
from tests._servers import serving

MANIFEST = "models/churn.yaml"
ANNOUNCING = {
    "MODEL_VERSION_TRANSITIONED_STAGE",
    "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION",
    "MODEL_VERSION_ALIAS_CREATED",
}


@pytest.fixture
def pushed(tmp_path: Path) -> tuple[Path, Path]:
    """The remote and a clone of it: churn v1 in Production, v2 in None; fraud v1."""
    seed = tmp_path / "seed"
    init_registry(seed)
    registry = Registry(seed)
    registry.create_model_version("churn", "s3://churn/1")
    registry.create_model_version("churn", "s3://churn/2")
    registry.transition_model_version_stage("churn", 1, "Production")
    registry.create_model_version("fraud", "s3://fraud/1")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(seed, "push", "-q", str(bare), "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    return bare, clone


def subscribe(clone: Path, url: str) -> str:
    """A subscription to every event, reviewed into main before the range; its commit."""
    config = clone / "gitreg.yaml"
    config.write_text(
        config.read_text()
        + "notifications:\n  allow:\n    hosts: [127.0.0.1]  # the local receiver (#23)\n"
        + f"  webhooks:\n    - name: deploy\n      url: {url}/hook\n"
    )
    git(clone, "commit", "-qam", "Subscribe the deployment system")
    git(clone, "push", "-q", "origin", "main")
    return head(clone)


def direct_push_to_production(clone: Path) -> str:
    """By hand, past review: version 2 to Production beside an archived version 1."""
    path = clone / MANIFEST
    text = path.read_text()
    text = text.replace("stage: Production", "stage: Archived", 1)
    text = text.replace("stage: None", "stage: Production", 1)
    path.write_text(text)
    git(clone, "commit", "-qam", "Ship version 2")
    git(clone, "push", "-q", "origin", "main")
    return head(clone)


def test_notify_delivers_policy_violation_for_an_unreviewed_production_move(pushed):
    _bare, clone = pushed
    with serving() as receiver:
        start = subscribe(clone, receiver.url)
        Registry(clone).set_registered_model_tag("fraud", "team", "risk")  # breaks no rule
        bad = direct_push_to_production(clone)
        result = Cli(clone).ok("notify", "--since", start)
    bodies = [seen.json() for seen in receiver.requests]
    got = [(b["event"], b["name"]) for b in bodies]
    assert ("REGISTERED_MODEL_TAG_SET", "fraud") in got
    assert not [b for b in bodies if b["event"] in ANNOUNCING], "the push was announced"
    [violation] = [b for b in bodies if b["event"] == "POLICY_VIOLATION"]
    assert (violation["name"], violation["commit"]) == ("churn", bad)
    audit = Registry(clone).audit(start)
    [code] = {v.finding.code for v in audit.violations}  # as the audit words it
    assert violation["key"] == code  # both stage changes' findings, one event (one id)
    for said in audit.violations:
        assert said.finding.message in violation["description"]
    assert violation["description"].endswith(
        "(not announced as a change: version 1: Production -> Archived; "
        "version 2: None -> Production)"
    )
    assert [e for e, _ in got].index("REGISTERED_MODEL_TAG_SET") < got.index(
        ("POLICY_VIOLATION", "churn")
    ), "events are in commit order"
    assert "delivered" in result.stderr


def test_events_list_the_violation_in_place_of_the_transition(pushed):
    _bare, clone = pushed
    start = head(clone)
    bad = direct_push_to_production(clone)
    Registry(clone).transition_model_version_stage("fraud", 1, "Staging")  # unprotected
    listed = json.loads(Cli(clone).ok("events", "--since", start, "--json").stdout)["events"]
    kinds = [(e["event"], e["name"]) for e in listed]
    assert kinds[0] == ("POLICY_VIOLATION", "churn")
    assert ("MODEL_VERSION_TRANSITIONED_STAGE", "fraud") in kinds
    assert not [e for e in listed if e["name"] == "churn" and e["event"] in ANNOUNCING]
    assert all(e["commit"] == bad for e in listed if e["name"] == "churn")
    text = Cli(clone).ok("events", "--since", start).stdout
    [finding] = {v.finding.code for v in Registry(clone).audit(start).violations}
    assert f"POLICY_VIOLATION  churn: {finding}: " in text
    assert "version 2: None -> Production)" in text


def test_the_same_range_gives_the_same_violation_ids_as_the_audit(pushed):
    """Receivers deduplicate by id: notify and ``audit --notify`` must agree on it."""
    _bare, clone = pushed
    start = head(clone)
    direct_push_to_production(clone)
    registry = Registry(clone)
    from_events = [e.id for e in registry.list_events(start) if e.event.kind == "POLICY_VIOLATION"]
    from_audit = {e.id for e in registry.audit_events(registry.audit(start))}
    assert len(from_events) == len(set(from_events)) == 1
    assert set(from_events) == from_audit


def test_history_views_keep_every_change_as_it_happened(pushed):
    """Stage history is the record of what happened (the site marks what is unverified)."""
    _bare, clone = pushed
    direct_push_to_production(clone)
    intervals = Registry(clone).get_stage_history("churn", "Production")
    assert [i.version for i in intervals] == [1, 2]


def test_notify_delivers_with_the_trusted_subscriptions_not_the_pushed_ones(pushed, monkeypatch):
    """A push that adds its own hook (with a token, an api_url of its choosing, and that
    origin allow-listed in the same push) and moves Production: ``gitreg notify`` of that
    push sends the POLICY_VIOLATION to the reviewed subscription and nothing, token or
    event, to the pusher's endpoint (#22). Both receivers are local HTTP servers: one
    stands in for the deployment system, the other for the attacker."""
    _bare, clone = pushed
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret_of_the_ci_job")
    with serving() as receiver, serving() as attacker:
        start = subscribe(clone, receiver.url)
        config = clone / "gitreg.yaml"
        text = config.read_text().replace(
            "    hosts: [127.0.0.1]", f"    hosts: [127.0.0.1]\n    origins: [{attacker.url}]"
        )
        config.write_text(
            text + "    - name: exfiltrate\n      format: github-dispatch\n"
            "      repository: evil/x\n      token_env: GITHUB_TOKEN\n"
            f"      api_url: {attacker.url}\n"
        )
        git(clone, "commit", "-qam", "Add a hook")
        git(clone, "push", "-q", "origin", "main")
        bad = direct_push_to_production(clone)
        Cli(clone).run("notify", "--since", start)
    assert attacker.requests == [], "the pushed hook received something"
    bodies = [seen.json() for seen in receiver.requests]
    assert {b["event"] for b in bodies} == {"POLICY_VIOLATION"}
    assert bad in {b["commit"] for b in bodies}
