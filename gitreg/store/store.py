"""The registry's state at a work tree or a commit, and writes as transactions.

Reads never import GitPython or jsonschema: a work-tree read opens one file; a read at a ref
asks ``git cat-file`` for one blob. Whole-registry reads parse only manifests whose content
(git blob id) is not in the cache (``cache``), so the cache can never be stale.

A write is ``mutation(tx) -> result``: under a lock on the clone, the mutation reads the tip
through ``tx`` (``transaction``), records the files it changes, and the store validates
them, commits exactly those paths on top of the tip, moves the branch with a
compare-and-swap, and only then touches the work tree (``worktree``, whose journal lets the
next command finish or undo a transaction killed halfway). With a remote, the commit is
built on the remote's tip and pushed first (``remote``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gitreg.core import manifest
from gitreg.core.config import CONFIG_FILE, MODELS_DIR, Config
from gitreg.core.entities import RegisteredModel
from gitreg.core.errors import (
    BadRef,
    ConcurrentUpdate,
    DirtyWorktree,
    GitregError,
    InvalidManifest,
    InvalidParameter,
    ModelNotFound,
    NotARegistry,
    not_regular,
)
from gitreg.core.names import check_name
from gitreg.core.retired import RETIRED_FILE
from gitreg.store import _commit, _git, _net, _repo, answers, faults, files, worktree
from gitreg.store.cache import (
    git_dir,
    load_large,
    load_parsed,
    no_gc,
    parse,
    remember_written,
    save_parsed,
)
from gitreg.store.transaction import Transaction, model_path, parse_model

if TYPE_CHECKING:
    from gitreg.store._repo import Repo
    from gitreg.store.remote import Contention, Remote

T = TypeVar("T")
RETIRED_NAME = RETIRED_FILE.rsplit("/", 1)[-1]


class _Lost:
    """A push that lost a race: the transaction waits and tries again."""


LOST = _Lost()
LOCK_TIMEOUT_SECONDS = 120.0


_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)


def _moment(text: str) -> int | None:
    """``text`` as unix seconds when it is a date or an ISO time, else None."""
    if not _DATE.fullmatch(text.strip()):
        return None
    value = text.strip().replace(" ", "T").replace("Z", "+00:00")
    try:
        moment = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    if len(text.strip()) == 10:  # a day means the end of that day
        moment += _dt.timedelta(days=1) - _dt.timedelta(seconds=1)
    return int(moment.timestamp())


def repository_head(path: Path) -> str | None:
    """The commit checked out in the git work tree at ``path``, or None when it is not one."""
    top = _git.find_worktree(path)
    if top is None or top != path.resolve():
        return None
    try:
        return _git.resolve_commit(top, "HEAD")
    except GitregError:
        return None


def add_remote(root: Path, name: str, url: str, branch: str) -> None:
    """Add remote ``name`` at ``url`` and make ``branch`` track it, so writes push there.

    Raises:
        InvalidParameter: ``url`` looks like an option.
    """
    if not url or url.startswith("-") or any(c in url for c in "\0\n\r"):
        raise InvalidParameter(f"Invalid remote URL {url!r}: give a git URL or path")
    _git.run(root, ["remote", "add", "--", name, url])
    _git.run(root, ["config", f"branch.{branch}.remote", name])
    _git.run(root, ["config", f"branch.{branch}.merge", f"refs/heads/{branch}"])


def ensure_repository(root: Path, branch: str) -> None:
    """``git init`` at ``root`` with ``branch``, unless ``root`` already is a work tree's top."""
    if _git.find_worktree(root) != root.resolve():
        _git.init(root, branch)


class Store:
    """A registry repository on disk."""

    def __init__(self, root: str | os.PathLike[str], *, new: bool = False) -> None:
        self.root = Path(root)
        if not new and not (self.root / CONFIG_FILE).is_file():
            if not (self.root / ".git").exists():
                raise NotARegistry(
                    f"{self.root} is not a gitreg registry (no git repository there); "
                    f"give the path of a registry, or create one with gitreg init {self.root}"
                )
            raise NotARegistry(
                f"{self.root} is a git repository but not a gitreg registry (no {CONFIG_FILE}); "
                f"run 'gitreg init {self.root}'"
            )
        if not new and not (self.root / ".git").exists():
            top = _git.find_worktree(self.root)
            raise NotARegistry(
                f"{self.root / CONFIG_FILE} is not at the top of a git repository"
                + (f" (the repository starts at {top})" if top else "")
                + "; a registry is a whole repository: run 'gitreg init' in its own directory"
            )
        self.state_dir = git_dir(self.root) / "gitreg"
        self.retry_count = 0  # pushes rejected by a race and retried, for bench/stress.py
        self._repo: Repo | None = None
        self.last_commit: str | None = None  # of the last transaction; None: it changed nothing

    @property
    def repo(self) -> Repo:
        """The repository on the write path, opened once (it keeps one ``cat-file``)."""
        if self._repo is None:
            self._repo = _repo.open_repo(self.root)
        else:
            self._repo.refresh()
        return self._repo

    @classmethod
    def discover(cls, path: str | os.PathLike[str] | None = None) -> Store:
        """The registry at ``path``, else ``$GITREG_REPO``, else the current directory's repo."""
        chosen = path if path is not None else os.environ.get("GITREG_REPO") or os.getcwd()
        start = Path(chosen)
        if not start.exists():
            raise NotARegistry(
                f"{start} is not a gitreg registry (it does not exist); give the path of a "
                "registry, or create one with gitreg init"
            )
        if (start / CONFIG_FILE).is_file():
            return cls(start)
        top = _git.find_worktree(start)
        if top is None:
            raise NotARegistry(
                f"{start} is not a gitreg registry (not inside a git repository); give the "
                "path of a registry, or create one with gitreg init"
            )
        return cls(top)

    # ----------------------------------------------------------------- reads

    def resolve_ref(self, ref: str) -> str:
        """The commit id ``ref`` names: a branch, tag or commit, or a date or time.

        A date (``2026-11-01``) or time (``2026-11-01 12:00``, ISO-8601, UTC unless it says
        otherwise) means the registry as merged at that moment: the last commit of the
        checked-out branch's first-parent history committed at or before it.

        Raises:
            BadRef: ``ref`` names no commit, or the branch has none before that moment.
        """
        moment = _moment(ref)
        if moment is None:
            return _git.resolve_commit(self.root, ref)
        try:
            return _git.resolve_commit(self.root, ref)  # a branch may be called 2026-11-01
        except BadRef:
            pass
        found = _git.commit_before(self.root, "HEAD", moment)
        if found is None:
            raise BadRef(f"The registry has no commit at or before {ref} (it starts later)")
        return found

    def read_bytes(self, path: str, at: str | None = None) -> bytes | None:
        """``path`` in the work tree (``at`` None) or at commit ``at``; None if absent."""
        if at is None:
            self._recover_if_interrupted()
            return files.read_regular(self.root, path)
        return _git.read_blob_at(self.root, at, path)

    def read_config(self, at: str | None = None) -> Config:
        """The parsed gitreg.yaml (defaults where it is silent)."""
        text = self.read_bytes(CONFIG_FILE, at)
        if text is None:
            return Config()
        data = manifest.load(text, CONFIG_FILE) or {}
        if not isinstance(data, dict):
            raise InvalidManifest(f"{CONFIG_FILE}:1: expected a mapping at the top level")
        try:
            return Config.from_dict(data)
        except (GitregError, KeyError, TypeError, ValueError, AttributeError) as e:
            from gitreg.core import validate

            findings = validate.check_config(data, CONFIG_FILE, text)
            first = str(findings[0]) if findings else f"{CONFIG_FILE}: {e}"
            raise InvalidManifest(first, findings) from e

    def read_model(self, name: str, at: str | None = None) -> RegisteredModel:
        """The model called ``name``; ModelNotFound if there is none."""
        path = model_path(name)
        text = self.read_bytes(path, at)
        if text is not None:
            model = parse_model(load_large(self.state_dir, text, path), path, text)
            if model.name == name:  # a case-insensitive file system finds "Churn" as "churn"
                answers.remember(self.state_dir, path, answers.blob_id(text), model)
                return model
        hint = self._suggest(name) if at is None else ""  # at a ref it would cost a git call
        raise ModelNotFound(f"Registered Model with name={name} not found{hint}")

    def _suggest(self, name: str) -> str:
        """``"; did you mean churn?"`` from a listing of ``models/`` (#16)."""
        from gitreg.core.suggest import did_you_mean

        return did_you_mean(name, self.model_names())

    def model_names(self) -> list[str]:
        """The models in the work tree, from a listing of ``models/`` (nothing is parsed).

        For suggestions and shell completion, which must cost no more than that.
        """
        try:
            files = os.listdir(self.root / MODELS_DIR)
        except OSError:
            return []
        return sorted(f[: -len(".yaml")] for f in files if f.endswith(".yaml"))

    def read_models(
        self, at: str | None = None, names: Iterable[str] | None = None
    ) -> list[RegisteredModel]:
        """Every model (or those of ``names`` that exist), sorted by name.

        A whole-registry read parses only manifests the cache has not seen.
        """
        if names is not None:
            return self._read_named(names, at)
        raw = self._manifest_blobs(at)
        cache = self._load_cache()
        fresh: dict[str, Any] = {}
        with no_gc():
            models = self._build_models(raw, cache, fresh)
        if fresh.keys() != cache.keys():
            self._save_cache(fresh)
        return models

    def _read_named(self, names: Iterable[str], at: str | None) -> list[RegisteredModel]:
        found = []
        for name in sorted(names):
            try:
                found.append(self.read_model(check_name(name), at))
            except (ModelNotFound, InvalidParameter):
                continue
        return found

    def _build_models(
        self,
        raw: Mapping[str, tuple[str, bytes | None]],
        cache: Mapping[str, Any],
        fresh: dict[str, Any],
    ) -> list[RegisteredModel]:
        models = []
        for file_name, (oid, text) in sorted(raw.items()):
            path = f"{MODELS_DIR}/{file_name}"
            data = cache.get(oid)
            if data is None:
                if text is None:
                    text = _git.read_blobs(self.root, [oid])[oid]
                data = parse(text, path)
            fresh[oid] = data
            models.append(parse_model(data, path, text))
        return models

    def _manifest_blobs(self, at: str | None) -> dict[str, tuple[str, bytes | None]]:
        """File name -> (content id, content if already read) for every manifest."""
        if at is not None:
            listing = _git.list_tree(self.root, at, MODELS_DIR)
            return {
                n: (oid, None)
                for n, oid in listing.items()
                if n.endswith(".yaml") and n != RETIRED_NAME
            }
        self._recover_if_interrupted()
        out: dict[str, tuple[str, bytes | None]] = {}
        directory = self.root / MODELS_DIR
        if not directory.exists():
            return out
        if not files.is_real_directory(directory):
            raise not_regular(MODELS_DIR, "not a directory (a link?)")
        for name, data in files.read_directory(self.root, MODELS_DIR).items():
            if not name.endswith(".yaml") or name == RETIRED_NAME:
                continue
            if isinstance(data, Exception):
                raise data  # a manifest that is a link or too large: one clear error
            out[name] = (_git.blob_id(data), data)
        return out

    def _load_cache(self) -> dict[str, Any]:
        return load_parsed(self.state_dir)

    def _save_cache(self, data: Mapping[str, Any]) -> None:
        save_parsed(self.state_dir, data)

    # ---------------------------------------------------------------- writes

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
    ) -> T:
        """Apply ``mutation`` to the branch tip and commit what it changed (see module doc).

        With a remote (``gitreg.yaml`` ``registry.push``, or ``push``) the commit is built on
        the remote's tip and pushed; the local branch moves only once the push is confirmed.
        """
        from gitreg.store.remote import Contention

        self.last_commit = None
        repo = self.repo
        contention: Contention | None = None
        while True:
            with self.exclusive(repo):
                ref = f"refs/heads/{self._branch(repo)}"
                target = self.remote_for(repo, push)
                if target is None:
                    return self._commit_locally(repo, ref, mutation, retries)
                contention = contention or Contention(target)
                outcome = self._commit_and_push(repo, ref, target, mutation, contention)
                if not isinstance(outcome, _Lost):
                    return outcome
            # Lost a race: wait with the clone unlocked, so that a writer queued on this
            # clone can take its turn at the remote meanwhile (see #15).
            time.sleep(contention.wait)

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

    def remote_for(self, repo: Repo, push: bool | None) -> Remote | None:
        """The remote writes go to (see ``remote.resolve_remote``), from the branch's config."""
        from gitreg.store.remote import resolve_remote  # remote code stays off the read path

        branch = self._branch(repo)
        text = _repo.read_blob(repo, _repo.rev_parse(repo, f"refs/heads/{branch}"), CONFIG_FILE)
        config = Config.from_dict(manifest.load_mapping(text, CONFIG_FILE)) if text else Config()
        return resolve_remote(self.root, config, branch, push)

    def _commit_locally(
        self, repo: Repo, ref: str, mutation: Callable[[Transaction], T], retries: int
    ) -> T:
        for _ in range(retries + 1):
            base = _repo.rev_parse(repo, ref)
            tx = Transaction(self.state_dir, repo, base)
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

    def _commit_and_push(
        self,
        repo: Repo,
        ref: str,
        remote: Remote,
        mutation: Callable[[Transaction], T],
        contention: Contention,
    ) -> T | _Lost:
        """One try: the result once pushed (or when there is nothing to do), or LOST.

        Raises whatever the mutation raises, and ConcurrentUpdate when the write must give
        up (``Contention.lost``).
        """
        from gitreg.store.remote import choose_base

        tip = remote.fetch(self.root, repo)
        local = _repo.rev_parse(repo, ref)
        base = choose_base(self.root, remote, local, tip, repo)
        tx = Transaction(self.state_dir, repo, base)
        result = mutation(tx)
        if not tx.changes:
            return result
        commit = self.build(repo, base, tx)
        # The work tree moves from the local tip to the commit: only the transaction's
        # files, unless the remote brought other writers' commits (see #15).
        moved = None if base == local else _repo.tree_changes(repo, local, commit)
        if base == local:
            paths = list(tx.changes)
        elif moved is not None:
            paths = list(moved)
        else:
            paths = _git.changed_paths(self.root, local, commit)
        worktree.check_clean(self.root, repo, local, paths)
        faults.point("built")
        lost = _net.push(self.root, remote.name, f"{commit}:refs/heads/{remote.branch}")
        if lost is not None:
            self.retry_count += 1
            contention.wait = contention.lost(lost, tip)  # raises when it must give up
            return LOST
        faults.point("pushed")
        # Confirmed by the remote: only now does the local branch move (see #5).
        _repo.update_ref(repo, remote.tracking_ref, commit, tip, "gitreg: pushed")
        changes = tx.changes if base == local else self._contents(repo, tx, moved)
        self._advance(repo, ref, local, commit, changes, tx.message)
        self.last_commit = commit
        if _repo.needs_gc(repo):  # our fetches turn auto-gc off (see _net)
            _git.collect_garbage(self.root)
        return result

    @staticmethod
    def _contents(
        repo: Repo, tx: Transaction, moved: Mapping[str, str | None] | None
    ) -> Mapping[str, bytes | None] | None:
        """The files the work tree gets when other writers' commits came with the remote tip.

        None when they cannot be read here (``_advance`` then asks git).
        """
        if moved is None:
            return None
        out: dict[str, bytes | None] = {}
        for path, oid in moved.items():
            if path in tx.changes:
                out[path] = tx.changes[path]
                continue
            found = repo.reader.read(oid) if oid is not None else None
            if oid is not None and (found is None or found[1] != "blob"):
                return None
            out[path] = found[2] if found is not None else None
        return out

    def build(self, repo: Repo, base: str | None, tx: Transaction) -> str:
        """Validate ``tx``'s changes and write them as a commit on ``base`` (no ref moves)."""
        tx.validate()
        new_blobs = {
            path: (_commit.write_blob(repo, data) if data is not None else None)
            for path, data in tx.changes.items()
        }
        for path, data in tx.written().items():
            oid = new_blobs[path]
            if oid is not None:
                remember_written(self.state_dir, oid, data, tx.written_ids.get(path))
        return _commit.commit_tree(repo, base, new_blobs, tx.message)

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
