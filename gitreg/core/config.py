"""The registry's configuration and promotion policy, read from ``gitreg.yaml``."""

from __future__ import annotations

import fnmatch
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from gitreg.core import record
from gitreg.core.approvals import Approvals
from gitreg.core.entities import ModelVersion, Stage
from gitreg.core.errors import InvalidParameter
from gitreg.core.fields import has_visible_text
from gitreg.core.lazy_re import lazy
from gitreg.core.notifications import Notifications

CONFIG_FILE = "gitreg.yaml"
MODELS_DIR = "models"
# The record of retired names (``core.retired``), named here so that what only compares a
# path with it need not load the record's classes (#26).
RETIRED_FILE = f"{MODELS_DIR}/.retired.yaml"
# Branches that carry a change to review (promotion requests): gitreg/NAME/vVERSION-STAGE.
BRANCH_PREFIX = "gitreg/"

DEFAULT_CONFIG_TEXT = """\
# gitreg registry configuration. Schema: gitreg/schemas/config.schema.json
schema_version: 1
registry:
  # auto: push every write when the branch tracks a remote; never: commit locally only.
  push: auto
  remote: origin
  # How protected stage changes become pull requests: none | github | gitlab
  forge:
    type: none
policy:
  stages: [None, Staging, Production, Archived]
  # from-stage: [stages it may move to]. The base branch's policy judges every pull request.
  transitions:
    None: [Staging, Production, Archived]
    Staging: [None, Production, Archived]
    Production: [None, Staging, Archived]
    Archived: [None, Staging, Production]
  # Stages that change only through a reviewed pull request (when the registry has a remote).
  protected: [Production]
  # Aliases (names or glob patterns) that are set, moved or deleted only through review.
  protected_aliases: [champion]
  # What a version needs before it may enter a stage (or an alias may point at it), e.g.:
  #   Production:
  #     tags: {validation: passed}
  #     metrics: ["f1 >= 0.88"]
  #     description: true
  #     card: [intended_use, limitations, evaluation]   # sections of models/<name>.md
  #   "@champion":
  #     tags: {validation: passed}
  requirements: {}
"""

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_THRESHOLD_RE = lazy(r"^\s*([^\s<>=!]+)\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")

# The catalog's link templates (gitreg.yaml ``links:``, see #14) and the placeholders each may
# use. A template is an http(s) URL with a literal host, so a value filled in can never
# change where a link goes; the site percent-encodes every value it fills in.
LINK_PLACEHOLDERS: Mapping[str, tuple[str, ...]] = {
    "run": ("run_id", "name", "version"),
    "pull_request": ("number",),
    "commit": ("commit",),
}
_LINK_PREFIX_RE = lazy(r"^https?://[^/?#{}\s]+([/?#]|$)")
_PLACEHOLDER_RE = lazy(r"\{([^{}]*)\}")


# Checks a version's model-signing signature against the keys a requirement lists and returns
# why it does not meet it (empty: it does). The gate and the writes bind one that reads the
# keys from trusted history (``integrations.artifacts.signing``); a policy without one cannot
# tell, so a ``signed_by`` requirement is unmet (fail closed, #28).
SignatureCheck = Callable[[ModelVersion, tuple[str, ...]], list[str]]
# Where the public keys a policy's ``signed_by`` names live in the registry (judged like
# gitreg.yaml: gate/trust.py).
KEYS_DIR = "keys"


@record.dataclass(frozen=True, slots=True)
class Requirement:
    """What a version must carry to enter a stage."""

    tags: Mapping[str, str] = record.field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    description: bool = False
    # Sections the model's card (models/<stem>.md) must hold, non-empty (see core.card, #29).
    card: tuple[str, ...] = ()
    # The artifact (#28): a recorded digest, an MLflow model signature, and a model-signing
    # signature by one of these public keys (paths under keys/) that covers the digest.
    digest: bool = False
    signature: bool = False
    signed_by: tuple[str, ...] = ()
    signing: SignatureCheck | None = record.field(default=None, compare=False)

    def unmet(self, mv: ModelVersion) -> list[str]:
        """Human-readable reasons ``mv`` does not meet this requirement (empty if it does).

        A description counts only with a character a reader can see: a zero-width space or
        a line of blanks is no description (#23). A threshold that is not a number is never
        met (fail closed).
        """
        reasons = [
            f"tag {key}={value!r} is required (it is {mv.tags.get(key)!r})"
            for key, value in self.tags.items()
            if mv.tags.get(key) != value
        ]
        for threshold in self.metrics:
            parsed = parse_threshold(threshold)
            if parsed is None:
                reasons.append(f"threshold {threshold!r} in {CONFIG_FILE} is not a comparison")
                continue
            metric, op, bound = parsed
            value = mv.metrics.get(metric)
            if value is None:
                reasons.append(f"metric {metric} is required ({threshold})")
            elif not _OPS[op](float(value), bound):
                reasons.append(f"metric {metric}={value} does not meet {threshold}")
        if self.description and not has_visible_text(mv.description):
            reasons.append(
                "a description is required (with visible characters, not only blanks or "
                "invisible ones)"
            )
        return reasons + self.unmet_artifact(mv)

    def unmet_artifact(self, mv: ModelVersion) -> list[str]:
        """Why ``mv``'s artifact does not meet ``digest``, ``signature`` and ``signed_by``."""
        reasons = []
        if self.digest and not mv.digest:
            reasons.append(
                "a digest of the artifact is required (register it from a source gitreg can "
                "read, or pass --digest sha256:...)"
            )
        if self.signature and not mv.signature:
            reasons.append(
                "an MLflow model signature is required (log the model with one, e.g. "
                "signature=mlflow.models.infer_signature(X, y), and register that model)"
            )
        if self.signed_by:
            if self.signing is None:
                reasons.append(
                    f"a signature by {' or '.join(self.signed_by)} is required, and none can "
                    "be checked here"
                )
            else:
                reasons += self.signing(mv, self.signed_by)
        return reasons


def parse_threshold(text: object) -> tuple[str, str, float] | None:
    """``"f1 >= 0.88"`` as (metric, operator, finite bound), or None if it is not one."""
    match = _THRESHOLD_RE.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return None
    metric, op, bound = match.groups()
    try:
        number = float(bound)
    except ValueError:
        return None
    return (metric, op, number) if math.isfinite(number) else None


def requirement_problems(requirements: object) -> list[tuple[list[str | int], str, str]]:
    """(where under policy.requirements, code, message) for requirements that cannot work.

    A threshold must compare with a finite number, and a required tag value must hold a
    visible character: a requirement met by invisible text is no requirement (#23).
    """
    problems: list[tuple[list[str | int], str, str]] = []
    for key, requirement in requirements.items() if isinstance(requirements, Mapping) else ():
        if not isinstance(requirement, Mapping):
            continue
        where = f"policy.requirements.{key}"
        for index, threshold in enumerate(requirement.get("metrics") or ()):
            if parse_threshold(threshold) is None:
                problems.append(
                    (
                        [key, "metrics", index],
                        "POLICY_INVALID",
                        f"{where}.metrics[{index}]: {str(threshold)[:60]!r} is not a "
                        'comparison with a finite number; write e.g. "f1 >= 0.88"',
                    )
                )
        tags = requirement.get("tags")
        for tag, value in tags.items() if isinstance(tags, Mapping) else ():
            if not has_visible_text(value):
                problems.append(
                    (
                        [key, "tags", tag],
                        "POLICY_INVALID",
                        f"{where}.tags.{tag}: the required value {str(value)[:40]!r} has no "
                        "visible character, so invisible text would meet it; require a "
                        "visible value (e.g. passed)",
                    )
                )
    return problems


@record.dataclass(frozen=True, slots=True)
class Policy:
    """Allowed stage transitions, protected stages and per-stage requirements."""

    stages: tuple[Stage, ...] = tuple(Stage)
    transitions: Mapping[Stage, frozenset[Stage]] = record.field(
        default_factory=lambda: {s: frozenset(Stage) - {s} for s in Stage}
    )
    protected: frozenset[Stage] = frozenset({Stage.PRODUCTION})
    requirements: Mapping[Stage, Requirement] = record.field(default_factory=dict)
    # Alias names or glob patterns (fnmatch, case-sensitive) that change only by review.
    protected_aliases: tuple[str, ...] = ()
    # Alias name or pattern -> what a version needs before the alias may point at it.
    alias_requirements: Mapping[str, Requirement] = record.field(default_factory=dict)
    # Who must approve a pull request that moves a protected stage or alias (#24).
    approvals: Approvals = record.field(default_factory=Approvals)

    def allows(self, old: Stage, new: Stage) -> bool:
        """Whether the policy lets a version move from ``old`` to ``new``."""
        return old == new or new in self.transitions.get(old, frozenset())

    def alias_protected(self, alias: str) -> bool:
        """Whether ``alias`` matches one of ``protected_aliases``."""
        return any(fnmatch.fnmatchcase(alias, pattern) for pattern in self.protected_aliases)

    def alias_requirement(self, alias: str) -> Requirement | None:
        """The requirement for versions ``alias`` points at (the first pattern that matches)."""
        for pattern, requirement in self.alias_requirements.items():
            if fnmatch.fnmatchcase(alias, pattern):
                return requirement
        return None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """Build from the ``policy`` mapping of a schema-valid gitreg.yaml."""
        default = cls()
        stages = tuple(Stage.parse(s) for s in data.get("stages", [s.value for s in Stage]))
        transitions = default.transitions
        if "transitions" in data:
            transitions = {
                Stage.parse(k): frozenset(Stage.parse(s) for s in v or ())
                for k, v in data["transitions"].items()
            }
        protected = default.protected
        if "protected" in data:
            protected = frozenset(Stage.parse(s) for s in data["protected"] or ())
        requirements: dict[Stage, Requirement] = {}
        alias_requirements: dict[str, Requirement] = {}
        for key, value in (data.get("requirements") or {}).items():
            requirement = Requirement(
                tags=dict(value.get("tags") or {}),
                metrics=tuple(value.get("metrics") or ()),
                description=bool(value.get("description", False)),
                card=tuple(str(section) for section in value.get("card") or ()),
                digest=bool(value.get("digest", False)),
                signature=bool(value.get("signature", False)),
                signed_by=tuple(str(k) for k in value.get("signed_by") or ()),
            )
            if str(key).startswith("@"):
                alias_requirements[str(key)[1:]] = requirement
            else:
                requirements[Stage.parse(key)] = requirement
        aliases = tuple(str(a) for a in data.get("protected_aliases") or ())
        approvals = Approvals.from_dict(data.get("approvals"))
        return cls(
            stages, transitions, protected, requirements, aliases, alias_requirements, approvals
        )

    @property
    def signing_keys(self) -> tuple[str, ...]:
        """Every key a ``signed_by`` requirement names, in the order first named."""
        named: dict[str, None] = {}
        for requirement in (*self.requirements.values(), *self.alias_requirements.values()):
            named.update(dict.fromkeys(requirement.signed_by))
        return tuple(named)

    def with_signing(self, check: SignatureCheck) -> Policy:
        """This policy with ``check`` judging its ``signed_by`` requirements (#28)."""
        if not self.signing_keys:
            return self
        return record.replace(
            self,
            requirements={
                k: record.replace(r, signing=check) for k, r in self.requirements.items()
            },
            alias_requirements={
                k: record.replace(r, signing=check) for k, r in self.alias_requirements.items()
            },
        )


def link_problem(key: str, template: object) -> str | None:
    """Why ``links.<key>`` in gitreg.yaml is not a usable link template (None if it is)."""
    if key not in LINK_PLACEHOLDERS:
        return f"links.{key} is not a link gitreg knows; use {', '.join(LINK_PLACEHOLDERS)}"
    allowed = LINK_PLACEHOLDERS[key]
    names = ", ".join("{" + n + "}" for n in allowed)
    if not isinstance(template, str) or not _LINK_PREFIX_RE.match(template):
        return f"links.{key} must be an http:// or https:// URL with a host, using {names}"
    if any(c.isspace() for c in template):
        return f"links.{key} must not contain spaces"
    for found in _PLACEHOLDER_RE.findall(template):
        if found not in allowed:
            return f"links.{key} uses {{{found}}}, which gitreg does not fill in; use {names}"
    rest = _PLACEHOLDER_RE.sub("", template)
    if "{" in rest or "}" in rest:
        return f"links.{key} has an unmatched brace; placeholders look like {names}"
    return None


@record.dataclass(frozen=True, slots=True)
class Links:
    """URL templates for the catalog: a run page, a pull request, a commit (``links:``)."""

    run: str | None = None  # e.g. https://mlflow.example/#/experiments/0/runs/{run_id}
    pull_request: str | None = None  # e.g. https://github.com/o/r/pull/{number}
    commit: str | None = None  # e.g. https://github.com/o/r/commit/{commit}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Links:
        """Build from gitreg.yaml's ``links`` mapping.

        Raises:
            InvalidParameter: a template is not an http(s) URL or names an unknown placeholder.
        """
        for key, template in data.items():
            problem = link_problem(str(key), template)
            if problem:
                raise InvalidParameter(f"{CONFIG_FILE}: {problem}")
        return cls(data.get("run"), data.get("pull_request"), data.get("commit"))


READ_TIP = "tip"
READ_VERIFIED = "verified"


def read_mode(data: Mapping[str, Any]) -> str:
    """``registry.read`` of a parsed gitreg.yaml: ``tip`` (the default) or ``verified``.

    Which gitreg.yaml is asked is the reader's choice, and it matters: a fleet read asks
    the verified commit's, which no push can change (see ``store.fleet``, #22).

    Raises:
        InvalidParameter: the value is neither.
    """
    registry = data.get("registry") if isinstance(data, Mapping) else None
    value = registry.get("read", READ_TIP) if isinstance(registry, Mapping) else READ_TIP
    if value not in (READ_TIP, READ_VERIFIED):
        raise InvalidParameter(
            f"{CONFIG_FILE}: registry.read is {str(value)[:40]!r}; use {READ_TIP} (serve the "
            f"branch's tip) or {READ_VERIFIED} (serve refs/gitreg/verified)"
        )
    return str(value)


@record.dataclass(frozen=True, slots=True)
class Config:
    """The parsed ``gitreg.yaml``."""

    push: str = "auto"
    remote: str = "origin"
    branch: str | None = None
    retries: int | None = None
    retry_seconds: float = 120.0
    forge: Mapping[str, Any] = record.field(default_factory=lambda: {"type": "none"})
    policy: Policy = record.field(default_factory=Policy)
    links: Links = record.field(default_factory=Links)
    # Where events are delivered (issue 13): subscriptions and the SMTP server.
    notifications: Notifications = record.field(default_factory=Notifications)
    # What fleet reads serve: "tip" or "verified" (``registry.read``, see ``read_mode``).
    read: str = READ_TIP

    def push_mode(self, override: bool | None) -> str:
        """``always``/``never`` from ``--push``/``--no-push``, else ``registry.push``."""
        if override is None:
            return self.push
        return "always" if override else "never"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Build from a schema-valid gitreg.yaml mapping."""
        registry = data.get("registry") or {}
        return cls(
            push=registry.get("push", "auto"),
            remote=registry.get("remote", "origin"),
            branch=registry.get("branch"),
            retries=int(registry["retries"]) if "retries" in registry else None,
            retry_seconds=float(registry.get("retry_seconds", 120)),
            forge=dict(registry.get("forge") or {"type": "none"}),
            policy=Policy.from_dict(data.get("policy") or {}),
            links=Links.from_dict(data.get("links") or {}),
            notifications=Notifications.from_dict(data.get("notifications")),
            read=read_mode(data),
        )
