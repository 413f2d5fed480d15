"""The manager's side of pools (spec §14.6): usage snapshots from the store, settlements.

The kernel judges a request against a ``UsageSnapshot`` (§14.3); the manager builds that
document from its durable reservations and governed denials, inside the write transaction of
the decision, so that what the kernel sees is exactly what is committed. This module holds
the pure parts of that bookkeeping (records in, documents and audit bodies out) so that the
manager only sequences them: which rows a snapshot includes, how a reservation reads in a
snapshot, what a settlement entry says, and which denials the safety rules may count.
"""

from __future__ import annotations

from typing import Any

from pda_lease.adapters.store import OPEN, DenialRecord, ReservationRecord
from pda_lease.kernel.catalog import Code, Deny
from pda_lease.kernel.decide import Grant
from pda_lease.kernel.governance import GovernedRequest
from pda_lease.kernel.inputs import MonotonicTime
from pda_lease.kernel.pools import Pools

# Step G reasons judged before the request's signature: such a request proves nothing about
# who sent it, so its denial never counts against the principal it names (§14.6).
UNAUTHENTICATED = frozenset(
    {"REQUEST_MISSING", "REQUEST_MALFORMED", "UNKNOWN_PRINCIPAL", "BAD_REQUEST_SIGNATURE"}
)


def reservation_window_start(pools: Pools, now: MonotonicTime) -> int:
    """The earliest grant time a snapshot must include: the rate window and the clamp's."""
    longest = pools.rate_window_ns
    if pools.clamp is not None:
        longest = max(longest, pools.clamp.window_ns)
    return max(0, now.ns - longest + 1)


def denial_window_start(pools: Pools, now: MonotonicTime) -> int | None:
    """The earliest denial time the safety rules look at (None: no rule counts denials)."""
    windows = [rule.window_ns for rule in (pools.cooldown, pools.breaker) if rule is not None]
    if not windows:
        return None
    return max(0, now.ns - max(windows) + 1)


def reservation_json(record: ReservationRecord) -> dict[str, object]:
    """A reservation as a snapshot lists it: the reserved spend while open, else the settled."""
    is_open = record.state == OPEN
    spend = record.spend_cents if is_open or record.settled_cents is None else record.settled_cents
    return {
        "lease_id": record.lease_id.hex(),
        "principal": record.principal.hex(),
        "workspace": record.workspace,
        "clock_epoch": record.clock_epoch,
        "granted_at_ns": record.granted_at_ns,
        "expires_at_ns": record.expires_at_ns,
        "day": record.day,
        "open": is_open,
        "units": record.units,
        "compute": record.compute,
        "spend_cents": spend,
    }


def denial_json(record: DenialRecord) -> dict[str, object]:
    return {
        "principal": record.principal.hex(),
        "workspace": record.workspace,
        "clock_epoch": record.clock_epoch,
        "at_ns": record.at_ns,
        "code": record.code,
    }


def reservation_for(
    grant: Grant, request: GovernedRequest, day: int, audit_seq: int
) -> ReservationRecord:
    """The reservation a pooled grant makes: its request's signed demand, at its times."""
    claims = grant.claims
    demand = request.demand
    return ReservationRecord(
        lease_id=grant.lease_id,
        principal=request.principal,
        workspace=request.workspace,
        clock_epoch=claims.clock_epoch,
        granted_at_ns=claims.issued_at_ns,
        expires_at_ns=claims.expires_at_ns,
        day=day,
        units=demand.units,
        context_tokens=demand.context_tokens,
        compute=demand.compute,
        spend_cents=demand.spend_cents,
        state=OPEN,
        settled_units=None,
        settled_cents=None,
        audit_seq=audit_seq,
    )


def counts_for_safety(decision: Deny) -> bool:
    """Whether a governed DENY is recorded for the cooldown and breaker (§14.6)."""
    if decision.code in (Code.INVALID_MANIFEST, Code.QUOTA_EXCEEDED, Code.UNAVAILABLE):
        return False
    return not (decision.code is Code.POLICY_DENIED and decision.reason in UNAUTHENTICATED)


def settlement_body(
    record: ReservationRecord, why: str, units: int, spend_cents: int
) -> dict[str, Any]:
    """A ``settlement`` entry (§14.6)."""
    return {
        "event": "settlement",
        "lease_id": record.lease_id.hex(),
        "principal": record.principal.hex(),
        "workspace": record.workspace,
        "day": record.day,
        "why": why,
        "reserved": {"units": record.units, "spend_cents": record.spend_cents},
        "settled": {"units": units, "spend_cents": spend_cents},
    }


__all__ = [
    "UNAUTHENTICATED",
    "counts_for_safety",
    "denial_json",
    "denial_window_start",
    "reservation_for",
    "reservation_json",
    "reservation_window_start",
    "settlement_body",
]
