"""Links out of the catalog: run pages, pull requests and commits, and which URLs may be links.

Templates come from gitreg.yaml's ``links:`` (validated in ``core.config``: http(s), a literal
host, known placeholders); without them, pull request and commit links are derived from
``registry.forge`` when it names a GitHub or GitLab repository. Every value filled in is
percent-encoded, and nothing that is not an http(s) URL ever becomes a link.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from gitreg.core import record
from gitreg.core.config import Config
from gitreg.core.entities import ModelVersion

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)+$")


def safe_url(url: object) -> str | None:
    """``url`` if it is an http(s) URL with a host, the only links the catalog makes."""
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 0x20 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def fill(template: str | None, **values: object) -> str | None:
    """``template`` with each ``{name}`` replaced by its value, percent-encoded."""
    if template is None or any(v is None for v in values.values()):
        return None
    filled = _PLACEHOLDER.sub(lambda m: quote(str(values.get(m[1], "")), safe=""), template)
    return safe_url(filled)


@record.dataclass(frozen=True, slots=True)
class Linker:
    """Makes the catalog's outgoing links from the registry's templates."""

    run: str | None = None
    pull_request: str | None = None
    commit: str | None = None

    @classmethod
    def from_config(cls, config: Config) -> Linker:
        """``links:`` from gitreg.yaml, pull request and commit links from the forge otherwise."""
        pull, commit = forge_templates(config.forge)
        links = config.links
        return cls(links.run, links.pull_request or pull, links.commit or commit)

    def run_url(self, mv: ModelVersion) -> str | None:
        """The version's own ``run_link`` when it is http(s), else the ``run`` template."""
        return safe_url(mv.run_link) or fill(
            self.run, run_id=mv.run_id, name=mv.name, version=mv.version
        )

    def pull_request_url(self, number: int | None) -> str | None:
        """The pull request numbered ``number``, if the registry says where they are."""
        return fill(self.pull_request, number=number)

    def commit_url(self, commit: str | None) -> str | None:
        """The forge's page of ``commit``, if the registry says where it is."""
        return fill(self.commit, commit=commit)


def forge_templates(forge: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Pull request and commit templates for ``registry.forge`` (github or gitlab + repository)."""
    kind, repository = forge.get("type"), forge.get("repository")
    if kind not in ("github", "gitlab") or not isinstance(repository, str):
        return None, None
    if not _REPOSITORY.match(repository) or {".", ".."} & set(repository.split("/")):
        return None, None
    path = "/".join(quote(part, safe="") for part in repository.split("/"))
    base = _web_base(str(kind), forge.get("api_url"))
    if kind == "github":
        return f"{base}/{path}/pull/{{number}}", f"{base}/{path}/commit/{{commit}}"
    return f"{base}/{path}/-/merge_requests/{{number}}", f"{base}/{path}/-/commit/{{commit}}"


def _web_base(kind: str, api_url: object) -> str:
    """The forge's web address: github.com / gitlab.com, or the host of its ``api_url``."""
    default = "https://github.com" if kind == "github" else "https://gitlab.com"
    api = safe_url(api_url)
    if api is None:
        return default
    parts = urlsplit(api)
    if parts.netloc.lower() == "api.github.com":
        return default
    return f"{parts.scheme.lower()}://{parts.netloc}"
