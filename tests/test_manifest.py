"""YAML in and out: safe loading, line numbers, deterministic minimal-diff dumping."""

from __future__ import annotations

import pytest

from gitreg.core import manifest
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import InvalidManifest


def test_load_is_safe_and_refuses_python_tags():
    with pytest.raises(InvalidManifest, match=r"x\.yaml:1"):
        manifest.load("a: !!python/object/apply:os.system ['echo hi']\n", "x.yaml")


def test_timestamps_stay_text():
    data = manifest.load_mapping("created_at: 2026-11-22T10:04:11Z\n", "m.yaml")
    assert data == {"created_at": "2026-11-22T10:04:11Z"}


def test_syntax_error_names_file_and_line():
    with pytest.raises(InvalidManifest) as err:
        manifest.load("name: x\nversions:\n  - version: 1\n   bad: [\n", "models/x.yaml")
    assert str(err.value).startswith("models/x.yaml:4: YAML syntax error")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_top_level_must_be_a_mapping(text):
    with pytest.raises(InvalidManifest, match="expected a mapping"):
        manifest.load_mapping(text, "models/x.yaml")


def test_dump_is_deterministic_block_style_and_round_trips():
    model = RegisteredModel(
        name="churn",
        description="Line one\nLine two",
        tags={"team": "growth", "yes": "no"},
        aliases={"champion": 1},
        next_version=2,
        creation_timestamp=1_795_000_000_000,
    ).with_versions(
        [ModelVersion("churn", 1, "s3://x", current_stage=Stage.PRODUCTION, tags={"on": "1"})]
    )
    text = manifest.dump(model.to_manifest())
    assert text == manifest.dump(model.to_manifest())
    assert text.endswith("\n")
    assert "&" not in text
    assert "*" not in text
    assert "description: |-\n  Line one\n  Line two\n" in text
    assert "  - version: 1\n" in text
    again = RegisteredModel.from_manifest(manifest.load_mapping(text, "m.yaml"))
    assert again.to_manifest() == model.to_manifest()
    assert again.tags == {"team": "growth", "yes": "no"}  # quoted, not YAML 1.1 booleans


def test_dump_keeps_the_key_order_of_the_old_file_and_places_new_keys_canonically():
    old = {"next_version": 2, "name": "m", "versions": [{"stage": "None", "version": 1}]}
    new = {
        "name": "m",
        "tags": {"a": "b"},
        "next_version": 3,
        "versions": [{"version": 1, "stage": "Staging"}, {"version": 2, "stage": "None"}],
    }
    text = manifest.dump(new, like=old)
    assert text.splitlines() == [
        "next_version: 3",
        "name: m",
        "tags:",
        "  a: b",
        "versions:",
        "  - stage: Staging",
        "    version: 1",
        "  - stage: None",
        "    version: 2",
    ]


def test_line_of_finds_nested_nodes():
    text = "name: m\nversions:\n  - version: 1\n    stage: None\n  - version: 2\n    stage: Bad\n"
    assert manifest.line_of(text, ["versions", 1, "stage"]) == 6
    assert manifest.line_of(text, ["versions", 1]) == 5
    assert manifest.line_of(text, ["name"]) == 1
    assert manifest.line_of(text, ["versions", 9, "stage"]) == 2
    assert manifest.line_of("a: [", ["a"]) is None


def test_write_atomic_replaces_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "models" / "m.yaml"
    manifest.write_atomic(target, "a: 1\n")
    manifest.write_atomic(target, "a: 2\n")
    assert target.read_text() == "a: 2\n"
    assert [p.name for p in target.parent.iterdir()] == ["m.yaml"]
