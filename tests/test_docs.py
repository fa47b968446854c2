"""The README is a front page and the documentation site holds together (#27).

- The README stays a front page (at most 250 lines) whose first lines are the two commands
  that work on a fresh machine, the second exactly what ``.ci/run`` runs; its tour runs.
- Every relative link of the README and of every page resolves, anchors included; every
  page is in the site's navigation and every navigation entry is a page.
- The schema hook (``docs/_hooks/gitreg_docs.py``) lists every field of every schema and
  points links that leave ``docs/`` at the repository, refusing one that leads nowhere.
- Built with ``mkdocs build --strict`` (when the docs extra is installed; ``.ci/run`` sets
  ``GITREG_REQUIRE_DOCS=1`` so that it fails rather than skips there), the site's CLI
  reference lists every command and the API reference every public ``Registry`` method.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_hooks" not in p.parts)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gitreg_docs", DOCS / "_hooks" / "gitreg_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOK = _hook()


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading (MkDocs' toc gives the same for ours)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text("utf-8"))
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def _links(path: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", path.read_text("utf-8")))


# ------------------------------------------------------------------------------ README


def test_the_readme_is_a_front_page():
    lines = README.read_text("utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move reference into docs/"
    for section in ("## Install", "## A five-minute tour", "## Where to go next"):
        assert section in lines, section
    # The places other work fills keep their headings.
    for section in ("### Trust model", "### Approvals", "### Pinning artifacts"):
        assert section in lines, section


def test_the_readme_opens_with_the_two_commands_ci_runs():
    lines = README.read_text("utf-8").splitlines()
    assert lines[:2] == ["# gitreg", ""]
    assert lines[2] == "```bash"
    demo, tests, end = lines[3:6]
    assert end == "```"
    assert demo.endswith("./demo.sh")
    assert ".venv/bin/pip install -q . " in demo
    ci = (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
    assert tests in ci, f".ci/run no longer runs the README's test command: {tests}"
    marker = next(i for i, line in enumerate(ci) if "README's test command" in line)
    assert ci[marker + 1] == tests


def _tour_blocks() -> list[str]:
    text = README.read_text("utf-8")
    tour = text.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", tour, flags=re.DOTALL)


def test_the_readme_tour_runs_as_written(tmp_path):
    """The tour's commands, pasted into a shell in an empty directory, all succeed."""
    bin_dir = Path(sys.executable).parent
    if shutil.which("gitreg", path=str(bin_dir)) is None:
        pytest.skip(f"the gitreg console script is not installed next to {sys.executable}")
    blocks = _tour_blocks()
    assert len(blocks) == 2, "the tour and the promotion request"
    script = "set -euo pipefail\n" + "\n".join(blocks)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for variable in ("GITREG_REPO", "GITHUB_TOKEN", "GITREG_TOKEN"):
        env.pop(variable, None)
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "runs:/7c1d3b/model\n" in proc.stdout
    assert "gitreg/churn/v3-production" in proc.stdout  # the request, listed
    remote_branches = subprocess.run(
        ["git", "branch", "--list", "gitreg/*"],
        cwd=tmp_path / "registry.git",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "gitreg/churn/v3-production" in remote_branches


# ------------------------------------------------------------------------ links and nav


@pytest.mark.parametrize("document", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(document):
    for target in _links(document):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto: ... are not this project's files
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        where = document.relative_to(ROOT)
        assert file.exists(), f"{where}: link to {target} leads nowhere"
        assert file.is_relative_to(ROOT), f"{where}: link to {target} leaves the project"
        if anchor:
            assert file.suffix == ".md", f"{where}: an anchor into {file.name}"
            assert anchor in _anchors(file), f"{where}: no heading #{anchor} in {file.name}"


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def _mkdocs_config() -> dict[str, Any]:
    text = (ROOT / "mkdocs.yml").read_text("utf-8")
    return yaml.safe_load(text)  # type: ignore[no-any-return]


def test_the_navigation_lists_every_page_and_only_pages():
    config = _mkdocs_config()
    assert config["docs_dir"] == "docs"
    assert config["theme"]["name"] == "material"
    assert config["strict"] is True
    nav = _nav_pages(config["nav"])
    assert len(nav) == len(set(nav)), "a page is listed twice"
    for page in nav:
        assert (DOCS / page).is_file(), f"mkdocs.yml lists {page}, which is not in docs/"
    pages = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert pages - set(nav) == set(), "pages missing from the nav in mkdocs.yml"
    # The layout of #27, and the pages other work edits, linked where they are.
    for page in ("index.md", "getting-started.md", "development.md", "validate.md", "mlflow.md"):
        assert page in nav
    assert any(p.startswith("guides/") for p in nav)
    assert {"reference/cli.md", "reference/python-api.md", "reference/manifest.md"} <= set(nav)


def test_the_generated_references_name_their_sources():
    cli = (DOCS / "reference" / "cli.md").read_text("utf-8")
    assert ":module: gitreg.cli" in cli
    assert ":command: cli" in cli
    api = (DOCS / "reference" / "python-api.md").read_text("utf-8")
    for name in ("gitreg.registry.Registry", "gitreg.registry.RemoteRegistry", "gitreg.errors"):
        assert f"::: {name}" in api, name
    assert "::: gitreg.core.entities.ModelVersion" in api
    for page, schema in (
        ("manifest.md", "manifest.schema.json"),
        ("config.md", "config.schema.json"),
    ):
        text = (DOCS / "reference" / page).read_text("utf-8")
        assert f"<!-- gitreg:schema {schema} -->" in text, page


# ----------------------------------------------------------------------------- the hook


def _all_property_names(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        found |= set(node.get("properties", {}))
        for value in node.values():
            found |= _all_property_names(value)
    elif isinstance(node, list):
        for value in node:
            found |= _all_property_names(value)
    return found


@pytest.mark.parametrize("file", sorted(p.name for p in (ROOT / "schemas").glob("*.json")))
def test_the_schema_table_lists_every_field(file):
    schema = json.loads((ROOT / "schemas" / file).read_text("utf-8"))
    rows = list(HOOK.schema_rows(schema))
    listed = {path.rsplit(".", 1)[-1].removesuffix("[]") for path, *_ in rows}
    assert _all_property_names(schema) - listed == set(), "fields the reference leaves out"
    table = HOOK.schema_table(file)
    for path, *_ in rows:
        assert f"| `{path}` |" in table
    assert len(table.splitlines()) == 4 + len(rows)


def test_the_manifest_table_reads_as_a_manifest():
    schema = json.loads((ROOT / "schemas" / "manifest.schema.json").read_text("utf-8"))
    rows = {path: (kind, required, text) for path, kind, required, text in HOOK.schema_rows(schema)}
    assert rows["versions[].stage"][0] == (
        'one of <code>"None"</code>, <code>"Staging"</code>, '
        '<code>"Production"</code>, <code>"Archived"</code>'
    )
    assert rows["name"][1] is True
    assert rows["description"][1] is False
    assert "at most 5000 characters" in rows["description"][2]
    assert "at most 1 matching items" in rows["versions"][2]
    # A pattern is shown as code that Markdown cannot turn into a link or split a cell with.
    assert "[" not in rows["aliases"][2]
    assert "|" not in rows["aliases"][2]


def test_links_that_leave_docs_point_at_the_repository(tmp_path):
    page = "reference/manifest.md"
    text = "See [the schema](../../schemas/manifest.schema.json#x) and [a page](../index.md).\n"
    text += "```\n[not a link](../../nowhere.txt)\n```\n"
    out = HOOK._outside_links(text, page, DOCS, "https://github.com/gitreg-dev/gitreg")
    assert "(https://github.com/gitreg-dev/gitreg/blob/main/schemas/manifest.schema.json#x)" in out
    assert "[a page](../index.md)" in out
    assert "[not a link](../../nowhere.txt)" in out  # code is left alone
    with pytest.raises(ValueError, match="leads nowhere"):
        HOOK._outside_links("[x](../../nowhere.txt)", page, DOCS, "https://github.com/o/r")
    with pytest.raises(ValueError, match="no such heading"):
        HOOK._outside_links("[x](../../README.md#no-such)", page, DOCS, "https://github.com/o/r")


def test_click_unwrapped_blocks_become_code_blocks():
    """--help keeps a \\b block as written; on the site it is a code block under its title."""
    lines = ["Register SOURCE.", "", "\b", "Examples:", "  gitreg a", "  gitreg b", "", "Done."]
    assert list(HOOK.unwrapped_blocks(lines)) == [
        "Register SOURCE.",
        "",
        "**Examples:**",
        "",
        "```text",
        "gitreg a",
        "gitreg b",
        "```",
        "",
        "Done.",
        "",
    ]


# -------------------------------------------------------------------------- the built site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("GITREG_REQUIRE_DOCS") == "1":
            pytest.fail("GITREG_REQUIRE_DOCS=1 but mkdocs is not installed (pip install '.[docs]')")
        pytest.skip("the docs extra is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def test_the_cli_reference_lists_every_command(site):
    from gitreg.cli._app import COMMAND_MODULES, cli

    page = (site / "reference" / "cli" / "index.html").read_text("utf-8")
    names = set(COMMAND_MODULES) | set(cli.commands)
    assert len(names) > 20
    for name in names:
        assert f"gitreg {name}" in page, f"the CLI reference lacks gitreg {name}"
    assert "Sentinel" not in page  # click's "no default", shown as none
    assert "<strong>Examples:</strong>" in page  # --help's unwrapped blocks stay unwrapped


def test_the_api_reference_documents_the_public_methods(site):
    from gitreg.registry import Registry

    page = (site / "reference" / "python-api" / "index.html").read_text("utf-8")
    public = [n for n in dir(Registry) if not n.startswith("_") and callable(getattr(Registry, n))]
    for name in ("create_model_version", "transition_model_version_stage", "resolve"):
        assert name in public
    missing = [n for n in public if f'id="gitreg.registry.Registry.{n}"' not in page]
    assert missing == [], f"Registry methods without a reference entry: {missing}"
    import gitreg.errors

    for error in gitreg.errors.__all__:
        if error[0].isupper() and not error.isupper():  # the classes, not the codes
            assert f'id="gitreg.errors.{error}"' in page, error


def test_the_schema_references_are_built_from_the_schemas(site):
    page = (site / "reference" / "manifest" / "index.html").read_text("utf-8")
    assert "<code>versions[].stage</code>" in page
    assert "https://github.com/gitreg-dev/gitreg/blob/main/schemas/manifest.schema.json" in page
    config = (site / "reference" / "config" / "index.html").read_text("utf-8")
    assert "<code>notifications.webhooks[].url</code>" in config
    assert "protected_aliases" in config


def test_the_config_reference_shows_the_default_init_writes(site):
    """The generated block is on the built page, as gitreg init writes it (#27)."""
    import html

    from gitreg.core.config import DEFAULT_CONFIG_TEXT

    page = (site / "reference" / "config" / "index.html").read_text("utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert DEFAULT_CONFIG_TEXT.strip() in text


@pytest.mark.parametrize("document", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_table_cell_escapes_a_pipe(document):
    """GitHub renders ``\\|`` in a table cell as ``|``; MkDocs shows the backslash."""
    assert "\\|" not in FENCE.sub("", document.read_text("utf-8"))
