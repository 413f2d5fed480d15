"""Signed policy bundles and the policy store (spec §13.3).

A bundle is a tagged COSE_Sign1 over a GovernancePolicy document with the content type
``application/vnd.pda-lease.policy+cbor`` in its protected header. Verification is first
failure decides: TOO_LARGE, MALFORMED (strict decode and the COSE shape of §7.3 steps 3-7 with
exactly this header), UNTRUSTED_KEY, BAD_SIGNATURE (§7.3 step 9: "64 bytes and verifies"),
BAD_POLICY. The store adds NOT_STAGED, ISSUER_MISMATCH and ROLLBACK, and fails closed on every
read.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import cbor2
import nacl.signing
import pytest
from hypothesis import given

import strategies as gen
from pda_lease import conformance
from pda_lease.adapters.errors import StateError
from pda_lease.conformance import ISSUER, OTHER_ISSUER, governance_policy, vector_seed
from pda_lease.governance.bundle import (
    CONTENT_TYPE,
    MAX_BUNDLE_BYTES,
    BundleError,
    BundleFailure,
    VerifiedBundle,
    protected_header,
    sign_bundle,
    verify_bundle,
)
from pda_lease.governance.store import (
    ACTIVE_FILE,
    STAGED_FILE,
    TRUSTED_KEYS_FILE,
    PolicyStore,
)
from pda_lease.kernel import cbor
from pda_lease.kernel.crypto import Ed25519Signer, cose_key_thumbprint
from pda_lease.kernel.errors import InvalidLease, PolicyError, UsageError
from pda_lease.kernel.governance import GovernancePolicy
from pda_lease.kernel.token import open_token

ROOT = Path(__file__).resolve().parent.parent
POLICY_KEY = Ed25519Signer(vector_seed("policy-key"))
ROGUE_KEY = Ed25519Signer(vector_seed("rogue-policy-key"))
TRUSTED = [POLICY_KEY.public_key]
ISSUER_KID = cose_key_thumbprint(ISSUER.public_key)


def bundle_for(version: int = 1, signer: Ed25519Signer = POLICY_KEY) -> bytes:
    return sign_bundle(signer, governance_policy(version))


BUNDLE = bundle_for(1)


def refused(data: bytes, trusted: list[bytes] | None = None) -> BundleFailure:
    """The reason ``verify_bundle`` refuses ``data``; fails the test if it is accepted."""
    with pytest.raises(BundleError) as caught:
        verify_bundle(data, TRUSTED if trusted is None else trusted)
    return caught.value.reason


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 §4.4 Sig_structure, built with cbor2 (independent of the kernel's)."""
    return cbor2.dumps(["Signature1", protected, b"", payload])


def envelope(
    protected: bytes,
    payload: bytes,
    signature: bytes,
    unprotected: dict[Any, Any] | None = None,
    tag: int = 18,
) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(tag, [protected, unprotected or {}, payload, signature]))


def signed(
    payload: bytes,
    *,
    signer: Ed25519Signer = POLICY_KEY,
    protected: bytes | None = None,
    unprotected: dict[Any, Any] | None = None,
) -> bytes:
    """A COSE_Sign1 with a correct signature over arbitrary protected header and payload."""
    if protected is None:
        protected = protected_header(cose_key_thumbprint(signer.public_key))
    return envelope(protected, payload, signer.sign(sig_structure(protected, payload)), unprotected)


# ---------------------------------------------------------------------------------- round trip


def test_sign_verify_round_trip_with_independent_digests() -> None:
    document = governance_policy(1)
    bundle = sign_bundle(POLICY_KEY, document)
    verified = verify_bundle(bundle, TRUSTED)
    assert isinstance(verified, VerifiedBundle)
    assert verified.version == 1 and verified.policy.org == "acme"
    assert verified.signer_kid == cose_key_thumbprint(POLICY_KEY.public_key)
    assert verified.bundle_digest == hashlib.sha256(bundle).digest()
    # The profile's deterministic encoding (RFC 8949 §4.2.1) sorts map keys bytewise by their
    # encodings; cbor2's canonical=True is the older length-first order (RFC 7049 §3.9). For a
    # JSON-model document every map key is a text string, whose encoding is a head that grows
    # with the length followed by the UTF-8 bytes, so bytewise order of encodings IS
    # length-first order and the two agree here (they would not for mixed int/text keys).
    independent = cbor2.dumps(document, canonical=True)
    assert verified.policy_digest == hashlib.sha256(independent).digest()
    assert verified.policy_digest == GovernancePolicy.from_json(document).digest
    assert verified.to_json() == {
        "org": "acme",
        "version": 1,
        "policy_digest": hashlib.sha256(independent).hexdigest(),
        "bundle_digest": hashlib.sha256(bundle).hexdigest(),
        "signer_kid": cose_key_thumbprint(POLICY_KEY.public_key).hex(),
    }


def test_bundle_layout_checked_with_cbor2_and_nacl() -> None:
    document = governance_policy(1)
    bundle = sign_bundle(POLICY_KEY, document)
    outer = cbor2.loads(bundle)
    assert isinstance(outer, cbor2.CBORTag) and outer.tag == 18
    protected, unprotected, payload, signature = outer.value
    assert unprotected == {}
    kid = cose_key_thumbprint(POLICY_KEY.public_key)
    assert cbor2.loads(protected) == {1: -19, 3: CONTENT_TYPE, 4: kid}
    assert CONTENT_TYPE == "application/vnd.pda-lease.policy+cbor"
    assert payload == cbor2.dumps(document, canonical=True)
    assert cbor2.loads(payload) == document
    assert len(signature) == 64
    nacl.signing.VerifyKey(POLICY_KEY.public_key).verify(
        sig_structure(protected, payload), signature
    )
    # Deterministic: Ed25519 is deterministic and so is the encoding.
    assert sign_bundle(POLICY_KEY, document) == bundle


def test_a_bundle_built_entirely_with_cbor2_and_nacl_verifies() -> None:
    document = governance_policy(3)
    kid = cose_key_thumbprint(POLICY_KEY.public_key)
    protected = cbor2.dumps({1: -19, 3: CONTENT_TYPE, 4: kid}, canonical=True)
    payload = cbor2.dumps(document, canonical=True)
    nacl_key = nacl.signing.SigningKey(vector_seed("policy-key"))
    signature = nacl_key.sign(sig_structure(protected, payload)).signature
    bundle = envelope(protected, payload, signature)
    assert bundle == sign_bundle(POLICY_KEY, document)
    assert verify_bundle(bundle, TRUSTED).version == 3


def test_verify_accepts_any_collection_of_trusted_keys() -> None:
    keys = [OTHER_ISSUER.public_key, POLICY_KEY.public_key]
    for collection in (keys, tuple(keys), set(keys), frozenset(keys)):
        assert verify_bundle(BUNDLE, collection).version == 1


# ---------------------------------------------------------------------------------- tamper


def test_every_single_bit_flip_is_refused() -> None:
    reasons: set[BundleFailure] = set()
    for bit in range(len(BUNDLE) * 8):
        mutated = bytearray(BUNDLE)
        mutated[bit // 8] ^= 1 << (bit % 8)
        reasons.add(refused(bytes(mutated)))
    # Header, kid and signature/payload flips land on three different checks.
    assert {BundleFailure.MALFORMED, BundleFailure.UNTRUSTED_KEY} <= reasons
    assert BundleFailure.BAD_SIGNATURE in reasons
    assert BundleFailure.BAD_POLICY not in reasons  # a flipped payload never gets that far


def test_every_truncation_is_malformed() -> None:
    for length in range(len(BUNDLE)):
        assert refused(BUNDLE[:length]) == BundleFailure.MALFORMED, length


@pytest.mark.parametrize("extra", [b"\x00", b"\xff", b"\xf6", BUNDLE[:1]])
def test_an_appended_byte_is_malformed(extra: bytes) -> None:
    assert refused(BUNDLE + extra) == BundleFailure.MALFORMED


def test_empty_and_non_bytes_input() -> None:
    assert refused(b"") == BundleFailure.MALFORMED
    with pytest.raises(UsageError):
        verify_bundle(bytearray(BUNDLE), TRUSTED)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        # bytes is not a collection of keys (it iterates as ints)
        verify_bundle(BUNDLE, POLICY_KEY.public_key)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        verify_bundle(BUNDLE, [POLICY_KEY.public_key[:31]])
    with pytest.raises(UsageError):
        verify_bundle(BUNDLE, [POLICY_KEY.public_key.hex()])  # type: ignore[list-item]


def test_the_payload_alone_is_malformed() -> None:
    payload = cbor.encode(governance_policy(1))
    assert refused(payload) == BundleFailure.MALFORMED


@pytest.mark.parametrize("signature", [b"", bytes(64), bytes(63), bytes(65)])
def test_an_unsigned_bundle_is_bad_signature(signature: bytes) -> None:
    # §13.3 maps §7.3 steps 3-7 to MALFORMED; the signature length is step 9 ("the signature
    # is 64 bytes and verifies"), so an empty or zero signature is BAD_SIGNATURE.
    protected = protected_header(cose_key_thumbprint(POLICY_KEY.public_key))
    bundle = envelope(protected, cbor.encode(governance_policy(1)), signature)
    assert refused(bundle) == BundleFailure.BAD_SIGNATURE


def test_an_unsigned_bundle_under_an_untrusted_kid_is_untrusted_key() -> None:
    protected = protected_header(cose_key_thumbprint(ROGUE_KEY.public_key))
    bundle = envelope(protected, cbor.encode(governance_policy(1)), b"")
    assert refused(bundle) == BundleFailure.UNTRUSTED_KEY


def test_signed_by_a_key_that_is_not_trusted() -> None:
    rogue = bundle_for(1, signer=ROGUE_KEY)
    assert verify_bundle(rogue, [ROGUE_KEY.public_key]).version == 1
    assert refused(rogue) == BundleFailure.UNTRUSTED_KEY
    assert refused(BUNDLE, []) == BundleFailure.UNTRUSTED_KEY
    # The issuer key is not a policy key unless it is trusted as one.
    assert refused(bundle_for(1, signer=ISSUER)) == BundleFailure.UNTRUSTED_KEY


def test_a_rogue_signature_under_the_trusted_kid_is_bad_signature() -> None:
    protected = protected_header(cose_key_thumbprint(POLICY_KEY.public_key))
    payload = cbor.encode(governance_policy(1))
    forged = envelope(protected, payload, ROGUE_KEY.sign(sig_structure(protected, payload)))
    assert refused(forged) == BundleFailure.BAD_SIGNATURE


def test_a_signature_over_another_payload_is_bad_signature() -> None:
    one = cbor2.loads(BUNDLE).value
    two = cbor2.loads(bundle_for(2)).value
    assert refused(envelope(one[0], two[2], one[3])) == BundleFailure.BAD_SIGNATURE


def _gov_grant_token() -> bytes:
    vector = json.loads((ROOT / "specs" / "vectors" / "gov-grant.json").read_text())
    assert vector["expected"]["decision"] == "GRANT"
    return bytes.fromhex(vector["expected"]["token"])


def test_a_lease_token_is_never_a_bundle() -> None:
    token = _gov_grant_token()
    # It is a genuine, issuer-signed token ...
    claims = open_token(token, issuer_public_key=ISSUER.public_key)
    assert claims.policy_digest == GovernancePolicy.from_json(governance_policy(1)).digest
    # ... and no bundle, even when the issuer key is trusted as a policy key: no content type.
    assert refused(token, [ISSUER.public_key]) == BundleFailure.MALFORMED
    assert refused(token, [ISSUER.public_key, POLICY_KEY.public_key]) == BundleFailure.MALFORMED


def test_a_bundle_is_never_a_lease_token() -> None:
    bundle = bundle_for(1, signer=ISSUER)
    assert verify_bundle(bundle, [ISSUER.public_key]).version == 1
    with pytest.raises(InvalidLease) as caught:
        open_token(bundle, issuer_public_key=ISSUER.public_key)
    assert (caught.value.deny.code, caught.value.deny.reason) == (
        "INVALID_TOKEN",
        "BAD_PROTECTED_HEADER",
    )


def test_the_protected_header_moved_to_unprotected_is_malformed() -> None:
    kid = cose_key_thumbprint(POLICY_KEY.public_key)
    header = {1: -19, 3: CONTENT_TYPE, 4: kid}
    payload = cbor.encode(governance_policy(1))
    # Empty protected header, the header in the unprotected map, signed correctly over that.
    assert refused(signed(payload, protected=b"", unprotected=header)) == BundleFailure.MALFORMED
    # Both: the protected header right, an unprotected copy too (the unprotected map is not {}).
    assert refused(signed(payload, unprotected=header)) == BundleFailure.MALFORMED
    assert refused(signed(payload, unprotected={4: kid})) == BundleFailure.MALFORMED


@pytest.mark.parametrize(
    "header",
    [
        {1: -8, 3: CONTENT_TYPE},  # EdDSA (-8) instead of Ed25519 (-19)
        {1: -7, 3: CONTENT_TYPE},  # ES256
        {1: "-19", 3: CONTENT_TYPE},
        {3: CONTENT_TYPE},  # no alg
        {1: -19},  # no content type: a lease token's header
        {1: -19, 3: "application/cwt"},
        {1: -19, 3: CONTENT_TYPE.upper()},
        {1: -19, 3: 60},  # a CoAP content-format number
        {1: -19, 3: CONTENT_TYPE, 2: [1]},  # an extra member (crit)
        {1: -19, 3: CONTENT_TYPE, "x": 1},
    ],
    ids=repr,
)
def test_protected_header_must_be_exactly_alg_content_type_kid(header: dict[Any, Any]) -> None:
    kid = cose_key_thumbprint(POLICY_KEY.public_key)
    protected = cbor.encode({**header, 4: kid})
    payload = cbor.encode(governance_policy(1))
    assert refused(signed(payload, protected=protected)) == BundleFailure.MALFORMED


@pytest.mark.parametrize("kid", [b"", bytes(31), bytes(33), "kid"], ids=repr)
def test_a_kid_that_is_not_32_bytes_is_malformed(kid: object) -> None:
    protected = cbor.encode({1: -19, 3: CONTENT_TYPE, 4: kid})
    assert refused(signed(cbor.encode(governance_policy(1)), protected=protected)) == (
        BundleFailure.MALFORMED
    )


def test_a_protected_header_that_is_not_a_map_or_has_a_tag_is_malformed() -> None:
    payload = cbor.encode(governance_policy(1))
    for protected in (
        cbor2.dumps([1, -19]),
        cbor2.dumps(cbor2.CBORTag(24, protected_header(b"\x00" * 32))),
        b"\xff",
        protected_header(cose_key_thumbprint(POLICY_KEY.public_key)) + b"\x00",
    ):
        assert refused(signed(payload, protected=protected)) == BundleFailure.MALFORMED


@pytest.mark.parametrize(
    "shape",
    ["untagged", "tag 98", "tag 17", "three members", "five members", "payload nil", "map"],
)
def test_the_cose_shape(shape: str) -> None:
    protected, unprotected, payload, signature = cbor2.loads(BUNDLE).value
    members: list[object] = [protected, unprotected, payload, signature]
    item: object
    if shape == "untagged":
        item = members
    elif shape == "tag 98":
        item = cbor2.CBORTag(98, members)
    elif shape == "tag 17":
        item = cbor2.CBORTag(17, members)
    elif shape == "three members":
        item = cbor2.CBORTag(18, members[:3])
    elif shape == "five members":
        item = cbor2.CBORTag(18, [*members, b""])
    elif shape == "payload nil":  # a detached payload
        item = cbor2.CBORTag(18, [protected, unprotected, None, signature])
    else:
        item = cbor2.CBORTag(18, dict(enumerate(members)))
    assert refused(cbor2.dumps(item)) == BundleFailure.MALFORMED


def test_non_shortest_heads_are_malformed() -> None:
    # The outer array head 0x84 re-encoded with a one-byte argument (0x98 0x04): cbor2 reads
    # it fine, the strict decoder refuses it as NON_DETERMINISTIC (§2.4 c).
    assert BUNDLE[:2] == b"\xd2\x84"
    longer = b"\xd2\x98\x04" + BUNDLE[2:]
    assert cbor2.loads(longer) == cbor2.loads(BUNDLE)
    assert refused(longer) == BundleFailure.MALFORMED
    # The tag head 18 written with a one-byte argument (0xd8 0x12).
    assert refused(b"\xd8\x12" + BUNDLE[1:]) == BundleFailure.MALFORMED
    # Indefinite-length outer array, as cbor2 writes it on request.
    outer = cbor2.loads(BUNDLE)
    indefinite = cbor2.dumps(outer, indefinite_containers=True)
    assert indefinite != BUNDLE and cbor2.loads(indefinite) == outer
    assert refused(indefinite) == BundleFailure.MALFORMED


def test_a_non_deterministic_payload_signed_properly_is_bad_policy() -> None:
    document = governance_policy(1)
    # Map keys in insertion (not deterministic) order: valid CBOR, correctly signed.
    unordered = cbor2.dumps(document)
    assert unordered != cbor.encode(document) and cbor2.loads(unordered) == document
    assert refused(signed(unordered)) == BundleFailure.BAD_POLICY
    # Indefinite-length containers.
    indefinite = cbor2.dumps(document, canonical=True, indefinite_containers=True)
    assert refused(signed(indefinite)) == BundleFailure.BAD_POLICY
    # A non-shortest head for the top-level map.
    canonical = cbor.encode(document)
    head = canonical[0]
    assert 0xA0 <= head < 0xB8
    assert refused(signed(bytes([0xB8, head - 0xA0]) + canonical[1:])) == (BundleFailure.BAD_POLICY)
    # Trailing bytes after the document.
    assert refused(signed(canonical + b"\x00")) == BundleFailure.BAD_POLICY


def test_a_signed_payload_that_is_valid_cbor_but_not_a_policy_is_bad_policy() -> None:
    lease_policy_only = conformance.base_policy()
    wrong_version = {**governance_policy(1), "governance_version": 2}
    unknown_member = {**governance_policy(1), "extra": 1}
    zero_version = {**governance_policy(1), "version": 0}
    documents: tuple[object, ...] = (
        lease_policy_only,
        wrong_version,
        unknown_member,
        zero_version,
        [],
        1,
    )
    for document in documents:
        with pytest.raises(PolicyError):
            GovernancePolicy.from_json(document)
        assert refused(signed(cbor.encode(document))) == BundleFailure.BAD_POLICY
    # A float has no place in the JSON model of the profile.
    assert refused(signed(cbor2.dumps(1.5))) == BundleFailure.BAD_POLICY
    assert refused(signed(b"")) == BundleFailure.BAD_POLICY


def _payload(document: object) -> bytes | None:
    try:
        return cbor.encode(document)
    except (ValueError, TypeError):
        return None


@given(gen.mutations_of(governance_policy(1)))
def test_signed_mutated_documents_are_bad_policy_or_the_same_as_sign_bundle(
    document: object,
) -> None:
    """A correctly signed payload is judged by the §13.1 table alone, as ``sign_bundle`` judges
    the document: BAD_POLICY exactly when ``sign_bundle`` refuses with PolicyError."""
    payload = _payload(document)
    if payload is None:  # not even encodable (a float key, a tuple, ...): never signed
        with pytest.raises(PolicyError):
            sign_bundle(POLICY_KEY, document)
        return
    try:
        expected = sign_bundle(POLICY_KEY, document)
    except PolicyError:
        assert refused(signed(payload)) == BundleFailure.BAD_POLICY
        return
    assert signed(payload) == expected
    verified = verify_bundle(expected, TRUSTED)
    assert verified.policy_digest == hashlib.sha256(payload).digest()


def test_sign_bundle_never_signs_an_invalid_document() -> None:
    for document in (
        conformance.base_policy(),
        {**governance_policy(1), "version": 0},
        {**governance_policy(1), "extra": True},
        {k: v for k, v in governance_policy(1).items() if k != "org"},
        None,
    ):
        with pytest.raises(PolicyError):
            sign_bundle(POLICY_KEY, document)
    with pytest.raises(UsageError):
        sign_bundle(POLICY_KEY.public_key, governance_policy(1))  # type: ignore[arg-type]


def test_too_large_is_checked_first() -> None:
    huge = BUNDLE + bytes(MAX_BUNDLE_BYTES + 1 - len(BUNDLE))
    assert len(huge) == MAX_BUNDLE_BYTES + 1
    assert refused(huge) == BundleFailure.TOO_LARGE
    assert refused(bytes(MAX_BUNDLE_BYTES + 1), []) == BundleFailure.TOO_LARGE
    # At the limit exactly it is judged on its content.
    assert refused(huge[:MAX_BUNDLE_BYTES]) == BundleFailure.MALFORMED


def test_first_failure_decides_across_checks() -> None:
    # Untrusted key beats a bad signature; a bad signature beats a bad policy.
    rogue_protected = protected_header(cose_key_thumbprint(ROGUE_KEY.public_key))
    bad_policy = cbor.encode({"governance_version": 2})
    assert refused(envelope(rogue_protected, bad_policy, bytes(64))) == (
        BundleFailure.UNTRUSTED_KEY
    )
    trusted_protected = protected_header(cose_key_thumbprint(POLICY_KEY.public_key))
    assert refused(envelope(trusted_protected, bad_policy, bytes(64))) == (
        BundleFailure.BAD_SIGNATURE
    )


def test_bundle_error_carries_reason_and_detail() -> None:
    with pytest.raises(BundleError) as caught:
        verify_bundle(bundle_for(1, signer=ROGUE_KEY), TRUSTED)
    error = caught.value
    assert error.reason is BundleFailure.UNTRUSTED_KEY
    assert cose_key_thumbprint(ROGUE_KEY.public_key).hex() in error.detail
    assert str(error).startswith("UNTRUSTED_KEY: ")


# ---------------------------------------------------------------------------------- store


@pytest.fixture
def store(tmp_path: Path) -> PolicyStore:
    policy_store = PolicyStore(tmp_path / "policy")
    assert policy_store.trust(POLICY_KEY.public_key) == frozenset(TRUSTED)
    return policy_store


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_an_empty_store(tmp_path: Path) -> None:
    empty = PolicyStore(tmp_path / "nowhere")
    assert empty.trusted_keys() == frozenset()
    assert empty.active() is None and empty.staged() is None
    with pytest.raises(BundleError) as caught:
        empty.activate(ISSUER_KID)
    assert caught.value.reason == BundleFailure.NOT_STAGED
    assert not (tmp_path / "nowhere").exists()  # reads create nothing


def test_trust_stage_activate_active(store: PolicyStore) -> None:
    with pytest.raises(BundleError) as caught:
        store.activate(ISSUER_KID)
    assert caught.value.reason == BundleFailure.NOT_STAGED

    staged = store.stage(BUNDLE)
    assert staged.version == 1
    assert store.active() is None  # staging governs nothing
    again = store.staged()
    assert again is not None and again.bundle_digest == hashlib.sha256(BUNDLE).digest()
    assert (store.directory / STAGED_FILE).read_bytes() == BUNDLE

    activated = store.activate(ISSUER_KID)
    assert activated.version == 1
    active = store.active()
    assert active is not None and active.policy_digest == activated.policy_digest
    assert store.staged() is None and not (store.directory / STAGED_FILE).exists()
    assert (store.directory / ACTIVE_FILE).read_bytes() == BUNDLE

    # The staged bundle was consumed: activation needs a new one.
    with pytest.raises(BundleError) as caught:
        store.activate(ISSUER_KID)
    assert caught.value.reason == BundleFailure.NOT_STAGED

    store.stage(bundle_for(2))
    assert store.activate(ISSUER_KID).version == 2
    active = store.active()
    assert active is not None and active.version == 2

    for name in (TRUSTED_KEYS_FILE, ACTIVE_FILE):
        assert _mode(store.directory / name) == 0o600, name
    store.stage(bundle_for(3))
    assert _mode(store.directory / STAGED_FILE) == 0o600
    assert _mode(store.directory) == 0o700


def test_rollback_is_refused_at_stage(store: PolicyStore) -> None:
    store.stage(bundle_for(2))
    store.activate(ISSUER_KID)
    for version in (1, 2):  # older, then equal: both correctly signed
        replayed = bundle_for(version)
        assert verify_bundle(replayed, TRUSTED).version == version
        with pytest.raises(BundleError) as caught:
            store.stage(replayed)
        assert caught.value.reason == BundleFailure.ROLLBACK
        assert store.staged() is None
    active = store.active()
    assert active is not None and active.version == 2


def test_rollback_is_refused_at_activate(store: PolicyStore) -> None:
    store.stage(bundle_for(2))
    store.activate(ISSUER_KID)
    for version in (1, 2):
        # A replayed bundle lands in staged.bundle without going through stage() (a copy of
        # an old file, or a stage made before a later activation): activate re-checks.
        (store.directory / STAGED_FILE).write_bytes(bundle_for(version))
        with pytest.raises(BundleError) as caught:
            store.activate(ISSUER_KID)
        assert caught.value.reason == BundleFailure.ROLLBACK
        active = store.active()
        assert active is not None and active.version == 2
    assert (store.directory / ACTIVE_FILE).read_bytes() == bundle_for(2)


def test_issuer_mismatch(store: PolicyStore) -> None:
    document = governance_policy(1)
    document["lease_policy"]["issuer_kid"] = cose_key_thumbprint(OTHER_ISSUER.public_key).hex()
    store.stage(sign_bundle(POLICY_KEY, document))
    with pytest.raises(BundleError) as caught:
        store.activate(ISSUER_KID)
    assert caught.value.reason == BundleFailure.ISSUER_MISMATCH
    assert store.active() is None
    # The right bundle for this issuer still activates.
    store.stage(BUNDLE)
    assert store.activate(ISSUER_KID).version == 1
    store.stage(bundle_for(2))
    with pytest.raises(BundleError) as caught:
        store.activate(cose_key_thumbprint(OTHER_ISSUER.public_key))
    assert caught.value.reason == BundleFailure.ISSUER_MISMATCH
    active = store.active()
    assert active is not None and active.version == 1


def test_stage_refuses_bad_bundles_and_keeps_the_staged_one(store: PolicyStore) -> None:
    store.stage(BUNDLE)
    for bad, reason in (
        (bundle_for(2, signer=ROGUE_KEY), BundleFailure.UNTRUSTED_KEY),
        (bundle_for(2)[:-1], BundleFailure.MALFORMED),
        (_gov_grant_token(), BundleFailure.MALFORMED),
        (signed(cbor.encode({"governance_version": 1})), BundleFailure.BAD_POLICY),
    ):
        with pytest.raises(BundleError) as caught:
            store.stage(bad)
        assert caught.value.reason == reason
    assert (store.directory / STAGED_FILE).read_bytes() == BUNDLE


def test_the_active_bundle_survives_a_restart(store: PolicyStore) -> None:
    store.stage(bundle_for(4))
    activated = store.activate(ISSUER_KID)
    restarted = PolicyStore(store.directory)
    active = restarted.active()
    assert active is not None
    assert (active.version, active.policy_digest, active.bundle_digest) == (
        4,
        activated.policy_digest,
        activated.bundle_digest,
    )
    assert restarted.trusted_keys() == frozenset(TRUSTED)
    with pytest.raises(BundleError) as caught:
        restarted.stage(bundle_for(3))
    assert caught.value.reason == BundleFailure.ROLLBACK


@pytest.mark.parametrize("where", ["signature", "payload", "kid", "truncated", "appended"])
def test_tampering_with_active_bundle_on_disk_fails_closed(store: PolicyStore, where: str) -> None:
    store.stage(BUNDLE)
    store.activate(ISSUER_KID)
    path = store.directory / ACTIVE_FILE
    data = bytearray(path.read_bytes())
    if where == "signature":
        data[-1] ^= 0x01
    elif where == "payload":
        index = data.index(b"acme")
        data[index] = ord("b")
    elif where == "kid":
        index = bytes(data).index(cose_key_thumbprint(POLICY_KEY.public_key))
        data[index] ^= 0x80
    elif where == "truncated":
        del data[-10:]
    else:
        data += b"\x00"
    path.write_bytes(bytes(data))
    for reader in (store, PolicyStore(store.directory)):
        with pytest.raises(BundleError):
            reader.active()
    # Nothing can be staged or activated over a broken active bundle either.
    with pytest.raises(BundleError):
        store.stage(bundle_for(2))


def test_a_higher_version_written_over_active_without_a_signature_is_refused(
    store: PolicyStore,
) -> None:
    store.stage(BUNDLE)
    store.activate(ISSUER_KID)
    (store.directory / ACTIVE_FILE).write_bytes(bundle_for(9, signer=ROGUE_KEY))
    with pytest.raises(BundleError) as caught:
        store.active()
    assert caught.value.reason == BundleFailure.UNTRUSTED_KEY


def test_distrusting_the_key_ends_the_active_policy(store: PolicyStore) -> None:
    store.stage(BUNDLE)
    store.activate(ISSUER_KID)
    store.stage(bundle_for(2))
    assert store.distrust(POLICY_KEY.public_key) == frozenset()
    for reader in (store, PolicyStore(store.directory)):
        with pytest.raises(BundleError) as caught:
            reader.active()
        assert caught.value.reason == BundleFailure.UNTRUSTED_KEY
        with pytest.raises(BundleError) as caught:
            reader.staged()
        assert caught.value.reason == BundleFailure.UNTRUSTED_KEY
    # Trusting it again restores it (the bundle itself never changed).
    store.trust(POLICY_KEY.public_key)
    active = store.active()
    assert active is not None and active.version == 1


def test_trust_validates_keys_and_is_idempotent(store: PolicyStore) -> None:
    assert store.trust(POLICY_KEY.public_key) == frozenset(TRUSTED)
    both = store.trust(ROGUE_KEY.public_key)
    assert both == {POLICY_KEY.public_key, ROGUE_KEY.public_key}
    text = json.loads((store.directory / TRUSTED_KEYS_FILE).read_text())
    assert text == sorted(key.hex() for key in both)
    small_order = bytes([1]) + bytes(31)  # the identity point
    for bad in (bytes(31), small_order, POLICY_KEY.public_key.hex()):
        with pytest.raises(UsageError):
            store.trust(bad)  # type: ignore[arg-type]
    assert store.trusted_keys() == both


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"\xff\xfe",
        b"{}",
        b'"' + POLICY_KEY.public_key.hex().encode() + b'"',
        b"[1]",
        b'["' + POLICY_KEY.public_key.hex().upper().encode() + b'"]',
        b'["' + POLICY_KEY.public_key.hex()[:-2].encode() + b'"]',
        b'["' + ("zz" * 32).encode() + b'"]',
        b'["01' + ("00" * 31).encode() + b'"]',  # a small-order point
        json.dumps([POLICY_KEY.public_key.hex()] * 65).encode(),
        b"[" + b" " * (64 * 1024) + b"]",  # larger than the file limit
    ],
    ids=lambda content: repr(content[:24]),
)
def test_garbage_trusted_keys_file_is_a_state_error(store: PolicyStore, content: bytes) -> None:
    store.stage(BUNDLE)
    store.activate(ISSUER_KID)
    (store.directory / TRUSTED_KEYS_FILE).write_bytes(content)
    with pytest.raises(StateError):
        store.trusted_keys()
    with pytest.raises(StateError):
        store.active()
    with pytest.raises(StateError):
        store.trust(ROGUE_KEY.public_key)
