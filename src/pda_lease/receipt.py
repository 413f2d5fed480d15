"""Receipts: what happened to one lease, provable offline against a key the verifier trusts.

A receipt is one canonical JSON document (sorted keys, no whitespace, UTF-8, one final newline):

    {"receipt_version": 1, "lease_id": hex, "token": hex, "checkpoint": <signed note>,
     "entries": [{"seq": n, "line": <audit line>, "proof": [hex, ...]}, ...]}

``entries`` are the audit lines that concern the lease (its GRANT decision, authorizations,
revocation, voids), in log order, each with its RFC 9162 inclusion proof in the tree of the
signed checkpoint. ``verify_receipt`` trusts nothing inside the receipt: the checkpoint must be
signed by the verifier key the caller supplies, every line must be included under its root, the
token must carry the issuer's signature (the same key) and be the one the GRANT entry recorded,
and the bytes must be exactly the canonical form, so any edit of any byte is detected.

A receipt proves that what it shows is in the log; it cannot prove that nothing was left out
(that needs the log itself, or a later checkpoint and the log's consistency).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import Any

import attrs

from pda_lease.adapters.audit import entry_hash_of, merkle_leaf, read_verified_entries
from pda_lease.adapters.errors import StateError, StateFailure
from pda_lease.adapters.jsonio import JsonInputError, canonical_json, parse_json
from pda_lease.kernel.crypto import cose_key_thumbprint, verify_signature
from pda_lease.kernel.errors import InvalidLease, ReasonedError, UsageError
from pda_lease.kernel.token import LeaseClaims, decode_unverified, sig_structure
from pda_lease.transparency.checkpoint import (
    Checkpoint,
    NoteError,
    VerifierKey,
    open_checkpoint,
)
from pda_lease.transparency.merkle import MerkleTree, ProofError, verify_inclusion

RECEIPT_VERSION = 1
MAX_RECEIPT_BYTES = 16 << 20
_MEMBERS = {"receipt_version", "lease_id", "token", "checkpoint", "entries"}
_LEASE_EVENTS = {
    "decision",
    "authorization",
    "revocation",
    "revocation_recovered",
    "grant_void",
    "authorization_void",
    "release",
    "release_recovered",
    "settlement",
    "sub_lease",
}
# The events that grant a lease: a decision, or the derivation of a sub-lease (§14.8).
_GRANT_EVENTS = {"decision", "sub_lease"}


class ReceiptFailure(enum.StrEnum):
    MALFORMED = "MALFORMED"
    NOT_CANONICAL = "NOT_CANONICAL"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    BAD_CHECKPOINT = "BAD_CHECKPOINT"
    NOT_INCLUDED = "NOT_INCLUDED"
    WRONG_LEASE = "WRONG_LEASE"
    BAD_TOKEN = "BAD_TOKEN"
    NO_GRANT = "NO_GRANT"


class ReceiptError(ReasonedError[ReceiptFailure]):
    """A receipt that does not verify (or cannot be exported); ``reason`` says which check."""


@attrs.frozen
class VerifiedReceipt:
    """A receipt that verified: the lease, the checkpoint it is proven under, its events."""

    lease_id: bytes
    claims: LeaseClaims
    checkpoint: Checkpoint
    events: tuple[Mapping[str, Any], ...] = attrs.field(repr=False)

    @property
    def revoked(self) -> bool:
        return any(e["event"] in {"revocation", "revocation_recovered"} for e in self.events)

    @property
    def authorizations(self) -> int:
        return sum(
            e["event"] == "authorization" and e["outcome"] == {"result": "ALLOW"}
            for e in self.events
        )

    def to_json(self) -> dict[str, object]:
        return {
            "lease_id": self.lease_id.hex(),
            "task_id": self.claims.task_id,
            "capability_id": self.claims.capability_id,
            "issued_at_ns": self.claims.issued_at_ns,
            "expires_at_ns": self.claims.expires_at_ns,
            "clock_epoch": self.claims.clock_epoch,
            "checkpoint_size": self.checkpoint.size,
            "checkpoint_origin": self.checkpoint.origin,
            "events": [e["event"] for e in self.events],
            "allowed_authorizations": self.authorizations,
            "revoked": self.revoked,
        }


def _concerns(record: Mapping[str, Any], lease_hex: str) -> bool:
    if record.get("event") not in _LEASE_EVENTS:
        return False
    if record["event"] in _GRANT_EVENTS:
        outcome = record.get("outcome")
        return isinstance(outcome, dict) and outcome.get("lease_id") == lease_hex
    return bool(record.get("lease_id") == lease_hex)


def export_receipt(
    audit_path: str | os.PathLike[str], checkpoint_note: str, lease_id: bytes
) -> bytes:
    """Build the receipt of ``lease_id`` under ``checkpoint_note`` from the log at ``audit_path``.

    The log is read up to the checkpoint's size with its chain verified; raises
    ``StateError`` if it cannot be, ``ReceiptError(NO_GRANT)`` if the lease was not granted
    within the checkpoint.
    """
    if type(lease_id) is not bytes or len(lease_id) != 16:
        raise UsageError("a lease id is 16 bytes")
    text = checkpoint_note.split("\n\n", 1)[0] + "\n"
    checkpoint = Checkpoint.parse(text)
    # One verified pass: every leaf for the tree, and the lines about this lease kept aside.
    lease_hex = lease_id.hex()
    tree = MerkleTree()
    mine: list[tuple[int, bytes]] = []
    token: str | None = None
    for entry, line in read_verified_entries(audit_path, checkpoint.size):
        tree.append(entry.leaf_hash)
        if not _concerns(entry.record, lease_hex):
            continue
        outcome = entry.record.get("outcome")
        if isinstance(outcome, dict) and outcome.get("decision") == "GRANT":
            token = str(outcome["token"])
        mine.append((entry.seq, line))
    if tree.root() != checkpoint.root_hash:
        raise StateError(
            StateFailure.AUDIT_UNAVAILABLE,
            "the log's Merkle root is not the checkpoint's: the log was rewritten",
        )
    entries = [
        {
            "seq": seq,
            "line": line.decode("utf-8"),
            "proof": [p.hex() for p in tree.inclusion_proof(seq, checkpoint.size)],
        }
        for seq, line in mine
    ]
    if token is None:
        raise ReceiptError(ReceiptFailure.NO_GRANT, f"lease {lease_hex} has no GRANT in the log")
    document = {
        "receipt_version": RECEIPT_VERSION,
        "lease_id": lease_hex,
        "token": token,
        "checkpoint": checkpoint_note,
        "entries": entries,
    }
    return canonical_json(document) + b"\n"


def _hex(value: object, name: str, size: int | None = None) -> bytes:
    if type(value) is not str:
        raise ReceiptError(ReceiptFailure.MALFORMED, f"{name} is not a hex string")
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise ReceiptError(ReceiptFailure.MALFORMED, f"{name} is not hex") from None
    if data.hex() != value or (size is not None and len(data) != size):
        raise ReceiptError(ReceiptFailure.MALFORMED, f"{name} is not {size} bytes of lowercase hex")
    return data


def verify_receipt(data: bytes, verifier: VerifierKey) -> VerifiedReceipt:
    """Verify a receipt offline against ``verifier``; raise ``ReceiptError`` on any failure."""
    if type(data) is not bytes:
        raise UsageError("a receipt is bytes")
    if not isinstance(verifier, VerifierKey):
        raise UsageError("verifier is a VerifierKey the caller already trusts")
    if len(data) > MAX_RECEIPT_BYTES:
        raise ReceiptError(ReceiptFailure.MALFORMED, "the receipt is too large")
    try:
        document = parse_json(data)
    except JsonInputError as exc:
        raise ReceiptError(ReceiptFailure.MALFORMED, str(exc)) from None
    if type(document) is not dict or set(document) != _MEMBERS:
        raise ReceiptError(ReceiptFailure.MALFORMED, f"a receipt has exactly {sorted(_MEMBERS)}")
    try:
        canonical = canonical_json(document) + b"\n"
    except ValueError:
        raise ReceiptError(ReceiptFailure.MALFORMED, "the receipt is not plain JSON") from None
    if canonical != data:
        raise ReceiptError(ReceiptFailure.NOT_CANONICAL, "the receipt is not in canonical form")
    if (
        document["receipt_version"] != RECEIPT_VERSION
        or type(document["receipt_version"]) is not int
    ):
        raise ReceiptError(ReceiptFailure.UNSUPPORTED_VERSION, "receipt_version is not 1")
    lease_id = _hex(document["lease_id"], "lease_id", 16)
    token = _hex(document["token"], "token")
    note = document["checkpoint"]
    if type(note) is not str:
        raise ReceiptError(ReceiptFailure.MALFORMED, "checkpoint is not a signed note")
    origin = note.split("\n", 1)[0]
    if not origin.startswith("pda-lease.audit/"):
        raise ReceiptError(
            ReceiptFailure.BAD_CHECKPOINT, "not the checkpoint of a pda-lease audit log"
        )
    try:
        checkpoint = open_checkpoint(note, [verifier], origin=origin).checkpoint
    except NoteError as exc:
        raise ReceiptError(ReceiptFailure.BAD_CHECKPOINT, str(exc)) from None
    claims = _check_token(token, lease_id, verifier)
    events = _check_entries(document["entries"], checkpoint, lease_id, token)
    return VerifiedReceipt(lease_id, claims, checkpoint, events)


def _check_token(token: bytes, lease_id: bytes, verifier: VerifierKey) -> LeaseClaims:
    try:
        decoded = decode_unverified(token)
    except InvalidLease as exc:
        raise ReceiptError(ReceiptFailure.BAD_TOKEN, str(exc)) from None
    if decoded.kid != cose_key_thumbprint(verifier.public_key) or not verify_signature(
        verifier.public_key, sig_structure(decoded.protected, decoded.payload), decoded.signature
    ):
        raise ReceiptError(ReceiptFailure.BAD_TOKEN, "the token is not signed by the trusted key")
    if decoded.claims.lease_id != lease_id:
        raise ReceiptError(ReceiptFailure.WRONG_LEASE, "the token is for another lease")
    return decoded.claims


def _check_entries(
    entries: object, checkpoint: Checkpoint, lease_id: bytes, token: bytes
) -> tuple[Mapping[str, Any], ...]:
    if type(entries) is not list or not entries:
        raise ReceiptError(ReceiptFailure.MALFORMED, "entries is a non-empty list")
    lease_hex = lease_id.hex()
    events: list[Mapping[str, Any]] = []
    grants = 0
    previous = -1
    for item in entries:
        if type(item) is not dict or set(item) != {"seq", "line", "proof"}:
            raise ReceiptError(ReceiptFailure.MALFORMED, "an entry is {seq, line, proof}")
        seq, line, proof = item["seq"], item["line"], item["proof"]
        if type(seq) is not int or not previous < seq < checkpoint.size:
            raise ReceiptError(
                ReceiptFailure.MALFORMED, "entries are in log order, inside the checkpoint"
            )
        previous = seq
        if type(line) is not str or type(proof) is not list:
            raise ReceiptError(ReceiptFailure.MALFORMED, f"entry {seq} is malformed")
        raw = line.encode("utf-8", "surrogatepass")
        path = [_hex(element, f"proof of entry {seq}", 32) for element in proof]
        try:
            verify_inclusion(merkle_leaf(raw), seq, checkpoint.size, path, checkpoint.root_hash)
        except ProofError as exc:
            raise ReceiptError(ReceiptFailure.NOT_INCLUDED, f"entry {seq}: {exc}") from None
        record = parse_json(raw)  # included under a signed root: written by the manager
        if (
            type(record) is not dict
            or record.get("seq") != seq
            or record.get("entry_hash") != entry_hash_of(record).hex()
        ):
            raise ReceiptError(ReceiptFailure.MALFORMED, f"entry {seq} is not an audit entry")
        if not _concerns(record, lease_hex):
            raise ReceiptError(ReceiptFailure.WRONG_LEASE, f"entry {seq} is about another lease")
        if record["event"] in _GRANT_EVENTS:
            if record["outcome"].get("token") != token.hex():
                raise ReceiptError(
                    ReceiptFailure.BAD_TOKEN, "the GRANT entry recorded another token"
                )
            grants += 1
        events.append(record)
    if grants != 1:
        raise ReceiptError(ReceiptFailure.NO_GRANT, "a receipt holds its lease's one GRANT entry")
    return tuple(events)
