"""Faults in the manager's state: each one gives a clear error or a denial, never a grant.

Spec §12.4 and §12.5: a clock, trust snapshot, store or audit log that cannot be used denies
with ``UNAVAILABLE`` and the adapter's reason (``acquire`` returns the ``Deny``, ``authorize``
raises ``InvalidLease`` carrying it); state that is damaged or inconsistent at open raises
``StateError``; nothing is half-recorded, and an audit entry whose transaction did not commit
is settled (voided or rolled forward). The real adapters are broken for real where that can be
done in a test (permission bits, ``RLIMIT_FSIZE`` as a full disk, overwritten bytes), and the
in-memory fakes are switched off for the exact codes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from pda_lease import (
    Deny,
    Grant,
    InvalidLease,
    LeasePolicy,
    json_digest,
    parse_trust_snapshot,
    sign_holder_proof,
)
from pda_lease.adapters import (
    AuditEntry,
    FakeClock,
    FileTrustSource,
    MemoryAuditLog,
    MemoryLeaseStore,
    MemoryTrustSource,
    StateError,
    StateFailure,
    verify_audit_file,
)
from pda_lease.adapters.store import read_committed_head
from pda_lease.conformance import (
    EPOCH,
    HOLDER,
    ISSUER,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
    governance_policy,
    request_for,
)
from pda_lease.kernel.catalog import CATALOG, MANAGER_REASONS, Code
from pda_lease.kernel.governance import GovernancePolicy
from pda_lease.kernel.inputs import TrustSnapshot
from pda_lease.manager import LeaseManager

POLICY = LeasePolicy.from_json(base_policy())
MANIFEST = base_manifest()
TASK = MANIFEST["task_id"]
DIGEST = json_digest(MANIFEST)
# Lease ids hash every decision input (spec §6.4): with a fake clock that does not move, the
# same manifest is the same lease, so the operations under test use another task.
OTHER = dict(base_manifest(), task_id="task-under-fault")
START = 100 * SECOND
REPO = Path(__file__).resolve().parents[1]


def challenge(number: int) -> bytes:
    return hashlib.sha256(f"challenge {number}".encode()).digest()


def proof(lease_id: bytes, number: int = 0) -> dict[str, str]:
    return sign_holder_proof(HOLDER, lease_id, challenge(number))


def assert_deny(decision: object, reason: str, code: str = "UNAVAILABLE") -> None:
    assert isinstance(decision, Deny), f"expected {code}/{reason}, got {decision!r}"
    assert (decision.code, decision.reason) == (code, reason)
    assert decision.message == CATALOG[Code(code)][reason].message


def authorize_refused(
    manager: LeaseManager,
    grant_token: bytes,
    holder_proof: object,
    manifest: Mapping[str, Any] = MANIFEST,
) -> Deny:
    with pytest.raises(InvalidLease) as caught:
        manager.authorize(
            grant_token,
            holder_proof,
            task_id=manifest["task_id"],
            manifest_digest=json_digest(dict(manifest)),
        )
    return caught.value.deny


def granted(decision: object) -> Grant:
    assert isinstance(decision, Grant), f"expected a grant, got {decision!r}"
    return decision


# ------------------------------------------------------------------------ durable helpers


def publish(state: Path, score: int = 8000) -> None:
    state.mkdir(parents=True, exist_ok=True)
    parsed = parse_trust_snapshot(base_snapshot(score))
    assert isinstance(parsed, TrustSnapshot)
    FileTrustSource(state / "trust.json").publish(parsed)


def open_manager(state: Path) -> LeaseManager:
    return LeaseManager.open(state, signer=ISSUER, policy=POLICY, clock=FakeClock(EPOCH, START))


def initialised(state: Path, grants: int = 2) -> list[Grant]:
    """A state directory with a trust snapshot and ``grants`` committed leases, closed."""
    publish(state)
    with open_manager(state) as manager:
        manifests = [MANIFEST] + [dict(MANIFEST, task_id=f"task-{n}") for n in range(1, grants)]
        return [granted(manager.acquire(manifest)) for manifest in manifests]


def records(state: Path) -> list[dict[str, Any]]:
    text = (state / "audit.jsonl").read_bytes()
    assert text.endswith(b"\n")
    return [json.loads(line) for line in text.splitlines()]


def refused_open(state: Path, reason: StateFailure) -> StateError:
    with pytest.raises(StateError) as caught:
        open_manager(state).close()
    assert caught.value.reason is reason, caught.value
    assert caught.value.detail
    return caught.value


def assert_settled(state: Path) -> None:
    """The state directory is consistent: the audit verifies against the store's head, every
    GRANT decision the store lacks is voided, every ALLOW whose proof the store lacks is voided,
    and every revocation in the log is in the registry."""
    head = read_committed_head(state / "leases.db")
    report = verify_audit_file(state / "audit.jsonl", committed=head)
    assert report.ok, report
    log = records(state)
    with open_manager(state) as manager:
        store = manager.store
        voided = {(r["event"], r["entry_seq"]) for r in log if r["event"].endswith("_void")}
        for record in log:
            outcome: dict[str, Any] = record.get("outcome") or {}
            if (
                record["event"] == "decision"
                and outcome["decision"] == "GRANT"
                and store.lease(bytes.fromhex(outcome["lease_id"])) is None
            ):
                assert ("grant_void", record["seq"]) in voided, record["seq"]
            if record["event"] == "authorization" and outcome == {"result": "ALLOW"}:
                # Committed or voided, an ALLOW's challenge is used up (spec §12.4).
                assert store.proof_used(
                    bytes.fromhex(record["lease_id"]),
                    bytes.fromhex(record["holder_proof"]["json"]["challenge"]),
                ), record["seq"]
            if record["event"] == "revocation":
                assert store.revocations.lookup(bytes.fromhex(record["lease_id"])) is not None


# ============================================================ unwritable state directory


def test_a_state_directory_that_is_a_regular_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_bytes(b"not a directory")
    error = refused_open(state, StateFailure.STORE_UNAVAILABLE)
    assert str(state) in error.detail
    assert state.read_bytes() == b"not a directory"


def test_a_state_directory_under_a_regular_file_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    parent.write_bytes(b"")
    error = refused_open(parent / "state", StateFailure.STORE_UNAVAILABLE)
    assert "parent" in error.detail


def test_a_database_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "leases.db").mkdir(parents=True)
    error = refused_open(state, StateFailure.STORE_UNAVAILABLE)
    assert "leases.db" in error.detail


def test_an_audit_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "audit.jsonl").mkdir(parents=True)
    error = refused_open(state, StateFailure.AUDIT_UNAVAILABLE)
    assert "audit.jsonl" in error.detail


def test_a_trust_path_that_is_a_directory_denies(tmp_path: Path) -> None:
    state = tmp_path / "state"
    grant = initialised(state)[0]
    (state / "trust.json").unlink()
    (state / "trust.json").mkdir()
    with open_manager(state) as manager:
        assert_deny(manager.acquire(MANIFEST), "TRUST_UNAVAILABLE")
        assert_deny(
            authorize_refused(manager, grant.token, proof(grant.lease_id)), "TRUST_UNAVAILABLE"
        )


PERMISSION_SCRIPT = r"""
import json, os, shutil, sys, tempfile
from pathlib import Path
from pda_lease import Deny, Grant, LeasePolicy, parse_trust_snapshot
from pda_lease.adapters import FakeClock, FileTrustSource, StateError
from pda_lease.conformance import EPOCH, ISSUER, SECOND, base_manifest, base_policy, base_snapshot
from pda_lease.manager import LeaseManager

policy = LeasePolicy.from_json(base_policy())
base = Path(sys.argv[1])
if os.geteuid() == 0:
    # Permission bits do not bind root: run the scenarios as an unprivileged user, in a
    # directory of its own (the test's tmp_path is under a root-only folder).
    try:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    except OSError as exc:
        print(json.dumps({"skip": f"running as root and cannot drop privileges: {exc}"}))
        sys.exit(0)
    try:
        base = Path(tempfile.mkdtemp(prefix="pda-lease-perm-"))
    except OSError as exc:
        print(json.dumps({"skip": f"no temporary directory for an unprivileged user: {exc}"}))
        sys.exit(0)

def open_(path):
    clock = FakeClock(EPOCH, 100 * SECOND)
    return LeaseManager.open(path, signer=ISSUER, policy=policy, clock=clock)

def attempt(path):
    try:
        manager = open_(path)
    except StateError as exc:
        return ["refused", str(exc.reason), exc.detail]
    try:
        decision = manager.acquire(base_manifest())
        if isinstance(decision, Grant):
            return ["GRANT"]
        return ["deny", decision.code, decision.reason]
    finally:
        manager.close()

def initialised(name):
    state = base / name
    state.mkdir(mode=0o700)
    FileTrustSource(state / "trust.json").publish(parse_trust_snapshot(base_snapshot()))
    with open_(state) as manager:
        assert isinstance(manager.acquire(base_manifest()), Grant)
    return state

results = {}
try:
    state = base / "ro-state"
    state.mkdir(mode=0o700)
    state.chmod(0o500)
    results["state_dir_0500"] = attempt(state)
    parent = base / "ro-parent"
    parent.mkdir(mode=0o700)
    parent.chmod(0o500)
    results["parent_0500"] = attempt(parent / "state")
    state = initialised("locked")
    state.chmod(0o500)
    results["initialised_dir_0500"] = attempt(state)
    state = initialised("db")
    (state / "leases.db").chmod(0o400)
    results["db_0400"] = attempt(state)
    state = initialised("audit")
    (state / "audit.jsonl").chmod(0o400)
    results["audit_0400"] = attempt(state)
    state = initialised("trust")
    (state / "trust.json").chmod(0o000)
    results["trust_0000"] = attempt(state)
finally:
    for root, dirs, _ in os.walk(base):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700)
    if base != Path(sys.argv[1]):
        shutil.rmtree(base, ignore_errors=True)
print(json.dumps(results))
"""


def run_script(script: str, *args: str) -> dict[str, Any]:
    environment = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if "skip" in result:
        pytest.skip(result["skip"])
    return result


def test_permission_denied_state_is_refused_or_denied(tmp_path: Path) -> None:
    """chmod 0500 / 0400 / 0000 on the directory or its files (as an unprivileged user)."""
    results = run_script(PERMISSION_SCRIPT, str(tmp_path))
    assert results["state_dir_0500"][:2] == ["refused", "STORE_UNAVAILABLE"]
    assert "leases.db" in results["state_dir_0500"][2]
    assert results["parent_0500"][:2] == ["refused", "STORE_UNAVAILABLE"]
    assert "Permission denied" in results["parent_0500"][2]
    assert results["initialised_dir_0500"][:2] == ["refused", "STORE_UNAVAILABLE"]
    assert results["db_0400"][:2] == ["refused", "STORE_UNAVAILABLE"]
    assert results["audit_0400"][:2] == ["refused", "AUDIT_UNAVAILABLE"]
    assert results["trust_0000"] == ["deny", "UNAVAILABLE", "TRUST_UNAVAILABLE"]


# ============================================================================ full disk

DISK_FULL_SCRIPT = r"""
import json, os, resource, signal, sys
from pathlib import Path
from pda_lease import Grant, InvalidLease, LeasePolicy, json_digest, parse_trust_snapshot
from pda_lease import sign_holder_proof
from pda_lease.adapters import FakeClock, FileTrustSource, StateError
from pda_lease.conformance import EPOCH, HOLDER, ISSUER, SECOND, base_manifest, base_policy
from pda_lease.conformance import base_snapshot
from pda_lease.manager import LeaseManager

state, mode, challenge = Path(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
# A write past RLIMIT_FSIZE raises SIGXFSZ (which kills by default) and fails with EFBIG.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
state.mkdir()
FileTrustSource(state / "trust.json").publish(parse_trust_snapshot(base_snapshot()))
manager = LeaseManager.open(
    state,
    signer=ISSUER,
    policy=LeasePolicy.from_json(base_policy()),
    clock=FakeClock(EPOCH, 100 * SECOND),
)
manifest = base_manifest()
warm = manager.acquire(manifest)
assert isinstance(warm, Grant)
audit_size = os.path.getsize(state / "audit.jsonl")
wal_size = os.path.getsize(state / "leases.db-wal")
if mode == "audit":
    limit = audit_size + 100  # the next audit line is cut after 100 bytes
else:
    limit = audit_size + 16384  # room for the audit lines; the WAL is already past it
    if wal_size <= limit:
        print(json.dumps({"skip": f"WAL of {wal_size} bytes is too small to fill first"}))
        sys.exit(0)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
out = {"warm_lease": warm.lease_id.hex(), "warm_token": warm.token.hex(), "limit": limit}
decision = manager.acquire(dict(manifest, task_id="task-lost"))
out["acquire"] = "GRANT" if isinstance(decision, Grant) else [decision.code, decision.reason]
try:
    manager.authorize(
        warm.token,
        sign_holder_proof(HOLDER, warm.lease_id, challenge),
        task_id=manifest["task_id"],
        manifest_digest=json_digest(manifest),
    )
    out["authorize"] = "ALLOW"
except InvalidLease as exc:
    out["authorize"] = [exc.deny.code, exc.deny.reason]
try:
    manager.revoke(warm.lease_id, "revoked while the disk is full")
    out["revoke"] = "revoked"
except StateError as exc:
    out["revoke"] = str(exc.reason)
manager.close()
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    ("mode", "reason"), [("audit", "AUDIT_UNAVAILABLE"), ("store", "STORE_UNAVAILABLE")]
)
def test_a_full_disk_denies_and_records_nothing_half(
    tmp_path: Path, mode: str, reason: str
) -> None:
    state = tmp_path / "state"
    out = run_script(DISK_FULL_SCRIPT, str(state), mode, challenge(1).hex())
    assert out["acquire"] == ["UNAVAILABLE", reason]
    assert out["authorize"] == ["UNAVAILABLE", reason]
    assert out["revoke"] == reason
    warm_id, warm_token = bytes.fromhex(out["warm_lease"]), bytes.fromhex(out["warm_token"])
    assert not (state / "audit.quarantine").exists()

    # The limit is gone with the process: the directory opens, verifies and is settled.
    assert_settled(state)
    log = records(state)
    decisions = [r for r in log if r["event"] == "decision"]
    if mode == "audit":
        # The cut line was undone: nothing of the failed operations is in the log.
        assert len(decisions) == 1 and decisions[0]["outcome"]["lease_id"] == warm_id.hex()
        assert not [r for r in log if r["event"] in {"authorization", "revocation"}]
    else:
        # The audit lines were written, the commits failed: the grant and the authorization
        # are void and the revocation is rolled forward (spec §12.4).
        assert len(decisions) == 2
        lost = decisions[1]["outcome"]
        assert lost["decision"] == "GRANT"
        assert [r["entry_seq"] for r in log if r["event"] == "grant_void"] == [decisions[1]["seq"]]
        assert any(r["event"] == "authorization_void" for r in log)
        assert any(r["event"] == "revocation_recovered" for r in log)
    with open_manager(state) as manager:
        if mode == "store":
            lost_id, lost_token = bytes.fromhex(lost["lease_id"]), bytes.fromhex(lost["token"])
            assert manager.store.lease(lost_id) is None
            lost_manifest = dict(MANIFEST, task_id="task-lost")
            refusal = authorize_refused(manager, lost_token, proof(lost_id, 1), lost_manifest)
            assert_deny(refusal, "UNKNOWN_LEASE", "INVALID_TOKEN")
            # The voided ALLOW's challenge was burnt at settlement (spec §12.4).
            assert manager.store.proof_used(warm_id, challenge(1))
            refusal = authorize_refused(manager, warm_token, proof(warm_id, 1))
            assert_deny(refusal, "REVOKED", "LEASE_REVOKED")
        else:
            assert manager.store.revocations.lookup(warm_id) is None
            # The refused authorization did not burn its challenge.
            manager.authorize(warm_token, proof(warm_id, 1), task_id=TASK, manifest_digest=DIGEST)
            refusal = authorize_refused(manager, warm_token, proof(warm_id, 1))
            assert_deny(refusal, "HOLDER_PROOF_REPLAYED", "INVALID_TOKEN")
        granted(manager.acquire(dict(MANIFEST, task_id="task-after")))  # room again: work goes on
    assert verify_audit_file(state / "audit.jsonl").ok


# ================================================================ fault injection, fakes


class Fakes:
    def __init__(self) -> None:
        self.clock = FakeClock(EPOCH, START)
        self.trust = MemoryTrustSource(base_snapshot())
        self.store = MemoryLeaseStore()
        self.audit = MemoryAuditLog()

    def manager(self) -> LeaseManager:
        return LeaseManager(
            signer=ISSUER,
            policy=POLICY,
            clock=self.clock,
            trust_source=self.trust,
            store=self.store,
            audit=self.audit,
        )

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.lines]


def _clock_off(f: Fakes) -> None:
    f.clock.available = False


def _trust_off(f: Fakes) -> None:
    f.trust.available = False


def _store_off(f: Fakes) -> None:
    f.store.available = False


def _store_commit(f: Fakes) -> None:
    f.store.fail_commit = True


def _audit_next(f: Fakes) -> None:
    f.audit.fail_next_append = True


def _audit_off(f: Fakes) -> None:
    f.audit.available = False


def _heal(f: Fakes) -> None:
    f.clock.available = f.trust.available = f.store.available = f.audit.available = True
    f.store.fail_commit = f.audit.fail_next_append = False


FAULTS: dict[str, tuple[Callable[[Fakes], None], str]] = {
    "clock-off": (_clock_off, "CLOCK_UNAVAILABLE"),
    "trust-off": (_trust_off, "TRUST_UNAVAILABLE"),
    "store-off": (_store_off, "STORE_UNAVAILABLE"),
    "store-commit-fails": (_store_commit, "STORE_UNAVAILABLE"),
    "audit-append-fails": (_audit_next, "AUDIT_UNAVAILABLE"),
    "audit-off": (_audit_off, "AUDIT_UNAVAILABLE"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_an_injected_fault_denies_acquire_with_its_reason(fault: str) -> None:
    inject, reason = FAULTS[fault]
    fakes = Fakes()
    manager = fakes.manager()
    warm = granted(manager.acquire(MANIFEST))
    before = fakes.records()
    inject(fakes)
    assert_deny(manager.acquire(OTHER), reason)
    inject(fakes)  # again: some faults are one-shot
    batch = manager.acquire_many([dict(OTHER, task_id="batch-1"), dict(OTHER, task_id="batch-2")])
    for decision in batch:
        assert_deny(decision, reason)
    _heal(fakes)
    assert [lease.lease_id for lease in fakes.store.leases()] == [warm.lease_id]
    new = fakes.records()[len(before) :]
    check_new_entries(new, fault)
    assert fakes.audit.verify().ok


def check_new_entries(new: list[dict[str, Any]], fault: str) -> None:
    """What the log holds after the refused acquires: per §12.5 and §12.4."""
    reason = FAULTS[fault][1]
    events = [r["event"] for r in new]
    if reason in {"CLOCK_UNAVAILABLE", "TRUST_UNAVAILABLE"}:
        # The refusal itself is recorded, best effort, with what could be read.
        assert events == ["decision"] * 3
        for record in new:
            assert record["outcome"] == {
                "decision": "DENY",
                "code": "UNAVAILABLE",
                "reason": reason,
                "field": None,
            }
            assert record["trust_digest"] is None
            assert (record["at"] is None) == (reason == "CLOCK_UNAVAILABLE")
    elif fault in {"store-off", "audit-append-fails", "audit-off"}:
        assert events == []  # failed before (or while) anything was written
    else:
        # The decisions were written but not committed: each grant is voided.
        grants = [r for r in new if r["event"] == "decision"]
        voids = [r for r in new if r["event"] == "grant_void"]
        assert grants and all(r["outcome"]["decision"] == "GRANT" for r in grants)
        assert sorted(v["entry_seq"] for v in voids) == sorted(r["seq"] for r in grants)
        assert all(v["why"] == reason for v in voids)


@pytest.mark.parametrize("fault", FAULTS)
def test_an_injected_fault_refuses_authorize_and_never_allows_twice(fault: str) -> None:
    inject, reason = FAULTS[fault]
    fakes = Fakes()
    manager = fakes.manager()
    warm = granted(manager.acquire(MANIFEST))
    inject(fakes)
    assert_deny(authorize_refused(manager, warm.token, proof(warm.lease_id)), reason)
    _heal(fakes)
    assert not fakes.store.proof_used(warm.lease_id, challenge(0))
    last = fakes.records()[-1]
    if fault == "store-commit-fails":
        assert last["event"] == "authorization_void" and last["lease_id"] == warm.lease_id.hex()
        # The ALLOW was audited but not committed: the next transaction settles it and burns
        # its challenge (spec §12.4), so that proof is refused and a fresh one works, once.
        assert_deny(
            authorize_refused(manager, warm.token, proof(warm.lease_id)),
            "HOLDER_PROOF_REPLAYED",
            "INVALID_TOKEN",
        )
        fresh = proof(warm.lease_id, 1)
        manager.authorize(warm.token, fresh, task_id=TASK, manifest_digest=DIGEST)
        assert_deny(
            authorize_refused(manager, warm.token, fresh), "HOLDER_PROOF_REPLAYED", "INVALID_TOKEN"
        )
        assert fakes.audit.verify().ok
        return
    if reason in {"CLOCK_UNAVAILABLE", "TRUST_UNAVAILABLE"}:
        assert last["event"] == "authorization"
        assert last["outcome"]["reason"] == reason
    # The proof was never accepted, so it still works, once.
    manager.authorize(warm.token, proof(warm.lease_id), task_id=TASK, manifest_digest=DIGEST)
    assert_deny(
        authorize_refused(manager, warm.token, proof(warm.lease_id)),
        "HOLDER_PROOF_REPLAYED",
        "INVALID_TOKEN",
    )
    assert fakes.audit.verify().ok


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "trust-off"])
def test_an_injected_fault_makes_revoke_raise(fault: str) -> None:
    inject, reason = FAULTS[fault]
    fakes = Fakes()
    manager = fakes.manager()
    warm = granted(manager.acquire(MANIFEST))
    inject(fakes)
    with pytest.raises(StateError) as caught:
        manager.revoke(warm.lease_id, "operator request")
    assert str(caught.value.reason) == reason
    _heal(fakes)
    assert fakes.store.revocations.lookup(warm.lease_id) is None


def test_a_failed_revoke_commit_is_rolled_forward_at_the_next_open() -> None:
    fakes = Fakes()
    manager = fakes.manager()
    warm = granted(manager.acquire(MANIFEST))
    fakes.store.fail_commit = True
    with pytest.raises(StateError):
        manager.revoke(warm.lease_id, "operator request")
    reopened = fakes.manager()
    record = fakes.store.revocations.lookup(warm.lease_id)
    assert record is not None and record.reason == "operator request"
    assert fakes.records()[-1]["event"] == "revocation_recovered"
    refusal = authorize_refused(reopened, warm.token, proof(warm.lease_id))
    assert_deny(refusal, "REVOKED", "LEASE_REVOKED")


def test_a_failed_revoke_has_one_outcome_whatever_commits_before_the_reopen() -> None:
    """Spec §12.4: an in-doubt revocation is rolled forward. That must not depend on whether
    the same manager committed another operation before it was reopened: the log says the lease
    was revoked, so the registry must agree, or the audit trail and the gate disagree."""
    fakes = Fakes()
    manager = fakes.manager()
    warm = granted(manager.acquire(MANIFEST))
    fakes.store.fail_commit = True
    with pytest.raises(StateError):
        manager.revoke(warm.lease_id, "operator request")
    granted(manager.acquire(OTHER))  # the store recovered; this commit moves the head
    reopened = fakes.manager()
    assert [r["event"] for r in fakes.records()].count("revocation") == 1
    assert fakes.store.revocations.lookup(warm.lease_id) is not None, (
        "the audit log holds a revocation of this lease that the registry never received"
    )
    refusal = authorize_refused(reopened, warm.token, proof(warm.lease_id))
    assert_deny(refusal, "REVOKED", "LEASE_REVOKED")


class LosesVoids(MemoryAuditLog):
    """An audit log that fails the first best-effort void append (the disk filled up again)."""

    lost = False

    def append(self, bodies: Sequence[Mapping[str, object]]) -> list[AuditEntry]:
        if not self.lost and bodies and bodies[0].get("event") == "grant_void":
            self.lost = True
            raise StateError(StateFailure.AUDIT_UNAVAILABLE, "no space left for the void")
        return super().append(bodies)


def test_a_grant_whose_void_was_lost_is_voided_even_after_a_later_commit() -> None:
    """Spec §12.4: every GRANT decision whose lease the store lacks gets a ``grant_void``."""
    fakes = Fakes()
    fakes.audit = LosesVoids()
    manager = fakes.manager()
    fakes.store.fail_commit = True
    assert_deny(manager.acquire(OTHER), "STORE_UNAVAILABLE")
    granted(manager.acquire(MANIFEST))  # commits: the head moves past the lost grant
    fakes.manager()  # reopen
    log = fakes.records()
    lost = [
        r
        for r in log
        if r["event"] == "decision"
        and fakes.store.lease(bytes.fromhex(r["outcome"]["lease_id"])) is None
    ]
    assert len(lost) == 1
    voids = [r["entry_seq"] for r in log if r["event"] == "grant_void"]
    assert voids == [lost[0]["seq"]], "a GRANT in the audit log was never voided"


def test_a_void_written_at_failure_time_is_not_written_again_at_open() -> None:
    fakes = Fakes()
    manager = fakes.manager()
    warm = granted(manager.acquire(MANIFEST))
    fakes.store.fail_commit = True
    assert_deny(manager.acquire(OTHER), "STORE_UNAVAILABLE")
    fakes.store.fail_commit = True
    authorize_refused(manager, warm.token, proof(warm.lease_id))
    fakes.manager()  # reopen: the in-doubt entries are settled
    log = fakes.records()
    voids = [(r["event"], r["entry_seq"]) for r in log if r["event"].endswith("_void")]
    assert sorted(voids) == sorted(set(voids)), f"an entry was voided twice: {voids}"
    assert {event for event, _ in voids} == {"grant_void", "authorization_void"}


def test_an_unavailable_store_or_audit_at_open_raises() -> None:
    for inject, reason in (
        (_store_off, StateFailure.STORE_UNAVAILABLE),
        (_audit_off, StateFailure.AUDIT_UNAVAILABLE),
        (_store_commit, StateFailure.STORE_UNAVAILABLE),
    ):
        fakes = Fakes()
        inject(fakes)
        with pytest.raises(StateError) as caught:
            fakes.manager()
        assert caught.value.reason is reason


# =================================================================== every manager reason


def _reason_unknown_lease(fakes: Fakes, manager: LeaseManager) -> Deny:
    fakes.store.fail_commit = True
    assert_deny(manager.acquire(OTHER), "STORE_UNAVAILABLE")
    (decision,) = [r for r in fakes.records() if r["event"] == "decision"]
    lease_id = bytes.fromhex(decision["outcome"]["lease_id"])
    token = bytes.fromhex(decision["outcome"]["token"])
    return authorize_refused(manager, token, proof(lease_id), OTHER)


def _reason_replayed(fakes: Fakes, manager: LeaseManager) -> Deny:
    grant = granted(manager.acquire(MANIFEST))
    manager.authorize(grant.token, proof(grant.lease_id), task_id=TASK, manifest_digest=DIGEST)
    return authorize_refused(manager, grant.token, proof(grant.lease_id))


def _reason_by_fault(fault: str) -> Callable[[Fakes, LeaseManager], Deny]:
    def produce(fakes: Fakes, manager: LeaseManager) -> Deny:
        grant = granted(manager.acquire(MANIFEST))
        FAULTS[fault][0](fakes)
        decision = manager.acquire(OTHER)
        assert isinstance(decision, Deny)
        FAULTS[fault][0](fakes)  # re-arm the one-shot faults
        refusal = authorize_refused(manager, grant.token, proof(grant.lease_id))
        assert (refusal.code, refusal.reason) == (decision.code, decision.reason)
        return refusal

    return produce


def _reason_released(fakes: Fakes, manager: LeaseManager) -> Deny:
    grant = granted(manager.acquire(MANIFEST))
    manager.release(grant.lease_id, {"units": 0, "spend_cents": 0}, proof(grant.lease_id, 1))
    return authorize_refused(manager, grant.token, proof(grant.lease_id, 2))


def _governed_child(fakes: Fakes, calls: int) -> tuple[LeaseManager, Grant, Grant]:
    """A governed manager over the same fakes, a lease naming fs.read, and a child of it."""
    governed = LeaseManager(
        signer=ISSUER,
        policy=GovernancePolicy.from_json(governance_policy()),
        clock=fakes.clock,
        trust_source=fakes.trust,
        store=fakes.store,
        audit=fakes.audit,
    )
    request = request_for(MANIFEST, at_ns=START)
    parent = granted(governed.acquire(MANIFEST, None, request))
    child = governed.derive_sub_lease(
        parent.token, proof(parent.lease_id, 1), tool="fs.read", calls=calls, ttl_ns=SECOND
    )
    return governed, parent, granted(child)


def _reason_parent_ended(fakes: Fakes, manager: LeaseManager) -> Deny:
    governed, parent, child = _governed_child(fakes, 5)
    governed.revoke(parent.lease_id, "the parent ends")
    return authorize_refused(governed, child.token, proof(child.lease_id, 2))


def _reason_calls_exhausted(fakes: Fakes, manager: LeaseManager) -> Deny:
    governed, _, child = _governed_child(fakes, 1)
    governed.authorize(child.token, proof(child.lease_id, 2), task_id=TASK, manifest_digest=DIGEST)
    return authorize_refused(governed, child.token, proof(child.lease_id, 3))


PRODUCERS: dict[tuple[str, str], Callable[[Fakes, LeaseManager], Deny]] = {
    ("LEASE_REVOKED", "RELEASED"): _reason_released,
    ("LEASE_REVOKED", "PARENT_ENDED"): _reason_parent_ended,
    ("LEASE_REVOKED", "CALLS_EXHAUSTED"): _reason_calls_exhausted,
    ("INVALID_TOKEN", "UNKNOWN_LEASE"): _reason_unknown_lease,
    ("INVALID_TOKEN", "HOLDER_PROOF_REPLAYED"): _reason_replayed,
    ("UNAVAILABLE", "CLOCK_UNAVAILABLE"): _reason_by_fault("clock-off"),
    ("UNAVAILABLE", "TRUST_UNAVAILABLE"): _reason_by_fault("trust-off"),
    ("UNAVAILABLE", "STORE_UNAVAILABLE"): _reason_by_fault("store-commit-fails"),
    ("UNAVAILABLE", "AUDIT_UNAVAILABLE"): _reason_by_fault("audit-append-fails"),
}


def test_every_manager_reason_has_a_producer_here() -> None:
    assert {(str(code), reason) for code, reason in MANAGER_REASONS} == set(PRODUCERS)


@pytest.mark.parametrize("pair", sorted(PRODUCERS), ids="/".join)
def test_every_manager_reason_is_produced(pair: tuple[str, str]) -> None:
    fakes = Fakes()
    refusal = PRODUCERS[pair](fakes, fakes.manager())
    assert_deny(refusal, pair[1], pair[0])


# ======================================================================= corrupt database


def _garbage(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _database_faults() -> Iterator[tuple[str, Callable[[Path], None], str]]:
    def header(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[:16] = b"Not SQLite at all"[:16]
        path.write_bytes(bytes(data))

    def garbage(path: Path) -> None:
        path.write_bytes(_garbage(path.stat().st_size, 1))

    def leases_page(path: Path) -> None:
        connection = sqlite3.connect(path)
        try:
            (root,) = connection.execute(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'leases'"
            ).fetchone()
            (size,) = connection.execute("PRAGMA page_size").fetchone()
        finally:
            connection.close()
        data = bytearray(path.read_bytes())
        start = (root - 1) * size
        data[start : start + size] = _garbage(size, 2)
        path.write_bytes(bytes(data))

    yield "header", header, "not a database"
    yield "garbage", garbage, "not a database"
    yield "leases-page", leases_page, "malformed"


@pytest.mark.parametrize(
    ("corrupt", "says"),
    [(c, s) for _, c, s in _database_faults()],
    ids=[name for name, _, _ in _database_faults()],
)
def test_a_corrupt_database_is_refused_at_open(
    tmp_path: Path, corrupt: Callable[[Path], None], says: str
) -> None:
    state = tmp_path / "state"
    initialised(state)
    assert not (state / "leases.db-wal").exists()  # checkpointed at close: all in leases.db
    corrupt(state / "leases.db")
    audit = (state / "audit.jsonl").read_bytes()
    error = refused_open(state, StateFailure.STORE_UNAVAILABLE)
    assert str(state / "leases.db") in error.detail
    assert says in error.detail
    assert (state / "audit.jsonl").read_bytes() == audit


def test_a_corrupted_stored_token_is_not_authorized(tmp_path: Path) -> None:
    """Damage ``quick_check`` cannot see (one byte of a token blob) still fails closed."""
    state = tmp_path / "state"
    grant = initialised(state, grants=1)[0]
    data = bytearray((state / "leases.db").read_bytes())
    where = data.find(grant.token)
    assert where > 0 and data.count(grant.token) == 1
    data[where + len(grant.token) // 2] ^= 0x01
    (state / "leases.db").write_bytes(bytes(data))
    with open_manager(state) as manager:
        refusal = authorize_refused(manager, grant.token, proof(grant.lease_id))
        assert_deny(refusal, "UNKNOWN_LEASE", "INVALID_TOKEN")


# ================================================================= damaged audit log


def _rehashed(record: dict[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k != "entry_hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    body["entry_hash"] = hashlib.sha256(canonical.encode()).hexdigest()
    line = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return line.encode() + b"\n"


def _edit_head_rehashed(lines: list[bytes], other: Path) -> list[bytes]:
    record = json.loads(lines[-1])
    record["outcome"]["expires_at_ns"] += 1
    return [*lines[:-1], _rehashed(record)]


def _edit_head_plain(lines: list[bytes], other: Path) -> list[bytes]:
    return [*lines[:-1], lines[-1].replace(b'"decision":"GRANT"', b'"decision":"DENY!"')]


def _drop_last(lines: list[bytes], other: Path) -> list[bytes]:
    return lines[:-1]


def _keep_first(lines: list[bytes], other: Path) -> list[bytes]:
    return lines[:1]


def _cut_head_newline(lines: list[bytes], other: Path) -> list[bytes]:
    return [*lines[:-1], lines[-1][:-1]]


def _empty(lines: list[bytes], other: Path) -> list[bytes]:
    return []


def _replaced(lines: list[bytes], other: Path) -> list[bytes]:
    initialised(other)  # another state directory, same operations, another chain
    replacement = (other / "audit.jsonl").read_bytes().splitlines(keepends=True)
    assert len(replacement) == len(lines)
    return replacement


def _append_damaged_line(lines: list[bytes], other: Path) -> list[bytes]:
    record = json.loads(lines[-1])
    record["seq"] += 1
    return [*lines, json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"]


AUDIT_DAMAGE: dict[str, Callable[[list[bytes], Path], list[bytes]]] = {
    "edit-committed-head-rehashed": _edit_head_rehashed,
    "edit-committed-head": _edit_head_plain,
    "truncate-last-line": _drop_last,
    "truncate-to-first-line": _keep_first,
    "cut-head-newline": _cut_head_newline,
    "empty-log": _empty,
    "replaced-log": _replaced,
    "damaged-line-after-head": _append_damaged_line,
}


@pytest.mark.parametrize("damage", AUDIT_DAMAGE)
def test_damage_to_acknowledged_audit_entries_is_refused_at_open(
    tmp_path: Path, damage: str
) -> None:
    state = tmp_path / "state"
    initialised(state)
    lines = (state / "audit.jsonl").read_bytes().splitlines(keepends=True)
    damaged = b"".join(AUDIT_DAMAGE[damage](lines, tmp_path / "other"))
    (state / "audit.jsonl").write_bytes(damaged)
    head = read_committed_head(state / "leases.db")
    error = refused_open(state, StateFailure.AUDIT_UNAVAILABLE)
    assert "audit.jsonl" in error.detail
    # Refused, not repaired: the log and the store's head are as they were.
    assert (state / "audit.jsonl").read_bytes() == damaged
    assert read_committed_head(state / "leases.db") == head
    assert not verify_audit_file(state / "audit.jsonl", committed=head).ok


def test_a_deleted_audit_log_is_refused_at_open(tmp_path: Path) -> None:
    state = tmp_path / "state"
    initialised(state)
    (state / "audit.jsonl").unlink()
    error = refused_open(state, StateFailure.AUDIT_UNAVAILABLE)
    assert "missing" in error.detail
    refused_open(state, StateFailure.AUDIT_UNAVAILABLE)  # and stays refused


@pytest.mark.parametrize("rehash", [False, True], ids=["plain-edit", "rehashed-edit"])
def test_an_edited_old_line_is_named_by_verify(tmp_path: Path, rehash: bool) -> None:
    state = tmp_path / "state"
    initialised(state)
    lines = (state / "audit.jsonl").read_bytes().splitlines(keepends=True)
    assert json.loads(lines[1])["event"] == "authority"
    record = json.loads(lines[1])
    record["policy"]["trust_threshold"]["LOW"] = 0  # an attacker lowers the recorded policy
    lines[1] = (
        _rehashed(record)
        if rehash
        else json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    )
    (state / "audit.jsonl").write_bytes(b"".join(lines))
    expected = 3 if rehash else 2
    for committed in (None, read_committed_head(state / "leases.db")):
        report = verify_audit_file(state / "audit.jsonl", committed=committed)
        assert not report.ok and report.first_bad_line == expected, report
        assert report.entries == expected - 1


# ================================================================ missing trust snapshot


def test_no_trust_snapshot_denies_acquire_and_authorize(tmp_path: Path) -> None:
    state = tmp_path / "state"
    grant = initialised(state)[0]
    (state / "trust.json").unlink()
    with open_manager(state) as manager:
        assert_deny(manager.acquire(MANIFEST), "TRUST_UNAVAILABLE")
        refusal = authorize_refused(manager, grant.token, proof(grant.lease_id))
        assert_deny(refusal, "TRUST_UNAVAILABLE")
        assert not manager.store.proof_used(grant.lease_id, challenge(0))
        log = records(state)
        assert log[-2]["event"] == "decision" and log[-1]["event"] == "authorization"
        assert log[-2]["outcome"]["reason"] == log[-1]["outcome"]["reason"] == "TRUST_UNAVAILABLE"
        # A valid snapshot repairs it (spec §12.7: a missing one does not block a new one).
        manager.apply_trust_snapshot(dict(base_snapshot(), sequence=8))
        manager.authorize(grant.token, proof(grant.lease_id), task_id=TASK, manifest_digest=DIGEST)
    assert_settled(state)


def test_a_fresh_state_directory_without_trust_grants_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with open_manager(state) as manager:
        assert_deny(manager.acquire(MANIFEST), "TRUST_UNAVAILABLE")
        assert manager.store.leases() == []


# ===================================================================== store lost


@pytest.mark.parametrize("how", ["deleted", "emptied", "fresh-store"])
def test_a_lost_store_beside_an_audit_log_is_refused(tmp_path: Path, how: str) -> None:
    state = tmp_path / "state"
    initialised(state)
    audit = (state / "audit.jsonl").read_bytes()
    if how == "deleted":
        (state / "leases.db").unlink()
    elif how == "emptied":
        (state / "leases.db").write_bytes(b"")
    else:
        fresh = tmp_path / "fresh"
        publish(fresh)
        open_manager(fresh).close()
        shutil.copy(fresh / "leases.db", state / "leases.db")
    error = refused_open(
        state,
        StateFailure.STORE_UNAVAILABLE if how != "fresh-store" else StateFailure.AUDIT_UNAVAILABLE,
    )
    assert (state / "audit.jsonl").read_bytes() == audit, "nothing voided or appended"
    if how != "fresh-store":
        assert "lost or replaced" in error.detail
        refused_open(state, StateFailure.STORE_UNAVAILABLE)  # and stays refused


def test_an_older_copy_of_the_store_does_not_reopen_a_used_holder_proof(tmp_path: Path) -> None:
    """A store restored from a backup is a store replaced (spec §12.4): the log after its head
    holds acknowledged entries, not in-doubt ones. Treating them as in doubt voids the
    authorization that used a proof, and the captured proof then works a second time (§12.5:
    "a captured proof is worthless after its first use"). Refusing to open is also fine."""
    state = tmp_path / "state"
    grant = initialised(state, grants=1)[0]
    shutil.copy(state / "leases.db", tmp_path / "backup.db")
    with open_manager(state) as manager:
        manager.authorize(
            grant.token, proof(grant.lease_id, 5), task_id=TASK, manifest_digest=DIGEST
        )
    shutil.copy(tmp_path / "backup.db", state / "leases.db")
    try:
        manager = open_manager(state)
    except StateError as refused:
        assert refused.reason in {StateFailure.STORE_UNAVAILABLE, StateFailure.AUDIT_UNAVAILABLE}
        return
    with manager:
        refusal = authorize_refused(manager, grant.token, proof(grant.lease_id, 5))
        assert_deny(refusal, "HOLDER_PROOF_REPLAYED", "INVALID_TOKEN")
