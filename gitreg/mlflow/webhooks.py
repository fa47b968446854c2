"""MLflow's webhook API on gitreg.yaml's ``notifications.webhooks`` (issue 13).

``WebhookMethods`` gives ``GitregStore`` MLflow 3's webhook store methods: reads come from
gitreg.yaml, each write is one commit to it (``Registry.create_webhook`` and friends). A
webhook created here signs as MLflow does (``signature: mlflow``), so receivers written for
MLflow work unchanged; its literal secret stays in the clone's private store, and the
subscription records the variable name CI exports it under. Arguments are checked with
MLflow's rules and messages first. Differences from MLflow's SQL store (README, MLflow):
names are unique; ``http://`` is accepted only for localhost; ``budget_policy.exceeded``
does not exist; subscriptions MLflow's ``Webhook`` cannot express (Slack, dispatch, email,
or only gitreg-specific kinds) are not listed here but are by ``gitreg webhooks list``.

MLflow's webhook settings are honoured here (#23), read when each call is made:
``MLFLOW_WEBHOOK_ALLOWED_SCHEMES`` (default ``https``), ``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS``
(default false: a URL whose host is or resolves to a private or loopback address is
refused unless gitreg.yaml's ``notifications.allow.hosts`` lists it; link-local and metadata
addresses are refused even when it is true; a private host it lets in is recorded in
``allow.hosts`` in the same commit), ``MLFLOW_WEBHOOK_REQUEST_TIMEOUT`` (default
30 s per attempt of ``test_webhook``) and ``MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES`` (default 3).
The secret encryption key, the worker pool and the cache TTL have no counterpart: secrets
never enter the repository, and the plugin sends only ``test_webhook`` (``gitreg notify``
delivers the rest, in CI).
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from mlflow.entities.webhook import Webhook, WebhookEvent, WebhookStatus, WebhookTestResult
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.search_utils import SearchUtils

from gitreg.core.address import HostRules, normalize_host
from gitreg.core.fields import parse_timestamp
from gitreg.core.notifications import MLFLOW_EVENTS, NAME, Subscription
from gitreg.integrations import http
from gitreg.integrations.notify import Options
from gitreg.mlflow.convert import mlflow_errors
from gitreg.registry import Registry

# gitreg kind -> MLflow event name, for subscriptions written with gitreg's kinds.
_KIND_TO_MLFLOW = {kind: name for name, (kind, prompt) in MLFLOW_EVENTS.items() if not prompt}


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, INVALID_PARAMETER_VALUE)


def check_name(name: object) -> None:
    """MLflow's webhook name rule and message."""
    if not isinstance(name, str):
        raise _invalid(f"Webhook name must be a string, got {type(name).__name__!r}")
    if not NAME.fullmatch(name):
        raise _invalid(
            f"Webhook name {name!r} is invalid. It must start and end with a letter or digit, "
            "be less than 63 characters long, and contain only letters, digits, dots (.), "
            "underscores (_), and hyphens (-)."
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """MLflow's ``MLFLOW_WEBHOOK_*`` variables, with MLflow's defaults."""

    schemes: tuple[str, ...] = ("https",)
    allow_private: bool = False
    timeout: float = 30.0
    retries: int = 3

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the variables as MLflow does; a value MLflow would not accept is an error."""
        env = os.environ if env is None else env
        schemes = env.get("MLFLOW_WEBHOOK_ALLOWED_SCHEMES")
        return cls(
            schemes=tuple(s.strip() for s in schemes.split(",")) if schemes else ("https",),
            allow_private=_flag(env, "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"),
            timeout=float(_number(env, "MLFLOW_WEBHOOK_REQUEST_TIMEOUT", 30, minimum=1)),
            retries=_number(env, "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES", 3, minimum=0),
        )

    def options(self) -> Options:
        """The delivery options these settings ask for."""
        return Options(self.timeout, self.retries + 1, self.allow_private, self.schemes)


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "false").strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise _invalid(f"{name} must be one of true, false, 1, 0; it is {value[:20]!r}")
    return value in ("true", "1")


def _number(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    value = env.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise _invalid(f"{name} must be an integer of at least {minimum}; it is {value[:20]!r}")
    return number


def check_url(
    url: object, settings: Settings | None = None, rules: HostRules | None = None
) -> None:
    """MLflow's URL checks and messages, its settings, and gitreg's address rules.

    Plain http goes only to localhost (gitreg's rule, even when the allowed schemes name
    http); no space or control character anywhere; the host, as written and as it
    resolves now, must not be refused by ``rules`` (delivery checks again when it sends).
    """
    settings = settings or Settings()
    if not isinstance(url, str):
        raise _invalid(f"Webhook URL must be a string, got {type(url).__name__!r}")
    if not url.strip():
        raise _invalid(f"Webhook URL cannot be empty or just whitespace: {url!r}")
    bad = http.bad_character(url)
    if bad:
        raise _invalid(
            f"Invalid webhook URL: it contains {bad}; a URL has no spaces or control "
            "characters (percent-encode them)"
        )
    shown = http.redact(url)
    try:
        parsed = urllib.parse.urlparse(url)
        host = parsed.hostname
    except ValueError as e:
        raise _invalid(f"Invalid webhook URL {shown}: {e}") from e
    if parsed.scheme not in settings.schemes or parsed.scheme not in ("https", "http"):
        allowed = ", ".join(s for s in settings.schemes if s in ("http", "https")) or "none"
        hint = " (MLFLOW_WEBHOOK_ALLOWED_SCHEMES)" if parsed.scheme in ("http", "https") else ""
        raise _invalid(
            f"Invalid webhook URL scheme: {parsed.scheme!r}. Allowed schemes are: {allowed}{hint}."
        )
    if not host:
        raise _invalid(f"Webhook URL must include a hostname: {shown}")
    _check_destination(url, shown, rules)


def _check_destination(url: str, shown: str, rules: HostRules | None) -> None:
    try:
        http.check_url(url, "Webhook URL", shown, rules)
    except http.HttpError as e:
        raise _invalid(e.message.replace("Webhook URL: the URL", "Webhook URL", 1)) from e
    problem = http.check_resolved(url, rules) if rules is not None else None
    if problem:
        raise _invalid(f"Webhook URL {shown} {problem}")


def check_events(events: object) -> list[str]:
    """MLflow's rule (a non-empty list of WebhookEvent) plus the events gitreg knows."""
    if (
        not events
        or not isinstance(events, list)
        or not all(isinstance(e, WebhookEvent) for e in events)
    ):
        raise _invalid(
            f"Webhook events must be a non-empty list of WebhookEvent objects: {events}."
        )
    names = [str(e) for e in events]
    unknown = [n for n in names if n not in MLFLOW_EVENTS]
    if unknown:
        raise _invalid(
            f"gitreg cannot deliver webhook events {unknown}: a git registry has no budgets"
        )
    return list(dict.fromkeys(names))


def mlflow_events(sub: Subscription) -> list[WebhookEvent]:
    """The subscription's events as MLflow names them (empty: MLflow cannot express it).

    In MLflow's order: its store returns a webhook's events by (entity, action), the key of
    their table, whatever order they were given in (#25).
    """
    specs = list(sub.events) or list(MLFLOW_EVENTS)
    names = [s if s in MLFLOW_EVENTS else _KIND_TO_MLFLOW.get(s) for s in specs]
    events = [WebhookEvent.from_str(n) for n in dict.fromkeys(n for n in names if n)]  # type: ignore[arg-type]
    return sorted(events, key=lambda e: (e.entity.value, e.action.value))


def to_webhook(sub: Subscription, secret: str | None) -> Webhook:
    """MLflow's ``Webhook`` for a subscription that MLflow can express."""
    return Webhook(
        webhook_id=sub.webhook_id,
        name=sub.name,
        url=sub.url or f"env:{sub.url_env}",
        events=mlflow_events(sub),
        creation_timestamp=parse_timestamp(sub.created_at),
        last_updated_timestamp=parse_timestamp(sub.updated_at or sub.created_at),
        description=sub.description,
        status=WebhookStatus.ACTIVE if sub.enabled else WebhookStatus.DISABLED,
        secret=secret,
    )


def _page(items: list[Webhook], max_results: int | None, page_token: str | None) -> Any:
    size = 100 if max_results is None else max_results
    if not isinstance(size, int) or not 1 <= size <= 1000:
        raise _invalid("max_results must be between 1 and 1000.")
    start = 0
    if page_token:
        start = SearchUtils.parse_start_offset_from_page_token(page_token)  # type: ignore[no-untyped-call]
    chosen = items[start : start + size]
    token = None
    if start + size < len(items):
        token = SearchUtils.create_page_token(start + size)  # type: ignore[no-untyped-call]
    return PagedList(chosen, token)


class WebhookMethods:
    """The webhook half of MLflow's registry store, for ``GitregStore``."""

    registry: Registry

    def _checked(self, url: object) -> list[str]:
        """Check ``url`` by MLflow's settings and gitreg.yaml's rules; the private host to
        record in ``notifications.allow.hosts`` when MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS let it
        in, so that ``gitreg notify`` (which reads no MLflow setting) reaches it too."""
        settings = Settings.from_env()
        with mlflow_errors():
            section = self.registry.notifications_config()
        check_url(url, settings, section.host_rules(settings.allow_private))
        if not settings.allow_private or not isinstance(url, str):
            return []
        strict = section.host_rules()
        host = urllib.parse.urlsplit(url).hostname or ""
        if strict.check_name(host) or http.check_resolved(url, strict):
            return [normalize_host(host)]
        return []

    def _webhook(self, sub: Subscription) -> Webhook:
        return to_webhook(sub, self.registry.webhook_secret(sub))

    def _webhooks(self) -> list[Webhook]:
        with mlflow_errors():
            subs = [
                s for s in self.registry.list_webhooks() if s.format == "json" and mlflow_events(s)
            ]
        found = [self._webhook(s) for s in subs]
        return sorted(found, key=lambda w: -w.creation_timestamp)  # newest first, as MLflow

    def create_webhook(
        self,
        name: str,
        url: str,
        events: list[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        check_name(name)
        hosts = self._checked(url)
        fields: dict[str, Any] = {
            "url": url,
            "events": check_events(events),
            "signature": "mlflow",
        }
        if description:
            fields["description"] = description
        if status == WebhookStatus.DISABLED:
            fields["enabled"] = False
        with mlflow_errors():
            sub = self.registry.create_webhook(name, secret=secret, allow_hosts=hosts, **fields)
        return to_webhook(sub, secret or None)

    def get_webhook(self, webhook_id: str) -> Webhook:
        with mlflow_errors():
            return self._webhook(self.registry.get_webhook(webhook_id))

    def list_webhooks(
        self, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Webhook]:
        return _page(self._webhooks(), max_results, page_token)  # type: ignore[no-any-return]

    def list_webhooks_by_event(
        self,
        event: WebhookEvent,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Webhook]:
        chosen = [w for w in self._webhooks() if event in w.events]
        return _page(chosen, max_results, page_token)  # type: ignore[no-any-return]

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        description: str | None = None,
        url: str | None = None,
        events: Sequence[WebhookEvent] | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        changes: dict[str, Any] = {}
        hosts: list[str] = []
        if name is not None:
            check_name(name)
            changes["name"] = name
        if url is not None:
            hosts = self._checked(url)
            changes.update(url=url, url_env=None)
        if events is not None:
            changes["events"] = check_events(events)
        if description is not None:
            changes["description"] = description or None
        if status is not None:
            changes["enabled"] = None if status == WebhookStatus.ACTIVE else False
        with mlflow_errors():
            sub = self.registry.update_webhook(
                webhook_id, secret=secret or None, allow_hosts=hosts, **changes
            )
        return self._webhook(sub)

    def delete_webhook(self, webhook_id: str) -> None:
        with mlflow_errors():
            self.registry.delete_webhook(webhook_id)

    def test_webhook(self, webhook_id: str, event: WebhookEvent | None = None) -> WebhookTestResult:
        options = Settings.from_env().options()
        with mlflow_errors():
            result = self.registry.test_webhook(webhook_id, str(event) if event else None, options)
        return WebhookTestResult(
            success=result.ok,
            response_status=result.status,
            response_body=result.response,
            error_message=result.error,
        )
