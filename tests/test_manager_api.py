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
from pda_lease.manager import LeaseManager

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
    calls: list[int] = []
    real = os.fdatasync

    def counting(descriptor: int) -> None:
        calls.append(descriptor)
        real(descriptor)

    monkeypatch.setattr(os, "fdatasync", counting)
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
