"""Model names and their file names: what a name may be, and where its manifest lives.

A registered model's name is any name MLflow accepts (not blank, no ``/`` or ``:``, not a
path that would resolve to another name), except control characters, which gitreg refuses
because names reach commit messages, terminals and file names. The manifest's ``name:``
field is the truth; the file ``models/<file stem>.yaml`` is a reversible encoding of it
that is safe on Linux, macOS and Windows (see ``file_stem``). Names are unique
case-insensitively (after Unicode NFC normalization and case folding), because macOS and
Windows checkouts would otherwise merge two files into one.
"""

from __future__ import annotations

import functools
import posixpath
import re
import unicodedata

from gitreg.core.errors import InvalidParameter
from gitreg.core.lazy_re import lazy

MAX_NAME_LENGTH = 256  # MLflow's registered_models.name column
MAX_STEM_BYTES = 250  # 255 bytes for a file name on every file system, minus ".yaml"
_ASCII_SAFE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,+=@()[]{}!~"
)
_ESCAPE = lazy(r"%([0-9A-F]{2})")
# Windows refuses these as file names, with any extension and in any case (COM¹ included).
_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"{p}{d}" for p in ("com", "lpt") for d in "123456789\u00b9\u00b2\u00b3"}
)
_BRANCH_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


# Names made only of these, not starting with "." or "-" nor ending with "." or " ", are
# their own file stem: the common case skips the per-character work (#12's cost on validate).
_PLAIN = re.compile(
    r"[A-Za-z0-9_][A-Za-z0-9_ ,+=@()\[\]{}!~.\-]*[A-Za-z0-9_,+=@()\[\]{}!~\-]|[A-Za-z0-9_]"
)


def _plain(name: str) -> bool:
    return (
        _PLAIN.fullmatch(name) is not None
        and ".." not in name
        and name.split(".", 1)[0].rstrip(" ").casefold() not in _DEVICES
    )


def _problem(name: str) -> str | None:
    """Why ``name`` is not a valid model name, or None."""
    if _plain(name):
        return (
            None
            if len(name) <= MAX_NAME_LENGTH
            else (f"it is longer than {MAX_NAME_LENGTH} characters")
        )
    if not name.strip():
        return "it must not be empty or blank"
    if len(name) > MAX_NAME_LENGTH:
        return f"it is longer than {MAX_NAME_LENGTH} characters"
    if "/" in name or ":" in name:
        return "names cannot contain '/' or ':' (as in MLflow)"
    if any(unicodedata.category(c) in ("Cc", "Cs") or c in "\u2028\u2029" for c in name):
        return "it contains a control character (a newline, a tab, NUL...); remove it"
    normal = posixpath.normpath(name)
    if normal != name or normal == "." or normal.startswith(".."):
        return f"it would resolve to {normal!r} when treated as a path (as MLflow refuses)"
    if len(file_stem(name).encode()) > MAX_STEM_BYTES:
        return (
            f"its file name would exceed {MAX_STEM_BYTES} bytes (non-ASCII characters take "
            "several); choose a shorter name"
        )
    return None


def check_name(name: object, what: str = "model name") -> str:
    """Return ``name`` if it is a valid registered-model name, else raise InvalidParameter."""
    if name is None or name == "":  # MLflow's words, with its argument's name (#16)
        param = "new_name" if what.startswith("new") else "name"
        raise InvalidParameter(f"Missing value for required parameter '{param}'.")
    if not isinstance(name, str):
        raise InvalidParameter(f"Invalid {what}: {name!r}; it must be a non-empty string")
    problem = _problem(name)
    if problem:
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise InvalidParameter(f"Invalid {what} {shown!r}: {problem}")
    return name


def name_key(name: str) -> str:
    """The key two names collide on: NFC-normalized and case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def _escape(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def _literal(char: str, ascii_only: bool) -> bool:
    if char in _ASCII_SAFE:
        return True
    return not ascii_only and not char.isascii() and char.isalnum()


def file_stem(name: str) -> str:
    """The manifest's file name (without ``.yaml``) for ``name``: reversible, portable.

    Letters, digits, spaces and ``_-.,+=@()[]{}!~`` stay as they are (letters and digits
    of any script, when the name is in Unicode NFC form); every other character becomes
    ``%XX`` for each byte of its UTF-8 encoding (``%`` itself too). A leading ``.`` or
    ``-``, a trailing ``.`` or space, and the first character of a Windows device name
    (``con``, ``nul``, ``com1``...) are encoded as well.
    """
    if _plain(name):
        return name
    ascii_only = unicodedata.normalize("NFC", name) != name
    chars = [c if _literal(c, ascii_only) else _escape(c) for c in name]
    if chars and chars[0] in (".", "-"):
        chars[0] = _escape(chars[0])
    if chars and chars[-1] in (".", " "):
        chars[-1] = _escape(chars[-1])
    if name.split(".", 1)[0].rstrip(" ").casefold() in _DEVICES:
        chars[0] = _escape(name[0])
    return "".join(chars)


@functools.lru_cache(maxsize=65536)
def name_of_stem(stem: str) -> str | None:
    """The name whose file stem is ``stem``, or None if ``stem`` is no name's encoding."""
    if _plain(stem):
        return stem if len(stem) <= MAX_NAME_LENGTH else None
    name = _decode_mixed(stem)
    if name is None or _problem(name) is not None or file_stem(name) != stem:
        return None
    return name


def _decode_mixed(stem: str) -> str | None:
    """Decode ``%XX`` runs as UTF-8 while keeping literal non-ASCII characters as they are."""
    out: list[str] = []
    pending = bytearray()
    index = 0
    while index < len(stem):
        match = _ESCAPE.match(stem, index)
        if match:
            pending.append(int(match.group(1), 16))
            index = match.end()
            continue
        if pending:
            try:
                out.append(pending.decode("utf-8"))
            except UnicodeDecodeError:
                return None
            pending.clear()
        out.append(stem[index])
        index += 1
    if pending:
        try:
            out.append(pending.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return "".join(out)


def branch_component(name: str) -> str:
    """``name`` as one safe component of a git branch name (ASCII; ``%XX`` for the rest)."""
    return "".join(c if c in _BRANCH_SAFE else _escape(c) for c in name)


def name_of_branch_component(component: str) -> str | None:
    """The model name a request branch's component encodes, or None."""
    name = _decode_mixed(component)
    return name if name is not None and branch_component(name) == component else None
