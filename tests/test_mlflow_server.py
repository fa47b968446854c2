"""gitreg behind a real ``mlflow server``, driven by ``MlflowClient`` over HTTP (#16).

The test starts ``mlflow server --registry-store-uri gitreg:///... --backend-store-uri
sqlite:///...`` on a free port of 127.0.0.1 (MLflow's own tracking server, as a team would run
it), waits until it answers, and kills it afterwards. Every refusal must reach the client as a
4xx with gitreg's message intact: a 5xx is what MLflow's client retries, for minutes, before
reporting "too many 500 error responses" without the message.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from gitreg.gate.scaffold import init_registry
from tests._helpers import git, log_subjects

pytestmark = pytest.mark.filterwarnings(
    "ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::UserWarning"
)

START_DEADLINE_SECONDS = 180  # a failure deadline for a slow machine, not a measurement


class Server(NamedTuple):
    url: str
    registry: Path
    log: Path
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"mlflow server exited:\n{server.log.read_text()[-3000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{server.url}/health", timeout=5) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"mlflow server did not answer:\n{server.log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    if sys.platform == "win32":
        pytest.fail("mlflow server runs uvicorn workers under a POSIX process group here")
    registry = tmp_path / "registry"
    init_registry(registry)
    port = _free_port()
    log = tmp_path / "server.log"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'tracking.db'}",
        "--registry-store-uri",
        f"gitreg://{registry}",
        "--default-artifact-root",
        (tmp_path / "artifacts").as_uri(),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    running = Server(f"http://127.0.0.1:{port}", registry, log, process)
    try:
        _wait_until_up(running)
        yield running
    finally:
        _stop(process)


def _requests(log: Path, endpoint: str, status: int) -> int:
    """How many requests the server's access log shows for ``endpoint`` answered ``status``."""
    pattern = re.compile(
        rf'"(?:POST|GET|PATCH|DELETE) /api/2\.0/mlflow/{endpoint}\S* HTTP/1\.1" {status}\b'
    )
    return len(pattern.findall(log.read_text("utf-8", "replace")))


def _refusal(call: Any) -> Any:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as info:
        call()
    return info.value


def test_refusals_reach_the_client_as_4xx_with_the_message(server, monkeypatch):
    from mlflow import MlflowClient

    # Should a refusal come back as a 5xx again, fail after two quick retries, not minutes.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)

    client.create_registered_model("churn", tags={"mlflow.source:type": "job"})
    client.create_model_version("churn", "s3://b/1", tags={"équipe": "données"})
    client.create_model_version("churn", "s3://b/2")
    client.transition_model_version_stage("churn", 1, "Production")
    assert log_subjects(server.registry)[0] == "Transition churn version 1: None -> Production"

    second = _refusal(lambda: client.transition_model_version_stage("churn", 2, "Production"))
    assert second.get_http_status_code() == 409
    assert second.error_code == "RESOURCE_CONFLICT"
    assert "churn version 1 is already in Production" in second.message
    assert "archive_existing_versions=True" in second.message
    # Answered at once: the server saw exactly one such request (no retry by the client).
    missing = _refusal(lambda: client.get_model_version("churn", 9))
    assert missing.get_http_status_code() == 404
    assert "Model Version (name=churn, version=9) not found" in missing.message
    bad_tag = _refusal(lambda: client.set_registered_model_tag("churn", "a//b", "x"))
    assert bad_tag.get_http_status_code() == 400
    assert "'key'" in bad_tag.message
    long_value = _refusal(lambda: client.set_model_version_tag("churn", 1, "k", "v" * 100_001))
    assert long_value.get_http_status_code() == 400
    assert "exceeds the maximum length of 100000 characters" in long_value.message

    assert client.get_model_version("churn", 1).current_stage == "Production"
    mv = client.transition_model_version_stage("churn", 2, "Production", True)
    assert mv.current_stage == "Production"
    # The REST body is MLflow's error shape, with gitreg's message (and its suggestion).
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.url}/api/2.0/mlflow/registered-models/get?name=chrn")
    assert info.value.code == 404
    body = json.loads(info.value.read())
    assert body["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert body["message"].endswith(
        "Registered Model with name=chrn not found; did you mean churn?"
    )

    # Without authentication, the server's git identity authors every change (as before
    # #25); what a client sends to name itself is ignored.
    request = urllib.request.Request(
        f"{server.url}/api/2.0/mlflow/registered-models/set-tag",
        data=json.dumps({"name": "churn", "key": "owner", "value": "x"}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": "Basic bWFsbG9yeTpzZWNyZXQ=",  # mallory:secret
            "X-Forwarded-User": "mallory",
        },
    )
    urllib.request.urlopen(request, timeout=30).close()
    assert git(server.registry, "log", "-1", "--format=%an|%s").strip() == (
        "Alice Example|Set tag owner=x on churn"
    )

    _stop(server.process)  # flushes the access log
    assert _requests(server.log, "model-versions/transition-stage", 409) == 1
    assert _requests(server.log, "model-versions/transition-stage", 500) == 0
    assert _requests(server.log, "model-versions/get", 404) == 1
    assert _requests(server.log, "registered-models/set-tag", 400) == 1
