"""The durable manager under a governance policy (spec §13.3, §13.6, §12).

The kernel is the oracle for decisions (the manager decides nothing itself); what is checked
here is what the manager adds: the governed inputs are recorded for replay, standing follows
the governance policy, and a state directory, once governed, cannot be reopened ungoverned or
under an older or a different same-version policy (fail closed, no rollback).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pda_lease import Deny, Grant, LeasePolicy, UsageError, sign_holder_proof
from pda_lease import conformance as cv
from pda_lease.adapters import FakeClock, MemoryTrustSource
from pda_lease.adapters.errors import StateError
from pda_lease.kernel.decide import Authority, decide
from pda_lease.kernel.errors import InvalidLease, PolicyError
from pda_lease.kernel.governance import GovernancePolicy
from pda_lease.kernel.inputs import MonotonicTime, json_digest
from pda_lease.manager import AUDIT_FILE, DATABASE_FILE, GOVERNANCE_FLOOR_KEY, LeaseManager
from pda_lease.replay import replay_file

SECOND = cv.SECOND
V1 = GovernancePolicy.from_json(cv.governance_policy(1))
V2 = GovernancePolicy.from_json(cv.governance_policy(2))


def open_manager(state: Path, policy: LeasePolicy | GovernancePolicy) -> LeaseManager:
    return LeaseManager.open(
        state,
        signer=cv.ISSUER,
        policy=policy,
        clock=FakeClock(cv.EPOCH, 100 * SECOND),
        trust_source=MemoryTrustSource(cv.base_snapshot(9500)),
    )


def audit_records(state: Path) -> list[dict[str, Any]]:
    lines = (state / AUDIT_FILE).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_governed_acquire_equals_the_kernel_and_is_recorded_for_replay(tmp_path: Path) -> None:
    m = cv.base_manifest()
    web = ("fs.read", "web.fetch")
    request = cv.request_for(m, tools=web)
    approvals = [cv.approval_for(m, cv.BOB), cv.approval_for(m, cv.CAROL)]
    with open_manager(tmp_path, V1) as manager:
        granted = manager.acquire(m, None, request, approvals)
        refused = manager.acquire(m, None, request, approvals[:1])
        missing = manager.acquire(m)
    now = MonotonicTime(cv.EPOCH, 100 * SECOND)
    authority = Authority(cv.ISSUER, V1)
    snapshot = cv.base_snapshot(9500)
    assert granted == decide(authority, m, snapshot, now, None, request, approvals)
    assert isinstance(granted, Grant)
    assert isinstance(refused, Deny) and refused.reason == "APPROVALS_INSUFFICIENT"
    assert isinstance(missing, Deny) and missing.reason == "REQUEST_MISSING"
    records = audit_records(tmp_path)
    authority_entries = [r for r in records if r["event"] == "authority"]
    assert authority_entries[-1]["policy"] == cv.governance_policy(1)
    assert authority_entries[-1]["policy_digest"] == V1.digest.hex()
    decisions = [r for r in records if r["event"] == "decision"]
    assert [d["request"] for d in decisions] == [{"json": request}, {"json": request}, None]
    assert decisions[0]["approvals"] == {"json": approvals}
    assert all(d["policy_digest"] == V1.digest.hex() for d in decisions)
    report = replay_file(tmp_path / AUDIT_FILE, workers=1)
    assert report.ok, report
    assert report.decisions_replayed == 3


def test_ungoverned_log_records_no_governed_inputs(tmp_path: Path) -> None:
    with open_manager(tmp_path, LeasePolicy.from_json(cv.base_policy())) as manager:
        assert isinstance(manager.acquire(cv.base_manifest()), Grant)
    (decision,) = [r for r in audit_records(tmp_path) if r["event"] == "decision"]
    assert "request" not in decision and "approvals" not in decision


def test_a_policy_upgrade_ends_leases_of_the_older_policy(tmp_path: Path) -> None:
    m = cv.base_manifest()
    with open_manager(tmp_path, V1) as manager:
        grant = manager.acquire(m, None, cv.request_for(m))
    assert isinstance(grant, Grant)
    with open_manager(tmp_path, V2) as manager:
        proof = sign_holder_proof(cv.HOLDER, grant.lease_id, bytes(range(32)))
        with pytest.raises(InvalidLease) as ended:
            manager.authorize(
                grant.token, proof, task_id=m["task_id"], manifest_digest=json_digest(m)
            )
        assert ended.value.deny.reason == "POLICY_CHANGED"
        again = manager.acquire(m, None, cv.request_for(m))
        assert isinstance(again, Grant) and again.claims.policy_digest == V2.digest


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param(LeasePolicy.from_json(cv.base_policy()), id="ungoverned"),
        pytest.param(V1, id="older-version"),
        pytest.param(
            GovernancePolicy.from_json({**cv.governance_policy(2), "org": "other"}),
            id="same-version-other-document",
        ),
    ],
)
def test_a_governed_state_cannot_be_reopened_ungoverned_or_rolled_back(
    tmp_path: Path, policy: LeasePolicy | GovernancePolicy
) -> None:
    with open_manager(tmp_path, V1):
        pass
    with open_manager(tmp_path, V2):
        pass
    before = (tmp_path / AUDIT_FILE).read_bytes()
    with pytest.raises(PolicyError):
        open_manager(tmp_path, policy)
    assert (tmp_path / AUDIT_FILE).read_bytes() == before  # refused before writing anything
    with open_manager(tmp_path, V2) as manager:  # the right policy still opens it
        assert manager.authority.policy_digest == V2.digest


def test_a_damaged_governance_floor_is_refused(tmp_path: Path) -> None:
    with open_manager(tmp_path, V1):
        pass
    connection = sqlite3.connect(tmp_path / DATABASE_FILE)
    with connection:
        connection.execute(
            "UPDATE meta SET value = ? WHERE key = ?", ("not-a-floor", GOVERNANCE_FLOOR_KEY)
        )
    connection.close()
    with pytest.raises(StateError):
        open_manager(tmp_path, V1)


def test_batch_columns_must_match_the_manifests(tmp_path: Path) -> None:
    m = cv.base_manifest()
    with open_manager(tmp_path, V1) as manager:
        with pytest.raises(UsageError):
            manager.acquire_many([m], requests=[None, None])
        with pytest.raises(UsageError):
            manager.acquire_many([m], approvals="x")
        decisions = manager.acquire_many(
            [m, m], requests=[cv.request_for(m), None], approvals=[None, None]
        )
    assert isinstance(decisions[0], Grant)
    assert isinstance(decisions[1], Deny) and decisions[1].reason == "REQUEST_MISSING"
