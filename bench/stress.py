"""Concurrent writers against one remote (#5): writes/second and push retries.

``python bench/stress.py [--per-writer 25] [--writers 1,2,4,8,16] [--clones 4] [--mixed]``

For each writer count W, a fresh bare remote gets min(W, clones) clones, and W processes
(spread round-robin over the clones, so writers on one clone also race for its lock) each
register the same model ``--per-writer`` times through the Python API, which is what
``gitreg register`` calls. ``--mixed`` interleaves stage transitions and alias moves.
A write that gives up (its retry budget, ``registry.retry_seconds``, spent) is counted,
not fatal. Afterwards the remote must hold versions 1..K exactly once, K the writes that
succeeded, with every acknowledged source present, and every manifest must validate.
Prints one row per W: writes, seconds, writes/second, its ratio to one writer's, retries
(pushes that lost a race and were re-applied), the worst retries of one write, and the
writes that gave up (#15).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The gitreg this Python has installed; --source runs a checkout instead (an editable
# install's source tree: a plain tree lacks the gitreg.schemas package mapping).
ROOT: Path | None = None
if "--source" in sys.argv:
    ROOT = Path(sys.argv[sys.argv.index("--source") + 1]).resolve()
    sys.path.insert(0, str(ROOT))

WORKER = r"""
import json, sys
from gitreg import Registry
from gitreg.core.errors import ConcurrentUpdate
repo, worker, count, mixed = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
retries, worst, gave_up, done = 0, 0, 0, []
for i in range(count):
    registry = Registry(repo)
    try:
        mv = registry.create_model_version("churn", f"s3://w{worker}/{i}", run_id=f"w{worker}r{i}")
    except ConcurrentUpdate:
        gave_up += 1
        retries += registry.store.retry_count
        continue
    done.append(f"s3://w{worker}/{i}")
    first = registry.store.retry_count
    if mixed and i % 3 == 1:
        try:
            registry.transition_model_version_stage("churn", mv.version, "Staging")
            registry.set_registered_model_alias("churn", f"w{worker}", mv.version)
        except ConcurrentUpdate:
            gave_up += 1
    retries += registry.store.retry_count
    worst = max(worst, first)
print(json.dumps({"retries": retries, "worst": worst, "gave_up": gave_up, "done": done}))
"""


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout


def setup(base: Path, clones: int, retries: int | None) -> tuple[Path, list[Path]]:
    from gitreg.gate.scaffold import init_registry

    seed = base / "seed"
    init_registry(seed)
    if retries is not None:
        config = seed / "gitreg.yaml"
        text = config.read_text().replace("  push: auto\n", f"  push: auto\n  retries: {retries}\n")
        config.write_text(text)
        git(seed, "commit", "-qam", "A retry count for the stress run")
    remote = base / "remote.git"
    git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    git(seed, "push", "-q", str(remote), "main")
    paths = []
    for i in range(clones):
        path = base / f"clone{i}"
        git(base, "clone", "-q", str(remote), str(path))
        paths.append(path)
    return remote, paths


def check(remote: Path, acknowledged: set[str]) -> None:
    import yaml

    data = yaml.safe_load(git(remote, "show", "main:models/churn.yaml"))
    numbers = [v["version"] for v in data["versions"]]
    expected = list(range(1, len(acknowledged) + 1))
    if numbers != expected:
        raise SystemExit(f"versions are not 1..{len(expected)} exactly once: {numbers}")
    sources = {v["source"] for v in data["versions"]}
    if sources != acknowledged:
        raise SystemExit(f"lost sources: {sorted(acknowledged - sources)[:5]}")
    from gitreg.core import validate

    text = git(remote, "show", "main:models/churn.yaml")
    findings = validate.check_manifest(data, "models/churn.yaml", text)
    if findings:
        raise SystemExit(f"invalid manifest: {findings[0]}")


def run(
    writers: int, per_writer: int, clones: int, mixed: bool, retries: int | None
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="gitreg-stress-") as tmp:
        remote, paths = setup(Path(tmp), min(writers, clones), retries)
        env = {**os.environ, **({"PYTHONPATH": str(ROOT)} if ROOT is not None else {})}
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WORKER,
                    str(paths[w % len(paths)]),
                    str(w),
                    str(per_writer),
                    "1" if mixed else "0",
                ],
                stdout=subprocess.PIPE,
                env=env,
                cwd=tmp,  # not a checkout's root: `-c` puts the working directory on sys.path
            )
            for w in range(writers)
        ]
        outputs = [proc.communicate()[0] for proc in procs]  # all finish before cleanup
        failed = [proc.returncode for proc in procs if proc.returncode]
        if failed:
            raise SystemExit(f"{len(failed)} writer(s) failed (exit codes {failed})")
        results = [json.loads(out) for out in outputs]
        elapsed = time.perf_counter() - start
        check(remote, {source for r in results for source in r["done"]})
    done = sum(len(r["done"]) for r in results)
    writes = done * (3 if mixed else 1)
    return {
        "writers": writers,
        "writes": writes,
        "seconds": elapsed,
        "per_second": writes / elapsed,
        "retries": sum(r["retries"] for r in results),
        "worst": max(r["worst"] for r in results),
        "gave_up": sum(r["gave_up"] for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-writer", type=int, default=25)
    parser.add_argument("--writers", default="1,2,4,8,16")
    parser.add_argument("--clones", type=int, default=4)
    parser.add_argument(
        "--retries", type=int, default=None, help="gitreg.yaml registry.retries (default: none, "
        "only the time budget registry.retry_seconds)"
    )  # fmt: skip
    parser.add_argument("--mixed", action="store_true", help="interleave transitions and aliases")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--source", help="run this checkout of gitreg (default: this one)")
    args = parser.parse_args()
    print(
        f"{'writers':>7} {'writes':>6} {'seconds':>8} {'writes/s':>8} {'vs 1':>5} "
        f"{'retries':>7} {'worst':>5} {'gave up':>7}"
    )
    rows = []
    for writers in (int(w) for w in args.writers.split(",")):
        row = run(writers, args.per_writer, args.clones, args.mixed, args.retries)
        rows.append(row)
        ratio = row["per_second"] / rows[0]["per_second"]
        print(
            f"{row['writers']:>7} {row['writes']:>6} {row['seconds']:>8.1f} "
            f"{row['per_second']:>8.1f} {ratio:>5.2f} {row['retries']:>7} {row['worst']:>5} "
            f"{row['gave_up']:>7}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
