"""A manifest read block by block (#23): always what the whole parse reads, or its error.

``core.blocks.read(text, previous)`` reuses the blocks an earlier state of the file shares
with ``text`` and parses the rest; ``core.states`` diffs two states on the changed blocks.
Property-based over generated histories (every edit a writer or a hand makes: registrations,
stage moves, deletions in the middle, blocks that move, duplicates, odd scalars), and on
hand-written layouts that must be read whole: comments, flow style, reordered keys, CRLF,
anchors, a missing last newline, files at the loader's limits.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitreg.core import _safe_yaml, blocks, manifest
from gitreg.core.entities import RegisteredModel
from gitreg.core.errors import GitregError, InvalidManifest
from gitreg.core.events import diff
from gitreg.core.states import UNREADABLE, diff_states, read_state

TRICKY = [
    "yes", "on", "null", "~", "", " lead", "x: y", "a #b", "- d", "g:", "1e3", ".5",
    "2026-11-23T04:28:59Z", "it's", "line\nbreak", "ends\n", "two\n\nbreaks\n", "é", "模型",
    "  - version: 9", "\n  - x", "versions:", "---", "...", "*star", "&amp", "|pipe", "#c",
]  # fmt: skip
text = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12))
stage = st.sampled_from(["None", "Staging", "Production", "Archived"])


@st.composite
def version(draw: st.DrawFn, number: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"version": number, "source": draw(text), "stage": draw(stage)}
    if draw(st.booleans()):
        entry["description"] = draw(text)
    if draw(st.booleans()):
        entry["tags"] = draw(st.dictionaries(text, text, max_size=2))
    if draw(st.booleans()):
        entry["metrics"] = {"f1": draw(st.floats(allow_nan=False) | st.integers())}
    return entry


@st.composite
def history(draw: st.DrawFn) -> list[dict[str, Any]]:
    """States of one manifest, each an edit of the one before."""
    data: dict[str, Any] = {"schema_version": 1, "name": "churn", "next_version": 2}
    data["versions"] = [draw(version(1))]
    states = [copy.deepcopy(data)]
    for _ in range(draw(st.integers(1, 12))):
        data = copy.deepcopy(data)
        versions = data["versions"]
        mappings = [v for v in versions if isinstance(v, dict)] or [{}]
        kind = draw(
            st.sampled_from(
                ["register", "stage", "delete", "move", "duplicate", "alias", "header", "odd"]
            )
        )
        if kind == "register" or len(versions) < 2:
            versions.append(draw(version(data["next_version"])))
            data["next_version"] += 1
        elif kind == "stage":
            draw(st.sampled_from(mappings))["stage"] = draw(stage)
        elif kind == "delete":
            versions.pop(draw(st.integers(0, len(versions) - 1)))
        elif kind == "move":
            versions.insert(
                draw(st.integers(0, len(versions) - 1)),
                versions.pop(draw(st.integers(0, len(versions) - 1))),
            )
        elif kind == "duplicate":
            versions.insert(draw(st.integers(0, len(versions))), copy.deepcopy(versions[0]))
        elif kind == "alias":
            number = draw(st.sampled_from(mappings)).get("version", 1)
            data["aliases"] = {draw(st.sampled_from(["champion", "b"])): number}
        elif kind == "header":
            data["description"] = draw(text)
        else:  # what only a hand writes: a float version, a list for a version
            versions[-1] = draw(st.sampled_from([{"version": 2.0}, [1, 2], "text", None]))
        if "versions" in data:
            data["versions"] = data.pop("versions")  # gitreg writes versions last
        states.append(data)
    return states


def _whole(text: bytes) -> tuple[Any, str | None]:
    try:
        return manifest.load_mapping(text, "models/churn.yaml"), None
    except InvalidManifest as e:
        return None, e.message


def _model(text: bytes) -> RegisteredModel | None:
    data, error = _whole(text)
    if error is not None:
        return None
    try:
        return RegisteredModel.from_manifest(data)
    except UNREADABLE:
        return None


def _read(text: bytes, previous: blocks.Layout | None) -> tuple[Any, str | None]:
    try:
        return blocks.read(text, "models/churn.yaml", previous), None
    except InvalidManifest as e:
        return None, e.message


def _check_layout(layout: blocks.Layout) -> None:
    """The layout's own bookkeeping: blocks, their ends and parses line up with its body."""
    assert blocks.SEPARATOR.join(layout.blocks) == layout.body
    assert len(layout.ends) == len(layout.blocks) == len(layout.entries)
    for block, end in zip(layout.blocks, layout.ends, strict=True):
        assert layout.body[end - len(block) : end] == block


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history())
def test_reading_by_blocks_reads_what_the_whole_parse_reads(states):
    layout = None
    for data in states:
        written = manifest.dump(data).encode()
        expected, error = _whole(written)
        got, got_error = _read(written, layout)
        assert got_error == error
        if error is None:
            assert (got.data() if isinstance(got, blocks.Layout) else got) == expected
        if isinstance(got, blocks.Layout):
            _check_layout(got)
            layout = got


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history())
def test_states_diff_to_exactly_the_whole_models_diff(states):
    texts = [manifest.dump(data).encode() for data in states]
    previous = read_state(texts[0], "models/churn.yaml")
    for before, after in itertools.pairwise(texts):
        state = read_state(after, "models/churn.yaml", previous)
        old, new = _model(before), _model(after)
        assert (state is None) == (new is None)
        if (previous is None) == (old is None) and state is not None:
            assert diff_states(previous, state) == diff(old, new)
        previous = state if state is not None else previous


def _dump(versions: int, **header: Any) -> str:
    data = {"schema_version": 1, "name": "churn", **header, "next_version": versions + 1}
    data["versions"] = [
        {"version": n, "source": f"s3://m/{n}", "stage": "None"} for n in range(1, versions + 1)
    ]
    return manifest.dump(data)


HAND_WRITTEN = {
    "a comment before the first item": _dump(3).replace("versions:\n", "versions:\n  # old\n"),
    "a comment between items": _dump(3).replace("\n  - version: 2", "\n  # two\n  - version: 2"),
    "flow style": "schema_version: 1\nname: churn\nnext_version: 3\nversions: "
    "[{version: 1, source: a, stage: None}, {version: 2, source: b, stage: None}]\n",
    "versions first": "versions:\n  - version: 1\n    source: a\n    stage: None\n"
    "schema_version: 1\nname: churn\nnext_version: 2\n",
    "a key after versions": _dump(2) + "description: late\n",
    "items at column 0": _dump(2).replace("\n  - ", "\n- ").replace("\n    ", "\n  "),
    "items indented 4": _dump(2).replace("\n  - ", "\n    - ").replace("\n    ", "\n      "),
    "CRLF": _dump(2).replace("\n", "\r\n"),
    "no last newline": _dump(2, description="x").rstrip("\n"),
    "a text block at the end, no last newline": _dump(1)
    + "    description: |\n      two\n      lines",
    "a kept text block at the end": _dump(1) + "    description: |+\n      kept\n\n\n",
    "an anchor in the header used in a block": _dump(2, created_by="&who alice").replace(
        "stage: None\n  - version: 2", "stage: None\n    created_by: *who\n  - version: 2"
    ),
    "an anchor shared inside a block": _dump(1) + "    tags: &t {a: b}\n    metrics: *t\n",
    "a duplicate versions key": "versions: []\n" + _dump(2),
    "a duplicate key in a block": _dump(2) + "    source: again\n",
    "a document end": _dump(2) + "...\n",
    "a second document": _dump(2) + "---\nname: other\n",
    "a tab at column 0": _dump(2) + "\tstage: None\n",
    "nothing after the dash": _dump(2) + "  -\n    version: 3\n    source: c\n",
    "an empty item": _dump(2) + "  - \n",
    "a scalar item": _dump(2) + "  - 7\n",
    "a quoted key spanning lines": 'schema_version: 1\nname: "churn\nversions:\n  - x"\n'
    "next_version: 1\nversions:\n  - version: 1\n    source: a\n    stage: None\n",
}


@pytest.mark.parametrize("written", HAND_WRITTEN.values(), ids=HAND_WRITTEN.keys())
def test_hand_written_layouts_read_as_the_whole_parse_reads_them(written):
    raw = written.encode()
    expected, error = _whole(raw)
    for previous in (None, blocks.read(_dump(3).encode(), "models/churn.yaml")):
        got, got_error = _read(raw, previous)  # alone, and after a state in gitreg's layout
        assert got_error == error
        if error is None:
            assert (got.data() if isinstance(got, blocks.Layout) else got) == expected


def test_a_manifest_as_gitreg_writes_it_is_read_by_blocks_and_shares_them():
    first = blocks.read(_dump(50).encode(), "models/churn.yaml")
    assert isinstance(first, blocks.Layout)
    data = _dump(51)  # a registration: a new block at the end and next_version
    second = blocks.read(data.encode(), "models/churn.yaml", first)
    assert isinstance(second, blocks.Layout)
    assert second.kept == (50, 0)
    assert all(a is b for a, b in zip(first.entries, second.entries[:50], strict=True))
    moved = data.replace("stage: None", "stage: Staging", 1)  # version 1 changes
    third = blocks.read(moved.encode(), "models/churn.yaml", second)
    assert isinstance(third, blocks.Layout)
    assert third.kept == (0, 50)
    assert third.changed(second) == ([0], [0])


def test_a_state_rewritten_in_another_layout_mid_history_diffs_whole_and_correctly():
    gitreg_way = _dump(3).encode()
    by_hand = (  # the same model after v2 moved to Staging, as someone writes it by hand
        b"schema_version: 1\nname: churn\nnext_version: 4\nversions: [\n"
        b"  {version: 1, source: s3://m/1, stage: None},\n"
        b"  {version: 2, source: s3://m/2, stage: Staging},\n"
        b"  {version: 3, source: s3://m/3, stage: None}]\n"
    )
    old = read_state(gitreg_way, "models/churn.yaml")
    new = read_state(by_hand, "models/churn.yaml", old)
    assert old is not None
    assert old.layout is not None
    assert new is not None
    assert new.layout is None
    events = diff_states(old, new)
    assert [(e.kind.value, e.version, e.to_stage) for e in events][:1] == [
        ("MODEL_VERSION_TRANSITIONED_STAGE", 2, "Staging")
    ]
    assert events == diff(_model(gitreg_way), _model(by_hand))
    back = read_state(_dump(3).encode(), "models/churn.yaml", new)  # and back again
    assert back is not None
    assert diff_states(new, back) == diff(_model(by_hand), _model(_dump(3).encode()))


def test_the_whole_files_nesting_limit_holds_though_each_block_is_within_it():
    # A block nested 31 levels is within the loader's limit alone, and 33 levels deep in
    # the file (the root and the versions list above it): the whole parse refuses it.
    nested = "x"
    for _ in range(30):
        nested = "{a: " + nested + "}"
    deep = _dump(1) + f"    tags: {nested}\n"
    with pytest.raises(InvalidManifest, match="nested more than"):
        manifest.load_mapping(deep.encode(), "models/churn.yaml")
    with pytest.raises(InvalidManifest, match="nested more than"):
        blocks.read(deep.encode(), "models/churn.yaml")


@pytest.mark.parametrize("limit", [384, 385, 386, 1000])
def test_the_whole_files_node_limit_holds_though_each_block_is_within_it(monkeypatch, limit):
    # The loader's limit is a million values; lowered here (in the loader and for the
    # blocks alike) so that four blocks of 96 values each cross it in the file only: the
    # file has 385 (the root, its 3 header values, the versions list, 4 x 95 per item).
    monkeypatch.setattr(_safe_yaml, "MAX_NODES", limit)
    monkeypatch.setattr(manifest, "MAX_NODES", limit)
    flat = "[" + ",".join(["1"] * 90) + "]"
    big = _dump(4).replace("stage: None\n", f"stage: None\n    extra: {flat}\n").encode()
    expected, error = _whole(big)
    got, got_error = _read(big, None)
    assert got_error == error
    assert (error is None) == (limit >= 385)
    if error is None:
        assert isinstance(got, blocks.Layout)
        assert got.data() == expected


def test_an_unreadable_state_is_none_and_the_next_one_still_reads():
    good = read_state(_dump(2).encode(), "models/churn.yaml")
    broken = read_state(b"versions: [\n", "models/churn.yaml", good)
    assert good is not None
    assert broken is None
    try:
        later = read_state(_dump(3).encode(), "models/churn.yaml", good)
    except GitregError:  # pragma: no cover - a state read never raises
        pytest.fail("read_state raised")
    assert later is not None
    assert [mv.version for mv in later.all_versions()] == [1, 2, 3]
