"""``gitreg init``: the files of a new registry repository and its first commit."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from gitreg.core.config import CONFIG_FILE, DEFAULT_CONFIG_TEXT, MODELS_DIR
from gitreg.core.errors import ModelAlreadyExists
from gitreg.core.version import __version__
from gitreg.store.store import Store, ensure_repository
from gitreg.store.transaction import Transaction

WORKFLOW_FILE = ".github/workflows/gitreg.yml"
ACTION_REPOSITORY = "gitreg-dev/gitreg"

# Delivery of events (issue 13): each push to the default branch sends its events to the
# subscriptions in gitreg.yaml; a request branch's pull request announces the transition it
# proposes. Secrets reach gitreg only through env: from the repository's secrets.
NOTIFY_JOBS = f"""
  notify:
    name: notify subscribers
    if: >-
      github.event_name == 'push' &&
      github.ref == format('refs/heads/{{0}}', github.event.repository.default_branch)
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0
        with:
          # The events are computed commit by commit from the push's first commit.
          fetch-depth: 0
          persist-credentials: false
      - name: Install gitreg
        run: |
          python3 -m venv "$RUNNER_TEMP/gitreg"
          "$RUNNER_TEMP/gitreg/bin/pip" install --quiet --disable-pip-version-check \\
            "gitreg=={__version__}"
      - name: Deliver this push's events
        env:
          BEFORE: ${{{{ github.event.before }}}}
          # Export every variable gitreg.yaml names (secret_env, url_env, token_env,
          # smtp *_env) from a repository secret of the same name, e.g.:
          # DEPLOY_HOOK_SECRET: ${{{{ secrets.DEPLOY_HOOK_SECRET }}}}
          # SLACK_WEBHOOK_URL: ${{{{ secrets.SLACK_WEBHOOK_URL }}}}
        run: |
          if [ -z "${{BEFORE//0/}}" ]; then
            echo "::notice::A new branch has no earlier tip to compare with; nothing to deliver."
            exit 0
          fi
          if ! git cat-file -e "$BEFORE^{{commit}}" 2>/dev/null; then
            echo "::warning::$BEFORE is not in this clone (a force push?); nothing delivered."
            exit 0
          fi
          "$RUNNER_TEMP/gitreg/bin/gitreg" notify --since "$BEFORE"

  notify-request:
    name: announce transition request
    if: >-
      github.event_name == 'pull_request' && github.event.action == 'opened' &&
      startsWith(github.head_ref, 'gitreg/') &&
      github.event.pull_request.head.repo.full_name == github.repository
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0
        with:
          fetch-depth: 0
          persist-credentials: false
      - name: Install gitreg
        run: |
          python3 -m venv "$RUNNER_TEMP/gitreg"
          "$RUNNER_TEMP/gitreg/bin/pip" install --quiet --disable-pip-version-check \\
            "gitreg=={__version__}"
      - name: Deliver TRANSITION_REQUEST_CREATED
        env:
          BASE_SHA: ${{{{ github.event.pull_request.base.sha }}}}
          HEAD_SHA: ${{{{ github.event.pull_request.head.sha }}}}
          NUMBER: ${{{{ github.event.pull_request.number }}}}
          # The same secrets as the notify job, e.g.:
          # DEPLOY_HOOK_SECRET: ${{{{ secrets.DEPLOY_HOOK_SECRET }}}}
        run: |
          "$RUNNER_TEMP/gitreg/bin/gitreg" notify --request "$HEAD_SHA" --base "$BASE_SHA" \\
            --pull-request "$NUMBER"
"""

# The registry's catalog on GitHub Pages (gitreg site, #14): optional, so the workflow carries
# it commented out. Uncommenting it (one "# " off each line) gives PAGES_JOBS;
# `enable_pages` does exactly that, for the linters and the tests. The official
# Pages actions are pinned to the commits of their releases (configure-pages v5.0.0,
# upload-pages-artifact v5.0.0, deploy-pages v5.0.0); only the deploy job may write Pages.
PAGES_JOBS = """\
  site:
    name: build the catalog
    if: >-
      github.event_name == 'push' &&
      github.ref == format('refs/heads/{0}', github.event.repository.default_branch)
    runs-on: ubuntu-latest
    timeout-minutes: 20
    permissions:
      contents: read
      pull-requests: read  # the catalog lists open promotion requests
    steps:
      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0
        with:
          fetch-depth: 0
          persist-credentials: false
      - uses: actions/configure-pages@983d7736d9b0ae728b81ab479565c72886d7745b # v5.0.0
      - name: Build the catalog
        env:
          GITHUB_TOKEN: ${{ github.token }}
        run: |
          python3 -m venv "$RUNNER_TEMP/gitreg"
          "$RUNNER_TEMP/gitreg/bin/pip" install --quiet --disable-pip-version-check \\
            "gitreg==@VERSION@"
          "$RUNNER_TEMP/gitreg/bin/gitreg" site "$RUNNER_TEMP/site"
      - uses: actions/upload-pages-artifact@fc324d3547104276b827a68afc52ff2a11cc49c9 # v5.0.0
        with:
          path: ${{ runner.temp }}/site

  deploy:
    name: publish the catalog
    needs: site
    runs-on: ubuntu-latest
    timeout-minutes: 10
    permissions:
      pages: write  # publish the catalog
      id-token: write  # prove to Pages that this workflow made the deployment
    environment:
      name: github-pages
      url: ${{ steps.deployment.outputs.page_url }}
    concurrency:
      group: pages
      cancel-in-progress: false
    steps:
      - id: deployment
        uses: actions/deploy-pages@cd2ce8fcbc39b97be8ca5fce6e763baed58fa128 # v5.0.0
""".replace("@VERSION@", __version__)  # the gitreg that wrote the workflow, as the notify job


def _commented(block: str) -> str:
    """``block`` commented out at its indentation, as an editor does (``# `` on each line)."""
    lines = block.splitlines()
    indent = min(len(line) - len(line.lstrip(" ")) for line in lines if line.strip())
    out = [f"{line[:indent]}# {line[indent:]}" if line.strip() else "" for line in lines]
    return "\n".join(out) + "\n"


def enable_pages(text: str) -> str:
    """The workflow ``text`` with its GitHub Pages trigger and jobs uncommented."""
    return text.replace(_commented(PAGES_JOBS), PAGES_JOBS)


WORKFLOW_TEXT = f"""\
# Validates every pull request against the base branch's gitreg.yaml policy (written by
# gitreg init). Findings appear as annotations on the diff and in the job summary.
name: gitreg

on:
  pull_request:
  # Pushes to the default branch deliver their events (the notify job; see #13).
  push:

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
      # Pin to a commit for supply-chain safety (zizmor's unpinned-uses); @v1 follows releases.
      - uses: {ACTION_REPOSITORY}/.github/actions/validate@v1
{NOTIFY_JOBS}
  # The catalog of this registry (gitreg site: every model, its versions, who promoted what
  # and when), built on each push to the default branch and published with GitHub Pages. To
  # turn it on, set Settings > Pages > Source to "GitHub Actions", then uncomment these two
  # jobs (remove one "# " from each line). Only the deploy job can write to Pages.
{_commented(PAGES_JOBS)}"""

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
    """
    root = Path(path)
    if (root / CONFIG_FILE).exists():
        raise ModelAlreadyExists(
            f"{root / CONFIG_FILE} already exists: {root} is already a gitreg registry"
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
        Store(root, new=True).transaction(mutation)
    return Store(root)


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
