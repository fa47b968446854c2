"""Reading an ``s3://bucket/key`` artifact through the S3 API (#28; the ``s3`` extra: boto3).

``s3://bucket/key`` is one object when that key exists, else the "directory" of every
object under ``key/``. Credentials, region and endpoint come from boto3's usual chain
(``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, ...); ``MLFLOW_S3_ENDPOINT_URL`` is honoured too, as
MLflow honours it for MinIO and other S3-compatible stores. Objects are streamed in chunks.
"""

from __future__ import annotations

import contextlib
import functools
import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

from gitreg.core.digest import SINGLE_FILE, is_ignored, path_problem
from gitreg.core.errors import ArtifactUnreadable
from gitreg.integrations.artifacts.hashing import Hashed, Item, Opener, Progress, hash_items

MAX_OBJECTS = 100_000


def read_s3(source: str, progress: Progress | None = None) -> Hashed:
    """Hash the object or the objects under ``source``.

    Raises:
        ArtifactUnreadable: boto3 is missing, nothing is there, or S3 refused (says why).
    """
    parsed = urllib.parse.urlsplit(source)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket:
        raise ArtifactUnreadable(f"{source} names no bucket (s3://BUCKET/KEY)")
    client = _client()
    errors = _errors()
    try:
        if key and not key.endswith("/"):
            size = _object_size(client, bucket, key, errors)
            if size is not None:
                item = Item(SINGLE_FILE, size, _opener(client, bucket, key))
                return hash_items([item], True, progress)
        prefix = f"{key.rstrip('/')}/" if key else ""
        items = list(_listing(client, bucket, prefix, source))
        if not items:
            raise ArtifactUnreadable(f"{source}: no object there, nor under {prefix or '/'}")
        return hash_items(items, False, progress)
    except errors as e:
        raise ArtifactUnreadable(f"{source}: {_why(e)}") from None


def _object_size(
    client: Any, bucket: str, key: str, errors: tuple[type[BaseException], ...]
) -> int | None:
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except errors as e:
        if _code(e) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return int(head.get("ContentLength", 0))


def _listing(client: Any, bucket: str, prefix: str, source: str) -> Iterator[Item]:
    paginator = client.get_paginator("list_objects_v2")
    count = 0
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents") or ():
            key = str(entry["Key"])
            relative = key[len(prefix) :]
            if not relative or relative.endswith("/"):
                continue  # the "folder" markers some tools write
            problem = path_problem(relative)
            if problem:
                raise ArtifactUnreadable(
                    f"{source}: the object {key[:200]!r} has {problem}, so it cannot be named "
                    "in a listing as model-signing names files"
                )
            if is_ignored(relative):
                continue
            count += 1
            if count > MAX_OBJECTS:
                raise ArtifactUnreadable(f"{source}: more than {MAX_OBJECTS:,} objects")
            yield Item(relative, int(entry.get("Size", 0)), _opener(client, bucket, key))


def _opener(client: Any, bucket: str, key: str) -> Opener:
    @contextlib.contextmanager
    def opened() -> Iterator[Any]:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield body
        finally:
            body.close()

    return opened


@functools.lru_cache(maxsize=8)
def _client_for(settings: tuple[tuple[str, str], ...]) -> Any:
    """A client for these AWS_* settings (clients are thread-safe; making one is slow)."""
    import boto3
    from botocore.config import Config

    endpoint = dict(settings).get("MLFLOW_S3_ENDPOINT_URL") or None
    config = Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60
    )
    return boto3.client("s3", endpoint_url=endpoint, config=config)


def _client() -> Any:
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise ArtifactUnreadable(
            "s3:// sources are read with boto3, which is not installed: "
            "pip install 'gitreg-ml[s3]' (or pass the digest with --digest sha256:...)"
        ) from None
    settings = tuple(
        sorted(
            (k, v)
            for k, v in os.environ.items()
            if k.startswith("AWS_") or k == "MLFLOW_S3_ENDPOINT_URL"
        )
    )
    return _client_for(settings)


def _errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, OSError)


def _code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _why(error: BaseException) -> str:
    code = _code(error)
    if code in ("403", "AccessDenied"):
        return "access denied (check the credentials boto3 uses: AWS_PROFILE, AWS_ACCESS_KEY_ID)"
    if code in ("NoSuchBucket",):
        return "no such bucket"
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:300]
