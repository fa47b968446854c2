"""A delivery run: match events to subscriptions, build each message, send it, report.

Delivery is at-least-once: a run sends every matching event of its range, and running the
same range again sends the same events with the same ids (``webhook-id``), so receivers
deduplicate. Each request has the subscription's timeout and is retried with exponential
backoff and jitter on connection errors, timeouts, 429 and 5xx (``integrations.http``);
once a subscription has failed that way in a run, its remaining messages are reported as
failed without being sent, so a dead endpoint costs one request's retries, not one per
event. Nothing here reads the environment: ``lookup`` resolves variable names, and
``access.Access`` decides which names it may resolve and where a message may go (#23).

Each attempt is signed afresh: the same ``webhook-id`` on every attempt and re-delivery,
a new ``webhook-timestamp`` and signature each time, so a retry after a long
``Retry-After`` still falls inside the window receivers enforce. The waits of one message
are bounded together (``RETRY.max_total_wait``). Whatever a receiver answers is shown
with every secret of the request redacted, bounded, on one printable line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from gitreg.core.errors import GitregError, InvalidParameter
from gitreg.core.events import Event, EventKind, RegistryEvent
from gitreg.core.notifications import MLFLOW_EVENTS, Notifications, Subscription
from gitreg.integrations import http
from gitreg.integrations.notify import dispatch, mail, slack, webhook
from gitreg.integrations.notify.access import Access, Options, Unusable
from gitreg.integrations.notify.message import Links, Message

Lookup = Callable[[str], str | None]
# At most 5 attempts; a Retry-After above 120 s ends the retries, and all waits of one
# message together stay within 300 s (#23).
RETRY = http.Retry(
    attempts=5, backoff=0.5, max_backoff=30.0, max_retry_after=120.0, max_total_wait=300.0
)
_BUILDERS = {
    "json": webhook.messages,
    "slack": slack.messages,
    "github-dispatch": dispatch.messages,
    "email": mail.messages,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """What happened to one message (or, in a dry run, what would be sent)."""

    subscription: str
    format: str
    target: str  # safe to print: a URL's variable name, recipients, a repository
    event_ids: tuple[str, ...]
    kinds: tuple[str, ...]
    ok: bool
    sent: bool = True
    status: int | None = None
    attempts: int = 0
    error: str | None = None
    transient: bool = False
    body: str | None = None  # dry run: what would be sent (no secret is in a body)
    subject: str | None = None
    response: str | None = None  # the start of the receiver's answer

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``--json``."""
        out = dataclasses.asdict(self)
        out["event_ids"] = list(self.event_ids)
        out["kinds"] = list(self.kinds)
        out.pop("transient")
        return {k: v for k, v in out.items() if v is not None}


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """A run: the events of the range and every delivery made (or planned)."""

    events: tuple[RegistryEvent, ...]
    deliveries: tuple[Delivery, ...]
    dry_run: bool = False

    @property
    def delivered(self) -> int:
        """Messages that reached their receiver (planned ones, in a dry run)."""
        return sum(1 for d in self.deliveries if d.ok)

    @property
    def failed(self) -> int:
        """Messages that did not."""
        return sum(1 for d in self.deliveries if not d.ok)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``gitreg notify --json``."""
        return {
            "dry_run": self.dry_run,
            "events": len(self.events),
            "delivered": self.delivered,
            "failed": self.failed,
            "deliveries": [d.to_dict() for d in self.deliveries],
        }


def build(sub: Subscription, events: Sequence[RegistryEvent], links: Links) -> list[Message]:
    """The messages ``sub`` gets for ``events`` in its format."""
    return _BUILDERS[sub.format](sub, list(events), links)


def plan(
    notifications: Notifications, events: Sequence[RegistryEvent], links: Links
) -> list[Message]:
    """Every message the run sends: per enabled subscription, the events it wants."""
    messages: list[Message] = []
    for sub in notifications.webhooks:
        if not sub.enabled:
            continue
        chosen = [
            e
            for e in events
            if sub.wants(e.event.kind.value, (e.event.name, e.event.old_name), e.is_prompt)
        ]
        if chosen:
            messages += build(sub, chosen, links)
    return messages


def deliver(
    notifications: Notifications,
    events: Sequence[RegistryEvent],
    links: Links,
    lookup: Lookup,
    *,
    dry_run: bool = False,
    retry: http.Retry = RETRY,
) -> Report:
    """Send (or, with ``dry_run``, describe) every matching message of ``events``."""
    messages = plan(notifications, events, links)
    if dry_run:
        return Report(tuple(events), tuple(_planned(m) for m in messages), True)
    results = []
    broken: set[str] = set()
    for message in messages:
        name = message.subscription.name
        if name in broken:
            result = _outcome(message, error="not sent: an earlier delivery to it failed")
        else:
            result = send(message, notifications, links, lookup, retry)
            if result.transient:
                broken.add(name)
        results.append(result)
    return Report(tuple(events), tuple(results))


def _outcome(message: Message, **fields: Any) -> Delivery:
    sub = message.subscription
    ok = fields.pop("ok", False)
    return Delivery(
        subscription=sub.name,
        format=sub.format,
        target=sub.target(),
        event_ids=tuple(message.ids),
        kinds=tuple(e.event.kind.value for e in message.events),
        ok=ok,
        **fields,
    )


def _planned(message: Message) -> Delivery:
    return _outcome(
        message,
        ok=True,
        sent=False,
        body=message.body.decode(errors="replace"),
        subject=message.subject,
    )


def send(
    message: Message,
    notifications: Notifications,
    links: Links,
    lookup: Lookup,
    retry: http.Retry = RETRY,
    options: Options | None = None,
) -> Delivery:
    """Send one message now; the outcome, never an exception."""
    access = Access(notifications, lookup, options or Options())
    try:
        if message.subscription.format == "email":
            return _send_mail(message, access, links, access.retry(retry))
        response = _send_http(message, access, access.retry(retry))
    except http.HttpError as e:
        transient = e.status is None or e.status == 429 or e.status >= 500
        return _outcome(
            message, status=e.status, attempts=e.attempts, error=e.message, transient=transient
        )
    except GitregError as e:
        return _outcome(message, error=e.message, transient=isinstance(e, Unusable))
    return _outcome(
        message,
        ok=True,
        status=response.status,
        attempts=response.attempts,
        response=response.text(),
    )


def _send_http(message: Message, access: Access, retry: http.Retry) -> http.Response:
    sub = message.subscription
    headers = dict(message.headers)
    label: str | None = None
    secrets: list[str] = []
    if sub.format == "github-dispatch":
        url = dispatch.url(sub)
        access.token_url(sub, url)
        what = f"a token that may dispatch to {sub.repository}"
        token = access.read(sub.token_env, f"webhooks[{sub.name}].token_env", what)
        headers["Authorization"] = f"Bearer {token}"
    else:
        url, label, secrets = access.url(sub)
    sign = None
    if sub.format == "json":
        secret = None
        if sub.secret_env:
            field = f"webhooks[{sub.name}].secret_env"
            secret = access.read(sub.secret_env, field, "its signing secret")
            secrets.append(secret)

        def sign() -> dict[str, str]:  # each attempt: a new timestamp, a new signature
            return webhook.signed_headers(message, secret, int(time.time()))

    return http.request(
        "POST",
        url,
        headers={"User-Agent": "gitreg", **headers},
        body=message.body,
        timeout=access.timeout(sub),
        retry=retry,
        max_bytes=1024 * 1024,
        what=f"webhook {sub.name}",
        rules=access.rules,
        secrets=secrets,
        sign=sign,
        label=label,
    )


def _send_mail(message: Message, access: Access, links: Links, retry: http.Retry) -> Delivery:
    smtp = access.notifications.smtp
    if smtp is None:
        return _outcome(message, error="notifications.smtp is missing")
    built = mail.build(message, smtp, links)
    lookup = access.reader("notifications.smtp")
    waited = 0.0
    for attempt in range(1, retry.attempts + 1):
        try:
            mail.send(built, smtp, lookup, access.rules)
        except mail.MailError as e:
            wait = retry.delay(attempt)
            last = attempt == retry.attempts or waited + wait > retry.max_total_wait
            if not e.transient or last:
                return _outcome(message, attempts=attempt, error=e.message, transient=e.transient)
            time.sleep(wait)
            waited += wait
            continue
        return _outcome(message, ok=True, attempts=attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def example(sub: Subscription, kind: str | None = None) -> RegistryEvent:
    """An example event for ``webhooks test`` (as MLflow's ``test_webhook`` sends one).

    ``kind`` is a gitreg kind or an MLflow event name (default: the subscription's first).
    Its commit is made up and fresh, so each test has its own id.
    """
    chosen = kind or (sub.events[0] if sub.events else EventKind.MODEL_VERSION_CREATED.value)
    name, is_prompt = MLFLOW_EVENTS.get(chosen, (chosen, False))
    if name not in EventKind.__members__:
        raise InvalidParameter(
            f"unknown event {chosen!r}; use one of gitreg's kinds (e.g. MODEL_VERSION_CREATED) "
            "or MLflow's event names (e.g. model_version.created)"
        )
    event = Event(
        EventKind(name),
        "example_model",
        None if name.startswith("REGISTERED_MODEL") else 1,
        alias="example_alias" if "ALIAS" in name else None,
        key="example_key" if "TAG" in name else None,
        value="example_value" if "TAG" in name else None,
        from_stage="Staging" if "TRANSITION" in name else None,
        to_stage="Production" if "TRANSITION" in name else None,
        source="s3://example/model" if name == "MODEL_VERSION_CREATED" else None,
        run_id="abcd1234abcd5678" if name == "MODEL_VERSION_CREATED" else None,
    )
    commit = hashlib.sha1(f"gitreg test {time.time_ns()}".encode()).hexdigest()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return RegistryEvent(event, commit, "gitreg", "gitreg@example.com", stamp, None, is_prompt)
