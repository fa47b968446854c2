"""Which changes touch a protected fact: what a deployment reads, changed only by review.

A protected fact is the version in a protected stage (``policy.protected``), the target of a
protected alias (``policy.protected_aliases``), and the existence, under its name, of the
model and versions behind them (DESIGN.md, "What is protected"). ``protected_changes``
compares two states of one model and lists every such change: a stage moved into or out of
a protected stage, a protected alias set, moved or removed, a version deleted while it held
one, a model deleted or renamed while it held one. The core, the gate and the audit all ask
this one function, so they can never disagree about what needs review.

What judges the registry is protected too (#22): a write gitreg makes to ``gitreg.yaml`` (a
webhook added, changed or removed) is a ``config`` change (``config_change``), which on a
registry with a remote becomes a request like a promotion, since the audit accepts a change
to gitreg.yaml only through a reviewed merge.
"""

from __future__ import annotations

from typing import Any

from gitreg.core import record
from gitreg.core.config import Policy
from gitreg.core.entities import RegisteredModel, Stage


@record.dataclass(frozen=True, slots=True)
class ProtectedChange:
    """One change to a protected fact of one model."""

    model: str
    kind: str  # "stage", "alias", "delete-version", "delete-model", "rename", "config", "card"
    what: str  # one line, e.g. "version 3: Staging -> Production"
    version: int | None = None
    stage: str | None = None  # the protected stage involved
    alias: str | None = None  # the protected alias involved
    target: int | None = None  # the alias's new version (None: removed)
    to_stage: str | None = None  # a stage change's new stage
    old_name: str | None = None  # a rename's former name

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {name: getattr(self, name) for name in record.fields(self)}


CONFIG_CHANGE = "config"
CARD_CHANGE = "card"


def config_change(path: str, what: str) -> ProtectedChange:
    """The change a write makes to ``path`` (gitreg.yaml), described by ``what`` (its
    commit message, e.g. ``Add webhook deploy``): a change to what judges the registry."""
    return ProtectedChange(path, CONFIG_CHANGE, what or f"{path} edited")


def protected_changes(
    old: RegisteredModel | None,
    new: RegisteredModel | None,
    policy: Policy,
    *,
    renamed_from: str | None = None,
) -> list[ProtectedChange]:
    """Every change from ``old`` to ``new`` (None: absent) that touches a protected fact.

    With ``renamed_from``, ``old`` is the model as it was under that name: the versions and
    aliases compare as one model's, and the rename itself is a change when the model held
    a protected fact.
    """
    found: list[ProtectedChange] = []
    either = new if new is not None else old
    name = either.name if either is not None else ""
    if old is not None and new is None:
        held = _held(old, policy)
        if held:
            found.append(
                ProtectedChange(old.name, "delete-model", f"model deleted while it holds {held}")
            )
    if renamed_from is not None and old is not None and new is not None:
        held = _held(old, policy)
        if held:
            found.append(
                ProtectedChange(
                    new.name,
                    "rename",
                    f"renamed from {renamed_from} while it holds {held}",
                    old_name=renamed_from,
                )
            )
    found += _stage_changes(name, old, new, policy)
    found += _alias_changes(name, old, new, policy)
    return found


def card_change(model: RegisteredModel | None, policy: Policy, path: str) -> ProtectedChange | None:
    """The change an edit of ``model``'s card (at ``path``) makes, when the model holds a
    protected fact: what a deployment reads is described by the card, so its card is
    reviewed like its stage (#29). None when the model holds none (or does not exist)."""
    held = _held(model, policy) if model is not None else ""
    if model is None or not held:
        return None
    return ProtectedChange(
        model.name, CARD_CHANGE, f"model card {path} edited while it holds {held}"
    )


def _held(model: RegisteredModel, policy: Policy) -> str:
    """The protected facts ``model`` holds, as words ("version 2 in Production, @champion")."""
    facts = [
        f"version {mv.version} in {mv.current_stage.value}"
        for mv in model.versions
        if mv.current_stage in policy.protected
    ]
    facts += [f"@{a}" for a in sorted(model.aliases) if policy.alias_protected(a)]
    return ", ".join(facts)


def _stage_changes(
    name: str, old: RegisteredModel | None, new: RegisteredModel | None, policy: Policy
) -> list[ProtectedChange]:
    before = {mv.version: mv.current_stage for mv in old.versions} if old else {}
    after = {mv.version: mv.current_stage for mv in new.versions} if new else {}
    found = []
    for number in sorted(before.keys() | after.keys()):
        was, now = before.get(number), after.get(number)
        if was == now:
            continue
        touched = {s for s in (was, now) if s is not None} & policy.protected
        if not touched:
            continue
        stage = sorted(touched, key=lambda s: s.value)[0].value
        if now is None:
            kind, what = "delete-version", f"version {number} deleted while in {was}"
        else:
            start = was if was is not None else Stage.NONE
            kind, what = "stage", f"version {number}: {start} -> {now}"
        to_stage = now.value if now is not None else None
        found.append(ProtectedChange(name, kind, what, number, stage=stage, to_stage=to_stage))
    return found


def _alias_changes(
    name: str, old: RegisteredModel | None, new: RegisteredModel | None, policy: Policy
) -> list[ProtectedChange]:
    before = dict(old.aliases) if old else {}
    after = dict(new.aliases) if new else {}
    found = []
    for alias in sorted(before.keys() | after.keys()):
        was, now = before.get(alias), after.get(alias)
        if was == now or not policy.alias_protected(alias):
            continue
        if now is None:
            what = f"@{alias} removed (was version {was})"
        elif was is None:
            what = f"@{alias} set to version {now}"
        else:
            what = f"@{alias} moved from version {was} to {now}"
        found.append(
            ProtectedChange(
                name, "alias", what, now if now is not None else was, alias=alias, target=now
            )
        )
    return found
