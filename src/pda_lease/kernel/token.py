"""The lease token (spec §6) and its verification (spec §7).

A token is a tagged COSE_Sign1 (RFC 9052) with alg Ed25519 (-19, RFC 9864) and the issuer's
RFC 9679 thumbprint as ``kid``, both in the protected header; its payload is a CWT claims map
(RFC 8392) with the holder key in ``cnf`` (RFC 8747). Every part is deterministic CBOR, so the
token bytes are a function of the decision inputs, and verification accepts only those bytes:
any other encoding of the same claims is refused.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

import attrs

from pda_lease.kernel import cbor, model
from pda_lease.kernel.catalog import Code, Deny, deny
from pda_lease.kernel.crypto import (
    SIGNATURE_BYTES,
    Signer,
    cose_key_thumbprint,
    verify_signature,
)
from pda_lease.kernel.errors import InvalidLease, UsageError
from pda_lease.kernel.inputs import (
    EPOCH_PATTERN,
    HEX64_PATTERN,
    IDENTIFIER_PATTERN,
    PRINTABLE_PATTERN,
    SENSITIVITIES,
    UINT63_MAX,
    Constraints,
    MonotonicTime,
    Sensitivity,
)
from pda_lease.kernel.model import Failure, Field

MAX_TOKEN_BYTES = 4096
MAX_TOKEN_DEPTH = 8
TOKEN_FORMAT_VERSION = 1
LEASE_ID_BYTES = 16
ALG_ED25519 = -19
COSE_SIGN1_TAG = 18
HOLDER_CONTEXT = "PDA-LEASE-HOLDER-v1"

# CWT claim keys (RFC 8392, RFC 8747) and our private-use claims (< -65536, RFC 8392 §9.1).
ISS, SUB, CTI, CNF = 1, 2, 7, 8
PDA_VERSION = -65537
MANIFEST_DIGEST = -65538
TRUST_DIGEST = -65539
POLICY_DIGEST = -65540
CLOCK_EPOCH = -65541
ISSUED_AT_NS = -65542
EXPIRES_AT_NS = -65543
CAPABILITY_ID = -65544
CONSTRAINTS = -65545
HRC = -65546
CLAIM_KEYS = frozenset(
    {
        ISS,
        SUB,
        CTI,
        CNF,
        PDA_VERSION,
        MANIFEST_DIGEST,
        TRUST_DIGEST,
        POLICY_DIGEST,
        CLOCK_EPOCH,
        ISSUED_AT_NS,
        EXPIRES_AT_NS,
        CAPABILITY_ID,
        CONSTRAINTS,
        HRC,
    }
)

_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_PRINTABLE = re.compile(PRINTABLE_PATTERN)
_EPOCH = re.compile(EPOCH_PATTERN)


@attrs.frozen
class LeaseClaims:
    """The claims of a lease token (spec §6.3), typed."""

    issuer: str
    task_id: str
    lease_id: bytes
    holder_public_key: bytes
    manifest_digest: bytes
    trust_digest: bytes
    policy_digest: bytes
    clock_epoch: str
    issued_at_ns: int
    expires_at_ns: int
    capability_id: str
    constraints: Constraints
    hrc_digest: bytes | None

    def to_cbor(self) -> dict[int, object]:
        return {
            ISS: self.issuer,
            SUB: self.task_id,
            CTI: self.lease_id,
            CNF: {1: cose_key(self.holder_public_key)},
            PDA_VERSION: TOKEN_FORMAT_VERSION,
            MANIFEST_DIGEST: self.manifest_digest,
            TRUST_DIGEST: self.trust_digest,
            POLICY_DIGEST: self.policy_digest,
            CLOCK_EPOCH: self.clock_epoch,
            ISSUED_AT_NS: self.issued_at_ns,
            EXPIRES_AT_NS: self.expires_at_ns,
            CAPABILITY_ID: self.capability_id,
            CONSTRAINTS: self.constraints.to_json(),
            HRC: self.hrc_digest,
        }

    def to_json(self) -> dict[str, object]:
        """A readable view (hex for bytes), used by ``inspect`` and the CLI."""
        return {
            "iss": self.issuer,
            "sub": self.task_id,
            "cti": self.lease_id.hex(),
            "cnf": {"kty": "OKP", "crv": "Ed25519", "x": self.holder_public_key.hex()},
            "pda_version": TOKEN_FORMAT_VERSION,
            "manifest_digest": self.manifest_digest.hex(),
            "trust_digest": self.trust_digest.hex(),
            "policy_digest": self.policy_digest.hex(),
            "clock_epoch": self.clock_epoch,
            "issued_at_ns": self.issued_at_ns,
            "expires_at_ns": self.expires_at_ns,
            "capability_id": self.capability_id,
            "constraints": self.constraints.to_json(),
            "hrc": None if self.hrc_digest is None else self.hrc_digest.hex(),
        }


def cose_key(public_key: bytes) -> dict[int, object]:
    """COSE_Key of an Ed25519 public key: {kty: OKP, crv: Ed25519, x} (spec §6.2)."""
    return {1: 1, -1: 6, -2: public_key}


def protected_header(kid: bytes) -> bytes:
    return cbor.encode({1: ALG_ED25519, 4: kid})


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 §4.4 ToBeSigned for COSE_Sign1 with empty external AAD."""
    return cbor.encode(["Signature1", protected, b"", payload])


def mint(signer: Signer, claims: LeaseClaims) -> bytes:
    """Encode and sign a token (spec §6). Deterministic: Ed25519 has no random nonce."""
    protected = protected_header(cose_key_thumbprint(signer.public_key))
    payload = cbor.encode(claims.to_cbor())
    signature = signer.sign(sig_structure(protected, payload))
    return cbor.encode(cbor.Tag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


# ---------------------------------------------------------------------------------- verify


@attrs.frozen
class VerifiedLease:
    """A token that passed every step of spec §7.3."""

    lease_id: bytes
    claims: LeaseClaims
    token: bytes = attrs.field(repr=False)


@attrs.frozen
class DecodedToken:
    """A structurally valid token whose signature has NOT been checked (for inspection)."""

    kid: bytes
    claims: LeaseClaims
    protected: bytes
    payload: bytes
    signature: bytes


class _Refused(Exception):
    def __init__(self, denial: Deny) -> None:
        self.denial = denial


def _invalid(reason: str) -> _Refused:
    return _Refused(deny(Code.INVALID_TOKEN, reason))


def _structure(token: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Steps 1-8 except the kid comparison: returns kid, protected, payload, signature."""
    if len(token) > MAX_TOKEN_BYTES:
        raise _invalid("TOO_LARGE")
    try:
        outer = cbor.decode(token, max_depth=MAX_TOKEN_DEPTH, allow_top_tag=True)
    except cbor.CborError as exc:
        raise _invalid(exc.reason) from None
    if (
        type(outer) is not cbor.Tag
        or outer.number != COSE_SIGN1_TAG
        or type(outer.content) is not list
        or len(outer.content) != 4
    ):
        raise _invalid("NOT_COSE_SIGN1")
    protected, unprotected, payload, signature = outer.content
    if (
        type(protected) is not bytes
        or type(unprotected) is not dict
        or type(payload) is not bytes
        or type(signature) is not bytes
    ):
        raise _invalid("NOT_COSE_SIGN1")
    if unprotected:
        raise _invalid("UNPROTECTED_HEADER_NOT_EMPTY")
    try:
        header = cbor.decode(protected, max_depth=MAX_TOKEN_DEPTH)
    except cbor.CborError:
        raise _invalid("BAD_PROTECTED_HEADER") from None
    if type(header) is not dict or 1 not in header:
        raise _invalid("BAD_PROTECTED_HEADER")
    if type(header[1]) is not int or header[1] != ALG_ED25519:
        raise _invalid("UNSUPPORTED_ALGORITHM")
    kid = header.get(4)
    if set(header) != {1, 4} or type(kid) is not bytes or len(kid) != 32:
        raise _invalid("BAD_PROTECTED_HEADER")
    return kid, protected, payload, signature


def _text(value: object, pattern: re.Pattern[str]) -> str:
    if type(value) is not str or not pattern.fullmatch(value):
        raise _invalid("BAD_CLAIMS")
    return value


def _bstr(value: object, size: int) -> bytes:
    if type(value) is not bytes or len(value) != size:
        raise _invalid("BAD_CLAIMS")
    return value


def _uint63(value: object) -> int:
    if type(value) is not int or not 0 <= value <= UINT63_MAX:
        raise _invalid("BAD_CLAIMS")
    return value


def _bool(value: object) -> bool:
    if type(value) is not bool:
        raise _invalid("BAD_CLAIMS")
    return value


def _claims(payload: bytes) -> LeaseClaims:
    """Step 10: the payload is exactly the claims of §6.3 with their types."""
    try:
        raw = cbor.decode(payload, max_depth=MAX_TOKEN_DEPTH)
    except cbor.CborError:
        raise _invalid("BAD_CLAIMS") from None
    if type(raw) is not dict or set(raw) != CLAIM_KEYS:
        raise _invalid("BAD_CLAIMS")
    cnf = raw[CNF]
    if type(cnf) is not dict or set(cnf) != {1}:
        raise _invalid("BAD_CLAIMS")
    key = cnf[1]
    if type(key) is not dict or set(key) != {1, -1, -2}:
        raise _invalid("BAD_CLAIMS")
    # type() checks first: True == 1 in Python, and a boolean is never an integer (spec §2.1).
    if type(key[1]) is not int or key[1] != 1 or type(key[-1]) is not int or key[-1] != 6:
        raise _invalid("BAD_CLAIMS")
    holder = _bstr(key[-2], 32)
    constraints = raw[CONSTRAINTS]
    if type(constraints) is not dict or set(constraints) != {
        "scope",
        "reversible",
        "sensitivity",
        "hrc_required",
    }:
        raise _invalid("BAD_CLAIMS")
    if constraints["sensitivity"] not in SENSITIVITIES:
        raise _invalid("BAD_CLAIMS")
    if type(raw[PDA_VERSION]) is not int or raw[PDA_VERSION] != TOKEN_FORMAT_VERSION:
        raise _invalid("BAD_CLAIMS")
    hrc = raw[HRC]
    claims = LeaseClaims(
        issuer=_text(raw[ISS], _PRINTABLE),
        task_id=_text(raw[SUB], _IDENTIFIER),
        lease_id=_bstr(raw[CTI], LEASE_ID_BYTES),
        holder_public_key=holder,
        manifest_digest=_bstr(raw[MANIFEST_DIGEST], 32),
        trust_digest=_bstr(raw[TRUST_DIGEST], 32),
        policy_digest=_bstr(raw[POLICY_DIGEST], 32),
        clock_epoch=_text(raw[CLOCK_EPOCH], _EPOCH),
        issued_at_ns=_uint63(raw[ISSUED_AT_NS]),
        expires_at_ns=_uint63(raw[EXPIRES_AT_NS]),
        capability_id=_text(raw[CAPABILITY_ID], _IDENTIFIER),
        constraints=Constraints(
            scope=_text(constraints["scope"], _PRINTABLE),
            reversible=_bool(constraints["reversible"]),
            sensitivity=Sensitivity(constraints["sensitivity"]),
            hrc_required=_bool(constraints["hrc_required"]),
        ),
        hrc_digest=None if hrc is None else _bstr(hrc, 32),
    )
    if claims.issued_at_ns >= claims.expires_at_ns:
        raise _invalid("BAD_CLAIMS")
    return claims


def decode_unverified(token: bytes) -> DecodedToken:
    """Decode a token for inspection WITHOUT checking its signature or binding.

    Never use the result to authorize anything: use :func:`verify_token`. Raises
    ``InvalidLease`` when the token is not structurally a lease token.
    """
    if type(token) is not bytes:
        raise UsageError("a token is bytes")
    try:
        kid, protected, payload, signature = _structure(token)
        return DecodedToken(kid, _claims(payload), protected, payload, signature)
    except _Refused as refused:
        raise InvalidLease(refused.denial) from None


_HOLDER_PROOF_FIELDS = (
    Field("challenge", model.text(r"(?:[0-9a-f]{2}){16,64}")),
    Field("signature", model.text(HEX64_PATTERN)),
)


def holder_signed_bytes(lease_id: bytes, challenge: bytes) -> bytes:
    """The bytes a holder signs to prove possession (spec §7.2)."""
    return cbor.encode([HOLDER_CONTEXT, lease_id, challenge])


def sign_holder_proof(signer: Signer, lease_id: bytes, challenge: bytes) -> dict[str, str]:
    """Build a holder proof document (spec §7.2) for ``lease_id`` over ``challenge``."""
    if type(lease_id) is not bytes or len(lease_id) != LEASE_ID_BYTES:
        raise UsageError("a lease id is 16 bytes")
    if type(challenge) is not bytes or not 16 <= len(challenge) <= 64:
        raise UsageError("a challenge is 16 to 64 bytes")
    signature = signer.sign(holder_signed_bytes(lease_id, challenge))
    return {"challenge": challenge.hex(), "signature": signature.hex()}


def _check_holder_proof(claims: LeaseClaims, holder_proof: object) -> None:
    if holder_proof is None:
        raise _invalid("HOLDER_PROOF_MISSING")
    failure: Failure | None = model.validate(
        holder_proof, model.MANIFEST_LIMITS, _HOLDER_PROOF_FIELDS
    )
    if failure:
        raise _invalid("HOLDER_PROOF_MALFORMED")
    assert isinstance(holder_proof, dict)
    message = holder_signed_bytes(claims.lease_id, bytes.fromhex(holder_proof["challenge"]))
    if not verify_signature(
        claims.holder_public_key, message, bytes.fromhex(holder_proof["signature"])
    ):
        raise _invalid("HOLDER_PROOF_INVALID")


def time_standing(claims: LeaseClaims, now: MonotonicTime) -> Deny | None:
    """Epoch, then ``issued_at_ns <= now.ns < expires_at_ns`` (§7.3 steps 13-15, §8 1-3)."""
    if claims.clock_epoch != now.epoch:
        return deny(Code.LEASE_EXPIRED, "EPOCH_MISMATCH")
    if now.ns < claims.issued_at_ns:
        return deny(Code.LEASE_EXPIRED, "NOT_YET_VALID")
    if now.ns >= claims.expires_at_ns:
        return deny(Code.LEASE_EXPIRED, "EXPIRED")
    return None


def _check_args(
    issuer_public_key: bytes,
    task_id: str,
    manifest_digest: bytes,
    now: MonotonicTime,
    revoked: Collection[bytes],
) -> None:
    if type(issuer_public_key) is not bytes or len(issuer_public_key) != 32:
        raise UsageError("issuer_public_key is a 32-byte Ed25519 public key")
    if type(task_id) is not str:
        raise UsageError("task_id is a str")
    if type(manifest_digest) is not bytes or len(manifest_digest) != 32:
        raise UsageError("manifest_digest is 32 bytes")
    if not isinstance(now, MonotonicTime):
        raise UsageError("now is a MonotonicTime")
    if not isinstance(revoked, Collection) or isinstance(revoked, (str, bytes, Mapping)):
        raise UsageError("revoked is a collection of 16-byte lease ids")


def _signed_claims(token: bytes, issuer_public_key: bytes) -> LeaseClaims:
    """Steps 1-10 of spec §7.3: structure, kid, the issuer's signature, the claims."""
    kid, protected, payload, signature = _structure(token)
    if kid != cose_key_thumbprint(issuer_public_key):
        raise _invalid("UNKNOWN_KID")
    if len(signature) != SIGNATURE_BYTES or not verify_signature(
        issuer_public_key, sig_structure(protected, payload), signature
    ):
        raise _invalid("BAD_SIGNATURE")
    return _claims(payload)


def open_token(token: bytes, *, issuer_public_key: bytes) -> LeaseClaims:
    """The issuer-signed claims of a token: spec §7.3 steps 1-10 and nothing after them.

    This is what a generic CWT library's "decode and verify" does: the token is a
    deterministic COSE_Sign1 signed by ``issuer_public_key`` and carrying well-typed lease
    claims. It does NOT bind the token to a task, a manifest, the time, the revocation list
    or its holder, so it never authorizes anything on its own: an executor's gate is
    :func:`verify_token`. Raises ``InvalidLease`` with the reason of the first failed step.
    """
    if type(token) is not bytes:
        raise UsageError("a token is bytes")
    if type(issuer_public_key) is not bytes or len(issuer_public_key) != 32:
        raise UsageError("issuer_public_key is a 32-byte Ed25519 public key")
    try:
        return _signed_claims(token, issuer_public_key)
    except _Refused as refused:
        raise InvalidLease(refused.denial) from None


def verify_token(
    token: bytes,
    *,
    issuer_public_key: bytes,
    task_id: str,
    manifest_digest: bytes,
    now: MonotonicTime,
    holder_proof: object | None,
    revoked: Collection[bytes] = frozenset(),
) -> VerifiedLease:
    """The executor's gate (spec §7.3). Returns the verified lease or raises ``InvalidLease``.

    ``issuer_public_key`` must be a key the caller already trusts. ``holder_proof`` is the
    holder's proof document over a challenge the caller chose; checking that the challenge is
    fresh and unused is the caller's duty (spec §7.2).
    """
    if type(token) is not bytes:
        raise UsageError("a token is bytes")
    _check_args(issuer_public_key, task_id, manifest_digest, now, revoked)
    try:
        claims = _signed_claims(token, issuer_public_key)
        if claims.task_id != task_id:
            raise _invalid("WRONG_TASK")
        if claims.manifest_digest != manifest_digest:
            raise _invalid("WRONG_MANIFEST")
        late = time_standing(claims, now)
        if late:
            raise _Refused(late)
        if claims.lease_id in revoked:
            raise _Refused(deny(Code.LEASE_REVOKED, "REVOKED"))
        _check_holder_proof(claims, holder_proof)
    except _Refused as refused:
        raise InvalidLease(refused.denial) from None
    return VerifiedLease(claims.lease_id, claims, token)
