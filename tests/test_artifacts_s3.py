"""s3:// artifacts through the S3 API (#28), against moto's S3-compatible server.

The server stands in for S3 (or MinIO): it runs in this process on 127.0.0.1 and nothing
here reaches a cloud. The same files are written to a local directory, so the digest of
the objects can be held to model-signing's digest of the directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitreg import Registry
from tests._helpers import Cli, snapshot
from tests.test_artifacts import model_signing_digest

FILES = {
    "MLmodel": b'flavors: {}\nsignature:\n  inputs: \'[{"type": "long", "name": "n"}]\'\n',
    "a/b": b"weights of a/b",
    "a-c": b"sorts after a/b",
    "big.bin": os.urandom(3 * 1024 * 1024 + 1),
    ".gitattributes": b"* -text\n",
}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A local S3 server with bucket ``models``: ``churn/1/`` as a directory, ``one.bin``."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    settings = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
    }
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="models")
    local = tmp_path_factory.mktemp("same-files") / "model"
    for name, data in FILES.items():
        client.put_object(Bucket="models", Key=f"churn/1/{name}", Body=data)
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    client.put_object(Bucket="models", Key="one.bin", Body=b"a single object")
    try:
        yield {"client": client, "local": local}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


def test_objects_get_the_digest_model_signing_gives_the_same_files(
    s3: dict[str, Any], cli: Cli, registry_repo: Path
) -> None:
    root, _ = model_signing_digest(s3["local"])
    result = cli.ok("register", "churn", "s3://models/churn/1")
    assert f"digest: sha256:{root}" in result.stderr
    mv = Registry(registry_repo).get_model_version("churn", 1)
    assert mv.digest == f"sha256:{root}"
    assert mv.signature == {"inputs": [{"name": "n", "type": "long"}]}
    cli.ok("register", "one", "s3://models/one.bin")
    single = Registry(registry_repo).get_model_version("one", 1).digest
    assert single == "sha256:" + hashlib.sha256(b"a single object").hexdigest()


def test_verify_names_the_object_that_changed_and_fails_cleanly_when_gone(
    s3: dict[str, Any], cli: Cli
) -> None:
    client = s3["client"]
    cli.ok("register", "churn", "s3://models/churn/1/")
    assert "verified" in cli.ok("verify", "models:/churn/1").stdout
    client.put_object(Bucket="models", Key="churn/1/a-c", Body=b"sorts after a/b!")
    try:
        out = json.loads(cli.fails(1, "verify", "models:/churn/1", "--json").stdout)
        assert out["verification"]["differences"] == [{"path": "a-c", "change": "changed"}]
    finally:
        client.put_object(Bucket="models", Key="churn/1/a-c", Body=FILES["a-c"])
    cli.ok("register", "gone", "s3://models/gone/1")  # nothing there: no digest, says why
    given = "sha256:" + "cd" * 32
    cli.ok("register", "gone", "s3://models/gone/2", "--digest", given)
    missing = cli.fails(2, "verify", "models:/gone/2")
    assert "no object there" in missing.stdout


def test_a_digest_that_does_not_match_the_objects_is_refused(
    s3: dict[str, Any], cli: Cli, registry_repo: Path
) -> None:
    before = snapshot(registry_repo)
    result = cli.fails(
        1, "register", "one", "s3://models/one.bin", "--digest", "sha256:" + "0" * 64
    )
    assert "is not the artifact's" in result.stderr
    assert snapshot(registry_repo) == before


def test_without_credentials_nothing_is_asked(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials in the environment: gitreg says so, and asks no server at all (the
    instance metadata service included)."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    result = cli.ok("register", "churn", "s3://models/churn/1")
    assert "no AWS credentials are configured" in result.stderr
