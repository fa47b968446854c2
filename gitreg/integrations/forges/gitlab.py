"""GitLab (gitlab.com or self-hosted): merge requests through the REST API v4."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

from gitreg.core.config import BRANCH_PREFIX
from gitreg.integrations.forges.base import Forge, PullRequest, call

DEFAULT_API_URL = "https://gitlab.com/api/v4"


class GitLabForge(Forge):
    """A GitLab project (``group/name``); ``api_url`` ends in ``/api/v4``."""

    kind = "gitlab"

    def __init__(self, project: str, token: str, api_url: str = DEFAULT_API_URL) -> None:
        self.project = project
        encoded = urllib.parse.quote(project, safe="")
        self.base = f"{api_url.rstrip('/')}/projects/{encoded}"
        self.headers = {"PRIVATE-TOKEN": token, "User-Agent": "gitreg"}

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        return call(method, self.base + path, self.headers, payload, what="GitLab")

    def find(self, branch: str) -> PullRequest | None:
        """The open merge request from ``branch``."""
        query = urllib.parse.urlencode({"state": "opened", "source_branch": branch})
        found = self._call("GET", f"/merge_requests?{query}") or []
        return _merge_request(found[0]) if found else None

    def open(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> PullRequest:
        """Open a merge request (labels go in the same call)."""
        payload: dict[str, Any] = {
            "source_branch": branch,
            "target_branch": base,
            "title": title,
            "description": body,
            "remove_source_branch": True,
        }
        if labels:
            payload["labels"] = ",".join(labels)
        return _merge_request(self._call("POST", "/merge_requests", payload))

    def list_open(self) -> list[PullRequest]:
        """Open merge requests from ``gitreg/...`` branches (first 100)."""
        found = self._call("GET", "/merge_requests?state=opened&per_page=100") or []
        return [
            _merge_request(m) for m in found if str(m["source_branch"]).startswith(BRANCH_PREFIX)
        ]


def _merge_request(data: Any) -> PullRequest:
    return PullRequest(
        branch=str(data["source_branch"]),
        url=str(data["web_url"]),
        number=int(data["iid"]),
        title=str(data.get("title", "")),
    )
