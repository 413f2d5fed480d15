"""The closed-world inputs of spec §3 as frozen values, and their parsers.

Untrusted documents (manifest, trust snapshot, HRC token) are parsed into ``ParseResult``
values: either the typed input or a ``Failure`` with a reason and field path, never an
exception. Trusted, embedder-built values (``MonotonicTime``, ``LeasePolicy``) validate on
construction and raise ``UsageError``/``PolicyError``: a broken one is a programming or
configuration error, and no decision may be made under it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

import attrs

from pda_lease.kernel import model
from pda_lease.kernel.cbor import encode
from pda_lease.kernel.crypto import cose_key_thumbprint, is_valid_public_key, sha256
from pda_lease.kernel.errors import PolicyError, UsageError
from pda_lease.kernel.model import Failure, Field

UINT63_MAX = (1 << 63) - 1
EPOCH_PATTERN = r"[A-Za-z0-9-]{1,64}"
IDENTIFIER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}"
PRINTABLE_PATTERN = r"[!-~]{1,256}"
HEX32_PATTERN = r"[0-9a-f]{64}"
HEX64_PATTERN = r"[0-9a-f]{128}"
MAX_LEASE_DURATION_NS = 86_400_000_000_000
MAX_HRC_AGE_NS = 3_600_000_000_000
MAX_HRC_KEYS = 64
MAX_SCORE = 10_000

_EPOCH = re.compile(EPOCH_PATTERN)


class Sensitivity(enum.StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


SENSITIVITIES = (Sensitivity.LOW, Sensitivity.MEDIUM, Sensitivity.HIGH)


def json_digest(document: object) -> bytes:
    """``H(det(document))``: the digest of a JSON-model input (spec §2.3)."""
    return sha256(encode(document))


# ---------------------------------------------------------------------------------- time


def _check_epoch(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if type(value) is not str or not _EPOCH.fullmatch(value):
        raise UsageError(f"{attribute.name} must match {EPOCH_PATTERN}")


def _check_ns(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or not 0 <= value <= UINT63_MAX:
        raise UsageError(f"{attribute.name} must be an integer in [0, 2^63-1]")


@attrs.frozen
class MonotonicTime:
    """A reading of a monotonic clock: the clock's epoch (boot id) and nanoseconds (§2.2)."""

    epoch: str = attrs.field(validator=_check_epoch)
    ns: int = attrs.field(validator=_check_ns)

    @classmethod
    def from_json(cls, document: object) -> MonotonicTime:
        if type(document) is not dict or set(document) != {"epoch", "ns"}:
            raise UsageError('a MonotonicTime document is {"epoch": str, "ns": int}')
        return cls(document["epoch"], document["ns"])

    def to_json(self) -> dict[str, object]:
        return {"epoch": self.epoch, "ns": self.ns}


# Every table of field rules below is built by a function and bound once at import. The
# functions are also the tests' way in: tests/test_mutation_kills.py rebuilds each table while
# a mutant is active, which code that only ever runs at import could not show.


def time_fields() -> tuple[Field, ...]:
    """A MonotonicTime document (§2.2)."""
    return (
        Field("epoch", model.text(EPOCH_PATTERN)),
        Field("ns", model.integer(0, UINT63_MAX)),
    )


_TIME_FIELDS = time_fields()


_HEX32 = model.text(HEX32_PATTERN)


def key_check(is_valid: Callable[[bytes], bool], bad_reason: str = "BAD_HOLDER_KEY") -> model.Check:
    """64 lowercase hex that ``is_valid`` accepts as an Ed25519 public key, else ``bad_reason``."""

    def check(value: object, path: str) -> Failure | None:
        failure = _HEX32(value, path)
        if failure:
            return failure
        assert isinstance(value, str)
        return None if is_valid(bytes.fromhex(value)) else Failure(bad_reason, path)

    return check


_hex_key = key_check(is_valid_public_key)


class HolderKeyMemo:
    """Holder keys already found valid (spec §3.1), so that a key seen again is not rechecked.

    The check is a point decompression and a prime-order subgroup test, about as costly as an
    Ed25519 verification, and an executor presents the same holder key for task after task.
    Validity is a pure function of the key's 32 bytes, so remembering it cannot change any
    decision: only keys that passed are remembered (a bad key is judged afresh every time),
    and at most ``capacity`` of them (then the memo starts over). An ``Authority`` owns one;
    it is the only state a decision touches, and it is invisible in every result.
    """

    __slots__ = ("_capacity", "_valid", "manifest_fields")

    def __init__(self, capacity: int = 4096) -> None:
        if type(capacity) is not int or capacity < 1:
            raise UsageError("a HolderKeyMemo capacity is a positive integer")
        self._capacity = capacity
        self._valid: set[bytes] = set()
        self.manifest_fields = _manifest_fields(key_check(self.is_valid))

    def is_valid(self, key: bytes) -> bool:
        if key in self._valid:
            return True
        if not is_valid_public_key(key):
            return False
        if len(self._valid) >= self._capacity:
            self._valid.clear()
        self._valid.add(key)
        return True


# ---------------------------------------------------------------------------------- manifest


@attrs.frozen
class Constraints:
    scope: str
    reversible: bool
    sensitivity: Sensitivity
    hrc_required: bool

    def to_json(self) -> dict[str, object]:
        return {
            "scope": self.scope,
            "reversible": self.reversible,
            "sensitivity": str(self.sensitivity),
            "hrc_required": self.hrc_required,
        }


@attrs.frozen
class ExecutionWindow:
    epoch: str
    not_before_ns: int
    not_after_ns: int


@attrs.frozen
class TaskManifest:
    """A structurally valid manifest. ``encoded`` is ``det(manifest)``; ``digest`` its hash."""

    task_id: str
    capability_id: str
    constraints: Constraints
    ast_hash: bytes
    holder_public_key: bytes
    window: ExecutionWindow
    encoded: bytes = attrs.field(repr=False)
    digest: bytes


def _window_not_empty(value: object, path: str) -> Failure | None:
    assert isinstance(value, dict)
    if value["not_before_ns"] < value["not_after_ns"]:
        return None
    return Failure("EMPTY_WINDOW", path)


def _manifest_fields(holder_key: model.Check) -> tuple[Field, ...]:
    return (
        Field("manifest_version", model.integer(1, 1, "UNSUPPORTED_VERSION")),
        Field("task_id", model.text(IDENTIFIER_PATTERN)),
        Field("capability_id", model.text(IDENTIFIER_PATTERN)),
        Field("inputs", model.any_object),
        Field(
            "constraints",
            model.nested(
                (
                    Field("scope", model.text(PRINTABLE_PATTERN)),
                    Field("reversible", model.boolean),
                    Field("sensitivity", model.one_of(*SENSITIVITIES)),
                    Field("hrc_required", model.boolean),
                )
            ),
        ),
        Field("provenance", model.nested((Field("ast_hash", model.text(HEX32_PATTERN)),))),
        Field("holder", model.nested((Field("public_key", holder_key),))),
        Field(
            "window",
            model.nested(
                (
                    Field("epoch", model.text(EPOCH_PATTERN)),
                    Field("not_before_ns", model.integer(0, UINT63_MAX)),
                    Field("not_after_ns", model.integer(0, UINT63_MAX)),
                ),
                after=_window_not_empty,
            ),
        ),
    )


_MANIFEST_FIELDS = _manifest_fields(_hex_key)


def parse_manifest(
    document: object, holder_keys: HolderKeyMemo | None = None
) -> TaskManifest | Failure:
    """Spec §4.1. Returns the manifest, or the first violation with its field path.

    ``holder_keys`` remembers holder keys already found valid; the result is the same with or
    without it.
    """
    fields = _MANIFEST_FIELDS if holder_keys is None else holder_keys.manifest_fields
    encoded = model.validate_encoded(document, model.MANIFEST_LIMITS, fields)
    if isinstance(encoded, Failure):
        return encoded
    assert isinstance(document, dict)
    constraints = document["constraints"]
    window = document["window"]
    return TaskManifest(
        task_id=document["task_id"],
        capability_id=document["capability_id"],
        constraints=Constraints(
            scope=constraints["scope"],
            reversible=constraints["reversible"],
            sensitivity=Sensitivity(constraints["sensitivity"]),
            hrc_required=constraints["hrc_required"],
        ),
        ast_hash=bytes.fromhex(document["provenance"]["ast_hash"]),
        holder_public_key=bytes.fromhex(document["holder"]["public_key"]),
        window=ExecutionWindow(window["epoch"], window["not_before_ns"], window["not_after_ns"]),
        encoded=encoded,
        digest=sha256(encoded),
    )


# ---------------------------------------------------------------------------------- trust


@attrs.frozen
class TrustSnapshot:
    """A valid Trust Matrix snapshot (§3.2). A capability without a score has no trust."""

    sequence: int
    scores: Mapping[str, int] = attrs.field(eq=False, repr=False)
    digest: bytes

    def __attrs_post_init__(self) -> None:
        # A hand-built snapshot is embedder input: it must be exactly what parsing would give,
        # digest included, or it is refused here rather than trusted by decide.
        if type(self.sequence) is not int or not 0 <= self.sequence <= UINT63_MAX:
            raise UsageError("TrustSnapshot.sequence must be an integer in [0, 2^63-1]")
        if not isinstance(self.scores, Mapping):
            raise UsageError("TrustSnapshot.scores must be a mapping")
        document = {"snapshot_version": 1, "sequence": self.sequence, "scores": dict(self.scores)}
        failure = model.validate(document, model.SNAPSHOT_LIMITS, _SNAPSHOT_FIELDS)
        if failure:
            raise UsageError(f"TrustSnapshot is not valid at {failure.path}: {failure.reason}")
        if self.digest != json_digest(document):
            raise UsageError("TrustSnapshot.digest is not the digest of its content")

    def score_for(self, capability_id: str) -> int | None:
        return self.scores.get(capability_id)


def _scores(value: object, path: str) -> Failure | None:
    if type(value) is not dict:
        return Failure("WRONG_TYPE", path)
    assert isinstance(value, dict)
    key_check = model.text(IDENTIFIER_PATTERN)
    score_check = model.integer(0, MAX_SCORE)
    for key in model.sorted_keys(value):
        member = model.child_path(path, key)
        failure = key_check(key, member) or score_check(value[key], member)
        if failure:
            return failure
    return None


def _snapshot_fields() -> tuple[Field, ...]:
    return (
        Field("snapshot_version", model.integer(1, 1, "UNSUPPORTED_VERSION")),
        Field("sequence", model.integer(0, UINT63_MAX)),
        Field("scores", _scores),
    )


_SNAPSHOT_FIELDS = _snapshot_fields()


def parse_trust_snapshot(document: object) -> TrustSnapshot | Failure:
    """Spec §3.2: the snapshot, or the first violation (reported as ``SNAPSHOT_INVALID``)."""
    if isinstance(document, TrustSnapshot):
        return document
    encoded = model.validate_encoded(document, model.SNAPSHOT_LIMITS, _SNAPSHOT_FIELDS)
    if isinstance(encoded, Failure):
        return encoded
    assert isinstance(document, dict)
    return TrustSnapshot(
        sequence=document["sequence"],
        scores=MappingProxyType(dict(document["scores"])),
        digest=sha256(encoded),
    )


# ---------------------------------------------------------------------------------- HRC


@attrs.frozen
class HrcToken:
    """A structurally valid HRC token (§3.3); its signature is judged by the pipeline."""

    key_id: bytes
    manifest_digest: bytes
    confirmed_at: MonotonicTime
    signature: bytes
    digest: bytes


HRC_CONTEXT = "PDA-HRC-v1"


def _hrc_fields() -> tuple[Field, ...]:
    return (
        Field("hrc_version", model.integer(1, 1, "UNSUPPORTED_VERSION")),
        Field("key_id", model.text(HEX32_PATTERN)),
        Field("manifest_digest", model.text(HEX32_PATTERN)),
        Field("confirmed_at", model.nested(time_fields())),
        Field("signature", model.text(HEX64_PATTERN)),
    )


_HRC_FIELDS = _hrc_fields()


def parse_hrc_token(document: object) -> HrcToken | Failure:
    encoded = model.validate_encoded(document, model.MANIFEST_LIMITS, _HRC_FIELDS)
    if isinstance(encoded, Failure):
        return encoded
    assert isinstance(document, dict)
    confirmed = document["confirmed_at"]
    return HrcToken(
        key_id=bytes.fromhex(document["key_id"]),
        manifest_digest=bytes.fromhex(document["manifest_digest"]),
        confirmed_at=MonotonicTime(confirmed["epoch"], confirmed["ns"]),
        signature=bytes.fromhex(document["signature"]),
        digest=sha256(encoded),
    )


def hrc_signed_bytes(manifest_digest: bytes, confirmed_at: MonotonicTime) -> bytes:
    """The bytes an HRC key signs (spec §3.3)."""
    return encode([HRC_CONTEXT, manifest_digest, confirmed_at.epoch, confirmed_at.ns])


# ---------------------------------------------------------------------------------- policy


def _per_sensitivity(low: int, high: int) -> model.Check:
    return model.nested(tuple(Field(str(s), model.integer(low, high)) for s in SENSITIVITIES))


def _distinct(item_check: model.Check, max_items: int) -> model.Check:
    """``model.array_of``, and its items distinct (a repeat is ``BAD_VALUE`` at the array)."""
    items = model.array_of(item_check, max_items)

    def check(value: object, path: str) -> Failure | None:
        failure = items(value, path)
        if failure:
            return failure
        assert isinstance(value, list)
        return Failure("BAD_VALUE", path) if len(set(value)) != len(value) else None

    return check


def _policy_order(value: object, path: str) -> Failure | None:
    assert isinstance(value, dict)
    durations = [value["lease_duration_ns"][str(s)] for s in SENSITIVITIES]
    thresholds = [value["trust_threshold"][str(s)] for s in SENSITIVITIES]
    if durations != sorted(durations, reverse=True):
        return Failure("BAD_VALUE", model.child_path(path, "lease_duration_ns"))
    if thresholds != sorted(thresholds):
        return Failure("BAD_VALUE", model.child_path(path, "trust_threshold"))
    return None


def _policy_fields() -> tuple[Field, ...]:
    return (
        Field("policy_version", model.integer(1, 1, "UNSUPPORTED_VERSION")),
        Field("sequence", model.integer(0, UINT63_MAX)),
        Field("issuer", model.text(PRINTABLE_PATTERN)),
        Field("issuer_kid", model.text(HEX32_PATTERN)),
        Field("lease_duration_ns", _per_sensitivity(1, MAX_LEASE_DURATION_NS)),
        Field("trust_threshold", _per_sensitivity(0, MAX_SCORE)),
        Field("hrc_required_for", _distinct(model.one_of(*SENSITIVITIES), len(SENSITIVITIES))),
        Field("hrc_keys", _distinct(_hex_key, MAX_HRC_KEYS)),
        Field("hrc_max_age_ns", model.integer(1, MAX_HRC_AGE_NS)),
    )


_POLICY_FIELDS = _policy_fields()


@attrs.frozen
class LeasePolicy:
    """The authority's own configuration (§3.4): system-defined, versioned, hashed.

    Build it with :meth:`from_json`; a policy that breaks §3.4 raises ``PolicyError``.
    """

    sequence: int
    issuer: str
    issuer_kid: bytes
    lease_duration_ns: Mapping[Sensitivity, int] = attrs.field(eq=False)
    trust_threshold: Mapping[Sensitivity, int] = attrs.field(eq=False)
    hrc_required_for: frozenset[Sensitivity]
    hrc_keys: Mapping[bytes, bytes] = attrs.field(eq=False, repr=False)  # thumbprint -> key
    hrc_max_age_ns: int
    document: Mapping[str, object] = attrs.field(eq=False, repr=False)
    digest: bytes

    @classmethod
    def from_json(cls, document: object) -> LeasePolicy:
        failure = model.validate(document, model.MANIFEST_LIMITS, _POLICY_FIELDS, _policy_order)
        if failure:
            raise PolicyError(f"lease policy field {failure.path}: {failure.reason}")
        assert isinstance(document, dict)
        keys = [bytes.fromhex(key) for key in document["hrc_keys"]]
        return cls(
            sequence=document["sequence"],
            issuer=document["issuer"],
            issuer_kid=bytes.fromhex(document["issuer_kid"]),
            lease_duration_ns=MappingProxyType(
                {s: document["lease_duration_ns"][str(s)] for s in SENSITIVITIES}
            ),
            trust_threshold=MappingProxyType(
                {s: document["trust_threshold"][str(s)] for s in SENSITIVITIES}
            ),
            hrc_required_for=frozenset(Sensitivity(s) for s in document["hrc_required_for"]),
            hrc_keys=MappingProxyType({cose_key_thumbprint(key): key for key in keys}),
            hrc_max_age_ns=document["hrc_max_age_ns"],
            document=MappingProxyType(dict(document)),
            digest=json_digest(document),
        )

    def hrc_required(self, constraints: Constraints) -> bool:
        """The effective HRC requirement (§3.4): the manifest can only add to the policy."""
        return constraints.hrc_required or constraints.sensitivity in self.hrc_required_for
