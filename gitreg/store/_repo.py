"""The write path's repository: its directories and config, refs, index and tree walks.

A write's ``Repo`` reads refs, HEAD, config and the index entry it needs in process,
reads objects through one ``git cat-file --batch`` (``_odb``), and moves the branch
(compare-and-swap, ``_refs``) and updates the index (``_index``) in process by git's own
locking rules where it can, else through ``git update-ref`` and ``git update-index``
(#26), a split index too (``_split_index``); a repository that is not plain (another
object format, ref backend, sparse index, or git's directories moved by the environment)
takes git's own commands (#15). Commands on a path alone are in ``_git``; commits are built
by ``_commit``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gitreg.core.errors import GitFailed, NotARegistry
from gitreg.store._git import blob_id, git_config, git_dir_of, is_ancestor, run
from gitreg.store._refs import is_oid as _is_oid
from gitreg.store._refs import is_true as is_true
from gitreg.store._refs import packed_ref as _packed_ref

if TYPE_CHECKING:
    from gitreg.store import _odb


# Environment variables that move git's directories, index or objects, or change how a
# commit is made: with any of them set, writes take git's own commands (see Repo.fast).
_ENV_OVERRIDES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_DATE",
)


class Repo:
    """A repository on the write path: its directories, git config, one object reader.

    Opening one runs nothing; the config is read once (``git config --list``) and again
    only when a config file changes, and objects are read through one ``cat-file``.
    """

    def __init__(self, root: Path) -> None:
        from gitreg.store import _odb

        self.root = root
        self.working_tree_dir = str(root)
        self.git_dir = git_dir_of(root)
        common = self.git_dir / "commondir"
        self.common_dir = (
            (self.git_dir / common.read_text("utf-8").strip()).resolve()
            if common.is_file()
            else self.git_dir
        )
        self.objects = self.common_dir / "objects"
        self.reader = _odb.Reader(root)
        self.trees: dict[str, _odb.Tree] = {}
        self.commit_trees: dict[str, str] = {}  # commit -> its root tree (root_tree)
        self.blobs: dict[str, bytes] = {}  # small blobs read or written lately (keep_blob)
        self.config: dict[str, str] = {}
        self.fast = False
        self.refresh()

    def refresh(self) -> None:
        """Re-read what may have changed since the last write: git's config (if edited)."""
        self.config = config = git_config(self.root, self.git_dir, self.common_dir)
        plain = (
            config.get("extensions.objectformat", "sha1").lower() == "sha1"
            and config.get("extensions.refstorage", "files").lower() == "files"
            and not is_true(config.get("index.sparse", "false"))
        )
        # Whether this process may read refs and write objects itself (a plain repository).
        self.fast = plain and not any(var in os.environ for var in _ENV_OVERRIDES)
        self.reader.objects = self.objects if self.fast else None  # loose objects (#26)


def open_repo(root: Path) -> Repo:
    """The repository whose work tree is at ``root``."""
    if not (root / ".git").exists():
        raise NotARegistry(f"{root} is not a git repository; run 'gitreg init {root}'")
    return Repo(root)


def call(
    repo: Repo, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
) -> str:
    """``git args`` in ``repo``; a missing identity becomes the fix to run."""
    try:
        return run(repo.root, args, stdin=stdin, env=env).decode("utf-8", "surrogateescape")
    except GitFailed as e:
        if any(sign in e.message for sign in _NO_IDENTITY):
            raise GitFailed(NO_IDENTITY_FIX) from e
        raise


_NO_IDENTITY = ("unable to auto-detect email", "Please tell me who you are", "empty ident")


NO_IDENTITY_FIX = (
    "git does not know who you are, and every registry change is a commit with an author; "
    "run: git config --global user.name 'Your Name' && "
    "git config --global user.email you@example.com"
)


def current_branch(repo: Repo) -> str | None:
    """The checked-out branch name, or None on a detached HEAD."""
    if repo.fast:
        try:
            head = (repo.git_dir / "HEAD").read_text("utf-8").strip()
        except OSError:
            head = ""
        if head.startswith("ref: refs/heads/"):
            return head.removeprefix("ref: refs/heads/")
        if _is_oid(head):
            return None
    try:
        ref = call(repo, "symbolic-ref", "-q", "HEAD")
    except GitFailed:
        return None
    return ref.strip().removeprefix("refs/heads/")


def _read_ref_file(repo: Repo, ref: str) -> str | None:
    """A branch's commit from the ref files as git lays them out; "" when it cannot tell."""
    for _depth in range(5):
        try:
            text = (repo.common_dir / ref).read_text("utf-8").strip()
        except FileNotFoundError:
            return _packed_ref(repo, ref)
        except OSError:
            return ""
        if text.startswith("ref: refs/"):
            ref = text.removeprefix("ref: ")
            continue
        return text if _is_oid(text) else ""
    return ""


def rev_parse(repo: Repo, ref: str) -> str | None:
    """The commit ``ref`` points to, or None (for an unborn branch)."""
    if repo.fast and ref.startswith(("refs/heads/", "refs/remotes/")) and ".." not in ref:
        found = _read_ref_file(repo, ref)
        if found != "":
            return found
    try:
        return call(
            repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        ).strip()
    except GitFailed:
        return None


def read_blob(repo: Repo, commit: str | None, path: str) -> bytes | None:
    """``path`` at ``commit``, or None; through the repository's one ``cat-file``."""
    if commit is None:
        return None
    spec = f"{commit}:{path}"
    if repo.fast:
        # Through the trees this process keeps (a write's own): git would scan the 400 kB
        # models/ tree of a 10,000-model registry for each path (#26).
        from gitreg.store import _odb

        trees = _odb.TreeWriter(repo.reader, repo.objects, repo.trees)
        with contextlib.suppress(GitFailed, KeyError):
            oid = _odb.blob_at(trees, root_tree(repo, commit), path)
            if oid is None:
                return None
            known = repo.blobs.get(oid) or _from_worktree(repo, path, oid)
            if known is not None:
                return known
            spec = oid
    found = repo.reader.read(spec)
    if found is None or found[1] != "blob":
        return None
    keep_blob(repo, found[0], found[2])
    return found[2]


def _from_worktree(repo: Repo, path: str, oid: str) -> bytes | None:
    """The work tree's ``path`` if it is blob ``oid`` byte for byte (its SHA-1 says so),
    else None. A regular file only (``files.read_regular``): a write's manifest read in
    the work tree is one local read, where ``cat-file`` is a round trip to another
    process that a loaded machine may not schedule for a while, and inflating a large
    loose object costs more than hashing the file, which the check that the work tree is
    clean hashes anyway (``_git.blob_id`` remembers it, #26); a file edited since, or any
    doubt, and git is asked."""
    from gitreg.core.errors import GitregError
    from gitreg.store import files

    try:
        data = files.read_regular(repo.root, path)
    except (GitregError, OSError, ValueError):
        return None
    if data is None or blob_id(data) != oid:
        return None
    keep_blob(repo, oid, data)
    return data


KEEP_BLOBS = 32
KEEP_BLOB_BYTES = 64 * 1024


def keep_blob(repo: Repo, oid: str, data: bytes) -> None:
    """Remember small blob ``oid`` (content addressed: never stale). Each write read
    gitreg.yaml, and the manifest it wrote last, back through ``cat-file``: a round trip
    to another process, slow on a loaded machine (#26)."""
    if len(data) > KEEP_BLOB_BYTES:
        return
    blobs = repo.blobs
    blobs[oid] = data
    with contextlib.suppress(KeyError, RuntimeError):  # another thread evicted it first
        while len(blobs) > KEEP_BLOBS:
            del blobs[next(iter(blobs))]


def list_names(repo: Repo, commit: str | None, directory: str) -> list[str]:
    """The file names directly in ``directory`` at ``commit``."""
    from gitreg.store._odb import TREE_MODE, Tree

    if commit is None:
        return []
    found = repo.reader.read(f"{commit}:{directory}")
    if found is None or found[1] != "tree":
        return []
    tree = Tree(found[2])
    return [
        name.decode("utf-8", "surrogateescape")
        for name in tree.spans
        if (entry := tree.entry(name)) is not None and entry[0] not in (TREE_MODE, b"160000")
    ]


def root_tree(repo: Repo, commit: str | None) -> str | None:
    """The root tree of ``commit`` (remembered: a commit never changes, #26)."""
    if commit is None:
        return None
    known = repo.commit_trees.get(commit)
    if known is not None:
        return known
    found = repo.reader.read(commit)
    if found is None or found[1] != "commit" or not found[2].startswith(b"tree "):
        raise GitFailed(f"commit {commit} is missing from the repository; run git fsck")
    tree = found[2][5:45].decode()
    if len(repo.commit_trees) >= 64:
        repo.commit_trees.clear()
    repo.commit_trees[commit] = tree
    return tree


def update_ref(repo: Repo, ref: str, new: str, old: str | None, reason: str) -> bool:
    """Move ``ref`` to ``new`` only if it is still at ``old``; False if someone moved it.

    In a plain repository, in process by git's locking rules (``_refs``, #26).
    """
    if repo.fast:
        from gitreg.store import _refs

        moved = _refs.update_ref(repo, ref, new, old, reason)
        if moved is not None:
            return moved
    try:
        call(repo, "update-ref", "-m", reason, ref, new, old or "0" * 40)
    except GitFailed:
        return False
    return True


def sync_index(
    repo: Repo, paths: Sequence[str], contents: Mapping[str, bytes | None] | None = None
) -> None:
    """Make the index entries of ``paths`` match the work tree (add, update or remove).

    ``contents``: what each path now holds (None: removed), for the update in process
    (``_index_write``, #26); without it, or where that cannot be exact, git does it.
    """
    split = False
    if paths and repo.fast and contents is not None:
        from gitreg.store import _index_write

        outcome = _index_write.update(repo, repo.root, {p: contents[p] for p in paths})
        if outcome == "done":
            return
        split = outcome == "split"
    if paths:
        # --split-index: git starts a split index, or folds the changes into a new
        # shared one, and expires old shared files (_split_index, #26).
        flags = ["--split-index"] if split else []
        call(repo, "update-index", "--add", "--remove", *flags, "--", *paths)


def index_blob(repo: Repo, path: str) -> str | None:
    """The blob id staged for ``path``, or None if it is not in the index."""
    if repo.fast:
        from gitreg.store import _index

        with contextlib.suppress(_index.Unsure):
            return _index.staged_blob(repo.git_dir / "index", path)
    out = call(repo, "ls-files", "-s", "--", path).strip()
    return out.split()[1] if out else None


def ancestor_in(repo: Repo, older: str, newer: str, limit: int = 256) -> bool | None:
    """Whether ``older`` is reachable from ``newer``, walking at most ``limit`` commits.

    None when the walk could not tell (too far, or a commit this clone lacks): ask git.
    A writer racing others asks this about the tip it just fetched, a few commits ahead.
    """
    if not repo.fast:
        return None
    seen, todo = set(), [newer]
    while todo:
        commit = todo.pop()
        if commit == older:
            return True
        if commit in seen:
            continue
        seen.add(commit)
        if len(seen) > limit:
            return None
        found = repo.reader.read(commit)
        if found is None or found[1] != "commit":
            return None
        for line in found[2].split(b"\n\n", 1)[0].split(b"\n"):
            if line.startswith(b"parent "):
                todo.append(line[7:].decode())
    return False


def is_ancestor_of(repo: Repo, older: str, newer: str) -> bool:
    """Whether commit ``older`` is reachable from ``newer`` (in process when it is near)."""
    found = ancestor_in(repo, older, newer)
    return found if found is not None else is_ancestor(repo.root, older, newer)


def tree_changes(repo: Repo, old: str | None, new: str) -> dict[str, str | None] | None:
    """Path -> new blob id (None: deleted) for files that differ between two commits.

    Read through the repository's one ``cat-file``; None when it cannot (ask git).
    """
    if not repo.fast:
        return None
    changes: dict[str, str | None] = {}
    roots = [root_tree(repo, c) if c else None for c in (old, new)]
    return changes if _diff_trees(repo, "", roots[0], roots[1], changes) else None


def _tree_at(repo: Repo, oid: str | None) -> _odb.Tree | None:
    from gitreg.store._odb import Tree

    if oid is None:
        return Tree(b"")
    cached = repo.trees.get(oid)
    if cached is not None:
        return cached
    found = repo.reader.read(oid)
    return Tree(found[2]) if found is not None and found[1] == "tree" else None


def _diff_trees(
    repo: Repo, prefix: str, a: str | None, b: str | None, changes: dict[str, str | None]
) -> bool:
    from gitreg.store._odb import TREE_MODE

    left, right = _tree_at(repo, a), _tree_at(repo, b)
    if left is None or right is None:
        return False
    for name in left.spans.keys() | right.spans.keys():
        x, y = left.entry(name), right.entry(name)
        if x == y:
            continue
        path = prefix + name.decode("utf-8", "surrogateescape")
        x_sub = x[1] if x is not None and x[0] == TREE_MODE else None
        y_sub = y[1] if y is not None and y[0] == TREE_MODE else None
        if (x_sub or y_sub) and not _diff_trees(repo, path + "/", x_sub, y_sub, changes):
            return False
        if x is not None and x_sub is None and (y is None or y_sub is not None):
            changes[path] = None
        if y is not None and y_sub is None:
            changes[path] = y[1]
    return True


def needs_gc(repo: Repo) -> bool:
    """Whether ``git gc --auto`` would do anything, judged as git does, without running it.

    git samples ``objects/17``: more than ``gc.auto`` / 256 loose objects there, or more
    than ``gc.autoPackLimit`` packs, and it collects (see ``builtin/gc.c``).
    """
    config = repo.config
    try:
        limit = int(config.get("gc.auto", "6700"))
        packs = int(config.get("gc.autopacklimit", "50"))
    except ValueError:
        return True
    if limit <= 0:
        return False
    try:
        loose = sum(1 for name in os.listdir(repo.objects / "17") if len(name) == 38)
    except FileNotFoundError:
        loose = 0
    if loose > (limit + 255) // 256:
        return True
    if packs <= 0:
        return False
    try:
        names = os.listdir(repo.objects / "pack")
    except FileNotFoundError:
        return False
    kept = {n.removesuffix(".keep") for n in names if n.endswith(".keep")}
    return (
        sum(1 for n in names if n.endswith(".pack") and n.removesuffix(".pack") not in kept) > packs
    )
