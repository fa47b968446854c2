"""RemoteRegistry: a remote registry's tip, read without a clone (what a deployment runs).

The read-only subset of ``Registry``'s MLflow-named methods (get a model or version,
resolve a ``models:/`` URI) over ``gitreg.store.fleet``: a blobless, depth-1 fetch into
a shared cache that then fetches only the one manifest asked for (#15). In site mode, over
a catalog's static read API on any web host instead (``services.site_api``, #29).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitreg.core import mutations as mut
from gitreg.core.entities import ModelVersion, RegisteredModel
from gitreg.core.errors import InvalidManifest, InvalidParameter, ModelNotFound
from gitreg.core.names import check_name
from gitreg.core.uri import parse_uri
from gitreg.store.transaction import model_path

if TYPE_CHECKING:
    from gitreg.services.transition_request import TransitionRequest


class RemoteRegistry:
    """A remote registry's tip, read without a clone: what a deployment pod runs (#15).

    ``RemoteRegistry(url)`` reads the remote's default branch (``at``: another branch or
    tag) through a blobless, depth-1 fetch into a shared cache that then fetches only the
    one manifest asked for (``gitreg.store.fleet``). Read-only; the same checks as a local
    read apply to the manifest, and an invalid one is refused (#22).

    ``verified=True`` (or ``at="verified"``) reads the remote's verified tip
    (``refs/gitreg/verified``, the last commit a clean audit accepted) instead, ``False``
    always the tip; the default (None)
    follows ``registry.read`` in gitreg.yaml at the verified commit, which no push to the
    branch can change.
    """

    def __init__(
        self,
        url: str,
        at: str | None = None,
        *,
        verified: bool | None = None,
        site: bool = False,
    ) -> None:
        """``at``: a branch or tag (default: the remote's HEAD); ``verified``: see the class.

        ``site=True``: ``url`` is a catalog built by ``gitreg site`` on any web host, read
        through its static API (``api/models/<name>.json``, #29), with ETags when the host
        gives them; a model the site marks invalid is refused, and with ``verified=True``
        so is one the site marks as changed after the verified tip.

        Raises:
            InvalidParameter: both ``at`` and ``verified=True``, or ``at`` with ``site``.
        """
        if at == "verified":  # as Registry(at="verified"): the verified tip, not a branch
            at, verified = None, True
        if at is not None and verified:
            raise InvalidParameter(
                "A verified read reads refs/gitreg/verified, not a branch: give at= or "
                "verified=True, not both"
            )
        if site and at is not None:
            raise InvalidParameter("A site is built from one commit: at= does not apply to it")
        self.url = url
        self.at = at
        self.verified = verified
        self.site = site
        self.commit: str | None = None  # the commit the last read was served from
        self._etags: dict[str, tuple[str, bytes]] = {}  # a site's URL -> (ETag, body)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model ``name`` at the remote's tip (or its verified tip).

        Raises:
            ModelNotFound: there is no such model there.
            InvalidManifest: its manifest is invalid there (nothing invalid is served, #22).
            BadRef: a verified read, and the remote has no verified tip.
        """
        if self.site:
            return self._from_site(check_name(name))
        from gitreg.store import fleet, verdict

        path = model_path(check_name(name))
        found = fleet.read_remote(self.url, path, self.at, verified=self.verified)
        self.commit = found.commit
        if found.text is not None:
            model = verdict.serve(found.state_dir, path, found.text, name)
            if model is not None:
                return model
        where = " at the remote's verified tip" if found.verified else ""
        hint = self._whereabouts(name)
        raise ModelNotFound(f"Registered Model with name={name} not found{where}{hint}")

    def _whereabouts(self, name: str) -> str:
        """``": churn was renamed to churn-v2; use churn-v2"`` from the remote's
        models/.retired.yaml (#27); only a failed read pays for it."""
        from gitreg.core import manifest
        from gitreg.core.errors import GitregError
        from gitreg.core.retired import RETIRED_FILE, Retired, describe_trail, trail
        from gitreg.store import fleet

        def read(path: str) -> bytes | None:
            return fleet.read_remote(self.url, path, self.at, verified=self.verified).text

        try:
            text = read(RETIRED_FILE)
            steps = trail(
                Retired.from_manifest(manifest.load(text, RETIRED_FILE) if text else None), name
            )
        except GitregError:
            return ""

        def exists(other: str) -> bool:
            try:
                return read(model_path(check_name(other))) is not None
            except GitregError:
                return False

        return ": " + describe_trail(steps, exists) if steps else ""

    def _from_site(self, name: str) -> RegisteredModel:
        from gitreg.services import site_api

        found = site_api.read_model(self.url, name, self._etags)
        self.commit = found.commit
        if self.verified and found.unverified:
            raise InvalidManifest(
                f"{name} changed after the verified tip of the site's build "
                f"({(found.verified_tip or '')[:12]}): a verified read does not serve it"
            )
        return found.model

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """One version of ``name`` at the remote's tip."""
        return mut.find_version(self.get_registered_model(name), version)

    def get_version_for_uri(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names at the remote's tip."""
        ref = parse_uri(uri)
        return mut.version_for_ref(self.get_registered_model(ref.name), ref)

    def resolve(self, uri: str) -> str:
        """The source URI of the version a ``models:/`` URI names at the remote's tip."""
        return self.get_version_for_uri(uri).source

    def get_model_version_requests(self, name: str, version: int | str) -> list[TransitionRequest]:
        """Open requests about a version: none known, since no clone keeps them here."""
        del name, version
        return []
