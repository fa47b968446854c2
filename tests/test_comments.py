"""Comments on model versions (#29): Databricks' API names, refs/gitreg/comments, COMMENT_CREATED.

Real clones of a bare repository standing in for GitHub; concurrent commenters are real
processes; the webhook receiver is a real HTTP server on 127.0.0.1 standing in for a team's
chat bot. A comment never touches the branch, never opens a request, and is never lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import InvalidParameter, VersionNotFound
from gitreg.services.collaboration import CommentNotFound, NotYourComment
from gitreg.store.comments import COMMENTS_REF
from tests._helpers import Cli, git
from tests._servers import serving


def clone(tmp_path: Path, remote: Path, name: str) -> Path:
    work = tmp_path / name
    git(tmp_path, "clone", "-q", str(remote), str(work))
    return work


def remote_comments(remote: Path) -> list[str]:
    """The comment files on the remote's comments ref (none when it has no such ref)."""
    if not git(remote, "for-each-ref", COMMENTS_REF).strip():
        return []
    out = git(remote, "ls-tree", "-r", "--name-only", COMMENTS_REF)
    return sorted(out.split())


@pytest.fixture
def shared(tmp_path: Path, bare_remote: Path) -> tuple[Path, Path, Path]:
    """Two clones of a registry whose churn has version 1 in Production (a protected fact)."""
    alice = clone(tmp_path, bare_remote, "alice")
    Registry(alice).create_model_version("churn", "s3://churn/1")
    manifest = alice / "models" / "churn.yaml"
    manifest.write_text(manifest.read_text().replace("stage: None", "stage: Production"))
    git(alice, "commit", "-qam", "churn 1 to Production (merged by review)")
    git(alice, "push", "-q", "origin", "main")
    bob = clone(tmp_path, bare_remote, "bob")
    return alice, bob, bare_remote


def test_create_list_update_delete_with_databricks_names_and_fields(shared, monkeypatch):
    alice, _bob, remote = shared
    reg = Registry(alice)
    branch_before = git(remote, "rev-parse", "main")
    made = reg.create_comment("churn", 1, "Latency doubled on the EU shard")
    data = made.comment.to_dict()
    assert set(data) >= {
        "id",
        "comment",
        "user_id",
        "creation_timestamp",
        "last_updated_timestamp",
        "available_actions",
    }
    assert data["user_id"] == "Alice Example"  # git's identity
    assert data["available_actions"] == ["EDIT_COMMENT", "DELETE_COMMENT"]
    assert len(data["id"]) == 32
    assert made.pushed
    assert git(remote, "rev-parse", "main") == branch_before  # the branch never moves
    assert git(remote, "for-each-ref", "refs/heads/gitreg") == ""  # and no request opens
    edited = reg.update_comment(made.comment.id, "Fixed by the cache warm-up")
    assert edited.comment.comment == "Fixed by the cache warm-up"
    assert edited.comment.creation_timestamp == made.comment.creation_timestamp
    listed = reg.list_comments("churn", 1)
    assert [c.comment for c in listed] == ["Fixed by the cache warm-up"]
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Mallory")
    with pytest.raises(NotYourComment, match="Only Alice Example can delete"):
        reg.delete_comment(made.comment.id)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Alice Example")
    gone = reg.delete_comment(made.comment.id)
    assert gone.id == made.comment.id
    assert reg.list_comments("churn", 1) == []
    assert remote_comments(remote) == []
    log = git(remote, "log", "--format=%s", COMMENTS_REF).splitlines()
    assert log == [
        f"Delete comment {made.comment.id} on churn",
        f"Edit comment {made.comment.id} on churn",
        "Comment on churn version 1",
    ]  # the history keeps every edit
    with pytest.raises(CommentNotFound):
        reg.update_comment(made.comment.id, "again")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda r: r.create_comment("churn", 9, "x"), VersionNotFound),
        (lambda r: r.create_comment("churn", 1, " \u200b "), InvalidParameter),
        (lambda r: r.create_comment("churn", 1, "x" * 65536), InvalidParameter),
        (lambda r: r.update_comment("--upload-pack=evil", "x"), InvalidParameter),
        (lambda r: r.delete_comment("../../../etc/passwd"), InvalidParameter),
    ],
)
def test_bad_comments_are_refused_before_anything_is_written(shared, call, error):
    alice, _bob, remote = shared
    with pytest.raises(error):
        call(Registry(alice))
    assert git(alice, "for-each-ref", COMMENTS_REF) == ""
    assert git(remote, "for-each-ref", COMMENTS_REF) == ""


def test_a_comment_from_another_clone_is_seen_after_a_fetch(shared):
    alice, bob, _remote = shared
    Registry(alice).create_comment("churn", 1, "from alice")
    assert [c.comment for c in Registry(bob).list_comments("churn", 1)] == ["from alice"]
    assert Registry(bob).list_comments("churn", 1, fetch=False) != []  # fetched into bob


def test_concurrent_commenters_on_two_clones_lose_nothing(shared):
    alice, bob, remote = shared
    script = (
        "import sys\n"
        "from gitreg import Registry\n"
        "reg = Registry(sys.argv[1])\n"
        "for i in range(5):\n"
        "    reg.create_comment('churn', 1, f'{sys.argv[2]} {i}', notify=False)\n"
    )
    env = dict(os.environ)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(work), who], env=env)
        for work, who in ((alice, "alice"), (bob, "bob"))
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    texts = sorted(c.comment for c in Registry(alice).list_comments("churn", 1))
    assert texts == sorted(f"{who} {i}" for who in ("alice", "bob") for i in range(5))
    assert len(remote_comments(remote)) == 10


def test_comments_made_offline_are_carried_over_on_the_next_write(shared):
    alice, bob, remote = shared
    Registry(alice, push=False).create_comment("churn", 1, "written on a train")
    assert remote_comments(remote) == []
    Registry(bob).create_comment("churn", 1, "from the office")
    Registry(alice).create_comment("churn", 1, "back online")
    texts = {c.comment for c in Registry(bob).list_comments("churn", 1)}
    assert texts == {"written on a train", "from the office", "back online"}
    assert len(remote_comments(remote)) == 3


def test_comment_created_is_delivered_to_the_subscriptions(shared):
    """The receiver stands in for a team's chat bot subscribed to COMMENT_CREATED."""
    alice, _bob, _remote = shared
    with serving() as receiver:
        config = alice / "gitreg.yaml"
        config.write_text(
            config.read_text()
            + "notifications:\n  allow:\n    hosts: [127.0.0.1]\n  webhooks:\n"
            + f"    - name: bot\n      url: {receiver.url}/hook\n"
            + "      events: [COMMENT_CREATED]\n"
        )
        git(alice, "commit", "-qam", "Subscribe the bot to comments")
        made = Registry(alice).create_comment("churn", 1, "Ship it")
        Registry(alice).update_comment(made.comment.id, "Ship it (edited)")  # not a creation
    assert made.delivery is not None
    assert made.delivery.delivered == 1
    bodies = [seen.json() for seen in receiver.requests]
    assert len(bodies) == 1
    assert bodies[0]["event"] == "COMMENT_CREATED"
    assert (bodies[0]["name"], bodies[0]["version"]) == ("churn", "1")
    assert bodies[0]["comment"] == "Ship it"
    assert bodies[0]["comment_id"] == made.comment.id
    assert bodies[0]["author"] == "Alice Example"


def test_hostile_files_on_the_comments_ref_are_ignored_and_named(shared):
    alice, _bob, _remote = shared
    reg = Registry(alice, push=False)
    good = reg.create_comment("churn", 1, "fine", notify=False).comment
    stolen = good.to_file().replace("version: 1", "version: 2")
    hostile = {
        f"churn/1/{'a' * 32}.yaml": stolen,  # says another version than its place
        f"churn/1/{'b' * 32}.yaml": "comment: [1, 2]\n",
        "churn/1/notes.txt": "hello",
        f"churn/1/{'c' * 32}.yaml": "a: &a [1]\nb: !!python/object/apply:os.system [id]\n",
    }
    _write_tree(alice, hostile)
    found = reg.read_comments()
    assert [c.id for c in found.comments] == [good.id]
    assert len(found.problems) == 4
    result = Cli(alice).ok("comments", "models:/churn/1", "--no-fetch")
    assert result.stderr.count("Note:") == 4
    assert good.id in result.stdout


def _write_tree(root: Path, extra: dict[str, str]) -> None:
    """Commit ``extra`` files onto the comments ref by hand, as a hostile pusher could."""
    index = root / ".git" / "hostile-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    subprocess.run(["git", "read-tree", COMMENTS_REF], cwd=root, env=env, check=True)
    for path, text in extra.items():
        oid = (
            subprocess.run(
                ["git", "hash-object", "-w", "--stdin"],
                cwd=root,
                input=text.encode(),
                capture_output=True,
                check=True,
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
    tree = (
        subprocess.run(["git", "write-tree"], cwd=root, env=env, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )
    parent = git(root, "rev-parse", COMMENTS_REF).strip()
    commit = git(root, "commit-tree", tree, "-p", parent, "-m", "hostile").strip()
    git(root, "update-ref", COMMENTS_REF, commit)


def test_cli_comment_and_comments(shared):
    alice, _bob, _remote = shared
    cli = Cli(alice)
    made = cli.ok("comment", "models:/churn/1", "Looks good").stdout.strip()
    assert len(made) == 32
    cli.ok("comment", "models:/churn/Production", "--file", "-", input="From stdin\n")
    listed = json.loads(cli.ok("comments", "models:/churn/1", "--json").stdout)["comments"]
    assert [c["comment"] for c in listed] == ["Looks good", "From stdin\n"]
    cli.ok("comment", "models:/churn/1", "--edit", made, "Looks great")
    text = cli.ok("comments", "models:/churn/1").stdout
    assert "Alice Example (edited)" in text
    assert "    Looks great" in text
    cli.ok("comment", "models:/churn/1", "--delete", made)
    cli.fails(1, "comment", "models:/churn/7", "x")  # no such version
    cli.fails(2, "comment", "models:/churn/1")  # no text
    cli.fails(1, "comment", "models:/churn/1", "--delete", "nothex")
    cli.fails(2, "comments", "not-a-uri")
