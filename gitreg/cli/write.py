"""Write commands: each makes one commit (init, create, register, update, transition, ...).

Tags and aliases are set by the commands in ``label``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from gitreg.cli._app import (
    STAGE,
    VERSION,
    _emit,
    _parse_pairs,
    _pending,
    _registry,
    _say,
    _unchanged,
    artifact_progress,
    cli,
    complete_model,
    json_option,
    push_option,
    repo_option,
)
from gitreg.core.entities import Stage

if TYPE_CHECKING:
    from gitreg.registry import Registry


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--branch", default="main", show_default=True, help="Initial branch of a new repo.")
@click.option("--remote", metavar="URL", help="The registry's remote, added as origin.")
@click.option(
    "--forge",
    type=click.Choice(["none", "github", "gitlab"]),
    default="none",
    show_default=True,
    help="Where requests become pull/merge requests (and which CI files to write).",
)
@click.option("--repository", metavar="OWNER/NAME", help="The repository on the forge.")
@click.option(
    "--owner",
    "owners",
    multiple=True,
    metavar="@HANDLE",
    help="A code owner of gitreg.yaml and the CI files; repeatable (default: @OWNER).",
)
@json_option
def init(
    directory: str,
    branch: str,
    remote: str | None,
    forge: str,
    repository: str | None,
    owners: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create a registry: gitreg.yaml, models/, CI checks, code owners, and a first commit.

    DIRECTORY may be new, empty, or an existing git repository without gitreg.yaml;
    a directory that holds files but is not a git repository is refused (run git
    init there first if you mean it).
    For GitHub it writes .github/workflows/gitreg.yml (validate every pull request
    against the base's policy, audit every push, deliver events) and .github/CODEOWNERS;
    for GitLab, .gitlab-ci.yml and .gitlab/CODEOWNERS. With --remote, origin is added
    and the branch tracks it, so every write pushes. The GitHub and GitLab setup
    guides (docs/guides/github.md, docs/guides/gitlab.md) give the branch protection
    that makes the guarantees hold; init prints the one setting the forge still
    needs (GitHub: the 'validate registry' check required on the default branch).

    \b
    Examples:
      gitreg init my-registry
      gitreg init .            # turn the current repository into a registry
      gitreg init reg --forge github --repository acme/registry --owner @acme/ml
      gitreg init reg --remote git@gitlab.com:acme/registry.git --forge gitlab
    """
    from gitreg.gate.scaffold import Setup, init_registry

    if forge != "none" and not repository and not remote:
        raise click.UsageError("--forge needs --repository OWNER/NAME (or a --remote to read)")
    setup = Setup(remote, forge, repository, tuple(owners))
    store = init_registry(directory, branch=branch, setup=setup)
    if as_json:
        _emit({"registry": {"path": str(store.root.resolve()), "commit": store.last_commit}})
    _say(f"Initialized gitreg registry in {store.root.resolve()}")
    if remote:
        from gitreg.store.remote import adopt_remote_head

        note = adopt_remote_head(store.root, remote, branch)  # plain git init --bare (#27)
        if note:
            _say(note)
        _say(f"Push it once to create the branch: git -C {directory} push -u origin {branch}")
    if forge in FORGE_SETTING:
        _say(FORGE_SETTING[forge].format(branch=branch))


# The one setting a forge needs that gitreg cannot make from the repository (#24): without
# it a pull request merges whatever the gate says (see docs/approvals.md).
FORGE_SETTING = {
    "github": (
        "One GitHub setting remains, which gitreg cannot make: require the check "
        "'validate registry' on {branch} (Settings > Rules > Rulesets, 'Require status "
        "checks to pass', with pull requests required and no bypass), so that nothing merges "
        "past the gate; see docs/approvals.md"
    ),
    "gitlab": (
        "One GitLab setting remains, which gitreg cannot make: 'Pipelines must succeed' "
        "(Settings > Merge requests) for {branch}, so that nothing merges past the gate; "
        "see docs/approvals.md"
    ),
}


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
@click.argument("name", shell_complete=complete_model)
@click.argument("source")
@click.option("--run-id", help="The run that produced the model.")
@click.option("-d", "--description", help="What changed in this version.")
@click.option("-t", "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag; repeatable.")
@click.option(
    "-m", "--metric", "metrics", multiple=True, metavar="KEY=NUMBER", help="A metric; repeatable."
)
@click.option(
    "--digest",
    metavar="sha256:HEX",
    help="The artifact's digest, as the job that wrote it knows it: checked against SOURCE "
    "when gitreg can read it, recorded as given when it cannot.",
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
    digest: str | None,
    repo: str | None,
    as_json: bool,
) -> None:
    """Register SOURCE as the next version of NAME and print its number.

    Creates the model if it does not exist (like mlflow.register_model).
    A runs:/RUN_ID/... source sets --run-id when it is not given.

    The artifact is read to record its digest (sha256, as model-signing computes it)
    when gitreg can read it: a local path or file://, runs:/ and models:/m-... through
    MLflow (MLFLOW_TRACKING_URI), s3:// with the s3 extra and AWS credentials. An
    MLflow model's signature is recorded too. A --digest that does not match is
    refused; a source gitreg cannot read gets the --digest given, or none (it says
    why). See docs/artifacts.md.

    \b
    Examples:
      gitreg register churn ./model
      gitreg register churn runs:/abc123/model
      gitreg register churn s3://models/churn/7 --run-id abc123 -d "New features" -m f1=0.94
      gitreg register churn gs://models/churn/7 --digest sha256:9f86d0...
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
    registry = _registry(repo)
    progress = artifact_progress()
    try:
        mv = registry.create_model_version(
            name,
            source,
            run_id=run_id,
            tags=_parse_pairs(tags, "--tag"),
            description=description,
            metrics=values,
            digest=digest,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()
    if as_json:
        _emit({"model_version": mv.to_dict()})
    else:
        click.echo(mv.version)
    _say(f"Registered {name} version {mv.version}")
    _say_artifact(mv.digest, registry.artifact_note)


def _say_artifact(digest: str | None, note: str | None) -> None:
    """What was recorded of the artifact (#28): its digest, or why there is none."""
    if digest:
        _say(f"digest: {digest}")
    else:
        _say("digest: none recorded (a policy requiring one will refuse this version)")
    if note:
        _say(f"note: {note}")


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("version", required=False, type=VERSION)
@click.option("-d", "--description", required=True, help="The new description ('' clears it).")
@repo_option
@push_option
@json_option
def update(
    name: str, version: int | None, description: str, repo: str | None, as_json: bool
) -> None:
    """Set the description of a model, or of one of its versions.

    A description equal to the current one changes nothing and makes no commit.

    \b
    Examples:
      gitreg update churn -d "Predicts 30-day churn from account activity"
      gitreg update churn 3 -d "Retrained on November data. F1 0.94"
    """
    registry = _registry(repo)
    if version is None:
        # '' clears it here; through MLflow's API an empty description is kept as "" (#25).
        model = registry.update_registered_model(name, description or None)
        if as_json:
            _emit({"registered_model": model.to_dict()})
        target = name
    else:
        mv = registry.update_model_version(name, version, description or None)
        if as_json:
            _emit({"model_version": mv.to_dict()})
        target = f"{name} version {version}"
    if not _unchanged(registry, f"{target} already has that description"):
        _say(f"Updated description of {target}")


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("version", type=VERSION)
@click.argument("stage", type=STAGE)
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
    version: int,
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
    request, prints its URL and exits 0; the stage changes when it is merged. With
    forge none it prints the branch to open a pull request from. If the forge could
    not open the pull request (no GITHUB_TOKEN, say), the branch stays pushed and the
    command exits 1 saying how to open it by hand; run it again once the token is set.

    \b
    Examples:
      gitreg transition churn 3 Staging
      gitreg transition churn 3 Production --archive-existing-versions -m "F1 0.94"
      gitreg transition churn 1 Archived
    """
    from gitreg.core.errors import PromotionPending

    registry = _registry(repo)
    try:
        mv = registry.transition_model_version_stage(
            name, version, stage, archive_existing_versions, message=message, direct=direct
        )
    except PromotionPending as e:
        _pending(e, as_json)
        return
    if as_json:
        _emit({"model_version": mv.to_dict()})
    stage_now = mv.current_stage.value
    if not _unchanged(registry, f"{name} version {mv.version} is already in {stage_now}"):
        _say(f"{name} version {mv.version} is now in {stage_now}")


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("new_name")
@repo_option
@push_option
@json_option
def rename(name: str, new_name: str, repo: str | None, as_json: bool) -> None:
    """Rename a registered model (its manifest moves; history follows it).

    \b
    Examples:
      gitreg rename churn churn-predictor
    """
    model = _registry(repo).rename_registered_model(name, new_name)
    if as_json:
        _emit({"registered_model": model.to_dict()})
    _say(f"Renamed {name} to {new_name}")


def _describe(registry: Registry, name: str, version: int | None) -> str:
    """What a delete is about to remove, saying what a deployment would lose (#16)."""
    model = registry.get_registered_model(name)
    if version is None:
        live = [mv.version for mv in model.versions if mv.current_stage == Stage.PRODUCTION]
        what = f"registered model {name} and all its {len(model.versions)} version(s)"
        if live:
            what += f", including version {live[0]}, which is in Production"
        if model.aliases:
            what += f", and its aliases {', '.join('@' + a for a in model.aliases)}"
        return what
    mv = registry.get_model_version(name, version)
    what = f"{name} version {version}"
    if mv.current_stage == Stage.PRODUCTION:
        what += ", which is in Production"
    if mv.aliases:
        what += f", and its aliases {', '.join('@' + a for a in mv.aliases)}"
    return what


@cli.command()
@click.argument("name", shell_complete=complete_model)
@click.argument("version", required=False, type=VERSION)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@repo_option
@push_option
@json_option
def delete(name: str, version: int | None, yes: bool, repo: str | None, as_json: bool) -> None:
    """Delete a version, or a whole model. Version numbers are never reused.

    The aliases on what is deleted go with it; the confirmation says so, and says
    when a version in Production would go. Declining deletes nothing and exits 1.
    The deleted data stays in git history.

    \b
    Examples:
      gitreg delete churn 2 --yes
      gitreg delete churn --yes
    """
    registry = _registry(repo)
    if not yes:
        if not sys.stdin or not sys.stdin.isatty():
            what = f"{name} version {version}" if version else f"registered model {name}"
            raise click.UsageError(f"refusing to delete {what} without confirmation; pass --yes")
        if not click.confirm(f"Delete {_describe(registry, name, version)}?", err=True):
            _say("Aborted; nothing was deleted.")
            click.get_current_context().exit(1)
    if version is None:
        model = registry.delete_registered_model(name)
        if as_json:
            _emit({"registered_model": model.to_dict()})
        gone = [f"@{a}" for a in model.aliases]
        what = f"registered model {name} and its {len(model.versions)} version(s)"
    else:
        mv = registry.delete_model_version(name, version)
        if as_json:
            _emit({"model_version": mv.to_dict()})
        gone = [f"@{a}" for a in mv.aliases]
        what = f"{name} version {version}"
    _say(f"Deleted {what}" + (f" and its aliases {', '.join(gone)}" if gone else ""))
