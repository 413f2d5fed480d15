"""An independent reference model of LEASE_MANAGER_SPEC v1.0: the oracle of the differential tests.

This module restates the specification, table by table, as plain executable Python. It imports
nothing from ``pda_lease`` on purpose: the differential tests compare the kernel against this
model, so the two must not share code (a bug shared by both would go unseen). Building blocks
that are not the kernel's own:

* CBOR encoding (spec §2.3) is ``cbor2.dumps`` with ``canonical=False`` after the map entries
  have been re-inserted in bytewise order of their encoded keys (cbor2 keeps insertion order).
* The strict decoder (spec §2.4) is a compact one written here from the §2.4 table.
* Ed25519 goes through PyNaCl's object API (``nacl.signing``); the holder-key rule of §3.1 uses
  libsodium's ``crypto_core_ed25519_is_valid_point``.

Public entry points, in the shapes of spec §10:

* ``ref_decide(...)``   (§4): ``{"decision": "GRANT", ...}`` or ``{"decision": "DENY", ...}``.
* ``ref_verify(...)``   (§7): ``{"result": "VALID", ...}`` or ``{"result": "INVALID", ...}``.
* ``ref_standing(...)`` (§8): ``{"standing": "ACTIVE", ...}`` or ``{"standing": "ENDED", ...}``.

Governance (§13) extends these: ``ref_decide`` runs the §13.6 pipeline (steps 1, G, 2, 3, A, 4,
5) when the authority's policy is a GovernancePolicy (it has ``governance_version``) and takes
``request=`` and ``approvals=``; ``check_governance_policy`` is §13.1; ``ref_verify`` and
``ref_standing`` accept governed tokens and governance documents. ``make_request``,
``make_approval`` and ``governance_policy_document`` build inputs for the tests.

Pools and sub-leases (§14.1-§14.5, §14.8): the policy's ``pools`` member (§14.1), the request's
``demand`` (§14.2), ``validate_usage`` (§14.3) and step P (``pools_step``, §14.4) which
``ref_decide`` runs after step 3 when the policy has pools, with ``usage=``; a QUOTA_EXCEEDED
DENY carries ``retry`` and a clamped GRANT ``"clamped": true``. ``ref_derive`` is §14.8, and
``ref_verify`` accepts the ``parent`` claim (-65548) only with the governance claim.

Known reading choices (where the spec leaves room) are marked ``READING:``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

import cbor2
import nacl.bindings
import nacl.exceptions
import nacl.signing

Fail = tuple[str, str]  # (reason, field path) of the first violation (§4.1)

# ===================================================================== §2.1, §2.2, §9 constants

UINT63_MAX: Final = 2**63 - 1
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
SENSITIVITIES: Final = ("LOW", "MEDIUM", "HIGH")


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


EPOCH_ID: Final = _rx(r"[A-Za-z0-9-]{1,64}")  # §2.2
IDENTIFIER: Final = _rx(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")  # §3.1
PRINTABLE: Final = _rx(r"[\x21-\x7e]{1,256}")  # §3.1 scope, §3.4 issuer
HEX32: Final = _rx(r"[0-9a-f]{64}")  # 32 bytes, lowercase only (§2.1)
HEX64: Final = _rx(r"[0-9a-f]{128}")  # 64 bytes
HEX16: Final = _rx(r"[0-9a-f]{32}")  # 16 bytes (a lease id, §14.3)
CHALLENGE: Final = _rx(r"(?:[0-9a-f][0-9a-f]){16,64}")  # §7.2: 16 to 64 bytes
PATH_NAME: Final = _rx(r"[A-Za-z0-9_-]{1,64}")  # §4.1: names written without brackets


@dataclasses.dataclass(frozen=True)
class Limits:
    """§9: one row set of the limits table."""

    depth: int
    items: int
    string_bytes: int
    encoded_bytes: int


MANIFEST_LIMITS: Final = Limits(depth=16, items=1024, string_bytes=4096, encoded_bytes=65536)
# "the manifest limits, except that a container may have 10000 members and det(snapshot) may be
# 1 MiB" (§9).
SNAPSHOT_LIMITS: Final = Limits(depth=16, items=10000, string_bytes=4096, encoded_bytes=1 << 20)
# "HRC token, holder proof: the manifest limits, then exactly their fields" (§9).
HRC_LIMITS: Final = MANIFEST_LIMITS
TOKEN_MAX_BYTES: Final = 4096  # §9
TOKEN_MAX_DEPTH: Final = 8  # §9

# ============================================================================ §5 error catalog
# The message templates of §5, copied from the spec's tables. {field} is the §4.1 path.

MESSAGES: Final[Mapping[str, Mapping[str, str]]] = {
    "INVALID_MANIFEST": {
        "NOT_AN_OBJECT": "manifest is not a JSON object",
        "NOT_JSON": "manifest value at {field} is not in the JSON data model",
        "FLOAT_NOT_ALLOWED": (
            "manifest value at {field} is a floating-point number; only integers are allowed"
        ),
        "INTEGER_OUT_OF_RANGE": "manifest integer at {field} is outside the signed 64-bit range",
        "STRING_TOO_LONG": "manifest string at {field} exceeds its length limit",
        "TOO_MANY_ITEMS": "manifest container at {field} exceeds its item limit",
        "TOO_DEEP": "manifest nesting at {field} exceeds the depth limit",
        "TOO_LARGE": "manifest encoding exceeds the size limit",
        "UNKNOWN_FIELD": "manifest has unknown field {field}",
        "MISSING_FIELD": "manifest is missing required field {field}",
        "WRONG_TYPE": "manifest field {field} has the wrong type",
        "BAD_VALUE": "manifest field {field} has a value outside its allowed set",
        "UNSUPPORTED_VERSION": "manifest version at {field} is not supported",
        "BAD_HOLDER_KEY": "manifest holder key at {field} is not a valid Ed25519 public key",
        "EMPTY_WINDOW": "manifest execution window at {field} is empty",
    },
    "LEASE_EXPIRED": {
        "EPOCH_MISMATCH": "the time is from another clock epoch than the lease or window",
        "WINDOW_NOT_OPEN": "the execution window has not opened yet",
        "WINDOW_CLOSED": "the execution window has closed",
        "NOT_YET_VALID": "the lease is not valid before its issue time",
        "EXPIRED": "the lease has expired",
    },
    "INSUFFICIENT_TRUST": {
        "SNAPSHOT_INVALID": "trust snapshot is not valid at {field}",
        "NO_SCORE": "trust snapshot has no score for the capability",
        "BELOW_THRESHOLD": "trust score is below the policy threshold for the sensitivity",
    },
    "HRC_REQUIRED": {
        "HRC_MISSING": "hardware-rooted confirmation is required and none was given",
        "HRC_MALFORMED": "hardware-rooted confirmation is malformed at {field}",
        "HRC_UNKNOWN_KEY": "hardware-rooted confirmation key is not registered",
        "HRC_BAD_SIGNATURE": "hardware-rooted confirmation signature does not verify",
        "HRC_WRONG_MANIFEST": "hardware-rooted confirmation is for another manifest",
        "HRC_EPOCH_MISMATCH": "hardware-rooted confirmation is from another clock epoch",
        "HRC_FROM_FUTURE": "hardware-rooted confirmation is later than the current time",
        "HRC_TOO_OLD": "hardware-rooted confirmation is older than the policy allows",
    },
    "LEASE_REVOKED": {
        "REVOKED": "the lease has been revoked",
        "POLICY_CHANGED": "the lease was granted under another policy",
        "TRUST_SNAPSHOT_INVALID": "the current trust snapshot is not valid at {field}",
        "TRUST_DECAYED": "trust for the capability fell below the policy threshold",
        # §14.5: standing of a lease at the manager (§14.7-§14.8).
        "RELEASED": "the lease has been released",
        "PARENT_ENDED": "the parent of this sub-lease has ended",
        "CALLS_EXHAUSTED": "the sub-lease has no calls left",
    },
    "INVALID_TOKEN": {
        "TOO_LARGE": "token exceeds the size limit",
        "MALFORMED_CBOR": "token is not well-formed CBOR",
        "TOO_DEEP": "token nesting exceeds the depth limit",
        "NON_DETERMINISTIC": "token is not in deterministic CBOR encoding",
        "FORBIDDEN_CBOR_TYPE": "token contains a CBOR type or tag that is not allowed",
        "TRAILING_BYTES": "token has bytes after its end",
        "NOT_COSE_SIGN1": "token is not a tagged COSE_Sign1 structure",
        "UNPROTECTED_HEADER_NOT_EMPTY": "token has parameters in its unprotected header",
        "BAD_PROTECTED_HEADER": "token protected header is malformed",
        "UNSUPPORTED_ALGORITHM": "token algorithm is not Ed25519 (-19)",
        "UNKNOWN_KID": "token key id is not the issuer's",
        "BAD_SIGNATURE": "token signature does not verify",
        "BAD_CLAIMS": "token claims are malformed",
        "WRONG_TASK": "token is bound to another task",
        "WRONG_MANIFEST": "token is bound to another manifest",
        "HOLDER_PROOF_MISSING": "no proof of possession of the holder key was given",
        "HOLDER_PROOF_MALFORMED": "holder proof is malformed",
        "HOLDER_PROOF_INVALID": "holder proof does not verify with the token's holder key",
    },
    # §13.9, copied from the spec's two tables.
    "POLICY_DENIED": {
        "REQUEST_MISSING": "a governed request is required and none was given",
        "REQUEST_MALFORMED": "governed request is malformed at {field}",
        "UNKNOWN_PRINCIPAL": "the request's principal is not registered in the policy",
        "BAD_REQUEST_SIGNATURE": "the request signature does not verify with the principal's key",
        "REQUEST_WRONG_MANIFEST": "the request is for another manifest",
        "REQUEST_EPOCH_MISMATCH": "the request is from another clock epoch",
        "REQUEST_FROM_FUTURE": "the request is later than the current time",
        "REQUEST_TOO_OLD": "the request is older than the policy allows",
        "WORKSPACE_NOT_ALLOWED": "the principal is not a member of the workspace at {field}",
        "CAPABILITY_NOT_ALLOWED": (
            "the capability at {field} is not in the organization's allowlist"
        ),
        "CAPABILITY_NOT_IN_ROLE": (
            "the capability at {field} is not allowed for the principal's role"
        ),
        "MODEL_NOT_ALLOWED": "the model at {field} is not in the organization's allowlist",
        "MODEL_NOT_IN_ROLE": "the model at {field} is not allowed for the principal's role",
        "TOOL_UNKNOWN": "the tool at {field} is not defined in the policy",
        "TOOL_CATEGORY_DENIED": "the tool at {field} is in a denied category",
        "TOOL_NOT_IN_ROLE": "the tool at {field} is not allowed for the principal's role",
        "REVIEWER_DENIED": "a reviewer denied this manifest at {field}",
    },
    "APPROVAL_REQUIRED": {
        "APPROVALS_MALFORMED": "approvals are malformed at {field}",
        "APPROVAL_UNKNOWN_REVIEWER": (
            "the approval at {field} is from a key that is not a registered reviewer"
        ),
        "APPROVAL_BAD_SIGNATURE": "the approval signature at {field} does not verify",
        "APPROVAL_WRONG_MANIFEST": "the approval at {field} is for another manifest",
        "APPROVALS_INSUFFICIENT": (
            "the review rule at {field} has fewer distinct approvals than its threshold"
        ),
    },
    # §14.5, copied from the spec's tables.
    "QUOTA_EXCEEDED": {
        "USAGE_INVALID": "the usage snapshot is not valid at {field}",
        "PRINCIPAL_COOLDOWN": "the principal is cooling down after repeated denials ({field})",
        "WORKSPACE_CIRCUIT_OPEN": (
            "the workspace's circuit breaker is open after a burst of policy denials ({field})"
        ),
        "CONTEXT_TOO_LARGE": "the request's context exceeds the limit at {field}",
        "CONCURRENCY_EXCEEDED": "the limit of leases in flight at {field} is reached",
        "COMPUTE_EXCEEDED": "the compute in flight would exceed the limit at {field}",
        "REQUESTS_EXCEEDED": "the request rate limit at {field} is reached",
        "UNITS_EXCEEDED": "the declared units would exceed the rate limit at {field}",
        "SPEND_EXCEEDED": "the declared spend would exceed the daily budget at {field}",
    },
    "SUBLEASE_DENIED": {
        "PARENT_NOT_GOVERNED": "the parent lease has no governance claim",
        "PARENT_IS_SUBLEASE": "the parent lease is itself a sub-lease",
        "TOOL_NOT_IN_PARENT": "the tool is not one of the parent lease's tools",
        "BAD_CALLS": "the call count is not in [1, 1000]",
        "BAD_TTL": "the time to live is not a positive integer of nanoseconds",
        "BAD_HOLDER_KEY": "the sub-lease holder key is not a valid Ed25519 public key",
    },
}


def message(code: str, reason: str, field: str | None = None) -> str:
    """The §5 message with {field} replaced by the field path."""
    template = MESSAGES[code][reason]
    if "{field}" in template:
        assert field is not None, (code, reason)
        return template.replace("{field}", field)
    return template


def _deny(code: str, reason: str, field: str | None = None) -> dict[str, object]:
    return {
        "decision": "DENY",
        "code": code,
        "reason": reason,
        "message": message(code, reason, field),
    }


def _invalid(code: str, reason: str) -> dict[str, object]:
    return {"result": "INVALID", "code": code, "reason": reason, "message": message(code, reason)}


def _ended(code: str, reason: str, field: str | None = None) -> dict[str, object]:
    return {
        "standing": "ENDED",
        "code": code,
        "reason": reason,
        "message": message(code, reason, field),
    }


# ================================================================== §2.3 deterministic CBOR


@dataclasses.dataclass(frozen=True)
class Tagged:
    """A CBOR tag (major type 6): only the single outer tag 18 of a token is in the profile."""

    number: int
    content: object


class NotInProfile(ValueError):
    """A value that det() cannot encode (the model's caller passed a non-profile value)."""


def _in_key_order(value: object) -> object:
    """Rebuild ``value`` so every map has its entries in bytewise order of the encoded keys."""
    if value is None or type(value) in (bool, bytes):
        return value
    if type(value) is int:
        assert isinstance(value, int)
        if not -(2**64) <= value <= 2**64 - 1:  # §2.3: major types 0 and 1 only, no bignums
            raise NotInProfile("integer outside [-2^64, 2^64-1]")
        return value
    if type(value) is str:
        assert isinstance(value, str)
        value.encode("utf-8")  # raises on lone surrogates: text must be valid UTF-8
        return value
    if type(value) in (list, tuple):
        assert isinstance(value, (list, tuple))
        return [_in_key_order(item) for item in value]
    if type(value) is dict:
        assert isinstance(value, dict)
        for key in value:
            if type(key) not in (int, str):
                raise NotInProfile("map keys are integers or text strings")
        ordered = sorted(value.items(), key=lambda entry: det(entry[0]))
        return {key: _in_key_order(item) for key, item in ordered}
    if isinstance(value, Tagged):
        return cbor2.CBORTag(value.number, _in_key_order(value.content))
    raise NotInProfile(f"{type(value).__name__} is not in the CBOR profile")


def det(value: object) -> bytes:
    """``det(v)``: core deterministic CBOR (RFC 8949 §4.2.1, bytewise key order)."""
    return cbor2.dumps(_in_key_order(value), canonical=False)


def H(data: bytes) -> bytes:
    """``H(x)``: SHA-256 (§2.3)."""
    return hashlib.sha256(data).digest()


def digest(document: object) -> bytes:
    """The digest of a JSON input: ``H(det(v))`` (§2.3)."""
    return H(det(document))


# ================================================================== §2.4 strict decoding


class StrictDecodeError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# The smallest argument that may use additional information 24, 25, 26, 27 (shortest form).
_SHORTEST: Final = {24: 24, 25: 1 << 8, 26: 1 << 16, 27: 1 << 32}


class _StrictReader:
    """Reads one data item depth-first in byte order; the first violation decides (§2.4)."""

    def __init__(self, data: bytes, max_depth: int, top_tag_allowed: bool) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth
        self.top_tag_allowed = top_tag_allowed

    def fail(self, reason: str) -> StrictDecodeError:
        return StrictDecodeError(reason)

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise self.fail("MALFORMED_CBOR")  # (a) input ends before the item is complete
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def read_item(self, depth: int, as_key: bool) -> object:
        # --- the head: initial byte and argument --------------------------------------------
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        argument: int | None
        if info <= 23:
            argument = info
        elif info <= 27:
            argument = int.from_bytes(self.take(1 << (info - 24)), "big")
        elif info <= 30:
            raise self.fail("MALFORMED_CBOR")  # (a) additional information 28-30
        elif major in (0, 1, 6, 7):
            raise self.fail("MALFORMED_CBOR")  # 31 is never well formed here (incl. break)
        else:
            argument = None  # indefinite length in major types 2-5
        # --- (b) depth ---------------------------------------------------------------------
        if depth > self.max_depth:
            raise self.fail("TOO_DEEP")
        # --- (c) determinism of the head ---------------------------------------------------
        if major != 7:  # major 7 with info 24-27 is forbidden "whatever its argument"
            if argument is None:
                raise self.fail("NON_DETERMINISTIC")
            if info >= 24 and argument < _SHORTEST[info]:
                raise self.fail("NON_DETERMINISTIC")
        # --- (d) forbidden types -----------------------------------------------------------
        if major == 7 and initial not in (0xF4, 0xF5, 0xF6):
            raise self.fail("FORBIDDEN_CBOR_TYPE")
        if major == 6 and not (depth == 1 and self.top_tag_allowed):
            raise self.fail("FORBIDDEN_CBOR_TYPE")
        if as_key and major not in (0, 1, 3):
            raise self.fail("FORBIDDEN_CBOR_TYPE")
        assert argument is not None
        # --- the content -------------------------------------------------------------------
        if major == 0:
            return argument
        if major == 1:
            return -1 - argument
        if major == 2:
            return self.take(argument)
        if major == 3:
            raw = self.take(argument)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise self.fail("MALFORMED_CBOR") from None
        if major == 4:
            return [self.read_item(depth + 1, False) for _ in range(argument)]
        if major == 5:
            result: dict[object, object] = {}
            previous: bytes | None = None
            for _ in range(argument):
                start = self.pos
                key = self.read_item(depth + 1, True)
                encoded = self.data[start : self.pos]
                if previous is not None and not encoded > previous:
                    raise self.fail("NON_DETERMINISTIC")  # (e) keys strictly increasing
                previous = encoded
                result[key] = self.read_item(depth + 1, False)
            return result
        if major == 6:
            return Tagged(argument, self.read_item(depth + 1, False))
        return {0xF4: False, 0xF5: True, 0xF6: None}[initial]


def strict_decode(data: bytes, *, max_depth: int, top_tag_allowed: bool = False) -> object:
    """§2.4: exactly one profile data item filling ``data``, or ``StrictDecodeError``."""
    reader = _StrictReader(data, max_depth, top_tag_allowed)
    value = reader.read_item(1, False)
    if reader.pos != len(data):
        raise StrictDecodeError("TRAILING_BYTES")  # (f)
    return value


# ============================================================================ Ed25519, §6.2


def public_key(seed: bytes) -> bytes:
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def sign(seed: bytes, data: bytes) -> bytes:
    return nacl.signing.SigningKey(seed).sign(data).signature


def signature_verifies(key: bytes, data: bytes, signature: bytes) -> bool:
    """libsodium verification (rejects non-canonical S and small-order keys, §7.3)."""
    if len(key) != 32 or len(signature) != 64:
        return False
    try:
        nacl.signing.VerifyKey(key).verify(data, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError):
        return False
    return True


def is_valid_holder_key(key: bytes) -> bool:
    """§3.1: a canonical curve point not of small order (libsodium's notion of a valid point)."""
    return len(key) == 32 and bool(nacl.bindings.crypto_core_ed25519_is_valid_point(key))


def cose_key(key: bytes) -> dict[int, object]:
    """§6.2: the COSE_Key of an Ed25519 public key: {1: 1 (OKP), -1: 6 (Ed25519), -2: x}."""
    return {1: 1, -1: 6, -2: key}


def thumbprint(key: bytes) -> bytes:
    """§6.2: RFC 9679 COSE Key Thumbprint, H(det(COSE_Key))."""
    return H(det(cose_key(key)))


# =================================================================== §4.1 field paths


def child_path(parent: str, name: str) -> str:
    """§4.1: member ``name`` of the object at ``parent``; odd names as JSON strings in []."""
    if PATH_NAME.fullmatch(name):
        return name if parent == "$" else f"{parent}.{name}"
    # RFC 8785 §3.2.2.2 string serialization; json.dumps(ensure_ascii=False) escapes exactly
    # '"', '\\', and the C0 controls (\b \t \n \f \r, others as lowercase \u00xx).
    quoted = "[" + json.dumps(name, ensure_ascii=False) + "]"
    return quoted if parent == "$" else parent + quoted


def index_path(parent: str, index: int) -> str:
    return f"{parent}[{index}]"


# ============================================================ §4.1 steps 2-3: data model, size


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates are not Unicode scalar values
        return False
    return True


def _is_name(key: object) -> bool:
    """A member name of the data model: a string of valid Unicode (§2.1, §2.3)."""
    return type(key) is str and _is_unicode(key)


def _head_size(argument: int) -> int:
    """Bytes of a shortest-form CBOR head with this argument (RFC 8949 §3, §4.2.1)."""
    if argument < 24:
        return 1
    if argument < 2**8:
        return 2
    if argument < 2**16:
        return 3
    if argument < 2**32:
        return 5
    return 9


def _members_in_det_order(obj: dict[str, object]) -> list[tuple[str, object]]:
    return sorted(obj.items(), key=lambda entry: det(entry[0]))


class _Walk:
    """§4.1 step 2 (the data-model walk) with step 3 (the running size) folded in."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0  # bytes of det(document) seen so far

    def count(self, size: int, path: str) -> Fail | None:
        """Step 3: add the bytes of one value's own encoding; TOO_LARGE at that value."""
        self.total += size
        return ("TOO_LARGE", path) if self.total > self.limits.encoded_bytes else None

    def value(self, value: object, path: str, depth: int) -> Fail | None:
        """One value, checks in the order §4.1 step 2 lists them, then its size (step 3)."""
        limits = self.limits
        if depth > limits.depth:
            return ("TOO_DEEP", path)
        # READING: Python types are taken exactly; a subclass (OrderedDict, a str or int
        # subclass, IntEnum) is not the JSON type, so it is NOT_JSON.
        kind = type(value)
        if kind is dict:
            assert isinstance(value, dict)
            return self.object(value, path, depth)
        if not (value is None or kind in (bool, int, float, list, str)):
            return ("NOT_JSON", path)
        if kind is str:
            assert isinstance(value, str)
            if not _is_unicode(value):
                return ("NOT_JSON", path)
            if len(value.encode("utf-8")) > limits.string_bytes:
                return ("STRING_TOO_LONG", path)
        if kind is float:
            return ("FLOAT_NOT_ALLOWED", path)
        if kind is int:
            assert isinstance(value, int)
            if not INT64_MIN <= value <= INT64_MAX:
                return ("INTEGER_OUT_OF_RANGE", path)
        if kind is list:
            assert isinstance(value, list)
            if len(value) > limits.items:
                return ("TOO_MANY_ITEMS", path)
            failure = self.count(_head_size(len(value)), path)
            for index, item in enumerate(value):
                if failure:
                    break
                failure = self.value(item, index_path(path, index), depth + 1)
            return failure
        # null, booleans, integers, strings: their whole encoding is their own.
        return self.count(len(det(value)), path)

    def object(self, value: dict[object, object], path: str, depth: int) -> Fail | None:
        limits = self.limits
        if len(value) > limits.items:  # the member count first,
            return ("TOO_MANY_ITEMS", path)
        if not all(_is_name(key) for key in value):  # then the names, at the object's path
            return ("NOT_JSON", path)
        failure = self.count(_head_size(len(value)), path)
        if failure:
            return failure
        names: dict[str, object] = {str(key): item for key, item in value.items()}
        for key, item in _members_in_det_order(names):
            if len(key.encode("utf-8")) > limits.string_bytes:
                # §4.1 step 3: an over-long name is refused at its object's path (the path
                # never quotes a name longer than the limit).
                return ("STRING_TOO_LONG", path)
            member = child_path(path, key)
            failure = self.count(len(det(key)), member) or self.value(item, member, depth + 1)
            if failure:
                return failure
        return None


def _data_model_and_size(document: object, limits: Limits) -> Fail | None:
    """§4.1 steps 2 and 3: one depth-first walk; the size is a running total (the spec's
    **Decision**: work is bounded by the limits, not by the input)."""
    return _Walk(limits).value(document, "$", 1)


# ====================================================================== §4.1 step 4: schemas

Rule = Callable[[object, str], "Fail | None"]


def integer(low: int, high: int, bad: str = "BAD_VALUE") -> Rule:
    def rule(value: object, path: str) -> Fail | None:
        if type(value) is not int:  # a boolean is never an integer (§2.1)
            return ("WRONG_TYPE", path)
        assert isinstance(value, int)
        return None if low <= value <= high else (bad, path)

    return rule


def text(pattern: re.Pattern[str]) -> Rule:
    def rule(value: object, path: str) -> Fail | None:
        if type(value) is not str:
            return ("WRONG_TYPE", path)
        assert isinstance(value, str)
        return None if pattern.fullmatch(value) else ("BAD_VALUE", path)

    return rule


def boolean(value: object, path: str) -> Fail | None:
    return None if type(value) is bool else ("WRONG_TYPE", path)


def one_of(*allowed: str) -> Rule:
    def rule(value: object, path: str) -> Fail | None:
        if type(value) is not str:
            return ("WRONG_TYPE", path)
        return None if value in allowed else ("BAD_VALUE", path)

    return rule


def any_object(value: object, path: str) -> Fail | None:
    return None if type(value) is dict else ("WRONG_TYPE", path)


def ed25519_key(value: object, path: str) -> Fail | None:
    """64 lowercase hex characters (else BAD_VALUE), a valid point (else BAD_HOLDER_KEY).

    READING: §4.1 lists BAD_HOLDER_KEY as the specific "wrong value" of this field; a string
    that is not 64 lowercase hex characters is not a key encoding at all and is BAD_VALUE.
    """
    failure = text(HEX32)(value, path)
    if failure:
        return failure
    assert isinstance(value, str)
    return None if is_valid_holder_key(bytes.fromhex(value)) else ("BAD_HOLDER_KEY", path)


def closed_object(fields: Sequence[tuple[str, Rule]], after: Rule | None = None) -> Rule:
    """§4.1 step 4 for one object: unknown members first (in deterministic order), then each
    schema field in table order: absent, wrong type, wrong value; nested objects recursively."""

    def rule(value: object, path: str) -> Fail | None:
        if type(value) is not dict:
            return ("WRONG_TYPE", path)
        assert isinstance(value, dict)
        known = {name for name, _ in fields}
        for key, _ in _members_in_det_order(value):
            if key not in known:
                return ("UNKNOWN_FIELD", child_path(path, key))
        for name, field_rule in fields:
            if name not in value:
                return ("MISSING_FIELD", child_path(path, name))
            failure = field_rule(value[name], child_path(path, name))
            if failure:
                return failure
        return after(value, path) if after else None

    return rule


def _window_not_empty(value: object, path: str) -> Fail | None:
    assert isinstance(value, dict)
    return None if value["not_before_ns"] < value["not_after_ns"] else ("EMPTY_WINDOW", path)


# §3.1 TaskManifest, in the order of its table.
MANIFEST_SCHEMA: Final = closed_object(
    [
        ("manifest_version", integer(1, 1, bad="UNSUPPORTED_VERSION")),
        ("task_id", text(IDENTIFIER)),
        ("capability_id", text(IDENTIFIER)),
        ("inputs", any_object),
        (
            "constraints",
            closed_object(
                [
                    ("scope", text(PRINTABLE)),
                    ("reversible", boolean),
                    ("sensitivity", one_of(*SENSITIVITIES)),
                    ("hrc_required", boolean),
                ]
            ),
        ),
        ("provenance", closed_object([("ast_hash", text(HEX32))])),
        ("holder", closed_object([("public_key", ed25519_key)])),
        (
            "window",
            closed_object(
                [
                    ("epoch", text(EPOCH_ID)),
                    ("not_before_ns", integer(0, UINT63_MAX)),
                    ("not_after_ns", integer(0, UINT63_MAX)),
                ],
                after=_window_not_empty,
            ),
        ),
    ]
)


def _scores(value: object, path: str) -> Fail | None:
    """§3.2 scores: Identifier -> integer in [0, 10000].

    READING: members in deterministic key order, for each its name and then its score.
    """
    if type(value) is not dict:
        return ("WRONG_TYPE", path)
    assert isinstance(value, dict)
    for key, score in _members_in_det_order(value):
        member = child_path(path, key)
        failure = text(IDENTIFIER)(key, member) or integer(0, 10000)(score, member)
        if failure:
            return failure
    return None


# §3.2 TrustSnapshot.
SNAPSHOT_SCHEMA: Final = closed_object(
    [
        ("snapshot_version", integer(1, 1, bad="UNSUPPORTED_VERSION")),
        ("sequence", integer(0, UINT63_MAX)),
        ("scores", _scores),
    ]
)

MONOTONIC_TIME_SCHEMA: Final = closed_object(
    [("epoch", text(EPOCH_ID)), ("ns", integer(0, UINT63_MAX))]
)

# §3.3 HrcToken ("hrc_version other than 1 is a wrong value", §4.2).
HRC_SCHEMA: Final = closed_object(
    [
        ("hrc_version", integer(1, 1)),
        ("key_id", text(HEX32)),
        ("manifest_digest", text(HEX32)),
        ("confirmed_at", MONOTONIC_TIME_SCHEMA),
        ("signature", text(HEX64)),
    ]
)

# §7.2 holder proof.
HOLDER_PROOF_SCHEMA: Final = closed_object(
    [("challenge", text(CHALLENGE)), ("signature", text(HEX64))]
)


def validate(document: object, limits: Limits, schema: Rule) -> Fail | None:
    """§4.1 steps 1-4 for one closed document."""
    if type(document) is not dict:
        return ("NOT_AN_OBJECT", "$")  # step 1
    return _data_model_and_size(document, limits) or schema(document, "$")  # steps 2-4


def validate_manifest(document: object) -> Fail | None:
    return validate(document, MANIFEST_LIMITS, MANIFEST_SCHEMA)


def validate_snapshot(document: object) -> Fail | None:
    return validate(document, SNAPSHOT_LIMITS, SNAPSHOT_SCHEMA)


# ============================================================================ §3.4 policy


class RefPolicyError(ValueError):
    """The policy breaks §3.4 (or does not match the signing key): no decision is made."""


def _per_sensitivity(low: int, high: int) -> Rule:
    return closed_object([(s, integer(low, high)) for s in SENSITIVITIES])


def _distinct_array(item: Rule, max_items: int) -> Rule:
    def rule(value: object, path: str) -> Fail | None:
        if type(value) is not list:
            return ("WRONG_TYPE", path)
        assert isinstance(value, list)
        if len(value) > max_items:
            return ("TOO_MANY_ITEMS", path)
        for index, element in enumerate(value):
            failure = item(element, index_path(path, index))
            if failure:
                return failure
        return None if len(set(value)) == len(value) else ("BAD_VALUE", path)

    return rule


def _policy_monotone(value: object, path: str) -> Fail | None:
    assert isinstance(value, dict)
    durations = [value["lease_duration_ns"][s] for s in SENSITIVITIES]
    thresholds = [value["trust_threshold"][s] for s in SENSITIVITIES]
    if not durations[0] >= durations[1] >= durations[2]:  # LOW >= MEDIUM >= HIGH
        return ("BAD_VALUE", "lease_duration_ns")
    if not thresholds[0] <= thresholds[1] <= thresholds[2]:  # LOW <= MEDIUM <= HIGH
        return ("BAD_VALUE", "trust_threshold")
    return None


# §3.4 LeasePolicy table.
POLICY_SCHEMA: Final = closed_object(
    [
        ("policy_version", integer(1, 1)),
        ("sequence", integer(0, UINT63_MAX)),
        ("issuer", text(PRINTABLE)),
        ("issuer_kid", text(HEX32)),
        ("lease_duration_ns", _per_sensitivity(1, 86_400_000_000_000)),
        ("trust_threshold", _per_sensitivity(0, 10000)),
        ("hrc_required_for", _distinct_array(one_of(*SENSITIVITIES), 3)),
        ("hrc_keys", _distinct_array(ed25519_key, 64)),
        ("hrc_max_age_ns", integer(1, 3_600_000_000_000)),
    ],
    after=_policy_monotone,
)


def check_authority(signing_seed: bytes, policy: object) -> dict[str, Any]:
    """§3.4/§3.5: the policy obeys its table and its issuer_kid is the signing key's."""
    failure = validate(policy, MANIFEST_LIMITS, POLICY_SCHEMA)
    if failure:
        raise RefPolicyError(f"{failure[1]}: {failure[0]}")
    assert isinstance(policy, dict)
    if policy["issuer_kid"] != thumbprint(public_key(signing_seed)).hex():
        raise RefPolicyError("issuer_kid does not match the signing key")
    return policy


# ========================================================================= §3.3 HRC signing


def hrc_signed_bytes(manifest_digest: bytes, epoch: str, ns: int) -> bytes:
    return det(["PDA-HRC-v1", manifest_digest, epoch, ns])


def make_hrc(
    seed: bytes, manifest_digest: bytes, confirmed_at: dict[str, object]
) -> dict[str, object]:
    """An HRC token (§3.3) as a registered device with key ``seed`` would make it."""
    epoch, ns = confirmed_at["epoch"], confirmed_at["ns"]
    assert isinstance(epoch, str) and isinstance(ns, int)
    return {
        "hrc_version": 1,
        "key_id": thumbprint(public_key(seed)).hex(),
        "manifest_digest": manifest_digest.hex(),
        "confirmed_at": {"epoch": epoch, "ns": ns},
        "signature": sign(seed, hrc_signed_bytes(manifest_digest, epoch, ns)).hex(),
    }


def holder_signed_bytes(lease_id: bytes, challenge: bytes) -> bytes:
    return det(["PDA-LEASE-HOLDER-v1", lease_id, challenge])


def make_holder_proof(seed: bytes, lease_id: bytes, challenge: bytes) -> dict[str, object]:
    """A holder proof (§7.2) by the holder key ``seed``."""
    signature = sign(seed, holder_signed_bytes(lease_id, challenge))
    return {"challenge": challenge.hex(), "signature": signature.hex()}


# ===================================================================== §13 governance
# §13.1-§13.10, written from the spec text only. A governed authority is one whose policy is a
# GovernancePolicy (a document with ``governance_version``) instead of a bare LeasePolicy.

GOVERNANCE_LIMITS: Final = SNAPSHOT_LIMITS  # §13.1: "Limits: those of a trust snapshot"
REQUEST_LIMITS: Final = HRC_LIMITS  # §13.7 step 2: "the HRC limits of §9"
APPROVALS_LIMITS: Final = MANIFEST_LIMITS  # §13.8: the array "with the manifest limits of §9"
MAX_REQUEST_TOOLS: Final = 16  # §13.4
MAX_APPROVALS: Final = 64  # §13.8 step 1
MAX_REQUEST_AGE_NS: Final = 3_600_000_000_000  # §13.1
MAX_APPROVAL_TTL_NS: Final = 604_800_000_000_000  # §13.1: at most 7 days
DECISIONS: Final = ("ALLOW", "DENY", "REVIEW")
PRINCIPAL_KINDS: Final = ("PERSON", "SERVICE")
VERDICTS: Final = ("APPROVE", "DENY")
GOVERNANCE_CLAIM: Final = -65547  # §13.10


def is_governance_policy(policy: object) -> bool:
    """§10/§13.1: a decision authority's policy is governed when it has ``governance_version``."""
    return type(policy) is dict and "governance_version" in policy


def _utf8_increasing(items: Sequence[str]) -> bool:
    """Strictly increasing in UTF-8 bytewise order (which also means distinct)."""
    encoded = [item.encode("utf-8") for item in items]
    return all(a < b for a, b in itertools.pairwise(encoded))


def sorted_ids(item: Rule, *, min_items: int = 0, max_items: int | None = None) -> Rule:
    """An array of distinct strings in strictly increasing order (§13.1 "one spelling"): its
    type, its item count, emptiness, then each item in order: its own rule, then that its
    UTF-8 bytes are greater than the previous item's (else BAD_VALUE at that item's path).
    """

    def rule(value: object, path: str) -> Fail | None:
        if type(value) is not list:
            return ("WRONG_TYPE", path)
        assert isinstance(value, list)
        if max_items is not None and len(value) > max_items:
            return ("TOO_MANY_ITEMS", path)
        if len(value) < min_items:
            return ("BAD_VALUE", path)
        for index, element in enumerate(value):
            item_path = index_path(path, index)
            failure = item(element, item_path)
            if failure:
                return failure
            if index and not _utf8_increasing([value[index - 1], element]):
                return ("BAD_VALUE", item_path)
        return None

    return rule


def object_of(key: Rule, member: Rule, *, min_members: int = 0) -> Rule:
    """An object with free member names: members in deterministic key order (§2.3), for each
    its name (judged by ``key`` at the member's path), then its value."""

    def rule(value: object, path: str) -> Fail | None:
        if type(value) is not dict:
            return ("WRONG_TYPE", path)
        assert isinstance(value, dict)
        if len(value) < min_members:
            return ("BAD_VALUE", path)
        for name, item in _members_in_det_order(value):
            at = child_path(path, name)
            failure = key(name, at) or member(item, at)
            if failure:
                return failure
        return None

    return rule


def nullable(rule: Rule) -> Rule:
    def nullable_rule(value: object, path: str) -> Fail | None:
        return None if value is None else rule(value, path)

    return nullable_rule


def any_integer(value: object, path: str) -> Fail | None:
    """An integer of the data model (its range is the walk's); its value is judged later."""
    return integer(INT64_MIN, INT64_MAX)(value, path)


def _review_rule(value: object, path: str) -> Fail | None:
    """§13.1 the REVIEW rule: ``reviewers`` non-empty and ``1 <= threshold <= len(reviewers)``
    (strict order is the array's own rule; membership in ``reviewers`` is cross-field)."""
    assert isinstance(value, dict)
    reviewers, threshold = value["reviewers"], value["threshold"]
    if not reviewers:
        return ("BAD_VALUE", child_path(path, "reviewers"))
    if not 1 <= threshold <= len(reviewers):
        return ("BAD_VALUE", child_path(path, "threshold"))
    return None


def _category_rule(value: object, path: str) -> Fail | None:
    """§13.1 categories: REVIEW obeys the REVIEW rule; ALLOW and DENY have [] and 0."""
    assert isinstance(value, dict)
    if value["decision"] == "REVIEW":
        return _review_rule(value, path)
    if value["reviewers"] != []:
        return ("BAD_VALUE", child_path(path, "reviewers"))
    if value["threshold"] != 0:
        return ("BAD_VALUE", child_path(path, "threshold"))
    return None


_REVIEWER_LIST: Final = sorted_ids(text(HEX32))
REVIEW_RULE_SCHEMA: Final = closed_object(
    [("reviewers", _REVIEWER_LIST), ("threshold", any_integer)], after=_review_rule
)
CATEGORY_SCHEMA: Final = closed_object(
    [("decision", one_of(*DECISIONS)), ("reviewers", _REVIEWER_LIST), ("threshold", any_integer)],
    after=_category_rule,
)
# READING: a principal's ``workspaces`` maps workspace names (Identifiers, §13.1 workspaces) to
# role names (Identifiers); whether they are defined is a cross-field rule.
PRINCIPAL_SCHEMA: Final = closed_object(
    [
        ("name", text(IDENTIFIER)),
        ("kind", one_of(*PRINCIPAL_KINDS)),
        ("workspaces", object_of(text(IDENTIFIER), text(IDENTIFIER), min_members=1)),
    ]
)
# The org's ``capabilities`` and ``models``, a role's ``models`` and ``tools``, and the
# ``reviewers``, ``principals`` and ``workspaces`` objects may be empty: §13.1 says "non-empty"
# only for REVIEW reviewers, a role's capabilities, a workspace's roles and a principal's
# workspaces ("at least one").
ROLE_SCHEMA: Final = closed_object(
    [
        ("capabilities", sorted_ids(text(IDENTIFIER), min_items=1)),
        ("models", sorted_ids(text(IDENTIFIER))),
        ("tools", sorted_ids(text(IDENTIFIER))),
    ]
)


def _members(value: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return sorted(value.items(), key=lambda entry: det(entry[0]))


def _governance_cross_fields(value: object, path: str) -> Fail | None:
    """§13.1 rules between fields, after every field obeys its own rule (paths are informative:
    a broken policy is refused with ``RefPolicyError``, not a DENY)."""
    assert isinstance(value, dict)
    doc: dict[str, Any] = value
    categories, reviewers = doc["categories"], doc["reviewers"]
    for tool, category in _members(doc["tools"]):
        if category not in categories:  # a key of `categories`
            return ("BAD_VALUE", child_path("tools", tool))
    for name, category in _members(categories):
        for index, key in enumerate(category["reviewers"]):
            if key not in reviewers:  # REVIEW rules' reviewers are keys of `reviewers`
                at = index_path(child_path(child_path("categories", name), "reviewers"), index)
                return ("BAD_VALUE", at)
    for name, review in _members(doc["sensitivity_review"]):
        for index, key in enumerate(review["reviewers"]):
            if key not in reviewers:
                at = child_path(child_path("sensitivity_review", name), "reviewers")
                return ("BAD_VALUE", index_path(at, index))
    for workspace, roles in _members(doc["workspaces"]):
        for role_name, role in _members(roles):
            at = child_path(child_path("workspaces", workspace), role_name)
            if not set(role["capabilities"]) <= set(doc["capabilities"]):
                return ("BAD_VALUE", child_path(at, "capabilities"))
            if not set(role["models"]) <= set(doc["models"]):
                return ("BAD_VALUE", child_path(at, "models"))
            for tool in role["tools"]:
                category = doc["tools"].get(tool)
                if category is None or categories[category]["decision"] == "DENY":
                    return ("BAD_VALUE", child_path(at, "tools"))
    for key, principal in _members(doc["principals"]):
        for workspace, role_name in _members(principal["workspaces"]):
            roles = doc["workspaces"].get(workspace)
            if roles is None or role_name not in roles:
                at = child_path(child_path(child_path("principals", key), "workspaces"), workspace)
                return ("BAD_VALUE", at)
    return None


# --------------------------------------------------------------- §14.1 the pools member

MAX_WINDOW_NS: Final = 86_400_000_000_000  # §14.1: at most one day
MAX_SAFETY_DENIALS: Final = 10000  # §14.1 cooldown and breaker `denials`
LIMIT_NAMES: Final = (
    "concurrency", "requests", "units", "context_tokens", "compute", "spend_cents"
)  # fmt: skip

# §14.1 Limits: each pool an integer in [0, 2^63-1] or null (no limit), in the table's order.
LIMITS_SCHEMA: Final = closed_object(
    [(name, nullable(integer(0, UINT63_MAX))) for name in LIMIT_NAMES]
)
COOLDOWN_SCHEMA: Final = closed_object(
    [
        ("denials", integer(1, MAX_SAFETY_DENIALS)),
        ("window_ns", integer(1, MAX_WINDOW_NS)),
        ("cooldown_ns", integer(1, MAX_WINDOW_NS)),
    ]
)
BREAKER_SCHEMA: Final = closed_object(
    [
        ("denials", integer(1, MAX_SAFETY_DENIALS)),
        ("window_ns", integer(1, MAX_WINDOW_NS)),
        ("open_ns", integer(1, MAX_WINDOW_NS)),
    ]
)
CLAMP_SCHEMA: Final = closed_object(
    [
        ("spend_cents", integer(0, UINT63_MAX)),
        ("window_ns", integer(1, MAX_WINDOW_NS)),
        ("lease_ns", integer(1, MAX_WINDOW_NS)),
    ]
)
SAFETY_SCHEMA: Final = closed_object(
    [
        ("cooldown", nullable(COOLDOWN_SCHEMA)),
        ("breaker", nullable(BREAKER_SCHEMA)),
        ("clamp", nullable(CLAMP_SCHEMA)),
    ]
)
# READING: the names of `pools.workspaces` are Identifiers and those of `pools.principals` 64
# lowercase hex (their own rules, as the policy's own `workspaces` and `principals` keys);
# that they name a workspace / principal of the policy is the cross-field rule of §14.1.
POOLS_SCHEMA: Final = closed_object(
    [
        ("rate_window_ns", integer(1, MAX_WINDOW_NS)),
        ("org", LIMITS_SCHEMA),
        ("workspaces", object_of(text(IDENTIFIER), LIMITS_SCHEMA)),
        ("principals", object_of(text(HEX32), LIMITS_SCHEMA)),
        ("safety", SAFETY_SCHEMA),
    ]
)


def _pools_cross_fields(value: object, path: str) -> Fail | None:
    """§14.1: "a `workspaces` key that is not a workspace of the policy, or a `principals` key
    that is not a principal of the policy, is refused (path `pools.workspaces.<name>` /
    `pools.principals.<key>`), after the rules of §13.1"."""
    assert isinstance(value, dict)
    pools = value["pools"]
    if pools is None:
        return None
    for name, _ in _members(pools["workspaces"]):
        if name not in value["workspaces"]:
            return ("BAD_VALUE", child_path("pools.workspaces", name))
    for name, _ in _members(pools["principals"]):
        if name not in value["principals"]:
            return ("BAD_VALUE", child_path("pools.principals", name))
    return None


def _all_cross_fields(value: object, path: str) -> Fail | None:
    return _governance_cross_fields(value, path) or _pools_cross_fields(value, path)


# §13.1 GovernancePolicy table, in its order, then the cross-field rules.
GOVERNANCE_SCHEMA: Final = closed_object(
    [
        ("governance_version", integer(1, 1)),
        ("org", text(IDENTIFIER)),
        ("version", integer(1, UINT63_MAX)),
        ("lease_policy", POLICY_SCHEMA),  # "a LeasePolicy (§3.4), valid by its own rules"
        ("request_max_age_ns", integer(1, MAX_REQUEST_AGE_NS)),
        ("approval_ttl_ns", integer(1, MAX_APPROVAL_TTL_NS)),
        ("capabilities", sorted_ids(text(IDENTIFIER))),
        ("models", sorted_ids(text(IDENTIFIER))),
        ("tools", object_of(text(IDENTIFIER), text(IDENTIFIER))),
        ("categories", object_of(text(IDENTIFIER), CATEGORY_SCHEMA)),
        ("sensitivity_review", object_of(one_of(*SENSITIVITIES), REVIEW_RULE_SCHEMA)),
        ("reviewers", object_of(ed25519_key, text(IDENTIFIER))),
        ("principals", object_of(ed25519_key, PRINCIPAL_SCHEMA)),
        (
            "workspaces",
            object_of(text(IDENTIFIER), object_of(text(IDENTIFIER), ROLE_SCHEMA, min_members=1)),
        ),
        # §14.1 "one more member". READING: judged after the members of the §13.1 table (the
        # spec gives it no place in that table); its cross-field rules after §13.1's.
        ("pools", nullable(POOLS_SCHEMA)),
    ],
    after=_all_cross_fields,
)


def check_governance_policy(document: object) -> dict[str, Any]:
    """§13.1: the document obeys its table (its ``lease_policy`` obeys §3.4), within the
    trust-snapshot limits of §9; else ``RefPolicyError`` (no decision is made under it).

    READING: the nested ``lease_policy`` is judged by the §3.4 table only; the manifest limits
    that ``check_authority`` applies to a bare LeasePolicy can never bind tighter than the §3.4
    table itself (at most 64 keys, strings of at most 256 characters), so they are not repeated.
    """
    failure = validate(document, GOVERNANCE_LIMITS, GOVERNANCE_SCHEMA)
    if failure:
        raise RefPolicyError(f"{failure[1]}: {failure[0]}")
    assert isinstance(document, dict)
    return document


def check_governed_authority(signing_seed: bytes, document: object) -> dict[str, Any]:
    """§3.5 for a governed authority.

    READING: §3.5 ("a LeasePolicy whose issuer_kid matches the key") applies to the document's
    ``lease_policy`` (§13.3 says the same of activation: "its lease_policy names the manager's
    issuer key").
    """
    governance = check_governance_policy(document)
    check_authority(signing_seed, governance["lease_policy"])
    return governance


def policy_digest_of(policy: Mapping[str, Any]) -> bytes:
    """§13.1: for a governed authority the policy digest is the whole document's; else §3.4."""
    return digest(policy)


def lease_policy_of(policy: Mapping[str, Any]) -> Mapping[str, Any]:
    """Thresholds, durations and HRC rules: the ``lease_policy`` of a governance document."""
    lease_policy = policy["lease_policy"] if is_governance_policy(policy) else policy
    assert isinstance(lease_policy, Mapping)
    return lease_policy


# --------------------------------------------------------------- §13.4, §13.5 signed inputs


MAX_DEMAND: Final = 2**53 - 1  # §14.2
DEMAND_NAMES: Final = ("units", "context_tokens", "compute", "spend_cents")  # §14.2 order
NO_DEMAND: Final[Mapping[str, int]] = dict.fromkeys(DEMAND_NAMES, 0)


def request_signed_bytes(
    principal: bytes,
    workspace: str,
    model: str | None,
    tools: Sequence[str],
    manifest_digest: bytes,
    epoch: str,
    ns: int,
    demand: Mapping[str, int] = NO_DEMAND,
) -> bytes:
    """§13.4 with the demand of §14.2 as the last element: ``[units, context_tokens, compute,
    spend_cents]``."""
    demanded = [demand[name] for name in DEMAND_NAMES]
    material = [
        "PDA-REQUEST-v1", principal, workspace, model, list(tools), manifest_digest, epoch, ns,
        demanded,
    ]  # fmt: skip
    return det(material)


def approval_signed_bytes(
    reviewer: bytes, manifest_digest: bytes, verdict: str, epoch: str, ns: int
) -> bytes:
    """§13.5."""
    return det(["PDA-APPROVAL-v1", reviewer, manifest_digest, verdict, epoch, ns])


def make_request(
    seed: bytes,
    workspace: str,
    model: str | None,
    tools: Sequence[str],
    manifest_digest: bytes,
    epoch: str,
    ns: int,
    demand: Mapping[str, int] | None = None,
) -> dict[str, object]:
    """A GovernedRequest (§13.4, §14.2) signed by the principal with key ``seed`` (tools and
    demand as given; no demand is all zeros)."""
    principal = public_key(seed)
    demanded = dict(NO_DEMAND if demand is None else demand)
    signed = request_signed_bytes(
        principal, workspace, model, tools, manifest_digest, epoch, ns, demanded
    )
    return {
        "request_version": 1,
        "principal": principal.hex(),
        "workspace": workspace,
        "model": model,
        "tools": list(tools),
        "manifest_digest": manifest_digest.hex(),
        "requested_at": {"epoch": epoch, "ns": ns},
        "demand": demanded,
        "signature": sign(seed, signed).hex(),
    }


def make_approval(
    seed: bytes, manifest_digest: bytes, verdict: str, epoch: str, ns: int
) -> dict[str, object]:
    """An Approval (§13.5) signed by the reviewer with key ``seed``."""
    reviewer = public_key(seed)
    signed = approval_signed_bytes(reviewer, manifest_digest, verdict, epoch, ns)
    return {
        "approval_version": 1,
        "reviewer": reviewer.hex(),
        "manifest_digest": manifest_digest.hex(),
        "verdict": verdict,
        "signed_at": {"epoch": epoch, "ns": ns},
        "signature": sign(seed, signed).hex(),
    }


# §14.2 demand: "each an integer in [0, 2^53-1], members in this order of judgement".
DEMAND_SCHEMA: Final = closed_object([(name, integer(0, MAX_DEMAND)) for name in DEMAND_NAMES])

# §13.4 GovernedRequest, in the order of its table, with §14.2 `demand` "after requested_at,
# before signature".
REQUEST_SCHEMA: Final = closed_object(
    [
        ("request_version", integer(1, 1)),
        ("principal", text(HEX32)),
        ("workspace", text(IDENTIFIER)),
        ("model", nullable(text(IDENTIFIER))),
        ("tools", sorted_ids(text(IDENTIFIER), max_items=MAX_REQUEST_TOOLS)),
        ("manifest_digest", text(HEX32)),
        ("requested_at", MONOTONIC_TIME_SCHEMA),
        ("demand", DEMAND_SCHEMA),
        ("signature", text(HEX64)),
    ]
)

# §13.5 Approval. READING: §13.5 has no table; the fields are judged in the order of its JSON
# example, and ``approval_version`` MUST be 1 (as every other version field of the spec).
APPROVAL_SCHEMA: Final = closed_object(
    [
        ("approval_version", integer(1, 1)),
        ("reviewer", text(HEX32)),
        ("manifest_digest", text(HEX32)),
        ("verdict", one_of(*VERDICTS)),
        ("signed_at", MONOTONIC_TIME_SCHEMA),
        ("signature", text(HEX64)),
    ]
)


def validate_at(document: object, limits: Limits, schema: Rule, root: str) -> Fail | None:
    """§4.1 steps 1-4 for a document whose paths are written under ``root`` (§13.7, §13.8:
    ``request.requested_at.ns``, ``approvals[2].verdict``)."""
    if type(document) is not dict:
        return ("NOT_AN_OBJECT", root)
    return _Walk(limits).value(document, root, 1) or schema(document, root)


# ------------------------------------------------------------------------ §13.7 step G


@dataclasses.dataclass(frozen=True)
class Admitted:
    """Step G passed: who asks (authenticated), in which role, for what."""

    principal: bytes
    workspace: str
    role: str
    model: str | None
    tools: tuple[str, ...]
    request_digest: bytes
    demand: Mapping[str, int] = dataclasses.field(default_factory=lambda: dict(NO_DEMAND))


def policy_step(
    governance: Mapping[str, Any],
    manifest: Mapping[str, Any],
    manifest_digest: bytes,
    now_epoch: str,
    now_ns: int,
    request: object,
) -> dict[str, object] | Admitted:
    """§13.7 steps 1-16: a ``POLICY_DENIED`` DENY, or the admitted request."""

    def denied(reason: str, field: str | None = None) -> dict[str, object]:
        return _deny("POLICY_DENIED", reason, field)

    if request is None:
        return denied("REQUEST_MISSING")  # 1 (field `$`; the message has no {field})
    failure = validate_at(request, REQUEST_LIMITS, REQUEST_SCHEMA, "request")
    if failure:
        return denied("REQUEST_MALFORMED", failure[1])  # 2
    assert isinstance(request, dict)
    principal = governance["principals"].get(request["principal"])
    if principal is None:
        return denied("UNKNOWN_PRINCIPAL")  # 3
    key = bytes.fromhex(request["principal"])
    signed_digest = bytes.fromhex(request["manifest_digest"])
    at = request["requested_at"]
    signed = request_signed_bytes(
        key, request["workspace"], request["model"], request["tools"], signed_digest,
        at["epoch"], at["ns"], request["demand"],
    )  # fmt: skip
    if not signature_verifies(key, signed, bytes.fromhex(request["signature"])):
        return denied("BAD_REQUEST_SIGNATURE")  # 4
    if signed_digest != manifest_digest:
        return denied("REQUEST_WRONG_MANIFEST")  # 5
    if at["epoch"] != now_epoch:
        return denied("REQUEST_EPOCH_MISMATCH")  # 6
    if not at["ns"] <= now_ns:
        return denied("REQUEST_FROM_FUTURE")  # 7
    if not now_ns - at["ns"] < governance["request_max_age_ns"]:
        return denied("REQUEST_TOO_OLD")  # 8
    role_name = principal["workspaces"].get(request["workspace"])
    if role_name is None:
        return denied("WORKSPACE_NOT_ALLOWED", "request.workspace")  # 9
    role = governance["workspaces"][request["workspace"]][role_name]
    capability = manifest["capability_id"]
    if capability not in governance["capabilities"]:
        return denied("CAPABILITY_NOT_ALLOWED", "capability_id")  # 10
    if capability not in role["capabilities"]:
        return denied("CAPABILITY_NOT_IN_ROLE", "capability_id")  # 11
    model = request["model"]
    if model is not None and model not in governance["models"]:
        return denied("MODEL_NOT_ALLOWED", "request.model")  # 12
    if model is not None and model not in role["models"]:
        return denied("MODEL_NOT_IN_ROLE", "request.model")  # 13
    for index, tool in enumerate(request["tools"]):
        field = index_path("request.tools", index)
        category = governance["tools"].get(tool)
        if category is None:
            return denied("TOOL_UNKNOWN", field)  # 14
        if governance["categories"][category]["decision"] == "DENY":
            return denied("TOOL_CATEGORY_DENIED", field)  # 15
        if tool not in role["tools"]:
            return denied("TOOL_NOT_IN_ROLE", field)  # 16
    return Admitted(
        principal=key,
        workspace=request["workspace"],
        role=role_name,
        model=model,
        tools=tuple(request["tools"]),
        request_digest=digest(request),
        demand=dict(request["demand"]),
    )


# ------------------------------------------------------------------------ §13.8 step A


@dataclasses.dataclass(frozen=True)
class Requirement:
    """One review requirement (§13.8) and the field path that names it in a DENY."""

    field: str
    reviewers: frozenset[str]
    threshold: int


def requirements_of(
    governance: Mapping[str, Any], tools: Sequence[str], sensitivity: str
) -> list[Requirement]:
    """§13.8: the REVIEW categories of the tools (each once, in deterministic key order), then
    the manifest's sensitivity if it is a key of ``sensitivity_review``.

    READING: "deterministic key order" is the order of §2.3 (bytewise order of the encoded
    names, so a shorter name comes first: "pay" before "network"), as everywhere the spec
    speaks of deterministic order of keys. The field is built with the §4.1 path rules, so
    ``categories.<name>`` becomes ``categories["net.io"]`` for a name with a '.', ':' or '/'.
    """
    categories = governance["categories"]
    names = {governance["tools"][tool] for tool in tools}
    review = [name for name in names if categories[name]["decision"] == "REVIEW"]
    found = [
        Requirement(
            child_path("categories", name),
            frozenset(categories[name]["reviewers"]),
            categories[name]["threshold"],
        )
        for name in sorted(review, key=det)
    ]
    rule = governance["sensitivity_review"].get(sensitivity)
    if rule is not None:
        found.append(
            Requirement(
                child_path("sensitivity_review", sensitivity),
                frozenset(rule["reviewers"]),
                rule["threshold"],
            )
        )
    return found


def approval_counts(approval: Mapping[str, Any], ttl_ns: int, now_epoch: str, now_ns: int) -> bool:
    """§13.5: an APPROVE counts while its epoch is now's and ``0 <= now - signed_at < ttl``."""
    at = approval["signed_at"]
    return bool(
        approval["verdict"] == "APPROVE"
        and at["epoch"] == now_epoch
        and 0 <= now_ns - at["ns"] < ttl_ns
    )


def approval_step(
    governance: Mapping[str, Any],
    requirements: Sequence[Requirement],
    manifest_digest: bytes,
    now_epoch: str,
    now_ns: int,
    approvals: object,
) -> dict[str, object] | bytes:
    """§13.8 steps 1-6 (there is at least one requirement): a DENY, or ``H(det(approvals))``.

    READING: step 1 runs (a) anything but an array (or null) is WRONG_TYPE at ``approvals``;
    (b) more than 64 items is TOO_MANY_ITEMS at ``approvals``, judged where the walk judges
    the array's member count, i.e. before any item is walked (§9: "limits are checked before
    the work they bound"); (c) the §4.1 walk (steps 2-3, manifest limits) of the whole array,
    rooted at ``approvals``; (d) each item in order against the Approval schema (§4.1 steps 1
    and 4, NOT_AN_OBJECT at ``approvals[i]``). (This reading was first (c) before (b); it was
    changed after a comparison with the kernel showed the gap, on the §9 argument.)
    """

    def required(reason: str, field: str) -> dict[str, object]:
        return _deny("APPROVAL_REQUIRED", reason, field)

    given = [] if approvals is None else approvals
    if type(given) is not list:
        return required("APPROVALS_MALFORMED", "approvals")
    assert isinstance(given, list)
    failure: Fail | None = None
    if len(given) > MAX_APPROVALS:
        failure = ("TOO_MANY_ITEMS", "approvals")
    failure = failure or _Walk(APPROVALS_LIMITS).value(given, "approvals", 1)
    for index, item in enumerate(given):
        if failure:
            break
        at = index_path("approvals", index)
        failure = ("NOT_AN_OBJECT", at) if type(item) is not dict else APPROVAL_SCHEMA(item, at)
    if failure:
        return required("APPROVALS_MALFORMED", failure[1])  # 1
    for index, item in enumerate(given):
        at = index_path("approvals", index)
        if item["reviewer"] not in governance["reviewers"]:
            return required("APPROVAL_UNKNOWN_REVIEWER", child_path(at, "reviewer"))  # 2
        reviewer = bytes.fromhex(item["reviewer"])
        signed_digest = bytes.fromhex(item["manifest_digest"])
        signed_at = item["signed_at"]
        signed = approval_signed_bytes(
            reviewer, signed_digest, item["verdict"], signed_at["epoch"], signed_at["ns"]
        )
        if not signature_verifies(reviewer, signed, bytes.fromhex(item["signature"])):
            return required("APPROVAL_BAD_SIGNATURE", child_path(at, "signature"))  # 3
        if signed_digest != manifest_digest:
            return required("APPROVAL_WRONG_MANIFEST", child_path(at, "manifest_digest"))  # 4
    relevant = frozenset().union(*(requirement.reviewers for requirement in requirements))
    for index, item in enumerate(given):
        # A DENY is final for its digest: whatever its time or epoch (§13.5).
        if item["verdict"] == "DENY" and item["reviewer"] in relevant:
            field = child_path(index_path("approvals", index), "verdict")
            return _deny("POLICY_DENIED", "REVIEWER_DENIED", field)  # 5
    ttl_ns = governance["approval_ttl_ns"]
    approving = {
        item["reviewer"] for item in given if approval_counts(item, ttl_ns, now_epoch, now_ns)
    }
    for requirement in requirements:
        if len(approving & requirement.reviewers) < requirement.threshold:
            return required("APPROVALS_INSUFFICIENT", requirement.field)  # 6
    return digest(given)


# ------------------------------------------------------------- §14.3 the usage snapshot

USAGE_LIMITS: Final = SNAPSHOT_LIMITS  # §14.3: "the trust snapshot limits of §9"
MAX_DAY: Final = 2**31 - 1  # §14.3
MAX_USAGE_ITEMS: Final = 10000  # §14.3
# §14.3: a denial's code is "one of the codes of the catalog (§5, §13.9, §14.5)".
DENIAL_CODES: Final = (
    "INVALID_MANIFEST",
    "LEASE_EXPIRED",
    "INSUFFICIENT_TRUST",
    "HRC_REQUIRED",
    "LEASE_REVOKED",
    "INVALID_TOKEN",
    "UNAVAILABLE",
    "POLICY_DENIED",
    "APPROVAL_REQUIRED",
    "QUOTA_EXCEEDED",
    "SUBLEASE_DENIED",
)


def array_of(item: Rule, max_items: int) -> Rule:
    """An array (its type, its item count), then each item in order by ``item``."""

    def rule(value: object, path: str) -> Fail | None:
        if type(value) is not list:
            return ("WRONG_TYPE", path)
        assert isinstance(value, list)
        if len(value) > max_items:
            return ("TOO_MANY_ITEMS", path)
        for index, element in enumerate(value):
            failure = item(element, index_path(path, index))
            if failure:
                return failure
        return None

    return rule


# §14.3, in the order of its table.
RESERVATION_SCHEMA: Final = closed_object(
    [
        ("lease_id", text(HEX16)),
        ("principal", text(HEX32)),
        ("workspace", text(IDENTIFIER)),
        ("clock_epoch", text(EPOCH_ID)),
        ("granted_at_ns", integer(0, UINT63_MAX)),
        ("expires_at_ns", integer(0, UINT63_MAX)),
        ("day", integer(0, MAX_DAY)),
        ("open", boolean),
        ("units", integer(0, MAX_DEMAND)),
        ("compute", integer(0, MAX_DEMAND)),
        ("spend_cents", integer(0, UINT63_MAX)),
    ]
)
DENIAL_SCHEMA: Final = closed_object(
    [
        ("principal", text(HEX32)),
        ("workspace", text(IDENTIFIER)),
        ("clock_epoch", text(EPOCH_ID)),
        ("at_ns", integer(0, UINT63_MAX)),
        ("code", one_of(*DENIAL_CODES)),
    ]
)
USAGE_SCHEMA: Final = closed_object(
    [
        ("usage_version", integer(1, 1)),
        ("day", integer(0, MAX_DAY)),
        ("reservations", array_of(RESERVATION_SCHEMA, MAX_USAGE_ITEMS)),
        ("denials", array_of(DENIAL_SCHEMA, MAX_USAGE_ITEMS)),
    ]
)


def validate_usage(usage: object) -> Fail | None:
    """§14.3/§14.4 check 1: the snapshot walked with §4.1 and the trust-snapshot limits, its
    paths under ``usage`` (``usage.reservations[0].day``).

    READING: ``usage`` is "a UsageSnapshot or null", and check 1 asks for a well-formed
    UsageSnapshot; unlike ``approvals`` (§13.6) no rule reads ``null`` as an empty one, and
    there is no "missing" reason, so ``null`` is ``USAGE_INVALID`` at ``usage``.
    """
    return validate_at(usage, USAGE_LIMITS, USAGE_SCHEMA, "usage")


def in_flight(item: Mapping[str, Any], now_epoch: str, now_ns: int) -> bool:
    """§14.3: open, of now's epoch and ``granted_at_ns <= now.ns < expires_at_ns``."""
    return bool(
        item["open"]
        and item["clock_epoch"] == now_epoch
        and item["granted_at_ns"] <= now_ns < item["expires_at_ns"]
    )


def in_window(item: Mapping[str, Any], now_epoch: str, now_ns: int, window_ns: int) -> bool:
    """§14.3: of now's epoch and ``0 <= now.ns - granted_at_ns < window_ns`` (open or not)."""
    return bool(
        item["clock_epoch"] == now_epoch and 0 <= now_ns - item["granted_at_ns"] < window_ns
    )


def recent(denial: Mapping[str, Any], now_epoch: str, now_ns: int, window_ns: int) -> bool:
    """§14.3: a recent denial (QUOTA_EXCEEDED ones are filtered by the caller's rule)."""
    return bool(denial["clock_epoch"] == now_epoch and 0 <= now_ns - denial["at_ns"] < window_ns)


# --------------------------------------------------------------------- §14.4 step P


@dataclasses.dataclass(frozen=True)
class Scope:
    """One scope of §14.4: its field path, its Limits (None: no limits) and its items."""

    path: str
    limits: Mapping[str, int | None] | None
    reservations: tuple[Mapping[str, Any], ...]


def scopes_of(
    pools: Mapping[str, Any], usage: Mapping[str, Any], workspace: str, principal: str
) -> list[Scope]:
    """§14.3-§14.4: org (every item), workspace (``workspace == w``), principal (``== p``)."""
    reservations = usage["reservations"]
    return [
        Scope("pools.org", pools["org"], tuple(reservations)),
        Scope(
            child_path("pools.workspaces", workspace),
            pools["workspaces"].get(workspace),
            tuple(r for r in reservations if r["workspace"] == workspace),
        ),
        Scope(
            child_path("pools.principals", principal),
            pools["principals"].get(principal),
            tuple(r for r in reservations if r["principal"] == principal),
        ),
    ]


def retry_at(epoch: str, ns: int) -> dict[str, object]:
    return {"at": {"epoch": epoch, "ns": ns}}


def _quota(reason: str, field: str, retry: object) -> dict[str, object]:
    """A QUOTA_EXCEEDED DENY in its expected form: §10 plus ``retry`` (§14.5)."""
    return {**_deny("QUOTA_EXCEEDED", reason, field), "retry": retry}


def _removal_time(
    items: Sequence[Mapping[str, Any]],
    order: Callable[[Mapping[str, Any]], tuple[int, str]],
    passes: Callable[[Sequence[Mapping[str, Any]]], bool],
) -> Mapping[str, Any] | None:
    """§14.4 retry: remove ``items`` one by one in ``order`` until ``passes``; the last one
    removed, or None when the check fails even with none left."""
    remaining = sorted(items, key=order)
    if not passes([]):
        return None
    removed: Mapping[str, Any] | None = None
    while not passes(remaining):
        removed = remaining.pop(0)
    return removed


Item = Mapping[str, Any]
Member = Callable[[Item], bool]
Order = Callable[[Item], tuple[int, str]]


def in_flight_now(now_epoch: str, now_ns: int) -> Member:
    return lambda item: in_flight(item, now_epoch, now_ns)


def in_window_now(now_epoch: str, now_ns: int, window_ns: int) -> Member:
    return lambda item: in_window(item, now_epoch, now_ns, window_ns)


def _fits(items: Sequence[Item], *, weight: str | None, need: int, cap: int) -> bool:
    """``(number of items, or sum of their weight) + need <= cap`` (§14.4 checks 5-8)."""
    used = len(items) if weight is None else sum(int(item[weight]) for item in items)
    return used + need <= cap


def _by_expiry(item: Item) -> tuple[int, str]:
    return (item["expires_at_ns"], item["lease_id"])


def _by_grant(item: Item) -> tuple[int, str]:
    return (item["granted_at_ns"], item["lease_id"])


def _expiry(item: Item) -> int:
    return int(item["expires_at_ns"])


def _grant_plus(window_ns: int) -> Callable[[Item], int]:
    return lambda item: int(item["granted_at_ns"]) + window_ns


def pools_step(
    governance: Mapping[str, Any],
    admitted: Admitted,
    now_epoch: str,
    now_ns: int,
    usage: object,
) -> dict[str, object] | bool:
    """§14.4 checks 1-9 (first failure decides): a QUOTA_EXCEEDED DENY with its ``retry``, or
    whether the grant is clamped."""
    pools = governance["pools"]
    failure = validate_usage(usage)
    if failure:
        return _quota("USAGE_INVALID", failure[1], None)  # 1
    assert isinstance(usage, dict)
    principal, workspace = admitted.principal.hex(), admitted.workspace
    demand = admitted.demand
    safety = pools["safety"]

    cooldown = safety["cooldown"]
    if cooldown is not None:  # 2: any code but QUOTA_EXCEEDED, any workspace
        times = [
            denial["at_ns"]
            for denial in usage["denials"]
            if denial["principal"] == principal
            and denial["code"] != "QUOTA_EXCEEDED"
            and recent(denial, now_epoch, now_ns, cooldown["window_ns"])
        ]
        if len(times) >= cooldown["denials"]:
            until = max(times) + cooldown["cooldown_ns"]
            if now_ns < until:
                return _quota(
                    "PRINCIPAL_COOLDOWN", "pools.safety.cooldown", retry_at(now_epoch, until)
                )
    breaker = safety["breaker"]
    if breaker is not None:  # 3: POLICY_DENIED only, any principal
        times = [
            denial["at_ns"]
            for denial in usage["denials"]
            if denial["workspace"] == workspace
            and denial["code"] == "POLICY_DENIED"
            and recent(denial, now_epoch, now_ns, breaker["window_ns"])
        ]
        if len(times) >= breaker["denials"]:
            until = max(times) + breaker["open_ns"]
            if now_ns < until:
                return _quota(
                    "WORKSPACE_CIRCUIT_OPEN", "pools.safety.breaker", retry_at(now_epoch, until)
                )

    scopes = scopes_of(pools, usage, workspace, principal)

    def limit(scope: Scope, name: str) -> int | None:
        return None if scope.limits is None else scope.limits[name]

    for scope in scopes:  # 4
        cap = limit(scope, "context_tokens")
        if cap is not None and not demand["context_tokens"] <= cap:
            return _quota("CONTEXT_TOO_LARGE", child_path(scope.path, "context_tokens"), None)

    window_ns = pools["rate_window_ns"]
    flying = in_flight_now(now_epoch, now_ns)
    windowed = in_window_now(now_epoch, now_ns, window_ns)
    # 5-8: (reason, pool, which reservations count, their weight (None: one each), the
    # request's own weight, the order of removal, the retry time of the last one removed).
    leaves = _grant_plus(window_ns)
    counted: list[tuple[str, str, Member, str | None, int, Order, Callable[[Item], int]]] = [
        ("CONCURRENCY_EXCEEDED", "concurrency", flying, None, 1, _by_expiry, _expiry),
        ("COMPUTE_EXCEEDED", "compute", flying, "compute", demand["compute"], _by_expiry, _expiry),
        ("REQUESTS_EXCEEDED", "requests", windowed, None, 1, _by_grant, leaves),
        ("UNITS_EXCEEDED", "units", windowed, "units", demand["units"], _by_grant, leaves),
    ]  # fmt: skip
    for reason, name, member, weight, need, order, time_of in counted:
        for scope in scopes:  # "for the org, then the workspace, then the principal"
            cap = limit(scope, name)
            if cap is None:  # "A null limit passes."
                continue
            fits = functools.partial(_fits, weight=weight, need=need, cap=cap)
            items = [r for r in scope.reservations if member(r)]
            if not fits(items):
                last = _removal_time(items, order, fits)
                retry = None if last is None else retry_at(now_epoch, time_of(last))
                return _quota(reason, child_path(scope.path, name), retry)
    for scope in scopes:  # 9
        cap = limit(scope, "spend_cents")
        if cap is None:
            continue
        spent = sum(r["spend_cents"] for r in scope.reservations if r["day"] == usage["day"])
        if not spent + demand["spend_cents"] <= cap:
            retry = None if demand["spend_cents"] > cap else {"day": usage["day"] + 1}
            return _quota("SPEND_EXCEEDED", child_path(scope.path, "spend_cents"), retry)

    clamp = safety["clamp"]
    if clamp is None:
        return False
    spike = sum(
        r["spend_cents"]
        for r in usage["reservations"]
        if r["workspace"] == workspace and in_window(r, now_epoch, now_ns, clamp["window_ns"])
    )
    return bool(spike >= clamp["spend_cents"])


# --------------------------------------------------------------------- §13.10 the claim


def governed_lease_id_of(
    issuer_kid: bytes,
    policy_digest: bytes,
    manifest_digest: bytes,
    trust_digest: bytes,
    hrc_digest: bytes | None,
    request_digest: bytes,
    approvals_digest: bytes | None,
    epoch: str,
    ns: int,
) -> bytes:
    """§13.10."""
    material = [
        "PDA-GOV-LEASE-ID-v1",
        issuer_kid,
        policy_digest,
        manifest_digest,
        trust_digest,
        hrc_digest,
        request_digest,
        approvals_digest,
        epoch,
        ns,
    ]
    return H(det(material))[:16]


def governance_claim(admitted: Admitted, approvals_digest: bytes | None) -> dict[str, object]:
    """§13.10 claim -65547."""
    return {
        "principal": admitted.principal,
        "workspace": admitted.workspace,
        "role": admitted.role,
        "model": admitted.model,
        "tools": list(admitted.tools),
        "request": admitted.request_digest,
        "approvals": approvals_digest,
    }


# ----------------------------------------------------------- example policy for the tests


def reference_seed(name: str) -> bytes:
    """The fixed seeds of the governance self-tests: H("pda-lease reference key: " || name)."""
    return hashlib.sha256(b"pda-lease reference key: " + name.encode()).digest()


def reference_key(name: str) -> str:
    return public_key(reference_seed(name)).hex()


def _review(*names: str, threshold: int) -> dict[str, object]:
    return {"reviewers": sorted(reference_key(name) for name in names), "threshold": threshold}


def governance_policy_document(
    issuer_seed: bytes | None = None, **changes: object
) -> dict[str, Any]:
    """A small example GovernancePolicy (§13.1) with top-level ``changes``.

    Org "acme", two workspaces: "research" (roles "analyst", "viewer") and "ops" ("operator").
    Principals alice (PERSON: research/analyst, ops/operator), bot (SERVICE: ops/operator) and
    vera (PERSON: research/viewer). Categories: "read" ALLOW, "network" REVIEW by bob and carol
    with threshold 2, "pay" REVIEW by dave with threshold 1 (a shorter name than "network", so
    it comes first in deterministic order), "shell" DENY; HIGH sensitivity needs one of dave
    and erin. Times are small numbers, as in the fixed policy of the kernel's tests.
    """
    seed = reference_seed("issuer") if issuer_seed is None else issuer_seed
    analyst_tools = ["fs.list", "fs.read", "pay.send", "web.fetch"]
    document: dict[str, Any] = {
        "governance_version": 1,
        "org": "acme",
        "version": 3,
        "lease_policy": {
            "policy_version": 1,
            "sequence": 1,
            "issuer": "pda-lease:governed",
            "issuer_kid": thumbprint(public_key(seed)).hex(),
            "lease_duration_ns": {"LOW": 300, "MEDIUM": 120, "HIGH": 30},
            "trust_threshold": {"LOW": 3000, "MEDIUM": 6000, "HIGH": 9000},
            "hrc_required_for": ["HIGH"],
            "hrc_keys": [reference_key("hrc")],
            "hrc_max_age_ns": 60,
        },
        "request_max_age_ns": 50,
        "approval_ttl_ns": 100,
        "capabilities": ["files.read", "mail.send", "net.fetch"],
        "models": ["local-large", "local-small"],
        "tools": {
            "fs.list": "read",
            "fs.read": "read",
            "pay.send": "pay",
            "shell.exec": "shell",
            "web.fetch": "network",
            "web.post": "network",
        },
        "categories": {
            "network": {"decision": "REVIEW", **_review("bob", "carol", threshold=2)},
            "pay": {"decision": "REVIEW", **_review("dave", threshold=1)},
            "read": {"decision": "ALLOW", "reviewers": [], "threshold": 0},
            "shell": {"decision": "DENY", "reviewers": [], "threshold": 0},
        },
        "sensitivity_review": {"HIGH": _review("dave", "erin", threshold=1)},
        "reviewers": {reference_key(name): name for name in ("bob", "carol", "dave", "erin")},
        "principals": {
            reference_key("alice"): {
                "name": "alice",
                "kind": "PERSON",
                "workspaces": {"ops": "operator", "research": "analyst"},
            },
            reference_key("bot"): {
                "name": "bot",
                "kind": "SERVICE",
                "workspaces": {"ops": "operator"},
            },
            reference_key("vera"): {
                "name": "vera",
                "kind": "PERSON",
                "workspaces": {"research": "viewer"},
            },
        },
        "workspaces": {
            "ops": {
                "operator": {
                    "capabilities": ["files.read", "mail.send"],
                    "models": ["local-large", "local-small"],
                    "tools": ["fs.read", "web.post"],
                },
            },
            "research": {
                "analyst": {
                    "capabilities": ["files.read", "net.fetch"],
                    "models": ["local-small"],
                    "tools": analyst_tools,
                },
                "viewer": {"capabilities": ["files.read"], "models": [], "tools": ["fs.read"]},
            },
        },
        "pools": None,  # §14.1: no pools unless a test gives some
    }
    document.update(changes)
    return document


# ============================================================================= §4 decide


def _time(now: Mapping[str, object]) -> tuple[str, int]:
    epoch, ns = now["epoch"], now["ns"]
    assert type(epoch) is str and EPOCH_ID.fullmatch(epoch), "now is trusted (§2.2)"
    assert type(ns) is int and 0 <= ns <= UINT63_MAX, "now is trusted (§2.2)"
    return epoch, ns


def _check_hrc(
    policy: Mapping[str, Any], manifest_digest: bytes, now_epoch: str, now_ns: int, hrc: object
) -> dict[str, object] | bytes:
    """§4.2 steps 1-8: a DENY, or the HRC token's digest (bound as the ``hrc`` claim)."""
    if hrc is None:
        return _deny("HRC_REQUIRED", "HRC_MISSING")  # 1
    failure = validate(hrc, HRC_LIMITS, HRC_SCHEMA)
    if failure:
        return _deny("HRC_REQUIRED", "HRC_MALFORMED", failure[1])  # 2
    assert isinstance(hrc, dict)
    registered = {thumbprint(bytes.fromhex(k)).hex(): bytes.fromhex(k) for k in policy["hrc_keys"]}
    key = registered.get(hrc["key_id"])
    if key is None:
        return _deny("HRC_REQUIRED", "HRC_UNKNOWN_KEY")  # 3
    signed_digest = bytes.fromhex(hrc["manifest_digest"])
    confirmed = hrc["confirmed_at"]
    signed = hrc_signed_bytes(signed_digest, confirmed["epoch"], confirmed["ns"])
    if not signature_verifies(key, signed, bytes.fromhex(hrc["signature"])):
        return _deny("HRC_REQUIRED", "HRC_BAD_SIGNATURE")  # 4
    if signed_digest != manifest_digest:
        return _deny("HRC_REQUIRED", "HRC_WRONG_MANIFEST")  # 5
    if confirmed["epoch"] != now_epoch:
        return _deny("HRC_REQUIRED", "HRC_EPOCH_MISMATCH")  # 6
    if now_ns < confirmed["ns"]:
        return _deny("HRC_REQUIRED", "HRC_FROM_FUTURE")  # 7
    if now_ns - confirmed["ns"] >= policy["hrc_max_age_ns"]:
        return _deny("HRC_REQUIRED", "HRC_TOO_OLD")  # 8
    return digest(hrc)


def lease_id_of(
    issuer_kid: bytes,
    policy_digest: bytes,
    manifest_digest: bytes,
    trust_digest: bytes,
    hrc_digest: bytes | None,
    epoch: str,
    ns: int,
) -> bytes:
    """§6.4."""
    material = [
        "PDA-LEASE-ID-v1",
        issuer_kid,
        policy_digest,
        manifest_digest,
        trust_digest,
        hrc_digest,
        epoch,
        ns,
    ]
    return H(det(material))[:16]


def sign1(seed: bytes, protected: bytes, payload: bytes) -> bytes:
    """§6.5: Ed25519 over the RFC 9052 Sig_structure with empty external AAD."""
    return sign(seed, det(["Signature1", protected, b"", payload]))


def cose_sign1(protected: bytes, unprotected: object, payload: bytes, signature: bytes) -> bytes:
    """§6.1: ``#6.18([protected, unprotected, payload, signature])``."""
    return det(Tagged(18, [protected, unprotected, payload, signature]))


def ref_decide(
    signing_seed: bytes,
    policy: object,
    manifest: object,
    snapshot: object,
    now: Mapping[str, object],
    hrc_token: object | None,
    *,
    request: object | None = None,
    approvals: object | None = None,
    usage: object | None = None,
) -> dict[str, object]:
    """§4 (and §13.6 for a governed authority): the decision in the ``expected`` form of a §10
    decision vector. ``request`` and ``approvals`` are read only by a governed authority (a
    policy with ``governance_version``); without governance they are ignored (§13). ``usage``
    is read only when the governance policy has ``pools`` (§14.4, step P after step 3); a
    QUOTA_EXCEEDED DENY has ``retry``, a clamped GRANT ``"clamped": true`` (§14.4-§14.5).

    Raises ``RefPolicyError`` for a policy that §3.4 (or §13.1) refuses: no decision is made.
    """
    governance: dict[str, Any] | None = None
    if is_governance_policy(policy):
        governance = check_governed_authority(signing_seed, policy)
        pol = governance["lease_policy"]
    else:
        pol = check_authority(signing_seed, policy)
    now_epoch, now_ns = _time(now)

    # Step 1: the manifest is structurally valid (§4.1).
    failure = validate_manifest(manifest)
    if failure:
        reason, path = failure
        return _deny("INVALID_MANIFEST", reason, path)
    assert isinstance(manifest, dict)
    manifest_digest = digest(manifest)
    constraints, window = manifest["constraints"], manifest["window"]
    sensitivity = constraints["sensitivity"]

    # Step G (§13.7): who asks, for what.
    admitted: Admitted | None = None
    if governance is not None:
        checked_request = policy_step(
            governance, manifest, manifest_digest, now_epoch, now_ns, request
        )
        if isinstance(checked_request, dict):
            return checked_request
        admitted = checked_request

    # Step 2: now is within the execution window, in the window's clock epoch (§2.2).
    if now_epoch != window["epoch"]:
        return _deny("LEASE_EXPIRED", "EPOCH_MISMATCH")
    if now_ns < window["not_before_ns"]:
        return _deny("LEASE_EXPIRED", "WINDOW_NOT_OPEN")
    if now_ns >= window["not_after_ns"]:
        return _deny("LEASE_EXPIRED", "WINDOW_CLOSED")

    # Step 3: trust (§3.2): a valid snapshot, a score for the capability, score >= threshold.
    failure = validate_snapshot(snapshot)
    if failure:
        return _deny("INSUFFICIENT_TRUST", "SNAPSHOT_INVALID", failure[1])
    assert isinstance(snapshot, dict)
    score = snapshot["scores"].get(manifest["capability_id"])
    if score is None:
        return _deny("INSUFFICIENT_TRUST", "NO_SCORE")
    if score < pol["trust_threshold"][sensitivity]:
        return _deny("INSUFFICIENT_TRUST", "BELOW_THRESHOLD")

    # Step P (§14.4): admission, when the governance policy has pools.
    clamped = False
    if governance is not None and admitted is not None and governance["pools"] is not None:
        admission = pools_step(governance, admitted, now_epoch, now_ns, usage)
        if isinstance(admission, dict):
            return admission
        clamped = admission

    # Step A (§13.8): approvals, when review is required; else not parsed, not bound.
    approvals_digest: bytes | None = None
    if governance is not None and admitted is not None:
        requirements = requirements_of(governance, admitted.tools, sensitivity)
        if requirements:
            checked_approvals = approval_step(
                governance, requirements, manifest_digest, now_epoch, now_ns, approvals
            )
            if isinstance(checked_approvals, dict):
                return checked_approvals
            approvals_digest = checked_approvals

    # Step 4: HRC when required by the manifest OR the policy (§3.4); else ignored entirely.
    hrc_required = constraints["hrc_required"] or sensitivity in pol["hrc_required_for"]
    hrc_digest: bytes | None = None
    if hrc_required:
        checked = _check_hrc(pol, manifest_digest, now_epoch, now_ns, hrc_token)
        if isinstance(checked, dict):
            return checked
        hrc_digest = checked

    # Step 5: GRANT (§4 last paragraph, §6; §13.10 for a governed authority).
    issued_at = now_ns
    expires_at = min(now_ns + pol["lease_duration_ns"][sensitivity], window["not_after_ns"])
    if clamped:  # §14.4 Clamp: "also at most now.ns + clamp.lease_ns"
        assert governance is not None
        expires_at = min(expires_at, now_ns + governance["pools"]["safety"]["clamp"]["lease_ns"])
    issuer_kid = bytes.fromhex(pol["issuer_kid"])
    trust_digest = digest(snapshot)
    if admitted is None:
        policy_digest = digest(pol)
        lease_id = lease_id_of(
            issuer_kid, policy_digest, manifest_digest, trust_digest, hrc_digest, now_epoch, now_ns
        )
    else:
        policy_digest = digest(governance)  # §13.1: the whole document's digest
        lease_id = governed_lease_id_of(
            issuer_kid, policy_digest, manifest_digest, trust_digest, hrc_digest,
            admitted.request_digest, approvals_digest, now_epoch, now_ns,
        )  # fmt: skip
    claims: dict[int, object] = {  # §6.3
        1: pol["issuer"],
        2: manifest["task_id"],
        7: lease_id,
        8: {1: cose_key(bytes.fromhex(manifest["holder"]["public_key"]))},
        -65537: 1,
        -65538: manifest_digest,
        -65539: trust_digest,
        -65540: policy_digest,
        -65541: now_epoch,
        -65542: issued_at,
        -65543: expires_at,
        -65544: manifest["capability_id"],
        -65545: {
            "scope": constraints["scope"],
            "reversible": constraints["reversible"],
            "sensitivity": sensitivity,
            "hrc_required": hrc_required,  # the effective requirement
        },
        -65546: hrc_digest,
    }
    if admitted is not None:
        claims[GOVERNANCE_CLAIM] = governance_claim(admitted, approvals_digest)  # §13.10
    result = mint_grant(signing_seed, claims)
    if clamped:
        result["clamped"] = True  # §14.4: "and says so"
    return result


def mint_grant(signing_seed: bytes, claims: Mapping[int, object]) -> dict[str, object]:
    """§6.1/§6.5: sign ``claims`` as a token; the GRANT in the expected form of §10."""
    issuer_kid = thumbprint(public_key(signing_seed))
    protected = det({1: -19, 4: issuer_kid})
    payload = det(dict(claims))
    token = cose_sign1(protected, {}, payload, sign1(signing_seed, protected, payload))
    lease_id, manifest_digest = claims[7], claims[-65538]
    assert isinstance(lease_id, bytes) and isinstance(manifest_digest, bytes)
    return {
        "decision": "GRANT",
        "lease_id": lease_id.hex(),
        "token": token.hex(),
        "manifest_digest": manifest_digest.hex(),
        "issued_at_ns": claims[-65542],
        "expires_at_ns": claims[-65543],
    }


# ======================================================================= §14.8 sub-leases

PARENT_CLAIM: Final = -65548  # §14.8
MAX_CALLS: Final = 1000  # §14.8
SUBLEASE_ID_CONTEXT: Final = "PDA-SUBLEASE-ID-v1"


def sublease_id_of(
    parent_lease_id: bytes,
    tool: str,
    calls: int,
    ttl_ns: int,
    holder_public_key: bytes,
    epoch: str,
    ns: int,
) -> bytes:
    """§14.8: ``H(det(["PDA-SUBLEASE-ID-v1", parent_lease_id, tool, calls, ttl_ns,
    holder_public_key_bytes, now.epoch, now.ns]))[0:16]``."""
    material = [
        SUBLEASE_ID_CONTEXT, parent_lease_id, tool, calls, ttl_ns, holder_public_key, epoch, ns
    ]  # fmt: skip
    return H(det(material))[:16]


def ref_derive(
    signing_seed: bytes,
    parent_claims: Mapping[int, Any],
    now: Mapping[str, object],
    tool: object,
    calls: object,
    ttl_ns: object,
    holder_public_key: object,
) -> dict[str, object]:
    """§14.8 ``derive``: a GRANT of the child (expected form of §10) or a DENY.

    READING: "its time standing (§8 steps 1-2: LEASE_EXPIRED reasons)" is taken as the time
    steps of §8, i.e. steps 1-3 (EPOCH_MISMATCH, NOT_YET_VALID, EXPIRED): with steps 1-2 only,
    an expired parent would give a child with ``expires_at_ns <= issued_at_ns``, which §6.3 and
    §7.3 step 10 forbid ("a GRANT always carries a complete, signed lease token").
    """
    now_epoch, now_ns = _time(now)

    def denied(reason: str) -> dict[str, object]:
        return _deny("SUBLEASE_DENIED", reason)

    if GOVERNANCE_CLAIM not in parent_claims:
        return denied("PARENT_NOT_GOVERNED")
    if PARENT_CLAIM in parent_claims:
        return denied("PARENT_IS_SUBLEASE")
    if parent_claims[-65541] != now_epoch:
        return _deny("LEASE_EXPIRED", "EPOCH_MISMATCH")
    if not parent_claims[-65542] <= now_ns:
        return _deny("LEASE_EXPIRED", "NOT_YET_VALID")
    if not now_ns < parent_claims[-65543]:
        return _deny("LEASE_EXPIRED", "EXPIRED")
    governance = parent_claims[GOVERNANCE_CLAIM]
    if type(tool) is not str or tool not in governance["tools"]:
        return denied("TOOL_NOT_IN_PARENT")
    if type(calls) is not int or not 1 <= calls <= MAX_CALLS:
        return denied("BAD_CALLS")
    if type(ttl_ns) is not int or not 1 <= ttl_ns <= UINT63_MAX:
        return denied("BAD_TTL")
    if type(holder_public_key) is not bytes or not is_valid_holder_key(holder_public_key):
        return denied("BAD_HOLDER_KEY")
    parent_lease_id = parent_claims[7]
    lease_id = sublease_id_of(
        parent_lease_id, tool, calls, ttl_ns, holder_public_key, now_epoch, now_ns
    )
    claims = dict(parent_claims)
    claims[7] = lease_id
    claims[8] = {1: cose_key(holder_public_key)}
    claims[-65542] = now_ns
    claims[-65543] = min(parent_claims[-65543], now_ns + ttl_ns)
    claims[GOVERNANCE_CLAIM] = {**governance, "tools": [tool]}
    claims[PARENT_CLAIM] = {"lease_id": parent_lease_id, "tool": tool, "calls": calls}
    return mint_grant(signing_seed, claims)


# ============================================================================ §7 verify

_CLAIM_KEYS: Final = frozenset({1, 2, 7, 8, *range(-65546, -65536)})


def _is_int(value: object, expected: int) -> bool:
    return type(value) is int and value == expected


def _is_bstr(value: object, size: int) -> bool:
    return type(value) is bytes and len(value) == size


def _is_text(value: object, pattern: re.Pattern[str]) -> bool:
    return type(value) is str and pattern.fullmatch(value) is not None


def _is_uint63(value: object) -> bool:
    return type(value) is int and 0 <= value <= UINT63_MAX


_GOVERNANCE_MEMBERS: Final = frozenset(
    {"principal", "workspace", "role", "model", "tools", "request", "approvals"}
)


def governance_claim_is_well_formed(value: object) -> bool:
    """§13.10: exactly these members and types, ids obeying their rules (tools as in §13.4:
    at most 16 Identifiers in strictly increasing UTF-8 order)."""
    if type(value) is not dict or set(value) != _GOVERNANCE_MEMBERS:
        return False
    tools = value["tools"]
    return (
        _is_bstr(value["principal"], 32)
        and _is_text(value["workspace"], IDENTIFIER)
        and _is_text(value["role"], IDENTIFIER)
        and (value["model"] is None or _is_text(value["model"], IDENTIFIER))
        and type(tools) is list
        and len(tools) <= MAX_REQUEST_TOOLS
        and all(_is_text(tool, IDENTIFIER) for tool in tools)
        and _utf8_increasing(tools)
        and _is_bstr(value["request"], 32)
        and (value["approvals"] is None or _is_bstr(value["approvals"], 32))
    )


def parent_claim_is_well_formed(value: object) -> bool:
    """§14.8 claim -65548: exactly ``{"lease_id": bstr(16), "tool": text, "calls": uint}``.

    READING: ``tool`` obeys the rule of a tool id (an Identifier, §13.4; "every text value
    obeys its §3 rule"); ``calls`` is a CDDL ``uint`` as the table says (not re-judged against
    [1, 1000], which is derive's rule).
    """
    if type(value) is not dict or set(value) != {"lease_id", "tool", "calls"}:
        return False
    calls = value["calls"]
    return (
        _is_bstr(value["lease_id"], 16)
        and _is_text(value["tool"], IDENTIFIER)
        and type(calls) is int
        and 0 <= calls <= 2**64 - 1
    )


def claims_are_well_formed(claims: object) -> bool:
    """§7.3 step 10: exactly the claims of §6.3 with their types (CDDL ``LeaseClaims``), with or
    without the governance claim of §13.10 (which, when present, is checked exactly)."""
    if type(claims) is not dict:
        return False
    governed = _CLAIM_KEYS | {GOVERNANCE_CLAIM}
    if set(claims) not in (_CLAIM_KEYS, governed, governed | {PARENT_CLAIM}):
        return False  # §14.8: the parent claim only together with the governance claim
    if GOVERNANCE_CLAIM in claims and not governance_claim_is_well_formed(claims[GOVERNANCE_CLAIM]):
        return False
    if PARENT_CLAIM in claims and not parent_claim_is_well_formed(claims[PARENT_CLAIM]):
        return False
    cnf = claims[8]
    if type(cnf) is not dict or set(cnf) != {1}:
        return False
    key = cnf[1]
    if type(key) is not dict or set(key) != {1, -1, -2}:
        return False
    if not (_is_int(key[1], 1) and _is_int(key[-1], 6) and _is_bstr(key[-2], 32)):
        return False
    constraints = claims[-65545]
    if type(constraints) is not dict:
        return False
    if set(constraints) != {"scope", "reversible", "sensitivity", "hrc_required"}:
        return False
    return (
        _is_text(claims[1], PRINTABLE)
        and _is_text(claims[2], IDENTIFIER)
        and _is_bstr(claims[7], 16)
        and _is_int(claims[-65537], 1)
        and _is_bstr(claims[-65538], 32)
        and _is_bstr(claims[-65539], 32)
        and _is_bstr(claims[-65540], 32)
        and _is_text(claims[-65541], EPOCH_ID)
        and _is_uint63(claims[-65542])
        and _is_uint63(claims[-65543])
        and _is_text(claims[-65544], IDENTIFIER)
        and _is_text(constraints["scope"], PRINTABLE)
        and type(constraints["reversible"]) is bool
        and type(constraints["sensitivity"]) is str
        and constraints["sensitivity"] in SENSITIVITIES
        and type(constraints["hrc_required"]) is bool
        and (claims[-65546] is None or _is_bstr(claims[-65546], 32))
        and claims[-65542] < claims[-65543]
    )


def ref_verify(
    token: bytes,
    issuer_public_key: bytes,
    expected_task_id: str,
    expected_manifest_digest: bytes,
    now: Mapping[str, object],
    holder_proof: object | None,
    revoked: Collection[bytes],
) -> dict[str, object]:
    """§7.3, steps 1-19; the first failure decides."""
    now_epoch, now_ns = _time(now)

    def bad(reason: str) -> dict[str, object]:
        return _invalid("INVALID_TOKEN", reason)

    if len(token) > TOKEN_MAX_BYTES:
        return bad("TOO_LARGE")  # 1
    try:
        outer = strict_decode(token, max_depth=TOKEN_MAX_DEPTH, top_tag_allowed=True)  # 2
    except StrictDecodeError as error:
        return bad(error.reason)
    if not (
        isinstance(outer, Tagged)
        and outer.number == 18
        and type(outer.content) is list
        and len(outer.content) == 4
        and [type(part) for part in outer.content] == [bytes, dict, bytes, bytes]
    ):
        return bad("NOT_COSE_SIGN1")  # 3
    protected, unprotected, payload, signature = outer.content
    if unprotected != {}:
        return bad("UNPROTECTED_HEADER_NOT_EMPTY")  # 4
    # READING: the inner items (protected header, payload) are decoded with the token's own
    # depth limit, counted from their own top level.
    try:
        header = strict_decode(protected, max_depth=TOKEN_MAX_DEPTH)  # no tags
    except StrictDecodeError:
        return bad("BAD_PROTECTED_HEADER")  # 5
    if type(header) is not dict or 1 not in header:
        return bad("BAD_PROTECTED_HEADER")  # 5
    if not _is_int(header[1], -19):
        return bad("UNSUPPORTED_ALGORITHM")  # 6
    if set(header) != {1, 4} or not _is_bstr(header[4], 32):
        return bad("BAD_PROTECTED_HEADER")  # 7
    if header[4] != thumbprint(issuer_public_key):
        return bad("UNKNOWN_KID")  # 8
    if len(signature) != 64 or not signature_verifies(
        issuer_public_key, det(["Signature1", protected, b"", payload]), signature
    ):
        return bad("BAD_SIGNATURE")  # 9
    try:
        claims = strict_decode(payload, max_depth=TOKEN_MAX_DEPTH)  # no tags
    except StrictDecodeError:
        return bad("BAD_CLAIMS")  # 10
    if not claims_are_well_formed(claims):
        return bad("BAD_CLAIMS")  # 10
    assert isinstance(claims, dict)
    if claims[2] != expected_task_id:
        return bad("WRONG_TASK")  # 11
    if claims[-65538] != expected_manifest_digest:
        return bad("WRONG_MANIFEST")  # 12
    if claims[-65541] != now_epoch:
        return _invalid("LEASE_EXPIRED", "EPOCH_MISMATCH")  # 13
    if not claims[-65542] <= now_ns:
        return _invalid("LEASE_EXPIRED", "NOT_YET_VALID")  # 14
    if not now_ns < claims[-65543]:
        return _invalid("LEASE_EXPIRED", "EXPIRED")  # 15
    if claims[7] in revoked:
        return _invalid("LEASE_REVOKED", "REVOKED")  # 16
    if holder_proof is None:
        return bad("HOLDER_PROOF_MISSING")  # 17
    if validate(holder_proof, MANIFEST_LIMITS, HOLDER_PROOF_SCHEMA):
        return bad("HOLDER_PROOF_MALFORMED")  # 18
    assert isinstance(holder_proof, dict)
    holder_key = claims[8][1][-2]
    signed = holder_signed_bytes(claims[7], bytes.fromhex(holder_proof["challenge"]))
    if not signature_verifies(holder_key, signed, bytes.fromhex(holder_proof["signature"])):
        return bad("HOLDER_PROOF_INVALID")  # 19
    return {"result": "VALID", "lease_id": claims[7].hex(), "expires_at_ns": claims[-65543]}


def token_claims(token: bytes) -> dict[int, Any]:
    """The claims map of a token the model trusts (e.g. its own GRANT), strictly decoded."""
    outer = strict_decode(token, max_depth=TOKEN_MAX_DEPTH, top_tag_allowed=True)
    assert isinstance(outer, Tagged) and type(outer.content) is list
    claims = strict_decode(outer.content[2], max_depth=TOKEN_MAX_DEPTH)
    assert claims_are_well_formed(claims) and isinstance(claims, dict)
    return claims


# ========================================================================== §8 standing


def ref_standing(
    claims: Mapping[int, Any],
    now: Mapping[str, object],
    snapshot: object,
    policy: Mapping[str, Any],
    revoked: Collection[bytes],
) -> dict[str, object]:
    """§8, steps 1-7: ``{"standing": "ACTIVE", ...}`` or ``{"standing": "ENDED", ...}``."""
    now_epoch, now_ns = _time(now)
    if claims[-65541] != now_epoch:
        return _ended("LEASE_EXPIRED", "EPOCH_MISMATCH")  # 1
    if not claims[-65542] <= now_ns:
        return _ended("LEASE_EXPIRED", "NOT_YET_VALID")  # 2
    if not now_ns < claims[-65543]:
        return _ended("LEASE_EXPIRED", "EXPIRED")  # 3
    if claims[7] in revoked:
        return _ended("LEASE_REVOKED", "REVOKED")  # 4
    if claims[-65540] != policy_digest_of(policy):  # a governance document's own digest
        return _ended("LEASE_REVOKED", "POLICY_CHANGED")  # 5
    failure = validate_snapshot(snapshot)
    if failure:
        return _ended("LEASE_REVOKED", "TRUST_SNAPSHOT_INVALID", failure[1])  # 6
    assert isinstance(snapshot, dict)
    constraints = claims[-65545]
    assert isinstance(constraints, dict)
    score = snapshot["scores"].get(claims[-65544])
    # §13.1: under a governance document, the thresholds are its lease_policy's.
    threshold = lease_policy_of(policy)["trust_threshold"][constraints["sensitivity"]]
    if score is None or score < threshold:
        return _ended("LEASE_REVOKED", "TRUST_DECAYED")  # 7
    lease_id = claims[7]
    assert isinstance(lease_id, bytes)
    return {"standing": "ACTIVE", "lease_id": lease_id.hex(), "expires_at_ns": claims[-65543]}
