"""The registry's state at a work tree or a commit; a ``Store`` is also its ``Writer``.

Reads never import GitPython or jsonschema: a work-tree read opens one file; a read at a ref
asks ``git cat-file`` for one blob. Whole-registry reads (``reading``) parse only manifests
whose content (git blob id) is not in the cache (``cache``), so the cache can never be stale.
No read serves a model whose manifest is invalid (``verdict``, #22).

Writes (``transaction``: the lock, the commit, the push and recovery) are ``writer``'s,
which ``Store`` inherits, so ``store.transaction(mutation)`` is the one write entry point.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import lazy_re, manifest, yaml_memo
from gitreg.core.config import CONFIG_FILE, MODELS_DIR, RETIRED_FILE, Config
from gitreg.core.entities import RegisteredModel
from gitreg.core.errors import (
    BadRef,
    GitregError,
    InvalidManifest,
    InvalidParameter,
    ModelNotFound,
    NotARegistry,
)
from gitreg.core.names import check_name, name_of_stem
from gitreg.store import _git, files
from gitreg.store.cache import git_dir, load_parsed
from gitreg.store.transaction import keep_config, known_config, model_path
from gitreg.store.writer import Writer

if TYPE_CHECKING:
    from gitreg.store._repo import Repo
    from gitreg.store.reading import Reading
    from gitreg.store.verdict import Refused

# Whole-registry reads (``reading``) and the verdicts of a checked read (``verdict``) load
# when a read asks for them: a write never does (#26).

RETIRED_NAME = RETIRED_FILE.rsplit("/", 1)[-1]


_DATE = lazy_re.lazy(  # for a date given to a read (--at): a write never compiles it (#26)
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)


def _moment(text: str) -> int | None:
    """``text`` as unix seconds when it is a date or an ISO time, else None."""
    if not _DATE.fullmatch(text.strip()):
        return None
    value = text.strip().replace(" ", "T").replace("Z", "+00:00")
    try:
        moment = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    if len(text.strip()) == 10:  # a day means the end of that day
        moment += _dt.timedelta(days=1) - _dt.timedelta(seconds=1)
    return int(moment.timestamp())


def repository_head(path: Path) -> str | None:
    """The commit checked out in the git work tree at ``path``, or None when it is not one."""
    top = _git.find_worktree(path)
    if top is None or top != path.resolve():
        return None
    try:
        return _git.resolve_commit(top, "HEAD")
    except GitregError:
        return None


def add_remote(root: Path, name: str, url: str, branch: str) -> None:
    """Add remote ``name`` at ``url`` and make ``branch`` track it, so writes push there.

    Raises:
        InvalidParameter: ``url`` looks like an option.
    """
    if not url or url.startswith("-") or any(c in url for c in "\0\n\r"):
        raise InvalidParameter(f"Invalid remote URL {url!r}: give a git URL or path")
    _git.run(root, ["remote", "add", "--", name, url])
    _git.run(root, ["config", f"branch.{branch}.remote", name])
    _git.run(root, ["config", f"branch.{branch}.merge", f"refs/heads/{branch}"])


def ensure_repository(root: Path, branch: str) -> None:
    """``git init`` at ``root`` with ``branch``, unless ``root`` already is a work tree's top."""
    if _git.find_worktree(root) != root.resolve():
        _git.init(root, branch)


class Store(Writer):
    """A registry repository on disk."""

    def __init__(self, root: str | os.PathLike[str], *, new: bool = False) -> None:
        self.root = Path(root)
        if not new and not (self.root / CONFIG_FILE).is_file():
            if not (self.root / ".git").exists():
                raise NotARegistry(
                    f"{self.root} is not a gitreg registry (no git repository there); "
                    f"give the path of a registry, or create one with gitreg init {self.root}"
                )
            from gitreg.store.remote import unchecked_clone

            raise NotARegistry(
                unchecked_clone(self.root)
                or f"{self.root} is a git repository but not a gitreg registry (no "
                f"{CONFIG_FILE}); run 'gitreg init {self.root}'"
            )
        if not new and not (self.root / ".git").exists():
            top = _git.find_worktree(self.root)
            raise NotARegistry(
                f"{self.root / CONFIG_FILE} is not at the top of a git repository"
                + (f" (the repository starts at {top})" if top else "")
                + "; a registry is a whole repository: run 'gitreg init' in its own directory"
            )
        self.state_dir = git_dir(self.root) / "gitreg"
        self.retry_count = 0  # pushes rejected by a race and retried, for bench/stress.py
        self._repo: Repo | None = None
        self.last_commit: str | None = None  # of the last transaction; None: it changed nothing

    @classmethod
    def discover(cls, path: str | os.PathLike[str] | None = None) -> Store:
        """The registry at ``path``, else ``$GITREG_REPO``, else the current directory's repo."""
        chosen = path if path is not None else os.environ.get("GITREG_REPO") or os.getcwd()
        start = Path(chosen)
        if not start.exists():
            raise NotARegistry(
                f"{start} is not a gitreg registry (it does not exist); give the path of a "
                "registry, or create one with gitreg init"
            )
        if (start / CONFIG_FILE).is_file():
            return cls(start)
        top = _git.find_worktree(start)
        if top is None:
            raise NotARegistry(
                f"{start} is not a gitreg registry (not inside a git repository); give the "
                "path of a registry, or create one with gitreg init"
            )
        return cls(top)

    # ----------------------------------------------------------------- reads

    def resolve_ref(self, ref: str) -> str:
        """The commit id ``ref`` names: a branch, tag or commit, or a date or time.

        A date (``2026-11-01``) or time (``2026-11-01 12:00``, ISO-8601, UTC unless it says
        otherwise) means the registry as merged at that moment: the last commit of the
        checked-out branch's first-parent history committed at or before it.

        Raises:
            BadRef: ``ref`` names no commit, or the branch has none before that moment.
        """
        moment = _moment(ref)
        if moment is None:
            return _git.resolve_commit(self.root, ref)
        try:
            return _git.resolve_commit(self.root, ref)  # a branch may be called 2026-11-01
        except BadRef:
            pass
        found = _git.commit_before(self.root, "HEAD", moment)
        if found is None:
            raise BadRef(f"The registry has no commit at or before {ref} (it starts later)")
        return found

    def remotes(self) -> list[str]:
        """The git remotes this clone has (its own git config: nothing a commit can set)."""
        return _git.run(self.root, ["remote"]).decode().split()

    def first_parent_commits(self, since: str | None, until: str) -> list[str]:
        """The commits after ``since`` up to ``until`` on the first-parent history, oldest
        first (``since`` None: from the first commit)."""
        revisions = [until] if since is None else [f"^{since}", until]
        out = _git.run(
            self.root, ["rev-list", "--first-parent", "--reverse", "--end-of-options", *revisions]
        )
        return out.decode().split()

    def read_bytes(self, path: str, at: str | None = None) -> bytes | None:
        """``path`` in the work tree (``at`` None) or at commit ``at``; None if absent."""
        if at is None:
            self._recover_if_interrupted()
            return files.read_regular(self.root, path)
        return _git.read_blob_at(self.root, at, path)

    def read_config(self, at: str | None = None) -> Config:
        """The parsed gitreg.yaml (defaults where it is silent)."""
        text = self.read_bytes(CONFIG_FILE, at)
        if text is None:
            return Config()
        known = known_config(text)  # frozen, and decided by the text alone
        if known is not None:
            return known
        # What the safe loader made of this text before, kept in the clone by text hash
        # (core.yaml_memo): an unchanged policy needs no PyYAML in a new process (#26).
        yaml_memo.read_file(self.state_dir)
        data = manifest.load(text, CONFIG_FILE) or {}
        yaml_memo.save_file(self.state_dir)  # writes only when this process parsed anew
        if not isinstance(data, dict):
            raise InvalidManifest(f"{CONFIG_FILE}:1: expected a mapping at the top level")
        try:
            config = Config.from_dict(data)
            keep_config(text, config)
            return config
        except (GitregError, KeyError, TypeError, ValueError, AttributeError) as e:
            from gitreg.core import validate

            findings = validate.check_config(data, CONFIG_FILE, text)
            first = str(findings[0]) if findings else f"{CONFIG_FILE}: {e}"
            raise InvalidManifest(first, findings) from e

    def read_model(self, name: str, at: str | None = None) -> RegisteredModel:
        """The model called ``name``; ModelNotFound if there is none.

        Raises:
            InvalidManifest: its manifest breaks the schema or an invariant (#22): the first
                finding, as ``gitreg validate`` prints it. Nothing invalid is ever served.
        """
        path = model_path(name)
        text = self.read_bytes(path, at)
        from gitreg.store import verdict

        model = verdict.serve(self.state_dir, path, text, name) if text is not None else None
        if model is not None:
            return model
        hint = self._whereabouts(name, at)  # renamed or deleted: say so, and where (#27)
        if not hint and at is None:  # at a ref the listing would cost a git call
            hint = self._suggest(name)
        raise ModelNotFound(f"Registered Model with name={name} not found{hint}")

    def _whereabouts(self, name: str, at: str | None) -> str:
        """``": churn was renamed to churn-v2 in 1a2b3c4d5e; use churn-v2"``, from
        models/.retired.yaml and the commit that retired the name, or ``""``."""
        from gitreg.core.retired import Retired, describe_trail, trail

        try:
            text = self.read_bytes(RETIRED_FILE, at)
            record = Retired.from_manifest(manifest.load(text, RETIRED_FILE) if text else None)
        except GitregError:
            return ""  # an unreadable record is validate's to report; the read just says so
        steps = trail(record, name)
        if not steps:
            return ""

        def exists(other: str) -> bool:
            try:
                return self.read_bytes(model_path(check_name(other)), at) is not None
            except GitregError:
                return False

        def commit_of(old: str) -> str | None:
            try:
                path = model_path(check_name(old))
                args = ["log", "-1", "--format=%H", "--diff-filter=D", "--end-of-options"]
                found = _git.run(self.root, [*args, at or "HEAD", "--", path])
            except GitregError:
                return None  # no commit yet, a shallow clone: the record still says what
            return found.decode().strip() or None

        return ": " + describe_trail(steps, exists, commit_of)

    def _suggest(self, name: str) -> str:
        """``"; did you mean churn?"`` from a listing of ``models/`` (#16)."""
        from gitreg.core.suggest import did_you_mean

        return did_you_mean(name, self.model_names())

    def model_names(self) -> list[str]:
        """The models in the work tree, from a listing of ``models/`` (nothing is parsed).

        For suggestions and shell completion, which must cost no more than that.
        """
        try:
            files = os.listdir(self.root / MODELS_DIR)
        except OSError:
            return []
        # models/.retired.yaml is no model, and an encoded stem is its name's file (#27).
        names = (name_of_stem(f[: -len(".yaml")]) for f in files if f.endswith(".yaml"))
        return sorted(name for name in names if name is not None)

    def read_models(
        self, at: str | None = None, names: Iterable[str] | None = None
    ) -> list[RegisteredModel]:
        """Every model (or those of ``names`` that exist), sorted by name.

        A whole-registry read parses only manifests the cache has not seen.

        Raises:
            InvalidManifest: a manifest is invalid (the first, and how many others are);
                ``read_registry`` serves the valid models beside the refused ones.
        """
        read = self.read_registry(at, names)
        if read.refused:
            first = read.refused[0]
            others = len(read.refused) - 1
            more = f" ({others} other models are invalid too)" if others else ""
            raise InvalidManifest(first.message + more, first.findings)
        return read.models

    def read_registry(
        self, at: str | None = None, names: Iterable[str] | None = None, *, parallel: bool = False
    ) -> Reading:
        """The models a read may serve, and those it refuses, each with its findings (#22).

        An invalid manifest (it does not parse, breaks the schema or an invariant, or is
        not a regular file) refuses its model only: the others are read. Verdicts and
        parses are kept by blob id, so a whole-registry read checks only what changed.
        ``parallel``: what no cache has parsed is parsed on every core (a site build, #26).
        """
        from gitreg.store import reading, trusted

        if names is not None:
            return self._read_named(names, at)
        if at is None:
            self._recover_if_interrupted()
            raw, refused = reading.worktree_blobs(self.root)
        else:
            raw, refused = reading.blobs_at(self.root, at)
        found = reading.build(self.root, self.state_dir, raw, refused, parallel=parallel)
        trusted.record_read(lambda: self.repo, self.state_dir, at, reading.served(found))
        return found

    def _read_named(self, names: Iterable[str], at: str | None) -> Reading:
        from gitreg.store import reading

        found: list[RegisteredModel] = []
        refused: list[Refused] = []
        for name in sorted(names):
            try:
                model = self.read_model(check_name(name), at)
            except (ModelNotFound, InvalidParameter):
                continue
            except InvalidManifest as e:
                refused.append(reading.refused_of(model_path(name), e))
                continue
            found.append(model)
        return reading.Reading(found, tuple(refused), {})

    def _load_cache(self) -> dict[str, Any]:
        return load_parsed(self.state_dir)


def __getattr__(name: str) -> Any:
    """``Reading``, re-exported from ``reading`` when first asked (see above)."""
    if name == "Reading":
        from gitreg.store.reading import Reading

        return Reading
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
