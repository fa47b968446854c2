"""Reads of a remote registry without a clone: what a deployment pod runs at start-up (#15).

``read_remote(url, path)`` answers from the remote's tip with a blobless, depth-1 fetch
into a small cache, then fetches the one manifest's blob: at 10,000 models that is the
commit, two trees and one file instead of the whole history. The cache is a bare
repository per remote URL under ``$XDG_CACHE_HOME/gitreg/remotes`` (``~/.cache`` without
it), named by a hash of the URL and locked while it is used, so pods sharing a node share
it safely. The URL reaches git only as a configuration value in the environment
(``GIT_CONFIG_COUNT``), never as an argument: it is never parsed as an option, never
written to disk, and never visible in a process list; errors name it without credentials.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from gitreg.core.errors import InvalidParameter, RemoteUnavailable
from gitreg.store import _lock, _net

LOCK_SECONDS = 120.0
TIP = "refs/gitreg/tip"
_BRANCH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$")


def cache_home() -> Path:
    """Where fleet reads keep their caches."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitreg" / "remotes"


def _env(url: str) -> dict[str, str]:
    """The URL as ``remote.origin.url``, added to any configuration the environment has."""
    try:
        count = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        count = 0
    return {
        "GIT_CONFIG_COUNT": str(count + 1),
        f"GIT_CONFIG_KEY_{count}": "remote.origin.url",
        f"GIT_CONFIG_VALUE_{count}": url,
    }


def _prepare(cache: Path) -> None:
    """A bare repository whose remote ``origin`` promises the blobs it does not have."""
    import subprocess

    if (cache / "HEAD").exists():
        return
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", "."], cwd=cache, check=True, capture_output=True)
    for key, value in (
        ("core.repositoryformatversion", "1"),
        ("extensions.partialClone", "origin"),
        ("remote.origin.promisor", "true"),
        ("remote.origin.partialclonefilter", "blob:none"),
        ("gc.auto", "0"),
    ):
        subprocess.run(["git", "config", key, value], cwd=cache, check=True, capture_output=True)


def _check_branch(branch: str | None) -> str:
    if branch is None:
        return "HEAD"
    if not _BRANCH.match(branch) or ".." in branch or branch.endswith((".lock", "/")):
        raise InvalidParameter(
            f"Invalid branch {branch!r} for --at with --remote: give a branch or tag name"
        )
    return branch


def read_remote(url: str, path: str, branch: str | None = None) -> bytes | None:
    """``path`` at the tip of ``branch`` (default: the remote's HEAD) of ``url``; None if absent.

    Raises:
        RemoteUnavailable: the remote cannot be reached, refuses us, or lacks the branch.
        InvalidParameter: ``branch`` is not a branch name.
    """
    ref = _check_branch(branch)
    shown = _net.redact(url)
    if not url or "\n" in url or "\0" in url:
        raise InvalidParameter(f"Invalid remote URL {shown!r}")
    cache = cache_home() / hashlib.sha256(url.encode()).hexdigest()[:32]
    cache.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(cache.parent, 0o700)  # other users of the machine need not see which remotes
    env = _env(url)
    try:
        with _lock.hold(cache.parent / f"{cache.name}.lock", LOCK_SECONDS):
            _prepare(cache)
            source = ref if ref == "HEAD" else f"refs/heads/{ref}"
            fetch = ["fetch", "--quiet", "--no-tags", "--depth=1", "--filter=blob:none"]
            fetched = _net.run_network(cache, [*fetch, "origin", f"+{source}:{TIP}"], env)
            if fetched.returncode != 0:
                reason = _net.reason_of(fetched.stderr).replace(url, shown)
                raise RemoteUnavailable(f"cannot fetch from {shown}: {reason}")
            return _blob(cache, path, env, shown)
    except _lock.LockTimeout as e:
        raise RemoteUnavailable(
            f"another gitreg process has held the cache of {shown} for {LOCK_SECONDS:.0f}s"
        ) from e


def _blob(cache: Path, path: str, env: dict[str, str], shown: str) -> bytes | None:
    """The regular file ``path`` at the fetched tip (its blob fetched now if missing)."""
    listed = _net.run_network(cache, ["ls-tree", "-z", "--full-tree", TIP, "--", path], env)
    meta, sep, _name = listed.stdout.partition(b"\t")
    fields = meta.split()
    if listed.returncode != 0 or not sep or len(fields) != 3:
        return None
    if fields[0] != b"100644" or fields[1] != b"blob":
        from gitreg.core.errors import git_kind, not_regular

        raise not_regular(path, git_kind(fields[0].decode()))  # as a local read
    shown_blob = _net.run_network(cache, ["cat-file", "blob", fields[2].decode()], env)
    if shown_blob.returncode != 0:
        reason = _net.reason_of(shown_blob.stderr)
        raise RemoteUnavailable(f"cannot fetch {path} from {shown}: {reason}")
    return shown_blob.stdout
