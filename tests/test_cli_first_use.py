"""What a new user meets on the command line (#16): exit codes as the README says, messages
that say what to type, nothing silent, ``--json`` on every command, and shell completion.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.shell_completion import BashComplete

from gitreg.cli import cli as gitreg
from gitreg.cli._app import COMMAND_MODULES
from tests._helpers import Cli, git, log_subjects, snapshot
from tests.test_cli import assert_one_error_line, refuse

STAGE_HINT = "use one of None, Staging, Production, Archived"


@pytest.fixture
def champion(cli):
    """churn: version 1 Archived, version 2 in Production with @champion and @stable."""
    cli.ok("create", "churn", "-d", "Predicts churn")
    cli.ok("register", "churn", "runs:/abc123/model")
    cli.ok("register", "churn", "s3://models/churn/2")
    cli.ok("transition", "churn", "1", "Archived")
    cli.ok("transition", "churn", "2", "Production")
    cli.ok("alias", "churn", "champion", "2")
    cli.ok("alias", "churn", "stable", "2")
    return cli


# ------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    "args",
    [
        ["models", "--filter", "name = "],
        ["versions", "--order-by", "run_id DESC"],
        ["models", "--page-token", "not-a-token"],
        ["resolve", "models:/churn"],
        ["resolve", "runs:/abc/model"],
        ["transition", "churn", "one", "Staging"],
        ["transition", "churn", "1", "Prod"],
        ["show", "churn", "0"],
        ["delete", "churn", "x", "--yes"],
        ["latest", "churn", "--stage", "prod"],
        ["alias", "churn", "champion", "two"],
        ["history", "churn", "-1"],
    ],
)
def test_every_command_line_mistake_exits_2(champion, args):
    refuse(champion, 2, *args)


def test_a_repo_that_is_not_a_registry_exits_2(tmp_path):
    for repo in (tmp_path / "missing", tmp_path):
        result = Cli().fails(2, "show", "churn", "--repo", str(repo))
        assert_one_error_line(result)
        assert "is not a gitreg registry" in result.stderr
        assert "pass --repo PATH" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["show", "ghost"],
        ["transition", "churn", "1", "Production"],
        ["resolve", "models:/churn/9"],
        ["create", "churn"],
    ],
)
def test_refusals_exit_1(champion, args):
    refuse(champion, 1, *args)


def test_bare_gitreg_prints_the_help_without_an_error(tmp_path):
    result = Cli().run(cwd=tmp_path)
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: gitreg")
    assert "Commands:" in result.stdout
    assert "Error" not in result.stdout + result.stderr


def test_an_unknown_command_suggests_the_closest(tmp_path):
    result = Cli().fails(2, "shw", "churn", cwd=tmp_path)
    assert result.stderr.strip().endswith("No such command 'shw'; did you mean show?")
    far = Cli().fails(2, "zzzzzz", cwd=tmp_path)
    assert "did you mean" not in far.stderr


# --------------------------------------------------------------------------- messages


def test_a_wrong_stage_says_which_stages_exist_everywhere(champion):
    from gitreg import Registry
    from gitreg.core.errors import InvalidParameter

    for args in (
        ["transition", "churn", "1", "Prod"],
        ["latest", "churn", "--stage", "Prod"],
        ["resolve", "models:/churn/Prod"],
    ):
        assert STAGE_HINT in refuse(champion, 2, *args).stderr, args
    with pytest.raises(InvalidParameter, match=STAGE_HINT):
        Registry(champion.repo).transition_model_version_stage("churn", 1, "Prod")


def test_help_shows_the_canonical_stage_names(tmp_path):
    text = Cli().ok("transition", "--help", cwd=tmp_path).stdout
    assert "NAME VERSION STAGE" in text  # the argument's name, as its errors say (#27)
    assert "STAGE (None, Staging, Production, Archived)" in text
    latest = " ".join(Cli().ok("latest", "-h", cwd=tmp_path).stdout.split())  # unwrapped
    assert "[None|Staging|Production|Archived]" in latest


def test_stages_are_case_insensitive_and_stored_canonically(champion):
    champion.ok("transition", "churn", "1", "staging")
    shown = json.loads(champion.ok("show", "churn", "1", "--json").stdout)["model_version"]
    assert shown["current_stage"] == "Staging"


def test_an_unknown_model_suggests_the_closest_name(champion):
    for args in (["show", "chrun"], ["update", "chrun", "-d", "x"], ["tag", "chrun", "a=b"]):
        result = refuse(champion, 1, *args)
        assert result.stderr.rstrip().endswith("did you mean churn?"), args
    assert "did you mean" not in refuse(champion, 1, "show", "fraud").stderr


def test_no_version_in_a_stage_reads_as_english(champion):
    result = refuse(champion, 1, "resolve", "models:/churn/Staging")
    assert "has no version in stage Staging" in result.stderr


# ---------------------------------------------------------------------- nothing silent


def test_deleting_a_version_names_the_aliases_that_go_with_it(champion):
    result = champion.ok("delete", "churn", "2", "--yes")
    assert "Deleted churn version 2 and its aliases @champion, @stable" in result.stderr
    model = json.loads(champion.ok("show", "churn", "--json").stdout)["registered_model"]
    assert model["aliases"] == []
    assert "Removed alias(es) champion, stable" in git(champion.repo, "log", "-1", "--format=%B")


def test_an_update_that_changes_nothing_says_so_and_makes_no_commit(champion):
    champion.ok("tag", "churn", "2", "x=1")
    before = snapshot(champion.repo)
    for args, said in [
        (["update", "churn", "-d", "Predicts churn"], "churn already has that description"),
        (["update", "churn", "1", "-d", ""], "churn version 1 already has that description"),
        (["tag", "churn", "2", "x=1"], "churn version 2 already has those tags"),
        (["alias", "churn", "champion", "2"], "churn@champion already points at version 2"),
        (["transition", "churn", "2", "Production"], "churn version 2 is already in Production"),
    ]:
        result = champion.ok(*args)
        assert result.stderr.strip() == f"Nothing changed: {said}; no commit was made"
        assert snapshot(champion.repo) == before


@pytest.mark.skipif(os.name == "nt", reason="a pseudo-terminal is POSIX; Windows has no pty")
def test_the_delete_prompt_says_what_goes_and_declining_deletes_nothing(champion):
    before = snapshot(champion.repo)
    code, output = _with_a_terminal(champion.repo, ["delete", "churn", "2"], "n\n")
    assert "Delete churn version 2, which is in Production, and its aliases @champion, " in output
    assert "Aborted; nothing was deleted." in output
    assert code == 1  # a refusal, not an interrupt (130)
    assert snapshot(champion.repo) == before
    code, output = _with_a_terminal(champion.repo, ["delete", "churn"], "n\n")
    assert "including version 2, which is in Production" in output
    assert code == 1
    code, output = _with_a_terminal(champion.repo, ["delete", "churn", "1"], "y\n")
    assert code == 0, output
    assert log_subjects(champion.repo)[0] == "Delete churn version 1"


def _with_a_terminal(repo: Path, args: list[str], answer: str) -> tuple[int, str]:
    """Run gitreg with a real pseudo-terminal as its stdin, answer its prompt, read it all."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitreg", *args, "--repo", str(repo)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    os.write(leader, answer.encode())
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


# ------------------------------------------------------------------------------- JSON


def _commands() -> dict[str, click.Command]:
    import importlib

    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(module)
    return dict(gitreg.commands)


def _leaves(name: str, command: click.Command) -> list[tuple[str, click.Command]]:
    if isinstance(command, click.Group):  # e.g. gitreg webhooks list: each subcommand
        return [leaf for n, c in command.commands.items() for leaf in _leaves(f"{name} {n}", c)]
    return [(name, command)]


def test_every_command_has_json():
    commands = [leaf for name, c in _commands().items() for leaf in _leaves(name, c)]
    assert len(commands) > 25
    missing = [
        name
        for name, command in commands
        if not any("--json" in p.opts for p in command.params if isinstance(p, click.Option))
    ]
    assert missing == []


def test_writes_print_the_entity_they_wrote_in_mlflows_shape(champion, tmp_path):
    def out(*args):
        return json.loads(champion.ok(*args, "--json").stdout)

    assert out("update", "churn", "-d", "New")["registered_model"]["description"] == "New"
    assert out("update", "churn", "2", "-d", "v2")["model_version"]["description"] == "v2"
    tagged = out("tag", "churn", "2", "team=ml")["model_version"]
    assert {"key": "team", "value": "ml"} in tagged["tags"]
    assert out("tag", "churn", "k=v")["registered_model"]["tags"] == [{"key": "k", "value": "v"}]
    assert out("untag", "churn", "k")["registered_model"]["tags"] == []
    assert out("untag", "churn", "2", "team")["model_version"]["tags"] == []
    aliased = out("alias", "churn", "canary", "1")["registered_model"]
    assert {"alias": "canary", "version": "1"} in aliased["aliases"]
    assert {"alias": "canary", "version": "1"} not in out("unalias", "churn", "canary")[
        "registered_model"
    ]["aliases"]
    assert out("transition", "churn", "1", "Staging")["model_version"]["current_stage"] == "Staging"
    assert out("rename", "churn", "churn2")["registered_model"]["name"] == "churn2"
    deleted = out("delete", "churn2", "2", "--yes")["model_version"]
    assert (deleted["version"], deleted["aliases"]) == ("2", ["champion", "stable"])
    assert out("delete", "churn2", "--yes")["registered_model"]["name"] == "churn2"
    made = json.loads(Cli().ok("init", str(tmp_path / "new"), "--json").stdout)["registry"]
    assert made["path"] == str((tmp_path / "new").resolve())
    assert made["commit"] == git(tmp_path / "new", "rev-parse", "HEAD").strip()
    report = json.loads(champion.ok("validate", "--json").stdout)
    assert report["valid"] is True


def test_requests_takes_at_and_fetch(tmp_path, bare_remote):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare_remote), str(clone))
    cli = Cli(clone)
    cli.ok("register", "churn", "s3://m/1")
    cli.ok("transition", "churn", "1", "Production")  # protected: a request branch
    listed = json.loads(cli.ok("requests", "--fetch", "--json").stdout)["transition_requests"]
    assert [(r["name"], r["version"], r["stage"]) for r in listed] == [("churn", 1, "Production")]
    branch = listed[0]["branch"]
    at_main = json.loads(cli.ok("requests", "--at", "main", "--json").stdout)
    assert [r["branch"] for r in at_main["transition_requests"]] == [branch]
    # Merged into a ref, it is no longer open there.
    git(clone, "fetch", "-q", "origin", f"{branch}:merged")
    merged = json.loads(cli.ok("requests", "--at", "merged", "--json").stdout)
    assert merged["transition_requests"] == []
    refuse(cli, 2, "requests", "--at", "no-such-ref")


# ------------------------------------------------------------------------- completion


def _complete(repo: Path, words: list[str], incomplete: str) -> list[str]:
    """Completions as bash would ask click for them (COMP_WORDS), on a real registry."""
    complete = BashComplete(gitreg, {}, "gitreg", "_GITREG_COMPLETE")
    args = [words[0], "--repo", str(repo), *words[1:]] if words else []
    return [item.value for item in complete.get_completions(args, incomplete)]


def test_completion_of_models_versions_aliases_and_stages(champion):
    champion.ok("register", "churn-eu", "s3://m/eu/1")
    repo = champion.repo
    assert _complete(repo, ["show"], "ch") == ["churn", "churn-eu"]
    assert _complete(repo, ["show", "churn"], "") == ["1", "2"]
    assert _complete(repo, ["transition", "churn", "2"], "p") == ["Production"]
    assert _complete(repo, ["transition", "churn", "2"], "") == [
        "None",
        "Staging",
        "Production",
        "Archived",
    ]
    assert _complete(repo, ["unalias", "churn"], "") == ["champion", "stable"]
    assert _complete(repo, ["alias", "churn", "champion"], "") == ["1", "2"]
    assert _complete(repo, ["latest", "churn", "--stage"], "st") == ["Staging"]
    assert _complete(repo, ["delete", "ghost"], "") == []  # nothing to offer, no error
    assert _complete(repo, [], "tra") == ["transition"]


def test_completion_through_the_environment_as_the_shell_runs_it(champion):
    """The one line the README gives (eval "$(_GITREG_COMPLETE=bash_source gitreg)") makes
    bash call gitreg with _GITREG_COMPLETE=bash_complete, COMP_WORDS and COMP_CWORD."""
    env = {
        **os.environ,
        "_GITREG_COMPLETE": "bash_complete",
        "COMP_WORDS": f"gitreg show --repo {champion.repo} ch",
        "COMP_CWORD": "4",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "gitreg"], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["plain,churn"]
    source = subprocess.run(
        [sys.executable, "-m", "gitreg"],
        env={**os.environ, "_GITREG_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "complete -o nosort -F _gitreg_completion gitreg" in source.stdout


def test_completion_stays_import_light(champion):
    """Completion runs on every Tab: no GitPython, jsonschema or MLflow (#16)."""
    code = (
        "import sys, atexit\n"
        "atexit.register(lambda: sys.stderr.write(repr(sorted({m.split('.')[0] for m in "
        "sys.modules if m.split('.')[0] in ('git', 'jsonschema', 'mlflow')}))))\n"
        "from gitreg._entry import main\n"
        "main()\n"
    )
    env = {
        **os.environ,
        "_GITREG_COMPLETE": "bash_complete",
        "COMP_WORDS": f"gitreg transition --repo {champion.repo} churn ",
        "COMP_CWORD": "5",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert proc.stdout.splitlines() == ["plain,1", "plain,2"]
    assert proc.stderr == "[]"
