"""`gitreg site OUTDIR` runs without click (#26), exactly as with it.

Each case runs one command line through ``_entry_site.run_plain`` and through the click CLI,
each into its own output directory of the same registry (a real git repository, the site
tests' registry): both must print the same stdout and stderr (the output directory's name
and the seconds aside), exit with the same code and write the same files, byte for byte.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitreg import Registry
from gitreg._entry_site import run_plain
from tests._helpers import Cli
from tests._site import registry_and_clone
from tests.test_site_incremental import files

original, work = registry_and_clone("site-entry")


def _shown(text: str, out: Path) -> str:
    """``text`` without what differs between the two runs: the directory and the seconds."""
    text = text.replace(out.resolve().as_uri(), "OUT").replace(str(out), "OUT")
    return re.sub(r"\((\d+\.\d)s", "(Ns", re.sub(r'"seconds": [0-9.e-]+', '"seconds": N', text))


def _both(capsys: pytest.CaptureFixture[str], tmp: Path, args: list[str]) -> tuple[Any, Any]:
    """(exit code, stdout, stderr) through run_plain into tmp/fast, then click into tmp/slow."""
    fast_out, slow_out = tmp / "fast", tmp / "slow"
    capsys.readouterr()
    code = run_plain(["site", str(fast_out), *args])
    seen = capsys.readouterr()
    assert code is not None, "the fast path handed a plain command line to click"
    slow = Cli().run("site", str(slow_out), *args)
    return (
        (code, _shown(seen.out, fast_out), _shown(seen.err, fast_out)),
        (slow.exit_code, _shown(slow.stdout, slow_out), _shown(slow.stderr, slow_out)),
    )


@pytest.mark.parametrize("extra", [[], ["--full"], ["--json"], ["--base-url", "https://x.io/r/"]])
def test_a_build_and_a_rebuild_print_and_write_what_click_does(work, tmp_path, capsys, extra):
    args = ["--repo", str(work), *extra]
    fast, slow = _both(capsys, tmp_path, args)
    assert fast == slow
    assert fast[0] == 0
    assert files(tmp_path / "fast") == files(tmp_path / "slow")
    Registry(work).set_registered_model_tag("fraud", "owner", "risk-team")
    fast, slow = _both(capsys, tmp_path, args)
    assert fast == slow
    assert ("1 model rendered" in fast[2]) == ("--full" not in extra)
    assert files(tmp_path / "fast") == files(tmp_path / "slow")


def test_an_outdir_gitreg_must_not_write_is_clicks_error(work, tmp_path, capsys):
    for extra in ([], ["--json"]):
        capsys.readouterr()
        code = run_plain(["site", str(work), "--repo", str(work), *extra])
        seen = capsys.readouterr()
        slow = Cli().run("site", str(work), "--repo", str(work), *extra)
        assert (code, seen.out, seen.err) == (slow.exit_code, slow.stdout, slow.stderr)
        assert code == 2
        assert "is the registry or contains it" in seen.err


def test_a_missing_registry_is_clicks_error(tmp_path, capsys):
    args = ["site", str(tmp_path / "out"), "--repo", str(tmp_path / "nowhere")]
    code = run_plain(args)
    seen = capsys.readouterr()
    slow = Cli().run(*args)
    assert (code, seen.out, seen.err) == (slow.exit_code, slow.stdout, slow.stderr)
    assert code == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["site", "OUT", "--serve"],
        ["site", "OUT", "--serve", "0"],
        ["site", "--help"],
        ["site", "OUT", "--full", "--full"],
        ["site", "OUT", "--repo"],
        ["site", "OUT", "--repo", "--full"],
        ["site", "OUT", "--repo="],
        ["site", "OUT", "--base-url", "ftp://x"],
        ["site", "OUT", "OTHER"],
        ["site"],
        ["site", "--", "OUT"],
        ["versions"],
    ],
)
def test_what_the_plain_parser_is_not_sure_of_goes_to_click(args, tmp_path):
    assert run_plain(args) is None
    assert not (tmp_path / "OUT").exists()


def test_the_console_script_builds_without_loading_click(work, tmp_path):
    """The installed entry (``gitreg._entry.main``) in a new process: the site is built and
    click is never imported; its output is flushed before the process ends early."""
    probe = (
        "import atexit, sys\n"
        "flag = sys.argv[1]\n"
        "atexit.register(lambda: open(flag, 'w').write(str('click' in sys.modules)))\n"
        "sys.argv = ['gitreg', *sys.argv[2:]]\n"
        "from gitreg._entry import main\n"
        "main()\n"
    )
    flag, out = tmp_path / "click.txt", tmp_path / "out"
    argv = [sys.executable, "-c", probe, str(flag), "site", str(out), "--repo", str(work)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert flag.read_text() == "False"
    assert proc.stdout == f"{(out / 'index.html').resolve().as_uri()}\n"
    assert proc.stderr.startswith("Wrote the catalog of 3 models")
    assert (out / "index.html").is_file()
    shutil.rmtree(out)
