"""A cold-process call for tools without a CLI for the operation (MLflow has no ``resolve``).

``python _cold.py TOOL OP PATH ARG`` imports the tool, opens a client, runs one operation of
``_ops`` and prints the result, as a deployment job's ``python -c`` would.
"""

from __future__ import annotations

import sys

import _ops


def main(argv: list[str]) -> int:
    tool, op, path, arg = argv
    opener, ops = _ops.TOOLS[tool]
    result = ops[op](opener(path), path, arg)
    if isinstance(result, list):
        for mv in result:
            print(mv.name, mv.version, mv.current_stage, mv.source)
    else:
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
