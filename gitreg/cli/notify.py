"""Delivery commands: ``gitreg notify`` and ``gitreg webhooks list|test`` (issue 13)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gitreg.cli._app import _emit, _registry, _say, _table, cli, json_option, repo_option

if TYPE_CHECKING:
    from gitreg.integrations.notify import Delivery, Report


@cli.command()
@click.option(
    "--since",
    "since",
    metavar="REF",
    help="The commit before the range (the tip before a push); 0000... for all history.",
)
@click.option("--until", "until", metavar="REF", help="The last commit of the range (HEAD).")
@click.option(
    "--request",
    "request",
    metavar="REF",
    help="Instead of a range: announce the transition request whose branch tip is REF.",
)
@click.option(
    "--base",
    "base",
    metavar="REF",
    help="With --request: the branch the request targets (its gitreg.yaml decides).",
)
@click.option(
    "--pull-request",
    "pull_request",
    type=click.IntRange(min=1),
    help="With --request: the pull (merge) request's number.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
@repo_option
@json_option
def notify(
    since: str | None,
    until: str | None,
    request: str | None,
    base: str | None,
    pull_request: int | None,
    dry_run: bool,
    repo: str | None,
    as_json: bool,
) -> None:
    """Deliver the events of a range of commits to gitreg.yaml's subscriptions.

    Every event after --since up to --until (see gitreg events) goes to each
    subscription in notifications.webhooks that wants its kind and model: signed JSON
    webhooks, Slack, GitHub repository_dispatch, email. Each request has the
    subscription's timeout and is retried with backoff on connection errors, 429 and
    5xx. Re-running a range sends the same events with the same webhook-id, so
    receivers can deduplicate. A change the audit reports as a violation is never
    delivered as a normal one: POLICY_VIOLATION is sent in its place (see gitreg
    events). Exit 1 if any delivery failed. Secrets come from the environment
    variables gitreg.yaml names (then from the clone's private store) and are never
    printed.

    \b
    Examples:
      gitreg notify --since HEAD~3 --dry-run
      gitreg notify --since "$BEFORE"           # in the push workflow
      gitreg notify --request "$HEAD" --base "$BASE" --pull-request 12
    """
    if request is None and since is None:
        raise click.UsageError("give --since REF (or --request REF --base REF)")
    if request is not None and (since is not None or base is None):
        raise click.UsageError("--request needs --base REF and no --since")
    registry = _registry(repo)
    if request is not None and base is not None:
        report = registry.notify_request(base, request, pull_request, dry_run=dry_run)
    else:
        report = registry.notify(since, until, dry_run=dry_run)
    _print_report(report, as_json)
    if report.failed:
        from gitreg.core.errors import DeliveryFailed

        raise DeliveryFailed(
            f"{report.failed} of {len(report.deliveries)} deliveries failed; "
            "run the same range again to retry (receivers deduplicate by webhook-id)"
        )


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        _emit(report.to_dict())
        return
    for item in report.deliveries:
        _print_delivery(item)
    if report.dry_run:
        _say(f"{len(report.events)} events, {len(report.deliveries)} messages; nothing sent")
    elif not report.deliveries:
        _say(f"{len(report.events)} events; no subscription wants them")
    else:
        _say(f"{len(report.events)} events: {report.delivered} delivered, {report.failed} failed")


def _print_delivery(item: Delivery) -> None:
    where = f"{item.subscription} ({item.format}, {item.target})"
    what = ", ".join(sorted(set(item.kinds)))
    ids = item.event_ids[0] if len(item.event_ids) == 1 else f"{len(item.event_ids)} events"
    if not item.sent:
        click.echo(f"would send {what} [{ids}] to {where}")
        if item.subject:
            click.echo(f"  Subject: {item.subject}")
        for line in (item.body or "").splitlines():
            click.echo(f"  {line}")
    elif item.ok:
        tries = f", {item.attempts} tries" if item.attempts > 1 else ""
        status = f" {item.status}" if item.status else ""
        click.echo(f"delivered {what} [{ids}] to {where}:{status}{tries}")
    else:
        click.echo(f"FAILED    {what} [{ids}] to {where}: {item.error}")


@cli.group()
def webhooks() -> None:
    """The subscriptions in gitreg.yaml (notifications.webhooks): list and test them.

    \b
    Examples:
      gitreg webhooks list
      gitreg webhooks test deploy --event MODEL_VERSION_TRANSITIONED_TO_PRODUCTION
    """


@webhooks.command("list")
@repo_option
@json_option
def list_(repo: str | None, as_json: bool) -> None:
    """Every subscription: name, format, where it goes, which events and models.

    Shows the names of the variables that hold URLs and secrets, never their values.

    \b
    Examples:
      gitreg webhooks list
      gitreg webhooks list --json
    """
    found = _registry(repo).list_webhooks()
    if as_json:
        _emit({"webhooks": [w.to_dict() for w in found]})
        return
    rows = [
        [
            w.name + ("" if w.enabled else " (disabled)"),
            w.format,
            w.target(),
            ",".join(w.events) or "all",
            ",".join(w.models) or "all",
            f"${w.secret_env}" if w.secret_env else "",
        ]
        for w in found
    ]
    _table(rows, ["NAME", "FORMAT", "TARGET", "EVENTS", "MODELS", "SECRET"])


@webhooks.command("test")
@click.argument("name")
@click.option(
    "--event",
    "event",
    metavar="KIND",
    help="The kind of example event (default: the subscription's first), e.g. "
    "MODEL_VERSION_CREATED or model_version.created.",
)
@repo_option
@json_option
def test(name: str, event: str | None, repo: str | None, as_json: bool) -> None:
    """Send an example event to one subscription now (as MLflow's test_webhook).

    The event is made up (model example_model) and has a fresh id. Exit 1 if the
    receiver did not accept it.

    \b
    Examples:
      gitreg webhooks test deploy
      gitreg webhooks test slack --event MODEL_VERSION_TRANSITIONED_TO_PRODUCTION
    """
    result = _registry(repo).test_webhook(name, event)
    if as_json:
        _emit(result.to_dict())
    else:
        _print_delivery(result)
    if not result.ok:
        from gitreg.core.errors import DeliveryFailed

        raise DeliveryFailed(f"webhook {name} did not accept the test event: {result.error}")
