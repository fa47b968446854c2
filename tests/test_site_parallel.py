"""The site's render workers are plain forks (#26): what fails in one is the build's error.

The processes take models from one pipe of tickets; a worker sends its results, or the
exception that stopped it, back through a pipe of its own. A worker's exception is raised by
the build as it was raised in the worker, a worker that dies is an error (never a site with
models missing), the build's own error stops the workers, and no process is left behind.
The record's parts, saved by a process of their own while the index is written
(``site.saving``), serve the next rebuild, and when they cannot be saved no record names
them. ``tests/_site.py``'s registry stands in for a real one; thresholds are lowered so
that three models fork.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.site import build, parallel, saving
from gitreg.site.output import FileWriter
from tests._site import registry_and_clone

PARENT = os.getpid()
original, work = registry_and_clone("parallel")


def _render(tmp_path: Path, job: parallel.Job, items: list[int]) -> list[object]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    writer = FileWriter(out)
    try:
        return list(parallel.render(job, items, writer.write, out, count=3))
    finally:
        writer.close()


def child_pids() -> set[int]:
    """This process's children, alive or not yet waited for (read from /proc: waiting for
    them would take another test's)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                found.add(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def _no_child_left() -> Iterator[None]:
    """Every process a test's build forked has ended and was waited for."""
    before = child_pids()
    yield
    assert child_pids() <= before


def _slow_here() -> None:
    """This process renders slowly, so that the workers take items too."""
    time.sleep(0.002)


def test_an_error_in_a_worker_is_raised_by_the_build(tmp_path):
    def job(item: int, write: parallel.Write) -> int:
        if os.getpid() != PARENT:
            raise ValueError(f"item {item} cannot be rendered")
        _slow_here()
        return item

    with pytest.raises(ValueError, match="cannot be rendered"):
        _render(tmp_path, job, list(range(400)))


def test_a_worker_that_dies_fails_the_build(tmp_path):
    def job(item: int, write: parallel.Write) -> int:
        if os.getpid() != PARENT:
            os._exit(9)  # as a worker the kernel killed would
        _slow_here()
        return item

    with pytest.raises(RuntimeError, match="stopped"):
        _render(tmp_path, job, list(range(400)))


def test_the_builds_own_error_stops_the_workers(tmp_path):
    """The workers stop taking models once this process fails: they do not render the
    rest of a build that is already lost (here, they would wait for ever)."""
    marks = tmp_path / "marks"
    marks.mkdir()

    def job(item: int, write: parallel.Write) -> int:
        if os.getpid() == PARENT:
            raise OSError("the disk is full")
        (marks / str(item)).touch()
        return item

    with pytest.raises(OSError, match="disk is full"):
        _render(tmp_path, job, list(range(100_000)))
    assert len(list(marks.iterdir())) < 50_000


def test_many_items_are_taken_in_larger_steps_and_none_is_lost(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "_MAX_TAKES", 7)  # tickets of more than STEP items

    def job(item: int, write: parallel.Write) -> int:
        return item * 2

    assert _render(tmp_path, job, list(range(1000))) == [i * 2 for i in range(1000)]


# ------------------------------------------- the record saved beside the index (site.saving)


def test_a_record_saved_by_a_forked_process_serves_the_next_rebuild(work, tmp_path, monkeypatch):
    """With every model rendered by workers and the record's parts saved in a process of
    their own, the next rebuild after one change still renders that model only."""
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 1)
    monkeypatch.setattr(parallel, "workers", lambda: 3)
    out = tmp_path / "out"
    assert build(Registry(work), out).rendered == 3
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    again = build(Registry(work), out)
    assert (again.rendered, again.incremental) == (1, True)


def test_parts_that_cannot_be_saved_leave_no_record(work, tmp_path, monkeypatch):
    """The forked process cannot write the parts (a file where the record's directory
    goes): the build still succeeds, records nothing, and the next build renders all."""
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 1)
    out = tmp_path / "out"
    site = work / ".git" / "gitreg" / "site"
    shutil.rmtree(site, ignore_errors=True)
    site.parent.mkdir(parents=True, exist_ok=True)
    site.write_text("in the way")
    assert build(Registry(work), out).rendered == 3
    site.unlink()
    again = build(Registry(work), out)
    assert (again.rendered, again.incremental) == (3, False)


def test_a_saving_process_that_fails_otherwise_is_redone_here():
    """A saving process that raised (not a disk error) is not trusted: the parts are saved
    again here, so the build sees the error the unforked save raises."""
    calls = []

    def broken() -> list[str]:
        calls.append(os.getpid())
        raise ValueError("not a disk error")

    with pytest.raises(ValueError, match="not a disk error"):
        saving.start(broken, fork=True).result()
    assert calls == [os.getpid()], "raised in the child, then once here"
    with pytest.raises(ValueError, match="not a disk error"):
        saving.start(broken, fork=False)
    assert saving.start(lambda: ["a", "b"], fork=True).result() == ["a", "b"]
