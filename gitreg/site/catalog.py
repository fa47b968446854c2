"""What the catalog shows, read from a Registry once: models, their history, open requests.

Every model comes from one whole-registry read (``Store.read_registry``, which reuses the
parse cache and refuses invalid manifests, shown as invalid), the history of all of them
from one ``git log`` over ``models/`` (``Registry.list_events``), grouped by model with
renames followed (``store.timeline.events_by_model``); a build may leave each model's
events to be made where its pages render (``site.history``, #26). Nothing here runs git per
model; what is newer than the verified tip costs two more git calls (``site.trust``, #22).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.card import Card, card_path, parse_card
from gitreg.core.comment import Comment
from gitreg.core.config import MODELS_DIR, Policy
from gitreg.core.entities import RegisteredModel
from gitreg.core.errors import GitregError, InvalidManifest, InvalidParameter
from gitreg.core.events import RegistryEvent
from gitreg.core.fields import parse_timestamp
from gitreg.core.finding import Finding
from gitreg.core.names import check_name, name_key, name_of_branch_component
from gitreg.site.history import History
from gitreg.site.history import read as read_history
from gitreg.site.links import Linker, safe_url
from gitreg.site.trust import InvalidEntry, VerifiedTip, invalid_entries, verified_tip
from gitreg.store import compare, files
from gitreg.store.remote import has_remote
from gitreg.store.store import Store
from gitreg.store.transaction import model_path

if TYPE_CHECKING:
    from gitreg.integrations.forges.base import ThreadComment
    from gitreg.registry import Registry
    from gitreg.store.reading import Reading


@record.dataclass(frozen=True, slots=True)
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
    # Its base moved and it no longer applies (store.proposal.is_stale): shown as stale (#29).
    stale: bool = False

    @property
    def label(self) -> str:
        """What the request changes, e.g. ``version 3 -> Production``."""
        if self.alias and self.version is not None:
            return f"@{self.alias} -> version {self.version}"
        if self.stage and self.version is not None:
            return f"version {self.version} -> {self.stage}"
        return self.title or self.branch


@record.dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model, its history (oldest first) and its open requests."""

    model: RegisteredModel
    events: tuple[RegistryEvent, ...]
    requests: tuple[Request, ...]
    last_modified: int  # epoch ms of its last change
    newer: bool = False  # its manifest changed after the verified tip (#22)
    card: Card | None = None  # models/<stem>.md, parsed (#29)
    card_findings: tuple[Finding, ...] = ()  # what is wrong with it (shown, never hidden)
    comments: Mapping[int, tuple[Comment, ...]] = record.field(default_factory=dict)

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name


@record.dataclass(frozen=True, slots=True)
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
    # Pull request number -> its conversation on the forge (#29), when the forge was asked.
    threads: Mapping[int, tuple[ThreadComment, ...]] = record.field(default_factory=dict)
    thread_note: str = ""  # why a conversation is not shown, when it is not
    # Manifest and card path -> blob id of what was read (an incremental rebuild compares).
    sources: Mapping[str, str] = record.field(default_factory=dict)
    # The model-signing bundles the registry keeps, by path (#28).
    signed: frozenset[str] = frozenset()
    # The history, when each model's events are made where its pages render (``complete``):
    # its entries' ``events`` are empty until then (#26).
    history: History | None = None

    def complete(self, entry: ModelEntry) -> ModelEntry:
        """``entry`` with its events (and the time of its last change) when ``history``
        still holds them; else ``entry`` itself."""
        if self.history is None:
            return entry
        events = self.history.events_of(entry.name)
        return record.replace(
            entry, events=tuple(events), last_modified=last_modified(entry.model, events)
        )


def collect(registry: Registry, *, deferred: bool = False) -> Catalog:
    """Read what the catalog shows from ``registry`` (at its ``at`` ref, else the work tree).

    ``deferred``: each model's events are made when ``Catalog.complete`` is asked (where
    its pages are rendered, see ``site.history``), unless they are needed here (the pull
    request conversations are read from the forge) or cannot be split exactly.

    Raises:
        InvalidManifest: a manifest names its model with a name that is not valid (it would
            become a path in the site), or two manifests name the same model.
    """
    store = registry.store
    read = store.read_registry(registry.at, parallel=True)  # on every core (#26)
    models = read.models
    _check_names(models)
    tip = verified_tip(store, registry.at, read.blobs)
    invalid = invalid_entries(read.refused, tip)
    config = store.read_config(registry.at)
    linker = Linker.from_config(config)
    defer = deferred and str(config.forge.get("type", "none")) == "none"  # see read_threads
    found = read_history(registry, _known(read), deferred=defer)
    pending = found if isinstance(found, History) else None
    by_model = found if not isinstance(found, History) else {}
    remote = has_remote(store.root, config)
    requests, notes = read_requests(registry, linker) if remote else ([], [])
    extras = Extras.read(registry, remote, [model.name for model in models])
    entries = tuple(
        entry_of(model, by_model.get(model.name, []), requests, tip, extras) for model in models
    )
    threads, thread_notes = read_threads(registry, entries, config.forge)
    thread_note = thread_notes[0] if thread_notes else ""
    thread_notes = [n for n in thread_notes if n != NO_FORGE]
    return Catalog(
        title=store.root.resolve().name,
        commit=store.resolve_ref(registry.at or "HEAD"),
        worktree=registry.at is None,
        models=entries,
        requests=tuple(requests),
        policy=config.policy,
        linker=linker,
        notes=(*notes, *extras.notes, *thread_notes),
        invalid=invalid,
        verified=tip,
        threads=threads,
        thread_note=thread_note,
        sources={**read.blobs, **{p: compare.blob_id(t) for p, t in extras.cards.items()}},
        signed=registry.signed_bundles(),
        history=pending,
    )


def _known(read: Reading) -> dict[str, RegisteredModel] | None:
    """Blob id -> the model ``read`` made of it: the history's walk takes the current
    manifests from there (#26). None when a manifest was refused: then the walk reads
    those from the parse cache or git, as any history read does."""
    if read.refused:
        return None
    known: dict[str, RegisteredModel] = {}
    for model in read.models:
        oid = read.blobs.get(model_path(model.name))  # a valid model's file is its name's
        if oid is not None:
            known[oid] = model
    return known


@record.dataclass(frozen=True, slots=True)
class Extras:
    """What the catalog shows beside the manifests: cards and comments (#29)."""

    cards: Mapping[str, bytes]  # card path -> its bytes
    comments: Mapping[tuple[str, int], tuple[Comment, ...]]
    notes: tuple[str, ...] = ()

    @classmethod
    def read(cls, registry: Registry, remote: bool, names: Sequence[str]) -> Extras:
        """The cards of ``names`` (at the registry's ref or in the work tree), and every
        comment (the remote's fetched first, when there is one)."""
        found = registry.read_comments(fetch=remote)
        grouped: dict[tuple[str, int], list[Comment]] = {}
        for comment in found.comments:
            grouped.setdefault((comment.name, comment.version), []).append(comment)
        notes = [f"comments: {p}" for p in found.problems[:5]]
        if len(found.problems) > 5:
            notes.append(
                f"comments: and {len(found.problems) - 5} more files that are not comments"
            )
        cards = read_cards(registry.store, registry.at, names)
        return cls(cards, {k: tuple(v) for k, v in grouped.items()}, tuple(notes))


def read_cards(store: Store, at: str | None, names: Sequence[str]) -> dict[str, bytes]:
    """The cards that exist among those of ``names``: path -> bytes (regular files only)."""
    present = set(_names_in_models(store, at))
    if not present:  # no card at all: no name is made into a card's path (#26)
        return {}
    wanted = {card_path(name) for name in names}
    paths = sorted(p for p in wanted if p.rsplit("/", 1)[-1] in present)
    if not paths:
        return {}
    if at is not None:
        texts, _irregular = compare.read_files_at(store.root, at, paths)
        return {p: t for p, t in texts.items() if t is not None}
    found = {}
    for path in paths:
        with contextlib.suppress(GitregError):  # a link or a huge file: validate says so
            text = files.read_regular(store.root, path)
            if text is not None:
                found[path] = text
    return found


def _names_in_models(store: Store, at: str | None) -> list[str]:
    if at is not None:
        return [n for n in compare.list_names_at(store.root, at, MODELS_DIR) if n.endswith(".md")]
    with contextlib.suppress(OSError):
        return [e.name for e in os.scandir(store.root / MODELS_DIR) if e.name.endswith(".md")]
    return []


def entry_of(
    model: RegisteredModel,
    events: Sequence[RegistryEvent],
    requests: Sequence[Request],
    tip: VerifiedTip | None,
    extras: Extras,
) -> ModelEntry:
    """The catalog's entry of ``model``."""
    last = last_modified(model, events)
    newer = tip is not None and model_path(model.name) in tip.newer_models
    path = card_path(model.name)
    text = extras.cards.get(path)
    card, findings = parse_card(text, path) if text is not None else (None, [])
    comments = {
        mv.version: extras.comments[(model.name, mv.version)]
        for mv in model.versions
        if (model.name, mv.version) in extras.comments
    }
    mine = tuple(r for r in requests if r.name == model.name)
    return ModelEntry(model, tuple(events), mine, last, newer, card, tuple(findings), comments)


def last_modified(model: RegisteredModel, events: Sequence[RegistryEvent]) -> int:
    """When ``model`` last changed (epoch ms): its own time, or its last event's if later."""
    times = [parse_timestamp(e.timestamp) for e in events[-1:]]
    return max([model.last_updated_timestamp, *times])


MAX_THREADS = 100  # pull request conversations read from the forge per build
NO_FORGE = (
    "pull request conversations are not copied into the catalog: gitreg.yaml names no forge "
    "(registry.forge)"
)


def read_threads(
    registry: Registry, entries: Sequence[ModelEntry], forge: Mapping[str, Any]
) -> tuple[dict[int, tuple[ThreadComment, ...]], list[str]]:
    """The conversations of the pull requests behind the versions shown (the newest
    ``MAX_THREADS``), from the forge; none, and a note, when it cannot be asked."""
    if str(forge.get("type", "none")) == "none":
        return {}, [NO_FORGE]
    numbers: set[int] = set()
    for entry in entries:
        numbers.update(e.pull_request for e in entry.events if e.pull_request is not None)
        numbers.update(r.number for r in entry.requests if r.number is not None)
    threads: dict[int, tuple[ThreadComment, ...]] = {}
    for number in sorted(numbers, reverse=True)[:MAX_THREADS]:
        try:
            threads[number] = tuple(registry.pull_request_thread(number))
        except GitregError as e:
            return threads, [f"pull request conversations are not shown: {e.message}"]
    return threads, []


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


def read_requests(registry: Registry, linker: Linker) -> tuple[list[Request], list[str]]:
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
                bool(getattr(item, "stale", False)),
            )
        )
    return requests, []


def _name_from_branch(branch: str) -> str | None:
    """``gitreg/NAME/...``: the model a request branch is about (NAME is encoded, see #16)."""
    parts = branch.split("/")
    if len(parts) >= 3 and parts[0] == "gitreg":
        return name_of_branch_component(parts[1])
    return None
