"""The compiled ``__init__`` of each record class, kept beside gitreg's bytecode (#26).

``core.record`` writes one ``__init__`` per record class from a small generated source and
compiles it: 25 classes on the write path, some 3 ms of a cold ``gitreg register`` spent
compiling the same sources in every new process. A source is compiled once here and the
code object kept under the exact source text, in a file next to ``record``'s own cached
bytecode (``__pycache__/record.<cache tag>.inits``): what Python does for the module
itself (a ``.pyc``), done for the methods the module generates. The file names the
interpreter's bytecode magic number; one from another interpreter, one that cannot be
read or is not a mapping of source to code is ignored (everything is compiled again), and
nothing is written where Python writes no bytecode (``PYTHONDONTWRITEBYTECODE``, ``-B``)
or the package cannot be written. Only the CLI's write path saves it (``save``).
"""

from __future__ import annotations

import marshal
import os
import sys
from types import CodeType

_FILENAME = "<gitreg.core.record>"
_codes: dict[str, CodeType] | None = None
_fresh = False


def compiled(source: str) -> CodeType:
    """``compile(source, ...)`` as ``record`` compiles an ``__init__``, kept across processes."""
    global _codes, _fresh
    if _codes is None:
        _codes = _load()
    code = _codes.get(source)
    if code is None:
        code = compile(source, _FILENAME, "exec")
        _codes[source] = code
        _fresh = True
    return code


def _path() -> str:
    tag = sys.implementation.cache_tag or "none"
    return os.path.join(os.path.dirname(__file__), "__pycache__", f"record.{tag}.inits")


def _magic() -> bytes:
    bootstrap = sys.modules.get("_frozen_importlib_external")
    magic = getattr(bootstrap, "MAGIC_NUMBER", None)
    return magic if isinstance(magic, bytes) else b""


def _load() -> dict[str, CodeType]:
    try:
        with open(_path(), "rb") as f:
            found = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(found, tuple) or len(found) != 2 or found[0] != _magic() or not _magic():
        return {}
    codes = found[1]
    if not isinstance(codes, dict) or not all(
        isinstance(k, str) and isinstance(v, CodeType) and v.co_filename == _FILENAME
        for k, v in codes.items()
    ):
        return {}
    return codes


def save() -> None:
    """Write what this process compiled anew, as Python writes bytecode (atomically)."""
    global _fresh
    if not _fresh or _codes is None or sys.dont_write_bytecode or not _magic():
        return
    _fresh = False
    path = _path()
    temp = f"{path}.{os.getpid()}.tmp"
    try:
        image = marshal.dumps((_magic(), _codes))
        with open(temp, "wb") as f:
            f.write(image)
        os.replace(temp, path)
    except (OSError, ValueError):
        try:
            os.unlink(temp)
        except OSError:
            return
