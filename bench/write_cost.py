"""In-process write vs one git spawn, at 10 and 10,000 models (#26's write target).

``python bench/write_cost.py [--sizes 10,10000] [--runs 15] [--source TREE] [--json]``

Builds each registry as ``bench/run.py`` does (``_build.build_gitreg``, local: no remote),
then times register, transition and alias through one ``Registry`` in this process, and
``git --version`` spawned from the same interpreter (the unit of the goal: a write within
4x one spawn, and within 1.3x from the smallest registry to the largest). Medians in ms.
``--source TREE`` times another checkout (e.g. main's, for "before").
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if "--source" in sys.argv:
    sys.path.insert(0, str(Path(sys.argv[sys.argv.index("--source") + 1]).resolve()))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import _build  # bench/ is not a package; --source must come first

MINIMA: dict[str, float] = {}


def timed(fn: object, runs: int, label: str = "") -> float:
    samples = []
    for i in range(runs):
        start = time.perf_counter()
        fn(i)  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    MINIMA[label] = min(samples)  # the figure least affected by other load
    return statistics.median(samples)


def measure(size: int, runs: int) -> dict[str, float]:
    from gitreg import Registry

    with tempfile.TemporaryDirectory(prefix="gitreg-write-") as tmp:
        root = Path(tmp) / "reg"
        specs = _build.specs(str(size))
        _build.build_gitreg(root, specs)
        name = specs[0].name
        registry = Registry(root)
        registry.create_model_version(name, "s3://warm/0")  # warm: caches, cat-file
        out = {"models": size}
        out["register"] = timed(
            lambda i: registry.create_model_version(name, f"s3://w/{i}"), runs, "register"
        )
        versions = [int(v.version) for v in registry.search_model_versions(f"name='{name}'")]
        todo = iter(sorted(versions)[-runs:])
        out["transition"] = timed(
            lambda i: registry.transition_model_version_stage(name, next(todo), "Staging"),
            runs,
            "transition",
        )
        out["alias"] = timed(
            lambda i: registry.set_registered_model_alias(name, f"a{i}", versions[-1]),
            runs,
            "alias",
        )
        out["git_spawn"] = timed(
            lambda i: subprocess.run(["git", "--version"], capture_output=True, check=True),
            runs * 2,
            "git_spawn",
        )
    out.update({f"{k}_min": v for k, v in MINIMA.items()})
    return {k: round(v, 2) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,10000")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--source", help="time this checkout of gitreg instead")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [measure(int(size), args.runs) for size in args.sizes.split(",")]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(
        f"{'models':>7} {'op':>10} {'ms':>7} {'spawn ms':>8} {'/ spawn':>7} {'growth':>7} "
        f"{'min ms':>7} {'min/min spawn':>13}"
    )
    for row in rows:
        for op in ("register", "transition", "alias"):
            growth = row[op] / rows[0][op]
            print(
                f"{row['models']:>7} {op:>10} {row[op]:>7.2f} {row['git_spawn']:>8.2f} "
                f"{row[op] / row['git_spawn']:>6.1f}x {growth:>6.2f}x {row[op + '_min']:>7.2f} "
                f"{row[op + '_min'] / row['git_spawn_min']:>12.1f}x"
            )


if __name__ == "__main__":
    main()
