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
    ("show", "show NAME"),
    ("register", "register (new version)"),
    ("transition", "transition (-> Staging)"),
    ("list_cold", "list all versions (cache cold)"),
    ("list_warm", "list all versions (cache warm)"),
    ("list", "list all versions"),
)
FORBIDDEN = ("jsonschema", "git", "http.client", "urllib3", "requests")
SIZE_LABEL = {"long": "1 x 5,000 versions"}


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
