"""The README's first command: demo.sh runs end to end on a fresh registry (installed CLI)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_demo_script_runs_and_resolves_the_champion(tmp_path):
    bin_dir = Path(sys.executable).parent
    if shutil.which("gitreg", path=str(bin_dir)) is None:
        pytest.skip(f"the gitreg console script is not installed next to {sys.executable}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    target = tmp_path / "demo-registry"
    proc = subprocess.run(
        ["bash", str(ROOT / "demo.sh"), str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    resolved = lines[
        lines.index(next(x for x in lines if "resolve models:/churn@champion" in x)) + 1
    ]
    assert resolved == "runs:/7c1d3b/model"
    # Each command is echoed as a user can paste it, quotes included (#16).
    echoed = [re.sub(r"\x1b\[[0-9;]*m", "", x)[2:] for x in lines if x.startswith("\x1b[1m$ ")]
    create = next(x for x in echoed if x.startswith("gitreg create"))
    assert (
        create
        == "gitreg create churn -d 'Predicts 30-day churn from account activity' -t team=growth"
    )
    words = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {create}"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert words[4] == "Predicts 30-day churn from account activity"
    assert (target / "models/churn.yaml").is_file()
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=target, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert log[0] == "Set alias churn@champion -> version 2"
    assert log[-1] == "Initialize gitreg registry"
