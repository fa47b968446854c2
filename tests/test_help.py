"""Every command documents itself with examples (sqlite-utils' test_commands_have_help)."""

from __future__ import annotations

import importlib
import re

import pytest

from gitreg.cli import cli as gitreg
from gitreg.cli._app import COMMAND_MODULES
from tests._helpers import Cli

for _module in sorted(set(COMMAND_MODULES.values())):
    importlib.import_module(_module)
COMMANDS = sorted(gitreg.commands)


def examples(text):
    """The lines of the ``Examples:`` block, which ``\\b`` keeps unwrapped."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    block = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        block.append(line.strip())
    return block


def test_there_are_commands():
    assert {"init", "register", "show", "resolve", "transition", "delete"} <= set(COMMANDS)


def test_the_lazy_command_table_names_every_command_and_its_module():
    """The CLI imports a command's module only when it runs (#7); the table must be exact."""
    assert sorted(COMMAND_MODULES) == COMMANDS
    for name, module in COMMAND_MODULES.items():
        assert gitreg.commands[name].callback.__module__ == module, name


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_commands_have_help(tmp_path, name, flag):
    result = Cli().ok(name, flag, cwd=tmp_path)

    assert result.stdout.strip()
    assert result.stdout.startswith(f"Usage: gitreg {name}")
    assert "Examples:" in result.stdout
    block = examples(result.stdout)
    assert block, f"gitreg {name}: 'Examples:' is followed by no example"
    for line in block:
        words = line.split()
        assert words[0] == "gitreg", f"gitreg {name}: example {line!r} does not run gitreg"
        assert words[1] in COMMANDS, f"gitreg {name}: example {line!r} uses no real command"
    assert any(line.split()[1] == name for line in block), f"no example runs gitreg {name}"


def test_gitreg_help_lists_every_command(tmp_path):
    result = Cli().ok("--help", cwd=tmp_path)

    assert "Examples:" in result.stdout
    commands = result.stdout.split("Commands:", 1)[1]
    for name in COMMANDS:
        assert re.search(rf"^\s+{re.escape(name)}\s+\S", commands, re.MULTILINE), (
            f"gitreg --help does not list {name} with a summary"
        )
