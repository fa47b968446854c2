"""``gitreg init``: the files of a new registry repository and its first commit."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from gitreg.core.config import CONFIG_FILE, DEFAULT_CONFIG_TEXT, MODELS_DIR
from gitreg.core.errors import InvalidParameter, ModelAlreadyExists
from gitreg.core.version import __version__
from gitreg.store.store import Store, ensure_repository
from gitreg.store.transaction import Transaction

WORKFLOW_FILE = ".github/workflows/gitreg.yml"
ACTION_REPOSITORY = "gitreg-dev/gitreg"
# Every release is tagged v<version>: the workflow names the release that wrote it (#16).
ACTION_REF = f"v{__version__}"

WORKFLOW_TEXT = f"""\
# Validates every pull request against the base branch's gitreg.yaml policy (written by
# gitreg init). Findings appear as annotations on the diff and in the job summary.
name: gitreg

on:
  pull_request:

permissions:
  contents: read

jobs:
  validate:
    name: validate registry
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0
        with:
          # The merge base with the pull request's base branch needs the history.
          fetch-depth: 0
          persist-credentials: false
      # The release of gitreg that wrote this file (releases are tagged v<version>). For
      # supply-chain safety, pin the tag's commit instead: @<commit sha> # {ACTION_REF}
      # (docs/validate.md in {ACTION_REPOSITORY}, "Pinning the action and the hook").
      - uses: {ACTION_REPOSITORY}/.github/actions/validate@{ACTION_REF}
"""

README_TEXT = f"""\
# Model registry

This repository is a [gitreg](https://github.com/{ACTION_REPOSITORY}) model registry: one
manifest per registered model in `models/`, the policy in `gitreg.yaml`. Change it with the
`gitreg` CLI or the Python API; promotions to protected stages arrive as pull requests.
"""


def init_registry(path: str | os.PathLike[str], branch: str = "main") -> Store:
    """Create a registry at ``path`` (a new or existing git repository) with one commit.

    Raises:
        ModelAlreadyExists: ``path`` already holds a gitreg.yaml.
        InvalidParameter: ``path`` holds files but is not a git repository (#16).
    """
    root = Path(path)
    if (root / CONFIG_FILE).exists():
        raise ModelAlreadyExists(
            f"{root / CONFIG_FILE} already exists: {root} is already a gitreg registry"
        )
    if root.is_dir() and not (root / ".git").exists() and any(root.iterdir()):
        raise InvalidParameter(
            f"{root} is not empty and not a git repository; a registry is a new or empty "
            f"directory, or a git repository (run git init {root} first to make this one)"
        )
    files = {
        CONFIG_FILE: DEFAULT_CONFIG_TEXT,
        f"{MODELS_DIR}/.gitkeep": "",
        WORKFLOW_FILE: WORKFLOW_TEXT,
    }
    if not (root / "README.md").exists():
        files["README.md"] = README_TEXT
    for name in files:
        if (root / name).exists():
            raise ModelAlreadyExists(f"{root / name} already exists; move it away and retry")

    def mutation(tx: Transaction) -> None:
        for name, text in files.items():
            tx.write(name, text)
        tx.message = "Initialize gitreg registry"

    with _undo_on_failure(root):
        root.mkdir(parents=True, exist_ok=True)
        ensure_repository(root, branch)
        first = Store(root, new=True)
        first.transaction(mutation)
    store = Store(root)
    store.last_commit = first.last_commit
    return store


@contextlib.contextmanager
def _undo_on_failure(root: Path) -> Iterator[None]:
    """Remove what init created (the directory, or the .git it added) if init fails."""
    created_dir = not root.exists()
    created_git = not (root / ".git").exists()
    try:
        yield
    except BaseException:
        if created_dir:
            shutil.rmtree(root, ignore_errors=True)
        elif created_git:
            shutil.rmtree(root / ".git", ignore_errors=True)
        raise
