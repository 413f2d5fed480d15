"""A governed LeaseManager's lifecycle, checked step by step against a plain model (spec §13).

A Hypothesis ``RuleBasedStateMachine`` drives a manager under a governance policy over the
durable adapters (SQLite store, JSONL audit log, ``trust.json``) in a state directory of its
own: principals acquire leases with signed requests (fresh, stale, from the future, of another
epoch, missing, for another manifest), with or without approvals of their own; reviewers (and
a non-reviewer) submit approvals and denials to the durable approvals queue, valid and invalid;
the clock moves across ``approval_ttl_ns`` (50 s) and ``request_max_age_ns`` (60 s); newer
policy versions are activated (sometimes one without the reviewer bob), older, other
same-version and ungoverned policies are refused, the manager is reopened; leases are
authorized and revoked. After every step the manager must agree with a model written from the
specification, not from the code:

* every decision follows §13.6: step G (§13.7), the window, trust, step A (§13.8) over the
  caller's approvals followed by the queue's decisive ones (§13.11), HRC; a governed refusal
  ``APPROVALS_INSUFFICIENT`` opens one review per digest;
* ``submit_approval`` refuses with the first failed check of §13.11 (and records nothing) or
  records the document once. Check 7 (``ALREADY_DENIED``) is read as "a *second*, different
  DENY": the very document of a recorded DENY, submitted again, is accepted and records
  nothing, like any recorded document (the spec's "a second adds nothing");
* ``reviews()`` equals the model's queue; ``status()`` judges leases as §12.8 (a lease of an
  older policy has ended, ``POLICY_CHANGED``); ``authorize`` follows §12.5;
* the governance floor (§13.3): a reopen under an older version, another document of the same
  version or no governance is refused before anything is written;
* the audit chain verifies and holds exactly the entries the operations call for (§12.3), and
  at teardown every recorded decision replays (§12.10).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
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

from pda_lease import Deny, Ed25519Signer, Grant, InvalidLease, LeasePolicy, sign_holder_proof
from pda_lease import conformance as cv
from pda_lease.adapters import FakeClock
from pda_lease.kernel.errors import PolicyError
from pda_lease.kernel.governance import GovernancePolicy, sign_approval
from pda_lease.kernel.inputs import MonotonicTime, json_digest
from pda_lease.manager import (
    AUDIT_FILE,
    ApprovalRejected,
    LeaseManager,
    ReviewStatus,
)
from test_manager_lifecycle import assert_replays  # replay and account for every decision

SECOND = cv.SECOND
START_NS = 100 * SECOND
EPOCH = cv.EPOCH
WINDOW_END = 100_000 * SECOND  # wide, so that the clock rarely closes the manifests' windows
SCORES = {"files.read": 9500, "mail.send": 4000}
BOB_HEX, CAROL_HEX, ERIN_HEX = (s.public_key.hex() for s in (cv.BOB, cv.CAROL, cv.ERIN))
SIGNERS: dict[str, Ed25519Signer] = {
    "alice": cv.ALICE,
    "ci-bot": cv.CI_BOT,
    "outsider": cv.OUTSIDER,
    "bob": cv.BOB,
    "carol": cv.CAROL,
    "erin": cv.ERIN,
}

# ------------------------------------------------------------------------------- the world

# The tasks: (capability, sensitivity). task 1 (HIGH) needs erin's review and an HRC.
TASKS: dict[int, tuple[str, str]] = {
    0: ("files.read", "LOW"),
    1: ("files.read", "HIGH"),
    2: ("mail.send", "LOW"),
}


def manifest_of(task: int) -> dict[str, Any]:
    capability, sensitivity = TASKS[task]
    manifest = cv.base_manifest(sensitivity)
    manifest["task_id"] = f"gov-task-{task}"
    manifest["capability_id"] = capability
    manifest["window"] = {"epoch": EPOCH, "not_before_ns": 10 * SECOND, "not_after_ns": WINDOW_END}
    return manifest


MANIFESTS = {task: manifest_of(task) for task in TASKS}
DIGESTS = {task: json_digest(manifest) for task, manifest in MANIFESTS.items()}
TASK_OF_DIGEST = {digest: task for task, digest in DIGESTS.items()}

FLAVORS = ("standard", "no-bob")


def policy_document(version: int, flavor: str) -> dict[str, Any]:
    """``governance_policy(version)``; ``no-bob``: bob is no reviewer, network needs carol+erin."""
    document = cv.governance_policy(version)
    if flavor == "no-bob":
        document["reviewers"] = {CAROL_HEX: "carol", ERIN_HEX: "erin"}
        document["categories"]["network"]["reviewers"] = sorted([CAROL_HEX, ERIN_HEX])
    return document


_POLICIES: dict[tuple[int, str], GovernancePolicy] = {}


def governed(version: int, flavor: str) -> GovernancePolicy:
    key = (version, flavor)
    if key not in _POLICIES:
        _POLICIES[key] = GovernancePolicy.from_json(policy_document(version, flavor))
    return _POLICIES[key]


# Who asks: (principal, workspace, model). The first is the analyst that reaches reviews; the
# second the service that may send mail; the rest are refused by step G in various ways.
PROFILES: list[tuple[str, str, str | None]] = [
    ("alice", "research", "local-small"),
    ("alice", "research", "local-small"),
    ("alice", "research", "local-small"),
    ("ci-bot", "ops", None),
    ("ci-bot", "ops", None),
    ("outsider", "research", "local-small"),
    ("alice", "ops", None),
    ("alice", "research", None),
    ("ci-bot", "research", None),
    ("alice", "research", "local-large"),
]
TOOLSETS: list[tuple[str, ...]] = [("fs.read",), ("fs.read", "web.fetch")]
REQUEST_KINDS = ["fresh"] * 6 + ["aged", "too_old", "future", "other_epoch", "missing", "wrong"]
APPROVAL_SPEC = st.tuples(
    st.sampled_from(["bob", "carol", "erin", "alice"]),
    st.sampled_from(["APPROVE", "APPROVE", "APPROVE", "DENY"]),
    st.sampled_from([0, 0, 49 * SECOND, 50 * SECOND]),
    st.sampled_from(["none", "none", "none", "none", "wrong_manifest", "bad_signature"]),
)
CALLER_APPROVALS = st.one_of(
    st.none(),
    st.none(),
    st.just([("bob", "APPROVE", 0, "none"), ("carol", "APPROVE", 0, "none")]),
    st.just([("erin", "APPROVE", 0, "none")]),
    st.lists(APPROVAL_SPEC, min_size=0, max_size=2),
)
# The analyst's own approvals that step A refuses or does not count (§13.8).
ANALYST_APPROVALS: dict[str, list[tuple[str, str, int, str]]] = {
    "bad_signature": [("bob", "APPROVE", 0, "bad_signature")],
    "wrong_manifest": [("carol", "APPROVE", 0, "wrong_manifest")],
    "expired_pair": [("bob", "APPROVE", 50 * SECOND, "none"), ("carol", "APPROVE", 0, "none")],
    "twice": [("bob", "APPROVE", 0, "none"), ("bob", "APPROVE", 49 * SECOND, "none")],
    "carol_denies": [("bob", "APPROVE", 0, "none"), ("carol", "DENY", 0, "none")],
    "erin_denies": [("erin", "DENY", 0, "none")],
}
# Clock steps: across approval_ttl_ns (50 s), request_max_age_ns (60 s), HIGH (30 s) and LOW
# (300 s) lease durations.
ADVANCES = [0, 1, SECOND, 10 * SECOND, 31 * SECOND, 49 * SECOND, 50 * SECOND, 59 * SECOND]
ADVANCES += [60 * SECOND, 301 * SECOND]
TIMINGS = ["now"] * 4 + ["aged_49", "aged_50", "aged_120", "future", "other_epoch"]
MUTATIONS = ["none"] * 6 + ["malformed", "bad_signature"]


@dataclass(frozen=True)
class ModelApproval:
    """An approval as the model sees it (§13.5)."""

    reviewer: str  # hex key
    digest: bytes
    verdict: str
    epoch: str
    ns: int
    signature_ok: bool = True


@dataclass
class ModelReview:
    """A review of the approvals queue (§13.11)."""

    task_id: str
    capability: str
    principal: str
    rule: str
    requested_at: int
    documents: dict[str, ModelApproval] = field(default_factory=dict)  # canonical json ->
    originals: dict[str, dict[str, object]] = field(default_factory=dict)


@dataclass
class ModelLease:
    lease_id: bytes
    token: bytes
    task: int
    policy_digest: bytes
    issued: int
    expires: int
    revoked: bool = False
    challenges: list[bytes] = field(default_factory=list)


def canonical(document: object) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


Expected = tuple[str, str, str | None]  # (code, reason, field) of a predicted refusal


# ------------------------------------------------------------------------------- the machine


class GovernedLifecycle(RuleBasedStateMachine):
    leases: Bundle[bytes] = Bundle("leases")
    root: ClassVar[Path]

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="governed-", dir=self.root))
        self.clock = FakeClock(EPOCH, START_NS)
        self.ns = START_NS
        self.version, self.flavor = 1, "standard"
        self.reviews_model: dict[bytes, ModelReview] = {}
        self.model: dict[bytes, ModelLease] = {}
        self.counter = 0
        self.acquires = 0
        self.authorizes = 0
        self.authority_entries = 1
        self.audit_entries = 0
        self.events: Counter[str] = Counter()
        self.manager = self.open_manager(self.policy)
        self.manager.apply_trust_snapshot({"snapshot_version": 1, "sequence": 7, "scores": SCORES})

    # ---- plumbing

    @property
    def policy(self) -> GovernancePolicy:
        return governed(self.version, self.flavor)

    @property
    def document(self) -> dict[str, Any]:
        return policy_document(self.version, self.flavor)

    def open_manager(self, policy: LeasePolicy | GovernancePolicy) -> LeaseManager:
        return LeaseManager.open(self.directory, signer=cv.ISSUER, policy=policy, clock=self.clock)

    def audit_bytes(self) -> bytes:
        return (self.directory / AUDIT_FILE).read_bytes()

    def teardown(self) -> None:
        try:
            self.manager.close()
            report = assert_replays(self.directory / AUDIT_FILE)
            assert report.decisions == self.acquires
            assert report.decisions_replayed == self.acquires  # the kernel ran for each
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def next_counter(self) -> int:
        self.counter += 1
        return self.counter

    # ---- the model: §13.7 step G

    def step_g(self, task: int, request: dict[str, Any] | None) -> tuple[str, str | None] | None:
        """None if the request passes, else (reason, field) of POLICY_DENIED."""
        doc = self.document
        if request is None:
            return "REQUEST_MISSING", "$"
        principal = doc["principals"].get(request["principal"])
        if principal is None:
            return "UNKNOWN_PRINCIPAL", "request.principal"
        # every request here is signed by its principal's key
        if request["digest"] != DIGESTS[task]:
            return "REQUEST_WRONG_MANIFEST", "request.manifest_digest"
        if request["epoch"] != EPOCH:
            return "REQUEST_EPOCH_MISMATCH", "request.requested_at.epoch"
        if request["ns"] > self.ns:
            return "REQUEST_FROM_FUTURE", "request.requested_at.ns"
        if self.ns - request["ns"] >= doc["request_max_age_ns"]:
            return "REQUEST_TOO_OLD", "request.requested_at.ns"
        workspace = request["workspace"]
        if workspace not in principal["workspaces"]:
            return "WORKSPACE_NOT_ALLOWED", "request.workspace"
        role = doc["workspaces"][workspace][principal["workspaces"][workspace]]
        capability = TASKS[task][0]
        if capability not in doc["capabilities"]:
            return "CAPABILITY_NOT_ALLOWED", "capability_id"
        if capability not in role["capabilities"]:
            return "CAPABILITY_NOT_IN_ROLE", "capability_id"
        model = request["model"]
        if model is not None:
            if model not in doc["models"]:
                return "MODEL_NOT_ALLOWED", "request.model"
            if model not in role["models"]:
                return "MODEL_NOT_IN_ROLE", "request.model"
        for index, tool in enumerate(request["tools"]):
            where = f"request.tools[{index}]"
            if tool not in doc["tools"]:
                return "TOOL_UNKNOWN", where
            if doc["categories"][doc["tools"][tool]]["decision"] == "DENY":
                return "TOOL_CATEGORY_DENIED", where
            if tool not in role["tools"]:
                return "TOOL_NOT_IN_ROLE", where
        return None

    # ---- the model: §13.8 step A and the queue's selection (§13.11)

    def requirements(self, task: int, tools: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
        doc = self.document
        categories = sorted(
            {
                doc["tools"][tool]
                for tool in tools
                if doc["categories"][doc["tools"][tool]]["decision"] == "REVIEW"
            }
        )
        found = [(f"categories.{name}", doc["categories"][name]) for name in categories]
        sensitivity = TASKS[task][1]
        if sensitivity in doc["sensitivity_review"]:
            found.append(
                (f"sensitivity_review.{sensitivity}", doc["sensitivity_review"][sensitivity])
            )
        return found

    def counts(self, approval: ModelApproval) -> bool:
        return (
            approval.verdict == "APPROVE"
            and approval.epoch == EPOCH
            and 0 <= self.ns - approval.ns < self.document["approval_ttl_ns"]
        )

    def step_a(
        self, task: int, tools: tuple[str, ...], passed: list[ModelApproval]
    ) -> Expected | None:
        rules = self.requirements(task, tools)
        if not rules:
            return None
        reviewers = self.document["reviewers"]
        for index, approval in enumerate(passed):
            if approval.reviewer not in reviewers:
                return (
                    "APPROVAL_REQUIRED",
                    "APPROVAL_UNKNOWN_REVIEWER",
                    f"approvals[{index}].reviewer",
                )
            if not approval.signature_ok:
                return (
                    "APPROVAL_REQUIRED",
                    "APPROVAL_BAD_SIGNATURE",
                    f"approvals[{index}].signature",
                )
            if approval.digest != DIGESTS[task]:
                return (
                    "APPROVAL_REQUIRED",
                    "APPROVAL_WRONG_MANIFEST",
                    f"approvals[{index}].manifest_digest",
                )
        deciders = {reviewer for _, rule_doc in rules for reviewer in rule_doc["reviewers"]}
        for index, approval in enumerate(passed):
            if approval.verdict == "DENY" and approval.reviewer in deciders:
                return "POLICY_DENIED", "REVIEWER_DENIED", f"approvals[{index}].verdict"
        for name, rule_doc in rules:
            approving = {
                a.reviewer for a in passed if a.reviewer in rule_doc["reviewers"] and self.counts(a)
            }
            if len(approving) < rule_doc["threshold"]:
                return "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT", name
        return None

    def queued(self, task: int) -> list[ModelApproval]:
        """§13.11: per current reviewer, its DENY, else its latest APPROVE of this epoch."""
        review = self.reviews_model.get(DIGESTS[task])
        if review is None:
            return []
        reviewers = self.document["reviewers"]
        selected: list[ModelApproval] = []
        for reviewer in sorted({a.reviewer for a in review.documents.values()}):
            if reviewer not in reviewers:
                continue
            mine = [a for a in review.documents.values() if a.reviewer == reviewer]
            denials = [a for a in mine if a.verdict == "DENY"]
            if denials:
                assert len(denials) == 1  # a second DENY is refused (ALREADY_DENIED)
                selected.append(denials[0])
                continue
            usable = [a for a in mine if a.epoch == EPOCH and a.ns <= self.ns]
            if usable:
                selected.append(max(usable, key=lambda a: a.ns))
        return selected

    def hrc_needed(self, task: int) -> bool:
        lease_policy = self.document["lease_policy"]
        return TASKS[task][1] in lease_policy["hrc_required_for"]

    def expected_decision(
        self,
        task: int,
        request: dict[str, Any] | None,
        passed: list[ModelApproval],
        hrc: bool,
    ) -> Expected | None:
        refused = self.step_g(task, request)
        if refused is not None:
            return "POLICY_DENIED", refused[0], refused[1]
        assert request is not None
        # the window [10 s, WINDOW_END) in EPOCH
        if self.ns >= WINDOW_END:
            return "LEASE_EXPIRED", "WINDOW_CLOSED", None
        capability, sensitivity = TASKS[task]
        if SCORES[capability] < self.document["lease_policy"]["trust_threshold"][sensitivity]:
            return "INSUFFICIENT_TRUST", "BELOW_THRESHOLD", None
        refused_a = self.step_a(task, tuple(request["tools"]), passed)
        if refused_a is not None:
            return refused_a
        if self.hrc_needed(task) and not hrc:  # the HRC given is confirmed now: valid
            return "HRC_REQUIRED", "HRC_MISSING", None
        return None

    # ---- acquire

    def build_request(
        self, task: int, profile: int, tools: tuple[str, ...], kind: str
    ) -> tuple[dict[str, object] | None, dict[str, Any] | None]:
        """The signed request and the model's view of it."""
        if kind == "missing":
            return None, None
        name, workspace, model = PROFILES[profile]
        signer = SIGNERS[name]
        target = (task + 1) % len(TASKS) if kind == "wrong" else task
        epoch = cv.OTHER_EPOCH if kind == "other_epoch" else EPOCH
        at = {
            "aged": self.ns - 59 * SECOND,
            "too_old": self.ns - 60 * SECOND,
            "future": self.ns + 1,
        }.get(kind, self.ns)
        signed = cv.request_for(
            MANIFESTS[target],
            signer=signer,
            workspace=workspace,
            model=model,
            tools=tools,
            at_ns=at,
            epoch=epoch,
        )
        view = {
            "principal": signer.public_key.hex(),
            "workspace": workspace,
            "model": model,
            "tools": list(tools),
            "digest": DIGESTS[target],
            "epoch": epoch,
            "ns": at,
        }
        return signed, view

    def build_approval(
        self, task: int, reviewer: str, verdict: str, at: int, epoch: str, tamper: str
    ) -> tuple[dict[str, object], ModelApproval]:
        target = (task + 1) % len(TASKS) if tamper == "wrong_manifest" else task
        signer = SIGNERS[reviewer]
        document = sign_approval(signer, DIGESTS[target], verdict, MonotonicTime(epoch, at))
        view = ModelApproval(signer.public_key.hex(), DIGESTS[target], verdict, epoch, at)
        if tamper == "bad_signature":  # the other verdict under the original signature
            flipped = "DENY" if verdict == "APPROVE" else "APPROVE"
            document = dict(document, verdict=flipped)
            view = ModelApproval(view.reviewer, view.digest, flipped, epoch, at, False)
        return document, view

    @initialize(target=leases, tasks=st.lists(st.sampled_from([0, 1]), min_size=1, max_size=2))
    def open_reviews(self, tasks: list[int]) -> MultipleResults[bytes]:
        """Start with the analyst asking for reviewed work: a review is opened for each task."""
        granted: list[bytes] = []
        for task in tasks:
            tools = TOOLSETS[1] if task == 0 else TOOLSETS[0]
            granted += self.request_lease(task, 0, tools, "fresh", None, True)
        return multiple(*granted)

    @rule(
        target=leases,
        task=st.sampled_from([0, 0, 1]),
        tools=st.sampled_from(TOOLSETS),
        approvals=st.sampled_from(
            ["none", "none", "none", "pair", "erin", "all", *sorted(ANALYST_APPROVALS)]
        ),
        hrc=st.sampled_from([True, True, True, False]),
    )
    def acquire_as_analyst(
        self, task: int, tools: tuple[str, ...], approvals: str, hrc: bool
    ) -> MultipleResults[bytes]:
        """The honest analyst: a request signed now, the queue's approvals, perhaps its own."""
        fresh: list[tuple[str, str, int, str]] = list(ANALYST_APPROVALS.get(approvals, []))
        if approvals in ("pair", "all"):
            fresh += [("bob", "APPROVE", 0, "none"), ("carol", "APPROVE", 0, "none")]
        if approvals in ("erin", "all"):
            fresh.append(("erin", "APPROVE", 0, "none"))
        caller = None if approvals == "none" else fresh
        return multiple(*self.request_lease(task, 0, tools, "fresh", caller, hrc))

    @rule(
        target=leases,
        task=st.sampled_from([0, 0, 1, 2]),
        profile=st.integers(0, len(PROFILES) - 1),
        tools=st.sampled_from(TOOLSETS),
        kind=st.sampled_from(REQUEST_KINDS),
        caller=CALLER_APPROVALS,
        hrc=st.booleans(),
    )
    def acquire(
        self,
        task: int,
        profile: int,
        tools: tuple[str, ...],
        kind: str,
        caller: list[tuple[str, str, int, str]] | None,
        hrc: bool,
    ) -> MultipleResults[bytes]:
        """Anyone asks, with any request and any approvals of their own."""
        return multiple(*self.request_lease(task, profile, tools, kind, caller, hrc))

    def request_lease(
        self,
        task: int,
        profile: int,
        tools: tuple[str, ...],
        kind: str,
        caller: list[tuple[str, str, int, str]] | None,
        hrc: bool,
    ) -> list[bytes]:
        """``acquire`` against the model; returns the id of a newly granted lease, if any."""
        manifest = MANIFESTS[task]
        request, view = self.build_request(task, profile, tools, kind)
        documents: list[dict[str, object]] | None = None
        passed: list[ModelApproval] = []
        if caller is not None:
            documents = []
            for reviewer, verdict, age, tamper in caller:
                document, approval = self.build_approval(
                    task, reviewer, verdict, self.ns - age, EPOCH, tamper
                )
                documents.append(document)
                passed.append(approval)
        passed += self.queued(task)
        token = cv.hrc_for(manifest, self.ns) if hrc else None
        expected = self.expected_decision(task, view, passed, hrc)
        note(f"acquire task {task} by {PROFILES[profile]} {tools} {kind}: expect {expected}")
        decision = self.manager.acquire(manifest, token, request, documents)
        self.acquires += 1
        if expected is not None:
            assert isinstance(decision, Deny), (expected, decision)
            got = (str(decision.code), decision.reason, decision.field)
            assert got == expected, f"expected {expected}, got {got}"
            review_needed = expected[:2] == ("APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT")
            digest = DIGESTS[task]
            if review_needed and digest not in self.reviews_model:
                assert view is not None and expected[2] is not None
                self.reviews_model[digest] = ModelReview(
                    task_id=manifest["task_id"],
                    capability=TASKS[task][0],
                    principal=view["principal"],
                    rule=expected[2],
                    requested_at=self.ns,
                )
            return []
        assert isinstance(decision, Grant), (expected, decision)
        assert view is not None
        claims = decision.claims
        duration = self.document["lease_policy"]["lease_duration_ns"][TASKS[task][1]]
        assert claims.task_id == manifest["task_id"]
        assert claims.manifest_digest == DIGESTS[task]
        assert claims.policy_digest == json_digest(self.document)
        assert claims.issued_at_ns == self.ns
        assert claims.expires_at_ns == min(self.ns + duration, WINDOW_END)
        assert claims.governance is not None
        assert claims.governance.principal.hex() == view["principal"]
        assert claims.governance.tools == tools
        known = self.model.get(decision.lease_id)
        if known is not None:  # same inputs at the same instant: the same lease (§6.4, §13.10)
            assert decision.token == known.token
            return []
        self.model[decision.lease_id] = ModelLease(
            lease_id=decision.lease_id,
            token=decision.token,
            task=task,
            policy_digest=claims.policy_digest,
            issued=self.ns,
            expires=claims.expires_at_ns,
        )
        return [decision.lease_id]

    # ---- the approvals queue

    def expected_submission(
        self, text: str, approval: ModelApproval, malformed: bool
    ) -> str | None:
        """§13.11: the first failed check, or None when the document is accepted."""
        if malformed:
            return "MALFORMED"
        if approval.reviewer not in self.document["reviewers"]:
            return "UNKNOWN_REVIEWER"
        if not approval.signature_ok:
            return "BAD_SIGNATURE"
        review = self.reviews_model.get(approval.digest)
        if review is None:
            return "NO_SUCH_REVIEW"
        if approval.epoch != EPOCH:
            return "EPOCH_MISMATCH"
        if approval.ns > self.ns:
            return "FROM_FUTURE"
        # A second DENY by the same reviewer is refused; the same document again is not a
        # second DENY: it is accepted and records nothing (§13.11 reads both ways; see the
        # module docstring).
        if approval.verdict == "DENY" and any(
            a.reviewer == approval.reviewer and a.verdict == "DENY" and key != text
            for key, a in review.documents.items()
        ):
            return "ALREADY_DENIED"
        return None

    def submit(self, document: dict[str, object], approval: ModelApproval, malformed: bool) -> None:
        expected = self.expected_submission(canonical(document), approval, malformed)
        note(f"submit {approval}: expect {expected}")
        before = self.audit_bytes()
        try:
            status = self.manager.submit_approval(document)
        except ApprovalRejected as refused:
            assert expected is not None, f"model accepts, manager refused {refused.reason}"
            assert str(refused.reason) == expected, (expected, refused.reason)
            assert self.audit_bytes() == before  # nothing recorded
            return
        assert expected is None, f"expected {expected}, manager accepted"
        review = self.reviews_model[approval.digest]
        key = canonical(document)
        if key in review.documents:  # the same document again: nothing recorded
            assert self.audit_bytes() == before
        else:
            review.documents[key] = approval
            review.originals[key] = document
        assert self.review_view(status) == self.model_view(approval.digest, review)

    @rule(
        data=st.data(),
        reviewer=st.sampled_from(["bob", "bob", "carol", "carol", "erin", "alice"]),
        verdict=st.sampled_from(["APPROVE", "APPROVE", "APPROVE", "DENY"]),
        timing=st.sampled_from(TIMINGS),
        mutation=st.sampled_from(MUTATIONS),
    )
    def submit_approval(
        self, data: st.DataObject, reviewer: str, verdict: str, timing: str, mutation: str
    ) -> None:
        reviewed = sorted(TASK_OF_DIGEST[d] for d in self.reviews_model)
        if reviewed and data.draw(st.integers(0, 3), label="to a review") > 0:
            task = data.draw(st.sampled_from(reviewed), label="reviewed task")
        else:
            task = data.draw(st.sampled_from(sorted(TASKS)), label="task")
        at = {
            "aged_49": self.ns - 49 * SECOND,
            "aged_50": self.ns - 50 * SECOND,
            "aged_120": max(0, self.ns - 120 * SECOND),
            "future": self.ns + 1,
            "other_epoch": SECOND,
        }.get(timing, self.ns)
        epoch = cv.OTHER_EPOCH if timing == "other_epoch" else EPOCH
        tamper = "bad_signature" if mutation == "bad_signature" else "none"
        document, approval = self.build_approval(task, reviewer, verdict, at, epoch, tamper)
        malformed = mutation == "malformed"
        if malformed:
            document = dict(document, verdict="MAYBE")
        self.submit(document, approval, malformed)

    @rule(data=st.data())
    def resubmit_recorded(self, data: st.DataObject) -> None:
        """A document the queue already holds, submitted again (perhaps after an upgrade)."""
        recorded = [
            (key, digest)
            for digest, review in sorted(self.reviews_model.items())
            for key in sorted(review.documents)
        ]
        if not recorded:
            return
        key, digest = data.draw(st.sampled_from(recorded), label="recorded document")
        review = self.reviews_model[digest]
        self.submit(json.loads(key), review.documents[key], False)

    # ---- authorize and revoke

    @rule(lease_id=leases, replay=st.sampled_from([False, False, False, True]))
    def authorize(self, lease_id: bytes, replay: bool) -> None:
        lease = self.model[lease_id]
        if replay and lease.challenges:
            challenge = lease.challenges[-1]
        else:
            challenge = hashlib.sha256(b"governed %d" % self.next_counter()).digest()
        expected: tuple[str, str] | None = None
        if self.ns >= lease.expires:
            expected = ("LEASE_EXPIRED", "EXPIRED")
        elif lease.revoked:
            expected = ("LEASE_REVOKED", "REVOKED")
        elif lease.policy_digest != json_digest(self.document):
            expected = ("LEASE_REVOKED", "POLICY_CHANGED")
        elif challenge in lease.challenges:
            expected = ("INVALID_TOKEN", "HOLDER_PROOF_REPLAYED")
        self.authorizes += 1
        try:
            verified = self.manager.authorize(
                lease.token,
                sign_holder_proof(cv.HOLDER, lease_id, challenge),
                task_id=MANIFESTS[lease.task]["task_id"],
                manifest_digest=DIGESTS[lease.task],
            )
        except InvalidLease as refused:
            got = (str(refused.deny.code), refused.deny.reason)
            assert expected is not None, f"model says ALLOW, manager denied {got}"
            assert got == expected, (expected, got)
            return
        assert expected is None, f"expected {expected}, manager allowed"
        assert verified.lease_id == lease_id
        lease.challenges.append(challenge)

    @rule(lease_id=leases)
    def revoke(self, lease_id: bytes) -> None:
        lease = self.model[lease_id]
        revocation = self.manager.revoke(lease_id, "operator request")
        assert revocation.already_revoked == lease.revoked
        lease.revoked = True

    # ---- the clock

    @rule(ns=st.sampled_from(ADVANCES))
    def advance(self, ns: int) -> None:
        self.clock.advance(ns)
        self.ns += ns

    # ---- policies and reopening

    @rule(flavor=st.sampled_from(FLAVORS), step=st.sampled_from([1, 1, 2]))
    def activate_newer_policy(self, flavor: str, step: int) -> None:
        """A newer version: every lease of the older policy ends (§8 step 5, POLICY_CHANGED)."""
        self.manager.close()
        self.version, self.flavor = self.version + step, flavor
        self.manager = self.open_manager(self.policy)
        self.authority_entries += 1

    @rule(kind=st.sampled_from(["older", "same_version_other", "ungoverned"]), data=st.data())
    def reopen_refused(self, kind: str, data: st.DataObject) -> None:
        """§13.3: the governance floor: refused before anything is written."""
        policy: LeasePolicy | GovernancePolicy
        if kind == "ungoverned":
            policy = LeasePolicy.from_json(cv.base_policy())
        elif kind == "older" and self.version > 1:
            older = data.draw(st.integers(1, self.version - 1), label="older version")
            policy = governed(older, data.draw(st.sampled_from(FLAVORS), label="flavor"))
        else:
            other = "no-bob" if self.flavor == "standard" else "standard"
            policy = governed(self.version, other)
        self.manager.close()
        before = self.audit_bytes()
        with pytest.raises(PolicyError):
            self.open_manager(policy)
        assert self.audit_bytes() == before
        self.manager = self.open_manager(self.policy)
        assert self.audit_bytes() == before  # the same policy again: no authority entry

    @rule()
    def reopen_same(self) -> None:
        self.manager.close()
        before = self.audit_bytes()
        self.manager = self.open_manager(self.policy)
        assert self.audit_bytes() == before

    # ---- invariants

    def model_view(self, digest: bytes, review: ModelReview) -> dict[str, object]:
        doc = self.document
        approvals = sorted(
            (a.reviewer, doc["reviewers"].get(a.reviewer), a.verdict, a.epoch, a.ns)
            for a in review.documents.values()
        )
        return {
            "digest": digest,
            "task": review.task_id,
            "capability": review.capability,
            "principal": review.principal,
            "principal_name": doc["principals"][review.principal]["name"],
            "rule": review.rule,
            "requested_at": (EPOCH, review.requested_at),
            "state": (
                "denied"
                if any(a.verdict == "DENY" for a in review.documents.values())
                else "pending"
            ),
            "approvals": approvals,
        }

    @staticmethod
    def review_view(status: ReviewStatus) -> dict[str, object]:
        return {
            "digest": status.manifest_digest,
            "task": status.task_id,
            "capability": status.capability_id,
            "principal": status.principal.hex(),
            "principal_name": status.principal_name,
            "rule": status.rule,
            "requested_at": (status.requested_at.epoch, status.requested_at.ns),
            "state": status.state,
            "approvals": sorted(
                (a.reviewer.hex(), a.reviewer_name, a.verdict, a.signed_at.epoch, a.signed_at.ns)
                for a in status.approvals
            ),
        }

    @invariant()
    def queue_agrees_with_model(self) -> None:
        got = sorted(
            (self.review_view(s) for s in self.manager.reviews()),
            key=lambda view: str(view["digest"]),
        )
        want = sorted(
            (self.model_view(d, r) for d, r in self.reviews_model.items()),
            key=lambda view: str(view["digest"]),
        )
        assert got == want

    @invariant()
    def status_agrees_with_model(self) -> None:
        status = self.manager.status()
        seen = {entry.lease.lease_id: (entry.state, entry.reason) for entry in status.leases}
        current = json_digest(self.document)
        want: dict[bytes, tuple[str, str | None]] = {}
        for lease_id, lease in self.model.items():
            if lease.revoked:
                want[lease_id] = ("revoked", "explicit")
            elif self.ns >= lease.expires:
                want[lease_id] = ("expired", "EXPIRED")
            elif lease.policy_digest != current:
                want[lease_id] = ("ended", "POLICY_CHANGED")
            else:
                want[lease_id] = ("live", None)
        assert seen == want

    @invariant()
    def audit_agrees_with_model(self) -> None:
        report = self.manager.verify_audit()
        assert report.ok, report
        lines = self.audit_bytes().splitlines()
        assert len(lines) == report.entries >= self.audit_entries, "the audit log shrank"
        for line in lines[self.audit_entries :]:
            record = json.loads(line)
            self.events[str(record["event"])] += 1
            if record["event"] == "authority":
                assert record["policy"] == self.document
        self.audit_entries = report.entries
        events = self.events
        assert events["log_created"] == 1
        assert events["authority"] == self.authority_entries
        assert events["decision"] == self.acquires
        assert events["authorization"] == self.authorizes
        assert events["review_requested"] == len(self.reviews_model)
        assert events["approval"] == sum(len(r.documents) for r in self.reviews_model.values())
        assert events["revocation"] == sum(lease.revoked for lease in self.model.values())
        for settled in (
            "grant_void",
            "authorization_void",
            "revocation_recovered",
            "review_recovered",
            "approval_recovered",
            "torn_tail_quarantined",
        ):
            assert events[settled] == 0, events


# Every step fsyncs and is checked against the queue, the status and the audit log, so the
# machine runs fewer examples than the profile asks for (scaled with it, never above it): 30 of
# ``quick``'s 60, a fifth of ``thorough``.
_PROFILE = settings()
GOVERNED_SETTINGS = settings(
    _PROFILE, max_examples=min(_PROFILE.max_examples, max(30, _PROFILE.max_examples // 5))
)


def test_governed_lifecycle_over_the_durable_adapters(tmp_path: Path) -> None:
    class Machine(GovernedLifecycle):
        root = tmp_path

    run_state_machine_as_test(Machine, settings=GOVERNED_SETTINGS)
