"""The lease store and revocation registry: what the manager granted, revoked and has seen.

``SqliteLeaseStore`` keeps one SQLite database (stdlib ``sqlite3``) in WAL mode with
``synchronous=FULL``, so a committed transaction survives a crash or power loss, and several
processes can share it: every write runs in a ``BEGIN IMMEDIATE`` transaction (one writer at a
time across processes, readers never blocked), and every read outside a transaction sees the
latest commit, which is what makes a revocation in one process visible to the very next
authorization in another.

The schema is versioned with ``PRAGMA user_version`` and upgraded by the ordered ``MIGRATIONS``
when a state directory is opened; a database from a newer pda-lease is refused, never guessed
at. The store also keeps the *audit head* (sequence number, hash and byte offset of the last
audit entry whose transaction committed): the manager writes an audit entry and then commits the
store transaction that references it, so on reopen the entries after the head are exactly the
ones whose effect is in doubt (spec §12.4).

The store also holds the governed manager's **approvals queue** (spec §13.11): the review
requests the manager opened (one per manifest digest that needed approvals it did not have) and
the reviewers' signed approval documents submitted for them.

``MemoryLeaseStore`` is the in-memory fake with the same transaction semantics.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from pda_lease.adapters.errors import StateError, StateFailure

SCHEMA_VERSION = 4
BUSY_TIMEOUT_MS = 30_000

# Migration N (index N-1) takes a database from user_version N-1 to N. Each runs in the same
# transaction as its user_version bump, so a crash mid-migration leaves the old version intact.
MIGRATIONS: tuple[str, ...] = (
    # 1: leases, revocations, recorded trust snapshots, manager metadata.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
    CREATE TABLE leases (
        lease_id BLOB PRIMARY KEY CHECK (length(lease_id) = 16),
        task_id TEXT NOT NULL,
        capability_id TEXT NOT NULL,
        manifest_digest BLOB NOT NULL,
        clock_epoch TEXT NOT NULL,
        issued_at_ns INTEGER NOT NULL,
        expires_at_ns INTEGER NOT NULL,
        token BLOB NOT NULL,
        audit_seq INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX leases_by_expiry ON leases (clock_epoch, expires_at_ns);
    CREATE TABLE revocations (
        lease_id BLOB PRIMARY KEY CHECK (length(lease_id) = 16),
        reason TEXT NOT NULL,
        cause TEXT NOT NULL,
        revoked_epoch TEXT NOT NULL,
        revoked_ns INTEGER NOT NULL,
        audit_seq INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE trust_snapshots (
        digest BLOB PRIMARY KEY,
        sequence INTEGER NOT NULL,
        audit_seq INTEGER NOT NULL
    ) STRICT;
    """,
    # 2: holder proofs already accepted, so that a proof cannot be replayed (spec §12.5).
    """
    CREATE TABLE holder_proofs (
        lease_id BLOB NOT NULL,
        challenge BLOB NOT NULL,
        audit_seq INTEGER NOT NULL,
        PRIMARY KEY (lease_id, challenge)
    ) STRICT, WITHOUT ROWID;
    """,
    # 3: the approvals queue of a governed manager (spec §13.11): review requests by manifest
    # digest, and the reviewers' approval documents (canonical JSON) submitted for them.
    """
    CREATE TABLE reviews (
        manifest_digest BLOB PRIMARY KEY CHECK (length(manifest_digest) = 32),
        task_id TEXT NOT NULL,
        capability_id TEXT NOT NULL,
        principal BLOB NOT NULL CHECK (length(principal) = 32),
        rule TEXT NOT NULL,
        requested_epoch TEXT NOT NULL,
        requested_ns INTEGER NOT NULL,
        audit_seq INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE approvals (
        manifest_digest BLOB NOT NULL CHECK (length(manifest_digest) = 32),
        reviewer BLOB NOT NULL CHECK (length(reviewer) = 32),
        verdict TEXT NOT NULL CHECK (verdict IN ('APPROVE', 'DENY')),
        document TEXT NOT NULL,
        audit_seq INTEGER NOT NULL,
        PRIMARY KEY (manifest_digest, document)
    ) STRICT, WITHOUT ROWID;
    """,
    # 4: pools (spec §14.6): one reservation per pooled grant and its settlement, the governed
    # denials the safety rules count, releases, and sub-leases with their calls used.
    """
    CREATE TABLE reservations (
        lease_id BLOB PRIMARY KEY CHECK (length(lease_id) = 16),
        principal BLOB NOT NULL CHECK (length(principal) = 32),
        workspace TEXT NOT NULL,
        clock_epoch TEXT NOT NULL,
        granted_at_ns INTEGER NOT NULL,
        expires_at_ns INTEGER NOT NULL,
        day INTEGER NOT NULL,
        units INTEGER NOT NULL,
        context_tokens INTEGER NOT NULL,
        compute INTEGER NOT NULL,
        spend_cents INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'released', 'expired', 'revoked')),
        settled_units INTEGER,
        settled_cents INTEGER,
        audit_seq INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX reservations_by_state ON reservations (state, clock_epoch, expires_at_ns);
    CREATE INDEX reservations_by_grant ON reservations (clock_epoch, granted_at_ns);
    CREATE INDEX reservations_by_day ON reservations (day);
    CREATE TABLE denials (
        audit_seq INTEGER PRIMARY KEY,
        principal BLOB NOT NULL CHECK (length(principal) = 32),
        workspace TEXT NOT NULL,
        clock_epoch TEXT NOT NULL,
        at_ns INTEGER NOT NULL,
        code TEXT NOT NULL
    ) STRICT;
    CREATE INDEX denials_by_time ON denials (clock_epoch, at_ns);
    CREATE TABLE releases (
        lease_id BLOB PRIMARY KEY CHECK (length(lease_id) = 16),
        released_epoch TEXT NOT NULL,
        released_ns INTEGER NOT NULL,
        units INTEGER NOT NULL,
        spend_cents INTEGER NOT NULL,
        audit_seq INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE sub_leases (
        lease_id BLOB PRIMARY KEY CHECK (length(lease_id) = 16),
        parent_id BLOB NOT NULL CHECK (length(parent_id) = 16),
        tool TEXT NOT NULL,
        calls INTEGER NOT NULL,
        used INTEGER NOT NULL,
        audit_seq INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX sub_leases_by_parent ON sub_leases (parent_id);
    """,
)


@attrs.frozen
class AuditHead:
    """The last audit entry whose store transaction committed: seq, hash, end offset."""

    seq: int
    entry_hash: bytes
    offset: int


@attrs.frozen
class LeaseRecord:
    """A durably granted lease."""

    lease_id: bytes
    task_id: str
    capability_id: str
    manifest_digest: bytes
    clock_epoch: str
    issued_at_ns: int
    expires_at_ns: int
    token: bytes = attrs.field(repr=False)
    audit_seq: int


@attrs.frozen
class RevocationRecord:
    """A durable revocation. ``cause`` is ``explicit``, ``trust_decay`` or ``recovered``."""

    lease_id: bytes
    reason: str
    cause: str
    revoked_epoch: str
    revoked_ns: int
    audit_seq: int


@attrs.frozen
class ReviewRecord:
    """A review request of the approvals queue: a manifest digest that needs approvals.

    ``rule`` is the unmet review rule of the ``APPROVALS_INSUFFICIENT`` denial that opened it
    (its field, e.g. ``categories.network``); ``principal`` is the requesting principal's key;
    ``requested_*`` is the clock reading of that decision; ``audit_seq`` its ``review_requested``
    entry.
    """

    manifest_digest: bytes
    task_id: str
    capability_id: str
    principal: bytes
    rule: str
    requested_epoch: str
    requested_ns: int
    audit_seq: int


@attrs.frozen
class ApprovalRecord:
    """A reviewer's approval document (spec §13.5) submitted to the queue, verified then.

    ``document`` is the approval as canonical JSON; ``audit_seq`` its ``approval`` entry.
    """

    manifest_digest: bytes
    reviewer: bytes
    verdict: str
    document: str
    audit_seq: int


OPEN, RELEASED, EXPIRED, REVOKED = "open", "released", "expired", "revoked"


@attrs.frozen
class ReservationRecord:
    """What a pooled grant reserved (spec §14.6) and, once closed, what was settled."""

    lease_id: bytes
    principal: bytes
    workspace: str
    clock_epoch: str
    granted_at_ns: int
    expires_at_ns: int
    day: int
    units: int
    context_tokens: int
    compute: int
    spend_cents: int
    state: str
    settled_units: int | None
    settled_cents: int | None
    audit_seq: int


@attrs.frozen
class DenialRecord:
    """A governed DENY of an authenticated request, counted by the safety rules (§14.6)."""

    audit_seq: int
    principal: bytes
    workspace: str
    clock_epoch: str
    at_ns: int
    code: str


@attrs.frozen
class ReleaseRecord:
    """A released lease (§14.7) and the usage it was settled at."""

    lease_id: bytes
    released_epoch: str
    released_ns: int
    units: int
    spend_cents: int
    audit_seq: int


@attrs.frozen
class SubLeaseRecord:
    """A sub-lease (§14.8): its parent, tool, calls granted and calls used."""

    lease_id: bytes
    parent_id: bytes
    tool: str
    calls: int
    used: int
    audit_seq: int


@runtime_checkable
class RevocationRegistry(Protocol):
    """Revocations by lease id. ``add`` runs inside its store's write transaction."""

    def lookup(self, lease_id: bytes) -> RevocationRecord | None: ...

    def add(self, record: RevocationRecord) -> bool: ...

    def all(self) -> list[RevocationRecord]: ...


@runtime_checkable
class LeaseStore(Protocol):
    """Durable leases, revocations, accepted holder proofs, trust digests, the approvals
    queue (review requests and approval documents, spec §13.11) and metadata.

    Writes happen only inside ``with store.write():``, which is exclusive across every process
    sharing the store and commits durably on a normal exit (rolls back on an exception). Every
    failure is a ``StateError(STORE_UNAVAILABLE)``.
    """

    @property
    def revocations(self) -> RevocationRegistry: ...

    def write(self) -> contextlib.AbstractContextManager[None]: ...

    def lease(self, lease_id: bytes) -> LeaseRecord | None: ...

    def leases(self) -> list[LeaseRecord]: ...

    def live_leases(self, clock_epoch: str, now_ns: int) -> list[LeaseRecord]: ...

    def insert_lease(self, record: LeaseRecord) -> None: ...

    def proof_used(self, lease_id: bytes, challenge: bytes) -> bool: ...

    def record_proof(self, lease_id: bytes, challenge: bytes, audit_seq: int) -> None: ...

    def trust_recorded(self, digest: bytes) -> bool: ...

    def record_trust(self, digest: bytes, sequence: int, audit_seq: int) -> None: ...

    def review(self, manifest_digest: bytes) -> ReviewRecord | None: ...

    def reviews(self) -> list[ReviewRecord]: ...

    def add_review(self, record: ReviewRecord) -> bool: ...

    def approvals(self, manifest_digest: bytes) -> list[ApprovalRecord]: ...

    def add_approval(self, record: ApprovalRecord) -> bool: ...

    def reservation(self, lease_id: bytes) -> ReservationRecord | None: ...

    def usage_reservations(
        self, clock_epoch: str, window_start_ns: int, day: int
    ) -> list[ReservationRecord]: ...

    def ended_reservations(self, clock_epoch: str, now_ns: int) -> list[ReservationRecord]: ...

    def insert_reservation(self, record: ReservationRecord) -> None: ...

    def settle_reservation(self, lease_id: bytes, state: str, units: int, cents: int) -> bool: ...

    def recent_denials(self, clock_epoch: str, since_ns: int) -> list[DenialRecord]: ...

    def insert_denial(self, record: DenialRecord) -> None: ...

    def release(self, lease_id: bytes) -> ReleaseRecord | None: ...

    def insert_release(self, record: ReleaseRecord) -> bool: ...

    def sub_lease(self, lease_id: bytes) -> SubLeaseRecord | None: ...

    def insert_sub_lease(self, record: SubLeaseRecord) -> None: ...

    def use_sub_lease_call(self, lease_id: bytes) -> None: ...

    def audit_head(self) -> AuditHead | None: ...

    def set_audit_head(self, head: AuditHead) -> None: ...

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...


def _unavailable(detail: str) -> StateError:
    return StateError(StateFailure.STORE_UNAVAILABLE, detail)


_HEAD_KEY = "audit_head"


def _format_head(head: AuditHead) -> str:
    return f"{head.seq} {head.entry_hash.hex()} {head.offset}"


def _parse_head(text: str | None, where: str) -> AuditHead | None:
    if text is None:
        return None
    try:
        seq, entry_hash, offset = text.split(" ")
        return AuditHead(int(seq), bytes.fromhex(entry_hash), int(offset))
    except ValueError:
        raise _unavailable(f"{where}: audit head {text!r} is malformed") from None


_LEASE_COLUMNS = (
    "lease_id, task_id, capability_id, manifest_digest, clock_epoch, issued_at_ns, "
    "expires_at_ns, token, audit_seq"
)
_REVOCATION_COLUMNS = "lease_id, reason, cause, revoked_epoch, revoked_ns, audit_seq"
_REVIEW_COLUMNS = (
    "manifest_digest, task_id, capability_id, principal, rule, requested_epoch, requested_ns, "
    "audit_seq"
)
_APPROVAL_COLUMNS = "manifest_digest, reviewer, verdict, document, audit_seq"


def _lease(row: tuple[object, ...]) -> LeaseRecord:
    return LeaseRecord(*row)  # type: ignore[arg-type]


def _revocation(row: tuple[object, ...]) -> RevocationRecord:
    return RevocationRecord(*row)  # type: ignore[arg-type]


def _review(row: tuple[object, ...]) -> ReviewRecord:
    return ReviewRecord(*row)  # type: ignore[arg-type]


def _approval(row: tuple[object, ...]) -> ApprovalRecord:
    return ApprovalRecord(*row)  # type: ignore[arg-type]


_RESERVATION_COLUMNS = (
    "lease_id, principal, workspace, clock_epoch, granted_at_ns, expires_at_ns, day, units, "
    "context_tokens, compute, spend_cents, state, settled_units, settled_cents, audit_seq"
)
_DENIAL_COLUMNS = "audit_seq, principal, workspace, clock_epoch, at_ns, code"
_RELEASE_COLUMNS = "lease_id, released_epoch, released_ns, units, spend_cents, audit_seq"
_SUB_LEASE_COLUMNS = "lease_id, parent_id, tool, calls, used, audit_seq"


def _placeholders(columns: str) -> str:
    return ", ".join("?" for _ in columns.split(","))


class _SqliteRevocations:
    def __init__(self, store: SqliteLeaseStore) -> None:
        self._store = store

    def lookup(self, lease_id: bytes) -> RevocationRecord | None:
        row = self._store._one(
            f"SELECT {_REVOCATION_COLUMNS} FROM revocations WHERE lease_id = ?", (lease_id,)
        )
        return None if row is None else _revocation(row)

    def add(self, record: RevocationRecord) -> bool:
        self._store._require_write()
        cursor = self._store._execute(
            f"INSERT OR IGNORE INTO revocations ({_REVOCATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            attrs.astuple(record),
        )
        return cursor.rowcount == 1

    def all(self) -> list[RevocationRecord]:
        rows = self._store._all(
            f"SELECT {_REVOCATION_COLUMNS} FROM revocations ORDER BY audit_seq, lease_id", ()
        )
        return [_revocation(row) for row in rows]


class SqliteLeaseStore:
    """The durable store: one SQLite database, WAL, ``synchronous=FULL``, migrated on open."""

    def __init__(self, path: str | os.PathLike[str], *, check_integrity: bool = True) -> None:
        self._path = Path(path)
        self._lock = threading.RLock()
        self._in_write = False
        self._revocations = _SqliteRevocations(self)
        try:
            # Created (if new) with owner-only permissions, which SQLite copies to -wal/-shm.
            # No O_EXCL: several processes may open a new state directory at the same time.
            os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
            self._connection = sqlite3.connect(
                self._path,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        except (OSError, sqlite3.Error) as exc:
            raise _unavailable(f"cannot open {self._path}: {exc}") from None
        try:
            self._configure(check_integrity)
        except sqlite3.Error as exc:
            self._connection.close()
            raise _unavailable(f"{self._path}: {exc}") from None
        except StateError:
            self._connection.close()
            raise

    # ----------------------------------------------------------------------------- setup

    def _configure(self, check_integrity: bool) -> None:
        connection = self._connection
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise _unavailable(f"{self._path}: cannot switch to WAL mode (got {mode})")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
        if check_integrity:
            result = connection.execute("PRAGMA quick_check").fetchall()
            if result != [("ok",)]:
                detail = "; ".join(str(row[0]) for row in result[:3])
                raise _unavailable(f"{self._path} failed its integrity check: {detail}")
        self._migrate()

    def _migrate(self) -> None:
        connection = self._connection
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise _unavailable(
                f"{self._path} has schema version {version}; this pda-lease knows up to "
                f"{SCHEMA_VERSION}. Use a newer pda-lease."
            )
        while version < SCHEMA_VERSION:
            connection.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while this one waited for the lock.
                current = connection.execute("PRAGMA user_version").fetchone()[0]
                if current == version:
                    for statement in MIGRATIONS[version].split(";"):
                        if statement.strip():
                            connection.execute(statement)
                    connection.execute(f"PRAGMA user_version = {version + 1}")
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            version = connection.execute("PRAGMA user_version").fetchone()[0]

    @property
    def path(self) -> Path:
        return self._path

    @property
    def schema_version(self) -> int:
        row = self._one("PRAGMA user_version", ())
        assert row is not None
        version = row[0]
        assert isinstance(version, int)
        return version

    # ----------------------------------------------------------------------------- plumbing

    def _execute(self, sql: str, parameters: tuple[object, ...]) -> sqlite3.Cursor:
        try:
            with self._lock:
                return self._connection.execute(sql, parameters)
        except sqlite3.Error as exc:
            raise _unavailable(f"{self._path}: {exc}") from None
        except ValueError as exc:  # a closed connection
            raise _unavailable(f"{self._path}: {exc}") from None

    def _one(self, sql: str, parameters: tuple[object, ...]) -> tuple[object, ...] | None:
        try:
            with self._lock:
                row: tuple[object, ...] | None = self._connection.execute(
                    sql, parameters
                ).fetchone()
                return row
        except (sqlite3.Error, ValueError) as exc:
            raise _unavailable(f"{self._path}: {exc}") from None

    def _all(self, sql: str, parameters: tuple[object, ...]) -> list[tuple[object, ...]]:
        try:
            with self._lock:
                return list(self._connection.execute(sql, parameters).fetchall())
        except (sqlite3.Error, ValueError) as exc:
            raise _unavailable(f"{self._path}: {exc}") from None

    def _require_write(self) -> None:
        if not self._in_write:
            raise RuntimeError("store writes happen inside 'with store.write():'")

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._lock:
            if self._in_write:
                raise RuntimeError("store write transactions do not nest")
            self._execute("BEGIN IMMEDIATE", ())
            self._in_write = True
            try:
                yield
            except BaseException:
                self._in_write = False
                with contextlib.suppress(sqlite3.Error, ValueError):
                    self._connection.execute("ROLLBACK")
                raise
            self._in_write = False
            try:
                self._connection.execute("COMMIT")
            except (sqlite3.Error, ValueError) as exc:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    self._connection.execute("ROLLBACK")
                raise _unavailable(f"{self._path}: commit failed: {exc}") from None

    # ----------------------------------------------------------------------------- leases

    @property
    def revocations(self) -> RevocationRegistry:
        return self._revocations

    def lease(self, lease_id: bytes) -> LeaseRecord | None:
        row = self._one(f"SELECT {_LEASE_COLUMNS} FROM leases WHERE lease_id = ?", (lease_id,))
        return None if row is None else _lease(row)

    def leases(self) -> list[LeaseRecord]:
        rows = self._all(f"SELECT {_LEASE_COLUMNS} FROM leases ORDER BY audit_seq, lease_id", ())
        return [_lease(row) for row in rows]

    def live_leases(self, clock_epoch: str, now_ns: int) -> list[LeaseRecord]:
        rows = self._all(
            f"SELECT {_LEASE_COLUMNS} FROM leases WHERE clock_epoch = ? AND expires_at_ns > ? "
            "AND lease_id NOT IN (SELECT lease_id FROM revocations) ORDER BY audit_seq, lease_id",
            (clock_epoch, now_ns),
        )
        return [_lease(row) for row in rows]

    def insert_lease(self, record: LeaseRecord) -> None:
        self._require_write()
        self._execute(
            f"INSERT OR IGNORE INTO leases ({_LEASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            attrs.astuple(record),
        )

    def proof_used(self, lease_id: bytes, challenge: bytes) -> bool:
        row = self._one(
            "SELECT 1 FROM holder_proofs WHERE lease_id = ? AND challenge = ?",
            (lease_id, challenge),
        )
        return row is not None

    def record_proof(self, lease_id: bytes, challenge: bytes, audit_seq: int) -> None:
        self._require_write()
        self._execute(
            "INSERT INTO holder_proofs (lease_id, challenge, audit_seq) VALUES (?, ?, ?)",
            (lease_id, challenge, audit_seq),
        )

    def trust_recorded(self, digest: bytes) -> bool:
        return self._one("SELECT 1 FROM trust_snapshots WHERE digest = ?", (digest,)) is not None

    def record_trust(self, digest: bytes, sequence: int, audit_seq: int) -> None:
        self._require_write()
        self._execute(
            "INSERT OR IGNORE INTO trust_snapshots (digest, sequence, audit_seq) VALUES (?, ?, ?)",
            (digest, sequence, audit_seq),
        )

    # ----------------------------------------------------------------------------- approvals

    def review(self, manifest_digest: bytes) -> ReviewRecord | None:
        row = self._one(
            f"SELECT {_REVIEW_COLUMNS} FROM reviews WHERE manifest_digest = ?", (manifest_digest,)
        )
        return None if row is None else _review(row)

    def reviews(self) -> list[ReviewRecord]:
        rows = self._all(
            f"SELECT {_REVIEW_COLUMNS} FROM reviews ORDER BY audit_seq, manifest_digest", ()
        )
        return [_review(row) for row in rows]

    def add_review(self, record: ReviewRecord) -> bool:
        self._require_write()
        cursor = self._execute(
            f"INSERT OR IGNORE INTO reviews ({_REVIEW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            attrs.astuple(record),
        )
        return cursor.rowcount == 1

    def approvals(self, manifest_digest: bytes) -> list[ApprovalRecord]:
        rows = self._all(
            f"SELECT {_APPROVAL_COLUMNS} FROM approvals WHERE manifest_digest = ? "
            "ORDER BY audit_seq, document",
            (manifest_digest,),
        )
        return [_approval(row) for row in rows]

    def add_approval(self, record: ApprovalRecord) -> bool:
        self._require_write()
        cursor = self._execute(
            f"INSERT OR IGNORE INTO approvals ({_APPROVAL_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            attrs.astuple(record),
        )
        return cursor.rowcount == 1

    # ----------------------------------------------------------------------------- pools

    def reservation(self, lease_id: bytes) -> ReservationRecord | None:
        row = self._one(
            f"SELECT {_RESERVATION_COLUMNS} FROM reservations WHERE lease_id = ?", (lease_id,)
        )
        return None if row is None else ReservationRecord(*row)  # type: ignore[arg-type]

    def usage_reservations(
        self, clock_epoch: str, window_start_ns: int, day: int
    ) -> list[ReservationRecord]:
        rows = self._all(
            f"SELECT {_RESERVATION_COLUMNS} FROM reservations WHERE state = 'open' "
            "OR (clock_epoch = ? AND granted_at_ns >= ?) OR day = ? ORDER BY audit_seq, lease_id",
            (clock_epoch, window_start_ns, day),
        )
        return [ReservationRecord(*row) for row in rows]  # type: ignore[arg-type]

    def ended_reservations(self, clock_epoch: str, now_ns: int) -> list[ReservationRecord]:
        rows = self._all(
            f"SELECT {_RESERVATION_COLUMNS} FROM reservations WHERE state = 'open' "
            "AND (clock_epoch != ? OR expires_at_ns <= ?) ORDER BY audit_seq, lease_id",
            (clock_epoch, now_ns),
        )
        return [ReservationRecord(*row) for row in rows]  # type: ignore[arg-type]

    def insert_reservation(self, record: ReservationRecord) -> None:
        self._require_write()
        self._execute(
            f"INSERT INTO reservations ({_RESERVATION_COLUMNS}) "
            f"VALUES ({_placeholders(_RESERVATION_COLUMNS)})",
            attrs.astuple(record),
        )

    def settle_reservation(self, lease_id: bytes, state: str, units: int, cents: int) -> bool:
        self._require_write()
        cursor = self._execute(
            "UPDATE reservations SET state = ?, settled_units = ?, settled_cents = ? "
            "WHERE lease_id = ? AND state = 'open'",
            (state, units, cents, lease_id),
        )
        return cursor.rowcount == 1

    def recent_denials(self, clock_epoch: str, since_ns: int) -> list[DenialRecord]:
        rows = self._all(
            f"SELECT {_DENIAL_COLUMNS} FROM denials WHERE clock_epoch = ? AND at_ns >= ? "
            "ORDER BY audit_seq",
            (clock_epoch, since_ns),
        )
        return [DenialRecord(*row) for row in rows]  # type: ignore[arg-type]

    def insert_denial(self, record: DenialRecord) -> None:
        self._require_write()
        self._execute(
            f"INSERT OR IGNORE INTO denials ({_DENIAL_COLUMNS}) "
            f"VALUES ({_placeholders(_DENIAL_COLUMNS)})",
            attrs.astuple(record),
        )

    def release(self, lease_id: bytes) -> ReleaseRecord | None:
        row = self._one(f"SELECT {_RELEASE_COLUMNS} FROM releases WHERE lease_id = ?", (lease_id,))
        return None if row is None else ReleaseRecord(*row)  # type: ignore[arg-type]

    def insert_release(self, record: ReleaseRecord) -> bool:
        self._require_write()
        cursor = self._execute(
            f"INSERT OR IGNORE INTO releases ({_RELEASE_COLUMNS}) "
            f"VALUES ({_placeholders(_RELEASE_COLUMNS)})",
            attrs.astuple(record),
        )
        return cursor.rowcount == 1

    def sub_lease(self, lease_id: bytes) -> SubLeaseRecord | None:
        row = self._one(
            f"SELECT {_SUB_LEASE_COLUMNS} FROM sub_leases WHERE lease_id = ?", (lease_id,)
        )
        return None if row is None else SubLeaseRecord(*row)  # type: ignore[arg-type]

    def insert_sub_lease(self, record: SubLeaseRecord) -> None:
        self._require_write()
        self._execute(
            f"INSERT OR IGNORE INTO sub_leases ({_SUB_LEASE_COLUMNS}) "
            f"VALUES ({_placeholders(_SUB_LEASE_COLUMNS)})",
            attrs.astuple(record),
        )

    def use_sub_lease_call(self, lease_id: bytes) -> None:
        self._require_write()
        self._execute("UPDATE sub_leases SET used = used + 1 WHERE lease_id = ?", (lease_id,))

    # ----------------------------------------------------------------------------- meta

    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._require_write()
        self._execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def audit_head(self) -> AuditHead | None:
        return _parse_head(self.meta(_HEAD_KEY), str(self._path))

    def set_audit_head(self, head: AuditHead) -> None:
        self.set_meta(_HEAD_KEY, _format_head(head))

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._connection.close()


# ---------------------------------------------------------------------------------- fake


@attrs.define
class _MemoryState:
    leases: dict[bytes, LeaseRecord] = attrs.Factory(dict)
    revocations: dict[bytes, RevocationRecord] = attrs.Factory(dict)
    proofs: set[tuple[bytes, bytes]] = attrs.Factory(set)
    trust: dict[bytes, int] = attrs.Factory(dict)
    reviews: dict[bytes, ReviewRecord] = attrs.Factory(dict)
    approvals: dict[tuple[bytes, str], ApprovalRecord] = attrs.Factory(dict)
    meta: dict[str, str] = attrs.Factory(dict)
    reservations: dict[bytes, ReservationRecord] = attrs.Factory(dict)
    denials: dict[int, DenialRecord] = attrs.Factory(dict)
    releases: dict[bytes, ReleaseRecord] = attrs.Factory(dict)
    sub_leases: dict[bytes, SubLeaseRecord] = attrs.Factory(dict)


class _MemoryRevocations:
    def __init__(self, store: MemoryLeaseStore) -> None:
        self._store = store

    def lookup(self, lease_id: bytes) -> RevocationRecord | None:
        return self._store._read().revocations.get(lease_id)

    def add(self, record: RevocationRecord) -> bool:
        revocations = self._store._writable().revocations
        if record.lease_id in revocations:
            return False
        revocations[record.lease_id] = record
        self._store._undo(lambda: revocations.pop(record.lease_id))
        return True

    def all(self) -> list[RevocationRecord]:
        return sorted(
            self._store._read().revocations.values(), key=lambda r: (r.audit_seq, r.lease_id)
        )


class MemoryLeaseStore:
    """The in-memory fake. ``available = False`` makes every call fail; ``fail_commit = True``
    makes the next commit fail (after the body of the transaction ran), as a full disk would.

    A transaction writes in place and keeps an undo list, so its cost is that of its own
    changes (a rollback or failed commit replays the list backwards).
    """

    def __init__(self) -> None:
        self._state = _MemoryState()
        self._undo_log: list[Callable[[], object]] | None = None
        self._revocations = _MemoryRevocations(self)
        self.available = True
        self.fail_commit = False

    def _read(self) -> _MemoryState:
        if not self.available:
            raise _unavailable("the in-memory store is switched off")
        return self._state

    def _writable(self) -> _MemoryState:
        state = self._read()
        if self._undo_log is None:
            raise RuntimeError("store writes happen inside 'with store.write():'")
        return state

    def _undo(self, action: Callable[[], object]) -> None:
        assert self._undo_log is not None
        self._undo_log.append(action)

    def _roll_back(self) -> None:
        undo, self._undo_log = self._undo_log or [], None
        for action in reversed(undo):
            action()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        self._read()
        if self._undo_log is not None:
            raise RuntimeError("store write transactions do not nest")
        self._undo_log = []
        try:
            yield
        except BaseException:
            self._roll_back()
            raise
        if self.fail_commit or not self.available:
            self.fail_commit = False
            self._roll_back()
            raise _unavailable("the in-memory store failed to commit")
        self._undo_log = None

    @property
    def revocations(self) -> RevocationRegistry:
        return self._revocations

    def lease(self, lease_id: bytes) -> LeaseRecord | None:
        return self._read().leases.get(lease_id)

    def leases(self) -> list[LeaseRecord]:
        return sorted(self._read().leases.values(), key=lambda r: (r.audit_seq, r.lease_id))

    def live_leases(self, clock_epoch: str, now_ns: int) -> list[LeaseRecord]:
        state = self._read()
        return [
            lease
            for lease in self.leases()
            if lease.clock_epoch == clock_epoch
            and lease.expires_at_ns > now_ns
            and lease.lease_id not in state.revocations
        ]

    def insert_lease(self, record: LeaseRecord) -> None:
        leases = self._writable().leases
        if record.lease_id not in leases:
            leases[record.lease_id] = record
            self._undo(lambda: leases.pop(record.lease_id))

    def proof_used(self, lease_id: bytes, challenge: bytes) -> bool:
        return (lease_id, challenge) in self._read().proofs

    def record_proof(self, lease_id: bytes, challenge: bytes, audit_seq: int) -> None:
        proofs = self._writable().proofs
        if (lease_id, challenge) in proofs:
            raise _unavailable("holder proof recorded twice")
        proofs.add((lease_id, challenge))
        self._undo(lambda: proofs.discard((lease_id, challenge)))

    def trust_recorded(self, digest: bytes) -> bool:
        return digest in self._read().trust

    def record_trust(self, digest: bytes, sequence: int, audit_seq: int) -> None:
        trust = self._writable().trust
        if digest not in trust:
            trust[digest] = sequence
            self._undo(lambda: trust.pop(digest))

    def review(self, manifest_digest: bytes) -> ReviewRecord | None:
        return self._read().reviews.get(manifest_digest)

    def reviews(self) -> list[ReviewRecord]:
        return sorted(self._read().reviews.values(), key=lambda r: (r.audit_seq, r.manifest_digest))

    def add_review(self, record: ReviewRecord) -> bool:
        reviews = self._writable().reviews
        if record.manifest_digest in reviews:
            return False
        reviews[record.manifest_digest] = record
        self._undo(lambda: reviews.pop(record.manifest_digest))
        return True

    def approvals(self, manifest_digest: bytes) -> list[ApprovalRecord]:
        return sorted(
            (r for r in self._read().approvals.values() if r.manifest_digest == manifest_digest),
            key=lambda r: (r.audit_seq, r.document.encode("utf-8")),
        )

    def add_approval(self, record: ApprovalRecord) -> bool:
        approvals = self._writable().approvals
        key = (record.manifest_digest, record.document)
        if key in approvals:
            return False
        approvals[key] = record
        self._undo(lambda: approvals.pop(key))
        return True

    def _put(self, table: dict[Any, Any], key: object, record: object) -> None:
        """Insert or replace ``table[key]`` inside the transaction, undoably."""
        previous = table.get(key)
        table[key] = record
        if previous is None:
            self._undo(lambda: table.pop(key))
        else:
            self._undo(lambda: table.__setitem__(key, previous))

    def reservation(self, lease_id: bytes) -> ReservationRecord | None:
        return self._read().reservations.get(lease_id)

    def _reservations(self) -> list[ReservationRecord]:
        return sorted(self._read().reservations.values(), key=lambda r: (r.audit_seq, r.lease_id))

    def usage_reservations(
        self, clock_epoch: str, window_start_ns: int, day: int
    ) -> list[ReservationRecord]:
        return [
            r
            for r in self._reservations()
            if r.state == OPEN
            or (r.clock_epoch == clock_epoch and r.granted_at_ns >= window_start_ns)
            or r.day == day
        ]

    def ended_reservations(self, clock_epoch: str, now_ns: int) -> list[ReservationRecord]:
        return [
            r
            for r in self._reservations()
            if r.state == OPEN and (r.clock_epoch != clock_epoch or r.expires_at_ns <= now_ns)
        ]

    def insert_reservation(self, record: ReservationRecord) -> None:
        reservations = self._writable().reservations
        if record.lease_id in reservations:
            raise _unavailable("reservation recorded twice")
        self._put(reservations, record.lease_id, record)

    def settle_reservation(self, lease_id: bytes, state: str, units: int, cents: int) -> bool:
        reservations = self._writable().reservations
        current = reservations.get(lease_id)
        if current is None or current.state != OPEN:
            return False
        settled = attrs.evolve(current, state=state, settled_units=units, settled_cents=cents)
        self._put(reservations, lease_id, settled)
        return True

    def recent_denials(self, clock_epoch: str, since_ns: int) -> list[DenialRecord]:
        return sorted(
            (
                d
                for d in self._read().denials.values()
                if d.clock_epoch == clock_epoch and d.at_ns >= since_ns
            ),
            key=lambda d: d.audit_seq,
        )

    def insert_denial(self, record: DenialRecord) -> None:
        denials = self._writable().denials
        if record.audit_seq not in denials:
            self._put(denials, record.audit_seq, record)

    def release(self, lease_id: bytes) -> ReleaseRecord | None:
        return self._read().releases.get(lease_id)

    def insert_release(self, record: ReleaseRecord) -> bool:
        releases = self._writable().releases
        if record.lease_id in releases:
            return False
        self._put(releases, record.lease_id, record)
        return True

    def sub_lease(self, lease_id: bytes) -> SubLeaseRecord | None:
        return self._read().sub_leases.get(lease_id)

    def insert_sub_lease(self, record: SubLeaseRecord) -> None:
        sub_leases = self._writable().sub_leases
        if record.lease_id not in sub_leases:
            self._put(sub_leases, record.lease_id, record)

    def use_sub_lease_call(self, lease_id: bytes) -> None:
        sub_leases = self._writable().sub_leases
        current = sub_leases.get(lease_id)
        if current is not None:
            self._put(sub_leases, lease_id, attrs.evolve(current, used=current.used + 1))

    def audit_head(self) -> AuditHead | None:
        return _parse_head(self.meta(_HEAD_KEY), "the in-memory store")

    def set_audit_head(self, head: AuditHead) -> None:
        self.set_meta(_HEAD_KEY, _format_head(head))

    def meta(self, key: str) -> str | None:
        return self._read().meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        meta = self._writable().meta
        previous = meta.get(key)
        meta[key] = value
        if previous is None:
            self._undo(lambda: meta.pop(key))
        else:
            self._undo(lambda: meta.__setitem__(key, previous))

    def close(self) -> None:
        pass


def read_committed_meta(path: str | os.PathLike[str], key: str) -> str | None:
    """One committed metadata value of a store, read without migrating or writing anything."""
    location = Path(path)
    if not location.exists():
        return None
    try:
        connection = sqlite3.connect(f"{location.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise _unavailable(f"cannot read {location}: {exc}") from None
    return None if row is None else str(row[0])


def read_committed_head(path: str | os.PathLike[str]) -> AuditHead | None:
    """The committed audit head of a store, read without migrating or writing anything."""
    return _parse_head(read_committed_meta(path, _HEAD_KEY), str(path))
