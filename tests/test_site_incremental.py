"""An incremental site (#26): a rebuild renders only the models a change touched.

Every test compares a rebuild with a full build of the same state, byte for byte: keeping a
page is right only if rendering it again would give the same bytes. The registries are
real (``tests/_site.py``'s, cloned so each test may change it), and so are the output
directories and the record in the clone's git directory.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.site import build, parallel
from gitreg.site.output import MARKER, FileWriter
from tests._helpers import Cli, git, modules_after
from tests._site import registry_and_clone

original, work = registry_and_clone("incremental")


def files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def same_as_full(root: Path, out: Path, tmp_path: Path) -> None:
    """``out`` holds exactly what a full build of ``root`` writes."""
    full = tmp_path / "full"
    shutil.rmtree(full, ignore_errors=True)
    build(Registry(root), full, full=True)
    assert files(out) == files(full)


def test_a_rebuild_with_nothing_changed_renders_nothing(work, tmp_path):
    out = tmp_path / "out"
    first = build(Registry(work), out)
    assert (first.rendered, first.incremental) == (3, False)
    before = {p: (out / p).stat().st_mtime_ns for p in files(out)}
    again = build(Registry(work), out)
    assert (again.rendered, again.incremental) == (0, True)
    assert again.models == 3
    assert again.pages == first.pages
    kept = {p: (out / p).stat().st_mtime_ns for p in files(out) if p.startswith("models/")}
    assert kept == {p: t for p, t in before.items() if p.startswith("models/")}  # untouched
    same_as_full(work, out, tmp_path)


def test_after_one_commit_only_that_model_is_rendered(work, tmp_path):
    out = tmp_path / "out"
    build(Registry(work), out)
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    report = build(Registry(work), out)
    assert (report.rendered, report.incremental) == (1, True)
    assert "owner=risk-team" in (out / "models/fraud/index.html").read_text()
    index = json.loads((out / "api/models.json").read_text())
    fraud = next(m for m in index["registered_models"] if m["name"] == "fraud")
    assert {"key": "owner", "value": "risk-team"} in fraud["tags"]
    same_as_full(work, out, tmp_path)


def test_a_new_version_a_rename_and_a_delete(work, tmp_path):
    out = tmp_path / "out"
    build(Registry(work), out)
    reg = Registry(work)
    reg.create_model_version("fraud", "s3://models/fraud/2", metrics={"f1": 0.7})
    reg.rename_registered_model("fraud", "fraud-detector")
    report = build(Registry(work), out)
    assert report.rendered == 1
    assert not (out / "models" / "fraud").exists()
    assert (out / "models/fraud-detector/v2.html").is_file()
    same_as_full(work, out, tmp_path)
    reg.create_registered_model("spam")
    assert build(Registry(work), out).rendered == 1
    same_as_full(work, out, tmp_path)


def test_a_comment_renders_its_model_again(work, tmp_path):
    out = tmp_path / "out"
    build(Registry(work), out)
    Registry(work).create_comment("churn-predictor", 2, "Rolled back: latency", notify=False)
    report = build(Registry(work), out)
    assert report.rendered == 1
    assert "Rolled back: latency" in (out / "models/churn-predictor/v2.html").read_text()
    same_as_full(work, out, tmp_path)


def test_a_signature_bundle_renders_its_model_again(work, tmp_path):
    """A version's model-signing bundle (#28) is shown on its model's pages: a commit that
    adds one renders that model again, and only it."""
    out = tmp_path / "out"
    build(Registry(work), out)
    bundle = work / "artifacts" / "fraud" / "1.sig"
    bundle.parent.mkdir(parents=True)
    bundle.write_text('{"mediaType": "application/vnd.dev.sigstore.bundle+json"}\n')
    git(work, "add", "artifacts")
    git(work, "commit", "-q", "-m", "Sign fraud version 1")
    report = build(Registry(work), out)
    assert (report.rendered, report.incremental) == (1, True)
    same_as_full(work, out, tmp_path)


def test_a_page_deleted_or_replaced_on_disk_is_rendered_again(work, tmp_path):
    """What a rebuild repairs: any page removed, replaced (renamed over) or whose directory
    went, since each changes its directory, which the record knows as the build left it."""
    out = tmp_path / "out"
    build(Registry(work), out)
    (out / "models" / "fraud" / "data" / "versions-0.js").unlink()
    assert build(Registry(work), out).rendered == 1
    same_as_full(work, out, tmp_path)
    page = out / "models" / "fraud" / "v1.html"
    swap = page.with_name("v1.html.new")
    swap.write_text(page.read_text().replace("fraud", "FRAUD"))
    swap.replace(page)  # what sed -i, rsync and most editors do
    assert build(Registry(work), out).rendered == 1
    same_as_full(work, out, tmp_path)
    (out / "api" / "models" / "churn-predictor.json").unlink()
    shutil.rmtree(out / "models" / "churn-predictor")
    assert build(Registry(work), out).rendered == 1
    same_as_full(work, out, tmp_path)


def test_a_page_edited_in_place_is_kept_until_a_full_build(work, tmp_path):
    """What a rebuild does not look at: the bytes of a page in a directory nobody changed
    (it would cost a stat of every file); ``--full`` writes every page again."""
    out = tmp_path / "out"
    build(Registry(work), out)
    page = out / "models" / "fraud" / "v1.html"
    with page.open("a", encoding="utf-8") as f:  # the same file, its directory untouched
        f.write("<!-- edited -->\n")
    assert build(Registry(work), out).rendered == 0
    assert page.read_text().endswith("<!-- edited -->\n")
    assert build(Registry(work), out, full=True).rendered == 3
    same_as_full(work, out, tmp_path)


def test_a_file_added_beside_the_pages_is_kept_and_a_link_refused(work, tmp_path):
    """A file of yours in a model's directory changes it: its pages are checked one by one
    (still intact: kept) and yours stays; a link there is found by the rebuild's scan."""
    out = tmp_path / "out"
    build(Registry(work), out)
    build(Registry(work), out)  # the record now holds the directories a rebuild left
    mine = out / "models" / "fraud" / "data" / "notes.txt"
    mine.write_text("mine\n")
    assert build(Registry(work), out).rendered == 0
    assert mine.read_text() == "mine\n"
    (out / "models" / "fraud" / "data" / "evil").symlink_to(tmp_path)
    failed = Cli(work).fails(2, "site", str(out))
    assert "is a symbolic link inside the site directory" in failed.stderr


@pytest.mark.parametrize("change", ["config", "rewrite", "full"])
def test_what_the_record_cannot_vouch_for_renders_everything(work, tmp_path, change):
    out = tmp_path / "out"
    build(Registry(work), out)
    full = False
    if change == "config":
        config = work / "gitreg.yaml"
        config.write_text(config.read_text().replace("[champion,", "[champion, shadow,"))
        git(work, "commit", "-qam", "Protect @shadow too")
    elif change == "rewrite":
        git(work, "reset", "-q", "--hard", "HEAD~1")
        Registry(work).set_registered_model_tag("fraud", "rewritten", "yes")
    else:
        full = True
    report = build(Registry(work), out, full=full)
    assert (report.rendered, report.incremental) == (report.models, False)
    if change != "full":
        assert any(n.startswith("every page was rendered") for n in report.notes)
    same_as_full(work, out, tmp_path)


def test_an_invalid_manifest_is_found_by_a_rebuild(work, tmp_path):
    out = tmp_path / "out"
    build(Registry(work), out)
    manifest = work / "models" / "fraud.yaml"
    manifest.write_text(manifest.read_text().replace("next_version: 2", "next_version: 1"))
    report = build(Registry(work), out)
    assert report.invalid == 1
    assert "invalid" in (out / "models/fraud/index.html").read_text()
    same_as_full(work, out, tmp_path)


def test_the_cli_says_what_it_kept_and_full_renders_all(work, tmp_path):
    out = tmp_path / "out"
    Cli(work).ok("site", str(out))
    again = Cli(work).ok("site", str(out))
    assert "0 models rendered, 3 unchanged" in again.stderr
    forced = json.loads(Cli(work).ok("site", str(out), "--full", "--json").stdout)
    assert forced["site"]["rendered"] == 3


def test_rendering_on_every_core_writes_what_one_core_writes(work, tmp_path, monkeypatch):
    serial = tmp_path / "serial"
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 10**9)
    build(Registry(work), serial)
    forked = tmp_path / "forked"
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 1)
    monkeypatch.setattr(parallel, "workers", lambda: 3)
    report = build(Registry(work), forked)
    assert report.rendered == 3
    assert files(forked) == files(serial)
    marker = json.loads((forked / MARKER).read_text())
    assert set(marker["files"]) == set(files(forked))


def test_a_build_on_every_core_records_what_a_rebuild_can_vouch_for(work, tmp_path, monkeypatch):
    """Each model's record is made by the process that rendered it, with each file's time as
    its writer read it from the file written: a rebuild that must check the files one by one
    (their directory changed) keeps those intact and renders again the model whose page was
    edited in place."""
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 1)
    monkeypatch.setattr(parallel, "workers", lambda: 3)
    monkeypatch.setattr(parallel, "STEP", 1)
    out = tmp_path / "out"
    assert build(Registry(work), out).rendered == 3
    written = (out / "models/fraud/v1.html").read_bytes()
    (out / "models" / "churn-predictor" / "notes.txt").write_text("mine")
    (out / "models" / "fraud" / "notes.txt").write_text("mine")
    with (out / "models" / "fraud" / "v1.html").open("ab") as page:  # in place, same inode
        page.write(b"<!-- edited -->")
    again = build(Registry(work), out)
    assert (again.rendered, again.incremental) == (1, True)  # fraud; churn-predictor kept
    assert (out / "models/fraud/v1.html").read_bytes() == written
    assert (out / "models/fraud/notes.txt").read_text() == "mine"


def test_every_item_is_rendered_once_and_returned_in_order(tmp_path):
    """The processes take items from a shared counter: none is lost or taken twice, and the
    results come back in the items' order whoever rendered them."""

    def job(item: int, write: parallel.Write) -> tuple[int, int]:
        write(f"items/{item}.txt", str(item).encode())
        return item, item * item

    items = list(range(250))
    out = tmp_path / "out"
    out.mkdir()
    writer = FileWriter(out)
    try:
        results = list(parallel.render(job, items, writer.write, out, count=3))
    finally:
        writer.close()
    assert results == [(i, i * i) for i in items]
    assert sorted(int(p.stem) for p in (out / "items").iterdir()) == items


PARTS = ("events", "models")  # what the record keeps in buckets beside it


def test_events_saved_by_a_build_whose_record_was_not_are_never_used(work, tmp_path):
    """A build that saved its events but failed before its record (the record still the
    previous build's) must not lend those events to the next rebuild: it renders all."""
    out = tmp_path / "out"
    build(Registry(work), out)
    site = work / ".git" / "gitreg" / "site"
    (record,) = [p for p in site.glob("*.marshal") if "-" not in p.name]  # not a bucket
    before = record.read_bytes()
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    build(Registry(work), out)
    record.write_bytes(before)  # the events of the second build, the record of the first
    Registry(work).set_registered_model_tag("fraud", "owner", "fraud-team")
    report = build(Registry(work), out)
    assert (report.rendered, report.incremental) == (report.models, False)
    incomplete = {f"every page was rendered: the record's {p} are incomplete" for p in PARTS}
    assert incomplete & set(report.notes)  # the events, or the models' buckets (#26)
    same_as_full(work, out, tmp_path)


@pytest.mark.parametrize("damage", [b"", b"\x00garbage", b"not marshal at all"])
def test_a_damaged_events_file_renders_everything_again(work, tmp_path, damage):
    """The events of the models a rebuild renders come from the record's event files; one
    that is empty or garbled cannot vouch for them: the rebuild renders every model."""
    out = tmp_path / "out"
    build(Registry(work), out)
    site = work / ".git" / "gitreg" / "site"
    for events in site.glob("*.events-*.marshal"):
        events.write_bytes(damage)
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    report = build(Registry(work), out)
    assert (report.rendered, report.incremental) == (report.models, False)
    same_as_full(work, out, tmp_path)
    Registry(work).set_registered_model_tag("fraud", "owner", "fraud-team")
    assert build(Registry(work), out).rendered == 1  # the full build saved them again
    same_as_full(work, out, tmp_path)


def test_a_rebuild_after_one_change_loads_neither_pyyaml_nor_dataclasses(work, tmp_path):
    """The first build keeps what the safe loader made of gitreg.yaml (.git/gitreg's parse
    memo, as a CLI write does); a rebuild in a new process finds the policy there, and its
    records are core.record's: it renders the changed model without either import (#26)."""
    out = tmp_path / "out"
    first = modules_after(tmp_path, "site", str(out), "--repo", str(work))  # a new process
    assert "yaml" in first  # nothing remembered yet: the safe loader parsed gitreg.yaml
    assert (work / ".git" / "gitreg" / "yaml.marshal").is_file()
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    loaded = modules_after(tmp_path, "site", str(out), "--repo", str(work))
    assert "owner=risk-team" in (out / "models/fraud/index.html").read_text()
    assert not {"yaml", "gitreg.core._safe_yaml", "dataclasses"} & set(loaded), sorted(
        {"yaml", "gitreg.core._safe_yaml", "dataclasses"} & set(loaded)
    )
    same_as_full(work, out, tmp_path)
