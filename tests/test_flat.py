"""Writes flat in a model's version count (#26): the same bytes, results and refusals as
the full path, on real git repositories.

``services.flat`` rewrites one entry and the header of a manifest gitreg wrote itself; the
full path parses, changes, validates and writes the whole model. The property test runs
one random sequence of writes on two registries, one with the flat path and one without
it, and compares everything a user can see after each write.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.core import manifest, validate
from gitreg.core.errors import GitregError, InvalidManifest
from gitreg.core.sparse import Sparse
from gitreg.gate.scaffold import init_registry
from gitreg.services import flat
from gitreg.store import cache
from tests._helpers import git

NAME = "churn"
STAGES = ["None", "Staging", "Production", "Archived"]


class Spy:
    """Counts the writes the flat path made (it answers None when it leaves one to the
    full path); wraps the real functions, changes nothing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.taken = 0
        for name in ("register", "transition", "set_alias"):
            monkeypatch.setattr(flat, name, self._wrap(getattr(flat, name)))

    def _wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            result = real(*args)
            self.taken += result is not None
            return result

        return call


@contextlib.contextmanager
def full_path_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The flat path declines every write: what gitreg did before #26."""
    with monkeypatch.context() as patch:
        patch.setattr(flat, "_open", lambda tx, name: None)
        yield


def _clock() -> Callable[[], int]:
    ticks = itertools.count(1_763_000_000_000, 1_000)
    return lambda: next(ticks)


def _outcome(call: Callable[[], Any]) -> tuple[str, str]:
    try:
        return "ok", repr(call())
    except GitregError as e:
        return type(e).__name__, e.message


def _state(root: Path) -> tuple[str, str, str]:
    text = (root / "models" / f"{NAME}.yaml").read_text("utf-8")
    return text, git(root, "log", "-1", "--format=%B"), git(root, "status", "--porcelain")


descriptions = st.one_of(
    st.none(),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
    st.sampled_from(["two\nlines", "it's: here", "true", "- dash", "#hash", "1.0", "'q'"]),
)
tags = st.dictionaries(
    st.sampled_from(["team", "k.e-y", "ünï"]), st.sampled_from(["a", "", "x y", "3"]), max_size=2
)
aliases = st.sampled_from(["champion", "b", "latest", "c-1"])
operations = st.one_of(
    st.tuples(st.just("register"), descriptions, tags),
    st.tuples(st.just("transition"), st.integers(0, 9), st.sampled_from(STAGES), st.booleans()),
    st.tuples(st.just("alias"), aliases, st.integers(0, 9)),
    st.tuples(st.just("describe"), st.integers(1, 9), descriptions),
    st.tuples(st.just("delete"), st.integers(1, 9)),
)


def _apply(registry: Registry, op: tuple[Any, ...], k: int) -> Any:
    kind = op[0]
    if kind == "register":
        return registry.create_model_version(
            NAME, f"s3://b/{k}", run_id="0" * 32, description=op[1], tags=op[2]
        )
    if kind == "transition":
        archive = op[3] and op[2] in ("Staging", "Production")
        return registry.transition_model_version_stage(NAME, op[1], op[2], archive)
    if kind == "alias":
        return registry.set_registered_model_alias(NAME, op[1], op[2])
    if kind == "describe":
        return registry.update_model_version(NAME, op[1], op[2])
    return registry.delete_model_version(NAME, op[1])


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operations, min_size=1, max_size=14))
def test_flat_and_full_paths_agree(monkeypatch: pytest.MonkeyPatch, ops: list[Any]) -> None:
    spy = Spy(monkeypatch)
    with tempfile.TemporaryDirectory() as tmp:
        roots = [Path(tmp) / "flat", Path(tmp) / "full"]
        registries = []
        for root in roots:
            init_registry(root)
            registry = Registry(root, clock=_clock())
            for k in range(3):
                registry.create_model_version(NAME, f"s3://seed/{k}", description=f"v{k}")
            registries.append(registry)
        for k, op in enumerate(ops):
            flat_result = _outcome(lambda op=op, k=k: _apply(registries[0], op, k))
            with full_path_only(monkeypatch):
                full_result = _outcome(lambda op=op, k=k: _apply(registries[1], op, k))
            assert flat_result == full_result, op
            assert _state(roots[0]) == _state(roots[1]), op
    if any(op[0] == "register" for op in ops):
        assert spy.taken, "the flat path was never taken: this test compares nothing"


@pytest.fixture
def long_model(registry: Registry) -> Registry:
    for k in range(40):
        registry.create_model_version(NAME, f"s3://m/{k}")
    return registry


def test_a_write_rewrites_only_what_it_changes(
    long_model: Registry, registry_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    long_model.transition_model_version_stage(NAME, 7, "Staging")
    long_model.set_registered_model_alias(NAME, "champion", 7)
    long_model.create_model_version(NAME, "s3://m/new")
    assert spy.taken == 3
    for commit in ("HEAD~2", "HEAD~1", "HEAD"):
        diff = git(registry_repo, "show", "--format=", "--unified=0", commit)
        lines = diff.splitlines()
        changed = [x for x in lines if x[:1] in "+-" and x[:3] not in ("+++", "---")]
        assert 1 <= len(changed) <= 9, diff  # the entry, updated_at, next_version, aliases
    model = long_model.get_registered_model(NAME)
    assert model.aliases == {"champion": 7}
    assert model.versions[6].aliases == ("champion",)
    assert model.versions[6].current_stage.value == "Staging"
    assert model.versions[-1].version == 41


def test_set_alias_writes_the_same_commit_without_reading_the_versions(
    long_model: Registry, registry_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Registry.set_alias`` (``gitreg alias`` without --json) commits the bytes
    ``set_registered_model_alias`` commits, and parses no version for an answer: a cold
    process on a 5,000-version model spent two thirds of the command on that parse."""
    at = 1_763_000_000_000
    timed = long_model.acting_as(None, clock=lambda: at)
    timed.set_registered_model_alias(NAME, "champion", 7)
    answered = (registry_repo / "models" / f"{NAME}.yaml").read_bytes()
    git(registry_repo, "reset", "-q", "--hard", "HEAD~1")

    def parsed(*args: Any) -> None:
        raise AssertionError("the whole manifest was parsed for an answer")

    monkeypatch.setattr(flat, "_MODELS", {})  # what a fresh process remembers
    monkeypatch.setattr(flat, "parse_model", parsed)
    timed = long_model.acting_as(None, clock=lambda: at)
    assert timed.set_alias(NAME, "champion", 7) is None
    assert timed.last_commit is not None
    assert (registry_repo / "models" / f"{NAME}.yaml").read_bytes() == answered
    assert git(registry_repo, "status", "--porcelain") == ""
    assert timed.set_alias(NAME, "champion", 7) is None
    assert timed.last_commit is None  # already there: no commit, as MLflow's no-op
    monkeypatch.undo()
    assert long_model.get_model_version_by_alias(NAME, "champion").version == 7


def test_an_alias_set_after_a_register_and_a_transition_answers_without_a_parse(
    long_model: Registry, registry_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common sequence of a training job, register then ``@champion``, answered with
    the whole model as a fresh read gives it, without parsing every version again: on a
    5,000-version model that parse made each such alias cost half a second (#26)."""
    spy = Spy(monkeypatch)
    long_model.set_registered_model_alias(NAME, "b", 3)  # the process parses once
    new = long_model.create_model_version(NAME, "s3://m/new", description="fresh: one")
    long_model.transition_model_version_stage(NAME, 5, "Staging")
    long_model.transition_model_version_stage(NAME, 3, "Staging")  # it keeps its @b
    long_model.transition_model_version_stage(NAME, new.version, "Staging", True)

    def parsed(*args: Any) -> None:
        raise AssertionError("the whole manifest was parsed again for an answer")

    monkeypatch.setattr(flat, "parse_model", parsed)
    unchanged = long_model.set_registered_model_alias(NAME, "b", 3)  # no commit: as it is
    assert repr(unchanged) == repr(Registry(registry_repo).get_registered_model(NAME))
    answered = long_model.set_registered_model_alias(NAME, "champion", new.version)
    monkeypatch.undo()
    assert spy.taken == 7  # every write took the flat path
    fresh = Registry(registry_repo).get_registered_model(NAME)
    assert repr(answered) == repr(fresh)
    assert answered.versions[-1].aliases == ("champion",)
    assert answered.versions[-1].description == "fresh: one"
    assert answered.get_version(5).current_stage.value == "Archived"  # type: ignore[union-attr]
    assert answered.get_version(3).aliases == ("b",)  # type: ignore[union-attr]
    assert answered.get_version(3).current_stage.value == "Archived"  # type: ignore[union-attr]


def test_models_written_in_turn_keep_their_answers(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four models, each registered then aliased in turn (one job per model): every
    alias still answers from memory, as a model's new answer takes its old one's place."""
    names = ["churn", "fraud", "ranker", "scorer"]  # as many as a process remembers
    for name in names:
        for k in range(3):
            registry.create_model_version(name, f"s3://m/{name}/{k}")
        registry.set_registered_model_alias(name, "b", 1)  # each parsed once
    registry.set_registered_model_alias(names[0], "b", 1)  # no change: the first used last

    def parsed(*args: Any) -> None:
        raise AssertionError("a model written a moment ago was parsed again")

    monkeypatch.setattr(flat, "parse_model", parsed)
    for _ in range(2):
        for name in names:
            new = registry.create_model_version(name, f"s3://m/{name}/new")
            answered = registry.set_registered_model_alias(name, "champion", new.version)
            assert answered.get_version(new.version).aliases == ("champion",)  # type: ignore[union-attr]
    monkeypatch.undo()
    assert repr(answered) == repr(Registry(registry.store.root).get_registered_model("scorer"))


def test_a_remembered_model_keeps_its_newest_time_when_the_clock_went_back(
    registry: Registry, registry_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model's last update is its newest time, header or version, as a parse of the
    manifest gives it: a write stamped before a version (a clock set back) keeps the
    version's."""
    first, later, earlier = 1_600_000_000_000, 1_800_000_000_000, 1_700_000_000_000
    registry.acting_as(None, clock=lambda: first).create_model_version(NAME, "s3://m/1")
    registry.acting_as(None, clock=lambda: later).transition_model_version_stage(NAME, 1, "Staging")
    registry.set_registered_model_alias(NAME, "b", 1)  # parsed once
    back = registry.acting_as(None, clock=lambda: earlier)
    back.create_model_version(NAME, "s3://m/2")

    def parsed(*args: Any) -> None:
        raise AssertionError("the whole manifest was parsed again for an answer")

    monkeypatch.setattr(flat, "parse_model", parsed)
    unchanged = back.set_registered_model_alias(NAME, "b", 1)
    monkeypatch.undo()
    assert unchanged.last_updated_timestamp == later
    assert repr(unchanged) == repr(Registry(registry_repo).get_registered_model(NAME))


def test_the_model_used_last_is_remembered_longest(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An alias that changes nothing still counts as a use: a fifth model's write then
    forgets the model used longest ago, not the one just answered."""
    names = ["a", "b", "c", "d", "e"]
    for name in names:
        registry.create_model_version(name, f"s3://m/{name}")
    monkeypatch.setattr(flat, "_MODELS", {})  # what a fresh process remembers
    for name in names[:4]:
        registry.set_registered_model_alias(name, "x", 1)  # each parsed once
    registry.set_registered_model_alias("a", "x", 1)  # nothing changes: "a" used last
    registry.set_registered_model_alias("e", "x", 1)  # parsed: "b" is forgotten

    def parsed(*args: Any) -> None:
        raise AssertionError("the model used last was parsed again")

    monkeypatch.setattr(flat, "parse_model", parsed)
    for name in ("a", "c", "d", "e"):
        assert registry.set_registered_model_alias(name, "x", 1).aliases == {"x": 1}


def test_production_refusal_and_archiving_say_the_same(
    long_model: Registry, registry_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    long_model.transition_model_version_stage(NAME, 3, "Production")
    with pytest.raises(GitregError, match="churn version 3 is already in Production; pass"):
        long_model.transition_model_version_stage(NAME, 5, "Production")
    moved = long_model.transition_model_version_stage(NAME, 5, "Production", True)
    assert moved.current_stage.value == "Production"
    message = git(registry_repo, "log", "-1", "--format=%B")
    assert message.startswith("Transition churn version 5: None -> Production")
    assert "Archived version(s) 3" in message
    assert spy.taken == 2


def test_a_manifest_gitreg_did_not_write_is_checked_in_full(
    long_model: Registry, registry_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hand-edited manifest (two versions in Production) is not trusted: the write is
    refused with the full check's finding, and the repository is left as it was."""
    path = registry_repo / "models" / f"{NAME}.yaml"
    text = path.read_text()
    for number in (2, 4):
        entry = f"  - version: {number}\n    source: s3://m/{number - 1}\n    stage: "
        text = text.replace(entry + "None", entry + "Production", 1)
    edited = text
    assert edited.count("stage: Production") == 2
    path.write_text(edited)
    git(registry_repo, "commit", "-qam", "hand edit")
    before = git(registry_repo, "rev-parse", "HEAD")
    spy = Spy(monkeypatch)
    with pytest.raises(
        InvalidManifest, match=r"version 4 is in Production, but version 2 already is"
    ):
        long_model.create_model_version(NAME, "s3://m/after-edit")
    assert spy.taken == 0
    assert git(registry_repo, "rev-parse", "HEAD") == before
    assert git(registry_repo, "status", "--porcelain") == ""


def test_records_from_other_checks_are_not_trusted(
    long_model: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A written record vouches only under the checks it was made with."""
    assert cache.WRITTEN_CHECKS == validate.CHECKS_VERSION, (
        "the checks changed: set cache.WRITTEN_CHECKS to validate.CHECKS_VERSION"
    )
    spy = Spy(monkeypatch)
    monkeypatch.setattr(validate, "CHECKS_VERSION", cache.WRITTEN_CHECKS + 1)
    long_model.create_model_version(NAME, "s3://m/other-checks")
    assert spy.taken == 0
    monkeypatch.undo()
    spy = Spy(monkeypatch)
    monkeypatch.setattr(cache, "WRITTEN_CHECKS", cache.WRITTEN_CHECKS + 1)
    long_model.create_model_version(NAME, "s3://m/other-records")
    assert spy.taken == 0


def test_git_reads_the_flat_write(long_model: Registry, registry_repo: Path) -> None:
    long_model.transition_model_version_stage(NAME, 2, "Staging")
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=registry_repo, capture_output=True)
    assert fsck.returncode == 0, fsck.stderr
    committed = git(registry_repo, "show", f"HEAD:models/{NAME}.yaml")
    assert committed == (registry_repo / "models" / f"{NAME}.yaml").read_text()
    assert git(registry_repo, "status", "--porcelain") == ""


HEADER = "schema_version: 1\nname: m\nnext_version: 4\ncreated_at: '2023-01-01T00:00:00Z'\n"


def test_sparse_finds_entries_by_their_text() -> None:
    """Entries in any key order are found by stage; one not starting ``- version`` is not
    found by number (the caller then takes the full path, never a wrong entry)."""
    text = HEADER + (
        "versions:\n  - stage: Production\n    version: 1\n    source: a\n"
        "  - version: 2\n    source: b\n    stage: Staging\n"
        "  - version: 3\n    source: '- version: 1'\n    stage: None\n"
    )
    doc = Sparse.read(text)
    assert doc is not None
    assert doc.header["next_version"] == 4
    assert doc.in_stage("Production") == [1]
    assert doc.in_stage("Staging") == [2]
    assert doc.span(1) is None  # its entry starts with stage: not found this way
    found = doc.entry(3)
    assert found is not None
    assert found[0]["source"] == "- version: 1"


@pytest.mark.parametrize(
    "text",
    [
        HEADER + "versions:\n  - version: 1\n    source: a\ntags:\n  k: v\n",  # a key after
        "versions:\n  - version: 1\n    source: a\n" + HEADER,  # versions first
        HEADER + "versions:\n  - version: 1\n    description: |-\n      a\n\n      b\n",
        HEADER + "versions: []\n",
    ],
)
def test_sparse_declines_other_shapes(text: str) -> None:
    assert Sparse.read(text) is None


def test_the_policy_refuses_a_flat_transition_in_the_same_words(
    long_model: Registry, registry_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The policy that judges a move (its requirements, with #28's signatures and #29's
    card) is read as the full path reads it: the refusal is the same, word for word."""
    config = registry_repo / "gitreg.yaml"
    required = "requirements:\n    Production:\n      tags: {validation: passed}\n"
    config.write_text(config.read_text().replace("requirements: {}\n", required))
    git(registry_repo, "commit", "-qam", "policy: Production needs validation")
    refusals = []
    for flat_path in (True, False):
        with contextlib.ExitStack() as stack:
            if not flat_path:
                stack.enter_context(full_path_only(monkeypatch))
            with pytest.raises(GitregError) as caught:
                long_model.transition_model_version_stage(NAME, 3, "Production")
            refusals.append(caught.value.message)
    assert refusals[0] == refusals[1]
    assert "churn version 3 cannot enter Production" in refusals[0]
    long_model.set_tags(NAME, {"validation": "passed"}, 3)
    spy = Spy(monkeypatch)
    assert long_model.transition_model_version_stage(NAME, 3, "Production").version == 3
    assert spy.taken == 1


def test_a_flat_transition_reads_the_model_card_the_policy_asks_for(
    long_model: Registry, registry_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A policy that wants card sections for Production (#29) is judged against the card at
    the tip on the flat path too: with every section there, the move is let through."""
    config = registry_repo / "gitreg.yaml"
    required = "requirements:\n    Production:\n      card: [intended_use, limitations]\n"
    config.write_text(config.read_text().replace("requirements: {}\n", required))
    (registry_repo / "models" / f"{NAME}.md").write_text(
        "---\nintended_use: Rank accounts by churn risk.\n---\n# Churn\n\n"
        "## Limitations\n\nEU accounts only.\n"
    )
    git(registry_repo, "add", "-A")
    git(registry_repo, "commit", "-qm", "policy: Production needs a card; churn's card")
    spy = Spy(monkeypatch)
    assert long_model.transition_model_version_stage(NAME, 3, "Production").version == 3
    assert spy.taken == 1


STAGE_MOVES = st.lists(
    st.tuples(st.integers(1, 12), st.sampled_from(STAGES), st.booleans()), max_size=15
)


@settings(max_examples=60, deadline=None)
@given(moves=STAGE_MOVES)
def test_a_rendered_doc_knows_its_stages_as_a_search_finds_them(
    moves: list[tuple[int, str, bool]],
) -> None:
    """``rendered`` hands ``in_stage``'s answers on, changed where its entries changed:
    after any sequence of moves and appends they are what a new search of the text finds."""
    entries = [{"version": k, "source": f"s3://m/{k}", "stage": STAGES[k % 4]} for k in range(1, 9)]
    data = {
        "schema_version": 1,
        "name": NAME,
        "next_version": 9,
        "created_at": "x",
        "versions": entries,
    }
    doc = Sparse.read(manifest.dump(data))
    assert doc is not None
    for number, stage, append in moves:
        for known in STAGES[:2]:  # some answers are known, others searched later
            doc.in_stage(known)
        header = dict(doc.header)
        if append:
            new = header["next_version"]
            header["next_version"] = new + 1
            rendered = doc.rendered(
                header, {}, [{"version": new, "source": "s3://n", "stage": stage}]
            )
        else:
            found = doc.entry(number)
            if found is None:
                continue
            entry, begin, end = found
            rendered = doc.rendered(header, {number: ({**entry, "stage": stage}, begin, end)}, [])
        assert rendered is not None
        fresh = Sparse.read(rendered.text)
        assert fresh is not None
        for each in STAGES:
            assert rendered.in_stage(each) == fresh.in_stage(each)
        doc = rendered
