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

from tests._helpers import Cli, git, head
from tests._pr import CONFIG, commit, edit, make_base, write

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
