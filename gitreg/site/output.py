"""The site's output directory: which one gitreg may write, and writing it file by file.

gitreg writes only into a new or empty directory, or one that holds a previous build (it
has the ``.gitreg-site.json`` marker, which lists the files that build wrote). It never
writes into the registry itself, a directory that contains it, or the git directory. Each
file is written to a temporary name beside it and renamed into place, so a reader (or a
server) never sees half a page. Files a previous build wrote and this one did not are
removed; nothing else is ever deleted, so a ``CNAME`` you put there stays.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path, PurePosixPath

from gitreg.core.errors import InvalidParameter

MARKER = ".gitreg-site.json"
_FORMAT = 1


class OutputRefused(InvalidParameter):
    """The output directory is not one gitreg may write the site into."""


def check_outdir(outdir: Path, registry_root: Path) -> None:
    """Refuse an output directory gitreg must not write into (see module doc).

    Raises:
        OutputRefused: it is the registry or contains it, is inside its git directory, is a
            file, or holds files that are not a previous build's.
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
    if outdir.is_dir() and not (outdir / MARKER).is_file() and any(outdir.iterdir()):
        raise OutputRefused(
            f"{outdir} holds files that gitreg site did not write (it has no {MARKER}); "
            "choose a new or empty directory"
        )


class SiteOutput:
    """Writes the site's files into ``root`` and, at the end, removes the previous build's rest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.previous = _previous_files(root)
        self.written: set[str] = set()
        self.size = 0
        self._dirs: set[Path] = set()

    def write(self, relative: str, content: str | bytes) -> None:
        """Write one file (a ``/``-separated path inside the site) atomically."""
        target = self.root / _checked(relative)
        data = content.encode("utf-8") if isinstance(content, str) else content
        folder = target.parent
        if folder not in self._dirs:
            folder.mkdir(parents=True, exist_ok=True)
            self._dirs.add(folder)
        temporary = folder / f".{target.name}.{os.getpid()}.tmp"
        with open(temporary, "wb") as f:
            f.write(data)
        os.replace(temporary, target)
        self.written.add(relative)
        self.size += len(data)

    def finish(self) -> int:
        """Remove what only the previous build wrote, record this build; return files removed."""
        removed = 0
        for relative in sorted(self.previous - self.written):
            path = self.root / relative
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
                if path.is_file() and not path.is_symlink():
                    path.unlink()
                    removed += 1
                    _prune(path.parent, self.root)
        listing = {"generator": "gitreg site", "format": _FORMAT, "files": sorted(self.written)}
        temporary = self.root / f"{MARKER}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(listing, indent=0), "utf-8")
        os.replace(temporary, self.root / MARKER)
        return removed


def _checked(relative: str) -> str:
    """A relative path that stays inside the site (the builder makes them; this is a guard)."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidParameter(f"refusing to write {relative!r} outside the site directory")
    return relative


def _previous_files(root: Path) -> set[str]:
    """The files the previous build listed in its marker (only safe relative paths)."""
    try:
        listing = json.loads((root / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return set()
    files = listing.get("files") if isinstance(listing, dict) else None
    if not isinstance(files, list):
        return set()
    safe = set()
    for item in files:
        with contextlib.suppress(InvalidParameter, TypeError):
            if isinstance(item, str) and "\\" not in item:
                safe.add(_checked(item))
    return safe


def _prune(folder: Path, root: Path) -> None:
    """Remove ``folder`` and its parents up to ``root`` while they are empty."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
