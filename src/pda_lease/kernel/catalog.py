"""The closed error catalog of spec §5: every code, every reason, every message.

A DENY is a value, ``Deny(code, reason, field, message, recommendation)``. Codes and reasons are
closed sets: ``Deny`` cannot be built with a pair that is not in ``CATALOG``, so every outcome the
kernel can produce is enumerable, and the catalog is the single place where the words live.
``specs/error_catalog.json`` is generated from this table and a test checks both against the
spec's own tables.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from pda_lease.kernel.errors import UsageError


class Code(enum.StrEnum):
    """The categories of refusal: definition §7, ``INVALID_TOKEN`` (spec §5), the two
    governance categories (spec §13.9) and the pool and sub-lease categories (spec §14.5)."""

    INVALID_MANIFEST = "INVALID_MANIFEST"
    LEASE_EXPIRED = "LEASE_EXPIRED"
    INSUFFICIENT_TRUST = "INSUFFICIENT_TRUST"
    HRC_REQUIRED = "HRC_REQUIRED"
    LEASE_REVOKED = "LEASE_REVOKED"
    INVALID_TOKEN = "INVALID_TOKEN"
    UNAVAILABLE = "UNAVAILABLE"
    POLICY_DENIED = "POLICY_DENIED"
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    SUBLEASE_DENIED = "SUBLEASE_DENIED"


@attrs.frozen
class CatalogEntry:
    """Message template (``{field}`` is replaced by the field path) and recommendation."""

    message: str
    recommendation: str


_FIX_MANIFEST = (
    "Fix the Blueprint Compiler output so that the manifest matches the TaskManifest schema of "
    "LEASE_MANAGER_SPEC v1.0 §3.1, then request the lease again."
)
_REJECT_TOKEN = (
    "Reject the token: it was not issued by this authority in this form. Request a new lease."
)


def _manifest(message: str) -> CatalogEntry:
    return CatalogEntry(message, _FIX_MANIFEST)


def _token(message: str) -> CatalogEntry:
    return CatalogEntry(message, _REJECT_TOKEN)


def _table() -> dict[Code, dict[str, CatalogEntry]]:
    """Every code, reason, message and recommendation (bound once, as ``CATALOG``)."""
    return {
        Code.INVALID_MANIFEST: {
            "NOT_AN_OBJECT": _manifest("manifest is not a JSON object"),
            "NOT_JSON": _manifest("manifest value at {field} is not in the JSON data model"),
            "FLOAT_NOT_ALLOWED": _manifest(
                "manifest value at {field} is a floating-point number; only integers are allowed"
            ),
            "INTEGER_OUT_OF_RANGE": _manifest(
                "manifest integer at {field} is outside the signed 64-bit range"
            ),
            "STRING_TOO_LONG": _manifest("manifest string at {field} exceeds its length limit"),
            "TOO_MANY_ITEMS": _manifest("manifest container at {field} exceeds its item limit"),
            "TOO_DEEP": _manifest("manifest nesting at {field} exceeds the depth limit"),
            "TOO_LARGE": _manifest("manifest encoding exceeds the size limit"),
            "UNKNOWN_FIELD": _manifest("manifest has unknown field {field}"),
            "MISSING_FIELD": _manifest("manifest is missing required field {field}"),
            "WRONG_TYPE": _manifest("manifest field {field} has the wrong type"),
            "BAD_VALUE": _manifest("manifest field {field} has a value outside its allowed set"),
            "UNSUPPORTED_VERSION": _manifest("manifest version at {field} is not supported"),
            "BAD_HOLDER_KEY": _manifest(
                "manifest holder key at {field} is not a valid Ed25519 public key"
            ),
            "EMPTY_WINDOW": _manifest("manifest execution window at {field} is empty"),
        },
        Code.LEASE_EXPIRED: {
            "EPOCH_MISMATCH": CatalogEntry(
                "the time is from another clock epoch than the lease or window",
                "The monotonic clock restarted (reboot). Recompile the manifest in the current "
                "clock epoch and request a new lease.",
            ),
            "WINDOW_NOT_OPEN": CatalogEntry(
                "the execution window has not opened yet",
                "Request the lease again once the execution window has opened.",
            ),
            "WINDOW_CLOSED": CatalogEntry(
                "the execution window has closed",
                "Recompile the manifest with a new execution window and request a new lease.",
            ),
            "NOT_YET_VALID": CatalogEntry(
                "the lease is not valid before its issue time",
                "Check the executor clock: it reads earlier than the lease's issue time in the "
                "same epoch.",
            ),
            "EXPIRED": CatalogEntry("the lease has expired", "Request a new lease for the task."),
        },
        Code.INSUFFICIENT_TRUST: {
            "SNAPSHOT_INVALID": CatalogEntry(
                "trust snapshot is not valid at {field}",
                "Supply a Trust Matrix snapshot that matches the TrustSnapshot schema (§3.2).",
            ),
            "NO_SCORE": CatalogEntry(
                "trust snapshot has no score for the capability",
                "The Trust Matrix has not rated this capability; it carries no trust until it is "
                "rated.",
            ),
            "BELOW_THRESHOLD": CatalogEntry(
                "trust score is below the policy threshold for the sensitivity",
                "The capability's trust score must reach the policy threshold for this "
                "sensitivity; thresholds are system-defined and cannot be lowered by a request.",
            ),
        },
        Code.HRC_REQUIRED: {
            "HRC_MISSING": CatalogEntry(
                "hardware-rooted confirmation is required and none was given",
                "Ask the user to confirm the manifest on a registered HRC device, then request the"
                " lease with the confirmation.",
            ),
            "HRC_MALFORMED": CatalogEntry(
                "hardware-rooted confirmation is malformed at {field}",
                "Supply an HRC token that matches the HrcToken schema (§3.3).",
            ),
            "HRC_UNKNOWN_KEY": CatalogEntry(
                "hardware-rooted confirmation key is not registered",
                "Register the HRC device key in the lease policy, or confirm on a registered "
                "device.",
            ),
            "HRC_BAD_SIGNATURE": CatalogEntry(
                "hardware-rooted confirmation signature does not verify",
                "Confirm the manifest again on the registered HRC device.",
            ),
            "HRC_WRONG_MANIFEST": CatalogEntry(
                "hardware-rooted confirmation is for another manifest",
                "The confirmation was given for a different manifest digest; confirm this "
                "manifest.",
            ),
            "HRC_EPOCH_MISMATCH": CatalogEntry(
                "hardware-rooted confirmation is from another clock epoch",
                "The clock restarted since the confirmation; confirm the manifest again.",
            ),
            "HRC_FROM_FUTURE": CatalogEntry(
                "hardware-rooted confirmation is later than the current time",
                "Check the clocks: the confirmation time is later than the decision time.",
            ),
            "HRC_TOO_OLD": CatalogEntry(
                "hardware-rooted confirmation is older than the policy allows",
                "Confirm the manifest again; confirmations expire after the policy's maximum age.",
            ),
        },
        Code.LEASE_REVOKED: {
            "REVOKED": CatalogEntry(
                "the lease has been revoked",
                "The lease was explicitly revoked; request a new lease if the task is still "
                "wanted.",
            ),
            "POLICY_CHANGED": CatalogEntry(
                "the lease was granted under another policy",
                "The lease policy changed since the grant; request a new lease under the active "
                "policy.",
            ),
            "TRUST_SNAPSHOT_INVALID": CatalogEntry(
                "the current trust snapshot is not valid at {field}",
                "Supply a valid Trust Matrix snapshot; leases cannot stand without one.",
            ),
            "TRUST_DECAYED": CatalogEntry(
                "trust for the capability fell below the policy threshold",
                "The capability's trust decayed below the threshold for the lease's sensitivity; "
                "the lease ends.",
            ),
            "RELEASED": CatalogEntry(
                "the lease has been released", "A released lease has ended; request a new lease."
            ),
            "PARENT_ENDED": CatalogEntry(
                "the parent of this sub-lease has ended",
                "A sub-lease ends with its parent; request a new lease.",
            ),
            "CALLS_EXHAUSTED": CatalogEntry(
                "the sub-lease has no calls left",
                "Derive a new sub-lease from the parent for another call.",
            ),
        },
        Code.INVALID_TOKEN: {
            "TOO_LARGE": _token("token exceeds the size limit"),
            "MALFORMED_CBOR": _token("token is not well-formed CBOR"),
            "TOO_DEEP": _token("token nesting exceeds the depth limit"),
            "NON_DETERMINISTIC": _token("token is not in deterministic CBOR encoding"),
            "FORBIDDEN_CBOR_TYPE": _token("token contains a CBOR type or tag that is not allowed"),
            "TRAILING_BYTES": _token("token has bytes after its end"),
            "NOT_COSE_SIGN1": _token("token is not a tagged COSE_Sign1 structure"),
            "UNPROTECTED_HEADER_NOT_EMPTY": _token(
                "token has parameters in its unprotected header"
            ),
            "BAD_PROTECTED_HEADER": _token("token protected header is malformed"),
            "UNSUPPORTED_ALGORITHM": _token("token algorithm is not Ed25519 (-19)"),
            "UNKNOWN_KID": _token("token key id is not the issuer's"),
            "BAD_SIGNATURE": _token("token signature does not verify"),
            "BAD_CLAIMS": _token("token claims are malformed"),
            "WRONG_TASK": CatalogEntry(
                "token is bound to another task",
                "The token was issued for a different task_id; request a lease for this task.",
            ),
            "WRONG_MANIFEST": CatalogEntry(
                "token is bound to another manifest",
                "The token was issued for a different manifest digest; request a lease for this "
                "manifest.",
            ),
            "HOLDER_PROOF_MISSING": CatalogEntry(
                "no proof of possession of the holder key was given",
                "Present a holder proof signed by the key named in the token.",
            ),
            "HOLDER_PROOF_MALFORMED": CatalogEntry(
                "holder proof is malformed", "Present a holder proof that matches §7.2."
            ),
            "HOLDER_PROOF_INVALID": CatalogEntry(
                "holder proof does not verify with the token's holder key",
                "Only the holder named in the token may use it; leases are not transferable.",
            ),
            "UNKNOWN_LEASE": CatalogEntry(
                "token's lease is not a recorded grant of this lease manager",
                "The lease was never durably granted here (or its grant was voided); request a new"
                " lease.",
            ),
            "HOLDER_PROOF_REPLAYED": CatalogEntry(
                "holder proof was already used for this lease",
                "Sign a fresh challenge for every authorization; a holder proof is accepted once.",
            ),
        },
        Code.POLICY_DENIED: {
            "REQUEST_MISSING": CatalogEntry(
                "a governed request is required and none was given",
                "Send the request signed by the principal's registered key (§13.4) with the "
                "manifest.",
            ),
            "REQUEST_MALFORMED": CatalogEntry(
                "governed request is malformed at {field}",
                "Supply a request that matches the GovernedRequest schema (§13.4).",
            ),
            "UNKNOWN_PRINCIPAL": CatalogEntry(
                "the request's principal is not registered in the policy",
                "Register the principal's public key in a workspace of the policy, or sign with a "
                "registered key.",
            ),
            "BAD_REQUEST_SIGNATURE": CatalogEntry(
                "the request signature does not verify with the principal's key",
                "Sign the request again with the principal's registered key; roles and names "
                "stated by a caller are never accepted.",
            ),
            "REQUEST_WRONG_MANIFEST": CatalogEntry(
                "the request is for another manifest",
                "Sign a request for this manifest's digest.",
            ),
            "REQUEST_EPOCH_MISMATCH": CatalogEntry(
                "the request is from another clock epoch",
                "The clock restarted since the request was signed; sign it again.",
            ),
            "REQUEST_FROM_FUTURE": CatalogEntry(
                "the request is later than the current time",
                "Check the clocks: the request time is later than the decision time.",
            ),
            "REQUEST_TOO_OLD": CatalogEntry(
                "the request is older than the policy allows",
                "Sign the request again; requests expire after the policy's request_max_age_ns.",
            ),
            "WORKSPACE_NOT_ALLOWED": CatalogEntry(
                "the principal is not a member of the workspace at {field}",
                "Request in a workspace the principal belongs to, or add the principal to this "
                "workspace in the policy.",
            ),
            "CAPABILITY_NOT_ALLOWED": CatalogEntry(
                "the capability at {field} is not in the organization's allowlist",
                "Use an allowed capability, or add it to models.yml capabilities and publish a new"
                " policy version.",
            ),
            "CAPABILITY_NOT_IN_ROLE": CatalogEntry(
                "the capability at {field} is not allowed for the principal's role",
                "Use a capability of the role, or allow it for the role in the workspace file and "
                "publish a new policy version.",
            ),
            "MODEL_NOT_ALLOWED": CatalogEntry(
                "the model at {field} is not in the organization's allowlist",
                "Use an allowed model, or add it to models.yml models and publish a new policy "
                "version.",
            ),
            "MODEL_NOT_IN_ROLE": CatalogEntry(
                "the model at {field} is not allowed for the principal's role",
                "Use a model of the role, or allow it for the role in the workspace file and "
                "publish a new policy version.",
            ),
            "TOOL_UNKNOWN": CatalogEntry(
                "the tool at {field} is not defined in the policy",
                "Use a tool defined in tools.yml, or define it with a category and publish a new "
                "policy version.",
            ),
            "TOOL_CATEGORY_DENIED": CatalogEntry(
                "the tool at {field} is in a denied category",
                "Tools of a denied category are never granted; use a tool of another category.",
            ),
            "TOOL_NOT_IN_ROLE": CatalogEntry(
                "the tool at {field} is not allowed for the principal's role",
                "Use a tool of the role, or allow it for the role in the workspace file and "
                "publish a new policy version.",
            ),
            "REVIEWER_DENIED": CatalogEntry(
                "a reviewer denied this manifest at {field}",
                "A reviewer's denial is final for this manifest digest; change the manifest and "
                "request review again.",
            ),
        },
        Code.APPROVAL_REQUIRED: {
            "APPROVALS_MALFORMED": CatalogEntry(
                "approvals are malformed at {field}",
                "Supply an array of approvals that match the Approval schema (§13.5).",
            ),
            "APPROVAL_UNKNOWN_REVIEWER": CatalogEntry(
                "the approval at {field} is from a key that is not a registered reviewer",
                "Only reviewers registered in the policy can approve; remove this approval.",
            ),
            "APPROVAL_BAD_SIGNATURE": CatalogEntry(
                "the approval signature at {field} does not verify",
                "Remove the approval or have the reviewer sign it again.",
            ),
            "APPROVAL_WRONG_MANIFEST": CatalogEntry(
                "the approval at {field} is for another manifest",
                "An approval covers one manifest digest only; remove it and ask for approval of "
                "this manifest.",
            ),
            "APPROVALS_INSUFFICIENT": CatalogEntry(
                "the review rule at {field} has fewer distinct approvals than its threshold",
                "Ask more of the rule's registered reviewers to approve this manifest digest "
                "(pda-lease approvals approve), then request the lease again.",
            ),
        },
        Code.QUOTA_EXCEEDED: {
            "USAGE_INVALID": CatalogEntry(
                "the usage snapshot is not valid at {field}",
                "Supply a usage snapshot that matches §14.3; the lease manager builds one from its "
                "reservations.",
            ),
            "PRINCIPAL_COOLDOWN": CatalogEntry(
                "the principal is cooling down after repeated denials ({field})",
                "Wait until the time in retry; fix what the earlier denials said before asking "
                "again.",
            ),
            "WORKSPACE_CIRCUIT_OPEN": CatalogEntry(
                "the workspace's circuit breaker is open after a burst of policy denials ({field})",
                "Wait until the time in retry; the workspace's requests are refused until then.",
            ),
            "CONTEXT_TOO_LARGE": CatalogEntry(
                "the request's context exceeds the limit at {field}",
                "Send a smaller context, or raise the limit in a new policy version.",
            ),
            "CONCURRENCY_EXCEEDED": CatalogEntry(
                "the limit of leases in flight at {field} is reached",
                "Release a lease, or retry at the time in retry.",
            ),
            "COMPUTE_EXCEEDED": CatalogEntry(
                "the compute in flight would exceed the limit at {field}",
                "Release a lease, lower the declared compute, or retry at the time in retry.",
            ),
            "REQUESTS_EXCEEDED": CatalogEntry(
                "the request rate limit at {field} is reached",
                "Retry at the time in retry, when the oldest request leaves the window.",
            ),
            "UNITS_EXCEEDED": CatalogEntry(
                "the declared units would exceed the rate limit at {field}",
                "Lower the declared units, or retry at the time in retry.",
            ),
            "SPEND_EXCEEDED": CatalogEntry(
                "the declared spend would exceed the daily budget at {field}",
                "Lower the declared spend, or retry on the day in retry.",
            ),
        },
        Code.SUBLEASE_DENIED: {
            "PARENT_NOT_GOVERNED": CatalogEntry(
                "the parent lease has no governance claim",
                "Only governed leases name tools; derive sub-leases from a governed lease.",
            ),
            "PARENT_IS_SUBLEASE": CatalogEntry(
                "the parent lease is itself a sub-lease",
                "Derive sub-leases from the parent lease itself.",
            ),
            "TOOL_NOT_IN_PARENT": CatalogEntry(
                "the tool is not one of the parent lease's tools",
                "A sub-lease is for one of the tools the parent was granted.",
            ),
            "BAD_CALLS": CatalogEntry(
                "the call count is not in [1, 1000]", "Ask for between 1 and 1000 calls."
            ),
            "BAD_TTL": CatalogEntry(
                "the time to live is not a positive integer of nanoseconds",
                "Ask for a positive time to live; the sub-lease never outlives its parent anyway.",
            ),
            "BAD_HOLDER_KEY": CatalogEntry(
                "the sub-lease holder key is not a valid Ed25519 public key",
                "Name a valid Ed25519 public key (§3.1) as the holder.",
            ),
        },
        Code.UNAVAILABLE: {
            "CLOCK_UNAVAILABLE": CatalogEntry(
                "the monotonic clock cannot be read",
                "Check the clock adapter (CLOCK_BOOTTIME and the boot id); nothing is granted or "
                "authorized without a time.",
            ),
            "TRUST_UNAVAILABLE": CatalogEntry(
                "the current trust snapshot cannot be read",
                "Supply a valid Trust Matrix snapshot to the trust source (pda-lease trust apply);"
                " nothing is granted or authorized without one.",
            ),
            "STORE_UNAVAILABLE": CatalogEntry(
                "the lease store cannot be read or durably written",
                "Check the state directory's lease database (permissions, disk space, integrity); "
                "the manager fails closed until it can record state.",
            ),
            "AUDIT_UNAVAILABLE": CatalogEntry(
                "the audit log cannot be read or durably appended",
                "Check the state directory's audit log (permissions, disk space, pda-lease audit "
                "verify); the manager fails closed until it can audit.",
            ),
        },
    }


_TABLE = _table()

# Pairs that only the durable lease manager produces (spec §12); the pure kernel never does, so
# the conformance vectors cannot show them and the manager's tests cover them instead.
MANAGER_REASONS: frozenset[tuple[Code, str]] = frozenset(
    {(Code.INVALID_TOKEN, "UNKNOWN_LEASE"), (Code.INVALID_TOKEN, "HOLDER_PROOF_REPLAYED")}
    | {(Code.UNAVAILABLE, reason) for reason in _TABLE[Code.UNAVAILABLE]}
    | {(Code.LEASE_REVOKED, reason) for reason in ("RELEASED", "PARENT_ENDED", "CALLS_EXHAUSTED")}
)

CATALOG: Mapping[Code, Mapping[str, CatalogEntry]] = MappingProxyType(
    {code: MappingProxyType(reasons) for code, reasons in _TABLE.items()}
)


@attrs.frozen
class Retry:
    """When a ``QUOTA_EXCEEDED`` request could pass (spec §14.4): a monotonic time or a day.

    Exactly one of ``epoch``/``ns`` (together) or ``day`` is set.
    """

    epoch: str | None = None
    ns: int | None = None
    day: int | None = None

    def to_json(self) -> dict[str, object]:
        if self.day is not None:
            return {"day": self.day}
        return {"at": {"epoch": self.epoch, "ns": self.ns}}


@attrs.frozen
class Deny:
    """A refusal: the decision DENY, an ended lease, or a failed verification (spec §5).

    Build it with :func:`deny`, which fills ``message`` and ``recommendation`` from the catalog.
    ``retry`` is the deterministic recommendation of a ``QUOTA_EXCEEDED`` denial (§14.4):
    when the same request could pass, or None when no time can help.
    """

    code: Code
    reason: str
    field: str | None
    message: str
    recommendation: str
    retry: Retry | None = None

    @property
    def decision(self) -> str:
        return "DENY"

    def to_json(self) -> dict[str, object]:
        """The ``expected`` form of a DENY vector (spec §10, §14.5)."""
        view: dict[str, object] = {
            "decision": "DENY",
            "code": str(self.code),
            "reason": self.reason,
            "message": self.message,
        }
        if self.code is Code.QUOTA_EXCEEDED:
            view["retry"] = None if self.retry is None else self.retry.to_json()
        return view


def deny(code: Code, reason: str, field: str | None = None, retry: Retry | None = None) -> Deny:
    """Build the catalog's ``Deny`` for ``(code, reason)``; an unknown pair is a bug."""
    entry = CATALOG.get(code, {}).get(reason)
    if entry is None:
        raise UsageError(f"({code}, {reason}) is not in the error catalog")
    message = entry.message
    if "{field}" in message:
        if not field:
            raise UsageError(f"({code}, {reason}) needs a field path")
        message = message.replace("{field}", field)
    return Deny(code, reason, field, message, entry.recommendation, retry)
