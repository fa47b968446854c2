"""The resolve cache (#15): answers recorded per manifest content, never stale, never a bypass.

``gitreg resolve`` answers from ``.git/gitreg/answers`` when the manifest's content (its git
blob id) is the one a full read recorded. These tests edit real files (same size, same
times), check out and reset real commits, swap the manifest for a symlink, and compare the
cached answer with the full path's for many URI forms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg._entry import resolve_fast
from gitreg.core.errors import GitregError
from gitreg.store import answers
from tests._helpers import git, link_to_a_copy

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def churn(registry_repo: Path) -> Path:
    registry = Registry(registry_repo)
    registry.create_model_version("churn", "s3://churn/1")
    registry.create_model_version("churn", "s3://churn/2")
    registry.set_registered_model_alias("churn", "champion", 1)
    registry.transition_model_version_stage("churn", 2, "Production")
    Registry(registry_repo).resolve("models:/churn@champion")  # a full read records it
    return registry_repo


def cached(repo: Path, uri: str, at: str | None = None) -> str | None:
    return answers.lookup(str(repo), at, uri)


def test_a_full_read_records_and_a_lookup_answers(churn):
    assert cached(churn, "models:/churn@champion") == "s3://churn/1"
    assert cached(churn, "models:/churn/production") == "s3://churn/2"
    assert cached(churn, "models:/churn/002") == "s3://churn/2"
    assert cached(churn, "models:/churn/latest") == "s3://churn/2"


def test_without_repo_the_lookup_uses_gitreg_repo_then_the_current_directory(
    churn, tmp_path, monkeypatch
):
    """``gitreg resolve`` with no ``--repo`` looks where the full path looks."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITREG_REPO", str(churn))
    assert answers.lookup(None, None, "models:/churn@champion") == "s3://churn/1"
    monkeypatch.delenv("GITREG_REPO")
    assert answers.lookup(None, None, "models:/churn@champion") is None
    monkeypatch.chdir(churn)
    assert answers.lookup(None, None, "models:/churn@champion") == "s3://churn/1"


def test_a_same_size_same_time_hand_edit_is_seen(churn):
    """The racy-git case: a stat-keyed cache would serve the old answer; content is read."""
    path = churn / "models" / "churn.yaml"
    before = path.stat()
    text = path.read_text()
    edited = text.replace("s3://churn/1", "s3://churn/9")
    assert len(edited) == len(text)
    path.write_text(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert cached(churn, "models:/churn@champion") is None, "served a stale answer"
    assert Registry(churn).resolve("models:/churn@champion") == "s3://churn/9"
    assert cached(churn, "models:/churn@champion") == "s3://churn/9"


def test_checkout_and_reset_are_seen(churn):
    Registry(churn).set_registered_model_alias("churn", "champion", 2)
    Registry(churn).resolve("models:/churn@champion")
    assert cached(churn, "models:/churn@champion") == "s3://churn/2"
    git(churn, "checkout", "HEAD~1", "--", "models/churn.yaml")
    assert cached(churn, "models:/churn@champion") is None
    assert Registry(churn).resolve("models:/churn@champion") == "s3://churn/1"
    git(churn, "reset", "-q", "--hard", "HEAD")
    assert cached(churn, "models:/churn@champion") is None
    assert Registry(churn).resolve("models:/churn@champion") == "s3://churn/2"


def test_a_symlink_is_never_answered_from_the_cache(churn, tmp_path):
    """Even with the very content the cache knows, a manifest that is a link is refused."""
    link_to_a_copy(churn / "models" / "churn.yaml", tmp_path / "outside.yaml")
    assert cached(churn, "models:/churn@champion") is None


def test_a_manifest_broken_after_it_was_cached_fails_as_a_fresh_read_does(churn, capsys):
    path = churn / "models" / "churn.yaml"
    path.write_text(path.read_text() + "versions: [unclosed\n")
    assert cached(churn, "models:/churn@champion") is None
    assert resolve_fast(["resolve", "models:/churn@champion", "--repo", str(churn)]) == 1
    assert "YAML" in capsys.readouterr().err


def test_an_interrupted_write_is_left_to_the_full_path(churn):
    (churn / ".git" / "gitreg" / "txn.json").write_text("{}")
    assert cached(churn, "models:/churn@champion") is None


def test_at_a_ref_the_blob_of_that_commit_decides(churn):
    Registry(churn).set_registered_model_alias("churn", "champion", 2)
    Registry(churn, at="HEAD~1").resolve("models:/churn@champion")
    assert cached(churn, "models:/churn@champion", at="HEAD~1") == "s3://churn/1"
    assert cached(churn, "models:/churn@champion", at="HEAD") is None
    assert cached(churn, "models:/churn@champion", at="--output=x") is None
    assert cached(churn, "models:/churn@champion", at="no-such-ref") is None


URIS = [
    "models:/churn@champion", "models:/churn@nobody", "models:/churn@latest",
    "models:/churn@v1", "models:/churn/1", "models:/churn/01", "models:/churn/0",
    "models:/churn/9", "models:/churn/PRODUCTION", "models:/churn/staging",
    "models:/churn/Archived", "models:/churn/None", "models:/churn/latest",
    "models:/churn/LATEST", "models:/churn/bogus", "models:///churn/1", "models:/churn",
    "models:/churn/1/2", "models:/Churn@champion", "models:/ghost@champion", "runs:/a/b",
    "models:/churn/\u0661", "models:/churn@v1@champion",
]  # fmt: skip


@pytest.mark.parametrize("uri", URIS)
def test_the_cache_answers_only_what_the_full_path_answers(churn, uri):
    Registry(churn).set_registered_model_alias("churn", "v2x", 2)
    try:
        full: str | None = Registry(churn).resolve(uri)
    except GitregError:
        full = None
    assert cached(churn, uri) in (None, full)


def test_resolve_from_the_cache_loads_no_yaml_and_no_store(churn):
    code = (
        "import json, sys; from gitreg._entry import resolve_fast; "
        "code = resolve_fast(['resolve', 'models:/churn@champion', '--repo', sys.argv[1]]); "
        "print(json.dumps([code, sorted(sys.modules)]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(churn)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=True,
    )
    first_line, payload = proc.stdout.splitlines()
    exit_code, modules = json.loads(payload)
    assert (exit_code, first_line) == (0, "s3://churn/1")
    for heavy in ("yaml", "gitreg.store.store", "gitreg.registry", "click", "dataclasses"):
        assert heavy not in modules, f"{heavy} was imported on the cached path"
