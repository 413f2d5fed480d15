"""Tampering with a lease token: every change is refused, with the reason of spec §7.3.

A valid token is minted through the public API (fixed seeds, spec §10), then broken in every
way an attacker or a sloppy re-encoder could: every single-bit flip, every truncation, appended
bytes, re-encodings that keep the same logical claims (non-shortest heads, other map order,
indefinite lengths, duplicate keys), tag games, algorithm and kid substitution, moved header
parameters, swapped claims and holder keys, bad holder proofs, oversized and deep inputs.

The variants are built with the small CBOR helpers below and re-signed where needed with
PyNaCl directly over a Sig_structure assembled here (spec §6.5, RFC 9052 §4.4), so that the
kernel's own encoder and signer are not the oracle. Where the payload is re-encoded, both
cases are checked: not re-signed (the signature covers the payload bytes: BAD_SIGNATURE) and
re-signed by the issuer (the payload itself is then judged: BAD_CLAIMS).
"""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from collections.abc import Mapping
from typing import cast

import cbor2
import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pda_lease import (
    Authority,
    Ed25519Signer,
    Grant,
    InvalidLease,
    LeasePolicy,
    MonotonicTime,
    VerifiedLease,
    cose_key_thumbprint,
    decode_unverified,
    json_digest,
    sign_holder_proof,
    sign_hrc,
    verify_token,
)

# -------------------------------------------------------------------------------- fixture


def vector_seed(name: str) -> bytes:
    """Spec §10: every seed is H("pda-lease vector key: " || name)."""
    return hashlib.sha256(b"pda-lease vector key: " + name.encode()).digest()


ISSUER_SEED = vector_seed("issuer")
HOLDER_SEED = vector_seed("holder")
HRC_SEED = vector_seed("hrc")
MALLORY_SEED = vector_seed("mallory")  # a second, unauthorised key pair
ISSUER = Ed25519Signer(ISSUER_SEED)
HOLDER = Ed25519Signer(HOLDER_SEED)
HRC = Ed25519Signer(HRC_SEED)
MALLORY = Ed25519Signer(MALLORY_SEED)
KID = cose_key_thumbprint(ISSUER.public_key)

EPOCH = "6f1c9a52-3b7e-4d10-9c2a-5e8f7b6d4a31"
NOW = MonotonicTime(EPOCH, 5_000_000_000)

POLICY_DOC: dict[str, object] = {
    "policy_version": 1,
    "sequence": 1,
    "issuer": "pda-lease:local",
    "issuer_kid": KID.hex(),
    "lease_duration_ns": {"LOW": 300000000000, "MEDIUM": 120000000000, "HIGH": 30000000000},
    "trust_threshold": {"LOW": 3000, "MEDIUM": 6000, "HIGH": 9000},
    "hrc_required_for": ["HIGH"],
    "hrc_keys": [HRC.public_key.hex()],
    "hrc_max_age_ns": 60000000000,
}
AUTHORITY = Authority(ISSUER, LeasePolicy.from_json(POLICY_DOC))
SNAPSHOT = {
    "snapshot_version": 1,
    "sequence": 42,
    "scores": {"files.read": 9500, "mail.send": 4000},
}


def manifest(task_id: str, sensitivity: str) -> dict[str, object]:
    return {
        "manifest_version": 1,
        "task_id": task_id,
        "capability_id": "files.read",
        "inputs": {"path": "/home/user/notes.txt", "max_bytes": 65536},
        "constraints": {
            "scope": "user:alice/files",
            "reversible": True,
            "sensitivity": sensitivity,
            "hrc_required": False,
        },
        "provenance": {"ast_hash": hashlib.sha256(task_id.encode()).hexdigest()},
        "holder": {"public_key": HOLDER.public_key.hex()},
        "window": {"epoch": EPOCH, "not_before_ns": 1_000_000_000, "not_after_ns": 61_000_000_000},
    }


def grant(document: dict[str, object], hrc: object = None) -> Grant:
    decision = AUTHORITY.decide(document, SNAPSHOT, NOW, hrc)
    assert isinstance(decision, Grant), decision
    return decision


TASK_A = "task-2026-0001"
TASK_B = "task-2026-0002"
MANIFEST_A = manifest(TASK_A, "LOW")
MANIFEST_B = manifest(TASK_B, "HIGH")  # HIGH: needs an HRC, so its `hrc` claim is a digest
GRANT_A = grant(MANIFEST_A)
GRANT_B = grant(
    MANIFEST_B, sign_hrc(HRC, json_digest(MANIFEST_B), MonotonicTime(EPOCH, 4_000_000_000))
)
TOKEN = GRANT_A.token
LEASE_ID = GRANT_A.lease_id
DIGEST_A = GRANT_A.claims.manifest_digest
CHALLENGE = bytes(range(100, 132))
PROOF = sign_holder_proof(HOLDER, LEASE_ID, CHALLENGE)
PROOF_B = sign_holder_proof(HOLDER, GRANT_B.lease_id, CHALLENGE)

VALID = ("VALID", "VALID")


def result(
    token: bytes,
    proof: object = PROOF,
    *,
    task_id: str = TASK_A,
    digest: bytes = DIGEST_A,
    issuer_public_key: bytes = ISSUER.public_key,
) -> tuple[str, str]:
    """(code, reason) of the refusal, or VALID."""
    try:
        verified = verify_token(
            token,
            issuer_public_key=issuer_public_key,
            task_id=task_id,
            manifest_digest=digest,
            now=NOW,
            holder_proof=proof,
        )
    except InvalidLease as exc:
        return str(exc.deny.code), exc.deny.reason
    assert isinstance(verified, VerifiedLease)
    return VALID


def inspect_result(token: bytes) -> str:
    """The reason ``decode_unverified`` refuses ``token`` with, or "DECODED"."""
    try:
        decode_unverified(token)
    except InvalidLease as exc:
        assert str(exc.deny.code) == "INVALID_TOKEN"
        return exc.deny.reason
    return "DECODED"


def invalid(reason: str) -> tuple[str, str]:
    return ("INVALID_TOKEN", reason)


# ------------------------------------------------------------------------ CBOR helpers


def head(major: int, argument: int, width: int | None = None) -> bytes:
    """RFC 8949 §3 head; ``width`` None is the shortest form, else 0 (inline), 1, 2, 4, 8."""
    if width is None:
        width = next(w for w in (0, 1, 2, 4, 8) if argument < (24 if w == 0 else 1 << 8 * w))
    if width == 0:
        return bytes((major << 5 | argument,))
    return bytes((major << 5 | {1: 24, 2: 25, 4: 26, 8: 27}[width],)) + argument.to_bytes(
        width, "big"
    )


def bstr(data: bytes, width: int | None = None) -> bytes:
    return head(2, len(data), width) + data


def tstr(text: str, width: int | None = None) -> bytes:
    raw = text.encode()
    return head(3, len(raw), width) + raw


class Raw:
    """Pre-encoded bytes to splice into ``det`` output (for out-of-profile items)."""

    def __init__(self, data: bytes) -> None:
        self.data = data


def det(value: object) -> bytes:
    """Deterministic encoding (spec §2.3), written independently of the kernel."""
    if isinstance(value, Raw):
        return value.data
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        return head(0, value) if value >= 0 else head(1, -1 - value)
    if isinstance(value, bytes):
        return bstr(value)
    if isinstance(value, str):
        return tstr(value)
    if isinstance(value, list):
        return head(4, len(value)) + b"".join(det(v) for v in value)
    assert isinstance(value, Mapping)
    return det_map(list(value.items()))


def det_map(items: list[tuple[object, object]], *, sort: bool = True) -> bytes:
    pairs = [(det(k), det(v)) for k, v in items]
    if sort:
        pairs.sort()
    return head(5, len(pairs)) + b"".join(k + v for k, v in pairs)


def thaw(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {thaw(k): thaw(v) for k, v in value.items()}
    return value


TAG18 = head(6, 18)


def assemble(
    protected: bytes,
    payload: bytes,
    signature: bytes,
    *,
    unprotected: bytes = b"\xa0",
    tag: bytes = TAG18,
) -> bytes:
    return tag + head(4, 4) + bstr(protected) + unprotected + bstr(payload) + bstr(signature)


def to_be_signed(protected: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """Sig_structure (spec §6.5): det(["Signature1", protected, h'', payload])."""
    return head(4, 4) + tstr("Signature1") + bstr(protected) + bstr(external_aad) + bstr(payload)


def sign_with(seed: bytes, message: bytes) -> bytes:
    return nacl.signing.SigningKey(seed).sign(message).signature


def resigned(
    protected: bytes, payload: bytes, seed: bytes = ISSUER_SEED, *, unprotected: bytes = b"\xa0"
) -> bytes:
    signature = sign_with(seed, to_be_signed(protected, payload))
    return assemble(protected, payload, signature, unprotected=unprotected)


def parts(token: bytes) -> tuple[bytes, bytes, bytes]:
    outer = cbor2.loads(token)
    assert isinstance(outer, cbor2.CBORTag)
    assert outer.tag == 18
    protected, unprotected, payload, signature = outer.value
    assert dict(unprotected) == {}
    return protected, payload, signature


PROTECTED, PAYLOAD, SIGNATURE = parts(TOKEN)
PROTECTED_B, PAYLOAD_B, SIGNATURE_B = parts(GRANT_B.token)


def as_dict(value: object) -> dict[object, object]:
    assert isinstance(value, dict)
    return value


CLAIMS = as_dict(thaw(cbor2.loads(PAYLOAD)))
CONSTRAINTS = as_dict(CLAIMS[-65545])
PROTECTED_MAP_TAIL = bytes.fromhex("04 5820") + KID  # "4: kid" after the alg entry


def claims_with(
    changes: Mapping[int, object] | None = None, drop: tuple[int, ...] = ()
) -> dict[object, object]:
    claims = copy.deepcopy(CLAIMS)
    for key in drop:
        del claims[key]
    for key, value in (changes or {}).items():
        claims[key] = value
    return claims


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, old.hex()
    return data.replace(old, new)


# ---------------------------------------------------------------------- the valid token


def test_fixture_token_verifies() -> None:
    assert result(TOKEN) == VALID
    assert result(
        GRANT_B.token, PROOF_B, task_id=TASK_B, digest=GRANT_B.claims.manifest_digest
    ) == (VALID)
    decoded = decode_unverified(TOKEN)
    assert decoded.kid == KID
    assert decoded.claims == GRANT_A.claims


def test_token_layout_is_rebuilt_by_independent_helpers() -> None:
    # The helpers here reproduce the kernel's token bit for bit, so the variants built from
    # them differ from the valid token only where each test says.
    assert bytes.fromhex("a2 01 32") + PROTECTED_MAP_TAIL == PROTECTED  # {1: -19, 4: kid}
    assert det(CLAIMS) == PAYLOAD
    assert sign_with(ISSUER_SEED, to_be_signed(PROTECTED, PAYLOAD)) == SIGNATURE
    assert assemble(PROTECTED, PAYLOAD, SIGNATURE) == TOKEN
    assert resigned(PROTECTED, PAYLOAD) == TOKEN
    # Spec §6.3: keys 1, 2, 7, 8, -65537 ... -65546 in deterministic order.
    assert list(cbor2.loads(PAYLOAD)) == [1, 2, 7, 8, *range(-65537, -65547, -1)]
    assert CLAIMS[8] == {1: {1: 1, -1: 6, -2: HOLDER.public_key}}
    assert CLAIMS[-65546] is None
    assert len(cbor2.loads(PAYLOAD_B)[-65546]) == 32


# -------------------------------------------------------------------- single-bit flips

STRUCTURAL = {  # §7.3 steps 1-7: decode_unverified must refuse with the same reason
    "TOO_LARGE",
    "MALFORMED_CBOR",
    "TOO_DEEP",
    "NON_DETERMINISTIC",
    "FORBIDDEN_CBOR_TYPE",
    "TRAILING_BYTES",
    "NOT_COSE_SIGN1",
    "UNPROTECTED_HEADER_NOT_EMPTY",
    "BAD_PROTECTED_HEADER",
    "UNSUPPORTED_ALGORITHM",
}

# Offsets of the parts of the token: d2 84 | 58 26 protected | a0 | 59 xx xx payload | 58 40 sig
PROT_HEAD = 2
PROT_AT = PROT_HEAD + len(bstr(PROTECTED)) - len(PROTECTED)
KID_AT = PROT_AT + 6
UNPROT_AT = PROT_AT + len(PROTECTED)
PAYLOAD_HEAD = UNPROT_AT + 1
PAYLOAD_AT = PAYLOAD_HEAD + len(bstr(PAYLOAD)) - len(PAYLOAD)
SIG_HEAD = PAYLOAD_AT + len(PAYLOAD)
SIG_AT = SIG_HEAD + 2

# Hand-derived reasons for flips of the heads: (offset, bit) -> reason.
HAND_DERIVED_FLIPS: dict[tuple[int, int], str] = {
    (0, 0): "NOT_COSE_SIGN1",  # d3: tag 19
    (0, 1): "NOT_COSE_SIGN1",  # d0: tag 16
    (0, 2): "NOT_COSE_SIGN1",  # d6: tag 22
    (0, 3): "TRAILING_BYTES",  # da 84 58 26 a2: tag 0x845826a2 over 01, then the rest remains
    (0, 4): "NOT_COSE_SIGN1",  # c2: tag 2 (bignum) over the array: decodes, is not tag 18
    (0, 5): "FORBIDDEN_CBOR_TYPE",  # f2: simple(18)
    (0, 6): "MALFORMED_CBOR",  # 92: array of 18 holding the array, then nothing left
    (0, 7): "TRAILING_BYTES",  # 52: bstr of 18 bytes, then the rest remains
    (1, 0): "MALFORMED_CBOR",  # 85: a fifth element is missing
    (1, 1): "MALFORMED_CBOR",  # 86
    (1, 2): "TRAILING_BYTES",  # 80: empty array, the elements trail
    (1, 3): "MALFORMED_CBOR",  # 8c
    (1, 4): "MALFORMED_CBOR",  # 94
    (1, 5): "FORBIDDEN_CBOR_TYPE",  # a4: map whose first key is the protected bstr
    (1, 6): "FORBIDDEN_CBOR_TYPE",  # c4: a second tag directly inside the top-level tag
    (1, 7): "TRAILING_BYTES",  # 04
    (PROT_HEAD, 0): "MALFORMED_CBOR",  # 59 26 a2: 9890-byte bstr
    (PROT_HEAD, 1): "MALFORMED_CBOR",  # 5a: 4-byte length, far too long
    (PROT_HEAD, 2): "MALFORMED_CBOR",  # 5c: reserved additional information
    (PROT_HEAD, 6): "TRAILING_BYTES",  # 18 26: uint 38, then map, {}, payload; sig trails
    (PROT_HEAD, 7): "FORBIDDEN_CBOR_TYPE",  # d8 26: tag inside
    (PROT_HEAD + 1, 5): "NON_DETERMINISTIC",  # 58 06: length 6 in the 1-byte form
    (UNPROT_AT, 0): "FORBIDDEN_CBOR_TYPE",  # a1: the map's key would be the payload bstr
    (UNPROT_AT, 1): "FORBIDDEN_CBOR_TYPE",  # a2
    (UNPROT_AT, 2): "FORBIDDEN_CBOR_TYPE",  # a4
    (UNPROT_AT, 3): "FORBIDDEN_CBOR_TYPE",  # a8
    (UNPROT_AT, 4): "FORBIDDEN_CBOR_TYPE",  # b0
    (UNPROT_AT, 5): "NOT_COSE_SIGN1",  # 80: an array where the map should be
    (UNPROT_AT, 6): "FORBIDDEN_CBOR_TYPE",  # e0: simple(0)
    (UNPROT_AT, 7): "NOT_COSE_SIGN1",  # 20: -1 where the map should be
    (PAYLOAD_HEAD, 1): "MALFORMED_CBOR",  # 5b: 8-byte length
    (PAYLOAD_HEAD, 2): "MALFORMED_CBOR",  # 5d: reserved
    (PAYLOAD_HEAD, 7): "FORBIDDEN_CBOR_TYPE",  # d9: tag inside
    (PAYLOAD_HEAD + 1, 0): "NON_DETERMINISTIC",  # 59 00 xx: a 1-byte length in 2 bytes
    **{(PAYLOAD_HEAD + 1, bit): "MALFORMED_CBOR" for bit in range(1, 8)},  # too long
    (SIG_HEAD, 0): "MALFORMED_CBOR",  # 59 40 xx
    (SIG_HEAD, 1): "MALFORMED_CBOR",  # 5a
    (SIG_HEAD, 2): "MALFORMED_CBOR",  # 5c
    (SIG_HEAD, 3): "TRAILING_BYTES",  # 50: bstr of 16, the rest of the signature trails
    (SIG_HEAD, 4): "TRAILING_BYTES",  # 48: bstr of 8
    (SIG_HEAD, 6): "TRAILING_BYTES",  # 18 40: uint 64, the signature bytes trail
    (SIG_HEAD, 7): "FORBIDDEN_CBOR_TYPE",  # d8 40: tag inside
    **{(SIG_HEAD + 1, bit): "MALFORMED_CBOR" for bit in (0, 1, 2, 3, 4, 5, 7)},  # too long
    (SIG_HEAD + 1, 6): "NON_DETERMINISTIC",  # 58 00
    # Inside the protected bstr: a2 01 32 04 58 20 kid. Everything but the alg value gives a
    # header that does not strictly decode to {1: -19, 4: bstr(32)}.
    **{(PROT_AT + i, bit): "BAD_PROTECTED_HEADER" for i in (0, 1, 3, 4, 5) for bit in range(8)},
    (PROT_AT + 2, 0): "UNSUPPORTED_ALGORITHM",  # 33: -20
    (PROT_AT + 2, 1): "UNSUPPORTED_ALGORITHM",  # 30: -17
    (PROT_AT + 2, 2): "UNSUPPORTED_ALGORITHM",  # 36: -23
    (PROT_AT + 2, 4): "UNSUPPORTED_ALGORITHM",  # 22: -3
    (PROT_AT + 2, 5): "UNSUPPORTED_ALGORITHM",  # 12: 18
    (PROT_AT + 2, 7): "BAD_PROTECTED_HEADER",  # b2: a map value whose keys run into the kid
}


def flip(data: bytes, offset: int, bit: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 1 << bit
    return bytes(out)


def test_layout_offsets() -> None:
    assert TOKEN[:PROT_AT] == bytes.fromhex("d2 84 58 26")
    assert TOKEN[KID_AT : KID_AT + 32] == KID
    assert TOKEN[UNPROT_AT] == 0xA0
    assert TOKEN[PAYLOAD_HEAD : PAYLOAD_HEAD + 2] == bytes.fromhex("59 01")  # 256..511 bytes
    assert TOKEN[SIG_HEAD:SIG_AT] == bytes.fromhex("58 40")
    assert TOKEN[SIG_AT:] == SIGNATURE
    assert len(TOKEN) == SIG_AT + 64


def test_every_single_bit_flip_is_refused() -> None:
    reasons: Counter[str] = Counter()
    for offset in range(len(TOKEN)):
        for bit in range(8):
            tampered = flip(TOKEN, offset, bit)
            code, reason = result(tampered)
            where = f"byte {offset} bit {bit}: {code}/{reason}"
            assert code == "INVALID_TOKEN", where  # never VALID, never a time/revocation code
            reasons[reason] += 1
            if KID_AT <= offset < KID_AT + 32:
                expected: str | None = "UNKNOWN_KID"
            elif PAYLOAD_AT <= offset < SIG_HEAD or offset >= SIG_AT:
                expected = "BAD_SIGNATURE"  # content of the signed payload or the signature
            else:
                expected = HAND_DERIVED_FLIPS.get((offset, bit))
            if expected is not None:
                assert reason == expected, where
            elif offset == PROT_AT + 2:
                assert reason in {"BAD_PROTECTED_HEADER", "UNSUPPORTED_ALGORITHM"}, where
            else:
                assert reason in STRUCTURAL | {"UNKNOWN_KID", "BAD_SIGNATURE"}, where
            if reason in STRUCTURAL:
                assert inspect_result(tampered) == reason, where
    assert sum(reasons.values()) == 8 * len(TOKEN)
    assert reasons["BAD_SIGNATURE"] >= 8 * (len(PAYLOAD) + 64)
    assert reasons["UNKNOWN_KID"] == 8 * 32


def test_hand_derived_flip_table_is_exercised() -> None:
    # Every (offset, bit) of the table is inside the token and the table covers the heads.
    assert all(offset < len(TOKEN) and 0 <= bit < 8 for offset, bit in HAND_DERIVED_FLIPS)
    assert len(HAND_DERIVED_FLIPS) >= 100


@given(st.integers(0, 10_000), st.integers(1, 255))
def test_any_single_byte_change_is_refused(position: int, delta: int) -> None:
    offset = position % len(TOKEN)
    tampered = bytearray(TOKEN)
    tampered[offset] = (tampered[offset] + delta) % 256
    code, _ = result(bytes(tampered))
    assert code == "INVALID_TOKEN"


# --------------------------------------------------------- truncation and appended bytes


def test_every_truncation_is_malformed() -> None:
    for size in range(len(TOKEN)):
        assert result(TOKEN[:size]) == invalid("MALFORMED_CBOR"), size
        assert inspect_result(TOKEN[:size]) == "MALFORMED_CBOR", size


@pytest.mark.parametrize(
    "suffix",
    [b"\x00", b"\xff", b"\xa0", b"\xf6", b"\x18", TOKEN, b"\x00" * 100],
    ids=["zero", "break", "empty-map", "null", "truncated-head", "second-token", "zeros"],
)
def test_appended_bytes_are_trailing(suffix: bytes) -> None:
    assert result(TOKEN + suffix) == invalid("TRAILING_BYTES")
    assert inspect_result(TOKEN + suffix) == "TRAILING_BYTES"


# ----------------------------------------------------------- size and depth (§7.3 step 1, §9)


def test_size_limit_is_inclusive_and_checked_first() -> None:
    padded = TOKEN + bytes(4096 - len(TOKEN))
    assert len(padded) == 4096
    assert result(padded) == invalid("TRAILING_BYTES")
    assert result(padded + b"\x00") == invalid("TOO_LARGE")
    assert inspect_result(padded + b"\x00") == "TOO_LARGE"


def _big_signed_token(size: int) -> bytes:
    """A correctly signed token of exactly ``size`` bytes whose payload has an extra claim."""
    filler = size - len(TOKEN) - 16
    while True:
        claims = claims_with({-70000: bytes(filler)})
        token = resigned(PROTECTED, det(claims))
        if len(token) >= size:
            assert len(token) == size, (len(token), size)
            return token
        filler += 1


def test_oversized_signed_token_is_too_large_not_bad_claims() -> None:
    at_limit = _big_signed_token(4096)
    assert result(at_limit) == invalid("BAD_CLAIMS")  # extra claim: judged, not size-refused
    over = _big_signed_token(4097)
    assert result(over) == invalid("TOO_LARGE")
    assert inspect_result(over) == "TOO_LARGE"


def test_hundred_megabyte_input_is_refused_as_too_large() -> None:
    huge = TOKEN + bytes(100 * 1024 * 1024)
    assert result(huge) == invalid("TOO_LARGE")
    assert inspect_result(huge) == "TOO_LARGE"


def test_deep_input_within_size_limit_is_too_deep() -> None:
    deep = TAG18 + b"\x81" * 4094 + b"\x00"
    assert len(deep) == 4096
    assert result(deep) == invalid("TOO_DEEP")
    assert inspect_result(deep) == "TOO_DEEP"


def test_depth_limit_inside_the_unprotected_header() -> None:
    # tag (1) > array (2) > unprotected map (3) > value (4) ... the limit is depth 8.
    at_limit = b"\xa1\x01" + b"\x81" * 4 + b"\x00"  # the innermost 0 is at depth 8
    over = b"\xa1\x01" + b"\x81" * 5 + b"\x00"
    ok_depth = assemble(PROTECTED, PAYLOAD, SIGNATURE, unprotected=at_limit)
    too_deep = assemble(PROTECTED, PAYLOAD, SIGNATURE, unprotected=over)
    assert result(ok_depth) == invalid("UNPROTECTED_HEADER_NOT_EMPTY")
    assert result(too_deep) == invalid("TOO_DEEP")


# ------------------------------------------------------------------ structural re-encodings

ENC_PROT = bstr(PROTECTED)
ENC_PAYLOAD = bstr(PAYLOAD)
ENC_SIG = bstr(SIGNATURE)
ARRAY4 = head(4, 4)
BODY = ENC_PROT + b"\xa0" + ENC_PAYLOAD + ENC_SIG


def _outer_cases() -> list[tuple[str, bytes, str]]:
    """Changes of the unsigned outer structure: (id, token, reason)."""
    alg_kid = bytes.fromhex("a2 01 32") + PROTECTED_MAP_TAIL
    return [
        # non-shortest heads (§2.4 c)
        ("outer_nonshortest_tag", head(6, 18, 1) + ARRAY4 + BODY, "NON_DETERMINISTIC"),
        ("outer_nonshortest_tag_4byte", head(6, 18, 4) + ARRAY4 + BODY, "NON_DETERMINISTIC"),
        ("outer_nonshortest_array", TAG18 + head(4, 4, 1) + BODY, "NON_DETERMINISTIC"),
        (
            "outer_nonshortest_protected_length",
            TAG18 + ARRAY4 + bstr(PROTECTED, 2) + b"\xa0" + ENC_PAYLOAD + ENC_SIG,
            "NON_DETERMINISTIC",
        ),
        (
            "outer_nonshortest_unprotected",
            TAG18 + ARRAY4 + ENC_PROT + head(5, 0, 1) + ENC_PAYLOAD + ENC_SIG,
            "NON_DETERMINISTIC",
        ),
        (
            "outer_nonshortest_payload_length",
            TAG18 + ARRAY4 + ENC_PROT + b"\xa0" + bstr(PAYLOAD, 4) + ENC_SIG,
            "NON_DETERMINISTIC",
        ),
        (
            "outer_nonshortest_signature_length",
            TAG18 + ARRAY4 + ENC_PROT + b"\xa0" + ENC_PAYLOAD + bstr(SIGNATURE, 8),
            "NON_DETERMINISTIC",
        ),
        # indefinite lengths (§2.4 c)
        ("outer_indefinite_array", TAG18 + b"\x9f" + BODY + b"\xff", "NON_DETERMINISTIC"),
        (
            "outer_indefinite_protected",
            TAG18 + ARRAY4 + b"\x5f" + ENC_PROT + b"\xff" + b"\xa0" + ENC_PAYLOAD + ENC_SIG,
            "NON_DETERMINISTIC",
        ),
        (
            "outer_indefinite_unprotected",
            TAG18 + ARRAY4 + ENC_PROT + b"\xbf\xff" + ENC_PAYLOAD + ENC_SIG,
            "NON_DETERMINISTIC",
        ),
        (
            "outer_indefinite_payload_chunks",
            TAG18
            + ARRAY4
            + ENC_PROT
            + b"\xa0\x5f"
            + bstr(PAYLOAD[:100])
            + bstr(PAYLOAD[100:])
            + b"\xff"
            + ENC_SIG,
            "NON_DETERMINISTIC",
        ),
        # map order and duplicates in the unprotected map: step 2 comes before step 4
        (
            "outer_unprotected_unsorted",
            assemble(
                PROTECTED,
                PAYLOAD,
                SIGNATURE,
                unprotected=b"\xa2" + PROTECTED_MAP_TAIL + b"\x01\x32",
            ),
            "NON_DETERMINISTIC",
        ),
        (
            "outer_unprotected_duplicate_keys",
            assemble(PROTECTED, PAYLOAD, SIGNATURE, unprotected=bytes.fromhex("a2 0440 0440")),
            "NON_DETERMINISTIC",
        ),
        (
            "outer_unprotected_float",
            assemble(PROTECTED, PAYLOAD, SIGNATURE, unprotected=bytes.fromhex("a1 01 f93c00")),
            "FORBIDDEN_CBOR_TYPE",
        ),
        (
            "outer_unprotected_tag",
            assemble(PROTECTED, PAYLOAD, SIGNATURE, unprotected=bytes.fromhex("a1 01 c100")),
            "FORBIDDEN_CBOR_TYPE",
        ),
        (
            "outer_unprotected_bytes_key",
            assemble(PROTECTED, PAYLOAD, SIGNATURE, unprotected=bytes.fromhex("a1 40 00")),
            "FORBIDDEN_CBOR_TYPE",
        ),
        # header parameters in the unprotected header (step 4)
        (
            "outer_unprotected_copy_of_alg_kid",
            assemble(PROTECTED, PAYLOAD, SIGNATURE, unprotected=alg_kid),
            "UNPROTECTED_HEADER_NOT_EMPTY",
        ),
        (
            "outer_unprotected_kid_only",
            assemble(PROTECTED, PAYLOAD, SIGNATURE, unprotected=b"\xa1" + PROTECTED_MAP_TAIL),
            "UNPROTECTED_HEADER_NOT_EMPTY",
        ),
        (
            "outer_alg_kid_moved_to_unprotected_empty_bstr",
            resigned(b"", PAYLOAD, unprotected=alg_kid),
            "UNPROTECTED_HEADER_NOT_EMPTY",
        ),
        (
            "outer_alg_kid_moved_to_unprotected_empty_map",
            resigned(b"\xa0", PAYLOAD, unprotected=alg_kid),
            "UNPROTECTED_HEADER_NOT_EMPTY",
        ),
        (
            "outer_alg_moved_kid_kept",
            resigned(b"\xa1" + PROTECTED_MAP_TAIL, PAYLOAD, unprotected=bytes.fromhex("a10132")),
            "UNPROTECTED_HEADER_NOT_EMPTY",
        ),
        # tags (steps 2 and 3)
        ("outer_tag18_removed", ARRAY4 + BODY, "NOT_COSE_SIGN1"),
        ("outer_tag18_doubled", TAG18 + TAG18 + ARRAY4 + BODY, "FORBIDDEN_CBOR_TYPE"),
        ("outer_tag61_wrapping", head(6, 61) + TAG18 + ARRAY4 + BODY, "FORBIDDEN_CBOR_TYPE"),
        ("outer_tag61_instead_of_18", head(6, 61) + ARRAY4 + BODY, "NOT_COSE_SIGN1"),
        ("outer_tag98_cose_sign", head(6, 98) + ARRAY4 + BODY, "NOT_COSE_SIGN1"),
        ("outer_tag17_cose_mac0", head(6, 17) + ARRAY4 + BODY, "NOT_COSE_SIGN1"),
        ("outer_tag_inside_array", TAG18 + ARRAY4 + TAG18 + BODY, "FORBIDDEN_CBOR_TYPE"),
        # shape (step 3)
        (
            "outer_array_of_3",
            TAG18 + head(4, 3) + ENC_PROT + b"\xa0" + ENC_PAYLOAD,
            "NOT_COSE_SIGN1",
        ),
        ("outer_array_of_5", TAG18 + head(4, 5) + BODY + bstr(b""), "NOT_COSE_SIGN1"),
        ("outer_map_not_array", TAG18 + b"\xa0", "NOT_COSE_SIGN1"),
        (
            "outer_protected_as_map",
            TAG18 + ARRAY4 + PROTECTED + b"\xa0" + ENC_PAYLOAD + ENC_SIG,
            "NOT_COSE_SIGN1",
        ),
        (
            "outer_unprotected_as_bstr",
            TAG18 + ARRAY4 + ENC_PROT + b"\x40" + ENC_PAYLOAD + ENC_SIG,
            "NOT_COSE_SIGN1",
        ),
        (
            "outer_detached_payload_nil",
            TAG18 + ARRAY4 + ENC_PROT + b"\xa0" + b"\xf6" + ENC_SIG,
            "NOT_COSE_SIGN1",
        ),
        (
            "outer_payload_as_map",
            TAG18 + ARRAY4 + ENC_PROT + b"\xa0" + PAYLOAD + ENC_SIG,
            "NOT_COSE_SIGN1",
        ),
        (
            "outer_signature_as_text",
            TAG18 + ARRAY4 + ENC_PROT + b"\xa0" + ENC_PAYLOAD + tstr(SIGNATURE.hex()),
            "NOT_COSE_SIGN1",
        ),
    ]


def _protected_cases() -> list[tuple[str, bytes, str]]:
    """Protected headers, each re-signed by the issuer: only the header itself is wrong."""
    tail = PROTECTED_MAP_TAIL
    headers = [
        (
            "protected_nonshortest_map_head",
            head(5, 2, 1) + b"\x01\x32" + tail,
            "BAD_PROTECTED_HEADER",
        ),
        (
            "protected_nonshortest_label",
            b"\xa2" + head(0, 1, 1) + b"\x32" + tail,
            "BAD_PROTECTED_HEADER",
        ),
        ("protected_nonshortest_alg", b"\xa2\x01" + head(1, 18, 1) + tail, "BAD_PROTECTED_HEADER"),
        (
            "protected_nonshortest_kid_length",
            bytes.fromhex("a2 01 32 04") + bstr(KID, 2),
            "BAD_PROTECTED_HEADER",
        ),
        ("protected_reversed_order", b"\xa2" + tail + b"\x01\x32", "BAD_PROTECTED_HEADER"),
        ("protected_indefinite_map", b"\xbf\x01\x32" + tail + b"\xff", "BAD_PROTECTED_HEADER"),
        (
            "protected_indefinite_kid",
            bytes.fromhex("a2 01 32 04 5f") + bstr(KID) + b"\xff",
            "BAD_PROTECTED_HEADER",
        ),
        ("protected_duplicate_alg", b"\xa3\x01\x32\x01\x32" + tail, "BAD_PROTECTED_HEADER"),
        ("protected_tagged", TAG18 + PROTECTED, "BAD_PROTECTED_HEADER"),
        ("protected_trailing_byte", PROTECTED + b"\x00", "BAD_PROTECTED_HEADER"),
        ("protected_empty_bstr", b"", "BAD_PROTECTED_HEADER"),
        ("protected_empty_map", b"\xa0", "BAD_PROTECTED_HEADER"),
        ("protected_array", b"\x82\x01\x32", "BAD_PROTECTED_HEADER"),
        ("protected_missing_alg", b"\xa1" + tail, "BAD_PROTECTED_HEADER"),
        ("protected_missing_kid", b"\xa1\x01\x32", "BAD_PROTECTED_HEADER"),
        (
            "protected_extra_label",
            b"\xa3\x01\x32\x03\x00" + tail,
            "BAD_PROTECTED_HEADER",
        ),
        (
            "protected_kid_31_bytes",
            bytes.fromhex("a2 01 32 04") + bstr(KID[:31]),
            "BAD_PROTECTED_HEADER",
        ),
        (
            "protected_kid_33_bytes",
            bytes.fromhex("a2 01 32 04") + bstr(KID + b"\x00"),
            "BAD_PROTECTED_HEADER",
        ),
        (
            "protected_kid_as_text",
            bytes.fromhex("a2 01 32 04") + tstr(KID.hex()),
            "BAD_PROTECTED_HEADER",
        ),
        ("protected_alg_eddsa_minus8", b"\xa2\x01\x27" + tail, "UNSUPPORTED_ALGORITHM"),
        ("protected_alg_es256_minus7", b"\xa2\x01\x26" + tail, "UNSUPPORTED_ALGORITHM"),
        ("protected_alg_plus19", b"\xa2\x01\x13" + tail, "UNSUPPORTED_ALGORITHM"),
        ("protected_alg_text", b"\xa2\x01" + tstr("EdDSA") + tail, "UNSUPPORTED_ALGORITHM"),
        ("protected_alg_minus8_no_kid", b"\xa1\x01\x27", "UNSUPPORTED_ALGORITHM"),  # 6 before 7
        ("protected_alg_minus8_extra", b"\xa3\x01\x27\x03\x00" + tail, "UNSUPPORTED_ALGORITHM"),
        (
            "protected_kid_holder_thumbprint",
            bytes.fromhex("a2 01 32 04") + bstr(cose_key_thumbprint(HOLDER.public_key)),
            "UNKNOWN_KID",
        ),
        ("protected_kid_zero", bytes.fromhex("a2 01 32 04") + bstr(bytes(32)), "UNKNOWN_KID"),
        (
            "protected_kid_raw_public_key",
            bytes.fromhex("a2 01 32 04") + bstr(ISSUER.public_key),
            "UNKNOWN_KID",
        ),
    ]
    return [(name, resigned(protected, PAYLOAD), reason) for name, protected, reason in headers]


def _payload_variants() -> list[tuple[str, bytes]]:
    """Payloads carrying the same or broken claims; judged by step 10 when re-signed."""
    items = list(CLAIMS.items())
    iss_entry = b"\x01" + tstr(str(CLAIMS[1]))
    kty_true = claims_with({8: {1: {1: True, -1: 6, -2: HOLDER.public_key}}})
    return [
        # the same logical claims, encoded differently (§2.4 c, e)
        ("payload_nonshortest_map_head", head(5, 14, 1) + PAYLOAD[1:]),
        ("payload_nonshortest_key", replace_once(PAYLOAD, iss_entry, b"\x18\x01" + iss_entry[1:])),
        (
            "payload_nonshortest_int_value",
            replace_once(PAYLOAD, bytes.fromhex("3a00010000 01"), bytes.fromhex("3a00010000 1801")),
        ),
        (
            "payload_nonshortest_text_length",
            replace_once(PAYLOAD, iss_entry, b"\x01" + tstr(str(CLAIMS[1]), 1)),
        ),
        ("payload_reversed_map_order", det_map(items[::-1], sort=False)),
        (
            "payload_numeric_key_order",
            det_map(sorted(items, key=lambda kv: cast(int, kv[0])), sort=False),
        ),
        ("payload_indefinite_map", b"\xbf" + PAYLOAD[1:] + b"\xff"),
        (
            "payload_indefinite_text",
            replace_once(PAYLOAD, iss_entry, b"\x01\x7f" + tstr(str(CLAIMS[1])) + b"\xff"),
        ),
        ("payload_duplicate_key", head(5, 15) + iss_entry + PAYLOAD[1:]),
        # not the profile at all
        ("payload_cwt_tag61", head(6, 61) + PAYLOAD),
        ("payload_trailing_byte", PAYLOAD + b"\x00"),
        ("payload_float_version", det(claims_with({-65537: Raw(bytes.fromhex("f93c00"))}))),
        ("payload_empty", b""),
        # deterministic, but not the claims of §6.3
        ("payload_version_2", det(claims_with({-65537: 2}))),
        ("payload_version_true", det(claims_with({-65537: True}))),
        ("payload_missing_hrc_claim", det(claims_with(drop=(-65546,)))),
        ("payload_extra_iat_claim", det(claims_with({6: 1}))),
        ("payload_empty_expiry_window", det(claims_with({-65543: CLAIMS[-65542]}))),
        ("payload_sub_not_identifier", det(claims_with({2: "task 2026"}))),
        ("payload_cti_15_bytes", det(claims_with({7: LEASE_ID[:15]}))),
        ("payload_hrc_31_bytes", det(claims_with({-65546: bytes(31)}))),
        (
            "payload_sensitivity_lowercase",
            det(claims_with({-65545: {**CONSTRAINTS, "sensitivity": "low"}})),
        ),
        ("payload_constraints_extra", det(claims_with({-65545: {**CONSTRAINTS, "x": 1}}))),
        ("payload_reversible_int", det(claims_with({-65545: {**CONSTRAINTS, "reversible": 1}}))),
        ("payload_epoch_empty", det(claims_with({-65541: ""}))),
        ("payload_issued_negative", det(claims_with({-65542: -1}))),
        ("payload_holder_key_31_bytes", det(claims_with({8: {1: {1: 1, -1: 6, -2: bytes(31)}}}))),
        ("payload_cnf_kty_ec2", det(claims_with({8: {1: {1: 2, -1: 6, -2: HOLDER.public_key}}}))),
        # kty must be the integer 1; true is not an integer (spec §2.1, §6.3, §7.3 step 10)
        ("payload_cnf_kty_true", det(kty_true)),
    ]


PAYLOAD_VARIANTS = _payload_variants()
OUTER_CASES = _outer_cases()
PROTECTED_CASES = _protected_cases()


def test_payload_variants_are_really_different_bytes() -> None:
    for name, payload in PAYLOAD_VARIANTS:
        assert payload != PAYLOAD, name


@pytest.mark.parametrize(
    ("token", "reason"), [c[1:] for c in OUTER_CASES], ids=[c[0] for c in OUTER_CASES]
)
def test_outer_structure_tampering(token: bytes, reason: str) -> None:
    assert result(token) == invalid(reason)
    assert inspect_result(token) == reason


@pytest.mark.parametrize(
    ("token", "reason"), [c[1:] for c in PROTECTED_CASES], ids=[c[0] for c in PROTECTED_CASES]
)
def test_protected_header_tampering_resigned(token: bytes, reason: str) -> None:
    assert result(token) == invalid(reason)
    if reason in STRUCTURAL:
        assert inspect_result(token) == reason
    else:  # UNKNOWN_KID: inspection does not judge the key id, it only decodes
        assert inspect_result(token) == "DECODED"


def test_protected_header_tampering_without_resigning() -> None:
    # Steps 5-8 come before the signature check: the reason is the header's, not BAD_SIGNATURE.
    for name, token, reason in PROTECTED_CASES:
        protected, payload, _ = parts(token)
        stale = assemble(protected, payload, SIGNATURE)
        assert result(stale) == invalid(reason), name


@pytest.mark.parametrize(
    "payload", [v[1] for v in PAYLOAD_VARIANTS], ids=[v[0] for v in PAYLOAD_VARIANTS]
)
def test_payload_reencoded_not_resigned_is_bad_signature(payload: bytes) -> None:
    token = assemble(PROTECTED, payload, SIGNATURE)
    assert result(token) == invalid("BAD_SIGNATURE")


@pytest.mark.parametrize(
    "payload", [v[1] for v in PAYLOAD_VARIANTS], ids=[v[0] for v in PAYLOAD_VARIANTS]
)
def test_payload_reencoded_and_resigned_is_bad_claims(payload: bytes) -> None:
    token = resigned(PROTECTED, payload)
    assert result(token) == invalid("BAD_CLAIMS")
    assert inspect_result(token) == "BAD_CLAIMS"
    assert inspect_result(assemble(PROTECTED, payload, SIGNATURE)) == "BAD_CLAIMS"


# ------------------------------------------------------------------------- signatures


def _with_s(signature: bytes, s: int) -> bytes:
    return signature[:32] + s.to_bytes(32, "little")


ED25519_L = 2**252 + 27742317777372353535851937790883648493


def _signature_cases() -> list[tuple[str, bytes]]:
    s = int.from_bytes(SIGNATURE[32:], "little")
    tbs = to_be_signed(PROTECTED, PAYLOAD)
    other_key = cose_key_thumbprint(MALLORY.public_key)
    return [
        ("signature_s_plus_l", assemble(PROTECTED, PAYLOAD, _with_s(SIGNATURE, s + ED25519_L))),
        ("signature_s_equals_l", assemble(PROTECTED, PAYLOAD, _with_s(SIGNATURE, ED25519_L))),
        ("signature_63_bytes", assemble(PROTECTED, PAYLOAD, SIGNATURE[:63])),
        ("signature_65_bytes", assemble(PROTECTED, PAYLOAD, SIGNATURE + b"\x00")),
        ("signature_empty", assemble(PROTECTED, PAYLOAD, b"")),
        ("signature_zero", assemble(PROTECTED, PAYLOAD, bytes(64))),
        ("signature_by_mallory_with_issuer_kid", resigned(PROTECTED, PAYLOAD, MALLORY_SEED)),
        ("signature_by_holder_with_issuer_kid", resigned(PROTECTED, PAYLOAD, HOLDER_SEED)),
        (
            "signature_with_external_aad",
            assemble(
                PROTECTED, PAYLOAD, sign_with(ISSUER_SEED, to_be_signed(PROTECTED, PAYLOAD, b"x"))
            ),
        ),
        (
            "signature_context_signature_not_signature1",
            assemble(
                PROTECTED,
                PAYLOAD,
                sign_with(ISSUER_SEED, tbs.replace(tstr("Signature1"), tstr("Signature"))),
            ),
        ),
        (
            "signature_over_payload_only",
            assemble(PROTECTED, PAYLOAD, sign_with(ISSUER_SEED, PAYLOAD)),
        ),
        ("claims_of_b_with_signature_of_a", assemble(PROTECTED, PAYLOAD_B, SIGNATURE)),
        ("claims_of_a_with_signature_of_b", assemble(PROTECTED_B, PAYLOAD, SIGNATURE_B)),
        (
            "holder_swapped_in_cnf_signed_by_mallory_issuer_kid",
            resigned(
                PROTECTED,
                det(claims_with({8: {1: {1: 1, -1: 6, -2: MALLORY.public_key}}})),
                MALLORY_SEED,
            ),
        ),
        (
            "holder_swapped_in_cnf_not_resigned",
            assemble(
                PROTECTED,
                det(claims_with({8: {1: {1: 1, -1: 6, -2: MALLORY.public_key}}})),
                SIGNATURE,
            ),
        ),
        (
            "signature_over_another_protected_header",
            assemble(
                PROTECTED,
                PAYLOAD,
                sign_with(
                    MALLORY_SEED,
                    to_be_signed(bytes.fromhex("a2 01 32 04") + bstr(other_key), PAYLOAD),
                ),
            ),
        ),
    ]


SIGNATURE_CASES = _signature_cases()


@pytest.mark.parametrize(
    "token", [c[1] for c in SIGNATURE_CASES], ids=[c[0] for c in SIGNATURE_CASES]
)
def test_signature_tampering_is_bad_signature(token: bytes) -> None:
    assert result(token) == invalid("BAD_SIGNATURE")


def test_claims_swap_sanity() -> None:
    # The parts of B, reassembled, are B: the swap above is the only defect.
    assert assemble(PROTECTED_B, PAYLOAD_B, SIGNATURE_B) == GRANT_B.token
    assert PROTECTED_B == PROTECTED


def test_holder_swapped_and_resigned_with_own_kid_is_unknown_kid() -> None:
    # Mallory puts her key in cnf, her kid in the header and signs: not the issuer's kid.
    mallory_kid = cose_key_thumbprint(MALLORY.public_key)
    protected = bytes.fromhex("a2 01 32 04") + bstr(mallory_kid)
    payload = det(claims_with({8: {1: {1: 1, -1: 6, -2: MALLORY.public_key}}}))
    token = resigned(protected, payload, MALLORY_SEED)
    mallory_proof = sign_holder_proof(MALLORY, LEASE_ID, CHALLENGE)
    assert result(token, mallory_proof) == invalid("UNKNOWN_KID")
    # The same token is valid only for a verifier that trusts Mallory as issuer: the kernel
    # judges the issuer key it is given, never one taken from the token.
    assert result(token, mallory_proof, issuer_public_key=MALLORY.public_key) == VALID


# ------------------------------------------------------------------------- holder proofs


def _proof_with(**changes: object) -> dict[str, object]:
    proof: dict[str, object] = dict(PROOF)
    proof.update(changes)
    return proof


def _holder_signed(
    lease_id: bytes, challenge: bytes, context: str = "PDA-LEASE-HOLDER-v1"
) -> bytes:
    return det([context, lease_id, challenge])


def _holder_cases() -> list[tuple[str, object, str]]:
    s = int.from_bytes(bytes.fromhex(str(PROOF["signature"]))[32:], "little")
    sig = bytes.fromhex(str(PROOF["signature"]))
    other_challenge = bytes(range(200, 232))
    non_text_key: dict[object, object] = {1: "x"}
    for name, value in PROOF.items():
        non_text_key[name] = value
    return [
        ("missing", None, "HOLDER_PROOF_MISSING"),
        ("by_mallory", sign_holder_proof(MALLORY, LEASE_ID, CHALLENGE), "HOLDER_PROOF_INVALID"),
        ("by_issuer", sign_holder_proof(ISSUER, LEASE_ID, CHALLENGE), "HOLDER_PROOF_INVALID"),
        ("for_other_lease", PROOF_B, "HOLDER_PROOF_INVALID"),
        ("other_challenge", _proof_with(challenge=other_challenge.hex()), "HOLDER_PROOF_INVALID"),
        (
            "other_context",
            _proof_with(
                signature=sign_with(
                    HOLDER_SEED, _holder_signed(LEASE_ID, CHALLENGE, "PDA-LEASE-HOLDER-v0")
                ).hex()
            ),
            "HOLDER_PROOF_INVALID",
        ),
        (
            "over_raw_challenge",
            _proof_with(signature=sign_with(HOLDER_SEED, CHALLENGE).hex()),
            "HOLDER_PROOF_INVALID",
        ),
        (
            "non_canonical_s",
            _proof_with(signature=_with_s(sig, s + ED25519_L).hex()),
            "HOLDER_PROOF_INVALID",
        ),
        ("zero_signature", _proof_with(signature="00" * 64), "HOLDER_PROOF_INVALID"),
        (
            "uppercase_challenge",
            _proof_with(challenge=CHALLENGE.hex().upper()),
            "HOLDER_PROOF_MALFORMED",
        ),
        ("uppercase_signature", _proof_with(signature=sig.hex().upper()), "HOLDER_PROOF_MALFORMED"),
        ("short_challenge_15_bytes", _proof_with(challenge="ab" * 15), "HOLDER_PROOF_MALFORMED"),
        ("long_challenge_65_bytes", _proof_with(challenge="ab" * 65), "HOLDER_PROOF_MALFORMED"),
        ("odd_length_challenge", _proof_with(challenge="a" * 33), "HOLDER_PROOF_MALFORMED"),
        ("empty_challenge", _proof_with(challenge=""), "HOLDER_PROOF_MALFORMED"),
        ("challenge_not_hex", _proof_with(challenge="zz" * 16), "HOLDER_PROOF_MALFORMED"),
        ("challenge_bytes_not_text", _proof_with(challenge=CHALLENGE), "HOLDER_PROOF_MALFORMED"),
        ("short_signature", _proof_with(signature=sig.hex()[:-1]), "HOLDER_PROOF_MALFORMED"),
        ("long_signature", _proof_with(signature=sig.hex() + "00"), "HOLDER_PROOF_MALFORMED"),
        ("signature_int", _proof_with(signature=0), "HOLDER_PROOF_MALFORMED"),
        ("extra_field", _proof_with(lease_id=LEASE_ID.hex()), "HOLDER_PROOF_MALFORMED"),
        ("missing_signature", {"challenge": CHALLENGE.hex()}, "HOLDER_PROOF_MALFORMED"),
        ("missing_challenge", {"signature": sig.hex()}, "HOLDER_PROOF_MALFORMED"),
        ("empty_object", dict[str, str](), "HOLDER_PROOF_MALFORMED"),
        ("list", [CHALLENGE.hex(), sig.hex()], "HOLDER_PROOF_MALFORMED"),
        ("string", CHALLENGE.hex(), "HOLDER_PROOF_MALFORMED"),
        ("integer", 1, "HOLDER_PROOF_MALFORMED"),
        ("boolean", True, "HOLDER_PROOF_MALFORMED"),
        ("float_field", _proof_with(extra=1.0), "HOLDER_PROOF_MALFORMED"),
        ("non_text_key", non_text_key, "HOLDER_PROOF_MALFORMED"),
    ]


HOLDER_CASES = _holder_cases()


@pytest.mark.parametrize(
    ("proof", "reason"), [c[1:] for c in HOLDER_CASES], ids=[c[0] for c in HOLDER_CASES]
)
def test_holder_proof_tampering(proof: object, reason: str) -> None:
    assert result(TOKEN, proof) == invalid(reason)


@pytest.mark.parametrize("size", [16, 64])
def test_holder_proof_challenge_size_bounds_are_valid(size: int) -> None:
    challenge = bytes(range(size))
    assert result(TOKEN, sign_holder_proof(HOLDER, LEASE_ID, challenge)) == VALID
    # The same proof built by hand over det(["PDA-LEASE-HOLDER-v1", lease_id, challenge]).
    by_hand = {
        "challenge": challenge.hex(),
        "signature": sign_with(HOLDER_SEED, _holder_signed(LEASE_ID, challenge)).hex(),
    }
    assert result(TOKEN, by_hand) == VALID


# --------------------------------------------- decode_unverified: the same structural refusals


def test_decode_unverified_refuses_structural_tampering_like_verify() -> None:
    cases = [(name, token, reason) for name, token, reason in OUTER_CASES + PROTECTED_CASES]
    checked = 0
    for name, token, reason in cases:
        if reason in STRUCTURAL:
            assert inspect_result(token) == reason, name
            checked += 1
    assert checked >= 60
    # Signature and kid are not judged by inspection; the claims still are.
    for name, token in SIGNATURE_CASES:
        assert inspect_result(token) in {"DECODED", "BAD_CLAIMS"}, name
