"""The catalog command: ``gitreg site OUTDIR`` builds the static site, ``--serve`` shows it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from gitreg.cli._app import _emit, _registry, _say, at_option, cli, json_option, repo_option


class _Bar:
    """A progress bar on stderr while the pages are written, only on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = click.progressbar(
                length=total,
                label="Building the catalog",
                file=sys.stderr,
                update_min_steps=max(1, total // 200),
            )
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _base_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.lower().startswith(("http://", "https://")):
        raise click.BadParameter("give an http:// or https:// URL", ctx, param)
    return value


@cli.command()
@click.argument("outdir", type=click.Path(path_type=Path))
@at_option
@click.option(
    "--base-url",
    metavar="URL",
    callback=_base_url,
    help="Where the site will be published (canonical links), e.g. https://o.github.io/r/.",
)
@click.option(
    "--serve",
    "port",
    type=click.IntRange(0, 65535),
    is_flag=False,
    flag_value=8000,
    default=None,
    metavar="[PORT]",
    help="Then serve it on http://127.0.0.1:PORT (default 8000; 0 picks a free port); "
    "other Host names get 421.",
)
@click.option(
    "--full",
    is_flag=True,
    help="Render every page again, even those a rebuild would keep (e.g. to refresh the "
    "pull request conversations of models that did not change).",
)
@repo_option
@json_option
def site(
    outdir: Path,
    at: str | None,
    base_url: str | None,
    port: int | None,
    full: bool,
    repo: str | None,
    as_json: bool,
) -> None:
    """Build the registry's catalog, a static site, into OUTDIR.

    An index of every model with MLflow's model-list columns (search by
    words or MLflow's filter grammar, sort), a page per model (description,
    model card, versions, a timeline of Production and the protected
    aliases, metric trends, open requests), a page per version (run, source,
    the commit and pull request behind it, metrics and tags against the
    previous version, comments and the pull request conversations), versions
    compared side by side, and a static read API in MLflow's REST shapes
    (api/models.json, api/models/NAME.json: gitreg resolve --site reads it).
    It needs no server and loads nothing from elsewhere: open
    OUTDIR/index.html, or publish OUTDIR with GitHub Pages. OUTDIR must be
    new, empty, or a previous build, and hold no symbolic link: nothing is
    written or deleted outside it, and a rebuild removes only files the
    previous build wrote (their content unchanged). A rebuild renders again
    only the models that changed (--full: all of them). --serve answers only
    requests for 127.0.0.1, localhost or [::1].

    \b
    Examples:
      gitreg site _site
      gitreg site _site --serve            # then http://127.0.0.1:8000/
      gitreg site _site --at v1.0 --base-url https://acme.github.io/registry/
      gitreg site _site --full
    """
    from gitreg.site import build
    from gitreg.site.output import OutputRefused

    registry = _registry(repo, at)
    bar = _Bar(enabled=not as_json and sys.stderr.isatty())
    try:
        report = build(registry, outdir, base_url=base_url, progress=bar, full=full)
    except OutputRefused as e:
        raise click.BadParameter(e.message, param_hint="OUTDIR") from e
    finally:
        bar.close()
    for note in report.notes:
        _say(f"Note: {note}")
    if as_json:
        _emit({"site": report.to_dict()})
    elif port is None:
        click.echo(report.index.resolve().as_uri())
    _say(report.summary(outdir))
    if port is not None:
        _serve(outdir, port, as_json)


def _serve(outdir: Path, port: int, as_json: bool) -> None:
    from gitreg.site.serve import open_server

    with open_server(outdir, port) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        if as_json:
            _emit({"url": url})
        else:
            click.echo(url)
        _say(f"Serving {outdir} at {url} (only this machine can reach it); Ctrl-C stops")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            _say("Stopped.")
