"""The click group, the options every command shares, and the text/JSON printers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gitreg.cli import completion
from gitreg.cli.completion import store_for as _store_for
from gitreg.core.version import __version__

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from gitreg.core.entities import ModelVersion, RegisteredModel
    from gitreg.core.errors import PromotionPending
    from gitreg.registry import Registry

F = TypeVar("F", bound=Callable[..., Any])
completion.register()  # bash and zsh scripts that complete models:/ URIs (#27)
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# ------------------------------------------------------------------ shared options


def repo_option(f: F) -> F:
    """``--repo PATH``: the registry (default: $GITREG_REPO, else the current repository)."""
    return click.option(
        "--repo",
        "repo",
        metavar="PATH",
        envvar="GITREG_REPO",
        help="Registry repository (default: $GITREG_REPO, else the current directory's repo).",
    )(f)


def json_option(f: F) -> F:
    """``--json``: print MLflow REST-shaped JSON instead of text."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON (MLflow's REST shapes)."
    )(f)


def at_option(f: F) -> F:
    """``--at REF``: read the registry as of a branch, tag or commit."""
    return click.option(
        "--at", "at", metavar="REF", help="Read the registry at a branch, tag or commit."
    )(f)


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        ctx.meta[f"gitreg.{key}"] = value
        return value

    return callback


def push_option(f: F) -> F:
    """``--push/--no-push``: override gitreg.yaml's ``registry.push`` for this write."""
    return click.option(
        "--push/--no-push",
        "push",
        default=None,
        expose_value=False,
        callback=_remember("push"),
        help="Push this write to the remote, or only commit locally (default: registry.push).",
    )(f)


def fetch_option(f: F) -> F:
    """``--fetch``: read the remote's tip (what is merged), not the checkout."""
    return click.option(
        "--fetch",
        is_flag=True,
        expose_value=False,
        callback=_remember("fetch"),
        help="Fetch the remote first and read its tip (with --at: resolve REF after fetching).",
    )(f)


# ------------------------------------------------- completion and argument types (#16)

STAGES = ("None", "Staging", "Production", "Archived")


def _items(values: Iterable[str], incomplete: str) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    return [CompletionItem(v) for v in values if v.lower().startswith(incomplete.lower())]


def _model_for(ctx: click.Context) -> RegisteredModel | None:
    """The model named by the NAME argument already typed, read from its one manifest."""
    from gitreg.core.errors import GitregError

    store, name = _store_for(ctx), ctx.params.get("name")
    if store is None or not isinstance(name, str):
        return None
    try:
        return store.read_model(name)
    except GitregError:
        return None


def complete_model(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Model names: a listing of models/ in the work tree, nothing parsed."""
    store = _store_for(ctx)
    return _items(store.model_names() if store else [], incomplete)


def complete_alias(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The aliases of the model named on the command line."""
    model = _model_for(ctx)
    return _items(model.aliases if model else [], incomplete)


class VersionType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.3
    """A version number (1, 2, 3, ...); completes the versions of the model being named."""

    name = "version"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        return "VERSION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from gitreg.core.fields import MAX_VERSION, is_version_text

        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        text = str(value).strip()
        if is_version_text(text):  # ASCII digits: "²" is no version
            digits = text.lstrip("0") or "0"
            number = int(digits) if len(digits) <= 12 else MAX_VERSION + 1  # int() has a limit
            if 1 <= number <= MAX_VERSION:
                return number
            if number > MAX_VERSION:
                self.fail(f"{text[:40]} is past the largest version number, {MAX_VERSION:,}")
        self.fail(f"{str(value)[:40]!r} is not a version number; versions are 1, 2, 3, ...")

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        model = _model_for(ctx)
        return _items([str(mv.version) for mv in model.versions] if model else [], incomplete)


class StageType(click.ParamType):  # type: ignore[type-arg]
    """A stage, case-insensitive as MLflow; becomes its canonical name (None, Staging, ...).

    An argument is shown as STAGE and an option lists the stages; a bad value names the
    argument or option, lists the stages and suggests the closest one (#27).
    """

    name = "stage"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        if isinstance(param, click.Argument):
            return None  # the argument's own name, STAGE, in usage lines and errors
        return f"[{'|'.join(STAGES)}]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from gitreg.core.entities import Stage
        from gitreg.core.errors import InvalidParameter

        try:
            return Stage.parse(str(value)).value
        except InvalidParameter:
            self.fail(_not_a_stage(str(value)), param, ctx)

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        return _items(STAGES, incomplete)


def _not_a_stage(value: str) -> str:
    """``'Prod' is not a stage; use one of ...; did you mean Production?``"""
    from gitreg.core.suggest import closest

    typed = value.strip().lower()
    match = next((s for s in STAGES if typed and s.lower().startswith(typed)), None)
    match = match or closest(value, STAGES)
    hint = f"; did you mean {match}?" if match else ""
    return (
        f"{value[:40]!r} is not a stage; use one of {', '.join(STAGES)} (in any case: "
        f"production works too){hint}"
    )


VERSION = VersionType()
STAGE = StageType()


def _registry(repo: str | None, at: str | None = None) -> Registry:
    from gitreg.registry import Registry  # --help stays import-light

    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    push, fetch = meta.get("gitreg.push"), bool(meta.get("gitreg.fetch"))
    return Registry(repo, at=at, push=push, fetch=fetch)


def _pending(e: PromotionPending, as_json: bool) -> None:
    """A protected change was proposed: the request's address on stdout, what it means on stderr."""
    if as_json:
        request = {"branch": e.branch, "url": e.url, "number": e.number, "created": e.created}
        _emit({"transition_request": request, "message": e.message})
    else:
        click.echo(e.url or e.branch)
    _say(f"Requested, not done yet: {e.message}")


def _unchanged(registry: Registry, what: str) -> bool:
    """Say so when a write found nothing to change (and so made no commit), #16."""
    if registry.last_commit is None:
        _say(f"Nothing changed: {what}; no commit was made")
        return True
    return False


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _say(message: str) -> None:
    click.echo(message, err=True)


class _Bar:
    """A progress bar on stderr for hashing an artifact (#28): one per artifact read."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def start(self, total: int | None) -> None:
        self.close()
        if total:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()

    def advance(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def artifact_progress(label: str = "hashing") -> _Bar | None:
    """A progress bar for reading an artifact, when stderr is a terminal (else None)."""
    return _Bar(label) if sys.stderr.isatty() else None


def _parse_pairs(values: Iterable[str], what: str) -> dict[str, str]:
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=what)
        pairs[key] = value
    return pairs


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    cells = [[str(c) for c in header], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _fmt_time(ms: int) -> str:
    from gitreg.core.fields import format_timestamp

    return format_timestamp(ms - ms % 1000) if ms else ""


def _tags_text(tags: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in tags.items())


def _print_versions(versions: Sequence[ModelVersion], with_name: bool = False) -> None:
    header = ["VERSION", "STAGE", "ALIASES", "SOURCE", "RUN_ID", "CREATED", "TAGS"]
    rows = [
        [
            mv.version,
            mv.current_stage.value,
            ",".join(mv.aliases),
            mv.source,
            mv.run_id,
            _fmt_time(mv.creation_timestamp),
            _tags_text(mv.tags),
        ]
        for mv in versions
    ]
    if with_name:
        header.insert(0, "NAME")
        for row, mv in zip(rows, versions, strict=True):
            row.insert(0, mv.name)
    _table(rows, header)


def _print_model(model: RegisteredModel) -> None:
    click.echo(f"name:        {model.name}")
    click.echo(f"description: {model.description or ''}")
    click.echo(f"tags:        {_tags_text(model.tags)}")
    aliases = ", ".join(f"@{a} -> {v}" for a, v in model.aliases.items())
    click.echo(f"aliases:     {aliases}")
    click.echo(f"created:     {_fmt_time(model.creation_timestamp)} by {model.user_id or '?'}")
    click.echo(f"versions:    {len(model.versions)} (next is {model.next_version})")
    if model.versions:
        click.echo("")
        _print_versions(model.versions)


def _print_version(mv: ModelVersion) -> None:
    fields = [
        ("name", mv.name),
        ("version", mv.version),
        ("stage", mv.current_stage.value),
        ("aliases", ", ".join(f"@{a}" for a in mv.aliases)),
        ("source", mv.source),
        ("run_id", mv.run_id or ""),
        ("description", mv.description or ""),
        ("tags", _tags_text(mv.tags)),
        ("metrics", _tags_text(mv.metrics)),
        ("created", f"{_fmt_time(mv.creation_timestamp)} by {mv.user_id or '?'}"),
    ]
    if mv.storage_location:
        fields.insert(5, ("storage", mv.storage_location))
    for key, value in fields:
        click.echo(f"{key + ':':<13}{value}")


def _search_options(f: F) -> F:
    f = click.option("--page-token", help="Continue from a previous page's next_page_token.")(f)
    f = click.option("--max-results", type=click.IntRange(min=1), help="Page size.")(f)
    f = click.option(
        "--order-by",
        "order_by",
        multiple=True,
        help="e.g. 'name ASC', 'creation_timestamp DESC'; repeatable.",
    )(f)
    return click.option(
        "--filter",
        "filter_string",
        metavar="EXPR",
        help="MLflow filter, e.g. \"name LIKE '%churn%'\".",
    )(f)


# Which module defines each command: a command's module is imported only when it runs, so
# `gitreg resolve` never pays for the gate, the remote code or the MLflow commands (#7).
COMMAND_MODULES = {
    **dict.fromkeys(["models", "versions", "show", "latest", "resolve"], "gitreg.cli.read"),
    **dict.fromkeys(
        [
            "init",
            "create",
            "register",
            "update",
            "transition",
            "rename",
            "delete",
        ],
        "gitreg.cli.write",
    ),
    **dict.fromkeys(["tag", "untag", "alias", "unalias"], "gitreg.cli.label"),
    "validate": "gitreg.cli.gate",
    **dict.fromkeys(["history", "requests", "rollback", "withdraw"], "gitreg.cli.remote"),
    "audit": "gitreg.cli.gate",
    "events": "gitreg.cli.events",
    **dict.fromkeys(["notify", "webhooks"], "gitreg.cli.notify"),
    "site": "gitreg.cli.site",
    **dict.fromkeys(["card", "comment", "comments"], "gitreg.cli.collab"),
    **dict.fromkeys(["verify", "sign"], "gitreg.cli.artifacts"),
    **dict.fromkeys(["import-mlflow", "export-mlflow"], "gitreg.cli.mlflow"),
}


class LazyGroup(click.Group):
    """A group that imports a command's module on first use (see COMMAND_MODULES)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | COMMAND_MODULES.keys())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            import importlib

            importlib.import_module(COMMAND_MODULES[cmd_name])
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """As click's, and an unknown command suggests the closest one (#16)."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            typed = args[0] if args else ""
            if typed.startswith("-"):
                raise
            from gitreg.core.suggest import closest

            match = closest(typed, self.list_commands(ctx))
            if match is None:
                raise
            message = f"No such command {typed!r}; did you mean {match}?"
            raise click.UsageError(message, ctx) from None


@click.group(cls=LazyGroup, context_settings=CONTEXT)
# The version is the package's own: the distribution is named gitreg-ml (#27), and a
# lookup by distribution name would find none, or two (an editable install's egg-info).
@click.version_option(version=__version__, prog_name="gitreg")
@click.option("--traceback", "show_traceback", is_flag=True, hidden=True)
def cli(show_traceback: bool) -> None:
    """gitreg: a model registry whose database is a Git repository.

    Each registered model is a YAML manifest in models/; every change is a commit.
    Commands and fields follow the MLflow Model Registry.

    \b
    Examples:
      gitreg init registry && cd registry
      gitreg register churn runs:/abc123/model --run-id abc123
      gitreg transition churn 1 Production
      gitreg alias churn champion 1
      gitreg resolve models:/churn@champion

    \b
    Shell completion (commands, models, versions, stages, aliases, models:/ URIs):
      eval "$(_GITREG_COMPLETE=bash_source gitreg)"     # in ~/.bashrc
      eval "$(_GITREG_COMPLETE=zsh_source gitreg)"      # in ~/.zshrc
      _GITREG_COMPLETE=fish_source gitreg | source      # in ~/.config/fish/config.fish
    """
