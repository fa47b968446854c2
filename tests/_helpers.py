"""Helpers shared by the tests: running git and the CLI for real."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from gitreg.cli import main


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its stdout; fail the test on error."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def head(cwd: Path) -> str:
    return git(cwd, "rev-parse", "HEAD").strip()


def log_subjects(cwd: Path) -> list[str]:
    """Commit subjects, newest first."""
    return git(cwd, "log", "--format=%s").splitlines()


def status(cwd: Path) -> str:
    """``git status --porcelain`` including untracked files (empty when clean)."""
    return git(cwd, "status", "--porcelain", "--untracked-files=all")


def snapshot(cwd: Path) -> tuple[str, str, str]:
    """HEAD, the index tree and the status: equal snapshots mean nothing changed."""
    return head(cwd), git(cwd, "write-tree").strip(), status(cwd)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def link_to_a_copy(path: Path, elsewhere: Path) -> None:
    """Replace the file ``path`` by a symbolic link to a copy of it at ``elsewhere``: the same
    bytes, no longer a regular file."""
    elsewhere.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(elsewhere)


class Cli:
    """Runs ``gitreg`` in-process with the real exit-code mapping of ``gitreg.cli.main``."""

    def __init__(self, repo: Path | None = None) -> None:
        self.repo = repo

    def run(self, *args: str, input: str | None = None, cwd: Path | None = None) -> Result:
        argv: Sequence[str] = list(args)
        if self.repo is not None and "--repo" not in argv and argv and argv[0] not in ("init",):
            argv = [*argv, "--repo", str(self.repo)]
        runner = CliRunner()
        import os

        old = os.getcwd()
        if cwd is not None:
            os.chdir(cwd)
        try:
            with runner.isolation(input=input) as (out, err, _):
                code = main(argv)
                stdout = out.getvalue().decode()
                stderr = err.getvalue().decode()
        finally:
            os.chdir(old)
        return Result(code, stdout, stderr)

    def ok(self, *args: str, **kw: object) -> Result:
        result = self.run(*args, **kw)  # type: ignore[arg-type]
        assert result.exit_code == 0, (
            f"gitreg {' '.join(args)} -> {result.exit_code}: {result.stderr}"
        )
        return result

    def fails(self, code: int, *args: str, **kw: object) -> Result:
        result = self.run(*args, **kw)  # type: ignore[arg-type]
        assert result.exit_code == code, (
            f"gitreg {' '.join(args)} -> {result.exit_code} (wanted {code}): "
            f"{result.stdout} {result.stderr}"
        )
        assert "Traceback" not in result.stderr
        return result


_IMPORT_PROBE = """\
import json, sys
from gitreg.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def modules_after(tmp_path: Path, *args: str) -> list[str]:
    """Every module a fresh interpreter has loaded after ``gitreg ARGS`` succeeded.

    What a command imports is behaviour a test can assert (tests/test_imports.py,
    tests/test_write_imports.py); how long it takes is bench/'s.
    """
    import json
    import sys

    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, str(out), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.exists(), proc.stderr
    result = json.loads(out.read_text())
    assert result["code"] == 0, proc.stderr
    modules: list[str] = result["modules"]
    return modules


def wait_for(predicate: Callable[[], object], what: str, seconds: float = 60.0) -> None:
    """Poll ``predicate`` until it is true; fail the test naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


_PROBE = (
    "import atexit, sys; from gitreg import _entry; sys.argv = ['gitreg'] + sys.argv[1:]\n"
    "def probe():\n"
    "    sys.stderr.write('\\nloaded: ' + ' '.join(sorted(sys.modules)))\n"
    "atexit.register(probe)\n"
    "_entry.main()\n"
)


def run_probed(
    repo: Path, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``gitreg ARGS --repo REPO`` in a fresh process as the installed command starts it
    (``gitreg._entry``): the process, and the modules it had loaded when it exited. HOME
    is ``repo``'s parent and no AWS_ variable is passed (no ~/.aws: an s3:// source cannot
    be read); ``env`` is added."""
    import os
    import sys

    full = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    full["HOME"] = str(repo.parent)
    full.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args, "--repo", str(repo)],
        capture_output=True,
        text=True,
        env=full,
        check=False,
    )
    err, _, loaded = proc.stderr.rpartition("\nloaded: ")
    proc.stderr = err
    return proc, set(loaded.split())
