"""Where comments live: ``refs/gitreg/comments``, a history of its own beside the branch (#29).

Why there: a comment is collaboration, not a protected fact. On the registry's branch it
would be a commit the gate, the audit, CI and every deployment's fetch would see, and a
branch that only reviewed merges may change could not take it at all. Git notes attach to
one object (a commit), while a comment belongs to a model version across commits. So each
comment is one file, ``<model file stem>/<version>/<comment id>.yaml``, in the tree of a
ref that is not a branch: nothing checks it out, ``git fetch`` of the branch never brings
it, and its own history keeps every edit and deletion.

Concurrent commenters never conflict: every comment is a new file with a random id, so two
clones that comment at once change different paths. A write is a retried pure function, as
the branch's: fetch the remote's ref, apply the change to its tree, commit, push; when the
push loses a race, do it all again on the new tip. Comments made while the remote was
unreachable (or with ``--no-push``) stay in the local ref, and the next write carries them
over onto the remote's tip path by path, so nothing is lost; if two clones edited the same
comment, the later write's text wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from gitreg.core import record
from gitreg.core.comment import Comment, parse_file
from gitreg.core.errors import ConcurrentUpdate, GitFailed, InvalidManifest
from gitreg.store import _commit, _git, _net, _repo, ref_lookup
from gitreg.store.remote import backoff

COMMENTS_REF = "refs/gitreg/comments"
FETCHED_REF = "refs/gitreg/fetched/comments"
MAX_ATTEMPTS = 8
MAX_COMMENTS = 200_000  # files read from the ref at once; beyond, a note says what was left
T = TypeVar("T")
Read = Callable[[str], "bytes | None"]
Change = Callable[[Read], tuple[dict[str, "bytes | None"], T]]


@record.dataclass(frozen=True, slots=True)
class Found:
    """The comments read, and the files on the ref that are not valid comments."""

    comments: tuple[Comment, ...]
    problems: tuple[str, ...] = ()
    commit: str | None = None  # the comments ref's commit they were read from


def author(root: Path) -> tuple[str, str | None]:
    """Who git says is writing (``user.name``, ``user.email``): a comment's author.

    Raises:
        GitFailed: git knows no identity here.
    """
    try:
        ident = _git.run(root, ["var", "GIT_AUTHOR_IDENT"]).decode("utf-8", "replace")
    except GitFailed as e:
        raise GitFailed(
            "git does not know who you are; run git config user.name 'Your Name' and "
            "git config user.email you@example.com"
        ) from e
    name, _, rest = ident.partition("<")
    email = rest.split(">", 1)[0].strip()
    return name.strip(), email or None


# ------------------------------------------------------------------------ reading


def tip(root: Path, ref: str = COMMENTS_REF) -> str | None:
    """The commit ``ref`` names, None when it is unset."""
    if ref_lookup.absent(root, ref):  # an unset ref costs no git process (#26)
        return None
    found = _repo.rev_parse(_repo.open_repo(root), ref)
    return found


def fetch(root: Path, remote: str) -> str | None:
    """The remote's comments ref (fetched, with its history), None when it has none; the
    local ref fast-forwards to it when it is behind.

    Raises:
        RemoteUnavailable: the remote cannot be reached.
    """
    if not _net.fetch(root, remote, [f"+{COMMENTS_REF}:{FETCHED_REF}"]):
        _git.run(root, ["update-ref", "-d", FETCHED_REF])
        return None
    fetched = tip(root, FETCHED_REF)
    local = tip(root)
    if fetched is not None and (local is None or _git.is_ancestor(root, local, fetched)):
        repo = _repo.open_repo(root)
        _repo.update_ref(repo, COMMENTS_REF, fetched, local, "gitreg: fetch comments")
    return fetched


def read(root: Path, name_dir: str | None = None) -> Found:
    """The comments on the local ref (under ``<stem>[/<version>]`` when ``name_dir``), plus
    those only the last fetched remote ref has (a clone whose comments diverged)."""
    local, fetched = tip(root), tip(root, FETCHED_REF)
    tips = [c for c in (local, fetched) if c is not None]
    if fetched is not None and local is not None and _git.is_ancestor(root, fetched, local):
        tips = [local]
    merged: dict[str, Comment] = {}
    problems: list[str] = []
    for commit in tips:
        found = _read_at(root, commit, name_dir)
        problems += [p for p in found.problems if p not in problems]
        for comment in found.comments:
            kept = merged.get(comment.id)
            if kept is None or comment.last_updated_timestamp > kept.last_updated_timestamp:
                merged[comment.id] = comment
    ordered = sorted(merged.values(), key=lambda c: (c.creation_timestamp, c.id))
    return Found(tuple(ordered), tuple(problems), local or fetched)


def _read_at(root: Path, commit: str, name_dir: str | None) -> Found:
    spec = ["--", f"{name_dir}/"] if name_dir else []
    out = _git.run(root, ["ls-tree", "-r", "-z", "--full-tree", commit, *spec])
    wanted: dict[str, str] = {}
    problems = []
    for line in out.split(b"\0"):
        meta, _, raw = line.partition(b"\t")
        if not raw:
            continue
        mode, _kind, oid = meta.decode().split()
        path = raw.decode("utf-8", "surrogateescape")
        if mode != "100644" or path.count("/") != 2:
            problems.append(f"{COMMENTS_REF}:{path} is not a comment file; it is ignored")
        elif len(wanted) < MAX_COMMENTS:
            wanted[path] = oid
    if len(wanted) >= MAX_COMMENTS:
        problems.append(f"only the first {MAX_COMMENTS:,} comments are read")
    texts = _git.read_blobs(root, sorted(set(wanted.values())))
    comments = []
    for path, oid in wanted.items():
        try:
            comments.append(parse_file(path, texts[oid]))
        except InvalidManifest as e:
            problems.append(f"{COMMENTS_REF}:{e.message}; it is ignored")
    return Found(tuple(comments), tuple(problems), commit)


# ------------------------------------------------------------------------ writing


def write(root: Path, remote: str | None, change: Change[T], message: str) -> tuple[T, str | None]:
    """Apply ``change`` to the comments (fetched from ``remote`` first, when given) and
    commit it, pushing it to ``remote``; retried on a lost race. Returns ``change``'s result
    and the commit (None when it changed nothing).

    ``change`` gets a reader of the files at the tip it is applied to and returns the files
    it changes (path -> bytes, None deletes) and its result; it may run more than once.

    Raises:
        ConcurrentUpdate: the race was lost ``MAX_ATTEMPTS`` times.
        RemoteUnavailable, PushRejected: the remote cannot be reached or refused the push.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        outcome = _attempt(root, remote, change, message)
        if outcome is not None:
            return outcome
        import time

        time.sleep(backoff(attempt))
    raise ConcurrentUpdate(
        f"{COMMENTS_REF} kept changing while gitreg wrote the comment ({MAX_ATTEMPTS} "
        "tries); nothing was written: try again"
    )


def _attempt(
    root: Path, remote: str | None, change: Change[T], message: str
) -> tuple[T, str | None] | None:
    """One try: the result, or None when another writer moved a ref first."""
    repo = _repo.open_repo(root)
    local = tip(root)
    remote_tip = fetch(root, remote) if remote is not None else None
    base = _base(root, repo, local, remote_tip)
    files: dict[str, bytes | None] = {}

    def reader(path: str) -> bytes | None:
        if path not in files:
            files[path] = (
                _git.read_objects(root, [f"{base}:{path}"])[f"{base}:{path}"] if base else None
            )
        return files[path]

    changes, result = change(reader)
    if not changes:
        return result, None
    blobs = {
        path: (_commit.write_blob(repo, data) if data is not None else None)
        for path, data in changes.items()
    }
    commit = _commit.commit_tree(repo, base, blobs, message)
    if remote is not None:
        lost = _net.push(root, remote, f"{commit}:{COMMENTS_REF}")
        if lost is not None:
            return None
    moved = _repo.update_ref(repo, COMMENTS_REF, commit, local, f"gitreg: {message}")
    if not moved and remote is None:
        return None  # another process on this clone wrote first: apply it again
    return result, commit


def _base(root: Path, repo: _repo.Repo, local: str | None, remote_tip: str | None) -> str | None:
    """The commit a change goes on: the remote's tip, carrying over what only this clone has."""
    if remote_tip is None or local is None or local == remote_tip:
        return remote_tip or local
    if _git.is_ancestor(root, local, remote_tip):
        return remote_tip
    if _git.is_ancestor(root, remote_tip, local):
        return local  # comments not pushed yet: they go out with this one
    return _carry_over(root, repo, local, remote_tip)


def _carry_over(root: Path, repo: _repo.Repo, local: str, remote_tip: str) -> str:
    """A commit on ``remote_tip`` with every file this clone changed since they parted."""
    try:
        parted = _git.run(root, ["merge-base", local, remote_tip]).decode().strip()
    except GitFailed:
        parted = _git.EMPTY_TREE  # unrelated histories: all of this clone's comments
    out = _git.run(root, ["diff-tree", "-r", "-z", "--no-renames", parted, local])
    changes = _diff_changes(out)
    if not changes:
        return remote_tip
    return _commit.commit_tree(
        repo, remote_tip, changes, "Carry over comments made while the remote was out of reach"
    )


def _diff_changes(raw: bytes) -> Mapping[str, str | None]:
    """``git diff-tree -r -z`` output as path -> new blob id (None: deleted)."""
    parts = raw.split(b"\0")
    changes: dict[str, str | None] = {}
    index = 0
    while index + 1 < len(parts):
        meta = parts[index].decode()
        if not meta.startswith(":"):
            index += 1
            continue
        fields = meta[1:].split()
        path = parts[index + 1].decode("utf-8", "surrogateescape")
        changes[path] = None if fields[4] == "D" else fields[3]
        index += 2
    return changes
