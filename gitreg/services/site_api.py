"""Reading a catalog's static API (#29): ``api/models/<stem>.json`` from any web host or CDN.

A deployment pod that resolves ``models:/churn@champion`` needs one small JSON file, which a
static host serves with an ETag. This client asks for it with the ETag it last saw (kept in
memory for a long-lived process and in ``$XDG_CACHE_HOME/gitreg/sites`` for the next one),
so an unchanged answer is a 304 without a body. Everything the host sends is hostile input:
the answer is bounded, parsed as the MLflow shapes gitreg writes (``core.rest``), and a model
the site marks invalid is refused with the site's own finding, as a read of the repository
would refuse it (#22). Nothing is sent but the request: no credential, no cookie.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import MutableMapping
from pathlib import Path
from urllib.parse import quote

from gitreg.core import record
from gitreg.core.entities import RegisteredModel
from gitreg.core.errors import GitregError, InvalidManifest, InvalidParameter, ModelNotFound
from gitreg.core.names import file_stem
from gitreg.core.redact import peer_text
from gitreg.core.rest import model_from_document

MAX_BYTES = 64 * 1024 * 1024  # a model of 12,000 versions is about 10 MB of JSON
TIMEOUT = 20.0
MAX_CACHED = 4 * 1024 * 1024  # answers above this are not kept on disk


class SiteUnavailable(GitregError):
    """The site could not be read (unreachable, or an answer that is not a success)."""

    error_code = "TEMPORARILY_UNAVAILABLE"


@record.dataclass(frozen=True, slots=True)
class SiteModel:
    """A model as the site serves it, and what the site says about its build."""

    model: RegisteredModel
    commit: str | None  # the last commit that changed the model, in the site's build
    verified_tip: str | None
    unverified: bool  # changed after the verified tip of that build
    not_modified: bool = False  # the host answered 304: the cached copy was current


def document_url(base: str, name: str) -> str:
    """Where a catalog at ``base`` keeps the API document of model ``name``."""
    if not base.lower().startswith(("https://", "http://")):
        raise InvalidParameter(
            f"--site {base[:80]!r} is not an http(s) URL; give the catalog's address, e.g. "
            "https://acme.github.io/registry/"
        )
    return f"{base.rstrip('/')}/api/models/{quote(file_stem(name), safe='')}.json"


def read_model(base: str, name: str, etags: MutableMapping[str, tuple[str, bytes]]) -> SiteModel:
    """Model ``name`` from the catalog at ``base`` (``etags``: this process's cache).

    Raises:
        ModelNotFound: the site has no such model.
        InvalidManifest: the site marks the model invalid, or sends something else.
        SiteUnavailable: the site cannot be read.
    """
    url = document_url(base, name)
    body, not_modified = _fetch(url, etags)
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidManifest(f"{url} is not JSON; is --site the catalog's address?") from e
    if isinstance(document, dict) and "error_code" in document:
        said = peer_text(str(document.get("message") or "invalid"), (), 400)
        raise InvalidManifest(f"the site refuses {name}: {said}")
    model = model_from_document(document, name, url)
    facts = document.get("gitreg") if isinstance(document, dict) else None
    facts = facts if isinstance(facts, dict) else {}
    return SiteModel(
        model,
        _hex(facts.get("commit")),
        _hex(facts.get("verified_tip")),
        facts.get("unverified") is True,
        not_modified,
    )


def _hex(value: object) -> str | None:
    if (
        isinstance(value, str)
        and 4 <= len(value) <= 64
        and all(c in "0123456789abcdef" for c in value)
    ):
        return value
    return None


def _fetch(url: str, etags: MutableMapping[str, tuple[str, bytes]]) -> tuple[bytes, bool]:
    """The body at ``url``, asked for with the ETag last seen; whether it was a 304."""
    from gitreg.integrations import http

    cached = etags.get(url) or _from_disk(url)
    headers = {"Accept": "application/json", "User-Agent": "gitreg"}
    if cached is not None:
        headers["If-None-Match"] = cached[0]
    try:
        answer = http.request(
            "GET",
            url,
            headers=headers,
            timeout=TIMEOUT,
            retry=http.Retry(attempts=3),
            max_bytes=MAX_BYTES,
            what="the site",
            raise_for_status=False,
        )
    except http.HttpError as e:
        raise SiteUnavailable(f"cannot read {url}: {e.message}") from e
    if answer.status == 304 and cached is not None:
        etags[url] = cached
        return cached[1], True
    if answer.status == 404:
        raise ModelNotFound(f"Registered Model not found at the site ({url} answered 404)")
    if not 200 <= answer.status < 300:
        raise SiteUnavailable(f"{url} answered {answer.status}: {answer.text(200)}")
    etag = answer.headers.get("etag")
    if etag and len(etag) <= 200:
        etags[url] = (etag, answer.body)
        _to_disk(url, etag, answer.body)
    return answer.body, False


def _cache_file(url: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitreg" / "sites" / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.json"


def _from_disk(url: str) -> tuple[str, bytes] | None:
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        path = _cache_file(url)
        if path.stat().st_size > MAX_CACHED * 2:
            return None
        kept = json.loads(path.read_bytes())
        if kept["url"] == url and isinstance(kept["etag"], str):
            return kept["etag"], kept["body"].encode("utf-8")
    return None


def _to_disk(url: str, etag: str, body: bytes) -> None:
    if len(body) > MAX_CACHED:
        return
    with contextlib.suppress(OSError, ValueError, UnicodeDecodeError):
        path = _cache_file(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"url": url, "etag": etag, "body": body.decode("utf-8")}))
        os.replace(tmp, path)
