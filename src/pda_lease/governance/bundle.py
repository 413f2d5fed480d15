"""Signed policy bundles (spec §13.3): a compiled policy document, signed by a policy key.

A bundle is a tagged COSE_Sign1 like a lease token, with one difference that keeps the two
apart: its protected header names the content type ``application/vnd.pda-lease.policy+cbor``.
A token can never pass for a bundle, nor a bundle for a token, even under the same key.
Verification is pure (bytes and the trusted keys in, a ``VerifiedBundle`` or a ``BundleError``
out) and follows the pyca rule: it raises, it never returns a flag that can be ignored.
"""

from __future__ import annotations

import enum
from collections.abc import Collection

import attrs

from pda_lease.kernel import cbor
from pda_lease.kernel.crypto import (
    SIGNATURE_BYTES,
    Signer,
    cose_key_thumbprint,
    sha256,
    verify_signature,
)
from pda_lease.kernel.errors import PolicyError, ReasonedError, UsageError
from pda_lease.kernel.governance import GovernancePolicy
from pda_lease.kernel.token import ALG_ED25519, COSE_SIGN1_TAG, sig_structure

MAX_BUNDLE_BYTES = 2 * 1024 * 1024
MAX_BUNDLE_DEPTH = 16
CONTENT_TYPE = "application/vnd.pda-lease.policy+cbor"
_CONTENT_TYPE_LABEL = 3
_KID_LABEL = 4


class BundleFailure(enum.StrEnum):
    """Why a bundle was refused (spec §13.3), in the order the checks run."""

    TOO_LARGE = "TOO_LARGE"
    MALFORMED = "MALFORMED"
    UNTRUSTED_KEY = "UNTRUSTED_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    BAD_POLICY = "BAD_POLICY"
    # Refusals of the policy store (activation), not of the bundle's own content.
    ROLLBACK = "ROLLBACK"
    ISSUER_MISMATCH = "ISSUER_MISMATCH"
    NOT_STAGED = "NOT_STAGED"


class BundleError(ReasonedError[BundleFailure]):
    """A policy bundle was refused; ``reason`` says which check failed."""


@attrs.frozen
class VerifiedBundle:
    """A bundle whose signature verified under a trusted key and whose policy is valid."""

    policy: GovernancePolicy
    signer_kid: bytes
    bundle_digest: bytes  # H(bundle bytes): names this exact signed file

    @property
    def version(self) -> int:
        return self.policy.version

    @property
    def policy_digest(self) -> bytes:
        return self.policy.digest

    def to_json(self) -> dict[str, object]:
        return {
            "org": self.policy.org,
            "version": self.policy.version,
            "policy_digest": self.policy.digest.hex(),
            "bundle_digest": self.bundle_digest.hex(),
            "signer_kid": self.signer_kid.hex(),
        }


def protected_header(kid: bytes) -> bytes:
    """``det({1: -19, 3: content type, 4: kid})``."""
    return cbor.encode({1: ALG_ED25519, _CONTENT_TYPE_LABEL: CONTENT_TYPE, _KID_LABEL: kid})


def sign_bundle(signer: Signer, document: object) -> bytes:
    """Sign a compiled policy document. A document that breaks §13.1 is never signed."""
    if not isinstance(signer, Signer):
        raise UsageError("signer must provide public_key and sign(message)")
    GovernancePolicy.from_json(document)  # raises PolicyError: nothing invalid gets a signature
    payload = cbor.encode(document)
    protected = protected_header(cose_key_thumbprint(signer.public_key))
    signature = signer.sign(sig_structure(protected, payload))
    return cbor.encode(cbor.Tag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


def _refuse(reason: BundleFailure, detail: str) -> BundleError:
    return BundleError(reason, detail)


def _envelope(data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Strict decode and COSE shape: returns kid, protected, payload, signature."""
    try:
        outer = cbor.decode(data, max_depth=MAX_BUNDLE_DEPTH, allow_top_tag=True)
    except cbor.CborError as error:
        raise _refuse(BundleFailure.MALFORMED, f"not deterministic CBOR: {error.reason}") from None
    if (
        type(outer) is not cbor.Tag
        or outer.number != COSE_SIGN1_TAG
        or type(outer.content) is not list
        or len(outer.content) != 4
    ):
        raise _refuse(BundleFailure.MALFORMED, "not a tagged COSE_Sign1 structure")
    protected, unprotected, payload, signature = outer.content
    if (
        type(protected) is not bytes
        or unprotected != {}
        or type(payload) is not bytes
        or type(signature) is not bytes
    ):
        raise _refuse(BundleFailure.MALFORMED, "COSE_Sign1 members have the wrong types")
    try:
        header = cbor.decode(protected, max_depth=MAX_BUNDLE_DEPTH)
    except cbor.CborError as error:
        raise _refuse(BundleFailure.MALFORMED, f"protected header: {error.reason}") from None
    if type(header) is not dict or set(header) != {1, _CONTENT_TYPE_LABEL, _KID_LABEL}:
        raise _refuse(BundleFailure.MALFORMED, "protected header is not {alg, content type, kid}")
    kid = header[_KID_LABEL]
    if (
        header[1] != ALG_ED25519
        or header[_CONTENT_TYPE_LABEL] != CONTENT_TYPE
        or type(kid) is not bytes
        or len(kid) != 32
    ):
        raise _refuse(BundleFailure.MALFORMED, "not an Ed25519 policy bundle header")
    return kid, protected, payload, signature


def verify_bundle(data: bytes, trusted_keys: Collection[bytes]) -> VerifiedBundle:
    """Spec §13.3: the bundle's policy, if a trusted key signed it and it is valid.

    ``trusted_keys`` are Ed25519 public keys the caller already trusts (never one taken from
    the bundle). Raises ``BundleError``; the first failed check decides the reason.
    """
    if type(data) is not bytes:
        raise UsageError("a bundle is bytes")
    if isinstance(trusted_keys, (str, bytes)) or not all(
        type(key) is bytes and len(key) == 32 for key in trusted_keys
    ):
        raise UsageError("trusted_keys is a collection of 32-byte Ed25519 public keys")
    if len(data) > MAX_BUNDLE_BYTES:
        raise _refuse(BundleFailure.TOO_LARGE, f"a bundle is at most {MAX_BUNDLE_BYTES} bytes")
    kid, protected, payload, signature = _envelope(data)
    by_kid = {cose_key_thumbprint(key): key for key in trusted_keys}
    key = by_kid.get(kid)
    if key is None:
        raise _refuse(BundleFailure.UNTRUSTED_KEY, f"kid {kid.hex()} is not a trusted policy key")
    if len(signature) != SIGNATURE_BYTES or not verify_signature(
        key, sig_structure(protected, payload), signature
    ):
        raise _refuse(BundleFailure.BAD_SIGNATURE, "the signature does not verify")
    try:
        document = cbor.decode(payload, max_depth=MAX_BUNDLE_DEPTH)
        policy = GovernancePolicy.from_json(document)
    except cbor.CborError as error:
        raise _refuse(BundleFailure.BAD_POLICY, f"payload: {error.reason}") from None
    except PolicyError as error:
        raise _refuse(BundleFailure.BAD_POLICY, str(error)) from None
    return VerifiedBundle(policy, kid, sha256(data))
