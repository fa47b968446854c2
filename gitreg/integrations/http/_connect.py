"""One HTTP exchange, bounded by a deadline, to an address that was checked (issue 23).

``Deadline`` bounds a whole attempt: the lookup, the connection, TLS, sending, the status
line, the headers and the body. A socket timeout alone bounds only each read, so a peer
that drips a byte a second would hold a delivery for ever; the deadline's timer shuts the
attempt's sockets down when it passes, whatever they are waiting for.

``exchange`` resolves the host once, checks every address it resolves to against the
rules (``core.address``), and connects to a checked address; TLS still verifies the
certificate against the host name. No second lookup happens, so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot move the request elsewhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from gitreg.core.address import HostRules

Address = tuple[int, Any]  # (socket family, sockaddr)


class AddressRefused(Exception):
    """The destination resolves to an address the rules refuse (final, never retried)."""


class TooLarge(Exception):
    """The answer is larger than allowed."""


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """What came back: status, headers (lower-case names), body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Deadline:
    """The end of one attempt; when it passes, every socket it watches is shut down."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def left(self) -> float:
        """Seconds until the deadline (0 once it has passed)."""
        return max(0.0, self._end - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it has)."""
        with self._lock:
            if self.expired:
                _shut(sock)
            else:
                self._sockets.append(sock)

    def check(self) -> None:
        """Raise TimeoutError if the deadline has passed."""
        if self.expired or self.left() <= 0:
            raise TimeoutError("the deadline passed")

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The base class's shutdown, so that a TLS socket is cut at the TCP level too (an
    # SSLSocket's own shutdown would first try to unwrap, from another thread).
    with contextlib.suppress(OSError):  # not connected yet, or closed: nothing waits on it
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def resolve(host: str, port: int, deadline: Deadline) -> list[Address]:
    """Every address ``host`` resolves to, looked up once, within the deadline."""
    numeric = _is_numeric(host)
    result: dict[str, Any] = {}

    def lookup() -> None:
        try:
            flags = socket.AI_NUMERICHOST if numeric else 0
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=flags)
        except (OSError, UnicodeError) as e:
            result["error"] = e

    if numeric:
        lookup()
    else:  # getaddrinfo cannot be interrupted: it runs aside, and the deadline waits for it
        worker = threading.Thread(target=lookup, daemon=True, name="gitreg-resolve")
        worker.start()
        worker.join(deadline.left())
        if worker.is_alive():
            raise TimeoutError(f"looking up {host} took too long")
    if "error" in result:
        raise OSError(f"cannot resolve {host}: {result['error']}")
    return [(family, sockaddr) for family, _, _, _, sockaddr in result["infos"]]


def _is_numeric(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check(host: str, addresses: list[Address], rules: HostRules | None) -> None:
    """Refuse the destination if any address it resolves to is refused (as MLflow does)."""
    if rules is None:
        return
    for _, sockaddr in addresses:
        problem = rules.check_address(host, ipaddress.ip_address(sockaddr[0]))
        if problem:
            raise AddressRefused(problem)


def open_socket(addresses: list[Address], deadline: Deadline) -> socket.socket:
    """A socket connected to the first reachable address of the checked ones."""
    last: OSError = OSError("no address to connect to")
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        deadline.watch(sock)
        sock.settimeout(max(deadline.left(), 0.001))
        try:
            sock.connect(sockaddr)
        except OSError as e:
            sock.close()
            deadline.check()
            last = e
            continue
        return sock
    raise last


def open_checked(
    host: str, port: int, deadline: Deadline, rules: HostRules | None
) -> socket.socket:
    """Resolve ``host`` once, check every address, connect to a checked one."""
    addresses = resolve(host, port, deadline)
    check(host, addresses, rules)
    return open_socket(addresses, deadline)


class _WatchedContext(ssl.SSLContext):
    """Verifies as ``ssl.create_default_context()``; the deadline can cut the handshake.

    Wrapping detaches the plain socket object, so the TLS socket is watched instead, and
    the handshake runs only once it is.
    """

    deadline: Deadline

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["do_handshake_on_connect"] = False
        tls = super().wrap_socket(sock, *args, **kwargs)
        self.deadline.watch(tls)
        tls.do_handshake()
        return tls


def tls_context(deadline: Deadline) -> ssl.SSLContext:
    """A verifying TLS context whose handshakes the deadline bounds."""
    context = _WatchedContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
    context.load_default_certs()
    context.deadline = deadline
    return context


class _Plain(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, connect: Callable[[], socket.socket]) -> None:
        super().__init__(host, port)
        self._open = connect

    def connect(self) -> None:
        self.sock = self._open()


class _Tls(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, connect: Callable[[], socket.socket], context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, context=context)
        self._open, self._tls = connect, context

    def connect(self) -> None:
        self.sock = self._tls.wrap_socket(self._open(), server_hostname=self.host)


def exchange(
    scheme: str,
    host: str,
    port: int,
    request: tuple[str, str, Mapping[str, str], bytes | None],
    deadline: Deadline,
    rules: HostRules | None,
    max_bytes: int,
) -> Answer:
    """Send ``(method, target, headers, body)`` to ``host`` and read the whole answer.

    Raises:
        AddressRefused: an address the host resolves to is refused by ``rules``.
        TooLarge: the body is longer than ``max_bytes``.
        TimeoutError: the deadline passed (whatever step it interrupted).
        OSError, http.client.HTTPException: no connection, or a broken answer.
    """
    addresses = resolve(host, port, deadline)
    check(host, addresses, rules)
    connection: http.client.HTTPConnection
    if scheme == "https":
        context = tls_context(deadline)
        connection = _Tls(host, port, lambda: open_socket(addresses, deadline), context)
    else:
        connection = _Plain(host, port, lambda: open_socket(addresses, deadline))
    method, target, headers, body = request
    try:
        connection.request(method, target, body=body, headers=dict(headers))
        response = connection.getresponse()
        data = _read(response, max_bytes)
        answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    except Exception:
        deadline.check()  # an error the deadline caused is a timeout, whatever it looks like
        raise
    finally:
        connection.close()
    deadline.check()  # a body cut short by the deadline is not an answer
    return answer


def _read(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = response.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(max_bytes)
        chunks.append(chunk)
