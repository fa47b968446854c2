"""Event commands: what changed in a range of commits (``gitreg events``)."""

from __future__ import annotations

import click

from gitreg.cli._app import _emit, _registry, cli, json_option, repo_option
from gitreg.core.events import EventKind


@cli.command()
@click.option(
    "--since",
    "since",
    metavar="REF",
    required=True,
    help="The commit before the range (e.g. the tip before a push); 0000... for all history.",
)
@click.option("--until", "until", metavar="REF", help="The last commit of the range (HEAD).")
@repo_option
@json_option
def events(since: str, until: str | None, repo: str | None, as_json: bool) -> None:
    """Every change between two commits, as events, oldest first.

    Computed from the registry's states commit by commit along the first-parent
    history (a merged pull request counts as its merge commit), never from commit
    messages: a squash merge or a hand edit yields its net changes. Kinds follow
    MLflow's and Databricks' webhooks (REGISTERED_MODEL_CREATED, MODEL_VERSION_CREATED,
    MODEL_VERSION_TRANSITIONED_STAGE, MODEL_VERSION_ALIAS_CREATED, ...). Each event has a
    stable id: the same range always gives the same ids.

    The range is judged as gitreg audit judges it: a change the audit reports as a
    violation (an unreviewed move to Production in a direct push, ...) is never
    listed as a normal change; a POLICY_VIOLATION event stands in its place, saying
    what was withheld.

    \b
    Examples:
      gitreg events --since HEAD~5
      gitreg events --since v1.0 --until main --json
      gitreg events --since "$BEFORE" --json    # in a push workflow
    """
    found = _registry(repo).list_events(since, until)
    if as_json:
        _emit({"events": [e.to_dict() for e in found]})
        return
    for item in found:
        pull = f" (#{item.pull_request})" if item.pull_request else ""
        event = item.event
        what = event.describe()
        if event.kind == EventKind.POLICY_VIOLATION:  # the finding, and what it withheld
            what = f"{event.key}: {event.description}"
        click.echo(
            f"{item.timestamp}  {item.commit[:10]}  {event.kind.value}  "
            f"{event.name}: {what}  [{item.author}]{pull}"
        )
