"""Tests written for the surviving mutants of the flat area (#26; docs/mutation.md).

``core.sparse`` finds a version's entry in a manifest's text and rewrites only the header
and the entries a write changes; whatever it writes must be byte for byte what the full
path's ``manifest.dump`` writes, and any text it is not sure of must make it answer None
(so the write takes the full path), never a wrong entry.
"""

from __future__ import annotations

from typing import Any

import pytest

from gitreg.core import manifest
from gitreg.core.sparse import Sparse

HEADER = {
    "schema_version": 1,
    "name": "churn",
    "next_version": 4,
    "created_at": "2023-01-01T00:00:00Z",
}


def _entry(k: int, stage: str = "None") -> dict[str, Any]:
    return {"version": k, "source": f"s3://b/{k}", "stage": stage, "run_id": "r" * 8}


def _model(*entries: dict[str, Any]) -> dict[str, Any]:
    return {**HEADER, "versions": list(entries)}


def _read(data: dict[str, Any]) -> Sparse:
    doc = Sparse.read(manifest.dump(data))
    assert doc is not None
    return doc


def test_an_entry_is_found_whole_wherever_it_is() -> None:
    """The first, a middle and the last entry are found with exactly their own text."""
    data = _model(_entry(1), _entry(2, "Staging"), _entry(3, "Production"))
    doc = _read(data)
    assert doc.header == HEADER
    for k in (1, 2, 3):
        found = doc.entry(k)
        assert found is not None
        entry, begin, end = found
        assert entry == data["versions"][k - 1]
        assert doc.text[begin:end] == f"  - version: {k}\n" + "".join(
            f"    {key}: {value}\n" for key, value in list(entry.items())[1:]
        )
    assert doc.entry(3)[2] == len(doc.text)  # type: ignore[index]
    assert doc.entry(4) is None
    assert doc.span(4) is None
    assert doc.first() == data["versions"][0]
    assert _read(_model(_entry(1))).first() == _entry(1)


def test_versions_in_a_stage_are_all_found_in_order() -> None:
    archived = [_entry(k, "Archived") for k in (1, 3, 5)]
    data = _model(archived[0], _entry(2), archived[1], _entry(4), archived[2])
    doc = _read(data)
    assert doc.in_stage("Archived") == [1, 3, 5]
    assert doc.in_stage("None") == [2, 4]
    assert doc.in_stage("Production") == []


def test_render_writes_what_the_full_dump_writes() -> None:
    """The header changed, the first and last entries replaced, one appended: the text is
    the full dump's, and the untouched middle entry keeps its text."""
    old = _model(_entry(1), _entry(2), _entry(3))
    doc = _read(old)
    new = _model(_entry(1, "Archived"), _entry(2), _entry(3, "Production"), _entry(4))
    new["next_version"] = 5
    replaced = {}
    for k in (3, 1):
        found = doc.entry(k)
        assert found is not None
        replaced[k] = (new["versions"][k - 1], found[1], found[2])
    header = {key: value for key, value in new.items() if key != "versions"}
    assert doc.render(header, replaced, [_entry(4)]) == manifest.dump(new, like=old)
    assert doc.render(header, {}, []) == manifest.dump({**old, "next_version": 5}, like=old)
    # the header's keys in the file's order, whatever order the caller gives them in
    backwards = dict(reversed(list(header.items())))
    assert doc.render(backwards, {}, []) == manifest.dump({**old, "next_version": 5}, like=old)


def test_render_declines_what_it_cannot_write_this_way() -> None:
    doc = _read(_model(_entry(1), _entry(2)))
    one, two = doc.entry(1), doc.entry(2)
    assert one is not None
    assert two is not None
    # two replacements that overlap
    overlapping = {1: (_entry(1), one[1], two[2]), 2: (_entry(2), two[1], two[2])}
    assert doc.render(HEADER, overlapping, []) is None
    # an entry or a header value the fast writer does not write (a float's infinity)
    odd = {**_entry(1), "metric": float("inf")}
    assert doc.render(HEADER, {1: (odd, one[1], one[2])}, []) is None
    assert doc.render(HEADER, {}, [odd]) is None
    assert doc.render({**HEADER, "odd": float("inf")}, {}, []) is None


@pytest.mark.parametrize(
    "text",
    [
        "schema_version: 1\nversions:\n  - version: 1\n    source: a",  # no final newline
        "schema_version: 1\nversions:\n\n  - version: 1\n",  # no entry right after
        "schema_version: 1\nname: [\nversions:\n  - version: 1\n",  # a header that is no YAML
        "schema_version: 1\n",  # no versions
        "versions: []\nname: m\nversions:\n  - version: 1\n",  # versions twice
    ],
)
def test_sparse_declines_text_of_another_shape(text: str) -> None:
    assert Sparse.read(text) is None


def test_an_entry_only_pyyaml_writes_is_declined_not_misread() -> None:
    """A multi-line description is a block scalar, which only the full path reads: the
    entry is not found this way (None), so the write takes the full path."""
    text = manifest.dump(_model({**_entry(1), "description": "line one\nline two"}, _entry(2)))
    assert "description: |-\n" in text
    doc = Sparse.read(text)
    assert doc is not None
    assert doc.entry(1) is None
    assert doc.in_stage("None") is None
    assert doc.entry(2) is not None
