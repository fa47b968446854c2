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
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gitreg.core import record
from gitreg.store import _git, _net, _repo, faults, worktree

if TYPE_CHECKING:
    from gitreg.core.identity import Identity
    from gitreg.store._repo import Repo
    from gitreg.store.remote import Contention, Remote
    from gitreg.store.transaction import Transaction


class Writer(Protocol):
    """What a group needs of ``writer.Writer`` (named here: ``writer`` imports this)."""

    root: Path
    state_dir: Path
    retry_count: int

    def build(
        self, repo: Repo, base: str | None, tx: Transaction, committer: Identity | None = None
    ) -> str: ...

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
# How often, at most, a writer waiting for its push looks at the branch and the push lock:
# a push takes 50 ms or more, and 16 writers polling share 2 cores.
AWAIT_POLL_MAX_SECONDS = 0.01


@record.dataclass(frozen=True, slots=True)
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
    *,
    committer: Identity | None = None,
    answer: Callable[[Queued], None] | None = None,
) -> Queued:
    """Under the clone's lock: apply ``mutation`` on the queue (or the remote's tip), commit
    it and queue the commit. Raises whatever the mutation raises (nothing is queued).

    ``committer`` commits as another writer would (a request it handed over, ``spool``);
    ``answer`` is told the outcome before the commit is queued (what it raises stops it
    from being queued)."""
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
        unchanged = Queued(result, queued, mine=False)
        if answer is not None:
            answer(unchanged)
        return unchanged
    commit = writer.build(repo, base, tx, committer)
    if base == local:
        paths = list(tx.changes)
    else:
        moved = _repo.tree_changes(repo, local, commit)
        paths = list(moved) if moved is not None else _git.changed_paths(writer.root, local, commit)
    worktree.check_clean(writer.root, repo, local, paths)
    faults.point("built")
    done = Queued(result, commit)
    if answer is not None:
        answer(done)
    write_queue(state_dir, commit)
    return done


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
    A writer whose commit another writer's push carried returns as soon as the clone's
    branch has it, without waiting for the push lock (which the next push may hold).

    Raises:
        ConcurrentUpdate, PushRejected, RemoteUnavailable: this writer, pushing, gave up;
            the queue was dropped first (see the module doc).
    """
    from gitreg.store import _lock

    deadline = time.monotonic() + timeout
    watch = _Watch(repo, commit, _repo.rev_parse(repo, remote.tracking_ref))
    delay = 0.001
    while True:
        if watch.moved(ref) and watch.landed(
            _repo.rev_parse(repo, remote.tracking_ref), _repo.rev_parse(repo, ref)
        ):
            return True  # pushed and brought home by another writer: nothing to wait for
        try:
            with push_lock(writer.state_dir, 0 if time.monotonic() < deadline else timeout):
                return _await_holding(writer, repo, ref, remote, commit, contention)
        except _lock.LockTimeout:
            if time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, AWAIT_POLL_MAX_SECONDS)


class _Watch:
    """Tells, without a lock, whether another writer's push carried ``commit`` and moved
    the clone's branch past it, at the cost of the commits pushed since the last look.

    The history a queue pushes is a line: the remote-tracking tip is either ``commit`` or
    one of its descendants (pushed), or one of the commits it was built on (not yet). A
    walk back from a new tip stops at the first commit whose answer is known.
    """

    WALK = 128  # commits walked at most in one look; beyond, the push lock answers

    def __init__(self, repo: Repo, commit: str, tracking: str | None) -> None:
        self.repo, self.commit = repo, commit
        self.below: set[str] = set()  # commits known not to contain ``commit``
        self.usable = (
            repo.fast and tracking is not None and _met(repo, commit, {tracking}) == tracking
        )
        if self.usable and tracking is not None:
            self.below.add(tracking)
        self.seen: tuple[str | None, str | None] | None = None
        self.stamp: tuple[int, ...] | None = None

    def moved(self, ref: str) -> bool:
        """Whether the branch's ref file changed since the last look: a cheap first test (a
        waiting writer looks every few milliseconds; the branch moves after each push)."""
        if not self.usable:
            return False
        try:
            info = os.stat(self.repo.common_dir / ref)
            stamp: tuple[int, ...] | None = (info.st_ino, info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None  # packed: rev_parse tells
        if stamp is not None and stamp == self.stamp:
            return False
        self.stamp = stamp
        return True

    def landed(self, tracking: str | None, local: str | None) -> bool:
        """Whether ``tracking`` (and the branch, ``local``) has the commit (False: not
        known yet)."""
        if not self.usable or tracking is None or (tracking, local) == self.seen:
            return False
        self.seen = (tracking, local)
        if tracking != local:
            return False  # the branch has not followed yet: the push lock answers
        met = _met(self.repo, tracking, {self.commit} | self.below)
        if met == self.commit:
            return True
        if met is None:
            self.usable = False
        else:
            self.below.add(tracking)
        return False


def _met(repo: Repo, start: str, stop: set[str], limit: int = _Watch.WALK) -> str | None:
    """The first commit of ``stop`` on the first-parent walk back from ``start``, or None
    (not within ``limit`` commits, or a commit this process cannot read)."""
    commit: str | None = start
    for _ in range(limit):
        if commit is None:
            return None
        if commit in stop:
            return commit
        found = repo.reader.read(commit)
        if found is None or found[1] != "commit":
            return None
        header = found[2].split(b"\n\n", 1)[0]
        parents = [line[7:].decode() for line in header.split(b"\n") if line.startswith(b"parent ")]
        commit = parents[0] if parents else None
    return None


def _await_holding(
    writer: Writer, repo: Repo, ref: str, remote: Remote, commit: str, contention: Contention
) -> bool:
    """``await_push`` with the push lock held: push the queue if ``commit`` is in it."""
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
