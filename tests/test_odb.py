"""The write path's in-process git (#15) agrees with git itself, on real repositories.

Commits built without a temporary index must be what git would build (fsck-clean, the
same trees), and the in-process readers of refs, the index, ancestry and tree differences
must answer as ``rev-parse``, ``ls-files -s``, ``merge-base`` and ``diff-tree`` do, or
decline so that git is asked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitreg.store import _commit, _git, _index, _repo
from gitreg.store._odb import Tree
from tests._helpers import git, head


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "models").mkdir()
    for name in ("a.yaml", "b b.yaml", "c.yaml"):
        (root / "models" / name).write_text(f"{name}\n")
    (root / "top.txt").write_text("top\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    return root


def commit_with(root: Path, changes: dict[str, bytes | None], message: str = "m") -> str:
    repo = _repo.open_repo(root)
    blobs = {p: None if d is None else _commit.write_blob(repo, d) for p, d in changes.items()}
    commit = _commit.commit_tree(repo, head(root), blobs, message)
    assert _repo.update_ref(repo, "refs/heads/main", commit, head(root), "test")
    return commit


def index_built_tree(root: Path, parent: str, changes: dict[str, bytes | None]) -> str:
    """The tree git builds for the same change through a temporary index."""
    env_index = root / ".git" / "check-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(env_index)}
    import subprocess

    subprocess.run(["git", "read-tree", parent], cwd=root, env=env, check=True)
    for path, data in changes.items():
        if data is None:
            subprocess.run(["git", "rm", "-q", "--cached", "--", path], cwd=root, env=env)
            continue
        oid = (
            subprocess.run(
                ["git", "hash-object", "-w", "--stdin"], cwd=root, input=data, capture_output=True
            )
            .stdout.decode()
            .strip()
        )
        subprocess.run(
            ["git", "update-index", "--add", "--cacheinfo", f"100644,{oid},{path}"],
            cwd=root,
            env=env,
            check=True,
        )
    out = subprocess.run(["git", "write-tree"], cwd=root, env=env, capture_output=True, text=True)
    env_index.unlink()
    return out.stdout.strip()


CHANGES = [
    {"models/b b.yaml": b"changed\n"},
    {"models/new.yaml": b"new\n"},
    {"models/0first.yaml": b"sorts first\n", "models/zz.yaml": b"last\n"},
    {"models/a.yaml": None},
    {"top.txt": None, "models/a.yaml": b"x\n"},
    {"deep/er/file.txt": b"nested\n"},
    {"models/a.yaml": None, "models/b b.yaml": None, "models/c.yaml": None},
    {"models.txt": b"sorts before the models/ tree\n", "models-x/y": b"after it\n"},
    {"top/inner.txt": b"a new tree sorts as 'top/', after the file top.txt\n"},
]


@pytest.mark.parametrize("changes", CHANGES)
def test_a_commit_built_in_process_has_the_tree_git_builds(repo, changes):
    parent = head(repo)
    commit = commit_with(repo, changes)
    tree = git(repo, "rev-parse", f"{commit}^{{tree}}").strip()
    assert tree == index_built_tree(repo, parent, changes)
    assert git(repo, "rev-parse", f"{commit}^").strip() == parent
    git(repo, "fsck", "--strict", "--no-dangling")


@pytest.mark.parametrize("changes", CHANGES)
def test_a_commit_left_to_git_has_the_tree_git_builds(repo, changes):
    """Another commit encoding sends the commit through git's index: the same tree."""
    git(repo, "config", "i18n.commitEncoding", "ISO-8859-1")
    parent = head(repo)
    commit = commit_with(repo, changes, "Register a version 2")
    tree = git(repo, "rev-parse", f"{commit}^{{tree}}").strip()
    assert tree == index_built_tree(repo, parent, changes)
    assert git(repo, "rev-parse", f"{commit}^").strip() == parent
    assert "\nencoding ISO-8859-1\n" in git(repo, "cat-file", "commit", commit), "not git's"
    assert git(repo, "log", "-1", "--format=%B", commit).strip() == "Register a version 2"
    git(repo, "fsck", "--strict", "--no-dangling")


def test_the_commit_is_the_one_commit_tree_writes(repo, monkeypatch):
    commit = commit_with(repo, {"models/a.yaml": b"v2\n"}, "Register a version 2\n\nsource: s3")
    raw = git(repo, "cat-file", "commit", commit)
    # Re-create it with git from the same parts and date: the same object id.
    date = raw.split("\ncommitter ")[1].split("\n")[0].rsplit(" ", 2)
    env = {"GIT_AUTHOR_DATE": f"{date[1]} {date[2]}", "GIT_COMMITTER_DATE": f"{date[1]} {date[2]}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    tree = git(repo, "rev-parse", f"{commit}^{{tree}}").strip()
    import subprocess

    again = (
        subprocess.run(
            ["git", "commit-tree", tree, "-p", f"{commit}^"],
            cwd=repo,
            input=b"Register a version 2\n\nsource: s3",
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    assert again == commit


def test_refs_are_read_as_git_reads_them(repo):
    rp = _repo.open_repo(repo)
    assert _repo.rev_parse(rp, "refs/heads/main") == head(repo)
    git(repo, "branch", "packed")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "packed").exists()
    assert _repo.rev_parse(rp, "refs/heads/packed") == head(repo)
    assert _repo.rev_parse(rp, "refs/heads/absent") is None
    assert _repo.current_branch(rp) == "main"
    git(repo, "checkout", "-q", "--detach")
    assert _repo.current_branch(rp) is None


def test_the_staged_blob_is_read_as_ls_files_shows_it(repo):
    (repo / "models" / "c.yaml").write_text("staged\n")
    git(repo, "add", "models/c.yaml")
    for path in ("models/a.yaml", "models/b b.yaml", "models/c.yaml", "top.txt"):
        expected = git(repo, "ls-files", "-s", "--", path).split()[1]
        assert _index.staged_blob(repo / ".git" / "index", path) == expected
    assert _index.staged_blob(repo / ".git" / "index", "models/absent.yaml") is None
    assert _index.staged_blob(repo / ".git" / "index", "a.yaml") is None  # a suffix only


def test_an_index_this_reader_does_not_know_is_left_to_git(repo):
    git(repo, "update-index", "--index-version", "4")
    with pytest.raises(_index.Unsure):
        _index.staged_blob(repo / ".git" / "index", "models/a.yaml")
    rp = _repo.open_repo(repo)
    assert _repo.index_blob(rp, "models/a.yaml") == git(repo, "rev-parse", ":models/a.yaml").strip()


def test_ancestry_and_tree_changes_agree_with_git(repo):
    rp = _repo.open_repo(repo)
    first = head(repo)
    middle = commit_with(repo, {"models/a.yaml": b"2\n", "deep/x": b"x\n"})
    last = commit_with(repo, {"models/b b.yaml": None, "deep/x": None, "models/n.yaml": b"n\n"})
    assert _repo.ancestor_in(rp, first, last) is True
    assert _repo.ancestor_in(rp, last, first) is False
    assert _repo.ancestor_in(rp, first, last, limit=1) is None
    for old, new in ((first, last), (middle, last), (last, first), (None, last)):
        changes = _repo.tree_changes(rp, old, new)
        assert changes is not None
        assert sorted(changes) == sorted(_git.changed_paths(repo, old, new))
        for path, oid in changes.items():
            if oid is not None:
                assert oid == git(repo, "rev-parse", f"{new}:{path}").strip()


def test_a_tree_entry_is_replaced_without_moving_the_others():
    raw = b"".join(
        b"100644 %s\0%s" % (name, bytes([n]) * 20) for n, name in enumerate([b"a", b"b", b"c"], 1)
    )
    tree = Tree(raw)
    changed = tree.with_entry(b"b", b"100644", "ff" * 20)
    assert changed.entry(b"b") == (b"100644", "ff" * 20)
    assert changed.entry(b"a") == tree.entry(b"a")
    assert changed.with_entry(b"b", None, None).spans.keys() == {b"a", b"c"}


def test_tree_changes_name_a_path_that_is_not_utf8_as_git_does(repo):
    first = head(repo)
    with open(os.fsencode(repo / "models") + b"/caf\xe9.yaml", "w") as f:
        f.write("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a file name in Latin-1")
    changes = _repo.tree_changes(_repo.open_repo(repo), first, head(repo))
    assert changes is not None
    assert list(changes) == _git.changed_paths(repo, first, head(repo))
    assert list(changes) == [os.fsdecode(b"models/caf\xe9.yaml")]


def test_the_author_name_git_would_reformat_is_the_one_git_records(repo, monkeypatch):
    """A trailing '.' is dropped by git ("crud"); created_by must say what the commit says."""
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Alice Example Jr.")
    rp = _repo.open_repo(repo)
    assert _commit.identity(rp) == "Alice Example Jr"
    commit = commit_with(repo, {"models/a.yaml": b"by Alice\n"})
    assert git(repo, "log", "-1", "--format=%an", commit).strip() == "Alice Example Jr"


def test_a_reader_whose_git_died_starts_it_again(repo):
    """cat-file killed (or git upgraded under a long-lived process): the next read still answers."""
    rp = _repo.open_repo(repo)
    spec = f"{head(repo)}:models/a.yaml"
    assert rp.reader.read(spec) is not None
    proc = rp.reader._proc
    assert proc is not None
    proc.kill()
    proc.wait()
    found = rp.reader.read(spec)
    assert found is not None
    assert found[1:] == ("blob", b"a.yaml\n")


def test_with_a_fixed_commit_date_git_itself_reads_and_builds(repo, monkeypatch):
    """GIT_*_DATE (reproducible builds) is honoured: refs and the commit are left to git."""
    date = "2026-01-02T03:04:05+00:00"
    monkeypatch.setenv("GIT_AUTHOR_DATE", date)
    monkeypatch.setenv("GIT_COMMITTER_DATE", date)
    rp = _repo.open_repo(repo)
    assert not rp.fast
    parent = head(repo)
    assert _repo.current_branch(rp) == "main"
    assert _repo.rev_parse(rp, "refs/heads/main") == parent
    changes = {"models/a.yaml": b"v2\n", "models/b b.yaml": None}
    commit = commit_with(repo, changes, "Dated")
    assert git(repo, "rev-parse", f"{commit}^{{tree}}").strip() == index_built_tree(
        repo, parent, changes
    )
    assert git(repo, "log", "-1", "--format=%cI%n%B", commit).split("\n")[:2] == [date, "Dated"]
    assert git(repo, "show", f"{commit}:models/a.yaml") == "v2\n"
    assert _repo.rev_parse(rp, "refs/heads/main") == commit


def test_the_identity_follows_gits_order_of_environment_and_config(repo, monkeypatch):
    """GIT_AUTHOR_NAME beats user.name; user.email beats $EMAIL: what ``git var`` says."""
    git(repo, "config", "user.name", "Config Name")
    git(repo, "config", "user.email", "config@example.com")
    monkeypatch.delenv("GIT_AUTHOR_EMAIL")
    monkeypatch.delenv("GIT_COMMITTER_EMAIL")
    monkeypatch.setenv("EMAIL", "from-env@example.com")
    commit = commit_with(repo, {"models/a.yaml": b"who?\n"})
    expected = git(repo, "var", "GIT_AUTHOR_IDENT").rsplit(" ", 2)[0]
    assert expected == "Alice Example <config@example.com>"
    assert git(repo, "log", "-1", "--format=%an <%ae>", commit).strip() == expected
    assert git(repo, "log", "-1", "--format=%cn <%ce>", commit).strip() == expected
