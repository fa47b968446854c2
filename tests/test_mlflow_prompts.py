"""MLflow 3's prompt registry through the plugin (#25).

Prompts are registered models tagged ``mlflow.prompt.is_prompt``, with versions, aliases
and ``prompts:/name@alias`` URIs; ``mlflow.genai`` reaches them through the registry store.
Searches leave them out exactly as MLflow's SQL store does (its ``_is_querying_prompt``),
filters may quote tag keys in back quotes (the CLI's too), and a protected alias of a
prompt is protected as a model's is: a request on a registry with a remote, a finding of
the gate on a push.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitreg.gate.scaffold import init_registry
from tests._helpers import Cli, git, log_subjects

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)
IS_PROMPT = "tags.`mlflow.prompt.is_prompt`"


@pytest.fixture(scope="module")
def mlflow_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import mlflow

    base = tmp_path_factory.mktemp("prompts")
    old = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(f"sqlite:///{base / 'tracking.db'}")
    yield mlflow
    mlflow.set_tracking_uri(old[0])
    mlflow.set_registry_uri(old[1])


@pytest.fixture
def mlflow(mlflow_module: Any, registry_repo: Path) -> Any:
    mlflow_module.set_registry_uri(f"gitreg://{registry_repo}")
    return mlflow_module


@pytest.fixture
def prompts_and_models(mlflow: Any) -> Any:
    """Two prompts (one with two versions and @production) and two models."""
    client = mlflow.MlflowClient()
    mlflow.genai.register_prompt(name="greeting", template="Hello {{name}}!", tags={"t": "a"})
    mlflow.genai.register_prompt(name="greeting", template="Hi {{name}}!")
    mlflow.genai.register_prompt(name="summary", template="Summarise {{text}}")
    mlflow.genai.set_prompt_alias("greeting", alias="production", version=1)
    client.create_registered_model("churn", tags={"team": "growth"})
    client.create_model_version("churn", "s3://churn/1")
    client.create_registered_model("fraud")
    return client


def test_register_load_by_version_and_alias_search_and_move_an_alias(
    mlflow, prompts_and_models, registry_repo
):
    assert mlflow.genai.load_prompt("greeting", version=2).template == "Hi {{name}}!"
    assert mlflow.genai.load_prompt("prompts:/greeting/1").format(name="Ada") == "Hello Ada!"
    assert mlflow.genai.load_prompt("prompts:/greeting@production").version == 1
    mlflow.genai.set_prompt_alias("greeting", alias="production", version=2)
    assert mlflow.genai.load_prompt("prompts:/greeting@production").template == "Hi {{name}}!"
    assert mlflow.genai.load_prompt("prompts:/greeting@latest").version == 2
    found = mlflow.genai.search_prompts()
    assert sorted(p.name for p in found) == ["greeting", "summary"]
    assert [p.name for p in mlflow.genai.search_prompts("name LIKE 'sum%'")] == ["summary"]
    # MLflow 3.17 links a loaded prompt to the active experiment from a background thread
    # (a "_mlflow_experiment_ids" tag commit that may land after the alias): skip those.
    subjects = [s for s in log_subjects(registry_repo) if "_mlflow_experiment_ids" not in s]
    assert subjects[0] == "Set alias greeting@production -> version 2"
    text = (registry_repo / "models/greeting.yaml").read_text()
    assert "production: 2" in text
    assert "mlflow.prompt.text: Hello {{name}}!" in text


def test_model_searches_leave_prompts_out_as_mlflow_does(prompts_and_models):
    client = prompts_and_models
    store = client._get_registry_client().store

    def models(filter_string: str | None = None) -> list[str]:
        return sorted(m.name for m in store.search_registered_models(filter_string))

    def versions(filter_string: str | None = None) -> list[tuple[str, int]]:
        found = store.search_model_versions(filter_string)
        return sorted((mv.name, int(mv.version)) for mv in found)

    everything = ["churn", "fraud", "greeting", "summary"]
    assert models() == ["churn", "fraud"]
    assert [m.name for m in client.search_registered_models()] == ["churn", "fraud"]
    assert models(f"{IS_PROMPT} = 'true'") == ["greeting", "summary"]
    assert models(f"{IS_PROMPT} != 'false'") == ["greeting", "summary"]
    assert models(f"{IS_PROMPT} = 'TRUE' AND name = 'summary'") == []  # the value as written
    assert models("name != 'x' AND tag.`mlflow.prompt.is_prompt` = 'true'") == everything[2:]
    # Any other condition on the tag searches models, the condition itself dropped (MLflow).
    assert models(f"{IS_PROMPT} = 'false'") == ["churn", "fraud"]
    assert models(f"{IS_PROMPT} != 'true' AND tags.team = 'growth'") == ["churn"]
    assert models(f"{IS_PROMPT} LIKE 'tr%'") == ["churn", "fraud"]
    # The first condition on the tag decides.
    assert models(f"{IS_PROMPT} = 'false' AND {IS_PROMPT} = 'true'") == ["churn", "fraud"]
    assert versions() == [("churn", 1)]
    assert versions(f"{IS_PROMPT} = 'true'") == [("greeting", 1), ("greeting", 2), ("summary", 1)]
    assert versions("name = 'greeting'") == []
    assert [mv.name for mv in client.search_model_versions("name = 'churn'")] == ["churn"]


def test_the_cli_takes_back_quoted_tag_keys(prompts_and_models, registry_repo):
    cli = Cli(registry_repo)
    out = json.loads(cli.ok("models", "--filter", f"{IS_PROMPT} = 'true'", "--json").stdout)
    assert [m["name"] for m in out["registered_models"]] == ["greeting", "summary"]
    out = json.loads(
        cli.ok("versions", "--filter", "tags.`mlflow.prompt.text` LIKE 'Hi%'", "--json").stdout
    )
    assert [(v["name"], v["version"]) for v in out["model_versions"]] == [("greeting", "2")]
    # gitreg's own listing shows everything the registry holds, prompts included.
    out = json.loads(cli.ok("models", "--json").stdout)
    assert len(out["registered_models"]) == 4
    refused = cli.fails(2, "models", "--filter", "tags.`unclosed = 'x'")
    assert "unterminated quote" in refused.stderr


def test_a_template_longer_than_mlflows_limit_gets_mlflows_words(mlflow, registry_repo):
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="Prompt text exceeds max length of 100000"):
        mlflow.genai.register_prompt(name="huge", template="a" * 100_001)
    # MLflow's client removes the prompt it created for the refused version: so does git.
    with pytest.raises(MlflowException, match="Prompt with name=huge not found"):
        mlflow.genai.load_prompt("huge", version=1)
    assert not (registry_repo / "models/huge.yaml").exists()
    assert "a" * 1000 not in git(registry_repo, "log", "-p")


@pytest.fixture
def remote_registry(tmp_path: Path) -> Path:
    """A clone of a bare remote whose policy protects @production (no forge: a branch)."""
    seed = tmp_path / "seed"
    init_registry(seed)
    config = seed / "gitreg.yaml"
    config.write_text(
        config.read_text().replace(
            "protected_aliases: [champion]", "protected_aliases: [champion, production]"
        )
    )
    git(seed, "commit", "-qam", "Protect @production")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(seed, "push", "-q", str(bare), "main")
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    return work


def test_a_protected_prompt_alias_changes_only_through_a_request(mlflow_module, remote_registry):
    from mlflow.exceptions import MlflowException

    assert "production" in (remote_registry / "gitreg.yaml").read_text()
    mlflow_module.set_registry_uri(f"gitreg://{remote_registry}")
    mlflow_module.genai.register_prompt(name="greeting", template="Hello {{name}}!")
    mlflow_module.genai.register_prompt(name="greeting", template="Hi {{name}}!")
    mlflow_module.genai.set_prompt_alias("greeting", alias="canary", version=2)  # unprotected
    with pytest.raises(MlflowException) as refused:
        mlflow_module.genai.set_prompt_alias("greeting", alias="production", version=2)
    assert refused.value.error_code == "RESOURCE_CONFLICT"
    assert "gitreg/greeting/at-production-v2" in refused.value.message
    with pytest.raises(MlflowException, match="alias production not found"):
        mlflow_module.genai.load_prompt("prompts:/greeting@production")
    origin = git(remote_registry, "show", "origin/main:models/greeting.yaml")
    assert "canary: 2" in origin
    assert "production" not in origin


def test_the_gate_refuses_a_pushed_move_of_a_protected_prompt_alias(mlflow, registry_repo):
    mlflow.genai.register_prompt(name="greeting", template="Hello {{name}}!")
    mlflow.genai.register_prompt(name="greeting", template="Hi {{name}}!")
    mlflow.genai.set_prompt_alias("greeting", alias="champion", version=1)
    base = git(registry_repo, "rev-parse", "HEAD").strip()
    mlflow.genai.set_prompt_alias("greeting", alias="champion", version=2)  # no remote: direct
    result = Cli(registry_repo).fails(1, "validate", "--base", base, "--push")
    output = result.stdout + result.stderr
    assert "PROTECTED_ALIAS" in output
    assert "greeting: @champion moved from version 1 to 2" in output
