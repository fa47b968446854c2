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

from gitreg.core import schema_check

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


def test_a_valid_manifest_is_valid_for_both():
    _agree(VALID)
    assert schema_check.check_schema(VALID, "models/churn.yaml", None) == []


@pytest.mark.parametrize(("why", "doc"), _breakages(), ids=[w for w, _ in _breakages()])
def test_each_breakage_is_invalid_for_both(why, doc):
    _agree(doc)
    assert not schema_check._fast_validator("manifest").is_valid(doc), why


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
