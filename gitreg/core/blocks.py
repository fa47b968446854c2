"""A manifest read block by block: its header, then one block per version, each parsed once.

gitreg writes a manifest as its header (every key but ``versions``), then ``versions:`` and
one block per version, each starting ``  - `` (see ``manifest.dump``). Consecutive commits
of a manifest differ in a block or two, so the history of a model with thousands of
versions, read commit by commit, must not parse (or judge) the whole file at every commit
(#23). ``read(text, path, previous)`` compares ``text`` with ``previous``, the layout of an
earlier state of the same file, with a few ``memcmp``s (the longest run of whole blocks at
the start and at the end that did not change), shares those blocks and their parse, and
parses only the header if it changed and the blocks in between. What looks at every block
(``numbers``, the loader's limits) runs in C (``map`` and ``sum``), never a Python loop per
block, so a commit costs Python work in proportion to what it changed.

The result is exactly what ``manifest.load_mapping`` returns for the text, or its error:
a text in another layout (flow style, ``versions`` not last, CRLF, comments before the
first item, a block that does not parse alone, YAML anchors, sizes near the loader's
limits) is parsed whole. Parsed values are shared between layouts: callers must not
change them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from itertools import accumulate
from operator import add, attrgetter
from typing import Any

from gitreg.core import manifest, patch, record
from gitreg.core.errors import InvalidManifest

_VERSIONS = b"\nversions:\n"
_ITEM = b"  - "
SEPARATOR = b"\n  - "
_GAP = len(SEPARATOR)
# A line at column 0 inside the versions list ends it in YAML: another top-level key, a
# document marker, a tab... (a comment line is the one thing allowed there).
_TOP_LEVEL_LINE = re.compile(rb"\n[^ \n#]")
_SCALARS = (str, int, float, bool, type(None))
_ITEM_OF = attrgetter("item")
_WEIGHT = attrgetter("weight")
_DEPTH = attrgetter("depth")
_NUMBER = attrgetter("number")
_PRODUCTION = attrgetter("production")


@record.dataclass(frozen=True, slots=True)
class Block:
    """One version block, parsed: the item, and what a check of the whole file needs of it.

    ``weight`` and ``depth`` are the item's node count and nesting as the safe loader
    counts them (``_safe_yaml``), so the whole file's limits can be checked from the blocks.
    """

    item: Any
    number: int | None  # the item's ``version`` when it is an integer
    production: bool
    weight: int
    depth: int


@record.dataclass(frozen=True, slots=True)
class Header:
    """The parsed header: every top-level key but ``versions``, and its weight and depth."""

    text: bytes
    data: dict[str, Any]
    weight: int
    depth: int


@record.dataclass(frozen=True, slots=True)
class Layout:
    """A manifest in gitreg's layout: its header, and its blocks in file order.

    ``base`` is the ``token`` of the layout this one was read after, and ``kept`` how many
    blocks at its start and at its end are that layout's, unchanged (the same objects).
    """

    header: Header
    body: bytes  # the versions list without its first "  - " and its last newline
    blocks: list[bytes]  # each version's text, split at SEPARATOR
    entries: list[Block]  # each block's parse, in the same order
    ends: list[int]  # where each block ends in ``body``
    base: object | None = None
    kept: tuple[int, int] = (0, 0)
    token: object = record.field(default_factory=object)

    @property
    def head(self) -> dict[str, Any]:
        """The parsed header."""
        return self.header.data

    def items(self) -> list[Any]:
        """The ``versions`` list, as the whole parse gives it."""
        return list(map(_ITEM_OF, self.entries))

    def data(self) -> dict[str, Any]:
        """The whole manifest, as ``manifest.load_mapping`` gives it."""
        return {**self.header.data, "versions": self.items()}

    def numbers(self) -> list[int | None]:
        """Each block's version number (None: not an integer), in file order."""
        return list(map(_NUMBER, self.entries))

    def production_count(self) -> int:
        """How many blocks are in Production."""
        return sum(map(_PRODUCTION, self.entries))

    def within_limits(self) -> bool:
        """Whether the whole file is within the safe loader's limits on nodes and nesting."""
        weight: int = self.header.weight + 1 + sum(map(_WEIGHT, self.entries))
        depth: int = max(self.header.depth, 2 + max(map(_DEPTH, self.entries)))
        return weight <= manifest.MAX_NODES and depth <= manifest.MAX_DEPTH

    def changed(self, other: Layout) -> tuple[list[int], list[int]]:
        """Where the blocks only ``other`` has are in it, and where the blocks only this
        layout has are in it (ascending). Meaningful when each has distinct blocks."""
        first, last = 0, 0
        if self.base is other.token:
            first, last = self.kept
        old = other.blocks[first : len(other.blocks) - last]
        new = self.blocks[first : len(self.blocks) - last]
        old_set, new_set = set(old), set(new)
        gone = [first + i for i, block in enumerate(old) if block not in new_set]
        fresh = [first + i for i, block in enumerate(new) if block not in old_set]
        return gone, fresh


def split(text: bytes) -> tuple[bytes, bytes] | None:
    """``text``'s header (with its last newline) and the body of its versions list, or None
    when the text is not in gitreg's layout (``versions:`` last, items starting ``  - ``)."""
    head, found, rest = text.partition(_VERSIONS)
    if not found or not rest.startswith(_ITEM) or not rest.endswith(b"\n"):
        return None  # (without its last newline, a text block at the end reads differently)
    return head + b"\n", rest[len(_ITEM) : -1]


def read(text: bytes, path: str, previous: Layout | None = None) -> Layout | dict[str, Any]:
    """``text`` parsed: its ``Layout`` when it is in gitreg's layout, else its whole parse.

    ``previous`` is the layout of an earlier state of the same file: the blocks it shares
    with ``text`` are not parsed again. Either way the content is what
    ``manifest.load_mapping`` returns for ``text``, and an unreadable text raises what it
    raises (InvalidManifest).
    """
    layout = _layout(text, path, previous) if len(text) <= manifest.MAX_FILE_BYTES else None
    if layout is None or not layout.within_limits():
        return manifest.load_mapping(text, path)
    return layout


def _layout(text: bytes, path: str, previous: Layout | None) -> Layout | None:
    pieces = split(text)
    if pieces is None:
        return None
    header_text, body = pieces
    if previous is not None and previous.header.text == header_text:
        header: Header | None = previous.header
    else:
        header = _load_header(header_text, path)
    if header is None:
        return None
    if previous is None:
        return _fresh(header, body, path)
    return _reread(header, body, path, previous)


def _reread(header: Header, body: bytes, path: str, previous: Layout) -> Layout | None:
    """The layout of ``body``, sharing with ``previous`` the blocks at both ends it shares."""
    first = _common_start(previous, body)
    last = _common_end(previous, body, first)
    tail = len(previous.blocks) - last  # where the shared blocks at the end start
    start = previous.ends[first - 1] + _GAP if first else 0  # where the middle starts
    end = len(body) - (len(previous.body) - _start_of(previous, tail))  # where the end starts
    if last:
        middle = body[start : end - _GAP].split(SEPARATOR) if end - _GAP >= start else []
    else:
        middle = body[start:].split(SEPARATOR) if len(body) >= start else []
    spare = dict(zip(previous.blocks[first:tail], previous.entries[first:tail], strict=True))
    parsed = _parse_all(middle, path, spare.get)
    if parsed is None:
        return None
    ends = previous.ends[:first]
    ends += accumulate(map(len, middle), lambda at, size: at + _GAP + size, initial=start - _GAP)
    del ends[first]  # the initial value, not an end
    ends += map((end - _start_of(previous, tail)).__add__, previous.ends[tail:])
    return Layout(
        header,
        body,
        previous.blocks[:first] + middle + previous.blocks[tail:],
        previous.entries[:first] + parsed + previous.entries[tail:],
        ends,
        previous.token,
        (first, last),
    )


def _fresh(header: Header, body: bytes, path: str) -> Layout | None:
    blocks = body.split(SEPARATOR)
    parsed = _parse_all(blocks, path, None)
    if parsed is None:
        return None
    ends = list(map(add, accumulate(map(len, blocks)), range(0, _GAP * len(blocks), _GAP)))
    return Layout(header, body, blocks, parsed, ends)


def _parse_all(
    blocks: list[bytes], path: str, known: Callable[[bytes], Block | None] | None
) -> list[Block] | None:
    """Each block's parse (``known`` first), or None when one does not parse alone."""
    cache: dict[bytes, Block] = {}
    out: list[Block] = []
    for text in blocks:
        block = cache.get(text) or (known(text) if known is not None else None)
        if block is None:
            block = _load_block(text, path)
            if block is None:
                return None
            cache[text] = block
        out.append(block)
    return out


def _start_of(layout: Layout, index: int) -> int:
    """Where block ``index`` starts in the layout's body (its length for one past the end)."""
    if index == 0:
        return 0
    return layout.ends[index - 1] + _GAP if index < len(layout.blocks) else len(layout.body)


def _common_start(previous: Layout, body: bytes) -> int:
    """How many whole blocks ``body`` starts with that ``previous`` starts with."""
    view = memoryview(previous.body)

    def shares(count: int) -> bool:
        end = previous.ends[count - 1]
        return body.startswith(view[:end]) and (len(body) == end or body.startswith(SEPARATOR, end))

    return _largest(len(previous.blocks), shares)


def _common_end(previous: Layout, body: bytes, first: int) -> int:
    """How many whole blocks ``body`` ends with that ``previous`` ends with, after ``first``."""
    view = memoryview(previous.body)
    total = len(previous.blocks)
    floor = previous.ends[first - 1] + _GAP if first else 0  # where body's rest starts

    def shares(count: int) -> bool:
        suffix = view[_start_of(previous, total - count) :]
        start = len(body) - len(suffix)
        if not body.endswith(suffix):
            return False
        return start == floor or (
            start >= floor + _GAP and body.startswith(SEPARATOR, start - _GAP)
        )

    return _largest(total - first, shares)


def _largest(limit: int, holds: Callable[[int], bool]) -> int:
    """The largest ``n <= limit`` for which ``holds(n)`` (monotone: true up to some n)."""
    if limit == 0 or holds(limit):
        return limit
    low, high = 0, limit  # holds(low) (0 always holds), not holds(high)
    while high - low > 1:
        middle = (low + high) // 2
        if holds(middle):
            low = middle
        else:
            high = middle
    return low


def _load_header(text: bytes, path: str) -> Header | None:
    data = _load(text, path)
    if not isinstance(data, dict) or "versions" in data:
        return None
    measured = measure(data)
    if measured is None:
        return None
    weight, depth = measured
    return Header(text, data, weight, depth)


def _load_block(block: bytes, path: str) -> Block | None:
    item = _load_item(block, path)
    if item is _UNREAD:
        return None
    measured = measure(item)
    if measured is None:
        return None
    weight, depth = measured
    number = item.get("version") if isinstance(item, dict) else None
    production = isinstance(item, dict) and item.get("stage") == "Production"
    return Block(item, number if type(number) is int else None, production, weight, depth)


_UNREAD = object()


def _load_item(block: bytes, path: str) -> Any:
    """The one item a block holds, or ``_UNREAD`` when it does not read alone as one."""
    if block.count(b"\n") == block.count(b"\n    "):
        # Every line indented under the "- ": the item is the mapping the block holds,
        # moved 4 columns left; exactly as gitreg writes it, it is read without PyYAML.
        item = patch.load_canonical(block.replace(b"\n    ", b"\n") + b"\n", path)
        if item is not None:
            return item
    text = _ITEM + block + b"\n"
    if _TOP_LEVEL_LINE.search(text):
        return _UNREAD
    loaded = _load(text, path)
    return loaded[0] if isinstance(loaded, list) and len(loaded) == 1 else _UNREAD


def _load(text: bytes, path: str) -> Any:
    """``manifest.load`` (PyYAML skipped for a text exactly as gitreg writes it); a text
    that does not read is ``_UNREAD``: it may read in its file (the whole parse says)."""
    try:
        data = patch.load_canonical(text, path)
        return data if data is not None else manifest.load(text, path)
    except InvalidManifest:
        return _UNREAD


def measure(data: Any) -> tuple[int, int] | None:
    """``data``'s node count and container depth as the safe loader counts them (the root is
    depth 1), or None when a container is reached twice (a YAML alias): such a file is
    parsed whole, where the loader counts aliases itself."""
    seen: set[int] = set()
    weight, depth = 0, 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, level = stack.pop()
        weight += 1
        if isinstance(node, _SCALARS):
            continue
        if id(node) in seen:
            return None
        seen.add(id(node))
        depth = max(depth, level)
        children = node.values() if isinstance(node, Mapping) else node
        stack.extend((child, level + 1) for child in children)
    return weight, depth
