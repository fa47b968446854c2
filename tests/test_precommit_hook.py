"""The ``gitreg-validate`` pre-commit hook, run with ``pre-commit try-repo`` (issue #4)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests._helpers import git
from tests._pr import edit, make_base

PROJECT = Path(__file__).resolve().parent.parent
HOOKS = PROJECT / ".pre-commit-hooks.yaml"
PRE_COMMIT = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")


def test_the_hook_is_declared():
    [hook] = yaml.safe_load(HOOKS.read_text())
    assert hook["id"] == "gitreg-validate"
    assert hook["entry"] == "gitreg validate"
    assert hook["language"] == "python"


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory):
    """A git repository of this project's working files, as pre-commit clones hook repos."""
    target = tmp_path_factory.mktemp("hook-repo") / "gitreg"
    ignore = shutil.ignore_patterns(
        ".git", ".venv*", ".*_cache", "build", "dist", "*.egg-info", "__pycache__", ".work"
    )
    shutil.copytree(PROJECT, target, ignore=ignore)
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "gitreg working files")
    return target


@pytest.mark.slow
@pytest.mark.skipif(not Path(PRE_COMMIT).exists(), reason="pre-commit is not installed")
def test_try_repo_refuses_a_broken_manifest_and_passes_a_fixed_one(tmp_path, hook_repo):
    repo = make_base(tmp_path / "registry")
    edit(repo, "models/churn.yaml", "    stage: Staging\n", "    stage: Production\n")
    git(repo, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "PIP_CACHE_DIR": PIP_CACHE}

    def try_repo():
        return subprocess.run(
            [PRE_COMMIT, "try-repo", str(hook_repo), "gitreg-validate"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    refused = try_repo()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "models/churn.yaml:21: MULTIPLE_PRODUCTION" in refused.stdout

    edit(repo, "models/churn.yaml", "    stage: Production\n", "    stage: Archived\n")
    git(repo, "add", "-A")
    accepted = try_repo()
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "gitreg validate" in accepted.stdout
    assert "Passed" in accepted.stdout
