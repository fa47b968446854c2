"""GitHub (and GitHub Enterprise): pull requests through the REST API."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

from gitreg.core.config import BRANCH_PREFIX
from gitreg.integrations.forges.base import Forge, PullRequest, call

DEFAULT_API_URL = "https://api.github.com"


class GitHubForge(Forge):
    """``owner/name`` on GitHub; ``api_url`` points at GitHub Enterprise's ``/api/v3``."""

    kind = "github"

    def __init__(self, repository: str, token: str, api_url: str = DEFAULT_API_URL) -> None:
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self.base = f"{api_url.rstrip('/')}/repos/{repository}"
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "gitreg",
        }

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        return call(method, self.base + path, self.headers, payload, what="GitHub")

    def find(self, branch: str) -> PullRequest | None:
        """The open pull request whose head is ``branch``."""
        query = urllib.parse.urlencode({"state": "open", "head": f"{self.owner}:{branch}"})
        found = self._call("GET", f"/pulls?{query}") or []
        return _pull(found[0]) if found else None

    def open(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> PullRequest:
        """Open a pull request, then label it (labels are an issue API on GitHub)."""
        payload = {"title": title, "head": branch, "base": base, "body": body}
        pull = _pull(self._call("POST", "/pulls", payload))
        if labels and pull.number is not None:
            self._call("POST", f"/issues/{pull.number}/labels", {"labels": list(labels)})
        return pull

    def list_open(self) -> list[PullRequest]:
        """Open pull requests from ``gitreg/...`` branches (first 100)."""
        found = self._call("GET", "/pulls?state=open&per_page=100") or []
        return [_pull(p) for p in found if str(p["head"]["ref"]).startswith(BRANCH_PREFIX)]


def _pull(data: Any) -> PullRequest:
    return PullRequest(
        branch=str(data["head"]["ref"]),
        url=str(data["html_url"]),
        number=int(data["number"]),
        title=str(data.get("title", "")),
    )
