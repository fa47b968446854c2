"""Event commands: what changed in a range of commits (``gitreg events``)."""

from __future__ import annotations

from collections.abc import Sequence

import click

from gitreg.cli._app import _emit, _registry, cli, json_option, repo_option
from gitreg.core.events import TO_STAGE_KINDS, EventKind, RegistryEvent


@cli.command()
@click.option(
    "--since",
    "since",
    metavar="REF",
    required=True,
    help="The commit before the range (e.g. the tip before a push); 0000... for all history.",
)
@click.option("--until", "until", metavar="REF", help="The last commit of the range (HEAD).")
@click.option(
    "--each-kind",
    is_flag=True,
    help="One line per event: a stage change's two kinds on two lines (--json always is).",
)
@repo_option
@json_option
def events(since: str, until: str | None, each_kind: bool, repo: str | None, as_json: bool) -> None:
    """Every change between two commits, as events, oldest first.

    Computed from the registry's states commit by commit along the first-parent
    history (a merged pull request counts as its merge commit), never from commit
    messages: a squash merge or a hand edit yields its net changes. Kinds follow
    MLflow's and Databricks' webhooks (REGISTERED_MODEL_CREATED, MODEL_VERSION_CREATED,
    MODEL_VERSION_TRANSITIONED_STAGE, MODEL_VERSION_ALIAS_CREATED, ...). Each event has a
    stable id: the same range always gives the same ids.

    A stage change is two events, as Databricks sends them: MODEL_VERSION_TRANSITIONED_STAGE
    and, into Staging, Production or Archived, MODEL_VERSION_TRANSITIONED_TO_<STAGE>,
    each with its own id. A subscription without events: gets the first only; one that
    names a kind gets that kind; one that names both gets both. The text lists each
    change once, naming both kinds; --each-kind lists each event, and --json always
    lists every event, as they are delivered.

    The range is judged as gitreg audit judges it: a change the audit reports as a
    violation (an unreviewed move to Production in a direct push, ...) is never
    listed as a normal change; a POLICY_VIOLATION event stands in its place, saying
    what was withheld.

    \b
    Examples:
      gitreg events --since HEAD~5
      gitreg events --since HEAD~5 --each-kind
      gitreg events --since v1.0 --until main --json
      gitreg events --since "$BEFORE" --json    # in a push workflow
    """
    found = _registry(repo).list_events(since, until)
    if as_json:
        _emit({"events": [e.to_dict() for e in found]})
        return
    lines = [(i, i.event.kind.value) for i in found] if each_kind else _one_per_change(found)
    for item, kinds in lines:
        click.echo(_line(item, kinds))


def _one_per_change(found: Sequence[RegistryEvent]) -> list[tuple[RegistryEvent, str]]:
    """Each event with the kinds its line names: a stage change's generic event also names
    its stage-specific twin, which gets no line of its own (#27)."""
    generic: dict[tuple[object, ...], int] = {}
    lines: list[tuple[RegistryEvent, str]] = []
    for item in found:
        event = item.event
        key = (item.commit, event.name, event.version, event.from_stage, event.to_stage)
        if event.kind in TO_STAGE_KINDS.values() and key in generic:
            at = generic.pop(key)
            lines[at] = (lines[at][0], f"{lines[at][1]} + {event.kind.value}")
            continue
        if event.kind == EventKind.MODEL_VERSION_TRANSITIONED_STAGE:
            generic[key] = len(lines)
        lines.append((item, event.kind.value))
    return lines


def _line(item: RegistryEvent, kinds: str) -> str:
    pull = f" (#{item.pull_request})" if item.pull_request else ""
    event = item.event
    what = event.describe()
    if event.kind == EventKind.POLICY_VIOLATION:  # the finding, and what it withheld
        what = f"{event.key}: {event.description}"
    when = f"{item.timestamp}  {item.commit[:10]}"
    return f"{when}  {kinds}  {event.name}: {what}  [{item.author}]{pull}"
