"""Read commands: models, versions, show, latest, resolve."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from gitreg.cli.completion import complete_uri
from gitreg.core.errors import InvalidManifest

if TYPE_CHECKING:
    from gitreg.registry import Registry
    from gitreg.services.listing import Listing
    from gitreg.services.remote_registry import RemoteRegistry


def verified_option(f: F) -> F:
    """``--verified``: read the verified tip, the last commit a clean audit accepted (#22)."""
    return click.option(
        "--verified",
        "verified",
        is_flag=True,
        help="Read refs/gitreg/verified: the last commit a clean gitreg audit accepted.",
    )(f)


def _local(repo: str | None, at: str | None, verified: bool) -> Registry:
    """The registry of ``--repo``, at ``--at`` or at its verified tip (``--verified``)."""
    if not verified:
        return _registry(repo, at)  # --at verified: Registry reads the verified tip too
    if at is not None:
        raise click.UsageError("--verified reads refs/gitreg/verified: give it or --at, not both")
    ctx = click.get_current_context()
    if ctx.meta.get("gitreg.fetch"):
        raise click.UsageError(
            "--verified reads this clone's refs/gitreg/verified; for a remote's, use "
            "--remote URL --verified instead of --fetch"
        )
    from gitreg.registry import Registry

    return Registry(repo, verified=True)


def _invalid_json(found: Listing[Any]) -> dict[str, Any]:
    """``{"invalid_models": [...]}`` when a listing left models out, else nothing."""
    return {"invalid_models": [r.to_dict() for r in found.refused]} if found.refused else {}


def _refuse(found: Listing[Any]) -> None:
    """Fail after a listing that left models out: a read never serves one (#22).

    One error line, as every error: the first model's finding (file, line, what to do),
    and the names of the others (``--json`` lists them all with their findings).
    """
    if not found.refused:
        return
    first, others = found.refused[0], found.refused[1:]
    also = ""
    if others:
        names = ", ".join(str(r.name or r.path) for r in others)
        also = f"; nor are {names}, whose manifests are invalid too"
    not_listed = f", so {first.name or first.path} is not listed"
    raise InvalidManifest(f"{first.message}{not_listed}{also}", first.findings)


@cli.command()
@_search_options
@repo_option
@at_option
@fetch_option
@verified_option
@json_option
def models(
    filter_string: str | None,
    order_by: tuple[str, ...],
    max_results: int | None,
    page_token: str | None,
    repo: str | None,
    at: str | None,
    verified: bool,
    as_json: bool,
) -> None:
    """List registered models, optionally filtered with MLflow's grammar.

    A model whose manifest is invalid is not listed: it is named on stderr with
    its finding, and the command exits 1 after listing the others.

    \b
    Examples:
      gitreg models
      gitreg models --filter "name LIKE '%churn%'" --order-by "name DESC"
      gitreg models --filter "tags.team = 'growth'" --json
      gitreg models --verified             # as the last clean audit accepted it
    """
    found = _local(repo, at, verified).search_registered_models(
        filter_string, max_results or 100, list(order_by) or None, page_token
    )
    if as_json:
        _emit(
            {
                "registered_models": [m.to_dict() for m in found],
                "next_page_token": found.token,
                **_invalid_json(found),
            }
        )
        _refuse(found)
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
    _refuse(found)


@cli.command()
@_search_options
@repo_option
@at_option
@fetch_option
@verified_option
@json_option
def versions(
    filter_string: str | None,
    order_by: tuple[str, ...],
    max_results: int | None,
    page_token: str | None,
    repo: str | None,
    at: str | None,
    verified: bool,
    as_json: bool,
) -> None:
    """List model versions, optionally filtered with MLflow's grammar.

    The versions of a model whose manifest is invalid are not listed: the model is
    named on stderr with its finding, and the command exits 1 after listing the rest.

    \b
    Examples:
      gitreg versions --filter "name = 'churn'"
      gitreg versions --filter "run_id IN ('abc', 'def')" --order-by "version_number DESC"
      gitreg versions --filter "tags.validation = 'passed'" --json
    """
    found = _local(repo, at, verified).search_model_versions(
        filter_string, max_results or 10_000, list(order_by) or None, page_token
    )
    if as_json:
        _emit(
            {
                "model_versions": [mv.to_dict() for mv in found],
                "next_page_token": found.token,
                **_invalid_json(found),
            }
        )
    else:
        _print_versions(found, with_name=True)
        if found.token:
            _say(f"More results: --page-token {found.token}")
    _refuse(found)


def remote_option(f: F) -> F:
    """``--remote URL``: read a remote registry's tip without a clone (#15)."""
    return click.option(
        "--remote",
        "remote",
        metavar="URL",
        help="Read the tip of the registry at URL (no clone; --at names its branch).",
    )(f)


def site_option(f: F) -> F:
    """``--site URL``: read a catalog's static API on a web host (#29)."""
    return click.option(
        "--site",
        "site",
        metavar="URL",
        help="Read the catalog gitreg site built at URL (its api/ files): any static host or "
        "CDN; a model the site marks invalid is refused.",
    )(f)


def _reader(
    repo: str | None, at: str | None, remote: str | None, verified: bool, site: str | None = None
) -> Registry | RemoteRegistry:
    if site is not None:
        if remote is not None or at is not None:
            raise click.UsageError("--site reads a built catalog: give it without --remote or --at")
        from gitreg.services.remote_registry import RemoteRegistry

        return RemoteRegistry(site, verified=True if verified else None, site=True)
    if remote is None:
        return _local(repo, at, verified)
    if verified and at is not None:
        raise click.UsageError("--verified reads refs/gitreg/verified: give it or --at, not both")
    from gitreg.services.remote_registry import RemoteRegistry

    return RemoteRegistry(remote, at, verified=True if verified else None)


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("version", required=False, type=VERSION)
@repo_option
@at_option
@fetch_option
@verified_option
@remote_option
@json_option
def show(
    name: str,
    version: int | None,
    repo: str | None,
    at: str | None,
    verified: bool,
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
      gitreg show churn --verified       # as the last clean audit accepted it
    """
    registry = _reader(repo, at, remote, verified)
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
@verified_option
@json_option
def latest(
    name: str,
    stages: tuple[str, ...],
    repo: str | None,
    at: str | None,
    verified: bool,
    as_json: bool,
) -> None:
    """The newest version in each stage (MLflow's get_latest_versions).

    \b
    Examples:
      gitreg latest churn
      gitreg latest churn --stage Production --json
    """
    found = _local(repo, at, verified).get_latest_versions(name, list(stages) or None)
    if as_json:
        _emit({"model_versions": [mv.to_dict() for mv in found]})
    else:
        _print_versions(found)


@cli.command()
@click.argument("uri", shell_complete=complete_uri)
@repo_option
@at_option
@fetch_option
@verified_option
@remote_option
@site_option
@json_option
def resolve(
    uri: str,
    repo: str | None,
    at: str | None,
    verified: bool,
    remote: str | None,
    site: str | None,
    as_json: bool,
) -> None:
    """Print the source URI that a models:/ URI names, and nothing else.

    A model whose manifest is invalid (two versions in Production, an alias to a
    missing version, ...) is never resolved: exit 1 with the finding.

    With --remote, read the registry's tip at URL without a clone: a deployment
    pod's start-up (a depth-1, blobless fetch into ~/.cache/gitreg, then one file).
    With --verified, read refs/gitreg/verified instead: the last commit a clean
    gitreg audit accepted (no such ref: exit 2). --remote without --verified
    follows registry.read in gitreg.yaml at the remote's verified commit.

    With --site, read the catalog that gitreg site built and published at URL
    (GitHub Pages, any static host or CDN): one small JSON file, asked for
    with the ETag last seen. A model the site shows as invalid is refused;
    with --verified, so is one changed after the build's verified tip.

    \b
    Examples:
      gitreg resolve models:/churn@champion
      gitreg resolve models:/churn/Production
      gitreg resolve models:/churn/3
      gitreg resolve models:/churn/latest --at origin/main
      gitreg resolve models:/churn@champion --verified
      gitreg resolve models:/churn@champion --remote https://github.com/acme/registry.git
      gitreg resolve models:/churn@champion --remote URL --verified
      gitreg resolve models:/churn@champion --site https://acme.github.io/registry/
    """
    registry = _reader(repo, at, remote, verified, site)
    mv = registry.get_version_for_uri(uri)
    if as_json:
        _emit({"model_version": mv.to_dict()})
    else:
        click.echo(mv.source)
