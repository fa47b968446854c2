"""The ``gitreg`` command line: parses arguments, calls one Registry method, prints the result.

No registry logic lives here. Exit codes are decided in ``main``: 0 success, 1 the registry
refused (a GitregError), 2 the command line was wrong (click's usage errors, and the
GitregErrors that come from the command line: a bad filter, order_by, page token, URI, ref
or registry path), 3 an unexpected error, 130 Ctrl-C.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence

import click

from gitreg.cli._app import cli
from gitreg.core.errors import (
    BadRef,
    GitregError,
    InvalidFilter,
    InvalidUri,
    NotARegistry,
    PromotionPending,
    PullRequestNotOpened,
    printable,
)

__all__ = ["cli", "entry", "main"]


# ---------------------------------------------------------------------- entry point


def _log_crash(exc: BaseException) -> str:
    """Write the crash log; every secret the process read for delivery is redacted (#23)."""
    import os
    import platform
    import tempfile
    import traceback

    from gitreg.core.redact import redact_remembered
    from gitreg.core.version import __version__

    fd, path = tempfile.mkstemp(prefix="gitreg-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(
            f"gitreg {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        )
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        f.write(redact_remembered(f"argv: {sys.argv}\n\n{trace}"))
    return path


def _fail(
    message: str,
    code: str,
    as_json: bool,
    exit_code: int,
    multiline: bool = False,
    extra: dict[str, object] | None = None,
) -> int:
    if as_json:
        import json

        click.echo(json.dumps({"error_code": code, "message": message, **(extra or {})}), err=True)
    else:
        click.echo(f"Error: {printable(message, multiline)}", err=True)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and map every outcome to an exit code (see module doc)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["--help"]  # bare `gitreg`: the help, not a usage error (#16)
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


# Errors the library raises about what the command line said: exit 2, as click's (#16).
_COMMAND_LINE_ERRORS = (BadRef, NotARegistry, InvalidFilter, InvalidUri)

# The library's errors name Python arguments; on the command line they are options (#16).
_CLI_WORDS = (
    ("archive_existing_versions=True", "--archive-existing-versions"),
    ("archive_extra_production=True", "--archive-extra-production"),
    ("direct=True", "--direct"),
    ("push=False", "--no-push"),
    ("push=True", "--push"),
    ("fetch=True", "--fetch"),
    ("filter_string", "--filter"),
    ("order_by", "--order-by"),
    ("max_results", "--max-results"),
    ("pass run_id=", "pass --run-id "),
    ("give the path of a registry", "pass --repo PATH (or set GITREG_REPO)"),
)


def cli_words(message: str) -> str:
    """``message`` with the API's argument names replaced by the CLI's options."""
    for api, option in _CLI_WORDS:
        message = message.replace(api, option)
    return message


def _exit_code(e: Exception, as_json: bool) -> int:
    """Report ``e`` on stderr in one line and return its exit code."""
    if isinstance(e, click.ClickException):
        code = getattr(e, "error_code", "INVALID_PARAMETER_VALUE")  # validate keeps its own
        return _fail(e.format_message(), code, as_json, e.exit_code)
    if isinstance(e, PromotionPending):
        # Not a failure: the change is proposed for review (any write command, see #11).
        from gitreg.cli._app import _pending

        _pending(e, as_json)
        return 0
    if isinstance(e, GitregError):
        code = 2 if isinstance(e, _COMMAND_LINE_ERRORS) else 1
        extra: dict[str, object] | None = None
        if isinstance(e, PullRequestNotOpened):  # the branch is there: scripts get its name
            extra = {"branch": e.branch, "open_url": e.open_url}
        return _fail(cli_words(e.message), e.error_code, as_json, code, e.multiline, extra)
    from gitreg.core.redact import redact_remembered

    path = _log_crash(e)
    message = f"unexpected {type(e).__name__}: {redact_remembered(str(e))} (details in {path})"
    return _fail(message, "INTERNAL_ERROR", as_json, 3)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
