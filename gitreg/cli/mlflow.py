"""MLflow commands: import-mlflow and export-mlflow (MLflow is imported only when they run)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from gitreg.cli._app import _emit, _registry, _say, cli, json_option, repo_option

if TYPE_CHECKING:
    from gitreg.mlflow.transfer import Report


@contextlib.contextmanager
def _client(registry_uri: str, tracking_uri: str | None, *, reads: bool) -> Iterator[Any]:
    """An MlflowClient on ``registry_uri`` whose tracking store is never MLflow's default.

    MLflow's default tracking store is ``./mlflow.db`` (and ``./mlruns/``), created as soon
    as a client exists: in a registry, one ``git add -A`` from being committed (#27).
    """
    from gitreg.mlflow import transfer as mlflow_io

    tracking = mlflow_io.tracking_uri_for(registry_uri, tracking_uri, os.environ)
    if tracking is None:
        raise click.UsageError(
            f"{registry_uri} names no tracking store, and MLflow's default would create "
            "mlflow.db in the current directory; pass --tracking-uri URI (or set "
            "MLFLOW_TRACKING_URI) to name the tracking server or database"
        )
    source = mlflow_io.sqlite_file(registry_uri)
    if reads and source is not None and not source.is_file():
        raise click.UsageError(
            f"--registry-uri {registry_uri}: {source} is not an MLflow database (no such "
            "file); check the path (import-mlflow reads an existing registry, it creates none)"
        )
    try:
        import mlflow
    except ImportError:
        raise click.UsageError(
            "MLflow is not installed; install it with: pip install 'gitreg-ml[mlflow]'"
        ) from None
    import logging

    # MLflow logs its database migrations at INFO on stderr; the output is gitreg's own
    # progress and report (#16). Its warnings and errors still show.
    for logger in ("mlflow", "alembic"):
        logging.getLogger(logger).setLevel(logging.WARNING)
    # MLflow's SQL store resolves models:/m-... sources through the global tracking URI, and
    # set_tracking_uri also sets $MLFLOW_TRACKING_URI: both are put back afterwards.
    saved_env = os.environ.get("MLFLOW_TRACKING_URI")
    was_set = mlflow.is_tracking_uri_set()  # type: ignore[no-untyped-call]
    saved = mlflow.get_tracking_uri() if was_set else None
    mlflow.set_tracking_uri(tracking)
    try:
        yield mlflow.MlflowClient(tracking_uri=tracking, registry_uri=registry_uri)
    finally:
        mlflow.set_tracking_uri(saved)  # type: ignore[arg-type]  # None: unset, as before
        if saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        _emit(
            {
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "versions_added": report.versions_added,
                "archived": [{"name": n, "version": str(v)} for n, v in report.archived],
            }
        )
    else:
        for label, names in (("created", report.created), ("updated", report.updated)):
            for name in names:
                click.echo(f"{label:<8} {name}")
    _say(report.summary())


def _uri_options(f: Any) -> Any:
    f = click.option(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI, to resolve models:/m-... sources (default: "
        "$MLFLOW_TRACKING_URI, else the registry URI's database or server; never a new "
        "./mlflow.db).",
    )(f)
    return click.option(
        "--registry-uri",
        metavar="URI",
        required=True,
        help="The MLflow registry: sqlite:///mlflow.db, a database URL or http(s)://server.",
    )(f)


@cli.command("import-mlflow")
@_uri_options
@click.option(
    "--archive-extra-production",
    is_flag=True,
    help="Where MLflow has several Production versions, keep the newest and archive the rest.",
)
@repo_option
@json_option
def import_mlflow(
    registry_uri: str,
    tracking_uri: str | None,
    archive_extra_production: bool,
    repo: str | None,
    as_json: bool,
) -> None:
    """Copy an MLflow model registry into this registry, one commit per model.

    Keeps version numbers, sources, run ids, stages, aliases, tags, descriptions and
    creation times. Everything is checked before anything is written; running it
    again adds only what is new.

    \b
    Examples:
      gitreg import-mlflow --registry-uri sqlite:///mlflow.db
      gitreg import-mlflow --registry-uri http://mlflow:5000 --archive-extra-production
    """
    from gitreg.mlflow import transfer as mlflow_io

    registry = _registry(repo)
    with _client(registry_uri, tracking_uri, reads=True) as client:
        _say(f"Reading {registry_uri} ...")
        models = mlflow_io.read_mlflow(client)
        steps = mlflow_io.plan_import(models, registry, archive_extra_production)
        by_name = {m.name: m for m in models}
        with click.progressbar(length=len(steps), label="Importing", file=sys.stderr) as bar:
            report = mlflow_io.apply_import(
                steps, by_name, registry, archive_extra_production, lambda _: bar.update(1)
            )
    _print_report(report, as_json)


@cli.command("export-mlflow")
@_uri_options
@repo_option
@json_option
def export_mlflow(
    registry_uri: str, tracking_uri: str | None, repo: str | None, as_json: bool
) -> None:
    """Copy this registry into an MLflow model registry (so nobody is locked in).

    Version numbers, stages, aliases, tags and descriptions are kept; MLflow sets its
    own creation times. Running it again adds only what is new.

    \b
    Examples:
      gitreg export-mlflow --registry-uri sqlite:///mlflow.db
      gitreg export-mlflow --registry-uri http://mlflow:5000 --json
    """
    from gitreg.mlflow import transfer as mlflow_io

    registry = _registry(repo)
    total = len(registry.store.read_models())
    with (
        _client(registry_uri, tracking_uri, reads=False) as client,
        click.progressbar(length=total, label="Exporting", file=sys.stderr) as bar,
    ):
        report = mlflow_io.export_mlflow(client, registry, lambda _: bar.update(1))
    _print_report(report, as_json)
