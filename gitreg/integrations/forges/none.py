"""The ``none`` forge: the branch is pushed and a human opens the pull request."""

from __future__ import annotations

from collections.abc import Sequence

from gitreg.integrations.forges.base import Forge, PullRequest


class NoForge(Forge):
    """No API: requests are the pushed ``gitreg/...`` branches themselves."""

    kind = "none"

    def find(self, branch: str) -> PullRequest | None:
        """Nothing to find: there is no request besides the branch."""
        return None

    def open(
        self, branch: str, base: str, title: str, body: str, labels: Sequence[str]
    ) -> PullRequest:
        """Nothing to open; the caller tells the user to open one from ``branch``."""
        return PullRequest(branch=branch, title=title)

    def list_open(self) -> list[PullRequest]:
        """No API to ask; ``gitreg requests`` lists the branches instead."""
        return []
