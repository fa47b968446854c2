"""A CLI write's modules, their bytecode kept in one file beside gitreg's own (#26).

A plain ``gitreg register`` loads some seventy of gitreg's modules. For each, Python's
import system looks the name up in its package's folder, checks the source's stat data,
opens, reads and checks the ``.pyc``: a few milliseconds of every write's start spent
finding again what the last one found. This module keeps the bytecode of the modules a
write loaded in one file, ``gitreg/__pycache__/write.<cache tag>.code``, and serves them
from it to the next write's process, under the same checks Python makes:

- the file names the interpreter's bytecode magic number (another interpreter's is
  ignored);
- each module's bytecode is kept with its source file's modification time (in
  nanoseconds) and size, and used only while the source still has exactly those; a
  module whose source changed is imported the usual way (and the file written again);
- the folders of the modules are kept with their modification times: a file added to or
  removed from one (a new module that could shadow another, a deleted one) makes the
  whole file unused, as Python's own folder cache is renewed by a folder's time.

Only the modules of gitreg's own package folder are served, from the paths the import
system would have found them at; a module is a real source module (``__file__``,
``__cached__``, its loader a ``SourceFileLoader``), as if imported from its ``.pyc``. A file
that cannot be read or is not what this module writes is ignored; nothing is written where
Python writes no bytecode (``PYTHONDONTWRITEBYTECODE``, ``-B``) or the package cannot be
written. Only the CLI's write path uses it (``install``, ``save``).
"""

from __future__ import annotations

import _imp
import marshal
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, SourceFileLoader
from types import CodeType, ModuleType

_KIND = "gitreg-write-code-1"
_ROOT = os.path.dirname(os.path.abspath(__file__))

# module name -> (path under the package folder, is a package, source mtime_ns, size, code)
_Entry = tuple[str, bool, int, int, bytes]

_finder: _Finder | None = None


class _Loader(SourceFileLoader):
    """A source module's loader that has its bytecode already (checked by the finder)."""

    def __init__(self, fullname: str, path: str, code: bytes) -> None:
        super().__init__(fullname, path)
        self._code: bytes | None = code
        self.served = False  # whether the module was made from the kept bytecode

    def get_code(self, fullname: str) -> CodeType | None:
        code, self._code = self._code, None
        if fullname == self.name and code is not None:
            try:
                loaded = marshal.loads(code)
            except (ValueError, EOFError, TypeError):
                loaded = None  # damaged: the module is read as Python reads it
            if isinstance(loaded, CodeType):
                fix = getattr(_imp, "_fix_co_filename", None)
                if fix is not None:
                    fix(loaded, self.path)  # tracebacks name this file, as from a .pyc
                self.served = True
                return loaded
            if _finder is not None:  # kept anew by this process's ``save``
                _finder.entries.pop(fullname, None)
        return super().get_code(fullname)


class _Finder:
    """Finds the kept modules whose sources are unchanged; None (the usual way) else."""

    def __init__(self, entries: dict[str, _Entry]) -> None:
        self.entries = entries
        self.stale = False  # a kept module's source changed: write the file again

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        entry = self.entries.get(fullname)
        if entry is None:
            return None
        relative, package, mtime, size, code = entry
        origin = os.path.join(_ROOT, relative)
        try:
            st = os.stat(origin)
        except OSError:
            st = None
        if st is None or st.st_mtime_ns != mtime or st.st_size != size:
            self.stale = True
            return None
        spec = ModuleSpec(fullname, _Loader(fullname, origin, code), origin=origin)
        spec.has_location = True
        if package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec


def _path() -> str:
    tag = sys.implementation.cache_tag or "none"
    return os.path.join(_ROOT, "__pycache__", f"write.{tag}.code")


def _magic() -> bytes:
    bootstrap = sys.modules.get("_frozen_importlib_external")
    magic = getattr(bootstrap, "MAGIC_NUMBER", None)
    return magic if isinstance(magic, bytes) else b""


def _folders_unchanged(folders: object) -> bool:
    if not isinstance(folders, dict) or not folders:
        return False
    for relative, mtime in folders.items():
        try:
            if os.stat(os.path.join(_ROOT, relative)).st_mtime_ns != mtime:
                return False
        except (OSError, TypeError, ValueError):
            return False
    return True


def _well_formed(entries: object) -> bool:
    return isinstance(entries, dict) and all(
        isinstance(name, str)
        and name.startswith("gitreg.")
        and isinstance(entry, tuple)
        and len(entry) == 5
        and isinstance(entry[0], str)
        and not os.path.isabs(entry[0])
        and ".." not in entry[0].split(os.sep)
        and entry[0].endswith(".py")
        and isinstance(entry[1], bool)
        and isinstance(entry[2], int)
        and isinstance(entry[3], int)
        and isinstance(entry[4], bytes)
        for name, entry in entries.items()
    )


def _load() -> dict[str, _Entry] | None:
    """The kept modules, or None (no file, another interpreter's, damaged, a folder changed)."""
    try:
        with open(_path(), "rb") as f:
            found = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    magic = _magic()
    if not (isinstance(found, tuple) and len(found) == 4 and magic):
        return None
    kind, version, folders, entries = found
    if kind != _KIND or version != magic or not _folders_unchanged(folders):
        return None
    return entries if _well_formed(entries) else None


def install() -> None:
    """Serve the kept modules to this process's imports (once; a no-op without a file)."""
    global _finder
    if _finder is not None:
        return
    entries = _load()
    _finder = _Finder(entries or {})
    if entries:
        sys.meta_path.insert(0, _finder)


def _code(origin: str, size: int, mtime_ns: int) -> bytes | None:
    """The module's bytecode: its ``.pyc`` when that is Python's for exactly this source
    (as the import system checks it), else the source compiled here."""
    from importlib.util import cache_from_source

    magic = _magic()
    try:
        with open(cache_from_source(origin), "rb") as f:
            data = f.read()
        if (
            data[:4] == magic
            and data[4:8] == b"\0\0\0\0"  # timestamp-checked, as Python writes it by default
            and int.from_bytes(data[8:12], "little") == (mtime_ns // 1_000_000_000) & 0xFFFFFFFF
            and int.from_bytes(data[12:16], "little") == size & 0xFFFFFFFF
        ):
            return data[16:]
    except (OSError, NotImplementedError, ValueError):
        pass
    try:
        with open(origin, "rb") as f:
            source = f.read()
        if len(source) != size:
            return None  # changed meanwhile: kept at a later write
        return marshal.dumps(compile(source, origin, "exec", dont_inherit=True))
    except (OSError, SyntaxError, ValueError):
        return None


def _origin(module: object) -> str | None:
    """The source file of a module of gitreg's folder loaded from source, or None."""
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None)
    if (
        not isinstance(origin, str)
        or not isinstance(getattr(spec, "loader", None), SourceFileLoader)
        or not origin.endswith(".py")
        or not origin.startswith(_ROOT + os.sep)
    ):
        return None
    return origin


def _modules() -> list[tuple[str, ModuleType, str]]:
    """gitreg's source modules this process loaded: (name, module, source file)."""
    found = []
    for name, module in list(sys.modules.items()):
        origin = _origin(module) if name.startswith("gitreg.") else None
        if origin is not None:
            found.append((name, module, origin))
    return found


def _entry(module: ModuleType, origin: str) -> _Entry | None:
    """The entry of a loaded source module of gitreg's folder, or None."""
    spec = module.__spec__
    try:
        st = os.stat(origin)
    except OSError:
        return None
    code = _code(origin, st.st_size, st.st_mtime_ns)
    if code is None:
        return None
    package = spec is not None and spec.submodule_search_locations is not None
    return os.path.relpath(origin, _ROOT), package, st.st_mtime_ns, st.st_size, code


def _current(entry: _Entry) -> bool:
    """Whether a kept module's source still has the stat data it was kept with."""
    try:
        st = os.stat(os.path.join(_ROOT, entry[0]))
    except OSError:
        return False
    return st.st_mtime_ns == entry[2] and st.st_size == entry[3]


def _gathered(finder: _Finder, loaded: list[tuple[str, ModuleType, str]]) -> dict[str, _Entry]:
    """What the file keeps next: the modules other commands loaded (still current), and
    this process's (register, transition and alias load a few different ones)."""
    entries = {name: entry for name, entry in finder.entries.items() if _current(entry)}
    for name, module, origin in loaded:
        if name not in entries:
            entry = _entry(module, origin)
            if entry is not None:
                entries[name] = entry
    return entries


def _folders(entries: dict[str, _Entry]) -> dict[str, int] | None:
    folders: dict[str, int] = {}
    for entry in entries.values():
        folder = os.path.dirname(entry[0])
        if folder not in folders:
            try:
                folders[folder] = os.stat(os.path.join(_ROOT, folder)).st_mtime_ns
            except OSError:
                return None
    return folders


def save() -> None:
    """Keep the bytecode of the gitreg modules this process loaded when the file lacked one
    or held a changed one (or was not there): written whole, then renamed into place."""
    finder = _finder
    if finder is None or sys.dont_write_bytecode or not _magic():
        return
    if not os.access(os.path.dirname(_path()), os.W_OK):
        return  # an installation this user cannot write: nothing to gather for nothing
    loaded = _modules()
    if not finder.stale and all(name in finder.entries for name, _m, _o in loaded):
        return
    finder.stale = False
    entries = _gathered(finder, loaded)
    folders = _folders(entries)
    if not entries or folders is None:
        return
    finder.entries = entries
    path = _path()
    temp = f"{path}.{os.getpid()}.tmp"
    try:
        image = marshal.dumps((_KIND, _magic(), folders, entries))
        with open(temp, "wb") as f:
            f.write(image)
        os.replace(temp, path)
    except (OSError, ValueError):
        try:
            os.unlink(temp)
        except OSError:
            return
