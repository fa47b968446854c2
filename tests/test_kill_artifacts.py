"""Tests written for the surviving mutants of the artifacts area (#28; docs/mutation.md).

Every artifact is a real file or directory in a temporary directory, registered and
verified through the ``gitreg`` CLI on a real registry repository (tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests._helpers import Cli


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_single_file_that_changed_is_named_the_file(cli: Cli, tmp_path: Path) -> None:
    """A one-file artifact has no file names to show: verify says *the file changed*, with
    both digests, and ``--json`` lists the change under model-signing's name for it, ``.``."""
    weights = tmp_path / "model.pkl"
    weights.write_bytes(b"the weights")
    cli.ok("register", "churn", str(weights))
    assert "verified" in cli.ok("verify", "models:/churn/1").stdout

    weights.write_bytes(b"the weights, tampered")
    out = cli.fails(1, "verify", "models:/churn/1").stdout
    recorded, now = _sha(b"the weights")[:19], _sha(b"the weights, tampered")[:19]
    assert (
        f"churn version 1: ARTIFACT CHANGED at {weights}: the file changed; "
        f"recorded {recorded}, now {now}"
    ) in out
    shown = json.loads(cli.fails(1, "verify", "models:/churn/1", "--json").stdout)
    assert shown["verification"]["differences"] == [{"path": ".", "change": "changed"}]

    weights.write_bytes(b"the weights")  # put back: verified again
    assert "churn version 1: verified" in cli.ok("verify", "models:/churn/1").stdout


def test_a_file_replaced_by_a_directory_is_told_file_by_file(cli: Cli, tmp_path: Path) -> None:
    """A one-file artifact whose path now holds a directory: the file went, the
    directory's files appeared (not a change of the one file)."""
    weights = tmp_path / "model"
    weights.write_bytes(b"the weights")
    cli.ok("register", "churn", str(weights))
    weights.unlink()
    weights.mkdir()
    (weights / "w.bin").write_bytes(b"the weights")
    shown = json.loads(cli.fails(1, "verify", "models:/churn/1", "--json").stdout)
    assert shown["verification"]["differences"] == [
        {"path": ".", "change": "disappeared"},
        {"path": "w.bin", "change": "appeared"},
    ]


def test_many_changes_show_the_first_five_and_how_many_more(cli: Cli, tmp_path: Path) -> None:
    """Verify names at most five differences, in model-signing's path order, then how
    many more there are; ``--json`` has them all."""
    model = tmp_path / "model"
    model.mkdir()
    names = [f"f{i}.bin" for i in range(8)]
    for name in names:
        (model / name).write_bytes(name.encode())
    cli.ok("register", "churn", str(model))

    for name in names[:7]:
        (model / name).write_bytes(b"changed")
    out = cli.fails(1, "verify", "models:/churn/1").stdout
    assert (
        ": f0.bin changed; f1.bin changed; f2.bin changed; f3.bin changed; f4.bin changed; "
        "and 2 more; recorded sha256:"
    ) in out
    shown = json.loads(cli.fails(1, "verify", "models:/churn/1", "--json").stdout)
    assert shown["verification"]["differences"] == [
        {"path": name, "change": "changed"} for name in names[:7]
    ]

    for name in names[4:7]:  # put back: four changed, all shown
        (model / name).write_bytes(name.encode())
    out = cli.fails(1, "verify", "models:/churn/1").stdout
    assert ": f0.bin changed; f1.bin changed; f2.bin changed; f3.bin changed; recorded" in out
    (model / "f4.bin").write_bytes(b"changed")  # exactly five: all shown, no "and 0 more"
    out = cli.fails(1, "verify", "models:/churn/1").stdout
    assert "f3.bin changed; f4.bin changed; recorded sha256:" in out
    assert "more" not in out


def test_a_hand_written_digest_with_a_line_break_is_refused_by_validate(
    cli: Cli, registry_repo: Path, tmp_path: Path
) -> None:
    """A digest written as a YAML block scalar keeps its line break: it is no digest
    (verify would call the artifact changed forever), and validate says so."""
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    cli.ok("register", "churn", str(weights))
    manifest = registry_repo / "models" / "churn.yaml"
    digest = _sha(b"w")
    text = manifest.read_text()
    assert f"digest: {digest}\n" in text
    manifest.write_text(text.replace(f"digest: {digest}\n", f"digest: |\n      {digest}\n"))
    result = cli.fails(1, "validate")
    assert "models/churn.yaml:" in result.stdout
    assert "versions.0.digest" in result.stdout
