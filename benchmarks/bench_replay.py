"""Replay throughput: decisions re-run per second, one worker and all cores, and peak memory.

Writes a log of N decisions with the durable manager (``acquire_many`` in batches, 10 % of
them denials), then times ``pda_lease.replay.replay_file`` on it with ``--workers`` 1 and the
number of CPUs, alternating, and prints the medians. Run from the repository root:

    .venv/bin/python benchmarks/bench_replay.py [--decisions 20000] [--rounds 3]

The million-decision figure in BENCHMARKS.md comes from the opt-in scale test in
``tests/test_replay.py`` (``PDA_LEASE_REPLAY_SCALE=1 PDA_LEASE_REPLAY_SCALE_N=1000000``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from pda_lease import LeasePolicy
from pda_lease.adapters import FakeClock, MemoryTrustSource
from pda_lease.conformance import EPOCH, ISSUER, SECOND, base_manifest, base_policy, base_snapshot
from pda_lease.manager import LeaseManager
from pda_lease.replay import replay_file

BATCH = 500


def write_log(state: Path, decisions: int) -> Path:
    clock = FakeClock(EPOCH, 100 * SECOND)
    with LeaseManager.open(
        state,
        signer=ISSUER,
        policy=LeasePolicy.from_json(base_policy()),
        clock=clock,
        trust_source=MemoryTrustSource(base_snapshot()),
    ) as manager:
        for start in range(0, decisions, BATCH):
            batch = []
            for number in range(start, min(start + BATCH, decisions)):
                manifest = dict(base_manifest(), task_id=f"task-{number}")
                if number % 10 == 9:
                    manifest["manifest_version"] = 2  # a denial
                batch.append(manifest)
            manager.acquire_many(batch)
            clock.advance(1)
    return state / "audit.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="pda-lease-replay-") as scratch:
        started = time.perf_counter()
        log = write_log(Path(scratch) / "state", args.decisions)
        print(
            f"log: {args.decisions:,} decisions, {log.stat().st_size:,} bytes, "
            f"written in {time.perf_counter() - started:.1f} s"
        )
        timings: dict[int, list[float]] = {1: [], cpus: []}
        for _ in range(args.rounds):
            for workers, seconds in timings.items():
                started = time.perf_counter()
                report = replay_file(log, workers=workers)
                seconds.append(time.perf_counter() - started)
                if not report.ok or report.decisions != args.decisions:
                    raise SystemExit(f"replay failed: {report.to_json()}")
        for workers, seconds in timings.items():
            median = statistics.median(seconds)
            print(
                f"replay, {workers} worker(s): median {median:.2f} s over {args.rounds} rounds, "
                f"{args.decisions / median:,.0f} decisions/s "
                f"(min {min(seconds):.2f} s, max {max(seconds):.2f} s)"
            )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"peak RSS: this process {own:.1f} MiB (includes writing the log), "
        f"workers {children:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
