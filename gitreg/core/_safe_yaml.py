"""Safe YAML loading within bounds: the loader, the limits, and line numbers for findings.

Every manifest and every pull request is hostile until checked (#12), so text is parsed
only by a safe loader that keeps timestamps as text, refuses duplicate keys and exotic
tags, and refuses, in bounded time and memory, a file too large, too deep or expanding
through aliases beyond the limits below. ``line_of`` finds a node's line so a finding can
say ``models/x.yaml:12``. ``manifest`` is the public face (and re-exports these names);
this is its private half that reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from gitreg.core.errors import InvalidManifest
from gitreg.core.finding import Finding

# Limits on what a manifest may be (see #12 and the README's "Limits"), in a module of their
# own that does not import PyYAML; read as this module's globals, so a test can lower them.
from gitreg.core.yaml_limits import MAX_DEPTH as MAX_DEPTH
from gitreg.core.yaml_limits import MAX_FILE_BYTES as MAX_FILE_BYTES
from gitreg.core.yaml_limits import MAX_NODES as MAX_NODES
from gitreg.core.yaml_limits import MAX_SHARED as MAX_SHARED

try:
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader


_REFUSED_TAGS = (
    "tag:yaml.org,2002:binary",
    "tag:yaml.org,2002:set",
    "tag:yaml.org,2002:omap",
    "tag:yaml.org,2002:pairs",
    "tag:yaml.org,2002:timestamp",
)


_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# What YAML 1.1 makes of a plain key that is not text, in the words a finding uses (#23).
_KEY_KINDS = {
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null (no key at all)",
}


class _Located(yaml.constructor.ConstructorError):
    """A problem with one node, reported as a finding with its field path (#23)."""

    def __init__(self, node: yaml.Node, code: str, problem: str) -> None:
        super().__init__(None, None, problem, node.start_mark)
        self.node = node
        self.code = code


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader: timestamps stay text; duplicate keys, keys that are not text, numbers
    too long to convert and exotic tags are errors."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if key_node.tag != _STR_TAG and key_node.tag != _MERGE_TAG:
                raise _non_text_key(key_node)
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

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            number: int = super().construct_yaml_int(node)
        except ValueError as e:  # more digits than Python converts (sys.get_int_max_str_digits)
            digits = sum(c.isdigit() for c in str(node.value))
            raise _Located(
                node,
                "NUMBER_OUT_OF_RANGE",
                f"a number of {digits:,} digits, far beyond any field's range; write the "
                "value gitreg should hold (version numbers and metrics are numbers MLflow can "
                "store)",
            ) from e
        return number


def _non_text_key(node: yaml.Node) -> _Located:
    """The error for a mapping key that YAML does not read as text (``on:``, ``7:``, ``~:``)."""
    if not isinstance(node, yaml.ScalarNode):
        return _Located(node, "KEY_NOT_TEXT", "a mapping key is a list or mapping; keys are text")
    shown = _clip(str(node.value)) if node.value else ""
    kind = _KEY_KINDS.get(node.tag, f"type {node.tag.rsplit(':', 1)[-1]!r}")
    quoted = '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _Located(
        node,
        "KEY_NOT_TEXT",
        f"YAML reads the key {shown or '(empty)'} as {kind}, but every key is text: quote it "
        f"({quoted}: ...)",
    )


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)

# Unquoted ISO timestamps stay strings: the schema says created_at is text.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


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
    except _Located as e:
        raise _located_error(e, text, path) from e
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


def _located_error(error: _Located, text: str | bytes, path: str) -> InvalidManifest:
    """One line naming the file, the line, the field and the fix; the finding rides along."""
    line = error.node.start_mark.line + 1
    where = _path_of(text, error.node.start_mark)
    field = ".".join(map(str, where)) if where else "(top level)"
    message = f"{field}: {error.problem}"
    return InvalidManifest(
        f"{path}:{line}: {error.code}: {message}", [Finding(path, line, error.code, message)]
    )


def _path_of(text: str | bytes, mark: Any) -> list[str | int]:
    """Where the node at ``mark`` sits (keys and list indexes): the field a finding names.

    Only an error takes this path, so composing the document again costs nothing otherwise.
    """
    try:
        node = yaml.compose(text, Loader=_BaseLoader)  # safe composer
    except yaml.YAMLError:
        return []
    found: list[str | int] = []
    while node is not None and node.start_mark.index != mark.index:
        step = _step_towards(node, mark.index)
        if step is None:
            break
        found.append(step[0])
        node = step[1]
    return found


def _step_towards(node: yaml.Node, index: int) -> tuple[str | int, yaml.Node] | None:
    """The key or list index of ``node``'s child that holds position ``index``, and the child.

    None when ``index`` is one of ``node``'s own keys (or in no child).
    """
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.start_mark.index == index:
                return None
            if value.start_mark.index <= index < value.end_mark.index:
                return str(key.value), value
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            if item.start_mark.index <= index < item.end_mark.index:
                return position, item
    return None


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
