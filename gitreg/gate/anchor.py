"""Where an audit starts, and how its verdict becomes the verified tip (#22).

An audit starts from trusted history: ``--since`` (the caller's word), or by default the
verified tip, ``refs/gitreg/verified``, as this clone and the registry's remote agree on it.
A clean audit run with ``--record`` then moves the verified tip to the last commit it
judged, locally (compare-and-swap, reflog) and on the remote (a push with a lease), so that
the next audit starts there. Three rules keep an ordinary push from skipping the check:

- recording judges everything after the verified tip: an audit asked to start later is
  started at the tip instead, and the tip only moves forward;
- the first verified tip comes from a whole-history audit (``--since`` the zero commit,
  what the workflow of a new repository runs), or from an administrator's explicit
  ``--bootstrap``; a clone that has no tip (its remote's deleted) never starts one from the
  commit before a push;
- violations block recording until an administrator acknowledges them by commit id with a
  reason (``--acknowledge``), recorded as git notes pushed beside the tip.

A clean record also keeps who approved each merged pull request the audit found (#24), as
git notes in ``refs/notes/gitreg/approvals`` pushed beside the tip the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitreg.core.approved import ApprovalRecord
from gitreg.core.errors import BadRef, RemoteUnavailable
from gitreg.gate.audit import AuditReport
from gitreg.store import compare, verified
from gitreg.store.verified import ACKNOWLEDGED_REF, APPROVALS_REF, VERIFIED_REF, VerifiedTipError

# The notes refs a record writes and pushes beside the verified tip.
NOTES_REFS = (ACKNOWLEDGED_REF, APPROVALS_REF)

ZERO = "0" * 40
RECOVERY = "see docs/trust.md, recovery"
MAX_REASON = 500


class NoTrustedStart(BadRef):
    """No --since and no verified tip: the audit does not know where trust starts."""


class BadAcknowledgement(BadRef):
    """An --acknowledge that names no commit with violations in the range, or no reason."""


class NotRecorded(VerifiedTipError):
    """A clean audit whose verdict could not be recorded; ``report`` is the verdict."""

    def __init__(self, message: str, report: AuditReport) -> None:
        super().__init__(message)
        self.report = report


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """Where an audit starts, what the verified tip was, and whether it may be recorded."""

    start: str | None  # the trusted commit the audit starts after (None: the first commit)
    until: str
    tip: str | None  # the verified tip before the audit (this clone's, after syncing)
    remote: str | None  # the remote the tip is synced with
    remote_tip: str | None  # what the remote held
    refusal: str | None = None  # why --record cannot record, whatever the audit finds
    notes: tuple[str, ...] = ()


def plan(
    root: Path,
    since: str | None,
    until: str,
    *,
    record: bool,
    bootstrap: bool,
    remote: str | None,
) -> Plan:
    """Decide the start of an audit of ``since..until`` (``since`` None: the verified tip).

    Raises:
        NoTrustedStart: no ``since`` and no verified tip.
        BadRef: ``since`` or ``until`` names no commit.
        VerifiedTipError: the verified tip is not in ``until``'s history, or this clone's
            and the remote's have diverged.
        RemoteUnavailable: the remote cannot be reached.
    """
    end = compare.resolve_commit(root, until)
    notes: list[str] = []
    tip, remote_tip = None, None
    if since is None or record:
        tip, remote_tip = _sync(root, remote, notes, required=record)
    if since is None:
        if tip is None:
            raise NoTrustedStart(_no_start(remote))
        start: str | None = tip
    else:
        start = None if set(since) == {"0"} else compare.resolve_commit(root, since)
    if tip is not None and not verified.is_ancestor(root, tip, end):
        raise VerifiedTipError(
            f"{VERIFIED_REF} ({tip[:12]}) is not in the history of {until} ({end[:12]}): the "
            f"branch was rewritten or the ref was moved by hand; nothing was judged ({RECOVERY})"
        )
    refusal = None
    if record:
        start, refusal = _recordable(root, start, tip, since, bootstrap, notes)
    return Plan(start, end, tip, remote, remote_tip, refusal, tuple(notes))


def _sync(
    root: Path, remote: str | None, notes: list[str], *, required: bool
) -> tuple[str | None, str | None]:
    """This clone's verified tip, brought up to the remote's; (tip, the remote's).

    An unreachable remote is an error when recording (``required``); otherwise this
    clone's tip is used, and a note says so.
    """
    local = verified.read_verified(root)
    if remote is None:
        return local, None
    try:
        theirs = verified.fetch(root, remote, VERIFIED_REF)
        _sync_acknowledgements(root, remote)
    except RemoteUnavailable as e:
        if required:
            raise
        notes.append(f"{e.message.split('; ')[0]}; this clone's {VERIFIED_REF} is used")
        return local, None
    if theirs is None or theirs == local:
        if theirs is None and local is not None:
            notes.append(
                f"{remote} has no {VERIFIED_REF}; this clone's ({local[:12]}) is used, and "
                "pushed again by the next --record"
            )
        return local, theirs
    if local is None or verified.is_ancestor(root, local, theirs):
        verified.move(root, VERIFIED_REF, theirs, local, f"gitreg: fetched from {remote}")
        return theirs, theirs
    if verified.is_ancestor(root, theirs, local):
        notes.append(f"this clone's {VERIFIED_REF} ({local[:12]}) is ahead of {remote}'s")
        return local, theirs
    raise VerifiedTipError(
        f"{VERIFIED_REF} here ({local[:12]}) and on {remote} ({theirs[:12]}) have diverged: one "
        f"of them was moved by hand; nothing was judged ({RECOVERY})"
    )


def _sync_acknowledgements(root: Path, remote: str) -> None:
    """Take the remote's acknowledgements and approvals (this clone adds its own only while
    recording)."""
    for ref in NOTES_REFS:
        theirs = verified.fetch(root, remote, ref)
        local = verified.read_ref(root, ref)
        if theirs is not None and theirs != local:
            verified.move(root, ref, theirs, local, f"gitreg: fetched from {remote}")


def _no_start(remote: str | None) -> str:
    where = f"here or on {remote}" if remote else "in this clone"
    return (
        f"there is no {VERIFIED_REF} {where} and no --since: give --since REF, the last commit "
        f"you trust ({ZERO} judges the whole history); a clean audit with --record then "
        "keeps the verified tip, and later audits start from it"
    )


def _recordable(
    root: Path,
    start: str | None,
    tip: str | None,
    since: str | None,
    bootstrap: bool,
    notes: list[str],
) -> tuple[str | None, str | None]:
    """The start that leaves nothing after the verified tip unjudged, and why recording is
    refused (None: it is not)."""
    if tip is None:
        if start is None or bootstrap:
            return start, None
        return start, (
            f"there is no {VERIFIED_REF} yet, and a first one is recorded only after judging "
            f"the whole history (--since {ZERO}) or by an administrator who trusts "
            f"{(since or '')[:40]} (--bootstrap); nothing was recorded ({RECOVERY})"
        )
    if start is None or start == tip or verified.is_ancestor(root, start, tip):
        return start, None
    if verified.is_ancestor(root, tip, start):
        notes.append(
            f"judged from the verified tip {tip[:12]}, before --since {start[:12]}: recording "
            "leaves no commit after the verified tip unjudged"
        )
        return tip, None
    return start, f"--since {start[:12]} and the verified tip {tip[:12]} share no history"


def acknowledgements(
    root: Path, asked: Sequence[str], reason: str | None, who: str
) -> tuple[dict[str, str], dict[str, str]]:
    """(every acknowledgement recorded so far, the ones asked now: commit -> text).

    Raises:
        BadAcknowledgement: a commit that does not resolve, or no (or a too long) reason.
    """
    known = verified.read_acknowledgements(root)
    if not asked:
        return known, {}
    text = " ".join((reason or "").split())
    if not text:
        raise BadAcknowledgement(
            "--acknowledge needs --reason TEXT: why the violations are accepted (recorded)"
        )
    if len(text) > MAX_REASON:
        raise BadAcknowledgement(f"--reason is longer than {MAX_REASON} characters; shorten it")
    new = {}
    for ref in asked:
        try:
            commit = compare.resolve_commit(root, ref)
        except BadRef as e:
            raise BadAcknowledgement(f"--acknowledge {ref}: {e.message}") from e
        new[commit] = f"Acknowledged by {who}: {text}"
    return {**known, **new}, new


def check_acknowledged(report: AuditReport, asked: Mapping[str, str]) -> None:
    """Every commit acknowledged now had violations in this audit.

    Raises:
        BadAcknowledgement: one had none (or is not in the range).
    """
    found = {v.commit for v in report.acknowledged}
    for commit in asked:
        if commit not in found:
            raise BadAcknowledgement(
                f"--acknowledge {commit[:12]}: that commit has no violation in the audited "
                f"range {(report.since or 'the start')[:12]}..{report.until}; nothing was "
                "recorded"
            )


def record(root: Path, chosen: Plan, report: AuditReport, asked: Mapping[str, str]) -> str:
    """Move the verified tip to ``chosen.until`` after the clean ``report``; push it.

    Returns one line saying what happened.

    Raises:
        VerifiedTipError: recording is refused, or the tip moved meanwhile.
        PushRejected, RemoteUnavailable: the remote refused or could not be reached
            (nothing is recorded then, here either).
    """
    if chosen.refusal is not None:
        raise VerifiedTipError(chosen.refusal)
    new, old = chosen.until, chosen.tip
    span = f"{(chosen.start or 'the first commit')[:12]}..{new[:12]}"
    why = f"gitreg audit --record: {report.commits} commit(s) in {span} judged, no violation"
    if asked:
        why += f"; acknowledged {', '.join(c[:12] for c in asked)}"
    notes_before = {ref: verified.read_ref(root, ref) for ref in NOTES_REFS}
    if new != old:
        verified.move_forward(root, new, old, why)
    kept = _new_records(root, report)
    try:
        for commit, text in asked.items():
            verified.acknowledge(root, commit, text)
        verified.record_approvals(root, kept)
        if chosen.remote is not None:
            _publish(root, chosen.remote, chosen, notes_before)
    except Exception:
        _undo(root, new, old, notes_before)
        raise
    where = f" and pushed to {chosen.remote}" if chosen.remote else ""
    approvals = f"; who approved {len(kept)} merge(s) kept in {APPROVALS_REF}" if kept else ""
    if new == old and not asked:
        return f"{VERIFIED_REF} already at {new[:12]}{where}{approvals}"
    return f"{VERIFIED_REF} -> {new[:12]} (was {old[:12] if old else 'unset'}){where}{approvals}"


def _new_records(root: Path, report: AuditReport) -> list[ApprovalRecord]:
    """The report's approval records that are not already the notes they would write."""
    known = verified.read_approvals(root)
    return [r for r in report.approvals if known.get(r.commit) != r]


def _publish(root: Path, remote: str, chosen: Plan, notes_before: Mapping[str, str | None]) -> None:
    for ref, before in notes_before.items():
        notes = verified.read_ref(root, ref)
        if notes is None or notes == before:
            continue
        lost = verified.push(root, remote, ref, notes, before)
        if lost is not None:
            raise VerifiedTipError(
                f"{ref} changed on {remote} meanwhile ({lost.why}); nothing was recorded: "
                "run the audit again"
            )
    if chosen.remote_tip == chosen.until:
        return
    lost = verified.push(root, remote, VERIFIED_REF, chosen.until, chosen.remote_tip)
    if lost is None:
        return
    theirs = verified.fetch(root, remote, VERIFIED_REF)
    if theirs is not None and verified.is_ancestor(root, chosen.until, theirs):
        return  # another audit recorded as far or further: nothing to add
    raise VerifiedTipError(
        f"{VERIFIED_REF} changed on {remote} while gitreg recorded it ({lost.why}); "
        "nothing was recorded: run the audit again"
    )


def _undo(root: Path, new: str, old: str | None, notes_before: Mapping[str, str | None]) -> None:
    """Put the local refs back as they were before a record that failed."""
    if verified.read_verified(root) == new and new != old:
        if old is None:
            verified.delete(root, VERIFIED_REF, new)
        else:
            verified.move(root, VERIFIED_REF, old, new, "gitreg audit --record: undone")
    for ref, before in notes_before.items():
        current = verified.read_ref(root, ref)
        if current != before and current is not None:
            if before is None:
                verified.delete(root, ref, current)
            else:
                verified.move(root, ref, before, current, "gitreg: undone")
