"""The wheel ships every subpackage and the schemas (a non-editable install must work)."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parent.parent


def _declared() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return set(config["tool"]["setuptools"]["packages"])


def test_every_subpackage_is_declared_for_the_wheel():
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "gitreg").rglob("__init__.py")
    }
    missing = found - _declared()
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"


def test_schemas_are_shipped_as_package_data():
    assert "gitreg.schemas" in _declared()
    from importlib import resources

    names = {p.name for p in resources.files("gitreg.schemas").iterdir()}
    assert {"manifest.schema.json", "config.schema.json"} <= names
