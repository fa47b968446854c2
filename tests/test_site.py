"""The catalog (``gitreg site``, #14) as files: what each page says, what it never does.

The registry has a real history (``tests/_site.py``): promotions merged as pull requests, alias
moves, a rollback, an open request on a bare remote, and a hand-written hostile manifest.
The browser's view of the same site is in ``test_site_browser.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.core.config import Config
from gitreg.core.entities import ModelVersion
from gitreg.gate.scaffold import PAGES_JOBS, WORKFLOW_TEXT, enable_pages
from gitreg.site import build, builder
from gitreg.site.links import Linker
from gitreg.site.output import MARKER
from tests._helpers import Cli, git, snapshot
from tests._site import HOSTILE_ALIAS, HOSTILE_DIR, HOSTILE_NAME, PAYLOADS, make_registry


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The registry of tests/_site.py (built once: its history takes a few seconds)."""
    root = tmp_path_factory.mktemp("site") / "registry"
    make_registry(root)
    return root


@pytest.fixture(scope="module")
def site(history: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "site"
    Cli().ok("site", str(out), "--repo", str(history))
    return out


class _Page(HTMLParser):
    """Tags, attributes and text of a page, as a browser's parser splits them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.text).append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def page(site: Path, path: str) -> _Page:
    return _Page((site / path).read_text("utf-8"))


def test_the_cli_writes_an_index_a_page_per_model_and_per_version(history, tmp_path):
    out = tmp_path / "out"
    result = Cli().ok("site", str(out), "--repo", str(history))
    assert result.stdout.strip() == (out / "index.html").resolve().as_uri()
    # Pages: the index, the comparison, and per model its page and a page per version.
    assert "Wrote the catalog of 3 models (4 versions): 9 pages" in result.stderr
    expected = {
        "index.html",
        "static/site.css",
        "static/site.js",
        "static/filter.js",
        "static/model.js",
        "static/compare.js",
        "data/build.js",
        "compare.html",
        "api/models.json",
        MARKER,
    }
    for stem, versions in (("churn-predictor", (1, 2)), ("fraud", (1,)), (HOSTILE_DIR, (1,))):
        expected |= {
            f"models/{stem}/index.html",
            f"models/{stem}/data/versions-0.js",
            f"api/models/{stem}.json",
            *(f"models/{stem}/v{n}.html" for n in versions),
        }
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == expected
    report = json.loads(Cli().ok("site", str(out), "--repo", str(history), "--json").stdout)
    assert report["site"]["models"] == 3
    assert report["site"]["pages"] == 9


def test_the_index_has_mlflows_model_list_columns_and_the_open_request(site):
    index = page(site, "index.html")
    words = index.words
    assert "Registered models 3" in words
    headers = ["Name", "Latest version", "Aliases", "Staging", "Production", "Created by"]
    assert " ".join(headers) + " Last modified Tags" in words
    assert "churn-predictor Version 2 @champion -> 1 Version 1 Alice Example" in words
    assert "team=growth priority=critical" in words
    assert "fraud pending Version 1 Version 1 Alice Example" in words
    assert "Open requests 1 pending fraud : version 1 -> Production" in words
    assert "branch gitreg/fraud/v1-production" in words


def test_the_model_page_draws_the_timeline_with_pull_requests_and_the_rollback(site):
    model = page(site, "models/churn-predictor/index.html")
    svg = [attrs for tag, attrs in model.tags if tag == "svg" and "aria-labelledby" in attrs]
    assert len(svg) == 1  # the timeline (the metric trends are the others)
    assert svg[0]["role"] == "img"
    labels = [t.strip() for t in model.text if t.strip()]
    for lane in ("Versions", "Production", "@champion"):
        assert lane in labels
    bars = [t for t in labels if re.match(r"^v\d", t)]  # Production, @champion, then marks
    timeline = ["v1 #1", "v2 #2", "v1 \u21ba #3", "v1", "v2", "v1 \u21ba", "v1", "v2"]
    assert bars[: len(timeline)] == timeline
    assert bars[len(timeline) :] == ["v1", "v2", "v2"]  # the trends' axes: f1 (v1, v2), auc
    pulls = [a["href"] for tag, a in model.tags if tag == "a" and "/pull/" in (a.get("href") or "")]
    assert pulls == [f"https://github.com/acme/registry/pull/{n}" for n in (1, 2, 3)]
    words = model.words
    assert "Predicts 30-day churn from account activity." in words
    assert "a rollback: version 1 held Production before" in words  # the bar's tooltip
    assert "@champion -> 1" in words
    row = "Version 2 Archived s3://models/churn/2 bbb222 f1=0.94 auc=0.97 validation=passed"
    assert row in words


def test_the_version_page_shows_its_lineage_and_what_changed(site, history):
    version = page(site, "models/churn-predictor/v2.html")
    words = version.words
    hrefs = [a.get("href") for tag, a in version.tags if tag == "a"]
    assert "https://mlflow.example/#/experiments/0/runs/bbb222" in hrefs
    assert "https://github.com/acme/registry/pull/2" in hrefs
    registered = git(
        history, "log", "--format=%H", "-1", "--grep=Register churn-predictor version 2"
    )
    assert f"https://github.com/acme/registry/commit/{registered.strip()}" in hrefs
    assert "Source s3://models/churn/2 Storage location s3://artifacts/churn/2" in words
    assert "Promoted to Production in commit" in words
    assert "f1 0.91 0.94 changed (+0.03)" in words
    assert "auc — 0.97 added" in words
    assert "validation — passed added" in words
    assert "None → Production" in words
    assert "Production → Archived" in words


def _own_script(attrs: dict[str, str | None]) -> bool:
    src = attrs.get("src") or ""
    ours = ("static/site.js", "static/filter.js", "static/model.js", "static/compare.js")
    return src.endswith((*ours, "data/build.js")) or attrs.get("type") == "application/json"


def test_nothing_a_manifest_says_becomes_markup(site):
    """Every page: no script but ours, no event handler, no link that is not http(s)."""
    for path in sorted(site.rglob("*.html")):
        parsed = _Page(path.read_text("utf-8"))
        for tag, attrs in parsed.tags:
            where = f"{path.relative_to(site)}: <{tag} {attrs}>"
            assert tag not in ("img", "iframe", "object", "embed", "b", "i"), where
            assert not any(name.startswith("on") for name in attrs), where
            if tag == "script":
                assert _own_script(attrs), where
            href = attrs.get("href") or ""
            assert not re.match(r"^\s*(javascript|data|vbscript):", href, re.I), where
    hostile = page(site, f"models/{HOSTILE_DIR}/index.html").words
    assert HOSTILE_NAME in hostile
    for payload in PAYLOADS.values():
        assert " ".join(payload.split()) in hostile
    assert f"@{HOSTILE_ALIAS}" in hostile
    assert "[click me](javascript:window.__pwned='link')" in hostile


def test_data_in_a_page_or_a_script_file_cannot_end_the_script(history, tmp_path, monkeypatch):
    """Inline JSON and the index's data files escape <, >, & and U+2028/2029 (#14)."""
    monkeypatch.setattr(builder, "FIRST_PAGE", 1)
    monkeypatch.setattr(builder, "CHUNK", 1)
    out = tmp_path / "out"
    build(Registry(history), out)
    index = page(out, "index.html")
    [inline] = index.scripts
    raw = [(out / f"data/models-{i}.js").read_text("utf-8") for i in (0, 1)]
    for text in [inline, *raw]:
        for bad in ("<", ">", "&", "\u2028", "\u2029"):
            assert bad not in text
    data = json.loads(inline)
    assert data["chunks"] == ["data/models-0.js", "data/models-1.js"]
    assert [row[0] for row in data["rows"]] == ["churn-predictor"]
    call = re.fullmatch(r"gitregChunk\(1,(.*)\);\n", raw[1], re.S)
    assert call is not None
    [row] = json.loads(call[1])
    assert row[0] == HOSTILE_NAME
    assert row[9] == quote(HOSTILE_DIR, safe="")
    assert dict(map(tuple, row[7]))["close"] == PAYLOADS["close"]
    assert dict(map(tuple, row[7]))["separators"] == "line\u2028para\u2029end"
    assert row[2] == [[HOSTILE_ALIAS, 1]]


def test_a_rebuild_replaces_what_it_wrote_and_keeps_what_you_added(history, tmp_path):
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(history), str(work))
    out = tmp_path / "out"
    Cli().ok("site", str(out), "--repo", str(work))
    (out / "CNAME").write_text("models.example.com\n")
    Registry(work, push=False).delete_registered_model("fraud")
    Cli().ok("site", str(out), "--repo", str(work))
    assert not (out / "models" / "fraud").exists()
    assert (out / "models" / "churn-predictor" / "v2.html").is_file()
    assert (out / "CNAME").read_text() == "models.example.com\n"


def test_at_builds_the_catalog_of_an_earlier_commit(history, tmp_path):
    before_rollback = git(history, "log", "--format=%H", "-1", "--grep=Merge pull request #2")
    out = tmp_path / "out"
    Cli().ok("site", str(out), "--repo", str(history), "--at", before_rollback.strip())
    words = page(out, "models/churn-predictor/index.html").words
    assert "Version 2 Production" in words
    assert not (out / "models" / HOSTILE_DIR).exists()
    assert "v1 \u21ba" not in words


@pytest.mark.parametrize("where", ["registry", "parent", "git", "foreign", "file"])
def test_an_outdir_gitreg_must_not_write_is_refused_and_nothing_changes(history, tmp_path, where):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep\n")
    (tmp_path / "a-file").write_text("keep\n")
    target = {
        "registry": history,
        "parent": history.parent,
        "git": history / ".git" / "site",
        "foreign": foreign,
        "file": tmp_path / "a-file",
    }[where]
    before = snapshot(history)
    result = Cli().fails(2, "site", str(target), "--repo", str(history))
    assert len(result.stderr.strip().splitlines()) == 1
    assert "OUTDIR" in result.stderr
    assert snapshot(history) == before
    assert (foreign / "notes.txt").read_text() == "keep\n"
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert not (history / ".git" / "site").exists()


def test_a_bad_base_url_is_a_command_line_mistake(history, tmp_path):
    result = Cli().fails(
        2, "site", str(tmp_path / "o"), "--repo", str(history), "--base-url", "javascript:x"
    )
    assert "http:// or https://" in result.stderr
    assert not (tmp_path / "o").exists()


def test_base_url_gives_every_page_its_canonical_address(history, tmp_path):
    out = tmp_path / "out"
    Cli().ok(
        "site", str(out), "--repo", str(history), "--base-url", "https://acme.github.io/registry"
    )
    version = page(out, "models/fraud/v1.html")
    [canonical] = [
        a["href"] for t, a in version.tags if t == "link" and a.get("rel") == "canonical"
    ]
    assert canonical == "https://acme.github.io/registry/models/fraud/v1.html"


def test_progress_is_reported_once_per_model(history, tmp_path):
    seen: list[tuple[int, int]] = []
    report = build(Registry(history), tmp_path / "out", progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert report.versions == 4


def test_a_progress_bar_is_drawn_on_a_terminal(history, tmp_path):
    """The bar is for people: on a terminal (a pty here) it is drawn, in a pipe it is not."""
    pty = pytest.importorskip("pty", reason="pseudo-terminals are POSIX-only")
    import os

    out = tmp_path / "out"
    main, secondary = pty.openpty()
    args = [sys.executable, "-m", "gitreg", "site", str(out), "--repo", str(history)]
    proc = subprocess.run(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary, check=False
    )
    os.close(secondary)
    drawn = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(main)
    assert proc.returncode == 0
    assert b"Building the catalog" in drawn
    piped = subprocess.run(args, capture_output=True, check=False)
    assert b"Building the catalog" not in piped.stderr


def test_serve_on_a_busy_port_is_one_clear_line(history, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = Cli().fails(
            1, "site", str(tmp_path / "o"), "--repo", str(history), "--serve", str(port)
        )
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr


# ------------------------------------------------------------------------------ links


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("javascript:alert(1)//{run_id}", "must be an http:// or https:// URL"),
        ("https://{run_id}.example/", "must be an http:// or https:// URL with a host"),
        ("https://mlflow.example/runs/{run}", "uses {run}, which gitreg does not fill in"),
        ("https://mlflow.example/runs/{run_id", "unmatched brace"),
    ],
)
def test_a_bad_link_template_is_found_by_validate_and_stops_the_build(
    registry_repo, tmp_path, template, problem
):
    config = registry_repo / "gitreg.yaml"
    config.write_text(config.read_text() + f'links:\n  run: "{template}"\n')
    git(registry_repo, "commit", "-qam", "A bad link")
    result = Cli(registry_repo).fails(1, "validate")
    assert problem in result.stdout + result.stderr
    assert "gitreg.yaml" in result.stdout + result.stderr
    failed = Cli(registry_repo).fails(1, "site", str(tmp_path / "o"))
    assert problem in failed.stderr
    assert not (tmp_path / "o").exists()


def test_links_come_from_the_forge_when_gitreg_yaml_has_none():
    def linker(forge):
        return Linker.from_config(Config.from_dict({"registry": {"forge": forge}}))

    github = linker({"type": "github", "repository": "acme/registry"})
    assert github.pull_request_url(7) == "https://github.com/acme/registry/pull/7"
    assert github.commit_url("abc") == "https://github.com/acme/registry/commit/abc"
    enterprise = linker(
        {"type": "github", "repository": "ml/reg", "api_url": "https://ghe.example/api/v3"}
    )
    assert enterprise.pull_request_url(1) == "https://ghe.example/ml/reg/pull/1"
    gitlab = linker({"type": "gitlab", "repository": "group/sub/reg"})
    assert gitlab.pull_request_url(3) == "https://gitlab.com/group/sub/reg/-/merge_requests/3"
    assert linker({"type": "none"}).pull_request_url(3) is None
    assert linker({"type": "github", "repository": "../evil"}).pull_request_url(3) is None


def test_values_filled_into_a_link_are_percent_encoded_and_only_http_links_survive():
    config = Config.from_dict({"links": {"run": "https://mlflow.example/r/{run_id}?v={version}"}})
    linker = Linker.from_config(config)
    mv = ModelVersion("m", 3, "s3://x", run_id="a/b?c#d e")
    assert linker.run_url(mv) == "https://mlflow.example/r/a%2Fb%3Fc%23d%20e?v=3"
    own = ModelVersion("m", 3, "s3://x", run_id="r", run_link="https://tracking.example/r")
    assert linker.run_url(own) == "https://tracking.example/r"
    hostile = ModelVersion("m", 3, "s3://x", run_id="r", run_link="javascript:alert(1)")
    assert linker.run_url(hostile) == "https://mlflow.example/r/r?v=3"
    assert Linker().run_url(hostile) is None


# --------------------------------------------------------------------------- workflow


def test_the_pages_jobs_of_the_init_workflow_are_valid_once_uncommented(tmp_path):
    """Uncommented, the optional jobs parse, pin every action and pass actionlint (#14)."""
    enabled = enable_pages(WORKFLOW_TEXT)
    assert enabled != WORKFLOW_TEXT
    assert "\n  site:\n" not in WORKFLOW_TEXT
    assert not {"site", "deploy"} & yaml.safe_load(WORKFLOW_TEXT)["jobs"].keys()
    workflow = yaml.safe_load(enabled)
    assert "push" in workflow[True]  # YAML 1.1 reads `on:` as True
    site, deploy = workflow["jobs"]["site"], workflow["jobs"]["deploy"]
    assert "github.event.repository.default_branch" in site["if"]  # pushes to main only
    assert site["permissions"] == {"contents": "read", "pull-requests": "read"}
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert "timeout-minutes" in site
    assert "timeout-minutes" in deploy
    uses = [s["uses"] for job in (site, deploy) for s in job["steps"] if "uses" in s]
    assert {u.split("@")[0] for u in uses} >= {
        "actions/configure-pages",
        "actions/upload-pages-artifact",
        "actions/deploy-pages",
    }
    assert all(re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", u) for u in uses)
    commented = [line for line in WORKFLOW_TEXT.splitlines() if line.strip().startswith("#")]
    assert all(line.strip().startswith("# ") for line in commented)
    for line in PAGES_JOBS.splitlines():
        if line.strip():
            assert f"{line[:2]}# {line[2:]}" in WORKFLOW_TEXT
    actionlint = shutil.which("actionlint") or str(Path(sys.executable).with_name("actionlint"))
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "gitreg.yml").write_text(enabled)
    proc = subprocess.run(
        [actionlint, "-no-color", str(folder / "gitreg.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
        st.text(
            alphabet=st.sampled_from(list("aZ09 .,:;'\"()?/%@$=+-\u00e9\u20ac\u00a0\u200b")),
            max_size=40,
        ),
    )
)
def test_the_plain_text_shortcut_renders_as_markdown_it_does(text):
    """Descriptions without Markdown syntax skip the parser (#26): same HTML, to the byte."""
    from gitreg.site.markup import _markdown, _plain, render_markdown

    if text and _plain(text):
        assert str(render_markdown(text)) == _markdown().render(text)
