"""Fleet reads (#15): a pod with no checkout asks a remote registry for ``@champion``.

``python bench/fleet.py --work bench/.work --gitreg PATH [--gto PATH] --out fleet.json``

Serves the 10,000-model registries that ``bench/run.py`` built (gitreg's and GTO's) over
git's smart HTTP protocol from 127.0.0.1 (``git http-backend`` behind a Python HTTP
server, as tests/test_smart_http.py does, with partial clone allowed as GitHub allows it)
and times, each as a cold process:

- ``gitreg resolve --remote URL`` with an empty cache (a new pod) and with the cache a
  previous read left (a restarted pod on the same node);
- a full ``git clone`` followed by ``gitreg resolve`` in it (what a pod does without
  ``--remote``);
- ``gto show NAME#prod --ref --repo URL`` (GTO clones the remote into a temporary
  directory for every call).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

NAME = "m-05000"


class _Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: Any) -> None:
        pass

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        env = {
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": method,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": "127.0.0.1",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
        status = next((v.strip() for k, v in headers if k.lower() == "status"), "200 OK")
        self.send_response(int(status.split()[0]))
        for key, value in headers:
            if key.lower() != "status":
                self.send_header(key, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


class Server(ThreadingHTTPServer):
    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root

    def url(self, repo: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{repo}"


def bare_copy(source: Path, dest: Path) -> None:
    """A bare clone of a built registry, configured as GitHub serves partial clones."""
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(dest)], check=True)
    for key in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
        subprocess.run(["git", "config", key, "true"], cwd=dest, check=True)


def timed(argv: list[str], env: dict[str, str], cwd: str | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()[-300:]}")
    return elapsed


def repeat(runs: int, one: Any) -> dict[str, Any]:
    seconds = [one(i) for i in range(runs)]
    return {"median": statistics.median(seconds), "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--gitreg", required=True, help="the gitreg executable")
    parser.add_argument("--gto", help="the gto executable (skipped without it)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    work = Path(args.work)
    served = work / "served"
    served.mkdir(parents=True, exist_ok=True)
    bare_copy(work / "reg" / "gitreg-10000", served / "gitreg.git")
    if args.gto:
        bare_copy(work / "reg" / "gto-10000", served / "gto.git")
    server = Server(served)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    results: dict[str, Any] = {}
    uri = f"models:/{NAME}@champion"
    url = server.url("gitreg.git")
    with tempfile.TemporaryDirectory(prefix="gitreg-fleet-") as tmp:

        def new_pod(i: int) -> float:
            cache = Path(tmp) / f"cache-new-{i}"
            return timed(
                [args.gitreg, "resolve", uri, "--remote", url],
                {**env, "XDG_CACHE_HOME": str(cache)},
            )

        results["gitreg_remote_new_pod"] = repeat(args.runs, new_pod)
        warm = {**env, "XDG_CACHE_HOME": str(Path(tmp) / "cache-warm")}
        timed([args.gitreg, "resolve", uri, "--remote", url], warm)
        results["gitreg_remote_restarted_pod"] = repeat(
            args.runs, lambda i: timed([args.gitreg, "resolve", uri, "--remote", url], warm)
        )

        def clone_then_resolve(i: int) -> float:
            dest = Path(tmp) / f"clone-{i}"
            start = time.perf_counter()
            timed(["git", "clone", "-q", url, str(dest)], env)
            timed([args.gitreg, "resolve", uri, "--repo", str(dest)], env)
            return time.perf_counter() - start

        results["full_clone_then_resolve"] = repeat(args.runs, clone_then_resolve)
        cache_bytes = sum(
            p.stat().st_size for p in (Path(tmp) / "cache-warm").rglob("*") if p.is_file()
        )
        clone_bytes = sum(
            p.stat().st_size for p in (Path(tmp) / "clone-0").rglob("*") if p.is_file()
        )
        results["bytes"] = {"remote_cache": cache_bytes, "full_clone": clone_bytes}
        if args.gto:
            gto_url = server.url("gto.git")
            results["gto_remote_show"] = repeat(
                1,
                lambda i: timed(
                    [args.gto, "show", f"{NAME}#prod", "--ref", "--repo", gto_url], env
                ),
            )
    server.shutdown()
    Path(args.out).write_text(json.dumps(results, indent=1))
    for key, value in results.items():
        print(key, value if key == "bytes" else f"{value['median'] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
