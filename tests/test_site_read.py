"""The site's whole-registry read on every core (#26): the same read as on one core.

A full build reads every manifest before any page renders; where no cache has parsed them
(a fresh clone, CI), forked children parse and check their shares from the end
(``store.parallel.check_ahead``) while the build's own process reads from the front and
does whatever no child has answered yet. Whatever a child answers, and however it ends
(failing, killed, sending garbage), the read must be exactly the serial one: the same
models, the same refusals with the same findings and lines, the same caches left for the
next read, at the work tree and at a commit. The size threshold is lowered so that a small
registry forks.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core import manifest
from gitreg.site import build
from gitreg.store import parallel
from gitreg.store.cache import git_dir
from tests._helpers import git
from tests.test_site_parallel import child_pids


@pytest.fixture
def mixed(registry_repo: Path) -> Path:
    """Models written by gitreg, beside hand edits a read must refuse, committed."""
    registry = Registry(registry_repo)
    for n in range(12):
        registry.create_model_version(f"model-{n:02d}", f"s3://bucket/{n}/1")
        registry.create_model_version(f"model-{n:02d}", f"s3://bucket/{n}/2")
    registry.transition_model_version_stage("model-03", 1, "Production")
    models = registry_repo / "models"
    (models / "broken.yaml").write_text("name: [unclosed\n")  # does not parse
    text = (models / "model-05.yaml").read_text()
    (models / "model-05.yaml").write_text(text.replace("stage: None", "stage: Production"))
    # two versions in Production: parses, breaks an invariant (a child's finding is redone)
    (models / "dated.yaml").write_text("schema_version: 1\nname: dated\nwhen: 2026-01-01\n")
    (models / "other-name.yaml").write_text((models / "model-07.yaml").read_text())
    git(registry_repo, "add", "-A")
    git(registry_repo, "commit", "-qm", "Hand edits")
    return registry_repo


def _cold(root: Path) -> None:
    shutil.rmtree(git_dir(root) / "gitreg", ignore_errors=True)


def _read(root: Path, at: str | None, parallel_read: bool) -> tuple[object, ...]:
    _cold(root)
    reading = Registry(root).store.read_registry(at, parallel=parallel_read)
    state = git_dir(root) / "gitreg"
    caches = {p.name: p.read_bytes() for p in sorted(state.glob("*.marshal"))}
    return reading.models, reading.refused, dict(reading.blobs), caches


@pytest.mark.parametrize("at", [None, "HEAD"])
def test_a_read_on_every_core_is_the_serial_read(mixed, monkeypatch, at):
    serial = _read(mixed, at, False)
    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)  # fork even for a few models
    forked = _read(mixed, at, True)
    assert forked == serial
    models, refused, _blobs, caches = forked
    assert len(models) == 11  # model-05 is refused, other-name.yaml holds model-07's name
    assert {r.path for r in refused} >= {
        "models/broken.yaml",
        "models/model-05.yaml",
        "models/dated.yaml",
        "models/other-name.yaml",
    }
    assert "cache.marshal" in caches
    assert "verdicts.marshal" in caches


def _items(count: int) -> list[tuple[str, bytes]]:
    items = []
    for n in range(count):
        data = {"schema_version": 1, "name": f"m{n}", "next_version": 2,
                "versions": [{"version": 1, "source": f"s3://m/{n}", "stage": "None"}]}  # fmt: skip
        items.append((f"models/m{n}.yaml", manifest.dump(data).encode()))
    return items


def test_a_child_answers_its_share_from_the_end(monkeypatch):
    """Left alone (the caller asks nothing until it ends), the child answers every manifest
    of its share: parsed, with whether it passed every check; what does not parse is the
    caller's to report."""
    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)
    items = _items(40)
    items[30] = ("models/m30.yaml", b"name: [unclosed\n")
    items[35] = ("models/m35.yaml", items[34][1])  # valid YAML, but model m34's name
    before = child_pids()
    ahead = parallel.check_ahead(items, 2)
    ahead.close()
    assert child_pids() <= before, "every child ended and was waited for"
    assert ahead.get(0) == (manifest.load(items[0][1], items[0][0]), True)
    assert ahead.get(39) == (manifest.load(items[39][1], items[39][0]), True)
    assert ahead.get(30) is None, "what does not parse is the caller's to report"
    parsed, passed = ahead.get(35) or (None, True)
    assert parsed == manifest.load(items[34][1], "x")
    assert passed is False


def test_the_caller_takes_from_the_front_what_no_child_answered_yet(monkeypatch):
    """Reading in order, the caller does itself whatever is not answered when it gets
    there, and tells the child so: the child stops once it reaches the caller's progress.
    Every manifest is answered once by one side or the other, and what a child answered
    is that manifest's parse."""
    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)
    monkeypatch.setattr(parallel, "STEP", 4)
    items = _items(400)
    before = child_pids()
    ahead = parallel.check_ahead(items, 2)
    answers = [ahead.get(index) for index in range(len(items))]
    ahead.close()
    assert child_pids() <= before
    for (path, text), answer in zip(items, answers, strict=True):
        assert answer is None or answer == (manifest.load(text, path), True)
    assert answers[0] is None, "the child starts at the end; the caller at the front"


@pytest.mark.parametrize("how", ["fails", "dies", "garbage"])
def test_a_child_that_fails_dies_or_answers_garbage_leaves_its_share_to_the_caller(
    monkeypatch, how
):
    """A child that raises, is killed, or sends what is not its answer: everything it did
    not answer properly is the caller's (the read then does it as on one core)."""
    import signal

    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)
    real = parallel._checked_chunk

    def broken(chunk):
        if how == "fails":
            raise RuntimeError("a bug in a child")
        if how == "dies":
            os.kill(os.getpid(), signal.SIGKILL)
        return b"\x00 not marshal" + real(chunk)[:5]

    monkeypatch.setattr(parallel, "_checked_chunk", broken)
    items = _items(40)
    before = child_pids()
    ahead = parallel.check_ahead(items, 2)
    ahead.close()
    assert child_pids() <= before
    assert all(ahead.get(index) is None for index in range(len(items)))


@pytest.mark.parametrize("how", ["fails", "dies", "garbage"])
def test_a_read_whose_child_breaks_is_the_serial_read(mixed, monkeypatch, how):
    import signal

    serial = _read(mixed, None, False)
    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)
    monkeypatch.setattr(parallel, "STEP", 2)
    real, calls = parallel._checked_chunk, []

    def second_step_breaks(chunk):  # the child's first step is answered, then it breaks
        calls.append(chunk)
        if len(calls) == 1:
            return real(chunk)
        if how == "fails":
            raise RuntimeError("a bug in a child")
        if how == "dies":
            os.kill(os.getpid(), signal.SIGKILL)
        return b"garbage"

    monkeypatch.setattr(parallel, "_checked_chunk", second_step_breaks)
    assert _read(mixed, None, True) == serial


def test_nothing_forks_while_threads_run_or_for_one_core(monkeypatch):
    import threading

    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)
    items = [(f"models/m{n}.yaml", b"name: x\n") for n in range(10)]
    assert parallel.check_ahead(items, 1).get(9) is None
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parallel.check_ahead(items, 2).get(9) is None
    finally:
        stop.set()
        thread.join()


def test_a_full_build_with_a_forked_read_writes_the_same_site(mixed, tmp_path, monkeypatch):
    git(mixed, "rm", "-q", "models/broken.yaml", "models/other-name.yaml", "models/dated.yaml")
    git(mixed, "checkout", "-q", "HEAD~1", "--", "models/model-05.yaml")
    git(mixed, "commit", "-qm", "Only valid manifests")
    _cold(mixed)
    build(Registry(mixed), tmp_path / "serial", full=True)
    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)
    _cold(mixed)
    build(Registry(mixed), tmp_path / "forked", full=True)
    assert _tree(tmp_path / "forked") == _tree(tmp_path / "serial")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
