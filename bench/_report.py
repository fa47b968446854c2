"""RESULTS.md from results.json, and the import-discipline check (``-X importtime``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

OPS = (
    ("resolve_alias", "resolve models:/NAME@champion"),
    ("resolve_stage", "resolve models:/NAME/Production"),
    ("resolve_at", "resolve @champion --at HEAD"),
    ("show", "show NAME"),
    ("register", "register (new version)"),
    ("transition", "transition (-> Staging)"),
    ("alias", "alias (a new @alias)"),
    ("list_cold", "list all versions (cache cold)"),
    ("list_warm", "list all versions (cache warm)"),
    ("list", "list all versions"),
)
FORBIDDEN = ("jsonschema", "git", "http.client", "urllib3", "requests")
SIZE_LABEL = {"long": "1 x 5,000 versions"}
AFTER, BEFORE = "gitreg", "gitreg@before"


def _label(size: str) -> str:
    return SIZE_LABEL[size] if size in SIZE_LABEL else f"{int(size):,} models x 3"


def _ms(entry: Any) -> str:
    if not isinstance(entry, Mapping):
        return "= cold" if entry == "skipped" else ""
    if entry.get("median") is None:
        return str(entry.get("error") or "")[:40] or "-"
    value = entry["median"] * 1000
    runs = len(entry.get("seconds") or ())
    text = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return text + ("*" if runs == 1 else "")


def _min_ms(entry: Any) -> str:
    if not isinstance(entry, Mapping) or not entry.get("seconds") or entry.get("error"):
        return ""
    return f"{min(entry['seconds']) * 1000:,.1f}"


def _ratio(mine: Any, peer: Any) -> str:
    a = mine.get("median") if isinstance(mine, Mapping) else None
    b = peer.get("median") if isinstance(peer, Mapping) else None
    if not a or not b:
        return ""
    if b >= a:
        return f"{a / b:.2g} ({b / a:,.0f}x faster)"
    return f"{a / b:.2f} ({a / b:,.1f}x slower)"


def _peer(tool_results: Mapping[str, Any], mode: str, op: str) -> Any:
    table = tool_results.get(mode, {})
    if "skipped" in table:
        return "skipped"
    if op in table:
        return table[op]
    return table.get("list") if op.startswith("list_") else None


def _table(results: Mapping[str, Any], mode: str) -> list[str]:
    tools = results["tools"]
    header = ["registry", "operation", *(f"{t} ms" for t in tools)]
    header += [f"gitreg/{t}" for t in tools if t != "gitreg"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for size, by_tool in results["sizes"].items():
        for op, label in OPS:
            skipped = ("list_cold", "list_warm") if mode == "inproc" else ("list",)
            if op in skipped:
                continue
            mine = _peer(by_tool.get("gitreg", {}), mode, op)
            cells = [_ms(_peer(by_tool.get(t, {}), mode, op)) for t in tools]
            ratios = [
                _ratio(mine, _peer(by_tool.get(t, {}), mode, op)) for t in tools if t != "gitreg"
            ]
            lines.append("| " + " | ".join([_label(size), label, *cells, *ratios]) + " |")
    return lines


def _memory(results: Mapping[str, Any]) -> list[str]:
    tools = results["tools"]
    lines = ["| registry | " + " | ".join(f"{t} MB (cold, max over ops)" for t in tools) + " |"]
    lines.append("|" + "---|" * (len(tools) + 1))
    for size, by_tool in results["sizes"].items():
        cells = []
        for t in tools:
            cold = by_tool.get(t, {}).get("cold", {})
            peak = max((e.get("maxrss_kb", 0) for e in cold.values() if isinstance(e, Mapping)),
                       default=0)  # fmt: skip
            cells.append(f"{peak / 1024:.0f}" if peak else "-")
        lines.append(f"| {_label(size)} | " + " | ".join(cells) + " |")
    return lines


def _targets(results: Mapping[str, Any]) -> list[str]:
    lines = [
        "| registry | floor: python -c pass | floor: + read one file | gitreg --help "
        "| gitreg resolve @champion | resolve / floor (median) | min floor / min resolve "
        "| hyperfine floor | hyperfine resolve | validate (all) | validate --base HEAD~1 |",
        "|" + "---|" * 11,
    ]
    for size, by_tool in results["sizes"].items():
        g = by_tool.get("gitreg")
        if not g or "floor" not in g or "cold" not in g:
            continue
        floor, cold = g["floor"], g["cold"]
        ratio = ""
        if floor["python_read_file"].get("median") and cold["resolve_alias"].get("median"):
            ratio = f"{cold['resolve_alias']['median'] / floor['python_read_file']['median']:.2f}x"
        cells = [
            _ms(floor["python_pass"]),
            _ms(floor["python_read_file"]),
            _ms(floor["gitreg_help"]),
            _ms(cold["resolve_alias"]),
            ratio,
            f"{_min_ms(floor['python_read_file'])} / {_min_ms(cold['resolve_alias'])}",
            _ms(floor.get("hyperfine_read_file")),
            _ms(floor.get("hyperfine_resolve")),
            _ms(cold.get("validate_full")),
            _ms(cold.get("validate_change")),
        ]
        lines.append(f"| {_label(size)} | " + " | ".join(cells) + " |")
    return lines


def _builds(results: Mapping[str, Any]) -> list[str]:
    tools = results["tools"]
    lines = ["| registry | " + " | ".join(f"{t} build s" for t in tools) + " |"]
    lines.append("|" + "---|" * (len(tools) + 1))
    for size, by_tool in results["sizes"].items():
        cells = [f"{by_tool[t]['build_seconds']:.1f}" if t in by_tool else "-" for t in tools]
        lines.append(f"| {_label(size)} | " + " | ".join(cells) + " |")
    return lines


def _imports(results: Mapping[str, Any]) -> list[str]:
    imports = results.get("imports") or {}
    lines = []
    for command, info in imports.items():
        if not isinstance(info, Mapping):
            continue
        bad = ", ".join(info.get("forbidden") or []) or "none"
        lines.append(
            f"- `{command}`: {info.get('modules', '?')} modules, import time "
            f"{info.get('import_ms', 0):.1f} ms; forbidden modules imported: {bad}"
        )
        for mod, us in info.get("top", [])[:6]:
            lines.append(f"  - {mod}: {us / 1000:.1f} ms cumulative")
    return lines


def _median(entry: Any) -> float | None:
    if isinstance(entry, Mapping) and entry.get("median") is not None and not entry.get("error"):
        return float(entry["median"])
    return None


def _get(results: Mapping[str, Any], size: str, tool: str, mode: str, op: str) -> float | None:
    return _median(results["sizes"].get(size, {}).get(tool, {}).get(mode, {}).get(op))


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:,.1f}" if ms < 100 else f"{ms:,.0f}"


def _verdict(value: float | None, goal: float) -> str:
    return "-" if value is None else ("met" if value <= goal else "**missed**")


def _write_rows(results: Mapping[str, Any]) -> list[str]:
    lines = [
        "| registry | op | after ms | before ms | one git spawn ms | after / spawn "
        "| goal: <= 4x spawn (5,000 versions: <= 150 ms) | mlflow ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in results["sizes"]:
        spawn = _get(results, size, AFTER, "inproc", "git_spawn")
        for op in ("register", "transition", "alias"):
            after = _get(results, size, AFTER, "inproc", op)
            ratio = after / spawn if after and spawn else None
            goal = _verdict(after, 0.150) if size == "long" else _verdict(ratio, 4.0)
            cells = [
                _label(size),
                op,
                _fmt(after),
                _fmt(_get(results, size, BEFORE, "inproc", op)),
                _fmt(spawn),
                f"{ratio:.1f}x" if ratio else "-",
                goal,
                _fmt(_get(results, size, "mlflow", "inproc", op)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _flat_rows(results: Mapping[str, Any]) -> list[str]:
    sizes = [s for s in results["sizes"] if s != "long"]
    if len(sizes) < 2:
        return []
    small, large = sizes[0], sizes[-1]
    lines = [
        f"| op | tool | {_label(small)} ms | {_label(large)} ms | growth | goal <= 1.3x |",
        "|---|---|---|---|---|---|",
    ]
    for op in ("register", "transition", "alias"):
        for tool in (AFTER, BEFORE):
            a, b = (_get(results, s, tool, "inproc", op) for s in (small, large))
            growth = b / a if a and b else None
            lines.append(
                f"| {op} | {tool} | {_fmt(a)} | {_fmt(b)} | "
                f"{f'{growth:.2f}x' if growth else '-'} | {_verdict(growth, 1.3)} |"
            )
    return lines


def _cli_rows(results: Mapping[str, Any]) -> list[str]:
    lines = [
        "| registry | op | after ms | before ms | goal <= 120 ms | git processes after | before |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, by_tool in results["sizes"].items():
        counts = by_tool.get(AFTER, {}).get("git_processes", {})
        before = by_tool.get(BEFORE, {}).get("git_processes", {})
        for op in ("register", "transition", "alias"):
            after = _get(results, size, AFTER, "cold", op)
            cells = [
                _label(size),
                op,
                _fmt(after),
                _fmt(_get(results, size, BEFORE, "cold", op)),
                _verdict(after, 0.120),
                str(counts.get(op, "-")),
                str(before.get(op, "-")),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _resolve_rows(results: Mapping[str, Any]) -> list[str]:
    lines = [
        "| registry | floor ms | resolve after ms | / floor | --at HEAD ms | / floor "
        "| goal <= 3x | before ms | mlflow ms | gto ms |",
        "|" + "---|" * 10,
    ]
    for size, by_tool in results["sizes"].items():
        floor = _median((by_tool.get(AFTER, {}).get("floor") or {}).get("python_read_file"))
        after = _get(results, size, AFTER, "cold", "resolve_alias")
        at = _get(results, size, AFTER, "cold", "resolve_at")
        worst = max((x / floor for x in (after, at) if x and floor), default=None)
        cells = [
            _label(size),
            _fmt(floor),
            _fmt(after),
            f"{after / floor:.2f}x" if after and floor else "-",
            _fmt(at),
            f"{at / floor:.2f}x" if at and floor else "-",
            _verdict(worst, 3.0),
            _fmt(_get(results, size, BEFORE, "cold", "resolve_alias")),
            _fmt(_get(results, size, "mlflow", "cold", "resolve_alias")),
            _fmt(_get(results, size, "gto", "cold", "resolve_alias")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _validate_rows(results: Mapping[str, Any]) -> list[str]:
    lines = [
        "| registry | first validate (fresh clone) after ms | before ms | goal <= 2 s "
        "| with caches after ms | before ms |",
        "|---|---|---|---|---|---|",
    ]
    for size in results["sizes"]:
        first = _get(results, size, AFTER, "cold", "validate_first")
        goal = _verdict(first, 2.0) if size == "10000" else ""
        cells = [
            _label(size),
            _fmt(first),
            _fmt(_get(results, size, BEFORE, "cold", "validate_first")),
            goal,
            _fmt(_get(results, size, AFTER, "cold", "validate_full")),
            _fmt(_get(results, size, BEFORE, "cold", "validate_full")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _stress_rows(results: Mapping[str, Any]) -> list[str]:
    stress = results.get("stress") or {}
    lines = [
        "| code | writers | writes | seconds | writes/s | vs one writer | goal "
        "| retries | worst retries of a write | writes that gave up |",
        "|" + "---|" * 10,
    ]
    for tool in (AFTER, BEFORE):
        rows = stress.get(tool)
        if not isinstance(rows, list) or not rows:
            lines.append(f"| {tool} | {str((rows or {}).get('error', 'not run'))[:80]} |")
            continue
        one = rows[0]["per_second"]
        for row in rows:
            ratio = row["per_second"] / one
            goal = ""
            if row["writers"] == 8:
                goal = "met" if ratio >= 0.7 else "**missed**"
            elif row["writers"] == 16:
                goal = "met" if row["gave_up"] == 0 else "**missed**"
            lines.append(
                f"| {tool} | {row['writers']} | {row['writes']} | {row['seconds']:.1f} | "
                f"{row['per_second']:.1f} | {ratio:.2f} | {goal} | {row['retries']} | "
                f"{row['worst']} | {row['gave_up']} |"
            )
    return lines


def _fleet_rows(results: Mapping[str, Any]) -> list[str]:
    fleet = results.get("fleet") or {}
    if "error" in fleet or not fleet:
        return [f"Not measured: {str(fleet.get('error', 'no 10,000-model run'))[:200]}"]
    labels = {
        "gitreg_remote_new_pod": "gitreg resolve --remote URL (new pod, empty cache)",
        "gitreg_remote_restarted_pod": "gitreg resolve --remote URL (restarted pod, cache kept)",
        "full_clone_then_resolve": "git clone URL + gitreg resolve (without --remote)",
        "gto_remote_show": "gto show NAME#prod --ref --repo URL (GTO clones per call)",
    }
    lines = ["| 10,000 models over smart HTTP on 127.0.0.1 | median ms | runs |", "|---|---|---|"]
    for key, label in labels.items():
        entry = fleet.get(key)
        if isinstance(entry, Mapping):
            lines.append(f"| {label} | {_fmt(entry['median'])} | {len(entry['seconds'])} |")
    sizes = fleet.get("bytes") or {}
    if sizes:
        lines.append("")
        lines.append(
            f"On disk: the remote cache {sizes['remote_cache'] / 1e6:.1f} MB, a full clone "
            f"{sizes['full_clone'] / 1e6:.1f} MB."
        )
    return lines


def _issue15(results: Mapping[str, Any]) -> list[str]:
    """The targets of issue 15, each next to the code before it, the peers and the floor."""
    return [
        "## Issue 15 targets (after = this tree, before = gitreg@before)",
        "",
        "### In-process write vs one git process spawned from the same interpreter",
        "",
        *_write_rows(results),
        "",
        "### Flat from the smallest to the largest registry (in process)",
        "",
        *_flat_rows(results),
        "",
        "### CLI write, cold, and the git processes it starts",
        "",
        *_cli_rows(results),
        "",
        "### Cold resolve vs the floor (a Python process reading the one manifest)",
        "",
        *_resolve_rows(results),
        "",
        "### First validate of a fresh clone",
        "",
        *_validate_rows(results),
        "",
        "### Contention: writers in 4 clones of one remote (bench/stress.py, 10 writes each)",
        "",
        *_stress_rows(results),
        "",
        "### Fleet reads without a clone (bench/fleet.py)",
        "",
        *_fleet_rows(results),
        "",
    ]


def render(results: Mapping[str, Any]) -> str:
    m = results["machine"]
    out = [
        "# Benchmark results",
        "",
        "Generated by `python bench/run.py` (see bench/README.md); every sample is in "
        "`bench/.work/results.json`. Times are medians in milliseconds; `*` marks a single run "
        "(commands slower than 20 s). Ratios are gitreg/peer: below 1 gitreg is faster, and the "
        "parenthesis says how many times.",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in m.items()),
        f"- whole run: {results.get('wall_seconds', 0) / 60:.1f} min",
        "",
        *_issue15(results),
        "## Cold process (one command, new process each time)",
        "",
        "gitreg and GTO through their CLIs; MLflow through `python bench/_cold.py` "
        "(`import mlflow; MlflowClient(registry_uri='sqlite:///...')` and one call: its CLI has "
        "no resolve). GTO has no aliases: both resolve rows run `gto show NAME#prod --ref`.",
        "",
        *_table(results, "cold"),
        "",
        "## In process (one client, per call)",
        "",
        *_table(results, "inproc"),
        "",
        "## Floor, targets and validate (gitreg)",
        "",
        *_targets(results),
        "",
        "## Peak memory (ru_maxrss of the child process)",
        "",
        *_memory(results),
        "",
        "## Imports",
        "",
        *_imports(results),
        "",
        "## Build time of the benchmark registries",
        "",
        *_builds(results),
        "",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------- imports

_SNAPSHOT = (
    "import json, sys\n"
    "from gitreg.cli import main\n"
    "out = sys.argv[1]\n"
    "try:\n"
    "    main(sys.argv[2:])\n"
    "finally:\n"
    "    json.dump(sorted(sys.modules), open(out, 'w'))\n"
)


def _importtime(stderr: str) -> tuple[float, list[tuple[str, int]]]:
    """Total import time (ms) and top-level modules by cumulative microseconds."""
    top_level = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self_us, cumulative, name = line[len("import time:") :].split("|", 2)
        if not name[1:].startswith(" "):  # nested imports are indented further
            top_level.append((name.strip(), int(cumulative)))
    total = sum(us for _, us in top_level)
    return total / 1000, sorted(top_level, key=lambda r: -r[1])


def import_check(python: str, env: Mapping[str, str], work: Path) -> dict[str, Any]:
    """Which modules ``gitreg --help`` and ``gitreg resolve`` load, and their import time."""
    registry = work / "reg" / "gitreg-100"
    name = "m-00050"
    commands = {
        "gitreg --help": ["--help"],
        "gitreg resolve models:/NAME@champion": [
            "resolve", f"models:/{name}@champion", "--repo", str(registry),
        ],
    }  # fmt: skip
    out: dict[str, Any] = {}
    for label, args in commands.items():
        snapshot = work / "modules.json"
        proc = subprocess.run(
            [python, "-X", "importtime", "-c", _SNAPSHOT, str(snapshot), *args],
            env=dict(env), capture_output=True, text=True, check=False,
        )  # fmt: skip
        if not snapshot.exists():
            out[label] = {"error": proc.stderr[-300:]}
            continue
        modules = json.loads(snapshot.read_text())
        snapshot.unlink()
        total, top = _importtime(proc.stderr)
        forbidden = [m for m in FORBIDDEN if m in modules]
        out[label] = {"modules": len(modules), "import_ms": total, "top": top[:8],
                      "forbidden": forbidden}  # fmt: skip
    return out
