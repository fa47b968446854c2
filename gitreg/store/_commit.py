"""Building commits: blobs, the commit object and the author identity git would use.

In a plain repository the blob, the trees on the changed paths and the commit are
written as loose objects by this process (``_odb``), with the identity and time zone git
would pick; anything unusual (signing, another commit encoding, an identity git would
reformat) goes through git's own temporary index, ``write-tree`` and ``commit-tree``
(#15). Moving a branch to the commit is ``_repo.update_ref``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gitreg.core.errors import GitFailed
from gitreg.store._git import EMPTY_TREE, run
from gitreg.store._refs import ident as _ident
from gitreg.store._repo import Repo, call, is_true, root_tree

if TYPE_CHECKING:
    from gitreg.core.identity import Identity


def write_blob(repo: Repo, data: bytes, like: str | None = None) -> str:
    """Store ``data`` as a blob and return its id; ``like``: the blob it replaces (whose
    compressed pieces a large blob reuses, see ``_deflate``)."""
    if repo.fast:
        from gitreg.store._odb import write_loose
        from gitreg.store._repo import keep_blob

        oid = write_loose(repo.objects, "blob", data, like=like)
        keep_blob(repo, oid, data)  # the next write of this model reads it back
        return oid
    return call(repo, "hash-object", "-w", "--stdin", stdin=data).strip()


def commit_tree(
    repo: Repo,
    parent: str | None,
    changes: Mapping[str, str | None],
    message: str,
    author_as: Identity | None = None,
    committer_as: Identity | None = None,
) -> str:
    """A new commit: ``parent``'s tree with ``changes`` (path -> blob id, None deletes).

    ``author_as`` is the commit's author instead of git's identity (the caller an MLflow
    server authenticated, #25); the committer is git's identity, the process's, unless
    ``committer_as`` names another (a writer committing a request handed over by another
    process commits it as that process would have, #26).
    """
    author = str(author_as) if author_as is not None else _ident(repo, "author")
    committer = str(committer_as) if committer_as is not None else _ident(repo, "committer")
    if repo.fast and author is not None and committer is not None and _plain_commits(repo):
        from gitreg.store import _odb

        writer = _odb.TreeWriter(repo.reader, repo.objects, repo.trees)
        tree = writer.update(root_tree(repo, parent), changes) or EMPTY_TREE
        if tree == EMPTY_TREE:
            _odb.write_loose(repo.objects, "tree", b"")
        commit = _odb.write_loose(
            repo.objects, "commit", _commit(tree, parent, author, committer, message)
        )
        repo.commit_trees[commit] = tree  # the next write builds on it (root_tree)
        return commit
    return _commit_through_index(repo, parent, changes, message, author_as, committer_as)


def _plain_commits(repo: Repo) -> bool:
    """No signing and UTF-8 messages: the commit is exactly what ``commit-tree`` writes."""
    config = repo.config
    return not is_true(config.get("commit.gpgsign", "false")) and (
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


def _commit_through_index(
    repo: Repo,
    parent: str | None,
    changes: Mapping[str, str | None],
    message: str,
    author_as: Identity | None = None,
    committer_as: Identity | None = None,
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
    who: dict[str, str] = {}
    if author_as is not None:
        who |= {"GIT_AUTHOR_NAME": author_as.name, "GIT_AUTHOR_EMAIL": author_as.email}
    if committer_as is not None:
        who |= {"GIT_COMMITTER_NAME": committer_as.name, "GIT_COMMITTER_EMAIL": committer_as.email}
    return call(
        repo, "commit-tree", tree, *parents, stdin=message.encode(), env=who or None
    ).strip()


def identity(repo: Repo) -> str:
    """The author name git will use, for ``created_by``."""
    ident = _ident(repo, "author")
    if ident is not None:
        return ident.rsplit("<", 1)[0].strip()
    try:
        ident = call(repo, "var", "GIT_AUTHOR_IDENT")
    except GitFailed as e:
        raise GitFailed(
            "git does not know who you are; run git config user.name 'Your Name' and "
            "git config user.email you@example.com"
        ) from e
    return ident.rsplit("<", 1)[0].strip()
