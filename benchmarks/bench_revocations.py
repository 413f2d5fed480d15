"""Durable ``authorize`` against the number of leases ever revoked: 10, 10,000 and 1,000,000.

Why: every ``authorize`` consults the durable revocation registry (spec §12.5, step 1), and
the registry only grows (a revocation is never forgotten), so the gate must cost the same
however many leases were revoked before. The target is that authorizing on a state directory
with a million revocations takes at most 1.1 times as long as on one with ten.

What is measured, side by side in one process (three managers open at once on copies of
three cached state directories, in alternating rounds of ``bench_common.run_rounds``):

* ``authorize`` through the durable manager (SQLite store, JSONL audit log, ``trust.json``),
  of live, granted, unrevoked leases, each call with a fresh holder proof signed before the
  timed part (round-robin over ``LIVE_LEASES`` leases);
* the kernel's ``verify_token`` given the store's revocation registry as ``revoked`` (the very
  view ``authorize`` passes), with no audit entry and no commit: what the registry adds to
  the pure verification, without the two fsyncs that dominate ``authorize``;
* one registry ``lookup`` of an unrevoked lease id (what ``authorize`` asks of it): the only
  part whose cost could grow with the registry.

The states are built with the public API only (``acquire_many``, then ``revoke_many`` of the
same leases, in batches of ``MAX_REVOKE_BATCH``; two writer processes share the directory for
the large one), cached (``bench_cache``; a million revocations takes minutes), checked before
reuse (committed head, row counts and the whole audit chain) and copied into a temporary
directory for the run, because every ``authorize`` appends to the log and commits.

    .venv/bin/python benchmarks/bench_revocations.py                   # 10 / 10k / 1M
    .venv/bin/python benchmarks/bench_revocations.py --sizes 10,1000,10000 --rounds 3   # quick

Writes ``benchmarks/results/revocations.json`` (``bench_common.results_document``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_cache
import bench_common

from pda_lease import Grant, LeasePolicy, json_digest, sign_holder_proof
from pda_lease.adapters import FakeClock, FileTrustSource, verify_audit_file
from pda_lease.adapters.store import read_committed_head
from pda_lease.conformance import (
    EPOCH,
    HOLDER,
    ISSUER,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
)
from pda_lease.kernel.inputs import TrustSnapshot, parse_trust_snapshot
from pda_lease.kernel.token import decode_unverified, verify_token
from pda_lease.manager import (
    AUDIT_FILE,
    DATABASE_FILE,
    MAX_REVOKE_BATCH,
    TRUST_FILE,
    LeaseManager,
    _RegistryView,  # what authorize passes to the kernel as ``revoked``
)

# Bump when the way a state is built changes (its cache entries are then rebuilt).
CACHE_VERSION = "v1"
DEFAULT_SIZES = (10, 10_000, 1_000_000)
LIVE_LEASES = 64
NOW_NS = 100 * SECOND  # inside base_manifest's window; LOW leases last 300 s from here
STATE = "state"
PROGRESS_EVERY = 100_000


def policy() -> LeasePolicy:
    return LeasePolicy.from_json(base_policy())


def open_state(state: Path) -> LeaseManager:
    """The manager as deployed (SQLite store, JSONL audit, ``trust.json``), on a fixed clock."""
    trust = FileTrustSource(state / TRUST_FILE)
    if not trust.path.exists():
        state.mkdir(parents=True, exist_ok=True)
        parsed = parse_trust_snapshot(base_snapshot())
        assert isinstance(parsed, TrustSnapshot)
        trust.publish(parsed)
    return LeaseManager.open(
        state, signer=ISSUER, policy=policy(), clock=FakeClock(EPOCH, NOW_NS), check_integrity=False
    )


def task_document(kind: str, number: int) -> dict[str, Any]:
    return dict(base_manifest(), task_id=f"{kind}-{number:08d}")


# ---------------------------------------------------------------------------------- building


def grant_and_revoke(state: Path, start: int, stop: int, writer: int) -> None:
    """Grant leases ``start..stop`` and revoke them, a batch at a time (one writer process)."""
    with open_state(state) as manager:
        done = 0
        for first in range(start, stop, MAX_REVOKE_BATCH):
            batch = [
                task_document("revoked", n)
                for n in range(first, min(first + MAX_REVOKE_BATCH, stop))
            ]
            decisions = manager.acquire_many(batch)
            lease_ids = [d.lease_id for d in decisions if isinstance(d, Grant)]
            if len(lease_ids) != len(batch):
                raise SystemExit(f"writer {writer}: a batch was not wholly granted")
            manager.revoke_many(lease_ids, "benchmark: revoked at build time")
            before, done = done, done + len(batch)
            if done // PROGRESS_EVERY != before // PROGRESS_EVERY or done == stop - start:
                bench_cache.progress(f"  writer {writer}: {done:,}/{stop - start:,} revoked")


def build_state(directory: Path, revoked: int, writers: int) -> dict[str, Any]:
    """A state directory with ``revoked`` revoked leases and ``LIVE_LEASES`` live ones."""
    state = directory / STATE
    open_state(state).close()  # created (log, store, trust, authority) before writers share it
    writers = max(1, min(writers, revoked // MAX_REVOKE_BATCH))
    bounds = [revoked * part // writers for part in range(writers + 1)]
    started = time.perf_counter()
    if writers == 1:
        grant_and_revoke(state, 0, revoked, 1)
    else:
        bench_cache.run_writers(
            grant_and_revoke,
            [(state, bounds[i], bounds[i + 1], i + 1) for i in range(writers)],
        )
    revoking_seconds = time.perf_counter() - started
    documents = [task_document("live", n) for n in range(LIVE_LEASES)]
    with open_state(state) as manager:
        decisions = manager.acquire_many(documents)
    live = []
    for document, decision in zip(documents, decisions, strict=True):
        if not isinstance(decision, Grant):
            raise SystemExit(f"a live lease was not granted: {decision}")
        live.append(
            {
                "token": decision.token.hex(),
                "task_id": document["task_id"],
                "manifest_digest": json_digest(document).hex(),
            }
        )
    head = read_committed_head(state / DATABASE_FILE)
    assert head is not None
    return {
        "writers": writers,
        "grant_and_revoke_seconds": round(revoking_seconds, 1),
        "audit_head": [head.seq, head.entry_hash.hex()],
        "live": live,
        "sizes": bench_cache.file_sizes(state),
    }


def state_builder(revoked: int, writers: int) -> bench_cache.Builder:
    return lambda directory: build_state(directory, revoked, writers)


def check_state(directory: Path, description: dict[str, Any]) -> str | None:
    """Why a cached state may not be reused: its head, its row counts, its audit chain."""
    state = directory / STATE
    head = read_committed_head(state / DATABASE_FILE)
    if head is None or [head.seq, head.entry_hash.hex()] != description.get("audit_head"):
        return "the store's committed audit head is not the one recorded at build time"
    connection = sqlite3.connect(f"{(state / DATABASE_FILE).resolve().as_uri()}?mode=ro", uri=True)
    try:
        revoked = connection.execute("SELECT count(*) FROM revocations").fetchone()[0]
        leases = connection.execute("SELECT count(*) FROM leases").fetchone()[0]
    finally:
        connection.close()
    count = description["count"]
    if (revoked, leases) != (count, count + LIVE_LEASES):
        return f"{revoked} revocations and {leases} leases, not {count} and {count + LIVE_LEASES}"
    report = verify_audit_file(state / AUDIT_FILE, head)
    if not report.ok:
        return f"audit chain: line {report.first_bad_line}: {report.problem}"
    return None


# ---------------------------------------------------------------------------------- measuring


class StateUnderTest:
    """A copy of one cached state, its manager open, and its live leases."""

    def __init__(self, revoked: int, cached: Path, description: dict[str, Any], scratch: Path):
        self.revoked = revoked
        self.description = description
        self.directory = scratch / f"revoked-{revoked}"
        started = time.perf_counter()
        shutil.copytree(cached / STATE, self.directory)
        # Written back now, not by the first checkpoint's fsync inside a timed authorize.
        for path in self.directory.iterdir():
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        self.copy_seconds = time.perf_counter() - started
        self.manager = open_state(self.directory)
        self.live = [
            (
                bytes.fromhex(lease["token"]),
                lease["task_id"],
                bytes.fromhex(lease["manifest_digest"]),
            )
            for lease in description["live"]
        ]
        self.lease_ids = [decode_unverified(token).claims.lease_id for token, _, _ in self.live]
        self.turn = 0
        self.registry = self.manager.store.revocations
        self.view = _RegistryView(self.registry)
        self.proofs = [
            sign_holder_proof(HOLDER, lease_id, os.urandom(32)) for lease_id in self.lease_ids
        ]

    def authorize(self, n: int) -> float:
        """``n`` durable authorizations, each with a fresh proof signed before the clock starts."""
        calls = []
        for _ in range(n):
            index = self.turn % len(self.live)
            self.turn += 1
            token, task_id, digest = self.live[index]
            proof = sign_holder_proof(HOLDER, self.lease_ids[index], os.urandom(32))
            calls.append((token, proof, task_id, digest))
        authorize = self.manager.authorize
        started = time.perf_counter()
        for token, proof, task_id, digest in calls:
            authorize(token, proof, task_id=task_id, manifest_digest=digest)
        return time.perf_counter() - started

    def verify(self, n: int) -> float:
        """``n`` kernel verifications with the registry as ``revoked`` (no audit, no commit)."""
        public_key = self.manager.authority.public_key
        now = FakeClock(EPOCH, NOW_NS).now()
        count = len(self.live)
        started = time.perf_counter()
        for number in range(n):
            index = number % count
            token, task_id, digest = self.live[index]
            verify_token(
                token,
                issuer_public_key=public_key,
                task_id=task_id,
                manifest_digest=digest,
                now=now,
                holder_proof=self.proofs[index],
                revoked=self.view,
            )
        return time.perf_counter() - started

    def lookup(self, n: int) -> float:
        """``n`` registry lookups of unrevoked lease ids (each misses, as authorize's does)."""
        lookup = self.registry.lookup
        lease_ids = self.lease_ids
        count = len(lease_ids)
        started = time.perf_counter()
        for number in range(n):
            lookup(lease_ids[number % count])
        return time.perf_counter() - started

    def close(self) -> None:
        self.manager.close()


def measure(
    states: list[StateUnderTest], rounds: int, slice_seconds: float
) -> tuple[list[bench_common.Bench], dict[str, list[float]]]:
    benches: list[bench_common.Bench] = []
    for kind, label, chunk in (
        ("authorize", "durable authorize", 32),
        ("verify", "kernel verify_token, registry as revoked", 128),
        ("lookup", "registry lookup of an unrevoked id", 2000),
    ):
        for state in states:
            benches.append(
                bench_common.Bench(
                    f"{kind}-revoked-{state.revoked}",
                    f"{label}, {state.revoked:,} revoked",
                    getattr(state, kind),
                    chunk,
                )
            )
    return benches, bench_common.run_rounds(benches, rounds, slice_seconds)


def state_note(state: StateUnderTest) -> str:
    description = state.description
    sizes = description["sizes"]
    if description.get("reused"):
        origin = (
            f"reused from the cache (built {description['built_at']} in "
            f"{description['build_seconds']} s; chain and counts checked in "
            f"{description['check_seconds']} s)"
        )
    else:
        origin = f"built in {description['build_seconds']} s"
    return (
        f"{state.revoked:,} revoked: {origin} by {description['writers']} writer process(es) "
        f"(grant + revoke {description['grant_and_revoke_seconds']} s); "
        f"{DATABASE_FILE} {bench_cache.mib(sizes.get(DATABASE_FILE, 0))}, "
        f"{AUDIT_FILE} {bench_cache.mib(sizes.get(AUDIT_FILE, 0))} at build time; "
        f"copied (and fsynced) for the run in {state.copy_seconds:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in DEFAULT_SIZES),
        help="revoked leases per state, comma-separated (default %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per slice")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary dir")
    parser.add_argument("--cache-dir", type=Path, default=bench_cache.DEFAULT_CACHE_DIR)
    parser.add_argument("--writers", type=int, default=2, help="processes building a state")
    parser.add_argument("--rebuild", action="store_true", help="rebuild cached states")
    parser.add_argument("--output", type=Path, default=None, help="results file")
    args = parser.parse_args()
    sizes = sorted({int(size) for size in args.sizes.split(",")})
    if len(sizes) < 2 or sizes[0] < 1:
        parser.error("--sizes needs at least two positive counts")
    cached = {
        size: bench_cache.cached_input(
            args.cache_dir,
            "revocations",
            CACHE_VERSION,
            size,
            state_builder(size, args.writers),
            check_state,
            rebuild=args.rebuild,
        )
        for size in sizes
    }
    with tempfile.TemporaryDirectory(prefix="pda-lease-revocations-", dir=args.dir) as scratch:
        facts = bench_common.machine_facts(Path(scratch))
        states: list[StateUnderTest] = []
        try:
            for size in sizes:
                bench_cache.progress(f"copying the state with {size:,} revocations")
                states.append(StateUnderTest(size, *cached[size], Path(scratch)))
            benches, rates = measure(states, args.rounds, args.seconds)
        finally:
            for state in states:
                state.close()
    facts["sqlite"] = sqlite3.sqlite_version
    rows = bench_common.latency_rows(benches, rates)
    smallest, largest = sizes[0], sizes[-1]
    targets = [
        bench_common.ratio(
            f"authorize-{largest}-vs-{smallest}",
            f"durable authorize, {largest:,} / {smallest:,} revoked (µs/op)",
            rows,
            f"authorize-revoked-{largest}",
            f"authorize-revoked-{smallest}",
            target=1.1,
        )
    ]
    for kind in ("authorize", "verify", "lookup"):
        for size in sizes[1:]:
            if kind == "authorize" and size == largest:
                continue
            targets.append(
                bench_common.ratio(
                    f"{kind}-{size}-vs-{smallest}",
                    f"{kind}, {size:,} / {smallest:,} revoked (µs/op)",
                    rows,
                    f"{kind}-revoked-{size}",
                    f"{kind}-revoked-{smallest}",
                )
            )
    notes = [
        f"{args.rounds} alternating rounds of {args.seconds} s timed per benchmark; figures are "
        "medians of per-round µs/op. The managers of all states are open at once, each on its "
        "own copy of a cached state, all in one temporary directory (one filesystem).",
        f"authorize: round-robin over {LIVE_LEASES} live (granted, unrevoked) leases per state, "
        "a fresh holder proof per call signed before the timed part; each call appends an "
        "audit entry and commits, as deployed (two fdatasyncs).",
        "verify: the kernel's verify_token with the manager's registry view as revoked (one "
        "SQLite lookup), no audit and no commit; lookup: RevocationRegistry.lookup of an "
        "unrevoked id, the only step whose cost could depend on the registry's size.",
        *(state_note(state) for state in states),
    ]
    document = bench_common.results_document("revocations", facts, rows, targets, notes)
    path = bench_common.write_results(document, args.output)
    for row in rows:
        print(
            f"{row['label']:<62} {row['median']:>10.1f} µs/op  ({row['min']:.1f}-{row['max']:.1f})"
        )
    for target in targets:
        verdict = "" if target["met"] is None else ("  met" if target["met"] else "  NOT met")
        print(f"{target['label']:<62} {target['value']:>10.3f}{verdict}")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
