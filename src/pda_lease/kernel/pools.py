"""Pools (spec §14): admission of a governed request against what is in flight and spent.

The policy's ``pools`` member bounds, per organization, workspace and principal, how many
leases may be in flight, how fast they may be asked for, how large a request's context may be,
how much compute may run at once and how much may be spent in a day; its ``safety`` member
adds a cooldown, a circuit breaker and a clamp. Step P (§14.4) judges the request's signed
demand against a ``UsageSnapshot``, an input like the trust snapshot: the manager builds it
from its durable reservations, the kernel only reads it. Everything here is a pure function
of those documents and the time; a refusal carries a deterministic ``Retry``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import attrs

from pda_lease.kernel import model
from pda_lease.kernel.catalog import Code, Deny, Retry, deny
from pda_lease.kernel.inputs import (
    EPOCH_PATTERN,
    HEX32_PATTERN,
    IDENTIFIER_PATTERN,
    UINT63_MAX,
    MonotonicTime,
)
from pda_lease.kernel.model import Failure, Field

MAX_WINDOW_NS = 86_400_000_000_000
MAX_SAFETY_DENIALS = 10_000
MAX_DEMAND = (1 << 53) - 1
MAX_DAY = (1 << 31) - 1
MAX_USAGE_ITEMS = 10_000
POOL_NAMES = ("concurrency", "requests", "units", "context_tokens", "compute", "spend_cents")
DEMAND_NAMES = ("units", "context_tokens", "compute", "spend_cents")

_ID = model.text(IDENTIFIER_PATTERN)
_HEX32 = model.text(HEX32_PATTERN)
_LEASE_ID = model.text(r"[0-9a-f]{32}")
_EPOCH = model.text(EPOCH_PATTERN)
_UINT63 = model.integer(0, UINT63_MAX)
_DEMAND = model.integer(0, MAX_DEMAND)
_WINDOW = model.integer(1, MAX_WINDOW_NS)


def _nullable(check: model.Check) -> model.Check:
    def nullable(value: object, path: str) -> Failure | None:
        return None if value is None else check(value, path)

    return nullable


# ---------------------------------------------------------------------------------- policy


def limits_fields() -> tuple[Field, ...]:
    """A Limits object (§14.1): each pool's limit, or null for none."""
    return tuple(Field(name, _nullable(_UINT63)) for name in POOL_NAMES)


def safety_fields() -> tuple[Field, ...]:
    count = model.integer(1, MAX_SAFETY_DENIALS)
    cooldown = (
        Field("denials", count),
        Field("window_ns", _WINDOW),
        Field("cooldown_ns", _WINDOW),
    )
    breaker = (Field("denials", count), Field("window_ns", _WINDOW), Field("open_ns", _WINDOW))
    clamp = (
        Field("spend_cents", _UINT63),
        Field("window_ns", _WINDOW),
        Field("lease_ns", _WINDOW),
    )
    return (
        Field("cooldown", _nullable(model.nested(cooldown))),
        Field("breaker", _nullable(model.nested(breaker))),
        Field("clamp", _nullable(model.nested(clamp))),
    )


def pools_fields() -> tuple[Field, ...]:
    """The ``pools`` object of a GovernancePolicy (§14.1), without its cross-field rules."""
    limits = model.nested(limits_fields())
    return (
        Field("rate_window_ns", _WINDOW),
        Field("org", limits),
        Field("workspaces", model.object_of(_ID, limits)),
        Field("principals", model.object_of(_HEX32, limits)),
        Field("safety", model.nested(safety_fields())),
    )


# The check of the policy's ``pools`` member: null, or the object of §14.1.
pools_check = _nullable(model.nested(pools_fields()))


def pools_problem(
    pools: Mapping[str, object], workspaces: Mapping[str, object], principals: Mapping[str, object]
) -> str | None:
    """The cross-field rules of §14.1: ``"<path>: <problem>"`` for the first broken one."""
    scoped: Mapping[str, object] = pools["workspaces"]  # type: ignore[assignment]
    for name in model.sorted_keys(scoped):
        if name not in workspaces:
            path = model.child_path("pools.workspaces", name)
            return f"{path}: {name} is not a workspace of the policy"
    keyed: Mapping[str, object] = pools["principals"]  # type: ignore[assignment]
    for key in model.sorted_keys(keyed):
        if key not in principals:
            return f"pools.principals.{key}: not a principal of the policy"
    return None


@attrs.frozen
class PoolLimits:
    """One scope's limits; None is no limit in that pool."""

    path: str  # the scope's path in the policy: pools.org, pools.workspaces.<w>, ...
    concurrency: int | None
    requests: int | None
    units: int | None
    context_tokens: int | None
    compute: int | None
    spend_cents: int | None


@attrs.frozen
class SafetyRule:
    """A cooldown or breaker (``denials`` within ``window_ns``, then ``hold_ns``)."""

    denials: int
    window_ns: int
    hold_ns: int


@attrs.frozen
class Clamp:
    spend_cents: int
    window_ns: int
    lease_ns: int


@attrs.frozen
class Pools:
    """A policy's pools, compiled (§14.1)."""

    rate_window_ns: int
    org: PoolLimits
    workspaces: Mapping[str, PoolLimits] = attrs.field(eq=False, repr=False)
    principals: Mapping[bytes, PoolLimits] = attrs.field(eq=False, repr=False)
    cooldown: SafetyRule | None
    breaker: SafetyRule | None
    clamp: Clamp | None


def _limits(path: str, document: Mapping[str, object]) -> PoolLimits:
    values: dict[str, int | None] = {name: document[name] for name in POOL_NAMES}  # type: ignore[misc]
    return PoolLimits(path, **values)


def pools_from_json(document: object) -> Pools | None:
    """Compile a ``pools`` member already checked by ``pools_check`` and ``pools_problem``."""
    if document is None:
        return None
    assert isinstance(document, dict)
    safety = document["safety"]
    cooldown, breaker, clamp = safety["cooldown"], safety["breaker"], safety["clamp"]
    workspaces_path = "pools.workspaces"
    return Pools(
        rate_window_ns=document["rate_window_ns"],
        org=_limits("pools.org", document["org"]),
        workspaces=MappingProxyType(
            {
                name: _limits(model.child_path(workspaces_path, name), limits)
                for name, limits in document["workspaces"].items()
            }
        ),
        principals=MappingProxyType(
            {
                bytes.fromhex(key): _limits(f"pools.principals.{key}", limits)
                for key, limits in document["principals"].items()
            }
        ),
        cooldown=None
        if cooldown is None
        else SafetyRule(cooldown["denials"], cooldown["window_ns"], cooldown["cooldown_ns"]),
        breaker=None
        if breaker is None
        else SafetyRule(breaker["denials"], breaker["window_ns"], breaker["open_ns"]),
        clamp=None
        if clamp is None
        else Clamp(clamp["spend_cents"], clamp["window_ns"], clamp["lease_ns"]),
    )


# ---------------------------------------------------------------------------------- demand


def demand_fields() -> tuple[Field, ...]:
    """The request's ``demand`` (§14.2), members in this order of judgement."""
    return tuple(Field(name, _DEMAND) for name in DEMAND_NAMES)


@attrs.frozen
class Demand:
    """What a request declares it will use (§14.2), signed with it."""

    units: int = 0
    context_tokens: int = 0
    compute: int = 0
    spend_cents: int = 0

    def to_json(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in DEMAND_NAMES}

    def signed(self) -> list[int]:
        """``[units, context_tokens, compute, spend_cents]``: the demand in the signed bytes."""
        return [self.units, self.context_tokens, self.compute, self.spend_cents]

    @classmethod
    def from_json(cls, document: object) -> Demand:
        """A demand document, as a caller builds one; raises ``ValueError`` when it is not."""
        failure = model.check_object(document, "demand", demand_fields())
        if failure:
            raise ValueError(f"demand field {failure.path}: {failure.reason}")
        assert isinstance(document, dict)
        return cls(**{name: document[name] for name in DEMAND_NAMES})


# ---------------------------------------------------------------------------------- usage


def _reservation_fields() -> tuple[Field, ...]:
    return (
        Field("lease_id", _LEASE_ID),
        Field("principal", _HEX32),
        Field("workspace", _ID),
        Field("clock_epoch", _EPOCH),
        Field("granted_at_ns", _UINT63),
        Field("expires_at_ns", _UINT63),
        Field("day", model.integer(0, MAX_DAY)),
        Field("open", model.boolean),
        Field("units", _DEMAND),
        Field("compute", _DEMAND),
        Field("spend_cents", _UINT63),
    )


def _denial_fields() -> tuple[Field, ...]:
    return (
        Field("principal", _HEX32),
        Field("workspace", _ID),
        Field("clock_epoch", _EPOCH),
        Field("at_ns", _UINT63),
        Field("code", model.one_of(*(str(code) for code in Code))),
    )


def usage_fields() -> tuple[Field, ...]:
    """A UsageSnapshot (§14.3)."""
    return (
        Field("usage_version", model.integer(1, 1, "UNSUPPORTED_VERSION")),
        Field("day", model.integer(0, MAX_DAY)),
        Field(
            "reservations",
            model.array_of(model.nested(_reservation_fields()), MAX_USAGE_ITEMS),
        ),
        Field("denials", model.array_of(model.nested(_denial_fields()), MAX_USAGE_ITEMS)),
    )


_USAGE_FIELDS = usage_fields()


@attrs.frozen
class Reservation:
    lease_id: str
    principal: str
    workspace: str
    clock_epoch: str
    granted_at_ns: int
    expires_at_ns: int
    day: int
    open: bool
    units: int
    compute: int
    spend_cents: int


@attrs.frozen
class Denial:
    principal: str
    workspace: str
    clock_epoch: str
    at_ns: int
    code: str


@attrs.frozen
class Usage:
    """A well-formed UsageSnapshot."""

    day: int
    reservations: tuple[Reservation, ...]
    denials: tuple[Denial, ...]


def parse_usage(document: object) -> Usage | Failure:
    """Spec §14.3 with the §4.1 algorithm and the trust snapshot limits."""
    failure = model.validate(document, model.SNAPSHOT_LIMITS, _USAGE_FIELDS)
    if failure:
        return failure
    assert isinstance(document, dict)
    return Usage(
        day=document["day"],
        reservations=tuple(Reservation(**item) for item in document["reservations"]),
        denials=tuple(Denial(**item) for item in document["denials"]),
    )


def usage_document(
    day: int, reservations: Sequence[Mapping[str, object]], denials: Sequence[Mapping[str, object]]
) -> dict[str, object]:
    """A UsageSnapshot document (what the manager passes and records)."""
    return {
        "usage_version": 1,
        "day": day,
        "reservations": [dict(item) for item in reservations],
        "denials": [dict(item) for item in denials],
    }


# ---------------------------------------------------------------------------------- step P


@attrs.frozen
class Admission:
    """Step P passed; ``clamp_until_ns`` bounds the grant's expiry after a spend spike."""

    clamp_until_ns: int | None


def _quota(reason: str, field: str, retry: Retry | None) -> Deny:
    return deny(Code.QUOTA_EXCEEDED, reason, field, retry)


def _at(now: MonotonicTime, ns: int) -> Retry:
    return Retry(epoch=now.epoch, ns=ns)


def _recent(denial: Denial, now: MonotonicTime, window_ns: int) -> bool:
    return (
        denial.clock_epoch == now.epoch
        and 0 <= now.ns - denial.at_ns < window_ns
        and denial.code != Code.QUOTA_EXCEEDED
    )


def _held(
    rule: SafetyRule | None,
    denials: Sequence[Denial],
    now: MonotonicTime,
    reason: str,
    field: str,
) -> Deny | None:
    """Steps 2-3: ``rule.denials`` recent denials hold requests until the latest + hold."""
    if rule is None:
        return None
    times = [denial.at_ns for denial in denials if _recent(denial, now, rule.window_ns)]
    if len(times) < rule.denials:
        return None
    until = max(times) + rule.hold_ns
    return _quota(reason, field, _at(now, until)) if now.ns < until else None


def _free_at(
    items: Sequence[Reservation],
    excess: int,
    weight: Callable[[Reservation], int],
    order: Callable[[Reservation], tuple[int, str]],
) -> Reservation | None:
    """The item whose leaving first brings ``excess`` to zero or below (None if none does)."""
    for item in sorted(items, key=order):
        excess -= weight(item)
        if excess <= 0:
            return item
    return None


def _by_expiry(item: Reservation) -> tuple[int, str]:
    return (item.expires_at_ns, item.lease_id)


def _by_grant(item: Reservation) -> tuple[int, str]:
    return (item.granted_at_ns, item.lease_id)


def _one(_: Reservation) -> int:
    return 1


def _compute(item: Reservation) -> int:
    return item.compute


def _units(item: Reservation) -> int:
    return item.units


def check_pools(
    pools: Pools,
    principal: bytes,
    workspace: str,
    demand: Demand,
    now: MonotonicTime,
    document: object,
) -> Admission | Deny:
    """Step P (spec §14.4), first failure decides."""
    usage = parse_usage(document)
    if isinstance(usage, Failure):
        path = usage.path
        field = "usage" if path == "$" else "usage" + (path if path[0] == "[" else "." + path)
        return _quota("USAGE_INVALID", field, None)
    principal_hex = principal.hex()

    mine = [d for d in usage.denials if d.principal == principal_hex]
    held = _held(pools.cooldown, mine, now, "PRINCIPAL_COOLDOWN", "pools.safety.cooldown")
    if held:
        return held
    policy_denials = [
        d for d in usage.denials if d.workspace == workspace and d.code == Code.POLICY_DENIED
    ]
    held = _held(
        pools.breaker, policy_denials, now, "WORKSPACE_CIRCUIT_OPEN", "pools.safety.breaker"
    )
    if held:
        return held

    scopes: list[tuple[PoolLimits, list[Reservation]]] = [(pools.org, list(usage.reservations))]
    workspace_limits = pools.workspaces.get(workspace)
    if workspace_limits is not None:
        scoped = [r for r in usage.reservations if r.workspace == workspace]
        scopes.append((workspace_limits, scoped))
    principal_limits = pools.principals.get(principal)
    if principal_limits is not None:
        scoped = [r for r in usage.reservations if r.principal == principal_hex]
        scopes.append((principal_limits, scoped))

    def flight(items: list[Reservation]) -> list[Reservation]:
        return in_flight(items, now)

    def window(items: list[Reservation]) -> list[Reservation]:
        return in_window(items, now, pools.rate_window_ns)

    # Step 4: the request's own size.
    for limits, _ in scopes:
        limit = limits.context_tokens
        if limit is not None and demand.context_tokens > limit:
            return _quota("CONTEXT_TOO_LARGE", limits.path + ".context_tokens", None)

    # Steps 5-8: counters that free up with time. Each: (reason, pool, items of a scope,
    # the demand's weight, an item's weight, the order items leave in, when an item leaves).
    timed: tuple[
        tuple[
            str,
            str,
            Callable[[list[Reservation]], list[Reservation]],
            int,
            Callable[[Reservation], int],
            Callable[[Reservation], tuple[int, str]],
            Callable[[Reservation], int],
        ],
        ...,
    ] = (
        ("CONCURRENCY_EXCEEDED", "concurrency", flight, 1, _one, _by_expiry, _expiry),
        ("COMPUTE_EXCEEDED", "compute", flight, demand.compute, _compute, _by_expiry, _expiry),
        (
            "REQUESTS_EXCEEDED",
            "requests",
            window,
            1,
            _one,
            _by_grant,
            lambda r: r.granted_at_ns + pools.rate_window_ns,
        ),
        (
            "UNITS_EXCEEDED",
            "units",
            window,
            demand.units,
            _units,
            _by_grant,
            lambda r: r.granted_at_ns + pools.rate_window_ns,
        ),
    )
    for reason, pool, select, wanted, weight, order, leaves in timed:
        for limits, items in scopes:
            pool_limit: int | None = getattr(limits, pool)
            if pool_limit is None:
                continue
            counted = select(items)
            excess = sum(weight(item) for item in counted) + wanted - pool_limit
            if excess <= 0:
                continue
            retry: Retry | None = None
            if wanted <= pool_limit:
                freeing = _free_at(counted, excess, weight, order)
                if freeing is not None:  # pragma: no branch - wanted <= limit frees in time
                    retry = _at(now, leaves(freeing))
            return _quota(reason, f"{limits.path}.{pool}", retry)

    # Step 9: the day's spend.
    for limits, items in scopes:
        limit = limits.spend_cents
        if limit is None:
            continue
        spent = spent_on(items, usage.day)
        if spent + demand.spend_cents > limit:
            next_day = None if demand.spend_cents > limit else Retry(day=usage.day + 1)
            return _quota("SPEND_EXCEEDED", limits.path + ".spend_cents", next_day)

    clamp = pools.clamp
    if clamp is not None:
        spike = sum(
            r.spend_cents
            for r in usage.reservations
            if r.workspace == workspace
            and r.clock_epoch == now.epoch
            and 0 <= now.ns - r.granted_at_ns < clamp.window_ns
        )
        if spike >= clamp.spend_cents:
            return Admission(now.ns + clamp.lease_ns)
    return Admission(None)


def _expiry(item: Reservation) -> int:
    return item.expires_at_ns


# ---------------------------------------------------------------------------------- counts
# The §14.3 definitions, once: step P judges with them and the manager's status reports them.


def in_flight(items: Sequence[Reservation], now: MonotonicTime) -> list[Reservation]:
    """Open, this epoch, and ``granted_at_ns <= now.ns < expires_at_ns``."""
    return [
        r
        for r in items
        if r.open and r.clock_epoch == now.epoch and r.granted_at_ns <= now.ns < r.expires_at_ns
    ]


def in_window(
    items: Sequence[Reservation], now: MonotonicTime, window_ns: int
) -> list[Reservation]:
    """This epoch, granted within the last ``window_ns`` (open or not)."""
    return [
        r for r in items if r.clock_epoch == now.epoch and 0 <= now.ns - r.granted_at_ns < window_ns
    ]


def spent_on(items: Sequence[Reservation], day: int) -> int:
    """The spend of ``day``: reserved while open, settled once closed (any epoch)."""
    return sum(r.spend_cents for r in items if r.day == day)


def scope_counts(pools: Pools, usage: Usage, now: MonotonicTime) -> list[dict[str, object]]:
    """Every configured scope with what counts against each pool now, and its limits."""
    scopes: list[tuple[PoolLimits, list[Reservation]]] = [(pools.org, list(usage.reservations))]
    for name in model.sorted_keys(pools.workspaces):
        scoped = [r for r in usage.reservations if r.workspace == name]
        scopes.append((pools.workspaces[name], scoped))
    for key in sorted(pools.principals):
        scoped = [r for r in usage.reservations if r.principal == key.hex()]
        scopes.append((pools.principals[key], scoped))
    counts: list[dict[str, object]] = []
    for limits, items in scopes:
        flight = in_flight(items, now)
        window = in_window(items, now, pools.rate_window_ns)
        used = {
            "concurrency": len(flight),
            "compute": sum(r.compute for r in flight),
            "requests": len(window),
            "units": sum(r.units for r in window),
            "spend_cents": spent_on(items, usage.day),
        }
        counts.append(
            {
                "scope": limits.path,
                "pools": {
                    pool: {"used": used[pool], "limit": getattr(limits, pool)} for pool in used
                },
                "context_tokens": {"limit": limits.context_tokens},
            }
        )
    return counts


__all__ = [
    "Admission",
    "Clamp",
    "Demand",
    "Denial",
    "PoolLimits",
    "Pools",
    "Reservation",
    "SafetyRule",
    "Usage",
    "check_pools",
    "in_flight",
    "in_window",
    "parse_usage",
    "pools_from_json",
    "scope_counts",
    "spent_on",
    "usage_document",
]
