"""Real HTTP servers on 127.0.0.1 for the tests (issues 12 and 13).

``Receiver`` is a scripted HTTP server: each request gets the next scripted answer (the last
one repeats) and is recorded with its method, path, headers and body. Each test says what
it stands in for: a CI system's webhook endpoint, Slack, GitHub's API, an attacker's origin.
``Silent`` accepts connections and never answers (a receiver that hangs).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass
class Answer:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        return body, headers


class Headers(dict):
    """Request headers, looked up case-insensitively as HTTP says."""

    def __init__(self, items) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default=None):
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(str(key).lower())


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *answers: Answer | Callable[[Seen], Answer]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = list(answers) or [Answer(200, b"ok")]
        self.requests: list[Seen] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, seen: Seen) -> Answer:
        with self.lock:
            self.requests.append(seen)
            index = min(len(self.requests), len(self.answers)) - 1
        answer = self.answers[index]
        return answer(seen) if callable(answer) else answer


class _Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, Headers(self.headers.items()), body)
        answer = self.server.answer(seen)
        data, headers = answer.encoded()
        self.send_response(answer.status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


@contextmanager
def serving(*answers: Answer | Callable[[Seen], Answer]) -> Iterator[Receiver]:
    server = Receiver(*answers)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent() -> Iterator[str]:
    """A URL whose server accepts the connection and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def closed_port() -> str:
    """A URL on which nothing listens (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


class Drip:
    """A peer that answers one byte at a time, ``interval`` seconds apart (issue 23).

    ``head`` is sent whole, then ``drip`` byte by byte; each connection's count of bytes
    sent is recorded in ``sent``, and ``hung_up`` counts the connections the client
    closed before the drip was over (the proof that the client's deadline cut it off).
    ``greet`` makes it speak first (SMTP, a TLS ServerHello) instead of reading a request.
    """

    def __init__(
        self, head: bytes, drip: bytes, interval: float = 0.25, greet: bool = False
    ) -> None:
        self.head, self.drip, self.interval, self.greet = head, drip, interval, greet
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sent: list[int] = []
        self.hung_up = 0
        self.requests: list[bytes] = []
        self.stop = threading.Event()

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self) -> None:
        # accept() polls, and the socket is closed here, once no accept() waits on it: a
        # listening socket closed under a blocked accept() would go on taking connections
        # meant for the next test's server on the same port.
        self.sock.settimeout(0.05)
        with self.sock:
            while not self.stop.is_set():
                try:
                    conn, _ = self.sock.accept()
                except TimeoutError:
                    continue
                conn.settimeout(None)
                threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(body) < length:
            body += conn.recv(65536)
        self.requests.append(head)

    def _one(self, conn: socket.socket) -> None:
        index = len(self.sent)
        self.sent.append(0)
        with conn:
            try:
                if not self.greet:
                    self._read_request(conn)
                conn.sendall(self.head)
                for byte in self.drip:
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
                    self.sent[index] += 1
            except OSError:
                self.hung_up += 1


@contextmanager
def dripping(
    head: bytes, drip: bytes, interval: float = 0.25, greet: bool = False
) -> Iterator[Drip]:
    """A ``Drip`` serving on 127.0.0.1 for the ``with`` block."""
    server = Drip(head, drip, interval, greet)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        thread.join()


def body_drip(length: int = 400) -> tuple[bytes, bytes]:
    """A 200 whose body of ``length`` bytes comes one byte at a time."""
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode()
    return head, b"x" * length


def header_drip(length: int = 400) -> tuple[bytes, bytes]:
    """A status line, then a header that never ends."""
    return b"HTTP/1.1 200 OK\r\n", b"X-Drip: " + b"y" * length
