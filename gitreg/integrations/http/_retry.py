"""How patiently a request is tried again (issues 13 and 23): backoff, Retry-After, a budget.

Connection errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter;
``Retry-After`` is honoured up to ``max_retry_after`` per wait, and all the waits of one
request together stay within ``max_total_wait``. When the retries stop early, the reason
comes back with the decision so the final error can say it.
"""

from __future__ import annotations

import dataclasses
import email.utils
import random
import time
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True, slots=True)
class Retry:
    """How often and how patiently to try again: ``attempts`` counts the first try."""

    attempts: int = 5
    backoff: float = 0.5  # seconds before the first retry; doubles each time
    max_backoff: float = 30.0
    max_retry_after: float = 120.0  # a longer Retry-After ends the retries
    max_total_wait: float = 300.0  # all waits of one request together; beyond it, give up

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): half fixed, half jitter."""
        ceiling: float = min(self.max_backoff, self.backoff * 2.0 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


NO_RETRY = Retry(attempts=1)


def budget(retry: Retry, attempt: int, waited: float, wait: float) -> tuple[float | None, str]:
    """``wait`` if another attempt is due and fits the budget; else None and why not."""
    if attempt >= retry.attempts:
        return None, ""
    if waited + wait > retry.max_total_wait:
        return None, (
            f"; stopped: another wait of {wait:g}s would pass the {retry.max_total_wait:g}s "
            "budget for waiting between attempts"
        )
    return wait, ""


def retry_wait(
    status: int, headers: Mapping[str, str], retry: Retry, attempt: int, waited: float
) -> tuple[float | None, str]:
    """Seconds to wait before trying again, or None (and why) when this answer is final."""
    if status != 429 and not 500 <= status < 600:
        return None, ""
    after = _retry_after(headers.get("retry-after"))
    if after is not None and after > retry.max_retry_after and attempt < retry.attempts:
        return None, (
            f"; stopped: Retry-After asked for {after:g}s, more than the "
            f"{retry.max_retry_after:g}s gitreg waits at once"
        )
    return budget(retry, attempt, waited, retry.delay(attempt) if after is None else after)


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
