"""The daily spend report (``pda_lease.report``) over hand-built audit logs (spec §12.3, §14.6).

Every log here is written through the real audit adapters (``JsonlAuditLog`` for files,
``MemoryAuditLog`` where only the entries matter), with ``decision``, ``settlement``,
``grant_void`` and ``authority`` bodies in exactly the form the pooled manager writes. The
expected figures are worked out by hand from those bodies; the PNG is taken apart with
``struct`` and ``zlib`` and its CRCs recomputed, not trusted.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pda_lease.adapters import JsonlAuditLog, MemoryAuditLog, StateError
from pda_lease.adapters.audit import AuditEntry
from pda_lease.report import (
    CSV_COLUMNS,
    MAX_DAY,
    BudgetAlert,
    DailyReport,
    DenialCount,
    DenialScope,
    ReasonCount,
    ReportError,
    daily_report,
    daily_report_from_entries,
    format_cents,
    iso_date,
)

ALICE = "a1" * 32
BOB = "b2" * 32
CAROL = "c3" * 32  # not a principal of the policy: no name
DAY = 20426  # 2025-12-04
DIGEST_1 = "d1" * 32
DIGEST_2 = "d2" * 32

Body = dict[str, object]


# ----------------------------------------------------------------------------- builders


def limits(spend_cents: int | None) -> Body:
    return {
        "concurrency": None,
        "requests": None,
        "units": None,
        "context_tokens": None,
        "compute": None,
        "spend_cents": spend_cents,
    }


def policy(
    *,
    org: int | None = None,
    workspaces: Mapping[str, int | None] | None = None,
    principals: Mapping[str, int | None] | None = None,
    pools: bool = True,
) -> Body:
    """A GovernancePolicy document with the members the report reads (others elided)."""
    document: Body = {
        "governance_version": 1,
        "org": "acme",
        "version": 1,
        "principals": {
            ALICE: {"name": "alice", "kind": "PERSON", "workspaces": {"research": "analyst"}},
            BOB: {"name": "bob", "kind": "SERVICE", "workspaces": {"ops": "runner"}},
        },
        "pools": None,
    }
    if pools:
        document["pools"] = {
            "rate_window_ns": 60_000_000_000,
            "org": limits(org),
            "workspaces": {name: limits(cents) for name, cents in (workspaces or {}).items()},
            "principals": {key: limits(cents) for key, cents in (principals or {}).items()},
            "safety": {"cooldown": None, "breaker": None, "clamp": None},
        }
    return document


def authority(document: object, digest: str = DIGEST_1) -> Body:
    return {
        "event": "authority",
        "issuer_public_key": "00" * 32,
        "issuer_kid": "kid",
        "policy_digest": digest,
        "policy": document,
    }


def lease(number: int) -> str:
    return f"{number:032x}"


def grant(number: int, principal: str, workspace: str, spend: int, day: int | None = DAY) -> Body:
    return {
        "event": "decision",
        "at": {"epoch": "boot", "ns": 5_000_000_000 + number},
        "issuer_kid": "kid",
        "policy_digest": DIGEST_1,
        "trust_digest": "ee" * 32,
        "manifest": {"json": {"task_id": f"t{number}"}},
        "hrc_token": None,
        "outcome": {
            "decision": "GRANT",
            "lease_id": lease(number),
            "token": "ab" * 40,
            "manifest_digest": "cd" * 32,
            "issued_at_ns": 5_000_000_000,
            "expires_at_ns": 65_000_000_000,
        },
        "request": {
            "json": {
                "request_version": 1,
                "principal": principal,
                "workspace": workspace,
                "model": None,
                "tools": [],
                "manifest_digest": "cd" * 32,
                "requested_at": {"epoch": "boot", "ns": 4_000_000_000},
                "demand": {
                    "units": 10,
                    "context_tokens": 100,
                    "compute": 1,
                    "spend_cents": spend,
                },
                "signature": "00" * 64,
            }
        },
        "approvals": None,
        "usage": {"json": {"usage_version": 1, "day": day, "reservations": [], "denials": []}},
        "day": day,
        "store_head": 7,  # an unknown member: ignored
    }


def deny(code: str, reason: str, day: int | None = DAY, *, with_day: bool = True) -> Body:
    body: Body = {
        "event": "decision",
        "at": None,
        "issuer_kid": "kid",
        "policy_digest": DIGEST_1,
        "trust_digest": "ee" * 32,
        "manifest": {"json": {}},
        "hrc_token": None,
        "outcome": {"decision": "DENY", "code": code, "reason": reason, "field": "x"},
        "request": None,
        "approvals": None,
        "usage": None,
    }
    if with_day:
        body["day"] = day
    return body


def settlement(
    number: int,
    principal: str,
    workspace: str,
    spend: int,
    day: int = DAY,
    why: str = "RELEASED",
    reserved: int | None = None,
) -> Body:
    return {
        "event": "settlement",
        "lease_id": lease(number),
        "principal": principal,
        "workspace": workspace,
        "day": day,
        "why": why,
        "reserved": {"units": 10, "spend_cents": spend if reserved is None else reserved},
        "settled": {"units": 7, "spend_cents": spend},
    }


def entries_of(bodies: Sequence[Mapping[str, object]]) -> list[AuditEntry]:
    """The verified entries of an in-memory log holding ``log_created`` and then ``bodies``."""
    log = MemoryAuditLog()
    log.recover(None)
    if bodies:
        log.append(bodies)
    return log.pending(None)


def report_of(
    bodies: Sequence[Mapping[str, object]], day: int | None = DAY, denials: DenialScope = "day"
) -> DailyReport:
    return daily_report_from_entries(entries_of(bodies), day, denials=denials)


def member(body: Mapping[str, object], *path: str) -> dict[str, object]:
    """The object at ``path`` inside ``body`` (to damage it in place)."""
    value: object = body
    for name in path:
        assert isinstance(value, dict)
        value = value[name]
    assert isinstance(value, dict)
    return value


def write_log(directory: Path, bodies: Sequence[Mapping[str, object]]) -> Path:
    path = directory / "audit.jsonl"
    log = JsonlAuditLog(path, directory / "audit.quarantine")
    log.recover(None)
    if bodies:
        log.append(bodies)
    log.close()
    return path


def the_day() -> list[Body]:
    """A day of two workspaces and three principals, with noise from other days.

    Day DAY: settled 120 (alice, research) + 30 (bob, ops) + 5 (carol, research, settled at
    expiry); open: 40 (alice, research) and 7 (bob, ops); a voided grant of 1000 and a grant
    settled later (250 reserved, 200 used) must not count as reserved. Day DAY-1 and DAY+1
    hold spend and grants that must not count for DAY.
    """
    return [
        authority(
            policy(org=1000, workspaces={"research": 500, "ops": 100}, principals={ALICE: 400})
        ),
        grant(1, ALICE, "research", 150),
        grant(2, BOB, "ops", 30),
        grant(3, ALICE, "research", 40),
        grant(4, BOB, "ops", 7),
        grant(5, CAROL, "research", 5),
        grant(6, ALICE, "research", 1000),
        {"event": "grant_void", "lease_id": lease(6), "entry_seq": 7, "why": "commit failed"},
        grant(7, BOB, "ops", 250),
        settlement(1, ALICE, "research", 120, reserved=150),
        settlement(2, BOB, "ops", 30),
        settlement(5, CAROL, "research", 5, why="EXPIRED"),
        settlement(7, BOB, "ops", 200, why="REVOKED", reserved=250),
        grant(8, ALICE, "research", 999, day=DAY - 1),
        settlement(9, ALICE, "research", 888, day=DAY - 1),
        grant(10, BOB, "ops", 777, day=DAY + 1),
        settlement(11, BOB, "ops", 666, day=DAY + 1),
        grant(12, ALICE, "research", 555, day=None),  # unpooled: no spend at all
    ]


# ------------------------------------------------------------------------------- figures


def test_spend_by_scope_settled_and_reserved() -> None:
    report = report_of(the_day())
    assert report.day == DAY
    assert report.date == "2025-12-04"
    org = report.org
    assert (org.settled_cents, org.reserved_cents, org.used_cents) == (355, 47, 402)
    assert (org.settled_leases, org.open_leases) == (4, 2)
    assert (org.key, org.name, org.budget_cents, org.percent) == ("org", "acme", 1000, 40)
    by_workspace = {row.key: row for row in report.workspaces}
    assert list(by_workspace) == ["ops", "research"]
    assert (by_workspace["research"].settled_cents, by_workspace["research"].reserved_cents) == (
        125,
        40,
    )
    assert (by_workspace["ops"].settled_cents, by_workspace["ops"].reserved_cents) == (230, 7)
    assert by_workspace["ops"].budget_cents == 100
    assert by_workspace["ops"].percent == 237
    by_principal = {row.key: row for row in report.principals}
    assert list(by_principal) == sorted([ALICE, BOB, CAROL])
    assert by_principal[ALICE].name == "alice"
    assert by_principal[BOB].name == "bob"
    assert by_principal[CAROL].name is None
    assert (by_principal[ALICE].settled_cents, by_principal[ALICE].reserved_cents) == (120, 40)
    assert (by_principal[ALICE].settled_leases, by_principal[ALICE].open_leases) == (1, 1)
    assert (by_principal[BOB].settled_cents, by_principal[BOB].reserved_cents) == (230, 7)
    assert (by_principal[CAROL].settled_cents, by_principal[CAROL].reserved_cents) == (5, 0)
    assert by_principal[ALICE].budget_cents == 400
    assert by_principal[BOB].budget_cents is None
    assert report.policy_digest == DIGEST_1
    assert report.policy_seq == 1
    assert report.unreadable == 0


def test_other_days_are_their_own() -> None:
    before = report_of(the_day(), DAY - 1)
    assert (before.org.settled_cents, before.org.reserved_cents) == (888, 999)
    after = report_of(the_day(), DAY + 1)
    assert (after.org.settled_cents, after.org.reserved_cents) == (666, 777)
    empty = report_of(the_day(), 3)
    assert (empty.org.settled_cents, empty.org.reserved_cents) == (0, 0)
    # Scopes with a budget are listed even when nothing was spent.
    assert [(row.key, row.used_cents) for row in empty.workspaces] == [("ops", 0), ("research", 0)]
    assert [(row.key, row.used_cents) for row in empty.principals] == [(ALICE, 0)]
    assert empty.alerts == ()


def test_latest_day_is_the_default(tmp_path: Path) -> None:
    path = write_log(tmp_path, the_day())
    assert daily_report(path).day == DAY + 1
    assert daily_report(path, DAY) == report_of(the_day())


def test_a_settlement_for_a_lease_not_in_the_log_still_counts() -> None:
    report = report_of([settlement(1, ALICE, "research", 42)])
    assert (report.org.settled_cents, report.org.reserved_cents) == (42, 0)
    assert report.policy_digest is None
    assert report.org.budget_cents is None


def test_no_day_in_the_log_and_bad_days() -> None:
    bodies = [
        authority(policy(org=10)),
        grant(1, ALICE, "research", 5, day=None),
        deny("X", "Y", None),
    ]
    with pytest.raises(ReportError, match="no calendar day"):
        report_of(bodies, None)
    # An explicit day works on such a log: nothing is spent.
    assert report_of(bodies, 0).org.used_cents == 0
    for bad in (-1, MAX_DAY + 1, True):
        with pytest.raises(ReportError, match="day must be"):
            report_of(bodies, bad)
    with pytest.raises(ReportError, match="denials"):
        daily_report_from_entries(entries_of(bodies), 0, denials="week")  # type: ignore[arg-type]


def test_damaged_log_is_refused(tmp_path: Path) -> None:
    path = write_log(tmp_path, the_day())
    lines = path.read_bytes().splitlines(keepends=True)
    damaged = lines[4].replace(b'"spend_cents":40', b'"spend_cents":4')  # grant 3
    assert damaged != lines[4]
    lines[4] = damaged
    path.write_bytes(b"".join(lines))
    with pytest.raises(StateError):
        daily_report(path, DAY)


# ------------------------------------------------------------------------------- denials


def denial_log() -> list[Body]:
    return [
        deny("POLICY_DENIED", "TOOL_NOT_ALLOWED"),
        deny("POLICY_DENIED", "TOOL_NOT_ALLOWED"),
        deny("POLICY_DENIED", "MODEL_NOT_ALLOWED"),
        deny("QUOTA_EXCEEDED", "SPEND_EXCEEDED"),
        deny("QUOTA_EXCEEDED", "SPEND_EXCEEDED", DAY - 1),
        deny("INVALID_MANIFEST", "MISSING_FIELD", None),  # "day": null
        deny("INVALID_MANIFEST", "MISSING_FIELD", with_day=False),  # no "day" at all
        grant(1, ALICE, "research", 1),
    ]


def test_denials_of_the_day() -> None:
    report = report_of(denial_log())
    assert report.denials_scope == "day"
    assert report.denials_by_code == (
        DenialCount("POLICY_DENIED", 3),
        DenialCount("QUOTA_EXCEEDED", 1),
    )
    assert report.denials_by_reason == (
        ReasonCount("POLICY_DENIED", "MODEL_NOT_ALLOWED", 1),
        ReasonCount("POLICY_DENIED", "TOOL_NOT_ALLOWED", 2),
        ReasonCount("QUOTA_EXCEEDED", "SPEND_EXCEEDED", 1),
    )
    assert report.denials_total == 4
    assert report.undated_denials == 2
    assert report.unreadable == 0


def test_denials_of_all_days_include_the_undated() -> None:
    report = report_of(denial_log(), denials="all")
    assert report.denials_scope == "all"
    assert report.denials_by_code == (
        DenialCount("INVALID_MANIFEST", 2),
        DenialCount("POLICY_DENIED", 3),
        DenialCount("QUOTA_EXCEEDED", 2),
    )
    assert report.denials_total == 7
    assert report.undated_denials == 2
    # The spend is still that of the day.
    assert report.org.reserved_cents == 1


# -------------------------------------------------------------------------------- alerts


@pytest.mark.parametrize(
    ("used", "percent", "level"),
    [
        (0, 0, None),
        (799, 79, None),
        (800, 80, 80),
        (899, 89, 80),
        (900, 90, 90),
        (999, 99, 90),
        (1000, 100, 100),
        (2500, 250, 100),
    ],
)
def test_alert_thresholds_are_exact(used: int, percent: int, level: int | None) -> None:
    # Half the use settled, half still reserved: the budget judges the sum.
    settled, reserved = used // 2, used - used // 2
    bodies = [
        authority(policy(org=1000, workspaces={"research": 1000}, principals={ALICE: 1000})),
        grant(1, ALICE, "research", settled),
        settlement(1, ALICE, "research", settled),
        grant(2, ALICE, "research", reserved),
    ]
    report = report_of(bodies)
    assert report.org.used_cents == used
    assert report.org.percent == percent
    if level is None:
        assert report.alerts == ()
        return
    assert report.alerts == (
        BudgetAlert(
            scope="org", key="org", name="acme", budget_cents=1000, used_cents=used,
            percent=percent, level=level,
        ),
        BudgetAlert(
            scope="workspace", key="research", name=None, budget_cents=1000, used_cents=used,
            percent=percent, level=level,
        ),
        BudgetAlert(
            scope="principal", key=ALICE, name="alice", budget_cents=1000, used_cents=used,
            percent=percent, level=level,
        ),
    )  # fmt: skip


def test_thresholds_round_down_with_odd_budgets() -> None:
    # 80 % of 333 is 266.4: 266 is below it, 267 is at least it.
    for used, level in ((266, None), (267, 80), (299, 80), (300, 90), (332, 90), (333, 100)):
        bodies = [authority(policy(org=333)), grant(1, ALICE, "research", used)]
        alerts = report_of(bodies).alerts
        assert [alert.level for alert in alerts] == ([] if level is None else [level]), used


def test_zero_budget_and_no_budget() -> None:
    spent = [authority(policy(org=0, workspaces={"ops": None})), grant(1, BOB, "ops", 1)]
    report = report_of(spent)
    assert report.org.percent is None
    assert report.alerts == (
        BudgetAlert(
            scope="org", key="org", name="acme", budget_cents=0, used_cents=1, percent=None,
            level=100,
        ),
    )  # fmt: skip
    nothing = report_of([authority(policy(org=0)), grant(1, BOB, "ops", 0)])
    assert nothing.alerts == ()
    no_pools = report_of([authority(policy(pools=False)), grant(1, BOB, "ops", 10**9)])
    assert no_pools.alerts == ()
    assert no_pools.org.budget_cents is None
    assert no_pools.principals[0].name == "bob"


def test_the_latest_authority_is_in_force() -> None:
    first = authority(policy(org=100), DIGEST_1)
    second = authority(policy(org=1000), DIGEST_2)
    report = report_of([first, grant(1, ALICE, "research", 95), second])
    assert (report.policy_digest, report.policy_seq, report.org.budget_cents) == (DIGEST_2, 3, 1000)
    assert report.alerts == ()
    # A latest authority that cannot be read leaves no budget in force, not the older one.
    broken = authority({"org": "acme", "pools": {"org": {"spend_cents": "100"}}}, DIGEST_2)
    report = report_of([first, grant(1, ALICE, "research", 95), broken])
    assert (report.policy_digest, report.org.budget_cents, report.alerts) == (None, None, ())
    assert report.unreadable_by_event == (("authority", 1),)


# ---------------------------------------------------------------------------- unreadable


def test_unreadable_records_are_tallied_and_skipped() -> None:
    good = grant(1, ALICE, "research", 10)
    unrecorded = grant(2, ALICE, "research", 10)
    unrecorded["request"] = {"unrecorded": "FLOAT"}
    no_request = grant(3, ALICE, "research", 10)
    no_request["request"] = None
    bool_spend = grant(4, ALICE, "research", 10)
    member(bool_spend, "request", "json", "demand")["spend_cents"] = True
    text_day = grant(5, ALICE, "research", 10)
    text_day["day"] = "20426"
    negative_day = deny("POLICY_DENIED", "X", -1)
    no_reason = deny("POLICY_DENIED", "X")
    del member(no_reason, "outcome")["reason"]
    odd_outcome = deny("POLICY_DENIED", "X")
    odd_outcome["outcome"] = {"decision": "MAYBE"}
    string_outcome = deny("POLICY_DENIED", "X")
    string_outcome["outcome"] = "DENY"
    bad_settlement_day = settlement(6, ALICE, "research", 10)
    bad_settlement_day["day"] = None
    no_settled = settlement(7, ALICE, "research", 10)
    del no_settled["settled"]
    negative = settlement(8, ALICE, "research", -5)
    odd_why = settlement(9, ALICE, "research", 10, why="LOST")
    numeric_principal = settlement(10, ALICE, "research", 10)
    numeric_principal["principal"] = 7
    bodies: list[Body] = [
        authority(policy(org=100)),
        good,
        unrecorded,
        no_request,
        bool_spend,
        text_day,
        negative_day,
        no_reason,
        odd_outcome,
        string_outcome,
        bad_settlement_day,
        no_settled,
        negative,
        odd_why,
        numeric_principal,
        {"event": "grant_void", "entry_seq": 2},
        authority(["not", "a", "policy"]),
        {"event": "something_new", "whatever": 1},  # unknown events are not unreadable
        settlement(11, BOB, "ops", 3),
    ]
    report = report_of(bodies)
    assert report.unreadable_by_event == (
        ("authority", 1),
        ("decision", 8),
        ("grant_void", 1),
        ("settlement", 5),
    )
    assert report.unreadable == 15
    assert (report.org.settled_cents, report.org.reserved_cents) == (3, 10)
    assert report.policy_digest is None  # the latest authority is unreadable
    assert report.entries == len(bodies) + 1  # and log_created
    assert report.last_seq == len(bodies)
    assert "15 unreadable records skipped" in report.to_text()


# ------------------------------------------------------------------------------- outputs


def walk(value: object) -> Iterator[object]:
    yield value
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def test_json_document() -> None:
    report = report_of(the_day() + denial_log())
    document = report.to_json()
    assert not any(isinstance(item, float) for item in walk(document))
    assert json.loads(json.dumps(document, sort_keys=True)) == document
    assert json.dumps(document, sort_keys=True) == json.dumps(
        report_of(the_day() + denial_log()).to_json(), sort_keys=True
    )
    assert document["day"] == DAY
    assert document["date"] == "2025-12-04"
    assert document["policy"] == {"digest": DIGEST_1, "seq": 1}
    spend = document["spend"]
    assert isinstance(spend, dict)
    assert spend["org"] == {
        "scope": "org",
        "key": "org",
        "name": "acme",
        "settled_cents": 355,
        "reserved_cents": 48,  # 47 + the 1 of denial_log's grant
        "used_cents": 403,
        "budget_cents": 1000,
        "percent": 40,
        "settled_leases": 4,
        "open_leases": 3,
    }
    assert [row["key"] for row in spend["workspaces"]] == ["ops", "research"]
    assert document["alerts"] == [
        {
            "scope": "workspace",
            "key": "ops",
            "name": None,
            "budget_cents": 100,
            "used_cents": 237,
            "percent": 237,
            "level": 100,
        }
    ]
    denials = document["denials"]
    assert isinstance(denials, dict)
    assert (denials["scope"], denials["total"], denials["undated"]) == ("day", 4, 2)
    assert denials["by_code"][0] == {"code": "POLICY_DENIED", "count": 3}
    assert document["log"] == {
        "entries": len(the_day()) + len(denial_log()) + 1,
        "last_seq": len(the_day()) + len(denial_log()),
        "unreadable": 0,
        "unreadable_by_event": {},
    }


def test_csv_parses_back() -> None:
    report = report_of(the_day() + denial_log())
    text = report.to_csv()
    assert text == report_of(the_day() + denial_log()).to_csv()
    assert "\r" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert next(csv.reader(io.StringIO(text))) == CSV_COLUMNS
    sections = [row["section"] for row in rows]
    order = ["summary", "spend", "deny_code", "deny_reason", "alert"]
    assert sections == sorted(sections, key=order.index)
    summary = {row["key"]: row["value"] for row in rows if row["section"] == "summary"}
    assert summary["day"] == str(DAY)
    assert summary["date"] == "2025-12-04"
    assert summary["denials_total"] == "4"
    assert summary["undated_denials"] == "2"
    assert summary["unreadable"] == "0"
    spend = [row for row in rows if row["section"] == "spend"]
    assert [(row["scope"], row["key"]) for row in spend] == [
        ("org", "org"),
        ("workspace", "ops"),
        ("workspace", "research"),
        *[("principal", key) for key in sorted([ALICE, BOB, CAROL])],
    ]
    for row, scope in zip(spend, report.scopes, strict=True):
        assert int(row["settled_cents"]) == scope.settled_cents
        assert int(row["reserved_cents"]) == scope.reserved_cents
        assert int(row["used_cents"]) == scope.used_cents
        assert row["budget_cents"] == (
            "" if scope.budget_cents is None else str(scope.budget_cents)
        )
        assert row["name"] == (scope.name or "")
    assert {row["code"]: int(row["count"]) for row in rows if row["section"] == "deny_code"} == {
        "POLICY_DENIED": 3,
        "QUOTA_EXCEEDED": 1,
    }
    reasons = [(r["code"], r["reason"], r["count"]) for r in rows if r["section"] == "deny_reason"]
    assert reasons == [
        ("POLICY_DENIED", "MODEL_NOT_ALLOWED", "1"),
        ("POLICY_DENIED", "TOOL_NOT_ALLOWED", "2"),
        ("QUOTA_EXCEEDED", "SPEND_EXCEEDED", "1"),
    ]
    alerts = [row for row in rows if row["section"] == "alert"]
    assert [(r["scope"], r["key"], r["level"], r["percent"]) for r in alerts] == [
        ("workspace", "ops", "100", "237")
    ]


def test_text_view() -> None:
    text = report_of(the_day() + denial_log()).to_text()
    assert "Daily report for day 20426 (2025-12-04)" in text
    assert "acme: 3.55 + 0.48 = 4.03 / 10.00 (40%)" in text
    assert f"alice ({ALICE}): 1.20 + 0.41 = 1.61 / 4.00 (40%)" in text
    assert "[100%] workspace ops: 2.37 of 1.00 (237%)" in text
    assert "POLICY_DENIED / TOOL_NOT_ALLOWED: 2" in text
    assert "2 denials in the log have no day" in text
    assert "Alerts: none" in report_of([grant(1, ALICE, "research", 1)]).to_text()


# ----------------------------------------------------------------------------------- PNG


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        position += 12 + length
    assert position == len(data)
    return chunks


def png_pixels(data: bytes) -> tuple[int, int, set[tuple[int, int, int]]]:
    chunks = png_chunks(data)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * width
    assert len(raw) == height * stride
    colours: set[tuple[int, int, int]] = set()
    for row in range(height):
        line = raw[row * stride : (row + 1) * stride]
        assert line[0] == 0  # filter type None
        colours.update(zip(line[1::3], line[2::3], line[3::3], strict=True))
    return width, height, colours


SETTLED, RESERVED, BUDGET = (31, 119, 180), (158, 202, 225), (214, 39, 40)


def test_png_is_valid_and_shows_the_bars() -> None:
    report = report_of(the_day())
    data = report.to_png()
    width, height, colours = png_pixels(data)
    assert width == 720
    # Title, legend, 3 panels: 1 org bar, 2 workspace bars, 3 principal bars.
    assert height == 10 + 28 + 3 * (14 + 6) + 16 * (1 + 2 + 3) + 10
    assert {SETTLED, RESERVED, BUDGET} <= colours
    assert data == report.to_png() == report_of(the_day()).to_png()


@pytest.mark.parametrize(
    ("settled", "reserved", "budget"),
    [(0, 0, None), (1, 0, None), (0, 1, None), (0, 0, 10), (5, 5, 10), (10**12, 1, 1)],
)
def test_png_colours_follow_the_figures(settled: int, reserved: int, budget: int | None) -> None:
    bodies: list[Body] = [authority(policy(org=budget)), grant(2, ALICE, "research", reserved)]
    if settled:
        bodies += [grant(1, ALICE, "research", settled), settlement(1, ALICE, "research", settled)]
    _, _, colours = png_pixels(report_of(bodies).to_png())
    assert (SETTLED in colours) == (settled > 0)
    assert (RESERVED in colours) == (reserved > 0)
    assert (BUDGET in colours) == (budget is not None)


def test_png_of_an_empty_day_and_many_principals() -> None:
    _, height, colours = png_pixels(report_of([], 0).to_png())
    assert SETTLED not in colours and RESERVED not in colours
    assert height == 10 + 28 + 3 * (14 + 6) + 16 * 3 + 10
    many = [grant(n, f"{n:064x}", "research", n) for n in range(1, 46)]
    _, height, _ = png_pixels(report_of(many).to_png())
    assert height == 10 + 28 + 3 * (14 + 6) + 16 * (1 + 1 + 40) + 14 + 10


# ----------------------------------------------------------------------------- helpers


def test_iso_date_and_cents() -> None:
    epoch = datetime.date(1970, 1, 1)
    for day in (0, 59, 60, 365, 789, 11016, 11017, DAY, 2_932_896):
        assert iso_date(day) == (epoch + datetime.timedelta(days=day)).isoformat()
    assert iso_date(2_932_897) == "10000-01-01"
    assert iso_date(MAX_DAY) == "5881580-07-11"
    with pytest.raises(ReportError):
        iso_date(-1)
    assert [format_cents(c) for c in (0, 5, 100, 12345, -250)] == [
        "0.00",
        "0.05",
        "1.00",
        "123.45",
        "-2.50",
    ]


@given(st.integers(min_value=0, max_value=2_932_896))
def test_iso_date_matches_datetime(day: int) -> None:
    assert iso_date(day) == (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()


# ----------------------------------------------------------------------------- property

PRINCIPALS = [ALICE, BOB, CAROL, "d4" * 32]
WORKSPACES = ["research", "ops", "sales"]

leases = st.lists(
    st.tuples(
        st.sampled_from(PRINCIPALS),
        st.sampled_from(WORKSPACES),
        st.integers(min_value=0, max_value=10**6),  # reserved
        st.one_of(st.none(), st.integers(min_value=0, max_value=2 * 10**6)),  # settled, if any
        st.sampled_from([DAY - 1, DAY, DAY, None]),
        st.booleans(),  # voided
    ),
    max_size=25,
)


@given(leases)
def test_scope_sums_equal_the_org_total(
    items: list[tuple[str, str, int, int | None, int | None, bool]],
) -> None:
    bodies: list[Body] = [authority(policy(org=10**6, workspaces={"ops": 1}))]
    expected_settled = expected_reserved = 0
    for number, (principal, workspace, spend, settled, day, voided) in enumerate(items, 1):
        bodies.append(grant(number, principal, workspace, spend, day))
        if voided and settled is None:
            bodies.append({"event": "grant_void", "lease_id": lease(number), "entry_seq": 0})
        elif settled is not None and day is not None:
            bodies.append(settlement(number, principal, workspace, settled, day))
            expected_settled += settled if day == DAY else 0
        elif day == DAY:
            expected_reserved += spend
    report = report_of(bodies)
    assert report.org.settled_cents == expected_settled
    assert report.org.reserved_cents == expected_reserved
    for rows in (report.workspaces, report.principals):
        assert sum(row.settled_cents for row in rows) == report.org.settled_cents
        assert sum(row.reserved_cents for row in rows) == report.org.reserved_cents
        assert sum(row.settled_leases for row in rows) == report.org.settled_leases
        assert sum(row.open_leases for row in rows) == report.org.open_leases
