"""What ``gitreg validate`` checks: every registry file, or what a change does against its base.

Without a base, every manifest and gitreg.yaml get the schema and the invariants. With a base,
only the files that differ between the base and the work tree are read, so a pull request that
touches one model of ten thousand costs one ``diff-index`` and two small parses: the base was
valid when it was merged, and an unchanged file is still what it was (see #4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gitreg.core.config import CONFIG_FILE, MODELS_DIR, Policy
from gitreg.core.errors import not_a_models_directory
from gitreg.core.finding import Finding
from gitreg.core.retired import RETIRED_FILE
from gitreg.gate import approval_check, cards, files, signing, trust
from gitreg.gate.approvals import Verdict
from gitreg.gate.judge import Side, judge
from gitreg.gate.rules import ModelChange
from gitreg.store import compare


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """The verdict: findings (any makes it invalid), what the change does, and notes."""

    findings: tuple[Finding, ...]
    changes: tuple[ModelChange, ...] = ()
    notes: tuple[Finding, ...] = ()
    checked: int = 0
    base: str | None = None  # the base ref as given
    base_commit: str | None = None
    prefix: str = ""  # the registry's directory inside its git repository, "" or "dir/"
    approvals: tuple[Verdict, ...] = ()  # the approvals the change needed, counted (#24)

    @property
    def valid(self) -> bool:
        """True when nothing was found."""
        return not self.findings


def check_registry(root: Path, paths: Iterable[str] | None = None) -> Report:
    """Schema and invariants for every registry file (or only ``paths``, root-relative)."""
    entries = files.listing(root)
    if paths is None:
        selected = {CONFIG_FILE, *(f"{MODELS_DIR}/{name}" for name in entries)}
    else:
        selected = {p for p in paths if _is_registry_path(p)}
    cache = files.FindingsCache(root)
    findings = _listing_findings(entries)
    contents = files.read_models(root) if paths is None else None
    if contents is not None:
        cache.prefetch(contents)  # parsed on every core (#15)
    for path in sorted(selected):
        findings += files.check_file(root, path, entries, cache, contents)
    cache.save()
    return Report(_sorted(findings), checked=len(selected), prefix=compare.prefix(root))


def check_change(
    root: Path,
    base: str,
    paths: Iterable[str] | None = None,
    *,
    push: bool = False,
    pull_request: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Report:
    """The files that differ between ``base`` and the work tree: checks and change rules.

    A change to a protected stage or alias also needs the approvals the base's
    ``policy.approvals`` asks for: the reviews of ``pull_request`` are read from the
    trusted forge with the token in ``env`` (``gate.approval_check``, #24).

    Raises:
        BadRef: ``base`` names no commit.
    """
    base_commit = compare.resolve_commit(root, base)
    point, notes = _compare_point(root, base, base_commit)
    changed = _changed_paths(root, point)
    if paths is not None:
        changed &= set(paths)
    prefix = compare.prefix(root)
    wanted = changed | {RETIRED_FILE} | cards.companions(changed)  # cards beside models (#29)
    old_texts, _irregular = compare.read_files_at(root, point, wanted, prefix)
    entries = files.listing(root)
    new_texts: dict[str, bytes | None] = {}
    unreadable: dict[str, list[Finding]] = {}
    for path in sorted(wanted):
        new_texts[path], unreadable[path] = files.read_worktree(root, path)
    base_policy = _base_policy(root, base, base_commit, changed, new_texts.get(CONFIG_FILE))
    policy, policy_notes, refusals = base_policy
    policy = signing.for_worktree(policy, root, base_commit)  # keys from the base (#28)
    notes += policy_notes
    if CONFIG_FILE in changed and not refusals and not policy_notes:
        notes.append(_config_note(base, base_commit))

    def check_new(
        path: str, text: bytes | None, incumbents: frozenset[int]
    ) -> tuple[list[Finding], Any]:
        if unreadable.get(path):
            return unreadable[path], None
        return files.check_text(path, text, entries, incumbents)

    skipped = {p for p, found in unreadable.items() if found}
    findings, changes = judge(
        changed, Side(old_texts), Side(new_texts, frozenset(skipped)), policy, check_new, push=push
    )
    findings += _listing_findings(entries) + refusals
    verdicts: list[Verdict] = []
    if not refusals and not push:
        found, met, verdicts = approval_check.check_pull_request(
            root, base_commit, policy, (changed, old_texts, new_texts), pull_request, env or {}
        )
        findings += found
        notes += met
    return Report(
        _sorted(findings),
        tuple(changes),
        tuple(notes),
        len(changed),
        base,
        base_commit,
        prefix,
        tuple(verdicts),
    )


def _listing_findings(entries: files.Listing) -> list[Finding]:
    if not entries.problem:
        return []
    message = not_a_models_directory(entries.problem).message
    return [Finding(MODELS_DIR, None, "NOT_A_REGULAR_FILE", message)]


def _sorted(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(sorted(set(findings), key=lambda f: (f.path, f.line or 0, f.code, f.message)))


# ----------------------------------------------------------------- base and policy


def _compare_point(root: Path, base: str, base_commit: str) -> tuple[str, list[Finding]]:
    """The merge base of ``base`` and HEAD: a branch's own changes, not the base's since."""
    head = compare.head_commit(root)
    if head is None:
        return base_commit, []  # no commit yet: everything in the work tree is new
    found = compare.merge_base(root, base_commit, head)
    if found is not None:
        return found, []
    note = Finding(
        "",
        None,
        "NO_MERGE_BASE",
        f"{base} and HEAD share no history here (a shallow clone?); compared with {base} "
        "itself: fetch more history (actions/checkout with fetch-depth: 0) if that is wrong",
    )
    return base_commit, [note]


def _base_policy(
    root: Path, base: str, commit: str, changed: set[str], repair: bytes | None
) -> tuple[Policy, list[Finding], list[Finding]]:
    """The policy of the base's gitreg.yaml, which judges the change (see DESIGN.md): the
    policy, notes, and the findings that refuse the change when the base cannot judge.

    Fail closed (#22): a base gitreg.yaml that does not parse or breaks the schema allows
    nothing, except the change that repairs it (gitreg.yaml alone, valid), which is judged
    by the last valid policy in the base's history. A base with no gitreg.yaml and no model
    is a repository becoming a registry: the policy ``gitreg init`` writes judges it.
    """
    texts, irregular = compare.read_files_at(root, commit, [CONFIG_FILE])
    found = trust.trusted_at(commit, texts[CONFIG_FILE], irregular.get(CONFIG_FILE))
    if found.config is not None:
        return found.config.policy, [], []
    at = f"the base {base} ({commit[:12]})"
    if found.problem is None and not trust.is_registry_at(root, commit):
        note = Finding(
            "",
            None,
            "BASE_POLICY_DEFAULT",
            f"{at} has no {CONFIG_FILE} and no model: this change makes it a registry, judged "
            "by the policy gitreg init writes",
        )
        return trust.init_config().policy, [note], []
    why = found.problem or f"it has models but no {CONFIG_FILE}"
    last = trust.last_valid(root, commit)
    by = f"the last valid policy, {last.where()}" if last else "the policy gitreg init writes"
    policy = last.policy if last else trust.init_config().policy
    repairs = changed <= {CONFIG_FILE} and trust.load_config(repair)[0] is not None
    if CONFIG_FILE in changed and repairs:
        note = Finding(
            CONFIG_FILE,
            None,
            "BASE_POLICY_REPAIRED",
            f"{at} has an invalid {CONFIG_FILE} ({why}); this change repairs it and is judged "
            f"by {by}",
        )
        return policy, [note], []
    refusal = Finding(
        CONFIG_FILE,
        None,
        "BASE_POLICY_INVALID",
        f"{at} cannot judge this change: its {CONFIG_FILE} is invalid ({why}), and an "
        f"invalid policy allows nothing. Fix the base's {CONFIG_FILE} first, in a pull request "
        f"that changes only {CONFIG_FILE} (it is judged by {by})",
    )
    return policy, [], [refusal]


def _config_note(base: str, commit: str) -> Finding:
    return Finding(
        CONFIG_FILE,
        1,
        "BASE_POLICY_USED",
        f"this change edits {CONFIG_FILE}, but a change is judged by the policy of its base "
        f"({base} at {commit[:12]}); the edited policy applies only once it is merged",
    )


# ------------------------------------------------------------------------ files


def _changed_paths(root: Path, commit: str) -> set[str]:
    """Registry paths that differ between ``commit`` and the work tree (untracked included)."""
    paths = compare.changed_paths(root, commit, [MODELS_DIR, CONFIG_FILE])
    return {p for p in paths if _is_registry_path(p)}


def _is_registry_path(path: str) -> bool:
    return path == CONFIG_FILE or path.startswith(f"{MODELS_DIR}/")
