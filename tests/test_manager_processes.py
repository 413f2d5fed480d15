"""Real processes sharing one state directory: revocation visibility, concurrency and SIGKILL.

Every worker is a separate Python interpreter running ``tests/process_worker.py`` against the
same state directory; they agree on the time through ``SharedClock`` (CLOCK_BOOTTIME since a base
the test hands out) and on the scores through ``trust.json``. Nothing here reaches into a
worker's memory: what a worker was told is what it printed, and what is durable is what a fresh
``LeaseManager.open`` of the directory finds.

1. Several processes: a revocation returned in one process is the very next authorization's
   answer in another; concurrent acquires keep the audit chain whole; concurrent revocations are
   all durable, each recorded once.
2. Crashes: writers looping acquire / authorize / revoke are SIGKILLed at random moments, over
   and over on one directory; after every kill the directory opens, the audit log verifies,
   everything acknowledged is there and nothing unacknowledged counts as granted (spec §12.4).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from pda_lease import Grant, InvalidLease, TrustSnapshot, json_digest, parse_trust_snapshot
from pda_lease.adapters import FileTrustSource, StateError, verify_audit_file
from pda_lease.conformance import base_snapshot
from pda_lease.manager import LeaseManager
from process_worker import boottime_ns, fresh_proof, manifest_for, open_manager

REPO = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().with_name("process_worker.py")
REPLY_TIMEOUT_S = 60.0
CRASH_ROUNDS = int(os.environ.get("PDA_LEASE_CRASH_ROUNDS", "20"))


# ---------------------------------------------------------------------------------- plumbing


class Worker:
    """One worker process; its stdout lines arrive on a queue read by a thread."""

    def __init__(self, args: list[str], stderr_path: Path) -> None:
        self._stderr_path = stderr_path
        self._stderr: IO[bytes] = open(stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=REPO,
        )
        self.started = time.perf_counter()
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._closed = False

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def stderr_text(self) -> str:
        self._stderr.flush()
        return self._stderr_path.read_text(errors="replace")[-4000:]

    def send(self, **command: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        self.proc.stdin.flush()

    def reply(self) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=REPLY_TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"worker did not answer: {self.stderr_text()}") from None
        if line is None:
            raise AssertionError(f"worker exited ({self.proc.wait()}): {self.stderr_text()}")
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, answer
        return answer

    def call(self, **command: object) -> dict[str, Any]:
        self.send(**command)
        return self.reply()

    def kill(self) -> bool:
        """SIGKILL the process; True if it was still running (had not exited by itself)."""
        alive = self.proc.poll() is None
        if alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return alive

    def acknowledged(self) -> list[str]:
        """After the process is gone: every complete line it printed, in order."""
        self.kill()
        self._reader.join(timeout=REPLY_TIMEOUT_S)
        lines: list[str] = []
        while True:
            line = self._lines.get_nowait() if not self._lines.empty() else None
            if line is None:
                break
            if line.endswith(b"\n"):  # a line without its newline was never finished
                lines.append(line.decode().rstrip("\n"))
        return lines

    def quit(self) -> None:
        assert self.call(op="quit") == {"bye": True}
        assert self.proc.wait(timeout=REPLY_TIMEOUT_S) == 0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self._reader.join(timeout=REPLY_TIMEOUT_S)
        self._stderr.close()


class Fleet:
    """Starts workers on one state directory and makes sure none outlives the test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.state = tmp_path / "state"
        self.base_ns = boottime_ns()
        self.workers: list[Worker] = []

    def start(self, mode: str, *extra: str) -> Worker:
        name = f"worker-{len(self.workers)}.err"
        args = [mode, str(self.state), "--base-ns", str(self.base_ns), *extra]
        worker = Worker(args, self.tmp_path / name)
        self.workers.append(worker)
        return worker

    def serve(self, *extra: str) -> Worker:
        worker = self.start("serve", *extra)
        assert worker.reply() == {"ready": True}
        return worker

    def init_state(self) -> None:
        """A state directory with a trust snapshot and a first open already committed."""
        self.state.mkdir()
        publish_trust(self.state / "trust.json")
        self.open().close()

    def open(self) -> LeaseManager:
        return open_manager(self.state, self.base_ns)

    @property
    def audit(self) -> Path:
        return self.state / "audit.jsonl"

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    try:
        yield fleet
    finally:
        fleet.close()


def publish_trust(path: Path) -> None:
    snapshot = parse_trust_snapshot(base_snapshot())
    assert isinstance(snapshot, TrustSnapshot)
    FileTrustSource(path).publish(snapshot)


def records_of(audit: Path) -> list[dict[str, Any]]:
    raw = audit.read_bytes()
    assert raw.endswith(b"\n"), "the audit log ends in a torn line"
    return [json.loads(line) for line in raw.splitlines()]


def authorize_denial(
    manager: LeaseManager, token: bytes, lease_id: bytes, task_id: str
) -> tuple[str, str] | None:
    """None if ``authorize`` allows, else its (code, reason)."""
    proof, _ = fresh_proof(lease_id)
    try:
        manager.authorize(
            token, proof, task_id=task_id, manifest_digest=json_digest(manifest_for(task_id))
        )
    except InvalidLease as refused:
        return str(refused.deny.code), refused.deny.reason
    return None


def start_at() -> int:
    """A CLOCK_MONOTONIC instant shortly ahead: the workers' common start barrier."""
    return time.monotonic_ns() + 200_000_000


def spans_overlap(spans: list[list[int]]) -> bool:
    return max(start for start, _ in spans) < min(end for _, end in spans)


# ---------------------------------------------------------------------------------- 1. processes


def test_a_revocation_is_the_very_next_authorization_answer_in_another_process(
    fleet: Fleet,
) -> None:
    fleet.init_state()
    a = fleet.serve()
    b = fleet.serve()  # open before any of the revocations below
    latencies: list[float] = []
    for index in range(10):
        task_id = f"shared-{index}"
        grant = a.call(op="acquire", task_id=task_id)
        assert grant["decision"] == "GRANT", grant
        lease = {"token": grant["token"], "lease_id": grant["lease_id"], "task_id": task_id}
        allowed = b.call(op="authorize", **lease)
        assert allowed["result"] == "ALLOW", allowed
        # The proof B used is spent for every process, not just for B.
        replayed = a.call(op="authorize", challenge=allowed["challenge"], **lease)
        assert (replayed["code"], replayed["reason"]) == ("INVALID_TOKEN", "HOLDER_PROOF_REPLAYED")

        revoked = a.call(op="revoke", lease_id=grant["lease_id"], reason="revoked by A")
        assert revoked == {"revoked": grant["lease_id"], "already": False}
        returned = time.perf_counter()  # A's revoke has returned; B has done nothing since
        denied = b.call(op="authorize", **lease)
        latencies.append(time.perf_counter() - returned)
        assert (denied["result"], denied["code"], denied["reason"]) == (
            "DENY",
            "LEASE_REVOKED",
            "REVOKED",
        ), denied
        assert b.call(op="revoke", lease_id=grant["lease_id"], reason="again") == {
            "revoked": grant["lease_id"],
            "already": True,
        }
    a.quit()
    b.quit()
    assert verify_audit_file(fleet.audit).ok
    print(f"revoke -> denied authorize in the other process: max {max(latencies) * 1e3:.1f} ms")


def test_concurrent_acquires_keep_every_line_and_every_grant(fleet: Fleet) -> None:
    processes, per_process, batch = 4, 40, 10
    fleet.init_state()
    workers = [fleet.serve() for _ in range(processes)]
    barrier = start_at()
    for index, worker in enumerate(workers):
        task_ids = [f"p{index}-{n}" for n in range(per_process)]
        worker.send(op="acquire_series", task_ids=task_ids, batch=batch, start_at=barrier)
    replies = [worker.reply() for worker in workers]
    for worker in workers:
        worker.quit()
    # The processes really ran at the same time (else this test proves nothing).
    assert spans_overlap([reply["span"] for reply in replies])
    acknowledged = set()
    for reply in replies:
        assert [r["decision"] for r in reply["results"]] == ["GRANT"] * per_process
        acknowledged |= {r["lease_id"] for r in reply["results"]}
    assert len(acknowledged) == processes * per_process

    report = verify_audit_file(fleet.audit)
    assert report.ok, report
    raw = fleet.audit.read_bytes()
    lines = raw.split(b"\n")
    assert lines[-1] == b""  # ends with a newline, and no line is empty or split
    records = [json.loads(line) for line in lines[:-1]]
    assert [record["seq"] for record in records] == list(range(len(records)))
    assert report.entries == len(records)
    decisions = [r for r in records if r["event"] == "decision"]
    assert len(decisions) == processes * per_process
    assert {d["outcome"]["lease_id"] for d in decisions} == acknowledged
    # The first use of the snapshot is recorded once, not once per process.
    assert sum(r["event"] == "trust_snapshot" for r in records) == 1
    owners = [d["manifest"]["json"]["task_id"].split("-")[0] for d in decisions]
    switches = sum(1 for x, y in itertools.pairwise(owners) if x != y)

    with fleet.open() as manager:
        assert {lease.lease_id.hex() for lease in manager.store.leases()} == acknowledged
        assert manager.store.audit_head() == verify_audit_file(fleet.audit).head
    assert not [r for r in records_of(fleet.audit) if r["event"].endswith("_void")]
    print(f"{len(records)} entries, {switches} switches between processes in the log")


def test_concurrent_revocations_from_two_processes_are_all_durable(fleet: Fleet) -> None:
    fleet.init_state()
    with fleet.open() as manager:
        grants = manager.acquire_many([manifest_for(f"revoke-{n}") for n in range(30)])
    ids = [g.lease_id.hex() for g in grants if isinstance(g, Grant)]
    assert len(ids) == 30
    both, only_a, only_b = ids[10:20], ids[:10], ids[20:]
    a, b = fleet.serve(), fleet.serve()
    barrier = start_at()
    a.send(op="revoke_many", lease_ids=both + only_a, start_at=barrier)
    b.send(op="revoke_many", lease_ids=both + only_b, start_at=barrier)
    answer_a, answer_b = a.reply(), b.reply()
    a.kill()  # no clean close: what was returned must already be durable
    b.kill()
    assert spans_overlap([answer_a["span"], answer_b["span"]])
    fresh_a = {lease_id: not already for lease_id, already in answer_a["revoked"]}
    fresh_b = {lease_id: not already for lease_id, already in answer_b["revoked"]}
    assert all(fresh_a[lease_id] for lease_id in only_a)
    assert all(fresh_b[lease_id] for lease_id in only_b)
    # Each shared lease was revoked by exactly one of them; the other found it revoked.
    assert all(fresh_a[lease_id] != fresh_b[lease_id] for lease_id in both)

    with fleet.open() as manager:
        registry = {r.lease_id.hex(): r for r in manager.store.revocations.all()}
        assert set(registry) == set(ids)
        records = records_of(fleet.audit)
        revocations = [r for r in records if r["event"] == "revocation"]
        assert collections.Counter(r["lease_id"] for r in revocations) == dict.fromkeys(ids, 1)
        for record in revocations:
            assert registry[record["lease_id"]].audit_seq == record["seq"]
        report = verify_audit_file(fleet.audit, committed=manager.store.audit_head())
        assert report.ok, report
        grant = grants[15]
        assert isinstance(grant, Grant)
        assert authorize_denial(manager, grant.token, grant.lease_id, "revoke-15") == (
            "LEASE_REVOKED",
            "REVOKED",
        )


# ---------------------------------------------------------------------------------- in doubt


def _in_doubt_setup(fleet: Fleet) -> Grant:
    fleet.init_state()
    with fleet.open() as manager:
        grant = manager.acquire(manifest_for("victim"))
    assert isinstance(grant, Grant)
    return grant


def _start_in_doubt(fleet: Fleet, a: Worker, op: str, grant: Grant) -> None:
    """Make A append its entry for ``op`` durably and stop before the store commits it."""
    assert a.call(op="pause_before_commit") == {"armed": True}
    lease = {"token": grant.token.hex(), "lease_id": grant.lease_id.hex(), "task_id": "victim"}
    if op == "acquire":
        a.send(op="acquire", task_id="a-in-doubt")
    elif op == "authorize":
        a.send(op="authorize", challenge="ab" * 32, **lease)
    else:
        a.send(op="revoke", lease_id=grant.lease_id.hex(), reason="in doubt")
    assert a.reply() == {"paused": True}


def _the_in_doubt_entry(records: list[dict[str, Any]], op: str, grant: Grant) -> dict[str, Any]:
    if op == "acquire":
        found = [
            r
            for r in records
            if r["event"] == "decision" and r["manifest"]["json"]["task_id"] == "a-in-doubt"
        ]
    elif op == "authorize":
        found = [
            r
            for r in records
            if r["event"] == "authorization" and r["holder_proof"]["json"]["challenge"] == "ab" * 32
        ]
    else:
        found = [r for r in records if r["event"] == "revocation"]
    assert len(found) == 1, found
    return found[0]


def _assert_settled(
    manager: LeaseManager, records: list[dict[str, Any]], op: str, grant: Grant
) -> None:
    entry = _the_in_doubt_entry(records, op, grant)
    later = [r for r in records if r["seq"] > entry["seq"]]
    if op == "acquire":
        lease_id = entry["outcome"]["lease_id"]
        assert manager.store.lease(bytes.fromhex(lease_id)) is None
        voids = [r for r in later if r["event"] == "grant_void" and r["entry_seq"] == entry["seq"]]
        assert [v["lease_id"] for v in voids] == [lease_id], "the uncommitted GRANT was not voided"
    elif op == "authorize":
        assert entry["outcome"] == {"result": "ALLOW"}
        # Voided, and its challenge burnt all the same (spec §12.4): never usable twice.
        assert manager.store.proof_used(grant.lease_id, bytes.fromhex("ab" * 32))
        voids = [
            r
            for r in later
            if r["event"] == "authorization_void" and r["entry_seq"] == entry["seq"]
        ]
        assert len(voids) == 1, "the uncommitted ALLOW was not voided"
    else:
        recovered = [
            r
            for r in later
            if r["event"] == "revocation_recovered" and r["entry_seq"] == entry["seq"]
        ]
        assert len(recovered) == 1, "the uncommitted revocation was not rolled forward"
        assert manager.store.revocations.lookup(grant.lease_id) is not None


@pytest.mark.parametrize("op", ["acquire", "authorize", "revoke"])
def test_a_live_process_settles_what_a_killed_peer_left_in_doubt(fleet: Fleet, op: str) -> None:
    """A dies between its audit append and its commit; B's next transaction settles it."""
    grant = _in_doubt_setup(fleet)
    a, b = fleet.serve(), fleet.serve()
    _start_in_doubt(fleet, a, op, grant)
    a.kill()
    assert b.call(op="acquire", task_id="b-after")["decision"] == "GRANT"
    b.quit()
    with fleet.open() as manager:
        records = records_of(fleet.audit)
        _assert_settled(manager, records, op, grant)
        assert verify_audit_file(fleet.audit, committed=manager.store.audit_head()).ok


@pytest.mark.parametrize("op", ["acquire", "authorize", "revoke"])
def test_in_doubt_entries_are_settled_after_a_best_effort_append_read_past_them(
    fleet: Fleet, op: str
) -> None:
    """As above, but before A dies, B records a refusal outside any transaction (its trust
    snapshot is unreadable). That append reads past A's in-doubt entry; B's next transaction
    must still settle it (spec §12.4: every entry after the committed head is settled)."""
    grant = _in_doubt_setup(fleet)
    b_trust = fleet.tmp_path / "b-trust.json"
    a, b = fleet.serve(), fleet.serve("--trust-file", str(b_trust))
    _start_in_doubt(fleet, a, op, grant)
    refused = b.call(op="acquire", task_id="b-refused")
    assert (refused["code"], refused["reason"]) == ("UNAVAILABLE", "TRUST_UNAVAILABLE")
    a.kill()
    publish_trust(b_trust)
    assert b.call(op="acquire", task_id="b-after")["decision"] == "GRANT"
    b.quit()
    with fleet.open() as manager:
        records = records_of(fleet.audit)
        assert verify_audit_file(fleet.audit, committed=manager.store.audit_head()).ok
        _assert_settled(manager, records, op, grant)


def test_a_crash_during_the_first_open_leaves_a_state_directory_that_opens(fleet: Fleet) -> None:
    """The very first open appends ``log_created`` and ``authority`` and then commits the store.
    Killed in between, it acknowledged nothing, so the next open must recover, not refuse."""
    fleet.state.mkdir()
    publish_trust(fleet.state / "trust.json")
    worker = fleet.start("serve", "--pause-in-open")
    assert worker.reply() == {"paused": True}
    worker.kill()
    events = [r["event"] for r in records_of(fleet.audit)]
    assert events == ["log_created", "authority"]  # durable in the log, not in the store
    try:
        manager = fleet.open()
    except StateError as exc:
        pytest.fail(f"a crash during the first open bricked the state directory: {exc}")
    with manager:
        assert isinstance(manager.acquire(manifest_for("after-crash")), Grant)
        assert verify_audit_file(fleet.audit, committed=manager.store.audit_head()).ok


# ---------------------------------------------------------------------------------- 2. crashes


class Acks:
    """What killed writers were told, accumulated over every round."""

    def __init__(self) -> None:
        self.grants: set[str] = set()
        self.revokes: set[str] = set()
        self.auths: set[tuple[str, str]] = set()
        self.ready = 0

    def add(self, lines: list[str]) -> None:
        for line in lines:
            kind, *rest = line.split(" ")
            if kind == "READY":
                self.ready += 1
            elif kind == "GRANT":
                self.grants.add(rest[0])
            elif kind == "AUTH":
                self.auths.add((rest[0], rest[1]))
            elif kind == "REVOKED":
                self.revokes.add(rest[0])
            else:
                raise AssertionError(f"a writer reported {line!r}")


def _simulate_torn_tail(audit: Path) -> tuple[int, bytes]:
    """Append half of a line by hand; return where the torn tail starts and its bytes."""
    raw = audit.read_bytes()
    keep = raw.rfind(b"\n") + 1  # a writer may already have left a torn tail of its own
    last_line = raw[raw.rfind(b"\n", 0, keep - 1) + 1 : keep]
    fragment = last_line[: len(last_line) // 2]
    with open(audit, "ab") as handle:
        handle.write(fragment)
    return keep, raw[keep:] + fragment


def _check_after_reopen(
    manager: LeaseManager, audit: Path, acks: Acks, checked_voids: set[str], rng: random.Random
) -> collections.Counter[str]:
    head = manager.store.audit_head()
    report = verify_audit_file(audit, committed=head)
    assert report.ok, report
    assert report.head == head  # the reopen committed everything it settled
    records = records_of(audit)
    assert report.entries == len(records)

    leases = {lease.lease_id.hex(): lease for lease in manager.store.leases()}
    states = {s.lease.lease_id.hex(): s.state for s in manager.status().leases}
    assert set(states) == set(leases)
    registry = {r.lease_id.hex(): r for r in manager.store.revocations.all()}
    assert set(registry) <= set(leases)
    assert {lease_id for lease_id, state in states.items() if state == "revoked"} == set(registry)
    # Nothing ends a lease here but revocation and time (one snapshot, one policy).
    assert {states[lease_id] for lease_id in set(leases) - set(registry)} <= {"live", "expired"}

    # Everything acknowledged is durable.
    assert acks.grants <= set(leases), acks.grants - set(leases)
    assert acks.revokes <= set(registry), acks.revokes - set(registry)
    for lease_id, challenge in acks.auths:
        assert manager.store.proof_used(bytes.fromhex(lease_id), bytes.fromhex(challenge))

    grant_voids = {(r["lease_id"], r["entry_seq"]) for r in records if r["event"] == "grant_void"}
    voided = {lease_id for lease_id, _ in grant_voids}
    auth_voids = {
        (r["lease_id"], r["entry_seq"]) for r in records if r["event"] == "authorization_void"
    }
    assert not voided & set(leases), "a voided grant is in the store"
    allows = {
        (r["lease_id"], r["seq"]): r["holder_proof"]["json"]["challenge"]
        for r in records
        if r["event"] == "authorization" and r["outcome"] == {"result": "ALLOW"}
    }
    assert auth_voids <= set(allows), "an authorization_void names no ALLOW entry"
    voided_auths = {(lease_id, allows[(lease_id, seq)]) for lease_id, seq in auth_voids}
    assert not voided_auths & set(acks.auths), "an acknowledged authorization was voided"
    decided: set[str] = set()
    for record in records:
        event = record["event"]
        if event == "decision" and record["outcome"]["decision"] == "GRANT":
            outcome = record["outcome"]
            lease_id = outcome["lease_id"]
            decided.add(lease_id)
            if lease_id in leases:
                assert leases[lease_id].audit_seq == record["seq"]
                continue
            # Never committed: voided, and its token is worth nothing.
            assert (lease_id, record["seq"]) in grant_voids, f"GRANT {lease_id} not voided"
            if lease_id not in checked_voids:
                checked_voids.add(lease_id)
                denial = authorize_denial(
                    manager,
                    bytes.fromhex(outcome["token"]),
                    bytes.fromhex(lease_id),
                    record["manifest"]["json"]["task_id"],
                )
                assert denial == ("INVALID_TOKEN", "UNKNOWN_LEASE"), denial
        elif event == "authorization" and record["outcome"] == {"result": "ALLOW"}:
            lease_id = record["lease_id"]
            proof = record["holder_proof"]["json"]
            used = manager.store.proof_used(
                bytes.fromhex(lease_id), bytes.fromhex(proof["challenge"])
            )
            # Every ALLOW in the log used up its challenge, committed or voided (spec §12.4).
            assert used, record
        elif event == "revocation":
            assert record["lease_id"] in registry, f"revocation {record['seq']} not durable"
    assert set(leases) <= decided

    # The reopened manager still decides: a live acknowledged lease is allowed, a revoked one
    # is not.
    live = sorted(lease_id for lease_id in acks.grants if states[lease_id] == "live")
    for pool, expected in ((live, None), (sorted(acks.revokes), ("LEASE_REVOKED", "REVOKED"))):
        if pool:
            lease = leases[rng.choice(pool)]
            assert authorize_denial(manager, lease.token, lease.lease_id, lease.task_id) == expected
    return collections.Counter(record["event"] for record in records)


def test_sigkill_at_random_moments_loses_nothing_acknowledged(fleet: Fleet) -> None:
    seed = int(os.environ.get("PDA_LEASE_CRASH_SEED", str(random.SystemRandom().randrange(2**32))))
    rng = random.Random(seed)
    fleet.init_state()
    acks = Acks()
    checked_voids: set[str] = set()
    real_torn = simulated_torn = 0
    reopen_s: list[float] = []
    started = time.perf_counter()
    events: collections.Counter[str] = collections.Counter()
    for round_number in range(CRASH_ROUNDS):
        where = f"seed {seed}, round {round_number}"
        writers = [
            fleet.start(
                "writer", "--prefix", f"r{round_number}w{k}", "--seed", str(rng.randrange(2**32))
            )
            for k in range(2)
        ]
        # One writer dies first, the other keeps going (and must settle what the first left in
        # doubt), then dies too. Early kills land while the process is still opening.
        time.sleep(rng.uniform(0.03, 0.5))
        assert writers[0].kill(), f"{where}: {writers[0].stderr_text()}"
        time.sleep(rng.uniform(0.0, 0.25))
        assert writers[1].kill(), f"{where}: {writers[1].stderr_text()}"
        for writer in writers:
            acks.add(writer.acknowledged())
            writer.close()
        if not fleet.audit.read_bytes().endswith(b"\n"):
            real_torn += 1
        torn: tuple[int, bytes] | None = None
        if round_number % 4 == 3:
            torn = _simulate_torn_tail(fleet.audit)
            simulated_torn += 1
        opened = time.perf_counter()
        try:
            manager = fleet.open()
        except StateError as exc:
            pytest.fail(f"{where}: the state directory did not reopen: {exc}")
        reopen_s.append(time.perf_counter() - opened)
        with manager:
            events = _check_after_reopen(manager, fleet.audit, acks, checked_voids, rng)
        if torn is not None:
            offset, data = torn
            digest = hashlib.sha256(data).hexdigest()
            quarantined = [
                json.loads(line)
                for line in (fleet.state / "audit.quarantine").read_text().splitlines()
            ]
            assert {"offset": offset, "length": len(data), "sha256": digest} in [
                {k: note[k] for k in ("offset", "length", "sha256")} for note in quarantined
            ], where
            entries = [
                r
                for r in records_of(fleet.audit)
                if r["event"] == "torn_tail_quarantined" and r["offset"] == offset
            ]
            assert [(e["length"], e["sha256"]) for e in entries] == [(len(data), digest)], where
    elapsed = time.perf_counter() - started
    assert acks.grants and acks.revokes and acks.auths  # the writers did get work done
    print(
        f"\ncrash test seed {seed}: {CRASH_ROUNDS} rounds, {2 * CRASH_ROUNDS} SIGKILLs "
        f"({2 * CRASH_ROUNDS - acks.ready} before the writer had opened), {elapsed:.1f} s; "
        f"acknowledged {len(acks.grants)} grants, {len(acks.auths)} authorizations, "
        f"{len(acks.revokes)} revocations; {sum(events.values())} audit entries: "
        f"{dict(sorted(events.items()))}; torn tails: {real_torn} from kills, "
        f"{simulated_torn} by hand; reopen max {max(reopen_s) * 1e3:.0f} ms, "
        f"checked {len(checked_voids)} voided tokens"
    )
