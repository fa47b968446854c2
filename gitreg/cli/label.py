"""Label commands: tags and aliases on a model or a version (tag, untag, alias, unalias).

Each sets or removes labels in one commit; ``alias`` moves the name a deployment resolves
(``models:/NAME@ALIAS``). Other write commands are in ``write``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from gitreg.cli._app import (
    VERSION,
    _emit,
    _parse_pairs,
    _registry,
    _say,
    _unchanged,
    cli,
    complete_alias,
    complete_model,
    json_option,
    push_option,
    repo_option,
)
from gitreg.core.fields import is_version_text

if TYPE_CHECKING:
    from gitreg.core.entities import RegisteredModel


def _split_version(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """``[VERSION] ITEM...``: a leading all-digit argument followed by more is a version."""
    if len(args) > 1 and is_version_text(args[0]):
        return args[0], list(args[1:])
    return None, list(args)


def _written(model: RegisteredModel, version: int | None) -> dict[str, object]:
    """The entity a write on a model (or one of its versions) changed, in MLflow's shape."""
    if version is None:
        return {"registered_model": model.to_dict()}
    found = model.get_version(version)
    return {"model_version": found.to_dict() if found else None}


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("items", nargs=-1, required=True, metavar="[VERSION] KEY=VALUE...")
@repo_option
@push_option
@json_option
def tag(name: str, items: tuple[str, ...], repo: str | None, as_json: bool) -> None:
    """Set tags on a model, or on one of its versions (one commit).

    \b
    Examples:
      gitreg tag churn team=growth priority=critical
      gitreg tag churn 3 validation=passed
    """
    from gitreg.services.operations import short

    version, rest = _split_version(items)
    if version is None and items and is_version_text(items[0]):
        raise click.UsageError("give at least one KEY=VALUE after the version")
    pairs = _parse_pairs(rest, "KEY=VALUE")
    registry = _registry(repo)
    model = registry.set_tags(name, pairs, version)
    if as_json:
        _emit(_written(model, None if version is None else int(version)))
    target = name if version is None else f"{name} version {version}"
    if not _unchanged(registry, f"{target} already has those tags"):
        _say(f"Tagged {target}: {', '.join(f'{k}={short(v)}' for k, v in pairs.items())}")


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("items", nargs=-1, required=True, metavar="[VERSION] KEY...")
@repo_option
@push_option
@json_option
def untag(name: str, items: tuple[str, ...], repo: str | None, as_json: bool) -> None:
    """Remove tags from a model, or from one of its versions.

    \b
    Examples:
      gitreg untag churn priority
      gitreg untag churn 3 validation
    """
    version, keys = _split_version(items)
    model = _registry(repo).delete_tags(name, keys, version)
    if as_json:
        _emit(_written(model, None if version is None else int(version)))
    target = name if version is None else f"{name} version {version}"
    _say(f"Removed tag(s) {', '.join(keys)} from {target}")


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("alias_name", metavar="ALIAS", shell_complete=complete_alias)
@click.argument("version", type=VERSION)
@repo_option
@push_option
@json_option
def alias(name: str, alias_name: str, version: int, repo: str | None, as_json: bool) -> None:
    """Point NAME@ALIAS at VERSION (moving the alias if it is set).

    \b
    Examples:
      gitreg alias churn champion 3
      gitreg resolve models:/churn@champion
    """
    registry = _registry(repo)
    if as_json:
        model = registry.set_registered_model_alias(name, alias_name, version)
        _emit({"registered_model": model.to_dict()})
    else:  # nothing to print of the model: a large one is not read whole for it
        registry.set_alias(name, alias_name, version)
    if not _unchanged(registry, f"{name}@{alias_name} already points at version {version}"):
        _say(f"{name}@{alias_name} -> version {version}")


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("alias_name", metavar="ALIAS", shell_complete=complete_alias)
@repo_option
@push_option
@json_option
def unalias(name: str, alias_name: str, repo: str | None, as_json: bool) -> None:
    """Remove the alias NAME@ALIAS.

    \b
    Examples:
      gitreg unalias churn challenger
    """
    registry = _registry(repo)
    # The API ignores a missing alias, as MLflow does; on the command line it is a typo.
    registry.get_model_version_by_alias(name, alias_name)
    model = registry.delete_registered_model_alias(name, alias_name)
    if as_json:
        _emit({"registered_model": model.to_dict()})
    _say(f"Removed {name}@{alias_name}")
