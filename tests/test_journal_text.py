"""The write journal is JSON that ``json`` reads back exactly, written without ``json`` (#26).

Recovery after a killed write parses the journal with ``json.loads``; a write writes it
with ``store.worktree.journal_text`` so that a cold write does not import ``json``. Paths
are whatever git and the file system allow: quotes, backslashes, control characters,
non-ASCII, characters beyond the BMP and the lone surrogates of undecodable bytes.
"""

from __future__ import annotations

import json
import random

import pytest

from gitreg.store.worktree import journal_text

ODD_PATHS = [
    "models/churn.yaml",
    'models/"quoted".yaml',
    "models/back\\slash.yaml",
    "models/tab\there\nnewline\r\x00\x1f\x7f.yaml",
    "models/caf\u00e9-\u6a21\u578b.yaml",
    "models/\U0001f600-astral.yaml",
    "models/\udcff\udc80-undecodable.yaml",
    "",
]


def _journal(paths: list[str]) -> dict[str, object]:
    blobs: dict[str, str | None] = {p: f"{i:040x}" for i, p in enumerate(paths)}
    blobs[paths[0]] = None  # a deleted file
    return {"ref": "refs/heads/main", "old": None, "new": "ab" * 20, "paths": blobs}


@pytest.mark.parametrize("path", ODD_PATHS)
def test_json_reads_back_what_was_written(path: str) -> None:
    journal = _journal([path, "models/other.yaml"])
    text = journal_text(journal)
    assert text.isascii()
    assert json.loads(text) == journal == json.loads(json.dumps(journal))


def test_random_strings_round_trip() -> None:
    rng = random.Random(26)
    pool = [chr(c) for c in [*range(0, 0x80), 0xE9, 0x2028, 0xD800, 0xDFFF, 0xFFFF, 0x10FFFF]]
    for _ in range(300):
        key = "".join(rng.choice(pool) for _ in range(rng.randrange(0, 12)))
        value = {key: "".join(rng.choice(pool) for _ in range(rng.randrange(0, 12)))}
        assert json.loads(journal_text(value)) == value


def test_what_it_does_not_know_goes_to_json() -> None:
    assert json.loads(journal_text({"n": [1, 2.5, True]})) == {"n": [1, 2.5, True]}
    assert journal_text(None) == "null"
