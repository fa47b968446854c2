"""The pure ``model -> model`` changes behind Registry's writes, and URI lookup.

Nothing here does I/O: a transaction reads the tip, hands the model to one of these, and
commits what comes back, so a retry after a lost push race simply runs it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.entities import (
    MAX_TAG_VALUE_LENGTH,
    ModelVersion,
    RegisteredModel,
    Stage,
    check_tag_key,
    check_tag_value,
    check_text,
    parse_version,
)
from gitreg.core.errors import (
    AliasNotFound,
    InvalidParameter,
    ModelAlreadyExists,
    TransitionNotAllowed,
    VersionNotFound,
)
from gitreg.core.names import name_key
from gitreg.core.uri import ModelRef

MAX_TAG_VALUE = MAX_TAG_VALUE_LENGTH  # MLflow 3.17.2 (entities)

if TYPE_CHECKING:
    from gitreg.core.card import Card
    from gitreg.core.config import Policy


def clean_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """Tags with checked keys and values, as text (``MlflowClient`` passes ``str(value)``).

    Checked before any mutation runs, so a refused tag never reaches the schema (#16).

    Raises:
        InvalidParameter: ``tags`` is not a mapping, a key is not one MLflow accepts, or a
            value is longer than MLflow's limit or not storable text (``check_text``).
    """
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidParameter(
            f"Invalid tags {str(tags)[:60]!r}: give a mapping of key to value, e.g. "
            '{"team": "growth"}'
        )
    checked = {}
    for k, v in tags.items():
        key = check_tag_key(k)
        value = check_tag_value(key, str(v))
        checked[key] = check_text(value, f"value of tag {key!r}", MAX_TAG_VALUE)
    return checked


def find_version(model: RegisteredModel, version: int | str) -> ModelVersion:
    """The version numbered ``version``; RESOURCE_DOES_NOT_EXIST if it is missing."""
    number = parse_version(version)
    found = model.get_version(number)
    if found is None:
        raise VersionNotFound(f"Model Version (name={model.name}, version={number}) not found")
    return found


def replace_version(model: RegisteredModel, new: ModelVersion) -> RegisteredModel:
    """``model`` with the version numbered like ``new`` replaced by it."""
    return model.with_versions(new if mv.version == new.version else mv for mv in model.versions)


def set_tags(
    model: RegisteredModel, tags: Mapping[str, str], number: int | None
) -> RegisteredModel:
    """Add or overwrite tags on the model (``number`` None) or on one version."""
    if number is None:
        return record.replace(model, tags={**model.tags, **tags})
    mv = find_version(model, number)
    return replace_version(model, record.replace(mv, tags={**mv.tags, **tags}))


def delete_tags(
    model: RegisteredModel, keys: Sequence[str], number: int | None, strict: bool
) -> RegisteredModel:
    """Remove tags; a missing key is an error when ``strict``, else ignored (as MLflow)."""
    current = model.tags if number is None else find_version(model, number).tags
    missing = [k for k in keys if k not in current]
    if missing and strict:
        target = model.name if number is None else f"{model.name} version {number}"
        raise InvalidParameter(f"{target} has no tag {missing[0]!r}; nothing was changed")
    kept = {k: v for k, v in current.items() if k not in keys}
    if number is None:
        return record.replace(model, tags=kept)
    return replace_version(model, record.replace(find_version(model, number), tags=kept))


def set_alias(model: RegisteredModel, alias: str, number: int) -> RegisteredModel:
    """Point ``alias`` at an existing version."""
    find_version(model, number)
    updated = record.replace(model, aliases={**model.aliases, alias: number})
    return updated.with_versions(model.versions)


def delete_alias(model: RegisteredModel, alias: str) -> RegisteredModel:
    """Remove ``alias`` (no change if it is not set, as MLflow)."""
    aliases = {a: v for a, v in model.aliases.items() if a != alias}
    return record.replace(model, aliases=aliases).with_versions(model.versions)


def delete_version(model: RegisteredModel, number: int) -> RegisteredModel:
    """Remove a version and the aliases that point at it; ``next_version`` stays."""
    find_version(model, number)
    aliases = {a: v for a, v in model.aliases.items() if v != number}
    kept = [mv for mv in model.versions if mv.version != number]
    return record.replace(model, aliases=aliases).with_versions(kept)


def add_version(model: RegisteredModel, new: ModelVersion) -> RegisteredModel:
    """Append ``new`` as version ``next_version`` and advance ``next_version``."""
    number = model.next_version
    added = record.replace(new, name=model.name, version=number)
    grown = record.replace(model, next_version=number + 1)
    return grown.with_versions([*model.versions, added])


def _entry_changed(old: ModelVersion, new: ModelVersion) -> bool:
    """Whether ``new`` differs from ``old`` in what the version's manifest entry holds (its
    aliases live in the model's header, its timestamp is what is being decided)."""
    if new is old:
        return False
    same = record.replace(
        new, aliases=old.aliases, last_updated_timestamp=old.last_updated_timestamp
    )
    return same != old


def touch(old: RegisteredModel, new: RegisteredModel, now: int) -> RegisteredModel:
    """``new`` with ``last_updated_timestamp`` set to ``now`` where it differs from ``old``.

    A version's moves when its entry changed (stage, tags, description, metrics, its name in
    a rename: also the versions archived by a transition), the model's on any change at all,
    its aliases and versions included (#25). A new version keeps its creation time. Only
    changed entries are rewritten, so a write touches the changed version and the header.
    """
    if new == old:
        return new
    before = {mv.version: mv for mv in old.versions}
    versions = []
    for mv in new.versions:
        prior = before.get(mv.version)
        if prior is not None and _entry_changed(prior, mv):
            mv = record.replace(mv, last_updated_timestamp=now)
        versions.append(mv)
    stamped = record.replace(new, last_updated_timestamp=now, versions=tuple(versions))
    return stamped


def claim_name(existing: Iterable[str], name: str) -> None:
    """RESOURCE_ALREADY_EXISTS if ``name`` is taken, also when only its case differs."""
    for other in existing:
        if other == name:
            raise ModelAlreadyExists(f"Registered Model (name={name}) already exists.")
        if name_key(other) == name_key(name):
            raise ModelAlreadyExists(
                f"Registered Model (name={other}) already exists and differs from {name!r} "
                "only in case; names must be unique case-insensitively (macOS and Windows "
                "checkouts would merge them)"
            )


def check_policy(
    model: RegisteredModel, mv: ModelVersion, target: Stage, policy: Policy, card: Card | None
) -> None:
    """TransitionNotAllowed unless ``policy`` lets ``mv`` (of ``model``, whose card is
    ``card``) enter ``target``."""
    if not policy.allows(mv.current_stage, target):
        raise TransitionNotAllowed(
            f"gitreg.yaml does not allow {mv.current_stage} -> {target}; "
            "change the policy's transitions (through a pull request) or pick another stage"
        )
    requirement = policy.requirements.get(target)
    unmet = requirement.unmet(mv) if requirement is not None else []
    if requirement is not None and requirement.card:  # the model card's sections (#29)
        from gitreg.core.card import card_path, unmet_card

        unmet += unmet_card(card, requirement.card, card_path(model.name))
    if unmet:
        raise TransitionNotAllowed(
            f"{model.name} version {mv.version} cannot enter {target}: {'; '.join(unmet)}"
        )


def transition(
    model: RegisteredModel,
    number: int,
    target: Stage,
    archive: bool,
    policy: Policy,
    card: Card | None = None,
) -> RegisteredModel:
    """Move version ``number`` to ``target``; with ``archive``, others there go to Archived.

    ``card`` is the model's card (None: it has none), for requirements that name sections.

    Raises:
        TransitionNotAllowed: the policy forbids it, or another version is in Production
            and ``archive`` is False (one Production version per model).
    """
    mv = find_version(model, number)
    if mv.current_stage != target:
        check_policy(model, mv, target, policy, card)
    others = [o for o in model.versions if o.version != number and o.current_stage == target]
    if target == Stage.PRODUCTION and others and not archive:
        raise TransitionNotAllowed(production_taken(model.name, others[0].version))
    # As MLflow: archiving applies even when the version is already in the target stage.
    updated = [
        record.replace(o, current_stage=Stage.ARCHIVED) if archive and o in others else o
        for o in model.versions
        if o.version != number
    ]
    updated.append(record.replace(mv, current_stage=target))
    return model.with_versions(updated)


def production_taken(name: str, incumbent: int) -> str:
    """The refusal of a second Production version without archiving the first."""
    return (
        f"{name} version {incumbent} is already in Production; pass "
        "archive_existing_versions=True to archive it in the same commit, or move it out "
        "of Production first"
    )


def transition_message(
    old: RegisteredModel, new: RegisteredModel, number: int, target: Stage, note: str | None
) -> str:
    """The commit message of a transition: the move, the versions archived, the reason."""
    before = find_version(old, number).current_stage
    was = {mv.version: mv for mv in old.versions}  # one pass: 5,000 versions stay linear (#15)
    archived = [
        mv.version for mv in new.versions if mv.version != number and mv != was.get(mv.version)
    ]
    return transition_text(new.name, number, before, target, archived, note)


def transition_text(
    name: str, number: int, before: Stage, target: Stage, archived: list[int], note: str | None
) -> str:
    """``transition_message`` from what it says: the move, the versions archived, the reason."""
    message = f"Transition {name} version {number}: {before} -> {target}"
    if archived:
        message += f"\n\nArchived version(s) {', '.join(map(str, archived))}"
    return message + (f"\n\n{note}" if note else "")


def version_for_ref(model: RegisteredModel, ref: ModelRef) -> ModelVersion:
    """The version a parsed ``models:/`` URI names within ``model``."""
    if ref.version is not None:
        return find_version(model, ref.version)
    if ref.alias is not None:
        return version_for_alias(model, ref.alias)
    candidates = [mv for mv in model.versions if ref.latest or mv.current_stage == ref.stage]
    if not candidates:
        where = "version" if ref.latest else f"version in stage {ref.stage}"
        raise VersionNotFound(f"Registered model {model.name} has no {where}")
    return max(candidates, key=lambda mv: mv.version)


def version_for_alias(model: RegisteredModel, alias: str) -> ModelVersion:
    """The version ``alias`` points at; ``latest`` is the newest version (as MLflow)."""
    if alias not in model.aliases and alias.lower() == "latest" and model.versions:
        return max(model.versions, key=lambda mv: mv.version)
    if alias not in model.aliases:
        raise AliasNotFound(
            f"Registered model alias {alias} not found on {model.name}; set it with "
            f"gitreg alias {model.name} {alias} VERSION"
        )
    return find_version(model, model.aliases[alias])
