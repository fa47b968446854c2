"""The CI files ``gitreg init`` writes, so that the forge runs the gate (DESIGN.md, layer 4).

GitHub: ``.github/workflows/gitreg.yml`` validates every pull request against its base's
policy, audits every push to the default branch (a direct push is judged too) from the
verified tip and records the new one (#22: the only job that may write, and only that ref),
delivers the push's events once the audit is clean, announces new requests, and optionally
builds the catalog on Pages.
GitLab: ``.gitlab-ci.yml`` with the same validate and audit jobs (the audit records the
verified tip with the job's token, one job at a time). Both follow GitHub's
hardening advice: least ``permissions``, event data only through ``env:``, every job
bounded by ``timeout-minutes``, every action pinned by commit. gitreg itself is installed in
each job from the commit of gitreg that wrote the file (``gitreg_requirement``), or from a
repository variable ``GITREG_REQUIREMENT`` (a mirror, a wheel, a pinned version).
"""

from __future__ import annotations

from gitreg.core.version import __version__

WORKFLOW_FILE = ".github/workflows/gitreg.yml"
GITLAB_FILE = ".gitlab-ci.yml"
ACTION_REPOSITORY = "gitreg-dev/gitreg"
CHECKOUT = "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0"


def gitreg_requirement(commit: str | None) -> str:
    """The pip requirement a job installs: gitreg at ``commit`` (else this version's tag)."""
    ref = commit or f"v{__version__}"
    return f"git+https://github.com/{ACTION_REPOSITORY}@{ref}"


_INSTALL = """\
      - name: Install gitreg
        env:
          # A repository variable GITREG_REQUIREMENT may name another source (a mirror, a
          # wheel); the default is gitreg at the commit that wrote this workflow.
          GITREG_REQUIREMENT: ${{ vars.GITREG_REQUIREMENT }}
        run: |
          python3 -m venv "$RUNNER_TEMP/gitreg"
          "$RUNNER_TEMP/gitreg/bin/pip" install --quiet --disable-pip-version-check -- \\
            "${GITREG_REQUIREMENT:-@REQUIREMENT@}"
"""

_ON_DEFAULT_BRANCH = """\
    if: >-
      github.event_name == 'push' &&
      github.ref == format('refs/heads/{0}', github.event.repository.default_branch)
"""

# A step that brings who approved what (git notes the audit records, #24) into the job's
# clone, with the job's token in this step only (the checkout keeps no credentials).
_FETCH_APPROVALS = """\
      - name: Fetch who approved what (recorded by the audit)
        env:
          GITHUB_TOKEN: ${{ github.token }}
        run: |
          basic="$(printf 'x-access-token:%s' "$GITHUB_TOKEN" | base64 -w0)"
          echo "::add-mask::$basic"
          export GIT_CONFIG_COUNT=1
          export GIT_CONFIG_KEY_0="http.$GITHUB_SERVER_URL/.extraheader"
          export GIT_CONFIG_VALUE_0="AUTHORIZATION: basic $basic"
          notes=refs/notes/gitreg/approvals
          git fetch --no-tags --quiet origin "+$notes:$notes" ||
            echo "::notice::No approvals recorded yet (the audit records them on --record)."
"""

_JOBS = (
    """\
  validate:
    name: validate registry
    # Again on each review submitted or dismissed: policy.approvals counts the reviews.
    if: github.event_name == 'pull_request' || github.event_name == 'pull_request_review'
    runs-on: ubuntu-latest
    timeout-minutes: 10
    permissions:
      contents: read
      pull-requests: read  # the pull request and its reviews, for policy.approvals (#24)
    steps:
      - uses: @CHECKOUT@
        with:
          # The merge base with the pull request's base branch needs the history.
          fetch-depth: 0
          persist-credentials: false
@INSTALL@      - name: Validate against the base's policy
        env:
          BASE_REF: ${{ github.event.pull_request.base.ref }}
          NUMBER: ${{ github.event.pull_request.number }}
          GITHUB_TOKEN: ${{ github.token }}
          # A token that may read the organization's teams, for @org/team approvers
          # (optional; without it a team's approval cannot be counted).
          GITREG_MEMBERS_TOKEN: ${{ secrets.GITREG_MEMBERS_TOKEN }}
        run: |
          git fetch --no-tags --quiet origin "+refs/heads/$BASE_REF:refs/remotes/origin/$BASE_REF"
          "$RUNNER_TEMP/gitreg/bin/gitreg" validate --base "origin/$BASE_REF" \\
            --pull-request "$NUMBER" --format github

  audit:
    name: audit pushed commits
"""
    + _ON_DEFAULT_BRANCH
    + """\
    runs-on: ubuntu-latest
    timeout-minutes: 15
    permissions:
      # Only this job writes, and only refs/gitreg/verified (never a branch): the commit a
      # clean audit verified, which deployments can pin (gitreg resolve --verified).
      contents: write
      pull-requests: read  # which pull request a commit came from: the evidence of review
    concurrency:
      group: gitreg-verified  # one audit records the verified tip at a time
      cancel-in-progress: false
    steps:
      - uses: @CHECKOUT@
        with:
          fetch-depth: 0
          persist-credentials: false
@INSTALL@      - name: Judge every commit since the verified tip, then record it
        env:
          BEFORE: ${{ github.event.before }}
          AFTER: ${{ github.sha }}
          GITHUB_TOKEN: ${{ github.token }}
          GITREG_MEMBERS_TOKEN: ${{ secrets.GITREG_MEMBERS_TOKEN }}  # @org/team approvers
        run: |
          # git may fetch and push refs/gitreg/verified with this job's token, in this step
          # only (the checkout keeps no credentials).
          basic="$(printf 'x-access-token:%s' "$GITHUB_TOKEN" | base64 -w0)"
          echo "::add-mask::$basic"
          export GIT_CONFIG_COUNT=1
          export GIT_CONFIG_KEY_0="http.$GITHUB_SERVER_URL/.extraheader"
          export GIT_CONFIG_VALUE_0="AUTHORIZATION: basic $basic"
          since="$BEFORE"
          if [ -z "${since//0/}" ] || ! git cat-file -e "$since^{commit}" 2>/dev/null; then
            since=0000000000000000000000000000000000000000  # a new branch: its whole history
          fi
          # Judged from the verified tip (or earlier): a push cannot skip what came before it.
          # The notify job delivers this push's events, violations as POLICY_VIOLATION.
          "$RUNNER_TEMP/gitreg/bin/gitreg" audit --since "$since" --until "$AFTER" --record \\
            --format github
"""
)


def _fill(text: str, commit: str | None) -> str:
    install = _INSTALL.replace("@REQUIREMENT@", gitreg_requirement(commit))
    return text.replace("@INSTALL@", install).replace("@CHECKOUT@", CHECKOUT)


def fetch_approvals_step() -> str:
    """The step that fetches ``refs/notes/gitreg/approvals`` (for notify and the catalog)."""
    return _FETCH_APPROVALS


def github_jobs(commit: str | None) -> str:
    """The validate and audit jobs, installing gitreg from ``commit``."""
    return _fill(_JOBS, commit)


def install_step(commit: str | None) -> str:
    """The "Install gitreg" step every job uses."""
    return _fill("@INSTALL@", commit)


CODEOWNERS_FILE = {"github": ".github/CODEOWNERS", "gitlab": ".gitlab/CODEOWNERS"}


def codeowners(owners: list[str]) -> str:
    """CODEOWNERS protecting the policy and the CI files (and an example per model)."""
    who = " ".join(owners) if owners else "@OWNER/registry-admins"
    prefix = "" if owners else "# "
    return f"""\
# Who must approve a change (written by gitreg init). With "Require review from Code
# Owners" on the default branch, these paths change only with their owners' approval.
{"# Replace @OWNER/registry-admins with a real user or team, then uncomment." if not owners else ""}
{prefix}/gitreg.yaml {who}
{prefix}/.github/ {who}
{prefix}/.gitlab-ci.yml {who}
{prefix}/.gitlab/ {who}
{prefix}/CODEOWNERS {who}
{prefix}/models/.retired.yaml {who}

# Per-model owners, for example (a model's file is its name, see README "The manifest"):
# /models/churn.yaml @acme/growth-ml
# /models/fraud*.yaml @acme/risk-ml
""".replace("\n\n\n", "\n\n")


GITLAB_CI = """\
# Validates every merge request against the target branch's gitreg.yaml policy and audits
# every push to the default branch (written by gitreg init).
.gitreg:
  image: python:3.12-slim
  timeout: 15 minutes
  variables:
    GIT_DEPTH: 0
  before_script:
    - apt-get update -qq && apt-get install -y -qq git >/dev/null
    - python3 -m venv /tmp/gitreg
    - /tmp/gitreg/bin/pip install --quiet -- "${GITREG_REQUIREMENT:-@REQUIREMENT@}"

gitreg-validate:
  extends: .gitreg
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  script:
    - target="$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    - git fetch --no-tags origin "+refs/heads/$target:refs/remotes/origin/$target"
    # policy.approvals reads the merge request's approvals with GITLAB_TOKEN (a masked
    # CI/CD variable: a project access token with read_api); run the pipeline again
    # after approving, GitLab starts none on an approval.
    - /tmp/gitreg/bin/gitreg validate --base "origin/$target" --pull-request "$CI_MERGE_REQUEST_IID"

# Judges every push to the default branch from the verified tip (or from the push's before,
# whichever is older: a push cannot skip what came before it) and records the new tip,
# refs/gitreg/verified, which deployments can pin (gitreg resolve --verified). It pushes that
# ref, never a branch, with the job's own token: turn on Settings > CI/CD > Job token
# permissions > "Allow Git push requests to the repository" (GitLab 17.2 or later);
# without it the audit still judges the push and the job fails saying it could not record.
gitreg-audit:
  extends: .gitreg
  resource_group: gitreg-verified  # one audit records the verified tip at a time
  rules:
    - if: $CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
  script:
    - since="$CI_COMMIT_BEFORE_SHA"
    - if [ -z "${since//0/}" ] || ! git cat-file -e "$since^{commit}" 2>/dev/null; then
        since=0000000000000000000000000000000000000000; fi
    - /tmp/gitreg/bin/gitreg audit --since "$since" --until "$CI_COMMIT_SHA" --record
"""


def gitlab_ci(commit: str | None) -> str:
    """``.gitlab-ci.yml``, installing gitreg from ``commit``."""
    return GITLAB_CI.replace("@REQUIREMENT@", gitreg_requirement(commit))
