"""Parse caches keyed by git blob id: content addressed, so they can never be stale.

``cache.marshal`` in ``<git dir>/gitreg/`` maps a manifest's blob id to its parsed YAML and
is shared by whole-registry reads and ``validate``; a large manifest (a model with thousands
of versions) keeps its own parse in ``parsed/<blob id>.marshal``. Both are gitreg's own
files inside ``.git``, never user input, and a failure to read or write one only costs a
parse.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gitreg.core import manifest, patch
from gitreg.core.version import __version__
from gitreg.store import _git

# 2: parses made by the hardened loader only (duplicate keys, limits, types; see #12).
# 3: and without keys that are not text (``on:`` read as true, see #23).
_CACHE_FORMAT = 3
LARGE_MANIFEST_BYTES = 64 * 1024


def git_dir(root: Path) -> Path:
    """The git directory of the work tree at ``root`` (``.git``, or where its file points)."""
    return _git.git_dir_of(root)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC while building many small objects that hold no cycles.

    Loading the parse cache of 10,000 manifests took 0.5 s, half of it in GC passes
    triggered by the allocations themselves (see #7).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse(text: bytes, path: str) -> Any:
    """``manifest.load``, without PyYAML for a manifest exactly as gitreg writes it (#15)."""
    data = patch.load_canonical(text, path)
    return data if data is not None else manifest.load(text, path)


def load_parsed(state_dir: Path) -> dict[str, Any]:
    """The parse cache: manifest blob id -> parsed YAML (shared by reads and validate)."""
    try:
        raw = (state_dir / "cache.marshal").read_bytes()
        with no_gc():
            fmt, data = marshal.loads(raw)  # our own file in .git, not user input
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return data if fmt == _CACHE_FORMAT and isinstance(data, dict) else {}


def load_large(state_dir: Path, text: bytes, path: str) -> Any:
    """Parse a manifest; a large one (a model with thousands of versions) is parsed once.

    Its parse is kept in ``<gitdir>/gitreg/parsed/<blob id>``: content-addressed, so it is
    never stale, and resolving one alias of a 5,000-version model skips a 1 s parse (#7).
    """
    if len(text) < LARGE_MANIFEST_BYTES:
        return parse(text, path)
    cached = state_dir / "parsed" / f"{_git.blob_id(text)}.marshal"
    with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
        fmt, data = marshal.loads(cached.read_bytes())  # our own file in .git
        if fmt == _CACHE_FORMAT:
            return data
    data = parse(text, path)
    with contextlib.suppress(OSError, ValueError):
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps((_CACHE_FORMAT, data)))
        os.replace(tmp, cached)
    return data


MAX_WRITTEN = 256  # records kept; a 5,000-version model's is 1 MB
# The manifest checks (``validate.CHECKS_VERSION``) a blob passed before it was recorded as
# written: a record made under other checks is not trusted to hold (tests keep them equal).
WRITTEN_CHECKS = 6


def stamp() -> bytes:
    """What a record's ``.ok`` says (and a trusted tree's, ``trusted``): another release
    may check differently."""
    return f"{__version__}:{WRITTEN_CHECKS}".encode()


def remember_written(
    state_dir: Path, oid: str, data: Any | None, replaces: str | None = None
) -> None:
    """Record that blob ``oid`` is what ``manifest.dump`` wrote for ``data`` (see #15).

    The next write of that manifest starts from it without parsing, and patches its text
    (``patch.patch``) instead of re-emitting it. Content-addressed, so never stale. Every
    record also says that the blob passed the manifest checks (``<oid>.ok``): a write that
    rewrites one entry trusts the others to (``trusted_written``, #26). ``data`` None
    records only that. ``replaces`` (the blob this write superseded) is forgotten, and
    at most about MAX_WRITTEN records are kept (the oldest go, see ``_prune_now`` and
    ``prune``): a record only saves a parse.
    """
    with contextlib.suppress(OSError, ValueError):
        directory = state_dir / "written"
        directory.mkdir(parents=True, exist_ok=True)
        if data is not None:
            _replace(directory / f"{oid}.marshal", marshal.dumps((_CACHE_FORMAT, data)))
        _replace(directory / f"{oid}.ok", stamp())
        if replaces is not None and replaces != oid:
            (directory / f"{replaces}.marshal").unlink(missing_ok=True)
            (directory / f"{replaces}.ok").unlink(missing_ok=True)
        if _prune_now(oid):
            prune(directory, MAX_WRITTEN)


def _prune_now(oid: str) -> bool:
    """Whether this record's write checks the count: one in ``MAX_WRITTEN // 16``, by the
    blob id (uniform, so about as often as that). Listing ``written/`` and reading the
    times of its 512 files after every write cost 1 ms of each once a registry had that
    many records, the one write-path cost that grew with the number of models (#26); now
    the directory holds MAX_WRITTEN records plus the few written since the last check."""
    return int(oid[:4], 16) % max(1, MAX_WRITTEN // 16) == 0


def prune(directory: Path, keep: int) -> None:
    """Past ``keep`` records in ``directory`` (a record: the files named ``<oid>`` or
    ``<oid>.<anything>``, here ``.marshal`` and ``.ok``), keep the newest three quarters.

    The records are counted by their names; only past ``keep`` are their times read
    (a ``stat`` per file, 512 at 10,000 models), and the quarter removed then means the
    next ``keep // 4`` new records need no ``stat`` at all (#26)."""
    files = list(os.scandir(directory))
    if len(files) <= keep or len({e.name.split(".", 1)[0] for e in files}) <= keep:
        return
    newest: dict[str, int] = {}
    for entry in files:
        oid = entry.name.split(".", 1)[0]
        newest[oid] = max(newest.get(oid, 0), entry.stat().st_mtime_ns)
    gone = set(sorted(newest, key=newest.__getitem__)[: len(newest) - keep * 3 // 4])
    for entry in files:
        if entry.name.split(".", 1)[0] in gone:
            Path(entry.path).unlink(missing_ok=True)


def _replace(path: Path, content: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def load_written(state_dir: Path, oid: str) -> Any:
    """The data blob ``oid`` was written from by gitreg, or None if gitreg did not write it
    (or kept only that it did, see ``trusted_written``)."""
    try:
        raw = (state_dir / "written" / f"{oid}.marshal").read_bytes()
        with no_gc():
            fmt, data = marshal.loads(raw)  # our own file in .git, not user input
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return data if fmt == _CACHE_FORMAT else None


def trusted_written(state_dir: Path, oid: str) -> bool:
    """Whether gitreg wrote blob ``oid`` itself, having checked it as it checks today."""
    try:
        return (state_dir / "written" / f"{oid}.ok").read_bytes() == stamp()
    except OSError:
        return False


def save_parsed(state_dir: Path, data: Mapping[str, Any]) -> None:
    """Replace the parse cache atomically; a failure only costs the next run a parse."""
    with contextlib.suppress(OSError, ValueError):
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / f"cache.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            marshal.dump((_CACHE_FORMAT, dict(data)), f)
        os.replace(tmp, state_dir / "cache.marshal")
