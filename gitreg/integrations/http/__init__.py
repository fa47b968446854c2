"""The one HTTP client of the integrations: forges and event delivery speak through it.

Standard library only (``http.client`` via ``urllib``), so a test can stand a server on
127.0.0.1 in for GitHub, Slack or a CI system. What it guarantees (issues 12 and 13):

- credentials never cross origins: a redirect to another scheme, host or port is refused
  (a same-origin redirect is followed, at most five times), and no proxy or environment
  ever adds a header of its own;
- a plain ``http://`` URL is refused unless its host is loopback, because every request
  carries a credential (a token, a signature, or a URL that is itself the secret);
- every request has a timeout, and the whole answer must arrive within it;
- an answer larger than ``max_bytes`` is refused rather than read into memory;
- connection errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter,
  honouring ``Retry-After`` up to a bound; any other 4xx is final at once.

Failures are ``HttpError`` (a GitregError): one line that names the method, the URL's
origin and what happened, never a header value.
"""

from __future__ import annotations

import dataclasses
import email.utils
import ipaddress
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from gitreg.core.errors import GitregError

MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


class HttpError(GitregError):
    """An HTTP request failed for good (after its retries, if it could be retried)."""

    def __init__(
        self, message: str, *, status: int | None = None, body: bytes = b"", attempts: int = 1
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.attempts = attempts


@dataclasses.dataclass(frozen=True, slots=True)
class Retry:
    """How often and how patiently to try again: ``attempts`` counts the first try."""

    attempts: int = 5
    backoff: float = 0.5  # seconds before the first retry; doubles each time
    max_backoff: float = 30.0
    max_retry_after: float = 120.0  # a longer Retry-After ends the retries

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): half fixed, half jitter."""
        ceiling: float = min(self.max_backoff, self.backoff * 2.0 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


NO_RETRY = Retry(attempts=1)


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """A final answer (2xx, or a 4xx/5xx when ``raise_for_status`` is off)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int = 1

    def text(self, limit: int = 2000) -> str:
        """The body as text, cut at ``limit`` characters."""
        return self.body[:limit].decode("utf-8", errors="replace")

    def json(self, what: str = "the server") -> Any:
        """The body parsed as JSON (None when empty); anything else is one HttpError line."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as e:
            kind = self.headers.get("content-type", "no content type")
            raise HttpError(
                f"{what} answered {self.status} with a body that is not JSON ({kind}, "
                f"{len(self.body)} bytes); check the API URL",
                status=self.status,
            ) from e


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``: what must stay the same for credentials to go along."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as e:
        raise HttpError(f"invalid port in URL {redact(url)}") from e
    default = 443 if scheme == "https" else 80
    return scheme, (parts.hostname or "").lower(), port or default


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str = "URL") -> None:
    """Refuse anything but ``https://``, or ``http://`` to a loopback host.

    Raises:
        HttpError: naming the URL's origin (never its path or query, which may be secret).
    """
    scheme, host, _ = origin(url)
    if scheme not in ("http", "https") or not host:
        raise HttpError(f"{what} {redact(url)} is not an http(s) URL with a host")
    if scheme == "http" and not is_loopback(host):
        raise HttpError(
            f"{what} {redact(url)} is plain http: credentials would travel unencrypted; "
            "use https (plain http is allowed only to localhost)"
        )


def redact(url: str) -> str:
    """``scheme://host[:port]/…``: a URL safe to print (Slack's path is a secret)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    tail = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{tail}" if parts.scheme else "(not a URL)"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand every 3xx back to ``request``, which decides whether the origin allows it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener() -> urllib.request.OpenerDirector:
    # No ProxyHandler from the environment: a proxy would see (and could redirect) the
    # credentials, and the loopback test servers must be reached directly.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30.0,
    retry: Retry = NO_RETRY,
    max_bytes: int = MAX_BYTES,
    what: str = "the server",
    raise_for_status: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Response:
    """Send one request (retried per ``retry``) and return the final answer.

    Raises:
        HttpError: the URL is refused, the retries ran out, or the answer is final and
            not 2xx (unless ``raise_for_status`` is False).
    """
    check_url(url, "URL")
    attempt = 0
    while True:
        attempt += 1
        try:
            response = _follow(method, url, dict(headers or {}), body, timeout, max_bytes, what)
        except _Transient as e:
            if attempt >= retry.attempts:
                raise HttpError(f"{e} (tried {attempt} times)", attempts=attempt) from e
            sleep(retry.delay(attempt))
            continue
        response = dataclasses.replace(response, attempts=attempt)
        wait = _retry_wait(response, retry, attempt)
        if wait is None:
            break
        sleep(wait)
    if raise_for_status and not 200 <= response.status < 300:
        raise HttpError(
            f"{what} answered {response.status} to {method} {redact(url)}: "
            f"{_reason(response)}" + (f" (tried {attempt} times)" if attempt > 1 else ""),
            status=response.status,
            body=response.body,
            attempts=attempt,
        )
    return response


class _Transient(Exception):
    """A failure worth another try: no connection, a reset, a timeout."""


def _retry_wait(response: Response, retry: Retry, attempt: int) -> float | None:
    """Seconds to wait before trying again, or None when this answer is final."""
    if response.status != 429 and not 500 <= response.status < 600:
        return None
    if attempt >= retry.attempts:
        return None
    after = _retry_after(response.headers.get("retry-after"))
    if after is None:
        return retry.delay(attempt)
    return None if after > retry.max_retry_after else after


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _follow(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    timeout: float,
    max_bytes: int,
    what: str,
) -> Response:
    """One try: send, and follow same-origin redirects (never another origin)."""
    start = origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        response = _once(method, url, headers, body, timeout, max_bytes, what)
        location = response.headers.get("location")
        if response.status not in _REDIRECTS or not location:
            return response
        target = urllib.parse.urljoin(url, location)
        if origin(target) != start:
            raise HttpError(
                f"{what} redirected {method} {redact(url)} to another origin "
                f"({redact(target)}); refused, so that no credential leaves {redact(url)}",
                status=response.status,
            )
        if response.status in (301, 302, 303) and method not in ("GET", "HEAD"):
            method, body = "GET", None
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        url = target
    raise HttpError(f"{what} redirected {method} {redact(url)} more than {MAX_REDIRECTS} times")


def _once(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
    max_bytes: int,
    what: str,
) -> Response:
    req = urllib.request.Request(url, data=body, method=method)
    for key, value in headers.items():
        req.add_header(key, value)
    deadline = time.monotonic() + timeout
    try:
        try:
            answer = _opener().open(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            answer = e  # an HTTPError is also the response: status, headers and body
        with answer:
            data = _read(answer, max_bytes, deadline, what)
            status = int(getattr(answer, "status", None) or answer.code)
            answer_headers = {k.lower(): v for k, v in answer.headers.items()}
    except HttpError:
        raise
    except TimeoutError as e:
        raise _Transient(f"{what} did not answer {method} {redact(url)} within {timeout:g}s") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, TimeoutError):
            raise _Transient(
                f"{what} did not answer {method} {redact(url)} within {timeout:g}s"
            ) from e
        raise _Transient(f"cannot reach {what} at {redact(url)}: {reason}") from e
    return Response(status, answer_headers, data)


def _read(answer: Any, max_bytes: int, deadline: float, what: str) -> bytes:
    """The body, in chunks, within ``max_bytes`` and before ``deadline``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} sent its answer too slowly")
        chunk = answer.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise HttpError(
                f"{what} answered with more than {max_bytes} bytes; refused (is the URL right?)"
            )
        chunks.append(chunk)


def _reason(response: Response) -> str:
    """The message a JSON error body carries (GitHub's ``message``), else the status text."""
    try:
        data = json.loads(response.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        for key in ("message", "error", "error_description"):
            if isinstance(data.get(key), str):
                return " ".join(data[key].split())[:300]
    text = " ".join(response.text(300).split())
    return text if text and "<" not in text else _STATUS_TEXT.get(response.status, "error")


_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
