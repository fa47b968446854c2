"""The site's output directory: which one gitreg may write, and writing it file by file.

gitreg writes only into a new or empty directory, or one that holds a previous build (it
has the ``.gitreg-site.json`` marker, which lists the files that build wrote with a SHA-256
of each). It never writes into the registry itself, a directory that contains it, or the
git directory. Each file is written to a temporary name beside it and renamed into place,
so a reader (or a server) never sees half a page. Files a previous build wrote and this one
did not are removed; nothing else is ever deleted, so a ``CNAME`` you put there stays.

Nothing in OUTDIR is trusted, the marker included (#23). OUTDIR itself may be a symbolic
link (the user named it), but a link *inside* it is refused before anything is written,
and every directory below OUTDIR is opened relative to its parent without following a link
(``O_NOFOLLOW``), so a link that appears during the build cannot lead a write or a delete
outside. A file the marker lists is deleted only if it is a regular file whose content still
has the hash the marker recorded for it: a tampered marker can name only gitreg's own pages.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from gitreg.core.errors import GitregError, InvalidParameter
from gitreg.site import _dirfd

MARKER = ".gitreg-site.json"
_FORMAT = 2  # 2: files -> SHA-256 of what was written (1 was a bare list: nothing is deleted)
MAX_MARKER_BYTES = 64 * 1024 * 1024  # a listing of about 500,000 files
_MARKER_END = b'}, "format": %d, "generator": "gitreg site"}' % _FORMAT  # json.dumps's
_MAX_LINK_SCAN = 1_000_000  # entries looked at for links before a build
# A directory as a build last saw it: inode and status-change time. Adding, removing or
# renaming an entry (a link included) changes the time, and no user can set it back.
DirStat = tuple[int, int]


class OutputRefused(InvalidParameter):
    """The output directory is not one gitreg may write the site into."""


class OutputFailed(GitregError):
    """Writing the site failed (permissions, a full disk); what was written stays."""


def check_outdir(
    outdir: Path, registry_root: Path, known: Mapping[str, DirStat | None] | None = None
) -> dict[str, DirStat | None]:
    """Refuse an output directory gitreg must not write into (see module doc); answer its
    directories (``/``-separated, ``""`` for OUTDIR) as they are now.

    ``known``: the directories as the previous build left them (``dirs_after``); one whose
    inode and status-change time are the same still holds exactly the entries it held, so
    it is not listed again for links (its subdirectories still are looked at).

    Raises:
        OutputRefused: it is the registry or contains it, is inside its git directory, is a
            file, holds files that are not a previous build's, or holds a symbolic link.
    """
    out, root = outdir.resolve(), registry_root.resolve()
    if out == root or out in root.parents:
        raise OutputRefused(
            f"{outdir} is the registry or contains it; give the site its own directory, e.g. _site"
        )
    git = (root / ".git").resolve()
    if out == git or git in out.parents:
        raise OutputRefused(f"{outdir} is inside the registry's git directory; choose another")
    if outdir.exists() and not outdir.is_dir():
        raise OutputRefused(f"{outdir} is a file; give a directory for the site")
    if not outdir.is_dir():
        return {}
    if not _is_regular(outdir / MARKER) and any(outdir.iterdir()):
        raise OutputRefused(
            f"{outdir} holds files that gitreg site did not write (it has no {MARKER}); "
            "choose a new or empty directory"
        )
    link, seen = _first_link(outdir, known or {})
    if link is not None:
        raise OutputRefused(
            f"{link} is a symbolic link inside the site directory; gitreg site never writes or "
            "deletes through a link there: remove it (the site's own files are plain files)"
        )
    return seen


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _first_link(
    outdir: Path, known: Mapping[str, DirStat | None]
) -> tuple[Path | None, dict[str, DirStat | None]]:
    """The first symbolic link found below ``outdir`` (links are never followed), if any,
    and every directory seen with its ``DirStat``; a directory ``known`` as it is now is not
    listed again: its subdirectories are those ``known`` names below it."""
    if known and _all_as_known(outdir, known):
        return None, dict(known)  # what the walk below finds when nothing changed
    below: dict[str, list[str]] = {}
    for relative in known:
        if relative:
            below.setdefault(relative.rpartition("/")[0], []).append(relative)
    base = str(outdir)
    pending, count = [""], 0  # plain strings: a rebuild looks at thousands (#26)
    seen: dict[str, DirStat | None] = {}
    while pending:
        relative = pending.pop()
        path = f"{base}/{relative}" if relative else base
        now = dir_stat(path, follow=not relative)  # OUTDIR itself may be a link: yours
        if now is None:
            continue
        seen[relative] = now
        if known.get(relative) == now:
            pending += below.get(relative, ())
            continue
        with contextlib.suppress(OSError), os.scandir(path) as entries:
            for entry in entries:
                count += 1
                if entry.is_symlink():
                    return Path(entry.path), seen
                if entry.is_dir(follow_symlinks=False) and count < _MAX_LINK_SCAN:
                    pending.append(f"{relative}/{entry.name}" if relative else entry.name)
    return None, seen


def _all_as_known(outdir: Path, known: Mapping[str, DirStat | None]) -> bool:
    """Whether every directory ``known`` names is still that directory, as it was left
    (its inode and status-change time): then none had an entry added, removed or renamed,
    and so none holds a link the build that recorded them did not see. One ``lstat`` per
    directory in a tight loop, no listing (a rebuild looks at thousands, #26); any
    difference answers False and the walk looks at what changed."""
    base, lstat, is_dir = str(outdir), os.lstat, stat.S_ISDIR
    try:
        for relative, then in known.items():
            info = lstat(f"{base}/{relative}") if relative else os.stat(base)
            if (info.st_ino, info.st_ctime_ns) != then or not is_dir(info.st_mode):
                return False
    except OSError:
        return False
    return True


def dir_stat(path: str, *, follow: bool = False) -> DirStat | None:
    """The ``DirStat`` of directory ``path`` (None: not a directory, or gone)."""
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_ctime_ns) if stat.S_ISDIR(info.st_mode) else None


def dirs_after(
    outdir: Path, before: Mapping[str, DirStat | None], touched: Iterable[str]
) -> dict[str, DirStat | None]:
    """The directories as a build leaves them: those it ``touched`` (wrote or removed a
    file in, or made) as they are now, the others as it found them (``before``)."""
    found = dict(before)
    base = str(outdir)
    for relative in sorted(set(touched)):
        now = dir_stat(f"{base}/{relative}" if relative else base, follow=not relative)
        if now is None:
            found.pop(relative, None)
        else:
            found[relative] = now
    return found


def previous_listing(outdir: Path) -> dict[str, str | None]:
    """The files a previous build's marker lists (path -> SHA-256), read without creating,
    changing or following anything; empty when there is no such build."""
    if not outdir.is_dir():
        return {}
    tree = _dirfd.Tree(outdir, _refused)
    try:
        return _previous_files(tree)
    finally:
        tree.close()


def marker_bytes(outdir: Path) -> bytes | None:
    """The marker in ``outdir``, read as ``previous_listing`` reads it (a regular file, no
    link followed, bounded); None when there is none."""
    if not outdir.is_dir():
        return None
    tree = _dirfd.Tree(outdir, _refused)
    try:
        return tree.read([], MARKER, limit=MAX_MARKER_BYTES)
    finally:
        tree.close()


def marker_digest(outdir: Path) -> str | None:
    """The SHA-256 of the marker in ``outdir`` (``marker_bytes``); None when there is none."""
    data = marker_bytes(outdir)
    return hashlib.sha256(data).hexdigest() if data is not None else None


class Listing(dict[str, "str | None"]):
    """A previous build's files (path -> SHA-256) that may go, with the marker that listed
    them: ``raw``, the marker's bytes when they are the ones the previous build wrote (its
    record says so by their SHA-256), which ``SiteOutput.finish`` patches (#26)."""

    raw: bytes | None = None


class SiteOutput:
    """Writes the site's files into ``root`` and, at the end, removes the previous build's rest."""

    def __init__(self, root: Path, previous: dict[str, str | None] | None = None) -> None:
        """``previous``: the previous build's listing, when the caller has just read it
        (``previous_listing``), else it is read here."""
        self.root = root
        with _failing_as(root):
            root.mkdir(parents=True, exist_ok=True)  # OUTDIR itself: the user's path, as given
            self._dirs = _dirfd.Tree(root, _refused)
        weakref.finalize(self, self._dirs.close)
        self.previous = previous if previous is not None else _previous_files(self._dirs)
        self.written: dict[str, str] = {}
        self.fresh: set[str] = set()  # what this build wrote (``written`` less the kept)
        self.own: dict[str, str] = {}  # what ``write`` wrote: the files of no one model
        self.marker_digest = ""  # the SHA-256 of the marker ``finish`` wrote
        self.touched: set[str] = {""}  # directories written or removed in, and above
        self.size = 0
        self.notes: list[str] = []

    def write(self, relative: str, content: str | bytes) -> tuple[str, int]:
        """Write one file (a ``/``-separated path inside the site) atomically; its SHA-256
        and size."""
        data = content.encode("utf-8") if isinstance(content, str) else content
        digest = hashlib.sha256(data).hexdigest()
        if self.previous.get(relative) == digest and self._on_disk(relative, data):
            # The previous build wrote these very bytes and they are still there: a
            # rebuild leaves the file (and its directory) as it is: no write, no rename
            # (the static files, the comparison page, an index chunk no change reached).
            self.written[relative] = digest  # as the previous marker lists it
            size = len(data)
            self.size += size
        else:
            _digest, size, _mtime = self.write_only(relative, data, digest)
            self.record(relative, digest, size)
        self.own[relative] = digest
        return digest, size

    def _on_disk(self, relative: str, data: bytes) -> bool:
        """Whether ``relative`` is a regular file (no link followed) holding ``data``."""
        *folders, name = _checked(relative).split("/")
        return self._dirs.read(folders, name, limit=len(data) + 1) == data

    def write_only(
        self, relative: str, data: bytes, digest: str | None = None
    ) -> tuple[str, int, int]:
        """``write`` without counting the file (the caller records it); its SHA-256
        (``digest``, when the caller has it), size and modification time as written."""
        *folders, name = _checked(relative).split("/")
        with _failing_as(self.root, relative):
            mtime = self._dirs.write(folders, name, data)
        self._touch(relative)
        return digest or hashlib.sha256(data).hexdigest(), len(data), mtime

    def record(self, relative: str, digest: str, size: int) -> None:
        """Count a file another writer of this build wrote (a worker process, see
        ``site.parallel``) as this build's."""
        self.written[_checked(relative)] = digest
        self.fresh.add(relative)
        self._touch(relative)
        self.size += size

    def keep(self, relative: str, digest: str, size: int = 0) -> None:
        """Keep a previous build's file as this build's (an incremental rebuild, #26): it is
        neither rewritten nor removed, and the marker lists it with its recorded hash.
        ``relative`` comes from the build's record (trusted, as the clone's other caches:
        its paths were checked when they were written), so it is not checked again: a
        rebuild keeps tens of thousands (#26)."""
        self.written[relative] = digest
        self.size += size

    def _touch(self, relative: str) -> None:
        """Note the directories a write or removal of ``relative`` changed (with those
        above: a directory made changes its parent)."""
        folder = relative.rpartition("/")[0]
        while folder not in self.touched:
            self.touched.add(folder)
            folder = folder.rpartition("/")[0]

    def finish(self) -> int:
        """Remove what only the previous build wrote, record this build; return files removed."""
        removed, unverified = 0, 0
        written = self.written
        gone = sorted(r for r in self.previous if r not in written)  # not all 60,000 (#26)
        for relative in gone:
            digest = self.previous[relative]
            if digest is None:
                unverified += 1
            elif self._remove_own(relative, digest):
                removed += 1
        if unverified:
            self.notes.append(
                f"{unverified} file(s) of the previous build were left in {self.root}: its "
                f"{MARKER} has no content hashes (an older gitreg), so gitreg cannot tell its "
                "pages from yours; delete the directory once to start clean"
            )
        data = self._patched(gone)
        if data is None:
            listing = {"generator": "gitreg site", "format": _FORMAT, "files": self.written}
            data = json.dumps(listing, sort_keys=True).encode()  # no indent: C's encoder
        with _failing_as(self.root / MARKER):
            self._dirs.write([], MARKER, data)
        self.marker_digest = hashlib.sha256(data).hexdigest()
        self._dirs.close()
        return removed

    def _patched(self, gone: Sequence[str]) -> bytes | None:
        """The new marker as the previous one with the hashes of the files this build wrote
        replaced, when that is byte for byte what ``json.dumps`` makes of this build's
        listing: the previous marker is the one the last build wrote (``Listing.raw``), no
        file of it went, and it lists as many files as this build, each written one among
        them (the kept ones are, by the record that names them). Every hash is 64 hex
        digits, so the rest of the bytes stay where they are; None: dumped whole (#26)."""
        raw = getattr(self.previous, "raw", None)
        if not isinstance(raw, bytes) or gone or not raw.startswith(b'{"files": {'):
            return None
        if not raw.endswith(_MARKER_END) or raw.count(b'": "') != len(self.written) + 1:
            return None
        patched = bytearray(raw)
        for relative in sorted(self.fresh):
            needle = b'"' + relative.encode() + b'": "'
            at = raw.find(needle)
            if at < 0 or raw.find(needle, at + 1) >= 0:
                return None
            start = at + len(needle)
            if raw[start + 64 : start + 65] != b'"':
                return None
            patched[start : start + 64] = self.written[relative].encode()
        return bytes(patched)

    def _remove_own(self, relative: str, digest: str) -> bool:
        """Delete ``relative`` if it is still the regular file the previous build wrote."""
        *folders, name = relative.split("/")
        data = self._dirs.read(folders, name, limit=None)
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            return False
        if not self._dirs.unlink(folders, name):
            return False
        self._touch(relative)
        self._dirs.prune(folders)
        return True


class FileWriter:
    """Writes files below ``root`` as ``SiteOutput.write`` does, and nothing else: what a
    worker process uses (it opens its own descriptors; the parent records the files)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs = _dirfd.Tree(root, _refused)

    def write(self, relative: str, content: bytes) -> tuple[str, int, int]:
        """Write one file atomically; its SHA-256, size and modification time as written."""
        *folders, name = _checked(relative).split("/")
        with _failing_as(self.root, relative):
            mtime = self._dirs.write(folders, name, content)
        return hashlib.sha256(content).hexdigest(), len(content), mtime

    def close(self) -> None:
        """Close its descriptors."""
        self._dirs.close()


@contextlib.contextmanager
def _failing_as(path: Path, relative: str = "") -> Iterator[None]:
    """An OSError while writing ``path`` (joined with ``relative`` only then: a build writes
    tens of thousands of files) as one line that says what to check (exit 1)."""
    try:
        yield
    except OSError as e:
        shown = path / relative if relative else path
        raise OutputFailed(
            f"cannot write {shown}: {e.strerror or e}; check that OUTDIR is writable and the "
            "disk has room, then build again"
        ) from e


def _refused(path: str, kind: str) -> OutputRefused:
    return OutputRefused(
        f"{path} is {kind} inside the site directory; gitreg site never writes or deletes "
        "through a link there: remove it and build again"
    )


# The paths a build makes: parts that start with a letter, digit, "_" or "-" (never "." or
# "..") joined by single "/"; anything else is checked part by part below.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.%-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.%-]*)*")


def _checked(relative: str) -> str:
    """A relative path that stays inside the site (the builder makes them; this is a guard)."""
    if _PLAIN_PATH.fullmatch(relative):  # a build checks tens of thousands (#26)
        return relative
    parts = relative.split("/")  # "", "." and ".." parts, a leading or doubled "/": refused
    bad = not relative or "\\" in relative or "\0" in relative
    if bad or any(p in ("", ".", "..") for p in parts):
        raise InvalidParameter(f"refusing to write {relative!r} outside the site directory")
    return relative


def _previous_files(dirs: _dirfd.Tree) -> dict[str, str | None]:
    """The files the previous build listed in its marker: path -> SHA-256 (None: unknown).

    The marker is read as hostile input: a regular file (not a link, not a FIFO) of bounded
    size, only safe relative paths, only hex digests.
    """
    raw = dirs.read([], MARKER, limit=MAX_MARKER_BYTES)
    try:
        listing = json.loads(raw) if raw is not None else None
    except ValueError:
        return {}
    files = listing.get("files") if isinstance(listing, dict) else None
    plain = _all_plain(files)
    if plain is not None:
        return plain
    return {path: _digest(digest) for path, digest in _safe_entries(files)}


# A build's own listing, checked in one pass (#26: a rebuild reads tens of thousands of
# entries): every path plain (``_PLAIN_PATH``, which holds no newline) and every value a
# SHA-256 in hex.
_PLAIN_LINES = re.compile(rf"(?:{_PLAIN_PATH.pattern}\n)*")
_HEX = b"0123456789abcdef"


def _all_plain(files: object) -> dict[str, str | None] | None:
    """``files`` as it is when every entry is a plain path with a SHA-256 (a listing gitreg
    wrote), else None: the entries are then checked one by one."""
    if not isinstance(files, dict) or MARKER in files:
        return None
    paths, digests = list(files), list(files.values())
    if not all(type(p) is str for p in paths) or not all(type(d) is str for d in digests):
        return None
    lines = "".join(f"{p}\n" for p in paths)
    if lines.count("\n") != len(paths) or not _PLAIN_LINES.fullmatch(lines):
        return None  # a path holding a newline would pass as two
    if not all(len(d) == 64 for d in digests):
        return None
    with contextlib.suppress(UnicodeEncodeError):  # bytes.translate: C's speed
        if not "".join(digests).encode("ascii").translate(None, _HEX):
            return dict(files)
    return None


def _safe_entries(files: object) -> Iterator[tuple[str, object]]:
    if isinstance(files, dict):
        items: Iterable[tuple[object, object]] = files.items()
    elif isinstance(files, list):  # format 1: paths without hashes
        items = ((f, None) for f in files)
    else:
        return
    for item, digest in items:
        with contextlib.suppress(InvalidParameter, TypeError):
            if isinstance(item, str) and item != MARKER:
                yield _checked(item), digest


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _digest(value: object) -> str | None:
    """``value`` if it is a SHA-256 in hex, else None (that file is then never deleted)."""
    if isinstance(value, str) and _SHA256.fullmatch(value):
        return value
    return None
