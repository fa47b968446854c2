"""Governance end to end (issue 11): what deployments read changes only through review.

A bare repository stands in for the registry on GitHub; ``tests/_forge.py`` runs a real
HTTP server on 127.0.0.1 standing in for GitHub's (and GitLab's) REST API: pull requests,
reviews, closing, and "which pull request did this commit come from". Writes come from
the CLI, the Python API and MLflow's own client through the plugin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import PromotionPending, TransitionNotAllowed
from gitreg.gate.scaffold import init_registry
from tests import _forge
from tests._helpers import Cli, git, head

FORGE_CONFIG = """\
    type: github
    repository: acme/registry
    api_url: {url}
"""


@pytest.fixture
def forge() -> Iterator[_forge.Forge]:
    with _forge.serving() as server:
        yield server


@pytest.fixture
def remote(tmp_path: Path, forge: _forge.Forge, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry on a bare remote, with churn v1 in Production and @champion on it."""
    monkeypatch.setenv("GITHUB_TOKEN", _forge.TOKEN)
    seed = tmp_path / "seed"
    init_registry(seed)
    config = seed / "gitreg.yaml"
    config.write_text(
        config.read_text().replace("    type: none\n", FORGE_CONFIG.format(url=forge.url))
    )
    registry = Registry(seed)
    git(seed, "commit", "-qam", "Configure the forge")
    for i in (1, 2, 3):
        registry.create_model_version("churn", f"s3://churn/{i}", tags={"validation": "passed"})
    registry.transition_model_version_stage("churn", 1, "Production")
    registry.set_registered_model_alias("churn", "champion", 1)
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(seed, "push", "-q", str(bare), "main")
    return bare


def clone(remote: Path, path: Path) -> Path:
    git(path.parent, "clone", "-q", str(remote), str(path))
    return path


@pytest.fixture
def a(remote: Path, tmp_path: Path) -> Path:
    return clone(remote, tmp_path / "a")


@pytest.fixture
def b(remote: Path, tmp_path: Path) -> Path:
    return clone(remote, tmp_path / "b")


def tip(remote: Path) -> str:
    return git(remote, "rev-parse", "main").strip()


def merge(work: Path, branch: str, number: int, forge: _forge.Forge | None = None) -> str:
    """Merge a request branch the way GitHub's merge button does; the merge commit."""
    git(work, "fetch", "-q", "origin")
    git(work, "checkout", "-q", "-B", "merge-tmp", "origin/main")
    message = f"Merge pull request #{number} from acme/{branch}"
    git(work, "merge", "-q", "--no-ff", f"origin/{branch}", "-m", message)
    git(work, "push", "-q", "origin", "merge-tmp:main")
    git(work, "checkout", "-q", "main")
    git(work, "pull", "-q", "--ff-only", "origin", "main")
    commit = head(work)
    if forge is not None:
        forge.merged(number, commit)
    return commit


# --------------------------------------------------------------- protected aliases


def test_a_protected_alias_move_from_the_cli_is_a_request(a, remote, forge):
    before = tip(remote)
    result = Cli(a).ok("alias", "churn", "champion", "2")
    assert result.stdout.strip() == "https://github.example/acme/registry/pull/1"
    assert "the alias moves when that pull request is merged" in result.stderr
    assert tip(remote) == before, "a protected alias moved on main without review"
    pull = forge.pull_for("gitreg/churn/at-champion-v2")
    assert pull["title"] == "Point churn@champion at version 2"
    proposed = git(remote, "show", "gitreg/churn/at-champion-v2:models/churn.yaml")
    assert "champion: 2" in proposed


def test_a_protected_alias_removal_from_the_api_is_a_request(a, remote):
    before = tip(remote)
    with pytest.raises(PromotionPending) as caught:
        Registry(a).delete_registered_model_alias("churn", "champion")
    assert caught.value.branch == "gitreg/churn/at-champion-removed"
    assert tip(remote) == before


def test_an_unprotected_alias_moves_directly(a, remote):
    Registry(a).set_registered_model_alias("churn", "canary", 3)
    assert "canary: 3" in git(remote, "show", "main:models/churn.yaml")


def test_without_a_remote_a_protected_alias_moves_directly(registry):
    registry.create_model_version("churn", "s3://1")
    registry.set_registered_model_alias("churn", "champion", 1)
    assert registry.get_model_version_by_alias("churn", "champion").version == 1


def test_alias_requirements_are_judged_like_stage_requirements(tmp_path):
    root = tmp_path / "r"
    init_registry(root)
    config = root / "gitreg.yaml"
    config.write_text(
        config.read_text().replace(
            "  requirements: {}\n",
            '  requirements:\n    "@champion":\n      tags: {validation: passed}\n',
        )
    )
    git(root, "commit", "-qam", "Champions need validation")
    registry = Registry(root)
    registry.create_model_version("churn", "s3://1")
    git(root, "switch", "-qc", "pr")
    path = root / "models" / "churn.yaml"
    path.write_text(
        path.read_text().replace("next_version: 2", "aliases:\n  champion: 1\nnext_version: 2")
    )
    git(root, "commit", "-qam", "Point champion at an unvalidated version")
    result = Cli(root).fails(1, "validate", "--base", "main", "--format", "json")
    codes = [f["code"] for f in json.loads(result.stdout)["findings"]]
    assert codes == ["REQUIREMENT_UNMET"]


# ------------------------------------------------------------- deletes and renames


def test_deleting_the_production_version_is_a_request_everywhere(a, remote):
    before = tip(remote)
    result = Cli(a).ok("delete", "churn", "1", "--yes")
    assert "gitreg/churn/v1-deleted" in result.stdout + result.stderr or "pull/1" in result.stdout
    with pytest.raises(PromotionPending):
        Registry(a).delete_model_version("churn", 1)
    with pytest.raises(PromotionPending):
        Registry(a).delete_registered_model("churn")
    with pytest.raises(PromotionPending):
        Registry(a).rename_registered_model("churn", "churn-v2")
    assert tip(remote) == before, "main changed without review"


def test_deleting_a_version_nobody_reads_is_direct(a, remote):
    Registry(a).delete_model_version("churn", 3)
    assert "version: 3" not in git(remote, "show", "main:models/churn.yaml")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_the_mlflow_plugin_raises_with_the_request_url(a, remote):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    tracking = f"sqlite:///{a.parent / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=tracking, registry_uri=f"gitreg://{a}")
    before = tip(remote)
    with pytest.raises(MlflowException, match=r"https://github\.example/acme/registry/pull/\d"):
        client.delete_model_version("churn", "1")
    with pytest.raises(MlflowException, match=r"pull/\d"):
        client.set_registered_model_alias("churn", "champion", "3")
    assert tip(remote) == before


def test_direct_and_no_push_cannot_go_around_review(a, remote):
    # The API's words (#16); the CLI says --direct and --no-push.
    with pytest.raises(TransitionNotAllowed, match="drop direct=True"):
        Registry(a).transition_model_version_stage("churn", 2, "Production", True, direct=True)
    with pytest.raises(TransitionNotAllowed, match="drop push=False"):
        Registry(a, push=False).set_registered_model_alias("churn", "champion", 2)


# ----------------------------------------------------------- the life of a request


def test_requests_on_a_registry_without_a_remote_is_a_read(registry_repo):
    result = Cli(registry_repo).ok("requests")
    assert "No open promotion requests" in result.stderr
    assert json.loads(Cli(registry_repo).ok("requests", "--json").stdout) == {
        "transition_requests": []
    }


def test_requests_show_target_age_staleness_and_reviews(a, remote, forge):
    Cli(a).ok("transition", "churn", "2", "Production", "--archive-existing-versions")
    Cli(a).ok("alias", "churn", "champion", "3")
    forge.review(1, "alice", "APPROVED")
    forge.review(2, "bob", "CHANGES_REQUESTED")
    data = json.loads(Cli(a).ok("requests", "--json").stdout)["transition_requests"]
    by_target = {r["target"]: r for r in data}
    assert by_target["Production"]["version"] == 2
    assert by_target["Production"]["review"]["approved_by"] == ["alice"]
    assert by_target["@champion"]["review"]["state"] == "changes_requested"
    assert by_target["@champion"]["alias"] == "champion"
    assert all(r["created_at"] and r["stale"] is False for r in data)
    text = Cli(a).ok("requests").stdout
    assert "approved by alice" in text
    assert "changes requested by bob" in text


def test_a_stale_request_is_rebuilt_when_asked_again(a, b, remote, forge):
    Cli(a).ok("transition", "churn", "2", "Production", "--archive-existing-versions")
    first = git(remote, "rev-parse", "gitreg/churn/v2-production").strip()
    # Main moves on and touches the same lines: v3 is promoted through its own request.
    Cli(b).ok("transition", "churn", "3", "Production", "--archive-existing-versions")
    merge(b, "gitreg/churn/v3-production", 2, forge)
    [stale] = [r for r in Registry(a).list_transition_requests() if r.version == 2]
    assert stale.stale, "a request that no longer merges cleanly must say it is stale"

    result = Cli(a).ok("transition", "churn", "2", "Production", "--archive-existing-versions")
    assert "rebuilt on the current registry" in result.stderr
    rebuilt = git(remote, "rev-parse", "gitreg/churn/v2-production").strip()
    assert rebuilt != first
    assert git(remote, "rev-parse", f"{rebuilt}^").strip() == tip(remote)
    [fresh] = [r for r in Registry(a).list_transition_requests() if r.version == 2]
    assert not fresh.stale
    git(a, "fetch", "-q", "origin")
    git(a, "switch", "-qc", "review", "origin/gitreg/churn/v2-production")
    Cli(a).ok("validate", "--base", "origin/main")


def test_withdraw_closes_the_pull_request_and_deletes_the_branch(a, remote, forge):
    Cli(a).ok("transition", "churn", "2", "Production", "--archive-existing-versions")
    result = Cli(a).ok("withdraw", "churn", "2", "Production", "--json")
    assert [r["branch"] for r in json.loads(result.stdout)["withdrawn"]] == [
        "gitreg/churn/v2-production"
    ]
    assert forge.pulls[1]["state"] == "closed"
    assert "gitreg/churn/v2-production" not in git(remote, "branch", "--list")
    Cli(a).fails(1, "withdraw", "churn", "2", "Production")


def test_show_lists_the_versions_open_requests(a, remote):
    Cli(a).ok("alias", "churn", "champion", "2")
    Cli(a).ok("requests")  # fetches the request branches
    shown = json.loads(Cli(a).ok("show", "churn", "2", "--json").stdout)
    assert [r["target"] for r in shown["open_requests"]] == ["@champion"]
    assert "request:     @champion" in Cli(a).ok("show", "churn", "2").stdout


def test_rollback_of_an_alias_proposes_its_previous_version(a, b, remote, forge):
    Cli(a).ok("alias", "churn", "champion", "2")
    merge(b, "gitreg/churn/at-champion-v2", 1, forge)
    git(a, "pull", "-q", "--ff-only")
    result = Cli(a).ok("rollback", "churn", "--alias", "champion")
    assert result.stdout.strip().endswith("/pull/2")
    proposed = git(remote, "show", "gitreg/churn/at-champion-v1:models/churn.yaml")
    assert "champion: 1" in proposed


# ------------------------------------------------------------- which version when


def _at(moment: str) -> dict[str, str]:
    return {"GIT_COMMITTER_DATE": moment, "GIT_AUTHOR_DATE": moment}


def test_history_by_stage_and_alias_gives_the_intervals(registry, registry_repo, monkeypatch):
    r, prod = registry, "Production"
    script = [
        ("2026-11-01T10:00:00Z", lambda: r.create_model_version("churn", "s3://1")),
        ("2026-11-01T11:00:00Z", lambda: r.create_model_version("churn", "s3://2")),
        ("2026-11-02T09:00:00Z", lambda: r.transition_model_version_stage("churn", 1, prod)),
        ("2026-11-02T09:30:00Z", lambda: r.set_registered_model_alias("churn", "champion", 1)),
        ("2026-11-05T12:00:00Z", lambda: r.transition_model_version_stage("churn", 2, prod, True)),
        ("2026-11-05T12:05:00Z", lambda: r.set_registered_model_alias("churn", "champion", 2)),
        ("2026-11-07T08:00:00Z", lambda: r.transition_model_version_stage("churn", 1, prod, True)),
    ]
    for moment, write in script:
        for key, value in _at(moment).items():
            monkeypatch.setenv(key, value)
        write()
    cli = Cli(registry_repo)
    data = json.loads(cli.ok("history", "churn", "--stage", "Production", "--json").stdout)
    spans = [(i["version"], i["start"][:10], (i["end"] or "now")[:10]) for i in data["intervals"]]
    assert spans == [
        (1, "2026-11-02", "2026-11-05"),
        (2, "2026-11-05", "2026-11-07"),
        (1, "2026-11-07", "now"),
    ]
    data = json.loads(cli.ok("history", "churn", "--alias", "champion", "--json").stdout)
    assert [i["version"] for i in data["intervals"]] == [1, 2]
    text = cli.ok("history", "churn", "--stage", "Production").stdout
    assert text.splitlines()[0].split() == ["VERSION", "FROM", "UNTIL", "BY", "COMMIT", "REQUEST"]
    # --at takes a date: the registry as merged on that day.
    assert cli.ok("resolve", "models:/churn/Production", "--at", "2026-11-06").stdout == "s3://2\n"
    assert (
        cli.ok("resolve", "models:/churn@champion", "--at", "2026-11-02 10:00").stdout == "s3://1\n"
    )
    cli.fails(1, "resolve", "models:/churn@champion", "--at", "2026-11-01")  # not set yet
    cli.fails(2, "show", "churn", "--at", "2020-01-01")  # before the registry existed


# ----------------------------------------------------------------------- audit


def _hand_push(work: Path, edit: tuple[str, str], message: str) -> str:
    path = work / "models" / "churn.yaml"
    path.write_text(path.read_text().replace(*edit, 1))
    git(work, "commit", "-qam", message)
    git(work, "push", "-q", "origin", "main")
    return head(work)


def test_audit_finds_direct_pushes_of_protected_changes(a, remote):
    start = tip(remote)
    Registry(a, push=True).create_model_version("churn", "s3://churn/4")  # fine: a registration
    promoted = _hand_push(a, ("    stage: None\n", "    stage: Production\n"), "oops")
    moved = _hand_push(a, ("  champion: 1\n", "  champion: 2\n"), "move champion")
    result = Cli(a).fails(1, "audit", "--since", start, "--format", "json")
    report = json.loads(result.stdout)
    found = {(v["commit"], v["finding"]["code"]) for v in report["violations"]}
    assert (promoted, "PROTECTED_STAGE") in found
    assert (moved, "PROTECTED_ALIAS") in found
    assert report["commits"] == 3
    assert not any(
        v["commit"] == head(a) and "Register" in v["finding"]["message"]
        for v in report["violations"]
    )
    text = Cli(a).fails(1, "audit", "--since", start).stdout
    assert re.search(
        rf"{promoted[:12]} by Alice Example: models/churn.yaml:\d+: PROTECTED_STAGE", text
    )
    github = Cli(a).fails(1, "audit", "--since", start, "--format", "github").stdout
    assert "::error file=models/churn.yaml" in github
    assert "title=POLICY_VIOLATION::" in github


def test_audit_finds_a_direct_delete(a, remote):
    start = tip(remote)
    text = (a / "models" / "churn.yaml").read_text()
    first, rest = text.split("  - version: 1\n", 1)
    rest = rest.split("  - version: 2\n", 1)[1]
    (a / "models" / "churn.yaml").write_text(
        first + "  - version: 2\n" + rest.replace("  champion: 1\n", "")
    )
    git(a, "commit", "-qam", "drop v1")
    git(a, "push", "-q", "origin", "main")
    report = json.loads(Cli(a).fails(1, "audit", "--since", start, "--format", "json").stdout)
    codes = {v["finding"]["code"] for v in report["violations"]}
    assert "PROTECTED_STAGE" in codes  # version 1 deleted while in Production


def test_audit_passes_registrations_and_merged_requests(a, b, remote, forge):
    start = tip(remote)
    Registry(a).create_model_version("churn", "s3://churn/4")
    Registry(a).update_model_version("churn", 4, "Retrained")
    Cli(a).ok("transition", "churn", "2", "Production", "--archive-existing-versions")
    merge(b, "gitreg/churn/v2-production", 1, forge)  # reviewed, the forge says
    git(a, "pull", "-q", "--ff-only")
    result = Cli(a).run("audit", "--since", start)
    assert result.exit_code == 0, result.stdout


def test_audit_accepts_a_squash_merge_the_forge_associates(a, b, remote, forge):
    start = tip(remote)
    Cli(a).ok("alias", "churn", "champion", "2")
    git(b, "fetch", "-q", "origin")
    git(b, "merge", "-q", "--squash", "origin/gitreg/churn/at-champion-v2")
    git(b, "commit", "-qm", "Point churn@champion at version 2 (#1)")
    git(b, "push", "-q", "origin", "main")
    Cli(b).fails(1, "audit", "--since", start)  # the forge does not know it yet
    forge.merged(1, head(b))
    Cli(b).ok("audit", "--since", start)


def test_audit_catches_two_requests_that_were_each_valid_alone(a, b, remote, forge):
    start = tip(remote)
    Cli(a).ok("transition", "churn", "2", "Production", "--archive-existing-versions")
    # A second request built on the same base, by hand, promoting v3 instead.
    git(b, "switch", "-qc", "gitreg/churn/v3-production")
    path = b / "models" / "churn.yaml"
    text = path.read_text().replace("    stage: Production\n", "    stage: Archived\n", 1)
    path.write_text(text.replace("    stage: None\n", "    stage: Production\n", 2).replace(
        "    stage: Production\n", "    stage: None\n", 1))  # fmt: skip
    git(b, "commit", "-qam", "promote v3")
    git(b, "push", "-q", "origin", "gitreg/churn/v3-production")
    git(b, "switch", "-q", "main")
    merge(b, "gitreg/churn/v2-production", 1)
    git(b, "fetch", "-q", "origin")
    git(b, "checkout", "-q", "-B", "merge-tmp", "origin/main")
    git(b, "merge", "--no-ff", "origin/gitreg/churn/v3-production",
        "-m", "Merge pull request #9 from acme/gitreg/churn/v3-production")  # fmt: skip
    git(b, "push", "-q", "origin", "merge-tmp:main")
    report = json.loads(Cli(b).fails(1, "audit", "--since", start, "--format", "json").stdout)
    codes = {v["finding"]["code"] for v in report["violations"]}
    assert "MULTIPLE_PRODUCTION" in codes


def _push_files(work: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or, for None, delete) registry files by hand and push the commit to main."""
    for name, text in files.items():
        if text is None:
            git(work, "rm", "-q", name)
        else:
            (work / name).write_text(text)
            git(work, "add", name)
    git(work, "commit", "-qm", message)
    git(work, "push", "-q", "origin", "main")
    return head(work)


def test_audit_json_names_the_commit_its_author_and_the_finding(a, remote):
    """The JSON a dashboard or a scheduled job reads: every field, for one violation."""
    start = tip(remote)
    moved = _hand_push(a, ("  champion: 1\n", "  champion: 2\n"), "move champion")
    report = json.loads(Cli(a).fails(1, "audit", "--since", start, "--format", "json").stdout)
    when = git(a, "log", "-1", "--format=%cI", moved).strip()
    finding = report["violations"][0].pop("finding")

    protected = report.pop("protected_changes")
    assert report == {
        "valid": False,
        "since": start,
        "until": "HEAD",
        "trusted": start,
        "commits": 1,
        "violations": [
            {
                "commit": moved,
                "author": "Alice Example",
                "author_email": "alice@example.com",
                "timestamp": when,
                "pull_request": None,
            }
        ],
        "problems": [],
        "acknowledged": [],
        "recorded": None,
        "notes": [],
    }
    assert (finding["path"], finding["code"]) == ("models/churn.yaml", "PROTECTED_ALIAS")
    assert protected == [
        {
            "commit": moved,
            "path": "models/churn.yaml",
            "line": finding["line"],
            "code": "PROTECTED_ALIAS",
            "what": "churn: @champion moved from version 1 to 2",
            "status": "unreviewed",
            "evidence": "GitHub knows no merged pull request that produced it",
            "pull_request": None,
        }
    ], "the forge (trusted) was asked and said no"
    empty = json.loads(Cli(a).ok("audit", "--since", moved, "--format", "json").stdout)
    assert empty == {
        "valid": True,
        "since": moved,
        "until": "HEAD",
        "trusted": moved,
        "commits": 0,
        "violations": [],
        "problems": [],
        "protected_changes": [],
        "acknowledged": [],
        "recorded": None,
        "notes": [],
    }, "an empty range is reported as such"


def test_audit_follows_names_and_retired_records_through_the_range(a, remote):
    """Each commit is judged against the state the commits before it left: a case-only
    rename frees the old spelling (Churn holds Production: a direct rename is still a
    violation), a file added later collides with the new one, and a
    record of a retired name added in one commit binds the next."""
    start = tip(remote)
    churn = (a / "models" / "churn.yaml").read_text()
    renamed = _push_files(
        a,
        {
            "models/churn.yaml": None,
            "models/Churn.yaml": churn.replace("name: churn", "name: Churn"),
        },
        "Rename churn to Churn by hand",
    )
    spam = "schema_version: 1\nname: {}\nnext_version: 2\nversions:\n"
    spam += "  - version: 1\n    source: s3://spam/1\n    stage: None\n"
    clash = _push_files(a, {"models/CHURN.yaml": spam.format("CHURN")}, "Add CHURN")
    retired = "schema_version: 1\nretired:\n  spam:\n    next_version: 3\n"
    _push_files(a, {"models/.retired.yaml": retired}, "Record spam's numbers")
    reused = _push_files(a, {"models/spam.yaml": spam.format("spam")}, "Register spam 1 again")
    deleted = _push_files(a, {"models/CHURN.yaml": None}, "Delete CHURN without a record")

    report = json.loads(Cli(a).fails(1, "audit", "--since", start, "--format", "json").stdout)
    found = sorted({(v["commit"], v["finding"]["code"]) for v in report["violations"]})

    assert [code for commit, code in found if commit == renamed] == ["PROTECTED_RENAME"], (
        "a case-only rename is judged as a rename (pushed directly: not reviewed), not as a "
        "clash with the name it left"
    )
    assert (clash, "NAME_CASE_CONFLICT") in found, found
    assert (reused, "VERSION_REUSED") in found, found
    assert [code for commit, code in found if commit == deleted] == ["RETIREMENT_NOT_RECORDED"]


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda p: p.symlink_to("churn.yaml"), "a symbolic link"),
        (lambda p: (p.write_text("name: spam\n"), p.chmod(0o755)), "git mode 100755"),
    ],
    ids=["link", "executable"],
)
def test_audit_refuses_a_manifest_pushed_as_anything_but_a_regular_file(a, remote, make, what):
    """Deployments read models/ from git: a link or an executable there is never read."""
    start = tip(remote)
    make(a / "models" / "spam.yaml")
    git(a, "add", "models/spam.yaml")
    git(a, "commit", "-qm", "Add spam")
    git(a, "push", "-q", "origin", "main")
    report = json.loads(Cli(a).fails(1, "audit", "--since", start, "--format", "json").stdout)

    assert [v["finding"] for v in report["violations"]] == [
        {
            "path": "models/spam.yaml",
            "line": None,
            "code": "NOT_A_REGULAR_FILE",
            "message": f"models/spam.yaml is {what}, not a regular file; gitreg reads only "
            "regular files (git mode 100644) there",
        }
    ]


# ------------------------------------------------------------------------ init


def test_init_writes_a_ready_github_setup(tmp_path, remote):
    root = tmp_path / "new"
    result = Cli().ok(
        "init", str(root), "--remote", str(remote), "--forge", "github",
        "--repository", "acme/registry", "--owner", "@acme/ml-leads",
    )  # fmt: skip
    assert "push -u origin main" in result.stderr
    config = (root / "gitreg.yaml").read_text()
    assert "    type: github\n    repository: acme/registry\n" in config
    owners = (root / ".github" / "CODEOWNERS").read_text()
    assert "/gitreg.yaml @acme/ml-leads" in owners
    assert "/.github/ @acme/ml-leads" in owners
    assert git(root, "config", "branch.main.remote").strip() == "origin"
    workflow = (root / ".github" / "workflows" / "gitreg.yml").read_text()
    assert "timeout-minutes" in workflow
    assert '/gitreg" audit' in workflow


def test_init_for_gitlab_writes_its_ci_and_owners(tmp_path):
    root = tmp_path / "gl"
    Cli().ok("init", str(root), "--forge", "gitlab", "--repository", "acme/registry")
    assert "gitreg audit" in (root / ".gitlab-ci.yml").read_text()
    assert (root / ".gitlab" / "CODEOWNERS").is_file()
    assert not (root / ".github").exists()


# ------------------------------------------- audit: the rest of its survivors (issue 17)


def _branch_merged(work: Path, branch: str, edit: tuple[str, str], message: str) -> str:
    """A protected change on ``branch``, merged into main by a true merge commit."""
    git(work, "switch", "-qc", branch)
    _hand_push_to(work, branch, edit)
    git(work, "switch", "-q", "main")
    git(work, "merge", "-q", "--no-ff", branch, "-m", message)
    git(work, "push", "-q", "origin", "main")
    return head(work)


def _hand_push_to(work: Path, branch: str, edit: tuple[str, str]) -> None:
    path = work / "models" / "churn.yaml"
    path.write_text(path.read_text().replace(*edit, 1))
    git(work, "commit", "-qam", f"Change churn on {branch}")


def test_audit_without_the_forge_trusts_no_merge_commit_title(a, remote, forge, monkeypatch):
    """When the forge cannot answer (here 401), no protected change counts as reviewed: a
    true merge titled as GitHub titles them, a single commit titled like one, and a plain
    merge are all UNVERIFIED, each naming the commit, the pull request its message claims
    and why nothing could confirm it (#22: a merge title is not evidence of review)."""
    monkeypatch.setenv("GITHUB_TOKEN", "not-the-token")  # the forge answers 401
    start = tip(remote)
    reviewed = _branch_merged(
        a, "promote", ("  champion: 1\n", "  champion: 2\n"), "Merge pull request #7 from acme/p"
    )
    titled = _hand_push(
        a, ("  champion: 2\n", "  champion: 3\n"), "Merge pull request #8 from acme/fake"
    )
    plain = _branch_merged(a, "back", ("  champion: 3\n", "  champion: 1\n"), "Merge back")

    report = json.loads(Cli(a).fails(1, "audit", "--since", start, "--format", "json").stdout)

    found = [(v["commit"], v["pull_request"], v["finding"]["code"]) for v in report["violations"]]
    assert found == [
        (reviewed, 7, "UNVERIFIED"),
        (titled, 8, "UNVERIFIED"),
        (plain, None, "UNVERIFIED"),
    ]
    why = f"GitHub could not be asked: GitHub answered 401 to GET {forge.url.rstrip('/')}/…"
    assert all(why in v["finding"]["message"] for v in report["violations"])
    assert [(c["commit"], c["status"]) for c in report["protected_changes"]] == [
        (reviewed, "unverified"),
        (titled, "unverified"),
        (plain, "unverified"),
    ]


def test_audit_of_the_whole_history_starts_at_the_first_commit(cli, registry):
    """From the zero commit, audit judges every commit from the registry's first, which has no
    parent: the state before it is empty."""
    registry.create_model_version("churn", "s3://churn/1")

    zeros = "0" * 40  # a push event's "before" for a new branch
    report = json.loads(cli.ok("audit", "--since", zeros, "--format", "json").stdout)

    assert (report["valid"], report["commits"]) == (True, 2)


def _violations(work: Path, start: str) -> list[tuple[str, int | None, str, str]]:
    report = json.loads(Cli(work).fails(1, "audit", "--since", start, "--format", "json").stdout)
    return [
        (v["commit"], v["finding"]["line"], v["finding"]["path"], v["finding"]["code"])
        for v in report["violations"]
    ]


def test_audit_judges_each_commit_by_the_trusted_policy_not_the_one_pushed(a, remote):
    """A pushed commit that breaks gitreg.yaml is a violation twice over (its syntax, and an
    unreviewed change to what judges), and the commits after it are judged by the policy
    trusted before it, not by a default: the champion move is still caught (#22)."""
    start = tip(remote)
    config = (a / "gitreg.yaml").read_text()
    broken = _push_files(a, {"gitreg.yaml": "policy: [oops: : :\n"}, "Break gitreg.yaml")
    moved = _hand_push(a, ("  champion: 1\n", "  champion: 2\n"), "Move champion")
    repaired = _push_files(a, {"gitreg.yaml": config}, "Repair gitreg.yaml")
    back = _hand_push(a, ("  champion: 2\n", "  champion: 1\n"), "Move champion back")

    found = [(commit, path, code) for commit, _, path, code in _violations(a, start)]

    assert found == [
        (broken, "gitreg.yaml", "PROTECTED_POLICY"),
        (broken, "gitreg.yaml", "YAML_SYNTAX"),
        (moved, "models/churn.yaml", "PROTECTED_ALIAS"),
        (repaired, "gitreg.yaml", "PROTECTED_POLICY"),
        (back, "models/churn.yaml", "PROTECTED_ALIAS"),
    ]


SPAM = """\
schema_version: 1
name: {name}
next_version: {next}
versions:
  - version: {version}
    source: s3://spam/{version}
    stage: None
"""


def test_audit_knows_the_names_before_the_range_and_forgets_deleted_ones(a, remote):
    """A file added in the range clashes with a model from before it; a model deleted in the
    range frees its spelling; and a commit's findings come in file and line order."""
    _push_files(a, {"models/spam.yaml": SPAM.format(name="spam", next=2, version=1)}, "Spam")
    start = tip(remote)
    clash = _push_files(
        a, {"models/CHURN.yaml": SPAM.format(name="CHURN", next=2, version=1)}, "Add CHURN"
    )
    git(a, "rm", "-q", "models/CHURN.yaml")
    retired = "schema_version: 1\nretired:\n  spam: {next_version: 2}\n  CHURN: {next_version: 2}\n"
    _push_files(a, {"models/spam.yaml": None, "models/.retired.yaml": retired}, "Retire spam")
    _push_files(a, {"models/Spam.yaml": SPAM.format(name="Spam", next=3, version=2)}, "Spam, again")
    dropped = _push_files(
        a, {"models/.retired.yaml": "retired: {other: {next_version: 1.5}}\n"}, "Drop spam"
    )

    found = _violations(a, start)

    assert found == [
        (clash, None, "models/CHURN.yaml", "NAME_CASE_CONFLICT"),
        (dropped, None, "models/.retired.yaml", "RETIREMENT_DROPPED"),
        (dropped, None, "models/.retired.yaml", "RETIREMENT_DROPPED"),
        (dropped, 1, "models/.retired.yaml", "NOT_AN_INTEGER"),
        (dropped, 1, "models/.retired.yaml", "SCHEMA"),
        (dropped, 1, "models/.retired.yaml", "SCHEMA"),
    ], "Spam reuses no number and clashes with no file: spam.yaml was deleted before it"


def test_audit_judges_a_manifest_turned_into_a_link_as_unreadable_not_deleted(a, remote):
    """Replacing churn.yaml by a link is one finding about the link, not a deleted model."""
    start = tip(remote)
    (a / "models" / "churn.yaml").unlink()
    (a / "models" / "churn.yaml").symlink_to("elsewhere.yaml")
    git(a, "add", "-A")
    git(a, "commit", "-qm", "Link churn")
    git(a, "push", "-q", "origin", "main")
    linked = head(a)

    assert _violations(a, start) == [(linked, None, "models/churn.yaml", "NOT_A_REGULAR_FILE")]


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p.symlink_to("churn.yaml"),
        lambda p: (p.write_text(SPAM.format(name="spam", next=5, version=1)), p.chmod(0o755)),
    ],
    ids=["link", "executable"],
)
def test_audit_judges_a_manifest_that_becomes_readable_as_new(a, remote, make):
    """What gitreg never read (a link, an executable file) is no model's past: once it is a
    regular file, it is judged as a model that arrives, not as an edit of what was there."""
    path = a / "models" / "spam.yaml"
    make(path)
    git(a, "add", "-A")
    git(a, "commit", "-qm", "Add spam, not as a regular file")
    git(a, "push", "-q", "origin", "main")
    start = tip(remote)
    path.unlink()
    _push_files(a, {"models/spam.yaml": SPAM.format(name="spam", next=3, version=2)}, "Fix spam")

    report = json.loads(Cli(a).ok("audit", "--since", start, "--format", "json").stdout)

    assert report["violations"] == []


def test_audit_sees_models_entries_as_validate_does(a, remote):
    """A name clashes only with what is directly in models/, as in ``gitreg validate``: not
    with gitreg.yaml, and not with a file inside a directory there (the directory itself is
    the stray entry)."""
    start = tip(remote)
    config = (a / "gitreg.yaml").read_text()
    edited = _push_files(a, {"gitreg.yaml": config + "# reviewed yearly\n"}, "Edit gitreg.yaml")
    _push_files(a, {"models/GITREG.yaml": SPAM.format(name="GITREG", next=2, version=1)}, "G")
    (a / "models" / "sub").mkdir()
    x, y = (SPAM.format(name=n, next=2, version=1) for n in "xy")
    nested = _push_files(a, {"models/sub/x.yaml": x, "models/sub/y.yaml": y}, "x and y")
    _push_files(a, {"models/X.yaml": SPAM.format(name="X", next=2, version=1)}, "X")
    drop = _push_files(a, {"models/sub/x.yaml": None}, "Drop x; y stays in models/sub")
    sub = _push_files(a, {"models/SUB.yaml": SPAM.format(name="SUB", next=2, version=1)}, "S")

    assert _violations(a, start) == [
        (edited, None, "gitreg.yaml", "PROTECTED_POLICY"),  # pushed without review (#22)
        (nested, None, "models/sub", "STRAY_FILE"),
        (drop, None, "models/sub", "STRAY_FILE"),
        (sub, None, "models/SUB.yaml", "NAME_CASE_CONFLICT"),
    ]


def test_audit_reports_a_push_that_deletes_gitreg_yaml(a, remote):
    """Deleting gitreg.yaml leaves the registry without its policy: a violation that says
    how to restore it."""
    start = tip(remote)
    config = (a / "gitreg.yaml").read_text()
    deleted = _push_files(a, {"gitreg.yaml": None}, "Delete gitreg.yaml")
    restored = _push_files(a, {"gitreg.yaml": config}, "Restore gitreg.yaml")

    report = json.loads(Cli(a).fails(1, "audit", "--since", start, "--format", "json").stdout)

    assert [(v["commit"], v["finding"]["code"]) for v in report["violations"]] == [
        (deleted, "CONFIG_MISSING"),
        (deleted, "PROTECTED_POLICY"),
        (restored, "PROTECTED_POLICY"),
    ]
    assert report["violations"][0]["finding"] == {
        "path": "gitreg.yaml",
        "line": None,
        "code": "CONFIG_MISSING",
        "message": "gitreg.yaml is missing; restore it (git checkout -- gitreg.yaml)",
    }
