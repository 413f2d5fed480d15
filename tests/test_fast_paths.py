"""The kernel's fast paths against the general code they stand in for, and against oracles.

Speed work (issue 5) replaced generic steps on the hot paths with direct ones; each is only
correct if it gives exactly what the general step gives, on every input:

* the direct encoders (claims payload, Sig_structure, envelope, protected header, lease id
  material, holder-proof message) against ``cbor.encode`` of the same value, and against
  cbor2 (an unrelated implementation) where the generic encoder is itself on trial;
* the claims reader (spec §7.3 step 10) against the general strict decoder: it accepts a
  payload exactly when the general decoder would yield a valid claims map, and then returns
  the same claims; every byte mutation is either refused or re-encodes to itself;
* the envelope fast path against the general ``_structure``;
* the fused walk-and-encode of spec §4.1 against the reference model's walk (an independent
  oracle written from the spec) and against ``cbor.encode``;
* the holder-key memo: a decision is the same with or without it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import attrs
import cbor2
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import reference_model as ref
import strategies as gen
from pda_lease import (
    Authority,
    InvalidLease,
    LeasePolicy,
    MonotonicTime,
    UsageError,
    parse_trust_snapshot,
)
from pda_lease.adapters import audit
from pda_lease.adapters.audit import RESERVED_MEMBERS, canonical_with_member, check_line, seal
from pda_lease.adapters.jsonio import canonical_json
from pda_lease.conformance import (
    EPOCH,
    HOLDER,
    ISSUER,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
)
from pda_lease.kernel import cbor, model, token
from pda_lease.kernel.crypto import cose_key_thumbprint
from pda_lease.kernel.decide import LEASE_ID_CONTEXT, lease_id_for
from pda_lease.kernel.inputs import (
    SENSITIVITIES,
    Constraints,
    HolderKeyMemo,
    TaskManifest,
    parse_manifest,
)
from pda_lease.kernel.model import Failure

# Lengths and values on both sides of every CBOR head-size boundary (RFC 8949 §3).
_BOUNDARY_INTS = (0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1)
_identifier = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}", fullmatch=True)
_printable = st.one_of(
    st.from_regex(r"[!-~]{1,256}", fullmatch=True),
    st.sampled_from(["!", "x" * 23, "x" * 24, "x" * 255, "x" * 256]),
)
_epoch = st.from_regex(r"[A-Za-z0-9-]{1,64}", fullmatch=True)
_ns = st.one_of(st.sampled_from(_BOUNDARY_INTS), st.integers(0, 2**63 - 1))


@st.composite
def lease_claims(draw: st.DrawFn) -> token.LeaseClaims:
    issued = draw(_ns)
    assume(issued < 2**63 - 1)
    expires = draw(st.integers(issued + 1, 2**63 - 1))
    return token.LeaseClaims(
        issuer=draw(_printable),
        task_id=draw(_identifier),
        lease_id=draw(st.binary(min_size=16, max_size=16)),
        holder_public_key=draw(st.binary(min_size=32, max_size=32)),
        manifest_digest=draw(st.binary(min_size=32, max_size=32)),
        trust_digest=draw(st.binary(min_size=32, max_size=32)),
        policy_digest=draw(st.binary(min_size=32, max_size=32)),
        clock_epoch=draw(_epoch),
        issued_at_ns=issued,
        expires_at_ns=expires,
        capability_id=draw(_identifier),
        constraints=Constraints(
            scope=draw(_printable),
            reversible=draw(st.booleans()),
            sensitivity=draw(st.sampled_from(SENSITIVITIES)),
            hrc_required=draw(st.booleans()),
        ),
        hrc_digest=draw(st.none() | st.binary(min_size=32, max_size=32)),
    )


def _in_det_order(value: object) -> object:
    """A copy whose dicts iterate in deterministic key order, for cbor2 (keeps dict order)."""
    if isinstance(value, dict):
        ordered = sorted(value.items(), key=lambda item: cbor.encode(item[0]))
        return {key: _in_det_order(item) for key, item in ordered}
    if isinstance(value, list):
        return [_in_det_order(item) for item in value]
    return value


# ---------------------------------------------------------------------------------- encoders


@given(lease_claims())
def test_claims_payload_is_the_general_encoding(claims: token.LeaseClaims) -> None:
    payload = token.encode_claims(claims)
    assert payload == cbor.encode(claims.to_cbor())
    assert payload == cbor2.dumps(_in_det_order(claims.to_cbor()))


@given(lease_claims())
def test_claims_reader_round_trips(claims: token.LeaseClaims) -> None:
    assert token._claims(token.encode_claims(claims)) == claims


def test_claims_reader_refuses_what_the_encoder_would_not_write() -> None:
    claims = _granted().claims
    with pytest.raises(cbor.EncodeError):
        token.encode_claims(attrs.evolve(claims, holder_public_key=bytes(31)))
    bad_bool = attrs.evolve(claims.constraints, reversible=1)  # an int is not a boolean
    with pytest.raises(cbor.EncodeError):
        token.encode_claims(attrs.evolve(claims, constraints=bad_bool))


@given(st.binary(min_size=1, max_size=64), st.binary(max_size=600), st.binary(max_size=64))
def test_signature_structure_and_envelope_are_the_general_encoding(
    protected: bytes, payload: bytes, signature: bytes
) -> None:
    assert token.sig_structure(protected, payload) == cbor.encode(
        ["Signature1", protected, b"", payload]
    )
    assert token._envelope(protected, payload, signature) == cbor.encode(
        cbor.Tag(18, [protected, {}, payload, signature])
    )
    # cbor2 as a second oracle for the shapes the direct encoders write.
    assert token.sig_structure(protected, payload) == cbor2.dumps(
        ["Signature1", protected, b"", payload]
    )


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=16, max_size=16), st.binary())
def test_header_and_holder_message_are_the_general_encoding(
    kid: bytes, lease_id: bytes, challenge: bytes
) -> None:
    assert token.protected_header(kid) == cbor.encode({1: -19, 4: kid})
    assert token.holder_signed_bytes(lease_id, challenge) == cbor.encode(
        [token.HOLDER_CONTEXT, lease_id, challenge]
    )


@given(
    st.lists(st.binary(min_size=32, max_size=32), min_size=5, max_size=5),
    st.booleans(),
    _epoch,
    _ns,
)
def test_lease_id_hashes_the_general_encoding(
    digests: list[bytes], with_hrc: bool, epoch: str, ns: int
) -> None:
    kid, policy, manifest, trust, hrc = digests
    hrc_digest = hrc if with_hrc else None
    now = MonotonicTime(epoch, ns)
    material = cbor.encode([LEASE_ID_CONTEXT, kid, policy, manifest, trust, hrc_digest, epoch, ns])
    expected = hashlib.sha256(material).digest()[:16]
    assert lease_id_for(kid, policy, manifest, trust, hrc_digest, now) == expected


# ---------------------------------------------------------------------------------- reader


def _reference_step_10(payload: bytes) -> bool:
    """The reference model's step 10: strict decode, then the claims of spec §6.3."""
    try:
        decoded = ref.strict_decode(payload, max_depth=ref.TOKEN_MAX_DEPTH)
    except ref.StrictDecodeError:
        return False
    return ref.claims_are_well_formed(decoded)


def _read(payload: bytes) -> token.LeaseClaims | None:
    try:
        return token._claims(payload)
    except token._Refused as refused:
        assert refused.denial.reason == "BAD_CLAIMS"
        return None


@given(lease_claims(), st.data())
def test_reader_agrees_with_the_reference_on_mutated_payloads(
    claims: token.LeaseClaims, data: st.DataObject
) -> None:
    payload = bytearray(token.encode_claims(claims))
    kind = data.draw(st.sampled_from(["flip", "truncate", "append", "splice", "reencode"]))
    if kind == "flip":
        index = data.draw(st.integers(0, len(payload) - 1))
        payload[index] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        del payload[data.draw(st.integers(0, len(payload) - 1)) :]
    elif kind == "append":
        payload += data.draw(st.binary(min_size=1, max_size=3))
    elif kind == "splice":
        index = data.draw(st.integers(0, len(payload)))
        payload[index:index] = data.draw(st.binary(min_size=1, max_size=9))
    else:
        # The same claims in another map order (cbor2 keeps insertion order): logically
        # equal, not deterministic, so refused by both.
        raw = claims.to_cbor()
        keys = data.draw(st.permutations(list(raw)))
        payload = bytearray(cbor2.dumps({key: raw[key] for key in keys}))
    mutated = bytes(payload)
    read = _read(mutated)
    assert (read is not None) == _reference_step_10(mutated)
    if read is not None:
        # Accepted: it is the deterministic encoding of exactly these claims.
        assert token.encode_claims(read) == mutated


def _widened(head: bytes) -> bytes:
    """The same head one size longer: the same value, not in shortest form (RFC 8949 §4.2.1)."""
    major, info = head[0] >> 5, head[0] & 0x1F
    argument = info if info < 24 else int.from_bytes(head[1:], "big")
    size = {24: 1, 25: 2, 26: 4, 27: 8}
    wider = 24 if info < 24 else info + 1
    assert wider <= 27
    return bytes((major << 5 | wider,)) + argument.to_bytes(size[wider], "big")


@pytest.mark.parametrize(
    "claim",
    [
        token.ISS,
        token.SUB,
        token.CTI,
        token.MANIFEST_DIGEST,
        token.CLOCK_EPOCH,
        token.ISSUED_AT_NS,
        token.EXPIRES_AT_NS,
        token.CAPABILITY_ID,
        token.HRC,
    ],
)
@pytest.mark.parametrize("ns", [5, 100, 70_000, 2**31])
def test_reader_refuses_a_non_shortest_head_in_every_value(claim: int, ns: int) -> None:
    claims = attrs.evolve(
        _granted().claims, issued_at_ns=ns, expires_at_ns=ns + 1, hrc_digest=bytes(32)
    )
    payload = token.encode_claims(claims)
    key = cbor.encode(claim)
    at = payload.index(key) + len(key)
    info = payload[at] & 0x1F
    head_size = 1 + ({24: 1, 25: 2, 26: 4, 27: 8}[info] if info >= 24 else 0)
    mutated = payload[:at] + _widened(payload[at : at + head_size]) + payload[at + head_size :]
    assert _reference_step_10(payload)
    assert not _reference_step_10(mutated)
    assert _read(mutated) is None


# ---------------------------------------------------------------------------------- envelope


def _granted() -> Any:
    authority = Authority(ISSUER, LeasePolicy.from_json(base_policy()))
    snapshot = parse_trust_snapshot(base_snapshot())
    grant = authority.decide(base_manifest(), snapshot, MonotonicTime(EPOCH, 100 * SECOND))
    assert grant.decision == "GRANT"
    return grant


@given(st.data())
def test_envelope_fast_path_agrees_with_the_general_decoder(data: st.DataObject) -> None:
    grant = _granted()
    protected = token.protected_header(cose_key_thumbprint(ISSUER.public_key))
    mutated = data.draw(gen.byte_mutations(grant.token))
    fast = token._expected_layout(mutated, protected)
    try:
        general: tuple[bytes, bytes, bytes, bytes] | None = token._structure(mutated)
    except token._Refused:
        general = None
    if fast is not None:
        assert general is not None
        kid, general_protected, payload, signature = general
        assert (kid, general_protected) == (cose_key_thumbprint(ISSUER.public_key), protected)
        assert (payload, signature) == fast


def test_envelope_fast_path_takes_the_issuers_own_tokens() -> None:
    grant = _granted()
    protected = token.protected_header(cose_key_thumbprint(ISSUER.public_key))
    assert token._expected_layout(grant.token, protected) is not None
    other = token.protected_header(cose_key_thumbprint(HOLDER.public_key))
    assert token._expected_layout(grant.token, other) is None
    with pytest.raises(InvalidLease) as refused:
        token.open_token(grant.token, issuer_public_key=HOLDER.public_key)
    assert refused.value.deny.reason == "UNKNOWN_KID"


def test_open_token_is_steps_1_to_10_of_verification() -> None:
    grant = _granted()
    assert token.open_token(grant.token, issuer_public_key=ISSUER.public_key) == grant.claims
    forged = grant.token[:-1] + bytes((grant.token[-1] ^ 1,))
    with pytest.raises(InvalidLease) as refused:
        token.open_token(forged, issuer_public_key=ISSUER.public_key)
    assert refused.value.deny.reason == "BAD_SIGNATURE"
    with pytest.raises(InvalidLease) as refused:
        token.open_token(grant.token + b"\x00", issuer_public_key=ISSUER.public_key)
    assert refused.value.deny.reason == "TRAILING_BYTES"
    with pytest.raises(UsageError):
        token.open_token(bytearray(grant.token), issuer_public_key=ISSUER.public_key)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        token.open_token(grant.token, issuer_public_key=ISSUER.public_key[:31])


# ---------------------------------------------------------------------------------- walk


@given(gen.anything)
def test_walk_encode_matches_the_reference_walk(document: object) -> None:
    expected = ref._data_model_and_size(document, ref.MANIFEST_LIMITS)
    result = model.walk_encode(document, model.MANIFEST_LIMITS)
    if expected is None:
        assert result == cbor.encode(document)
        assert result == ref.det(document)
    else:
        assert isinstance(result, Failure)
        assert (result.reason, result.path) == expected


@pytest.mark.parametrize(
    ("limits", "document"),
    [
        (model.Limits(2, 4, 8, 64), {"a": {"b": {"c": 1}}}),
        (model.Limits(4, 2, 8, 64), {"a": [1, 2, 3]}),
        (model.Limits(4, 4, 3, 64), {"a": ["abcd"]}),
        (model.Limits(4, 4, 3, 64), {"abcd": 1}),
        (model.Limits(4, 4, 64, 10), {"a": "0123456789"}),
        (model.Limits(4, 4, 64, 10), {"abcdefghij": 1}),
        (model.Limits(4, 4, 64, 10), {"a": [1, 2, 3, 4, 5, 6, 7, 8, 9]}),
        (model.Limits(4, 4, 64, 3), {"a": [[1]]}),
        (model.Limits(4, 4, 64, 64), {"a": [1, 2.5]}),
        (model.Limits(4, 4, 64, 64), {"a": {"b": "\ud800"}}),
        (model.Limits(4, 4, 64, 64), {"a": {1: "x"}}),
        (model.Limits(4, 4, 64, 64), {"x y": [0, {"é": 2**64}]}),
    ],
)
def test_walk_encode_limits_match_the_reference_walk(
    limits: model.Limits, document: object
) -> None:
    reference_limits = ref.Limits(
        depth=limits.max_depth,
        items=limits.max_items,
        string_bytes=limits.max_string_bytes,
        encoded_bytes=limits.max_total_bytes,
    )
    expected = ref._data_model_and_size(document, reference_limits)
    assert expected is not None  # every row is a violation
    result = model.walk_encode(document, limits)
    assert isinstance(result, Failure)
    assert (result.reason, result.path) == expected


# ---------------------------------------------------------------------------------- memo


@given(st.binary(min_size=32, max_size=32))
def test_holder_key_memo_answers_as_the_check_does(key: bytes) -> None:
    manifest = base_manifest()
    manifest["holder"]["public_key"] = key.hex()
    memo = HolderKeyMemo(capacity=2)
    plain = parse_manifest(manifest)
    for _ in range(3):  # cold, then warm (or refused again)
        assert parse_manifest(manifest, memo) == plain
    assert (key in memo._valid) == isinstance(plain, TaskManifest)


def test_holder_key_memo_is_bounded() -> None:
    memo = HolderKeyMemo(capacity=2)
    keys = [ISSUER.public_key, HOLDER.public_key]
    for key in keys:
        assert memo.is_valid(key)
    assert memo._valid == set(keys)
    assert memo.is_valid(keys[0])
    third = parse_manifest(base_manifest())
    assert isinstance(third, TaskManifest)
    assert memo.is_valid(third.holder_public_key)
    assert len(memo._valid) <= 2
    with pytest.raises(Exception, match="capacity"):
        HolderKeyMemo(capacity=0)


# ---------------------------------------------------------------------------------- audit


_json_keys = st.text(min_size=0, max_size=6)


@given(st.dictionaries(_json_keys, gen.json_values, max_size=6), _json_keys, st.text(max_size=8))
def test_canonical_with_member_is_the_canonical_form(
    body: dict[str, object], name: str, value: str
) -> None:
    assume(name not in body)
    try:
        expected = canonical_json({**body, name: value})
    except ValueError:  # text that is not Unicode scalar values is refused either way
        return
    assert canonical_with_member(body, canonical_json(body), name, value) == expected


@given(st.data())
def test_check_line_fast_path_agrees_with_the_strict_path(data: st.DataObject) -> None:
    """Good lines take the fast path; any edit is judged, with its message, by the strict one."""
    body = data.draw(st.dictionaries(_json_keys, gen.json_values, max_size=4))
    body = {key: item for key, item in body.items() if key not in RESERVED_MEMBERS}
    body["event"] = "decision"
    line, record = seal(3, bytes(range(32)), body)
    line = line[:-1]
    assert line == canonical_json(record)  # seal builds the line without reserializing it
    entry = check_line(line, 3, bytes(range(32)), 0)
    assert entry.record == record
    assert audit._check_canonical_line(line, 3, bytes(range(32)))[0] == record
    mutated = data.draw(
        st.one_of(
            gen.byte_mutations(line),
            st.just(line.replace(b'"event":', b'"event":"x","event":', 1)),
            st.just(line.replace(b"{", b"{ ", 1)),
        )
    )
    assume(mutated != line)
    fast: object
    try:
        fast = audit._check_canonical_line(mutated, 3, bytes(range(32)))
    except (ValueError, RecursionError):
        fast = None
    with pytest.raises(audit.AuditProblem):
        audit.check_line(mutated, 3, bytes(range(32)), 0)
    assert fast is None
