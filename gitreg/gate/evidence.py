"""Evidence of review: whether the forge confirms a commit came from a merged request (#22).

A commit's message is written by whoever made the commit, so a title such as ``Merge pull
request #9 from evil/x`` proves nothing. The only evidence the audit accepts is the answer
of the forge that the *trusted* gitreg.yaml names (its API origin and repository from that
file or from the CI system, ``integrations.forges.audit_forge``): "this commit is the result
of merged pull request #N". Without such a forge (``forge: none``, no token, an error, a
timeout) a protected change is UNVERIFIED, never assumed reviewed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from gitreg.core.errors import ForgeError
from gitreg.integrations.forges import audit_forge
from gitreg.integrations.forges.base import Forge

_NAMES = {"github": "GitHub", "gitlab": "GitLab"}


@dataclasses.dataclass(frozen=True, slots=True)
class Evidence:
    """What the forge said about one commit.

    ``reviewed`` is True when it confirmed a merged request, False when it answered that
    none produced the commit, and None when it could not be asked (``why`` says why).
    """

    reviewed: bool | None
    why: str
    pull_request: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    """One protected change the audit found, and whether review of it was verified."""

    commit: str
    path: str
    line: int | None
    code: str  # PROTECTED_STAGE, PROTECTED_ALIAS, ..., PROTECTED_POLICY
    what: str
    status: str  # "verified", "unreviewed" (the forge says no), "unverified" (no answer)
    evidence: str
    pull_request: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return dataclasses.asdict(self)


class Witness:
    """Asks the forge of a trusted gitreg.yaml about commits (one forge per setting)."""

    def __init__(self, remote_url: str, env: Mapping[str, str]) -> None:
        self.remote_url = remote_url
        self.env = env
        self._forges: dict[str, Forge | str] = {}
        self._answers: dict[tuple[str, str], Evidence] = {}

    def ask(self, commit: str, settings: Mapping[str, Any], where: str) -> Evidence:
        """Whether ``commit`` came from a merged request, by the forge ``settings`` name
        (``registry.forge`` of the gitreg.yaml trusted ``where``)."""
        key = json.dumps(dict(settings), sort_keys=True, default=str)
        if (key, commit) not in self._answers:
            self._answers[key, commit] = self._ask(commit, settings, key, where)
        return self._answers[key, commit]

    def _ask(self, commit: str, settings: Mapping[str, Any], key: str, where: str) -> Evidence:
        forge = self._forge(settings, key, where)
        if isinstance(forge, str):
            return Evidence(None, forge)
        name = _NAMES.get(forge.kind, forge.kind)
        try:
            pull = forge.merged_pull_for(commit)
        except ForgeError as e:
            return Evidence(None, f"{name} could not be asked: {e.message}")
        if pull is None or pull.number is None:
            return Evidence(False, f"{name} knows no merged pull request that produced it")
        return Evidence(True, f"merged pull request #{pull.number} ({name})", pull.number)

    def forge(self, settings: Mapping[str, Any], where: str) -> Forge | str:
        """The forge ``settings`` name (one per setting, shared with ``ask``), or why there
        is none (a sentence, as ``Evidence.why``)."""
        key = json.dumps(dict(settings), sort_keys=True, default=str)
        return self._forge(settings, key, where)

    def _forge(self, settings: Mapping[str, Any], key: str, where: str) -> Forge | str:
        if key not in self._forges:
            self._forges[key] = self._make(settings, where)
        return self._forges[key]

    def _make(self, settings: Mapping[str, Any], where: str) -> Forge | str:
        kind = str(settings.get("type", "none"))
        if kind == "none":
            return (
                f"registry.forge is none in {where}, so no forge can confirm a merged pull "
                "request (a merge commit's title is not evidence); set registry.forge to "
                "github or gitlab in a reviewed change"
            )
        try:
            return audit_forge(settings, self.remote_url, self.env)
        except ForgeError as e:
            return f"{_NAMES.get(kind, kind)} could not be asked: {e.message}"
