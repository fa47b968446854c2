"""Short named functions over git: the only module that imports GitPython (for init only).

Everything else calls the git binary or reads git's files directly: importing GitPython
alone cost 50 ms, more than a whole read and a third of a write (#15). A write's
``Repo`` reads refs, HEAD, config and the index entry it needs in process, reads objects
through one ``git cat-file --batch`` and writes them as loose objects (``_odb``), and
leaves the branch update (compare-and-swap) and the index update to ``git update-ref`` and
``git update-index``; anything unusual takes git's own commands. Commands that talk to a
remote (fetch, push, ls-remote) are in ``_net``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gitreg.core.errors import BadRef, GitFailed, NotARegistry, not_regular

if TYPE_CHECKING:
    from gitreg.store import _odb

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def find_worktree(start: Path) -> Path | None:
    """The top of the git work tree containing ``start``, found without running git."""
    path = start.resolve()
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def blob_id(data: bytes) -> str:
    """The id git gives ``data`` as a blob (SHA-1), computed in-process."""
    import hashlib  # only whole-registry reads hash; resolve does not pay for OpenSSL

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def run(
    root: Path,
    args: Sequence[str],
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> bytes:
    """Run ``git args`` in ``root`` and return stdout; a failure becomes GitFailed."""
    import subprocess

    full_env = None if env is None else {**os.environ, **env}
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=root,
            input=stdin,
            capture_output=True,
            env=full_env,
            check=False,
        )
    except FileNotFoundError as e:
        raise GitFailed("git is not installed or not on PATH; install git") from e
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitFailed(f"git {args[0]} failed: {detail[-1] if detail else proc.returncode}")
    return proc.stdout


def resolve_commit(root: Path, ref: str) -> str:
    """The commit id ``ref`` names; BadRef if it names none."""
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n"):
        raise BadRef(f"Invalid revision {ref!r}: give a branch, tag or commit id")
    try:
        out = run(
            root, ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"]
        )
    except GitFailed as e:
        raise BadRef(f"Unknown revision {ref!r}: no such branch, tag or commit in {root}") from e
    return out.decode().strip()


def commit_before(root: Path, ref: str, moment: int) -> str | None:
    """The last commit of ``ref``'s first-parent history committed at or before ``moment``."""
    out = run(
        root,
        ["rev-list", "-1", "--first-parent", f"--before={moment}", "--end-of-options", ref],
    )
    return out.decode().strip() or None


GIT_KINDS = {"120000": "a symbolic link", "040000": "a directory", "160000": "a submodule"}


def read_blob_at(root: Path, commit: str, path: str) -> bytes | None:
    """The content of ``path`` at ``commit`` if it is a regular file; None if absent.

    Raises:
        NotRegularFile: ``path`` is a link, a directory, a submodule or an executable at
            ``commit`` (only git mode 100644 is read, see #12).
    """
    import subprocess

    listed = subprocess.run(
        ["git", "ls-tree", "-z", "--full-tree", commit, "--", path],
        cwd=root,
        capture_output=True,
        check=False,
    )
    record = listed.stdout.split(b"\0", 1)[0]
    if listed.returncode != 0 or not record:
        return None
    meta, _, name = record.partition(b"\t")
    mode, _kind, oid = meta.decode().split()
    if name.decode("utf-8", "surrogateescape") != path:
        return None
    if mode != "100644":
        raise not_regular(path, GIT_KINDS.get(mode, f"git mode {mode}"))
    proc = subprocess.run(
        ["git", "cat-file", "blob", oid], cwd=root, capture_output=True, check=False
    )
    return proc.stdout if proc.returncode == 0 else None


def list_tree(root: Path, commit: str, directory: str) -> dict[str, str]:
    """File name -> blob id for the regular files directly in ``directory`` at ``commit``.

    Raises:
        NotRegularFile: a ``*.yaml`` entry is a link, directory or submodule.
    """
    out = run(root, ["ls-tree", "-z", "--full-tree", commit, "--", f"{directory}/"])
    entries = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, _kind, oid = meta.split()
        base = name.decode("utf-8", "surrogateescape").rsplit("/", 1)[-1]
        if mode == b"100644":
            entries[base] = oid.decode()
        elif base.endswith(".yaml"):
            raise not_regular(f"{directory}/{base}", GIT_KINDS.get(mode.decode(), "not a file"))
    return entries


def read_blobs(root: Path, oids: Sequence[str]) -> dict[str, bytes]:
    """The contents of many blobs in one ``git cat-file --batch`` process."""
    if not oids:
        return {}
    out = run(root, ["cat-file", "--batch"], stdin="".join(f"{o}\n" for o in oids).encode())
    blobs, pos = {}, 0
    for oid in oids:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        size = int(header[2])
        blobs[oid] = out[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1
    return blobs


def git_dir_of(root: Path) -> Path:
    """The git directory of the work tree at ``root`` (``.git``, or where its file points)."""
    dot_git = root / ".git"
    if dot_git.is_file():  # linked worktree or submodule: "gitdir: <path>"
        target = dot_git.read_text("utf-8").strip().removeprefix("gitdir:").strip()
        return (root / target).resolve()
    return dot_git


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
        self.config: dict[str, str] = {}
        self.fast = False
        self.refresh()

    def refresh(self) -> None:
        """Re-read what may have changed since the last write: git's config (if edited)."""
        self.config = config = git_config(self.root, self.git_dir, self.common_dir)
        plain = (
            config.get("extensions.objectformat", "sha1").lower() == "sha1"
            and config.get("extensions.refstorage", "files").lower() == "files"
            and not _true(config.get("core.splitindex", "false"))
            and not _true(config.get("index.sparse", "false"))
        )
        # Whether this process may read refs and write objects itself (a plain repository).
        self.fast = plain and not any(var in os.environ for var in _ENV_OVERRIDES)


def _true(value: str) -> bool:
    return value.lower() in ("true", "yes", "on", "1", "")


def open_repo(root: Path) -> Repo:
    """The repository whose work tree is at ``root``."""
    if not (root / ".git").exists():
        raise NotARegistry(f"{root} is not a git repository; run 'gitreg init {root}'")
    return Repo(root)


_CONFIG_CACHE: dict[Path, tuple[tuple[object, ...], dict[str, str]]] = {}


def _config_signature(git_dir: Path, common_dir: Path) -> tuple[object, ...]:
    """What git's configuration depends on: its files' stat data and the environment."""
    home = Path(os.environ.get("HOME", "~")).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    files = [
        common_dir / "config",
        git_dir / "config.worktree",
        home / ".gitconfig",
        Path(xdg) / "git" / "config",
        Path(os.environ.get("GIT_CONFIG_SYSTEM", "/etc/gitconfig")),
        Path(os.environ.get("GIT_CONFIG_GLOBAL", "/nonexistent")),
    ]
    stats: list[object] = []
    for path in files:
        try:
            st = path.stat()
            stats.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            stats.append(None)
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("GIT_CONFIG")))
    return (*stats, env, str(home), xdg)


def git_config(
    root: Path, git_dir: Path | None = None, common_dir: Path | None = None
) -> dict[str, str]:
    """``git config --list`` as a dict (last value wins), cached until a config file changes."""
    git_dir = git_dir or git_dir_of(root)
    common_dir = common_dir or git_dir
    signature = _config_signature(git_dir, common_dir)
    cached = _CONFIG_CACHE.get(root)
    if cached is not None and cached[0] == signature:
        return cached[1]
    out = run(root, ["config", "-z", "--list"])
    config: dict[str, str] = {}
    for record in out.split(b"\0"):
        if record:
            key, _, value = record.decode("utf-8", "surrogateescape").partition("\n")
            config[key] = value
    _CONFIG_CACHE[root] = (signature, config)
    return config


def config_value(root: Path, key: str) -> str | None:
    """The value of ``key`` in git's configuration, or None when it is not set."""
    section, _, rest = key.partition(".")
    subsection, _, name = rest.rpartition(".")
    wanted = f"{section.lower()}.{subsection}.{name.lower()}" if subsection else key.lower()
    return git_config(root).get(wanted) or None


def _call(repo: Repo, *args: str, stdin: bytes | None = None) -> str:
    """``git args`` in ``repo``; a missing identity becomes the fix to run."""
    try:
        return run(repo.root, args, stdin=stdin).decode("utf-8", "surrogateescape")
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
        ref = _call(repo, "symbolic-ref", "-q", "HEAD")
    except GitFailed:
        return None
    return ref.strip().removeprefix("refs/heads/")


def _is_oid(text: str) -> bool:
    return len(text) == 40 and all(c in "0123456789abcdef" for c in text)


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


def _packed_ref(repo: Repo, ref: str) -> str | None:
    try:
        text = (repo.common_dir / "packed-refs").read_bytes()
    except FileNotFoundError:
        return None
    needle = b" " + ref.encode() + b"\n"
    at = text.find(needle)
    if at < 40 or (at > 40 and text[at - 41 : at - 40] != b"\n"):
        return None if at < 0 else ""
    oid = text[at - 40 : at].decode()
    return oid if _is_oid(oid) else ""


def rev_parse(repo: Repo, ref: str) -> str | None:
    """The commit ``ref`` points to, or None (for an unborn branch)."""
    if repo.fast and ref.startswith(("refs/heads/", "refs/remotes/")) and ".." not in ref:
        found = _read_ref_file(repo, ref)
        if found != "":
            return found
    try:
        return _call(
            repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        ).strip()
    except GitFailed:
        return None


def read_blob(repo: Repo, commit: str | None, path: str) -> bytes | None:
    """``path`` at ``commit``, or None; through the repository's one ``cat-file``."""
    if commit is None:
        return None
    found = repo.reader.read(f"{commit}:{path}")
    return found[2] if found is not None and found[1] == "blob" else None


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


def write_blob(repo: Repo, data: bytes) -> str:
    """Store ``data`` as a blob and return its id."""
    if repo.fast:
        from gitreg.store._odb import write_loose

        return write_loose(repo.objects, "blob", data)
    return _call(repo, "hash-object", "-w", "--stdin", stdin=data).strip()


def commit_tree(
    repo: Repo, parent: str | None, changes: Mapping[str, str | None], message: str
) -> str:
    """A new commit: ``parent``'s tree with ``changes`` (path -> blob id, None deletes)."""
    author = _ident(repo, "author")
    committer = _ident(repo, "committer")
    if repo.fast and author is not None and committer is not None and _plain_commits(repo):
        from gitreg.store import _odb

        writer = _odb.TreeWriter(repo.reader, repo.objects, repo.trees)
        tree = writer.update(_root_tree(repo, parent), changes) or EMPTY_TREE
        if tree == EMPTY_TREE:
            _odb.write_loose(repo.objects, "tree", b"")
        return _odb.write_loose(
            repo.objects, "commit", _commit(tree, parent, author, committer, message)
        )
    return _commit_through_index(repo, parent, changes, message)


def _root_tree(repo: Repo, commit: str | None) -> str | None:
    if commit is None:
        return None
    found = repo.reader.read(commit)
    if found is None or found[1] != "commit" or not found[2].startswith(b"tree "):
        raise GitFailed(f"commit {commit} is missing from the repository; run git fsck")
    return found[2][5:45].decode()


def _plain_commits(repo: Repo) -> bool:
    """No signing and UTF-8 messages: the commit is exactly what ``commit-tree`` writes."""
    config = repo.config
    return not _true(config.get("commit.gpgsign", "false")) and (
        config.get("i18n.commitencoding", "utf-8").lower() in ("utf-8", "utf8")
    )


def _commit(tree: str, parent: str | None, author: str, committer: str, message: str) -> bytes:
    import time

    now = int(time.time())
    offset = time.localtime(now).tm_gmtoff // 60
    zone = f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    lines = [f"tree {tree}"]
    if parent:
        lines.append(f"parent {parent}")
    lines += [f"author {author} {now} {zone}", f"committer {committer} {now} {zone}", "", ""]
    return "\n".join(lines).encode() + message.encode()


# git drops these from both ends of a name or email ("crud", ident.c), and '<', '>' and
# newlines anywhere; an identity with any of them is left to git to format.
_CRUD = frozenset(",:;<>\"\\'.") | {chr(c) for c in range(33)}


def _ident(repo: Repo, role: str) -> str | None:
    """``Name <email>`` for ``role`` (author, committer) as git would pick it, or None."""
    config = repo.config
    upper = role.upper()
    name = (
        os.environ.get(f"GIT_{upper}_NAME") or config.get(f"{role}.name") or config.get("user.name")
    )
    email = (
        os.environ.get(f"GIT_{upper}_EMAIL")
        or config.get(f"{role}.email")
        or config.get("user.email")
        or os.environ.get("EMAIL")
    )
    for value in (name, email):
        if not value or value[0] in _CRUD or value[-1] in _CRUD or any(c in value for c in "<>\n"):
            return None
    return f"{name} <{email}>"


def _commit_through_index(
    repo: Repo, parent: str | None, changes: Mapping[str, str | None], message: str
) -> str:
    """git's own way: a temporary index, ``write-tree`` and ``commit-tree``."""
    import tempfile

    fd, index = tempfile.mkstemp(prefix="gitreg-index-")
    os.close(fd)
    os.unlink(index)
    env = {"GIT_INDEX_FILE": index}
    try:
        run(repo.root, ["read-tree", parent or EMPTY_TREE], env=env)
        lines = "".join(
            f"0 {'0' * 40}\t{path}\n" if oid is None else f"100644 {oid}\t{path}\n"
            for path, oid in changes.items()
        )
        run(repo.root, ["update-index", "--index-info"], stdin=lines.encode(), env=env)
        tree = run(repo.root, ["write-tree"], env=env).decode().strip()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(index)
    parents = ["-p", parent] if parent else []
    return _call(repo, "commit-tree", tree, *parents, stdin=message.encode()).strip()


def update_ref(repo: Repo, ref: str, new: str, old: str | None, reason: str) -> bool:
    """Move ``ref`` to ``new`` only if it is still at ``old``; False if someone moved it."""
    try:
        _call(repo, "update-ref", "-m", reason, ref, new, old or "0" * 40)
    except GitFailed:
        return False
    return True


def sync_index(repo: Repo, paths: Sequence[str]) -> None:
    """Make the index entries of ``paths`` match the work tree (add, update or remove)."""
    if paths:
        _call(repo, "update-index", "--add", "--remove", "--", *paths)


def index_blob(repo: Repo, path: str) -> str | None:
    """The blob id staged for ``path``, or None if it is not in the index."""
    if repo.fast:
        from gitreg.store import _index

        with contextlib.suppress(_index.Unsure):
            return _index.staged_blob(repo.git_dir / "index", path)
    out = _call(repo, "ls-files", "-s", "--", path).strip()
    return out.split()[1] if out else None


def identity(repo: Repo) -> str:
    """The author name git will use, for ``created_by``."""
    ident = _ident(repo, "author")
    if ident is not None:
        return ident.rsplit("<", 1)[0].strip()
    try:
        ident = _call(repo, "var", "GIT_AUTHOR_IDENT")
    except GitFailed as e:
        raise GitFailed(
            "git does not know who you are; run git config user.name 'Your Name' and "
            "git config user.email you@example.com"
        ) from e
    return ident.rsplit("<", 1)[0].strip()


def init(path: Path, branch: str) -> None:
    """``git init`` at ``path`` with ``branch`` as the initial branch."""
    import git  # GitPython: only `gitreg init` pays for it

    try:
        git.Repo.init(path, initial_branch=branch)
    except git.GitCommandError as e:
        raise GitFailed(f"git init failed in {path}: {e.stderr.strip()}") from e


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    """Whether commit ``older`` is reachable from ``newer``."""
    import subprocess

    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", older, newer],
        cwd=root,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


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
    roots = [_root_tree(repo, c) if c else None for c in (old, new)]
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


def merge_tree(root: Path, into: str, commit: str) -> str | None:
    """The tree merging ``commit`` into ``into`` would give, or None on a conflict.

    No ref, index or work tree moves (git writes the merged tree's objects, nothing else).
    """
    import subprocess

    proc = subprocess.run(
        ["git", "merge-tree", "--write-tree", "--no-messages", into, commit],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise GitFailed(f"git merge-tree failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout.decode().split("\n", 1)[0].strip() if proc.returncode == 0 else None


def commit_facts(root: Path, commit: str) -> tuple[str | None, str | None]:
    """``commit``'s first parent and its committer date (ISO-8601)."""
    out = run(root, ["log", "-1", "--format=%P%x00%cI", "--end-of-options", commit])
    parents, _, date = out.decode().strip().partition("\0")
    return (parents.split()[0] if parents.split() else None), (date or None)


def list_refs(root: Path, prefix: str) -> dict[str, str]:
    """Ref name -> object id for the refs under ``prefix``."""
    out = run(root, ["for-each-ref", "--format=%(refname)%00%(objectname)", "--", prefix])
    refs = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        name, _, oid = line.partition("\0")
        refs[name] = oid
    return refs


def delete_ref(root: Path, ref: str) -> None:
    """Delete ``ref`` if it exists (a remote-tracking ref of a withdrawn request)."""
    import subprocess

    subprocess.run(["git", "update-ref", "-d", ref], cwd=root, capture_output=True, check=False)


def changed_paths(root: Path, old: str | None, new: str) -> list[str]:
    """Paths whose content differs between commits ``old`` and ``new``."""
    out = run(
        root, ["diff-tree", "-r", "-z", "--no-renames", "--name-only", old or EMPTY_TREE, new]
    )
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def diff_text(root: Path, old: str, new: str, paths: Sequence[str]) -> str:
    """A unified diff of ``paths`` between two commits."""
    out = run(root, ["diff", "--no-color", "--no-ext-diff", old, new, "--", *paths])
    return out.decode("utf-8", "replace")


LOG_FORMAT = "%x1e%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%s%x00%b%x00"
LOG_FIELDS = 10  # commit, parents, author name/email/date, committer name/email/date, subject, body


def log_raw(
    root: Path, revisions: Sequence[str], paths: Sequence[str], *, follow: bool = False
) -> bytes:
    """``git log --first-parent --raw -z -M`` of ``paths``: commits with their file changes.

    Each record starts with ``\x1e`` and ``LOG_FIELDS`` NUL-terminated fields, then the raw
    changes (``:mode mode oid oid status`` and one or two paths, NUL-separated). A merge
    commit shows its change against its first parent: what the merge brought in.
    """
    follow_args = ["--follow"] if follow else []
    return run(
        root,
        [
            "log",
            *follow_args,
            "--first-parent",
            "--raw",
            "--no-abbrev",
            "-z",
            "-M",
            f"--format={LOG_FORMAT}",
            "--end-of-options",
            *revisions,
            "--",
            *paths,
        ],
    )


def read_objects(root: Path, specs: Sequence[str]) -> dict[str, bytes | None]:
    """Contents of blobs named by id or ``rev:path``; None for missing ones and non-blobs."""
    if not specs:
        return {}
    out = run(root, ["cat-file", "--batch"], stdin="".join(f"{s}\n" for s in specs).encode())
    found: dict[str, bytes | None] = {}
    pos = 0
    for spec in specs:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        if header[-1] == b"missing" or len(header) < 3:
            found[spec], pos = None, end + 1
            continue
        size = int(header[2])
        # A tree or commit named where a file was expected is no file's content.
        found[spec] = out[end + 1 : end + 1 + size] if header[1] == b"blob" else None
        pos = end + 1 + size + 1
    return found


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


def collect_garbage(root: Path) -> None:
    """``git gc --auto`` in the foreground (callers hold gitreg's lock on the clone)."""
    import subprocess

    subprocess.run(
        [
            "git",
            "-c",
            "gc.autoDetach=false",
            "-c",
            "maintenance.autoDetach=false",
            "gc",
            "--auto",
            "--quiet",
        ],
        cwd=root,
        capture_output=True,
        check=False,
    )


def clear_stale_locks(git_dir: Path, wait: float = 2.0) -> None:
    """Remove git lock files a killed gitreg process left (after its git children finish)."""
    deadline = time.monotonic() + wait
    while True:
        stale = [
            p
            for p in (git_dir / "index.lock", git_dir / "HEAD.lock", git_dir / "packed-refs.lock")
            if p.exists()
        ] + list((git_dir / "refs").glob("**/*.lock"))
        if not stale or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for path in stale:
        path.unlink(missing_ok=True)
