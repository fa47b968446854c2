"""The catalog's second round in headless Chromium (#29): the model card, comments and pull
request conversations, versions compared, metric trends (hover shows the value), the search
(and that it agrees with ``gitreg models --filter`` on a table of filters), and each state
badge: pending, stale, invalid, unverified.

Flags, browser and helpers are tests/test_site_browser.py's. The registry is
tests/_site.py's with more on top: a model card merged on main, comments pushed to the
remote's comments ref, two more versions with metrics, a promotion request made stale by
the branch moving on, and a pending alias request. A screenshot of each view is kept in
``tests/.artifacts/site/`` (gitignored; GITREG_TEST_ARTIFACTS names another directory).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import PromotionPending
from gitreg.site import build, builder
from tests._helpers import Cli, git
from tests._site import make_registry, make_unverified_registry
from tests.test_site_browser import Watch, browser  # noqa: F401 - the browser fixture

ARTIFACTS = (
    Path(os.environ.get("GITREG_TEST_ARTIFACTS") or Path(__file__).resolve().parent / ".artifacts")
    / "site"
)
CARD = """\
---
owners: [alice, bob]
risk_level: high
intended_use: Rank accounts by churn risk for retention campaigns.
---
## Limitations

Not for **credit** decisions. <script>window.__pwned = 'card'</script>

## Evaluation

F1 0.94 on the November holdout.
"""


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The registry of the module docstring (its remote is a bare repository beside it)."""
    root = tmp_path_factory.mktemp("rich") / "registry"
    reg = make_registry(root)
    (root / "models" / "churn-predictor.md").write_text(CARD)
    git(root, "add", "models/churn-predictor.md")
    git(root, "commit", "-qm", "Merge pull request #4: churn's model card")
    git(root, "push", "-q", "origin", "main")
    reg.create_comment("churn-predictor", 2, "Latency doubled on the EU shard.", notify=False)
    reg.create_comment("churn-predictor", 2, "Fixed by the cache **warm-up**.", notify=False)
    reg.create_model_version("churn-predictor", "s3://models/churn/3", metrics={"f1": 0.92})
    reg.create_model_version(
        "churn-predictor", "s3://models/churn/4", metrics={"f1": 0.96, "auc": 0.98}
    )
    reg.create_model_version("fraud", "s3://models/fraud/2")
    manifest = root / "models" / "fraud.yaml"  # fraud 2 reaches Production on main, so the
    text = manifest.read_text()  # open request for version 1 no longer applies: stale
    manifest.write_text(text.replace("stage: None", "stage: Production", 1))
    git(root, "commit", "-qam", "Merge pull request #5: fraud version 2 to Production")
    git(root, "push", "-q", "origin", "main")
    with pytest.raises(PromotionPending):
        reg.set_registered_model_alias("churn-predictor", "champion", 4)
    return root


@pytest.fixture(scope="module")
def site(rich: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rich-site") / "out"
    saved = builder.FIRST_PAGE, builder.CHUNK
    builder.FIRST_PAGE, builder.CHUNK = 1, 1  # the rows come from data files, drawn by script
    try:
        build(Registry(rich), out)
    finally:
        builder.FIRST_PAGE, builder.CHUNK = saved
    return out


@pytest.fixture
def watch(browser):  # noqa: F811 - the browser fixture imported above
    w = Watch(browser)
    yield w
    w.close()


def shot(watch: Watch, name: str) -> None:
    """Keep a screenshot of the view as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    watch.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000


def open_index(watch: Watch, site: Path) -> None:
    watch.page.goto((site / "index.html").as_uri())
    watch.page.locator("#status").get_by_text("3 of 3 models").wait_for()


# --------------------------------------------------------------------- the card


def test_the_model_card_is_on_the_model_page(watch, site):
    page = watch.page
    page.goto((site / "models/churn-predictor/index.html").as_uri())
    card = page.locator("section#card")
    text = card.inner_text()
    assert "Owners\nalice, bob" in text
    assert card.locator(".risk-high").inner_text() == "high"
    assert "Rank accounts by churn risk for retention campaigns." in text
    assert card.locator("strong").inner_text() == "credit"  # Markdown, rendered
    assert "<script>window.__pwned = 'card'</script>" in text  # raw HTML stays text
    assert page.locator("main script").count() == 0
    shot(watch, "card")
    watch.nothing_ran()


# ------------------------------------------------------------------ comments


def test_comments_and_the_requests_conversation_are_on_the_version_page(watch, site):
    page = watch.page
    page.goto((site / "models/churn-predictor/v2.html").as_uri())
    comments = page.locator("section#comments li.comment")
    assert comments.count() == 2
    assert "Latency doubled on the EU shard." in comments.nth(0).inner_text()
    assert "Alice Example" in comments.nth(0).inner_text()
    assert comments.nth(1).locator(".markdown strong").inner_text() == "warm-up"
    assert page.locator("section#comments .count").inner_text() == "2"
    threads = page.locator("section.thread h2").all_inner_texts()
    assert threads == ["Conversation on pull request #3", "Conversation on pull request #2"]
    assert "gitreg.yaml names no forge" in page.locator("section.thread").first.inner_text()
    shot(watch, "comments")
    page.goto((site / "models/fraud/v1.html").as_uri())
    assert "No comments yet." in page.locator("section#comments").inner_text()
    watch.nothing_ran()


# ----------------------------------------------------------------- comparison


def test_versions_are_compared_side_by_side(watch, site):
    page = watch.page
    page.goto((site / "models/churn-predictor/index.html").as_uri())
    for number in (4, 1):
        page.get_by_label(f"compare version {number}").check()
    page.locator("#compare-selected").click()
    page.wait_for_url(re.compile(r"/compare\.html\?m=churn-predictor&v=4&v=1$"))
    table = page.locator("table.compare")
    table.wait_for()
    headers = table.locator("thead th").all_inner_texts()
    assert headers == ["", "Version 4", "Version 1"]
    rows = {
        r.split("\t")[0]: r.split("\t")[1:] for r in table.locator("tbody tr").all_inner_texts()
    }
    assert rows["Stage"] == ["None", "Production"]
    assert rows["Source"] == ["s3://models/churn/4", "runs:/aaa111/model"]
    assert rows["metric f1"] == ["0.96", "0.91 (-0.05)"]
    assert rows["metric auc"] == ["0.98", "\u2014"]
    assert "#1" in rows["Stage history"][1]
    added = page.locator("pre.diff-lines .added").all_inner_texts()
    assert "+ source: runs:/aaa111/model\n" in added
    shot(watch, "compare")
    page.locator("#pick-versions").fill("2, 9")
    page.locator("#pick button").click()
    page.wait_for_url(re.compile(r"\?m=churn-predictor&v=2&v=9$"))
    assert "has no version 9" in page.locator("#compare-status").inner_text()
    watch.nothing_ran()


def test_a_model_of_many_versions_loads_only_the_files_it_compares(watch, tmp_path):
    root = tmp_path / "registry"
    from gitreg.gate.scaffold import init_registry
    from gitreg.site import compare

    init_registry(root)
    reg = Registry(root)
    count = compare.CHUNK * 2 + 10
    for number in range(1, 4):
        reg.create_model_version("big", f"s3://big/{number}", metrics={"f1": number / 10})
    manifest = root / "models" / "big.yaml"
    lines = manifest.read_text().split("versions:\n")[0] + "versions:\n"
    lines = lines.replace("next_version: 4", f"next_version: {count + 1}")
    lines += "".join(
        f"  - version: {n}\n    source: s3://big/{n}\n    stage: None\n"
        f"    metrics:\n      f1: {n / count:.4f}\n"
        for n in range(1, count + 1)
    )
    manifest.write_text(lines)
    git(root, "commit", "-qam", "Many versions")
    out = tmp_path / "out"
    build(Registry(root), out)
    assert (out / "models/big/data/versions-2.js").is_file()
    loaded: list[str] = []
    watch.page.on("request", lambda r: loaded.append(r.url.rsplit("/", 1)[-1]))
    watch.page.goto((out / "compare.html").as_uri() + f"?m=big&v=1&v={count}")
    watch.page.locator("table.compare").wait_for()
    assert sorted(f for f in loaded if f.startswith("versions-")) == [
        "versions-0.js",
        "versions-2.js",
    ]
    watch.nothing_ran()


# --------------------------------------------------------------------- trends


def test_a_metric_trend_shows_value_and_version_on_hover(watch, site):
    page = watch.page
    page.goto((site / "models/churn-predictor/index.html").as_uri())
    charts = page.locator("section#trends figure.trend")
    assert charts.locator("figcaption strong").all_inner_texts() == ["f1", "auc"]
    f1 = charts.nth(0)
    assert f1.locator("circle.point").count() == 4
    assert f1.locator("circle.point.stage-production").count() == 1
    assert f1.locator("circle.point.served").count() == 1  # version 2: Production, then not
    tip = page.locator("#trend-tip")
    assert tip.is_hidden()
    f1.locator("circle.point").nth(3).hover()
    assert tip.is_visible()
    assert tip.inner_text().startswith("version 4: f1 = 0.96 \u00b7 None")
    f1.locator("circle.point").nth(1).hover()
    assert tip.inner_text().startswith("version 2: f1 = 0.94 \u00b7 Archived")
    assert "Production" in tip.inner_text()  # its stage history
    shot(watch, "trends")
    f1.locator("circle.point").nth(1).click()
    page.wait_for_url(re.compile(r"/models/churn-predictor/v2\.html$"))
    watch.nothing_ran()


# --------------------------------------------------------------------- search


def test_search_finds_descriptions_cards_and_mlflow_filters(watch, site):
    open_index(watch, site)
    page, status = watch.page, watch.page.locator("#status")
    page.locator("#filter").fill("30-day churn")  # the description
    assert watch.rows() == ["churn-predictor"]
    page.locator("#filter").fill("retention campaigns")  # the model card
    assert watch.rows() == ["churn-predictor"]
    page.locator("#filter").fill("tags.team = 'growth' and name LIKE 'churn%'")
    assert watch.rows() == ["churn-predictor"]
    assert status.inner_text() == "1 of 3 models match the MLflow filter"
    page.locator("#filter").fill("name = churn")
    assert "not an MLflow filter" in status.inner_text()
    assert status.get_attribute("data-mode") == "invalid"
    shot(watch, "search")
    watch.nothing_ran()


FILTERS = [
    "name = 'fraud'",
    "name != 'fraud'",
    "name LIKE 'churn%'",
    "name ILIKE 'CHURN%'",
    "name LIKE '%e%'",
    "name LIKE '_raud'",
    "name IN ('fraud', 'churn-predictor')",
    "name IN ('fraud',)",
    "attribute.name = 'fraud'",
    "tags.team = 'growth'",
    "tags.team != 'growth'",
    "tags.team LIKE 'r%'",
    "tags.`team` = 'risk'",
    'tags."team" = "risk"',
    "tags.priority ILIKE 'CRIT%'",
    "tags.team = 'growth' and name LIKE 'churn%'",
    "tags.team = 'growth' AND name = 'fraud'",
    "tags.note LIKE '%<script>%'",
    "name = 'it''s'",
    "name = 'fraud' OR name = 'x'",
    "name = fraud",
    "team = 'growth'",
    "name LIKE",
    "tags.team IN ('growth')",
    "name IN ()",
    "name = 'a' AND",
    "tags. = 'x'",
    "name = 'unterminated",
]


def test_the_page_and_the_cli_agree_on_a_table_of_filters(watch, site, rich):
    open_index(watch, site)
    page, status = watch.page, watch.page.locator("#status")
    for expression in FILTERS:
        result = Cli(rich).run("models", "--filter", expression, "--max-results", "1000", "--json")
        page.locator("#filter").fill(expression)
        mode = status.get_attribute("data-mode")
        if result.exit_code == 2:
            assert mode == "invalid", f"{expression!r}: the CLI refuses it, the page did not"
            continue
        assert result.exit_code == 0, result.stderr
        cli_names = sorted(m["name"] for m in json.loads(result.stdout)["registered_models"])
        assert mode == "filter", f"{expression!r}: the CLI accepts it, the page did not"
        assert sorted(watch.rows()) == cli_names, expression
    watch.nothing_ran()


# ---------------------------------------------------------------------- badges


def test_pending_and_stale_requests_are_told_apart(watch, site):
    open_index(watch, site)
    page = watch.page
    requests = page.locator("section.requests li")
    texts = requests.all_inner_texts()
    stale = [t for t in texts if "fraud" in t]
    pending = [t for t in texts if "champion" in t]
    assert stale[0].startswith("stale")
    assert pending[0].startswith("pending")
    fraud = page.locator("#models tbody tr", has_text="fraud")
    assert fraud.locator(".badge.stale").count() == 1
    assert fraud.locator(".badge.pending").count() == 0
    churn = page.locator("#models tbody tr", has_text="churn-predictor")
    assert churn.locator(".badge.pending").count() == 1
    shot(watch, "badges-requests")
    page.goto((site / "models/fraud/index.html").as_uri())
    assert page.locator("section.requests .badge.stale").count() == 1
    watch.nothing_ran()


def test_invalid_and_unverified_badges(watch, tmp_path):
    root = tmp_path / "registry"
    make_unverified_registry(root)
    out = tmp_path / "out"
    build(Registry(root), out)
    page = watch.page
    page.goto((out / "index.html").as_uri())
    assert page.locator("#invalid-models .badge.invalid").count() == 1
    churn = page.locator("#models tbody tr", has_text="churn")
    assert churn.locator(".badge.unverified").count() == 1
    shot(watch, "badges-state")
    page.goto((out / "compare.html").as_uri() + "?m=churn&v=1&v=2")
    page.locator("table.compare").wait_for()
    assert page.locator("h1 .badge.unverified").is_visible()  # the comparison says so too
    page.goto((out / "compare.html").as_uri() + "?m=fraud&v=1")
    page.locator("#compare-name").get_by_text("fraud").wait_for()
    assert page.locator("h1 .badge.unverified").is_hidden()
    watch.nothing_ran()


@pytest.mark.parametrize("model", ["..", "../../elsewhere", "a/b", "%2e%2e", ""])
def test_the_comparison_loads_nothing_outside_models(watch, site, model):
    """A crafted address cannot make the page load a script from another directory of the
    host (on GitHub Pages, another project of the same owner is the same origin)."""
    requested: list[str] = []
    watch.page.on("request", lambda r: requested.append(r.url))
    from urllib.parse import quote

    watch.page.goto((site / "compare.html").as_uri() + f"?m={quote(model, safe='')}&v=1&v=2")
    watch.page.wait_for_timeout(200)
    site_url = site.as_uri() + "/"
    scripts = [u for u in requested if u.endswith(".js")]
    assert scripts, "the page's own scripts were not seen"
    for url in scripts:
        inside = url.removeprefix(site_url)
        if inside in ("data/build.js", "static/compare.js"):
            continue
        # at most a model's first data file, one directory below models/ (a 404 here)
        assert re.fullmatch(r"models/[^/]+/data/versions-0\.js", inside), url
        assert inside.split("/")[1] not in ("", ".", ".."), url
    watch.nothing_ran()
