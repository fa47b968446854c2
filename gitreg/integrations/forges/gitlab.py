"""GitLab (gitlab.com or self-hosted): merge requests through the REST API v4."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

from gitreg.core.config import BRANCH_PREFIX
from gitreg.core.errors import ForgeError
from gitreg.integrations.forges import reviews
from gitreg.integrations.forges.base import (
    MAX_THREAD,
    UNKNOWN_REVIEW,
    Forge,
    PullRequest,
    Review,
    ThreadComment,
    call,
    parsed,
)
from gitreg.integrations.forges.reviews import PullReviews

DEFAULT_API_URL = "https://gitlab.com/api/v4"


class GitLabForge(Forge):
    """A GitLab project (``group/name``); ``api_url`` ends in ``/api/v4``."""

    kind = "gitlab"

    def __init__(
        self,
        project: str,
        token: str,
        api_url: str = DEFAULT_API_URL,
        timeout: float | None = None,  # None: base.TIMEOUT_SECONDS
        members_token: str | None = None,
    ) -> None:
        self.project = project
        encoded = urllib.parse.quote(project, safe="")
        self.api = api_url.rstrip("/")
        self.base = f"{self.api}/projects/{encoded}"
        self.headers = {"PRIVATE-TOKEN": token, "User-Agent": "gitreg"}
        self.members_headers = {**self.headers, "PRIVATE-TOKEN": members_token or token}
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        return call(method, self.base + path, self.headers, payload, "GitLab", self.timeout)

    def find(self, branch: str) -> PullRequest | None:
        """The open merge request from ``branch``."""
        query = urllib.parse.urlencode({"state": "opened", "source_branch": branch})
        found = self._call("GET", f"/merge_requests?{query}") or []
        return parsed(_merge_request, found[0], "GitLab") if found else None

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
        created = self._call("POST", "/merge_requests", payload)
        request: PullRequest = parsed(_merge_request, created, "GitLab")
        return request

    def list_open(self) -> list[PullRequest]:
        """Open merge requests from ``gitreg/...`` branches (every page)."""
        requests: list[PullRequest] = []
        for page in range(1, 51):
            found = self._call("GET", f"/merge_requests?state=opened&per_page=100&page={page}")
            requests += [parsed(_merge_request, m, "GitLab") for m in found or []]
            if len(found or []) < 100:
                break
        return [r for r in requests if r.branch.startswith(BRANCH_PREFIX)]

    def review(self, pull: PullRequest) -> Review:
        """Reviewers' states (approved, requested changes) and approvals."""
        if pull.number is None:
            return UNKNOWN_REVIEW
        found = self._call("GET", f"/merge_requests/{pull.number}/reviewers") or []
        latest: dict[str, str] = {}
        for entry in found if isinstance(found, list) else []:
            user = entry.get("user") or {} if isinstance(entry, dict) else {}
            latest[str(user.get("username", "?"))] = str(entry.get("state", ""))
        approvals = self._call("GET", f"/merge_requests/{pull.number}/approvals") or {}
        for approver in approvals.get("approved_by") or [] if isinstance(approvals, dict) else []:
            name = str((approver.get("user") or {}).get("username", "?"))
            latest.setdefault(name, "approved")
        return _verdict(latest)

    def close(self, pull: PullRequest) -> None:
        """Close the merge request without merging it."""
        if pull.number is not None:
            self._call("PUT", f"/merge_requests/{pull.number}", {"state_event": "close"})

    def thread(self, number: int) -> list[ThreadComment]:
        """The merge request's discussion: its notes by people, oldest first (no system notes)."""
        found = self._call("GET", f"/merge_requests/{int(number)}/notes?sort=asc&per_page=100")
        notes = [n for n in found or [] if isinstance(n, dict) and not n.get("system")]
        return [parsed(_note, n, "GitLab") for n in notes[:MAX_THREAD]]

    def merged_pull_for(self, commit: str) -> PullRequest | None:
        """The merged merge request ``commit`` belongs to (GitLab's commit -> MR lookup)."""
        quoted = urllib.parse.quote(commit)
        found = self._call("GET", f"/repository/commits/{quoted}/merge_requests") or []
        requests = [parsed(_merge_request, m, "GitLab") for m in found]
        return next((r for r in requests if r.merged), None)

    def pull_reviews(self, number: int) -> PullReviews:
        """The merge request, its approvals, reviewers and diff versions (#24)."""
        request = self._call("GET", f"/merge_requests/{number}")
        approvals = self._call("GET", f"/merge_requests/{number}/approvals") or {}
        reviewers = self._call("GET", f"/merge_requests/{number}/reviewers") or []
        versions = self._pages(f"/merge_requests/{number}/versions")
        answer: PullReviews = parsed(
            lambda r: reviews.gitlab(r, approvals, reviewers, versions), request, "GitLab"
        )
        return answer

    def _pages(self, path: str) -> list[Any]:
        def page(number: int) -> Any:
            return self._call("GET", f"{path}?per_page={reviews.PER_PAGE}&page={number}")

        return reviews.all_pages(page, "GitLab")

    def is_member(self, team: str, user: str, user_id: int | None = None) -> bool:
        """Group membership, inherited included (``GET /groups/:id/members/all/:user_id``).

        A 404 means not a member; a user without an id cannot be asked (not a member).
        """
        if user_id is None:
            return False
        group = urllib.parse.quote(team, safe="")
        url = f"{self.api}/groups/{group}/members/all/{int(user_id)}"
        try:
            answer = call("GET", url, self.members_headers, None, "GitLab", self.timeout)
        except ForgeError as e:
            if reviews.status_of(e) == 404:
                return False
            raise
        return isinstance(answer, dict) and answer.get("state", "active") == "active"


def _note(data: Any) -> ThreadComment:
    return ThreadComment(
        author=str((data.get("author") or {}).get("username") or "?"),
        body=str(data.get("body") or ""),
        created_at=data.get("created_at"),
    )


def _merge_request(data: Any) -> PullRequest:
    return PullRequest(
        branch=str(data["source_branch"]),
        url=str(data["web_url"]),
        number=int(data["iid"]),
        title=str(data.get("title", "")),
        created_at=data.get("created_at"),
        merged=data.get("state") == "merged",
        base=str(data.get("target_branch") or "") or None,
    )


def _verdict(latest: dict[str, str]) -> Review:
    wanted = tuple(sorted(u for u, s in latest.items() if s == "requested_changes"))
    if wanted:
        return Review("changes_requested", changes_requested_by=wanted)
    approvers = tuple(sorted(u for u, s in latest.items() if s == "approved"))
    if approvers:
        return Review("approved", approved_by=approvers)
    return Review("pending")
