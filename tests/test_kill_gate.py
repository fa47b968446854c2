"""The gate's trust code (#22, #23), pinned where mutation testing found it unpinned.

Each test here kills surviving mutants of ``scripts/mutation gate`` (docs/mutation.md) by
asserting what a user of ``gitreg validate --base`` or ``gitreg audit`` relies on: which
policy judges, what the refusal says, which hand edits of what judges the registry are
violations. Real git throughout: registries in temporary repositories, commits made as a
person or a pusher would make them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gitreg.core.config import DEFAULT_CONFIG_TEXT
from gitreg.gate.scaffold import init_registry
from tests import _forge
from tests import test_trust_audit as trust_audit
from tests._helpers import Cli, git, head
from tests._pr import CONFIG, FRAUD, commit, edit, make_base, write

CHAMPION_TO_3 = ("  champion: 1", "  champion: 3")


def validate_base(root: Path, code: int) -> dict:
    result = Cli(root).run("validate", "--base", "main", "--format", "json")
    assert result.exit_code == code, result.stdout + result.stderr
    return json.loads(result.stdout)


def audit(root: Path, code: int, *args: str) -> dict:
    result = Cli(root).run("audit", *args, "--format", "json")
    assert result.exit_code == code, result.stdout + result.stderr
    return json.loads(result.stdout)


def violations(report: dict) -> list[tuple[str, str]]:
    return sorted((v["finding"]["path"], v["finding"]["code"]) for v in report["violations"])


# ----------------------------------------------------------------- the base policy


def test_a_base_policy_that_breaks_the_schema_is_named_with_its_line_and_fix(tmp_path):
    """validate --base on a base whose gitreg.yaml breaks the schema refuses the change and
    quotes the schema finding as validate prints it: file, line, what and the fix."""
    root = make_base(tmp_path / "r")
    git(root, "switch", "-q", "main")
    edit(
        root,
        "gitreg.yaml",
        "    Production:\n      tags",
        "    Staging: null\n    Production:\n      tags",
    )
    commit(root, "Staging: null")
    git(root, "switch", "-q", "pr")
    git(root, "merge", "-q", "main")
    edit(root, "models/churn.yaml", *CHAMPION_TO_3)
    commit(root, "Move @champion")
    line = (root / "gitreg.yaml").read_text().splitlines().index("    Staging: null") + 1

    (refusal,) = validate_base(root, 1)["findings"]

    assert refusal["code"] == "BASE_POLICY_INVALID"
    assert (
        f"its gitreg.yaml is invalid (gitreg.yaml:{line}: SCHEMA: policy.requirements.Staging: "
        "None is not of type 'object'; change the value's type), and an invalid policy "
        "allows nothing"
    ) in refusal["message"]


def test_a_base_with_only_models_gitkeep_is_a_repository_becoming_a_registry(tmp_path):
    """A models/ directory holding only .gitkeep is no registry yet: the change that brings
    gitreg.yaml and a first model is judged by the policy gitreg init writes (not refused
    as a registry without a gitreg.yaml)."""
    root = tmp_path / "plain"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, "models/.gitkeep", "")
    write(root, "README.md", "A plain repository.\n")
    commit(root, "Plain, with an empty models/")
    git(root, "switch", "-q", "-c", "pr")
    write(root, "gitreg.yaml", DEFAULT_CONFIG_TEXT)
    write(root, "models/fraud.yaml", FRAUD)
    commit(root, "Become a registry")

    report = validate_base(root, 0)

    assert [n["code"] for n in report["notes"]] == ["BASE_POLICY_DEFAULT"]
    assert report["notes"][0]["message"] == (
        f"the base main ({git(root, 'rev-parse', 'main').strip()[:12]}) has no gitreg.yaml "
        "and no model: this change makes it a registry, judged by the policy gitreg init writes"
    )


def symlinked_policy_base(tmp_path: Path) -> tuple[Path, str]:
    """main: the strict policy, then gitreg.yaml replaced by a symbolic link whose target
    names a permissive policy in YAML's flow style ('{schema_version: 1}', a legal file
    name). Returns the repository (on branch pr, off main) and the strict policy's commit."""
    root = make_base(tmp_path / "r")
    git(root, "switch", "-q", "main")
    strict = head(root)
    os.unlink(root / "gitreg.yaml")
    os.symlink("{schema_version: 1}", root / "gitreg.yaml")
    commit(root, "gitreg.yaml becomes a link")
    git(root, "switch", "-q", "-C", "pr")
    os.unlink(root / "gitreg.yaml")
    write(root, "gitreg.yaml", CONFIG)
    return root, strict


def test_a_repair_of_a_linked_base_policy_is_judged_by_the_last_regular_one(tmp_path):
    """A symbolic link is never a policy, whatever its target reads as: the pull request
    that makes gitreg.yaml a regular file again is judged by the last valid regular
    gitreg.yaml in the base's history, and the note says the base's is a link."""
    root, strict = symlinked_policy_base(tmp_path)
    commit(root, "Repair gitreg.yaml")
    base = git(root, "rev-parse", "main").strip()

    report = validate_base(root, 0)

    assert report["notes"] == [
        {
            "path": "gitreg.yaml",
            "line": None,
            "code": "BASE_POLICY_REPAIRED",
            "message": (
                f"the base main ({base[:12]}) has an invalid gitreg.yaml (gitreg.yaml is a "
                "symbolic link, not a regular file; gitreg reads only regular files (git mode "
                "100644) there); this change repairs it and is judged by the last valid "
                f"policy, gitreg.yaml at {strict[:12]}"
            ),
        }
    ]


def test_a_linked_base_policy_refuses_a_champion_move(tmp_path):
    """A base whose gitreg.yaml is a link cannot judge: a pull request that moves @champion
    is refused, and the refusal says the file is a link (not that it is missing)."""
    root, strict = symlinked_policy_base(tmp_path)
    git(root, "checkout", "-q", "main", "--", "gitreg.yaml")
    git(root, "restore", "-q", "--staged", "gitreg.yaml")
    os.unlink(root / "gitreg.yaml")
    write(root, "gitreg.yaml", CONFIG)  # the work tree must hold a registry to validate
    edit(root, "models/churn.yaml", *CHAMPION_TO_3)
    commit(root, "Repair gitreg.yaml and move @champion at once")

    (refusal,) = validate_base(root, 1)["findings"]

    assert refusal["code"] == "BASE_POLICY_INVALID"
    assert (
        "its gitreg.yaml is invalid (gitreg.yaml is a symbolic link, not a regular"
        in (refusal["message"])
    )
    assert refusal["message"].endswith(
        f"(it is judged by the last valid policy, gitreg.yaml at {strict[:12]})"
    )


def test_an_audit_from_a_linked_policy_says_the_file_is_a_link(tmp_path):
    """An audit whose trusted start has gitreg.yaml as a symbolic link judges nothing as
    allowed, and its problem says the file is a link (not that it is missing)."""
    root, _ = symlinked_policy_base(tmp_path)
    git(root, "switch", "-q", "main")
    start = head(root)

    report = audit(root, 1, "--since", start)

    assert [f["message"] for f in report["problems"]] == [
        f"the trusted gitreg.yaml at {start[:12]} cannot judge (gitreg.yaml is a symbolic "
        "link, not a regular file; gitreg reads only regular files (git mode 100644) there); "
        "nothing is judged as allowed until it is fixed: fix gitreg.yaml first, in a reviewed "
        "pull request of its own (it is judged by the last valid policy, gitreg.yaml at "
        f"{git(root, 'rev-parse', 'main~1').strip()[:12]})"
    ]


# ------------------------------------------------------------ the retirement record

RETIRED = """\
schema_version: 1
retired:
  eggs:
    next_version: 2
    reason: deleted
  spam:
    next_version: 3
    retired_by: alice
    reason: deleted
"""
SPAM = "  spam:\n    next_version: 3\n"


@pytest.mark.parametrize(
    ("old", "new", "found"),
    [
        pytest.param(
            "    reason: deleted\n", "    reason: renamed to churn\n", [], id="first-reason"
        ),
        pytest.param(
            "    retired_by: alice\n    reason: deleted\n",
            "    retired_by: alice\n    reason: renamed to churn\n",
            [],
            id="second-reason",
        ),
        pytest.param(
            SPAM, "  spam:\n    next_version: 2\n", ["RETIREMENT_DROPPED"], id="lower-number"
        ),
        pytest.param("retired_by: alice", "retired_by: mallory", [], id="who-retired"),
    ],
)
def test_a_hand_edit_that_rewrites_a_retired_entry_is_unverified(tmp_path, old, new, found):
    """models/.retired.yaml may change without review only by growing. Rewriting any entry
    (its reason, which decides whether a renamed model may take the name back; who retired
    it; a lower number), the first or a later one, is a change to what judges: without a
    forge to confirm review, the audit reports it UNVERIFIED and exits 1."""
    root = tmp_path / "r"
    init_registry(root)
    write(root, "models/.retired.yaml", RETIRED)
    commit(root, "Retire eggs and spam")
    since = head(root)
    edit(root, "models/.retired.yaml", old, new)
    commit(root, "Rewrite the record")

    report = audit(root, 1, "--since", since)

    expected = [("models/.retired.yaml", code) for code in [*found, "UNVERIFIED"]]
    assert violations(report) == expected
    assert [(c["path"], c["code"], c["status"]) for c in report["protected_changes"]] == [
        ("models/.retired.yaml", "PROTECTED_POLICY", "unverified")
    ]


def test_a_hand_edit_that_raises_a_retired_number_only_grows_the_record(tmp_path):
    """Raising an entry's number (the same reason) only makes numbering more careful: the
    audit accepts it without review."""
    root = tmp_path / "r"
    init_registry(root)
    write(root, "models/.retired.yaml", RETIRED)
    commit(root, "Retire eggs and spam")
    since = head(root)
    edit(root, "models/.retired.yaml", SPAM, "  spam:\n    next_version: 7\n")
    commit(root, "Spam used up to 6")

    report = audit(root, 0, "--since", since)

    assert report["violations"] == []
    assert report["protected_changes"] == []


# ------------------------------------------------------------------ the evidence


def test_a_registrys_first_commit_says_why_its_protected_change_is_unverified(tmp_path):
    """The first audit of a repository becoming a registry judges the whole history
    (``--since`` the zero commit, as the workflow gitreg init writes does on its first
    run): the commit that brings gitreg.yaml and a Production version is judged by no
    gitreg.yaml at all, so its protected change is UNVERIFIED, and the message says no
    forge could be asked because the registry was empty (no gitreg.yaml named one)."""
    root = tmp_path / "plain"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, "README.md", "A plain repository.\n")
    commit(root, "Plain")
    write(root, "gitreg.yaml", DEFAULT_CONFIG_TEXT)
    write(root, "models/fraud.yaml", FRAUD.replace("stage: None", "stage: Production"))
    commit(root, "Become a registry")
    founded = head(root)

    (violation,) = audit(root, 1, "--since", "0" * 40)["violations"]

    assert violation["commit"] == founded
    assert violation["finding"]["message"] == (
        "fraud: version 1: None -> Production: a protected change that no forge confirmed "
        "came from a merged pull request (registry.forge is none in the empty registry, so no "
        "forge can confirm a merged pull request (a merge commit's title is not evidence); set "
        "registry.forge to github or gitlab in a reviewed change); review it, then revert it "
        f"or acknowledge it (gitreg audit --record --acknowledge {founded[:12]} --reason TEXT)"
    )


def test_a_forge_moved_by_a_reviewed_change_is_the_one_asked_from_then_on(tmp_path, monkeypatch):
    """A reviewed pull request moves registry.forge.api_url to a new server (GitHub
    Enterprise after a migration, say); the next protected change is confirmed by the new
    server only. The audit asks each commit's forge of the gitreg.yaml trusted for it: the
    old forge for the move, the new one after it (and reads who approved each from it), and
    passes. Two real HTTP servers on 127.0.0.1 stand in for the two GitHub API origins."""
    monkeypatch.setenv("GITHUB_TOKEN", _forge.TOKEN)
    with _forge.serving() as old_forge, _forge.serving() as new_forge:
        remote = trust_audit.make_remote(tmp_path, trust_audit.FORGE.format(url=old_forge.url))
        work = trust_audit.clone(remote, tmp_path / "a")
        since = trust_audit.tip(remote)
        moved = trust_audit.merged(
            work,
            "move",
            "Merge pull request #4 from acme/move",
            "gitreg.yaml",
            (f"api_url: {old_forge.url}", f"api_url: {new_forge.url}"),
        )
        trust_audit.confirm(old_forge, 4, moved)
        champion = trust_audit.merged(
            work,
            "champion",
            "Merge pull request #5 from acme/champion",
            "models/churn.yaml",
            trust_audit.CHAMPION_2,
        )
        trust_audit.confirm(new_forge, 5, champion)

        report = trust_audit.audit(work, 0, "--since", since)

    assert [(c["commit"], c["status"], c["evidence"]) for c in report["protected_changes"]] == [
        (moved, "verified", "merged pull request #4 (GitHub)"),
        (champion, "verified", "merged pull request #5 (GitHub)"),
    ]
    assert report["trusted"] == moved, "the gitreg.yaml that moved the forge judges now"
    # who approved each merge (#24) is read from the same forge that confirmed it
    assert [(r["commit"], r["pull_request"], r["approved_by"]) for r in report["approvals"]] == [
        (moved, 4, ["bob"]),
        (champion, 5, ["bob"]),
    ]
    assert not [n for n in report["notes"] if "could not be read" in n]


def test_a_forge_that_cannot_be_built_is_named_as_users_know_it(tmp_path, monkeypatch):
    """registry.forge is github but no token is set: the protected change is UNVERIFIED,
    and the evidence names GitHub (as every other forge answer does), then why and the fix."""
    for name in ("GITHUB_TOKEN", "GITREG_TOKEN", "GITHUB_ACTIONS", "GITLAB_CI"):
        monkeypatch.delenv(name, raising=False)
    with _forge.serving() as forge:
        remote = trust_audit.make_remote(tmp_path, trust_audit.FORGE.format(url=forge.url))
        work = trust_audit.clone(remote, tmp_path / "a")
        since = trust_audit.tip(remote)
        moved = trust_audit.push(work, "Move champion", "models/churn.yaml", trust_audit.CHAMPION_2)

        report = trust_audit.audit(work, 1, "--since", since)

    (checked,) = report["protected_changes"]
    assert (checked["commit"], checked["status"]) == (moved, "unverified")
    assert checked["evidence"].startswith("GitHub could not be asked: ")
    assert "set GITHUB_TOKEN or GITREG_TOKEN" in checked["evidence"]
