#!/usr/bin/env python3
"""Throughput of the durable LeaseManager against the floor its design allows.

Run from the repository root::

    .venv/bin/python benchmarks/bench_manager.py [--seconds N] [--markdown BENCHMARKS.md]

Everything runs in one process, on one temporary directory (``--dir``, default the system
temp dir), so every figure shares the disk, the filesystem and the page cache. Throughput
benchmarks run in alternating rounds (each benchmark gets one time slice per round, in the
same order every round) and the median over rounds is reported with the min and max. Only
the calls being measured are inside the timed region: manifests and holder proofs (which the
client, not the manager, signs) are built untimed, in chunks, just before each timed chunk.

Measured:

1. baselines: a ~1 KiB line appended with ``os.fdatasync``; a one-row SQLite INSERT + COMMIT
   (WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``); and both in one transaction
   (BEGIN IMMEDIATE, append + fdatasync, INSERT, COMMIT), which is the shape of one manager
   operation and so the floor for it;
2. durable ``acquire`` (distinct manifests, a new task_id each) and durable ``authorize``
   (granted leases, a fresh challenge each), with ``LeaseManager.open`` and the default
   ``FileTrustSource``;
3. the same two with the in-memory fakes, and the bare kernel (``Authority.decide``,
   ``verify_token``), to separate the kernel's cost from durability's;
4. fsync-family syscalls per operation, counted with ``strace`` in a child process (phases
   are delimited by marker ``openat`` calls on a path that cannot exist); skipped, and said
   so, if strace is missing or cannot trace;
5. ``LeaseManager.open`` on a state directory holding ``--open-leases`` leases (created with
   ``acquire_many``), with and without ``PRAGMA quick_check``, next to a near-empty one.

The clock is a ``FakeClock`` frozen inside the conformance manifest's window, so no lease
expires during a run; the kernel reads no real time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import re
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pda_lease import (
    Authority,
    Grant,
    LeasePolicy,
    VerifiedLease,
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
)
from pda_lease.kernel.inputs import TrustSnapshot
from pda_lease.manager import AUDIT_FILE, DATABASE_FILE, TRUST_FILE, LeaseManager

NOW_NS = 100 * SECOND  # inside base_manifest's window [10 s, 3600 s); LOW leases last 300 s
LINE = b"x" * 1023 + b"\n"  # the baseline's "~1 KiB audit line"
ROW = b"y" * 1024
MARKER_DIR = "/nonexistent-pda-lease-bench-marker"
FSYNC_FAMILY = ("fsync", "fdatasync", "sync_file_range", "syncfs", "sync", "msync")
MD_HEADER = """\
# pda-lease benchmarks

Figures here are produced by `benchmarks/bench_manager.py` (see `benchmarks/README.md`) and
pasted in by its `--markdown` option, one dated section per run, with the machine, the
filesystem and the exact command. Only measured figures are recorded: nothing is estimated,
extrapolated or copied from elsewhere, and a figure that could not be measured says so.
Throughput is the median of alternating rounds on one disk in one process; compare figures
within a section, not across machines.
"""


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


class Bench:
    """One throughput benchmark: ``chunk`` returns (operations, seconds timed)."""

    name = ""
    chunk_size = 16

    def setup(self, root: Path) -> None:
        pass

    def chunk(self) -> tuple[int, float]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class AppendFdatasync(Bench):
    name = "baseline: append 1 KiB + fdatasync"
    chunk_size = 64

    def setup(self, root: Path) -> None:
        self.fd = os.open(root / "baseline-append.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def chunk(self) -> tuple[int, float]:
        fd, line = self.fd, LINE
        start = time.perf_counter()
        for _ in range(self.chunk_size):
            os.write(fd, line)
            os.fdatasync(fd)
        return self.chunk_size, time.perf_counter() - start

    def close(self) -> None:
        os.close(self.fd)


def baseline_db(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    assert str(mode).lower() == "wal", mode
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB)")
    return connection


class SqliteCommit(Bench):
    name = "baseline: SQLite INSERT + COMMIT"
    chunk_size = 64

    def setup(self, root: Path) -> None:
        self.db = baseline_db(root / "baseline-sqlite.db")

    def chunk(self) -> tuple[int, float]:
        db = self.db
        start = time.perf_counter()
        for _ in range(self.chunk_size):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t (body) VALUES (?)", (ROW,))
            db.execute("COMMIT")
        return self.chunk_size, time.perf_counter() - start

    def close(self) -> None:
        self.db.close()


class AppendThenCommit(Bench):
    name = "baseline: append+fdatasync, then COMMIT"
    chunk_size = 64

    def setup(self, root: Path) -> None:
        self.fd = os.open(root / "baseline-both.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.db = baseline_db(root / "baseline-both.db")

    def chunk(self) -> tuple[int, float]:
        fd, line, db = self.fd, LINE, self.db
        start = time.perf_counter()
        for _ in range(self.chunk_size):
            db.execute("BEGIN IMMEDIATE")
            os.write(fd, line)
            os.fdatasync(fd)
            db.execute("INSERT INTO t (body) VALUES (?)", (ROW,))
            db.execute("COMMIT")
        return self.chunk_size, time.perf_counter() - start

    def close(self) -> None:
        os.close(self.fd)
        self.db.close()


class Acquire(Bench):
    """Distinct manifests (a new task_id each), on one manager kept for the whole run; with
    ``batch``, ``acquire_many`` of 32 per call (one audit append and one commit per batch),
    still reported per decision so that it compares directly with one ``acquire`` each."""

    def __init__(self, durable: bool, batch: bool = False) -> None:
        self.durable = durable
        self.batch = batch
        kind = "durable" if durable else "in-memory"
        self.name = f"{kind} acquire_many (batches of 32)" if batch else f"{kind} acquire"
        self.chunk_size = 32 if durable else 64
        self.next_task = 10_000_000 if batch else 0

    def setup(self, root: Path) -> None:
        directory = root / ("acquire-batch" if self.batch else "acquire")
        self.manager = open_durable(directory) if self.durable else open_memory()

    def chunk(self) -> tuple[int, float]:
        documents = [manifest(self.next_task + i) for i in range(self.chunk_size)]
        self.next_task += self.chunk_size
        acquire, acquire_many = self.manager.acquire, self.manager.acquire_many
        start = time.perf_counter()
        if self.batch:
            decisions = acquire_many(documents)
        else:
            decisions = [acquire(document) for document in documents]
        elapsed = time.perf_counter() - start
        if not all(isinstance(d, Grant) for d in decisions):
            raise SystemExit(f"{self.name}: not granted: {decisions[0]}")
        return len(decisions), elapsed

    def close(self) -> None:
        self.manager.close()


class Authorize(Bench):
    """Round-robin over 64 leases granted at setup, a fresh challenge (and holder proof,
    signed untimed) per call, on one manager kept for the whole run."""

    POOL = 64

    def __init__(self, durable: bool) -> None:
        self.durable = durable
        self.name = f"{'durable' if durable else 'in-memory'} authorize"
        self.chunk_size = 32 if durable else 64
        self.turn = 0

    def setup(self, root: Path) -> None:
        self.manager = open_durable(root / "authorize") if self.durable else open_memory()
        self.pool = grant_pool(self.manager, 0, self.POOL)

    def chunk(self) -> tuple[int, float]:
        calls = []
        for _ in range(self.chunk_size):
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
        return len(results), elapsed

    def close(self) -> None:
        self.manager.close()


class KernelDecide(Bench):
    name = "kernel only: Authority.decide"
    chunk_size = 256

    def setup(self, root: Path) -> None:
        self.authority = Authority(ISSUER, policy())
        self.snapshot = snapshot()
        self.now = FakeClock(EPOCH, NOW_NS).now()
        self.next_task = 0

    def chunk(self) -> tuple[int, float]:
        documents = [manifest(self.next_task + i) for i in range(self.chunk_size)]
        self.next_task += self.chunk_size
        decide, snap, now = self.authority.decide, self.snapshot, self.now
        start = time.perf_counter()
        decisions = [decide(document, snap, now) for document in documents]
        elapsed = time.perf_counter() - start
        assert all(isinstance(d, Grant) for d in decisions)
        return len(decisions), elapsed


class KernelVerify(Bench):
    name = "kernel only: verify_token"
    chunk_size = 256

    def setup(self, root: Path) -> None:
        self.authority = Authority(ISSUER, policy())
        self.now = FakeClock(EPOCH, NOW_NS).now()
        document = manifest(0)
        grant = self.authority.decide(document, snapshot(), self.now)
        assert isinstance(grant, Grant)
        self.grant, self.task_id, self.digest = (
            grant,
            str(document["task_id"]),
            json_digest(document),
        )

    def chunk(self) -> tuple[int, float]:
        proofs = [fresh_proof(self.grant.lease_id) for _ in range(self.chunk_size)]
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
        return len(proofs), time.perf_counter() - start


def run_rounds(benches: list[Bench], rounds: int, slice_seconds: float) -> dict[str, list[float]]:
    """Each round gives every benchmark ``slice_seconds`` of timed calls, in a fixed order."""
    rates: dict[str, list[float]] = {bench.name: [] for bench in benches}
    for number in range(rounds):
        for bench in benches:
            ops, timed = 0, 0.0
            while timed < slice_seconds:
                done, seconds = bench.chunk()
                ops += done
                timed += seconds
            rates[bench.name].append(ops / timed)
        print(f"  round {number + 1}/{rounds} done", file=sys.stderr, flush=True)
    return rates


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


def fake_scaling(
    root: Path, held: list[int], ops: int, rounds: int, budget: float
) -> dict[int, dict[str, float]]:
    """acquire ops/s with ``held`` leases already stored, in-memory fake vs durable.

    Every (held, kind) manager is built first; then ``rounds`` alternating passes each time
    up to ``ops`` acquires (stopping early after ``budget`` seconds, at least 4); the median
    pass is reported. Each pass adds at most ``ops`` leases to what is held.
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
    return {
        count: {kind: statistics.median(passes[count, kind]) for kind in ("in-memory", "durable")}
        for count in held
    }


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


# ---------------------------------------------------------------------------------- report


def _output(command: list[str]) -> str:
    """A command's stdout, or "" if it cannot be run."""
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


def machine_facts(root: Path) -> dict[str, str]:
    facts: dict[str, str] = {}
    facts["nproc"] = str(len(os.sched_getaffinity(0)))
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu"] = line.split(":", 1)[1].strip()
                break
    facts["kernel"] = platform.release()
    facts["python"] = f"{platform.python_implementation()} {platform.python_version()}"
    facts["sqlite"] = sqlite3.sqlite_version
    df = _output(["df", "-T", str(root)]).splitlines()
    if len(df) >= 2:
        fields = df[1].split()
        facts["filesystem"] = f"{fields[1]} on {fields[0]}, mounted at {fields[-1]}"
        with contextlib.suppress(OSError):
            for line in Path("/proc/mounts").read_text().splitlines():
                parts = line.split()
                if len(parts) >= 4 and parts[1] == fields[-1] and parts[0] == fields[0]:
                    facts["mount options"] = parts[3]
    facts["bench dir"] = str(root)
    repo = Path(__file__).resolve().parent.parent
    head = _output(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"]).strip()
    dirty = _output(["git", "-C", str(repo), "status", "--porcelain", "--", "src"]).strip()
    if head:
        facts["commit"] = head + (" (src/ has uncommitted changes)" if dirty else "")
    with contextlib.suppress(OSError):
        facts["loadavg at start"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    facts["note"] = (
        "other processes may share the CPUs and the disk; the load averages at start and end "
        "are recorded for that reason"
    )
    return facts


def fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}"


def fmt_us(rate: float) -> str:
    return f"{1e6 / rate:,.1f}"


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report(
    *,
    command: str,
    facts: dict[str, str],
    rounds: int,
    slice_seconds: float,
    rates: dict[str, list[float]],
    audit_bytes_per_acquire: float,
    open_sizes: dict[str, int],
    open_times: dict[str, dict[str, list[float]]],
    scaling: dict[int, dict[str, float]],
    scale_ops: int,
    syscalls: dict[str, Counter[str]] | None,
    syscall_note: str,
    syscall_ops: int,
) -> list[str]:
    out: list[str] = []
    out.append(f"## {datetime.date.today().isoformat()}")
    out.append("")
    out.append(f"Command (from the repository root): `{command}`")
    out.append("")
    for key, value in facts.items():
        out.append(f"- {key}: {value}")
    out.append("")
    out.append(
        f"### Throughput (median of {rounds} alternating rounds, ~{slice_seconds:.2f} s "
        "timed per benchmark per round)"
    )
    out.append("")
    rows = []
    for name, values in rates.items():
        median = statistics.median(values)
        rows.append(
            [
                name,
                fmt_rate(median),
                fmt_us(median),
                fmt_rate(min(values)),
                fmt_rate(max(values)),
            ]
        )
    out += table(["benchmark", "median ops/s", "µs/op", "min ops/s", "max ops/s"], rows)
    out.append("")
    medians = {name: statistics.median(values) for name, values in rates.items()}
    ratio_rows = []
    for op in ("durable acquire", "durable authorize"):
        for base in (
            "baseline: append 1 KiB + fdatasync",
            "baseline: SQLite INSERT + COMMIT",
            "baseline: append+fdatasync, then COMMIT",
        ):
            ratio_rows.append(
                [f"{op} / {base.removeprefix('baseline: ')}", f"{medians[op] / medians[base]:.2f}"]
            )
        memory = op.replace("durable", "in-memory")
        ratio_rows.append([f"{op} / {memory}", f"{medians[op] / medians[memory]:.2f}"])
    out += table(["ratio of medians (ops/s)", "ratio"], ratio_rows)
    out.append("")
    out.append(
        "Only the measured calls are timed: manifests and holder proofs (signed by the client, "
        "a fresh 32-byte challenge each) are built untimed between chunks. Each manager is "
        "kept for the whole run (acquire: a new task_id per call; authorize: round-robin "
        "over 64 granted leases)."
    )
    out.append("")
    out.append(
        f"A durable acquire appended {audit_bytes_per_acquire:,.0f} bytes of audit log on "
        "average (the baselines append 1,024-byte lines and insert 1,024-byte rows)."
    )
    out.append("")
    out.append("### fsync-family syscalls per operation")
    out.append("")
    if syscalls is None:
        out.append(f"Not measured: {syscall_note}.")
    else:
        out.append(
            f"Counted with strace (`{syscall_note}`), {syscall_ops} operations per phase, "
            "in a separate process (strace slows it; no timings are taken there). "
            "Per operation = calls in the phase / operations; the files are the fds' "
            "base names."
        )
        out.append("")
        labels = {
            "baseline_append": "baseline append + fdatasync",
            "baseline_sqlite": "baseline SQLite INSERT + COMMIT",
            "acquire": "durable acquire",
            "authorize": "durable authorize (fresh challenge)",
            "open_new": "LeaseManager.open, new state dir (whole phase)",
            "close": "LeaseManager.close (whole phase)",
            "reopen": "LeaseManager.open, reopen (whole phase)",
        }
        rows = []
        for phase, label in labels.items():
            if phase not in syscalls:
                rows.append([label, "-", "-", "phase marker not seen"])
                continue
            counts = syscalls[phase]
            per_op = phase not in {"open_new", "close", "reopen"}
            total = sum(counts.values())
            detail = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"
            rows.append(
                [
                    label,
                    f"{total / syscall_ops:.2f}" if per_op else "-",
                    str(total),
                    detail,
                ]
            )
        out += table(["phase", "per op", "total", "calls (syscall file: count)"], rows)
    out.append("")
    reps = len(next(iter(open_times.values()))["quick_check"])
    out.append(
        f"### LeaseManager.open on existing state (median of {reps} opens each, "
        "alternating with and without quick_check, warm page cache)"
    )
    out.append("")
    rows = []
    for label, times in open_times.items():
        rows.append(
            [
                f"{label}: {open_sizes[label + ' leases']:,} leases, "
                f"leases.db {open_sizes[label + ' db']:,} B, "
                f"audit.jsonl {open_sizes[label + ' audit']:,} B",
                f"{statistics.median(times['quick_check']) * 1e3:.2f}",
                f"{statistics.median(times['no_check']) * 1e3:.2f}",
            ]
        )
    out += table(["state", "open ms (quick_check)", "open ms (check_integrity=False)"], rows)
    out.append("")
    out.append(
        "### acquire ops/s against leases already held (median of alternating passes of up "
        f"to {scale_ops} acquires, each cut short after 0.4 s timed)"
    )
    out.append("")
    rows = [
        [f"{count:,}", fmt_rate(rates_["in-memory"]), fmt_rate(rates_["durable"])]
        for count, rates_ in scaling.items()
    ]
    out += table(["leases held", "in-memory fakes", "durable"], rows)
    out.append("")
    out.append(
        "This shows whether an operation's cost grows with the leases held. Held counts are "
        "before the passes; each pass adds the leases it acquired."
    )
    out.append("")
    return out


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
    parser.add_argument("--markdown", default=None, help="append a dated section to this file")
    parser.add_argument("--keep", action="store_true", help="keep the bench directory")
    parser.add_argument("--syscall-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.syscall_child:
        syscall_child(Path(args.syscall_child), args.syscall_ops)
        return 0

    command = " ".join(
        [".venv/bin/python", "benchmarks/bench_manager.py", *map(shlex.quote, sys.argv[1:])]
    )
    with workdir(args.dir, args.keep) as root:
        facts = machine_facts(root)
        print("machine:", *(f"  {k}: {v}" for k, v in facts.items()), sep="\n", file=sys.stderr)

        benches: list[Bench] = [
            AppendFdatasync(),
            SqliteCommit(),
            AppendThenCommit(),
            Acquire(durable=True),
            Acquire(durable=True, batch=True),
            Authorize(durable=True),
            Acquire(durable=False),
            Authorize(durable=False),
            KernelDecide(),
            KernelVerify(),
        ]
        for bench in benches:
            bench.setup(root)
        slice_seconds = args.seconds / (args.rounds * len(benches))
        print(f"throughput: {args.rounds} rounds x {len(benches)} benchmarks", file=sys.stderr)
        # One untimed warm-up chunk each: imports, caches, the first trust-snapshot entry.
        for bench in benches:
            bench.chunk()
        acquire = next(b for b in benches if b.name == "durable acquire")
        assert isinstance(acquire, Acquire)
        audit_before = (root / "acquire" / AUDIT_FILE).stat().st_size
        tasks_before = acquire.next_task
        rates = run_rounds(benches, args.rounds, slice_seconds)
        audit_bytes = (root / "acquire" / AUDIT_FILE).stat().st_size - audit_before
        audit_bytes_per_acquire = audit_bytes / (acquire.next_task - tasks_before)
        for bench in benches:
            bench.close()

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

        held = [int(part) for part in args.scale_held.split(",") if part.strip()]
        print(f"scaling: acquire with {held} leases held", file=sys.stderr, flush=True)
        scaling = fake_scaling(root, held, args.scale_ops, args.rounds, 0.4)

        print("syscalls: counting with strace", file=sys.stderr, flush=True)
        syscalls, note = count_syscalls(root, args.syscall_ops)

        commit_at_end = machine_facts(root).get("commit")
        if commit_at_end != facts.get("commit"):
            facts["warning"] = f"the source changed during the run (now {commit_at_end})"
        with contextlib.suppress(OSError):
            facts["loadavg at end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        lines = report(
            command=command,
            facts=facts,
            rounds=args.rounds,
            slice_seconds=slice_seconds,
            rates=rates,
            audit_bytes_per_acquire=audit_bytes_per_acquire,
            open_sizes=open_sizes,
            open_times=open_times,
            scaling=scaling,
            scale_ops=args.scale_ops,
            syscalls=syscalls,
            syscall_note=note,
            syscall_ops=args.syscall_ops,
        )
    print("\n".join(lines))
    if args.markdown:
        target = Path(args.markdown)
        existing = target.read_text() if target.exists() else MD_HEADER
        target.write_text(existing.rstrip("\n") + "\n\n" + "\n".join(lines).rstrip() + "\n")
        print(f"appended to {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
