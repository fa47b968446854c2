"""Who owns a path, by a CODEOWNERS file as GitHub and GitLab read it (#24). No I/O.

``from: codeowners`` in ``policy.approvals`` means the owners of the model's manifest, as
the CODEOWNERS of the trusted base says (``gitreg init`` writes one, with an example line
per model). The file is read by the caller at the base commit, never from the change.

The rules followed: a line is a pattern and its owners; ``#`` starts a comment; the last
line whose pattern matches decides (GitHub; GitLab: the last one in each ``[Section]``,
all sections together, a line without owners taking its section's default owners). A
pattern is gitignore-like: ``/`` at the start or inside anchors it at the top of the
repository, ``*`` and ``?`` stay within a directory, ``**`` crosses them, a trailing ``/``
means everything below a directory, and a pattern that names a directory covers what is
in it (but ``dir/*`` only the files directly in it, as GitHub documents). Owners are
``@user``, ``@org/team`` (GitLab: ``@group/subgroup``) and e-mail addresses, which no
forge API maps to an account, so they are reported and never count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gitreg.core import record

# Where each forge looks for the file, in its order (the first that exists is used).
LOCATIONS = {
    "github": (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"),
    "gitlab": ("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"),
}
MAX_BYTES = 1_000_000  # GitHub ignores a CODEOWNERS over 3 MB; ours is far smaller
_SECTION_RE = re.compile(r"^\^?\[([^\]]+)\](?:\[\d+\])?\s*(.*)$")
_USER_RE = re.compile(r"^@([A-Za-z0-9][A-Za-z0-9_.\-]*)$")
_TEAM_RE = re.compile(r"^@([A-Za-z0-9][A-Za-z0-9_.\-]*(?:/[A-Za-z0-9][A-Za-z0-9_.\-]*)+)$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


@record.dataclass(frozen=True, slots=True)
class Owners:
    """The owners a CODEOWNERS line gives a path: accounts, teams, and unusable e-mails."""

    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()  # org/team
    emails: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.users or self.teams)

    def describe(self) -> str:
        """``alice, @acme/growth-ml``."""
        return ", ".join([*self.users, *(f"@{t}" for t in self.teams)])


@record.dataclass(frozen=True, slots=True)
class _Rule:
    section: str
    pattern: re.Pattern[str]
    owners: tuple[str, ...]
    defaults: tuple[str, ...]  # the section's default owners (GitLab)


def owners_of(text: bytes, path: str, *, gitlab: bool = False) -> Owners:
    """The owners of ``path`` (relative to the top of the repository) that ``text`` names.

    Empty when no line matches or the matching line names no owner.
    """
    rules = list(_rules(text.decode("utf-8", "replace"), gitlab))
    decided: dict[str, tuple[str, ...]] = {}
    for rule in rules:
        if rule.pattern.fullmatch(path):
            decided[rule.section if gitlab else ""] = rule.owners or (
                rule.defaults if gitlab else ()
            )
    return _owners(token for tokens in decided.values() for token in tokens)


def _rules(text: str, gitlab: bool) -> Iterable[_Rule]:
    section, defaults = "", ()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _SECTION_RE.match(line) if gitlab else None
        if header is not None:
            section, defaults = header.group(1).casefold(), tuple(header.group(2).split())
            continue
        words = _split(line)
        if not words:
            continue
        owners = tuple(w for w in words[1:] if not w.startswith("#"))
        if "#" in words[1:]:
            owners = tuple(words[1 : words.index("#")])
        yield _Rule(section, _compile(words[0]), owners, defaults)


def _split(line: str) -> list[str]:
    """Words of a line; ``\\ `` keeps a space inside a pattern, ``\\#`` a literal ``#``."""
    words: list[str] = []
    current = ""
    escaped = False
    for char in line:
        if escaped:
            current += "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char.isspace():
            if current:
                words.append(current)
            current = ""
        else:
            current += char
    if current:
        words.append(current)
    return words


def _compile(pattern: str) -> re.Pattern[str]:
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    directory = pattern.endswith("/")
    files_only = pattern.endswith("/*")  # GitHub: dir/* is the files directly in dir
    body = _translate(pattern.strip("/"))
    start = "" if anchored else "(?:.*/)?"
    if directory:
        end = "/.*"
    elif files_only:
        end = ""
    else:
        end = "(?:/.*)?"
    return re.compile(start + body + end, re.DOTALL)


def _translate(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def _owners(tokens: Iterable[str]) -> Owners:
    users: dict[str, str] = {}
    teams: dict[str, str] = {}
    emails: dict[str, str] = {}
    for token in tokens:
        team = _TEAM_RE.fullmatch(token)
        user = _USER_RE.fullmatch(token)
        if team is not None:
            teams.setdefault(team.group(1).casefold(), team.group(1))
        elif user is not None:
            users.setdefault(user.group(1).casefold(), user.group(1))
        elif _EMAIL_RE.fullmatch(token):
            emails.setdefault(token.casefold(), token)
    return Owners(tuple(users.values()), tuple(teams.values()), tuple(emails.values()))
