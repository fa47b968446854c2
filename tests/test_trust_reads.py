"""Reads never serve an invalid state, and can pin the verified tip (#22, the read side).

A manifest with two versions in Production (or an alias to a missing version, a field the
schema does not know, YAML that does not parse) is refused by every reader with the one
finding ``gitreg validate`` prints, exit 1, while the other models stay readable: committed
(a direct push) or only edited in the work tree. ``refs/gitreg/verified`` (the last commit a
clean audit accepted, set here with plain ``git update-ref``) can be pinned by the CLI, the
API and fleet reads; a bare repository stands in for GitHub.
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitreg import Registry, __version__
from gitreg._entry import resolve_fast
from gitreg.core import validate
from gitreg.core.errors import BadRef, InvalidManifest, InvalidParameter
from gitreg.services.remote_registry import RemoteRegistry
from gitreg.store import answers
from tests._helpers import Cli, git, head, snapshot

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "models/churn.yaml"
VERIFIED = "refs/gitreg/verified"


@pytest.fixture(autouse=True)
def fleet_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def seed(root: Path) -> Registry:
    """churn: version 1 in Production and @champion, version 2 in None; fraud: version 1."""
    registry = Registry(root)
    registry.create_model_version("churn", "s3://churn/1")
    registry.create_model_version("churn", "s3://churn/2")
    registry.transition_model_version_stage("churn", 1, "Production")
    registry.set_registered_model_alias("churn", "champion", 1)
    registry.create_model_version("fraud", "s3://fraud/1")
    return registry


@pytest.fixture
def churn(registry_repo: Path) -> Path:
    seed(registry_repo)
    assert Registry(registry_repo).resolve("models:/churn@champion") == "s3://churn/1"
    return registry_repo  # the full read above left an answer for the fast path


def edit(root: Path, old: str, new: str, path: str = MANIFEST) -> None:
    text = (root / path).read_text()
    assert old in text, f"{old!r} not in {path}"
    (root / path).write_text(text.replace(old, new, 1))


def line_of(root: Path, needle: str, after: str) -> int:
    lines = (root / MANIFEST).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i in range(start, len(lines)) if needle in lines[i]) + 1


def second_production(root: Path, commit: bool) -> int:
    """Put version 2 in Production beside version 1; the line the finding must name."""
    edit(root, "stage: None", "stage: Production")
    if commit:  # as a direct push lands it
        git(root, "commit", "-qam", "Hand edit: version 2 to Production")
    return line_of(root, "stage: Production", "version: 2")


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in stderr
    return lines[0]


# ---------------------------------------------------------- invalid manifests are refused


@pytest.mark.parametrize("commit", [True, False], ids=["pushed", "work-tree"])
def test_resolve_of_two_production_versions_exits_1_naming_the_file(churn, commit, capsys):
    line = second_production(churn, commit)
    before = snapshot(churn)
    where = f"{MANIFEST}:{line}: MULTIPLE_PRODUCTION: "

    slow = Cli(churn).fails(1, "resolve", "models:/churn/Production")
    assert where in one_error_line(slow.stderr)
    assert slow.stdout == ""
    assert resolve_fast(["resolve", "models:/churn@champion", "--repo", str(churn)]) == 1
    fast = capsys.readouterr()
    assert fast.out == ""
    assert where in one_error_line(fast.err)
    assert fast.err == slow.stderr  # the fast path and click say the same

    assert Cli(churn).ok("resolve", "models:/fraud/1").stdout == "s3://fraud/1\n"
    assert resolve_fast(["resolve", "models:/fraud/1", "--repo", str(churn)]) == 0
    assert capsys.readouterr().out == "s3://fraud/1\n"
    assert snapshot(churn) == before, "a refused read changed the repository"


def test_the_installed_command_refuses_too(churn):
    """The console script, as a deployment job runs it, with the answer cache warm."""
    second_production(churn, commit=True)
    env = {**os.environ, "GITREG_REPO": str(churn)}
    run = [sys.executable, "-c", "from gitreg._entry import main; main()"]
    bad = subprocess.run([*run, "resolve", "models:/churn@champion"], env=env, text=True,
                         capture_output=True, check=False)  # fmt: skip
    good = subprocess.run([*run, "resolve", "models:/fraud/1"], env=env, text=True,
                          capture_output=True, check=False)  # fmt: skip
    assert (bad.returncode, bad.stdout) == (1, "")
    assert f"{MANIFEST}:" in one_error_line(bad.stderr)
    assert (good.returncode, good.stdout) == (0, "s3://fraud/1\n")


@pytest.mark.parametrize("commit", [True, False], ids=["pushed", "work-tree"])
def test_every_api_read_of_the_model_raises_the_finding(churn, commit):
    line = second_production(churn, commit)
    registry = Registry(churn)
    reads = [
        lambda: registry.resolve("models:/churn/Production"),
        lambda: registry.get_version_for_uri("models:/churn@champion"),
        lambda: registry.get_registered_model("churn"),
        lambda: registry.get_model_version("churn", 1),
        lambda: registry.get_model_version_by_alias("churn", "champion"),
        lambda: registry.get_latest_versions("churn", ["Production"]),
        lambda: registry.get_model_version_download_uri("churn", 1),
    ]
    for read in reads:
        with pytest.raises(InvalidManifest) as caught:
            read()
        finding = caught.value.findings[0]
        assert (finding.path, finding.line, finding.code) == (MANIFEST, line, "MULTIPLE_PRODUCTION")
        assert caught.value.error_code == "INVALID_STATE"
    assert registry.get_model_version("fraud", 1).source == "s3://fraud/1"


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("champion: 1", "champion: 7", "ALIAS_DANGLING"),
        ("next_version: 3", "next_version: 3\nowner: mallory", "SCHEMA"),
        ("next_version: 3", "next_version: 2", "NEXT_VERSION"),
        ("next_version: 3", "next_version: [3", "YAML_SYNTAX"),
    ],
)
def test_any_broken_invariant_or_schema_is_refused_alike(churn, old, new, code):
    edit(churn, old, new)
    result = Cli(churn).fails(1, "resolve", "models:/churn/1")
    assert f"{code}: " in one_error_line(result.stderr)
    assert MANIFEST in result.stderr
    listed = Cli(churn).fails(1, "models", "--json")
    assert [m["name"] for m in json.loads(listed.stdout)["registered_models"]] == ["fraud"]


@pytest.mark.parametrize(("old", "new"), [("champion: 1", "7: 1"), ("next_version: 3", "on: 3")])
def test_a_manifest_the_checks_cannot_judge_is_refused_not_crashed(churn, old, new, capsys):
    """A key YAML reads as a number or a boolean: whatever the checks make of it, a read
    fails closed with exit 1 and one line naming the file, never exit 3."""
    edit(churn, old, new)
    assert MANIFEST in one_error_line(Cli(churn).fails(1, "resolve", "models:/churn/1").stderr)
    assert resolve_fast(["resolve", "models:/churn/1", "--repo", str(churn)]) == 1
    assert MANIFEST in one_error_line(capsys.readouterr().err)
    assert MANIFEST in one_error_line(Cli(churn).fails(1, "versions").stderr)
    assert Cli(churn).ok("resolve", "models:/fraud/1").stdout == "s3://fraud/1\n"


def test_show_and_latest_refuse_and_the_other_model_still_shows(churn):
    second_production(churn, commit=True)
    for args in (["show", "churn"], ["show", "churn", "1"], ["latest", "churn"]):
        assert "MULTIPLE_PRODUCTION" in one_error_line(Cli(churn).fails(1, *args).stderr)
    assert "s3://fraud/1" in Cli(churn).ok("show", "fraud").stdout


def test_listings_leave_the_invalid_model_out_name_it_and_exit_1(churn):
    line = second_production(churn, commit=False)
    models = Cli(churn).fails(1, "models")
    assert "fraud" in models.stdout
    assert "churn" not in models.stdout
    refusal = one_error_line(models.stderr)
    assert refusal.startswith(f"Error: {MANIFEST}:{line}: MULTIPLE_PRODUCTION: ")
    assert refusal.endswith(", so churn is not listed")

    versions = Cli(churn).fails(1, "versions", "--json")
    data = json.loads(versions.stdout)
    assert [(v["name"], v["version"]) for v in data["model_versions"]] == [("fraud", "1")]
    [invalid] = data["invalid_models"]
    assert (invalid["name"], invalid["path"]) == ("churn", MANIFEST)
    assert invalid["findings"][0]["line"] == line
    assert json.loads(versions.stderr)["error_code"] == "INVALID_STATE"

    only_fraud = Cli(churn).ok("versions", "--filter", "name = 'fraud'")  # churn is not asked
    assert "s3://fraud/1" in only_fraud.stdout

    found = Registry(churn).search_registered_models()
    assert [m.name for m in found] == ["fraud"]
    assert [(r.name, r.findings[0].code) for r in found.refused] == [
        ("churn", "MULTIPLE_PRODUCTION")
    ]


def test_the_write_that_fixes_it_still_works_and_reads_resume(churn):
    """Refusing reads must not lock the model: the fix the finding names goes through."""
    second_production(churn, commit=True)
    Cli(churn).ok("transition", "churn", "1", "Archived")
    assert Cli(churn).ok("resolve", "models:/churn/Production").stdout == "s3://churn/2\n"


def test_a_read_at_an_earlier_commit_serves_what_was_valid_then(churn):
    good = head(churn)
    second_production(churn, commit=True)
    assert Cli(churn).ok("resolve", "models:/churn/Production", "--at", good).stdout == (
        "s3://churn/1\n"
    )
    Cli(churn).fails(1, "resolve", "models:/churn/Production", "--at", "HEAD")


# ------------------------------------------------------------- the caches never vouch for it


def test_the_answer_cache_never_answers_for_an_invalid_manifest(churn):
    assert answers.lookup(str(churn), None, "models:/churn@champion") == "s3://churn/1"
    second_production(churn, commit=False)
    assert answers.lookup(str(churn), None, "models:/churn@champion") is None
    with pytest.raises(InvalidManifest):
        Registry(churn).resolve("models:/churn@champion")
    assert answers.lookup(str(churn), None, "models:/churn@champion") is None


def test_an_answer_recorded_before_reads_were_checked_is_ignored(churn, capsys):
    """A slot of answers' first format was written for any content that parsed: an
    invalid manifest's included. The new format never takes its word (#22)."""
    second_production(churn, commit=False)
    text = (churn / MANIFEST).read_bytes()
    slots = churn / ".git" / "gitreg" / "answers"
    [slot] = slots.iterdir()
    table = {"@champion": "s3://from/an/old/slot", "/stage:production": "s3://from/an/old/slot"}
    slot.write_bytes(marshal.dumps((1, "churn", MANIFEST, answers.blob_id(text), table)))
    assert resolve_fast(["resolve", "models:/churn@champion", "--repo", str(churn)]) == 1
    assert "s3://from/an/old/slot" not in capsys.readouterr().out


def test_the_answer_cache_names_the_checks_it_passed(churn, monkeypatch):
    """``answers.CHECKS`` mirrors the validator's version; while they differ nothing is
    recorded, so a changed check never finds an old answer vouching for a manifest."""
    assert validate.CHECKS_VERSION == answers.CHECKS, (
        "the checks changed: set answers.CHECKS to validate.CHECKS_VERSION"
    )
    monkeypatch.setattr(validate, "CHECKS_VERSION", answers.CHECKS + 1)
    for slot in (churn / ".git" / "gitreg" / "answers").iterdir():
        slot.unlink()
    assert Registry(churn).resolve("models:/churn@champion") == "s3://churn/1"
    assert answers.lookup(str(churn), None, "models:/churn@champion") is None


def test_an_answer_vouched_by_the_checks_before_the_pattern_fix_is_not_served(churn, capsys):
    """Checks 5 let a timestamp ending in a line break through (Python's ``$``); an answer
    they vouched for must not outlive the fix: the record names checks 5 and is ignored."""
    import re

    text = (churn / MANIFEST).read_text()
    stamp = re.search(r"created_at: '([0-9T:.Z-]+)'", text)
    assert stamp is not None
    edit(churn, stamp.group(0), f'created_at: "{stamp.group(1)}\\n"', MANIFEST)
    git(churn, "commit", "-qam", "A timestamp with a final line break")
    oid = answers.blob_id((churn / MANIFEST).read_bytes())
    [slot] = [s for s in (churn / ".git" / "gitreg" / "answers").iterdir()
              if marshal.loads(s.read_bytes())[3] == "churn"]  # fmt: skip
    table = {"@champion": "s3://vouched/by/checks/5"}
    slot.write_bytes(marshal.dumps((3, __version__, 5, "churn", MANIFEST, oid, table)))
    assert answers.lookup(str(churn), None, "models:/churn@champion") is None
    assert resolve_fast(["resolve", "models:/churn@champion", "--repo", str(churn)]) == 1
    out = capsys.readouterr()
    assert "s3://vouched" not in out.out
    assert "created_at" in out.err


def test_whole_registry_verdicts_are_kept_by_path_and_blob(churn):
    second_production(churn, commit=False)
    Registry(churn).search_model_versions()
    stamp, entries = marshal.loads((churn / ".git" / "gitreg" / "verdicts.marshal").read_bytes())
    ids = {p: git(churn, "hash-object", p).strip() for p in (MANIFEST, "models/fraud.yaml")}
    assert entries[f"models/fraud.yaml\0{ids['models/fraud.yaml']}"] == ()
    [finding] = entries[f"{MANIFEST}\0{ids[MANIFEST]}"]
    assert finding[:3] == (MANIFEST, line_of(churn, "stage: Production", "version: 2"),
                           "MULTIPLE_PRODUCTION")  # fmt: skip
    assert int(stamp.split(":")[1]) == validate.CHECKS_VERSION
    git(churn, "checkout", "--", MANIFEST)  # back to valid content: served again
    assert [m.name for m in Registry(churn).search_registered_models()] == ["churn", "fraud"]


# ---------------------------------------------------------------------- the verified tip


@pytest.fixture
def verified(churn: Path) -> Path:
    """churn as a clean audit accepted it, then two direct pushes the audit would flag: a
    valid but unreviewed move of @champion, then a second version in Production."""
    git(churn, "update-ref", VERIFIED, head(churn))
    edit(churn, "champion: 1", "champion: 2")
    git(churn, "commit", "-qam", "Direct push: @champion to version 2")
    second_production(churn, commit=True)
    return churn


def test_resolve_verified_serves_the_last_good_state(verified, capsys):
    uri = "models:/churn@champion"
    assert Cli(verified).ok("resolve", uri, "--verified").stdout == "s3://churn/1\n"
    assert resolve_fast(["resolve", uri, "--verified", "--repo", str(verified)]) == 0
    assert capsys.readouterr().out == "s3://churn/1\n"
    assert Registry(verified, verified=True).resolve(uri) == "s3://churn/1"
    assert Registry(verified, verified=True).at == git(verified, "rev-parse", VERIFIED).strip()
    Cli(verified).fails(1, "resolve", uri)  # the tip is refused
    shown = json.loads(Cli(verified).ok("show", "churn", "--verified", "--json").stdout)
    assert shown["registered_model"]["aliases"] == [{"alias": "champion", "version": "1"}]
    assert "churn" in Cli(verified).ok("models", "--verified").stdout


def test_at_verified_is_the_verified_tip_never_a_branch_of_that_name(verified, capsys):
    """The issue's spelling, Registry(at="verified"), and --at verified pin the tip too; a
    branch called verified cannot stand in for it (it is refs/heads/verified)."""
    git(verified, "branch", "verified", "HEAD")  # a branch at the broken tip
    uri = "models:/churn@champion"
    assert Registry(verified, at="verified").resolve(uri) == "s3://churn/1"
    assert Cli(verified).ok("resolve", uri, "--at", "verified").stdout == "s3://churn/1\n"
    assert resolve_fast(["resolve", uri, "--at", "verified", "--repo", str(verified)]) == 0
    assert capsys.readouterr().out == "s3://churn/1\n"
    Cli(verified).fails(1, "resolve", uri, "--at", "refs/heads/verified")


def test_without_a_verified_tip_a_pinned_read_says_how_to_get_one(churn, capsys):
    uri = "models:/churn@champion"
    slow = Cli(churn).fails(2, "resolve", uri, "--verified")
    message = one_error_line(slow.stderr)
    assert VERIFIED in message
    assert "gitreg audit" in message
    assert "git fetch" in message
    assert resolve_fast(["resolve", uri, "--verified", "--repo", str(churn)]) == 2
    assert capsys.readouterr().err == slow.stderr
    with pytest.raises(BadRef):
        Registry(churn, verified=True)


def test_verified_with_at_or_fetch_is_a_usage_error(churn):
    assert "--verified" in one_error_line(
        Cli(churn).fails(2, "resolve", "models:/churn/1", "--verified", "--at", "HEAD").stderr
    )
    assert "--remote" in one_error_line(
        Cli(churn).fails(2, "show", "churn", "--verified", "--fetch").stderr
    )
    assert resolve_fast(["resolve", "models:/churn/1", "--verified", "--at", "HEAD"]) is None
    with pytest.raises(InvalidParameter):
        Registry(churn, at="HEAD", verified=True)


# ------------------------------------------------------------------------- fleet reads


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    """A bare repository standing in for GitHub, served as it serves partial clones, and
    the clone that pushes to it; the remote's verified tip is the seeded commit."""
    from gitreg.gate.scaffold import init_registry

    writer = tmp_path / "writer"
    init_registry(writer)
    seed(writer)
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(bare, "config", "uploadpack.allowFilter", "true")
    git(bare, "config", "uploadpack.allowAnySHA1InWant", "true")
    git(writer, "push", "-q", str(bare), "main")
    return bare, writer


def push(writer: Path, bare: Path, message: str) -> None:
    git(writer, "commit", "-qam", message)
    git(writer, "push", "-q", str(bare), "main")


def mark_verified(writer: Path, bare: Path) -> None:
    git(writer, "push", "-q", "-f", str(bare), f"HEAD:{VERIFIED}")


def set_read(writer: Path, mode: str) -> None:
    config = writer / "gitreg.yaml"
    text = config.read_text()
    if "  read: " in text:
        text = text.replace("  read: tip", f"  read: {mode}").replace(
            "  read: verified", f"  read: {mode}"
        )
    else:
        text = text.replace("registry:\n", f"registry:\n  read: {mode}\n", 1)
    config.write_text(text)


def violate(writer: Path, bare: Path) -> None:
    """Pushed past the verified tip: @champion moved without review, then invalid."""
    edit(writer, "champion: 1", "champion: 2")
    push(writer, bare, "Direct push: @champion to version 2")
    second_production(writer, commit=False)
    push(writer, bare, "Direct push: version 2 to Production")


def test_a_fleet_read_of_two_production_versions_exits_1_naming_the_file(remote):
    bare, writer = remote
    line = second_production(writer, commit=False)
    push(writer, bare, "Direct push: version 2 to Production")
    result = Cli().fails(1, "resolve", "models:/churn/Production", "--remote", str(bare))
    assert f"{MANIFEST}:{line}: MULTIPLE_PRODUCTION" in one_error_line(result.stderr)
    with pytest.raises(InvalidManifest):
        RemoteRegistry(str(bare)).get_registered_model("churn")
    assert Cli().ok("resolve", "models:/fraud/1", "--remote", str(bare)).stdout == (
        "s3://fraud/1\n"
    )


def test_resolve_remote_verified_stays_on_the_last_good_state(remote):
    bare, writer = remote
    mark_verified(writer, bare)
    violate(writer, bare)
    uri = "models:/churn@champion"
    cli = Cli()
    assert cli.ok("resolve", uri, "--remote", str(bare), "--verified").stdout == "s3://churn/1\n"
    assert RemoteRegistry(str(bare), verified=True).resolve(uri) == "s3://churn/1"
    tip = cli.fails(1, "resolve", uri, "--remote", str(bare))  # the tip: refused, not served
    assert f"{MANIFEST}:" in one_error_line(tip.stderr)
    assert cli.ok("resolve", "models:/fraud/1", "--remote", str(bare)).stdout == "s3://fraud/1\n"


def test_registry_read_verified_pins_the_fleet_and_a_push_cannot_unpin_it(remote):
    bare, writer = remote
    set_read(writer, "verified")
    push(writer, bare, "Reviewed: fleet reads serve the verified tip")
    mark_verified(writer, bare)
    good = git(writer, "rev-parse", "HEAD").strip()
    violate(writer, bare)
    set_read(writer, "tip")  # the push also tries to turn the pin off
    push(writer, bare, "Direct push: registry.read: tip")
    reader = RemoteRegistry(str(bare))
    assert reader.resolve("models:/churn@champion") == "s3://churn/1"
    assert reader.commit == good
    assert Cli().ok("resolve", "models:/churn@champion", "--remote", str(bare)).stdout == (
        "s3://churn/1\n"
    )


def test_the_fleet_follows_the_tip_when_the_verified_config_says_so(remote):
    bare, writer = remote
    mark_verified(writer, bare)  # its gitreg.yaml has no registry.read: the tip is served
    edit(writer, "champion: 1", "champion: 2")
    push(writer, bare, "Move @champion")
    assert RemoteRegistry(str(bare)).resolve("models:/churn@champion") == "s3://churn/2"


def test_a_pinned_fleet_fails_closed_without_a_verified_tip(remote, fleet_cache):
    bare, writer = remote
    set_read(writer, "verified")
    push(writer, bare, "Fleet reads serve the verified tip")
    uri = "models:/churn@champion"
    result = Cli().fails(2, "resolve", uri, "--remote", str(bare))
    assert "registry.read: verified" in one_error_line(result.stderr)
    mark_verified(writer, bare)
    assert RemoteRegistry(str(bare)).resolve(uri) == "s3://churn/1"
    git(bare, "update-ref", "-d", VERIFIED)  # deleting the ref does not unpin the fleet
    with pytest.raises(BadRef):
        RemoteRegistry(str(bare)).resolve(uri)
    with pytest.raises(BadRef):
        RemoteRegistry(str(bare), verified=True).resolve(uri)


def test_registry_read_takes_tip_or_verified_and_validate_says_so(registry_repo):
    config = registry_repo / "gitreg.yaml"
    config.write_text(config.read_text().replace("registry:\n", "registry:\n  read: always\n"))
    result = Cli(registry_repo).fails(1, "validate")
    assert "gitreg.yaml" in result.stdout
    assert "registry.read" in result.stdout
    from gitreg.core.config import Config, read_mode

    assert Config.from_dict({"registry": {"read": "verified"}}).read == "verified"
    assert read_mode({}) == "tip"
    with pytest.raises(InvalidParameter):
        read_mode({"registry": {"read": "always"}})


def test_a_verified_fleet_read_names_no_branch(remote):
    bare, _writer = remote
    with pytest.raises(InvalidParameter):
        RemoteRegistry(str(bare), at="main", verified=True)
    assert RemoteRegistry(str(bare), at="verified").verified is True
    Cli().fails(
        2, "resolve", "models:/churn/1", "--remote", str(bare), "--verified", "--at", "main"
    )


def test_a_fleet_read_keeps_its_verdicts_in_its_cache(remote, fleet_cache):
    """The fleet cache remembers what it found valid, so a restarted pod skips the check."""
    bare, _writer = remote
    assert RemoteRegistry(str(bare)).resolve("models:/churn@champion") == "s3://churn/1"
    slots = list(fleet_cache.glob("gitreg/remotes/*/gitreg/answers/*.marshal"))
    assert len(slots) == 1


# -------------------------------------------------------------------- the MLflow plugin


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_the_mlflow_plugin_refuses_the_model_and_serves_the_others(churn, tmp_path):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    line = second_production(churn, commit=True)
    client = MlflowClient(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", registry_uri=f"gitreg://{churn}"
    )
    for read in (
        lambda: client.get_latest_versions("churn", ["Production"]),  # models:/churn/Production
        lambda: client.get_model_version_by_alias("churn", "champion"),
        lambda: client.get_registered_model("churn"),
        lambda: client.get_model_version("churn", "1"),
    ):
        with pytest.raises(MlflowException) as caught:
            read()
        assert caught.value.error_code == "RESOURCE_CONFLICT"
        assert f"{MANIFEST}:{line}: MULTIPLE_PRODUCTION" in caught.value.message
    assert [m.name for m in client.search_registered_models()] == ["fraud"]
    assert [v.name for v in client.search_model_versions()] == ["fraud"]
    assert client.get_model_version("fraud", "1").source == "s3://fraud/1"
