"""Group commit's hand-over (#26): writers that find the clone locked hand their write to the
holder as data; the holder commits each as its caller's own and pushes them with its own.

The bare repository stands in for GitHub; every writer is a real ``gitreg`` process. The
tests make the hand-over deterministic: the holder is stopped at its ``locked`` point
(``GITREG_TEST_PAUSE_AT``, with the clone's real lock held) until every other writer has
spooled its request, then let go, and, for the crash tests, killed (SIGKILL) at a point
where it holds the others' requests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitreg import Registry
from gitreg.core import errors as core_errors
from gitreg.core.entities import ModelVersion, RegisteredModel, Stage
from gitreg.core.errors import GitregError, InvalidManifest, InvalidParameter, VersionNotFound
from gitreg.store import spool
from gitreg.store import spool_codec as codec
from tests._helpers import git, head, status, wait_for

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = "import sys; from gitreg.cli import main; sys.exit(main(sys.argv[1:]))"


def spool_dir(clone: Path) -> Path:
    return clone / ".git" / "gitreg" / spool.SPOOL


def waiting(clone: Path) -> list[Path]:
    return sorted(spool_dir(clone).glob("*.req")) if spool_dir(clone).exists() else []


def gitreg(
    clone: Path, *args: str, who: str = "Holder", env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """A ``gitreg`` process writing as ``who`` (author and committer)."""
    email = f"{who.lower().replace(' ', '-')}@example.com"
    full = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "GIT_AUTHOR_NAME": who,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": f"{who} (committer)",
        "GIT_COMMITTER_EMAIL": email,
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *args, "--repo", str(clone)],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def paused_holder(clone: Path, tmp_path: Path, crash: str | None = None) -> subprocess.Popen[str]:
    """A writer holding the clone's lock, stopped until ``tmp_path/go`` exists."""
    env = {"GITREG_TEST_PAUSE_AT": f"locked:{tmp_path}"}
    if crash is not None:
        env["GITREG_TEST_CRASH_AT"] = crash
    holder = gitreg(clone, "register", "churn", "s3://holder", env=env)
    wait_for((tmp_path / "paused").exists, "the holder to take the clone")
    return holder


def remote_versions(remote: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(git(remote, "show", "main:models/churn.yaml"))
    return list(data["versions"])


def test_handed_over_writes_keep_their_own_commit_identity_result_and_error(
    clone, bare_remote, tmp_path
):
    holder = paused_holder(clone, tmp_path)
    callers = {
        f"Writer {i}": gitreg(clone, "register", "churn", f"s3://w{i}", who=f"Writer {i}")
        for i in range(4)
    }
    # A request whose mutation raises fails its caller alone: version 99 does not exist.
    bad = gitreg(clone, "transition", "churn", "99", "Archived", who="Bad")
    alias = gitreg(clone, "alias", "churn", "candidate", "1", who="Aliaser")
    # A protected alias: the holder declines it (a review is its caller's to request), and
    # its caller proposes it on a branch exactly as it would have alone.
    protected = gitreg(clone, "alias", "churn", "champion", "1", who="Proposer")
    wait_for(lambda: len(waiting(clone)) == 7, "seven handed-over requests")
    (tmp_path / "go").write_text("")

    _out, held_err = holder.communicate(timeout=120)
    assert holder.returncode == 0, held_err
    results = {who: proc.communicate(timeout=120) for who, proc in callers.items()}
    assert all(proc.returncode == 0 for proc in callers.values()), results
    numbers = {who: int(out.strip()) for who, (out, _err) in results.items()}
    assert sorted(numbers.values()) == [3, 4, 5, 6], f"numbers reused or skipped: {numbers}"
    _out, err = bad.communicate(timeout=120)
    assert bad.returncode == 1, err
    assert "version=99" in err
    assert "Traceback" not in err
    _out, alias_err = alias.communicate(timeout=120)
    assert alias.returncode == 0, alias_err
    proposed, err = protected.communicate(timeout=120)
    assert protected.returncode == 0, err
    assert proposed.strip() == "gitreg/churn/at-champion-v1"
    assert "gitreg/churn/at-champion-v1" in git(bare_remote, "branch", "--list", "gitreg/*")

    versions = {v["version"]: v for v in remote_versions(bare_remote)}
    for who, number in numbers.items():
        # Each caller's own result: the version that holds its source, created by it.
        assert versions[number]["source"] == f"s3://w{who[-1]}"
        assert versions[number]["created_by"] == who
    log = git(bare_remote, "log", "-6", "--format=%an|%cn|%s", "main").splitlines()
    for who, number in numbers.items():
        assert f"{who}|{who} (committer)|Register churn version {number}" in log
    assert any(
        line.startswith("Aliaser|Aliaser (committer)|Set alias churn@candidate") for line in log
    )
    manifest = yaml.safe_load(git(bare_remote, "show", "main:models/churn.yaml"))
    assert manifest["aliases"] == {"candidate": 1}, "the protected alias moved without review"
    assert head(clone) == git(bare_remote, "rev-parse", "main").strip()
    assert status(clone) == ""
    assert not list(spool_dir(clone).iterdir()), "the spool kept files"


def test_a_malformed_request_fails_only_its_own_answer(clone, bare_remote, tmp_path):
    holder = paused_holder(clone, tmp_path)
    good = gitreg(clone, "register", "churn", "s3://good", who="Good")
    wait_for(lambda: len(waiting(clone)) == 1, "the good request")
    # Requests as a hostile or broken writer could leave them: not JSON, a wrong type, an
    # operation's arguments that the registry refuses, and a link out of the spool.
    hostile = {
        "junk": "{not json",
        "typed": json.dumps({**_request("set_tags"), "now": "soon"}),
        "refused": json.dumps(_request("set_tags", tags={"": "x"})),
    }
    for ident, text in hostile.items():
        (spool_dir(clone) / f"1-{ident}.req").write_text(text)
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(_request("set_tags")))
    (spool_dir(clone) / "1-link.req").symlink_to(secret)
    (tmp_path / "go").write_text("")

    _out, held_err = holder.communicate(timeout=120)
    assert holder.returncode == 0, held_err
    out, err = good.communicate(timeout=120)
    assert good.returncode == 0, err
    assert int(out) == 3
    for ident in (*hostile, "link"):
        answer = json.loads((spool_dir(clone) / f"1-{ident}.out").read_text())
        assert answer["error"]["class"] == "InvalidParameter", (ident, answer)
    tags = yaml.safe_load(git(bare_remote, "show", "main:models/churn.yaml")).get("tags")
    assert not tags, "a refused request was applied"
    assert [v["source"] for v in remote_versions(bare_remote)] == [
        "s3://churn/1",
        "s3://holder",
        "s3://good",
    ]


def _request(op: str, **args: Any) -> dict[str, Any]:
    base = {"name": "churn", "tags": {"team": "x"}, "version": None}
    return spool.request(
        spool.Recipe(op, {**base, **args}),
        "main",
        "origin",
        "Intruder <i@example.com>",
        "Intruder <i@example.com>",
        1,
    )


@pytest.mark.parametrize("point", ["built", "spool-claimed", "spool-answered", "spool-queued"])
def test_a_holder_killed_holding_others_requests_leaves_no_caller_in_silence(
    clone, bare_remote, tmp_path, point
):
    holder = paused_holder(clone, tmp_path, crash=point)
    sources = [f"s3://c{i}" for i in range(3)]
    callers = {s: gitreg(clone, "register", "churn", s, who=f"Caller {s[-1]}") for s in sources}
    wait_for(lambda: len(waiting(clone)) == 3, "three handed-over requests")
    (tmp_path / "go").write_text("")

    holder.communicate(timeout=120)
    assert holder.returncode == -signal.SIGKILL
    results = {s: proc.communicate(timeout=120) for s, proc in callers.items()}
    on_remote = [v["source"] for v in remote_versions(bare_remote)]
    for source, proc in callers.items():
        out, err = results[source]
        if proc.returncode == 0:  # its commit is on the remote, once, with its number
            assert on_remote.count(source) == 1, (point, source, on_remote)
            assert on_remote[int(out) - 1] == source
        else:  # or it says why, in one line, and its write is not there
            assert proc.returncode == 1, (point, source, err)
            assert err.strip()
            assert "Traceback" not in err
            assert source not in on_remote
    # Here every caller gets its write through (the remote is up): nothing lost, nothing twice.
    assert all(proc.returncode == 0 for proc in callers.values()), (point, results)
    assert on_remote.count("s3://holder") <= 1
    numbers = [v["version"] for v in remote_versions(bare_remote)]
    assert numbers == list(range(1, len(numbers) + 1))
    after = gitreg(clone, "register", "churn", "s3://after")
    _out, after_err = after.communicate(timeout=120)
    assert after.returncode == 0, after_err
    assert [v["source"] for v in remote_versions(bare_remote)][-1] == "s3://after"
    assert head(clone) == git(bare_remote, "rev-parse", "main").strip()
    assert status(clone) == ""


def test_a_holder_applies_a_spooled_request_as_its_requester_in_process(clone, bare_remote):
    """The holder's side alone: a request left in the spool is applied by the next write."""
    spool_dir(clone).mkdir(parents=True, exist_ok=True)
    request = spool.request(
        spool.Recipe("transition", {"name": "churn", "version": 1, "stage": "Staging",
                                    "archive": False, "note": "ready"}),
        "main",
        "origin",
        "Ann <ann@example.com>",
        "Ann's CI <ci@example.com>",
        1_700_000_000_000,
    )  # fmt: skip
    (spool_dir(clone) / "7-abc.req").write_text(json.dumps(request))
    import gitreg.services.spooled  # noqa: F401  (the holder knows the operations)

    Registry(clone).create_model_version("churn", "s3://churn/2")
    answer = spool._answer(json.loads((spool_dir(clone) / "7-abc.out").read_text()))
    assert answer.error is None
    assert not answer.declined
    assert isinstance(answer.result, ModelVersion)
    assert answer.result.current_stage is Stage.STAGING
    assert answer.commit == git(bare_remote, "rev-parse", "main").strip()
    line = git(bare_remote, "log", "-1", "--format=%an|%cn|%ce|%s|%b", "main").strip()
    assert line.startswith("Ann|Ann's CI|ci@example.com|")
    assert "ready" in line


# ---------------------------------------------------------------------- the data it carries


def test_results_and_errors_travel_exactly():
    mv = ModelVersion(
        "churn",
        3,
        "s3://x",
        run_id="r1",
        current_stage=Stage.PRODUCTION,
        description="",
        tags={"a": "b"},
        aliases=("champion",),
        metrics={"f1": 0.9, "n": 3},
        creation_timestamp=5,
        last_updated_timestamp=9,
        user_id="ann",
        digest="sha256:" + "0" * 64,
        signature={"inputs": [{"type": "double"}]},
        has_input_example=False,
    )
    model = RegisteredModel("churn", 1, 9, "d", {"t": "v"}, {"champion": 3}, (mv,), 4, "ann")
    for value in (None, mv, model):
        assert codec.decode_result(json.loads(json.dumps(codec.encode_result(value)))) == value
    error = codec.decode_error(codec.encode_error(VersionNotFound("no version 9")))
    assert type(error) is VersionNotFound
    assert error.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert error.message == "no version 9"
    with pytest.raises(codec.SpoolDataError):
        codec.decode_error({"class": "SystemExit", "code": "x", "message": "y"})
    with pytest.raises(codec.SpoolDataError):
        codec.decode_result(
            {"kind": "version", "value": {**codec.encode_version(mv), "version": "3"}}
        )
    with pytest.raises(codec.SpoolDataError):
        codec.identity("Eve <eve@example.com>\nparent 0000")
    assert isinstance(InvalidParameter("x"), GitregError)


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param({"kind": "none", "value": None}, id="none-with-a-value"),
        pytest.param({"kind": "model"}, id="model-without-value"),
        pytest.param({"kind": "version", "value": {}, "extra": 1}, id="version-extra-key"),
        pytest.param(["kind", "none"], id="not-a-mapping"),
        pytest.param({"kind": "shell"}, id="unknown-kind"),
        pytest.param({"kind": "version", "tags": {"k": 1}}, id="tags-not-text"),
        pytest.param({"kind": "version", "tags": {1: "v"}}, id="tag-key-not-text"),
        pytest.param({"kind": "version", "tags": ["k", "v"]}, id="tags-a-list"),
        pytest.param({"kind": "version", "metrics": {"f1": "0.9"}}, id="metric-text"),
        pytest.param({"kind": "version", "metrics": {"f1": True}}, id="metric-bool"),
        pytest.param({"kind": "version", "metrics": {3: 0.9}}, id="metric-key-not-text"),
        pytest.param({"kind": "model", "tags": {"k": None}}, id="model-tag-none"),
    ],
)
def test_a_hostile_answer_or_request_value_is_refused_whole(hostile):
    """What a requester reads back from the spool is data someone could have written: every
    field is checked by type, a map's keys and values both, and nothing extra is allowed."""
    mv = ModelVersion("churn", 3, "s3://x", tags={"a": "b"}, metrics={"f1": 0.9})
    model = RegisteredModel("churn", 1, 9, "d", {"t": "v"}, {}, (mv,), 3, "ann")
    data = hostile
    if isinstance(hostile, dict) and hostile.get("kind") in ("version", "model"):
        extra = {k: v for k, v in hostile.items() if k != "kind"}
        if hostile["kind"] == "version" and set(extra) <= {"tags", "metrics"}:
            data = {"kind": "version", "value": {**codec.encode_version(mv), **extra}}
        elif hostile["kind"] == "model" and set(extra) == {"tags"}:
            data = {"kind": "model", "value": {**codec.encode_model(model), **extra}}
    with pytest.raises(codec.SpoolDataError):
        codec.decode_result(data)


def test_only_plain_gitreg_errors_travel_and_come_back_as_themselves():
    class Local(GitregError):
        """Not one of gitreg's error classes."""

    carried = VersionNotFound("no version 9")
    carried.extra = "a field the class does not have"  # type: ignore[attr-defined]
    assert codec.encode_error(Local("x")) is None  # the requester raises it itself
    assert codec.encode_error(carried) is None
    assert codec.encode_error(InvalidManifest("bad", ())) is None  # its own constructor
    assert codec.encode_error(VersionNotFound("v")) == {
        "class": "VersionNotFound",
        "code": "RESOURCE_DOES_NOT_EXIST",
        "message": "v",
    }
    for hostile in (
        {"class": "InvalidManifest", "code": "x", "message": "y"},  # own constructor
        {"class": "VersionNotFound", "code": 1, "message": "y"},
        {"class": "VersionNotFound", "code": "x", "message": None},
        {"class": "VersionNotFound", "code": "x"},
        {"class": "__builtins__", "code": "x", "message": "y"},
        "VersionNotFound",
    ):
        with pytest.raises(codec.SpoolDataError):
            codec.decode_error(hostile)
    error = codec.decode_error({"class": "InvalidParameter", "code": "CUSTOM", "message": "m"})
    assert (type(error), error.error_code, error.message) == (InvalidParameter, "CUSTOM", "m")
    for hostile in (None, 3, "Eve", "Eve <eve@example.com", "<eve@example.com>"):
        with pytest.raises(codec.SpoolDataError, match="not an identity"):
            codec.identity(hostile)
    assert codec.identity("Eve Doe <eve@example.com>").email == "eve@example.com"


def _applied_by_the_holder(clone: Path, recipe: spool.Recipe) -> spool.Answer:
    """``recipe`` left in the spool as Ann's request, then the holder's own write (version 2
    of churn): the holder's answer to Ann."""
    import gitreg.services.spooled  # noqa: F401  (the holder knows the operations)

    spool_dir(clone).mkdir(parents=True, exist_ok=True)
    request = spool.request(
        recipe,
        "main",
        "origin",
        "Ann <ann@example.com>",
        "Ann <ann@example.com>",
        1_700_000_000_000,
    )
    (spool_dir(clone) / "8-ann.req").write_text(json.dumps(request))
    Registry(clone).create_model_version("churn", "s3://churn/2")
    return spool._answer(json.loads((spool_dir(clone) / "8-ann.out").read_text()))


def remote_model(remote: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(git(remote, "show", "main:models/churn.yaml"))
    return data


def test_every_operation_is_applied_by_the_holder_with_all_its_arguments(clone, bare_remote):
    """Each recipe a writer may hand over, applied by the holder (not declined back to its
    caller) with every argument it carries: the same version, alias and tags the caller's
    own write would have made."""
    from gitreg.services import spooled

    new = ModelVersion(
        "churn",
        0,
        source="s3://churn/ann",
        run_id="run-7",
        tags={"team": "risk"},
        run_link="https://ci.example.com/run/7",
        description="Ann's model",
        metrics={"auc": 0.91},
        digest="sha256:" + "a" * 64,
        creation_timestamp=1_700_000_000_123,
        signature={"inputs": [{"type": "double"}]},
        has_input_example=True,
        storage_location="s3://store/ann",
    )
    answer = _applied_by_the_holder(clone, spooled.register(new, create_model=False))
    assert answer.error is None, answer
    assert not answer.declined
    assert isinstance(answer.result, ModelVersion)
    assert answer.result.version == 3
    assert answer.commit == git(bare_remote, "rev-parse", "main").strip()
    made = {v["version"]: v for v in remote_model(bare_remote)["versions"]}[3]
    assert made["source"] == "s3://churn/ann"
    assert made["run_id"] == "run-7"
    assert made["tags"] == {"team": "risk"}
    assert made["run_link"] == "https://ci.example.com/run/7"
    assert made["description"] == "Ann's model"
    assert made["metrics"] == {"auc": 0.91}
    assert made["digest"] == "sha256:" + "a" * 64
    assert made["created_at"] == "2023-11-14T22:13:20.123Z"  # its own time, not the holder's
    assert made["created_by"] == "Ann"
    assert made["signature"] == {"inputs": [{"type": "double"}]}
    assert made["storage_location"] == "s3://store/ann"
    assert answer.result.signature == {"inputs": [{"type": "double"}]}
    assert answer.result.has_input_example is True


@pytest.mark.parametrize(
    ("make", "check"),
    [
        (
            lambda s: s.set_alias("churn", "candidate", 1, True),
            lambda model: model["aliases"] == {"candidate": 1},
        ),
        (
            lambda s: s.set_tags("churn", {"owner": "ann"}, None),
            lambda model: model["tags"] == {"owner": "ann"},
        ),
        (
            lambda s: s.set_tags("churn", {"owner": "ann"}, 1),
            lambda model: model["versions"][0]["tags"] == {"owner": "ann"},
        ),
    ],
    ids=["alias", "model tags", "version tags"],
)
def test_aliases_and_tags_are_applied_by_the_holder(clone, bare_remote, make, check):
    from gitreg.services import spooled

    answer = _applied_by_the_holder(clone, make(spooled))
    assert answer.error is None, answer
    assert not answer.declined
    assert answer.commit == git(bare_remote, "rev-parse", "main").strip()
    assert check(remote_model(bare_remote)), remote_model(bare_remote)
    line = git(bare_remote, "log", "-1", "--format=%an", "main").strip()
    assert line == "Ann"


@pytest.mark.parametrize("number", [None, 1], ids=["model", "version"])
def test_deleting_tags_is_applied_by_the_holder_strict_or_not(clone, bare_remote, number):
    from gitreg.services import spooled

    Registry(clone).set_tags("churn", {"owner": "ann", "keep": "1"}, number)
    answer = _applied_by_the_holder(clone, spooled.delete_tags("churn", ["owner"], number, True))
    assert answer.error is None, answer
    assert not answer.declined
    model = remote_model(bare_remote)
    tags = model["tags"] if number is None else model["versions"][0]["tags"]
    assert tags == {"keep": "1"}
    # Strict: a key that is not there is the caller's error, carried back, not a decline.
    strict = _applied_by_the_holder(clone, spooled.delete_tags("churn", ["gone"], number, True))
    assert not strict.declined
    assert isinstance(strict.error, GitregError), strict
    lenient = _applied_by_the_holder(clone, spooled.delete_tags("churn", ["gone"], number, False))
    assert lenient.error is None, lenient
    assert not lenient.declined


@pytest.mark.parametrize(
    ("op", "key", "value"),
    [
        ("register", "created", "1700000000"),
        ("register", "metrics", ["auc"]),
        ("register", "signature", "inputs"),
        ("register", "create_model", 1),
        ("register", "name", 7),
        ("register", "description", 3),
        ("set_alias", "answer", "yes"),
        ("set_tags", "tags", ["owner"]),
        ("delete_tags", "strict", 0),
        ("delete_tags", "keys", "owner"),
    ],
)
def test_an_argument_of_the_wrong_type_is_its_callers_error(clone, bare_remote, op, key, value):
    from gitreg.services import spooled

    recipes = {
        "register": spooled.register(ModelVersion("churn", 0, source="s3://x"), False),
        "set_alias": spooled.set_alias("churn", "candidate", 1, True),
        "set_tags": spooled.set_tags("churn", {"owner": "ann"}, None),
        "delete_tags": spooled.delete_tags("churn", ["owner"], None, False),
    }
    recipe = recipes[op]
    before = remote_model(bare_remote)
    answer = _applied_by_the_holder(clone, spool.Recipe(op, {**recipe.args, key: value}))
    assert isinstance(answer.error, InvalidParameter), answer
    assert key in answer.error.message
    after = remote_model(bare_remote)
    assert [v["version"] for v in after["versions"]] == [1, 2]  # only the holder's own
    assert after.get("aliases") == before.get("aliases")
    assert after.get("tags") == before.get("tags")


def test_a_request_nobody_serves_is_withdrawn_and_written_by_its_own_writer(clone, bare_remote):
    """The lock's holder lets go without serving the spool (here the test holds the clone's
    real lock, as a holder past its serving point does): the waiting writer takes the lock,
    withdraws its request and makes its own commit, leaving nothing in the spool."""
    from gitreg.store import _lock

    with _lock.hold(clone / ".git" / "gitreg" / "lock", 0):
        writer = gitreg(clone, "register", "churn", "s3://alone", who="Alone")
        wait_for(lambda: len(waiting(clone)) == 1, "the writer's request")
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert out.strip() == "2"
    assert remote_versions(bare_remote)[-1]["source"] == "s3://alone"
    assert git(bare_remote, "log", "-1", "--format=%an", "main").strip() == "Alone"
    assert list(spool_dir(clone).iterdir()) == []


def test_a_request_for_another_branch_is_declined_to_its_writer(clone, bare_remote):
    from gitreg.services import spooled

    recipe = spooled.set_tags("churn", {"owner": "ann"}, None)
    spool_dir(clone).mkdir(parents=True, exist_ok=True)
    request = spool.request(
        recipe, "release", "origin", "Ann <a@example.com>", "Ann <a@example.com>", 1
    )
    (spool_dir(clone) / "9-ann.req").write_text(json.dumps(request))
    import gitreg.services.spooled  # noqa: F401  (the holder knows the operations)

    Registry(clone).create_model_version("churn", "s3://churn/2")
    answer = spool._answer(json.loads((spool_dir(clone) / "9-ann.out").read_text()))
    assert answer.declined
    assert answer.error is None
    assert answer.commit is None
    assert "tags" not in remote_model(bare_remote)


@pytest.mark.parametrize("suffix", [".out", ".held", ".tmp"])
def test_answers_nobody_collected_are_removed_after_an_hour_and_not_before(clone, suffix):
    """An answer, a claimed request or a half-written file whose process died (its
    requester or its holder) is removed by a later holder after an hour, not before."""
    spool_dir(clone).mkdir(parents=True, exist_ok=True)
    old, recent = spool_dir(clone) / f"1-old{suffix}", spool_dir(clone) / f"2-recent{suffix}"
    for path in (old, recent):
        path.write_text("{}")
    hours_ago = time.time() - spool.STALE_SECONDS - 60
    os.utime(old, (hours_ago, hours_ago))
    minutes_ago = time.time() - spool.STALE_SECONDS + 300
    os.utime(recent, (minutes_ago, minutes_ago))
    Registry(clone).create_model_version("churn", "s3://churn/2")
    assert not old.exists()
    assert recent.exists()


# ------------------------------------------------- what a hostile spool file can and cannot do


def test_only_a_regular_file_of_at_most_a_megabyte_is_read(tmp_path):
    target = tmp_path / "target.json"
    target.write_text(json.dumps(_request("set_tags")))
    link = tmp_path / "link.req"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.req"
    os.mkfifo(fifo)  # opened without blocking, then refused
    big = tmp_path / "big.req"
    big.write_text(" " * spool.MAX_BYTES + "{}")
    edge = tmp_path / "edge.req"
    edge.write_text('{"k": "' + "x" * (spool.MAX_BYTES - 9) + '"}')  # no trailing space
    latin = tmp_path / "latin.req"
    latin.write_bytes(b'{"k": "\xe9"}')
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        spool._read_json(link)  # a link is never followed out of the spool
    for path in (fifo, big):
        with pytest.raises(
            codec.SpoolDataError, match=f"{path.name} is not a regular file of at most 1 MB"
        ):
            spool._read_json(path)
    assert edge.stat().st_size == spool.MAX_BYTES
    assert spool._read_json(edge) == {"k": "x" * (spool.MAX_BYTES - 9)}  # read whole
    with pytest.raises(codec.SpoolDataError, match=r"latin\.req is not JSON"):
        spool._read_json(latin)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": 99}, "^not a request gitreg writes$"),
        ({"extra": 1}, "^not a request gitreg writes$"),
        ({"op": 1}, "^a request's op, branch or remote is not text$"),
        ({"branch": None}, "^a request's op, branch or remote is not text$"),
        ({"args": []}, "^a request's args or time has the wrong type$"),
        ({"now": True}, "^a request's args or time has the wrong type$"),
        ({"now": 1.5}, "^a request's args or time has the wrong type$"),
    ],
)
def test_a_request_is_read_field_by_field(change, message):
    good = _request("set_tags")
    assert spool._Request.parse(good).now == 1
    with pytest.raises(codec.SpoolDataError, match=message):
        spool._Request.parse({**good, **change})


_NOT_A_COMMIT = "^an answer's commit is not a commit id$"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "^not an answer gitreg writes$"),
        ({"v": 99, "declined": True}, "^not an answer gitreg writes$"),
        ({"v": spool.VERSION, "commit": "abc", "mine": True}, _NOT_A_COMMIT),
        ({"v": spool.VERSION, "commit": "A" * 40, "mine": True}, _NOT_A_COMMIT),
        ({"v": spool.VERSION, "commit": "X" * 40, "mine": True}, _NOT_A_COMMIT),
        ({"v": spool.VERSION, "commit": "a" * 40, "mine": "yes"}, _NOT_A_COMMIT),
        ({"v": spool.VERSION, "commit": None, "mine": None}, _NOT_A_COMMIT),
    ],
)
def test_an_answer_is_read_field_by_field(data, message):
    with pytest.raises(codec.SpoolDataError, match=message):
        spool._answer(data)


def test_an_answer_says_whose_commit_carried_the_write():
    none = codec.encode_result(None)
    answer = spool._answer({"v": spool.VERSION, "result": none, "commit": "a" * 40, "mine": False})
    assert answer.commit == "a" * 40
    assert answer.mine is False
    assert not answer.declined
    unchanged = {"v": spool.VERSION, "result": none, "commit": None, "mine": True}
    assert spool._answer(unchanged).commit is None


def _version() -> ModelVersion:
    return ModelVersion("churn", 3, "s3://x", tags={"a": "b"}, metrics={"f1": 0.9})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param("churn", "^a result: not the fields gitreg writes$", id="result-not-a-map"),
        pytest.param({"kind": "shell" * 9}, "a result of kind 'shellshellshellshell'$", id="kind"),
        pytest.param(
            {"kind": "version", "value": {**codec.encode_version(_version()), "extra": 1}},
            "^a model version: not the fields gitreg writes$",
            id="version-extra-field",
        ),
        pytest.param(
            {"kind": "version", "value": {}},
            "^a model version: not the fields gitreg writes$",
            id="version-missing-fields",
        ),
        pytest.param(
            {"kind": "version", "value": {**codec.encode_version(_version()), "version": "3"}},
            "^a model version: field 'version' has the wrong type$",
            id="version-field-type",
        ),
        pytest.param(
            {"kind": "model", "value": {"name": "churn"}},
            "^a registered model: not the fields gitreg writes$",
            id="model-missing-fields",
        ),
    ],
)
def test_a_malformed_answer_names_what_is_wrong(data, message):
    """The reason reaches the writer inside its ConcurrentUpdate ("the answer to this write
    is malformed (...)"): it names the record and the field, and quotes at most 20
    characters of a hostile kind."""
    with pytest.raises(codec.SpoolDataError, match=message):
        codec.decode_result(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(["VersionNotFound"], "^an error: not the fields gitreg writes$", id="list"),
        pytest.param(
            {"class": "VersionNotFound", "code": "x"},
            "^an error: not the fields gitreg writes$",
            id="missing-message",
        ),
        pytest.param(
            {"class": "X" * 50, "code": "x", "message": "y"},
            "^an error of unknown class '" + "X" * 40 + "'$",
            id="unknown-class",
        ),
        pytest.param(
            {"class": "VersionNotFound", "code": 7, "message": "y"},
            "^an error: field 'code' or 'message' has the wrong type$",
            id="code-type",
        ),
    ],
)
def test_a_malformed_error_names_what_is_wrong(data, message):
    with pytest.raises(codec.SpoolDataError, match=message):
        codec.decode_error(data)


def test_an_identity_quotes_at_most_sixty_characters_of_what_it_refused():
    with pytest.raises(codec.SpoolDataError, match=r"^not an identity \(Name <email>\): 'E{60}'$"):
        codec.identity("E" * 80)


def test_a_result_that_cannot_travel_names_its_type():
    with pytest.raises(
        codec.SpoolDataError, match=r"^a result of type dict cannot be handed back$"
    ):
        codec.encode_result({"name": "churn"})


def test_an_error_travels_with_the_code_it_was_raised_with():
    """A gitreg error raised with its own MLflow code (not its class's) keeps it."""
    error = InvalidParameter("m", "CUSTOM")
    assert codec.encode_error(error) == {
        "class": "InvalidParameter",
        "code": "CUSTOM",
        "message": "m",
    }


def test_a_class_forging_a_gitreg_error_module_or_name_does_not_travel():
    """Only the class gitreg.core.errors itself names travels: a look-alike that sets its
    ``__module__`` to gitreg's (under a name gitreg has, or one it has not) is its
    caller's to raise, never sent as if it were gitreg's."""
    module = {"__module__": core_errors.__name__}
    same_name = type("VersionNotFound", (GitregError,), module)
    unknown_name = type("Forged", (GitregError,), module)
    assert codec.encode_error(same_name("x")) is None
    assert codec.encode_error(unknown_name("x")) is None


def _leave_request(clone: Path, name: str, recipe: spool.Recipe, mtime: int) -> Path:
    """``recipe`` left in the spool as Ann's request, ``mtime`` ordering it (oldest first)."""
    spool_dir(clone).mkdir(parents=True, exist_ok=True)
    request = spool.request(
        recipe, "main", "origin", "Ann <ann@example.com>", "Ann <ann@example.com>", 1
    )
    path = spool_dir(clone) / name
    path.write_text(json.dumps(request))
    os.utime(path, ns=(mtime, mtime))
    return path


def test_a_request_that_meets_a_bug_in_the_holder_is_declined_to_its_writer(
    clone, bare_remote, monkeypatch
):
    """A request whose operation fails with an exception that is not gitreg's (a bug,
    stood in for by an operation that raises RuntimeError) is answered "declined": its
    writer then applies it in its own process and meets the bug there, with its own
    traceback; the holder's own write is unharmed and keeps nothing of the request."""
    from gitreg.services import spooled

    def buggy(args):
        raise RuntimeError("a bug")

    req = _leave_request(clone, "8-ann.req", spooled.set_tags("churn", {"k": "v"}, None), 1)
    monkeypatch.setitem(spool._OPERATIONS, "set_tags", buggy)
    Registry(clone).create_model_version("churn", "s3://churn/2")
    answer = spool._collect(req.with_suffix(".out"))
    assert answer is not None
    assert answer.declined
    assert answer.error is None
    assert remote_versions(bare_remote)[-1]["source"] == "s3://churn/2"
    assert "tags" not in remote_model(bare_remote)
    assert list(spool_dir(clone).iterdir()) == []


def test_an_error_that_cannot_travel_is_declined_to_its_writer(clone, bare_remote):
    """InvalidManifest carries its problems in its own constructor: it cannot be sent back
    as data, so the request is declined and its writer meets the error in its own process
    (where it names the file and the field)."""
    from gitreg.services import spooled

    broken = clone / "models" / "broken.yaml"
    broken.write_text("name: broken\nversions: 7\n")
    git(clone, "add", "models/broken.yaml")
    git(clone, "commit", "-q", "-m", "a broken manifest, committed by hand")
    req = _leave_request(clone, "8-ann.req", spooled.set_tags("broken", {"k": "v"}, None), 1)
    Registry(clone).create_model_version("churn", "s3://churn/2")
    answer = spool._collect(req.with_suffix(".out"))
    assert answer is not None
    assert answer.declined
    assert answer.error is None
    with pytest.raises(InvalidManifest):
        Registry(clone).set_registered_model_tag("broken", "k", "v")


def test_a_holder_serves_at_most_max_served_requests_and_counts_only_those_it_took(
    clone, bare_remote, monkeypatch
):
    """A holder applies at most MAX_SERVED requests (here 2) before its own push goes; a
    request for an operation it does not know is left to its writer and not counted, so
    the oldest known requests are the ones served and the newest waits for its writer."""
    from gitreg.services import spooled

    monkeypatch.setattr(spool, "MAX_SERVED", 2)
    unknown = _leave_request(clone, "1-old.req", spooled.set_tags("churn", {"a": "1"}, None), 1)
    data = json.loads(unknown.read_text())
    unknown.write_text(json.dumps({**data, "op": "from_a_newer_gitreg"}))
    os.utime(unknown, ns=(1, 1))
    first = _leave_request(clone, "2-b.req", spooled.set_tags("churn", {"b": "2"}, None), 2)
    second = _leave_request(clone, "3-c.req", spooled.set_tags("churn", {"c": "3"}, None), 3)
    third = _leave_request(clone, "4-d.req", spooled.set_tags("churn", {"d": "4"}, None), 4)
    Registry(clone).create_model_version("churn", "s3://churn/2")
    assert unknown.exists()
    assert third.exists()
    for served in (first, second):
        assert not served.exists()
        answer = spool._collect(served.with_suffix(".out"))
        assert answer is not None
        assert answer.commit is not None
    assert remote_model(bare_remote)["tags"] == {"b": "2", "c": "3"}


@pytest.mark.parametrize(
    ("content", "why"),
    [
        pytest.param("{", "unreadable (out.out is not JSON", id="not-json"),
        pytest.param('{"v": 99}', "malformed (not an answer gitreg writes)", id="not-an-answer"),
    ],
)
def test_an_answer_that_cannot_be_read_tells_its_writer_to_check_the_remote(tmp_path, content, why):
    """The writer cannot know whether its write was pushed: the error says to look at the
    remote's history before retrying (a blind retry could write it twice), and the answer
    is removed so the next collect does not meet it again."""
    from gitreg.core.errors import ConcurrentUpdate

    out = tmp_path / "out.out"
    out.write_text(content)
    with pytest.raises(ConcurrentUpdate) as caught:
        spool._collect(out)
    message = caught.value.message
    assert message.startswith(f"{out}: the answer to this write is {why}"), message
    assert message.endswith("; check the remote's history before you retry"), message
    assert not out.exists()


@pytest.mark.parametrize("create", [True, False])
def test_a_handed_over_register_creates_a_model_only_when_asked(clone, bare_remote, create):
    """``create_model`` travels: the holder registers version 1 of a new model for a
    writer that asked for it (as ``create_model_version`` does), and answers MLflow's
    RESOURCE_DOES_NOT_EXIST to one that did not (``create_model_version`` on a model that
    was never created)."""
    from gitreg.services import spooled

    new = ModelVersion("fraud", 0, source="s3://fraud/1", creation_timestamp=1_700_000_000_000)
    answer = _applied_by_the_holder(clone, spooled.register(new, create_model=create))
    files = git(bare_remote, "ls-tree", "--name-only", "main", "models/").split()
    if create:
        assert answer.error is None, answer
        assert isinstance(answer.result, ModelVersion)
        assert answer.result.version == 1
        assert "models/fraud.yaml" in files
    else:
        assert answer.error is not None
        assert answer.error.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert "models/fraud.yaml" not in files
