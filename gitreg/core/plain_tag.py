"""The implicit tag of a plain scalar, for the shapes a manifest holds, without a regex (#26).

``manifest.implicit_tag`` asks PyYAML's dumper's implicit resolvers (regular expressions
keyed by the text's first character) how a plain scalar would read back. Compiling the
five of them that a manifest reaches (bool, null, int, float, timestamp) cost about 1.2 ms
of a cold CLI write, more than the write's own patching. ``tag`` answers the same for the
texts a manifest is made of, or None when unsure (then the resolvers decide):

- a text whose first character keys no resolver is a string: that is how the resolvers
  are looked up, whatever their patterns (``first_keys``);
- the rest only when the table is exactly the one written out here (PyYAML 5 and 6's
  YAML 1.1 resolvers, checked by a SHA-256 of the whole table, patterns, flags and order
  included): the words that are booleans and nulls; ASCII digits (an int, unless a
  leading zero is followed by an 8 or 9: a string); digits, a dot, digits (a float, the
  first resolver tried for a digit); a digit followed by letters and digits, not ``0b`` or
  ``0x`` (a string: no int, float or timestamp pattern matches without one of ``.:-+_``);
  the times gitreg writes, ``YYYY-MM-DDTHH:MM:SS[.fff][Z]`` (a timestamp).
  Anything else (signs, underscores, colons, dashes, exponents, a newline, which ``$``
  would match before) goes to the regular expressions.

``tests/test_plain_tag.py`` compares ``tag`` with the resolvers on every such shape,
near-misses and random texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitreg.core import sha

STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"

# SHA-256 of ``repr`` of the table as ``manifest._resolver_table`` lists it: (first
# character, tag, pattern, flags), in PyYAML's order.
KNOWN_TABLE = "778b0f1949f4d0c6bd98faa9157c4fd7b7d823710e71a22890dc9d041b6e38e9"

_WORDS = {
    **dict.fromkeys(
        [
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
        _BOOL,
    ),
    **dict.fromkeys(("null", "Null", "NULL", "~", ""), _NULL),
}
_WORD_FIRSTS = frozenset("yYnNtTfFoO~")
_DIGITS = frozenset("0123456789")
_OCTAL = frozenset("01234567")
_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Table:
    """What one resolver table allows ``tag`` to answer without its regular expressions."""

    __slots__ = ("firsts", "known")

    def __init__(self, table: Sequence[Sequence[Any]]) -> None:
        rows = [tuple(row) for row in table]
        self.firsts = frozenset(row[0] for row in rows)
        self.known = sha.sha256(repr(rows).encode()).hexdigest() == KNOWN_TABLE


def tag(text: str, table: Table) -> str | None:
    """The tag the resolvers of ``table`` give plain ``text``, or None: ask them."""
    first = text[:1]
    if None in table.firsts:
        return None  # resolvers for every text: this module's rules do not hold
    if first not in table.firsts:
        return STR
    if not table.known or "\n" in text:
        return None
    if first in _WORD_FIRSTS or not text:
        return _WORDS.get(text, STR)  # only the bool and null words match there
    if first in _DIGITS:
        return _number(text)
    return None


def _number(text: str) -> str | None:
    """A text that starts with an ASCII digit: int, float or string, when plainly one."""
    if _DIGITS.issuperset(text):
        if text[0] != "0" or _OCTAL.issuperset(text[1:]):
            return _INT  # 0, 1-9 then digits, or 0 then octal digits (YAML 1.1)
        return STR
    whole, dot, fraction = text.partition(".")
    if dot and _DIGITS.issuperset(whole) and _DIGITS.issuperset(fraction):
        return _FLOAT
    if not dot and _ALNUM.issuperset(text) and text[:2] not in ("0b", "0x"):
        return STR
    return _TIMESTAMP if _timestamp(text) else None


# Where ``YYYY-MM-DDTHH:MM:SS`` has digits (the other places: ``-``, ``T``, ``:``).
_SHAPE = "dddd-dd-ddTdd:dd:dd"


def _timestamp(text: str) -> bool:
    """Whether ``text`` is ``YYYY-MM-DDTHH:MM:SS``, then ``.`` and digits, then ``Z``, each
    of the last two optional: the times gitreg writes, which only the timestamp pattern
    matches (no int or float pattern allows a ``-`` after digits)."""
    head, tail = text[:19], text[19:]
    if len(head) != 19 or any(
        (c not in _DIGITS) if want == "d" else c != want
        for c, want in zip(head, _SHAPE, strict=True)
    ):
        return False
    tail = tail.removesuffix("Z")
    return not tail or (tail[0] == "." and _DIGITS.issuperset(tail[1:]))
