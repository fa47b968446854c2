"""Git objects without a git process per object: one reader, loose writes, tree splices.

A write used to build its commit through a temporary index (``read-tree`` of the whole
tree, ``update-index``, ``write-tree``, ``commit-tree``: four processes and work that grew
with the registry, see #15). Here the blob, the trees on the changed paths (``models/`` and
the root) and the commit are written as loose objects by this process, exactly as git
writes them (``<type> <size>\\0<data>``, SHA-1, zlib, a temporary file renamed into
``objects/xx/``), and the existing trees are read through one long-lived
``git cat-file --batch``. Only the trees on a changed path are rewritten; their other
entries are copied byte for byte.

Callers use this only for a plain SHA-1 repository whose objects live in its own
``objects`` directory (``_repo.Repo.fast``); anything else takes git's own commands.
"""

from __future__ import annotations

import _thread
import bisect
import contextlib
import os
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gitreg.core import sha
from gitreg.core.errors import GitFailed
from gitreg.store import memo
from gitreg.store._git import blob_id

if TYPE_CHECKING:
    import subprocess
    import weakref
    from types import ModuleType

    from gitreg.store import _stored

TREE_MODE = b"40000"
FILE_MODE = b"100644"
# git's default for loose objects (core.looseCompression). A tree above this size (the
# models/ tree of a 10,000-model registry is 400 kB of mostly SHA-1s, which zlib shrinks
# by a third in 4.4 ms, twice the rest of a write) is stored uncompressed, a level git
# reads like any other; the next ``git gc`` packs and compresses it (see #15).
LOOSE_LEVEL = 1
STORE_TREES_ABOVE = 64 * 1024
KEEP_TREES = 8
# A blob this large may be compressed in pieces (``_deflate.LARGE`` and above): only then
# is ``_deflate`` loaded, which a small registry's write never needs (#26).
_PIECES_FROM = 64 * 1024


def _sha1(header: bytes, data: bytes) -> str:
    digest = sha.sha1(header, more=len(data))
    digest.update(data)  # not header + data: a copy of a 1.6 MB manifest (#26)
    return digest.hexdigest()


def object_id(kind: str, data: bytes) -> str:
    """The id git gives ``data`` as an object of ``kind`` (blob, tree, commit)."""
    return blob_id(data) if kind == "blob" else _sha1(b"%s %d\0" % (kind.encode(), len(data)), data)


def write_loose(
    objects: Path, kind: str, data: bytes, level: int | None = None, *, like: str | None = None
) -> str:
    """Store ``data`` as a loose object of ``kind`` (if it is not there yet); its id.

    As git does: a temporary file in the object's fan-out directory, read-only, then
    renamed into place, so a reader never sees a partial object. Durability is git's
    default (no fsync of loose objects; ``core.fsync`` governs git's own). A large blob is
    compressed in pieces, reusing those it shares with blob ``like`` (the one it replaces,
    ``_deflate``, #26); its id is hashed once per process (``_git.blob_id``).
    """
    header = b"%s %d\0" % (kind.encode(), len(data))
    oid = blob_id(data) if kind == "blob" else _sha1(header, data)
    if level is None:
        level = 0 if kind == "tree" and len(data) > STORE_TREES_ABOVE else LOOSE_LEVEL

    written: list[list[bytes]] = []

    def body() -> bytes | list[bytes | memoryview]:
        if kind == "blob" and level:
            pieces = _piece_writer(len(data))
            if pieces is not None and len(data) >= pieces.LARGE:
                from gitreg.store import _deflate_record

                _deflate_record.recall(objects, like, pieces)
                parts: list[bytes] = pieces.deflate_parts(oid, header, data, level, like)
                written.append(parts)
                return list(parts)
        packed = zlib.compressobj(level)
        return packed.compress(header) + packed.compress(data) + packed.flush()

    _store(objects, oid, body)
    if written:  # this process wrote the object in pieces: the next one may reuse them
        from gitreg.store import _deflate_record

        _deflate_record.keep(objects, oid, len(data), written[0])
    return oid


def _piece_writer(size: int) -> ModuleType | None:
    """``_deflate`` when it may compress a blob of ``size`` bytes in pieces: loaded for a
    blob of ``_PIECES_FROM`` bytes or more, or already (its ``LARGE`` then decides)."""
    loaded = sys.modules.get("gitreg.store._deflate")
    if loaded is None and size >= _PIECES_FROM:
        from gitreg.store import _deflate as loaded
    return loaded


def write_tree(objects: Path, tree: Tree) -> str:
    """Store ``tree`` as a loose tree object (if it is not there yet); its id.

    A large tree is hashed and framed from the blocks it shares with the tree it was made
    from (``_stored``, #26); its stream is the same uncompressed one as before."""
    if len(tree.raw) <= STORE_TREES_ABOVE:
        return write_loose(objects, "tree", tree.raw)
    from gitreg.store import _stored  # large trees only (#26)

    old, low, high = tree.origin if tree.origin is not None else (None, 0, None)
    oid, known = _stored.sums(tree.raw, old, low, high)
    tree.sums, tree.origin = known, None
    return _store(objects, oid, lambda: _stored.pieces(tree.raw, known))


def _store(objects: Path, oid: str, body: Callable[[], bytes | list[bytes | memoryview]]) -> str:
    """Write object ``oid`` with the zlib stream ``body()`` (its bytes, or its pieces in
    order) unless it is there already.

    As git does: a temporary file in the object's fan-out directory, read-only, then
    renamed into place, so a reader never sees a partial object."""
    directory = objects / oid[:2]
    final = directory / oid[2:]
    if final.exists():
        return oid
    content = body()
    tmp = directory / f"tmp_obj_gitreg_{os.getpid()}_{_thread.get_ident()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o444)
    except FileNotFoundError:  # a fan-out directory git gc removed (one syscall saved else)
        directory.mkdir(exist_ok=True)
        fd = os.open(tmp, flags, 0o444)
    try:
        try:
            _write_all(fd, [content] if isinstance(content, bytes) else content)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return oid


def _write_all(fd: int, parts: list[bytes | memoryview]) -> None:
    """All of ``parts`` to ``fd`` in order: one ``writev`` (a short write goes on after;
    joined first where there is no ``writev``: Windows)."""
    if len(parts) > 1 and not hasattr(os, "writev"):
        parts = [b"".join(parts)]
    # At most 1,024 parts per writev (IOV_MAX); the rest by the loop below (a 4 MB blob's
    # stream, gitreg's limit, is about 130).
    done = os.writev(fd, parts[:1024]) if len(parts) > 1 else os.write(fd, parts[0])
    for part in parts:
        size = len(part)
        if done >= size:
            done -= size
            continue
        view = memoryview(part)[done:]
        while view:
            view = view[os.write(fd, view) :]
        done = 0


# ------------------------------------------------------------------------- reading


class Reader:
    """One ``git cat-file --batch`` for the life of a store: objects by id or ``rev:path``.

    Objects written after it started are found (git looks again on a miss), so it serves
    every transaction of a long-lived process. Give it full object ids, never refs: a
    ref's value is read fresh by the caller.
    """

    def __init__(self, root: Path, objects: Path | None = None) -> None:
        self.root = root
        # The repository's own object directory when its loose objects may be read here
        # (a plain SHA-1 repository, ``_repo.Repo.fast``); None: every read asks git.
        self.objects = objects
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes]], Reader] | None = None
        self._lock = _thread.allocate_lock()

    def _start(self) -> subprocess.Popen[bytes]:
        # Loaded here: a write whose objects are all loose starts no process (#26).
        import subprocess
        import weakref

        try:
            proc = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                cwd=self.root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except FileNotFoundError as e:
            raise GitFailed("git is not installed or not on PATH; install git") from e
        self._finalizer = weakref.finalize(self, _stop, proc)
        return proc

    def read(self, spec: str) -> tuple[str, str, bytes] | None:
        """(object id, type, content) of ``spec``, or None when it names nothing."""
        if "\n" in spec or "\0" in spec:
            return None
        if self.objects is not None and len(spec) == 40:
            loose = read_loose(self.objects, spec)
            if loose is not None:
                return loose
        with self._lock:
            for _attempt in (1, 2):
                proc = self._proc = self._proc or self._start()
                assert proc.stdin is not None
                assert proc.stdout is not None
                try:
                    proc.stdin.write(spec.encode("utf-8", "surrogateescape") + b"\n")
                    proc.stdin.flush()
                    header = proc.stdout.readline()
                    if not header:
                        raise BrokenPipeError
                except (BrokenPipeError, OSError):
                    self.close()  # it died (killed, or git was upgraded under us): restart
                    continue
                fields = header.split()
                if fields[-1] in (b"missing", b"ambiguous") or len(fields) != 3:
                    return None  # "<spec> missing" (a spec may hold spaces)
                size = int(fields[2])
                data = proc.stdout.read(size + 1)[:size]
                return fields[0].decode(), fields[1].decode(), data
        raise GitFailed(f"git cat-file stopped answering in {self.root}")

    def close(self) -> None:
        """Stop the process (also done when the reader is garbage collected)."""
        if self._finalizer is not None:
            self._finalizer()
        self._proc = None


def read_loose(objects: Path, oid: str) -> tuple[str, str, bytes] | None:
    """(id, type, content) of the loose object ``oid`` in ``objects``, read in this process.

    What a write reads (the tip commit, its root and ``models/`` trees) is loose: the last
    write wrote it. Reading it here spares a cold command the ``cat-file`` process, a
    tenth of its time (#26). None for anything else (not loose, not a full lower-case id,
    not a well-formed object): the caller asks git, which reads packs and alternates and
    says what is wrong with a damaged object.
    """
    if oid.strip("0123456789abcdef"):
        return None
    try:
        with open(objects / oid[:2] / oid[2:], "rb") as f:
            data = zlib.decompress(f.read())
    except (OSError, zlib.error):
        return None
    nul = data.find(b"\0", 0, 32)
    kind, _, size = data[:nul].partition(b" ")
    if nul < 0 or kind not in _KINDS or not size.isdigit() or int(size) != len(data) - nul - 1:
        return None
    return oid, kind.decode(), data[nul + 1 :]


_KINDS = (b"blob", b"tree", b"commit", b"tag")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    import subprocess

    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        _exited(proc, 5.0)
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _exited(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until ``proc`` has ended (or ``timeout``), woken by its exit.

    ``Popen.wait`` with a timeout polls, sleeping 1 ms first: at a cold write's exit, the
    reader's ``cat-file`` (ending on its closed stdin within a fraction of that) cost a
    full sleep (#26). A pidfd (Linux 5.3) becomes readable when the process ends; where
    there is none, the caller's ``wait`` polls as before. Only a process not yet reaped
    is asked (its id cannot have been reused).
    """
    if proc.returncode is not None or not hasattr(os, "pidfd_open"):
        return
    import select  # loaded with subprocess already

    try:
        fd = os.pidfd_open(proc.pid)
    except OSError:
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(int(timeout * 1000))
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- trees


class Tree:
    """A tree object's bytes and where each entry is, to replace one entry cheaply."""

    def __init__(self, raw: bytes, offsets: Sequence[int] | None = None) -> None:
        self.raw = raw
        self._spans: dict[bytes, tuple[int, int]] | None = None
        # Where each entry starts, kept by an earlier process (``memo``): one entry is
        # found by bisection, each offset used checked against the bytes, instead of
        # splitting 10,000 entries (#26). None once found wrong, or never given.
        self.offsets = offsets
        # A large tree's block sums once written (``write_tree``); one made from such a
        # tree by same-size replacements: those sums, and the bytes it may differ in.
        self.sums: _stored.Sums | None = None
        self.origin: tuple[_stored.Sums, int, int] | None = None

    @property
    def spans(self) -> dict[bytes, tuple[int, int]]:
        """Entry name -> (start, end) in ``raw``, in the tree's (git's) order."""
        if self._spans is None:
            spans, raw, pos, end = {}, self.raw, 0, len(self.raw)
            while pos < end:
                nul = raw.index(b"\0", pos)
                name = raw[raw.index(b" ", pos, nul) + 1 : nul]
                spans[name] = (pos, nul + 21)
                pos = nul + 21
            self._spans = spans
        return self._spans

    def find(self, name: bytes) -> tuple[int, int] | None:
        """(start, end) of the entry ``name`` in ``raw``, or None."""
        if self._spans is None and self.offsets is not None:
            try:
                return self._bisect(name)
            except _Unsure:
                self.offsets = None  # not this tree's: split it as without a memo
        return self.spans.get(name)

    def _bisect(self, name: bytes) -> tuple[int, int] | None:
        """``find`` through ``offsets``: git sorts a tree's names, a subtree's as if it
        ended in '/'. Each entry looked at must sit exactly between its offset and the
        next one (else ``_Unsure``)."""
        offsets = self.offsets
        assert offsets is not None
        count = len(offsets)
        if not count or offsets[0] != 0:
            raise _Unsure
        if b"/" in name:
            return None  # no entry's name holds one
        for key in (name, name + b"/"):
            i = bisect.bisect_left(range(count), key, key=self._key_at)
            if i < count and self._key_at(i) == key:
                return offsets[i], self._end_at(i)
        return None

    def _end_at(self, i: int) -> int:
        offsets = self.offsets
        assert offsets is not None
        return offsets[i + 1] if i + 1 < len(offsets) else len(self.raw)

    def _key_at(self, i: int) -> bytes:
        """The sort key of entry ``i`` (its name, '/' after a subtree's), checked."""
        assert self.offsets is not None
        raw, start, end = self.raw, self.offsets[i], self._end_at(i)
        nul = raw.find(b"\0", start, end)
        space = raw.find(b" ", start, nul)
        if nul < 0 or space <= start or nul + 21 != end or not raw[start:space].isdigit():
            raise _Unsure
        name = raw[space + 1 : nul]
        return name + b"/" if raw[start:space] == TREE_MODE else name

    def entry(self, name: bytes) -> tuple[bytes, str] | None:
        """(mode, object id) of the entry ``name``, or None."""
        span = self.find(name)
        if span is None:
            return None
        start, end = span
        record = self.raw[start:end]
        return record[: record.index(b" ")], record[-20:].hex()

    def with_entry(self, name: bytes, mode: bytes | None, oid: str | None) -> Tree:
        """A copy with entry ``name`` set to ``mode``/``oid``, or removed (``oid`` None)."""
        record = (
            b"" if oid is None or mode is None else b"%s %s\0%s" % (mode, name, bytes.fromhex(oid))
        )
        span = self.find(name)
        if span is not None:
            start, end = span
        else:
            if oid is None:
                return self
            start = end = self._insertion_point(name, mode == TREE_MODE)
        raw = memoryview(self.raw)  # one copy of a 400 kB tree, not three
        tree = Tree(b"".join((raw[:start], record, raw[end:])))
        if end - start == len(record):  # same size: every other entry stays where it was
            tree.offsets = self.offsets
            if self._spans is not None:
                tree._spans = self._spans
                self._spans[name] = (start, end)
            if self.sums is not None:
                tree.origin = (self.sums, start, end)
            elif self.origin is not None:
                known, low, high = self.origin
                tree.origin = (known, min(low, start), max(high, end))
        return tree

    def _insertion_point(self, name: bytes, is_tree: bool) -> int:
        """Where a new entry goes: git sorts names, a tree's name as if it ended in '/'."""
        key = name + b"/" if is_tree else name
        for other, (start, _end) in self.spans.items():
            mode = self.raw[start : self.raw.index(b" ", start)]
            if (other + b"/" if mode == TREE_MODE else other) > key:
                return start
        return len(self.raw)


class _Unsure(Exception):
    """Offsets that do not describe this tree."""


def blob_at(writer: TreeWriter, tree: str | None, path: str) -> str | None:
    """The id of the regular file ``path`` in ``tree``, read from the trees alone (#26).

    None when there is no such path. Raises KeyError for anything else there (a link, a
    submodule, a directory): the caller then reads it the usual way.
    """
    oid, mode = tree, TREE_MODE
    for part in path.split("/"):
        if oid is None or mode != TREE_MODE:
            return None
        entry = writer.load(oid).entry(part.encode())
        oid, mode = (entry[1], entry[0]) if entry is not None else (None, b"")
    if oid is not None and mode != FILE_MODE:
        raise KeyError(path)
    return oid


class TreeWriter:
    """Writes the trees on the changed paths of a commit, reading the others by id."""

    def __init__(self, reader: Reader, objects: Path, cache: dict[str, Tree]) -> None:
        self.reader, self.objects, self.cache = reader, objects, cache

    def load(self, oid: str | None) -> Tree:
        """The tree ``oid`` (an empty one for None)."""
        if oid is None:
            return Tree(b"")
        tree = self.cache.get(oid)
        if tree is None:
            found = self.reader.read(oid)
            if found is None or found[1] != "tree":
                raise GitFailed(f"tree {oid} is missing from the repository; run git fsck")
            tree = Tree(found[2])
            if len(tree.raw) > STORE_TREES_ABOVE:
                tree.offsets = memo.load_offsets(self._state_dir, "tree", oid, len(tree.raw))
            self._keep(oid, tree)
        return tree

    @property
    def _state_dir(self) -> Path:
        return self.objects.parent / "gitreg"

    def _remember(self, base: str | None, new: str, tree: Tree) -> None:
        """Keep where the entries of large tree ``new`` start, for the next process (a
        CLI write's, ``memo.for_next_process``), in place of those of ``base``."""
        if not memo.for_next_process or len(tree.raw) <= STORE_TREES_ABOVE:
            return
        spans = tree._spans  # a same-size change of a tree split or found by its offsets
        offsets = tree.offsets or (None if spans is None else [s for s, _e in spans.values()])
        if offsets is not None:
            memo.save_offsets(self._state_dir, "tree", new, len(tree.raw), offsets, base)
        elif base is not None:  # a grown tree: its offsets are found at the next write
            memo.drop_offsets(self._state_dir, "tree", base)

    def _keep(self, oid: str, tree: Tree) -> None:
        """Remember a few recent trees: the ones the next write of this process builds on."""
        self.cache[oid] = tree
        while len(self.cache) > KEEP_TREES:
            del self.cache[next(iter(self.cache))]

    def update(self, oid: str | None, changes: Mapping[str, str | None]) -> str | None:
        """The id of tree ``oid`` with ``changes`` (path -> blob id, None deletes) applied.

        None when the result is empty (git stores no empty trees below the root).
        """
        tree = self.load(oid)
        subdirs: dict[str, dict[str, str | None]] = {}
        for path, blob in changes.items():
            head, sep, rest = path.partition("/")
            if sep:
                subdirs.setdefault(head, {})[rest] = blob
            else:
                tree = tree.with_entry(head.encode(), FILE_MODE, blob)
        for name, inner in subdirs.items():
            current = tree.entry(name.encode())
            base = current[1] if current is not None and current[0] == TREE_MODE else None
            sub = self.update(base, inner)
            tree = tree.with_entry(name.encode(), TREE_MODE, sub)
        if not tree.raw:
            return None
        new = write_tree(self.objects, tree)
        if new != oid:
            self._remember(oid, new, tree)
        self._keep(new, tree)
        return new
