"""The audit's shortcut (#23): a change judged on its changed blocks finds what the whole finds.

``gate.incremental`` lets the audit judge a manifest changed in place on a stand-in (the
new header, the changed versions and the versions its aliases name) and counts what spans
versions. It may only ever skip work: on the same change, ``judge`` with it and ``judge``
without it give the same findings and the same summary rows. Property-based over changes a
writer, a careless hand and an attacker make to a valid manifest (registrations, stage
moves into a second Production, rewritten sources, reused and float numbers, dangling and
reserved aliases, blocks that move or repeat, a lower next_version, unknown fields), under
policies with requirements and protected aliases, pushed or reviewed; then through
``gitreg audit`` on a real history.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.core import manifest
from gitreg.core.config import Policy
from gitreg.gate import audit as audit_module
from gitreg.gate import files
from gitreg.gate.incremental import Incremental
from gitreg.gate.judge import Side, judge
from tests._helpers import Cli, git, head

PATH = "models/churn.yaml"
LISTING = files.Listing({"churn.yaml": False})
POLICIES = {
    "default": Policy(),
    "strict": Policy.from_dict(
        {
            "protected": ["Production", "Staging"],
            "protected_aliases": ["champion"],
            "transitions": {"None": ["Staging"], "Staging": ["Production", "Archived"]},
            "requirements": {
                "Production": {"tags": {"validation": "passed"}, "metrics": ["f1 >= 0.9"]},
                "@champion": {"tags": {"validation": "passed"}},
            },
        }
    ),
}
stage = st.sampled_from(["None", "Staging", "Production", "Archived"])


def check_new(path: str, text: bytes | None, incumbents: frozenset[int]) -> Any:
    """The audit's per-file check (``files.check_text``) over a models/ holding churn.yaml."""
    return files.check_text(path, text, LISTING, incumbents)


@st.composite
def version(draw: st.DrawFn, number: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"version": number, "source": f"s3://m/{number}"}
    entry["stage"] = draw(st.sampled_from(["None", "Staging", "Archived"]))
    if draw(st.booleans()):
        entry["tags"] = {"validation": draw(st.sampled_from(["passed", "pending"]))}
    if draw(st.booleans()):
        entry["metrics"] = {"f1": draw(st.sampled_from([0.5, 0.95]))}
    if draw(st.booleans()):
        entry["created_at"] = "2026-11-23T04:28:59Z"
    return entry


@st.composite
def valid(draw: st.DrawFn) -> dict[str, Any]:
    """A manifest every check passes: ascending versions, at most one in Production."""
    count = draw(st.integers(1, 6))
    numbers = sorted(draw(st.sets(st.integers(1, 12), min_size=count, max_size=count)))
    data: dict[str, Any] = {"schema_version": 1, "name": "churn"}
    if draw(st.booleans()):
        data["description"] = draw(st.sampled_from(["Predicts churn", "x"]))
    versions = [draw(version(n)) for n in numbers]
    if draw(st.booleans()):
        draw(st.sampled_from(versions))["stage"] = "Production"
    if draw(st.booleans()):
        data["aliases"] = {"champion": draw(st.sampled_from(numbers))}
    data["next_version"] = numbers[-1] + draw(st.integers(1, 3))
    data["versions"] = versions
    return data


def _deep(target: dict[str, Any]) -> None:
    nested: Any = "x"
    for _ in range(31):
        nested = {"a": nested}
    target["tags"] = nested


# What a writer, a careless hand and an attacker do to a version (``target``) or the header.
MUTATIONS: dict[str, Any] = {
    "stage": lambda new, target, draw: target.update(stage=draw(stage)),
    "source": lambda new, target, draw: target.update(source="s3://attacker/model"),
    "metrics": lambda new, target, draw: target.update(metrics={"f1": 0.99}),
    "tag": lambda new, target, draw: target.update(tags={"validation": "passed"}),
    "delete": lambda new, target, draw: new["versions"].remove(target),
    "move": lambda new, target, draw: new["versions"].insert(0, new["versions"].pop()),
    "duplicate": lambda new, target, draw: new["versions"].append(copy.deepcopy(target)),
    "alias": lambda new, target, draw: new.update(aliases={"champion": target["version"]}),
    "alias-dangling": lambda new, target, draw: new.update(aliases={"champion": 99}),
    "alias-reserved": lambda new, target, draw: new.update(aliases={"latest": target["version"]}),
    "next-down": lambda new, target, draw: new.update(next_version=1),
    "next-float": lambda new, target, draw: new.update(next_version=float(new["next_version"])),
    "describe": lambda new, target, draw: new.update(description="\u200b"),
    "rename": lambda new, target, draw: new.update(name="other"),
    "unknown-field": lambda new, target, draw: target.update(sneaky=True),
    "bad-tag-key": lambda new, target, draw: target.update(tags={"a b\u00a7": "x"}),
    "scalar-item": lambda new, target, draw: new["versions"].__setitem__(
        new["versions"].index(target), 7
    ),
    "unordered": lambda new, target, draw: new["versions"].reverse(),
    "deep": lambda new, target, draw: _deep(target),
    "register-reused": lambda new, target, draw: new["versions"].append(
        draw(version(max(1, target["version"] - 1)))
    ),
    "register-float": lambda new, target, draw: new["versions"].append(
        draw(version(float(new["next_version"])))
    ),
}


@st.composite
def changed(draw: st.DrawFn, old: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(old)
    kinds = st.sampled_from(["register", *MUTATIONS])
    for kind in draw(st.lists(kinds, min_size=1, max_size=3)):
        mappings = [v for v in new["versions"] if isinstance(v, dict)]
        if kind == "register" or not mappings:
            new["versions"].append(draw(version(new["next_version"])))
            new["next_version"] = int(new["next_version"]) + 1
        else:
            MUTATIONS[kind](new, draw(st.sampled_from(mappings)), draw)
    new["versions"] = new.pop("versions")  # last, as gitreg writes it
    return new


def _both(old: bytes, new: bytes, policy: Policy, push: bool) -> tuple[Any, Any, bool]:
    """``judge`` of the change with the shortcut (primed with ``old``) and without it."""
    incremental = Incremental()
    incremental.remember(PATH, old, clean=True)
    before, after = Side({PATH: old}), Side({PATH: new})
    fast = judge([PATH], before, after, policy, check_new, push=push, incremental=incremental)
    whole = judge([PATH], before, after, policy, check_new, push=push)
    known = incremental._known.get(PATH)
    return fast, whole, known is not None and known.text == new and known.clean


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_shortcut_finds_what_the_whole_judgement_finds(data):
    old_data = data.draw(valid())
    old = manifest.dump(old_data).encode()
    assume(check_new(PATH, old, frozenset())[0] == [])
    new = manifest.dump(data.draw(changed(old_data))).encode()
    policy = POLICIES[data.draw(st.sampled_from(sorted(POLICIES)))]
    push = data.draw(st.booleans())
    fast, whole, settled_clean = _both(old, new, policy, push)
    assert fast == whole
    event("the new manifest is clean" if settled_clean else "the new manifest has findings")
    if settled_clean:  # what the shortcut calls clean, the whole file's own check agrees
        assert check_new(PATH, new, frozenset())[0] == []


def _manifest(versions: int, **extra: Any) -> bytes:
    data: dict[str, Any] = {"schema_version": 1, "name": "churn", **extra}
    data["next_version"] = versions + 1
    data["versions"] = [
        {"version": n, "source": f"s3://m/{n}", "stage": "Archived"} for n in range(1, versions)
    ] + [{"version": versions, "source": f"s3://m/{versions}", "stage": "Production"}]
    return manifest.dump(data).encode()


def test_a_registration_on_a_long_model_is_settled_on_its_new_block():
    old = _manifest(300, aliases={"champion": 300})
    new = old.replace(b"next_version: 301", b"next_version: 302") + (
        b"  - version: 301\n    source: s3://m/301\n    stage: None\n"
    )
    incremental = Incremental()
    incremental.remember(PATH, old, clean=True)
    rows = incremental.settle(PATH, old, new, Policy(), check_new, push=True, name="churn")
    assert rows is not None
    assert [(r.version, r.stage_from, r.stage_to) for r in rows] == [(301, None, "None")]
    # The next commit builds on it: a stage move of an old version, also settled.
    moved = new.replace(b"s3://m/7\n    stage: Archived", b"s3://m/7\n    stage: None")
    rows = incremental.settle(PATH, new, moved, Policy(), check_new, push=True, name="churn")
    assert rows is not None
    assert [(r.version, r.stage_to) for r in rows] == [(7, "None")]


@pytest.mark.parametrize(
    ("why", "old", "new"),
    [
        ("a second Production version", b"stage: Archived", b"stage: Production"),
        ("a rewritten source", b"s3://m/5\n", b"s3://evil/5\n"),
        ("a version out of order", b"  - version: 5\n", b"  - version: 50\n"),
        ("a float version", b"  - version: 5\n", b"  - version: 5.0\n"),
        ("a lower next_version", b"next_version: 301", b"next_version: 3"),
        ("a dangling alias", b"champion: 300", b"champion: 999"),
        ("a protected alias moved by a push", b"champion: 300", b"champion: 299"),
    ],
)
def test_a_change_with_a_finding_is_judged_whole(why, old, new):
    before = _manifest(300, aliases={"champion": 300})
    after = before.replace(old, new, 1)
    fast, whole, _ = _both(before, after, Policy(protected_aliases=("champion",)), True)
    assert fast == whole
    assert fast[0], f"{why}: no finding"


def test_nothing_is_settled_against_a_state_the_audit_did_not_see_or_found_unclean():
    old = _manifest(20)
    new = old.replace(b"next_version: 21", b"next_version: 22") + (
        b"  - version: 21\n    source: s3://m/21\n    stage: None\n"
    )
    fresh = Incremental()
    assert fresh.settle(PATH, old, new, Policy(), check_new, push=True, name="churn") is None
    unclean = Incremental()
    unclean.remember(PATH, old, clean=False)
    assert unclean.settle(PATH, old, new, Policy(), check_new, push=True, name="churn") is None
    other = Incremental()
    other.remember(PATH, old.replace(b"s3://m/3", b"s3://m/x"), clean=True)  # not this text
    assert other.settle(PATH, old, new, Policy(), check_new, push=True, name="churn") is None


# ----------------------------------------------------------------- gitreg audit


class _Whole(Incremental):
    """The audit as it was before #23: every change judged whole."""

    def settle(self, *args: Any, **kwargs: Any) -> None:
        return None


def _commit(repo: Path, message: str) -> None:
    git(repo, "commit", "-qam", message)


def test_audit_reports_the_same_violations_with_and_without_the_shortcut(
    registry_repo, monkeypatch
):
    """A history of direct pushes, good and bad, hand edits and a hand-written layout."""
    start = head(registry_repo)
    registry = Registry(registry_repo)
    for n in range(1, 9):
        registry.create_model_version("churn", f"s3://m/{n}")
    registry.transition_model_version_stage("churn", 2, "Staging")
    path = registry_repo / "models" / "churn.yaml"
    path.write_text(path.read_text().replace("s3://m/3", "s3://evil/3"))
    _commit(registry_repo, "Rewrite a merged source")
    registry.create_model_version("churn", "s3://m/9")
    text = path.read_text()
    path.write_text(text.replace("stage: None", "stage: Production", 2))
    _commit(registry_repo, "Two versions into Production by hand")
    path.write_text(text)
    _commit(registry_repo, "Undo")
    registry.delete_model_version("churn", 4)
    path.write_text(path.read_text().replace("next_version: 10", "next_version: 4"))
    _commit(registry_repo, "Lower next_version")
    path.write_text(path.read_text().replace("next_version: 4", "next_version: 10"))
    _commit(registry_repo, "Restore next_version")
    data = manifest.load_mapping(path.read_bytes(), "churn")
    path.write_text(json.dumps(data))  # JSON is YAML: a layout gitreg does not write
    _commit(registry_repo, "Rewrite as JSON")
    registry.create_model_version("churn", "s3://m/10")
    registry.set_registered_model_alias("churn", "champion", 10)
    registry.create_model_version("churn", "s3://m/11")
    fast = registry.audit(start, "HEAD").to_dict()
    monkeypatch.setattr(audit_module, "Incremental", _Whole)
    whole = registry.audit(start, "HEAD").to_dict()
    assert fast == whole
    codes = {v["finding"]["code"] for v in fast["violations"]}
    assert {"IMMUTABLE_FIELD", "MULTIPLE_PRODUCTION", "NEXT_VERSION_DECREASED"} <= codes
    assert fast["commits"] == int(git(registry_repo, "rev-list", "--count", f"{start}..HEAD"))


def test_cli_audit_of_a_long_history_of_registrations_is_clean(registry_repo):
    start = head(registry_repo)
    registry = Registry(registry_repo)
    for n in range(1, 41):
        registry.create_model_version("churn", f"s3://m/{n}")
    result = Cli(registry_repo).ok("audit", "--since", start, "--format", "json")
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["commits"] == 40
