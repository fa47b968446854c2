"""Read commands: models, versions, show, latest, resolve."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gitreg.cli._app import (
    STAGE,
    VERSION,
    F,
    _emit,
    _print_model,
    _print_version,
    _print_versions,
    _registry,
    _say,
    _search_options,
    _table,
    at_option,
    cli,
    complete_model,
    fetch_option,
    json_option,
    repo_option,
)

if TYPE_CHECKING:
    from gitreg.registry import Registry
    from gitreg.services.remote_registry import RemoteRegistry


@cli.command()
@_search_options
@repo_option
@at_option
@fetch_option
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
@fetch_option
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


def remote_option(f: F) -> F:
    """``--remote URL``: read a remote registry's tip without a clone (#15)."""
    return click.option(
        "--remote",
        "remote",
        metavar="URL",
        help="Read the tip of the registry at URL (no clone; --at names its branch).",
    )(f)


def _reader(repo: str | None, at: str | None, remote: str | None) -> Registry | RemoteRegistry:
    if remote is None:
        return _registry(repo, at)
    from gitreg.services.remote_registry import RemoteRegistry

    return RemoteRegistry(remote, at)


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("version", required=False, type=VERSION)
@repo_option
@at_option
@fetch_option
@remote_option
@json_option
def show(
    name: str,
    version: int | None,
    repo: str | None,
    at: str | None,
    remote: str | None,
    as_json: bool,
) -> None:
    """Show a registered model with its versions, or one version.

    A version also lists the open requests about it that this clone knows of
    (gitreg requests fetches them).

    \b
    Examples:
      gitreg show churn
      gitreg show churn 3 --json
      gitreg show churn --at main~5      # as it was five commits ago
      gitreg show churn --remote https://github.com/acme/registry.git
    """
    registry = _reader(repo, at, remote)
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
    requests = registry.get_model_version_requests(name, mv.version)
    if as_json:
        _emit(
            {
                "model_version": mv.to_dict(),
                "open_requests": [r.to_dict() for r in requests],
            }
        )
        return
    _print_version(mv)
    for request in requests:
        click.echo(f"{'request:':<13}{request.target}  {request.branch}")


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=STAGE,
    help="Only this stage (None, Staging, Production, Archived); repeatable.",
)
@repo_option
@at_option
@fetch_option
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
@fetch_option
@remote_option
@json_option
def resolve(uri: str, repo: str | None, at: str | None, remote: str | None, as_json: bool) -> None:
    """Print the source URI that a models:/ URI names, and nothing else.

    With --remote, read the registry's tip at URL without a clone: a deployment
    pod's start-up (a depth-1, blobless fetch into ~/.cache/gitreg, then one file).

    \b
    Examples:
      gitreg resolve models:/churn@champion
      gitreg resolve models:/churn/Production
      gitreg resolve models:/churn/3
      gitreg resolve models:/churn/latest --at origin/main
      gitreg resolve models:/churn@champion --remote https://github.com/acme/registry.git
    """
    registry = _reader(repo, at, remote)
    mv = registry.get_version_for_uri(uri)
    if as_json:
        _emit({"model_version": mv.to_dict()})
    else:
        click.echo(mv.source)
