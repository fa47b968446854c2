"""Collaboration commands: ``card`` (a model's card), ``comment`` and ``comments`` (#29)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitreg.cli._app import (
    _emit,
    _fmt_time,
    _registry,
    _say,
    at_option,
    cli,
    complete_model,
    json_option,
    push_option,
    repo_option,
)

if TYPE_CHECKING:
    from gitreg.core.card import Card
    from gitreg.registry import Registry


def _read_text(path: str, what: str) -> str:
    """The text of file ``path`` (``-``: standard input), UTF-8."""
    try:
        if path == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise click.BadParameter(f"cannot read {path}: {e}", param_hint=what) from e


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.option(
    "--edit",
    "source",
    metavar="FILE",
    help="Write the card from FILE (- for standard input): Markdown with YAML front matter.",
)
@click.option("--delete", is_flag=True, help="Remove the model's card (history keeps it).")
@repo_option
@at_option
@push_option
@json_option
def card(
    name: str,
    source: str | None,
    delete: bool,
    repo: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """Show or write a model's card, models/NAME.md.

    A card is Markdown with a small YAML front matter: intended_use,
    limitations, evaluation (text), owners (a list) and risk_level (low,
    medium, high, critical). A policy can require sections before a stage:
    requirements: {Production: {card: [intended_use, limitations]}}; a
    section is a front-matter field or a '## Intended use' heading, and it
    must hold a visible character. The catalog shows the card on the model's
    page. On a registry with a remote, the card of a model with a version in
    a protected stage (or a protected alias) changes through a pull request.

    \b
    Examples:
      gitreg card churn
      gitreg card churn --edit churn-card.md
      gitreg card churn --edit - < card.md
      gitreg card churn --json
    """
    if source is not None and delete:
        raise click.UsageError("give --edit FILE or --delete, not both")
    if (source is not None or delete) and at is not None:
        raise click.UsageError("--at reads a fixed commit; a card is written on the branch")
    registry = _registry(repo, at)
    if delete:
        registry.delete_model_card(name)
        _say(f"Deleted the model card of {name}")
        return
    if source is not None:
        written = registry.set_model_card(name, _read_text(source, "--edit"))
        if as_json:
            _emit({"card": written.to_dict(), "commit": registry.last_commit})
        elif registry.last_commit is None:
            _say(f"Nothing changed: the card of {name} already says that; no commit was made")
        else:
            _say(f"Wrote {written.path} ({registry.last_commit[:12]})")
        return
    _show_card(registry, name, as_json)


def _show_card(registry: Registry, name: str, as_json: bool) -> None:
    found = registry.get_model_card(name)
    if as_json:
        _emit({"card": found.to_dict() if found is not None else None})
        return
    if found is None:
        _say(f"{name} has no model card; write one with gitreg card {name} --edit FILE")
        return
    click.echo(_card_text(found))


def _card_text(found: Card) -> str:
    head = []
    if found.owners:
        head.append(f"Owners: {', '.join(found.owners)}")
    if found.risk_level:
        head.append(f"Risk level: {found.risk_level}")
    for key in ("intended_use", "limitations", "evaluation"):
        value = found.front.get(key)
        if isinstance(value, str):
            head.append(f"{key.replace('_', ' ').capitalize()}: {value.strip()}")
    return "\n".join([*head, "", found.body.strip()]).strip()


@cli.command()
@click.argument("uri")
@click.argument("text", required=False)
@click.option("--file", "source", metavar="FILE", help="Read the text from FILE (- for stdin).")
@click.option("--edit", "edit_id", metavar="ID", help="Replace the text of your comment ID.")
@click.option("--delete", "delete_id", metavar="ID", help="Delete your comment ID.")
@click.option(
    "--no-notify",
    is_flag=True,
    help="Do not deliver COMMENT_CREATED to gitreg.yaml's subscriptions now.",
)
@repo_option
@push_option
@json_option
def comment(
    uri: str,
    text: str | None,
    source: str | None,
    edit_id: str | None,
    delete_id: str | None,
    no_notify: bool,
    repo: str | None,
    as_json: bool,
) -> None:
    """Comment on the model version a models:/ URI names.

    A comment never touches a manifest and never opens a pull request: it is
    kept on refs/gitreg/comments, pushed to the remote like any write (again
    on a lost race), and shown on the version's page in the catalog. The
    author is git's user.name; only the author edits or deletes a comment.
    COMMENT_CREATED goes to gitreg.yaml's subscriptions (--no-notify: not now).

    \b
    Examples:
      gitreg comment models:/churn/3 "Latency doubled on the EU shard"
      gitreg comment models:/churn@champion --file review.md
      gitreg comment models:/churn/3 --edit 6fc74c92704341aaa49e74dcc6031057 "Fixed in v4"
      gitreg comment models:/churn/3 --delete 6fc74c92704341aaa49e74dcc6031057
    """
    if edit_id and delete_id:
        raise click.UsageError("give --edit ID or --delete ID, not both")
    if source is not None and text is not None:
        raise click.UsageError("give TEXT or --file FILE, not both")
    body = _read_text(source, "--file") if source is not None else text
    if body is None and not delete_id:
        raise click.UsageError("give the comment's TEXT (or --file FILE)")
    registry = _registry(repo)
    mv = registry.get_version_for_uri(uri)
    if delete_id:
        gone = registry.delete_comment(delete_id)
        _say(f"Deleted comment {gone.id} on {gone.name} version {gone.version}")
        return
    if edit_id:
        result = registry.update_comment(edit_id, body or "")
    else:
        result = registry.create_comment(mv.name, mv.version, body or "", notify=not no_notify)
    if as_json:
        data = {"comment": result.comment.to_dict(), "commit": result.commit}
        if result.delivery is not None:
            data["delivery"] = result.delivery.to_dict()
        _emit(data)
    else:
        click.echo(result.comment.id)
    where = "pushed" if result.pushed else "kept in this clone (no remote to push to)"
    _say(f"Comment on {mv.name} version {mv.version} {where}")
    if result.delivery is not None and result.delivery.failed:
        _say(f"Note: COMMENT_CREATED was not delivered to {result.delivery.failed} subscriber(s)")


@cli.command()
@click.argument("uri")
@click.option("--no-fetch", is_flag=True, help="Show this clone's comments without fetching.")
@repo_option
@json_option
def comments(uri: str, no_fetch: bool, repo: str | None, as_json: bool) -> None:
    """List the comments on the model version a models:/ URI names, oldest first.

    The remote's comments are fetched first (refs/gitreg/comments); without
    a connection, this clone's are shown and a note says so.

    \b
    Examples:
      gitreg comments models:/churn/3
      gitreg comments models:/churn@champion --json
    """
    registry = _registry(repo)
    mv = registry.get_version_for_uri(uri)
    from gitreg.core.comment import version_dir

    found = registry.read_comments(version_dir(mv.name, mv.version), fetch=not no_fetch)
    for problem in found.problems:
        _say(f"Note: {problem}")
    if as_json:
        _emit({"comments": [c.to_dict() for c in found.comments]})
        return
    if not found.comments:
        _say(f"No comments on {mv.name} version {mv.version}")
    for item in found.comments:
        edited = " (edited)" if item.last_updated_timestamp != item.creation_timestamp else ""
        click.echo(f"{item.id}  {_fmt_time(item.creation_timestamp)}  {item.user_id}{edited}")
        for line in item.comment.splitlines() or [""]:
            click.echo(f"    {line}")
