"""History and events on long and odd histories (#23): the same as diffing whole manifests.

``history``, ``events`` and the catalog read a manifest's states commit by commit, each
built from the one before it block by block (``store.walk``, ``core.states``). Real
repositories with the cases that stress that: a block that moves, a version deleted in the
middle, a manifest rewritten in another layout and back mid-history, a broken commit, a
rename followed by ``--follow``; each compared with an oracle that parses every blob whole
and diffs whole models (what history did before). And a long history parses each version
block once, not once per commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core import blocks, manifest
from gitreg.core.entities import RegisteredModel
from gitreg.core.events import diff, primary
from gitreg.core.states import UNREADABLE
from gitreg.store import blobs
from gitreg.store.gitlog import parse_log
from tests._helpers import Cli, git, head

ZERO = "0" * 40


def _model(repo: Path, oid: str) -> RegisteredModel | None:
    if oid == ZERO:
        return None
    raw = git(repo, "cat-file", "blob", oid).encode()
    try:
        return RegisteredModel.from_manifest(manifest.load_mapping(raw, "m"))
    except UNREADABLE:
        return None


def oracle_history(repo: Path, path: str) -> list[list[str]]:
    """What ``history`` shows, computed the slow way: every blob parsed and diffed whole."""
    out = subprocess_log(repo, ["--follow", "HEAD", "--", path])
    entries = []
    for commit in out:
        change = commit.changes[-1]
        old, new = _model(repo, change.old_blob), _model(repo, change.new_blob)
        if (change.old_blob != ZERO and old is None) or (change.new_blob != ZERO and new is None):
            continue
        entries.append([e.describe() for e in primary(diff(old, new))])
    return entries


def subprocess_log(repo: Path, args: list[str]):
    raw = git(
        repo, "log", "--first-parent", "--raw", "--no-abbrev", "-z", "-M",
        "--format=%x1e%H%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%s%x00%b%x00",
        *args,
    )  # fmt: skip
    return [c for c in parse_log(raw.encode()) if c.changes]


def _history(repo: Path, name: str) -> list[list[str]]:
    return [
        [e.describe() for e in entry.events] for entry in Registry(repo).get_model_history(name)
    ]


def _edit(repo: Path, old: str, new: str, message: str, path: str = "models/churn.yaml") -> None:
    file = repo / path
    text = file.read_text()
    assert old in text, f"{old!r} is not in {path}"
    file.write_text(text.replace(old, new, 1))
    git(repo, "commit", "-qam", message)


@pytest.fixture
def odd_history(registry_repo: Path) -> Path:
    """One model through every kind of edit the block reader must get right."""
    registry = Registry(registry_repo)
    for n in range(1, 7):
        registry.create_model_version("churn", f"s3://m/{n}")
    registry.transition_model_version_stage("churn", 2, "Staging")
    path = registry_repo / "models" / "churn.yaml"
    data = manifest.load_mapping(path.read_bytes(), "m")
    versions = data["versions"]
    versions[1], versions[4] = versions[4], versions[1]  # two blocks trade places...
    versions[1]["stage"] = "Archived"  # ...and one of them changes as it moves
    path.write_text(manifest.dump(data))
    git(registry_repo, "commit", "-qam", "Move blocks by hand")
    versions.sort(key=lambda v: v["version"])
    path.write_text(manifest.dump(data))
    git(registry_repo, "commit", "-qam", "Sort them back")
    registry.delete_model_version("churn", 3)  # a version deleted in the middle
    registry.set_registered_model_alias("churn", "champion", 4)
    data = manifest.load_mapping(path.read_bytes(), "m")
    data["versions"][0]["stage"] = "Staging"
    path.write_text(json.dumps(data, indent=1))  # another layout, and a change with it
    git(registry_repo, "commit", "-qam", "Rewrite as JSON, version 1 to Staging")
    registry.transition_model_version_stage("churn", 4, "Staging")  # written back as gitreg does
    _edit(registry_repo, "\n  - version: 5", "\n  # the fifth\n  - version: 5", "A comment")
    _edit(registry_repo, "versions:\n", "versions: [\n", "Break it by hand")
    _edit(registry_repo, "versions: [\n", "versions:\n", "Fix it by hand")
    registry.create_model_version("churn", "s3://m/7")
    registry.rename_registered_model("churn", "churn-predictor")
    registry.transition_model_version_stage("churn-predictor", 7, "Staging")
    registry.create_model_version("churn-predictor", "s3://m/8")
    return registry_repo


def test_history_of_odd_edits_is_the_whole_diff_of_each_commit(odd_history):
    expected = oracle_history(odd_history, "models/churn-predictor.yaml")
    assert _history(odd_history, "churn-predictor") == expected
    flat = [line for entry in expected for line in entry]
    assert "version 5: None -> Archived" in flat  # the block that moved and changed
    assert "version 3 deleted" in flat
    assert "version 1: None -> Staging" in flat  # in the commit that rewrote the layout
    assert "renamed churn -> churn-predictor" in flat
    assert flat[-1] == "version 1 registered (s3://m/1)"


def test_events_of_odd_edits_are_the_whole_diff_of_each_commit(odd_history):
    start = git(odd_history, "rev-list", "--max-parents=0", "HEAD").strip()
    got = [(e.commit, e.event) for e in Registry(odd_history).list_events(start)]
    expected = []
    for commit in reversed(subprocess_log(odd_history, [f"{start}..HEAD", "--", "models/"])):
        for change in sorted(commit.changes, key=lambda ch: (ch.new_path, ch.old_path)):
            old = _model(odd_history, change.old_blob) if change.status != "A" else None
            new = _model(odd_history, change.new_blob) if change.status != "D" else None
            if (change.status != "A" and old is None) or (change.status != "D" and new is None):
                continue
            expected += [(commit.commit, event) for event in diff(old, new)]
    assert got == expected


def test_cli_history_stage_and_events_follow_the_rename(odd_history):
    cli = Cli(odd_history)
    staging = json.loads(
        cli.ok("history", "churn-predictor", "--stage", "Staging", "--json").stdout
    )
    held = [(i["version"], i["end"] is None) for i in staging["intervals"]]
    assert held == [(2, True), (1, True), (4, True), (7, True)]  # 7 since the rename
    events = json.loads(cli.ok("events", "--since", ZERO, "--json").stdout)["events"]
    assert events[-1]["event"] == "MODEL_VERSION_CREATED"
    assert events[-1]["name"] == "churn-predictor"


def test_a_long_history_parses_each_version_block_once(registry_repo, monkeypatch):
    """40 registrations: 40 blocks parsed (plus headers), not 40 x 20 whole versions."""
    registry = Registry(registry_repo)
    for n in range(1, 41):
        registry.create_model_version("churn", f"s3://m/{n}")
    parsed: list[bytes] = []
    real = blocks._load_block

    def counting(block: bytes, path: str):
        parsed.append(block)
        return real(block, path)

    monkeypatch.setattr(blocks, "_load_block", counting)
    entries = Registry(registry_repo).get_model_history("churn")
    assert len(entries) == 40
    assert len(parsed) == 40
    assert len(set(parsed)) == 40


def test_blobs_stream_in_order_and_name_what_is_missing(tmp_path):
    git(tmp_path, "init", "-q")
    ids: list[str] = []
    for text in ("one\n", "two\n"):
        (tmp_path / "f").write_text(text)
        ids.append(git(tmp_path, "hash-object", "-w", "f").strip())
    git(tmp_path, "add", "f")
    git(tmp_path, "commit", "-qm", "c")
    tree = git(tmp_path, "rev-parse", "HEAD^{tree}").strip()
    wanted = [ids[1], "f" * 40, ids[0], tree, ids[1]]
    assert list(blobs.stream(tmp_path, wanted)) == [b"two\n", None, b"one\n", None, b"two\n"]
    partial = blobs.stream(tmp_path, wanted * 200)
    assert next(partial) == b"two\n"
    partial.close()  # stopping early stops git, without an error or a hang
    reader = blobs.BlobReader(tmp_path)
    assert reader.get(ids[0]) == b"one\n"
    assert reader.get(tree) is None
    assert reader.get(ZERO) is None
    reader.close()
    assert head(tmp_path)
