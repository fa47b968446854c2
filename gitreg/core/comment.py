"""Comments on model versions (#29): Databricks' CommentObject, and the file that holds one. No I/O.

A comment is collaboration, not a fact a deployment reads: it never touches a manifest and
never needs review. Each comment is one small YAML file, ``<model file stem>/<version>/
<id>.yaml``, on its own ref (``store.comments``); this module says what such a file holds,
checks it as hostile input, and gives the JSON shape of Databricks' comments API
(``id``, ``comment``, ``user_id``, ``creation_timestamp``, ``last_updated_timestamp``,
``available_actions``).
"""

from __future__ import annotations

import re
from typing import Any

from gitreg.core import manifest, record
from gitreg.core.errors import InvalidManifest, InvalidParameter
from gitreg.core.fields import MAX_VERSION, has_visible_text
from gitreg.core.names import check_name, file_stem, name_of_stem

MAX_COMMENT = 65535  # Databricks' limit: [1 .. 65535] characters
MAX_FILE_BYTES = 256 * 1024
MAX_USER = 256
ID_PATTERN = r"^[0-9a-f]{32}$"
_ID_RE = re.compile(ID_PATTERN)
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
ACTIONS = ("EDIT_COMMENT", "DELETE_COMMENT")


@record.dataclass(frozen=True, slots=True)
class Comment:
    """One comment on one model version (Databricks' ``CommentObject`` plus where it is)."""

    id: str
    name: str
    version: int
    comment: str
    user_id: str
    creation_timestamp: int
    last_updated_timestamp: int
    user_email: str | None = None

    @property
    def path(self) -> str:
        """Where the comment's file lives on the comments ref."""
        return comment_path(self.name, self.version, self.id)

    def to_dict(self) -> dict[str, Any]:
        """Databricks' CommentObject, with the model and version it is on."""
        out: dict[str, Any] = {
            "id": self.id,
            "comment": self.comment,
            "user_id": self.user_id,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "available_actions": list(ACTIONS),
            "name": self.name,
            "version": str(self.version),
        }
        if self.user_email:
            out["user_email"] = self.user_email
        return out

    def to_file(self) -> str:
        """The YAML file that stores it."""
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "comment": self.comment,
            "user_id": self.user_id,
        }
        if self.user_email:
            data["user_email"] = self.user_email
        data["creation_timestamp"] = self.creation_timestamp
        data["last_updated_timestamp"] = self.last_updated_timestamp
        return manifest.dump(data)


def comment_path(name: str, version: int, comment_id: str) -> str:
    """``<file stem>/<version>/<id>.yaml``: the stem is the manifest's, so it is safe."""
    return f"{version_dir(name, version)}/{check_id(comment_id)}.yaml"


def version_dir(name: str, version: int) -> str:
    """The directory of a version's comments on the comments ref."""
    return f"{file_stem(check_name(name))}/{int(version)}"


def check_id(comment_id: object) -> str:
    """``comment_id`` if it is a comment id (32 hex digits), else INVALID_PARAMETER_VALUE."""
    if not isinstance(comment_id, str) or not _ID_RE.fullmatch(comment_id):
        raise InvalidParameter(
            f"Invalid comment id {str(comment_id)[:40]!r}: a comment id is 32 hex digits, as "
            "gitreg comments --json lists them"
        )
    return comment_id


def check_text(text: object) -> str:
    """A comment's text: 1 to 65,535 characters with a visible one, no NUL (as Databricks)."""
    if not isinstance(text, str) or not has_visible_text(text):
        raise InvalidParameter("A comment needs text with a visible character")
    if len(text) > MAX_COMMENT:
        raise InvalidParameter(
            f"A comment is at most {MAX_COMMENT:,} characters (this one has {len(text):,})"
        )
    if _NOT_TEXT.search(text):
        raise InvalidParameter("A comment cannot hold a NUL or a lone surrogate character")
    return text


def parse_file(path: str, text: bytes) -> Comment:
    """The comment stored at ``path`` (hostile input: every field checked, and the path must
    be the one its own name, version and id give).

    Raises:
        InvalidManifest: the file is not a comment gitreg would have written there.
    """
    if len(text) > MAX_FILE_BYTES:
        raise InvalidManifest(f"{path}: a comment file above {MAX_FILE_BYTES:,} bytes")
    data = manifest.load_mapping(text, path)
    try:
        comment = Comment(
            id=check_id(data.get("id")),
            name=check_name(data.get("name")),
            version=_version(data.get("version")),
            comment=check_text(data.get("comment")),
            user_id=_user(data.get("user_id")),
            creation_timestamp=_stamp(data.get("creation_timestamp")),
            last_updated_timestamp=_stamp(data.get("last_updated_timestamp")),
            user_email=_user(data["user_email"]) if data.get("user_email") else None,
        )
    except InvalidParameter as e:
        raise InvalidManifest(f"{path}: {e.message}") from e
    if comment.path != path:
        raise InvalidManifest(f"{path}: the comment names {comment.path}, not this file")
    return comment


def _version(value: object) -> int:
    if type(value) is not int or not 1 <= value <= MAX_VERSION:
        raise InvalidParameter(f"version {str(value)[:20]!r} is not a version number")
    return value


def _stamp(value: object) -> int:
    if type(value) is not int or not 0 <= value < 2**53:
        raise InvalidParameter(f"timestamp {str(value)[:20]!r} is not epoch milliseconds")
    return value


def _user(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_USER:
        raise InvalidParameter("user_id must be a name of 1 to 256 characters")
    if _NOT_TEXT.search(value) or any(c in value for c in "\n\r"):
        raise InvalidParameter("user_id must be one line of text")
    return value


def name_of_dir(stem: str) -> str | None:
    """The model name a comments directory is for (its manifest's stem), if any."""
    return name_of_stem(stem)
