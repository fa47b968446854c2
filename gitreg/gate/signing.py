"""The gate's signature check: keys from trusted history, bundles from the change (#28).

A policy's ``signed_by`` requirement is judged by a ``SignatureCheck`` bound to the policy
(``core.config.Policy.with_signing``). The keys it trusts are read where the policy itself
comes from (the base of a pull request; for the audit, the last accepted state of keys/),
never from the change being judged: a pull request that adds its own key and a signature
made with it is refused. The bundle is read from the change's side, where the version
entering the stage is. Only regular files are read, within the size bounds of
``integrations.artifacts.signing``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gitreg.core.config import KEYS_DIR, Policy
from gitreg.gate import files
from gitreg.store import compare

Reader = Callable[[str], bytes | None]


def _at(root: Path, commit: str | None) -> Reader:
    """Regular files at ``commit`` (None: no commit, so nothing), read once each."""
    cache: dict[str, bytes | None] = {}

    def read(path: str) -> bytes | None:
        if commit is None:
            return None
        if path not in cache:
            cache[path] = compare.read_files_at(root, commit, [path])[0].get(path)
        return cache[path]

    return read


def _keys(read: Reader) -> Reader:
    def read_key(path: str) -> bytes | None:
        return read(path) if path.startswith(f"{KEYS_DIR}/") else None

    return read_key


def _worktree(root: Path) -> Reader:
    def read(path: str) -> bytes | None:
        return files.read_worktree(root, path)[0]

    return read


def bind(policy: Policy, keys: Reader, bundles: Reader) -> Policy:
    """``policy`` with its ``signed_by`` requirements checked against ``keys`` and ``bundles``.

    Without the signing extra, every such requirement is unmet, saying why (fail closed).
    """
    if not policy.signing_keys:
        return policy
    from gitreg.integrations.artifacts.signing import signing_check

    return policy.with_signing(signing_check(_keys(keys), bundles))


def for_worktree(policy: Policy, root: Path, key_commit: str | None) -> Policy:
    """``validate --base``: keys at the base, bundles in the work tree (the pull request)."""
    if not policy.signing_keys:
        return policy
    return bind(policy, _at(root, key_commit), _worktree(root))


def for_commit(policy: Policy, root: Path, key_commit: str | None, commit: str) -> Policy:
    """The audit: keys as last accepted (at ``key_commit``), bundles at ``commit``."""
    if not policy.signing_keys:
        return policy
    return bind(policy, _at(root, key_commit), _at(root, commit))
