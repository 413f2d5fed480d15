"""The LeaseManager lifecycle, checked step by step against a plain model of the rules.

A Hypothesis ``RuleBasedStateMachine`` acquires, authorizes, revokes, changes trust, moves and
reboots the clock, switches the policy and reopens the manager, in any order. After every step
the manager must agree with a model written from the specification, not from the code:

* ``acquire`` follows the decision pipeline (§4: manifest, window, trust, HRC; the lease ends at
  ``min(now + duration, window end)``);
* ``authorize`` follows §12.5 (kernel verification §7.3, recorded grant, standing §8, single use
  of a challenge): it succeeds exactly when the model says it must, and otherwise with the
  denial the model predicts;
* ``revoke`` is durable and idempotent (§12.6); ``apply_trust_snapshot`` revokes exactly the live
  leases whose trust fell below their threshold and refuses to go back (§12.7);
* ``status`` judges every lease as §12.8 says, the audit chain always verifies and only grows,
  every acquire and authorize leaves one audit entry (§12.3), and nothing acknowledged is lost
  when the manager is closed and opened again.

The machine runs twice: over the in-memory fakes, and over the durable adapters (SQLite store,
JSONL audit log, ``trust.json``) in a fresh state directory per example.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from pda_lease import (
    Deny,
    Ed25519Signer,
    Grant,
    InvalidLease,
    LeasePolicy,
    MonotonicTime,
    json_digest,
    parse_trust_snapshot,
    sign_holder_proof,
)
from pda_lease.adapters import (
    AuditHead,
    FakeClock,
    FileTrustSource,
    MemoryAuditLog,
    MemoryLeaseStore,
    MemoryTrustSource,
    TrustSource,
    VerifyReport,
)
from pda_lease.conformance import (
    EPOCH,
    HOLDER,
    ISSUER,
    OTHER_HOLDER,
    SECOND,
    base_manifest,
    base_policy,
    hrc_for,
)
from pda_lease.kernel.decide import Authority
from pda_lease.kernel.inputs import TrustSnapshot
from pda_lease.manager import LeaseManager, ManagerStatus, TrustSnapshotRejected, UnknownLease
from pda_lease.replay import ReplayReport, replay_file

# ------------------------------------------------------------------------------- the rules


def _policy_document(name: str) -> dict[str, Any]:
    document = base_policy()
    if name == "p2":  # a later policy: shorter leases, higher LOW and MEDIUM thresholds
        document["sequence"] = 2
        document["lease_duration_ns"] = {
            "LOW": 200 * SECOND,
            "MEDIUM": 90 * SECOND,
            "HIGH": 30 * SECOND,
        }
        document["trust_threshold"] = {"LOW": 4000, "MEDIUM": 7000, "HIGH": 9000}
    return document


POLICY_DOCUMENTS = {name: _policy_document(name) for name in ("p1", "p2")}
POLICIES = {name: LeasePolicy.from_json(doc) for name, doc in POLICY_DOCUMENTS.items()}
INITIAL_SCORES: dict[str, int] = {"files.read": 8000, "mail.send": 4000}
INITIAL_SEQUENCE = 7
CAPABILITIES = ("files.read", "mail.send", "net.fetch")
# Scores on and around every threshold of both policies, most of them high enough for MEDIUM.
SCORES = st.sampled_from(
    [0, 2999, 3000, 3999, 4000, 5999, 6000, 6999, 7000, 8000, 8999, 9000, 9500, 10000]
)
HOLDERS = (HOLDER, OTHER_HOLDER)
START_NS = 100 * SECOND

# An invalid manifest: the mutation, and the (reason, field) §4.1 and the vectors give for it.
INVALID_KINDS: dict[str, tuple[str, str]] = {
    "version": ("UNSUPPORTED_VERSION", "manifest_version"),
    "extra": ("UNKNOWN_FIELD", "extra"),
    "sensitivity": ("BAD_VALUE", "constraints.sensitivity"),
    "empty_window": ("EMPTY_WINDOW", "window"),
    "float": ("FLOAT_NOT_ALLOWED", "inputs.ratio"),
    "missing": ("MISSING_FIELD", "capability_id"),
    "holder_key": ("BAD_HOLDER_KEY", "holder.public_key"),
}
VALID = "valid"
MANIFEST_KINDS = [VALID] * 4 + sorted(INVALID_KINDS)


def snapshot_document(sequence: int, scores: dict[str, int]) -> dict[str, Any]:
    return {"snapshot_version": 1, "sequence": sequence, "scores": dict(scores)}


def parsed_snapshot(document: dict[str, Any]) -> TrustSnapshot:
    parsed = parse_trust_snapshot(document)
    assert isinstance(parsed, TrustSnapshot), parsed
    return parsed


def fresh_challenge(counter: int, size: int) -> bytes:
    digest = hashlib.sha256(b"lifecycle challenge %d" % counter).digest()
    return (digest * 2)[:size]


def other_holder(holder: Ed25519Signer) -> Ed25519Signer:
    return OTHER_HOLDER if holder is HOLDER else HOLDER


Expected = tuple[str, str]  # (code, reason) of a predicted refusal


@dataclass
class ModelLease:
    """What the model knows of a granted lease."""

    lease_id: bytes
    token: bytes
    task_id: str
    manifest_digest: bytes
    capability: str
    sensitivity: str
    holder: Ed25519Signer
    manifest: dict[str, Any]
    hrc: dict[str, object] | None
    confirmed: MonotonicTime | None
    policy: str
    epoch: str
    issued: int
    expires: int
    revoked_cause: str | None = None
    revoked_reason: str | None = None


# ------------------------------------------------------------------------------- the machine


class LifecycleMachine(RuleBasedStateMachine):
    """The rules and the model; subclasses say how the manager is opened and reopened."""

    leases: Bundle[bytes] = Bundle("leases")

    def __init__(self) -> None:
        super().__init__()
        self.epoch = EPOCH
        self.ns = START_NS
        self.past_epochs: list[str] = []
        self.boots = 1
        self.clock = FakeClock(EPOCH, START_NS)
        self.policy = "p1"
        self.sequence = INITIAL_SEQUENCE
        self.scores = dict(INITIAL_SCORES)
        self.model: dict[bytes, ModelLease] = {}
        self.used: set[tuple[bytes, bytes]] = set()
        self.presented: list[bytes] = []
        self.counter = 0
        self.acquires = 0
        self.authorizes = 0
        self.authority_entries = 1
        self.audit_entries = 0
        self.audit_head: AuditHead | None = None
        self.events: Counter[str] = Counter()
        self.manager = self.open_manager(self.policy)
        applied = self.manager.apply_trust_snapshot(
            snapshot_document(INITIAL_SEQUENCE, INITIAL_SCORES)
        )
        assert applied.revoked == ()

    # ---- the adapters (per variant)

    def open_manager(self, policy: str) -> LeaseManager:
        raise NotImplementedError

    def publish_raw(self, snapshot: TrustSnapshot) -> None:
        """Make a snapshot current in the trust source without the manager (no sweep)."""
        raise NotImplementedError

    def audit_records(self, start: int) -> list[dict[str, Any]]:
        """The audit records from entry ``start`` on, parsed from the log's own lines."""
        raise NotImplementedError

    def teardown(self) -> None:
        self.manager.close()

    # ---- the model

    def now(self) -> MonotonicTime:
        return MonotonicTime(self.epoch, self.ns)

    def threshold(self, sensitivity: str, policy: str | None = None) -> int:
        threshold = POLICY_DOCUMENTS[policy or self.policy]["trust_threshold"][sensitivity]
        assert isinstance(threshold, int)
        return threshold

    def trusted(self, lease: ModelLease, scores: dict[str, int]) -> bool:
        score = scores.get(lease.capability)
        return score is not None and score >= self.threshold(lease.sensitivity, lease.policy)

    def live(self, lease: ModelLease) -> bool:
        return (
            lease.epoch == self.epoch
            and lease.issued <= self.ns < lease.expires
            and lease.revoked_cause is None
        )

    def expected_status(self, lease: ModelLease) -> tuple[str, str | None]:
        """§12.8: revoked (cause), expired (§7.3 time checks), ended (standing), live."""
        if lease.revoked_cause is not None:
            return "revoked", lease.revoked_cause
        if lease.epoch != self.epoch:
            return "expired", "EPOCH_MISMATCH"
        if self.ns < lease.issued:
            return "expired", "NOT_YET_VALID"
        if self.ns >= lease.expires:
            return "expired", "EXPIRED"
        if lease.policy != self.policy:
            return "ended", "POLICY_CHANGED"
        if not self.trusted(lease, self.scores):
            return "ended", "TRUST_DECAYED"
        return "live", None

    def hrc_needed(self, manifest: dict[str, Any]) -> bool:
        """§3.4: the manifest asks for HRC, or the policy requires it for the sensitivity."""
        required_for = POLICY_DOCUMENTS[self.policy]["hrc_required_for"]
        constraints = manifest["constraints"]
        return bool(constraints["hrc_required"] or constraints["sensitivity"] in required_for)

    def expected_decision(
        self, manifest: dict[str, Any], kind: str, confirmed: MonotonicTime | None
    ) -> tuple[str, str, str | None] | None:
        """§4: None for GRANT, else (code, reason, field)."""
        if kind != VALID:
            reason, field = INVALID_KINDS[kind]
            return "INVALID_MANIFEST", reason, field
        window = manifest["window"]
        if window["epoch"] != self.epoch:
            return "LEASE_EXPIRED", "EPOCH_MISMATCH", None
        if self.ns < window["not_before_ns"]:
            return "LEASE_EXPIRED", "WINDOW_NOT_OPEN", None
        if self.ns >= window["not_after_ns"]:
            return "LEASE_EXPIRED", "WINDOW_CLOSED", None
        sensitivity = manifest["constraints"]["sensitivity"]
        score = self.scores.get(manifest["capability_id"])
        if score is None:
            return "INSUFFICIENT_TRUST", "NO_SCORE", None
        if score < self.threshold(sensitivity):
            return "INSUFFICIENT_TRUST", "BELOW_THRESHOLD", None
        if self.hrc_needed(manifest):  # §4.2 (the HRCs here are well formed and signed)
            if confirmed is None:
                return "HRC_REQUIRED", "HRC_MISSING", None
            if confirmed.epoch != self.epoch:
                return "HRC_REQUIRED", "HRC_EPOCH_MISMATCH", None
            if self.ns < confirmed.ns:
                return "HRC_REQUIRED", "HRC_FROM_FUTURE", None
            if self.ns - confirmed.ns >= POLICY_DOCUMENTS[self.policy]["hrc_max_age_ns"]:
                return "HRC_REQUIRED", "HRC_TOO_OLD", None
        return None

    def expected_authorization(
        self, lease: ModelLease, signer: Ed25519Signer, challenge: bytes, binding: str
    ) -> Expected | None:
        """§12.5: kernel verification (§7.3), recorded grant, standing (§8), replay."""
        if binding == "wrong_task":
            return "INVALID_TOKEN", "WRONG_TASK"
        if binding == "wrong_manifest":
            return "INVALID_TOKEN", "WRONG_MANIFEST"
        if lease.epoch != self.epoch:
            return "LEASE_EXPIRED", "EPOCH_MISMATCH"
        if self.ns < lease.issued:
            return "LEASE_EXPIRED", "NOT_YET_VALID"
        if self.ns >= lease.expires:
            return "LEASE_EXPIRED", "EXPIRED"
        if lease.revoked_cause is not None:
            return "LEASE_REVOKED", "REVOKED"
        if signer is not lease.holder:
            return "INVALID_TOKEN", "HOLDER_PROOF_INVALID"
        # every lease in the model is a recorded grant
        if lease.policy != self.policy:
            return "LEASE_REVOKED", "POLICY_CHANGED"
        if not self.trusted(lease, self.scores):
            return "LEASE_REVOKED", "TRUST_DECAYED"
        if (lease.lease_id, challenge) in self.used:
            return "INVALID_TOKEN", "HOLDER_PROOF_REPLAYED"
        return None

    def next_counter(self) -> int:
        self.counter += 1
        return self.counter

    # ---- acquire

    def build_manifest(
        self,
        task: int,
        nonce: int,
        capability: str,
        sensitivity: str,
        hrc_required: bool,
        holder: Ed25519Signer,
        window: str,
        before: int,
        length: int,
    ) -> dict[str, Any]:
        manifest = base_manifest(sensitivity, hrc_required)
        manifest["task_id"] = f"task-{task}"
        manifest["capability_id"] = capability
        manifest["inputs"] = {"nonce": nonce}
        manifest["holder"] = {"public_key": holder.public_key.hex()}
        now = self.ns
        if window == "open":  # not_before <= now < not_after
            bounds = (self.epoch, max(0, now - before), now + length)
        elif window == "not_open":
            bounds = (self.epoch, now + before + 1, now + before + 1 + length)
        elif window == "closed":  # the clock never reads below 1 s, so not_after >= 1
            end = max(1, now - before)
            bounds = (self.epoch, end - 1, end)
        elif window == "stale_epoch":
            stale = self.past_epochs[-1] if self.past_epochs else "retired-epoch"
            bounds = (stale, max(0, now - before), now + length)
        else:  # "base": the conformance window, [10 s, 3600 s) in EPOCH
            return manifest
        manifest["window"] = {
            "epoch": bounds[0],
            "not_before_ns": bounds[1],
            "not_after_ns": bounds[2],
        }
        return manifest

    @staticmethod
    def make_invalid(manifest: dict[str, Any], kind: str) -> None:
        if kind == "version":
            manifest["manifest_version"] = 2
        elif kind == "extra":
            manifest["extra"] = 1
        elif kind == "sensitivity":
            manifest["constraints"]["sensitivity"] = "EXTREME"
        elif kind == "empty_window":
            manifest["window"]["not_after_ns"] = manifest["window"]["not_before_ns"]
        elif kind == "float":
            manifest["inputs"]["ratio"] = 0.5
        elif kind == "missing":
            del manifest["capability_id"]
        elif kind == "holder_key":  # the identity point: small order
            manifest["holder"]["public_key"] = "01" + "00" * 31

    @initialize(
        target=leases,
        requests=st.lists(
            st.tuples(
                st.sampled_from(CAPABILITIES[:2]),
                st.sampled_from(["LOW", "MEDIUM"]),
                st.sampled_from(HOLDERS),
            ),
            min_size=1,
            max_size=3,
        ),
    )
    def first_leases(
        self, requests: list[tuple[str, str, Ed25519Signer]]
    ) -> MultipleResults[bytes]:
        """Start every run with a few leases, so that the other rules have something to judge."""
        granted: list[bytes] = []
        for index, (capability, sensitivity, holder) in enumerate(requests):
            granted += self.request_lease(
                10 + index,
                0,
                capability,
                sensitivity,
                False,
                holder,
                "open",
                0,
                3600 * SECOND,
                VALID,
                None,
            )
        return multiple(*granted)

    @rule(
        target=leases,
        task=st.integers(0, 2),
        nonce=st.integers(0, 2),
        capability=st.sampled_from(["files.read", "files.read", "mail.send"]),
        sensitivity=st.sampled_from(["LOW", "LOW", "MEDIUM", "HIGH"]),
        hrc_required=st.sampled_from([False, False, False, True]),
        holder=st.sampled_from(HOLDERS),
        before=st.sampled_from([0, 1, 5 * SECOND]),
        length=st.sampled_from([60 * SECOND, 200 * SECOND, 3600 * SECOND]),
        hrc_age=st.sampled_from([None, 0, 59 * SECOND, 60 * SECOND]),
    )
    def acquire_in_window(
        self,
        task: int,
        nonce: int,
        capability: str,
        sensitivity: str,
        hrc_required: bool,
        holder: Ed25519Signer,
        before: int,
        length: int,
        hrc_age: int | None,
    ) -> MultipleResults[bytes]:
        """A valid manifest whose window is open now: granted unless trust or HRC say no."""
        granted = self.request_lease(
            task,
            nonce,
            capability,
            sensitivity,
            hrc_required,
            holder,
            "open",
            before,
            length,
            VALID,
            hrc_age,
        )
        return multiple(*granted)

    @rule(
        target=leases,
        task=st.integers(0, 2),
        nonce=st.integers(0, 2),
        capability=st.sampled_from(CAPABILITIES),
        sensitivity=st.sampled_from(["LOW", "MEDIUM", "HIGH"]),
        hrc_required=st.booleans(),
        holder=st.sampled_from(HOLDERS),
        window=st.sampled_from(["open", "not_open", "closed", "stale_epoch", "base"]),
        before=st.sampled_from([0, 1, 5 * SECOND]),
        length=st.sampled_from([1, 60 * SECOND, 200 * SECOND, 3600 * SECOND]),
        kind=st.sampled_from(MANIFEST_KINDS),
        hrc_age=st.sampled_from([None, 0, 59 * SECOND, 60 * SECOND]),
    )
    def acquire_any(
        self,
        task: int,
        nonce: int,
        capability: str,
        sensitivity: str,
        hrc_required: bool,
        holder: Ed25519Signer,
        window: str,
        before: int,
        length: int,
        kind: str,
        hrc_age: int | None,
    ) -> MultipleResults[bytes]:
        """Any manifest: invalid ones, windows not open, closed or of another epoch."""
        return multiple(
            *self.request_lease(
                task,
                nonce,
                capability,
                sensitivity,
                hrc_required,
                holder,
                window,
                before,
                length,
                kind,
                hrc_age,
            )
        )

    def request_lease(
        self,
        task: int,
        nonce: int,
        capability: str,
        sensitivity: str,
        hrc_required: bool,
        holder: Ed25519Signer,
        window: str,
        before: int,
        length: int,
        kind: str,
        hrc_age: int | None,
    ) -> list[bytes]:
        """``acquire`` against the model; returns the id of a newly granted lease, if any."""
        manifest = self.build_manifest(
            task, nonce, capability, sensitivity, hrc_required, holder, window, before, length
        )
        self.make_invalid(manifest, kind)
        hrc: dict[str, object] | None = None
        confirmed: MonotonicTime | None = None
        if hrc_age is not None and kind == VALID:  # an HRC signs the digest of a valid manifest
            confirmed = MonotonicTime(self.epoch, max(0, self.ns - hrc_age))
            hrc = hrc_for(manifest, confirmed.ns, epoch=confirmed.epoch)
        return self.submit(manifest, kind, hrc, confirmed, holder)

    def submit(
        self,
        manifest: dict[str, Any],
        kind: str,
        hrc: dict[str, object] | None,
        confirmed: MonotonicTime | None,
        holder: Ed25519Signer,
    ) -> list[bytes]:
        expected = self.expected_decision(manifest, kind, confirmed)
        decision = self.manager.acquire(manifest, hrc)
        self.acquires += 1
        if expected is not None:
            assert isinstance(decision, Deny), (expected, decision)
            code, reason, field = expected
            assert (decision.code, decision.reason) == (code, reason), (expected, decision)
            if field is not None:
                assert decision.field == field, (expected, decision)
            return []
        assert isinstance(decision, Grant), decision
        claims = decision.claims
        window_end = manifest["window"]["not_after_ns"]
        capability = manifest["capability_id"]
        sensitivity = manifest["constraints"]["sensitivity"]
        duration = POLICY_DOCUMENTS[self.policy]["lease_duration_ns"][sensitivity]
        lease = ModelLease(
            lease_id=decision.lease_id,
            token=decision.token,
            task_id=manifest["task_id"],
            manifest_digest=json_digest(manifest),
            capability=capability,
            sensitivity=sensitivity,
            holder=holder,
            manifest=manifest,
            hrc=hrc,
            confirmed=confirmed,
            policy=self.policy,
            epoch=self.epoch,
            issued=self.ns,
            expires=min(self.ns + duration, window_end),
        )
        assert claims.lease_id == lease.lease_id
        assert claims.task_id == lease.task_id
        assert claims.capability_id == capability
        assert claims.manifest_digest == lease.manifest_digest
        assert claims.clock_epoch == self.epoch
        assert claims.issued_at_ns == lease.issued
        assert claims.expires_at_ns == lease.expires
        assert claims.holder_public_key == holder.public_key
        assert claims.policy_digest == json_digest(POLICY_DOCUMENTS[self.policy])
        assert (claims.hrc_digest is None) == (not self.hrc_needed(manifest))
        known = self.model.get(lease.lease_id)
        if known is not None:
            # §6.4: the same inputs give the same lease (and, Ed25519 being deterministic, the
            # same token); it keeps its revocation and its used challenges.
            note(f"re-acquired {lease.lease_id.hex()}")
            assert decision.token == known.token
            return []
        self.model[lease.lease_id] = lease
        return [lease.lease_id]

    @rule(target=leases, lease_id=leases)
    def acquire_again(self, lease_id: bytes) -> MultipleResults[bytes]:
        """The same manifest (and HRC) again: at the same instant, under the same snapshot and
        policy, the same lease (§6.4), which keeps its revocation; later, a new lease."""
        lease = self.model[lease_id]
        return multiple(
            *self.submit(lease.manifest, VALID, lease.hrc, lease.confirmed, lease.holder)
        )

    # ---- authorize

    @rule(
        lease_id=leases,
        source=st.sampled_from(["fresh", "replay", "reuse"]),
        wrong_key=st.sampled_from([False, False, False, True]),
        binding=st.sampled_from(["right"] * 6 + ["wrong_task", "wrong_manifest"]),
        size=st.sampled_from([16, 32, 64]),
        data=st.data(),
    )
    def authorize(
        self,
        lease_id: bytes,
        source: str,
        wrong_key: bool,
        binding: str,
        size: int,
        data: st.DataObject,
    ) -> None:
        lease = self.model[lease_id]
        accepted = sorted(c for (used_id, c) in self.used if used_id == lease_id)
        if source == "replay" and accepted:  # a proof this lease already accepted
            challenge = data.draw(st.sampled_from(accepted), label="replayed challenge")
        elif source in ("replay", "reuse") and self.presented:  # any challenge seen before
            challenge = data.draw(st.sampled_from(self.presented), label="reused challenge")
        else:
            challenge = fresh_challenge(self.next_counter(), size)
            self.presented.append(challenge)
        signer = other_holder(lease.holder) if wrong_key else lease.holder
        self.check_authorization(lease, challenge, signer, binding)

    @rule(lease_id=leases, size=st.sampled_from([16, 32, 64]))
    def authorize_as_holder(self, lease_id: bytes, size: int) -> None:
        """The honest executor: a fresh challenge signed by the holder, the right binding."""
        challenge = fresh_challenge(self.next_counter(), size)
        self.presented.append(challenge)
        lease = self.model[lease_id]
        self.check_authorization(lease, challenge, lease.holder, "right")

    def check_authorization(
        self, lease: ModelLease, challenge: bytes, signer: Ed25519Signer, binding: str
    ) -> None:
        lease_id = lease.lease_id
        proof = sign_holder_proof(signer, lease_id, challenge)
        task_id = lease.task_id if binding != "wrong_task" else lease.task_id + "-other"
        digest = (
            lease.manifest_digest
            if binding != "wrong_manifest"
            else hashlib.sha256(b"another manifest").digest()
        )
        expected = self.expected_authorization(lease, signer, challenge, binding)
        self.authorizes += 1
        try:
            verified = self.manager.authorize(
                lease.token, proof, task_id=task_id, manifest_digest=digest
            )
        except InvalidLease as refused:
            got = (str(refused.deny.code), refused.deny.reason)
            assert expected is not None, f"model says ALLOW, manager denied {got}"
            assert got == expected, f"expected {expected}, got {got}"
            return
        assert expected is None, f"expected {expected}, manager allowed"
        assert verified.lease_id == lease_id
        assert verified.token == lease.token
        assert verified.claims.task_id == lease.task_id
        self.used.add((lease_id, challenge))

    @rule()
    def authorize_unrecorded_token(self) -> None:
        """A token the issuer signed but this manager never granted: UNKNOWN_LEASE (§12.5)."""
        manifest = base_manifest()
        manifest["task_id"] = f"ghost-{self.next_counter()}"
        manifest["window"] = {
            "epoch": self.epoch,
            "not_before_ns": self.ns,
            "not_after_ns": self.ns + 3600 * SECOND,
        }
        rich = snapshot_document(1, {"files.read": 10000})
        grant = Authority(ISSUER, POLICIES[self.policy]).decide(manifest, rich, self.now())
        assert isinstance(grant, Grant), grant
        challenge = fresh_challenge(self.next_counter(), 32)
        self.authorizes += 1
        with pytest.raises(InvalidLease) as refused:
            self.manager.authorize(
                grant.token,
                sign_holder_proof(HOLDER, grant.lease_id, challenge),
                task_id=manifest["task_id"],
                manifest_digest=json_digest(manifest),
            )
        assert (refused.value.deny.code, refused.value.deny.reason) == (
            "INVALID_TOKEN",
            "UNKNOWN_LEASE",
        )

    # ---- revoke

    @rule(
        lease_id=leases,
        reason=st.sampled_from(["operator request", "executor compromised: \u2603"]),
        as_hex=st.booleans(),
    )
    def revoke(self, lease_id: bytes, reason: str, as_hex: bool) -> None:
        lease = self.model[lease_id]
        revocation = self.manager.revoke(lease_id.hex() if as_hex else lease_id, reason)
        assert revocation.lease_id == lease_id
        if lease.revoked_cause is None:
            assert not revocation.already_revoked
            assert (revocation.cause, revocation.reason) == ("explicit", reason)
            assert revocation.revoked_at == self.now()
            lease.revoked_cause, lease.revoked_reason = "explicit", reason
            return
        assert revocation.already_revoked
        assert revocation.cause == lease.revoked_cause
        if lease.revoked_reason is None:  # a trust-decay revocation: its text is the manager's
            assert revocation.reason
            lease.revoked_reason = revocation.reason
        assert revocation.reason == lease.revoked_reason

    @rule(raw=st.binary(min_size=16, max_size=16), as_hex=st.booleans())
    def revoke_unknown(self, raw: bytes, as_hex: bool) -> None:
        if raw in self.model:
            return
        with pytest.raises(UnknownLease):
            self.manager.revoke(raw.hex() if as_hex else raw, "never granted")

    # ---- trust

    @rule(
        change=st.sampled_from(
            ["forward", "forward", "forward", "same_again", "same_sequence", "backwards", "bad"]
        ),
        step=st.integers(1, 3),
        files=SCORES,
        mail=SCORES,
        net=st.one_of(st.none(), SCORES),
    )
    def apply_trust(self, change: str, step: int, files: int, mail: int, net: int | None) -> None:
        scores = {"files.read": files, "mail.send": mail}
        if net is not None:
            scores["net.fetch"] = net
        sequence = self.sequence + step
        if change == "same_again":
            sequence, scores = self.sequence, dict(self.scores)
        elif change == "same_sequence":
            sequence = self.sequence
        elif change == "backwards":
            sequence = self.sequence - step
        elif change == "bad":
            scores["files.read"] = 10001  # outside [0, 10000]: not a valid snapshot
        document = snapshot_document(sequence, scores)
        accepted = change != "bad" and (
            sequence > self.sequence or (sequence == self.sequence and scores == self.scores)
        )
        if not accepted:
            with pytest.raises(TrustSnapshotRejected):
                self.manager.apply_trust_snapshot(document)
            return
        self.apply_accepted(sequence, scores)

    def apply_accepted(self, sequence: int, scores: dict[str, int]) -> None:
        document = snapshot_document(sequence, scores)
        decayed = {
            lease.lease_id
            for lease in self.model.values()
            if self.live(lease) and lease.policy == self.policy and not self.trusted(lease, scores)
        }
        applied = self.manager.apply_trust_snapshot(document)
        assert applied.sequence == sequence
        assert applied.digest == json_digest(document)
        assert len(applied.revoked) == len(set(applied.revoked)), applied.revoked
        assert set(applied.revoked) == decayed
        self.sequence, self.scores = sequence, scores
        for lease_id in decayed:
            self.model[lease_id].revoked_cause = "trust_decay"

    @rule(
        capability=st.sampled_from(CAPABILITIES),
        score=st.sampled_from([None, 0, 2999, 3999, 5999, 6999]),
        sweep=st.sampled_from([True, True, False]),
    )
    def trust_drops(self, capability: str, score: int | None, sweep: bool) -> None:
        """One capability's score falls just below a threshold (or disappears)."""
        scores = dict(self.scores)
        if score is None:
            scores.pop(capability, None)
        else:
            scores[capability] = score
        if sweep:
            self.apply_accepted(self.sequence + 1, scores)
        else:
            self.publish_without_sweep_of(self.sequence + 1, scores)

    @rule(step=st.integers(1, 3), files=SCORES, mail=SCORES)
    def publish_without_sweep(self, step: int, files: int, mail: int) -> None:
        """A newer snapshot reached the trust source but the sweep never ran (a crash, §12.7)."""
        self.publish_without_sweep_of(
            self.sequence + step, {"files.read": files, "mail.send": mail}
        )

    def publish_without_sweep_of(self, sequence: int, scores: dict[str, int]) -> None:
        self.sequence, self.scores = sequence, scores
        self.publish_raw(parsed_snapshot(snapshot_document(sequence, scores)))

    # ---- the clock

    @rule(ns=st.sampled_from([0, 1, SECOND, 10 * SECOND, 59 * SECOND]))
    def advance_a_little(self, ns: int) -> None:
        self.clock.advance(ns)
        self.ns += ns

    @rule(
        jump=st.sampled_from(["advance", "advance", "advance", "reboot"]),
        ns=st.sampled_from([SECOND, 7 * SECOND, 121 * SECOND, 301 * SECOND, 3600 * SECOND, 10**13]),
    )
    def time_jumps(self, jump: str, ns: int) -> None:
        """A long wait past lease expiry and window ends, or a reboot (a new clock epoch)."""
        if jump == "advance":
            self.clock.advance(ns)
            self.ns += ns
            return
        # The counter restarts in a new epoch (at most 50 s after boot here); every lease and
        # every manifest window of the old epoch is now expired (§2.2).
        ns = min(ns, 50 * SECOND)
        self.boots += 1
        epoch = f"lifecycle-boot-{self.boots}"
        self.clock.reboot(epoch, ns)
        self.past_epochs.append(self.epoch)
        self.epoch, self.ns = epoch, ns

    @rule(lease_id=leases, last_live_ns=st.booleans())
    def advance_to_expiry(self, lease_id: bytes, last_live_ns: bool) -> None:
        """Stop on the last nanosecond of a lease, or on its expiry (intervals are half-open)."""
        lease = self.model[lease_id]
        if lease.epoch != self.epoch or lease.expires - last_live_ns <= self.ns:
            return
        step = lease.expires - int(last_live_ns) - self.ns
        self.clock.advance(step)
        self.ns += step

    # ---- close and reopen

    @rule(policy=st.sampled_from(["p1", "p1", "p2"]))
    def reopen(self, policy: str) -> None:
        before = self.manager.audit.verify().entries
        self.manager.close()
        self.manager = self.open_manager(policy)
        added = 0
        if policy != self.policy:  # §12.4 step 4: an authority entry when the policy changed
            self.policy = policy
            self.authority_entries += 1
            added = 1
        # nothing was in doubt, so recovery adds nothing else
        assert self.manager.audit.verify().entries == before + added

    # ---- invariants

    @invariant()
    def manager_agrees_with_model(self) -> None:
        report = self.manager.audit.verify()
        status = self.manager.status()
        self.check_audit(report)
        # No failure was injected, so nothing is in doubt: the store's head is the last entry.
        assert status.audit_head == report.head
        self.check_status(status)

    def check_audit(self, report: VerifyReport) -> None:
        """The chain verifies, only grows (the new entries extend the old head), and holds one
        entry per acquire, per authorize and per revocation (§12.3)."""
        assert report.ok, report
        assert report.head is not None
        new = self.audit_records(self.audit_entries)
        assert self.audit_entries + len(new) == report.entries, "the audit log shrank"
        if new:
            assert new[0]["seq"] == self.audit_entries
            if self.audit_head is not None:
                assert new[0]["prev_hash"] == self.audit_head.entry_hash.hex()
        elif self.audit_head is not None:
            assert report.head == self.audit_head
        self.audit_entries, self.audit_head = report.entries, report.head
        for record in new:
            self.events[str(record["event"])] += 1
            if record["event"] == "authorization" and record["outcome"] == {"result": "ALLOW"}:
                self.events["ALLOW"] += 1
        events = self.events
        assert events["log_created"] == 1
        assert events["decision"] == self.acquires
        assert events["authorization"] == self.authorizes
        assert events["ALLOW"] == len(self.used)
        revoked = sum(lease.revoked_cause is not None for lease in self.model.values())
        assert events["revocation"] == revoked, (events, revoked)
        assert events["authority"] == self.authority_entries
        for settled in (
            "grant_void",
            "authorization_void",
            "revocation_recovered",
            "torn_tail_quarantined",
        ):
            assert events[settled] == 0, events

    def check_status(self, status: ManagerStatus) -> None:
        """§12.8, and nothing acknowledged is lost: every granted lease, every revocation."""
        assert status.now == self.now()
        assert status.trust_sequence == self.sequence
        seen = {entry.lease.lease_id: entry for entry in status.leases}
        assert len(seen) == len(status.leases)
        assert set(seen) == set(self.model), "status lost or invented a lease"
        for lease_id, lease in self.model.items():
            entry = seen[lease_id]
            assert (entry.state, entry.reason) == self.expected_status(lease), (
                lease_id.hex(),
                entry,
                self.expected_status(lease),
            )
            record = entry.lease
            assert record.token == lease.token
            assert record.task_id == lease.task_id
            assert record.capability_id == lease.capability
            assert record.manifest_digest == lease.manifest_digest
            assert record.clock_epoch == lease.epoch
            assert (record.issued_at_ns, record.expires_at_ns) == (lease.issued, lease.expires)


class MemoryLifecycle(LifecycleMachine):
    """The fakes; reopening builds a new manager over the same store and audit objects."""

    def open_manager(self, policy: str) -> LeaseManager:
        if not hasattr(self, "store"):
            self.store = MemoryLeaseStore()
            self.audit = MemoryAuditLog()
            self.trust: TrustSource = MemoryTrustSource()
        return LeaseManager(
            signer=ISSUER,
            policy=POLICIES[policy],
            clock=self.clock,
            trust_source=self.trust,
            store=self.store,
            audit=self.audit,
        )

    def publish_raw(self, snapshot: TrustSnapshot) -> None:
        self.trust.publish(snapshot)

    def audit_records(self, start: int) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.audit.lines[start:]]

    def teardown(self) -> None:
        super().teardown()
        with tempfile.TemporaryDirectory() as scratch:
            log = Path(scratch) / "audit.jsonl"
            log.write_bytes(b"".join(self.audit.lines))
            assert_replays(log)


class DurableLifecycle(LifecycleMachine):
    """SQLite store, JSONL audit log and ``trust.json`` in a state directory of its own."""

    root: ClassVar[Path]

    def open_manager(self, policy: str) -> LeaseManager:
        if not hasattr(self, "directory"):
            self.directory = Path(tempfile.mkdtemp(prefix="lifecycle-", dir=self.root))
        return LeaseManager.open(
            self.directory, signer=ISSUER, policy=POLICIES[policy], clock=self.clock
        )

    def publish_raw(self, snapshot: TrustSnapshot) -> None:
        FileTrustSource(self.directory / "trust.json").publish(snapshot)

    def audit_records(self, start: int) -> list[dict[str, Any]]:
        text = (self.directory / "audit.jsonl").read_bytes()
        assert text.endswith(b"\n")
        return [json.loads(line) for line in text.splitlines()[start:]]

    def teardown(self) -> None:
        try:
            super().teardown()
            assert_replays(self.directory / "audit.jsonl")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def assert_replays(log: Path) -> ReplayReport:
    """Every decision the run recorded re-runs through the kernel byte for byte (§12.10)."""
    report = replay_file(log, workers=1)
    assert report.ok, report.to_json()
    recorded = sum(
        json.loads(line)["event"] == "decision" for line in log.read_bytes().splitlines()
    )
    accounted = (
        report.decisions_replayed
        + sum(report.decisions_checked.values())
        + sum(report.decisions_skipped.values())
    )
    assert report.decisions == recorded == accounted
    return report


# A run is up to 50 steps, each checked against the whole audit log and status: a stateful
# example costs what dozens of plain ones do. So both machines run fewer examples than the
# profile asks for (scaled with it, never above it): the fakes all of ``quick`` but a quarter of
# ``thorough``; the durable adapters, whose every step fsyncs, a quarter and a tenth, with
# shorter runs.
_PROFILE = settings()
MEMORY_SETTINGS = settings(
    _PROFILE, max_examples=min(_PROFILE.max_examples, max(60, _PROFILE.max_examples // 4))
)
DURABLE_SETTINGS = settings(
    _PROFILE,
    max_examples=min(_PROFILE.max_examples, max(15, _PROFILE.max_examples // 10)),
    stateful_step_count=min(_PROFILE.stateful_step_count, 30),
)


def test_lifecycle_over_the_fakes() -> None:
    run_state_machine_as_test(MemoryLifecycle, settings=MEMORY_SETTINGS)


def test_lifecycle_over_the_durable_adapters(tmp_path: Path) -> None:
    class Machine(DurableLifecycle):
        root = tmp_path

    run_state_machine_as_test(Machine, settings=DURABLE_SETTINGS)


# ------------------------------------------------------------------------------- examples
# Corners the machine reaches only by luck, spelled out.


def _open(directory: Path, clock: FakeClock) -> LeaseManager:
    return LeaseManager.open(directory, signer=ISSUER, policy=POLICIES["p1"], clock=clock)


def _manifest(task_id: str, clock: FakeClock, length: int) -> dict[str, Any]:
    now = clock.now()
    manifest = base_manifest()
    manifest["task_id"] = task_id
    manifest["window"] = {
        "epoch": now.epoch,
        "not_before_ns": now.ns,
        "not_after_ns": now.ns + length,
    }
    return manifest


def _grant(manager: LeaseManager, manifest: dict[str, Any]) -> Grant:
    decision = manager.acquire(manifest)
    assert isinstance(decision, Grant), decision
    return decision


def _authorize(
    manager: LeaseManager,
    grant: Grant,
    manifest: dict[str, Any],
    challenge: bytes,
    signer: Ed25519Signer = HOLDER,
) -> tuple[str, str] | None:
    """None if authorized, else the denial's (code, reason)."""
    try:
        manager.authorize(
            grant.token,
            sign_holder_proof(signer, grant.lease_id, challenge),
            task_id=manifest["task_id"],
            manifest_digest=json_digest(manifest),
        )
    except InvalidLease as refused:
        return str(refused.deny.code), refused.deny.reason
    return None


def _states(manager: LeaseManager) -> dict[bytes, tuple[str, str | None]]:
    return {entry.lease.lease_id: (entry.state, entry.reason) for entry in manager.status().leases}


def test_trust_decay_sweeps_a_lease_on_its_last_nanosecond_but_not_at_its_expiry(
    tmp_path: Path,
) -> None:
    clock = FakeClock(EPOCH, START_NS)
    with _open(tmp_path, clock) as manager:
        manager.apply_trust_snapshot(snapshot_document(1, {"files.read": 8000}))
        short_manifest = _manifest("short", clock, 60 * SECOND)  # clamped: ends at 160 s
        long_manifest = _manifest("long", clock, 3600 * SECOND)  # LOW: 300 s, ends at 400 s
        short, long = _grant(manager, short_manifest), _grant(manager, long_manifest)
        assert short.claims.expires_at_ns == START_NS + 60 * SECOND
        assert long.claims.expires_at_ns == START_NS + 300 * SECOND
        clock.advance(60 * SECOND - 1)  # the last nanosecond of the short lease
        assert _authorize(manager, short, short_manifest, fresh_challenge(1, 16)) is None
        clock.advance(1)  # its expiry: [issued, expires) is half-open
        assert _authorize(manager, short, short_manifest, fresh_challenge(2, 16)) == (
            "LEASE_EXPIRED",
            "EXPIRED",
        )
        applied = manager.apply_trust_snapshot(snapshot_document(2, {"files.read": 2999}))
        assert applied.revoked == (long.lease_id,)  # the expired one is not live: not revoked
        assert _states(manager) == {
            short.lease_id: ("expired", "EXPIRED"),
            long.lease_id: ("revoked", "trust_decay"),
        }
        assert manager.audit.verify().ok


def test_used_proofs_and_revocations_survive_a_reopen(tmp_path: Path) -> None:
    clock = FakeClock(EPOCH, START_NS)
    first, second = fresh_challenge(1, 32), fresh_challenge(2, 32)
    manifest, other = (
        _manifest("kept", clock, 3600 * SECOND),
        _manifest("gone", clock, 3600 * SECOND),
    )
    with _open(tmp_path, clock) as manager:
        manager.apply_trust_snapshot(snapshot_document(1, {"files.read": 8000}))
        grant, revoked = _grant(manager, manifest), _grant(manager, other)
        assert _authorize(manager, grant, manifest, first) is None
        # A proof by the wrong key is refused and does not use up its challenge.
        assert _authorize(manager, grant, manifest, second, OTHER_HOLDER) == (
            "INVALID_TOKEN",
            "HOLDER_PROOF_INVALID",
        )
        manager.revoke(revoked.lease_id, "operator request")
        entries = manager.audit.verify().entries
    with _open(tmp_path, clock) as manager:
        assert manager.audit.verify().entries == entries  # nothing was in doubt
        assert _authorize(manager, grant, manifest, first) == (
            "INVALID_TOKEN",
            "HOLDER_PROOF_REPLAYED",
        )
        assert _authorize(manager, grant, manifest, second) is None
        assert _authorize(manager, revoked, other, fresh_challenge(3, 32)) == (
            "LEASE_REVOKED",
            "REVOKED",
        )
        again = manager.revoke(revoked.lease_id, "a second time")
        assert again.already_revoked and again.reason == "operator request"
        assert _states(manager) == {
            grant.lease_id: ("live", None),
            revoked.lease_id: ("revoked", "explicit"),
        }


def test_a_sweep_cut_short_after_publishing_is_completed_by_applying_again() -> None:
    clock = FakeClock(EPOCH, START_NS)
    trust = MemoryTrustSource(snapshot_document(1, {"files.read": 8000}))
    manager = LeaseManager(
        signer=ISSUER,
        policy=POLICIES["p1"],
        clock=clock,
        trust_source=trust,
        store=MemoryLeaseStore(),
        audit=MemoryAuditLog(),
    )
    manifest = _manifest("decays", clock, 3600 * SECOND)
    grant = _grant(manager, manifest)
    decayed = snapshot_document(2, {"files.read": 100})
    trust.publish(parsed_snapshot(decayed))  # published; the process died before the sweep
    assert _authorize(manager, grant, manifest, fresh_challenge(1, 16)) == (
        "LEASE_REVOKED",
        "TRUST_DECAYED",
    )
    assert _states(manager) == {grant.lease_id: ("ended", "TRUST_DECAYED")}
    with pytest.raises(TrustSnapshotRejected):  # same sequence, other scores
        manager.apply_trust_snapshot(snapshot_document(2, {"files.read": 9000}))
    assert manager.apply_trust_snapshot(decayed).revoked == (grant.lease_id,)
    assert manager.apply_trust_snapshot(decayed).revoked == ()  # idempotent
    assert _authorize(manager, grant, manifest, fresh_challenge(2, 16)) == (
        "LEASE_REVOKED",
        "REVOKED",
    )
    # Trust coming back does not bring a revoked lease back.
    manager.apply_trust_snapshot(snapshot_document(3, {"files.read": 9000}))
    assert _states(manager) == {grant.lease_id: ("revoked", "trust_decay")}


def test_after_a_reboot_old_manifests_and_leases_are_expired(tmp_path: Path) -> None:
    clock = FakeClock(EPOCH, START_NS)
    with _open(tmp_path, clock) as manager:
        manager.apply_trust_snapshot(snapshot_document(1, {"files.read": 8000}))
        old = _grant(manager, base_manifest())
        clock.reboot("second-boot", 20 * SECOND)
        refused = manager.acquire(base_manifest())  # its window is in the old epoch
        assert isinstance(refused, Deny)
        assert (refused.code, refused.reason) == ("LEASE_EXPIRED", "EPOCH_MISMATCH")
        assert _authorize(manager, old, base_manifest(), fresh_challenge(1, 16)) == (
            "LEASE_EXPIRED",
            "EPOCH_MISMATCH",
        )
        # Not live in this epoch, so a trust collapse does not revoke it.
        assert manager.apply_trust_snapshot(snapshot_document(2, {"files.read": 0})).revoked == ()
        manager.apply_trust_snapshot(snapshot_document(3, {"files.read": 8000}))
        fresh_manifest = _manifest("after-reboot", clock, 3600 * SECOND)
        fresh = _grant(manager, fresh_manifest)
        assert fresh.claims.clock_epoch == "second-boot"
    with _open(tmp_path, clock) as manager:
        assert _states(manager) == {
            old.lease_id: ("expired", "EPOCH_MISMATCH"),
            fresh.lease_id: ("live", None),
        }
        assert _authorize(manager, fresh, fresh_manifest, fresh_challenge(2, 16)) is None
