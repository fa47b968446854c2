"""``core.plain_tag`` gives the tag PyYAML's dumper's resolvers give, or says it is unsure (#26).

A cold write reads and re-emits manifests without compiling the resolvers' regular
expressions for the usual scalars; a wrong answer would change a value's type (a quoted
string read as a number, or the reverse), so every answer is checked here against the
resolvers themselves, on the shapes the shortcut takes, their near misses and random texts.
"""

from __future__ import annotations

import random
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitreg.core import manifest, plain_tag


def _by_regex(text: str) -> str:
    """What the resolvers answer (``manifest.implicit_tag`` before #26's ninth round)."""
    resolvers = yaml.SafeDumper.yaml_implicit_resolvers
    for tag, regexp in resolvers.get(text[0] if text else "", []) + resolvers.get(None, []):
        if regexp.match(text):
            return str(tag)
    return plain_tag.STR


def _table() -> plain_tag.Table:
    return plain_tag.Table(manifest._resolver_table())


SHAPES = [
    # words: booleans, nulls and their near misses
    *[
        "yes",
        "Yes",
        "YES",
        "no",
        "No",
        "NO",
        "true",
        "True",
        "TRUE",
        "false",
        "False",
        "FALSE",
        "on",
        "On",
        "ON",
        "off",
        "Off",
        "OFF",
    ],
    *[
        "null",
        "Null",
        "NULL",
        "~",
        "yEs",
        "nO",
        "tRUE",
        "oN",
        "ofF",
        "nul",
        "nulls",
        "Nones",
        "None",
        "none",
        "y",
        "n",
        "t",
        "f",
        "o",
        "Y",
        "N",
    ],
    "",
    "~~",
    "~ ",
    "~x",
    "<<",
    "=",
    "!",
    "&",
    "*",
    # numbers as manifests hold them, and near misses
    *[
        "0",
        "1",
        "3",
        "12",
        "5000",
        "2147483647",
        "00",
        "007",
        "08",
        "09",
        "0089",
        "010",
        "1.",
        "0.",
        "0.5",
        "0.8265",
        "12.5",
        "3.14159",
    ],
    *[
        "1.2.3",
        "1..2",
        "1e5",
        "1E5",
        "1.5e+3",
        "1.5e3",
        "1_000",
        "1:30",
        "1:30.5",
        "190:20:30",
        "0b101",
        "0x1F",
        "0X1F",
        "0o7",
    ],
    *[
        "-1",
        "+1",
        "-0.5",
        ".5",
        ".inf",
        ".nan",
        "-.inf",
        "1-2",
        "2026-11-22",
        "2026-11-22T10:04:11Z",
        "20261122",
    ],
    "371960ef6def0734abc9fa9a325e55e8",
    "0123abc",
    "0b",
    "0x",
    "9z",
    "1 ",
    "1\n",
    "true\n",
    "1.5\n",
    "12 ",
    "1,000",
    # strings
    *[
        "name",
        "next_version",
        "Staging",
        "Production",
        "Archived",
        "s3://bucket/x",
        "m-00001",
        "churn",
    ],
    "Retrained on batch 9436. F1 0.8265",
    "2026-11-22T10:04:11.743Z",
    # times: gitreg's shape, and near misses
    "2026-11-22T10:04:11Z",
    "2026-11-22T10:04:11",
    "2026-11-22T10:04:11.Z",
    "2026-11-22T10:04:11.5",
    "2026-11-22t10:04:11Z",
    "2026-1-22T10:04:11Z",
    "2026-11-22 10:04:11Z",
    "2026-11-22T10:04:11+01:00",
    "2026-11-22T10:04:11ZZ",
    "2026-11-22T10:04:11.5.5Z",
    "2026-11-22T1:04:11Z",
    "2026-11-22T10:04:1",
    "2026-11-22T10-04-11Z",
    "12026-11-22T10:04:11Z",
]


@pytest.mark.parametrize("text", SHAPES)
def test_every_answer_is_the_resolvers(text: str) -> None:
    table = _table()
    assert table.known  # the installed PyYAML's table: the shortcut is what runs
    found = plain_tag.tag(text, table)
    assert found is None or found == _by_regex(text), text
    assert manifest.implicit_tag(text) == _by_regex(text)


def test_the_usual_shapes_are_answered_without_a_regex() -> None:
    table = _table()
    for text in (
        "3",
        "0.8265",
        "name",
        "None",
        "Staging",
        "true",
        "null",
        "",
        "~",
        "2026-11-22T10:04:11Z",
        "2026-12-07T08:31:38.855Z",
    ):
        assert plain_tag.tag(text, table) is not None, text
    for text in ("-1", ".5", "1e5.0", "0x1F", "1_000", "1:30", "2026-11-22", "yes\n"):
        assert plain_tag.tag(text, table) is None, text  # left to the regexes


def test_random_texts_agree_with_the_resolvers() -> None:
    rng = random.Random(26)
    alphabet = "0123456789.-+_:eExXbBoO ~yYnNtTfFaslu\n,"
    table = _table()
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        found = plain_tag.tag(text, table)
        assert found is None or found == _by_regex(text), repr(text)
    stamp = "2026-11-22T10:04:11.743Z"
    for _ in range(20000):  # times with a character changed, dropped or added
        at = rng.randrange(len(stamp) + 1)
        text = stamp[:at] + rng.choice(["", rng.choice(alphabet + "TtZz")]) + stamp[at + 1 :]
        found = plain_tag.tag(text, table)
        assert found is None or found == _by_regex(text), repr(text)


def test_another_table_keeps_only_the_rule_every_table_obeys() -> None:
    """A table that is not the one written out (another PyYAML, a damaged memo): only a
    first character no resolver is keyed by is answered; a resolver for every text
    (``None``) stops even that."""
    rows = manifest._resolver_table()
    changed = [
        (first, tag, pattern.replace("yes|", "yes|yep|"), flags)
        for first, tag, pattern, flags in rows
    ]
    table = plain_tag.Table(changed)
    assert not table.known
    assert plain_tag.tag("Staging", table) == plain_tag.STR
    assert plain_tag.tag("yep", table) is None  # the regexes decide: here, a bool
    assert plain_tag.tag("3", table) is None
    everywhere = plain_tag.Table([*rows, (None, "tag:example,x", re.escape("x"), 0)])
    assert plain_tag.tag("Staging", everywhere) is None


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(alphabet="0123456789.-+_:eExXbBoOTtZz ~yYnNfFaslu\n,#", max_size=26)
    | st.text(max_size=12)
    | st.from_regex(r"\d{4}-\d{1,2}-\d{1,2}[Tt ]\d{1,2}:\d\d:\d\d(\.\d*)?(Z|[+-]\d\d(:\d\d)?)?")
)
def test_any_text_is_tagged_as_the_resolvers_tag_it(text: str) -> None:
    """Whatever a scalar holds, the shortcut's answer is the resolvers' or none at all, and
    what a write emits is tagged exactly as PyYAML would tag it."""
    found = plain_tag.tag(text, _table())
    assert found is None or found == _by_regex(text)
    assert manifest.implicit_tag(text) == _by_regex(text)
