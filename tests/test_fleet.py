"""Fleet reads (#15): ``resolve --remote`` and ``show --remote`` answer without a clone.

A bare repository stands in for GitHub (over a local path and over git's smart HTTP with
``git http-backend`` behind a server on 127.0.0.1, as tests/test_smart_http.py does). The
cache must hold only the one manifest's blob, see the remote's new tip on the next read,
never show a credential, never let the URL act as an option, and serve pods in parallel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import ModelNotFound, RemoteUnavailable
from gitreg.services.remote_registry import RemoteRegistry
from gitreg.store import fleet
from tests._helpers import Cli, git
from tests.test_smart_http import GitServer

REPO_ROOT = Path(__file__).resolve().parent.parent
READ_FILES = ("models/churn.yaml", "gitreg.yaml")  # what a read of churn fetches


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture
def remote(bare_remote: Path, tmp_path: Path) -> Path:
    """The remote with three models, served as GitHub serves partial clones."""
    git(bare_remote, "config", "uploadpack.allowFilter", "true")
    git(bare_remote, "config", "uploadpack.allowAnySHA1InWant", "true")
    clone = tmp_path / "writer"
    git(tmp_path, "clone", "-q", str(bare_remote), str(clone))
    registry = Registry(clone)
    for name in ("churn", "fraud", "ranker"):
        registry.create_model_version(name, f"s3://{name}/1")
        registry.create_model_version(name, f"s3://{name}/2")
        registry.set_registered_model_alias(name, "deployed", 1)
    return bare_remote


def blobs_in_cache(cache: Path) -> list[str]:
    found = []
    for repo in (cache / "gitreg" / "remotes").iterdir():
        if not repo.is_dir():
            continue
        out = git(repo, "cat-file", "--batch-all-objects", "--batch-check")
        found += [line.split()[0] for line in out.splitlines() if line.split()[1] == "blob"]
    return found


def test_resolve_from_a_remote_fetches_only_that_manifest(remote, cache):
    """The one manifest, and gitreg.yaml: it says whether reads are pinned (#22)."""
    assert RemoteRegistry(str(remote)).resolve("models:/churn@deployed") == "s3://churn/1"
    wanted = [git(remote, "rev-parse", f"main:{p}").strip() for p in READ_FILES]
    assert sorted(blobs_in_cache(cache)) == sorted(wanted), (
        "the fleet read fetched more than the one manifest and the config"
    )


def test_the_next_read_sees_the_remotes_new_tip(remote, tmp_path):
    reader = RemoteRegistry(str(remote))
    assert reader.resolve("models:/churn@deployed") == "s3://churn/1"
    Registry(tmp_path / "writer").set_registered_model_alias("churn", "deployed", 2)
    assert reader.resolve("models:/churn@deployed") == "s3://churn/2"
    assert reader.get_registered_model("fraud").aliases == {"deployed": 1}


def test_the_cli_resolves_and_shows_with_remote(remote):
    cli = Cli()
    assert cli.ok("resolve", "models:/churn/2", "--remote", str(remote)).stdout == "s3://churn/2\n"
    shown = json.loads(cli.ok("show", "ranker", "--json", "--remote", str(remote)).stdout)
    assert shown["registered_model"]["name"] == "ranker"
    cli.fails(1, "resolve", "models:/ghost@deployed", "--remote", str(remote))


def test_a_branch_is_read_with_at(remote, tmp_path):
    writer = tmp_path / "writer"
    git(writer, "push", "-q", "origin", "main:refs/heads/staging")
    Registry(writer).set_registered_model_alias("churn", "deployed", 2)
    assert RemoteRegistry(str(remote), at="staging").resolve("models:/churn@deployed") == (
        "s3://churn/1"
    )
    with pytest.raises(RemoteUnavailable):
        RemoteRegistry(str(remote), at="no-such-branch").resolve("models:/churn@deployed")


def test_a_missing_model_is_not_found(remote):
    with pytest.raises(ModelNotFound):
        RemoteRegistry(str(remote)).resolve("models:/ghost/1")


def test_the_url_never_acts_as_an_option(tmp_path):
    marker = tmp_path / "pwned"
    hostile = f"--upload-pack=touch {marker}"
    with pytest.raises(RemoteUnavailable):
        RemoteRegistry(hostile).resolve("models:/churn@deployed")
    assert not marker.exists()


def test_pods_starting_together_share_the_cache(remote):
    code = (
        "import sys; from gitreg.registry import RemoteRegistry; "
        "print(RemoteRegistry(sys.argv[1]).resolve('models:/fraud@deployed'))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(remote)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate()[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0]
    assert outputs == ["s3://fraud/1\n"] * 4


# ------------------------------------------------------------------ over smart HTTP


@pytest.fixture
def server(remote: Path):
    import threading

    srv = GitServer(remote.parent)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_over_smart_http_with_credentials(server, remote, cache):
    url = server.url(remote.name)
    assert RemoteRegistry(url).resolve("models:/ranker@deployed") == "s3://ranker/1"
    assert len(blobs_in_cache(cache)) == 2  # the manifest and gitreg.yaml
    assert not any("hunter2" in p.name for p in cache.rglob("*")), "credential on disk"
    config = "".join(p.read_text() for p in cache.rglob("config"))
    assert "hunter2" not in config, "the URL with its credential was written to disk"


def test_a_wrong_password_is_one_line_without_it(server, remote):
    url = server.url(remote.name, password="s3cret-wrong")
    result = Cli().fails(1, "resolve", "models:/churn@deployed", "--remote", url)
    assert result.stderr.count("\n") == 1
    assert "s3cret-wrong" not in result.stderr
    assert "cannot fetch" in result.stderr


def test_fleet_cache_lives_under_xdg_cache_home(cache):
    assert fleet.cache_home() == cache / "gitreg" / "remotes"


def test_a_busy_cache_is_one_line_naming_the_remote_and_the_wait(remote, cache, monkeypatch):
    """Another pod holding the remote's cache past the wait: a clear refusal, not a hang."""
    import hashlib

    from gitreg.store import _lock

    monkeypatch.setattr(fleet, "LOCK_SECONDS", 0.0)
    name = hashlib.sha256(str(remote).encode()).hexdigest()[:32]
    home = cache / "gitreg" / "remotes"
    home.mkdir(parents=True)
    with _lock.hold(home / f"{name}.lock", 0), pytest.raises(RemoteUnavailable) as caught:
        fleet.read_remote(str(remote), "models/churn.yaml")
    assert str(caught.value) == f"another gitreg process has held the cache of {remote} for 0s"


def test_configuration_from_the_environment_still_applies(remote, monkeypatch):
    """CI passes settings as GIT_CONFIG_* (here a URL rewrite); the remote's URL is added."""
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{remote}.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "registry:")
    assert RemoteRegistry("registry:").resolve("models:/churn@deployed") == "s3://churn/1"
