"""YAML in and out: the only module that imports yaml (with its private loader, ``_safe_yaml``).

Loading is safe (never a full loader) and keeps timestamps as text; dumping is deterministic
and minimal-diff: keys keep the order of the file being rewritten, so a change shows up as the
few lines it really changes in a pull request. The safe loader is ``_safe_yaml`` and its limits
are ``yaml_limits`` (both re-exported here); patching a manifest's text in place and reading
gitreg's own text back without PyYAML are in ``patch``. PyYAML itself is imported only when a
text is parsed or dumped through it: a CLI write finds gitreg.yaml and the dumper's resolvers
in ``yaml_memo`` (#26).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import plain_tag, yaml_memo
from gitreg.core.errors import InvalidManifest
from gitreg.core.yaml_limits import MAX_DEPTH as MAX_DEPTH
from gitreg.core.yaml_limits import MAX_FILE_BYTES as MAX_FILE_BYTES
from gitreg.core.yaml_limits import MAX_NODES as MAX_NODES
from gitreg.core.yaml_limits import MAX_SHARED as MAX_SHARED

if TYPE_CHECKING:
    import yaml

# PyYAML and the safe loader are imported when a text is parsed or dumped through them:
# a CLI write patches a manifest's text and finds gitreg.yaml in ``yaml_memo`` (#26).


def load(text: str | bytes, path: str) -> Any:
    """Parse YAML safely and within the limits (``_safe_yaml.load``); any problem is one
    InvalidManifest line naming ``path``, the line when there is one, and the fix."""
    known, data = yaml_memo.recall(text, path)
    if known:
        return data
    from gitreg.core import _safe_yaml

    data = _safe_yaml.load(text, path)
    yaml_memo.remember(text, path, data)
    return data


def load_mapping(text: str | bytes, path: str) -> dict[str, Any]:
    """Parse a YAML file whose top level must be a mapping."""
    data = load(text, path)
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "empty"
        raise InvalidManifest(f"{path}:1: expected a mapping at the top level, got {kind}")
    return data


def line_of(text: str | bytes, location: Sequence[str | int]) -> int | None:
    """The 1-based line of the node at ``location`` (keys and list indexes), or of its parent."""
    from gitreg.core import _safe_yaml

    return _safe_yaml.line_of(text, location)


@functools.cache
def _dumper() -> type[yaml.SafeDumper]:
    """Block style, indented sequences, no anchors, literal blocks for multi-line text."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            super().increase_indent(flow, False)

    _Dumper.add_representer(str, _represent_str)
    return _Dumper


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_SCALARS = (str, int, float, bool, type(None))


def _ordered_like(data: Any, like: Any) -> Any:
    """``data`` with mapping keys in ``like``'s order first, new keys after in their own order."""
    if type(data) in _SCALARS:  # most nodes; an ABC check per scalar cost 5,000-version files
        return data
    if isinstance(data, Mapping):
        if not isinstance(like, Mapping):
            return {k: _ordered_like(v, None) for k, v in data.items()}
        return {
            k: v if type(v := data[k]) in _SCALARS else _ordered_like(v, like.get(k))
            for k in _merge_keys(list(data), like)
        }
    if isinstance(data, list):
        by_version = _index_by_version(like)
        first = like[0] if isinstance(like, list) and like else None
        return [_ordered_like(item, _match_item(item, by_version, first)) for item in data]
    return data


def _merge_keys(canonical: list[Any], like: Mapping[Any, Any]) -> list[Any]:
    """The old file's keys in its order; a new key goes right after its canonical predecessor."""
    if len(like) == len(canonical) and list(like) == canonical:
        return canonical
    keys = [k for k in like if k in canonical]
    for index, key in enumerate(canonical):
        if key in keys:
            continue
        before = next((k for k in reversed(canonical[:index]) if k in keys), None)
        keys.insert(keys.index(before) + 1 if before is not None else 0, key)
    return keys


def _index_by_version(like: Any) -> dict[Any, Any]:
    """The old list's items by their ``version`` (one pass: a 5,000-version file is linear)."""
    if not isinstance(like, list):
        return {}
    return {old["version"]: old for old in like if isinstance(old, Mapping) and "version" in old}


def _match_item(item: Any, by_version: Mapping[Any, Any], first: Any) -> Any:
    """The element of the old list that ``item`` corresponds to (same ``version``), if any."""
    if isinstance(item, Mapping) and "version" in item:
        return by_version.get(item["version"], first)
    return first


def dump(data: Mapping[str, Any], like: Any = None) -> str:
    """Deterministic YAML for ``data``, keeping the key order of ``like`` (the old content)."""
    fast = dump_fast(data, like)
    return fast if fast is not None else _dump_yaml(data, like)


def _dump_yaml(data: Mapping[str, Any], like: Any = None) -> str:
    """``dump`` through PyYAML's emitter: any shape, the reference for ``dump_fast``."""
    import yaml

    ordered = _ordered_like(data, like)
    text: str = yaml.dump(
        ordered,
        Dumper=_dumper(),
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=10_000,
    )
    return text if text.endswith("\n") else text + "\n"


def open_temp(path: Path) -> tuple[Path, int]:
    """A new temporary file beside ``path`` (``.<name>.<random>.tmp``, which recovery
    removes), open for writing, with the mode git gives a file it checks out (see
    ``write_atomic``): its path and descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (UTF-8 bytes, or a str) to ``path`` via a temp file in the same
    directory and ``os.replace``.

    The file gets the mode git gives a file it checks out, 0666 less the umask: created by
    ``os.open`` with that mode, not ``mkstemp`` (always 0600), so a shared checkout stays
    readable by the group the umask allows (#16).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = open_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode("utf-8"))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def replace_section(text: str | bytes, key: str, value: Any) -> str:
    """``text`` with its top-level ``key`` set to ``value`` (None removes it), nothing else.

    The rest of the file, comments included, is kept byte for byte: only the lines of that
    one section are rewritten, so a change made through an API (MLflow's webhook API writes
    ``notifications``) is a small diff in review. If the splice would change anything else,
    the whole mapping is dumped instead.
    """
    source = text.decode() if isinstance(text, bytes) else text
    lines = source.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _is_top_key(line, key)), None)
    block = [] if value is None else dump({key: value}).splitlines(keepends=True)
    if start is None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        result = "".join(lines + block)
    else:
        end = start + 1
        while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#"):
            end += 1
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1][0] == "#"):
            end -= 1  # blank lines and column-0 comments before the next key belong to it
        result = "".join(lines[:start] + block + lines[end:])
    data = load(source, "gitreg.yaml") or {}
    expected = {k: v for k, v in data.items() if k != key}
    if value is not None:
        expected[key] = value
    if load(result, "gitreg.yaml") != expected:
        return dump(expected, like=data)
    return result


def _is_top_key(line: str, key: str) -> bool:
    return line.startswith(f"{key}:") or line.startswith(f"{key} :")


# ------------------------------------------------------------------ fast dumping (#15)
#
# PyYAML's emitter is pure Python: re-emitting a 5,000-version manifest took 3.2 s, and
# even a three-version one costs milliseconds, more than the rest of a write. ``dump_fast``
# writes the shapes gitreg itself produces (block mappings and lists of mappings, short
# ASCII strings, numbers, booleans) directly, and answers None for anything else, so that
# ``dump`` takes PyYAML's path; ``patch`` rewrites only the parts of a manifest that
# changed. tests/test_manifest_patch.py checks both byte for byte against PyYAML.

_PRINTABLE_ASCII = frozenset(chr(c) for c in range(0x20, 0x7F))
_MAX_FAST_SCALAR = 1000  # far below the emitter's line width, so it never folds one
STR_TAG = "tag:yaml.org,2002:str"


@functools.lru_cache(maxsize=8192)  # keys and stage names repeat in every manifest
def implicit_tag(text: str) -> str:
    """The type the dumper's resolver gives ``text`` written plain (as the emitter asks)."""
    known = plain_tag.tag(text, _plain_table())  # the usual shapes need no regex (#26)
    if known is not None:
        return known
    for tag, regexp in _resolvers(text[0] if text else "") + _resolvers(None):
        if regexp.match(text):
            return tag
    return STR_TAG


@functools.cache
def _plain_table() -> plain_tag.Table:
    return plain_tag.Table(_table())


@functools.cache
def _resolvers(first: str | None) -> list[tuple[str, re.Pattern[str]]]:
    """The dumper's implicit resolvers for plain text starting with ``first``, compiled when
    first asked (``yaml_memo`` keeps their patterns: a write need not import PyYAML)."""
    table = _table()
    return [(tag, re.compile(pattern, flags)) for key, tag, pattern, flags in table if key == first]


@functools.cache
def _table() -> yaml_memo.Resolvers:
    """The resolver table, asked of ``yaml_memo`` once per process (it finds PyYAML's files)."""
    return yaml_memo.resolver_table(_resolver_table)


def _resolver_table() -> yaml_memo.Resolvers:
    """PyYAML's dumper's implicit resolvers as plain data: (first, tag, pattern, flags)."""
    return [
        (first, str(tag), regexp.pattern, regexp.flags)
        for first, pairs in _dumper().yaml_implicit_resolvers.items()
        for tag, regexp in pairs
    ]


def _block_indicators(text: str) -> bool:
    """Whether plain ``text`` would read differently in a block (PyYAML's analysis, ASCII)."""
    if text.startswith(("---", "...")) or text[0] in "#,[]{}&*!|>'\"%@`":
        return True
    if text[0] in "?:-" and text[1:2] in ("", " "):
        return True
    return ": " in text or " #" in text or text.endswith(":")


@functools.lru_cache(maxsize=8192)
def _fast_str(text: str) -> str | None:
    """``text`` as the dumper writes it (plain or single-quoted), or None if unsure."""
    if len(text) > _MAX_FAST_SCALAR or not _PRINTABLE_ASCII.issuperset(text):
        return None
    if (
        text
        and text[0] != " "
        and text[-1] != " "
        and not _block_indicators(text)
        and implicit_tag(text) == STR_TAG
    ):
        return text
    return "'" + text.replace("'", "''") + "'"


def _fast_scalar(value: Any) -> str | None:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if value != value or value in (float("inf"), float("-inf")):
            return None
        text = repr(value).lower()
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    if type(value) is str:
        return _fast_str(value)
    return None


def fast_key(key: Any) -> str | None:
    text = _fast_scalar(key) if type(key) is str else None
    return text if text is not None and len(text) < 128 and text == key else None


def fast_lines(data: Mapping[Any, Any], indent: str, out: list[str]) -> bool:
    """Append the block mapping ``data`` at ``indent``; False if it holds an unusual shape."""
    for key, value in data.items():
        name = fast_key(key)
        if name is None or not _fast_value(name, value, indent, out):
            return False
    return True


def _fast_value(name: str, value: Any, indent: str, out: list[str]) -> bool:
    if isinstance(value, (dict, list)) and not value:
        out.append(f"{indent}{name}: {'{}' if isinstance(value, dict) else '[]'}\n")
        return True
    if isinstance(value, dict):
        out.append(f"{indent}{name}:\n")
        return fast_lines(value, indent + "  ", out)
    if isinstance(value, list):
        out.append(f"{indent}{name}:\n")
        return all(fast_item(item, indent + "  ", out) for item in value)
    text = _fast_scalar(value)
    if text is None:
        return False
    out.append(f"{indent}{name}: {text}\n")
    return True


def fast_item(item: Any, indent: str, out: list[str]) -> bool:
    """Append one list item: a scalar, or a non-empty mapping (``- key: value`` ...)."""
    if isinstance(item, dict) and item:
        start = len(out)
        if not fast_lines(item, indent + "  ", out):
            return False
        out[start] = f"{indent}- {out[start][len(indent) + 2 :]}"
        return True
    if isinstance(item, (dict, list)):
        return False
    text = _fast_scalar(item)
    if text is None:
        return False
    out.append(f"{indent}- {text}\n")
    return True


def dump_fast(data: Mapping[str, Any], like: Any = None) -> str | None:
    """What ``dump(data, like)`` returns, written without PyYAML; None for unusual shapes."""
    out: list[str] = []
    if not isinstance(data, dict) or not data:
        return None
    return "".join(out) if fast_lines(ordered_like(data, like), "", out) else None


def ordered_like(data: Any, like: Any) -> Any:
    """``data`` with mapping keys in ``like``'s order: the structure ``dump`` writes."""
    return _ordered_like(data, like)
