"""GitHub (and GitHub Enterprise): pull requests through the REST API."""

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

DEFAULT_API_URL = "https://api.github.com"


class GitHubForge(Forge):
    """``owner/name`` on GitHub; ``api_url`` points at GitHub Enterprise's ``/api/v3``."""

    kind = "github"

    def __init__(
        self,
        repository: str,
        token: str,
        api_url: str = DEFAULT_API_URL,
        timeout: float | None = None,  # None: base.TIMEOUT_SECONDS
        members_token: str | None = None,
    ) -> None:
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self.api = api_url.rstrip("/")
        self.base = f"{self.api}/repos/{repository}"
        self.timeout = timeout
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "gitreg",
        }
        # Team membership may need a token that reads the organization (#24).
        self.members_headers = {**self.headers}
        if members_token:
            self.members_headers["Authorization"] = f"Bearer {members_token}"

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        return call(method, self.base + path, self.headers, payload, "GitHub", self.timeout)

    def find(self, branch: str) -> PullRequest | None:
        """The open pull request whose head is ``branch``."""
        query = urllib.parse.urlencode({"state": "open", "head": f"{self.owner}:{branch}"})
        found = self._call("GET", f"/pulls?{query}") or []
        return parsed(_pull, found[0], "GitHub") if found else None

    def open(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> PullRequest:
        """Open a pull request, then label it (labels are an issue API on GitHub)."""
        payload = {"title": title, "head": branch, "base": base, "body": body}
        pull: PullRequest = parsed(_pull, self._call("POST", "/pulls", payload), "GitHub")
        if labels and pull.number is not None:
            self._call("POST", f"/issues/{pull.number}/labels", {"labels": list(labels)})
        return pull

    def list_open(self) -> list[PullRequest]:
        """Open pull requests from ``gitreg/...`` branches (every page)."""
        pulls: list[PullRequest] = []
        for page in range(1, 51):
            found = self._call("GET", f"/pulls?state=open&per_page=100&page={page}") or []
            pulls += [parsed(_pull, p, "GitHub") for p in found]
            if len(found) < 100:
                break
        return [p for p in pulls if p.branch.startswith(BRANCH_PREFIX)]

    def review(self, pull: PullRequest) -> Review:
        """Each reviewer's latest verdict (GitHub's reviews API)."""
        if pull.number is None:
            return UNKNOWN_REVIEW
        found = self._pages(f"/pulls/{pull.number}/reviews")
        latest: dict[str, str] = {}
        for review in found:
            user = review.get("user") or {} if isinstance(review, dict) else {}
            state = str(review.get("state", "")) if isinstance(review, dict) else ""
            if state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
                latest[str(user.get("login", "?"))] = state
        return _verdict(latest, "APPROVED", "CHANGES_REQUESTED")

    def close(self, pull: PullRequest) -> None:
        """Close the pull request without merging it."""
        if pull.number is not None:
            self._call("PATCH", f"/pulls/{pull.number}", {"state": "closed"})

    def thread(self, number: int) -> list[ThreadComment]:
        """The pull request's conversation (GitHub keeps it as the issue's comments)."""
        found = self._call("GET", f"/issues/{int(number)}/comments?per_page=100") or []
        return [parsed(_comment, c, "GitHub") for c in found[:MAX_THREAD]]

    def merged_pull_for(self, commit: str) -> PullRequest | None:
        """The merged pull request that produced ``commit`` (GitHub associates them)."""
        found = self._call("GET", f"/commits/{urllib.parse.quote(commit)}/pulls") or []
        pulls = [parsed(_pull, p, "GitHub") for p in found]
        return next((p for p in pulls if p.merged), None)

    def pull_reviews(self, number: int) -> PullReviews:
        """The pull request, every page of its reviews and its commits (#24)."""
        pull = self._call("GET", f"/pulls/{number}")
        found = self._pages(f"/pulls/{number}/reviews")
        commits = self._pages(f"/pulls/{number}/commits")
        answer: PullReviews = parsed(lambda p: reviews.github(p, found, commits), pull, "GitHub")
        return answer

    def _pages(self, path: str) -> list[Any]:
        def page(number: int) -> Any:
            return self._call("GET", f"{path}?per_page={reviews.PER_PAGE}&page={number}")

        return reviews.all_pages(page, "GitHub")

    def is_member(self, team: str, user: str, user_id: int | None = None) -> bool:
        """Team membership (``GET /orgs/{org}/teams/{team}/memberships/{user}``): active only.

        A 404 means not a member; 401, 403 (the token may not read the organization's
        teams) and failures raise.
        """
        org, _, slug = team.partition("/")
        parts = [urllib.parse.quote(p, safe="") for p in (org, slug, user)]
        url = f"{self.api}/orgs/{parts[0]}/teams/{parts[1]}/memberships/{parts[2]}"
        try:
            answer = call("GET", url, self.members_headers, None, "GitHub", self.timeout)
        except ForgeError as e:
            if reviews.status_of(e) == 404:
                return False
            raise
        return isinstance(answer, dict) and answer.get("state") == "active"


def _comment(data: Any) -> ThreadComment:
    return ThreadComment(
        author=str((data.get("user") or {}).get("login") or "?"),
        body=str(data.get("body") or ""),
        created_at=data.get("created_at"),
        url=data.get("html_url"),
    )


def _pull(data: Any) -> PullRequest:
    return PullRequest(
        branch=str(data["head"]["ref"]),
        url=str(data["html_url"]),
        number=int(data["number"]),
        title=str(data.get("title", "")),
        created_at=data.get("created_at"),
        merged=bool(data.get("merged_at")),
        base=str((data.get("base") or {}).get("ref") or "") or None,
    )


def _verdict(latest: dict[str, str], approved: str, changes: str) -> Review:
    wanted = tuple(sorted(u for u, s in latest.items() if s == changes))
    if wanted:
        return Review("changes_requested", changes_requested_by=wanted)
    approvers = tuple(sorted(u for u, s in latest.items() if s == approved))
    if approvers:
        return Review("approved", approved_by=approvers)
    return Review("pending")
