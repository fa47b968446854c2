"""The core never talks to the terminal: no click, no print, no sys.exit outside gitreg/cli/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gitreg

PACKAGE = Path(gitreg.__file__).parent
# The faces: the click CLI, and the console-script entry that answers `resolve` without
# click (it prints and exits like the CLI, see tests/test_entry.py).
FACES = {"_entry.py", "__main__.py"}
CORE = sorted(
    p
    for p in PACKAGE.rglob("*.py")
    if "cli" not in p.relative_to(PACKAGE).parts and p.name not in FACES
)


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "click" for a in node.names
        ):
            found.append(f"{path.name}:{node.lineno}: import click")
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "click":
            found.append(f"{path.name}:{node.lineno}: from click import")
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


def test_core_modules_exist():
    assert {p.name for p in CORE} >= {"registry.py", "store.py", "manifest.py", "validate.py"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_does_not_print_or_exit_or_import_click(path):
    assert _violations(path) == []


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def test_only_manifest_imports_yaml_and_only_git_module_imports_gitpython():
    for path in CORE:
        tree = ast.parse(path.read_text("utf-8"))
        modules = set()
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add((node.module or "").split(".")[0])
        if path.name != "manifest.py":
            assert "yaml" not in modules, path
        if path.name != "_git.py":
            assert "git" not in modules, path
