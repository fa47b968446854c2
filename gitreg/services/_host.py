"""What ``Registry`` gives the service bases it is built from.

``Governance``, ``Notifications``, ``Collaboration`` and ``Integrity`` are bases of
``Registry``: each calls the store, the read and the write that ``Registry`` provides.
Declared once here so that the four agree, and mypy checks ``Registry`` against them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitreg.core.entities import RegisteredModel
    from gitreg.store.store import Store
    from gitreg.store.transaction import Transaction


class RegistryHost:
    """The parts of ``Registry`` its service bases use."""

    store: Store
    at: str | None
    push: bool | None

    if TYPE_CHECKING:

        def _read(self, name: str) -> RegisteredModel: ...

        def _write(
            self,
            mutation: Callable[[Transaction], Any],
            *,
            direct: bool = False,
            why: str | None = None,
        ) -> Any: ...
