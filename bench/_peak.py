"""``python _peak.py ARGS...``: ``gitreg ARGS...``, recording this process's own peak RSS.

The kernel's count for a child (``os.wait4``) is the largest of it and the processes it
waited for: for gitreg that is often ``git cat-file`` (its delta cache and the pack it
maps). bench/history.py runs commands through this to also report gitreg's own peak, which
is written (in KB) to the file named by ``$GITREG_BENCH_PEAK`` at exit.
"""

from __future__ import annotations

import atexit
import os
import resource
import sys
from pathlib import Path


def _record() -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(os.environ["GITREG_BENCH_PEAK"]).write_text(str(peak))


if __name__ == "__main__":
    atexit.register(_record)
    sys.argv = ["gitreg", *sys.argv[1:]]
    from gitreg.cli import entry

    entry()
