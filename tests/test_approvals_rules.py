"""The pieces of #24 on their own: CODEOWNERS as the forges read it, the approvals note,
the members token, and what ``gitreg init`` says the forge still needs.

CODEOWNERS and notes are plain text here; the members token is checked against
``tests/_forge.py``, a real HTTP server on 127.0.0.1 STANDING IN FOR GITHUB, which answers
team membership only to the organization-reading token.
"""

from __future__ import annotations

import json

import pytest

from gitreg.core.approved import ApprovalRecord
from gitreg.core.codeowners import Owners, owners_of
from gitreg.integrations.forges import make_forge
from tests import _forge
from tests._helpers import Cli

GITHUB_OWNERS = b"""\
# Who must approve a change
*                       @acme/admins
/gitreg.yaml            @acme/admins
/models/                @acme/ml
/models/churn.yaml      @alice @acme/growth ml-lead@acme.example
/models/fraud*.yaml     @bob
notes/*                 @writer
/models/unowned.yaml
**/legacy/**            @archivist
"""


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        ("models/churn.yaml", Owners(("alice",), ("acme/growth",), ("ml-lead@acme.example",))),
        ("models/fraud-eu.yaml", Owners(("bob",))),
        ("models/other.yaml", Owners((), ("acme/ml",))),
        ("gitreg.yaml", Owners((), ("acme/admins",))),
        ("notes/guide.md", Owners(("writer",))),
        ("notes/deep/guide.md", Owners((), ("acme/admins",))),  # notes/* is one level
        ("models/unowned.yaml", Owners()),  # a line without owners: nobody owns it
        ("a/legacy/b/c.yaml", Owners(("archivist",))),
    ],
)
def test_the_last_matching_line_decides_as_github_reads_it(path, owners):
    assert owners_of(GITHUB_OWNERS, path) == owners


def test_gitlab_sections_each_add_their_owners():
    text = b"""\
/models/ @ml-team
[Compliance][2] @auditors
/models/churn.yaml
^[Optional]
/models/churn.yaml @dave
"""
    found = owners_of(text, "models/churn.yaml", gitlab=True)
    assert found == Owners(("ml-team", "auditors", "dave"))
    # GitHub reads the same file without sections: the section header is no pattern there.
    assert owners_of(text, "models/churn.yaml") == Owners(("dave",))


def test_a_hostile_codeowners_line_is_text_not_a_pattern():
    text = b"/models/(a|b).yaml @x\n/models/[abc].yaml @y\n"
    assert owners_of(text, "models/a.yaml") == Owners()
    assert owners_of(text, "models/(a|b).yaml") == Owners(("x",))


def test_an_approvals_note_round_trips_and_a_foreign_note_is_ignored():
    record = ApprovalRecord("c" * 40, 41, ("alice", "bob"), url="https://x/pull/41")
    assert ApprovalRecord.from_note("c" * 40, record.to_note()) == record
    for text in ("", "reviewed by alice", json.dumps({"pull_request": "41"}), "[]"):
        assert ApprovalRecord.from_note("c" * 40, text) is None
    assert ApprovalRecord.from_note("c" * 40, "x" * 70_000) is None


def test_team_membership_is_asked_with_the_members_token(monkeypatch):
    """The job's own token reads pull requests; the organization's teams answer only the
    members token."""
    with _forge.serving() as forge:
        forge.members_token = "org-reader"
        forge.teams["acme/ml-leads"] = {"dave"}
        settings = {"type": "github", "repository": "acme/registry", "api_url": forge.url}
        env = {"GITHUB_TOKEN": _forge.TOKEN, "GITREG_MEMBERS_TOKEN": "org-reader"}
        assert make_forge(settings, "", env).is_member("acme/ml-leads", "dave") is True
        assert make_forge(settings, "", env).is_member("acme/ml-leads", "erin") is False
        without = make_forge(settings, "", {"GITHUB_TOKEN": _forge.TOKEN})
        with pytest.raises(Exception, match="GitHub answered 401"):
            without.is_member("acme/ml-leads", "dave")


@pytest.mark.parametrize(
    ("forge", "said"),
    [
        ("github", "require the check 'validate registry' on main"),
        ("gitlab", "'Pipelines must succeed'"),
    ],
)
def test_init_names_the_one_setting_the_forge_still_needs(tmp_path, forge, said):
    result = Cli().ok("init", str(tmp_path / "r"), "--forge", forge, "--repository", "acme/r")
    assert said in result.stderr
    assert "docs/approvals.md" in result.stderr
    plain = Cli().ok("init", str(tmp_path / "plain"))
    assert "One " not in plain.stderr
