"""Artifact integrity: ``gitreg verify`` (the bytes are still the recorded ones) and
``gitreg sign`` (a model-signing signature kept beside the version), #28."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from gitreg.cli._app import (
    VERSION,
    _emit,
    _registry,
    _say,
    artifact_progress,
    at_option,
    cli,
    complete_model,
    json_option,
    push_option,
    repo_option,
)

if TYPE_CHECKING:
    from gitreg.services.examination import Verification


def _worst(results: Sequence[Verification]) -> int:
    """1 if anything changed or cannot be vouched for, else 2 if anything was unreadable."""
    codes = {r.exit_code for r in results}
    return 1 if 1 in codes else 2 if 2 in codes else 0


@cli.command()
@click.argument("uri", required=False)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Verify every version in a protected stage or pointed at by a protected alias.",
)
@click.option(
    "--notify",
    is_flag=True,
    help="With --all: deliver an ARTIFACT_CHANGED event for each changed artifact to the "
    "subscriptions in gitreg.yaml (at the verified tip, when the clone has one).",
)
@click.option("--dry-run", is_flag=True, help="With --notify: show the deliveries, send nothing.")
@at_option
@repo_option
@json_option
@click.pass_context
def verify(
    ctx: click.Context,
    uri: str | None,
    every: bool,
    notify: bool,
    dry_run: bool,
    at: str | None,
    repo: str | None,
    as_json: bool,
) -> None:
    """Check that a version's artifact is still the bytes its digest records.

    Reads the artifact again (as registration did) and compares its digest with
    the one in the manifest; a model-signing signature the policy requires for the
    version's stage or aliases is checked again against the keys in keys/.
    Exit 0: it matches. Exit 1: it changed (the file that changed, appeared or
    disappeared is named), no digest is recorded, or the signature does not verify.
    Exit 2: the source cannot be read (the reason is printed).

    \b
    Examples:
      gitreg verify models:/churn@champion
      gitreg verify models:/churn/Production --json
      gitreg verify models:/churn/3 --at verified
      gitreg verify --all --notify        # a scheduled job
    """
    if every == (uri is not None):
        raise click.UsageError("give a models:/ URI, or --all (not both)")
    if notify and not every:
        raise click.UsageError("--notify goes with --all")
    registry = _registry(repo, at)
    progress = artifact_progress("verifying")
    try:
        results = registry.verify_all(progress=progress) if every else None
        single = registry.verify(uri, progress=progress) if uri is not None else None
    finally:
        if progress is not None:
            progress.close()
    if single is not None:
        if as_json:
            _emit({"verification": single.to_dict()})
        else:
            click.echo(single.describe())
        ctx.exit(single.exit_code)
    found = results or []
    code = _worst(found)
    if notify:
        report = registry.notify_artifacts(found, dry_run=dry_run)
        _say(
            f"{len(report.events)} ARTIFACT_CHANGED events: {report.delivered} delivered, "
            f"{report.failed} failed" + (" (dry run: nothing sent)" if dry_run else "")
        )
        code = code or (1 if report.failed else 0)
    if as_json:
        _emit({"verifications": [r.to_dict() for r in found], "exit_code": code})
    else:
        for result in found:
            click.echo(result.describe())
    counts = {
        s: sum(1 for r in found if r.status == s)
        for s in ("verified", "changed", "unreadable", "no-digest")
    }
    _say(", ".join(f"{n} {s}" for s, n in counts.items()) + f" ({len(found)} versions)")
    ctx.exit(code)


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("version", type=VERSION)
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, exists=True),
    help="A PEM elliptic-curve private key (P-256/384/521) to sign the recorded digest with.",
)
@click.option(
    "--password-env",
    metavar="VAR",
    help="The environment variable that holds the key's password, if it has one.",
)
@click.option(
    "--bundle",
    "bundle_path",
    type=click.Path(dir_okay=False, exists=True),
    help="A bundle made by model_signing sign key (it must sign the recorded digest).",
)
@repo_option
@push_option
@json_option
def sign(
    name: str,
    version: int,
    key_path: str | None,
    password_env: str | None,
    bundle_path: str | None,
    repo: str | None,
    as_json: bool,
) -> None:
    """Keep a model-signing signature of a version's digest in the registry (one commit).

    With --key, gitreg signs the files the version records (model-signing's format:
    a Sigstore bundle of a DSSE-signed in-toto statement); with --bundle, it keeps a
    bundle model_signing made, after checking that it signs exactly the recorded
    digest. It goes to artifacts/<model>/<version>.sig, where the gate checks it
    against the keys policy.requirements.<stage>.signed_by lists (see
    docs/artifacts.md). Needs the signing extra: pip install 'gitreg-ml[signing]'.
    A bundle of model-signing's own comes from: model_signing sign key ./model
    --private_key release.pem --signature model.sig

    \b
    Examples:
      gitreg sign churn 3 --key release.pem
      gitreg sign churn 3 --key release.pem --password-env RELEASE_KEY_PASSWORD
      gitreg sign churn 3 --bundle model.sig
    """
    if (key_path is None) == (bundle_path is None):
        raise click.UsageError("give --key PEM or --bundle FILE (one of them)")
    registry = _registry(repo)
    if bundle_path is not None:
        path = registry.attach_signature(name, version, _read(bundle_path, "--bundle"))
    else:
        password = None
        if password_env:
            if password_env not in os.environ:
                raise click.BadParameter(f"{password_env} is not set", param_hint="--password-env")
            password = os.environ[password_env].encode()
        progress = artifact_progress()
        try:
            path = registry.sign_model_version(
                name,
                version,
                _read(key_path or "", "--key"),
                password=password,
                progress=progress,
            )
        finally:
            if progress is not None:
                progress.close()
    if as_json:
        _emit(
            {
                "signature": {
                    "name": name,
                    "version": str(version),
                    "path": path,
                    "commit": registry.last_commit,
                }
            }
        )
    else:
        click.echo(path)
    if registry.last_commit is None:
        _say(f"Nothing changed: {path} already holds this signature; no commit was made")
    else:
        _say(f"Signed {name} version {version}: {path}")


def _read(path: str, option: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(32 * 1024 * 1024 + 1)
    except OSError as e:
        raise click.BadParameter(f"{path}: {e.strerror or e}", param_hint=option) from None
    if len(data) > 32 * 1024 * 1024:
        raise click.BadParameter(f"{path} is larger than 32 MiB", param_hint=option)
    return data
