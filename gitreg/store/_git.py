"""Short named functions over git: the only module that imports GitPython (for init only).

Everything else calls the git binary or reads git's files directly: importing GitPython
alone cost 50 ms, more than a whole read and a third of a write (#15). This module owns
running git (``run``) and the commands that take a work tree's path: resolving revisions,
reading blobs and trees at a commit in batches, git's configuration, logs, diffs and
housekeeping. The write path's in-process repository (refs, index, tree walks) is
``_repo``; building commits is ``_commit``; commands that talk to a remote (fetch, push,
ls-remote) are in ``_net``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from gitreg.core.errors import BadRef, GitFailed, git_kind, not_regular
from gitreg.store import memo
from gitreg.store._lock import spawn

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def find_worktree(start: Path) -> Path | None:
    """The top of the git work tree containing ``start``, found without running git."""
    path = start.resolve()
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


# Large blobs hashed lately, with their ids (#26): a write hashed the 1.6 MB manifest of a
# model with 5,000 versions four times (its staging, the object, the journal, the index)
# and the work-tree file once more to check it clean. The bytes are immutable and kept
# here, so a blob given again (the same object, or equal bytes: one memcmp) is known.
_HASHED: list[tuple[bytes, str]] = []
_HASHED_LARGE = 64 * 1024
_HASHED_KEEP = 4


def hashed(oid: str) -> bytes | None:
    """The bytes of large blob ``oid`` if this process hashed them lately (``blob_id``)."""
    for known, found in list(_HASHED):
        if found == oid:
            return known
    return None


def blob_id(data: bytes) -> str:
    """The id git gives ``data`` as a blob (SHA-1), computed in-process."""
    large = len(data) >= _HASHED_LARGE and type(data) is bytes  # immutable only
    if large:
        for known, oid in list(_HASHED):
            if known is data or (len(known) == len(data) and known == data):
                return oid
    from gitreg.core import sha  # resolve hashes nothing

    digest = sha.sha1(b"blob %d\0" % len(data), more=len(data))
    digest.update(data)
    oid = digest.hexdigest()
    if large:
        _HASHED.insert(0, (data, oid))
        del _HASHED[_HASHED_KEEP:]
    return oid


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
        proc = spawn(
            lambda fds: subprocess.run(
                ["git", *args],
                cwd=root,
                input=stdin,
                capture_output=True,
                env=full_env,
                check=False,
                pass_fds=fds,
            )
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
        raise not_regular(path, git_kind(mode))
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
            raise not_regular(f"{directory}/{base}", git_kind(mode.decode()))
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


_CONFIG_CACHE: dict[Path, tuple[tuple[object, ...], dict[str, str]]] = {}


# The variables git's configuration reads (config.c, builtin/config.c); GIT_CONFIG_KEY_<n>
# and GIT_CONFIG_VALUE_<n> below GIT_CONFIG_COUNT are added to them.
_CONFIG_VARIABLES = (
    "GIT_DIR",
    "GIT_COMMON_DIR",
    "GIT_CONFIG",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_SYSTEM",
)


def _config_environment() -> tuple[tuple[str, str | None], ...]:
    """The values of the variables git's configuration reads (looked up one by one:
    walking the whole environment three times a write cost 0.1 ms, #26)."""
    get = os.environ.get
    found = [(name, get(name)) for name in _CONFIG_VARIABLES]
    try:
        count = int(get("GIT_CONFIG_COUNT") or 0)
    except ValueError:
        count = 0
    for i in range(min(max(count, 0), 1000)):
        found += [(f"GIT_CONFIG_KEY_{i}", get(f"GIT_CONFIG_KEY_{i}")),
                  (f"GIT_CONFIG_VALUE_{i}", get(f"GIT_CONFIG_VALUE_{i}"))]  # fmt: skip
    return tuple(found)


def _config_signature(git_dir: Path, common_dir: Path) -> tuple[object, ...]:
    """What git's configuration depends on: its files' stat data and the environment."""
    home = os.path.expanduser(os.environ.get("HOME", "~"))
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files = (
        os.path.join(common_dir, "config"),
        os.path.join(git_dir, "config.worktree"),
        os.path.join(home, ".gitconfig"),
        os.path.join(xdg, "git", "config"),
        os.environ.get("GIT_CONFIG_SYSTEM", "/etc/gitconfig"),
        os.environ.get("GIT_CONFIG_GLOBAL", "/nonexistent"),
    )
    stats: list[object] = []
    for path in files:
        try:
            st = os.stat(path)
            stats.append((st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns))
        except OSError:
            stats.append(None)
    return (*stats, _config_environment(), home, xdg, str(git_dir))


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
    state_dir = common_dir / "gitreg"
    config = _remembered_config(state_dir, signature, lambda: _read_config(root))
    if config is None:
        config = _read_config(root)
        if _memorable(config, signature):
            from gitreg.store._config_withheld import split

            others = [e for e in _memo_entries(state_dir) if e[0] != signature]
            memo.save(state_dir, CONFIG_MEMO, [(signature, *split(config)), *others[: _KEEP - 1]])
    _CONFIG_CACHE[root] = (signature, config)
    return config


def _read_config(root: Path) -> dict[str, str]:
    """``git config -z --list`` as a dict (last value wins)."""
    out = run(root, ["config", "-z", "--list"])
    config = {}
    for record in out.split(b"\0"):
        if record:
            key, _, value = record.decode("utf-8", "surrogateescape").partition("\n")
            config[key] = value
    return config


# ``git config --list`` kept in the clone for the next process (``memo``, #26), under the
# signature it was read with: stat data of every file git reads it from, the environment.
CONFIG_MEMO = "gitconfig"
_RACY_NS = 2_000_000_000  # a file changed this recently may change again within its mtime


_KEEP = 4  # signatures: a clone written by users or jobs with different environments


def _memo_entries(
    state_dir: Path,
) -> list[tuple[object, dict[str, str], tuple[str, ...], bool]]:
    """The well-formed entries of the memo (none if it is not one): a signature, the
    configuration less its withheld entries, and what was withheld (``_config_withheld``)."""
    found = memo.load(state_dir, CONFIG_MEMO)
    if not isinstance(found, list):
        return []
    return [
        entry
        for entry in found[:_KEEP]
        if isinstance(entry, tuple)
        and len(entry) == 4
        and isinstance(entry[1], dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in entry[1].items())
        and isinstance(entry[2], tuple)
        and all(isinstance(k, str) for k in entry[2])
        and isinstance(entry[3], bool)
    ]


def _remembered_config(
    state_dir: Path, signature: tuple[object, ...], read: Callable[[], dict[str, str]]
) -> dict[str, str] | None:
    """The configuration a former process read under this exact ``signature``, or None;
    ``read``: git's whole configuration, for a lookup of what the memo withheld."""
    for known, kept, by_value, by_name in _memo_entries(state_dir):
        if known == signature:
            if not by_value and not by_name:
                return kept
            from gitreg.store._config_withheld import Withheld

            return Withheld(kept, by_value, by_name, read)
    return None


def _memorable(config: dict[str, str], signature: tuple[object, ...]) -> bool:
    """Whether the signature says all git read: no include (its files are not in the
    signature), no file so recently changed that it might change again unseen. What may
    be a credential (a global config's HTTP headers, credential helpers' settings, a URL
    with a user or token in it) is never copied into ``.git/gitreg``: it is withheld from
    the memo, and a lookup of it reads git's configuration (``_config_withheld``)."""
    if any(key.startswith(("include.", "includeif.")) for key in config):
        return False
    now = time.time_ns()
    return all(
        not isinstance(stat, tuple) or now - int(stat[0]) > _RACY_NS for stat in signature[:6]
    )


def config_value(root: Path, key: str) -> str | None:
    """The value of ``key`` in git's configuration, or None when it is not set."""
    section, _, rest = key.partition(".")
    subsection, _, name = rest.rpartition(".")
    wanted = f"{section.lower()}.{subsection}.{name.lower()}" if subsection else key.lower()
    return git_config(root).get(wanted) or None


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

    spawn(
        lambda fds: subprocess.run(
            ["git", "update-ref", "-d", ref],
            cwd=root,
            capture_output=True,
            check=False,
            pass_fds=fds,
        )
    )


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

    command = ["git", "-c", "gc.autoDetach=false", "-c", "maintenance.autoDetach=false"]
    spawn(
        lambda fds: subprocess.run(
            [*command, "gc", "--auto", "--quiet"],
            cwd=root,
            capture_output=True,
            check=False,
            pass_fds=fds,
        )
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
