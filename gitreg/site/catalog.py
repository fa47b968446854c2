"""What the catalog shows, read from a Registry once: models, their history, open requests.

Every model comes from one whole-registry read (``Store.read_registry``, which reuses the
parse cache and refuses invalid manifests, shown as invalid), the history of all of them
from one ``git log`` over ``models/`` (``Registry.list_events``), grouped by model with
renames followed (``store.timeline.events_by_model``). Nothing here runs git per model;
what is newer than the verified tip costs two more git calls (``site.trust``, #22).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitreg.core.config import Policy
from gitreg.core.entities import RegisteredModel
from gitreg.core.errors import GitregError, InvalidManifest, InvalidParameter
from gitreg.core.events import RegistryEvent
from gitreg.core.fields import parse_timestamp
from gitreg.core.names import check_name, name_key, name_of_branch_component
from gitreg.site.links import Linker, safe_url
from gitreg.site.trust import InvalidEntry, VerifiedTip, invalid_entries, verified_tip
from gitreg.store.remote import has_remote
from gitreg.store.timeline import events_by_model
from gitreg.store.transaction import model_path

if TYPE_CHECKING:
    from gitreg.registry import Registry


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """An open request (a ``gitreg/...`` branch, maybe a pull request) as the catalog shows it."""

    branch: str
    name: str | None
    version: int | None
    stage: str | None
    alias: str | None
    number: int | None
    url: str | None
    title: str

    @property
    def label(self) -> str:
        """What the request changes, e.g. ``version 3 -> Production``."""
        if self.alias and self.version is not None:
            return f"@{self.alias} -> version {self.version}"
        if self.stage and self.version is not None:
            return f"version {self.version} -> {self.stage}"
        return self.title or self.branch


@dataclasses.dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model, its history (oldest first) and its open requests."""

    model: RegisteredModel
    events: tuple[RegistryEvent, ...]
    requests: tuple[Request, ...]
    last_modified: int  # epoch ms of its last change
    newer: bool = False  # its manifest changed after the verified tip (#22)

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name


@dataclasses.dataclass(frozen=True, slots=True)
class Catalog:
    """Everything the site is built from."""

    title: str
    commit: str
    worktree: bool  # read from the work tree (else from ``commit``)
    models: tuple[ModelEntry, ...]
    requests: tuple[Request, ...]
    policy: Policy
    linker: Linker
    notes: tuple[str, ...]
    # Models whose manifests are invalid: shown as such, never as if valid (#22).
    invalid: tuple[InvalidEntry, ...] = ()
    # The verified tip, and what shown here is newer than it (None: the registry has none).
    verified: VerifiedTip | None = None
    # The model-signing bundles the registry keeps, by path (#28).
    signed: frozenset[str] = frozenset()


def collect(registry: Registry) -> Catalog:
    """Read what the catalog shows from ``registry`` (at its ``at`` ref, else the work tree).

    Raises:
        InvalidManifest: a manifest names its model with a name that is not valid (it would
            become a path in the site), or two manifests name the same model.
    """
    store = registry.store
    read = store.read_registry(registry.at)
    models = read.models
    _check_names(models)
    tip = verified_tip(store, registry.at, read.blobs)
    invalid = invalid_entries(read.refused, tip)
    config = store.read_config(registry.at)
    linker = Linker.from_config(config)
    history = events_by_model(registry.list_events(None, vet=False))
    requests, notes = _requests(registry, linker) if has_remote(store.root, config) else ([], [])
    by_model: dict[str, list[Request]] = {}
    for request in requests:
        if request.name is not None:
            by_model.setdefault(request.name, []).append(request)
    entries = tuple(
        _entry(model, history.get(model.name, []), by_model.get(model.name, []), tip)
        for model in models
    )
    return Catalog(
        title=store.root.resolve().name,
        commit=store.resolve_ref(registry.at or "HEAD"),
        worktree=registry.at is None,
        models=entries,
        requests=tuple(requests),
        policy=config.policy,
        linker=linker,
        notes=tuple(notes),
        invalid=invalid,
        verified=tip,
        signed=registry.signed_bundles(),
    )


def _entry(
    model: RegisteredModel,
    events: Sequence[RegistryEvent],
    requests: Sequence[Request],
    tip: VerifiedTip | None,
) -> ModelEntry:
    times = [parse_timestamp(e.timestamp) for e in events[-1:]]
    last = max([model.last_updated_timestamp, *times])
    newer = tip is not None and model_path(model.name) in tip.newer_models
    return ModelEntry(model, tuple(events), tuple(requests), last, newer)


def _check_names(models: Sequence[RegisteredModel]) -> None:
    """Model names become directories of the site: each must be valid, and unique."""
    seen: set[str] = set()
    for model in models:
        try:
            check_name(model.name)
        except InvalidParameter as e:
            raise InvalidManifest(
                f"{e.message}; fix the manifest's name (gitreg validate shows where)"
            ) from e
        if name_key(model.name) in seen:
            raise InvalidManifest(
                f"two manifests name the model {model.name!r} (names are unique "
                "case-insensitively); run gitreg validate"
            )
        seen.add(name_key(model.name))


def _requests(registry: Registry, linker: Linker) -> tuple[list[Request], list[str]]:
    """The open requests, or none and a note saying why they could not be listed."""
    try:
        found = registry.list_transition_requests()
    except GitregError as e:
        return [], [f"open requests are not shown: {e.message}"]
    requests = []
    for item in found:
        name = item.name or _name_from_branch(item.branch)
        number = item.number
        url = safe_url(item.url) or linker.pull_request_url(number)
        alias = getattr(item, "alias", None)  # alias requests (#11) say which alias
        requests.append(
            Request(
                item.branch,
                name,
                item.version,
                item.stage,
                alias if isinstance(alias, str) else None,
                number,
                url,
                item.title,
            )
        )
    return requests, []


def _name_from_branch(branch: str) -> str | None:
    """``gitreg/NAME/...``: the model a request branch is about (NAME is encoded, see #16)."""
    parts = branch.split("/")
    if len(parts) >= 3 and parts[0] == "gitreg":
        return name_of_branch_component(parts[1])
    return None
