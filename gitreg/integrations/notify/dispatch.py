"""The ``github-dispatch`` format: a ``repository_dispatch`` event on a GitHub repository.

``POST {api_url}/repos/{owner}/{repo}/dispatches`` with ``event_type`` (at most 100
characters; default ``gitreg.<kind in lower case>``) and a ``client_payload`` of at most
10 top-level keys, GitHub's limits, so that a deployment workflow can run
``on: repository_dispatch: types: [gitreg.model_version_transitioned_to_production]`` and
read ``github.event.client_payload.name``. The token comes from the variable ``token_env``
names, at send time.
"""

from __future__ import annotations

import json
from typing import Any

from gitreg.core.events import RegistryEvent
from gitreg.core.notifications import Subscription
from gitreg.integrations.notify.message import Links, Message, event_payload

DEFAULT_API_URL = "https://api.github.com"
MAX_EVENT_TYPE = 100
MAX_KEYS = 10
# The keys a deployment most often needs stay on top; everything else goes in "details".
TOP_KEYS = ("id", "event", "name", "version", "to_stage", "alias", "source", "commit")


def url(sub: Subscription) -> str:
    """The dispatches endpoint of the subscription's repository."""
    base = (sub.api_url or DEFAULT_API_URL).rstrip("/")
    return f"{base}/repos/{sub.repository}/dispatches"


def messages(sub: Subscription, events: list[RegistryEvent], links: Links) -> list[Message]:
    """One dispatch per event."""
    headers = {
        "Accept": "application/vnd.github+json",
        "Content-Type": "application/json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "gitreg",
    }
    return [
        Message(sub, (item,), json.dumps(payload(sub, item, links)).encode(), headers)
        for item in events
    ]


def payload(sub: Subscription, item: RegistryEvent, links: Links) -> dict[str, Any]:
    """``{"event_type", "client_payload"}`` within GitHub's limits."""
    data = event_payload(item, links)
    top = {key: data.pop(key) for key in TOP_KEYS if key in data}
    top["details"] = data  # len(TOP_KEYS) + 1 <= MAX_KEYS
    event_type = sub.event_type or f"gitreg.{item.event.kind.value.lower()}"
    return {"event_type": event_type[:MAX_EVENT_TYPE], "client_payload": top}
