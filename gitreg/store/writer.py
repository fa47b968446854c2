"""A registry's writes: the lock on the clone, transactions, commits and pushes, recovery.

A write is ``mutation(tx) -> result``: under a lock on the clone, the mutation reads the tip
through ``tx`` (``transaction``), records the files it changes, and the writer validates
them, commits exactly those paths on top of the tip, moves the branch with a
compare-and-swap, and only then touches the work tree (``worktree``, whose journal lets the
next command finish or undo a transaction killed halfway). With a remote, the commit is
built on the remote's tip (or on the commits queued for it) and queued under the lock;
the push, shared by every writer queued on the clone, happens after it (``group``, #26),
and a push that lost a race re-applies the mutation (#15). A write given as data (a
``Recipe``) that finds the clone locked hands itself to the holder instead of waiting
for its turn (``spool``, #26). ``Store`` (reads) is a
``Writer``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gitreg.core.config import CONFIG_FILE, Config
from gitreg.core.errors import ConcurrentUpdate, DirtyWorktree
from gitreg.store import _commit, _git, _repo, faults, trusted, worktree
from gitreg.store.cache import remember_written
from gitreg.store.transaction import Clock, Transaction, parsed_config

if TYPE_CHECKING:
    from gitreg.core.identity import Identity
    from gitreg.store._repo import Repo
    from gitreg.store.remote import Contention, Remote
    from gitreg.store.spool import Answer, Recipe

T = TypeVar("T")


LOCK_TIMEOUT_SECONDS = 120.0


class Writer:
    """The write entry points of a registry clone (the base of ``Store``)."""

    root: Path
    state_dir: Path
    retry_count: int
    last_commit: str | None
    _repo: Repo | None

    @property
    def repo(self) -> Repo:
        """The repository on the write path, opened once (it keeps one ``cat-file``)."""
        if self._repo is None:
            self._repo = _repo.open_repo(self.root)
        else:
            self._repo.refresh()
        return self._repo

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialize writers on this clone; the OS frees the lock if its holder dies."""
        from gitreg.store import _lock  # writes only

        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            with _lock.hold(self.state_dir / "lock", LOCK_TIMEOUT_SECONDS):
                yield
        except _lock.LockTimeout as e:
            raise ConcurrentUpdate(
                f"another gitreg process has held {self.state_dir / 'lock'} for "
                f"{LOCK_TIMEOUT_SECONDS:.0f}s; wait for it to finish and retry"
            ) from e

    def transaction(
        self,
        mutation: Callable[[Transaction], T],
        retries: int = 3,
        *,
        push: bool | None = None,
        author: Identity | None = None,
        clock: Clock | None = None,
        recipe: Recipe | None = None,
    ) -> T:
        """Apply ``mutation`` to the branch tip and commit what it changed (see module doc).

        With a remote (``gitreg.yaml`` ``registry.push``, or ``push``) the commit is built on
        the remote's tip and pushed; the local branch moves only once the push is confirmed.
        ``author`` is the commit's author instead of git's identity (the committer stays
        git's); ``clock`` gives the time of the write (see ``Transaction``). ``recipe`` is
        ``mutation`` as data: with a remote, when another writer holds the clone, it applies
        it for this one (``spool``); the commit, result and error are this caller's.
        """
        self.last_commit = None
        repo = self.repo
        contention: Contention | None = None
        start = self._starter(author, clock)
        while True:
            with contextlib.ExitStack() as held:
                handed = self._take_turn(held, repo, recipe, push, author, clock)
                if handed is None:  # this writer holds the clone
                    branch = self._branch(repo)
                    ref = f"refs/heads/{branch}"
                    target = self.remote_for(repo, push, branch)
                    if target is None:
                        done = self._commit_locally(repo, ref, mutation, retries, start)
                    else:  # the group and its remote code load for a write that pushes
                        from gitreg.store import group, spool
                        from gitreg.store.remote import Contention

                        contention = contention or Contention(target)
                        queued = group.enqueue(self, repo, ref, target, mutation, start)
                        spool.serve(self, repo, ref, target)  # the writers waiting on it
            if handed is not None:  # another writer applied it (see spool)
                answer, ref, target = handed
                if answer.error is not None:
                    raise answer.error
                if answer.declined:
                    recipe = None  # this writer's to apply: wait for its turn
                    continue
                from gitreg.store import group
                from gitreg.store.remote import Contention

                queued = group.Queued(answer.result, answer.commit, answer.mine)
            elif target is None:
                self._collect_garbage(repo)
                return done
            contention = contention or Contention(target)
            if queued.commit is None:
                return queued.result  # type: ignore[no-any-return]
            # The network half, shared with the writers queued on this clone (see group).
            if group.await_push(
                self, repo, ref, target, queued.commit, contention, LOCK_TIMEOUT_SECONDS
            ):
                self.last_commit = queued.commit if queued.mine else None
                return queued.result  # type: ignore[no-any-return]
            # Lost a race (or the queue it was in did): wait with the clone unlocked, so
            # that a writer queued on this clone can take its turn meanwhile (see #15).
            time.sleep(contention.wait)
            contention.wait = 0.0

    def _take_turn(
        self,
        held: contextlib.ExitStack,
        repo: Repo,
        recipe: Recipe | None,
        push: bool | None,
        author: Identity | None,
        clock: Clock | None,
    ) -> tuple[Answer, str, Remote] | None:
        """Hold the clone (None), or, for a ``recipe`` that finds it held, the answer of the
        writer holding it, which applied it (see ``spool``), with the branch and remote it
        was handed over for."""
        if recipe is None:
            held.enter_context(self.exclusive(repo))
            return None
        from gitreg.store import _lock, spool

        def try_lock() -> bool:
            try:
                held.enter_context(_lock.hold(self.state_dir / "lock", 0))
            except _lock.LockTimeout:
                return False
            return True

        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not try_lock():  # held: hand the write over (a lone writer never builds one)
            handed = self._request(repo, recipe, push, author, clock)
            if handed is None:
                held.enter_context(self.exclusive(repo))
                return None
            request, target = handed
            answer = spool.hand_over(self.state_dir, request, try_lock, LOCK_TIMEOUT_SECONDS)
            if answer is not None:
                held.close()  # the clone is not this writer's to hold any more
                return answer, f"refs/heads/{request['branch']}", target
        held.enter_context(worktree.busy(self.state_dir))
        self._recover(repo)
        faults.point("locked")
        return None

    def _request(
        self,
        repo: Repo,
        recipe: Recipe,
        push: bool | None,
        author: Identity | None,
        clock: Clock | None,
    ) -> tuple[dict[str, Any], Remote] | None:
        """``recipe`` as a request to the clone's holder (and the remote it goes to), or
        None when it cannot be handed over (no remote, or no identity git would accept: the
        normal path says why)."""
        from gitreg.core.fields import now_ms
        from gitreg.store import _refs, spool

        branch = _repo.current_branch(repo)
        target = self.remote_for(repo, push, branch) if branch is not None else None
        writer = str(author) if author is not None else _refs.ident(repo, "author")
        committer = _refs.ident(repo, "committer")
        if branch is None or target is None or writer is None or committer is None:
            return None
        now = (clock or now_ms)()
        return spool.request(recipe, branch, target.name, writer, committer, now), target

    def _collect_garbage(self, repo: Repo) -> None:
        """After a local commit, what ``git commit`` does: ``git gc --auto`` when git would
        collect (the clone unlocked). A push does it too (``group``); a clone without a
        remote otherwise kept every loose object, 290 kB a write on a model with 5,000
        versions (#26)."""
        if self.last_commit is None or not _repo.needs_gc(repo):
            return
        # A gc that left a warning (too many unreachable loose objects) is not run again
        # until its gc.log is a day old (gc.logExpiry): git would only print the log.
        log = repo.git_dir / "gc.log"
        with contextlib.suppress(OSError):
            if "gc.logexpiry" not in repo.config and time.time() - log.stat().st_mtime < 86400:
                return
        _git.collect_garbage(self.root)

    def _starter(
        self, author: Identity | None, clock: Clock | None
    ) -> Callable[[Repo, str | None], Transaction]:
        """How this write opens a transaction on a base (a retry opens a new one)."""

        def start(repo: Repo, base: str | None) -> Transaction:
            return Transaction(self.state_dir, repo, base, author_as=author, clock=clock)

        return start

    @contextlib.contextmanager
    def exclusive(self, repo: Repo) -> Iterator[None]:
        """Hold the clone's lock, having finished or undone any interrupted transaction."""
        with self.lock(), worktree.busy(self.state_dir):
            self._recover(repo)
            faults.point("locked")
            yield

    def _branch(self, repo: Repo) -> str:
        branch = _repo.current_branch(repo)
        if branch is None:
            raise DirtyWorktree(
                f"{self.root}: HEAD is detached; check out a branch (git switch main) first"
            )
        return branch

    def remote_for(self, repo: Repo, push: bool | None, branch: str | None = None) -> Remote | None:
        """The remote writes go to (see ``remote.resolve_remote``), from the branch's config
        (``branch``: the checked-out one, if the caller read it already)."""
        from gitreg.store.remote import resolve_remote  # remote code stays off the read path

        branch = branch or self._branch(repo)
        text = _repo.read_blob(repo, _repo.rev_parse(repo, f"refs/heads/{branch}"), CONFIG_FILE)
        config = parsed_config(text) if text else Config()
        return resolve_remote(self.root, config, branch, push)

    def _commit_locally(
        self,
        repo: Repo,
        ref: str,
        mutation: Callable[[Transaction], T],
        retries: int,
        start: Callable[[Repo, str | None], Transaction],
    ) -> T:
        for _ in range(retries + 1):
            base = _repo.rev_parse(repo, ref)
            tx = start(repo, base)
            result = mutation(tx)
            if not tx.changes:
                return result
            worktree.check_clean(self.root, repo, base, list(tx.changes))
            commit = self.build(repo, base, tx)
            faults.point("built")
            if self._advance(repo, ref, base, commit, tx.changes, tx.message):
                self.last_commit = commit
                return result
        raise ConcurrentUpdate(
            f"{ref} kept moving while gitreg was committing (another tool is committing "
            "to this clone); retry when it is done"
        )

    def build(
        self, repo: Repo, base: str | None, tx: Transaction, committer: Identity | None = None
    ) -> str:
        """Validate ``tx``'s changes and write them as a commit on ``base`` (no ref moves);
        ``committer``: another writer's committer identity (see ``spool``)."""
        tx.validate()
        new_blobs = {
            path: (
                _commit.write_blob(repo, data, tx.written_ids.get(path))
                if data is not None
                else None
            )
            for path, data in tx.changes.items()
        }
        for path, data in tx.written().items():
            oid = new_blobs[path]
            if oid is not None:
                remember_written(self.state_dir, oid, data, tx.written_ids.get(path))
        commit = _commit.commit_tree(repo, base, new_blobs, tx.message, tx.author_as, committer)
        self._trust(repo, base, commit, tx)
        return commit

    def _trust(self, repo: Repo, base: str | None, commit: str, tx: Transaction) -> None:
        """Record ``commit``'s ``models/`` tree as trusted when ``base``'s was and this
        write judged every manifest it changed (``trusted``, #26)."""
        if not trusted.derived(tx.changes, tx.checked | tx.judged) or not tx.base_trusted():
            return
        new = trusted.models_tree(repo, commit)
        if new is not None and new != trusted.models_tree(repo, base):
            trusted.remember(self.state_dir, new)

    def _advance(
        self,
        repo: Repo,
        ref: str,
        old: str | None,
        new: str,
        changes: Mapping[str, bytes | None] | None,
        message: str,
    ) -> bool:
        """Move ``ref`` from ``old`` to ``new`` (compare-and-swap), then the work tree."""
        if changes is None:
            paths = _git.changed_paths(self.root, old, new)
            found = _git.read_objects(self.root, [f"{new}:{p}" for p in paths])
            changes = {p: found[f"{new}:{p}"] for p in paths}
        blobs = {p: None if d is None else _git.blob_id(d) for p, d in changes.items()}
        worktree.check_index_free(self.root)
        worktree.write_journal(self.state_dir, {"ref": ref, "old": old, "new": new, "paths": blobs})
        faults.point("journaled")
        if not _repo.update_ref(
            repo, ref, new, old, f"gitreg: {message.splitlines()[0] if message else 'commit'}"
        ):
            worktree.clear_journal(self.state_dir)
            return False
        faults.point("ref-moved")
        worktree.sync_worktree(self.root, repo, changes)
        worktree.clear_journal(self.state_dir)
        return True

    # -------------------------------------------------------------- recovery

    def _recover_if_interrupted(self) -> None:
        """Before a work-tree read: finish a transaction whose writer died (see #5).

        A journal (or busy mark) next to a held lock belongs to a live writer, which will
        finish it itself; a read never waits for it and reads the work tree as it is. A dead
        writer's are dealt with here, so that any next command leaves the clone clean.
        """
        if not worktree.has_journal(self.state_dir) and not worktree.was_busy(self.state_dir):
            return
        from gitreg.store import _lock

        try:
            with _lock.hold(self.state_dir / "lock", 0), worktree.busy(self.state_dir):
                self._recover(self.repo)
        except _lock.LockTimeout:
            return

    def _recover(self, repo: Repo) -> None:
        worktree.recover(self.root, repo, self.state_dir)
