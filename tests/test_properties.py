"""Properties the specification states about the kernel, checked on generated inputs.

Determinism (§1, §6.5) in one process and across processes, no partial grants (§1), totality
over untrusted inputs (§1), expiry and standing monotonicity (§2.2, §8), the lease id as a
function of every input (§6.4), the lease clamp to the window (§4), the policy as the only
source of thresholds, durations and HRC rules (§3.4).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import reference_model as ref
import strategies as gen
from pda_lease import (
    Active,
    Authority,
    Deny,
    Ed25519Signer,
    Grant,
    InvalidLease,
    LeasePolicy,
    MonotonicTime,
    TrustSnapshot,
    UsageError,
    VerifiedLease,
    standing,
    verify_token,
)

REPO = Path(__file__).resolve().parent.parent


def authority(policy: dict[str, Any], seed: bytes = gen.ISSUER_SEED) -> Authority:
    return Authority(Ed25519Signer(seed), LeasePolicy.from_json(policy))


def at(now: dict[str, Any]) -> MonotonicTime:
    return MonotonicTime(now["epoch"], now["ns"])


def decide(s: gen.Scenario, seed: bytes = gen.ISSUER_SEED) -> Grant | Deny:
    return authority(s.policy, seed).decide(s.manifest, s.snapshot, at(s.now), s.hrc)


def granted(s: gen.Scenario) -> Grant:
    decision = decide(s)
    assert isinstance(decision, Grant), decision
    return decision


def verify_at(s: gen.Scenario, grant: Grant, ns: int, epoch: str | None = None) -> str:
    """``VALID`` or the INVALID reason of verifying ``grant`` at ``ns`` by its own holder."""
    proof = ref.make_holder_proof(s.holder_seed, grant.lease_id, b"gate challenge 01")
    try:
        verify_token(
            grant.token,
            issuer_public_key=gen.ISSUER_PK,
            task_id=s.manifest["task_id"],
            manifest_digest=grant.claims.manifest_digest,
            now=MonotonicTime(epoch or s.now["epoch"], ns),
            holder_proof=proof,
        )
    except InvalidLease as invalid:
        return invalid.deny.reason
    return "VALID"


def reordered(value: object) -> object:
    """The same JSON value with every object's members inserted in reverse order."""
    if type(value) is dict:
        assert isinstance(value, dict)
        return {k: reordered(v) for k, v in reversed(list(value.items()))}
    if type(value) is list:
        assert isinstance(value, list)
        return [reordered(v) for v in value]
    return value


# ---------------------------------------------------------------------------------- determinism


@given(gen.scenarios())
def test_decide_is_deterministic(s: gen.Scenario) -> None:
    """§1: the same inputs give the same decision and, for a GRANT, the same token bytes."""
    first = decide(s)
    again = authority(copy.deepcopy(s.policy)).decide(
        copy.deepcopy(s.manifest), copy.deepcopy(s.snapshot), at(s.now), copy.deepcopy(s.hrc)
    )
    assert first == again
    assert first.to_json() == again.to_json()
    if isinstance(first, Grant):
        assert isinstance(again, Grant) and first.token == again.token


@given(gen.scenarios(grantable=True))
def test_member_insertion_order_does_not_matter(s: gen.Scenario) -> None:
    """§2.3: inputs are hashed in deterministic CBOR, so the order in which a JSON object's
    members were written changes nothing, not even a byte of the token."""
    other = gen.Scenario(
        policy=reordered(s.policy),  # type: ignore[arg-type]
        manifest=reordered(s.manifest),
        snapshot=reordered(s.snapshot),
        now=s.now,
        hrc=reordered(s.hrc),
        holder_seed=s.holder_seed,
    )
    assert granted(s).token == granted(other).token


_CROSS_PROCESS_SCRIPT = r"""
import hashlib, json
from pda_lease import Authority, Ed25519Signer, LeasePolicy, MonotonicTime
from pda_lease import cose_key_thumbprint, json_digest, sign_hrc

def seed(name):
    return hashlib.sha256(b"pda-lease vector key: " + name.encode()).digest()

issuer, hrc = Ed25519Signer(seed("issuer")), Ed25519Signer(seed("hrc"))
holder = Ed25519Signer(seed("holder"))
# Sets iterate in an order that depends on PYTHONHASHSEED: objects built from them have
# members inserted in a different order in every process.
names = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"}
sensitivities = {"LOW", "MEDIUM", "HIGH"}
policy = {
    "policy_version": 1, "sequence": 3, "issuer": "pda-lease:local",
    "issuer_kid": cose_key_thumbprint(issuer.public_key).hex(),
    "lease_duration_ns": {s: {"LOW": 300, "MEDIUM": 120, "HIGH": 30}[s] for s in sensitivities},
    "trust_threshold": {s: {"LOW": 3000, "MEDIUM": 6000, "HIGH": 9000}[s] for s in sensitivities},
    "hrc_required_for": ["HIGH"],
    "hrc_keys": [hrc.public_key.hex()],
    "hrc_max_age_ns": 60,
}
authority = Authority(issuer, LeasePolicy.from_json(policy))
epoch = "6f1c2e9a-3b4d-4c5e-8f70-91a2b3c4d5e6"
snapshot = {"snapshot_version": 1, "sequence": 42,
            "scores": {n + ".run": len(n) * 1000 for n in names} | {"files.read": 9500}}
decisions = []
for sensitivity in ("LOW", "MEDIUM", "HIGH"):
    manifest = {
        "manifest_version": 1, "task_id": "task-" + sensitivity, "capability_id": "files.read",
        "inputs": {n: {"len": len(n), "tags": sorted(names)[: len(n)]} for n in names},
        "constraints": {"scope": "user:alice/files", "reversible": True,
                        "sensitivity": sensitivity, "hrc_required": False},
        "provenance": {"ast_hash": hashlib.sha256(sensitivity.encode()).hexdigest()},
        "holder": {"public_key": holder.public_key.hex()},
        "window": {"epoch": epoch, "not_before_ns": 1000, "not_after_ns": 2000},
    }
    now = MonotonicTime(epoch, 1500)
    confirmation = sign_hrc(hrc, json_digest(manifest), MonotonicTime(epoch, 1490))
    decision = authority.decide(manifest, snapshot, now, confirmation)
    decisions.append({
        "expected": decision.to_json(),
        "input": {"policy": policy, "manifest": manifest, "trust_snapshot": snapshot,
                  "now": now.to_json(), "hrc_token": confirmation},
    })
print(json.dumps({"set_order": list(names), "decisions": decisions}))
"""


def _run_with_hash_seed(hash_seed: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    completed = subprocess.run(
        [sys.executable, "-c", _CROSS_PROCESS_SCRIPT],
        capture_output=True,
        check=True,
        cwd=REPO,
        env=env,
        text=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def test_tokens_are_identical_across_processes() -> None:
    """§1, §6.5: decisions depend on nothing but their inputs: not on string hashing, dict
    insertion order or anything else that differs between processes."""
    runs = {seed: _run_with_hash_seed(seed) for seed in ("0", "1", "12345")}
    # The processes really did build their objects in different member orders...
    assert len({tuple(run["set_order"]) for run in runs.values()}) > 1
    outputs = {seed: [d["expected"] for d in run["decisions"]] for seed, run in runs.items()}
    first = outputs["0"]
    assert [d["decision"] for d in first] == ["GRANT", "GRANT", "GRANT"]
    assert len({d["token"] for d in first}) == 3
    # ...and still made byte-identical decisions, which are the reference model's.
    for seed, decisions in outputs.items():
        assert decisions == first, f"PYTHONHASHSEED={seed} gave other tokens"
    for decision in runs["0"]["decisions"]:
        given_input = decision["input"]
        expected = ref.ref_decide(
            gen.ISSUER_SEED,
            given_input["policy"],
            given_input["manifest"],
            given_input["trust_snapshot"],
            given_input["now"],
            given_input["hrc_token"],
        )
        assert decision["expected"] == expected


# ------------------------------------------------------------------------ no partial grants


@given(st.one_of(gen.scenarios(grantable=True), gen.scenarios(), gen.mutated_scenarios()))
def test_no_partial_grants(s: gen.Scenario) -> None:
    """§1: a GRANT always carries a complete signed token that verifies with the issuer key
    and its holder's proof; a DENY never carries one."""
    decision = decide(s)
    if isinstance(decision, Grant):
        lease = verify_token(
            decision.token,
            issuer_public_key=gen.ISSUER_PK,
            task_id=s.manifest["task_id"],
            manifest_digest=decision.claims.manifest_digest,
            now=at(s.now),
            holder_proof=ref.make_holder_proof(s.holder_seed, decision.lease_id, bytes(16)),
        )
        assert isinstance(lease, VerifiedLease)
        assert lease.lease_id == decision.lease_id
        assert lease.claims == decision.claims
        assert decision.to_json()["decision"] == "GRANT"
    else:
        assert isinstance(decision, Deny)
        assert not hasattr(decision, "token")
        assert set(decision.to_json()) == {"decision", "code", "reason", "message"}
        assert decision.to_json()["decision"] == "DENY"


# ---------------------------------------------------------------------------------- totality


def _kernel_is_total(s: gen.Scenario) -> None:
    decision = decide(s)
    assert isinstance(decision, (Grant, Deny))
    assert decision.to_json()["decision"] in ("GRANT", "DENY")


@given(gen.anything, gen.anything, gen.anything)
def test_decide_is_total_over_arbitrary_values(
    manifest: object, snapshot: object, hrc: object
) -> None:
    """§1: any manifest, snapshot or HRC value yields GRANT or DENY and nothing else."""
    base = gen.Scenario(
        policy=_policy(),
        manifest=manifest,
        snapshot=snapshot,
        now={"epoch": gen.EPOCH, "ns": 1500},
        hrc=hrc,
    )
    decision = decide(base)
    assert isinstance(decision, Deny)
    assert decision.code == "INVALID_MANIFEST"


@given(st.data())
def test_decide_is_total_when_later_steps_see_arbitrary_values(data: st.DataObject) -> None:
    """§1 at steps 3 and 4: a valid manifest with an arbitrary snapshot or HRC token, and a
    manifest with one field replaced by an arbitrary value."""
    s = data.draw(gen.scenarios(grantable=True))
    manifest = s.manifest
    where = data.draw(st.sampled_from(["snapshot", "hrc", "manifest_field"]))
    if where == "hrc":
        manifest = {**manifest, "constraints": {**manifest["constraints"], "hrc_required": True}}
    if where == "manifest_field":
        path = data.draw(st.sampled_from(gen.paths_in(manifest)))
        manifest = gen.replace_at(manifest, path, lambda _: data.draw(gen.anything))
    _kernel_is_total(
        gen.Scenario(
            policy=s.policy,
            manifest=manifest,
            snapshot=data.draw(gen.anything) if where == "snapshot" else s.snapshot,
            now=s.now,
            hrc=data.draw(gen.anything) if where == "hrc" else s.hrc,
        )
    )


def test_decide_is_total_on_cyclic_values() -> None:
    """§1, §9: self-containing values are cut by the depth limit."""
    cycle: dict[str, object] = {}
    cycle["self"] = cycle
    listed: list[object] = []
    listed.append(listed)
    base = _grantable()
    for value in (cycle, listed):
        manifest = {**base.manifest, "inputs": {"v": value}}
        decision = decide(gen.Scenario(base.policy, manifest, base.snapshot, base.now, None))
        assert isinstance(decision, Deny) and decision.reason == "TOO_DEEP"
        decision = decide(gen.Scenario(base.policy, base.manifest, value, base.now, None))
        assert isinstance(decision, Deny) and decision.reason == "SNAPSHOT_INVALID"


@given(gen.raw_cbor | st.binary(max_size=64), gen.anything)
def test_verify_is_total(token: bytes, holder_proof: object) -> None:
    """§1: any token bytes and any holder proof give a VerifiedLease or InvalidLease."""
    try:
        verify_token(
            token,
            issuer_public_key=gen.ISSUER_PK,
            task_id="task-2026-0001",
            manifest_digest=bytes(32),
            now=MonotonicTime(gen.EPOCH, 1500),
            holder_proof=holder_proof,
        )
    except InvalidLease as invalid:
        assert invalid.deny.code == "INVALID_TOKEN"


@given(st.data())
def test_verify_is_total_over_holder_proofs(data: st.DataObject) -> None:
    """§1, §7.3 steps 17-19: for a valid token, any holder-proof value is judged, never
    raised on: VALID only for the holder's own proof."""
    s = data.draw(gen.scenarios(grantable=True))
    grant = granted(s)
    proof = data.draw(st.one_of(gen.anything, gen.holder_proofs(s.holder_seed, grant.lease_id)))
    try:
        verify_token(
            grant.token,
            issuer_public_key=gen.ISSUER_PK,
            task_id=s.manifest["task_id"],
            manifest_digest=grant.claims.manifest_digest,
            now=at(s.now),
            holder_proof=proof,
        )
    except InvalidLease as invalid:
        assert invalid.deny.reason.startswith("HOLDER_PROOF_")
    else:
        assert type(proof) is dict
        assert proof == ref.make_holder_proof(
            s.holder_seed, grant.lease_id, bytes.fromhex(proof["challenge"])
        )


@pytest.mark.parametrize(
    ("sequence", "scores", "digest"),
    [
        (1, {"files.read": 9000}, b""),  # a GRANT whose token fails its own verification
        (1, {"files.read": "9000"}, bytes(32)),  # a score that is not an integer: raises
        (-5, {"files.read": 10**9}, bytes(32)),  # breaks §3.2 (uint63, [0, 10000]): a GRANT
    ],
    ids=["empty-digest", "text-score", "out-of-range"],
)
def test_spec_prebuilt_trust_snapshot_keeps_decide_total(
    sequence: int, scores: dict[str, object], digest: bytes
) -> None:
    """§1 and §3.2 for the Python binding's shortcut: ``decide`` also accepts an already-built
    ``TrustSnapshot``. A hand-built one that breaks §3.2 (or whose digest is not that of its
    content) is embedder misuse: it is refused when it is built, so decide never trusts it."""
    s = _grantable()
    json_form = {"snapshot_version": 1, "sequence": sequence, "scores": scores}
    try:
        snapshot = TrustSnapshot(sequence=sequence, scores=scores, digest=digest)  # type: ignore[arg-type]
    except UsageError:
        assert ref.validate_snapshot(json_form) is not None or digest != ref.digest(json_form)
        return
    assert ref.validate_snapshot(json_form) is None
    decision = decide(gen.Scenario(s.policy, s.manifest, snapshot, s.now, None))
    if isinstance(decision, Grant):
        assert verify_at(s, decision, decision.claims.issued_at_ns) == "VALID"


# ---------------------------------------------------------------------------------- time


@given(gen.scenarios(grantable=True), st.lists(st.integers(-3, 250), min_size=1, max_size=8))
def test_verify_is_monotone_in_time(s: gen.Scenario, offsets: list[int]) -> None:
    """§2.2, §7.3 steps 13-15: within the epoch a lease is NOT_YET_VALID, then VALID exactly
    on [issued_at, expires_at), then EXPIRED for ever; another epoch is EPOCH_MISMATCH."""
    grant = granted(s)
    issued, expires = grant.claims.issued_at_ns, grant.claims.expires_at_ns
    candidates = {issued - 1, issued, expires - 1, expires, expires + 1}
    candidates |= {issued + offset for offset in offsets}
    times = sorted(t for t in candidates if 0 <= t <= gen.UINT63_MAX)
    results = [verify_at(s, grant, t) for t in times]
    for t, result in zip(times, results, strict=True):
        if t < issued:
            assert result == "NOT_YET_VALID"
        elif t < expires:
            assert result == "VALID"
        else:
            assert result == "EXPIRED"
    # Stated as in the task: EXPIRED at t implies EXPIRED later; VALID at t implies VALID on
    # [issued_at, t].
    for i, result in enumerate(results):
        if result == "EXPIRED":
            assert all(later == "EXPIRED" for later in results[i:])
        if result == "VALID":
            since_issue = [
                r for t, r in zip(times, results, strict=True) if issued <= t <= times[i]
            ]
            assert all(earlier == "VALID" for earlier in since_issue)
    assert verify_at(s, grant, issued, epoch=gen.OTHER_EPOCH) == "EPOCH_MISMATCH"


def _standing_at(
    s: gen.Scenario, grant: Grant, ns: int, snapshot: object, revoked: frozenset[bytes]
) -> str:
    result = standing(
        grant.claims,
        MonotonicTime(s.now["epoch"], ns),
        snapshot,
        authority(s.policy).policy,
        revoked,
    )
    return "ACTIVE" if isinstance(result, Active) else result.reason


@given(st.data())
def test_standing_is_monotone_in_time_from_issue(data: st.DataObject) -> None:
    """§8 last paragraph, from issued_at on: once ENDED at t, ENDED at every later t' in the
    same epoch for the same snapshot, policy and revocations."""
    s = data.draw(gen.scenarios(grantable=True))
    grant = granted(s)
    snapshot = data.draw(st.one_of(st.just(s.snapshot), gen.mutations_of(s.snapshot)))
    revoked = data.draw(st.sampled_from([frozenset(), frozenset({grant.lease_id})]))
    issued, expires = grant.claims.issued_at_ns, grant.claims.expires_at_ns
    offsets = data.draw(st.lists(st.integers(0, expires - issued + 5), min_size=2, max_size=8))
    times = sorted({issued + o for o in offsets} | {issued, expires - 1, expires})
    results = [_standing_at(s, grant, t, snapshot, revoked) for t in times]
    ended = [r != "ACTIVE" for r in results]
    assert ended == sorted(ended), list(zip(times, results, strict=True))
    assert results[-1] == "EXPIRED"


def test_standing_before_issue_is_not_yet_valid_then_active() -> None:
    """§8 last paragraph: monotone from issued_at on; before it, NOT_YET_VALID (a clock that
    went backwards), and ACTIVE exactly at issued_at."""
    s = _grantable()
    grant = granted(s)
    issued = grant.claims.issued_at_ns
    assert _standing_at(s, grant, issued - 1, s.snapshot, frozenset()) == "NOT_YET_VALID"
    assert _standing_at(s, grant, issued, s.snapshot, frozenset()) == "ACTIVE"


# ---------------------------------------------------------------------------------- grant shape


@given(gen.scenarios(grantable=True))
def test_lease_is_clamped_to_the_window(s: gen.Scenario) -> None:
    """§4: issued_at = now; expires_at = min(now + duration[sensitivity], not_after)."""
    grant = granted(s)
    window = s.manifest["window"]
    duration = s.policy["lease_duration_ns"][s.manifest["constraints"]["sensitivity"]]
    assert grant.claims.issued_at_ns == s.now["ns"]
    assert grant.claims.expires_at_ns == min(s.now["ns"] + duration, window["not_after_ns"])
    assert grant.claims.issued_at_ns < grant.claims.expires_at_ns <= window["not_after_ns"]
    assert grant.claims.expires_at_ns - grant.claims.issued_at_ns <= duration


def test_lease_clamp_does_not_overflow_at_the_end_of_time() -> None:
    """§2.2: exact arithmetic; now + 24 h past 2^63 - 1 is clamped by the window, not wrapped."""
    s = _grantable(
        policy_changes={"lease_duration_ns": {"LOW": 86_400_000_000_000, "MEDIUM": 5, "HIGH": 1}},
        window=(gen.UINT63_MAX - 10, gen.UINT63_MAX),
        now_ns=gen.UINT63_MAX - 1,
    )
    grant = granted(s)
    assert grant.claims.expires_at_ns == gen.UINT63_MAX


def _variants(s: gen.Scenario) -> dict[str, gen.Scenario]:
    """Scenarios that differ from ``s`` in exactly one decision input (§6.4)."""
    policy, manifest, now = s.policy, s.manifest, s.now
    hrc_seed = gen.registered_hrc_seeds(policy)[0]

    def with_manifest(m: dict[str, Any], t: dict[str, Any] | None = None) -> gen.Scenario:
        t = t or now
        confirmed = s.hrc["confirmed_at"] if s.hrc is not None else t
        hrc = ref.make_hrc(hrc_seed, ref.digest(m), confirmed) if s.hrc is not None else None
        return gen.Scenario(policy, m, s.snapshot, t, hrc, s.holder_seed)

    other_hash = ref.H(manifest["provenance"]["ast_hash"].encode()).hex()
    variants = {
        "manifest": with_manifest({**manifest, "provenance": {"ast_hash": other_hash}}),
        "snapshot": gen.Scenario(
            policy,
            manifest,
            {**s.snapshot, "sequence": s.snapshot["sequence"] ^ 1},
            now,
            s.hrc,
            s.holder_seed,
        ),
        "policy": gen.Scenario(
            {**policy, "sequence": policy["sequence"] ^ 1},
            manifest,
            s.snapshot,
            now,
            s.hrc,
            s.holder_seed,
        ),
    }
    window = manifest["window"]
    for step in (1, -1):
        ns = now["ns"] + step
        if window["not_before_ns"] <= ns < window["not_after_ns"]:
            moved = gen.Scenario(
                policy, manifest, s.snapshot, {**now, "ns": ns}, s.hrc, s.holder_seed
            )
            variants[f"now{step:+}"] = moved
    sensitivity = manifest["constraints"]["sensitivity"]
    hrc_required = (
        manifest["constraints"]["hrc_required"] or sensitivity in policy["hrc_required_for"]
    )
    if hrc_required:  # otherwise the HRC token is not an input at all (§3.4)
        confirmed = s.hrc["confirmed_at"]
        earlier = {**confirmed, "ns": confirmed["ns"] - 1}
        variants["hrc"] = gen.Scenario(
            policy,
            manifest,
            s.snapshot,
            now,
            ref.make_hrc(hrc_seed, ref.digest(manifest), earlier),
            s.holder_seed,
        )
    return variants


@given(gen.scenarios(grantable=True))
def test_lease_id_changes_when_any_input_changes(s: gen.Scenario) -> None:
    """§6.4: the lease id is a function of every decision input: change one, get another id."""
    base = granted(s)
    ids = {"base": base.lease_id}
    for name, variant in _variants(s).items():
        decision = decide(variant)
        if isinstance(decision, Grant):
            ids[name] = decision.lease_id
    other_policy = {**s.policy, "issuer_kid": ref.thumbprint(gen.OTHER_ISSUER_PK).hex()}
    other = decide(
        gen.Scenario(other_policy, s.manifest, s.snapshot, s.now, s.hrc), gen.OTHER_ISSUER_SEED
    )
    assert isinstance(other, Grant)
    ids["issuer"] = other.lease_id
    assert {"manifest", "snapshot", "policy", "issuer"} <= set(ids)
    assert len(set(ids.values())) == len(ids), ids


# ---------------------------------------------------------------------------------- policy rules

_LOWERING_NAMES = (
    "trust_threshold",
    "threshold",
    "score",
    "lease_duration_ns",
    "hrc_required_for",
    "hrc_max_age_ns",
    "policy",
    "expires_at_ns",
)


@given(
    gen.scenarios(),
    st.sampled_from(["$", "constraints", "window", "provenance", "holder"]),
    st.sampled_from(_LOWERING_NAMES),
    st.sampled_from([0, 10000, 86_400_000_000_000, [], ["LOW"], {"LOW": 0}, None, False]),
)
def test_manifest_cannot_carry_policy(
    s: gen.Scenario, where: str, name: str, value: object
) -> None:
    """§3.4: nothing in a manifest can lower a threshold, lengthen a lease or waive HRC. A
    field that tries is an unknown field (§3 closed world), never a GRANT."""
    manifest = copy.deepcopy(s.manifest)
    (manifest if where == "$" else manifest[where])[name] = value
    decision = decide(gen.Scenario(s.policy, manifest, s.snapshot, s.now, s.hrc))
    assert isinstance(decision, Deny)
    assert (decision.code, decision.reason) == ("INVALID_MANIFEST", "UNKNOWN_FIELD")
    expected_path = name if where == "$" else f"{where}.{name}"
    assert decision.field == expected_path


@given(gen.scenarios(grantable=True), st.data())
def test_threshold_is_the_policys_for_the_sensitivity(s: gen.Scenario, data: st.DataObject) -> None:
    """§3.2, §3.4: the score is judged against policy.trust_threshold[sensitivity] and nothing
    else: whatever the opaque inputs, scope, reversibility or hrc_required say."""
    sensitivity = s.manifest["constraints"]["sensitivity"]
    threshold = s.policy["trust_threshold"][sensitivity]
    score = data.draw(st.sampled_from([threshold - 1, threshold, threshold + 1]))
    assume(0 <= score <= 10000)
    manifest = copy.deepcopy(s.manifest)
    manifest["inputs"] = {"trust_threshold": 0, "score": 10000, "policy": {"LOW": 0}}
    manifest["constraints"]["reversible"] = data.draw(st.booleans())
    manifest["constraints"]["scope"] = data.draw(st.sampled_from(["admin", "*", "trust:0"]))
    snapshot = {**s.snapshot, "scores": {**s.snapshot["scores"], manifest["capability_id"]: score}}
    hrc = ref.make_hrc(gen.registered_hrc_seeds(s.policy)[0], ref.digest(manifest), s.now)
    decision = decide(gen.Scenario(s.policy, manifest, snapshot, s.now, hrc, s.holder_seed))
    if score < threshold:
        assert isinstance(decision, Deny)
        assert (decision.code, decision.reason) == ("INSUFFICIENT_TRUST", "BELOW_THRESHOLD")
    else:
        assert isinstance(decision, Grant)


@given(gen.scenarios(grantable=True), st.sampled_from(gen.SENSITIVITIES))
def test_policy_requires_hrc_whatever_the_manifest_says(s: gen.Scenario, sensitivity: str) -> None:
    """§3.4: HRC is required when the sensitivity is in hrc_required_for, even when the
    manifest says hrc_required = false; the grant records the effective requirement."""
    policy = copy.deepcopy(s.policy)
    if sensitivity not in policy["hrc_required_for"]:
        policy["hrc_required_for"].append(sensitivity)
    policy["trust_threshold"] = {"LOW": 0, "MEDIUM": 0, "HIGH": 0}
    manifest = copy.deepcopy(s.manifest)
    manifest["constraints"]["sensitivity"] = sensitivity
    manifest["constraints"]["hrc_required"] = False
    missing = decide(gen.Scenario(policy, manifest, s.snapshot, s.now, None, s.holder_seed))
    assert isinstance(missing, Deny)
    assert (missing.code, missing.reason) == ("HRC_REQUIRED", "HRC_MISSING")
    hrc = ref.make_hrc(gen.registered_hrc_seeds(policy)[0], ref.digest(manifest), s.now)
    grant = decide(gen.Scenario(policy, manifest, s.snapshot, s.now, hrc, s.holder_seed))
    assert isinstance(grant, Grant)
    assert grant.claims.constraints.hrc_required is True
    assert grant.claims.hrc_digest == ref.digest(hrc)


@given(gen.scenarios(grantable=True), gen.anything)
def test_hrc_is_ignored_when_not_required(s: gen.Scenario, junk: object) -> None:
    """§3.4: when HRC is not required the hrc_token argument is not parsed and not bound."""
    policy = {**s.policy, "hrc_required_for": []}
    manifest = {**s.manifest, "constraints": {**s.manifest["constraints"], "hrc_required": False}}
    without = decide(gen.Scenario(policy, manifest, s.snapshot, s.now, None, s.holder_seed))
    with_junk = decide(gen.Scenario(policy, manifest, s.snapshot, s.now, junk, s.holder_seed))
    assert isinstance(without, Grant) and isinstance(with_junk, Grant)
    assert without.token == with_junk.token
    assert without.claims.hrc_digest is None
    assert without.claims.constraints.hrc_required is False


# ---------------------------------------------------------------------------------- fixtures


def _policy(**changes: object) -> dict[str, Any]:
    return gen.fixed_policy(**changes)


def _grantable(
    policy_changes: dict[str, object] | None = None,
    window: tuple[int, int] = (1000, 2000),
    now_ns: int = 1500,
) -> gen.Scenario:
    manifest = {
        "manifest_version": 1,
        "task_id": "task-2026-0001",
        "capability_id": "files.read",
        "inputs": {"path": "/home/user/notes.txt"},
        "constraints": {
            "scope": "user:alice/files",
            "reversible": True,
            "sensitivity": "LOW",
            "hrc_required": False,
        },
        "provenance": {"ast_hash": "ab" * 32},
        "holder": {"public_key": gen.HOLDER_PK.hex()},
        "window": {"epoch": gen.EPOCH, "not_before_ns": window[0], "not_after_ns": window[1]},
    }
    return gen.Scenario(
        policy=_policy(**(policy_changes or {})),
        manifest=manifest,
        snapshot={"snapshot_version": 1, "sequence": 1, "scores": {"files.read": 9000}},
        now={"epoch": gen.EPOCH, "ns": now_ns},
        hrc=None,
    )


@pytest.mark.parametrize("policy_changes", [{}, {"hrc_required_for": []}])
def test_fixture_scenario_is_granted(policy_changes: dict[str, object]) -> None:
    """The hand-built scenario used above is a GRANT (so the tests built on it can fail)."""
    assert isinstance(decide(_grantable(policy_changes)), Grant)
