"""gitreg init on a machine as it comes: no git identity, an existing repository, a failure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from gitreg.core.config import DEFAULT_CONFIG_TEXT
from gitreg.core.errors import GitFailed, InvalidParameter, ModelAlreadyExists
from gitreg.gate.scaffold import (
    README_TEXT,
    WORKFLOW_FILE,
    Setup,
    enable_pages,
    init_registry,
)
from tests._helpers import Cli, git, log_subjects


@pytest.fixture(autouse=True)
def _scratch_working_directory(monkeypatch, tmp_path):
    """Run each test from a scratch directory, never from the checkout running the tests.

    A broken init that lost a path would otherwise run git (git init, git remote add) in
    whatever repository the tests were started from.
    """
    monkeypatch.chdir(tmp_path)


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


def existing_repository(repo: Path, name: str, text: str, message: str) -> Path:
    """A repository with work of its own (one committed file) on ``main``, before init."""
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-qm", message)
    return repo


def test_init_turns_an_existing_repository_into_a_registry(tmp_path):
    repo = existing_repository(tmp_path / "repo", "train.py", "print('hi')\n", "Training code")
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
    # YAML 1.1 reads `on` as True; a review submitted or dismissed validates again (#24)
    assert list(workflow[True]) == ["pull_request", "pull_request_review", "push"]
    assert workflow[True]["pull_request_review"] == {"types": ["submitted", "dismissed"]}
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
    assert validate["if"] == (
        "github.event_name == 'pull_request' || github.event_name == 'pull_request_review'"
    )
    # The reviews of the pull request are read (policy.approvals, #24): read, no more.
    assert validate["permissions"] == {"contents": "read", "pull-requests": "read"}
    assert validate["steps"][-1]["env"] == {
        "BASE_REF": "${{ github.event.pull_request.base.ref }}",
        "NUMBER": "${{ github.event.pull_request.number }}",
        "GITHUB_TOKEN": "${{ github.token }}",
        "GITREG_MEMBERS_TOKEN": "${{ secrets.GITREG_MEMBERS_TOKEN }}",
    }
    assert validate["steps"][-1]["run"] == (
        'git fetch --no-tags --quiet origin "+refs/heads/$BASE_REF:refs/remotes/origin/$BASE_REF"\n'
        '"$RUNNER_TEMP/gitreg/bin/gitreg" validate --base "origin/$BASE_REF" \\\n'
        '  --pull-request "$NUMBER" --format github\n'
    )
    for job in ("notify", "site"):  # who approved, recorded by the audit, for payloads/pages
        steps = workflow["jobs"][job]["steps"]
        fetch = next(s for s in steps if s.get("name", "").startswith("Fetch who approved"))
        assert fetch["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
        assert "refs/notes/gitreg/approvals" in fetch["run"]
        assert steps.index(fetch) < next(
            i for i, s in enumerate(steps) if "gitreg/bin" in s.get("run", "")
        )
    assert workflow["jobs"]["site"]["needs"] == "audit"
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


# ------------------------------------------------------- code owners, policy, README, branch

OWNERS_HEADER = (
    '# Who must approve a change (written by gitreg init). With "Require review from Code\n'
    "# Owners\" on the default branch, these paths change only with their owners' approval.\n"
)
OWNERS_EXAMPLES = (
    "\n"
    '# Per-model owners, for example (a model\'s file is its name, see README "The manifest"):\n'
    "# /models/churn.yaml @acme/growth-ml\n"
    "# /models/fraud*.yaml @acme/risk-ml\n"
)
PROTECTED = ("/gitreg.yaml", "/.github/", "/.gitlab-ci.yml", "/.gitlab/", "/CODEOWNERS")
PROTECTED += ("/models/.retired.yaml",)


def _owned_by(who: str) -> str:
    rules = "".join(f"{path} {who}\n" for path in PROTECTED)
    return OWNERS_HEADER + "\n" + rules + OWNERS_EXAMPLES


PLACEHOLDER_OWNERS = (
    OWNERS_HEADER
    + "# Replace @OWNER/registry-admins with a real user or team, then uncomment.\n"
    + "".join(f"# {path} @OWNER/registry-admins\n" for path in PROTECTED)
    + OWNERS_EXAMPLES
)


@pytest.mark.parametrize(
    ("setup", "path", "expected"),
    [
        pytest.param(
            Setup(forge="github", repository="acme/models"),
            ".github/CODEOWNERS",
            _owned_by("@acme"),
            id="github: the repository's owner by default",
        ),
        pytest.param(
            Setup(forge="github", repository="acme/models", owners=("@acme/ml-leads", "@bob")),
            ".github/CODEOWNERS",
            _owned_by("@acme/ml-leads @bob"),
            id="github: the owners given, all of them",
        ),
        pytest.param(
            Setup(), ".github/CODEOWNERS", PLACEHOLDER_OWNERS, id="no forge: a placeholder"
        ),
        pytest.param(
            Setup(forge="gitlab", repository="acme/models"),
            ".gitlab/CODEOWNERS",
            PLACEHOLDER_OWNERS,
            id="gitlab: no owner guessed from the repository",
        ),
        pytest.param(
            Setup(forge="gitlab", repository="acme/models", owners=("@acme/ml-leads",)),
            ".gitlab/CODEOWNERS",
            _owned_by("@acme/ml-leads"),
            id="gitlab: the owners given",
        ),
    ],
)
def test_code_owners_init_writes(tmp_path, setup, path, expected):
    """CODEOWNERS protects the policy and the CI files with the owners given (or, on GitHub,
    the repository's owner); with nobody to name, every rule is a commented placeholder that
    says how to fill it in, so no rule names a user that does not exist."""
    root = tmp_path / "registry"
    init_registry(root, setup=setup)
    assert (root / path).read_text() == expected


@pytest.mark.parametrize(
    ("setup", "forge_lines"),
    [
        (Setup(), "    type: none\n"),
        (
            Setup(forge="github", repository="acme/models"),
            "    type: github\n    repository: acme/models\n",
        ),
        (
            Setup(forge="gitlab", repository="acme/models"),
            "    type: gitlab\n    repository: acme/models\n",
        ),
        (
            Setup(forge="gitlab", remote="https://gitlab.example/acme/models.git"),
            "    type: gitlab\n",
        ),
    ],
)
def test_the_policy_init_writes_names_the_forge(tmp_path, setup, forge_lines):
    """gitreg.yaml is the default policy with the forge (and repository) given, nothing else."""
    root = tmp_path / "registry"
    init_registry(root, setup=setup)
    expected = DEFAULT_CONFIG_TEXT.replace("    type: none\n", forge_lines)
    assert (root / "gitreg.yaml").read_text() == expected
    assert (root / "models" / ".gitkeep").read_text() == "", "models/ is kept by an empty file"


def test_init_makes_the_directories_the_branch_and_the_readme_of_a_new_registry(tmp_path):
    """A new path (parents too) becomes a repository on main (or the branch asked for), with a
    README saying what the repository is; --json gives the commit init made."""
    root = tmp_path / "team" / "registry"
    result = Cli().ok("init", str(root), "--json")
    assert json.loads(result.stdout)["registry"]["commit"] == git(root, "rev-parse", "HEAD").strip()
    assert (root / "README.md").read_text() == README_TEXT
    assert git(root, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(root, "status", "--porcelain") == ""

    api = tmp_path / "by-api" / "registry"
    init_registry(api)
    assert git(api, "symbolic-ref", "HEAD").strip() == "refs/heads/main", "main by default"
    trunk = tmp_path / "trunk"
    init_registry(trunk, branch="trunk")
    assert git(trunk, "symbolic-ref", "HEAD").strip() == "refs/heads/trunk"


def test_init_keeps_a_repository_s_own_readme(tmp_path):
    """An existing repository's README is its own: init adds the registry beside it."""
    repo = existing_repository(tmp_path / "repo", "README.md", "# Our models\n", "Existing work")
    init_registry(repo)
    assert (repo / "README.md").read_text() == "# Our models\n"
    written = [
        ".github/CODEOWNERS",
        ".github/workflows/gitreg.yml",
        ".gitignore",  # what gitreg and MLflow make there stays out of git (#27)
        "README.md",
        "gitreg.yaml",
    ]
    assert git(repo, "ls-files").split() == [*written, "models/.gitkeep"]
    assert git(repo, "status", "--porcelain") == ""


def test_init_refuses_to_overwrite_a_file_it_would_write(tmp_path):
    """A repository's own CI owner file is not replaced: init names it and changes nothing."""
    repo = tmp_path / "repo"
    (repo / ".github").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / ".github" / "CODEOWNERS").write_text("* @someone\n")
    with pytest.raises(ModelAlreadyExists) as raised:
        init_registry(repo)
    assert str(raised.value) == (
        f"{repo / '.github' / 'CODEOWNERS'} already exists; move it away and retry"
    )
    assert not (repo / "gitreg.yaml").exists()
    assert (repo / ".github" / "CODEOWNERS").read_text() == "* @someone\n"
    init_registry(tmp_path / "done")
    with pytest.raises(ModelAlreadyExists) as again:
        init_registry(tmp_path / "done")
    assert str(again.value) == (
        f"{tmp_path / 'done' / 'gitreg.yaml'} already exists: "
        f"{tmp_path / 'done'} is already a gitreg registry"
    )


def test_init_registry_refuses_an_unknown_forge_and_creates_nothing(tmp_path):
    """The API checks what the CLI's --forge choice checks, with the same fix in the message."""
    with pytest.raises(InvalidParameter) as raised:
        init_registry(tmp_path / "registry", setup=Setup(forge="gitea"))
    assert str(raised.value) == "Invalid forge 'gitea': use none, github or gitlab"
    assert not (tmp_path / "registry").exists()


def test_init_with_a_remote_makes_its_branch_track_origin_so_writes_push(tmp_path):
    """--remote adds origin and makes the registry's branch track it: after the one push init
    asks for, every write lands on the remote (an empty bare repository stands in for GitHub)."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "trunk", str(remote))
    root = tmp_path / "registry"
    init_registry(root, branch="trunk", setup=Setup(remote=str(remote)))
    assert git(root, "remote").split() == ["origin"]
    assert git(root, "remote", "get-url", "origin").strip() == str(remote)
    assert git(root, "config", "branch.trunk.remote").strip() == "origin"
    assert git(root, "config", "branch.trunk.merge").strip() == "refs/heads/trunk"
    git(root, "push", "-q", "origin", "trunk")
    Cli(root).ok("create", "churn")
    assert git(remote, "rev-parse", "trunk") == git(root, "rev-parse", "HEAD"), "the write pushed"


def test_the_written_workflow_audits_from_the_verified_tip_and_records_it(tmp_path):
    """#22: every push to the default branch is audited and a clean audit records
    refs/gitreg/verified. The audit job is the only one that may write (contents: write,
    with git credentials only inside its one step, never persisted by the checkout), one
    such job runs at a time, and events are delivered after it, whatever it found: the
    notify job audits the push itself and sends what it flags as POLICY_VIOLATION."""
    workflow = yaml.safe_load(enable_pages(_written_workflow(tmp_path)))
    jobs = workflow["jobs"]
    writers = {name for name, job in jobs.items() if "write" in job.get("permissions", {}).values()}
    assert writers == {"audit", "deploy"}, "deploy writes Pages only"
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    audit = jobs["audit"]
    assert audit["permissions"] == {"contents": "write", "pull-requests": "read"}
    assert audit["concurrency"] == {"group": "gitreg-verified", "cancel-in-progress": False}
    after_audit = "always() && needs.audit.result != 'cancelled' && "
    assert after_audit + audit["if"] == jobs["notify"]["if"], "every push to the default branch"
    step = audit["steps"][-1]
    assert step["env"] == {
        "BEFORE": "${{ github.event.before }}",
        "AFTER": "${{ github.sha }}",
        "GITHUB_TOKEN": "${{ github.token }}",
        "GITREG_MEMBERS_TOKEN": "${{ secrets.GITREG_MEMBERS_TOKEN }}",  # @org/team (#24)
    }
    assert '--since "$since" --until "$AFTER" --record' in step["run"]
    assert 'GIT_CONFIG_KEY_0="http.$GITHUB_SERVER_URL/.extraheader"' in step["run"]
    assert "--bootstrap" not in step["run"]
    assert "--acknowledge" not in step["run"]
    assert audit["steps"][0]["with"]["persist-credentials"] is False
    assert jobs["notify"]["needs"] == "audit"
