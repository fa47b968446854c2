"""What each ``models:/`` URI of a model resolves to, per manifest content (#15).

``gitreg resolve`` is what a deployment runs at every start; its floor is a Python process
reading the one manifest. A full read (``Store.read_model``: the file checked, its YAML
parsed safely, the model built) records, for that exact content, the source every URI form
names: ``<git dir>/gitreg/answers/<sha1 of the name>.marshal`` holds the name, the
manifest's path, its blob id and the table. ``lookup`` answers from it after reading the
manifest and hashing it to its blob id, without PyYAML, the store or dataclasses.

Keyed by content, it can never be stale: a hand edit, a checkout or a reset changes the
blob id, however the file's size and times look (no racy-git window). Only what a full,
checked read produced is recorded, and any doubt (a file that is not a regular file, a
different content, an interrupted write, a URI form or name the table does not have)
answers None: the caller then takes the full path, which raises the exact error.

A full read records a model only once ``store.verdict`` found its manifest valid (#22), so
an answer is also the verdict on that content: an invalid manifest (two versions in
Production, an alias to a missing version) is never answered here, and ``vouches`` lets the
full read skip a check it already made. The slot names gitreg's version and the checks it
passed (``CHECKS``), so a new check judges every manifest again.
"""

from __future__ import annotations

import marshal
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gitreg.core.version import __version__

if TYPE_CHECKING:
    from gitreg.core.entities import RegisteredModel

# 2: recorded only for a manifest the checks found valid (#22); 3: tables made only from
# manifests whose keys are all text (#23)
_FORMAT = 3
# The version of the checks (``validate.CHECKS_VERSION``) an answer passed. Importing the
# validator here would cost the fast path what it saves; ``remember`` records nothing while
# the two differ, and tests/test_answers.py says so when they do.
CHECKS = 6
SCHEME = "models:/"


def _sha1(data: bytes) -> str:
    try:
        if len(data) > 1 << 18:  # a large manifest: OpenSSL's load time buys a 10x faster hash
            raise ImportError
        from _sha1 import sha1  # type: ignore[import-not-found]  # CPython's, no OpenSSL
    except ImportError:
        from hashlib import sha1
    digest: str = sha1(data).hexdigest()
    return digest


def blob_id(data: bytes) -> str:
    """The id git gives ``data`` as a blob."""
    return _sha1(b"blob %d\0" % len(data) + data)


def _slot(state_dir: Path, name: str) -> Path:
    return state_dir / "answers" / f"{_sha1(name.encode('utf-8', 'surrogatepass'))}.marshal"


def key_of(uri: str) -> tuple[str, str] | None:
    """(model name, table key) for the plain forms of a ``models:/`` URI, else None.

    Two URIs get one key only where the full parser treats them alike (a stage's case,
    a version's leading zeros); anything else is left to it.
    """
    if not uri.startswith(SCHEME) or uri.startswith(SCHEME + "/"):
        return None
    rest = uri[len(SCHEME) :]
    if "/" not in rest and "@" in rest:
        name, alias = rest.rsplit("@", 1)
        return name, f"@{alias}"
    name, sep, suffix = rest.partition("/")
    if not sep or not suffix or "/" in suffix:
        return None
    if suffix.isascii() and suffix.isdigit():
        if len(suffix.lstrip("0")) > 10:  # past any version; int() of 5,000 digits raises
            return None
        return (name, f"/{int(suffix)}") if int(suffix) >= 1 else None
    if suffix.lower() == "latest":
        return name, "/latest"
    return name, f"/stage:{suffix.lower()}"


def table(model: RegisteredModel) -> dict[str, str]:
    """Every URI form's source, found by the same functions a full resolve calls."""
    from gitreg.core import mutations
    from gitreg.core.errors import GitregError
    from gitreg.core.uri import parse_uri

    out: dict[str, str] = {}
    for mv in model.versions:
        key = key_of(f"{SCHEME}{model.name}/{mv.version}")
        if key == (model.name, f"/{mv.version}"):
            out.setdefault(key[1], mv.source)  # find_version takes the first
    forms = [f"{SCHEME}{model.name}/latest"]
    forms += [f"{SCHEME}{model.name}/{stage}" for stage in ("None", "Staging", "Production")]
    forms += [f"{SCHEME}{model.name}/Archived"]
    forms += [f"{SCHEME}{model.name}@{alias}" for alias in model.aliases]
    for uri in forms:
        key = key_of(uri)
        if key is None or key[0] != model.name:
            continue
        try:
            out[key[1]] = mutations.version_for_ref(model, parse_uri(uri)).source
        except GitregError:
            continue
    return out


def remember(state_dir: Path, path: str, oid: str, model: RegisteredModel) -> None:
    """Record the answers of ``model``, read in full from blob ``oid`` at ``path``.

    Only for a manifest the checks found valid (``store.verdict``): the record vouches for it.
    """
    from gitreg.core.validate import CHECKS_VERSION

    if CHECKS_VERSION != CHECKS:
        return  # the checks changed since this table was written: vouch for nothing
    slot = _slot(state_dir, model.name)
    record = (_FORMAT, __version__, CHECKS, model.name, path, oid, table(model))
    try:
        slot.parent.mkdir(parents=True, exist_ok=True)
        tmp = slot.with_name(f"{slot.name}.{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(record))
        os.replace(tmp, slot)
    except (OSError, ValueError):
        return  # only a cache: the next resolve takes the full path


def _recorded(state_dir: Path, name: str) -> tuple[str, str, Mapping[str, str]] | None:
    try:
        record = marshal.loads(_slot(state_dir, name).read_bytes())
        fmt, version, checks, stored, path, oid, answers = record
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (fmt, version, checks, stored) != (_FORMAT, __version__, CHECKS, name):
        return None
    if not isinstance(answers, dict):
        return None
    return path, oid, answers


def vouches(state_dir: Path, name: str, path: str, oid: str) -> bool:
    """Whether a checked read already found ``path`` holding blob ``oid`` valid."""
    recorded = _recorded(state_dir, name)
    return recorded is not None and recorded[:2] == (path, oid)


def _worktree_blob(root: Path, path: str) -> str | None:
    """The blob id of ``path`` in the work tree if it is a regular file reached through no
    link (as ``files.read_regular`` requires), else None."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    if not nofollow or os.open not in os.supports_dir_fd:
        return None
    fds: list[int] = []
    try:
        fds.append(os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)))
        parts = path.split("/")
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            flags = os.O_RDONLY | nofollow | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            fds.append(os.open(part, flags, dir_fd=fds[-1]))
        if not stat.S_ISREG(os.fstat(fds[-1]).st_mode):
            return None
        with os.fdopen(fds.pop(), "rb") as f:
            return blob_id(f.read())
    except OSError:
        return None
    finally:
        for fd in fds:
            os.close(fd)


def _blob_at(root: Path, at: str, path: str) -> str | None:
    """The blob id of regular file ``path`` at commit ``at`` (one ``git ls-tree``), else None."""
    import subprocess

    if not at or at.startswith("-") or any(c in at for c in "\0\n"):
        return None
    argv = ["git", "ls-tree", "-z", "--full-tree", "--end-of-options", f"{at}^{{commit}}"]
    try:
        proc = subprocess.run(
            [*argv, "--", path],
            cwd=root,
            capture_output=True,
            check=False,
        )
    except OSError:
        return None
    meta, sep, _name = proc.stdout.partition(b"\t")
    fields = meta.split()
    if proc.returncode != 0 or not sep or len(fields) != 3:
        return None
    mode, kind, oid = fields
    return oid.decode() if kind == b"blob" and mode == b"100644" else None  # as read_blob_at


def lookup(repo: str | None, at: str | None, uri: str) -> str | None:
    """The source ``uri`` names in the registry ``repo`` (at ``at``), if recorded, else None."""
    parsed = key_of(uri)
    if parsed is None:
        return None
    name, key = parsed
    root = Path(repo if repo is not None else os.environ.get("GITREG_REPO") or os.getcwd())
    state_dir = root / ".git" / "gitreg"
    if not (root / "gitreg.yaml").is_file() or not (root / ".git").is_dir():
        return None
    if (state_dir / "txn.json").exists() or (state_dir / "busy").exists():
        return None  # a write is running or was interrupted: the full path deals with it
    recorded = _recorded(state_dir, name)
    if recorded is None or key not in recorded[2]:
        return None
    path, oid, answers = recorded
    found = _worktree_blob(root, path) if at is None else _blob_at(root, at, path)
    return answers[key] if found == oid else None
