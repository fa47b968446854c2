"""The audit (#11) and the gate's hardened checks (#12): how long they take.

``python bench/audit.py [--commits 1000] [--runs 3] [--models 10000]``

1. Builds a registry with ``--commits`` commits through the Python API (the same mix as
   ``bench/notify.py``: registrations, stage changes, tags and aliases over 20 models,
   a third of them hand-made direct pushes of Production), then times ``gitreg audit`` over
   the whole range, in a fresh process each run.
2. Builds (with ``bench/_build.py``) a registry of ``--models`` models and times a whole
   ``gitreg validate`` cold (no cache) and warm, in fresh processes.

Prints min and median of ``--runs`` runs. Not a test: nothing asserts on these numbers.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _timed(args: list[str], cwd: Path, runs: int, before: object = None) -> list[float]:
    seconds = []
    for _ in range(runs):
        if callable(before):
            before()
        start = time.perf_counter()
        subprocess.run(args, cwd=cwd, capture_output=True, check=False)
        seconds.append(time.perf_counter() - start)
    return seconds


def _report(label: str, seconds: list[float]) -> None:
    print(f"{label}: min {min(seconds):.3f} s, median {statistics.median(seconds):.3f} s")


def audit_bench(commits: int, runs: int) -> None:
    from bench.notify import _build

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "registry"
        start = _build(root, commits)
        gitreg = [sys.executable, "-m", "gitreg"]
        seconds = _timed([*gitreg, "audit", "--since", start, "--format", "json"], root, runs)
        _report(f"gitreg audit over {commits} commits", seconds)


def validate_bench(models: int, runs: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import _build

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "registry"
        _build.build_gitreg(root, _build.specs(str(models)))
        state = root / ".git" / "gitreg"

        def cold() -> None:
            for name in ("cache.marshal", "validate-cache.marshal"):
                (state / name).unlink(missing_ok=True)

        gitreg = [sys.executable, "-m", "gitreg", "validate"]
        _report(f"gitreg validate, {models} models, cold", _timed(gitreg, root, runs, cold))
        _report(f"gitreg validate, {models} models, warm", _timed(gitreg, root, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    audit_bench(args.commits, args.runs)
    validate_bench(args.models, args.runs)


if __name__ == "__main__":
    main()
