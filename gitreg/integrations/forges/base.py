"""What every forge does: find, open and list the pull requests that carry promotions.

A forge adapter is three REST calls over ``urllib`` (no client library), so tests can stand
a small HTTP server on 127.0.0.1 in for GitHub or GitLab.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gitreg.core.errors import ForgeError

if TYPE_CHECKING:
    import urllib.error

TIMEOUT_SECONDS = 30.0
_REMOTE_PATH = re.compile(r"^(?:[a-z+]+://[^/]+/|[^:/]+@[^:]+:|[^:/]+:)(?P<path>.+?)(?:\.git)?/?$")


@dataclasses.dataclass(frozen=True, slots=True)
class PullRequest:
    """An open request to merge a ``gitreg/...`` branch (a pull or merge request)."""

    branch: str
    url: str | None = None
    number: int | None = None
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``--json`` output."""
        return dataclasses.asdict(self)


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
) -> Any:
    """One JSON request; an HTTP or network failure becomes a one-line ForgeError."""
    import urllib.error  # only a forge call pays for an HTTP stack (see #7)
    import urllib.request

    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method)
    for key, value in {"Accept": "application/json", **headers}.items():
        request.add_header(key, value)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body = response.read()
    except urllib.error.HTTPError as e:
        raise ForgeError(f"{what} answered {e.code} to {method} {url}: {_message(e)}") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ForgeError(f"cannot reach {what} at {url}: {reason}") from e
    return json.loads(body) if body.strip() else None


def _message(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read() or b"{}")
    except ValueError:
        return str(error.reason)
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or error.reason)
    return str(error.reason)
