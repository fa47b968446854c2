"""Import discipline (issue 7): read commands load only what they need.

Each case runs the CLI in a fresh interpreter and looks at ``sys.modules`` afterwards, so the
assertion is about behaviour (which modules a command loads), never about timing; the timings
are in bench/. ``gitreg --help`` and ``gitreg resolve`` must not load the JSON Schema
validator, GitPython or an HTTP stack.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gitreg import Registry

FORBIDDEN = ("jsonschema", "git", "http.client", "urllib3", "requests")

_PROBE = """\
import json, sys
from gitreg.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def _modules_after(tmp_path: Path, *args: str) -> list[str]:
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.exists(), proc.stderr
    result = json.loads(out.read_text())
    assert result["code"] == 0, proc.stderr
    modules: list[str] = result["modules"]
    return modules


@pytest.fixture
def champion_repo(registry_repo: Path, registry: Registry) -> Path:
    registry.create_model_version("churn", "s3://models/churn/1")
    registry.set_registered_model_alias("churn", "champion", 1)
    return registry_repo


@pytest.mark.parametrize("module", FORBIDDEN)
def test_help_imports_nothing_heavy(tmp_path: Path, module: str) -> None:
    assert module not in _modules_after(tmp_path, "--help")


@pytest.mark.parametrize("module", FORBIDDEN)
@pytest.mark.parametrize("uri", ["models:/churn@champion", "models:/churn/1"])
def test_resolve_imports_nothing_heavy(
    tmp_path: Path, champion_repo: Path, uri: str, module: str
) -> None:
    assert module not in _modules_after(tmp_path, "resolve", uri, "--repo", str(champion_repo))


def test_probe_sees_lazy_imports(tmp_path: Path, champion_repo: Path) -> None:
    """The probe itself works: a write loads the lock and the validator, which reads do not.

    Writes stopped loading GitPython in #15 (objects are written in process), so the probe
    looks for what a write still needs and ``resolve`` never does.
    """
    modules = _modules_after(
        tmp_path, "register", "churn", "s3://models/churn/2", "--repo", str(champion_repo)
    )
    assert "gitreg.store._lock" in modules
    assert "gitreg.core.validate" in modules


def test_a_write_runs_without_gitpython(tmp_path: Path, champion_repo: Path) -> None:
    """#15: a CLI write builds its commit in process; GitPython's import alone cost 50 ms."""
    modules = _modules_after(
        tmp_path, "register", "churn", "s3://models/churn/2", "--repo", str(champion_repo)
    )
    assert "git" not in modules
