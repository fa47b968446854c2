"""Artifact digests on real files (#28): model-signing's digest, register, verify, events.

Every artifact here is a real file or directory in a temporary directory; model-signing
itself (the ``model_signing`` package) computes the digest gitreg must agree with.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.digest import Listing
from gitreg.integrations.artifacts import read_artifact
from tests._helpers import Cli, git, snapshot
from tests._servers import Answer, serving


def model_signing_digest(path: Path) -> tuple[str, list[dict[str, str]]]:
    """model-signing's own root digest for ``path`` and its resources (name, digest)."""
    from google.protobuf import json_format
    from model_signing import hashing
    from model_signing._signing import signing

    payload = signing.Payload(hashing.hash(path))
    statement = json.loads(json_format.MessageToJson(payload.statement.pb))
    resources = [
        {"name": r["name"], "digest": r["digest"]} for r in statement["predicate"]["resources"]
    ]
    return statement["subject"][0]["digest"]["sha256"], resources


def make_model(root: Path) -> Path:
    """A model directory whose file names sort differently by string and by path component,
    with git files model-signing ignores, an empty file and one larger than a read chunk."""
    (root / "a").mkdir(parents=True)
    (root / "a" / "b").write_bytes(b"weights of a/b")
    (root / "a-c").write_bytes(b"sorts after a/b in model-signing's order")
    (root / "empty.txt").write_bytes(b"")
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_bytes(b"ref: refs/heads/main\n")
    (root / ".gitignore").write_bytes(b"*.tmp\n")
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "nested" / "deeper" / "x.json").write_bytes(b'{"x": 1}')
    return root


def test_directory_digest_is_model_signings(tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")
    root, resources = model_signing_digest(model)
    listing = read_artifact(str(model)).listing
    assert listing.digest == f"sha256:{root}"
    assert [{"name": f.path, "digest": f.sha256} for f in listing.files] == resources
    assert ".gitignore" not in [f.path for f in listing.files]
    # The statement gitreg keeps is the one model-signing signs, and reads back the same.
    assert Listing.from_statement(listing.to_statement("model")).digest == listing.digest


def test_single_file_digest_is_its_sha256_and_model_signings_resource(tmp_path: Path) -> None:
    weights = tmp_path / "model.pkl"
    weights.write_bytes(os.urandom(2 * 1024 * 1024 + 5))
    _root, resources = model_signing_digest(weights)
    listing = read_artifact(weights.as_uri()).listing
    assert listing.digest == "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()
    assert resources == [{"name": ".", "digest": listing.digest.removeprefix("sha256:")}]


def test_register_records_the_digest_and_keeps_the_listing(
    cli: Cli, registry_repo: Path, tmp_path: Path
) -> None:
    model = make_model(tmp_path / "model")
    result = cli.ok("register", "churn", str(model))
    root, _ = model_signing_digest(model)
    assert f"digest: sha256:{root}" in result.stderr
    assert "hashing" not in result.stderr  # the progress bar is for a terminal only
    mv = Registry(registry_repo).get_model_version("churn", 1)
    assert mv.digest == f"sha256:{root}"
    kept = json.loads((registry_repo / "artifacts/churn/1.json").read_text())
    assert kept["subject"][0]["digest"]["sha256"] == root
    assert "digest: sha256:" in git(registry_repo, "log", "-1", "--format=%B")
    assert git(registry_repo, "status", "--porcelain") == ""
    shown = json.loads(cli.ok("show", "churn", "1", "--json").stdout)
    assert shown["model_version"]["digest"] == f"sha256:{root}"


def test_verify_passes_then_names_the_file_then_fails_cleanly(cli: Cli, tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")
    cli.ok("register", "churn", str(model))
    cli.ok("transition", "churn", "1", "Production")
    cli.ok("alias", "churn", "champion", "1")
    for uri in ("models:/churn@champion", "models:/churn/Production", "models:/churn/1"):
        assert "verified" in cli.ok("verify", uri).stdout

    data = bytearray((model / "a" / "b").read_bytes())
    data[0] ^= 1  # one byte
    (model / "a" / "b").write_bytes(bytes(data))
    changed = cli.fails(1, "verify", "models:/churn@champion")
    assert "a/b changed" in changed.stdout
    as_json = json.loads(cli.fails(1, "verify", "models:/churn/1", "--json").stdout)
    assert as_json["verification"]["status"] == "changed"
    assert as_json["verification"]["differences"] == [{"path": "a/b", "change": "changed"}]

    (model / "a" / "b").write_bytes(b"weights of a/b")
    (model / "extra.bin").write_bytes(b"slipped in")
    (model / "empty.txt").unlink()
    out = cli.fails(1, "verify", "models:/churn/1").stdout
    assert "empty.txt disappeared" in out
    assert "extra.bin appeared" in out

    model.rename(tmp_path / "gone")
    gone = cli.fails(2, "verify", "models:/churn/Production")
    assert "no such file or directory" in gone.stdout
    assert "Traceback" not in gone.stderr


def test_a_given_digest_that_does_not_match_is_refused(
    cli: Cli, registry_repo: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"the real bytes")
    before = snapshot(registry_repo)
    wrong = "sha256:" + "0" * 64
    result = cli.fails(1, "register", "churn", str(weights), "--digest", wrong)
    assert "is not the artifact's" in result.stderr
    assert wrong in result.stderr
    assert snapshot(registry_repo) == before
    right = "sha256:" + hashlib.sha256(b"the real bytes").hexdigest()
    cli.ok("register", "churn", str(weights), "--digest", right.upper().replace("SHA256", "sha256"))
    assert Registry(registry_repo).get_model_version("churn", 1).digest == right


def test_a_digest_that_is_not_one_is_a_clear_error(cli: Cli, registry_repo: Path) -> None:
    before = snapshot(registry_repo)
    result = cli.fails(1, "register", "churn", "gs://b/m", "--digest", "md5:abc")
    assert "is not a digest" in result.stderr
    assert "sha256:" in result.stderr
    assert snapshot(registry_repo) == before


def test_an_unreadable_source_keeps_the_given_digest_or_says_there_is_none(
    cli: Cli, registry_repo: Path
) -> None:
    given = "sha256:" + "ab" * 32
    first = cli.ok("register", "churn", "gs://bucket/churn/1", "--digest", given)
    assert "cannot read the artifact" in first.stderr
    assert "gs://" in first.stderr
    second = cli.ok("register", "churn", "gs://bucket/churn/2")
    assert "none recorded" in second.stderr
    registry = Registry(registry_repo)
    assert registry.get_model_version("churn", 1).digest == given
    assert registry.get_model_version("churn", 2).digest is None
    assert not (registry_repo / "artifacts").exists()  # no listing: nothing was read
    assert "no digest is recorded" in cli.fails(1, "verify", "models:/churn/2").stdout
    unreadable = cli.fails(2, "verify", "models:/churn/1")
    assert "cannot verify" in unreadable.stdout


def test_the_policy_can_require_a_digest_at_registration(
    cli: Cli, registry_repo: Path, tmp_path: Path
) -> None:
    config = registry_repo / "gitreg.yaml"
    config.write_text(
        config.read_text().replace("requirements: {}", "requirements:\n    None: {digest: true}")
    )
    git(registry_repo, "commit", "-qam", "Require digests")
    before = snapshot(registry_repo)
    refused = cli.fails(1, "register", "churn", "gs://bucket/churn/1")
    assert "policy.requirements.None" in refused.stderr
    assert "gs://" in refused.stderr
    assert snapshot(registry_repo) == before
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"bytes")
    cli.ok("register", "churn", str(weights))


def test_links_and_special_files_are_not_followed(cli: Cli, tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")
    (model / "link").symlink_to(tmp_path / "elsewhere")
    result = cli.ok("register", "churn", str(model))
    assert "symbolic link" in result.stderr
    assert "none recorded" in result.stderr
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "neither a regular file" in cli.ok("register", "churn", str(fifo)).stderr


def test_progress_is_told_every_byte(registry: Registry, tmp_path: Path) -> None:
    model = make_model(tmp_path / "model")

    class Recorder:
        def __init__(self) -> None:
            self.total: int | None = None
            self.done = 0

        def start(self, total: int | None) -> None:
            self.total = total

        def advance(self, done: int) -> None:
            self.done += done

    seen = Recorder()
    registry.create_model_version("churn", str(model), progress=seen)
    expected = sum(
        f.stat().st_size for f in model.rglob("*") if f.is_file() and ".git" not in f.parts
    )
    expected -= (model / ".gitignore").stat().st_size
    assert seen.total == seen.done == expected


def test_verify_all_notifies_artifact_changed_once_per_digest(
    cli: Cli, registry_repo: Path, tmp_path: Path
) -> None:
    one, two = tmp_path / "one.bin", tmp_path / "two.bin"
    one.write_bytes(b"one")
    two.write_bytes(b"two")
    cli.ok("register", "churn", str(one))
    cli.ok("register", "fraud", str(two))
    cli.ok("register", "fraud", "gs://unread/3")
    cli.ok("transition", "churn", "1", "Production")
    cli.ok("alias", "fraud", "champion", "1")
    cli.ok("register", "churn", str(two))  # version 2: in no protected place, not verified
    assert "2 verified" in cli.ok("verify", "--all").stderr

    # The receiver stands in for the team's webhook endpoint.
    with serving(Answer(200)) as receiver:
        config = registry_repo / "gitreg.yaml"
        hook = (
            f"notifications:\n  allow:\n    hosts: [127.0.0.1]\n  webhooks:\n"
            f"    - name: ops\n      url: {receiver.url}\n      events: [ARTIFACT_CHANGED]\n"
        )
        config.write_text(config.read_text() + hook)
        git(registry_repo, "commit", "-qam", "Hook")
        two.write_bytes(b"tampered")
        result = cli.fails(1, "verify", "--all", "--notify")
        assert "fraud version 1: ARTIFACT CHANGED" in result.stdout
        assert "1 delivered" in result.stderr
        cli.fails(1, "verify", "--all", "--notify")
    seen = [r.json() for r in receiver.requests]
    assert [e["event"] for e in seen] == ["ARTIFACT_CHANGED", "ARTIFACT_CHANGED"]
    assert seen[0]["id"] == seen[1]["id"]  # the same version and bytes: the same event
    assert seen[0]["name"] == "fraud"
    assert seen[0]["version"] == "1"
    assert seen[0]["observed_digest"] == "sha256:" + hashlib.sha256(b"tampered").hexdigest()
    two.write_bytes(b"tampered again")
    events = Registry(registry_repo).artifact_events(Registry(registry_repo).verify_all())
    assert events[0].id != seen[0]["id"]


def test_history_and_events_carry_the_digest(cli: Cli, registry_repo: Path, tmp_path: Path) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    digest = "sha256:" + hashlib.sha256(b"w").hexdigest()
    cli.ok("register", "churn", str(weights))
    events = json.loads(cli.ok("events", "--since", "0", "--json").stdout)
    created = [e for e in events["events"] if e["event"] == "MODEL_VERSION_CREATED"]
    assert created[0]["digest"] == digest
    history = json.loads(cli.ok("history", "churn", "--json").stdout)
    assert any(e.get("digest") == digest for h in history["history"] for e in h["events"])
    assert digest[:19] in cli.ok("history", "churn").stdout


@pytest.mark.parametrize("bad", ["../x", "a//b", "/abs", "a/./b", "ok/\x01"])
def test_a_listing_never_names_an_unclean_path(bad: str) -> None:
    from gitreg.core.digest import FileDigest
    from gitreg.core.errors import InvalidParameter

    with pytest.raises(InvalidParameter):
        Listing.of([FileDigest(bad, "0" * 64)])


@pytest.mark.skipif(os.name == "nt", reason="a pseudo-terminal is POSIX; Windows has no pty")
def test_a_terminal_sees_a_progress_bar_on_stderr(registry_repo: Path, tmp_path: Path) -> None:
    import pty
    import subprocess
    import sys

    model = make_model(tmp_path / "model")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gitreg",
            "register",
            "churn",
            str(model),
            "--repo",
            str(registry_repo),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,  # not a terminal: the bar goes to stderr only
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    stdout = proc.communicate(timeout=60)[0].decode()
    terminal = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, terminal
    assert "hashing" in terminal
    assert "100%" in terminal
    assert "hashing" not in stdout
    assert Registry(registry_repo).get_model_version("churn", 1).digest in terminal


def test_verify_all_as_json_for_a_scheduled_job(cli: Cli, tmp_path: Path) -> None:
    one = tmp_path / "one.bin"
    one.write_bytes(b"one")
    cli.ok("register", "churn", str(one))
    cli.ok("register", "churn", "gs://unread/2")
    cli.ok("transition", "churn", "1", "Production")
    cli.ok("alias", "churn", "champion", "2")
    ok = json.loads(cli.fails(1, "verify", "--all", "--json").stdout)
    by_version = {v["version"]: v for v in ok["verifications"]}
    assert by_version["1"]["status"] == "verified"
    assert by_version["2"]["status"] == "no-digest"  # an alias with nothing to check: said
    assert ok["exit_code"] == 1
    cli.ok("alias", "churn", "champion", "1")
    one.unlink()
    gone = json.loads(cli.fails(2, "verify", "--all", "--json").stdout)
    assert [v["status"] for v in gone["verifications"]] == ["unreadable"]
    assert gone["exit_code"] == 2


@pytest.mark.parametrize(
    "written", ["sha256:" + "AB" * 32, "md5:0123", "sha256:" + "a" * 63, "[1, 2]", "true"]
)
def test_a_hand_written_digest_that_is_not_one_is_refused_by_validate(
    cli: Cli, registry_repo: Path, tmp_path: Path, written: str
) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    cli.ok("register", "churn", str(weights))
    manifest = registry_repo / "models" / "churn.yaml"
    digest = "sha256:" + hashlib.sha256(b"w").hexdigest()
    manifest.write_text(manifest.read_text().replace(digest, written))
    result = cli.fails(1, "validate")
    assert "models/churn.yaml:" in result.stdout
    assert "versions.0.digest" in result.stdout
