"""Git commands that talk to a remote: fetch, push and ls-remote, never prompting.

Every such command runs with auto-gc off and a low-speed timeout, so a dead link fails
instead of hanging; its stderr is reduced to one line with any URL credentials removed. A
push reports a lost race (someone pushed first) as a value and a refusal as an error.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from gitreg.core.errors import GitFailed, PushRejected, RemoteUnavailable
from gitreg.store._lock import spawn

if TYPE_CHECKING:
    import subprocess

# No automatic gc from gitreg's own fetches and pushes: a detached ``gc --auto`` repacking
# under concurrent writers loses objects they are using (seen in bench/stress.py). The -c
# settings also reach the receive-pack of a remote on a local path. ``collect_garbage``
# runs it instead, in the foreground, under gitreg's lock.
_NETWORK_CONFIG = (
    *("-c", "http.lowSpeedLimit=1", "-c", "http.lowSpeedTime=60"),
    *("-c", "gc.auto=0", "-c", "maintenance.auto=false", "-c", "receive.autogc=false"),
)
_PUSH_SUMMARY = re.compile(r"^\[([^\]]+)\](?: \((.*)\))?")
# A ref that moved between the server's fast-forward check and its update is a lost race;
# so is an unpacker error, which git's receive-pack can report under concurrent pushes
# (nothing is updated then, and re-pushing is safe).
_LOST_RACE = ("failed to update ref", "failed to lock", "unpacker error")
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """``text`` with ``user:password@`` removed from any URL in it."""
    return _URL_CREDENTIALS.sub("", text)


def run_network(
    root: Path, args: Sequence[str], extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a git command that talks to a remote: never prompts, never hangs on a dead link."""
    import subprocess

    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GCM_INTERACTIVE": "never",
        **(extra_env or {}),
    }
    try:
        return spawn(
            lambda fds: subprocess.run(
                ["git", *_NETWORK_CONFIG, *args],
                cwd=root,
                capture_output=True,
                env=env,
                check=False,
                stdin=subprocess.DEVNULL,
                pass_fds=fds,
            )
        )
    except FileNotFoundError as e:
        raise GitFailed("git is not installed or not on PATH; install git") from e


def reason_of(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    chosen = (fatal or lines or ["no output"])[0]
    return redact(chosen.removeprefix("fatal: ").removeprefix("error: "))


def fetch(root: Path, remote: str, refspecs: Sequence[str]) -> bool:
    """Fetch ``refspecs`` from ``remote``; False when the remote lacks the branch.

    Raises:
        RemoteUnavailable: the remote cannot be reached or refuses us.
    """
    for attempt in range(1, 6):
        proc = run_network(root, ["fetch", "--quiet", "--no-tags", "--", remote, *refspecs])
        if proc.returncode == 0:
            return True
        reason = reason_of(proc.stderr)
        if "cannot lock ref" not in reason:
            break
        # A git child of a killed gitreg process can still be updating the tracking ref.
        time.sleep(0.1 * attempt)
    if "couldn't find remote ref" in reason:
        return False
    raise RemoteUnavailable(f"cannot fetch from {remote}: {reason}; nothing was changed")


class Lost(NamedTuple):
    """A push that did not land because of another writer: why, and a lock file if any."""

    why: str
    lock: str | None = None  # the remote ref's lock file that was in the way


_LOCK_EXISTS = re.compile(r"Unable to create '([^']+\.lock)': File exists")


def push(root: Path, remote: str, refspec: str, lease: str | None = None) -> Lost | None:
    """Push one ``src:dst`` refspec: None when it landed, else why it lost a race.

    ``lease`` (``dst:expected``) makes a forced push safe: it lands only if the remote
    ref is still at ``expected`` (empty: absent). A ref lock in the way on the remote is
    reported in ``Lost.lock``: a concurrent push holds it for milliseconds, a killed one
    forever, and only the caller can tell the two apart by waiting.

    Raises:
        PushRejected: a hook or the server refused it.
        RemoteUnavailable: network, authentication or a missing repository.
    """
    extra = [f"--force-with-lease={lease}"] if lease is not None else []
    proc = run_network(root, ["push", "--porcelain", *extra, "--", remote, refspec])
    status = [ln for ln in proc.stdout.decode("utf-8", "replace").splitlines() if "\t" in ln]
    if proc.returncode == 0 and status and not status[0].startswith("!"):
        return None
    if not status:
        raise RemoteUnavailable(
            f"cannot push to {remote}: {reason_of(proc.stderr)}; nothing was pushed and the "
            "local branch is unchanged"
        )
    summary = status[0].split("\t")[-1]
    match = _PUSH_SUMMARY.match(summary)
    kind, why = (match.group(1), match.group(2) or "") if match else (summary, "")
    stderr = proc.stderr.decode("utf-8", "replace")
    if kind == "rejected" or why.startswith(_LOST_RACE):
        locked = _LOCK_EXISTS.search(stderr)
        # Someone pushed first (or was pushing at the same instant, holding the ref's lock).
        return Lost(why or kind, redact(locked.group(1)) if locked else None)
    said = [
        ln.removeprefix("remote:").strip()
        for ln in stderr.splitlines()
        if ln.startswith("remote:") and ln.removeprefix("remote:").strip()
    ]
    detail = f" ({redact(said[0])})" if said else ""
    raise PushRejected(
        f"{remote} refused the push to {refspec.split(':')[-1]}: {why or kind}{detail}; "
        "nothing was pushed and the local branch is unchanged"
    )


def ls_remote_heads(root: Path, remote: str, pattern: str) -> dict[str, str]:
    """Branch name -> commit for the remote's branches matching ``pattern``."""
    proc = run_network(root, ["ls-remote", "--heads", "--", remote, pattern])
    if proc.returncode != 0:
        raise RemoteUnavailable(f"cannot list branches of {remote}: {reason_of(proc.stderr)}")
    heads = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        oid, _, ref = line.partition("\t")
        heads[ref.removeprefix("refs/heads/")] = oid
    return heads
