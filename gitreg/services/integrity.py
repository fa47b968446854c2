"""Registry's artifact methods: digests at registration, ``verify``, and signatures (#28).

A base of ``Registry``. At registration ``examine`` reads the artifact a version names
(``integrations.artifacts``), records its digest, and for an MLflow model its signature;
``verify`` reads it again and says whether the bytes are still the recorded ones, naming
the file that changed, appeared or disappeared (from the listing kept in
``artifacts/<model>/<version>.json``); ``verify_all`` does so for every version a
deployment may load (a protected stage or alias), and its mismatches become
ARTIFACT_CHANGED events. ``sign_model_version`` and ``attach_signature`` keep a
model-signing bundle beside the listing, where the gate finds it.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitreg.core import record
from gitreg.core.config import KEYS_DIR, Policy
from gitreg.core.entities import ModelVersion
from gitreg.core.errors import ArtifactUnreadable, DigestMismatch, GitregError, InvalidParameter
from gitreg.services._host import RegistryHost
from gitreg.services.examination import Verification, read_listing, required_keys

if TYPE_CHECKING:
    from gitreg.core.digest import Listing
    from gitreg.core.events import RegistryEvent
    from gitreg.integrations.artifacts import Progress
    from gitreg.integrations.notify import Report as DeliveryReport


class Integrity(RegistryHost):
    """verify, verify_all and signatures; ``Registry`` provides the store and the writes."""

    if TYPE_CHECKING:

        def get_version_for_uri(self, uri: str) -> ModelVersion: ...

        def get_model_version(self, name: str, version: int | str) -> ModelVersion: ...

    def verify(self, uri: str, *, progress: Progress | None = None) -> Verification:
        """Read the artifact of the version ``uri`` names again and compare its digest.

        ``models:/churn@champion``, ``models:/churn/Production`` or ``models:/churn/3``.
        The result's ``exit_code`` is 0 when the bytes are the recorded ones (and a signature
        the policy asks for verifies), 1 when they are not or there is no digest, 2 when the
        source cannot be read (``problem`` says why). Nothing is written.
        """
        mv = self.get_version_for_uri(uri)
        return self._verify_version(mv, self.store.read_config(self.at).policy, progress)

    def verify_all(self, *, progress: Progress | None = None) -> list[Verification]:
        """``verify`` every version in a protected stage or pointed at by a protected alias
        (what deployments load), model by model; for a scheduled job."""
        policy = self.store.read_config(self.at).policy
        found = []
        for model in self.store.read_registry(self.at).models:
            for mv in model.versions:
                protected = any(policy.alias_protected(a) for a in mv.aliases)
                if mv.current_stage in policy.protected or protected:
                    found.append(self._verify_version(mv, policy, progress))
        return found

    def _verify_version(
        self, mv: ModelVersion, policy: Policy, progress: Progress | None
    ) -> Verification:
        from gitreg.integrations.artifacts import read_artifact

        location = mv.storage_location or mv.source
        result = Verification(
            mv.name, mv.version, mv.current_stage.value, mv.aliases, location, mv.digest
        )
        result = self._check_signature(result, mv, policy)
        if mv.digest is None:
            return result
        try:
            hashed = read_artifact(location, progress)
        except ArtifactUnreadable as e:
            return record.replace(result, problem=e.message)
        observed = hashed.listing.digest
        if observed == mv.digest:
            return record.replace(result, observed=observed)
        kept = self._kept_listing(mv)
        differences = tuple(hashed.listing.diff(kept)) if kept is not None else ()
        return record.replace(
            result, observed=observed, differences=differences, named=kept is not None
        )

    def _kept_listing(self, mv: ModelVersion) -> Listing | None:
        from gitreg.core.digest import listing_path

        kept = read_listing(
            self.store.read_bytes(listing_path(mv.name, mv.version), self.at), mv.digest
        )
        if kept is not None:
            return kept
        bundle = self._bundle(mv)
        if bundle is None:
            return None
        from gitreg.integrations.artifacts.signing import BadSignature, statement_of

        try:
            listing = statement_of(bundle)
        except (BadSignature, GitregError):
            return None
        return listing if listing.digest == mv.digest else None

    def _bundle(self, mv: ModelVersion) -> bytes | None:
        from gitreg.core.digest import bundle_path

        try:
            return self.store.read_bytes(bundle_path(mv.name, mv.version), self.at)
        except GitregError:
            return None

    def _check_signature(
        self, result: Verification, mv: ModelVersion, policy: Policy
    ) -> Verification:
        """The signature the policy requires where ``mv`` is, checked again; or, with none
        required, the one kept, against every key the policy names."""
        from gitreg.core.digest import bundle_path
        from gitreg.integrations.artifacts.signing import BadSignature, verify_bundle

        required = required_keys(mv, policy)
        bundle = self._bundle(mv)
        if not required and bundle is None:
            return result
        keys = required or policy.signing_keys
        if bundle is None:
            path = bundle_path(mv.name, mv.version)
            return record.replace(
                result, signature_problem=f"{' or '.join(keys)} must sign it; {path} is missing"
            )
        if not keys:
            return result  # signed, with no key in gitreg.yaml to check it against
        try:
            verified = verify_bundle(bundle, {k: self._key(k) for k in keys})
        except BadSignature as e:
            return record.replace(result, signature_problem=str(e))
        except GitregError as e:
            return record.replace(result, signature_problem=e.message)
        if verified.listing.digest != mv.digest:
            problem = f"it covers {verified.listing.digest}, not the recorded {mv.digest}"
            return record.replace(result, signature_problem=problem)
        return record.replace(result, signed_by=verified.key)

    def _key(self, path: str) -> bytes | None:
        if not path.startswith(f"{KEYS_DIR}/"):
            return None
        try:
            return self.store.read_bytes(path, self.at)
        except GitregError:
            return None

    def signed_bundles(self) -> frozenset[str]:
        """The signature bundles the registry keeps (``artifacts/<model>/<version>.sig``)."""
        from gitreg.core.digest import ARTIFACTS_DIR

        if self.at is not None:
            from gitreg.store.compare import list_tree_at

            found = list_tree_at(self.store.root, self.store.resolve_ref(self.at), ARTIFACTS_DIR)
            return frozenset(p for p in found if p.endswith(".sig"))
        top = self.store.root / ARTIFACTS_DIR
        out = set()
        for directory, _dirs, names in os.walk(top):  # links to directories are not followed
            for name in names:
                if name.endswith(".sig"):
                    relative = os.path.relpath(os.path.join(directory, name), self.store.root)
                    out.add(relative.replace(os.sep, "/"))
        return frozenset(out)

    # ------------------------------------------------------------------- events

    def artifact_events(self, results: Sequence[Verification]) -> list[RegistryEvent]:
        """ARTIFACT_CHANGED for each changed artifact: one id per version and digest seen."""
        from gitreg.core.digest import describe
        from gitreg.core.events import Event, EventKind, RegistryEvent

        commit = self.store.resolve_ref(self.at or "HEAD")
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        return [
            RegistryEvent(
                Event(
                    EventKind.ARTIFACT_CHANGED,
                    r.name,
                    r.version,
                    description=describe(r.differences) if r.differences else "the bytes differ",
                    source=r.location,
                    digest=r.recorded,
                    observed_digest=r.observed,
                    to_stage=r.stage,
                ),
                commit,
                "gitreg verify",
                "",
                now,
            )
            for r in results
            if r.status == "changed"
        ]

    def notify_artifacts(
        self, results: Sequence[Verification], *, dry_run: bool = False
    ) -> DeliveryReport:
        """Deliver ARTIFACT_CHANGED for ``results`` to the subscriptions of the trusted
        gitreg.yaml: the verified tip's when the clone has one, else the one read."""
        from gitreg.integrations import notify
        from gitreg.store.verified import read_verified

        config_at = read_verified(self.store.root) or self.at
        events = self.artifact_events(results)
        return notify.notify(self.store, events, config_at, os.environ, dry_run=dry_run)

    # --------------------------------------------------------------- signatures

    def sign_model_version(
        self,
        name: str,
        version: int | str,
        private_key: bytes,
        *,
        password: bytes | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Sign the version's recorded digest with a model-signing key and keep the bundle in
        the registry (``artifacts/<model>/<version>.sig``, one commit); returns its path.

        The files signed are the kept listing's; without one, the artifact is read and
        must still have the recorded digest.

        Raises:
            DigestMismatch: the artifact's bytes are no longer the recorded ones.
            InvalidParameter: the version has no digest, or the key is not one
                model-signing signs with.
        """
        from gitreg.integrations.artifacts.signing import sign_listing

        mv = self.get_model_version(name, version)
        listing = self._listing_to_sign(mv, progress)
        bundle = sign_listing(listing, mv.name, private_key, password)
        return self._keep_bundle(mv, bundle, f"Sign {mv.name} version {mv.version}")

    def attach_signature(self, name: str, version: int | str, bundle: bytes) -> str:
        """Keep a model-signing bundle (``model_signing sign key ...``) for the version, after
        checking that it signs exactly the recorded digest; returns its path.

        Which key signed it is the gate's to judge, against the base's ``signed_by``.

        Raises:
            InvalidParameter: it is not a model-signing bundle, or covers another digest.
        """
        from gitreg.integrations.artifacts.signing import BadSignature, statement_of

        mv = self.get_model_version(name, version)
        if mv.digest is None:
            raise InvalidParameter(_no_digest(mv))
        try:
            listing = statement_of(bundle)
        except BadSignature as e:
            raise InvalidParameter(f"the bundle cannot be kept: {e}") from None
        if listing.digest != mv.digest:
            raise InvalidParameter(
                f"the bundle signs {listing.digest}, not {mv.name} version {mv.version}'s "
                f"digest {mv.digest}: sign this version's artifact"
            )
        return self._keep_bundle(
            mv, bundle, f"Attach a signature to {mv.name} version {mv.version}"
        )

    def _listing_to_sign(self, mv: ModelVersion, progress: Progress | None) -> Listing:
        from gitreg.core.digest import listing_path
        from gitreg.integrations.artifacts import read_artifact

        if mv.digest is None:
            raise InvalidParameter(_no_digest(mv))
        kept = read_listing(
            self.store.read_bytes(listing_path(mv.name, mv.version), self.at), mv.digest
        )
        if kept is not None:
            return kept
        location = mv.storage_location or mv.source
        listing = read_artifact(location, progress).listing
        if listing.digest != mv.digest:
            raise DigestMismatch(
                f"{location} is {listing.digest} now, not the recorded {mv.digest}: its bytes "
                "changed since registration, so they are not signed (gitreg verify says which "
                "file)"
            )
        return listing

    def _keep_bundle(self, mv: ModelVersion, bundle: bytes, message: str) -> str:
        from gitreg.core.digest import bundle_path
        from gitreg.services import operations as ops

        path = bundle_path(mv.name, mv.version)
        try:
            text = bundle.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidParameter("the bundle is not UTF-8 JSON; nothing was kept") from None
        self._write(ops.keep_file(mv.name, mv.version, path, text, message))
        return path


def _no_digest(mv: ModelVersion) -> str:
    return (
        f"{mv.name} version {mv.version} has no digest, so there is nothing to sign; register "
        "the artifact again (gitreg records its digest) and sign that version"
    )
