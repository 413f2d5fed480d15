"""The durable approvals queue of a governed manager (spec §13.11, §12.4).

An ``APPROVAL_REQUIRED / APPROVALS_INSUFFICIENT`` decision opens a review of the manifest
digest; reviewers submit signed approvals to the queue (``submit_approval``, ``pda-lease
approvals ...``), which verifies them and records them in the audit log and the store; every
later ``acquire`` passes the queued approvals to the kernel after the caller's own. The kernel
stays the judge: these tests check what the manager passes it, what it records, what it
refuses, and that an approval in doubt is rolled forward at reopen. Each flow runs over the
in-memory fakes and over the durable adapters.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pda_lease import Deny, Grant, LeasePolicy, UsageError
from pda_lease import conformance as cv
from pda_lease.adapters import FakeClock, MemoryAuditLog, MemoryLeaseStore, MemoryTrustSource
from pda_lease.adapters.errors import StateError, StateFailure
from pda_lease.adapters.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ApprovalRecord,
    LeaseRecord,
    ReviewRecord,
    SqliteLeaseStore,
)
from pda_lease.kernel.decide import Authority, decide
from pda_lease.kernel.governance import GovernancePolicy, sign_approval
from pda_lease.kernel.inputs import MonotonicTime, json_digest
from pda_lease.manager import (
    AUDIT_FILE,
    ApprovalRejected,
    ApprovalRejection,
    LeaseManager,
    ReviewStatus,
    _decisive,
)
from pda_lease.replay import replay_file
from test_cli_state import run as _cli  # the CLI test helper
from test_policy_cli import World  # the governed state directory of the policy CLI tests

SECOND = cv.SECOND
V1 = GovernancePolicy.from_json(cv.governance_policy(1))
WEB = ("fs.read", "web.fetch")
START = 100 * SECOND
BOB_HEX, CAROL_HEX, ERIN_HEX = (s.public_key.hex() for s in (cv.BOB, cv.CAROL, cv.ERIN))


def _without_bob() -> GovernancePolicy:
    """Version 2 of the policy: bob is no longer a reviewer; network needs carol and erin."""
    document = cv.governance_policy(2)
    document["reviewers"] = {CAROL_HEX: "carol", ERIN_HEX: "erin"}
    document["categories"]["network"]["reviewers"] = sorted([CAROL_HEX, ERIN_HEX])
    return GovernancePolicy.from_json(document)


class Rig:
    """A governed manager over the fakes (``memory``) or a state directory (``sqlite``)."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind = kind
        self.state = tmp / "state"
        self.clock = FakeClock(cv.EPOCH, START)
        self.trust = MemoryTrustSource(cv.base_snapshot(9500))
        self.store = MemoryLeaseStore()
        self.audit = MemoryAuditLog()
        self.manager = self.open(V1)

    def open(self, policy: LeasePolicy | GovernancePolicy) -> LeaseManager:
        if self.kind == "memory":
            return LeaseManager(
                signer=cv.ISSUER,
                policy=policy,
                clock=self.clock,
                trust_source=self.trust,
                store=self.store,
                audit=self.audit,
            )
        return LeaseManager.open(
            self.state, signer=cv.ISSUER, policy=policy, clock=self.clock, trust_source=self.trust
        )

    def reopen(self, policy: LeasePolicy | GovernancePolicy = V1) -> LeaseManager:
        self.manager.close()
        self.manager = self.open(policy)
        return self.manager

    def records(self) -> list[dict[str, Any]]:
        if self.kind == "memory":
            return [json.loads(line) for line in self.audit.lines]
        text = (self.state / AUDIT_FILE).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [record for record in self.records() if record["event"] == name]

    def at(self, ns: int) -> None:
        now = self.clock.now().ns
        self.clock.advance(ns - now)


@pytest.fixture(params=["memory", "sqlite"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    made = Rig(request.param, tmp_path)
    yield made
    made.manager.close()


def web_manifest(task_id: str = "task-web") -> dict[str, Any]:
    return dict(cv.base_manifest(), task_id=task_id)


def digest_of(manifest: dict[str, Any]) -> bytes:
    return json_digest(manifest)


def assert_deny(decision: object, code: str, reason: str, field: str | None = None) -> None:
    assert isinstance(decision, Deny), decision
    assert (str(decision.code), decision.reason) == (code, reason), decision
    if field is not None:
        assert decision.field == field


def open_review(rig: Rig, manifest: dict[str, Any], at_ns: int = 90 * SECOND) -> dict[str, object]:
    """Acquire without enough approvals: the manager opens a review. Returns the request."""
    request = cv.request_for(manifest, tools=WEB, at_ns=at_ns)
    decision = rig.manager.acquire(manifest, None, request)
    assert_deny(decision, "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT", "categories.network")
    return request


# ---------------------------------------------------------------------------------- flow


def by_reviewer(documents: list[dict[str, object]]) -> list[dict[str, object]]:
    """Spec §13.11: the queue passes one approval per reviewer, ordered by reviewer key."""
    return sorted(documents, key=lambda document: str(document["reviewer"]))


def test_the_queue_turns_a_refusal_into_a_grant(rig: Rig) -> None:
    m = web_manifest()
    digest = digest_of(m)
    assert rig.manager.reviews() == []
    request = open_review(rig, m)

    (review,) = rig.manager.reviews()
    assert rig.manager.review(digest) == review == rig.manager.review(digest.hex())
    assert review.manifest_digest == digest
    assert (review.task_id, review.capability_id) == (m["task_id"], m["capability_id"])
    assert (review.principal, review.principal_name) == (cv.ALICE.public_key, "alice")
    assert review.rule == "categories.network"
    assert review.requested_at == MonotonicTime(cv.EPOCH, START)
    assert review.approvals == () and review.state == "pending"
    (opened,) = rig.events("review_requested")
    assert opened["seq"] == review.audit_seq
    assert opened == {
        **opened,
        "manifest_digest": digest.hex(),
        "task_id": m["task_id"],
        "capability_id": m["capability_id"],
        "principal": cv.ALICE.public_key.hex(),
        "rule": "categories.network",
        "at": {"epoch": cv.EPOCH, "ns": START},
    }

    bob = cv.approval_for(m, cv.BOB)
    status = rig.manager.submit_approval(bob)
    assert status.state == "pending"
    assert [(a.reviewer, a.reviewer_name, a.verdict) for a in status.approvals] == [
        (cv.BOB.public_key, "bob", "APPROVE")
    ]
    assert status.approvals[0].signed_at == MonotonicTime(cv.EPOCH, 95 * SECOND)

    rig.at(101 * SECOND)
    assert_deny(
        rig.manager.acquire(m, None, request), "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT"
    )
    assert len(rig.events("review_requested")) == 1  # one review per digest

    carol = cv.approval_for(m, cv.CAROL, at_ns=101 * SECOND)
    status = rig.manager.submit_approval(carol)
    assert [a.reviewer_name for a in status.approvals] == ["bob", "carol"]
    rig.at(102 * SECOND)
    granted = rig.manager.acquire(m, None, request)  # the caller passes no approvals
    assert isinstance(granted, Grant), granted
    expected = decide(
        Authority(cv.ISSUER, V1),
        m,
        cv.base_snapshot(9500),
        MonotonicTime(cv.EPOCH, 102 * SECOND),
        None,
        request,
        by_reviewer([bob, carol]),
    )
    assert granted == expected
    assert granted.claims.governance is not None
    assert granted.claims.governance.approvals_digest == json_digest(by_reviewer([bob, carol]))

    decisions = rig.events("decision")
    assert [d["approvals"] for d in decisions] == [
        None,
        {"json": [bob]},
        {"json": by_reviewer([bob, carol])},
    ]
    approvals = rig.events("approval")
    assert [a["document"] for a in approvals] == [bob, carol]
    assert approvals[0] == {
        **approvals[0],
        "manifest_digest": digest.hex(),
        "reviewer": BOB_HEX,
        "verdict": "APPROVE",
        "at": {"epoch": cv.EPOCH, "ns": START},
    }
    assert [a.audit_seq for a in rig.manager.review(digest).approvals] == [  # type: ignore[union-attr]
        a["seq"] for a in approvals
    ]
    assert rig.manager.verify_audit().ok
    if rig.kind == "sqlite":
        rig.manager.close()
        report = replay_file(rig.state / AUDIT_FILE, workers=1)
        assert report.ok, report
        assert report.decisions_replayed == 3
        # Durable: a new process sees the same queue.
        reopened = rig.reopen()
        assert [r.to_json() for r in reopened.reviews()] == [status.to_json()]


def test_the_callers_approvals_come_first_and_a_malformed_value_is_passed_as_is(
    rig: Rig,
) -> None:
    m = web_manifest()
    request = open_review(rig, m)
    bob = cv.approval_for(m, cv.BOB)
    carol = cv.approval_for(m, cv.CAROL)
    rig.manager.submit_approval(bob)
    rig.at(101 * SECOND)
    granted = rig.manager.acquire(m, None, request, [carol])
    assert isinstance(granted, Grant)
    assert granted.claims.governance is not None
    assert granted.claims.governance.approvals_digest == json_digest([carol, bob])
    assert_deny(
        rig.manager.acquire(m, None, request, "not a list"),
        "APPROVAL_REQUIRED",
        "APPROVALS_MALFORMED",
        "approvals",
    )
    assert [d["approvals"] for d in rig.events("decision")][1:] == [
        {"json": [carol, bob]},
        {"json": "not a list"},
    ]


def test_a_batch_opens_one_review_per_digest(rig: Rig) -> None:
    m, other = web_manifest(), web_manifest("task-web-2")
    requests = [cv.request_for(x, tools=WEB) for x in (m, m, other)]
    decisions = rig.manager.acquire_many([m, m, other], requests=requests)
    for decision in decisions:
        assert_deny(decision, "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT")
    assert [r.manifest_digest for r in rig.manager.reviews()] == [digest_of(m), digest_of(other)]
    assert len(rig.events("review_requested")) == 2
    # Decisions that need no review, or refuse before step A, open none.
    rig.manager.acquire(web_manifest("task-read"), None, cv.request_for(web_manifest("task-read")))
    rig.manager.acquire(web_manifest("task-nobody"))  # REQUEST_MISSING
    assert len(rig.manager.reviews()) == 2


# ---------------------------------------------------------------------------------- refusals


def _resigned(document: dict[str, object], **changes: object) -> dict[str, object]:
    return {**document, **changes}


def test_every_rejection_reason_and_nothing_is_recorded(rig: Rig) -> None:
    m = web_manifest()
    digest = digest_of(m)
    open_review(rig, m)
    bob = cv.approval_for(m, cv.BOB)
    flipped = "0" if str(bob["signature"])[0] != "0" else "1"
    cases: list[tuple[object, ApprovalRejection]] = [
        ({"approval_version": 1}, ApprovalRejection.MALFORMED),
        (_resigned(bob, verdict="MAYBE"), ApprovalRejection.MALFORMED),
        ([bob], ApprovalRejection.MALFORMED),
        (cv.approval_for(m, cv.OUTSIDER), ApprovalRejection.UNKNOWN_REVIEWER),
        (
            _resigned(bob, signature=flipped + str(bob["signature"])[1:]),
            ApprovalRejection.BAD_SIGNATURE,
        ),
        (_resigned(bob, verdict="DENY"), ApprovalRejection.BAD_SIGNATURE),
        (cv.approval_for(web_manifest("task-unseen"), cv.BOB), ApprovalRejection.NO_SUCH_REVIEW),
        (
            sign_approval(cv.BOB, digest, "APPROVE", MonotonicTime(cv.OTHER_EPOCH, SECOND)),
            ApprovalRejection.EPOCH_MISMATCH,
        ),
        (cv.approval_for(m, cv.BOB, at_ns=START + 1), ApprovalRejection.FROM_FUTURE),
    ]
    before = rig.records()
    for document, reason in cases:
        with pytest.raises(ApprovalRejected) as caught:
            rig.manager.submit_approval(document)
        assert caught.value.reason is reason, (document, caught.value)
        assert isinstance(caught.value, UsageError)
    assert rig.records() == before
    # Signed exactly now is accepted (not from the future).
    rig.manager.submit_approval(cv.approval_for(m, cv.BOB, at_ns=START))
    # A reviewer's denial is final: a second DENY of theirs is refused, an APPROVE recorded.
    rig.manager.submit_approval(cv.approval_for(m, cv.CAROL, "DENY"))
    with pytest.raises(ApprovalRejected) as caught:
        rig.manager.submit_approval(cv.approval_for(m, cv.CAROL, "DENY", at_ns=96 * SECOND))
    assert caught.value.reason is ApprovalRejection.ALREADY_DENIED
    status = rig.manager.submit_approval(cv.approval_for(m, cv.CAROL, at_ns=97 * SECOND))
    assert [a.verdict for a in status.approvals] == ["APPROVE", "DENY", "APPROVE"]
    assert status.state == "denied"


def test_an_ungoverned_manager_has_no_queue(tmp_path: Path) -> None:
    with LeaseManager.open(
        tmp_path,
        signer=cv.ISSUER,
        policy=LeasePolicy.from_json(cv.base_policy()),
        clock=FakeClock(cv.EPOCH, START),
        trust_source=MemoryTrustSource(cv.base_snapshot()),
    ) as manager:
        with pytest.raises(UsageError) as caught:
            manager.submit_approval(cv.approval_for(cv.base_manifest(), cv.BOB))
        assert not isinstance(caught.value, ApprovalRejected)
        assert manager.reviews() == []
        assert manager.review(bytes(32)) is None
        with pytest.raises(UsageError):
            manager.review("not hex")


def test_resubmitting_the_same_document_records_nothing(rig: Rig) -> None:
    m = web_manifest()
    open_review(rig, m)
    bob = cv.approval_for(m, cv.BOB)
    first = rig.manager.submit_approval(bob)
    count = len(rig.records())
    rig.at(120 * SECOND)
    again = rig.manager.submit_approval(json.loads(json.dumps(bob)))
    assert again == first
    assert len(rig.records()) == count
    assert len(rig.events("approval")) == 1


def test_a_deny_is_final(rig: Rig) -> None:
    m = web_manifest()
    request = open_review(rig, m)
    status = rig.manager.submit_approval(cv.approval_for(m, cv.BOB, "DENY"))
    assert status.state == "denied"
    carol = cv.approval_for(m, cv.CAROL)
    status = rig.manager.submit_approval(carol)  # still recorded, still denied
    assert status.state == "denied" and len(status.approvals) == 2
    bob_approves = cv.approval_for(m, cv.BOB, at_ns=96 * SECOND)
    status = rig.manager.submit_approval(bob_approves)
    assert status.state == "denied"
    rig.at(101 * SECOND)
    assert_deny(rig.manager.acquire(m, None, request), "POLICY_DENIED", "REVIEWER_DENIED")
    assert_deny(
        rig.manager.acquire(m, None, request, [bob_approves, carol]),
        "POLICY_DENIED",
        "REVIEWER_DENIED",
    )
    assert [r.state for r in rig.manager.reviews()] == ["denied"]


def test_an_expired_approval_stops_counting_and_a_fresh_one_counts(rig: Rig) -> None:
    m = web_manifest()
    open_review(rig, m)
    rig.manager.submit_approval(cv.approval_for(m, cv.BOB))  # signed at 95 s
    rig.manager.submit_approval(cv.approval_for(m, cv.CAROL))
    ttl = V1.approval_ttl_ns
    rig.at(95 * SECOND + ttl)  # exactly ttl old: no longer counts (§13.5)
    request = cv.request_for(m, tools=WEB, at_ns=95 * SECOND + ttl)
    assert_deny(
        rig.manager.acquire(m, None, request), "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT"
    )
    now = rig.clock.now().ns
    rig.manager.submit_approval(cv.approval_for(m, cv.BOB, at_ns=now))
    assert_deny(
        rig.manager.acquire(m, None, request), "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT"
    )
    rig.manager.submit_approval(cv.approval_for(m, cv.CAROL, at_ns=now))
    assert isinstance(rig.manager.acquire(m, None, request), Grant)
    assert len(rig.manager.review(digest_of(m)).approvals) == 4  # type: ignore[union-attr]


def test_a_reviewer_removed_by_a_policy_upgrade_no_longer_counts_or_blocks(rig: Rig) -> None:
    m = web_manifest()
    open_review(rig, m)
    bob_denies = cv.approval_for(m, cv.BOB, "DENY")
    carol = cv.approval_for(m, cv.CAROL)
    rig.manager.submit_approval(bob_denies)
    rig.manager.submit_approval(carol)
    v2 = _without_bob()
    manager = rig.reopen(v2)
    request = cv.request_for(m, tools=WEB)
    assert_deny(manager.acquire(m, None, request), "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT")
    assert rig.events("decision")[-1]["approvals"] == {"json": [carol]}  # bob's left out
    with pytest.raises(ApprovalRejected) as caught:
        manager.submit_approval(cv.approval_for(m, cv.BOB, at_ns=96 * SECOND))
    assert caught.value.reason is ApprovalRejection.UNKNOWN_REVIEWER
    status = manager.submit_approval(cv.approval_for(m, cv.ERIN))
    assert [a.reviewer_name for a in status.approvals] == [None, "carol", "erin"]
    granted = manager.acquire(m, None, request)
    assert isinstance(granted, Grant), granted
    assert granted.claims.policy_digest == v2.digest


# ---------------------------------------------------------------------------------- crashes


def _fail_once(rig: Rig, method: str) -> None:
    """The store fails right after the audit append: the entry is written, not committed."""
    store = rig.manager.store
    original = getattr(store, method)

    def failing(record: object) -> bool:
        setattr(store, method, original)
        raise StateError(StateFailure.STORE_UNAVAILABLE, "injected failure")

    setattr(store, method, failing)


def test_an_approval_in_doubt_is_rolled_forward_at_reopen(rig: Rig) -> None:
    m = web_manifest()
    request = open_review(rig, m)
    rig.manager.submit_approval(cv.approval_for(m, cv.BOB))
    carol = cv.approval_for(m, cv.CAROL)
    _fail_once(rig, "add_approval")
    with pytest.raises(StateError):
        rig.manager.submit_approval(carol)
    (entry,) = [a for a in rig.events("approval") if a["reviewer"] == CAROL_HEX]
    assert len(rig.manager.store.approvals(digest_of(m))) == 1  # not committed
    manager = rig.reopen()
    recovered = rig.records()[-1]
    assert recovered["event"] == "approval_recovered"
    assert recovered["entry_seq"] == entry["seq"]
    assert recovered["reviewer"] == CAROL_HEX
    stored = manager.store.approvals(digest_of(m))
    assert [r.reviewer for r in stored] == [cv.BOB.public_key, cv.CAROL.public_key]
    assert stored[1].audit_seq == entry["seq"]
    assert isinstance(manager.acquire(m, None, request), Grant)
    rig.reopen()  # settled once: nothing more to recover
    assert len(rig.events("approval_recovered")) == 1
    assert rig.manager.verify_audit().ok


def test_a_review_in_doubt_is_rolled_forward_at_reopen(rig: Rig) -> None:
    m = web_manifest()
    _fail_once(rig, "add_review")
    request = cv.request_for(m, tools=WEB)
    assert_deny(rig.manager.acquire(m, None, request), "UNAVAILABLE", "STORE_UNAVAILABLE")
    (entry,) = rig.events("review_requested")
    assert rig.manager.reviews() == []
    manager = rig.reopen()
    assert rig.records()[-1]["event"] == "review_recovered"
    (review,) = manager.reviews()
    assert review.audit_seq == entry["seq"] and review.rule == "categories.network"
    manager.submit_approval(cv.approval_for(m, cv.BOB))


def test_an_approval_in_doubt_is_settled_by_the_next_operation_too(rig: Rig) -> None:
    m = web_manifest()
    request = open_review(rig, m)
    rig.manager.submit_approval(cv.approval_for(m, cv.BOB))
    _fail_once(rig, "add_approval")
    with pytest.raises(StateError):
        rig.manager.submit_approval(cv.approval_for(m, cv.CAROL))
    rig.at(101 * SECOND)
    # The next transaction settles the entry first, so this very acquire counts carol.
    first = rig.manager.acquire(m, None, request)
    assert_deny(first, "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT")  # read before settling
    assert len(rig.events("approval_recovered")) == 1
    assert isinstance(rig.manager.acquire(m, None, request), Grant)


# ---------------------------------------------------------------------------------- schema


def test_a_version_2_database_migrates_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "leases.db"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.executescript(MIGRATIONS[0])
        connection.executescript(MIGRATIONS[1])
        connection.execute("PRAGMA user_version = 2")
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
        assert store.lease(b"\x05" * 16) == LeaseRecord(
            b"\x05" * 16, "task-old", "files.read", b"\x00" * 32, "epoch-a", 1, 99, b"tok", 3
        )
        review = ReviewRecord(
            b"\x01" * 32, "t", "files.read", b"\x02" * 32, "categories.x", "e", 5, 7
        )
        approval = ApprovalRecord(b"\x01" * 32, b"\x03" * 32, "APPROVE", '{"a":1}', 8)
        with store.write():
            assert store.add_review(review)
            assert not store.add_review(review)
            assert store.add_approval(approval)
            assert not store.add_approval(approval)
        assert store.review(b"\x01" * 32) == review and store.reviews() == [review]
        assert store.approvals(b"\x01" * 32) == [approval]
        assert store.approvals(b"\x09" * 32) == []
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_queue_writes_roll_back_with_their_transaction(kind: str, tmp_path: Path) -> None:
    store = MemoryLeaseStore() if kind == "memory" else SqliteLeaseStore(tmp_path / "x.db")
    review = ReviewRecord(b"\x01" * 32, "t", "c", b"\x02" * 32, "categories.x", "e", 5, 7)
    first = ApprovalRecord(b"\x01" * 32, b"\x03" * 32, "DENY", '{"b":1}', 9)
    second = ApprovalRecord(b"\x01" * 32, b"\x04" * 32, "APPROVE", '{"a":1}', 8)
    try:
        with pytest.raises(RuntimeError), store.write():
            store.add_review(review)
            store.add_approval(first)
            raise RuntimeError("abort")
        assert store.reviews() == [] and store.approvals(b"\x01" * 32) == []
        with store.write():
            store.add_approval(first)
            store.add_approval(second)
        assert store.approvals(b"\x01" * 32) == [second, first]  # by audit_seq
        with pytest.raises(RuntimeError):
            store.add_review(review)  # outside a transaction
    finally:
        store.close()


# ---------------------------------------------------------------------------------- CLI


def test_cli_list_approve_deny_submit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = World(tmp_path, capsys)
    state = world.state

    def run(*argv: str) -> tuple[int, Any, str]:
        return _cli([*state, *argv], capsys)

    status, _, err = run("policy", "trust", world.policy_key_pub)
    assert status == 0, err
    bundle = world.sign_policy(1)
    assert run("policy", "stage", bundle)[0] == 0
    assert run("policy", "activate")[0] == 0

    status, listed, _ = run("approvals", "list", "--json")
    assert status == 0 and listed == {"reviews": []}
    tools = ["--model", "local-small", "--tool", "web.fetch", "--tool", "fs.read"]
    manifest, manifest_file = world.manifest("task-web")
    request = world.request("alice", manifest_file, "research", *tools, name="web")
    status, denied, _ = run("acquire", manifest_file, "--request", request)
    assert status == 1 and denied["reason"] == "APPROVALS_INSUFFICIENT"
    digest = json_digest(manifest).hex()

    status, text, _ = run("approvals", "list")
    assert status == 0
    assert "1 review(s): 1 pending, 0 denied" in text
    assert digest in text and "alice" in text and "categories.network" in text
    status, shown, _ = run("approvals", "show", digest)
    assert status == 0 and shown["state"] == "pending" and shown["approvals"] == []
    status, shown, _ = run("approvals", "show", "00" * 32)
    assert status == 1 and shown == {"review": None}
    status, _, err = run("approvals", "show", "xyz")
    assert status == 2 and err.startswith("pda-lease: error:")

    # bob approves here, at this machine's clock; carol's approval is signed elsewhere.
    status, shown, err = run("approvals", "approve", digest, "--key", world.seeds["bob"])
    assert status == 0, err
    assert shown["submitted"]["verdict"] == "APPROVE"
    assert [a["reviewer_name"] for a in shown["approvals"]] == ["bob"]
    carol_file = tmp_path / "carol-approval.json"
    carol_file.write_text(json.dumps(world.approval("carol", manifest_file)))
    status, shown, err = run("approvals", "submit", str(carol_file))
    assert status == 0, err
    assert [a["reviewer_name"] for a in shown["approvals"]] == ["bob", "carol"]
    status, again, _ = run("approvals", "submit", str(carol_file))  # idempotent
    assert status == 0 and again == shown
    status, grant, err = run("acquire", manifest_file, "--request", request)
    assert status == 0, err
    assert grant["decision"] == "GRANT"

    # A rejected approval: exit 2 with the reason; alice is no reviewer.
    status, out, err = run("approvals", "approve", digest, "--key", world.seeds["alice"])
    assert status == 2 and out == ""
    assert err.startswith("pda-lease: error:") and "UNKNOWN_REVIEWER" in err
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps(cv.approval_for(cv.base_manifest(), cv.BOB)))
    status, _, err = run("approvals", "submit", str(unknown))
    assert status == 2 and "NO_SUCH_REVIEW" in err

    # carol denies: final.
    status, shown, err = run("approvals", "deny", digest, "--key", world.seeds["carol"])
    assert status == 0, err
    assert shown["state"] == "denied" and shown["submitted"]["verdict"] == "DENY"
    status, denied, _ = run("acquire", manifest_file, "--request", request)
    assert status == 1 and denied["reason"] == "REVIEWER_DENIED"
    status, text, _ = run("approvals", "list")
    assert "0 pending, 1 denied" in text and "carol DENY" in text

    events = [entry["event"] for entry in world.audit()]
    assert events.count("review_requested") == 1 and events.count("approval") == 3
    status, report, err = _cli(
        ["replay", "--json", "--workers", "1", str(world.state_dir / AUDIT_FILE)], capsys
    )
    assert status == 0 and report["ok"], (report, err)


def test_review_status_json_shape() -> None:
    status = ReviewStatus(
        manifest_digest=b"\x01" * 32,
        task_id="t",
        capability_id="c",
        principal=b"\x02" * 32,
        principal_name=None,
        rule="categories.network",
        requested_at=MonotonicTime(cv.EPOCH, 5),
        audit_seq=3,
        approvals=(),
        state="pending",
    )
    assert status.to_json() == {
        "manifest_digest": "01" * 32,
        "task_id": "t",
        "capability_id": "c",
        "principal": "02" * 32,
        "principal_name": None,
        "rule": "categories.network",
        "requested_at": {"epoch": cv.EPOCH, "ns": 5},
        "audit_seq": 3,
        "state": "pending",
        "approvals": [],
    }


def test_the_queue_passes_one_decisive_approval_per_reviewer() -> None:
    """Spec §13.11: a DENY if the reviewer has one, else the latest APPROVE that can count."""
    m = cv.base_manifest()
    now = MonotonicTime(cv.EPOCH, 100 * SECOND)
    older = cv.approval_for(m, cv.BOB, at_ns=90 * SECOND)
    newer = cv.approval_for(m, cv.BOB, at_ns=95 * SECOND)
    future = cv.approval_for(m, cv.BOB, at_ns=101 * SECOND)
    carol_denies = cv.approval_for(m, cv.CAROL, "DENY", at_ns=10 * SECOND)
    carol_later = cv.approval_for(m, cv.CAROL, at_ns=99 * SECOND)
    other_epoch = sign_approval(
        cv.ERIN,
        json_digest(m),
        "APPROVE",
        MonotonicTime(cv.OTHER_EPOCH, 99 * SECOND),
    )
    chosen = _decisive([older, future, newer, carol_later, carol_denies, other_epoch], now)
    assert chosen == by_reviewer([newer, carol_denies])
    # A hundred re-approvals by one reviewer still pass one document.
    many = [cv.approval_for(m, cv.BOB, at_ns=(1 + index) * SECOND) for index in range(100)]
    assert _decisive(many, now) == [many[-1]]
