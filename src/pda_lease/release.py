"""Release receipts (spec §14.7): what a released lease was settled at, signed by the issuer.

A release ends a lease before its expiry and settles what it used. The receipt the manager
returns binds the lease id, the policy digest it was granted under, the release time, the
reservation and the settlement to the signed checkpoint of the audit log that covers the
``release`` entry, and is itself signed by the issuer's key over one canonical byte string.
``verify_release_receipt`` trusts nothing inside the document: the signature and the
checkpoint must both verify with the key the caller already trusts, and the checkpoint must
cover the entry the receipt names.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from pda_lease.kernel.cbor import encode
from pda_lease.kernel.crypto import Signer, verify_signature
from pda_lease.kernel.errors import ReasonedError, UsageError
from pda_lease.kernel.inputs import MonotonicTime
from pda_lease.transparency.checkpoint import Checkpoint, NoteError, VerifierKey, open_checkpoint

RELEASE_VERSION = 1
RELEASE_CONTEXT = "PDA-RELEASE-v1"
MAX_USAGE = (1 << 53) - 1
_MEMBERS = frozenset(
    {
        "release_version",
        "lease_id",
        "policy_digest",
        "released_at",
        "reserved",
        "settled",
        "overrun",
        "audit_seq",
        "checkpoint",
        "signature",
    }
)


class ReleaseReceiptFailure(enum.StrEnum):
    MALFORMED = "MALFORMED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    BAD_CHECKPOINT = "BAD_CHECKPOINT"


class ReleaseReceiptError(ReasonedError[ReleaseReceiptFailure]):
    """A release receipt was refused; ``reason`` says why."""


@attrs.frozen
class Usage:
    """Units and spend (integer cents): a reservation or a settlement."""

    units: int
    spend_cents: int

    def __attrs_post_init__(self) -> None:
        for value in (self.units, self.spend_cents):
            if type(value) is not int or not 0 <= value <= MAX_USAGE:
                raise UsageError("units and spend_cents are integers in [0, 2^53-1]")

    def to_json(self) -> dict[str, int]:
        return {"units": self.units, "spend_cents": self.spend_cents}

    @classmethod
    def from_json(cls, document: object) -> Usage:
        """``{"units", "spend_cents"}`` exactly; raises ``UsageError`` otherwise."""
        if type(document) is not dict or set(document) != {"units", "spend_cents"}:
            raise UsageError('usage is {"units": int, "spend_cents": int}')
        return cls(document["units"], document["spend_cents"])


@attrs.frozen
class ReleaseReceipt:
    """A signed release receipt (§14.7). ``to_json`` is the document a verifier reads."""

    lease_id: bytes
    policy_digest: bytes
    released_at: MonotonicTime
    reserved: Usage | None
    settled: Usage
    overrun: bool
    audit_seq: int
    checkpoint: str = attrs.field(repr=False)
    signature: bytes = attrs.field(repr=False)

    def to_json(self) -> dict[str, object]:
        return {
            "release_version": RELEASE_VERSION,
            "lease_id": self.lease_id.hex(),
            "policy_digest": self.policy_digest.hex(),
            "released_at": self.released_at.to_json(),
            "reserved": None if self.reserved is None else self.reserved.to_json(),
            "settled": self.settled.to_json(),
            "overrun": self.overrun,
            "audit_seq": self.audit_seq,
            "checkpoint": self.checkpoint,
            "signature": self.signature.hex(),
        }


def release_signed_bytes(
    lease_id: bytes,
    policy_digest: bytes,
    released_at: MonotonicTime,
    reserved: Usage | None,
    settled: Usage,
    overrun: bool,
    audit_seq: int,
    checkpoint: str,
) -> bytes:
    """The bytes the issuer signs (spec §14.7)."""
    return encode(
        [
            RELEASE_CONTEXT,
            lease_id,
            policy_digest,
            released_at.epoch,
            released_at.ns,
            None if reserved is None else [reserved.units, reserved.spend_cents],
            [settled.units, settled.spend_cents],
            overrun,
            audit_seq,
            checkpoint,
        ]
    )


def sign_release_receipt(
    signer: Signer,
    *,
    lease_id: bytes,
    policy_digest: bytes,
    released_at: MonotonicTime,
    reserved: Usage | None,
    settled: Usage,
    audit_seq: int,
    checkpoint: str,
) -> ReleaseReceipt:
    overrun = reserved is not None and (
        settled.spend_cents > reserved.spend_cents or settled.units > reserved.units
    )
    signature = signer.sign(
        release_signed_bytes(
            lease_id, policy_digest, released_at, reserved, settled, overrun, audit_seq, checkpoint
        )
    )
    return ReleaseReceipt(
        lease_id,
        policy_digest,
        released_at,
        reserved,
        settled,
        overrun,
        audit_seq,
        checkpoint,
        signature,
    )


def _malformed(detail: str) -> ReleaseReceiptError:
    return ReleaseReceiptError(ReleaseReceiptFailure.MALFORMED, detail)


def _hex(value: object, name: str, size: int) -> bytes:
    if type(value) is not str or len(value) != 2 * size or value != value.lower():
        raise _malformed(f"{name} is {size} bytes of lowercase hex")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _malformed(f"{name} is not hex") from None


def _usage(value: object, name: str) -> Usage:
    try:
        return Usage.from_json(value)
    except UsageError as exc:
        raise _malformed(f"{name}: {exc}") from None


@attrs.frozen
class VerifiedRelease:
    receipt: ReleaseReceipt
    checkpoint: Checkpoint


def verify_release_receipt(document: object, verifier: VerifierKey) -> VerifiedRelease:
    """Verify a release receipt against the issuer key the caller trusts (raises on failure).

    ``document`` is the parsed JSON. Checks, first failure deciding: the exact shape
    (``MALFORMED``), the issuer's signature (``BAD_SIGNATURE``), then the checkpoint: signed by
    the same key as a pda-lease audit log checkpoint and covering ``audit_seq``
    (``BAD_CHECKPOINT``).
    """
    if not isinstance(verifier, VerifierKey):
        raise UsageError("verifier is a VerifierKey the caller already trusts")
    if not isinstance(document, Mapping) or set(document) != _MEMBERS:
        raise _malformed(f"a release receipt has exactly {sorted(_MEMBERS)}")
    if (
        document["release_version"] != RELEASE_VERSION
        or type(document["release_version"]) is not int
    ):
        raise _malformed("release_version is not 1")
    lease_id = _hex(document["lease_id"], "lease_id", 16)
    policy_digest = _hex(document["policy_digest"], "policy_digest", 32)
    try:
        released_at = MonotonicTime.from_json(document["released_at"])
    except (UsageError, TypeError, KeyError) as exc:
        raise _malformed(f"released_at: {exc}") from None
    reserved_doc = document["reserved"]
    reserved = None if reserved_doc is None else _usage(reserved_doc, "reserved")
    settled = _usage(document["settled"], "settled")
    overrun, audit_seq, note = document["overrun"], document["audit_seq"], document["checkpoint"]
    if type(overrun) is not bool:
        raise _malformed("overrun is a boolean")
    if type(audit_seq) is not int or audit_seq < 0:
        raise _malformed("audit_seq is a non-negative integer")
    if type(note) is not str:
        raise _malformed("checkpoint is a signed note")
    signature = _hex(document["signature"], "signature", 64)
    signed = release_signed_bytes(
        lease_id, policy_digest, released_at, reserved, settled, overrun, audit_seq, note
    )
    if not verify_signature(verifier.public_key, signed, signature):
        raise ReleaseReceiptError(
            ReleaseReceiptFailure.BAD_SIGNATURE, "the receipt is not signed by the trusted key"
        )
    origin = note.split("\n", 1)[0]
    if not origin.startswith("pda-lease.audit/"):
        raise ReleaseReceiptError(
            ReleaseReceiptFailure.BAD_CHECKPOINT, "not the checkpoint of a pda-lease audit log"
        )
    try:
        checkpoint = open_checkpoint(note, [verifier], origin=origin).checkpoint
    except NoteError as exc:
        raise ReleaseReceiptError(ReleaseReceiptFailure.BAD_CHECKPOINT, str(exc)) from None
    if checkpoint.size <= audit_seq:
        raise ReleaseReceiptError(
            ReleaseReceiptFailure.BAD_CHECKPOINT,
            f"the checkpoint covers {checkpoint.size} entries, not entry {audit_seq}",
        )
    receipt = ReleaseReceipt(
        lease_id,
        policy_digest,
        released_at,
        reserved,
        settled,
        overrun,
        audit_seq,
        note,
        signature,
    )
    return VerifiedRelease(receipt, checkpoint)


__all__ = [
    "ReleaseReceipt",
    "ReleaseReceiptError",
    "ReleaseReceiptFailure",
    "Usage",
    "VerifiedRelease",
    "release_signed_bytes",
    "sign_release_receipt",
    "verify_release_receipt",
]
