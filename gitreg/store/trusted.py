"""Trees of manifests this clone judged valid itself, so a first write to one patches it (#26).

A write patches a manifest flat (``services.flat``: one entry and the header checked, the
other entries kept byte for byte) only when it trusts the old text to have passed every
check. ``cache.trusted_written`` trusts a blob gitreg wrote itself; this module trusts a
whole ``models/`` tree, by its id, in two cases only:

- a whole-registry read of this clone (``Store.read_registry``) judged every manifest of
  the tree valid: each ``*.yaml`` in it is a regular file whose path and blob id the read
  served (``record_read``);
- a write built the tree from a trusted one, every manifest it changed having been checked
  by this write (in full by ``Transaction.validate``, or flat from a trusted text), and
  committed it (``record_write``).

A tree anyone else made (a pull, a merge, ``git commit``, a hand edit committed, another
clone's write) has another id and no record, so its manifests are checked in full by the
first write to each, as before; a new gitreg release or a new version of the checks trusts
no earlier record. The record is ``<git dir>/gitreg/trusted-trees``: the stamp (gitreg's
version and the checks') on its first line, then one tree id a line, the newest last:
clone-local state like ``written/``, content addressed (a tree id names its bytes), so
never stale.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gitreg.core.config import MODELS_DIR, RETIRED_FILE
from gitreg.store import cache

if TYPE_CHECKING:
    from gitreg.store import _odb
    from gitreg.store._repo import Repo

KEEP = 64  # trees kept when the record is compacted: readers need only the recent ones
MOST = 256  # lines the record grows to by appends before it is compacted
_FILE = "trusted-trees"
_FILE_MODE = b"100644"
_TREE_MODE = b"40000"


def _lines(state_dir: Path) -> list[bytes] | None:
    """The record's tree ids (bytes, one a line), None when it is missing or of another
    release or version of the checks (its first line, the stamp, says which)."""
    try:
        with open(state_dir / _FILE, "rb") as f:
            data = f.read(1 << 20)  # a compacted record is 3 kB; never more than 12 kB
    except OSError:
        return None
    stamp, _, rest = data.partition(b"\n")
    return rest.split(b"\n") if stamp == cache.stamp() else None


def holds(state_dir: Path, tree: str | None) -> bool:
    """Whether this clone judged every manifest of the ``models/`` tree ``tree`` valid."""
    if tree is None:
        return False
    lines = _lines(state_dir)
    return lines is not None and tree.encode() in lines  # whole lines: a torn one is none


def remember(state_dir: Path, tree: str) -> None:
    """Record ``tree`` as judged valid (a failure only costs a full check later).

    One line appended (``O_APPEND``: no file made or removed per write, and appends of
    other processes are never interleaved); past ``MOST`` lines the newest ``KEEP`` are
    written to a new record renamed into place (an append racing with that may be lost:
    it only costs a full check)."""
    line = tree.encode() + b"\n"
    with contextlib.suppress(OSError):
        lines = _lines(state_dir)
        if lines is not None and len(lines) <= MOST:
            fd = os.open(state_dir / _FILE, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            return
        kept = [t for t in (lines or []) if len(t) == 40][-KEEP:]
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / f"{_FILE}.{os.getpid()}.tmp"
        tmp.write_bytes(b"\n".join([cache.stamp(), *kept, b""]) + line)
        os.replace(tmp, state_dir / _FILE)


def models_tree(repo: Repo, commit: str | None) -> str | None:
    """The id of ``commit``'s ``models/`` tree, read in process (None: none, or not a plain
    repository, where nothing is trusted this way)."""
    if commit is None or not repo.fast:
        return None
    from gitreg.core.errors import GitregError
    from gitreg.store import _odb, _repo

    trees = _odb.TreeWriter(repo.reader, repo.objects, repo.trees)
    try:
        entry = trees.load(_repo.root_tree(repo, commit)).entry(MODELS_DIR.encode())
    except (GitregError, KeyError, ValueError):
        return None
    return entry[1] if entry is not None and entry[0] == _TREE_MODE else None


def derived(changes: Mapping[str, bytes | None], checked: set[str]) -> bool:
    """Whether a tree made by ``changes`` from a trusted tree is trusted too: every manifest
    it adds or changes is in ``checked`` (the paths this write judged valid)."""
    return all(
        data is None or path in checked for path, data in changes.items() if is_manifest(path)
    )


def is_manifest(path: str) -> bool:
    """Whether ``path`` is a model's manifest (what a trusted tree vouches for)."""
    return (
        path.startswith(f"{MODELS_DIR}/")
        and path.endswith(".yaml")
        and path != RETIRED_FILE
        and path.count("/") == 1
    )


def record_read(
    open_repo: Callable[[], Repo], state_dir: Path, at: str | None, served: Mapping[str, str]
) -> None:
    """After a whole-registry read that served ``served`` (manifest path -> blob id): record
    the ``models/`` tree at ``at`` (the work tree's read: the checked-out branch's tip) if
    every manifest in it is a regular file the read served with the same blob (``open_repo``:
    the store's repository, opened only now). The tree is
    read by its id, in process, so a commit made meanwhile cannot slip in content the read
    did not judge, and a read starts no git process for it where its objects are loose."""
    from gitreg.core.errors import GitregError
    from gitreg.store import _odb, _repo

    try:
        repo = open_repo()
        if not repo.fast:
            return
        branch = _repo.current_branch(repo) if at is None else None
        commit = _repo.rev_parse(repo, f"refs/heads/{branch}" if branch else at or "HEAD")
        tree = models_tree(repo, commit)
        if tree is None or holds(state_dir, tree):
            return
        listed = _odb.TreeWriter(repo.reader, repo.objects, repo.trees).load(tree)
        if _all_served(listed, served):
            remember(state_dir, tree)
    except (GitregError, OSError, KeyError, ValueError):
        return


def _all_served(tree: _odb.Tree, served: Mapping[str, str]) -> bool:
    """Whether every manifest of ``tree`` (``models/``) is a regular file ``served`` holds."""
    prefix = f"{MODELS_DIR}/"
    wanted = {
        path[len(prefix) :].encode("utf-8", "surrogateescape"): oid
        for path, oid in served.items()
        if path.startswith(prefix)
    }
    retired = RETIRED_FILE[len(prefix) :].encode()
    raw = tree.raw
    for name, (start, end) in tree.spans.items():
        if not name.endswith(b".yaml") or name == retired:
            continue  # a card, a subdirectory, the retired list: not a manifest
        if raw[start : start + 7] != b"100644 " or wanted.get(name) != raw[end - 20 : end].hex():
            return False
    return True
