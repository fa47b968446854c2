"""Updating a few index entries in process, by git's own rules (#26).

What ``git update-index --add --remove -- PATHS`` does after a write, without a process:

1. take ``index.lock`` with ``O_CREAT|O_EXCL`` (held by another git: answer "ask git", whose
   error then says so);
2. read the index under the lock and check its trailing SHA-1, as git does;
3. replace, insert (in git's name order) or remove the stage-0 entries of the paths, each
   with the stat data of the file just written and the blob id of its content;
4. invalidate the cache tree (``TREE``) along each path, drop the optional extensions
   that record offsets into the entries (``EOIE``, ``IEOT``: git rebuilds them), keep the
   format version (4 with its prefix-compressed names; 3 only while an entry needs its
   extended flags, else 2, as git demotes it);
5. write it with a new trailing SHA-1 to the lock, ``fsync`` when ``core.fsync`` names the
   index, and rename it over the index.

A split index (``link``, versions 2 and 3) gets a new small ``.git/index`` of its changed
entries (``_split_index``); an index of more than ``SPLIT_ABOVE`` entries that is not split
yet (``core.splitIndex`` unset or true), or whose split part has grown, is handed to
``git update-index --split-index`` ("split"), which writes the shared index.

Refused to this fast path, so git does it: a sparse index (``sdir``), the untracked cache
(``UNTR``), fsmonitor data (``FSMN``), resolve-undo records (``REUC``), any extension this
reader does not know, a split index with ``core.splitIndex`` false or of version 4, a
conflict or a skip-worktree/intent-to-add entry on a path, a directory/file clash, a shared
repository, ``core.autocrlf`` or any gitattributes file (a filter could make git's blob id
differ from the content's), ``core.fsmonitor``. Files already staged (the usual write: a
manifest changed) are rewritten where they sit; an insert or a removal rebuilds the entry
list, and on an index of more than ``MAX_ENTRIES`` entries that is not split that is left
to git, whose parser is faster than a walk in Python.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import stat
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from gitreg.core import record, sha
from gitreg.store import _split_index as _split
from gitreg.store._refs import Repo

MAX_ENTRIES = 3000
# An index larger than this is split (core.splitIndex unset): see _split_index (#26).
SPLIT_ABOVE = 2000
_HEADER = 62  # stat data (40), object id (20), flags (2)
_EXTENDED = 0x4000
_STAGE = 0x3000
_NAME_MASK = 0x0FFF
_DROPPED = (b"EOIE", b"IEOT")


class _Refused(_split.Refused):
    """git's to do (see module doc)."""


def _attributes(repo: Repo, root: Path) -> bool:
    """Whether any gitattributes file could apply to the registry's files."""
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    places = [
        root / ".gitattributes",
        root / "models" / ".gitattributes",
        repo.common_dir / "info" / "attributes",
        home / "git" / "attributes",
        Path("/etc/gitattributes"),
    ]
    return bool(repo.config.get("core.attributesfile")) or any(p.exists() for p in places)


def eligible(repo: Repo, root: Path) -> bool:
    """Whether this repository's settings let the index be written here (see module doc)."""
    from gitreg.store._refs import is_true

    config = repo.config
    return not (
        config.get("core.sharedrepository")
        or is_true(config.get("core.autocrlf", "false"))
        or config.get("core.autocrlf", "").lower() == "input"
        or (config.get("core.fsmonitor") and not _false(config["core.fsmonitor"]))
        or is_true(config.get("index.skiphash", "false"))
        or _attributes(repo, root)
    )


def _false(value: str) -> bool:
    return value.lower() in ("false", "no", "off", "0")


@record.dataclass(frozen=True)
class _Settings:
    filemode: bool
    git_dir: Path
    split: bool | None  # core.splitIndex: unset is None
    max_percent: int  # splitIndex.maxPercentChange
    expire_set: bool  # splitIndex.sharedIndexExpire: the shared file is touched every write


def _settings(repo: Repo) -> _Settings:
    from gitreg.store._refs import is_true

    value = repo.config.get("core.splitindex")
    try:
        percent = int(repo.config.get("splitindex.maxpercentchange", "20"))
    except ValueError:
        percent = 20
    return _Settings(
        filemode=is_true(repo.config.get("core.filemode", "true")),
        git_dir=repo.git_dir,
        split=None if value is None else is_true(value),
        max_percent=percent if 0 <= percent <= 100 else 20,
        expire_set="splitindex.sharedindexexpire" in repo.config,
    )


Outcome = Literal["done", "git", "split"]


def update(repo: Repo, root: Path, changes: Mapping[str, bytes | None]) -> Outcome:
    """Update the index entries of ``changes`` (path -> content now on disk, None: deleted).

    "done" when done; "git" when git must do it, "split" when git must do it and write
    a new shared index (``--split-index``); nothing was changed then.
    """
    from gitreg.store._refs import fsync_components

    index = repo.git_dir / "index"
    if not eligible(repo, root):
        return "git"
    lock = repo.git_dir / "index.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return "git"  # another git holds it: git's own error says so
    replaced = False
    try:
        try:
            data = index.read_bytes()
            new = _rewrite(data, root, changes, _settings(repo))
        except _split.Reshare:
            return "split"
        except (_Refused, _split.Refused, OSError, struct.error, ValueError, IndexError):
            return "git"
        view = memoryview(new)
        while view:
            view = view[os.write(fd, view) :]
        if "index" in fsync_components(repo.config.get("core.fsync")):
            os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(lock, index)
        replaced = True
        return "done"
    finally:
        if fd >= 0:
            os.close(fd)
        if not replaced:  # never another process's lock, taken after our rename
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)


# ------------------------------------------------------------------- the format


def _varint_decode(data: bytes, pos: int) -> tuple[int, int]:
    c = data[pos]
    pos += 1
    value = c & 127
    while c & 128:
        value += 1
        c = data[pos]
        pos += 1
        value = (value << 7) + (c & 127)
    return value, pos


def _varint_encode(value: int) -> bytes:
    out = [value & 127]
    value >>= 7
    while value:
        value -= 1
        out.append(128 | (value & 127))
        value >>= 7
    return bytes(reversed(out))


Entry = tuple[bytes, bytes, bytes]  # name, header (62 or 64 bytes), raw bytes in v2/v3


def _entries(data: bytes, version: int, count: int) -> tuple[list[Entry], int]:
    """Every entry (name, header, raw) and the offset where the extensions start."""
    pos, previous, out = 12, b"", []
    for _ in range(count):
        flags = (data[pos + 60] << 8) | data[pos + 61]
        size = _HEADER + (2 if version >= 3 and flags & _EXTENDED else 0)
        header = data[pos : pos + size]
        at = pos + size
        if version == 4:
            strip, at = _varint_decode(data, at)
            end = data.index(b"\0", at)
            name = previous[: len(previous) - strip] + data[at:end]
            raw, pos = b"", end + 1
        else:
            length = flags & _NAME_MASK
            end = data.index(b"\0", at) if length == _NAME_MASK else at + length
            name = data[at:end]
            nxt = pos + ((size + len(name) + 8) & ~7)
            raw, pos = data[pos:nxt], nxt
        out.append((name, header, raw))
        previous = name
    return out, pos


def _extensions(data: bytes, start: int) -> list[tuple[bytes, bytes]]:
    out, pos, end = [], start, len(data) - 20
    while pos < end:
        sig = data[pos : pos + 4]
        (size,) = struct.unpack_from(">I", data, pos + 4)
        body = data[pos + 8 : pos + 8 + size]
        if len(body) != size:
            raise _Refused("a torn extension")
        out.append((sig, body))
        pos += 8 + size
    if pos != end:
        raise _Refused("extensions do not end at the checksum")
    return out


def _rewrite(
    data: bytes, root: Path, changes: Mapping[str, bytes | None], settings: _Settings
) -> bytes:
    if len(data) < 32 or data[:4] != b"DIRC":
        raise _Refused("not an index")
    known = _split.take(data[-20:])  # a split index this process wrote last
    if known is not None:  # (checked then): neither hashed nor walked again (#26)
        return _rewrite_split(data, 2, 0, root, changes, settings, known)
    layout = _LAYOUTS.get(data[-20:])  # an index this process wrote: checked and walked
    if layout is None and sha.sha1(data[:-20]).digest() != data[-20:]:
        raise _Refused("bad index checksum")  # git refuses it too; let it say so
    version, count = struct.unpack_from(">II", data, 4)
    if version in (2, 3):
        layout = layout or _walk(data, version, count)
        if layout is not None and any(s == b"link" for s, _b in _extensions(data, layout[1])):
            return _rewrite_split(data, version, count, root, changes, settings)
    wanted = settings.split or (settings.split is None and count > SPLIT_ABOVE)
    if wanted and layout is not None:  # known not to be split yet (else: git keeps it as is)
        raise _split.Reshare("an index to split")
    return _rewrite_whole(data, version, count, layout, root, changes, settings)


def _rewrite_whole(
    data: bytes,
    version: int,
    count: int,
    layout: Layout | None,
    root: Path,
    changes: Mapping[str, bytes | None],
    settings: _Settings,
) -> bytes:
    """An index that is not split: its entries rewritten in place, or the list rebuilt."""
    if version in (2, 3) and None not in changes.values():
        spliced = _splice(data, version, count, layout, list(changes))
        if spliced is not None:
            return spliced.write(root, changes, settings.filemode)
    if version not in (2, 3, 4) or count > MAX_ENTRIES:
        raise _Refused(f"index version {version} with {count} entries")
    entries, ext_start = _entries(data, version, count)
    extensions = _kept_extensions(data, ext_start, list(changes))
    by_name = {name: i for i, (name, _h, _r) in enumerate(entries)}
    if len(by_name) != len(entries):
        raise _Refused("a conflict (several stages of one path)")
    table = {
        name: _changed(root, path, name, content, by_name, entries, settings.filemode)
        for path, content in changes.items()
        for name in [path.encode("utf-8", "surrogateescape")]
    }
    kept = [e for e in entries if e[0] not in table]
    kept += [e for e in table.values() if e is not None]
    kept.sort(key=lambda e: e[0])
    if version in (2, 3):  # as git does: version 3 only while an entry needs its flags
        version = 3 if any(len(header) > _HEADER for _n, header, _r in kept) else 2
    return _serialize(version, kept, extensions)


def _rewrite_split(
    data: bytes,
    version: int,
    count: int,
    root: Path,
    changes: Mapping[str, bytes | None],
    settings: _Settings,
    split: _split.Split | None = None,
) -> bytes:
    """A split index: a new small ``.git/index`` linked to the same shared one (#26);
    ``split``: its parsed form, when this process remembers it."""
    if settings.split is False:
        raise _Refused("core.splitIndex is false: git unsplits it")
    if split is None:
        entries, ext_start = _entries(data, version, count)
        extensions = [(s, b) for s, b in _extensions(data, ext_start) if s not in _DROPPED]
        if any(sig not in (b"link", b"TREE") for sig, _b in extensions):
            raise _Refused("an extension this writer does not keep")
        split = _split.parse([(n, h) for n, h, _r in entries], extensions, settings.git_dir)
    for path, content in changes.items():
        name = path.encode("utf-8", "surrogateescape")
        old = split.lookup(name)
        entry = None
        if content is not None:
            was = (name, old, b"") if old is not None else None
            entry = _new_entry(root, path, name, content, was, settings.filemode)[1]
        _split.apply(split, name, entry)
    if _split.too_large(split, settings.max_percent):
        raise _split.Reshare("the split part has grown")
    split.extensions = [
        (sig, _invalidate(body, list(changes)) if sig == b"TREE" else body)
        for sig, body in split.extensions
    ]
    _split.freshen(settings.git_dir, split, always=settings.expire_set)
    return _split.serialize(split)


def split_view(data: bytes) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]] | None:
    """The entries (name, header) and extensions of a split ``.git/index``; None if not split.

    Raises ``_split.Refused`` (or a parse error) when it cannot be read here.
    """
    version, count = struct.unpack_from(">II", data, 4)
    if version not in (2, 3):
        raise _split.Refused(f"index version {version}")
    layout = _LAYOUTS.get(data[-20:]) or _walk(data, version, count)  # offsets only: cheap
    if layout is not None and not any(s == b"link" for s, _b in _extensions(data, layout[1])):
        return None
    entries, ext_start = _entries(data, version, count)
    extensions = _extensions(data, ext_start)
    if not any(sig == b"link" for sig, _b in extensions):
        return None
    return [(n, h) for n, h, _r in entries], extensions


def _kept_extensions(data: bytes, start: int, paths: list[str]) -> list[tuple[bytes, bytes]]:
    """The extensions the new index keeps (the cache tree invalidated along ``paths``)."""
    kept = []
    for sig, body in _extensions(data, start):
        if sig in _DROPPED:
            continue
        if sig != b"TREE":
            raise _Refused(f"extension {sig!r}")
        kept.append((sig, _invalidate(body, paths)))
    return kept


@record.dataclass
class _Splice:
    """Versions 2 and 3, files that are already staged: each entry rewritten where it is.

    One walk of the entry offsets (kept for the index this process writes next, whose
    offsets are the same), a binary search per path, and the untouched bytes copied as
    they are: what keeps a large index cheap.
    """

    data: bytes
    version: int
    layout: Layout

    def name_at(self, offset: int) -> bytes:
        data = self.data
        flags = (data[offset + 60] << 8) | data[offset + 61]
        start = offset + (64 if self.version == 3 and flags & _EXTENDED else 62)
        return data[start : start + (flags & _NAME_MASK)]

    def find(self, name: bytes) -> int | None:
        offsets = self.layout[0]
        i = bisect.bisect_left(offsets, name, key=self.name_at)
        return offsets[i] if i < len(offsets) and self.name_at(offsets[i]) == name else None

    def write(self, root: Path, changes: Mapping[str, bytes | None], filemode: bool) -> bytes:
        data, (offsets, ext_start, extended) = self.data, self.layout
        out = bytearray(data[:ext_start])
        for path, content in changes.items():
            name = path.encode("utf-8", "surrogateescape")
            at = self.find(name)
            if at is None or content is None:
                raise _Refused("not staged")  # checked by _splice
            old = (name, data[at : at + _HEADER], b"")
            out[at : at + _HEADER] = _new_entry(root, path, name, content, old, filemode)[1]
        if self.version == 3 and not extended:
            out[4:8] = struct.pack(">I", 2)  # as git demotes it
        for sig, body in _kept_extensions(data, ext_start, list(changes)):
            out += sig + struct.pack(">I", len(body)) + body
        digest = sha.sha1(out).digest()
        _LAYOUTS.clear()  # one index at a time: the one this process wrote last
        _LAYOUTS[digest] = (offsets, ext_start, extended)
        return bytes(out) + digest


Layout = tuple[list[int], int, bool]  # entry offsets, where the extensions start, v3 flags
_LAYOUTS: dict[bytes, Layout] = {}


def _walk(data: bytes, version: int, count: int) -> Layout | None:
    offsets, pos, extended = [], 12, False
    for _ in range(count):
        flags = (data[pos + 60] << 8) | data[pos + 61]
        size = 64 if version == 3 and flags & _EXTENDED else 62
        if flags & _NAME_MASK == _NAME_MASK:
            return None
        extended = extended or size == 64
        offsets.append(pos)
        pos += (size + (flags & _NAME_MASK) + 8) & ~7
    return offsets, pos, extended


def _splice(
    data: bytes, version: int, count: int, layout: Layout | None, paths: list[str]
) -> _Splice | None:
    """The in-place rewrite, when every changed path is staged at stage 0 already."""
    if layout is None or len(layout[0]) != count:
        return None
    splice = _Splice(data, version, layout)
    for path in paths:
        at = splice.find(path.encode("utf-8", "surrogateescape"))
        if at is None:
            return None  # an insert: the general path
        if ((data[at + 60] << 8) | data[at + 61]) & (_STAGE | _EXTENDED):
            raise _Refused("a conflict, skip-worktree or intent-to-add entry")
    return splice


def _changed(
    root: Path,
    path: str,
    name: bytes,
    content: bytes | None,
    by_name: Mapping[bytes, int],
    entries: list[Entry],
    filemode: bool,
) -> Entry | None:
    """The entry ``path`` gets (None: removed)."""
    old = entries[by_name[name]] if name in by_name else None
    if old is not None:
        flags = (old[1][60] << 8) | old[1][61]
        if flags & (_STAGE | _EXTENDED):
            raise _Refused("a conflict, skip-worktree or intent-to-add entry")
    elif content is not None:
        _check_no_clash(name, by_name)
    return None if content is None else _new_entry(root, path, name, content, old, filemode)


def _check_no_clash(name: bytes, by_name: Mapping[bytes, int]) -> None:
    parts = name.split(b"/")
    for i in range(1, len(parts)):
        if b"/".join(parts[:i]) in by_name:
            raise _Refused("a file where a directory goes")
    prefix = name + b"/"
    if any(other.startswith(prefix) for other in by_name):
        raise _Refused("a directory where a file goes")


def _new_entry(
    root: Path, path: str, name: bytes, content: bytes, old: Entry | None, filemode: bool
) -> Entry:
    from gitreg.store._git import blob_id

    st = os.lstat(root / path)
    if not stat.S_ISREG(st.st_mode) or st.st_size != len(content):
        raise _Refused("not the regular file just written")
    if filemode:
        mode = 0o100755 if st.st_mode & stat.S_IXUSR else 0o100644
    elif old is not None:
        mode = struct.unpack_from(">I", old[1], 24)[0]
    else:
        mode = 0o100644
    mask = 0xFFFFFFFF
    header = struct.pack(
        ">IIIIIIIIII20sH",
        (st.st_ctime_ns // 1_000_000_000) & mask,
        st.st_ctime_ns % 1_000_000_000,
        (st.st_mtime_ns // 1_000_000_000) & mask,
        st.st_mtime_ns % 1_000_000_000,
        st.st_dev & mask,
        st.st_ino & mask,
        mode,
        st.st_uid & mask,
        st.st_gid & mask,
        st.st_size & mask,
        bytes.fromhex(blob_id(content)),
        min(len(name), _NAME_MASK),
    )
    return name, header, b""


def _serialize(version: int, entries: list[Entry], extensions: list[tuple[bytes, bytes]]) -> bytes:
    parts = [b"DIRC", struct.pack(">II", version, len(entries))]
    previous = b""
    for name, header, raw in entries:
        if raw:
            parts.append(raw)  # untouched, byte for byte
        elif version == 4:
            common = 0
            limit = min(len(previous), len(name))
            while common < limit and previous[common] == name[common]:
                common += 1
            parts += [header, _varint_encode(len(previous) - common), name[common:], b"\0"]
        else:
            length = len(header) + len(name)
            parts += [header, name, b"\0" * (((length + 8) & ~7) - length)]
        previous = name
    for sig, body in extensions:
        parts += [sig, struct.pack(">I", len(body)), body]
    out = b"".join(parts)
    return out + sha.sha1(out).digest()


# ------------------------------------------------------------------- cache tree


def _invalidate(body: bytes, paths: list[str]) -> bytes:
    """The ``TREE`` extension with every directory on ``paths`` marked invalid (-1)."""
    dirs = {""}
    for path in paths:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    out: list[bytes] = []
    end = _copy_node(body, 0, "", True, dirs, out, set(paths))
    if end != len(body):
        raise _Refused("a cache tree this reader does not follow")
    return b"".join(out)


def _copy_node(
    body: bytes, pos: int, parent: str, top: bool, dirs: set[str], out: list[bytes], files: set[str]
) -> int:
    nul = body.index(b"\0", pos)
    raw_name = body[pos:nul]
    name = raw_name.decode("utf-8", "surrogateescape")
    path = "" if top else (f"{parent}/{name}" if parent else name)
    if not top and path in files:
        raise _Refused("a directory where a file goes")
    newline = body.index(b"\n", nul)
    count_text, subtrees_text = body[nul + 1 : newline].split(b" ")
    count, subtrees = int(count_text), int(subtrees_text)
    pos = newline + 1
    oid = b""
    if count >= 0:
        oid, pos = body[pos : pos + 20], pos + 20
    out.append(raw_name + b"\0")
    out.append(b"-1 %d\n" % subtrees if path in dirs else b"%d %d\n" % (count, subtrees) + oid)
    for _ in range(subtrees):
        pos = _copy_node(body, pos, path, False, dirs, out, files)
    return pos
