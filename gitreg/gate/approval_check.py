"""Asking the trusted forge who approved, for the gate and the audit (#24).

What judges a pull request comes from trusted history: the rules from the base's
gitreg.yaml, the forge (its API origin and repository) from the base's ``registry.forge``
or from the CI system's own variables (``integrations.forges.audit_forge``), the code owners
from the base's CODEOWNERS, the token from the environment. Nothing the change carries is
asked. A forge that cannot answer (no token, 401, 403, 5xx, a timeout) approves nothing:
every rule it would decide is a finding, with the forge's one-line reason and never the
token. ``Asker`` caches one forge's answers for a run (a pull request, a team membership).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gitreg.core import codeowners
from gitreg.core.approved import ApprovalRecord
from gitreg.core.codeowners import Owners
from gitreg.core.config import CONFIG_FILE, MODELS_DIR, Config, Policy
from gitreg.core.errors import ForgeError
from gitreg.core.finding import Finding
from gitreg.gate import approvals, trust
from gitreg.gate.approvals import Need, Verdict
from gitreg.gate.evidence import Witness
from gitreg.integrations.forges import audit_forge
from gitreg.integrations.forges.base import Forge
from gitreg.integrations.forges.reviews import APPROVED, PullReviews
from gitreg.store import compare
from gitreg.store.history import LogCommit, read_log
from gitreg.store.remote import remote_url

NAMES = {"github": "GitHub", "gitlab": "GitLab"}


class Asker:
    """One trusted forge's answers about pull requests and teams, asked once each."""

    def __init__(self, forge: Forge) -> None:
        self.forge = forge
        self.name = NAMES.get(forge.kind, forge.kind)
        self._pulls: dict[int, PullReviews] = {}
        self._members: dict[tuple[str, str], bool] = {}

    def pull(self, number: int) -> PullReviews:
        """Pull request ``number`` and its reviews (ForgeError if the forge cannot say)."""
        if number not in self._pulls:
            self._pulls[number] = self.forge.pull_reviews(number)
        return self._pulls[number]

    def member(self, team: str, user: str, user_id: int | None) -> bool:
        """Whether ``user`` is an active member of ``team`` (ForgeError if unknown)."""
        key = (team.casefold(), user.casefold())
        if key not in self._members:
            self._members[key] = self.forge.is_member(team, user, user_id)
        return self._members[key]


def make_asker(settings: Mapping[str, Any], url: str, env: Mapping[str, str]) -> Asker | str:
    """An ``Asker`` for the trusted ``registry.forge`` settings, or why there is none."""
    kind = str(settings.get("type", "none"))
    if kind not in NAMES:
        return (
            f"registry.forge is {kind} in the trusted {CONFIG_FILE}, and no other forge can "
            "tell who approved"
        )
    try:
        return Asker(audit_forge(settings, url, env))
    except ForgeError as e:
        return f"{NAMES[kind]} cannot be asked: {e.message}"


def owners_reader(root: Path, commit: str, kind: str, prefix: str) -> Callable[[str], Owners | str]:
    """Code owners of registry paths by the CODEOWNERS at ``commit`` (the trusted base)."""
    places = codeowners.LOCATIONS.get(kind, codeowners.LOCATIONS["github"])
    texts, irregular = compare.read_files_at(root, commit, list(places))
    found = next((p for p in places if texts.get(p) is not None or p in irregular), None)
    where = f"at {commit[:12]}"

    def owners_of(path: str) -> Owners | str:
        if found is None:
            return f"there is no CODEOWNERS ({', '.join(places)}) {where}, so no code owner"
        text = texts.get(found)
        if text is None:
            return f"{found} {where} is {irregular[found]}, not a regular file: no code owner"
        if len(text) > codeowners.MAX_BYTES:
            return f"{found} {where} is larger than {codeowners.MAX_BYTES} bytes: no code owner"
        owners = codeowners.owners_of(text, prefix + path, gitlab=kind == "gitlab")
        if not owners:
            return f"{found} {where} names no account or team that owns {prefix + path}"
        return owners

    return owners_of


def judge_all(
    needs: Sequence[Need],
    pull: PullReviews,
    asker: Asker,
    owners_of: Callable[[str], Owners | str],
    until: str | None = None,
) -> list[Verdict]:
    """Every need judged against ``pull`` (ForgeError when a membership cannot be asked)."""
    return [approvals.judge(n, pull, owners_of, asker.member, until) for n in needs]


def unchecked(needs: Iterable[Need], why: str, code: str = "APPROVALS_UNCHECKED") -> list[Finding]:
    """One finding per need whose approvals could not be read (fail closed)."""
    return [
        Finding(
            n.path,
            n.line,
            code,
            f"{n.label()}: needs approvals (policy.approvals.{n.key}: {n.rule.terms()}), and "
            f"they cannot be checked: {why}; nothing counts as approved until they can",
        )
        for n in needs
    ]


def met_note(verdict: Verdict) -> Finding:
    """A note for a need that is met: who approved it."""
    need = verdict.need
    return Finding(
        need.path,
        need.line,
        "APPROVED",
        f"{need.label()}: policy.approvals.{need.key} is met ({need.rule.terms()}): "
        f"approved by {', '.join(verdict.approved_by)}",
    )


# --------------------------------------------------------------------------- the gate


def check_pull_request(
    root: Path,
    base_commit: str,
    policy: Policy,
    changes: tuple[Iterable[str], Mapping[str, bytes | None], Mapping[str, bytes | None]],
    number: int | None,
    env: Mapping[str, str],
) -> tuple[list[Finding], list[Finding], list[Verdict]]:
    """(findings, notes, verdicts) for the approvals the change needs, by the base's policy.

    ``changes`` is (paths, texts at the merge base, texts in the work tree). Nothing is
    asked of the forge when the change needs no approval (a description edit).
    """
    needs = approvals.needs_of(*changes, policy)
    if not needs:
        return [], [], []
    if number is None:
        why = (
            "validate needs the pull request's number to read its reviews: run it with "
            "--pull-request N (the workflow gitreg init writes passes it)"
        )
        return unchecked(needs, why), [], []
    config = _trusted_config(root, base_commit)
    asker = make_asker(config.forge, remote_url(root, config) or "", env)
    if isinstance(asker, str):
        return unchecked(needs, asker), [], []
    try:
        pull = asker.pull(number)
    except ForgeError as e:
        return unchecked(needs, f"{asker.name} could not be asked: {e.message}"), [], []
    stale = _not_this_change(root, pull)
    if stale is not None:
        return unchecked(needs, stale), [], []
    kind = str(config.forge.get("type", "none"))
    owners_of = owners_reader(root, base_commit, kind, compare.prefix(root))
    try:
        verdicts = judge_all(needs, pull, asker, owners_of)
    except ForgeError as e:
        return unchecked(needs, f"{asker.name} could not say who is in a team: {e.message}"), [], []
    findings = [approvals.finding(v) for v in verdicts if not v.met]
    notes = [met_note(v) for v in verdicts if v.met]
    return findings, notes, verdicts


def _trusted_config(root: Path, commit: str) -> Config:
    """The base's gitreg.yaml (or the last valid one before it): whose forge is asked."""
    text = compare.read_files_at(root, commit, [CONFIG_FILE])[0][CONFIG_FILE]
    found = trust.trusted_at(commit, text)
    if found.config is not None:
        return found.config
    last = trust.last_valid(root, commit)
    return last.config if last is not None and last.config is not None else Config()


def _not_this_change(root: Path, pull: PullReviews) -> str | None:
    """Why the reviews of ``pull`` are not of what is checked here (None: they are).

    The work tree must hold the pull request's head: HEAD is its head commit, or a merge
    of it (what CI checks out for a pull request), with no registry file edited since.
    """
    head = compare.head_commit(root)
    merged_in = compare.parents(root, head) if head is not None else ()
    if head != pull.head and pull.head not in merged_in[1:]:
        return (
            f"pull request #{pull.number}'s head is {pull.head[:12]}, but this check runs on "
            f"{(head or 'no commit')[:12]}: check out the pull request's head (or run the "
            "check again if it moved meanwhile)"
        )
    edited = sorted(compare.changed_paths(root, head or pull.head, ["models", CONFIG_FILE]))
    if edited:
        return (
            f"{', '.join(edited[:3])} differ{'s' if len(edited) == 1 else ''} from pull request "
            f"#{pull.number}'s head here; its reviews are of the head as pushed"
        )
    return None


# ---------------------------------------------------------------------- open requests


def open_request(
    root: Path, policy_at: str, base: str, commit: str, number: int, asker: Asker
) -> list[Verdict]:
    """Where the approvals of an open request stand (``gitreg requests``): its change from
    ``base`` to ``commit`` judged by the rules of ``policy_at`` (the branch it merges into).

    Raises:
        ForgeError: the forge cannot say (the caller shows the state as unknown).
    """
    paths = sorted(
        {
            p
            for c in read_log(root, base, commit, [f"{MODELS_DIR}/"])
            for ch in c.changes
            for p in (ch.old_path, ch.new_path)
        }
    )
    config = _trusted_config(root, policy_at)
    old = compare.read_files_at(root, base, paths)[0]
    new = compare.read_files_at(root, commit, paths)[0]
    needs = approvals.needs_of(paths, old, new, config.policy)
    if not needs:
        return []
    pull = asker.pull(number)
    kind = str(config.forge.get("type", "none"))
    return judge_all(needs, pull, asker, owners_reader(root, policy_at, kind, ""))


# -------------------------------------------------------------------------- the audit


class MergedApprovals:
    """The audit's side (#24): each merged pull request's approvals as they were when it
    merged, judged by the trusted policy, and kept as records for ``audit --record``."""

    def __init__(self, root: Path, witness: Witness) -> None:
        self.root = root
        self.witness = witness
        self.records: list[ApprovalRecord] = []
        self.notes: list[str] = []
        self._askers: dict[int, Asker | str] = {}

    def check(
        self,
        commit: LogCommit,
        sides: tuple[Mapping[str, bytes | None], Mapping[str, bytes | None]],
        judging: trust.Trusted,
        number: int,
    ) -> list[Finding]:
        """Violations of ``commit`` (merged pull request ``number``): every rule its merge
        did not meet (MERGED_WITHOUT_APPROVAL), or could not be asked (APPROVALS_UNVERIFIED).
        """
        old, new = sides
        needs = approvals.needs_of(set(old) | set(new), old, new, judging.policy)
        settings = judging.config.forge if judging.config is not None else {"type": "none"}
        asker = self._asker(settings, judging.where())
        try:
            if isinstance(asker, str):
                raise ForgeError(asker)
            pull = asker.pull(number)
            kind = str(settings.get("type", "none"))
            base = commit.parents[0] if commit.parents else None
            owners_of = _no_base if base is None else owners_reader(self.root, base, kind, "")
            verdicts = judge_all(needs, pull, asker, owners_of, until=pull.merged_at)
        except ForgeError as e:
            why = f"the approvals of pull request #{number} could not be read: {e.message}"
            if not needs:
                self.notes.append(f"{commit.commit[:12]}: {why}")
            return unchecked(needs, why, "APPROVALS_UNVERIFIED")
        self.records.append(_record(commit.commit, pull, verdicts))
        return [approvals.finding(v, merged=True) for v in verdicts if not v.met]

    def _asker(self, settings: Mapping[str, Any], where: str) -> Asker | str:
        forge = self.witness.forge(settings, where)
        if isinstance(forge, str):
            return forge
        if id(forge) not in self._askers:
            self._askers[id(forge)] = Asker(forge)
        return self._askers[id(forge)]


def _no_base(path: str) -> Owners | str:
    return "the first commit has no base whose CODEOWNERS could name an owner"


def _record(commit: str, pull: PullReviews, verdicts: Sequence[Verdict]) -> ApprovalRecord:
    latest = approvals.latest_reviews(pull, pull.merged_at)
    approved = tuple(v[-1].user for v in latest.values() if v[-1].state == APPROVED)
    return ApprovalRecord(
        commit,
        pull.number,
        approved,
        pull.forge,
        pull.url,
        pull.author,
        pull.head,
        pull.merged_at,
        tuple(
            {
                "requirement": v.need.key,
                "model": v.need.model,
                "met": v.met,
                "approved_by": list(v.approved_by),
                "missing": v.missing,
            }
            for v in verdicts
        ),
    )
