"""Artifact digests: what ``versions[].digest`` holds and how a tree of files becomes one (#28).

A digest is ``sha256:<64 lowercase hex>``. A single file's digest is its SHA-256, as
Hugging Face pins a file. A directory's digest is the one OpenSSF model-signing (v1.x, its
default ``model_signing.hashing.Config()``) puts in a signature's subject, so that a
model-signing signature and gitreg agree on what was signed:

- serialization method ``files`` (one digest per file, never per shard), hash ``sha256``,
  symbolic links refused (``allow_symlinks: false``);
- the git paths at the top of the tree ignored (``.git``, ``.gitattributes``, ``.github``,
  ``.gitignore``), as model-signing ignores them by default;
- every regular file's SHA-256, listed by its path relative to the tree, sorted component
  by component (model-signing sorts ``PurePosixPath`` keys, so ``a/b`` comes before ``a-c``);
- the digest is the SHA-256 of those 32-byte digests concatenated in that order.

The listing itself (``Listing``) is what model-signing signs: an in-toto statement whose
predicate lists every file (``to_statement``). gitreg keeps it in the registry beside the
manifest, so ``gitreg verify`` can name the file that changed. Pure: no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitreg.core import record
from gitreg.core.errors import InvalidParameter
from gitreg.core.names import file_stem

ALGORITHM = "sha256"
PREFIX = f"{ALGORITHM}:"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
_DIGEST_RE = re.compile(DIGEST_PATTERN)
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")

# What model-signing ignores at the top of a model directory by default (hashing.Config).
IGNORED_TOP = (".git", ".gitattributes", ".github", ".gitignore")
# The serialization model-signing records for this digest (predicate.serialization).
SERIALIZATION: Mapping[str, Any] = {
    "method": "files",
    "hash_type": ALGORITHM,
    "allow_symlinks": False,
    "ignore_paths": list(IGNORED_TOP),
}
IN_TOTO_STATEMENT = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
# The name model-signing gives the one resource of a model that is a single file.
SINGLE_FILE = "."
# A listing's size bounds: more files than this is not a model gitreg pins file by file.
MAX_FILES = 100_000
MAX_PATH = 4096


def parse_digest(value: object, field: str = "digest") -> str:
    """``value`` as a digest (``sha256:`` and 64 hex digits, upper case folded to lower).

    Raises:
        InvalidParameter: anything else, with the form it must take.
    """
    text = value.strip().lower() if isinstance(value, str) else None
    if text is None or not _DIGEST_RE.fullmatch(text):
        shown = str(value)[:80]
        raise InvalidParameter(
            f"{field} {shown!r} is not a digest; write sha256: and the 64 hex digits of the "
            "artifact's SHA-256 (a directory's as model-signing computes it), e.g. "
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        )
    return text


def is_digest(value: object) -> bool:
    """Whether ``value`` is a digest in canonical form."""
    return isinstance(value, str) and bool(_DIGEST_RE.fullmatch(value))


def short(digest: str | None, length: int = 12) -> str:
    """``sha256:9f86d081884c`` (the algorithm and the first ``length`` hex digits)."""
    if not digest:
        return ""
    return digest[: len(PREFIX) + length]


def is_ignored(path: str) -> bool:
    """Whether model-signing leaves ``path`` (relative, ``/``-separated) out of a directory."""
    return path.split("/", 1)[0] in IGNORED_TOP


def path_problem(path: str) -> str | None:
    """Why ``path`` is no clean relative file path (None if it is one).

    A listing names files as model-signing does, by clean POSIX paths: a key such as
    ``a//b`` or ``../x`` from an object store would name another file than it seems to.
    """
    if not path or len(path) > MAX_PATH:
        return "an empty or overlong path"
    if path.startswith("/") or path.endswith("/"):
        return "a path that starts or ends with /"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "a path with an empty, . or .. component"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return "a path with a control character"
    return None


def _order(path: str) -> tuple[str, ...]:
    return tuple(path.split("/"))


@record.dataclass(frozen=True, slots=True)
class FileDigest:
    """One file of an artifact: its path in the tree, its SHA-256 (hex), its size if known."""

    path: str
    sha256: str
    size: int | None = None


@record.dataclass(frozen=True, slots=True)
class Difference:
    """One way an artifact differs from what was recorded: a file changed, appeared or went."""

    path: str
    kind: str  # "changed", "appeared", "disappeared"

    def describe(self) -> str:
        """``model.pkl changed`` (a single-file artifact is ``the file``)."""
        name = "the file" if self.path == SINGLE_FILE else self.path
        return f"{name} {self.kind}"


@record.dataclass(frozen=True, slots=True)
class Listing:
    """Every file of an artifact with its digest: a directory's, or one file (``single``)."""

    files: tuple[FileDigest, ...]
    single: bool = False

    @classmethod
    def of(cls, files: Iterable[FileDigest], single: bool = False) -> Listing:
        """The listing of ``files``, in model-signing's order.

        Raises:
            InvalidParameter: a path is not clean or appears twice, or a single file is
                not exactly one.
        """
        ordered = sorted(files, key=lambda f: _order(f.path))
        if single and [f.path for f in ordered] != [SINGLE_FILE]:
            raise InvalidParameter("a single-file artifact lists exactly one file, named '.'")
        seen: set[str] = set()
        for f in ordered:
            problem = None if single else path_problem(f.path)
            if problem or f.path in seen or not _HEX_RE.fullmatch(f.sha256):
                why = problem or ("listed twice" if f.path in seen else "no SHA-256 in hex")
                raise InvalidParameter(f"artifact file {f.path[:200]!r}: {why}")
            seen.add(f.path)
        return cls(tuple(ordered), single)

    @property
    def digest(self) -> str:
        """``sha256:...``: the file's own digest, or the directory's (see module doc)."""
        if self.single:
            return PREFIX + self.files[0].sha256
        return PREFIX + root_of(f.sha256 for f in self.files)

    @property
    def size(self) -> int:
        """The bytes of every file (what was read to compute the digest)."""
        return sum(f.size or 0 for f in self.files)

    def diff(self, recorded: Listing) -> list[Difference]:
        """How this (observed) listing differs from ``recorded``, file by file."""
        if self.single and recorded.single:
            same = self.files[0].sha256 == recorded.files[0].sha256
            return [] if same else [Difference(SINGLE_FILE, "changed")]
        now = {f.path: f.sha256 for f in self.files}
        then = {f.path: f.sha256 for f in recorded.files}
        out = [Difference(p, "changed") for p in then if p in now and now[p] != then[p]]
        out += [Difference(p, "appeared") for p in now if p not in then]
        out += [Difference(p, "disappeared") for p in then if p not in now]
        return sorted(out, key=lambda d: (_order(d.path), d.kind))

    def to_statement(self, name: str) -> dict[str, Any]:
        """The in-toto statement model-signing signs for this listing (its ``Payload``)."""
        root = root_of(f.sha256 for f in self.files)
        return {
            "_type": IN_TOTO_STATEMENT,
            "subject": [{"name": name, "digest": {ALGORITHM: root}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "serialization": dict(SERIALIZATION),
                "resources": [
                    {"name": f.path, "algorithm": ALGORITHM, "digest": f.sha256} for f in self.files
                ],
            },
        }

    @classmethod
    def from_statement(cls, data: object) -> Listing:
        """The listing an in-toto statement (model-signing's payload) signs.

        Raises:
            InvalidParameter: it is not a model-signing v1.0 statement of sha256 files, or
                its subject digest is not the one its resources give (model-signing's own
                consistency check).
        """
        statement = _mapping(data, "the statement")
        if statement.get("_type") != IN_TOTO_STATEMENT:
            raise InvalidParameter(f"not an in-toto statement ({IN_TOTO_STATEMENT})")
        if statement.get("predicateType") != PREDICATE_TYPE:
            raise InvalidParameter(
                f"predicate type {str(statement.get('predicateType'))[:80]!r} is not "
                f"model-signing's {PREDICATE_TYPE}"
            )
        predicate = _mapping(statement.get("predicate"), "predicate")
        serialization = _mapping(predicate.get("serialization"), "predicate.serialization")
        method, hash_type = serialization.get("method"), serialization.get("hash_type")
        if method != "files" or hash_type != ALGORITHM:
            raise InvalidParameter(
                f"serialization {method!r} with {hash_type!r}: gitreg pins sha256 digests of "
                "whole files (model-signing's default: method files, hash_type sha256)"
            )
        resources = predicate.get("resources")
        if not isinstance(resources, list) or len(resources) > MAX_FILES:
            raise InvalidParameter("predicate.resources is not a list of at most 100,000 files")
        files = [_resource(r) for r in resources]
        subjects = statement.get("subject")
        if not isinstance(subjects, list) or len(subjects) != 1:
            raise InvalidParameter("a model-signing statement has exactly one subject")
        subject = _mapping(_mapping(subjects[0], "subject").get("digest"), "subject.digest")
        if subject.get(ALGORITHM) != root_of(f.sha256 for f in files):
            raise InvalidParameter(
                "the subject's digest is not the digest of the files the statement lists"
            )
        single = [f.path for f in files] == [SINGLE_FILE]
        return cls.of(files, single=single)


def root_of(digests: Iterable[str]) -> str:
    """SHA-256 (hex) of the 32-byte digests ``digests`` (hex) concatenated, in that order."""
    import hashlib  # OpenSSL loads only when a root is computed, not on every write (#26)

    hasher = hashlib.sha256()
    for hexdigest in digests:
        hasher.update(bytes.fromhex(hexdigest))
    return hasher.hexdigest()


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidParameter(f"{what} is not a JSON object")
    return value


def _resource(value: object) -> FileDigest:
    resource = _mapping(value, "a resource")
    name, algorithm, digest = (resource.get(k) for k in ("name", "algorithm", "digest"))
    if not isinstance(name, str) or algorithm != ALGORITHM or not isinstance(digest, str):
        raise InvalidParameter(
            f"resource {str(name)[:200]!r} is not a sha256 digest of a named file"
        )
    return FileDigest(name, digest)


def describe(differences: Sequence[Difference], limit: int = 5) -> str:
    """``model.pkl changed; extra.bin appeared`` (the first ``limit``, then how many more)."""
    shown = "; ".join(d.describe() for d in differences[:limit])
    more = len(differences) - limit
    return shown + (f"; and {more} more" if more > 0 else "")


# Where the registry keeps what it knows of a version's files (#28): the listing (the
# in-toto statement model-signing signs, so ``gitreg verify`` can name a changed file) and
# the model-signing signature bundle, beside each other, one directory per model.
ARTIFACTS_DIR = "artifacts"


def artifact_dir(name: str) -> str:
    """``artifacts/<the model's file stem>``: a model's listings and signatures."""
    return f"{ARTIFACTS_DIR}/{file_stem(name)}"


def listing_path(name: str, version: int) -> str:
    """``artifacts/<model>/<version>.json``: the version's file listing."""
    return f"{artifact_dir(name)}/{version}.json"


def bundle_path(name: str, version: int) -> str:
    """``artifacts/<model>/<version>.sig``: the version's model-signing signature bundle."""
    return f"{artifact_dir(name)}/{version}.sig"
