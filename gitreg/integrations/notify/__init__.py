"""Delivery of registry events: signed webhooks, Slack, GitHub dispatch and email (#13).

One module per format (``webhook`` for ``json``, ``slack``, ``dispatch``, ``mail``), the
run in ``deliver``, what a delivery may read and reach in ``access`` (#23), and here the
glue to a registry: which gitreg.yaml decides (the one the events landed with, or a
request's base, never a request's own), where links point, and how a variable name
becomes a secret (the environment first, then the clone's private store,
``store.secrets``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from gitreg.core.config import Config
from gitreg.core.errors import WebhookNotFound
from gitreg.core.events import Event, EventKind, RegistryEvent
from gitreg.integrations.notify.access import Options
from gitreg.integrations.notify.deliver import (
    Delivery,
    Lookup,
    Report,
    build,
    deliver,
    example,
    send,
)
from gitreg.integrations.notify.message import Links, Message
from gitreg.store import secrets
from gitreg.store.remote import remote_url
from gitreg.store.store import Store

__all__ = [
    "Delivery",
    "Links",
    "Message",
    "Options",
    "Report",
    "lookup_for",
    "notify",
    "request_events",
    "send_example",
]


def lookup_for(store: Store, env: Mapping[str, str]) -> Lookup:
    """Resolve a variable name: the environment, then the clone's private secrets."""

    def lookup(name: str) -> str | None:
        return env.get(name) or secrets.read(store.state_dir, name)

    return lookup


def links_for(store: Store, config: Config, env: Mapping[str, str]) -> Links:
    """Where commits and pull requests of this registry can be seen."""
    return Links.find(remote_url(store.root, config), config.forge, env)


def notify(
    store: Store,
    events: Sequence[RegistryEvent],
    config_at: str | None,
    env: Mapping[str, str],
    *,
    dry_run: bool = False,
) -> Report:
    """Deliver ``events`` to the subscriptions of gitreg.yaml at ``config_at``."""
    config = store.read_config(config_at)
    links = links_for(store, config, env)
    return deliver(config.notifications, events, links, lookup_for(store, env), dry_run=dry_run)


def send_example(
    store: Store,
    name: str,
    kind: str | None,
    env: Mapping[str, str],
    at: str | None = None,
    options: Options | None = None,
) -> Delivery:
    """Send an example event to subscription ``name`` (enabled or not), now.

    ``options`` carries settings from outside gitreg.yaml (MLflow's, from the plugin).

    Raises:
        WebhookNotFound: no subscription has that name or id.
        InvalidParameter: ``kind`` is unknown.
    """
    config = store.read_config(at)
    sub = config.notifications.find(name)
    if sub is None:
        raise WebhookNotFound(
            f"Webhook with ID {name} not found. gitreg.yaml has no webhook of that name or "
            "id in notifications.webhooks; see gitreg webhooks list"
        )
    links = links_for(store, config, env)
    message = build(sub, [example(sub, kind)], links)[0]
    return send(message, config.notifications, links, lookup_for(store, env), options=options)


def request_events(
    store: Store, base: str, head: str, pull_request: int | None = None
) -> list[RegistryEvent]:
    """TRANSITION_REQUEST_CREATED for each stage change a request branch proposes.

    The request is the difference between ``base`` (the branch it targets) and ``head``
    (its tip): one event per version whose stage the request changes, from its stage at
    the base to its stage at the head, placed at the head commit. The id is therefore
    stable for a given request tip: opening the same request twice is one event.
    """
    from gitreg.store import eventlog

    changes = eventlog.read_events(store.root, store.resolve_ref(base), store.resolve_ref(head))
    first: dict[tuple[str, int], str] = {}
    last: dict[tuple[str, int], RegistryEvent] = {}
    for item in changes:
        event = item.event
        if event.kind != EventKind.MODEL_VERSION_TRANSITIONED_STAGE or event.version is None:
            continue
        key = (event.name, event.version)
        first.setdefault(key, event.from_stage or "None")
        last[key] = item
    tip = store.resolve_ref(head)
    found = []
    for key, item in last.items():
        if item.event.to_stage == first[key]:
            continue  # moved and moved back: nothing is requested
        request = Event(
            EventKind.TRANSITION_REQUEST_CREATED,
            key[0],
            key[1],
            from_stage=first[key],
            to_stage=item.event.to_stage,
        )
        found.append(_requested(item, request, tip, pull_request))
    return found + _alias_requests(changes, tip, pull_request)


def _requested(
    item: RegistryEvent, request: Event, tip: str, pull_request: int | None
) -> RegistryEvent:
    """``request`` announced at the request branch's tip, by the author of the change."""
    return dataclasses.replace(item, event=request, commit=tip, pull_request=pull_request)


def _alias_requests(
    changes: list[RegistryEvent], tip: str, pull_request: int | None
) -> list[RegistryEvent]:
    """TRANSITION_REQUEST_CREATED for each alias a request sets, moves or removes (#11)."""
    moves = (EventKind.MODEL_VERSION_ALIAS_CREATED, EventKind.MODEL_VERSION_ALIAS_DELETED)
    first: dict[tuple[str, str], int | None] = {}
    last: dict[tuple[str, str], RegistryEvent] = {}
    for item in changes:
        event = item.event
        if event.kind not in moves or event.alias is None:
            continue
        key = (event.name, event.alias)
        created = event.kind == EventKind.MODEL_VERSION_ALIAS_CREATED
        first.setdefault(key, event.previous_version if created else event.version)
        last[key] = item
    found = []
    for key, item in last.items():
        target = item.event.version if item.event.kind.name.endswith("CREATED") else None
        if target == first[key]:
            continue  # moved and moved back: nothing is requested
        request = Event(
            EventKind.TRANSITION_REQUEST_CREATED,
            key[0],
            target,
            alias=key[1],
            previous_version=first[key],
        )
        found.append(_requested(item, request, tip, pull_request))
    return found
