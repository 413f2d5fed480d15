"""A worker process for ``test_pools_processes.py``: a pooled ``LeaseManager`` of its own.

``acquire_loop`` runs in a process started with the ``spawn`` context: it opens the shared state
directory (SQLite store, JSONL audit log) under the pooled policy below, waits at a barrier so
that every worker starts together, then acquires its share of requests (single ``acquire`` or
``acquire_many`` batches) and puts the lease ids it was granted on a queue. Every process uses a
``FakeClock`` at the same fixed time and a ``FakeCalendar`` at the same day, so nothing expires
or leaves a window while the workers race: what the pools admit is decided by what the other
processes already committed, which each one can only learn inside its write transaction.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from pda_lease import Grant
from pda_lease import conformance as cv
from pda_lease.adapters import FakeCalendar, FakeClock, MemoryTrustSource
from pda_lease.adapters.store import SqliteLeaseStore
from pda_lease.kernel.governance import GovernancePolicy
from pda_lease.manager import LeaseManager

NOW_NS = 100 * cv.SECOND
DAY = 20426
ALICE_HEX = cv.ALICE.public_key.hex()
_UNLIMITED = dict.fromkeys(
    ("concurrency", "requests", "units", "context_tokens", "compute", "spend_cents")
)
ORG_CONCURRENCY, ORG_SPEND = 3, 400
RESEARCH_CONCURRENCY, RESEARCH_SPEND = 2, 250


def policy_document() -> dict[str, Any]:
    document = cv.pools_policy()
    document["pools"] = {
        "rate_window_ns": 60 * cv.SECOND,
        "org": {**_UNLIMITED, "concurrency": ORG_CONCURRENCY, "spend_cents": ORG_SPEND},
        "workspaces": {
            "research": {
                **_UNLIMITED,
                "concurrency": RESEARCH_CONCURRENCY,
                "spend_cents": RESEARCH_SPEND,
            }
        },
        "principals": {},
        "safety": {"cooldown": None, "breaker": None, "clamp": None},
    }
    return document


POLICY = GovernancePolicy.from_json(policy_document())
# (signer, workspace, capability, model): both admitted by step G.
PROFILES = {
    "alice": (cv.ALICE, "research", "files.read", "local-small"),
    "ci-bot": (cv.CI_BOT, "ops", "mail.send", None),
}


def open_manager(state_dir: Path) -> LeaseManager:
    return LeaseManager.open(
        state_dir,
        signer=cv.ISSUER,
        policy=POLICY,
        clock=FakeClock(cv.EPOCH, NOW_NS),
        trust_source=MemoryTrustSource(cv.base_snapshot(9500)),
        calendar=FakeCalendar(DAY),
    )


def item(worker: int, index: int, who: str, spend: int) -> tuple[dict[str, Any], dict[str, Any]]:
    signer, workspace, capability, model = PROFILES[who]
    manifest = cv.base_manifest()
    manifest["task_id"] = f"proc-{worker}-{index}"
    manifest["capability_id"] = capability
    request = cv.request_for(
        manifest,
        signer=signer,
        workspace=workspace,
        model=model,
        at_ns=NOW_NS,
        demand={"units": 1, "context_tokens": 1, "compute": 1, "spend_cents": spend},
    )
    return manifest, request


def _blind(self: SqliteLeaseStore, clock_epoch: str, window_start_ns: int, day: int) -> list[Any]:
    return []


def acquire_loop(
    state_dir: str,
    worker: int,
    batches: list[list[tuple[str, int]]],
    barrier: Any,
    results: Any,
    sabotage: bool = False,
) -> None:
    """Acquire each batch (one ``acquire`` for a batch of one) and report the granted ids.

    ``sabotage`` blinds the store's usage query (nothing seems in flight or spent), to show
    that the test's count catches a manager that over-grants.
    """
    try:
        if sabotage:
            SqliteLeaseStore.usage_reservations = _blind  # type: ignore[method-assign]
        granted: list[str] = []
        with open_manager(Path(state_dir)) as manager:
            barrier.wait(timeout=60)
            index = 0
            for batch in batches:
                items = []
                for who, spend in batch:
                    items.append(item(worker, index, who, spend))
                    index += 1
                if len(items) == 1:
                    decisions = [manager.acquire(items[0][0], None, items[0][1])]
                else:
                    decisions = manager.acquire_many(
                        [m for m, _ in items], None, [r for _, r in items], None
                    )
                granted.extend(d.lease_id.hex() for d in decisions if isinstance(d, Grant))
        results.put((worker, granted, None))
    except BaseException:  # reported to the test, which fails with it
        results.put((worker, [], traceback.format_exc()))
