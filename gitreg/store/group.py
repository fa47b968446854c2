"""Group commit: writers queued on one clone share one push to the remote (#26).

A write to a registry with a remote has two halves. The first, under the clone's lock, is
local and takes milliseconds: the writer applies its own mutation on the newest commit it
can build on, commits it, and appends the commit to the clone's *queue* (the file
``.git/gitreg/queue`` names the last queued commit; each queued commit's parent is the one
queued before it, the first one's the remote's tip). The second is the network round trip,
under the clone's *push lock*: whoever takes it first pushes the whole queue in one push, and
the local branch and work tree follow. Every other writer waiting for that lock then finds
its commit on the remote and returns, without a push of its own. So 16 writers on one
clone pay for a few pushes, not 16, and every caller still gets its own commit (its own
author, message and result) and its own error: a mutation runs in its caller's process,
so one that raises fails only its caller, before anything is queued.

What can go wrong, and what each caller then sees:

- the push loses a race (another machine pushed first): every queued commit was built on a
  tip that is no longer the remote's, so the queue is dropped, and each writer whose commit
  was in it applies its mutation again on the new tip (never a textual rebase);
- the pusher dies (SIGKILL) while carrying others' commits: the push lock is released by
  the operating system when its last git child exits; the next writer in line finds the
  queue still there and pushes it again (a no-op if the dead pusher's push landed), so each
  queued caller sees its commit on the remote, or an error, never silence;
- the pusher gives up (its time budget spent, a refused push, the network): it drops the
  queue before raising, so a caller that got an error never has its commit land later;
  each other writer in the queue tries again on its own budget and gets its own answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gitreg.store import _git, _net, _repo, faults, worktree

if TYPE_CHECKING:
    from gitreg.store._repo import Repo
    from gitreg.store.remote import Contention, Remote
    from gitreg.store.transaction import Transaction


class Writer(Protocol):
    """What a group needs of ``writer.Writer`` (named here: ``writer`` imports this)."""

    root: Path
    state_dir: Path
    retry_count: int

    def build(self, repo: Repo, base: str | None, tx: Transaction) -> str: ...

    def exclusive(self, repo: Repo) -> contextlib.AbstractContextManager[None]: ...

    def _advance(
        self,
        repo: Repo,
        ref: str,
        old: str | None,
        new: str,
        changes: Mapping[str, bytes | None] | None,
        message: str,
    ) -> bool: ...


QUEUE = "queue"
PUSH_LOCK = "push.lock"
LEADER = "pushing"  # the pid of the writer pushing the queue now (for humans and tests)


@dataclasses.dataclass(frozen=True, slots=True)
class Queued:
    """A write's first half: its result, and the commit that must reach the remote.

    ``commit`` None: the mutation changed nothing on a confirmed tip (nothing to wait for).
    """

    result: Any
    commit: str | None
    mine: bool = True  # False: the commit is the queued one the no-op result was read on


def read_queue(state_dir: Path) -> str | None:
    """The last queued commit, or None when nothing waits for a push."""
    try:
        text = (state_dir / QUEUE).read_text("ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return text if len(text) == 40 and all(c in "0123456789abcdef" for c in text) else None


def write_queue(state_dir: Path, commit: str | None) -> None:
    """Record ``commit`` as the last queued one (None: the queue is empty), atomically."""
    path = state_dir / QUEUE
    if commit is None:
        path.unlink(missing_ok=True)
        return
    tmp = state_dir / f"{QUEUE}.tmp"
    tmp.write_text(commit + "\n", "ascii")
    os.replace(tmp, path)


def _contains(repo: Repo, tip: str | None, commit: str) -> bool:
    """Whether ``commit`` is ``tip`` or one of its ancestors (False when unknown)."""
    if tip is None:
        return False
    return tip == commit or bool(_repo.is_ancestor_of(repo, commit, tip))


def enqueue(
    writer: Writer,
    repo: Repo,
    ref: str,
    remote: Remote,
    mutation: Callable[[Transaction], Any],
    start: Callable[[Repo, str | None], Transaction],
) -> Queued:
    """Under the clone's lock: apply ``mutation`` on the queue (or the remote's tip), commit
    it and queue the commit. Raises whatever the mutation raises (nothing is queued)."""
    from gitreg.store.remote import choose_base

    state_dir = writer.state_dir
    local = _repo.rev_parse(repo, ref)
    queued = read_queue(state_dir)
    if queued is not None and not (
        repo.reader.read(queued) is not None and (local is None or _contains(repo, queued, local))
    ):
        write_queue(state_dir, None)  # the branch moved under it (a user's commit): drop it
        queued = None
    if queued is not None:
        base: str | None = queued
    else:
        tip = remote.fetch(writer.root, repo)
        base = choose_base(writer.root, remote, local, tip, repo)
    tx = start(repo, base)
    result = mutation(tx)
    if not tx.changes:
        # Nothing to do on a tip still queued: the answer holds once that tip is pushed.
        return Queued(result, queued, mine=False)
    commit = writer.build(repo, base, tx)
    if base == local:
        paths = list(tx.changes)
    else:
        moved = _repo.tree_changes(repo, local, commit)
        paths = list(moved) if moved is not None else _git.changed_paths(writer.root, local, commit)
    worktree.check_clean(writer.root, repo, local, paths)
    faults.point("built")
    write_queue(state_dir, commit)
    return Queued(result, commit)


@contextlib.contextmanager
def push_lock(state_dir: Path, timeout: float) -> Iterator[None]:
    """Hold the clone's push lock (freed by the OS when its holder and git children die)."""
    from gitreg.store import _lock

    with _lock.hold(state_dir / PUSH_LOCK, timeout):
        if (state_dir / LEADER).exists():
            # Its last holder died pushing: a git child killed with it may have left a lock
            # (the remote-tracking ref's); the next holder of the clone's lock clears it, as
            # for any writer that died at work (worktree.busy).
            (state_dir / "busy").write_text("", "ascii")
        try:
            yield
        finally:
            (state_dir / LEADER).unlink(missing_ok=True)


def await_push(
    writer: Writer,
    repo: Repo,
    ref: str,
    remote: Remote,
    commit: str,
    contention: Contention,
    timeout: float,
) -> bool:
    """Return once ``commit`` is on the remote (True), or once it never will be (False:
    its queue was dropped, so the caller applies its mutation again).

    Whoever holds the push lock and finds its commit not yet pushed pushes the whole queue.

    Raises:
        ConcurrentUpdate, PushRejected, RemoteUnavailable: this writer, pushing, gave up;
            the queue was dropped first (see the module doc).
    """
    with push_lock(writer.state_dir, timeout):
        while True:
            tracking = _repo.rev_parse(repo, remote.tracking_ref)
            if _contains(repo, tracking, commit):
                _catch_up(writer, repo, ref, tracking, commit)
                return True
            queued = read_queue(writer.state_dir)  # written atomically: no lock needed
            if queued is None or not _contains(repo, queued, commit):
                return False
            if _lead(writer, repo, ref, remote, queued, tracking, contention):
                return True


def _lead(
    writer: Writer,
    repo: Repo,
    ref: str,
    remote: Remote,
    queued: str,
    tracking: str | None,
    contention: Contention,
) -> bool:
    """Push the queue up to ``queued``; True when it landed, False when it lost a race."""
    (writer.state_dir / LEADER).write_text(str(os.getpid()), "ascii")
    try:
        lost = _net.push(writer.root, remote.name, f"{queued}:refs/heads/{remote.branch}")
        if lost is not None:
            writer.retry_count += 1
            contention.wait = contention.lost(lost, tracking)  # raises when it must give up
    except BaseException:
        with writer.exclusive(repo):
            write_queue(writer.state_dir, None)
        raise
    if lost is not None:
        with writer.exclusive(repo):
            tip = remote.fetch(writer.root, repo)
            if not _contains(repo, tip, queued):
                write_queue(writer.state_dir, None)  # built on a tip that lost: re-apply
        return False
    faults.point("pushed")
    with writer.exclusive(repo):
        # Confirmed by the remote: only now does the local branch move (see #5).
        _repo.update_ref(repo, remote.tracking_ref, queued, tracking, "gitreg: pushed")
        if read_queue(writer.state_dir) == queued:
            write_queue(writer.state_dir, None)
        advance(writer, repo, ref, queued)
    if _repo.needs_gc(repo):  # our fetches turn auto-gc off (see _net)
        _git.collect_garbage(writer.root)
    return True


def _catch_up(writer: Writer, repo: Repo, ref: str, tip: str | None, commit: str) -> None:
    """A commit confirmed by a fetch, not by a push: bring the branch up to the tip."""
    local = _repo.rev_parse(repo, ref)
    if tip is None or _contains(repo, local, commit):
        return
    with writer.exclusive(repo):
        local = _repo.rev_parse(repo, ref)
        if local is None or _contains(repo, tip, local):
            advance(writer, repo, ref, tip)


def advance(writer: Writer, repo: Repo, ref: str, new: str) -> None:
    """Move the branch (and the work tree) from where it is to the pushed ``new``."""
    local = _repo.rev_parse(repo, ref)
    if local == new:
        return
    moved = _repo.tree_changes(repo, local, new)
    changes = _contents(repo, moved)
    found = repo.reader.read(new)
    subject = ""
    if found is not None and found[1] == "commit":
        message = found[2].split(b"\n\n", 1)[-1].decode("utf-8", "replace")
        subject = message.splitlines()[0] if message.strip() else ""
    writer._advance(repo, ref, local, new, changes, subject)


def _contents(repo: Repo, moved: dict[str, str | None] | None) -> dict[str, bytes | None] | None:
    """The files the work tree gets; None when they cannot be read here (git is asked)."""
    if moved is None:
        return None
    out: dict[str, bytes | None] = {}
    for path, oid in moved.items():
        found = repo.reader.read(oid) if oid is not None else None
        if oid is not None and (found is None or found[1] != "blob"):
            return None
        out[path] = found[2] if found is not None else None
    return out
