"""The history engine on a long history (#23): one model, one version per commit.

``python bench/history.py [--sizes 200,2000] [--variants plain,moves] [--ops ...]
[--runs N] [--before REF [--before-only]] [--report-only] [--no-report]``

Builds, once per size and variant (kept under ``bench/.work/history/``), a registry whose
one model ``long-model`` gets one new version per commit: ``gitreg init``, then one
``git fast-import`` stream of manifests written by ``gitreg.core.manifest.dump`` (checked
byte for byte against a whole ``dump`` of the same state). Two variants:

- ``plain``: version 1 is in Production with ``@champion``; every later commit registers
  one version (stage None): the change is one new block and ``next_version``.
- ``moves``: every commit also moves Staging to the new version (the previous Staging
  version goes to Archived) and ``@challenger`` with it: two blocks and the header change.

Then times, each in a fresh process, ``gitreg history long-model``, ``history --stage
Production``, ``events --since ROOT --json``, ``notify --since ROOT --dry-run`` (one json
webhook subscribed to everything), ``audit --since ROOT --format json`` and ``site OUT``,
gitreg's caches in ``.git/gitreg`` removed before each run, with the peak RSS the kernel
counts for the command (``os.wait4``: the largest of gitreg and the git processes it
waited for) and gitreg's own (``_peak.py``). Each tool's samples are kept in
``bench/.work/history/samples.json``; ``--before REF`` measures gitreg as it is at REF too
(exported with ``git archive`` into ``bench/.venv-history-before``), ``--before-only`` only
that. Prints, and writes to ``bench/RESULTS-history.md``, the times, the growth from the
smallest to the largest size and a verdict per goal: growth at most 15x from 200 to 2,000
commits (linear: 10x the commits), peak memory at most 300 MB.

Not a test: nothing asserts on these numbers. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "history"
RESULTS = BENCH / "RESULTS-history.md"
BEFORE_VENV = BENCH / ".venv-history-before"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

MODEL = "long-model"
GROWTH_GOAL = 15.0
MEMORY_GOAL_MB = 300.0
TIMEOUT = 1800.0
BUILD_FORMAT = 3  # bump when the built registries change, so old ones are rebuilt
START = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed dates, so builds are reproducible
ENV = {
    **os.environ,
    "HOME": str(WORK / "home"),
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_AUTHOR_DATE": f"{START} +0000",
    "GIT_COMMITTER_DATE": f"{START} +0000",
    "GIT_TERMINAL_PROMPT": "0",
    "HOOK_SECRET": "bench-secret",
}
ENV.pop("GITREG_REPO", None)
SUBSCRIPTION = """
notifications:
  webhooks:
    - name: everything
      url: https://hooks.example.com/gitreg
      format: json
      secret_env: HOOK_SECRET
"""
OPS: dict[str, list[str]] = {
    "history": ["history", MODEL],
    "history --stage": ["history", MODEL, "--stage", "Production"],
    "events": ["events", "--since", "{root}", "--json"],
    "notify --dry-run": ["notify", "--since", "{root}", "--dry-run"],
    "audit": ["audit", "--since", "{root}", "--format", "json"],
    "site": ["site", "{out}"],
}
OK_EXITS = {"audit": (0, 1)}  # audit exits 1 when it finds violations: still a measurement
VARIANTS = {
    "plain": "every commit registers one version",
    "moves": "every commit registers one version and moves Staging and @challenger to it",
}


# ------------------------------------------------------------------------------ build


def _version(rng: random.Random, number: int, stage: str) -> dict[str, object]:
    """One version as gitreg's entities write it (the content of ``bench/_data.py``)."""
    import _data

    from gitreg.core.entities import ModelVersion, Stage

    spec = _data._version(rng, MODEL, number, 0, (START + number * 60) * 1000)
    mv = ModelVersion(
        name=MODEL,
        version=number,
        source=spec.source,
        run_id=spec.run_id,
        current_stage=Stage(stage),
        description=spec.description,
        tags=spec.tags,
        metrics=spec.metrics,
        creation_timestamp=spec.created_ms,
        user_id="bench",
    )
    return mv.to_manifest()


class _Manifest:
    """The model's manifest as it grows: its header and one text block per version.

    ``dump`` of a 2,000-version model 2,000 times would make the build quadratic, so each
    version's block is dumped once (and again when it changes) and the text is joined;
    ``check`` compares the join with a whole ``manifest.dump`` of the same state.
    """

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.rng = random.Random(f"history-{variant}")
        self.versions: list[dict[str, object]] = []
        self.blocks: list[str] = []
        self.aliases: dict[str, int] = {}

    def data(self) -> dict[str, object]:
        return {
            "schema_version": 1,
            "name": MODEL,
            "description": "One model retrained nightly for years (bench/history.py).",
            "tags": {"team": "growth"},
            "aliases": dict(self.aliases),
            "next_version": len(self.versions) + 1,
            "created_at": "2026-01-01T00:00:00Z",
            "created_by": "bench",
            "versions": self.versions,
        }

    def add(self, number: int) -> None:
        """Register version ``number`` (and, for ``moves``, move Staging and @challenger)."""
        if number == 1:
            stage = "Production"
            self.aliases["champion"] = 1
        elif self.variant == "moves":
            stage = "Staging"
            if number > 2:
                self._set_stage(number - 2, "Archived")
            self.aliases["challenger"] = number
        else:
            stage = "None"
        self.versions.append(_version(self.rng, number, stage))
        self.blocks.append(self._block(self.versions[-1]))

    def _set_stage(self, number: int, stage: str) -> None:
        self.versions[number - 1] = {**self.versions[number - 1], "stage": stage}
        self.blocks[number - 1] = self._block(self.versions[number - 1])

    @staticmethod
    def _block(version: dict[str, object]) -> str:
        from gitreg.core import manifest

        return manifest.dump({"versions": [version]}).removeprefix("versions:\n")

    def text(self) -> str:
        from gitreg.core import manifest

        header = manifest.dump({k: v for k, v in self.data().items() if k != "versions"})
        return header + "versions:\n" + "".join(self.blocks)

    def check(self) -> None:
        from gitreg.core import manifest

        if self.text() != manifest.dump(self.data()):
            raise SystemExit("bench/history.py: the joined manifest differs from dump()")


def _stream(variant: str, commits: int, start: str) -> Iterator[bytes]:
    """A fast-import stream: ``commits`` commits on main, each registering one version."""
    model = _Manifest(variant)
    for number in range(1, commits + 1):
        model.add(number)
        if number in (1, 2, 3, commits) or number % 500 == 0:
            model.check()
        text = model.text().encode()
        message = f"Register {MODEL} version {number}".encode()
        when = START + number * 60
        yield b"commit refs/heads/main\n"
        yield b"committer bench <bench@example.com> %d +0000\n" % when
        yield b"data %d\n%s\n" % (len(message), message)
        if number == 1:
            yield f"from {start}\n".encode()
        yield b"M 100644 inline models/%s.yaml\n" % MODEL.encode()
        yield b"data %d\n%s\n" % (len(text), text)


def _git(root: Path, *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=root, input=stdin, capture_output=True, check=True, env=ENV
    )
    return proc.stdout.decode().strip()


def build(variant: str, commits: int) -> tuple[Path, str, int]:
    """The registry for ``variant`` and ``commits`` (built once): (root, ROOT commit, bytes)."""
    root = WORK / f"{variant}-{commits}"
    stamp = root / ".git" / "bench-history.json"
    if stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved.get("format") == BUILD_FORMAT:
            return root, saved["root"], saved["bytes"]
    shutil.rmtree(root, ignore_errors=True)
    gitreg = str(Path(sys.executable).with_name("gitreg"))
    subprocess.run([gitreg, "init", str(root)], check=True, capture_output=True, env=ENV)
    with (root / "gitreg.yaml").open("a") as f:
        f.write(SUBSCRIPTION)
    _git(root, "commit", "-q", "-a", "-m", "Subscribe a webhook to every event")
    first = _git(root, "rev-parse", "HEAD")
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--force"], cwd=root, stdin=subprocess.PIPE, env=ENV
    )
    assert proc.stdin is not None
    for chunk in _stream(variant, commits, first):
        proc.stdin.write(chunk)
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    _git(root, "reset", "-q", "--hard", "main")
    size = (root / "models" / f"{MODEL}.yaml").stat().st_size
    stamp.write_text(json.dumps({"format": BUILD_FORMAT, "root": first, "bytes": size}))
    return root, first, size


# ---------------------------------------------------------------------------- measure


@dataclass
class Sample:
    """The runs of one operation on one registry."""

    seconds: list[float] = field(default_factory=list)
    peak_mb: float = 0.0  # gitreg and the git processes it waited for (the largest)
    own_mb: float = 0.0  # gitreg's own process
    error: str | None = None

    @property
    def best(self) -> float | None:
        return min(self.seconds) if self.seconds and self.error is None else None


def run_once(argv: Sequence[str], cwd: Path, ok: Sequence[int]) -> tuple[float, float, float]:
    """Run ``argv`` (a ``_peak.py`` command); (wall seconds, peak RSS in MB of it and the
    children it waited for, its own peak RSS in MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        err_path, peak_path = Path(tmp) / "stderr", Path(tmp) / "peak"
        env = {**ENV, "GITREG_BENCH_PEAK": str(peak_path)}
        with err_path.open("wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(
                list(argv), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - started > TIMEOUT:
                    proc.kill()
                    os.wait4(proc.pid, 0)
                    raise RuntimeError(f"timed out after {TIMEOUT:.0f} s")
                time.sleep(0.001 if time.perf_counter() - started < 1 else 0.05)
            elapsed = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            tail = err_path.read_text("utf-8", "replace").strip().splitlines()[-1:]
            raise RuntimeError(f"exit {code}: {tail}")
        own = int(peak_path.read_text()) if peak_path.exists() else 0
    return elapsed, usage.ru_maxrss / 1024, own / 1024


def measure(python: str, root: Path, first: str, op: str, runs: int) -> Sample:
    """``op`` on the registry at ``root``, ``runs`` times, each cold (no gitreg cache)."""
    sample = Sample()
    out = WORK / "site-out"
    args = [a.format(root=first, out=out) for a in OPS[op]]
    argv = [python, str(BENCH / "_peak.py"), *args]
    for _ in range(runs):
        shutil.rmtree(root / ".git" / "gitreg", ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        try:
            seconds, peak, own = run_once(argv, root, OK_EXITS.get(op, (0,)))
        except RuntimeError as e:
            sample.error = str(e)
            return sample
        sample.seconds.append(seconds)
        sample.peak_mb = max(sample.peak_mb, peak)
        sample.own_mb = max(sample.own_mb, own)
    return sample


# ----------------------------------------------------------------------------- report


def _seconds(sample: Sample | None) -> str:
    if sample is None:
        return "-"
    return "error" if sample.best is None else f"{sample.best:.2f}"


def _verdict(small: Sample, large: Sample) -> tuple[str, str]:
    if small.best is None or large.best is None:
        return "-", "not measured"
    growth = large.best / max(small.best, 1e-9)
    why = [f"growth > {GROWTH_GOAL:g}x"] if growth > GROWTH_GOAL else []
    why += [f"peak > {MEMORY_GOAL_MB:g} MB"] if large.peak_mb > MEMORY_GOAL_MB else []
    return f"{growth:.1f}x", "met" if not why else f"**missed** ({', '.join(why)})"


def _load(raw: object) -> Sample | None:
    if not isinstance(raw, dict):
        return None
    return Sample(raw["seconds"], raw["peak_mb"], raw.get("own_mb", 0.0), raw["error"])


def _goal_table(samples: dict[str, dict[str, object]], small: int, large: int) -> list[str]:
    lines = [
        f"| command | {small:,} commits s | {large:,} commits s | growth | peak MB at "
        f"{large:,} (gitreg + git) | gitreg's own MB | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for op in OPS:
        a, b = (
            _load(samples.get(str(small), {}).get(op)),
            _load(samples.get(str(large), {}).get(op)),
        )
        if a is None or b is None:
            continue
        growth, verdict = _verdict(a, b)
        own = f"{b.own_mb:.0f}" if b.own_mb else "-"
        lines.append(
            f"| `{op}` | {_seconds(a)} | {_seconds(b)} | {growth} | {b.peak_mb:.0f} "
            f"| {own} | {verdict} |"
        )
    return lines


def _before_table(
    after: dict[str, dict[str, object]], before: dict[str, dict[str, object]], size: int
) -> list[str]:
    lines = [
        "| command | before s | after s | faster | before peak MB | after peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for op in OPS:
        a, b = _load(before.get(str(size), {}).get(op)), _load(after.get(str(size), {}).get(op))
        if a is None or b is None or a.best is None or b.best is None:
            continue
        lines.append(
            f"| `{op}` | {a.best:.2f} | {b.best:.2f} | {a.best / max(b.best, 1e-9):.0f}x "
            f"| {a.peak_mb:.0f} | {b.peak_mb:.0f} |"
        )
    return lines


def render(saved: dict[str, dict[str, object]], sizes: list[int]) -> str:
    """RESULTS-history.md from the saved measurements of every tool."""
    small, large = sizes[0], sizes[-1]
    after = saved.get("gitreg", {})
    lines = [
        "# The history engine on a long history (#23)",
        "",
        "Generated by `python bench/history.py` (see its docstring). One model, one version "
        "per commit; each command in a fresh process with gitreg's caches removed; seconds "
        "are the best of the runs; peak memory is the kernel's count for the command "
        "(the largest of gitreg and the git processes it waited for, usually `git cat-file` "
        "with its delta cache), and gitreg's own process apart. Goals: growth from "
        f"{small:,} to {large:,} commits at most {GROWTH_GOAL:g}x (for {large / small:g}x "
        "the commits), "
        f"peak memory at most {MEMORY_GOAL_MB:g} MB.",
    ]
    for tool, entry in saved.items():
        lines += ["", f"## Measured: {tool}", ""]
        lines += [f"- {k}: {v}" for k, v in entry["machine"].items()]  # type: ignore[attr-defined]
    for variant, about in VARIANTS.items():
        bytes_of = after.get("bytes", {}).get(variant, {})  # type: ignore[attr-defined]
        if not bytes_of:
            continue
        sizes_text = ", ".join(
            f"{int(n):,} commits: {b / 1e3:,.0f} kB" for n, b in bytes_of.items()
        )
        lines += [
            "",
            f"## Variant `{variant}`: {about}",
            "",
            f"The manifest at the tip: {sizes_text}.",
        ]
        for tool, entry in saved.items():
            samples = entry.get("samples", {}).get(variant)  # type: ignore[attr-defined]
            if samples:
                lines += ["", f"### {tool}", "", *_goal_table(samples, small, large)]
        for tool, entry in saved.items():
            before = entry.get("samples", {}).get(variant)  # type: ignore[attr-defined]
            mine = after.get("samples", {}).get(variant)  # type: ignore[attr-defined]
            if tool != "gitreg" and before and mine:
                lines += ["", f"### {tool} against this tree, {large:,} commits", ""]
                lines += _before_table(mine, before, large)
    return "\n".join(lines).rstrip() + "\n"


def machine(python: str) -> dict[str, str]:
    def out(argv: list[str]) -> str:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        lines = proc.stdout.strip().splitlines()
        return (lines[-1] if lines else "") if proc.returncode == 0 else "?"

    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": str(os.cpu_count()),
        "python": out([python, "-c", "import sys; print(sys.version.split()[0])"]),
        "git": out(["git", "--version"]),
        "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def _this_tree() -> str:
    def out(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return proc.stdout.strip()

    dirty = out("status", "--porcelain", "--", "gitreg")
    return out("rev-parse", "--short", "HEAD") + (" with uncommitted changes" if dirty else "")


def install_before(ref: str) -> tuple[str, str]:
    """bench/.venv-history-before with gitreg as it is at ``ref``: (its python, the commit)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.strip()  # fmt: skip
    src = WORK / "src-before"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    python = BEFORE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BEFORE_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--force-reinstall", "--no-deps", str(src)], check=True)
    subprocess.run([*pip, str(src)], check=True)
    return str(python), commit


def _measure_tool(
    tool: str, python: str, args: argparse.Namespace, saved: dict[str, dict[str, object]]
) -> None:
    entry: dict[str, object] = {"machine": machine(python), "samples": {}, "bytes": {}}
    entry["machine"]["runs per command"] = str(args.runs)  # type: ignore[index]
    for variant in args.variants.split(","):
        samples: dict[str, dict[str, object]] = {}
        entry["samples"][variant] = samples  # type: ignore[index]
        entry["bytes"][variant] = {}  # type: ignore[index]
        for size in sorted(int(s) for s in args.sizes.split(",")):
            started = time.perf_counter()
            root, first, size_bytes = build(variant, size)
            entry["bytes"][variant][str(size)] = size_bytes  # type: ignore[index]
            print(f"{variant} {size}: built in {time.perf_counter() - started:.1f} s", flush=True)
            samples[str(size)] = {}
            for op in [op for op in args.ops.split(",") if op]:
                sample = measure(python, root, first, op, args.runs)
                samples[str(size)][op] = sample.__dict__
                print(
                    f"  {tool:>24} {op:<18} {_seconds(sample):>8} s {sample.peak_mb:6.0f} MB "
                    f"(own {sample.own_mb:4.0f} MB) {sample.error or ''}",
                    flush=True,
                )
    entry["machine"]["load average at end"] = " ".join(  # type: ignore[index]
        f"{x:.1f}" for x in os.getloadavg()
    )
    saved[tool] = entry


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,2000", help="commits, comma-separated")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="plain, moves or both")
    parser.add_argument("--ops", default=",".join(OPS), help="a comma-separated subset")
    parser.add_argument("--runs", type=int, default=1, help="runs per command (best kept)")
    parser.add_argument("--before", help="also measure gitreg at this ref (e.g. main)")
    parser.add_argument("--before-only", action="store_true", help="measure only --before")
    parser.add_argument("--report-only", action="store_true", help="rewrite the results file")
    parser.add_argument("--no-report", action="store_true", help="do not write the results")
    args = parser.parse_args(argv)
    (WORK / "home").mkdir(parents=True, exist_ok=True)
    store = WORK / "samples.json"
    saved: dict[str, dict[str, object]] = json.loads(store.read_text()) if store.exists() else {}
    if not args.report_only:
        if not args.before_only:
            _measure_tool("gitreg", sys.executable, args, saved)
            saved["gitreg"]["machine"]["gitreg"] = f"this tree at {_this_tree()}"  # type: ignore[index]
        if args.before:
            python, commit = install_before(args.before)
            tool = f"gitreg at {args.before} ({commit})"
            saved = {k: v for k, v in saved.items() if not k.startswith("gitreg at ")}
            _measure_tool(tool, python, args, saved)
        store.write_text(json.dumps(saved, indent=1))
    text = render(saved, sorted(int(s) for s in args.sizes.split(",")))
    print(text)
    if not args.no_report:
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
