"""Forges open the pull requests that carry protected stage changes: github, gitlab, none.

``make_forge`` reads the token from the environment it is given (``GITHUB_TOKEN`` or
``GITREG_TOKEN`` for GitHub, ``GITLAB_TOKEN`` or ``GITREG_TOKEN`` for GitLab), at call time;
``GITREG_MEMBERS_TOKEN``, when set, is the one team (group) membership is asked with: a CI
job's own token may not read an organization's teams (#24).
``audit_forge`` is the forge an audit asks for evidence of review: the token goes only to
the origin that trusted history (the trusted gitreg.yaml) or the CI system names (#22).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitreg.core.errors import ForgeError, ForgeTokenMissing
from gitreg.integrations.forges.base import Forge, PullRequest, host_from_url, repository_from_url
from gitreg.integrations.forges.none import NoForge

__all__ = ["Forge", "PullRequest", "audit_forge", "make_forge", "token_variables"]

_TOKENS = {"github": ("GITHUB_TOKEN", "GITREG_TOKEN"), "gitlab": ("GITLAB_TOKEN", "GITREG_TOKEN")}


def token_variables(kind: str) -> tuple[str, ...]:
    """The environment variables a token for forge ``kind`` is read from, first first."""
    return _TOKENS.get(kind, ())


def make_forge(settings: Mapping[str, Any], remote_url: str, env: Mapping[str, str]) -> Forge:
    """The forge ``registry.forge`` in gitreg.yaml names, for the remote at ``remote_url``.

    Raises:
        ForgeError: the repository cannot be worked out.
        ForgeTokenMissing: no token is set.
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
        raise ForgeTokenMissing(
            f"set {' or '.join(names)} to a token that may open pull requests on {repository}"
        )
    api_url = settings.get("api_url")
    timeout = forge_timeout(env)
    members = env.get(MEMBERS_TOKEN_ENV) or None
    if kind == "github":
        from gitreg.integrations.forges.github import DEFAULT_API_URL, GitHubForge

        return GitHubForge(repository, token, api_url or DEFAULT_API_URL, timeout, members)
    from gitreg.integrations.forges.gitlab import GitLabForge

    host = host_from_url(remote_url)
    api = api_url or f"https://{host or 'gitlab.com'}/api/v4"
    return GitLabForge(repository, token, api, timeout, members)


MEMBERS_TOKEN_ENV = "GITREG_MEMBERS_TOKEN"


TIMEOUT_ENV = "GITREG_FORGE_TIMEOUT"


def forge_timeout(env: Mapping[str, str]) -> float | None:
    """Seconds each forge request may take: ``GITREG_FORGE_TIMEOUT`` (#24); None when it is
    not set (``base.TIMEOUT_SECONDS``, 30).

    Raises:
        ForgeError: the variable is not a number of seconds from 0.1 to 300.
    """
    raw = env.get(TIMEOUT_ENV)
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0.1 <= seconds <= 300:
        raise ForgeError(f"{TIMEOUT_ENV}={raw[:20]!r}: give seconds from 0.1 to 300")
    return seconds


# What a CI system says about the repository a job runs for: where its API is and which
# repository (project) it is. The runner sets these; nothing in the repository can.
_CI_ORIGINS = {
    "github": ("GITHUB_ACTIONS", "GITHUB_API_URL", "GITHUB_REPOSITORY"),
    "gitlab": ("GITLAB_CI", "CI_API_V4_URL", "CI_PROJECT_ID"),
}


def audit_forge(settings: Mapping[str, Any], remote_url: str, env: Mapping[str, str]) -> Forge:
    """The forge an audit asks which merged request a commit came from.

    ``settings`` must be ``registry.forge`` of the *trusted* gitreg.yaml (never one the
    audited commits introduced). Inside the CI system of that forge (``GITHUB_ACTIONS`` or
    ``GITLAB_CI`` is ``true``), the API origin and the repository are the ones the runner
    sets (``GITHUB_API_URL``/``GITHUB_REPOSITORY``, ``CI_API_V4_URL``/``CI_PROJECT_ID``);
    elsewhere they are the trusted settings' (or the remote URL's) as for ``make_forge``.

    Raises:
        ForgeError: the repository cannot be worked out, or no token is set.
    """
    kind = str(settings.get("type", "none"))
    flag, api, repository = _CI_ORIGINS.get(kind, ("", "", ""))
    if flag and env.get(flag) == "true" and env.get(api) and env.get(repository):
        settings = {**settings, "api_url": env[api], "repository": env[repository]}
    return make_forge(settings, remote_url, env)
