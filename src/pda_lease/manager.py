"""The durable lease manager: the gate an executor must pass before it runs anything.

``LeaseManager`` composes the pure kernel with four adapters (clock, trust source, lease store
with its revocation registry, audit log) and adds what a pure function cannot: memory across
restarts, revocation, single-use holder proofs and an audit trail. It decides nothing itself;
every decision and every verification is the kernel's, on one clock reading per operation.

The rules it keeps (spec §12):

* **Write-ahead audit, store as the commit point.** Every operation that changes state runs in
  one exclusive store transaction; inside it the manager appends the audit entries (fsynced),
  then commits the store rows together with the new audit head. A token leaves ``acquire`` and
  ``authorize`` returns only after both are durable. If either write fails, the answer is a
  typed ``UNAVAILABLE`` denial and nothing is half-recorded: an audit entry whose transaction
  did not commit is *in doubt*, and the next open settles it (a grant or an authorization is
  voided, because its caller never received it; a revocation is rolled forward, because
  revoking more is the safe direction).
* **Fail closed.** A clock, trust snapshot, store or audit log that cannot be read or written
  denies; a lease the store does not hold is not authorized; a holder proof is accepted once.
* **The approvals queue** (governed managers, spec §13.11). A refusal for missing approvals
  opens a review of the manifest digest; reviewers' signed approvals are verified, audited and
  stored by ``submit_approval``, and every later ``acquire`` passes them to the kernel after
  the caller's own. The kernel still judges them: the queue only remembers.
* **Shared state.** Several processes may open one state directory: SQLite serialises the
  write transactions and every read sees the latest commit, and the audit log is appended
  under an exclusive ``flock``, so revocations are seen at once and lines never interleave.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from pda_lease.adapters.audit import AuditEntry, AuditLog, JsonlAuditLog, VerifyReport
from pda_lease.adapters.clock import BootClock, Calendar, Clock, SystemCalendar
from pda_lease.adapters.errors import StateError, StateFailure
from pda_lease.adapters.jsonio import JsonInputError, canonical_json, parse_json
from pda_lease.adapters.store import (
    EXPIRED,
    OPEN,
    RELEASED,
    REVOKED,
    ApprovalRecord,
    AuditHead,
    DenialRecord,
    LeaseRecord,
    LeaseStore,
    ReleaseRecord,
    ReviewRecord,
    RevocationRecord,
    RevocationRegistry,
    SqliteLeaseStore,
    SubLeaseRecord,
)
from pda_lease.adapters.trust import FileTrustSource, TrustSource, snapshot_document
from pda_lease.kernel.catalog import Code, Deny, deny
from pda_lease.kernel.crypto import Signer, sha256, verify_signature
from pda_lease.kernel.decide import Authority, Decision, Grant, derive, standing
from pda_lease.kernel.errors import InvalidLease, PolicyError, ReasonedError, UsageError
from pda_lease.kernel.governance import (
    DENY,
    GovernancePolicy,
    GovernedRequest,
    approval_signed_bytes,
    parse_approval,
    parse_request,
    under,
)
from pda_lease.kernel.inputs import (
    HolderKeyMemo,
    LeasePolicy,
    MonotonicTime,
    TaskManifest,
    TrustSnapshot,
    parse_manifest,
    parse_trust_snapshot,
)
from pda_lease.kernel.model import Failure
from pda_lease.kernel.pools import Pools, parse_usage, scope_counts, usage_document
from pda_lease.kernel.token import (
    LEASE_ID_BYTES,
    MAX_TOKEN_BYTES,
    LeaseClaims,
    VerifiedLease,
    decode_unverified,
    holder_proof_failure,
    time_standing,
    verify_token,
)
from pda_lease.pooling import (
    counts_for_safety,
    denial_json,
    denial_window_start,
    reservation_for,
    reservation_json,
    reservation_window_start,
    settlement_body,
)
from pda_lease.release import ReleaseReceipt, Usage, sign_release_receipt
from pda_lease.transparency.checkpoint import Checkpoint, NoteSigner, VerifierKey
from pda_lease.transparency.merkle import Frontier

DATABASE_FILE = "leases.db"
AUDIT_FILE = "audit.jsonl"
QUARANTINE_FILE = "audit.quarantine"
TRUST_FILE = "trust.json"

# An input is recorded verbatim in the audit log only if it is plain JSON within these bounds;
# otherwise the entry says why it is not (spec §12.3). Every such input is one the kernel
# denies (its own limits are far lower), so nothing granted depends on an unrecorded input
# except an HRC token the policy did not ask for, which the kernel ignores.
RECORD_MAX_BYTES = 1 << 20
RECORD_MAX_DEPTH = 64
RECORD_MAX_NODES = 200_000
MAX_REASON_CHARS = 256
# ``revoke_many`` takes at most this many ids: one audit append and one store transaction hold
# the whole batch, so bounding it bounds how long the write lock is held and how much one
# append writes (about 400 bytes of audit log per revocation).
MAX_REVOKE_BATCH = 10_000
_REASON = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
_TRUST_DECAY_REASON = "trust for the capability fell below the policy threshold"


class UnknownLease(UsageError):
    """``revoke`` or ``revoke_many`` was given a lease id this manager never durably granted."""


class TrustSnapshotRejected(UsageError):
    """``apply_trust_snapshot`` was given an invalid snapshot, or one older than the current."""


class ReleaseRejection(enum.StrEnum):
    """Why ``release`` refused (spec §14.7); nothing is recorded then."""

    UNKNOWN_LEASE = "UNKNOWN_LEASE"
    BAD_USAGE = "BAD_USAGE"
    HOLDER_PROOF_INVALID = "HOLDER_PROOF_INVALID"
    HOLDER_PROOF_REPLAYED = "HOLDER_PROOF_REPLAYED"
    ALREADY_RELEASED = "ALREADY_RELEASED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


class ApprovalRejection(enum.StrEnum):
    """Why ``submit_approval`` refused an approval document (spec §13.11), in check order."""

    MALFORMED = "MALFORMED"
    UNKNOWN_REVIEWER = "UNKNOWN_REVIEWER"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    NO_SUCH_REVIEW = "NO_SUCH_REVIEW"
    EPOCH_MISMATCH = "EPOCH_MISMATCH"
    FROM_FUTURE = "FROM_FUTURE"
    ALREADY_DENIED = "ALREADY_DENIED"


class ReleaseRejected(UsageError, ReasonedError[ReleaseRejection]):
    """``release`` refused the lease, its usage or its holder proof; ``reason`` says why.

    Nothing was recorded (the holder proof was not used up either).
    """


@attrs.frozen
class PoolStatus:
    """The pools now (``pda-lease pools``): what is in flight and spent, per scope."""

    now: MonotonicTime
    day: int
    usage: dict[str, object] = attrs.field(repr=False)
    scopes: tuple[dict[str, object], ...]

    def to_json(self) -> dict[str, object]:
        return {"now": self.now.to_json(), "day": self.day, "scopes": list(self.scopes)}


class ApprovalRejected(UsageError, ReasonedError[ApprovalRejection]):
    """``submit_approval`` refused the document; ``reason`` is an ``ApprovalRejection``.

    Nothing was recorded. A ``UsageError``, so a CLI or embedder that reports usage errors
    reports it; the queue never holds an approval that failed any of these checks.
    """


# ---------------------------------------------------------------------------------- results


@attrs.frozen
class Revocation:
    """A durable revocation. ``already_revoked`` is true when it was found in place.

    That is, when ``revoke`` (or ``revoke_many``) was asked for a lease already revoked, by an
    earlier call or earlier in the same batch.
    """

    lease_id: bytes
    reason: str
    cause: str
    revoked_at: MonotonicTime
    audit_seq: int
    already_revoked: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "lease_id": self.lease_id.hex(),
            "reason": self.reason,
            "cause": self.cause,
            "revoked_at": self.revoked_at.to_json(),
            "audit_seq": self.audit_seq,
            "already_revoked": self.already_revoked,
        }


def _revocation(record: RevocationRecord, already: bool) -> Revocation:
    return Revocation(
        record.lease_id,
        record.reason,
        record.cause,
        MonotonicTime(record.revoked_epoch, record.revoked_ns),
        record.audit_seq,
        already,
    )


@attrs.frozen
class TrustApplied:
    """The outcome of ``apply_trust_snapshot``: the snapshot made current, the leases ended."""

    sequence: int
    digest: bytes
    revoked: tuple[bytes, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "sequence": self.sequence,
            "digest": self.digest.hex(),
            "revoked": [lease_id.hex() for lease_id in self.revoked],
        }


@attrs.frozen
class LeaseStatus:
    """One lease as ``status`` sees it: ``live``, ``expired``, ``revoked`` or ``ended``."""

    lease: LeaseRecord
    state: str
    code: str | None
    reason: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "lease_id": self.lease.lease_id.hex(),
            "task_id": self.lease.task_id,
            "capability_id": self.lease.capability_id,
            "clock_epoch": self.lease.clock_epoch,
            "issued_at_ns": self.lease.issued_at_ns,
            "expires_at_ns": self.lease.expires_at_ns,
            "state": self.state,
            "code": self.code,
            "reason": self.reason,
        }


@attrs.frozen
class ManagerStatus:
    """Every stored lease judged at one clock reading, and the audit head."""

    now: MonotonicTime
    trust_sequence: int | None
    leases: tuple[LeaseStatus, ...]
    audit_head: AuditHead

    def counts(self) -> dict[str, int]:
        counts = {"live": 0, "expired": 0, "revoked": 0, "ended": 0}
        for lease in self.leases:
            counts[lease.state] += 1
        return counts

    def to_json(self) -> dict[str, object]:
        return {
            "now": self.now.to_json(),
            "trust_sequence": self.trust_sequence,
            "counts": self.counts(),
            "audit": {
                "entries": self.audit_head.seq + 1,
                "head_hash": self.audit_head.entry_hash.hex(),
            },
            "leases": [lease.to_json() for lease in self.leases],
        }


@attrs.frozen
class ReviewApproval:
    """One approval document recorded for a review, as the queue shows it."""

    reviewer: bytes
    reviewer_name: str | None  # the reviewer's name in the current policy, if registered
    verdict: str
    signed_at: MonotonicTime
    audit_seq: int

    def to_json(self) -> dict[str, object]:
        return {
            "reviewer": self.reviewer.hex(),
            "reviewer_name": self.reviewer_name,
            "verdict": self.verdict,
            "signed_at": self.signed_at.to_json(),
            "audit_seq": self.audit_seq,
        }


@attrs.frozen
class ReviewStatus:
    """A review request of the approvals queue with what reviewers submitted (spec §13.11).

    ``state`` is ``denied`` once any reviewer's DENY is recorded (final, spec §13.5), else
    ``pending``: whether the approvals recorded so far suffice is decided by the kernel at the
    next ``acquire`` (they expire, and the request must still be fresh), never here.
    """

    manifest_digest: bytes
    task_id: str
    capability_id: str
    principal: bytes
    principal_name: str | None  # the principal's name in the current policy, if registered
    rule: str
    requested_at: MonotonicTime
    audit_seq: int
    approvals: tuple[ReviewApproval, ...]
    state: str

    def to_json(self) -> dict[str, object]:
        return {
            "manifest_digest": self.manifest_digest.hex(),
            "task_id": self.task_id,
            "capability_id": self.capability_id,
            "principal": self.principal.hex(),
            "principal_name": self.principal_name,
            "rule": self.rule,
            "requested_at": self.requested_at.to_json(),
            "audit_seq": self.audit_seq,
            "state": self.state,
            "approvals": [approval.to_json() for approval in self.approvals],
        }


# ---------------------------------------------------------------------------------- records


def _unrecordable(value: object) -> str | None:
    """Why ``value`` cannot be recorded as plain JSON, or None. Iterative: no recursion."""
    stack: list[tuple[object, int]] = [(value, 0)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > RECORD_MAX_NODES:
            return "TOO_LARGE"
        if depth > RECORD_MAX_DEPTH:
            return "TOO_DEEP"
        kind = type(item)
        if item is None or kind is bool or kind is int:
            continue
        if kind is float:
            return "FLOAT"
        if kind is str:
            try:
                item.encode("utf-8")  # type: ignore[attr-defined]
            except UnicodeEncodeError:
                return "NOT_JSON"
            continue
        if kind is list:
            stack.extend((child, depth + 1) for child in item)  # type: ignore[attr-defined]
            continue
        if kind is dict:
            for key, child in item.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    return "NOT_JSON"
                stack.append((key, depth + 1))
                stack.append((child, depth + 1))
            continue
        return "NOT_JSON"
    return None


def recorded(value: object) -> dict[str, object]:
    """``{"json": value}`` when the audit log can carry ``value`` exactly, else why not."""
    why = _unrecordable(value)
    if why is None:
        try:
            size = len(canonical_json(value))
        except (ValueError, TypeError, RecursionError):
            why = "NOT_JSON"
        else:
            why = "TOO_LARGE" if size > RECORD_MAX_BYTES else None
    return {"unrecorded": why} if why else {"json": value}


def outcome_record(decision: Decision) -> dict[str, object]:
    """The recorded form of a kernel decision in a ``decision`` entry (spec §12.3)."""
    if isinstance(decision, Grant):
        return decision.to_json()
    return _deny_json(decision)


def _deny_json(refusal: Deny) -> dict[str, object]:
    record: dict[str, object] = {
        "decision": "DENY",
        "code": str(refusal.code),
        "reason": refusal.reason,
        "field": refusal.field,
    }
    if refusal.code is Code.QUOTA_EXCEEDED:
        record["retry"] = None if refusal.retry is None else refusal.retry.to_json()
    return record


def _time_json(now: MonotonicTime | None) -> object:
    return None if now is None else now.to_json()


_FRONTIER_KEY = "merkle_frontier"
_CHECKPOINT_KEY = "checkpoint"
_ORIGIN_KEY = "log_origin"


def _stored_claims(lease: LeaseRecord) -> LeaseClaims | None:
    """The claims of a stored token, or None if the stored bytes no longer decode.

    ``authorize`` compares the presented token with the stored bytes, so a damaged record can
    never authorize; here it must not crash ``status`` or the trust sweep either.
    """
    try:
        return decode_unverified(lease.token).claims
    except InvalidLease:
        return None


def _lease_id_of(token: bytes) -> bytes | None:
    try:
        return decode_unverified(token).claims.lease_id
    except InvalidLease:
        return None


class _RegistryView(Collection[bytes]):
    """The durable revocation registry seen as the kernel's ``revoked`` collection."""

    def __init__(self, registry: RevocationRegistry) -> None:
        self._registry = registry

    def __contains__(self, lease_id: object) -> bool:
        return type(lease_id) is bytes and self._registry.lookup(lease_id) is not None

    def __iter__(self) -> Iterator[bytes]:
        return iter([record.lease_id for record in self._registry.all()])

    def __len__(self) -> int:
        return len(self._registry.all())


GOVERNANCE_FLOOR_KEY = "governance_floor"


def governance_floor(value: str | None) -> tuple[int, str] | None:
    """The recorded governance floor ``"<version>:<digest hex>"``, parsed (None: never governed).

    A value that does not parse is damaged state: refused, never read as "not governed".
    """
    if value is None:
        return None
    version, _, digest = value.partition(":")
    if not version.isdigit() or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise StateError(
            StateFailure.STORE_UNAVAILABLE, f"the store's governance floor is damaged: {value!r}"
        )
    return int(version), digest


def _decisive(documents: Iterable[dict[str, Any]], now: MonotonicTime) -> list[dict[str, Any]]:
    """The stored approvals that can still decide something: at most one per reviewer.

    A reviewer's DENY is final (spec §13.5), so it is passed if there is one. Otherwise the
    reviewer's latest APPROVE signed in the current clock epoch and not after ``now``: an
    APPROVE of another epoch or from the future never counts, and of two from the same epoch
    the later one expires later (the kernel still judges its age). Ordered by reviewer key,
    so the list passed to the kernel, and recorded for replay, is deterministic.
    """
    chosen: dict[str, dict[str, Any]] = {}
    for document in documents:
        reviewer = str(document["reviewer"])
        held = chosen.get(reviewer)
        if document["verdict"] == "DENY":
            if held is None or held["verdict"] != "DENY":
                chosen[reviewer] = document
            continue
        at = document["signed_at"]
        if at["epoch"] != now.epoch or at["ns"] > now.ns:
            continue
        if held is None or (held["verdict"] != "DENY" and at["ns"] > held["signed_at"]["ns"]):
            chosen[reviewer] = document
    return [chosen[reviewer] for reviewer in sorted(chosen)]


def _per_manifest(
    column: Sequence[object | None] | None, count: int, name: str
) -> Sequence[object | None]:
    """One optional input per manifest of a batch (``None`` everywhere when not given)."""
    if column is None:
        return [None] * count
    if isinstance(column, (str, bytes)) or not isinstance(column, Sequence):
        raise UsageError(f"{name} is a sequence, one per manifest (None for none)")
    if len(column) != count:
        raise UsageError(f"{name} needs one entry (or None) per manifest")
    return column


def _normalise_digest(manifest_digest: object) -> bytes:
    if type(manifest_digest) is str:
        try:
            manifest_digest = bytes.fromhex(manifest_digest)
        except ValueError:
            raise UsageError("a manifest digest is 32 bytes, or 64 hex digits") from None
    if type(manifest_digest) is not bytes or len(manifest_digest) != 32:
        raise UsageError("a manifest digest is 32 bytes, or 64 hex digits")
    return manifest_digest


def _stored_document(record: ApprovalRecord) -> dict[str, Any]:
    """A stored approval document, parsed; damaged state is refused, never skipped.

    Skipping one could drop a reviewer's final DENY, so a document that does not parse (or is
    not an approval of its own row) stops the operation with ``STORE_UNAVAILABLE``.
    """
    try:
        document = parse_json(record.document)
    except JsonInputError:
        document = None
    parsed = parse_approval(document)
    if (
        isinstance(parsed, Failure)
        or parsed.manifest_digest != record.manifest_digest
        or parsed.reviewer != record.reviewer
        or parsed.verdict != record.verdict
    ):
        raise StateError(
            StateFailure.STORE_UNAVAILABLE,
            f"a stored approval of {record.manifest_digest.hex()} (audit entry "
            f"{record.audit_seq}) is damaged",
        )
    assert isinstance(document, dict)
    return document


_REVIEW_REQUIRED = (str(Code.APPROVAL_REQUIRED), "APPROVALS_INSUFFICIENT")


def _key_bytes(key: object) -> object:
    """A holder key given as bytes or 64 hex digits; anything else goes to the kernel as is."""
    if type(key) is str and len(key) == 64:
        try:
            return bytes.fromhex(key)
        except ValueError:
            return key
    return key


def _normalise_lease_id(lease_id: object) -> bytes:
    if type(lease_id) is str:
        try:
            lease_id = bytes.fromhex(lease_id)
        except ValueError:
            raise UsageError("a lease id is 16 bytes, or 32 hex digits") from None
    if type(lease_id) is not bytes or len(lease_id) != LEASE_ID_BYTES:
        raise UsageError("a lease id is 16 bytes, or 32 hex digits")
    return lease_id


# ---------------------------------------------------------------------------------- manager


class LeaseManager:
    """Grants, tracks and revokes leases across restarts; the executor's gate (spec §12).

    Open one with :meth:`open` (durable adapters in a state directory) or build one from
    adapters directly (for example the in-memory fakes). It is a context manager; ``close``
    releases the files. Methods are safe to call from several threads.
    """

    def __init__(
        self,
        *,
        signer: Signer,
        policy: LeasePolicy | GovernancePolicy,
        clock: Clock,
        trust_source: TrustSource,
        store: LeaseStore,
        audit: AuditLog,
        calendar: Calendar | None = None,
    ) -> None:
        self._authority = Authority(signer, policy)
        self._signer = signer
        # The day of daily spend (§14.3); read only by a manager whose policy has pools.
        self._calendar = calendar if calendar is not None else SystemCalendar()
        # Checkpoints are signed on every commit: the key name and the signer's key are
        # judged once, here.
        self._note_signer = NoteSigner(self._log_key_name(), signer)
        self._origin: str | None = None
        self._clock = clock
        self._trust = trust_source
        self._store = store
        self._audit = audit
        self._lock = threading.RLock()
        self._closed = False
        self._recorded_trust: set[bytes] = set()
        self._settling: tuple[AuditHead | None, list[dict[str, Any]]] | None = None
        # Holder keys found valid, for the manager's own parse of governed manifests (their
        # digest names their review); the kernel keeps its own memo.
        self._holder_keys = HolderKeyMemo()
        self._start()

    @classmethod
    def open(
        cls,
        state_dir: str | os.PathLike[str],
        *,
        signer: Signer,
        policy: LeasePolicy | GovernancePolicy,
        clock: Clock | None = None,
        trust_source: TrustSource | None = None,
        check_integrity: bool = True,
        calendar: Calendar | None = None,
    ) -> LeaseManager:
        """Open (creating if needed) a state directory and recover what it holds.

        The directory holds ``leases.db`` (the store), ``audit.jsonl`` (the audit log),
        ``audit.quarantine`` (torn tails, if any) and, for the default trust source,
        ``trust.json``. Raises ``StateError`` if the state cannot be read or is inconsistent
        (for example acknowledged audit entries are missing); nothing is guessed.
        """
        directory = Path(state_dir)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                StateFailure.STORE_UNAVAILABLE, f"cannot create {directory}: {exc.strerror}"
            ) from None
        store = SqliteLeaseStore(directory / DATABASE_FILE, check_integrity=check_integrity)
        try:
            audit = JsonlAuditLog(directory / AUDIT_FILE, directory / QUARANTINE_FILE)
        except StateError:
            store.close()
            raise
        try:
            return cls(
                signer=signer,
                policy=policy,
                clock=clock if clock is not None else BootClock(),
                trust_source=(
                    trust_source
                    if trust_source is not None
                    else FileTrustSource(directory / TRUST_FILE)
                ),
                store=store,
                audit=audit,
                calendar=calendar,
            )
        except BaseException:
            audit.close()
            store.close()
            raise

    # ----------------------------------------------------------------------------- plumbing

    def __enter__(self) -> LeaseManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def authority(self) -> Authority:
        return self._authority

    @property
    def store(self) -> LeaseStore:
        return self._store

    @property
    def audit(self) -> AuditLog:
        return self._audit

    @property
    def clock(self) -> Clock:
        """The manager's clock: what approvals signed at this machine must be signed at."""
        return self._clock

    @contextlib.contextmanager
    def _operation(self) -> Iterator[None]:
        with self._lock:
            if self._closed:
                raise UsageError("the lease manager is closed")
            yield

    def _best_effort(self, bodies: list[dict[str, object]]) -> None:
        """Record a refusal or a void outside any transaction; its loss is settled at open."""
        with contextlib.suppress(StateError):
            head = self._store.audit_head()
            self._audit.append(self._stamped(bodies, head))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """A store write transaction that first settles whatever is in doubt (spec §12.4).

        Holding the store's write lock, every entry after the committed head belongs to a
        transaction that is over and did not commit (its process died or its commit failed),
        or was written outside one. It is settled here, before the operation judges anything,
        exactly as at open, whichever process wrote or read it before: the settlement's store
        effects happen at once and its audit entries go out with the operation's own.
        """
        with self._store.write():
            committed = self._store.audit_head()
            in_doubt = self._audit.pending(committed)
            settling = self._settle(in_doubt, committed) if in_doubt else []
            self._settling = (committed, settling)
            try:
                yield
                if self._settling[1]:  # the operation appended nothing of its own
                    self._append([])
                self._seal(committed)
            finally:
                self._settling = None

    def _seal(self, committed: AuditHead | None) -> None:
        """Extend the Merkle frontier to the new head and sign a checkpoint of it (§12.9).

        Runs inside the write transaction, after the audit append and before the commit, so
        the frontier, the checkpoint and the head are committed together: every checkpoint
        the manager signs covers a prefix of the log that extends the previous one, and two
        signed checkpoints can never disagree.
        """
        head = self._store.audit_head()
        if head is None or head == committed:
            return
        frontier = self._frontier(committed)
        frontier = frontier.extend(self._audit.leaf_hashes(committed, head.seq))
        if frontier.size != head.seq + 1:
            raise StateError(
                StateFailure.AUDIT_UNAVAILABLE,
                f"the Merkle frontier covers {frontier.size} entries but the head is entry "
                f"{head.seq}",
            )
        self._store.set_meta(_FRONTIER_KEY, frontier.to_text())
        checkpoint = Checkpoint(self._log_origin(), frontier.size, frontier.root())
        note = self._note_signer.sign(checkpoint.to_text())
        self._store.set_meta(_CHECKPOINT_KEY, note)

    def _frontier(self, committed: AuditHead | None) -> Frontier:
        """The frontier at the committed head; rebuilt from the log if the store lacks it."""
        if committed is None:
            return Frontier()
        text = self._store.meta(_FRONTIER_KEY)
        if text is not None:
            try:
                frontier = Frontier.from_text(text)
            except UsageError:
                frontier = None
            if frontier is not None and frontier.size == committed.seq + 1:
                return frontier
        # A state directory from before checkpoints (or a damaged value): one full pass.
        return Frontier().extend(self._audit.leaf_hashes(None, committed.seq))

    def _log_origin(self) -> str:
        if self._origin is not None:
            return self._origin
        origin = self._store.meta(_ORIGIN_KEY)
        if origin is None:
            first = self._audit.pending(None)[0]  # once per state directory
            origin = f"pda-lease.audit/{first.record['log_id']}"
            self._store.set_meta(_ORIGIN_KEY, origin)
            return origin  # cached only once committed, on the next call
        self._origin = origin
        return origin

    def _log_key_name(self) -> str:
        return self._authority.policy.issuer

    def log_verifier(self) -> VerifierKey:
        """The key (C2SP vkey) that verifies this log's checkpoints: the issuer's."""
        return VerifierKey(self._log_key_name(), self._authority.public_key)

    def checkpoint(self) -> str:
        """The latest signed checkpoint (a C2SP signed note) of the audit log."""
        with self._operation():
            note = self._store.meta(_CHECKPOINT_KEY)
            if note is None:  # pragma: no cover - every open seals one
                raise StateError(StateFailure.STORE_UNAVAILABLE, "no checkpoint has been signed")
            return note

    def _append(self, bodies: list[dict[str, Any]]) -> list[AuditEntry]:
        """Append inside ``_transaction``; returns this operation's own entries.

        Sets the store's audit head to the last entry, so the commit of the transaction
        acknowledges everything appended in it.
        """
        if self._settling is None:  # pragma: no cover - a programming error
            raise RuntimeError("_append runs inside _transaction")
        committed, settling = self._settling
        entries = self._audit.append(self._stamped([*settling, *bodies], committed))
        self._settling = (committed, [])
        if entries:
            self._store.set_audit_head(entries[-1].head)
        return entries[len(settling) :]

    @staticmethod
    def _stamped(bodies: list[dict[str, Any]], committed: AuditHead | None) -> list[dict[str, Any]]:
        """Each entry carries the store's committed head as it was when the entry was written.

        Heads only grow, so an entry after the committed head that names a later head proves
        the store went back in time (an older copy restored): open refuses it (spec §12.4).
        """
        store_head = None if committed is None else committed.seq
        return [{**body, "store_head": store_head} for body in bodies]

    def _trust_bodies(self, snapshot: TrustSnapshot, now: MonotonicTime) -> list[dict[str, Any]]:
        if snapshot.digest in self._recorded_trust or self._store.trust_recorded(snapshot.digest):
            self._recorded_trust.add(snapshot.digest)
            return []
        return [self._trust_body(snapshot, now, applied=False)]

    @staticmethod
    def _trust_body(snapshot: TrustSnapshot, now: MonotonicTime, applied: bool) -> dict[str, Any]:
        return {
            "event": "trust_snapshot",
            "at": now.to_json(),
            "applied": applied,
            "sequence": snapshot.sequence,
            "digest": snapshot.digest.hex(),
            "snapshot": snapshot_document(snapshot),
        }

    def _commit_trust(self, entries: list[AuditEntry]) -> None:
        for entry in entries:
            if entry.event == "trust_snapshot":
                digest = bytes.fromhex(str(entry.record["digest"]))
                self._store.record_trust(digest, int(str(entry.record["sequence"])), entry.seq)

    def _authority_body(self) -> dict[str, Any]:
        authority = self._authority
        body: dict[str, Any] = {
            "event": "authority",
            "issuer_public_key": authority.public_key.hex(),
            "issuer_kid": authority.kid.hex(),
            "policy_digest": authority.policy_digest.hex(),
            "policy": authority.policy_document,
        }
        return body

    def _authority_marker(self) -> str:
        return f"{self._authority.kid.hex()}:{self._authority.policy_digest.hex()}"

    def _standing_policy(self) -> LeasePolicy | GovernancePolicy:
        """What standing (§8) judges leases against: the governance policy if governed."""
        governance = self._authority.governance
        return self._authority.policy if governance is None else governance

    # ----------------------------------------------------------------------------- startup

    def _start(self) -> None:
        """Recover under the store's write lock: settle in-doubt entries, record the authority.

        Holding the store's write lock means no other process is between its audit append and
        its commit, so every entry after the committed head is truly in doubt.
        """
        with self._store.write():
            self._check_governance_floor()
            committed = self._store.audit_head()
            entries = self._audit.recover(committed)
            if committed is None:
                # Only a first open writes before the first commit: its own log_created and
                # authority entries (a crash there leaves them uncommitted, harmlessly).
                first_open = {"log_created", "authority", "torn_tail_quarantined"}
                effects = [e for e in entries if e.event not in first_open]
                if effects:
                    raise StateError(
                        StateFailure.STORE_UNAVAILABLE,
                        f"the lease store is empty but the audit log records {len(effects)} "
                        "events after its creation: the store was lost or replaced",
                    )
            bodies = self._settle(entries, committed)
            if self._store.meta("authority") != self._authority_marker():
                bodies.append(self._authority_body())
            appended = self._audit.append(self._stamped(bodies, committed))
            if appended:
                self._store.set_meta("authority", self._authority_marker())
            self._store.set_audit_head(self._audit.head())
            if self._store.meta(_CHECKPOINT_KEY) is None:
                self._seal(None)  # a new state directory, or one from before checkpoints
            elif self._store.audit_head() != committed:
                self._seal(committed)

    def _check_governance_floor(self) -> None:
        """Spec §13.3: once governed, a state directory never goes back (fail closed).

        The store remembers the highest governance policy it was opened under (version and
        digest, committed with the ``authority`` entry that records it). Opening it with no
        governance policy, an older version, or another document of the same version is
        refused, so deleting or replacing the policy files cannot ungovern the manager or
        roll its policy back.
        """
        floor = governance_floor(self._store.meta(GOVERNANCE_FLOOR_KEY))
        governance = self._authority.governance
        if floor is not None:
            version, digest = floor
            if governance is None:
                raise PolicyError(
                    f"this state directory is governed (policy version {version}); it cannot "
                    "be opened without a governance policy"
                )
            if governance.version < version or (
                governance.version == version and governance.digest.hex() != digest
            ):
                raise PolicyError(
                    f"this state directory was governed by policy version {version}; policy "
                    f"version {governance.version} ({governance.digest.hex()[:16]}...) would "
                    "roll it back"
                )
            if governance.version == version:
                return
        if governance is not None:
            self._store.set_meta(
                GOVERNANCE_FLOOR_KEY, f"{governance.version}:{governance.digest.hex()}"
            )

    def _settle(
        self, entries: list[AuditEntry], committed: AuditHead | None
    ) -> list[dict[str, object]]:
        """Spec §12.4: what to do with each in-doubt entry."""
        committed_seq = -1 if committed is None else committed.seq
        for entry in entries:
            stamped = entry.record.get("store_head")
            if type(stamped) is int and stamped > committed_seq:
                raise StateError(
                    StateFailure.STORE_UNAVAILABLE,
                    f"audit entry {entry.seq} was written when the lease store had committed "
                    f"entry {stamped}, but the store's head is {committed_seq}: the store is "
                    "older than the audit log (restored from a copy?)",
                )
        voided = {
            entry.record["entry_seq"]
            for entry in entries
            if entry.event in {"grant_void", "authorization_void"}
        }
        # Leases whose settlement is itself in doubt: rolling that entry forward settles them,
        # so a rolled-forward revocation or release must not settle them a second time.
        settling = {
            str(entry.record.get("lease_id")) for entry in entries if entry.event == "settlement"
        }
        bodies: list[dict[str, object]] = []
        for entry in entries:
            record = entry.record
            if entry.event in {"decision", "sub_lease"}:  # a grant, or a sub-lease's (§14.8)
                outcome = record.get("outcome")
                if not isinstance(outcome, dict) or outcome.get("decision") != "GRANT":
                    continue
                lease_id = str(outcome["lease_id"])
                if entry.seq in voided or self._store.lease(bytes.fromhex(lease_id)):
                    continue
                bodies.append(
                    {
                        "event": "grant_void",
                        "lease_id": lease_id,
                        "entry_seq": entry.seq,
                        "why": "NOT_COMMITTED",
                    }
                )
            elif entry.event == "authorization":
                outcome = record.get("outcome")
                if not isinstance(outcome, dict) or outcome.get("result") != "ALLOW":
                    continue
                self._burn_challenge(entry)
                if entry.seq in voided:
                    continue
                bodies.append(
                    {
                        "event": "authorization_void",
                        "lease_id": str(record["lease_id"]),
                        "entry_seq": entry.seq,
                        "why": "NOT_COMMITTED",
                    }
                )
            elif entry.event == "revocation":
                revoked_id = bytes.fromhex(str(record["lease_id"]))
                if self._store.revocations.lookup(revoked_id) is None:
                    self._register(entry)
                    bodies.append(
                        {
                            "event": "revocation_recovered",
                            "lease_id": revoked_id.hex(),
                            "entry_seq": entry.seq,
                        }
                    )
                    if revoked_id.hex() not in settling:
                        bodies.extend(self._revoked_settlements([revoked_id]))
            elif entry.event == "release":
                if self._roll_release_forward(entry):
                    bodies.append(
                        {
                            "event": "release_recovered",
                            "lease_id": str(record["lease_id"]),
                            "entry_seq": entry.seq,
                        }
                    )
                    if str(record["lease_id"]) not in settling:
                        bodies.extend(self._released_settlement(entry))
            elif entry.event == "settlement":
                self._roll_settlement_forward(entry)
            elif entry.event == "review_requested":
                if self._register_review(entry):
                    bodies.append(
                        {
                            "event": "review_recovered",
                            "manifest_digest": str(record["manifest_digest"]),
                            "entry_seq": entry.seq,
                        }
                    )
            elif entry.event == "approval":
                if self._register_approval(entry):
                    bodies.append(
                        {
                            "event": "approval_recovered",
                            "manifest_digest": str(record["manifest_digest"]),
                            "reviewer": str(record["reviewer"]),
                            "entry_seq": entry.seq,
                        }
                    )
            elif entry.event == "trust_snapshot":
                self._commit_trust([entry])
            elif entry.event == "authority" and entry.record.get("issuer_kid"):
                marker = f"{entry.record['issuer_kid']}:{entry.record['policy_digest']}"
                self._store.set_meta("authority", marker)
        return bodies

    def _roll_release_forward(self, entry: AuditEntry) -> bool:
        """An in-doubt ``release`` takes effect (like a revocation, it only ends authority).

        Its proof is burnt and the lease is marked released; its ``settlement`` entry, in
        doubt with it, settles the reservation. False if the release was already recorded.
        """
        record = entry.record
        lease_id = bytes.fromhex(str(record["lease_id"]))
        at, usage = record["at"], record["usage"]
        assert isinstance(at, dict) and isinstance(usage, dict)
        self._burn_challenge(entry)
        return self._store.insert_release(
            ReleaseRecord(
                lease_id,
                str(at["epoch"]),
                int(at["ns"]),
                int(usage["units"]),
                int(usage["spend_cents"]),
                entry.seq,
            )
        )

    def _released_settlement(self, entry: AuditEntry) -> list[dict[str, Any]]:
        """Settle a released lease's open reservation at the usage its entry records."""
        usage = entry.record["usage"]
        assert isinstance(usage, dict)
        lease_id = bytes.fromhex(str(entry.record["lease_id"]))
        reservation = self._store.reservation(lease_id)
        if reservation is None or reservation.state != OPEN:
            return []
        units, cents = int(usage["units"]), int(usage["spend_cents"])
        self._store.settle_reservation(lease_id, RELEASED, units, cents)
        return [settlement_body(reservation, "RELEASED", units, cents)]

    def _roll_settlement_forward(self, entry: AuditEntry) -> None:
        """An in-doubt ``settlement`` closes its reservation (a no-op if it is closed)."""
        record = entry.record
        settled = record["settled"]
        assert isinstance(settled, dict)
        state = {"RELEASED": RELEASED, "EXPIRED": EXPIRED, "REVOKED": REVOKED}[str(record["why"])]
        self._store.settle_reservation(
            bytes.fromhex(str(record["lease_id"])),
            state,
            int(settled["units"]),
            int(settled["spend_cents"]),
        )

    def _burn_challenge(self, entry: AuditEntry) -> None:
        """An in-doubt ALLOW is voided, but its challenge is used up all the same.

        Its executor never got the answer, so burning the challenge costs one fresh signature;
        not burning it would let a captured proof work again if the entry was in fact
        acknowledged by a store that has since been replaced by an older copy.
        """
        proof = entry.record.get("holder_proof")
        lease_hex = entry.record.get("lease_id")
        if not isinstance(proof, dict) or not isinstance(proof.get("json"), dict):
            return
        challenge_hex = proof["json"].get("challenge")
        if type(challenge_hex) is not str or type(lease_hex) is not str:
            return
        lease_id, challenge = bytes.fromhex(lease_hex), bytes.fromhex(challenge_hex)
        if not self._store.proof_used(lease_id, challenge):
            self._store.record_proof(lease_id, challenge, entry.seq)

    def _register(self, entry: AuditEntry) -> RevocationRecord:
        """Put a ``revocation`` entry into the registry under its own sequence number.

        The one way a revocation is registered: right after ``revoke`` or the trust sweep
        appends it, or when an in-doubt one is rolled forward (spec §12.4).
        """
        at = entry.record["at"]
        assert isinstance(at, dict)
        record = RevocationRecord(
            bytes.fromhex(str(entry.record["lease_id"])),
            str(entry.record["reason"]),
            str(entry.record["cause"]),
            str(at["epoch"]),
            int(at["ns"]),
            entry.seq,
        )
        self._store.revocations.add(record)
        return record

    @staticmethod
    def _revocation_body(
        lease_id: bytes, reason: str, cause: str, now: MonotonicTime
    ) -> dict[str, Any]:
        return {
            "event": "revocation",
            "at": now.to_json(),
            "lease_id": lease_id.hex(),
            "reason": reason,
            "cause": cause,
        }

    # ----------------------------------------------------------------------------- acquire

    def acquire(
        self,
        manifest: object,
        hrc_token: object | None = None,
        request: object | None = None,
        approvals: object | None = None,
    ) -> Decision:
        """Decide a lease for ``manifest`` and, if granted, record it durably (spec §12.5).

        Returns the kernel's ``Grant`` only after the grant is in the audit log and committed
        to the store; otherwise a ``Deny``: the kernel's, or ``UNAVAILABLE`` when the clock,
        trust snapshot, store or audit log failed. ``request`` and ``approvals`` are the
        governed request and the reviewers' approvals (spec §13); only a manager under a
        governance policy reads them.
        """
        return self.acquire_many([manifest], [hrc_token], [request], [approvals])[0]

    def acquire_many(
        self,
        manifests: Sequence[object],
        hrc_tokens: Sequence[object | None] | None = None,
        requests: Sequence[object | None] | None = None,
        approvals: Sequence[object | None] | None = None,
    ) -> list[Decision]:
        """``acquire`` for a batch, as one operation: one clock reading, one durable commit.

        Each manifest is decided exactly as ``acquire`` would at that clock reading (with the
        HRC token, request and approvals at the same index, if any). The batch shares one
        audit append and one store commit, so its cost in fsyncs is that of a single
        ``acquire``; if recording fails, every decision of the batch is the same
        ``UNAVAILABLE`` denial and nothing is granted.
        """
        if isinstance(manifests, (str, bytes)) or not isinstance(manifests, Sequence):
            raise UsageError("manifests is a sequence of manifest documents")
        columns = [
            _per_manifest(column, len(manifests), name)
            for column, name in (
                (hrc_tokens, "hrc_tokens"),
                (requests, "requests"),
                (approvals, "approvals"),
            )
        ]
        if not manifests:
            return []
        items = list(zip(manifests, *columns, strict=True))
        with self._operation():
            now: MonotonicTime | None = None
            parsed: list[TaskManifest | None] = [None] * len(items)
            pools: Pools | None = None
            day = 0
            try:
                now = self._clock.now()
                snapshot = self._trust.current()
                governance = self._authority.governance
                if governance is not None:
                    items, parsed = self._with_queued_approvals(items, governance, now)
                    pools = governance.pools
                if pools is not None:
                    day = self._calendar.today()
            except StateError as exc:
                return self._refuse_decisions(exc, now, items)
            if pools is not None:
                return self._acquire_pooled(items, parsed, now, snapshot, pools, day)
            decisions = [self._authority.decide(m, snapshot, now, *rest) for m, *rest in items]
            bodies = [
                self._decision_body(now, snapshot.digest, item, decision)
                for item, decision in zip(items, decisions, strict=True)
            ]
            entries: list[AuditEntry] = []
            first = 0  # where this operation's decision entries start in ``entries``
            try:
                with self._transaction():
                    trust_bodies = self._trust_bodies(snapshot, now)
                    first = len(trust_bodies)
                    reviews = self._review_bodies(now, items, parsed, decisions)
                    entries = self._append([*trust_bodies, *bodies, *reviews])
                    self._commit_trust(entries)
                    own = entries[first : first + len(decisions)]
                    for decision, entry in zip(decisions, own, strict=True):
                        if isinstance(decision, Grant):
                            self._store.insert_lease(self._lease_record(decision, entry.seq))
                    for entry in entries[first + len(decisions) :]:
                        self._register_review(entry)
            except StateError as exc:
                self._void_grants(exc, decisions, entries[first : first + len(decisions)])
                return [exc.deny() for _ in items]
            self._recorded_trust.add(snapshot.digest)
            return decisions

    def _void_grants(
        self, exc: StateError, decisions: Sequence[Decision], own: Sequence[AuditEntry]
    ) -> None:
        """Grants whose entries were written but whose transaction failed: void them."""
        voids: list[dict[str, object]] = [
            {
                "event": "grant_void",
                "lease_id": decision.lease_id.hex(),
                "entry_seq": entry.seq,
                "why": str(exc.reason),
            }
            for decision, entry in zip(decisions, own, strict=False)
            if isinstance(decision, Grant)
        ]
        if voids:
            self._best_effort(voids)

    def _acquire_pooled(
        self,
        items: list[tuple[object, ...]],
        parsed: list[TaskManifest | None],
        now: MonotonicTime,
        trust: TrustSnapshot,
        pools: Pools,
        day: int,
    ) -> list[Decision]:
        """``acquire_many`` under a policy with pools (spec §14.6): decide inside the commit.

        The usage snapshot is read from the store inside the write transaction, after what
        was in doubt is settled and ended leases are settled at their reservation, so no other
        process can grant between the snapshot and this commit; each grant of the batch is in
        the usage of the next item. Reservations and counted denials are written in the
        transaction of their ``decision`` entries: a crash never leaks or double-counts one.
        """
        requests = [parse_request(item[2]) for item in items]
        decisions: list[Decision] = []
        entries: list[AuditEntry] = []
        first = 0
        try:
            with self._transaction():
                settlements = self._expiry_settlements(now)
                reservations = [
                    reservation_json(record)
                    for record in self._store.usage_reservations(
                        now.epoch, reservation_window_start(pools, now), day
                    )
                ]
                since = denial_window_start(pools, now)
                denials = (
                    []
                    if since is None
                    else [denial_json(d) for d in self._store.recent_denials(now.epoch, since)]
                )
                bodies: list[dict[str, Any]] = []
                for item, request in zip(items, requests, strict=True):
                    usage = usage_document(day, reservations, denials)
                    manifest, hrc_token, request_doc, approvals = item
                    decision = self._authority.decide(
                        manifest, trust, now, hrc_token, request_doc, approvals, usage
                    )
                    decisions.append(decision)
                    bodies.append(
                        self._decision_body(now, trust.digest, item, decision, usage, day)
                    )
                    if isinstance(request, Failure):
                        continue
                    if isinstance(decision, Grant):
                        reservations.append(
                            reservation_json(reservation_for(decision, request, day, 0))
                        )
                    elif counts_for_safety(decision):
                        denials.append(denial_json(self._denial(0, request, now, decision)))
                trust_bodies = self._trust_bodies(trust, now)
                first = len(settlements) + len(trust_bodies)
                reviews = self._review_bodies(now, items, parsed, decisions)
                entries = self._append([*settlements, *trust_bodies, *bodies, *reviews])
                self._commit_trust(entries)
                own = entries[first : first + len(decisions)]
                for decision, entry, request in zip(decisions, own, requests, strict=True):
                    if isinstance(request, Failure):
                        continue
                    if isinstance(decision, Grant):
                        self._store.insert_lease(self._lease_record(decision, entry.seq))
                        self._store.insert_reservation(
                            reservation_for(decision, request, day, entry.seq)
                        )
                    elif counts_for_safety(decision):
                        self._store.insert_denial(self._denial(entry.seq, request, now, decision))
                for entry in entries[first + len(decisions) :]:
                    self._register_review(entry)
        except StateError as exc:
            self._void_grants(exc, decisions, entries[first : first + len(decisions)])
            return [exc.deny() for _ in items]
        self._recorded_trust.add(trust.digest)
        return decisions

    @staticmethod
    def _denial(
        audit_seq: int, request: GovernedRequest, now: MonotonicTime, decision: Deny
    ) -> DenialRecord:
        return DenialRecord(
            audit_seq, request.principal, request.workspace, now.epoch, now.ns, str(decision.code)
        )

    def _expiry_settlements(self, now: MonotonicTime) -> list[dict[str, Any]]:
        """Settle at their reservation the open reservations whose leases ended by time.

        Runs inside a pooled transaction (§14.6); the store changes commit with the returned
        ``settlement`` entries, which the caller appends.
        """
        bodies: list[dict[str, Any]] = []
        for record in self._store.ended_reservations(now.epoch, now.ns):
            if self._store.settle_reservation(
                record.lease_id, EXPIRED, record.units, record.spend_cents
            ):
                bodies.append(settlement_body(record, "EXPIRED", record.units, record.spend_cents))
        return bodies

    def _revoked_settlements(self, lease_ids: Iterable[bytes]) -> list[dict[str, Any]]:
        """Settle revoked leases' open reservations at their reservation (§14.6)."""
        bodies: list[dict[str, Any]] = []
        for lease_id in lease_ids:
            record = self._store.reservation(lease_id)
            if record is None or record.state != OPEN:
                continue
            if self._store.settle_reservation(lease_id, REVOKED, record.units, record.spend_cents):
                bodies.append(settlement_body(record, "REVOKED", record.units, record.spend_cents))
        return bodies

    def _with_queued_approvals(
        self, items: list[tuple[object, ...]], governance: GovernancePolicy, now: MonotonicTime
    ) -> tuple[list[tuple[object, ...]], list[TaskManifest | None]]:
        """Each manifest's approvals as passed to the kernel: the caller's, then the queue's.

        Spec §13.11: the approvals recorded in the queue for the manifest's digest follow the
        caller's own (if the caller passed a list; anything else is passed unchanged, and the
        kernel denies it), those of reviewers no longer registered in the current policy left
        out, and only those that can still decide something, at most one per reviewer
        (``_decisive``), so re-approvals never grow the list past the kernel's 64 approvals.
        Also returns each manifest parsed (None if malformed: the kernel denies it first).
        """
        queued: list[tuple[object, ...]] = []
        manifests: list[TaskManifest | None] = []
        for item in items:
            manifest, hrc_token, request, approvals = item
            parsed = parse_manifest(manifest, self._holder_keys)
            if isinstance(parsed, Failure):
                manifests.append(None)
                queued.append(item)
                continue
            manifests.append(parsed)
            if approvals is not None and type(approvals) is not list:
                queued.append(item)
                continue
            stored = _decisive(
                (
                    _stored_document(record)
                    for record in self._store.approvals(parsed.digest)
                    if record.reviewer in governance.reviewers
                ),
                now,
            )
            if not stored:
                queued.append(item)
                continue
            own: list[object] = [] if approvals is None else list(approvals)
            queued.append((manifest, hrc_token, request, [*own, *stored]))
        return queued, manifests

    def _review_bodies(
        self,
        now: MonotonicTime,
        items: list[tuple[object, ...]],
        parsed: list[TaskManifest | None],
        decisions: list[Decision],
    ) -> list[dict[str, Any]]:
        """A ``review_requested`` entry per digest that lacks approvals and has no review yet.

        Runs inside the operation's transaction, so the review is recorded with the decision
        that asked for it, or not at all.
        """
        bodies: list[dict[str, Any]] = []
        opened: set[bytes] = set()
        for item, manifest, decision in zip(items, parsed, decisions, strict=True):
            if not isinstance(decision, Deny) or manifest is None:
                continue
            if (str(decision.code), decision.reason) != _REVIEW_REQUIRED:
                continue
            request = parse_request(item[2])
            if isinstance(request, Failure):  # pragma: no cover - step G admitted it
                continue
            digest = manifest.digest
            if digest in opened or self._store.review(digest) is not None:
                continue
            opened.add(digest)
            bodies.append(
                {
                    "event": "review_requested",
                    "at": now.to_json(),
                    "manifest_digest": digest.hex(),
                    "task_id": manifest.task_id,
                    "capability_id": manifest.capability_id,
                    "principal": request.principal.hex(),
                    "rule": decision.field,
                }
            )
        return bodies

    def _register_review(self, entry: AuditEntry) -> bool:
        """Put a ``review_requested`` entry into the queue (False: one was there already)."""
        record = entry.record
        at = record["at"]
        assert isinstance(at, dict)
        return self._store.add_review(
            ReviewRecord(
                manifest_digest=bytes.fromhex(str(record["manifest_digest"])),
                task_id=str(record["task_id"]),
                capability_id=str(record["capability_id"]),
                principal=bytes.fromhex(str(record["principal"])),
                rule=str(record["rule"]),
                requested_epoch=str(at["epoch"]),
                requested_ns=int(at["ns"]),
                audit_seq=entry.seq,
            )
        )

    def _register_approval(self, entry: AuditEntry) -> bool:
        """Put an ``approval`` entry into the queue (False: the same document was there)."""
        record = entry.record
        return self._store.add_approval(
            ApprovalRecord(
                manifest_digest=bytes.fromhex(str(record["manifest_digest"])),
                reviewer=bytes.fromhex(str(record["reviewer"])),
                verdict=str(record["verdict"]),
                document=canonical_json(record["document"]).decode("utf-8"),
                audit_seq=entry.seq,
            )
        )

    def _decision_body(
        self,
        now: MonotonicTime | None,
        trust_digest: bytes | None,
        item: tuple[object, ...],
        decision: Decision,
        usage: dict[str, object] | None = None,
        day: int | None = None,
    ) -> dict[str, object]:
        manifest, hrc_token, request, approvals = item
        body: dict[str, object] = {
            "event": "decision",
            "at": _time_json(now),
            "issuer_kid": self._authority.kid.hex(),
            "policy_digest": self._authority.policy_digest.hex(),
            "trust_digest": None if trust_digest is None else trust_digest.hex(),
            "manifest": recorded(manifest),
            "hrc_token": None if hrc_token is None else recorded(hrc_token),
            "outcome": outcome_record(decision),
        }
        if self._authority.governance is not None:
            # Decision inputs of a governed authority (spec §13.6), recorded for replay.
            body["request"] = None if request is None else recorded(request)
            body["approvals"] = None if approvals is None else recorded(approvals)
            if self._authority.governance.pools is not None:
                # The usage snapshot passed (§14.6) and the calendar day it was built for.
                body["usage"] = None if usage is None else recorded(usage)
                body["day"] = day
        return body

    def _refuse_decisions(
        self,
        exc: StateError,
        now: MonotonicTime | None,
        items: list[tuple[object, ...]],
    ) -> list[Decision]:
        refusal = exc.deny()
        self._best_effort([self._decision_body(now, None, item, refusal) for item in items])
        return [refusal for _ in items]

    @staticmethod
    def _lease_record(grant: Grant, audit_seq: int) -> LeaseRecord:
        claims = grant.claims
        return LeaseRecord(
            lease_id=grant.lease_id,
            task_id=claims.task_id,
            capability_id=claims.capability_id,
            manifest_digest=claims.manifest_digest,
            clock_epoch=claims.clock_epoch,
            issued_at_ns=claims.issued_at_ns,
            expires_at_ns=claims.expires_at_ns,
            token=grant.token,
            audit_seq=audit_seq,
        )

    # ----------------------------------------------------------------------------- authorize

    def authorize(
        self,
        token: bytes,
        holder_proof: object,
        *,
        task_id: str,
        manifest_digest: bytes,
    ) -> VerifiedLease:
        """The executor's gate: may the holder of ``token`` run this manifest now?

        Returns the verified lease, or raises ``InvalidLease`` whose ``deny`` says why: the
        kernel's verification (spec §7.3: signature, binding to ``task_id`` and
        ``manifest_digest``, epoch and expiry, revocation, holder proof), then the lease must
        be a recorded grant, still stand under the current policy and trust snapshot (§8),
        and its holder proof must not have been used before. Every check is audited; an
        authorization is returned only once its audit entry and the used proof are durable.
        """
        if type(token) is not bytes:
            raise UsageError("a token is bytes")
        if type(task_id) is not str:
            raise UsageError("task_id is a str")
        if type(manifest_digest) is not bytes or len(manifest_digest) != 32:
            raise UsageError("manifest_digest is 32 bytes")
        with self._operation():
            now: MonotonicTime | None = None
            try:
                now = self._clock.now()
                snapshot = self._trust.current()
            except StateError as exc:
                refusal = exc.deny()
                self._best_effort(
                    [
                        self._authorization_body(
                            now, None, token, holder_proof, task_id, manifest_digest, refusal
                        )
                    ]
                )
                raise InvalidLease(refusal) from None
            entries: list[AuditEntry] = []
            verdict: VerifiedLease | Deny
            try:
                with self._transaction():
                    verdict = self._judge(
                        token, holder_proof, task_id, manifest_digest, now, snapshot
                    )
                    body = self._authorization_body(
                        now,
                        snapshot.digest,
                        token,
                        holder_proof,
                        task_id,
                        manifest_digest,
                        verdict,
                    )
                    entries = self._append([*self._trust_bodies(snapshot, now), body])
                    self._commit_trust(entries)
                    if isinstance(verdict, VerifiedLease):
                        assert isinstance(holder_proof, dict)
                        challenge = bytes.fromhex(holder_proof["challenge"])
                        self._store.record_proof(verdict.lease_id, challenge, entries[-1].seq)
                        if verdict.claims.parent is not None:
                            self._store.use_sub_lease_call(verdict.lease_id)
            except StateError as exc:
                lease_id = _lease_id_of(token)
                if (
                    entries
                    and lease_id is not None
                    and entries[-1].record["outcome"] == {"result": "ALLOW"}
                ):
                    self._best_effort(
                        [
                            {
                                "event": "authorization_void",
                                "lease_id": lease_id.hex(),
                                "entry_seq": entries[-1].seq,
                                "why": str(exc.reason),
                            }
                        ]
                    )
                raise InvalidLease(exc.deny()) from None
            self._recorded_trust.add(snapshot.digest)
            if isinstance(verdict, Deny):
                raise InvalidLease(verdict)
            return verdict

    def _judge(
        self,
        token: bytes,
        holder_proof: object,
        task_id: str,
        manifest_digest: bytes,
        now: MonotonicTime,
        snapshot: TrustSnapshot,
    ) -> VerifiedLease | Deny:
        """Spec §12.5 order: kernel verification, recorded grant, standing, proof replay."""
        try:
            verified = verify_token(
                token,
                issuer_public_key=self._authority.public_key,
                task_id=task_id,
                manifest_digest=manifest_digest,
                now=now,
                holder_proof=holder_proof,
                revoked=_RegistryView(self._store.revocations),
            )
        except InvalidLease as refused:
            return refused.deny
        lease = self._store.lease(verified.lease_id)
        if lease is None or lease.token != token:
            return deny(Code.INVALID_TOKEN, "UNKNOWN_LEASE")
        judged = standing(verified.claims, now, snapshot, self._standing_policy())
        if isinstance(judged, Deny):
            return judged
        if self._store.release(verified.lease_id) is not None:
            return deny(Code.LEASE_REVOKED, "RELEASED")
        if verified.claims.parent is not None:
            ended = self._sub_lease_standing(verified.lease_id, verified.claims, now)
            if ended is not None:
                return ended
        assert isinstance(holder_proof, dict)
        if self._store.proof_used(verified.lease_id, bytes.fromhex(holder_proof["challenge"])):
            return deny(Code.INVALID_TOKEN, "HOLDER_PROOF_REPLAYED")
        return verified

    def _sub_lease_standing(
        self, lease_id: bytes, claims: LeaseClaims, now: MonotonicTime
    ) -> Deny | None:
        """§14.8: a child stands while its parent does (recorded, not revoked, not released,
        not ended by time) and while it has a call left."""
        parent = claims.parent
        assert parent is not None
        record = self._store.sub_lease(lease_id)
        parent_lease = self._store.lease(parent.lease_id)
        parent_claims = None if parent_lease is None else _stored_claims(parent_lease)
        if (
            record is None
            or parent_claims is None
            or record.parent_id != parent.lease_id
            or self._store.revocations.lookup(parent.lease_id) is not None
            or self._store.release(parent.lease_id) is not None
            or time_standing(parent_claims, now) is not None
        ):
            return deny(Code.LEASE_REVOKED, "PARENT_ENDED")
        if record.used >= record.calls:
            return deny(Code.LEASE_REVOKED, "CALLS_EXHAUSTED")
        return None

    def _authorization_body(
        self,
        now: MonotonicTime | None,
        trust_digest: bytes | None,
        token: bytes,
        holder_proof: object,
        task_id: str,
        manifest_digest: bytes,
        verdict: VerifiedLease | Deny,
    ) -> dict[str, object]:
        lease_id = _lease_id_of(token)
        outcome = (
            {"result": "ALLOW"}
            if isinstance(verdict, VerifiedLease)
            else {
                "result": "DENY",
                **{k: v for k, v in _deny_json(verdict).items() if k != "decision"},
            }
        )
        return {
            "event": "authorization",
            "at": _time_json(now),
            "trust_digest": None if trust_digest is None else trust_digest.hex(),
            "lease_id": None if lease_id is None else lease_id.hex(),
            "task_id": recorded(task_id),
            "manifest_digest": manifest_digest.hex(),
            "token": (
                {"hex": token.hex()}
                if len(token) <= MAX_TOKEN_BYTES
                else {"unrecorded": "TOO_LARGE", "sha256": sha256(token).hex()}
            ),
            "holder_proof": recorded(holder_proof),
            "outcome": outcome,
        }

    # ----------------------------------------------------------------------------- revoke

    def revoke(self, lease_id: bytes | str, reason: str) -> Revocation:
        """Revoke a granted lease, durably, before returning (spec §12.6).

        Once this returns, every ``authorize`` of the lease, in every process sharing the
        state directory, denies it with ``LEASE_REVOKED/REVOKED``. Revoking a revoked lease
        returns the existing revocation. Raises ``UnknownLease`` for an id never granted here,
        ``StateError`` if the revocation was not acknowledged as durable: retry it. If its audit
        entry was written, the next transaction or open rolls it forward (spec §12.4), so a
        failed ``revoke`` may still take effect, never the reverse.
        """
        return self.revoke_many([lease_id], reason)[0]

    def revoke_many(self, lease_ids: Sequence[bytes | str], reason: str) -> list[Revocation]:
        """``revoke`` for a batch, as one operation: one clock reading, one durable commit.

        Returns one ``Revocation`` per id, in order, exactly as the same ``revoke`` calls one
        after the other would: an id revoked earlier (or earlier in this batch) gives the
        existing revocation with ``already_revoked`` true. The new revocations share one audit
        append and one store commit. If any id was never granted here, the batch raises
        ``UnknownLease`` before anything is written. ``StateError`` means the batch was not
        acknowledged; as for ``revoke``, revocations whose audit entries were written are then
        rolled forward by the next transaction or open (spec §12.4), never undone. An empty
        batch is a no-op (returns ``[]``, records nothing); more than ``MAX_REVOKE_BATCH`` ids
        is a ``UsageError``, so that one transaction stays bounded.
        """
        if isinstance(lease_ids, (str, bytes)) or not isinstance(lease_ids, Sequence):
            raise UsageError("lease_ids is a sequence of lease ids")
        if len(lease_ids) > MAX_REVOKE_BATCH:
            raise UsageError(f"at most {MAX_REVOKE_BATCH} lease ids per revoke_many")
        identifiers = [_normalise_lease_id(lease_id) for lease_id in lease_ids]
        if type(reason) is not str or not _REASON.fullmatch(reason):
            raise UsageError(
                f"a revocation reason is 1 to {MAX_REASON_CHARS} characters, no control characters"
            )
        if not identifiers:
            return []
        distinct = list(dict.fromkeys(identifiers))
        with self._operation():
            now = self._clock.now()
            revocations: dict[bytes, Revocation] = {}
            with self._transaction():
                for identifier in distinct:
                    if self._store.lease(identifier) is None:
                        raise UnknownLease(f"no lease {identifier.hex()} was granted here")
                bodies: list[dict[str, Any]] = []
                for identifier in distinct:
                    existing = self._store.revocations.lookup(identifier)
                    if existing is not None:
                        revocations[identifier] = _revocation(existing, True)
                    else:
                        bodies.append(self._revocation_body(identifier, reason, "explicit", now))
                if bodies:
                    for entry in self._append(bodies):
                        record = self._register(entry)
                        revocations[record.lease_id] = _revocation(record, False)
                    settled = self._revoked_settlements(
                        lease_id for lease_id, r in revocations.items() if not r.already_revoked
                    )
                    if settled:
                        self._append(settled)
            answers: list[Revocation] = []
            answered: set[bytes] = set()
            for identifier in identifiers:
                revocation = revocations[identifier]
                if identifier in answered:  # a repeat within the batch finds it revoked
                    revocation = attrs.evolve(revocation, already_revoked=True)
                answered.add(identifier)
                answers.append(revocation)
            return answers

    # ----------------------------------------------------------------------------- release

    def release(self, lease_id: bytes | str, usage: object, holder_proof: object) -> ReleaseReceipt:
        """End a recorded lease early and settle what it used (spec §14.7).

        ``usage`` is ``{"units": int, "spend_cents": int}`` (or a ``release.Usage``): what the
        lease really used. ``holder_proof`` proves possession of the token's holder key over
        the lease id and a fresh challenge (§7.2); it is used up like an authorization's.
        Raises ``ReleaseRejected`` (nothing recorded) for an unknown lease, bad usage, a bad or
        replayed proof, a lease already released, revoked (settled at its reservation when it
        was revoked) or ended by time (settled at its reservation). Otherwise the ``release``
        and ``settlement`` entries are committed, every sub-lease of the lease ends, and the
        issuer-signed receipt bound to the checkpoint that covers the release is returned.
        """
        identifier = _normalise_lease_id(lease_id)
        if isinstance(usage, Usage):
            settled = usage
        else:
            try:
                settled = Usage.from_json(usage)
            except UsageError as exc:
                raise ReleaseRejected(ReleaseRejection.BAD_USAGE, str(exc)) from None
        with self._operation():
            now = self._clock.now()
            reserved: Usage | None = None
            with self._transaction():
                lease = self._store.lease(identifier)
                claims = None if lease is None else _stored_claims(lease)
                if claims is None:
                    raise ReleaseRejected(
                        ReleaseRejection.UNKNOWN_LEASE, f"no lease {identifier.hex()} here"
                    )
                refused = holder_proof_failure(claims, holder_proof)
                if refused is not None:
                    raise ReleaseRejected(ReleaseRejection.HOLDER_PROOF_INVALID, refused.message)
                assert isinstance(holder_proof, dict)
                challenge = bytes.fromhex(holder_proof["challenge"])
                if self._store.proof_used(identifier, challenge):
                    raise ReleaseRejected(
                        ReleaseRejection.HOLDER_PROOF_REPLAYED, "sign a fresh challenge"
                    )
                if self._store.release(identifier) is not None:
                    raise ReleaseRejected(
                        ReleaseRejection.ALREADY_RELEASED, "the lease was released before"
                    )
                if self._store.revocations.lookup(identifier) is not None:
                    raise ReleaseRejected(
                        ReleaseRejection.REVOKED,
                        "a revoked lease was settled at its reservation when it was revoked",
                    )
                late = time_standing(claims, now)
                if late is not None:
                    raise ReleaseRejected(
                        ReleaseRejection.EXPIRED,
                        f"{late.message}: it is settled at its reservation",
                    )
                reservation = self._store.reservation(identifier)
                if reservation is not None:
                    reserved = Usage(reservation.units, reservation.spend_cents)
                sweep = self._expiry_settlements(now) if reservation is not None else []
                release_body: dict[str, Any] = {
                    "event": "release",
                    "at": now.to_json(),
                    "lease_id": identifier.hex(),
                    "usage": settled.to_json(),
                    "reserved": None if reserved is None else reserved.to_json(),
                    "holder_proof": recorded(holder_proof),
                }
                settlement = (
                    []
                    if reservation is None
                    else [
                        settlement_body(reservation, "RELEASED", settled.units, settled.spend_cents)
                    ]
                )
                entries = self._append([*sweep, release_body, *settlement])
                release_entry = entries[len(sweep)]
                self._store.record_proof(identifier, challenge, release_entry.seq)
                self._store.insert_release(
                    ReleaseRecord(
                        identifier,
                        now.epoch,
                        now.ns,
                        settled.units,
                        settled.spend_cents,
                        release_entry.seq,
                    )
                )
                if reservation is not None:
                    self._store.settle_reservation(
                        identifier, RELEASED, settled.units, settled.spend_cents
                    )
            note = self._store.meta(_CHECKPOINT_KEY)
            if note is None:  # pragma: no cover - every commit seals a checkpoint
                raise StateError(StateFailure.STORE_UNAVAILABLE, "no checkpoint was signed")
            return sign_release_receipt(
                self._signer,
                lease_id=identifier,
                policy_digest=claims.policy_digest,
                released_at=now,
                reserved=reserved,
                settled=settled,
                audit_seq=release_entry.seq,
                checkpoint=note,
            )

    # ----------------------------------------------------------------------------- sub-leases

    def derive_sub_lease(
        self,
        parent_token: bytes,
        holder_proof: object,
        *,
        tool: object,
        calls: object,
        ttl_ns: object,
        holder_public_key: object | None = None,
    ) -> Decision:
        """Derive an attenuated child lease for one tool call (spec §14.8), durably.

        The parent must be a lease recorded here whose holder proves possession (a fresh
        challenge, used up), still standing (§8: time, revocation, policy, trust) and not
        released. The kernel's ``derive`` then judges the tool, calls, time to live and holder
        key (``holder_public_key`` defaults to the parent's holder). A GRANT is returned only
        once its ``sub_lease`` entry and the child are committed; every outcome is audited.
        """
        if type(parent_token) is not bytes:
            raise UsageError("a token is bytes")
        with self._operation():
            now: MonotonicTime | None = None
            try:
                now = self._clock.now()
                trust = self._trust.current()
            except StateError as exc:
                return exc.deny()
            entries: list[AuditEntry] = []
            decision: Decision = deny(Code.INVALID_TOKEN, "UNKNOWN_LEASE")
            try:
                with self._transaction():
                    parent_id = _lease_id_of(parent_token)
                    lease = None if parent_id is None else self._store.lease(parent_id)
                    claims = None if lease is None else _stored_claims(lease)
                    # Who decided: the manager (the parent is unknown, unproven, not standing
                    # or released) or the kernel's derive, which replay re-runs (§12.10).
                    judged_by = "manager"
                    holder: object = holder_public_key
                    refusal: Deny | None = deny(Code.INVALID_TOKEN, "UNKNOWN_LEASE")
                    if lease is not None and claims is not None and lease.token == parent_token:
                        refusal = self._parent_refusal(lease, claims, holder_proof, now, trust)
                        if holder_public_key is None:
                            holder = claims.holder_public_key
                        else:
                            holder = _key_bytes(holder_public_key)
                    if refusal is not None or claims is None:
                        decision = refusal or deny(Code.INVALID_TOKEN, "UNKNOWN_LEASE")
                    else:
                        judged_by = "kernel"
                        decision = derive(self._authority, claims, now, tool, calls, ttl_ns, holder)
                    body = {
                        "event": "sub_lease",
                        "at": now.to_json(),
                        "issuer_kid": self._authority.kid.hex(),
                        "policy_digest": self._authority.policy_digest.hex(),
                        "judged_by": judged_by,
                        "parent_token": (
                            {"hex": parent_token.hex()}
                            if len(parent_token) <= MAX_TOKEN_BYTES
                            else {"unrecorded": "TOO_LARGE"}
                        ),
                        "parent_lease_id": None if parent_id is None else parent_id.hex(),
                        "tool": recorded(tool),
                        "calls": recorded(calls),
                        "ttl_ns": recorded(ttl_ns),
                        "holder_public_key": recorded(
                            holder.hex() if type(holder) is bytes else holder
                        ),
                        "holder_proof": recorded(holder_proof),
                        "outcome": outcome_record(decision),
                    }
                    entries = self._append([body])
                    if isinstance(decision, Grant):
                        assert parent_id is not None and isinstance(holder_proof, dict)
                        seq = entries[-1].seq
                        challenge = bytes.fromhex(holder_proof["challenge"])
                        self._store.record_proof(parent_id, challenge, seq)
                        self._store.insert_lease(self._lease_record(decision, seq))
                        parent = decision.claims.parent
                        assert parent is not None
                        self._store.insert_sub_lease(
                            SubLeaseRecord(
                                decision.lease_id, parent_id, parent.tool, parent.calls, 0, seq
                            )
                        )
            except StateError as exc:
                self._void_grants(exc, [decision], entries)
                return exc.deny()
            return decision

    def _parent_refusal(
        self,
        lease: LeaseRecord,
        claims: LeaseClaims,
        holder_proof: object,
        now: MonotonicTime,
        trust: TrustSnapshot,
    ) -> Deny | None:
        """Why a recorded parent cannot be derived from: its proof, standing, release."""
        refused = holder_proof_failure(claims, holder_proof)
        if refused is not None:
            return refused
        assert isinstance(holder_proof, dict)
        if self._store.proof_used(lease.lease_id, bytes.fromhex(holder_proof["challenge"])):
            return deny(Code.INVALID_TOKEN, "HOLDER_PROOF_REPLAYED")
        judged = standing(
            claims, now, trust, self._standing_policy(), _RegistryView(self._store.revocations)
        )
        if isinstance(judged, Deny):
            return judged
        if self._store.release(lease.lease_id) is not None:
            return deny(Code.LEASE_REVOKED, "RELEASED")
        return None

    # ----------------------------------------------------------------------------- pools

    def pools(self) -> PoolStatus:
        """What is in flight and spent now, per scope of the policy's pools (§14.6).

        The usage snapshot the next ``acquire`` would start from (before expiry settlement,
        which only a transaction performs: an ended lease shows as not in flight here anyway).
        """
        with self._operation():
            governance = self._authority.governance
            pools = None if governance is None else governance.pools
            if pools is None:
                raise UsageError("this manager's policy has no pools")
            now = self._clock.now()
            day = self._calendar.today()
            records = self._store.usage_reservations(
                now.epoch, reservation_window_start(pools, now), day
            )
            usage = usage_document(day, [reservation_json(r) for r in records], [])
            parsed = parse_usage(usage)
            if isinstance(parsed, Failure):  # the store's own rows always make a valid snapshot
                raise StateError(
                    StateFailure.STORE_UNAVAILABLE,
                    f"the stored reservations make no valid usage snapshot at {parsed.path}",
                )
            return PoolStatus(now, day, usage, tuple(scope_counts(pools, parsed, now)))

    # ----------------------------------------------------------------------------- trust

    def apply_trust_snapshot(self, snapshot: object) -> TrustApplied:
        """Make ``snapshot`` current and revoke every live lease whose trust decayed (§12.7).

        The snapshot is validated (``TrustSnapshotRejected`` if it is invalid, or older than
        the current one: a lower sequence, or the same sequence with other scores). It is
        published through the trust source first, so from then on nothing is granted or
        authorized on the old scores; then every live lease is re-judged and those below
        their threshold are revoked with cause ``trust_decay``, in one audited transaction.
        """
        parsed = parse_trust_snapshot(snapshot)
        if isinstance(parsed, Failure):
            raise TrustSnapshotRejected(
                f"trust snapshot is not valid at {parsed.path}: {parsed.reason}"
            )
        with self._operation():
            try:
                current: TrustSnapshot | None = self._trust.current()
            except StateError:
                current = None  # an unreadable snapshot is what a new one repairs
            if current is not None and (
                parsed.sequence < current.sequence
                or (parsed.sequence == current.sequence and parsed.digest != current.digest)
            ):
                raise TrustSnapshotRejected(
                    f"trust snapshot sequence {parsed.sequence} does not follow the current "
                    f"sequence {current.sequence}"
                )
            now = self._clock.now()
            self._trust.publish(parsed)
            revoked: list[bytes] = []
            with self._transaction():
                bodies: list[dict[str, Any]] = [self._trust_body(parsed, now, applied=True)]
                for lease in self._store.live_leases(now.epoch, now.ns):
                    claims = _stored_claims(lease)
                    if claims is None:  # a damaged record: authorize refuses it already
                        continue
                    judged = standing(claims, now, parsed, self._standing_policy())
                    if isinstance(judged, Deny) and judged.reason == "TRUST_DECAYED":
                        body = self._revocation_body(
                            lease.lease_id, _TRUST_DECAY_REASON, "trust_decay", now
                        )
                        bodies.append({**body, "trust_digest": parsed.digest.hex()})
                entries = self._append(bodies)
                self._commit_trust(entries)
                for entry in entries[1:]:
                    revoked.append(self._register(entry).lease_id)
                settled = self._revoked_settlements(revoked)
                if settled:
                    self._append(settled)
            self._recorded_trust.add(parsed.digest)
            return TrustApplied(parsed.sequence, parsed.digest, tuple(revoked))

    # ----------------------------------------------------------------------------- status

    def status(self) -> ManagerStatus:
        """Every stored lease judged now: live, expired, revoked (with why) or ended."""
        with self._operation():
            now = self._clock.now()
            try:
                snapshot: TrustSnapshot | None = self._trust.current()
            except StateError:
                snapshot = None
            revocations = {record.lease_id: record for record in self._store.revocations.all()}
            judged: list[LeaseStatus] = []
            for lease in self._store.leases():
                judged.append(self._lease_status(lease, now, snapshot, revocations))
            return ManagerStatus(
                now,
                None if snapshot is None else snapshot.sequence,
                tuple(judged),
                self._store.audit_head() or self._audit.head(),
            )

    def _lease_status(
        self,
        lease: LeaseRecord,
        now: MonotonicTime,
        snapshot: TrustSnapshot | None,
        revocations: Mapping[bytes, RevocationRecord],
    ) -> LeaseStatus:
        revocation = revocations.get(lease.lease_id)
        if revocation is not None:
            return LeaseStatus(lease, "revoked", str(Code.LEASE_REVOKED), revocation.cause)
        claims = _stored_claims(lease)
        if claims is None:
            return LeaseStatus(lease, "ended", str(Code.UNAVAILABLE), "STORE_UNAVAILABLE")
        late = time_standing(claims, now)
        if late is not None:
            return LeaseStatus(lease, "expired", str(late.code), late.reason)
        if snapshot is None:
            return LeaseStatus(lease, "ended", str(Code.UNAVAILABLE), "TRUST_UNAVAILABLE")
        judged = standing(claims, now, snapshot, self._standing_policy())
        if isinstance(judged, Deny):
            return LeaseStatus(lease, "ended", str(judged.code), judged.reason)
        return LeaseStatus(lease, "live", None, None)

    def verify_audit(self) -> VerifyReport:
        """Check the whole audit chain (``pda-lease audit verify``)."""
        with self._operation():
            return self._audit.verify()

    # ----------------------------------------------------------------------------- approvals

    def submit_approval(self, document: object) -> ReviewStatus:
        """Record a reviewer's signed approval (or DENY) in the approvals queue (spec §13.11).

        Checks, in this order, raising ``ApprovalRejected`` with the first failure's reason
        (nothing is recorded then): the document is a well-formed Approval (``MALFORMED``);
        its reviewer is registered in the current policy (``UNKNOWN_REVIEWER``); its signature
        verifies (``BAD_SIGNATURE``); the queue holds a review of its manifest digest
        (``NO_SUCH_REVIEW``); it was signed in the current clock epoch (``EPOCH_MISMATCH``)
        and not later than now (``FROM_FUTURE``); it is not a second DENY by a reviewer whose
        DENY is already recorded (``ALREADY_DENIED``: the first one is final). Then the
        document is appended to the audit log (``approval``) and committed to the queue, and
        the review's status is returned. Submitting a document already recorded returns the
        status and records nothing. Only a governed manager has a queue (else ``UsageError``);
        ``StateError`` means the approval was not acknowledged (if its audit entry was
        written, it is rolled forward, spec §12.4).
        """
        governance = self._authority.governance
        if governance is None:
            raise UsageError("only a manager under a governance policy has an approvals queue")
        approval = parse_approval(document)
        if isinstance(approval, Failure):
            raise ApprovalRejected(
                ApprovalRejection.MALFORMED,
                f"the approval is malformed at {under('approval', approval.path)} "
                f"({approval.reason})",
            )
        reviewer_hex = approval.reviewer.hex()
        if approval.reviewer not in governance.reviewers:
            raise ApprovalRejected(
                ApprovalRejection.UNKNOWN_REVIEWER,
                f"{reviewer_hex} is not a reviewer registered in the current policy",
            )
        signed = approval_signed_bytes(
            approval.reviewer, approval.manifest_digest, approval.verdict, approval.signed_at
        )
        if not verify_signature(approval.reviewer, signed, approval.signature):
            raise ApprovalRejected(
                ApprovalRejection.BAD_SIGNATURE,
                f"the signature does not verify with the reviewer's key {reviewer_hex}",
            )
        text = canonical_json(document).decode("utf-8")
        digest = approval.manifest_digest
        with self._operation():
            now = self._clock.now()
            with self._transaction():
                review = self._store.review(digest)
                if review is None:
                    raise ApprovalRejected(
                        ApprovalRejection.NO_SUCH_REVIEW,
                        f"no review of manifest {digest.hex()} is in the queue",
                    )
                if approval.signed_at.epoch != now.epoch:
                    raise ApprovalRejected(
                        ApprovalRejection.EPOCH_MISMATCH,
                        f"the approval was signed in clock epoch {approval.signed_at.epoch}, "
                        f"not the current {now.epoch}; sign it again",
                    )
                if approval.signed_at.ns > now.ns:
                    raise ApprovalRejected(
                        ApprovalRejection.FROM_FUTURE,
                        f"the approval was signed at {approval.signed_at.ns} ns, later than "
                        f"now ({now.ns} ns)",
                    )
                recorded_approvals = self._store.approvals(digest)
                if not any(record.document == text for record in recorded_approvals):
                    if approval.verdict == DENY and any(
                        record.verdict == DENY and record.reviewer == approval.reviewer
                        for record in recorded_approvals
                    ):
                        raise ApprovalRejected(
                            ApprovalRejection.ALREADY_DENIED,
                            f"{reviewer_hex} already denied manifest {digest.hex()}; "
                            "a denial is final",
                        )
                    body = {
                        "event": "approval",
                        "at": now.to_json(),
                        "manifest_digest": digest.hex(),
                        "reviewer": reviewer_hex,
                        "verdict": approval.verdict,
                        "document": document,
                    }
                    (entry,) = self._append([body])
                    self._register_approval(entry)
            return self._review_status(review, governance)

    def reviews(self) -> list[ReviewStatus]:
        """Every review request of the approvals queue, oldest first (spec §13.11)."""
        with self._operation():
            governance = self._authority.governance
            return [self._review_status(record, governance) for record in self._store.reviews()]

    def review(self, manifest_digest: bytes | str) -> ReviewStatus | None:
        """The review of one manifest digest (32 bytes or 64 hex digits), or None."""
        digest = _normalise_digest(manifest_digest)
        with self._operation():
            record = self._store.review(digest)
            if record is None:
                return None
            return self._review_status(record, self._authority.governance)

    def _review_status(
        self, record: ReviewRecord, governance: GovernancePolicy | None
    ) -> ReviewStatus:
        reviewers: Mapping[bytes, str] = {} if governance is None else governance.reviewers
        principal = None if governance is None else governance.principals.get(record.principal)
        approvals: list[ReviewApproval] = []
        for stored in self._store.approvals(record.manifest_digest):
            at = _stored_document(stored)["signed_at"]
            approvals.append(
                ReviewApproval(
                    stored.reviewer,
                    reviewers.get(stored.reviewer),
                    stored.verdict,
                    MonotonicTime(at["epoch"], at["ns"]),
                    stored.audit_seq,
                )
            )
        return ReviewStatus(
            manifest_digest=record.manifest_digest,
            task_id=record.task_id,
            capability_id=record.capability_id,
            principal=record.principal,
            principal_name=None if principal is None else principal.name,
            rule=record.rule,
            requested_at=MonotonicTime(record.requested_epoch, record.requested_ns),
            audit_seq=record.audit_seq,
            approvals=tuple(approvals),
            state="denied" if any(a.verdict == DENY for a in approvals) else "pending",
        )

    # ----------------------------------------------------------------------------- close

    def close(self) -> None:
        """Release the store and the audit log. Idempotent; later calls raise ``UsageError``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._audit.close()
            self._store.close()
