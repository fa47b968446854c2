"""The site's whole-registry read on every core (#26): the same read as on one core.

A full build reads every manifest before any page renders; where no cache has parsed them
(a fresh clone, CI), forked children parse and check all but the first share
(``store.parallel.check_ahead``) while the build's own process does that share. Whatever a
child answers, the read must be exactly the serial one: the same models, the same refusals
with the same findings and lines, the same caches left for the next read, at the work tree
and at a commit. The size threshold is lowered so that a small registry forks.
"""

from __future__ import annotations

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


def test_children_parse_and_check_all_but_the_first_share(monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)
    items = []
    for n in range(40):
        data = {"schema_version": 1, "name": f"m{n}", "next_version": 2,
                "versions": [{"version": 1, "source": f"s3://m/{n}", "stage": "None"}]}  # fmt: skip
        items.append((f"models/m{n}.yaml", manifest.dump(data).encode()))
    items[30] = ("models/m30.yaml", b"name: [unclosed\n")
    items[35] = ("models/m35.yaml", items[34][1])  # valid YAML, but model m34's name
    before = child_pids()
    ahead = parallel.check_ahead(items, 2)
    try:
        assert ahead.get(0) is None, "the first share is the caller's"
        assert ahead.get(39) == (manifest.load(items[39][1], items[39][0]), True)
        assert ahead.get(30) is None, "what does not parse is the caller's to report"
        parsed, passed = ahead.get(35) or (None, True)
        assert parsed == manifest.load(items[34][1], "x")
        assert passed is False
    finally:
        ahead.close()
    assert child_pids() <= before, "every child ended and was waited for"


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
