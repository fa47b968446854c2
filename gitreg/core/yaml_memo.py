"""gitreg.yaml parsed once per text, and remembered across processes by a CLI write (#26).

Every write reads the policy in gitreg.yaml; parsing it is cheap, but importing PyYAML to
do so was a tenth of a cold ``gitreg register``. What the safe loader (``_safe_yaml``, with
its limits) made of a text is kept here under the SHA-256 of that text, so the same text
never needs PyYAML again: ``manifest.load`` asks ``recall`` first and tells ``remember``
what the loader parsed. A text is its own key, so an edited gitreg.yaml (or one a pull
brought) is parsed by the loader like any other; the key is salted with who parsed it
(gitreg's version, the loader's files, PyYAML's), so an upgrade parses again; only what the
loader accepted is kept, and every caller gets its own copy (a thawed ``marshal`` image),
never shared state.

The same goes for the one piece of PyYAML a write's patcher asks (``manifest.implicit_tag``):
the implicit resolvers of the installed PyYAML's dumper, kept as their patterns under the
identity of PyYAML's ``resolver.py`` (``resolver_table``), so a reinstall is noticed.

The CLI's write path (``gitreg._entry_write``) fills the memo from ``.git/gitreg`` before a
write (``read_file``) and saves what the write parsed afterwards (``save_file``): a local
cache in the clone's git directory, as trusted as the repository it sits in. A memo file
that cannot be read is ignored; it holds at most ``_KEEP`` texts.
"""

from __future__ import annotations

import _thread
import functools
import marshal
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard

from gitreg.core import sha

MEMO_FILE = "yaml.marshal"
REMEMBERED = ("gitreg.yaml",)  # the one file every write parses whole; manifests are patched
_KEEP = 8
_KNOWN: dict[bytes, bytes] = {}  # sha256 of the text -> marshal image of what it parsed to
# (first character, tag, pattern, flags) of the dumper's implicit resolvers, and whose.
Resolvers = list[tuple[str | None, str, str, int]]
_RESOLVERS: dict[str, tuple[tuple[object, ...], Resolvers]] = {}
_FRESH: set[bytes] = set()  # parsed in this process and not saved yet
_LOCK = _thread.allocate_lock()  # a server parses from several threads (#25)


def _key(text: str | bytes) -> bytes:
    """The text's key: its SHA-256, salted with which loader parsed it (``_loader``)."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    digest: bytes = sha.sha256(_loader() + data).digest()
    return digest


@functools.cache
def _loader() -> bytes:
    """Who parses: gitreg's version, its loader's and limits' files, and PyYAML's. A text
    parsed by another gitreg or PyYAML (upgraded, reinstalled, edited) is parsed again."""
    from gitreg.core.version import __version__

    here = Path(__file__).parent
    files: list[tuple[object, ...]] = []
    for name in ("_safe_yaml.py", "yaml_limits.py"):
        try:
            st = (here / name).stat()
            files.append((name, st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            files.append((name, None))
    return repr(("gitreg-yaml-1", __version__, files, _pyyaml())).encode() + b"\0"


def recall(text: str | bytes, path: str) -> tuple[bool, Any]:
    """``(True, data)`` when the loader already parsed this ``text`` of ``path`` to ``data``."""
    if path not in REMEMBERED or not _KNOWN:
        return False, None
    image = _KNOWN.get(_key(text))
    return (False, None) if image is None else (True, marshal.loads(image))


def remember(text: str | bytes, path: str, data: Any) -> None:
    """Keep what the safe loader parsed ``text`` of ``path`` to (plain data only)."""
    if path not in REMEMBERED:
        return
    try:
        image = marshal.dumps(data)
    except ValueError:  # not plain data: never the case for what the loader returns
        return
    key = _key(text)
    with _LOCK:
        _KNOWN.pop(key, None)
        _KNOWN[key] = image
        _FRESH.add(key)
        while len(_KNOWN) > _KEEP:
            oldest = next(iter(_KNOWN))
            del _KNOWN[oldest]
            _FRESH.discard(oldest)


@functools.cache
def _pyyaml() -> tuple[object, ...] | None:
    """Which PyYAML is installed, found without importing it: its resolver's file identity."""
    # importlib.machinery's PathFinder is the import system's own, always loaded: asked
    # where it lives, not through importlib (two modules, 0.15 ms of a cold write, #26).
    finder = getattr(sys.modules.get("_frozen_importlib_external"), "PathFinder", None)
    if finder is None:
        import importlib.machinery

        finder = importlib.machinery.PathFinder
    spec = finder.find_spec("yaml")
    if spec is None or not spec.submodule_search_locations:
        return None
    resolver = Path(next(iter(spec.submodule_search_locations))) / "resolver.py"
    try:
        st = resolver.stat()
    except OSError:
        return None
    return (str(resolver), st.st_mtime_ns, st.st_size, st.st_ino)


def resolver_table(build: Callable[[], Resolvers]) -> Resolvers:
    """The implicit resolvers ``build`` reads from PyYAML, remembered for this PyYAML."""
    identity = _pyyaml()
    known = _RESOLVERS.get("dumper")
    if identity is not None and known is not None and known[0] == identity:
        return known[1]
    table = build()
    if identity is not None:
        with _LOCK:
            _RESOLVERS["dumper"] = (identity, table)
            _FRESH.add(b"resolvers")
    return table


def read_file(state_dir: Path) -> None:
    """Know what a memo file in ``state_dir`` (``.git/gitreg``) holds; ignore one unreadable."""
    try:
        with open(state_dir / MEMO_FILE, "rb") as f:
            found = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return
    if not isinstance(found, dict):
        return
    texts, resolvers = found.get("texts"), found.get("resolvers")
    with _LOCK:
        if isinstance(texts, dict):
            for key, image in list(texts.items())[-_KEEP:]:
                if isinstance(key, bytes) and isinstance(image, bytes) and key not in _KNOWN:
                    _KNOWN[key] = image
        if _well_formed(resolvers) and "dumper" not in _RESOLVERS:
            _RESOLVERS["dumper"] = resolvers


def _well_formed(resolvers: object) -> TypeGuard[tuple[tuple[object, ...], Resolvers]]:
    if not isinstance(resolvers, tuple) or len(resolvers) != 2:
        return False
    identity, table = resolvers
    return (
        isinstance(identity, tuple)
        and isinstance(table, list)
        and all(
            isinstance(row, tuple)
            and len(row) == 4
            and (row[0] is None or isinstance(row[0], str))
            and isinstance(row[1], str)
            and isinstance(row[2], str)
            and isinstance(row[3], int)
            for row in table
        )
    )


def save_file(state_dir: Path) -> None:
    """Write the memo to ``state_dir`` when this process parsed something new (atomic)."""
    with _LOCK:
        if not _FRESH:
            return
        image = marshal.dumps({"texts": dict(_KNOWN), "resolvers": _RESOLVERS.get("dumper")})
        _FRESH.clear()
    temp = state_dir / f"{MEMO_FILE}.{os.getpid()}.tmp"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(image)
        os.replace(temp, state_dir / MEMO_FILE)
    except OSError:  # a read-only clone: the next write parses again
        temp.unlink(missing_ok=True)
