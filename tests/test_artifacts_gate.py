"""The gate and the audit on digests and signatures (#28), with real git and real keys.

``main`` holds a registry whose policy requires, to enter Production, a digest and a
model-signing signature by ``keys/release.pub``; version 1 of ``churn`` (a real directory,
its digest recorded at registration) waits in Staging. Each test branches ``pr`` off it
and changes what a pull request would, then asks ``gitreg validate --base main``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gitreg import Registry
from gitreg.core.config import DEFAULT_CONFIG_TEXT
from gitreg.gate.scaffold import init_registry
from gitreg.integrations.artifacts import read_artifact
from gitreg.integrations.artifacts.signing import BadSignature, sign_listing, verify_bundle
from tests._helpers import Cli, git, head
from tests._pr import commit, edit, write

POLICY = DEFAULT_CONFIG_TEXT.replace(
    "  requirements: {}\n",
    "  requirements:\n    Production:\n      digest: true\n      signed_by: [keys/release.pub]\n",
)
SIG = "artifacts/churn/1.sig"


def make_key(directory: Path, name: str) -> tuple[bytes, bytes]:
    """A P-256 key pair as model-signing uses: (private PEM, public PEM), also on disk."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (directory / f"{name}.pem").write_bytes(private)
    (directory / f"{name}.pub").write_bytes(public)
    return private, public


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Any]:
    keys = tmp_path / "keys"
    keys.mkdir()
    release, release_pub = make_key(keys, "release")
    other, _ = make_key(keys, "other")
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"the weights")
    (model / "config.json").write_bytes(b"{}")
    root = tmp_path / "registry"
    init_registry(root)
    write(root, "gitreg.yaml", POLICY)
    write(root, "keys/release.pub", release_pub.decode())
    commit(root, "Policy and key")
    registry = Registry(root)
    registry.create_model_version("churn", str(model))
    registry.transition_model_version_stage("churn", 1, "Staging")
    git(root, "switch", "-q", "-c", "pr")
    return {
        "root": root,
        "model": model,
        "release": release,
        "other": other,
        "keys": keys,
        "digest": registry.get_model_version("churn", 1).digest,
    }


def promote(root: Path) -> None:
    edit(root, "models/churn.yaml", "stage: Staging", "stage: Production")


def validate(root: Path, code: int) -> str:
    result = Cli(root).fails(code, "validate", "--base", "main")
    return result.stdout + result.stderr


def test_a_merged_digest_cannot_change(setup: dict[str, Any]) -> None:
    root = setup["root"]
    edit(root, "models/churn.yaml", setup["digest"], "sha256:" + "0" * 64)
    out = validate(root, 1)
    assert "IMMUTABLE_FIELD" in out
    assert "digest of version 1 changed" in out


def test_a_digest_cannot_be_added_to_a_merged_version_either(setup: dict[str, Any]) -> None:
    root = setup["root"]
    edit(root, "models/churn.yaml", f"    digest: {setup['digest']}\n", "")
    commit(root, "drop it")
    git(root, "switch", "-q", "main")
    git(root, "merge", "-q", "pr")
    git(root, "switch", "-q", "-c", "pr2")
    edit(
        root,
        "models/churn.yaml",
        "    stage: Staging",
        f"    digest: {setup['digest']}\n    stage: Staging",
    )
    assert "IMMUTABLE_FIELD" in validate(root, 1)


def test_production_without_a_signature_is_refused(setup: dict[str, Any]) -> None:
    promote(setup["root"])
    out = validate(setup["root"], 1)
    assert "REQUIREMENT_UNMET" in out
    assert f"{SIG} is missing" in out


def test_a_signed_version_enters_production(setup: dict[str, Any]) -> None:
    root = setup["root"]
    listing = read_artifact(str(setup["model"])).listing
    write(root, SIG, sign_listing(listing, "churn", setup["release"], None).decode())
    promote(root)
    Cli(root).ok("validate", "--base", "main")


def test_a_signature_by_model_signing_itself_is_accepted(setup: dict[str, Any]) -> None:
    from model_signing import signing

    bundle = setup["keys"] / "model.sig"
    signing.Config().use_elliptic_key_signer(private_key=setup["keys"] / "release.pem").sign(
        setup["model"], bundle
    )
    root = setup["root"]
    # Kept on the pull request's branch, once gitreg checked that it signs the digest.
    assert Cli(root).ok("sign", "churn", "1", "--bundle", str(bundle)).stdout.strip() == SIG
    assert git(root, "log", "-1", "--format=%s").startswith("Attach a signature")
    promote(root)
    Cli(root).ok("validate", "--base", "main")


def test_a_signature_by_an_unlisted_key_is_refused(setup: dict[str, Any]) -> None:
    root = setup["root"]
    listing = read_artifact(str(setup["model"])).listing
    write(root, SIG, sign_listing(listing, "churn", setup["other"], None).decode())
    promote(root)
    out = validate(root, 1)
    assert "does not verify" in out
    assert "not signed by keys/release.pub" in out


def test_a_pull_request_cannot_bring_its_own_key(setup: dict[str, Any]) -> None:
    """Replacing keys/release.pub in the pull request changes nothing: the base's key judges."""
    root = setup["root"]
    write(root, "keys/release.pub", (setup["keys"] / "other.pub").read_text())
    listing = read_artifact(str(setup["model"])).listing
    write(root, SIG, sign_listing(listing, "churn", setup["other"], None).decode())
    promote(root)
    assert "not signed by keys/release.pub" in validate(root, 1)


def test_a_signature_of_another_digest_is_refused(setup: dict[str, Any], tmp_path: Path) -> None:
    root = setup["root"]
    elsewhere = tmp_path / "another"
    elsewhere.mkdir()
    (elsewhere / "weights.bin").write_bytes(b"other weights")
    listing = read_artifact(str(elsewhere)).listing
    write(root, SIG, sign_listing(listing, "churn", setup["release"], None).decode())
    promote(root)
    out = validate(root, 1)
    assert "covers sha256:" in out
    assert f"not the version's digest {setup['digest']}" in out


def test_gitreg_sign_and_verify_check_the_signature_again(setup: dict[str, Any]) -> None:
    root = setup["root"]
    cli = Cli(root)
    git(root, "switch", "-q", "main")
    refused = cli.fails(1, "transition", "churn", "1", "Production")
    assert f"{SIG} is missing" in refused.stderr
    assert cli.ok("sign", "churn", "1", "--key", str(setup["keys"] / "release.pem")).stdout
    cli.ok("transition", "churn", "1", "Production")
    assert "signed by keys/release.pub" in cli.ok("verify", "models:/churn/Production").stdout
    listing = read_artifact(str(setup["model"])).listing
    (root / SIG).write_bytes(sign_listing(listing, "churn", setup["other"], None))
    out = cli.fails(1, "verify", "models:/churn/Production").stdout
    assert "signature: it is not signed by keys/release.pub" in out


def test_the_audit_judges_signatures_by_the_keys_it_trusts(setup: dict[str, Any]) -> None:
    """A direct push that swaps the key, signs with its own and promotes is reported."""
    root = setup["root"]
    git(root, "switch", "-q", "main")
    start = head(root)
    write(root, "keys/release.pub", (setup["keys"] / "other.pub").read_text())
    listing = read_artifact(str(setup["model"])).listing
    write(root, SIG, sign_listing(listing, "churn", setup["other"], None).decode())
    promote(root)
    commit(root, "Promote churn")
    report = Registry(root).audit(start)
    codes = {v.finding.code for v in report.violations}
    assert "REQUIREMENT_UNMET" in codes
    messages = " ".join(v.finding.message for v in report.violations)
    assert "not signed by keys/release.pub" in messages
    assert any(v.finding.path == "keys/release.pub" for v in report.violations)


def test_the_audit_accepts_a_signature_by_a_trusted_key(setup: dict[str, Any]) -> None:
    root = setup["root"]
    git(root, "switch", "-q", "main")
    start = head(root)
    listing = read_artifact(str(setup["model"])).listing
    write(root, SIG, sign_listing(listing, "churn", setup["release"], None).decode())
    promote(root)
    commit(root, "Promote churn")
    report = Registry(root).audit(start)
    # Without a forge, the move is an unverified protected change: nothing about signing.
    assert {v.finding.code for v in report.violations} == {"UNVERIFIED"}


def test_without_the_signing_extra_the_gate_fails_closed(setup: dict[str, Any]) -> None:
    root = setup["root"]
    listing = read_artifact(str(setup["model"])).listing
    write(root, SIG, sign_listing(listing, "churn", setup["release"], None).decode())
    promote(root)
    program = (
        "import sys; sys.modules['cryptography'] = None\n"
        "from gitreg.cli import main\n"
        f"sys.exit(main(['validate', '--base', 'main', '--repo', {str(root)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "pip install 'gitreg-ml[signing]'" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------- agreement with model-signing


def model_signing_accepts(bundle: Path, public: Path) -> bool:
    from model_signing._signing import sign_ec_key, sign_sigstore_pb

    try:
        sign_ec_key.Verifier(public).verify(sign_sigstore_pb.Signature.read(bundle))
    except Exception:
        return False
    return True


def gitreg_accepts(bundle: Path, public: Path) -> bool:
    try:
        verify_bundle(bundle.read_bytes(), {"keys/k.pub": public.read_bytes()})
    except BadSignature:
        return False
    return True


def test_gitreg_and_model_signing_agree_on_bundles(setup: dict[str, Any]) -> None:
    from model_signing import signing

    keys, model = setup["keys"], setup["model"]
    release, other = keys / "release.pub", keys / "other.pub"
    theirs = keys / "theirs.sig"
    signing.Config().use_elliptic_key_signer(private_key=keys / "release.pem").sign(model, theirs)
    ours = keys / "ours.sig"
    ours.write_bytes(sign_listing(read_artifact(str(model)).listing, "m", setup["release"], None))
    data = json.loads(theirs.read_text())
    tampered = keys / "tampered.sig"
    payload = data["dsseEnvelope"]["payload"]
    data["dsseEnvelope"]["payload"] = (
        payload[:-8] + ("A" if payload[-8] != "A" else "B") + payload[-7:]
    )
    tampered.write_text(json.dumps(data))
    hinted = keys / "hinted.sig"
    data = json.loads(theirs.read_text())
    data["verificationMaterial"]["publicKey"]["hint"] = "0" * 64
    hinted.write_text(json.dumps(data))
    cases = [(theirs, release), (theirs, other), (ours, release), (ours, other)]
    cases += [(tampered, release), (hinted, release)]
    outcomes = [(gitreg_accepts(b, k), model_signing_accepts(b, k)) for b, k in cases]
    assert [g for g, _ in outcomes] == [m for _, m in outcomes]
    assert [g for g, _ in outcomes] == [True, False, True, False, False, False]


@pytest.mark.parametrize(
    ("bundle", "why"),
    [
        ("not json at all", "not JSON"),
        ('{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}', "no DSSE envelope"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),
        ('{"mediaType": "something/else"}', "not a model-signing bundle"),
    ],
)
def test_a_hostile_bundle_is_refused_cleanly(setup: dict[str, Any], bundle: str, why: str) -> None:
    root = setup["root"]
    write(root, SIG, bundle)
    promote(root)
    out = validate(root, 1)
    assert why in out
    git(root, "stash", "-q", "--include-untracked")
    garbage = setup["keys"] / "garbage.sig"
    garbage.write_text(bundle)
    before = head(root)
    refused = Cli(root).fails(1, "sign", "churn", "1", "--bundle", str(garbage))
    assert "cannot be kept" in refused.stderr
    assert head(root) == before


def test_sign_with_a_password_protected_key(setup: dict[str, Any], monkeypatch: Any) -> None:
    root = setup["root"]
    key = serialization.load_pem_private_key(setup["release"], None)
    locked = setup["keys"] / "locked.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    cli = Cli(root)
    assert "password" in cli.fails(1, "sign", "churn", "1", "--key", str(locked)).stderr.lower()
    monkeypatch.setenv("RELEASE_KEY_PASSWORD", "s3cret")
    cli.ok("sign", "churn", "1", "--key", str(locked), "--password-env", "RELEASE_KEY_PASSWORD")
    promote(root)
    cli.ok("validate", "--base", "main")


def test_production_without_a_digest_is_refused_where_the_policy_asks(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    init_registry(root)
    write(
        root,
        "gitreg.yaml",
        DEFAULT_CONFIG_TEXT.replace(
            "  requirements: {}\n", "  requirements:\n    Production: {digest: true}\n"
        ),
    )
    commit(root, "Production needs a digest")
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights")
    registry = Registry(root)
    registry.create_model_version("churn", "gs://unread/churn/1")  # no digest: unreadable
    registry.create_model_version("churn", str(weights))
    git(root, "switch", "-q", "-c", "pr")
    edit(root, "models/churn.yaml", "stage: None", "stage: Production", count=1)
    out = validate(root, 1)
    assert "REQUIREMENT_UNMET" in out
    assert "a digest of the artifact is required" in out
    git(root, "checkout", "-q", "--", ".")
    refused = Cli(root).fails(1, "transition", "churn", "1", "Production")
    assert "a digest of the artifact is required" in refused.stderr
    assert git(root, "status", "--porcelain") == ""
    Cli(root).ok("transition", "churn", "2", "Production")  # it has one: it may enter
    Cli(root).ok("validate", "--base", "main")
