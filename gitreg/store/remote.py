"""Remote-backed registries: which remote a write goes to, and how it races other writers.

A write to a registry with a remote is the store transaction of DESIGN.md: fetch, apply the
pure mutation on the remote tip, commit, push. A push rejected because someone else pushed
first is retried by fetching again and re-applying the *mutation* (never a textual rebase),
after a jittered backoff, so two writers that both register "the next version" get
different numbers. This module decides where and when; ``store`` runs the loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gitreg.core import record
from gitreg.core.config import Config
from gitreg.core.errors import BranchDiverged, ConcurrentUpdate, PushRejected
from gitreg.store import _git, _repo

if TYPE_CHECKING:
    import random

    from gitreg.store._net import Lost

# The network code (``_net``) loads for a write that has a remote: ``has_remote`` is asked
# by every write, and a registry without one never needs it (#26).

BACKOFF_SECONDS = 0.1
# A ref lock on the remote that stays while the branch does not move was left by a killed
# push (a live push holds it for milliseconds); after this long, say so instead of retrying.
STALE_LOCK_SECONDS = 2.0
LOCK_WAIT_SECONDS = 0.25


@record.dataclass(frozen=True, slots=True)
class Remote:
    """Where writes go: a git remote, the branch on it, and how often to retry a race."""

    name: str
    url: str
    branch: str
    retries: int | None = None  # at most this many retries (None: only the time budget)
    retry_seconds: float = 120.0  # a write that keeps losing races gives up after this

    @property
    def tracking_ref(self) -> str:
        """The local remote-tracking ref that mirrors the remote branch."""
        return f"refs/remotes/{self.name}/{self.branch}"

    @property
    def refspec(self) -> str:
        """The fetch refspec for the remote branch."""
        return f"+refs/heads/{self.branch}:{self.tracking_ref}"

    def fetch(self, root: Path, repo: _repo.Repo | None = None) -> str | None:
        """Fetch the branch and return its tip, or None when the remote has no such branch."""
        from gitreg.store import _net

        if not _net.fetch(root, self.name, [self.refspec]):
            return None
        tip = _repo.rev_parse(repo, self.tracking_ref) if repo is not None else None
        return tip or _git.resolve_commit(root, self.tracking_ref)


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
            # Name what asked for the push: the option given, or gitreg.yaml (#27).
            why, fix = (
                ("push=True", "drop push=True")
                if push
                else ("registry.push: always in gitreg.yaml", "pass push=False for this write")
            )
            raise PushRejected(
                f"pushing is required ({why}) but this clone has no remote {config.remote!r}; "
                f"add it (git remote add {config.remote} URL) or {fix}"
            )
        return None
    if mode == "auto" and _git.config_value(root, f"branch.{branch}.remote") is None:
        return None
    return Remote(config.remote, url, config.branch or branch, config.retries, config.retry_seconds)


def remote_url(root: Path, config: Config) -> str | None:
    """The URL of the registry's remote (``registry.remote``), or None without one."""
    return _git.config_value(root, f"remote.{config.remote}.url")


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
    import random

    return (rng or random).uniform(0, BACKOFF_SECONDS / attempt)


@record.dataclass
class Contention:
    """The lost races of one write: its time budget, its backoff, and a lock that is stuck."""

    remote: Remote
    clock: Callable[[], float] = time.monotonic
    attempts: int = 0
    started: float = record.field(default=0.0)
    lock: tuple[str, str | None] | None = None  # (lock file, remote tip) when first seen
    lock_since: float = 0.0
    wait: float = 0.0  # how long to wait before the next try, from the last lost race

    def __post_init__(self) -> None:
        self.started = self.clock()

    def lost(self, outcome: Lost, tip: str | None) -> float:
        """Record a lost race; return how long to wait before the next try.

        Raises:
            PushRejected: the remote branch's lock was left by a killed push.
            ConcurrentUpdate: the time budget (or ``registry.retries``) is spent.
        """
        self.attempts += 1
        now = self.clock()
        if outcome.lock is not None:
            if self.lock != (outcome.lock, tip):
                self.lock, self.lock_since = (outcome.lock, tip), now
            elif now - self.lock_since >= STALE_LOCK_SECONDS:
                raise PushRejected(
                    _stale_lock_message(self.remote, outcome.lock, now - self.lock_since)
                )
        else:
            self.lock = None
        spent = now - self.started
        out_of_tries = self.remote.retries is not None and self.attempts > self.remote.retries
        if spent >= self.remote.retry_seconds or out_of_tries:
            raise ConcurrentUpdate(
                f"{self.remote.name}/{self.remote.branch} kept moving: {self.attempts} pushes "
                f"in {spent:.0f}s lost the race to other writers (last: {outcome.why}); nothing "
                "was committed, the clone is unchanged; retry, or raise registry.retry_seconds "
                "in gitreg.yaml"
            )
        return LOCK_WAIT_SECONDS if outcome.lock is not None else backoff(self.attempts)


def _stale_lock_message(remote: Remote, lock: str, held: float) -> str:
    return (
        f"{remote.name}'s branch {remote.branch} is locked: {lock} has existed for "
        f"{held:.1f}s while the branch did not move, so a push into it was most likely killed "
        "halfway; nothing was pushed and the clone is unchanged. If no push to "
        f"{remote.url} is running, remove that file on the remote (git leaves it for a human "
        "to remove; gitreg never deletes a lock in another repository)"
    )


def choose_base(
    root: Path, remote: Remote, local: str | None, tip: str | None, repo: _repo.Repo | None = None
) -> str | None:
    """The commit a write builds on: the remote tip, or the local tip when it is ahead.

    Raises:
        BranchDiverged: both sides have commits the other lacks.
    """

    def reachable(older: str, newer: str) -> bool:
        if repo is not None:
            return _repo.is_ancestor_of(repo, older, newer)
        return _git.is_ancestor(root, older, newer)

    if tip is None or local == tip:
        return local if tip is None else tip
    if local is None or reachable(local, tip):
        return tip
    if reachable(tip, local):
        return local  # unpushed local commits (an earlier --no-push) travel with this write
    raise BranchDiverged(
        f"the local branch and {remote.name}/{remote.branch} have diverged (both have commits "
        f"the other lacks); run 'git pull --rebase {remote.name} {remote.branch}' and retry"
    )


def unchecked_clone(root: Path) -> str | None:
    """Why a clone has no gitreg.yaml when ``git clone`` checked nothing out, or None.

    A bare repository made by plain ``git init --bare`` has HEAD ``master``; once the
    registry is pushed to it as ``main``, every clone of it has HEAD on a branch with no
    commit and the registry only as ``origin/main`` (#27). Say which branch to check out
    and how to fix the remote for the next clone, instead of "run gitreg init".
    """
    from gitreg.core.config import BRANCH_PREFIX, CONFIG_FILE
    from gitreg.core.errors import GitregError

    try:
        _git.resolve_commit(root, "HEAD")
        return None  # something is checked out: it really is not a registry
    except GitregError:
        pass
    try:
        listed = _git.run(root, ["for-each-ref", "--format=%(refname)", "refs/remotes/"])
    except GitregError:
        return None
    tracking = [
        ref.removeprefix("refs/remotes/")
        for ref in listed.decode("utf-8", "replace").split()
        if not ref.endswith("/HEAD") and f"/{BRANCH_PREFIX}" not in ref
    ]
    found = [ref for ref in tracking if _has_file(root, ref, CONFIG_FILE)]
    if not found:
        return None
    remote, _, branch = found[0].partition("/")
    from gitreg.store import _net

    url = _net.redact(_git.config_value(root, f"remote.{remote}.url") or remote)
    return (
        f"{root} has nothing checked out: git clone found no branch at the HEAD of {url} "
        f"(plain git init --bare makes HEAD master) while the registry is on {found[0]}; run "
        f"git -C {root} checkout {branch}. So that the next clone checks it out, point the "
        f"remote's HEAD at it (git --git-dir={url} symbolic-ref HEAD refs/heads/{branch} on a "
        f"bare repository; on GitHub or GitLab, make {branch} the default branch)"
    )


def _has_file(root: Path, ref: str, path: str) -> bool:
    from gitreg.core.errors import GitregError

    try:
        return _git.read_blob_at(root, ref, path) is not None
    except GitregError:
        return False


def adopt_remote_head(root: Path, url: str, branch: str) -> str | None:
    """Point an empty local bare repository's HEAD at ``branch``; what was done, or a hint.

    ``gitreg init --remote ../registry.git`` on a repository made by plain ``git init
    --bare`` (HEAD ``master``) would leave every clone with nothing checked out once
    ``main`` is pushed (#27). An empty repository takes its first pushed branch as its
    default on GitHub and GitLab; a local one is given the registry's branch the same way.
    A repository that already has branches is never changed: the hint says what to run.
    Anything but a local bare repository (a URL, a path that is not there yet) is left
    alone and gives None.
    """
    from gitreg.core.errors import GitregError

    if not url or "://" in url or ":" in url.split("/", 1)[0] or url.startswith("-"):
        return None
    path = (root / url).resolve()
    if not (path / "HEAD").is_file() or (path / ".git").exists():
        return None

    def git(*args: str) -> str:
        return _git.run(root, [f"--git-dir={path}", *args]).decode().strip()

    try:
        if git("rev-parse", "--is-bare-repository") != "true":
            return None
        head = git("symbolic-ref", "-q", "HEAD")
        wanted = f"refs/heads/{branch}"
        if head == wanted or (head and git("for-each-ref", "--format=%(refname)", head)):
            return None  # HEAD names the registry's branch, or a branch that exists
        if not git("for-each-ref", "--count=1", "--format=%(refname)", "refs/"):
            git("symbolic-ref", "HEAD", wanted)
            return (
                f"{url} is empty and its HEAD named {head.removeprefix('refs/heads/')}; it now "
                f"names {branch}, so git clone checks the registry out"
            )
    except GitregError:
        return None
    return (
        f"{url}'s HEAD names {head.removeprefix('refs/heads/')}, which it does not have, so "
        f"git clone will check out nothing; once {branch} is pushed: git --git-dir={path} "
        f"symbolic-ref HEAD {wanted}"
    )
