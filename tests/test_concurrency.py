"""Many writers, several clones, one remote; writers killed mid-transaction (#5).

Cross-process tests run real processes (``sys.executable -c`` calling the CLI's ``main``).
They are scaled for CI; ``bench/stress.py`` runs the full 8 x 25 and prints throughput.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gitreg import Registry
from gitreg.core.errors import ConcurrentUpdate
from gitreg.core.validate import check_manifest
from gitreg.store import writer as store_module
from tests._helpers import git, status

REPO_ROOT = Path(__file__).resolve().parent.parent

WRITER = r"""
import sys
from gitreg.cli import main
repo, worker, count, mixed = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
for i in range(count):
    args = ["register", "churn", f"s3://w{worker}/{i}", "--repo", repo]
    if main(args) != 0:
        sys.exit(1)
    if mixed and i % 2:
        from gitreg import Registry
        latest = Registry(repo).get_latest_versions("churn")[-1].version
        for extra in (["transition", "churn", str(latest), "Staging"],
                      ["alias", "churn", f"w{worker}", str(latest)]):
            if main([*extra, "--repo", repo]) != 0:
                sys.exit(2)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def make_clones(remote: Path, tmp_path: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = tmp_path / f"clone{i}"
        git(tmp_path, "clone", "-q", str(remote), str(path))
        paths.append(path)
    return paths


def run_writers(clones: list[Path], writers: int, per_writer: int, mixed: bool = False) -> None:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(clones[w % len(clones)]),
                str(w),
                str(per_writer),
                "1" if mixed else "0",
            ],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for w in range(writers)
    ]
    errors = [proc.communicate()[1] for proc in procs]
    for proc, err in zip(procs, errors, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]


def assert_remote_has_every_version(remote: Path, writers: int, per_writer: int) -> dict:
    text = git(remote, "show", "main:models/churn.yaml")
    data = yaml.safe_load(text)
    assert [v["version"] for v in data["versions"]] == list(range(1, writers * per_writer + 1))
    sources = sorted(v["source"] for v in data["versions"])
    assert sources == sorted(f"s3://w{w}/{i}" for w in range(writers) for i in range(per_writer))
    assert check_manifest(data, "models/churn.yaml", text) == []
    return data


@pytest.mark.slow
def test_concurrent_registers_across_clones_never_lose_or_reuse_a_version(bare_remote, tmp_path):
    """Issue #5: N processes x K registers in several clones -> versions 1..N*K once each."""
    clones = make_clones(bare_remote, tmp_path, 2)
    run_writers(clones, writers=4, per_writer=10)
    assert_remote_has_every_version(bare_remote, 4, 10)
    for path in clones:
        assert status(path) == ""


@pytest.mark.slow
def test_registers_interleaved_with_transitions_and_alias_moves(bare_remote, tmp_path):
    clones = make_clones(bare_remote, tmp_path, 2)
    run_writers(clones, writers=4, per_writer=6, mixed=True)
    data = assert_remote_has_every_version(bare_remote, 4, 6)
    assert set(data["aliases"]) == {f"w{w}" for w in range(4)}
    assert any(v["stage"] == "Staging" for v in data["versions"])


LOOPER = r"""
import sys
from gitreg import Registry
from gitreg.store import store as store_module
from gitreg.core.errors import ConcurrentUpdate
repo, start = sys.argv[1], int(sys.argv[2])
for i in range(start, start + 1000):
    Registry(repo).create_model_version("churn", f"s3://k/{i}")
"""


@pytest.mark.slow
def test_sigkill_at_random_points_never_half_writes(bare_remote, tmp_path):
    """A writer killed with SIGKILL mid-transaction: the next command succeeds, and nothing
    half-written is committed, pushed, or left in the work tree."""
    (clone,) = make_clones(bare_remote, tmp_path, 1)
    Registry(clone).create_model_version("churn", "s3://k/first")
    rng = random.Random(5)
    for round_ in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-c", LOOPER, str(clone), str(round_ * 1000)],
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0.4, 1.2))  # past interpreter start-up, into the writes
        if rng.random() < 0.5:
            os.killpg(proc.pid, signal.SIGKILL)  # git children die too: stale git locks
            # A remote on a local path runs the *server's* receive-pack in the client's
            # process group; a real server survives its client, so release what it held.
            # (Pushing to the branch HEAD names locks HEAD as well as the branch.)
            for stale in [
                *(bare_remote / "refs" / "heads").glob("*.lock"),
                bare_remote / "HEAD.lock",
            ]:
                stale.unlink(missing_ok=True)
        else:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        mv = Registry(clone).create_model_version("churn", f"s3://after/{round_}")
        assert status(clone) == "", f"round {round_}: work tree not clean"
        assert git(clone, "rev-parse", "HEAD") == git(bare_remote, "rev-parse", "main")
        text = git(bare_remote, "show", "main:models/churn.yaml")
        data = yaml.safe_load(text)
        assert check_manifest(data, "models/churn.yaml", text) == []
        numbers = [v["version"] for v in data["versions"]]
        assert numbers == list(range(1, len(numbers) + 1))
        assert numbers[-1] == mv.version
    git(bare_remote, "fsck", "--no-dangling")


def test_a_lock_held_by_a_killed_process_is_released(registry_repo, monkeypatch):
    """The lock is an OS lock: SIGKILL its holder and the next writer gets it at once."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from gitreg.store.store import Store\n"
            "with Store(sys.argv[1]).lock():\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
            str(registry_repo),
        ],
        env=_env(),
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == b"held"
    monkeypatch.setattr(store_module, "LOCK_TIMEOUT_SECONDS", 0)
    registry = Registry(registry_repo)
    with pytest.raises(ConcurrentUpdate) as caught:  # held: a writer that won't wait gives up
        registry.create_model_version("churn", "s3://m/0")
    lock = registry_repo / ".git" / "gitreg" / "lock"
    assert caught.value.message == (
        f"another gitreg process has held {lock} for 0s; wait for it to finish and retry"
    )
    holder.kill()
    holder.wait()
    holder.stdout.close()
    assert Registry(registry_repo).create_model_version("churn", "s3://m/1").version == 1


def test_a_whole_registry_read_beside_a_writers_temporary_files(
    registry: Registry, registry_repo: Path
) -> None:
    """A search reads every file in ``models/`` while a writer (here a thread) rewrites a
    manifest (a temporary file created, then renamed over it): a name listed a moment
    before it is renamed away is no longer there, not an error. Before, the read crashed
    with FileNotFoundError (about 1 read in 60 here), which the MLflow plugin's tests met."""
    import threading

    from gitreg.core.manifest import write_atomic

    for name in ("churn", "fraud", "ranker"):
        registry.create_model_version(name, f"s3://m/{name}")
    target = registry_repo / "models" / "churn.yaml"
    same = target.read_bytes()
    stop = threading.Event()

    def rewrite() -> None:  # what every write does to the work tree, its bytes unchanged
        while not stop.is_set():
            write_atomic(target, same)

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        for _ in range(1500):
            found = registry.store.read_registry()
            assert [m.name for m in found.models] == ["churn", "fraud", "ranker"]
            assert not found.refused
    finally:
        stop.set()
        writer.join()
