"""Write commands: each makes one commit (init, create, register, update, tag, ...)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from gitreg.cli._app import (
    _emit,
    _parse_pairs,
    _pending,
    _registry,
    _say,
    cli,
    json_option,
    push_option,
    repo_option,
)
from gitreg.core.entities import is_version_text


def _split_version(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """``[VERSION] ITEM...``: a leading all-digit argument followed by more is a version."""
    if len(args) > 1 and is_version_text(args[0]):
        return args[0], list(args[1:])
    return None, list(args)


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
    from gitreg.gate.scaffold import init_registry

    store = init_registry(directory, branch=branch)
    _say(f"Initialized gitreg registry in {store.root.resolve()}")


@cli.command()
@click.argument("name")
@click.option("-d", "--description", help="What the model does.")
@click.option("-t", "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag; repeatable.")
@repo_option
@push_option
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
@push_option
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
    from gitreg.core.uri import run_id_of

    run_id = run_id or run_id_of(source)
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


@cli.command()
@click.argument("name")
@click.argument("version", required=False)
@click.option("-d", "--description", required=True, help="The new description ('' clears it).")
@repo_option
@push_option
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
@push_option
def tag(name: str, items: tuple[str, ...], repo: str | None) -> None:
    """Set tags on a model, or on one of its versions (one commit).

    \b
    Examples:
      gitreg tag churn team=growth priority=critical
      gitreg tag churn 3 validation=passed
    """
    version, rest = _split_version(items)
    if version is None and items and is_version_text(items[0]):
        raise click.UsageError("give at least one KEY=VALUE after the version")
    pairs = _parse_pairs(rest, "KEY=VALUE")
    _registry(repo).set_tags(name, pairs, version)
    target = name if version is None else f"{name} version {version}"
    _say(f"Tagged {target}: {', '.join(f'{k}={v}' for k, v in pairs.items())}")


@cli.command()
@click.argument("name")
@click.argument("items", nargs=-1, required=True, metavar="[VERSION] KEY...")
@repo_option
@push_option
def untag(name: str, items: tuple[str, ...], repo: str | None) -> None:
    """Remove tags from a model, or from one of its versions.

    \b
    Examples:
      gitreg untag churn priority
      gitreg untag churn 3 validation
    """
    version, keys = _split_version(items)
    _registry(repo).delete_tags(name, keys, version)
    target = name if version is None else f"{name} version {version}"
    _say(f"Removed tag(s) {', '.join(keys)} from {target}")


@cli.command()
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version")
@repo_option
@push_option
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
@push_option
def unalias(name: str, alias_name: str, repo: str | None) -> None:
    """Remove the alias NAME@ALIAS.

    \b
    Examples:
      gitreg unalias churn challenger
    """
    registry = _registry(repo)
    # The API ignores a missing alias, as MLflow does; on the command line it is a typo.
    registry.get_model_version_by_alias(name, alias_name)
    registry.delete_registered_model_alias(name, alias_name)
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
@click.option("-m", "--message", help="Why: goes in the commit and the pull request.")
@click.option(
    "--direct", is_flag=True, help="Commit directly; refuse if the policy protects the stage."
)
@repo_option
@push_option
@json_option
def transition(
    name: str,
    version: str,
    stage: str,
    archive_existing_versions: bool,
    message: str | None,
    direct: bool,
    repo: str | None,
    as_json: bool,
) -> None:
    """Move VERSION of NAME to STAGE (None, Staging, Production, Archived).

    At most one version is in Production: promoting another one needs
    --archive-existing-versions, which archives the old one in the same commit.
    On a registry with a remote, a stage that gitreg.yaml protects (Production by
    default) changes through a pull request: the command pushes a branch, opens the
    request, prints its URL and exits 0; the stage changes when it is merged.

    \b
    Examples:
      gitreg transition churn 3 Staging
      gitreg transition churn 3 Production --archive-existing-versions -m "F1 0.94"
      gitreg transition churn 1 Archived
    """
    from gitreg.core.errors import PromotionPending

    try:
        mv = _registry(repo).transition_model_version_stage(
            name, version, stage, archive_existing_versions, message=message, direct=direct
        )
    except PromotionPending as e:
        _pending(e, as_json)
        return
    if as_json:
        _emit({"model_version": mv.to_dict()})
    _say(f"{name} version {mv.version} is now in {mv.current_stage.value}")


@cli.command()
@click.argument("name")
@click.argument("new_name")
@repo_option
@push_option
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
@push_option
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
