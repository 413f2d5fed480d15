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

Known reading choices (where the spec leaves room) are marked ``READING:``.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
) -> dict[str, object]:
    """§4: the decision in the ``expected`` form of a §10 decision vector.

    Raises ``RefPolicyError`` for a policy that §3.4 refuses (no decision is made under it).
    """
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

    # Step 4: HRC when required by the manifest OR the policy (§3.4); else ignored entirely.
    hrc_required = constraints["hrc_required"] or sensitivity in pol["hrc_required_for"]
    hrc_digest: bytes | None = None
    if hrc_required:
        checked = _check_hrc(pol, manifest_digest, now_epoch, now_ns, hrc_token)
        if isinstance(checked, dict):
            return checked
        hrc_digest = checked

    # Step 5: GRANT (§4 last paragraph, §6).
    issued_at = now_ns
    expires_at = min(now_ns + pol["lease_duration_ns"][sensitivity], window["not_after_ns"])
    issuer_kid = bytes.fromhex(pol["issuer_kid"])
    policy_digest, trust_digest = digest(pol), digest(snapshot)
    lease_id = lease_id_of(
        issuer_kid, policy_digest, manifest_digest, trust_digest, hrc_digest, now_epoch, now_ns
    )
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
    protected = det({1: -19, 4: issuer_kid})
    payload = det(claims)
    token = cose_sign1(protected, {}, payload, sign1(signing_seed, protected, payload))
    return {
        "decision": "GRANT",
        "lease_id": lease_id.hex(),
        "token": token.hex(),
        "manifest_digest": manifest_digest.hex(),
        "issued_at_ns": issued_at,
        "expires_at_ns": expires_at,
    }


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


def claims_are_well_formed(claims: object) -> bool:
    """§7.3 step 10: exactly the claims of §6.3 with their types (CDDL ``LeaseClaims``)."""
    if type(claims) is not dict or set(claims) != _CLAIM_KEYS:
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
    if claims[-65540] != digest(policy):
        return _ended("LEASE_REVOKED", "POLICY_CHANGED")  # 5
    failure = validate_snapshot(snapshot)
    if failure:
        return _ended("LEASE_REVOKED", "TRUST_SNAPSHOT_INVALID", failure[1])  # 6
    assert isinstance(snapshot, dict)
    constraints = claims[-65545]
    assert isinstance(constraints, dict)
    score = snapshot["scores"].get(claims[-65544])
    threshold = policy["trust_threshold"][constraints["sensitivity"]]
    if score is None or score < threshold:
        return _ended("LEASE_REVOKED", "TRUST_DECAYED")  # 7
    lease_id = claims[7]
    assert isinstance(lease_id, bytes)
    return {"standing": "ACTIVE", "lease_id": lease_id.hex(), "expires_at_ns": claims[-65543]}
