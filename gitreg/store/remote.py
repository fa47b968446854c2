"""Remote-backed registries: which remote a write goes to, and how it races other writers.

A write to a registry with a remote is the store transaction of DESIGN.md: fetch, apply the
pure mutation on the remote tip, commit, push. A push rejected because someone else pushed
first is retried by fetching again and re-applying the *mutation* (never a textual rebase),
after a jittered backoff, so two writers that both register "the next version" get
different numbers. This module decides where and when; ``store`` runs the loop.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from gitreg.core.config import Config
from gitreg.core.errors import BranchDiverged, PushRejected
from gitreg.store import _git, _net

BACKOFF_SECONDS = 0.1


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
        if not _net.fetch(root, self.name, [self.refspec]):
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
