"""``Listing``: a page of search results, and the models a read refused to list (#22).

Its own module so that only listings import the filter grammar (``core.search``): a
``resolve`` never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from gitreg.core.search import PagedList
from gitreg.store.verdict import Refused

T = TypeVar("T")


class Listing(PagedList[T]):
    """A page of search results; ``refused`` are the models left out because their
    manifests are invalid, each with its findings (a read never serves them, #22)."""

    def __init__(
        self, items: Iterable[T] = (), token: str | None = None, refused: Sequence[Refused] = ()
    ) -> None:
        super().__init__(items, token)
        self.refused = tuple(refused)
