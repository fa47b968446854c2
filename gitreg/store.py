"""The registry's state at a work tree or a commit, and writes as transactions.

Reads never import GitPython or jsonschema: a work-tree read opens one file; a read at a ref
asks ``git cat-file`` for one blob. Whole-registry reads parse only manifests whose content
(git blob id) is not in the cache, so the cache can never be stale.

A write is ``mutation(tx) -> result``: under a lock on the clone, the mutation reads the tip
through ``tx``, records the files it changes, and the store validates them, commits exactly
those paths on top of the tip, moves the branch with a compare-and-swap, and only then
touches the work tree. A journal in the git directory lets the next command finish or undo
a transaction that was killed halfway, so the clone is never left half-written.
"""

from __future__ import annotations

import contextlib
import gc
import json
import marshal
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gitreg import _git, manifest
from gitreg.config import CONFIG_FILE, MODELS_DIR, Config
from gitreg.entities import RegisteredModel, check_name
from gitreg.errors import (
    ConcurrentUpdate,
    DirtyWorktree,
    GitregError,
    InvalidManifest,
    ModelNotFound,
    NotARegistry,
)

if TYPE_CHECKING:
    from git import Repo

    from gitreg.remote import Remote

T = TypeVar("T")
_CACHE_FORMAT = 1
LOCK_TIMEOUT_SECONDS = 120.0


def model_path(name: str) -> str:
    """The manifest path of model ``name``, relative to the registry root."""
    return f"{MODELS_DIR}/{check_name(name)}.yaml"


def parse_model(data: Any, path: str, text: bytes | str | None = None) -> RegisteredModel:
    """A RegisteredModel from a parsed manifest; a malformed one raises InvalidManifest.

    The fast path trusts the structure; only a manifest that fails to convert pays for a
    full schema check, so the error names the line and field.
    """
    try:
        if not isinstance(data, Mapping) or not isinstance(data.get("versions", []), list):
            raise TypeError("not a manifest")
        return RegisteredModel.from_manifest(data)
    except (GitregError, KeyError, TypeError, ValueError, AttributeError) as e:
        from gitreg import validate  # error path only

        findings = validate.check_manifest(data, path, text)
        first = str(findings[0]) if findings else f"{path}: {e}"
        more = f" (and {len(findings) - 1} more; run gitreg validate)" if len(findings) > 1 else ""
        raise InvalidManifest(first + more, findings) from e


def git_dir(root: Path) -> Path:
    dot_git = root / ".git"
    if dot_git.is_file():  # linked worktree or submodule: "gitdir: <path>"
        target = dot_git.read_text("utf-8").strip().removeprefix("gitdir:").strip()
        return (root / target).resolve()
    return dot_git


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC while building many small objects that hold no cycles.

    Loading the parse cache of 10,000 manifests took 0.5 s, half of it in GC passes
    triggered by the allocations themselves (see #7).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_parsed(state_dir: Path) -> dict[str, Any]:
    """The parse cache: manifest blob id -> parsed YAML (shared by reads and validate)."""
    try:
        raw = (state_dir / "cache.marshal").read_bytes()
        with no_gc():
            fmt, data = marshal.loads(raw)  # our own file in .git, not user input
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return data if fmt == _CACHE_FORMAT and isinstance(data, dict) else {}


LARGE_MANIFEST_BYTES = 64 * 1024


def load_large(state_dir: Path, text: bytes, path: str) -> Any:
    """Parse a manifest; a large one (a model with thousands of versions) is parsed once.

    Its parse is kept in ``<gitdir>/gitreg/parsed/<blob id>``: content-addressed, so it is
    never stale, and resolving one alias of a 5,000-version model skips a 1 s parse (#7).
    """
    if len(text) < LARGE_MANIFEST_BYTES:
        return manifest.load(text, path)
    cached = state_dir / "parsed" / f"{_git.blob_id(text)}.marshal"
    with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
        return marshal.loads(cached.read_bytes())  # our own file in .git
    data = manifest.load(text, path)
    with contextlib.suppress(OSError, ValueError):
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(data))
        os.replace(tmp, cached)
    return data


def save_parsed(state_dir: Path, data: Mapping[str, Any]) -> None:
    """Replace the parse cache atomically; a failure only costs the next run a parse."""
    with contextlib.suppress(OSError, ValueError):
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / f"cache.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            marshal.dump((_CACHE_FORMAT, dict(data)), f)
        os.replace(tmp, state_dir / "cache.marshal")


class Store:
    """A registry repository on disk."""

    def __init__(self, root: str | os.PathLike[str], *, new: bool = False) -> None:
        self.root = Path(root)
        if not new and not (self.root / CONFIG_FILE).is_file():
            if not (self.root / ".git").exists():
                raise NotARegistry(
                    f"{self.root} is not a gitreg registry (no git repository); "
                    f"run 'gitreg init {self.root}' or pass --repo"
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

    @classmethod
    def discover(cls, path: str | os.PathLike[str] | None = None) -> Store:
        """The registry at ``path``, else ``$GITREG_REPO``, else the current directory's repo."""
        chosen = path if path is not None else os.environ.get("GITREG_REPO") or os.getcwd()
        start = Path(chosen)
        if not start.exists():
            raise NotARegistry(f"{start} does not exist; pass the registry's path with --repo")
        if (start / CONFIG_FILE).is_file():
            return cls(start)
        top = _git.find_worktree(start)
        if top is None:
            raise NotARegistry(
                f"{start} is not inside a git repository; run 'gitreg init' or pass --repo"
            )
        return cls(top)

    # ----------------------------------------------------------------- reads

    def resolve_ref(self, ref: str) -> str:
        """The commit id ``ref`` names (BadRef if none)."""
        return _git.resolve_commit(self.root, ref)

    def read_bytes(self, path: str, at: str | None = None) -> bytes | None:
        """``path`` in the work tree (``at`` None) or at commit ``at``; None if absent."""
        if at is None:
            self._recover_if_interrupted()
            try:
                return (self.root / path).read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                return None
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
            from gitreg import validate

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
                return model
        raise ModelNotFound(f"Registered Model with name={name} not found")

    def read_models(self, at: str | None = None) -> list[RegisteredModel]:
        """Every model, sorted by name; parses only manifests the cache has not seen."""
        raw = self._manifest_blobs(at)
        cache = self._load_cache()
        fresh: dict[str, Any] = {}
        with no_gc():
            models = self._build_models(raw, cache, fresh)
        if fresh.keys() != cache.keys():
            self._save_cache(fresh)
        return models

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
                data = manifest.load(text, path)
            fresh[oid] = data
            models.append(parse_model(data, path, text))
        return models

    def _manifest_blobs(self, at: str | None) -> dict[str, tuple[str, bytes | None]]:
        """File name -> (content id, content if already read) for every manifest."""
        if at is not None:
            listing = _git.list_tree(self.root, at, MODELS_DIR)
            return {n: (oid, None) for n, oid in listing.items() if n.endswith(".yaml")}
        self._recover_if_interrupted()
        out: dict[str, tuple[str, bytes | None]] = {}
        try:
            entries = list(os.scandir(self.root / MODELS_DIR))
        except FileNotFoundError:
            return out
        for entry in entries:
            if entry.name.endswith(".yaml") and entry.is_file():
                data = Path(entry.path).read_bytes()
                out[entry.name] = (_git.blob_id(data), data)
        return out

    def _load_cache(self) -> dict[str, Any]:
        return load_parsed(self.state_dir)

    def _save_cache(self, data: Mapping[str, Any]) -> None:
        save_parsed(self.state_dir, data)

    # ---------------------------------------------------------------- writes

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialize writers on this clone; the OS frees the lock if its holder dies."""
        from filelock import FileLock, Timeout  # writes only

        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.state_dir / "lock"), timeout=LOCK_TIMEOUT_SECONDS)
        try:
            with lock:
                yield
        except Timeout as e:
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
        repo = _git.open_repo(self.root)
        with self.exclusive(repo):
            ref = f"refs/heads/{self._branch(repo)}"
            target = self.remote_for(repo, push)
            if target is None:
                return self._commit_locally(repo, ref, mutation, retries)
            return self._commit_and_push(repo, ref, target, mutation)

    @contextlib.contextmanager
    def exclusive(self, repo: Repo) -> Iterator[None]:
        """Hold the clone's lock, having finished or undone any interrupted transaction."""
        with self.lock(), self._busy():
            self._recover(repo)
            yield

    def _branch(self, repo: Repo) -> str:
        branch = _git.current_branch(repo)
        if branch is None:
            raise DirtyWorktree(
                f"{self.root}: HEAD is detached; check out a branch (git switch main) first"
            )
        return branch

    def remote_for(self, repo: Repo, push: bool | None) -> Remote | None:
        """The remote writes go to (see ``remote.resolve_remote``), from the branch's config."""
        from gitreg.remote import resolve_remote  # remote code stays off the read path

        branch = self._branch(repo)
        text = _git.read_blob(repo, _git.rev_parse(repo, f"refs/heads/{branch}"), CONFIG_FILE)
        config = Config.from_dict(manifest.load_mapping(text, CONFIG_FILE)) if text else Config()
        return resolve_remote(self.root, config, branch, push)

    def _commit_locally(
        self, repo: Repo, ref: str, mutation: Callable[[Transaction], T], retries: int
    ) -> T:
        for _ in range(retries + 1):
            base = _git.rev_parse(repo, ref)
            tx = Transaction(self, repo, base)
            result = mutation(tx)
            if not tx.changes:
                return result
            self._check_clean(repo, base, list(tx.changes))
            commit = self.build(repo, base, tx)
            if self._advance(repo, ref, base, commit, tx.changes, tx.message):
                return result
        raise ConcurrentUpdate(
            f"{ref} kept moving while gitreg was committing (another tool is committing "
            "to this clone); retry when it is done"
        )

    def _commit_and_push(
        self, repo: Repo, ref: str, remote: Remote, mutation: Callable[[Transaction], T]
    ) -> T:
        from gitreg.remote import backoff, choose_base

        lost: str | None = None
        for attempt in range(remote.retries + 1):
            if attempt:
                time.sleep(backoff(attempt))
            tip = remote.fetch(self.root)
            local = _git.rev_parse(repo, ref)
            base = choose_base(self.root, remote, local, tip)
            tx = Transaction(self, repo, base)
            result = mutation(tx)
            if not tx.changes:
                return result
            commit = self.build(repo, base, tx)
            paths = _git.changed_paths(self.root, local, commit)
            self._check_clean(repo, local, paths)
            lost = _git.push(self.root, remote.name, f"{commit}:refs/heads/{remote.branch}")
            if lost is not None:
                self.retry_count += 1
                continue
            # Confirmed by the remote: only now does the local branch move (see #5).
            _git.update_ref(repo, remote.tracking_ref, commit, tip, "gitreg: pushed")
            self._advance(repo, ref, local, commit, None, tx.message)
            _git.collect_garbage(self.root)  # our fetches turn auto-gc off (see _git)
            return result
        raise ConcurrentUpdate(
            f"{remote.name}/{remote.branch} kept moving: {remote.retries + 1} pushes were "
            f"rejected (last: {lost}); nothing was committed, the clone is unchanged; retry, "
            "or raise registry.retries in gitreg.yaml"
        )

    def build(self, repo: Repo, base: str | None, tx: Transaction) -> str:
        """Validate ``tx``'s changes and write them as a commit on ``base`` (no ref moves)."""
        tx.validate()
        new_blobs = {
            path: (_git.write_blob(repo, data) if data is not None else None)
            for path, data in tx.changes.items()
        }
        return _git.commit_tree(repo, base, new_blobs, tx.message)

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
        self._write_journal({"ref": ref, "old": old, "new": new, "paths": blobs})
        if not _git.update_ref(
            repo, ref, new, old, f"gitreg: {message.splitlines()[0] if message else 'commit'}"
        ):
            self._journal_path().unlink(missing_ok=True)
            return False
        self._sync_worktree(repo, changes)
        self._journal_path().unlink(missing_ok=True)
        return True

    def _check_clean(self, repo: Repo, local: str | None, paths: Sequence[str]) -> None:
        """Refuse to overwrite a file with uncommitted edits (work tree or index)."""
        for path in paths:
            data = _git.read_blob(repo, local, path)
            committed = None if data is None else _git.blob_id(data)
            try:
                on_disk: str | None = _git.blob_id((self.root / path).read_bytes())
            except (FileNotFoundError, NotADirectoryError):
                on_disk = None
            staged = _git.index_blob(repo, path) if local is not None else None
            if on_disk != committed or staged != committed:
                raise DirtyWorktree(
                    f"{path} has uncommitted changes; commit them (git commit {path}) or "
                    f"discard them (git checkout -- {path}) and retry"
                )

    def _sync_worktree(self, repo: Repo, changes: Mapping[str, bytes | None]) -> None:
        for path, data in changes.items():
            target = self.root / path
            if data is None:
                target.unlink(missing_ok=True)
            else:
                manifest.write_atomic(target, data.decode("utf-8"))
        _git.sync_index(repo, list(changes))

    # -------------------------------------------------------------- recovery

    def _journal_path(self) -> Path:
        return self.state_dir / "txn.json"

    def _write_journal(self, journal: Mapping[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / "txn.json.tmp"
        tmp.write_text(json.dumps(journal), "utf-8")
        os.replace(tmp, self._journal_path())

    def _recover_if_interrupted(self) -> None:
        """Before a work-tree read: finish a transaction whose writer died (see #5).

        A journal next to a held lock belongs to a live writer, which will finish it
        itself; a read never waits for it and reads the work tree as it is.
        """
        if not self._journal_path().exists():
            return
        from filelock import FileLock, Timeout

        try:
            with FileLock(str(self.state_dir / "lock"), timeout=0), self._busy():
                self._recover(_git.open_repo(self.root))
        except Timeout:
            return

    @contextlib.contextmanager
    def _busy(self) -> Iterator[None]:
        """Mark the lock holder at work; a mark left behind means it was killed."""
        marker = self.state_dir / "busy"
        if marker.exists():
            _git.clear_stale_locks(self.state_dir.parent)
        marker.write_text(str(os.getpid()), "utf-8")
        try:
            yield
        finally:
            marker.unlink(missing_ok=True)

    def _recover(self, repo: Repo) -> None:
        """Finish a transaction killed after its commit, or drop one killed before it."""
        try:
            journal = json.loads(self._journal_path().read_text("utf-8"))
        except FileNotFoundError:
            return
        except ValueError:
            self._journal_path().unlink(missing_ok=True)  # killed while writing: never committed
            return
        for path in journal["paths"]:  # a killed atomic write leaves its temp file
            for stray in (self.root / path).parent.glob(f".{Path(path).name}.*.tmp"):
                stray.unlink(missing_ok=True)
        if _git.rev_parse(repo, journal["ref"]) == journal["new"]:
            oids = [oid for oid in journal["paths"].values() if oid is not None]
            blobs = _git.read_blobs(self.root, oids)
            changes = {p: None if o is None else blobs[o] for p, o in journal["paths"].items()}
            self._sync_worktree(repo, changes)
        self._journal_path().unlink(missing_ok=True)


class Transaction:
    """What a mutation sees: the files at the tip, and the files it changes."""

    def __init__(self, store: Store, repo: Repo, base: str | None) -> None:
        self.store = store
        self.repo = repo
        self.base = base
        self.changes: dict[str, bytes | None] = {}
        self.message = ""
        self._base_cache: dict[str, bytes | None] = {}
        self._data: dict[str, dict[str, Any]] = {}

    def read(self, path: str) -> bytes | None:
        """``path`` as this transaction sees it (its own writes first, then the tip)."""
        if path in self.changes:
            return self.changes[path]
        return self._read_base(path)

    def _read_base(self, path: str) -> bytes | None:
        if path not in self._base_cache:
            self._base_cache[path] = _git.read_blob(self.repo, self.base, path)
        return self._base_cache[path]

    def base_blob_id(self, path: str) -> str | None:
        """The blob id of ``path`` at the tip, or None."""
        data = self._read_base(path)
        return None if data is None else _git.blob_id(data)

    def model_names(self) -> list[str]:
        """Names of the models at the tip plus this transaction's changes."""
        names = {n[: -len(".yaml")] for n in _git.list_names(self.repo, self.base, MODELS_DIR)}
        for path, data in self.changes.items():
            if path.startswith(f"{MODELS_DIR}/"):
                name = path[len(MODELS_DIR) + 1 : -len(".yaml")]
                (names.add if data is not None else names.discard)(name)
        return sorted(names)

    def read_model(self, name: str) -> tuple[RegisteredModel, dict[str, Any]] | None:
        """The model and its raw manifest at the tip, or None if it does not exist."""
        path = model_path(name)
        text = self.read(path)
        if text is None:
            return None
        data = load_large(self.store.state_dir, text, path)
        if not isinstance(data, dict):
            data = manifest.load_mapping(text, path)  # raises the one-line error
        model = parse_model(data, path, text)
        return (model, data) if model.name == name else None

    def write_model(self, model: RegisteredModel, like: Any = None) -> None:
        """Stage ``model``'s manifest, keeping the key order of ``like`` (the old manifest)."""
        data = model.to_manifest()
        self.changes[model_path(model.name)] = manifest.dump(data, like).encode()
        self._data[model_path(model.name)] = data

    def delete(self, path: str) -> None:
        """Stage the removal of ``path``."""
        self.changes[path] = None

    def write(self, path: str, text: str) -> None:
        """Stage ``text`` as the new content of ``path``."""
        self.changes[path] = text.encode()

    def validate(self) -> None:
        """Schema and invariants for every changed manifest; InvalidManifest lists the findings."""
        from gitreg import validate  # writes only

        findings = []
        for path, data in self.changes.items():
            if data is None:
                continue
            if path == CONFIG_FILE:
                findings += validate.check_config(manifest.load(data, path), path, data)
            elif path.startswith(f"{MODELS_DIR}/") and path.endswith(".yaml"):
                # The dict that was dumped: the dumper round-trips it (tests/test_manifest.py),
                # and a 5,000-version manifest need not be parsed again (see #7).
                parsed = self._data.get(path) or manifest.load(data, path)
                findings += validate.check_manifest(parsed, path, data)
        if findings:
            raise InvalidManifest(f"{findings[0]}; nothing was committed", findings)
