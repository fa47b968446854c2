"""`gitreg resolve` answers without click (#7); it must print and exit exactly as the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gitreg._entry import resolve_fast
from tests._helpers import Cli, git


@pytest.fixture
def champion(registry, registry_repo):
    registry.create_model_version("churn", "s3://churn/1")
    registry.create_model_version("churn", "s3://churn/2")
    registry.set_registered_model_alias("churn", "champion", 1)
    registry.transition_model_version_stage("churn", 2, "Production")
    return registry_repo


def _both(capsys, root, *args):
    argv = ["resolve", *args]
    fast = resolve_fast([*argv, "--repo", str(root)])
    out = capsys.readouterr()
    slow = Cli(root).run(*argv)
    return (fast, out.out, out.err), (slow.exit_code, slow.stdout, slow.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ["models:/churn@champion"],
        ["models:/churn/Production"],
        ["models:/churn/2"],
        ["models:/churn/latest"],
        ["models:/churn/9"],
        ["models:/ghost@champion"],
        ["models:/churn@nobody"],
        ["runs:/abc/model"],
        ["models:/churn/1", "--at", "HEAD~1"],
        ["models:/churn/1", "--at=no-such-ref"],
        ["models:/churn/1", "--at", "--upload-pack=x"],
    ],
)
def test_fast_resolve_matches_the_click_command(capsys, champion, args):
    fast, slow = _both(capsys, champion, *args)
    assert fast == slow


@pytest.mark.parametrize(
    "args",
    [
        ["resolve", "models:/churn/1", "--json"],
        ["resolve", "models:/churn/1", "--fetch"],
        ["resolve", "--help"],
        ["resolve"],
        ["resolve", "a", "b"],
        ["resolve", "models:/churn/1", "--at"],
        ["show", "churn"],
        [],
    ],
)
def test_anything_else_is_left_to_click(args):
    assert resolve_fast(args) is None


def test_the_installed_command_resolves_without_loading_click(champion, tmp_path):
    """The console script's module, run as a process, as a deployment job runs it."""
    code = (
        "import sys; from gitreg import _entry; sys.argv = ['gitreg', 'resolve', "
        "'models:/churn@champion']; code = _entry.resolve_fast(sys.argv[1:]); "
        "sys.stderr.write(repr(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('click', 'git', 'jsonschema')))); sys.exit(code)"
    )
    env = {**os.environ, "GITREG_REPO": str(champion)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "s3://churn/1\n"
    assert proc.stderr == "[]"
    assert git(champion, "status", "--porcelain") == ""
