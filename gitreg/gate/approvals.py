"""Whether a pull request's reviews meet ``policy.approvals`` (#24). No I/O of its own.

``needs_of`` reads what a change does (the protected changes of ``core.protection``, the
one function the core, the gate and the audit share) and lists the rules it must meet,
one ``Need`` per rule and model. ``judge`` then counts the approvals of one pull request
for one need:

- only each reviewer's latest review counts: a later "changes requested" or a dismissal
  withdraws an approval, a comment does not;
- with ``after_last_push``, only approvals of the pull request's head commit count;
- unless ``self: true``, the author's own approval never counts. The author is the
  pull request's opener and every account the forge attributes one of its commits to
  (author or committer): whoever wrote part of a change does not approve it;
- the approver must be named in ``from``: a listed user, an active member of a listed
  team (asked of the forge), or a code owner of the model's manifest;
- for a merged pull request (the audit), only reviews submitted before it merged count.

Who may approve is asked through callables, so the forge calls stay in ``gate.reviews``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gitreg.core import manifest, validate
from gitreg.core.approvals import ApprovalRule
from gitreg.core.codeowners import Owners
from gitreg.core.config import MODELS_DIR, Policy
from gitreg.core.entities import RegisteredModel, Stage
from gitreg.core.finding import Finding
from gitreg.core.names import name_of_stem
from gitreg.core.protection import ProtectedChange, protected_changes
from gitreg.core.retired import RETIRED_FILE
from gitreg.gate.judge import pair_renames
from gitreg.gate.rules import model_of
from gitreg.integrations.forges.reviews import (
    APPROVED,
    COMMENTED,
    DISMISSED,
    PullReviews,
    Reviewed,
    iso_utc,
)

# (team, user, user id) -> whether the user is an active member (raises ForgeError)
Member = Callable[[str, str, "int | None"], bool]
# manifest path -> its code owners, or why they cannot be known
OwnersOf = Callable[[str], "Owners | str"]
_IGNORED = {COMMENTED, "PENDING"}


@dataclasses.dataclass(frozen=True, slots=True)
class Need:
    """One rule of ``policy.approvals`` that one model's change must meet."""

    key: str  # "Production", "@champion", "@prod-*"
    rule: ApprovalRule
    model: str
    path: str  # the manifest as changed
    owned_path: str  # the manifest whose code owners may approve (the base's name)
    changes: tuple[str, ...]  # "version 3: Staging -> Production", "@champion set to 3"
    line: int | None = None

    def label(self) -> str:
        """``churn: version 3: Staging -> Production``."""
        return f"{self.model}: {'; '.join(self.changes)}"


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """The approvals a need got: who counted, who did not and why, who may still approve."""

    need: Need
    approved_by: tuple[str, ...]
    not_counted: tuple[tuple[str, str], ...] = ()
    may_approve: tuple[str, ...] = ()
    head: str = ""
    problem: str | None = None  # why approvers cannot be known (no code owner named)

    @property
    def met(self) -> bool:
        """True when enough approvals count."""
        return len(self.approved_by) >= self.need.rule.min

    @property
    def missing(self) -> int:
        """How many more approvals are needed."""
        return max(0, self.need.rule.min - len(self.approved_by))

    def describe(self) -> str:
        """What counted, what did not and why, and who may still approve (one line)."""
        parts = [f"approved so far by {', '.join(self.approved_by) or 'nobody'}"]
        if self.not_counted:
            parts.append(
                "not counted: " + ", ".join(f"{who} ({why})" for who, why in self.not_counted)
            )
        if self.problem:
            parts.append(self.problem)
        if not self.met:
            parts.append(f"may still approve: {', '.join(self.may_approve) or 'nobody'}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {
            "requirement": self.need.key,
            "model": self.need.model,
            "changes": list(self.need.changes),
            "rule": self.need.rule.to_dict(),
            "met": self.met,
            "approved_by": list(self.approved_by),
            "missing": self.missing,
            "not_counted": [{"user": who, "why": why} for who, why in self.not_counted],
            "may_approve": list(self.may_approve),
            "problem": self.problem,
        }


# ------------------------------------------------------------------- what needs what


def needs_of(
    paths: Iterable[str],
    old: Mapping[str, bytes | None],
    new: Mapping[str, bytes | None],
    policy: Policy,
) -> list[Need]:
    """The approval rules the change from ``old`` to ``new`` (manifest texts) must meet."""
    if not policy.approvals:
        return []
    manifests = sorted(p for p in set(paths) if _is_manifest(p))
    before = {p: _parse(old.get(p)) for p in manifests}
    after = {p: _parse(new.get(p)) for p in manifests}
    pairs = pair_renames(
        {p: d for p, d in before.items() if d is not None and after[p] is None},
        {p: d for p, d in after.items() if d is not None and before[p] is None},
    )
    sources = set(pairs.values())
    found: dict[tuple[str, str], Need] = {}
    for path in manifests:
        if path in sources:
            continue  # judged with the manifest it was renamed to
        source = pairs.get(path, path)
        was, now = model_of(before[source]), model_of(after[path])
        renamed = _name(source) if source != path else None
        for change in protected_changes(was, now, policy, renamed_from=renamed):
            for key, rule in _rules_for(change, was, now, policy):
                line = _line(new.get(path), after[path], change)
                need = found.get((key, path))
                if need is None:
                    found[key, path] = Need(
                        key, rule, change.model, path, source, (change.what,), line
                    )
                elif change.what not in need.changes:
                    changes = (*need.changes, change.what)
                    found[key, path] = dataclasses.replace(need, changes=changes)
    return sorted(found.values(), key=lambda n: (n.path, n.key))


def _rules_for(
    change: ProtectedChange,
    was: RegisteredModel | None,
    now: RegisteredModel | None,
    policy: Policy,
) -> list[tuple[str, ApprovalRule]]:
    if change.kind == "alias" and change.alias is not None:
        return policy.approvals.for_alias(change.alias)
    if change.kind in ("stage", "delete-version") and change.version is not None:
        stages = {_stage(was, change.version), _stage(now, change.version)}
        held = sorted((s for s in stages if s in policy.protected), key=lambda s: s.value)
        return [pair for stage in held for pair in policy.approvals.for_stage(stage)]
    if was is None:
        return []
    rules = [
        pair
        for stage in sorted(
            {mv.current_stage for mv in was.versions} & policy.protected, key=lambda s: s.value
        )
        for pair in policy.approvals.for_stage(stage)
    ]
    for alias in sorted(was.aliases):
        if policy.alias_protected(alias):
            rules += policy.approvals.for_alias(alias)
    return rules


def _stage(model: RegisteredModel | None, version: int) -> Stage | None:
    found = model.get_version(version) if model is not None else None
    return found.current_stage if found is not None else None


def _line(text: bytes | None, data: Any, change: ProtectedChange) -> int | None:
    if text is None or not isinstance(data, Mapping):
        return None
    if change.kind == "alias" and change.alias is not None:
        return manifest.line_of(text, ["aliases", change.alias]) or manifest.line_of(
            text, ["aliases"]
        )
    versions = data.get("versions")
    for index, v in enumerate(versions if isinstance(versions, list) else ()):
        if isinstance(v, Mapping) and v.get("version") == change.version:
            return manifest.line_of(text, ["versions", index, "stage"])
    return manifest.line_of(text, ["name"])


def _parse(text: bytes | None) -> Mapping[str, Any] | None:
    if text is None:
        return None
    data, syntax = validate.parse(text, "manifest")
    return data if isinstance(data, Mapping) and not syntax else None


def _is_manifest(path: str) -> bool:
    head, _, name = path.rpartition("/")
    return head == MODELS_DIR and name.endswith(".yaml") and path != RETIRED_FILE


def _name(path: str) -> str:
    stem = path.rsplit("/", 1)[-1].removesuffix(".yaml")
    return name_of_stem(stem) or stem


# ----------------------------------------------------------------- counting approvals


def latest_reviews(pull: PullReviews, until: str | None = None) -> dict[str, list[Reviewed]]:
    """Each reviewer's verdicts, oldest first (comments left out), keyed case-insensitively;
    with ``until``, only those submitted by then (a merged pull request's merge time)."""
    limit = iso_utc(until) if until else None
    by_user: dict[str, list[Reviewed]] = {}
    for review in pull.reviews:
        if review.state in _IGNORED:
            continue
        if limit is not None and review.submitted_at and iso_utc(review.submitted_at) > limit:
            continue
        by_user.setdefault(review.user.casefold(), []).append(review)
    return by_user


def judge(
    need: Need,
    pull: PullReviews,
    owners_of: OwnersOf,
    member: Member,
    until: str | None = None,
) -> Verdict:
    """Count ``pull``'s approvals for ``need`` (see the module's rules).

    Raises:
        ForgeError: team membership could not be asked (the caller fails closed).
    """
    rule = need.rule
    owners, problem = _owners(rule, owners_of, need.owned_path)
    users = {u.casefold(): u for u in (*rule.users, *owners.users)}
    teams = tuple(dict.fromkeys((*rule.teams, *owners.teams)))
    authors = {pull.author.casefold(), *(c.casefold() for c in pull.contributors)}
    approved: list[str] = []
    not_counted: list[tuple[str, str]] = []
    for verdicts in latest_reviews(pull, until).values():
        last = verdicts[-1]
        why = _not_counted(rule, pull, last, verdicts, authors)
        if why is None and not _allowed(last, users, teams, member):
            why = "not named in from"
        if why is None:
            approved.append(last.user)
        else:
            not_counted.append((last.user, why))
    done = {a.casefold() for a in approved}
    may = [
        u
        for key, u in users.items()
        if key not in done and (rule.self_approval or key not in authors)
    ]
    may += [f"a member of @{t}" for t in teams]
    return Verdict(need, tuple(approved), tuple(not_counted), tuple(may), pull.head, problem)


def _not_counted(
    rule: ApprovalRule,
    pull: PullReviews,
    last: Reviewed,
    verdicts: Sequence[Reviewed],
    authors: set[str],
) -> str | None:
    """Why ``last`` (a reviewer's latest verdict) does not count, None if it may.

    ``verdicts`` are the reviewer's verdicts, oldest first (``last`` is the final one).
    """
    approved_before = any(v.state == APPROVED for v in verdicts[:-1])
    if last.state != APPROVED:
        if last.state == DISMISSED:
            return "review dismissed"  # GitHub marks the dismissed review itself
        return "requested changes after approving" if approved_before else "requested changes"
    if rule.after_last_push and last.commit != pull.head:
        seen = f"commit {last.commit[:12]}" if last.commit else "an earlier push"
        return f"approved {seen}, not the head {pull.head[:12]}"
    if not rule.self_approval and last.user.casefold() in authors:
        opener = last.user.casefold() == pull.author.casefold()
        return "the author" if opener else "an author of its commits"
    return None


def _allowed(
    review: Reviewed, users: Mapping[str, str], teams: Sequence[str], member: Member
) -> bool:
    if review.user.casefold() in users:
        return True
    return any(member(team, review.user, review.user_id) for team in teams)


def _owners(rule: ApprovalRule, owners_of: OwnersOf, path: str) -> tuple[Owners, str | None]:
    if not rule.codeowners:
        return Owners(), None
    found = owners_of(path)
    if isinstance(found, str):
        return Owners(), found
    if not found:
        return found, f"CODEOWNERS names no account or team that owns {path}"
    return found, None


def finding(verdict: Verdict, *, merged: bool = False) -> Finding:
    """The one finding of an unmet need: the requirement, who approved, who may, what to do."""
    need = verdict.need
    rule = need.rule
    head = f" {verdict.head[:12]}" if rule.after_last_push else ""
    terms = f"policy.approvals.{need.key}: {rule.terms()}{head}"
    if merged:
        return Finding(
            need.path,
            need.line,
            "MERGED_WITHOUT_APPROVAL",
            f"{need.label()}: merged with {len(verdict.approved_by)} of the {rule.min} "
            f"approvals it needs ({terms}); {verdict.describe()}; it was merged past the gate "
            "(an administrator's merge?): review it, then revert it or acknowledge it",
        )
    return Finding(
        need.path,
        need.line,
        "APPROVAL_REQUIRED",
        f"{need.label()}: needs {rule.min} approval{'s' if rule.min != 1 else ''}, "
        f"{verdict.missing} more ({terms}); {verdict.describe()}. Once they approve, run "
        "this check again (a review re-runs the gitreg workflow): no new commit is needed",
    )
