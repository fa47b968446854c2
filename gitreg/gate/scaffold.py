"""``gitreg init``: the files of a new registry repository and its first commit."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from gitreg.core.config import CONFIG_FILE, DEFAULT_CONFIG_TEXT, MODELS_DIR
from gitreg.core.errors import InvalidParameter, ModelAlreadyExists
from gitreg.gate import workflow
from gitreg.gate.workflow import ACTION_REPOSITORY, WORKFLOW_FILE
from gitreg.store.store import Store, add_remote, ensure_repository, repository_head
from gitreg.store.transaction import Transaction

__all__ = [
    "ACTION_REPOSITORY",
    "WORKFLOW_FILE",
    "WORKFLOW_TEXT",
    "Setup",
    "enable_pages",
    "init_registry",
]

# Delivery of events (issue 13): each push to the default branch sends its events to the
# subscriptions in gitreg.yaml; a request branch's pull request announces the transition it
# proposes. Secrets reach gitreg only through env: from the repository's secrets. `notify`
# audits the push itself (#22): what the audit flags goes out as POLICY_VIOLATION, never as a
# transition, and the endpoints and secret variables are those of the gitreg.yaml the audit
# trusts, never one a push slipped in; so it runs after the audit job whatever its verdict.
NOTIFY_JOBS = """
  notify:
    name: notify subscribers
    needs: audit  # after the verified tip is recorded, whatever the audit found
    if: >-
      always() && needs.audit.result != 'cancelled' &&
      github.event_name == 'push' &&
      github.ref == format('refs/heads/{0}', github.event.repository.default_branch)
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions:
      contents: read
      pull-requests: read  # the audit that vets the events asks which pull request merged
    steps:
      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0
        with:
          # The events are computed commit by commit from the push's first commit.
          fetch-depth: 0
          persist-credentials: false
@FETCH_APPROVALS@@INSTALL@      - name: Deliver this push's events
        env:
          BEFORE: ${{ github.event.before }}
          GITHUB_TOKEN: ${{ github.token }}
          # Export every variable gitreg.yaml names (secret_env, url_env, token_env,
          # smtp *_env) from a repository secret of the same name, e.g.:
          # DEPLOY_HOOK_SECRET: ${{ secrets.DEPLOY_HOOK_SECRET }}
          # SLACK_WEBHOOK_URL: ${{ secrets.SLACK_WEBHOOK_URL }}
        run: |
          if [ -z "${BEFORE//0/}" ]; then
            echo "::notice::A new branch has no earlier tip to compare with; nothing to deliver."
            exit 0
          fi
          if ! git cat-file -e "$BEFORE^{commit}" 2>/dev/null; then
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
@INSTALL@      - name: Deliver TRANSITION_REQUEST_CREATED
        env:
          BASE_SHA: ${{ github.event.pull_request.base.sha }}
          HEAD_SHA: ${{ github.event.pull_request.head.sha }}
          NUMBER: ${{ github.event.pull_request.number }}
          # The same secrets as the notify job, e.g.:
          # DEPLOY_HOOK_SECRET: ${{ secrets.DEPLOY_HOOK_SECRET }}
        run: |
          "$RUNNER_TEMP/gitreg/bin/gitreg" notify --request "$HEAD_SHA" --base "$BASE_SHA" \\
            --pull-request "$NUMBER"
"""

# The registry's catalog on GitHub Pages (gitreg site, #14): optional, so the workflow carries
# it commented out. Uncommenting it (one "# " off each line) gives PAGES_JOBS;
# `enable_pages` does exactly that, for the linters and the tests. The official
# Pages actions are pinned to the commits of their releases (configure-pages v5.0.0,
# upload-pages-artifact v5.0.0, deploy-pages v5.0.0); only the deploy job may write Pages.
_PAGES_TEMPLATE = """\
  site:
    name: build the catalog
    # After the audit recorded who approved this push's changes, whatever it found: the
    # catalog marks what the audit has not accepted.
    needs: audit
    if: >-
      !cancelled() && github.event_name == 'push' &&
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
@FETCH_APPROVALS@@INSTALL@      - name: Build the catalog
        env:
          GITHUB_TOKEN: ${{ github.token }}
        run: |
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
"""


def _commented(block: str) -> str:
    """``block`` commented out at its indentation, as an editor does (``# `` on each line)."""
    lines = block.splitlines()
    indent = min(len(line) - len(line.lstrip(" ")) for line in lines if line.strip())
    out = [f"{line[:indent]}# {line[indent:]}" if line.strip() else "" for line in lines]
    return "\n".join(out) + "\n"


def enable_pages(text: str) -> str:
    """The workflow ``text`` with its GitHub Pages trigger and jobs uncommented."""
    block = _fill(_PAGES_TEMPLATE, _install_in(text))
    return text.replace(_commented(block), block)


def _install_in(text: str) -> str:
    """The install step ``text`` uses (to find the commented Pages jobs that contain it)."""
    start = text.index("      - name: Install gitreg\n")
    end = text.index("\n      - ", start + 1) + 1
    return text[start:end]


def workflow_text(commit: str | None) -> str:
    """The workflow ``gitreg init`` writes, installing gitreg from ``commit`` in each job."""
    install = workflow.install_step(commit)
    return (
        _HEADER
        + workflow.github_jobs(commit)
        + _fill(NOTIFY_JOBS, install)
        + _PAGES_NOTE
        + _commented(_fill(_PAGES_TEMPLATE, install))
    )


def _fill(text: str, install: str) -> str:
    return text.replace("@INSTALL@", install).replace(
        "@FETCH_APPROVALS@", workflow.fetch_approvals_step()
    )


_HEADER = """\
# gitreg's checks (written by gitreg init): every pull request is validated against the
# base branch's gitreg.yaml policy (again after each review, for policy.approvals); every
# push to the default branch is audited from the verified tip (a direct push is judged
# too), a clean audit records refs/gitreg/verified and who approved, and the push's events
# are delivered. Findings appear as annotations.
name: gitreg

on:
  pull_request:
  # Validate again when a review is submitted or dismissed: policy.approvals counts them.
  pull_request_review:
    types: [submitted, dismissed]
  push:

permissions:
  contents: read

jobs:
"""

_PAGES_NOTE = """
  # The catalog of this registry (gitreg site: every model, its versions, who promoted what
  # and when), built on each push to the default branch and published with GitHub Pages. To
  # turn it on, set Settings > Pages > Source to "GitHub Actions", then uncomment these two
  # jobs (remove one "# " from each line). Only the deploy job can write to Pages.
"""

# The commit of the gitreg that writes the workflow, when it runs from a git checkout (CI
# jobs then install exactly that); a release's wheel falls back to its version's tag.
_SOURCE_COMMIT = repository_head(Path(__file__).resolve().parents[2])
WORKFLOW_TEXT = workflow_text(_SOURCE_COMMIT)
# The optional Pages jobs as WORKFLOW_TEXT carries them (commented out there).
PAGES_JOBS = _fill(_PAGES_TEMPLATE, workflow.install_step(_SOURCE_COMMIT))


README_TEXT = f"""\
# Model registry

This repository is a [gitreg](https://github.com/{ACTION_REPOSITORY}) model registry: one
manifest per registered model in `models/`, the policy in `gitreg.yaml`. Change it with the
`gitreg` CLI or the Python API; promotions to protected stages arrive as pull requests.
"""


GITIGNORE_FILE = ".gitignore"
# Only what gitreg itself makes in a registry (#27): the catalog's usual directory
# (`gitreg site _site`) and MLflow's default stores (mlflow.db, mlruns/), which MLflow
# creates in the current directory when no tracking URI is set.
GITIGNORE_LINES = ("_site/", "mlflow.db", "mlruns/")
_GITIGNORE_HEADER = (
    "# Written by gitreg init: what gitreg and MLflow may create here, never part of the\n"
    "# registry (the catalog built by `gitreg site _site`, MLflow's default stores).\n"
)


def gitignore_text(existing: str | None) -> str | None:
    """The .gitignore init writes: new, or ``existing`` plus the lines it lacks (None: none)."""
    have = {line.strip() for line in (existing or "").splitlines()}
    missing = [line for line in GITIGNORE_LINES if line not in have]
    if not missing:
        return None
    block = _GITIGNORE_HEADER + "".join(f"{line}\n" for line in missing)
    if not existing:
        return block
    return existing + ("\n" if existing.endswith("\n") else "\n\n") + block


def _existing_gitignore(root: Path) -> str | None:
    path = root / GITIGNORE_FILE
    if not path.exists() and not path.is_symlink():
        return None
    if path.is_symlink() or not path.is_file():
        raise InvalidParameter(f"{path} is not a regular file; replace it with the file itself")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameter(
            f"{path} is not UTF-8 text; add these lines to it yourself and retry: "
            + ", ".join(GITIGNORE_LINES)
        ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class Setup:
    """Where a new registry lives and who reviews it (``gitreg init``'s options)."""

    remote: str | None = None  # the URL of the registry's remote (added as origin)
    forge: str = "none"  # none | github | gitlab
    repository: str | None = None  # owner/name on the forge
    owners: tuple[str, ...] = ()  # code owners of gitreg.yaml and the CI files
    gitreg_commit: str | None = None  # the gitreg commit CI jobs install (default: this one)


def registry_files(setup: Setup) -> dict[str, str]:
    """The files of a new registry for ``setup``: policy, CI, code owners, models/."""
    config = DEFAULT_CONFIG_TEXT
    if setup.forge != "none":
        forge = f"    type: {setup.forge}\n"
        if setup.repository:
            forge += f"    repository: {setup.repository}\n"
        config = config.replace("    type: none\n", forge)
    commit = setup.gitreg_commit or _SOURCE_COMMIT
    owners = list(setup.owners)
    if not owners and setup.forge == "github" and setup.repository:
        owners = [f"@{setup.repository.split('/', 1)[0]}"]
    files = {CONFIG_FILE: config, f"{MODELS_DIR}/.gitkeep": ""}
    if setup.forge == "gitlab":
        files[workflow.GITLAB_FILE] = workflow.gitlab_ci(commit)
        files[workflow.CODEOWNERS_FILE["gitlab"]] = workflow.codeowners(owners)
    else:
        files[WORKFLOW_FILE] = workflow_text(commit)
        files[workflow.CODEOWNERS_FILE["github"]] = workflow.codeowners(owners)
    return files


def init_registry(
    path: str | os.PathLike[str], branch: str = "main", setup: Setup | None = None
) -> Store:
    """Create a registry at ``path`` (a new or existing git repository) with one commit.

    With ``setup``: the forge in gitreg.yaml, code owners, and the remote as ``origin``
    with ``branch`` tracking it (so that writes push).

    Raises:
        ModelAlreadyExists: ``path`` already holds a gitreg.yaml, or a file init writes.
        InvalidParameter: ``path`` holds files but is not a git repository (#16).
    """
    setup = setup or Setup()
    if setup.forge not in ("none", "github", "gitlab"):
        raise InvalidParameter(f"Invalid forge {setup.forge!r}: use none, github or gitlab")
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
    files = _files_in(root, setup)

    def mutation(tx: Transaction) -> None:
        for name, text in files.items():
            tx.write(name, text)
        tx.message = "Initialize gitreg registry"

    with _undo_on_failure(root):
        root.mkdir(parents=True, exist_ok=True)
        ensure_repository(root, branch)
        first = Store(root, new=True)
        first.transaction(mutation)
        if setup.remote:
            add_remote(root, "origin", setup.remote, branch)
    store = Store(root)
    store.last_commit = first.last_commit
    return store


def _files_in(root: Path, setup: Setup) -> dict[str, str]:
    """What init writes at ``root``: never over a file that is there, except .gitignore."""
    files = registry_files(setup)
    if not (root / "README.md").exists():
        files["README.md"] = README_TEXT
    for name in files:
        if (root / name).exists():
            raise ModelAlreadyExists(f"{root / name} already exists; move it away and retry")
    # A repository's own .gitignore is kept, and gets only the lines it lacks (#27).
    ignored = gitignore_text(_existing_gitignore(root))
    if ignored is not None:
        files[GITIGNORE_FILE] = ignored
    return files


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
