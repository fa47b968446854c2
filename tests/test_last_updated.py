"""Real last-modified times (#25): ``updated_at`` in the manifest, moved by every change.

A version's ``last_updated_timestamp`` moves when its own entry changes (stage, tags,
description, a rename), the model's on any change to it or its versions; a write rewrites
only the changed version's entry and the model's header (the in-place patcher stays in
use), and the gate takes ``updated_at`` as the mutable field it is.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core import manifest
from gitreg.core.entities import RegisteredModel
from gitreg.core.fields import format_timestamp
from gitreg.core.mutations import touch
from tests._helpers import Cli, git


def _clock(start: int = 1_800_000_000_000) -> Callable[[], int]:
    """A clock that moves one second per write, so every time is told apart."""
    ticks = itertools.count(start, 1000)
    return lambda: next(ticks)


@pytest.fixture
def timed(registry_repo: Path) -> Registry:
    return Registry(registry_repo, clock=_clock())


def _changed_lines(repo: Path) -> list[str]:
    diff = git(repo, "diff", "HEAD~1", "HEAD", "--unified=0").splitlines()
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def _times(registry: Registry, name: str) -> dict[int, int]:
    model = registry.get_registered_model(name)
    out = {mv.version: mv.last_updated_timestamp for mv in model.versions}
    out[0] = model.last_updated_timestamp
    return out


def test_a_new_version_is_last_updated_when_created_and_moves_its_model(timed):
    timed.create_registered_model("churn")
    created = timed.get_registered_model("churn").creation_timestamp
    mv = timed.create_model_version("churn", "s3://1")
    assert mv.last_updated_timestamp == mv.creation_timestamp > created
    assert timed.get_registered_model("churn").last_updated_timestamp == mv.creation_timestamp


@pytest.mark.parametrize(
    ("change", "moves_version"),
    [
        (lambda r: r.transition_model_version_stage("churn", 1, "Staging"), True),
        (lambda r: r.set_model_version_tag("churn", 1, "validation", "passed"), True),
        (lambda r: r.delete_model_version_tag("churn", 1, "team"), True),
        (lambda r: r.update_model_version("churn", 1, "retrained"), True),
        (lambda r: r.set_registered_model_alias("churn", "canary", 1), False),
        (lambda r: r.set_registered_model_tag("churn", "owner", "growth"), False),
        (lambda r: r.update_registered_model("churn", "Predicts churn"), False),
        (lambda r: r.create_model_version("churn", "s3://3"), False),
        (lambda r: r.delete_model_version("churn", 2), False),
    ],
)
def test_every_change_moves_the_model_and_a_changed_version(timed, change, moves_version):
    timed.create_model_version("churn", "s3://1", tags={"team": "ml"})
    timed.create_model_version("churn", "s3://2")
    before = _times(timed, "churn")
    change(timed)
    after = _times(timed, "churn")
    assert after[0] > before[0]
    assert (after[1] > before[1]) is moves_version
    if 2 in after:
        assert after[2] == before[2], "an unchanged version kept its time"


def test_a_change_that_changes_nothing_moves_nothing(timed, registry_repo):
    timed.create_model_version("churn", "s3://1", tags={"team": "ml"})
    before, commits = _times(timed, "churn"), git(registry_repo, "rev-list", "--count", "HEAD")
    timed.set_model_version_tag("churn", 1, "team", "ml")
    timed.transition_model_version_stage("churn", 1, "None")
    timed.rename_registered_model("churn", "churn")
    assert _times(timed, "churn") == before
    assert git(registry_repo, "rev-list", "--count", "HEAD") == commits


def test_a_rename_moves_every_version_as_mlflow_does(timed):
    for i in (1, 2):
        timed.create_model_version("churn", f"s3://{i}")
    renamed = timed.rename_registered_model("churn", "attrition")
    stamps = {mv.last_updated_timestamp for mv in renamed.versions}
    assert stamps == {renamed.last_updated_timestamp}
    assert _times(timed, "attrition")[1] == renamed.last_updated_timestamp


def test_a_write_rewrites_only_the_changed_version_and_the_header(timed, registry_repo):
    """One transition among 60 versions: the header's time, the entry's stage and time."""
    for i in range(1, 61):
        timed.create_model_version("churn", f"s3://{i}")
    timed.transition_model_version_stage("churn", 30, "Staging")
    stamp = format_timestamp(timed.get_model_version("churn", 30).last_updated_timestamp)
    newest = format_timestamp(timed.get_model_version("churn", 60).creation_timestamp)
    changed = _changed_lines(registry_repo)
    assert sorted(changed) == sorted(
        [
            f"-updated_at: '{newest}'",
            f"+updated_at: '{stamp}'",
            "-    stage: None",
            "+    stage: Staging",
            f"+    updated_at: '{stamp}'",
        ]
    )
    # The next write patches the text in place again: still one entry and the header.
    timed.set_model_version_tag("churn", 10, "validation", "passed")
    assert len(_changed_lines(registry_repo)) == 5  # header -/+, tags:, the tag, updated_at


def test_the_manifest_records_times_only_once_something_changed(timed, registry_repo):
    timed.create_model_version("churn", "s3://1")
    text = (registry_repo / "models/churn.yaml").read_text()
    assert "updated_at" not in text.split("versions:")[1], "a new version has no updated_at"
    timed.transition_model_version_stage("churn", 1, "Staging")
    data = manifest.load((registry_repo / "models/churn.yaml").read_bytes(), "churn.yaml")
    assert data["updated_at"] == data["versions"][0]["updated_at"]
    assert list(data) == [
        "schema_version",
        "name",
        "next_version",
        "created_at",
        "created_by",
        "updated_at",
        "versions",
    ]


def test_a_manifest_without_updated_at_reads_its_newest_versions_time(registry_repo):
    """Manifests written before #25 (or by hand) still have a last-updated time."""
    (registry_repo / "models/old.yaml").write_text(
        "schema_version: 1\nname: old\nnext_version: 3\ncreated_at: '2026-01-01T00:00:00Z'\n"
        "versions:\n"
        "  - version: 1\n    source: s3://1\n    stage: None\n"
        "    created_at: '2026-01-02T00:00:00Z'\n"
        "  - version: 2\n    source: s3://2\n    stage: None\n"
        "    created_at: '2026-01-03T00:00:00Z'\n"
    )
    git(registry_repo, "add", "models/old.yaml")
    git(registry_repo, "commit", "-qm", "A manifest from before #25")
    model = Registry(registry_repo).get_registered_model("old")
    assert model.last_updated_timestamp == model.versions[1].creation_timestamp
    assert model.versions[0].last_updated_timestamp == model.versions[0].creation_timestamp


def test_touch_is_pure_and_leaves_an_unchanged_model_alone():
    old = RegisteredModel.from_manifest(
        {
            "schema_version": 1,
            "name": "m",
            "next_version": 2,
            "versions": [{"version": 1, "source": "s3://1", "stage": "None"}],
        }
    )
    assert touch(old, old, 5) is old
    aliased = RegisteredModel.from_manifest({**old.to_manifest(), "aliases": {"a": 1}})
    stamped = touch(old, aliased, 5)
    assert stamped.last_updated_timestamp == 5
    assert stamped.versions[0].last_updated_timestamp == 0, "an alias is the model's change"


def test_a_hand_edited_updated_at_that_is_not_a_time_is_refused(registry, registry_repo):
    registry.create_model_version("churn", "s3://1")
    path = registry_repo / "models/churn.yaml"
    path.write_text(path.read_text().replace("versions:", "updated_at: yesterday\nversions:"))
    result = Cli(registry_repo).fails(1, "validate")
    assert "models/churn.yaml" in result.stdout + result.stderr
    assert "updated_at" in result.stdout + result.stderr


def test_the_gate_accepts_a_transition_that_moves_updated_at(registry, registry_repo):
    """updated_at is not a merged version's immutable field: a pull request may move it."""
    registry.create_model_version("churn", "s3://1")
    base = git(registry_repo, "rev-parse", "HEAD").strip()
    registry.transition_model_version_stage("churn", 1, "Staging")
    registry.set_model_version_tag("churn", 1, "validation", "passed")
    assert "updated_at" in git(registry_repo, "diff", base, "HEAD")
    Cli(registry_repo).ok("validate", "--base", base)
