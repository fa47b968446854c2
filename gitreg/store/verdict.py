"""Whether a manifest may be served: the one check every reader makes (#22).

A read never serves a model whose manifest breaks the schema or an invariant (two versions
in Production, an alias to a missing version, ...): it refuses that model with the
finding ``gitreg validate`` would print, and the other models stay readable. The check is
``validate.check_manifest``, the validator's own, so every reader (the CLI, the API, a
fleet read, the MLflow plugin, the catalog) says the same thing as ``gitreg validate``.

A verdict depends only on the manifest's path and content, so it is kept by git blob id:
``Verdicts`` holds those of a whole-registry read in ``<git dir>/gitreg/verdicts.marshal``,
stamped with gitreg's version, the checks' version and the schema, so a new check or an
upgrade judges everything again. Only a read that found a manifest valid leaves an answer
in ``answers`` (the fast path of ``gitreg resolve``), so that cache never vouches for an
invalid one either.
"""

from __future__ import annotations

import contextlib
import marshal
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.errors import InvalidManifest
from gitreg.core.finding import Finding
from gitreg.core.names import name_of_stem
from gitreg.store import answers
from gitreg.store.cache import load_large
from gitreg.store.transaction import parse_model

if TYPE_CHECKING:
    from gitreg.core.entities import RegisteredModel

_FILE = "verdicts.marshal"


def check(data: Any, path: str, text: bytes | None) -> list[Finding]:
    """The findings that make the manifest at ``path`` unservable (empty: it is valid).

    A manifest the checks cannot even judge (a mapping key YAML read as a number, a
    number too large for the schema engine) is not served either: it fails closed, as
    one finding, never as a crash of the read.
    """
    from gitreg.core import validate  # only a read that has no verdict yet pays for it

    try:
        return validate.check_manifest(data, path, text)
    except (ValueError, TypeError, OverflowError, RecursionError) as e:
        return [
            Finding(
                path,
                None,
                "SCHEMA",
                f"the manifest cannot be checked ({type(e).__name__}: {str(e)[:120]}); "
                "write every key as text and every number within range",
            )
        ]


def serve(state_dir: Path, path: str, text: bytes, name: str) -> RegisteredModel | None:
    """The model ``name`` from its manifest's ``text``; None if the manifest is another's.

    The content is checked unless a checked read already vouched for it (``answers``,
    kept in ``state_dir``); a valid one is then recorded so, and answers ``resolve``.

    Raises:
        InvalidManifest: the manifest does not parse, or breaks the schema or an invariant.
    """
    try:
        data = load_large(state_dir, text, path)
    except InvalidManifest:  # as a whole-registry read and validate say it
        raise Refused(path, tuple(syntax_findings(text, path))).error() from None
    named = data.get("name") if isinstance(data, Mapping) else None
    if isinstance(named, str) and named != name:
        return None  # e.g. "Churn" finds churn.yaml on a case-insensitive file system
    oid = answers.blob_id(text)
    if answers.vouches(state_dir, name, path, oid):
        return parse_model(data, path, text)
    findings = check(data, path, text)
    if findings:
        raise Refused(path, tuple(findings)).error()
    model = parse_model(data, path, text)
    answers.remember(state_dir, path, oid, model)
    return model


def syntax_findings(text: bytes, path: str) -> list[Finding]:
    """The YAML_SYNTAX (or limit) finding of a manifest that does not parse."""
    from gitreg.core import validate

    return validate.parse(text, path)[1] or [
        Finding(path, None, "YAML_SYNTAX", "the manifest does not parse as YAML")
    ]


def model_of(path: str) -> str | None:
    """The model a manifest path is for (None when the file name is no model's)."""
    return name_of_stem(path.rsplit("/", 1)[-1].removesuffix(".yaml"))


@record.dataclass(frozen=True, slots=True)
class Refused:
    """A model a read would not serve: its manifest and every finding against it."""

    path: str
    findings: tuple[Finding, ...]

    @property
    def name(self) -> str | None:
        """The model's name, from the file name (the manifest itself is not trusted)."""
        return model_of(self.path)

    @property
    def message(self) -> str:
        """One line: the first finding (file, line, code, what to do) and how many more."""
        return refusal_message(self.findings, self.path)

    def error(self) -> InvalidManifest:
        """The error a read of this model raises."""
        return InvalidManifest(self.message, self.findings)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape: the model, its manifest and the findings."""
        return {
            "name": self.name,
            "path": self.path,
            "findings": [f.to_dict() for f in self.findings],
        }


def refusal_message(findings: Sequence[Finding], path: str) -> str:
    """``models/x.yaml:14: CODE: what and the fix (and 2 more; ...); not read: ...``."""
    first = str(findings[0]) if findings else f"{path}: the manifest is invalid"
    more = (
        f" (and {len(findings) - 1} more; gitreg validate lists them)" if len(findings) > 1 else ""
    )
    return f"{first}{more}; gitreg reads no model whose manifest is invalid"


def stamp() -> str:
    """What a verdict was made with: gitreg, the checks and the manifest schema."""
    from gitreg.core import validate
    from gitreg.core.version import __version__

    return f"{__version__}:{validate.CHECKS_VERSION}:{_schema_id()}"


def _schema_id() -> str:
    """The blob id of the manifest schema gitreg ships, read as a file where it is one
    (importlib.resources costs a whole-registry read more than its check does)."""
    import importlib.util

    spec = importlib.util.find_spec("gitreg.schemas")
    origin = spec.origin if spec is not None else None
    try:
        if origin is None:
            raise OSError("no file")
        data = Path(origin).with_name("manifest.schema.json").read_bytes()
    except OSError:
        from importlib import resources

        data = resources.files("gitreg.schemas").joinpath("manifest.schema.json").read_bytes()
    return answers.blob_id(data)


class Verdicts:
    """Findings of manifests by path and blob id, for whole-registry reads.

    ``get`` answers only for content already judged under the same ``stamp``; ``save``
    keeps the verdicts this read used (others are of content that is gone).
    """

    def __init__(self, state_dir: Path) -> None:
        self.file = state_dir / _FILE
        self.stamp = stamp()
        self.known: dict[str, tuple[tuple[Any, ...], ...]] = {}
        self.used: dict[str, tuple[tuple[Any, ...], ...]] = {}
        self.dirty = False
        with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
            found, entries = marshal.loads(self.file.read_bytes())  # our own file in .git
            if found == self.stamp and isinstance(entries, dict):
                self.known = entries

    def get(self, path: str, oid: str) -> list[Finding] | None:
        """The findings of ``path`` holding blob ``oid``, or None if never judged."""
        key = f"{path}\0{oid}"
        entry = self.known.get(key)
        if entry is None:
            return None
        self.used[key] = entry
        return [Finding(*f) for f in entry]

    def put(self, path: str, oid: str, findings: Sequence[Finding]) -> None:
        """Record the verdict on ``path`` holding blob ``oid``."""
        key = f"{path}\0{oid}"
        self.known[key] = self.used[key] = tuple(tuple(f) for f in findings)
        self.dirty = True

    def save(self) -> None:
        """Write the verdicts this read used; a failure only costs a check next time."""
        if not self.dirty and self.used.keys() == self.known.keys():
            return
        with contextlib.suppress(OSError, ValueError):
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f"{_FILE}.{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps((self.stamp, self.used)))
            os.replace(tmp, self.file)
