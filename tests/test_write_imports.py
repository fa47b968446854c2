"""A CLI write loads what a write needs and nothing else (#26).

As tests/test_imports.py does for reads: each case runs the CLI in a fresh interpreter and
looks at ``sys.modules`` afterwards, so the assertion is about behaviour (what a command
loads), never about time; bench/run.py times cold writes against cold ``resolve``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitreg import Registry
from tests._helpers import modules_after

# What a register, a transition or an alias never needs on a registry without a remote:
# GitPython, either JSON Schema engine (the plain check vouches for what changed), an
# HTTP or TLS stack, the catalog's templates, the gate, delivery, MLflow's plugin, search,
# and (without a remote) the promotion requests.
NOT_FOR_WRITES = (
    "git",
    "gitdb",
    "jsonschema",
    # Nor the compiled one for what a write changes in a manifest of the plain shape gitreg
    # writes (core.plain_manifest, #26); validate and whole-manifest checks still use it.
    "jsonschema_rs",
    "http.client",
    "urllib3",
    "requests",
    "ssl",
    "jinja2",
    "gitreg.site",
    "gitreg.gate",
    "gitreg.integrations.notify",
    "gitreg.integrations.http",
    "gitreg.mlflow",
    "gitreg.core.search",
    # On a registry without a remote nothing is reviewed: no forge, no request branch.
    "gitreg.services.promotion",
    "gitreg.integrations.forges",
    "gitreg.store.proposal",
)


@pytest.fixture
def written_repo(registry_repo: Path, registry: Registry) -> Path:
    """A model gitreg wrote itself, so that the writes below take the flat path."""
    for k in range(3):
        registry.create_model_version("churn", f"s3://models/churn/{k}")
    return registry_repo


WRITES = {
    # A local artifact: gitreg reads it for its digest (#28); reading s3:// loads boto3's
    # HTTP stack, which a write to a bucket's model does need.
    "register": ["register", "churn", "ARTIFACT"],
    "transition": ["transition", "churn", "2", "Staging"],
    "alias": ["alias", "churn", "champion", "2"],
}


@pytest.mark.parametrize("command", sorted(WRITES))
def test_a_write_loads_only_what_it_needs(tmp_path: Path, written_repo: Path, command: str) -> None:
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"weights")
    args = [str(artifact) if arg == "ARTIFACT" else arg for arg in WRITES[command]]
    before = Registry(written_repo).get_registered_model("churn")
    modules = modules_after(tmp_path, *args, "--repo", str(written_repo))
    assert Registry(written_repo).get_registered_model("churn") != before  # it wrote
    assert "gitreg.services.flat" in modules  # the write path this is about
    loaded = sorted(m for m in NOT_FOR_WRITES if m in modules)
    assert loaded == [], f"gitreg {command} loaded {loaded}"
