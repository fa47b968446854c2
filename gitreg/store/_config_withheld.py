"""git's configuration kept for the next process without what may be a credential (#26,
tenth round).

The configuration memo (``_git.CONFIG_MEMO``) was never written for a configuration
holding anything that may be a credential: a credential helper's setting in the system
or global file (``credential.helper``, set by most git installers and on this bench's
machine) was enough for every CLI write to run ``git config --list`` again, 8 ms of CPU
of a cold write with ``subprocess`` loaded for it. The memo now keeps such a
configuration *less* those entries: nothing judged a possible credential (``_git``'s rule:
HTTP, credential, URL-rewrite and sendemail sections, names with token, pass, secret,
auth, cookie or key, a URL with a user in it, here also any name with an ``@``) is
written to ``.git/gitreg``, neither its value nor, where the name itself may hold one,
its name. What is kept says which lookups need them: the names of entries withheld for
their value (``remote.origin.url`` with a user in it), and whether any entry was
withheld for its name. Asking for one of those reads git's configuration whole, once,
in that process (``Withheld``): an answer is always git's own.
"""

from __future__ import annotations

from collections.abc import Callable

_SECRET_SECTIONS = ("http.", "credential.", "url.", "sendemail.")
_SECRET_WORDS = ("token", "pass", "secret", "auth", "cookie", "key")


def secret_name(key: str) -> bool:
    """Whether the name of a configuration entry may hold or name a credential."""
    name = key.rpartition(".")[2]  # the variable's name: "author.name" holds no secret
    return key.startswith(_SECRET_SECTIONS) or any(w in name for w in _SECRET_WORDS)


def secret_value(value: str) -> bool:
    """Whether a value is a URL with a user (and maybe a token) in it."""
    _scheme, sep, rest = value.partition("://")
    return bool(sep) and "@" in rest.split("/", 1)[0]


def _hidden_name(key: str) -> bool:
    return secret_name(key) or "@" in key


def split(config: dict[str, str]) -> tuple[dict[str, str], tuple[str, ...], bool]:
    """``config`` as the memo keeps it: the entries that are no credential, the names of
    those withheld for their value, and whether any was withheld for its name."""
    kept: dict[str, str] = {}
    by_value: list[str] = []
    by_name = False
    for key, value in config.items():
        if _hidden_name(key):
            by_name = True
        elif secret_value(value):
            by_value.append(key)
        else:
            kept[key] = value
    return kept, tuple(by_value), by_name


class Withheld(dict[str, str]):
    """A configuration from the memo, less its withheld entries: a lookup that may be one
    of them (see ``split``) reads git's configuration whole (``read``) first."""

    def __init__(
        self,
        kept: dict[str, str],
        by_value: tuple[str, ...],
        by_name: bool,
        read: Callable[[], dict[str, str]],
    ) -> None:
        super().__init__(kept)
        self._by_value = frozenset(by_value)
        self._by_name = by_name
        self._read: Callable[[], dict[str, str]] | None = read

    def _maybe_withheld(self, key: object) -> bool:
        if self._read is None or not isinstance(key, str):
            return False
        return key in self._by_value or (self._by_name and _hidden_name(key))

    def _complete(self) -> None:
        read, self._read = self._read, None
        if read is not None:
            whole = read()
            self.clear()
            self.update(whole)

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        """``dict.get``, completed first if ``key`` may be withheld."""
        if self._maybe_withheld(key):
            self._complete()
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        if self._maybe_withheld(key):
            self._complete()
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if self._maybe_withheld(key):
            self._complete()
        return super().__contains__(key)
