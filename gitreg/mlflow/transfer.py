"""Copy a registry between MLflow and gitreg (``gitreg import-mlflow`` / ``export-mlflow``).

The MLflow side is any ``MlflowClient`` (SQLite, a database URL, a tracking server); this
module only calls its public registry methods, so it never imports MLflow itself. An import
is read, planned and checked as a whole before anything is written, then committed one
model per commit; running it again adds only versions, tags and aliases that are new.
"""

from __future__ import annotations

import urllib.parse
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gitreg.core import record, validate
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import GitregError, InvalidManifest, InvalidParameter
from gitreg.core.names import check_name, name_key
from gitreg.registry import Registry
from gitreg.store.transaction import Transaction

PAGE_SIZE = 1000
OnModel = Callable[[str], None]

# Registry URIs whose scheme is also a tracking store's: MLflow's registry URI defaults to
# the tracking URI, so where the user names only the registry, its runs and logged models
# live in the same database or server.
TRACKING_SCHEMES = frozenset(
    {"sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks", "file"}
)


def tracking_uri_for(
    registry_uri: str, tracking_uri: str | None, environ: Mapping[str, str]
) -> str | None:
    """The MLflow tracking store an import or export talks to (see #27).

    ``tracking_uri`` (``--tracking-uri``) if given, else ``$MLFLOW_TRACKING_URI``, else the
    registry URI when it names a database or a server, as MLflow's single-store setups do.
    Never MLflow's own default, which creates ``mlflow.db`` (and ``mlruns/``) in the current
    directory: inside a registry, one ``git add -A`` from being committed. None when none
    of these applies; the caller asks for one.
    """
    chosen = tracking_uri or environ.get("MLFLOW_TRACKING_URI") or None
    if chosen:
        return chosen
    scheme = urllib.parse.urlsplit(registry_uri).scheme.split("+", 1)[0].lower()
    return registry_uri if scheme in TRACKING_SCHEMES else None


def sqlite_file(uri: str) -> Path | None:
    """The database file a ``sqlite:///path`` URI names (None for other URIs and memory)."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme != "sqlite" or parsed.path in ("", "/", "/:memory:"):
        return None
    return Path(urllib.parse.unquote(parsed.path[1:]))


class ImportRefused(InvalidParameter):
    """The MLflow registry breaks gitreg's invariants; ``problems`` say where and how to fix."""

    multiline = True

    def __init__(self, problems: Sequence[Problem]) -> None:
        lines = "\n".join(f"  {p.model}: {p.message}" for p in problems)
        super().__init__(
            f"Nothing was imported: {len(problems)} problem(s) in the MLflow registry:\n{lines}"
        )
        self.problems = list(problems)


@record.dataclass(frozen=True, slots=True)
class Problem:
    """One reason a model cannot be imported as it is, with the fix."""

    model: str
    message: str


@record.dataclass(frozen=True, slots=True)
class Step:
    """What importing one model does: its new state, or None when nothing is new."""

    name: str
    new: RegisteredModel | None
    created: bool
    added: tuple[int, ...] = ()
    archived: tuple[int, ...] = ()


@record.dataclass
class Report:
    """What an import or export did, model by model."""

    created: list[str] = record.field(default_factory=list)
    updated: list[str] = record.field(default_factory=list)
    unchanged: list[str] = record.field(default_factory=list)
    versions_added: int = 0
    archived: list[tuple[str, int]] = record.field(default_factory=list)

    def summary(self) -> str:
        """One line: how many models were created, updated and already up to date."""
        text = (
            f"{len(self.created)} model(s) created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} already up to date; {self.versions_added} version(s) added"
        )
        if self.archived:
            moved = ", ".join(f"{n} v{v}" for n, v in self.archived)
            text += f"; archived extra Production versions: {moved}"
        return text


# ---------------------------------------------------------------------- reading MLflow


def _pages(fetch: Callable[[str | None], Any]) -> Iterable[Any]:
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return


def _version_from_mlflow(client: Any, mv: Any) -> ModelVersion:
    source = str(mv.source or "")
    location = None
    if source.startswith("models:/"):  # MLflow 3 logged models: keep where it resolved to
        location = client.get_model_version_download_uri(mv.name, mv.version)
    return ModelVersion(
        name=mv.name,
        version=int(mv.version),
        source=source,
        run_id=mv.run_id or None,
        current_stage=Stage.parse(mv.current_stage or "None"),
        description=mv.description or None,
        tags=dict(mv.tags or {}),
        creation_timestamp=int(mv.creation_timestamp or 0),
        last_updated_timestamp=int(mv.creation_timestamp or 0),
        user_id=mv.user_id or None,
        run_link=mv.run_link or None,
        storage_location=location if location != source else None,
    )


def read_mlflow(client: Any) -> list[RegisteredModel]:
    """Every registered model of an MlflowClient's registry with its versions (not validated)."""
    versions: dict[str, list[ModelVersion]] = {}
    for mv in _pages(lambda t: client.search_model_versions(max_results=PAGE_SIZE, page_token=t)):
        versions.setdefault(mv.name, []).append(_version_from_mlflow(client, mv))
    models = []
    for rm in _pages(
        lambda t: client.search_registered_models(max_results=PAGE_SIZE, page_token=t)
    ):
        mine = sorted(versions.get(rm.name, []), key=lambda mv: mv.version)
        model = RegisteredModel(
            name=rm.name,
            creation_timestamp=int(rm.creation_timestamp or 0),
            description=rm.description or None,
            tags=dict(rm.tags or {}),
            aliases={str(a): int(v) for a, v in (rm.aliases or {}).items()},
            next_version=(mine[-1].version + 1) if mine else 1,
        )
        models.append(model.with_versions(mine))
    return models


# ---------------------------------------------------------------------------- planning


def _production_fix(
    model: RegisteredModel, archive_extra: bool
) -> tuple[RegisteredModel, tuple[int, ...], list[str]]:
    """Archive all but the newest Production version, or say how to."""
    live = [mv.version for mv in model.versions if mv.current_stage == Stage.PRODUCTION]
    if len(live) < 2:
        return model, (), []
    extra = tuple(live[:-1])
    if not archive_extra:
        return (
            model,
            (),
            [
                f"versions {', '.join(map(str, live))} are all in Production and gitreg allows "
                f"one; pass archive_extra_production=True to keep version {live[-1]} and archive "
                "the others, or transition them out of Production in MLflow first"
            ],
        )
    versions = [
        record.replace(mv, current_stage=Stage.ARCHIVED) if mv.version in extra else mv
        for mv in model.versions
    ]
    return model.with_versions(versions), extra, []


def _merge(source: RegisteredModel, existing: RegisteredModel) -> RegisteredModel:
    """``existing`` plus what is new in ``source``: versions past next_version, tags, aliases."""
    new = [mv for mv in source.versions if mv.version >= existing.next_version]
    versions = [*existing.versions, *new]
    numbers = {mv.version for mv in versions}
    aliases = dict(existing.aliases)
    for alias, number in source.aliases.items():
        if alias not in aliases and number in numbers:
            aliases[alias] = number
    merged = record.replace(
        existing,
        tags={**source.tags, **existing.tags},
        aliases=aliases,
        description=existing.description or source.description,
        next_version=max(existing.next_version, source.next_version),
    )
    return merged.with_versions(versions)


def _findings(model: RegisteredModel) -> list[str]:
    path = f"models/{model.name}.yaml"
    return [f.message for f in validate.check_manifest(model.to_manifest(), path)]


def plan_model(
    source: RegisteredModel, existing: RegisteredModel | None, archive_extra: bool
) -> tuple[Step, list[Problem]]:
    """The import of one MLflow model onto gitreg's copy of it (pure)."""
    try:
        check_name(source.name)
    except GitregError as e:
        fix = "rename it in MLflow (MlflowClient().rename_registered_model) and import again"
        return Step(source.name, None, False), [Problem(source.name, f"{e.message}; {fix}")]
    base = existing or record.replace(source, versions=(), aliases={}, tags={})
    merged = _merge(source, base) if existing else source
    added = tuple(mv.version for mv in merged.versions if base.get_version(mv.version) is None)
    merged, archived, problems = _production_fix(merged, archive_extra)
    problems += _findings(merged)
    if problems:
        return Step(source.name, None, False), [Problem(source.name, p) for p in problems]
    if existing is not None and merged == existing:
        return Step(source.name, None, False), []
    return Step(source.name, merged, existing is None, added, archived), []


def _case_clashes(names: Sequence[str], existing: Iterable[str]) -> list[Problem]:
    seen = {name_key(n): n for n in existing}
    problems = []
    for name in names:
        other = seen.setdefault(name_key(name), name)
        if other != name:
            problems.append(
                Problem(
                    name,
                    f"differs from {other!r} only in case; gitreg names are unique "
                    "case-insensitively (macOS and Windows checkouts), rename one in MLflow",
                )
            )
    return problems


def plan_import(
    models: Sequence[RegisteredModel], registry: Registry, archive_extra_production: bool = False
) -> list[Step]:
    """Check every model before writing any; ImportRefused lists every problem and its fix."""
    have = {m.name: m for m in registry.store.read_models()}
    incoming = {m.name for m in models}
    problems = _case_clashes(sorted(incoming), [n for n in have if n not in incoming])
    steps = []
    for model in models:
        step, found = plan_model(model, have.get(model.name), archive_extra_production)
        steps.append(step)
        problems += found
    if problems:
        raise ImportRefused(problems)
    return steps


# ----------------------------------------------------------------------------- writing


def _commit_message(step: Step) -> str:
    verb = "Import" if step.created else "Update"
    numbers = ", ".join(map(str, step.added)) or "none"
    message = f"{verb} {step.name} from MLflow\n\nversions added: {numbers}"
    if step.archived:
        message += f"\narchived (extra Production): {', '.join(map(str, step.archived))}"
    return message


def apply_import(
    steps: Sequence[Step],
    source: Mapping[str, RegisteredModel],
    registry: Registry,
    archive_extra_production: bool = False,
    on_model: OnModel | None = None,
) -> Report:
    """Commit each planned model (one commit each), re-planned on the tip it lands on."""
    report = Report()
    for step in steps:
        if step.new is None:
            report.unchanged.append(step.name)
        else:
            done = _write(registry, source[step.name], archive_extra_production)
            (report.created if done.created else report.updated).append(done.name)
            report.versions_added += len(done.added)
            report.archived += [(done.name, v) for v in done.archived]
        if on_model is not None:
            on_model(step.name)
    return report


def _write(registry: Registry, source: RegisteredModel, archive_extra: bool) -> Step:
    def mutation(tx: Transaction) -> Step:
        found = tx.read_model(source.name)
        existing, raw = found if found else (None, None)
        if existing is None and name_key(source.name) in {name_key(n) for n in tx.model_names()}:
            raise ImportRefused([Problem(source.name, "another model differs only in case")])
        step, problems = plan_model(source, existing, archive_extra)
        if problems:
            raise ImportRefused(problems)
        if step.new is not None:
            tx.write_model(step.new, like=raw)
            tx.message = _commit_message(step)
        return step

    try:
        step: Step = registry.store.transaction(mutation)
    except InvalidManifest as e:
        raise ImportRefused([Problem(source.name, e.message)]) from e
    return step


def import_mlflow(
    client: Any,
    registry: Registry,
    archive_extra_production: bool = False,
    on_model: OnModel | None = None,
) -> Report:
    """Read, check and commit an MLflow registry into ``registry`` (see module doc)."""
    models = read_mlflow(client)
    steps = plan_import(models, registry, archive_extra_production)
    by_name = {m.name: m for m in models}
    return apply_import(steps, by_name, registry, archive_extra_production, on_model)


# ---------------------------------------------------------------------------- exporting


def _mlflow_versions(client: Any, name: str) -> dict[int, Any]:
    quote = next((q for q in ("'", '"') if q not in name), None)
    if quote is None:  # both quote characters: MLflow's grammar cannot say it; filter here
        every = _pages(lambda t: client.search_model_versions(max_results=PAGE_SIZE, page_token=t))
        return {int(mv.version): mv for mv in every if mv.name == name}
    found = _pages(
        lambda t: client.search_model_versions(
            f"name = {quote}{name}{quote}", max_results=PAGE_SIZE, page_token=t
        )
    )
    return {int(mv.version): mv for mv in found}


def _export_version(client: Any, mv: ModelVersion) -> None:
    """Create ``mv`` in MLflow with its own number: numbers below it are used up as MLflow
    deletes (a created-then-deleted placeholder), since MLflow numbers versions itself."""
    while True:
        created = client.create_model_version(
            mv.name,
            mv.source,
            run_id=mv.run_id,
            tags=dict(mv.tags),
            run_link=mv.run_link,
            description=mv.description,
            await_creation_for=0,
        )
        number = int(created.version)
        if number == mv.version:
            break
        client.delete_model_version(mv.name, number)
        if number > mv.version:
            raise InvalidParameter(
                f"MLflow gave {mv.name} version {number} where gitreg has {mv.version} (MLflow "
                f"already used that number); export {mv.name} to a new MLflow model name"
            )
    if mv.current_stage != Stage.NONE:
        with warnings.catch_warnings():  # stages are deprecated in MLflow, not in gitreg (#16)
            warnings.filterwarnings("ignore", category=FutureWarning, message=r"``mlflow\.")
            client.transition_model_version_stage(mv.name, mv.version, mv.current_stage.value)


def _export_model(client: Any, model: RegisteredModel) -> tuple[bool, int]:
    """(whether the model was new in MLflow, how many versions were added)."""
    try:
        existing = client.get_registered_model(model.name)
    except Exception as e:  # MlflowException, RESOURCE_DOES_NOT_EXIST
        if getattr(e, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
            raise
        existing = client.create_registered_model(
            model.name, tags=dict(model.tags), description=model.description
        )
        created = True
    else:
        created = False
        for key, value in model.tags.items():
            if key not in existing.tags:
                client.set_registered_model_tag(model.name, key, value)
    have = _mlflow_versions(client, model.name)
    top = max(have, default=0)
    added = [mv for mv in model.versions if mv.version > top]
    for mv in added:
        _export_version(client, mv)
    for alias, number in model.aliases.items():
        if alias not in (existing.aliases or {}):
            client.set_registered_model_alias(model.name, alias, number)
    return created, len(added)


def export_mlflow(client: Any, registry: Registry, on_model: OnModel | None = None) -> Report:
    """Copy every gitreg model into an MLflow registry; again adds only what is new there."""
    report = Report()
    for model in registry.store.read_models(registry.at):
        created, added = _export_model(client, model)
        bucket = report.created if created else report.updated if added else report.unchanged
        bucket.append(model.name)
        report.versions_added += added
        if on_model is not None:
            on_model(model.name)
    return report
