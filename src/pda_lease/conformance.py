"""Conformance vectors (spec §10): run them against this implementation, and generate them.

The runner turns a vector's ``input`` into kernel calls and compares the output with
``expected`` member by member; ``pda-lease conformance DIR`` is its face. The generator builds
every vector from fixed seeds (``H("pda-lease vector key: " || name)``) so that the set can be
regenerated and diffed against the committed files (tests/test_vectors.py). Vectors are checked
by a second path too: the independent reference model in the tests and python-cwt.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from pda_lease.kernel import cbor
from pda_lease.kernel.catalog import Deny
from pda_lease.kernel.crypto import Ed25519Signer, cose_key_thumbprint
from pda_lease.kernel.decide import Active, Authority, Grant, decide, derive, sign_hrc, standing
from pda_lease.kernel.errors import InvalidLease, UsageError
from pda_lease.kernel.governance import policy_from_json, sign_approval, sign_request
from pda_lease.kernel.inputs import LeasePolicy, MonotonicTime
from pda_lease.kernel.token import (
    decode_unverified,
    open_token,
    sig_structure,
    sign_holder_proof,
    verify_token,
)

# ---------------------------------------------------------------------------------- running


def _hex(value: object, size: int | None, name: str) -> bytes:
    if type(value) is not str:
        raise UsageError(f"{name} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise UsageError(f"{name} is not hex") from None
    if size is not None and len(raw) != size:
        raise UsageError(f"{name} must be {size} bytes")
    return raw


def _field(document: dict[str, Any], name: str) -> Any:
    if name not in document:
        raise UsageError(f"input is missing {name!r}")
    return document[name]


def _authority_of(document: object, what: str) -> tuple[dict[str, Any], Authority]:
    """A vector input and the authority its ``authority`` member describes."""
    if type(document) is not dict:
        raise UsageError(f"a {what} input is a JSON object")
    authority_doc = _field(document, "authority")
    if type(authority_doc) is not dict:
        raise UsageError("authority must be an object")
    seed = _hex(_field(authority_doc, "signing_seed"), 32, "authority.signing_seed")
    authority = Authority(Ed25519Signer(seed), policy_from_json(_field(authority_doc, "policy")))
    return document, authority


def run_decision(document: object) -> dict[str, object]:
    """Run a decision ``input`` (spec §10); returns the ``expected``-shaped result."""
    document, authority = _authority_of(document, "decision")
    decision = decide(
        authority,
        _field(document, "manifest"),
        _field(document, "trust_snapshot"),
        MonotonicTime.from_json(_field(document, "now")),
        document.get("hrc_token"),
        document.get("request"),
        document.get("approvals"),
        document.get("usage"),
    )
    return decision.to_json()


def run_verification(document: object) -> dict[str, object]:
    """Run a verification ``input`` (spec §10); returns the ``expected``-shaped result."""
    if type(document) is not dict:
        raise UsageError("a verification input is a JSON object")
    revoked_doc = _field(document, "revoked_lease_ids")
    if type(revoked_doc) is not list:
        raise UsageError("revoked_lease_ids must be an array")
    task_id = _field(document, "expected_task_id")
    if type(task_id) is not str:
        raise UsageError("expected_task_id must be a string")
    try:
        verified = verify_token(
            _hex(_field(document, "token"), None, "token"),
            issuer_public_key=_hex(_field(document, "issuer_public_key"), 32, "issuer_public_key"),
            task_id=task_id,
            manifest_digest=_hex(
                _field(document, "expected_manifest_digest"), 32, "expected_manifest_digest"
            ),
            now=MonotonicTime.from_json(_field(document, "now")),
            holder_proof=document.get("holder_proof"),
            revoked=frozenset(_hex(item, 16, "revoked lease id") for item in revoked_doc),
        )
    except InvalidLease as invalid:
        return verification_failure(invalid.deny)
    return {
        "result": "VALID",
        "lease_id": verified.lease_id.hex(),
        "expires_at_ns": verified.claims.expires_at_ns,
    }


def verification_failure(denial: Deny) -> dict[str, object]:
    return {
        "result": "INVALID",
        "code": str(denial.code),
        "reason": denial.reason,
        "message": denial.message,
    }


def run_standing(document: object) -> dict[str, object]:
    """Run a standing ``input`` (spec §10): the lease of a token, re-judged (spec §8)."""
    if type(document) is not dict:
        raise UsageError("a standing input is a JSON object")
    revoked_doc = _field(document, "revoked_lease_ids")
    if type(revoked_doc) is not list:
        raise UsageError("revoked_lease_ids must be an array")
    try:
        decoded = decode_unverified(_hex(_field(document, "token"), None, "token"))
    except InvalidLease as invalid:
        raise UsageError(f"standing needs a well-formed token: {invalid}") from None
    result = standing(
        decoded.claims,
        MonotonicTime.from_json(_field(document, "now")),
        _field(document, "trust_snapshot"),
        policy_from_json(_field(document, "policy")),
        frozenset(_hex(item, 16, "revoked lease id") for item in revoked_doc),
    )
    return standing_to_json(result)


def standing_to_json(result: Active | Deny) -> dict[str, object]:
    """The ``expected`` form of a standing vector (spec §10)."""
    if isinstance(result, Active):
        return {
            "standing": "ACTIVE",
            "lease_id": result.lease_id.hex(),
            "expires_at_ns": result.expires_at_ns,
        }
    return {
        "standing": "ENDED",
        "code": str(result.code),
        "reason": result.reason,
        "message": result.message,
    }


def run_sublease(document: object) -> dict[str, object]:
    """Run a sub-lease ``input`` (spec §14.8): derive a child from a parent token."""
    document, authority = _authority_of(document, "sub-lease")
    try:
        parent = open_token(
            _hex(_field(document, "parent_token"), None, "parent_token"),
            issuer_public_key=authority.public_key,
        )
    except InvalidLease as invalid:
        raise UsageError(f"a sub-lease needs a valid parent token: {invalid}") from None
    holder = _field(document, "holder_public_key")
    decision = derive(
        authority,
        parent,
        MonotonicTime.from_json(_field(document, "now")),
        _field(document, "tool"),
        _field(document, "calls"),
        _field(document, "ttl_ns"),
        bytes.fromhex(holder) if type(holder) is str and len(holder) % 2 == 0 else holder,
    )
    return decision.to_json()


_RUNNERS = {
    "decision": run_decision,
    "verification": run_verification,
    "standing": run_standing,
    "sublease": run_sublease,
}


def run_vector(vector: object) -> dict[str, object]:
    if type(vector) is not dict:
        raise UsageError("a vector is a JSON object")
    runner = _RUNNERS.get(vector.get("kind"))  # type: ignore[arg-type]
    if runner is None:
        raise UsageError("vector kind must be 'decision', 'verification', 'standing' or 'sublease'")
    return runner(_field(vector, "input"))


# ---------------------------------------------------------------------------------- generating


def vector_seed(name: str) -> bytes:
    return hashlib.sha256(b"pda-lease vector key: " + name.encode()).digest()


ISSUER = Ed25519Signer(vector_seed("issuer"))
OTHER_ISSUER = Ed25519Signer(vector_seed("other-issuer"))
HOLDER = Ed25519Signer(vector_seed("holder"))
OTHER_HOLDER = Ed25519Signer(vector_seed("other-holder"))
HRC_DEVICE = Ed25519Signer(vector_seed("hrc"))
UNREGISTERED_HRC = Ed25519Signer(vector_seed("unregistered-hrc"))
EPOCH = "6f1c2a4e-8d3b-4b7a-9c51-2e0d7f4a9b10"
OTHER_EPOCH = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
SECOND = 1_000_000_000
CHALLENGE = bytes(range(32))


def base_policy() -> dict[str, Any]:
    return {
        "policy_version": 1,
        "sequence": 1,
        "issuer": "pda-lease:vectors",
        "issuer_kid": cose_key_thumbprint(ISSUER.public_key).hex(),
        "lease_duration_ns": {"LOW": 300 * SECOND, "MEDIUM": 120 * SECOND, "HIGH": 30 * SECOND},
        "trust_threshold": {"LOW": 3000, "MEDIUM": 6000, "HIGH": 9000},
        "hrc_required_for": ["HIGH"],
        "hrc_keys": [HRC_DEVICE.public_key.hex()],
        "hrc_max_age_ns": 60 * SECOND,
    }


def base_manifest(sensitivity: str = "LOW", hrc_required: bool = False) -> dict[str, Any]:
    return {
        "manifest_version": 1,
        "task_id": "task-2026-0001",
        "capability_id": "files.read",
        "inputs": {"path": "/home/user/notes.txt", "max_bytes": 65536, "follow_links": False},
        "constraints": {
            "scope": "user:alice/files",
            "reversible": True,
            "sensitivity": sensitivity,
            "hrc_required": hrc_required,
        },
        "provenance": {"ast_hash": hashlib.sha256(b"compiled AST of task-2026-0001").hexdigest()},
        "holder": {"public_key": HOLDER.public_key.hex()},
        "window": {"epoch": EPOCH, "not_before_ns": 10 * SECOND, "not_after_ns": 3600 * SECOND},
    }


def base_snapshot(score: int | None = 8000) -> dict[str, Any]:
    scores: dict[str, int] = {"mail.send": 4000}
    if score is not None:
        scores["files.read"] = score
    return {"snapshot_version": 1, "sequence": 7, "scores": scores}


def now_at(ns: int, epoch: str = EPOCH) -> dict[str, Any]:
    return {"epoch": epoch, "ns": ns}


def manifest_digest_hex(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(cbor.encode(manifest)).hexdigest()


def hrc_for(
    manifest: dict[str, Any],
    confirmed_ns: int,
    *,
    device: Ed25519Signer = HRC_DEVICE,
    epoch: str = EPOCH,
) -> dict[str, object]:
    digest = bytes.fromhex(manifest_digest_hex(manifest))
    return sign_hrc(device, digest, MonotonicTime(epoch, confirmed_ns))


@attrs.frozen
class Vector:
    id: str
    description: str
    kind: str
    input: dict[str, Any]
    expected: dict[str, object]

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "description": self.description,
            "kind": self.kind,
            "input": self.input,
            "expected": self.expected,
        }


def _decision(
    vector_id: str,
    description: str,
    *,
    manifest: object = None,
    snapshot: object = None,
    now: dict[str, Any] | None = None,
    hrc: object = None,
    policy: dict[str, Any] | None = None,
) -> Vector:
    document = {
        "authority": {
            "signing_seed": vector_seed("issuer").hex(),
            "policy": policy or base_policy(),
        },
        "manifest": base_manifest() if manifest is None else manifest,
        "trust_snapshot": base_snapshot() if snapshot is None else snapshot,
        "now": now or now_at(100 * SECOND),
        "hrc_token": hrc,
    }
    return Vector(vector_id, description, "decision", document, run_decision(document))


def _with(document: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A deep copy of ``document`` with the member at dotted ``path`` set (or removed)."""
    copy: dict[str, Any] = json.loads(json.dumps(document))
    *parents, last = path.split(".")
    target = copy
    for name in parents:
        target = target[name]
    if value is _REMOVE:
        del target[last]
    else:
        target[last] = value
    return copy


_REMOVE = object()


def decision_vectors() -> Iterator[Vector]:
    m = base_manifest()
    high = base_manifest("HIGH")
    yield _decision("decide-grant-low", "LOW manifest, trusted, inside its window: GRANT")
    yield _decision(
        "decide-grant-window-opens",
        "now == not_before_ns is inside (half-open)",
        now=now_at(10 * SECOND),
    )
    yield _decision(
        "decide-grant-window-last-ns",
        "now == not_after_ns - 1 is inside; the lease is clamped to the window",
        now=now_at(3600 * SECOND - 1),
    )
    yield _decision(
        "decide-grant-clamped",
        "lease duration would pass not_after_ns: expires at not_after_ns",
        now=now_at(3500 * SECOND),
    )
    yield _decision(
        "decide-grant-threshold-equal", "score == threshold passes", snapshot=base_snapshot(3000)
    )
    yield _decision(
        "decide-grant-high-hrc",
        "HIGH needs HRC by policy; a fresh HRC grants",
        manifest=high,
        snapshot=base_snapshot(9500),
        hrc=hrc_for(high, 95 * SECOND),
    )
    yield _decision(
        "decide-grant-hrc-age-zero",
        "HRC confirmed at the decision instant",
        manifest=high,
        snapshot=base_snapshot(9500),
        hrc=hrc_for(high, 100 * SECOND),
    )
    yield _decision(
        "decide-grant-hrc-age-max-minus-one",
        "HRC age == max - 1 ns is accepted",
        manifest=high,
        snapshot=base_snapshot(9500),
        hrc=hrc_for(high, 40 * SECOND + 1),
    )
    medium = base_manifest("MEDIUM", hrc_required=True)
    yield _decision(
        "decide-grant-manifest-requests-hrc",
        "MEDIUM with hrc_required: the manifest can add an HRC requirement",
        manifest=medium,
        snapshot=base_snapshot(7000),
        hrc=hrc_for(medium, 99 * SECOND),
    )
    yield _decision(
        "decide-grant-hrc-ignored",
        "HRC not required: the hrc_token argument is ignored entirely (same token as without it)",
        hrc={"garbage": 1.5},
    )
    # Step 1: INVALID_MANIFEST, one vector per reason.
    invalid: list[tuple[str, str, object]] = [
        ("not-an-object", "manifest is an array", []),
        (
            "not-json",
            "a lone surrogate is not a Unicode scalar value",
            _with(m, "inputs.note", "\ud800"),
        ),
        ("float", "floats are not allowed anywhere", _with(m, "inputs.ratio", 0.5)),
        ("integer-out-of-range", "2^63 is outside int64", _with(m, "inputs.big", 1 << 63)),
        ("string-too-long", "a 4097-byte string", _with(m, "inputs.blob", "x" * 4097)),
        ("too-many-items", "an array of 1025 items", _with(m, "inputs.list", [0] * 1025)),
        ("too-deep", "nesting depth 17", _with(m, "inputs.deep", _nest(15))),
        (
            "too-large",
            "det(manifest) over 65536 bytes",
            _with(m, "inputs.blobs", ["y" * 4000] * 17),
        ),
        ("unknown-field", "closed world: unknown top-level field", _with(m, "extra", True)),
        ("missing-field", "capability_id absent", _with(m, "capability_id", _REMOVE)),
        ("wrong-type", "reversible is a string", _with(m, "constraints.reversible", "yes")),
        ("bool-is-not-int", "true where an integer goes", _with(m, "window.not_before_ns", True)),
        ("bad-value", "unknown sensitivity", _with(m, "constraints.sensitivity", "CRITICAL")),
        (
            "uppercase-hex",
            "one spelling per value: uppercase hex is a wrong value",
            _with(m, "provenance.ast_hash", "AB" * 32),
        ),
        ("bad-identifier", "task_id with a space", _with(m, "task_id", "task 1")),
        ("unsupported-version", "manifest_version 2", _with(m, "manifest_version", 2)),
        (
            "bad-holder-key",
            "the all-zero key is of small order",
            _with(m, "holder.public_key", "00" * 32),
        ),
        (
            "empty-window",
            "not_before_ns == not_after_ns",
            _with(m, "window.not_after_ns", 10 * SECOND),
        ),
        (
            "odd-member-name",
            "a member name that is not identifier-like is quoted in the path",
            _with(m, "inputs", {"ok": 1, "a b": 1.25}),
        ),
        (
            "precedence-over-window",
            "invalid manifest wins over a closed window",
            _with(_with(m, "task_id", 7), "window.not_after_ns", 20 * SECOND),
        ),
    ]
    for name, description, manifest in invalid:
        yield _decision(f"decide-deny-manifest-{name}", description, manifest=manifest)
    # Step 2: LEASE_EXPIRED.
    yield _decision(
        "decide-deny-epoch",
        "now is in another clock epoch than the window",
        now=now_at(100 * SECOND, OTHER_EPOCH),
    )
    yield _decision(
        "decide-deny-window-not-open", "now == not_before_ns - 1", now=now_at(10 * SECOND - 1)
    )
    yield _decision(
        "decide-deny-window-closed", "now == not_after_ns (half-open)", now=now_at(3600 * SECOND)
    )
    yield _decision(
        "decide-deny-window-before-trust",
        "closed window wins over missing trust",
        now=now_at(3600 * SECOND),
        snapshot=base_snapshot(None),
    )
    # Step 3: INSUFFICIENT_TRUST.
    yield _decision(
        "decide-deny-snapshot-invalid", "score above 10000", snapshot=base_snapshot(10001)
    )
    yield _decision("decide-deny-snapshot-not-object", "snapshot is an array", snapshot=[])
    yield _decision(
        "decide-deny-no-score", "a missing score is no trust", snapshot=base_snapshot(None)
    )
    yield _decision(
        "decide-deny-below-threshold", "score == threshold - 1", snapshot=base_snapshot(2999)
    )
    yield _decision(
        "decide-deny-trust-before-hrc",
        "no score wins over a missing HRC",
        manifest=high,
        snapshot=base_snapshot(None),
    )
    # Step 4: HRC_REQUIRED.
    trusted = base_snapshot(9500)
    good = hrc_for(high, 95 * SECOND)
    hrc_cases: list[tuple[str, str, object]] = [
        ("missing", "HIGH without an HRC token", None),
        ("malformed", "HRC with an unknown field", {**good, "confirmed": True}),
        ("boolean", "an HRC is never a boolean", True),
        (
            "unknown-key",
            "signed by a device not in the policy",
            hrc_for(high, 95 * SECOND, device=UNREGISTERED_HRC),
        ),
        (
            "bad-signature",
            "signature of another message",
            {**good, "signature": hrc_for(high, 96 * SECOND)["signature"]},
        ),
        (
            "wrong-manifest",
            "validly signed for another manifest",
            hrc_for(_with(high, "task_id", "task-2026-0002"), 95 * SECOND),
        ),
        (
            "epoch",
            "confirmed in another clock epoch",
            hrc_for(high, 95 * SECOND, epoch=OTHER_EPOCH),
        ),
        ("from-future", "confirmed 1 ns after the decision", hrc_for(high, 100 * SECOND + 1)),
        ("too-old", "age == hrc_max_age_ns is too old (half-open)", hrc_for(high, 40 * SECOND)),
    ]
    for name, description, hrc in hrc_cases:
        yield _decision(
            f"decide-deny-hrc-{name}", description, manifest=high, snapshot=trusted, hrc=hrc
        )
    yield _decision(
        "decide-deny-hrc-policy-wins",
        "HIGH with hrc_required=false still needs HRC: the manifest cannot waive it",
        manifest=_with(high, "constraints.hrc_required", False),
        snapshot=trusted,
    )


def _nest(levels: int) -> object:
    value: object = 0
    for _ in range(levels):
        value = [value]
    return value


def _grant_for_verification() -> tuple[dict[str, Any], Grant]:
    document = {
        "authority": {"signing_seed": vector_seed("issuer").hex(), "policy": base_policy()},
        "manifest": base_manifest(),
        "trust_snapshot": base_snapshot(),
        "now": now_at(100 * SECOND),
        "hrc_token": None,
    }
    authority = Authority(ISSUER, LeasePolicy.from_json(base_policy()))
    decision = decide(
        authority,
        document["manifest"],
        document["trust_snapshot"],
        MonotonicTime(EPOCH, 100 * SECOND),
    )
    assert isinstance(decision, Grant)
    return document, decision


def _resign(
    protected: bytes,
    payload: bytes,
    unprotected: dict[object, object] | None = None,
    signer: Ed25519Signer = ISSUER,
) -> bytes:
    signature = signer.sign(sig_structure(protected, payload))
    return cbor.encode(cbor.Tag(18, [protected, unprotected or {}, payload, signature]))


def verification_vectors() -> Iterator[Vector]:
    _, grant = _grant_for_verification()
    token = grant.token
    claims = grant.claims
    proof = sign_holder_proof(HOLDER, grant.lease_id, CHALLENGE)
    outer = cbor.decode(token, max_depth=8, allow_top_tag=True)
    assert isinstance(outer, cbor.Tag) and isinstance(outer.content, list)
    protected, _, payload, signature = outer.content
    payload_map = cbor.decode(payload, max_depth=8)
    assert isinstance(payload_map, dict)

    def vector(
        vector_id: str,
        description: str,
        *,
        token_bytes: bytes = token,
        now: dict[str, Any] | None = None,
        holder_proof: object = proof,
        revoked: list[str] | None = None,
        task_id: str = claims.task_id,
        digest: bytes = claims.manifest_digest,
        issuer: bytes = ISSUER.public_key,
    ) -> Vector:
        document = {
            "token": token_bytes.hex(),
            "issuer_public_key": issuer.hex(),
            "expected_task_id": task_id,
            "expected_manifest_digest": digest.hex(),
            "now": now or now_at(200 * SECOND),
            "holder_proof": holder_proof,
            "revoked_lease_ids": revoked or [],
        }
        return Vector(vector_id, description, "verification", document, run_verification(document))

    iat, exp = claims.issued_at_ns, claims.expires_at_ns
    yield vector("verify-valid", "the GRANT of decide-grant-low, presented by its holder")
    yield vector("verify-valid-at-issue", "now == issued_at_ns", now=now_at(iat))
    yield vector("verify-valid-last-ns", "now == expires_at_ns - 1", now=now_at(exp - 1))
    yield vector("verify-expired", "now == expires_at_ns (half-open)", now=now_at(exp))
    yield vector("verify-not-yet-valid", "now == issued_at_ns - 1", now=now_at(iat - 1))
    yield vector(
        "verify-epoch", "a reboot: another clock epoch", now=now_at(200 * SECOND, OTHER_EPOCH)
    )
    yield vector("verify-revoked", "explicitly revoked", revoked=[grant.lease_id.hex()])
    yield vector("verify-other-revoked", "another lease revoked: still valid", revoked=["00" * 16])
    yield vector("verify-wrong-task", "presented for another task", task_id="task-2026-0002")
    yield vector(
        "verify-wrong-manifest",
        "presented for another manifest",
        digest=hashlib.sha256(b"other manifest").digest(),
    )
    yield vector(
        "verify-unknown-kid", "checked against another issuer key", issuer=OTHER_ISSUER.public_key
    )
    flipped_sig = token[:-1] + bytes([token[-1] ^ 0x01])
    yield vector("verify-bad-signature", "last signature byte flipped", token_bytes=flipped_sig)
    index = token.index(b"task-2026-0001")
    flipped_claim = token[:index] + b"T" + token[index + 1 :]
    yield vector(
        "verify-tampered-claim",
        "one payload byte changed: the signature fails",
        token_bytes=flipped_claim,
    )
    yield vector(
        "verify-too-large", "4097 bytes", token_bytes=token + b"\x00" * (4097 - len(token))
    )
    yield vector("verify-truncated", "last byte removed", token_bytes=token[:-1])
    yield vector("verify-trailing", "one byte appended", token_bytes=token + b"\x00")
    yield vector(
        "verify-non-shortest",
        "outer array length in a non-shortest head",
        token_bytes=token[:1] + b"\x98\x04" + token[2:],
    )
    yield vector(
        "verify-indefinite",
        "outer array of indefinite length",
        token_bytes=token[:1] + b"\x9f" + token[2:] + b"\xff",
    )
    yield vector("verify-untagged", "tag 18 removed", token_bytes=token[1:])
    yield vector("verify-double-tag", "tag 18 doubled", token_bytes=b"\xd2" + token)
    yield vector("verify-cwt-tag", "wrapped in CWT tag 61", token_bytes=b"\xd8\x3d" + token)
    deep = cbor.encode(cbor.Tag(18, [protected, {0: _nest(8)}, payload, signature]))
    yield vector(
        "verify-too-deep", "nesting depth 9 inside the unprotected header", token_bytes=deep
    )
    yield vector(
        "verify-float",
        "a float in the unprotected header",
        token_bytes=b"\xd2\x84"
        + cbor.encode(protected)
        + bytes.fromhex("a100f93c00")
        + cbor.encode(payload)
        + cbor.encode(signature),
    )
    kid = cose_key_thumbprint(ISSUER.public_key)
    yield vector(
        "verify-unprotected-header",
        "kid copied to the unprotected header",
        token_bytes=cbor.encode(cbor.Tag(18, [protected, {4: kid}, payload, signature])),
    )
    yield vector(
        "verify-protected-extra",
        "protected header with content type, re-signed",
        token_bytes=_resign(cbor.encode({1: -19, 3: 0, 4: kid}), payload),
    )
    yield vector(
        "verify-alg-eddsa",
        "polymorphic EdDSA (-8), re-signed",
        token_bytes=_resign(cbor.encode({1: -8, 4: kid}), payload),
    )
    yield vector(
        "verify-alg-es256",
        "ES256 (-7) label with an Ed25519 signature",
        token_bytes=_resign(cbor.encode({1: -7, 4: kid}), payload),
    )
    missing = {key: value for key, value in payload_map.items() if key != -65546}
    yield vector(
        "verify-bad-claims",
        "hrc claim removed, re-signed by the issuer",
        token_bytes=_resign(protected, cbor.encode(missing)),
    )
    bool_kty = {**payload_map, 8: {1: {1: True, -1: 6, -2: HOLDER.public_key}}}
    yield vector(
        "verify-bad-claims-bool-kty",
        "cnf kty is true, not the integer 1: a "
        "boolean is never an integer (re-signed by the issuer)",
        token_bytes=_resign(protected, cbor.encode(bool_kty)),
    )
    yield vector("verify-proof-missing", "no holder proof", holder_proof=None)
    yield vector(
        "verify-proof-malformed",
        "challenge of 8 bytes",
        holder_proof={"challenge": "00" * 8, "signature": proof["signature"]},
    )
    yield vector(
        "verify-proof-other-holder",
        "another key cannot use the lease",
        holder_proof=sign_holder_proof(OTHER_HOLDER, grant.lease_id, CHALLENGE),
    )
    yield vector(
        "verify-proof-other-challenge",
        "the proof does not cover this challenge",
        holder_proof={"challenge": "ff" * 32, "signature": proof["signature"]},
    )
    yield vector(
        "verify-expired-before-proof",
        "expiry is judged before the holder proof",
        now=now_at(exp),
        holder_proof=None,
    )


def standing_vectors() -> Iterator[Vector]:
    _, grant = _grant_for_verification()
    exp = grant.claims.expires_at_ns

    def vector(
        vector_id: str,
        description: str,
        *,
        now: dict[str, Any] | None = None,
        snapshot: object = None,
        policy: dict[str, Any] | None = None,
        revoked: list[str] | None = None,
    ) -> Vector:
        document = {
            "token": grant.token.hex(),
            "now": now or now_at(200 * SECOND),
            "trust_snapshot": base_snapshot() if snapshot is None else snapshot,
            "policy": policy or base_policy(),
            "revoked_lease_ids": revoked or [],
        }
        return Vector(vector_id, description, "standing", document, run_standing(document))

    yield vector("standing-active", "unexpired, unrevoked, same policy, trust holds")
    yield vector(
        "standing-active-threshold-equal",
        "score decayed exactly to the threshold",
        snapshot=base_snapshot(3000),
    )
    yield vector("standing-epoch", "after a reboot", now=now_at(200 * SECOND, OTHER_EPOCH))
    yield vector(
        "standing-not-yet-valid",
        "time went backwards in the epoch",
        now=now_at(grant.claims.issued_at_ns - 1),
    )
    yield vector("standing-expired", "now == expires_at_ns", now=now_at(exp))
    yield vector("standing-revoked", "explicit revocation", revoked=[grant.lease_id.hex()])
    yield vector(
        "standing-policy-changed",
        "a new policy revision ends the lease",
        policy={**base_policy(), "sequence": 2},
    )
    yield vector(
        "standing-snapshot-invalid",
        "the new snapshot cannot be read",
        snapshot={"snapshot_version": 1, "sequence": 8, "scores": {"files.read": -1}},
    )
    yield vector(
        "standing-trust-decayed", "score fell to threshold - 1", snapshot=base_snapshot(2999)
    )
    yield vector(
        "standing-score-removed",
        "the capability lost its score: no trust",
        snapshot=base_snapshot(None),
    )
    yield vector(
        "standing-expired-before-revoked",
        "expiry is judged before revocation",
        now=now_at(exp),
        revoked=[grant.lease_id.hex()],
    )


# ---------------------------------------------------------------------------------- governance

ALICE = Ed25519Signer(vector_seed("alice"))
CI_BOT = Ed25519Signer(vector_seed("ci-bot"))
OUTSIDER = Ed25519Signer(vector_seed("outsider"))
BOB = Ed25519Signer(vector_seed("bob"))
CAROL = Ed25519Signer(vector_seed("carol"))
ERIN = Ed25519Signer(vector_seed("erin"))


def governance_policy(version: int = 1) -> dict[str, Any]:
    """The governed vectors' policy (§13.1): one org, two workspaces, three tool categories."""
    bob, carol, erin = (signer.public_key.hex() for signer in (BOB, CAROL, ERIN))
    pair = sorted([bob, carol])
    return {
        "governance_version": 1,
        "org": "acme",
        "version": version,
        "lease_policy": {**base_policy(), "sequence": version},
        "request_max_age_ns": 60 * SECOND,
        "approval_ttl_ns": 50 * SECOND,
        "capabilities": ["files.read", "mail.send", "shell.run"],
        "models": ["local-large", "local-small"],
        "tools": {"fs.read": "read", "shell.exec": "shell", "web.fetch": "network"},
        "categories": {
            "network": {"decision": "REVIEW", "reviewers": pair, "threshold": 2},
            "read": {"decision": "ALLOW", "reviewers": [], "threshold": 0},
            "shell": {"decision": "DENY", "reviewers": [], "threshold": 0},
        },
        "sensitivity_review": {"HIGH": {"reviewers": [erin], "threshold": 1}},
        "reviewers": {bob: "bob", carol: "carol", erin: "erin"},
        "principals": {
            ALICE.public_key.hex(): {
                "name": "alice",
                "kind": "PERSON",
                "workspaces": {"ops": "viewer", "research": "analyst"},
            },
            CI_BOT.public_key.hex(): {
                "name": "ci-bot",
                "kind": "SERVICE",
                "workspaces": {"ops": "automation"},
            },
        },
        "workspaces": {
            "ops": {
                "automation": {
                    "capabilities": ["mail.send"],
                    "models": [],
                    "tools": ["fs.read"],
                },
                "viewer": {"capabilities": ["files.read"], "models": [], "tools": []},
            },
            "research": {
                "analyst": {
                    "capabilities": ["files.read"],
                    "models": ["local-small"],
                    "tools": ["fs.read", "web.fetch"],
                },
            },
        },
        "pools": None,
    }


def pools_policy() -> dict[str, Any]:
    """The pooled vectors' policy (§14.1): the governance policy with pools and safety."""
    policy = governance_policy()
    limits = dict.fromkeys(
        ("concurrency", "requests", "units", "context_tokens", "compute", "spend_cents")
    )
    policy["pools"] = {
        "rate_window_ns": 60 * SECOND,
        "org": {
            **limits,
            "concurrency": 3,
            "requests": 4,
            "units": 1000,
            "context_tokens": 8000,
            "compute": 10,
            "spend_cents": 500,
        },
        "workspaces": {"research": {**limits, "concurrency": 2, "spend_cents": 300}},
        "principals": {ALICE.public_key.hex(): {**limits, "compute": 6}},
        "safety": {
            "cooldown": {"denials": 3, "window_ns": 30 * SECOND, "cooldown_ns": 20 * SECOND},
            "breaker": {"denials": 4, "window_ns": 30 * SECOND, "open_ns": 40 * SECOND},
            "clamp": {"spend_cents": 200, "window_ns": 60 * SECOND, "lease_ns": 5 * SECOND},
        },
    }
    return policy


def reservation(
    index: int,
    *,
    principal: Ed25519Signer = ALICE,
    workspace: str = "research",
    granted_s: int = 90,
    expires_s: int = 150,
    open_: bool = True,
    units: int = 0,
    compute: int = 0,
    spend_cents: int = 0,
    day: int = 20426,
    epoch: str = EPOCH,
) -> dict[str, object]:
    return {
        "lease_id": f"{index:032x}",
        "principal": principal.public_key.hex(),
        "workspace": workspace,
        "clock_epoch": epoch,
        "granted_at_ns": granted_s * SECOND,
        "expires_at_ns": expires_s * SECOND,
        "day": day,
        "open": open_,
        "units": units,
        "compute": compute,
        "spend_cents": spend_cents,
    }


def denial(
    at_s: int,
    code: str = "POLICY_DENIED",
    *,
    principal: Ed25519Signer = ALICE,
    workspace: str = "research",
    epoch: str = EPOCH,
) -> dict[str, object]:
    return {
        "principal": principal.public_key.hex(),
        "workspace": workspace,
        "clock_epoch": epoch,
        "at_ns": at_s * SECOND,
        "code": code,
    }


def usage_of(
    reservations: Sequence[dict[str, object]] = (),
    denials: Sequence[dict[str, object]] = (),
    day: int = 20426,
) -> dict[str, object]:
    return {
        "usage_version": 1,
        "day": day,
        "reservations": list(reservations),
        "denials": list(denials),
    }


def request_for(
    manifest: dict[str, Any],
    *,
    signer: Ed25519Signer = ALICE,
    workspace: str = "research",
    model: str | None = "local-small",
    tools: tuple[str, ...] = ("fs.read",),
    at_ns: int = 90 * SECOND,
    epoch: str = EPOCH,
    demand: dict[str, int] | None = None,
) -> dict[str, object]:
    return sign_request(
        signer,
        workspace=workspace,
        model_id=model,
        tools=tools,
        manifest_digest=bytes.fromhex(manifest_digest_hex(manifest)),
        requested_at=MonotonicTime(epoch, at_ns),
        demand=demand,
    )


def approval_for(
    manifest: dict[str, Any],
    reviewer: Ed25519Signer,
    verdict: str = "APPROVE",
    at_ns: int = 95 * SECOND,
) -> dict[str, object]:
    digest = bytes.fromhex(manifest_digest_hex(manifest))
    return sign_approval(reviewer, digest, verdict, MonotonicTime(EPOCH, at_ns))


def _governed(
    vector_id: str,
    description: str,
    *,
    manifest: dict[str, Any] | None = None,
    request: object = None,
    approvals: object = None,
    hrc: object = None,
    snapshot: object = None,
    policy: dict[str, Any] | None = None,
    usage: object = None,
) -> Vector:
    manifest = base_manifest() if manifest is None else manifest
    document: dict[str, Any] = {
        "authority": {
            "signing_seed": vector_seed("issuer").hex(),
            "policy": policy or governance_policy(),
        },
        "manifest": manifest,
        "trust_snapshot": base_snapshot() if snapshot is None else snapshot,
        "now": now_at(100 * SECOND),
        "hrc_token": hrc,
        "request": request,
        "approvals": approvals,
    }
    if usage is not None:
        document["usage"] = usage
    return Vector(vector_id, description, "decision", document, run_decision(document))


def governance_vectors() -> Iterator[Vector]:
    m = base_manifest()
    high = base_manifest("HIGH")
    trusted = base_snapshot(9500)
    web = ("fs.read", "web.fetch")
    yield _governed(
        "gov-grant",
        "alice, analyst in research: an allowed capability, model and tool",
        request=request_for(m),
    )
    yield _governed(
        "gov-grant-no-model-no-tools",
        "a request naming no model and no tool",
        request=request_for(m, model=None, tools=()),
    )
    yield _governed(
        "gov-grant-reviewed",
        "web.fetch needs 2 of 2 network reviewers: both approved",
        request=request_for(m, tools=web),
        approvals=[approval_for(m, CAROL), approval_for(m, BOB)],
    )
    yield _governed(
        "gov-grant-high-reviewed",
        "HIGH needs erin's review and HRC: both given",
        manifest=high,
        snapshot=trusted,
        request=request_for(high),
        approvals=[approval_for(high, ERIN)],
        hrc=hrc_for(high, 99 * SECOND),
    )
    cases: list[tuple[str, str, dict[str, Any], object]] = [
        ("request-missing", "a governed authority needs a request", m, None),
        ("request-malformed", "request_version 2", m, {**request_for(m), "request_version": 2}),
        ("unknown-principal", "a key that is not registered", m, request_for(m, signer=OUTSIDER)),
        (
            "bad-request-signature",
            "the workspace was changed after signing",
            m,
            {**request_for(m), "workspace": "ops"},
        ),
        ("request-wrong-manifest", "signed for another manifest", m, request_for(high)),
        ("request-epoch", "signed before a reboot", m, request_for(m, epoch=OTHER_EPOCH)),
        ("request-from-future", "signed 1 ns after now", m, request_for(m, at_ns=100 * SECOND + 1)),
        (
            "request-too-old",
            "age == request_max_age_ns (half-open)",
            m,
            request_for(m, at_ns=40 * SECOND),
        ),
        ("workspace-not-allowed", "ci-bot is not in research", m, request_for(m, signer=CI_BOT)),
        (
            "capability-not-allowed",
            "a capability outside the org allowlist",
            _with(m, "capability_id", "db.drop"),
            request_for(_with(m, "capability_id", "db.drop")),
        ),
        (
            "capability-not-in-role",
            "mail.send is allowed in the org, not for an analyst",
            _with(m, "capability_id", "mail.send"),
            request_for(_with(m, "capability_id", "mail.send")),
        ),
        (
            "model-not-allowed",
            "a model outside the org allowlist",
            m,
            request_for(m, model="remote-xl"),
        ),
        (
            "model-not-in-role",
            "local-large is not an analyst's model",
            m,
            request_for(m, model="local-large"),
        ),
        (
            "tool-unknown",
            "a tool the policy does not define",
            m,
            request_for(m, tools=("fs.read", "gpu.burn")),
        ),
        (
            "tool-category-denied",
            "shell tools are denied for everyone",
            m,
            request_for(m, tools=("shell.exec",)),
        ),
        (
            "tool-not-in-role",
            "ops viewer may use no tool",
            m,
            request_for(m, workspace="ops", model=None, tools=("fs.read",)),
        ),
    ]
    for name, description, manifest, request in cases:
        yield _governed(f"gov-deny-{name}", description, manifest=manifest, request=request)
    req = request_for(m, tools=web)
    bob_ok = approval_for(m, BOB)
    approval_cases: list[tuple[str, str, object]] = [
        ("approvals-missing", "review needed and no approvals: insufficient", None),
        ("approvals-malformed", "an approval with a bad verdict", [{**bob_ok, "verdict": "MAYBE"}]),
        ("approvals-not-array", "approvals must be an array", {"bob": bob_ok}),
        ("approval-unknown-reviewer", "alice is not a reviewer", [approval_for(m, ALICE)]),
        (
            "approval-bad-signature",
            "the verdict time was changed after signing",
            [{**bob_ok, "signed_at": now_at(96 * SECOND)}],
        ),
        ("approval-wrong-manifest", "an approval of another manifest", [approval_for(high, BOB)]),
        ("reviewer-denied", "carol denied; bob approved", [bob_ok, approval_for(m, CAROL, "DENY")]),
        ("k-minus-one", "1 of the 2 required approvals", [bob_ok]),
        (
            "same-reviewer-twice",
            "bob twice counts once",
            [bob_ok, approval_for(m, BOB, at_ns=96 * SECOND)],
        ),
        (
            "approval-expired",
            "carol's approval is exactly approval_ttl_ns old: it does not count",
            [bob_ok, approval_for(m, CAROL, at_ns=50 * SECOND)],
        ),
        (
            "approval-from-future",
            "carol's approval is later than now: it does not count",
            [bob_ok, approval_for(m, CAROL, at_ns=100 * SECOND + 1)],
        ),
    ]
    for name, description, approvals in approval_cases:
        yield _governed(f"gov-deny-{name}", description, request=req, approvals=approvals)
    yield _governed(
        "gov-deny-high-needs-review",
        "HIGH needs erin's approval; network approvals do not stand in for it",
        manifest=high,
        snapshot=trusted,
        request=request_for(high, tools=web),
        approvals=[approval_for(high, BOB), approval_for(high, CAROL)],
        hrc=hrc_for(high, 99 * SECOND),
    )
    yield _governed(
        "gov-deny-policy-before-window",
        "an unknown principal is refused before the window is judged",
        manifest=_with(m, "window.epoch", OTHER_EPOCH),
        request=request_for(_with(m, "window.epoch", OTHER_EPOCH), signer=OUTSIDER),
    )
    yield _governed(
        "gov-deny-approvals-before-hrc",
        "missing approvals are refused before the missing HRC",
        manifest=high,
        snapshot=trusted,
        request=request_for(high),
    )


def governed_standing_vectors() -> Iterator[Vector]:
    m = base_manifest()
    document = {
        "authority": {"signing_seed": vector_seed("issuer").hex(), "policy": governance_policy()},
        "manifest": m,
        "trust_snapshot": base_snapshot(),
        "now": now_at(100 * SECOND),
        "hrc_token": None,
        "request": request_for(m),
        "approvals": None,
    }
    grant = run_decision(document)
    for vector_id, description, policy in (
        ("gov-standing-active", "a governed lease under its own policy", governance_policy()),
        (
            "gov-standing-policy-upgraded",
            "activating policy version 2 ends leases granted under version 1",
            governance_policy(2),
        ),
    ):
        standing_input = {
            "token": grant["token"],
            "now": now_at(200 * SECOND),
            "trust_snapshot": base_snapshot(),
            "policy": policy,
            "revoked_lease_ids": [],
        }
        yield Vector(
            vector_id, description, "standing", standing_input, run_standing(standing_input)
        )


def pool_vectors() -> Iterator[Vector]:
    """Step P (§14.4): each reason, its field and retry, at and past each limit."""
    m = base_manifest()
    policy = pools_policy()

    def pooled(
        vector_id: str,
        description: str,
        usage: object,
        demand: dict[str, int] | None = None,
        **request: Any,
    ) -> Vector:
        return _governed(
            vector_id,
            description,
            policy=policy,
            request=request_for(m, demand=demand, **request),
            usage=usage,
        )

    zero = {"units": 0, "context_tokens": 0, "compute": 0, "spend_cents": 0}
    yield pooled("pool-grant-empty", "nothing in flight, nothing spent", usage_of())
    yield pooled("pool-deny-usage-missing", "a pooled policy needs a usage snapshot", None)
    yield pooled(
        "pool-deny-usage-malformed",
        "a reservation with a float is refused at its path",
        usage_of([{**reservation(1), "units": 1.5}]),
    )
    yield pooled(
        "pool-deny-context",
        "8001 context tokens against the org's 8000",
        usage_of(),
        {**zero, "context_tokens": 8001},
    )
    yield pooled(
        "pool-grant-context-at-limit",
        "exactly the org's 8000 context tokens",
        usage_of(),
        {**zero, "context_tokens": 8000},
    )
    two = [reservation(1, expires_s=130), reservation(2, expires_s=120)]
    yield pooled(
        "pool-deny-concurrency-workspace",
        "two leases in flight in research (limit 2): retry when the first expires (120 s)",
        usage_of(two),
    )
    yield pooled(
        "pool-grant-concurrency-expired-and-closed",
        "an expired lease, a closed one and one of another epoch are not in flight",
        usage_of(
            [
                reservation(1, expires_s=100),
                reservation(2, open_=False),
                reservation(3, epoch=OTHER_EPOCH),
                reservation(4),
            ]
        ),
    )
    yield pooled(
        "pool-deny-concurrency-org",
        "three in flight in the org (limit 3), judged before the workspace",
        usage_of(
            [
                reservation(1, workspace="ops", expires_s=140),
                reservation(2, workspace="ops", expires_s=110),
                reservation(3, workspace="ops", expires_s=125),
            ]
        ),
    )
    yield pooled(
        "pool-deny-compute-principal",
        "alice has 4 compute in flight in ops (her limit 6) and asks for 3: retry at 110 s",
        usage_of(
            [
                reservation(1, workspace="ops", compute=1, expires_s=110),
                reservation(2, workspace="ops", compute=3, expires_s=130),
            ]
        ),
        {**zero, "compute": 3},
    )
    yield pooled(
        "pool-deny-compute-never",
        "7 compute can never fit alice's 6: no retry",
        usage_of(),
        {**zero, "compute": 7},
    )
    window = [reservation(i, granted_s=40 + 10 * i, expires_s=45 + 10 * i) for i in range(1, 5)]
    yield pooled(
        "pool-deny-requests",
        "four grants in the last 60 s (limit 4): retry when the oldest (50 s) leaves, at 110 s",
        usage_of(window),
    )
    yield pooled(
        "pool-grant-requests-window-edge",
        "a grant exactly 60 s ago has left the window",
        usage_of([reservation(i, granted_s=40 + 10 * i, expires_s=45 + 10 * i) for i in range(4)]),
    )
    yield pooled(
        "pool-deny-units",
        "900 units in the window plus 200 exceed 1000: retry when 100 are gone",
        usage_of(
            [
                reservation(1, granted_s=70, expires_s=71, units=100),
                reservation(2, granted_s=80, expires_s=81, units=800),
            ]
        ),
        {**zero, "units": 200},
    )
    spent = [
        reservation(1, granted_s=10, expires_s=20, open_=False, spend_cents=250),
        reservation(2, granted_s=10, expires_s=20, open_=False, spend_cents=40, day=20425),
    ]
    yield pooled(
        "pool-deny-spend-workspace",
        "250 cents spent today in research (budget 300) plus 60: retry tomorrow",
        usage_of(spent),
        {**zero, "spend_cents": 60},
    )
    yield pooled(
        "pool-grant-spend-at-budget",
        "yesterday's spend does not count: 250 + 50 is exactly research's 300",
        usage_of(spent),
        {**zero, "spend_cents": 50},
    )
    yield pooled(
        "pool-deny-cooldown",
        "three recent denials of alice (not quota ones): cooling down until 115 s",
        usage_of(
            denials=[
                denial(80, "APPROVAL_REQUIRED"),
                denial(95),
                denial(71, "HRC_REQUIRED"),
                denial(70, "INSUFFICIENT_TRUST"),
                denial(99, "QUOTA_EXCEEDED"),
            ]
        ),
    )
    yield pooled(
        "pool-deny-breaker",
        "four POLICY_DENIED in research by anyone within 30 s: open until 135 s",
        usage_of(
            denials=[
                denial(75, principal=CI_BOT),
                denial(80, principal=CI_BOT),
                denial(90, principal=OUTSIDER),
                denial(95, principal=OUTSIDER),
            ]
        ),
    )
    yield pooled(
        "pool-grant-clamped",
        "200 cents granted in research within the clamp window: the lease ends 5 s after now",
        usage_of([reservation(1, open_=False, spend_cents=200)]),
    )


def _parent_grant() -> tuple[dict[str, Any], dict[str, object]]:
    m = base_manifest()
    document = {
        "authority": {"signing_seed": vector_seed("issuer").hex(), "policy": governance_policy()},
        "manifest": m,
        "trust_snapshot": base_snapshot(),
        "now": now_at(100 * SECOND),
        "hrc_token": None,
        "request": request_for(m, tools=("fs.read", "web.fetch")),
        "approvals": [approval_for(m, BOB), approval_for(m, CAROL)],
    }
    return document, run_decision(document)


def sublease_vectors() -> Iterator[Vector]:
    """Sub-leases (§14.8): the child of a governed lease, and each refusal."""
    document, grant = _parent_grant()
    ungoverned_doc = {
        "authority": {"signing_seed": vector_seed("issuer").hex(), "policy": base_policy()},
        "manifest": base_manifest(),
        "trust_snapshot": base_snapshot(),
        "now": now_at(100 * SECOND),
    }
    ungoverned = run_decision(ungoverned_doc)
    child_base = {
        "authority": document["authority"],
        "parent_token": grant["token"],
        "now": now_at(110 * SECOND),
        "tool": "web.fetch",
        "calls": 3,
        "ttl_ns": 5 * SECOND,
        "holder_public_key": OTHER_HOLDER.public_key.hex(),
    }
    child = run_sublease(child_base)
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("sublease-grant", "one tool, three calls, 5 s", {}),
        ("sublease-grant-parent-expiry", "a long ttl ends with the parent", {"ttl_ns": 10**15}),
        (
            "sublease-deny-not-governed",
            "an ungoverned lease names no tools",
            {
                "authority": ungoverned_doc["authority"],
                "parent_token": ungoverned["token"],
            },
        ),
        ("sublease-deny-of-sublease", "no grandchildren", {"parent_token": child["token"]}),
        (
            "sublease-deny-parent-expired",
            "the parent's time is up",
            {"now": now_at(10**6 * SECOND)},
        ),
        ("sublease-deny-tool", "a tool the parent was not granted", {"tool": "fs.write"}),
        ("sublease-deny-calls-zero", "at least one call", {"calls": 0}),
        ("sublease-deny-calls-many", "at most 1000 calls", {"calls": 1001}),
        ("sublease-deny-ttl", "a positive time to live", {"ttl_ns": 0}),
        (
            "sublease-deny-holder",
            "a holder key that is not a valid point",
            {"holder_public_key": "00" * 32},
        ),
    ]
    for vector_id, description, change in cases:
        sub_input = {**child_base, **change}
        yield Vector(vector_id, description, "sublease", sub_input, run_sublease(sub_input))


def all_vectors() -> list[Vector]:
    return [
        *decision_vectors(),
        *verification_vectors(),
        *standing_vectors(),
        *governance_vectors(),
        *governed_standing_vectors(),
        *pool_vectors(),
        *sublease_vectors(),
    ]


def vector_files(vectors: list[Vector]) -> dict[str, str]:
    """File name -> exact file text (stable: sorted keys, two-space indent, newline)."""
    return {
        f"{vector.id}.json": json.dumps(
            vector.to_json(), indent=2, sort_keys=True, ensure_ascii=True
        )
        + "\n"
        for vector in vectors
    }
