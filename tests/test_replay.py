"""Audit replay (``pda_lease.replay``): every recorded decision re-run through the kernel.

The logs are produced by the real manager. The oracle for a clean log is the scenario itself
(it knows which decisions it made, of which kind); for a tampered log it is the tampering (it
knows which line it changed). Tampered entries are re-sealed (hashes recomputed from that line
on) so that the chain is intact and only the replay can catch the change; ``verify_audit_file``
confirms that for every such log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pda_lease import (
    Deny,
    Grant,
    InvalidLease,
    LeasePolicy,
    MonotonicTime,
    UsageError,
    json_digest,
    sign_holder_proof,
    sign_hrc,
)
from pda_lease.adapters import (
    FakeClock,
    MemoryAuditLog,
    MemoryLeaseStore,
    MemoryTrustSource,
    verify_audit_file,
)
from pda_lease.adapters import audit as audit_module
from pda_lease.adapters.audit import GENESIS_HASH, MAX_LINE_BYTES, RESERVED_MEMBERS, seal
from pda_lease.conformance import (
    EPOCH,
    HOLDER,
    HRC_DEVICE,
    ISSUER,
    OTHER_EPOCH,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
)
from pda_lease.manager import LeaseManager
from pda_lease.replay import ReplayReport, replay_file

POLICY_1 = LeasePolicy.from_json(base_policy())
POLICY_2 = LeasePolicy.from_json(
    dict(
        base_policy(),
        sequence=2,
        lease_duration_ns={"LOW": 200 * SECOND, "MEDIUM": 90 * SECOND, "HIGH": 30 * SECOND},
    )
)
SNAPSHOT_8 = {
    "snapshot_version": 1,
    "sequence": 8,
    "scores": {"files.read": 5000, "mail.send": 4000},
}


# ---------------------------------------------------------------------------------- helpers


def manifest(task: str = "task-1", **changes: Any) -> dict[str, Any]:
    return dict(base_manifest(), task_id=task, **changes)


def hrc_manifest(task: str) -> dict[str, Any]:
    return dict(base_manifest("MEDIUM", hrc_required=True), task_id=task)


def hrc_token(document: dict[str, Any], confirmed_ns: int) -> dict[str, object]:
    return sign_hrc(HRC_DEVICE, json_digest(document), MonotonicTime(EPOCH, confirmed_ns))


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def reseal(lines: list[bytes], index: int, change: Callable[[dict[str, Any]], None]) -> list[bytes]:
    """Apply ``change`` to entry ``index`` and re-seal it and every later entry."""
    records = [json.loads(line) for line in lines]
    change(records[index])
    out = list(lines[:index])
    prev = bytes.fromhex(records[index]["prev_hash"])
    for seq in range(index, len(records)):
        body = {k: v for k, v in records[seq].items() if k not in RESERVED_MEMBERS}
        line, sealed = seal(seq, prev, body)
        out.append(line[:-1])
        prev = bytes.fromhex(str(sealed["entry_hash"]))
    return out


def tampered(tmp_path: Path, lines: list[bytes], index: int, change: Callable[..., None]) -> Path:
    path = write_lines(tmp_path / "tampered.jsonl", reseal(lines, index, change))
    assert verify_audit_file(path).ok  # only the replay can tell
    return path


def replay(path: Path, **options: Any) -> ReplayReport:
    options.setdefault("workers", 1)
    return replay_file(path, **options)


def record(lines: list[bytes], index: int) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(lines[index])
    return result


# ---------------------------------------------------------------------------------- scenario


@attrs.frozen
class Scenario:
    path: Path
    lines: list[bytes]
    at: dict[str, int]  # label -> seq of the decision entry the label names
    kinds: dict[str, int]  # what the scenario did, counted independently of the log


def _build(state: Path) -> Scenario:
    clock = FakeClock(EPOCH, 100 * SECOND)
    trust = MemoryTrustSource(base_snapshot())
    at: dict[str, int] = {}
    kinds = {"replayed": 0, "hrc_unrecorded": 0, "float": 0, "large": 0, "clock": 0, "trust": 0}
    manager = LeaseManager.open(
        state, signer=ISSUER, policy=POLICY_1, clock=clock, trust_source=trust
    )

    def acquire(label: str, document: object, hrc: object = None, kind: str = "replayed") -> Any:
        decision = manager.acquire(document, hrc)
        at[label] = manager.audit.head().seq
        kinds[kind] += 1
        return decision

    grant = acquire("grant", manifest("task-grant"))
    assert isinstance(grant, Grant)
    denials = {
        "bad_version": manifest("d1", manifest_version=2),
        "window_closed": manifest(
            "d2", window={"epoch": EPOCH, "not_before_ns": 10 * SECOND, "not_after_ns": 50 * SECOND}
        ),
        "epoch_mismatch": manifest(
            "d3",
            window={"epoch": OTHER_EPOCH, "not_before_ns": 0, "not_after_ns": 3600 * SECOND},
        ),
        "no_score": manifest("d4", capability_id="net.fetch"),
        "below_threshold": dict(base_manifest("MEDIUM"), task_id="d5", capability_id="mail.send"),
        "hrc_missing": hrc_manifest("d6"),
    }
    for label, document in denials.items():
        assert isinstance(acquire(label, document), Deny)
    bad_sig = hrc_token(hrc_manifest("d8"), 99 * SECOND)
    bad_sig["signature"] = "00" * 64
    hrc_denials = {
        "hrc_malformed": (hrc_manifest("d7"), {"hrc_version": 1}),
        "hrc_bad_signature": (hrc_manifest("d8"), bad_sig),
        "hrc_too_old": (hrc_manifest("d9"), hrc_token(hrc_manifest("d9"), 39 * SECOND)),
    }
    for label, (document, token) in hrc_denials.items():
        denied = acquire(label, document, token)
        assert isinstance(denied, Deny) and denied.code == "HRC_REQUIRED"
    hrc_grant = acquire("hrc_grant", hrc_manifest("h1"), hrc_token(hrc_manifest("h1"), 99 * SECOND))
    assert isinstance(hrc_grant, Grant)

    # Unrecorded inputs (spec §12.3.1).
    acquire("float_manifest", manifest("u1", inputs={"ratio": 0.5}), kind="float")
    acquire("large_manifest", manifest("u2", inputs={"blob": "x" * (1 << 20)}), kind="large")
    ignored = acquire("hrc_unrecorded_grant", manifest("u3"), {"weight": 0.5})
    assert isinstance(ignored, Grant)
    malformed = acquire("hrc_unrecorded_deny", hrc_manifest("u4"), {"weight": 0.5})
    assert isinstance(malformed, Deny) and malformed.reason == "HRC_MALFORMED"
    kinds["hrc_unrecorded"] += 2

    # Authorizations and a revocation (present in the log, not decisions).
    challenge = bytes(range(16))
    proof = sign_holder_proof(HOLDER, grant.lease_id, challenge)
    claims = grant.claims
    manager.authorize(
        grant.token, proof, task_id=claims.task_id, manifest_digest=claims.manifest_digest
    )
    with pytest.raises(InvalidLease):
        manager.authorize(
            grant.token, proof, task_id=claims.task_id, manifest_digest=claims.manifest_digest
        )
    manager.revoke(grant.lease_id, "operator says no")

    # Manager-level refusals: the kernel never ran.
    trust.available = False
    assert isinstance(acquire("trust_unavailable", manifest("r1"), kind="trust"), Deny)
    trust.available = True
    clock.available = False
    assert isinstance(acquire("clock_unavailable", manifest("r2"), kind="clock"), Deny)
    clock.available = True

    # A batch, a trust change (the HRC lease decays), and the same manifest under new scores.
    clock.advance(SECOND)
    batch = manager.acquire_many([manifest(f"b{index}") for index in range(3)])
    assert all(isinstance(decision, Grant) for decision in batch)
    at["batch_last"] = manager.audit.head().seq
    kinds["replayed"] += 3
    applied = manager.apply_trust_snapshot(SNAPSHOT_8)
    assert applied.revoked == (hrc_grant.lease_id,)
    at["trust_8"] = manager.audit.head().seq - 1
    acquire("grant_after_trust", manifest("t1"))
    acquire("below_after_trust", hrc_manifest("t2"), hrc_token(hrc_manifest("t2"), 100 * SECOND))
    manager.close()

    # A policy change: reopen under another policy.
    clock.advance(SECOND)
    manager = LeaseManager.open(
        state, signer=ISSUER, policy=POLICY_2, clock=clock, trust_source=trust
    )
    at["authority_2"] = manager.audit.head().seq
    assert isinstance(acquire("grant_policy_2", manifest("p1")), Grant)
    manager.close()
    path = state / "audit.jsonl"
    return Scenario(path, read_lines(path), at, kinds)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return _build(tmp_path_factory.mktemp("state"))


# ---------------------------------------------------------------------------------- clean logs


def test_a_clean_log_replays_exactly(scenario: Scenario) -> None:
    report = replay(scenario.path)
    kinds = scenario.kinds
    assert report.ok, report.to_json()
    assert report.chain_ok and report.divergences == 0 and report.first_divergence is None
    assert report.entries == len(scenario.lines)
    assert report.bytes_verified == scenario.path.stat().st_size
    assert report.decisions_replayed == kinds["replayed"]
    assert report.decisions_hrc_unrecorded == kinds["hrc_unrecorded"]
    assert report.decisions_checked == {
        "UNRECORDED_MANIFEST/FLOAT": kinds["float"],
        "UNRECORDED_MANIFEST/TOO_LARGE": kinds["large"],
    }
    assert report.decisions_skipped == {
        "UNAVAILABLE/CLOCK_UNAVAILABLE": kinds["clock"],
        "UNAVAILABLE/TRUST_UNAVAILABLE": kinds["trust"],
    }
    assert report.decisions == sum(kinds.values()) - kinds["hrc_unrecorded"]
    assert report.events["authority"] == 2
    assert report.events["authorization"] == 2
    assert report.events["revocation"] == 2  # the explicit one and the trust decay
    assert report.events["trust_snapshot"] == 2
    assert json.loads(json.dumps(report.to_json())) == report.to_json()


def test_progress_is_reported_in_bytes_up_to_the_whole_file(scenario: Scenario) -> None:
    calls: list[tuple[int, int]] = []
    report = replay(
        scenario.path, chunk_lines=4, progress=lambda done, total: calls.append((done, total))
    )
    size = scenario.path.stat().st_size
    assert report.ok
    assert len(calls) == -(-len(scenario.lines) // 4)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert all(total == size for _, total in calls) and calls[-1][0] == size


def test_two_workers_give_the_same_report_as_one(scenario: Scenario, tmp_path: Path) -> None:
    # A divergence early, a second one later, then a chain break: chunks of 3 lines cut the
    # log in many places, and the report must not depend on where.
    lines = reseal(scenario.lines, scenario.at["bad_version"], _set_outcome("reason", "X"))
    lines = reseal(lines, scenario.at["grant_after_trust"], _set_outcome("issued_at_ns", 1))
    broken = write_lines(tmp_path / "broken.jsonl", [*lines[:-2], lines[-2] + b" ", lines[-1]])
    one = replay(broken, workers=1)
    two = replay(broken, workers=2, chunk_lines=3)
    assert one == two
    assert one.divergences == 2 and one.first_divergence is not None
    assert one.first_divergence.line == scenario.at["bad_version"] + 1
    assert not one.chain_ok and one.chain_line == len(lines) - 1
    clean_one = replay(scenario.path, workers=1)
    clean_two = replay(scenario.path, workers=2, chunk_lines=3)
    assert clean_one == clean_two and clean_two.ok


def test_decisions_may_name_an_authority_other_than_the_latest(tmp_path: Path) -> None:
    # Two processes (here two managers) share a state directory under different policies:
    # each records its authority at open, so their decisions interleave.
    clock = FakeClock(EPOCH, 100 * SECOND)
    trust = MemoryTrustSource(base_snapshot())
    first = LeaseManager.open(
        tmp_path, signer=ISSUER, policy=POLICY_1, clock=clock, trust_source=trust
    )
    second = LeaseManager.open(
        tmp_path, signer=ISSUER, policy=POLICY_2, clock=clock, trust_source=trust
    )
    assert isinstance(first.acquire(manifest("under-1")), Grant)
    assert isinstance(second.acquire(manifest("under-2")), Grant)
    first.close()
    second.close()
    records = [json.loads(line) for line in read_lines(tmp_path / "audit.jsonl")]
    authorities = [r["policy_digest"] for r in records if r["event"] == "authority"]
    assert authorities == [POLICY_1.digest.hex(), POLICY_2.digest.hex()]
    decision = next(r for r in records if r["event"] == "decision")
    assert decision["policy_digest"] == POLICY_1.digest.hex()  # not the latest authority
    report = replay(tmp_path / "audit.jsonl")
    assert report.ok and report.decisions_replayed == 2


def test_a_live_manager_appends_while_the_log_is_replayed(tmp_path: Path) -> None:
    # Replay reads the size under a shared lock and lets go: appends are not blocked, and
    # what they add after the start is not part of the replay.
    clock = FakeClock(EPOCH, 100 * SECOND)
    trust = MemoryTrustSource(base_snapshot())
    with LeaseManager.open(
        tmp_path, signer=ISSUER, policy=POLICY_1, clock=clock, trust_source=trust
    ) as manager:
        manager.acquire_many([manifest(f"before-{index}") for index in range(6)])
        log = tmp_path / "audit.jsonl"
        size = log.stat().st_size
        appended: list[int] = []

        def append_during_replay(done: int, total: int) -> None:
            manager.acquire(manifest(f"during-{done}"))
            appended.append(log.stat().st_size)

        report = replay(log, chunk_lines=2, progress=append_during_replay)
    assert report.ok and report.decisions_replayed == 6 and report.bytes_verified == size
    assert len(appended) == 5 and appended[-1] > size
    assert replay(log).decisions_replayed == 6 + 5


def test_verify_audit_file_does_not_block_appends_while_it_reads(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The contrast with replay_file, which reads the size under the lock and lets go.
    blocked: list[bool] = []
    original = audit_module.check_line

    def probing(line: bytes, seq: int, prev: bytes, offset: int) -> Any:
        if not blocked:
            descriptor = os.open(scenario.path, os.O_RDONLY)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                blocked.append(False)
            except BlockingIOError:
                blocked.append(True)
            finally:
                os.close(descriptor)
        return original(line, seq, prev, offset)

    monkeypatch.setattr(audit_module, "check_line", probing)
    assert verify_audit_file(scenario.path).ok
    assert blocked == [False]


# ---------------------------------------------------------------------------------- tampering


def _set_outcome(name: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(entry: dict[str, Any]) -> None:
        entry["outcome"][name] = value

    return change


def _flip_token(position: int) -> Callable[[dict[str, Any]], None]:
    def change(entry: dict[str, Any]) -> None:
        token = bytearray(bytes.fromhex(entry["outcome"]["token"]))
        token[position] ^= 0x01
        entry["outcome"]["token"] = token.hex()

    return change


def _set_manifest(name: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(entry: dict[str, Any]) -> None:
        entry["manifest"]["json"][name] = value

    return change


def _set(name: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(entry: dict[str, Any]) -> None:
        entry[name] = value

    return change


def _later_at(entry: dict[str, Any]) -> None:
    entry["at"]["ns"] += 1


def _trust_digest_of(scenario: Scenario, label: str) -> str:
    return str(record(scenario.lines, scenario.at[label])["trust_digest"])


TAMPERINGS: dict[str, tuple[str, Callable[[Scenario], Callable[[dict[str, Any]], None]], str]] = {
    # name: (label of the entry changed, change, what the divergence says)
    "token payload byte": ("grant", lambda s: _flip_token(100), "outcome"),
    "token signature byte": ("grant", lambda s: _flip_token(-1), "outcome"),
    "hrc grant token": ("hrc_grant", lambda s: _flip_token(-40), "outcome"),
    "lease id": ("grant", lambda s: _set_outcome("lease_id", "00" * 16), "outcome"),
    "expiry": ("grant_policy_2", lambda s: _set_outcome("expires_at_ns", 1), "outcome"),
    "manifest value": ("grant", lambda s: _set_manifest("task_id", "task-other"), "outcome"),
    "manifest value of a deny": (
        "no_score",
        lambda s: _set_manifest("capability_id", "files.read"),
        "outcome",
    ),
    "trust digest swapped": (
        "grant",
        lambda s: _set("trust_digest", _trust_digest_of(s, "grant_after_trust")),
        "trust",  # that snapshot is recorded only later in the log
    ),
    "trust digest swapped back": (
        "grant_after_trust",
        lambda s: _set("trust_digest", _trust_digest_of(s, "grant")),
        "outcome",
    ),
    "clock reading": ("grant", lambda s: _later_at, "outcome"),
    "clock reading of a deny": ("window_closed", lambda s: _set("at", None), "entry"),
    "deny reason": ("no_score", lambda s: _set_outcome("reason", "BELOW_THRESHOLD"), "outcome"),
    "deny field": ("bad_version", lambda s: _set_outcome("field", "task_id"), "outcome"),
    "deny turned grant": ("hrc_missing", lambda s: _set_outcome("decision", "GRANT"), "outcome"),
    "policy digest": (
        "grant",
        lambda s: _set("policy_digest", POLICY_2.digest.hex()),  # recorded only later
        "authority",
    ),
    "hrc token of a grant": ("hrc_grant", lambda s: _set("hrc_token", None), "outcome"),
    "unrecorded manifest granted": (
        "float_manifest",
        lambda s: _set("outcome", record(s.lines, s.at["grant"])["outcome"]),
        "unrecorded",
    ),
    "unrecorded hrc token made required": (
        "hrc_unrecorded_grant",
        lambda s: _set_manifest(
            "constraints", dict(base_manifest()["constraints"], hrc_required=True)
        ),
        "unrecorded",
    ),
    "unrecorded hrc token deny reason": (
        "hrc_unrecorded_deny",
        lambda s: _set_outcome("reason", "HRC_BAD_SIGNATURE"),
        "unrecorded",
    ),
    "refusal given a trust digest": (
        "trust_unavailable",
        lambda s: _set("trust_digest", _trust_digest_of(s, "grant")),
        "outcome",
    ),
    "refusal reason": (
        "clock_unavailable",
        lambda s: _set_outcome("reason", "STORE_UNAVAILABLE"),
        "entry",
    ),
    "manifest no longer a recorded input": (
        "grant",
        lambda s: _set("manifest", {"json": {}, "extra": 1}),
        "entry",
    ),
}


@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_every_tampering_is_caught_at_its_line(
    scenario: Scenario, tmp_path: Path, name: str
) -> None:
    label, make, what = TAMPERINGS[name]
    index = scenario.at[label]
    path = tampered(tmp_path, scenario.lines, index, make(scenario))
    report = replay(path)
    assert not report.ok and report.chain_ok
    assert report.divergences == 1
    divergence = report.first_divergence
    assert divergence is not None
    assert (divergence.seq, divergence.line, divergence.what) == (index, index + 1, what), (
        divergence
    )
    if what in {"outcome", "unrecorded"}:
        assert divergence.expected == record(read_lines(path), index)["outcome"]
        assert divergence.actual != divergence.expected


def test_a_changed_token_shows_both_tokens(scenario: Scenario, tmp_path: Path) -> None:
    index = scenario.at["grant"]
    original = record(scenario.lines, index)["outcome"]
    report = replay(tampered(tmp_path, scenario.lines, index, _flip_token(100)))
    divergence = report.first_divergence
    assert divergence is not None and isinstance(divergence.expected, dict)
    assert divergence.detail == "outcome differs in token"
    assert divergence.actual == original  # the replay recomputes the token the issuer signed
    assert divergence.expected["token"] != original["token"]


def test_a_forged_signature_is_not_reproduced(scenario: Scenario, tmp_path: Path) -> None:
    # The replayer never signs: a signature that does not verify becomes 64 zero bytes.
    index = scenario.at["grant"]
    report = replay(tampered(tmp_path, scenario.lines, index, _flip_token(-1)))
    divergence = report.first_divergence
    assert divergence is not None and isinstance(divergence.actual, dict)
    assert str(divergence.actual["token"]).endswith("00" * 64)


def test_an_invalid_authority_entry_is_named(scenario: Scenario, tmp_path: Path) -> None:
    index = scenario.at["authority_2"]
    path = tampered(tmp_path, scenario.lines, index, _set("policy_digest", "00" * 32))
    report = replay(path)
    assert report.divergences == 2  # the authority entry, then the decision that needs it
    divergence = report.first_divergence
    assert divergence is not None and (divergence.line, divergence.what) == (index + 1, "entry")
    assert "policy_digest" in divergence.detail


def test_an_invalid_trust_snapshot_entry_is_named(scenario: Scenario, tmp_path: Path) -> None:
    index = scenario.at["trust_8"]
    entry = record(scenario.lines, index)
    assert entry["event"] == "trust_snapshot"

    def change(found: dict[str, Any]) -> None:
        found["snapshot"]["scores"]["files.read"] = 9999

    report = replay(tampered(tmp_path, scenario.lines, index, change))
    divergence = report.first_divergence
    assert divergence is not None and (divergence.line, divergence.what) == (index + 1, "entry")
    assert report.divergences == 1 + 3  # the entry and the three decisions that name its digest


# ---------------------------------------------------------------------------------- chain


def test_a_raw_one_byte_edit_is_a_chain_problem(scenario: Scenario, tmp_path: Path) -> None:
    index = scenario.at["no_score"]
    lines = list(scenario.lines)
    lines[index] = lines[index].replace(b"NO_SCORE", b"NO_SCORF")
    path = write_lines(tmp_path / "edited.jsonl", lines)
    report = replay(path, workers=2, chunk_lines=5)
    verified = verify_audit_file(path)
    assert not report.ok and not report.chain_ok and report.first_divergence is None
    assert (report.chain_line, report.chain_problem) == (index + 1, verified.problem)
    assert verified.first_bad_line == index + 1
    assert report.entries == index
    assert report.bytes_verified == sum(len(line) + 1 for line in lines[:index])


@pytest.mark.parametrize(
    ("name", "expected_line", "problem"),
    [
        ("torn", -1, "incomplete last line (torn write)"),
        ("dropped", 5, "seq is 5, expected 4"),
        ("swapped", 5, "seq is 5, expected 4"),
        ("spliced", 6, "prev_hash does not match the previous entry (chain broken)"),
        ("not_first", 1, "seq is 1, expected 0"),
        ("empty", None, "the log is empty (no 'log_created' entry)"),
        ("not_json", 3, "not a JSON record"),
    ],
)
def test_chain_problems_match_verify(
    scenario: Scenario, tmp_path: Path, name: str, expected_line: int | None, problem: str
) -> None:
    lines = list(scenario.lines)
    data = b"".join(line + b"\n" for line in lines)
    if name == "torn":
        data += lines[3][:40]
        expected_line = len(lines) + 1
    elif name == "dropped":
        data = b"".join(line + b"\n" for line in lines[:4] + lines[5:])
    elif name == "swapped":
        data = b"".join(line + b"\n" for line in [*lines[:4], lines[5], lines[4], *lines[6:]])
    elif name == "spliced":  # line 5 from another chain: line 6 no longer follows it
        other = reseal(lines, 4, _set("spliced", True))
        data = b"".join(line + b"\n" for line in [*lines[:4], other[4], *lines[5:]])
    elif name == "not_first":
        data = b"".join(line + b"\n" for line in lines[1:])
    elif name == "empty":
        data = b""
    elif name == "not_json":
        data = b"".join(line + b"\n" for line in [*lines[:2], b"{", *lines[3:]])
    path = tmp_path / "log.jsonl"
    path.write_bytes(data)
    report = replay(path)
    verified = verify_audit_file(path)
    assert not report.ok and not report.chain_ok
    assert report.chain_line == expected_line
    assert report.chain_problem is not None and report.chain_problem.startswith(problem)
    assert verified.problem is not None and verified.problem.startswith(problem)
    assert verified.first_bad_line == expected_line


def test_the_first_entry_must_be_log_created(tmp_path: Path) -> None:
    line, _ = seal(0, GENESIS_HASH, {"event": "authority"})
    report = replay(write_lines(tmp_path / "log.jsonl", [line[:-1]]))
    assert (report.chain_line, report.chain_problem) == (1, "the first entry is not 'log_created'")


def test_an_overlong_line_and_a_missing_file_are_reports(
    scenario: Scenario, tmp_path: Path
) -> None:
    path = tmp_path / "long.jsonl"
    path.write_bytes(
        scenario.lines[0] + b"\n" + b"x" * (MAX_LINE_BYTES + 1) + b"\n" + scenario.lines[1]
    )
    report = replay(path)
    assert (report.chain_line, report.entries) == (2, 1)
    assert report.chain_problem == f"line is longer than {MAX_LINE_BYTES} bytes"
    missing = replay(tmp_path / "nothing.jsonl")
    assert not missing.ok and missing.chain_line is None and missing.entries == 0
    assert missing.chain_problem is not None and missing.chain_problem.startswith("cannot read")


def test_bad_arguments_are_usage_errors(scenario: Scenario) -> None:
    for options in ({"workers": 0}, {"workers": True}, {"chunk_lines": 0}):
        with pytest.raises(UsageError):
            replay_file(scenario.path, **options)


# ---------------------------------------------------------------------------------- property


@attrs.define
class _World:
    clock: FakeClock
    trust: MemoryTrustSource
    store: MemoryLeaseStore
    audit: MemoryAuditLog
    manager: LeaseManager
    grants: list[Grant]
    sequence: int = 7
    replayed: int = 0
    checked: int = 0
    skipped: int = 0

    def reopen(self, policy: LeasePolicy) -> None:
        self.manager.close()
        self.manager = LeaseManager(
            signer=ISSUER,
            policy=policy,
            clock=self.clock,
            trust_source=self.trust,
            store=self.store,
            audit=self.audit,
        )


KINDS = ["grant", "bad_version", "no_score", "hrc_missing", "hrc_grant", "float", "hrc_float"]
OPERATIONS = st.one_of(
    st.tuples(st.just("acquire"), st.sampled_from(KINDS)),
    st.tuples(st.just("batch"), st.integers(1, 3)),
    st.tuples(st.just("advance"), st.integers(0, 400)),
    st.tuples(st.just("refuse"), st.sampled_from(["clock", "trust"])),
    st.tuples(st.just("apply"), st.integers(0, 10_000)),
    st.tuples(st.just("revoke"), st.integers(0, 5)),
    st.tuples(st.just("authorize"), st.integers(0, 5)),
    st.tuples(st.just("reopen"), st.sampled_from([POLICY_1, POLICY_2])),
    st.tuples(st.just("fail_commit"), st.just(0)),
)


def _acquire(world: _World, kind: str, task: str) -> None:
    now = world.clock.now().ns
    documents: dict[str, tuple[object, object]] = {
        "grant": (manifest(task), None),
        "bad_version": (manifest(task, manifest_version=2), None),
        "no_score": (manifest(task, capability_id="net.fetch"), None),
        "hrc_missing": (hrc_manifest(task), None),
        "hrc_grant": (hrc_manifest(task), hrc_token(hrc_manifest(task), now)),
        "float": (manifest(task, inputs={"x": 1.5}), None),
        "hrc_float": (hrc_manifest(task), {"x": 1.5}),
    }
    document, hrc = documents[kind]
    decision = world.manager.acquire(document, hrc)
    if isinstance(decision, Grant):
        world.grants.append(decision)
    if kind == "float":
        world.checked += 1
    else:
        world.replayed += 1


def _run(world: _World, operation: tuple[str, Any], step: int) -> None:
    name, value = operation
    if name == "acquire":
        _acquire(world, value, f"op-{step}")
    elif name == "batch":
        decisions = world.manager.acquire_many([manifest(f"op-{step}-{i}") for i in range(value)])
        world.grants.extend(d for d in decisions if isinstance(d, Grant))
        world.replayed += value
    elif name == "advance":
        world.clock.advance(value * SECOND)
    elif name == "refuse":
        source = world.clock if value == "clock" else world.trust
        source.available = False
        world.manager.acquire(manifest(f"op-{step}"))
        source.available = True
        world.skipped += 1
    elif name == "apply":
        world.sequence += 1
        scores = {"files.read": value, "mail.send": 4000}
        world.manager.apply_trust_snapshot(
            {"snapshot_version": 1, "sequence": world.sequence, "scores": scores}
        )
    elif name == "revoke" and world.grants:
        world.manager.revoke(world.grants[value % len(world.grants)].lease_id, "property test")
    elif name == "authorize" and world.grants:
        grant = world.grants[value % len(world.grants)]
        proof = sign_holder_proof(HOLDER, grant.lease_id, step.to_bytes(16, "big"))
        with contextlib.suppress(InvalidLease):
            world.manager.authorize(
                grant.token,
                proof,
                task_id=grant.claims.task_id,
                manifest_digest=grant.claims.manifest_digest,
            )
    elif name == "reopen":
        world.reopen(value)
    elif name == "fail_commit":
        world.store.fail_commit = True
        assert isinstance(world.manager.acquire(manifest(f"op-{step}")), Deny)
        world.replayed += 1  # recorded as the kernel decided it, then voided


def _mutate(entry: dict[str, Any]) -> None:
    outcome = entry["outcome"]
    if outcome["decision"] == "GRANT":
        outcome["expires_at_ns"] += 1
    else:
        outcome["code"] = (
            "LEASE_EXPIRED" if outcome["code"] == "INVALID_MANIFEST" else "INVALID_MANIFEST"
        )


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=st.lists(OPERATIONS, max_size=12), data=st.data())
def test_random_manager_histories_replay_and_any_changed_outcome_is_found(
    tmp_path: Path, operations: list[tuple[str, Any]], data: st.DataObject
) -> None:
    clock = FakeClock(EPOCH, 100 * SECOND)
    trust = MemoryTrustSource(base_snapshot())
    store, audit = MemoryLeaseStore(), MemoryAuditLog()
    manager = LeaseManager(
        signer=ISSUER, policy=POLICY_1, clock=clock, trust_source=trust, store=store, audit=audit
    )
    world = _World(clock, trust, store, audit, manager, [])
    for step, operation in enumerate(operations):
        _run(world, operation, step)
    world.manager.close()
    lines = [line[:-1] for line in audit.lines]
    path = write_lines(tmp_path / "property.jsonl", lines)
    report = replay(path)
    assert report.ok, report.to_json()
    assert report.entries == len(lines)
    assert report.decisions_replayed == world.replayed
    assert sum(report.decisions_checked.values()) == world.checked
    assert sum(report.decisions_skipped.values()) == world.skipped
    decisions = [i for i, line in enumerate(lines) if json.loads(line)["event"] == "decision"]
    if decisions:
        index = data.draw(st.sampled_from(decisions))
        changed = replay(tampered(tmp_path, lines, index, _mutate))
        assert changed.first_divergence is not None and changed.first_divergence.line == index + 1


# ---------------------------------------------------------------------------------- scale

GENERATOR = r"""
import sys
from pathlib import Path
from pda_lease import LeasePolicy
from pda_lease.adapters import FakeClock, MemoryTrustSource
from pda_lease.conformance import EPOCH, ISSUER, SECOND, base_manifest, base_policy, base_snapshot
from pda_lease.manager import LeaseManager

state, part, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
clock = FakeClock(EPOCH, 100 * SECOND)
manager = LeaseManager.open(
    state, signer=ISSUER, policy=LeasePolicy.from_json(base_policy()), clock=clock,
    trust_source=MemoryTrustSource(base_snapshot()),
)
template = base_manifest()
done = 0
while done < count:
    size = min(1000, count - done)
    batch = [dict(template, task_id=f"{part}-{done + i}") for i in range(size)]
    for i in range(0, size, 10):  # one decision in ten is a DENY
        batch[i] = dict(batch[i], manifest_version=2)
    manager.acquire_many(batch)
    clock.advance(1)
    done += size
manager.close()
"""

REPLAYER = r"""
import json, resource, sys, time
from pda_lease.replay import replay_file

started = time.perf_counter()
ticks = []
report = replay_file(sys.argv[1], progress=lambda done, total: ticks.append(done))
elapsed = time.perf_counter() - started
print(json.dumps({
    "report": report.to_json(),
    "seconds": elapsed,
    "progress_calls": len(ticks),
    "parent_max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "worker_max_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
"""


@pytest.mark.skipif(
    os.environ.get("PDA_LEASE_REPLAY_SCALE") != "1",
    reason="scale run: set PDA_LEASE_REPLAY_SCALE=1 (and PDA_LEASE_REPLAY_SCALE_N, default 100000)",
)
def test_replay_scales_with_bounded_memory(tmp_path: Path) -> None:
    total = int(os.environ.get("PDA_LEASE_REPLAY_SCALE_N", "100000"))
    state = tmp_path / "state"
    started = time.perf_counter()
    LeaseManager.open(
        state,
        signer=ISSUER,
        policy=POLICY_1,
        clock=FakeClock(EPOCH, 100 * SECOND),
        trust_source=MemoryTrustSource(base_snapshot()),
    ).close()
    # Two writer processes sharing the state directory (as the manager allows) halve the time.
    writers = [
        subprocess.Popen([sys.executable, "-c", GENERATOR, str(state), part, str(count)])
        for part, count in (("a", total // 2), ("b", total - total // 2))
    ]
    assert all(writer.wait() == 0 for writer in writers)
    generated = time.perf_counter() - started
    log = state / "audit.jsonl"
    run = subprocess.run(
        [sys.executable, "-c", REPLAYER, str(log)], capture_output=True, check=True, text=True
    )
    result = json.loads(run.stdout)
    report = result["report"]
    figures = {
        "decisions": report["decisions"],
        "log_bytes": log.stat().st_size,
        "generate_seconds": round(generated, 1),
        "replay_seconds": round(result["seconds"], 1),
        "decisions_per_second": round(report["decisions"] / result["seconds"]),
        "parent_max_rss_mib": round(result["parent_max_rss_kib"] / 1024, 1),
        "worker_max_rss_mib": round(result["worker_max_rss_kib"] / 1024, 1),
        "progress_calls": result["progress_calls"],
    }
    print("\nreplay scale:", json.dumps(figures))
    assert report["ok"], report
    assert report["decisions"] == total and report["decisions_replayed"] == total
    assert figures["parent_max_rss_mib"] < 256 and figures["worker_max_rss_mib"] < 256
