"""The daily spend report: what a state directory's audit log says was spent and refused in a day.

Why this module exists: pools (spec §14) give every org, workspace and principal a daily spend
budget, and the pooled manager writes what each lease reserved and really used into the audit
log (``decision`` entries with ``day``, ``settlement`` entries, §14.6). Operators need one view
of a day: who spent what against which budget, how close each budget is to being exhausted, and
what was refused and why. ``pda-lease report daily`` prints this view; this module computes it
from the log alone, after the hash chain is verified (``read_verified_entries``), so the figures
are those of the durable record, not of a store that may disagree with it.

**What is counted.** For the report's day ``D`` (days since 1970-01-01 UTC, the manager's
calendar):

* *settled* spend of a scope is the sum of ``settled.spend_cents`` of the ``settlement``
  entries whose ``day`` (the grant's day) is ``D``;
* *reserved* spend is the declared ``demand.spend_cents`` of the pooled grants of day ``D``
  (``decision`` entries with outcome GRANT and ``day == D``) that no ``settlement`` and no
  ``grant_void`` entry has ended yet. A lease that has expired but whose expiry settlement is
  not written yet stays reserved: the manager settles it at exactly that amount (§14.6), so the
  report never under-states what the day will cost;
* *used* = settled + reserved, the figure judged against the budget.

The scopes are the org (every lease), each workspace and each principal (64-hex key, shown with
its name from the policy when it has one). A decision entry without ``day`` (``null`` or absent)
is a grant of a manager without pools: it reserves nothing and is not a spend.

**Budgets and alerts.** The policy in force is the one of the *latest* ``authority`` entry of
the whole log (§12.3: written at open whenever the policy changes); its ``pools`` (§14.1) give
the ``spend_cents`` budget of ``pools.org``, ``pools.workspaces[w]`` and ``pools.principals[p]``
(``null``, or a missing scope, means no budget). Each scope with a budget reports
``percent = floor(used * 100 / budget)`` and, when ``used * 100 >= budget * level`` for a level
of 80, 90 or 100, one alert at the highest level reached. A budget of 0 has no percentage
(``None``) and alerts at level 100 as soon as anything is used. Only integers are used, never
floats, so the thresholds are exact: 79.99 % is no alert, 80 % is.

**Denials.** Every ``decision`` entry whose outcome is a DENY counts, whatever its code
(``QUOTA_EXCEEDED`` included: the report shows what callers were refused, not what feeds the
cooldown of §14.4). The rule for the day of a denial, with ``denials``:

* ``"day"`` (the default): the DENY entries whose recorded ``day`` is ``D``. An entry without a
  ``day`` cannot be placed in any calendar day (its ``at`` is a monotonic reading, not a date),
  so it is never counted in a day; the report still says how many such entries the log holds
  (``undated_denials``), so their existence is never hidden;
* ``"all"``: every DENY entry of the log, of any day or of none (a lifetime tally, useful for
  logs that predate §14). The spend figures stay those of ``D``.

**Damaged or older records.** The chain is verified, but a log may predate §14 or come from
another version. A ``decision``, ``settlement``, ``grant_void`` or ``authority`` entry that
lacks a member the report needs, or has it with the wrong type, is counted in ``unreadable``
(by event) and skipped; the report never fails on one. If the latest ``authority`` entry is
unreadable, no budget is in force (an older policy is not the one in force). Other events are
ignored, as are unknown members.

The outputs are pure functions of the ``DailyReport`` value: ``to_json``, ``to_csv``,
``to_text`` and ``to_png``, a bar chart drawn with ``zlib`` and ``struct`` only (no image
library), deterministic byte for byte.
"""

from __future__ import annotations

import csv
import io
import os
import struct
import zlib
from collections.abc import Iterable, Mapping
from typing import Literal

import attrs

from pda_lease.adapters.audit import AuditEntry, read_verified_entries

__all__ = [
    "ALERT_LEVELS",
    "CSV_COLUMNS",
    "MAX_DAY",
    "BudgetAlert",
    "DailyReport",
    "DenialCount",
    "DenialScope",
    "ReasonCount",
    "ReportError",
    "ScopeSpend",
    "daily_report",
    "daily_report_from_entries",
    "format_cents",
    "iso_date",
]

REPORT_VERSION = 1
ALERT_LEVELS = (80, 90, 100)
MAX_DAY = 2**31 - 1  # §14.3: a day is an integer in [0, 2^31-1]
SETTLEMENT_REASONS = frozenset({"RELEASED", "EXPIRED", "REVOKED"})

DenialScope = Literal["day", "all"]
Scope = Literal["org", "workspace", "principal"]


class ReportError(ValueError):
    """The report cannot be computed as asked (no day in the log, a day out of range)."""


class _Unreadable(Exception):
    """A record lacks a member the report needs or has it with the wrong type (internal)."""


# ------------------------------------------------------------------------------ the value


@attrs.frozen(kw_only=True)
class ScopeSpend:
    """The spend of one scope on the report's day.

    ``key`` is ``"org"`` for the org, the workspace name, or the principal's key; ``name`` is
    the org's name or the principal's name from the policy (``None`` when unknown, and always
    for a workspace, whose key is its name).
    """

    scope: Scope
    key: str
    name: str | None
    settled_cents: int
    reserved_cents: int
    settled_leases: int
    open_leases: int
    budget_cents: int | None

    @property
    def used_cents(self) -> int:
        return self.settled_cents + self.reserved_cents

    @property
    def percent(self) -> int | None:
        """``floor(used * 100 / budget)``; ``None`` without a budget or with a budget of 0."""
        if self.budget_cents is None or self.budget_cents == 0:
            return None
        return self.used_cents * 100 // self.budget_cents

    @property
    def label(self) -> str:
        """How a reader names the scope: the name when there is one, else the key."""
        return self.name if self.name is not None else self.key

    def to_json(self) -> dict[str, object]:
        return {
            "scope": self.scope,
            "key": self.key,
            "name": self.name,
            "settled_cents": self.settled_cents,
            "reserved_cents": self.reserved_cents,
            "used_cents": self.used_cents,
            "budget_cents": self.budget_cents,
            "percent": self.percent,
            "settled_leases": self.settled_leases,
            "open_leases": self.open_leases,
        }


@attrs.frozen(kw_only=True)
class BudgetAlert:
    """A budget used to at least ``level`` percent (80, 90 or 100): the highest level reached."""

    scope: Scope
    key: str
    name: str | None
    budget_cents: int
    used_cents: int
    percent: int | None  # None for a budget of 0
    level: int

    def to_json(self) -> dict[str, object]:
        return {
            "scope": self.scope,
            "key": self.key,
            "name": self.name,
            "budget_cents": self.budget_cents,
            "used_cents": self.used_cents,
            "percent": self.percent,
            "level": self.level,
        }


@attrs.frozen
class DenialCount:
    code: str
    count: int


@attrs.frozen
class ReasonCount:
    code: str
    reason: str
    count: int


@attrs.frozen(kw_only=True)
class DailyReport:
    """Spend, budgets, alerts and denials of one day, as the audit log records them."""

    day: int
    policy_digest: str | None  # of the latest authority entry, None if none or unreadable
    policy_seq: int | None  # that entry's seq
    org: ScopeSpend
    workspaces: tuple[ScopeSpend, ...]  # by workspace name
    principals: tuple[ScopeSpend, ...]  # by principal key
    alerts: tuple[BudgetAlert, ...]  # org, then workspaces, then principals, as above
    denials_scope: DenialScope
    denials_by_code: tuple[DenialCount, ...]  # by code
    denials_by_reason: tuple[ReasonCount, ...]  # by (code, reason)
    undated_denials: int  # DENY entries of the whole log without a day
    entries: int  # entries read
    last_seq: int | None
    unreadable_by_event: tuple[tuple[str, int], ...]  # (event, count) by event

    @property
    def date(self) -> str:
        """The day as an ISO 8601 date (``YYYY-MM-DD``)."""
        return iso_date(self.day)

    @property
    def unreadable(self) -> int:
        return sum(count for _, count in self.unreadable_by_event)

    @property
    def denials_total(self) -> int:
        return sum(item.count for item in self.denials_by_code)

    @property
    def scopes(self) -> tuple[ScopeSpend, ...]:
        """Every scope, in table order: the org, the workspaces, the principals."""
        return (self.org, *self.workspaces, *self.principals)

    # --------------------------------------------------------------------------- outputs

    def to_json(self) -> dict[str, object]:
        """A JSON-model document (integers, strings, null); dump it with ``sort_keys``."""
        return {
            "report_version": REPORT_VERSION,
            "day": self.day,
            "date": self.date,
            "policy": {"digest": self.policy_digest, "seq": self.policy_seq},
            "spend": {
                "org": self.org.to_json(),
                "workspaces": [row.to_json() for row in self.workspaces],
                "principals": [row.to_json() for row in self.principals],
            },
            "alerts": [alert.to_json() for alert in self.alerts],
            "denials": {
                "scope": self.denials_scope,
                "total": self.denials_total,
                "undated": self.undated_denials,
                "by_code": [{"code": i.code, "count": i.count} for i in self.denials_by_code],
                "by_reason": [
                    {"code": i.code, "reason": i.reason, "count": i.count}
                    for i in self.denials_by_reason
                ],
            },
            "log": {
                "entries": self.entries,
                "last_seq": self.last_seq,
                "unreadable": self.unreadable,
                "unreadable_by_event": dict(self.unreadable_by_event),
            },
        }

    def to_csv(self) -> str:
        """One table (``CSV_COLUMNS``), one row per fact, ``section`` saying which kind.

        Sections, in this order: ``summary`` (``key`` names the figure, ``value`` holds it),
        ``spend`` (one row per scope), ``deny_code``, ``deny_reason``, ``alert``. Empty cells
        are ``None``; lines end with ``\\n``.
        """
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        summary: list[tuple[str, object]] = [
            ("day", self.day),
            ("date", self.date),
            ("policy_digest", self.policy_digest),
            ("policy_seq", self.policy_seq),
            ("denials_scope", self.denials_scope),
            ("denials_total", self.denials_total),
            ("undated_denials", self.undated_denials),
            ("entries", self.entries),
            ("last_seq", self.last_seq),
            ("unreadable", self.unreadable),
        ]
        summary.extend((f"unreadable:{event}", count) for event, count in self.unreadable_by_event)
        for key, value in summary:
            writer.writerow(_csv_row(section="summary", key=key, value=value))
        for row in self.scopes:
            writer.writerow(
                _csv_row(
                    section="spend",
                    scope=row.scope,
                    key=row.key,
                    name=row.name,
                    settled_cents=row.settled_cents,
                    reserved_cents=row.reserved_cents,
                    used_cents=row.used_cents,
                    budget_cents=row.budget_cents,
                    percent=row.percent,
                    settled_leases=row.settled_leases,
                    open_leases=row.open_leases,
                )
            )
        for item in self.denials_by_code:
            writer.writerow(_csv_row(section="deny_code", code=item.code, count=item.count))
        for detail in self.denials_by_reason:
            writer.writerow(
                _csv_row(
                    section="deny_reason",
                    code=detail.code,
                    reason=detail.reason,
                    count=detail.count,
                )
            )
        for alert in self.alerts:
            writer.writerow(
                _csv_row(
                    section="alert",
                    scope=alert.scope,
                    key=alert.key,
                    name=alert.name,
                    used_cents=alert.used_cents,
                    budget_cents=alert.budget_cents,
                    percent=alert.percent,
                    level=alert.level,
                )
            )
        return out.getvalue()

    def to_text(self) -> str:
        """A plain-text view for a terminal (amounts as units.cents)."""
        lines = [f"Daily report for day {self.day} ({self.date})"]
        if self.policy_digest is None:
            lines.append("Policy: none readable in the log (no budgets)")
        else:
            lines.append(f"Policy: {self.policy_digest} (entry {self.policy_seq})")
        lines.append("")
        lines.append("Spend (settled + reserved = used / budget):")
        for title, rows in (
            ("org", (self.org,)),
            ("workspaces", self.workspaces),
            ("principals", self.principals),
        ):
            lines.append(f"  {title}:")
            if not rows:
                lines.append("    (none)")
            for row in rows:
                lines.append(f"    {_text_label(row)}: {_text_amounts(row)}")
        lines.append("")
        if self.alerts:
            lines.append("Alerts:")
            for alert in self.alerts:
                percent = "-" if alert.percent is None else f"{alert.percent}%"
                who = alert.key if alert.name is None else f"{alert.name} ({alert.key})"
                lines.append(
                    f"  [{alert.level}%] {alert.scope} {who}: "
                    f"{format_cents(alert.used_cents)} of {format_cents(alert.budget_cents)} "
                    f"({percent})"
                )
        else:
            lines.append("Alerts: none")
        lines.append("")
        which = "of the day" if self.denials_scope == "day" else "of all days"
        lines.append(f"Denials {which}: {self.denials_total}")
        for detail in self.denials_by_reason:
            lines.append(f"  {detail.code} / {detail.reason}: {detail.count}")
        if self.denials_scope == "day" and self.undated_denials:
            lines.append(
                f"  ({self.undated_denials} denials in the log have no day and are not counted)"
            )
        lines.append("")
        tail = f"Log: {self.entries} entries"
        if self.last_seq is not None:
            tail += f", last seq {self.last_seq}"
        if self.unreadable:
            parts = ", ".join(f"{event} {count}" for event, count in self.unreadable_by_event)
            tail += f"; {self.unreadable} unreadable records skipped ({parts})"
        lines.append(tail)
        return "\n".join(lines) + "\n"

    def to_png(self) -> bytes:
        """A bar chart (8-bit RGB PNG) of used spend per scope, with each budget as a line.

        Three panels, each with its own scale: the org, the workspaces and the principals (at
        most ``_MAX_BARS`` bars each, the largest users first). A bar is the settled spend in
        dark blue followed by the reserved spend in light blue; a red vertical line marks the
        scope's budget. A non-zero amount is always at least one pixel wide.
        """
        return _render_png(self)


CSV_COLUMNS = [
    "section",
    "scope",
    "key",
    "name",
    "code",
    "reason",
    "settled_cents",
    "reserved_cents",
    "used_cents",
    "budget_cents",
    "percent",
    "level",
    "count",
    "settled_leases",
    "open_leases",
    "value",
]


def _csv_row(**cells: object) -> dict[str, str]:
    return {column: _csv_cell(cells.get(column)) for column in CSV_COLUMNS}


def _csv_cell(value: object) -> str:
    return "" if value is None else str(value)


def _text_label(row: ScopeSpend) -> str:
    if row.scope == "principal" and row.name is not None:
        return f"{row.name} ({row.key})"
    if row.scope == "org" and row.name is not None:
        return row.name
    return row.key


def _text_amounts(row: ScopeSpend) -> str:
    text = (
        f"{format_cents(row.settled_cents)} + {format_cents(row.reserved_cents)} = "
        f"{format_cents(row.used_cents)}"
    )
    if row.budget_cents is not None:
        percent = "-" if row.percent is None else f"{row.percent}%"
        text += f" / {format_cents(row.budget_cents)} ({percent})"
    return text + f"  [{row.settled_leases} settled, {row.open_leases} open]"


def format_cents(cents: int) -> str:
    """``1234`` -> ``"12.34"`` (integer arithmetic)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def iso_date(day: int) -> str:
    """Days since 1970-01-01 (proleptic Gregorian, UTC) as ``YYYY-MM-DD``, for any day >= 0.

    Integer civil-from-days (H. Hinnant's algorithm): ``datetime.date`` stops at year 9999,
    well before the largest day of §14.3.
    """
    if day < 0:
        raise ReportError(f"day {day} is before 1970-01-01")
    shifted = day + 719_468  # days from 0000-03-01
    era, day_of_era = divmod(shifted, 146_097)
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153  # March = 0
    day_of_month = day_of_year - (153 * month_index + 2) // 5 + 1
    month = month_index + 3 if month_index < 10 else month_index - 9
    year = year_of_era + era * 400 + (1 if month <= 2 else 0)
    return f"{year:04d}-{month:02d}-{day_of_month:02d}"


# ------------------------------------------------------------------------- reading records


def _text(record: Mapping[str, object], name: str) -> str:
    value = record.get(name)
    if type(value) is not str:
        raise _Unreadable(name)
    return value


def _amount(record: Mapping[str, object], name: str) -> int:
    value = record.get(name)
    if type(value) is not int or value < 0:
        raise _Unreadable(name)
    return value


def _mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _Unreadable("object")
    return value


def _day_of(record: Mapping[str, object], *, required: bool) -> int | None:
    value = record.get("day")
    if value is None and not required:
        return None
    if type(value) is not int or not 0 <= value <= MAX_DAY:
        raise _Unreadable("day")
    return value


@attrs.frozen
class _Grant:
    day: int
    principal: str
    workspace: str
    spend_cents: int


@attrs.frozen
class _Deny:
    day: int | None
    code: str
    reason: str


def _read_decision(record: Mapping[str, object]) -> tuple[str, _Grant | _Deny | None]:
    """``(lease_id, grant)`` for a pooled grant, ``("", deny)``, or ``("", None)`` (unpooled)."""
    outcome = _mapping(record.get("outcome"))
    day = _day_of(record, required=False)
    decision = outcome.get("decision")
    if decision == "DENY":
        return "", _Deny(day, _text(outcome, "code"), _text(outcome, "reason"))
    if decision != "GRANT":
        raise _Unreadable("outcome.decision")
    if day is None:
        return "", None  # a grant without pools reserves nothing
    lease_id = _text(outcome, "lease_id")
    request = _mapping(_mapping(record.get("request")).get("json"))
    demand = _mapping(request.get("demand"))
    return lease_id, _Grant(
        day,
        _text(request, "principal"),
        _text(request, "workspace"),
        _amount(demand, "spend_cents"),
    )


@attrs.frozen
class _Settlement:
    lease_id: str
    day: int
    principal: str
    workspace: str
    spend_cents: int


def _read_settlement(record: Mapping[str, object]) -> _Settlement:
    why = record.get("why")
    if why not in SETTLEMENT_REASONS:
        raise _Unreadable("why")
    return _Settlement(
        _text(record, "lease_id"),
        _require_day(record),
        _text(record, "principal"),
        _text(record, "workspace"),
        _amount(_mapping(record.get("settled")), "spend_cents"),
    )


def _require_day(record: Mapping[str, object]) -> int:
    day = _day_of(record, required=True)
    assert day is not None  # required=True never returns None
    return day


@attrs.frozen
class _Policy:
    seq: int
    digest: str | None
    org_name: str | None
    principal_names: Mapping[str, str]
    org_budget: int | None
    workspace_budgets: Mapping[str, int | None]
    principal_budgets: Mapping[str, int | None]


def _budget(limits: object) -> int | None:
    """The ``spend_cents`` of a Limits object: ``None`` (no limit) or a non-negative integer."""
    value = _mapping(limits).get("spend_cents")
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise _Unreadable("spend_cents")
    return value


def _budgets(scopes: object) -> dict[str, int | None]:
    if scopes is None:
        return {}
    return {_key(key): _budget(limits) for key, limits in _mapping(scopes).items()}


def _key(value: object) -> str:
    if type(value) is not str:
        raise _Unreadable("key")
    return value


def _read_authority(seq: int, record: Mapping[str, object]) -> _Policy:
    policy = _mapping(record.get("policy"))
    digest = record.get("policy_digest")
    if digest is not None and type(digest) is not str:
        raise _Unreadable("policy_digest")
    org = policy.get("org")
    if org is not None and type(org) is not str:
        raise _Unreadable("org")
    names: dict[str, str] = {}
    principals = policy.get("principals")
    if principals is not None:
        for key, entry in _mapping(principals).items():
            name = _mapping(entry).get("name")
            if type(name) is str:
                names[_key(key)] = name
    pools = policy.get("pools")
    org_budget: int | None = None
    workspace_budgets: dict[str, int | None] = {}
    principal_budgets: dict[str, int | None] = {}
    if pools is not None:
        pools = _mapping(pools)
        org_limits = pools.get("org")
        org_budget = None if org_limits is None else _budget(org_limits)
        workspace_budgets = _budgets(pools.get("workspaces"))
        principal_budgets = _budgets(pools.get("principals"))
    return _Policy(seq, digest, org, names, org_budget, workspace_budgets, principal_budgets)


# ----------------------------------------------------------------------------- computing


class _Tally:
    """Settled spend of one day: (cents, leases) for the org and per workspace / principal."""

    def __init__(self) -> None:
        self.org = [0, 0]
        self.workspaces: dict[str, list[int]] = {}
        self.principals: dict[str, list[int]] = {}

    def add(self, workspace: str, principal: str, cents: int) -> None:
        for cell in (
            self.org,
            self.workspaces.setdefault(workspace, [0, 0]),
            self.principals.setdefault(principal, [0, 0]),
        ):
            cell[0] += cents
            cell[1] += 1


def daily_report(
    audit_path: str | os.PathLike[str],
    day: int | None = None,
    *,
    denials: DenialScope = "day",
) -> DailyReport:
    """The report of ``day`` (``None``: the latest day the log records) from an audit log file.

    The whole chain is verified while it is read: a damaged log raises the audit adapter's
    ``StateError`` (``AUDIT_UNAVAILABLE``) and no report is made from it. ``ReportError`` when
    ``day`` is out of range, or is ``None`` and no entry of the log records a day.
    """
    return daily_report_from_entries(
        (entry for entry, _ in read_verified_entries(audit_path)), day, denials=denials
    )


def daily_report_from_entries(
    entries: Iterable[AuditEntry],
    day: int | None = None,
    *,
    denials: DenialScope = "day",
) -> DailyReport:
    """The report of ``day`` from verified audit entries in log order (see ``daily_report``).

    One pass; memory grows with the days and scopes of the log and its open leases, not with
    its length.
    """
    if denials not in ("day", "all"):
        raise ReportError(f"denials must be 'day' or 'all', not {denials!r}")
    if day is not None and (type(day) is not int or not 0 <= day <= MAX_DAY):
        raise ReportError(f"day must be an integer in [0, {MAX_DAY}], not {day!r}")
    settled: dict[int, _Tally] = {}
    open_grants: dict[str, _Grant] = {}
    deny_counts: dict[int | None, dict[tuple[str, str], int]] = {}
    unreadable: dict[str, int] = {}
    policy: _Policy | None = None
    count = 0
    last_seq: int | None = None
    latest_day: int | None = None
    for entry in entries:
        count += 1
        last_seq = entry.seq
        record = entry.record
        event = record.get("event")
        try:
            if event == "decision":
                lease_id, fact = _read_decision(record)
                if isinstance(fact, _Deny):
                    by_reason = deny_counts.setdefault(fact.day, {})
                    key = (fact.code, fact.reason)
                    by_reason[key] = by_reason.get(key, 0) + 1
                    seen = fact.day
                elif fact is not None:
                    open_grants[lease_id] = fact
                    seen = fact.day
                else:
                    seen = None
            elif event == "settlement":
                settlement = _read_settlement(record)
                open_grants.pop(settlement.lease_id, None)
                tally = settled.get(settlement.day)
                if tally is None:
                    tally = settled[settlement.day] = _Tally()
                tally.add(settlement.workspace, settlement.principal, settlement.spend_cents)
                seen = settlement.day
            elif event == "grant_void":
                open_grants.pop(_text(record, "lease_id"), None)
                seen = None
            elif event == "authority":
                # The latest authority entry is the policy in force, readable or not.
                policy = None
                policy = _read_authority(entry.seq, record)
                seen = None
            else:
                seen = None
        except _Unreadable:
            name = event if type(event) is str else "?"
            unreadable[name] = unreadable.get(name, 0) + 1
            continue
        if seen is not None and (latest_day is None or seen > latest_day):
            latest_day = seen
    if day is None:
        if latest_day is None:
            raise ReportError("the log records no calendar day (no pooled decision or settlement)")
        day = latest_day
    return _assemble(
        day=day,
        tally=settled.get(day, _Tally()),
        reserved=[grant for grant in open_grants.values() if grant.day == day],
        deny_counts=deny_counts,
        denials=denials,
        policy=policy,
        entries=count,
        last_seq=last_seq,
        unreadable=unreadable,
    )


def _assemble(
    *,
    day: int,
    tally: _Tally,
    reserved: list[_Grant],
    deny_counts: Mapping[int | None, Mapping[tuple[str, str], int]],
    denials: DenialScope,
    policy: _Policy | None,
    entries: int,
    last_seq: int | None,
    unreadable: Mapping[str, int],
) -> DailyReport:
    org_open = [0, 0]
    ws_open: dict[str, list[int]] = {}
    pr_open: dict[str, list[int]] = {}
    for grant in reserved:
        for cell in (
            org_open,
            ws_open.setdefault(grant.workspace, [0, 0]),
            pr_open.setdefault(grant.principal, [0, 0]),
        ):
            cell[0] += grant.spend_cents
            cell[1] += 1
    names: Mapping[str, str] = {} if policy is None else policy.principal_names
    org = ScopeSpend(
        scope="org",
        key="org",
        name=None if policy is None else policy.org_name,
        settled_cents=tally.org[0],
        reserved_cents=org_open[0],
        settled_leases=tally.org[1],
        open_leases=org_open[1],
        budget_cents=None if policy is None else policy.org_budget,
    )
    workspaces = _scope_rows(
        "workspace",
        tally.workspaces,
        ws_open,
        {} if policy is None else policy.workspace_budgets,
        {},
    )
    principals = _scope_rows(
        "principal",
        tally.principals,
        pr_open,
        {} if policy is None else policy.principal_budgets,
        names,
    )
    alerts = tuple(
        alert for row in (org, *workspaces, *principals) if (alert := _alert(row)) is not None
    )
    combined: dict[tuple[str, str], int] = {}
    for denial_day, by_reason in deny_counts.items():
        if denials == "all" or denial_day == day:
            for key, number in by_reason.items():
                combined[key] = combined.get(key, 0) + number
    by_code: dict[str, int] = {}
    for (code, _), number in combined.items():
        by_code[code] = by_code.get(code, 0) + number
    undated = sum(deny_counts.get(None, {}).values())
    return DailyReport(
        day=day,
        policy_digest=None if policy is None else policy.digest,
        policy_seq=None if policy is None else policy.seq,
        org=org,
        workspaces=workspaces,
        principals=principals,
        alerts=alerts,
        denials_scope=denials,
        denials_by_code=tuple(DenialCount(code, by_code[code]) for code in sorted(by_code)),
        denials_by_reason=tuple(
            ReasonCount(code, reason, combined[code, reason]) for code, reason in sorted(combined)
        ),
        undated_denials=undated,
        entries=entries,
        last_seq=last_seq,
        unreadable_by_event=tuple(sorted(unreadable.items())),
    )


def _scope_rows(
    scope: Scope,
    settled: Mapping[str, list[int]],
    reserved: Mapping[str, list[int]],
    budgets: Mapping[str, int | None],
    names: Mapping[str, str],
) -> tuple[ScopeSpend, ...]:
    """A row for every key with spend or leases on the day, or with a budget, by key."""
    keys = (
        set(settled) | set(reserved) | {key for key, cents in budgets.items() if cents is not None}
    )
    rows = []
    for key in sorted(keys):
        done = settled.get(key, [0, 0])
        held = reserved.get(key, [0, 0])
        rows.append(
            ScopeSpend(
                scope=scope,
                key=key,
                name=names.get(key),
                settled_cents=done[0],
                reserved_cents=held[0],
                settled_leases=done[1],
                open_leases=held[1],
                budget_cents=budgets.get(key),
            )
        )
    return tuple(rows)


def _alert(row: ScopeSpend) -> BudgetAlert | None:
    budget = row.budget_cents
    if budget is None:
        return None
    used = row.used_cents
    if budget == 0:
        level = ALERT_LEVELS[-1] if used > 0 else None
    else:
        reached = [level for level in ALERT_LEVELS if used * 100 >= budget * level]
        level = reached[-1] if reached else None
    if level is None:
        return None
    return BudgetAlert(
        scope=row.scope,
        key=row.key,
        name=row.name,
        budget_cents=budget,
        used_cents=used,
        percent=row.percent,
        level=level,
    )


# ------------------------------------------------------------------------------- the chart

# A 5x7 bitmap font, column-major: five columns per glyph, bit 0 of each the top row.
_FONT_HEX = {
    " ": "0000000000",
    "0": "3E5149453E",
    "1": "00427F4000",
    "2": "4261514946",
    "3": "2141454B31",
    "4": "1814127F10",
    "5": "2745454539",
    "6": "3C4A494930",
    "7": "0171090503",
    "8": "3649494936",
    "9": "064949291E",
    "A": "7E1111117E",
    "B": "7F49494936",
    "C": "3E41414122",
    "D": "7F4141221C",
    "E": "7F49494941",
    "F": "7F09090901",
    "G": "3E4149497A",
    "H": "7F0808087F",
    "I": "00417F4100",
    "J": "2040413F01",
    "K": "7F08142241",
    "L": "7F40404040",
    "M": "7F021C027F",
    "N": "7F0408107F",
    "O": "3E4141413E",
    "P": "7F09090906",
    "Q": "3E4151215E",
    "R": "7F09192946",
    "S": "4649494931",
    "T": "01017F0101",
    "U": "3F4040403F",
    "V": "1F2040201F",
    "W": "3F4038403F",
    "X": "6314081463",
    "Y": "0708700807",
    "Z": "6151494543",
    "-": "0808080808",
    ".": "0060600000",
    ",": "0050300000",
    "/": "2010080402",
    "%": "2313086462",
    ":": "0036360000",
    "+": "08083E0808",
    "_": "4040404040",
    "(": "001C224100",
    ")": "0041221C00",
    "=": "1414141414",
    "?": "0201510906",
}
_FONT = {char: bytes.fromhex(columns) for char, columns in _FONT_HEX.items()}
_GLYPH_H, _ADVANCE = 7, 6

_WIDTH = 720
_MARGIN = 10
_LABEL_CHARS = 18
_VALUE_CHARS = 24
_PLOT_X0 = _MARGIN + _LABEL_CHARS * _ADVANCE + 6
_PLOT_X1 = _WIDTH - _MARGIN - _VALUE_CHARS * _ADVANCE - 6
_BAR_H = 10
_ROW_H = 16
_LINE_H = 14
_MAX_BARS = 40

_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)
_GREY = (150, 150, 150)
_SETTLED = (31, 119, 180)
_RESERVED = (158, 202, 225)
_BUDGET = (214, 39, 40)

Colour = tuple[int, int, int]


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(_WHITE) * (width * height))

    def fill(self, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
        """Paint the rectangle ``[x0, x1) x [y0, y1)``, clipped to the canvas."""
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x0 >= x1:
            return
        run = bytes(colour) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(run)] = run

    def text(self, x: int, y: int, text: str, colour: Colour = _BLACK) -> None:
        for index, char in enumerate(_glyph_text(text)):
            columns = _FONT[char]
            for column, bits in enumerate(columns):
                for row in range(_GLYPH_H):
                    if bits >> row & 1:
                        left = x + index * _ADVANCE + column
                        self.fill(left, y + row, left + 1, y + row + 1, colour)

    def png(self) -> bytes:
        stride = self.width * 3
        raw = b"".join(
            b"\x00" + bytes(self.pixels[row * stride : (row + 1) * stride])
            for row in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _glyph_text(text: str) -> str:
    """Upper case; a character without a glyph becomes ``?``."""
    return "".join(char if char in _FONT else "?" for char in text.upper())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "+"


def _chart_label(row: ScopeSpend) -> str:
    if row.scope == "principal" and row.name is None:
        return row.key[:12]
    return row.label


def _chart_value(row: ScopeSpend) -> str:
    text = format_cents(row.used_cents)
    if row.budget_cents is not None:
        text += f"/{format_cents(row.budget_cents)}"
        if row.percent is not None:
            text += f" {row.percent}%"
    return text


def _panels(report: DailyReport) -> list[tuple[str, list[ScopeSpend], int]]:
    """(title, bars, rows left out) of each panel; bars by used spend (largest first), key."""
    panels = []
    for title, rows in (
        ("ORG", [report.org]),
        ("WORKSPACES", list(report.workspaces)),
        ("PRINCIPALS", list(report.principals)),
    ):
        ordered = sorted(rows, key=lambda row: (-row.used_cents, row.key))
        panels.append((title, ordered[:_MAX_BARS], max(0, len(ordered) - _MAX_BARS)))
    return panels


def _scaled(amount: int, largest: int) -> int:
    """Pixels for ``amount`` on a panel whose largest figure is ``largest``; >= 1 if > 0."""
    if amount <= 0 or largest <= 0:
        return 0
    return max(1, amount * (_PLOT_X1 - _PLOT_X0) // largest)


def _render_png(report: DailyReport) -> bytes:
    panels = _panels(report)
    height = _MARGIN + 2 * _LINE_H
    for _, bars, left_out in panels:
        height += _LINE_H + _ROW_H * max(1, len(bars)) + (_LINE_H if left_out else 0) + 6
    height += _MARGIN
    canvas = _Canvas(_WIDTH, height)
    y = _MARGIN
    canvas.text(_MARGIN, y, f"SPEND DAY {report.day} ({report.date}) (AMOUNTS AS UNITS.CENTS)")
    y += _LINE_H
    canvas.text(_MARGIN, y, "DARK: SETTLED  LIGHT: RESERVED  RED LINE: DAILY BUDGET", _GREY)
    y += _LINE_H
    for title, bars, left_out in panels:
        canvas.text(_MARGIN, y + 2, title)
        y += _LINE_H
        canvas.fill(_PLOT_X0 - 1, y, _PLOT_X0, y + _ROW_H * max(1, len(bars)), _GREY)
        if not bars:
            canvas.text(_PLOT_X0 + 4, y + 3, "(NONE)", _GREY)
        largest = max(
            [row.used_cents for row in bars] + [row.budget_cents or 0 for row in bars] + [0]
        )
        for row in bars:
            canvas.text(_MARGIN, y + 3, _clip(_chart_label(row), _LABEL_CHARS))
            settled = _scaled(row.settled_cents, largest)
            used = _scaled(row.used_cents, largest)
            if row.reserved_cents > 0 and used <= settled:
                used = settled + 1
            top = y + (_ROW_H - _BAR_H) // 2
            canvas.fill(_PLOT_X0, top, _PLOT_X0 + settled, top + _BAR_H, _SETTLED)
            canvas.fill(_PLOT_X0 + settled, top, _PLOT_X0 + used, top + _BAR_H, _RESERVED)
            if row.budget_cents is not None:
                x = _PLOT_X0 + (
                    row.budget_cents * (_PLOT_X1 - _PLOT_X0) // largest if largest else 0
                )
                canvas.fill(x, y + 1, x + 2, y + _ROW_H - 1, _BUDGET)
            canvas.text(_PLOT_X1 + 8, y + 3, _clip(_chart_value(row), _VALUE_CHARS))
            y += _ROW_H
        if not bars:
            y += _ROW_H
        if left_out:
            canvas.text(_PLOT_X0 + 4, y + 2, f"+{left_out} MORE (SMALLER) NOT SHOWN", _GREY)
            y += _LINE_H
        y += 6
    return canvas.png()
