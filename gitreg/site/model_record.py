"""What a site's record keeps of each model (#26): its files, row and API entry, and its inputs.

``ModelOutput`` is what rendering one model gives the build; ``recorded`` makes, where the
model was rendered, the part of the record the next build compares (``Sources.inputs``:
its manifest's and card's blobs, its comments, open requests, verified state and signature
bundles) and its packed events. Split from ``site.incremental``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitreg.core import record
from gitreg.core.card import card_path
from gitreg.core.digest import artifact_dir
from gitreg.site import record_events
from gitreg.site.catalog import Catalog, Extras, ModelEntry, Request
from gitreg.store import compare
from gitreg.store.transaction import model_path


@record.dataclass(frozen=True, slots=True)
class ModelOutput:
    """What one model contributes: its files (written: path -> SHA-256, size and
    modification time), its index row and its API entry."""

    name: str
    files: Mapping[str, tuple[str, int, int]]
    row: list[Any]
    api: str  # its RegisteredModel, MLflow JSON, for api/models.json
    pages: int
    versions: int
    # Its record for the next build and its packed events, made where it was rendered (a
    # worker process, in parallel: ``recorded``); None: ``remember`` makes them.
    record: tuple[dict[str, Any], list[record_events.Packed]] | None = None


def group_signed(signed: frozenset[str]) -> dict[str, list[str]]:
    """Each directory prefix (``a/``, ``a/b/``) -> the bundles below it, sorted."""
    below: dict[str, list[str]] = {}
    for bundle in signed:
        parts = bundle.split("/")
        for depth in range(1, len(parts)):
            below.setdefault("/".join(parts[:depth]) + "/", []).append(bundle)
    return {k: sorted(v) for k, v in below.items()}


@record.dataclass(frozen=True, slots=True)
class Sources:
    """What the models' files are made of besides their manifests' events, grouped by
    model once (a rebuild compares every model's: never a pass over all comments, requests
    or signatures per model)."""

    blobs: Mapping[str, str]
    cards: Mapping[str, bytes]
    comments: Mapping[str, list[list[Any]]]
    requests: Mapping[str, list[list[Any]]]
    newer: frozenset[str]
    signed: Mapping[str, list[str]]  # each directory prefix -> the bundles below it

    @classmethod
    def of(
        cls,
        blobs: Mapping[str, str],
        extras: Extras,
        requests: Sequence[Request],
        tip: Any,
        signed: frozenset[str] | dict[str, list[str]],
    ) -> Sources:
        """Group the inputs of every model (``signed``: the bundles, or ``group_signed``'s
        grouping of them)."""
        comments: dict[str, list[tuple[Any, ...]]] = {}
        for (owner, version), found in extras.comments.items():
            mine = comments.setdefault(owner, [])
            mine += [(version, c.id, c.last_updated_timestamp) for c in found]
        mine_requests: dict[str, list[tuple[Any, ...]]] = {}
        for r in requests:
            if r.name is not None:
                mine_requests.setdefault(r.name, []).append(
                    (r.branch, r.version, r.stage, r.alias, r.number, r.url, r.title, r.stale)
                )
        return cls(
            blobs,
            extras.cards,
            {k: [list(c) for c in sorted(v)] for k, v in comments.items()},
            {k: [list(r) for r in sorted(v)] for k, v in mine_requests.items()},
            tip.newer_models if tip is not None else frozenset(),
            signed if isinstance(signed, dict) else group_signed(signed),
        )

    def inputs(self, name: str, path: str) -> list[Any]:
        """What model ``name``'s files are made of, besides its events (compared with the
        record); ``path``: its manifest."""
        card = self.cards.get(card_path(name)) if self.cards else None  # no name checks
        return [
            self.blobs[path],
            compare.blob_id(card) if card is not None else None,
            self.comments.get(name, []),
            self.requests.get(name, []),
            path in self.newer,
            self.signed.get(f"{artifact_dir(name)}/", []) if self.signed else [],
        ]


def recorded(
    entry: ModelEntry, output: ModelOutput, catalog: Catalog, signed: dict[str, list[str]]
) -> tuple[dict[str, Any], list[record_events.Packed]]:
    """What the record keeps of a model just rendered (its token aside), and its events
    packed; ``signed``: ``group_signed(catalog.signed)``. Made where the model was rendered
    (site.parallel: on every core), with each file's time as its writer read it from the
    written file's descriptor, not by looking its path up again."""
    packed = [record_events.pack(e, i) for i, e in enumerate(entry.events)]
    return _model_record(entry, output, catalog, signed), packed


def _model_record(
    entry: ModelEntry,
    output: ModelOutput,
    catalog: Catalog,
    signed: dict[str, list[str]],
) -> dict[str, Any]:
    extras = Extras(
        {card_path(entry.name): b""} if entry.card is not None else {},
        {(entry.name, v): c for v, c in entry.comments.items()},
    )
    path = model_path(entry.name)
    card = catalog.sources.get(card_path(entry.name))
    sources = Sources.of(catalog.sources, extras, entry.requests, catalog.verified, signed)
    inputs = sources.inputs(entry.name, path)
    inputs[1] = card
    return {
        "inputs": inputs,
        # Each file's SHA-256; its size and time apart, in the same order (fewer objects
        # for the next build to load, and its hashes as the marker lists them).
        "files": {relative: digest for relative, (digest, _s, _t) in output.files.items()},
        "sizes": tuple(size for _digest, size, _time in output.files.values()),
        "mtimes": tuple(time for _digest, _size, time in output.files.values()),
        "folders": tuple(sorted({relative.rpartition("/")[0] for relative in output.files})),
        "row": output.row,
        "api": output.api,
        "pages": output.pages,
        "versions": output.versions,
    }
