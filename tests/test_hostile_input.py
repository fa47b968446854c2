"""Hostile input cannot crash, hang, corrupt or leak (issue 12).

Each case is what an attacker or a careless colleague typed or committed; each must end in
a one-line error with exit code 1 or 2 (never 3, the crash code), leave the repository as
it was, and finish in bounded time and memory (bounded by the limits, not asserted as time).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.core import manifest
from gitreg.core.errors import InvalidManifest, InvalidParameter
from gitreg.core.search import like
from tests._helpers import Cli, git, snapshot
from tests._pr import CHURN, commit, edit

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


def gate_refusal(result) -> str:
    """validate's and audit's refusal: the report, once, on stdout, ending with the verdict;
    exit 1 and nothing on stderr (#27: the exit status says the rest). Returns the report."""
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert result.stderr == "", f"a second message: {result.stderr!r}"
    assert "Traceback" not in result.stdout
    findings = [line for line in result.stdout.splitlines() if line]
    assert findings[-1].startswith(("gitreg validate: invalid;", "gitreg audit: ")), findings
    assert len(findings) == len(set(findings)), f"a finding printed twice: {result.stdout!r}"
    return result.stdout


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
    result = Cli(registry_repo).run(*command)
    if command == ["validate"]:
        assert "models/x.yaml:" in gate_refusal(result)
    else:
        one_line_refusal(result)
    assert snapshot(registry_repo) == before


def test_a_directory_named_like_a_manifest_is_a_clean_error(registry_repo):
    (registry_repo / "models" / "x.yaml").mkdir()
    one_line_refusal(Cli(registry_repo).run("show", "x"))
    assert "models/x.yaml" in gate_refusal(Cli(registry_repo).run("validate"))


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


# ------------------------------------------- crashes become findings, every reader (#23)
#
# Each case is a hand edit of churn's manifest (tests/_pr.py's CHURN) committed on a branch:
# a key YAML reads as a boolean, a number or null, a number past what MLflow stores, a
# date no calendar has. Every command that reads the registry answers it with one line that
# names the file, the line, the field and the fix (exit 1), never "unexpected error" (3).

HOSTILE_EDITS = {
    # id: (old text, new text, code, field)
    "alias key on (a boolean)": (
        "  champion: 1\n",
        "  champion: 1\n  on: 1\n",
        "KEY_NOT_TEXT",
        "aliases",
    ),
    "alias key 7 (a number)": (
        "  champion: 1\n",
        "  champion: 1\n  7: 1\n",
        "KEY_NOT_TEXT",
        "aliases",
    ),
    "tag key ~ (null)": (
        "      validation: passed\n",
        "      validation: passed\n      ~: x\n",
        "KEY_NOT_TEXT",
        "versions.0.tags",
    ),
    "metric key 2.5 (a float)": (
        "      f1: 0.91\n",
        "      f1: 0.91\n      2.5: 1\n",
        "KEY_NOT_TEXT",
        "versions.0.metrics",
    ),
    "metric of 400 digits": (
        "      f1: 0.91\n",
        "      f1: 1" + "0" * 400 + "\n",
        "METRIC_NOT_FINITE",
        "versions[0].metrics.f1",
    ),
    "metric of 5,000 digits": (
        "      f1: 0.91\n",
        "      f1: 1" + "0" * 5000 + "\n",
        "NUMBER_OUT_OF_RANGE",
        "versions.0.metrics.f1",
    ),
    "next_version of 400 digits": (
        "next_version: 4\n",
        "next_version: 1" + "0" * 400 + "\n",
        "SCHEMA",
        "next_version",
    ),
    "alias to a version past 2**31": (
        "  champion: 1\n",
        "  champion: 1" + "0" * 30 + "\n",
        "SCHEMA",
        "aliases.champion",
    ),
    "version past 2**31": (
        "  - version: 3\n",
        "  - version: 3000000000\n",
        "SCHEMA",
        "versions.1.version",
    ),
    # a field of another type than the schema's (#26: ``versions: 7`` crashed validate,
    # the gate and the audit, which judged transitions before the schema held)
    "versions a number": (CHURN[CHURN.index("versions:") :], "versions: 7\n", "SCHEMA", "versions"),
    "aliases a list": ("aliases:\n  champion: 1\n", "aliases: [champion]\n", "SCHEMA", "aliases"),
    "alias to a list": ("  champion: 1\n", "  champion: [1]\n", "SCHEMA", "aliases.champion"),
    "model tags a list": (
        "description: Predicts 30-day churn.\n",
        "description: Predicts 30-day churn.\ntags: [team]\n",
        "SCHEMA",
        "tags",
    ),
    "version tags a list": (
        "    tags:\n      validation: passed\n",
        "    tags: [validation]\n",
        "SCHEMA",
        "versions.0.tags",
    ),
    "created_at in month 13": (
        '    created_at: "2026-11-01T10:00:00Z"\n',
        '    created_at: "2026-13-01T10:00:00Z"\n',
        "SCHEMA",
        "versions.0.created_at",
    ),
}

READS = [  # commands that read the manifest and must refuse it
    ["show", "churn"],
    ["show", "churn", "1"],
    ["latest", "churn"],
    ["resolve", "models:/churn@champion"],
    ["versions", "--filter", "name = 'churn'"],  # search
    ["models", "--filter", "name LIKE 'ch%'"],
]
GATES = [["validate"], ["validate", "--base", "main"], ["audit", "--since", "main"]]
# history and events read every commit of a range: a state they cannot read is no state, as
# for a YAML syntax error (the audit is what reports it); they must not crash on it.
TRAILS = [
    ["history", "churn"],
    ["history", "churn", "--alias", "champion"],
    ["events", "--since", "main"],
]


def _edit_line(repo: Path, path: str, old: str, new: str) -> int:
    """Make the edit; the line of its first new line (where the finding must point)."""
    edit(repo, path, old, new)
    first = next(text for text in new.splitlines() if text not in old.splitlines())
    return (repo / path).read_text().splitlines().index(first) + 1


def _fast_resolve(capsys, root: Path) -> tuple[int | None, str, str]:
    """``gitreg resolve`` as the console script answers it, without click (#7, #15)."""
    from gitreg._entry import resolve_fast

    code = resolve_fast(["resolve", "models:/churn@champion", "--repo", str(root)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("case", list(HOSTILE_EDITS))
def test_a_hostile_manifest_is_one_finding_for_every_reader(repo, gate, tmp_path, capsys, case):
    old, new, code, field = HOSTILE_EDITS[case]
    line = _edit_line(repo, "models/churn.yaml", old, new)
    commit(repo, f"Hostile: {case}")
    before = snapshot(repo)
    where = f"models/churn.yaml:{line}: {code}: {field}"

    for args in READS:
        refusal = one_line_refusal(gate.run(*args), codes=(1,))
        assert refusal.startswith(f"Error: {where}"), (args, refusal)
        assert ";" in refusal or "quote it" in refusal, refusal  # and the fix
    # The catalog builds, and shows the model as invalid with its finding, never its state
    # as if valid (#22)
    built = gate.run("site", str(tmp_path / "site"))
    assert built.exit_code == 0, built.stderr
    assert "Traceback" not in built.stderr
    page = (tmp_path / "site" / "models" / "churn" / "index.html").read_text("utf-8")
    shown = f"models/churn.yaml:{line}</code> <strong>{code}</strong>: {field}"
    assert shown in page, shown
    fast, out, err = _fast_resolve(capsys, repo)
    assert (fast, out) == (1, "")
    assert err.startswith(f"Error: {where}"), err
    for args in GATES:
        result = gate.run(*args)
        assert where in gate_refusal(result), (args, result.stdout)
    for args in TRAILS:
        result = gate.run(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert result.stderr == ""
    assert snapshot(repo) == before


CONFIG_EDITS = {
    "requirement tag key on": (
        "      tags: {validation: passed}\n",
        "      tags: {validation: passed, on: x}\n",
        "policy.requirements.Production.tags",
    ),
    "policy key 7": (
        "  protected: [Production]\n",
        "  protected: [Production]\n  7: x\n",
        "policy",
    ),
    "link key null": ("schema_version: 1\n", "schema_version: 1\nlinks: {~: x}\n", "links"),
}


@pytest.mark.parametrize("case", list(CONFIG_EDITS))
def test_a_hostile_gitreg_yaml_is_a_finding_and_never_a_crash(repo, gate, tmp_path, capsys, case):
    old, new, field = CONFIG_EDITS[case]
    line = _edit_line(repo, "gitreg.yaml", old, new)
    commit(repo, f"Hostile config: {case}")
    before = snapshot(repo)

    for args in GATES:
        result = gate.run(*args)
        gate_refusal(result)
        where = f"gitreg.yaml:{line}: KEY_NOT_TEXT: {field}: YAML reads the key"
        # validate reports a finding; the audit judges the commit by the policy before it
        # (#22), and reports the same line as one of the commit's violations
        assert where in result.stdout, result
    for args in [*READS, *TRAILS, ["site", str(tmp_path / "site")]]:
        result = gate.run(*args)
        assert result.exit_code != 3, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 1, result.stderr
    fast, _, err = _fast_resolve(capsys, repo)
    assert fast != 3, err
    assert snapshot(repo) == before


def test_a_key_that_is_not_text_names_the_quoted_fix():
    with pytest.raises(InvalidManifest) as err:
        manifest.load("aliases:\n  champion: 1\n  yes: 2\n", "models/churn.yaml")
    assert err.value.message == (
        "models/churn.yaml:3: KEY_NOT_TEXT: aliases: YAML reads the key yes as a boolean, "
        'but every key is text: quote it ("yes": ...)'
    )
    assert [f.code for f in err.value.findings] == ["KEY_NOT_TEXT"]


@pytest.mark.parametrize(
    "text",
    ['aliases: {"on": 1, !!str 7: 2}\n', "tags:\n  2026-01-01: x\n", "a: &x {b: 1}\nc: {<<: *x}\n"],
    ids=["quoted", "date", "merge"],
)
def test_keys_that_read_as_text_still_load(text):
    data = manifest.load(text, "models/x.yaml")
    assert all(isinstance(k, str) for v in data.values() for k in v)


@pytest.mark.parametrize(
    "args",
    [
        ["show", "churn", "9" * 5000],
        ["show", "churn", "3000000000"],
        ["resolve", "models:/churn/" + "9" * 5000],
        ["resolve", "models:/churn/3000000000"],
        ["versions", "--filter", "version_number > " + "9" * 5000],
    ],
    ids=["show-huge", "show-int32", "resolve-huge", "resolve-int32", "search-huge"],
)
def test_version_numbers_past_what_mlflow_stores_are_refused_cleanly(churn, capsys, args):
    result = churn.run(*args)
    assert result.exit_code in (0, 1, 2), result.stderr
    assert "Traceback" not in result.stderr
    if args[0] != "versions":
        line = one_line_refusal(result)
        assert "2,147,483,647" in line or "Invalid model URI" in line, line
    else:
        assert "churn" not in result.stdout  # no version is past it
    if args[0] == "resolve":
        from gitreg._entry import resolve_fast

        code = resolve_fast([*args, "--repo", str(churn.repo)])
        assert code == result.exit_code
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


# ------------------------------ any field of any type: a finding, never a crash (#26)

_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=4)
)
_VALUE = st.recursive(
    _LEAF,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), inner, max_size=3),
    ),
    max_leaves=6,
)


def _places(data: object, at: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value inside ``data`` (keys and list indexes)."""
    found = [at] if at else []
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        found += _places(value, (*at, key))
    return found


_CHURN_DATA = yaml.safe_load(CHURN)
_PLACES = _places(_CHURN_DATA)


def _replaced(at: tuple[object, ...], value: object) -> dict[str, object]:
    data = copy.deepcopy(_CHURN_DATA)
    inner = data
    for key in at[:-1]:
        inner = inner[key]
    inner[at[-1]] = value
    return data


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_PLACES), _VALUE, st.booleans(), st.booleans())
def test_any_field_of_any_type_is_judged_never_a_crash(at, value, push, hostile_base):
    """Every field of churn's manifest (top level, a version's, a tag's, a metric's, an
    alias's) replaced by any YAML value: the manifest check and the gate's judgement of the
    change (a pull request or a push; the hostile manifest as the head, or as the base an
    audit starts from) answer with findings, never an exception (``versions: 7`` raised
    TypeError in all three). A value of another type than the schema's is a finding."""
    from gitreg.core.config import Policy
    from gitreg.core.validate import check_manifest
    from gitreg.gate import files
    from gitreg.gate.judge import Side, judge

    path = "models/churn.yaml"
    data = _replaced(at, value)
    text = yaml.safe_dump(data, sort_keys=False).encode()
    findings = check_manifest(data, path, text)
    assert all(f.path == path for f in findings)
    if not _same_type_for_schema(_value_at(at), value):
        assert findings, (at, value)

    def check_new(name: str, new: bytes | None, incumbents: frozenset[int]) -> object:
        return files.check_text(name, new, files.Listing({"churn.yaml": False}), incumbents)

    good = CHURN.encode()
    old, new = (text, good) if hostile_base else (good, text)
    judged, _ = judge([path], Side({path: old}), Side({path: new}), Policy(), check_new, push=push)
    if not hostile_base and findings:
        assert judged  # the head's own findings refuse the change


def _value_at(at: tuple[object, ...]) -> object:
    inner: object = _CHURN_DATA
    for key in at:
        inner = inner[key]  # type: ignore[index]
    return inner


def _same_type_for_schema(old: object, new: object) -> bool:
    """A replacement the schema may accept: text for text, a whole number for a whole
    number, a number for a metric, a mapping for a mapping."""
    number = (int, float)
    if isinstance(old, bool) or isinstance(new, bool):
        return False
    if isinstance(old, str):
        return isinstance(new, str)
    if isinstance(old, number):
        return isinstance(new, number)
    return isinstance(old, dict) and isinstance(new, dict)
