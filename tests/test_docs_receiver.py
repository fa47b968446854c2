"""The sample webhook receiver of docs/guides/notifications.md, run as written (#27, trap 10).

The docs' receiver crashed on an unsigned payload (a KeyError on the missing signature
header, which is what gitreg sends for a subscription without ``secret_env``). The test
copies the page's code block verbatim into a file and runs it as a reader would
(``DEPLOY_HOOK_SECRET=... python receiver.py``; ``PORT=0`` lets it take a free port on
127.0.0.1): it stands in for a deployment system's webhook endpoint. ``gitreg notify``
delivers real events to it, signed both ways; unsigned, badly signed, stale and malformed
requests get 401 (or 400), and the receiver keeps serving.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_notify import subscribe

PAGE = Path(__file__).resolve().parent.parent / "docs" / "guides" / "notifications.md"
SECRET = "whsec_" + base64.b64encode(b"the receiver's shared secret").decode()


def sample() -> str:
    """The Python block under the page's '## A receiver' heading, exactly as written."""
    section = PAGE.read_text("utf-8").split("## A receiver", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    return code


class Sample:
    """The running sample: its URL, and what it printed once stopped."""

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url

    def alive(self) -> bool:
        return self.proc.poll() is None

    def printed(self) -> list[str]:
        """Stop it and return the lines it printed after 'listening on'."""
        self.proc.kill()
        out, _ = self.proc.communicate()
        return out.splitlines()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Sample]:
    script = tmp_path / "receiver.py"
    script.write_text(sample())
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env={"DEPLOY_HOOK_SECRET": SECRET, "PORT": "0", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("listening on http://127.0.0.1:"), first
        yield Sample(proc, first.split()[-1])
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def signed(body: bytes, msg_id: str, stamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, signed with the receiver's secret."""
    stamp = int(time.time()) if stamp is None else stamp
    key = base64.b64decode(SECRET[len("whsec_") :])
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        "Content-Type": "application/json",
    }


def hook(url: str, extra: str = "") -> str:
    return f"  webhooks:\n    - {{name: deploy, url: {url}/hook{extra}}}\n"


def test_the_sample_accepts_gitregs_signed_deliveries_once(
    receiver, cli, registry_repo, monkeypatch
):
    start = subscribe(registry_repo, hook(receiver.url, ", secret_env: DEPLOY_HOOK_SECRET"))
    cli.ok("register", "churn", "s3://churn/1")
    monkeypatch.setenv("DEPLOY_HOOK_SECRET", SECRET)

    first = cli.ok("notify", "--since", start)
    assert "2 events: 2 delivered, 0 failed" in first.stdout + first.stderr
    again = cli.ok("notify", "--since", start)  # at-least-once: the same ids again
    assert "2 events: 2 delivered, 0 failed" in again.stdout + again.stderr

    assert receiver.printed() == [
        "received REGISTERED_MODEL_CREATED",
        "received MODEL_VERSION_CREATED",
    ], "each event acted on once; the re-delivery acknowledged"


def test_the_sample_accepts_mlflow_signed_deliveries(receiver, cli, registry_repo, monkeypatch):
    extra = ", secret_env: DEPLOY_HOOK_SECRET, signature: mlflow"
    start = subscribe(registry_repo, hook(receiver.url, extra))
    cli.ok("register", "churn", "s3://churn/1")
    monkeypatch.setenv("DEPLOY_HOOK_SECRET", SECRET)
    result = cli.ok("notify", "--since", start)
    assert "2 events: 2 delivered, 0 failed" in result.stdout + result.stderr
    assert receiver.printed() == ["received created", "received created"]


def test_an_unsigned_delivery_is_refused_with_401_not_a_crash(receiver, cli, registry_repo):
    """A subscription without secret_env: gitreg sends webhook-id and webhook-timestamp
    but no signature, which the old sample crashed on."""
    start = subscribe(registry_repo, hook(receiver.url))
    cli.ok("register", "churn", "s3://churn/1")
    result = cli.fails(1, "notify", "--since", start)
    said = result.stdout + result.stderr
    assert "401" in said
    assert "2 events: 0 delivered, 2 failed" in said
    assert receiver.alive()
    assert receiver.printed() == []


@pytest.mark.parametrize(
    ("why", "headers", "status"),
    [
        ("no headers at all", {}, 401),
        ("an id and a time, no signature", {"webhook-id": "evt_1", "webhook-timestamp": "1"}, 401),
        ("MLflow's id without a signature", {"X-MLflow-Delivery-Id": "evt_1"}, 401),
        ("another secret", {**signed(b"{}", "evt_1"), "webhook-signature": "v1,AAAA"}, 401),
        ("a signature scheme it does not know", {**signed(b"{}", "evt_1"), "webhook-signature":
            signed(b"{}", "evt_1")["webhook-signature"].replace("v1,", "v9,")}, 401),
        ("signed ten minutes ago", signed(b"{}", "evt_1", int(time.time()) - 600), 401),
        ("a time that is not a number", {**signed(b"{}", "evt_1"), "webhook-timestamp": "²"}, 401),
    ],
)  # fmt: skip
def test_the_sample_refuses_what_it_cannot_verify(receiver, why, headers, status):
    assert post(f"{receiver.url}/hook", b"{}", headers) == status, why
    assert receiver.alive(), f"{why}: the receiver died"
    good = signed(b'{"event": "MODEL_VERSION_CREATED"}', "evt_ok")
    assert post(f"{receiver.url}/hook", b'{"event": "MODEL_VERSION_CREATED"}', good) == 200
    assert receiver.printed() == ["received MODEL_VERSION_CREATED"]


def test_signed_garbage_is_a_bad_request(receiver):
    assert post(f"{receiver.url}/hook", b"not json", signed(b"not json", "evt_2")) == 400
    assert receiver.alive()
