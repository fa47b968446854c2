"""Secrets out of every text gitreg shows: a peer's answer, an error, the crash log (#23).

A receiver or a forge may echo what it was sent (``Authorization``, a signature, the URL
that is itself a Slack secret), raw or escaped. ``redact`` replaces each secret in the
spellings a peer or a traceback would use (as sent, JSON-escaped, percent-encoded,
backslash-escaped, HTML-escaped); ``peer_text`` also bounds the text and makes it one
printable line, so no answer can forge terminal output either.

``remember`` keeps every secret the process has read for delivery or sent to a peer: the
crash handler (``gitreg.cli``) has no other way to know them, and redacts them from its
log. That set is the only state here; it never leaves the process.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Iterable

MASK = "[REDACTED]"
PEER_TEXT_LIMIT = 500  # characters of a peer's answer ever shown
_SHORT = 4  # a shorter secret is replaced only where it stands as a whole word
# Headers whose values are credentials: never shown, and redacted from any echo of them.
SENSITIVE_HEADERS = frozenset(
    h.lower()
    for h in (
        "Authorization",
        "Proxy-Authorization",
        "PRIVATE-TOKEN",
        "JOB-TOKEN",
        "Cookie",
        "webhook-signature",
        "X-MLflow-Signature",
        "X-Hub-Signature-256",
    )
)
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_remembered: set[str] = set()


def _percent(text: str, safe: str = "") -> str:
    return "".join(
        c if c in _UNRESERVED or c in safe else "".join(f"%{b:02X}" for b in c.encode())
        for c in text
    )


@functools.lru_cache(maxsize=1024)
def spellings(secret: str) -> frozenset[str]:
    """``secret`` as sent and as a peer or a traceback may echo it."""
    found = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
        json.dumps(secret, ensure_ascii=False)[1:-1],
        _percent(secret),
        _percent(secret, safe="/:"),
        repr(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        html.escape(secret),
    }
    return frozenset(s for s in found if s)


def header_secrets(headers: Iterable[tuple[str, str]]) -> list[str]:
    """The credential values among ``headers``: the whole value and its token part."""
    found = []
    for key, value in headers:
        if key.lower() in SENSITIVE_HEADERS and value:
            found.append(value)
            token = value.partition(" ")[2]
            found += [token] if token else []
            found += [part.partition(",")[2] for part in value.split() if "," in part]
    return [s for s in found if s]


def url_secrets(url: str) -> list[str]:
    """A secret URL and its path with query (a receiver may echo only the path)."""
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    path = rest[slash:] if slash >= 0 else ""
    return [url] + ([path] if len(path) > 1 else [])


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every spelling of every secret replaced by ``[REDACTED]``."""
    variants = sorted({v for s in secrets if s for v in spellings(s)}, key=len, reverse=True)
    for variant in variants:
        if len(variant) >= _SHORT:
            text = text.replace(variant, MASK)
        else:
            pattern = rf"(?<![A-Za-z0-9_\-]){re.escape(variant)}(?![A-Za-z0-9_\-])"
            text = re.sub(pattern, MASK, text)
    return text


def printable_line(text: str) -> str:
    """One line of printable characters: controls (and so terminal escapes) written out."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in " ".join(text.split())
    )


def peer_text(data: bytes | str, secrets: Iterable[str], limit: int = PEER_TEXT_LIMIT) -> str:
    """What a peer said, safe to show: secrets redacted, one printable line, bounded."""
    text = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
    text = printable_line(redact(text[: limit * 4 + 4096], [*secrets, *_remembered]))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def remember(*secrets: str | None) -> None:
    """Note secrets this process read or sent, so a crash log can redact them."""
    _remembered.update(s for s in secrets if s)


def redact_remembered(text: str) -> str:
    """``text`` with every secret this process remembered replaced."""
    return redact(text, _remembered) if _remembered else text


def forget() -> None:
    """Drop the remembered secrets (for tests that run many commands in one process)."""
    _remembered.clear()
