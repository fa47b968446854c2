"""The catalog in a real browser (#14): headless Chromium opens it from file:// and over --serve.

Debian's ``chromium`` (installed by .ci/run) is driven by Playwright from PyPI through
``executable_path``; no browser is ever downloaded. The registry is the one of
``tests/_site.py``: merged promotion pull requests, alias moves, a rollback, an open
request, and a hostile manifest whose payloads would set ``window.__pwned``, change the
title or open a dialog if any of them ran.

Set GITREG_UPDATE_SCREENSHOTS=1 to refresh the README's screenshots in docs/images/.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.site import build, builder
from tests._helpers import git
from tests._site import (
    BROKEN_ALIAS,
    BROKEN_NAME,
    HOSTILE_ALIAS,
    HOSTILE_NAME,
    PAYLOADS,
    make_registry,
    make_unverified_registry,
)

CHROMIUM = Path(os.environ.get("GITREG_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"


def _require_browser() -> None:
    """Skip, saying why, where there is no Chromium; fail where CI promised one."""
    why = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        why = "playwright is not installed (pip install -e '.[test]')"
    if why is None and not CHROMIUM.is_file():
        why = f"no Chromium at {CHROMIUM} (.ci/run installs Debian's; or set GITREG_CHROMIUM)"
    if why is None:
        return
    if os.environ.get("GITREG_REQUIRE_BROWSER"):
        pytest.fail(f"the browser tests must run here: {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def registry_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser") / "registry"
    make_registry(root)
    return root


@pytest.fixture(scope="module")
def site(registry_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalog, with its index split into one-model data files so they load too."""
    out = tmp_path_factory.mktemp("site") / "out"
    saved = builder.FIRST_PAGE, builder.CHUNK
    builder.FIRST_PAGE, builder.CHUNK = 1, 1
    try:
        build(Registry(registry_root), out)
    finally:
        builder.FIRST_PAGE, builder.CHUNK = saved
    return out


class Watch:
    """A page, and everything on it that would show that a payload ran."""

    def __init__(self, browser) -> None:
        self.context = browser.new_context(viewport={"width": 1100, "height": 720})
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def nothing_ran(self) -> None:
        assert self.page.evaluate("typeof window.__pwned") == "undefined"
        assert self.page.title() != "pwned"  # what the script payload would set
        assert self.dialogs == []
        assert self.errors == []

    def rows(self) -> list[str]:
        return self.page.locator("#models tbody tr td.name a").all_inner_texts()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watch(browser) -> Iterator[Watch]:
    w = Watch(browser)
    yield w
    w.close()


def _shot(watch: Watch, tmp_path: Path, name: str) -> None:
    """Save a screenshot beside the test, and for the README when asked to."""
    path = tmp_path / f"{name}.png"
    watch.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000
    if os.environ.get("GITREG_UPDATE_SCREENSHOTS"):
        IMAGES.mkdir(parents=True, exist_ok=True)
        watch.page.screenshot(path=str(IMAGES / f"site-{name}.png"), full_page=True)


def test_browse_from_file_filter_and_follow_links_to_a_model_and_a_version(watch, site, tmp_path):
    page = watch.page
    page.goto((site / "index.html").as_uri())
    status = page.locator("#status")
    status.get_by_text("3 of 3 models").wait_for()  # all three data files have loaded
    assert watch.rows() == ["churn-predictor", "fraud", HOSTILE_NAME]
    row = page.locator("#models tbody tr", has_text="churn-predictor")
    assert "@champion -> 1" in row.inner_text()
    assert "team=growth" in row.inner_text()
    assert page.locator("#models tbody tr", has_text="fraud").locator(".badge.pending").count() == 1
    requests = page.locator("section.requests").inner_text()
    assert "version 1 -> Production" in requests
    assert "gitreg/fraud/v1-production" in requests
    page.locator("#filter").press_sequentially("team=")
    assert watch.rows() == ["churn-predictor", "fraud"]
    _shot(watch, tmp_path, "index")

    page.locator("#filter").fill("")
    page.locator("#filter").press_sequentially("team=growth")
    assert watch.rows() == ["churn-predictor"]
    # Not MLflow's grammar (no attribute "team"): matched as words, and the status says why.
    assert status.inner_text().startswith("1 of 3 models match these words (not an MLflow filter")
    page.locator("#filter").fill("@champion")
    assert watch.rows() == ["churn-predictor"]
    page.locator("#filter").fill("fra")
    assert watch.rows() == ["fraud"]
    page.locator("#filter").fill("")
    page.get_by_role("button", name="Latest version").click()
    page.get_by_role("button", name="Latest version").click()
    assert watch.rows()[-1] == "churn-predictor"  # ascending: version 2 is the latest last
    page.locator("#filter").fill("churn")

    page.locator("#models").get_by_role("link", name="churn-predictor", exact=True).click()
    page.wait_for_url(re.compile(r"/models/churn-predictor/index\.html$"))
    assert page.locator("h1").inner_text() == "churn-predictor"
    timeline = page.locator("figure.timeline svg")
    assert timeline.get_attribute("role") == "img"
    labels = timeline.locator("text").evaluate_all("els => els.map(e => e.textContent)")
    assert {"Versions", "Production", "@champion"} <= set(labels)
    assert [t for t in labels if "#" in t] == ["v1 #1", "v2 #2", "v1 \u21ba #3"]
    pulls = [timeline.locator("a").nth(i).get_attribute("href") for i in range(3)]
    assert pulls == [f"https://github.com/acme/registry/pull/{n}" for n in (1, 2, 3)]
    assert "30-day churn" in page.locator("section.description").inner_text()
    _shot(watch, tmp_path, "model")

    page.locator("table.versions").get_by_role("link", name="Version 2").click()
    page.wait_for_url(re.compile(r"/models/churn-predictor/v2\.html$"))
    lineage = page.locator("dl.lineage").inner_text()
    assert "bbb222" in lineage
    assert "s3://artifacts/churn/2" in lineage
    assert "pull request #2" in lineage
    run = page.get_by_role("link", name="open the run")
    assert run.get_attribute("href") == "https://mlflow.example/#/experiments/0/runs/bbb222"
    metrics = page.locator("table.diff").first.inner_text()
    assert "changed (+0.03)" in metrics
    _shot(watch, tmp_path, "version")
    watch.nothing_ran()


def test_a_hostile_manifest_renders_as_text_and_runs_nothing(watch, site):
    page = watch.page
    page.goto((site / "index.html").as_uri())
    page.locator("#status").get_by_text("3 of 3 models").wait_for()
    page.locator("#filter").fill("pwned")  # the hostile tags and alias, from a data file
    assert watch.rows() == [HOSTILE_NAME]
    assert f"@{HOSTILE_ALIAS} -> 1" in page.locator("#models tbody").inner_text()
    watch.nothing_ran()
    page.locator("#models").get_by_role("link", name=HOSTILE_NAME, exact=True).click()
    page.wait_for_url(re.compile(r"/models/hostile%20[^/]+/index\.html$"))
    assert page.locator("h1").inner_text() == HOSTILE_NAME
    text = page.locator("main").inner_text()
    for payload in PAYLOADS.values():
        assert payload in text
    assert "<script>window.__pwned = 'description'</script>" in text
    assert page.locator("main img, main iframe, main script").count() == 0
    links = page.locator("main a").evaluate_all(
        "els => els.map(a => new URL(a.getAttribute('href'), location.href).protocol)"
    )
    assert set(links) <= {"file:", "https:"}
    page.locator("table.versions").get_by_role("link", name="Version 1", exact=True).click()
    page.wait_for_url(re.compile(r"/models/hostile%20[^/]+/v1\.html$"))
    assert PAYLOADS["close"] in page.locator("dl.lineage").inner_text()
    watch.nothing_ran()


def test_serve_shows_the_catalog_on_localhost(watch, registry_root, tmp_path):
    out = tmp_path / "served"
    command = [sys.executable, "-m", "gitreg", "site", str(out), "--repo", str(registry_root)]
    with subprocess.Popen(
        [*command, "--serve", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url), url
            page = watch.page
            page.goto(url)
            assert watch.rows() == ["churn-predictor", "fraud", HOSTILE_NAME]
            page.locator("#filter").fill("risk")
            assert watch.rows() == ["fraud"]
            page.locator("#models").get_by_role("link", name="fraud", exact=True).click()
            page.wait_for_url(url + "models/fraud/index.html")
            assert "Open requests" in page.locator("main").inner_text()
            assert watch.context.request.get(url + "models/").status == 404  # no listings
            watch.nothing_ran()
        finally:
            server.terminate()
            server.wait(timeout=10)


# ------------------------------------------------- invalid manifests and the verified tip (#22)


@pytest.fixture(scope="module")
def unverified_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """tests/_site.py's make_unverified_registry, its index split into one-row data files
    so the script draws the rows too."""
    root = tmp_path_factory.mktemp("unverified") / "registry"
    verified = make_unverified_registry(root)
    out = tmp_path_factory.mktemp("unverified-site") / "out"
    saved = builder.FIRST_PAGE, builder.CHUNK
    builder.FIRST_PAGE, builder.CHUNK = 1, 1
    try:
        build(Registry(root), out)
    finally:
        builder.FIRST_PAGE, builder.CHUNK = saved
    return root, out, verified


def test_an_invalid_manifest_shows_as_invalid_and_runs_nothing(watch, unverified_site, tmp_path):
    _root, out, _verified = unverified_site
    page = watch.page
    page.goto((out / "index.html").as_uri())
    page.locator("#status").get_by_text("2 of 2 models").wait_for()
    assert watch.rows() == ["churn", "fraud"], "an invalid model was listed as if valid"
    invalid = page.locator("#invalid-models")
    assert "Invalid manifests" in invalid.inner_text()
    assert f'{BROKEN_ALIAS}" does not match' in invalid.inner_text()
    assert invalid.locator(".badge.invalid").count() == 1
    _shot(watch, tmp_path, "invalid-index")
    invalid.get_by_role("link", name=BROKEN_NAME, exact=True).click()
    page.wait_for_url(re.compile(r"/models/broken%20[^/]+/index\.html$"))
    assert page.locator("h1").inner_text().startswith(BROKEN_NAME)
    main = page.locator("main").inner_text()
    assert "shows none of its state" in main
    assert "MULTIPLE_PRODUCTION" in main
    assert "version 3 is in Production, but version 1 already is" in main
    assert page.locator("table.versions, .stage-production, figure.timeline").count() == 0
    assert page.locator("main img, main script").count() == 0
    watch.nothing_ran()


def test_what_is_newer_than_the_verified_tip_is_marked(watch, unverified_site, tmp_path):
    root, out, verified = unverified_site
    page = watch.page
    page.goto((out / "index.html").as_uri())
    page.locator("#status").get_by_text("2 of 2 models").wait_for()
    banner = page.locator("#verified-tip").inner_text()
    assert f"Verified tip: commit {verified[:10]}" in banner
    assert "changed after it" in banner
    assert verified[:10] in page.locator("header.top").inner_text()
    churn = page.locator("#models tbody tr", has_text="churn")
    fraud = page.locator("#models tbody tr", has_text="fraud")
    assert churn.locator(".badge.unverified").count() == 1  # drawn by the script (a data file)
    assert verified[:10] in churn.locator(".badge.unverified").get_attribute("title")
    assert fraud.locator(".badge.unverified").count() == 0
    page.locator("#models").get_by_role("link", name="churn", exact=True).click()
    page.wait_for_url(re.compile(r"/models/churn/index\.html$"))
    note = page.locator("#unverified").inner_text()
    assert f"Changed after the verified tip, commit {verified[:10]}" in note
    pushed = git(root, "rev-parse", "HEAD~1").strip()[:10]
    listed = page.locator("section.since-verified li").all_inner_texts()
    assert [item.split(":")[0] for item in listed] == ["version 1", "version 2"]
    assert all(pushed in item for item in listed)
    _shot(watch, tmp_path, "unverified-model")
    page.goto((out / "models" / "fraud" / "index.html").as_uri())
    assert page.locator("#unverified, section.since-verified").count() == 0
    watch.nothing_ran()
