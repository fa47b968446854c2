"""Subscriptions to registry events, from the ``notifications`` section of gitreg.yaml. No I/O.

A ``Subscription`` says where events go (a URL or the name of an environment variable that
holds it), in which format (``json``, ``slack``, ``github-dispatch``, ``email``), which
events (gitreg's kinds, or MLflow's webhook event names, which map onto them) and which
models (glob patterns). Secrets are never in the file: only the names of the environment
variables that hold them. The schema (``schemas/config.schema.json``) checks each entry;
``problems`` adds what a schema cannot say (unique names, email needs ``smtp``, the
destinations and variables ``allow`` permits).

``allow`` (issue 23) is what delivery may read and reach, so that a reviewed hook cannot
turn delivery into a way out for the CI job's other secrets: the environment variables it
may read (``env``; default: the ``*_env`` names this section declares), the private or
loopback hosts it may connect to (``hosts``; default: none, see ``core.address``), and
the origins a token may be sent to (``origins``, beyond GitHub's API, the default).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.lazy_re import lazy

if TYPE_CHECKING:
    from gitreg.core.address import HostRules

FORMATS = ("json", "slack", "github-dispatch", "email")
SIGNATURES = ("standard", "mlflow")
DEFAULT_TIMEOUT = 10.0
# Where a github-dispatch token may go without notifications.allow.origins naming it.
DEFAULT_TOKEN_ORIGINS = ("https://api.github.com",)
ENV_NAME = lazy(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# MLflow's rule for webhook names (mlflow.utils.validation._WEBHOOK_NAME_REGEX).
NAME = lazy(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")

# The second event a stage change makes (core.events.TO_STAGE_KINDS): asked for by name only.
STAGE_SPECIFIC = frozenset(
    f"MODEL_VERSION_TRANSITIONED_TO_{stage}" for stage in ("STAGING", "PRODUCTION", "ARCHIVED")
)
# MLflow 3's webhook events and the gitreg kind each one is; the flag says whether it is
# about prompts (models tagged mlflow.prompt.is_prompt=true), which MLflow names apart.
MLFLOW_EVENTS: Mapping[str, tuple[str, bool]] = {
    "registered_model.created": ("REGISTERED_MODEL_CREATED", False),
    "model_version.created": ("MODEL_VERSION_CREATED", False),
    "model_version_tag.set": ("MODEL_VERSION_TAG_SET", False),
    "model_version_tag.deleted": ("MODEL_VERSION_TAG_DELETED", False),
    "model_version_alias.created": ("MODEL_VERSION_ALIAS_CREATED", False),
    "model_version_alias.deleted": ("MODEL_VERSION_ALIAS_DELETED", False),
    "prompt.created": ("REGISTERED_MODEL_CREATED", True),
    "prompt_version.created": ("MODEL_VERSION_CREATED", True),
    "prompt_tag.set": ("REGISTERED_MODEL_TAG_SET", True),
    "prompt_tag.deleted": ("REGISTERED_MODEL_TAG_DELETED", True),
    "prompt_version_tag.set": ("MODEL_VERSION_TAG_SET", True),
    "prompt_version_tag.deleted": ("MODEL_VERSION_TAG_DELETED", True),
    "prompt_alias.created": ("MODEL_VERSION_ALIAS_CREATED", True),
    "prompt_alias.deleted": ("MODEL_VERSION_ALIAS_DELETED", True),
}


@record.dataclass(frozen=True, slots=True)
class Subscription:
    """One entry of ``notifications.webhooks``."""

    name: str
    format: str = "json"
    url: str | None = None
    url_env: str | None = None
    events: tuple[str, ...] = ()  # empty: every event
    models: tuple[str, ...] = ()  # glob patterns on model names; empty: every model
    secret_env: str | None = None
    signature: str = "standard"
    timeout: float = DEFAULT_TIMEOUT
    to: tuple[str, ...] = ()  # email recipients
    digest: bool = False  # email: one message per run instead of one per event
    repository: str | None = None  # github-dispatch: owner/name
    token_env: str | None = None  # github-dispatch: the token's variable
    api_url: str | None = None  # github-dispatch: GitHub Enterprise's /api/v3
    event_type: str | None = None  # github-dispatch: fixed event_type
    id: str | None = None  # a stable id for MLflow's webhook API (default: the name)
    description: str | None = None
    enabled: bool = True
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def webhook_id(self) -> str:
        """The id MLflow's webhook API knows this subscription by."""
        return self.id or self.name

    def wants(self, kind: str, names: Iterable[str | None], is_prompt: bool = False) -> bool:
        """Whether an event of ``kind`` about a model called one of ``names`` goes here."""
        models = [n for n in names if n]
        if self.models and not any(
            fnmatch.fnmatchcase(name, pattern) for name in models for pattern in self.models
        ):
            return False
        if not self.events:  # every change once: TRANSITIONED_STAGE, not its TO_* twin too
            return kind not in STAGE_SPECIFIC
        return any(
            spec == kind or MLFLOW_EVENTS.get(spec) == (kind, is_prompt) for spec in self.events
        )

    def target(self) -> str:
        """Where it goes, safe to print: the URL's variable, recipients, or the repository."""
        if self.format == "email":
            return ", ".join(self.to)
        if self.format == "github-dispatch":
            return f"{self.repository} (repository_dispatch)"
        if self.url_env:
            return f"${self.url_env}"
        return self.url or ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Subscription:
        """Build from one schema-valid entry."""
        return cls(
            name=str(data["name"]),
            format=str(data.get("format", "json")),
            url=data.get("url"),
            url_env=data.get("url_env"),
            events=tuple(str(e) for e in data.get("events") or ()),
            models=tuple(str(m) for m in data.get("models") or ()),
            secret_env=data.get("secret_env"),
            signature=str(data.get("signature", "standard")),
            timeout=float(data.get("timeout", DEFAULT_TIMEOUT)),
            to=tuple(str(t) for t in data.get("to") or ()),
            digest=bool(data.get("digest", False)),
            repository=data.get("repository"),
            token_env=data.get("token_env"),
            api_url=data.get("api_url"),
            event_type=data.get("event_type"),
            id=data.get("id"),
            description=data.get("description"),
            enabled=bool(data.get("enabled", True)),
            created_at=data.get("created_at"),
            updated_at=data.get("updated_at"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``gitreg webhooks list --json``: names of variables, never values."""
        out = {name: getattr(self, name) for name in record.fields(self)}
        for key in ("events", "models", "to"):
            out[key] = list(out[key])
        out["webhook_id"] = self.webhook_id
        return {k: v for k, v in out.items() if v not in (None, [], ())}


@record.dataclass(frozen=True, slots=True)
class Smtp:
    """``notifications.smtp``: the server email subscriptions send through."""

    sender: str  # "from" in gitreg.yaml
    host: str | None = None
    host_env: str | None = None
    port: int = 587
    username_env: str | None = None
    password_env: str | None = None
    starttls: bool = True
    ssl: bool = False  # implicit TLS (port 465)
    timeout: float = 30.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Smtp:
        """Build from the schema-valid ``smtp`` mapping."""
        return cls(
            sender=str(data["from"]),
            host=data.get("host"),
            host_env=data.get("host_env"),
            port=int(data.get("port", 587)),
            username_env=data.get("username_env"),
            password_env=data.get("password_env"),
            starttls=bool(data.get("starttls", True)),
            ssl=bool(data.get("ssl", False)),
            timeout=float(data.get("timeout", 30.0)),
        )


@record.dataclass(frozen=True, slots=True)
class Allow:
    """``notifications.allow``: the variables delivery may read, the hosts and origins it
    may reach (#23)."""

    env: tuple[str, ...] | None = None  # names or glob patterns; None: what is declared
    hosts: tuple[str, ...] = ()  # private or loopback hosts, addresses or networks
    origins: tuple[str, ...] = ()  # where a token may go, beyond DEFAULT_TOKEN_ORIGINS

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Allow:
        """Build from the schema-valid ``allow`` mapping (None: the defaults)."""
        data = data or {}
        env = data.get("env")
        return cls(
            env=None if env is None else tuple(str(e) for e in env),
            hosts=tuple(str(h) for h in data.get("hosts") or ()),
            origins=tuple(str(o) for o in data.get("origins") or ()),
        )


@record.dataclass(frozen=True, slots=True)
class Notifications:
    """The ``notifications`` section: subscriptions, the SMTP server, what is allowed."""

    webhooks: tuple[Subscription, ...] = ()
    smtp: Smtp | None = None
    allow: Allow = record.field(default_factory=Allow)

    def declared_env(self) -> set[str]:
        """Every variable name a ``*_env`` field of this section declares."""
        names = {
            name
            for hook in self.webhooks
            for name in (hook.url_env, hook.secret_env, hook.token_env)
            if name
        }
        if self.smtp is not None:
            names |= {
                n for n in (self.smtp.host_env, self.smtp.username_env, self.smtp.password_env) if n
            }
        return names

    def env_allowed(self, name: str) -> bool:
        """Whether delivery may read variable ``name`` (``allow.env``, else what is declared)."""
        if self.allow.env is None:
            return name in self.declared_env()
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allow.env)

    def token_origins(self) -> tuple[str, ...]:
        """The origins a token may be sent to: GitHub's API and ``allow.origins``."""
        from gitreg.core.address import origin_of

        listed = (origin_of(o) for o in self.allow.origins)
        return DEFAULT_TOKEN_ORIGINS + tuple(o for o in listed if o)

    def origin_allowed(self, url: str) -> bool:
        """Whether a token may go to ``url``'s origin."""
        from gitreg.core.address import origin_of

        found = origin_of(url)
        return found is not None and found in {origin_of(o) for o in self.token_origins()}

    def host_rules(self, allow_private: bool = False) -> HostRules:
        """The address rules delivery connects by (``allow.hosts``)."""
        from gitreg.core.address import HostRules

        return HostRules(self.allow.hosts, allow_private)

    def find(self, name_or_id: str) -> Subscription | None:
        """The subscription with this name (or MLflow webhook id)."""
        return next(
            (w for w in self.webhooks if name_or_id in (w.name, w.webhook_id)),
            None,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Notifications:
        """Build from the schema-valid ``notifications`` mapping (None: no notifications)."""
        data = data or {}
        smtp = data.get("smtp")
        return cls(
            webhooks=tuple(Subscription.from_dict(w) for w in data.get("webhooks") or ()),
            smtp=Smtp.from_dict(smtp) if smtp else None,
            allow=Allow.from_dict(data.get("allow")),
        )


def problems(data: Any) -> list[tuple[list[str | int], str, str]]:
    """What the schema cannot check: (location, code, message) for each problem."""
    if not isinstance(data, Mapping):
        return []
    hooks = data.get("webhooks") or []
    found: list[tuple[list[str | int], str, str]] = []
    seen: dict[str, int] = {}
    for index, hook in enumerate(hooks if isinstance(hooks, Sequence) else []):
        if not isinstance(hook, Mapping):
            continue
        where: list[str | int] = ["notifications", "webhooks", index]
        for key in ("name", "id"):
            value = hook.get(key)
            if isinstance(value, str) and value in seen and seen[value] != index:
                found.append(
                    (
                        [*where, key],
                        "WEBHOOK_DUPLICATE",
                        f"notifications.webhooks[{index}].{key}: {value!r} is already used by "
                        f"webhooks[{seen[value]}]; names and ids must be unique",
                    )
                )
            elif isinstance(value, str):
                seen[value] = index
        if hook.get("format") == "email" and not data.get("smtp"):
            found.append(
                (
                    where,
                    "WEBHOOK_NO_SMTP",
                    f"notifications.webhooks[{index}] sends email but notifications.smtp is "
                    "missing; add notifications.smtp (host_env, port, from)",
                )
            )
    return found + _allow_problems(data)


Problem = tuple[list[str | int], str, str]


def _allow_problems(data: Mapping[str, Any]) -> list[Problem]:
    """What ``allow`` refuses among the hosts, origins and variables the section names."""
    from gitreg.core.address import entry_problem, host_of, origin_of

    section = Notifications.from_dict(data)
    rules = section.host_rules()
    found: list[Problem] = []
    for index, entry in enumerate(section.allow.hosts):
        problem = entry_problem(entry)
        if problem:
            where: list[str | int] = ["notifications", "allow", "hosts", index]
            found.append((where, "WEBHOOK_ALLOW_HOST", f"notifications.allow.hosts: {problem}"))
    for index, hook in enumerate(section.webhooks):
        for key in ("url", "api_url"):
            value = getattr(hook, key)
            host = host_of(value) if value else None
            problem = rules.check_name(host) if host is not None else None
            if problem:
                found.append(_hook_problem(index, key, "WEBHOOK_ADDRESS", f"{value} {problem}"))
        if hook.format == "github-dispatch" and not section.origin_allowed(
            hook.api_url or DEFAULT_TOKEN_ORIGINS[0]
        ):
            message = (
                f"{hook.api_url} is not an origin a token may be sent to; add "
                f"{origin_of(hook.api_url or '')} to notifications.allow.origins if it is your "
                "GitHub Enterprise API"
            )
            found.append(_hook_problem(index, "api_url", "WEBHOOK_ORIGIN_NOT_ALLOWED", message))
        for key in ("url_env", "secret_env", "token_env"):
            name = getattr(hook, key)
            if name and not section.env_allowed(name):
                message = f"{name} is not in notifications.allow.env; {_ENV_FIX.format(name)}"
                found.append(_hook_problem(index, key, "WEBHOOK_ENV_NOT_ALLOWED", message))
    return found + _smtp_problems(section, rules)


_ENV_FIX = "add {} to notifications.allow.env if delivery should read it"


def _hook_problem(index: int, key: str, code: str, message: str) -> Problem:
    where: list[str | int] = ["notifications", "webhooks", index, key]
    return (where, code, f"notifications.webhooks[{index}].{key}: {message}")


def _smtp_problems(section: Notifications, rules: HostRules) -> list[Problem]:
    smtp = section.smtp
    if smtp is None:
        return []
    found: list[Problem] = []
    problem = rules.check_name(smtp.host) if smtp.host else None
    if problem:
        message = f"notifications.smtp.host: {smtp.host} {problem}"
        found.append((["notifications", "smtp", "host"], "WEBHOOK_ADDRESS", message))
    for key in ("host_env", "username_env", "password_env"):
        name = getattr(smtp, key)
        if name and not section.env_allowed(name):
            message = f"notifications.smtp.{key}: {name} is not in notifications.allow.env; "
            message += _ENV_FIX.format(name)
            found.append((["notifications", "smtp", key], "WEBHOOK_ENV_NOT_ALLOWED", message))
    return found
