"""Who must approve a protected change: ``policy.approvals`` in gitreg.yaml (#24). No I/O.

A rule per protected stage (``Production``) or protected alias (``"@champion"``, or a glob
pattern with the rules of ``protected_aliases``) says how many approvals (``min``) a pull
request that changes it needs, from whom (``from``: users, ``@org/team`` teams, and
``codeowners``, the owners of the model's manifest in the CODEOWNERS of the trusted base),
whether the author's own approval counts (``self``, default false) and whether only
approvals of the pull request's head commit count (``after_last_push``). Every rule that
matches a change applies: moving Production and ``@champion`` in one pull request needs
both. This module parses the section and says what is wrong with it; ``gate.approvals``
judges a pull request's reviews against it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from gitreg.core import record
from gitreg.core.entities import Stage
from gitreg.core.errors import InvalidParameter
from gitreg.core.lazy_re import lazy

CODEOWNERS = "codeowners"
MAX_APPROVALS = 100
_USER_RE = lazy(r"^@?[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}"
_TEAM_RE = lazy(rf"^@{_NAME}(/{_NAME}){{1,5}}$")
_ALIAS_KEY_RE = lazy(r"^@[A-Za-z0-9_*?\[\]!\-]{1,255}$")
_STAGE_NAMES = tuple(s.value for s in Stage)


@record.dataclass(frozen=True, slots=True)
class ApprovalRule:
    """What one protected stage or alias asks of the reviews of a pull request that moves it.

    ``users`` are logins as written (without ``@``), ``teams`` are ``org/team`` (GitLab:
    ``group/subgroup``), ``codeowners`` adds the code owners of the model's manifest.
    """

    min: int = 1
    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    codeowners: bool = False
    self_approval: bool = False  # ``self:`` in gitreg.yaml
    after_last_push: bool = False

    @property
    def finite(self) -> bool:
        """True when ``from`` names users only, so ``min`` can be compared with them."""
        return not self.teams and not self.codeowners

    def describe_from(self) -> str:
        """``alice, bob, @acme/ml-leads, the model's code owners``."""
        names = [*self.users, *(f"@{t}" for t in self.teams)]
        if self.codeowners:
            names.append("the model's code owners (CODEOWNERS)")
        return ", ".join(names)

    def terms(self) -> str:
        """The rule in words: ``2 approvals from alice, bob; not the author's; on the head``."""
        words = [f"{self.min} approval{'s' if self.min != 1 else ''} from {self.describe_from()}"]
        if not self.self_approval:
            words.append("the author's own not counting")
        if self.after_last_push:
            words.append("of the head commit")
        return ", ".join(words)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape, in gitreg.yaml's words."""
        named: list[str] = [*self.users, *(f"@{t}" for t in self.teams)]
        if self.codeowners:
            named.append(CODEOWNERS)
        return {
            "min": self.min,
            "from": named,
            "self": self.self_approval,
            "after_last_push": self.after_last_push,
        }

    @classmethod
    def from_dict(cls, key: str, data: object) -> ApprovalRule:
        """Build from one entry of ``policy.approvals``.

        Raises:
            InvalidParameter: the entry is malformed (a gitreg.yaml that does not judge).
        """
        where = f"policy.approvals.{key}"
        if not isinstance(data, Mapping):
            raise InvalidParameter(f"{where} must be a mapping with min and from")
        number = data.get("min", 1)
        if type(number) is not int or not 1 <= number <= MAX_APPROVALS:
            raise InvalidParameter(
                f"{where}.min must be a whole number from 1 to {MAX_APPROVALS} (remove the "
                "entry to require no approval)"
            )
        users, teams, codeowners = parse_from(where, data.get("from"))
        flags = {name: data.get(name, False) for name in ("self", "after_last_push")}
        for name, value in flags.items():
            if not isinstance(value, bool):
                raise InvalidParameter(f"{where}.{name} must be true or false")
        return cls(number, users, teams, codeowners, flags["self"], flags["after_last_push"])


def parse_from(where: str, value: object) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """``from`` as (users, teams, codeowners); duplicates (case-insensitively) dropped.

    Raises:
        InvalidParameter: not ``codeowners`` or a list of users, ``@org/team`` and
            ``codeowners``.
    """
    entries = [value] if value == CODEOWNERS else value
    if not isinstance(entries, list) or not entries:
        raise InvalidParameter(
            f"{where}.from must name who may approve: a list of users, @org/team teams "
            f"and {CODEOWNERS} (or {CODEOWNERS} alone)"
        )
    users: dict[str, str] = {}
    teams: dict[str, str] = {}
    codeowners = False
    for entry in entries:
        if entry == CODEOWNERS:
            codeowners = True
        elif isinstance(entry, str) and _TEAM_RE.fullmatch(entry):
            teams.setdefault(entry[1:].casefold(), entry[1:])
        elif isinstance(entry, str) and _USER_RE.fullmatch(entry):
            users.setdefault(entry.lstrip("@").casefold(), entry.lstrip("@"))
        else:
            raise InvalidParameter(
                f"{where}.from: {str(entry)[:60]!r} is not a user name, an @org/team team "
                f"or {CODEOWNERS}"
            )
    return tuple(users.values()), tuple(teams.values()), codeowners


@record.dataclass(frozen=True, slots=True)
class Approvals:
    """``policy.approvals``: the rules by protected stage and by alias name or pattern."""

    stages: Mapping[Stage, ApprovalRule] = record.field(default_factory=dict)
    aliases: Mapping[str, ApprovalRule] = record.field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.stages or self.aliases)

    def for_stage(self, stage: Stage) -> list[tuple[str, ApprovalRule]]:
        """The rule for ``stage`` as ``[(key, rule)]`` (empty: none)."""
        rule = self.stages.get(stage)
        return [(stage.value, rule)] if rule is not None else []

    def for_alias(self, alias: str) -> list[tuple[str, ApprovalRule]]:
        """Every rule whose name or pattern matches ``alias``, as ``[("@pattern", rule)]``."""
        return [
            (f"@{pattern}", rule)
            for pattern, rule in self.aliases.items()
            if fnmatch.fnmatchcase(alias, pattern)
        ]

    @classmethod
    def from_dict(cls, data: object) -> Approvals:
        """Build from ``policy.approvals`` (None or absent: no rule).

        Raises:
            InvalidParameter: a key is neither a stage nor ``@alias``, or an entry is malformed.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidParameter("policy.approvals must be a mapping of stages and @aliases")
        stages: dict[Stage, ApprovalRule] = {}
        aliases: dict[str, ApprovalRule] = {}
        for key, value in data.items():
            text = str(key)
            if text in _STAGE_NAMES:
                stages[Stage(text)] = ApprovalRule.from_dict(text, value)
            elif _ALIAS_KEY_RE.fullmatch(text):
                aliases[text[1:]] = ApprovalRule.from_dict(text, value)
            else:
                raise InvalidParameter(_bad_key(text))
        return cls(stages, aliases)


def _bad_key(key: str) -> str:
    return (
        f"policy.approvals.{key[:60]}: the key must be a stage ({', '.join(_STAGE_NAMES)}) "
        'or a protected alias written "@name" (a glob pattern such as "@prod-*" too)'
    )


Problem = tuple[list[str | int], str, str]  # (where under policy.approvals, code, message)


def problems(policy: Mapping[str, Any], forge_type: str) -> list[Problem]:
    """What keeps a schema-valid ``policy.approvals`` from judging: every problem at once.

    A rule for a stage or alias that is not protected (no change to it is reviewed), a
    ``min`` no list of users can reach, a ``from`` that names nobody, or a registry whose
    forge cannot be asked for reviews (``registry.forge: none``).
    """
    section = policy.get("approvals")
    if not isinstance(section, Mapping) or not section:
        return []
    found: list[Problem] = []
    protected = policy.get("protected", [Stage.PRODUCTION.value])
    patterns = [str(p) for p in policy.get("protected_aliases") or ()]
    for key, value in section.items():
        found += _key_problems(str(key), protected or (), patterns)
        found += _rule_problems(str(key), value, forge_type)
    if forge_type not in ("github", "gitlab"):
        found.append(
            (
                [],
                "APPROVALS_NEED_FORGE",
                "policy.approvals needs registry.forge github or gitlab: with forge "
                f"{forge_type}, no forge can tell who approved, so every change a rule covers "
                "would be refused; set registry.forge.type (in a reviewed change)",
            )
        )
    return found


def _key_problems(key: str, protected: Sequence[str], patterns: Sequence[str]) -> list[Problem]:
    if key in _STAGE_NAMES:
        if key in protected:
            return []
        return [
            (
                [key],
                "APPROVALS_NOT_PROTECTED",
                f"policy.approvals.{key}: {key} is not in policy.protected, so a change to it "
                f"is never a pull request and no approval can be asked; add {key} to "
                "policy.protected or remove this rule",
            )
        ]
    if not _ALIAS_KEY_RE.fullmatch(key):
        return [([key], "APPROVALS_INVALID", _bad_key(key))]
    alias = key[1:]
    if any(alias == p or fnmatch.fnmatchcase(alias, p) for p in patterns):
        return []
    return [
        (
            [key],
            "APPROVALS_NOT_PROTECTED",
            f"policy.approvals.{key}: @{alias} is not covered by policy.protected_aliases, so "
            f"moving it is never a pull request and no approval can be asked; add {alias} to "
            "policy.protected_aliases or remove this rule",
        )
    ]


def _rule_problems(key: str, value: object, forge_type: str) -> list[Problem]:
    try:
        rule = ApprovalRule.from_dict(key, value)
    except InvalidParameter as e:
        return [([key], "APPROVALS_INVALID", e.message)]
    found: list[Problem] = []
    if rule.finite and rule.min > len(rule.users):
        found.append(
            (
                [key, "min"],
                "APPROVALS_UNSATISFIABLE",
                f"policy.approvals.{key}.min is {rule.min} but from names only "
                f"{len(rule.users)} user{'s' if len(rule.users) != 1 else ''} "
                f"({rule.describe_from()}), so no pull request could ever be approved; lower "
                "min or name more approvers",
            )
        )
    if forge_type == "github":
        for team in rule.teams:
            if team.count("/") != 1:
                found.append(
                    (
                        [key, "from"],
                        "APPROVALS_INVALID",
                        f"policy.approvals.{key}.from: @{team} is not a GitHub team; write "
                        "@org/team-slug",
                    )
                )
    return found
