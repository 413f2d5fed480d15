"""A pooled governed LeaseManager's accounting, checked step by step against a plain model.

A Hypothesis ``RuleBasedStateMachine`` drives a manager whose governance policy has pools
(spec §14): principals acquire leases (alone or in ``acquire_many`` batches) with various
demands, valid and refused requests; leases are authorized, released (under, at and over their
reservation; with a wrong holder, a replayed proof, twice, after revocation or expiry), revoked;
the clock moves (leases expire), the machine reboots (a new clock epoch), the calendar day
advances; operations crash (a failed store commit, a failed audit append, or the process dies
between its audit append and its commit) and the manager is reopened over the same state.

The model is written from the specification: it keeps the leases the manager granted with their
reservations, and which releases, revocations and expiry settlements are committed or still
in doubt (§12.4: an in-doubt release, revocation or settlement is rolled forward by the next
transaction or open; an in-doubt grant is voided). Every acquire is judged by the kernel
(``decide``) on the usage snapshot the model builds (§14.6), which must be exactly the one the
manager recorded in its ``decision`` entry; the manager's decision must be the kernel's. After
every step, from the manager's store and audit log (not its own bookkeeping):

* every pool counter of every scope (``pools()``) is the model's (§14.3): in flight, in the
  window, spent of the day;
* the store's reservations are exactly the model's, state and settled amounts included;
* every reservation is settled at most once in the whole log, a closed reservation by exactly
  one committed ``settlement`` entry whose ``why`` and amounts match its state, an open one by
  none; per day, committed settlements plus open reservations are the day's spend;
* nothing in flight exceeds a concurrency or compute limit, and every grant fit the day's
  spend budget when it was granted;
* no lease is both released and settled as revoked; a release or revocation the model knows is
  in the store.

At teardown every recorded decision replays (§12.10).
"""

from __future__ import annotations

import copy
import json
import os
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
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from pda_lease import Grant, InvalidLease, json_digest, sign_holder_proof
from pda_lease import conformance as cv
from pda_lease.adapters import (
    AuditLog,
    FakeCalendar,
    FakeClock,
    JsonlAuditLog,
    LeaseStore,
    MemoryAuditLog,
    MemoryLeaseStore,
    MemoryTrustSource,
    StateError,
)
from pda_lease.adapters.store import ReservationRecord
from pda_lease.kernel.catalog import Code, Deny
from pda_lease.kernel.decide import Decision, decide
from pda_lease.kernel.governance import GovernancePolicy
from pda_lease.kernel.inputs import MonotonicTime
from pda_lease.manager import (
    AUDIT_FILE,
    LeaseManager,
    ReleaseRejected,
    ReleaseRejection,
)
from pda_lease.replay import replay_file

SECOND = cv.SECOND
START_NS = 100 * SECOND
DAY = 20426
ALICE_HEX = cv.ALICE.public_key.hex()
CI_BOT_HEX = cv.CI_BOT.public_key.hex()
WINDOW_NS = 60 * SECOND
CLAMP_WINDOW_NS = 60 * SECOND
SAFETY_WINDOW_NS = 30 * SECOND

_UNLIMITED = dict.fromkeys(
    ("concurrency", "requests", "units", "context_tokens", "compute", "spend_cents")
)


def pools_document() -> dict[str, Any]:
    """``conformance.pools_policy`` with limits every pool reaches within a run (§14.1)."""
    document = cv.pools_policy()
    document["pools"] = {
        "rate_window_ns": WINDOW_NS,
        "org": {
            **_UNLIMITED,
            "concurrency": 5,
            "requests": 7,
            "units": 500,
            "context_tokens": 100,
            "compute": 8,
            "spend_cents": 700,
        },
        "workspaces": {
            "research": {**_UNLIMITED, "concurrency": 3, "spend_cents": 400},
            "ops": {**_UNLIMITED, "concurrency": 3, "compute": 5, "requests": 4},
        },
        "principals": {ALICE_HEX: {**_UNLIMITED, "compute": 4, "units": 250}},
        "safety": {
            "cooldown": {"denials": 3, "window_ns": 30 * SECOND, "cooldown_ns": 20 * SECOND},
            "breaker": {"denials": 4, "window_ns": 30 * SECOND, "open_ns": 40 * SECOND},
            "clamp": {"spend_cents": 250, "window_ns": CLAMP_WINDOW_NS, "lease_ns": 5 * SECOND},
        },
    }
    return document


POLICY_DOCUMENT = pools_document()
POLICY = GovernancePolicy.from_json(POLICY_DOCUMENT)
LIMITS: dict[str, dict[str, int | None]] = {
    "pools.org": POLICY_DOCUMENT["pools"]["org"],
    **{
        f"pools.workspaces.{name}": limits
        for name, limits in POLICY_DOCUMENT["pools"]["workspaces"].items()
    },
    **{
        f"pools.principals.{key}": limits
        for key, limits in POLICY_DOCUMENT["pools"]["principals"].items()
    },
}
SNAPSHOT = cv.base_snapshot(9500)

# Who asks: (signer, workspace, capability, model, tools). The first two are admitted by step
# G; the third and fifth are refused after their signature verified (POLICY_DENIED, they count
# for the cooldown and the breaker); the fourth is unknown (it never counts, §14.6).
PROFILES: list[tuple[str, str, str, str | None, tuple[str, ...]]] = [
    ("alice", "research", "files.read", "local-small", ("fs.read",)),
    ("ci-bot", "ops", "mail.send", None, ("fs.read",)),
    ("alice", "ops", "files.read", None, ("fs.read",)),
    ("outsider", "research", "files.read", "local-small", ("fs.read",)),
    ("ci-bot", "research", "mail.send", None, ("fs.read",)),
]
SIGNERS = {"alice": cv.ALICE, "ci-bot": cv.CI_BOT, "outsider": cv.OUTSIDER}
PROFILE = st.sampled_from([0, 0, 0, 1, 1, 1, 2, 3, 4])
# MEDIUM mail.send (score 4000 < 6000) is refused for trust, after step G: it counts too.
SENSITIVITY = st.sampled_from(["LOW", "LOW", "LOW", "MEDIUM"])
DEMAND = st.fixed_dictionaries(
    {
        "units": st.sampled_from([0, 20, 60, 130]),
        "context_tokens": st.sampled_from([0, 5, 5, 5, 150]),
        "compute": st.sampled_from([0, 1, 1, 2, 3]),
        "spend_cents": st.sampled_from([0, 30, 60, 130, 260]),
    }
)
ITEM = st.tuples(PROFILE, SENSITIVITY, DEMAND)
ADVANCES = [1, SECOND, 5 * SECOND, 20 * SECOND, 31 * SECOND, 61 * SECOND, 121 * SECOND]
ADVANCES += [301 * SECOND]

# A release's measured usage relative to its reservation.
USAGE_KINDS = ["below", "equal", "above", "zero"]


def usage_for(kind: str, units: int, spend: int) -> dict[str, int]:
    if kind == "below":
        return {"units": units // 2, "spend_cents": spend // 2}
    if kind == "equal":
        return {"units": units, "spend_cents": spend}
    if kind == "above":
        return {"units": units + 7, "spend_cents": spend + 45}
    return {"units": 0, "spend_cents": 0}


# ------------------------------------------------------------------------------- the model


@dataclass
class MLease:
    """A granted lease and its reservation (§14.6), as the model sees it."""

    lease_id: bytes
    token: bytes
    task_id: str
    manifest_digest: bytes
    principal: str
    workspace: str
    epoch: str
    granted: int
    expires: int
    day: int
    units: int
    compute: int
    spend: int
    state: str = "open"  # the reservation: open, released, revoked, expired
    settled_units: int | None = None
    settled_spend: int | None = None
    released: bool = False
    revoked: bool = False
    release_challenge: bytes | None = None
    challenges: set[bytes] = field(default_factory=set)

    def settle(self, state: str, units: int, spend: int) -> None:
        if self.state == "open":
            self.state, self.settled_units, self.settled_spend = state, units, spend

    def ended_by_time(self, now: MonotonicTime) -> bool:
        return self.epoch != now.epoch or now.ns >= self.expires

    def live(self, now: MonotonicTime) -> bool:
        return (
            self.state == "open"
            and self.epoch == now.epoch
            and self.granted <= now.ns < (self.expires)
        )

    def reservation(self) -> dict[str, object]:
        is_open = self.state == "open"
        return {
            "lease_id": self.lease_id.hex(),
            "principal": self.principal,
            "workspace": self.workspace,
            "clock_epoch": self.epoch,
            "granted_at_ns": self.granted,
            "expires_at_ns": self.expires,
            "day": self.day,
            "open": is_open,
            "units": self.units,
            "compute": self.compute,
            "spend_cents": self.spend if is_open else self.settled_spend,
        }


@dataclass
class MDenial:
    principal: str
    workspace: str
    epoch: str
    at_ns: int
    code: str

    def to_json(self) -> dict[str, object]:
        return {
            "principal": self.principal,
            "workspace": self.workspace,
            "clock_epoch": self.epoch,
            "at_ns": self.at_ns,
            "code": self.code,
        }


@dataclass
class World:
    leases: dict[bytes, MLease] = field(default_factory=dict)  # in grant (audit) order
    denials: list[MDenial] = field(default_factory=list)

    def sweep(self, now: MonotonicTime) -> list[bytes]:
        """Expiry settlement (§14.6): open reservations ended by time, at their reservation."""
        swept = []
        for lease in self.leases.values():
            if lease.state == "open" and lease.ended_by_time(now):
                lease.settle("expired", lease.units, lease.spend)
                swept.append(lease.lease_id)
        return swept


# An effect whose audit entry is written but whose commit is in doubt (§12.4); the next
# transaction or open rolls it forward.
Effect = tuple[Any, ...]


def apply(world: World, effect: Effect) -> None:
    kind, lease_id = effect[0], effect[1]
    lease = world.leases[lease_id]
    if kind == "expire":
        lease.settle("expired", lease.units, lease.spend)
    elif kind == "release":
        _, _, units, spend, challenge = effect
        lease.released = True
        lease.release_challenge = challenge
        lease.challenges.add(challenge)
        lease.settle("released", units, spend)
    elif kind == "revoke":
        lease.revoked = True
        lease.settle("revoked", lease.units, lease.spend)
    else:  # pragma: no cover - a programming error
        raise AssertionError(effect)


def counts_for_safety(decision: Deny) -> bool:
    """§14.6: a governed DENY counts once its request's signature verified (not QUOTA)."""
    if decision.code in (Code.INVALID_MANIFEST, Code.QUOTA_EXCEEDED, Code.UNAVAILABLE):
        return False
    unauthenticated = {"REQUEST_MISSING", "REQUEST_MALFORMED", "UNKNOWN_PRINCIPAL"}
    unauthenticated.add("BAD_REQUEST_SIGNATURE")
    return not (decision.code == Code.POLICY_DENIED and decision.reason in unauthenticated)


class Crash(BaseException):
    """The process died right after an audit append, before its store commit."""


# ------------------------------------------------------------------------------- the machine


class PoolsLifecycle(RuleBasedStateMachine):
    leases: Bundle[bytes] = Bundle("leases")
    root: ClassVar[Path]
    FAULTS: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="pools-", dir=self.root))
        self.clock = FakeClock(cv.EPOCH, START_NS)
        self.calendar = FakeCalendar(DAY)
        self.trust = MemoryTrustSource(SNAPSHOT)
        self.epochs = [cv.EPOCH]
        self.committed = World()
        self.pending: list[Effect] = []
        self.counter = 0
        self.events: Counter[str] = Counter()
        self.manager = self.open_manager()

    # ---- plumbing, per variant

    def open_manager(self) -> LeaseManager:
        raise NotImplementedError

    def store(self) -> LeaseStore:
        return self.manager.store

    def audit_log(self) -> AuditLog:
        return self.manager.audit

    def audit_lines(self) -> list[bytes]:
        raise NotImplementedError

    def audit_path(self) -> Path:
        raise NotImplementedError

    def crash_reopen(self) -> None:
        """After a ``Crash``: the process is gone; a new one opens the same state."""
        raise NotImplementedError

    def arm(self, fault: str) -> None:
        """Make the next operation fail in the way ``fault`` says."""
        if fault == "die":
            audit = self.audit_log()
            real = audit.append

            def dying(bodies: Any) -> Any:
                real(bodies)
                del audit.append
                raise Crash

            audit.append = dying  # type: ignore[method-assign]
        elif fault == "commit":
            store = self.store()
            assert isinstance(store, MemoryLeaseStore)
            store.fail_commit = True
        elif fault == "audit":
            audit = self.audit_log()
            assert isinstance(audit, MemoryAuditLog)
            audit.fail_next_append = True
        else:  # pragma: no cover
            raise AssertionError(fault)

    def disarm(self) -> None:
        store, audit = self.store(), self.audit_log()
        if isinstance(store, MemoryLeaseStore):
            store.fail_commit = False
        if isinstance(audit, MemoryAuditLog):
            audit.fail_next_append = False
        if "append" in vars(audit):
            del audit.append

    def teardown(self) -> None:
        try:
            lines = self.audit_lines()
            self.manager.close()
            path = self.directory / "replayed.jsonl"
            path.write_bytes(b"".join(lines))
            report = replay_file(path, workers=1)
            assert report.ok, report.to_json()
            decisions = sum(json.loads(line)["event"] == "decision" for line in lines)
            assert report.decisions == decisions
            note(f"events: {dict(self.events)}")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def now(self) -> MonotonicTime:
        return self.clock.now()

    def effective(self) -> World:
        """What the next transaction sees: the committed state with the in-doubt rolled forward."""
        world = copy.deepcopy(self.committed)
        for effect in self.pending:
            apply(world, effect)
        return world

    def commit(self, world: World) -> None:
        self.committed, self.pending = world, []

    # ---- building inputs

    def item(self, profile: int, sensitivity: str, demand: dict[str, int]) -> tuple[Any, ...]:
        who, workspace, capability, model, tools = PROFILES[profile]
        self.counter += 1
        now = self.now
        manifest = cv.base_manifest(sensitivity)
        manifest["task_id"] = f"pool-task-{self.counter}"
        manifest["capability_id"] = capability
        manifest["window"] = {
            "epoch": now.epoch,
            "not_before_ns": 0,
            "not_after_ns": 1_000_000 * SECOND,
        }
        request = cv.request_for(
            manifest,
            signer=SIGNERS[who],
            workspace=workspace,
            model=model,
            tools=tools,
            at_ns=now.ns,
            epoch=now.epoch,
            demand=demand,
        )
        return manifest, request

    def usage(self, world: World, day: int, now: MonotonicTime) -> dict[str, object]:
        """The snapshot §14.6 says a pooled acquire passes, after the expiry sweep."""
        since = max(0, now.ns - max(WINDOW_NS, CLAMP_WINDOW_NS) + 1)
        reservations = [
            lease.reservation()
            for lease in world.leases.values()
            if lease.state == "open"
            or (lease.epoch == now.epoch and lease.granted >= since)
            or lease.day == day
        ]
        denial_since = max(0, now.ns - SAFETY_WINDOW_NS + 1)
        denials = [
            d.to_json() for d in world.denials if d.epoch == now.epoch and d.at_ns >= denial_since
        ]
        return {"usage_version": 1, "day": day, "reservations": reservations, "denials": denials}

    def recorded_decisions(self, count: int) -> list[dict[str, Any]]:
        records = [json.loads(line) for line in self.audit_lines()]
        decisions = [r for r in records if r["event"] == "decision"]
        return decisions[-count:]

    # ---- rules: acquire

    @rule(target=leases, item=ITEM)
    def acquire(self, item: tuple[int, str, dict[str, int]]) -> Any:
        return self.do_acquire([item], None)

    @rule(target=leases, items=st.lists(ITEM, min_size=2, max_size=4))
    def acquire_batch(self, items: list[tuple[int, str, dict[str, int]]]) -> Any:
        return self.do_acquire(items, None)

    @rule(
        target=leases,
        items=st.lists(ITEM, min_size=1, max_size=3),
        fault=st.sampled_from(["die", "commit", "audit"]),
    )
    def acquire_crashing(self, items: list[tuple[int, str, dict[str, int]]], fault: str) -> Any:
        if fault not in self.FAULTS:
            fault = "die"
        return self.do_acquire(items, fault)

    def do_acquire(self, raw: list[tuple[int, str, dict[str, int]]], fault: str | None) -> Any:
        items = [self.item(*spec) for spec in raw]
        now, day = self.now, self.calendar.day
        world = self.effective()
        swept = world.sweep(now)
        if fault is not None:
            self.arm(fault)
        try:
            decisions: list[Decision] = self.manager.acquire_many(
                [m for m, _ in items], None, [r for _, r in items], None
            )
            crashed = False
        except Crash:
            crashed = True
            decisions = []
        finally:
            self.disarm()
        if crashed:
            self.events["crash:acquire"] += 1
            self.crash_reopen()
            self.commit(world)  # the sweep is rolled forward at open, the grants are voided
            return multiple()
        if fault is not None and all(
            isinstance(d, Deny) and d.code == Code.UNAVAILABLE for d in decisions
        ):
            self.events[f"{fault}:acquire"] += 1
            if fault == "commit":  # the sweep's settlement entries are in doubt
                self.pending.extend(("expire", lease_id) for lease_id in swept)
            return multiple()
        assert fault is None, f"the {fault} fault did not fail the acquire: {decisions}"
        recorded = self.recorded_decisions(len(items))
        granted: list[bytes] = []
        for (manifest, request), decision, entry in zip(items, decisions, recorded, strict=True):
            usage = self.usage(world, day, now)
            assert entry["usage"] == {"json": usage}, "the recorded usage is not the model's"
            assert entry["day"] == day
            expected = decide(
                self.manager.authority, manifest, SNAPSHOT, now, None, request, None, usage
            )
            assert decision == expected, (decision, expected)
            if isinstance(decision, Grant):
                self.events["grant"] += 1
                granted.append(self.record_grant(world, manifest, request, decision, day, now))
            else:
                self.events[f"deny:{decision.code}:{decision.reason}"] += 1
                if counts_for_safety(decision):
                    principal = str(request["principal"])
                    workspace = str(request["workspace"])
                    world.denials.append(
                        MDenial(principal, workspace, now.epoch, now.ns, str(decision.code))
                    )
        self.commit(world)
        return multiple(*granted)

    def record_grant(
        self,
        world: World,
        manifest: dict[str, Any],
        request: dict[str, Any],
        grant: Grant,
        day: int,
        now: MonotonicTime,
    ) -> bytes:
        demand = request["demand"]
        principal, workspace = str(request["principal"]), str(request["workspace"])
        # Independently of the kernel: the grant fits every concurrency, compute and spend
        # limit of its scopes, counting what the model has in flight and spent today.
        for path, limits in LIMITS.items():
            mine = [
                lease
                for lease in world.leases.values()
                if self.in_scope(path, lease.principal, lease.workspace)
            ]
            if not self.in_scope(path, principal, workspace):
                continue
            flight = [lease for lease in mine if lease.live(now)]
            spent = sum(self.spent(lease) for lease in mine if lease.day == day)
            for pool, used in (
                ("concurrency", len(flight) + 1),
                ("compute", sum(lease.compute for lease in flight) + demand["compute"]),
                ("spend_cents", spent + demand["spend_cents"]),
            ):
                limit = limits[pool]
                assert limit is None or used <= limit, (path, pool, used, limit)
        lease = MLease(
            lease_id=grant.lease_id,
            token=grant.token,
            task_id=str(manifest["task_id"]),
            manifest_digest=json_digest(manifest),
            principal=principal,
            workspace=workspace,
            epoch=now.epoch,
            granted=now.ns,
            expires=grant.claims.expires_at_ns,
            day=day,
            units=demand["units"],
            compute=demand["compute"],
            spend=demand["spend_cents"],
        )
        assert grant.lease_id not in world.leases
        world.leases[grant.lease_id] = lease
        return grant.lease_id

    @staticmethod
    def in_scope(path: str, principal: str, workspace: str) -> bool:
        if path == "pools.org":
            return True
        if path.startswith("pools.workspaces."):
            return workspace == path.removeprefix("pools.workspaces.")
        return principal == path.removeprefix("pools.principals.")

    @staticmethod
    def spent(lease: MLease) -> int:
        if lease.state == "open":
            return lease.spend
        assert lease.settled_spend is not None
        return lease.settled_spend

    # ---- rules: release

    @rule(
        lease_id=leases,
        kind=st.sampled_from(USAGE_KINDS),
        proof=st.sampled_from(["fresh"] * 6 + ["wrong_holder", "replayed", "malformed"]),
    )
    def release(self, lease_id: bytes, kind: str, proof: str) -> None:
        self.do_release(lease_id, kind, proof, None)

    @rule(
        lease_id=leases,
        kind=st.sampled_from(USAGE_KINDS),
        fault=st.sampled_from(["die", "commit", "audit"]),
    )
    def release_crashing(self, lease_id: bytes, kind: str, fault: str) -> None:
        if fault not in self.FAULTS:
            fault = "die"
        self.do_release(lease_id, kind, "fresh", fault)

    @rule()
    def release_unknown(self) -> None:
        with pytest.raises(ReleaseRejected) as caught:
            self.manager.release(
                bytes(16),
                {"units": 0, "spend_cents": 0},
                sign_holder_proof(cv.HOLDER, bytes(16), os.urandom(32)),
            )
        assert caught.value.reason == ReleaseRejection.UNKNOWN_LEASE

    def do_release(self, lease_id: bytes, kind: str, proof: str, fault: str | None) -> None:
        now = self.now
        world = self.effective()
        lease = world.leases[lease_id]
        usage = usage_for(kind, lease.units, lease.spend)
        challenge = os.urandom(32)
        holder_proof: object
        if proof == "wrong_holder":
            holder_proof = sign_holder_proof(cv.ALICE, lease_id, challenge)
        elif proof == "malformed":
            holder_proof = {"challenge": challenge.hex()}
        elif proof == "replayed" and lease.challenges:
            challenge = sorted(lease.challenges)[0]
            holder_proof = sign_holder_proof(cv.HOLDER, lease_id, challenge)
        else:
            proof = "fresh"
            holder_proof = sign_holder_proof(cv.HOLDER, lease_id, challenge)
        # §14.7: the first failed check decides.
        expected: ReleaseRejection | None = None
        if proof in {"wrong_holder", "malformed"}:
            expected = ReleaseRejection.HOLDER_PROOF_INVALID
        elif challenge in lease.challenges:
            expected = ReleaseRejection.HOLDER_PROOF_REPLAYED
        elif lease.released:
            expected = ReleaseRejection.ALREADY_RELEASED
        elif lease.revoked:
            expected = ReleaseRejection.REVOKED
        elif lease.ended_by_time(now):
            expected = ReleaseRejection.EXPIRED
        if expected is not None:
            with pytest.raises(ReleaseRejected) as caught:
                self.manager.release(lease_id, usage, holder_proof)
            assert caught.value.reason == expected, (caught.value, expected)
            self.events[f"release_rejected:{expected}"] += 1
            return
        swept = world.sweep(now)
        effect = ("release", lease_id, usage["units"], usage["spend_cents"], challenge)
        if fault is not None:
            self.arm(fault)
        try:
            receipt = self.manager.release(lease_id, usage, holder_proof)
        except Crash:
            self.disarm()
            self.events["crash:release"] += 1
            self.crash_reopen()
            apply(world, effect)
            self.commit(world)
            return
        except StateError:
            self.disarm()
            assert fault in {"commit", "audit"}
            self.events[f"{fault}:release"] += 1
            if fault == "commit":
                self.pending.extend(("expire", swept_id) for swept_id in swept)
                self.pending.append(effect)
            return
        self.disarm()
        assert fault is None, f"the {fault} fault did not fail the release"
        self.events["release"] += 1
        document = receipt.to_json()
        assert document["reserved"] == {"units": lease.units, "spend_cents": lease.spend}
        assert document["settled"] == usage
        assert document["overrun"] == (
            usage["units"] > lease.units or usage["spend_cents"] > lease.spend
        )
        apply(world, effect)
        self.commit(world)

    # ---- rules: authorize, revoke

    @rule(lease_id=leases)
    def authorize(self, lease_id: bytes) -> None:
        now = self.now
        world = self.effective()
        lease = world.leases[lease_id]
        challenge = os.urandom(32)
        proof = sign_holder_proof(cv.HOLDER, lease_id, challenge)
        # §12.5: the kernel's verification (time before revocation), then release.
        if lease.ended_by_time(now):
            expected: tuple[str, str] | None = (
                "LEASE_EXPIRED",
                "EPOCH_MISMATCH" if lease.epoch != now.epoch else "EXPIRED",
            )
        elif lease.revoked:
            expected = ("LEASE_REVOKED", "REVOKED")
        elif lease.released:
            expected = ("LEASE_REVOKED", "RELEASED")
        else:
            expected = None
        try:
            self.manager.authorize(
                lease.token, proof, task_id=lease.task_id, manifest_digest=lease.manifest_digest
            )
        except InvalidLease as refused:
            assert expected is not None, refused.deny
            got = (str(refused.deny.code), refused.deny.reason)
            assert got == expected, got
            self.commit(world)  # the refusal is recorded: the transaction committed
            return
        assert expected is None, f"authorized, expected {expected}"
        self.events["authorize"] += 1
        lease.challenges.add(challenge)
        self.commit(world)

    @rule(lease_id=leases, fault=st.sampled_from([None, None, None, "die", "commit", "audit"]))
    def revoke(self, lease_id: bytes, fault: str | None) -> None:
        if fault is not None and fault not in self.FAULTS:
            fault = "die"
        world = self.effective()
        lease = world.leases[lease_id]
        if lease.revoked:
            fault = None  # revoking a revoked lease writes nothing: there is nothing to break
        effect = ("revoke", lease_id)
        if fault is not None:
            self.arm(fault)
        try:
            revocation = self.manager.revoke(lease_id, "operator request")
        except Crash:
            self.disarm()
            self.events["crash:revoke"] += 1
            self.crash_reopen()
            apply(world, effect)
            self.commit(world)
            return
        except StateError:
            self.disarm()
            assert fault in {"commit", "audit"}
            self.events[f"{fault}:revoke"] += 1
            if fault == "commit":
                self.pending.append(effect)
            return
        self.disarm()
        assert fault is None, f"the {fault} fault did not fail the revoke"
        assert revocation.already_revoked == lease.revoked
        self.events["revoke"] += 1
        apply(world, effect)
        self.commit(world)

    # ---- rules: time, reopen

    @rule(ns=st.sampled_from(ADVANCES))
    def advance(self, ns: int) -> None:
        self.clock.advance(ns)

    @rule()
    def next_day(self) -> None:
        self.calendar.advance()

    @rule()
    def reboot(self) -> None:
        epoch = f"boot-{len(self.epochs) + 1}"
        self.epochs.append(epoch)
        self.clock.reboot(epoch, START_NS)
        self.events["reboot"] += 1

    @rule()
    def reopen(self) -> None:
        self.crash_reopen()  # recovery settles what is in doubt, and commits
        self.commit(self.effective())

    # ---- invariants

    def store_reservations(self) -> dict[bytes, ReservationRecord]:
        """Every reservation of the store, through the store's own queries."""
        found: dict[bytes, ReservationRecord] = {}
        days = {lease.day for lease in self.committed.leases.values()} | {self.calendar.day}
        for epoch in self.epochs:
            for day in days:
                for record in self.store().usage_reservations(epoch, 0, day):
                    found[record.lease_id] = record
        return found

    @invariant()
    def store_agrees_with_model(self) -> None:
        found = self.store_reservations()
        assert set(found) == set(self.committed.leases), "reservations differ from the grants"
        for lease_id, lease in self.committed.leases.items():
            record = found[lease_id]
            assert (record.state, record.settled_units, record.settled_cents) == (
                lease.state,
                lease.settled_units,
                lease.settled_spend,
            ), (lease_id.hex(), record, lease.state)
            assert (record.units, record.compute, record.spend_cents, record.day) == (
                lease.units,
                lease.compute,
                lease.spend,
                lease.day,
            )
            assert (self.store().release(lease_id) is not None) == lease.released
            assert (self.store().revocations.lookup(lease_id) is not None) == lease.revoked
            assert not (lease.state == "revoked" and lease.released)
            assert not (lease.state == "released" and not lease.released)

    @invariant()
    def pools_agree_with_model(self) -> None:
        status = self.manager.pools().to_json()
        now, day = self.now, self.calendar.day
        assert status["day"] == day
        scopes = status["scopes"]
        assert isinstance(scopes, list)
        assert {scope["scope"] for scope in scopes} == set(LIMITS)
        for scope in scopes:
            path = scope["scope"]
            mine = [
                lease
                for lease in self.committed.leases.values()
                if self.in_scope(path, lease.principal, lease.workspace)
            ]
            flight = [lease for lease in mine if lease.live(now)]
            window = [
                lease
                for lease in mine
                if lease.epoch == now.epoch and 0 <= now.ns - lease.granted < WINDOW_NS
            ]
            expected = {
                "concurrency": len(flight),
                "compute": sum(lease.compute for lease in flight),
                "requests": len(window),
                "units": sum(lease.units for lease in window),
                "spend_cents": sum(self.spent(lease) for lease in mine if lease.day == day),
            }
            used = {pool: value["used"] for pool, value in scope["pools"].items()}
            assert used == expected, (path, used, expected)
            for pool in ("concurrency", "compute"):  # nothing in flight exceeds a limit
                limit = LIMITS[path][pool]
                assert limit is None or expected[pool] <= limit, (path, pool)

    @invariant()
    def settlements_agree_with_the_audit_log(self) -> None:
        head = self.store().audit_head()
        assert head is not None
        records = [json.loads(line) for line in self.audit_lines()]
        settlements = [r for r in records if r["event"] == "settlement"]
        per_lease = Counter(r["lease_id"] for r in settlements)
        twice = [lease_id for lease_id, n in per_lease.items() if n > 1]
        assert not twice, f"settled more than once: {twice}"
        committed = {r["lease_id"]: r for r in settlements if r["seq"] <= head.seq}
        why = {"released": "RELEASED", "revoked": "REVOKED", "expired": "EXPIRED"}
        found = self.store_reservations()
        spend: Counter[int] = Counter()
        for lease_id, record in found.items():
            entry = committed.get(lease_id.hex())
            if record.state == "open":
                assert entry is None, f"{lease_id.hex()} is open but has a settlement"
                spend[record.day] += record.spend_cents
                continue
            assert entry is not None, f"{lease_id.hex()} is {record.state} without a settlement"
            assert entry["why"] == why[record.state]
            assert entry["day"] == record.day
            assert entry["reserved"] == {"units": record.units, "spend_cents": record.spend_cents}
            assert entry["settled"] == {
                "units": record.settled_units,
                "spend_cents": record.settled_cents,
            }
            spend[record.day] += entry["settled"]["spend_cents"]
        expected: Counter[int] = Counter()
        for lease in self.committed.leases.values():
            expected[lease.day] += self.spent(lease)
        assert +spend == +expected, (spend, expected)
        # A release entry and a REVOKED settlement never name the same lease.
        released = {r["lease_id"] for r in records if r["event"] == "release"}
        revoked_settled = {r["lease_id"] for r in settlements if r["why"] == "REVOKED"}
        assert not released & revoked_settled


class MemoryPools(PoolsLifecycle):
    """The in-memory fakes: a failed commit, a failed audit append, or a death."""

    FAULTS = ("die", "commit", "audit")

    def open_manager(self) -> LeaseManager:
        if not hasattr(self, "fake_store"):
            self.fake_store = MemoryLeaseStore()
            self.fake_audit = MemoryAuditLog()
        return LeaseManager(
            signer=cv.ISSUER,
            policy=POLICY,
            clock=self.clock,
            trust_source=self.trust,
            store=self.fake_store,
            audit=self.fake_audit,
            calendar=self.calendar,
        )

    def audit_lines(self) -> list[bytes]:
        return list(self.fake_audit.lines)

    def crash_reopen(self) -> None:
        self.manager = self.open_manager()  # the dead one is dropped, not closed


class DurablePools(PoolsLifecycle):
    """SQLite and the JSONL log in a state directory; a death, then ``LeaseManager.open``."""

    FAULTS = ("die",)

    def open_manager(self) -> LeaseManager:
        return LeaseManager.open(
            self.directory / "state",
            signer=cv.ISSUER,
            policy=POLICY,
            clock=self.clock,
            trust_source=self.trust,
            calendar=self.calendar,
        )

    def audit_lines(self) -> list[bytes]:
        return (self.directory / "state" / AUDIT_FILE).read_bytes().splitlines(keepends=True)

    def crash_reopen(self) -> None:
        self.manager.close()
        self.manager = self.open_manager()
        assert isinstance(self.manager.audit, JsonlAuditLog)


# Each step reads the whole audit log and the store: fewer examples than the profile asks for,
# scaled with it (a half of quick's 60, a fifth of thorough's 600).
_PROFILE = settings()
MEMORY_SETTINGS = settings(
    _PROFILE, max_examples=min(_PROFILE.max_examples, max(30, _PROFILE.max_examples // 5))
)
DURABLE_SETTINGS = settings(
    _PROFILE,
    max_examples=min(_PROFILE.max_examples, max(10, _PROFILE.max_examples // 10)),
    stateful_step_count=min(_PROFILE.stateful_step_count, 30),
)


def test_pool_accounting_over_the_fakes(tmp_path: Path) -> None:
    class Machine(MemoryPools):
        root = tmp_path

    run_state_machine_as_test(Machine, settings=MEMORY_SETTINGS)


def test_pool_accounting_over_the_durable_adapters(tmp_path: Path) -> None:
    class Machine(DurablePools):
        root = tmp_path

    run_state_machine_as_test(Machine, settings=DURABLE_SETTINGS)
