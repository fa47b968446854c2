"""What checking every read costs (#22): cold ``resolve`` and listings, before and after.

``python bench/reads.py --before VENV --after VENV [--sizes 100,10000] [--runs 15]``

Each VENV holds gitreg installed as users install it (``pip install DIR``, no editable
finder). The same seeded registries as ``bench/run.py`` (``_build.py``, 3 versions a model)
are built once per size and copied for each code, so neither finds the other's caches.
Every operation is a cold process (as a deployment job runs it), timed ``--runs`` times
after one warm-up, the two codes' runs interleaved so that load on a shared machine falls
on both alike; the table gives the median and the minimum (the figure load inflates least)
in milliseconds:

- ``resolve @champion``: the common case, the answer a previous read recorded is there;
- ``resolve @champion, no caches``: ``.git/gitreg`` removed before each run (a fresh clone:
  the manifest is parsed and, after #22, checked);
- ``resolve --at HEAD``: the answer at a commit;
- ``versions``: the whole registry listed, caches warm, and with no caches;
- ``resolve --remote``: a fleet read from a bare repository on a local path, cache kept.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
NAME = "m-00042"


def _run(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(list(argv), capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"exit {proc.returncode}: {' '.join(argv)}: {proc.stderr[-300:]!r}")
    return elapsed


def timed(
    argvs: Sequence[Sequence[str]], runs: int, setups: Sequence[Callable[[], None] | None]
) -> list[list[float]]:
    """Seconds of ``runs`` cold runs of each of ``argvs``, interleaved run by run so that
    load on the machine falls on both codes alike, after one warm-up each (each setup runs
    before each of its command's runs)."""
    samples: list[list[float]] = [[] for _ in argvs]
    for index in range(runs + 1):
        for argv, setup, found in zip(argvs, setups, samples, strict=True):
            if setup is not None:
                setup()
            elapsed = _run(argv)
            if index:
                found.append(elapsed)
    return samples


def build(size: int, dest: Path, python: str) -> None:
    """The registry of ``bench/_build.py`` for ``size`` models, built by ``python``, then
    packed in the foreground (a detached auto-gc would repack it while it is copied)."""
    no_auto_gc = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "gc.auto", "GIT_CONFIG_VALUE_0": "0"}
    subprocess.run(
        [python, str(BENCH / "_build.py"), "gitreg", str(dest), str(size)],
        cwd=BENCH,
        check=True,
        capture_output=True,
        env={**os.environ, **no_auto_gc},
    )
    subprocess.run(
        ["git", "-C", str(dest), "gc", "-q"], check=True, env={**os.environ, **no_auto_gc}
    )


def operations(venv: Path, repo: Path, remote: Path) -> dict[str, tuple[list[str], bool]]:
    """Operation -> (argv, whether gitreg's caches are removed before each run)."""
    exe = str(venv / "bin" / "gitreg")
    uri = f"models:/{NAME}@champion"
    list_all = [exe, "versions", "--max-results", "200000", "--repo", str(repo)]
    return {
        "resolve @champion": ([exe, "resolve", uri, "--repo", str(repo)], False),
        "resolve @champion, no caches": ([exe, "resolve", uri, "--repo", str(repo)], True),
        "resolve --at HEAD": ([exe, "resolve", uri, "--at", "HEAD", "--repo", str(repo)], False),
        "versions (all)": (list_all, False),
        "versions (all), no caches": (list_all, True),
        "resolve --remote": ([exe, "resolve", uri, "--remote", str(remote)], False),
    }


def _dropper(repo: Path) -> Callable[[], None]:
    return lambda: shutil.rmtree(repo / ".git" / "gitreg", ignore_errors=True)


def _remote_of(repo: Path) -> Path:
    remote = repo.with_suffix(".git")
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(remote)], check=True)
    for key in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
        subprocess.run(["git", "-C", str(remote), "config", key, "true"], check=True)
    return remote


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="venv with gitreg before")
    parser.add_argument("--after", type=Path, required=True, help="venv with gitreg after")
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gitreg-bench-reads-") as tmp:
        work = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")  # fleet caches: ours, then gone
        for size in (int(s) for s in args.sizes.split(",")):
            seed = work / f"seed-{size}"
            build(size, seed, str(args.after / "bin" / "python"))
            codes = []
            for label, venv in (("before", args.before), ("after", args.after)):
                repo = work / f"{label}-{size}"
                shutil.copytree(seed, repo, symlinks=True)
                codes.append(operations(venv, repo, _remote_of(repo)))
            for op in codes[0]:
                argvs = [code[op][0] for code in codes]
                setups = [
                    _dropper(Path(code[op][0][-1])) if code[op][1] else None for code in codes
                ]
                runs = args.runs if "versions" not in op else max(3, args.runs // 3)
                b, a = timed(argvs, runs, setups)
                rows.append((size, op, statistics.median(b), min(b), statistics.median(a), min(a)))
    print("| models | operation | before median | before min | after median | after min |", end="")
    print(" after/before (median) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size, op, bm, bmin, am, amin in rows:
        print(
            f"| {size:,} | {op} | {bm * 1000:.1f} | {bmin * 1000:.1f} | {am * 1000:.1f} | "
            f"{amin * 1000:.1f} | {am / bm:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
