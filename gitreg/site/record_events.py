"""The events an incremental site's record keeps per model (#26), apart from the record.

A rebuild needs the recorded events of the models it renders again, never of the others;
so they are not in the record (loading every model's events was most of a rebuild's read
of it) but in ``BUCKETS`` files beside it, each holding the models whose name hashes to it.
A rebuild reads and rewrites only the buckets of the models it rendered.

Each model's events carry the token of the build that recorded them, and the record names
that token for the model: a bucket written by a build whose record was never saved (it
failed in between) does not match, and the record cannot vouch for that model.
"""

from __future__ import annotations

import contextlib
import marshal
import operator
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gitreg.core import record
from gitreg.core.events import Event, EventKind, RegistryEvent

BUCKETS = 64
_EVENT_FIELDS = list(record.fields(Event))[1:]
_VALUES = operator.attrgetter(*_EVENT_FIELDS)  # one C call per event: a build packs 30,000
Packed = tuple[Any, ...]


def bucket_of(name: str) -> int:
    """The bucket that holds model ``name``'s events."""
    return zlib.crc32(name.encode()) % BUCKETS


def bucket_path(record: Path, bucket: int) -> Path:
    """Bucket ``bucket``'s file beside the record at ``record``."""
    return record.with_name(f"{record.stem}.events-{bucket:02d}.marshal")


def load(record: Path, wanted: Mapping[str, str]) -> dict[str, list[Packed]] | None:
    """The recorded events of each model in ``wanted`` (name -> the token the record names);
    None when one is missing or from another build than the record says."""
    found: dict[str, list[Packed]] = {}
    for bucket in sorted({bucket_of(name) for name in wanted}):
        held = _read(bucket_path(record, bucket))
        for name, token in wanted.items():
            if bucket_of(name) != bucket:
                continue
            entry = held.get(name)
            if not isinstance(entry, tuple) or len(entry) != 2 or entry[0] != token:
                return None
            found[name] = list(entry[1])
    return found


def save(
    record: Path,
    token: str,
    events: Mapping[str, list[Packed]],
    present: Iterable[str],
    *,
    everything: bool,
) -> None:
    """Record ``events`` (model -> packed events) under ``token``; in the buckets they fall
    in (``everything``: in every bucket, the others emptied). Entries of models no longer
    ``present`` are dropped from the buckets rewritten."""
    alive = set(present)
    buckets = range(BUCKETS) if everything else sorted({bucket_of(n) for n in events})
    grouped: dict[int, dict[str, Any]] = {b: {} for b in buckets}
    if not everything:
        for bucket in buckets:
            old = _read(bucket_path(record, bucket))
            grouped[bucket] = {n: e for n, e in old.items() if n in alive}
    for name, packed in events.items():
        grouped[bucket_of(name)][name] = (token, packed)
    for bucket, held in grouped.items():
        _write(bucket_path(record, bucket), held)


def _read(path: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
        data = marshal.loads(path.read_bytes())
        if isinstance(data, dict):
            return data
    return {}


def _write(path: Path, held: Mapping[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(marshal.dumps(dict(held)))
    os.replace(tmp, path)


def pack(item: RegistryEvent, order: int) -> Packed:
    """An event as a plain tuple (marshal keeps it), its place in the model's history last."""
    event = item.event
    return (
        event.kind.value,
        *_VALUES(event),
        item.commit,
        item.author,
        item.author_email,
        item.timestamp,
        item.pull_request,
        item.is_prompt,
        order,
    )


def unpack(packed: Sequence[Any]) -> RegistryEvent:
    """The event ``pack`` made."""
    count = len(_EVENT_FIELDS)
    fields = dict(zip(_EVENT_FIELDS, packed[1 : 1 + count], strict=True))
    commit, author, email, timestamp, pull, prompt = packed[1 + count : 7 + count]
    return RegistryEvent(
        Event(EventKind(packed[0]), **fields), commit, author, email, timestamp, pull, prompt
    )
