"""Replay throughput (decisions per second) and peak memory on an audit log of a million decisions.

Why: replaying the audit log (spec §12.10) is how an auditor re-derives every decision the
manager made, and a deployment's log holds millions of them, so the replay must keep up with a
large log on a small machine and stay within a fixed memory budget whatever the log's size.
Targets: at least 20,000 decisions/s with 2 workers (on 2 cores), and a peak memory of the
replaying processes (main + workers, defined below) under 200 MB.

The log is written once with the durable manager (``acquire_many`` in batches of ``BATCH``,
10 % of the manifests denied, two writer processes sharing the state directory as the manager
allows) and cached (``bench_cache``; the million-decision log takes minutes to write), its
hash chain verified end to end before it is reused. Each round replays it with
``pda_lease.replay.replay_file`` with 1 worker (in-process) and with 2 worker processes, in
that order, each in a fresh Python process so that its memory figures are its own:

* throughput: decisions / seconds spent in ``replay_file`` (worker start-up included,
  interpreter start-up not), and every replay must report ``ok`` with every decision replayed;
* memory: ``main`` is the replaying process's peak RSS (``ru_maxrss`` of RUSAGE_SELF),
  ``worker`` the largest peak RSS of any worker (RUSAGE_CHILDREN, read once the pool has been
  joined) and ``tracker`` the peak RSS (``VmHWM``) of multiprocessing's resource tracker, the
  one helper process a spawn pool leaves running. The figure held to the target is
  ``main + workers * worker + tracker``: an upper bound on the RSS of the whole process tree
  at any one moment (and RSS counts shared pages in each process, so the sum overstates the
  memory in use). A sampler also sums the RSS of the tree every 50 ms; its peak is reported
  as a cross-check. With 1 worker the replay runs in-process: the figure is ``main``.

Replaying a million decisions takes minutes, so the default is one round; ``--rounds 3`` gives
a spread. Run from the repository root:

    .venv/bin/python benchmarks/bench_replay.py                       # 1,000,000 decisions
    .venv/bin/python benchmarks/bench_replay.py --decisions 20000 --rounds 3   # quick
    .venv/bin/python benchmarks/bench_replay.py --decisions 20000 --profile    # cProfile

Writes ``benchmarks/results/replay.json`` (``bench_common.results_document``, suite "replay").
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import bench_cache
import bench_common

from pda_lease import LeasePolicy
from pda_lease.adapters import FakeClock, MemoryTrustSource, verify_audit_file
from pda_lease.conformance import EPOCH, ISSUER, SECOND, base_manifest, base_policy, base_snapshot
from pda_lease.manager import AUDIT_FILE, LeaseManager
from pda_lease.replay import replay_file

# Bump when the way the log is written changes (its cache entries are then rebuilt).
CACHE_VERSION = "v1"
DEFAULT_DECISIONS = 1_000_000
BATCH = 1000
WRITERS = 2
WORKER_COUNTS = (1, 2)
TARGET_DECISIONS_PER_SECOND = 20_000
TARGET_PEAK_MB = 200
SAMPLE_SECONDS = 0.05
MB = 1_000_000


# ---------------------------------------------------------------------------------- the log


def open_state(state: Path, clock: FakeClock) -> LeaseManager:
    return LeaseManager.open(
        state,
        signer=ISSUER,
        policy=LeasePolicy.from_json(base_policy()),
        clock=clock,
        trust_source=MemoryTrustSource(base_snapshot()),
    )


def write_decisions(state: Path, writer: int, count: int) -> None:
    """``count`` decisions (every tenth a denial), ``BATCH`` per ``acquire_many``."""
    clock = FakeClock(EPOCH, 100 * SECOND)
    with open_state(state, clock) as manager:
        for start in range(0, count, BATCH):
            batch = []
            for number in range(start, min(start + BATCH, count)):
                manifest = dict(base_manifest(), task_id=f"task-{writer}-{number}")
                if number % 10 == 9:
                    manifest["manifest_version"] = 2  # an unsupported version: a denial
                batch.append(manifest)
            manager.acquire_many(batch)
            clock.advance(1)
            done = min(start + BATCH, count)
            if done % 100_000 < BATCH or done == count:
                bench_cache.progress(f"  writer {writer}: {done:,}/{count:,} decisions")


def build_log(directory: Path, decisions: int) -> dict[str, Any]:
    """Write the log in a scratch state directory; keep only ``audit.jsonl``."""
    with tempfile.TemporaryDirectory(prefix="state-", dir=directory) as scratch:
        state = Path(scratch)
        open_state(state, FakeClock(EPOCH, 100 * SECOND)).close()  # created before sharing
        writers = WRITERS if decisions >= WRITERS * BATCH else 1
        shares = [decisions * part // writers for part in range(writers + 1)]
        bench_cache.run_writers(
            write_decisions,
            [(state, part + 1, shares[part + 1] - shares[part]) for part in range(writers)],
        )
        (state / AUDIT_FILE).rename(directory / AUDIT_FILE)
    report = verify_audit_file(directory / AUDIT_FILE)
    assert report.ok and report.head is not None, report.to_json()
    return {
        "writers": writers,
        "entries": report.entries,
        "head": report.head.entry_hash.hex(),
        "log_bytes": (directory / AUDIT_FILE).stat().st_size,
    }


def log_builder(decisions: int) -> bench_cache.Builder:
    return lambda directory: build_log(directory, decisions)


def check_log(directory: Path, description: dict[str, Any]) -> str | None:
    """Why a cached log may not be reused: its size, or its hash chain from the genesis."""
    log = directory / AUDIT_FILE
    if not log.exists() or log.stat().st_size != description.get("log_bytes"):
        return "the log is missing or not the size recorded at build time"
    report = verify_audit_file(log)
    if not report.ok or report.head is None:
        return f"audit chain: line {report.first_bad_line}: {report.problem}"
    if (report.entries, report.head.entry_hash.hex()) != (
        description.get("entries"),
        description.get("head"),
    ):
        return "the log's head is not the one recorded at build time"
    return None


# ---------------------------------------------------------------------------------- one replay


def _process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants, from ``/proc``."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue  # the process ended meanwhile
        parents[int(entry.name)] = int(stat[stat.rfind(b")") + 2 :].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.append(pid)
                frontier.append(pid)
    return tree


def _status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(field.encode() + b":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_rss_bytes(root: int) -> int:
    """The summed RSS of ``root`` and all its live descendants."""
    return 1024 * sum(_status_kib(pid, "VmRSS") for pid in _process_tree(root))


class TreeSampler(threading.Thread):
    """Samples the summed RSS of this process and its descendants until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, _tree_rss_bytes(os.getpid()))

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def replay_child(log: Path, workers: int) -> int:
    """One timed replay in this (fresh) process; its figures as JSON on stdout."""
    sampler = TreeSampler()
    sampler.start()
    shown = [0]

    def progress(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            bench_cache.progress(f"    {workers} worker(s): {tenth * 10} %")

    started = time.perf_counter()
    report = replay_file(log, workers=workers, progress=progress)
    seconds = time.perf_counter() - started
    sampled = sampler.stop()
    # Still alive: multiprocessing's resource tracker (started with a spawn pool), if any.
    helpers = [pid for pid in _process_tree(os.getpid()) if pid != os.getpid()]
    figures = {
        "seconds": seconds,
        "ok": report.ok,
        "decisions": report.decisions,
        "replayed": report.decisions_replayed,
        "main_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "worker_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "helpers_kib": sum(_status_kib(pid, "VmHWM") for pid in helpers),
        "sampled_tree_bytes": sampled,
        "problem": None if report.ok else report.to_json(),
    }
    print(json.dumps(figures))
    return 0


def replay_once(log: Path, workers: int) -> dict[str, Any]:
    """Run ``replay_child`` in a fresh interpreter and return its figures."""
    run = subprocess.run(
        [sys.executable, __file__, "--child", str(log), "--workers", str(workers)],
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(run.stdout)
    return figures


def profile(log: Path) -> None:
    """A cProfile summary of a one-worker (in-process) replay of ``log``, on stdout."""
    profiler = cProfile.Profile()
    profiler.enable()
    report = replay_file(log, workers=1)
    profiler.disable()
    print(f"replay ok: {report.ok}, {report.decisions:,} decisions")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)


# ---------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=DEFAULT_DECISIONS)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=bench_cache.DEFAULT_CACHE_DIR)
    parser.add_argument("--rebuild", action="store_true", help="rewrite the cached log")
    parser.add_argument("--output", type=Path, default=None, help="results file")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary only")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return replay_child(args.child, args.workers)
    directory, description = bench_cache.cached_input(
        args.cache_dir,
        "replay",
        CACHE_VERSION,
        args.decisions,
        log_builder(args.decisions),
        check_log,
        rebuild=args.rebuild,
    )
    log = directory / AUDIT_FILE
    if args.profile:
        profile(log)
        return 0
    facts = bench_common.machine_facts(directory)
    runs: dict[int, list[dict[str, Any]]] = {workers: [] for workers in WORKER_COUNTS}
    for number in range(args.rounds):
        for workers in WORKER_COUNTS:
            bench_cache.progress(f"  round {number + 1}/{args.rounds}: {workers} worker(s)")
            figures = replay_once(log, workers)
            if not figures["ok"] or figures["replayed"] != args.decisions:
                raise SystemExit(f"replay failed: {figures}")
            runs[workers].append(figures)
    rows, targets = summarise(runs, args.decisions)
    notes = [
        f"{args.decisions:,} decisions (every tenth a denial), {description['entries']:,} "
        f"audit entries, {bench_cache.mib(description['log_bytes'])}; written by "
        f"{description['writers']} writer process(es) with acquire_many in batches of {BATCH}"
        + (
            f", reused from the cache (built {description['built_at']} in "
            f"{description['build_seconds']} s; chain verified in {description['check_seconds']}"
            " s)"
            if description.get("reused")
            else f", built in {description['build_seconds']} s"
        ),
        f"{args.rounds} round(s): replaying {args.decisions:,} decisions takes minutes, so a "
        "round is one replay per worker count (1 worker in-process, then 2 workers), each in a "
        "fresh Python process; throughput is decisions / seconds inside replay_file.",
        "Memory, in MB of 10^6 bytes: main = peak RSS of the replaying process; worker = the "
        "largest peak RSS of any worker (RUSAGE_CHILDREN after the pool is joined); tracker = "
        "peak RSS (VmHWM) of multiprocessing's resource tracker. The target figure is main + "
        "workers * worker + tracker, an upper bound on the RSS of the process tree at any one "
        "moment, and the maximum over rounds; 'sampled' sums the RSS of the tree every "
        f"{SAMPLE_SECONDS * 1000:.0f} ms, as a cross-check. 1 worker replays in-process.",
    ]
    document = bench_common.results_document("replay", facts, rows, targets, notes)
    path = bench_common.write_results(document, args.output)
    for row in rows:
        print(f"{row['label']:<64} {row['median']:>12,.1f} {row['unit']}")
    for target in targets:
        verdict = {None: "", True: "met", False: "NOT met"}[target["met"]]
        print(f"{target['label']:<64} {target['value']:>12,.1f} {target['unit']}  {verdict}")
    print(f"results: {path}")
    return 0


def summarise(
    runs: dict[int, list[dict[str, Any]]], decisions: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    bounds: dict[int, list[float]] = {}
    for workers, figures in runs.items():
        name = f"{workers}-worker{'s' if workers > 1 else ''}"
        rates = [decisions / run["seconds"] for run in figures]
        main_mb = [run["main_kib"] * 1024 / MB for run in figures]
        rows.append(
            bench_common.measurement(
                f"replay-{name}", f"replay, {workers} worker(s)", rates, "decisions/s"
            )
        )
        rows.append(
            bench_common.measurement(
                f"replay-{name}-main-rss", f"peak RSS, main process ({name})", main_mb, "MB"
            )
        )
        if workers > 1:
            worker_mb = [run["worker_kib"] * 1024 / MB for run in figures]
            rows.append(
                bench_common.measurement(
                    f"replay-{name}-worker-rss",
                    f"peak RSS, largest worker ({name})",
                    worker_mb,
                    "MB",
                )
            )
            helper_mb = [run["helpers_kib"] * 1024 / MB for run in figures]
            rows.append(
                bench_common.measurement(
                    f"replay-{name}-helpers-rss",
                    f"peak RSS, resource tracker ({name})",
                    helper_mb,
                    "MB",
                )
            )
            bounds[workers] = [
                m + workers * w + h for m, w, h in zip(main_mb, worker_mb, helper_mb, strict=True)
            ]
        else:
            bounds[workers] = main_mb
        rows.append(
            bench_common.measurement(
                f"replay-{name}-peak",
                f"peak RSS, main + workers * largest worker + tracker ({name})",
                bounds[workers],
                "MB",
            )
        )
        rows.append(
            bench_common.measurement(
                f"replay-{name}-sampled",
                f"peak summed RSS of the process tree, sampled ({name})",
                [run["sampled_tree_bytes"] / MB for run in figures],
                "MB",
            )
        )
    by_id = {row["id"]: row for row in rows}
    targets = [
        bench_common.target_row(
            "replay-rate-2-workers",
            "replay decisions/s, 2 workers",
            by_id["replay-2-workers"]["median"],
            "decisions/s",
            TARGET_DECISIONS_PER_SECOND,
            ">=",
        ),
        bench_common.target_row(
            "replay-peak-memory-2-workers",
            "peak memory, main + 2 workers + tracker (MB)",
            max(bounds[2]),
            "MB",
            TARGET_PEAK_MB,
            "<=",
        ),
        bench_common.ratio(
            "replay-speedup-2-workers",
            "replay decisions/s, 2 workers / 1 worker",
            rows,
            "replay-2-workers",
            "replay-1-worker",
            target=None,
        ),
    ]
    return rows, targets


if __name__ == "__main__":
    raise SystemExit(main())
