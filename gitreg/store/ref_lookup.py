"""Refs read in process where git's answer is certain (#26): an absent ref, HEAD's commit, a
parent.

A catalog rebuild asked ``git rev-parse --verify <ref>^{commit}`` four times only to learn
that a ref is unset (the verified tip, the comments refs, the approvals notes), and once
for HEAD; each is a process. What git would answer is read here from the files git keeps,
in the files backend of a plain repository (no extension or include in the repository's
config, which is where git reads another ref storage or object format from; no variable
moving git's directories or replacing objects), and only when the answer is certain:

- ``absent``: True only when none of the names git's ``rev-parse`` tries for the ref
  (``<ref>``, ``refs/<ref>``, ``refs/tags/<ref>``, ``refs/heads/<ref>``,
  ``refs/remotes/<ref>``, ``refs/remotes/<ref>/HEAD``: git's ``ref_rev_parse_rules``) is a
  loose ref or a line of ``packed-refs``. Anything else (the ref or a path to it exists in
  any form, a name with characters git reads specially) answers False, and the caller
  asks git as before.
- ``head_commit``: HEAD's commit when HEAD is a plain symbolic ref to a branch whose loose
  or packed value is a full object id, or HEAD itself holds one (git refuses to point HEAD
  or a branch at anything but a commit); None when unsure.
- ``is_parent``: whether ``older`` is a parent of ``newer``, read from ``newer``'s loose
  commit object, when no graft, replacement or shallow boundary could change what git sees.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gitreg.store import _git
from gitreg.store._refs import is_oid, packed_value

# A ref name made of plain parts: nothing git reads as a revision expression (``^``, ``~``,
# ``:``, ``@{``, ``..``, a describe suffix is never a full ref path), no hidden component.
_PLAIN_REF = re.compile(r"refs(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)+")
# Environment variables that move git's directories or objects, or replace objects.
_MOVED = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_REPLACE_REF_BASE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_GRAFT_FILE",
    "GIT_SHALLOW_FILE",
)


def _dirs(root: Path) -> tuple[Path, Path] | None:
    """(git dir, common dir) of a plain repository at ``root``; None when refs cannot be
    read here (another ref storage or object format, a moved directory)."""
    if any(name in os.environ for name in _MOVED):
        return None
    git_dir = _git.git_dir_of(root)
    try:
        common = (git_dir / (git_dir / "commondir").read_text("utf-8").strip()).resolve()
    except FileNotFoundError:
        common = git_dir
    except OSError:
        return None
    # git reads the repository's format (its ref storage, its object format) from this
    # file alone; any extension or include there, and git is asked (no config process).
    try:
        config = (common / "config").read_bytes().lower()
    except OSError:
        return None
    if b"extensions" in config or b"include" in config:
        return None
    return git_dir, common


def _packed(common: Path) -> bytes | None:
    """``packed-refs`` (b"" when there is none); None when it cannot be read."""
    try:
        data = (common / "packed-refs").read_bytes()
    except FileNotFoundError:
        return b""
    except OSError:
        return None
    return data if data.endswith(b"\n") or not data else data + b"\n"


def _loose_exists(common: Path, name: str) -> bool | None:
    """Whether anything exists at the loose path of ``name`` (None: cannot tell)."""
    try:
        os.lstat(common / name)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return None
    return True


def absent(root: Path, ref: str) -> bool:
    """Whether git would find no ref ``ref`` (a full ``refs/...`` name) in the clone at
    ``root``: True only when that is certain (see module doc)."""
    if not _PLAIN_REF.fullmatch(ref) or ref.endswith(".lock"):
        return False
    if ref.startswith(("refs/bisect/", "refs/worktree/", "refs/rewritten/")):
        return False  # per-worktree refs: git's own
    found = _dirs(root)
    if found is None:
        return False
    _git_dir, common = found
    packed = _packed(common)
    if packed is None:
        return False
    for name in _candidates(ref):
        if _loose_exists(common, name) is not False:
            return False
        if b" " + name.encode() + b"\n" in packed:
            return False
    return True


def _candidates(ref: str) -> list[str]:
    """The names ``rev-parse`` tries for ``ref``, in git's order (``ref_rev_parse_rules``)."""
    return [
        ref,
        f"refs/{ref}",
        f"refs/tags/{ref}",
        f"refs/heads/{ref}",
        f"refs/remotes/{ref}",
        f"refs/remotes/{ref}/HEAD",
    ]


def head_commit(root: Path) -> str | None:
    """HEAD's commit read in process, or None when git should be asked (see module doc)."""
    found = _dirs(root)
    if found is None:
        return None
    git_dir, common = found
    try:
        head = (git_dir / "HEAD").read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if is_oid(head):
        return head
    branch = head.removeprefix("ref: ")
    if branch == head or not branch.startswith("refs/heads/") or not _PLAIN_REF.fullmatch(branch):
        return None
    path = common / branch
    try:
        if path.is_symlink():
            return None
        text = path.read_bytes().decode("utf-8").strip()
    except FileNotFoundError:
        return _packed_value(common, branch)
    except (OSError, UnicodeDecodeError):
        return None
    return text if is_oid(text) else None


def _packed_value(common: Path, ref: str) -> str | None:
    packed = _packed(common)
    return (packed_value(packed, ref) or None) if packed else None


def is_parent(root: Path, older: str, newer: str) -> bool:
    """Whether commit ``older`` is a parent of commit ``newer``: True only when read so from
    ``newer``'s loose object with nothing that could change git's view of parents (grafts,
    replacements, a shallow clone)."""
    from gitreg.store import _odb

    if not (is_oid(older) and is_oid(newer)):
        return False
    found = _dirs(root)
    if found is None:
        return False
    _git_dir, common = found
    if any((common / p).exists() for p in ("info/grafts", "shallow", "refs/replace")):
        return False
    packed = _packed(common)
    if packed is None or b" refs/replace/" in packed:
        return False
    read = _odb.read_loose(common / "objects", newer)
    if read is None or read[1] != "commit":
        return False
    for line in read[2].split(b"\n"):
        if not line:
            break  # the headers end at the first empty line
        if line == b"parent " + older.encode():
            return True
    return False
