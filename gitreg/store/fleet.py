"""Reads of a remote registry without a clone: what a deployment pod runs at start-up (#15).

``read_remote(url, path)`` answers from the remote's tip with a blobless, depth-1 fetch
into a small cache, then fetches the one manifest's blob: at 10,000 models that is the
commit, two trees and one file instead of the whole history. The cache is a bare
repository per remote URL under ``$XDG_CACHE_HOME/gitreg/remotes`` (``~/.cache`` without
it), named by a hash of the URL and locked while it is used, so pods sharing a node share
it safely. The URL reaches git only as a configuration value in the environment
(``GIT_CONFIG_COUNT``), never as an argument: it is never parsed as an option, never
written to disk, and never visible in a process list; errors name it without credentials.

A read can be pinned to the remote's verified tip (``refs/gitreg/verified``, the last commit
a clean audit accepted, #22): with ``verified=True``, or by ``registry.read: verified`` in
gitreg.yaml at that verified commit, so no push to the branch can switch a pinned fleet back
to the tip. The verified ref is fetched in the same round trip as the tip.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import NamedTuple

from gitreg.core.config import BRANCH_PREFIX, CONFIG_FILE, READ_VERIFIED
from gitreg.core.errors import (
    BadRef,
    GitregError,
    InvalidManifest,
    InvalidParameter,
    RemoteUnavailable,
)
from gitreg.store import _lock, _net
from gitreg.store.verified import VERIFIED_REF

LOCK_SECONDS = 120.0
TIP = "refs/gitreg/tip"
# The remote's verified tip, as last fetched (#22). Not VERIFIED_REF itself: the cache is
# not a clone, and its copy of the remote's ref must never pass for an audit's own.
VERIFIED = "refs/gitreg/fetched/verified"
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


class RemoteRead(NamedTuple):
    """What a fleet read found: the file's bytes (None if absent), at which commit, and
    whether that commit is the remote's verified tip."""

    text: bytes | None
    commit: str
    verified: bool
    state_dir: Path  # where verdicts on this remote's manifests are kept (``answers``)


def read_remote(
    url: str, path: str, branch: str | None = None, *, verified: bool | None = None
) -> RemoteRead:
    """``path`` at the remote's tip, or at its verified tip, as the remote's policy says.

    ``branch`` (default: the remote's HEAD) is read at its tip. Without a branch, the
    commit read is the remote's ``refs/gitreg/verified`` when ``verified`` is True, its
    tip when False, and, when None, what ``registry.read`` in gitreg.yaml *at the verified
    commit* says (see ``_choose``): a push can change the tip's gitreg.yaml, never that one.

    Raises:
        RemoteUnavailable: the remote cannot be reached, refuses us, or lacks the branch.
        BadRef: a verified read, and the remote has no ``refs/gitreg/verified``.
        InvalidManifest: gitreg.yaml cannot say whether reads must be verified.
        InvalidParameter: ``branch`` is not a branch name, or is given with ``verified``.
    """
    ref = _check_branch(branch)
    if branch is not None and verified:
        raise InvalidParameter(
            "A verified read reads refs/gitreg/verified, not a branch: give --verified or "
            "--at BRANCH, not both"
        )
    url = local_url(url)
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
            with_verified = branch is None and verified is not False
            _fetch_tip(cache, env, (url, shown), ref, with_verified=with_verified)
            refs = _refs(cache)
            if branch is not None or verified is False:
                text = _files(cache, TIP, [path], env, shown)[path]
                return RemoteRead(text, refs[TIP], False, cache / "gitreg")
            read_at, text = _choose(cache, env, shown, verified, VERIFIED in refs, path)
            return RemoteRead(text, refs[read_at], read_at == VERIFIED, cache / "gitreg")
    except _lock.LockTimeout as e:
        raise RemoteUnavailable(
            f"another gitreg process has held the cache of {shown} for {LOCK_SECONDS:.0f}s"
        ) from e


def local_url(url: str) -> str:
    """``url``, with a relative local path made absolute: git runs in the cache, not here.

    A URL with a scheme, an absolute path and git's scp-like ``host:path`` (a colon before
    the first slash) are left as they are.
    """
    if not url or "://" in url or os.path.isabs(url) or ":" in url.split("/", 1)[0]:
        return url
    return os.path.abspath(url)


def _fetch_tip(
    cache: Path, env: dict[str, str], urls: tuple[str, str], ref: str, *, with_verified: bool
) -> None:
    """Fetch ``ref`` (a branch, or HEAD) as TIP, and the verified tip when asked.

    A remote whose HEAD names no branch it has (plain ``git init --bare`` makes HEAD
    ``master``, ``gitreg init`` pushes ``main``) is read at its one branch; with none or
    several, the error says which to name and how to fix the remote's HEAD (#27).
    """
    url, shown = urls
    fetched = _net.run_network(cache, _fetch_args(ref, with_verified), env)
    if fetched.returncode != 0 and ref == "HEAD" and _NO_HEAD in fetched.stderr:
        branch = _only_branch(cache, env, shown)
        fetched = _net.run_network(cache, _fetch_args(branch, with_verified), env)
    if fetched.returncode != 0:
        reason = _net.reason_of(fetched.stderr).replace(url, shown)
        raise RemoteUnavailable(f"cannot fetch from {shown}: {reason}")


_NO_HEAD = b"couldn't find remote ref HEAD"


def _fetch_args(ref: str, with_verified: bool) -> list[str]:
    source = ref if ref == "HEAD" else f"refs/heads/{ref}"
    fetch = ["fetch", "--quiet", "--no-tags", "--depth=1", "--filter=blob:none"]
    refspecs = [f"+{source}:{TIP}"]
    if with_verified:
        # A glob: no error when the remote has no verified tip, and --prune drops ours
        # when the remote's is gone (#22).
        refspecs.append(f"+{VERIFIED_REF}*:{VERIFIED}*")
        fetch.append("--prune")
    return [*fetch, "origin", *refspecs]


def _only_branch(cache: Path, env: dict[str, str], shown: str) -> str:
    """The remote's one branch (request branches aside), when its HEAD names none it has.

    Raises:
        BadRef: it has no branch, or several: the message says what to do.
    """
    listed = _net.run_network(cache, ["ls-remote", "--heads", "origin"], env)
    if listed.returncode != 0:
        reason = _net.reason_of(listed.stderr)
        raise RemoteUnavailable(f"cannot list the branches of {shown}: {reason}")
    names = [
        line.partition("\trefs/heads/")[2]
        for line in listed.stdout.decode("utf-8", "replace").splitlines()
    ]
    branches = sorted(n[:100] for n in names if n and not n.startswith(BRANCH_PREFIX))
    fix_head = (
        f"or point its HEAD at the registry's branch (git --git-dir={shown} symbolic-ref HEAD "
        "refs/heads/BRANCH on a bare repository; on GitHub or GitLab, make it the default "
        "branch)"
    )
    if len(branches) == 1:
        try:
            return _check_branch(branches[0])  # what the remote says is checked as --at is
        except InvalidParameter:
            raise BadRef(
                f"{shown}'s HEAD names no branch it has, and its one branch {branches[0]!r} "
                f"is not a name gitreg reads; {fix_head.removeprefix('or ')}"
            ) from None
    if not branches:
        raise BadRef(
            f"{shown} has no branch yet (its HEAD names none): push the registry to it first "
            "(git push -u origin main)"
        )
    raise BadRef(
        f"{shown}'s HEAD names no branch it has (plain git init --bare makes HEAD master), "
        f"and it has several: {', '.join(branches[:10])}; name one with --at BRANCH, {fix_head}"
    )


def _choose(
    cache: Path,
    env: dict[str, str],
    shown: str,
    verified: bool | None,
    has_verified: bool,
    path: str,
) -> tuple[str, bytes | None]:
    """The ref to read (the verified tip or the tip, as ``verified`` or the policy says),
    and ``path`` there.

    With no ``verified`` given, gitreg.yaml at the verified commit decides; when the remote
    has no verified tip, the tip's gitreg.yaml can only make the read fail (it asks for a
    verified read that cannot be made), never choose what is served: so deleting the
    remote's ``refs/gitreg/verified`` cannot turn a pinned fleet back onto the tip.
    """
    if verified and not has_verified:
        raise BadRef(
            f"{shown} has no verified tip ({VERIFIED_REF}): a clean gitreg audit records "
            "and pushes it; until then, read the tip (without --verified)"
        )
    if verified:
        return VERIFIED, _files(cache, VERIFIED, [path], env, shown)[path]
    asked_at = VERIFIED if has_verified else TIP
    found = _files(cache, asked_at, [CONFIG_FILE, path], env, shown)  # one listing for both
    asked = _config_mode(found[CONFIG_FILE], asked_at == VERIFIED, shown)
    if asked == READ_VERIFIED and not has_verified:
        raise BadRef(
            f"{CONFIG_FILE} at the tip of {shown} says registry.read: verified, but the remote "
            f"has no verified tip ({VERIFIED_REF}): a clean gitreg audit records and pushes it"
        )
    target = VERIFIED if asked == READ_VERIFIED else TIP
    if target == asked_at:
        return target, found[path]
    return target, _files(cache, target, [path], env, shown)[path]


def _config_mode(text: bytes | None, at_verified: bool, shown: str) -> str:
    """``registry.read`` in gitreg.yaml ``text`` (``tip`` when it says nothing)."""
    from gitreg.core import manifest
    from gitreg.core.config import read_mode

    where = "the verified commit" if at_verified else "the tip"
    try:
        data = manifest.load_mapping(text, CONFIG_FILE) if text is not None else {}
        return read_mode(data)
    except GitregError as e:
        raise InvalidManifest(
            f"{CONFIG_FILE} at {where} of {shown} cannot say whether reads must be verified "
            f"({e.message}); nothing was read: fix {CONFIG_FILE}"
        ) from e


def _refs(cache: Path) -> dict[str, str]:
    """Ref -> commit for the refs a fetch left in the cache (the tip, the verified tip)."""
    from gitreg.store import _git

    out = _git.run(cache, ["for-each-ref", "--format=%(refname) %(objectname)", "refs/gitreg/"])
    return dict(line.split(" ", 1) for line in out.decode().splitlines() if " " in line)


def _files(
    cache: Path, ref: str, paths: list[str], env: dict[str, str], shown: str
) -> dict[str, bytes | None]:
    """The regular files ``paths`` at fetched ``ref`` (None: absent), in one listing; each
    blob is fetched now if the cache does not have it yet."""
    listed = _net.run_network(cache, ["ls-tree", "-z", "--full-tree", ref, "--", *paths], env)
    found: dict[str, bytes | None] = dict.fromkeys(paths)
    for record in listed.stdout.split(b"\0") if listed.returncode == 0 else []:
        meta, sep, raw = record.partition(b"\t")
        fields = meta.split()
        name = raw.decode("utf-8", "surrogateescape")
        if not sep or len(fields) != 3 or name not in found:
            continue
        if fields[0] != b"100644" or fields[1] != b"blob":
            from gitreg.core.errors import git_kind, not_regular

            raise not_regular(name, git_kind(fields[0].decode()))  # as a local read
        blob = _net.run_network(cache, ["cat-file", "blob", fields[2].decode()], env)
        if blob.returncode != 0:
            reason = _net.reason_of(blob.stderr)
            raise RemoteUnavailable(f"cannot fetch {name} from {shown}: {reason}")
        found[name] = blob.stdout
    return found
