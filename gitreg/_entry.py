"""The ``gitreg`` console script.

``gitreg resolve URI`` is what a deployment job runs on every start, so it is answered
without importing click (a third of the command's cold start, see #7); every other
command, and any ``resolve`` with options beyond ``--repo``, ``--at``, ``--verified`` and
``--site`` (#29), goes through the click CLI; so do the write commands, but for the plain
forms of ``register``, ``transition`` and ``alias`` (``_entry_write``, #26).
``tests/test_entry.py`` and ``tests/test_entry_write.py`` check that both paths print and
exit the same. Neither serves a model whose manifest is invalid (#22): the
answers cache holds only what a checked read found valid, and the full read refuses the
rest.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence


def main() -> None:
    """Run ``gitreg``."""
    if sys.argv[1:2] == ["site"]:
        from gitreg._entry_site import site_fast  # only for `gitreg site`: not on resolve's path

        code = site_fast(sys.argv[1:])
    else:
        code = resolve_fast(sys.argv[1:])
    if code is None:
        from gitreg._entry_write import exit_now, write_fast

        code = write_fast(sys.argv[1:])
        if code is not None:
            exit_now(code)
    if code is None:
        from gitreg.cli import entry

        entry()
    sys.exit(code)


def _parse(args: Sequence[str]) -> dict[str, str | None] | None:
    """``URI [--repo PATH] [--at REF | --verified] [--site URL]`` in any order, or None for
    anything else."""
    found: dict[str, str | None] = {
        "uri": None,
        "repo": None,
        "at": None,
        "verified": None,
        "site": None,
    }
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        key, sep, value = arg.partition("=")
        if arg == "--verified":
            if found["verified"] is not None:
                return None
            found["verified"] = "yes"
        elif key in ("--repo", "--at", "--site"):
            if not sep:
                if not rest:
                    return None
                value = rest.pop(0)
            if found[key[2:]] is not None:
                return None
            found[key[2:]] = value
        elif arg.startswith("-") or found["uri"] is not None:
            return None
        else:
            found["uri"] = arg
    return found if _consistent(found) else None  # if not, click says what is wrong


def _consistent(found: dict[str, str | None]) -> bool:
    """A URI, and no option that contradicts another (--verified with --at, --site with a
    clone's --repo or --at)."""
    if found["uri"] is None or (found["verified"] and found["at"] is not None):
        return False
    return found["site"] is None or (found["at"] is None and found["repo"] is None)


def resolve_fast(args: Sequence[str]) -> int | None:
    """Answer ``resolve URI [--repo PATH] [--at REF | --verified]``; None when click should."""
    if not args or args[0] != "resolve":
        return None
    parsed = _parse(args[1:])
    if parsed is None or parsed["uri"] is None:
        return None
    if parsed["site"] is not None:
        return _resolve_site(parsed["site"], parsed["uri"], parsed["verified"] is not None)
    from gitreg.store import answers

    verified = parsed["verified"] is not None or parsed["at"] == "verified"  # as Registry's
    at = "refs/gitreg/verified" if verified else parsed["at"]  # store.verified.VERIFIED_REF
    known = answers.lookup(parsed["repo"], at, parsed["uri"])
    if known is not None:  # what a full, checked read of this exact manifest answered (#15)
        sys.stdout.write(f"{known}\n")
        return 0

    def full_read() -> str:
        from gitreg.registry import Registry

        registry = Registry(
            parsed["repo"], at=None if verified else parsed["at"], verified=verified
        )
        return registry.get_version_for_uri(str(parsed["uri"])).source

    return _answer(full_read)


def _resolve_site(site: str, uri: str, verified: bool) -> int:
    """``resolve URI --site URL``: a pod reading a published catalog's static API (#29)."""

    def site_read() -> str:
        from gitreg.services.remote_registry import RemoteRegistry

        return RemoteRegistry(site, verified=True if verified else None, site=True).resolve(uri)

    return _answer(site_read)


def _answer(read: Callable[[], str]) -> int:
    """Print what ``read`` resolves, or exit as the click CLI would for its error."""
    try:
        source = read()
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return 130
    except Exception as e:
        from gitreg.cli import _exit_code  # exit codes are decided in one place (errors only)

        return _exit_code(e, as_json=False)
    sys.stdout.write(f"{source}\n")
    return 0
