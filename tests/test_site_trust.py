"""The catalog never renders an invalid manifest as valid, and marks what is unverified (#22).

``tests/_site.py``'s ``make_unverified_registry``: a verified tip (``refs/gitreg/verified``),
then a direct push of churn's version 2 to Production and an invalid hand-written manifest
(two versions in Production, an alias and a metric whose names are script). The pages are
read as files here; ``test_site_browser.py`` opens the same catalog in Chromium.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.site import build
from tests._helpers import Cli, git
from tests._site import BROKEN_ALIAS, BROKEN_DIR, BROKEN_NAME, make_unverified_registry
from tests.test_site import page


@pytest.fixture(scope="module")
def unverified(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("trust") / "registry"
    return root, make_unverified_registry(root)


@pytest.fixture(scope="module")
def site(unverified: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trust-out") / "site"
    Cli().ok("site", str(out), "--repo", str(unverified[0]))
    return out


def test_an_invalid_manifest_is_shown_as_invalid_with_its_finding(site):
    index = page(site, "index.html").words
    assert "Registered models 2" in index  # churn and fraud: the invalid one is not listed
    assert "Invalid manifests 1 gitreg reads no model whose manifest is invalid" in index
    assert f"{BROKEN_NAME} invalid unverified" in index
    assert f'{BROKEN_ALIAS}" does not match' in index  # its first finding, as text
    broken = page(site, f"models/{BROKEN_DIR}/index.html").words
    assert f"{BROKEN_NAME} invalid" in broken
    assert "shows none of its state" in broken
    assert "MULTIPLE_PRODUCTION : versions[1]: version 3 is in Production, but version 1" in broken
    assert BROKEN_ALIAS in broken  # as text inside its finding, never as an alias
    assert "Production: Version 1, Version 3" not in broken
    assert not (site / "models" / BROKEN_DIR / "v1.html").exists()
    assert not (site / "models" / BROKEN_DIR / "v3.html").exists()
    rows = json.loads(page(site, "index.html").scripts[0])["rows"]
    assert BROKEN_NAME not in [row[0] for row in rows]


def test_what_changed_after_the_verified_tip_is_marked_with_the_commit(site, unverified):
    root, verified = unverified
    short = verified[:10]
    index = page(site, "index.html")
    words = index.words
    assert f"verified tip {short}" in words  # in the header of every page
    assert f"Verified tip: commit {short} ( refs/gitreg/verified )" in words
    assert "2 models changed after it, marked unverified" in words  # churn, and the invalid
    rows = {row[0]: row for row in json.loads(index.scripts[0])["rows"]}
    assert rows["churn"][10] is True
    assert rows["fraud"][10] is False
    churn = page(site, "models/churn/index.html").words
    assert f"Changed after the verified tip, commit {short}" in churn
    assert "Not yet verified 2" in churn  # the push's two stage changes, with their commit
    pushed = git(root, "rev-parse", "HEAD~1").strip()[:10]
    assert f"version 2: None -> Production: {pushed}" in churn
    assert f"version 1: Production -> Archived: {pushed}" in churn
    fraud = page(site, "models/fraud/index.html").words
    assert "Changed after the verified tip" not in fraud
    assert "Not yet verified" not in fraud
    version = page(site, "models/churn/v2.html").words
    assert "None → Production" in version
    assert "unverified" in version


def test_the_build_says_so_and_json_counts_the_invalid(unverified, tmp_path):
    root, verified = unverified
    result = Cli().ok("site", str(tmp_path / "out"), "--repo", str(root), "--json")
    report = json.loads(result.stdout)["site"]
    assert (report["models"], report["invalid"]) == (2, 1)
    assert f"verified tip {verified[:12]}" in result.stderr
    assert "shown as invalid" in result.stderr


def test_at_the_verified_tip_nothing_is_marked(unverified, tmp_path):
    root, verified = unverified
    out = tmp_path / "out"
    build(Registry(root, verified=True), out)
    words = page(out, "index.html").words
    assert f"Verified tip: commit {verified[:10]}" in words
    assert "This catalog shows a state it already holds" in words
    for html in out.rglob("*.html"):
        assert 'class="badge unverified"' not in html.read_text(), html
    assert not (out / "models" / BROKEN_DIR).exists()


def test_without_a_verified_tip_nothing_is_marked(tmp_path):
    root = tmp_path / "registry"
    make_unverified_registry(root)
    git(root, "update-ref", "-d", "refs/gitreg/verified")
    out = tmp_path / "out"
    build(Registry(root), out)
    text = (out / "index.html").read_text()
    assert "Verified tip" not in text
    assert 'class="badge unverified"' not in text
    assert "Invalid manifests" in text  # invalid is invalid, verified tip or not
