"""Moving a branch in process, by git's own locking rules (#26).

``git update-ref`` costs a process; what it does for a loose ref of the files backend is
short, and this module does exactly that, in the same order:

1. take ``<ref>.lock`` with ``O_CREAT|O_EXCL`` (retried for ``core.filesRefLockTimeout``,
   100 ms by default, as git does), and ``HEAD.lock`` too when HEAD points at the branch
   (git logs the move in HEAD's reflog as well, under that lock);
2. read the ref under the lock (its loose file, else ``packed-refs``) and compare it with
   the expected old value: a mismatch releases the locks and answers False;
3. write the new id to the lock file, ``fsync`` it when ``core.fsync`` names references;
4. append ``old new Name <email> seconds zone<TAB>message`` to the reflogs git would
   append to (``core.logAllRefUpdates``), the message squeezed as git squeezes it;
5. rename the lock over the ref, and drop ``HEAD.lock``.

Anything it cannot do exactly as git would (a symbolic or symlinked ref, a shared
repository's permissions, an identity git would reformat) answers None, and the caller
runs ``git update-ref``. A killed writer's lock files are cleared by the next lock holder
(``worktree.busy``), as those of a killed ``git update-ref`` are.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Protocol


class Repo(Protocol):
    """What these functions read of ``_repo.Repo`` (named here: ``_repo`` imports this)."""

    git_dir: Path
    common_dir: Path
    config: dict[str, str]


ZERO = "0" * 40
_SPACE = " \t\n\r"  # git's isspace()


def is_true(value: str) -> bool:
    return value.lower() in ("true", "yes", "on", "1", "")


def is_oid(text: str) -> bool:
    return len(text) == 40 and all(c in "0123456789abcdef" for c in text)


def packed_ref(repo: Repo, ref: str) -> str | None:
    try:
        text = (repo.common_dir / "packed-refs").read_bytes()
    except FileNotFoundError:
        return None
    return packed_value(text, ref)


def packed_value(packed: bytes, ref: str) -> str | None:
    """``ref``'s id in the text of ``packed-refs``: None when it is not there, "" when its
    line is not one this reader can trust (git is asked then)."""
    needle = b" " + ref.encode() + b"\n"
    at = packed.find(needle)
    if at < 40 or (at > 40 and packed[at - 41 : at - 40] != b"\n"):
        return None if at < 0 else ""
    oid = packed[at - 40 : at].decode("ascii", "replace")
    return oid if is_oid(oid) else ""


# git drops these from both ends of a name or email ("crud", ident.c), and '<', '>' and
# newlines anywhere; an identity with any of them is left to git to format.
_CRUD = frozenset(",:;<>\"\\'.") | {chr(c) for c in range(33)}


def ident(repo: Repo, role: str) -> str | None:
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


class _Fallback(Exception):
    """This case is git's to handle (see module doc)."""


def fsync_components(value: str | None) -> set[str]:
    """Which of ``reference`` and ``index`` ``core.fsync`` makes git fsync (its default: neither).

    Components as git parses them (``config.c``): a comma-separated list where ``-x``
    removes ``x``, ``none`` clears, and the aggregates ``committed`` (objects and
    references), ``added`` (committed and the index) and ``all`` include them.
    """
    chosen: set[str] = set()
    for raw in (value or "").split(","):
        token = raw.strip().lower()
        remove = token.startswith("-")
        token = token.removeprefix("-")
        found = {
            "reference": {"reference"},
            "index": {"index"},
            "committed": {"reference"},
            "added": {"reference", "index"},
            "all": {"reference", "index"},
        }.get(token, set())
        if token == "none":
            chosen.clear()
        elif remove:
            chosen -= found
        else:
            chosen |= found
    return chosen


def squeeze(message: str) -> str:
    """The reflog message as git stores it: whitespace runs as one space, ends trimmed."""
    out: list[str] = []
    was_space = True
    for char in message:
        if char in _SPACE:
            if was_space:
                continue
            was_space = True
            out.append(" ")
        else:
            was_space = False
            out.append(char)
    return "".join(out).rstrip(_SPACE)


def _lock(path: Path, timeout_ms: int) -> int:
    """``path`` + ``.lock``, created exclusively, waiting as git's ``hold_lock_file`` does."""
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + max(timeout_ms, 0) / 1000
    delay = 0.001
    while True:
        try:
            return os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.025)


def _current(repo: Repo, ref: str) -> str | None:
    """The ref's value under its lock: the loose file, else packed-refs, else None."""
    path = repo.common_dir / ref
    if path.is_symlink():
        raise _Fallback("a symlinked ref")
    try:
        text = path.read_text("utf-8").strip()
    except FileNotFoundError:
        found = packed_ref(repo, ref)
        if found == "":
            raise _Fallback("packed-refs unreadable here") from None
        return found
    except (IsADirectoryError, NotADirectoryError) as e:
        raise _Fallback(str(e)) from e
    if not is_oid(text):
        raise _Fallback("a symbolic ref")
    return text


def _head_target(repo: Repo) -> str | None:
    try:
        text = (repo.git_dir / "HEAD").read_text("utf-8").strip()
    except OSError:
        return None
    return text.removeprefix("ref: ") if text.startswith("ref: ") else None


def _logs(repo: Repo, ref: str, head_too: bool) -> list[Path]:
    """The reflogs git appends to for this update (``core.logAllRefUpdates``)."""
    setting = repo.config.get("core.logallrefupdates", "true").lower()  # not bare: true
    logs = [(repo.common_dir / "logs" / ref, ref)]
    if head_too:
        logs.append((repo.git_dir / "logs" / "HEAD", "HEAD"))
    chosen = []
    for path, name in logs:
        auto = setting == "always" or (
            is_true(setting)
            and (name == "HEAD" or name.startswith(("refs/heads/", "refs/remotes/", "refs/notes/")))
        )
        if auto or path.exists():
            chosen.append(path)
    return chosen


def _zone() -> str:
    offset = time.localtime().tm_gmtoff // 60
    return f"{'-' if offset < 0 else '+'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"


def plain_name(ref: str) -> bool:
    """A branch or remote-tracking name that is a plain path (git checks the rest)."""
    parts = ref.split("/")
    return (
        ref.startswith(("refs/heads/", "refs/remotes/"))
        and all(p and not p.startswith(".") and not p.endswith((".lock", ".")) for p in parts)
        and not any(c in ref for c in "\\ ~^:?*[\0\n\r\t\x7f@{")
    )


def update_ref(repo: Repo, ref: str, new: str, old: str | None, reason: str) -> bool | None:
    """Move ``ref`` from ``old`` (None: absent) to ``new`` as ``git update-ref`` would.

    True when moved, False when the ref was not at ``old`` or its lock is held by another
    process (git's "cannot lock ref"), None when git must do it (see module doc).
    """
    committer = ident(repo, "committer")
    config = repo.config
    unusual = config.get("core.sharedrepository") or config.get("core.prefersymlinkrefs")
    if not plain_name(ref) or committer is None or unusual:
        return None
    try:
        timeout = int(config.get("core.filesreflocktimeout", "100"))
    except ValueError:
        return None
    path = repo.common_dir / ref
    head_too = _head_target(repo) == ref
    locks: list[Path] = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _lock(path, timeout)
        locks.append(path.with_name(path.name + ".lock"))
        if head_too:
            os.close(_lock(repo.git_dir / "HEAD", timeout))
            locks.append(repo.git_dir / "HEAD.lock")
        if _current(repo, ref) != old:
            os.close(fd)
            return False
        _write_and_log(repo, fd, ref, new, old, reason, committer, head_too)
        os.replace(locks[0], path)
        locks.pop(0)
        return True
    except FileExistsError:
        return False
    except _Fallback:
        return None
    finally:
        for lock in locks:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)


def _write_and_log(
    repo: Repo,
    fd: int,
    ref: str,
    new: str,
    old: str | None,
    reason: str,
    committer: str,
    head_too: bool,
) -> None:
    sync = "reference" in fsync_components(repo.config.get("core.fsync"))
    try:
        os.write(fd, f"{new}\n".encode())
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if old == new:
        return  # git writes no reflog line for a ref that does not move
    line = f"{old or ZERO} {new} {committer} {int(time.time())} {_zone()}"
    message = squeeze(reason)
    entry = (f"{line}\t{message}\n" if message else f"{line}\n").encode()
    for log in _logs(repo, ref, head_too):
        log.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(log_fd, entry)
            if sync:
                os.fsync(log_fd)
        finally:
            os.close(log_fd)
