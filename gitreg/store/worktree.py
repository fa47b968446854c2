"""The work tree follows the branch: the write journal, recovery, and the clean check.

A write moves the branch first (compare-and-swap) and only then rewrites the touched files
in the work tree and the index. The journal, written just before the ref moves, records the
old and new commits and the touched paths' blob ids, so the next command finishes the work
tree of a write killed after its ref moved, or discards one killed before (see #5).
"""

from __future__ import annotations

import _thread
import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import manifest
from gitreg.core.errors import ConcurrentUpdate, DirtyWorktree, GitregError, InvalidManifest
from gitreg.store import _git, _repo, _swap, faults, files
from gitreg.store.cache import git_dir

if TYPE_CHECKING:
    from gitreg.store._repo import Repo

JOURNAL = "txn.json"


def write_journal(state_dir: Path, journal: Mapping[str, Any]) -> None:
    """Record an update about to happen (atomically: a torn journal is never read)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / f"{JOURNAL}.tmp"
    tmp.write_text(journal_text(journal), "utf-8")
    os.replace(tmp, state_dir / JOURNAL)


def journal_text(value: object) -> str:
    """The journal as JSON (ASCII, as ``json.dumps`` writes it) without importing ``json``.

    Importing ``json`` was 3% of a cold write (#26). The journal's shapes (strings, None,
    dicts of them) are written here; anything else by ``json.dumps``. Recovery, which
    reads a journal a killed write left, parses it with ``json``.
    """
    if value is None:
        return "null"
    if isinstance(value, str):
        if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
            return f'"{value}"'
        return '"' + "".join(_escaped(char) for char in value) + '"'
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        pairs = (f"{journal_text(k)}: {journal_text(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    import json

    return json.dumps(value)


def _escaped(char: str) -> str:
    """One character of a JSON string in ASCII (``json.loads`` reads it back as it was)."""
    if char in ('"', "\\"):
        return "\\" + char
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return char
    if code > 0xFFFF:  # a surrogate pair, as JSON spells a character beyond the BMP
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def clear_journal(state_dir: Path) -> None:
    """The update is complete (or never happened): forget it."""
    (state_dir / JOURNAL).unlink(missing_ok=True)


def has_journal(state_dir: Path) -> bool:
    """Whether a write left its journal behind (it was killed, or is running now)."""
    return (state_dir / JOURNAL).exists()


def was_busy(state_dir: Path) -> bool:
    """Whether a lock holder's busy mark is there (it is working, or it was killed)."""
    return (state_dir / "busy").exists()


def check_clean(root: Path, repo: Repo, local: str | None, paths: Sequence[str]) -> None:
    """Refuse to overwrite a file with uncommitted edits (work tree or index).

    Raises:
        DirtyWorktree: one of ``paths`` differs from commit ``local`` on disk or staged.
    """
    for path in paths:
        committed = _committed(repo, local, path)
        on_disk = _known(root, path)
        if on_disk is None:
            try:
                data_on_disk = files.read_regular(root, path)
            except InvalidManifest as e:  # a link or a directory where the manifest was
                raise DirtyWorktree(
                    f"{e.message}; restore it (git checkout -- {path}) and retry"
                ) from e
            on_disk = None if data_on_disk is None else _git.blob_id(data_on_disk)
        staged = _repo.index_blob(repo, path)
        if on_disk != committed or staged != committed:
            raise DirtyWorktree(
                f"{path} has uncommitted changes; commit them (git commit {path}) or "
                f"discard them (git checkout -- {path}) and retry"
            )


# Large work-tree files this process wrote (#26): (root, path) -> (blob id, stat data just
# after the write). The clean check trusts a file whose stat data is unchanged, as git
# trusts its index's stat data, instead of reading and hashing 1.6 MB (see ``_remember``).
_SEEN: dict[tuple[str, str], tuple[str, tuple[int, ...]]] = {}
_SEEN_LARGE = 64 * 1024  # smaller files are read: a few microseconds
_SEEN_KEEP = 64
_SEEN_LOCK = _thread.allocate_lock()  # a server writes from several threads (#25)


def _stat_key(info: os.stat_result) -> tuple[int, ...]:
    """What an edit, a rename over the file or a restored mtime changes: ``st_ctime_ns``
    moves on any change to the inode's data or metadata and no user can set it back."""
    return (
        info.st_ino,
        info.st_dev,
        info.st_mode,
        info.st_size,
        info.st_mtime_ns,
        info.st_ctime_ns,
    )


def _known(root: Path, path: str) -> str | None:
    """The blob id of ``root/path`` if this process wrote it and its stat data is the same
    as just after that write; None: read it."""
    seen = _SEEN.get((os.fspath(root), path))
    if seen is None:
        return None
    try:
        info = os.lstat(root / path)
    except OSError:
        return None
    return seen[0] if _stat_key(info) == seen[1] else None


def _remember(
    root: Path, written: Mapping[str, tuple[bytes, os.stat_result]], fence: os.stat_result
) -> None:
    """Record the large files just written with their stat data, unless racily clean.

    git's rule: a file whose timestamps are not older than the index written after it may
    have been changed again within the same clock tick without its stat data showing it;
    its stat data is not trusted (the next clean check reads it). ``fence`` is the git
    directory's stat data after the index was renamed into it: an edit made after that
    gets a change time not older than its ``st_ctime_ns`` (on the same filesystem: times
    of another one may come from another clock, an NFS server's, and are not compared).
    (Its change time rather than the index's own: a kernel with multigrain timestamps
    gives a fine-grained time to an inode whose times were read since its last change, as
    the directory's were just before, where a new file such as ``index.lock`` gets the
    coarse clock's tick, likely the same one the manifest got. Elsewhere both are coarse
    and an entry is racy more often: it is read.)
    """
    for path, (data, info) in written.items():
        if info.st_dev == fence.st_dev and max(info.st_mtime_ns, info.st_ctime_ns) < (
            fence.st_ctime_ns
        ):
            seen = (_git.blob_id(data), _stat_key(info))
            with _SEEN_LOCK:
                _SEEN[(os.fspath(root), path)] = seen
                while len(_SEEN) > _SEEN_KEEP:
                    del _SEEN[next(iter(_SEEN))]


def _committed(repo: Repo, commit: str | None, path: str) -> str | None:
    """The blob id of ``path`` at ``commit``: from its trees (a write keeps the ones it
    made) rather than reading and hashing a 1.6 MB manifest (#26)."""
    if repo.fast and commit is not None:
        from gitreg.store import _odb

        trees = _odb.TreeWriter(repo.reader, repo.objects, repo.trees)
        with contextlib.suppress(GitregError, KeyError):
            return _odb.blob_at(trees, _repo.root_tree(repo, commit), path)
    data = _repo.read_blob(repo, commit, path)
    return None if data is None else _git.blob_id(data)


def check_index_free(root: Path) -> None:
    """Refuse to move the branch while another git process holds the index.

    The work tree and index follow the branch right after it moves; a live ``git`` (an
    editor open on a commit, an IDE) holding ``index.lock`` would make that fail halfway.

    Raises:
        ConcurrentUpdate: ``.git/index.lock`` exists (a dead gitreg's is cleared before).
    """
    lock = git_dir(root) / "index.lock"
    if lock.exists():
        raise ConcurrentUpdate(
            f"another git process is using this clone ({lock} exists); wait for it to finish "
            "and retry, or remove that file if no git command is running; nothing was changed"
        )


def sync_worktree(root: Path, repo: Repo, changes: Mapping[str, bytes | None]) -> None:
    """Write ``changes`` (path -> content, None deletes) to the work tree and the index."""
    for path in changes:
        files.check_writable(root, path)
    written: dict[str, tuple[bytes, os.stat_result]] = {}
    for path, data in changes.items():
        target = root / path
        with _SEEN_LOCK:
            _SEEN.pop((os.fspath(root), path), None)
        if data is None:
            target.unlink(missing_ok=True)
        elif len(data) >= _swap.LARGE:  # the blob's bytes, not decoded again
            _swap.write(target, data, _swap.hardens_objects(repo.config))
        else:
            manifest.write_atomic(target, data)
        if data is not None and len(data) >= _SEEN_LARGE:
            with contextlib.suppress(OSError):
                written[path] = (data, os.lstat(target))
    faults.point("worktree-written")
    if written:
        with contextlib.suppress(OSError):
            os.stat(repo.git_dir)  # its times read: the index's rename gets a fine time
    _repo.sync_index(repo, list(changes), changes)
    if written:
        with contextlib.suppress(OSError):
            _remember(root, written, os.stat(repo.git_dir))


@contextlib.contextmanager
def busy(state_dir: Path) -> Iterator[None]:
    """Mark the lock holder at work; a mark left behind means it was killed.

    A killed holder's git children may have left lock files (``index.lock``, a ref's
    ``.lock``) in the repository: they are cleared before the next holder starts.
    """
    marker = state_dir / "busy"
    if marker.exists():
        _git.clear_stale_locks(state_dir.parent)
    marker.write_text(str(os.getpid()), "utf-8")
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


def recover(root: Path, repo: Repo, state_dir: Path) -> None:
    """Finish a transaction killed after its ref moved, or drop one killed before it."""
    try:
        text = (state_dir / JOURNAL).read_text("utf-8")
    except FileNotFoundError:
        return
    except ValueError:
        clear_journal(state_dir)  # killed while writing it: never committed
        return
    import json  # only when a journal is there: a killed write left it

    try:
        journal = json.loads(text)
    except ValueError:
        clear_journal(state_dir)  # killed while writing it: never committed
        return
    for path in journal["paths"]:  # a killed atomic write leaves its temp file
        for stray in (root / path).parent.glob(f".{Path(path).name}.*.tmp"):
            stray.unlink(missing_ok=True)
    if _repo.rev_parse(repo, journal["ref"]) == journal["new"]:
        oids = [oid for oid in journal["paths"].values() if oid is not None]
        blobs = _git.read_blobs(root, oids)
        changes = {p: None if o is None else blobs[o] for p, o in journal["paths"].items()}
        sync_worktree(root, repo, changes)
    clear_journal(state_dir)
