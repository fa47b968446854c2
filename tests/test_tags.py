"""Tag keys and values as MLflow 3.17.2 has them: through the API, the CLI, the schema and the
gate (#16). MLflow's own rule is ``mlflow.utils.validation._validate_tag_name`` plus its
100,000-character limit on registry tag values.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitreg.core import manifest, validate
from gitreg.core.errors import InvalidParameter
from gitreg.core.fields import MAX_TAG_VALUE_LENGTH, check_tag_key
from tests._helpers import Cli, log_subjects, snapshot

MLFLOW_KEYS = [
    "mlflow.source.type",
    "mlflow.source:type",
    "mlflow.prompt.text",
    "mlflow.prompt.is_prompt",
    "équipe",
    "données clés",
    "日本語",
    "a/b",
    "a/..b",
    "trailing space ",
    "x" * 250,
]
REFUSED_KEYS = ["", "a//b", "a/", "/a", "../a", "..a", "a/./b", ".", "a$b", "a\nb", "x" * 251]


@pytest.mark.parametrize("key", MLFLOW_KEYS)
def test_every_key_mlflow_accepts_is_accepted(registry, registry_repo, key):
    registry.create_model_version("churn", "s3://b/1", tags={key: "v"})
    registry.set_registered_model_tag("churn", key, "model")
    assert registry.get_registered_model("churn").tags == {key: "model"}
    assert registry.get_model_version("churn", 1).tags == {key: "v"}
    assert Cli(registry_repo).ok("validate").exit_code == 0


@pytest.mark.parametrize("key", REFUSED_KEYS)
def test_keys_mlflow_refuses_are_refused_before_anything_is_written(registry, registry_repo, key):
    registry.create_registered_model("churn")
    before = snapshot(registry_repo)
    with pytest.raises(InvalidParameter) as err:
        registry.set_registered_model_tag("churn", key, "v")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert len(err.value.message) < 400
    assert snapshot(registry_repo) == before


def test_cli_tags_with_colons_and_accents(cli, registry_repo):
    """The issue's examples: both were refused before #16."""
    cli.ok("create", "churn", "-t", "équipe=données")
    cli.ok("tag", "churn", "mlflow.source:type=x")
    shown = json.loads(cli.ok("show", "churn", "--json").stdout)["registered_model"]
    assert shown["tags"] == [
        {"key": "équipe", "value": "données"},
        {"key": "mlflow.source:type", "value": "x"},
    ]
    assert "équipe: données" in (registry_repo / "models" / "churn.yaml").read_text("utf-8")


def test_a_value_of_mlflows_maximum_length_is_kept(registry):
    value = "v" * MAX_TAG_VALUE_LENGTH
    registry.create_model_version("churn", "s3://b/1")
    registry.set_model_version_tag("churn", 1, "mlflow.prompt.text", value)
    assert registry.get_model_version("churn", 1).tags["mlflow.prompt.text"] == value


@pytest.mark.parametrize("where", ["model", "version", "create", "register"])
def test_a_longer_value_is_refused_before_the_mutation_with_a_short_message(
    registry, registry_repo, where
):
    value = "secret-" + "v" * MAX_TAG_VALUE_LENGTH
    registry.create_model_version("churn", "s3://b/1")
    before = snapshot(registry_repo)
    calls = {
        "model": lambda: registry.set_registered_model_tag("churn", "long", value),
        "version": lambda: registry.set_model_version_tag("churn", 1, "long", value),
        "create": lambda: registry.create_registered_model("other", tags={"long": value}),
        "register": lambda: registry.create_model_version(
            "churn", "s3://b/2", tags={"long": value}
        ),
    }
    with pytest.raises(InvalidParameter) as err:
        calls[where]()
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"  # not INVALID_STATE from the schema
    assert "'value' exceeds the maximum length of 100000 characters" in err.value.message
    assert "secret-v" in err.value.message  # a short prefix says which value
    assert "for tag 'long'" in err.value.message  # and the key says which tag
    assert len(err.value.message) < 300
    assert snapshot(registry_repo) == before


@pytest.mark.parametrize("where", ["create", "register"])
def test_tags_given_at_creation_are_checked_with_errors_that_name_the_tag(
    registry, registry_repo, where
):
    """Tags passed to create_registered_model / create_model_version get the same checks as
    set_*_tag, and the error says which tag and how to fix it, before anything is written."""
    registry.create_registered_model("churn")
    before = snapshot(registry_repo)
    calls = {
        "create": lambda tags: registry.create_registered_model("other", tags=tags),
        "register": lambda tags: registry.create_model_version("churn", "s3://b/2", tags=tags),
    }
    with pytest.raises(InvalidParameter) as err:
        calls[where]({"note": "ab\0c"})
    assert err.value.message == (
        "Invalid value of tag 'note': it contains a NUL character (at character 2); pass UTF-8 text"
    )
    with pytest.raises(InvalidParameter) as err:
        calls[where](["team=growth"])  # type: ignore[arg-type]
    assert err.value.message == (
        'Invalid tags "[\'team=growth\']": give a mapping of key to value, e.g. {"team": "growth"}'
    )
    assert snapshot(registry_repo) == before


def test_a_commit_subject_shows_a_long_value_short(registry, registry_repo):
    registry.create_registered_model("churn")
    registry.set_registered_model_tag("churn", "note", "n" * 5000)
    assert len(log_subjects(registry_repo)[0]) < 120


def test_deleting_a_tag_key_of_none_is_invalid_parameter_value(registry, registry_repo):
    """MLflow raises INVALID_PARAMETER_VALUE; gitreg raised a TypeError (#16)."""
    registry.create_registered_model("churn", tags={"team": "growth"})
    before = snapshot(registry_repo)
    for call in (
        lambda: registry.delete_registered_model_tag("churn", None),
        lambda: registry.delete_model_version_tag("churn", 1, None),
    ):
        with pytest.raises(InvalidParameter, match="Missing value for required parameter 'key'"):
            call()
    assert snapshot(registry_repo) == before


# --------------------------------------------------------------------------- the schema


def _manifest(tags: dict[str, str]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "churn",
        "tags": tags,
        "next_version": 2,
        "versions": [{"version": 1, "source": "s3://b/1", "stage": "None", "tags": tags}],
    }


def _accepted(key: str) -> bool:
    try:
        check_tag_key(key)
    except InvalidParameter:
        return False
    return True


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.text(min_size=1, max_size=40).filter(_accepted))
def test_the_schema_never_refuses_a_key_the_api_accepts(key):
    """Both engines (jsonschema-rs and jsonschema) check the tag keys the same way (#16)."""
    data = _manifest({key: "v"})
    text = manifest.dump(data)
    assert (
        validate.check_manifest(manifest.load(text, "models/churn.yaml"), "models/churn.yaml") == []
    )


@pytest.mark.parametrize("key", REFUSED_KEYS)
def test_the_gate_refuses_the_keys_mlflow_refuses(key):
    findings = validate.check_manifest(_manifest({key: "v"}), "models/churn.yaml")
    assert findings, key


def test_the_gate_names_a_non_word_character_the_schema_cannot_see():
    """JSON Schema's \\w is ASCII-only: the schema lets '€' through; the gate does not."""
    text = manifest.dump(_manifest({"prix€": "v"}))
    findings = validate.check_manifest(manifest.load(text, "m"), "models/churn.yaml", text)
    assert [f.code for f in findings] == ["TAG_KEY_INVALID", "TAG_KEY_INVALID"]
    assert findings[0].line == 4


def test_the_schema_allows_mlflows_value_length_and_no_more():
    ok = validate.check_manifest(_manifest({"k": "v" * MAX_TAG_VALUE_LENGTH}), "models/churn.yaml")
    assert ok == []
    too_long = _manifest({"k": "v" * (MAX_TAG_VALUE_LENGTH + 1)})
    assert validate.check_manifest(too_long, "models/churn.yaml")
