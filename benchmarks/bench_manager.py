"""Throughput of the durable LeaseManager against the floor its design allows.

Why this suite exists: a durable operation must write its audit entry and commit it (spec
§12.4), so its speed is bounded by the disk's sync, not by the kernel. This suite measures the
manager next to that floor, in one process, on one temporary directory (``--dir``, default the
system temp dir), so every figure shares the disk, the filesystem and the page cache. Run from
the repository root::

    .venv/bin/python benchmarks/bench_manager.py [--seconds N] [--rounds N] [--out FILE]

It writes ``benchmarks/results/manager.json`` (``bench_common.results_document``; rows in
µs/op, ms, ops/s and calls/op) and prints the same figures as tables; ``benchmarks/report.py``
puts them in ``BENCHMARKS.md``. Throughput benchmarks run with ``bench_common.run_rounds``
(alternating rounds, medians with min and max). Only the calls being measured are inside the
timed region: manifests and holder proofs (which the client, not the manager, signs) are built
untimed, in chunks, just before each timed chunk.

Measured:

1. floors: a ~1 KiB line appended with ``os.fdatasync``; a one-row SQLite INSERT + COMMIT
   (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``); both in one transaction (BEGIN
   IMMEDIATE, append + fdatasync, INSERT, COMMIT), the shape of one manager operation; and
   an append + fdatasync followed by one ``crypto_sign`` of a real Sig_structure, the floor
   of the target (a durable acquire at most 1.25x that);
2. durable ``acquire`` (distinct manifests, a new task_id each), ``acquire_many`` (batches of
   32, per decision) and durable ``authorize`` (granted leases, a fresh challenge each), with
   ``LeaseManager.open`` and the default ``FileTrustSource``;
3. the same with the in-memory fakes, and the bare kernel (``Authority.decide``,
   ``verify_token``), to separate the kernel's cost from durability's;
4. fsync-family syscalls per operation, counted with ``strace`` in a child process (phases
   are delimited by marker ``openat`` calls on a path that cannot exist); skipped, and said
   so, if strace is missing or cannot trace;
5. ``LeaseManager.open`` on a state directory holding ``--open-leases`` leases (created with
   ``acquire_many``), with and without ``PRAGMA quick_check``, next to a near-empty one;
6. acquire throughput against the number of leases already held (fakes vs durable).

The clock is a ``FakeClock`` frozen inside the conformance manifest's window, so no lease
expires during a run; the kernel reads no real time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bench_common
import nacl.bindings
import report
from bench_common import Bench

from pda_lease import (
    Authority,
    Grant,
    LeasePolicy,
    VerifiedLease,
    decode_unverified,
    json_digest,
    parse_trust_snapshot,
    sign_holder_proof,
    verify_token,
)
from pda_lease.adapters import (
    FakeClock,
    FileTrustSource,
    MemoryAuditLog,
    MemoryLeaseStore,
    MemoryTrustSource,
)
from pda_lease.conformance import (
    EPOCH,
    HOLDER,
    ISSUER,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
    vector_seed,
)
from pda_lease.kernel.inputs import TrustSnapshot
from pda_lease.kernel.token import sig_structure
from pda_lease.manager import AUDIT_FILE, DATABASE_FILE, TRUST_FILE, LeaseManager

NOW_NS = 100 * SECOND  # inside base_manifest's window [10 s, 3600 s); LOW leases last 300 s
LINE = b"x" * 1023 + b"\n"  # the baseline's "~1 KiB audit line"
ROW = b"y" * 1024
MARKER_DIR = "/nonexistent-pda-lease-bench-marker"
FSYNC_FAMILY = ("fsync", "fdatasync", "sync_file_range", "syncfs", "sync", "msync")
BATCH = 32  # acquire_many batch size
ACQUIRE_TARGET = 1.25  # durable acquire / (append+fdatasync, then one sign)


def policy() -> LeasePolicy:
    return LeasePolicy.from_json(base_policy())


def snapshot() -> TrustSnapshot:
    parsed = parse_trust_snapshot(base_snapshot())
    assert isinstance(parsed, TrustSnapshot)
    return parsed


def manifest(n: int) -> dict[str, Any]:
    document = base_manifest()
    document["task_id"] = f"bench-{n:09d}"
    return document


def fresh_proof(lease_id: bytes) -> dict[str, str]:
    return sign_holder_proof(HOLDER, lease_id, os.urandom(32))


def open_durable(state_dir: Path, *, check_integrity: bool = True) -> LeaseManager:
    """The manager as deployed: SQLite store, JSONL audit log, ``trust.json`` in the dir."""
    state_dir.mkdir(parents=True, exist_ok=True)
    trust = FileTrustSource(state_dir / TRUST_FILE)
    if not trust.path.exists():
        trust.publish(snapshot())
    return LeaseManager.open(
        state_dir,
        signer=ISSUER,
        policy=policy(),
        clock=FakeClock(EPOCH, NOW_NS),
        check_integrity=check_integrity,
    )


def open_memory() -> LeaseManager:
    return LeaseManager(
        signer=ISSUER,
        policy=policy(),
        clock=FakeClock(EPOCH, NOW_NS),
        trust_source=MemoryTrustSource(base_snapshot()),
        store=MemoryLeaseStore(),
        audit=MemoryAuditLog(),
    )


def grant_pool(manager: LeaseManager, start: int, count: int) -> list[tuple[Grant, str, bytes]]:
    """``count`` granted leases as (grant, task_id, manifest digest), in one batch."""
    documents = [manifest(start + i) for i in range(count)]
    decisions = manager.acquire_many(documents)
    pool = []
    for document, decision in zip(documents, decisions, strict=True):
        if not isinstance(decision, Grant):
            raise SystemExit(f"setup: expected a grant, got {decision}")
        pool.append((decision, str(document["task_id"]), json_digest(document)))
    return pool


# ---------------------------------------------------------------------------------- benches


class Workload:
    """What one throughput benchmark holds (files, a manager) and its timed body.

    ``body(n)`` runs ``n`` operations and returns the seconds they took, building its inputs
    untimed first (``bench_common.Body``); ``close`` releases what the workload holds.
    """

    bench_id = ""
    label = ""
    chunk = 64

    def body(self, n: int) -> float:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def bench(self) -> Bench:
        return Bench(self.bench_id, self.label, self.body, self.chunk)


class AppendFdatasync(Workload):
    bench_id = "append_fdatasync"
    label = "floor: append 1 KiB + fdatasync"

    def __init__(self, root: Path) -> None:
        self.fd = os.open(root / "baseline-append.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def body(self, n: int) -> float:
        fd, line = self.fd, LINE
        start = time.perf_counter()
        for _ in range(n):
            os.write(fd, line)
            os.fdatasync(fd)
        return time.perf_counter() - start

    def close(self) -> None:
        os.close(self.fd)


def baseline_db(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    assert str(mode).lower() == "wal", mode
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")
    return connection


class SqliteCommit(Workload):
    bench_id = "sqlite_commit"
    label = "floor: SQLite INSERT + COMMIT"

    def __init__(self, root: Path) -> None:
        self.db = baseline_db(root / "baseline-sqlite.db")

    def body(self, n: int) -> float:
        db = self.db
        start = time.perf_counter()
        for _ in range(n):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (body) VALUES (?)", (ROW,))
            db.execute("COMMIT")
        return time.perf_counter() - start

    def close(self) -> None:
        self.db.close()


class AppendThenCommit(Workload):
    bench_id = "append_fdatasync_commit"
    label = "floor: append+fdatasync, then COMMIT"

    def __init__(self, root: Path) -> None:
        self.fd = os.open(root / "baseline-both.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.db = baseline_db(root / "baseline-both.db")

    def body(self, n: int) -> float:
        fd, line, db = self.fd, LINE, self.db
        start = time.perf_counter()
        for _ in range(n):
            db.execute("BEGIN IMMEDIATE")
            os.write(fd, line)
            os.fdatasync(fd)
            db.execute("INSERT INTO t (body) VALUES (?)", (ROW,))
            db.execute("COMMIT")
        return time.perf_counter() - start

    def close(self) -> None:
        os.close(self.fd)
        self.db.close()


def token_sig_structure() -> bytes:
    """The Sig_structure the issuer signs for a real grant (what one acquire must sign)."""
    authority = Authority(ISSUER, policy())
    grant = authority.decide(manifest(0), snapshot(), FakeClock(EPOCH, NOW_NS).now())
    assert isinstance(grant, Grant)
    decoded = decode_unverified(grant.token)
    return sig_structure(decoded.protected, decoded.payload)


class AppendThenSign(Workload):
    """The target's floor: one durable audit append and the libsodium work of one grant."""

    bench_id = "append_fdatasync_sign"

    def __init__(self, root: Path) -> None:
        self.fd = os.open(root / "baseline-sign.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.message = token_sig_structure()
        _public, self.secret_key = nacl.bindings.crypto_sign_seed_keypair(vector_seed("issuer"))
        self.label = (
            f"floor: append 1 KiB + fdatasync, then crypto_sign ({len(self.message)}-byte "
            "Sig_structure)"
        )

    def body(self, n: int) -> float:
        fd, line, message, secret_key = self.fd, LINE, self.message, self.secret_key
        sign = nacl.bindings.crypto_sign
        start = time.perf_counter()
        for _ in range(n):
            os.write(fd, line)
            os.fdatasync(fd)
            sign(message, secret_key)
        return time.perf_counter() - start

    def close(self) -> None:
        os.close(self.fd)


class Acquire(Workload):
    """Distinct manifests (a new task_id each), on one manager kept for the whole run; with
    ``batch``, ``acquire_many`` in batches of ``BATCH`` (one audit append and one commit per
    batch), still timed per decision so that it compares directly with one ``acquire`` each."""

    def __init__(self, root: Path, *, durable: bool, batch: bool = False) -> None:
        self.durable = durable
        self.batch = batch
        kind = "durable" if durable else "in-memory"
        self.bench_id = f"{kind}_acquire" + ("_many" if batch else "")
        self.label = (
            f"{kind} acquire_many (batches of {BATCH}), per decision"
            if batch
            else f"{kind} acquire"
        )
        self.chunk = 2 * BATCH if batch or not durable else BATCH
        self.next_task = 10_000_000 if batch else 0
        self.directory = root / ("acquire-batch" if batch else "acquire")
        self.manager = open_durable(self.directory) if durable else open_memory()

    def body(self, n: int) -> float:
        documents = [manifest(self.next_task + i) for i in range(n)]
        self.next_task += n
        acquire, acquire_many = self.manager.acquire, self.manager.acquire_many
        start = time.perf_counter()
        if self.batch:
            decisions = []
            for first in range(0, n, BATCH):
                decisions += acquire_many(documents[first : first + BATCH])
        else:
            decisions = [acquire(document) for document in documents]
        elapsed = time.perf_counter() - start
        if not all(isinstance(d, Grant) for d in decisions):
            raise SystemExit(f"{self.label}: not granted: {decisions[0]}")
        return elapsed

    def close(self) -> None:
        self.manager.close()


class Authorize(Workload):
    """Round-robin over 64 leases granted at setup, a fresh challenge (and holder proof,
    signed untimed) per call, on one manager kept for the whole run."""

    POOL = 64

    def __init__(self, root: Path, *, durable: bool) -> None:
        kind = "durable" if durable else "in-memory"
        self.bench_id = f"{kind}_authorize"
        self.label = f"{kind} authorize"
        self.chunk = BATCH if durable else 64
        self.turn = 0
        self.manager = open_durable(root / "authorize") if durable else open_memory()
        self.pool = grant_pool(self.manager, 0, self.POOL)

    def body(self, n: int) -> float:
        calls = []
        for _ in range(n):
            grant, task_id, digest = self.pool[self.turn % self.POOL]
            self.turn += 1
            calls.append((grant.token, fresh_proof(grant.lease_id), task_id, digest))
        authorize = self.manager.authorize
        start = time.perf_counter()
        results = [
            authorize(token, proof, task_id=task_id, manifest_digest=digest)
            for token, proof, task_id, digest in calls
        ]
        elapsed = time.perf_counter() - start
        assert all(isinstance(r, VerifiedLease) for r in results)
        return elapsed

    def close(self) -> None:
        self.manager.close()


class KernelDecide(Workload):
    bench_id = "kernel_decide"
    label = "kernel only: Authority.decide"
    chunk = 256

    def __init__(self) -> None:
        self.authority = Authority(ISSUER, policy())
        self.snapshot = snapshot()
        self.now = FakeClock(EPOCH, NOW_NS).now()
        self.next_task = 0

    def body(self, n: int) -> float:
        documents = [manifest(self.next_task + i) for i in range(n)]
        self.next_task += n
        decide, snap, now = self.authority.decide, self.snapshot, self.now
        start = time.perf_counter()
        decisions = [decide(document, snap, now) for document in documents]
        elapsed = time.perf_counter() - start
        assert all(isinstance(d, Grant) for d in decisions)
        return elapsed


class KernelVerify(Workload):
    bench_id = "kernel_verify_token"
    label = "kernel only: verify_token"
    chunk = 256

    def __init__(self) -> None:
        self.authority = Authority(ISSUER, policy())
        self.now = FakeClock(EPOCH, NOW_NS).now()
        document = manifest(0)
        grant = self.authority.decide(document, snapshot(), self.now)
        assert isinstance(grant, Grant)
        self.grant = grant
        self.task_id = str(document["task_id"])
        self.digest = json_digest(document)

    def body(self, n: int) -> float:
        proofs = [fresh_proof(self.grant.lease_id) for _ in range(n)]
        token, key = self.grant.token, self.authority.public_key
        task_id, digest, now = self.task_id, self.digest, self.now
        start = time.perf_counter()
        for proof in proofs:
            verify_token(
                token,
                issuer_public_key=key,
                task_id=task_id,
                manifest_digest=digest,
                now=now,
                holder_proof=proof,
            )
        return time.perf_counter() - start


# ---------------------------------------------------------------------------------- open


def build_state(state_dir: Path, leases: int) -> None:
    with open_durable(state_dir) as manager:
        made = 0
        while made < leases:
            batch = min(500, leases - made)
            grant_pool(manager, made, batch)
            made += batch


def time_open(state_dir: Path, reps: int) -> dict[str, list[float]]:
    """Alternate open with and without quick_check; each timed from open to return."""
    times: dict[str, list[float]] = {"quick_check": [], "no_check": []}
    for _ in range(reps):
        for label, check in (("quick_check", True), ("no_check", False)):
            start = time.perf_counter()
            manager = open_durable(state_dir, check_integrity=check)
            times[label].append(time.perf_counter() - start)
            manager.close()
    return times


def held_scaling(
    root: Path, held: list[int], ops: int, rounds: int, budget: float
) -> dict[tuple[int, str], list[float]]:
    """acquire ops/s with ``held`` leases already stored, in-memory fake vs durable.

    Every (held, kind) manager is built first; then ``rounds`` alternating passes each time
    up to ``ops`` acquires (stopping early after ``budget`` seconds, at least 4). Returns the
    passes' rates per (held, kind). Each pass adds at most ``ops`` leases to what is held.
    """
    managers: dict[tuple[int, str], LeaseManager] = {}
    for count in held:
        for kind in ("in-memory", "durable"):
            manager = (
                open_memory() if kind == "in-memory" else open_durable(root / f"scale-{count}")
            )
            made = 0
            while made < count:
                batch = min(500, count - made)
                grant_pool(manager, made, batch)
                made += batch
            managers[count, kind] = manager
    passes: dict[tuple[int, str], list[float]] = {key: [] for key in managers}
    next_task = max(held, default=0)
    for _ in range(rounds):
        for key, manager in managers.items():
            documents = [manifest(next_task + i) for i in range(ops)]
            next_task += ops
            done, elapsed = 0, 0.0
            for document in documents:
                start = time.perf_counter()
                decision = manager.acquire(document)
                elapsed += time.perf_counter() - start
                assert isinstance(decision, Grant)
                done += 1
                if done >= 4 and elapsed >= budget:
                    break
            passes[key].append(done / elapsed)
    for manager in managers.values():
        manager.close()
    return passes


# ---------------------------------------------------------------------------------- strace


def marker(name: str) -> None:
    with contextlib.suppress(OSError):
        os.close(os.open(f"{MARKER_DIR}/{name}", os.O_RDONLY))


def syscall_child(root: Path, n: int) -> None:
    """Run under strace: phases delimited by ``marker``; every phase does ``n`` operations."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "append.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    db = baseline_db(root / "sqlite.db")
    state = root / "state"
    state.mkdir()
    FileTrustSource(state / TRUST_FILE).publish(snapshot())
    documents = [manifest(i) for i in range(n)]

    marker("open_new")
    manager = open_durable(state)
    marker("baseline_append")
    for _ in range(n):
        os.write(fd, LINE)
        os.fdatasync(fd)
    marker("baseline_sqlite")
    for _ in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (body) VALUES (?)", (ROW,))
        db.execute("COMMIT")
    marker("acquire")
    grants = [manager.acquire(document) for document in documents]
    marker("untraced")
    assert all(isinstance(g, Grant) for g in grants)
    calls = [
        (g.token, fresh_proof(g.lease_id), str(d["task_id"]), json_digest(d))
        for g, d in zip(grants, documents, strict=True)
        if isinstance(g, Grant)
    ]
    marker("authorize")
    for token, proof, task_id, digest in calls:
        manager.authorize(token, proof, task_id=task_id, manifest_digest=digest)
    marker("close")
    manager.close()
    marker("reopen")
    manager = open_durable(state)
    marker("end")
    manager.close()
    os.close(fd)
    db.close()


_LINE = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((.*)$")
_MARK = re.compile(re.escape(MARKER_DIR) + r"/(\w+)")
_FD_PATH = re.compile(r"^\d+<([^>]*)>")


def parse_strace(text: str) -> dict[str, Counter[str]]:
    """Per phase, fsync-family calls keyed by ``syscall file`` (the file's base name)."""
    phases: dict[str, Counter[str]] = {}
    phase: str | None = None
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        call, rest = match.groups()
        if call in {"open", "openat"}:
            mark = _MARK.search(rest)
            if mark:
                phase = mark.group(1)
                phases.setdefault(phase, Counter())
            continue
        if call in FSYNC_FAMILY and phase is not None:
            path = _FD_PATH.match(rest)
            where = Path(path.group(1)).name if path else "?"
            phases[phase][f"{call} {where}"] += 1
    return phases


def count_syscalls(root: Path, n: int) -> tuple[dict[str, Counter[str]] | None, str]:
    strace = shutil.which("strace")
    if strace is None:
        return None, "strace is not installed: syscalls were not counted"
    out = root / "strace.txt"
    command = [
        strace,
        "-f",
        "-qq",
        "-y",
        "-o",
        str(out),
        "-e",
        "trace=" + ",".join([*FSYNC_FAMILY, "open", "openat"]),
        sys.executable,
        str(Path(__file__).resolve()),
        "--syscall-child",
        str(root / "child"),
        "--syscall-ops",
        str(n),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return None, f"strace run failed ({result.returncode}): {result.stderr.strip()[-400:]}"
    phases = parse_strace(out.read_text())
    expected = ["open_new", "baseline_append", "baseline_sqlite", "acquire", "authorize"]
    if any(name not in phases for name in expected):
        return None, f"strace output lacked phase markers (saw {sorted(phases)})"
    return phases, " ".join(shlex.quote(part) for part in command[:8]) + " -- <child>"


# ---------------------------------------------------------------------------------- results


def mount_options(path: Path) -> str | None:
    """The mount options of the filesystem holding ``path`` (durability depends on them)."""
    try:
        df = subprocess.run(
            ["df", "-T", str(path)], capture_output=True, text=True, check=False
        ).stdout.splitlines()
    except OSError:
        return None
    if len(df) < 2:
        return None
    fields = df[1].split()
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[0] == fields[0] and parts[1] == fields[-1]:
                return parts[3]
    return None


def manager_facts(root: Path) -> dict[str, str]:
    """``bench_common.machine_facts`` and what durability also depends on."""
    facts = bench_common.machine_facts(root)
    facts["sqlite"] = sqlite3.sqlite_version
    options = mount_options(root)
    if options:
        facts["mount options"] = options
    facts["bench dir"] = str(root)
    facts["src sha256"] = bench_common.source_digest()
    facts["note"] = (
        "other processes may share the CPUs and the disk; the load averages at start and end "
        "are recorded for that reason"
    )
    return facts


def throughput_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The target (durable acquire against its floor) and the ratios that explain it, all of
    time per operation (µs/op), so that a ratio above 1 means slower than the floor."""
    targets = [
        bench_common.ratio(
            "durable_acquire/append_fdatasync_sign",
            "durable acquire / (append 1 KiB + fdatasync, then one crypto_sign)",
            rows,
            "durable_acquire",
            "append_fdatasync_sign",
            target=ACQUIRE_TARGET,
        )
    ]
    for operation in ("acquire", "authorize"):
        for floor in ("append_fdatasync", "sqlite_commit", "append_fdatasync_commit"):
            floor_label = next(row["label"] for row in rows if row["id"] == floor)
            targets.append(
                bench_common.ratio(
                    f"durable_{operation}/{floor}",
                    f"durable {operation} / {floor_label.removeprefix('floor: ')}",
                    rows,
                    f"durable_{operation}",
                    floor,
                )
            )
        targets.append(
            bench_common.ratio(
                f"durable_{operation}/in-memory_{operation}",
                f"durable {operation} / in-memory {operation}",
                rows,
                f"durable_{operation}",
                f"in-memory_{operation}",
            )
        )
    targets.append(
        bench_common.ratio(
            "durable_acquire_many/append_fdatasync_commit",
            f"durable acquire_many (batches of {BATCH}), per decision / append+fdatasync, "
            "then COMMIT",
            rows,
            "durable_acquire_many",
            "append_fdatasync_commit",
        )
    )
    return targets


SYSCALL_PHASES = {
    "baseline_append": "floor: append + fdatasync",
    "baseline_sqlite": "floor: SQLite INSERT + COMMIT",
    "acquire": "durable acquire",
    "authorize": "durable authorize (fresh challenge)",
    "open_new": "LeaseManager.open, new state dir (whole phase)",
    "close": "LeaseManager.close (whole phase)",
    "reopen": "LeaseManager.open, reopen (whole phase)",
}
WHOLE_PHASES = frozenset({"open_new", "close", "reopen"})


def syscall_rows(syscalls: dict[str, Counter[str]], ops: int) -> list[dict[str, Any]]:
    """fsync-family calls per operation (per phase for open and close), with the files."""
    rows = []
    for phase, label in SYSCALL_PHASES.items():
        counts = syscalls.get(phase)
        if counts is None:
            continue
        total = sum(counts.values())
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"
        if phase in WHOLE_PHASES:
            rows.append(
                bench_common.measurement(
                    f"syscalls.{phase}", f"fsync-family calls, {label}", [total], "calls", detail
                )
            )
        else:
            rows.append(
                bench_common.measurement(
                    f"syscalls.{phase}",
                    f"fsync-family calls, {label}",
                    [total / ops],
                    "calls/op",
                    detail,
                )
            )
    return rows


def open_rows(
    open_sizes: dict[str, int], open_times: dict[str, dict[str, list[float]]]
) -> list[dict[str, Any]]:
    rows = []
    for state, times in open_times.items():
        described = (
            f"{open_sizes[state + ' leases']:,} leases, leases.db "
            f"{open_sizes[state + ' db']:,} B, audit.jsonl {open_sizes[state + ' audit']:,} B"
        )
        for check, label in (("quick_check", "quick_check"), ("no_check", "check_integrity=False")):
            rows.append(
                bench_common.measurement(
                    f"open.{state}.{check}",
                    f"LeaseManager.open, {state} state ({described}), {label}",
                    [seconds * 1e3 for seconds in times[check]],
                    "ms",
                )
            )
    return rows


def scaling_rows(passes: dict[tuple[int, str], list[float]]) -> list[dict[str, Any]]:
    return [
        bench_common.measurement(
            f"held.{count}.{kind}",
            f"{kind} acquire, {count:,} leases held",
            rates,
            "ops/s",
        )
        for (count, kind), rates in sorted(passes.items())
    ]


def dir_size(path: Path, name: str) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.name.startswith(name))


@contextlib.contextmanager
def workdir(parent: str | None, keep: bool) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="pda-lease-bench-", dir=parent))
    try:
        yield root
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=40.0,
        help="total timed seconds for the throughput rounds (default 40; setup is extra)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--dir", default=None, help="parent of the temporary bench directory")
    parser.add_argument("--open-leases", type=int, default=10_000)
    parser.add_argument("--open-reps", type=int, default=7)
    parser.add_argument("--syscall-ops", type=int, default=300)
    parser.add_argument(
        "--scale-held", default="0,1000,5000", help="leases held for the scaling check"
    )
    parser.add_argument("--scale-ops", type=int, default=16)
    parser.add_argument(
        "--out",
        type=Path,
        default=bench_common.RESULTS_DIR / "manager.json",
        help="results file (default benchmarks/results/manager.json)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench directory")
    parser.add_argument("--syscall-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.syscall_child:
        syscall_child(Path(args.syscall_child), args.syscall_ops)
        return 0

    with workdir(args.dir, args.keep) as root:
        facts = manager_facts(root)
        print("machine:", *(f"  {k}: {v}" for k, v in facts.items()), sep="\n", file=sys.stderr)

        workloads: list[Workload] = [
            AppendFdatasync(root),
            SqliteCommit(root),
            AppendThenCommit(root),
            AppendThenSign(root),
            Acquire(root, durable=True),
            Acquire(root, durable=True, batch=True),
            Authorize(root, durable=True),
            Acquire(root, durable=False),
            Authorize(root, durable=False),
            KernelDecide(),
            KernelVerify(),
        ]
        benches = [workload.bench() for workload in workloads]
        slice_seconds = args.seconds / (args.rounds * len(benches))
        print(f"throughput: {args.rounds} rounds x {len(benches)} benchmarks", file=sys.stderr)
        acquire = workloads[4]
        assert isinstance(acquire, Acquire) and acquire.bench_id == "durable_acquire"
        # One untimed chunk first, so that one-off audit entries (the first trust snapshot)
        # do not count in the bytes per acquire.
        acquire.body(BATCH)
        audit_before = (acquire.directory / AUDIT_FILE).stat().st_size
        tasks_before = acquire.next_task
        rates = bench_common.run_rounds(benches, args.rounds, slice_seconds)
        audit_bytes = (acquire.directory / AUDIT_FILE).stat().st_size - audit_before
        audit_bytes_per_acquire = audit_bytes / (acquire.next_task - tasks_before)
        for workload in workloads:
            workload.close()
        rows = bench_common.latency_rows(benches, rates)

        print(f"open: building {args.open_leases:,} leases", file=sys.stderr, flush=True)
        open_times: dict[str, dict[str, list[float]]] = {}
        open_sizes: dict[str, int] = {}
        for label, leases in (("small", 1), ("large", args.open_leases)):
            state = root / f"open-{label}"
            build_state(state, leases)
            open_sizes[f"{label} leases"] = leases
            open_sizes[f"{label} db"] = dir_size(state, DATABASE_FILE)
            open_sizes[f"{label} audit"] = (state / AUDIT_FILE).stat().st_size
        for label in ("small", "large"):
            open_times[label] = time_open(root / f"open-{label}", args.open_reps)
        rows += open_rows(open_sizes, open_times)

        held = [int(part) for part in args.scale_held.split(",") if part.strip()]
        print(f"scaling: acquire with {held} leases held", file=sys.stderr, flush=True)
        rows += scaling_rows(held_scaling(root, held, args.scale_ops, args.rounds, 0.4))

        print("syscalls: counting with strace", file=sys.stderr, flush=True)
        syscalls, syscall_note = count_syscalls(root, args.syscall_ops)
        if syscalls is not None:
            rows += syscall_rows(syscalls, args.syscall_ops)

        digest_at_end = bench_common.source_digest()
        if digest_at_end != facts["src sha256"]:
            facts["warning"] = f"src/ changed during the run (src sha256 now {digest_at_end})"
        notes = run_notes(
            args,
            slice_seconds=slice_seconds,
            audit_bytes_per_acquire=audit_bytes_per_acquire,
            syscall_note=syscall_note,
            syscalls_counted=syscalls is not None,
        )
        document = bench_common.results_document(
            "manager", facts, rows, throughput_targets(rows), notes
        )
    path = bench_common.write_results(document, args.out)
    print("\n".join([*report.targets_table([document]), "", *report.suite_lines(document)]))
    print(f"wrote {path}", file=sys.stderr)
    return 0


def run_notes(
    args: argparse.Namespace,
    *,
    slice_seconds: float,
    audit_bytes_per_acquire: float,
    syscall_note: str,
    syscalls_counted: bool,
) -> list[str]:
    """What a reader needs to interpret the rows: how each group was measured."""
    if syscalls_counted:
        syscalls = (
            f"fsync-family rows: counted with strace (`{syscall_note}`), {args.syscall_ops} "
            "operations per phase, in a separate process (strace slows it; no timings are "
            "taken there); per operation = calls in the phase / operations; the notes name "
            "each call's file (the fd's base name)."
        )
    else:
        syscalls = f"fsync-family calls were not counted: {syscall_note}."
    return [
        f"Throughput rows (us/op): {args.rounds} alternating rounds, ~{slice_seconds:.2f} s "
        "timed per benchmark per round; medians over rounds, with min and max.",
        "Only the measured calls are timed: manifests and holder proofs (signed by the client, "
        "a fresh 32-byte challenge each) are built untimed between chunks. Each manager is "
        "kept for the whole run (acquire: a new task_id per call; authorize: round-robin over "
        "64 granted leases).",
        "The target's floor is one body doing what one acquire cannot avoid: append ~1 KiB to "
        "a file with fdatasync, then one crypto_sign of a real token's Sig_structure. A "
        "durable acquire does more than that floor by design: two fdatasyncs (audit log, then "
        "the SQLite commit: see the fsync-family rows) and a signed checkpoint of the audit "
        "log (spec §12.9) besides the token's signature.",
        f"A durable acquire appended {audit_bytes_per_acquire:,.0f} bytes of audit log on "
        "average (the floors append 1,024-byte lines and insert 1,024-byte rows).",
        syscalls,
        f"LeaseManager.open rows (ms): {args.open_reps} opens each, alternating with and "
        "without quick_check, warm page cache; the state was made with acquire_many.",
        f"Leases-held rows (ops/s): alternating passes of up to {args.scale_ops} acquires, "
        "each cut short after 0.4 s timed; held counts are before the passes, and each pass "
        "adds the leases it acquired. They show whether an operation's cost grows with the "
        "leases held.",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
