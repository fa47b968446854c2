"""Registry's governance methods: history, events, promotion requests, rollback and audit.

A base of ``Registry`` (which is the public face): MLflow has no names for these, so they
are gitreg's own, and the CLI's history, events, requests, withdraw, rollback and audit
commands call them. The work is done below: ``store.history``, ``store.eventlog`` and
``store.timeline`` read the past, ``promotion`` runs the requests, ``gate.audit`` judges
what landed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import ModelNotFound, VersionNotFound
from gitreg.core.fields import check_alias, parse_version
from gitreg.core.names import check_name
from gitreg.services._host import RegistryHost

if TYPE_CHECKING:
    from gitreg.core.approved import ApprovalRecord
    from gitreg.core.events import RegistryEvent
    from gitreg.gate.audit import AuditReport
    from gitreg.integrations.notify import Report as DeliveryReport
    from gitreg.services.transition_request import TransitionRequest
    from gitreg.store.history import HistoryEntry
    from gitreg.store.timeline import Interval


class Governance(RegistryHost):
    """History, events, requests and audit; ``Registry`` provides the store and the writes."""

    if TYPE_CHECKING:

        def transition_model_version_stage(
            self,
            name: str,
            version: int | str,
            stage: str,
            archive_existing_versions: bool = False,
            *,
            message: str | None = None,
            direct: bool = False,
        ) -> ModelVersion: ...

    # ------------------------------------------------------------------ the past

    def get_model_history(self, name: str, version: int | str | None = None) -> list[HistoryEntry]:
        """The audit trail of ``name`` (or of one version), newest first, from git history."""
        from gitreg.store import history
        from gitreg.store.transaction import model_path

        check_name(name)
        number = None if version is None else parse_version(version)
        ref = self.at or "HEAD"
        entries = history.read_history(self.store.root, model_path(name), ref, number)
        if not entries and number is None:
            raise ModelNotFound(f"Registered Model with name={name} has no history")
        return approved_entries(entries, self.get_approvals())

    def list_events(
        self,
        since: str | None,
        until: str | None = None,
        *,
        vet: bool = True,
        known: Mapping[str, RegisteredModel] | None = None,
    ) -> list[RegistryEvent]:
        """Every change after commit ``since`` up to ``until`` (default: HEAD or ``at``).

        Commit by commit along the first-parent history, oldest first; each event has a
        stable id (the same range always gives the same events). ``since`` None means from
        the first commit.

        On a clone with a remote (where protected facts change only through review), a
        change the audit reports as a violation (``audit`` of the same range: an
        unreviewed move to Production in a direct push, ...) is never announced as if it
        were a normal one: that commit's events for that model are withheld and
        POLICY_VIOLATION events, one per finding, stand in their place (#22). A registry
        without a remote has no review: its protected changes are plain commits (DESIGN,
        layer 1) and its events are its changes. ``vet=False`` gives every change as it
        happened, without the audit: for history views, never for announcing. ``known``:
        blob id -> the model a whole-registry read made of it (those are not read again).

        Raises:
            BadRef: ``since`` or ``until`` names no commit.
        """
        return self.vetted_events(since, until, vet=vet, known=known)[0]

    def vetted_events(
        self,
        since: str | None,
        until: str | None = None,
        *,
        vet: bool = True,
        known: Mapping[str, RegisteredModel] | None = None,
    ) -> tuple[list[RegistryEvent], AuditReport | None]:
        """``list_events``, and the audit that vetted them (None: not vetted, see there).

        The audit judges from the verified tip when it lies before ``since`` (so a range
        that starts after an unacknowledged violation is not judged by what it let in),
        and its ``trusted`` commit names the gitreg.yaml a delivery may use (#22).
        """
        from gitreg.store import eventlog

        end = self.store.resolve_ref(until) if until is not None else (self.at or "HEAD")
        start = None if since is None or set(since) == {"0"} else self.store.resolve_ref(since)
        found = approved_events(
            eventlog.read_events(self.store.root, start, end, known), self.get_approvals()
        )
        if not vet or not self.store.remotes():
            return found, None
        report = self.audit(self._trust_start(start), end)
        order = self.store.first_parent_commits(start, end)
        inside = set(order)
        violations = [e for e in self.audit_events(report) if e.commit in inside]
        if not violations:
            return found, report
        return _vetted(found, violations, order), report

    def _trust_start(self, start: str | None) -> str | None:
        """Where the audit that vets ``start``.. begins: the verified tip when it is earlier."""
        from gitreg.store import verified

        tip = verified.read_verified(self.store.root)
        if start is None or tip is None or tip == start:
            return start
        return tip if verified.is_ancestor(self.store.root, tip, start) else start

    def get_approvals(self) -> dict[str, ApprovalRecord]:
        """Commit -> who approved the pull request that produced it (#24), as ``gitreg audit
        --record`` kept it in ``refs/notes/gitreg/approvals``; read offline, from this clone
        (``--fetch`` brings the remote's)."""
        from gitreg.store import verified

        return verified.read_approvals(self.store.root)

    def get_stage_history(self, name: str, stage: str) -> list[Interval]:
        """Which version held ``stage`` when: intervals, oldest first (the model's whole life,
        renames followed). The last interval's ``end`` is None while its version holds it."""
        from gitreg.store import timeline

        events = self._model_events(name)
        return timeline.stage_intervals(events, Stage.parse(stage))

    def get_alias_history(self, name: str, alias: str) -> list[Interval]:
        """Which version ``@alias`` pointed at when: intervals, oldest first."""
        from gitreg.store import timeline

        events = self._model_events(name)
        return timeline.alias_intervals(events, check_alias(alias))

    def _model_events(self, name: str) -> list[RegistryEvent]:
        from gitreg.store import timeline

        check_name(name)
        events = timeline.model_events(self.list_events(None, vet=False), name)
        if not events:
            raise ModelNotFound(f"Registered Model with name={name} has no history")
        return events

    # ------------------------------------------------------------------ requests

    def list_transition_requests(self) -> list[TransitionRequest]:
        """Open requests: the remote's ``gitreg/...`` branches with the forge's reviews.

        A registry without a remote has none (not an error). With ``at``, the request
        branches not merged into that commit.
        """
        from gitreg.services import transition_request

        return transition_request.list_requests(self.store, self.push, os.environ, self.at)

    def get_model_version_requests(self, name: str, version: int | str) -> list[TransitionRequest]:
        """The open requests about one version that this clone knows (no network)."""
        from gitreg.services import transition_request

        number = parse_version(version)
        return [
            r
            for r in transition_request.known_requests(self.store)
            if r.name == name and r.version == number
        ]

    def withdraw_transition_request(
        self, name: str, version: int | str | None = None, target: str | None = None
    ) -> list[TransitionRequest]:
        """Close the matching open requests and delete their branches; the ones withdrawn.

        ``target`` is a stage, ``@alias``, or None for all of the model's (or version's).

        Raises:
            VersionNotFound: no open request matches.
        """
        from gitreg.services import transition_request

        check_name(name)
        number = None if version is None else parse_version(version)
        return transition_request.withdraw(self.store, name, number, target, self.push, os.environ)

    def rollback_registered_model(
        self,
        name: str,
        *,
        alias: str | None = None,
        message: str | None = None,
        direct: bool = False,
    ) -> ModelVersion:
        """Return Production (or ``@alias``) to the version that held it before (from history).

        Raises:
            VersionNotFound: no earlier version that still exists held it.
            PromotionPending: on a registry with a remote, for a protected stage or alias.
        """
        if alias is not None:
            return self._rollback_alias(name, check_alias(alias), message)
        from gitreg.store import history

        model = self._read(name)
        target, why = history.rollback_target(model, self.get_model_history(name))
        return self.transition_model_version_stage(
            name, target, Stage.PRODUCTION.value, True, message=message or why, direct=direct
        )

    def _rollback_alias(self, name: str, alias: str, message: str | None) -> ModelVersion:
        from gitreg.core import mutations as mut
        from gitreg.services import operations as ops

        model = self._read(name)
        current = model.aliases.get(alias)
        earlier = [
            i.version
            for i in reversed(self.get_alias_history(name, alias))
            if i.version != current and model.get_version(i.version) is not None
        ]
        if not earlier:
            raise VersionNotFound(
                f"{name}@{alias} has no earlier version to roll back to (history shows none "
                "that still exists)"
            )
        now = f"version {current}" if current is not None else "no version"
        why = message or f"Rollback: @{alias} returns to version {earlier[0]} (from {now})."
        change = ops.modify(
            name, lambda m: mut.set_alias(m, alias, earlier[0]), f"{why}\n\n{name}@{alias}"
        )
        self._write(change, why=why)
        return mut.find_version(self._read(name), earlier[0])

    # --------------------------------------------------------------------- audit

    def audit(
        self,
        since: str | None,
        until: str | None = None,
        *,
        record: bool = False,
        bootstrap: bool = False,
        acknowledge: Sequence[str] = (),
        reason: str | None = None,
    ) -> AuditReport:
        """Judge each commit after ``since`` up to ``until`` (see ``gate.audit``).

        ``since`` None (or the zero commit) judges from the first commit; ``VERIFIED_REF``
        (``refs/gitreg/verified``) from the verified tip, as this clone and the registry's
        remote agree on it. Each commit is judged by the trusted policy before it, and its
        protected changes by the answer of the trusted forge. With ``record``, a clean
        audit moves the verified tip to ``until`` and pushes it (``gate.anchor``);
        ``acknowledge`` names commits whose violations an administrator accepts, for
        ``reason`` (recorded as git notes, pushed with the tip).

        Raises:
            BadRef: ``since`` or ``until`` names no commit, or there is no verified tip.
            VerifiedTipError: the verified tip cannot be used or moved (see docs/trust.md).
        """
        import dataclasses

        from gitreg.core.errors import GitregError
        from gitreg.gate import anchor
        from gitreg.gate import audit as judge
        from gitreg.gate.evidence import Witness
        from gitreg.store import verified

        end = until if until is not None else (self.at or "HEAD")
        remote, url = self._audit_remote()
        chosen = anchor.plan(
            self.store.root,
            None if since == verified.VERIFIED_REF else (since or anchor.ZERO),
            end,
            record=record,
            bootstrap=bootstrap,
            remote=remote,
        )
        who = verified.identity(self.store.root) if acknowledge else ""
        known, asked = anchor.acknowledgements(self.store.root, acknowledge, reason, who)
        witness = Witness(url, os.environ)
        report = judge.audit(self.store.root, chosen.start, chosen.until, witness, known)
        report = dataclasses.replace(
            report, until=until or "HEAD", notes=(*chosen.notes, *report.notes)
        )
        anchor.check_acknowledged(report, asked)
        if not record:
            return report
        if not report.valid:
            kept = chosen.tip[:12] if chosen.tip else "unset"
            note = f"not recorded: {verified.VERIFIED_REF} stays at {kept}"
            return dataclasses.replace(report, notes=(*report.notes, note))
        try:
            done = anchor.record(self.store.root, chosen, report, asked)
        except GitregError as e:
            raise anchor.NotRecorded(f"not recorded: {e.message}", report) from e
        return dataclasses.replace(report, recorded=done)

    def _audit_remote(self) -> tuple[str | None, str]:
        """The remote the verified tip is synced with (None: none) and its URL.

        Its name is ``registry.remote`` (default ``origin``); it can only name a remote this
        clone already has, whose URL the clone's own git configuration holds.
        """
        from gitreg.core.config import Config
        from gitreg.core.errors import GitregError
        from gitreg.store.remote import remote_url

        try:
            name = self.store.read_config().remote
        except GitregError:
            name = Config().remote
        url = remote_url(self.store.root, Config(remote=name))
        return (name, url) if url is not None else (None, "")

    def audit_events(self, report: AuditReport) -> list[RegistryEvent]:
        """The report's violations as POLICY_VIOLATION events (for ``gitreg notify``)."""
        from gitreg.core.events import Event, EventKind, RegistryEvent

        return [
            RegistryEvent(
                Event(
                    EventKind.POLICY_VIOLATION,
                    _model_of(v.finding.path),
                    description=v.finding.message,
                    key=v.finding.code,
                ),
                v.commit,
                v.author,
                v.author_email,
                v.timestamp,
                v.pull_request,
            )
            for v in report.violations
        ]

    def notify_audit(self, report: AuditReport, *, dry_run: bool = False) -> DeliveryReport:
        """Deliver the report's violations as POLICY_VIOLATION events to the subscriptions of
        the gitreg.yaml the audit trusted, never to those of the audited commits (#22)."""
        from gitreg.integrations import notify

        if report.trusted is None:
            return notify.Report((), (), dry_run)  # no trusted gitreg.yaml: no subscription
        events = self.audit_events(report)
        return notify.notify(self.store, events, report.trusted, os.environ, dry_run=dry_run)


# The events that carry who approved their change: stage transitions and alias moves.
_APPROVED_KINDS = frozenset(
    {
        "MODEL_VERSION_TRANSITIONED_STAGE",
        "MODEL_VERSION_TRANSITIONED_TO_STAGING",
        "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION",
        "MODEL_VERSION_TRANSITIONED_TO_ARCHIVED",
        "MODEL_VERSION_ALIAS_CREATED",
        "MODEL_VERSION_ALIAS_DELETED",
    }
)


def approved_events(
    events: Sequence[RegistryEvent], records: Mapping[str, ApprovalRecord]
) -> list[RegistryEvent]:
    """``events`` with ``approved_by`` on the transitions and alias moves of recorded commits."""
    from gitreg.core import record

    if not records:
        return list(events)
    return [
        record.replace(e, approved_by=records[e.commit].approved_by)
        if e.commit in records and e.event.kind.value in _APPROVED_KINDS
        else e
        for e in events
    ]


def approved_entries(
    entries: Sequence[HistoryEntry], records: Mapping[str, ApprovalRecord]
) -> list[HistoryEntry]:
    """History ``entries`` with ``approved_by`` where the audit recorded their approvals."""
    from gitreg.core import record

    return [
        record.replace(e, approved_by=records[e.commit].approved_by) if e.commit in records else e
        for e in entries
    ]


def _vetted(
    events: Sequence[RegistryEvent], violations: Sequence[RegistryEvent], order: Sequence[str]
) -> list[RegistryEvent]:
    """``events`` with those of each (commit, model) the audit flagged replaced by the
    POLICY_VIOLATION events ``violations``, each saying what it withheld, in commit order.

    Violations of one code on one model in one commit share an event id (the id names the
    commit, model and code), so they become one event listing every finding: a receiver
    that deduplicates by id loses none of them.
    """
    flagged = {(v.commit, v.event.name) for v in violations}
    withheld: dict[tuple[str, str], list[RegistryEvent]] = {}
    kept = []
    for item in events:
        names = [n for n in (item.event.name, item.event.old_name) if n is not None]
        hit = next(((item.commit, n) for n in names if (item.commit, n) in flagged), None)
        if hit is None:
            kept.append(item)
        else:
            withheld.setdefault(hit, []).append(item)
    stand_ins = _stand_ins(violations, withheld)
    position = {commit: index for index, commit in enumerate(order)}
    return sorted([*stand_ins, *kept], key=lambda e: position.get(e.commit, len(position)))


def _stand_ins(
    violations: Sequence[RegistryEvent],
    withheld: dict[tuple[str, str], list[RegistryEvent]],
) -> list[RegistryEvent]:
    """One POLICY_VIOLATION per (commit, model, code): its findings, and what it withheld."""
    import dataclasses

    from gitreg.core.events import primary

    by_id: dict[str, tuple[RegistryEvent, list[str]]] = {}
    for v in violations:
        first, said = by_id.setdefault(v.id, (v, []))
        if v.event.description and v.event.description not in said:
            said.append(v.event.description)
    out = []
    for first, said in by_id.values():
        hidden = primary([w.event for w in withheld.get((first.commit, first.event.name), [])])
        text = "; ".join(said)
        if hidden:
            text += f" (not announced as a change: {'; '.join(e.describe() for e in hidden)})"
        out.append(
            dataclasses.replace(first, event=dataclasses.replace(first.event, description=text))
        )
    return out


def _model_of(path: str) -> str:
    """The model a finding's path is the manifest of; any other path stands for itself."""
    from gitreg.core.config import MODELS_DIR
    from gitreg.core.names import name_of_stem

    folder, _, file = path.rpartition("/")
    if folder != MODELS_DIR or not file.endswith(".yaml"):
        return path
    return name_of_stem(file.removesuffix(".yaml")) or path
