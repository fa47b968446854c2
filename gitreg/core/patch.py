"""A manifest's text patched in place, and gitreg's own text read back without PyYAML.

``patch`` rewrites only the sections and versions that changed in a manifest gitreg wrote,
so a registration on a model with 5,000 versions appends one item instead of re-emitting
the file; ``load_canonical`` reads the narrow text ``manifest.dump_fast`` writes with a few
string operations and proves the reading by writing it again (#15). Both fall back (None)
to ``manifest``'s PyYAML paths for anything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitreg.core.manifest import (
    STR_TAG,
    fast_item,
    fast_key,
    fast_lines,
    implicit_tag,
    ordered_like,
)
from gitreg.core.yaml_limits import MAX_FILE_BYTES


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
        name = fast_key(key)
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
        if not fast_item(item, "  ", lines) or not _reads_back(lines, {"versions": [item]}):
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
    if old_text.endswith("\n...\n"):
        # PyYAML ends a document whose last scalar keeps its trailing newlines (``|2+``)
        # with "...": kept, that marker would end the document in the middle of the patch.
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
            if not fast_lines({key: value}, "", lines) or not _reads_back(lines, {key: value}):
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
    tag = implicit_tag(text)
    if tag == STR_TAG:
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
    if at != len(lines) or not fast_lines(data, "", out) or "".join(out) != source:
        return None
    return data
