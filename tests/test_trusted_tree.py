"""Trusted trees (#26): a first write to a manifest patches it flat when this clone judged
the whole ``models/`` tree valid itself (a whole-registry read that served every manifest,
or a write of its own from such a tree), and checks it in full otherwise.

Real git repositories throughout: what another clone, a manual commit or a hand edit makes
is made with git itself, and a bare repository stands in for the shared remote.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import InvalidManifest
from gitreg.store import _repo, cache, trusted
from tests._helpers import git
from tests.test_flat import Spy

MODELS = ("alpha", "beta", "gamma", "delta")


def _forget_records(root: Path) -> None:
    """What a clone that never wrote these manifests has: no ``written/`` records, no
    trusted trees (a fresh clone, or records pruned)."""
    state = root / ".git" / "gitreg"
    shutil.rmtree(state / "written", ignore_errors=True)
    (state / "trusted-trees").unlink(missing_ok=True)


def _models_tree(root: Path) -> str:
    return git(root, "rev-parse", "HEAD:models").strip()


def _trusted(root: Path) -> bool:
    return trusted.holds(root / ".git" / "gitreg", _models_tree(root))


@pytest.fixture
def four(registry_repo: Path) -> Path:
    """Four models of three versions each, written by gitreg, then the records forgotten."""
    registry = Registry(registry_repo)
    for name in MODELS:
        for k in range(3):
            registry.create_model_version(name, f"s3://{name}/{k}")
    _forget_records(registry_repo)
    return registry_repo


def test_a_first_write_is_checked_in_full_without_a_record(
    four: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    Registry(four).create_model_version("alpha", "s3://alpha/new")
    assert spy.taken == 0
    assert not _trusted(four)


def test_a_whole_read_trusts_the_tree_and_its_writes_chain_it(
    four: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a read that served every manifest, a first write to each model is flat, and
    each write's own tree is trusted in turn (a transition and an alias included)."""
    registry = Registry(four)
    assert len(registry.search_registered_models()) == len(MODELS)
    assert _trusted(four)
    spy = Spy(monkeypatch)
    registry.create_model_version("alpha", "s3://alpha/new")
    assert spy.taken == 1
    assert _trusted(four)
    Registry(four).transition_model_version_stage("beta", 2, "Staging")  # another process
    assert spy.taken == 2
    assert _trusted(four)
    registry.set_registered_model_alias("gamma", "champion", 3)
    assert spy.taken == 3
    assert _trusted(four)
    fsck = git(four, "fsck", "--strict")
    assert "error" not in fsck
    assert git(four, "status", "--porcelain") == ""


def test_a_flat_first_write_gives_the_full_paths_bytes(
    four: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same write on two copies, one trusted (flat) and one not (full): same manifest."""
    other = tmp_path / "copy"
    shutil.copytree(four, other, symlinks=True)
    Registry(four).search_registered_models()
    spy = Spy(monkeypatch)
    taken = []
    for root in (four, other):
        registry = Registry(root, clock=lambda: 1_763_000_000_000)
        registry.transition_model_version_stage("delta", 3, "Production")
        taken.append(spy.taken)
        registry.set_registered_model_alias("delta", "champion", 1)
    # the trusted copy's transition and alias were flat, the other's transition was not;
    # its alias patched the blob its transition wrote
    assert taken == [1, 2]
    assert spy.taken == 3
    assert (four / "models" / "delta.yaml").read_bytes() == (
        other / "models" / "delta.yaml"
    ).read_bytes()
    assert git(four, "rev-parse", "HEAD:models") == git(other, "rev-parse", "HEAD:models")


def test_a_manual_commit_makes_an_untrusted_tree(
    four: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit made with git (here: a valid edit of another model) is another tree: the
    next write to an unchanged model is checked in full, and trusts nothing after it."""
    registry = Registry(four)
    registry.search_registered_models()
    path = four / "models" / "beta.yaml"
    path.write_text(path.read_text().replace("s3://beta/0", "s3://beta/zero"))
    git(four, "commit", "-qam", "hand edit")
    spy = Spy(monkeypatch)
    registry.create_model_version("alpha", "s3://alpha/new")
    assert spy.taken == 0
    assert not _trusted(four)
    registry.create_model_version("gamma", "s3://gamma/new")
    assert spy.taken == 0


def test_an_invalid_manifest_committed_by_hand_is_refused_in_full(
    four: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two versions in Production committed with git after the clone trusted its tree:
    the write to that model is refused with the full check's finding, nothing changes."""
    registry = Registry(four)
    registry.search_registered_models()
    path = four / "models" / "beta.yaml"
    text = path.read_text()
    for number in (1, 2):
        entry = f"  - version: {number}\n    source: s3://beta/{number - 1}\n    stage: "
        text = text.replace(entry + "None", entry + "Production", 1)
    assert text.count("stage: Production") == 2
    path.write_text(text)
    git(four, "commit", "-qam", "two in Production")
    before = git(four, "rev-parse", "HEAD").strip()
    spy = Spy(monkeypatch)
    with pytest.raises(InvalidManifest, match=r"version 2 is in Production"):
        registry.create_model_version("beta", "s3://beta/after")
    assert spy.taken == 0
    assert git(four, "rev-parse", "HEAD").strip() == before
    assert git(four, "status", "--porcelain") == ""


def test_a_read_that_refuses_a_manifest_trusts_nothing(four: Path) -> None:
    """A whole read that refused one model vouches for no tree, so no write is flat."""
    path = four / "models" / "gamma.yaml"
    path.write_text(path.read_text().replace("next_version: 4", "next_version: 2"))
    git(four, "commit", "-qam", "bad counter")
    reading = Registry(four).store.read_registry()
    assert [r.path for r in reading.refused] == ["models/gamma.yaml"]
    assert not _trusted(four)


def test_a_work_tree_read_vouches_only_for_what_is_committed(four: Path) -> None:
    """An invalid manifest committed and fixed in the work tree only: the read serves the
    fixed file, but the committed tree holds the invalid blob, so it is not trusted."""
    path = four / "models" / "gamma.yaml"
    good = path.read_text()
    path.write_text(good.replace("next_version: 4", "next_version: 2"))
    git(four, "commit", "-qam", "bad counter")
    path.write_text(good)
    reading = Registry(four).store.read_registry()
    assert not reading.refused
    assert not _trusted(four)
    git(four, "checkout", "--", "models/gamma.yaml")
    Registry(four).store.read_registry(at="HEAD~1")  # an earlier commit's tree: trusted
    assert trusted.holds(four / ".git" / "gitreg", git(four, "rev-parse", "HEAD~1:models").strip())
    assert not _trusted(four)


def test_a_write_on_a_pulled_tip_is_checked_in_full(
    clone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another clone pushed a change: this clone's next write builds on the remote's tip,
    a tree it never judged, and checks the manifest in full."""
    mine = Registry(clone)
    mine.create_model_version("other", "s3://other/1")
    _forget_records(clone)
    mine.search_registered_models()
    assert _trusted(clone)
    theirs = tmp_path / "theirs"
    git(tmp_path, "clone", "-q", str(clone / ".." / "remote.git"), str(theirs))
    Registry(theirs).create_model_version("churn", "s3://churn/theirs")
    spy = Spy(monkeypatch)
    mine.create_model_version("other", "s3://other/2")
    assert spy.taken == 0
    assert mine.get_model_version("churn", 2).source == "s3://churn/theirs"  # built on it


def test_records_of_another_release_are_not_trusted(four: Path) -> None:
    state = four / ".git" / "gitreg"
    Registry(four).search_registered_models()
    tree = _models_tree(four)
    record = state / "trusted-trees"
    assert record.read_bytes() == cache.stamp() + b"\n" + tree.encode() + b"\n"
    record.write_bytes(b"0.0.1:1\n" + tree.encode() + b"\n")
    assert not trusted.holds(state, tree)
    trusted.remember(state, tree)  # written again under this release
    assert trusted.holds(state, tree)
    assert record.read_bytes() == cache.stamp() + b"\n" + tree.encode() + b"\n"


def test_a_torn_line_vouches_for_nothing(four: Path) -> None:
    """A write killed while appending leaves part of a line: neither that tree nor the
    one appended after it on the same line is trusted."""
    state = four / ".git" / "gitreg"
    Registry(four).search_registered_models()
    tree = _models_tree(four)
    record = state / "trusted-trees"
    record.write_bytes(cache.stamp() + b"\n" + tree.encode()[:20])
    assert not trusted.holds(state, tree)
    trusted.remember(state, tree)
    assert not trusted.holds(state, tree)
    trusted.remember(state, tree)  # a whole line now
    assert trusted.holds(state, tree)


def test_the_record_is_compacted_to_the_newest(tmp_path: Path) -> None:
    state = tmp_path / "state"
    trees = [f"{k:040x}" for k in range(trusted.MOST + 10)]
    for tree in trees:
        trusted.remember(state, tree)
    assert trusted.holds(state, trees[-1])
    assert not trusted.holds(state, trees[0])
    lines = (state / "trusted-trees").read_bytes().splitlines()
    assert lines[0] == cache.stamp()
    assert len(lines) - 1 <= trusted.MOST + 1
    assert [line.decode() for line in lines[1:]] == trees[-(len(lines) - 1) :]


def test_no_tree_is_trusted_outside_a_plain_repository(
    four: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where gitreg writes through git's commands (``Repo.fast`` off), nothing is trusted."""
    registry = Registry(four)
    registry.search_registered_models()
    repo = _repo.open_repo(four)
    tip = git(four, "rev-parse", "HEAD").strip()
    assert trusted.models_tree(repo, tip) == _models_tree(four)
    repo.fast = False
    assert trusted.models_tree(repo, tip) is None
