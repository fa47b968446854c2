"""``gitreg validate`` without a base: schemas and invariants of every file (issue #4)."""

from __future__ import annotations

import json
import os

import pytest

from gitreg.core import schema_check, validate
from gitreg.core.manifest import MAX_FILE_BYTES
from tests._helpers import Cli, git
from tests._pr import CHURN, CONFIG, FRAUD, REQUIREMENTS, commit, edit, line_of, write


def findings(result):
    return [(f["path"], f["line"], f["code"]) for f in json.loads(result.stdout)["findings"]]


def test_a_new_registry_is_valid(cli):
    result = cli.ok("validate")
    assert result.stdout == "gitreg validate: valid; 2 files checked\n"


def test_a_valid_registry_passes_in_every_format(gate):
    assert "valid; 4 files checked" in gate.ok("validate").stdout
    data = json.loads(gate.ok("validate", "--format", "json").stdout)
    assert data == {
        "valid": True,
        "base": None,
        "base_commit": None,
        "checked": 4,
        "findings": [],
        "notes": [],
        "changes": [],
    }
    assert gate.ok("validate", "--format", "github").stdout.startswith("gitreg validate: valid")


def test_two_production_versions_are_refused_at_the_second(repo, gate):
    edit(repo, "models/churn.yaml", "    stage: Staging\n", "    stage: Production\n")

    result = gate.fails(1, "validate", "--format", "json")

    stage = line_of(repo, "models/churn.yaml", "stage:", after="version: 3")
    assert findings(result) == [("models/churn.yaml", stage, "MULTIPLE_PRODUCTION")]


def test_a_yaml_syntax_error_is_one_finding_with_its_line(repo, gate):
    edit(repo, "models/fraud.yaml", "stage: None", "stage: None\n  oops: : :")

    result = gate.fails(1, "validate")

    lines = result.stdout.splitlines()
    assert lines[0].startswith("models/fraud.yaml:8: YAML_SYNTAX: YAML syntax error:")
    assert lines[-1] == "gitreg validate: invalid; 1 problem in 1 file; 4 files checked"
    assert "Traceback" not in result.stdout + result.stderr


def test_schema_and_invariant_problems_name_their_lines(repo, gate):
    edit(repo, "models/churn.yaml", "  champion: 1\n", "  champion: 2\n  latest: 3\n")
    edit(repo, "models/churn.yaml", "next_version: 4", "next_version: 3")
    edit(repo, "models/fraud.yaml", "name: fraud", "name: froud")
    edit(repo, "models/fraud.yaml", "stage: None", "stage: Retired")

    result = gate.fails(1, "validate", "--format", "json")

    got = findings(result)
    assert ("models/churn.yaml", 5, "ALIAS_DANGLING") in got
    assert ("models/churn.yaml", 6, "ALIAS_RESERVED") in got
    assert ("models/churn.yaml", 7, "NEXT_VERSION") in got
    assert ("models/fraud.yaml", 2, "NAME_MISMATCH") in got
    assert ("models/fraud.yaml", 7, "SCHEMA") in got
    for finding in json.loads(result.stdout)["findings"]:
        assert ";" in finding["message"] or "add it" in finding["message"], finding


def test_stray_files_in_models_are_refused(repo, gate):
    write(repo, "models/notes.txt", "todo\n")
    write(repo, "models/old.yml", FRAUD.replace("fraud", "old"))
    write(repo, "models/sub/x.yaml", FRAUD)
    write(repo, "models/con.yaml", FRAUD)  # the model "con" lives in %63on.yaml

    result = gate.fails(1, "validate", "--format", "json")

    assert findings(result) == [
        ("models/con.yaml", None, "NAME_INVALID"),
        ("models/notes.txt", None, "STRAY_FILE"),
        ("models/old.yml", None, "STRAY_FILE"),
        ("models/sub", None, "STRAY_FILE"),
    ]
    messages = [f["message"] for f in json.loads(result.stdout)["findings"]]
    assert "rename it to .yaml" in messages[2]


def test_names_that_differ_only_in_case_are_refused(repo, gate):
    write(repo, "models/Churn.yaml", CHURN.replace("name: churn", "name: Churn"))

    result = gate.fails(1, "validate", "--format", "json")

    assert findings(result) == [
        ("models/Churn.yaml", None, "NAME_CASE_CONFLICT"),
        ("models/churn.yaml", None, "NAME_CASE_CONFLICT"),
    ]


def test_the_config_is_checked_too(repo, gate):
    edit(repo, "gitreg.yaml", "  protected: [Production]", "  protected: [Prod]")
    result = gate.fails(1, "validate", "--format", "json")
    assert [(p, c) for p, _, c in findings(result)] == [("gitreg.yaml", "SCHEMA")]

    edit(repo, "gitreg.yaml", "  protected: [Prod]", "  protected: [Production]")
    edit(repo, "gitreg.yaml", "  stages: [None, Staging, Production, Archived]", "  stages: [None]")
    result = gate.fails(1, "validate", "--format", "json")
    assert {c for _, _, c in findings(result)} == {"POLICY_UNKNOWN_STAGE"}


def test_paths_limit_the_check_to_those_files(repo, gate):
    edit(repo, "models/fraud.yaml", "name: fraud", "name: froud")

    gate.ok("validate", "models/churn.yaml", cwd=repo)
    result = gate.fails(1, "validate", "models/fraud.yaml", "README.md", cwd=repo)
    assert "1 file checked" in result.stdout
    result = gate.fails(1, "validate", "fraud.yaml", cwd=repo / "models")
    assert "NAME_MISMATCH" in result.stdout


def test_bad_paths_cannot_run(repo, gate, tmp_path):
    result = gate.fails(2, "validate", "models/nope.yaml", cwd=repo)
    assert "no such file" in result.stderr
    (tmp_path / "elsewhere.yaml").write_text("x: 1\n")
    result = gate.fails(2, "validate", str(tmp_path / "elsewhere.yaml"), cwd=repo)
    assert "outside the registry" in result.stderr


def test_not_a_registry_cannot_run(tmp_path):
    result = Cli().fails(2, "validate", "--repo", str(tmp_path))
    assert "not inside a git repository" in result.stderr
    git(tmp_path, "init", "-q")
    result = Cli().fails(2, "validate", "--repo", str(tmp_path))
    assert "not a gitreg registry" in result.stderr


def test_github_actions_makes_github_the_default_format(repo, gate, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    edit(repo, "models/fraud.yaml", "name: fraud", "name: froud")

    result = gate.fails(1, "validate")

    assert result.stdout.startswith(
        "::error file=models/fraud.yaml,line=2,title=NAME_MISMATCH::name 'froud' belongs in "
    )


def test_github_commands_escape_what_would_break_them():
    from gitreg.gate.report import format_github
    from gitreg.gate.review import Report

    finding = validate.Finding("models/a,b:c.yaml", 3, "X", "100% bad\nreally")
    out = format_github(Report((finding,), checked=1))
    first = out.splitlines()[0]
    assert first == "::error file=models/a%2Cb%3Ac.yaml,line=3,title=X::100%25 bad%0Areally"


def test_the_store_still_reports_a_second_production_version(registry):
    """Writes validate through the same code: a hand-broken manifest fails to load."""
    from gitreg.core.errors import InvalidManifest

    text = CHURN.replace("stage: Staging", "stage: Production")
    with pytest.raises(InvalidManifest) as info:
        registry.store.transaction(lambda tx: tx.write("models/churn.yaml", text))
    assert [f.code for f in info.value.findings] == ["MULTIPLE_PRODUCTION"]


# ------------------------------------------- what stands in models/ (issue 17's survivors)

NOT_REGULAR = (
    "{path} is {what}, not a regular file; gitreg reads only regular files (git mode 100644) "
    "there: replace it with the file itself"
)


def _link_to_fraud(repo):
    os.symlink("fraud.yaml", repo / "models" / "alias.yaml")


def _fifo(repo):
    os.mkfifo(repo / "models" / "pipe.yaml")


def _too_large(repo):
    (repo / "models" / "big.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))


def _directory(repo):
    write(repo, "models/sub/x.yaml", FRAUD)


def _link_to_a_directory(repo):
    (repo / "elsewhere").mkdir()
    os.symlink("../elsewhere", repo / "models" / "shelf")


def _models_a_link(repo):
    (repo / "models").rename(repo / "real-models")
    os.symlink("real-models", repo / "models")


@pytest.mark.parametrize(
    ("make", "args", "expected"),
    [
        pytest.param(
            _link_to_fraud,
            (),
            ("models/alias.yaml", "NOT_A_REGULAR_FILE", NOT_REGULAR, "a symbolic link"),
            id="link",
        ),
        pytest.param(  # named on the command line, a link is still judged as the link
            _link_to_fraud,
            ("models/alias.yaml",),
            ("models/alias.yaml", "NOT_A_REGULAR_FILE", NOT_REGULAR, "a symbolic link"),
            id="link-by-path",
        ),
        pytest.param(
            _fifo, (), ("models/pipe.yaml", "NOT_A_REGULAR_FILE", NOT_REGULAR, "a FIFO"), id="fifo"
        ),
        pytest.param(
            _fifo,
            ("models/pipe.yaml",),
            ("models/pipe.yaml", "NOT_A_REGULAR_FILE", NOT_REGULAR, "a FIFO"),
            id="fifo-by-path",
        ),
        pytest.param(
            _too_large,
            (),
            (
                "models/big.yaml",
                "FILE_UNREADABLE",
                "{path}: the file is 4,194,305 bytes, above gitreg's limit of 4,194,304",
                "",
            ),
            id="too-large",
        ),
        pytest.param(
            _link_to_a_directory,
            (),
            ("models/shelf", "NOT_A_REGULAR_FILE", NOT_REGULAR, "a symbolic link"),
            id="link-to-a-directory",
        ),
        pytest.param(
            _models_a_link,
            (),
            (
                "models",
                "NOT_A_REGULAR_FILE",
                "models is not a directory (a link?); gitreg reads only a real models/ "
                "directory: replace the link with the directory",
                "",
            ),
            id="models-a-link",
        ),
        pytest.param(
            _too_large,
            ("models/big.yaml",),
            (
                "models/big.yaml",
                "FILE_UNREADABLE",
                "{path}: the file is 4,194,305 bytes, above gitreg's limit of 4,194,304",
                "",
            ),
            id="too-large-by-path",
        ),
        pytest.param(
            _directory,
            (),
            (
                "models/sub",
                "STRAY_FILE",
                "{path} is a directory; models/ holds only <model name>.yaml manifests: "
                "move it out of models/",
                "",
            ),
            id="directory",
        ),
        pytest.param(
            _directory,
            ("models/sub/x.yaml",),
            (
                "models/sub",
                "STRAY_FILE",
                "{path} is a directory; models/ holds only <model name>.yaml manifests: "
                "move it out of models/",
                "",
            ),
            id="file-in-a-directory-by-path",
        ),
    ],
)
def test_what_is_not_a_manifest_in_models_is_one_exact_finding(repo, gate, make, args, expected):
    """A link, FIFO, oversized file or directory in models/ is one finding naming it and the fix.

    Nothing is read through it, and the message says what it is, not a parse error.
    """
    make(repo)
    path, code, message, what = expected

    result = gate.fails(1, "validate", "--format", "json", *args, cwd=repo)

    got = [(f["path"], f["line"], f["code"], f["message"]) for f in _json(result)["findings"]]
    assert got == [(path, None, code, message.format(path=path, what=what))]


def _json(result):
    return json.loads(result.stdout)


# ------------------------------------------------------ the findings cache (issue 17)

CACHE = ".git/gitreg/validate-cache.marshal"


def test_an_edit_is_never_judged_by_findings_cached_for_the_old_text(repo, gate):
    """The cache is keyed by content: fixing a file makes it valid, breaking it again does not."""
    edit(repo, "models/fraud.yaml", "name: fraud", "name: froud")
    assert findings(gate.fails(1, "validate", "--format", "json")) == [
        ("models/fraud.yaml", 2, "NAME_MISMATCH")
    ]
    edit(repo, "models/fraud.yaml", "name: froud", "name: fraud")
    gate.ok("validate")
    edit(repo, "models/fraud.yaml", "name: fraud", "name: froud")
    assert findings(gate.fails(1, "validate", "--format", "json")) == [
        ("models/fraud.yaml", 2, "NAME_MISMATCH")
    ]


def test_reads_and_validate_share_a_parse_cache_that_serves_each_the_truth(repo, gate):
    """What validate parsed serves later reads and validates, and what reads parsed, validate."""
    edit(repo, "models/fraud.yaml", "stage: None", "stage: None\n  oops: : :")
    assert findings(gate.fails(1, "validate", "--format", "json")) == [
        ("models/fraud.yaml", 8, "YAML_SYNTAX")
    ]
    edit(repo, "models/fraud.yaml", "stage: None\n  oops: : :", "stage: None")
    gate.ok("validate")
    assert _descriptions(gate) == {"churn": "Predicts 30-day churn.", "fraud": ""}

    edit(repo, "models/churn.yaml", "Predicts 30-day churn.", "Predicts churn.")
    assert _descriptions(gate) == {"churn": "Predicts churn.", "fraud": ""}
    gate.ok("validate")


def _descriptions(gate):
    models = json.loads(gate.ok("models", "--json").stdout)["registered_models"]
    return {m["name"]: m.get("description", "") for m in models}


def test_a_cache_from_another_gitreg_or_a_damaged_one_is_never_trusted(repo, gate):
    """The cache is keyed by gitreg's version and manifest schema; damage only costs a parse."""
    import marshal

    from gitreg.core.version import __version__
    from gitreg.store.compare import blob_id

    edit(repo, "models/fraud.yaml", "name: fraud", "name: froud")
    write(repo, "models/bad.yaml", "name: bad\n  oops: : :\n")
    expected = [("models/bad.yaml", 2, "YAML_SYNTAX"), ("models/fraud.yaml", 2, "NAME_MISMATCH")]
    assert findings(gate.fails(1, "validate", "--format", "json")) == expected
    stamp, entries = marshal.loads((repo / CACHE).read_bytes())
    schema = json.dumps(schema_check.schema("manifest"), sort_keys=True).encode()
    assert stamp == f"{__version__}:{validate.CHECKS_VERSION}:{blob_id(schema)}", (
        "an upgrade of gitreg or of its schema must re-check every manifest"
    )

    older = "0.0.1" + stamp[stamp.index(":") :]
    forged = {key: [] for key in entries}  # an older gitreg that saw nothing wrong
    for damaged in (
        marshal.dumps((older, forged)),
        b"",
        b"not marshal data",
        marshal.dumps(5),
        marshal.dumps(("x", "not a dict")),
    ):
        (repo / CACHE).write_bytes(damaged)
        assert findings(gate.fails(1, "validate", "--format", "json")) == expected


def test_validate_works_where_its_cache_cannot_be_written(repo, gate):
    """The cache is best effort: a cache path that cannot be replaced changes no verdict."""
    (repo / CACHE).parent.mkdir(parents=True, exist_ok=True)
    (repo / CACHE).mkdir()
    edit(repo, "models/fraud.yaml", "name: fraud", "name: froud")
    assert findings(gate.fails(1, "validate", "--format", "json")) == [
        ("models/fraud.yaml", 2, "NAME_MISMATCH")
    ]
    edit(repo, "models/fraud.yaml", "name: froud", "name: fraud")
    gate.ok("validate")


def test_a_registry_without_a_models_directory_is_valid(repo, gate):
    """Deleting the last model may leave no models/ at all; that is an empty registry."""
    git(repo, "rm", "-q", "-r", "models")
    assert gate.ok("validate").stdout == "gitreg validate: valid; 1 file checked\n"


# ------------------------------------------ validate --base: what review.py adds (issue 17)


def _on_main(repo, files, message):
    """Commit ``files`` (path -> text, None deletes) on main, then bring them into ``pr``."""
    git(repo, "switch", "-q", "main")
    for path, text in files.items():
        if text is None:
            git(repo, "rm", "-q", path)
        else:
            write(repo, path, text)
    commit(repo, message)
    git(repo, "switch", "-q", "pr")
    git(repo, "merge", "-q", "main")
    return git(repo, "rev-parse", "main").strip()


def _promote_fraud(repo):
    """Fraud v1 to Production without the validation tag the strict base policy asks for."""
    edit(repo, "models/fraud.yaml", "stage: None", "stage: Production")


DEFAULT_POLICY_NOTE = "the base main ({sha}) {why}, so the default policy judged this change"
USED_NOTE = (
    "this change edits gitreg.yaml, but a change is judged by the policy of its base "
    "(main at {sha}); the edited policy applies only once it is merged"
)


@pytest.mark.parametrize(
    ("config", "why"),
    [
        pytest.param(None, "has no gitreg.yaml", id="none"),
        pytest.param("policy: [oops: : :\n", "has an unreadable gitreg.yaml", id="syntax"),
        pytest.param("- policy\n", "has an unreadable gitreg.yaml", id="a-list"),
        pytest.param("policy:\n  stages: [Bogus]\n", "has an unreadable gitreg.yaml", id="stage"),
        pytest.param(
            "notifications:\n  smtp: {host: x}\n", "has an unreadable gitreg.yaml", id="key"
        ),
        pytest.param("policy:\n  protected: 5\n", "has an unreadable gitreg.yaml", id="type"),
        pytest.param("registry:\n  retries: many\n", "has an unreadable gitreg.yaml", id="value"),
        pytest.param("policy: [1]\n", "has an unreadable gitreg.yaml", id="attribute"),
    ],
)
def test_a_base_without_a_usable_policy_is_judged_by_the_default_one(repo, gate, config, why):
    """A base whose gitreg.yaml is missing or broken cannot crash the gate or lock it.

    The change is judged by the default policy (no requirements), and two notes say so: the
    base's policy was not used, and the repaired gitreg.yaml applies only once merged.
    """
    sha = _on_main(repo, {"gitreg.yaml": config}, "Break the policy")
    write(repo, "gitreg.yaml", CONFIG)  # the pull request repairs it...
    _promote_fraud(repo)  # ...and promotes what the strict policy would refuse

    result = _json(gate.ok("validate", "--base", "main", "--format", "json"))

    assert result["findings"] == []
    assert result["notes"] == [
        {
            "path": "",
            "line": None,
            "code": "BASE_POLICY_DEFAULT",
            "message": DEFAULT_POLICY_NOTE.format(sha=sha[:12], why=why),
        },
        {
            "path": "gitreg.yaml",
            "line": 1,
            "code": "BASE_POLICY_USED",
            "message": USED_NOTE.format(sha=sha[:12]),
        },
    ]


def test_the_base_policy_judges_even_where_the_change_edits_it(repo, gate):
    """Relaxing gitreg.yaml in the same pull request does not let a promotion past it."""
    sha = git(repo, "rev-parse", "main").strip()
    write(repo, "gitreg.yaml", CONFIG.replace(REQUIREMENTS, "  requirements: {}\n"))
    _promote_fraud(repo)

    result = _json(gate.fails(1, "validate", "--base", "main", "--format", "json"))

    assert [f["code"] for f in result["findings"]] == ["REQUIREMENT_UNMET"]
    assert [(n["path"], n["line"], n["code"], n["message"]) for n in result["notes"]] == [
        ("gitreg.yaml", 1, "BASE_POLICY_USED", USED_NOTE.format(sha=sha[:12]))
    ]


def test_a_base_with_no_shared_history_is_compared_as_it_is_with_a_note(repo, gate):
    """A shallow clone has no merge base: the gate compares with the base itself and says how
    to get the history that would make it compare with the merge base."""
    git(repo, "switch", "-q", "--orphan", "other")
    write(repo, "gitreg.yaml", CONFIG)
    write(repo, "models/churn.yaml", CHURN)
    write(repo, "models/fraud.yaml", FRAUD)
    commit(repo, "The same registry, unrelated history")
    git(repo, "switch", "-q", "pr")
    _promote_fraud(repo)

    result = _json(gate.fails(1, "validate", "--base", "other", "--format", "json"))

    assert [(f["path"], f["code"]) for f in result["findings"]] == [
        ("models/fraud.yaml", "REQUIREMENT_UNMET")
    ], "compared with other itself: only fraud changed"
    assert result["notes"] == [
        {
            "path": "",
            "line": None,
            "code": "NO_MERGE_BASE",
            "message": "other and HEAD share no history here (a shallow clone?); compared with "
            "other itself: fetch more history (actions/checkout with fetch-depth: 0) if that "
            "is wrong",
        }
    ]


def test_paths_limit_a_change_to_those_of_its_files(repo, gate):
    """validate --base main PATH judges only the named files, and only if the change has them."""
    edit(repo, "models/churn.yaml", "next_version: 4", "next_version: 3")
    _promote_fraud(repo)
    base = ("validate", "--base", "main", "--format", "json")

    fraud = _json(gate.fails(1, *base, "models/fraud.yaml", cwd=repo))
    assert [f["code"] for f in fraud["findings"]] == ["REQUIREMENT_UNMET"]
    assert fraud["checked"] == 1
    both = _json(gate.fails(1, *base, "models/churn.yaml", "models/fraud.yaml", cwd=repo))
    assert both["checked"] == 2
    git(repo, "checkout", "-q", "models/churn.yaml")
    unchanged = _json(gate.ok(*base, "models/churn.yaml", cwd=repo))
    assert (unchanged["checked"], unchanged["findings"]) == (0, []), (
        "a named file the change does not touch is not part of it"
    )


def test_a_manifest_replaced_by_a_link_is_one_finding_not_a_delete(repo, gate):
    """A link where a manifest was is refused as what it is; the model is not judged deleted."""
    (repo / "models" / "fraud.yaml").unlink()
    os.symlink("churn.yaml", repo / "models" / "fraud.yaml")

    result = _json(gate.fails(1, "validate", "--base", "main", "--format", "json"))

    got = [(f["path"], f["line"], f["code"], f["message"]) for f in result["findings"]]
    message = NOT_REGULAR.format(path="models/fraud.yaml", what="a symbolic link")
    assert got == [("models/fraud.yaml", None, "NOT_A_REGULAR_FILE", message)]


def test_validate_from_inside_the_registry_annotates_paths_from_its_top(repo, gate):
    """Run from models/ (or anywhere), the base is read from the registry's top and GitHub
    annotations name files relative to it, so they land on the pull request's files."""
    edit(repo, "models/churn.yaml", "next_version: 4", "next_version: 3")
    _promote_fraud(repo)
    inside = repo / "models"

    result = _json(gate.fails(1, "validate", "--base", "main", "--format", "json", cwd=inside))

    got = [(f["path"], f["code"]) for f in result["findings"]]
    assert got == [
        ("models/churn.yaml", "NEXT_VERSION"),
        ("models/churn.yaml", "NEXT_VERSION_DECREASED"),
        ("models/fraud.yaml", "REQUIREMENT_UNMET"),
    ], "the base's gitreg.yaml and manifests are read at the registry's top"
    assert result["notes"] == []
    for args in (("--base", "main"), ()):
        annotations = gate.fails(1, "validate", "--format", "github", *args, cwd=inside).stdout
        assert "::error file=models/churn.yaml,line=6," in annotations, args


def test_findings_are_listed_by_file_then_line_then_code(repo, gate):
    """The report's order is stable: file, then line (a finding without one first), then code.

    Here one file has a finding without a line and two on line 1 whose codes sort on either
    side of it.
    """
    _on_main(repo, {"models/.retired.yaml": "retired:\n  old:\n    next_version: 3\n"}, "Retire")
    write(repo, "models/.retired.yaml", "retired: {other: {next_version: 1.5}}\n")

    result = _json(gate.fails(1, "validate", "--base", "main", "--format", "json"))

    got = [(f["path"], f["line"], f["code"]) for f in result["findings"]]
    assert got == [
        ("models/.retired.yaml", None, "RETIREMENT_DROPPED"),
        ("models/.retired.yaml", 1, "NOT_AN_INTEGER"),
        ("models/.retired.yaml", 1, "SCHEMA"),
        ("models/.retired.yaml", 1, "SCHEMA"),
    ]


CASE_MESSAGE = (
    "{path} and {other} differ only in case; a checkout on macOS or Windows would merge "
    "them, so rename one"
)


def test_what_a_change_adds_is_judged_as_the_whole_validate_judges_it(repo, gate):
    """validate --base gives a file the same findings, lines and messages as validate does:
    gitreg.yaml's schema with its line, a case clash, a directory in models/, and nothing
    for models/.gitkeep, whatever it holds."""
    edit(repo, "gitreg.yaml", "  protected: [Production]", "  protected: [Prod]")
    write(repo, "models/Churn.yaml", CHURN.replace("name: churn", "name: Churn"))
    write(repo, "models/sub/x.yaml", FRAUD)
    write(repo, "models/.gitkeep", "")
    protected = line_of(repo, "gitreg.yaml", "protected: [Prod]")

    result = _json(gate.fails(1, "validate", "--base", "main", "--format", "json"))

    got = [(f["path"], f["line"], f["code"], f["message"]) for f in result["findings"]]
    assert [g[:3] for g in got] == [
        ("gitreg.yaml", protected, "SCHEMA"),
        ("models/Churn.yaml", None, "NAME_CASE_CONFLICT"),
        ("models/sub", None, "STRAY_FILE"),
    ]
    assert got[1][3] == CASE_MESSAGE.format(path="models/Churn.yaml", other="models/churn.yaml")
    assert got[2][3] == (
        "models/sub is a directory; models/ holds only <model name>.yaml manifests: move it "
        "out of models/"
    )


def test_a_syntax_error_in_gitreg_yaml_is_a_finding_with_its_line(repo, gate):
    """A broken gitreg.yaml in a pull request is reported where it breaks, never a crash."""
    edit(repo, "gitreg.yaml", "  protected: [Production]", "  protected: [Production")

    result = _json(gate.fails(1, "validate", "--base", "main", "--format", "json"))

    got = [(f["path"], f["code"]) for f in result["findings"]]
    assert got == [("gitreg.yaml", "YAML_SYNTAX")]
    assert result["findings"][0]["line"] is not None


def test_audit_names_a_directory_in_models_as_validate_does(repo, gate):
    """A commit that puts a manifest in a subdirectory of models/ is told the directory is
    the stray entry, in the words validate uses, though audit reads no work tree."""
    git(repo, "switch", "-q", "main")
    write(repo, "models/sub/x.yaml", FRAUD)
    commit(repo, "Nested manifest")

    report = _json(gate.fails(1, "audit", "--since", "HEAD~1", "--format", "json"))

    assert [v["finding"] for v in report["violations"]] == [
        {
            "path": "models/sub",
            "line": None,
            "code": "STRAY_FILE",
            "message": "models/sub is a directory; models/ holds only <model name>.yaml "
            "manifests: move it out of models/",
        }
    ]


@pytest.mark.parametrize("stray", ["models/notes.txt", "models/sub/x.yaml"])
def test_a_change_that_removes_a_stray_entry_from_models_passes(repo, gate, stray):
    """Deleting what does not belong in models/ is the fix validate asks for, not a finding."""
    git(repo, "switch", "-q", "main")
    write(repo, stray, FRAUD)
    commit(repo, "A stray entry pushed past the gate")
    git(repo, "switch", "-q", "-C", "pr")
    git(repo, "rm", "-rq", stray.split("/")[0] + "/" + stray.split("/")[1])
    commit(repo, "Remove the stray entry")

    assert _json(gate.ok("validate", "--base", "main", "--format", "json"))["findings"] == []
