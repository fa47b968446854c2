"""RemoteRegistry: a remote registry's tip, read without a clone (what a deployment runs).

The read-only subset of ``Registry``'s MLflow-named methods (get a model or version,
resolve a ``models:/`` URI) over ``gitreg.store.fleet``: a blobless, depth-1 fetch into
a shared cache that then fetches only the one manifest asked for (#15).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitreg.core import mutations as mut
from gitreg.core.entities import ModelVersion, RegisteredModel
from gitreg.core.errors import ModelNotFound
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
    read apply to the manifest.
    """

    def __init__(self, url: str, at: str | None = None) -> None:
        self.url = url
        self.at = at

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model ``name`` at the remote's tip."""
        from gitreg.core import manifest
        from gitreg.store import fleet
        from gitreg.store.transaction import parse_model

        path = model_path(check_name(name))
        text = fleet.read_remote(self.url, path, self.at)
        if text is not None:
            model = parse_model(manifest.load(text, path), path, text)
            if model.name == name:
                return model
        raise ModelNotFound(f"Registered Model with name={name} not found")

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
