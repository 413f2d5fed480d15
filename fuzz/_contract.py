"""The fuzzing contract of pda-lease's untrusted-input surfaces, shared by atheris and pytest.

Every public function that reads bytes or documents an attacker controls promises a closed set
of outcomes: a typed result, or one documented error. Each ``check_*`` function below feeds one
input to one surface (with fixed keys, task, digest and time from ``pda_lease.conformance``)
and enforces that promise plus the surface's own round-trip properties. A documented outcome
returns normally; anything else propagates: an undocumented exception as itself, a wrong
result or a broken property as ``ContractViolation``. The atheris targets (``fuzz/fuzz_*.py``)
call these functions under coverage instrumentation, and ``tests/test_fuzz_regressions.py``
replays the corpus and every found crash through the very same functions, so a regression runs
in plain pytest without atheris.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from pda_lease import (
    Authority,
    Deny,
    Grant,
    InvalidLease,
    LeaseClaims,
    LeasePolicy,
    MonotonicTime,
    TaskManifest,
    TrustSnapshot,
    UsageError,
    decode_unverified,
    json_digest,
    open_token,
    parse_manifest,
    parse_trust_snapshot,
    sign_holder_proof,
    verify_token,
)
from pda_lease.adapters.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditProblem,
    check_line,
    merkle_leaf,
)
from pda_lease.adapters.jsonio import JsonInputError, canonical_json, parse_json
from pda_lease.conformance import (
    BOB,
    CAROL,
    CHALLENGE,
    EPOCH,
    HOLDER,
    ISSUER,
    SECOND,
    approval_for,
    base_manifest,
    base_policy,
    base_snapshot,
    governance_policy,
    pools_policy,
    request_for,
)
from pda_lease.governance.bundle import BundleError, VerifiedBundle, sign_bundle, verify_bundle
from pda_lease.governance.sources import LintMessage, compose, parse_yaml
from pda_lease.kernel import cbor
from pda_lease.kernel.catalog import CATALOG
from pda_lease.kernel.crypto import sha256
from pda_lease.kernel.decide import derive
from pda_lease.kernel.errors import PolicyError
from pda_lease.kernel.governance import GovernancePolicy
from pda_lease.kernel.inputs import HrcToken, parse_hrc_token
from pda_lease.kernel.model import Failure
from pda_lease.kernel.token import DecodedToken, VerifiedLease
from pda_lease.receipt import ReceiptError, VerifiedReceipt, verify_receipt
from pda_lease.transparency.checkpoint import (
    Checkpoint,
    NoteError,
    OpenedNote,
    VerifiedCheckpoint,
    VerifierKey,
    open_checkpoint,
    open_note,
)


class ContractViolation(AssertionError):
    """A surface returned something outside its contract, or broke a round-trip property."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


# The fixed world every target judges inputs in: the conformance vectors' issuer, policy,
# task, manifest digest and time, so the seed corpus (built from the vectors) reaches deep.
POLICY = LeasePolicy.from_json(base_policy())
AUTHORITY = Authority(ISSUER, POLICY)
ISSUER_KEY = ISSUER.public_key
TASK_ID = str(base_manifest()["task_id"])
MANIFEST_DIGEST = json_digest(base_manifest())
NOW = MonotonicTime(EPOCH, 100 * SECOND)
TRUSTED = VerifierKey(POLICY.issuer, ISSUER.public_key)
_BASE_SNAPSHOT = base_snapshot()
_BASE_MANIFEST = base_manifest()
_HIGH_MANIFEST = base_manifest("HIGH")


def _check_deny(denial: object) -> None:
    _require(isinstance(denial, Deny), f"expected a Deny, got {type(denial).__name__}")
    assert isinstance(denial, Deny)
    _require(denial.reason in CATALOG.get(denial.code, {}), f"{denial} is not in the catalog")


def _invalid(exc: InvalidLease) -> None:
    _check_deny(exc.deny)


# ------------------------------------------------------------------------------------ token


def check_token(data: bytes) -> None:
    """``decode_unverified``, ``open_token`` and ``verify_token``: a value or ``InvalidLease``.

    Properties: a token that opens also decodes to the same claims; a token that verifies
    also opens.
    """
    decoded: DecodedToken | None = None
    try:
        decoded = decode_unverified(data)
    except InvalidLease as exc:
        _invalid(exc)
    else:
        _require(isinstance(decoded, DecodedToken), "decode_unverified returned a non-token")
        _require(isinstance(decoded.claims, LeaseClaims), "decoded claims are not LeaseClaims")

    opened: LeaseClaims | None = None
    try:
        opened = open_token(data, issuer_public_key=ISSUER_KEY)
    except InvalidLease as exc:
        _invalid(exc)
    else:
        _require(isinstance(opened, LeaseClaims), "open_token returned non-claims")
        _require(decoded is not None, "a token opened that does not decode")
        assert decoded is not None
        _require(decoded.claims == opened, "open_token and decode_unverified disagree")

    # A proof by the conformance holder over the token's own lease id, when it has one, so
    # that a well-formed token can pass every step of spec §7.3.
    proof: object = None
    if decoded is not None:
        proof = sign_holder_proof(HOLDER, decoded.claims.lease_id, CHALLENGE)
    try:
        verified = verify_token(
            data,
            issuer_public_key=ISSUER_KEY,
            task_id=TASK_ID,
            manifest_digest=MANIFEST_DIGEST,
            now=NOW,
            holder_proof=proof,
            revoked=frozenset(),
        )
    except InvalidLease as exc:
        _invalid(exc)
    else:
        _require(isinstance(verified, VerifiedLease), "verify_token returned a non-lease")
        _require(opened == verified.claims, "a token verified that does not open")
        _require(verified.token == data, "verify_token returned another token")


# ---------------------------------------------------------------------------------- decide


def _decide(manifest: object, snapshot: object, now: MonotonicTime, hrc: object) -> None:
    decision = AUTHORITY.decide(manifest, snapshot, now, hrc)
    if isinstance(decision, Grant):
        claims = open_token(decision.token, issuer_public_key=ISSUER_KEY)
        _require(claims == decision.claims, "a granted token does not open to its claims")
        _require(decision.lease_id == claims.lease_id, "a grant's lease id is not its token's")
    else:
        _check_deny(decision)
    canonical_json(decision.to_json())  # the manager audits every decision as canonical JSON


def _time(document: object) -> MonotonicTime:
    try:
        return MonotonicTime.from_json(document)
    except UsageError:  # the embedder's clock reading, not untrusted input: keep the default
        return NOW


def check_decide(data: bytes) -> None:
    """``parse_json`` then ``Authority.decide``: ``JsonInputError``, or Grant or Deny.

    The document is tried as the manifest, as the trust snapshot and as the HRC token (with
    the base vectors' other inputs). A JSON object with a ``manifest`` member is also run as a
    whole decision input (``manifest``, ``trust_snapshot``, ``hrc_token``, ``now``), which is
    how the seed corpus carries the decision vectors. Every Grant's token must open to its
    claims, and every decision must be expressible as canonical JSON.
    """
    try:
        document = parse_json(data)
    except JsonInputError:
        return
    _decide(document, _BASE_SNAPSHOT, NOW, None)
    _decide(_BASE_MANIFEST, document, NOW, None)
    _decide(_HIGH_MANIFEST, _BASE_SNAPSHOT, NOW, document)
    if type(document) is dict and "manifest" in document:
        _decide(
            document["manifest"],
            document.get("trust_snapshot"),
            _time(document.get("now")),
            document.get("hrc_token"),
        )


# ---------------------------------------------------------------------------------- inputs


def check_inputs(data: bytes) -> None:
    """``parse_trust_snapshot``, ``parse_hrc_token``, ``parse_manifest``: value or ``Failure``."""
    try:
        document = parse_json(data)
    except JsonInputError:
        return
    for parse, kind in (
        (parse_trust_snapshot, TrustSnapshot),
        (parse_hrc_token, HrcToken),
        (parse_manifest, TaskManifest),
    ):
        result = parse(document)
        _require(
            isinstance(result, (kind, Failure)),
            f"{parse.__name__} returned {type(result).__name__}",
        )
        if isinstance(result, Failure):
            _require(type(result.reason) is str and type(result.path) is str, "bad Failure")


# --------------------------------------------------------------------------------- receipt


def check_receipt(data: bytes) -> None:
    """``verify_receipt`` against the conformance issuer: a receipt or ``ReceiptError``."""
    try:
        verified = verify_receipt(data, TRUSTED)
    except ReceiptError:
        return
    _require(isinstance(verified, VerifiedReceipt), "verify_receipt returned a non-receipt")
    canonical_json(verified.to_json())


# ------------------------------------------------------------------------------ checkpoint


def check_checkpoint(data: bytes) -> None:
    """``open_note``, ``open_checkpoint``, ``Checkpoint.parse``: a value or ``NoteError``.

    Properties: ``Checkpoint.parse`` and ``to_text`` are exact inverses; a checkpoint that
    opens is signed by the trusted key and carries the origin it was opened for.
    """
    try:
        opened = open_note(data, [TRUSTED])
    except NoteError:
        pass
    else:
        _require(isinstance(opened, OpenedNote), "open_note returned a non-note")
        _require(opened.verified_by == (TRUSTED,), "a note opened without the trusted key")

    origin = data.split(b"\n", 1)[0].decode("utf-8", "surrogateescape")
    try:
        checkpoint = open_checkpoint(data, [TRUSTED], origin=origin)
    except NoteError:
        pass
    else:
        _require(isinstance(checkpoint, VerifiedCheckpoint), "open_checkpoint returned junk")
        _require(checkpoint.checkpoint.origin == origin, "a checkpoint of another origin opened")

    # Checkpoint.parse takes the note text as str: any bytes, undecodable ones as surrogates.
    text = data.decode("utf-8", "surrogateescape")
    try:
        parsed = Checkpoint.parse(text)
    except NoteError:
        return
    _require(isinstance(parsed, Checkpoint), "Checkpoint.parse returned a non-checkpoint")
    _require(parsed.to_text() == text, "Checkpoint.parse and to_text are not inverses")


# ----------------------------------------------------------------------------------- audit


def _line_position(line: bytes) -> tuple[int, bytes] | None:
    """The seq and prev_hash a line claims, so that a well-formed line can pass every check."""
    try:
        record = parse_json(line)
    except JsonInputError:
        return None
    if type(record) is not dict:
        return None
    seq, prev = record.get("seq"), record.get("prev_hash")
    if type(seq) is not int or not 0 <= seq < 1 << 63 or type(prev) is not str:
        return None
    try:
        prev_hash = bytes.fromhex(prev)
    except ValueError:
        return None
    return (seq, prev_hash) if len(prev_hash) == 32 else None


def _check_one_line(line: bytes, seq: int, prev_hash: bytes) -> None:
    try:
        entry = check_line(line, seq, prev_hash, len(line) + 1)
    except AuditProblem as exc:
        _require(exc.line_number == seq + 1, "an audit problem names the wrong line")
        return
    _require(isinstance(entry, AuditEntry), "check_line returned a non-entry")
    _require(entry.seq == seq and entry.prev_hash == prev_hash, "entry is not where it was read")
    _require(canonical_json(dict(entry.record)) == line, "a non-canonical line passed")
    _require(entry.leaf_hash == merkle_leaf(line), "leaf hash is not the line's")


def check_audit(data: bytes) -> None:
    """``check_line``: an ``AuditEntry`` or ``AuditProblem``, as entry 0 and where it claims."""
    line = data.rstrip(b"\n")
    _check_one_line(line, 0, GENESIS_HASH)
    position = _line_position(line)
    if position is not None:
        _check_one_line(line, *position)


# ------------------------------------------------------------------------------------ cbor


_FAILED = object()  # CBOR null decodes to None, so a failed decode needs its own marker


def _decode(data: bytes, max_depth: int, allow_top_tag: bool) -> object:
    try:
        value = cbor.decode(data, max_depth=max_depth, allow_top_tag=allow_top_tag)
    except cbor.CborError as exc:
        _require(0 <= exc.offset <= len(data), f"CborError offset {exc.offset} outside input")
        return _FAILED
    _require(cbor.encode(value) == data, "a decoded item does not re-encode to its bytes")
    return value


def check_cbor(data: bytes) -> None:
    """``cbor.decode``: a value or ``CborError``; every decoded item re-encodes to its bytes.

    Decoded at the token's depth (8, tag allowed on top) and at the deepest supported depth
    (no tag): what decodes at the shallow depth without a tag decodes the same when deeper.
    """
    shallow = _decode(data, 8, True)
    deep = _decode(data, cbor.MAX_SUPPORTED_DEPTH, False)
    if shallow is not _FAILED and not isinstance(shallow, cbor.Tag):
        _require(deep is not _FAILED, "an item decoded at depth 8 but not at the deepest depth")
        _require(deep == shallow, "an item decodes differently at two depths")


# ---------------------------------------------------------------------------------- governance

GOVERNED = Authority(ISSUER, GovernancePolicy.from_json(governance_policy()))
POLICY_KEY = ISSUER  # the key the bundle target trusts (any fixed key does)
_WEB_REQUEST = request_for(_BASE_MANIFEST, tools=("fs.read", "web.fetch"))
_HIGH_REQUEST = request_for(_HIGH_MANIFEST)


def _governed(manifest: object, request: object, approvals: object, hrc: object = None) -> None:
    decision = GOVERNED.decide(manifest, _BASE_SNAPSHOT, NOW, hrc, request, approvals)
    if isinstance(decision, Grant):
        claims = open_token(decision.token, issuer_public_key=ISSUER_KEY)
        _require(claims == decision.claims, "a governed token does not open to its claims")
        _require(claims.governance is not None, "a governed grant lacks its governance claim")
    else:
        _check_deny(decision)
    canonical_json(decision.to_json())


def check_governed(data: bytes) -> None:
    """A governed ``decide`` (spec §13.6): Grant or Deny whatever the request and approvals.

    The document is tried as the request, as the approvals of a request that needs review,
    and, when it is an object with a ``request`` member, as a whole governed decision input
    (how the seed corpus carries the ``gov-*`` vectors).
    """
    try:
        document = parse_json(data)
    except JsonInputError:
        return
    _governed(_BASE_MANIFEST, document, None)
    _governed(_BASE_MANIFEST, _WEB_REQUEST, document)
    _governed(_HIGH_MANIFEST, _HIGH_REQUEST, document)
    if type(document) is dict and "request" in document:
        _governed(
            document.get("manifest"),
            document["request"],
            document.get("approvals"),
            document.get("hrc_token"),
        )


def check_bundle(data: bytes) -> None:
    """``verify_bundle``: a VerifiedBundle or ``BundleError``; as a JSON document, the policy
    parser: a GovernancePolicy or ``PolicyError``, and a valid one signs and verifies back."""
    try:
        verified = verify_bundle(data, [POLICY_KEY.public_key])
    except BundleError:
        pass
    else:
        _require(isinstance(verified, VerifiedBundle), "verify_bundle returned something else")
        outer = cbor.decode(data, max_depth=16, allow_top_tag=True)
        _require(isinstance(outer, cbor.Tag), "a verified bundle is not a tagged item")
        assert isinstance(outer, cbor.Tag) and isinstance(outer.content, list)
        payload = outer.content[2]
        _require(
            type(payload) is bytes and sha256(payload) == verified.policy_digest,
            "a verified bundle's policy digest is not the hash of its payload",
        )
    try:
        document = parse_json(data)
    except JsonInputError:
        return
    try:
        policy = GovernancePolicy.from_json(document)
    except PolicyError:
        return
    signed = sign_bundle(POLICY_KEY, document)
    _require(
        verify_bundle(signed, [POLICY_KEY.public_key]).policy_digest == policy.digest,
        "a valid policy does not sign and verify back to its digest",
    )


def check_policy_yaml(data: bytes) -> None:
    """The YAML policy loader and linter: lint messages, never an exception (docs/POLICY.md).

    The bytes are read as each source file in turn; a composed document, if any, must be a
    valid GovernancePolicy (the compiler never emits what the kernel refuses).
    """
    for name in ("org.yml", "models.yml", "tools.yml", "workspaces/x.yml"):
        value, messages = parse_yaml(name, data)
        _require(all(isinstance(m, LintMessage) for m in messages), "a lint message is not one")
        if messages:
            continue
        document, lint = compose({name: value})
        _require(all(isinstance(m, LintMessage) for m in lint), "a lint message is not one")
        if document is not None:
            GovernancePolicy.from_json(document)


POOLED = Authority(ISSUER, GovernancePolicy.from_json(pools_policy()))
_POOL_REQUEST = request_for(
    _BASE_MANIFEST, demand={"units": 10, "context_tokens": 10, "compute": 1, "spend_cents": 5}
)
_CLAMP_NS = 5 * SECOND  # pools_policy()'s clamp lease_ns
_PARENT = GOVERNED.decide(
    _BASE_MANIFEST,
    _BASE_SNAPSHOT,
    NOW,
    None,
    _WEB_REQUEST,
    [approval_for(_BASE_MANIFEST, BOB), approval_for(_BASE_MANIFEST, CAROL)],
)


def _pooled(request: object, usage: object) -> None:
    """A pooled ``decide`` (spec §14.4): Grant or Deny; a retry is later than now."""
    decision = POOLED.decide(_BASE_MANIFEST, _BASE_SNAPSHOT, NOW, None, request, None, usage)
    if isinstance(decision, Grant):
        claims = open_token(decision.token, issuer_public_key=ISSUER_KEY)
        _require(claims == decision.claims, "a pooled token does not open to its claims")
        if decision.clamped:
            _require(claims.expires_at_ns <= NOW.ns + _CLAMP_NS, "a clamp did not bound expiry")
    else:
        _check_deny(decision)
        retry = decision.retry
        if retry is not None:
            _require(decision.code == "QUOTA_EXCEEDED", "only a quota denial recommends a retry")
            if retry.day is None:
                _require(
                    retry.epoch == NOW.epoch and retry.ns is not None and retry.ns > NOW.ns,
                    "a retry time is not later than now",
                )
            else:
                _require(
                    type(usage) is dict and retry.day == usage.get("day", -2) + 1,
                    "a retry day is not the next day",
                )
    canonical_json(decision.to_json())


def check_pools(data: bytes) -> None:
    """Step P and sub-leases (spec §14.4, §14.8) on arbitrary documents.

    The document is tried as the usage snapshot of a pooled decision; an object with a
    ``request`` member as a whole pooled input; an object with a ``tool`` member as the
    arguments of ``derive`` from a fixed governed parent (Grant or Deny; a child never
    outlives its parent and names it).
    """
    try:
        document = parse_json(data)
    except JsonInputError:
        return
    _pooled(_POOL_REQUEST, document)
    if type(document) is not dict:
        return
    if "request" in document:
        _pooled(document["request"], document.get("usage"))
    if "tool" in document:
        assert isinstance(_PARENT, Grant)
        holder = document.get("holder_public_key")
        if type(holder) is str and len(holder) == 64:
            with contextlib.suppress(ValueError):
                holder = bytes.fromhex(holder)
        child = derive(
            GOVERNED,
            _PARENT.claims,
            NOW,
            document.get("tool"),
            document.get("calls"),
            document.get("ttl_ns"),
            holder,
        )
        if isinstance(child, Grant):
            claims = open_token(child.token, issuer_public_key=ISSUER_KEY)
            _require(claims == child.claims, "a sub-lease does not open to its claims")
            _require(
                claims.parent is not None and claims.parent.lease_id == _PARENT.lease_id,
                "a sub-lease does not name its parent",
            )
            _require(
                claims.expires_at_ns <= _PARENT.claims.expires_at_ns,
                "a sub-lease outlives its parent",
            )
        else:
            _check_deny(child)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "token": check_token,
    "decide": check_decide,
    "inputs": check_inputs,
    "receipt": check_receipt,
    "checkpoint": check_checkpoint,
    "audit": check_audit,
    "cbor": check_cbor,
    "governed": check_governed,
    "bundle": check_bundle,
    "policy_yaml": check_policy_yaml,
    "pools": check_pools,
}
