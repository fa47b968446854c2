"""The ``gitreg`` command line: parses arguments, calls one Registry method, prints the result.

No registry logic lives here. Exit codes are decided in ``main``: 0 success, 1 the registry
refused (a GitregError), 2 the command line was wrong, 3 an unexpected error, 130 Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gitreg.errors import BadRef, GitregError

if TYPE_CHECKING:
    from gitreg.entities import ModelVersion, RegisteredModel
    from gitreg.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# ------------------------------------------------------------------ shared options


def repo_option(f: F) -> F:
    """``--repo PATH``: the registry (default: $GITREG_REPO, else the current repository)."""
    return click.option(
        "--repo",
        "repo",
        metavar="PATH",
        envvar="GITREG_REPO",
        help="Registry repository (default: $GITREG_REPO, else the current directory's repo).",
    )(f)


def json_option(f: F) -> F:
    """``--json``: print MLflow REST-shaped JSON instead of text."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON (MLflow's REST shapes)."
    )(f)


def at_option(f: F) -> F:
    """``--at REF``: read the registry as of a branch, tag or commit."""
    return click.option(
        "--at", "at", metavar="REF", help="Read the registry at a branch, tag or commit."
    )(f)


def _registry(repo: str | None, at: str | None = None) -> Registry:
    from gitreg.registry import Registry  # --help stays import-light

    return Registry(repo, at=at)


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _say(message: str) -> None:
    click.echo(message, err=True)


def _parse_pairs(values: Iterable[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=what)
        pairs[key] = value
    return pairs


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    cells = [[str(c) for c in header], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _fmt_time(ms: int) -> str:
    from gitreg.entities import format_timestamp

    return format_timestamp(ms - ms % 1000) if ms else ""


def _tags_text(tags: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in tags.items())


def _print_versions(versions: Sequence[ModelVersion], with_name: bool = False) -> None:
    header = ["VERSION", "STAGE", "ALIASES", "SOURCE", "RUN_ID", "CREATED", "TAGS"]
    rows = [
        [
            mv.version,
            mv.current_stage.value,
            ",".join(mv.aliases),
            mv.source,
            mv.run_id,
            _fmt_time(mv.creation_timestamp),
            _tags_text(mv.tags),
        ]
        for mv in versions
    ]
    if with_name:
        header.insert(0, "NAME")
        for row, mv in zip(rows, versions, strict=True):
            row.insert(0, mv.name)
    _table(rows, header)


def _print_model(model: RegisteredModel) -> None:
    click.echo(f"name:        {model.name}")
    click.echo(f"description: {model.description or ''}")
    click.echo(f"tags:        {_tags_text(model.tags)}")
    aliases = ", ".join(f"@{a} -> {v}" for a, v in model.aliases.items())
    click.echo(f"aliases:     {aliases}")
    click.echo(f"created:     {_fmt_time(model.creation_timestamp)} by {model.user_id or '?'}")
    click.echo(f"versions:    {len(model.versions)} (next is {model.next_version})")
    if model.versions:
        click.echo("")
        _print_versions(model.versions)


def _print_version(mv: ModelVersion) -> None:
    fields = [
        ("name", mv.name),
        ("version", mv.version),
        ("stage", mv.current_stage.value),
        ("aliases", ", ".join(f"@{a}" for a in mv.aliases)),
        ("source", mv.source),
        ("run_id", mv.run_id or ""),
        ("description", mv.description or ""),
        ("tags", _tags_text(mv.tags)),
        ("metrics", _tags_text(mv.metrics)),
        ("created", f"{_fmt_time(mv.creation_timestamp)} by {mv.user_id or '?'}"),
    ]
    if mv.storage_location:
        fields.insert(5, ("storage", mv.storage_location))
    for key, value in fields:
        click.echo(f"{key + ':':<13}{value}")


# ------------------------------------------------------------------------ commands


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="gitreg", prog_name="gitreg")
@click.option("--traceback", "show_traceback", is_flag=True, hidden=True)
def cli(show_traceback: bool) -> None:
    """gitreg: a model registry whose database is a Git repository.

    Each registered model is a YAML manifest in models/; every change is a commit.
    Commands and fields follow the MLflow Model Registry.

    \b
    Examples:
      gitreg init registry && cd registry
      gitreg register churn runs:/abc123/model --run-id abc123
      gitreg transition churn 1 Production
      gitreg alias churn champion 1
      gitreg resolve models:/churn@champion
    """


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--branch", default="main", show_default=True, help="Initial branch of a new repo.")
def init(directory: str, branch: str) -> None:
    """Create a registry: gitreg.yaml, models/, a validation workflow, and a first commit.

    DIRECTORY may be new, empty, or an existing git repository without gitreg.yaml.

    \b
    Examples:
      gitreg init my-registry
      gitreg init .            # turn the current repository into a registry
    """
    from gitreg.scaffold import init_registry

    store = init_registry(directory, branch=branch)
    _say(f"Initialized gitreg registry in {store.root.resolve()}")


@cli.command()
@click.argument("name")
@click.option("-d", "--description", help="What the model does.")
@click.option("-t", "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag; repeatable.")
@repo_option
@json_option
def create(
    name: str, description: str | None, tags: tuple[str, ...], repo: str | None, as_json: bool
) -> None:
    """Create an empty registered model (one commit).

    \b
    Examples:
      gitreg create churn -d "Predicts 30-day churn" -t team=growth -t priority=high
    """
    model = _registry(repo).create_registered_model(name, _parse_pairs(tags, "--tag"), description)
    if as_json:
        _emit({"registered_model": model.to_dict()})
    _say(f"Created registered model {name}")


@cli.command()
@click.argument("name")
@click.argument("source")
@click.option("--run-id", help="The run that produced the model.")
@click.option("-d", "--description", help="What changed in this version.")
@click.option("-t", "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag; repeatable.")
@click.option(
    "-m", "--metric", "metrics", multiple=True, metavar="KEY=NUMBER", help="A metric; repeatable."
)
@repo_option
@json_option
def register(
    name: str,
    source: str,
    run_id: str | None,
    description: str | None,
    tags: tuple[str, ...],
    metrics: tuple[str, ...],
    repo: str | None,
    as_json: bool,
) -> None:
    """Register SOURCE as the next version of NAME and print its number.

    Creates the model if it does not exist (like mlflow.register_model).
    A runs:/RUN_ID/... source sets --run-id when it is not given.

    \b
    Examples:
      gitreg register churn runs:/abc123/model
      gitreg register churn s3://models/churn/7 --run-id abc123 -d "New features" -m f1=0.94
    """
    values = {}
    for key, value in _parse_pairs(metrics, "--metric").items():
        try:
            values[key] = float(value)
        except ValueError:
            raise click.BadParameter(
                f"{key}={value!r} is not a number", param_hint="--metric"
            ) from None
    if run_id is None and source.startswith("runs:/"):
        run_id = source[len("runs:/") :].split("/", 1)[0] or None
    mv = _registry(repo).create_model_version(
        name,
        source,
        run_id=run_id,
        tags=_parse_pairs(tags, "--tag"),
        description=description,
        metrics=values,
    )
    if as_json:
        _emit({"model_version": mv.to_dict()})
    else:
        click.echo(mv.version)
    _say(f"Registered {name} version {mv.version}")


def _search_options(f: F) -> F:
    f = click.option("--page-token", help="Continue from a previous page's next_page_token.")(f)
    f = click.option("--max-results", type=click.IntRange(min=1), help="Page size.")(f)
    f = click.option(
        "--order-by",
        "order_by",
        multiple=True,
        help="e.g. 'name ASC', 'creation_timestamp DESC'; repeatable.",
    )(f)
    return click.option(
        "--filter",
        "filter_string",
        metavar="EXPR",
        help="MLflow filter, e.g. \"name LIKE '%churn%'\".",
    )(f)


@cli.command()
@_search_options
@repo_option
@at_option
@json_option
def models(
    filter_string: str | None,
    order_by: tuple[str, ...],
    max_results: int | None,
    page_token: str | None,
    repo: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """List registered models, optionally filtered with MLflow's grammar.

    \b
    Examples:
      gitreg models
      gitreg models --filter "name LIKE '%churn%'" --order-by "name DESC"
      gitreg models --filter "tags.team = 'growth'" --json
    """
    found = _registry(repo, at).search_registered_models(
        filter_string, max_results or 100, list(order_by) or None, page_token
    )
    if as_json:
        _emit({"registered_models": [m.to_dict() for m in found], "next_page_token": found.token})
        return
    rows = []
    for m in found:
        stages = {mv.current_stage.value: mv.version for mv in m.latest_versions}
        rows.append(
            [
                m.name,
                len(m.versions),
                stages.get("Staging", ""),
                stages.get("Production", ""),
                ",".join(f"{a}={v}" for a, v in m.aliases.items()),
                m.description or "",
            ]
        )
    _table(rows, ["NAME", "VERSIONS", "STAGING", "PRODUCTION", "ALIASES", "DESCRIPTION"])
    if found.token:
        _say(f"More results: --page-token {found.token}")


@cli.command()
@_search_options
@repo_option
@at_option
@json_option
def versions(
    filter_string: str | None,
    order_by: tuple[str, ...],
    max_results: int | None,
    page_token: str | None,
    repo: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """List model versions, optionally filtered with MLflow's grammar.

    \b
    Examples:
      gitreg versions --filter "name = 'churn'"
      gitreg versions --filter "run_id IN ('abc', 'def')" --order-by "version_number DESC"
      gitreg versions --filter "tags.validation = 'passed'" --json
    """
    found = _registry(repo, at).search_model_versions(
        filter_string, max_results or 10_000, list(order_by) or None, page_token
    )
    if as_json:
        _emit({"model_versions": [mv.to_dict() for mv in found], "next_page_token": found.token})
        return
    _print_versions(found, with_name=True)
    if found.token:
        _say(f"More results: --page-token {found.token}")


@cli.command()
@click.argument("name")
@click.argument("version", required=False)
@repo_option
@at_option
@json_option
def show(name: str, version: str | None, repo: str | None, at: str | None, as_json: bool) -> None:
    """Show a registered model with its versions, or one version.

    \b
    Examples:
      gitreg show churn
      gitreg show churn 3 --json
      gitreg show churn --at main~5      # as it was five commits ago
    """
    registry = _registry(repo, at)
    if version is None:
        model = registry.get_registered_model(name)
        if as_json:
            data = model.to_dict()
            data["versions"] = [mv.to_dict() for mv in model.versions]
            _emit({"registered_model": data})
        else:
            _print_model(model)
        return
    mv = registry.get_model_version(name, version)
    if as_json:
        _emit({"model_version": mv.to_dict()})
    else:
        _print_version(mv)


def _split_version(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """``[VERSION] ITEM...``: a leading all-digit argument followed by more is a version."""
    if len(args) > 1 and args[0].isdigit():
        return args[0], list(args[1:])
    return None, list(args)


@cli.command()
@click.argument("name")
@click.argument("version", required=False)
@click.option("-d", "--description", required=True, help="The new description ('' clears it).")
@repo_option
def update(name: str, version: str | None, description: str, repo: str | None) -> None:
    """Set the description of a model, or of one of its versions.

    \b
    Examples:
      gitreg update churn -d "Predicts 30-day churn from account activity"
      gitreg update churn 3 -d "Retrained on November data. F1 0.94"
    """
    registry = _registry(repo)
    if version is None:
        registry.update_registered_model(name, description)
        _say(f"Updated description of {name}")
    else:
        registry.update_model_version(name, version, description)
        _say(f"Updated description of {name} version {version}")


@cli.command()
@click.argument("name")
@click.argument("items", nargs=-1, required=True, metavar="[VERSION] KEY=VALUE...")
@repo_option
def tag(name: str, items: tuple[str, ...], repo: str | None) -> None:
    """Set tags on a model, or on one of its versions (one commit).

    \b
    Examples:
      gitreg tag churn team=growth priority=critical
      gitreg tag churn 3 validation=passed
    """
    version, rest = _split_version(items)
    if version is None and items and items[0].isdigit():
        raise click.UsageError("give at least one KEY=VALUE after the version")
    pairs = _parse_pairs(rest, "KEY=VALUE")
    registry = _registry(repo)
    for key, value in pairs.items():
        if version is None:
            registry.set_registered_model_tag(name, key, value)
        else:
            registry.set_model_version_tag(name, version, key, value)
    target = name if version is None else f"{name} version {version}"
    _say(f"Tagged {target}: {', '.join(f'{k}={v}' for k, v in pairs.items())}")


@cli.command()
@click.argument("name")
@click.argument("items", nargs=-1, required=True, metavar="[VERSION] KEY...")
@repo_option
def untag(name: str, items: tuple[str, ...], repo: str | None) -> None:
    """Remove tags from a model, or from one of its versions.

    \b
    Examples:
      gitreg untag churn priority
      gitreg untag churn 3 validation
    """
    version, keys = _split_version(items)
    registry = _registry(repo)
    for key in keys:
        if version is None:
            registry.delete_registered_model_tag(name, key)
        else:
            registry.delete_model_version_tag(name, version, key)
    target = name if version is None else f"{name} version {version}"
    _say(f"Removed tag(s) {', '.join(keys)} from {target}")


@cli.command()
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version")
@repo_option
def alias(name: str, alias_name: str, version: str, repo: str | None) -> None:
    """Point NAME@ALIAS at VERSION (moving the alias if it is set).

    \b
    Examples:
      gitreg alias churn champion 3
      gitreg resolve models:/churn@champion
    """
    _registry(repo).set_registered_model_alias(name, alias_name, version)
    _say(f"{name}@{alias_name} -> version {version}")


@cli.command()
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@repo_option
def unalias(name: str, alias_name: str, repo: str | None) -> None:
    """Remove the alias NAME@ALIAS.

    \b
    Examples:
      gitreg unalias churn challenger
    """
    _registry(repo).delete_registered_model_alias(name, alias_name)
    _say(f"Removed {name}@{alias_name}")


@cli.command()
@click.argument("name")
@click.argument("version")
@click.argument(
    "stage", type=click.Choice(["None", "Staging", "Production", "Archived"], case_sensitive=False)
)
@click.option(
    "--archive-existing-versions",
    is_flag=True,
    help="Move the versions already in STAGE to Archived in the same commit.",
)
@repo_option
@json_option
def transition(
    name: str,
    version: str,
    stage: str,
    archive_existing_versions: bool,
    repo: str | None,
    as_json: bool,
) -> None:
    """Move VERSION of NAME to STAGE (None, Staging, Production, Archived).

    At most one version is in Production: promoting another one needs
    --archive-existing-versions, which archives the old one in the same commit.

    \b
    Examples:
      gitreg transition churn 3 Staging
      gitreg transition churn 3 Production --archive-existing-versions
      gitreg transition churn 1 Archived
    """
    mv = _registry(repo).transition_model_version_stage(
        name, version, stage, archive_existing_versions
    )
    if as_json:
        _emit({"model_version": mv.to_dict()})
    _say(f"{name} version {mv.version} is now in {mv.current_stage.value}")


@cli.command()
@click.argument("name")
@click.option("--stage", "stages", multiple=True, help="Only this stage; repeatable.")
@repo_option
@at_option
@json_option
def latest(
    name: str, stages: tuple[str, ...], repo: str | None, at: str | None, as_json: bool
) -> None:
    """The newest version in each stage (MLflow's get_latest_versions).

    \b
    Examples:
      gitreg latest churn
      gitreg latest churn --stage Production --json
    """
    found = _registry(repo, at).get_latest_versions(name, list(stages) or None)
    if as_json:
        _emit({"model_versions": [mv.to_dict() for mv in found]})
    else:
        _print_versions(found)


@cli.command()
@click.argument("uri")
@repo_option
@at_option
@json_option
def resolve(uri: str, repo: str | None, at: str | None, as_json: bool) -> None:
    """Print the source URI that a models:/ URI names, and nothing else.

    \b
    Examples:
      gitreg resolve models:/churn@champion
      gitreg resolve models:/churn/Production
      gitreg resolve models:/churn/3
      gitreg resolve models:/churn/latest --at origin/main
    """
    registry = _registry(repo, at)
    mv = registry.get_version_for_uri(uri)
    if as_json:
        _emit({"model_version": mv.to_dict()})
    else:
        click.echo(mv.source)


@cli.command()
@click.argument("name")
@click.argument("new_name")
@repo_option
def rename(name: str, new_name: str, repo: str | None) -> None:
    """Rename a registered model (its manifest moves; history follows it).

    \b
    Examples:
      gitreg rename churn churn-predictor
    """
    _registry(repo).rename_registered_model(name, new_name)
    _say(f"Renamed {name} to {new_name}")


@cli.command()
@click.argument("name")
@click.argument("version", required=False)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@repo_option
def delete(name: str, version: str | None, yes: bool, repo: str | None) -> None:
    """Delete a version, or a whole model. Version numbers are never reused.

    The deleted data stays in git history.

    \b
    Examples:
      gitreg delete churn 2 --yes
      gitreg delete churn --yes
    """
    what = (
        f"{name} version {version}" if version else f"registered model {name} and all its versions"
    )
    if not yes:
        if not sys.stdin or not sys.stdin.isatty():
            raise click.UsageError(f"refusing to delete {what} without confirmation; pass --yes")
        click.confirm(f"Delete {what}?", abort=True, err=True)
    registry = _registry(repo)
    if version is None:
        registry.delete_registered_model(name)
    else:
        registry.delete_model_version(name, version)
    _say(f"Deleted {what}")


# ---------------------------------------------------------------------- entry point


def _log_crash(exc: BaseException) -> str:
    import platform

    from gitreg import __version__

    fd, path = tempfile.mkstemp(prefix="gitreg-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(
            f"gitreg {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        )
        f.write(f"argv: {sys.argv}\n\n")
        f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return path


def _fail(message: str, code: str, as_json: bool, exit_code: int) -> int:
    if as_json:
        click.echo(json.dumps({"error_code": code, "message": message}), err=True)
    else:
        click.echo(f"Error: {message}", err=True)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and map every outcome to an exit code (see module doc)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="gitreg", standalone_mode=False)
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
        return _exit_code(e, "--json" in args)
    return 0


def _exit_code(e: Exception, as_json: bool) -> int:
    """Report ``e`` on stderr in one line and return its exit code."""
    if isinstance(e, click.ClickException):
        e.show()
        return e.exit_code
    if isinstance(e, BadRef):
        return _fail(e.message, e.error_code, as_json, 2)
    if isinstance(e, GitregError):
        return _fail(e.message, e.error_code, as_json, 1)
    path = _log_crash(e)
    message = f"unexpected {type(e).__name__}: {e} (details in {path})"
    return _fail(message, "INTERNAL_ERROR", as_json, 3)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
