"""A CLI write's modules come from the bytecode the last write kept, never stale (#26).

``gitreg/_entry_code.py`` keeps the bytecode of the modules a plain write loaded in one
file beside gitreg's own bytecode and serves them to the next write's process. These
tests run the console script's module in fresh interpreters on a copy of the package (a
test never edits the package it runs from) and check what users rely on: the write is the
same, a module whose source changed runs its new source, a folder that gained a file, a
damaged file or another interpreter's file is not used, and nothing is written where
Python writes no bytecode. Nothing here times anything (bench/ does).
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gitreg
from gitreg import Registry
from gitreg.gate.scaffold import init_registry
from tests._helpers import git, head

PACKAGE = Path(gitreg.__file__).parent
SCHEMAS = PACKAGE.parent / "schemas"
CODE_FILE = f"write.{sys.implementation.cache_tag}.code"

# The console script's entry in a fresh interpreter; when the command is done (the fast
# exit runs the atexit callbacks) it reports which gitreg modules came from the kept file.
_PROBE = """\
import atexit, json, sys
def report():
    served = sorted(n for n, m in sys.modules.items()
                    if getattr(getattr(m, "__loader__", None), "served", False))
    uri = sys.modules.get("gitreg.core.uri")
    sys.stderr.write("\\nprobe: " + json.dumps({"served": served,
        "marker": getattr(uri, "PROBE_MARKER", None),
        "uri_file": getattr(uri, "__file__", None),
        "uri_code": uri.parse_uri.__code__.co_filename if uri else None}) + "\\n")
atexit.register(report)
sys.argv = ["gitreg", *sys.argv[1:]]
from gitreg._entry import main
main()
"""


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the gitreg package (and its schemas, where the wheel puts them), without
    bytecode: the folder a fresh install would be."""
    root = tmp_path / "site"
    shutil.copytree(PACKAGE, root / "gitreg", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SCHEMAS, root / "gitreg" / "schemas")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "registry"
    init_registry(path)
    Registry(path).create_model_version("churn", "s3://churn/1")
    return path


def _write(package: Path, repo: Path, *args: str, **env: str) -> tuple[dict[str, object], str]:
    """``gitreg ARGS --repo REPO`` with ``package`` first on the path: the probe, stdout."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    full.pop("PYTHONDONTWRITEBYTECODE", None)
    full.update(PYTHONPATH=str(package), HOME=str(repo.parent), **env)
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args, "--repo", str(repo)],
        capture_output=True,
        text=True,
        env=full,
        check=False,
        cwd=repo.parent,
    )
    err, _, probe = proc.stderr.rpartition("\nprobe: ")
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    found = json.loads(probe)
    assert found["uri_file"].startswith(str(package))  # the copy ran, not the package
    return found, proc.stdout


def _code_file(package: Path) -> Path:
    return package / "gitreg" / "__pycache__" / CODE_FILE


def _warm(package: Path, repo: Path) -> None:
    """Two writes: the first keeps the file, the second is served from it."""
    first, _ = _write(package, repo, "alias", "churn", "one", "1")
    assert first["served"] == []
    assert _code_file(package).exists()
    second, _ = _write(package, repo, "alias", "churn", "two", "1")
    assert "gitreg.core.uri" in second["served"]
    assert "gitreg.store.writer" in second["served"]


def test_a_write_is_served_from_the_kept_bytecode_and_writes_the_same(
    package: Path, repo: Path
) -> None:
    _warm(package, repo)
    before = head(repo)
    found, out = _write(package, repo, "register", "churn", "s3://churn/2")
    assert len(found["served"]) > 40  # the write's modules, from the file
    assert out == "2\n"
    assert git(repo, "rev-parse", "HEAD~1").strip() == before
    assert Registry(repo).get_model_version("churn", 2).source == "s3://churn/2"
    assert git(repo, "status", "--porcelain") == ""
    _write(package, repo, "transition", "churn", "2", "Staging")  # adds the few it loads
    assert Registry(repo).get_model_version("churn", 2).current_stage.value == "Staging"
    kept = _code_file(package).stat()
    for args in (("transition", "churn", "1", "Staging"), ("register", "churn", "s3://c/3")):
        found, _ = _write(package, repo, *args)
        assert "gitreg.core.uri" in found["served"]
    assert _code_file(package).stat().st_mtime_ns == kept.st_mtime_ns  # not written again


def test_a_module_whose_source_changed_runs_its_new_source(package: Path, repo: Path) -> None:
    _warm(package, repo)
    uri = package / "gitreg" / "core" / "uri.py"
    uri.write_text(uri.read_text() + "\nPROBE_MARKER = 'new source'\n")
    found, _ = _write(package, repo, "alias", "churn", "three", "1")
    assert found["marker"] == "new source"
    assert "gitreg.core.uri" not in found["served"]
    assert "gitreg.store.writer" in found["served"]  # the others still are
    found, _ = _write(package, repo, "alias", "churn", "four", "1")  # kept anew
    assert found["marker"] == "new source"
    assert "gitreg.core.uri" in found["served"]


def test_a_source_changed_within_the_same_second_and_size_is_seen(
    package: Path, repo: Path
) -> None:
    """The kept time is in nanoseconds: a same-size edit in the same second is new."""
    _warm(package, repo)
    uri = package / "gitreg" / "core" / "uri.py"
    text = uri.read_text()
    assert 'SCHEME = "models:/"' in text
    stat = uri.stat()
    uri.write_text(text.replace('SCHEME = "models:/"', 'SCHEME = "models:/"; PROBE_MARKER = 1', 1))
    uri.write_text(uri.read_text()[: stat.st_size])  # back to the same size
    os.utime(uri, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    found, _ = _write(package, repo, "alias", "churn", "five", "1")
    assert "gitreg.core.uri" not in found["served"]


def test_a_folder_that_gained_a_file_makes_the_kept_file_unused(package: Path, repo: Path) -> None:
    """A new module could shadow a kept one (``uri/`` beside ``uri.py``): as Python's own
    folder cache, a folder's new time drops everything kept."""
    _warm(package, repo)
    (package / "gitreg" / "core" / "zz_new.py").write_text("")
    found, _ = _write(package, repo, "alias", "churn", "six", "1")
    assert found["served"] == []
    found, _ = _write(package, repo, "alias", "churn", "seven", "1")
    assert "gitreg.core.uri" in found["served"]


def _damaged(package: Path, kind: str) -> bytes:
    magic = (package / "gitreg" / "__pycache__" / CODE_FILE).read_bytes()
    kept = marshal.loads(magic)
    if kind == "garbage":
        return b"\x00not marshal\xff" * 10
    if kind == "truncated":
        return magic[: len(magic) // 2]
    if kind == "other interpreter":
        return marshal.dumps((kept[0], b"\x00\x00\r\n", kept[2], kept[3]))
    if kind == "not a mapping":
        return marshal.dumps((kept[0], kept[1], kept[2], ["gitreg.core.uri"]))
    entries = dict(kept[3])
    relative, package_flag, mtime, size, code = entries["gitreg.core.uri"]
    if kind == "path outside":
        entries["gitreg.core.uri"] = (
            os.path.join("..", "evil.py"),
            package_flag,
            mtime,
            size,
            code,
        )
    else:  # another module's code under uri's name and stat data
        entries["gitreg.core.uri"] = (relative, package_flag, mtime, size, b"\xffnot code")
    return marshal.dumps((kept[0], kept[1], kept[2], entries))


@pytest.mark.parametrize(
    "kind",
    ["garbage", "truncated", "other interpreter", "not a mapping", "path outside", "not code"],
)
def test_a_damaged_or_foreign_kept_file_is_ignored(package: Path, repo: Path, kind: str) -> None:
    _warm(package, repo)
    _code_file(package).write_bytes(_damaged(package, kind))
    before = head(repo)
    found, _ = _write(package, repo, "register", "churn", "s3://churn/2")
    assert "gitreg.core.uri" not in found["served"]
    assert git(repo, "rev-parse", "HEAD~1").strip() == before
    assert Registry(repo).get_model_version("churn", 2).source == "s3://churn/2"
    found, _ = _write(package, repo, "alias", "churn", "eight", "1")  # written anew
    assert "gitreg.core.uri" in found["served"]


def test_no_file_is_kept_where_python_writes_no_bytecode(package: Path, repo: Path) -> None:
    _write(package, repo, "alias", "churn", "one", "1", PYTHONDONTWRITEBYTECODE="1")
    assert not _code_file(package).exists()
    _write(package, repo, "alias", "churn", "two", "1")
    assert _code_file(package).exists()


def test_a_moved_installation_names_its_own_files(package: Path, repo: Path) -> None:
    """Kept bytecode names the file it was compiled from; served from a folder moved
    since, its code names the files where they are now (tracebacks), as a .pyc's does."""
    _warm(package, repo)
    moved = package.parent / "moved"
    package.rename(moved)
    found, _ = _write(moved, repo, "alias", "churn", "nine", "1")
    assert "gitreg.core.uri" in found["served"]
    assert found["uri_code"] == found["uri_file"]
    assert str(found["uri_file"]).startswith(str(moved))
