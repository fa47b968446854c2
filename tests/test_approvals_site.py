"""The catalog shows who approved each protected change (issue 24), in a real browser too.

The registry is real git: churn's version 1 enters Production and @champion through a
merge commit (as GitHub's merge button makes), and the approvals the audit found are the
git notes ``gitreg audit --record`` writes (``store.verified.record_approvals``; the audit
that writes them is tested in test_approvals_audit.py). One approver's name is markup, as
a forge could return any text: the page shows it as text. Headless Chromium opens the
built site from file:// (skipped without Chromium unless GITREG_REQUIRE_BROWSER is set).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.approved import ApprovalRecord
from gitreg.gate.scaffold import init_registry
from gitreg.site import build
from gitreg.store import verified
from tests._helpers import git, head
from tests.test_site_browser import CHROMIUM, FLAGS, _require_browser

SNEAKY = "<img src=x onerror=window.__pwned=1>"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("approved") / "registry"
    init_registry(root)
    registry = Registry(root)
    registry.create_model_version("churn", "s3://churn/1")
    git(root, "switch", "-q", "-c", "promote")
    registry.transition_model_version_stage("churn", 1, "Production")
    registry.set_registered_model_alias("churn", "champion", 1)
    git(root, "switch", "-q", "main")
    git(root, "merge", "-q", "--no-ff", "promote", "-m", "Merge pull request #1 from acme/promote")
    merged = head(root)
    verified.record_approvals(root, [ApprovalRecord(merged, 1, ("alice", SNEAKY))])
    out = root.parent / "site"
    build(Registry(root), out)
    return out


def test_the_version_page_names_the_approvers_as_text(site):
    page = (site / "models" / "churn" / "v1.html").read_text()
    assert 'approved by <span class="approved">alice, &lt;img src=x' in page
    assert SNEAKY not in page


def test_the_timeline_names_the_approvers(site):
    page = (site / "models" / "churn" / "index.html").read_text()
    assert "(pull request #1), approved by alice, &lt;img" in page


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


def test_a_reader_sees_who_approved_on_the_version_page_and_the_timeline(browser, site):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto((site / "models" / "churn" / "index.html").as_uri())
        bar = page.locator("figure.timeline g.bar").first
        title = bar.locator("title").text_content()
        assert "version 1 is Production" in title
        assert f"approved by alice, {SNEAKY}" in title  # SVG text: shown, never parsed
        page.goto((site / "models" / "churn" / "v1.html").as_uri())
        changes = page.locator("ol.changes").inner_text()
        assert f"approved by alice, {SNEAKY}" in changes
        assert page.locator("span.approved").count() == 2  # the lineage and the stage change
        assert page.evaluate("typeof window.__pwned") == "undefined"
    finally:
        context.close()
