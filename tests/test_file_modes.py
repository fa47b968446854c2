"""Files gitreg writes get the mode git would give them: 0666 less the umask (#16).

They were 0600 whatever the umask (``tempfile.mkstemp``), so another user of a shared
checkout could not read ``gitreg.yaml`` or a manifest that git itself would have made
readable. Each test sets a real umask for the process and restores it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core.errors import NotRegularFile
from gitreg.gate.scaffold import init_registry
from tests._helpers import git

pytestmark = pytest.mark.skipif(
    os.name == "nt", reason="Windows has no umask and no POSIX permission bits"
)

FILES = [
    "gitreg.yaml",
    "README.md",
    ".gitignore",
    ".github/workflows/gitreg.yml",
    "models/.gitkeep",
]


@pytest.fixture(params=[0o022, 0o002, 0o027, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_files_with_the_mode_git_gives_them(tmp_path, umask):
    root = tmp_path / "registry"
    init_registry(root)
    for name in FILES:
        assert _mode(root / name) == 0o666 & ~umask, name
    # The same files checked out by git itself, under the same umask.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    for name in FILES:
        assert _mode(root / name) == _mode(clone / name), name


def test_writes_keep_the_umask_mode_as_they_replace_a_manifest(tmp_path, umask):
    root = tmp_path / "registry"
    init_registry(root)
    registry = Registry(root)
    registry.create_registered_model("churn")
    assert _mode(root / "models" / "churn.yaml") == 0o666 & ~umask
    registry.set_registered_model_tag("churn", "team", "growth")  # rewrites the file
    assert _mode(root / "models" / "churn.yaml") == 0o666 & ~umask
    assert not list((root / "models").glob(".*.tmp"))


def test_an_executable_manifest_at_a_ref_is_named_alike_by_every_read(tmp_path):
    """Only git mode 100644 is read at a commit; the refusal says what the file is instead."""
    root = tmp_path / "registry"
    init_registry(root)
    Registry(root).create_model_version("churn", "s3://m/1")
    (root / "models" / "churn.yaml").chmod(0o755)
    git(root, "commit", "-qam", "Make it executable")
    expected = (
        "models/churn.yaml is git mode 100755, not a regular file; gitreg reads only regular "
        "files (git mode 100644) there: replace it with the file itself"
    )
    at_head = Registry(root, at="HEAD")
    whole = at_head.search_registered_models()  # the model is left out, and says why (#22)
    with pytest.raises(NotRegularFile) as one:
        at_head.get_registered_model("churn")
    assert list(whole) == []
    assert [f.message for f in whole.refused[0].findings] == [str(one.value)] == [expected]
