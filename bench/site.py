"""Build time and size of the catalog (gitreg site, #14) at 1,000 and 10,000 models.

``python bench/site.py [SIZE...]`` builds each registry with ``_build.py`` (3 versions per
model, one commit) under bench/.work/, then times ``gitreg site`` twice: with a cold parse
cache and with a warm one. Numbers only, no assertions; run it on a quiet machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "site"


def _size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main(sizes: list[str]) -> int:
    gitreg = str(Path(sys.executable).with_name("gitreg"))
    for size in sizes or ["1000", "10000"]:
        registry, out = WORK / f"registry-{size}", WORK / f"out-{size}"
        shutil.rmtree(registry, ignore_errors=True)
        subprocess.run(
            [sys.executable, str(HERE / "_build.py"), "gitreg", str(registry), size], check=True
        )
        for run in ("cold cache", "warm cache"):
            shutil.rmtree(out, ignore_errors=True)
            started = time.perf_counter()
            subprocess.run(
                [gitreg, "site", str(out), "--repo", str(registry)], check=True, capture_output=True
            )
            seconds = time.perf_counter() - started
            files, size_bytes = _size(out)
            index = (out / "index.html").stat().st_size
            print(
                f"{size:>6} models, {run}: {seconds:5.1f} s, {files} files, "
                f"{size_bytes / 1e6:.1f} MB (index.html {index / 1e3:.0f} kB)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
