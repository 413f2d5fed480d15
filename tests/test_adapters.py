"""Each adapter against its Protocol (spec §12.2, §12.3), the real one and its fake side by side.

The expected values come from the specification, not from the code under test: the audit chain
is recomputed here with ``hashlib`` and ``json`` exactly as §12.3 defines it, the store's
durability settings are read back from SQLite itself, and the clock is compared with the
kernel's own ``CLOCK_BOOTTIME`` and boot id.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pda_lease import MonotonicTime, parse_trust_snapshot
from pda_lease.adapters import (
    AuditHead,
    AuditLog,
    BootClock,
    Clock,
    FakeClock,
    FileTrustSource,
    JsonlAuditLog,
    LeaseRecord,
    LeaseStore,
    MemoryAuditLog,
    MemoryLeaseStore,
    MemoryTrustSource,
    RevocationRecord,
    RevocationRegistry,
    SqliteLeaseStore,
    StateError,
    StateFailure,
    TrustSource,
    verify_audit_file,
)
from pda_lease.adapters.store import MIGRATIONS, SCHEMA_VERSION
from pda_lease.kernel.inputs import TrustSnapshot

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
GENESIS = hashlib.sha256(b"PDA-LEASE-AUDIT-GENESIS-v1").hexdigest()
RESERVED = ("v", "seq", "prev_hash", "entry_hash")


def canonical(value: object) -> bytes:
    """§12.3 canonical JSON, written out independently of pda_lease.adapters.jsonio."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def expected_entry_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(
        canonical({k: v for k, v in record.items() if k != "entry_hash"})
    ).hexdigest()


def rehash(record: dict[str, Any]) -> dict[str, Any]:
    """A record with its entry_hash recomputed, as a forger who knows the format would."""
    body = {k: v for k, v in record.items() if k != "entry_hash"}
    return {**body, "entry_hash": expected_entry_hash(body)}


def check_chain(lines: list[bytes]) -> list[dict[str, Any]]:
    """Assert that ``lines`` are a §12.3 log from the genesis; return the records."""
    records: list[dict[str, Any]] = []
    prev = GENESIS
    for seq, line in enumerate(lines):
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        record = json.loads(line)
        assert line == canonical(record) + b"\n", f"line {seq + 1} is not canonical"
        assert record["v"] == 1 and type(record["v"]) is int
        assert record["seq"] == seq
        assert record["prev_hash"] == prev, f"line {seq + 1} does not chain"
        assert record["entry_hash"] == expected_entry_hash(record), f"line {seq + 1} hash"
        assert type(record["event"]) is str
        prev = record["entry_hash"]
        records.append(record)
    assert records, "a log always has its log_created entry"
    assert records[0]["event"] == "log_created"
    assert records[0]["prev_hash"] == GENESIS
    assert len(records[0]["log_id"]) == 32 and int(records[0]["log_id"], 16) >= 0
    assert [r["event"] for r in records[1:]].count("log_created") == 0
    return records


def snapshot(sequence: int = 7, score: int = 8000) -> TrustSnapshot:
    parsed = parse_trust_snapshot(
        {"snapshot_version": 1, "sequence": sequence, "scores": {"files.read": score}}
    )
    assert isinstance(parsed, TrustSnapshot)
    return parsed


# =================================================================================== clock


@pytest.fixture(params=["boot", "fake"])
def clock(request: pytest.FixtureRequest) -> Clock:
    if request.param == "boot":
        if not BOOT_ID.exists():
            pytest.skip("no /proc/sys/kernel/random/boot_id on this system")
        return BootClock()
    return FakeClock("boot-1", 5)


def test_clocks_satisfy_the_protocol_and_never_go_back(clock: Clock) -> None:
    assert isinstance(clock, Clock)
    readings = [clock.now() for _ in range(50)]
    assert all(isinstance(r, MonotonicTime) for r in readings)
    assert len({r.epoch for r in readings}) == 1
    assert all(a.ns <= b.ns for a, b in itertools.pairwise(readings))


@pytest.mark.skipif(not BOOT_ID.exists(), reason="no boot id file on this system")
def test_boot_clock_reads_the_kernel_boot_id_and_boottime() -> None:
    clock = BootClock()
    assert clock.epoch == BOOT_ID.read_text(encoding="ascii").strip()
    for _ in range(20):
        before = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        reading = clock.now()
        after = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        assert reading.epoch == clock.epoch
        assert before <= reading.ns <= after


def test_boot_clock_takes_its_epoch_from_the_given_file(tmp_path: Path) -> None:
    path = tmp_path / "boot_id"
    path.write_text("0a1b2c3d-aaaa-bbbb-cccc-0123456789ab\n", encoding="ascii")
    assert BootClock(str(path)).now().epoch == "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"


@pytest.mark.parametrize(
    "content",
    [None, b"", b"\n", b"not a boot id\n", b"\xff\xfe\xfd", b"a" * 65, b"abc/def"],
    ids=["missing", "empty", "newline", "spaces", "not-ascii", "too-long", "slash"],
)
def test_boot_clock_refuses_a_missing_or_garbage_boot_id(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "boot_id"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(StateError) as caught:
        BootClock(str(path))
    assert caught.value.reason is StateFailure.CLOCK_UNAVAILABLE
    assert str(path) in caught.value.detail
    assert caught.value.deny().code == "UNAVAILABLE"
    assert caught.value.deny().reason == "CLOCK_UNAVAILABLE"


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock("boot-a", 100)
    assert clock.now() == MonotonicTime("boot-a", 100)
    assert clock.now() == MonotonicTime("boot-a", 100)
    assert clock.advance(0) == MonotonicTime("boot-a", 100)
    assert clock.advance(25) == MonotonicTime("boot-a", 125)
    assert clock.now() == MonotonicTime("boot-a", 125)


def test_fake_clock_reboot_starts_a_new_epoch_at_the_given_count() -> None:
    clock = FakeClock("boot-1", 10**12)
    assert clock.reboot() == MonotonicTime("boot-2", 0)
    assert clock.now() == MonotonicTime("boot-2", 0)
    assert clock.reboot(ns=7) == MonotonicTime("boot-3", 7)
    assert clock.reboot("custom-epoch", 3) == MonotonicTime("custom-epoch", 3)
    clock.advance(4)
    assert clock.now() == MonotonicTime("custom-epoch", 7)


@pytest.mark.parametrize("step", [-1, -(10**9), 1.0, True, "1"])
def test_fake_clock_refuses_to_go_back_or_move_by_a_non_integer(step: Any) -> None:
    clock = FakeClock("boot-1", 50)
    with pytest.raises(ValueError):
        clock.advance(step)
    assert clock.now() == MonotonicTime("boot-1", 50)


def test_fake_clock_can_be_switched_off() -> None:
    clock = FakeClock()
    clock.available = False
    with pytest.raises(StateError) as caught:
        clock.now()
    assert caught.value.reason is StateFailure.CLOCK_UNAVAILABLE
    clock.available = True
    assert clock.now() == MonotonicTime("boot-1", 0)


# =================================================================================== trust


@pytest.fixture(params=["file", "memory"])
def trust(request: pytest.FixtureRequest, tmp_path: Path) -> TrustSource:
    if request.param == "file":
        return FileTrustSource(tmp_path / "trust.json")
    return MemoryTrustSource()


def test_trust_sources_satisfy_the_protocol_and_round_trip(trust: TrustSource) -> None:
    assert isinstance(trust, TrustSource)
    with pytest.raises(StateError) as caught:
        trust.current()
    assert caught.value.reason is StateFailure.TRUST_UNAVAILABLE
    first, second = snapshot(7, 8000), snapshot(8, 2500)
    trust.publish(first)
    assert trust.current() == first
    assert trust.current().digest == first.digest
    assert dict(trust.current().scores) == {"files.read": 8000}
    trust.publish(second)
    assert trust.current() == second
    assert dict(trust.current().scores) == {"files.read": 2500}


def test_file_trust_publish_is_an_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "trust.json"
    source = FileTrustSource(path)
    source.publish(snapshot(7))
    inode = path.stat().st_ino
    source.publish(snapshot(8))
    assert path.stat().st_ino != inode, "publish must rename a new file over the old one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trust.json"], "temp file left"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_bytes()) == {
        "snapshot_version": 1,
        "sequence": 8,
        "scores": {"files.read": 8000},
    }
    # Another reader sees exactly what was published.
    assert FileTrustSource(path).current() == snapshot(8)


def test_file_trust_publish_failure_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "trust.json"
    target.mkdir()  # rename over a directory fails
    with pytest.raises(StateError) as caught:
        FileTrustSource(target).publish(snapshot())
    assert caught.value.reason is StateFailure.TRUST_UNAVAILABLE
    assert str(target) in caught.value.detail
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trust.json"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no trust snapshot"),
        (b"", "not valid JSON"),
        (b'{"snapshot_version": 1, "sequence": 7, "scores": {}', "not valid JSON"),
        (b'{"snapshot_version":1,"sequence":7,"scores":{"\xff":1}}', "not UTF-8"),
        (
            b'{"snapshot_version":1,"sequence":7,"sequence":8,"scores":{}}',
            "duplicate JSON object name 'sequence'",
        ),
        (b'{"snapshot_version":1,"sequence":7,"scores":{"a.b":NaN}}', "NaN"),
        (b'{"snapshot_version":1,"scores":{}}', "not a valid snapshot"),
        (b'{"snapshot_version":1,"sequence":7,"scores":{"files.read":1.5}}', "not a valid"),
        (b'{"snapshot_version":2,"sequence":7,"scores":{}}', "not a valid snapshot"),
        (b"[]", "not a valid snapshot"),
    ],
    ids=[
        "missing",
        "empty",
        "not-json",
        "not-utf8",
        "duplicate-key",
        "nan",
        "no-sequence",
        "float-score",
        "bad-version",
        "not-object",
    ],
)
def test_file_trust_refuses_an_unusable_file_with_a_clear_detail(
    tmp_path: Path, content: bytes | None, says: str
) -> None:
    path = tmp_path / "trust.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(StateError) as caught:
        FileTrustSource(path).current()
    assert caught.value.reason is StateFailure.TRUST_UNAVAILABLE
    assert says in caught.value.detail
    assert str(path) in caught.value.detail


def test_file_trust_cache_follows_an_external_replace(tmp_path: Path) -> None:
    path = tmp_path / "trust.json"
    reader = FileTrustSource(path)
    FileTrustSource(path).publish(snapshot(7, 8000))
    assert reader.current() == snapshot(7, 8000)
    assert reader.current() is reader.current()  # cached while the file is unchanged
    # Another process replaces the file with a document of exactly the same size.
    replacement = tmp_path / "incoming"
    document = {"snapshot_version": 1, "sequence": 8, "scores": {"files.read": 1000}}
    replacement.write_bytes(canonical(document) + b"\n")
    assert replacement.stat().st_size == path.stat().st_size
    os.replace(replacement, path)
    assert reader.current() == snapshot(8, 1000)
    # ... and then with garbage: the cached snapshot must not be served.
    replacement.write_bytes(b"{not json")
    os.replace(replacement, path)
    with pytest.raises(StateError):
        reader.current()
    path.unlink()
    with pytest.raises(StateError) as caught:
        reader.current()
    assert "no trust snapshot" in caught.value.detail


def test_file_trust_cache_is_keyed_by_content_not_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replacements whose metadata looks identical (a reused inode, the same size, times
    within one coarse clock tick) must still be told apart: metadata is frozen here."""
    path = tmp_path / "trust.json"
    reader = FileTrustSource(path)
    path.write_bytes(canonical(snapshot_document_of(7, 8000)))
    frozen = os.stat(path)
    monkeypatch.setattr(os, "fstat", lambda descriptor: frozen)
    monkeypatch.setattr(os, "stat", lambda *args, **kwargs: frozen)
    assert reader.current() == snapshot(7, 8000)
    path.write_bytes(canonical(snapshot_document_of(7, 1000)))  # same size
    assert reader.current() == snapshot(7, 1000)


def snapshot_document_of(sequence: int, score: int) -> dict[str, object]:
    return {"snapshot_version": 1, "sequence": sequence, "scores": {"files.read": score}}


def test_memory_trust_source_outage_and_validation() -> None:
    source = MemoryTrustSource({"snapshot_version": 1, "sequence": 3, "scores": {}})
    assert source.current().sequence == 3
    source.available = False
    for call in (source.current, lambda: source.publish(snapshot())):
        with pytest.raises(StateError) as caught:
            call()
        assert caught.value.reason is StateFailure.TRUST_UNAVAILABLE
    source.available = True
    assert source.current().sequence == 3  # the failed publish changed nothing
    with pytest.raises(ValueError):
        MemoryTrustSource({"snapshot_version": 1, "sequence": -1, "scores": {}})


# =================================================================================== store


def lease(
    number: int, epoch: str = "epoch-a", expires: int = 1000, audit_seq: int | None = None
) -> LeaseRecord:
    return LeaseRecord(
        lease_id=number.to_bytes(16, "big"),
        task_id=f"task-{number}",
        capability_id="files.read",
        manifest_digest=bytes([number % 256]) * 32,
        clock_epoch=epoch,
        issued_at_ns=10,
        expires_at_ns=expires,
        token=b"token-" + bytes([number % 256]) * 40,
        audit_seq=number if audit_seq is None else audit_seq,
    )


def revocation(number: int, reason: str = "compromised", audit_seq: int = 99) -> RevocationRecord:
    return RevocationRecord(
        number.to_bytes(16, "big"), reason, "explicit", "epoch-a", 500, audit_seq
    )


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LeaseStore]:
    made: LeaseStore = (
        SqliteLeaseStore(tmp_path / "leases.db")
        if request.param == "sqlite"
        else MemoryLeaseStore()
    )
    yield made
    made.close()


def test_stores_satisfy_the_protocol(store: LeaseStore) -> None:
    assert isinstance(store, LeaseStore)
    assert isinstance(store.revocations, RevocationRegistry)
    assert store.leases() == [] and store.revocations.all() == []
    assert store.audit_head() is None and store.meta("anything") is None


def test_a_transaction_commits_on_normal_exit(store: LeaseStore) -> None:
    with store.write():
        store.insert_lease(lease(1))
        store.set_meta("k", "v")
        assert store.lease(lease(1).lease_id) == lease(1)  # reads see the open transaction
    assert store.lease(lease(1).lease_id) == lease(1)
    assert store.leases() == [lease(1)]
    assert store.meta("k") == "v"


def test_a_transaction_rolls_back_on_an_exception(store: LeaseStore) -> None:
    with store.write():
        store.insert_lease(lease(1))
    with pytest.raises(KeyError), store.write():
        store.insert_lease(lease(2))
        store.revocations.add(revocation(1))
        store.record_proof(lease(1).lease_id, b"c" * 16, 5)
        store.record_trust(b"d" * 32, 7, 5)
        store.set_meta("k", "v")
        store.set_audit_head(AuditHead(3, b"h" * 32, 300))
        raise KeyError("boom")
    assert store.leases() == [lease(1)]
    assert store.revocations.lookup(lease(1).lease_id) is None
    assert not store.proof_used(lease(1).lease_id, b"c" * 16)
    assert not store.trust_recorded(b"d" * 32)
    assert store.meta("k") is None and store.audit_head() is None
    with store.write():  # the store is still usable
        store.insert_lease(lease(2))
    assert [r.lease_id for r in store.leases()] == [lease(1).lease_id, lease(2).lease_id]


def _writes(store: LeaseStore) -> list[Callable[[], object]]:
    return [
        lambda: store.insert_lease(lease(1)),
        lambda: store.revocations.add(revocation(1)),
        lambda: store.record_proof(b"\x01" * 16, b"c" * 16, 1),
        lambda: store.record_trust(b"d" * 32, 7, 1),
        lambda: store.set_meta("k", "v"),
        lambda: store.set_audit_head(AuditHead(0, b"h" * 32, 10)),
    ]


def test_every_write_outside_a_transaction_raises(store: LeaseStore) -> None:
    for write in _writes(store):
        with pytest.raises(RuntimeError, match="inside"):
            write()
    assert store.leases() == [] and store.meta("k") is None and store.audit_head() is None


def test_transactions_do_not_nest(store: LeaseStore) -> None:
    with store.write():
        store.insert_lease(lease(1))
        with pytest.raises(RuntimeError, match="nest"), store.write():
            pass  # pragma: no cover - never entered
    assert store.leases() == [lease(1)]


def test_live_leases_filters_epoch_expiry_and_revocation(store: LeaseStore) -> None:
    records = [
        lease(1, "epoch-a", 2000, audit_seq=5),  # live
        lease(2, "epoch-a", 1000),  # expires exactly now: not live
        lease(3, "epoch-a", 999),  # expired
        lease(4, "epoch-b", 5000),  # another boot
        lease(5, "epoch-a", 5000),  # revoked
        lease(6, "epoch-a", 1001, audit_seq=1),  # live, recorded first
    ]
    with store.write():
        for record in records:
            store.insert_lease(record)
        store.revocations.add(revocation(5))
    assert store.live_leases("epoch-a", 1000) == [records[5], records[0]]
    assert store.live_leases("epoch-b", 1000) == [records[3]]
    assert store.live_leases("epoch-b", 5000) == []
    assert store.live_leases("epoch-c", 0) == []
    assert store.live_leases("epoch-a", 0) == [records[5], records[1], records[2], records[0]]


def test_a_lease_is_inserted_once(store: LeaseStore) -> None:
    first = lease(1)
    other = LeaseRecord(first.lease_id, "other", "x.y", first.manifest_digest, "e", 1, 2, b"t", 9)
    with store.write():
        store.insert_lease(first)
        store.insert_lease(first)
    with store.write():
        store.insert_lease(other)  # the first grant of an id stands
    assert store.leases() == [first]


def test_revocation_add_is_idempotent(store: LeaseStore) -> None:
    with store.write():
        assert store.revocations.add(revocation(1, "first", 10)) is True
        assert store.revocations.add(revocation(1, "second", 11)) is False
    with store.write():
        assert store.revocations.add(revocation(1, "third", 12)) is False
        assert store.revocations.add(revocation(2, "other", 3)) is True
    assert store.revocations.lookup(revocation(1).lease_id) == revocation(1, "first", 10)
    assert store.revocations.lookup(b"\x00" * 16) is None
    assert store.revocations.all() == [revocation(2, "other", 3), revocation(1, "first", 10)]


def test_a_holder_proof_is_recorded_once(store: LeaseStore) -> None:
    lease_id, challenge = b"\x07" * 16, b"\x42" * 32
    assert not store.proof_used(lease_id, challenge)
    with store.write():
        store.record_proof(lease_id, challenge, 4)
    assert store.proof_used(lease_id, challenge)
    assert not store.proof_used(lease_id, b"\x43" * 32)
    assert not store.proof_used(b"\x08" * 16, challenge)
    with pytest.raises(StateError) as caught, store.write():
        store.record_proof(lease_id, challenge, 5)
    assert caught.value.reason is StateFailure.STORE_UNAVAILABLE
    assert store.proof_used(lease_id, challenge)


def test_trust_digests_are_recorded(store: LeaseStore) -> None:
    with store.write():
        store.record_trust(b"\x01" * 32, 7, 2)
        store.record_trust(b"\x01" * 32, 7, 3)
    assert store.trust_recorded(b"\x01" * 32)
    assert not store.trust_recorded(b"\x02" * 32)


def test_the_audit_head_round_trips(store: LeaseStore) -> None:
    head = AuditHead(41, hashlib.sha256(b"x").digest(), 123_456)
    with store.write():
        store.set_audit_head(AuditHead(1, b"\x00" * 32, 10))
        store.set_audit_head(head)
    assert store.audit_head() == head
    with store.write():
        store.set_meta("k", "one")
        store.set_meta("k", "two")
    assert store.meta("k") == "two"


def test_a_malformed_audit_head_is_a_store_failure(store: LeaseStore) -> None:
    with store.write():
        store.set_meta("audit_head", "not a head")
    with pytest.raises(StateError) as caught:
        store.audit_head()
    assert caught.value.reason is StateFailure.STORE_UNAVAILABLE


# ----------------------------------------------------------------------- sqlite specifics


def test_sqlite_commits_are_durable_and_seen_by_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "leases.db"
    first, second = SqliteLeaseStore(path), SqliteLeaseStore(path)
    try:
        with first.write():
            first.insert_lease(lease(1))
            first.revocations.add(revocation(1))
            assert second.lease(lease(1).lease_id) is None  # not committed yet
        assert second.lease(lease(1).lease_id) == lease(1)
        assert second.revocations.lookup(lease(1).lease_id) == revocation(1)
    finally:
        first.close()
        second.close()
    reopened = SqliteLeaseStore(path)
    try:
        assert reopened.leases() == [lease(1)]
    finally:
        reopened.close()


def test_sqlite_write_lock_is_exclusive_across_connections(tmp_path: Path) -> None:
    path = tmp_path / "leases.db"
    store = SqliteLeaseStore(path)
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        with store.write():
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            # Readers are never blocked (WAL).
            assert other.execute("SELECT count(*) FROM leases").fetchone() == (0,)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
        store.close()


def test_sqlite_uses_wal_and_synchronous_full(tmp_path: Path) -> None:
    path = tmp_path / "leases.db"
    store = SqliteLeaseStore(path)
    try:
        connection = store._connection
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA synchronous").fetchone() == (2,)  # 2 = FULL
        other = sqlite3.connect(path)
        try:  # WAL is a property of the database file: any connection sees it
            assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            other.close()
    finally:
        store.close()


def test_sqlite_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "leases.db"
    previous = os.umask(0)
    try:
        store = SqliteLeaseStore(path)
        try:
            with store.write():
                store.insert_lease(lease(1))
            assert path.stat().st_mode & 0o777 == 0o600
            wal = tmp_path / "leases.db-wal"
            assert wal.exists()
            assert wal.stat().st_mode & 0o777 == 0o600
        finally:
            store.close()
    finally:
        os.umask(previous)


def _version_1_database(path: Path) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.executescript(MIGRATIONS[0])
        connection.execute("PRAGMA user_version = 1")
        connection.execute(
            "INSERT INTO leases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (b"\x05" * 16, "task-old", "files.read", b"\x00" * 32, "epoch-a", 1, 99, b"tok", 3),
        )
    finally:
        connection.close()


def test_sqlite_migrates_an_old_database_and_keeps_its_leases(tmp_path: Path) -> None:
    path = tmp_path / "leases.db"
    _version_1_database(path)
    store = SqliteLeaseStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION
        old = store.lease(b"\x05" * 16)
        assert old == LeaseRecord(
            b"\x05" * 16, "task-old", "files.read", b"\x00" * 32, "epoch-a", 1, 99, b"tok", 3
        )
        with store.write():  # the table the migration added works
            store.record_proof(b"\x05" * 16, b"c" * 16, 4)
        assert store.proof_used(b"\x05" * 16, b"c" * 16)
    finally:
        store.close()
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        check.close()


def test_sqlite_refuses_a_database_from_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "leases.db"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StateError) as caught:
        SqliteLeaseStore(path)
    assert caught.value.reason is StateFailure.STORE_UNAVAILABLE
    assert f"schema version {SCHEMA_VERSION + 1}" in caught.value.detail
    check = sqlite3.connect(path)
    try:  # refused, not touched
        assert check.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION + 1,)
        assert check.execute("SELECT count(*) FROM sqlite_schema").fetchone() == (0,)
    finally:
        check.close()


def test_a_closed_sqlite_store_fails_closed(tmp_path: Path) -> None:
    store = SqliteLeaseStore(tmp_path / "leases.db")
    store.close()
    for call in (
        lambda: store.lease(b"\x01" * 16),
        store.leases,
        store.audit_head,
        lambda: store.revocations.lookup(b"\x01" * 16),
    ):
        with pytest.raises(StateError) as caught:
            call()
        assert caught.value.reason is StateFailure.STORE_UNAVAILABLE
    with pytest.raises(StateError), store.write():
        pass  # pragma: no cover - never entered


# ------------------------------------------------------------------------ memory specifics


def test_memory_store_outage_and_failed_commit() -> None:
    store = MemoryLeaseStore()
    store.fail_commit = True
    with pytest.raises(StateError) as caught, store.write():
        store.insert_lease(lease(1))
    assert caught.value.reason is StateFailure.STORE_UNAVAILABLE
    assert store.leases() == []
    with store.write():  # fail_commit is one-shot
        store.insert_lease(lease(1))
    assert store.leases() == [lease(1)]
    store.available = False
    for call in (store.leases, lambda: store.lease(b"\x01" * 16), store.audit_head):
        with pytest.raises(StateError):
            call()
    with pytest.raises(StateError), store.write():
        pass  # pragma: no cover - never entered


# =================================================================================== audit


class LogUnderTest:
    """An audit log and the bytes it holds, for either implementation."""

    def __init__(self, log: AuditLog, lines: Callable[[], list[bytes]]) -> None:
        self.log = log
        self.lines = lines


@pytest.fixture(params=["jsonl", "memory"])
def audit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogUnderTest]:
    if request.param == "jsonl":
        path = tmp_path / "audit.jsonl"
        jsonl = JsonlAuditLog(path)
        yield LogUnderTest(jsonl, lambda: path.read_bytes().splitlines(keepends=True))
        jsonl.close()
    else:
        memory = MemoryAuditLog()
        yield LogUnderTest(memory, lambda: list(memory.lines))


def test_audit_logs_satisfy_the_protocol_and_start_with_log_created(audit: LogUnderTest) -> None:
    assert isinstance(audit.log, AuditLog)
    with pytest.raises(RuntimeError):
        audit.log.append([{"event": "too-early"}])
    entries = audit.log.recover(None)
    assert [e.event for e in entries] == ["log_created"]
    (record,) = check_chain(audit.lines())
    assert entries[0].prev_hash.hex() == GENESIS
    assert entries[0].entry_hash.hex() == record["entry_hash"]
    assert set(record) == {"event", "log_id", "v", "seq", "prev_hash", "entry_hash"}


def test_appended_entries_form_the_specified_hash_chain(audit: LogUnderTest) -> None:
    audit.log.recover(None)
    bodies: list[dict[str, Any]] = [
        {"event": "decision", "at": {"epoch": "e", "ns": 5}, "note": "naïve ✓ 漢字"},
        {"event": "authorization", "nested": {"b": [1, 2, {"z": None, "a": True}], "a": -3}},
        {"event": "revocation", "reason": 'quote " backslash \\ newline \n tab \t'},
    ]
    returned = audit.log.append(bodies[:1])
    returned += audit.log.append(bodies[1:])
    assert audit.log.append([]) == []
    records = check_chain(audit.lines())
    assert [r["event"] for r in records] == [
        "log_created",
        "decision",
        "authorization",
        "revocation",
    ]
    for body, record in zip(bodies, records[1:], strict=True):
        assert {k: v for k, v in record.items() if k not in RESERVED} == body
    assert [e.seq for e in returned] == [1, 2, 3]
    assert [e.entry_hash.hex() for e in returned] == [r["entry_hash"] for r in records[1:]]
    assert [e.prev_hash.hex() for e in returned] == [r["prev_hash"] for r in records[1:]]
    head = audit.log.head()
    assert (head.seq, head.entry_hash.hex()) == (3, records[-1]["entry_hash"])
    assert head == returned[-1].head
    report = audit.log.verify()
    assert report.ok and report.entries == 4 and report.head == head


def test_pending_is_every_entry_after_the_committed_head(audit: LogUnderTest) -> None:
    if isinstance(audit.log, JsonlAuditLog):
        with pytest.raises(RuntimeError):
            audit.log.pending(None)
    audit.log.recover(None)
    audit.log.append([{"event": "one"}])
    committed = audit.log.head()
    audit.log.append([{"event": "two"}, {"event": "three"}])
    pending = audit.log.pending(committed)
    assert [e.event for e in pending] == ["two", "three"]
    assert [e.seq for e in pending] == [2, 3]
    assert pending[0].prev_hash == committed.entry_hash
    assert audit.log.pending(audit.log.head()) == []
    assert [e.event for e in audit.log.pending(None)] == ["log_created", "one", "two", "three"]
    assert audit.log.pending(committed) == pending  # read again, not consumed


def test_recover_refuses_a_committed_head_the_log_does_not_hold(audit: LogUnderTest) -> None:
    audit.log.recover(None)
    audit.log.append([{"event": "one"}])
    committed = audit.log.head()
    audit.log.append([{"event": "two"}, {"event": "three"}])
    assert [e.event for e in audit.log.recover(committed)] == ["two", "three"]
    forged = AuditHead(committed.seq, hashlib.sha256(b"another log").digest(), committed.offset)
    with pytest.raises(StateError) as caught:
        audit.log.recover(forged)
    assert caught.value.reason is StateFailure.AUDIT_UNAVAILABLE


def test_pending_refuses_a_committed_head_beyond_the_log(audit: LogUnderTest) -> None:
    audit.log.recover(None)
    head = audit.log.head()
    with pytest.raises(StateError) as caught:
        audit.log.pending(AuditHead(head.seq + 3, b"\x00" * 32, head.offset + 1000))
    assert caught.value.reason is StateFailure.AUDIT_UNAVAILABLE


def test_two_logs_never_share_a_chain(tmp_path: Path) -> None:
    ids: set[object] = set()
    for name in ("a.jsonl", "b.jsonl"):
        log = JsonlAuditLog(tmp_path / name)
        log.recover(None)
        log.close()
        ids.add(json.loads((tmp_path / name).read_bytes())["log_id"])
    memory = MemoryAuditLog()
    memory.recover(None)
    ids.add(memory.records()[0]["log_id"])
    assert len(ids) == 3


@pytest.mark.parametrize("member", RESERVED)
def test_reserved_members_in_a_body_are_refused(audit: LogUnderTest, member: str) -> None:
    audit.log.recover(None)
    before = audit.lines()
    with pytest.raises(StateError) as caught:
        audit.log.append([{"event": "decision", member: 1}])
    assert caught.value.reason is StateFailure.AUDIT_UNAVAILABLE
    assert member in caught.value.detail
    assert audit.lines() == before
    audit.log.append([{"event": "fine"}])  # the log is still usable
    assert len(check_chain(audit.lines())) == 2


@pytest.mark.parametrize("body", [{"no": "event"}, {"event": 5}, {"event": None}])
def test_a_body_needs_a_string_event(audit: LogUnderTest, body: dict[str, Any]) -> None:
    audit.log.recover(None)
    with pytest.raises(StateError) as caught:
        audit.log.append([body])
    assert caught.value.reason is StateFailure.AUDIT_UNAVAILABLE
    assert len(check_chain(audit.lines())) == 1


def test_a_batch_with_one_bad_body_writes_nothing(audit: LogUnderTest) -> None:
    """``append`` is all or nothing: the real log seals every line before its one write."""
    audit.log.recover(None)
    head = audit.log.head()
    with pytest.raises(StateError):
        audit.log.append([{"event": "ok"}, {"event": "bad", "seq": 1}])
    assert len(check_chain(audit.lines())) == 1
    assert audit.log.head() == head


def test_jsonl_log_file_is_owner_only(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        log = JsonlAuditLog(tmp_path / "audit.jsonl")
        log.recover(None)
        log.close()
    finally:
        os.umask(previous)
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o600


def test_memory_log_fault_switches() -> None:
    log = MemoryAuditLog()
    log.recover(None)
    log.fail_next_append = True
    with pytest.raises(StateError) as caught:
        log.append([{"event": "x"}])
    assert caught.value.reason is StateFailure.AUDIT_UNAVAILABLE
    assert len(log.lines) == 1
    log.append([{"event": "x"}])
    assert len(log.lines) == 2
    log.available = False
    calls: list[Callable[[], object]] = [
        lambda: log.append([{"event": "y"}]),
        lambda: log.pending(None),
        lambda: log.recover(None),
    ]
    for call in calls:
        with pytest.raises(StateError):
            call()
    log.available = True
    with pytest.raises(StateError):  # a committed head beyond the log: acknowledged loss
        log.recover(AuditHead(5, b"\x00" * 32, 6))
    check_chain(list(log.lines))


# ----------------------------------------------------------------- verify_audit_file


def build_log(path: Path, entries: int = 6) -> list[bytes]:
    log = JsonlAuditLog(path)
    log.recover(None)
    for index in range(entries):
        log.append([{"event": "decision", "index": index, "text": f"entry {index} — ü"}])
    log.close()
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == entries + 1
    check_chain(lines)
    return lines


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def test_verify_accepts_an_intact_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = build_log(path)
    report = verify_audit_file(path)
    last = json.loads(lines[-1])
    assert report.ok and report.entries == 7 and report.first_bad_line is None
    assert report.head == AuditHead(6, bytes.fromhex(last["entry_hash"]), path.stat().st_size)
    assert verify_audit_file(path, committed=report.head).ok


@pytest.fixture(scope="module")
def intact_log(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return build_log(tmp_path_factory.mktemp("intact") / "audit.jsonl")


@given(data=st.data())
def test_verify_names_the_line_of_any_flipped_byte(intact_log: list[bytes], data: Any) -> None:
    index = data.draw(st.integers(0, len(intact_log) - 1), label="line index")
    line = intact_log[index]
    position = data.draw(st.integers(0, len(line) - 2), label="byte")  # not the newline
    mask = data.draw(st.integers(1, 255), label="xor")
    damaged = bytearray(line)
    damaged[position] ^= mask
    lines = [*intact_log[:index], bytes(damaged), *intact_log[index + 1 :]]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "audit.jsonl"
        rewrite(path, lines)
        report = verify_audit_file(path)
    assert not report.ok
    assert report.first_bad_line == index + 1
    assert report.entries == index


@pytest.mark.parametrize("removed", [0, 2, 4])
def test_verify_names_the_place_of_a_removed_line(tmp_path: Path, removed: int) -> None:
    path = tmp_path / "audit.jsonl"
    lines = build_log(path)
    rewrite(path, lines[:removed] + lines[removed + 1 :])
    report = verify_audit_file(path)
    assert not report.ok and report.first_bad_line == removed + 1
    assert report.problem is not None and "seq" in report.problem


def test_verify_names_the_first_of_two_swapped_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = build_log(path)
    lines[3], lines[4] = lines[4], lines[3]
    rewrite(path, lines)
    report = verify_audit_file(path)
    assert not report.ok and report.first_bad_line == 4


def test_verify_names_a_truncated_tail(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = build_log(path)
    rewrite(path, [*lines[:-1], lines[-1][:-20]])
    report = verify_audit_file(path)
    assert not report.ok and report.first_bad_line == 7 and report.entries == 6
    assert report.problem is not None and "torn" in report.problem
    rewrite(path, [*lines[:-1], lines[-1][:-1]])  # only the newline is missing
    assert verify_audit_file(path).first_bad_line == 7


def test_verify_with_the_committed_head_catches_whole_lines_cut(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = build_log(path)
    committed = verify_audit_file(path).head
    assert committed is not None
    rewrite(path, lines[:-2])
    assert verify_audit_file(path).ok  # a shorter chain is a valid chain ...
    report = verify_audit_file(path, committed=committed)
    assert not report.ok and report.first_bad_line == 6  # ... but not the committed one
    assert report.problem is not None and "committed" in report.problem


@pytest.mark.parametrize("edited", [1, 3, 5])
def test_an_edit_with_a_recomputed_hash_breaks_the_chain_at_the_next_line(
    tmp_path: Path, edited: int
) -> None:
    path = tmp_path / "audit.jsonl"
    lines = build_log(path)
    record = json.loads(lines[edited])
    record["text"] = "forged"
    lines[edited] = canonical(rehash(record)) + b"\n"
    rewrite(path, lines)
    report = verify_audit_file(path)
    assert not report.ok and report.first_bad_line == edited + 2
    assert report.problem is not None and "prev_hash" in report.problem


def test_an_edited_last_line_with_a_recomputed_hash_is_caught_by_the_committed_head(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    lines = build_log(path)
    committed = verify_audit_file(path).head
    record = json.loads(lines[-1])
    record["text"] = "forged!"  # same length as before? no matter: the hash differs
    lines[-1] = canonical(rehash(record)) + b"\n"
    rewrite(path, lines)
    assert verify_audit_file(path).ok  # nothing after it to break
    report = verify_audit_file(path, committed=committed)
    assert not report.ok and report.first_bad_line == 7


def test_an_edit_without_a_new_hash_is_named_at_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = build_log(path)
    record = json.loads(lines[2])
    record["index"] = 100
    lines[2] = canonical(record) + b"\n"
    rewrite(path, lines)
    report = verify_audit_file(path)
    assert not report.ok and report.first_bad_line == 3
    assert report.problem is not None and "entry_hash" in report.problem


@pytest.mark.parametrize(
    "serialize",
    [
        lambda r: json.dumps(r, sort_keys=True).encode(),  # spaces
        lambda r: json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode(),  # order
        lambda r: json.dumps(r, sort_keys=True, separators=(",", ":")).encode(),  # \\u escapes
    ],
    ids=["whitespace", "key-order", "ascii-escapes"],
)
def test_a_non_canonical_reserialization_is_named(
    tmp_path: Path, serialize: Callable[[dict[str, Any]], bytes]
) -> None:
    path = tmp_path / "audit.jsonl"
    lines = build_log(path)
    record = json.loads(lines[4])
    record = {key: record[key] for key in reversed(sorted(record))}
    assert json.loads(serialize(record)) == json.loads(lines[4])  # the same record
    assert serialize(record) + b"\n" != lines[4]
    lines[4] = serialize(record) + b"\n"
    rewrite(path, lines)
    report = verify_audit_file(path)
    assert not report.ok and report.first_bad_line == 5
    assert report.problem is not None and "canonical" in report.problem


def test_verify_requires_log_created_first_and_reports_an_empty_or_missing_log(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    body = {"event": "decision", "v": 1, "seq": 0, "prev_hash": GENESIS}
    path.write_bytes(canonical(rehash(body)) + b"\n")
    report = verify_audit_file(path)
    assert not report.ok and report.first_bad_line == 1
    path.write_bytes(b"")
    report = verify_audit_file(path)
    assert not report.ok and report.entries == 0 and report.problem is not None
    report = verify_audit_file(tmp_path / "absent.jsonl")
    assert not report.ok and report.problem is not None and "cannot read" in report.problem


# ------------------------------------------------------------- several writers, damage


def test_two_writers_on_one_file_build_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first, second = JsonlAuditLog(path), JsonlAuditLog(path)
    try:
        first.recover(None)
        assert [e.event for e in second.recover(None)] == ["log_created"]  # caught up
        seqs: list[int] = []
        for round_ in range(5):
            for name, log in (("first", first), ("second", second)):
                entries = log.append([{"event": "step", "writer": name, "round": round_}])
                seqs += [e.seq for e in entries]
        assert seqs == list(range(1, 11))
        committed = second.head()
        assert second.pending(committed) == []
        first.append([{"event": "late", "writer": "first"}])
        # The second instance reads and verifies what the first appended after it.
        assert [e.record["writer"] for e in second.pending(committed)] == ["first"]
        assert first.head() == second.head()
    finally:
        first.close()
        second.close()
    records = check_chain(path.read_bytes().splitlines(keepends=True))
    assert [r.get("writer") for r in records[1:11]] == ["first", "second"] * 5
    report = verify_audit_file(path)
    assert report.ok and report.entries == 12


TORN = b'{"event":"decision","seq":3,"text":"\xff\xfe half-writ'


def _quarantine_checks(path: Path, quarantine: Path, torn_offset: int) -> list[dict[str, Any]]:
    records = check_chain(path.read_bytes().splitlines(keepends=True))
    assert TORN not in path.read_bytes()
    (note_line,) = quarantine.read_bytes().splitlines()
    note = json.loads(note_line)
    assert base64.b64decode(note["data_b64"]) == TORN
    assert note["offset"] == torn_offset and note["length"] == len(TORN)
    assert note["sha256"] == hashlib.sha256(TORN).hexdigest()
    (marker,) = [r for r in records if r["event"] == "torn_tail_quarantined"]
    assert marker["offset"] == torn_offset and marker["length"] == len(TORN)
    assert marker["sha256"] == hashlib.sha256(TORN).hexdigest()
    assert marker["quarantine_file"] == quarantine.name
    assert verify_audit_file(path).ok
    return records


def test_a_torn_tail_is_quarantined_on_the_next_append(tmp_path: Path) -> None:
    path, quarantine = tmp_path / "audit.jsonl", tmp_path / "audit.quarantine"
    log = JsonlAuditLog(path, quarantine)
    log.recover(None)
    log.append([{"event": "one"}, {"event": "two"}])
    size = path.stat().st_size
    with open(path, "ab") as handle:  # another process died mid-append
        handle.write(TORN)
    log.append([{"event": "three"}])
    log.close()
    records = _quarantine_checks(path, quarantine, size)
    assert [r["event"] for r in records] == [
        "log_created",
        "one",
        "two",
        "torn_tail_quarantined",
        "three",
    ]


def test_a_torn_tail_is_quarantined_at_recovery(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonlAuditLog(path)
    log.recover(None)
    log.append([{"event": "one"}])
    committed = log.head()
    log.close()
    size = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(TORN)
    reopened = JsonlAuditLog(path)
    assert reopened.quarantine_path == tmp_path / "audit.quarantine"
    reopened.recover(committed)
    reopened.close()
    records = _quarantine_checks(path, tmp_path / "audit.quarantine", size)
    assert [r["event"] for r in records] == ["log_created", "one", "torn_tail_quarantined"]


def test_recovery_returns_only_the_entries_after_the_committed_head(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonlAuditLog(path)
    log.recover(None)
    log.append([{"event": "one"}])
    committed = log.head()
    log.append([{"event": "two"}, {"event": "three"}])
    log.close()
    reopened = JsonlAuditLog(path)
    try:
        assert [e.event for e in reopened.recover(committed)] == ["two", "three"]
        assert reopened.head().seq == 3
    finally:
        reopened.close()
    forged = AuditHead(committed.seq, b"\x00" * 32, committed.offset)
    other = JsonlAuditLog(path)
    try:
        with pytest.raises(StateError) as caught:
            other.recover(forged)
        assert caught.value.reason is StateFailure.AUDIT_UNAVAILABLE
    finally:
        other.close()


def test_a_damaged_line_appended_by_someone_else_stops_the_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonlAuditLog(path)
    log.recover(None)
    log.append([{"event": "one"}])
    good = path.read_bytes()
    with open(path, "ab") as handle:
        handle.write(b'{"event":"forged","seq":2}\n')
    with pytest.raises(StateError) as caught:
        log.append([{"event": "two"}])
    assert caught.value.reason is StateFailure.AUDIT_UNAVAILABLE
    assert "line 3" in caught.value.detail
    path.write_bytes(good)  # even repaired, this instance stays stopped until reopened
    with pytest.raises(StateError):
        log.append([{"event": "two"}])
    log.close()
    assert path.read_bytes() == good


def test_a_log_that_shrinks_under_a_writer_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonlAuditLog(path)
    log.recover(None)
    log.append([{"event": "one"}])
    lines = path.read_bytes().splitlines(keepends=True)
    rewrite(path, lines[:1])
    with pytest.raises(StateError) as caught:
        log.append([{"event": "two"}])
    assert "shrank" in caught.value.detail
    log.close()
    with pytest.raises(StateError):
        log.append([{"event": "after close"}])
