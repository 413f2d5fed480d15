"""Tests written to kill mutants that survived ``make mutation`` (docs/MUTATION.md).

Each test pins down behaviour the spec fixes and the rest of the suite left loose: a
boundary (``uint63`` includes ``2^63 - 1``, a challenge is 16 to 64 bytes), a refusal that
must be a typed ``InvalidLease`` rather than a crash, an argument check of the public API. The
expected values come from the spec or from the independent reference model
(``tests/reference_model.py``), never from the kernel's own output: tokens whose payload the
kernel would never mint are built with the model's encoder and signed with the model's
Ed25519, and the kernel's answer is compared with the model's ``ref_verify``.
"""

from __future__ import annotations

from typing import Any

import pytest

import reference_model as ref
import strategies as gen
from pda_lease import (
    Authority,
    DecodedToken,
    Ed25519Signer,
    Grant,
    InvalidLease,
    LeaseClaims,
    LeasePolicy,
    MonotonicTime,
    TrustSnapshot,
    UsageError,
    decode_unverified,
    json_digest,
    open_token,
    sign_holder_proof,
    sign_hrc,
    verify_token,
)
from pda_lease.kernel import cbor
from pda_lease.kernel.token import mint, protected_header

ISSUER = Ed25519Signer(gen.ISSUER_SEED)
HOLDER = Ed25519Signer(gen.HOLDER_SEED)
HRC = Ed25519Signer(gen.HRC_SEED)
POLICY = LeasePolicy.from_json(gen.fixed_policy())
AUTHORITY = Authority(ISSUER, POLICY)
SNAPSHOT = {"snapshot_version": 1, "sequence": 1, "scores": {"files.read": 9500}}
NOW = MonotonicTime(gen.EPOCH, 1500)
NOW_DOC = {"epoch": gen.EPOCH, "ns": 1500}
CHALLENGE = bytes(range(32))
PROTECTED = ref.det({1: -19, 4: ref.thumbprint(gen.ISSUER_PK)})


def manifest(sensitivity: str = "LOW", task_id: str = "task-1") -> dict[str, Any]:
    return {
        "manifest_version": 1,
        "task_id": task_id,
        "capability_id": "files.read",
        "inputs": {"path": "/tmp/x"},
        "constraints": {
            "scope": "user:alice/files",
            "reversible": True,
            "sensitivity": sensitivity,
            "hrc_required": False,
        },
        "provenance": {"ast_hash": "ab" * 32},
        "holder": {"public_key": gen.HOLDER_PK.hex()},
        "window": {"epoch": gen.EPOCH, "not_before_ns": 1000, "not_after_ns": 2000},
    }


def granted(document: dict[str, Any], hrc: object = None) -> Grant:
    decision = AUTHORITY.decide(document, SNAPSHOT, NOW, hrc)
    assert isinstance(decision, Grant), decision
    return decision


GRANT = granted(manifest())
CLAIMS = ref.token_claims(GRANT.token)


def signed(payload: bytes, protected: bytes = PROTECTED) -> bytes:
    """A COSE_Sign1 over ``payload`` signed by the issuer, built by the reference model."""
    return ref.cose_sign1(protected, {}, payload, ref.sign1(gen.ISSUER_SEED, protected, payload))


def with_claims(**changes: object) -> dict[int, Any]:
    names = {
        "issuer": 1,
        "task_id": 2,
        "lease_id": 7,
        "issued_at_ns": -65542,
        "expires_at_ns": -65543,
        "hrc": -65546,
    }
    claims = dict(CLAIMS)
    for name, value in changes.items():
        claims[names[name]] = value
    return claims


PROOF = sign_holder_proof(HOLDER, GRANT.lease_id, CHALLENGE)


def kernel_verify(token: bytes, now: MonotonicTime = NOW) -> dict[str, object]:
    """The kernel's gate, in the shape of the reference model's ``ref_verify`` result."""
    try:
        verified = verify_token(
            token,
            issuer_public_key=ISSUER.public_key,
            task_id="task-1",
            manifest_digest=GRANT.claims.manifest_digest,
            now=now,
            holder_proof=PROOF,
        )
    except InvalidLease as refused:
        return {
            "result": "INVALID",
            "code": str(refused.deny.code),
            "reason": refused.deny.reason,
            "message": refused.deny.message,
        }
    return {
        "result": "VALID",
        "lease_id": verified.lease_id.hex(),
        "expires_at_ns": verified.claims.expires_at_ns,
    }


def model_verify(token: bytes, now: MonotonicTime = NOW) -> dict[str, object]:
    return ref.ref_verify(
        token,
        gen.ISSUER_PK,
        "task-1",
        GRANT.claims.manifest_digest,
        {"epoch": now.epoch, "ns": now.ns},
        PROOF,
        frozenset(),
    )


BAD_CLAIMS = {
    "result": "INVALID",
    "code": "INVALID_TOKEN",
    "reason": "BAD_CLAIMS",
    "message": ref.message("INVALID_TOKEN", "BAD_CLAIMS"),
}


# ------------------------------------------------------------ §6.3 / §7.3 step 10: claims


def test_the_model_and_the_kernel_agree_on_the_unchanged_token() -> None:
    token = signed(ref.det(CLAIMS))
    assert token == GRANT.token
    assert (
        kernel_verify(token)
        == model_verify(token)
        == {
            "result": "VALID",
            "lease_id": GRANT.lease_id.hex(),
            "expires_at_ns": 1800,
        }
    )


@pytest.mark.parametrize(
    ("issued", "expires", "now"),
    [
        (1000, ref.UINT63_MAX, 1500),
        (ref.UINT63_MAX - 1, ref.UINT63_MAX, ref.UINT63_MAX - 1),
        (1000, ref.UINT63_MAX + 1, 1500),
        (ref.UINT63_MAX, ref.UINT63_MAX + 1, ref.UINT63_MAX),
    ],
)
def test_time_claims_are_uint63_inclusive(issued: int, expires: int, now: int) -> None:
    """§6.3 / CDDL: issued_at_ns and expires_at_ns are uint63, so 2^63 - 1 is a valid time."""
    token = signed(ref.det(with_claims(issued_at_ns=issued, expires_at_ns=expires)))
    at = MonotonicTime(gen.EPOCH, now)
    expected = model_verify(token, at)
    assert expected["result"] == ("VALID" if expires <= ref.UINT63_MAX else "INVALID")
    assert kernel_verify(token, at) == expected


def _cut_after(payload: bytes, text: str) -> bytes:
    key = ref.det(text)
    return payload[: payload.index(key) + len(key)]


@pytest.mark.parametrize("key", ["reversible", "hrc_required", "sensitivity", "scope"])
def test_payload_cut_before_a_constraint_value_is_bad_claims(key: str) -> None:
    """A signed payload that ends right after a constraints key: step 10, not a crash."""
    token = signed(_cut_after(ref.det(CLAIMS), key))
    assert model_verify(token) == BAD_CLAIMS
    assert kernel_verify(token) == BAD_CLAIMS
    with pytest.raises(InvalidLease) as refused:
        decode_unverified(token)
    assert refused.value.deny.reason == "BAD_CLAIMS"


@pytest.mark.parametrize(
    ("claim", "text"),
    [(1, "pda-lease:local"), (2, "task-1"), (-65541, gen.EPOCH), (-65544, "files.read")],
)
def test_text_claim_that_is_not_utf8_is_bad_claims(claim: int, text: str) -> None:
    """§2.4: text strings must be valid UTF-8; a signed payload with one fails step 10."""
    payload = ref.det(CLAIMS)
    assert CLAIMS[claim] == text
    raw = ref.det(text)
    broken = raw[:-1] + b"\xff"
    assert payload.count(raw) == 1
    token = signed(payload.replace(raw, broken))
    assert model_verify(token) == BAD_CLAIMS
    assert kernel_verify(token) == BAD_CLAIMS


def test_decode_unverified_returns_the_token_parts() -> None:
    """The inspection view carries the COSE_Sign1 parts exactly as the token holds them."""
    outer = ref.strict_decode(GRANT.token, max_depth=8, top_tag_allowed=True)
    assert isinstance(outer, ref.Tagged) and type(outer.content) is list
    parts: list[bytes] = outer.content
    protected, _unprotected, payload, signature = parts
    decoded = decode_unverified(GRANT.token)
    assert isinstance(decoded, DecodedToken)
    assert decoded.kid == ref.thumbprint(gen.ISSUER_PK)
    assert decoded.protected == protected == PROTECTED
    assert decoded.payload == payload
    assert decoded.signature == signature
    assert ref.signature_verifies(
        gen.ISSUER_PK, ref.det(["Signature1", protected, b"", payload]), signature
    )


def test_claims_json_view_uses_the_spec_claim_names() -> None:
    """§6.3 names each claim; the readable view uses those names and the claims' values."""
    hrc = sign_hrc(HRC, json_digest(manifest("HIGH")), MonotonicTime(gen.EPOCH, 1450))
    high = granted(manifest("HIGH"), hrc)
    for grant in (GRANT, high):
        claims = ref.token_claims(grant.token)
        view = grant.claims.to_json()
        assert isinstance(grant.claims, LeaseClaims)
        assert list(view) == [
            "iss",
            "sub",
            "cti",
            "cnf",
            "pda_version",
            "manifest_digest",
            "trust_digest",
            "policy_digest",
            "clock_epoch",
            "issued_at_ns",
            "expires_at_ns",
            "capability_id",
            "constraints",
            "hrc",
        ]
        # COSE_Key {1: 1, -1: 6}: kty OKP, crv Ed25519 (RFC 9053 §7.2, RFC 8037 names).
        assert claims[8] == {1: {1: 1, -1: 6, -2: gen.HOLDER_PK}}
        assert view == {
            "iss": claims[1],
            "sub": claims[2],
            "cti": claims[7].hex(),
            "cnf": {"kty": "OKP", "crv": "Ed25519", "x": gen.HOLDER_PK.hex()},
            "pda_version": claims[-65537],
            "manifest_digest": claims[-65538].hex(),
            "trust_digest": claims[-65539].hex(),
            "policy_digest": claims[-65540].hex(),
            "clock_epoch": claims[-65541],
            "issued_at_ns": claims[-65542],
            "expires_at_ns": claims[-65543],
            "capability_id": claims[-65544],
            "constraints": claims[-65545],
            "hrc": None if claims[-65546] is None else claims[-65546].hex(),
        }
    assert high.claims.to_json()["hrc"] == ref.digest(hrc).hex()


def test_mint_without_a_protected_header_computes_it() -> None:
    """§6.1/§6.5: the token is det(18([det({1: -19, 4: kid}), {}, det(claims), sig])) whether
    or not the caller passes the protected header it already has."""
    expected = signed(ref.det(CLAIMS))
    assert mint(ISSUER, GRANT.claims) == expected
    assert mint(ISSUER, GRANT.claims, protected=PROTECTED) == expected


def test_protected_header_is_alg_and_a_32_byte_kid() -> None:
    """§6.1/§6.2: the protected header is det({1: -19, 4: kid}), kid a 32-byte thumbprint."""
    assert protected_header(ref.thumbprint(gen.ISSUER_PK)) == PROTECTED
    for size in (0, 31, 33):
        with pytest.raises(UsageError):
            protected_header(bytes(size))


def test_verified_lease_carries_the_token_that_passed() -> None:
    verified = verify_token(
        GRANT.token,
        issuer_public_key=ISSUER.public_key,
        task_id="task-1",
        manifest_digest=GRANT.claims.manifest_digest,
        now=NOW,
        holder_proof=PROOF,
    )
    assert verified.token == GRANT.token
    assert verified.lease_id == CLAIMS[7]
    assert ref.det(ref.token_claims(verified.token)) == ref.det(CLAIMS)


# ----------------------------------------------------------- argument checks (Appendix A)


def test_holder_proof_challenge_bounds() -> None:
    """§7.2: a challenge is 16 to 64 bytes; a lease id is 16 bytes."""
    for size in (16, 64):
        proof = sign_holder_proof(HOLDER, GRANT.lease_id, bytes(size))
        assert len(bytes.fromhex(proof["challenge"])) == size
    for size in (15, 65):
        with pytest.raises(UsageError):
            sign_holder_proof(HOLDER, GRANT.lease_id, bytes(size))
    for size in (15, 17):
        with pytest.raises(UsageError):
            sign_holder_proof(HOLDER, bytes(size), CHALLENGE)


def test_sign_hrc_wants_a_32_byte_digest() -> None:
    for size in (31, 33):
        with pytest.raises(UsageError):
            sign_hrc(HRC, bytes(size), NOW)


@pytest.mark.parametrize("size", [31, 33])
@pytest.mark.parametrize("token", [GRANT.token, bytes(5000)], ids=["grant", "oversized"])
def test_issuer_key_must_be_32_bytes(size: int, token: bytes) -> None:
    """A bad issuer key is embedder misuse (Appendix A), whatever the token: even one that
    §7.3 step 1 would refuse as TOO_LARGE before any key is needed."""
    with pytest.raises(UsageError):
        open_token(token, issuer_public_key=ISSUER.public_key[:1] * size)
    with pytest.raises(UsageError):
        verify_token(
            token,
            issuer_public_key=ISSUER.public_key[:1] * size,
            task_id="task-1",
            manifest_digest=GRANT.claims.manifest_digest,
            now=NOW,
            holder_proof=PROOF,
        )


@pytest.mark.parametrize("size", [31, 33])
def test_expected_manifest_digest_must_be_32_bytes(size: int) -> None:
    with pytest.raises(UsageError):
        verify_token(
            GRANT.token,
            issuer_public_key=ISSUER.public_key,
            task_id="task-1",
            manifest_digest=GRANT.claims.manifest_digest[:1] * size,
            now=NOW,
            holder_proof=PROOF,
        )


@pytest.mark.parametrize(
    "revoked", [GRANT.lease_id, GRANT.lease_id.hex(), {GRANT.lease_id: True}, 7, iter(())]
)
def test_revoked_must_be_a_collection_of_ids(revoked: object) -> None:
    """Bytes, text and mappings are collections, but not of lease ids: refused, not searched."""
    with pytest.raises(UsageError):
        verify_token(
            GRANT.token,
            issuer_public_key=ISSUER.public_key,
            task_id="task-1",
            manifest_digest=GRANT.claims.manifest_digest,
            now=NOW,
            holder_proof=PROOF,
            revoked=revoked,  # type: ignore[arg-type]
        )


# ------------------------------------------------------------ §2.3 / §2.4 CBOR, §2.2, §3.2


def test_encode_uint_covers_exactly_the_unsigned_64_bit_range() -> None:
    """RFC 8949 §3: major type 0 carries 0 .. 2^64 - 1; a bool is not an integer (§2.1)."""
    assert cbor.encode_uint(2**64 - 1) == b"\x1b" + b"\xff" * 8
    assert cbor.encode_uint(0) == b"\x00"
    for bad in (2**64, -1, True, False):
        with pytest.raises(cbor.EncodeError):
            cbor.encode_uint(bad)


def test_decode_refuses_tags_unless_the_caller_allows_the_top_one() -> None:
    """§2.4: tags are forbidden, except the single outer tag 18 of a token (§6.1)."""
    tagged = ref.det(ref.Tagged(18, [b"", {}, b"", b""]))
    with pytest.raises(ref.StrictDecodeError) as expected:
        ref.strict_decode(tagged, max_depth=8)
    with pytest.raises(cbor.CborError) as refused:
        cbor.decode(tagged, max_depth=8)
    assert refused.value.reason == expected.value.reason
    assert cbor.decode(tagged, max_depth=8, allow_top_tag=True) == cbor.Tag(18, [b"", {}, b"", b""])


def test_decode_depth_limit_must_be_a_supported_integer() -> None:
    nested = b"\x81" * (cbor.MAX_SUPPORTED_DEPTH - 1) + b"\x00"
    assert cbor.decode(nested, max_depth=cbor.MAX_SUPPORTED_DEPTH) is not None
    for bad in (0, cbor.MAX_SUPPORTED_DEPTH + 1, True, "8", 8.0):
        with pytest.raises(UsageError):
            cbor.decode(b"\x00", max_depth=bad)  # type: ignore[arg-type]


def test_monotonic_time_document_must_be_an_object() -> None:
    """§2.2: MonotonicTime is the object {"epoch", "ns"}; anything else is embedder misuse."""
    assert MonotonicTime.from_json(NOW_DOC) == NOW
    for bad in (["epoch", "ns"], ("epoch", "ns"), "epoch", {"epoch": gen.EPOCH}):
        with pytest.raises(UsageError):
            MonotonicTime.from_json(bad)


def test_hand_built_snapshot_must_hold_valid_scores() -> None:
    """§3.2: a score is an integer in [0, 10000], even when the digest matches the content."""
    scores = {"files.read": 10001}
    digest = ref.digest({"snapshot_version": 1, "sequence": 1, "scores": scores})
    with pytest.raises(UsageError):
        TrustSnapshot(sequence=1, scores=scores, digest=digest)
    for sequence in ("1", None, -1, 2**63):
        with pytest.raises(UsageError):
            TrustSnapshot(sequence=sequence, scores={}, digest=digest)  # type: ignore[arg-type]
    good = {"files.read": 10000}
    digest = ref.digest({"snapshot_version": 1, "sequence": 1, "scores": good})
    assert TrustSnapshot(sequence=1, scores=good, digest=digest).score_for("files.read") == 10000


@pytest.mark.parametrize("control", [chr(c) for c in range(0x20)])
def test_field_path_escapes_control_characters_as_rfc_8785(control: str) -> None:
    """§4.1: an odd member name in a field path is an RFC 8785 JSON string (\\b \\t \\n \\f \\r
    short, other controls as \\u00xx). The float makes the name part of the DENY."""
    document = manifest()
    document["inputs"] = {f"a{control}b": 1.5}
    expected = ref.ref_decide(
        gen.ISSUER_SEED, gen.fixed_policy(), document, SNAPSHOT, NOW_DOC, None
    )
    decision = AUTHORITY.decide(document, SNAPSHOT, NOW)
    assert not isinstance(decision, Grant)
    assert expected["decision"] == "DENY"
    assert (str(decision.code), decision.reason, decision.message) == (
        expected["code"],
        expected["reason"],
        expected["message"],
    )
    assert decision.field == ref.child_path("inputs", f"a{control}b")
