"""``models:/`` URIs complete in the shell (#27, first-day trap 8).

The completion function is tested as click calls it, and the bash script as bash runs
it: bash splits ``models:/ch`` at the colon (``COMP_WORDBREAKS``), so the script sends the
line up to the cursor and gitreg answers with what replaces bash's own last word.
``gitreg --help`` says how to turn completion on in bash, zsh and fish.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.shell_completion import BashComplete

from gitreg.cli import cli as gitreg
from tests._helpers import Cli

BIN = Path(sys.executable).parent


@pytest.fixture
def models(cli) -> Cli:
    """churn (versions 1, 2; 2 in Production with @champion and @stable) and churn-eu."""
    cli.ok("register", "churn", "s3://churn/1")
    cli.ok("register", "churn", "s3://churn/2")
    cli.ok("transition", "churn", "2", "Production")
    cli.ok("alias", "churn", "champion", "2")
    cli.ok("alias", "churn", "stable", "2")
    cli.ok("register", "churn-eu", "s3://churn-eu/1")
    return cli


def _complete(repo: Path | None, incomplete: str, command: str = "resolve") -> list[str]:
    """Completions of ``gitreg COMMAND [--repo REPO] INCOMPLETE``, as click computes them."""
    complete = BashComplete(gitreg, {}, "gitreg", "_GITREG_COMPLETE")
    args = [command, *(["--repo", str(repo)] if repo else [])]
    return [str(item.value) for item in complete.get_completions(args, incomplete)]


NAMES = ["models:/churn/", "models:/churn@", "models:/churn-eu/"]


@pytest.mark.parametrize("typed", ["", "m", "models:", "models:/", "models:/ch", "models:/CH"])
def test_the_scheme_and_the_model_names_complete(models, typed):
    """A model with aliases offers both forms; one without, only the path."""
    assert _complete(models.repo, typed) == NAMES


def test_a_model_name_completes_to_its_versions_stages_and_latest(models):
    assert _complete(models.repo, "models:/churn/") == [
        "models:/churn/1",
        "models:/churn/2",
        "models:/churn/None",
        "models:/churn/Staging",
        "models:/churn/Production",
        "models:/churn/Archived",
        "models:/churn/latest",
    ]
    assert _complete(models.repo, "models:/churn/p") == ["models:/churn/Production"]
    assert _complete(models.repo, "models:/churn/PROD") == ["models:/churn/Production"]
    assert _complete(models.repo, "models:/churn-eu/l") == ["models:/churn-eu/latest"]


def test_a_model_name_and_at_completes_to_its_aliases(models):
    assert _complete(models.repo, "models:/churn@") == [
        "models:/churn@champion",
        "models:/churn@stable",
    ]
    assert _complete(models.repo, "models:/churn@ch") == ["models:/churn@champion"]
    assert _complete(models.repo, "models:/churn-eu@") == []


def test_nothing_to_offer_is_no_completion_and_no_error(models, tmp_path):
    assert _complete(models.repo, "models:/ghost/") == []
    assert _complete(models.repo, "runs:/") == []
    assert _complete(models.repo, "models:/zzz") == []
    assert _complete(tmp_path / "not-a-registry", "models:/") == []


def test_the_record_of_retired_names_is_no_model(models):
    """models/.retired.yaml (written by a rename) is not offered as a model ``.retired``;
    a name with blanks and non-ASCII letters completes as itself."""
    models.ok("rename", "churn-eu", "Churn EU β")
    assert (models.repo / "models" / ".retired.yaml").is_file()
    assert _complete(models.repo, "models:/") == [
        "models:/Churn EU β/",
        "models:/churn/",
        "models:/churn@",
    ]
    assert _complete(models.repo, "models:/.") == []
    assert _complete(models.repo, "models:/Churn EU β/l") == ["models:/Churn EU β/latest"]


def test_the_names_complete_without_reading_every_manifest_when_many_match(cli):
    """Past 20 matching names, models:/NAME@ is not offered: that would read each one."""
    for n in range(21):
        cli.ok("create", f"m{n:02d}")
    offered = _complete(cli.repo, "models:/m")
    assert offered == [f"models:/m{n:02d}/" for n in range(21)]


# --------------------------------------------------------------------- in real bash


def _bash_completion(repo: Path, line: str) -> tuple[list[str], bool]:
    """Run gitreg's bash script as bash does on Tab at the end of ``line``: COMP_WORDS split
    at bash's word breaks, COMP_LINE and COMP_POINT. Returns COMPREPLY and whether the
    script asked for no space after the completion."""
    if shutil.which("bash") is None or shutil.which("gitreg", path=str(BIN)) is None:
        pytest.skip("needs bash and the gitreg console script")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    source = subprocess.run(
        ["gitreg"], env={**env, "_GITREG_COMPLETE": "bash_source"}, capture_output=True,
        text=True, check=True,
    ).stdout  # fmt: skip
    script = f"""
{source}
# compopt only works while readline completes; record what the script asks of it.
nospace=no
compopt() {{ [[ "$1 $2" == "-o nospace" ]] && nospace=yes; return 0; }}
COMP_LINE={_quote(line)}
COMP_POINT=${{#COMP_LINE}}
# As bash splits the line into words: at blanks, and around each word break (":" and "@"
# among them). The word at the cursor may be empty (after a blank or a break).
read -r -a COMP_WORDS <<< "$(sed -e 's/[:@]/ & /g' <<< "$COMP_LINE")"
[[ "$COMP_LINE" == *[[:space:]:@] ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMPREPLY=()
_gitreg_completion gitreg
printf '%s\\n' "${{COMPREPLY[@]}}"
echo "nospace=$nospace"
"""
    proc = subprocess.run(
        ["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    *reply, flag = proc.stdout.splitlines()
    return reply, flag == "nospace=yes"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_bash_completes_across_the_colon_of_models(models):
    reply, nospace = _bash_completion(models.repo, "gitreg resolve models:/ch")
    assert reply == ["/churn/", "/churn@", "/churn-eu/"]  # bash's word is "/ch"
    assert nospace, "models:/churn/ goes on: no space after it"


def test_bash_completes_a_version_stage_or_alias_and_then_a_space(models):
    reply, nospace = _bash_completion(models.repo, "gitreg resolve models:/churn/Pro")
    assert (reply, nospace) == (["/churn/Production"], False)
    # "@" is a word break too: bash's word is "c", and then "" right after the "@".
    reply, nospace = _bash_completion(models.repo, "gitreg resolve models:/churn@c")
    assert (reply, nospace) == (["champion"], False)
    reply, _ = _bash_completion(models.repo, "gitreg resolve models:/churn@")
    assert reply == ["champion", "stable"]


def test_bash_still_completes_commands_and_names(models):
    assert _bash_completion(models.repo, "gitreg resol")[0] == ["resolve"]
    assert _bash_completion(models.repo, "gitreg show churn-")[0] == ["churn-eu"]
    assert _bash_completion(models.repo, "gitreg resolve ")[0] == [
        "models:/churn/",
        "models:/churn@",
        "models:/churn-eu/",
    ]


def test_a_script_from_before_still_completes_with_comp_words(models):
    """click's own bash script sends COMP_WORDS and COMP_CWORD only: still answered."""
    env = {
        **os.environ,
        "_GITREG_COMPLETE": "bash_complete",
        "COMP_WORDS": f"gitreg show --repo {models.repo} churn-",
        "COMP_CWORD": "4",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "gitreg"], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["plain,churn-eu"]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_scripts_are_valid_shell(shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed here")
    source = subprocess.run(
        [sys.executable, "-m", "gitreg"],
        env={**os.environ, "_GITREG_COMPLETE": f"{shell}_source"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "_gitreg_completion" in source
    proc = subprocess.run([shell, "-n"], input=source, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_gitreg_help_says_how_to_enable_completion(tmp_path):
    text = Cli().ok("--help", cwd=tmp_path).stdout
    assert 'eval "$(_GITREG_COMPLETE=bash_source gitreg)"' in text
    assert 'eval "$(_GITREG_COMPLETE=zsh_source gitreg)"' in text
    assert "_GITREG_COMPLETE=fish_source gitreg | source" in text
    assert "models:/ URIs" in text
