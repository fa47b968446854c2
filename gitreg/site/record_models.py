"""The models an incremental site's record keeps (#26), in buckets beside the record.

Each model's part of the record (its inputs, its files with their hashes, its index row and
API entry) changes only when the model is rendered again; rewriting all of them after a
one-model rebuild was 30 MB at 10,000 models. So they live in ``BUCKETS`` files beside the
record, each holding the models whose name hashes to it, and a build rewrites only the
buckets of the models it rendered or dropped.

Each bucket is written under a new random token and the record names every bucket's token:
a bucket written by a build whose record was never saved (it failed in between), or one
missing or damaged, does not match, and the record is not used (everything is rendered).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gitreg.store.cache import no_gc

BUCKETS = 64


def bucket_of(name: str) -> int:
    """The bucket that holds model ``name``'s record."""
    return zlib.crc32(name.encode()) % BUCKETS


def bucket_path(record: Path, bucket: int) -> Path:
    """Bucket ``bucket``'s file beside the record at ``record``."""
    return record.with_name(f"{record.stem}.models-{bucket:02d}.marshal")


def load(record: Path, tokens: object) -> dict[str, Any] | None:
    """Every model's record (name -> its part), when each bucket holds the token the record
    names for it (``tokens``, one per bucket); None otherwise."""
    if not isinstance(tokens, list) or len(tokens) != BUCKETS:
        return None
    models: dict[str, Any] = {}
    with no_gc():  # ~60 objects a model, none in a cycle: no GC pass over them
        for bucket, token in enumerate(tokens):
            held = _read(bucket_path(record, bucket))
            if not isinstance(held, tuple) or len(held) != 2 or held[0] != token:
                return None
            if not isinstance(held[1], dict):
                return None
            models.update(held[1])
    return models


def save(
    record: Path,
    models: Mapping[str, Any],
    changed: Iterable[str] | None,
    tokens: object,
) -> list[str]:
    """Write the buckets of the ``changed`` models (None: every bucket) with ``models``'s
    records, each under a new token; the tokens of every bucket (those not rewritten as
    ``tokens``, the previous record's, names them).

    Raises:
        OSError: a bucket could not be written (the record must then not be saved).
    """
    old: Sequence[object] = tokens if isinstance(tokens, list) else []
    if changed is None or len(old) != BUCKETS:
        todo = set(range(BUCKETS))
    else:
        todo = {bucket_of(name) for name in changed}
    grouped: dict[int, dict[str, Any]] = {bucket: {} for bucket in todo}
    for name, part in models.items():
        held = grouped.get(bucket_of(name))
        if held is not None:
            held[name] = part
    found = [str(t) for t in old] if len(old) == BUCKETS else [""] * BUCKETS
    for bucket, held in sorted(grouped.items()):
        token = os.urandom(8).hex()
        _write(bucket_path(record, bucket), (token, held))
        found[bucket] = token
    return found


def _read(path: Path) -> object:
    with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
        return marshal.loads(path.read_bytes())
    return None


def _write(path: Path, data: tuple[str, dict[str, Any]]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(marshal.dumps(data))
    os.replace(tmp, path)
