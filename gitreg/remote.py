"""Remote-backed registries: which remote a write goes to, and how it races other writers.

A write to a registry with a remote is the store transaction of DESIGN.md: fetch, apply the
pure mutation on the remote tip, commit, push. A push rejected because someone else pushed
first is retried by fetching again and re-applying the *mutation* (never a textual rebase),
after a jittered exponential backoff, so two writers that both register "the next version"
get different numbers.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gitreg import _git
from gitreg.config import Config
from gitreg.entities import ModelVersion, Stage
from gitreg.errors import (
    BranchDiverged,
    ConcurrentUpdate,
    PromotionPending,
    PushRejected,
    RemoteUnavailable,
    TransitionNotAllowed,
    VersionNotFound,
)
from gitreg.forges.base import BRANCH_PREFIX, PullRequest

if TYPE_CHECKING:
    from gitreg.store import Store, Transaction

BACKOFF_SECONDS = 0.1
DEFAULT_LABELS = ("gitreg", "promotion")
_BRANCH_RE = re.compile(r"^gitreg/(?P<name>.+)/v(?P<version>\d+)-(?P<stage>[a-z]+)$")


@dataclasses.dataclass(frozen=True, slots=True)
class Remote:
    """Where writes go: a git remote, the branch on it, and how often to retry a race."""

    name: str
    url: str
    branch: str
    retries: int = 30

    @property
    def tracking_ref(self) -> str:
        """The local remote-tracking ref that mirrors the remote branch."""
        return f"refs/remotes/{self.name}/{self.branch}"

    @property
    def refspec(self) -> str:
        """The fetch refspec for the remote branch."""
        return f"+refs/heads/{self.branch}:{self.tracking_ref}"

    def fetch(self, root: Path) -> str | None:
        """Fetch the branch and return its tip, or None when the remote has no such branch."""
        if not _git.fetch(root, self.name, [self.refspec]):
            return None
        return _git.resolve_commit(root, self.tracking_ref)


def resolve_remote(root: Path, config: Config, branch: str, push: bool | None) -> Remote | None:
    """The remote writes go to, or None when this registry commits locally.

    ``push`` (``--push``/``--no-push``) overrides ``registry.push``: ``never`` commits
    locally; ``auto`` pushes when the branch tracks a remote; ``always`` insists.

    Raises:
        PushRejected: pushing is required but the clone has no such remote.
    """
    mode = config.push_mode(push)
    if mode == "never":
        return None
    url = _git.config_value(root, f"remote.{config.remote}.url")
    if url is None:
        if mode == "always":
            raise PushRejected(
                f"pushing is required (--push or registry.push: always) but this clone has no "
                f"remote {config.remote!r}; add it (git remote add {config.remote} URL) or "
                "pass --no-push"
            )
        return None
    if mode == "auto" and _git.config_value(root, f"branch.{branch}.remote") is None:
        return None
    return Remote(config.remote, url, config.branch or branch, config.retries)


def has_remote(root: Path, config: Config) -> bool:
    """Whether the clone has the remote gitreg.yaml names (so it has reviewers)."""
    return _git.config_value(root, f"remote.{config.remote}.url") is not None


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): jittered, and *shorter* each time.

    Writers race for the remote continuously, not in a burst, so growing backoff starves
    the unlucky: fresh writes start at once while a writer that lost many times sleeps
    longest. Shrinking the jitter ceiling with each loss ages a loser into priority, which
    bounds the worst case (bench/stress.py measures it).
    """
    return (rng or random).uniform(0, BACKOFF_SECONDS / attempt)


def choose_base(root: Path, remote: Remote, local: str | None, tip: str | None) -> str | None:
    """The commit a write builds on: the remote tip, or the local tip when it is ahead.

    Raises:
        BranchDiverged: both sides have commits the other lacks.
    """
    if tip is None or local == tip:
        return local if tip is None else tip
    if local is None or _git.is_ancestor(root, local, tip):
        return tip
    if _git.is_ancestor(root, tip, local):
        return local  # unpushed local commits (an earlier --no-push) travel with this write
    raise BranchDiverged(
        f"the local branch and {remote.name}/{remote.branch} have diverged (both have commits "
        f"the other lacks); run 'git pull --rebase {remote.name} {remote.branch}' and retry"
    )


# ------------------------------------------------------------- promotion requests


@dataclasses.dataclass(frozen=True, slots=True)
class Proposal:
    """A ``gitreg/...`` branch on the remote that carries one change to review."""

    remote: Remote
    branch: str
    base: str
    commit: str
    created: bool
    diff: str = ""


def request_branch(name: str, version: int, stage: str) -> str:
    """The branch a stage change is proposed on: ``gitreg/NAME/vVERSION-STAGE``."""
    return f"{BRANCH_PREFIX}{name}/v{version}-{stage.lower()}"


def propose(
    store: Store, mutation: Callable[[Transaction], object], branch: str, push: bool | None
) -> Proposal | None:
    """Apply ``mutation`` on the remote tip and push it to ``branch``, not to the registry's.

    Idempotent: an open (unmerged) ``branch`` is returned as it is. None when the mutation
    changes nothing (the remote already has it). The local branch and work tree are untouched.
    """
    from gitreg.store import Transaction

    repo = _git.open_repo(store.root)
    with store.exclusive(repo):
        remote = store.remote_for(repo, push)
        if remote is None:
            raise PushRejected("a pull request needs a remote to push its branch to")
        for _ in range(3):
            tip = remote.fetch(store.root)
            if tip is None:
                raise RemoteUnavailable(f"{remote.name} has no branch {remote.branch} yet; push it")
            existing = _open_branch(store.root, remote, branch, tip)
            if existing is not None:
                return Proposal(remote, branch, tip, existing, created=False)
            tx = Transaction(store, repo, tip)
            mutation(tx)
            if not tx.changes:
                return None
            commit = store.build(repo, tip, tx)
            stale = _git.ls_remote_heads(store.root, remote.name, f"refs/heads/{branch}")
            lease = f"refs/heads/{branch}:{stale.get(branch, '')}"
            if _git.push(store.root, remote.name, f"{commit}:refs/heads/{branch}", lease) is None:
                text = _git.diff_text(store.root, tip, commit, list(tx.changes))
                return Proposal(remote, branch, tip, commit, created=True, diff=text)
        raise ConcurrentUpdate(f"{branch} kept changing on {remote.name} while gitreg pushed it")


def _open_branch(root: Path, remote: Remote, branch: str, tip: str) -> str | None:
    """The commit of ``branch`` on the remote if it exists and is not merged yet."""
    heads = _git.ls_remote_heads(root, remote.name, f"refs/heads/{branch}")
    commit = heads.get(branch)
    if commit is None:
        return None
    _git.fetch(root, remote.name, [f"+refs/heads/{branch}:refs/remotes/{remote.name}/{branch}"])
    return None if _git.is_ancestor(root, commit, tip) else commit


def open_branches(root: Path, remote: Remote) -> dict[str, str]:
    """The remote's ``gitreg/...`` branches that are not merged into its registry branch."""
    heads = _git.ls_remote_heads(root, remote.name, f"refs/heads/{BRANCH_PREFIX}*")
    if not heads:
        return {}
    tip = remote.fetch(root)
    _git.fetch(
        root,
        remote.name,
        [f"+refs/heads/{BRANCH_PREFIX}*:refs/remotes/{remote.name}/{BRANCH_PREFIX}*"],
    )
    return {
        b: c for b, c in sorted(heads.items()) if tip is None or not _git.is_ancestor(root, c, tip)
    }


def open_request(
    store: Store, proposal: Proposal, title: str, body: str, env: Mapping[str, str]
) -> PullRequest:
    """Find the forge's open request for ``proposal``'s branch, or open one."""
    from gitreg.forges import make_forge

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
    match = _BRANCH_RE.match(branch)
    name, version, stage = (None, None, None)
    if match:
        name, version = match["name"], int(match["version"])
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
    from gitreg.forges import make_forge

    repo = _git.open_repo(store.root)
    with store.exclusive(repo):
        target = store.remote_for(repo, True if push is None else push)
        if target is None:
            return []
        branches = open_branches(store.root, target)
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


def fetch_tip(store: Store, push: bool | None = None) -> str:
    """Fetch the registry's remote branch and return its tip (for ``--fetch`` reads).

    Raises:
        RemoteUnavailable: there is no remote, or it cannot be reached.
    """
    config = store.read_config()
    branch = _git.run(store.root, ["symbolic-ref", "-q", "--short", "HEAD"]).decode().strip()
    target = resolve_remote(store.root, config, branch, True if push is None else push)
    if target is None:
        raise RemoteUnavailable("--fetch needs a remote, and pushing is off (--no-push)")
    with store.lock():
        tip = target.fetch(store.root)
    if tip is None:
        raise RemoteUnavailable(f"{target.name} has no branch {target.branch} yet")
    return tip
