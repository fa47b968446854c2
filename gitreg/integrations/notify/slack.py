"""The ``slack`` format: a Slack incoming-webhook message.

``text`` is the fallback Slack shows in notifications and where blocks cannot be drawn: the
model, what changed (with the version), who changed it, and a link to the pull request or
the commit. ``blocks`` say the same with emphasis. The URL of an incoming webhook is itself
the secret, so subscriptions name it with ``url_env``.
"""

from __future__ import annotations

import json
from typing import Any

from gitreg.core.events import RegistryEvent
from gitreg.core.notifications import Subscription
from gitreg.integrations.notify.message import Links, Message


def messages(sub: Subscription, events: list[RegistryEvent], links: Links) -> list[Message]:
    """One Slack message per event."""
    return [
        Message(
            sub,
            (item,),
            json.dumps(payload(item, links), ensure_ascii=False).encode(),
            {"Content-Type": "application/json"},
        )
        for item in events
    ]


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: ``&``, ``<`` and ``>`` only."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(item: RegistryEvent, links: Links) -> dict[str, Any]:
    """``{"text": fallback, "blocks": [...]}`` for one event."""
    event = item.event
    short = item.commit[:7]
    url = links.best(item)
    where = f"#{item.pull_request}" if item.pull_request is not None else short
    place = f"<{url}|{escape(where)}>" if url else escape(where)
    what = escape(event.describe())
    who = escape(item.author or "someone")
    text = f"{escape(event.name)}: {what}, by {who} in {place}"
    commit_url = links.commit(item.commit)
    context = [
        event.kind.value,
        f"by {who}",
        f"commit <{commit_url}|{short}>" if commit_url else f"commit {short}",
    ]
    if item.pull_request is not None:
        context.append(f"pull request {place}")
    return {
        "text": text,
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{escape(event.name)}*: {what}"},
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": " · ".join(context)}],
            },
        ],
    }
