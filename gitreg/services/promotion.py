"""Promotion requests: writes that change a protected fact become reviewed requests.

On a registry with a remote, a write that changes a protected fact (``core.protection``: a
protected stage, a protected alias, the deletion or renaming of what holds one) is not
pushed to the registry's branch. ``guarded`` runs the write's mutation on the remote tip
and stops it before the commit when it touches such a fact; ``request_change`` then
proposes the same mutation on a ``gitreg/...`` branch (``store.proposal``) and opens a pull
or merge request through the configured forge (``integrations.forges``); merging it is the
change. Listing and withdrawing open requests is ``transition_request``'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.core.config import BRANCH_PREFIX, CONFIG_FILE, Config
from gitreg.core.errors import (
    GitregError,
    PromotionPending,
    TransitionNotAllowed,
)
from gitreg.core.names import branch_component
from gitreg.core.protection import CONFIG_CHANGE, ProtectedChange, config_change, protected_changes
from gitreg.integrations.forges import make_forge
from gitreg.integrations.forges.base import PullRequest
from gitreg.store.proposal import (
    Proposal,
    propose,
)
from gitreg.store.remote import has_remote
from gitreg.store.store import Store
from gitreg.store.transaction import Clock, Transaction

if TYPE_CHECKING:
    from gitreg.core.identity import Identity

DEFAULT_LABELS = ("gitreg", "promotion")
_EFFECTS = {
    "stage": "the stage changes",
    "alias": "the alias moves",
    "delete-version": "the version is deleted",
    "delete-model": "the model is deleted",
    "rename": "the model is renamed",
    CONFIG_CHANGE: "gitreg.yaml changes",
}


class ReviewRequired(Exception):
    """Raised inside a guarded transaction: the write touches a protected fact."""

    def __init__(self, changes: Sequence[ProtectedChange]) -> None:
        super().__init__(changes[0].what)
        self.changes = list(changes)


def needs_review(store: Store, push: bool | None) -> Config | None:
    """The config when this registry's writes are reviewed: it has a remote (reviewers).

    A registry without a remote has no one to review: its writes are direct.
    """
    config = store.read_config()
    if not has_remote(store.root, config):
        return None
    return config  # --no-push does not go around review: refuse_direct refuses it


def guarded(mutation: Callable[[Transaction], Any]) -> Callable[[Transaction], Any]:
    """``mutation``, stopped with ReviewRequired before its commit if it changes a protected
    fact under the tip's own policy (the base's policy governs, see DESIGN.md)."""

    def run(tx: Transaction) -> Any:
        result = mutation(tx)
        policy = tx.policy()
        changes = [
            change
            for before, after, renamed in tx.model_changes()
            for change in protected_changes(before, after, policy, renamed_from=renamed)
        ]
        if CONFIG_FILE in tx.changes:  # what judges the registry changes by review (#22)
            changes.append(config_change(CONFIG_FILE, tx.message))
        if changes:
            raise ReviewRequired(sorted(changes, key=_weight))
        return result

    return run


def _weight(change: ProtectedChange) -> int:
    """What a request is named after: what was asked (a version entering a protected stage,
    a deletion, a rename, an alias) before what follows from it (the version it replaces
    being archived, the aliases a deleted version held)."""
    if change.kind == "stage":
        return 0 if change.stage == change.to_stage else 4
    return {CONFIG_CHANGE: 0, "delete-model": 1, "rename": 1, "delete-version": 2, "alias": 3}.get(
        change.kind, 5
    )


def refuse_direct(change: ProtectedChange, direct: bool, config: Config, push: bool | None) -> None:
    """Refuse a protected change that was asked to go around review.

    Raises:
        TransitionNotAllowed: ``direct`` was asked, or pushing is off.
    """
    if direct:
        raise TransitionNotAllowed(
            f"{change.model}: {change.what} changes a protected fact (gitreg.yaml policy): "
            "on a registry with a remote it changes only through a pull request; drop direct=True"
        )
    if config.push_mode(push) == "never":
        raise TransitionNotAllowed(
            f"{change.model}: {change.what} changes a protected fact and goes through a pull "
            "request, whose branch must be pushed; drop push=False (or registry.push: never)"
        )


# ------------------------------------------------------------------------ requests


def branch_for(change: ProtectedChange, new_name: str | None = None) -> str:
    """The request branch of ``change`` (one branch per distinct change; see
    ``transition_request.parse_branch``, which reads it back)."""
    name = branch_component(change.model)
    if change.kind == CONFIG_CHANGE:  # "gitreg.yaml" escapes its dot: never a model's name
        words = "-".join(change.what.lower().split())[:60]
        return f"{BRANCH_PREFIX}{CONFIG_FILE}/{branch_component(words)}"
    if change.kind == "alias":
        suffix = f"at-{change.alias}-" + (
            f"v{change.target}" if change.target is not None else "removed"
        )
    elif change.kind == "stage":
        suffix = f"v{change.version}-{(change.to_stage or 'none').lower()}"
    elif change.kind == "delete-version":
        suffix = f"v{change.version}-deleted"
    elif change.kind == "rename":
        return f"{BRANCH_PREFIX}{branch_component(change.old_name or '')}/renamed-{name}"
    else:
        suffix = "deleted"
    return f"{BRANCH_PREFIX}{name}/{suffix}"


def title_for(change: ProtectedChange) -> str:
    """The pull request's title for ``change``."""
    if change.kind == CONFIG_CHANGE:
        return f"{change.what} ({change.model})"
    if change.kind == "alias":
        if change.target is None:
            return f"Remove {change.model}@{change.alias}"
        return f"Point {change.model}@{change.alias} at version {change.target}"
    if change.kind == "stage":
        return f"Promote {change.model} version {change.version} to {change.to_stage}"
    if change.kind == "delete-version":
        return f"Delete {change.model} version {change.version}"
    if change.kind == "rename":
        return f"Rename {change.old_name} to {change.model}"
    return f"Delete registered model {change.model}"


def request_change(
    store: Store,
    mutation: Callable[[Transaction], Any],
    changes: Sequence[ProtectedChange],
    why: str | None,
    push: bool | None,
    *,
    author: Identity | None = None,
    clock: Clock | None = None,
) -> Any:
    """Propose ``mutation`` as a pull request and raise PromotionPending.

    Returns the mutation's result only when the remote already has the change. ``author``
    (the person a server authenticated) authors the request's commit and is named in its
    body, since the forge shows the token's account as the one who opened it (#25).
    """
    first = changes[0]
    branch = branch_for(first)
    proposal, result = propose(store, mutation, branch, push, author=author, clock=clock)
    if proposal is None:
        return result
    title = title_for(first)
    facts = _facts(store, first, proposal)
    if author is not None:
        facts = {"Requested by": f"{author.name} <{author.email}>", **facts}
    body = request_body(title + ".", why, changes, proposal.diff, facts)
    pull = open_request(store, proposal, title, body, os.environ)
    what = f"{first.model}: {first.what}"
    verb = "is proposed" if proposal.created else "was already proposed"
    if proposal.rebuilt:
        verb = "is proposed again, rebuilt on the current registry (the old branch was stale)"
    effect = _EFFECTS.get(first.kind, "the change happens")
    if pull.url:
        text = f"{what} {verb} in {pull.url}; {effect} when that pull request is merged"
    else:
        text = (
            f"{what} {verb} on branch {branch} (pushed to {proposal.remote.name}); open a pull "
            f"request from it into {proposal.remote.branch}: {effect} when it is merged"
        )
    raise PromotionPending(
        text, branch=branch, url=pull.url, number=pull.number, created=proposal.created
    )


def open_request(
    store: Store, proposal: Proposal, title: str, body: str, env: Mapping[str, str]
) -> PullRequest:
    """Find the forge's open request for ``proposal``'s branch, or open one."""
    config = store.read_config(at=proposal.base)
    forge = make_forge(config.forge, proposal.remote.url, env)
    found = forge.find(proposal.branch)
    if found is not None:
        return found
    labels = [str(label) for label in config.forge.get("labels", DEFAULT_LABELS)]
    return forge.open(proposal.branch, proposal.remote.branch, title, body, labels)


def _facts(store: Store, change: ProtectedChange, proposal: Proposal) -> dict[str, str]:
    """What a reviewer wants to know of the version the request is about."""
    if change.version is None:
        return {}
    try:
        model = store.read_model(change.old_name or change.model, proposal.base)
    except GitregError:
        return {}
    mv = model.get_version(change.version)
    if mv is None:
        return {}
    return {
        "Version": f"{mv.version} (now {mv.current_stage})",
        "Source": f"`{mv.source}`",
        "Run": mv.run_id or "",
        "Description": mv.description or "",
        "Metrics": ", ".join(f"{k}={v}" for k, v in mv.metrics.items()),
        "Tags": ", ".join(f"{k}={v}" for k, v in mv.tags.items()),
    }


def request_body(
    summary: str,
    why: str | None,
    changes: Sequence[ProtectedChange],
    diff: str,
    facts: Mapping[str, str] | None = None,
) -> str:
    """The pull request's body: what changes, why, the version's facts, and the diff."""
    lines = [summary, ""]
    if why:
        lines += [why, ""]
    lines += [f"- **{key}**: {value}" for key, value in (facts or {}).items() if value]
    lines += ["", "Protected facts this changes:", ""]
    lines += [f"- {c.model}: {c.what}" for c in changes]
    lines += [
        "",
        "Merging this pull request is the change: the registry branch changes when it is "
        "merged, not before. The gitreg check validates it against the base branch's policy.",
    ]
    if diff:
        lines += ["", "```diff", diff.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------- the open requests
