"""gitreg init on a machine as it comes: no git identity, an existing repository, a failure."""

from __future__ import annotations

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
