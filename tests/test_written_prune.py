"""Pruning the records of written manifests (``.git/gitreg/written/``) and trusted trees:
counted by name, their times read only when there are too many, the oldest quarter gone
then (#26: a write at 10,000 models read the times of 500 files for nothing)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gitreg.store import cache


class _Counted:
    """A directory entry whose ``stat`` calls are counted (the real entry answers)."""

    calls = 0

    def __init__(self, entry: os.DirEntry[str]) -> None:
        self._entry = entry
        self.name, self.path = entry.name, entry.path

    def stat(self) -> os.stat_result:
        _Counted.calls += 1
        return self._entry.stat()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[_Counted]:
    scandir = os.scandir
    _Counted.calls = 0

    def listing(path: Any) -> list[_Counted]:
        with scandir(path) as found:
            return [_Counted(entry) for entry in found]

    monkeypatch.setattr(cache.os, "scandir", listing)
    return _Counted


def _records(directory: Path, count: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    oids = [f"{k:040x}" for k in range(count)]
    for k, oid in enumerate(oids):
        for kind in ("marshal", "ok"):
            (directory / f"{oid}.{kind}").write_bytes(b"x")
            os.utime(directory / f"{oid}.{kind}", ns=(k * 10**9, k * 10**9))
    return oids


def test_records_within_the_limit_are_counted_without_a_stat(
    tmp_path: Path, counted: type[_Counted]
) -> None:
    directory = tmp_path / "written"
    _records(directory, 8)  # 16 files, 8 records: within a limit of 8
    cache.prune(directory, 8)
    assert counted.calls == 0
    assert len(list(directory.iterdir())) == 16


def test_past_the_limit_the_oldest_quarter_goes(tmp_path: Path, counted: type[_Counted]) -> None:
    directory = tmp_path / "written"
    oids = _records(directory, 10)
    cache.prune(directory, 8)
    assert counted.calls == 20
    kept = sorted({p.name.split(".")[0] for p in directory.iterdir()})
    assert kept == oids[4:]  # the newest 6 (three quarters of 8)
    counted.calls = 0
    cache.prune(directory, 8)  # nothing to do until two more records come
    assert counted.calls == 0
