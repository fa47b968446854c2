"""The in-place patcher works on the manifest's UTF-8 bytes (#26): offsets are byte
offsets, so an entry after a non-ASCII one (a description in another script) is found and
rewritten exactly as the full dump writes it, and the new blob is joined from the old
bytes without decoding them."""

from __future__ import annotations

from typing import Any

from gitreg.core import manifest
from gitreg.core.sparse import Sparse


def _entry(k: int, description: str = "plain") -> dict[str, Any]:
    return {"version": k, "source": f"s3://m/{k}", "stage": "None", "description": description}


def _model(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": 1, "name": "m", "next_version": len(entries) + 1,
            "versions": entries}  # fmt: skip


def test_entries_after_non_ascii_text_are_found_and_rewritten_exactly() -> None:
    entries = [_entry(1, "Modèle entraîné chaque nuit ✓"), _entry(2, "日本語の説明"), _entry(3)]
    text = manifest.dump(_model(entries))
    data = text.encode("utf-8")
    assert len(data) != len(text)  # byte and character offsets differ
    doc = Sparse.read(data)
    assert doc is not None
    found = doc.entry(3)
    assert found is not None
    entry, begin, end = found
    assert entry == _entry(3)
    assert data[begin:end].decode("utf-8").startswith("  - version: 3\n")
    moved = {**entry, "stage": "Staging"}
    added = _entry(4)  # a new entry in ASCII: the patcher writes those (others: full path)
    new = doc.rendered({**doc.header, "next_version": 5}, {3: (moved, begin, end)}, [added])
    assert new is not None
    expected = manifest.dump(_model([*entries[:2], moved, added]))
    assert new.data == expected.encode("utf-8")
    assert new.text == expected
    assert Sparse.read(expected) is not None
    span = new.span(2)  # found by its bytes (a non-ASCII entry is parsed by the full path)
    assert span is not None
    assert new.data[span[0] : span[1]].decode("utf-8") == (
        "  - version: 2\n    source: s3://m/2\n    stage: None\n    description: 日本語の説明\n"
    )
    assert new.in_stage("Staging") == [3]


def test_a_text_and_its_bytes_read_alike() -> None:
    text = manifest.dump(_model([_entry(1, "é"), _entry(2)]))
    from_text, from_bytes = Sparse.read(text), Sparse.read(text.encode("utf-8"))
    assert from_text is not None
    assert from_bytes is not None
    assert (from_text.data, from_text.header, from_text.start) == (
        from_bytes.data, from_bytes.header, from_bytes.start,
    )  # fmt: skip
    assert from_text.span(2) == from_bytes.span(2)
