"""The catalog's speed goals (#26, #29): full build, one-change rebuild, fleet read via the site.

``python bench/site.py [SIZE...] [--runs N]`` (default sizes 2000 and 10000) builds each
registry with ``_build.py`` (3 versions per model, one commit) under bench/.work/site/ and
times, each as a cold ``gitreg`` process:

- one cold whole-registry read: ``gitreg versions --max-results 200000`` (bench/run.py's
  "list all versions (cache cold)", every manifest read, parsed and checked) with the
  caches in .git/gitreg removed, as on a fresh clone;
- a full build: ``gitreg site OUT --full`` into a new directory, parse cache removed (each
  run's OUT is new, and the outputs are deleted only after every size was measured: on this
  machine's ext4, which has no journal, creating files right after tens of thousands were
  deleted makes the kernel skip each recently freed inode, which tripled a build's system
  time; that is the bench's own deletion, not the build, so it is kept out of the timing);
- a rebuild after one change: a commit that tags one model, then ``gitreg site OUT``;
- the fleet read: a new pod resolving ``models:/m-01000@champion`` through the site's
  static API (``resolve --site``, the site served with ETags from 127.0.0.1 as a static
  host or CDN serves it), a restarted pod (its ETag answered 304), against the one-blob
  fetch over git's smart HTTP that ``resolve --remote`` makes (bench/fleet.py's server).

The read, the build and the rebuild are interleaved run by run, so each run's three share
the machine's load of the moment; the goals' ratios are the medians of the per-run ratios.
It prints the medians, the ratios and a verdict per goal: full build within 3x one cold
read, rebuild within 10% of the full build; and, finer, the CPU time (user and system, every
process) of the cold read and of the full build, which says how much of the machine the
load left them. Numbers, never assertions; the load average is
printed with them, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "site"
sys.path.insert(0, str(HERE))
NAME = "m-01000"


GITREG: list[str] = []  # --gitreg: another gitreg to time (e.g. the previous main's)
REUSE = False  # --reuse: time the registry already under bench/.work/site (a copy of main's)


def _gitreg() -> str:
    return GITREG[0] if GITREG else str(Path(sys.executable).with_name("gitreg"))


CPU: list[float] = []  # the CPU time (user + system, all its processes) of each _timed run


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()[-400:]}")
    return elapsed


def _median(runs: int, one: Callable[[int], float]) -> float:
    return statistics.median(one(i) for i in range(runs))


def _cold(registry: Path) -> None:
    """Forget what earlier reads parsed: the next read is a first read."""
    shutil.rmtree(registry / ".git" / "gitreg", ignore_errors=True)


class _StaticHost(BaseHTTPRequestHandler):
    """A static host: files with strong ETags, 304 for an If-None-Match that matches."""

    def do_GET(self) -> None:
        root: Path = self.server.root  # type: ignore[attr-defined]
        path = (root / unquote(self.path.split("?")[0]).lstrip("/")).resolve()
        if not path.is_file() or root not in path.parents:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


def _serve(server: ThreadingHTTPServer) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


def measure(size: str, runs: int, trash: list[Path]) -> dict[str, float]:
    """The medians for one registry size (seconds); ``trash`` gets the outputs to delete."""
    registry = WORK / f"registry-{size}"
    outs = [WORK / f"out-{size}-{i}" for i in range(runs)]
    for stale in [WORK / f"out-{size}", *outs]:
        shutil.rmtree(stale, ignore_errors=True)
    trash.extend(outs)
    if not (REUSE and (registry / ".git").is_dir()):
        shutil.rmtree(registry, ignore_errors=True)
        subprocess.run(
            [sys.executable, str(HERE / "_build.py"), "gitreg", str(registry), size], check=True
        )
    gitreg = _gitreg()

    def cold_read() -> float:
        _cold(registry)
        return _timed([gitreg, "versions", "--max-results", "200000", "--repo", str(registry)])

    def full_build(i: int) -> float:
        _cold(registry)
        return _timed([gitreg, "site", str(outs[i]), "--repo", str(registry), "--full"])

    def rebuild(i: int) -> float:
        _timed([gitreg, "tag", NAME, f"bench=run-{i}-{time.time_ns()}", "--repo", str(registry)])
        return _timed([gitreg, "site", str(outs[i]), "--repo", str(registry)])

    # Interleaved, so that each run's three numbers share the machine's load of the moment;
    # the ratios are taken per run, then their median.
    samples, cpu = [], []
    for i in range(runs):
        samples.append((cold_read(), full_build(i), rebuild(i)))
        cpu.append((CPU[-4], CPU[-3]))  # the read's and the build's (then the tag's, the rebuild's)
    found = {
        "cold_read": statistics.median(c for c, _f, _r in samples),
        "full_build": statistics.median(f for _c, f, _r in samples),
        "rebuild_one_change": statistics.median(r for _c, _f, r in samples),
        "ratio_full_to_cold": statistics.median(f / c for c, f, _r in samples),
        "ratio_rebuild_to_full": statistics.median(r / f for _c, f, r in samples),
        # Finer, never a verdict: the CPU time of every process of each (the wall time's
        # share of it says how much of the machine the load left them).
        "cold_read_cpu": statistics.median(c for c, _f in cpu),
        "full_build_cpu": statistics.median(f for _c, f in cpu),
    }
    found.update(_fleet(registry, outs[-1], runs))
    return found


def _fleet(registry: Path, out: Path, runs: int) -> dict[str, float]:
    """A pod's read: through the static API, and over smart HTTP (one blob)."""
    import fleet  # bench/fleet.py: git http-backend behind a local HTTP server

    gitreg, uri = _gitreg(), f"models:/{NAME}@champion"
    found: dict[str, float] = {}
    site = ThreadingHTTPServer(("127.0.0.1", 0), _StaticHost)
    site.root = out.resolve()  # type: ignore[attr-defined]
    site_url = _serve(site)
    with tempfile.TemporaryDirectory(prefix="gitreg-site-fleet-") as tmp:
        served = Path(tmp) / "served"
        served.mkdir()
        fleet.bare_copy(registry, served / "registry.git")
        git_server = fleet.Server(served)
        threading.Thread(target=git_server.serve_forever, daemon=True).start()
        remote = git_server.url("registry.git")
        env = dict(os.environ)

        def pod(kind: str, warm: bool) -> Callable[[int], float]:
            def one(i: int) -> float:
                cache = Path(tmp) / (f"{kind}-warm" if warm else f"{kind}-new-{i}")
                args = ["--site", site_url] if kind == "site" else ["--remote", remote]
                pod_env = {**env, "XDG_CACHE_HOME": str(cache)}
                return _timed([gitreg, "resolve", uri, *args], pod_env)

            return one

        for kind in ("site", "remote"):
            found[f"fleet_{kind}_new_pod"] = _median(runs, pod(kind, False))
            pod(kind, True)(0)
            found[f"fleet_{kind}_restarted_pod"] = _median(runs, pod(kind, True))
        git_server.shutdown()
    site.shutdown()
    return found


def report(size: str, found: dict[str, float]) -> list[str]:
    """The lines printed for one size: medians, ratios, verdicts."""
    lines = [f"## {int(size):,} models (3 versions each)"]
    lines += [
        f"- {key}: {value * 1000:.0f} ms"
        for key, value in found.items()
        if not key.startswith("ratio_")
    ]
    goal_full, goal_rebuild = found["ratio_full_to_cold"], found["ratio_rebuild_to_full"]
    lines.append(
        f"- full build / cold read (median of per-run ratios) = {goal_full:.2f} (goal <= 3): "
        f"{'MET' if goal_full <= 3 else 'NOT MET'}"
    )
    lines.append(
        f"- rebuild after one change / full build = {goal_rebuild:.3f} (goal <= 0.10): "
        f"{'MET' if goal_rebuild <= 0.10 else 'NOT MET'}"
    )
    lines.append(
        f"- CPU of all processes, full build / cold read (medians) = "
        f"{found['full_build_cpu'] / found['cold_read_cpu']:.2f} (no goal: with the cores "
        "free a build's wall time is below its CPU time, on a loaded machine it nears it)"
    )
    site, remote = found["fleet_site_new_pod"], found["fleet_remote_new_pod"]
    lines.append(
        f"- fleet read, new pod: site {site * 1000:.0f} ms vs smart HTTP {remote * 1000:.0f} ms "
        f"({remote / site:.1f}x); restarted pod: site "
        f"{found['fleet_site_restarted_pod'] * 1000:.0f} ms vs "
        f"{found['fleet_remote_restarted_pod'] * 1000:.0f} ms"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("sizes", nargs="*", default=["2000", "10000"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--gitreg", metavar="PATH", help="the gitreg executable to time (default: this venv's)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the registries already in bench/.work/site (each run adds a tag commit)",
    )
    args = parser.parse_args(argv)
    global REUSE
    REUSE = args.reuse
    if args.gitreg:
        GITREG.append(args.gitreg)
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}; cores: {os.cpu_count()}")
    trash: list[Path] = []
    try:
        for size in args.sizes:
            found = measure(size, args.runs, trash)
            print("\n".join(report(size, found)), flush=True)
    finally:
        for out in trash:  # after every measurement (see the module doc)
            shutil.rmtree(out, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
