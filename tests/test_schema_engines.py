"""jsonschema-rs (the fast path) and jsonschema (the messages) agree on every manifest (#7).

If they ever disagreed, a manifest could pass the fast check yet break the schema; so the
two engines are run side by side on valid manifests, on each way of breaking one, and on
random documents.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg.core import plain_manifest, schema_check

jsonschema_rs = pytest.importorskip("jsonschema_rs")

VALID: dict[str, Any] = {
    "schema_version": 1,
    "name": "churn",
    "description": "d",
    "tags": {"team": "growth"},
    "aliases": {"champion": 2},
    "next_version": 3,
    "created_at": "2026-11-22T10:04:11Z",
    "versions": [
        {"version": 1, "source": "s3://1", "stage": "Archived", "metrics": {"f1": 0.9}},
        {
            "version": 2,
            "source": "s3://2",
            "stage": "Production",
            "run_id": "abc",
            "created_at": "2026-11-22T10:04:11.123Z",
            "tags": {"validation": "passed"},
        },
    ],
}


def _breakages() -> list[tuple[str, Any]]:
    def at(path: list[Any], value: Any) -> dict[str, Any]:
        doc = copy.deepcopy(VALID)
        target = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return doc

    return [
        ("two Production", at(["versions", 0, "stage"], "Production")),
        ("unknown stage", at(["versions", 0, "stage"], "Prod")),
        ("extra field", at(["extra"], 1)),
        ("numeric tag", at(["tags", "team"], 5)),
        ("alias latest", at(["aliases"], {"latest": 1})),
        ("alias v1", at(["aliases"], {"v1": 1})),
        ("bad name", at(["name"], "../x")),
        ("colon name", at(["name"], "a:b")),
        ("newline name", at(["name"], "a\nb")),
        ("version zero", at(["versions", 0, "version"], 0)),
        ("empty source", at(["versions", 0, "source"], "")),
        ("bad timestamp", at(["created_at"], "yesterday")),
        ("schema 2", at(["schema_version"], 2)),
        ("metric text", at(["versions", 0, "metrics"], {"f1": "high"})),
        ("versions not a list", at(["versions"], {})),
    ]


def _agree(doc: Any) -> None:
    slow = not list(schema_check._validator("manifest").iter_errors(doc))
    fast = schema_check._fast_validator("manifest").is_valid(doc)
    assert fast == slow, doc
    # The plain check (#26) may only skip the engines where they say valid.
    assert slow or not plain_manifest.valid(doc), doc


def test_a_valid_manifest_is_valid_for_both():
    _agree(VALID)
    assert schema_check.check_schema(VALID, "models/churn.yaml", None) == []


def test_the_plain_check_recognises_what_gitreg_writes_and_asks_the_schema_otherwise():
    """A write's header and entries need no engine; what it cannot vouch for goes to one."""
    assert plain_manifest.valid(VALID)
    unusual = copy.deepcopy(VALID)
    unusual["versions"][0]["run_link"] = "https://ci.example/run/1"  # valid, not plain
    assert not plain_manifest.valid(unusual)
    assert schema_check.check_schema(unusual, "models/churn.yaml", None) == []
    many = {**VALID, "versions": [VALID["versions"][0]] * (plain_manifest.MAX_ENTRIES + 1)}
    assert not plain_manifest.valid(many)  # a whole manifest: the compiled engine is faster


@pytest.mark.parametrize(("why", "doc"), _breakages(), ids=[w for w, _ in _breakages()])
def test_each_breakage_is_invalid_for_both(why, doc):
    _agree(doc)
    assert not schema_check._fast_validator("manifest").is_valid(doc), why
    assert not plain_manifest.valid(doc), why


_near = st.sampled_from(
    [
        ["schema_version", True],
        ["schema_version", 1.0],
        ["next_version", 2**31 + 1],
        ["next_version", 0],
        ["name", ""],
        ["name", "x" * 257],
        ["name", "a/b"],
        ["name", "caf\u00e9"],
        ["aliases", {"Latest": 1}],
        ["aliases", {"V12": 1}],
        ["aliases", {"ok": 0}],
        ["aliases", {"ok": True}],
        ["aliases", {"-x": 1}],
        ["aliases", {"ok\n": 1}],
        ["tags", {"a/b": "x"}],
        ["tags", {"..": "x"}],
        ["tags", {"a": 1}],
        ["tags", {"": "x"}],
        ["tags", {"k" * 251: "x"}],
        ["created_at", "2026-11-22 10:04:11Z"],
        ["created_at", "2026-11-22T10:04:11Z\n"],
        ["updated_at", 5],
        ["description", "x" * 5001],
        ["created_by", "x" * 257],
        ["versions", 0, "version", 2**31],
        ["versions", 0, "version", True],
        ["versions", 0, "source", ""],
        ["versions", 0, "source", "x" * 2049],
        ["versions", 0, "stage", "production"],
        ["versions", 0, "stage", None],
        ["versions", 0, "digest", "sha256:" + "A" * 64],
        ["versions", 0, "digest", "sha256:" + "a" * 63],
        ["versions", 0, "metrics", {"f1": True}],
        ["versions", 0, "metrics", {"f1": float("nan")}],
        ["versions", 0, "metrics", {"f1": "0.9"}],
        ["versions", 0, "metrics", {".x": 1}],
        ["versions", 0, "metrics", {f"m{i}": 1 for i in range(1001)}],
        ["versions", 0, "has_input_example", 1],
        ["versions", 0, "run_id", "x" * 257],
        ["versions", 0, "extra", 1],
        ["versions", 1, "stage", "Production"],
        ["versions", 0, "created_at", "2026-11-22T10:04:11+01:00"],
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_near, min_size=1, max_size=3))
def test_the_plain_check_never_passes_what_the_schema_refuses(changes):
    """Valid manifests with one to three fields pushed to or past the schema's limits."""
    doc = copy.deepcopy(VALID)
    for *path, value in changes:
        target: Any = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    slow = not list(schema_check._validator("manifest").iter_errors(doc))
    assert slow or not plain_manifest.valid(doc), changes


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 5),
    st.floats(allow_nan=False),
    st.sampled_from(["", "churn", "Production", "None", "latest", "v1", "s3://x", "a..b"]),
)
_docs = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "schema_version",
                    "name",
                    "versions",
                    "version",
                    "stage",
                    "source",
                    "tags",
                    "aliases",
                    "next_version",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_docs)
def test_random_documents_get_the_same_verdict(doc):
    _agree(doc)


LINE_BROKEN = [
    ("digest", ["versions", 0, "digest"], "sha256:" + "a" * 64 + "\n"),
    ("timestamp", ["created_at"], "2026-11-22T10:04:11Z\n"),
    ("run link", ["versions", 0, "run_link"], "https://ci.example/run/1\n"),
    ("alias", ["aliases"], {"champion\n": 2}),
]


@pytest.mark.parametrize(("why", "path", "value"), LINE_BROKEN, ids=[w for w, _, _ in LINE_BROKEN])
def test_a_final_line_break_breaks_a_pattern_for_both_engines(why, path, value):
    """JSON Schema's ``$`` is ECMA's: the end of the text, not before a final newline, as
    Python's ``re`` would read it (a digest with a line break passed validate, #28)."""
    doc = copy.deepcopy(VALID)
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    _agree(doc)
    assert not schema_check._validator("manifest").is_valid(doc), why
    assert schema_check.check_schema(doc, "models/churn.yaml", None), why


def test_validate_refuses_a_timestamp_with_a_line_break_naming_the_file(repo, gate):
    path = repo / "models" / "churn.yaml"
    text = path.read_text()
    broken = text.replace(
        'created_at: "2026-11-20T10:00:00Z"', 'created_at: "2026-11-20T10:00:00Z\\n"'
    )
    assert broken != text
    path.write_text(broken)

    result = gate.fails(1, "validate")

    assert "models/churn.yaml" in result.stdout
    assert "created_at" in result.stdout


# Every field the recogniser checks, in the header and in an entry: its value at the schema's
# limit (still plain: the engines are skipped) and past it or of the wrong kind (the schema
# refuses it, so the recogniser must never pass it). Written for the mutants of
# scripts/mutation's "plain" area that skipped one field's check.
_AT_LIMIT: list[tuple[list[Any], Any]] = [
    (["name"], "n" * 256),
    (["description"], "d" * 5000),
    (["created_by"], "c" * 256),
    (["next_version"], 1),
    (["next_version"], 2**31),
    (["aliases"], {"champion": 1}),
    (["tags"], {"k" * 250: "v" * 100_000}),
    (["versions", 0, "storage_location"], "s" * 2048),
    (["versions", 0, "description"], "d" * 5000),
    (["versions", 0, "created_by"], "c" * 256),
    (["versions", 0, "updated_at"], "2026-11-22T10:04:11Z"),
    (["versions", 0, "has_input_example"], True),
    (["versions", 0, "digest"], "sha256:" + "a" * 64),
    (["versions", 0, "tags"], {"team": "t"}),
    (["versions", 0, "metrics"], {f"m{i}": i for i in range(1000)}),
]
_PAST_LIMIT: list[tuple[list[Any], Any]] = [
    (["name"], "n" * 257),
    (["description"], "d" * 5001),
    (["created_by"], "c" * 257),
    (["created_by"], 7),
    (["next_version"], 0),
    (["aliases"], ["champion"]),
    (["aliases"], {"champion": 0}),
    (["tags"], ["team"]),
    (["tags"], {"k" * 251: "v"}),
    (["tags"], {"team": "v" * 100_001}),
    (["versions", 0, "storage_location"], "s" * 2049),
    (["versions", 0, "storage_location"], 7),
    (["versions", 0, "description"], "d" * 5001),
    (["versions", 0, "description"], 7),
    (["versions", 0, "created_by"], "c" * 257),
    (["versions", 0, "updated_at"], "yesterday"),
    (["versions", 0, "has_input_example"], "yes"),
    (["versions", 0, "digest"], "sha256:" + "a" * 65),
    (["versions", 0, "digest"], 7),
    (["versions", 0, "tags"], ["team"]),
    (["versions", 0, "tags"], {"team": 7}),
    (["versions", 0, "metrics"], {f"m{i}": i for i in range(1001)}),
    (["versions", 0, "metrics"], {"f1": None}),
]


def _set(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return doc


def test_the_plain_check_takes_up_to_its_number_of_entries():
    entry = {"version": 1, "source": "s3://1", "stage": "Archived"}
    versions = [{**entry, "version": n} for n in range(1, plain_manifest.MAX_ENTRIES + 1)]
    doc = {**VALID, "versions": versions, "aliases": {}, "next_version": len(versions) + 1}
    assert plain_manifest.valid(doc)
    _agree(doc)


@pytest.mark.parametrize(("path", "value"), _AT_LIMIT, ids=lambda x: str(x)[:30])
def test_each_field_at_its_limit_is_plain(path, value):
    doc = _set(path, value)
    assert plain_manifest.valid(doc), path
    _agree(doc)


@pytest.mark.parametrize(("path", "value"), _PAST_LIMIT, ids=lambda x: str(x)[:30])
def test_each_field_past_its_limit_goes_to_the_schema_which_refuses_it(path, value):
    doc = _set(path, value)
    assert not plain_manifest.valid(doc), path
    assert list(schema_check._validator("manifest").iter_errors(doc)), path
    _agree(doc)
