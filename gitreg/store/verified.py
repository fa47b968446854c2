"""The verified tip: ``refs/gitreg/verified``, the last commit a clean audit accepted (#22).

A deployment that must never load an unaudited state reads the registry at this ref instead
of the branch tip. Only a clean ``gitreg audit --record`` moves it, and only forward: the new
commit descends from the old, the local ref moves by compare-and-swap with a reflog line,
and the remote's by a push with a lease on what it held (``refs/gitreg/verified`` only:
never a branch). This module names the ref, reads it, fetches the remote's, moves and
pushes it; the audit (``gate.anchor``) decides when.

Acknowledgements of violations an administrator accepted are git notes on the violating
commits, in ``refs/notes/gitreg/acknowledged`` (``git log --notes=gitreg/acknowledged``
shows them), pushed beside the verified tip. So are the approvals the audit found for each
merged pull request that changed a protected fact (#24): a note on the commit that landed,
in ``refs/notes/gitreg/approvals``, which history, events and the catalog read offline.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gitreg.core.approved import ApprovalRecord
from gitreg.core.errors import BadRef, GitFailed, GitregError, RemoteUnavailable
from gitreg.store import _git, _net, ref_lookup

VERIFIED_REF = "refs/gitreg/verified"
ACKNOWLEDGED_REF = "refs/notes/gitreg/acknowledged"
APPROVALS_REF = "refs/notes/gitreg/approvals"
# Where a fetch puts the remote's values before they are compared with this clone's.
_FETCHED = {
    VERIFIED_REF: "refs/gitreg/fetched/verified",
    ACKNOWLEDGED_REF: "refs/gitreg/fetched/acknowledged",
    APPROVALS_REF: "refs/gitreg/fetched/approvals",
}
_ZERO = "0" * 40


class VerifiedTipError(GitregError):
    """The verified tip cannot move as asked (not forward, moved meanwhile, diverged)."""


def read_verified(root: Path) -> str | None:
    """The commit ``refs/gitreg/verified`` names in the clone at ``root``, None if unset."""
    return _read(root, VERIFIED_REF)


def read_ref(root: Path, ref: str) -> str | None:
    """The object ``ref`` names (a commit for either ref of this module), None if unset."""
    return _read(root, ref)


def _read(root: Path, ref: str) -> str | None:
    if ref_lookup.absent(root, ref):  # an unset ref costs no git process (#26)
        return None
    try:
        return _git.resolve_commit(root, ref)
    except BadRef:
        return None


def fetch(root: Path, remote: str, ref: str) -> str | None:
    """The commit ``ref`` names on ``remote`` (fetched, with its history), None if unset.

    Raises:
        RemoteUnavailable: the remote cannot be reached.
    """
    into = _FETCHED[ref]
    if not _net.fetch(root, remote, [f"+{ref}:{into}"]):
        _git.run(root, ["update-ref", "-d", into])
        return None
    return _read(root, into)


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    """Whether commit ``older`` is ``newer`` or reachable from it."""
    return older == newer or _git.is_ancestor(root, older, newer)


def move(root: Path, ref: str, new: str, old: str | None, why: str) -> None:
    """Point ``ref`` at ``new`` if it still names ``old`` (None: unset), with a reflog line.

    Raises:
        VerifiedTipError: ``ref`` changed meanwhile (another process moved it).
    """
    line = " ".join(why.split())[:300]
    try:
        _git.run(root, ["update-ref", "--create-reflog", "-m", line, ref, new, old or _ZERO])
    except GitFailed as e:
        raise VerifiedTipError(
            f"{ref} changed while gitreg moved it ({e.message}); nothing was recorded: run the "
            "audit again"
        ) from e


def delete(root: Path, ref: str, old: str) -> None:
    """Delete ``ref`` if it still names ``old`` (undoing a first record that failed)."""
    try:
        _git.run(root, ["update-ref", "-d", ref, old])
    except GitFailed as e:
        raise VerifiedTipError(f"{ref} changed while gitreg restored it ({e.message})") from e


def move_forward(root: Path, new: str, old: str | None, why: str) -> None:
    """Move ``refs/gitreg/verified`` from ``old`` to ``new``, which must descend from it.

    Raises:
        VerifiedTipError: ``new`` does not descend from ``old``, or the ref moved meanwhile.
    """
    if old is not None and not is_ancestor(root, old, new):
        raise VerifiedTipError(
            f"{new[:12]} does not descend from the verified tip {old[:12]}; "
            f"{VERIFIED_REF} only moves forward (see docs/trust.md, recovery)"
        )
    move(root, VERIFIED_REF, new, old, why)


def push(root: Path, remote: str, ref: str, new: str, expected: str | None) -> _net.Lost | None:
    """Push ``ref`` (never a branch) to ``remote`` if it still holds ``expected`` there.

    Returns None when it landed, else why another writer won.

    Raises:
        PushRejected: the remote refused (permissions, a hook).
        RemoteUnavailable: the remote cannot be reached.
    """
    return _net.push(root, remote, f"{new}:{ref}", lease=f"{ref}:{expected or ''}")


def read_acknowledgements(root: Path) -> dict[str, str]:
    """Commit -> the acknowledgement recorded for it (the note's text, one line)."""
    if _read(root, ACKNOWLEDGED_REF) is None:
        return {}
    listed = _git.run(root, ["notes", f"--ref={ACKNOWLEDGED_REF}", "list"]).decode()
    pairs = [line.split() for line in listed.splitlines() if len(line.split()) == 2]
    texts = _git.read_objects(root, [note for note, _ in pairs])
    return {
        commit: " ".join((texts.get(note) or b"").decode("utf-8", "replace").split())
        for note, commit in pairs
    }


def acknowledge(root: Path, commit: str, text: str) -> None:
    """Add ``text`` to the acknowledgement note of ``commit`` (a full commit id).

    Raises:
        GitFailed: git could not write the note (no committer identity configured?).
    """
    _git.run(
        root,
        ["notes", f"--ref={ACKNOWLEDGED_REF}", "append", "-F", "-", commit],
        stdin=text.encode(),
    )


def identity(root: Path) -> str:
    """Who git says is acting in this clone (``Name <email>``), for an acknowledgement.

    Raises:
        GitFailed: no identity is configured (user.name and user.email).
    """
    ident = _git.run(root, ["var", "GIT_COMMITTER_IDENT"]).decode("utf-8", "replace")
    return ident.rsplit(">", 1)[0] + ">" if ">" in ident else ident.strip()


def read_approvals(root: Path) -> dict[str, ApprovalRecord]:
    """Commit -> who approved the pull request that produced it, as the audit recorded it.

    Empty when no audit recorded any here (``refs/notes/gitreg/approvals`` absent); a note
    that is not one gitreg wrote is left out.
    """
    if _read(root, APPROVALS_REF) is None:
        return {}
    listed = _git.run(root, ["notes", f"--ref={APPROVALS_REF}", "list"]).decode()
    pairs = [line.split() for line in listed.splitlines() if len(line.split()) == 2]
    texts = _git.read_objects(root, [note for note, _ in pairs])
    found = {}
    for note, commit in pairs:
        record = ApprovalRecord.from_note(
            commit, (texts.get(note) or b"").decode("utf-8", "replace")
        )
        if record is not None:
            found[commit] = record
    return found


def record_approvals(root: Path, records: Iterable[ApprovalRecord]) -> None:
    """Write each record as the approvals note of its commit (replacing an older one).

    The notes are committed as the clone's git identity, or as ``gitreg audit`` where none
    is configured (a CI job): the record is the forge's answer, not anyone's word.

    Raises:
        GitFailed: git could not write a note.
    """
    env = None
    try:
        identity(root)
    except GitFailed:
        env = {
            "GIT_AUTHOR_NAME": "gitreg audit",
            "GIT_AUTHOR_EMAIL": "gitreg-audit@users.noreply.invalid",
            "GIT_COMMITTER_NAME": "gitreg audit",
            "GIT_COMMITTER_EMAIL": "gitreg-audit@users.noreply.invalid",
        }
    for record in records:
        _git.run(
            root,
            ["notes", f"--ref={APPROVALS_REF}", "add", "-f", "-F", "-", record.commit],
            stdin=record.to_note().encode(),
            env=env,
        )


def fetch_approvals(root: Path, remote: str) -> bool:
    """Bring this clone's approvals notes up to the remote's (for readers); False when the
    remote has none or cannot be reached (the local notes are then used as they are)."""
    try:
        theirs = fetch(root, remote, APPROVALS_REF)
    except RemoteUnavailable:
        return False
    mine = _read(root, APPROVALS_REF)
    if theirs is None:
        return False
    if theirs != mine:
        _git.run(
            root, ["update-ref", "-m", f"gitreg: fetched from {remote}", APPROVALS_REF, theirs]
        )
    return True
