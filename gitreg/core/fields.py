"""What a field may hold, checked as MLflow checks it: aliases, tags, versions, text, metrics.

Each ``check_*``/``parse_*`` returns the value in its stored form or raises
``InvalidParameter`` with MLflow's message and a fix, repeating only a short prefix of a
refused value; the limits are MLflow's column widths where it has them (the README's
"Limits"). Timestamps are MLflow's milliseconds, stored in manifests as ISO-8601 text.
No I/O.
"""

from __future__ import annotations

import datetime as _dt
import math
import posixpath
import re
import sys
import time
import unicodedata
from collections.abc import Mapping

from gitreg.core.errors import InvalidParameter
from gitreg.core.lazy_re import lazy

ALIAS_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
_ALIAS_RE = lazy(ALIAS_PATTERN)
RESERVED_ALIASES = frozenset({"latest"})
_VERSION_LIKE_RE = lazy(r"^[vV]\d+$")
# Tag keys and values as MLflow 3.17.2 accepts them (mlflow.utils.validation): Unicode word
# characters, '/', '.', '-', ' ' and ':', not resolving to another path; values up to
# MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH. MLflow writes system tags such as mlflow.prompt.text.
TAG_KEY_PATTERN = r"^[/\w.\- :]*$"
_TAG_KEY_RE = lazy(TAG_KEY_PATTERN)
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
_ECHO = 40  # how much of a refused value an error message repeats


_DIGITS = re.compile(r"[0-9]+")
# Field limits (the README's "Limits"): MLflow's column widths where it has them.
MAX_DESCRIPTION = 5000
MAX_URI = 2048  # source, storage_location, run_link
MAX_RUN_ID = 256
MAX_METRICS = 1000
MAX_METRIC_NAME = 250
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
# Numbers as MLflow stores them (#23): a version is an INTEGER column (32 bits), a metric a
# 64-bit float, a timestamp a BIGINT of milliseconds (the manifest writes it as text).
MAX_VERSION = 2**31 - 1
MAX_NEXT_VERSION = MAX_VERSION + 1  # next_version after the last possible version
MAX_METRIC = sys.float_info.max


def check_alias(alias: object) -> str:
    """Return ``alias`` if it is a valid alias name, else raise InvalidParameter."""
    if not isinstance(alias, str) or not _ALIAS_RE.fullmatch(alias) or len(alias) > 255:
        raise InvalidParameter(
            f"Invalid alias {alias!r}: use letters, digits, '_' and '-', "
            "starting with a letter or '_'"
        )
    if _VERSION_LIKE_RE.fullmatch(alias):
        raise InvalidParameter(
            f"Invalid alias {alias!r}: it looks like a version number (as MLflow, gitreg "
            "reserves v<digits>); choose another name"
        )
    if alias.lower() in RESERVED_ALIASES:
        raise InvalidParameter(
            f"Invalid alias {alias!r}: 'latest' is reserved for the newest version"
        )
    return alias


def _quoted(value: str) -> str:
    """A value for an error message: JSON-quoted as MLflow does, cut to a short prefix."""
    import json  # error messages only

    if len(value) <= _ECHO:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value[:_ECHO], ensure_ascii=False)[:-1] + f'..." ({len(value)} characters)'


def check_tag_key(key: object) -> str:
    """Return ``key`` if MLflow accepts it as a tag key, else raise InvalidParameter.

    MLflow's rule (``_validate_tag_name``): word characters (Unicode), '/', '.', '-', ' '
    and ':'; no path that normalizes to another one ('a//b', 'a/', '../a', '.', '');
    at most 250 characters.
    """
    if key is None:
        raise InvalidParameter("Missing value for required parameter 'key'.")
    if not isinstance(key, str):
        raise InvalidParameter(f"Invalid tag key {key!r}: it must be a string")
    where = f"Invalid value {_quoted(key)} for parameter 'key' supplied"
    if not _TAG_KEY_RE.fullmatch(key):  # MLflow's "$" also lets one final "\n" through
        raise InvalidParameter(
            f"{where}: Names may only contain alphanumerics, underscores (_), dashes (-), "
            "periods (.), spaces ( ), colon(:) and slashes (/)."
        )
    normal = posixpath.normpath(key)
    if normal != key or normal == "." or normal.startswith(("..", "/")):
        raise InvalidParameter(
            f"{where}: Names may be treated as files in certain cases, and must not resolve "
            f"to other names when treated as such. This name would resolve to {normal!r}"
        )
    if len(key) > MAX_TAG_KEY_LENGTH:
        raise InvalidParameter(
            f"{where}: 'key' exceeds the maximum length of {MAX_TAG_KEY_LENGTH} characters"
        )
    return key


def check_tag_value(key: str, value: object) -> str:
    """``value`` as a tag value (text, as MLflow stores it), at most 100,000 characters.

    The message repeats only a short prefix of a refused value.
    """
    if value is None:
        raise InvalidParameter("Tag value cannot be None")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidParameter(
            f"Invalid value {_quoted(text)} for tag {key!r}: 'value' exceeds the maximum "
            f"length of {MAX_TAG_VALUE_LENGTH} characters"
        )
    return text


def number_problem(value: object, field: str, limit: int = MAX_VERSION) -> str | None:
    """Why ``value`` is not a whole number in 1..``limit`` as a manifest writes one, or None.

    ``1.0``, ``true`` and ``"1"`` are not whole numbers (see #12); a value past MLflow's
    32-bit version column is out of range (#23).
    """
    if type(value) is not int:
        return f"{field}: {_shown(value)} is not a whole number; write digits only"
    if not 1 <= value <= limit:
        return (
            f"{field}: {_shown(value)} is out of range; it must be between 1 and {limit:,} "
            "(MLflow stores version numbers as 32-bit integers)"
        )
    return None


def metric_problem(value: object) -> str | None:
    """Why ``value`` is not a metric MLflow can store (a finite 64-bit float), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{_shown(value)} is not a number; record the metric as a number"
    try:
        number = float(value)
    except OverflowError:
        return (
            f"{_shown(value, 30)} is too large for a metric: MLflow stores metrics as 64-bit "
            f"floats (at most {MAX_METRIC:.4g}); record it in another unit or as a tag"
        )
    if not math.isfinite(number):
        return (
            f"{value!r} is not a finite number; NaN and infinities cannot be compared or "
            "written as JSON, so record a finite number"
        )
    return None


_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})
# Letters and symbols that are drawn as nothing: the Hangul fillers and the blank braille
# pattern, used to pass "must not be empty" checks with text nobody can read.
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def has_visible_text(text: object) -> bool:
    """Whether ``text`` holds at least one character a reader can see (#23).

    Whitespace, control and format characters (a zero-width space, a direction mark),
    combining marks with nothing to combine with, private-use and unassigned code points,
    and the blank letters above do not count.
    """
    if not isinstance(text, str):
        return False
    return any(
        c not in _BLANK_GLYPHS and unicodedata.category(c) not in _INVISIBLE_CATEGORIES
        for c in text
    )


# A link in a manifest (run_link): an absolute http(s) URL with a host and no user name,
# without spaces, control or invisible format characters (#23). MLflow's own run links are
# ``https://HOST/#/experiments/ID/runs/RUN_ID`` (Databricks: ``https://HOST/?o=N#mlflow/...``).
# The manifest schema carries the same pattern (tests/test_validate.py checks they agree).
_LINK_BAD = (
    "\\u0000-\\u0020\\u007f-\\u00a0\\u00ad\\u061c\\u1680\\u180e\\u2000-\\u200f"
    "\\u2028-\\u202f\\u205f-\\u2064\\u2066-\\u206f\\u3000\\ufeff\\ufff9-\\ufffb"
)
LINK_PATTERN = f"^[Hh][Tt][Tt][Pp][Ss]?://[^{_LINK_BAD}/?#@\\\\]+([/?#][^{_LINK_BAD}]*)?$"
_LINK_RE = lazy(LINK_PATTERN)
LINK_FIX = (
    "use an http:// or https:// URL with a host and without spaces, control or invisible "
    "characters (e.g. https://mlflow.example.com/#/experiments/1/runs/RUN_ID), or remove it"
)


def is_link(value: object) -> bool:
    """Whether ``value`` is a link a manifest may hold (``LINK_PATTERN``)."""
    return isinstance(value, str) and _LINK_RE.fullmatch(value) is not None


def optional_link(value: object, field: str) -> str | None:
    """``optional_text`` for a link field: an http(s) URL (``LINK_PATTERN``), or absent."""
    text = optional_text(value, field, MAX_URI)
    if text is not None and not is_link(text):
        raise InvalidParameter(f"Invalid {field} {_quoted(text)}: {LINK_FIX}")
    return text


def is_version_text(text: str) -> bool:
    """Whether ``text`` is a version number as written: ASCII digits only."""
    return _DIGITS.fullmatch(text) is not None


def parse_version(version: object) -> int:
    """Return ``version`` (an int or a string of ASCII digits) as a positive int.

    Floats, booleans and other digit characters ("²", "٣") are not version numbers.
    """
    if isinstance(version, int) and not isinstance(version, bool):
        number = version
    elif isinstance(version, str) and _DIGITS.fullmatch(version.strip()):
        digits = version.strip().lstrip("0") or "0"
        number = int(digits) if len(digits) <= 12 else MAX_VERSION + 1  # int() has a limit
    else:
        raise InvalidParameter(  # MLflow's words; a prefix of the input at most
            f"Parameter 'version' must be an integer, got {_shown(version)}; versions are "
            "1, 2, 3, ..."
        )
    if number < 1:
        raise InvalidParameter(
            f"Parameter 'version' must be a positive integer, got {_shown(version)}; versions "
            "are 1, 2, 3, ..."
        )
    if number > MAX_VERSION:
        raise InvalidParameter(
            f"Parameter 'version' must be at most {MAX_VERSION:,} (MLflow stores version "
            f"numbers as 32-bit integers), got {_shown(version)}"
        )
    return number


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error never echoes a whole value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_text(value: object, field: str, limit: int) -> str:
    """Return ``value`` if it is text gitreg can store, else raise InvalidParameter.

    Text must be a string of at most ``limit`` characters, valid Unicode (no lone
    surrogates, which is what bytes that are not UTF-8 become on a command line) and
    without NUL.
    """
    if not isinstance(value, str):
        raise InvalidParameter(f"Invalid {field}: {_shown(value)}; it must be text")
    bad = _NOT_TEXT.search(value)
    if bad is not None:
        what = "a NUL character" if bad.group() == "\0" else "bytes that are not UTF-8"
        raise InvalidParameter(
            f"Invalid {field}: it contains {what} (at character {bad.start()}); pass UTF-8 text"
        )
    if len(value) > limit:
        raise InvalidParameter(
            f"Invalid {field}: it is {len(value):,} characters long, above the limit of "
            f"{limit:,} (it starts {_shown(value[:40])})"
        )
    return value


def optional_text(value: object, field: str, limit: int) -> str | None:
    """``check_text`` for an optional field: None and "" mean absent."""
    if value is None or value == "":
        return None
    return check_text(value, field, limit)


def check_metrics(metrics: object) -> dict[str, float]:
    """Metric name -> finite number, or InvalidParameter (NaN and infinities are refused)."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise InvalidParameter(
            f"Invalid metrics {_shown(metrics)}: give a mapping of name to number"
        )
    if len(metrics) > MAX_METRICS:
        raise InvalidParameter(f"Invalid metrics: more than {MAX_METRICS} on one version")
    checked = {}
    for name, value in metrics.items():
        key = check_text(name, "metric name", MAX_METRIC_NAME)
        problem = metric_problem(value)
        if problem:
            raise InvalidParameter(f"Invalid metric {key}: {problem}")
        checked[key] = float(value)  # metric_problem: a number
    return checked


def now_ms() -> int:
    """The current time in milliseconds since the epoch, as MLflow's stores take it."""
    return int(time.time() * 1000)


def format_timestamp(ms: int) -> str:
    """Epoch milliseconds as the manifest's UTC ISO-8601 text, e.g. 2026-11-22T10:04:11Z."""
    moment = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc)
    if ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: object) -> int:
    """The manifest's ISO-8601 text (or a YAML datetime) as epoch milliseconds; 0 if absent."""
    if text is None or text == "":
        return 0
    if isinstance(text, _dt.datetime):
        moment = text if text.tzinfo else text.replace(tzinfo=_dt.timezone.utc)
    else:
        value = str(text).strip().replace("Z", "+00:00")
        moment = _dt.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_dt.timezone.utc)
    return round(moment.timestamp() * 1000)
