"""Lost push races (issue 12): a time budget instead of a count, and a stuck remote lock.

The lock case is real: a bare repository standing in for GitHub with the branch's
``.lock`` file a killed push left behind. The budget is checked on ``Contention`` itself
with a stand-in clock, so no test waits for two minutes.
"""

from __future__ import annotations

import pytest

from gitreg.core.errors import ConcurrentUpdate, PushRejected
from gitreg.store._net import Lost
from gitreg.store.remote import STALE_LOCK_SECONDS, Contention, Remote
from tests._helpers import Cli, git, snapshot


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_lock_left_on_the_remote_is_reported_not_retried_forever(clone, bare_remote):
    lock = bare_remote / "refs" / "heads" / "main.lock"
    lock.write_text("")  # a push into the bare repository was killed while holding it
    before = snapshot(clone)

    result = Cli(clone).fails(1, "register", "churn", "s3://churn/2")

    assert "main.lock" in result.stderr
    assert "was most likely killed" in result.stderr
    assert "remove that file on the remote" in result.stderr
    assert lock.exists(), "gitreg must never delete a lock in someone else's repository"
    assert snapshot(clone) == before
    lock.unlink()
    Cli(clone).ok("register", "churn", "s3://churn/2")
    assert git(bare_remote, "log", "-1", "--format=%s", "main").strip() == (
        "Register churn version 2"
    )


def test_a_lock_seen_while_the_branch_moves_is_a_live_push_not_a_stale_one():
    clock = Clock()
    contention = Contention(Remote("origin", "/srv/r.git", "main"), clock=clock)
    for tip in ("a" * 40, "b" * 40, "c" * 40, "d" * 40):
        contention.lost(Lost("failed to update ref", "/srv/r.git/refs/heads/main.lock"), tip)
        clock.now += STALE_LOCK_SECONDS  # the lock is there at each try, but the tip moves
    with pytest.raises(PushRejected, match="most likely killed"):
        contention.lost(Lost("failed to update ref", "/srv/r.git/refs/heads/main.lock"), "d" * 40)


def test_a_write_keeps_trying_for_its_time_budget_not_a_count():
    clock = Clock()
    contention = Contention(Remote("origin", "u", "main", retry_seconds=30), clock=clock)
    for _ in range(500):  # far more than the old fixed 31
        wait = contention.lost(Lost("fetch first"), "a" * 40)
        assert 0 <= wait <= 0.1
        clock.now += 0.05
    clock.now += 30
    with pytest.raises(ConcurrentUpdate, match="501 pushes in 55s lost the race"):
        contention.lost(Lost("fetch first"), "a" * 40)


def test_an_explicit_retry_count_still_caps_the_tries():
    contention = Contention(Remote("origin", "u", "main", retries=2), clock=Clock())
    contention.lost(Lost("fetch first"), None)
    contention.lost(Lost("fetch first"), None)
    with pytest.raises(ConcurrentUpdate):
        contention.lost(Lost("fetch first"), None)
