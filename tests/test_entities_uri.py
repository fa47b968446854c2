"""Entities (MLflow field names and REST JSON) and models:/ URI parsing."""

from __future__ import annotations

import pytest

from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import InvalidParameter, InvalidUri
from gitreg.core.fields import format_timestamp, parse_timestamp, parse_version
from gitreg.core.uri import ModelRef, parse_uri


def test_stage_values_are_mlflows_and_parse_case_insensitively():
    assert [s.value for s in Stage] == ["None", "Staging", "Production", "Archived"]
    assert Stage.parse("PRODUCTION") is Stage.PRODUCTION
    assert Stage.parse("none") is Stage.NONE
    with pytest.raises(InvalidParameter, match="use one of"):
        Stage.parse("prod")


def test_version_json_has_mlflow_rest_shape():
    mv = ModelVersion(
        "churn",
        3,
        "runs:/abc/model",
        run_id="abc",
        tags={"k": "v"},
        aliases=("champion",),
        creation_timestamp=5,
        last_updated_timestamp=6,
        user_id="alice",
    )
    data = mv.to_dict()
    assert data["version"] == "3"
    assert data["current_stage"] == "None"
    assert data["status"] == "READY"
    assert data["tags"] == [{"key": "k", "value": "v"}]
    assert data["aliases"] == ["champion"]
    assert {
        "name",
        "creation_timestamp",
        "last_updated_timestamp",
        "source",
        "run_id",
        "description",
        "user_id",
    } <= data.keys()


def test_model_json_has_latest_versions_per_stage_and_alias_records():
    model = RegisteredModel("churn", aliases={"champion": 2}).with_versions(
        [
            ModelVersion("churn", 1, "s3://1", current_stage=Stage.PRODUCTION),
            ModelVersion("churn", 2, "s3://2", current_stage=Stage.STAGING),
            ModelVersion("churn", 3, "s3://3", current_stage=Stage.STAGING),
        ]
    )
    data = model.to_dict()
    assert [(v["version"], v["current_stage"]) for v in data["latest_versions"]] == [
        ("1", "Production"),
        ("3", "Staging"),
    ]
    assert data["aliases"] == [{"alias": "champion", "version": "2"}]
    assert model.get_version(2).aliases == ("champion",)


def test_timestamps_round_trip_in_milliseconds():
    assert format_timestamp(1_795_000_000_000) == "2026-11-18T11:06:40Z"
    assert parse_timestamp("2026-11-18T11:06:40Z") == 1_795_000_000_000
    assert parse_timestamp(format_timestamp(1_795_000_000_123)) == 1_795_000_000_123
    assert parse_timestamp("2026-11-18T12:06:40+01:00") == 1_795_000_000_000
    assert parse_timestamp(None) == 0


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5", True, None, 0])
def test_parse_version_rejects_non_positive_integers(value):
    with pytest.raises(InvalidParameter):
        parse_version(value)


@pytest.mark.parametrize(
    ("uri", "ref"),
    [
        ("models:/churn/3", ModelRef("churn", version=3)),
        ("models:/churn/Production", ModelRef("churn", stage=Stage.PRODUCTION)),
        ("models:/churn/staging", ModelRef("churn", stage=Stage.STAGING)),
        ("models:/churn@champion", ModelRef("churn", alias="champion")),
        ("models:/churn/latest", ModelRef("churn", latest=True)),
        ("models:/churn/Latest", ModelRef("churn", latest=True)),
        ("models:///churn/3", ModelRef("churn", version=3)),
    ],
)
def test_parse_uri_forms(uri, ref):
    assert parse_uri(uri) == ref


@pytest.mark.parametrize(
    "uri",
    [
        "runs:/abc/model",
        "models:/churn",
        "models:/churn/",
        "models:/churn/3/x",
        "models:/@a",
        "models:/churn@",
        "models:/churn@latest",
        "models:/../x/3",
        "models:/churn/Prod",
        "models:/churn/0",
        "s3://x",
    ],
)
def test_bad_uris_are_invalid_parameter_with_the_accepted_forms(uri):
    with pytest.raises(InvalidUri) as err:
        parse_uri(uri)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "models:/NAME@ALIAS" in err.value.message
