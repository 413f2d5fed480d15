"""Governance in the kernel (spec §13): the policy document, the G and A steps, the claim.

The properties are the ones the governance design promises: a policy that allows less never
grants more (adding a deny rule, or removing an allow, never turns a DENY into a GRANT), k-1
approvals never suffice, an approval of one manifest never approves another, and a policy's
digest does not depend on the order its members were written in. Expected reasons in the
table-driven tests come from the spec's §13.7/§13.8 tables; the vectors
(``specs/vectors/gov-*.json``) are checked against the reference model elsewhere.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pda_lease import conformance as cv
from pda_lease.kernel import cbor
from pda_lease.kernel.catalog import Deny
from pda_lease.kernel.crypto import Ed25519Signer
from pda_lease.kernel.decide import Authority, Grant, decide, standing
from pda_lease.kernel.errors import InvalidLease, PolicyError, UsageError
from pda_lease.kernel.governance import (
    MAX_REQUEST_TOOLS,
    GovernancePolicy,
    parse_approvals,
    policy_from_json,
    sign_approval,
    sign_request,
)
from pda_lease.kernel.inputs import LeasePolicy, MonotonicTime, json_digest
from pda_lease.kernel.token import open_token, sig_structure, sign_holder_proof, verify_token

SECOND = cv.SECOND
NOW = MonotonicTime(cv.EPOCH, 100 * SECOND)
REVIEWERS = {"bob": cv.BOB, "carol": cv.CAROL, "erin": cv.ERIN}
PRINCIPALS = {"alice": cv.ALICE, "ci-bot": cv.CI_BOT, "outsider": cv.OUTSIDER}


def authority(document: dict[str, Any] | None = None) -> Authority:
    return Authority(cv.ISSUER, GovernancePolicy.from_json(document or cv.governance_policy()))


def manifest(capability: str = "files.read", sensitivity: str = "LOW") -> dict[str, Any]:
    return cv._with(cv.base_manifest(sensitivity), "capability_id", capability)


def digest_of(document: dict[str, Any]) -> bytes:
    return json_digest(document)


def run(
    auth: Authority,
    document: dict[str, Any],
    request: object,
    approvals: object = None,
    hrc: object = None,
) -> Grant | Deny:
    return decide(auth, document, cv.base_snapshot(9500), NOW, hrc, request, approvals)


# ---------------------------------------------------------------------------------- policy


def test_example_policy_is_valid_and_its_digest_is_the_documents() -> None:
    document = cv.governance_policy()
    policy = GovernancePolicy.from_json(document)
    # Independent digest: cbor2's canonical form equals our profile for text-only keys
    # (bytewise order of the encodings is length-first order when every key is a text string).
    assert (
        policy.digest.hex()
        == __import__("hashlib").sha256(cbor2.dumps(document, canonical=True)).hexdigest()
    )
    assert policy.version == 1
    assert policy.lease_policy == LeasePolicy.from_json(document["lease_policy"])


def _set(document: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    *parents, last = path.split("/")
    target = changed
    for name in parents:
        target = target[name]
    if value is _DROP:
        del target[last]
    else:
        target[last] = value
    return changed


_DROP = object()
_BOB = cv.BOB.public_key.hex()
_ALICE = cv.ALICE.public_key.hex()

# (case, member to change, new value, the PolicyError text after "governance policy field "):
# each a rule of the §13.1 table, with the field path written as in §4.1.
_ZERO = "00" * 32
INVALID_POLICIES: list[tuple[str, str, object, str]] = [
    ("governance_version 2", "governance_version", 2, "governance_version: UNSUPPORTED_VERSION"),
    ("org not an identifier", "org", "a b", "org: BAD_VALUE"),
    ("version 0", "version", 0, "version: BAD_VALUE"),
    ("missing reviewers", "reviewers", _DROP, "reviewers: MISSING_FIELD"),
    ("unknown member", "extra", 1, "extra: UNKNOWN_FIELD"),
    (
        "lease policy broken",
        "lease_policy/trust_threshold/LOW",
        9999,
        "lease_policy: lease policy field trust_threshold: BAD_VALUE",
    ),
    ("request age 0", "request_max_age_ns", 0, "request_max_age_ns: BAD_VALUE"),
    (
        "approval ttl over 7 days",
        "approval_ttl_ns",
        604_800_000_000_001,
        "approval_ttl_ns: BAD_VALUE",
    ),
    (
        "capabilities unsorted",
        "capabilities",
        ["mail.send", "files.read", "shell.run"],
        "capabilities[1]: BAD_VALUE",
    ),
    (
        "capabilities duplicated",
        "capabilities",
        ["files.read", "files.read", "mail.send"],
        "capabilities[1]: BAD_VALUE",
    ),
    ("capabilities not an array", "capabilities", "files.read", "capabilities: WRONG_TYPE"),
    ("capability not an id", "capabilities", ["a b"], "capabilities[0]: BAD_VALUE"),
    (
        "tool in undefined category",
        "tools/fs.read",
        "nowhere",
        'tools["fs.read"]: category nowhere is not defined',
    ),
    ("tools not an object", "tools", [], "tools: WRONG_TYPE"),
    (
        "REVIEW without reviewers",
        "categories/network/reviewers",
        [],
        "categories.network.threshold: not in [1, number of reviewers]",
    ),
    (
        "threshold above reviewers",
        "categories/network/threshold",
        3,
        "categories.network.threshold: not in [1, number of reviewers]",
    ),
    (
        "threshold 0 on REVIEW",
        "categories/network/threshold",
        0,
        "categories.network.threshold: not in [1, number of reviewers]",
    ),
    (
        "threshold above the limit",
        "categories/network/threshold",
        65,
        "categories.network.threshold: BAD_VALUE",
    ),
    (
        "ALLOW with a threshold",
        "categories/read/threshold",
        1,
        "categories.read: an ALLOW or DENY rule has no reviewers and threshold 0",
    ),
    (
        "DENY with a reviewer",
        "categories/shell/reviewers",
        [_BOB],
        "categories.shell: an ALLOW or DENY rule has no reviewers and threshold 0",
    ),
    (
        "decision unknown",
        "categories/read/decision",
        "MAYBE",
        "categories.read.decision: BAD_VALUE",
    ),
    (
        "reviewer not registered",
        "sensitivity_review/HIGH/reviewers",
        [_ALICE],
        "sensitivity_review.HIGH.reviewers[0]: not a registered reviewer",
    ),
    (
        "reviewers unsorted",
        "categories/network/reviewers",
        sorted([_BOB, cv.CAROL.public_key.hex()], reverse=True),
        "categories.network.reviewers[1]: BAD_VALUE",
    ),
    (
        "reviewers repeated",
        "categories/network/reviewers",
        [_BOB, _BOB],
        "categories.network.reviewers[1]: BAD_VALUE",
    ),
    (
        "reviewer not hex",
        "categories/network/reviewers",
        ["ZZ" * 32],
        "categories.network.reviewers[0]: BAD_VALUE",
    ),
    (
        "too many reviewers",
        "categories/network/reviewers",
        [f"{index:064x}" for index in range(65)],
        "categories.network.reviewers: TOO_MANY_ITEMS",
    ),
    (
        "reviewers not an array",
        "categories/network/reviewers",
        _BOB,
        "categories.network.reviewers: WRONG_TYPE",
    ),
    (
        "sensitivity that does not exist",
        "sensitivity_review/URGENT",
        {"reviewers": [], "threshold": 1},
        "sensitivity_review.URGENT: BAD_VALUE",
    ),
    ("reviewer key not a point", "reviewers", {_ZERO: "zero"}, f"reviewers.{_ZERO}: BAD_VALUE"),
    ("reviewer key not hex", "reviewers", {"xyz": "x"}, "reviewers.xyz: BAD_VALUE"),
    ("reviewer name not an id", f"reviewers/{_BOB}", "b o b", f"reviewers.{_BOB}: BAD_VALUE"),
    (
        "principal with no workspace",
        f"principals/{_ALICE}/workspaces",
        {},
        f"principals.{_ALICE}.workspaces: BAD_VALUE",
    ),
    (
        "principal in an undefined role",
        f"principals/{_ALICE}/workspaces/research",
        "admin",
        f"principals.{_ALICE}.workspaces.research: role admin is not defined in research",
    ),
    (
        "principal in an undefined workspace",
        f"principals/{_ALICE}/workspaces/lab",
        "analyst",
        f"principals.{_ALICE}.workspaces.lab: role analyst is not defined in lab",
    ),
    (
        "principal kind",
        f"principals/{_ALICE}/kind",
        "ROBOT",
        f"principals.{_ALICE}.kind: BAD_VALUE",
    ),
    (
        "principal workspaces not an object",
        f"principals/{_ALICE}/workspaces",
        ["research"],
        f"principals.{_ALICE}.workspaces: WRONG_TYPE",
    ),
    (
        "role with no capability",
        "workspaces/research/analyst/capabilities",
        [],
        "workspaces.research.analyst.capabilities: BAD_VALUE",
    ),
    (
        "role capability outside org",
        "workspaces/research/analyst/capabilities",
        ["db.drop"],
        "workspaces.research.analyst.capabilities[0]: not in the organization's capabilities",
    ),
    (
        "role model outside org",
        "workspaces/research/analyst/models",
        ["local-small", "remote-xl"],
        "workspaces.research.analyst.models[1]: not in the organization's models",
    ),
    (
        "role tool undefined",
        "workspaces/research/analyst/tools",
        ["fs.read", "gpu.burn"],
        "workspaces.research.analyst.tools[1]: tool gpu.burn is not defined",
    ),
    (
        "role allowed a denied tool",
        "workspaces/research/analyst/tools",
        ["fs.read", "shell.exec"],
        "workspaces.research.analyst.tools[1]: tool shell.exec is in a denied category",
    ),
    ("workspace with no roles", "workspaces/ops", {}, "workspaces.ops: BAD_VALUE"),
    ("workspaces not an object", "workspaces", [], "workspaces: WRONG_TYPE"),
]


@pytest.mark.parametrize(
    ("case", "path", "value", "text"), INVALID_POLICIES, ids=[c[0] for c in INVALID_POLICIES]
)
def test_invalid_policy_documents_are_refused(
    case: str, path: str, value: object, text: str
) -> None:
    with pytest.raises(PolicyError) as refused:
        GovernancePolicy.from_json(_set(cv.governance_policy(), path, value))
    assert str(refused.value) == f"governance policy field {text}"


def test_policy_from_json_tells_the_two_kinds_apart() -> None:
    assert isinstance(policy_from_json(cv.base_policy()), LeasePolicy)
    assert isinstance(policy_from_json(cv.governance_policy()), GovernancePolicy)
    with pytest.raises(PolicyError):
        policy_from_json({"governance_version": 1})


def _shuffled(value: object, rng: random.Random) -> object:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _shuffled(item, rng) for key, item in items}
    if isinstance(value, list):
        return [_shuffled(item, rng) for item in value]
    return value


@given(st.randoms(use_true_random=False))
def test_policy_digest_does_not_depend_on_member_order(rng: random.Random) -> None:
    document = cv.governance_policy()
    shuffled = _shuffled(document, rng)
    assert (
        GovernancePolicy.from_json(shuffled).digest == GovernancePolicy.from_json(document).digest
    )


def test_authority_rejects_a_governance_policy_for_another_issuer() -> None:
    with pytest.raises(PolicyError):
        Authority(cv.OTHER_ISSUER, GovernancePolicy.from_json(cv.governance_policy()))
    with pytest.raises(UsageError):
        Authority(cv.ISSUER, cv.governance_policy())  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- steps


def test_governed_grant_binds_who_asked_into_a_verifiable_token() -> None:
    auth = authority()
    document = manifest()
    request = cv.request_for(document, tools=("fs.read",))
    grant = run(auth, document, request)
    assert isinstance(grant, Grant), grant
    claim = grant.claims.governance
    assert claim is not None
    assert (claim.principal, claim.workspace, claim.role) == (
        cv.ALICE.public_key,
        "research",
        "analyst",
    )
    assert (claim.model, claim.tools) == ("local-small", ("fs.read",))
    assert claim.request_digest == json_digest(request)
    assert claim.approvals_digest is None  # no review rule applied
    assert grant.claims.policy_digest == auth.policy_digest != auth.policy.digest
    challenge = bytes(range(32))
    verified = verify_token(
        grant.token,
        issuer_public_key=cv.ISSUER.public_key,
        task_id=document["task_id"],
        manifest_digest=digest_of(document),
        now=NOW,
        holder_proof=sign_holder_proof(cv.HOLDER, grant.lease_id, challenge),
    )
    assert verified.claims == grant.claims
    assert open_token(grant.token, issuer_public_key=cv.ISSUER.public_key) == grant.claims
    assert grant.claims.to_json()["governance"] == {
        "principal": cv.ALICE.public_key.hex(),
        "workspace": "research",
        "role": "analyst",
        "model": "local-small",
        "tools": ["fs.read"],
        "request": json_digest(request).hex(),
        "approvals": None,
    }


def test_ungoverned_authority_ignores_request_and_approvals() -> None:
    auth = Authority(cv.ISSUER, LeasePolicy.from_json(cv.base_policy()))
    document = manifest()
    plain = decide(auth, document, cv.base_snapshot(), NOW)
    extra = decide(auth, document, cv.base_snapshot(), NOW, None, {"junk": 1}, "junk")
    assert isinstance(plain, Grant)
    assert plain == extra
    assert plain.claims.governance is None


def test_largest_governed_token_fits_the_token_limit() -> None:
    long_id = "t" * 100
    tools = [f"{long_id}{index:02d}{'x' * 25}" for index in range(MAX_REQUEST_TOOLS)]
    document = cv.governance_policy()
    role_name = "r" * 128
    workspace = "w" * 128
    model_id = "m" * 128
    document["tools"].update({tool: "read" for tool in tools})
    document["models"] = sorted([*document["models"], model_id])
    document["workspaces"][workspace] = {
        role_name: {"capabilities": ["c" * 128], "models": [model_id], "tools": sorted(tools)}
    }
    document["capabilities"] = sorted([*document["capabilities"], "c" * 128])
    document["principals"][_ALICE]["workspaces"][workspace] = role_name
    document["lease_policy"]["issuer"] = "i" * 256
    auth = authority(document)
    big = cv.base_manifest()
    big["task_id"] = "k" * 128
    big["capability_id"] = "c" * 128
    big["constraints"]["scope"] = "s" * 256
    big["window"]["epoch"] = "e" * 64
    now = MonotonicTime("e" * 64, 100 * SECOND)
    request = sign_request(
        cv.ALICE,
        workspace=workspace,
        model_id=model_id,
        tools=tools,
        manifest_digest=digest_of(big),
        requested_at=MonotonicTime("e" * 64, 99 * SECOND),
    )
    snapshot = {"snapshot_version": 1, "sequence": 1, "scores": {"c" * 128: 10000}}
    grant = decide(auth, big, snapshot, now, None, request, None)
    assert isinstance(grant, Grant), grant
    assert len(grant.token) <= 4096, len(grant.token)
    assert open_token(grant.token, issuer_public_key=cv.ISSUER.public_key) == grant.claims


def test_governed_lease_ids_differ_by_principal_and_by_approvals() -> None:
    document = cv.governance_policy()
    document["principals"][cv.CI_BOT.public_key.hex()]["workspaces"]["research"] = "analyst"
    auth = authority(document)
    m = manifest()
    web = ("fs.read", "web.fetch")
    both = [cv.approval_for(m, cv.BOB), cv.approval_for(m, cv.CAROL)]
    alice = run(auth, m, cv.request_for(m, tools=web), both)
    bot = run(auth, m, cv.request_for(m, signer=cv.CI_BOT, tools=web), both)
    reordered = run(auth, m, cv.request_for(m, tools=web), list(reversed(both)))
    assert isinstance(alice, Grant) and isinstance(bot, Grant) and isinstance(reordered, Grant)
    assert len({alice.lease_id, bot.lease_id, reordered.lease_id}) == 3


def test_standing_under_a_governance_policy() -> None:
    auth = authority()
    m = manifest()
    grant = run(auth, m, cv.request_for(m))
    assert isinstance(grant, Grant)
    later = MonotonicTime(cv.EPOCH, 101 * SECOND)
    same = GovernancePolicy.from_json(cv.governance_policy())
    upgraded = GovernancePolicy.from_json(cv.governance_policy(2))
    assert not isinstance(standing(grant.claims, later, cv.base_snapshot(), same), Deny)
    ended = standing(grant.claims, later, cv.base_snapshot(), upgraded)
    assert isinstance(ended, Deny) and ended.reason == "POLICY_CHANGED"
    # The lease policy inside is not the policy the lease was granted under either.
    inner = standing(grant.claims, later, cv.base_snapshot(), same.lease_policy)
    assert isinstance(inner, Deny) and inner.reason == "POLICY_CHANGED"


def test_parse_approvals_paths_and_limits() -> None:
    m = manifest()
    good = cv.approval_for(m, cv.BOB)
    assert parse_approvals(None) == ((), b"\x80")
    too_many = parse_approvals([good] * 65)
    assert not isinstance(too_many, tuple)
    assert (too_many.reason, too_many.path) == ("TOO_MANY_ITEMS", "approvals")
    nested = parse_approvals([good, {**good, "signed_at": {"epoch": cv.EPOCH, "ns": 1.5}}])
    assert not isinstance(nested, tuple)
    assert (nested.reason, nested.path) == ("FLOAT_NOT_ALLOWED", "approvals[1].signed_at.ns")
    missing = parse_approvals([{k: v for k, v in good.items() if k != "verdict"}])
    assert not isinstance(missing, tuple)
    assert (missing.reason, missing.path) == ("MISSING_FIELD", "approvals[0].verdict")


def test_signing_helpers_check_their_arguments() -> None:
    with pytest.raises(UsageError):
        sign_request(
            cv.ALICE,
            workspace="research",
            model_id=None,
            tools="fs.read",
            manifest_digest=bytes(32),
            requested_at=NOW,
        )
    with pytest.raises(UsageError):
        sign_request(
            cv.ALICE,
            workspace="research",
            model_id=None,
            tools=(),
            manifest_digest=bytes(31),
            requested_at=NOW,
        )
    with pytest.raises(UsageError):
        sign_approval(cv.BOB, bytes(32), "MAYBE", NOW)
    with pytest.raises(UsageError):
        sign_approval(cv.BOB, bytes(32), "APPROVE", 5)  # type: ignore[arg-type]
    # The request lists its tools in one order whatever order they are given in.
    forwards = sign_request(
        cv.ALICE,
        workspace="research",
        model_id=None,
        tools=["web.fetch", "fs.read", "fs.read"],
        manifest_digest=bytes(32),
        requested_at=NOW,
    )
    assert forwards["tools"] == ["fs.read", "web.fetch"]


def test_a_tampered_governance_claim_is_bad_claims() -> None:
    auth = authority()
    m = manifest()
    grant = run(auth, m, cv.request_for(m))
    assert isinstance(grant, Grant)
    outer = cbor2.loads(grant.token)
    protected, _, payload, _ = outer.value
    claims = cbor2.loads(payload)
    variants = {
        "tools unsorted": {**claims[-65547], "tools": ["z", "a"]},
        "tools repeated": {**claims[-65547], "tools": ["a", "a"]},
        "tools not ids": {**claims[-65547], "tools": ["a b"]},
        "extra member": {**claims[-65547], "extra": 1},
        "principal short": {**claims[-65547], "principal": b"\x00" * 31},
        "model number": {**claims[-65547], "model": 5},
        "too many tools": {**claims[-65547], "tools": [f"t{i:02d}" for i in range(17)]},
    }
    for name, value in variants.items():
        changed = {**claims, -65547: value}
        ordered = cbor.encode(changed)
        signature = cv.ISSUER.sign(sig_structure(protected, ordered))
        token = cbor.encode(cbor.Tag(18, [protected, {}, ordered, signature]))
        with pytest.raises(InvalidLease) as refused:
            open_token(token, issuer_public_key=cv.ISSUER.public_key)
        assert refused.value.deny.reason == "BAD_CLAIMS", name


# ---------------------------------------------------------------------------------- properties

TOOLS = ["fs.read", "gpu.burn", "shell.exec", "web.fetch"]
requests = st.fixed_dictionaries(
    {
        "principal": st.sampled_from(sorted(PRINCIPALS)),
        "workspace": st.sampled_from(["ops", "research", "lab"]),
        "model": st.sampled_from([None, "local-large", "local-small", "remote-xl"]),
        "tools": st.lists(st.sampled_from(TOOLS), unique=True, max_size=3),
        "capability": st.sampled_from(["files.read", "mail.send", "shell.run", "db.drop"]),
        "sensitivity": st.sampled_from(["LOW", "MEDIUM", "HIGH"]),
        "verdicts": st.dictionaries(
            st.sampled_from(sorted(REVIEWERS)), st.sampled_from(["APPROVE", "DENY"])
        ),
        "hrc": st.booleans(),
    }
)


def _decide_drawn(document: dict[str, Any], drawn: dict[str, Any]) -> Grant | Deny:
    m = manifest(drawn["capability"], drawn["sensitivity"])
    request = cv.request_for(
        m,
        signer=PRINCIPALS[drawn["principal"]],
        workspace=drawn["workspace"],
        model=drawn["model"],
        tools=tuple(drawn["tools"]),
    )
    approvals = [
        cv.approval_for(m, REVIEWERS[name], verdict)
        for name, verdict in sorted(drawn["verdicts"].items())
    ]
    hrc = cv.hrc_for(m, 99 * SECOND) if drawn["hrc"] else None
    return run(authority(document), m, request, approvals, hrc)


def _restrict(document: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One change that can only allow less (a deny rule added, or an allow removed)."""
    changed = copy.deepcopy(document)
    roles = [
        (workspace, role)
        for workspace, by_role in changed["workspaces"].items()
        for role in by_role
    ]
    workspace, role_name = rng.choice(roles)
    role = changed["workspaces"][workspace][role_name]
    kind = rng.randrange(8)
    if kind == 0 and role["tools"]:
        role["tools"].remove(rng.choice(role["tools"]))
    elif kind == 1 and role["models"]:
        role["models"].remove(rng.choice(role["models"]))
    elif kind == 2 and len(role["capabilities"]) > 1:
        role["capabilities"].remove(rng.choice(role["capabilities"]))
    elif kind == 3:
        key = rng.choice(sorted(changed["principals"]))
        memberships = changed["principals"][key]["workspaces"]
        if len(memberships) > 1:
            del memberships[rng.choice(sorted(memberships))]
        else:
            del changed["principals"][key]
    elif kind == 4:
        # A category becomes denied: its tools leave every role (the document stays valid).
        category = rng.choice(sorted(changed["categories"]))
        changed["categories"][category] = {"decision": "DENY", "reviewers": [], "threshold": 0}
        denied = {tool for tool, name in changed["tools"].items() if name == category}
        for by_role in changed["workspaces"].values():
            for entry in by_role.values():
                entry["tools"] = [tool for tool in entry["tools"] if tool not in denied]
    elif kind == 5:
        category = rng.choice(sorted(changed["categories"]))
        rule = changed["categories"][category]
        if rule["decision"] == "ALLOW":
            erin = cv.ERIN.public_key.hex()
            changed["categories"][category] = {
                "decision": "REVIEW",
                "reviewers": [erin],
                "threshold": 1,
            }
        elif rule["decision"] == "REVIEW" and rule["threshold"] < len(rule["reviewers"]):
            rule["threshold"] += 1
    elif kind == 6:
        sensitivity = rng.choice(["LOW", "MEDIUM"])
        changed["sensitivity_review"].setdefault(sensitivity, {"reviewers": [_BOB], "threshold": 1})
    elif kind == 7 and changed["models"]:
        model_id = rng.choice(changed["models"])
        changed["models"].remove(model_id)
        for by_role in changed["workspaces"].values():
            for entry in by_role.values():
                entry["models"] = [m for m in entry["models"] if m != model_id]
    return changed


@settings(max_examples=60)
@given(requests, st.randoms(use_true_random=False), st.integers(1, 4))
def test_allowing_less_never_turns_a_deny_into_a_grant(
    drawn: dict[str, Any], rng: random.Random, steps: int
) -> None:
    document = cv.governance_policy()
    restricted = document
    for _ in range(steps):
        restricted = _restrict(restricted, rng)
    GovernancePolicy.from_json(restricted)  # still a valid policy
    before = _decide_drawn(document, drawn)
    after = _decide_drawn(restricted, drawn)
    if isinstance(before, Deny):
        assert isinstance(after, Deny), (before, json.dumps(restricted)[:200])


@settings(max_examples=40)
@given(st.sampled_from(["network", "HIGH"]), st.randoms(use_true_random=False))
def test_k_minus_one_approvals_never_suffice(rule: str, rng: random.Random) -> None:
    document = cv.governance_policy()
    erin = cv.ERIN.public_key.hex()
    carol = cv.CAROL.public_key.hex()
    tools: tuple[str, ...]
    if rule == "HIGH":
        reviewers = sorted([_BOB, carol, erin])
        document["sensitivity_review"]["HIGH"] = {"reviewers": reviewers, "threshold": 3}
        m, tools = manifest(sensitivity="HIGH"), ("fs.read",)
        signers = [cv.BOB, cv.CAROL, cv.ERIN]
        k = 3
    else:
        m, tools = manifest(), ("fs.read", "web.fetch")
        signers = [cv.BOB, cv.CAROL]
        k = 2
    rng.shuffle(signers)
    # k-1 distinct reviewers, each approving any number of times, never suffice.
    approvals = [
        cv.approval_for(m, signer, at_ns=90 * SECOND + repeat)
        for signer in signers[: k - 1]
        for repeat in range(rng.randint(1, 3))
    ]
    rng.shuffle(approvals)
    hrc = cv.hrc_for(m, 99 * SECOND)
    request = cv.request_for(m, tools=tools)
    auth = authority(document)
    short = run(auth, m, request, approvals, hrc)
    assert isinstance(short, Deny) and short.reason == "APPROVALS_INSUFFICIENT"
    full = run(auth, m, request, [*approvals, cv.approval_for(m, signers[k - 1])], hrc)
    assert isinstance(full, Grant), full


@settings(max_examples=40)
@given(st.sampled_from(["LOW", "MEDIUM", "HIGH"]), st.text(min_size=1, max_size=8))
def test_an_approval_for_one_digest_never_approves_another(sensitivity: str, path: str) -> None:
    auth = authority()
    approved = manifest(sensitivity=sensitivity)
    other = cv._with(approved, "inputs", {"path": path})
    if other == approved:
        other = cv._with(approved, "inputs", {"path": path + "!"})
    tools = ("fs.read", "web.fetch")
    approvals = [cv.approval_for(approved, signer) for signer in (cv.BOB, cv.CAROL, cv.ERIN)]
    hrc = cv.hrc_for(other, 99 * SECOND)
    result = run(auth, other, cv.request_for(other, tools=tools), approvals, hrc)
    assert isinstance(result, Deny)
    assert result.reason == "APPROVAL_WRONG_MANIFEST"
    # The same approvals do approve the manifest they were given for.
    good = run(
        auth,
        approved,
        cv.request_for(approved, tools=tools),
        approvals,
        cv.hrc_for(approved, 99 * SECOND),
    )
    assert isinstance(good, Grant), good


def test_a_reviewer_denial_is_final_even_with_the_threshold_met() -> None:
    auth = authority()
    m = manifest()
    tools = ("fs.read", "web.fetch")
    approvals = [
        cv.approval_for(m, cv.BOB),
        cv.approval_for(m, cv.CAROL),
        cv.approval_for(m, cv.CAROL, "DENY", at_ns=10 * SECOND),  # old, still final
    ]
    result = run(auth, m, cv.request_for(m, tools=tools), approvals)
    assert isinstance(result, Deny)
    assert (result.code, result.reason, result.field) == (
        "POLICY_DENIED",
        "REVIEWER_DENIED",
        "approvals[2].verdict",
    )
    # A denial by a reviewer of no applicable rule changes nothing (erin reviews HIGH only).
    erin_denies = [*approvals[:2], cv.approval_for(m, cv.ERIN, "DENY")]
    assert isinstance(run(auth, m, cv.request_for(m, tools=tools), erin_denies), Grant)


def test_approvals_are_ignored_when_no_rule_applies() -> None:
    auth = authority()
    m = manifest()
    plain = run(auth, m, cv.request_for(m), None)
    junk = run(auth, m, cv.request_for(m), "not even an array")
    assert isinstance(plain, Grant) and plain == junk


# ---------------------------------------------------------------------------------- tampering


def _governed_grant() -> tuple[Grant, dict[str, Any], dict[str, str]]:
    m = manifest()
    grant = run(authority(), m, cv.request_for(m, tools=("fs.read",)))
    assert isinstance(grant, Grant)
    proof = sign_holder_proof(cv.HOLDER, grant.lease_id, bytes(range(32)))
    return grant, m, proof


def _verify(token_bytes: bytes, m: dict[str, Any], proof: object) -> str:
    try:
        verify_token(
            token_bytes,
            issuer_public_key=cv.ISSUER.public_key,
            task_id=m["task_id"],
            manifest_digest=digest_of(m),
            now=NOW,
            holder_proof=proof,
        )
    except InvalidLease as refused:
        return refused.deny.reason
    return "VALID"


def test_every_bit_flip_and_truncation_of_a_governed_token_is_refused() -> None:
    grant, m, proof = _governed_grant()
    assert _verify(grant.token, m, proof) == "VALID"
    token_bytes = bytearray(grant.token)
    for index in range(len(token_bytes)):
        for bit in range(8):
            token_bytes[index] ^= 1 << bit
            assert _verify(bytes(token_bytes), m, proof) != "VALID", (index, bit)
            token_bytes[index] ^= 1 << bit
    for length in range(len(grant.token)):
        assert _verify(grant.token[:length], m, proof) != "VALID", length
    assert _verify(grant.token + b"\x00", m, proof) == "TRAILING_BYTES"


def _resigned(protected: bytes, payload: bytes) -> bytes:
    signature = cv.ISSUER.sign(sig_structure(protected, payload))
    return cbor.encode(cbor.Tag(18, [protected, {}, payload, signature]))


def test_reencoded_governance_claims_are_refused() -> None:
    """The same logical claims in another encoding: BAD_SIGNATURE as sent, BAD_CLAIMS re-signed."""
    grant, m, proof = _governed_grant()
    outer = cbor2.loads(grant.token)
    protected, _, payload, _ = outer.value
    claim = cbor2.loads(payload)[-65547]
    key = cbor.encode(-65547)
    start = payload.index(key)
    head = payload[:start]
    # The governance map in alphabetical key order (not the bytewise order of §2.3).
    alphabetical = head + key + cbor2.dumps(dict(sorted(claim.items())))
    # The tools array with a non-shortest head (0x98 0x01 instead of 0x81).
    encoded_claim = cbor.encode(claim)
    tools_at = encoded_claim.index(cbor.encode("tools")) + len(cbor.encode("tools"))
    assert encoded_claim[tools_at] == 0x81
    long_head = encoded_claim[:tools_at] + b"\x98\x01" + encoded_claim[tools_at + 1 :]
    non_shortest = head + key + long_head
    # A governed token whose map head still says 14 claims.
    short_count = bytes([payload[0] - 1]) + payload[1:]
    for variant in (alphabetical, non_shortest, short_count):
        assert variant != payload
        assert cbor2.loads(variant) == cbor2.loads(payload) or variant is short_count
        sent = cbor.encode(cbor.Tag(18, [protected, {}, variant, outer.value[3]]))
        assert _verify(sent, m, proof) == "BAD_SIGNATURE"
        assert _verify(_resigned(protected, variant), m, proof) == "BAD_CLAIMS"


def test_governance_claims_cannot_move_between_tokens() -> None:
    """Claims of a governed token under an ungoverned token's signature, and the reverse."""
    governed, m, proof = _governed_grant()
    plain_authority = Authority(cv.ISSUER, LeasePolicy.from_json(cv.base_policy()))
    plain = decide(plain_authority, m, cv.base_snapshot(9500), NOW)
    assert isinstance(plain, Grant)
    g, p = cbor2.loads(governed.token).value, cbor2.loads(plain.token).value
    swapped = cbor.encode(cbor.Tag(18, [g[0], {}, p[2], g[3]]))
    assert _verify(swapped, m, proof) == "BAD_SIGNATURE"
    swapped = cbor.encode(cbor.Tag(18, [p[0], {}, g[2], p[3]]))
    assert _verify(swapped, m, proof) == "BAD_SIGNATURE"


# ---------------------------------------------------------------------------------- fields

# The field of each governed DENY vector, from the "field" columns of spec §13.7 and §13.8
# (the vectors' ``expected`` carries the message, which names the field only where the
# catalog's message has a {field}).
GOVERNED_DENY_FIELDS: dict[str, str] = {
    "request-missing": "$",
    "request-malformed": "request.request_version",
    "unknown-principal": "request.principal",
    "bad-request-signature": "request.signature",
    "request-wrong-manifest": "request.manifest_digest",
    "request-epoch": "request.requested_at.epoch",
    "request-from-future": "request.requested_at.ns",
    "request-too-old": "request.requested_at.ns",
    "workspace-not-allowed": "request.workspace",
    "capability-not-allowed": "capability_id",
    "capability-not-in-role": "capability_id",
    "model-not-allowed": "request.model",
    "model-not-in-role": "request.model",
    "tool-unknown": "request.tools[1]",
    "tool-category-denied": "request.tools[0]",
    "tool-not-in-role": "request.tools[0]",
    "approvals-missing": "categories.network",
    "approvals-malformed": "approvals[0].verdict",
    "approvals-not-array": "approvals",
    "approval-unknown-reviewer": "approvals[0].reviewer",
    "approval-bad-signature": "approvals[0].signature",
    "approval-wrong-manifest": "approvals[0].manifest_digest",
    "reviewer-denied": "approvals[1].verdict",
    "k-minus-one": "categories.network",
    "same-reviewer-twice": "categories.network",
    "approval-expired": "categories.network",
    "approval-from-future": "categories.network",
    "high-needs-review": "sensitivity_review.HIGH",
    "policy-before-window": "request.principal",
    "approvals-before-hrc": "sensitivity_review.HIGH",
}
_VECTOR_DIR = Path(__file__).resolve().parent.parent / "specs" / "vectors"


@pytest.mark.parametrize("name", sorted(GOVERNED_DENY_FIELDS))
def test_governed_denials_name_the_field_of_the_spec_table(name: str) -> None:
    vector = json.loads((_VECTOR_DIR / f"gov-deny-{name}.json").read_text(encoding="utf-8"))
    given = vector["input"]
    auth = Authority(
        Ed25519Signer(bytes.fromhex(given["authority"]["signing_seed"])),
        GovernancePolicy.from_json(given["authority"]["policy"]),
    )
    refused = decide(
        auth,
        given["manifest"],
        given["trust_snapshot"],
        MonotonicTime.from_json(given["now"]),
        given["hrc_token"],
        given["request"],
        given["approvals"],
    )
    assert isinstance(refused, Deny)
    assert (refused.code, refused.reason) == (
        vector["expected"]["code"],
        vector["expected"]["reason"],
    )
    assert refused.field == GOVERNED_DENY_FIELDS[name]


def test_every_governed_deny_vector_has_its_field_pinned() -> None:
    names = {
        path.name[len("gov-deny-") : -len(".json")] for path in _VECTOR_DIR.glob("gov-deny-*.json")
    }
    assert names == set(GOVERNED_DENY_FIELDS)
