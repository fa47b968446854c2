"""What an artifact is, as registration and ``verify`` see it (#28).

``examine`` reads the artifact a version names at registration (``integrations.artifacts``)
and checks a given digest against it; ``check_registration`` refuses what the policy's
``requirements.None`` says a new version must carry; ``Verification`` is what ``verify``
found for one version. Used by ``Registry`` and its ``Integrity`` base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitreg.core import record
from gitreg.core.config import Policy, Requirement
from gitreg.core.entities import ModelVersion, Stage
from gitreg.core.errors import ArtifactUnreadable, DigestMismatch, GitregError

if TYPE_CHECKING:
    from gitreg.core.digest import Difference, Listing
    from gitreg.integrations.artifacts import Hashed, Progress

# The digest's rules and the MLmodel reader are imported where a digest or an artifact is
# there to read: a registration of an s3:// source without credentials needs neither (#26).


@record.dataclass(frozen=True, slots=True)
class Examined:
    """What registration learnt of an artifact: its digest and listing, an MLflow model's
    signature, and ``note``: why something could not be recorded (None: all was)."""

    digest: str | None
    listing: Listing | None = None
    signature: dict[str, Any] | None = None
    has_input_example: bool | None = None
    note: str | None = None


def examine(
    location: str,
    given: str | None,
    progress: Progress | None = None,
    tracking_uri: str | None = None,
) -> Examined:
    """Read the artifact at ``location`` and check it against ``given`` (a digest or None).

    An artifact gitreg cannot read keeps ``given`` (which may be None) and says why.

    Raises:
        DigestMismatch: the artifact is readable and ``given`` is not its digest.
    """
    from gitreg.integrations.artifacts import read_artifact

    if given is not None:
        from gitreg.core.digest import parse_digest

        given = parse_digest(given)
    try:
        hashed = read_artifact(location, progress, tracking_uri=tracking_uri)
    except ArtifactUnreadable as e:
        return Examined(given, note=f"cannot read the artifact: {e.message}")
    observed = hashed.listing.digest
    if given is not None and given != observed:
        raise DigestMismatch(
            f"the digest given, {given}, is not the artifact's: {location} has {observed}; "
            "nothing was registered (check that the job passed the digest of these bytes)"
        )
    signature, example, note = _model_signature(hashed)
    return Examined(observed, hashed.listing, signature, example, note)


def _model_signature(hashed: Hashed) -> tuple[dict[str, Any] | None, bool | None, str | None]:
    if hashed.mlmodel is None:
        return None, None, None
    from gitreg.core.model_signature import SignatureUnreadable, read_mlmodel

    try:
        signature, example = read_mlmodel(hashed.mlmodel)
    except SignatureUnreadable as e:
        return None, None, f"the MLflow model's signature was not recorded: {e}"
    return signature, example, None


def check_registration(examined: Examined, policy: Policy | None) -> None:
    """Refuse a registration the policy's ``None`` requirements say must carry more.

    Raises:
        ArtifactUnreadable: ``requirements.None`` asks for a digest (or a signature) the
            artifact could not give.
    """
    requirement = policy.requirements.get(Stage.NONE) if policy is not None else None
    if requirement is None:
        return
    probe = ModelVersion("", 1, "", digest=examined.digest, signature=examined.signature)
    unmet = record.replace(requirement, signed_by=()).unmet_artifact(probe)
    if unmet:
        why = f" ({examined.note})" if examined.note else ""
        raise ArtifactUnreadable(
            f"gitreg.yaml requires more of a new version (policy.requirements.None): "
            f"{'; '.join(unmet)}{why}; nothing was registered"
        )


def read_listing(text: bytes | None, digest: str | None) -> Listing | None:
    """A kept listing, if it is one and it gives ``digest`` (else it names nothing)."""
    if text is None or digest is None:
        return None
    import json

    from gitreg.core.digest import Listing

    try:
        listing = Listing.from_statement(json.loads(text))
    except (ValueError, RecursionError, GitregError):
        return None
    return listing if listing.digest == digest else None


# ----------------------------------------------------------------------- verify


@record.dataclass(frozen=True, slots=True)
class Verification:
    """What ``verify`` found for one version: its artifact, and its signature."""

    name: str
    version: int
    stage: str
    aliases: tuple[str, ...]
    location: str
    recorded: str | None
    observed: str | None = None
    differences: tuple[Difference, ...] = ()
    problem: str | None = None  # the artifact could not be read: why
    named: bool = True  # a listing was kept, so a change names its files
    signed_by: str | None = None
    signature_problem: str | None = None

    @property
    def status(self) -> str:
        """``verified``, ``changed``, ``unreadable`` or ``no-digest``."""
        if self.recorded is None:
            return "no-digest"
        if self.problem is not None:
            return "unreadable"
        return "verified" if self.observed == self.recorded else "changed"

    @property
    def exit_code(self) -> int:
        """0 it matches (and any signature verifies), 1 it does not, 2 it cannot be read."""
        if self.signature_problem or self.status in ("changed", "no-digest"):
            return 1
        return 2 if self.status == "unreadable" else 0

    def describe(self) -> str:
        """One line: the version, and what was found."""
        from gitreg.core.digest import short

        head = f"{self.name} version {self.version}"
        texts = {
            "verified": f"{head}: verified, {self.location} is {short(self.recorded)}",
            "no-digest": f"{head}: no digest is recorded, so its bytes cannot be verified "
            "(register the artifact again as a new version: gitreg records the digest)",
            "unreadable": f"{head}: cannot verify: {self.problem}",
            "changed": f"{head}: {self._changed()}",
        }
        line = texts[self.status]
        if self.signed_by:
            line += f"; signed by {self.signed_by}"
        if self.signature_problem:
            line += f"; signature: {self.signature_problem}"
        return line

    def _changed(self) -> str:
        from gitreg.core.digest import describe, short

        what = describe(self.differences) if self.differences else ""
        if not what:
            what = "the bytes differ" + (
                "" if self.named else " (no file listing was kept, so no file can be named)"
            )
        return (
            f"ARTIFACT CHANGED at {self.location}: {what}; recorded {short(self.recorded)}, "
            f"now {short(self.observed)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``gitreg verify --json``."""
        return {
            "name": self.name,
            "version": str(self.version),
            "current_stage": self.stage,
            "aliases": list(self.aliases),
            "location": self.location,
            "status": self.status,
            "digest": self.recorded,
            "observed_digest": self.observed,
            "differences": [{"path": d.path, "change": d.kind} for d in self.differences],
            "problem": self.problem,
            "signed_by": self.signed_by,
            "signature_problem": self.signature_problem,
            "exit_code": self.exit_code,
        }


def required_keys(mv: ModelVersion, policy: Policy) -> tuple[str, ...]:
    """The keys the policy requires for ``mv`` where it is (its stage and its aliases)."""
    wanted: list[Requirement] = []
    if mv.current_stage in policy.requirements:
        wanted.append(policy.requirements[mv.current_stage])
    wanted += [r for a in mv.aliases if (r := policy.alias_requirement(a)) is not None]
    keys: dict[str, None] = {}
    for requirement in wanted:
        keys.update(dict.fromkeys(requirement.signed_by))
    return tuple(keys)
