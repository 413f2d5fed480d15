"""The pooled manager (spec §14.6-§14.8): reservations, settlements, release, sub-leases.

The kernel is the oracle for every decision (tests/test_pools_reference.py checks it against
the reference model); what is checked here is what the manager adds: the usage snapshot it
builds and records, reservations written with their grants, settlements at expiry, revocation
and release (exactly once), the release receipt, sub-leases' standing and calls, denials the
safety rules may count, recovery of in-doubt entries, and replay of the whole log.
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pda_lease import Deny, Grant, InvalidLease, LeasePolicy, json_digest, sign_holder_proof
from pda_lease import conformance as cv
from pda_lease.adapters import (
    FakeCalendar,
    FakeClock,
    MemoryAuditLog,
    MemoryLeaseStore,
    MemoryTrustSource,
    StateError,
)
from pda_lease.kernel.crypto import Ed25519Signer
from pda_lease.kernel.decide import Authority, decide
from pda_lease.kernel.governance import GovernancePolicy
from pda_lease.kernel.inputs import MonotonicTime
from pda_lease.manager import AUDIT_FILE, LeaseManager, ReleaseRejected, ReleaseRejection
from pda_lease.release import (
    ReleaseReceiptError,
    ReleaseReceiptFailure,
    Usage,
    release_signed_bytes,
    verify_release_receipt,
)
from pda_lease.replay import replay_file

SECOND = cv.SECOND
DEMAND = {"units": 10, "context_tokens": 5, "compute": 1, "spend_cents": 50}
ZERO = {"units": 0, "spend_cents": 0}


def policy_document(**org: int | None) -> dict[str, Any]:
    document = cv.pools_policy()
    document["pools"]["org"].update(org)
    return document


class Rig:
    """A pooled governed manager over in-memory fakes, and helpers to drive it."""

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.policy = GovernancePolicy.from_json(document or cv.pools_policy())
        self.clock = FakeClock(cv.EPOCH, 100 * SECOND)
        self.calendar = FakeCalendar()
        self.trust = MemoryTrustSource(cv.base_snapshot(9500))
        self.store = MemoryLeaseStore()
        self.audit = MemoryAuditLog()
        self.challenges = 0
        self.manager = self.open()

    def open(self) -> LeaseManager:
        return LeaseManager(
            signer=cv.ISSUER,
            policy=self.policy,
            clock=self.clock,
            trust_source=self.trust,
            store=self.store,
            audit=self.audit,
            calendar=self.calendar,
        )

    def manifest(self, task: str, not_after_s: int = 10**6) -> dict[str, Any]:
        manifest = cv.base_manifest()
        manifest["task_id"] = task
        manifest["window"]["not_after_ns"] = not_after_s * SECOND
        return manifest

    def request(self, manifest: dict[str, Any], **changes: Any) -> dict[str, object]:
        options: dict[str, Any] = {"demand": DEMAND, "at_ns": self.clock.now().ns}
        options.update(changes)
        return cv.request_for(manifest, **options)

    def acquire(self, task: str, **changes: Any) -> Grant | Deny:
        manifest = self.manifest(task)
        return self.manager.acquire(manifest, None, self.request(manifest, **changes))

    def grant(self, task: str, **changes: Any) -> Grant:
        decision = self.acquire(task, **changes)
        assert isinstance(decision, Grant), decision
        return decision

    def proof(self, lease_id: bytes, signer: Ed25519Signer = cv.HOLDER) -> dict[str, str]:
        self.challenges += 1
        return sign_holder_proof(signer, lease_id, self.challenges.to_bytes(32, "big"))

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.lines]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["event"] == name]


def scope(manager: LeaseManager, path: str) -> dict[str, Any]:
    (found,) = [s for s in manager.pools().to_json()["scopes"] if s["scope"] == path]  # type: ignore[attr-defined]
    pools: dict[str, Any] = found["pools"]
    return pools


# ------------------------------------------------------------------------------ acquire


def test_a_pooled_decision_records_the_usage_the_kernel_judged() -> None:
    rig = Rig()
    first = rig.grant("t-1")
    second = rig.grant("t-2")
    decisions = rig.events("decision")
    assert [d["day"] for d in decisions] == [20426, 20426]
    usage_first = decisions[0]["usage"]["json"]
    usage_second = decisions[1]["usage"]["json"]
    assert usage_first["reservations"] == []
    (reserved,) = usage_second["reservations"]
    assert reserved["lease_id"] == first.lease_id.hex()
    assert (reserved["open"], reserved["units"], reserved["spend_cents"]) == (True, 10, 50)
    # The kernel, given exactly the recorded inputs, decides exactly the same.
    manifest = rig.manifest("t-2")
    authority = Authority(cv.ISSUER, rig.policy)
    again = decide(
        authority,
        manifest,
        cv.base_snapshot(9500),
        rig.clock.now(),
        None,
        decisions[1]["request"]["json"],
        None,
        usage_second,
    )
    assert again == second
    assert replay_file_ok(rig)


def replay_file_ok(rig: Rig, tmp: Path | None = None) -> bool:
    """Replay needs a file: write the memory log out and replay it."""
    directory = Path(os.environ.get("TMPDIR", "/tmp")) if tmp is None else tmp
    path = directory / f"pools-replay-{os.getpid()}-{id(rig)}.jsonl"
    path.write_bytes(
        b"".join(line if line.endswith(b"\n") else line + b"\n" for line in rig.audit.lines)
    )
    try:
        report = replay_file(path, workers=1)
    finally:
        path.unlink()
    return report.ok


def test_a_batch_counts_its_own_grants() -> None:
    rig = Rig(policy_document(concurrency=1))
    manifests = [rig.manifest(f"b-{i}") for i in range(3)]
    requests = [rig.request(m) for m in manifests]
    decisions = rig.manager.acquire_many(manifests, None, requests)
    assert isinstance(decisions[0], Grant)
    for refused in decisions[1:]:
        assert isinstance(refused, Deny)
        assert (refused.reason, refused.field) == ("CONCURRENCY_EXCEEDED", "pools.org.concurrency")
        assert refused.retry is not None and refused.retry.ns == decisions[0].claims.expires_at_ns
    assert scope(rig.manager, "pools.org")["concurrency"] == {"used": 1, "limit": 1}


@pytest.mark.parametrize(
    ("limits", "demand", "reason"),
    [
        ({"concurrency": 1}, DEMAND, "CONCURRENCY_EXCEEDED"),
        ({"compute": 1}, DEMAND, "COMPUTE_EXCEEDED"),
        ({"requests": 1}, DEMAND, "REQUESTS_EXCEEDED"),
        ({"units": 15}, DEMAND, "UNITS_EXCEEDED"),
        ({"spend_cents": 60}, DEMAND, "SPEND_EXCEEDED"),
        ({"context_tokens": 4}, DEMAND, "CONTEXT_TOO_LARGE"),
    ],
)
def test_each_pool_denies_through_the_manager(
    limits: dict[str, int], demand: dict[str, int], reason: str
) -> None:
    rig = Rig(policy_document(**limits))
    if reason != "CONTEXT_TOO_LARGE":
        rig.grant("first", demand=demand)
    refused = rig.acquire("second", demand=demand)
    assert isinstance(refused, Deny)
    assert (refused.code, refused.reason) == ("QUOTA_EXCEEDED", reason)
    recorded = rig.events("decision")[-1]["outcome"]
    assert recorded["reason"] == reason and "retry" in recorded


def test_a_calendar_that_fails_is_unavailable_and_grants_nothing() -> None:
    rig = Rig()
    rig.calendar.available = False
    refused = rig.acquire("t-1")
    assert isinstance(refused, Deny)
    assert (refused.code, refused.reason) == ("UNAVAILABLE", "CLOCK_UNAVAILABLE")
    assert rig.store.usage_reservations(cv.EPOCH, 0, 20426) == []
    assert rig.manager.store.leases() == []


# ------------------------------------------------------------------------------ safety


def test_denials_count_for_cooldown_only_when_the_request_was_authenticated() -> None:
    rig = Rig()
    manifest = rig.manifest("x")
    forged = rig.request(manifest)
    forged["signature"] = "00" * 64
    for _ in range(5):  # the cooldown needs 3: forged requests name alice but prove nothing
        refused = rig.manager.acquire(manifest, None, forged)
        assert isinstance(refused, Deny) and refused.reason == "BAD_REQUEST_SIGNATURE"
    assert rig.store.recent_denials(cv.EPOCH, 0) == []
    assert isinstance(rig.acquire("fine"), Grant)
    # Authenticated denials (alice asks for a model her role lacks) do count.
    for index in range(3):
        refused = rig.acquire(f"bad-{index}", model="local-large")
        assert isinstance(refused, Deny) and refused.reason == "MODEL_NOT_IN_ROLE"
    cooled = rig.acquire("later")
    assert isinstance(cooled, Deny) and cooled.reason == "PRINCIPAL_COOLDOWN"
    assert cooled.retry is not None and cooled.retry.ns == rig.clock.now().ns + 20 * SECOND
    # A quota denial is not itself counted: after the hold the principal may ask again.
    rig.clock.advance(20 * SECOND)
    assert isinstance(rig.acquire("after", at_ns=rig.clock.now().ns), Grant)


def test_a_spend_spike_clamps_the_next_grant_and_the_audit_says_so() -> None:
    rig = Rig()
    rig.grant("big", demand={**DEMAND, "spend_cents": 200})
    clamped = rig.grant("next", demand={**DEMAND, "spend_cents": 1})
    assert clamped.clamped
    assert clamped.claims.expires_at_ns == rig.clock.now().ns + 5 * SECOND
    assert rig.events("decision")[-1]["outcome"]["clamped"] is True


# ------------------------------------------------------------------------------ settlement


def settlements(rig: Rig) -> Counter[str]:
    return Counter(r["lease_id"] for r in rig.events("settlement"))


def test_an_expired_lease_is_settled_at_its_reservation_once() -> None:
    rig = Rig()
    grant = rig.grant("short")
    rig.clock.advance(400 * SECOND)  # past the LOW lease duration (300 s)
    rig.grant("later")
    rig.grant("again")
    (settled,) = rig.events("settlement")
    assert settled["lease_id"] == grant.lease_id.hex()
    assert (settled["why"], settled["settled"]) == ("EXPIRED", {"units": 10, "spend_cents": 50})
    record = rig.store.reservation(grant.lease_id)
    assert record is not None and (record.state, record.settled_cents) == ("expired", 50)


def test_a_reboot_settles_the_old_epochs_leases() -> None:
    rig = Rig()
    grant = rig.grant("before")
    rig.clock.reboot("boot-2", 5 * SECOND)
    manifest = rig.manifest("after")
    manifest["window"]["epoch"] = "boot-2"
    rig.manager.acquire(manifest, None, rig.request(manifest, epoch="boot-2"))
    assert [(s["lease_id"], s["why"]) for s in rig.events("settlement")] == [
        (grant.lease_id.hex(), "EXPIRED")
    ]


def test_revocation_settles_at_the_reservation_and_release_is_then_refused() -> None:
    rig = Rig()
    grant = rig.grant("t")
    rig.manager.revoke(grant.lease_id, "stop")
    (settled,) = rig.events("settlement")
    assert (settled["why"], settled["settled"]["spend_cents"]) == ("REVOKED", 50)
    with pytest.raises(ReleaseRejected) as caught:
        rig.manager.release(grant.lease_id, ZERO, rig.proof(grant.lease_id))
    assert caught.value.reason is ReleaseRejection.REVOKED
    rig.manager.revoke(grant.lease_id, "again")  # a second revocation settles nothing more
    assert settlements(rig) == Counter({grant.lease_id.hex(): 1})


# ------------------------------------------------------------------------------ release


def test_release_settles_the_measured_usage_and_its_receipt_verifies() -> None:
    rig = Rig()
    grant = rig.grant("t")
    receipt = rig.manager.release(
        grant.lease_id, {"units": 7, "spend_cents": 20}, rig.proof(grant.lease_id)
    )
    verified = verify_release_receipt(receipt.to_json(), rig.manager.log_verifier())
    assert verified.checkpoint.size > receipt.audit_seq
    assert receipt.reserved is not None and receipt.reserved.to_json() == {
        "units": 10,
        "spend_cents": 50,
    }
    assert (receipt.settled.units, receipt.settled.spend_cents, receipt.overrun) == (7, 20, False)
    assert receipt.policy_digest == rig.policy.digest
    (release,) = rig.events("release")
    assert release["seq"] == receipt.audit_seq
    (settled,) = rig.events("settlement")
    assert (settled["why"], settled["settled"]) == ("RELEASED", {"units": 7, "spend_cents": 20})
    assert scope(rig.manager, "pools.org")["concurrency"]["used"] == 0
    assert scope(rig.manager, "pools.org")["spend_cents"]["used"] == 20
    with pytest.raises(InvalidLease) as refused:
        rig.manager.authorize(
            grant.token,
            rig.proof(grant.lease_id),
            task_id="t",
            manifest_digest=grant.claims.manifest_digest,
        )
    assert (refused.value.deny.code, refused.value.deny.reason) == ("LEASE_REVOKED", "RELEASED")
    assert replay_file_ok(rig)


def test_an_overrun_is_recorded_as_spent_never_capped() -> None:
    rig = Rig()
    grant = rig.grant("t")
    receipt = rig.manager.release(
        grant.lease_id, {"units": 10, "spend_cents": 80}, rig.proof(grant.lease_id)
    )
    assert receipt.overrun
    assert scope(rig.manager, "pools.workspaces.research")["spend_cents"]["used"] == 80


def test_an_ungoverned_lease_can_be_released_too() -> None:
    store, audit = MemoryLeaseStore(), MemoryAuditLog()
    manager = LeaseManager(
        signer=cv.ISSUER,
        policy=LeasePolicy.from_json(cv.base_policy()),
        clock=FakeClock(cv.EPOCH, 100 * SECOND),
        trust_source=MemoryTrustSource(cv.base_snapshot()),
        store=store,
        audit=audit,
    )
    grant = manager.acquire(cv.base_manifest())
    assert isinstance(grant, Grant)
    proof = sign_holder_proof(cv.HOLDER, grant.lease_id, bytes(32))
    receipt = manager.release(grant.lease_id, ZERO, proof)
    assert receipt.reserved is None and not receipt.overrun
    assert verify_release_receipt(receipt.to_json(), manager.log_verifier())


def _rejection(rig: Rig, lease_id: bytes | str, usage: object, proof: object) -> str:
    before = len(rig.audit.lines)
    with pytest.raises(ReleaseRejected) as caught:
        rig.manager.release(lease_id, usage, proof)
    assert len(rig.audit.lines) == before, "a refused release records nothing"
    return str(caught.value.reason)


def test_each_release_refusal() -> None:
    rig = Rig()
    grant = rig.grant("t")
    lease = grant.lease_id
    assert _rejection(rig, bytes(16), ZERO, rig.proof(bytes(16))) == "UNKNOWN_LEASE"
    for usage in (
        None,
        {"units": 1},
        {"units": 1.0, "spend_cents": 0},
        {"units": True, "spend_cents": 0},
        {"units": -1, "spend_cents": 0},
        {"units": 0, "spend_cents": 1 << 53},
        {"units": 0, "spend_cents": 0, "extra": 1},
    ):
        assert _rejection(rig, lease, usage, rig.proof(lease)) == "BAD_USAGE"
    for proof in (None, {}, {"challenge": "00", "signature": "00"}, rig.proof(lease, cv.ALICE)):
        assert _rejection(rig, lease, ZERO, proof) == "HOLDER_PROOF_INVALID"
    used = rig.proof(lease)
    rig.manager.authorize(
        grant.token, used, task_id="t", manifest_digest=grant.claims.manifest_digest
    )
    assert _rejection(rig, lease, ZERO, used) == "HOLDER_PROOF_REPLAYED"
    rig.manager.release(lease, ZERO, rig.proof(lease))
    assert _rejection(rig, lease, ZERO, rig.proof(lease)) == "ALREADY_RELEASED"
    late = rig.grant("late")
    rig.clock.advance(400 * SECOND)
    assert _rejection(rig, late.lease_id, ZERO, rig.proof(late.lease_id)) == "EXPIRED"


def test_a_tampered_release_receipt_is_refused() -> None:
    rig = Rig()
    grant = rig.grant("t")
    document = rig.manager.release(grant.lease_id, ZERO, rig.proof(grant.lease_id)).to_json()
    verifier = rig.manager.log_verifier()
    for name, value in (
        ("settled", {"units": 0, "spend_cents": 1}),
        ("overrun", True),
        ("audit_seq", 0),
        ("lease_id", "00" * 16),
    ):
        changed = {**document, name: value}
        with pytest.raises(ReleaseReceiptError) as caught:
            verify_release_receipt(changed, verifier)
        assert caught.value.reason is ReleaseReceiptFailure.BAD_SIGNATURE, name
    for broken in ({**document, "extra": 1}, {**document, "overrun": "no"}, [document]):
        with pytest.raises(ReleaseReceiptError) as caught:
            verify_release_receipt(broken, verifier)
        assert caught.value.reason is ReleaseReceiptFailure.MALFORMED
    # Signed by the issuer but naming an entry its checkpoint does not cover.
    beyond = copy.deepcopy(document)
    beyond["audit_seq"] = 10**6
    signed = release_signed_bytes(
        grant.lease_id,
        rig.policy.digest,
        MonotonicTime.from_json(document["released_at"]),
        Usage(10, 50),
        Usage(0, 0),
        False,
        10**6,
        str(document["checkpoint"]),
    )
    beyond["signature"] = cv.ISSUER.sign(signed).hex()
    with pytest.raises(ReleaseReceiptError) as caught:
        verify_release_receipt(beyond, verifier)
    assert caught.value.reason is ReleaseReceiptFailure.BAD_CHECKPOINT


# ------------------------------------------------------------------------------ sub-leases


def test_a_sub_lease_lives_within_its_parent_and_counts_its_calls() -> None:
    rig = Rig()
    parent = rig.grant("p", tools=("fs.read",))
    tool_key = Ed25519Signer(bytes(range(32)))
    child = rig.manager.derive_sub_lease(
        parent.token,
        rig.proof(parent.lease_id),
        tool="fs.read",
        calls=2,
        ttl_ns=10 * SECOND,
        holder_public_key=tool_key.public_key,
    )
    assert isinstance(child, Grant)
    assert child.claims.parent is not None and child.claims.parent.lease_id == parent.lease_id
    assert child.claims.expires_at_ns <= parent.claims.expires_at_ns
    assert child.claims.holder_public_key == tool_key.public_key
    digest = parent.claims.manifest_digest
    for _ in range(2):
        rig.manager.authorize(
            child.token, rig.proof(child.lease_id, tool_key), task_id="p", manifest_digest=digest
        )
    with pytest.raises(InvalidLease) as exhausted:
        rig.manager.authorize(
            child.token, rig.proof(child.lease_id, tool_key), task_id="p", manifest_digest=digest
        )
    assert exhausted.value.deny.reason == "CALLS_EXHAUSTED"
    # Sub-leases take nothing from the pools: the parent's reservation covers them.
    assert scope(rig.manager, "pools.org")["concurrency"]["used"] == 1
    assert replay_file_ok(rig)


@pytest.mark.parametrize("ending", ["revoke", "release", "expire"])
def test_ending_the_parent_ends_every_child(ending: str) -> None:
    rig = Rig()
    parent = rig.grant("p")
    child = rig.manager.derive_sub_lease(
        parent.token, rig.proof(parent.lease_id), tool="fs.read", calls=5, ttl_ns=10**15
    )
    assert isinstance(child, Grant)
    if ending == "revoke":
        rig.manager.revoke(parent.lease_id, "end")
        reason = "PARENT_ENDED"
    elif ending == "release":
        rig.manager.release(parent.lease_id, ZERO, rig.proof(parent.lease_id))
        reason = "PARENT_ENDED"
    else:
        rig.clock.advance(400 * SECOND)
        reason = "EXPIRED"  # the child never outlives the parent: its own expiry comes first
    with pytest.raises(InvalidLease) as refused:
        rig.manager.authorize(
            child.token,
            rig.proof(child.lease_id),
            task_id="p",
            manifest_digest=parent.claims.manifest_digest,
        )
    assert refused.value.deny.reason == reason


def test_sub_lease_refusals_through_the_manager() -> None:
    rig = Rig()
    parent = rig.grant("p")
    proof = rig.proof(parent.lease_id)

    def derive(token: bytes, holder_proof: object, **options: Any) -> Deny:
        arguments: dict[str, Any] = {"tool": "fs.read", "calls": 1, "ttl_ns": SECOND}
        arguments.update(options)
        decision = rig.manager.derive_sub_lease(token, holder_proof, **arguments)
        assert isinstance(decision, Deny)
        return decision

    assert derive(parent.token[:-1] + b"\x00", proof).reason == "UNKNOWN_LEASE"
    assert derive(parent.token, rig.proof(parent.lease_id, cv.ALICE)).reason == (
        "HOLDER_PROOF_INVALID"
    )
    assert derive(parent.token, proof, tool="web.fetch").reason == "TOOL_NOT_IN_PARENT"
    assert derive(parent.token, rig.proof(parent.lease_id), calls=0).reason == "BAD_CALLS"
    assert derive(parent.token, rig.proof(parent.lease_id), holder_public_key="zz").reason == (
        "BAD_HOLDER_KEY"
    )
    child = rig.manager.derive_sub_lease(
        parent.token, rig.proof(parent.lease_id), tool="fs.read", calls=1, ttl_ns=SECOND
    )
    assert isinstance(child, Grant)
    assert derive(child.token, rig.proof(child.lease_id)).reason == "PARENT_IS_SUBLEASE"
    used = rig.proof(parent.lease_id)
    assert isinstance(
        rig.manager.derive_sub_lease(parent.token, used, tool="fs.read", calls=1, ttl_ns=2),
        Grant,
    )
    assert derive(parent.token, used).reason == "HOLDER_PROOF_REPLAYED"
    # Every attempt is audited, granted or not; replay re-runs those the kernel judged.
    entries = rig.events("sub_lease")
    assert len(entries) == 9
    assert [e["judged_by"] for e in entries].count("kernel") == 6
    assert replay_file_ok(rig)


# ------------------------------------------------------------------------------ recovery


def test_an_in_doubt_release_is_rolled_forward_and_settled_once() -> None:
    rig = Rig()
    grant = rig.grant("t")
    rig.store.fail_commit = True
    with pytest.raises(StateError):
        rig.manager.release(
            grant.lease_id, {"units": 3, "spend_cents": 9}, rig.proof(grant.lease_id)
        )
    assert rig.store.release(grant.lease_id) is None  # not committed
    rig.grant("next")  # the next transaction settles what is in doubt
    assert rig.store.release(grant.lease_id) is not None
    record = rig.store.reservation(grant.lease_id)
    assert record is not None and (record.state, record.settled_cents) == ("released", 9)
    assert settlements(rig)[grant.lease_id.hex()] == 1
    assert [r["event"] for r in rig.records()].count("release_recovered") == 1


def test_an_in_doubt_pooled_grant_reserves_nothing() -> None:
    rig = Rig(policy_document(concurrency=1))
    rig.store.fail_commit = True
    refused = rig.acquire("lost")
    assert isinstance(refused, Deny) and refused.reason == "STORE_UNAVAILABLE"
    assert isinstance(rig.acquire("kept"), Grant)  # the lost grant holds no concurrency
    assert [r["why"] for r in rig.events("grant_void")] == ["STORE_UNAVAILABLE"]


def test_reopening_a_state_directory_keeps_the_accounting(tmp_path: Path) -> None:
    clock = FakeClock(cv.EPOCH, 100 * SECOND)
    policy = GovernancePolicy.from_json(cv.pools_policy())

    def open_manager() -> LeaseManager:
        return LeaseManager.open(
            tmp_path,
            signer=cv.ISSUER,
            policy=policy,
            clock=clock,
            trust_source=MemoryTrustSource(cv.base_snapshot(9500)),
            calendar=FakeCalendar(),
        )

    manifest = cv.base_manifest()
    with open_manager() as manager:
        request = cv.request_for(manifest, demand=DEMAND, at_ns=clock.now().ns)
        grant = manager.acquire(manifest, None, request)
        assert isinstance(grant, Grant)
    with open_manager() as manager:
        assert scope(manager, "pools.org")["concurrency"]["used"] == 1
        manager.release(
            grant.lease_id, ZERO, sign_holder_proof(cv.HOLDER, grant.lease_id, bytes(32))
        )
    with open_manager() as manager:
        assert scope(manager, "pools.org")["concurrency"]["used"] == 0
        assert scope(manager, "pools.org")["spend_cents"]["used"] == 0
    report = replay_file(tmp_path / AUDIT_FILE, workers=1)
    assert report.ok and report.decisions_replayed == 1
    assert json_digest(manifest) == grant.claims.manifest_digest


def test_a_version_3_database_migrates_to_the_pool_tables(tmp_path: Path) -> None:
    import sqlite3  # noqa: PLC0415 - only this test builds an old database by hand

    from pda_lease.adapters.store import (  # noqa: PLC0415
        MIGRATIONS,
        SCHEMA_VERSION,
        ReservationRecord,
        SqliteLeaseStore,
    )

    path = tmp_path / "leases.db"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for migration in MIGRATIONS[:3]:
            connection.executescript(migration)
        connection.execute("PRAGMA user_version = 3")
        connection.execute(
            "INSERT INTO leases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (b"\x05" * 16, "task-old", "files.read", b"\x00" * 32, "epoch-a", 1, 99, b"tok", 3),
        )
    finally:
        connection.close()
    assert SCHEMA_VERSION == 4
    store = SqliteLeaseStore(path)
    try:
        assert store.schema_version == 4
        assert store.lease(b"\x05" * 16) is not None
        record = ReservationRecord(
            b"\x05" * 16, b"\x01" * 32, "research", "e", 1, 99, 7, 1, 2, 3, 4, "open", None, None, 9
        )
        with store.write():
            store.insert_reservation(record)
            assert store.settle_reservation(b"\x05" * 16, "released", 1, 2)
            assert not store.settle_reservation(b"\x05" * 16, "expired", 1, 4)
        settled = store.reservation(b"\x05" * 16)
        assert settled == attrs_evolve(record, state="released", settled_units=1, settled_cents=2)
        assert store.usage_reservations("e", 0, 7) == [settled]
        assert store.ended_reservations("e", 1000) == []
    finally:
        store.close()


def attrs_evolve(record: Any, **changes: Any) -> Any:
    import attrs  # noqa: PLC0415

    return attrs.evolve(record, **changes)
