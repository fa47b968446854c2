"""Timing primitives: cold child processes (wall time + peak RSS) and hyperfine when present."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

SLOW_SECONDS = 2.0  # a command this slow is timed 3 times, pilot included
VERY_SLOW_SECONDS = 20.0  # ... and this slow, once
TIMEOUT_SECONDS = 600.0


@dataclass
class Sample:
    """The timings of one measured operation."""

    seconds: list[float] = field(default_factory=list)
    maxrss_kb: int = 0
    error: str | None = None
    source: str = "subprocess"

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds and not self.error else None

    def to_json(self) -> dict[str, object]:
        return {
            "median": self.median,
            "seconds": self.seconds,
            "maxrss_kb": self.maxrss_kb,
            "error": self.error,
            "source": self.source,
        }


class CommandFailed(Exception):
    """A benchmarked command exited non-zero."""


def run_once(
    argv: Sequence[str], cwd: str | None = None, env: Mapping[str, str] | None = None
) -> tuple[float, int]:
    """Run ``argv`` to completion; (wall seconds, child's peak RSS in KB)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env) if env else None, stdout=subprocess.DEVNULL,
            stderr=err, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = start + TIMEOUT_SECONDS
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise CommandFailed(f"timed out after {TIMEOUT_SECONDS:.0f}s: {' '.join(argv)}")
            time.sleep(0.0005 if time.perf_counter() - start < 1 else 0.05)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace").strip().splitlines()[-1:]
            raise CommandFailed(f"exit {proc.returncode}: {' '.join(argv)}: {tail}")
    return elapsed, usage.ru_maxrss


def cold(
    argv_for: Callable[[int], Sequence[str]],
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    prepare: Callable[[int], object] | None = None,
    budget: float = 4.0,
    max_runs: int = 15,
) -> Sample:
    """Median of repeated cold runs: a pilot (the warm-up), then as many as ``budget`` allows."""
    sample = Sample()
    index = 0

    def one() -> float:
        nonlocal index
        if prepare is not None:
            prepare(index)
        seconds, rss = run_once(argv_for(index), cwd, env)
        index += 1
        sample.maxrss_kb = max(sample.maxrss_kb, rss)
        return seconds

    try:
        pilot = one()
        if pilot >= VERY_SLOW_SECONDS:
            sample.seconds = [pilot]
        elif pilot >= SLOW_SECONDS:
            sample.seconds = [pilot, one(), one()]
        else:
            runs = max(5, min(max_runs, int(budget / max(pilot, 1e-3))))
            sample.seconds = [one() for _ in range(runs)]
    except CommandFailed as e:
        sample.error = str(e)
    return sample


def hyperfine(
    argv: Sequence[str], *, cwd: str | None = None, env: Mapping[str, str] | None = None
) -> Sample | None:
    """``hyperfine -N`` on a fast read-only command (None when hyperfine is not installed)."""
    exe = shutil.which("hyperfine")
    if exe is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = " ".join(_quote(a) for a in argv)
        proc = subprocess.run(
            [exe, "-N", "--warmup", "3", "--runs", "30", "--export-json", out.name, cmd],
            cwd=cwd, env=dict(env) if env else None, capture_output=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            return Sample(error=proc.stderr.decode(errors="replace")[-300:], source="hyperfine")
        result = json.load(open(out.name))["results"][0]  # noqa: SIM115 - closed with `out`
    return Sample(seconds=list(result["times"]), source="hyperfine")


def _quote(arg: str) -> str:
    return f'"{arg}"' if any(c in arg for c in " #@$*'") else arg
