from __future__ import annotations

import base64
import json

import pytest

from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import INVALID_PARAMETER_VALUE, InvalidFilter
from gitreg.core.search import (
    PagedList,
    exact_names,
    like,
    search_model_versions,
    search_registered_models,
)


def mv(version, *, source=None, run_id=None, stage=Stage.NONE, tags=None, created=0, updated=0):
    return ModelVersion(
        name="",
        version=version,
        source=source or f"s3://bucket/{version}",
        run_id=run_id,
        current_stage=stage,
        tags=tags or {},
        creation_timestamp=created,
        last_updated_timestamp=updated,
    )


def model(name, versions=(), *, tags=None, created=0, updated=0):
    rm = RegisteredModel(
        name=name, tags=tags or {}, creation_timestamp=created, last_updated_timestamp=updated
    )
    return rm.with_versions(versions)


def names(models):
    return [m.name for m in models]


def keys(versions):
    return [(v.name, v.version) for v in versions]


@pytest.fixture
def models():
    return [
        model("churn", tags={"team": "ml", "task": "classification"}, created=3, updated=30),
        model("Churn-EU", tags={"team": "ML-eu", "owner name": "ana"}, created=1, updated=40),
        model("fraud", tags={"team": "risk"}, created=2, updated=10),
        model("a.b", created=5, updated=5),
        model("axb", created=4, updated=5),
    ]


@pytest.fixture
def versioned():
    return [
        model(
            "churn",
            [
                mv(1, run_id="r1", source="s3://ml/churn/1", updated=10, tags={"q": "gold"}),
                mv(2, run_id="r2", source="s3://ml/churn/2", stage=Stage.PRODUCTION, updated=30),
                mv(3, source="file:///tmp/churn.3", stage=Stage.STAGING, updated=20),
            ],
        ),
        model(
            "fraud",
            [
                mv(1, run_id="r9", source="S3://ML/fraud/1", updated=30, tags={"q": "silver"}),
                mv(2, run_id="r1", source="s3://ml/fraud/2", stage=Stage.ARCHIVED, updated=5),
            ],
        ),
    ]


def search(models, filter_string, **kw):
    return names(search_registered_models(models, filter_string, **kw))


def vsearch(models, filter_string, **kw):
    return keys(search_model_versions(models, filter_string, **kw))


def test_paged_list_is_a_list_with_a_token():
    page = PagedList([1, 2], "abc")
    assert page == [1, 2]
    assert isinstance(page, list)
    assert page.token == "abc"
    assert PagedList().token is None


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_no_filter_returns_every_model_by_name(models, empty):
    assert search(models, empty) == ["Churn-EU", "a.b", "axb", "churn", "fraud"]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'churn'", ["churn"]),
        ('name = "churn"', ["churn"]),
        ("name = 'CHURN'", []),
        ("name != 'churn'", ["Churn-EU", "a.b", "axb", "fraud"]),
        ("name LIKE 'ch%'", ["churn"]),
        ("name LIKE '%U'", ["Churn-EU"]),
        ("name ILIKE 'ch%'", ["Churn-EU", "churn"]),
        ("name LIKE 'churn'", ["churn"]),
        ("name LIKE '_hurn'", ["churn"]),
        ("name LIKE '%'", ["Churn-EU", "a.b", "axb", "churn", "fraud"]),
        # each %-segment is found after the one before it: churn has a c, but not after its u
        ("name LIKE '%u%c%'", []),
        ("name LIKE '%h%n'", ["churn"]),
        ("name IN ('churn', 'fraud', 'nope')", ["churn", "fraud"]),
        ("name IN ('fraud')", ["fraud"]),
        # a trailing comma, as MLflow accepts it (its list is a Python tuple; #17)
        ("name IN ('fraud',)", ["fraud"]),
        ("name IN ('churn', 'fraud', )", ["churn", "fraud"]),
        ("attribute.name = 'fraud'", ["fraud"]),
        ("`name` = 'fraud'", ["fraud"]),
    ],
)
def test_name_operators(models, filter_string, expected):
    assert search(models, filter_string) == expected


def test_like_escapes_regex_metacharacters(models):
    assert search(models, "name LIKE 'a.b'") == ["a.b"]
    assert search(models, "name ILIKE 'A.B'") == ["a.b"]
    assert search(models, "name LIKE 'a_b'") == ["a.b", "axb"]
    assert search(models, "name LIKE 'a%b'") == ["a.b", "axb"]
    odd = [model("x", tags={"v": r"(a+)[b]*$\d{2}|^"}), model("y", tags={"v": "a\nb"})]
    assert search(odd, r"tags.v LIKE '(a+)[b]*$\d{2}|^'") == ["x"]
    assert search(odd, r"tags.v LIKE '(a+)%'") == ["x"]
    assert search(odd, "tags.v LIKE 'a%b'") == ["y"]  # % spans newlines too


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("tags.team = 'ml'", ["churn"]),
        ("tag.team = 'ml'", ["churn"]),
        ("tags.team != 'ml'", ["Churn-EU", "fraud"]),
        ("tags.team LIKE 'ML%'", ["Churn-EU"]),
        ("tags.team ILIKE 'ml%'", ["Churn-EU", "churn"]),
        ("tags.`owner name` = 'ana'", ["Churn-EU"]),
        ("tags.\"owner name\" = 'ana'", ["Churn-EU"]),
        ("tags.`team` = 'risk'", ["fraud"]),
        ("tags.missing != 'x'", []),
        ("tags.team = 'ml' AND tags.task = 'classification'", ["churn"]),
        ("tags.team = 'ml' AND tags.task = 'regression'", []),
    ],
)
def test_tag_operators(models, filter_string, expected):
    assert search(models, filter_string) == expected


def test_an_empty_string_matches_an_empty_tag_value():
    """'' is the empty string, not two quote characters: MLflow keeps empty tag values (#17)."""
    rm = [model("m", tags={"note": ""}), model("n", tags={"note": "''"})]
    assert search(rm, "tags.note = ''") == ["m"]
    assert search(rm, 'tags.note = ""') == ["m"]
    assert search(rm, "tags.note = " + "'" * 6) == ["n"]  # two doubled quotes


def test_like_is_case_sensitive_unless_asked():
    """SQL's LIKE: only ILIKE ignores case, also when like() is called directly."""
    assert not like("CH%", "churn")
    assert like("CH%", "churn", ignore_case=True)


def test_a_missing_tag_matches_no_condition(models):
    """As in MLflow, a model without the tag fails even a != condition (SQL NULL)."""
    assert "a.b" not in search(models, "tags.team != 'ml'")
    assert search(models, "tags.task LIKE '%'") == ["churn"]


def test_tag_keys_with_dots_slashes_and_dashes():
    rm = [model("m", tags={"mlflow.source/type": "job", "a-b": "1"})]
    assert search(rm, "tags.mlflow.source/type = 'job'") == ["m"]
    assert search(rm, "tags.a-b='1'") == ["m"]


def test_keywords_are_case_insensitive_and_spacing_is_free(models):
    assert search(models, "name like 'ch%' and tags.team ilike 'ML'") == ["churn"]
    assert search(models, "name='churn'AND tags.team='ml'") == ["churn"]
    assert search(models, "  name\t=\n'churn'  ") == ["churn"]
    assert search(models, "name in ('churn')") == ["churn"]


def test_doubled_quotes_escape_a_quote():
    rm = [model("m", tags={"note": 'it\'s "ok"'})]
    assert search(rm, "tags.note = 'it''s \"ok\"'") == ["m"]
    assert search(rm, 'tags.note = "it\'s ""ok"""') == ["m"]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'fraud'", [("fraud", 1), ("fraud", 2)]),
        ("run_id = 'r1'", [("churn", 1), ("fraud", 2)]),
        ("run_id != 'r1'", [("churn", 2), ("fraud", 1)]),
        ("run_id IN ('r2', 'r9')", [("churn", 2), ("fraud", 1)]),
        ("run_id LIKE 'r%'", [("churn", 2), ("fraud", 1), ("churn", 1), ("fraud", 2)]),
        ("source_path = 's3://ml/churn/1'", [("churn", 1)]),
        (
            "source_path != 's3://ml/churn/1'",
            [("churn", 2), ("fraud", 1), ("churn", 3), ("fraud", 2)],
        ),
        ("source_path LIKE 's3://ml/%'", [("churn", 2), ("churn", 1), ("fraud", 2)]),
        ("source_path ILIKE 's3://ml/%'", [("churn", 2), ("fraud", 1), ("churn", 1), ("fraud", 2)]),
        ("source_path LIKE 'file:///tmp/churn.3'", [("churn", 3)]),
        ("version_number = 2", [("churn", 2), ("fraud", 2)]),
        ("version_number = '2'", [("churn", 2), ("fraud", 2)]),
        ("version_number != 1", [("churn", 2), ("churn", 3), ("fraud", 2)]),
        ("version_number < 2", [("fraud", 1), ("churn", 1)]),
        ("version_number <= 2", [("churn", 2), ("fraud", 1), ("churn", 1), ("fraud", 2)]),
        ("version_number > 2", [("churn", 3)]),
        ("version_number >= 2", [("churn", 2), ("churn", 3), ("fraud", 2)]),
        ("version_number > 1.5", [("churn", 2), ("churn", 3), ("fraud", 2)]),
        ("version_number > -1 AND version_number < 2", [("fraud", 1), ("churn", 1)]),
        ("current_stage = 'Production'", [("churn", 2)]),
        ("current_stage = 'production'", [("churn", 2)]),
        ("current_stage != 'None'", [("churn", 2), ("churn", 3), ("fraud", 2)]),
        ("current_stage != 'production'", [("fraud", 1), ("churn", 3), ("churn", 1), ("fraud", 2)]),
        ("current_stage IN ('staging', 'archived')", [("churn", 3), ("fraud", 2)]),
        ("current_stage ILIKE 'prod%'", [("churn", 2)]),
        ("tags.q = 'gold'", [("churn", 1)]),
        ("tags.q != 'gold'", [("fraud", 1)]),
        ("name = 'churn' AND tags.q LIKE '%'", [("churn", 1)]),
    ],
)
def test_version_operators(versioned, filter_string, expected):
    assert vsearch(versioned, filter_string) == expected


def test_a_version_without_run_id_matches_no_run_id_condition(versioned):
    assert ("churn", 3) not in vsearch(versioned, "run_id != 'r1'")
    assert ("churn", 3) not in vsearch(versioned, "run_id LIKE '%'")


def _error(call, *args, **kwargs):
    with pytest.raises(InvalidFilter) as info:
        call(*args, **kwargs)
    assert info.value.error_code == INVALID_PARAMETER_VALUE
    assert "\n" not in info.value.message
    return info.value.message


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'a' OR name = 'b'", "at character 12 ('OR'): OR is not supported"),
        ("name = 'a' AND (name = 'b')", "at character 16 ('('): expected an attribute"),
        # MLflow's words where MLflow has them (#16)
        ("foo = 'x'", "at character 1 ('foo'): Invalid attribute key 'foo' specified"),
        ("attribute.foo = 'x'", "('attribute.foo'): Invalid attribute key 'foo' specified"),
        ("run_id = 'x'", "at character 1 ('run_id'): Invalid attribute key 'run_id' specified"),
        ("evilhax = true", "('evilhax'): Invalid clause(s) in filter string: unknown attribute"),
        ("params.x = 'a'", "unknown entity 'params', expected tags or attribute"),
        ("tags.`` = 'a'", "at character 1 ('tags.``'): empty tag key; use conditions"),
        (
            "name = 'abc",
            'at character 8 ("\'abc"): unterminated quote; quote values with \'...\' or "..." '
            "and keys with `...`",
        ),
        ('name = "abc', "at character 8 ('\"abc'): unterminated quote"),
        ("tags.`a b = 'x'", "unterminated quote"),
        ("name = 'a' garbage", "at character 12 ('garbage'): expected AND"),
        ("name = 'a' name = 'b'", "at character 12 ('name'): expected AND"),
        ("name = 'a';", "at character 11 (';'): unexpected character"),
        ("tags..'x'", "at character 5 (\"..'x'\"): unexpected character"),
        # an unknown key: MLflow's "Invalid clause(s)" when the clause is cut short, its
        # "Invalid attribute key" when a value follows (#16)
        ("foo", "at character 1 ('foo'): Invalid clause(s) in filter string: unknown attribute"),
        ("foo = 1", "at character 1 ('foo'): Invalid attribute key 'foo' specified"),
        ("foo IN ('a')", "at character 1 ('foo'): Invalid attribute key 'foo' specified"),
        (
            "name = a",
            "at character 8 ('a'): Parameter value is either not quoted or unidentified quote "
            "types used for string value a: expected a quoted string",
        ),
        ("name = 1", "at character 8 ('1'): Parameter value is either not quoted"),
        ("name =", "at the end: Invalid clause(s) in filter string: expected a quoted string"),
        (
            "name",
            "at the end: Invalid clause(s) in filter string: expected an operator for name: "
            "=, !=, LIKE, ILIKE, IN",
        ),
        ("name < 'a'", "at character 6 ('<'): expected an operator for name"),
        ("name NOT IN ('a')", "at character 6 ('NOT'): expected an operator"),
        ("tags.x IN ('a')", "('IN'): expected an operator for tags: =, !=, LIKE, ILIKE"),
        ("tags.x > 'a'", "expected an operator for tags"),
        ("tags.x = 1", "expected a quoted string"),
        (
            "name IN ()",
            "at character 10 (')'): While parsing a list in the query, expected a non-empty "
            "list of string values, but got empty list",
        ),
        (
            "name IN (,)",
            "at character 10 (','): While parsing a list in the query, expected a non-empty "
            "list of string values, but got ill-formed list",
        ),
        (
            "name IN ('a', b)",
            "at character 15 ('b'): While parsing a list in the query, expected string value, "
            "punctuation, or whitespace, but got different type in list",
        ),
        ("name IN ('a', ", "at the end: Invalid clause(s) in filter string: expected a quoted "),
        ("name IN )'a')", "at character 9 (')'): expected '(' in a list like ('a', 'b')"),
        ("name IN ('a',,'b')", "but got ill-formed list"),
        ("name IN ('a',,)", "at character 14 (','): While parsing a list in the query, expected"),
        ("name IN ('a'", "at the end: Invalid clause(s) in filter string: expected ')'"),
        ("name IN 'a'", "at character 9 (\"'a'\"): expected '('"),
        ("name IN ('a' 'b')", "expected ')'"),
        ("name = 'a' AND", "at the end: Invalid clause(s) in filter string: expected an"),
        ("AND name = 'a'", "at character 1 ('AND'): expected an attribute"),
        ("= 'a'", "at character 1 ('='): expected an attribute"),
    ],
)
def test_model_filter_errors(models, filter_string, expected):
    message = _error(search_registered_models, models, filter_string)
    assert message.startswith("Invalid filter at ")
    assert expected in message


def test_filter_errors_say_what_is_accepted(models):
    message = _error(search_registered_models, models, "foo = 'x'")
    assert message.endswith(
        "; use conditions on name or tags.<key> joined by AND, "
        "e.g. name = 'churn' AND tags.team LIKE 'ml%'"
    )
    message = _error(search_model_versions, models, "foo = 'x'")
    assert "name, run_id, source_path, version_number, current_stage or tags.<key>" in message


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("version_number = 'x'", "at character 18 (\"'x'\"): expected a number"),
        ("version_number = 1.2.3", "unexpected character"),
        ("version_number LIKE '1'", "expected an operator for version_number: =, !=, <"),
        ("version_number IN (1)", "expected an operator for version_number"),
        ("run_id = 1", "expected a quoted string"),
        (
            "run_id IN ('a', 2)",
            "at character 17 ('2'): While parsing a list in the query, expected string value, "
            "punctuation, or whitespace, but got different type in list",
        ),
        ("current_stage = 'Prod'", "unknown stage, use one of None, Staging, Production, Archived"),
        ("current_stage IN ('Staging', 'x')", "at character 18"),
    ],
)
def test_version_filter_errors(versioned, filter_string, expected):
    assert expected in _error(search_model_versions, versioned, filter_string)


def test_errors_are_raised_even_with_nothing_to_search():
    _error(search_registered_models, [], "name = 'a' OR name = 'b'")
    _error(search_model_versions, [], "nope = 'a'")
    _error(search_registered_models, [], order_by=["nope"])
    _error(search_model_versions, [], page_token="garbage")


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["name DESC"], ["fraud", "churn", "axb", "a.b", "Churn-EU"]),
        (["name asc"], ["Churn-EU", "a.b", "axb", "churn", "fraud"]),
        # a.b and axb tie on last_updated_timestamp: name ASC breaks the tie either way
        (["last_updated_timestamp ASC"], ["a.b", "axb", "fraud", "churn", "Churn-EU"]),
        (["last_updated_timestamp DESC"], ["Churn-EU", "churn", "fraud", "a.b", "axb"]),
        (["timestamp desc"], ["Churn-EU", "churn", "fraud", "a.b", "axb"]),
        (
            ["last_updated_timestamp DESC", "name DESC"],
            ["Churn-EU", "churn", "fraud", "axb", "a.b"],
        ),
        ("name DESC", ["fraud", "churn", "axb", "a.b", "Churn-EU"]),
        ([], ["Churn-EU", "a.b", "axb", "churn", "fraud"]),
    ],
)
def test_model_order_by(models, order_by, expected):
    assert search(models, None, order_by=order_by) == expected


def test_model_order_is_independent_of_input_order(models):
    for order_by in (None, ["last_updated_timestamp"], ["name DESC"]):
        forward = search(models, None, order_by=order_by)
        assert search(list(reversed(models)), None, order_by=order_by) == forward


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["nope"], "Invalid order by key 'nope' specified. Valid keys are 'name', "),
        (["version_number"], "Invalid order by key 'version_number' specified"),
        # As MLflow 3.17.2: models order by name and timestamp only (#16).
        (["creation_timestamp DESC"], "Invalid order by key 'creation_timestamp' specified"),
        (["`name` DESC"], "Invalid order by key '`name`' specified"),
        (["attribute.name DESC"], "Invalid order by key 'attribute.name' specified"),
        (
            ["name UP"],
            "Invalid ordering key in order_by clause 'name UP': 'UP' is not ASC or DESC",
        ),
        (["name ASC DESC"], "Invalid order_by clause 'name ASC DESC'. Could not be parsed"),
        ([""], "use '<key> [ASC|DESC]'"),
        (["name", "name DESC"], "`order_by` contains duplicate fields"),
        (["timestamp", "last_updated_timestamp"], "`order_by` contains duplicate fields"),
        ([None], "Invalid order_by clause None"),
    ],
)
def test_model_order_by_errors(models, order_by, expected):
    assert expected in _error(search_registered_models, models, order_by=order_by)


def test_version_default_order_is_mlflow_s(versioned):
    """last_updated_timestamp DESC, then name ASC, then version_number DESC."""
    assert vsearch(versioned, None) == [
        ("churn", 2),
        ("fraud", 1),
        ("churn", 3),
        ("churn", 1),
        ("fraud", 2),
    ]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (
            ["version_number"],
            [("churn", 1), ("fraud", 1), ("churn", 2), ("fraud", 2), ("churn", 3)],
        ),
        (
            ["version_number DESC"],
            [("churn", 3), ("churn", 2), ("fraud", 2), ("churn", 1), ("fraud", 1)],
        ),
        (["name"], [("churn", 3), ("churn", 2), ("churn", 1), ("fraud", 2), ("fraud", 1)]),
        (
            ["name DESC", "version_number"],
            [("fraud", 1), ("fraud", 2), ("churn", 1), ("churn", 2), ("churn", 3)],
        ),
        (
            ["last_updated_timestamp"],
            [("fraud", 2), ("churn", 1), ("churn", 3), ("churn", 2), ("fraud", 1)],
        ),
        (
            ["attribute.version_number"],
            [("churn", 1), ("fraud", 1), ("churn", 2), ("fraud", 2), ("churn", 3)],
        ),
        # every creation_timestamp is 0: the tie-breakers name ASC, version_number DESC decide
        (
            ["creation_timestamp DESC"],
            [("churn", 3), ("churn", 2), ("churn", 1), ("fraud", 2), ("fraud", 1)],
        ),
    ],
)
def test_version_order_by(versioned, order_by, expected):
    assert vsearch(versioned, None, order_by=order_by) == expected


def test_version_order_by_errors(versioned):
    # As MLflow 3.17.2: versions order by name, version_number and the timestamps (#16).
    for key in ("source_path", "run_id", "timestamp", "current_stage"):
        assert f"Invalid attribute key '{key}' specified. Valid keys are 'name'" in _error(
            search_model_versions, versioned, order_by=[f"{key} DESC"]
        )
    assert "duplicate fields" in _error(
        search_model_versions, versioned, order_by=["version_number", "version_number DESC"]
    )


@pytest.mark.parametrize("bad", [0, -1, 1001, True, 2.5, "10"])
def test_model_max_results_bounds(models, bad):
    message = _error(search_registered_models, models, max_results=bad)
    assert message.startswith("Invalid value for")  # MLflow's words (#16)
    assert "max_results" in message


def test_max_results_limits_are_mlflow_s(models, versioned):
    assert len(search_registered_models(models, max_results=1000)) == 5
    too_many = _error(search_registered_models, models, max_results=1001)
    assert too_many.startswith("Invalid value for request parameter max_results")
    assert "It must be at most 1000, but got value 1001" in too_many
    assert len(search_model_versions(versioned, max_results=200_000)) == 5
    assert "at most 200000" in _error(search_model_versions, versioned, max_results=200_001)
    assert "Invalid value for max_results. It must be a positive integer, but got 0" in _error(
        search_model_versions, versioned, max_results=0
    )


def _pages(call, page_size, **kwargs):
    pages, token = [], None
    while True:
        page = call(max_results=page_size, page_token=token, **kwargs)
        pages.append(list(page))
        token = page.token
        if token is None:
            return pages


@pytest.mark.parametrize("page_size", [1, 2, 3, 5, 6, 100])
def test_model_pages_concatenate_to_the_unpaged_result(models, page_size):
    kwargs = {"models": models, "order_by": ["last_updated_timestamp DESC"]}
    whole = search_registered_models(**kwargs)
    pages = _pages(search_registered_models, page_size, **kwargs)
    assert [m for page in pages for m in page] == whole
    assert len(pages) == max(1, -(-len(whole) // page_size))
    assert all(len(page) == page_size for page in pages[:-1])


@pytest.mark.parametrize("page_size", [1, 2, 4, 5, 7])
def test_version_pages_concatenate_to_the_unpaged_result(versioned, page_size):
    kwargs = {"models": versioned, "filter_string": "version_number >= 1"}
    whole = search_model_versions(**kwargs)
    pages = _pages(search_model_versions, page_size, **kwargs)
    assert [v for page in pages for v in page] == whole
    assert whole.token is None


def test_token_is_base64_json_offset_like_mlflow_s(models):
    page = search_registered_models(models, max_results=2)
    assert json.loads(base64.b64decode(page.token)) == {"offset": 2}
    assert names(page) == ["Churn-EU", "a.b"]
    last = search_registered_models(models, max_results=3, page_token=page.token)
    assert names(last) == ["axb", "churn", "fraud"]
    assert last.token is None


def test_a_token_past_the_end_gives_an_empty_last_page(models):
    token = base64.b64encode(b'{"offset": 50}').decode()
    page = search_registered_models(models, page_token=token)
    assert page == []
    assert page.token is None


def test_empty_results_have_no_token():
    page = search_model_versions([])
    assert page == []
    assert page.token is None


def _b64(text):
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "eyJvZmZzZXQiOiAyfQ",  # missing padding
        _b64("not json"),
        _b64("[1, 2]"),
        _b64('{"start": 2}'),
        _b64('{"offset": 0}'),
        _b64('{"offset": -3}'),
        _b64('{"offset": "2"}'),
        _b64('{"offset": true}'),
        base64.b64encode(b"\xff\xfe").decode(),
        "é",
        # a real token with a character outside base64 inside: refused, not cleaned up
        "eyJvZmZz*ZXQiOiAyfQ==",
    ],
)
def test_garbled_page_tokens_are_invalid(models, token):
    message = _error(search_registered_models, models, page_token=token)
    assert message.startswith("Invalid page token")  # MLflow's words (#16)
    assert repr(token) in message
    assert message.endswith("pass the next_page_token of the previous page, or none")


def test_a_float_max_results_is_judged_in_mlflow_s_order(models, versioned):
    """A model search checks the limit first, a version search the integer first (#16)."""
    assert "It must be at most 1000, but got value 2000.5" in _error(
        search_registered_models, models, max_results=2000.5
    )
    assert "It must be a positive integer, but got 200001.5" in _error(
        search_model_versions, versioned, max_results=200_001.5
    )


def test_a_long_page_token_is_not_repeated_in_full(models):
    message = _error(search_registered_models, models, page_token="A" * 5000)
    assert message.startswith("Invalid page token")
    assert len(message) < 200


def test_models_may_be_any_iterable(models, versioned):
    assert search_registered_models(iter(models), "name = 'fraud'") == [models[2]]
    assert len(search_model_versions(m for m in versioned)) == 5


def test_search_returns_the_entities_themselves(versioned):
    (found,) = search_model_versions(versioned, "name = 'churn' AND version_number = 3")
    assert found is versioned[0].versions[2]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, None),
        ("", None),
        ("name = 'a'", {"a"}),
        ('name = "a"', {"a"}),
        ("name='a' AND tags.x='y'", {"a"}),
        ("tags.x = 'y' AND name = 'a'", {"a"}),
        ("name IN ('a', 'b')", {"a", "b"}),
        ("name IN ('a', 'b') AND name = 'b'", {"b"}),
        ("name IN ('a', 'b') AND name IN ('b', 'c')", {"b"}),
        ("name = 'a' AND name = 'b'", set()),
        ("name = 'a' AND name != 'b'", {"a"}),
        ("name = 'a' AND version_number > 2", {"a"}),
        ("name LIKE 'a%'", None),
        ("name ILIKE 'a'", None),
        ("name != 'a'", None),
        ("tags.name = 'a'", None),
        ("run_id = 'r1'", None),
    ],
)
def test_exact_names(filter_string, expected):
    result = exact_names(filter_string)
    assert result == (None if expected is None else frozenset(expected))


def test_exact_names_checks_a_model_filter_against_the_model_s_fields():
    """The store asks before it reads any manifest: a version field is no model field."""
    assert exact_names("run_id = 'r1' AND name = 'm'") == frozenset({"m"})
    with pytest.raises(InvalidFilter, match="Invalid attribute key 'run_id'"):
        exact_names("run_id = 'r1' AND name = 'm'", versions=False)


def test_exact_names_rejects_a_bad_filter():
    assert "OR is not supported" in _error(exact_names, "name = 'a' OR name = 'b'")


@pytest.mark.parametrize(
    "filter_string",
    [
        "name = 'churn'",
        "name = 'Churn-EU' AND tags.team ILIKE 'ml%'",
        "name IN ('churn', 'fraud', 'zzz')",
        "name IN ('a.b', 'axb') AND name = 'axb'",
        "name = 'fraud' AND tags.team = 'ml'",
        "name = 'churn' AND name = 'fraud'",
    ],
)
def test_exact_names_never_excludes_a_match(models, versioned, filter_string):
    """Soundness: the store may read only these manifests and still find every match."""
    allowed = exact_names(filter_string)
    assert allowed is not None
    assert set(search(models, filter_string)) <= allowed
    assert {name for name, _ in vsearch(versioned, filter_string)} <= allowed
    subset = [m for m in models if m.name in allowed]
    assert search(subset, filter_string) == search(models, filter_string)
