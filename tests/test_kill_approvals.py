"""Tests written for the surviving mutants of the approvals area (#24; docs/mutation.md).

A bare repository stands in for the registry on GitHub or GitLab; ``tests/_forge.py`` is a
real HTTP server on 127.0.0.1 STANDING IN FOR THE FORGE'S REST API (which pull request
produced which commit, its author, head, merge time and reviews). The helpers are those of
tests/test_approvals_audit.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import _forge
from tests import test_approvals_audit as approvals
from tests._helpers import Cli, git
from tests.test_trust_audit import clone, make_remote

NOTES = approvals.NOTES
FIELDS = (
    "commit",
    "pull_request",
    "approved_by",
    "forge",
    "url",
    "author",
    "head",
    "merged_at",
    "requirements",
)


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_a_second_record_of_the_same_merges_rewrites_no_note(tmp_path, monkeypatch, kind):
    """``gitreg audit --record`` run again over merges it already recorded (a re-run CI
    job) finds every note equal to what it would write (who opened the request, its head,
    when it merged, the forge, each rule's verdict): it writes no new notes commit and
    says only that the verified tip is already there."""
    monkeypatch.setenv("GITHUB_TOKEN", _forge.TOKEN)
    monkeypatch.setenv("GITLAB_TOKEN", _forge.TOKEN)
    with _forge.serving() as forge:
        remote = make_remote(
            tmp_path, approvals.FORGE.format(kind=kind, url=forge.url), approvals.RULES
        )
        a, b = clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")
        start = approvals.tip(remote)
        number = approvals.request(a, remote, forge, "alias", "churn", "champion", "2")
        forge.review(number, "bob", "APPROVED")
        merged = approvals.merge(b, forge, number)
        head = forge.pulls[number]["head"]
        first = approvals.audit(a, 0, "--since", start, "--record", "--bootstrap")
        notes = approvals.tip(remote, NOTES)

        again = approvals.audit(a, 0, "--since", start, "--record")

    [record] = first["approvals"]
    assert sorted(record) == sorted(FIELDS), "the --json shape scripts read"
    assert (record["commit"], record["forge"], record["author"]) == (merged, kind, "mallory")
    assert record["head"] == head
    assert record["merged_at"]
    assert [(r["requirement"], r["met"]) for r in record["requirements"]] == [("@champion", True)]
    assert first["recorded"].endswith(f"who approved 1 merge(s) kept in {NOTES}")
    note = json.loads(git(remote, "notes", f"--ref={NOTES}", "show", merged))
    assert note == {k: v for k, v in record.items() if k != "commit"}
    assert again["approvals"] == first["approvals"]
    assert (
        again["recorded"] == f"refs/gitreg/verified already at {merged[:12]} and pushed to origin"
    )
    assert approvals.tip(remote, NOTES) == notes, "no new notes commit"
    assert approvals.tip(a, NOTES) == notes


def history_of(tmp_path: Path, note: str) -> tuple[str, str, list[dict]]:
    """The seed's @champion commit with ``note`` as its approvals note (pushed by anyone who
    can push): (the commit, ``gitreg history churn``, its --json entries)."""
    remote = make_remote(tmp_path, "    type: none\n")
    work = clone(remote, tmp_path / "a")
    moved = approvals.tip(remote)  # the seed's last commit sets @champion
    git(work, "notes", f"--ref={NOTES}", "add", "-m", note, moved)
    text = Cli(work).ok("history", "churn").stdout
    entries = json.loads(Cli(work).ok("history", "churn", "--json").stdout)["history"]
    return moved, text, entries


def test_a_note_gitreg_wrote_shows_who_approved(tmp_path):
    """The control of the test below: a well-formed note is read back."""
    moved, text, entries = history_of(tmp_path, '{"pull_request": 1, "approved_by": ["alice"]}')

    assert "    approved by alice" in text
    assert {e["commit"]: e["approved_by"] for e in entries}[moved] == ["alice"]


@pytest.mark.parametrize(
    "note",
    [
        '{"pull_request": 1, "approved_by": "alice"}',  # a string is not a list of names
        '{"pull_request": "1", "approved_by": ["alice"]}',  # nor a quoted number a number
        '{"approved_by": ["alice"]}',  # no pull request
        '["alice"]',
        "approved by alice",
    ],
)
def test_a_note_gitreg_did_not_write_shows_nobody_approving(tmp_path, note):
    """Anyone who can push can push refs/notes/gitreg/approvals: a note on the commit that
    moved @champion that is not one gitreg writes is ignored, never read as approvals, in
    the text and the JSON of history."""
    moved, text, entries = history_of(tmp_path, note)

    assert moved[:10] in text
    assert "approved by" not in text
    assert {e["commit"]: e["approved_by"] for e in entries}[moved] is None
