"""Ed25519, COSE Sig_structure and COSE Key Thumbprint against published and derived vectors.

Official vectors first (RFC 8032 §7.1, the cose-wg Examples repository), then the RFC 9679
thumbprint derived by hand, then Wycheproof-style edge cases built here: small-order and
non-canonical public keys, non-canonical ``S``, the "identity key signs everything" forgery.
A small pure-Python model of edwards25519 (affine coordinates, no constant time: test only)
checks that the edge-case inputs really are what their names say, independently of libsodium.
"""

from __future__ import annotations

import hashlib

import cbor2
import pytest

from pda_lease import Ed25519Signer, InvalidLease, MonotonicTime, UsageError, cose_key_thumbprint
from pda_lease import verify_token as verify_lease_token
from pda_lease.kernel.cbor import Tag, decode
from pda_lease.kernel.crypto import is_valid_public_key, verify_signature
from pda_lease.kernel.token import sig_structure

# ------------------------------------------------------------------- edwards25519 model

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # order of the prime subgroup (RFC 8032)
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int]
IDENTITY: Point = (0, 1)


def point_add(a: Point, b: Point) -> Point:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P
    return x3, y3


def scalar_mult(k: int, point: Point) -> Point:
    result = IDENTITY
    while k:
        if k & 1:
            result = point_add(result, point)
        point = point_add(point, point)
        k >>= 1
    return result


def decode_point(encoding: bytes) -> Point | None:
    """RFC 8032 §5.1.3 decoding, except that y is reduced mod p (to study non-canonical y)."""
    y = int.from_bytes(encoding, "little") & ((1 << 255) - 1)
    sign = encoding[31] >> 7
    y %= P
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    if x2 == 0:
        return (0, y) if sign == 0 else None
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y


def encode_point(point: Point) -> bytes:
    x, y = point
    return (y | (x & 1) << 255).to_bytes(32, "little")


def test_edwards_model_matches_rfc8032() -> None:
    # The model must reproduce the RFC 8032 §7.1 TEST 1 public key from its secret key, or the
    # edge-case checks below would prove nothing.
    digest = hashlib.sha512(bytes.fromhex(TEST1_SECRET)).digest()
    scalar = int.from_bytes(digest[:32], "little")
    scalar &= (1 << 254) - 8
    scalar |= 1 << 254
    base = decode_point((4 * pow(5, -1, P) % P).to_bytes(32, "little"))
    assert base is not None
    assert scalar_mult(L, base) == IDENTITY
    assert encode_point(scalar_mult(scalar, base)).hex() == TEST1_PUBLIC


# ------------------------------------------------------------------ RFC 8032 §7.1 vectors

TEST1_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
TEST1_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
TEST1_SIGNATURE = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)

RFC8032_VECTORS = [
    # (name, secret key, public key, message, signature)
    ("TEST 1", TEST1_SECRET, TEST1_PUBLIC, "", TEST1_SIGNATURE),
    (
        "TEST 2",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "TEST 3",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(
    ("secret", "public", "message", "signature"),
    [v[1:] for v in RFC8032_VECTORS],
    ids=[v[0] for v in RFC8032_VECTORS],
)
def test_rfc8032_sign_and_verify(secret: str, public: str, message: str, signature: str) -> None:
    signer = Ed25519Signer(bytes.fromhex(secret))
    msg = bytes.fromhex(message)
    assert signer.public_key.hex() == public
    assert signer.sign(msg).hex() == signature
    pk, sig = bytes.fromhex(public), bytes.fromhex(signature)
    assert verify_signature(pk, msg, sig) is True
    assert verify_signature(pk, msg + b"\x00", sig) is False
    flipped = bytearray(sig)
    flipped[0] ^= 1
    assert verify_signature(pk, msg, bytes(flipped)) is False


def test_rfc8032_signature_does_not_verify_under_another_key() -> None:
    other = bytes.fromhex(RFC8032_VECTORS[1][2])
    assert verify_signature(other, b"", bytes.fromhex(TEST1_SIGNATURE)) is False


@pytest.mark.parametrize(
    "seed", [b"", b"\x00" * 31, b"\x00" * 33, "00" * 32, bytearray(32)], ids=repr
)
def test_signer_refuses_bad_seeds(seed: object) -> None:
    with pytest.raises(UsageError):
        Ed25519Signer(seed)  # type: ignore[arg-type]


# ------------------------------------------------- cose-wg Examples eddsa-sig-01 (Sign1)

# cose-wg/Examples eddsa-examples/eddsa-sig-01.json ("EdDSA-01: EdDSA - 25519 - sign0"), output
# "cbor": key "11" is the RFC 8032 TEST 1 key, alg EdDSA (-8), content "This is the content."
COSE_WG_EDDSA_SIG_01 = (
    "D28445A201270300A10442313154546869732069732074686520636F6E74656E742E5840"
    "7142FD2FF96D56DB85BEE905A76BA1D0B7321A95C8C4D3607C5781932B7AFB8711497DFA75"
    "1BF40B58B3BCC32300B1487F3DB34085EEF013BF08F4A44D6FEF0D"
)
# Hand-derived RFC 9052 §4.4 ToBeSigned: ["Signature1", h'A201270300', h'', h'5468...2E']
#   84                       array(4)
#   6A 5369676E617475726531  "Signature1"
#   45 A201270300            protected {1: -8, 3: 0}
#   40                       external_aad h''
#   54 5468...2E             payload "This is the content." (20 bytes)
COSE_WG_TO_BE_SIGNED = (
    "846A5369676E61747572653145A2012703004054546869732069732074686520636F6E74656E742E"
)


def test_cose_wg_sign1_to_be_signed_and_signature() -> None:
    message = bytes.fromhex(COSE_WG_EDDSA_SIG_01)
    outer = decode(message, max_depth=8, allow_top_tag=True)
    assert isinstance(outer, Tag)
    assert outer.number == 18
    assert isinstance(outer.content, list)
    protected, unprotected, payload, signature = outer.content
    assert protected == bytes.fromhex("A201270300")
    assert unprotected == {4: b"11"}
    assert payload == b"This is the content."
    assert isinstance(signature, bytes)
    tbs = sig_structure(protected, payload)
    assert tbs.hex().upper() == COSE_WG_TO_BE_SIGNED
    # The example's signature verifies over our ToBeSigned with the RFC 8032 TEST 1 key, and
    # the deterministic signer reproduces it byte for byte.
    assert verify_signature(bytes.fromhex(TEST1_PUBLIC), tbs, signature) is True
    assert Ed25519Signer(bytes.fromhex(TEST1_SECRET)).sign(tbs) == signature


def test_cose_wg_sign1_is_not_a_lease_token() -> None:
    # A well-formed, correctly signed COSE_Sign1 by the issuer key is still refused: first for
    # its unprotected kid (§7.3 step 4), then, with that emptied (the unprotected header is not
    # signed), for its polymorphic EdDSA -8 algorithm (step 6).
    message = bytes.fromhex(COSE_WG_EDDSA_SIG_01)
    kwargs: dict[str, object] = {
        "issuer_public_key": bytes.fromhex(TEST1_PUBLIC),
        "task_id": "t",
        "manifest_digest": bytes(32),
        "now": MonotonicTime("e", 0),
        "holder_proof": None,
    }
    with pytest.raises(InvalidLease) as info:
        verify_lease_token(message, **kwargs)  # type: ignore[arg-type]
    assert info.value.deny.reason == "UNPROTECTED_HEADER_NOT_EMPTY"
    emptied = message.replace(bytes.fromhex("A104423131"), b"\xa0", 1)
    with pytest.raises(InvalidLease) as info:
        verify_lease_token(emptied, **kwargs)  # type: ignore[arg-type]
    assert info.value.deny.reason == "UNSUPPORTED_ALGORITHM"


# --------------------------------------------------------- RFC 9679 COSE Key Thumbprint


def test_thumbprint_of_rfc8032_test1_key() -> None:
    x = bytes.fromhex(TEST1_PUBLIC)
    # det({1: 1, -1: 6, -2: x}) by hand: a3 map(3); 01 01 kty: OKP; 20 06 crv: Ed25519;
    # 21 58 20 x: -2 => bstr(32). Keys 01 < 20 < 21 are already in bytewise order.
    cose_key = bytes.fromhex("a301012006215820") + x
    assert cbor2.dumps({1: 1, -1: 6, -2: x}) == cose_key  # cbor2 agrees on the bytes
    expected = hashlib.sha256(cose_key).digest()
    assert expected.hex() == "866eefbd6718c8846cd7ddfe43fc74ab1daac4538ff8514ea2ec2d410a415743"
    assert cose_key_thumbprint(x) == expected


@pytest.mark.parametrize("key", [b"", b"\x00" * 31, b"\x00" * 33, "00" * 32], ids=repr)
def test_thumbprint_refuses_non_keys(key: object) -> None:
    with pytest.raises(UsageError):
        cose_key_thumbprint(key)  # type: ignore[arg-type]


# ------------------------------------------------------------ Wycheproof-style edge cases

# Every encoding of a point of small order (order 1, 2, 4 or 8), canonical or not, with the
# sign bit clear and set. These are the encodings libsodium blocks.
SMALL_ORDER_ENCODINGS = [
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = -1, order 2
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p (non-canon 0)
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1 (non-c. 1)
    "0000000000000000000000000000000000000000000000000000000000000080",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
]


@pytest.mark.parametrize("hex_", SMALL_ORDER_ENCODINGS)
def test_small_order_public_keys_are_refused(hex_: str) -> None:
    key = bytes.fromhex(hex_)
    point = decode_point(key)
    if point is not None:  # x = 0 with the sign bit set has no point: refused all the more
        assert scalar_mult(8, point) == IDENTITY  # really of small order (independent check)
    assert is_valid_public_key(key) is False
    # No signature verifies under such a key, not even one made "for" it.
    assert verify_signature(key, b"msg", bytes(64)) is False


def test_small_order_list_is_complete_for_canonical_torsion() -> None:
    # The 8 torsion points, computed here, are all in the list above.
    t8 = decode_point(bytes.fromhex(SMALL_ORDER_ENCODINGS[2]))
    assert t8 is not None
    torsion = {encode_point(scalar_mult(k, t8)).hex() for k in range(8)}
    assert len(torsion) == 8
    assert torsion <= set(SMALL_ORDER_ENCODINGS)


def test_identity_key_universal_forgery_is_refused() -> None:
    # With A = identity, R = identity and S = 0, the textbook equation [S]B = R + [k]A holds
    # for every message. libsodium refuses the small-order key and R.
    identity = encode_point(IDENTITY)
    forged = identity + bytes(32)
    for message in (b"", b"any message", bytes(range(256))):
        assert verify_signature(identity, message, forged) is False


def test_non_canonical_public_key_encoding_is_refused() -> None:
    # y = 3 is on the curve; y = p + 3 encodes the same point non-canonically (< 2^255).
    assert decode_point((3).to_bytes(32, "little")) is not None
    non_canonical = (P + 3).to_bytes(32, "little")
    assert decode_point(non_canonical) == decode_point((3).to_bytes(32, "little"))
    assert is_valid_public_key(non_canonical) is False


def test_off_curve_public_key_is_refused() -> None:
    off_curve = (2).to_bytes(32, "little")  # x^2 = (y^2 - 1) / (d y^2 + 1) has no root
    assert decode_point(off_curve) is None
    assert is_valid_public_key(off_curve) is False


def test_valid_keys_are_accepted() -> None:
    for secret in (TEST1_SECRET, RFC8032_VECTORS[1][1], RFC8032_VECTORS[2][1]):
        public = Ed25519Signer(bytes.fromhex(secret)).public_key
        assert is_valid_public_key(public) is True


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_wrong_length_public_key_is_refused(size: int) -> None:
    assert is_valid_public_key(b"\x01" * size) is False
    assert verify_signature(b"\x01" * size, b"", bytes.fromhex(TEST1_SIGNATURE)) is False


def _with_s(signature: bytes, s: int) -> bytes:
    return signature[:32] + s.to_bytes(32, "little")


def test_non_canonical_s_is_refused() -> None:
    pk, sig = bytes.fromhex(TEST1_PUBLIC), bytes.fromhex(TEST1_SIGNATURE)
    s = int.from_bytes(sig[32:], "little")
    assert s < L
    # S + L is the same scalar mod L: a textbook verifier accepts it (malleability).
    for bad in (s + L, s + 2 * L, L, (1 << 256) - 1, s | 1 << 255):
        if bad < 1 << 256:
            assert verify_signature(pk, b"", _with_s(sig, bad)) is False, hex(bad)
    assert verify_signature(pk, b"", _with_s(sig, s)) is True


def test_signature_message_boundary_is_fixed() -> None:
    # libsodium's combined form is signature || message. A 65-byte "signature" whose last byte
    # is the first byte of a signed message must not verify the shorter message.
    pk = bytes.fromhex(TEST1_PUBLIC)
    signed = b"\x00abc"
    sig = Ed25519Signer(bytes.fromhex(TEST1_SECRET)).sign(signed)
    assert verify_signature(pk, signed, sig) is True
    assert verify_signature(pk, b"abc", sig + b"\x00") is False
    assert verify_signature(pk, signed + b"\x00", sig[:63]) is False


@pytest.mark.parametrize("size", [0, 63, 65, 128])
def test_wrong_length_signature_is_refused(size: int) -> None:
    sig = (bytes.fromhex(TEST1_SIGNATURE) * 2)[:size]
    assert verify_signature(bytes.fromhex(TEST1_PUBLIC), b"", sig) is False
