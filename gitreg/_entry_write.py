"""``gitreg register``, ``transition`` and ``alias`` without click (#26).

A CI job registers a model and moves it with one process per command; click and the CLI's
command modules were a fifth of each one's cold start. The plain forms of the three write
commands are parsed here by hand and call the same ``Registry`` method the click command
calls, so every check a write makes (names, policy, protected stages and aliases, digests,
requirements, review on a registry with a remote, group commit, the journal) runs the same.

Anything this parser is not sure of is handed to click untouched (``None``): ``--help``, a
value that starts with ``-``, an option given twice, a version or stage click would have to
convert or refuse, a ``KEY=VALUE`` or a metric that does not parse, a terminal on stderr
for a register (click draws the hashing progress bar there). Every error the write raises
is reported by ``gitreg.cli._exit_code``, the one place exit codes are decided, so the
message, the JSON error and the exit code are click's. tests/test_entry_write.py runs each
command both ways and compares stdout, stderr, exit code and the commit written.

A process that runs a write makes that one write and ends: it pauses the cyclic garbage
collector.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitreg.registry import Registry

# Options with a value, by every spelling the click command accepts here (short ones only
# detached: ``-dTEXT`` goes to click), mapped to the parameter they set.
_VALUE_OPTIONS = {
    "register": {
        "--run-id": "run_id",
        "-d": "description",
        "--description": "description",
        "-t": "tags",
        "--tag": "tags",
        "-m": "metrics",
        "--metric": "metrics",
        "--digest": "digest",
        "--repo": "repo",
    },
    "transition": {"-m": "message", "--message": "message", "--repo": "repo"},
    "alias": {"--repo": "repo"},
}
_FLAGS = {
    "register": {"--json": "as_json"},
    "transition": {
        "--json": "as_json",
        "--archive-existing-versions": "archive",
        "--direct": "direct",
    },
    "alias": {"--json": "as_json"},
}
_REPEATED = ("tags", "metrics")
_ARGUMENTS = {"register": 2, "transition": 3, "alias": 3}
_STAGES = {s.lower(): s for s in ("None", "Staging", "Production", "Archived")}
_MAX_VERSION = 2**31 - 1  # core.fields.MAX_VERSION, checked by the click type too


def write_fast(args: Sequence[str]) -> int | None:
    """Run a plain ``register``, ``transition`` or ``alias``; None when click should."""
    if not args or args[0] not in _ARGUMENTS:
        return None
    if args[0] == "register" and sys.stderr.isatty():
        return None  # click draws the progress bar of reading the artifact
    parsed = _parse(args[0], args[1:])
    if parsed is None:
        return None
    run = _COMMANDS[args[0]]
    _pause_gc()
    return run(parsed)


def _pause_gc() -> None:
    """No cyclic garbage collection in a process that makes one write and ends (#26).

    Importing the write's modules and building its records allocate tens of thousands of
    objects that live until the process ends; the collector walked them some thirty times
    a command and found nothing to free. What a write makes and drops is freed by
    reference counting as before (a group commit's many writes too); ``gitreg site``
    pauses the collector for its whole build the same way.
    """
    import gc

    gc.disable()


def _parse(command: str, args: Sequence[str]) -> dict[str, Any] | None:
    """The command's parameters, or None for anything but the plain forms."""
    found: dict[str, Any] = {"tags": [], "metrics": [], "positional": []}
    rest = list(args)
    while rest:
        if not _step(command, found, rest.pop(0), rest):
            return None
    return found if len(found["positional"]) == _ARGUMENTS[command] else None


def _step(command: str, found: dict[str, Any], arg: str, rest: list[str]) -> bool:
    """Read ``arg`` (and its value from ``rest``) into ``found``; False: leave it to click."""
    values, flags = _VALUE_OPTIONS[command], _FLAGS[command]
    option, sep, value = arg.partition("=")
    if arg in flags:
        return _take(found, flags[arg], True)
    if arg in ("--push", "--no-push"):
        return _take(found, "push", arg == "--push")
    if option in values and (not sep or option.startswith("--")):
        if not sep:
            if not rest or not _plain(rest[0]):
                return False
            value = rest.pop(0)
        return _take(found, values[option], value)
    if arg.startswith("-"):
        return False  # --help, -h, a short option with its value attached, --, ...
    found["positional"].append(arg)
    return True


def _plain(value: str) -> bool:
    """A detached option value click reads the same way (not one that looks like an option)."""
    return not value.startswith("-")


def _take(found: dict[str, Any], key: str, value: object) -> bool:
    if key in _REPEATED:
        found[key].append(value)
        return True
    if key in found:
        return False  # given twice: click keeps the last one, and says nothing; let it
    found[key] = value
    return True


def _pairs(items: Sequence[str]) -> dict[str, str] | None:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return None
        pairs[key] = value
    return pairs


def _version(text: str) -> int | None:
    """A version as the click type reads it, when plainly one (ASCII digits in range)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        return None
    number = int(text)
    return number if 1 <= number <= _MAX_VERSION else None


def _registry(found: dict[str, Any]) -> Registry:
    from gitreg.core import yaml_memo
    from gitreg.registry import Registry
    from gitreg.store import memo

    memo.for_next_process = True  # one write per process: keep what the next one re-derives

    registry = Registry(found.get("repo"), push=found.get("push"))
    # gitreg.yaml as the safe loader parsed it before, by its text: no PyYAML (#26).
    yaml_memo.read_file(registry.store.state_dir)
    found["state_dir"] = registry.store.state_dir
    return registry


def _register(found: dict[str, Any]) -> int | None:
    tags, metric_pairs = _pairs(found["tags"]), _pairs(found["metrics"])
    if tags is None or metric_pairs is None:
        return None
    metrics = {}
    for key, value in metric_pairs.items():
        try:
            metrics[key] = float(value)
        except ValueError:
            return None
    name, source = found["positional"]

    def write() -> None:
        from gitreg.core.uri import run_id_of

        registry = _registry(found)
        mv = registry.create_model_version(
            name,
            source,
            run_id=found.get("run_id") or run_id_of(source),
            tags=tags,
            description=found.get("description"),
            metrics=metrics,
            digest=found.get("digest"),
        )
        if found.get("as_json"):
            _emit({"model_version": mv.to_dict()})
        else:
            _echo(str(mv.version))
        _say(f"Registered {name} version {mv.version}")
        _say("digest: " + mv.digest if mv.digest else _NO_DIGEST)
        if registry.artifact_note:
            _say(f"note: {registry.artifact_note}")

    return _run(write, found)


_NO_DIGEST = "digest: none recorded (a policy requiring one will refuse this version)"


def _transition(found: dict[str, Any]) -> int | None:
    name, version, stage = found["positional"]
    number, canonical = _version(version), _STAGES.get(stage.lower())
    if number is None or canonical is None:
        return None

    def write() -> None:
        registry = _registry(found)
        mv = registry.transition_model_version_stage(
            name,
            number,
            canonical,
            bool(found.get("archive")),
            message=found.get("message"),
            direct=bool(found.get("direct")),
        )
        if found.get("as_json"):
            _emit({"model_version": mv.to_dict()})
        now = mv.current_stage.value
        _outcome(
            registry.last_commit,
            f"{name} version {mv.version} is now in {now}",
            f"{name} version {mv.version} is already in {now}",
        )

    return _run(write, found)


def _outcome(commit: str | None, done: str, already: str) -> None:
    """The line a write prints: what it did, or that nothing changed (no commit)."""
    _say(done if commit is not None else f"Nothing changed: {already}; no commit was made")


def _alias(found: dict[str, Any]) -> int | None:
    name, alias, version = found["positional"]
    number = _version(version)
    if number is None:
        return None

    def write() -> None:
        registry = _registry(found)
        if found.get("as_json"):
            model = registry.set_registered_model_alias(name, alias, number)
            _emit({"registered_model": model.to_dict()})
        else:  # as the click command: a large model is not read whole for nothing
            registry.set_alias(name, alias, number)
        _outcome(
            registry.last_commit,
            f"{name}@{alias} -> version {number}",
            f"{name}@{alias} already points at version {number}",
        )

    return _run(write, found)


_COMMANDS: dict[str, Callable[[dict[str, Any]], int | None]] = {
    "register": _register,
    "transition": _transition,
    "alias": _alias,
}


def _run(write: Callable[[], None], found: dict[str, Any]) -> int:
    """Run ``write``; an error is reported and exits as the click CLI reports it."""
    try:
        write()
    except KeyboardInterrupt:
        _say("Interrupted.")
        return 130
    except Exception as e:
        from gitreg.cli import _exit_code  # errors only: the one place exit codes are decided

        return _exit_code(e, as_json=bool(found.get("as_json")))
    finally:
        _save_memo(found)
    return 0


def _save_memo(found: dict[str, Any]) -> None:
    """Keep what this write parsed of gitreg.yaml for the next one (``yaml_memo``)."""
    if "state_dir" in found:
        from gitreg.core import record_code, yaml_memo

        yaml_memo.save_file(found["state_dir"])
        record_code.save()  # the records' compiled methods, beside gitreg's bytecode


def exit_now(code: int) -> None:
    """End the process with ``code`` once the write is done and its output flushed.

    Tearing down the 250 modules a write loads costs about a tenth of the command (#26);
    nothing needs it. What must run at exit still does: the ``atexit`` callbacks (the store
    stops its ``git cat-file`` there), before the output is flushed and the process ends.
    The usual exit is kept when another thread is alive or the interpreter has no way to
    run the callbacks first.
    """
    import _thread  # threading counts the same threads; a write need not import it (#26)
    import atexit
    import os

    run_callbacks = getattr(atexit, "_run_exitfuncs", None)
    if run_callbacks is None or _thread._count() != 0:  # another thread is alive
        sys.exit(code)
    run_callbacks()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)  # a closed pipe: the interpreter reports it as it always does
    os._exit(code)


def _emit(data: Any) -> None:
    import json  # --json only

    _echo(json.dumps(data, indent=2, ensure_ascii=False))


def _say(message: str) -> None:
    _echo(message, err=True)


def _echo(message: str, err: bool = False) -> None:
    """``click.echo``: the line, flushed; a line with an escape sequence is click's to strip."""
    if "\x1b" in message:
        import click

        click.echo(message, err=err)
        return
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{message}\n")
    stream.flush()
