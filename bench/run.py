"""Benchmark gitreg against MLflow's registry (SQLite) and GTO; see bench/README.md.

    python bench/run.py --install          # create bench/.venv-{gitreg,mlflow,gto} first
    python bench/run.py --quick            # 100 and 1,000 models (a few minutes)
    python bench/run.py                    # 100, 1,000, 10,000 models and the 5,000-version model

Writes bench/RESULTS.md (tables and the machine) and bench/.work/results.json (every sample).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import _data
import _report
from _measure import Sample, cold, hyperfine

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
TOOLS = ("gitreg", "gitreg@before", "mlflow", "gto")
# gitreg@before is gitreg as it was before issue 15's work (``--before``, default: the
# merge-base with main), exported with git archive and installed the same way (#15).
BEFORE_SRC = WORK / "src-before"
# gitreg as users install it: pip rebuilds a local project every time, and a regular
# install has no editable finder (12 ms of every start in an editable one).
PACKAGES = {
    "gitreg": [str(ROOT), "pyinstrument"],
    "gitreg@before": [str(BEFORE_SRC)],
    "mlflow": ["mlflow"],
    "gto": ["gto"],
}
READS = ("resolve_alias", "resolve_stage", "show", "list")
WRITES = ("register", "transition", "alias")
ENV = {
    **os.environ,
    "HOME": str(WORK / "home"),
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_TERMINAL_PROMPT": "0",
    # No network here, and telemetry is not what we measure.
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}
for _var in (
    "GITREG_REPO",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "PYTHONDONTWRITEBYTECODE",
):
    ENV.pop(_var, None)


def venv(tool: str) -> Path:
    return BENCH / f".venv-{tool.replace('@', '-')}"


def base(tool: str) -> str:
    """``gitreg@before`` is gitreg: same commands, same API."""
    return tool.split("@", 1)[0]


def export_before(ref: str) -> str:
    """Write the tree of ``ref`` to BEFORE_SRC; return its commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    shutil.rmtree(BEFORE_SRC, ignore_errors=True)
    BEFORE_SRC.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(BEFORE_SRC)], input=archive, check=True)
    (BEFORE_SRC / "COMMIT").write_text(commit + "\n")
    return commit


def python(tool: str) -> str:
    return str(venv(tool) / "bin" / "python")


def install(tool: str) -> None:
    """Create bench/.venv-TOOL and install the tool (gitreg from this working tree)."""
    if not (venv(tool) / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv(tool))], check=True)
    pip = [python(tool), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for attempt in (1, 2):  # a registry hiccup should not cost a 40-minute run
        if subprocess.run([*pip, *PACKAGES[tool]], check=False).returncode == 0:
            return
        print(f"pip install for {tool} failed (attempt {attempt})", file=sys.stderr)
    raise SystemExit(f"could not install {tool} into {venv(tool)}")


# ------------------------------------------------------------------------ registries


class Registry:
    """One built registry of one tool, and the arguments its benchmark calls will use."""

    def __init__(self, tool: str, size: str) -> None:
        self.tool, self.size = tool, size
        self.path = WORK / "reg" / f"{tool}-{size}"
        self.models = 1 if size == "long" else int(size)
        self._register = 0
        self._transition = 0
        self._alias = 0

    @property
    def read_name(self) -> str:
        return _data.LONG_MODEL if self.size == "long" else _data.model_name(self.models // 2)

    def register_arg(self) -> str:
        """``name:k``: a new version of a different model each call (the same one for long)."""
        self._register += 1
        index = (self._register * 7919) % self.models
        name = _data.LONG_MODEL if self.size == "long" else _data.model_name(index)
        return f"{name}:{self._register}"

    def transition_arg(self) -> str:
        """``name:version:stage``: each call changes something. Version 1 of each model in
        turn (104729 is prime: every model once a lap), to Staging on even laps and back to
        Archived on odd ones: a small registry's calls outnumber its models."""
        self._transition += 1
        if self.size == "long":
            return f"{_data.LONG_MODEL}:{self._transition}:Staging"
        lap = (self._transition - 1) // self.models
        stage = "Archived" if lap % 2 else "Staging"
        return f"{_data.model_name((self._transition * 104729) % self.models)}:1:{stage}"

    def alias_arg(self) -> str:
        """``name:k:version``: a new alias each call, on an existing version."""
        self._alias += 1
        if self.size == "long":
            return f"{_data.LONG_MODEL}:{self._alias}:{self._alias % 5000 + 1}"
        return f"{_data.model_name((self._alias * 7919) % self.models)}:{self._alias}:2"

    def build(self) -> float:
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        subprocess.run(
            [python(self.tool), str(BENCH / "_build.py"), self.tool, str(self.path), self.size],
            check=True, env=ENV, cwd=BENCH, capture_output=True,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        self.settle()
        return seconds

    def settle(self, limit: float = 120.0) -> None:
        """Wait for a ``git gc --auto`` the build started in the background (gitreg runs it
        after a local write, as ``git commit`` does): measured writes must not share the
        machine with the one-off packing of a bulk import."""
        pid = self.path / ".git" / "gc.pid"
        deadline = time.monotonic() + limit
        while pid.exists() and time.monotonic() < deadline:
            time.sleep(0.2)

    def new_commit(self, _index: int = 0) -> None:
        """GTO registers a commit, and a commit can hold one version of an artifact."""
        subprocess.run(
            ["git", "commit", "-q", "--allow-empty", "-m", "bench"],
            cwd=self.path, env=ENV, check=True,
        )  # fmt: skip

    def drop_cache(self, _index: int = 0) -> None:
        (self.path / ".git" / "gitreg" / "cache.marshal").unlink(missing_ok=True)

    def drop_caches(self, _index: int = 0) -> None:
        """Every cache gitreg keeps in .git/gitreg: what a fresh clone has."""
        shutil.rmtree(self.path / ".git" / "gitreg", ignore_errors=True)


def cold_argv(reg: Registry, op: str, arg: str) -> list[str]:
    """The command line a user of ``reg.tool`` runs for ``op``."""
    name, _, extra = arg.partition(":")
    path = str(reg.path)
    if base(reg.tool) == "gitreg":
        exe = str(venv(reg.tool) / "bin" / "gitreg")
        k, _, version = extra.partition(":")  # alias: k:version; transition: version:stage
        return {
            "resolve_alias": [exe, "resolve", f"models:/{name}@champion", "--repo", path],
            "resolve_stage": [exe, "resolve", f"models:/{name}/Production", "--repo", path],
            "resolve_at": [exe, "resolve", f"models:/{name}@champion", "--at", "HEAD", "--repo",
                           path],
            "show": [exe, "show", name, "--repo", path],
            "register": [exe, "register", name, f"s3://bench-new/{name}/{extra}", "--repo", path],
            "transition": [exe, "transition", name, k, version or "Staging", "--repo", path],
            "alias": [exe, "alias", name, f"bench{k}", version, "--repo", path],
            "list": [exe, "versions", "--max-results", "200000", "--repo", path],
        }[op]  # fmt: skip
    if reg.tool == "gto":
        exe = str(venv("gto") / "bin" / "gto")
        return {
            "resolve_alias": [exe, "show", f"{name}#prod", "--ref", "--repo", path],
            "resolve_stage": [exe, "show", f"{name}#prod", "--ref", "--repo", path],
            "show": [exe, "show", name, "--repo", path],
            "register": [exe, "register", name, "--repo", path],
            "transition": [exe, "assign", name, "--version", f"v0.0.{k}", "--stage", "staging",
                           "--repo", path],
            "list": [exe, "show", "--repo", path],
        }[op]  # fmt: skip
    return [python("mlflow"), str(BENCH / "_cold.py"), "mlflow", op, path, arg]


# ----------------------------------------------------------------------- measurements


def _next_arg(reg: Registry, op: str) -> str:
    if op == "register":
        return reg.register_arg()
    if op == "transition":
        return reg.transition_arg()
    if op == "alias":
        return reg.alias_arg()
    return reg.read_name


def _argv_maker(reg: Registry, op: str) -> Callable[[int], list[str]]:
    return lambda _index: cold_argv(reg, op, _next_arg(reg, op))


def _cold_ops(tool: str) -> list[str]:
    ops = [*READS, *WRITES]
    if base(tool) == "gitreg":
        ops.insert(2, "resolve_at")
    if tool == "gto":
        ops = [op for op in ops if op not in ("resolve_alias", "alias")]  # GTO has no aliases
    return ops


def measure_cold(reg: Registry, results: dict[str, object], budget: float) -> None:
    for op in _cold_ops(reg.tool):
        key = op
        if base(reg.tool) == "gitreg" and op == "list":
            sample = cold(_argv_maker(reg, op), env=ENV, prepare=reg.drop_cache, budget=budget)
            results["list_cold"] = sample.to_json()
            _progress(reg, "cold list_cold", sample)
            key = "list_warm"  # the run below finds the cache the pilot wrote
        prepare = reg.new_commit if (op == "register" and reg.tool == "gto") else None
        max_runs = 8 if op in WRITES else 15
        sample = cold(
            _argv_maker(reg, op), env=ENV, prepare=prepare, budget=budget, max_runs=max_runs
        )
        results[key] = sample.to_json()
        _progress(reg, f"cold {key}", sample)
    if reg.tool == "gto":
        results["resolve_alias"] = results["resolve_stage"]


def measure_inprocess(reg: Registry, results: dict[str, object], calls: int) -> None:
    spec = [[op, [reg.read_name] * calls] for op in ("resolve_alias", "resolve_stage", "show")] + [
        ["git_spawn", [""] * calls],
        ["register", [reg.register_arg() for _ in range(calls)]],
        ["transition", [reg.transition_arg() for _ in range(calls)]],
        ["alias", [reg.alias_arg() for _ in range(calls)]],
        ["list", [""] * max(1, min(calls, 5))],
    ]
    proc = subprocess.run(
        [python(reg.tool), str(BENCH / "_worker.py"), reg.tool, str(reg.path), json.dumps(spec)],
        env=ENV, cwd=BENCH, capture_output=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
        results["error"] = f"worker failed: {tail}"
        print(f"  {reg.tool}-{reg.size}: in-process failed: {tail}", flush=True)
        return
    out = json.loads(proc.stdout)
    for op, seconds in out["times"].items():
        results[op] = Sample(seconds=seconds, source="in-process").to_json()
    results["maxrss_kb"] = out["maxrss_kb"]
    print(f"  {reg.tool}-{reg.size}: in-process done", flush=True)


def measure_validate(reg: Registry, results: dict[str, object]) -> None:
    """``gitreg validate`` of the registry (first on a fresh clone, then with its caches) and
    of the last one-model commit."""
    exe = str(venv(reg.tool) / "bin" / "gitreg")
    probe = subprocess.run(
        [exe, "validate", "--help"], env=ENV, capture_output=True, check=False, text=True
    )
    if probe.returncode != 0:
        results["validate_full"] = results["validate_change"] = {"error": "n/a (no command)"}
        return
    argv = [exe, "validate", "--repo", str(reg.path)]
    # A fresh clone has none of gitreg's caches in .git/gitreg: drop them before each run.
    first = cold(lambda i: argv, env=ENV, prepare=reg.drop_caches, max_runs=5)
    results["validate_first"] = first.to_json()
    _progress(reg, "validate first", first)
    full = cold(lambda i: argv, env=ENV, max_runs=5)
    results["validate_full"] = full.to_json()
    change = cold(
        lambda i: [exe, "validate", "--base", "HEAD~1", "--repo", str(reg.path)],
        env=ENV, max_runs=5,
    )  # fmt: skip
    results["validate_change"] = change.to_json()


def count_git(reg: Registry) -> dict[str, int]:
    """How many git processes one cold command starts (a counting ``git`` first on PATH)."""
    shim = WORK / "git-shim"
    shim.mkdir(parents=True, exist_ok=True)
    real = shutil.which("git", path=os.environ.get("PATH")) or "/usr/bin/git"
    (shim / "git").write_text(f'#!/bin/sh\necho "$1" >> "$GIT_COUNT_FILE"\nexec {real} "$@"\n')
    (shim / "git").chmod(0o755)
    counts = {}
    for op in ("resolve_alias", "register", "transition", "alias"):
        log = WORK / "git-count.log"
        log.unlink(missing_ok=True)
        env = {**ENV, "PATH": f"{shim}:{ENV.get('PATH', '')}", "GIT_COUNT_FILE": str(log)}
        subprocess.run(
            cold_argv(reg, op, _next_arg(reg, op)), env=env, capture_output=True, check=False
        )
        counts[op] = len(log.read_text().splitlines()) if log.exists() else 0
    return counts


def measure_floor(reg: Registry) -> dict[str, object]:
    manifest = reg.path / "models" / f"{reg.read_name}.yaml"  # the one resolve reads
    py = python("gitreg")
    argvs = {
        "python_pass": [py, "-c", "pass"],
        "python_read_file": [py, "-c", "import sys; open(sys.argv[1], 'rb').read()", str(manifest)],
        "gitreg_help": [str(venv("gitreg") / "bin" / "gitreg"), "--help"],
    }
    out: dict[str, object] = {k: cold(_fixed(a), env=ENV).to_json() for k, a in argvs.items()}
    for key, argv in (
        ("hyperfine_read_file", argvs["python_read_file"]),
        ("hyperfine_resolve", cold_argv(reg, "resolve_alias", reg.read_name)),
    ):
        sample = hyperfine(argv, env=ENV)
        if sample is not None:
            out[key] = sample.to_json()
    return out


def _fixed(argv: list[str]) -> Callable[[int], list[str]]:
    return lambda _index: argv


def _progress(reg: Registry, what: str, sample: Sample) -> None:
    value = f"{sample.median * 1000:9.1f} ms" if sample.median is not None else sample.error
    print(f"  {reg.tool}-{reg.size}: {what:<16} {value}", flush=True)


# ------------------------------------------------------------------------------- main


def run_size(size: str, tools: Sequence[str], budget: float) -> dict[str, object]:
    print(f"== size {size}", flush=True)
    out: dict[str, object] = {}
    for tool in tools:
        reg = Registry(tool, size)
        try:
            seconds = reg.build()
        except subprocess.CalledProcessError as e:
            # gitreg is installed from a working tree that others edit: retry a broken moment.
            print(f"  {tool}-{size}: build failed ({e.stderr.decode()[-200:]!r}); retrying")
            time.sleep(10)
            try:
                seconds = reg.build()
            except subprocess.CalledProcessError as again:
                out[tool] = {"error": again.stderr.decode(errors="replace")[-300:]}
                continue
        print(f"  {tool}-{size}: built in {seconds:.1f}s", flush=True)
        cold_results: dict[str, object] = {}
        inproc: dict[str, object] = {}
        measure_cold(reg, cold_results, budget)
        calls = (3 if reg.models <= 100 else 1) if tool == "gto" else 20  # GTO: seconds a call
        if tool == "gto" and (size == "long" or reg.models >= 10_000):
            inproc["skipped"] = "GTO keeps no state between calls: in-process = cold (see cold)"
        else:
            measure_inprocess(reg, inproc, calls=calls)
        entry: dict[str, object] = {
            "build_seconds": seconds,
            "cold": cold_results,
            "inproc": inproc,
        }
        if base(tool) == "gitreg":
            measure_validate(reg, cold_results)
            entry["git_processes"] = count_git(reg)
        if tool == "gitreg":
            entry["floor"] = measure_floor(reg)
        out[tool] = entry
    return out


def run_stress(tools: Sequence[str]) -> dict[str, object]:
    """bench/stress.py (1, 8 and 16 writers in 4 clones of one remote), after and before."""
    out: dict[str, object] = {}
    for tool in ("gitreg", "gitreg@before"):
        if tool not in tools:
            continue
        rows = WORK / f"stress-{base(tool)}-{tool.partition('@')[2] or 'after'}.json"
        argv = [python(tool), str(BENCH / "stress.py"), "--writers", "1,8,16",
                "--per-writer", "10", "--json", str(rows)]  # fmt: skip
        proc = subprocess.run(argv, env=ENV, capture_output=True, text=True, check=False)
        print(proc.stdout, flush=True)
        out[tool] = (
            json.loads(rows.read_text())
            if proc.returncode == 0 and rows.exists()
            else {"error": proc.stderr[-400:]}
        )
    return out


def run_fleet(tools: Sequence[str]) -> dict[str, object]:
    """bench/fleet.py on the 10,000-model registries: read without a clone vs clone vs GTO."""
    out = WORK / "fleet.json"
    argv = [python("gitreg"), str(BENCH / "fleet.py"), "--work", str(WORK), "--out", str(out),
            "--gitreg", str(venv("gitreg") / "bin" / "gitreg")]  # fmt: skip
    if "gto" in tools:
        argv += ["--gto", str(venv("gto") / "bin" / "gto")]
    proc = subprocess.run(argv, env=ENV, capture_output=True, text=True, check=False)
    print(proc.stdout, flush=True)
    if proc.returncode != 0 or not out.exists():
        return {"error": proc.stderr[-400:]}
    result: dict[str, object] = json.loads(out.read_text())
    return result


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(argv: list[str]) -> str:
        if not Path(argv[0]).exists() and not shutil.which(argv[0]):
            return "absent"
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=ENV)
        if proc.returncode != 0:
            return "?"
        return (proc.stdout or proc.stderr).strip().splitlines()[-1]

    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB",
        "python": version([python("gitreg"), "--version"]),
        "git": version(["git", "--version"]),
        "hyperfine": version(["hyperfine", "--version"]) if shutil.which("hyperfine") else "absent",
        "gitreg": version([python("gitreg"), "-c", "import gitreg; print(gitreg.__version__)"]),
        "gitreg@before": (BEFORE_SRC / "COMMIT").read_text().strip()
        if (BEFORE_SRC / "COMMIT").exists()
        else "absent",
        "mlflow": version([python("mlflow"), "-c", "import mlflow; print(mlflow.__version__)"]),
        "gto": version([python("gto"), "-c", "import gto; print(gto.__version__)"]),
        "os": version(["uname", "-srm"]),
        # Other processes on the same cores inflate wall times: record how busy the machine was.
        "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def _from_saved(*, stress: bool) -> int:
    """Rerun only bench/stress.py into .work/results.json, or only rewrite RESULTS.md."""
    results = json.loads((WORK / "results.json").read_text())
    if stress:  # e.g. after a run whose stress step failed
        results["stress"] = run_stress(results["tools"])
        (WORK / "results.json").write_text(json.dumps(results, indent=1))
        return 0
    (BENCH / "RESULTS.md").write_text(_report.render(results))
    return 0


def _prepare(tools: Sequence[str], install_them: bool, before: str) -> None:
    """The bench's git identity, gitreg@before's tree, and the venvs."""
    (WORK / "home").mkdir(parents=True, exist_ok=True)
    (WORK / "home" / ".gitconfig").write_text(
        "[user]\n\tname = bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    if "gitreg@before" in tools and (install_them or not BEFORE_SRC.exists()):
        merge_base = subprocess.run(
            ["git", "merge-base", "HEAD", before], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        print(f"gitreg@before: {export_before(merge_base or before)}", flush=True)
    for tool in tools:
        if install_them:
            install(tool)
        elif not venv(tool).exists():
            raise SystemExit(f"{venv(tool)} is missing: run with --install")


def _only_26(args: argparse.Namespace) -> int:
    import _goals26

    if args.report_only:  # the section again, from .work/results-26.json
        _goals26.write_section(_goals26.render(json.loads((WORK / "results-26.json").read_text())))
        return 0
    _prepare(_goals26.TOOLS, args.install, args.before)
    sizes = args.sizes.split(",") if args.sizes else None
    return _goals26.main(sizes, args.budget, others=not args.no_stress)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--install", action="store_true", help="create the venvs first")
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 models only")
    parser.add_argument("--sizes", help="comma-separated, e.g. 100,1000,10000,long")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--budget", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--no-report", action="store_true", help="do not write RESULTS.md")
    parser.add_argument(
        "--before", default="main", help="gitreg@before: this ref's tree (default: main)"
    )
    parser.add_argument(
        "--no-stress", action="store_true", help="skip bench/stress.py (--only 26: group, site)"
    )
    parser.add_argument("--no-fleet", action="store_true", help="skip bench/fleet.py")
    parser.add_argument(
        "--stress-only", action="store_true", help="run bench/stress.py into .work/results.json"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite RESULTS.md from .work/results.json"
    )
    parser.add_argument(
        "--only",
        choices=["26"],
        help="26: only issue 26's goals (gitreg, gitreg@before, mlflow; bench/group.py and "
        "bench/site.py), into RESULTS.md's 'Issue 26 goals' section (see _goals26.py)",
    )
    args = parser.parse_args(argv)
    if args.only == "26":
        return _only_26(args)
    if args.stress_only or args.report_only:
        return _from_saved(stress=args.stress_only)
    tools = [t for t in args.tools.split(",") if t]
    sizes = args.sizes.split(",") if args.sizes else (
        ["10", "100", "1000"] if args.quick else ["10", "100", "1000", "10000", "long"]
    )  # fmt: skip
    _prepare(tools, args.install, args.before)
    started = time.perf_counter()
    results: dict[str, object] = {"machine": machine(), "sizes": {}, "tools": tools}
    for size in sizes:
        results["sizes"][size] = run_size(size, tools, args.budget)  # type: ignore[index]
        (WORK / "results.json").write_text(json.dumps(results, indent=1))
    if not args.no_stress:
        results["stress"] = run_stress(tools)
        (WORK / "results.json").write_text(json.dumps(results, indent=1))
    if not args.no_fleet and "10000" in sizes:
        results["fleet"] = run_fleet(tools)
        (WORK / "results.json").write_text(json.dumps(results, indent=1))
    results["imports"] = _report.import_check(python("gitreg"), ENV, WORK)
    results["wall_seconds"] = time.perf_counter() - started
    results["machine"]["load average at end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    text = _report.render(results)
    print(text)
    if not args.no_report:
        (BENCH / "RESULTS.md").write_text(text)
    print(f"done in {results['wall_seconds'] / 60:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
