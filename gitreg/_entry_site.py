"""``gitreg site OUTDIR`` without click (#26).

A CI job rebuilds the catalog after each merge, one process per build; after one change the
rebuild renders one model, and click with the CLI's modules, and tearing down the process,
were a fifth of it. The plain form ``site OUTDIR [--repo PATH] [--at REF] [--full]
[--base-url URL] [--json]`` is parsed here by hand and calls the same ``gitreg.site.build``
the click command calls, and prints what it prints.

Anything this parser is not sure of is handed to click untouched (``None``): ``--serve``,
``--help``, an option given twice, a value that starts with ``-``, a base URL click would
refuse, a terminal on stderr (click draws the progress bar there). Every error is reported
by ``gitreg.cli._exit_code``, the one place exit codes are decided (an output directory
gitreg must not write into is click's ``BadParameter`` on OUTDIR, as there), so the
message, the JSON error and the exit code are click's. tests/test_site_entry.py runs the
command both ways and compares stdout, stderr, exit code and the site written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

_VALUES = {"--repo": "repo", "--at": "at", "--base-url": "base_url"}
_FLAGS = {"--full": "full", "--json": "as_json"}


def site_fast(args: Sequence[str]) -> int | None:
    """Build a plain ``site OUTDIR ...`` and end the process; None when click should."""
    code = run_plain(args)
    if code is not None:
        from gitreg._entry_write import exit_now

        exit_now(code)  # no teardown of what the build read (see exit_now)
    return code


def run_plain(args: Sequence[str]) -> int | None:
    """Build a plain ``site OUTDIR ...``: its exit code; None when click should."""
    if not args or args[0] != "site" or sys.stderr.isatty():
        return None
    found = _parse(args[1:])
    return None if found is None else _run(found)


def _parse(args: Sequence[str]) -> dict[str, str] | None:
    """The command's parameters, or None for anything but the plain form."""
    found: dict[str, str] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        option, sep, value = arg.partition("=")
        if arg in _FLAGS:
            key, value = _FLAGS[arg], "yes"
        elif option in _VALUES:
            if not sep:
                if not rest or rest[0].startswith("-"):
                    return None
                value = rest.pop(0)
            if not value:
                return None  # an empty path, ref or URL: click's to read
            key = _VALUES[option]
        elif arg.startswith("-") or not arg:
            return None  # --serve, --help, -h, --, a short option, ...
        else:
            key, value = "outdir", arg
        if key in found:
            return None  # given twice: click's to settle
        found[key] = value
    base_url = found.get("base_url")
    if base_url is not None and not base_url.lower().startswith(("http://", "https://")):
        return None  # click's callback refuses it, with its usage line
    return found if "outdir" in found else None


def _run(found: dict[str, str]) -> int:
    """Build the site; report an error as the click CLI does."""
    import gc

    # The cyclic collector is paused from the imports on (the build pauses it anyway): what
    # importing the site's modules makes is code, classes and tables that live as long as
    # the process, and the passes its allocations trigger were 5 ms of a rebuild (#26).
    enabled = gc.isenabled()
    gc.disable()
    try:
        _build(found)
    except KeyboardInterrupt:
        _say("Interrupted.")
        return 130
    except Exception as e:
        from gitreg.cli import _exit_code  # errors only: the one place exit codes are decided

        return _exit_code(_as_click(e), as_json="as_json" in found)
    finally:
        if enabled:
            gc.enable()
    return 0


def _as_click(error: Exception) -> Exception:
    """The error as the click command raises it (a refused OUTDIR is a bad parameter)."""
    from gitreg.site.output import OutputRefused

    if not isinstance(error, OutputRefused):
        return error
    import click

    return click.BadParameter(error.message, param_hint="OUTDIR")


def _build(found: dict[str, str]) -> None:
    from pathlib import Path

    from gitreg.registry import Registry
    from gitreg.site import build

    outdir = Path(found["outdir"])
    repo = found.get("repo") or os.environ.get("GITREG_REPO") or None  # click's envvar
    registry = Registry(repo, at=found.get("at"))
    report = build(registry, outdir, base_url=found.get("base_url"), full="full" in found)
    for note in report.notes:
        _say(f"Note: {note}")
    if "as_json" in found:
        import json

        _echo(json.dumps({"site": report.to_dict()}, indent=2, ensure_ascii=False))
    else:
        _echo(report.index.resolve().as_uri())
    _say(report.summary(outdir))


def _say(message: str) -> None:
    _echo(message, err=True)


def _echo(message: str, err: bool = False) -> None:
    from gitreg._entry_write import _echo as echo  # click.echo's output, without click

    echo(message, err=err)
