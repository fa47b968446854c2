"""The gate's rules for model cards (#29): required sections, cards left behind, reviewed edits.

``check`` runs after the manifest rules (``gate.judge``) on the same two sides of a change,
judged by the same (base's) policy. The sides must hold the card beside every changed
manifest and the manifest beside every changed card (``companions`` names them): a rule
about one reads the other.

- A version that enters a stage whose requirement names card sections (``requirements:
  {Production: {card: [...]}}``), or that an alias with such a requirement comes to point
  at, needs a card holding each section non-empty: REQUIREMENT_UNMET on the version's line.
- A card edited (or deleted) while its model has a version in such a stage, or is pointed
  at by such an alias, must still hold those sections: REQUIREMENT_UNMET on the card.
- A card whose manifest is deleted and that stays behind: CARD_WITHOUT_MANIFEST.
- Pushed without review (``push``, the audit): an edit of the card of a model that holds a
  protected fact is PROTECTED_CARD, which only a merged pull request makes acceptable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from gitreg.core import manifest, validate
from gitreg.core.card import Card, card_of, is_card_path, manifest_of, parse_card, unmet_card
from gitreg.core.config import MODELS_DIR, Policy
from gitreg.core.entities import RegisteredModel, Stage
from gitreg.core.errors import GitregError
from gitreg.core.finding import Finding
from gitreg.core.names import name_of_stem
from gitreg.core.protection import card_change
from gitreg.core.retired import RETIRED_FILE
from gitreg.gate.rules import model_of

Texts = Mapping[str, bytes | None]
_PROTECTED_TAIL = (
    " is a change to a protected fact, which happens only through a reviewed pull request; "
    "open one (gitreg card does, for a registry with a remote)"
)


def companions(paths: Iterable[str]) -> set[str]:
    """The files a card rule reads beside ``paths``: each manifest's card, each card's
    manifest."""
    found = set()
    for path in paths:
        if _is_manifest(path):
            found.add(card_of(path))
        elif is_card_path(path):
            found.add(manifest_of(path))
    return found


def touches_cards(paths: Iterable[str], policy: Policy) -> bool:
    """Whether a change of ``paths`` needs the card rules (so their companions are read)."""
    listed = list(paths)
    if any(is_card_path(p) for p in listed):
        return True
    return bool(_card_sections(policy)) and any(_is_manifest(p) for p in listed)


def check(
    paths: Iterable[str],
    old: Texts,
    new: Texts,
    policy: Policy,
    *,
    push: bool = False,
    unreadable: frozenset[str] = frozenset(),
) -> list[Finding]:
    """The card findings of the change of ``paths`` from ``old`` to ``new`` (see module)."""
    findings: list[Finding] = []
    for path in sorted(set(paths) - unreadable):
        if _is_manifest(path):
            findings += _entering(path, old, new, policy)
            findings += _left_behind(path, new)
        elif is_card_path(path):
            findings += _edited(path, old, new, policy, push)
    return findings


def _card_sections(policy: Policy) -> bool:
    requirements = [*policy.requirements.values(), *policy.alias_requirements.values()]
    return any(requirement.card for requirement in requirements)


# ----------------------------------------------------------------- versions entering


def _entering(path: str, old: Texts, new: Texts, policy: Policy) -> list[Finding]:
    """A version entering a stage (or taking an alias) that requires card sections."""
    if not _card_sections(policy):
        return []
    head, text = _data(new.get(path), path), new.get(path)
    if head is None or text is None:
        return []
    base = _data(old.get(path), path) or {}
    card_file = card_of(path)
    card = _card(new.get(card_file), card_file)
    findings = []
    for location, move, required in _moves(base, head, policy):
        unmet = unmet_card(card, required, card_file)
        if unmet:
            findings.append(
                Finding(
                    path,
                    manifest.line_of(text, location),
                    "REQUIREMENT_UNMET",
                    f"{move}: the base's gitreg.yaml requires a model card: {'; '.join(unmet)}; "
                    f"write {card_file} (gitreg card {_name(path)} --edit FILE)",
                )
            )
    return findings


def _moves(
    base: Mapping[str, Any], head: Mapping[str, Any], policy: Policy
) -> Iterator[tuple[list[str | int], str, tuple[str, ...]]]:
    """(where in the manifest, what moved, the card sections it needs) for each move."""
    before = {v.get("version"): v.get("stage", "None") for v in _versions(base) if "version" in v}
    for index, entry in enumerate(_versions(head)):
        number, stage = entry.get("version"), entry.get("stage", "None")
        was = before.get(number, "None")
        if stage == was:
            continue
        try:
            requirement = policy.requirements.get(Stage.parse(str(stage)))
        except GitregError:  # an unknown stage is the schema's finding
            continue
        if requirement is not None and requirement.card:
            yield (
                ["versions", index, "stage"],
                f"version {number}: {was} -> {stage}",
                requirement.card,
            )
    aliases = base.get("aliases")
    old_aliases: Mapping[Any, Any] = aliases if isinstance(aliases, Mapping) else {}
    new_aliases = head.get("aliases")
    for alias, number in new_aliases.items() if isinstance(new_aliases, Mapping) else ():
        requirement = policy.alias_requirement(str(alias))
        if requirement is None or not requirement.card or old_aliases.get(alias) == number:
            continue
        yield ["aliases", str(alias)], f"@{alias} -> version {number}", requirement.card


def _versions(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    versions = data.get("versions")
    return [v for v in versions if isinstance(v, Mapping)] if isinstance(versions, list) else []


def _left_behind(path: str, new: Texts) -> list[Finding]:
    """A deleted manifest whose card is still there (its companion, read on the new side)."""
    card_file = card_of(path)
    if new.get(path) is not None or new.get(card_file) is None:
        return []
    return [
        Finding(
            card_file,
            None,
            "CARD_WITHOUT_MANIFEST",
            f"{card_file} is a model card, but {path} is deleted in this change: delete or "
            "move the card with its model (gitreg delete and gitreg rename do)",
        )
    ]


# ----------------------------------------------------------------------- card edits


def _edited(path: str, old: Texts, new: Texts, policy: Policy, push: bool) -> list[Finding]:
    """An edited, added or deleted card: what its model's stages require, and review."""
    manifest_path = manifest_of(path)
    head = model_of(_data(new.get(manifest_path), manifest_path))
    base = model_of(_data(old.get(manifest_path), manifest_path))
    findings = []
    required = _held_sections(head, policy) if head is not None else {}
    if required:
        card = _card(new.get(path), path)
        for what, sections in required.items():
            unmet = unmet_card(card, sections, path)
            if unmet:
                findings.append(
                    Finding(
                        path,
                        None,
                        "REQUIREMENT_UNMET",
                        f"{path}: {what}, and the base's gitreg.yaml requires its model card "
                        f"to hold {', '.join(sections)}: {'; '.join(unmet)}",
                    )
                )
    if push:
        change = card_change(base or head, policy, path)
        if change is not None and old.get(path) != new.get(path):
            findings.append(
                Finding(
                    path, None, "PROTECTED_CARD", f"{change.model}: {change.what}{_PROTECTED_TAIL}"
                )
            )
    return findings


def _held_sections(model: RegisteredModel, policy: Policy) -> dict[str, tuple[str, ...]]:
    """What ``model`` holds that requires card sections: ``version 3 is in Production`` ->
    the sections."""
    found: dict[str, tuple[str, ...]] = {}
    for mv in model.versions:
        requirement = policy.requirements.get(mv.current_stage)
        if requirement is not None and requirement.card:
            found[f"version {mv.version} is in {mv.current_stage.value}"] = requirement.card
    for alias, number in model.aliases.items():
        requirement = policy.alias_requirement(alias)
        if requirement is not None and requirement.card:
            found[f"@{alias} points at version {number}"] = requirement.card
    return found


# -------------------------------------------------------------------------- helpers


def _data(text: bytes | None, path: str) -> Mapping[str, Any] | None:
    if text is None:
        return None
    data, syntax = validate.parse(text, path)
    return data if isinstance(data, Mapping) and not syntax else None


def _card(text: bytes | None, path: str) -> Card | None:
    return parse_card(text, path)[0] if text is not None else None


def _is_manifest(path: str) -> bool:
    head, _, name = path.rpartition("/")
    return head == MODELS_DIR and name.endswith(".yaml") and path != RETIRED_FILE


def _name(path: str) -> str:
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return name_of_stem(stem) or stem
