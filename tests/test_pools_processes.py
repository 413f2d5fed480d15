"""Processes racing for one pool never get more than it holds (spec §14.4, §14.6).

Several processes (``multiprocessing``, ``spawn``: fresh interpreters, nothing shared but the
state directory) acquire leases at the same time against one state directory: SQLite store,
JSONL audit log. Their clocks are fixed at one instant and their calendars at one day, so no
lease ends and no budget resets while they race. A pooled manager reads the usage snapshot
inside its write transaction (§14.6), so however the requests interleave, the grants recorded in
the audit log never exceed a concurrency limit (nothing is released or expired) and the spend
they reserved on the day never exceeds a spend budget, for the org and for the workspace.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pools_worker as pw
from pda_lease.replay import replay_file

WORKERS = 4
TIMEOUT_S = 60.0

REQUEST = st.tuples(st.sampled_from(["alice", "alice", "ci-bot"]), st.sampled_from([0, 40, 90]))
BATCHES = st.lists(st.lists(REQUEST, min_size=1, max_size=3), min_size=1, max_size=3)
PLANS = st.lists(BATCHES, min_size=WORKERS, max_size=WORKERS)

# Every example starts WORKERS fresh interpreters: a handful of examples (scaled with the
# profile: 5 of quick's 60, 50 of thorough's 600).
_PROFILE = settings()
PROCESS_SETTINGS = settings(
    _PROFILE,
    max_examples=max(3, _PROFILE.max_examples // 12),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def race(state: Path, plans: list[list[list[tuple[str, int]]]], sabotage: bool = False) -> set[str]:
    """Run one worker per plan at once; the lease ids they were granted."""
    pw.open_manager(state).close()  # the first open, before the race
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(plans))
    results = context.Queue()
    processes = [
        context.Process(
            target=pw.acquire_loop, args=(str(state), index, plan, barrier, results, sabotage)
        )
        for index, plan in enumerate(plans)
    ]
    for process in processes:
        process.start()
    granted: set[str] = set()
    try:
        for _ in processes:
            try:
                _, leases, error = results.get(timeout=TIMEOUT_S)
            except queue.Empty:
                raise AssertionError("a worker did not report") from None
            assert error is None, error
            granted.update(leases)
    finally:
        for process in processes:
            process.join(timeout=TIMEOUT_S)
            if process.is_alive():  # pragma: no cover - only after a failure
                process.kill()
                process.join()
    assert all(process.exitcode == 0 for process in processes)
    return granted


def grants_in_log(audit: Path) -> dict[str, dict[str, Any]]:
    """Every acknowledged grant of the log (not voided), with the request it was asked by."""
    records = [json.loads(line) for line in audit.read_bytes().splitlines()]
    voided = {r["entry_seq"] for r in records if r["event"] == "grant_void"}
    grants: dict[str, dict[str, Any]] = {}
    for record in records:
        outcome = record.get("outcome")
        if record["event"] != "decision" or outcome.get("decision") != "GRANT":
            continue
        if record["seq"] in voided:
            continue
        grants[outcome["lease_id"]] = record["request"]["json"]
    return grants


def overdrawn(grants: dict[str, dict[str, Any]]) -> list[str]:
    """The limits the grants exceed (nothing released or expired, one day)."""
    problems = []
    scopes = {
        "org": (list(grants.values()), pw.ORG_CONCURRENCY, pw.ORG_SPEND),
        "research": (
            [r for r in grants.values() if r["workspace"] == "research"],
            pw.RESEARCH_CONCURRENCY,
            pw.RESEARCH_SPEND,
        ),
    }
    for scope, (requests, concurrency, spend) in scopes.items():
        if len(requests) > concurrency:
            problems.append(f"{scope}: {len(requests)} in flight > {concurrency}")
        reserved = sum(r["demand"]["spend_cents"] for r in requests)
        if reserved > spend:
            problems.append(f"{scope}: {reserved} cents reserved > {spend}")
    return problems


@settings(PROCESS_SETTINGS)
@given(plans=PLANS)
def test_concurrent_processes_never_exceed_a_concurrency_or_spend_limit(
    tmp_path: Path, plans: list[list[list[tuple[str, int]]]]
) -> None:
    state = tmp_path / f"state-{len(list(tmp_path.iterdir()))}"  # one per example
    granted = race(state, plans)
    grants = grants_in_log(state / "audit.jsonl")
    assert set(grants) == granted, "the log's grants are not the ones the workers were told"
    assert overdrawn(grants) == []
    # Every request was decided and recorded, once.
    decisions = Counter(
        json.loads(line)["outcome"]["decision"]
        for line in (state / "audit.jsonl").read_bytes().splitlines()
        if json.loads(line)["event"] == "decision"
    )
    assert sum(decisions.values()) == sum(len(batch) for plan in plans for batch in plan)
    assert replay_file(state / "audit.jsonl", workers=1).ok


def test_the_count_catches_a_manager_that_over_grants(tmp_path: Path) -> None:
    """A manager blind to the reservations (sabotaged in the workers) is caught overdrawing."""
    plans = [[[("alice", 90)], [("alice", 90)]] for _ in range(WORKERS)]
    granted = race(tmp_path / "state", plans, sabotage=True)
    grants = grants_in_log(tmp_path / "state" / "audit.jsonl")
    assert set(grants) == granted
    assert len(grants) == 2 * WORKERS
    assert overdrawn(grants) != []
