"""In-process timings: ``python _worker.py TOOL PATH SPEC_JSON`` prints JSON results.

SPEC_JSON is ``[[op, [arg, ...]], ...]``; every op is called once per arg on one client that
was opened once (the open, imports included, is timed as ``open``). Output: seconds per call.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import _ops


def main(argv: list[str]) -> int:
    tool, path, spec = argv
    opener, ops = _ops.TOOLS[tool]
    start = time.perf_counter()
    client = opener(path)
    out: dict[str, list[float]] = {"open": [time.perf_counter() - start]}
    for op, args in json.loads(spec):
        if op not in ops:
            continue  # GTO has no aliases
        times = out.setdefault(op, [])
        for arg in args:
            if tool == "gto" and op == "register":  # GTO registers a commit: give it a new one
                subprocess.run(
                    ["git", "commit", "-q", "--allow-empty", "-m", "bench"], cwd=path, check=True
                )
            start = time.perf_counter()
            ops[op](client, path, arg)
            times.append(time.perf_counter() - start)
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"times": out, "maxrss_kb": maxrss_kb}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
