"""Group commit's hand-over: a writer that finds the clone locked gives its write to the
holder as data, and the holder applies it as that writer's own commit (#26).

Without it, 16 writer processes on one clone each took the clone's lock in turn to build
their own commit, cold (a fresh ``cat-file``, a fresh tree, the manifest parsed again):
that serialized section, not the push, bounded their throughput. With it, a writer whose
operation is pure data (register a version, transition, alias, tags: ``Recipe``) and who
finds the lock taken writes a *request* into ``.git/gitreg/spool/`` and waits. The holder,
after its own write and still under the lock, *claims* each request, runs the operation on
its warm state as a separate commit with the requester's author, committer, time and
message, queues it (``group``) and writes the requester's *answer*: its commit and result,
or its error (the same GitregError class, code and message). The holder's one push then
carries every queued commit, and each requester waits for its commit on the remote as any
queued writer does (``group.await_push``).

A request's life, in files named by the requester's id (all written atomically):
``ID.req`` (waiting) -> ``ID.held`` (claimed by the holder: a rename, so it and a requester
withdrawing it can never both win) -> ``ID.out`` (the answer). The holder writes the
answer *before* it queues the commit, and removes ``ID.held`` once it is queued; a
requester acts on its answer only then, or once it holds the lock itself (the holder is
gone), so what it finds decides everything:

- an answer: its result (and ``group.await_push`` then tells whether the commit reached
  the remote, or was dropped and must be applied again: never both), or its error;
- no answer once it holds the lock itself (the holder is gone: finished, or killed): the
  request was never applied or its commit never queued, so it applies its own mutation;
- an answer that says *declined*: the holder could not apply it as the requester would
  have (a review to open, an error with more than a message, another branch): the
  requester applies its own mutation. Nothing was committed for it.

Requests are parsed strictly: a malformed or hostile one fails only its requester.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.errors import ConcurrentUpdate, GitregError
from gitreg.store import faults, group
from gitreg.store import spool_codec as codec

if TYPE_CHECKING:
    from gitreg.core.identity import Identity
    from gitreg.store._repo import Repo
    from gitreg.store.remote import Remote
    from gitreg.store.transaction import Transaction

SPOOL = "spool"
MAX_BYTES = 1 << 20  # a request or an answer larger than this is refused
MAX_SERVED = 64  # requests one holder applies before it lets its own push go
STALE_SECONDS = 3600.0  # an answer nobody collected (its requester died) is removed after
POLL_SECONDS = 0.001  # a waiting requester looks for its answer this often at first,
MAX_POLL_SECONDS = 0.005  # then less often (16 requesters polling shared 2 cores)
VERSION = 1

Build = Callable[[Mapping[str, Any]], Callable[["Transaction"], Any]]
_OPERATIONS: dict[str, Build] = {}


def operation(name: str, build: Build) -> None:
    """Let a holder apply requests for ``name``: ``build(args)`` returns the mutation the
    requester would have run (it raises GitregError for arguments it refuses)."""
    _OPERATIONS[name] = build


@record.dataclass(frozen=True, slots=True)
class Recipe:
    """A write as data: a registered ``operation`` and its JSON ``args``."""

    op: str
    args: dict[str, Any]


@record.dataclass(frozen=True, slots=True)
class Answer:
    """What the holder did with a request (see the module doc)."""

    result: Any = None
    commit: str | None = None
    mine: bool = True
    error: GitregError | None = None
    declined: bool = False


def _dir(state_dir: Path) -> Path:
    return state_dir / SPOOL


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), "utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    """A regular file's JSON (never a link, never more than MAX_BYTES); FileNotFoundError."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)  # a link fails, a FIFO does not block
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
            raise codec.SpoolDataError(f"{path.name} is not a regular file of at most 1 MB")
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    finally:
        os.close(fd)
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise codec.SpoolDataError(f"{path.name} is not JSON: {e}") from e


# ------------------------------------------------------------------ the requester's side


def hand_over(
    state_dir: Path,
    request: dict[str, Any],
    try_lock: Callable[[], bool],
    timeout: float,
) -> Answer | None:
    """Hand ``request`` to the holder of the clone's lock (``try_lock`` failed) and return
    its answer, or None once ``try_lock`` succeeds without one (the lock is then held and
    the write is the caller's own; with an answer, the caller releases it).

    Raises:
        ConcurrentUpdate: no answer and no lock for ``timeout`` seconds (the request was
            withdrawn first: it will never be applied).
    """
    spool = _dir(state_dir)
    spool.mkdir(exist_ok=True)
    ident = f"{os.getpid()}-{secrets.token_hex(8)}"
    waiting, held, out = (spool / f"{ident}.{kind}" for kind in ("req", "held", "out"))
    _write_atomically(waiting, request)
    deadline = time.monotonic() + timeout
    delay = POLL_SECONDS
    answer = None
    while True:
        answer = answer or _collect(out)
        if answer is not None and not held.exists():
            return answer  # the holder is done with it: its commit is queued (or none was)
        if try_lock():
            # The holder is gone: what it answered is final; without an answer nobody
            # applied it (or queued its commit), so it is withdrawn and this caller's own.
            answer = answer or _collect(out)
            waiting.unlink(missing_ok=True)
            held.unlink(missing_ok=True)
            return answer
        if time.monotonic() > deadline:
            try:
                waiting.unlink()
            except FileNotFoundError:  # claimed: its holder answers, or dies (the lock)
                deadline = time.monotonic() + timeout
                continue
            raise ConcurrentUpdate(
                f"another gitreg process has held {state_dir / 'lock'} for {timeout:.0f}s; "
                "wait for it to finish and retry"
            )
        time.sleep(delay)
        delay = min(delay * 2, MAX_POLL_SECONDS)


def _collect(out: Path) -> Answer | None:
    """The answer at ``out`` (then removed), or None when there is none yet."""
    try:
        data = _read_json(out)
    except FileNotFoundError:
        return None
    except codec.SpoolDataError as e:
        out.unlink(missing_ok=True)
        raise ConcurrentUpdate(
            f"{out}: the answer to this write is unreadable ({e}); check the remote's "
            "history before you retry"
        ) from e
    out.unlink(missing_ok=True)
    try:
        return _answer(data)
    except codec.SpoolDataError as e:
        raise ConcurrentUpdate(
            f"{out}: the answer to this write is malformed ({e}); check the remote's "
            "history before you retry"
        ) from e


def _answer(data: Any) -> Answer:
    if not isinstance(data, dict) or data.get("v") != VERSION:
        raise codec.SpoolDataError("not an answer gitreg writes")
    if data.get("declined") is True:
        return Answer(declined=True)
    if "error" in data:
        return Answer(error=codec.decode_error(data["error"]))
    commit, mine = data.get("commit"), data.get("mine")
    if not (commit is None or _is_oid(commit)) or not isinstance(mine, bool):
        raise codec.SpoolDataError("an answer's commit is not a commit id")
    return Answer(codec.decode_result(data.get("result")), commit, mine)


def _is_oid(value: object) -> bool:
    return (
        isinstance(value, str) and len(value) == 40 and all(c in "0123456789abcdef" for c in value)
    )


def request(
    recipe: Recipe, branch: str, remote: str, author: str, committer: str, now: int
) -> dict[str, Any]:
    """The request file's content for ``recipe`` (see ``_Request`` for its reading)."""
    return {
        "v": VERSION,
        "op": recipe.op,
        "args": recipe.args,
        "branch": branch,
        "remote": remote,
        "author": author,
        "committer": committer,
        "now": now,
    }


# --------------------------------------------------------------------- the holder's side


@record.dataclass(frozen=True, slots=True)
class _Request:
    op: str
    args: Mapping[str, Any]
    branch: str
    remote: str
    author: Identity
    committer: Identity
    now: int

    @classmethod
    def parse(cls, data: Any) -> _Request:
        fields = {"v", "op", "args", "branch", "remote", "author", "committer", "now"}
        if not isinstance(data, dict) or set(data) != fields or data["v"] != VERSION:
            raise codec.SpoolDataError("not a request gitreg writes")
        if not all(isinstance(data[k], str) for k in ("op", "branch", "remote")):
            raise codec.SpoolDataError("a request's op, branch or remote is not text")
        now = data["now"]
        if not isinstance(data["args"], dict) or not isinstance(now, int) or isinstance(now, bool):
            raise codec.SpoolDataError("a request's args or time has the wrong type")
        return cls(
            data["op"],
            data["args"],
            data["branch"],
            data["remote"],
            codec.identity(data["author"]),
            codec.identity(data["committer"]),
            now,
        )


class _Declined(Exception):
    """This request is its requester's to apply (see the module doc)."""


def serve(writer: group.Writer, repo: Repo, ref: str, remote: Remote) -> int:
    """Under the clone's lock, after the holder's own write: apply the requests waiting in
    the spool, each as its requester's commit, queued for the holder's push. Returns how
    many it answered. Never raises for a request: a bad one fails only its requester."""
    spool = _dir(writer.state_dir)
    served = 0
    entries = _listing(spool)
    now = time.time()
    for mtime, name in entries:
        if name.endswith((".out", ".held", ".tmp")) and now - mtime / 1e9 > STALE_SECONDS:
            (spool / name).unlink(missing_ok=True)  # its requester died long ago
        if not name.endswith(".req") or served >= MAX_SERVED:
            continue
        if _serve_one(writer, repo, ref, remote, spool / name):
            served += 1
    return served


def _listing(spool: Path) -> list[tuple[int, str]]:
    """The spool's files, oldest first (first come, first served)."""
    found = []
    try:
        with os.scandir(spool) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    found.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.name))
    except FileNotFoundError:
        return []
    return sorted(found)


def _serve_one(writer: group.Writer, repo: Repo, ref: str, remote: Remote, waiting: Path) -> bool:
    try:
        data = _read_json(waiting)
    except FileNotFoundError:
        return False  # withdrawn
    except (codec.SpoolDataError, OSError):
        data = None  # not JSON, not a regular file, a link: its requester's error
    if isinstance(data, dict) and data.get("op") not in _OPERATIONS:
        return False  # an operation this process does not know: its requester applies it
    held = waiting.with_suffix(".held")
    try:
        os.rename(waiting, held)
    except FileNotFoundError:
        return False  # withdrawn meanwhile
    faults.point("spool-claimed")
    out = waiting.with_suffix(".out")
    try:
        _apply(writer, repo, ref, remote, data, out)
    except _Declined:
        _write_atomically(out, {"v": VERSION, "declined": True})
    except GitregError as e:
        error = codec.encode_error(e)
        _write_atomically(
            out, {"v": VERSION, **({"error": error} if error else {"declined": True})}
        )
    except Exception:  # a bug is its requester's to meet in its own process
        _write_atomically(out, {"v": VERSION, "declined": True})
    else:
        faults.point("spool-queued")
    held.unlink(missing_ok=True)
    return True


def _apply(
    writer: group.Writer, repo: Repo, ref: str, remote: Remote, data: Any, out: Path
) -> None:
    """Apply the request ``data`` and queue its commit, its answer written just before."""
    from gitreg.core.errors import InvalidParameter
    from gitreg.store.transaction import Transaction

    try:
        req = _Request.parse(data)
    except codec.SpoolDataError as e:
        raise InvalidParameter(f"{out.with_suffix('.req')}: a malformed write request ({e})") from e
    if req.branch != ref.removeprefix("refs/heads/") or req.remote != remote.name:
        raise _Declined  # another branch or remote than this holder writes to
    mutation = _OPERATIONS[req.op](req.args)

    def start(repo: Repo, base: str | None) -> Transaction:
        return Transaction(
            writer.state_dir, repo, base, author_as=req.author, clock=lambda: req.now
        )

    def answer(queued: group.Queued) -> None:
        try:
            result = codec.encode_result(queued.result)
        except codec.SpoolDataError as e:
            raise _Declined from e
        _write_atomically(
            out, {"v": VERSION, "result": result, "commit": queued.commit, "mine": queued.mine}
        )
        faults.point("spool-answered")

    group.enqueue(
        writer, repo, ref, remote, mutation, start, committer=req.committer, answer=answer
    )
