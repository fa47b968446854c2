"""The `.gitlab-ci.yml` gitreg init writes, its audit job run as GitLab runs it (#22).

A bare repository stands in for the GitLab project; each pipeline is a fresh clone checked
out at the pushed commit, as a runner's is, with GitLab's variables for the push
(``CI_COMMIT_BEFORE_SHA``, ``CI_COMMIT_SHA``). The job's script lines run in bash as the
runner runs them, gitreg standing where the job's ``before_script`` installs it. Pushing
``refs/gitreg/verified`` to the bare remote stands in for the job token's push ("Allow Git
push requests to the repository"); a pre-receive hook stands in for that setting turned off.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from gitreg import Registry
from gitreg.gate.scaffold import Setup, init_registry
from tests._helpers import git, head

ZERO = "0" * 40
VERIFIED = "refs/gitreg/verified"
GITREG = "/tmp/gitreg/bin/gitreg"  # where the job's before_script installs gitreg


def _job(root: Path, name: str) -> dict:
    return yaml.safe_load((root / ".gitlab-ci.yml").read_text())[name]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A registry made by ``gitreg init --forge gitlab``, churn v1 registered, on a bare
    remote standing in for the GitLab project."""
    seed = tmp_path / "seed"
    init_registry(seed, setup=Setup(forge="gitlab"))
    Registry(seed).create_model_version("churn", "s3://churn/1")
    bare = tmp_path / "project.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(seed, "push", "-q", str(bare), "main")
    return bare


def pipeline(project: Path, before: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """One push pipeline's gitreg-audit job: a runner's clone at the pushed commit, the
    job's script run line after line (a failing line fails the job)."""
    sha = git(project, "rev-parse", "main").strip()
    runner = tmp_path / f"runner-{sha[:12]}-{before[:12]}"
    git(tmp_path, "clone", "-q", str(project), str(runner))
    git(runner, "checkout", "-q", "--detach", sha)
    script = _job(runner, "gitreg-audit")["script"]
    gitreg = str(Path(sys.executable).parent / "gitreg")
    assert all(GITREG in line for line in script if "gitreg audit" in line)
    text = "\n".join(line.replace(GITREG, gitreg) for line in script)
    env = {**os.environ, "CI": "true", "CI_COMMIT_BEFORE_SHA": before, "CI_COMMIT_SHA": sha}
    return subprocess.run(
        ["bash", "-e", "-c", text], cwd=runner, env=env, capture_output=True, text=True
    )


def verified(project: Path) -> str | None:
    return git(project, "for-each-ref", "--format=%(objectname)", VERIFIED).strip() or None


def direct_push(project: Path, tmp_path: Path, change: Callable[[Path], object]) -> str:
    """A maintainer's clone makes ``change`` and pushes it to main; the pushed commit."""
    work = tmp_path / "work"
    if not work.exists():
        git(tmp_path, "clone", "-q", str(project), str(work))
    git(work, "pull", "-q", "--ff-only")
    change(work)
    git(work, "push", "-q", "origin", "HEAD:main")
    return head(work)


def register(source: str) -> Callable[[Path], object]:
    return lambda work: Registry(work).create_model_version("churn", source)


def to_production(work: Path) -> None:
    """A stage change to Production committed by hand: a protected change no merge request
    brought."""
    manifest = work / "models" / "churn.yaml"
    text = manifest.read_text()
    assert "stage: None" in text
    manifest.write_text(text.replace("stage: None", "stage: Production", 1))
    git(work, "commit", "-qam", "Promote churn v1")


def test_the_audit_job_is_one_at_a_time_and_records_the_verified_tip(project, tmp_path):
    job = _job(tmp_path / "seed", "gitreg-audit")
    assert job["resource_group"] == "gitreg-verified"
    assert job["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'}
    ]
    assert any("--record" in line for line in job["script"])


def test_each_push_is_judged_from_the_verified_tip_which_only_a_clean_audit_moves(
    project, tmp_path
):
    """The first pipeline (a new branch: before is all zeros) judges the whole history and
    records the first verified tip; a clean push moves it; a direct push to Production
    fails its pipeline and keeps the tip; a later clean push still fails, judged from the
    tip, so no push skips the one before it."""
    first = git(project, "rev-parse", "main").strip()
    job = pipeline(project, ZERO, tmp_path)
    assert job.returncode == 0, job.stdout + job.stderr
    assert verified(project) == first

    clean = direct_push(project, tmp_path, register("s3://churn/2"))
    job = pipeline(project, first, tmp_path)
    assert job.returncode == 0, job.stdout + job.stderr
    assert verified(project) == clean

    promoted = direct_push(project, tmp_path, to_production)
    job = pipeline(project, clean, tmp_path)
    assert job.returncode == 1, job.stdout + job.stderr
    assert promoted[:12] in job.stdout
    assert verified(project) == clean

    later = direct_push(project, tmp_path, register("s3://churn/3"))
    job = pipeline(project, promoted, tmp_path)
    assert job.returncode == 1, "judged from the verified tip, not from the push's before"
    assert promoted[:12] in job.stdout
    assert verified(project) == clean
    assert git(project, "rev-parse", "main").strip() == later, "recording moved no branch"


def test_a_before_the_runner_does_not_have_is_judged_from_the_verified_tip(project, tmp_path):
    """A force push's before is no commit of the runner's clone: the job does not fail on
    it, it judges from the verified tip."""
    first = git(project, "rev-parse", "main").strip()
    assert pipeline(project, ZERO, tmp_path).returncode == 0
    clean = direct_push(project, tmp_path, register("s3://churn/2"))
    job = pipeline(project, "1" * 40, tmp_path)
    assert job.returncode == 0, job.stdout + job.stderr
    assert verified(project) == clean != first


def test_without_push_rights_the_job_fails_saying_it_could_not_record(project, tmp_path):
    """The project has not allowed the job token to push: the audit's verdict is printed,
    the job fails with one line saying why, and the remote holds no verified tip."""
    hook = project / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'You are not allowed to upload code.' >&2\nexit 1\n")
    hook.chmod(0o755)

    job = pipeline(project, ZERO, tmp_path)

    assert job.returncode == 1
    assert "Traceback" not in job.stderr
    assert "not recorded" in job.stdout + job.stderr
    assert verified(project) is None
