"""Promotion requests: when a write needs review, proposing it, and the open requests.

A change to a protected fact on a registry with a remote is not pushed to the registry's
branch: it is proposed on a request branch (``store.proposal``) and a pull or merge request
is opened through the configured forge (``integrations.forges``); merging it is the change.
``Registry`` decides which writes go this way; this module carries them out.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping

from gitreg.core.entities import ModelVersion, Stage
from gitreg.core.errors import PromotionPending, TransitionNotAllowed, VersionNotFound
from gitreg.core.names import name_of_branch_component
from gitreg.integrations.forges import make_forge
from gitreg.integrations.forges.base import PullRequest
from gitreg.store.proposal import (
    Proposal,
    fetch_tip,
    propose,
    request_branch,
    request_branches,
)
from gitreg.store.remote import has_remote
from gitreg.store.store import Store
from gitreg.store.transaction import Transaction

DEFAULT_LABELS = ("gitreg", "promotion")
_BRANCH_RE = re.compile(r"^gitreg/(?P<name>.+)/v(?P<version>\d+)-(?P<stage>[a-z]+)$")


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


def request_body(summary: str, why: str | None, details: Mapping[str, str], diff: str) -> str:
    """The pull request's body: what changes, why, the version's facts, and the diff."""
    lines = [summary, ""]
    if why:
        lines += [why, ""]
    lines += [f"- **{key}**: {value}" for key, value in details.items() if value]
    lines += [
        "",
        "Merging this pull request is the transition: the stage changes on the registry "
        "branch when it is merged, not before. The gitreg check validates it against the "
        "base branch's policy.",
    ]
    if diff:
        lines += ["", "```diff", diff.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True, slots=True)
class TransitionRequest:
    """An open promotion request (MLflow's transition request): a branch, maybe a PR."""

    branch: str
    name: str | None
    version: int | None
    stage: str | None
    commit: str | None = None
    url: str | None = None
    number: int | None = None
    title: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON shape for ``gitreg requests --json``."""
        return dataclasses.asdict(self)


def _request_from(branch: str, commit: str | None, pull: PullRequest | None) -> TransitionRequest:
    match = _BRANCH_RE.fullmatch(branch)
    name, version, stage = (None, None, None)
    if match:
        name, version = name_of_branch_component(match["name"]), int(match["version"])
        stage = next((s.value for s in Stage if s.value.lower() == match["stage"]), None)
    return TransitionRequest(
        branch,
        name,
        version,
        stage,
        commit,
        pull.url if pull else None,
        pull.number if pull else None,
        pull.title if pull else "",
    )


def list_requests(
    store: Store, push: bool | None, env: Mapping[str, str]
) -> list[TransitionRequest]:
    """Open requests, from the remote's unmerged ``gitreg/...`` branches and the forge."""
    target, branches = request_branches(store, push)
    if target is None:
        return []
    config = store.read_config()
    pulls = {p.branch: p for p in make_forge(config.forge, target.url, env).list_open()}
    names = sorted(set(branches) | set(pulls))
    return [_request_from(b, branches.get(b), pulls.get(b)) for b in names]


def needs_request(
    store: Store,
    target: Stage,
    current: Callable[[], Stage | None],
    direct: bool,
    push: bool | None,
) -> bool:
    """Whether moving a version from ``current()`` to ``target`` needs a pull request.

    ``current`` is called only on a registry with a remote and protected stages: a local
    registry decides without reading the model (its transaction reads it anyway).

    Raises:
        TransitionNotAllowed: it must, but ``direct`` or no push was asked for.
    """
    config = store.read_config()
    if not config.policy.protected or not has_remote(store.root, config):
        return False  # a registry without a remote has no reviewers: direct commits
    touched = {target, current() or target} & config.policy.protected
    if not touched:
        return False
    stage = sorted(touched)[0]
    if direct:
        raise TransitionNotAllowed(
            f"{stage} is protected (gitreg.yaml policy.protected): on a registry with a "
            "remote it changes only through a pull request; drop --direct"
        )
    if config.push_mode(push) == "never":
        raise TransitionNotAllowed(
            f"{stage} is protected and changes through a pull request, whose branch must "
            "be pushed; drop --no-push (or registry.push: never in gitreg.yaml)"
        )
    return True


def request_transition(
    store: Store,
    mutation: Callable[[Transaction], object],
    name: str,
    number: int,
    target: Stage,
    why: str | None,
    push: bool | None,
) -> ModelVersion:
    """Propose a stage change as a pull request and raise PromotionPending.

    Returns the version only when the remote already has the change (nothing to review).
    """
    branch = request_branch(name, number, target.value)
    proposal = propose(store, mutation, branch, push)
    if proposal is None:
        return _version_at(store, name, number, fetch_tip(store, push))
    title = f"Promote {name} version {number} to {target}"
    mv = _version_at(store, name, number, proposal.base)
    details = {
        "Version": f"{number} (now {mv.current_stage})",
        "Source": f"`{mv.source}`",
        "Run": mv.run_id or "",
        "Description": mv.description or "",
        "Metrics": ", ".join(f"{k}={v}" for k, v in mv.metrics.items()),
    }
    body = request_body(title + ".", why, details, proposal.diff)
    pull = open_request(store, proposal, title, body, os.environ)
    what = f"{name} version {number} -> {target}"
    verb = "is proposed" if proposal.created else "was already proposed"
    if pull.url:
        text = f"{what} {verb} in {pull.url}; the stage changes when that pull request is merged"
    else:
        text = (
            f"{what} {verb} on branch {branch} (pushed to {proposal.remote.name}); open a pull "
            f"request from it into {proposal.remote.branch}: the stage changes when it is merged"
        )
    raise PromotionPending(
        text, branch=branch, url=pull.url, number=pull.number, created=proposal.created
    )


def _version_at(store: Store, name: str, number: int, at: str) -> ModelVersion:
    model = store.read_model(name, at)
    found = model.get_version(number)
    if found is None:
        raise VersionNotFound(f"Model Version (name={name}, version={number}) not found")
    return found
