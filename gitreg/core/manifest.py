"""YAML in and out: the only module that imports yaml.

Loading is safe (never a full loader) and keeps timestamps as text; dumping is deterministic
and minimal-diff: keys keep the order of the file being rewritten, so a change shows up as the
few lines it really changes in a pull request.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from gitreg.core.errors import InvalidManifest

try:
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader


# Limits on what a manifest may be (see #12 and the README's "Limits"): every manifest and
# every pull request is hostile until checked, so a file is refused, in bounded time and
# memory, before anything processes what it would expand to.
MAX_FILE_BYTES = 4 * 1024 * 1024  # about 12,000 versions; gitreg.yaml has the same bound
MAX_DEPTH = 32  # a manifest is 5 levels deep; nesting beyond this is an attack
MAX_NODES = 1_000_000  # values after expanding aliases (a "billion laughs" has 10^9)
MAX_SHARED = 100  # mappings and lists reached through an alias; gitreg never writes one
_REFUSED_TAGS = (
    "tag:yaml.org,2002:binary",
    "tag:yaml.org,2002:set",
    "tag:yaml.org,2002:omap",
    "tag:yaml.org,2002:pairs",
    "tag:yaml.org,2002:timestamp",
)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader: timestamps stay text, duplicate keys and exotic tags are errors."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key_node.value!r} (a mapping may name each key once)",
                        key_node.start_mark,
                    )
                seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping


def _refuse_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None,
        None,
        f"unsupported YAML type {node.tag.rsplit(':', 1)[-1]!r}; use plain text, numbers, "
        "lists and mappings",
        node.start_mark,
    )


for _tag in _REFUSED_TAGS:
    _Loader.add_constructor(_tag, _refuse_tag)

# Unquoted ISO timestamps stay strings: the schema says created_at is text.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


class _Dumper(yaml.SafeDumper):
    """Block style, indented sequences, no anchors, literal blocks for multi-line text."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _represent_str)


def load(text: str | bytes, path: str) -> Any:
    """Parse YAML safely and within the limits above; any problem is one InvalidManifest line.

    The message names ``path``, the line when there is one, and the fix.
    """
    if len(text) > MAX_FILE_BYTES:
        raise InvalidManifest(
            f"{path}: the file is {len(text):,} bytes, above gitreg's limit of "
            f"{MAX_FILE_BYTES:,}; shorten descriptions and tags, or split the model"
        )
    try:
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = _one_line(e.problem or e.context or "invalid YAML")
        kind = (
            "YAML error"
            if isinstance(e, yaml.constructor.ConstructorError)
            else ("YAML syntax error")
        )
        raise InvalidManifest(f"{path}:{line}: {kind}: {problem}; fix the YAML at that line") from e
    except yaml.YAMLError as e:  # the reader: bytes that are not UTF-8, NUL, control bytes
        raise InvalidManifest(f"{path}: not readable as YAML: {_one_line(str(e))}") from e
    except RecursionError as e:
        raise InvalidManifest(f"{path}: nested too deeply; a manifest is a few levels") from e
    shape = _shape_problem(data)
    if shape:
        raise InvalidManifest(f"{path}: {shape}")
    return data


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


_SCALARS = (str, int, float, bool, type(None))


def _shape_problem(data: Any) -> str | None:
    """Why ``data`` is not a plain, bounded tree, or None: depth, size, sharing, cycles."""
    walk = _Walk()
    stack: list[tuple[Any, int, bool]] = [(data, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if isinstance(node, _SCALARS):
            continue
        problem = walk.leave(node) if done else walk.enter(node, depth)
        if problem:
            return problem
        if not done and walk.entered:
            stack.append((node, depth, True))
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1, False) for child in children)
    return None


class _Walk:
    """The state of ``_shape_problem``'s iterative post-order walk."""

    def __init__(self) -> None:
        self.weights: dict[int, int] = {}  # expanded size of each container, once left
        self.on_path: set[int] = set()
        self.shared = 0
        self.entered = False

    def enter(self, node: Any, depth: int) -> str | None:
        self.entered = False
        key = id(node)
        if not isinstance(node, dict | list):
            return f"unsupported YAML value of type {type(node).__name__}"
        if key in self.on_path:
            return "an alias refers to its own ancestor (a cycle); write the values out"
        if key in self.weights:
            self.shared += 1
            if self.shared > MAX_SHARED:
                return f"more than {MAX_SHARED} aliases; write the values out plainly"
            return None
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep; a manifest is a few levels"
        if isinstance(node, dict) and not all(isinstance(k, _SCALARS) for k in node):
            return "a mapping key is itself a list or mapping; keys are plain values"
        self.on_path.add(key)
        self.weights[key] = 0
        self.entered = True
        return None

    def leave(self, node: Any) -> str | None:
        key = id(node)
        self.on_path.discard(key)
        children = node.values() if isinstance(node, dict) else node
        weight = 1 + sum(
            1 if isinstance(c, _SCALARS) else self.weights.get(id(c), 1) for c in children
        )
        self.weights[key] = weight
        if weight > MAX_NODES:
            return (
                f"its aliases expand to more than {MAX_NODES:,} values (a 'billion laughs'); "
                "write the values out without anchors and aliases"
            )
        return None


def load_mapping(text: str | bytes, path: str) -> dict[str, Any]:
    """Parse a YAML file whose top level must be a mapping."""
    data = load(text, path)
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "empty"
        raise InvalidManifest(f"{path}:1: expected a mapping at the top level, got {kind}")
    return data


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
    ordered = _ordered_like(data, like)
    text: str = yaml.dump(
        ordered,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=10_000,
    )
    return text if text.endswith("\n") else text + "\n"


def line_of(text: str | bytes, location: Sequence[str | int]) -> int | None:
    """The 1-based line of the node at ``location`` (keys and list indexes), or of its parent."""
    try:
        node = yaml.compose(text, Loader=_Loader)  # safe composer
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line: int = node.start_mark.line + 1
    for step in location:
        child = _child(node, step)
        if child is None:
            break
        node, line = child
    return line


def _child(node: yaml.Node, step: str | int) -> tuple[yaml.Node, int] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(step):
                return value, key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        item = node.value[step]
        return item, item.start_mark.line + 1
    return None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same directory and ``os.replace``.

    The file gets the mode git gives a file it checks out, 0666 less the umask: created by
    ``os.open`` with that mode, not ``mkstemp`` (always 0600), so a shared checkout stays
    readable by the group the umask allows (#16).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
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
_STR_TAG = "tag:yaml.org,2002:str"


@functools.lru_cache(maxsize=8192)  # keys and stage names repeat in every manifest
def _implicit_tag(text: str) -> str:
    """The type the dumper's resolver gives ``text`` written plain (as the emitter asks)."""
    resolvers = _Dumper.yaml_implicit_resolvers
    for tag, regexp in resolvers.get(text[0] if text else "", []) + resolvers.get(None, []):
        if regexp.match(text):
            return str(tag)
    return _STR_TAG


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
        and _implicit_tag(text) == _STR_TAG
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


def _fast_key(key: Any) -> str | None:
    text = _fast_scalar(key) if type(key) is str else None
    return text if text is not None and len(text) < 128 and text == key else None


def _fast_lines(data: Mapping[Any, Any], indent: str, out: list[str]) -> bool:
    """Append the block mapping ``data`` at ``indent``; False if it holds an unusual shape."""
    for key, value in data.items():
        name = _fast_key(key)
        if name is None or not _fast_value(name, value, indent, out):
            return False
    return True


def _fast_value(name: str, value: Any, indent: str, out: list[str]) -> bool:
    if isinstance(value, (dict, list)) and not value:
        out.append(f"{indent}{name}: {'{}' if isinstance(value, dict) else '[]'}\n")
        return True
    if isinstance(value, dict):
        out.append(f"{indent}{name}:\n")
        return _fast_lines(value, indent + "  ", out)
    if isinstance(value, list):
        out.append(f"{indent}{name}:\n")
        return all(_fast_item(item, indent + "  ", out) for item in value)
    text = _fast_scalar(value)
    if text is None:
        return False
    out.append(f"{indent}{name}: {text}\n")
    return True


def _fast_item(item: Any, indent: str, out: list[str]) -> bool:
    """Append one list item: a scalar, or a non-empty mapping (``- key: value`` ...)."""
    if isinstance(item, dict) and item:
        start = len(out)
        if not _fast_lines(item, indent + "  ", out):
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
    return "".join(out) if _fast_lines(ordered_like(data, like), "", out) else None


def ordered_like(data: Any, like: Any) -> Any:
    """``data`` with mapping keys in ``like``'s order: the structure ``dump`` writes."""
    return _ordered_like(data, like)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types and key order: ``dump`` writes both the same way.

    ``repr`` tells 1 from 1.0 and True, -0.0 from 0.0 and one key order from another.
    """
    return type(a) is type(b) and bool(a == b) and repr(a) == repr(b)


def _sections(text: str, keys: Sequence[Any], indent: str) -> list[str] | None:
    """``text`` cut where each of ``keys`` starts at ``indent``; None if they do not line up."""
    starts: list[int] = []
    position = 0
    for key in keys:
        name = _fast_key(key)
        if name is None:
            return None
        head = f"{indent}{name}:"
        at = 0 if not starts and text.startswith(head) else text.find("\n" + head, position)
        if at < 0 or (starts and at == 0):
            return None
        at = at if not starts and at == 0 else at + 1
        if text[at + len(head) : at + len(head) + 1] not in (" ", "\n"):
            return None
        starts.append(at)
        position = at + 1
    if not starts or starts[0] != 0:
        return None
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _version_entries(section: str, count: int) -> list[str] | None:
    """The ``versions:`` section's items (``  - version: N`` ...), or None if unusual."""
    if count == 0 or not section.startswith("versions:\n  - "):
        return None
    body = section[len("versions:\n") :]
    starts = [0]
    at = body.find("\n  - ")
    while at >= 0:
        starts.append(at + 1)
        at = body.find("\n  - ", at + 1)
    if len(starts) != count or not body.endswith("\n"):
        return None
    return [body[a:b] for a, b in zip(starts, [*starts[1:], len(body)], strict=True)]


def _patch_versions(section: str, old: list[Any], new: list[Any]) -> str | None:
    entries = _version_entries(section, len(old))
    if entries is None:
        return None
    by_version: dict[Any, int] = {}
    for index, item in enumerate(old):
        number = item.get("version") if isinstance(item, dict) else None
        if type(number) is not int or number in by_version:
            return None
        by_version[number] = index
    parts = ["versions:\n"]
    for item in new:
        found = by_version.get(item.get("version")) if isinstance(item, dict) else None
        if found is not None and _same(item, old[found]):
            parts.append(entries[found])
            continue
        lines: list[str] = []
        if not _fast_item(item, "  ", lines) or not _reads_back(lines, {"versions": [item]}):
            return None
        parts.extend(lines)
    return "".join(parts)


def _reads_back(lines: list[str], expected: dict[str, Any]) -> bool:
    """Whether the freshly written ``lines`` (a top-level section, or one ``versions`` item)
    read back as ``expected`` on their own, as they will inside the whole file."""
    if lines and lines[0].startswith("  - "):
        lines = ["versions:\n", *lines]
    loaded = load_canonical("".join(lines), "")
    return loaded is not None and _same(loaded, expected)


def patch(old_text: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """``dump(new, like=old)`` made by rewriting only what changed in ``old_text``.

    See ``patch_ordered``, which this calls with ``ordered_like(new, old)``.
    """
    if not isinstance(old, dict) or not isinstance(new, dict):
        return None
    return patch_ordered(old_text, old, ordered_like(new, old))


def patch_ordered(old_text: str, old: Mapping[str, Any], ordered: dict[str, Any]) -> str | None:
    """``dump(ordered, like=old)`` made by rewriting only what changed in ``old_text``.

    ``ordered`` is the new manifest with its keys already in ``old``'s order
    (``ordered_like``). ``old_text`` must be what ``dump`` wrote for ``old`` (the store
    records the manifests it wrote): its unchanged sections and versions are kept as they
    are, and the changed ones are written by ``dump_fast`` and read back on their own
    (``load_canonical``) before they are used, so the whole text loads as ``ordered``
    whenever ``old_text`` loads as ``old``. A registration on a model with 5,000 versions
    appends one item instead of re-emitting the file (#15). None when the text or the
    change has a shape this cannot patch; the caller then dumps in full.
    """
    if not isinstance(old, dict) or not old_text.endswith("\n"):
        return None
    sections = _sections(old_text, list(old), "")
    if sections is None:
        return None
    by_key = dict(zip(old, sections, strict=True))
    parts = []
    for key, value in ordered.items():
        if key in old and _same(value, old[key]):
            parts.append(by_key[key])
        elif key == "versions" and value and old.get(key) and isinstance(value, list):
            versions = _patch_versions(by_key[key], old[key], value)
            if versions is None:
                return None
            parts.append(versions)
        else:
            lines: list[str] = []
            if not _fast_lines({key: value}, "", lines) or not _reads_back(lines, {key: value}):
                return None
            parts.extend(lines)
    return "".join(parts)


# ------------------------------------------------------------------ fast loading (#15)
#
# A fresh clone's first validate of 10,000 models spent most of its time in PyYAML's
# parser. Nearly every manifest is exactly what ``dump_fast`` writes (gitreg wrote it), and
# that narrow shape reads back with a few string operations. ``load_canonical`` reads it,
# then proves the reading by writing it again: only when ``dump_fast`` gives back the very
# same text is the result used. That text is PyYAML's own dump of the data (see
# ``dump_fast``), so ``load`` would return the same data; it holds no tags, aliases,
# duplicate keys or deep nesting for the limits above to refuse.


def _canonical_scalar(text: str) -> Any:
    """The value of one scalar as ``dump_fast`` writes it (checked later by re-dumping)."""
    if text.startswith("'"):
        inner = text[1:-1]
        if len(text) < 2 or not text.endswith("'") or "'" in inner.replace("''", ""):
            raise ValueError(text)
        return inner.replace("''", "'")
    tag = _implicit_tag(text)
    if tag == _STR_TAG:
        return text
    if tag.endswith(":int") and text.lstrip("-").isdigit():
        return int(text)
    if tag.endswith(":float"):
        return float(text)
    if tag.endswith(":bool") and text in ("true", "false"):
        return text == "true"
    if tag.endswith(":null") and text == "null":
        return None
    raise ValueError(text)


def _canonical_value(lines: list[str], at: int, indent: int, rest: str) -> tuple[Any, int]:
    """The value after ``key:`` on line ``at - 1``: inline (``rest``) or the block below."""
    if rest:
        if rest == "{}":
            return {}, at
        if rest == "[]":
            return [], at
        return _canonical_scalar(rest), at
    inner = " " * (indent + 2)
    if at < len(lines) and lines[at].startswith(inner + "- "):
        return _canonical_list(lines, at, indent + 2)
    return _canonical_mapping(lines, at, indent + 2, None)


def _canonical_mapping(
    lines: list[str], at: int, indent: int, first: str | None
) -> tuple[dict[str, Any], int]:
    """A block mapping at ``indent`` from line ``at`` (``first``: its first line's body)."""
    out: dict[str, Any] = {}
    prefix = " " * indent
    while at < len(lines):
        if first is not None:
            body, first = first, None
        elif lines[at].startswith(prefix) and lines[at][indent : indent + 1] not in (" ", "-"):
            body = lines[at][indent:]
        else:
            break
        if body.endswith(":") and ": " not in body:
            key, rest = body[:-1], ""
        else:
            key, sep, rest = body.partition(": ")
            if not sep or not rest:
                raise ValueError(body)
        if key in out:
            raise ValueError(key)
        out[key], at = _canonical_value(lines, at + 1, indent, rest)
    if not out:
        raise ValueError("an empty block")
    return out, at


def _canonical_list(lines: list[str], at: int, indent: int) -> tuple[list[Any], int]:
    out: list[Any] = []
    marker = " " * indent + "- "
    while at < len(lines) and lines[at].startswith(marker):
        body = lines[at][len(marker) :]
        if not body.startswith("'") and (": " in body or body.endswith(":")):
            item, at = _canonical_mapping(lines, at, indent + 2, body)
        else:
            item, at = _canonical_scalar(body), at + 1
        out.append(item)
    return out, at


def load_canonical(text: str | bytes, path: str) -> dict[str, Any] | None:
    """What ``load(text, path)`` returns, read without PyYAML, when ``text`` is exactly what
    ``dump_fast`` writes; None for any other text (then call ``load``)."""
    del path  # the same signature as load: a text this reads has nothing to report
    if len(text) > MAX_FILE_BYTES:
        return None
    try:
        source = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError:
        return None
    if not source.endswith("\n") or not source.isascii() or source.startswith(" "):
        return None
    lines = source[:-1].split("\n")
    try:
        data, at = _canonical_mapping(lines, 0, 0, None)
    except (ValueError, IndexError, RecursionError):
        return None
    out: list[str] = []  # dump_fast without its ordering pass: data is in the text's order
    if at != len(lines) or not _fast_lines(data, "", out) or "".join(out) != source:
        return None
    return data
