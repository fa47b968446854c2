"""One fork helper for the site's children (#26): ``store.parallel.fork``.

The record's saving process (``site.saving``) and the read's checking children
(``store.parallel.check_ahead``) are both a forked child answering its parent through a
pipe. The helper frames what the child sends and says how it ended: answered, refused (an
error the caller expects), failed, or killed; a frame it did not finish is never taken.
Whatever ends a saving process other than its answer or a disk error, the parts are saved
again in the build's own process (never a record naming parts that were not saved).
"""

from __future__ import annotations

import os
import signal

import pytest

from gitreg.site import saving
from gitreg.store import parallel
from tests.test_site_parallel import child_pids

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forks (Linux)")


def test_frames_come_back_whole_and_in_order_with_the_exit_code():
    def job(send: parallel.Send) -> None:
        for n in range(3):
            send(str(n).encode() * (n * 70_000))  # larger than a pipe holds: the child waits

    child = parallel.fork(job)
    frames = child.wait()
    assert frames == [b"", b"1" * 70_000, b"2" * 140_000]
    assert child.code == parallel.ANSWERED
    assert child.wait() == [], "idempotent"


def test_refused_failed_and_killed_children_say_so():
    def refused(send: parallel.Send) -> None:
        send(b"partial")
        raise OSError("disk full")

    def failed(send: parallel.Send) -> None:
        raise KeyError("bug")

    def killed(send: parallel.Send) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    before = child_pids()
    outcomes = []
    for job in (refused, failed, killed):
        child = parallel.fork(job, refused=(OSError,))
        outcomes.append((child.wait(), child.code))
    assert outcomes == [
        ([b"partial"], parallel.REFUSED),
        ([], parallel.FAILED),
        ([], -signal.SIGKILL),
    ]
    assert child_pids() <= before


def test_a_frame_the_child_did_not_finish_is_dropped():
    def job(send: parallel.Send) -> None:
        send(b"whole")
        os._exit(9)

    child = parallel.fork(job)
    assert child.wait() == [b"whole"]
    assert child.code == 9
    half = parallel.Child.__new__(parallel.Child)
    half.pid, half.fd, half.code, half._buffer = 0, -1, None, bytearray()
    half._buffer += (10).to_bytes(8, "little") + b"abc"  # a length, a part of the bytes
    assert half.poll() == []


def test_poll_takes_what_has_come_without_waiting():
    read_end, write_end = os.pipe()

    def job(send: parallel.Send) -> None:
        send(b"first")
        os.read(read_end, 1)  # waits for the parent's go
        send(b"second")

    child = parallel.fork(job)
    seen: list[bytes] = []
    while not seen:
        seen += child.poll()
    assert seen == [b"first"]
    os.write(write_end, b"x")
    assert child.wait() == [b"second"]
    os.close(read_end)
    os.close(write_end)


@pytest.mark.parametrize("how", ["dies", "garbage", "two answers"])
def test_a_saving_process_that_dies_or_answers_garbage_is_redone_here(how):
    parent, calls = os.getpid(), []

    def job() -> list[str]:
        calls.append(os.getpid())
        return ["token-a", "token-b"]

    def child_job(send: parallel.Send) -> None:
        job()
        if how == "dies":
            os.kill(os.getpid(), signal.SIGKILL)
        elif how == "garbage":
            send(b"\x00not marshal")
        else:
            send(b"\xe9\x00\x00\x00\x00")
            send(b"\xe9\x00\x00\x00\x00")

    pending = saving.Pending(job, parallel.fork(child_job, refused=(OSError,)))
    assert pending.result() == ["token-a", "token-b"]
    assert calls == [parent], "saved again here (the child's own call is in its memory)"
    assert pending.result() == ["token-a", "token-b"]


def test_a_saving_process_refused_by_the_disk_is_not_redone():
    calls = []

    def job() -> list[str]:
        calls.append(os.getpid())
        raise OSError("no room")

    pending = saving.start(job, fork=True)
    assert pending.result() is None, "no record: a part could not be written"
    assert calls == [], "not tried again here (the child's call is in its memory)"
