"""Differential tests: the kernel against the independent reference model of the spec.

Each test feeds the same generated (or mutated) inputs to the public API of ``pda_lease`` and to
``reference_model`` (written from LEASE_MANAGER_SPEC v1.0 without importing the kernel) and
requires identical outputs in the shapes of spec §10: decision, code, reason, message with its
field path, and for a GRANT the exact token bytes. Because both stop at the first failing step,
any disagreement on the precedence of checks (§4, §4.1, §4.2, §2.4, §7.3, §8) shows up here.

The ``test_spec_*`` tests at the end pin single spec rules with hand-built inputs.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import nacl.bindings
import pytest
from hypothesis import currently_in_test_context, event, given, note
from hypothesis import strategies as st

import reference_model as ref
import strategies as gen
from pda_lease import (
    Authority,
    Ed25519Signer,
    InvalidLease,
    LeasePolicy,
    MonotonicTime,
    PolicyError,
    standing,
    verify_token,
)
from pda_lease.conformance import standing_to_json

# ---------------------------------------------------------------------------------- adapters


def kernel_time(now: dict[str, Any]) -> MonotonicTime:
    return MonotonicTime(now["epoch"], now["ns"])


def kernel_authority(policy: object, seed: bytes = gen.ISSUER_SEED) -> Authority:
    return Authority(Ed25519Signer(seed), LeasePolicy.from_json(policy))


def kernel_decide(scenario: gen.Scenario) -> dict[str, object]:
    authority = kernel_authority(scenario.policy)
    decision = authority.decide(
        scenario.manifest, scenario.snapshot, kernel_time(scenario.now), scenario.hrc
    )
    return decision.to_json()


def model_decide(scenario: gen.Scenario) -> dict[str, object]:
    return ref.ref_decide(
        gen.ISSUER_SEED,
        scenario.policy,
        scenario.manifest,
        scenario.snapshot,
        scenario.now,
        scenario.hrc,
    )


def kernel_verify(token: bytes, v: gen.Verification) -> dict[str, object]:
    try:
        lease = verify_token(
            token,
            issuer_public_key=v.issuer_public_key,
            task_id=v.task_id,
            manifest_digest=v.manifest_digest,
            now=kernel_time(v.now),
            holder_proof=v.holder_proof,
            revoked=v.revoked,
        )
    except InvalidLease as invalid:
        deny = invalid.deny
        return {
            "result": "INVALID",
            "code": str(deny.code),
            "reason": deny.reason,
            "message": deny.message,
        }
    return {
        "result": "VALID",
        "lease_id": lease.lease_id.hex(),
        "expires_at_ns": lease.claims.expires_at_ns,
    }


def model_verify(token: bytes, v: gen.Verification) -> dict[str, object]:
    return ref.ref_verify(
        token,
        v.issuer_public_key,
        v.task_id,
        v.manifest_digest,
        v.now,
        v.holder_proof,
        v.revoked,
    )


def _label(result: dict[str, object]) -> str:
    kind = result.get("decision") or result.get("result") or result.get("standing")
    return f"{kind} {result.get('code', '')}/{result.get('reason', '')}"


def assert_same_decision(scenario: gen.Scenario) -> dict[str, object]:
    expected = model_decide(scenario)
    actual = kernel_decide(scenario)
    if currently_in_test_context():
        event(_label(expected))
        note(f"model:  {expected}")
        note(f"kernel: {actual}")
    assert actual == expected
    return expected


# ---------------------------------------------------------------------------------- decide


@given(gen.scenarios())
def test_decide_matches_model_on_well_formed_inputs(scenario: gen.Scenario) -> None:
    """Window, trust and HRC boundaries (§4 steps 2-4, §4.2) with structurally valid inputs."""
    assert_same_decision(scenario)


@given(gen.scenarios(grantable=True))
def test_grant_token_matches_model_byte_for_byte(scenario: gen.Scenario) -> None:
    """§6: the same claims, lease id, protected header and signature, to the byte."""
    expected = assert_same_decision(scenario)
    assert expected["decision"] == "GRANT"


@given(gen.mutated_scenarios())
def test_decide_matches_model_on_mutated_inputs(scenario: gen.Scenario) -> None:
    """§4.1 / §3.2 / §4.2: the first violation, its reason and its field path."""
    assert_same_decision(scenario)


@given(st.one_of(gen.policies(), gen.policies().flatmap(gen.mutations_of)))
def test_policy_refusal_matches_model(policy: object) -> None:
    """§3.4: a policy that breaks its table is refused when the authority is built."""
    try:
        ref.check_authority(gen.ISSUER_SEED, policy)
        model_refuses = False
    except ref.RefPolicyError:
        model_refuses = True
    event(f"refused={model_refuses}")
    try:
        kernel_authority(policy)
        kernel_refuses = False
    except PolicyError:
        kernel_refuses = True
    assert kernel_refuses == model_refuses


def test_policy_for_another_key_is_refused() -> None:
    """§3.5: issuer_kid must be the thumbprint of the signing key."""
    policy = _base_policy()
    with pytest.raises(ref.RefPolicyError):
        ref.check_authority(gen.OTHER_ISSUER_SEED, policy)
    with pytest.raises(PolicyError):
        kernel_authority(policy, gen.OTHER_ISSUER_SEED)


# ---------------------------------------------------------------------------------- verify


@st.composite
def grants(draw: st.DrawFn) -> tuple[gen.Scenario, dict[str, Any]]:
    scenario = draw(gen.scenarios(grantable=True))
    decision = model_decide(scenario)
    assert decision["decision"] == "GRANT", decision
    return scenario, decision


@given(st.data())
def test_verify_matches_model_for_granted_tokens(data: st.DataObject) -> None:
    """§7.3 steps 8-19 with right and wrong issuer key, task, manifest, epoch, time,
    revocation and holder proof."""
    scenario, grant = data.draw(grants())
    verification = data.draw(gen.verifications(scenario, grant))
    token = bytes.fromhex(grant["token"])
    expected = model_verify(token, verification)
    event(_label(expected))
    assert kernel_verify(token, verification) == expected


def _valid_verification(scenario: gen.Scenario, grant: dict[str, Any]) -> gen.Verification:
    lease_id = bytes.fromhex(grant["lease_id"])
    return gen.Verification(
        issuer_public_key=gen.ISSUER_PK,
        task_id=scenario.manifest["task_id"],
        manifest_digest=bytes.fromhex(grant["manifest_digest"]),
        now={"epoch": scenario.now["epoch"], "ns": grant["issued_at_ns"]},
        holder_proof=ref.make_holder_proof(scenario.holder_seed, lease_id, b"challenge-" * 2),
        revoked=frozenset(),
    )


@given(st.data())
def test_verify_matches_model_for_byte_mutated_tokens(data: st.DataObject) -> None:
    """§7.3 steps 1-3 and §2.4: flips, cuts and insertions are refused for the same reason."""
    scenario, grant = data.draw(grants())
    token = data.draw(gen.byte_mutations(bytes.fromhex(grant["token"])))
    verification = _valid_verification(scenario, grant)
    expected = model_verify(token, verification)
    event(_label(expected))
    assert kernel_verify(token, verification) == expected


@given(st.data())
def test_verify_matches_model_for_resigned_tokens(data: st.DataObject) -> None:
    """§7.3 steps 3-19 on tokens signed by the issuer but with other claims or headers."""
    scenario, grant = data.draw(grants())
    token = data.draw(gen.resigned_tokens(bytes.fromhex(grant["token"])))
    verification = _valid_verification(scenario, grant)
    expected = model_verify(token, verification)
    event(_label(expected))
    assert kernel_verify(token, verification) == expected


_FIXED_VERIFICATION = gen.Verification(
    issuer_public_key=gen.ISSUER_PK,
    task_id="task-2026-0001",
    manifest_digest=bytes(32),
    now={"epoch": gen.EPOCH, "ns": 1500},
    holder_proof=None,
    revoked=frozenset(),
)


@given(gen.raw_cbor)
def test_verify_matches_model_on_raw_cbor(token: bytes) -> None:
    """§2.4: the strict decoder's first violation, in byte order, on arbitrary bytes."""
    expected = model_verify(token, _FIXED_VERIFICATION)
    event(_label(expected))
    assert kernel_verify(token, _FIXED_VERIFICATION) == expected


# ---------------------------------------------------------------------------------- standing


def kernel_standing(
    scenario: gen.Scenario,
    grant_token: bytes,
    now: dict[str, Any],
    snapshot: object,
    policy: dict[str, Any],
    revoked: frozenset[bytes],
) -> dict[str, object]:
    decision = kernel_authority(scenario.policy).decide(
        scenario.manifest, scenario.snapshot, kernel_time(scenario.now), scenario.hrc
    )
    assert decision.decision == "GRANT" and decision.token == grant_token  # type: ignore[union-attr]
    result = standing(
        decision.claims,  # type: ignore[union-attr]
        kernel_time(now),
        snapshot,
        LeasePolicy.from_json(policy),
        revoked,
    )
    return standing_to_json(result)


@given(st.data())
def test_standing_matches_model(data: st.DataObject) -> None:
    """§8 steps 1-7: expiry, revocation, policy change, snapshot validity, trust decay."""
    scenario, grant = data.draw(grants())
    token = bytes.fromhex(grant["token"])
    lease_id = bytes.fromhex(grant["lease_id"])
    issued, expires = grant["issued_at_ns"], grant["expires_at_ns"]
    ns = data.draw(
        st.one_of(
            st.sampled_from([issued, expires - 1, expires, issued - 1]),
            st.integers(issued - 2, expires + 2),
        ).map(lambda t: max(0, t))
    )
    epoch = scenario.now["epoch"]
    if data.draw(st.integers(0, 9)) == 5:  # rarely: another clock epoch
        epoch = gen.OTHER_EPOCH
    capability = scenario.manifest["capability_id"]
    sensitivity = scenario.manifest["constraints"]["sensitivity"]
    threshold = scenario.policy["trust_threshold"][sensitivity]
    snapshot_kind = data.draw(
        st.sampled_from(["same", "same", "decayed", "missing", "raised", "mutated"])
    )
    snapshot: object = scenario.snapshot
    scores = dict(scenario.snapshot["scores"])
    if snapshot_kind == "decayed":
        scores[capability] = max(0, threshold - 1)
    elif snapshot_kind == "missing":
        del scores[capability]
    elif snapshot_kind == "raised":
        scores[capability] = 10000
    if snapshot_kind in ("decayed", "missing", "raised"):
        snapshot = {**scenario.snapshot, "scores": scores, "sequence": 7}
    elif snapshot_kind == "mutated":
        snapshot = data.draw(gen.mutations_of(scenario.snapshot))
    policy_kind = data.draw(st.sampled_from(["same", "same", "same", "other"]))
    policy = scenario.policy if policy_kind == "same" else data.draw(gen.policies())
    revoked = data.draw(st.sampled_from([frozenset(), frozenset({lease_id})]))
    now = {"epoch": epoch, "ns": ns}

    expected = ref.ref_standing(ref.token_claims(token), now, snapshot, policy, revoked)
    event(_label(expected))
    assert kernel_standing(scenario, token, now, snapshot, policy, revoked) == expected


# ---------------------------------------------------------------------------------- vectors

VECTOR_DIR = Path(__file__).resolve().parent.parent / "specs" / "vectors"


def _hex_set(items: list[str]) -> frozenset[bytes]:
    return frozenset(bytes.fromhex(item) for item in items)


def model_runs_vector(vector: dict[str, Any]) -> dict[str, object]:
    """The model's output for one spec §10 vector, from the vector's own input."""
    given_input = vector["input"]
    if vector["kind"] == "decision":
        authority = given_input["authority"]
        return ref.ref_decide(
            bytes.fromhex(authority["signing_seed"]),
            authority["policy"],
            given_input["manifest"],
            given_input["trust_snapshot"],
            given_input["now"],
            given_input["hrc_token"],
            request=given_input.get("request"),
            approvals=given_input.get("approvals"),
            usage=given_input.get("usage"),
        )
    if vector["kind"] == "sublease":
        holder = given_input["holder_public_key"]
        return ref.ref_derive(
            bytes.fromhex(given_input["authority"]["signing_seed"]),
            ref.token_claims(bytes.fromhex(given_input["parent_token"])),
            given_input["now"],
            given_input["tool"],
            given_input["calls"],
            given_input["ttl_ns"],
            bytes.fromhex(holder) if isinstance(holder, str) else holder,
        )
    if vector["kind"] == "verification":
        return ref.ref_verify(
            bytes.fromhex(given_input["token"]),
            bytes.fromhex(given_input["issuer_public_key"]),
            given_input["expected_task_id"],
            bytes.fromhex(given_input["expected_manifest_digest"]),
            given_input["now"],
            given_input["holder_proof"],
            _hex_set(given_input["revoked_lease_ids"]),
        )
    assert vector["kind"] == "standing"
    return ref.ref_standing(
        ref.token_claims(bytes.fromhex(given_input["token"])),
        given_input["now"],
        given_input["trust_snapshot"],
        given_input["policy"],
        _hex_set(given_input["revoked_lease_ids"]),
    )


@pytest.mark.parametrize("path", sorted(VECTOR_DIR.glob("*.json")), ids=lambda path: str(path.name))
def test_model_reproduces_committed_vector(path: Path) -> None:
    """Spec §10: every conformance vector is checked by a second path, this model."""
    vector = json.loads(path.read_text(encoding="utf-8"))
    assert model_runs_vector(vector) == vector["expected"]


def test_there_are_vectors_of_every_kind() -> None:
    kinds = {json.loads(p.read_text(encoding="utf-8"))["kind"] for p in VECTOR_DIR.glob("*.json")}
    assert kinds == {"decision", "verification", "standing", "sublease"}


# ---------------------------------------------------------------------------------- targeted limits


def _base_policy() -> dict[str, Any]:
    return gen.fixed_policy()


def _base_manifest() -> dict[str, Any]:
    return {
        "manifest_version": 1,
        "task_id": "task-2026-0001",
        "capability_id": "files.read",
        "inputs": {"path": "/home/user/notes.txt", "max_bytes": 65536},
        "constraints": {
            "scope": "user:alice/files",
            "reversible": True,
            "sensitivity": "LOW",
            "hrc_required": False,
        },
        "provenance": {"ast_hash": "ab" * 32},
        "holder": {"public_key": gen.HOLDER_PK.hex()},
        "window": {"epoch": gen.EPOCH, "not_before_ns": 1000, "not_after_ns": 2000},
    }


def _base(manifest: object = None, snapshot: object = None) -> gen.Scenario:
    return gen.Scenario(
        policy=_base_policy(),
        manifest=_base_manifest() if manifest is None else manifest,
        snapshot=(
            {"snapshot_version": 1, "sequence": 42, "scores": {"files.read": 8000}}
            if snapshot is None
            else snapshot
        ),
        now={"epoch": gen.EPOCH, "ns": 1500},
        hrc=None,
    )


def _with_inputs(inputs: object) -> dict[str, Any]:
    manifest = _base_manifest()
    manifest["inputs"] = inputs
    return manifest


def _nest(levels: int) -> object:
    value: object = 0
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [
        # The top-level object is depth 1, inputs depth 2: 14 more lists put 0 at depth 16.
        ({"a": _nest(13)}, None),
        ({"a": _nest(14)}, "TOO_DEEP"),
        ({"a": [0] * 1024}, None),
        ({"a": [0] * 1025}, "TOO_MANY_ITEMS"),
        ({f"k{i}": 0 for i in range(1025)}, "TOO_MANY_ITEMS"),
        ({"a": "é" * 2048}, None),
        ({"a": "é" * 2048 + "x"}, "STRING_TOO_LONG"),
        ({"k" * 4096: 0}, None),
        ({"k" * 4097: 0}, "STRING_TOO_LONG"),
        ({"é" * 2049: 0}, "STRING_TOO_LONG"),  # 2049 characters, 4098 bytes
        ({"k" * 4097: 0, "zz": 1.5}, "FLOAT_NOT_ALLOWED"),  # over-long names come last
        ({"k" * 4097 + "\udc80": 0}, "NOT_JSON"),  # names judged before any member
        ({"a": "x" * 4097 + "\udc80"}, "NOT_JSON"),  # not Unicode, before too long
        ({"a": 2**63 - 1, "b": -(2**63)}, None),
        ({"a": 2**63}, "INTEGER_OUT_OF_RANGE"),
        ({"a": -(2**63) - 1}, "INTEGER_OUT_OF_RANGE"),
        ({"a": [1, 2.0]}, "FLOAT_NOT_ALLOWED"),
        ({"a": {1: 2}}, "NOT_JSON"),
        ({"a": "\udc80"}, "NOT_JSON"),
        ({"a": (1, 2)}, "NOT_JSON"),
        ({"b": 1.5, "a": {1, 2}}, "NOT_JSON"),  # "a" before "b": deterministic key order
        ({"bb": 1.5, "c": 2**64}, "INTEGER_OUT_OF_RANGE"),  # "c" (shorter) before "bb"
        ({"é": 1.5, "zz": 2**64}, "INTEGER_OUT_OF_RANGE"),  # 62 7a 7a before 62 c3 a9
        ({"b": [[1.5]], "aa": {2}}, "FLOAT_NOT_ALLOWED"),  # depth-first: all of "b" first
    ],
)
def test_manifest_limits_match_model(inputs: object, reason: str | None) -> None:
    """§9 manifest limits at their boundaries, and §4.1 step 2 order between violations."""
    expected = assert_same_decision(_base(_with_inputs(inputs)))
    if reason is None:
        assert expected["decision"] == "GRANT"
    else:
        assert (expected["code"], expected["reason"]) == ("INVALID_MANIFEST", reason)


@pytest.mark.parametrize(
    ("where", "name", "path"),
    [
        ((), "zz", "zz"),
        ((), "a b", '["a b"]'),
        ((), "", '[""]'),
        (("constraints",), "é", 'constraints["é"]'),
        (("constraints",), "\n", 'constraints["\\n"]'),
        (("window",), "\x01", 'window["\\u0001"]'),
        (("window",), "\x7f", 'window["\x7f"]'),
        (("holder",), '"', 'holder["\\""]'),
        (("holder",), "\\", 'holder["\\\\"]'),
        (("provenance",), "x" * 64, "provenance." + "x" * 64),
        (("provenance",), "x" * 65, 'provenance["' + "x" * 65 + '"]'),
        (("provenance",), "a.b", 'provenance["a.b"]'),
        (("provenance",), "A_-9", "provenance.A_-9"),
    ],
)
def test_field_paths_match_model(where: tuple[str, ...], name: str, path: str) -> None:
    """§4.1: member names that are not ``[A-Za-z0-9_-]{1,64}`` are written as RFC 8785 JSON
    strings in brackets; a top-level member has no prefix."""
    manifest = _base_manifest()
    target = manifest
    for step in where:
        target = target[step]
    target[name] = 1
    expected = assert_same_decision(_base(manifest))
    assert expected["message"] == f"manifest has unknown field {path}"


def test_first_unknown_field_in_deterministic_order() -> None:
    """§4.1 step 4: the first unknown member in deterministic (bytewise encoded) key order."""
    manifest = {**_base_manifest(), "zz": 1, "b": 2, "é": 3, "aaa": 4}
    expected = assert_same_decision(_base(manifest))
    assert expected["message"] == "manifest has unknown field b"


@given(gen.anything)
def test_decide_matches_model_on_arbitrary_manifests(manifest: object) -> None:
    """§4.1 on values of any Python type: NOT_AN_OBJECT, NOT_JSON and their paths."""
    assert_same_decision(_base(manifest))


@given(st.data())
def test_decide_matches_model_on_arbitrary_snapshots_and_hrc(data: st.DataObject) -> None:
    """§3.2 and §4.2 step 2 on values of any Python type, behind a valid manifest."""
    manifest = _base_manifest()
    manifest["constraints"]["hrc_required"] = True
    scenario = gen.Scenario(
        policy=_base_policy(),
        manifest=manifest,
        snapshot=data.draw(st.one_of(gen.anything, st.just(_base().snapshot))),
        now={"epoch": gen.EPOCH, "ns": 1500},
        hrc=data.draw(gen.anything),
    )
    assert_same_decision(scenario)


def test_self_referencing_manifest_is_too_deep() -> None:
    """§1 totality: a cyclic value is cut by the depth limit, never walked forever."""
    loop: list[object] = []
    loop.append(loop)
    expected = assert_same_decision(_base(_with_inputs({"loop": loop})))
    assert expected["reason"] == "TOO_DEEP"


def _manifest_with_encoded_size(size: int) -> dict[str, Any]:
    """A valid manifest whose det() is exactly ``size`` bytes (padding strings in inputs)."""
    manifest = _with_inputs({})
    base = len(ref.det(manifest))
    pads: dict[str, str] = {}
    remaining = size - base
    index = 0
    while remaining > 0:
        key = f"p{index:02}"
        overhead = 1 + len(key) + 3  # key head + key, string head for 256..65535 bytes
        length = min(4000, remaining - overhead)
        if 0 < remaining - overhead - length < 300:  # leave room for one more full pad
            length -= 300
        pads[key] = "x" * length
        remaining -= overhead + length
        index += 1
    manifest["inputs"] = pads
    assert len(ref.det(manifest)) == size
    return manifest


@pytest.mark.parametrize(("size", "granted"), [(65536, True), (65537, False)])
def test_manifest_size_limit_matches_model(size: int, granted: bool) -> None:
    """§9: det(manifest) may be 65536 bytes, not one more (TOO_LARGE)."""
    expected = assert_same_decision(_base(_manifest_with_encoded_size(size)))
    if granted:
        assert expected["decision"] == "GRANT"
    else:
        assert expected["reason"] == "TOO_LARGE"


@pytest.mark.parametrize(("members", "reason"), [(10000, None), (10001, "SNAPSHOT_INVALID")])
def test_snapshot_item_limit_matches_model(members: int, reason: str | None) -> None:
    """§9: a snapshot container may have 10000 members."""
    scores = {f"cap{i:05}": 1 for i in range(members - 1)}
    scores["files.read"] = 9000
    snapshot = {"snapshot_version": 1, "sequence": 1, "scores": scores}
    expected = assert_same_decision(_base(snapshot=snapshot))
    if reason is None:
        assert expected["decision"] == "GRANT"
    else:
        assert expected["reason"] == reason
        assert expected["message"] == "trust snapshot is not valid at scores"


@pytest.mark.parametrize(
    ("snapshot", "path"),
    [
        ([], "$"),
        ({"snapshot_version": 1, "sequence": 1}, "scores"),
        ({"snapshot_version": 1, "sequence": 1, "scores": {"a b": 1}}, 'scores["a b"]'),
        ({"snapshot_version": 1, "sequence": 1, "scores": {"ok": 10001}}, "scores.ok"),
        ({"snapshot_version": 1, "sequence": True, "scores": {}}, "sequence"),
        ({"snapshot_version": 2, "sequence": 1, "scores": {}, "x": 1}, "x"),
        ({"snapshot_version": 2, "sequence": 1, "scores": {}}, "snapshot_version"),
    ],
)
def test_snapshot_paths_match_model(snapshot: object, path: str) -> None:
    """§3.2: the first violation's field path is reported in SNAPSHOT_INVALID."""
    expected = assert_same_decision(_base(snapshot=snapshot))
    assert expected["message"] == f"trust snapshot is not valid at {path}"


@pytest.mark.parametrize(("length", "reason"), [(4096, "MALFORMED_CBOR"), (4097, "TOO_LARGE")])
def test_token_size_limit_matches_model(length: int, reason: str) -> None:
    """§7.3 step 1: 4096 bytes pass the size check (then fail decoding), 4097 do not."""
    token = b"\xd2\x84\x59\xff\xff" + b"\x00" * (length - 5)
    expected = model_verify(token, _FIXED_VERIFICATION)
    assert expected["reason"] == reason
    assert kernel_verify(token, _FIXED_VERIFICATION) == expected


@pytest.mark.parametrize(
    ("token_hex", "reason"),
    [
        ("", "MALFORMED_CBOR"),
        ("d2", "MALFORMED_CBOR"),
        ("d284", "MALFORMED_CBOR"),
        ("1c", "MALFORMED_CBOR"),  # additional information 28
        ("ff", "MALFORMED_CBOR"),  # break outside an indefinite item
        ("1f", "MALFORMED_CBOR"),  # indefinite unsigned integer
        ("7f", "NON_DETERMINISTIC"),  # indefinite text string
        ("1817", "NON_DETERMINISTIC"),  # 23 in two bytes
        ("1900ff", "NON_DETERMINISTIC"),  # 255 in three bytes
        ("1a0000ffff", "NON_DETERMINISTIC"),  # 65535 in five bytes
        ("1b00000000ffffffff", "NON_DETERMINISTIC"),  # 2^32 - 1 in nine bytes
        ("3900ff", "NON_DETERMINISTIC"),  # -256, argument 255 in three bytes
        ("59000100", "NON_DETERMINISTIC"),  # a byte string length not shortest
        ("1b0000000100000000", "NOT_COSE_SIGN1"),  # 2^32 in nine bytes is shortest
        ("190100", "NOT_COSE_SIGN1"),  # 256 in three bytes is shortest
        ("19", "MALFORMED_CBOR"),  # head cut short
        ("1900", "MALFORMED_CBOR"),  # head cut short
        ("d812", "NON_DETERMINISTIC"),  # tag 18, argument not shortest
        ("f8", "MALFORMED_CBOR"),  # simple value head cut short
        ("f810", "FORBIDDEN_CBOR_TYPE"),  # simple(16) in two bytes: forbidden, not NON_DET
        ("f97e00", "FORBIDDEN_CBOR_TYPE"),  # half float NaN
        ("f7", "FORBIDDEN_CBOR_TYPE"),  # undefined
        ("d2d2a0", "FORBIDDEN_CBOR_TYPE"),  # a tag directly inside the top-level tag
        ("81c240", "FORBIDDEN_CBOR_TYPE"),  # bignum inside an array
        ("a1f400", "FORBIDDEN_CBOR_TYPE"),  # map key false
        ("a2010002", "MALFORMED_CBOR"),  # map cut short after key 2
        ("a202000100", "NON_DETERMINISTIC"),  # keys 2 then 1
        ("a201000100", "NON_DETERMINISTIC"),  # duplicate key
        ("a2186400 2000", "NOT_COSE_SIGN1"),  # {100: 0, -1: 0}: bytewise order (§2.3 note)
        ("a2200018 6400", "NON_DETERMINISTIC"),  # length-first (RFC 7049) order is refused
        ("62c328", "MALFORMED_CBOR"),  # invalid UTF-8
        ("81818181818181818100", "TOO_DEEP"),  # 0 at depth 10
        ("00", "NOT_COSE_SIGN1"),
        ("d1840000000000", "TRAILING_BYTES"),
        ("d28440a04040", "BAD_PROTECTED_HEADER"),  # empty protected bstr
        ("d28440a1010140 40", "UNPROTECTED_HEADER_NOT_EMPTY"),
    ],
)
def test_strict_decoder_examples_match_model(token_hex: str, reason: str) -> None:
    """§2.4 rows a-f and §7.3 steps 2-5 on hand-written bytes."""
    token = bytes.fromhex(token_hex.replace(" ", ""))
    expected = model_verify(token, _FIXED_VERIFICATION)
    assert expected["reason"] == reason
    assert kernel_verify(token, _FIXED_VERIFICATION) == expected


# ---------------------------------------------------------------------------------- spec rules
# Hand-built inputs for single spec rules that are easy to get subtly wrong.


@pytest.mark.parametrize(
    ("member", "field", "reason"),
    [
        # "holder" < "inputs" < "window" in deterministic order (same length, bytewise).
        ("holder", "public_key", "FLOAT_NOT_ALLOWED"),
        ("window", "not_before_ns", "TOO_LARGE"),
    ],
)
def test_size_is_a_running_total_during_the_walk(member: str, field: str, reason: str) -> None:
    """§4.1 step 3: the size of det(manifest) is judged during the walk. A float before the
    point where the total crosses 65536 bytes is reported; one after it is never reached."""
    manifest = _with_inputs({f"s{i:02}": "x" * 4000 for i in range(17)})
    manifest[member][field] = 1.5
    expected = assert_same_decision(_base(manifest))
    assert expected["reason"] == reason


@pytest.mark.parametrize(
    ("members", "odd_name", "reason"),
    [
        (1024, "\ud800", "TOO_MANY_ITEMS"),
        (1023, "\ud800", "NOT_JSON"),
        (1024, 7, "TOO_MANY_ITEMS"),
        (1023, 7, "NOT_JSON"),
    ],
)
def test_member_count_is_judged_before_member_names(
    members: int, odd_name: object, reason: str
) -> None:
    """§4.1 step 2: for an object the member count comes first, then its names (NOT_JSON at
    the object's path for a name that is not a valid Unicode string)."""
    inputs: dict[object, object] = {f"k{i}": 0 for i in range(members)}
    inputs[odd_name] = 0
    expected = assert_same_decision(_base(_with_inputs(inputs)))
    assert expected["reason"] == reason
    assert "at inputs " in str(expected["message"])


def test_too_large_snapshot_is_reported_where_the_total_crosses_the_limit() -> None:
    """§3.2 with §4.1 step 3: TOO_LARGE carries the path of the value at which the running
    total passed 1 MiB (here a member of ``scores``)."""
    scores = {"c" * 100 + f"{i:05}": 1 for i in range(9999)} | {"files.read": 9000}
    snapshot = {"snapshot_version": 1, "sequence": 1, "scores": scores}
    assert len(ref.det(snapshot)) > 1 << 20
    expected = assert_same_decision(_base(snapshot=snapshot))
    assert str(expected["message"]).startswith('trust snapshot is not valid at scores["ccc')


def test_too_large_hrc_is_reported_where_the_total_crosses_the_limit() -> None:
    """§4.2 step 2 with §4.1 step 3: "pad" is the first member in deterministic order, and
    its 17th string takes the HRC token past 65536 bytes, before the unknown field is seen."""
    manifest = _base_manifest()
    manifest["constraints"]["hrc_required"] = True
    confirmed = {"epoch": gen.EPOCH, "ns": 1490}
    hrc = ref.make_hrc(gen.HRC_SEED, ref.digest(manifest), confirmed)
    hrc["pad"] = {f"s{i:02}": "x" * 4000 for i in range(17)}
    expected = assert_same_decision(dataclasses.replace(_base(manifest), hrc=hrc))
    assert expected["message"] == "hardware-rooted confirmation is malformed at pad.s16"


def _resigned(claims: dict[int, Any]) -> bytes:
    protected = ref.det({1: -19, 4: ref.thumbprint(gen.ISSUER_PK)})
    payload = ref.det(claims)
    return ref.cose_sign1(protected, {}, payload, ref.sign1(gen.ISSUER_SEED, protected, payload))


def test_cnf_key_type_is_an_integer_not_a_boolean() -> None:
    """§7.3 step 10 / §6.3: cnf is {1: {1: 1, -1: 6, -2: x}} "with their types"; §2.1: a
    boolean is never an integer. kty = true (0xf5) is BAD_CLAIMS, even when signed."""
    scenario = _base()
    grant = model_decide(scenario)
    claims = ref.token_claims(bytes.fromhex(str(grant["token"])))
    claims[8] = {1: {1: True, -1: 6, -2: gen.HOLDER_PK}}
    token = _resigned(claims)
    verification = _valid_verification(scenario, grant)
    expected = model_verify(token, verification)
    assert expected["reason"] == "BAD_CLAIMS"
    assert kernel_verify(token, verification) == expected


def test_signed_claims_with_wrong_types_are_bad_claims() -> None:
    """§7.3 step 10 for each claim: a signed token with one claim of the wrong type."""
    scenario = _base()
    grant = model_decide(scenario)
    original = ref.token_claims(bytes.fromhex(str(grant["token"])))
    verification = _valid_verification(scenario, grant)
    wrong_values: tuple[object, ...] = (True, None, b"", "x", 1, -1, [], {})
    for key in original:
        for wrong in wrong_values:
            if type(wrong) is type(original[key]) and wrong == original[key]:
                continue
            claims = copy.deepcopy(original)
            claims[key] = wrong
            token = _resigned(claims)
            expected = model_verify(token, verification)
            assert kernel_verify(token, verification) == expected, (key, wrong)
            if type(wrong) in (bool, bytes, list, dict) or wrong is None:
                assert expected["reason"] == "BAD_CLAIMS", (key, wrong)


def test_holder_key_of_mixed_order_is_refused_by_both() -> None:
    """§3.1 with libsodium's notion of a valid point: P + T (T of order 2) is canonical and not
    of small order, but not in the prime-order subgroup; kernel and model both refuse it."""
    mixed = nacl.bindings.crypto_core_ed25519_add(
        gen.HOLDER_PK, bytes.fromhex(gen.SMALL_ORDER_HEX[1])
    )
    manifest = _base_manifest()
    manifest["holder"]["public_key"] = mixed.hex()
    expected = assert_same_decision(_base(manifest))
    assert expected["reason"] == "BAD_HOLDER_KEY"
