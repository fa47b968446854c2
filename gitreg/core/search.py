"""MLflow's model-registry search: filter strings, order_by, max_results and page tokens.

Pure functions over in-memory entities; the store decides which manifests to read
(``exact_names`` lets it read only the models a filter can match).
"""

from __future__ import annotations

import base64
import functools
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import InvalidFilter, InvalidParameter

T = TypeVar("T")
E = TypeVar("E", RegisteredModel, ModelVersion)

# MLflow's defaults and limits (mlflow/store/model_registry/__init__.py).
SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT = 100
SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD = 1000
SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT = 10_000
SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD = 200_000

_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN")
_OPS_BY_TYPE: Mapping[str, tuple[str, ...]] = {
    "string": _STRING_OPS,
    "stage": _STRING_OPS,
    "tag": ("=", "!=", "LIKE", "ILIKE"),
    "number": ("=", "!=", "<", "<=", ">", ">="),
}
_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_KEYWORDS = frozenset({"AND", "OR", "NOT", "LIKE", "ILIKE", "IN"})
_Getter = Callable[[E], str | int | None]
_MODEL_FIELDS: Mapping[str, tuple[str, _Getter[RegisteredModel]]] = {
    "name": ("string", lambda m: m.name),
}
_VERSION_FIELDS: Mapping[str, tuple[str, _Getter[ModelVersion]]] = {
    "name": ("string", lambda mv: mv.name),
    "run_id": ("string", lambda mv: mv.run_id),
    "source_path": ("string", lambda mv: mv.source),
    "version_number": ("number", lambda mv: mv.version),
    "current_stage": ("stage", lambda mv: mv.current_stage.value),
}

_KEY = r"`[^`]*`|[A-Za-z_][A-Za-z0-9_]*"
_SUBKEY = r'`[^`]*`|"(?:[^"]|"")*"|\w[\w.\-/]*'  # Unicode word characters, as MLflow
_IDENT_RE = re.compile(rf"(?P<head>{_KEY})(?:\.(?P<sub>{_SUBKEY}))?")
_TOKEN_RE = re.compile(
    rf"""(?P<ws>\s+)
    |(?P<str>'(?:[^']|'')*'|"(?:[^"]|"")*")
    |(?P<num>-?\d+(?:\.\d+)?(?![\w.]))
    |(?P<ident>{_IDENT_RE.pattern})
    |(?P<op><=|>=|!=|=|<|>)
    |(?P<punct>[(),])""",
    re.VERBOSE,
)
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
# MLflow 3 keeps prompts in the registry as models with this tag (mlflow.prompt.constants).
PROMPT_TAG = "mlflow.prompt.is_prompt"
_CLAUSE = "Invalid clause(s) in filter string"
_ORDER_RE = re.compile(r"\s*(?P<key>[^\s,]+)(?:\s+(?P<dir>\w+))?\s*")


class PagedList(list[T]):
    """A page of search results; ``token`` asks for the next page and is None on the last."""

    def __init__(self, items: Iterable[T] = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token


class _Token(NamedTuple):
    kind: str  # ws, str, num, ident, op, punct or end
    text: str
    pos: int


class _Comparison(NamedTuple):
    kind: str  # "attribute" or "tag"
    key: str
    op: str
    value: str | int | float | tuple[str, ...]


class _OrderKey(NamedTuple):
    key: str
    ascending: bool


def _unquote(text: str) -> str:
    if text[:1] in ("'", '"') and len(text) >= 2:
        return text[1:-1].replace(text[0] * 2, text[0])
    if text[:1] == "`":
        return text[1:-1]
    return text


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            # A quote that never closes, also after "tags." as in tags.`a b = 'x'.
            quote = text[pos : pos + 2].lstrip(".")[:1] in ("'", '"', "`")
            problem = "unterminated quote" if quote else "unexpected character"
            raise InvalidFilter(
                f"Invalid filter at character {pos + 1} ({text[pos : pos + 10]!r}): {problem}; "
                "quote values with '...' or \"...\" and keys with `...`"
            )
        if match.lastgroup != "ws":
            tokens.append(_Token(str(match.lastgroup), match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _is_word(token: _Token, word: str) -> bool:
    return token.kind == "ident" and token.text.upper() == word


class _Parser:
    """Recursive descent over ``condition (AND condition)*``, one comparison record each."""

    def __init__(self, text: str, attrs: Mapping[str, tuple[str, object]]) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.attrs = attrs
        self.hint = (
            f"use conditions on {', '.join(attrs)} or tags.<key> joined by AND, "
            "e.g. name = 'churn' AND tags.team LIKE 'ml%'"
        )

    def error(self, token: _Token, problem: str) -> InvalidFilter:
        where = f"character {token.pos + 1} ({token.text!r})" if token.text else "the end"
        if token.kind == "end" and not problem.startswith(_CLAUSE):
            problem = f"{_CLAUSE}: {problem}"  # MLflow's words for a condition cut short
        return InvalidFilter(f"Invalid filter at {where}: {problem}; {self.hint}")

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def next(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def parse(self) -> list[_Comparison]:
        comparisons = [self.comparison()]
        while self.peek().kind != "end":
            token = self.next()
            if not _is_word(token, "AND"):
                problem = "OR is not supported" if _is_word(token, "OR") else "expected AND"
                raise self.error(token, f"{problem} between conditions")
            comparisons.append(self.comparison())
        return comparisons

    def comparison(self) -> _Comparison:
        start = self.next()
        kind, key, type_ = self.target(start)
        if kind == "unknown":  # as MLflow: a malformed clause first, then the unknown key
            after = self.tokens[self.index + 1] if self.index + 1 < len(self.tokens) else start
            if after.kind not in ("str", "num", "punct"):
                raise self.error(start, f"{_CLAUSE}: unknown attribute {key!r}")
            raise self.error(start, f"Invalid attribute key {key!r} specified")
        op = self.operator(self.next(), key, type_)
        value_token = self.peek()
        value = self.string_list() if op == "IN" else self.value(type_)
        if type_ == "stage" and op in ("=", "!=", "IN"):
            value = self.stages(value_token, value)
        return _Comparison(kind, key, op, value)

    def target(self, token: _Token) -> tuple[str, str, str]:
        match = _IDENT_RE.fullmatch(token.text) if token.kind == "ident" else None
        if match is None or token.text.upper() in _KEYWORDS:
            raise self.error(token, "expected an attribute or tags.<key>")
        head, sub = _unquote(match["head"]), match["sub"]
        if sub is None or head == "attribute":
            key = head if sub is None else _unquote(sub)
            if key not in self.attrs:
                return "unknown", key, ""
            return "attribute", key, self.attrs[key][0]
        if head not in ("tag", "tags"):
            raise self.error(token, f"unknown entity {head!r}, expected tags or attribute")
        if not _unquote(sub):
            raise self.error(token, "empty tag key")
        return "tag", _unquote(sub), "tag"

    def operator(self, token: _Token, key: str, type_: str) -> str:
        op = token.text.upper() if token.kind in ("op", "ident") else ""
        allowed = _OPS_BY_TYPE[type_]
        if op not in allowed:
            what = "tags" if type_ == "tag" else key
            raise self.error(token, f"expected an operator for {what}: {', '.join(allowed)}")
        return op

    def value(self, type_: str) -> str | int | float:
        token = self.next()
        if type_ == "number":
            text = _unquote(token.text) if token.kind == "str" else token.text
            if token.kind not in ("num", "str") or not _NUMBER_RE.fullmatch(text):
                raise self.error(token, "expected a number")
            # Past 18 digits a float compares the same, and int() of 5,000 digits raises (#23).
            return float(text) if "." in text or len(text) > 18 else int(text)
        if token.kind in ("ident", "num"):
            raise self.error(
                token,
                "Parameter value is either not quoted or unidentified quote types used for "
                f"string value {token.text}: expected a quoted string",
            )
        if token.kind != "str":
            raise self.error(token, "expected a quoted string")
        return _unquote(token.text)

    def string_list(self) -> tuple[str, ...]:
        self.punct("(")
        values = [self.list_item()]
        while self.peek().text == ",":
            self.next()
            if self.peek().text == ")":
                break  # ('a',): a trailing comma, as MLflow (a Python tuple) accepts
            values.append(self.list_item())
        self.punct(")")
        return tuple(values)

    def list_item(self) -> str:
        """One quoted string of an IN list, with MLflow's words for a list that is not one."""
        token = self.peek()
        problem = "While parsing a list in the query, expected a non-empty list of string values"
        if token.kind == "str":
            return _unquote(self.next().text)
        if token.text == ")" and self.tokens[self.index - 1].text == "(":
            raise self.error(token, f"{problem}, but got empty list")
        if token.text == ",":
            raise self.error(token, f"{problem}, but got ill-formed list")
        if token.kind in ("num", "ident"):
            raise self.error(
                token,
                "While parsing a list in the query, expected string value, punctuation, or "
                "whitespace, but got different type in list: expected a quoted string",
            )
        raise self.error(self.next(), "expected a quoted string")

    def punct(self, char: str) -> None:
        token = self.next()
        if token.kind != "punct" or token.text != char:
            raise self.error(token, f"expected {char!r} in a list like ('a', 'b')")

    def stages(
        self, token: _Token, value: str | int | float | tuple[str, ...]
    ) -> str | tuple[str, ...]:
        try:
            if isinstance(value, tuple):
                return tuple(Stage.parse(v).value for v in value)
            return Stage.parse(str(value)).value
        except InvalidParameter as e:
            raise self.error(token, f"unknown stage, use one of {', '.join(Stage)}") from e


def _parse_filter(
    filter_string: str | None, attrs: Mapping[str, tuple[str, object]]
) -> list[_Comparison]:
    if filter_string is None or not filter_string.strip():
        return []
    return _Parser(filter_string, attrs).parse()


def _is_prompt_condition(comparison: _Comparison) -> bool:
    return comparison.kind == "tag" and comparison.key == PROMPT_TAG


def _prompt_scope(comparisons: list[_Comparison]) -> tuple[list[_Comparison], bool]:
    """MLflow's rule for prompts (its SQL store's ``_is_querying_prompt``, #25).

    The first condition on ``tags.`mlflow.prompt.is_prompt``` decides: ``= 'true'`` or
    ``!= 'false'`` (any case) searches prompts, with the conditions as written. Any other
    filter searches models: its conditions on that tag are dropped and prompts left out.
    Returns the conditions to apply and whether prompts are searched.
    """
    for c in comparisons:
        if _is_prompt_condition(c):
            value = str(c.value).lower()
            if (c.op == "=" and value == "true") or (c.op == "!=" and value == "false"):
                return comparisons, True
            break
    return [c for c in comparisons if not _is_prompt_condition(c)], False


@functools.lru_cache(maxsize=256)
def _like_segments(pattern: str, ignore_case: bool) -> tuple[tuple[re.Pattern[str], int], ...]:
    """The pattern split at ``%``: fixed-length regexes (``_`` is any one character)."""
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return tuple(
        (re.compile("".join("." if c == "_" else re.escape(c) for c in part), flags), len(part))
        for part in pattern.split("%")
    )


def like(pattern: str, text: str, ignore_case: bool = False) -> bool:
    """SQL ``LIKE``: ``%`` any run of characters, ``_`` one character, the rest literal.

    Matched segment by segment, each ``%``-separated segment at its leftmost place (every
    segment has a fixed length), so the time is bounded by the text's length times the
    pattern's and never explodes (a regex ``.*a.*a.*a...`` backtracks for minutes on a long
    source, see #12).
    """
    (first, _), *rest = _like_segments(pattern, ignore_case)
    if not rest:
        return first.fullmatch(text) is not None
    start = first.match(text)
    if start is None:
        return False
    position = start.end()
    *middle, (last, length) = rest
    for segment, _ in middle:
        found = segment.search(text, position)
        if found is None:
            return False
        position = found.end()
    tail = len(text) - length
    return tail >= position and last.fullmatch(text, tail) is not None


def _holds(comparison: _Comparison, actual: str | int | None) -> bool:
    # Like MLflow (and SQL's NULL), a missing tag or run_id matches no condition, not even !=.
    if actual is None:
        return False
    expected = comparison.value
    if isinstance(expected, tuple):
        return actual in expected
    if comparison.op in ("LIKE", "ILIKE"):
        return like(str(expected), str(actual), comparison.op == "ILIKE")
    return _COMPARE[comparison.op](actual, expected)


def _matches(
    entity: E, fields: Mapping[str, tuple[str, _Getter[E]]], conds: Sequence[_Comparison]
) -> bool:
    return all(
        _holds(c, entity.tags.get(c.key) if c.kind == "tag" else fields[c.key][1](entity))
        for c in conds
    )


def _order_clause(clause: object, keys: Mapping[str, str], entity: str) -> _OrderKey:
    match = _ORDER_RE.fullmatch(clause) if isinstance(clause, str) else None
    valid = ", ".join(f"'{k}'" for k in keys)
    if match is None:
        raise InvalidFilter(
            f"Invalid order_by clause {clause!r}. Could not be parsed; use '<key> [ASC|DESC]' "
            f"with key one of {valid}"
        )
    key = match["key"]
    if entity == "version":  # MLflow accepts attribute.version_number, not `name`, for versions
        key = key.removeprefix("attribute.")
    if key not in keys:
        what = "attribute key" if entity == "version" else "order by key"
        raise InvalidFilter(f"Invalid {what} '{key}' specified. Valid keys are {valid}")
    direction = (match["dir"] or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise InvalidFilter(
            f"Invalid ordering key in order_by clause {clause!r}: {match['dir']!r} is not "
            "ASC or DESC"
        )
    return _OrderKey(keys[key], direction == "ASC")


def _parse_order_by(
    order_by: Sequence[str] | None,
    keys: Mapping[str, str],
    tiebreak: Sequence[_OrderKey],
    entity: str,
) -> list[_OrderKey]:
    clauses = [order_by] if isinstance(order_by, str) else list(order_by or ())
    parsed = [_order_clause(clause, keys, entity) for clause in clauses]
    fields = [o.key for o in parsed]
    if len(set(fields)) != len(fields):
        raise InvalidFilter(
            f"`order_by` contains duplicate fields: {clauses!r}; order by each field once"
        )
    return parsed + [t for t in tiebreak if t.key not in fields]


def _sort_key(order: _OrderKey) -> Callable[[object], tuple[bool, Any]]:
    attribute = "version" if order.key == "version_number" else order.key

    def key(entity: object) -> tuple[bool, Any]:
        value = getattr(entity, attribute)
        # None sorts last in both directions, as MLflow's SQL stores do.
        return (value is None) == order.ascending, value

    return key


def _sort(items: list[T], order: Sequence[_OrderKey]) -> list[T]:
    # Python's sort is stable (also with reverse=True): sort by the last key first.
    for clause in reversed(order):
        items.sort(key=_sort_key(clause), reverse=not clause.ascending)
    return items


def _check_max_results(max_results: int, limit: int, versions: bool) -> None:
    """MLflow's bounds in MLflow's words, checked in its order: a version search first wants
    a positive integer, a model search first a count under its limit."""
    number = isinstance(max_results, (int, float)) and not isinstance(max_results, bool)
    counting = number and isinstance(max_results, int) and max_results >= 1
    if versions and not counting:
        raise InvalidFilter(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results!r}"
        )
    if number and max_results > limit:
        raise InvalidFilter(
            "Invalid value for request parameter max_results. It must be at most "
            f"{limit}, but got value {max_results}"
        )
    if not counting:
        raise InvalidFilter(
            f"Invalid value for max_results. It must be a positive integer, but got {max_results!r}"
        )


def _encode_token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode("utf-8")).decode("ascii")


def _decode_token(page_token: str | None) -> int:
    if not page_token:
        return 0
    fix = "pass the next_page_token of the previous page, or none"
    shown = repr(page_token[:40])
    try:
        decoded = base64.b64decode(page_token, validate=True)
    except ValueError:  # binascii.Error
        raise InvalidFilter(f"Invalid page token, could not base64-decode {shown}; {fix}") from None
    try:
        data = json.loads(decoded)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        data = None
    offset = data.get("offset") if isinstance(data, dict) else None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 1:
        raise InvalidFilter(f"Invalid page token {shown}, it holds no offset; {fix}")
    return offset


def _page(items: list[T], start: int, max_results: int) -> PagedList[T]:
    end = start + max_results
    return PagedList(items[start:end], _encode_token(end) if end < len(items) else None)


# MLflow 3.17.2's order_by keys (SearchUtils and SearchModelVersionUtils): models order by
# name and `timestamp` (last_updated_timestamp, its other name) only; versions by name,
# version_number and both timestamps (#16).
_MODEL_ORDER_KEYS = {
    "name": "name",
    "timestamp": "last_updated_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
}
_VERSION_ORDER_KEYS = {
    "name": "name",
    "version_number": "version_number",
    "creation_timestamp": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
}
_VERSION_DEFAULT_ORDER = (
    _OrderKey("last_updated_timestamp", False),
    _OrderKey("name", True),
    _OrderKey("version_number", False),
)


def search_registered_models(
    models: Iterable[RegisteredModel],
    filter_string: str | None = None,
    max_results: int = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    order_by: Sequence[str] | None = None,
    page_token: str | None = None,
    *,
    mlflow_prompts: bool = False,
) -> PagedList[RegisteredModel]:
    """One page of the models matching ``filter_string``, as MLflow's ``search_registered_models``.

    With ``mlflow_prompts``, MLflow's store's rule for prompts applies (``_prompt_scope``):
    unless the filter asks for prompts, models tagged ``mlflow.prompt.is_prompt = 'true'``
    are left out.

    Raises:
        InvalidFilter: a bad filter, order_by, max_results or page_token.
    """
    _check_max_results(max_results, SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD, False)
    comparisons = _parse_filter(filter_string, _MODEL_FIELDS)
    prompts = True
    if mlflow_prompts:
        comparisons, prompts = _prompt_scope(comparisons)
    order = _parse_order_by(order_by, _MODEL_ORDER_KEYS, [_OrderKey("name", True)], "model")
    start = _decode_token(page_token)
    matched = [
        m
        for m in models
        if (prompts or m.tags.get(PROMPT_TAG) != "true") and _matches(m, _MODEL_FIELDS, comparisons)
    ]
    return _page(_sort(matched, order), start, max_results)


def search_model_versions(
    models: Iterable[RegisteredModel],
    filter_string: str | None = None,
    max_results: int = SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    order_by: Sequence[str] | None = None,
    page_token: str | None = None,
    *,
    mlflow_prompts: bool = False,
) -> PagedList[ModelVersion]:
    """One page of the versions matching ``filter_string``, as MLflow's ``search_model_versions``.

    With ``mlflow_prompts``, MLflow's store's rule for prompts applies (``_prompt_scope``):
    unless the filter asks for prompts, every version of a model that has a version tagged
    ``mlflow.prompt.is_prompt = 'true'`` is left out (MLflow excludes by name).

    Raises:
        InvalidFilter: a bad filter, order_by, max_results or page_token.
    """
    _check_max_results(max_results, SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD, True)
    comparisons = _parse_filter(filter_string, _VERSION_FIELDS)
    if mlflow_prompts:
        comparisons, prompts = _prompt_scope(comparisons)
        if not prompts:
            models = [
                m for m in models if not any(mv.tags.get(PROMPT_TAG) == "true" for mv in m.versions)
            ]
    order = list(_VERSION_DEFAULT_ORDER)
    if order_by:
        order = _parse_order_by(
            order_by, _VERSION_ORDER_KEYS, _VERSION_DEFAULT_ORDER[1:], "version"
        )
    start = _decode_token(page_token)
    versions = (mv for model in models for mv in model.versions)
    matched = [mv for mv in versions if _matches(mv, _VERSION_FIELDS, comparisons)]
    return _page(_sort(matched, order), start, max_results)


def exact_names(filter_string: str | None, versions: bool = True) -> frozenset[str] | None:
    """The only model names ``filter_string`` can match (from ``name =`` / ``name IN``), or None.

    Raises:
        InvalidFilter: the filter does not parse.
    """
    names: frozenset[str] | None = None
    for c in _parse_filter(filter_string, _VERSION_FIELDS if versions else _MODEL_FIELDS):
        if c.kind == "attribute" and c.key == "name" and c.op in ("=", "IN"):
            values = frozenset(c.value if isinstance(c.value, tuple) else (str(c.value),))
            names = values if names is None else names & values
    return names
