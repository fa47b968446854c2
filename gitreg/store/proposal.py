"""Request branches: a change proposed on a ``gitreg/...`` branch instead of the registry's.

``propose`` applies a mutation on the remote tip and pushes the commit to a request branch
(with a lease, so a concurrent proposer is never overwritten); ``open_branches`` lists the
ones not merged yet; ``fetch_tip`` reads what is merged. The local branch and work tree
are never touched. Opening the pull request itself is the forge's part (``gitreg.promotion``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from gitreg.core.config import BRANCH_PREFIX
from gitreg.core.errors import ConcurrentUpdate, PushRejected, RemoteUnavailable
from gitreg.core.names import branch_component
from gitreg.store import _git, _net
from gitreg.store.remote import Remote, resolve_remote
from gitreg.store.store import Store
from gitreg.store.transaction import Transaction


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
    """The branch a stage change is proposed on: ``gitreg/NAME/vVERSION-STAGE``.

    NAME is ``names.branch_component(name)``: a model name may hold characters (spaces,
    ``~``, ``..``) that git refuses in a branch name.
    """
    return f"{BRANCH_PREFIX}{branch_component(name)}/v{version}-{stage.lower()}"


def propose(
    store: Store, mutation: Callable[[Transaction], object], branch: str, push: bool | None
) -> Proposal | None:
    """Apply ``mutation`` on the remote tip and push it to ``branch``, not to the registry's.

    Idempotent: an open (unmerged) ``branch`` is returned as it is. None when the mutation
    changes nothing (the remote already has it). The local branch and work tree are untouched.
    """
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
            tx = Transaction(store.state_dir, repo, tip)
            mutation(tx)
            if not tx.changes:
                return None
            commit = store.build(repo, tip, tx)
            stale = _net.ls_remote_heads(store.root, remote.name, f"refs/heads/{branch}")
            lease = f"refs/heads/{branch}:{stale.get(branch, '')}"
            if _net.push(store.root, remote.name, f"{commit}:refs/heads/{branch}", lease) is None:
                text = _git.diff_text(store.root, tip, commit, list(tx.changes))
                return Proposal(remote, branch, tip, commit, created=True, diff=text)
        raise ConcurrentUpdate(f"{branch} kept changing on {remote.name} while gitreg pushed it")


def _open_branch(root: Path, remote: Remote, branch: str, tip: str) -> str | None:
    """The commit of ``branch`` on the remote if it exists and is not merged yet."""
    heads = _net.ls_remote_heads(root, remote.name, f"refs/heads/{branch}")
    commit = heads.get(branch)
    if commit is None:
        return None
    _net.fetch(root, remote.name, [f"+refs/heads/{branch}:refs/remotes/{remote.name}/{branch}"])
    return None if _git.is_ancestor(root, commit, tip) else commit


def open_branches(root: Path, remote: Remote, base: str | None = None) -> dict[str, str]:
    """The remote's ``gitreg/...`` branches not merged into its registry branch (or ``base``)."""
    heads = _net.ls_remote_heads(root, remote.name, f"refs/heads/{BRANCH_PREFIX}*")
    if not heads:
        return {}
    tip = remote.fetch(root) if base is None else base
    _net.fetch(
        root,
        remote.name,
        [f"+refs/heads/{BRANCH_PREFIX}*:refs/remotes/{remote.name}/{BRANCH_PREFIX}*"],
    )
    return {
        b: c for b, c in sorted(heads.items()) if tip is None or not _git.is_ancestor(root, c, tip)
    }


def request_branches(
    store: Store, push: bool | None, base: str | None = None
) -> tuple[Remote | None, dict[str, str]]:
    """The remote writes go to (None: there is none) and its request branches not merged
    into its registry branch, or into commit ``base``."""
    repo = _git.open_repo(store.root)
    with store.exclusive(repo):
        target = store.remote_for(repo, True if push is None else push)
        if target is None:
            return None, {}
        return target, open_branches(store.root, target, base)


def fetch_tip(store: Store, push: bool | None = None) -> str:
    """Fetch the registry's remote branch and return its tip (for ``--fetch`` reads).

    Raises:
        RemoteUnavailable: there is no remote, or it cannot be reached.
    """
    config = store.read_config()
    branch = _git.run(store.root, ["symbolic-ref", "-q", "--short", "HEAD"]).decode().strip()
    target = resolve_remote(store.root, config, branch, True if push is None else push)
    if target is None:
        raise RemoteUnavailable("fetch=True needs a remote, and pushing is off (push=False)")
    with store.lock():
        tip = target.fetch(store.root)
    if tip is None:
        raise RemoteUnavailable(f"{target.name} has no branch {target.branch} yet")
    return tip
