"""Hostile input cannot crash, hang, corrupt or leak (issue 12).

Each case is what an attacker or a careless colleague typed or committed; each must end in
a one-line error with exit code 1 or 2 (never 3, the crash code), leave the repository as
it was, and finish in bounded time and memory (bounded by the limits, not asserted as time).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.core import manifest
from gitreg.core.errors import InvalidManifest, InvalidParameter
from gitreg.core.search import like
from tests._helpers import Cli, git, snapshot

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


@pytest.fixture
def churn(registry_repo: Path) -> Cli:
    cli = Cli(registry_repo)
    cli.ok("register", "churn", "s3://churn/1")
    return cli


def one_line_refusal(result, codes=(1, 2)) -> str:
    assert result.exit_code in codes, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"a multi-line error: {result.stderr!r}"
    return lines[0]


# ------------------------------------------------------------------ text at the door


@pytest.mark.parametrize(
    "args",
    [
        ["update", "churn", "-d", "Mod\udce8le"],  # a byte that is not UTF-8, from argv
        ["update", "churn", "-d", "null\x00byte"],
        ["update", "churn", "1", "-d", "Mod\udce8le"],
        ["tag", "churn", "team=gr\udcffowth"],
        ["register", "churn", "s3://bad/\udce8"],
        ["create", "m\udce8"],
    ],
)
def test_text_that_is_not_utf8_or_holds_nul_is_refused_at_the_door(churn, registry_repo, args):
    before = snapshot(registry_repo)
    line = one_line_refusal(churn.run(*args))
    assert "UTF-8" in line or "NUL" in line or "control character" in line
    assert snapshot(registry_repo) == before
    churn.ok("show", "churn")  # and the model still reads


def test_what_is_written_reads_back(registry):
    """The write path parses the bytes it commits: text that dumps must load (see #12)."""
    weird = "line1\nline2 \u2028 tab\t end \ufeff \U0001f600 \\u00e9 'quotes' \"dq\" # hash"
    registry.create_model_version("churn", "s3://1", description=weird, tags={"t": weird})
    model = Registry(registry.store.root).get_registered_model("churn")
    assert model.versions[0].description == weird
    assert model.versions[0].tags["t"] == weird


# --------------------------------------------------------------------- manifests


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BOMB, "billion laughs"),
        ("a: 1\na: 2\n", "duplicate key"),
        ("x: !!binary aGVsbG8=\n", "unsupported YAML type 'binary'"),
        ("x: !!set {a, b}\n", "unsupported YAML type 'set'"),
        ("&a [*a]\n", "cycle"),
        ("[" * 2000 + "]" * 2000 + "\n", "nest"),
        ("a: b\x00c\n", "not readable as YAML"),
        (b"description: Mod\xe8le\n", "not readable as YAML"),
        ('d: "Mod\\uDCE8le"\n', "invalid Unicode"),
    ],
)
def test_hostile_yaml_is_one_clear_error(text, expected):
    with pytest.raises(InvalidManifest) as err:
        manifest.load(text, "models/x.yaml")
    assert expected in err.value.message
    assert err.value.message.startswith("models/x.yaml")
    assert "\n" not in err.value.message


def test_an_oversized_manifest_is_refused_before_parsing():
    with pytest.raises(InvalidManifest, match="above gitreg's limit"):
        manifest.load(b"a: " + b"x" * (manifest.MAX_FILE_BYTES + 1), "models/x.yaml")


@pytest.mark.parametrize(
    "content",
    [
        BOMB,
        "schema_version: 1\nname: x\nnext_version: 2\nversions:\n  - version: 1\n"
        "    source: !!binary aGVsbG8=\n    stage: None\n",
        "schema_version: 1\nname: x\nnext_version: 2\nversions: !!set {a}\n",
        "schema_version: 1\nname: x\nnext_version: 2\nversions:\n  - version: .inf\n"
        "    source: s\n    stage: None\n",
    ],
    ids=["bomb", "binary", "set", "inf"],
)
@pytest.mark.parametrize("command", [["show", "x"], ["validate"], ["register", "x", "s3://2"]])
def test_hostile_manifests_never_crash_a_command(registry_repo, content, command):
    path = registry_repo / "models" / "x.yaml"
    path.write_text(content)
    git(registry_repo, "add", "models/x.yaml")
    git(registry_repo, "commit", "-qm", "hostile")
    before = snapshot(registry_repo)
    one_line_refusal(Cli(registry_repo).run(*command))
    assert snapshot(registry_repo) == before


def test_a_directory_named_like_a_manifest_is_a_clean_error(registry_repo):
    (registry_repo / "models" / "x.yaml").mkdir()
    one_line_refusal(Cli(registry_repo).run("show", "x"))
    one_line_refusal(Cli(registry_repo).run("validate"))


# ------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "args",
    [["show", "churn", "²"], ["resolve", "models:/churn/²"], ["show", "churn", "٣"]],
)
def test_digits_that_are_not_ascii_are_not_versions(churn, args):
    one_line_refusal(churn.run(*args))


def test_non_finite_metrics_are_refused(churn, registry_repo):
    before = snapshot(registry_repo)
    for value in ("nan", "inf", "-inf", "NaN"):
        line = one_line_refusal(churn.run("register", "churn", "s3://2", "-m", f"f1={value}"))
        assert "finite" in line
    assert snapshot(registry_repo) == before
    shown = churn.ok("show", "churn", "--json").stdout
    assert "NaN" not in shown
    json.loads(shown)  # strict JSON


def test_api_tags_given_as_a_list_are_a_clean_error(registry):
    with pytest.raises(InvalidParameter, match="give a mapping"):
        registry.create_model_version("churn", "s3://1", tags=["team", "growth"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"source": "s3://1", "description": "x" * 60_000_000}, {"source": "s3://" + "x" * 10_000}],
    ids=["description", "source"],
)
def test_oversized_fields_are_refused_cleanly(registry, registry_repo, kwargs):
    before = snapshot(registry_repo)
    with pytest.raises(InvalidParameter, match="above the limit") as err:
        registry.create_model_version("churn", **kwargs)
    assert len(err.value.message) < 300, "an error never echoes a whole value"
    assert snapshot(registry_repo) == before


# -------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "args",
    [
        ["alias", "churn", "champion\n", "1"],
        ["tag", "churn", "team\n=x"],
        ["create", "churn2\n"],
        ["transition", "churn", "1", "Production\n"],
    ],
)
def test_a_trailing_newline_is_never_part_of_a_name(churn, registry_repo, args):
    before = snapshot(registry_repo)
    one_line_refusal(churn.run(*args))
    assert snapshot(registry_repo) == before


# ----------------------------------------------------------------------- searching


def _like_reference(pattern: str, text: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


@given(st.text("ab%_.", max_size=8), st.text("ab.", max_size=10))
def test_like_means_what_sql_says(pattern, text):
    assert like(pattern, text) == _like_reference(pattern, text)


def test_a_pathological_like_pattern_is_answered(registry):
    registry.create_model_version("churn", "s3://1", tags={"note": "a" * 4_000})
    pattern = "%a" * 20 + "%b"
    found = registry.search_model_versions(f"tags.note LIKE '{pattern}'")
    assert list(found) == []
    found = registry.search_model_versions("tags.note LIKE '%" + "a%" * 20 + "'")
    assert [mv.version for mv in found] == [1]
