"""A registry with a real history, for the catalog's tests (#14).

``churn-predictor`` is promoted through three merged pull requests (GitHub's merge commits,
``Merge pull request #N from ...``): version 1 to Production, version 2 replacing it, and a
rollback to version 1; ``@champion`` follows, moving from 1 to 2 and back. ``fraud`` has a
version in Staging and, once the registry has a remote (a bare repository standing in for
GitHub), an open promotion request. ``hostile`` is a hand-written manifest whose
description, tags, aliases, source, run link and author try to run script in the page:
each payload would set ``window.__pwned`` (or the title) if it ever ran.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitreg import Registry
from gitreg.core.config import DEFAULT_CONFIG_TEXT
from gitreg.core.names import file_stem
from gitreg.gate.scaffold import init_registry
from tests._helpers import git

RUN_URL = "https://mlflow.example/#/experiments/0/runs/{run_id}"
PULL_URL = "https://github.com/acme/registry/pull/{number}"
COMMIT_URL = "https://github.com/acme/registry/commit/{commit}"
LINKS = f"""\
links:
  run: "{RUN_URL}"
  pull_request: "{PULL_URL}"
  commit: "{COMMIT_URL}"
"""

PAYLOADS = {
    "script": "<script>window.__pwned = 'script'; document.title = 'pwned'</script>",
    "img": "<img src=x onerror=\"window.__pwned = 'img'\">",
    "svg": "<svg onload=\"window.__pwned = 'svg'\"></svg>",
    "close": "</script><script>window.__pwned = 'close'</script><!--",
    "js": "javascript:window.__pwned = 'js'",
}
# An alias of a valid manifest is [A-Za-z_][A-Za-z0-9_-]*: no payload fits, and a manifest
# with one is invalid, so the catalog shows it as such (#22): BROKEN_ALIAS is that case.
HOSTILE_ALIAS = "pwned_alias"
BROKEN_ALIAS = "<img src=x onerror=window.__pwned='alias'>"
# Any name MLflow accepts is a model name (#16): only '/' and ':' are out.
HOSTILE_NAME = "hostile <img src=x onerror=window.__pwned='name'>"
HOSTILE_DIR = file_stem(HOSTILE_NAME)  # its manifest's file stem, and its pages' directory
HOSTILE_DESCRIPTION = (
    "Looks harmless. <script>window.__pwned = 'description'</script>\n\n"
    "[click me](javascript:window.__pwned='link') and "
    "<img src=x onerror=\"window.__pwned='desc-img'\"> and "
    "[a real link](https://example.com/docs)\n\n"
    "</script><script>window.__pwned = 'desc-close'</script> \u2028 \u2029"
)


def hostile_manifest() -> str:
    """A manifest no gitreg command would write, committed by hand."""
    data = {
        "schema_version": 1,
        "name": HOSTILE_NAME,
        "description": HOSTILE_DESCRIPTION,
        "tags": {**PAYLOADS, "separators": "line\u2028para\u2029end"},
        "aliases": {HOSTILE_ALIAS: 1},
        "next_version": 2,
        "created_by": "<b onmouseover=\"window.__pwned='author'\">mallory</b>",
        "versions": [
            {
                "version": 1,
                "source": PAYLOADS["js"],
                "run_id": PAYLOADS["close"],
                "run_link": "https://mlflow.example/#/runs/<script>window.__pwned='run_link'",
                "stage": "Production",
                "description": PAYLOADS["img"],
                "tags": {"note": PAYLOADS["script"]},
                "metrics": {"f1": 0.5},
                "created_at": "2026-11-02T10:00:00Z",
                "created_by": PAYLOADS["svg"],
            }
        ],
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


BROKEN_NAME = "broken <img src=x onerror=window.__pwned='broken'>"
BROKEN_DIR = file_stem(BROKEN_NAME)


def broken_manifest() -> str:
    """An invalid manifest (two versions in Production, an alias and a metric no schema
    accepts) that tries to run script through the finding the catalog shows instead."""
    data = {
        "schema_version": 1,
        "name": BROKEN_NAME,
        "aliases": {BROKEN_ALIAS: 1},
        "next_version": 4,
        "versions": [
            {
                "version": number,
                "source": f"s3://broken/{number}",
                "stage": "Production",
                "metrics": {"<i>f1</i>": 0.5},
                "run_link": "javascript:window.__pwned='run_link'",
                "created_at": "2026-11-03T10:00:00Z",
            }
            for number in (1, 3)
        ],
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def merged(root: Path, number: int, branch: str, change: Callable[[], object]) -> None:
    """Make ``change`` on ``branch`` and merge it as GitHub's merge button does."""
    git(root, "switch", "-q", "-c", branch)
    change()
    git(root, "switch", "-q", "main")
    git(
        root,
        "merge",
        "-q",
        "--no-ff",
        branch,
        "-m",
        f"Merge pull request #{number} from acme/{branch}",
    )
    git(root, "branch", "-q", "-d", branch)


def make_registry(root: Path) -> Registry:
    """The registry described in the module docstring, with a remote and an open request."""
    init_registry(root)
    config = DEFAULT_CONFIG_TEXT.replace(
        "protected_aliases: [champion]", 'protected_aliases: [champion, "*pwned*"]'
    )
    (root / "gitreg.yaml").write_text(config + LINKS, "utf-8")
    git(root, "commit", "-qam", "Link runs to MLflow, pull requests and commits to GitHub")
    reg = Registry(root)
    name = "churn-predictor"
    reg.create_registered_model(
        name,
        tags={"team": "growth", "priority": "critical"},
        description="Predicts **30-day churn** from account activity. "
        "[Feature notes](https://wiki.example/churn).",
    )
    reg.create_model_version(
        name, "runs:/aaa111/model", run_id="aaa111", metrics={"f1": 0.91}, description="Baseline."
    )
    reg.create_model_version(
        name,
        "s3://models/churn/2",
        run_id="bbb222",
        metrics={"f1": 0.94, "auc": 0.97},
        tags={"validation": "passed"},
        description="Improved features.",
        storage_location="s3://artifacts/churn/2",
    )
    merged(
        root,
        1,
        "gitreg/churn-predictor/v1-production",
        lambda: reg.transition_model_version_stage(name, 1, "Production"),
    )
    reg.set_registered_model_alias(name, "champion", 1)
    merged(
        root,
        2,
        "gitreg/churn-predictor/v2-production",
        lambda: reg.transition_model_version_stage(name, 2, "Production", True),
    )
    reg.set_registered_model_alias(name, "champion", 2)
    merged(
        root, 3, "gitreg/churn-predictor/v1-production", lambda: reg.rollback_registered_model(name)
    )
    reg.set_registered_model_alias(name, "champion", 1)
    reg.create_model_version("fraud", "s3://models/fraud/1", run_id="fff111", tags={"team": "risk"})
    reg.transition_model_version_stage("fraud", 1, "Staging")
    reg.set_registered_model_tag("fraud", "team", "risk")
    (root / "models" / f"{HOSTILE_DIR}.yaml").write_text(hostile_manifest(), "utf-8")
    git(root, "add", f"models/{HOSTILE_DIR}.yaml")
    git(root, "commit", "-qm", "A manifest written by hand")
    _open_request(root, reg)
    return reg


def _open_request(root: Path, reg: Registry) -> None:
    """Give the registry a remote, then propose fraud version 1 for Production there."""
    from gitreg.core.errors import PromotionPending

    remote = root.parent / "remote.git"
    git(root.parent, "init", "-q", "--bare", "-b", "main", str(remote))
    git(root, "remote", "add", "origin", str(remote))
    git(root, "push", "-q", "-u", "origin", "main")
    try:
        reg.transition_model_version_stage("fraud", 1, "Production", message="Ready")
    except PromotionPending:
        return
    raise AssertionError("a protected transition on a registry with a remote must be a request")


def make_unverified_registry(root: Path) -> str:
    """A registry whose verified tip (``refs/gitreg/verified``, set as a clean audit would)
    is followed by a direct push moving churn's version 2 to Production, and by the
    invalid ``broken_manifest``; fraud is unchanged since the tip. Returns the tip."""
    init_registry(root)
    reg = Registry(root)
    reg.create_model_version("churn", "s3://churn/1", run_id="aaa111")
    reg.create_model_version("churn", "s3://churn/2", run_id="bbb222")
    reg.transition_model_version_stage("churn", 1, "Production")
    reg.create_model_version("fraud", "s3://fraud/1")
    verified = git(root, "rev-parse", "HEAD").strip()
    git(root, "update-ref", "refs/gitreg/verified", verified)
    path = root / "models" / "churn.yaml"
    text = path.read_text("utf-8").replace("stage: Production", "stage: Archived", 1)
    path.write_text(text.replace("stage: None", "stage: Production", 1), "utf-8")
    git(root, "commit", "-qam", "Direct push: churn version 2 to Production")
    (root / "models" / f"{BROKEN_DIR}.yaml").write_text(broken_manifest(), "utf-8")
    git(root, "add", "models")
    git(root, "commit", "-qm", "Direct push: a manifest written by hand")
    return verified


def registry_and_clone(label: str) -> tuple[Any, Any]:
    """A test module's two fixtures: ``original``, ``make_registry``'s registry made once
    for the module (in a directory named after ``label``), and ``work``, a clone of it for
    one test, without a remote (the test changes it freely).

    Use: ``original, work = registry_and_clone("incremental")`` at module level."""

    @pytest.fixture(scope="module")
    def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
        root = tmp_path_factory.mktemp(label) / "registry"
        make_registry(root)
        return root

    @pytest.fixture
    def work(original: Path, tmp_path: Path) -> Path:
        root = tmp_path / "work"
        git(tmp_path, "clone", "-q", str(original), str(root))
        git(root, "remote", "remove", "origin")
        return root

    return original, work
