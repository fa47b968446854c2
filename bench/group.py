"""Group commit (#26): many writer processes on ONE clone of a bare remote.

``python bench/group.py [--writers 1,4,8,16] [--per-writer 10] [--rounds 3] [--json]
[--source TREE]``

For each writer count W, a fresh bare remote gets one clone, and W processes each register
the same model ``--per-writer`` times through the Python API on that clone (what
``gitreg register`` calls), so they hand their writes to the holder of the clone's lock
(``gitreg/store/spool.py``) and share pushes (``gitreg/store/group.py``). Afterwards the
remote must hold versions 1..K exactly once, K the writes acknowledged, with every
acknowledged source present (nothing lost), and the manifest must validate. A write that
gives up is counted (the goal is none).

Each W runs ``--rounds`` times, interleaved with the others, each round at least 40 writes;
a row is W's median round. Prints one row per W: writes, seconds, writes/second, the ratio
to one writer's, pushes that lost a race, writes that gave up (summed over the rounds), and
the verdict against #26's goal (16 writers at least 2x one writer's throughput).
``--json`` prints the rows as JSON instead, for ``bench/run.py``. ``--source TREE`` runs
another checkout (e.g. main's, for "before").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stress import ROOT, check, setup  # bench/ is not a package

# One writer: imports first, then waits for the start signal (the file GO appears), so
# that the clock measures writes, not 16 interpreters starting on 2 cores.
WORKER = r"""
import json, os, sys, time
from gitreg import Registry
from gitreg.core.errors import ConcurrentUpdate
repo, worker, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
start = time.time()
retries, gave_up, done = 0, 0, []
for i in range(count):
    registry = Registry(repo)
    try:
        registry.create_model_version("churn", f"s3://w{worker}/{i}", run_id=f"w{worker}r{i}")
    except ConcurrentUpdate:
        gave_up += 1
    else:
        done.append(f"s3://w{worker}/{i}")
    retries += registry.store.retry_count
end = time.time()
print(json.dumps({"retries": retries, "gave_up": gave_up, "done": done, "start": start,
                  "end": end}))
"""

GOAL = 2.0  # 16 writers on one clone: at least this many times one writer's throughput
MIN_WRITES = 40  # a round's writes at least (one writer writes this many)


def run(writers: int, per_writer: int) -> dict[str, float]:
    """W writer processes on one clone; raises SystemExit when a write was lost."""
    with tempfile.TemporaryDirectory(prefix="gitreg-group-") as tmp:
        remote, (clone,) = setup(Path(tmp), 1, None)
        env = {**os.environ, **({"PYTHONPATH": str(ROOT)} if ROOT is not None else {})}
        go = Path(tmp) / "go"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(clone), str(w), str(per_writer), str(go)],
                stdout=subprocess.PIPE,
                env=env,
                cwd=tmp,  # not a checkout's root: `-c` puts the working directory on sys.path
            )
            for w in range(writers)
        ]
        for proc in procs:  # every writer has imported gitreg
            if proc.stdout is None or proc.stdout.readline().strip() != b"ready":
                raise SystemExit("a writer did not start")
        go.write_text("")
        outputs = [proc.communicate()[0] for proc in procs]
        failed = [proc.returncode for proc in procs if proc.returncode]
        if failed:
            raise SystemExit(f"{len(failed)} writer(s) failed (exit codes {failed})")
        results = [json.loads(out) for out in outputs]
        elapsed = max(r["end"] for r in results) - min(r["start"] for r in results)
        check(remote, {source for r in results for source in r["done"]})  # nothing lost
    done = sum(len(r["done"]) for r in results)
    return {
        "writers": writers,
        "writes": done,
        "seconds": round(elapsed, 3),
        "per_second": round(done / elapsed, 2),
        "retries": sum(r["retries"] for r in results),
        "gave_up": sum(r["gave_up"] for r in results),
        "lost": 0,  # check() above exits when an acknowledged write is missing
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", default="1,4,8,16")
    parser.add_argument("--per-writer", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each count (median)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--source", help="run this checkout of gitreg (default: this one)")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    if not args.json:
        print(
            f"{'writers':>7} {'writes':>6} {'seconds':>8} {'writes/s':>8} {'vs 1':>5} "
            f"{'retries':>7} {'gave up':>7}"
        )
    counts = [int(w) for w in args.writers.split(",")]
    # Every count runs --rounds times, the rounds interleaved (1, 4, 8, 16, 1, 4, ...) so a
    # load that drifts falls on all of them; the row is the round of median throughput, and
    # a round writes at least MIN_WRITES times (one writer's 10 writes took 0.3 s: a
    # baseline one scheduler hiccup moved by half, and every ratio with it).
    samples: dict[int, list[dict[str, float]]] = {w: [] for w in counts}
    for _ in range(args.rounds):
        for writers in counts:
            per_writer = max(args.per_writer, -(-MIN_WRITES // writers))
            samples[writers].append(run(writers, per_writer))
    for writers in counts:
        ranked = sorted(samples[writers], key=lambda r: r["per_second"])
        row: dict[str, Any] = {
            **ranked[len(ranked) // 2],
            "rounds_per_second": [r["per_second"] for r in ranked],
            "retries": sum(r["retries"] for r in ranked),
            "gave_up": sum(r["gave_up"] for r in ranked),
        }
        row["ratio"] = round(row["per_second"] / rows[0]["per_second"], 2) if rows else 1.0
        rows.append(row)
        if not args.json:
            print(
                f"{row['writers']:>7} {row['writes']:>6} {row['seconds']:>8.1f} "
                f"{row['per_second']:>8.1f} {row['ratio']:>5.2f} {row['retries']:>7} "
                f"{row['gave_up']:>7}",
                flush=True,
            )
    top = max(rows, key=lambda r: r["writers"])
    verdict = {
        "writers": top["writers"],
        "ratio": top["ratio"],
        "goal": GOAL,
        "met": top["ratio"] >= GOAL and all(r["gave_up"] == 0 for r in rows),
    }
    if args.json:
        print(json.dumps({"rows": rows, "verdict": verdict}, indent=1))
    else:
        met = "met" if verdict["met"] else "MISSED"
        print(f"{top['writers']} writers: {top['ratio']:.2f}x one writer (goal >= {GOAL}x): {met}")


if __name__ == "__main__":
    main()
