"""Who makes a change: the author a commit records, when it is not git's own identity (#25).

A registry change is a commit, and git's author is who made it. Through the CLI and the
Python API that is git's configured identity; through ``mlflow server`` it is the person the
server authenticated, handed down as an ``Identity`` (never read from a request by anything
below the face that verified it). ``identity_for`` turns an authenticated user name into
one git accepts, or refuses it. No I/O.
"""

from __future__ import annotations

import re

from gitreg.core import record
from gitreg.core.errors import InvalidParameter

MAX_NAME = 256  # the manifest's created_by
DEFAULT_EMAIL = "{user}@mlflow.invalid"
# Characters git drops from both ends of a name or an email ("crud" in git's ident.c).
_CRUD = ",:;<>\"\\'. \t"
_NOT_ALLOWED = re.compile(r"[\x00-\x1f\x7f<>]")
_EMAIL = re.compile(r"[^\s@<>]+@[^\s@<>]+")
_EMAIL_LOCAL = re.compile(r"[^\w.+-]")


@record.dataclass(frozen=True, slots=True)
class Identity:
    """A commit author: ``name`` and ``email`` as git writes them (``Name <email>``)."""

    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


def _clean(value: str) -> str:
    return value.strip(_CRUD)


def identity_for(user: object, email_template: str | None = None) -> Identity:
    """The author for an authenticated ``user`` name (an account name or an email address).

    The name is ``user`` itself. The email is ``user`` when it is an address, else
    ``email_template`` with ``{user}`` replaced (default ``DEFAULT_EMAIL``, a domain that
    can never receive mail: it names the account, it is not an address).

    Raises:
        InvalidParameter: ``user`` is not text git can record as an author (empty, too long,
            or with a control character, ``<`` or ``>``), or the template makes no address.
    """
    if not isinstance(user, str) or not _clean(user) or len(user) > MAX_NAME:
        raise InvalidParameter(
            f"The authenticated user {str(user)[:40]!r} cannot be a commit author: a user "
            f"name must be 1 to {MAX_NAME} characters of text"
        )
    if _NOT_ALLOWED.search(user) or _clean(user) != user:
        raise InvalidParameter(
            f"The authenticated user {user[:40]!r} cannot be a commit author: git refuses "
            "control characters, '<' and '>' in a name, and drops punctuation at its ends; "
            "rename the account"
        )
    if _EMAIL.fullmatch(user):
        return Identity(user, user)
    local = _EMAIL_LOCAL.sub("-", user)
    email = (email_template or DEFAULT_EMAIL).replace("{user}", local)
    if not _EMAIL.fullmatch(email) or _clean(email) != email:
        raise InvalidParameter(
            f"The author email template {email_template!r} makes {email!r}, which is not an "
            "address; use a template such as {user}@example.com"
        )
    return Identity(user, email)
