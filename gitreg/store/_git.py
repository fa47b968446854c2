"""Short named functions over git: the only module that imports GitPython.

Reads on the hot path (``resolve``, ``show --at``) call the git binary directly, because
importing GitPython alone costs more than the whole read; writes use GitPython. Commands
that talk to a remote (fetch, push, ls-remote) are in ``_net``.
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
    from git import Repo

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


def open_repo(root: Path) -> Repo:
    """A GitPython Repo for the work tree at ``root``."""
    import git  # only writes pay for GitPython

    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as e:
        raise NotARegistry(f"{root} is not a git repository; run 'gitreg init {root}'") from e


def _git_call(repo: Repo, *args: str, **kwargs: object) -> str:
    import git

    try:
        out: str = repo.git.execute(["git", *args], **kwargs)  # type: ignore[call-overload]
    except git.GitCommandError as e:
        lines = str(e.stderr or "").strip().splitlines()
        reason = lines[-1].removeprefix("stderr: ").strip(" '") if lines else str(e)
        if any(sign in str(e.stderr) for sign in _NO_IDENTITY):
            raise GitFailed(NO_IDENTITY_FIX) from e
        raise GitFailed(f"git {args[0]} failed: {reason}") from e
    return out


_NO_IDENTITY = ("unable to auto-detect email", "Please tell me who you are", "empty ident")
NO_IDENTITY_FIX = (
    "git does not know who you are, and every registry change is a commit with an author; "
    "run: git config --global user.name 'Your Name' && "
    "git config --global user.email you@example.com"
)


def current_branch(repo: Repo) -> str | None:
    """The checked-out branch name, or None on a detached HEAD."""
    try:
        ref = _git_call(repo, "symbolic-ref", "-q", "HEAD")
    except GitFailed:
        return None
    return ref.strip().removeprefix("refs/heads/")


def rev_parse(repo: Repo, ref: str) -> str | None:
    """The commit ``ref`` points to, or None (for an unborn branch)."""
    try:
        return _git_call(
            repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        ).strip()
    except GitFailed:
        return None


def read_blob(repo: Repo, commit: str | None, path: str) -> bytes | None:
    """``path`` at ``commit``, or None; one ``cat-file``, never a walk of the tree in Python."""
    if commit is None:
        return None
    return read_blob_at(Path(str(repo.working_tree_dir)), commit, path)


def list_names(repo: Repo, commit: str | None, directory: str) -> list[str]:
    """The file names directly in ``directory`` at ``commit``."""
    if commit is None:
        return []
    return list(list_tree(Path(str(repo.working_tree_dir)), commit, directory))


def write_blob(repo: Repo, data: bytes) -> str:
    """Store ``data`` as a blob and return its id."""
    import tempfile

    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        return _git_call(repo, "hash-object", "-w", "--stdin", istream=f).strip()


def commit_tree(
    repo: Repo, parent: str | None, changes: Mapping[str, str | None], message: str
) -> str:
    """A new commit: ``parent``'s tree with ``changes`` (path -> blob id, None deletes)."""
    import tempfile

    fd, index = tempfile.mkstemp(prefix="gitreg-index-")
    os.close(fd)
    os.unlink(index)
    try:
        with repo.git.custom_environment(GIT_INDEX_FILE=index):
            _git_call(repo, "read-tree", parent or EMPTY_TREE)
            for path, oid in changes.items():
                if oid is None:
                    _git_call(repo, "update-index", "--force-remove", "--", path)
                else:
                    _git_call(repo, "update-index", "--add", "--cacheinfo", f"100644,{oid},{path}")
            tree = _git_call(repo, "write-tree").strip()
        parents = ["-p", parent] if parent else []
        with tempfile.TemporaryFile() as f:
            f.write(message.encode())
            f.seek(0)
            return _git_call(repo, "commit-tree", tree, *parents, istream=f).strip()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(index)


def update_ref(repo: Repo, ref: str, new: str, old: str | None, reason: str) -> bool:
    """Move ``ref`` to ``new`` only if it is still at ``old``; False if someone moved it."""
    try:
        _git_call(repo, "update-ref", "-m", reason, ref, new, old or "0" * 40)
    except GitFailed:
        return False
    return True


def sync_index(repo: Repo, paths: Sequence[str]) -> None:
    """Make the index entries of ``paths`` match the work tree (add, update or remove)."""
    if paths:
        _git_call(repo, "update-index", "--add", "--remove", "--", *paths)


def index_blob(repo: Repo, path: str) -> str | None:
    """The blob id staged for ``path``, or None if it is not in the index."""
    out = _git_call(repo, "ls-files", "-s", "--", path).strip()
    return out.split()[1] if out else None


def identity(repo: Repo) -> str:
    """The author name git will use, for ``created_by``."""
    try:
        ident = _git_call(repo, "var", "GIT_AUTHOR_IDENT")
    except GitFailed as e:
        raise GitFailed(
            "git does not know who you are; run git config user.name 'Your Name' and "
            "git config user.email you@example.com"
        ) from e
    return ident.rsplit("<", 1)[0].strip()


def init(path: Path, branch: str) -> Repo:
    """``git init`` at ``path`` with ``branch`` as the initial branch."""
    import git

    try:
        return git.Repo.init(path, initial_branch=branch)
    except git.GitCommandError as e:
        raise GitFailed(f"git init failed in {path}: {e.stderr.strip()}") from e


def config_value(root: Path, key: str) -> str | None:
    """``git config --get key``, or None when it is not set."""
    import subprocess

    proc = subprocess.run(
        ["git", "config", "--get", key], cwd=root, capture_output=True, check=False
    )
    return proc.stdout.decode().strip() or None if proc.returncode == 0 else None


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
