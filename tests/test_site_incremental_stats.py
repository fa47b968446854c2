"""A rebuild reads only the manifests whose stat data changed, and trusts no other (#26).

The site's record keeps each work-tree manifest's inode, size and times with its blob id;
a rebuild hashes only the manifests whose stat data differ, or that were written within
``RACY_NS`` of the moment the record's stat data were taken (git's "racily clean"). Every
test edits real files in a real clone and compares the rebuild with a full build, byte for
byte; ``RACY_NS`` is set to 0 where a test must see the stat data trusted (a real rebuild
comes seconds after the build that recorded them).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.site import build, manifest_stats, output, partial
from gitreg.site.output import MARKER
from gitreg.store import compare
from tests._helpers import Cli
from tests._site import registry_and_clone
from tests.test_site_incremental import same_as_full

original, work = registry_and_clone("incremental-stats")


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stat data recorded a moment ago count as old enough to be trusted."""
    monkeypatch.setattr(manifest_stats, "RACY_NS", 0)


def _same_size_edit(path: Path, old: str, new: str) -> None:
    """Rewrite ``path`` in place with ``old`` replaced by ``new`` (the same length): its
    inode and size stay, only its times change."""
    assert len(old) == len(new)
    text = path.read_text()
    assert old in text
    with path.open("r+", encoding="utf-8") as f:  # the same file, not a rename
        f.write(text.replace(old, new))


def test_an_uncommitted_edit_of_the_same_size_is_rendered(work, tmp_path, trusted):
    out = tmp_path / "out"
    build(Registry(work), out)
    manifest = work / "models" / "fraud.yaml"
    before = os.stat(manifest)
    _same_size_edit(manifest, "team: risk", "team: RISK")
    assert os.stat(manifest).st_size == before.st_size
    report = build(Registry(work), out)
    assert (report.rendered, report.incremental) == (1, True)
    same_as_full(work, out, tmp_path)


def test_an_edit_in_the_same_moment_as_the_record_is_read_again(work, tmp_path):
    """Without the test's trust: a manifest written right after the build that recorded it
    (within the clock's tick, its times may not move) is hashed again, not trusted."""
    out = tmp_path / "out"
    build(Registry(work), out)
    manifest = work / "models" / "fraud.yaml"
    stamp = os.stat(manifest)
    _same_size_edit(manifest, "team: risk", "team: RISK")
    os.utime(manifest, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # mtime set back
    assert build(Registry(work), out).rendered == 1
    same_as_full(work, out, tmp_path)


def test_a_new_and_a_removed_manifest_in_the_work_tree(work, tmp_path, trusted):
    out = tmp_path / "out"
    build(Registry(work), out)
    source = work / "models" / "fraud.yaml"
    (work / "models" / "spam.yaml").write_text(source.read_text().replace("fraud", "spam"))
    report = build(Registry(work), out)
    assert (report.models, report.rendered, report.incremental) == (4, 1, True)
    same_as_full(work, out, tmp_path)
    (work / "models" / "spam.yaml").unlink()
    report = build(Registry(work), out)
    assert (report.models, report.rendered) == (3, 0)
    assert not (out / "models" / "spam").exists()
    same_as_full(work, out, tmp_path)


def test_a_manifest_replaced_by_a_link_is_shown_as_by_a_full_build(work, tmp_path, trusted):
    out = tmp_path / "out"
    build(Registry(work), out)
    manifest = work / "models" / "fraud.yaml"
    target = tmp_path / "elsewhere.yaml"
    target.write_text(manifest.read_text())
    manifest.unlink()
    manifest.symlink_to(target)
    again = Cli(work).run("site", str(out))
    assert again.exit_code == 0
    assert "every page was rendered: a manifest cannot be read" in again.stderr
    assert "shown as invalid, with their findings (fraud)" in again.stderr
    same_as_full(work, out, tmp_path)


def test_only_stat_data_recorded_long_enough_ago_are_trusted(work):
    """The rule itself: a recorded id is used only for a manifest whose stat data are the
    recorded ones and whose status change came ``RACY_NS`` before they were taken."""
    real, table = manifest_stats.worktree_ids(work, None)
    files = table["files"]
    assert isinstance(files, dict)
    assert real["fraud.yaml"] == compare.blob_id((work / "models" / "fraud.yaml").read_bytes())
    ino, size, mtime, ctime, _oid = files["fraud.yaml"]
    planted = {**files, "fraud.yaml": (ino, size, mtime, ctime, "0" * 40)}
    old_enough = {"taken": ctime + manifest_stats.RACY_NS + 1, "files": planted}
    assert manifest_stats.worktree_ids(work, old_enough)[0]["fraud.yaml"] == "0" * 40
    too_recent = {"taken": ctime + manifest_stats.RACY_NS, "files": planted}
    assert manifest_stats.worktree_ids(work, too_recent)[0] == real
    moved = {**files, "fraud.yaml": (ino, size + 1, mtime, ctime, "0" * 40)}
    assert manifest_stats.worktree_ids(work, {**old_enough, "files": moved})[0] == real
    assert manifest_stats.worktree_ids(work, {"taken": "x", "files": planted})[0] == real


def test_a_link_in_a_deep_directory_is_found_after_an_unchanged_rebuild(work, tmp_path):
    """The output check: every directory as the last build left it needs no listing; one
    that changed (a link made in it) is listed and the link refused."""
    out = tmp_path / "out"
    build(Registry(work), out)
    assert build(Registry(work), out).rendered == 0
    (out / "models" / "churn-predictor" / "data" / "evil").symlink_to(tmp_path)
    failed = Cli(work).fails(2, "site", str(out))
    assert "is a symbolic link inside the site directory" in failed.stderr


@pytest.mark.parametrize("damage", [None, b"", b"\x00garbage", b"not marshal at all"])
def test_a_missing_or_damaged_models_bucket_renders_everything(work, tmp_path, damage):
    """The models' part of the record lives in buckets beside it; one missing or garbled
    cannot vouch for its models: the rebuild renders every model, then saves them again."""
    out = tmp_path / "out"
    build(Registry(work), out)
    site = work / ".git" / "gitreg" / "site"
    buckets = sorted(site.glob("*.models-*.marshal"))
    assert len(buckets) == 64
    for bucket in buckets[::7]:
        bucket.unlink() if damage is None else bucket.write_bytes(damage)
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    report = build(Registry(work), out)
    assert (report.rendered, report.incremental) == (report.models, False)
    assert "every page was rendered: the record's models are incomplete" in report.notes
    same_as_full(work, out, tmp_path)
    Registry(work).set_registered_model_tag("fraud", "owner", "fraud-team")
    assert build(Registry(work), out).rendered == 1
    same_as_full(work, out, tmp_path)


def test_models_saved_by_a_build_whose_record_was_not_are_never_used(work, tmp_path):
    """A build that rewrote a models bucket but failed before its record: the previous
    record names another token for that bucket, so the next rebuild renders everything."""
    out = tmp_path / "out"
    build(Registry(work), out)
    site = work / ".git" / "gitreg" / "site"
    (record,) = [p for p in site.glob("*.marshal") if "-" not in p.name]
    before = record.read_bytes()
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    assert build(Registry(work), out).rendered == 1
    record.write_bytes(before)
    report = build(Registry(work), out)
    assert (report.rendered, report.incremental) == (report.models, False)
    assert "every page was rendered: the record's models are incomplete" in report.notes
    same_as_full(work, out, tmp_path)


def test_a_rebuild_rewrites_only_the_buckets_of_what_it_rendered(work, tmp_path):
    out = tmp_path / "out"
    build(Registry(work), out)
    site = work / ".git" / "gitreg" / "site"
    before = {p.name: p.read_bytes() for p in site.glob("*.models-*.marshal")}
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    assert build(Registry(work), out).rendered == 1
    after = {p.name: p.read_bytes() for p in site.glob("*.models-*.marshal")}
    assert before.keys() == after.keys()
    assert len([n for n in before if before[n] != after[n]]) == 1  # fraud's


def _listed(out: Path) -> dict[str, str]:
    listing: dict[str, str] = json.loads((out / MARKER).read_text())["files"]
    return listing


def _on_disk(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in out.rglob("*")
        if p.is_file() and p.name != MARKER
    }


@pytest.mark.parametrize("reformatted", [False, True])
def test_the_marker_lists_what_a_rebuild_leaves_whether_read_or_known(
    work, tmp_path, reformatted, monkeypatch
):
    """A rebuild knows the marker's listing from the record when the marker is byte for
    byte the one recorded (else it reads it): either way the pages of a model deleted
    since are removed, and the marker lists exactly the files left, with their hashes."""
    out = tmp_path / "out"
    reg = Registry(work)
    reg.create_registered_model("spam")
    reg.create_model_version("spam", "s3://spam/1")
    build(Registry(work), out)
    assert _listed(out) == _on_disk(out)
    if reformatted:  # the same listing, other bytes: the marker is read, not known
        (out / MARKER).write_text(json.dumps(json.loads((out / MARKER).read_text()), indent=1))
    else:  # known: never parsed

        def parsed(*args: object) -> None:
            raise AssertionError("the marker was parsed")

        monkeypatch.setattr(output, "_previous_files", parsed)
        monkeypatch.setattr(partial, "previous_listing", parsed)
    Registry(work).delete_registered_model("spam")
    report = build(Registry(work), out)
    assert (report.rendered, report.incremental, report.removed) == (0, True, 4)
    assert not (out / "models" / "spam").exists()
    assert _listed(out) == _on_disk(out)
    monkeypatch.undo()  # a full build into a new directory looks for a marker
    same_as_full(work, out, tmp_path)
