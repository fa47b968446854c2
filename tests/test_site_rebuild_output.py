"""What a rebuild writes of the files no one model owns (#26).

A rebuild leaves a file the previous build wrote with the very bytes it would write again
(the static files, the comparison page, an index chunk the change did not reach): no
write, no rename, and the marker lists it as before; the marker itself is the previous
one with the new hashes put in when it lists the same files (else it is written whole),
byte for byte a full build's either way. Only the bytes on disk decide: a file
replaced, edited or turned into a link is written again (or refused). ``api/models.json``
is joined in one piece, byte for byte the JSON of its parts, for no, one and many models.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.site import api, build
from gitreg.site.output import MARKER, OutputRefused, SiteOutput
from tests._site import registry_and_clone
from tests.test_site_incremental import files, same_as_full

original, work = registry_and_clone("rebuild-output")


def _inode(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_ino, info.st_mtime_ns


def test_unchanged_shared_files_are_left_and_changed_ones_written(work, tmp_path):
    out = tmp_path / "out"
    build(Registry(work), out)
    static = out / "static" / "site.css"
    compare_page, index = out / "compare.html", out / "index.html"
    before = {p: _inode(p) for p in (static, compare_page, index)}
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    report = build(Registry(work), out)
    assert (report.rendered, report.incremental) == (1, True)
    assert _inode(static) == before[static]  # the same file: never rewritten
    assert _inode(compare_page) == before[compare_page]
    assert _inode(index) != before[index]  # it names the new commit
    same_as_full(work, out, tmp_path)


def test_a_shared_file_edited_or_replaced_is_written_again(work, tmp_path):
    out = tmp_path / "out"
    build(Registry(work), out)
    expected = (out / "static" / "site.css").read_bytes()
    (out / "static" / "site.css").write_bytes(b"/* mine */\n")  # edited in place
    os.replace(out / "compare.html", out / "compare.bak")
    (out / "compare.html").write_text("not gitreg's")  # replaced by another file
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    build(Registry(work), out)
    assert (out / "static" / "site.css").read_bytes() == expected
    (out / "compare.bak").unlink()  # not a build's file: the comparison below is exact
    same_as_full(work, out, tmp_path)


def test_a_link_in_place_of_a_shared_file_is_never_followed(work, tmp_path):
    out = tmp_path / "out"
    build(Registry(work), out)
    outside = tmp_path / "outside.css"
    outside.write_bytes((out / "static" / "site.css").read_bytes())
    (out / "static" / "site.css").unlink()
    (out / "static" / "site.css").symlink_to(outside)
    with pytest.raises(OutputRefused):
        build(Registry(work), out)
    assert outside.read_bytes() == (out / "static" / "site.css").read_bytes()


def test_the_same_bytes_written_into_a_fresh_output_are_written(tmp_path):
    """Without a previous build's listing nothing is left unwritten."""
    out = SiteOutput(tmp_path / "site")
    out.write("a.txt", "one\n")
    out.finish()
    again = SiteOutput(tmp_path / "site")
    before = _inode(tmp_path / "site" / "a.txt")
    again.write("a.txt", "one\n")  # listed by the marker with this hash: left as it is
    assert _inode(tmp_path / "site" / "a.txt") == before
    again.write("b.txt", "two\n")
    again.finish()
    listed = json.loads((tmp_path / "site" / ".gitreg-site.json").read_text())["files"]
    assert sorted(listed) == ["a.txt", "b.txt"]
    assert sorted(files(tmp_path / "site")) == ["a.txt", "b.txt"]


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_the_index_document_is_its_parts_json(count):
    models = [api.dumps({"name": f"m-{i}", "n": i, "text": "é<&>"}) for i in range(count)]
    facts = api.build_facts("a" * 40, True, None)
    text = api.index_document(models, facts, [], ["m-0"] if count else [])
    expected = {
        "registered_models": [json.loads(m) for m in models],
        "gitreg": {
            **facts,
            "models": count,
            "unverified_models": ["m-0"] if count else [],
            "invalid_models": [],
        },
    }
    assert text == api.dumps(expected) + "\n"


def _marker(out: Path) -> bytes:
    return (out / MARKER).read_bytes()


def test_the_marker_a_rebuild_patches_is_a_full_builds(work, tmp_path, monkeypatch):
    """The rebuild's marker (the previous one with the new files' hashes put in) is byte for
    byte the marker a full build writes; one that lists other files is written whole."""
    out, full = tmp_path / "out", tmp_path / "full"
    build(Registry(work), out)
    reg = Registry(work)
    reg.set_registered_model_tag("fraud", "owner", "risk-team")
    patched: list[bool] = []
    real = SiteOutput._patched

    def spy(self: SiteOutput, gone: list[str]) -> bytes | None:
        found = real(self, gone)
        patched.append(found is not None)
        return found

    monkeypatch.setattr(SiteOutput, "_patched", spy)
    build(Registry(work), out)
    assert patched == [True]
    build(Registry(work), full, full=True)
    assert _marker(out) == _marker(full)
    reg.create_model_version("fraud", "s3://fraud/new")  # a new page: the listing grows
    build(Registry(work), out)
    shutil.rmtree(full)
    build(Registry(work), full, full=True)
    assert _marker(out) == _marker(full)
    reg.delete_registered_model("churn-predictor")  # files go: dumped whole
    build(Registry(work), out)
    shutil.rmtree(full)
    build(Registry(work), full, full=True)
    assert _marker(out) == _marker(full)
    same_as_full(work, out, tmp_path)


def test_a_marker_edited_since_is_parsed_and_written_whole(work, tmp_path):
    out, full = tmp_path / "out", tmp_path / "full"
    build(Registry(work), out)
    listing = json.loads(_marker(out))
    (out / MARKER).write_text(json.dumps(listing, indent=1))  # the same files, other bytes
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    report = build(Registry(work), out)
    assert report.incremental
    build(Registry(work), full, full=True)
    assert _marker(out) == _marker(full)
