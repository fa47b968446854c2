"""Audit and promotion commands: history, requests, rollback."""

from __future__ import annotations

import click

from gitreg.cli._app import (
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
@repo_option
@at_option
@fetch_option
@json_option
def history(
    name: str, version: int | None, repo: str | None, at: str | None, as_json: bool
) -> None:
    """The audit trail of a model (or one version), newest first, from git history.

    Each entry: when, author and committer, what changed (version registered, stage
    from -> to, alias moved, tag set, description edited), the commit, and the pull
    request number when the change came through a merge. Follows renames.

    \b
    Examples:
      gitreg history churn
      gitreg history churn 3 --json
      gitreg history churn --fetch        # what is merged on the remote
    """
    entries = _registry(repo, at).get_model_history(name, version)
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


@cli.command()
@repo_option
@push_option
@at_option
@fetch_option
@json_option
def requests(repo: str | None, at: str | None, as_json: bool) -> None:
    """List open promotion requests (MLflow's transition requests).

    Read from the remote's gitreg/* branches that are not merged yet and, when
    gitreg.yaml names a forge (github, gitlab), its open pull requests. The remote
    is always asked (--fetch is implied); --at REF lists the requests not merged
    into REF instead of the remote's registry branch.

    \b
    Examples:
      gitreg requests
      gitreg requests --json
      gitreg requests --at main       # what is not merged into the local main yet
    """
    found = _registry(repo, at).list_transition_requests()
    if as_json:
        _emit({"transition_requests": [r.to_dict() for r in found]})
        return
    rows = [
        [r.name or "", r.version or "", r.stage or "", r.branch, r.url or "(branch only)"]
        for r in found
    ]
    _table(rows, ["NAME", "VERSION", "STAGE", "BRANCH", "PULL REQUEST"])
    if not found:
        _say("No open promotion requests.")


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.option("-m", "--message", help="Why: goes in the commit and the pull request.")
@click.option("--direct", is_flag=True, help="Commit directly; refuse if Production is protected.")
@repo_option
@push_option
@json_option
def rollback(name: str, message: str | None, direct: bool, repo: str | None, as_json: bool) -> None:
    """Propose returning Production to the previous Production version (the incident command).

    The previous version comes from the model's history. On a registry with a remote,
    this opens a pull request like any protected transition and prints its URL; the
    current Production version is archived in the same change.

    \b
    Examples:
      gitreg rollback churn
      gitreg rollback churn -m "v4 doubles false positives (INC-123)"
    """
    from gitreg.core.errors import PromotionPending

    try:
        mv = _registry(repo).rollback_registered_model(name, message=message, direct=direct)
    except PromotionPending as e:
        _pending(e, as_json)
        return
    if as_json:
        _emit({"model_version": mv.to_dict()})
    _say(f"{name} version {mv.version} is back in {mv.current_stage.value}")
