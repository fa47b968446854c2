"""``gitreg audit``: judging commits already on the branch, one by one (the gate's third layer).

A pull request is judged by ``validate --base`` before it merges; a direct push is not
judged by anything until it has landed. ``audit`` walks the first-parent history of a range
and judges each commit against its parent exactly as the gate judges a pull request, plus
one rule: a change to a protected fact (``core.protection``) or to what judges the registry
(``gate.trust``: gitreg.yaml, CI and code-owner files, the record of retired names) must
have arrived through a merged request, which only the forge can confirm
(``gate.evidence``). Everything else a commit breaks is a violation whatever way it arrived.

Trust comes from history, never from the range (#22): every commit is judged by the policy
and forge settings of the last *trusted* gitreg.yaml before it. That is the one at the
start of the range (``--since``, or the verified tip), and it advances only through a
commit that is itself accepted: confirmed by the forge as a merged request, breaking no
rule, and building on the trusted file (a reviewed edit does not launder an earlier
unreviewed one). An unreadable or invalid trusted gitreg.yaml judges nothing as allowed.

The whole range costs one ``git log`` and one ``git cat-file``: file modes and blob ids
come from the log, and the policy and names are followed through it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gitreg.core.approved import ApprovalRecord
from gitreg.core.config import CONFIG_FILE, MODELS_DIR, Policy
from gitreg.core.errors import git_kind
from gitreg.core.finding import Finding
from gitreg.core.retired import RETIRED_FILE
from gitreg.gate import cards, files, signing, trust
from gitreg.gate.approval_check import MergedApprovals
from gitreg.gate.evidence import Checked, Evidence, Witness
from gitreg.gate.incremental import Incremental
from gitreg.gate.judge import Side, judge
from gitreg.store import compare
from gitreg.store.blobs import BlobReader
from gitreg.store.history import FileChange, LogCommit, read_log

_ZERO = "0" * 40
# Where a protected change's own words end in the rules' message (gate.rules).
_PROTECTED_TAIL = " is a change to a protected fact"


@dataclasses.dataclass(frozen=True, slots=True)
class Violation:
    """One thing a commit on the branch may not have done."""

    commit: str
    author: str
    author_email: str
    timestamp: str
    pull_request: int | None
    finding: Finding

    def describe(self) -> str:
        """One line: the commit, who, where, what."""
        return f"{self.commit[:12]} by {self.author}: {self.finding}"

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        out = dataclasses.asdict(self)
        out["finding"] = self.finding.to_dict()
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class AuditReport:
    """What ``audit`` found in a range of commits.

    ``protected`` lists every protected change and whether the forge verified its review;
    ``problems`` are findings about the range as a whole (a trusted policy that cannot
    judge); ``acknowledged`` are violations an administrator accepted explicitly;
    ``trusted`` is the commit whose gitreg.yaml was trusted at the end of the range.
    """

    since: str | None
    until: str
    commits: int
    violations: tuple[Violation, ...]
    notes: tuple[str, ...] = ()
    protected: tuple[Checked, ...] = ()
    problems: tuple[Finding, ...] = ()
    acknowledged: tuple[Violation, ...] = ()
    trusted: str | None = None
    recorded: str | None = None
    # Who approved each merged pull request with a protected change (#24), for --record.
    approvals: tuple[ApprovalRecord, ...] = ()

    @property
    def valid(self) -> bool:
        """True when no commit broke a rule and the range could be judged."""
        return not self.violations and not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``gitreg audit --format json``."""
        return {
            "valid": self.valid,
            "since": self.since,
            "until": self.until,
            "trusted": self.trusted,
            "commits": self.commits,
            "violations": [v.to_dict() for v in self.violations],
            "problems": [f.to_dict() for f in self.problems],
            "protected_changes": [c.to_dict() for c in self.protected],
            "acknowledged": [v.to_dict() for v in self.acknowledged],
            "recorded": self.recorded,
            "notes": list(self.notes),
        } | ({"approvals": [a.to_dict() for a in self.approvals]} if self.approvals else {})


def audit(
    root: Path,
    start: str | None,
    until: str,
    witness: Witness,
    acknowledged: Mapping[str, str] | None = None,
) -> AuditReport:
    """Judge every commit after ``start`` up to ``until`` on the first-parent history.

    ``start`` is trusted (None: the empty registry before the first commit). Violations of
    the commits in ``acknowledged`` (commit -> the acknowledgement) are reported as
    acknowledged instead.
    """
    commits = read_log(root, start, until, list(trust.AUDITED_PATHS))
    walk = _Walk(root, start, commits, witness, acknowledged or {})
    violations: list[Violation] = []
    for commit in commits:
        violations += walk.judge(commit)
    return AuditReport(
        start,
        until,
        len(commits),
        tuple(violations),
        tuple(walk.notes + walk.approvals.notes),
        tuple(walk.checked),
        tuple(walk.problems()),
        tuple(walk.acknowledged),
        walk.judging().commit,
        approvals=tuple(walk.approvals.records),
    )


class _Walk:
    """The registry's state as the audit walks the range: trusted policy, names, files."""

    def __init__(
        self,
        root: Path,
        start: str | None,
        commits: Sequence[LogCommit],
        witness: Witness,
        acknowledged: Mapping[str, str],
    ) -> None:
        self.root = root
        self.witness = witness
        self.approvals = MergedApprovals(root, witness)
        self.acknowledgements = acknowledged
        # Where the signing keys were last accepted (#28): a signature is judged by them.
        self.keys_at = start
        self.notes: list[str] = []
        self.checked: list[Checked] = []
        self.acknowledged: list[Violation] = []
        # One blob at a time, and each manifest judged on the blocks it changed (#23).
        self.blobs = BlobReader(root)
        self.incremental = Incremental()
        self.texts: dict[str, bytes | None] = {CONFIG_FILE: None, RETIRED_FILE: None}
        self.names: set[str] = set()
        irregular: dict[str, str] = {}
        if start is not None:
            known, irregular = compare.read_files_at(root, start, [CONFIG_FILE, RETIRED_FILE])
            self.texts.update(known)
            self.names = set(compare.list_names_at(root, start, MODELS_DIR))
        self.trusted = trust.trusted_at(start, self.texts[CONFIG_FILE], irregular.get(CONFIG_FILE))
        self.fallback = self.trusted
        if self.broken:
            self.fallback = (start and trust.last_valid(root, start)) or trust.Trusted(
                None, None, trust.init_config()
            )

    def judging(self) -> trust.Trusted:
        """The gitreg.yaml that judges now: the trusted one, else the last valid one."""
        return self.trusted if self.trusted.valid or self.creating else self.fallback

    @property
    def creating(self) -> bool:
        """Before the registry exists: no gitreg.yaml was ever trusted and no model is there."""
        return self.trusted.text is None and not self._models()

    @property
    def broken(self) -> bool:
        """The trusted gitreg.yaml cannot judge: invalid, or missing beside models."""
        return not self.trusted.valid and not self.creating

    def _models(self) -> bool:
        return any(n.endswith(".yaml") and f"{MODELS_DIR}/{n}" != RETIRED_FILE for n in self.names)

    def problems(self) -> list[Finding]:
        """What keeps the whole range from being judged: a trusted policy that is broken."""
        if not self.broken:
            return []
        why = self.trusted.problem or f"there is no {CONFIG_FILE} beside the models"
        last = self.fallback.where() if self.fallback.commit else "the policy gitreg init writes"
        return [
            Finding(
                CONFIG_FILE,
                None,
                "BASE_POLICY_INVALID",
                f"the trusted {self.trusted.where()} cannot judge ({why}); nothing is judged "
                f"as allowed until it is fixed: fix {CONFIG_FILE} first, in a reviewed pull "
                f"request of its own (it is judged by the last valid policy, {last})",
            )
        ]

    # ------------------------------------------------------------------ one commit

    def judge(self, commit: LogCommit) -> list[Violation]:
        """The violations of ``commit``, then advance the state past it."""
        registry = [ch for ch in commit.changes if _in_registry(ch)]
        old, new, unreadable = self._sides(registry)
        judging = self.judging()
        names = _names_after(self.names, registry)
        context = self._cards_context(commit, old, new, judging)
        policy = signing.for_commit(judging.policy, self.root, self.keys_at, commit.commit)
        findings = self._judge_files(old, new, unreadable, names, policy, context)
        findings += self._judging_changes(commit, old, new, judging)
        if self.broken and commit.changes and not self._repairs(new):
            findings.append(self._unjudged(commit))
        findings = self._evidence(commit, findings, judging, (old, new))
        violations = [
            Violation(
                commit.commit,
                commit.author,
                commit.author_email,
                commit.committed_at,
                commit.pull_request,
                finding,
            )
            for finding in sorted(set(findings), key=lambda f: (f.path, f.line or 0, f.code))
        ]
        self._advance(commit, old, new, names, accepted=not violations)
        if not violations and any(
            trust.is_key(p) for ch in commit.changes for p in (ch.old_path, ch.new_path)
        ):
            self.keys_at = commit.commit
        note = self.acknowledgements.get(commit.commit)
        if note is not None and violations:
            self.acknowledged += violations
            self.notes.append(f"{commit.commit[:12]} acknowledged: {note}")
            return []
        return violations

    def _judge_files(
        self,
        old: dict[str, bytes | None],
        new: dict[str, bytes | None],
        unreadable: dict[str, Finding],
        names: set[str],
        policy: Policy,
        context: tuple[dict[str, bytes | None], dict[str, bytes | None]] = ({}, {}),
    ) -> list[Finding]:
        entries = files.Listing(dict.fromkeys(names, False), frozenset())

        def check_new(path: str, text: bytes | None, incumbents: frozenset[int]) -> Any:
            if path in unreadable:
                return [unreadable[path]], None
            return files.check_text(path, text, entries, incumbents)

        before = Side({**self._context(), **context[0], **old})
        after = Side({**self._context(), **context[1], **new}, frozenset(unreadable))
        found, _ = judge(
            set(old) | set(new),
            before,
            after,
            policy,
            check_new,
            push=True,
            incremental=self.incremental,
        )
        return found

    def _judging_changes(
        self,
        commit: LogCommit,
        old: Mapping[str, bytes | None],
        new: Mapping[str, bytes | None],
        judging: trust.Trusted,
    ) -> list[Finding]:
        """A PROTECTED_POLICY finding for each file that judges the registry and changed."""
        if self.creating:
            return []  # a repository becoming a registry: its first policy arrives with it
        paths = sorted(
            {p for ch in commit.changes for p in (ch.old_path, ch.new_path) if trust.is_judging(p)}
        )
        found = []
        for path in paths:
            if path == RETIRED_FILE and trust.retirement_grows(old.get(path), new.get(path)):
                continue  # gitreg's own deletes and renames: see trust.retirement_grows
            found.append(
                Finding(
                    path,
                    None,
                    "PROTECTED_POLICY",
                    f"{path} changed: it is part of what judges the registry (policy, CI, "
                    "code owners, retired names), which changes only through a reviewed pull "
                    f"request; later commits are judged by {judging.where()} until such a "
                    "change is accepted",
                )
            )
        return found

    def _cards_context(
        self,
        commit: LogCommit,
        old: Mapping[str, bytes | None],
        new: Mapping[str, bytes | None],
        judging: trust.Trusted,
    ) -> tuple[dict[str, bytes | None], dict[str, bytes | None]]:
        """The card beside each changed manifest and the manifest beside each changed card,
        before and after ``commit``, when the card rules need them (#29); two git calls."""
        changed = set(old) | set(new)
        if not cards.touches_cards(changed, judging.policy):
            return {}, {}
        wanted = sorted(cards.companions(changed) - changed)
        if not wanted:
            return {}, {}
        after, _ = compare.read_files_at(self.root, commit.commit, wanted)
        before: dict[str, bytes | None] = dict.fromkeys(wanted)
        if commit.parents:
            before, _ = compare.read_files_at(self.root, commit.parents[0], wanted)
        return before, after

    def _repairs(self, new: Mapping[str, bytes | None]) -> bool:
        return CONFIG_FILE in new and trust.load_config(new[CONFIG_FILE])[0] is not None

    def _unjudged(self, commit: LogCommit) -> Finding:
        return Finding(
            CONFIG_FILE,
            None,
            "BASE_POLICY_INVALID",
            f"{commit.commit[:12]} changed the registry while the trusted {self.trusted.where()} "
            "cannot judge; nothing is allowed until a reviewed change repairs it",
        )

    # ------------------------------------------------------------------- evidence

    def _evidence(
        self,
        commit: LogCommit,
        findings: list[Finding],
        judging: trust.Trusted,
        sides: tuple[Mapping[str, bytes | None], Mapping[str, bytes | None]],
    ) -> list[Finding]:
        """Drop the protected findings the forge confirms were reviewed; mark the rest.

        A reviewed change must also have had the approvals ``policy.approvals`` asks for
        when it merged (#24): ``gate.approval_check.MergedApprovals``.
        """
        protected = [f for f in findings if f.code.startswith("PROTECTED_")]
        if not protected:
            return findings
        settings = judging.config.forge if judging.config is not None else {"type": "none"}
        evidence = self.witness.ask(commit.commit, settings, judging.where())
        status = {True: "verified", False: "unreviewed", None: "unverified"}[evidence.reviewed]
        for f in protected:
            self.checked.append(
                Checked(
                    commit.commit,
                    f.path,
                    f.line,
                    f.code,
                    _what(f),
                    status,
                    evidence.why,
                    evidence.pull_request,
                )
            )
        rest = [f for f in findings if not f.code.startswith("PROTECTED_")]
        if evidence.reviewed:
            number = evidence.pull_request
            return rest + (
                [] if number is None else self.approvals.check(commit, sides, judging, number)
            )
        if evidence.reviewed is False:
            return findings
        return rest + [_unverified(f, evidence, commit.commit) for f in protected]

    # ---------------------------------------------------------------------- state

    def _context(self) -> dict[str, bytes | None]:
        return {RETIRED_FILE: self.texts[RETIRED_FILE]}

    def _sides(
        self, changes: Iterable[FileChange]
    ) -> tuple[dict[str, bytes | None], dict[str, bytes | None], dict[str, Finding]]:
        old: dict[str, bytes | None] = {}
        new: dict[str, bytes | None] = {}
        unreadable: dict[str, Finding] = {}
        for ch in changes:
            old.setdefault(ch.old_path, None)
            new.setdefault(ch.new_path, None)
            if ch.status in ("R", "C"):
                old.setdefault(ch.new_path, None)
                if ch.status == "R":
                    new[ch.old_path] = None
            if ch.status != "A":
                old[ch.old_path] = self._text(ch.old_mode, ch.old_blob)
            if ch.status != "D":
                new[ch.new_path] = self._text(ch.new_mode, ch.new_blob)
                if ch.new_mode != "100644":
                    unreadable[ch.new_path] = _irregular(ch.new_path, ch.new_mode)
        return old, new, unreadable

    def _text(self, mode: str, oid: str) -> bytes | None:
        return self.blobs.get(oid) if mode == "100644" and oid != _ZERO else None

    def _advance(
        self,
        commit: LogCommit,
        old: Mapping[str, bytes | None],
        new: Mapping[str, bytes | None],
        names: set[str],
        accepted: bool,
    ) -> None:
        founding = self.creating and trust.load_config(new.get(CONFIG_FILE))[0] is not None
        if CONFIG_FILE in new and (accepted or founding):
            # A registry's first gitreg.yaml is its policy even if the commit that brings it
            # breaks a rule elsewhere: nothing was protected before it (see trust.md).
            self._trust(commit.commit, old.get(CONFIG_FILE), new[CONFIG_FILE])
        for path in (CONFIG_FILE, RETIRED_FILE):
            if path in new:
                self.texts[path] = new[path]
        self.names = names

    def _trust(self, commit: str, before: bytes | None, after: bytes | None) -> None:
        """Trust the gitreg.yaml an accepted commit left, if it built on the trusted one."""
        if before != self.trusted.text and not self.creating and not self.broken:
            self.notes.append(
                f"{commit[:12]} changed {CONFIG_FILE} in a reviewed merge, but on top of "
                f"changes that were never accepted; {self.trusted.where()} keeps judging "
                f"until {CONFIG_FILE} is back to it or changed by review from it"
            )
            return
        self.trusted = trust.trusted_at(commit, after)
        self.fallback = self.trusted


def _in_registry(change: FileChange) -> bool:
    return any(
        p == CONFIG_FILE or p.startswith(f"{MODELS_DIR}/")
        for p in (change.old_path, change.new_path)
    )


def _irregular(path: str, mode: str) -> Finding:
    return Finding(
        path,
        None,
        "NOT_A_REGULAR_FILE",
        f"{path} is {git_kind(mode)}, not a regular file; gitreg reads only regular files "
        "(git mode 100644) there",
    )


def _what(finding: Finding) -> str:
    """A protected finding's change in a few words (``churn: @champion moved ...``)."""
    if finding.code == "PROTECTED_POLICY":
        return f"{finding.path} changed"
    return finding.message.split(_PROTECTED_TAIL, 1)[0]


def _unverified(finding: Finding, evidence: Evidence, commit: str) -> Finding:
    return Finding(
        finding.path,
        finding.line,
        "UNVERIFIED",
        f"{_what(finding)}: a protected change that no forge confirmed came from a merged pull "
        f"request ({evidence.why}); review it, then revert it or acknowledge it "
        f"(gitreg audit --record --acknowledge {commit[:12]} --reason TEXT)",
    )


def _names_after(names: set[str], changes: Iterable[FileChange]) -> set[str]:
    """The entries directly in models/ once ``changes`` are made (what ``files.listing``
    would see): gitreg.yaml is none of them, and models/sub/x.yaml is the entry ``sub``."""
    after = set(names)
    for change in changes:
        old = _entry(change.old_path)
        if old is not None and not old[1]:  # a file in a directory may leave others there
            after.discard(old[0])
        new = _entry(change.new_path)
        if new is not None and change.status != "D":
            after.add(new[0])
    return after


def _entry(path: str) -> tuple[str, bool] | None:
    """The entry of models/ that ``path`` is or is in, and whether in (None: not in models/)."""
    top, _, rest = path.partition("/")
    if top != MODELS_DIR:
        return None
    name, _, deeper = rest.partition("/")
    return name, bool(deeper)
