"""The ``gitreg`` command line: parses arguments, calls one Registry method, prints the result.

No registry logic lives here. Exit codes are decided in ``main``: 0 success, 1 the registry
refused (a GitregError), 2 the command line was wrong, 3 an unexpected error, 130 Ctrl-C.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

import click

from gitreg.cli._app import cli
from gitreg.core.errors import BadRef, GitregError, printable

__all__ = ["cli", "entry", "main"]


# ---------------------------------------------------------------------- entry point


def _log_crash(exc: BaseException) -> str:
    import os
    import platform
    import tempfile
    import traceback

    from gitreg.core.version import __version__

    fd, path = tempfile.mkstemp(prefix="gitreg-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(
            f"gitreg {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        )
        f.write(f"argv: {sys.argv}\n\n")
        f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return path


def _fail(message: str, code: str, as_json: bool, exit_code: int, multiline: bool = False) -> int:
    if as_json:
        import json

        click.echo(json.dumps({"error_code": code, "message": message}), err=True)
    else:
        click.echo(f"Error: {printable(message, multiline)}", err=True)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and map every outcome to an exit code (see module doc)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Outside standalone mode click returns ctx.exit(n)'s code instead of raising it.
        code = cli.main(args=args, prog_name="gitreg", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as e:
        if "--traceback" in args:
            raise
        return _exit_code(e, _wants_json(args))
    return code if isinstance(code, int) else 0


def _wants_json(args: Sequence[str]) -> bool:
    """``--json`` or ``--format json`` anywhere on the command line."""
    if "--json" in args or "--format=json" in args:
        return True
    return any(a == "--format" and b == "json" for a, b in itertools.pairwise(args))


def _exit_code(e: Exception, as_json: bool) -> int:
    """Report ``e`` on stderr in one line and return its exit code."""
    if isinstance(e, click.ClickException):
        return _fail(e.format_message(), "INVALID_PARAMETER_VALUE", as_json, e.exit_code)
    if isinstance(e, BadRef):
        return _fail(e.message, e.error_code, as_json, 2)
    if isinstance(e, GitregError):
        return _fail(e.message, e.error_code, as_json, 1, e.multiline)
    path = _log_crash(e)
    message = f"unexpected {type(e).__name__}: {e} (details in {path})"
    return _fail(message, "INTERNAL_ERROR", as_json, 3)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
