"""The cost of step P (spec §14.4): a pooled decision against the size of its usage snapshot.

Why: a pooled decision parses and scans the usage snapshot (every reservation and denial the
manager includes: open leases, the rate window, the day), so its cost grows with the
snapshot. What is measured, side by side in one process and in alternating rounds
(``bench_common.run_rounds``), all with the same manifest, request and time:

* ``decide`` of a governed authority without pools (the baseline: steps 1, G, 2, 3, 5);
* ``decide`` of the same policy with pools, on usage snapshots of 0, 100, 1,000 and 3,500
  reservations, none of which blocks the request (3,500 is near the most whose encoding fits
  the 1 MiB of §9: about 280 bytes each).

    .venv/bin/python benchmarks/bench_pools.py                       # 7 rounds of 1 s
    .venv/bin/python benchmarks/bench_pools.py --rounds 3 --seconds 0.5   # quick

Writes ``benchmarks/results/pools.json`` (``bench_common.results_document``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import bench_common

from pda_lease import conformance as cv
from pda_lease.kernel.decide import Authority, Grant, decide
from pda_lease.kernel.governance import GovernancePolicy
from pda_lease.kernel.inputs import MonotonicTime

SIZES = (0, 100, 1000, 3500)
NOW = MonotonicTime(cv.EPOCH, 100 * cv.SECOND)


def _limits() -> dict[str, Any]:
    policy = cv.pools_policy()
    big = 10**12
    for limits in (policy["pools"]["org"], *policy["pools"]["workspaces"].values()):
        for name in limits:
            limits[name] = big  # nothing blocks: every decision scans the whole snapshot
    policy["pools"]["principals"] = {}
    policy["pools"]["safety"] = {"cooldown": None, "breaker": None, "clamp": None}
    return policy


def usage(size: int) -> dict[str, object]:
    reservations = [
        cv.reservation(index, granted_s=50 + index % 40, expires_s=200, spend_cents=1)
        for index in range(1, size + 1)
    ]
    return cv.usage_of(reservations)


def measure(rounds: int, seconds: float) -> tuple[list[bench_common.Bench], dict[str, list[float]]]:
    manifest = cv.base_manifest()
    request = cv.request_for(manifest)
    snapshot = cv.base_snapshot()
    plain = cv.pools_policy()
    plain["pools"] = None
    baseline = Authority(cv.ISSUER, GovernancePolicy.from_json(plain))
    pooled = Authority(cv.ISSUER, GovernancePolicy.from_json(_limits()))
    assert isinstance(decide(baseline, manifest, snapshot, NOW, None, request), Grant)
    benches = [
        bench_common.Bench(
            "governed-decide",
            "governed decide, no pools",
            bench_common.timed_loop(
                lambda: decide(baseline, manifest, snapshot, NOW, None, request)
            ),
        )
    ]
    for size in SIZES:
        document = usage(size)
        assert isinstance(
            decide(pooled, manifest, snapshot, NOW, None, request, None, document), Grant
        )

        def operation(document: dict[str, object] = document) -> object:
            return decide(pooled, manifest, snapshot, NOW, None, request, None, document)

        benches.append(
            bench_common.Bench(
                f"pooled-decide-{size}",
                f"pooled decide, {size:,} reservations",
                bench_common.timed_loop(operation),
                chunk=max(1, 2000 // (size + 10)),
            )
        )
    return benches, bench_common.run_rounds(benches, rounds, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per slice")
    parser.add_argument("--output", type=Path, default=None, help="results file")
    args = parser.parse_args()
    benches, rates = measure(args.rounds, args.seconds)
    rows = bench_common.latency_rows(benches, rates)
    targets = [
        bench_common.ratio(
            f"pooled-{size}-vs-governed",
            f"pooled decide with {size:,} reservations / governed decide (µs/op)",
            rows,
            f"pooled-decide-{size}",
            "governed-decide",
        )
        for size in SIZES
    ]
    document = bench_common.results_document(
        "pools", bench_common.machine_facts(), rows, targets, ["no target is set for step P"]
    )
    path = bench_common.write_results(document, args.output)
    for row in rows:
        print(f"{row['label']:<40} {row['median']:>12.1f} µs/op")
    for target in targets:
        print(f"{target['label']:<70} {target['value']:.2f}x")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
