"""Audit and promotion commands: history, requests, withdraw, rollback."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from gitreg.registry import Registry
    from gitreg.store.timeline import Interval

from gitreg.cli._app import (
    STAGE,
    VERSION,
    _emit,
    _pending,
    _registry,
    _say,
    _table,
    at_option,
    cli,
    complete_model,
    fetch_option,
    json_option,
    push_option,
    repo_option,
)


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("version", required=False, type=VERSION)
@click.option(
    "--stage",
    metavar="STAGE",
    type=STAGE,
    help="Print which version held STAGE when (intervals), e.g. --stage Production.",
)
@click.option("--alias", metavar="ALIAS", help="Print which version @ALIAS pointed at when.")
@repo_option
@at_option
@fetch_option
@json_option
def history(
    name: str,
    version: int | None,
    stage: str | None,
    alias: str | None,
    repo: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """The audit trail of a model (or one version), newest first, from git history.

    Each entry: when, author and committer, what changed (version registered, stage
    from -> to, alias moved, tag set, description edited), the commit, and the pull
    request number when the change came through a merge. Follows renames. Who
    approved a protected change is shown when gitreg audit --record kept it (git
    notes in refs/notes/gitreg/approvals; --fetch brings the remote's).

    With --stage or --alias: which version held it when, as intervals (version, from,
    until, who moved it, who approved it, the commit and the pull request), oldest
    first. --at also takes a date or time: the registry as merged at that moment.

    \b
    Examples:
      gitreg history churn
      gitreg history churn 3 --json
      gitreg history churn --stage Production
      gitreg history churn --alias champion --at 2026-11-01
      gitreg history churn --fetch        # what is merged on the remote
    """
    if stage is not None and alias is not None:
        raise click.UsageError("give --stage or --alias, not both")
    registry = _registry(repo, at)
    if stage is not None or alias is not None:
        intervals = (
            registry.get_stage_history(name, stage)
            if stage is not None
            else registry.get_alias_history(name, alias or "")
        )
        _print_intervals(intervals, stage or f"@{alias}", as_json)
        return
    entries = registry.get_model_history(name, version)
    if as_json:
        _emit({"history": [e.to_dict() for e in entries]})
        return
    for entry in entries:
        pull = f" (#{entry.pull_request})" if entry.pull_request else ""
        who = entry.author
        if entry.committer != entry.author:
            who += f", committed by {entry.committer}"
        click.echo(f"{entry.committed_at}  {entry.commit[:10]}  {who}{pull}")
        for event in entry.events:
            click.echo(f"    {event.describe()}")
        if entry.approved_by is not None:
            click.echo(f"    approved by {', '.join(entry.approved_by) or 'nobody'}")


def _print_intervals(intervals: Sequence[Interval], what: str, as_json: bool) -> None:
    if as_json:
        _emit({"intervals": [dataclasses.asdict(i) for i in intervals], "of": what})
        return
    rows = [
        [
            i.version,
            i.start,
            i.end or "now",
            i.author,
            i.commit[:10],
            f"#{i.pull_request}" if i.pull_request else "",
        ]
        for i in intervals
    ]
    header = ["VERSION", "FROM", "UNTIL", "BY", "COMMIT", "REQUEST"]
    if any(i.approved_by is not None for i in intervals):  # recorded by the audit (#24)
        header.insert(4, "APPROVED BY")
        for row, i in zip(rows, intervals, strict=True):
            said = None if i.approved_by is None else ", ".join(i.approved_by) or "nobody"
            row.insert(4, said or "")
    _table(rows, header)
    if not intervals:
        _say(f"No version has held {what}.")


@cli.command()
@repo_option
@push_option
@at_option
@fetch_option
@json_option
def requests(repo: str | None, at: str | None, as_json: bool) -> None:
    """List open requests (MLflow's transition requests): promotions, alias moves, deletes.

    Read from the remote's unmerged gitreg/* branches and, when gitreg.yaml names a
    forge (github, gitlab), its open pull requests and their reviews. Each shows the
    model, version, what it asks for (a stage or @alias), its branch and URL, its age,
    whether it is stale (the registry moved on and it no longer merges cleanly: ask
    for the same change again to rebuild it), and its review state. When gitreg.yaml's
    policy.approvals covers it, where its approvals stand: who approved so far, and
    how many more are needed from whom (the same count the gate makes). Without a
    token for the forge the branches are still listed, their review state "unknown:
    no token". A registry without a remote has no requests. The remote is always
    asked (--fetch is implied); --at REF lists the requests not merged into REF
    instead of the remote's registry branch.

    \b
    Examples:
      gitreg requests
      gitreg requests --json
      gitreg requests --at main       # what is not merged into the local main yet
    """
    registry = _registry(repo, at)
    found = registry.list_transition_requests()
    if any(r.review.reason == "no token" for r in found):
        _no_token_note(registry)
    if as_json:
        _emit({"transition_requests": [r.to_dict() for r in found]})
        return
    rows = [
        [
            r.name or "",
            r.version or "",
            r.target,
            r.url or r.branch,
            _age(r.created_at),
            "stale" if r.stale else "",
            r.review.describe(),
        ]
        for r in found
    ]
    header = ["NAME", "VERSION", "TARGET", "REQUEST", "AGE", "STALE", "REVIEW"]
    if any(r.approvals or r.approvals_problem for r in found):  # policy.approvals (#24)
        header.append("APPROVALS")
        for row, request in zip(rows, found, strict=True):
            row.append(request.approval_state())
    _table(rows, header)
    if not found:
        _say("No open promotion requests.")


def _no_token_note(registry: Registry) -> None:
    """Say once why every review state is unknown, and what to set (#27)."""
    from gitreg.integrations.forges import token_variables

    kind = str(registry.store.read_config().forge.get("type", "none"))
    names = " or ".join(token_variables(kind)) or "a token"
    _say(
        f"Review state unknown: no token, so {kind} was not asked about pull requests and "
        f"reviews; the request branches are listed. Set {names} to a token that may read "
        "them."
    )


def _age(created_at: str | None) -> str:
    if not created_at:
        return ""
    import datetime as dt

    try:
        then = dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return ""
    seconds = max(0, int((dt.datetime.now(dt.timezone.utc) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("version", required=False)
@click.argument("target", required=False, metavar="[STAGE|@ALIAS]")
@repo_option
@push_option
@json_option
def withdraw(
    name: str, version: str | None, target: str | None, repo: str | None, as_json: bool
) -> None:
    """Withdraw open requests: close their pull requests and delete their branches.

    Without VERSION, every open request on the model; with a STAGE or @ALIAS, only that
    one.

    \b
    Examples:
      gitreg withdraw churn 3 Production
      gitreg withdraw churn 3 @champion
      gitreg withdraw churn 3
    """
    withdrawn = _registry(repo).withdraw_transition_request(name, version, target)
    if as_json:
        _emit({"withdrawn": [r.to_dict() for r in withdrawn]})
        return
    for request in withdrawn:
        _say(f"Withdrew {request.url or request.branch} ({request.name} {request.target})")


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.option(
    "--alias", metavar="ALIAS", help="Roll @ALIAS back to its previous version, not Production."
)
@click.option("-m", "--message", help="Why: goes in the commit and the pull request.")
@click.option("--direct", is_flag=True, help="Commit directly; refuse if Production is protected.")
@repo_option
@push_option
@json_option
def rollback(
    name: str,
    alias: str | None,
    message: str | None,
    direct: bool,
    repo: str | None,
    as_json: bool,
) -> None:
    """Propose returning Production (or an alias) to the version that held it before.

    The previous version comes from the model's history. On a registry with a remote,
    this opens a pull request like any protected change and prints its URL; for
    Production, the current Production version is archived in the same change.

    \b
    Examples:
      gitreg rollback churn
      gitreg rollback churn --alias champion
      gitreg rollback churn -m "v4 doubles false positives (INC-123)"
    """
    from gitreg.core.errors import PromotionPending

    try:
        mv = _registry(repo).rollback_registered_model(
            name, alias=alias, message=message, direct=direct
        )
    except PromotionPending as e:
        _pending(e, as_json)
        return
    if as_json:
        _emit({"model_version": mv.to_dict()})
    where = f"@{alias} points at" if alias else f"{mv.current_stage.value} holds"
    _say(f"{name}: {where} version {mv.version} again")
