"""The events of a range of commits: every change to every model, commit by commit.

``read_events(root, since, until)`` walks the first-parent history from ``since`` to
``until`` (what landed on the branch, a merged pull request as its merge commit) and diffs
each changed manifest's two states (``core.states.diff_states``: ``core.events.diff``,
looking only at the version blocks a commit changed, #23): the events come from the
states, never from commit messages, so a hand edit or a squash merge yields exactly its net
changes. Each event carries its commit, author, time, pull request and a stable id, so the
same range always gives the same events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gitreg.core.config import MODELS_DIR
from gitreg.core.entities import RegisteredModel
from gitreg.core.events import RegistryEvent
from gitreg.core.retired import RETIRED_FILE
from gitreg.core.states import ModelState, diff_states
from gitreg.store import _git
from gitreg.store.cache import git_dir, load_parsed
from gitreg.store.gitlog import FileChange, LogCommit, parse_log
from gitreg.store.walk import walk

PROMPT_TAG = "mlflow.prompt.is_prompt"  # MLflow's mark of a prompt (mlflow.prompt.constants)
_NO_COMMIT = re.compile(r"^0+$")  # what GitHub sends as "before" for a new branch
_FEW_CHANGES = 16  # manifest changes read from their blobs rather than the parse cache


# A manifest change with the manifest's state before and after it (None: absent, unreadable).
Step = tuple[LogCommit, FileChange, ModelState | None, ModelState | None]


def read_events(
    root: Path,
    since: str | None,
    until: str = "HEAD",
    known: Mapping[str, RegisteredModel] | None = None,
) -> list[RegistryEvent]:
    """Every event in the commits after ``since`` up to ``until``, oldest first.

    ``since`` None (or all zeros) means from the first commit. ``known``: blob id -> the
    model a whole-registry read just made of it (the catalog's, #26): such a blob is
    neither read nor parsed again, nor converted into a model a second time.
    """
    changes = log_changes(root, since, until)
    return step_events(walk_changes(root, changes, known))


def log_changes(root: Path, since: str | None, until: str) -> list[tuple[LogCommit, FileChange]]:
    """The manifest changes of the commits after ``since`` up to ``until``, oldest first
    (within a commit, by path)."""
    revisions = [until] if since is None or _NO_COMMIT.fullmatch(since) else [f"^{since}", until]
    commits = list(parse_log(_git.log_raw(root, revisions, [f"{MODELS_DIR}/"])))
    commits.reverse()
    return [
        (commit, change)
        for commit in commits
        for change in sorted(_manifests(commit), key=lambda ch: (ch.new_path, ch.old_path))
    ]


def walk_changes(
    root: Path,
    changes: Sequence[tuple[LogCommit, FileChange]],
    known: Mapping[str, RegisteredModel] | None = None,
) -> Iterator[Step]:
    """Each of ``changes`` with the manifest's state before and after it, in order (read
    lazily: a path holds one state at a time, see ``store.walk``)."""
    if known is not None:
        parsed: Mapping[str, Any] = known
    else:
        # Manifests a whole-registry read already parsed are in the parse cache, keyed by
        # blob id: the catalog reads every model and then all history, so most tips are
        # there (#14). A range of a few changes (a site's rebuild, a webhook's push) reads
        # its few blobs instead of loading the cache of every manifest (#26).
        parsed = load_parsed(git_dir(root) / "gitreg") if len(changes) > _FEW_CHANGES else {}
    states = walk(root, [change for _, change in changes], parsed)
    for (commit, change), (old, new) in zip(changes, states, strict=True):
        yield commit, change, old, new


def step_events(steps: Iterable[Step]) -> list[RegistryEvent]:
    """The events of each change (``walk_changes``'s steps), in order."""
    events: list[RegistryEvent] = []
    for commit, change, old, new in steps:
        old = old if change.status != "A" else None
        new = new if change.status != "D" else None
        if _unreadable(change, old, new):
            continue  # a commit that broke a manifest has no readable change
        prompt = _is_prompt(new or old)
        events += [_placed(commit, event, prompt) for event in diff_states(old, new)]
    return events


def _manifests(commit: LogCommit) -> list[FileChange]:
    """The changes of ``commit`` to files directly in models/ named *.yaml."""
    return [
        ch
        for ch in commit.changes
        if _is_manifest(ch.new_path) or (ch.status in ("D", "R") and _is_manifest(ch.old_path))
    ]


def _is_manifest(path: str) -> bool:
    head, _, name = path.rpartition("/")
    return head == MODELS_DIR and name.endswith(".yaml") and path != RETIRED_FILE


def _unreadable(change: FileChange, old: ModelState | None, new: ModelState | None) -> bool:
    return (change.status != "A" and old is None) or (change.status != "D" and new is None)


def _is_prompt(state: ModelState | None) -> bool:
    tags = state.model.tags if state is not None else {}
    return str(tags.get(PROMPT_TAG, "")).lower() == "true"


def _placed(commit: LogCommit, event: Any, is_prompt: bool = False) -> RegistryEvent:
    return RegistryEvent(
        event=event,
        commit=commit.commit,
        author=commit.author,
        author_email=commit.author_email,
        timestamp=commit.committed_at,
        pull_request=commit.pull_request,
        is_prompt=is_prompt,
    )
