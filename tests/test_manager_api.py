"""LeaseManager API contracts not covered by the lifecycle machine: batches and argument checks.

The kernel is the oracle here: a manager's decision must equal ``decide`` on the same clock
reading and snapshot, because the manager decides nothing itself (spec §12).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs
import pytest

from pda_lease import (
    Deny,
    Grant,
    InvalidLease,
    LeasePolicy,
    UsageError,
    decide,
    json_digest,
    sign_holder_proof,
)
from pda_lease.adapters import FakeClock, MemoryAuditLog, MemoryLeaseStore, MemoryTrustSource
from pda_lease.adapters.errors import StateError
from pda_lease.conformance import (
    EPOCH,
    HOLDER,
    ISSUER,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
)
from pda_lease.kernel.decide import Authority
from pda_lease.manager import MAX_REVOKE_BATCH, LeaseManager, UnknownLease
from pda_lease.replay import replay_file

POLICY = LeasePolicy.from_json(base_policy())


def memory_manager(clock: FakeClock | None = None) -> tuple[LeaseManager, MemoryLeaseStore]:
    store = MemoryLeaseStore()
    manager = LeaseManager(
        signer=ISSUER,
        policy=POLICY,
        clock=clock or FakeClock(EPOCH, 100 * SECOND),
        trust_source=MemoryTrustSource(base_snapshot()),
        store=store,
        audit=MemoryAuditLog(),
    )
    return manager, store


def manifests(count: int) -> list[dict[str, Any]]:
    batch = [dict(base_manifest(), task_id=f"task-{index}") for index in range(count)]
    batch.append(dict(base_manifest(), manifest_version=2))  # a DENY in the middle of the batch
    return batch


def count_fdatasync(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, every os.fdatasync call (it still happens) appends its descriptor here."""
    calls: list[int] = []
    real = os.fdatasync

    def counting(descriptor: int) -> None:
        calls.append(descriptor)
        real(descriptor)

    monkeypatch.setattr(os, "fdatasync", counting)
    return calls


def test_a_batch_decides_each_manifest_as_the_kernel_does() -> None:
    manager, store = memory_manager()
    batch = manifests(5)
    decisions = manager.acquire_many(batch)
    authority = Authority(ISSUER, POLICY)
    expected = [
        decide(authority, manifest, base_snapshot(), FakeClock(EPOCH, 100 * SECOND).now())
        for manifest in batch
    ]
    assert decisions == expected
    assert isinstance(decisions[-1], Deny) and decisions[-1].reason == "UNSUPPORTED_VERSION"
    granted = {d.lease_id for d in decisions if isinstance(d, Grant)}
    assert len(granted) == 5 and {lease.lease_id for lease in store.leases()} == granted


def test_a_batch_that_cannot_commit_grants_nothing() -> None:
    manager, store = memory_manager()
    store.fail_commit = True
    decisions = manager.acquire_many(manifests(3))
    assert all(
        isinstance(d, Deny) and (d.code, d.reason) == ("UNAVAILABLE", "STORE_UNAVAILABLE")
        for d in decisions
    )
    assert store.leases() == []
    records = manager.audit.records()  # type: ignore[attr-defined]
    voided = {r["lease_id"] for r in records if r["event"] == "grant_void"}
    recorded = {
        r["outcome"]["lease_id"]
        for r in records
        if r["event"] == "decision" and r["outcome"]["decision"] == "GRANT"
    }
    assert recorded and voided == recorded


def test_a_durable_batch_costs_one_audit_fdatasync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(EPOCH, 100 * SECOND)
    manager = LeaseManager.open(
        tmp_path,
        signer=ISSUER,
        policy=POLICY,
        clock=clock,
        trust_source=MemoryTrustSource(base_snapshot()),
    )
    calls = count_fdatasync(monkeypatch)
    with manager:
        decisions = manager.acquire_many(manifests(20))
        assert sum(isinstance(d, Grant) for d in decisions) == 20
        # One append holds the first use of the trust snapshot and all 21 decisions.
        assert len(calls) == 1
        manager.acquire(dict(base_manifest(), task_id="single"))
        assert len(calls) == 2  # and a single acquire costs one more


@pytest.mark.parametrize(
    ("manifests_arg", "tokens_arg"),
    [
        ("not a sequence of manifests", None),
        ({"a": 1}, None),
        ([base_manifest()], []),
        ([base_manifest()], "x"),
    ],
)
def test_batch_arguments_are_checked(manifests_arg: Any, tokens_arg: Any) -> None:
    manager, _ = memory_manager()
    with pytest.raises(UsageError):
        manager.acquire_many(manifests_arg, tokens_arg)


def test_an_empty_batch_records_nothing() -> None:
    manager, _ = memory_manager()
    before = len(manager.audit.records())  # type: ignore[attr-defined]
    assert manager.acquire_many([]) == []
    assert len(manager.audit.records()) == before  # type: ignore[attr-defined]


def test_a_closed_manager_refuses_every_operation() -> None:
    manager, _ = memory_manager()
    manager.close()
    manager.close()  # idempotent
    with pytest.raises(UsageError):
        manager.acquire(base_manifest())
    with pytest.raises(UsageError):
        manager.status()


def test_a_damaged_stored_token_ends_the_lease_without_crashing_anything() -> None:
    manager, store = memory_manager()
    manifest = base_manifest()
    grant = manager.acquire(manifest)
    assert isinstance(grant, Grant)
    record = store.lease(grant.lease_id)
    assert record is not None
    damaged = attrs.evolve(record, token=b"\x00" + record.token[1:])
    store._state.leases[grant.lease_id] = damaged  # what a flipped byte on disk would give
    [lease] = manager.status().leases
    assert (lease.state, lease.code, lease.reason) == ("ended", "UNAVAILABLE", "STORE_UNAVAILABLE")
    applied = manager.apply_trust_snapshot(dict(base_snapshot(0), sequence=8))
    assert applied.revoked == ()
    proof = sign_holder_proof(HOLDER, grant.lease_id, bytes(16))
    with pytest.raises(InvalidLease) as refused:
        manager.authorize(
            grant.token, proof, task_id=manifest["task_id"], manifest_digest=json_digest(manifest)
        )
    # Trust fell to 0, but the damaged record decides first: it is not the granted token.
    assert (refused.value.deny.code, refused.value.deny.reason) == (
        "INVALID_TOKEN",
        "UNKNOWN_LEASE",
    )


# ---------------------------------------------------------------------------------- revoke_many


def granted(manager: LeaseManager, count: int, prefix: str = "task") -> list[Grant]:
    batch = [dict(base_manifest(), task_id=f"{prefix}-{index}") for index in range(count)]
    decisions = manager.acquire_many(batch)
    grants = [d for d in decisions if isinstance(d, Grant)]
    assert len(grants) == count
    return grants


def audit_events(manager: LeaseManager) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = manager.audit.records()  # type: ignore[attr-defined]
    return records


def test_revoke_many_answers_each_id_as_revoke_calls_in_a_row_would() -> None:
    manager, store = memory_manager()
    first, second, third = (grant.lease_id for grant in granted(manager, 3))
    earlier = manager.revoke(second, "earlier")
    before = len(audit_events(manager))
    answers = manager.revoke_many([first, second.hex(), first, third], "batch")
    assert [a.lease_id for a in answers] == [first, second, first, third]
    assert [a.already_revoked for a in answers] == [False, True, True, False]
    assert answers[1] == attrs.evolve(earlier, already_revoked=True)  # the earlier reason
    assert answers[2] == attrs.evolve(answers[0], already_revoked=True)  # a repeat in the batch
    assert {(a.reason, a.cause) for a in (answers[0], answers[3])} == {("batch", "explicit")}
    assert answers[0].revoked_at == answers[3].revoked_at  # one clock reading
    new = audit_events(manager)[before:]
    assert [(r["event"], r["lease_id"]) for r in new] == [
        ("revocation", first.hex()),
        ("revocation", third.hex()),
    ]
    assert [a.audit_seq for a in (answers[0], answers[3])] == [r["seq"] for r in new]
    assert {r.lease_id for r in store.revocations.all()} == {first, second, third}


def test_revoke_is_revoke_many_of_one() -> None:
    manager, _ = memory_manager()
    [grant] = granted(manager, 1)
    [batch] = manager.revoke_many([grant.lease_id], "once")
    assert manager.revoke(grant.lease_id, "twice") == attrs.evolve(batch, already_revoked=True)


def test_revoke_many_with_an_unknown_id_revokes_nothing() -> None:
    manager, store = memory_manager()
    grants = granted(manager, 2)
    before = len(audit_events(manager))
    with pytest.raises(UnknownLease):
        manager.revoke_many([grants[0].lease_id, bytes(16), grants[1].lease_id], "batch")
    assert store.revocations.all() == []
    assert len(audit_events(manager)) == before


def test_an_empty_revoke_many_records_nothing() -> None:
    manager, _ = memory_manager()
    before = len(audit_events(manager))
    assert manager.revoke_many([], "nothing") == []
    assert len(audit_events(manager)) == before


@pytest.mark.parametrize(
    ("lease_ids", "reason"),
    [
        ("00" * 16, "a str is not a sequence of ids"),
        (bytes(16), "bytes are not a sequence of ids"),
        ({bytes(16)}, "a set is not a sequence"),
        (["not hex"], "bad id"),
        ([bytes(15)], "short id"),
        ([bytes(16)], ""),
        ([bytes(16)], "control\ncharacter"),
        ([bytes(16)] * (MAX_REVOKE_BATCH + 1), "too many"),
    ],
)
def test_revoke_many_arguments_are_checked(lease_ids: Any, reason: str) -> None:
    manager, _ = memory_manager()
    with pytest.raises(UsageError) as refused:
        manager.revoke_many(lease_ids, reason)
    assert not isinstance(refused.value, UnknownLease)


def test_a_full_revoke_many_batch_is_accepted() -> None:
    manager, store = memory_manager()
    grants = granted(manager, 50)
    ids = [grants[index % 50].lease_id for index in range(MAX_REVOKE_BATCH)]
    answers = manager.revoke_many(ids, "bounded")
    assert len(answers) == MAX_REVOKE_BATCH
    assert sum(not answer.already_revoked for answer in answers) == 50
    assert len(store.revocations.all()) == 50


def test_a_revoke_many_that_cannot_commit_is_rolled_forward_whole() -> None:
    manager, store = memory_manager()
    grants = granted(manager, 3)
    store.fail_commit = True
    with pytest.raises(StateError):
        manager.revoke_many([grant.lease_id for grant in grants], "in doubt")
    assert store.revocations.all() == []
    # Its audit entries were written: the next transaction settles them by revoking (§12.4).
    manager.acquire(dict(base_manifest(), task_id="next"))
    assert {r.lease_id for r in store.revocations.all()} == {g.lease_id for g in grants}
    recovered = [r for r in audit_events(manager) if r["event"] == "revocation_recovered"]
    assert len(recovered) == 3


def test_revoke_many_is_durable_audited_and_replayable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def open_state() -> LeaseManager:
        return LeaseManager.open(
            tmp_path,
            signer=ISSUER,
            policy=POLICY,
            clock=FakeClock(EPOCH, 100 * SECOND),
            trust_source=MemoryTrustSource(base_snapshot()),
        )

    batch = [dict(base_manifest(), task_id=f"durable-{index}") for index in range(40)]
    with open_state() as manager:
        grants = [d for d in manager.acquire_many(batch) if isinstance(d, Grant)]
        assert len(grants) == len(batch)
        calls = count_fdatasync(monkeypatch)
        revoked = manager.revoke_many([grant.lease_id for grant in grants[:30]], "retired")
        assert len(calls) == 1  # one audit append for the whole batch
        monkeypatch.undo()
        assert not any(answer.already_revoked for answer in revoked)
    with open_state() as manager:
        for index, (document, grant) in enumerate(zip(batch, grants, strict=True)):
            proof = sign_holder_proof(HOLDER, grant.lease_id, os.urandom(16))
            arguments = {"task_id": document["task_id"], "manifest_digest": json_digest(document)}
            if index >= 30:
                assert manager.authorize(grant.token, proof, **arguments).lease_id == grant.lease_id
                continue
            with pytest.raises(InvalidLease) as refused:
                manager.authorize(grant.token, proof, **arguments)
            assert (refused.value.deny.code, refused.value.deny.reason) == (
                "LEASE_REVOKED",
                "REVOKED",
            )
        assert manager.verify_audit().ok
        again = manager.revoke_many([grant.lease_id for grant in grants[:30]], "again")
        assert again == [attrs.evolve(answer, already_revoked=True) for answer in revoked]
    report = replay_file(tmp_path / "audit.jsonl", workers=1)
    assert report.ok, report.to_json()
    assert report.decisions == len(batch) and report.events["revocation"] == 30
