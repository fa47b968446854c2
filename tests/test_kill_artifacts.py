"""Tests written for the surviving mutants of the artifacts area (#28; docs/mutation.md).

Every artifact is a real file or directory in a temporary directory, registered and
verified through the ``gitreg`` CLI on a real registry repository (tests/conftest.py).
The statements read here are what a signature bundle's payload or a kept listing holds: a
wrong one is refused with the reason ``gitreg verify``, ``sign`` and the gate show after
"the signed statement:".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from gitreg.core.digest import (
    IN_TOTO_STATEMENT,
    PREDICATE_TYPE,
    FileDigest,
    Listing,
    is_ignored,
    parse_digest,
    path_problem,
)
from gitreg.core.errors import InvalidParameter
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

    (model / "f6.bin").write_bytes(b"f6.bin")  # put back: six changed, one more
    out = cli.fails(1, "verify", "models:/churn/1").stdout
    assert "f4.bin changed; and 1 more; recorded sha256:" in out
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


A, B = "a" * 64, "b" * 64


def _statement(**changes: Any) -> dict[str, Any]:
    statement = Listing.of([FileDigest("w.bin", A), FileDigest("x/y", B)]).to_statement("m")
    statement.update(changes)
    return statement


def _predicate(**changes: Any) -> dict[str, Any]:
    statement = _statement()
    statement["predicate"].update(changes)
    return statement


def _refused(data: object) -> str:
    with pytest.raises(InvalidParameter) as refused:
        Listing.from_statement(data)
    return str(refused.value.message)


def test_a_statement_that_is_not_model_signings_is_refused_with_the_reason() -> None:
    assert _refused([]) == "the statement is not a JSON object"
    assert _refused(_statement(_type="x")) == f"not an in-toto statement ({IN_TOTO_STATEMENT})"
    long_type = "p" * 100
    assert _refused(_statement(predicateType=long_type)) == (
        f"predicate type {'p' * 80!r} is not model-signing's {PREDICATE_TYPE}"
    )
    assert _refused(_statement(predicate=[])) == "predicate is not a JSON object"
    assert _refused(_predicate(serialization=None)) == (
        "predicate.serialization is not a JSON object"
    )
    shards = {"method": "shards", "hash_type": "sha256"}
    assert _refused(_predicate(serialization=shards)) == (
        "serialization 'shards' with 'sha256': gitreg pins sha256 digests of whole files "
        "(model-signing's default: method files, hash_type sha256)"
    )
    blake = {"method": "files", "hash_type": "blake2"}
    assert _refused(_predicate(serialization=blake)).startswith(
        "serialization 'files' with 'blake2'"
    )


def test_resources_and_subject_are_checked() -> None:
    too_many = "predicate.resources is not a list of at most 100,000 files"
    assert _refused(_predicate(resources={})) == too_many
    assert _refused(_predicate(resources=[None] * 100_001)) == too_many
    assert _refused(_predicate(resources=[None])) == "a resource is not a JSON object"
    md5 = {"name": "n" * 300, "algorithm": "md5", "digest": A}
    assert _refused(_predicate(resources=[md5])) == (
        f"resource {'n' * 200!r} is not a sha256 digest of a named file"
    )
    for bad in (
        {"name": 1, "algorithm": "sha256", "digest": A},
        {"name": "w", "algorithm": "sha256", "digest": 1},
    ):
        assert _refused(_predicate(resources=[bad])).endswith(
            "is not a sha256 digest of a named file"
        )
    one = "a model-signing statement has exactly one subject"
    subject = _statement()["subject"][0]
    assert _refused(_statement(subject=subject)) == one
    assert _refused(_statement(subject=[subject, subject])) == one
    assert _refused(_statement(subject=["m"])) == "subject is not a JSON object"
    assert _refused(_statement(subject=[{"name": "m"}])) == "subject.digest is not a JSON object"
    other = [{"name": "m", "digest": {"sha256": B}}]
    assert _refused(_statement(subject=other)) == (
        "the subject's digest is not the digest of the files the statement lists"
    )


def test_a_statement_of_one_file_reads_back_as_that_file() -> None:
    """model-signing names a one-file model's resource ``.``: its digest is the file's own
    SHA-256; a directory's is the digest of its files' digests."""
    single = Listing.of([FileDigest(".", A)], single=True)
    back = Listing.from_statement(single.to_statement("m"))
    assert back.single
    assert back.digest == "sha256:" + A
    directory = Listing.from_statement(_statement())
    assert not directory.single
    assert directory.digest == "sha256:" + hashlib.sha256(bytes.fromhex(A + B)).hexdigest()
    assert [f.path for f in directory.files] == ["w.bin", "x/y"]


def test_a_listing_says_what_is_wrong_with_a_file() -> None:
    def why(files: list[FileDigest], single: bool = False) -> str:
        with pytest.raises(InvalidParameter) as refused:
            Listing.of(files, single=single)
        return str(refused.value.message)

    one = "a single-file artifact lists exactly one file, named '.'"
    assert why([FileDigest("w", A)], single=True) == one
    assert why([FileDigest(".", A), FileDigest(".", A)], single=True) == one
    assert why([FileDigest("w", A), FileDigest("w", B)]) == "artifact file 'w': listed twice"
    assert why([FileDigest("w", "A" * 64)]) == "artifact file 'w': no SHA-256 in hex"
    assert why([FileDigest(".", "a" * 63)], single=True) == "artifact file '.': no SHA-256 in hex"
    assert why([FileDigest("/" + "p" * 300, A)]) == (
        f"artifact file {'/' + 'p' * 199!r}: a path that starts or ends with /"
    )


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("", "an empty or overlong path"),
        ("p" * 4097, "an empty or overlong path"),
        ("p" * 4096, None),
        ("/a", "a path that starts or ends with /"),
        ("a/", "a path that starts or ends with /"),
        ("a//b", "a path with an empty, . or .. component"),
        ("a/./b", "a path with an empty, . or .. component"),
        ("../a", "a path with an empty, . or .. component"),
        ("a\x1fb", "a path with a control character"),
        ("a\x7fb", "a path with a control character"),
        ("a b/\u00e9~", None),
    ],
)
def test_a_path_problem_is_named(path: str, why: str | None) -> None:
    assert path_problem(path) == why


def test_a_digest_is_read_in_canonical_form_or_refused_with_the_form_to_write() -> None:
    """A digest given to ``gitreg register --digest``: upper case and spaces around are
    folded; anything else is refused with the form a digest takes, quoting at most 80
    characters of what was given."""
    assert parse_digest(f"  SHA256:{A.upper()} ") == "sha256:" + A
    fix = (
        "; write sha256: and the 64 hex digits of the artifact's SHA-256 (a directory's as "
        "model-signing computes it), e.g. "
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    )
    for given, shown in (("md5:0123", "'md5:0123'"), ("x" * 100, repr("x" * 80)), (5, "'5'")):
        with pytest.raises(InvalidParameter) as refused:
            parse_digest(given)
        assert refused.value.message == f"digest {shown} is not a digest{fix}"
    with pytest.raises(InvalidParameter) as refused:
        parse_digest(None, "versions[0].digest")
    assert str(refused.value.message).startswith("versions[0].digest 'None' is not a digest;")


def test_the_git_files_at_the_top_of_a_model_are_left_out() -> None:
    """As model-signing: ``.git``, ``.gitattributes``, ``.github`` and ``.gitignore`` at the
    top of the tree, with everything under them (an object store lists whole keys); the
    same names deeper in the tree are the model's."""
    for path in (".git", ".git/HEAD", ".github/workflows/ci.yml", ".gitignore", ".gitattributes"):
        assert is_ignored(path), path
    for path in ("a/.git/HEAD", "a/.gitignore", ".gitmodules", "git/x", "x .git/y"):
        assert not is_ignored(path), path


def test_a_statement_of_exactly_the_most_files_is_read() -> None:
    """100,000 files is the most a listing holds: a statement of that many reads back."""
    listing = Listing.of([FileDigest(f"f{i}", A) for i in range(100_000)])
    assert len(Listing.from_statement(listing.to_statement("m")).files) == 100_000
