"""What judges a registry, and which gitreg.yaml is trusted to do it (#22).

The policy, the forge settings and the endpoints that judge a change come from trusted
history, never from the change itself (DESIGN.md, "Where trust comes from"). This module
says which files judge (``is_judging``: gitreg.yaml, the CI and code-owner files GitHub and
GitLab read, the record of retired names), loads a gitreg.yaml strictly (``load_config``:
a file that does not parse or breaks the schema judges nothing, it never falls back to a
default), finds the last valid one in a commit's history, and tells a retirement record
that only grows (safe to accept unreviewed) from one that rewrites the past.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path

from gitreg.core import validate
from gitreg.core.config import (
    CONFIG_FILE,
    DEFAULT_CONFIG_TEXT,
    KEYS_DIR,
    MODELS_DIR,
    Config,
    Policy,
)
from gitreg.core.errors import GitregError
from gitreg.core.retired import RETIRED_FILE, Retired
from gitreg.store import compare
from gitreg.store.history import read_log

# Where GitHub and GitLab read code owners, CI definitions and repository settings: a change
# there changes who must approve and what runs on a push, so it is judged like gitreg.yaml.
# keys/ holds the public keys a policy's signed_by trusts (#28): adding one decides whose
# signature lets a version into Production.
JUDGING_DIRECTORIES = (".github/", ".gitlab/", f"{KEYS_DIR}/")
JUDGING_FILES = (CONFIG_FILE, RETIRED_FILE, "CODEOWNERS", "docs/CODEOWNERS", ".gitlab-ci.yml")
# The pathspecs an audit reads from ``git log``: the registry and everything that judges it.
AUDITED_PATHS = (f"{MODELS_DIR}/", *JUDGING_FILES, *JUDGING_DIRECTORIES)
# How far back ``last_valid`` looks for a gitreg.yaml that parses (changes to it, not commits).
MAX_CONFIG_VERSIONS = 200


def is_judging(path: str) -> bool:
    """Whether ``path`` (relative to the repository's top) is one of the files that judge:
    gitreg.yaml, the retired names, CI and code-owner files, and the signing keys (#28)."""
    return path in JUDGING_FILES or path.startswith(JUDGING_DIRECTORIES)


def is_key(path: str) -> bool:
    """Whether ``path`` is in keys/, where the keys a policy's ``signed_by`` names live."""
    return path.startswith(f"{KEYS_DIR}/")


@dataclasses.dataclass(frozen=True, slots=True)
class Trusted:
    """The gitreg.yaml that judges: where trusted history had it, and what it says.

    ``config`` is None when the file is absent (``problem`` None) or invalid (``problem``
    says why, in one line).
    """

    commit: str | None  # the commit it was read at; None: before the first commit
    text: bytes | None
    config: Config | None
    problem: str | None = None

    @property
    def valid(self) -> bool:
        """True when the file is there and valid: its policy can judge."""
        return self.config is not None

    @property
    def policy(self) -> Policy:
        """The policy it states (the one ``gitreg init`` writes when there is no file)."""
        return self.config.policy if self.config is not None else init_config().policy

    def where(self) -> str:
        """``gitreg.yaml at 0123456789ab`` (or ``before the first commit``)."""
        return f"{CONFIG_FILE} at {self.commit[:12]}" if self.commit else "the empty registry"


def load_config(text: bytes | None) -> tuple[Config | None, str | None]:
    """``(config, None)`` for a valid gitreg.yaml, ``(None, why)`` for an invalid one, and
    ``(None, None)`` when there is none. Nothing falls back to a default (fail closed)."""
    if text is None:
        return None, None
    data, syntax = validate.parse(text, CONFIG_FILE)
    findings = syntax or validate.check_config(data, CONFIG_FILE, text)
    if findings:
        return None, str(findings[0])
    try:
        if isinstance(data, Mapping):
            return Config.from_dict(data), None
    except (GitregError, KeyError, TypeError, ValueError, AttributeError) as e:
        return None, f"{CONFIG_FILE}: {e}"
    return None, f"{CONFIG_FILE}: expected a mapping at the top level"


def trusted_at(commit: str | None, text: bytes | None, irregular: str | None = None) -> Trusted:
    """The gitreg.yaml ``text`` read at ``commit``, loaded strictly. ``irregular`` says what
    the entry is when it is not a regular file ("a symbolic link"): it then judges nothing."""
    if irregular is not None:
        why = (
            f"{CONFIG_FILE} is {irregular}, not a regular file; gitreg reads only regular "
            "files (git mode 100644) there"
        )
        return Trusted(commit, None, None, why)
    config, problem = load_config(text)
    return Trusted(commit, text, config, problem)


@functools.cache
def init_config() -> Config:
    """The configuration ``gitreg init`` writes: what judges a repository becoming a registry."""
    config, problem = load_config(DEFAULT_CONFIG_TEXT.encode())
    if config is None:  # pragma: no cover - the shipped default is tested to be valid
        raise AssertionError(problem)
    return config


def is_registry_at(root: Path, commit: str | None) -> bool:
    """Whether ``commit`` holds a registry: a gitreg.yaml, or model manifests in models/."""
    if commit is None:
        return False
    texts, irregular = compare.read_files_at(root, commit, [CONFIG_FILE])
    if texts[CONFIG_FILE] is not None or irregular:
        return True
    names = compare.list_names_at(root, commit, MODELS_DIR)
    return any(n.endswith(".yaml") and f"{MODELS_DIR}/{n}" != RETIRED_FILE for n in names)


def last_valid(root: Path, commit: str) -> Trusted | None:
    """The newest valid gitreg.yaml in ``commit``'s first-parent history (``commit`` itself
    included), or None when there never was one (up to MAX_CONFIG_VERSIONS changes back)."""
    changes = read_log(root, None, commit, [CONFIG_FILE])[-MAX_CONFIG_VERSIONS:]
    changes.reverse()
    wanted = [
        (c.commit, ch.new_blob)
        for c in changes
        for ch in c.changes
        if ch.new_path == CONFIG_FILE and ch.status != "D" and ch.new_mode == "100644"
    ]
    texts = compare.read_at(root, sorted({blob for _, blob in wanted}))
    for where, blob in wanted:
        found = trusted_at(where, texts.get(blob))
        if found.valid:
            return found
    return None


def retirement_grows(old: bytes | None, new: bytes | None) -> bool:
    """Whether the record of retired names went from ``old`` to ``new`` only by growing.

    Growing is what gitreg's own writes do: a name is added when a model is deleted or
    renamed away, an entry leaves when a model of that name comes back carrying its numbers
    on (the judge's RETIREMENT_DROPPED catches any other removal), and an entry that stays
    keeps its reason (which decides whether a renamed model may take the name back) and
    never lowers its number. Such a change only makes numbering more careful and rewrites
    nothing a deployment reads, so the audit accepts it without review; anything else in
    models/.retired.yaml is a change to what judges.
    """
    before = _record(old)
    after = _record(new)
    for name, entry in before.names.items():
        kept = after.names.get(name)
        if kept is None or kept == entry:
            continue
        if kept.next_version <= entry.next_version or kept.reason != entry.reason:
            return False
    return True


def _record(text: bytes | None) -> Retired:
    if text is None:
        return Retired()
    data, syntax = validate.parse(text, RETIRED_FILE)
    return Retired.from_manifest(None if syntax else data)
