"""What the catalog must not show as trusted: invalid manifests, and what the audit has not seen.

A model whose manifest is invalid is never rendered as if it were valid (#22): the catalog
shows it as invalid, with its findings, and none of its state (an invalid manifest can say
"Production: version 1, version 3"). And when the registry has a verified tip
(``refs/gitreg/verified``, the last commit a clean ``gitreg audit`` accepted), every model
whose manifest differs from the one at that commit, and every change made after it, is
marked as newer than the verified tip, with the commit named.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gitreg.core import record
from gitreg.core.errors import InvalidParameter
from gitreg.core.finding import Finding
from gitreg.core.names import check_name, name_of_stem
from gitreg.store import reading
from gitreg.store.store import Store
from gitreg.store.verdict import Refused
from gitreg.store.verified import VERIFIED_REF, read_verified


@record.dataclass(frozen=True, slots=True)
class InvalidEntry:
    """A model the catalog shows as invalid: its manifest, its findings, whether it has a
    page (its file name is a model's name) and whether it changed after the verified tip."""

    name: str
    path: str
    findings: tuple[Finding, ...]
    has_page: bool
    newer: bool


@record.dataclass(frozen=True, slots=True)
class VerifiedTip:
    """The verified tip and what the catalog shows that is newer than it.

    ``newer_models`` are manifest paths whose content differs from the verified commit's
    (uncommitted edits included); ``newer_commits`` the commits after it; ``deleted`` the
    models it has that the catalog's state has not; ``behind`` says the catalog shows a
    commit at or before the verified tip (then only uncommitted edits are newer).
    """

    commit: str
    newer_models: frozenset[str]
    newer_commits: frozenset[str]
    deleted: tuple[str, ...]
    behind: bool

    def newer(self, commit: str) -> bool:
        """Whether ``commit`` was made after the verified tip."""
        return commit in self.newer_commits


def verified_tip(store: Store, at: str | None, blobs: Mapping[str, str]) -> VerifiedTip | None:
    """What of the state read at ``at`` (None: the work tree) is newer than the verified
    tip; None when the registry has no verified tip. ``blobs``: manifest path -> blob id."""
    return tip_at(store, at, blobs, read_verified(store.root))


def tip_at(
    store: Store, at: str | None, blobs: Mapping[str, str], commit: str | None
) -> VerifiedTip | None:
    """``verified_tip`` when the verified tip is known (``commit``, just read: None, no
    verified tip): a rebuild has read it already to compare it with its record."""
    if commit is None:
        return None
    shown = store.resolve_ref(at or "HEAD")
    behind = reading.is_ancestor(store.root, shown, commit)
    if behind:  # the verified tip already holds what is committed here
        base = shown
        after: frozenset[str] = frozenset()
    else:
        base = commit
        after = reading.commits_after(store.root, commit, shown)
    if behind and at is not None:
        return VerifiedTip(commit, frozenset(), after, (), True)
    before = reading.manifest_ids(store.root, base)
    newer = frozenset(p for p, oid in blobs.items() if before.get(p) != oid)
    gone = tuple(sorted(_names(p for p in before if p not in blobs)))
    return VerifiedTip(commit, newer, after, gone, behind)


def invalid_entries(
    refused: Iterable[Refused], tip: VerifiedTip | None
) -> tuple[InvalidEntry, ...]:
    """The refused models as the catalog shows them."""
    out = []
    for item in refused:
        name = item.name
        has_page = name is not None and _valid_name(name)
        newer = tip is not None and item.path in tip.newer_models
        out.append(InvalidEntry(name or item.path, item.path, item.findings, has_page, newer))
    return tuple(out)


def notes(invalid: Iterable[InvalidEntry], tip: VerifiedTip | None) -> list[str]:
    """What ``gitreg site`` says about them after a build."""
    found = []
    bad = [entry.name for entry in invalid]
    if bad:
        found.append(
            f"shown as invalid, with their findings ({', '.join(bad)}): gitreg reads no model "
            "whose manifest is invalid; gitreg validate lists every problem"
        )
    if tip is not None and tip.newer_models:
        found.append(
            f"{len(tip.newer_models)} model(s) changed after the verified tip "
            f"{tip.commit[:12]} ({VERIFIED_REF}) are marked as not yet verified"
        )
    return found


def _names(paths: Iterable[str]) -> list[str]:
    return [name_of_stem(p.rsplit("/", 1)[-1].removesuffix(".yaml")) or p for p in paths]


def _valid_name(name: str) -> bool:
    try:
        check_name(name)
    except InvalidParameter:
        return False
    return True
