"""model-signing signature bundles: verified offline against public keys, and made (#28).

A bundle is what ``model_signing sign key`` writes (model-signing v1.x, key-based): a
Sigstore bundle (media type v0.3) holding a DSSE envelope whose payload is the in-toto
statement of the model's files (``core.digest.Listing.to_statement``), signed with ECDSA
(P-256, P-384 or P-521, as model-signing supports) over the DSSE pre-authentication
encoding. Verification here is model-signing's key verifier, done with ``cryptography``
directly so that it runs in the gate without Sigstore's dependencies or the network:
the same checks, in the same order (a public-key hint that names another key fails, the
signature must verify, the statement must be model-signing's and consistent), and a test
holds the two to the same answers. Keyless (Sigstore) bundles need the network and are
not accepted here.

``cryptography`` is the ``signing`` extra; without it nothing is verified and every check
fails closed (``SigningUnavailable``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitreg.core.config import SignatureCheck
from gitreg.core.digest import Listing, bundle_path
from gitreg.core.entities import ModelVersion
from gitreg.core.errors import GitregError, InvalidParameter, SigningUnavailable

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_BUNDLE_BYTES = 32 * 1024 * 1024
MAX_KEY_BYTES = 64 * 1024
_CURVES = {"secp256r1": "SHA256", "secp384r1": "SHA384", "secp521r1": "SHA512"}


class BadSignature(ValueError):
    """The bundle does not verify, or does not say what it must; the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class Verified:
    """A bundle that verified: the key that signed it, and the files it signs."""

    key: str
    listing: Listing


def pae(payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of an in-toto payload (what is signed)."""
    head = f"DSSEv1 {len(PAYLOAD_TYPE)} {PAYLOAD_TYPE} {len(payload)} "
    return head.encode() + payload


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization

        return serialization
    except ImportError:
        raise SigningUnavailable(
            "checking or making model-signing signatures needs the signing extra: "
            "pip install 'gitreg-ml[signing]' (until then, a policy's signed_by refuses "
            "every version)"
        ) from None


def key_hint(public_key: Any) -> str:
    """model-signing's hint for a key: SHA-256 (hex) of its SubjectPublicKeyInfo PEM."""
    serialization = _crypto()
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(pem).hexdigest()


def load_public_key(pem: bytes, where: str) -> Any:
    """An EC public key model-signing can use, from PEM.

    Raises:
        BadSignature: it is not PEM, not EC, or on a curve model-signing does not support.
    """
    serialization = _crypto()
    from cryptography.hazmat.primitives.asymmetric import ec

    if len(pem) > MAX_KEY_BYTES:
        raise BadSignature(f"{where} is larger than a public key")
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as e:
        raise BadSignature(f"{where} is not a PEM public key ({e})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVES:
        raise BadSignature(
            f"{where} is not an elliptic-curve key on P-256, P-384 or P-521 (the keys "
            "model-signing signs with)"
        )
    return key


def _verify_with(key: Any, signature: bytes, payload: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    algorithm = getattr(hashes, _CURVES[key.curve.name])()
    try:
        key.verify(signature, pae(payload), ec.ECDSA(algorithm))
    except InvalidSignature:
        return False
    return True


@dataclasses.dataclass(frozen=True, slots=True)
class _Envelope:
    payload: bytes
    signature: bytes
    hint: str | None


def _parse(bundle: bytes) -> _Envelope:
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise BadSignature(f"the bundle is larger than {MAX_BUNDLE_BYTES // 2**20} MiB")
    try:
        data = json.loads(bundle)
    except (ValueError, RecursionError) as e:
        raise BadSignature(f"the bundle is not JSON ({str(e)[:80]})") from None
    if not isinstance(data, Mapping) or data.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise BadSignature(
            f"not a model-signing bundle (media type {BUNDLE_MEDIA_TYPE}): sign with "
            "model_signing sign key, or gitreg sign --key"
        )
    envelope = data.get("dsseEnvelope")
    material = data.get("verificationMaterial")
    if not isinstance(envelope, Mapping) or not isinstance(material, Mapping):
        raise BadSignature("the bundle has no DSSE envelope or no verification material")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise BadSignature(f"the envelope's payload is not {PAYLOAD_TYPE}")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures or not isinstance(signatures[0], Mapping):
        raise BadSignature("the envelope holds no signature")
    public_key = material.get("publicKey")
    hint = public_key.get("hint") if isinstance(public_key, Mapping) else None
    if "certificate" in material or "x509CertificateChain" in material:
        raise BadSignature(
            "the bundle is signed with a certificate (keyless Sigstore or a PKI); the gate "
            "checks key-based signatures only, offline"
        )
    return _Envelope(
        _b64(envelope.get("payload"), "payload"),
        _b64(signatures[0].get("sig"), "signature"),
        hint if isinstance(hint, str) and hint else None,
    )


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise BadSignature(f"the envelope's {what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature(f"the envelope's {what} is not base64") from None


def verify_bundle(bundle: bytes, keys: Mapping[str, bytes | None]) -> Verified:
    """The key (of ``keys``: path -> PEM, None if absent) that signed ``bundle``, and its files.

    Raises:
        BadSignature: no listed key verifies it, or its statement is not a model-signing one.
        SigningUnavailable: ``cryptography`` is not installed.
    """
    _crypto()
    envelope = _parse(bundle)
    why: list[str] = []
    for path, pem in keys.items():
        if pem is None:
            why.append(f"{path} is not in the registry")
            continue
        try:
            key = load_public_key(pem, path)
        except BadSignature as e:
            why.append(str(e))
            continue
        if envelope.hint is not None and envelope.hint != key_hint(key):
            continue  # model-signing refuses a key the bundle's hint does not name
        if _verify_with(key, envelope.signature, envelope.payload):
            return Verified(path, _listing(envelope.payload))
    names = " or ".join(keys) or "no key"
    raise BadSignature(f"it is not signed by {names}" + (f" ({'; '.join(why)})" if why else ""))


def _listing(payload: bytes) -> Listing:
    try:
        return Listing.from_statement(json.loads(payload))
    except (ValueError, RecursionError) as e:
        raise BadSignature(f"the signed payload is not JSON ({str(e)[:80]})") from None
    except InvalidParameter as e:
        raise BadSignature(f"the signed statement: {e.message}") from None


def sign_listing(listing: Listing, name: str, private_pem: bytes, password: bytes | None) -> bytes:
    """A bundle that signs ``listing`` (as model-signing's key signer makes one).

    Raises:
        SigningUnavailable: ``cryptography`` is not installed.
        InvalidParameter: the key is not an EC private key model-signing supports.
    """
    serialization = _crypto()
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_private_key(private_pem, password)
    except (ValueError, TypeError) as e:
        raise InvalidParameter(f"the signing key is not a PEM private key ({e})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVES:
        raise InvalidParameter(
            "the signing key is not an elliptic-curve key on P-256, P-384 or P-521 (make one: "
            "openssl ecparam -name prime256v1 -genkey -noout -out release.pem)"
        )
    payload = json.dumps(listing.to_statement(name), indent=2).encode()
    algorithm = getattr(hashes, _CURVES[key.curve.name])()
    signature = key.sign(pae(payload), ec.ECDSA(algorithm))
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": key_hint(key.public_key())},
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        },
    }
    return (json.dumps(bundle, indent=2) + "\n").encode()


# ------------------------------------------------------------------ the policy's check


def signature_problems(
    mv: ModelVersion,
    keys: Sequence[str],
    read_key: Callable[[str], bytes | None],
    read_bundle: Callable[[str], bytes | None],
) -> list[str]:
    """Why ``mv`` is not signed as ``keys`` require (empty: it is).

    The bundle must verify against one of ``keys`` (read by ``read_key`` from trusted
    history) and sign exactly the recorded digest.
    """
    where = bundle_path(mv.name, mv.version)
    if not mv.digest:
        return [f"a signature by {' or '.join(keys)} is required, and it needs a digest to cover"]
    bundle = read_bundle(where)
    if bundle is None:
        return [
            f"a signature by {' or '.join(keys)} is required: {where} is missing (gitreg sign "
            f"{mv.name} {mv.version} --key KEY.pem, or --bundle FILE from model_signing sign)"
        ]
    try:
        verified = verify_bundle(bundle, {k: read_key(k) for k in keys})
    except BadSignature as e:
        return [f"{where} does not verify: {e}"]
    except GitregError as e:
        return [f"{where} cannot be checked: {e.message}"]
    if verified.listing.digest != mv.digest:
        return [
            f"{where} is signed by {verified.key} but covers {verified.listing.digest}, not "
            f"the version's digest {mv.digest}"
        ]
    return []


def signing_check(
    read_key: Callable[[str], bytes | None], read_bundle: Callable[[str], bytes | None]
) -> SignatureCheck:
    """The ``SignatureCheck`` a policy binds (``Policy.with_signing``): keys from
    ``read_key`` (trusted history), bundles from ``read_bundle`` (the change's side)."""

    def check(mv: ModelVersion, keys: tuple[str, ...]) -> list[str]:
        return signature_problems(mv, keys, read_key, read_bundle)

    return check


def statement_of(bundle: bytes) -> Listing:
    """The files a bundle signs, read without checking who signed it (the gate does that,
    against the keys its base trusts).

    Raises:
        BadSignature: it is not a model-signing bundle of a model-signing statement.
    """
    return _listing(_parse(bundle).payload)
