"""A manifest gitreg wrote, read and rewritten one version entry at a time (#26).

A write on a model with 5,000 versions used to parse the whole file into 5,000 entities,
re-validate every entry and compare each one to find what changed. ``Sparse`` parses only
the model's header (the keys before ``versions:``) and finds a version's entry, or the
versions in one stage, with a text search; ``render`` keeps every untouched entry's text
as it is and writes the header and the changed entries with ``manifest.fast_lines``, each
read back on its own (``patch``), so the result is byte for byte what a full ``dump``
gives. Anything of another shape answers None, and the caller takes the full path.

It relies on the shape of the text gitreg writes: top-level keys at column 0, ``versions``
the last of them, list items at ``"  - "`` and an entry's keys at four spaces; any value
that spans lines is indented deeper (PyYAML's block scalars and folded flow scalars), so a
line that starts ``"  - "`` inside the section is always an entry. Pure: no I/O.

The text is kept as its UTF-8 bytes (offsets are byte offsets; every pattern searched is
ASCII, which UTF-8 never holds inside a multi-byte character), and a new text is joined
from the old bytes' unchanged spans as they are: making the new 1.6 MB ``str`` from slices
and encoding it to the blob cost three copies of it in fresh memory, about 1.5 ms a write
(#26). The ``str`` is decoded only when asked for (``text``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gitreg.core.manifest import fast_item, fast_lines, ordered_like
from gitreg.core.patch import load_canonical

_SECTION = b"\nversions:\n"
_ENTRY = b"\n  - "
_TOP_LEVEL = re.compile(rb"\n[^ ]")  # a line at column 0 (or an empty one): another key


class Sparse:
    """A manifest's text with its header parsed and its entries left as text."""

    __slots__ = ("_stages", "_text", "data", "header", "start")

    def __init__(self, data: bytes, header: dict[str, Any], start: int) -> None:
        self.data = data  # the text's UTF-8 bytes: the blob
        self._text: str | None = None
        self.header = header  # the top-level keys before ``versions``, in the file's order
        self.start = start  # offset of the first entry's "  - "
        # in_stage's answers: a search of the whole text each; a Sparse is never changed,
        # and ``rendered`` hands them on, changed only where its entries change (#26).
        self._stages: dict[str, list[int]] = {}

    @property
    def text(self) -> str:
        """The manifest's text (decoded from ``data`` once, when first asked for)."""
        if self._text is None:
            self._text = self.data.decode("utf-8")
        return self._text

    @classmethod
    def read(cls, text: str | bytes) -> Sparse | None:
        """The manifest ``text`` (or its UTF-8 bytes) as a Sparse, or None if it is not of
        the shape above.

        Raises:
            UnicodeDecodeError: ``text`` is bytes that are not UTF-8.
        """
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        at = data.find(_SECTION)
        if at < 0 or not data.endswith(b"\n"):
            return None
        start = at + len(_SECTION)
        if not data.startswith(b"  - ", start) or _TOP_LEVEL.search(data, start, len(data) - 1):
            return None
        header = load_canonical(data[: at + 1], "")
        if header is None or "versions" in header:
            return None
        doc = cls(data, header, start)
        doc._text = decoded
        return doc

    def span(self, number: int) -> tuple[int, int] | None:
        """Where version ``number``'s entry is (start, end), if it starts ``- version: N``."""
        at = self.data.find(b"%sversion: %d\n" % (_ENTRY, number), self.start - 1)
        if at < 0:
            return None
        end = self.data.find(_ENTRY, at + 1)
        return at + 1, len(self.data) if end < 0 else end + 1

    def entry_at(self, begin: int, end: int) -> dict[str, Any] | None:
        """The entry whose text is ``data[begin:end]``, parsed on its own."""
        loaded = load_canonical(b"versions:\n" + self.data[begin:end], "")
        items = loaded.get("versions") if loaded is not None else None
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            return None
        return items[0]

    def entry(self, number: int) -> tuple[dict[str, Any], int, int] | None:
        """Version ``number``'s entry and its span; None if not found this way."""
        span = self.span(number)
        if span is None:
            return None
        found = self.entry_at(*span)
        if found is None or found.get("version") != number or type(found["version"]) is not int:
            return None
        return found, span[0], span[1]

    def first(self) -> dict[str, Any] | None:
        """The first entry (what a new entry's key order follows, as ``ordered_like``)."""
        end = self.data.find(_ENTRY, self.start)
        return self.entry_at(self.start, len(self.data) if end < 0 else end + 1)

    def in_stage(self, stage: str) -> list[int] | None:
        """The versions whose entry says ``stage: <stage>``, ascending; None if unsure."""
        known = self._stages.get(stage)
        if known is None:
            found = self._search_stage(stage)
            if found is None:
                return None
            known = self._stages[stage] = found
        return list(known)

    def _search_stage(self, stage: str) -> list[int] | None:
        found: set[int] = set()
        named = stage.encode("utf-8")
        for pattern in (b"\n    stage: %s\n" % named, b"%sstage: %s\n" % (_ENTRY, named)):
            at = self.data.find(pattern, self.start - 1)
            while at >= 0:
                begin = self.data.rfind(_ENTRY, self.start - 1, at + len(_ENTRY)) + 1
                end = self.data.find(_ENTRY, at + 1)
                entry = self.entry_at(begin, len(self.data) if end < 0 else end + 1)
                number = entry.get("version") if entry is not None else None
                if entry is None or type(number) is not int or entry.get("stage") != stage:
                    return None
                found.add(number)
                at = self.data.find(pattern, at + 1)
        return sorted(found)

    def render(
        self,
        header: Mapping[str, Any],
        replaced: Mapping[int, tuple[dict[str, Any], int, int]],
        appended: list[dict[str, Any]],
    ) -> str | None:
        """The text with ``header`` (the model's new keys but ``versions``), the entries in
        ``replaced`` (version -> (new entry, span)) and ``appended`` at the end.

        Key order follows the old text, as ``manifest.ordered_like`` orders a full dump: the
        header like the old header, a replaced entry like the one it replaces, a new entry
        like the first. None if a part cannot be written this way or does not read back.
        """
        doc = self.rendered(header, replaced, appended)
        return doc.text if doc is not None else None

    def rendered(
        self,
        header: Mapping[str, Any],
        replaced: Mapping[int, tuple[dict[str, Any], int, int]],
        appended: list[dict[str, Any]],
    ) -> Sparse | None:
        """``render``'s text as a Sparse, its header the one just written and read back:
        what ``read`` of that text gives, without searching 1.6 MB again (#26)."""
        marker = object()
        ordered = ordered_like({**header, "versions": marker}, {**self.header, "versions": []})
        if list(ordered)[-1] != "versions":
            return None
        del ordered["versions"]
        lines: list[str] = []
        if not fast_lines(ordered, "", lines) or not _reads_back("".join(lines), ordered):
            return None
        lines.append("versions:\n")
        head = "".join(lines).encode("utf-8")
        parts: list[bytes | memoryview] = [head]
        view = memoryview(self.data)  # the unchanged spans, copied once: by the join
        at = self.start
        for number in sorted(replaced, key=lambda n: replaced[n][1]):
            entry, begin, end = replaced[number]
            text = _entry_text(entry)
            if text is None or begin < at:
                return None
            parts += [view[at:begin], text.encode("utf-8")]
            at = end
        parts.append(view[at:])
        for entry in appended:
            text = _entry_text(entry)
            if text is None:
                return None
            parts.append(text.encode("utf-8"))
        doc = Sparse(b"".join(parts), ordered, len(head))
        doc._stages = self._restaged(replaced, appended)
        return doc

    def _restaged(
        self,
        replaced: Mapping[int, tuple[dict[str, Any], int, int]],
        appended: list[dict[str, Any]],
    ) -> dict[str, list[int]]:
        """``in_stage``'s known answers for the text ``rendered`` makes: the entries it
        wrote (each read back on its own) replace the ones they change."""
        written = [entry for entry, _begin, _end in replaced.values()] + appended
        numbers = {entry.get("version") for entry in written}
        if numbers - set(replaced) != {e.get("version") for e in appended} or any(
            type(n) is not int for n in numbers
        ):
            return {}  # not what flat writes: searched again when asked
        stages = {}
        for stage, known in self._stages.items():
            kept = {n for n in known if n not in numbers}
            kept.update(e["version"] for e in written if e.get("stage") == stage)
            stages[stage] = sorted(kept)
        return stages


def _entry_text(entry: dict[str, Any]) -> str | None:
    """One ``versions`` item as ``dump`` writes it, proven by reading it back alone."""
    lines: list[str] = []
    if not fast_item(entry, "  ", lines):
        return None
    text = "".join(lines)
    return text if _reads_back("versions:\n" + text, {"versions": [entry]}) else None


def _reads_back(text: str, expected: Any) -> bool:
    """Whether ``text`` loads as ``expected``, with the same types and key order (``repr``
    tells 1 from 1.0 and True, and one key order from another, as ``patch`` does)."""
    loaded = load_canonical(text, "")
    return loaded is not None and loaded == expected and repr(loaded) == repr(expected)
