"""Hashing an artifact (#28): gitreg's digest against ``sha256sum`` on the same files.

``python bench/hashing.py [--size-mb 1024] [--files 8] [--runs 3] [--no-report]``

Writes ``--files`` files of ``--size-mb`` MB in all (incompressible bytes, under
``bench/.work/hashing/``, kept between runs), reads them once so that both tools hash from
the page cache, then times, each in a fresh process and ``--runs`` times:

- ``sha256sum`` over the files, one after the other (GNU coreutils, one process);
- ``sha256sum`` over the files, two at a time (``xargs -P 2``: what two cores allow);
- gitreg's digest of the directory (``gitreg.integrations.artifacts.read_artifact``:
  streaming, 1 MiB chunks, files hashed on up to four threads), and of one file alone.

Peak memory is the kernel's count for gitreg's process (``ru_maxrss``), measured for the
whole directory and for a quarter of it: streaming keeps it constant in the artifact's
size. Prints, and writes to ``bench/RESULTS-hashing.md``, the seconds (best of the runs),
the throughput, the ratios to ``sha256sum`` and a verdict per goal: gitreg within 1.5x of
``sha256sum`` on the same bytes, peak memory not growing with the artifact.

Not a test: nothing asserts on these numbers. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "hashing"
RESULTS = HERE / "RESULTS-hashing.md"
BLOCK = 16 * 1024 * 1024

# Runs in a fresh interpreter: the digest, the seconds it took, and the process's peak RSS.
CHILD = """
import json, resource, sys, time
from gitreg.integrations.artifacts import read_artifact
start = time.perf_counter()
digest = read_artifact(sys.argv[1]).listing.digest
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"digest": digest, "seconds": seconds, "peak_kb": peak}))
"""


def make_files(directory: Path, total_mb: int, count: int) -> list[Path]:
    """``count`` files of ``total_mb`` MB in all (reused when already there)."""
    directory.mkdir(parents=True, exist_ok=True)
    size = total_mb * 1024 * 1024 // count
    block = os.urandom(BLOCK)
    files = []
    for index in range(count):
        path = directory / f"shard-{index:02d}.bin"
        if not path.exists() or path.stat().st_size != size:
            with path.open("wb") as f:
                left = size
                while left:
                    chunk = block[: min(left, BLOCK)]
                    f.write(chunk)
                    left -= len(chunk)
                    block = block[1:] + block[:1]  # no two blocks alike
        files.append(path)
    return files


def warm(files: list[Path]) -> None:
    for path in files:
        with path.open("rb") as f:
            while f.read(BLOCK):
                pass


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def gitreg_run(path: Path) -> dict[str, float | str]:
    """One fresh process: its digest, hashing seconds, peak RSS, and whole wall time."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True, text=True
    )
    found: dict[str, float | str] = json.loads(out.stdout)
    found["wall"] = time.perf_counter() - start  # with Python's start and gitreg's imports
    return found


def best(samples: list[float]) -> float:
    return min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()

    full = make_files(WORK / "model", args.size_mb, args.files)
    quarter_dir = WORK / "quarter"
    quarter = make_files(quarter_dir, args.size_mb // 4, max(1, args.files // 4))
    load_start = os.getloadavg()
    warm(full + quarter)

    names = [str(p) for p in full]
    serial = best([timed(["sha256sum", *names]) for _ in range(args.runs)])
    xargs = ["xargs", "-P", "2", "-n", str(max(1, len(names) // 2)), "sha256sum"]
    parallel = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(
            xargs, input="\n".join(names).encode(), check=True, stdout=subprocess.DEVNULL
        )
        parallel.append(time.perf_counter() - start)
    one_file = best([timed(["sha256sum", names[0]]) for _ in range(args.runs)])

    runs = [gitreg_run(WORK / "model") for _ in range(args.runs)]
    ours = best([float(r["seconds"]) for r in runs])
    ours_wall = best([float(r["wall"]) for r in runs])
    singles = [gitreg_run(full[0]) for _ in range(args.runs)]
    ours_one = best([float(r["seconds"]) for r in singles])
    theirs = subprocess.run(["sha256sum", names[0]], capture_output=True, text=True).stdout
    same = str(singles[0]["digest"]) == "sha256:" + theirs.split()[0]
    peak_full = max(float(r["peak_kb"]) for r in runs) / 1024
    peak_quarter = max(float(gitreg_run(quarter_dir)["peak_kb"]) for _ in range(args.runs)) / 1024
    load_end = os.getloadavg()

    size_mb = sum(p.stat().st_size for p in full) / 2**20
    one_mb = size_mb / len(full)
    rows = [
        ("sha256sum, files one after the other", serial, size_mb),
        ("sha256sum, two at a time (xargs -P 2)", best(parallel), size_mb),
        ("gitreg digest of the directory", ours, size_mb),
        ("gitreg, the whole process (Python's start and imports too)", ours_wall, size_mb),
        (f"sha256sum, one file ({one_mb:.0f} MB)", one_file, one_mb),
        ("gitreg digest of that one file", ours_one, one_mb),
    ]
    ratio_serial = ours / serial
    ratio_parallel = ours / best(parallel)
    ratio_one = ours_one / one_file
    growth = peak_full - peak_quarter
    lines = [
        "# Hashing an artifact (#28)",
        "",
        "Generated by `python bench/hashing.py` (see its docstring). The same files for both "
        "tools, read from the page cache; each run in a fresh process; seconds are the best "
        f"of {args.runs} runs. Goals: gitreg within 1.5x of `sha256sum` on the same bytes; "
        "peak memory constant in the artifact's size.",
        "",
        "## Machine",
        "",
        f"- when: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- nproc: {os.cpu_count()}",
        f"- python: {platform.python_version()}",
        f"- sha256sum: {_version(['sha256sum', '--version'])}",
        f"- load average at start: {' '.join(f'{x:.1f}' for x in load_start)}",
        f"- load average at end: {' '.join(f'{x:.1f}' for x in load_end)}",
        f"- artifact: {len(full)} files, {size_mb:,.0f} MB in all",
        "",
        "## Speed",
        "",
        "| what | seconds | MB/s |",
        "| --- | ---: | ---: |",
        *[f"| {what} | {sec:.2f} | {mb / sec:,.0f} |" for what, sec, mb in rows],
        "",
        f"- gitreg / sha256sum (one after the other): **{ratio_serial:.2f}x** "
        f"({'within' if ratio_serial <= 1.5 else 'over'} the 1.5x goal)",
        f"- the whole gitreg process / sha256sum: {ours_wall / serial:.2f}x",
        f"- gitreg / sha256sum two at a time: {ratio_parallel:.2f}x",
        f"- the same digest as sha256sum for one file: {'yes' if same else 'NO'}",
        f"- one file, gitreg / sha256sum: **{ratio_one:.2f}x** "
        f"({'within' if ratio_one <= 1.5 else 'over'} the 1.5x goal)",
        "",
        "Python's hashlib hashes with OpenSSL's SHA-256 (SHA-NI where the CPU has it); "
        "coreutils' sha256sum has its own, slower implementation: so gitreg can be faster "
        "than the tool it is measured against. Directories hash on up to four threads.",
        "",
        "## Peak memory",
        "",
        "| artifact | gitreg's peak RSS |",
        "| --- | ---: |",
        f"| {size_mb / 4:,.0f} MB | {peak_quarter:.0f} MB |",
        f"| {size_mb:,.0f} MB | {peak_full:.0f} MB |",
        "",
        f"- 4x the bytes: {growth:+.1f} MB of peak memory "
        f"({'constant' if abs(growth) <= 16 else 'GROWS'}: the chunks are 1 MiB per thread, "
        "the rest is the interpreter and its imports)",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_report:
        RESULTS.write_text(text)


def _version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    except OSError:
        return "?"
    return out.splitlines()[0] if out else "?"


if __name__ == "__main__":
    main()
