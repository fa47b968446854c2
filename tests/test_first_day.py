"""A new user's first day, with only the README (#27).

The README's five-minute tour is run literally, as a shell on a new machine runs it: the
console script on PATH, a HOME whose git has only a name and an e-mail (so a plain ``git
init --bare`` makes HEAD ``master``), no token. Then the user goes on as the README sends
them: a promotion request against the local bare repository that stands in for GitHub
(``forge: none``), a clone and a deployment's ``resolve --remote``, the forge's guide, and
``gitreg init --forge github`` with tests/_forge.py's server on 127.0.0.1 standing in for
GitHub's REST API, first without a token, then with one, up to the merge. Every output of
the day is checked against the first-day traps of #27: none of them may show.
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

from tests import _forge
from tests._helpers import git

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BIN = Path(sys.executable).parent

# What each trap printed; none may appear anywhere on the first day.
TRAPS = (
    "couldn't find remote ref HEAD",  # 1: a bare remote whose HEAD names master
    "listed above",  # 3: validate/audit's second message
    "drop --no-push",  # 5: a flag nobody gave
    "Invalid value for '[",  # 6: the stage's metavar instead of STAGE
    "Traceback",
    "run 'gitreg init",  # a clone that checked out nothing, told to make a new registry
)


def tour_blocks() -> list[str]:
    """The bash blocks of the README's 'A five-minute tour' section, as written."""
    text = README.read_text("utf-8")
    tour = text.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", tour, flags=re.DOTALL)


class Shell:
    """bash on a new user's machine: gitreg on PATH, a fresh HOME, no token, no GITREG_REPO."""

    def __init__(self, tmp_path: Path) -> None:
        if shutil.which("gitreg", path=str(BIN)) is None:
            pytest.skip(f"the gitreg console script is not installed next to {sys.executable}")
        home = tmp_path / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = Ada\n\temail = ada@example.com\n")
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("GIT_", "GITREG_", "GITHUB_", "XDG_"))
        }
        self.env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
        self.env.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
        self.cwd = tmp_path
        self.said: list[str] = []

    def run(
        self, script: str, cwd: Path | None = None, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + script],
            cwd=cwd or self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        self.said += [proc.stdout, proc.stderr]
        if ok:
            assert proc.returncode == 0, f"{script}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def gitreg(
        self, *args: str, cwd: Path | None = None, code: int = 0
    ) -> subprocess.CompletedProcess[str]:
        quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)
        proc = self.run(f"gitreg {quoted}", cwd=cwd, ok=False)
        assert proc.returncode == code, f"gitreg {quoted} -> {proc.returncode}\n{proc.stderr}"
        return proc

    def assert_no_trap(self) -> None:
        everything = "\n".join(self.said)
        for trap in TRAPS:
            assert trap not in everything, f"a first-day trap showed: {trap!r}"


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    return Shell(tmp_path)


def test_the_readme_tour_as_written_then_a_promotion_a_clone_and_a_deployment(shell, tmp_path):
    tour, promotion = tour_blocks()
    # The tour: a working registry.
    done = shell.run(tour)
    assert "runs:/7c1d3b/model\n" in done.stdout
    registry = tmp_path / "registry"
    assert shell.gitreg("validate", cwd=registry).stdout == (
        "gitreg validate: valid; 3 files checked\n"
    )
    # The promotion: a bare repository standing in for GitHub, forge none.
    asked = shell.run(promotion, cwd=registry)
    assert "gitreg/churn/v3-production" in asked.stdout  # transition and requests print it
    remote = tmp_path / "registry.git"
    assert git(remote, "branch", "--list", "gitreg/*").strip() == "gitreg/churn/v3-production"
    requests = json.loads(shell.gitreg("requests", "--json", cwd=registry).stdout)
    [request] = requests["transition_requests"]
    assert (request["name"], request["version"], request["stage"]) == ("churn", 3, "Production")

    # A reviewer merges the request (the forge's merge button, done with git here), and the
    # gate that the workflow runs on the pull request accepts it against main.
    reviewer = tmp_path / "reviewer"
    shell.run(f"git clone -q {remote} {reviewer}")
    shell.run(
        "git fetch -q origin gitreg/churn/v3-production && git checkout -q FETCH_HEAD", cwd=reviewer
    )
    gate = shell.gitreg("validate", "--base", "origin/main", cwd=reviewer)
    assert gate.stdout.splitlines()[-1].startswith("gitreg validate: valid;")
    shell.run(
        "git checkout -q main && git merge -q --no-ff -m 'Promote churn 3 (#1)' FETCH_HEAD"
        " && git push -q origin main",
        cwd=reviewer,
    )
    # A deployment pod reads the remote without a clone, and a new clone reads it too.
    deployed = shell.gitreg("resolve", "models:/churn/Production", "--remote", str(remote))
    assert deployed.stdout == "runs:/9a8b7c/model\n"
    shell.run(f"git clone -q {remote} {tmp_path / 'clone'}")
    cloned = shell.gitreg("resolve", "models:/churn@champion", cwd=tmp_path / "clone")
    assert cloned.stdout == "runs:/7c1d3b/model\n"
    shell.assert_no_trap()


def test_the_tour_with_a_plain_git_init_bare_as_people_type_it(shell, tmp_path):
    """The README says ``git init --bare -b main``; a user who types ``git init --bare``
    (HEAD master, on a git without init.defaultBranch) gets the same day."""
    tour, promotion = tour_blocks()
    assert "git init --bare -b main ../registry.git" in promotion
    shell.run(tour)
    registry = tmp_path / "registry"
    plain = promotion.replace("git init --bare -b main", "git init --bare")
    shell.run(plain, cwd=registry)
    remote = tmp_path / "registry.git"
    assert git(remote, "symbolic-ref", "HEAD").strip() == "refs/heads/master"
    deployed = shell.gitreg(
        "resolve", "models:/churn@champion", "--remote", "../registry.git", cwd=registry
    )
    assert deployed.stdout == "runs:/7c1d3b/model\n"
    # git clone checks nothing out (the remote's HEAD names master); gitreg says what to do.
    shell.run(f"git clone -q {remote} {tmp_path / 'clone'} 2>/dev/null")
    lost = shell.gitreg("models", cwd=tmp_path / "clone", code=2)
    assert "has nothing checked out" in lost.stderr
    assert "checkout main" in lost.stderr
    shell.run("git checkout -q main", cwd=tmp_path / "clone")
    found = shell.gitreg("resolve", "models:/churn@champion", cwd=tmp_path / "clone")
    assert found.stdout == "runs:/7c1d3b/model\n"
    shell.assert_no_trap()


def test_the_readme_leads_to_the_guide_for_each_forge(shell):
    tour = README.read_text("utf-8").split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    for guide in ("docs/guides/github.md", "docs/guides/gitlab.md"):
        assert f"]({guide})" in tour
        page = (ROOT / guide).read_text("utf-8")
        assert "gitreg init" in page
        assert "Without a token" in page or "without a token" in page
    nav = (ROOT / "mkdocs.yml").read_text("utf-8")
    assert "guides/github.md" in nav
    assert "guides/gitlab.md" in nav


def test_the_github_guide_with_a_forge_server_first_without_a_token_then_with_one(shell, tmp_path):
    """As docs/guides/github.md sets a registry up, with tests/_forge.py's server in for
    GitHub's API (``registry.forge.api_url``, as for GitHub Enterprise) and a local bare
    repository in for the repository on GitHub."""
    remote = tmp_path / "registry.git"
    shell.run(f"git init -q --bare {remote}")  # plain: HEAD master
    with _forge.serving() as forge:
        shell.gitreg(
            "init", "my-registry", "--remote", str(remote), "--forge", "github",
            "--repository", "acme/registry", "--owner", "@acme/ml-leads",
        )  # fmt: skip
        work = tmp_path / "my-registry"
        config = work / "gitreg.yaml"
        config.write_text(
            config.read_text().replace(
                "    repository: acme/registry\n",
                f"    repository: acme/registry\n    api_url: {forge.url}\n",
            )
        )
        shell.run(
            "git commit -qam 'Use the GitHub Enterprise API' && git push -q -u origin main",
            cwd=work,
        )
        shell.gitreg("register", "churn", "runs:/4f2e9a/model", "-m", "f1=0.91", cwd=work)

        without = shell.gitreg("transition", "churn", "1", "Production", cwd=work, code=1)
        assert "on branch gitreg/churn/v1-production (pushed to origin)" in without.stderr
        assert "set GITHUB_TOKEN or GITREG_TOKEN" in without.stderr
        listed = shell.gitreg("requests", cwd=work)
        assert "unknown: no token" in listed.stdout

        shell.env["GITHUB_TOKEN"] = _forge.TOKEN
        opened = shell.gitreg("transition", "churn", "1", "Production", cwd=work)
        number = forge.pull_for("gitreg/churn/v1-production")["number"]
        assert opened.stdout == f"https://github.example/acme/registry/pull/{number}\n"
        forge.review(number, "bob", "APPROVED")
        reviewed = shell.gitreg("requests", cwd=work)
        assert "approved by bob" in reviewed.stdout
    shell.run(f"git clone -q {remote} {tmp_path / 'clone'}")
    assert (tmp_path / "clone" / "gitreg.yaml").is_file(), "init pointed the bare HEAD at main"
    shell.assert_no_trap()


def test_a_first_mistake_is_one_clear_line(shell, tmp_path):
    """The mistakes of a first hour, each one line that says what to do."""
    tour, _ = tour_blocks()
    shell.run(tour)
    registry = tmp_path / "registry"
    stage = shell.gitreg("transition", "churn", "1", "Prod", cwd=registry, code=2)
    assert stage.stderr.startswith("Error: Invalid value for 'STAGE': 'Prod' is not a stage;")
    assert "did you mean Production?" in stage.stderr
    shell.gitreg("rename", "churn", "churn-v2", cwd=registry)
    moved = shell.gitreg("show", "churn", cwd=registry, code=1)
    assert "churn was renamed to churn-v2 in" in moved.stderr
    assert moved.stderr.rstrip().endswith("use churn-v2")
    shell.run("sed -i 's/stage: None/stage: Production/' models/churn-v2.yaml", cwd=registry)
    invalid = shell.gitreg("validate", "--json", cwd=registry, code=1)
    assert invalid.stderr == ""
    assert json.loads(invalid.stdout)["valid"] is False
    completion = shell.gitreg("--help").stdout
    assert "_GITREG_COMPLETE=bash_source gitreg" in completion
    for result in (stage, moved):
        assert len(result.stderr.splitlines()) == 1
    shell.assert_no_trap()
