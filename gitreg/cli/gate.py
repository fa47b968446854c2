"""The promotion gate: ``gitreg validate`` (schema, invariants, change rules, policy)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitreg.cli._app import cli, repo_option

if TYPE_CHECKING:
    from gitreg.core.errors import GitregError
    from gitreg.gate.audit import AuditReport
    from gitreg.gate.review import Report

FORMATS = ("text", "json", "github")


class _CannotRun(click.ClickException):
    """Ends ``validate`` with 2: it could not run (a bad ref, not a registry)."""

    exit_code = 2

    def __init__(self, message: str, error_code: str) -> None:
        super().__init__(message)
        self.error_code = error_code  # the GitregError's own (--json), not a usage error's


def _invalid() -> None:
    """End with exit status 1 after the report: the report said why, once (#27).

    No second message: the report's last line is the verdict, and with --format json a
    script reads one JSON document and the exit status.
    """
    click.get_current_context().exit(1)


def _registry_paths(paths: Sequence[str], root: Path, must_exist: bool) -> list[str]:
    """PATH arguments (relative to the current directory) as registry-relative paths."""
    top = root.resolve()
    out = []
    for raw in paths:
        given = Path(raw).absolute()
        # The directory is resolved, the file itself is not: a symbolic link named on the
        # command line is judged as the link it is (NOT_A_REGULAR_FILE), never its target.
        keep = given.name not in ("", ".", "..")
        path = given.parent.resolve() / given.name if keep else given.resolve()
        if must_exist and not os.path.lexists(path):
            raise click.BadParameter(f"{raw}: no such file", param_hint="PATH")
        try:
            out.append(path.relative_to(top).as_posix())
        except ValueError:
            raise click.BadParameter(
                f"{raw} is outside the registry at {root}", param_hint="PATH"
            ) from None
    return out


def _emit_github(report: Report) -> None:
    from gitreg.gate.report import format_github, markdown_summary

    click.echo(format_github(report), nl=False)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(markdown_summary(report))
    outputs = os.environ.get("GITHUB_OUTPUT")
    if outputs:
        with open(outputs, "a", encoding="utf-8") as f:
            f.write(f"valid={str(report.valid).lower()}\nproblems={len(report.findings)}\n")


def _json_format(as_json: bool, fmt: str | None) -> str:
    """--json is --format json (every command takes --json, #16); else the default format."""
    if as_json and fmt not in (None, "json"):
        raise click.UsageError(f"--json and --format {fmt} ask for different outputs")
    fmt = "json" if as_json else fmt
    return fmt or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")


@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option(
    "--base",
    metavar="REF",
    help="Also apply the change rules against REF (a pull request's base, or the commit "
    "before a push), under the policy in REF's gitreg.yaml.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="text, json, or github (workflow commands + job summary); "
    "default: github when GITHUB_ACTIONS=true, else text.",
)
@click.option(
    "--push",
    is_flag=True,
    help="The change was pushed without review: protected stages may not change (with --base).",
)
@click.option(
    "--pull-request",
    "pull_request",
    metavar="N",
    type=click.IntRange(min=1),
    help="With --base: the pull (merge) request being checked; its reviews are read from "
    "the base's forge to check policy.approvals.",
)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@repo_option
def validate(
    paths: tuple[str, ...],
    base: str | None,
    fmt: str | None,
    push: bool,
    pull_request: int | None,
    as_json: bool,
    repo: str | None,
) -> None:
    """Check the registry: schemas and invariants, and with --base the change rules.

    Without --base, every manifest and gitreg.yaml (or only PATH...) is checked
    against the JSON Schemas and the invariants. With --base REF, the files that
    differ between REF and the work tree are checked, and so is what they change:
    merged versions' source, run_id and created_* stay as they were, next_version
    never decreases, no version number is reused, and every stage change is one
    that REF's gitreg.yaml allows and meets its requirements. A change that edits
    gitreg.yaml is still judged by REF's policy.

    A change to a protected stage or alias that REF's policy.approvals covers
    also needs its approvals: with --pull-request N, the pull request's reviews
    are read from the forge REF's gitreg.yaml names (in CI, the runner's own
    API URL and repository), with the token in GITHUB_TOKEN / GITLAB_TOKEN /
    GITREG_TOKEN. Each unmet rule is one finding that says who approved, who
    may still approve, and that running the check again after they approve is
    enough. A forge that cannot answer approves nothing.

    The report is printed once, on stdout, and ends with the verdict; the exit
    status says the rest (with --format json: one JSON document, nothing on
    stderr). Exit status: 0 valid, 1 invalid, 2 could not run (bad ref, not a
    registry).

    \b
    Examples:
      gitreg validate
      gitreg validate models/churn.yaml
      gitreg validate --base origin/main
      gitreg validate --base main --json
      gitreg validate --base origin/main --format github
      gitreg validate --base origin/main --pull-request 42
    """
    from gitreg.core.errors import GitregError
    from gitreg.gate import review
    from gitreg.gate.report import format_json, format_text
    from gitreg.store.store import Store

    fmt = _json_format(as_json, fmt)
    if push and base is None:
        raise click.UsageError("--push needs --base: the commit before the push")
    if pull_request is not None and (base is None or push):
        raise click.UsageError("--pull-request needs --base (the pull request's base), not --push")
    try:
        root = Store.discover(repo).root
        selected = _registry_paths(paths, root, base is None) if paths else None
        if base is None:
            report = review.check_registry(root, selected)
        else:
            report = review.check_change(
                root, base, selected, push=push, pull_request=pull_request, env=os.environ
            )
    except GitregError as e:
        raise _CannotRun(e.message, e.error_code) from e
    if fmt == "github":
        _emit_github(report)
    else:
        click.echo((format_json if fmt == "json" else format_text)(report), nl=False)
    if not report.valid:
        _invalid()


@cli.command()
@click.option(
    "--since",
    metavar="REF",
    help="The last commit you trust; the audit judges what comes after it (0000... for all "
    "history). Default: the verified tip, refs/gitreg/verified.",
)
@click.option("--until", metavar="REF", help="The last commit of the range (default: HEAD).")
@click.option(
    "--record",
    is_flag=True,
    help="After a clean audit, move refs/gitreg/verified to --until (forward only) and push "
    "it to the registry's remote.",
)
@click.option(
    "--bootstrap",
    is_flag=True,
    help="With --record: create the first verified tip, trusting --since (an "
    "administrator's one-time step).",
)
@click.option(
    "--acknowledge",
    "acknowledge",
    metavar="COMMIT",
    multiple=True,
    help="With --record: accept COMMIT's violations (an administrator's decision, recorded "
    "as a git note and pushed). Repeatable.",
)
@click.option("--reason", metavar="TEXT", help="Why --acknowledge accepts them (recorded).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="text, json, or github (annotations); default: github when GITHUB_ACTIONS=true.",
)
@click.option(
    "--notify",
    is_flag=True,
    help="Also deliver each violation as a POLICY_VIOLATION event to the subscriptions of "
    "the trusted gitreg.yaml.",
)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@repo_option
def audit(
    since: str | None,
    until: str | None,
    record: bool,
    bootstrap: bool,
    acknowledge: tuple[str, ...],
    reason: str | None,
    fmt: str | None,
    notify: bool,
    as_json: bool,
    repo: str | None,
) -> None:
    """Judge commits already on the branch, each by the policy trusted before it.

    The policy and forge that judge a commit come from trusted history, never
    from the commits judged: the gitreg.yaml at --since (or at the verified tip,
    refs/gitreg/verified), changed only by commits that are accepted. Every
    change to a protected stage or alias (deletes and renames included), to
    gitreg.yaml, .github/, CODEOWNERS or models/.retired.yaml must have arrived
    through a merged pull request, as the forge the trusted gitreg.yaml names
    confirms; a merge commit's title is not evidence. Without a forge that can
    answer, such changes are UNVERIFIED. Everything else a pull request may not
    do is a violation whatever way it arrived. The report says which protected
    changes the forge verified, which not, and why.

    With --record, a clean audit moves refs/gitreg/verified to --until and
    pushes it; the next audit starts there. After a violation, the tip stays
    until an administrator reverts it by review and acknowledges the commit
    (--acknowledge COMMIT --reason TEXT), see docs/trust.md.

    The report is printed once, on stdout, and ends with the verdict. Exit
    status: 0 no violation, 1 violations (or a clean audit that --record could
    not record: why is one line on stderr, or not_recorded in the JSON), 2 could
    not run (bad ref, no --since and no verified tip).

    \b
    Examples:
      gitreg audit
      gitreg audit --since origin/main~20
      gitreg audit --since "$BEFORE" --until "$AFTER" --record --format github
      gitreg audit --since 0000000000000000000000000000000000000000 --record
      gitreg audit --record --acknowledge 1a2b3c4d --reason "reverted in #42"
      gitreg audit --since v1.0 --format json --notify
    """
    from gitreg.cli._app import _registry
    from gitreg.gate.anchor import NotRecorded
    from gitreg.gate.report import format_audit_github, format_audit_text
    from gitreg.store.verified import VERIFIED_REF

    fmt = _json_format(as_json, fmt)
    if bootstrap and not record:
        raise click.UsageError("--bootstrap creates the verified tip: it needs --record")
    if acknowledge and not record:
        raise click.UsageError("--acknowledge lets the verified tip advance: it needs --record")
    if bootstrap and since is None:
        raise click.UsageError("--bootstrap trusts --since REF: give the commit you trust")
    registry = _registry(repo)
    failure: NotRecorded | None = None
    try:
        report = registry.audit(
            since if since is not None else VERIFIED_REF,
            until,
            record=record,
            bootstrap=bootstrap,
            acknowledge=acknowledge,
            reason=reason,
        )
    except NotRecorded as e:
        report, failure = e.report, e
    if fmt == "json":
        click.echo(_audit_json(report, failure), nl=False)
    else:
        formats = {"github": format_audit_github, "text": format_audit_text}
        click.echo(formats[fmt](report), nl=False)
        if failure is not None:  # the report is clean; why it was not recorded is news
            from gitreg.core.errors import printable

            click.echo(f"Error: {printable(failure.message)}", err=True)
    if notify and report.violations:
        registry.notify_audit(report)
    if not report.valid or failure is not None:
        _invalid()


def _audit_json(report: AuditReport, failure: GitregError | None) -> str:
    """The audit as one JSON document; a clean verdict that could not be recorded says why
    in it (``not_recorded``), never in a second document on stderr (#27)."""
    import json

    from gitreg.gate.report import format_audit_json

    if failure is None:
        return format_audit_json(report)
    data = report.to_dict()
    data["not_recorded"] = {"error_code": failure.error_code, "message": failure.message}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
