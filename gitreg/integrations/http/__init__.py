"""The one HTTP client of the integrations: forges and event delivery speak through it.

Standard library only (``http.client``), so a test can stand a server on 127.0.0.1 in for
GitHub, Slack or a CI system. What it guarantees (issues 12, 13 and 23):

- credentials never cross origins: a redirect to another scheme, host or port is refused
  (a same-origin redirect is followed, at most five times), and no proxy or environment
  ever adds a header of its own;
- a plain ``http://`` URL is refused unless its host is loopback, because every request
  carries a credential (a token, a signature, or a URL that is itself the secret); a URL
  with a space or a control character anywhere is refused before anything is sent;
- with address ``rules`` (delivery), the host is resolved once, every address is checked
  (``core.address``: never link-local or metadata, private or loopback only when allowed)
  and the connection goes to the checked address (``_connect``);
- every attempt has a deadline that bounds all of it: lookup, connection, TLS, sending,
  headers and body; a peer that drips its answer is cut off when the deadline passes;
- an answer larger than ``max_bytes`` is refused rather than read into memory;
- connection errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter,
  honouring ``Retry-After`` up to a bound per wait and a budget for all waits together;
  any other 4xx is final at once; ``sign`` makes each attempt's headers afresh (a new
  timestamp and signature per attempt);
- whatever a peer says is shown redacted (every secret sent in that request, in the
  spellings an echo would use), on one printable line, and bounded (``core.redact``).

Failures are ``HttpError`` (a GitregError): one line that names the method, the URL's
origin (or the label of a secret URL) and what happened, never a header value.
"""

from __future__ import annotations

import dataclasses
import http.client
import ipaddress
import json
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitreg.core import redact as redaction
from gitreg.core.address import HostProblem, HostRules, normalize_host
from gitreg.core.errors import GitregError
from gitreg.integrations.http import _connect, _retry
from gitreg.integrations.http._retry import NO_RETRY as NO_RETRY
from gitreg.integrations.http._retry import Retry as Retry

# For the SMTP client (notify.mail), which bounds and pins its connections the same way.
AddressRefused = _connect.AddressRefused
Deadline = _connect.Deadline
open_checked = _connect.open_checked
tls_context = _connect.tls_context

MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


class HttpError(GitregError):
    """An HTTP request failed for good (after its retries, if it could be retried)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """A final answer (2xx, or a 4xx/5xx when ``raise_for_status`` is off)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int = 1
    secrets: tuple[str, ...] = dataclasses.field(default=(), repr=False)

    def text(self, limit: int = redaction.PEER_TEXT_LIMIT) -> str:
        """The body as one printable line, secrets sent redacted, cut at ``limit``."""
        return redaction.peer_text(self.body, self.secrets, limit)

    def json(self, what: str = "the server") -> Any:
        """The body parsed as JSON (None when empty); anything else is one HttpError line."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as e:
            kind = redaction.peer_text(self.headers.get("content-type", ""), self.secrets, 100)
            raise HttpError(
                f"{what} answered {self.status} with a body that is not JSON "
                f"({kind or 'no content type'}, {len(self.body)} bytes); check the API URL",
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


def bad_character(text: str) -> str | None:
    """The first space or control character in ``text``, described; None if there is none."""
    names = {" ": "a space", "\t": "a tab", "\n": "a newline", "\r": "a carriage return"}
    for char in text:
        if char.isspace() or not char.isprintable():
            return f"{names.get(char, 'a control character')} (U+{ord(char):04X})"
    return None


def check_url(
    url: str, what: str = "URL", label: str | None = None, rules: HostRules | None = None
) -> None:
    """Refuse anything but a clean ``https://`` URL, or ``http://`` to a loopback host.

    ``label`` names a URL that is itself a secret (``$SLACK_URL``): it is shown instead of
    any part of the URL. With ``rules``, a host written as a refused address is refused.

    Raises:
        HttpError: naming the URL's origin (never its path or query, which may be secret).
    """
    bad = bad_character(url)
    shown = label or (redact(url) if bad is None else "(not shown)")
    if bad:
        raise HttpError(
            f"{what}: the URL {shown} contains {bad}; a URL has no spaces or control "
            "characters (percent-encode them, or fix the value)"
        )
    try:
        parts = urllib.parse.urlsplit(url)
        scheme, host, _ = origin(url)
    except ValueError as e:
        raise HttpError(f"{what}: the URL {shown} is not a valid URL ({e})") from e
    if scheme not in ("http", "https") or not host:
        raise HttpError(f"{what}: the URL {shown} is not an http(s) URL with a host")
    if "@" in parts.netloc:
        raise HttpError(f"{what}: the URL {shown} carries credentials before its host; remove them")
    if scheme == "http" and not is_loopback(host):
        raise HttpError(
            f"{what}: the URL {shown} is plain http: credentials would travel unencrypted; "
            "use https (plain http is allowed only to localhost)"
        )
    try:
        normalize_host(parts.hostname or "")
    except HostProblem as e:
        raise HttpError(f"{what}: the URL {shown} {e}") from e
    problem = rules.check_name(parts.hostname or "") if rules is not None else None
    if problem:
        raise HttpError(f"{what}: the URL {shown} {problem}")


def check_resolved(url: str, rules: HostRules, timeout: float = 5.0) -> str | None:
    """Why an address ``url``'s host resolves to now is refused; None if none is.

    For checks when a destination is written (MLflow's webhook API): a host that does not
    resolve now is not refused here, because delivery resolves and checks it again.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = normalize_host(parts.hostname or "")
        port = origin(url)[2]
    except (ValueError, HostProblem):
        return None  # check_url says what is wrong with it
    with _connect.Deadline(timeout) as deadline:
        try:
            _connect.check(host, _connect.resolve(host, port, deadline), rules)
        except _connect.AddressRefused as e:
            return str(e)
        except (OSError, TimeoutError):
            return None
    return None


def redact(url: str) -> str:
    """``scheme://host[:port]/…``: a URL safe to print (Slack's path is a secret)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "(not a URL)"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    tail = "/…" if parts.path.strip("/") or parts.query else ""
    if not parts.scheme or bad_character(host):
        return "(not a URL)"
    return f"{parts.scheme}://{host}{port}{tail}"


@dataclasses.dataclass(slots=True)
class _Call:
    """One request's fixed parts, and the secrets any of its attempts sent."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float
    max_bytes: int
    what: str
    label: str
    rules: HostRules | None
    sign: Callable[[], Mapping[str, str]] | None
    secrets: list[str]

    def headers_now(self) -> dict[str, str]:
        """The headers of the attempt about to be sent (signed afresh when ``sign`` is set).

        A signature is redacted from what the peer answers to it, but not remembered for
        the crash log: it signs one message at one moment and opens nothing else.
        """
        signed = dict(self.sign()) if self.sign else {}
        found = redaction.header_secrets(signed.items())
        self.secrets += [s for s in found if s not in self.secrets]
        return {**self.headers, **signed}


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
    rules: HostRules | None = None,
    secrets: Sequence[str] = (),
    sign: Callable[[], Mapping[str, str]] | None = None,
    label: str | None = None,
) -> Response:
    """Send one request (retried per ``retry``) and return the final answer.

    ``rules`` checks every address the host resolves to (delivery); ``secrets`` are
    redacted from anything a peer says (credential headers always are); ``sign`` adds
    headers made afresh for each attempt; ``label`` names a secret URL in messages.

    Raises:
        HttpError: the URL is refused, the retries ran out, or the answer is final and
            not 2xx (unless ``raise_for_status`` is False).
    """
    sent = redaction.header_secrets((headers or {}).items())
    redaction.remember(*secrets, *sent)
    check_url(url, what, label, rules)
    call = _Call(
        method, url, dict(headers or {}), body, timeout, max_bytes, what,
        label or redact(url), rules, sign, [*secrets, *sent],
    )  # fmt: skip
    attempt, waited = 0, 0.0
    while True:
        attempt += 1
        try:
            response = _follow(call)
        except _Transient as e:
            wait, why = _retry.budget(retry, attempt, waited, retry.delay(attempt))
            if wait is None:
                raise HttpError(f"{e} (tried {attempt} times{why})", attempts=attempt) from e
            sleep(wait)
            waited += wait
            continue
        response = dataclasses.replace(response, attempts=attempt, secrets=tuple(call.secrets))
        wait, why = _retry.retry_wait(response.status, response.headers, retry, attempt, waited)
        if wait is None:
            break
        sleep(wait)
        waited += wait
    if raise_for_status and not 200 <= response.status < 300:
        tries = f" (tried {attempt} times{why})" if attempt > 1 or why else ""
        raise HttpError(
            f"{what} answered {response.status} to {method} {call.label}: "
            f"{_reason(response)}{tries}",
            status=response.status,
            attempts=attempt,
        )
    return response


class _Transient(Exception):
    """A failure worth another try: no connection, a reset, a timeout."""


def _follow(call: _Call) -> Response:
    """One attempt, within one deadline: send, and follow same-origin redirects."""
    method, url, body, headers = call.method, call.url, call.body, call.headers
    start = origin(url)
    with _connect.Deadline(call.timeout) as deadline:
        for _ in range(MAX_REDIRECTS + 1):
            response = _once(call, method, url, body, headers, deadline)
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or not location:
                return response
            target = urllib.parse.urljoin(url, location)
            if bad_character(target) or origin(target) != start:
                raise HttpError(
                    f"{call.what} redirected {method} {call.label} to another origin "
                    f"({redact(target)}); refused, so that no credential leaves it",
                    status=response.status,
                )
            if response.status in (301, 302, 303) and method not in ("GET", "HEAD"):
                method, body = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            url = target
    raise HttpError(f"{call.what} redirected {method} {call.label} more than {MAX_REDIRECTS} times")


def _target(parts: urllib.parse.SplitResult) -> str:
    """The request target: path and query, anything outside ASCII percent-encoded."""
    path = urllib.parse.quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = urllib.parse.quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    return path + (f"?{query}" if parts.query else "")


def _once(
    call: _Call,
    method: str,
    url: str,
    body: bytes | None,
    headers: Mapping[str, str],
    deadline: _connect.Deadline,
) -> Response:
    parts = urllib.parse.urlsplit(url)
    scheme, _, port = origin(url)
    host = normalize_host(parts.hostname or "")
    sent = {**headers, **call.headers_now(), "Connection": "close"}
    wanted = (method, _target(parts), sent, body)
    late = f"{call.what} did not answer {method} {call.label} within {call.timeout:g}s"
    try:
        answer = _connect.exchange(scheme, host, port, wanted, deadline, call.rules, call.max_bytes)
    except _connect.AddressRefused as e:
        raise HttpError(f"{call.what}: the URL {call.label} {e}") from e
    except _connect.TooLarge as e:
        raise HttpError(
            f"{call.what} answered with more than {call.max_bytes} bytes; refused "
            "(is the URL right?)"
        ) from e
    except TimeoutError as e:
        raise _Transient(late) from e
    except (OSError, http.client.HTTPException, ValueError) as e:
        reason = redaction.peer_text(str(e) or type(e).__name__, call.secrets, 200)
        raise _Transient(f"cannot reach {call.what} at {call.label}: {reason}") from e
    return Response(answer.status, answer.headers, answer.body, secrets=tuple(call.secrets))


def _reason(response: Response) -> str:
    """The message a JSON error body carries (GitHub's ``message``), else the status text."""
    try:
        data = json.loads(response.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        for key in ("message", "error", "error_description"):
            if isinstance(data.get(key), str):
                return redaction.peer_text(data[key], response.secrets, 300)
    text = response.text(300)
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
