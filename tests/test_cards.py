"""Model cards (#29): models/<name>.md, its sections, and the policy that can require them.

A card is Markdown with a small YAML front matter. ``validate`` checks it like any registry
file; the gate (``validate --base``, judged by the base's policy, and the audit) holds a
version entering a stage whose requirement names card sections to a card that has each
section with a visible character; an edit of the card of a model holding a protected fact
is a reviewed change. The repositories are real, the remote a bare repository standing in
for GitHub.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.card import parse_card
from gitreg.core.errors import InvalidManifest, PromotionPending, TransitionNotAllowed
from tests._helpers import Cli, git, head, snapshot
from tests._pr import CONFIG, commit, edit, make_base, write

CARD_REQUIRED = CONFIG.replace(
    '      metrics: ["f1 >= 0.88"]\n',
    '      metrics: ["f1 >= 0.88"]\n      card: [intended_use, limitations, evaluation]\n',
)
FULL_CARD = """\
---
owners: [alice, bob]
risk_level: high
intended_use: Rank accounts by churn risk for retention campaigns.
---
# Churn predictor

## Limitations

Not for credit or pricing decisions; trained on EU accounts only.

## Evaluation

### Offline
F1 0.93 on the November holdout.
"""
PROMOTE_3 = (
    "    stage: Staging\n",
    "    stage: Production\n    tags:\n      validation: passed\n",
)


def verdict(gate: Cli, *args: str, code: int) -> dict:
    result = gate.run("validate", "--base", "main", "--format", "json", *args)
    assert result.exit_code == code, result.stdout + result.stderr
    return json.loads(result.stdout)


def found(report: dict) -> list[tuple[str, str]]:
    return sorted((f["path"], f["code"]) for f in report["findings"])


def messages(report: dict) -> str:
    return "\n".join(f["message"] for f in report["findings"])


@pytest.fixture
def strict(tmp_path: Path) -> Path:
    """tests/_pr.py's registry whose base policy requires three card sections for Production
    (churn version 1 is there, carded), on branch ``pr``."""
    repo = make_base(tmp_path / "registry")
    git(repo, "switch", "-q", "main")
    write(repo, "gitreg.yaml", CARD_REQUIRED)
    write(repo, "models/churn.md", FULL_CARD)
    commit(repo, "Require model cards for Production; churn's card")
    git(repo, "branch", "-q", "-f", "pr", "main")
    git(repo, "switch", "-q", "pr")
    return repo


# ------------------------------------------------------------------------ the card


def test_sections_come_from_front_matter_fields_and_headings():
    card, findings = parse_card(FULL_CARD.encode(), "models/churn.md")
    assert findings == []
    assert card is not None
    assert card.owners == ("alice", "bob")
    assert card.risk_level == "high"
    assert card.unmet(["intended_use", "limitations", "evaluation"]) == []
    # A section runs to the next heading of its level: its subsections are its own.
    assert "F1 0.93" in card.sections["evaluation"]
    assert "EU accounts" not in card.sections["evaluation"]


def test_an_empty_or_invisible_section_is_no_section():
    text = (
        '---\nintended_use: "\\u200b \\u2060"\n---\n## Limitations\n\n'
        "## Evaluation\n```\n## not a heading\n```\n"
    )
    card, findings = parse_card(text.encode(), "models/x.md")
    assert findings == []
    assert card is not None
    unmet = card.unmet(["intended_use", "limitations", "evaluation", "owners_note"])
    assert unmet[0] == "card section intended_use is empty (no visible character)"
    assert unmet[1] == "card section limitations is empty (no visible character)"
    assert unmet[2].startswith("card section owners_note is missing")
    assert len(unmet) == 3  # a fenced block is text, and "## not a heading" no heading


@pytest.mark.parametrize(
    ("text", "line", "code", "words"),
    [
        (b"---\nowners: [alice\n---\nbody\n", 3, "CARD_SYNTAX", "YAML"),
        (b"---\nowners: [alice]\n", 1, "CARD_INVALID", "never closes"),
        (b"---\nrisk_level: extreme\n---\n", 2, "CARD_INVALID", "risk_level 'extreme'"),
        (b"---\nowners: {a: 1}\n---\n", 2, "CARD_INVALID", "owners must be a list"),
        (b"---\n- a\n---\n", 2, "CARD_INVALID", "must be a mapping"),
        (b"\xff\xfe body", None, "CARD_INVALID", "not UTF-8"),
        (b"x" * 300_000, None, "CARD_INVALID", "above gitreg's limit"),
        (
            b"---\na: &a [1]\nb: [*a, *a, *a]\nc: !!python/object:os.system x\n---\n",
            4,
            "CARD_SYNTAX",
            "",
        ),
    ],
)
def test_a_hostile_card_is_one_finding_with_its_line(text, line, code, words):
    _card, findings = parse_card(text, "models/x.md")
    assert [(f.line, f.code) for f in findings] == [(line, code)]
    assert words in findings[0].message
    assert findings[0].message.startswith("models/x.md")


# ------------------------------------------------------------------------- validate


def test_validate_accepts_a_card_beside_its_manifest_and_finds_one_without(strict):
    gate = Cli(strict)
    gate.ok("validate")
    write(strict, "models/ghost.md", FULL_CARD)
    write(strict, "models/fraud.md", "---\nrisk_level: [high]\n---\n")
    result = gate.fails(1, "validate", "--format", "json")
    report = json.loads(result.stdout)
    assert found(report) == [
        ("models/fraud.md", "CARD_INVALID"),
        ("models/ghost.md", "CARD_WITHOUT_MANIFEST"),
    ]
    assert "models/ghost.yaml does not exist" in messages(report)


def test_a_card_named_for_no_model_is_a_stray_file(strict):
    write(strict, "models/notes.MD", "hello")
    write(strict, "models/.hidden.md", "hello")
    report = json.loads(Cli(strict).fails(1, "validate", "--format", "json").stdout)
    assert found(report) == [
        ("models/.hidden.md", "STRAY_FILE"),
        ("models/notes.MD", "STRAY_FILE"),
    ]


# ----------------------------------------------------------- the gate: requirements


def test_entering_production_without_a_card_is_refused(strict):
    edit(strict, "models/fraud.yaml", "    stage: None\n", "    stage: Production\n")
    commit(strict, "fraud 1 to Production, with no card")
    report = verdict(Cli(strict), code=1)
    assert ("models/fraud.yaml", "REQUIREMENT_UNMET") in found(report)
    assert "a model card is required (models/fraud.md, with intended_use, limitations, " in (
        messages(report)
    )


def test_a_card_missing_a_section_is_refused_and_named(strict):
    edit(strict, "models/churn.yaml", *PROMOTE_3)
    edit(strict, "models/churn.yaml", "    stage: Production\n", "    stage: Archived\n")
    edit(strict, "models/churn.md", "## Evaluation\n", "## Evaluation notes\n")
    commit(strict, "churn 3 to Production, evaluation renamed away")
    report = verdict(Cli(strict), code=1)
    assert found(report) == [
        ("models/churn.md", "REQUIREMENT_UNMET"),  # the card of a Production model, edited
        ("models/churn.yaml", "REQUIREMENT_UNMET"),  # version 3 entering Production
    ]
    assert "version 3: Staging -> Production" in messages(report)
    assert "card section evaluation is missing" in messages(report)


def test_an_empty_section_is_refused(strict):
    edit(strict, "models/churn.yaml", *PROMOTE_3)
    edit(strict, "models/churn.yaml", "    stage: Production\n", "    stage: Archived\n")
    edit(
        strict,
        "models/churn.md",
        "Not for credit or pricing decisions; trained on EU accounts only.\n",
        "\u200b\n",
    )
    commit(strict, "churn 3 to Production with an invisible limitations section")
    report = verdict(Cli(strict), code=1)
    assert "card section limitations is empty (no visible character)" in messages(report)


def test_a_full_card_lets_the_version_in(strict):
    edit(strict, "models/churn.yaml", *PROMOTE_3)
    edit(strict, "models/churn.yaml", "    stage: Production\n", "    stage: Archived\n")
    commit(strict, "churn 3 to Production")
    assert verdict(Cli(strict), code=0)["findings"] == []


def test_a_head_that_drops_the_card_requirement_is_judged_by_the_base(strict):
    write(strict, "gitreg.yaml", CONFIG)  # no card requirement in the head
    edit(strict, "models/fraud.yaml", "    stage: None\n", "    stage: Production\n")
    commit(strict, "Drop the card requirement and promote fraud without a card")
    report = verdict(Cli(strict), code=1)
    assert ("models/fraud.yaml", "REQUIREMENT_UNMET") in found(report)


def test_deleting_a_model_leaves_no_card_behind(strict):
    (strict / "models" / "fraud.yaml").unlink()
    write(strict, "models/fraud.md", "---\nowners: [carol]\n---\n")
    git(strict, "add", "-A")
    git(strict, "commit", "-qm", "Delete fraud by hand, keep a card")
    report = verdict(Cli(strict), code=1)
    assert ("models/fraud.md", "CARD_WITHOUT_MANIFEST") in found(report)


def test_an_unreviewed_edit_of_a_protected_models_card_is_a_protected_change(strict):
    edit(strict, "models/churn.md", "F1 0.93", "F1 0.95")
    commit(strict, "Edit churn's card")
    pushed = verdict(Cli(strict), "--push", code=1)
    assert found(pushed) == [("models/churn.md", "PROTECTED_CARD")]
    assert messages(pushed).startswith("churn: model card models/churn.md edited while it holds")
    assert verdict(Cli(strict), code=0)["findings"] == []  # a pull request is the review
    write(strict, "models/fraud.md", "---\nowners: [carol]\n---\n")
    commit(strict, "fraud holds nothing protected: its card is a plain change")
    assert found(verdict(Cli(strict), "--push", code=1)) == [("models/churn.md", "PROTECTED_CARD")]


# ---------------------------------------------------------------------- the core


def test_the_core_refuses_a_transition_the_card_does_not_allow(strict):
    git(strict, "switch", "-q", "main")
    reg = Registry(strict)
    reg.set_tags("fraud", {"validation": "passed"}, 1)
    with pytest.raises(TransitionNotAllowed, match=r"a model card is required \(models/fraud.md"):
        reg.transition_model_version_stage("fraud", 1, "Production")
    reg.set_model_card("fraud", FULL_CARD.replace("## Limitations", "## Caveats"))
    with pytest.raises(TransitionNotAllowed, match="card section limitations is missing"):
        reg.transition_model_version_stage("fraud", 1, "Production")
    before = head(strict)
    reg.set_model_card("fraud", FULL_CARD)
    assert head(strict) != before
    # fraud's version 1 has no f1 metric: the other requirements still speak
    with pytest.raises(TransitionNotAllowed, match="metric f1 is required"):
        reg.transition_model_version_stage("fraud", 1, "Production")


def test_a_card_that_does_not_parse_is_refused_before_any_commit(strict):
    git(strict, "switch", "-q", "main")
    before = snapshot(strict)
    result = Cli(strict).fails(1, "card", "churn", "--edit", "-", input="---\nowners: [\n---\n")
    assert result.stderr.count("\n") == 1
    assert "models/churn.md:3: CARD_SYNTAX" in result.stderr
    assert snapshot(strict) == before
    with pytest.raises(InvalidManifest):
        Registry(strict).set_model_card("churn", "---\nrisk_level: 7\n---\n")


def test_rename_and_delete_carry_the_card(registry, registry_repo):
    registry.create_model_version("churn", "s3://c/1")
    registry.set_model_card("churn", FULL_CARD)
    registry.rename_registered_model("churn", "churn-predictor")
    assert not (registry_repo / "models" / "churn.md").exists()
    assert (registry_repo / "models" / "churn-predictor.md").read_text() == FULL_CARD
    assert registry.get_model_card("churn-predictor").owners == ("alice", "bob")
    Cli(registry_repo).ok("validate")
    registry.delete_registered_model("churn-predictor")
    assert not (registry_repo / "models" / "churn-predictor.md").exists()
    Cli(registry_repo).ok("validate")


def test_on_a_remote_the_card_of_a_protected_model_is_a_request(tmp_path, bare_remote):
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare_remote), str(work))
    reg = Registry(work)
    reg.create_model_version("fraud", "s3://f/1")
    reg.set_model_card("fraud", FULL_CARD)  # nothing protected yet: a plain pushed commit
    assert git(bare_remote, "show", "main:models/fraud.md") == FULL_CARD
    with pytest.raises(PromotionPending):
        reg.transition_model_version_stage("fraud", 1, "Production")
    # Merge the promotion request as a reviewer would, then edit the card.
    git(bare_remote, "update-ref", "refs/heads/main", "refs/heads/gitreg/fraud/v1-production")
    git(work, "pull", "-q", "--ff-only")
    main_before = git(bare_remote, "rev-parse", "main")
    with pytest.raises(PromotionPending) as pending:
        reg.set_model_card("fraud", FULL_CARD + "\nMore notes.\n")
    assert pending.value.branch == "gitreg/fraud/card"
    assert git(bare_remote, "rev-parse", "main") == main_before
    shown = git(bare_remote, "show", "gitreg/fraud/card:models/fraud.md")
    assert shown.endswith("More notes.\n")


def test_cli_card_shows_and_writes(cli, registry, tmp_path):
    registry.create_model_version("churn", "s3://c/1")
    cli.ok("card", "churn")  # no card yet: a note, exit 0
    source = tmp_path / "card.md"
    source.write_text(FULL_CARD)
    cli.ok("card", "churn", "--edit", str(source))
    shown = cli.ok("card", "churn").stdout
    assert "Owners: alice, bob" in shown
    assert "## Limitations" in shown
    data = json.loads(cli.ok("card", "churn", "--json").stdout)["card"]
    assert data["risk_level"] == "high"
    assert "evaluation" in data["sections"]
    cli.fails(1, "card", "nope")
    cli.fails(2, "card", "churn", "--edit", str(tmp_path / "missing.md"))
    cli.ok("card", "churn", "--delete")
    assert json.loads(cli.ok("card", "churn", "--json").stdout) == {"card": None}


def test_the_audit_flags_a_direct_push_to_a_protected_models_card(tmp_path, bare_remote):
    """A push around the gate: the audit names the card edit, which no forge confirmed."""
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare_remote), str(work))
    write(work, "models/churn.yaml", CHURN_IN_PRODUCTION)
    write(work, "models/churn.md", FULL_CARD)
    write(work, "models/fraud.yaml", FRAUD_PLAIN)
    commit(work, "A registry with churn in Production")
    git(work, "push", "-q", "origin", "main")
    old = head(work)
    edit(work, "models/churn.md", "F1 0.93", "F1 0.99")
    write(work, "models/fraud.md", "---\nowners: [carol]\n---\n")
    commit(work, "Direct push: rewrite churn's evaluation, card fraud")
    git(work, "push", "-q", "origin", "main")
    result = Cli(work).run("audit", "--since", old, "--format", "json")
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    flagged = [(v["finding"]["path"], v["finding"]["code"]) for v in report["violations"]]
    assert flagged == [("models/churn.md", "UNVERIFIED")]
    assert (
        "model card models/churn.md edited while it holds version 1 in Production"
        in (report["violations"][0]["finding"]["message"])
    )


CHURN_IN_PRODUCTION = """\
schema_version: 1
name: churn
next_version: 2
versions:
  - version: 1
    source: s3://churn/1
    stage: Production
    created_at: "2026-11-01T10:00:00Z"
"""
FRAUD_PLAIN = """\
schema_version: 1
name: fraud
next_version: 2
versions:
  - version: 1
    source: s3://fraud/1
    stage: None
    created_at: "2026-11-01T10:00:00Z"
"""
