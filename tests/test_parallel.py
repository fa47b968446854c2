"""``parse_many`` (#15): the same parses as one by one, on several processes, errors left out."""

from __future__ import annotations

import pytest

from gitreg.core import manifest
from gitreg.store import parallel


def _items() -> list[tuple[str, bytes]]:
    items = []
    for n in range(60):
        data = {"schema_version": 1, "name": f"m{n}", "next_version": 2,
                "versions": [{"version": 1, "source": f"s3://m/{n}", "stage": "None",
                              "description": "é\nline"}]}  # fmt: skip
        items.append((f"models/m{n}.yaml", manifest.dump(data).encode()))
    items.insert(7, ("models/broken.yaml", b"name: [unclosed\n"))
    items.insert(20, ("models/dated.yaml", b"when: !!timestamp 2026-01-01\n"))
    items.insert(30, ("models/empty.yaml", b""))
    return items


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_parse_many_matches_parsing_one_by_one(monkeypatch, workers):
    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)  # use the pool even for a few
    items = _items()
    found = parallel.parse_many(items, workers=workers)
    expected = {}
    for index, (path, text) in enumerate(items):
        try:
            expected[index] = manifest.load(text, path)
        except Exception:
            continue
    expected.pop(20, None)  # a date (if the loader allows one): left to the caller
    assert found == expected
    assert 7 not in found, "a manifest that does not parse must be left to the caller"
    assert found[30] is None


def test_one_large_manifest_among_small_ones_is_parsed_here(monkeypatch):
    """Regression (#15, found by bench/run.py): a 5,000-version model and .gitkeep."""
    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)
    big = manifest.dump({"schema_version": 1, "name": "long", "next_version": 1, "versions": []})
    items = [("models/.gitkeep", b""), ("models/long.yaml", big.encode() * 1)]
    assert parallel.parse_many(items, workers=2) == {0: None, 1: manifest.load(big, "m")}
