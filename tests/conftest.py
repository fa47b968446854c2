"""Fixtures: real git repositories in temporary directories, never mocks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.gate.scaffold import init_registry
from tests._helpers import Cli, git
from tests._pr import make_base


@pytest.fixture(autouse=True, scope="session")
def _isolated_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A private HOME and a fixed identity, so the user's git config never leaks in."""
    home = tmp_path_factory.mktemp("home")
    saved = dict(os.environ)
    os.environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Alice Example",
        GIT_AUTHOR_EMAIL="alice@example.com",
        GIT_COMMITTER_NAME="Alice Example",
        GIT_COMMITTER_EMAIL="alice@example.com",
        GIT_TERMINAL_PROMPT="0",
    )
    for var in (
        "GITREG_REPO",
        "GITHUB_ACTIONS",
        "GITLAB_CI",  # inside a CI system the audit's forge is the runner's (#22)
        "GITHUB_STEP_SUMMARY",
        "GITHUB_TOKEN",
        "GITREG_TOKEN",
        # Artifacts are read at registration (#28): no test reaches a cloud or a tracking
        # server it did not start (tests/test_artifacts*.py start their own).
        "MLFLOW_TRACKING_URI",
        "MLFLOW_S3_ENDPOINT_URL",
        "GITREG_S3_INSTANCE_METADATA",
        *(name for name in os.environ if name.startswith("AWS_")),
    ):
        os.environ.pop(var, None)
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def registry_repo(tmp_path: Path) -> Path:
    """A new registry: ``git init`` + ``gitreg init`` in a temporary directory."""
    root = tmp_path / "registry"
    init_registry(root)
    return root


@pytest.fixture
def registry(registry_repo: Path) -> Registry:
    return Registry(registry_repo)


@pytest.fixture
def cli(registry_repo: Path) -> Cli:
    """The CLI bound to ``registry_repo`` (``--repo`` is added to every command)."""
    return Cli(registry_repo)


@pytest.fixture
def bare_remote(tmp_path: Path) -> Path:
    """A bare repository standing in for GitHub, seeded with a registry on ``main``."""
    seed = tmp_path / "seed"
    init_registry(seed)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--bare", "-b", "main", str(remote))
    git(seed, "push", str(remote), "main")
    return remote


@pytest.fixture
def clone(bare_remote: Path, tmp_path: Path) -> Path:
    """A clone of ``bare_remote`` where ``churn`` has version 1 (pushed)."""
    path = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare_remote), str(path))
    Registry(path).create_model_version("churn", "s3://churn/1")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The pull-request registry of tests/_pr.py: churn and fraud on ``main``, ``pr`` out."""
    return make_base(tmp_path / "registry")


@pytest.fixture
def gate(repo: Path) -> Cli:
    """The CLI in ``repo``, as a reviewer's ``gitreg validate --base main`` runs it."""
    return Cli(repo)
