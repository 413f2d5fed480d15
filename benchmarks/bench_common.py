"""What every benchmark suite shares: one timing loop, machine facts and one results format.

Why one module: every figure in ``BENCHMARKS.md`` must be comparable with the baseline it is
divided by, so all suites time the same way. Benchmarks run side by side in one process, in
alternating rounds: each round gives every benchmark one time slice, in the same order every
round, so a slow moment of the machine hits all of them alike. A benchmark's figure is the
median of its per-round rates, reported with the minimum and maximum over rounds.

Each suite writes one JSON file (``benchmarks/results/<suite>.json``) in the format of
:func:`results_document`; ``benchmarks/report.py`` turns them into tables and a chart. This
module is stdlib-only so that it also runs in the peers' virtual environment (``cbor2<6``).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPOSITORY / "benchmarks" / "results"

# A benchmark body runs ``n`` operations and returns the seconds they took. Set-up that is not
# part of what is measured (building inputs, signing holder proofs) happens outside the timed
# part, inside the body, which is why the body times itself.
Body = Callable[[int], float]


def timed_loop(operation: Callable[[], object]) -> Body:
    """The body for an operation with no per-call set-up: call it ``n`` times, timed."""

    def body(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            operation()
        return time.perf_counter() - start

    return body


class Bench:
    """One benchmark: an id, a readable label, and a body timed in chunks of ``chunk`` ops."""

    __slots__ = ("body", "chunk", "id", "label")

    def __init__(self, bench_id: str, label: str, body: Body, chunk: int = 200) -> None:
        self.id = bench_id
        self.label = label
        self.body = body
        self.chunk = chunk


def run_rounds(
    benches: list[Bench], rounds: int, slice_seconds: float, *, warmup: bool = True
) -> dict[str, list[float]]:
    """Operations per second of each benchmark, one figure per round (alternating rounds)."""
    if warmup:
        for bench in benches:
            bench.body(min(bench.chunk, 20))
    rates: dict[str, list[float]] = {bench.id: [] for bench in benches}
    for number in range(rounds):
        for bench in benches:
            ops, timed = 0, 0.0
            while timed < slice_seconds:
                timed += bench.body(bench.chunk)
                ops += bench.chunk
            rates[bench.id].append(ops / timed)
        print(f"  round {number + 1}/{rounds} done", file=sys.stderr, flush=True)
    return rates


def measurement(
    bench_id: str, label: str, samples: list[float], unit: str, notes: str = ""
) -> dict[str, Any]:
    """One row of a results file: the median of ``samples`` and their spread."""
    return {
        "id": bench_id,
        "label": label,
        "unit": unit,
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "rounds": len(samples),
        "notes": notes,
    }


def latency_rows(benches: list[Bench], rates: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Rows in µs per operation (per-round rates turned into per-round latencies)."""
    return [
        measurement(bench.id, bench.label, [1e6 / rate for rate in rates[bench.id]], "us/op")
        for bench in benches
    ]


def ratio(
    ratio_id: str,
    label: str,
    rows: Iterable[dict[str, Any]],
    numerator: str,
    denominator: str,
    *,
    target: float | None = None,
    goal: str = "<=",
) -> dict[str, Any]:
    """A ratio of two medians of the same unit, with its target if the issue sets one.

    ``goal`` says which side of ``target`` meets it: ``"<="`` (at most) or ``">="`` (at
    least). Ratios are of medians measured in the same run, never across runs.
    """
    by_id = {row["id"]: row for row in rows}
    top, bottom = by_id[numerator], by_id[denominator]
    if top["unit"] != bottom["unit"]:
        raise ValueError(f"ratio of {top['unit']} to {bottom['unit']}")
    value = top["median"] / bottom["median"]
    return target_row(ratio_id, label, value, "x", target, goal, numerator, denominator)


def target_row(
    target_id: str,
    label: str,
    value: float,
    unit: str,
    target: float | None,
    goal: str = "<=",
    numerator: str = "",
    denominator: str = "",
) -> dict[str, Any]:
    """A figure compared with a target (``met`` is ``None`` when there is no target)."""
    if goal not in ("<=", ">="):
        raise ValueError("goal is '<=' or '>='")
    met = None if target is None else (value <= target if goal == "<=" else value >= target)
    return {
        "id": target_id,
        "label": label,
        "value": value,
        "unit": unit,
        "target": target,
        "goal": goal,
        "met": met,
        "numerator": numerator,
        "denominator": denominator,
    }


def _output(command: list[str]) -> str:
    """A command's stdout, or "" if it cannot be run."""
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


def machine_facts(work_dir: Path | None = None) -> dict[str, str]:
    """What the figures depend on: CPUs, kernel, Python, the filesystem, the commit, load."""
    facts: dict[str, str] = {"nproc": str(len(os.sched_getaffinity(0)))}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu"] = line.split(":", 1)[1].strip()
                break
    facts["kernel"] = platform.release()
    facts["python"] = f"{platform.python_implementation()} {platform.python_version()}"
    if work_dir is not None:
        df = _output(["df", "-T", str(work_dir)]).splitlines()
        if len(df) >= 2:
            fields = df[1].split()
            facts["filesystem"] = f"{fields[1]} on {fields[0]}, mounted at {fields[-1]}"
    head = _output(["git", "-C", str(REPOSITORY), "rev-parse", "--short", "HEAD"]).strip()
    dirty = _output(["git", "-C", str(REPOSITORY), "status", "--porcelain", "--", "src"]).strip()
    if head:
        facts["commit"] = head + (" (src/ has uncommitted changes)" if dirty else "")
    with contextlib.suppress(OSError):
        facts["loadavg at start"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return facts


def source_digest() -> str:
    """SHA-256 (12 hex digits) of every file under ``src/``: did the measured code change?

    The commit alone cannot tell: a run may measure uncommitted code, and that code may be
    edited while the run goes on. A suite records this at its start and compares at its end.
    """
    digest = hashlib.sha256()
    source = REPOSITORY / "src"
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(source).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def results_document(
    suite: str,
    facts: dict[str, str],
    measurements: list[dict[str, Any]],
    targets: list[dict[str, Any]],
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON document one suite writes; ``report.py`` reads nothing else."""
    with contextlib.suppress(OSError):
        facts = {**facts, "loadavg at end": " ".join(Path("/proc/loadavg").read_text().split()[:3])}
    return {
        "suite": suite,
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": facts,
        "measurements": measurements,
        "targets": targets,
        "notes": notes or [],
    }


def write_results(document: dict[str, Any], path: Path | None = None) -> Path:
    """Write a suite's results (default ``benchmarks/results/<suite>.json``)."""
    target = path or RESULTS_DIR / f"{document['suite']}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target
