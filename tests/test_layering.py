"""The wings' discipline that import-linter cannot see (its contracts are in pyproject.toml).

``lint-imports`` (run by .ci/run) checks who imports what: the layers, that only the CLI
imports click, that only the store runs git and only ``core.manifest`` touches YAML, and that
there is no import circle. These tests check the rest (issue 10): the core never talks to
the terminal, every module says what it owns, and the public names keep working.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import gitreg
from gitreg.core import errors as core_errors

PACKAGE = Path(gitreg.__file__).parent
# The faces: the click CLI, and the console-script entry that answers `resolve` and the
# plain write commands without click (they print and exit like the CLI, see
# tests/test_entry.py and tests/test_entry_write.py).
FACES = {"_entry.py", "_entry_write.py", "__main__.py"}
MODULES = sorted(PACKAGE.rglob("*.py"))
CORE = [p for p in MODULES if "cli" not in p.relative_to(PACKAGE).parts and p.name not in FACES]
WINGS = ("core", "store", "gate", "integrations", "services", "mlflow", "site", "cli")


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "print":
                found.append(f"{path.name}:{node.lineno}: print(")
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "exit"
                and isinstance(func.value, ast.Name)
                and func.value.id == "sys"
            ):
                found.append(f"{path.name}:{node.lineno}: sys.exit(")
    return found


def test_the_wings_exist():
    for wing in WINGS:
        assert (PACKAGE / wing / "__init__.py").is_file(), wing
    assert {p.name for p in CORE} >= {"registry.py", "store.py", "manifest.py", "validate.py"}


def test_the_top_holds_only_faces_and_entry_points():
    """Issue 27: the Registry's services live in their own wing, not beside the faces."""
    top = {p.name for p in PACKAGE.glob("*.py")}
    entry_points = {
        "__main__.py",
        "_entry.py",
        "_entry_write.py",
        "_entry_site.py",
    }  # #26
    assert top == {"__init__.py", *entry_points, "errors.py", "registry.py"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_does_not_print_or_exit(path):
    assert _violations(path) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_says_what_it_owns(path):
    doc = ast.get_docstring(ast.parse(path.read_text("utf-8")))
    assert len((doc or "").split()) >= 5, f"{path}: start with a docstring saying what it owns"


def test_public_errors_module_names_every_error():
    """``from gitreg.errors import X`` keeps working for every error the core defines."""
    public = importlib.import_module("gitreg.errors")
    defined = {
        name
        for name, value in vars(core_errors).items()
        if inspect.isclass(value) and issubclass(value, core_errors.GitregError)
    }
    missing = sorted(name for name in defined if getattr(public, name, None) is None)
    assert not missing, f"re-export {missing} from gitreg/errors.py"


def test_every_public_name_resolves():
    from gitreg import errors

    assert errors.ModelNotFound is core_errors.ModelNotFound
    for name in gitreg.__all__:
        assert getattr(gitreg, name) is not None, name
