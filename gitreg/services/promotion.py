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

from gitreg.core.card import CARD_SUFFIX, is_card_path
from gitreg.core.config import BRANCH_PREFIX, CONFIG_FILE, Config, Policy
from gitreg.core.errors import (
    ForgeError,
    GitregError,
    PromotionPending,
    PullRequestNotOpened,
    TransitionNotAllowed,
)
from gitreg.core.names import branch_component, name_of_stem
from gitreg.core.protection import (
    CARD_CHANGE,
    CONFIG_CHANGE,
    ProtectedChange,
    card_change,
    config_change,
    protected_changes,
)
from gitreg.integrations.forges import make_forge
from gitreg.integrations.forges.base import PullRequest
from gitreg.store import compare
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
    CARD_CHANGE: "the model card changes",
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
        changes += _card_changes(tx, policy)
        if changes:
            raise ReviewRequired(sorted(changes, key=_weight))
        return result

    return run


def _card_changes(tx: Transaction, policy: Policy) -> list[ProtectedChange]:
    """The card edits of ``tx`` whose models hold a protected fact at the tip (#29)."""
    found = []
    for path in tx.changes:
        data = tx.changes[path]
        if not is_card_path(path):
            continue
        if tx.base_blob_id(path) == (compare.blob_id(data) if data is not None else None):
            continue
        name = name_of_stem(path.rsplit("/", 1)[-1].removesuffix(CARD_SUFFIX)) or ""
        held = tx.read_model(name)
        change = card_change(held[0] if held else None, policy, path)
        if change is not None:
            found.append(change)
    return found


def _weight(change: ProtectedChange) -> int:
    """What a request is named after: what was asked (a version entering a protected stage,
    a deletion, a rename, an alias) before what follows from it (the version it replaces
    being archived, the aliases a deleted version held)."""
    if change.kind == "stage":
        return 0 if change.stage == change.to_stage else 4
    weights = {CONFIG_CHANGE: 0, "delete-model": 1, "rename": 1, "delete-version": 2}
    return {**weights, "alias": 3, CARD_CHANGE: 3}.get(change.kind, 5)


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
        # Name what the user did: the option they gave, or the setting they did not (#27).
        fix = (
            "drop push=False"
            if push is False
            else "registry.push is never in gitreg.yaml: pass push=True for this write (or "
            "set registry.push: auto)"
        )
        raise TransitionNotAllowed(
            f"{change.model}: {change.what} changes a protected fact and goes through a pull "
            f"request, whose branch must be pushed; {fix}"
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
    elif change.kind == CARD_CHANGE:
        suffix = "card"
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
    if change.kind == CARD_CHANGE:
        return f"Update the model card of {change.model}"
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
    what = f"{first.model}: {first.what}"
    verb = "is proposed" if proposal.created else "was already proposed"
    if proposal.rebuilt:
        verb = "is proposed again, rebuilt on the current registry (the old branch was stale)"
    effect = _EFFECTS.get(first.kind, "the change happens")
    try:
        pull = open_request(store, proposal, title, body, os.environ)
    except ForgeError as e:
        raise _not_opened(store, proposal, f"{what} {verb}", effect, e) from e
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


def _not_opened(
    store: Store, proposal: Proposal, what: str, effect: str, error: ForgeError
) -> PullRequestNotOpened:
    """The branch is pushed and the forge did not open its pull request: say where the
    branch is, how to open the pull request by hand, and how to let gitreg open it (#27).

    An error (exit 1), not a pending request: the registry asked its forge for a pull
    request and has none, so a script (a training job's promotion step) must not go on as
    if reviewers had been asked. Nothing is lost: the branch stays, and the same command
    run again finds it and only opens the pull request.
    """
    config = store.read_config(at=proposal.base)
    url = open_url(config.forge, proposal.remote.url, proposal.branch, proposal.remote.branch)
    by_hand = f"open it by hand: {url}" if url else "open it by hand on the forge"
    kind = str(config.forge.get("type", "none"))
    message = (
        f"{what} on branch {proposal.branch} (pushed to {proposal.remote.name}), but no pull "
        f"request was opened on {kind}: {error.message}; then run the same command again (it "
        f"finds the branch and opens the pull request), or {by_hand} (from {proposal.branch} "
        f"into {proposal.remote.branch}); {effect} when it is merged"
    )
    return PullRequestNotOpened(message, branch=proposal.branch, open_url=url)


def open_url(settings: Mapping[str, Any], remote_url: str, branch: str, base: str) -> str | None:
    """The forge's web page that opens a pull (merge) request from ``branch`` into ``base``,
    or None when the forge's web address cannot be told from gitreg.yaml and the remote."""
    from urllib.parse import quote, urlencode

    from gitreg.integrations.forges.base import host_from_url, repository_from_url

    kind = str(settings.get("type", "none"))
    repository = settings.get("repository") or repository_from_url(remote_url)
    if kind not in ("github", "gitlab") or not isinstance(repository, str) or not repository:
        return None
    host = host_from_url(remote_url) if repository_from_url(remote_url) else None
    api = str(settings.get("api_url") or "")
    if (
        host is None
        and api.startswith("https://")
        and api.rstrip("/").endswith(("/api/v3", "/api/v4"))
    ):
        host = api.removeprefix("https://").split("/", 1)[0]  # GitHub Enterprise, GitLab
    if host is None and kind == "github" and api in ("", "https://api.github.com"):
        host = "github.com"
    if host is None:
        return None
    if kind == "github":
        return f"https://{host}/{repository}/compare/{quote(base)}...{quote(branch)}?expand=1"
    query = urlencode(
        {"merge_request[source_branch]": branch, "merge_request[target_branch]": base}
    )
    return f"https://{host}/{repository}/-/merge_requests/new?{query}"


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
