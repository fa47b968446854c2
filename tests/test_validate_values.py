"""What ``gitreg validate`` makes of hand-written values that look harmless (#23).

Requirements are met only by text a reader can see; "@alias" requirements sit beside the
stages of the default config; ``run_link`` is an http(s) link, as the schema, the API and
the MLflow plugin say alike; numbers stop where MLflow's columns do. Findings name the file,
the line, the field and the fix.
"""

from __future__ import annotations

import json

import pytest
import yaml

from gitreg.core import schema_check, validate
from gitreg.core.config import DEFAULT_CONFIG_TEXT, Config, Requirement
from gitreg.core.entities import ModelVersion
from gitreg.core.errors import InvalidParameter
from gitreg.core.fields import LINK_PATTERN
from tests._helpers import git
from tests._pr import FRAUD, REQUIREMENTS, commit, edit, line_of, write
from tests.test_validate import _on_main, findings

# ------------------------------------------------ requirements count visible text (#23)

INVISIBLE = {
    "zero-width space": "\u200b",
    "blanks": "  \t \n ",
    "no-break spaces": "\u00a0\u3000",
    "direction marks and joiners": "\u200e\u200f\u2060\u200d",
    "byte order mark": "\ufeff",
    "a combining accent alone": "\u0301",
    "Hangul filler": "\u3164",
    "blank braille": "\u2800",
    "control characters": "\x01\x7f",
}


@pytest.mark.parametrize("text", list(INVISIBLE.values()), ids=list(INVISIBLE))
def test_invisible_text_is_no_description(text):
    required = Requirement(description=True)
    mv = ModelVersion(name="churn", version=1, source="s3://1", description=text)
    assert required.unmet(mv) == [
        "a description is required (with visible characters, not only blanks or invisible ones)"
    ]


@pytest.mark.parametrize("text", ["F1 0.94", "\u200bok", "é", "日本語", "\U0001f600", "-"])
def test_any_visible_character_is_a_description(text):
    mv = ModelVersion(name="churn", version=1, source="s3://1", description=text)
    assert Requirement(description=True).unmet(mv) == []


DESCRIBED = REQUIREMENTS + "      description: true\n"


def test_a_zero_width_description_does_not_pass_the_gate(repo, gate):
    """A pull request promoting a version whose description is a zero-width space."""
    _on_main(repo, {"gitreg.yaml": DEFAULT_CONFIG_TEXT.replace(_NO_REQ, DESCRIBED)}, "Describe")
    edit(repo, "models/churn.yaml", "    stage: Production\n", "    stage: Archived\n")
    edit(
        repo,
        "models/churn.yaml",
        "    stage: Staging\n    description: Retrained on November data.\n",
        '    stage: Production\n    description: "\\u200b"\n    tags: {validation: passed}\n',
    )
    commit(repo, "Promote 3 with an invisible description")

    result = gate.fails(1, "validate", "--base", "main")

    assert "a description is required (with visible characters" in result.stdout
    edit(repo, "models/churn.yaml", '"\\u200b"', "Retrained on November data.")
    gate.ok("validate", "--base", "main")


def test_a_transition_needs_a_visible_description(registry_repo, cli):
    config = registry_repo / "gitreg.yaml"
    config.write_text(
        DEFAULT_CONFIG_TEXT.replace(_NO_REQ, "  requirements:\n    Staging: {description: true}\n")
    )
    git(registry_repo, "commit", "-qam", "Staging needs a description")
    cli.ok("register", "churn", "s3://churn/1", "-d", "\u200b\u200b")
    before = git(registry_repo, "rev-parse", "HEAD")

    refused = cli.fails(1, "transition", "churn", "1", "Staging")

    assert "a description is required" in refused.stderr
    assert git(registry_repo, "rev-parse", "HEAD") == before
    cli.ok("update", "churn", "1", "-d", "Trained on November data")
    cli.ok("transition", "churn", "1", "Staging")


@pytest.mark.parametrize(
    ("requirement", "code", "words"),
    [
        ('      tags: {reviewed: "\\u200b"}\n', "POLICY_INVALID", "no visible character"),
        ('      tags: {reviewed: " "}\n', "POLICY_INVALID", "no visible character"),
        ('      metrics: ["f1 >= 1e999"]\n', "POLICY_INVALID", "finite number"),
        ('      metrics: ["f1 >= 1.2.3"]\n', "SCHEMA", "does not match"),
        ('      metrics: ["f1 >= ."]\n', "SCHEMA", "does not match"),
    ],
    ids=["invisible-tag", "blank-tag", "infinite-threshold", "two-points", "a-point"],
)
def test_a_requirement_nothing_real_can_meet_is_a_finding(repo, gate, requirement, code, words):
    kind = requirement.split(":")[0]  # replace the line of the same kind in REQUIREMENTS
    edit(
        repo,
        "gitreg.yaml",
        next(ln for ln in REQUIREMENTS.splitlines(True) if kind in ln),
        requirement,
    )

    result = gate.fails(1, "validate", "--format", "json")

    found = json.loads(result.stdout)["findings"]
    assert [(f["path"], f["code"]) for f in found] == [("gitreg.yaml", code)]
    assert words in found[0]["message"]
    assert found[0]["line"] == line_of(repo, "gitreg.yaml", requirement.strip())


def test_a_threshold_that_is_not_a_number_is_never_met():
    """Fail closed: a policy read without its schema check cannot wave a version through."""
    mv = ModelVersion(name="churn", version=1, source="s3://1", metrics={"f1": 0.9})
    for threshold in ("f1 >= 1.2.3", "f1 >= nan", "f1 >= inf", "f1 ~ 3"):
        assert Requirement(metrics=(threshold,)).unmet(mv), threshold
    assert Requirement(metrics=("f1 >= 0.5",)).unmet(mv) == []


# ----------------------------------------- "@alias" requirements beside stages (#23)

_NO_REQ = "  requirements: {}\n"
CHAMPION = """\
  requirements:
    Production:
      tags: {validation: passed}
      metrics: ["f1 >= 0.88"]
      description: true
    "@champion":
      tags: {validation: passed}
    "@prod-*":
      metrics: ["f1 >= 0.9"]
"""


def test_the_readme_champion_requirement_is_valid_with_the_default_stages(registry_repo, cli):
    """The README's example, in the config ``gitreg init`` writes (it lists policy.stages)."""
    assert "  stages: [None, Staging, Production, Archived]\n" in DEFAULT_CONFIG_TEXT
    (registry_repo / "gitreg.yaml").write_text(DEFAULT_CONFIG_TEXT.replace(_NO_REQ, CHAMPION))

    assert cli.ok("validate").stdout == "gitreg validate: valid; 2 files checked\n"
    policy = Config.from_dict(
        yaml.safe_load(CHAMPION.replace("  requirements:", "policy:\n  requirements:"))
    ).policy
    assert set(policy.alias_requirements) == {"champion", "prod-*"}


def test_a_stage_policy_stages_omits_is_still_reported_beside_alias_requirements(repo, gate):
    config = DEFAULT_CONFIG_TEXT.replace(
        _NO_REQ, CHAMPION.replace("    Production:", "    Staging:")
    )
    write(
        repo,
        "gitreg.yaml",
        config.replace("[None, Staging, Production, Archived]", "[None, Production, Archived]"),
    )

    result = gate.fails(1, "validate", "--format", "json")

    assert {
        (f["code"], f["message"].split(",")[0]) for f in json.loads(result.stdout)["findings"]
    } == {
        ("POLICY_UNKNOWN_STAGE", "policy.transitions names stage Staging"),
        ("POLICY_UNKNOWN_STAGE", "policy.requirements names stage Staging"),
    }


def test_the_champion_requirement_is_enforced_by_the_gate(repo, gate):
    _on_main(repo, {"gitreg.yaml": DEFAULT_CONFIG_TEXT.replace(_NO_REQ, CHAMPION)}, "@champion")
    gate.ok("validate")
    edit(repo, "models/churn.yaml", "  champion: 1\n", "  champion: 3\n")
    commit(repo, "Champion is 3, which was never validated")

    result = gate.fails(1, "validate", "--base", "main", "--format", "json")

    codes = [f["code"] for f in json.loads(result.stdout)["findings"]]
    assert codes == ["REQUIREMENT_UNMET"]


# ---------------------------------------------------- run_link is an http(s) link (#23)

MLFLOW_RUN_LINKS = [
    "https://mlflow.example.com/#/experiments/1/runs/0123abcd",
    "http://localhost:5000/#/experiments/0/runs/abc",
    "https://dbc-1a2b3c4d-5e6f.cloud.databricks.com/?o=1234567890#mlflow/experiments/42/runs/abc",
    "HTTPS://MLFLOW.EXAMPLE.COM/runs/abc?tab=artifacts",
    "https://[2001:db8::1]:8443/#/experiments/1/runs/abc",
]
NOT_LINKS = {
    "javascript": "javascript:alert(document.cookie)",
    "javascript-case": "JavaScript:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "file": "file:///etc/passwd",
    "protocol-relative": "//evil.example/run",
    "relative": "runs/abc",
    "no-host": "https:///runs/abc",
    "user-info": "https://mlflow.example.com@evil.example/run",
    "space": "https://mlflow.example.com/runs/a b",
    "space-in-host": "https://mlflow .example.com/run",
    "newline": "https://mlflow.example.com/run\n",
    "tab": "https://mlflow.example.com/\trun",
    "control": "https://mlflow.example.com/\x01run",
    "zero-width": "https://mlflow.example.com/\u200brun",
    "direction-override": "https://mlflow.example.com/\u202erun",
    "backslash-host": "https://mlflow.example.com\\@evil.example/",
}


def _with_run_link(link: str) -> str:
    quoted = json.dumps(link)  # JSON strings are YAML double-quoted strings
    return FRAUD.replace("    stage: None\n", f"    run_link: {quoted}\n    stage: None\n")


@pytest.mark.parametrize("link", list(NOT_LINKS.values()), ids=list(NOT_LINKS))
def test_a_run_link_that_is_not_an_http_link_is_refused(repo, gate, link):
    write(repo, "models/fraud.yaml", _with_run_link(link))

    result = gate.fails(1, "validate", "--format", "json")

    assert findings(result) == [("models/fraud.yaml", 7, "SCHEMA")]
    message = json.loads(result.stdout)["findings"][0]["message"]
    assert message.startswith("versions.0.run_link: ")
    assert "is not an http(s) link; use an http:// or https:// URL" in message
    assert "\n" not in message
    engines_agree(
        {
            "schema_version": 1,
            "name": "x",
            "next_version": 2,
            "versions": [{"version": 1, "source": "s3://1", "stage": "None", "run_link": link}],
        }
    )


@pytest.mark.parametrize("link", MLFLOW_RUN_LINKS)
def test_the_run_links_mlflow_writes_are_valid(repo, gate, link):
    write(repo, "models/fraud.yaml", _with_run_link(link))
    gate.ok("validate")


def test_the_api_refuses_a_run_link_at_the_door(registry, registry_repo):
    before = git(registry_repo, "rev-parse", "HEAD")
    with pytest.raises(InvalidParameter, match=r"Invalid run_link .*use an http:// or https://"):
        registry.create_model_version("churn", "s3://1", run_link="javascript:alert(1)")
    assert git(registry_repo, "rev-parse", "HEAD") == before
    mv = registry.create_model_version("churn", "s3://1", run_link=MLFLOW_RUN_LINKS[0])
    assert mv.run_link == MLFLOW_RUN_LINKS[0]
    assert registry.create_model_version("churn", "s3://2", run_link="").run_link is None


def test_the_schema_states_the_run_link_rule_gitreg_checks():
    run_link = schema_check.schema("manifest")["$defs"]["version"]["properties"]["run_link"]
    assert run_link["pattern"] == LINK_PATTERN


def engines_agree(doc):
    slow = not list(schema_check._validator("manifest").iter_errors(doc))
    fast = schema_check._fast_validator("manifest")
    assert fast is None or fast.is_valid(doc) == slow, doc
    return slow


# ------------------------------------------------- numbers MLflow can store (#23)


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("version", 2**31 - 1, True),
        ("version", 2**31, False),
        ("next_version", 2**31, True),
        ("next_version", 2**31 + 1, False),
        ("alias", 2**31 - 1, True),
        ("alias", 2**31, False),
    ],
)
def test_version_numbers_stop_where_mlflow_s_integer_column_does(field, value, valid):
    doc = {
        "schema_version": 1,
        "name": "x",
        "next_version": 2**31,
        "aliases": {},
        "versions": [{"version": 2**31 - 1, "source": "s3://1", "stage": "None"}],
    }
    if field == "version":
        doc["versions"][0]["version"] = value
    elif field == "next_version":
        doc["next_version"] = value
    else:
        doc["aliases"]["champion"] = value
    assert engines_agree(doc) is valid
    found = validate.check_manifest(doc, "models/x.yaml")
    assert (not [f for f in found if f.code == "SCHEMA"]) is valid, found


def test_data_with_keys_that_are_not_text_is_a_finding_not_a_crash():
    """Data handed to the checks directly (not read from YAML) with a boolean key."""
    doc = {
        "schema_version": 1,
        "name": "x",
        "next_version": 2,
        "aliases": {True: 1},
        "versions": [{"version": 1, "source": "s3://1", "stage": "None"}],
    }
    found = validate.check_manifest(doc, "models/x.yaml")
    assert ("KEY_NOT_TEXT", "aliases: the key True is not text") in [
        (f.code, f.message) for f in found
    ]


def test_a_huge_integer_metric_is_a_finding_with_its_line(repo, gate):
    edit(repo, "models/churn.yaml", "      f1: 0.93\n", "      f1: 1" + "0" * 400 + "\n")

    result = gate.fails(1, "validate")

    line = line_of(repo, "models/churn.yaml", "f1: 1000")
    assert result.stdout.startswith(
        f"models/churn.yaml:{line}: METRIC_NOT_FINITE: versions[1].metrics.f1: 1000"
    )
    assert "too large for a metric: MLflow stores metrics as 64-bit floats" in result.stdout


def test_a_retired_next_version_past_the_range_is_a_finding(repo, gate):
    write(
        repo,
        "models/.retired.yaml",
        f"schema_version: 1\nretired:\n  old:\n    next_version: {10**40}\n",
    )
    result = gate.fails(1, "validate", "--format", "json")
    assert findings(result) == [("models/.retired.yaml", 4, "SCHEMA")]


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_mlflow_s_client_gets_its_error_code_for_a_bad_run_link(registry_repo, tmp_path):
    """MlflowClient through the gitreg: plugin, as a training job registers a version."""
    mlflow = pytest.importorskip("mlflow")
    from mlflow.exceptions import MlflowException

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=tracking, registry_uri=f"gitreg://{registry_repo}")
    client.create_registered_model("churn")
    with pytest.raises(MlflowException) as err:
        client.create_model_version("churn", "s3://churn/1", run_link="javascript:alert(1)")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "use an http:// or https:// URL" in str(err.value)
    mv = client.create_model_version("churn", "s3://churn/1", run_link=MLFLOW_RUN_LINKS[2])
    assert mv.run_link == MLFLOW_RUN_LINKS[2]
