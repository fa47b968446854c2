"""A CLI write without PyYAML: gitreg.yaml as the safe loader parsed it, remembered (#26).

The fast path of ``register``, ``transition`` and ``alias`` (``gitreg._entry_write``)
keeps, in ``.git/gitreg/yaml.marshal``, what the safe loader made of gitreg.yaml, under the
SHA-256 of its text, and the implicit resolvers of PyYAML's dumper (what the in-place
patcher asks). These tests run the console script's module in fresh processes, as a CI
job runs it, and check that: the next write loads neither PyYAML nor the modules a write
does not use; an edited gitreg.yaml is parsed again and its new policy judges the write; a
broken one is refused exactly as before; a damaged memo is ignored; and what the memo
gives is what the loader and PyYAML give. Nothing here times anything (bench/ does).
"""

from __future__ import annotations

import marshal
import subprocess
import sys
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core import manifest, yaml_memo
from gitreg.core._safe_yaml import load as safe_load
from gitreg.gate.scaffold import init_registry
from tests._helpers import Cli, git, run_probed

# The console script's module in a fresh interpreter; an atexit probe (the fast exit runs
# the callbacks) reports the modules the command loaded.

# What a plain write on a registry without a remote never needs once the memo is warm:
# PyYAML and its loader, and what only other commands (or an artifact gitreg can read, a
# remote, a retired name, notifications to deliver, comments) use. A transition reads the
# model's card (a requirement may name its sections); a register or an alias does not.
NOT_WITH_A_WARM_MEMO = (
    "yaml",
    "gitreg.core._safe_yaml",
    "gitreg.integrations.artifacts.hashing",
    "gitreg.core.digest",
    "gitreg.core.comment",
    "gitreg.core.retired",
    "gitreg.core.address",
    "gitreg.store._net",
    "gitreg.store.group",
    "gitreg.store.reading",
    "gitreg.store.verdict",
    # The write path's records are core.record's: no dataclasses, and so no inspect (with
    # ast, dis, tokenize); what a write on a small registry hashes is small, so no OpenSSL
    # either: CPython's own SHA modules do it (core.sha, #26).
    "dataclasses",
    "inspect",
    "hashlib",
    "_hashlib",
    # The crash journal is written without json (store.worktree.journal_text, #26).
    "json",
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A registry without a remote: churn 1 in Staging, @champion on it."""
    path = tmp_path / "registry"
    init_registry(path)
    registry = Registry(path)
    registry.create_model_version("churn", "s3://churn/1")
    registry.create_model_version("churn", "s3://churn/2")
    registry.transition_model_version_stage("churn", 1, "Staging")
    registry.set_registered_model_alias("churn", "champion", 1)
    return path


def test_a_write_after_the_first_loads_no_yaml_and_nothing_it_does_not_use(repo: Path) -> None:
    first, loaded = run_probed(repo, "alias", "churn", "first", "2")
    assert first.returncode == 0, first.stderr
    assert "yaml" in loaded  # nothing remembered yet: the loader parsed gitreg.yaml
    assert (repo / ".git" / "gitreg" / yaml_memo.MEMO_FILE).is_file()
    for args in (
        ["register", "churn", "s3://churn/3"],
        ["transition", "churn", "3", "Staging"],
        ["alias", "churn", "challenger", "3"],
    ):
        proc, loaded = run_probed(repo, *args)
        assert proc.returncode == 0, proc.stderr
        assert "gitreg.services.flat" in loaded  # the write path this is about
        assert sorted(m for m in NOT_WITH_A_WARM_MEMO if m in loaded) == [], args
        assert ("gitreg.core.card" in loaded) == (args[0] == "transition")
    assert (
        "cannot read the artifact: no AWS credentials"
        in run_probed(repo, "register", "churn", "s3://churn/4")[0].stderr
    )  # the note still comes from the S3 reader, which did not need hashing
    model = Registry(repo).get_registered_model("churn")
    assert model.aliases == {"champion": 1, "first": 2, "challenger": 3}
    assert [v.current_stage.value for v in model.versions] == ["Staging", "None", "Staging", "None"]
    assert git(repo, "status", "--porcelain") == ""


def test_an_edited_gitreg_yaml_is_parsed_again_and_its_policy_judges_the_write(
    repo: Path,
) -> None:
    assert run_probed(repo, "alias", "churn", "warm", "2")[0].returncode == 0  # memo: the old text
    config = repo / "gitreg.yaml"
    config.write_text(
        config.read_text().replace(
            "  requirements: {}\n", "  requirements:\n    Archived:\n      description: true\n"
        )
    )
    git(repo, "commit", "-qam", "Archiving needs a description")
    refused, loaded = run_probed(repo, "transition", "churn", "2", "Archived")
    assert refused.returncode == 1
    assert "cannot enter Archived" in refused.stderr
    assert "yaml" in loaded  # a text the memo did not know: the safe loader read it
    assert Registry(repo).get_model_version("churn", 2).current_stage.value == "None"
    again, loaded = run_probed(repo, "transition", "churn", "2", "Archived")
    assert (again.returncode, again.stderr) == (refused.returncode, refused.stderr)
    assert "yaml" not in loaded  # the new text is remembered now
    assert run_probed(repo, "transition", "churn", "1", "Archived", "--direct")[0].returncode == 1


def test_a_broken_gitreg_yaml_is_refused_as_without_the_memo(repo: Path, tmp_path: Path) -> None:
    assert run_probed(repo, "alias", "churn", "warm", "2")[0].returncode == 0
    config = repo / "gitreg.yaml"
    config.write_text(config.read_text() + "policy: [unclosed\n")
    git(repo, "commit", "-qam", "A broken policy")
    before = git(repo, "rev-parse", "HEAD")
    fast, _ = run_probed(repo, "alias", "churn", "x", "2")
    click = Cli().run("alias", "churn", "x", "2", "--repo", str(repo))
    assert fast.returncode == click.exit_code == 1
    assert fast.stderr == click.stderr
    assert "gitreg.yaml" in fast.stderr
    assert git(repo, "rev-parse", "HEAD") == before  # nothing written


@pytest.mark.parametrize("damage", [b"", b"not marshal", marshal.dumps([1, 2]), b"\xff" * 64])
def test_a_damaged_memo_is_ignored_and_replaced(repo: Path, damage: bytes) -> None:
    memo = repo / ".git" / "gitreg" / yaml_memo.MEMO_FILE
    memo.parent.mkdir(parents=True, exist_ok=True)
    memo.write_bytes(damage)
    proc, loaded = run_probed(repo, "alias", "churn", "x", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "churn@x -> version 2\n"
    assert "yaml" in loaded
    saved = marshal.loads(memo.read_bytes())
    assert set(saved) == {"texts", "resolvers"}
    assert Registry(repo).get_registered_model("churn").aliases["x"] == 2


CONFIGS = [
    "schema_version: 1\n",
    "policy:\n  stages: [None, Staging]\n  protected: [Staging]\nregistry: {push: never}\n",
    "notifications:\n  subscriptions:\n    - {url: 'https://hooks.example.com/x', events: [all]}\n",
    "links:\n  run: 'https://mlflow.example.com/#/runs/{run_id}'\nx: [1, 2.5, true, null, é]\n",
    "a: &x {b: 1}\nc: *x\n",
]


@pytest.mark.parametrize("text", CONFIGS)
def test_what_the_memo_gives_is_what_the_loader_gives_and_never_shared(text: str) -> None:
    expected = safe_load(text, "gitreg.yaml")
    first = manifest.load(text.encode(), "gitreg.yaml")  # parsed, and remembered
    assert yaml_memo.recall(text.encode(), "gitreg.yaml") == (True, expected)
    again = manifest.load(text.encode(), "gitreg.yaml")
    assert first == again == expected
    again["mutated"] = True  # a caller's change never reaches the next caller
    assert manifest.load(text.encode(), "gitreg.yaml") == expected
    assert yaml_memo.recall(text.encode(), "models/churn.yaml") == (False, None)  # only config


# Plain scalars the patcher asks about: numbers, booleans, nulls, timestamps, merge and
# value keys, and text that only looks like them.
SCALARS = [
    "1", "-1", "+12", "0x1F", "0o17", "1_000", "1.5", "0.8212", "1e3", ".inf", "-.Inf", ".NaN",
    "true", "True", "yes", "No", "off", "y", "n", "null", "Null", "~", "", "<<", "=",
    "2026-12-06", "2026-12-06T21:48:08.715Z", "2026-12-06 21:48:08", "1:20", "190:20:30",
    "s3://bench/x", "m-00001", "Staging", "champion", "2786eabb610971fd", "v1", "1.2.3",
]  # fmt: skip


def _tags_in_fresh_process(state: Path, block_yaml: bool) -> str:
    """``implicit_tag`` of each of SCALARS in a fresh process that read the memo in ``state``."""
    code = (
        ("import sys; sys.modules['yaml'] = None\n" if block_yaml else "import sys\n")
        + "from pathlib import Path\n"
        "from gitreg.core import manifest, yaml_memo\n"
        "yaml_memo.read_file(Path(sys.argv[1]))\n"
        "print(repr([manifest.implicit_tag(s) for s in eval(sys.argv[2])]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(state), repr(SCALARS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_remembered_resolvers_tag_every_scalar_as_pyyaml_does(repo: Path) -> None:
    expected = [manifest.implicit_tag(s) for s in SCALARS]
    assert len(set(expected)) >= 5  # int, float, bool, null, timestamp, str, ...
    assert run_probed(repo, "alias", "churn", "warm", "2")[0].returncode == 0  # the memo is written
    state = repo / ".git" / "gitreg"
    # PyYAML cannot even be imported there: the patterns come from the memo.
    assert _tags_in_fresh_process(state, block_yaml=True) == repr(expected)


def test_resolvers_remembered_for_another_pyyaml_are_not_used(repo: Path) -> None:
    """A memo written by another PyYAML (reinstalled, upgraded) is read again from PyYAML."""
    state = repo / ".git" / "gitreg"
    state.mkdir(parents=True, exist_ok=True)
    wrong = [(c, "tag:yaml.org,2002:int", ".*", 0) for c in "abcdefghijklmnopqrstuvwxyz"]
    (state / yaml_memo.MEMO_FILE).write_bytes(
        marshal.dumps({"texts": {}, "resolvers": (("elsewhere/resolver.py", 1, 2, 3), wrong)})
    )
    expected = [manifest.implicit_tag(s) for s in SCALARS]
    assert _tags_in_fresh_process(state, block_yaml=False) == repr(expected)
    proc, _ = run_probed(repo, "alias", "churn", "staging-candidate", "2")
    assert proc.returncode == 0, proc.stderr
    assert "  staging-candidate: 2\n" in git(repo, "show", "HEAD:models/churn.yaml")
    assert marshal.loads((state / yaml_memo.MEMO_FILE).read_bytes())["resolvers"][1] != wrong


def test_a_text_parsed_by_another_gitreg_is_parsed_again(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The memo's keys name who parsed: what another gitreg's loader made of a text is not
    taken on trust by this one (and what this one's made of it is, as the control shows)."""
    import gitreg.core.version

    assert run_probed(repo, "alias", "churn", "warm", "2")[0].returncode == 0
    memo = repo / ".git" / "gitreg" / yaml_memo.MEMO_FILE
    text = (repo / "gitreg.yaml").read_bytes()
    forged = marshal.dumps({"policy": {"stages": "not a list"}})

    def plant(key: bytes) -> None:
        saved = marshal.loads(memo.read_bytes())
        saved["texts"] = {key: forged}
        memo.write_bytes(marshal.dumps(saved))

    monkeypatch.setattr(gitreg.core.version, "__version__", "0.0.0-another")
    yaml_memo._loader.cache_clear()
    plant(yaml_memo._key(text))  # as another gitreg would have keyed it
    monkeypatch.undo()
    yaml_memo._loader.cache_clear()
    proc, loaded = run_probed(repo, "alias", "churn", "again", "2")
    assert proc.returncode == 0, proc.stderr
    assert "yaml" in loaded  # not this loader's key: parsed again
    plant(yaml_memo._key(text))  # the control: under this gitreg's key it is believed
    assert run_probed(repo, "alias", "churn", "once-more", "2")[0].returncode == 1
