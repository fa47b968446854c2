"""What a cold CLI write no longer loads or builds stays what users and callers rely on (#26).

A plain ``gitreg register`` / ``transition`` / ``alias`` process loads only what the write
runs: ``gitreg.registry`` names ``RemoteRegistry`` (documented there, #15) without
importing it until asked, and the two tuples on the write's path (``ModelRef``,
``Finding``) are made without ``typing.NamedTuple``'s annotation compiling, as the same
immutable, comparable, picklable tuples with the same fields and defaults. Nothing here
times anything (bench/ does).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.entities import Stage
from gitreg.core.finding import Finding
from gitreg.core.uri import ModelRef, parse_uri
from gitreg.gate.scaffold import init_registry
from tests._helpers import git, head, run_probed

NOT_ON_A_WRITE = {"copy", "gitreg.services.remote_registry", "click"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A registry without a remote: churn 1 and 2."""
    path = tmp_path / "registry"
    init_registry(path)
    registry = Registry(path)
    registry.create_model_version("churn", "s3://churn/1")
    registry.create_model_version("churn", "s3://churn/2")
    return path


def _written(repo: Path, command: str) -> object:
    registry = Registry(repo)
    if command == "register":
        return registry.get_model_version("churn", 3).source
    if command == "transition":
        return registry.get_model_version("churn", 1).current_stage
    return registry.get_model_version_by_alias("churn", "best").version


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("register", "churn", "s3://churn/3"), "s3://churn/3"),
        (("transition", "churn", "1", "Staging"), Stage.STAGING),
        (("alias", "churn", "best", "2"), 2),
    ],
)
def test_a_plain_write_loads_neither_the_remote_client_nor_copy(
    repo: Path, args: tuple[str, ...], expected: object
) -> None:
    before = head(repo)
    proc, loaded = run_probed(repo, *args)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "gitreg._entry_write" in loaded  # the fast path ran, not click's
    assert not loaded & NOT_ON_A_WRITE, loaded & NOT_ON_A_WRITE
    assert git(repo, "rev-parse", "HEAD~1").strip() == before  # one commit on the last
    assert _written(repo, args[0]) == expected
    assert git(repo, "status", "--porcelain") == ""


def test_the_registry_module_still_names_remote_registry() -> None:
    import gitreg.registry
    from gitreg.services.remote_registry import RemoteRegistry

    assert gitreg.registry.RemoteRegistry is RemoteRegistry
    from gitreg.registry import RemoteRegistry as again

    assert again is RemoteRegistry
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        gitreg.registry.Nothing  # noqa: B018


def test_importing_the_registry_imports_no_remote_client() -> None:
    code = (
        "import sys, gitreg.registry; "
        "print('gitreg.services.remote_registry' in sys.modules, 'copy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


def test_acting_as_still_copies_the_registry(repo: Path) -> None:
    registry = Registry(repo)
    view = registry.acting_as(None, clock=lambda: 1)
    assert view is not registry
    assert view.store is registry.store
    assert view.clock() == 1
    assert registry.clock is not view.clock


def test_a_model_ref_is_the_tuple_it_was() -> None:
    ref = ModelRef("churn", alias="champion")
    assert ref == ("churn", None, None, "champion", False)
    assert ModelRef._fields == ("name", "version", "stage", "alias", "latest")
    assert ModelRef._field_defaults == {
        "version": None,
        "stage": None,
        "alias": None,
        "latest": False,
    }
    assert (
        repr(ref)
        == "ModelRef(name='churn', version=None, stage=None, alias='champion', latest=False)"
    )
    assert parse_uri("models:/churn/Production") == ModelRef("churn", stage=Stage.PRODUCTION)
    moved = ref._replace(alias=None, version=3)
    assert type(moved) is ModelRef
    assert moved.version == 3
    assert hash(ModelRef("a", 1)) == hash(ModelRef("a", 1))
    assert pickle.loads(pickle.dumps(ref)) == ref
    with pytest.raises(AttributeError):
        ref.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ref.extra = 1  # type: ignore[attr-defined]  # no __dict__: a tuple's slots only
    with pytest.raises(TypeError):
        ModelRef()  # type: ignore[call-arg]


def test_a_finding_is_the_tuple_it_was() -> None:
    finding = Finding("models/churn.yaml", 3, "bad-stage", "use one of the stages")
    assert finding == ("models/churn.yaml", 3, "bad-stage", "use one of the stages")
    path, line, code, _message = finding
    assert (path, line, code) == ("models/churn.yaml", 3, "bad-stage")
    assert Finding._fields == ("path", "line", "code", "message")
    assert str(finding) == "models/churn.yaml:3: bad-stage: use one of the stages"
    assert str(finding._replace(line=None)) == "models/churn.yaml: bad-stage: use one of the stages"
    assert finding.to_dict() == {
        "path": "models/churn.yaml",
        "line": 3,
        "code": "bad-stage",
        "message": "use one of the stages",
    }
    assert repr(finding).startswith("Finding(path='models/churn.yaml', line=3")
    assert sorted([finding._replace(line=9), finding])[0] == finding
    assert pickle.loads(pickle.dumps(finding)) == finding
    with pytest.raises(TypeError):
        Finding("p", 1, "c")  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        finding.extra = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "args",
    [
        ("register", "churn", "s3://churn/3"),
        ("transition", "churn", "1", "Staging"),
        ("alias", "churn", "best", "2"),
    ],
)
def test_a_plain_write_loads_no_threading_importlib_or_openssl(
    repo: Path, args: tuple[str, ...]
) -> None:
    """#26, ninth round: the write's locks are ``_thread``'s and its fast exit counts
    threads with ``_thread``; PyYAML is found with the import system's own finder; small
    objects are hashed by the built-in SHA modules. The write is the same."""
    old = time.time() - 60  # git's config unchanged for a while: kept, no git process
    for config in (repo / ".git" / "config", repo.parent / ".gitconfig"):
        if config.exists():
            os.utime(config, (old, old))
    warm, _loaded = run_probed(repo, "alias", "churn", "first", "1")  # gitreg.yaml remembered
    assert warm.returncode == 0, warm.stderr
    proc, loaded = run_probed(repo, *args)
    assert proc.returncode == 0, proc.stderr
    assert "gitreg._entry_write" in loaded
    # What the interpreter loaded before gitreg ran (an editable install's finder loads
    # importlib and threading at start-up) is not the write's.
    started = subprocess.run(
        [sys.executable, "-c", "import sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    by_write = loaded - set(started)
    assert not by_write & {"threading", "importlib.machinery", "hashlib", "_hashlib"}, by_write
    assert (
        _written(repo, args[0])
        == {
            "register": "s3://churn/3",
            "transition": Stage.STAGING,
            "alias": 2,
        }[args[0]]
    )
    assert git(repo, "status", "--porcelain") == ""
