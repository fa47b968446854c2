"""A pull request's reviews as a forge reports them: who opened it, its head, each review (#24).

GitHub and GitLab describe reviews differently; ``PullReviews`` is what both say in one
shape, for the gate and the audit to judge (``gate.approvals``): the pull request's author,
its head commit, when it merged, the accounts its commits are attributed to, and every
review oldest first with the commit it reviewed (None when the forge cannot tell).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from gitreg.core.errors import ForgeError

APPROVED = "APPROVED"
CHANGES_REQUESTED = "CHANGES_REQUESTED"
DISMISSED = "DISMISSED"
COMMENTED = "COMMENTED"
PER_PAGE = 100
MAX_PAGES = 50
# GitHub's account for commits made in its web interface (the merge of "Update branch"):
# no person, so never "the author".
WEB_FLOW = "web-flow"


@dataclasses.dataclass(frozen=True, slots=True)
class Reviewed:
    """One review: who, the verdict (GitHub's words), the commit it was given on, when."""

    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, DISMISSED, COMMENTED, PENDING
    commit: str | None = None  # None: the forge does not say which commit
    submitted_at: str | None = None
    user_id: int | None = None  # GitLab asks group membership by id


@dataclasses.dataclass(frozen=True, slots=True)
class PullReviews:
    """A pull (merge) request and its reviews, oldest first."""

    number: int
    author: str
    head: str
    state: str  # open, closed, merged
    merged_at: str | None = None
    reviews: tuple[Reviewed, ...] = ()
    contributors: tuple[str, ...] = ()  # accounts its commits are attributed to (GitHub)
    url: str | None = None
    forge: str = "github"

    @property
    def merged(self) -> bool:
        """True once the request was merged."""
        return self.state == "merged"


def status_of(error: ForgeError) -> int | None:
    """The HTTP status a forge answered with, when the error came from one."""
    return getattr(error.__cause__, "status", None)


def all_pages(fetch: Callable[[int], Any], what: str) -> list[Any]:
    """Every item of a paginated list: pages of ``PER_PAGE`` until a short one.

    Raises:
        ForgeError: a page is not a list, or there are more than ``MAX_PAGES`` pages
            (a partial list is never judged).
    """
    items: list[Any] = []
    for page in range(1, MAX_PAGES + 1):
        found = fetch(page)
        if not isinstance(found, list):
            raise ForgeError(f"{what} answered a page that is not a list; is the API URL right?")
        items += found
        if len(found) < PER_PAGE:
            return items
    raise ForgeError(
        f"{what} listed more than {MAX_PAGES * PER_PAGE} items; gitreg does not judge a "
        "partial list"
    )


def github(pull: Mapping[str, Any], reviews: list[Any], commits: list[Any]) -> PullReviews:
    """``PullReviews`` from GitHub's pull request, reviews and commits (REST v3 shapes)."""
    state = "merged" if pull.get("merged_at") else str(pull["state"])
    found = tuple(
        Reviewed(
            str(r["user"]["login"]),
            str(r["state"]),
            str(r["commit_id"]) if r.get("commit_id") else None,
            r.get("submitted_at"),
        )
        for r in reviews
        if r.get("user")  # a review by a deleted account ("ghost") has no user
    )
    people = {
        str(person["login"])
        for c in commits
        for person in (c.get("author"), c.get("committer"))
        if isinstance(person, Mapping) and person.get("login")
    }
    people.discard(WEB_FLOW)
    return PullReviews(
        int(pull["number"]),
        str(pull["user"]["login"]),
        str(pull["head"]["sha"]),
        state,
        pull.get("merged_at"),
        found,
        tuple(sorted(people, key=str.casefold)),
        pull.get("html_url"),
        "github",
    )


def gitlab(
    request: Mapping[str, Any],
    approvals: Mapping[str, Any],
    reviewers: list[Any],
    versions: list[Any],
) -> PullReviews:
    """``PullReviews`` from GitLab's merge request, approvals, reviewers and diff versions.

    GitLab keeps approvals as a current state, not reviews of commits: an approval is of the
    head when the merge request has had one version (one push) only, or when it was given
    after the newest version was pushed (``approved_at``); otherwise its commit is unknown.
    A reviewer whose state is "requested changes" has withdrawn any approval.
    """
    head = str(request["sha"])
    newest = max(versions, key=lambda v: int(v["id"])) if versions else None
    pushed = newest.get("created_at") if newest and newest.get("head_commit_sha") == head else None
    single = len(versions) == 1 and pushed is not None
    found: list[Reviewed] = []
    for entry in approvals.get("approved_by") or []:
        user = entry["user"]
        at = entry.get("approved_at")
        after = at is not None and pushed is not None and iso_utc(at) >= iso_utc(pushed)
        on_head = single or after
        found.append(
            Reviewed(str(user["username"]), APPROVED, head if on_head else None, at, user.get("id"))
        )
    for entry in reviewers:
        if entry.get("state") == "requested_changes":
            user = entry["user"]
            found.append(
                Reviewed(str(user["username"]), CHANGES_REQUESTED, None, None, user.get("id"))
            )
    state = {"opened": "open"}.get(str(request["state"]), str(request["state"]))
    return PullReviews(
        int(request["iid"]),
        str(request["author"]["username"]),
        head,
        state,
        request.get("merged_at"),
        tuple(found),
        (),
        request.get("web_url"),
        "gitlab",
    )


def iso_utc(text: str) -> str:
    """An ISO time comparable as text: UTC ``Z`` form, milliseconds padded."""
    import datetime as dt

    moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
