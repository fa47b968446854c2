"""Events and delivery (#13): the time to compute events and to deliver them.

``python bench/notify.py [--commits 1000] [--deliver 100] [--runs 5]``

Builds a registry with ``--commits`` commits made through the Python API (registrations,
stage changes, tags and aliases over 20 models), then times ``Registry.list_events`` over
the whole range, and ``deliver`` of ``--deliver`` of those events as signed JSON webhooks
to a receiver on 127.0.0.1 (a ThreadingHTTPServer answering 200 at once, so the figure is
gitreg's own cost: building, signing, one HTTP request each). Prints min and median of
``--runs`` runs. Not a test: nothing asserts on these numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _build(root: Path, commits: int) -> str:
    from gitreg import Registry
    from gitreg.gate.scaffold import init_registry

    init_registry(root)
    start = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()
    registry = Registry(root)
    for i in range(commits):
        name = f"model-{i % 20}"
        step = i // 20
        if step % 4 == 0:
            registry.create_model_version(name, f"s3://bucket/{name}/{step}", run_id=f"r{i}")
        elif step % 4 == 1:
            versions = registry.get_registered_model(name).versions
            stage = "Staging" if step % 8 == 1 else "Archived"
            registry.transition_model_version_stage(name, versions[-1].version, stage)
        elif step % 4 == 2:
            registry.set_registered_model_tag(name, "round", str(step))
        else:
            versions = registry.get_registered_model(name).versions
            registry.set_registered_model_alias(name, "candidate", versions[-1].version)
    return start


def _time(fn: Any, runs: int) -> tuple[float, float, Any]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return min(times), statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--deliver", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@example.com")
    os.environ.setdefault("GIT_COMMITTER_NAME", "bench")
    os.environ.setdefault("GIT_COMMITTER_EMAIL", "bench@example.com")

    from gitreg import Registry
    from gitreg.core.notifications import Allow, Notifications, Subscription
    from gitreg.integrations.notify import Links, deliver

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "registry"
        began = time.perf_counter()
        start = _build(root, args.commits)
        print(f"built {args.commits} commits in {time.perf_counter() - began:.1f}s")
        registry = Registry(root)
        low, mid, events = _time(lambda: registry.list_events(start), args.runs)
        print(
            f"events over {args.commits} commits: {len(events)} events, "
            f"min {low * 1000:.0f} ms, median {mid * 1000:.0f} ms"
        )

        server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        sub = Subscription("bench", url=url, secret_env="SECRET")
        subs = Notifications((sub,), allow=Allow(hosts=("127.0.0.1",)))  # a local receiver
        chosen = [e for e in events if sub.wants(e.event.kind.value, (e.event.name,))]
        chosen = chosen[: args.deliver]

        def run() -> Any:
            return deliver(subs, chosen, Links(), {"SECRET": "s3cret"}.get)

        low, mid, report = _time(run, args.runs)
        server.shutdown()
        print(
            f"deliver {len(chosen)} signed events to 127.0.0.1: "
            f"{report.delivered} delivered, min {low * 1000:.0f} ms, median {mid * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
