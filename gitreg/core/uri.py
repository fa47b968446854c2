"""``models:/`` URIs: ``models:/NAME/VERSION``, ``/STAGE``, ``/latest`` and ``@ALIAS``."""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, NamedTuple

from gitreg.core.entities import Stage
from gitreg.core.errors import GitregError, InvalidUri
from gitreg.core.fields import check_alias, is_version_text, parse_version
from gitreg.core.names import check_name

SCHEME = "models:/"


if TYPE_CHECKING:

    class _Fields(NamedTuple):
        name: str
        version: int | None = None
        stage: Stage | None = None
        alias: str | None = None
        latest: bool = False

else:  # the same tuple: typing.NamedTuple compiles each string annotation when the class
    # is made, a millisecond of a CLI write's start (#26); tests/test_cold_write.py checks it
    _Fields = collections.namedtuple(
        "ModelRef",
        ("name", "version", "stage", "alias", "latest"),
        defaults=(None, None, None, False),
    )


class ModelRef(_Fields):
    """What a ``models:/`` URI names; exactly one of version, stage, alias or latest is set."""

    __slots__ = ()


_FORMS = "models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest or models:/NAME@ALIAS"


def run_id_of(source: str) -> str | None:
    """The run id in a ``runs:/RUN_ID/path`` source, or None for any other source."""
    if not source.startswith("runs:/"):
        return None
    return source[len("runs:/") :].split("/", 1)[0] or None


def parse_uri(uri: str) -> ModelRef:
    """Parse a ``models:/`` URI; InvalidUri says which part is wrong and the accepted forms."""
    if not isinstance(uri, str) or not uri.startswith(SCHEME):
        raise InvalidUri(f"Invalid model URI {uri!r}: it must start with 'models:/'; use {_FORMS}")
    rest = uri[len(SCHEME) :].lstrip("/") if uri.startswith("models:///") else uri[len(SCHEME) :]
    try:
        if "/" not in rest and "@" in rest:
            name, alias = rest.rsplit("@", 1)  # as MLflow: a name may itself contain "@"
            return ModelRef(check_name(name), alias=check_alias(alias))
        name, sep, suffix = rest.partition("/")
        if not sep or not suffix or "/" in suffix:
            raise InvalidUri(f"Invalid model URI {uri!r}: use {_FORMS}")
        check_name(name)
        if is_version_text(suffix):
            return ModelRef(name, version=parse_version(suffix))
        if suffix.lower() == "latest":
            return ModelRef(name, latest=True)
        return ModelRef(name, stage=Stage.parse(suffix))
    except InvalidUri:
        raise
    except GitregError as e:
        raise InvalidUri(f"Invalid model URI {uri!r}: {e.message}; use {_FORMS}") from e
