"""What differs between a commit and the work tree: the reads ``gitreg validate`` makes.

The gate judges a change; this module only finds it: the merge base of a pull request's
base and HEAD, the registry paths that differ from a commit (untracked files included),
and the contents of files at commits, all in a handful of git processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from gitreg.core.errors import BadRef, GitFailed, git_kind
from gitreg.store import _git

blob_id = _git.blob_id


def resolve_commit(root: Path, ref: str) -> str:
    """The commit id ``ref`` names; BadRef if it names none."""
    return _git.resolve_commit(root, ref)


def head_commit(root: Path) -> str | None:
    """HEAD's commit, or None in a repository with no commit yet."""
    try:
        return _git.resolve_commit(root, "HEAD")
    except BadRef:
        return None


def merge_base(root: Path, one: str, other: str) -> str | None:
    """The best common ancestor of two commits, or None when they share no history."""
    try:
        return _git.run(root, ["merge-base", one, other]).decode().strip() or None
    except GitFailed:
        return None


def parents(root: Path, commit: str) -> tuple[str, ...]:
    """The parents of ``commit`` (a merge has two), first parent first."""
    line = _git.run(root, ["rev-list", "--parents", "-n", "1", commit, "--"]).decode().split()
    return tuple(line[1:])


def prefix(root: Path) -> str:
    """The directory of ``root`` inside its git repository: ``""`` at the top, else ``dir/``."""
    try:
        return _git.run(root, ["rev-parse", "--show-prefix"]).decode().strip()
    except GitFailed:
        return ""


def changed_paths(root: Path, commit: str, pathspecs: Sequence[str]) -> set[str]:
    """Paths under ``pathspecs`` that differ between ``commit`` and the work tree.

    Untracked files count (a new manifest not yet added is part of the change); ignored
    files do not.
    """
    with contextlib.suppress(GitFailed):  # stat-only changes would look like edits
        _git.run(root, ["update-index", "-q", "--refresh"])
    spec = ["--", *pathspecs]
    out = _git.run(
        root, ["diff-index", "-z", "--name-only", "--no-renames", "--relative", commit, *spec]
    )
    out += _git.run(root, ["ls-files", "-z", "--others", "--exclude-standard", *spec])
    return {p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p}


def read_at(root: Path, specs: Sequence[str]) -> dict[str, bytes | None]:
    """Blobs named ``commit:path`` (or by id), in one process; None for a missing one."""
    return _git.read_objects(root, specs)


def list_names_at(root: Path, commit: str, directory: str) -> list[str]:
    """The names of the entries directly in ``directory`` at ``commit`` (any kind)."""
    out = _git.run(
        root, ["ls-tree", "-z", "--name-only", "--full-tree", commit, "--", f"{directory}/"]
    )
    return [p.decode("utf-8", "surrogateescape").rsplit("/", 1)[-1] for p in out.split(b"\0") if p]


def list_tree_at(root: Path, commit: str, directory: str) -> list[str]:
    """The paths of every file under ``directory`` at ``commit``, recursively (#28)."""
    out = _git.run(
        root, ["ls-tree", "-r", "-z", "--name-only", "--full-tree", commit, "--", f"{directory}/"]
    )
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


def read_files_at(
    root: Path, commit: str, paths: Iterable[str], prefix: str = ""
) -> tuple[dict[str, bytes | None], dict[str, str]]:
    """The regular files among ``paths`` at ``commit``, and what the others are there.

    Returns ``(contents, irregular)``: ``contents[path]`` is the file's bytes, or None when
    it is absent or not a regular file (git mode 100644); ``irregular[path]`` says what
    such an entry is ("a symbolic link", ...). Nothing is read through a link (see #12).
    ``prefix`` is the registry's directory inside its repository.
    """
    wanted = set(paths)
    directories = sorted({p.rsplit("/", 1)[0] + "/" for p in wanted if "/" in p})
    tops = sorted(p for p in wanted if "/" not in p)
    out = _git.run(
        root,
        [
            "ls-tree",
            "-z",
            "--full-tree",
            commit,
            "--",
            *(prefix + d for d in [*directories, *tops]),
        ],
    )
    oids: dict[str, str] = {}
    irregular: dict[str, str] = {}
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, raw = record.partition(b"\t")
        mode, _kind, oid = meta.decode().split()
        path = raw.decode("utf-8", "surrogateescape").removeprefix(prefix)
        if path not in wanted:
            continue
        if mode == "100644":
            oids[path] = oid
        else:
            irregular[path] = git_kind(mode)
    blobs = _git.read_objects(root, sorted(set(oids.values())))
    contents: dict[str, bytes | None] = dict.fromkeys(wanted)
    contents.update({p: blobs.get(oid) for p, oid in oids.items()})
    return contents, irregular
