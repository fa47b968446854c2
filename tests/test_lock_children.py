"""The clone's lock outlives a killed writer until its git children are gone (#17's note).

A writer killed with SIGKILL leaves the git command it started running (a real writer's
``update-index`` or ``update-ref``); the kernel used to free the writer's ``flock`` at once,
so the next writer could take the clone while that git was still writing to it. Each git
child now inherits the lock's descriptor, so the lock is free only when the last one exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from gitreg.store._lock import LockTimeout, hold

# A writer that takes the lock, starts a git child that outlives it by a few seconds (a git
# alias running a shell command stands in for a slow git), says so, and waits to be killed.
WRITER = """
import sys, time
from pathlib import Path
from gitreg.store import _git
from gitreg.store._lock import hold

lock, repo, flag = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
with hold(lock, 5):
    import subprocess, threading
    threading.Thread(
        target=_git.run, args=(repo, ["-c", "alias.slow=!sleep 3; touch " + str(flag), "slow"]),
        daemon=True,
    ).start()
    time.sleep(0.5)
    print("holding", flush=True)
    time.sleep(60)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock and SIGKILL are POSIX")
def test_a_killed_writers_git_child_keeps_the_clone_locked_until_it_exits(tmp_path):
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    lock, flag = tmp_path / "lock", tmp_path / "child-finished"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(lock), str(repo), str(flag)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "holding"
    os.kill(writer.pid, signal.SIGKILL)  # the writer only: its git child lives on
    writer.wait()
    writer.stdout.close()
    with pytest.raises(LockTimeout), hold(lock, 0.5):
        pass  # the dead writer's git is still running: the clone stays locked
    assert not flag.exists()
    deadline = time.monotonic() + 20
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with hold(lock, 10):
        assert flag.exists()  # taken only once the child had finished its work
