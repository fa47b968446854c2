"""Request branches: a change proposed on a ``gitreg/...`` branch instead of the registry's.

``propose`` applies a mutation on the remote tip and pushes the commit to a request branch
(with a lease, so a concurrent proposer is never overwritten). Asked again while the
branch is open, it returns the branch as it is, unless the branch has gone stale (the
registry moved on and the change no longer merges cleanly): then it rebuilds the branch on
the current tip by re-applying the mutation, never by a textual rebase, and force-pushes
only that branch. ``request_branches`` lists the open ones with what is known of them;
``delete_branch`` withdraws one. The local branch and work tree are never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import record, validate
from gitreg.core.config import BRANCH_PREFIX, MODELS_DIR
from gitreg.core.errors import ConcurrentUpdate, PushRejected, RemoteUnavailable
from gitreg.core.retired import RETIRED_FILE
from gitreg.store import _git, _net, _repo, verified
from gitreg.store.remote import Remote, has_remote, remote_url, resolve_remote
from gitreg.store.store import Store
from gitreg.store.transaction import Clock, Transaction

if TYPE_CHECKING:
    from gitreg.core.identity import Identity


@record.dataclass(frozen=True, slots=True)
class Proposal:
    """A ``gitreg/...`` branch on the remote that carries one change to review."""

    remote: Remote
    branch: str
    base: str
    commit: str
    created: bool
    diff: str = ""
    rebuilt: bool = False  # an existing stale branch was built again on the current tip


@record.dataclass(frozen=True, slots=True)
class OpenBranch:
    """An unmerged request branch: its tip, the commit it was built on, when, and if stale."""

    branch: str
    commit: str
    base: str | None
    created_at: str | None
    stale: bool


def propose(
    store: Store,
    mutation: Callable[[Transaction], Any],
    branch: str,
    push: bool | None,
    *,
    author: Identity | None = None,
    clock: Clock | None = None,
) -> tuple[Proposal | None, Any]:
    """Apply ``mutation`` on the remote tip and push it to ``branch``, not to the registry's.

    Returns the proposal (None when the mutation changes nothing: the remote already has
    it) and the mutation's result. ``author`` and ``clock`` are ``Writer.transaction``'s.
    """
    repo = _repo.open_repo(store.root)
    with store.exclusive(repo):
        remote = store.remote_for(repo, push)
        if remote is None:
            raise PushRejected("a pull request needs a remote to push its branch to")
        for _ in range(3):
            tip = remote.fetch(store.root)
            if tip is None:
                raise RemoteUnavailable(f"{remote.name} has no branch {remote.branch} yet; push it")
            on_remote, existing = _branch_state(store.root, remote, branch, tip)
            if existing is not None and not is_stale(store.root, existing, tip):
                return Proposal(remote, branch, tip, existing, created=False), None
            tx = Transaction(store.state_dir, repo, tip, author_as=author, clock=clock)
            result = mutation(tx)
            if not tx.changes:
                return None, result
            commit = store.build(repo, tip, tx)
            # The lease names what is there now (a merged branch left behind included).
            lease = f"refs/heads/{branch}:{on_remote or ''}"
            if _net.push(store.root, remote.name, f"{commit}:refs/heads/{branch}", lease) is None:
                text = _git.diff_text(store.root, tip, commit, list(tx.changes))
                proposal = Proposal(
                    remote,
                    branch,
                    tip,
                    commit,
                    created=existing is None,
                    diff=text,
                    rebuilt=existing is not None,
                )
                return proposal, result
        raise ConcurrentUpdate(f"{branch} kept changing on {remote.name} while gitreg pushed it")


def is_stale(root: Path, commit: str, tip: str) -> bool:
    """Whether request ``commit`` no longer applies cleanly to ``tip``.

    It does not when merging it conflicts, or when the merge would leave a manifest it
    changes broken (two versions in Production: each request was valid alone, but the
    registry moved on), so that its change must be made again on the current tip.
    """
    tree = _git.merge_tree(root, tip, commit)
    if tree is None:
        return True
    parent, _ = _git.commit_facts(root, commit)
    changed = [
        p
        for p in _git.changed_paths(root, parent, commit)
        if p.startswith(f"{MODELS_DIR}/") and p.endswith(".yaml") and p != RETIRED_FILE
    ]
    if not changed:
        return False
    merged = _git.read_objects(root, [f"{tree}:{p}" for p in changed])
    for path in changed:
        text = merged[f"{tree}:{path}"]
        if text is None:
            continue
        data, syntax = validate.parse(text, path)
        if syntax or validate.check_manifest(data, path, text):
            return True
    return False


def _branch_state(
    root: Path, remote: Remote, branch: str, tip: str
) -> tuple[str | None, str | None]:
    """``branch``'s commit on the remote (None: absent), and that commit again if unmerged."""
    heads = _net.ls_remote_heads(root, remote.name, f"refs/heads/{branch}")
    commit = heads.get(branch)
    if commit is None:
        return None, None
    _net.fetch(root, remote.name, [f"+refs/heads/{branch}:refs/remotes/{remote.name}/{branch}"])
    return commit, None if _git.is_ancestor(root, commit, tip) else commit


def open_branches(root: Path, remote: Remote, base: str | None = None) -> list[OpenBranch]:
    """The remote's ``gitreg/...`` branches not merged into its registry branch (or ``base``)."""
    heads = _net.ls_remote_heads(root, remote.name, f"refs/heads/{BRANCH_PREFIX}*")
    if not heads:
        return []
    tip = remote.fetch(root) if base is None else base
    _net.fetch(
        root,
        remote.name,
        [f"+refs/heads/{BRANCH_PREFIX}*:refs/remotes/{remote.name}/{BRANCH_PREFIX}*"],
    )
    return [
        _describe(root, branch, commit, tip)
        for branch, commit in sorted(heads.items())
        if tip is None or not _git.is_ancestor(root, commit, tip)
    ]


def _describe(root: Path, branch: str, commit: str, tip: str | None) -> OpenBranch:
    parent, date = _git.commit_facts(root, commit)
    stale = tip is not None and parent != tip and is_stale(root, commit, tip)
    return OpenBranch(branch, commit, parent, date, stale)


def request_branches(
    store: Store, push: bool | None, base: str | None = None
) -> tuple[Remote | None, list[OpenBranch]]:
    """The remote requests go to (None: the registry has none) and its open request branches
    (not merged into its registry branch, or into commit ``base``)."""
    config = store.read_config()
    if push is False or not has_remote(store.root, config):
        return None, []  # a registry without a remote has no requests: not an error
    repo = _repo.open_repo(store.root)
    with store.exclusive(repo):
        target = store.remote_for(repo, True)
        if target is None:
            return None, []
        return target, open_branches(store.root, target, base)


def local_request_branches(store: Store) -> dict[str, str]:
    """Request branch -> commit, from what this clone last fetched (no network)."""
    config = store.read_config()
    prefix = f"refs/remotes/{config.remote}/{BRANCH_PREFIX}"
    return {
        ref.removeprefix(f"refs/remotes/{config.remote}/"): oid
        for ref, oid in _git.list_refs(store.root, prefix).items()
    }


def delete_branch(store: Store, remote: Remote, branch: str, commit: str) -> None:
    """Delete request ``branch`` on the remote, only if it is still at ``commit``."""
    lease = f"refs/heads/{branch}:{commit}"
    lost = _net.push(store.root, remote.name, f":refs/heads/{branch}", lease)
    if lost is not None:
        raise ConcurrentUpdate(
            f"{branch} changed on {remote.name} while gitreg withdrew it ({lost.why}); look "
            "at it again (gitreg requests) and retry"
        )
    _git.delete_ref(store.root, f"refs/remotes/{remote.name}/{branch}")


def fetch_tip(store: Store, push: bool | None = None) -> str:
    """Fetch the registry's remote branch and return its tip (for ``--fetch`` reads).

    Raises:
        RemoteUnavailable: there is no remote, or it cannot be reached.
    """
    config = store.read_config()
    if remote_url(store.root, config) is None:  # say so as a read, not as a push (#27)
        raise RemoteUnavailable(
            f"fetch=True reads the remote's tip, but this clone has no remote "
            f"{config.remote!r}; add it (git remote add {config.remote} URL) or drop fetch=True"
        )
    branch = _git.run(store.root, ["symbolic-ref", "-q", "--short", "HEAD"]).decode().strip()
    target = resolve_remote(store.root, config, branch, True if push is None else push)
    if target is None:
        raise RemoteUnavailable("fetch=True needs a remote, and pushing is off (push=False)")
    with store.lock():
        tip = target.fetch(store.root)
        # Who approved what, as the audit recorded it: history and events show it (#24).
        verified.fetch_approvals(store.root, target.name)
    if tip is None:
        raise RemoteUnavailable(f"{target.name} has no branch {target.branch} yet")
    return tip
