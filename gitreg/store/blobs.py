"""Blobs read one at a time, in the order they are wanted: memory for one, not for all (#23).

A range of 2,000 commits of a 300 kB manifest is 600 MB of blob contents: reading them all
at once (``_git.read_objects``) held every one in memory. ``stream`` reads blobs from one
``git cat-file --batch`` in the order given, a thread feeding the ids while the caller
consumes the contents, so git reconstructs the next blob while Python parses this one.
``BlobReader`` answers one id at a time, for a caller whose order is decided as it goes.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from gitreg.core.errors import GitFailed
from gitreg.store import _odb

_ZERO = "0" * 40
KEEP_RECENT = 4  # blobs BlobReader keeps (a commit reads a few files twice at most)


def stream(root: Path, oids: Sequence[str]) -> Iterator[bytes | None]:
    """The content of each blob of ``oids``, in order; None for a missing one or a non-blob.

    Raises:
        GitFailed: git is not installed, or stopped answering.
    """
    if not oids:
        return
    try:
        proc = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except FileNotFoundError as e:
        raise GitFailed("git is not installed or not on PATH; install git") from e
    assert proc.stdin is not None
    assert proc.stdout is not None
    feeder = threading.Thread(target=_feed, args=(proc.stdin, oids), daemon=True)
    feeder.start()
    try:
        for _ in oids:
            yield _next(proc.stdout, root)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        feeder.join()


def _feed(pipe: IO[bytes], oids: Iterable[str]) -> None:
    with contextlib.suppress(OSError):  # the reader stopped early and killed git
        for oid in oids:
            pipe.write(oid.encode("ascii", "replace") + b"\n")
        pipe.flush()
    with contextlib.suppress(OSError):
        pipe.close()


def _next(out: IO[bytes], root: Path) -> bytes | None:
    header = out.readline()
    if not header:
        raise GitFailed(f"git cat-file stopped answering in {root}")
    fields = header.split()
    if len(fields) != 3 or fields[-1] == b"missing":
        return None  # "<id> missing" (or "ambiguous")
    size = int(fields[2])
    data = out.read(size + 1)
    if len(data) != size + 1:
        raise GitFailed(f"git cat-file stopped answering in {root}")
    return data[:size] if fields[1] == b"blob" else None


class BlobReader:
    """Blobs by id, one at a time, from one long-lived ``git cat-file --batch``.

    ``get`` has ``dict.get``'s shape, so it stands where a dict of every blob stood.
    """

    def __init__(self, root: Path) -> None:
        self._reader = _odb.Reader(root)
        self._recent: dict[str, bytes | None] = {}

    def get(self, oid: str) -> bytes | None:
        """The content of blob ``oid``; None for the zero id, a missing object or a non-blob.

        The last few blobs are kept: a commit's old side is usually the one before's new.
        """
        if oid == _ZERO:
            return None
        if oid in self._recent:
            return self._recent[oid]
        found = self._reader.read(oid)
        data = found[2] if found is not None and found[1] == "blob" else None
        self._recent[oid] = data
        while len(self._recent) > KEEP_RECENT:
            del self._recent[next(iter(self._recent))]
        return data

    def close(self) -> None:
        """Stop the git process (also done when the reader is garbage collected)."""
        self._reader.close()
