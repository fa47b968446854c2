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
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core.errors import ArtifactUnreadable

if TYPE_CHECKING:
    from gitreg.integrations.artifacts.hashing import Hashed, Item, Opener, Progress

# The hashing and the digest's rules are imported once there is something to hash: a
# registration without credentials only says it cannot read the bucket (#26).

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
    from gitreg.core.digest import SINGLE_FILE
    from gitreg.integrations.artifacts.hashing import Item, hash_items

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
    from gitreg.core.digest import is_ignored, path_problem
    from gitreg.integrations.artifacts.hashing import Item

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


# Where boto3 finds credentials without asking anything on the network; the EC2 instance
# metadata service is asked only when GITREG_S3_INSTANCE_METADATA=1 says so (a registration
# never probes a link-local address by surprise).
_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
INSTANCE_METADATA = "GITREG_S3_INSTANCE_METADATA"


def _credentials_configured(env: Mapping[str, str]) -> bool:
    if any(env.get(name) for name in _CREDENTIAL_VARIABLES) or env.get(INSTANCE_METADATA) == "1":
        return True
    home = Path(env.get("HOME") or Path.home())
    files = [
        env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials",
        env.get("AWS_CONFIG_FILE") or home / ".aws" / "config",
    ]
    return any(Path(f).is_file() for f in files)


@functools.lru_cache(maxsize=8)
def _client_for(settings: tuple[tuple[str, str], ...]) -> Any:
    """A client for these AWS_* settings (clients are thread-safe; making one is slow)."""
    import boto3
    import botocore.session
    from botocore.config import Config

    values = dict(settings)
    session = botocore.session.get_session()
    if values.get(INSTANCE_METADATA) != "1":
        session.get_component("credential_provider").remove("iam-role")
    endpoint = values.get("MLFLOW_S3_ENDPOINT_URL") or None
    config = Config(retries={"mode": "standard"}, connect_timeout=10, read_timeout=60)
    return boto3.Session(botocore_session=session).client(
        "s3", endpoint_url=endpoint, config=config
    )


def _client() -> Any:
    if not _credentials_configured(os.environ):
        raise ArtifactUnreadable(
            "no AWS credentials are configured (AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws; on "
            f"EC2, {INSTANCE_METADATA}=1 lets gitreg ask the instance metadata service), or "
            "pass the digest with --digest sha256:..."
        )
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
            if k.startswith("AWS_") or k in ("MLFLOW_S3_ENDPOINT_URL", INSTANCE_METADATA)
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
