"""Every reference in the README, docs/ and the files users copy leads somewhere (#16).

Relative links must name a file of this project (and a heading of it, for ``#anchor``);
``docs/...`` mentions anywhere must exist; and the workflow ``gitreg init`` writes, the
action and the pre-commit hook name the release tag of this gitreg (``v<version>``) or a
commit, never a tag that no release has (``@v1``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitreg.core.version import __version__
from gitreg.gate.scaffold import ACTION_REPOSITORY, WORKFLOW_TEXT

RELEASE = f"v{__version__}"

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MENTIONS = [
    *DOCUMENTS,
    ROOT / ".pre-commit-hooks.yaml",
    *sorted((ROOT / ".github").rglob("*.yml")),
    *sorted((ROOT / "gitreg").rglob("*.py")),
    *sorted((ROOT / "tests").rglob("*.py")),
]
LINK = re.compile(r"\]\(([^)\s]+)\)")
DOC_MENTION = re.compile(r"\bdocs/[\w./-]+\.md\b")
ACTION_PIN = re.compile(rf"{re.escape(ACTION_REPOSITORY)}/\.github/actions/validate@(\S+)")
HOOK_REV = re.compile(r"repo: https://github\.com/gitreg-dev/gitreg\n\s+rev: (\S+)")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text("utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # no headings inside code
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def test_the_slug_is_githubs():
    assert slug("The promotion gate: `gitreg validate`") == "the-promotion-gate-gitreg-validate"
    assert slug("MLflow's webhook API") == "mlflows-webhook-api"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_relative_link_resolves(document):
    for target in LINK.findall(document.read_text("utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto: ... are not this project's files
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        assert file.exists(), f"{document.name}: link to {target} leads nowhere"
        if anchor:
            assert anchor in anchors(file), f"{document.name}: no heading #{anchor} in {file.name}"


def test_every_docs_mention_exists():
    for source in MENTIONS:
        for mention in DOC_MENTION.findall(source.read_text("utf-8")):
            where = source.relative_to(ROOT)
            assert (ROOT / mention).is_file(), f"{where} mentions {mention}, which does not exist"


def test_the_action_and_the_hook_are_pinned_to_something_that_exists():
    """A release tag of this version or a commit: never a tag no release has (``@v1``)."""
    installs = re.findall(
        rf"git\+https://github\.com/{ACTION_REPOSITORY}@(\S+?)[}}\"]", WORKFLOW_TEXT
    )
    assert installs
    for ref in installs:
        assert re.fullmatch(r"[0-9a-f]{40}", ref) or ref == RELEASE, ref
    assert "@v1" not in WORKFLOW_TEXT
    assert (ROOT / ".github" / "actions" / "validate" / "action.yml").is_file()
    for document in DOCUMENTS:
        text = document.read_text("utf-8")
        for pin in ACTION_PIN.findall(text):
            assert pin == RELEASE or pin.startswith("<"), (
                f"{document.name} pins the action to {pin}"
            )
        for rev in HOOK_REV.findall(text):
            assert rev == RELEASE, f"{document.name} pins the hook to {rev}"
