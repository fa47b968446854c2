"""What every forge does: find, open and list the pull requests that carry promotions.

A forge adapter is three REST calls over ``integrations.http`` (no client library), so
tests can stand a small HTTP server on 127.0.0.1 in for GitHub or GitLab.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.core.errors import ForgeError
from gitreg.core.redact import peer_text

if TYPE_CHECKING:
    from gitreg.integrations.forges.reviews import PullReviews

TIMEOUT_SECONDS = 30.0
_REMOTE_PATH = re.compile(r"^(?:[a-z+]+://[^/]+/|[^:/]+@[^:]+:|[^:/]+:)(?P<path>.+?)(?:\.git)?/?$")


@dataclasses.dataclass(frozen=True, slots=True)
class PullRequest:
    """An open request to merge a ``gitreg/...`` branch (a pull or merge request)."""

    branch: str
    url: str | None = None
    number: int | None = None
    title: str = ""
    created_at: str | None = None
    merged: bool = False
    base: str | None = None  # the branch it merges into

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``--json`` output."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class Review:
    """Where a request's review stands: pending, approved (by whom), changes requested."""

    state: str  # "pending", "approved", "changes_requested", "unknown"
    approved_by: tuple[str, ...] = ()
    changes_requested_by: tuple[str, ...] = ()
    reason: str | None = None  # why it is unknown, in a word or two ("no token"), #27

    def describe(self) -> str:
        """One phrase, e.g. ``approved by alice, bob``, ``unknown: no token``."""
        if self.state == "changes_requested":
            return f"changes requested by {', '.join(self.changes_requested_by)}"
        if self.state == "approved":
            return f"approved by {', '.join(self.approved_by)}"
        return f"{self.state}: {self.reason}" if self.reason else self.state

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return dataclasses.asdict(self)


UNKNOWN_REVIEW = Review("unknown")
MAX_THREAD = 300  # comments read from one pull request's conversation


@dataclasses.dataclass(frozen=True, slots=True)
class ThreadComment:
    """One comment in a pull request's conversation, as the forge shows it (#29)."""

    author: str
    body: str
    created_at: str | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return dataclasses.asdict(self)


def parsed(convert: Any, data: Any, what: str) -> Any:
    """``convert(data)``, or a one-line ForgeError when the forge's JSON has another shape.

    The error quotes what the forge sent only redacted (a forge may echo the token in any
    field) and bounded (#23).
    """
    try:
        return convert(data)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        shown = peer_text(str(e), (), 200)
        raise ForgeError(
            f"{what} answered JSON of an unexpected shape ({type(e).__name__}: {shown}); is "
            "registry.forge.api_url the forge's REST API?"
        ) from e


class Forge(abc.ABC):
    """A place that hosts pull requests for the registry's remote."""

    kind = "none"

    @abc.abstractmethod
    def find(self, branch: str) -> PullRequest | None:
        """The open request from ``branch``, if there is one."""

    @abc.abstractmethod
    def open(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> PullRequest:
        """Open a request to merge ``branch`` into ``base``."""

    @abc.abstractmethod
    def list_open(self) -> list[PullRequest]:
        """Every open request whose branch starts with ``gitreg/``."""

    def review(self, pull: PullRequest) -> Review:
        """Where ``pull``'s review stands (the ``none`` forge cannot tell)."""
        return UNKNOWN_REVIEW

    def close(self, pull: PullRequest) -> None:  # noqa: B027 (the none forge has nothing to do)
        """Close ``pull`` without merging it."""

    def merged_pull_for(self, commit: str) -> PullRequest | None:
        """The merged request ``commit`` came from (a squash or rebase merge), if any."""
        return None

    def thread(self, number: int) -> list[ThreadComment]:
        """The comments of request ``number``'s conversation, oldest first (none here)."""
        return []

    def pull_reviews(self, number: int) -> PullReviews:
        """Pull request ``number``: its author, head, merge time and every review (#24).

        Raises:
            ForgeError: the forge cannot be asked (the ``none`` forge never can).
        """
        raise ForgeError(f"the {self.kind} forge cannot tell who reviewed a pull request")

    def is_member(self, team: str, user: str, user_id: int | None = None) -> bool:
        """Whether ``user`` is an active member of ``team`` (``org/team``; GitLab: a group).

        Raises:
            ForgeError: the forge cannot be asked (no permission, an error, a timeout).
        """
        raise ForgeError(f"the {self.kind} forge cannot tell who is in @{team}")


def repository_from_url(url: str) -> str | None:
    """``owner/name`` (or ``group/sub/name``) from a remote URL, None for a local path."""
    if url.startswith(("/", ".", "file:")):
        return None
    match = _REMOTE_PATH.match(url)
    return match.group("path") if match else None


def host_from_url(url: str) -> str | None:
    """The host of an ``https://`` or ``git@host:`` remote URL."""
    match = re.match(r"^(?:[a-z+]+://(?:[^@/]+@)?|[^:/@]+@)?([^:/]+)[:/]", url)
    return match.group(1) if match else None


def call(
    method: str,
    url: str,
    headers: Mapping[str, str],
    payload: Mapping[str, Any] | None = None,
    what: str = "forge",
    timeout: float | None = None,
) -> Any:
    """One JSON request through ``integrations.http`` (no credential crosses origins, plain
    http only to loopback, each attempt bounded as a whole by the timeout, bounded size,
    reads retried, the token redacted from anything the forge says); any failure,
    including an answer that is not JSON, is a one-line ForgeError (see #12, #23).
    """
    from gitreg.integrations import http  # only a forge call pays for an HTTP stack (see #7)

    data = None if payload is None else json.dumps(payload).encode()
    sent = {"Accept": "application/json", **headers}
    if data is not None:
        sent["Content-Type"] = "application/json"
    try:
        response = http.request(
            method,
            url,
            headers=sent,
            body=data,
            timeout=TIMEOUT_SECONDS if timeout is None else timeout,
            # A read is safe to repeat; opening a pull request twice is not.
            retry=http.Retry(attempts=3) if method == "GET" else http.NO_RETRY,
            what=what,
        )
        return response.json(what)
    except http.HttpError as e:
        raise ForgeError(e.message) from e
