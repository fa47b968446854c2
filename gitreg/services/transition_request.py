"""Open requests (MLflow's transition requests): listing them, and withdrawing them.

A request is a ``gitreg/...`` branch on the remote not yet merged, maybe with a pull or
merge request on the forge; its name says what it asks for (``parse_branch``, the inverse
of ``promotion.branch_for``). Listing reports age, staleness and review state; withdrawing
closes the pull request and deletes the branch. Opening one is ``promotion``'s.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from gitreg.core.errors import ForgeError, ForgeTokenMissing, GitregError, VersionNotFound
from gitreg.core.names import name_of_branch_component
from gitreg.gate import approval_check
from gitreg.gate.approvals import Verdict
from gitreg.integrations.forges import make_forge
from gitreg.integrations.forges.base import UNKNOWN_REVIEW, Forge, PullRequest, Review
from gitreg.store.proposal import (
    OpenBranch,
    delete_branch,
    local_request_branches,
    request_branches,
)
from gitreg.store.store import Store

_NAME = r"gitreg/(?P<name>[^/]+)/"
_BRANCHES = (
    ("stage", re.compile(_NAME + r"v(?P<version>\d+)-(?P<stage>none|staging|production|archived)")),
    ("alias", re.compile(_NAME + r"at-(?P<alias>[A-Za-z_][A-Za-z0-9_\-]*)-v(?P<version>\d+)")),
    ("alias", re.compile(_NAME + r"at-(?P<alias>[A-Za-z_][A-Za-z0-9_\-]*)-removed")),
    ("delete-version", re.compile(_NAME + r"v(?P<version>\d+)-deleted")),
    ("delete-model", re.compile(_NAME + r"deleted")),
    ("rename", re.compile(_NAME + r"renamed-(?P<new>[^/]+)")),
    ("config", re.compile(r"gitreg/gitreg\.yaml/(?P<what>[^/]+)")),  # a webhook's change (#22)
    ("card", re.compile(_NAME + r"card")),  # a model card's edit (#29)
)
# The review state of every request when the forge has no token to be asked with (#27).
NO_TOKEN_REVIEW = Review("unknown", reason="no token")
_STAGES = {s.lower(): s for s in ("None", "Staging", "Production", "Archived")}


@dataclasses.dataclass(frozen=True, slots=True)
class TransitionRequest:
    """An open request (MLflow's transition request): a branch, maybe a pull request."""

    branch: str
    name: str | None
    version: int | None
    stage: str | None
    commit: str | None = None
    url: str | None = None
    number: int | None = None
    title: str = ""
    kind: str | None = None  # stage, alias, delete-version, delete-model, rename
    alias: str | None = None
    created_at: str | None = None
    stale: bool = False
    review: Review = UNKNOWN_REVIEW
    base: str | None = None
    # Each policy.approvals rule the request must meet, counted (#24); why unknown if so.
    approvals: tuple[Verdict, ...] = ()
    approvals_problem: str | None = None

    @property
    def target(self) -> str:
        """What the request asks for: ``Production``, ``@champion``, ``deleted``..."""
        if self.kind == "alias":
            return f"@{self.alias}"
        if self.kind == "stage":
            return self.stage or ""
        if self.kind == "rename":
            return "renamed"
        if self.kind == "config":
            return "gitreg.yaml"
        if self.kind == "card":
            return "card"
        return "deleted" if self.kind in ("delete-version", "delete-model") else ""

    def approval_state(self) -> str:
        """``Production: alice (1 more from bob, carol)``; empty when none is needed."""
        if self.approvals_problem is not None:
            return f"unknown ({self.approvals_problem})"
        return "; ".join(
            f"{v.need.key}: {', '.join(v.approved_by) or 'nobody'} "
            + ("(met)" if v.met else f"({v.missing} more from {', '.join(v.may_approve)})")
            for v in self.approvals
        )

    def to_dict(self) -> dict[str, object]:
        """JSON shape for ``gitreg requests --json``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["review"] = self.review.to_dict()
        out["approvals"] = [v.to_dict() for v in self.approvals]
        out["target"] = self.target
        return out


def parse_branch(branch: str) -> dict[str, Any]:
    """What a request branch's name says: kind, model name, version, stage, alias."""
    for kind, pattern in _BRANCHES:
        match = pattern.fullmatch(branch)
        if match is None:
            continue
        groups = match.groupdict()
        name = name_of_branch_component(groups["name"]) if "name" in groups else None
        if kind == "rename" and groups.get("new"):
            name = name_of_branch_component(groups["new"])
        version = int(groups["version"]) if groups.get("version") else None
        return {
            "kind": kind,
            "name": name,
            "version": version,
            "stage": _STAGES.get(groups.get("stage") or ""),
            "alias": groups.get("alias"),
        }
    return {"kind": None, "name": None, "version": None, "stage": None, "alias": None}


def _request(
    branch: str, found: OpenBranch | None, pull: PullRequest | None, review: Review
) -> TransitionRequest:
    facts = parse_branch(branch)
    return TransitionRequest(
        branch,
        facts["name"],
        facts["version"],
        facts["stage"],
        found.commit if found else None,
        pull.url if pull else None,
        pull.number if pull else None,
        pull.title if pull else "",
        facts["kind"],
        facts["alias"],
        (found.created_at if found else None) or (pull.created_at if pull else None),
        found.stale if found else False,
        review,
        found.base if found else None,
    )


def list_requests(
    store: Store, push: bool | None, env: Mapping[str, str], base: str | None = None
) -> list[TransitionRequest]:
    """Open requests, from the remote's unmerged ``gitreg/...`` branches and the forge.

    ``base`` (a commit): the branches not merged into it, rather than into the remote's tip.
    """
    target, branches = request_branches(store, push, base)
    if target is None:
        return []
    config = store.read_config()
    by_branch = {b.branch: b for b in branches}
    try:
        forge = make_forge(config.forge, target.url, env)
    except ForgeTokenMissing:
        # The branches are the requests; only the forge knows of pull requests and
        # reviews, and it cannot be asked without a token (#27).
        return [_request(b, by_branch[b], None, NO_TOKEN_REVIEW) for b in sorted(by_branch)]
    pulls = {p.branch: p for p in forge.list_open()}
    names = sorted(set(by_branch) | set(pulls))
    reviews = {b: _review(forge, pull) for b, pull in pulls.items()}
    found = [
        _request(b, by_branch.get(b), pulls.get(b), reviews.get(b, UNKNOWN_REVIEW)) for b in names
    ]
    try:
        tip = base or store.resolve_ref(target.tracking_ref)
    except GitregError:
        return found  # the remote has no registry branch yet: nothing judges the requests
    asker = approval_check.Asker(forge)
    return [_with_approvals(store, tip, asker, r) for r in found]


def _with_approvals(
    store: Store, tip: str, asker: approval_check.Asker, request: TransitionRequest
) -> TransitionRequest:
    """``request`` with where its approvals stand (#24), if it has a pull request."""
    if request.number is None or request.base is None or request.commit is None:
        return request
    try:
        verdicts = approval_check.open_request(
            store.root, tip, request.base, request.commit, request.number, asker
        )
    except ForgeError as e:
        return dataclasses.replace(request, approvals_problem=e.message)
    return dataclasses.replace(request, approvals=tuple(verdicts))


def _review(forge: Forge, pull: PullRequest) -> Review:
    """The request's review state; a forge that cannot say (permissions) leaves it unknown."""
    try:
        return forge.review(pull)
    except ForgeError:
        return UNKNOWN_REVIEW


def known_requests(store: Store) -> list[TransitionRequest]:
    """The request branches this clone last fetched (no network; for ``show``)."""
    try:
        found = local_request_branches(store)
    except Exception:
        return []
    return [
        _request(branch, OpenBranch(branch, commit, None, None, False), None, UNKNOWN_REVIEW)
        for branch, commit in sorted(found.items())
    ]


def withdraw(
    store: Store,
    name: str,
    version: int | None,
    target: str | None,
    push: bool | None,
    env: Mapping[str, str],
) -> list[TransitionRequest]:
    """Close the matching open requests and delete their branches; the ones withdrawn.

    ``target`` is a stage (``Production``), ``@alias``, or None for every request on the
    model (or version).

    Raises:
        VersionNotFound: no open request matches.
    """
    remote, branches = request_branches(store, push)
    matching = [
        r
        for r in list_requests(store, push, env)
        if r.name == name
        and (version is None or r.version == version)
        and (target is None or r.target.lower() == target.lower())
    ]
    if remote is None or not matching:
        wanted = " ".join(str(x) for x in (name, version, target) if x is not None)
        raise VersionNotFound(
            f"There is no open request for {wanted}; gitreg requests lists the open ones"
        )
    config = store.read_config()
    forge = make_forge(config.forge, remote.url, env)
    commits = {b.branch: b.commit for b in branches}
    for request in matching:
        if request.number is not None:
            forge.close(PullRequest(request.branch, request.url, request.number))
        if request.branch in commits:
            delete_branch(store, remote, request.branch, commits[request.branch])
    return matching
