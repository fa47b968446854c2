"""Forges open the pull requests that carry protected stage changes: github, gitlab, none.

``make_forge`` reads the token from the environment it is given (``GITHUB_TOKEN`` or
``GITREG_TOKEN`` for GitHub, ``GITLAB_TOKEN`` or ``GITREG_TOKEN`` for GitLab), at call time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitreg.core.errors import ForgeError
from gitreg.integrations.forges.base import Forge, PullRequest, host_from_url, repository_from_url
from gitreg.integrations.forges.none import NoForge

__all__ = ["Forge", "PullRequest", "make_forge"]

_TOKENS = {"github": ("GITHUB_TOKEN", "GITREG_TOKEN"), "gitlab": ("GITLAB_TOKEN", "GITREG_TOKEN")}


def make_forge(settings: Mapping[str, Any], remote_url: str, env: Mapping[str, str]) -> Forge:
    """The forge ``registry.forge`` in gitreg.yaml names, for the remote at ``remote_url``.

    Raises:
        ForgeError: the repository cannot be worked out, or no token is set.
    """
    kind = str(settings.get("type", "none"))
    if kind == "none":
        return NoForge()
    repository = settings.get("repository") or repository_from_url(remote_url)
    if not repository:
        raise ForgeError(
            f"cannot tell the {kind} repository from the remote URL; set registry.forge."
            "repository (owner/name) in gitreg.yaml"
        )
    names = _TOKENS[kind]
    token = next((env[n] for n in names if env.get(n)), None)
    if token is None:
        raise ForgeError(
            f"set {' or '.join(names)} to a token that may open pull requests on {repository}"
        )
    api_url = settings.get("api_url")
    if kind == "github":
        from gitreg.integrations.forges.github import DEFAULT_API_URL, GitHubForge

        return GitHubForge(repository, token, api_url or DEFAULT_API_URL)
    from gitreg.integrations.forges.gitlab import GitLabForge

    host = host_from_url(remote_url)
    return GitLabForge(repository, token, api_url or f"https://{host or 'gitlab.com'}/api/v4")
