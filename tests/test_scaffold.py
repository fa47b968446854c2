"""gitreg init on a machine as it comes: no git identity, an existing repository, a failure."""

from __future__ import annotations

import re

import pytest
import yaml

from gitreg.core.errors import GitFailed, ModelAlreadyExists
from gitreg.gate.scaffold import WORKFLOW_FILE, Setup, enable_pages, init_registry
from tests._helpers import Cli, git, log_subjects


@pytest.fixture
def no_identity(monkeypatch, tmp_path):
    """A fresh machine: no user.name/user.email anywhere git looks."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("EMAIL", "")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)


def test_init_without_a_git_identity_says_how_to_fix_it_and_leaves_nothing(no_identity, tmp_path):
    target = tmp_path / "registry"
    result = Cli().fails(1, "init", str(target))
    assert "git config --global user.name" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not target.exists()


def test_init_in_an_existing_directory_without_identity_removes_only_its_own_git(
    no_identity, tmp_path
):
    target = tmp_path / "existing"
    target.mkdir()
    with pytest.raises(GitFailed):
        init_registry(target)
    assert target.is_dir()
    assert list(target.iterdir()) == []


def test_init_refuses_a_non_empty_directory_that_is_not_a_git_repository(tmp_path):
    """As its help says (#16): it would have made a repository of someone's files."""
    target = tmp_path / "project"
    target.mkdir()
    (target / "notes.txt").write_text("keep me\n")
    result = Cli().fails(1, "init", str(target))
    assert "is not empty and not a git repository" in result.stderr
    assert f"git init {target}" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    git(target, "init", "-q", "-b", "main")  # the way out the message gives
    Cli().ok("init", str(target))
    assert (target / "gitreg.yaml").is_file()


def test_init_turns_an_existing_repository_into_a_registry(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print('hi')\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-qm", "Training code")
    init_registry(repo)
    assert log_subjects(repo) == ["Initialize gitreg registry", "Training code"]
    assert (repo / "gitreg.yaml").is_file()
    with pytest.raises(ModelAlreadyExists):
        init_registry(repo)


COMMIT = "c0ffee" + "0" * 34  # the gitreg commit a team pinned its CI to


def test_pages_jobs_of_a_written_workflow_turn_on_with_the_gitreg_it_pins(tmp_path):
    """enable_pages uncomments the catalog jobs, installing the gitreg the file already installs.

    A workflow written for another gitreg commit keeps that commit in its Pages jobs too, and
    nothing else in the file changes.
    """
    root = tmp_path / "registry"
    init_registry(root, setup=Setup(forge="github", repository="acme/models", gitreg_commit=COMMIT))
    text = (root / WORKFLOW_FILE).read_text()

    enabled = enable_pages(text)

    jobs = yaml.safe_load(enabled)["jobs"]
    assert jobs.keys() == yaml.safe_load(text)["jobs"].keys() | {"site", "deploy"}
    install = next(s for s in jobs["site"]["steps"] if s.get("name") == "Install gitreg")
    assert f"gitreg-dev/gitreg@{COMMIT}" in install["run"]
    assert install == next(s for s in jobs["audit"]["steps"] if s.get("name") == "Install gitreg")
    pairs = list(zip(text.splitlines(), enabled.splitlines(), strict=True))
    changed = [(old, new) for old, new in pairs if old != new]
    assert len(changed) > 40, "the site and deploy jobs were uncommented"
    assert all(old.replace("# ", "", 1) == new for old, new in changed), "and nothing else"


def test_the_gitlab_pipeline_installs_the_gitreg_it_was_written_for(tmp_path):
    root = tmp_path / "registry"
    init_registry(root, setup=Setup(forge="gitlab", gitreg_commit=COMMIT))
    text = (root / ".gitlab-ci.yml").read_text()
    install = yaml.safe_load(text)[".gitreg"]["before_script"][-1]
    assert install == (
        '/tmp/gitreg/bin/pip install --quiet -- "${GITREG_REQUIREMENT:-'
        f'git+https://github.com/gitreg-dev/gitreg@{COMMIT}}}"'
    )


def _written_workflow(tmp_path) -> str:
    """The workflow ``gitreg init`` writes for a team that pins CI to gitreg at COMMIT."""
    root = tmp_path / "registry"
    init_registry(root, setup=Setup(forge="github", repository="acme/models", gitreg_commit=COMMIT))
    return (root / WORKFLOW_FILE).read_text()


INSTALL_RUN = (
    'python3 -m venv "$RUNNER_TEMP/gitreg"\n'
    '"$RUNNER_TEMP/gitreg/bin/pip" install --quiet --disable-pip-version-check -- \\\n'
    f'  "${{GITREG_REQUIREMENT:-git+https://github.com/gitreg-dev/gitreg@{COMMIT}}}"\n'
)


def test_every_job_of_the_written_workflow_installs_the_pinned_gitreg_before_running_it(
    tmp_path,
):
    """Each job that runs gitreg first installs it from the commit the team pinned.

    Validate, audit, notify, the request announcement and the (enabled) catalog job alike;
    and the file is complete: no template placeholder is left for GitHub to reject.
    """
    text = _written_workflow(tmp_path)
    for placeholder in ("@INSTALL@", "@CHECKOUT@", "@REQUIREMENT@"):
        assert placeholder not in text, f"{placeholder} left in the written workflow"
    jobs = yaml.safe_load(enable_pages(text))["jobs"]
    running = {name for name, job in jobs.items() if "gitreg/bin/gitreg" in str(job["steps"])}
    assert running == {"validate", "audit", "notify", "notify-request", "site"}
    for name in running:
        steps = jobs[name]["steps"]
        names = [step.get("name") for step in steps]
        assert names.count("Install gitreg") == 1, f"{name}: one install step"
        install = steps[names.index("Install gitreg")]
        assert install["run"] == INSTALL_RUN, f"{name} installs gitreg at {COMMIT}"
        assert install["env"] == {"GITREG_REQUIREMENT": "${{ vars.GITREG_REQUIREMENT }}"}
        first_use = next(i for i, s in enumerate(steps) if "gitreg/bin/gitreg" in s.get("run", ""))
        assert names.index("Install gitreg") < first_use, f"{name}: installed before it runs"


def test_the_written_workflow_is_hardened_and_validates_against_the_base(tmp_path):
    """GitHub's hardening advice on the file init writes, Pages jobs on; validate uses --base.

    The Pages jobs stay commented out until the team turns them on.

    Least permissions, every action pinned by commit with credentials not persisted, event
    data only through env:, every job bounded in time.
    """
    text = _written_workflow(tmp_path)
    assert yaml.safe_load(text)["jobs"].keys() == {"validate", "audit", "notify", "notify-request"}
    workflow = yaml.safe_load(enable_pages(text))
    assert list(workflow[True]) == ["pull_request", "push"]  # YAML 1.1 reads `on` as True
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        assert 1 <= job["timeout-minutes"] <= 30, f"job {name} has no bounded time"
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), f"{name}: an expression inside run:"
            if "uses" not in step:
                continue
            assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            if step["uses"].startswith("actions/checkout@"):
                assert step["with"] == {"fetch-depth": 0, "persist-credentials": False}, name
        assert job["steps"][0]["uses"].startswith(("actions/checkout@", "actions/deploy-pages@"))
    validate = workflow["jobs"]["validate"]
    assert validate["if"] == "github.event_name == 'pull_request'"
    assert validate["steps"][-1]["env"] == {"BASE_REF": "${{ github.base_ref }}"}
    assert validate["steps"][-1]["run"] == (
        'git fetch --no-tags --quiet origin "+refs/heads/$BASE_REF:refs/remotes/origin/$BASE_REF"\n'
        '"$RUNNER_TEMP/gitreg/bin/gitreg" validate --base "origin/$BASE_REF" --format github\n'
    )
    audit = workflow["jobs"]["audit"]["steps"][-1]
    assert audit["env"]["BEFORE"] == "${{ github.event.before }}"
    assert '--since "$since" --until "$AFTER"' in audit["run"]


@pytest.mark.parametrize("forge", ["github", "gitlab"])
def test_the_files_init_writes_have_no_trailing_whitespace(tmp_path, forge):
    """Each text file ends in one newline and no line ends in blanks.

    The repository's first commit passes the usual pre-commit hooks (trailing-whitespace,
    end-of-file-fixer), and so does the workflow with its Pages jobs uncommented.
    """
    root = tmp_path / "registry"
    init_registry(root, setup=Setup(forge=forge, repository="acme/models", gitreg_commit=COMMIT))
    written = git(root, "ls-files").split()
    texts = {name: (root / name).read_text() for name in written if name != "models/.gitkeep"}
    if forge == "github":
        texts["(Pages on)"] = enable_pages(texts[WORKFLOW_FILE])
    for name, text in texts.items():
        assert text.endswith("\n"), f"{name}: ends in a newline"
        assert not text.endswith("\n\n"), f"{name}: ends in one newline"
        blanks = [line for line in text.splitlines() if line != line.rstrip()]
        assert blanks == [], f"{name}: trailing blanks"
