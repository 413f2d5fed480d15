"""Self-tests of the governance part of the reference model (spec §13).

These pin the model's reading of §13.1 and §13.4-§13.10 with hand-built inputs: the example
policy of ``reference_model.governance_policy_document`` and inputs signed with the fixed
reference keys (seed = H("pda-lease reference key: " || name)). The model itself imports
nothing from ``pda_lease``; only the differential test at the end of this file does.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import reference_model as ref
import strategies as gen
from pda_lease import (
    Authority,
    Ed25519Signer,
    InvalidLease,
    MonotonicTime,
    PolicyError,
    verify_token,
)
from pda_lease.kernel.governance import GovernancePolicy

SPEC = Path(__file__).resolve().parent.parent / "LEASE_MANAGER_SPEC_v1.0.md"

ISSUER = ref.reference_seed("issuer")
HOLDER = ref.reference_seed("holder")
HRC = ref.reference_seed("hrc")
EPOCH = "ref-epoch-1"
OTHER_EPOCH = "ref-epoch-2"
NOW_NS = 1000
NOW: dict[str, object] = {"epoch": EPOCH, "ns": NOW_NS}
SNAPSHOT: dict[str, Any] = {
    "snapshot_version": 1,
    "sequence": 7,
    "scores": {"files.read": 9500, "mail.send": 9500, "net.fetch": 9500, "db.write": 9500},
}
POLICY = ref.governance_policy_document()
MAX_AGE = POLICY["request_max_age_ns"]
TTL = POLICY["approval_ttl_ns"]


def seed(name: str) -> bytes:
    return ref.reference_seed(name)


def key(name: str) -> str:
    return ref.reference_key(name)


def manifest(
    capability: str = "files.read", sensitivity: str = "LOW", hrc_required: bool = False
) -> dict[str, Any]:
    return {
        "manifest_version": 1,
        "task_id": "task-gov-0001",
        "capability_id": capability,
        "inputs": {"path": "/srv/notes.txt"},
        "constraints": {
            "scope": "user:alice/files",
            "reversible": True,
            "sensitivity": sensitivity,
            "hrc_required": hrc_required,
        },
        "provenance": {"ast_hash": "ab" * 32},
        "holder": {"public_key": ref.public_key(HOLDER).hex()},
        "window": {"epoch": EPOCH, "not_before_ns": 0, "not_after_ns": 10_000},
    }


MANIFEST = manifest()
DIGEST = ref.digest(MANIFEST)


def request(
    who: str = "alice",
    workspace: str = "research",
    model: str | None = "local-small",
    tools: Sequence[str] = ("fs.read",),
    for_manifest: dict[str, Any] | None = None,
    ns: int = NOW_NS - 10,
    epoch: str = EPOCH,
) -> dict[str, Any]:
    target = ref.digest(MANIFEST if for_manifest is None else for_manifest)
    return ref.make_request(seed(who), workspace, model, tools, target, epoch, ns)


def approval(
    who: str,
    verdict: str = "APPROVE",
    for_manifest: dict[str, Any] | None = None,
    ns: int = NOW_NS - 5,
    epoch: str = EPOCH,
) -> dict[str, Any]:
    target = ref.digest(MANIFEST if for_manifest is None else for_manifest)
    return ref.make_approval(seed(who), target, verdict, epoch, ns)


def decide(
    req: object,
    approvals: object = None,
    the_manifest: object = None,
    hrc: object = None,
    policy: object = None,
    snapshot: object = None,
    now: dict[str, object] | None = None,
) -> dict[str, object]:
    return ref.ref_decide(
        ISSUER,
        POLICY if policy is None else policy,
        MANIFEST if the_manifest is None else the_manifest,
        SNAPSHOT if snapshot is None else snapshot,
        NOW if now is None else now,
        hrc,
        request=req,
        approvals=approvals,
    )


def expect_deny(result: dict[str, object], code: str, reason: str, field: str | None) -> None:
    assert result == {
        "decision": "DENY",
        "code": code,
        "reason": reason,
        "message": ref.message(code, reason, field),
    }
    if field is not None:
        assert field in str(result["message"])


def claims_of(result: dict[str, object]) -> dict[int, Any]:
    assert result["decision"] == "GRANT", result
    return ref.token_claims(bytes.fromhex(str(result["token"])))


def verify(result: dict[str, object], the_manifest: dict[str, Any] = MANIFEST) -> dict[str, object]:
    lease_id = bytes.fromhex(str(result["lease_id"]))
    challenge = bytes(range(16))
    return ref.ref_verify(
        bytes.fromhex(str(result["token"])),
        ref.public_key(ISSUER),
        the_manifest["task_id"],
        ref.digest(the_manifest),
        NOW,
        ref.make_holder_proof(HOLDER, lease_id, challenge),
        frozenset(),
    )


# =========================================================================== the policy


def test_example_policy_is_valid_and_has_one_digest() -> None:
    checked = ref.check_governed_authority(ISSUER, POLICY)
    assert checked is POLICY
    # §13.1 Decision (one spelling): member order does not change the document's digest.
    reordered = dict(reversed(list(copy.deepcopy(POLICY).items())))
    assert ref.digest(reordered) == ref.digest(POLICY)


def _set(path: Sequence[str | int], value: object) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _drop(path: Sequence[str]) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


ALICE, BOB, CAROL, DAVE = key("alice"), key("bob"), key("carol"), key("dave")
NETWORK_REVIEWERS = sorted([BOB, CAROL])
SMALL_ORDER_KEY = gen.SMALL_ORDER_HEX[0]
ROLE = ("workspaces", "research", "analyst")

# One document per §13.1 rule it breaks.
BROKEN_POLICIES: dict[str, Callable[[dict[str, Any]], None]] = {
    "governance_version is 2": _set(["governance_version"], 2),
    "governance_version is a boolean": _set(["governance_version"], True),
    "org is not an Identifier": _set(["org"], "acme corp"),
    "version is 0": _set(["version"], 0),
    "version above 2^63-1": _set(["version"], 2**63),
    "lease_policy breaks §3.4": _set(["lease_policy", "trust_threshold", "LOW"], 9999),
    "lease_policy has an unknown member": _set(["lease_policy", "extra"], 1),
    "lease_policy is missing": _drop(["lease_policy"]),
    "request_max_age_ns is 0": _set(["request_max_age_ns"], 0),
    "request_max_age_ns above one hour": _set(["request_max_age_ns"], 3_600_000_000_001),
    "approval_ttl_ns is 0": _set(["approval_ttl_ns"], 0),
    "approval_ttl_ns above 7 days": _set(["approval_ttl_ns"], 604_800_000_000_001),
    "capabilities not sorted": _set(["capabilities"], ["net.fetch", "files.read", "mail.send"]),
    "capabilities has a duplicate": _set(
        ["capabilities"], ["files.read", "files.read", "mail.send", "net.fetch"]
    ),
    "capabilities has a non-Identifier": _set(["capabilities"], ["-x", "files.read"]),
    "models not sorted": _set(["models"], ["local-small", "local-large"]),
    "models is not an array": _set(["models"], "local-small"),
    "tool of an undefined category": _set(["tools", "fs.read"], "nope"),
    "tool id not an Identifier": _set(["tools", "fs read"], "read"),
    "category decision unknown": _set(["categories", "read", "decision"], "MAYBE"),
    "category name not an Identifier": _set(
        ["categories", "no way"], {"decision": "ALLOW", "reviewers": [], "threshold": 0}
    ),
    "category has an unknown member": _set(["categories", "read", "note"], "x"),
    "REVIEW reviewers empty": _set(["categories", "network", "reviewers"], []),
    "REVIEW reviewers not sorted": _set(
        ["categories", "network", "reviewers"], NETWORK_REVIEWERS[::-1]
    ),
    "REVIEW reviewer duplicated": _set(
        ["categories", "network", "reviewers"], [NETWORK_REVIEWERS[0]] * 2
    ),
    "REVIEW reviewer not a key of reviewers": _set(
        ["categories", "network", "reviewers"], sorted([BOB, key("mallory")])
    ),
    "REVIEW threshold 0": _set(["categories", "network", "threshold"], 0),
    "REVIEW threshold above the reviewers": _set(["categories", "network", "threshold"], 3),
    "REVIEW threshold negative": _set(["categories", "network", "threshold"], -1),
    "ALLOW with reviewers": _set(["categories", "read", "reviewers"], [BOB]),
    "ALLOW with a threshold": _set(["categories", "read", "threshold"], 1),
    "DENY with a threshold": _set(["categories", "shell", "threshold"], 1),
    "sensitivity_review key not a sensitivity": _set(
        ["sensitivity_review", "CRITICAL"], {"reviewers": [DAVE], "threshold": 1}
    ),
    "sensitivity_review threshold 0": _set(["sensitivity_review", "HIGH", "threshold"], 0),
    "sensitivity_review threshold too high": _set(["sensitivity_review", "HIGH", "threshold"], 3),
    "sensitivity_review reviewers empty": _set(["sensitivity_review", "HIGH", "reviewers"], []),
    "sensitivity_review reviewer unknown": _set(
        ["sensitivity_review", "HIGH", "reviewers"], [key("mallory")]
    ),
    "sensitivity_review has a decision": _set(["sensitivity_review", "HIGH", "decision"], "REVIEW"),
    "reviewer key of small order": _set(["reviewers", SMALL_ORDER_KEY], "zed"),
    "reviewer key not on the curve": _set(["reviewers", gen.NOT_ON_CURVE_HEX], "zed"),
    "reviewer key uppercase": _set(["reviewers", BOB.upper()], "bob2"),
    "reviewer name not an Identifier": _set(["reviewers", BOB], "bob smith"),
    "principal key of small order": _set(
        ["principals", SMALL_ORDER_KEY],
        {"name": "x", "kind": "PERSON", "workspaces": {"ops": "operator"}},
    ),
    "principal kind unknown": _set(["principals", ALICE, "kind"], "ROBOT"),
    "principal name not an Identifier": _set(["principals", ALICE, "name"], ""),
    "principal in no workspace": _set(["principals", ALICE, "workspaces"], {}),
    "principal in an undefined workspace": _set(
        ["principals", ALICE, "workspaces"], {"nowhere": "analyst"}
    ),
    "principal with a role not of that workspace": _set(
        ["principals", ALICE, "workspaces"], {"ops": "analyst"}
    ),
    "principal with an unknown member": _set(["principals", ALICE, "email"], "a@b"),
    "principal missing kind": _drop(["principals", ALICE, "kind"]),
    "workspace name not an Identifier": _set(["workspaces", "a b"], {}),
    "role capabilities empty": _set([*ROLE, "capabilities"], []),
    "role capability outside the org's": _set([*ROLE, "capabilities"], ["db.write"]),
    "role capabilities not sorted": _set([*ROLE, "capabilities"], ["net.fetch", "files.read"]),
    "role model outside the org's": _set([*ROLE, "models"], ["gpt-x"]),
    "role tool undefined": _set([*ROLE, "tools"], ["fs.read", "zzz"]),
    "role tool in a DENY category": _set([*ROLE, "tools"], ["fs.read", "shell.exec"]),
    "role tools with a duplicate": _set([*ROLE, "tools"], ["fs.read", "fs.read"]),
    "role missing tools": _drop([*ROLE, "tools"]),
    "unknown top-level member": _set(["comment"], "hi"),
    "a float": _set(["version"], 3.0),
    "a string longer than 4096 bytes": _set(["org"], "x" * 4097),
    "det(document) above 1 MiB": _set(
        ["tools"], {f"t{i:05}" + "x" * 122: "read" for i in range(9000)}
    ),
    "a container of more than 10000 members": _set(
        ["tools"], {f"t{i}": "read" for i in range(10001)}
    ),
    # §14.1: `pools` is required (null or the pools object); its rules are in
    # test_pools_reference.py, these few keep the differential refusal test honest here too.
    "pools is missing": _drop(["pools"]),
    "pools is not an object": _set(["pools"], []),
    "pools is an empty object": _set(["pools"], {}),
}


@pytest.mark.parametrize("rule", sorted(BROKEN_POLICIES))
def test_policy_breaking_a_rule_is_refused(rule: str) -> None:
    document = copy.deepcopy(POLICY)
    BROKEN_POLICIES[rule](document)
    with pytest.raises(ref.RefPolicyError):
        ref.check_governance_policy(document)
    with pytest.raises(ref.RefPolicyError):  # no decision is made under it
        decide(request(), policy=document)


def test_policy_not_an_object_is_refused() -> None:
    documents: tuple[object, ...] = ([], "x", None)
    for document in documents:
        with pytest.raises(ref.RefPolicyError):
            ref.check_governance_policy(document)


def test_lease_policy_must_name_the_signing_key() -> None:
    document = copy.deepcopy(POLICY)
    ref.check_governance_policy(document)  # the document alone is fine
    with pytest.raises(ref.RefPolicyError):
        ref.check_governed_authority(seed("not-the-issuer"), document)
    with pytest.raises(ref.RefPolicyError):
        ref.ref_decide(seed("not-the-issuer"), document, MANIFEST, SNAPSHOT, NOW, None)


def test_policy_limits_are_the_snapshot_limits() -> None:
    """§13.1: 10000 members per container (not the manifest's 1024)."""
    document = copy.deepcopy(POLICY)
    document["tools"].update({f"t{i:05}": "read" for i in range(2000)})
    ref.check_governance_policy(document)
    big = copy.deepcopy(POLICY)  # about 0.95 MB of 128-character tool ids: within 1 MiB
    big["tools"].update({f"t{i:05}" + "x" * 122: "read" for i in range(7000)})
    assert len(ref.det(big)) < 1 << 20
    ref.check_governance_policy(big)
    empty_roles = copy.deepcopy(POLICY)  # §13.1: a workspace has at least one role
    empty_roles["workspaces"]["empty"] = {}
    with pytest.raises(ref.RefPolicyError, match=r"workspaces\.empty: BAD_VALUE"):
        ref.check_governance_policy(empty_roles)


# ========================================================================= GRANT, claims


def test_grant_with_no_review_verifies_and_binds_the_request() -> None:
    req = request()
    result = decide(req, approvals="ignored: no requirement, not parsed")
    claims = claims_of(result)
    assert claims[-65547] == {
        "principal": bytes.fromhex(ALICE),
        "workspace": "research",
        "role": "analyst",
        "model": "local-small",
        "tools": ["fs.read"],
        "request": ref.digest(req),
        "approvals": None,
    }
    assert claims[-65540] == ref.digest(POLICY)  # the whole document's digest
    assert claims[1] == POLICY["lease_policy"]["issuer"]
    assert claims[-65546] is None
    kid = ref.thumbprint(ref.public_key(ISSUER))
    assert claims[7] == ref.governed_lease_id_of(
        kid, ref.digest(POLICY), DIGEST, ref.digest(SNAPSHOT), None, ref.digest(req), None,
        EPOCH, NOW_NS,
    )  # fmt: skip
    assert result["expires_at_ns"] == NOW_NS + POLICY["lease_policy"]["lease_duration_ns"]["LOW"]
    assert verify(result) == {
        "result": "VALID",
        "lease_id": result["lease_id"],
        "expires_at_ns": result["expires_at_ns"],
    }


def test_grant_with_review_binds_the_approvals_as_given() -> None:
    req = request(tools=["fs.read", "web.fetch"])
    approvals = [approval("carol"), approval("erin", "DENY"), approval("bob")]
    result = decide(req, approvals)
    claims = claims_of(result)
    assert claims[-65547]["approvals"] == ref.digest(approvals)
    assert claims[-65547]["tools"] == ["fs.read", "web.fetch"]
    assert verify(result)["result"] == "VALID"
    # Different approvals (still sufficient) give another lease id (§13.10).
    other = decide(req, [approvals[2], approvals[0]])
    assert other["decision"] == "GRANT"
    assert other["lease_id"] != result["lease_id"]


def test_grant_high_sensitivity_with_review_and_hrc() -> None:
    high = manifest(sensitivity="HIGH")
    req = request(for_manifest=high, model=None, tools=[])
    approvals = [approval("erin", for_manifest=high)]
    hrc = ref.make_hrc(HRC, ref.digest(high), {"epoch": EPOCH, "ns": NOW_NS - 1})
    result = decide(req, approvals, the_manifest=high, hrc=hrc)
    claims = claims_of(result)
    assert claims[-65546] == ref.digest(hrc)
    assert claims[-65547]["model"] is None and claims[-65547]["tools"] == []
    assert claims[-65547]["approvals"] == ref.digest(approvals)
    assert result["expires_at_ns"] == NOW_NS + 30
    assert verify(result, high)["result"] == "VALID"


def test_null_approvals_are_the_empty_array() -> None:
    """§13.6: ``null`` is the empty array: not malformed, just no approvals."""
    result = decide(request(tools=["web.fetch"]), None)
    expect_deny(result, "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT", "categories.network")


def _resign(claims: dict[int, Any]) -> bytes:
    protected = ref.det({1: -19, 4: ref.thumbprint(ref.public_key(ISSUER))})
    payload = ref.det(claims)
    return ref.cose_sign1(protected, {}, payload, ref.sign1(ISSUER, protected, payload))


def _verify_token(token: bytes, lease_id: bytes) -> dict[str, object]:
    return ref.ref_verify(
        token,
        ref.public_key(ISSUER),
        MANIFEST["task_id"],
        DIGEST,
        NOW,
        ref.make_holder_proof(HOLDER, lease_id, bytes(16)),
        frozenset(),
    )


CLAIM_CHANGES: dict[str, tuple[Callable[[dict[str, Any]], None], bool]] = {
    "unchanged": (lambda g: None, True),
    "model null": (lambda g: g.update(model=None), True),
    "approvals digest": (lambda g: g.update(approvals=bytes(32)), True),
    "16 tools": (lambda g: g.update(tools=[f"t{i:02}" for i in range(16)]), True),
    "17 tools": (lambda g: g.update(tools=[f"t{i:02}" for i in range(17)]), False),
    "tools not increasing": (lambda g: g.update(tools=["b", "a"]), False),
    "tools duplicated": (lambda g: g.update(tools=["a", "a"]), False),
    "tool not an Identifier": (lambda g: g.update(tools=["a b"]), False),
    "tools not an array": (lambda g: g.update(tools="fs.read"), False),
    "missing member": (lambda g: g.pop("role"), False),
    "extra member": (lambda g: g.update(extra=1), False),
    "principal 31 bytes": (lambda g: g.update(principal=bytes(31)), False),
    "principal as text": (lambda g: g.update(principal=ALICE), False),
    "workspace not an Identifier": (lambda g: g.update(workspace="a b"), False),
    "role empty": (lambda g: g.update(role=""), False),
    "model an integer": (lambda g: g.update(model=5), False),
    "request null": (lambda g: g.update(request=None), False),
    "approvals 33 bytes": (lambda g: g.update(approvals=bytes(33)), False),
    "approvals false": (lambda g: g.update(approvals=False), False),
}


@pytest.mark.parametrize("change", sorted(CLAIM_CHANGES))
def test_governance_claim_is_checked_exactly(change: str) -> None:
    claims = claims_of(decide(request()))
    mutate, valid = CLAIM_CHANGES[change]
    mutate(claims[-65547])
    outcome = _verify_token(_resign(claims), claims[7])
    assert outcome["result"] == ("VALID" if valid else "INVALID"), outcome
    if not valid:
        assert outcome["reason"] == "BAD_CLAIMS"


def test_claims_without_the_governance_claim_still_verify() -> None:
    claims = claims_of(decide(request()))
    del claims[-65547]
    assert _verify_token(_resign(claims), claims[7])["result"] == "VALID"
    claims[-65547] = None  # present but not the map
    assert _verify_token(_resign(claims), claims[7])["reason"] == "BAD_CLAIMS"


def test_standing_under_a_governance_policy() -> None:
    claims = claims_of(decide(request()))
    assert ref.ref_standing(claims, NOW, SNAPSHOT, POLICY, frozenset())["standing"] == "ACTIVE"
    newer = copy.deepcopy(POLICY)
    newer["version"] = 4
    ended = ref.ref_standing(claims, NOW, SNAPSHOT, newer, frozenset())
    assert ended["reason"] == "POLICY_CHANGED"
    # The thresholds are those of the lease_policy (LOW: 3000).
    low = {"snapshot_version": 1, "sequence": 8, "scores": {"files.read": 2999}}
    assert ref.ref_standing(claims, NOW, low, POLICY, frozenset())["reason"] == "TRUST_DECAYED"
    ok = {"snapshot_version": 1, "sequence": 8, "scores": {"files.read": 3000}}
    assert ref.ref_standing(claims, NOW, ok, POLICY, frozenset())["standing"] == "ACTIVE"


# ============================================================================ step G (§13.7)


def _tampered(req: dict[str, Any], **changes: object) -> dict[str, Any]:
    changed = copy.deepcopy(req)
    changed.update(changes)
    return changed


def _malformed(path: Sequence[str], value: object) -> dict[str, Any]:
    req = request()
    _set(path, value)(req)
    return req


OTHER_MANIFEST = manifest(capability="mail.send")

# reason -> (request, manifest or None, field)
POLICY_CASES: dict[str, tuple[object, dict[str, Any] | None, str | None]] = {
    "REQUEST_MISSING": (None, None, None),
    "REQUEST_MALFORMED": (_malformed(["requested_at", "ns"], -1), None, "request.requested_at.ns"),
    "UNKNOWN_PRINCIPAL": (request(who="mallory"), None, None),
    "BAD_REQUEST_SIGNATURE": (_tampered(request(), workspace="ops"), None, None),
    "REQUEST_WRONG_MANIFEST": (request(for_manifest=OTHER_MANIFEST), None, None),
    "REQUEST_EPOCH_MISMATCH": (request(epoch=OTHER_EPOCH), None, None),
    "REQUEST_FROM_FUTURE": (request(ns=NOW_NS + 1), None, None),
    "REQUEST_TOO_OLD": (request(ns=NOW_NS - MAX_AGE), None, None),
    "WORKSPACE_NOT_ALLOWED": (request(who="bot"), None, "request.workspace"),
    "CAPABILITY_NOT_ALLOWED": (
        request(for_manifest=manifest("db.write")),
        manifest("db.write"),
        "capability_id",
    ),
    "CAPABILITY_NOT_IN_ROLE": (
        request(who="vera", model=None, for_manifest=manifest("net.fetch")),
        manifest("net.fetch"),
        "capability_id",
    ),
    "MODEL_NOT_ALLOWED": (request(model="gpt-x"), None, "request.model"),
    "MODEL_NOT_IN_ROLE": (request(model="local-large"), None, "request.model"),
    "TOOL_UNKNOWN": (request(tools=["fs.read", "zzz"]), None, "request.tools[1]"),
    "TOOL_CATEGORY_DENIED": (request(tools=["shell.exec"]), None, "request.tools[0]"),
    "TOOL_NOT_IN_ROLE": (request(tools=["fs.read", "web.post"]), None, "request.tools[1]"),
}


@pytest.mark.parametrize("reason", sorted(POLICY_CASES))
def test_each_policy_reason_with_its_field(reason: str) -> None:
    req, the_manifest, field = POLICY_CASES[reason]
    expect_deny(decide(req, the_manifest=the_manifest), "POLICY_DENIED", reason, field)


def test_policy_reasons_are_the_catalog() -> None:
    assert set(POLICY_CASES) | {"REVIEWER_DENIED"} == set(ref.MESSAGES["POLICY_DENIED"])


MALFORMED_REQUESTS: list[tuple[object, str]] = [
    ([], "request"),
    ("request", "request"),
    (_tampered(request(), extra=1), "request.extra"),
    (_tampered(request(), **{"a b": 1}), 'request["a b"]'),
    ({k: v for k, v in request().items() if k != "signature"}, "request.signature"),
    (_tampered(request(), request_version=2), "request.request_version"),
    (_tampered(request(), principal=ALICE.upper()), "request.principal"),
    (_tampered(request(), workspace=""), "request.workspace"),
    (_tampered(request(), model=5), "request.model"),
    (_tampered(request(), tools=["b.x", "a.x"]), "request.tools[1]"),
    (_tampered(request(), tools=["a.x", "a.x"]), "request.tools[1]"),
    (_tampered(request(), tools=["a.x", "-bad"]), "request.tools[1]"),
    (_tampered(request(), tools=[f"t{i:02}" for i in range(17)]), "request.tools"),
    (_tampered(request(), tools="fs.read"), "request.tools"),
    (_tampered(request(), manifest_digest="00"), "request.manifest_digest"),
    (_malformed(["requested_at", "epoch"], "a b"), "request.requested_at.epoch"),
    (_malformed(["requested_at", "extra"], 0), "request.requested_at.extra"),
    (_tampered(request(), signature="00" * 63), "request.signature"),
    (_tampered(request(), model=1.5), "request.model"),  # the walk (FLOAT) comes first
    (_tampered(request(), inputs={"x": 1.5}), "request.inputs.x"),
    # §14.2: `demand` after requested_at, before signature; its members in their order.
    ({k: v for k, v in request().items() if k != "demand"}, "request.demand"),
    (
        {k: v for k, v in request().items() if k not in ("demand", "signature")},
        "request.demand",
    ),
    (_tampered(request(), demand=None), "request.demand"),
    (_malformed(["demand", "units"], -1), "request.demand.units"),
    (_malformed(["demand", "units"], True), "request.demand.units"),
    (_malformed(["demand", "context_tokens"], 2**53), "request.demand.context_tokens"),
    (_malformed(["demand", "compute"], "4"), "request.demand.compute"),
    (_malformed(["demand", "spend_cents"], None), "request.demand.spend_cents"),
    (_malformed(["demand", "extra"], 0), "request.demand.extra"),
    (
        _tampered(request(), demand={"units": -1, "context_tokens": -1}),
        "request.demand.units",
    ),
    (
        _tampered(request(), demand={"context_tokens": 0, "compute": 0, "spend_cents": 0}),
        "request.demand.units",
    ),
]


@pytest.mark.parametrize(("req", "field"), MALFORMED_REQUESTS)
def test_malformed_request_field(req: object, field: str) -> None:
    expect_deny(decide(req), "POLICY_DENIED", "REQUEST_MALFORMED", field)


def test_the_signature_covers_the_demand() -> None:
    """§14.2: the demand is the last element of the signed array; a request without pools to
    judge it still carries and signs it."""
    demand = {"units": 1200, "context_tokens": 8000, "compute": 4, "spend_cents": 25}
    req = ref.make_request(
        seed("alice"), "research", "local-small", ["fs.read"], DIGEST, EPOCH, NOW_NS - 10, demand
    )
    assert req["demand"] == demand
    signed = ref.det(
        [
            "PDA-REQUEST-v1", bytes.fromhex(ALICE), "research", "local-small", ["fs.read"],
            DIGEST, EPOCH, NOW_NS - 10, [1200, 8000, 4, 25],
        ]
    )  # fmt: skip
    assert ref.signature_verifies(
        bytes.fromhex(ALICE), signed, bytes.fromhex(str(req["signature"]))
    )
    granted = decide(req)
    assert granted["decision"] == "GRANT"
    assert claims_of(granted)[-65547]["request"] == ref.digest(req)
    for name, value in demand.items():
        changed = _tampered(req, demand={**demand, name: value + 1})
        expect_deny(decide(changed), "POLICY_DENIED", "BAD_REQUEST_SIGNATURE", None)
    # The §13.4 bytes without the demand are not what is signed.
    decoded = ref.strict_decode(signed, max_depth=4)
    assert isinstance(decoded, list)
    without = ref.det(decoded[:-1])
    assert not ref.signature_verifies(
        bytes.fromhex(ALICE), without, bytes.fromhex(str(req["signature"]))
    )


def test_request_age_boundary_and_signed_content() -> None:
    assert decide(request(ns=NOW_NS - MAX_AGE + 1))["decision"] == "GRANT"
    assert decide(request(ns=NOW_NS))["decision"] == "GRANT"
    # The role is looked up, never stated: alice in ops is an operator (no local-small there
    # is fine: operator allows both models) and may not use the research tools.
    expect_deny(
        decide(request(workspace="ops", tools=["pay.send"])),
        "POLICY_DENIED",
        "TOOL_NOT_IN_ROLE",
        "request.tools[0]",
    )


def test_tools_are_judged_one_after_the_other() -> None:
    """§13.7: steps 14-16 for the first tool, then the second: a tool not in the role before
    it comes before an unknown tool after it."""
    result = decide(request(tools=["fs.list", "web.post", "zzz"], workspace="ops"))
    expect_deny(result, "POLICY_DENIED", "TOOL_NOT_IN_ROLE", "request.tools[0]")


def test_step_g_comes_before_the_window_and_trust() -> None:
    closed = {"epoch": EPOCH, "ns": 20_000}
    expect_deny(decide(None, now=closed), "POLICY_DENIED", "REQUEST_MISSING", None)
    broken_snapshot = {"snapshot_version": 2}
    expect_deny(
        decide(request(model="gpt-x"), snapshot=broken_snapshot),
        "POLICY_DENIED",
        "MODEL_NOT_ALLOWED",
        "request.model",
    )
    # ... but after the manifest's structure (step 1).
    result = decide(None, the_manifest={"manifest_version": 2})
    assert result["code"] == "INVALID_MANIFEST"


# ============================================================================ step A (§13.8)

NETWORK = ["fs.read", "web.fetch"]
HIGH = manifest(sensitivity="HIGH")


def high_request() -> dict[str, Any]:
    return request(for_manifest=HIGH, tools=[])


APPROVAL_CASES: dict[str, tuple[object, str, str, str]] = {
    "APPROVALS_MALFORMED": (
        [approval("bob"), {**approval("carol"), "verdict": "MAYBE"}],
        "APPROVAL_REQUIRED",
        "APPROVALS_MALFORMED",
        "approvals[1].verdict",
    ),
    "APPROVAL_UNKNOWN_REVIEWER": (
        [approval("bob"), approval("mallory")],
        "APPROVAL_REQUIRED",
        "APPROVAL_UNKNOWN_REVIEWER",
        "approvals[1].reviewer",
    ),
    "APPROVAL_BAD_SIGNATURE": (
        [approval("bob"), {**approval("carol"), "signed_at": {"epoch": EPOCH, "ns": 999}}],
        "APPROVAL_REQUIRED",
        "APPROVAL_BAD_SIGNATURE",
        "approvals[1].signature",
    ),
    "APPROVAL_WRONG_MANIFEST": (
        [approval("bob"), approval("carol", for_manifest=OTHER_MANIFEST)],
        "APPROVAL_REQUIRED",
        "APPROVAL_WRONG_MANIFEST",
        "approvals[1].manifest_digest",
    ),
    "REVIEWER_DENIED": (
        [approval("bob"), approval("carol"), approval("carol", "DENY")],
        "POLICY_DENIED",
        "REVIEWER_DENIED",
        "approvals[2].verdict",
    ),
    "APPROVALS_INSUFFICIENT": (
        [approval("bob")],
        "APPROVAL_REQUIRED",
        "APPROVALS_INSUFFICIENT",
        "categories.network",
    ),
}


@pytest.mark.parametrize("case", sorted(APPROVAL_CASES))
def test_each_approval_reason_with_its_field(case: str) -> None:
    approvals, code, reason, field = APPROVAL_CASES[case]
    expect_deny(decide(request(tools=NETWORK), approvals), code, reason, field)


def test_approval_reasons_are_the_catalog() -> None:
    assert set(APPROVAL_CASES) - {"REVIEWER_DENIED"} == set(ref.MESSAGES["APPROVAL_REQUIRED"])


def _nested(levels: int) -> object:
    value: object = 0
    for _ in range(levels):
        value = [value]
    return value


MALFORMED_APPROVALS: list[tuple[object, str]] = [
    ("approvals", "approvals"),
    ({"0": approval("bob")}, "approvals"),
    (7, "approvals"),
    ([approval("bob")] * 65, "approvals"),
    ([approval("bob"), 1], "approvals[1]"),
    ([approval("bob"), []], "approvals[1]"),
    ([{**approval("bob"), "approval_version": 2}], "approvals[0].approval_version"),
    ([{**approval("bob"), "extra": 1}], "approvals[0].extra"),
    ([{k: v for k, v in approval("bob").items() if k != "verdict"}], "approvals[0].verdict"),
    ([{**approval("bob"), "reviewer": BOB.upper()}], "approvals[0].reviewer"),
    ([{**approval("bob"), "signed_at": {"epoch": EPOCH}}], "approvals[0].signed_at.ns"),
    ([{**approval("bob"), "signature": "00"}], "approvals[0].signature"),
    # The walk of the whole array (floats, sizes) comes before any item's schema.
    ([{"bad": 1}, {**approval("bob"), "verdict": 0.5}], "approvals[1].verdict"),
    ([approval("bob"), _nested(15)], "approvals[1]" + "[0]" * 15),  # depth 17: TOO_DEEP
    # READING: the 64-item rule is judged before the walk of the array's items (§9: limits are
    # checked before the work they bound), so a float in item 70 of 100 is not reached.
    ([approval("bob")] * 69 + [{"x": 0.5}] + [approval("bob")] * 30, "approvals"),
    ([approval("bob")] * 64 + [{"x": 0.5}], "approvals"),
    ([approval("bob")] * 63 + [{"x": 0.5}], "approvals[63].x"),
]


@pytest.mark.parametrize(("approvals", "field"), MALFORMED_APPROVALS)
def test_malformed_approvals_field(approvals: object, field: str) -> None:
    result = decide(request(tools=NETWORK), approvals)
    expect_deny(result, "APPROVAL_REQUIRED", "APPROVALS_MALFORMED", field)


def test_k_minus_one_approvals_never_suffice() -> None:
    """Network needs 2 of {bob, carol}: no set of fewer distinct approvers suffices, whatever
    else is in the array (approvals of other reviewers, repeats)."""
    extras = [approval("dave"), approval("erin"), approval("bob", ns=NOW_NS - 1)]
    for approvals in (
        [],
        [approval("bob")],
        [approval("carol")],
        [approval("bob"), *extras],
        [approval("carol")] * 5 + [approval("dave")],
    ):
        expect_deny(
            decide(request(tools=NETWORK), approvals),
            "APPROVAL_REQUIRED",
            "APPROVALS_INSUFFICIENT",
            "categories.network",
        )
    assert decide(request(tools=NETWORK), [approval("bob"), approval("carol")])["decision"] == (
        "GRANT"
    )


def test_a_reviewer_approving_twice_counts_once() -> None:
    twice = [approval("bob", ns=NOW_NS - 1), approval("bob", ns=NOW_NS - 2)]
    expect_deny(
        decide(request(tools=NETWORK), twice),
        "APPROVAL_REQUIRED",
        "APPROVALS_INSUFFICIENT",
        "categories.network",
    )


def test_an_approval_for_another_digest_is_refused_not_ignored() -> None:
    approvals = [approval("bob"), approval("carol"), approval("dave", for_manifest=HIGH)]
    expect_deny(
        decide(request(tools=NETWORK), approvals),
        "APPROVAL_REQUIRED",
        "APPROVAL_WRONG_MANIFEST",
        "approvals[2].manifest_digest",
    )


def test_a_deny_from_a_relevant_reviewer_wins_over_a_met_threshold() -> None:
    approvals = [approval("bob"), approval("carol"), approval("bob", "DENY")]
    expect_deny(
        decide(request(tools=NETWORK), approvals),
        "POLICY_DENIED",
        "REVIEWER_DENIED",
        "approvals[2].verdict",
    )
    # A DENY is final: from another epoch, from the future or long ago, it still decides.
    for deny in (
        approval("carol", "DENY", epoch=OTHER_EPOCH),
        approval("carol", "DENY", ns=NOW_NS + 50),
        approval("carol", "DENY", ns=0),
    ):
        expect_deny(
            decide(request(tools=NETWORK), [deny, approval("bob"), approval("carol")]),
            "POLICY_DENIED",
            "REVIEWER_DENIED",
            "approvals[0].verdict",
        )
    # The first DENY in array order names the field.
    two = [approval("bob"), approval("carol", "DENY"), approval("bob", "DENY")]
    expect_deny(
        decide(request(tools=NETWORK), two),
        "POLICY_DENIED",
        "REVIEWER_DENIED",
        "approvals[1].verdict",
    )


def test_a_deny_from_a_reviewer_of_no_requirement_is_ignored() -> None:
    approvals = [approval("erin", "DENY"), approval("bob"), approval("carol")]
    assert decide(request(tools=NETWORK), approvals)["decision"] == "GRANT"
    # ... but erin is a reviewer of HIGH: for a HIGH manifest her DENY decides.
    denial = [approval("dave", for_manifest=HIGH), approval("erin", "DENY", for_manifest=HIGH)]
    expect_deny(
        decide(high_request(), denial, the_manifest=HIGH),
        "POLICY_DENIED",
        "REVIEWER_DENIED",
        "approvals[1].verdict",
    )


@pytest.mark.parametrize(
    "when",
    [
        {"ns": NOW_NS - TTL},  # expired: now - signed_at == ttl
        {"ns": NOW_NS - TTL - 500},
        {"ns": NOW_NS + 1},  # from the future
        {"epoch": OTHER_EPOCH},  # another epoch
    ],
)
def test_an_approve_that_does_not_count_is_not_an_error(when: dict[str, Any]) -> None:
    stale = approval("carol", **when)
    result = decide(request(tools=NETWORK), [approval("bob"), stale])
    expect_deny(result, "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT", "categories.network")
    # With a counting approval of carol next to it, the stale one is simply not counted.
    fresh = [approval("bob"), stale, approval("carol", ns=NOW_NS - TTL + 1)]
    assert decide(request(tools=NETWORK), fresh)["decision"] == "GRANT"


def test_requirements_order_categories_then_sensitivity() -> None:
    """READING: categories in deterministic (§2.3) key order: "pay" (3 bytes) before
    "network" (7 bytes), then the sensitivity."""
    high = manifest("net.fetch", sensitivity="HIGH")
    tools = ["pay.send", "web.fetch"]
    req = request(for_manifest=high, tools=tools)

    def field_for(approvals: list[dict[str, Any]]) -> object:
        result = decide(req, approvals, the_manifest=high)
        assert result["reason"] == "APPROVALS_INSUFFICIENT", result
        return result["message"]

    assert "categories.pay" in str(field_for([]))
    dave = approval("dave", for_manifest=high)
    assert "categories.network" in str(field_for([dave]))
    both = [dave, approval("bob", for_manifest=high), approval("carol", for_manifest=high)]
    # dave is also a HIGH reviewer: with him the sensitivity rule is met too.
    hrc = ref.make_hrc(HRC, ref.digest(high), {"epoch": EPOCH, "ns": NOW_NS})
    assert decide(req, both, the_manifest=high, hrc=hrc)["decision"] == "GRANT"
    no_dave = [approval("bob", for_manifest=high), approval("carol", for_manifest=high)]
    result = decide(request(for_manifest=high, tools=["web.fetch"]), no_dave, the_manifest=high)
    expect_deny(result, "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT", "sensitivity_review.HIGH")


def test_odd_category_names_are_quoted_in_the_field() -> None:
    """READING: ``categories.<name>`` follows the §4.1 path rules (a '.' in the name)."""
    document = copy.deepcopy(POLICY)
    document["categories"]["net.io"] = document["categories"].pop("network")
    document["tools"]["web.fetch"] = document["tools"]["web.post"] = "net.io"
    result = decide(request(tools=NETWORK), [], policy=document)
    expect_deny(result, "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT", 'categories["net.io"]')


def test_step_a_comes_after_trust_and_before_hrc() -> None:
    low_trust = {"snapshot_version": 1, "sequence": 1, "scores": {"files.read": 10}}
    result = decide(request(tools=NETWORK), "not parsed yet", snapshot=low_trust)
    assert result["reason"] == "BELOW_THRESHOLD"
    # HIGH needs HRC too, but approvals are judged first.
    result = decide(high_request(), [], the_manifest=HIGH, hrc=None)
    expect_deny(result, "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT", "sensitivity_review.HIGH")
    result = decide(high_request(), [approval("dave", for_manifest=HIGH)], the_manifest=HIGH)
    assert result["reason"] == "HRC_MISSING"


# ====================================================================== catalog vs. spec


def _spec_catalog_table(code: str) -> dict[str, str]:
    """The reason -> message rows of one §13.9 table, read from the spec text."""
    text = SPEC.read_text(encoding="utf-8")
    section = text[text.index("### 13.9 Catalog additions") : text.index("### 13.10")]
    start = section.index(f"`{code}` —")
    rows: dict[str, str] = {}
    for line in section[start:].splitlines()[1:]:
        match = re.fullmatch(r"\| `([A-Z_]+)` \| `([^`]*)` \| .* \|", line)
        if match:
            rows[match[1]] = match[2]
        elif rows and not line.startswith("|"):
            break
    return rows


@pytest.mark.parametrize("code", ["POLICY_DENIED", "APPROVAL_REQUIRED"])
def test_messages_are_the_spec_tables(code: str) -> None:
    assert dict(ref.MESSAGES[code]) == _spec_catalog_table(code)


def test_ungoverned_authority_ignores_request_and_approvals() -> None:
    """§13: an authority without governance behaves exactly as §1-§12 say."""
    plain = POLICY["lease_policy"]
    with_extra = ref.ref_decide(
        ISSUER, plain, MANIFEST, SNAPSHOT, NOW, None, request="junk", approvals=[1]
    )
    assert with_extra == ref.ref_decide(ISSUER, plain, MANIFEST, SNAPSHOT, NOW, None)
    assert -65547 not in claims_of(with_extra)


# ================================================================ robustness (Hypothesis)

REQUEST_POOL: tuple[object, ...] = (
    *gen.JSON_POOL,
    ALICE,
    BOB,
    EPOCH,
    OTHER_EPOCH,
    "research",
    "ops",
    "fs.read",
    "web.fetch",
    ["fs.read"],
    ["web.fetch"],
    ["shell.exec"],
    "APPROVE",
    "DENY",
)

BASE_REQUEST = request(tools=NETWORK)
BASE_APPROVALS = [approval("bob"), approval("carol")]

ALLOWED_OUTCOMES = {
    ("GRANT", None, None),
    *(("DENY", "POLICY_DENIED", reason) for reason in ref.MESSAGES["POLICY_DENIED"]),
    *(("DENY", "APPROVAL_REQUIRED", reason) for reason in ref.MESSAGES["APPROVAL_REQUIRED"]),
}


@st.composite
def governed_inputs(draw: st.DrawFn) -> tuple[object, object]:
    req: object = BASE_REQUEST
    approvals: object = BASE_APPROVALS
    if draw(st.booleans()):
        req = draw(gen.mutations_of(BASE_REQUEST, REQUEST_POOL))
    if draw(st.booleans()):
        approvals = draw(gen.mutations_of(BASE_APPROVALS, REQUEST_POOL))
    return req, approvals


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(governed_inputs())
def test_mutated_requests_and_approvals_never_raise(inputs: tuple[object, object]) -> None:
    req, approvals = inputs
    result = decide(req, approvals)
    outcome = (result["decision"], result.get("code"), result.get("reason"))
    assert outcome in ALLOWED_OUTCOMES, result


# ====================================================== differential: kernel against model
# The kernel is imported here only (never in the model). Its public governed API: an
# Authority over a GovernancePolicy, and decide(..., request=..., approvals=...).


_KERNEL_AUTHORITY: list[Authority] = []


def kernel_decide(
    req: object,
    approvals: object,
    the_manifest: object,
    hrc: object,
    snapshot: object,
    now: dict[str, Any],
) -> dict[str, object]:
    if not _KERNEL_AUTHORITY:
        governance = GovernancePolicy.from_json(copy.deepcopy(POLICY))
        _KERNEL_AUTHORITY.append(Authority(Ed25519Signer(ISSUER), governance))
    decision = _KERNEL_AUTHORITY[0].decide(
        the_manifest,
        snapshot,
        MonotonicTime(now["epoch"], now["ns"]),
        hrc,
        request=req,
        approvals=approvals,
    )
    return decision.to_json()


def test_unsorted_tools_are_malformed_at_the_first_offending_item() -> None:
    """§13.1 "one spelling": a repeated or out-of-order id is BAD_VALUE at that item."""
    for tools, path in ((["b.x", "a.x"], "request.tools[1]"), (["a.x", "a.x"], "request.tools[1]")):
        req = _tampered(request(), tools=tools)
        model = decide(req)
        assert model["reason"] == "REQUEST_MALFORMED"
        assert str(model["message"]).endswith(f" at {path}")
        assert model == kernel_decide(req, None, MANIFEST, None, SNAPSHOT, NOW)


PEOPLE = ("alice", "alice", "bot", "vera", "mallory")
WORKSPACES = ("research", "research", "ops", "nowhere")
MODELS = (None, "local-small", "local-small", "local-large", "gpt-x")
TOOL_IDS = ("fs.list", "fs.read", "pay.send", "shell.exec", "web.fetch", "web.post", "zzz")
REVIEWER_NAMES = ("bob", "carol", "dave", "erin", "mallory")
CAPABILITIES = ("files.read", "files.read", "net.fetch", "mail.send", "db.write")


# Who may ask for what in the example policy (principal, workspace, model, the role's tools).
GOOD_ASKS: tuple[tuple[str, str, str | None, tuple[str, ...]], ...] = (
    ("alice", "research", "local-small", ("fs.list", "fs.read", "pay.send", "web.fetch")),
    ("alice", "ops", "local-large", ("fs.read", "web.post")),
    ("bot", "ops", None, ("fs.read", "web.post")),
    ("vera", "research", None, ("fs.read",)),
)


@st.composite
def governed_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly requests the policy admits (so that steps 2, 3, A, 4 and 5 are reached), with
    rare wrong principals, workspaces, models, tools, epochs and mutations."""
    sensitivity = draw(st.sampled_from(ref.SENSITIVITIES))
    capability = draw(st.sampled_from(CAPABILITIES)) if gen.rarely(draw, 5) else "files.read"
    the_manifest = manifest(capability, sensitivity, hrc_required=gen.rarely(draw, 6))
    target = OTHER_MANIFEST if gen.rarely(draw, 10) else the_manifest
    now_ns = draw(st.integers(900, 1100))
    epochs = st.sampled_from((EPOCH,) * 7 + (OTHER_EPOCH,))
    who, workspace, model, role_tools = draw(st.sampled_from(GOOD_ASKS))
    if gen.rarely(draw, 6):
        who = draw(st.sampled_from(PEOPLE))
    if gen.rarely(draw, 6):
        workspace = draw(st.sampled_from(WORKSPACES))
    if gen.rarely(draw, 6):
        model = draw(st.sampled_from(MODELS))
    pool = TOOL_IDS if gen.rarely(draw, 6) else role_tools
    req: object = request(
        who,
        workspace,
        model,
        sorted(draw(st.sets(st.sampled_from(pool), max_size=3))),
        for_manifest=target,
        ns=now_ns - draw(st.integers(-2, MAX_AGE + 2)),
        epoch=draw(epochs),
    )
    if gen.rarely(draw, 4):
        req = draw(gen.mutations_of(req, REQUEST_POOL))
    elif gen.rarely(draw, 20):
        req = None
    one_approval = st.builds(
        lambda who, verdict, age, epoch, other: approval(
            who, verdict, OTHER_MANIFEST if other else target, now_ns - age, epoch
        ),
        st.sampled_from(REVIEWER_NAMES),
        st.sampled_from(("APPROVE", "APPROVE", "APPROVE", "DENY")),
        st.integers(-2, TTL + 2),
        epochs,
        st.integers(0, 9).map(lambda n: n == 0),
    )
    approvals: object = draw(st.lists(one_approval, max_size=5))
    if gen.rarely(draw, 5):
        approvals = draw(gen.mutations_of(approvals, REQUEST_POOL))
    elif gen.rarely(draw, 10):
        approvals = None
    hrc: object = None
    if sensitivity == "HIGH" or the_manifest["constraints"]["hrc_required"]:
        confirmed = {"epoch": EPOCH, "ns": now_ns - draw(st.integers(-1, 61))}
        hrc = ref.make_hrc(HRC, ref.digest(the_manifest), confirmed)
    score = draw(st.sampled_from((9500, 9500, 8999, 2999)))
    scores = {"files.read": score, "net.fetch": score, "mail.send": score}
    snapshot = {"snapshot_version": 1, "sequence": 1, "scores": scores}
    return {
        "req": req,
        "approvals": approvals,
        "the_manifest": the_manifest,
        "hrc": hrc,
        "snapshot": snapshot,
        "now": {"epoch": EPOCH, "ns": now_ns},
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(governed_scenarios())
def test_differential_governed_decide(scenario: dict[str, Any]) -> None:
    model = decide(**scenario)
    kernel = kernel_decide(**scenario)
    event(f"{model['decision']} {model.get('code', '')} {model.get('reason', '')}")
    assert model == kernel


def test_differential_policy_refusals() -> None:
    GovernancePolicy.from_json(copy.deepcopy(POLICY))
    for rule, change in sorted(BROKEN_POLICIES.items()):
        document = copy.deepcopy(POLICY)
        change(document)
        with pytest.raises(PolicyError):
            GovernancePolicy.from_json(document)
            pytest.fail(f"the kernel accepts a policy where {rule}")


@pytest.mark.parametrize("change", sorted(CLAIM_CHANGES))
def test_differential_governance_claim_verification(change: str) -> None:
    claims = claims_of(decide(request()))
    mutate, _ = CLAIM_CHANGES[change]
    mutate(claims[-65547])
    token = _resign(claims)
    model = _verify_token(token, claims[7])
    try:
        lease = verify_token(
            token,
            issuer_public_key=ref.public_key(ISSUER),
            task_id=MANIFEST["task_id"],
            manifest_digest=DIGEST,
            now=MonotonicTime(EPOCH, NOW_NS),
            holder_proof=ref.make_holder_proof(HOLDER, claims[7], bytes(16)),
            revoked=frozenset(),
        )
    except InvalidLease as invalid:
        assert model["result"] == "INVALID"
        assert invalid.deny.reason == model["reason"]
    else:
        assert model["result"] == "VALID"
        assert lease.lease_id == claims[7]
