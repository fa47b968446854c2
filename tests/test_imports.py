"""Import discipline (issue 7): read commands load only what they need.

Each case runs the CLI in a fresh interpreter and looks at ``sys.modules`` afterwards, so the
assertion is about behaviour (which modules a command loads), never about timing; the timings
are in bench/. ``gitreg --help`` and ``gitreg resolve`` must not load the JSON Schema
validator, GitPython or an HTTP stack.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitreg import Registry
from tests._helpers import modules_after

FORBIDDEN = ("jsonschema", "git", "http.client", "urllib3", "requests")


@pytest.fixture
def champion_repo(registry_repo: Path, registry: Registry) -> Path:
    registry.create_model_version("churn", "s3://models/churn/1")
    registry.set_registered_model_alias("churn", "champion", 1)
    return registry_repo


@pytest.mark.parametrize("module", FORBIDDEN)
def test_help_imports_nothing_heavy(tmp_path: Path, module: str) -> None:
    assert module not in modules_after(tmp_path, "--help")


@pytest.mark.parametrize("module", FORBIDDEN)
@pytest.mark.parametrize("uri", ["models:/churn@champion", "models:/churn/1"])
def test_resolve_imports_nothing_heavy(
    tmp_path: Path, champion_repo: Path, uri: str, module: str
) -> None:
    assert module not in modules_after(tmp_path, "resolve", uri, "--repo", str(champion_repo))


def test_probe_sees_lazy_imports(tmp_path: Path, champion_repo: Path) -> None:
    """The probe itself works: a write loads the lock and the validator, which reads do not.

    Writes stopped loading GitPython in #15 (objects are written in process), so the probe
    looks for what a write still needs and ``resolve`` never does.
    """
    modules = modules_after(
        tmp_path, "register", "churn", "s3://models/churn/2", "--repo", str(champion_repo)
    )
    assert "gitreg.store._lock" in modules
    assert "gitreg.core.validate" in modules


def test_a_write_runs_without_gitpython(tmp_path: Path, champion_repo: Path) -> None:
    """#15: a CLI write builds its commit in process; GitPython's import alone cost 50 ms."""
    modules = modules_after(
        tmp_path, "register", "churn", "s3://models/churn/2", "--repo", str(champion_repo)
    )
    assert "git" not in modules
