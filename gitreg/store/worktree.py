"""The work tree follows the branch: the write journal, recovery, and the clean check.

A write moves the branch first (compare-and-swap) and only then rewrites the touched files
in the work tree and the index. The journal, written just before the ref moves, records the
old and new commits and the touched paths' blob ids, so the next command finishes the work
tree of a write killed after its ref moved, or discards one killed before (see #5).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import manifest
from gitreg.core.errors import ConcurrentUpdate, DirtyWorktree, GitregError, InvalidManifest
from gitreg.store import _git, _repo, faults, files
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
    for path, data in changes.items():
        target = root / path
        if data is None:
            target.unlink(missing_ok=True)
        else:
            manifest.write_atomic(target, data)  # the blob's bytes, not decoded again
    faults.point("worktree-written")
    _repo.sync_index(repo, list(changes), changes)


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
