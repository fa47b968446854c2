"""Model names as MLflow has them, stored under portable file names (issue 16).

The manifest's ``name:`` is the truth; ``models/<file stem>.yaml`` is a reversible encoding
that is safe on Linux, macOS and Windows. These tests use real registries and real files.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitreg import Registry
from gitreg.core.errors import InvalidParameter, ModelAlreadyExists
from gitreg.core.names import (
    MAX_STEM_BYTES,
    branch_component,
    check_name,
    file_stem,
    name_of_branch_component,
    name_of_stem,
)
from gitreg.gate.review import check_registry
from tests._helpers import Cli, git

WINDOWS_FORBIDDEN = set('<>:"/\\|?*') | {chr(c) for c in range(32)}


def _portable(stem: str) -> bool:
    """What Linux, macOS and Windows all accept as a file name (before '.yaml')."""
    return (
        bool(stem)
        and not (set(stem) & WINDOWS_FORBIDDEN)
        and not stem.startswith((".", "-"))
        and not stem.endswith((".", " "))
        and stem.split(".")[0].rstrip(" ").lower() not in {"con", "prn", "aux", "nul"}
        and not any(
            stem.split(".")[0].lower() == f"{p}{d}" for p in ("com", "lpt") for d in "123456789"
        )
        and len(stem.encode()) <= MAX_STEM_BYTES
        and unicodedata.normalize("NFC", stem) == stem
    )


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("churn", "churn"),
        ("Churn Model 2", "Churn Model 2"),
        ("modèle-fraude", "modèle-fraude"),
        ("日本語モデル", "日本語モデル"),
        ("con", "%63on"),
        ("NUL.v2", "%4EUL.v2"),
        ("com1", "%63om1"),
        (".hidden", "%2Ehidden"),
        ("-rf", "%2Drf"),
        ("trailing.", "trailing%2E"),
        ("trailing ", "trailing%20"),
        ("50% off", "50%25 off"),
        ('say "hi" <now>?', "say %22hi%22 %3Cnow%3E%3F"),
        ("e\u0301t\u00e9", "e%CC%81t%C3%A9"),  # not NFC: every non-ASCII character encoded
    ],
)
def test_file_stems_are_readable_portable_and_reversible(name, stem):
    assert file_stem(name) == stem
    assert name_of_stem(stem) == name
    assert _portable(stem)


@given(st.text(min_size=1, max_size=60))
def test_every_valid_name_round_trips_through_a_portable_file_name(name):
    try:
        check_name(name)
    except InvalidParameter:
        return
    stem = file_stem(name)
    assert _portable(stem), stem
    assert name_of_stem(stem) == name


@pytest.mark.parametrize("stem", ["con", "a%2", "%C3", "a%41", ".x", "x.", "%2f", "a%2Fb"])
def test_a_stem_that_no_name_encodes_to_is_refused(stem):
    assert name_of_stem(stem) is None


@pytest.mark.parametrize(
    "name", ["", "   ", "a/b", "x:y", "..", ".", "../up", "a\nb", "tab\there", "nul\0", "x" * 257]
)
def test_names_mlflow_refuses_or_that_would_break_a_file_are_refused(name):
    with pytest.raises(InvalidParameter):
        check_name(name)


def test_a_name_whose_file_name_would_be_too_long_is_refused_with_the_reason():
    with pytest.raises(InvalidParameter, match="exceed 250 bytes"):
        check_name("é" * 200)
    check_name("é" * 125)


def test_request_branch_components_are_ascii_and_reversible():
    for name in ["Churn Model 2", "modèle~1", "a..b", "x@{y}", "-rf"]:
        component = branch_component(name)
        assert component.isascii()
        assert " " not in component
        assert ".." not in component
        assert name_of_branch_component(component) == name


@pytest.mark.parametrize("name", ["Churn Model 2", "modèle-fraude", "con", "a@b", "50% off"])
def test_a_model_with_any_mlflow_name_lives_a_full_life(registry, registry_repo, name):
    mv = registry.create_model_version(name, "s3://m/1", tags={"team": "données"})
    registry.set_registered_model_alias(name, "champion", mv.version)
    assert registry.get_version_for_uri(f"models:/{name}@champion").source == "s3://m/1"
    assert registry.get_version_for_uri(f"models:/{name}/1").version == 1
    assert [m.name for m in registry.search_registered_models()] == [name]
    path = registry_repo / "models" / f"{file_stem(name)}.yaml"
    assert path.is_file()
    assert f"name: {name}" in path.read_text("utf-8") or f"name: '{name}'" in path.read_text(
        "utf-8"
    )
    assert check_registry(registry_repo).valid
    registry.rename_registered_model(name, f"{name} v2")
    assert not path.exists()
    assert registry.get_registered_model(f"{name} v2").versions[0].source == "s3://m/1"


def test_cli_takes_real_names(cli: Cli, registry_repo: Path):
    cli.ok("register", "Churn Model 2", "s3://m/1")
    cli.ok("alias", "Churn Model 2", "champion", "1")
    assert cli.ok("resolve", "models:/Churn Model 2@champion").stdout == "s3://m/1\n"
    shown = json.loads(cli.ok("show", "Churn Model 2", "--json").stdout)
    assert shown["registered_model"]["name"] == "Churn Model 2"
    assert (registry_repo / "models" / "Churn Model 2.yaml").is_file()


def test_names_are_unique_across_case_and_unicode_normal_forms(registry):
    registry.create_registered_model("Modèle")
    for other in ["modèle", "MODÈLE", unicodedata.normalize("NFD", "modèle")]:
        with pytest.raises(ModelAlreadyExists):
            registry.create_registered_model(other)


def test_validate_finds_a_file_that_is_not_its_names_encoding(registry, registry_repo):
    registry.create_model_version("con", "s3://m/1")
    git(registry_repo, "mv", "models/%63on.yaml", "models/con.yaml")
    git(registry_repo, "commit", "-qm", "rename by hand")
    codes = {f.code for f in check_registry(registry_repo).findings}
    assert "NAME_INVALID" in codes


def test_validate_finds_a_name_in_the_wrong_file(registry, registry_repo):
    registry.create_model_version("Churn Model", "s3://m/1")
    path = registry_repo / "models" / "Churn Model.yaml"
    path.write_text(path.read_text("utf-8").replace("name: Churn Model", "name: Churn-Model"))
    findings = check_registry(registry_repo).findings
    mismatch = [f for f in findings if f.code == "NAME_MISMATCH"]
    assert mismatch
    assert "models/Churn-Model.yaml" in mismatch[0].message


def test_validate_finds_names_that_collide_once_folded(registry, registry_repo):
    registry.create_model_version("Straße", "s3://m/1")
    other = registry_repo / "models" / "STRASSE.yaml"
    other.write_text(
        (registry_repo / "models" / "Straße.yaml").read_text("utf-8").replace("Straße", "STRASSE")
    )
    codes = [f.code for f in check_registry(registry_repo).findings]
    assert "NAME_CASE_CONFLICT" in codes


def test_a_reopened_registry_reads_encoded_names(registry_repo):
    Registry(registry_repo).create_model_version("nul", "s3://m/1")
    assert [m.name for m in Registry(registry_repo).search_registered_models()] == ["nul"]
