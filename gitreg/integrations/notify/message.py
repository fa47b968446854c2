"""What every format shares: the message record, links to commits and pull requests.

A ``Message`` is what one delivery sends: the events it carries (one, or a run's worth for
an email digest), its body and the headers that are safe to print. Secrets (signatures,
tokens, a URL kept in a variable) are added only at send time, so ``--dry-run`` can print a
message whole without any of them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from gitreg.core.events import RegistryEvent
from gitreg.core.notifications import Subscription

_REMOTE = re.compile(
    r"^(?:https?://(?:[^@/]+@)?|ssh://(?:[^@/]+@)?|[^@/:]+@)([^/:]+)(?::\d+)?[:/](.+?)(?:\.git)?/?$"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Links:
    """Where a person sees a commit or a pull request (None: the remote has no web page)."""

    repository: str | None = None
    forge: str = "github"  # github | gitlab: how their pages are spelled

    def commit(self, sha: str) -> str | None:
        """The commit's page."""
        if not self.repository:
            return None
        middle = "/-/commit/" if self.forge == "gitlab" else "/commit/"
        return f"{self.repository}{middle}{sha}"

    def pull_request(self, number: int | None) -> str | None:
        """The pull (merge) request's page."""
        if not self.repository or number is None:
            return None
        middle = "/-/merge_requests/" if self.forge == "gitlab" else "/pull/"
        return f"{self.repository}{middle}{number}"

    def best(self, event: RegistryEvent) -> str | None:
        """The pull request's page when the change came through one, else the commit's."""
        return self.pull_request(event.pull_request) or self.commit(event.commit)

    @classmethod
    def find(
        cls, remote_url: str | None, forge: Mapping[str, Any], env: Mapping[str, str]
    ) -> Links:
        """From GitHub Actions' variables when set, else from the remote's URL."""
        kind = "gitlab" if forge.get("type") == "gitlab" else "github"
        server, repo = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY")
        if server and repo and server.startswith("https://"):
            return cls(f"{server.rstrip('/')}/{repo}", "github")
        match = _REMOTE.match(remote_url or "")
        if not match or (remote_url or "").startswith(("/", ".", "file:")):
            return cls(None, kind)
        return cls(f"https://{match[1]}/{match[2]}", kind)


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    """One delivery: to ``subscription``, carrying ``events``."""

    subscription: Subscription
    events: tuple[RegistryEvent, ...]
    body: bytes
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    subject: str | None = None  # email only

    @property
    def ids(self) -> list[str]:
        """The ids of the events it carries."""
        return [e.id for e in self.events]


def event_payload(item: RegistryEvent, links: Links) -> dict[str, Any]:
    """The event as JSON for receivers: its id, fields, where it happened, and links."""
    data = item.to_dict()
    data["commit_url"] = links.commit(item.commit)
    data["pull_request_url"] = links.pull_request(item.pull_request)
    data["text"] = summary(item)
    return {k: v for k, v in data.items() if v is not None}


def summary(item: RegistryEvent) -> str:
    """One line for people: ``churn: version 3: Staging -> Production``."""
    return f"{item.event.name}: {item.event.describe()}"
