"""The docs' "the default that ``gitreg init`` writes" is what it writes (#27, trap 4).

The README once showed requirements the real default does not have. The reference page
now carries a marker that the docs hook replaces with ``DEFAULT_CONFIG_TEXT``; these tests
hold the page to the file a real ``gitreg init`` writes, byte for byte, and keep the gate
guide's "a registry grows into" example the default plus requirements, so neither can
drift. tests/test_docs.py checks the built site shows the same block.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import yaml

from tests._helpers import Cli
from tests.test_docs import HOOK, ROOT

CONFIG_PAGE = ROOT / "docs" / "reference" / "config.md"
FENCED_YAML = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def _page_as_built(path: Path) -> str:
    """The page's Markdown after the docs hook, as ``mkdocs build`` renders it."""
    source = path.relative_to(ROOT / "docs").as_posix()
    page = SimpleNamespace(file=SimpleNamespace(src_uri=source))
    config = {"docs_dir": str(ROOT / "docs"), "repo_url": "https://github.com/gitreg-dev/gitreg"}
    return str(HOOK.on_page_markdown(path.read_text("utf-8"), page, config, None))


def _written_by_init(tmp_path: Path, *options: str) -> str:
    Cli().ok("init", str(tmp_path / "registry"), *options)
    return (tmp_path / "registry" / "gitreg.yaml").read_text("utf-8")


def _default_block() -> str:
    built = _page_as_built(CONFIG_PAGE)
    section = built.split("## The default that `gitreg init` writes", 1)[1].split("\n## ", 1)[0]
    [block] = FENCED_YAML.findall(section)
    return str(block)


def test_the_reference_shows_exactly_the_file_gitreg_init_writes(tmp_path):
    assert "<!-- gitreg:default-config -->" in CONFIG_PAGE.read_text("utf-8")
    assert _default_block() == _written_by_init(tmp_path)


def test_the_default_has_no_requirements_as_the_gate_guide_says(tmp_path):
    default = yaml.safe_load(_written_by_init(tmp_path))
    assert default["policy"]["requirements"] == {}
    gate = (ROOT / "docs" / "guides" / "gate.md").read_text("utf-8")
    link = "[a default](../reference/config.md#the-default-that-gitreg-init-writes)"
    assert f"{link} with no\nrequirements" in gate


def test_the_gate_guides_grown_example_is_the_default_plus_requirements(tmp_path):
    """ "Here is one that a registry grows into": the default's settings, with requirements."""
    gate = (ROOT / "docs" / "guides" / "gate.md").read_text("utf-8")
    section = gate.split("## Policy in `gitreg.yaml`", 1)[1].split("\n## ", 1)[0]
    block = FENCED_YAML.findall(section)[0]  # the section's later examples show one setting
    grown = yaml.safe_load(block)
    default = yaml.safe_load(_written_by_init(tmp_path))
    assert grown["policy"].pop("requirements") != {}
    default["policy"].pop("requirements")
    assert grown == default


def test_no_page_writes_out_a_whole_gitreg_yaml_by_hand():
    """What drifted before was a hand-written copy of the whole default. A complete
    gitreg.yaml (schema_version, registry and policy) appears only where it is generated
    or checked: the reference's marker and the gate guide's grown example."""
    checked = {ROOT / "docs" / "guides" / "gate.md"}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for block in FENCED_YAML.findall(path.read_text("utf-8")):
            try:
                data = yaml.safe_load(block)
            except yaml.YAMLError:
                continue  # an illustration with placeholders is no copy of the file
            whole = isinstance(data, dict) and {"schema_version", "registry", "policy"} <= set(data)
            assert not whole or path in checked, f"{path.relative_to(ROOT)} copies a gitreg.yaml"
