"""The lease token (spec §6) and its verification (spec §7).

A token is a tagged COSE_Sign1 (RFC 9052) with alg Ed25519 (-19, RFC 9864) and the issuer's
RFC 9679 thumbprint as ``kid``, both in the protected header; its payload is a CWT claims map
(RFC 8392) with the holder key in ``cnf`` (RFC 8747). Every part is deterministic CBOR, so the
token bytes are a function of the decision inputs, and verification accepts only those bytes:
any other encoding of the same claims is refused.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Mapping

import attrs

from pda_lease.kernel import cbor, model
from pda_lease.kernel.catalog import Code, Deny, deny
from pda_lease.kernel.crypto import (
    SIGNATURE_BYTES,
    Signer,
    cose_key_thumbprint,
    verify_signature,
)
from pda_lease.kernel.errors import InvalidLease, UsageError
from pda_lease.kernel.governance import MAX_REQUEST_TOOLS, GovernanceClaim
from pda_lease.kernel.inputs import (
    EPOCH_PATTERN,
    HEX64_PATTERN,
    IDENTIFIER_PATTERN,
    PRINTABLE_PATTERN,
    SENSITIVITIES,
    UINT63_MAX,
    Constraints,
    MonotonicTime,
)
from pda_lease.kernel.model import Failure, Field

MAX_TOKEN_BYTES = 4096
MAX_TOKEN_DEPTH = 8
TOKEN_FORMAT_VERSION = 1
LEASE_ID_BYTES = 16
ALG_ED25519 = -19
COSE_SIGN1_TAG = 18
HOLDER_CONTEXT = "PDA-LEASE-HOLDER-v1"

# CWT claim keys (RFC 8392, RFC 8747) and our private-use claims (< -65536, RFC 8392 §9.1).
ISS, SUB, CTI, CNF = 1, 2, 7, 8
PDA_VERSION = -65537
MANIFEST_DIGEST = -65538
TRUST_DIGEST = -65539
POLICY_DIGEST = -65540
CLOCK_EPOCH = -65541
ISSUED_AT_NS = -65542
EXPIRES_AT_NS = -65543
CAPABILITY_ID = -65544
CONSTRAINTS = -65545
HRC = -65546
GOVERNANCE = -65547  # present only in tokens of a governed authority (spec §13.10)
PARENT = -65548  # present only in sub-leases, always with GOVERNANCE (spec §14.8)
MAX_SUBLEASE_CALLS = 1000
CLAIM_KEYS = frozenset(
    {
        ISS,
        SUB,
        CTI,
        CNF,
        PDA_VERSION,
        MANIFEST_DIGEST,
        TRUST_DIGEST,
        POLICY_DIGEST,
        CLOCK_EPOCH,
        ISSUED_AT_NS,
        EXPIRES_AT_NS,
        CAPABILITY_ID,
        CONSTRAINTS,
        HRC,
    }
)

_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_PRINTABLE = re.compile(PRINTABLE_PATTERN)
_EPOCH = re.compile(EPOCH_PATTERN)


@attrs.frozen
class ParentClaim:
    """What a sub-lease names of its parent (claim -65548, spec §14.8)."""

    lease_id: bytes
    tool: str
    calls: int

    def to_cbor(self) -> dict[str, object]:
        return {"lease_id": self.lease_id, "tool": self.tool, "calls": self.calls}

    def to_json(self) -> dict[str, object]:
        return {"lease_id": self.lease_id.hex(), "tool": self.tool, "calls": self.calls}


@attrs.frozen
class LeaseClaims:
    """The claims of a lease token (spec §6.3), typed."""

    issuer: str
    task_id: str
    lease_id: bytes
    holder_public_key: bytes
    manifest_digest: bytes
    trust_digest: bytes
    policy_digest: bytes
    clock_epoch: str
    issued_at_ns: int
    expires_at_ns: int
    capability_id: str
    constraints: Constraints
    hrc_digest: bytes | None
    governance: GovernanceClaim | None = None
    parent: ParentClaim | None = None

    def to_cbor(self) -> dict[int, object]:
        claims: dict[int, object] = {
            ISS: self.issuer,
            SUB: self.task_id,
            CTI: self.lease_id,
            CNF: {1: cose_key(self.holder_public_key)},
            PDA_VERSION: TOKEN_FORMAT_VERSION,
            MANIFEST_DIGEST: self.manifest_digest,
            TRUST_DIGEST: self.trust_digest,
            POLICY_DIGEST: self.policy_digest,
            CLOCK_EPOCH: self.clock_epoch,
            ISSUED_AT_NS: self.issued_at_ns,
            EXPIRES_AT_NS: self.expires_at_ns,
            CAPABILITY_ID: self.capability_id,
            CONSTRAINTS: self.constraints.to_json(),
            HRC: self.hrc_digest,
        }
        if self.governance is not None:
            claims[GOVERNANCE] = self.governance.to_cbor()
        if self.parent is not None:
            claims[PARENT] = self.parent.to_cbor()
        return claims

    def to_json(self) -> dict[str, object]:
        """A readable view (hex for bytes), used by ``inspect`` and the CLI."""
        view: dict[str, object] = {
            "iss": self.issuer,
            "sub": self.task_id,
            "cti": self.lease_id.hex(),
            "cnf": {"kty": "OKP", "crv": "Ed25519", "x": self.holder_public_key.hex()},
            "pda_version": TOKEN_FORMAT_VERSION,
            "manifest_digest": self.manifest_digest.hex(),
            "trust_digest": self.trust_digest.hex(),
            "policy_digest": self.policy_digest.hex(),
            "clock_epoch": self.clock_epoch,
            "issued_at_ns": self.issued_at_ns,
            "expires_at_ns": self.expires_at_ns,
            "capability_id": self.capability_id,
            "constraints": self.constraints.to_json(),
            "hrc": None if self.hrc_digest is None else self.hrc_digest.hex(),
        }
        if self.governance is not None:
            view["governance"] = self.governance.to_json()
        if self.parent is not None:
            view["parent"] = self.parent.to_json()
        return view


def cose_key(public_key: bytes) -> dict[int, object]:
    """COSE_Key of an Ed25519 public key: {kty: OKP, crv: Ed25519, x} (spec §6.2)."""
    return {1: 1, -1: 6, -2: public_key}


def protected_header(kid: bytes) -> bytes:
    """``det({1: alg, 4: kid})``: the protected header of spec §6.1."""
    if type(kid) is not bytes or len(kid) != 32:
        raise UsageError("a kid is a 32-byte key thumbprint")
    return _PROTECTED_PREFIX + kid


# The fixed parts of the encodings below, each produced once by the general encoder, so that
# no byte of a token is typed in by hand. tests/test_fast_paths.py checks the direct
# encoders against the general one.
_PROTECTED_PREFIX = cbor.encode({1: ALG_ED25519, 4: bytes(32)})[:-32]
_SIG1_PREFIX = cbor.encode("Signature1")
_HOLDER_PREFIX = cbor.encode_head(4, 3) + cbor.encode(HOLDER_CONTEXT)
_SIG1_HEAD = cbor.encode_head(4, 4) + _SIG1_PREFIX
_EMPTY_BSTR = cbor.encode(b"")
_TOKEN_HEAD = cbor.encode_head(6, COSE_SIGN1_TAG) + cbor.encode_head(4, 4)
_EMPTY_MAP = cbor.encode({})
_CLAIMS_HEAD = cbor.encode_head(5, len(CLAIM_KEYS))
_GOVERNED_CLAIMS_HEAD = cbor.encode_head(5, len(CLAIM_KEYS) + 1)
_SUBLEASE_CLAIMS_HEAD = cbor.encode_head(5, len(CLAIM_KEYS) + 2)
_KEY = {key: cbor.encode(key) for key in (*CLAIM_KEYS, GOVERNANCE, PARENT)}
_CNF_PREFIX = cbor.encode_head(5, 1) + cbor.encode(1) + cbor.encode(cose_key(bytes(32)))[:-32]
_VERSION = cbor.encode(TOKEN_FORMAT_VERSION)
_NULL = cbor.encode(None)
_CONSTRAINTS_HEAD = cbor.encode_head(5, 4)
_SCOPE, _REVERSIBLE, _SENSITIVITY, _HRC_REQUIRED = (
    cbor.encode(name) for name in ("scope", "reversible", "sensitivity", "hrc_required")
)
_TRUE, _FALSE = cbor.encode(True), cbor.encode(False)


def _encode_bool(value: bool) -> bytes:
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    raise cbor.EncodeError("not a boolean")


def encode_claims(claims: LeaseClaims) -> bytes:
    """``det(claims.to_cbor())`` written out directly: the token payload of spec §6.3.

    Minting is on every grant's path, so the claims map, whose keys and shapes are fixed, is
    encoded in its deterministic order (bytewise order of the encoded keys) without building
    and sorting a generic map first.
    """
    constraints = claims.constraints
    hrc = claims.hrc_digest
    if type(claims.holder_public_key) is not bytes or len(claims.holder_public_key) != 32:
        raise cbor.EncodeError("a holder public key is 32 bytes")
    key = _KEY
    governance = claims.governance
    parent = claims.parent
    if parent is not None and governance is None:
        raise cbor.EncodeError("a sub-lease (parent claim) is always governed")
    if governance is None:
        head = _CLAIMS_HEAD
    else:
        head = _GOVERNED_CLAIMS_HEAD if parent is None else _SUBLEASE_CLAIMS_HEAD
    return b"".join(
        (
            head,
            key[ISS],
            cbor.encode_text(claims.issuer),
            key[SUB],
            cbor.encode_text(claims.task_id),
            key[CTI],
            cbor.encode_bytes(claims.lease_id),
            key[CNF],
            _CNF_PREFIX,
            claims.holder_public_key,
            key[PDA_VERSION],
            _VERSION,
            key[MANIFEST_DIGEST],
            cbor.encode_bytes(claims.manifest_digest),
            key[TRUST_DIGEST],
            cbor.encode_bytes(claims.trust_digest),
            key[POLICY_DIGEST],
            cbor.encode_bytes(claims.policy_digest),
            key[CLOCK_EPOCH],
            cbor.encode_text(claims.clock_epoch),
            key[ISSUED_AT_NS],
            cbor.encode_uint(claims.issued_at_ns),
            key[EXPIRES_AT_NS],
            cbor.encode_uint(claims.expires_at_ns),
            key[CAPABILITY_ID],
            cbor.encode_text(claims.capability_id),
            key[CONSTRAINTS],
            _CONSTRAINTS_HEAD,
            _SCOPE,
            cbor.encode_text(constraints.scope),
            _REVERSIBLE,
            _encode_bool(constraints.reversible),
            _SENSITIVITY,
            cbor.encode_text(str(constraints.sensitivity)),
            _HRC_REQUIRED,
            _encode_bool(constraints.hrc_required),
            key[HRC],
            _NULL if hrc is None else cbor.encode_bytes(hrc),
            b"" if governance is None else _encode_governance(governance),
            b"" if parent is None else _KEY[PARENT] + cbor.encode(parent.to_cbor()),
        )
    )


def _encode_governance(governance: GovernanceClaim) -> bytes:
    """Claim -65547 (spec §13.10): its key and ``det`` of its map."""
    if type(governance.principal) is not bytes or len(governance.principal) != 32:
        raise cbor.EncodeError("a principal key is 32 bytes")
    return _KEY[GOVERNANCE] + cbor.encode(governance.to_cbor())


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """RFC 9052 §4.4 ToBeSigned for COSE_Sign1 with empty external AAD.

    ``det(["Signature1", protected, h'', payload])``, written out directly.
    """
    return b"".join(
        (_SIG1_HEAD, cbor.encode_bytes(protected), _EMPTY_BSTR, cbor.encode_bytes(payload))
    )


def _envelope(protected: bytes, payload: bytes, signature: bytes) -> bytes:
    """``det(18([protected, {}, payload, signature]))``, written out directly."""
    return b"".join(
        (
            _TOKEN_HEAD,
            cbor.encode_bytes(protected),
            _EMPTY_MAP,
            cbor.encode_bytes(payload),
            cbor.encode_bytes(signature),
        )
    )


def mint(signer: Signer, claims: LeaseClaims, *, protected: bytes | None = None) -> bytes:
    """Encode and sign a token (spec §6). Deterministic: Ed25519 has no random nonce.

    ``protected`` is the signer's protected header if the caller already has it (an
    ``Authority`` computes it once); it must be ``protected_header`` of the signer's kid.
    """
    if protected is None:
        protected = protected_header(cose_key_thumbprint(signer.public_key))
    payload = encode_claims(claims)
    signature = signer.sign(sig_structure(protected, payload))
    return _envelope(protected, payload, signature)


# ---------------------------------------------------------------------------------- verify


@attrs.frozen
class VerifiedLease:
    """A token that passed every step of spec §7.3."""

    lease_id: bytes
    claims: LeaseClaims
    token: bytes = attrs.field(repr=False)


@attrs.frozen
class DecodedToken:
    """A structurally valid token whose signature has NOT been checked (for inspection)."""

    kid: bytes
    claims: LeaseClaims
    protected: bytes
    payload: bytes
    signature: bytes


class _Refused(Exception):
    def __init__(self, denial: Deny) -> None:
        self.denial = denial


def _invalid(reason: str) -> _Refused:
    return _Refused(deny(Code.INVALID_TOKEN, reason))


def _structure(token: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Steps 1-8 except the kid comparison: returns kid, protected, payload, signature."""
    if len(token) > MAX_TOKEN_BYTES:
        raise _invalid("TOO_LARGE")
    try:
        outer = cbor.decode(token, max_depth=MAX_TOKEN_DEPTH, allow_top_tag=True)
    except cbor.CborError as exc:
        raise _invalid(exc.reason) from None
    if (
        type(outer) is not cbor.Tag
        or outer.number != COSE_SIGN1_TAG
        or type(outer.content) is not list
        or len(outer.content) != 4
    ):
        raise _invalid("NOT_COSE_SIGN1")
    protected, unprotected, payload, signature = outer.content
    if (
        type(protected) is not bytes
        or type(unprotected) is not dict
        or type(payload) is not bytes
        or type(signature) is not bytes
    ):
        raise _invalid("NOT_COSE_SIGN1")
    if unprotected:
        raise _invalid("UNPROTECTED_HEADER_NOT_EMPTY")
    try:
        header = cbor.decode(protected, max_depth=MAX_TOKEN_DEPTH)
    except cbor.CborError:
        raise _invalid("BAD_PROTECTED_HEADER") from None
    if type(header) is not dict or 1 not in header:
        raise _invalid("BAD_PROTECTED_HEADER")
    if type(header[1]) is not int or header[1] != ALG_ED25519:
        raise _invalid("UNSUPPORTED_ALGORITHM")
    kid = header.get(4)
    if set(header) != {1, 4} or type(kid) is not bytes or len(kid) != 32:
        raise _invalid("BAD_PROTECTED_HEADER")
    return kid, protected, payload, signature


class _ClaimsReader:
    """Reads a claims payload that must be exactly ``encode_claims`` of valid claims (§7.3 10).

    Step 10 has one outcome for every way a payload can be wrong (``BAD_CLAIMS``), so rather
    than decoding a generic map and then judging it, the reader walks the only layout a
    valid payload can have: the map head, each key in deterministic order, each value with
    its one allowed type, every head in its shortest form (RFC 8949 §4.2.1), nothing after.
    Any other byte stops it. The fixed parts (keys, the heads of fixed-size byte strings, the
    constant claims) are compared as the exact runs of bytes the encoder writes, so "a
    successful read re-encodes to the same payload" holds by construction; the tests check
    it against ``encode_claims`` and against the reference model's generic decoder.

    Each read method first requires ``run`` (the constant bytes before the value) at the
    current position.
    """

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _after(self, run: bytes) -> int:
        if not self.data.startswith(run, self.pos):
            raise _invalid("BAD_CLAIMS")
        return self.pos + len(run)

    def _argument(self, pos: int, major: int) -> int:
        """The argument of the shortest-form head of type ``major`` at ``pos``; moves past it."""
        data = self.data
        if pos >= len(data) or data[pos] >> 5 != major:
            raise _invalid("BAD_CLAIMS")
        info = data[pos] & 0x1F
        if info < 24:
            self.pos = pos + 1
            return info
        if info > 27:
            raise _invalid("BAD_CLAIMS")
        size = 1 << (info - 24)
        argument = int.from_bytes(data[pos + 1 : pos + 1 + size], "big")
        if pos + 1 + size > len(data) or argument < cbor.SHORTEST_MIN[info]:
            raise _invalid("BAD_CLAIMS")
        self.pos = pos + 1 + size
        return argument

    def item(self, run: bytes, major: int) -> bytes:
        """The content of a byte or text string (``major`` 2 or 3)."""
        size = self._argument(self._after(run), major)
        start = self.pos
        end = start + size
        if end > len(self.data):
            raise _invalid("BAD_CLAIMS")
        self.pos = end
        return self.data[start:end]

    def text(self, run: bytes, pattern: re.Pattern[str]) -> str:
        try:
            value = self.item(run, 3).decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("BAD_CLAIMS") from None
        if not pattern.fullmatch(value):
            raise _invalid("BAD_CLAIMS")
        return value

    def fixed(self, run: bytes, size: int) -> bytes:
        """``size`` raw bytes after ``run`` (which ends with their byte-string head)."""
        start = self._after(run)
        end = start + size
        if end > len(self.data):
            raise _invalid("BAD_CLAIMS")
        self.pos = end
        return self.data[start:end]

    def uint63(self, run: bytes) -> int:
        value = self._argument(self._after(run), 0)
        if value > UINT63_MAX:
            raise _invalid("BAD_CLAIMS")
        return value

    def boolean(self, run: bytes) -> bool:
        pos = self._after(run)
        data = self.data
        if pos >= len(data) or data[pos] not in (0xF4, 0xF5):
            raise _invalid("BAD_CLAIMS")
        self.pos = pos + 1
        return data[pos] == 0xF5

    def null_or_digest(self, run: bytes) -> bytes | None:
        pos = self._after(run)
        if self.data.startswith(_NULL, pos):
            self.pos = pos + 1
            return None
        self.pos = pos
        return self.fixed(_DIGEST_HEAD, 32)

    def null_or_text(self, run: bytes, pattern: re.Pattern[str]) -> str | None:
        pos = self._after(run)
        if self.data.startswith(_NULL, pos):
            self.pos = pos + 1
            return None
        self.pos = pos
        return self.text(b"", pattern)

    def id_list(self, run: bytes, max_items: int) -> tuple[str, ...]:
        """An array of Identifiers in strictly increasing UTF-8 order (§13.4)."""
        count = self._argument(self._after(run), 4)
        if count > max_items:
            raise _invalid("BAD_CLAIMS")
        items = tuple(self.text(b"", _IDENTIFIER) for _ in range(count))
        # str order is code point order, the order of the UTF-8 bytes.
        if any(later <= earlier for earlier, later in itertools.pairwise(items)):
            raise _invalid("BAD_CLAIMS")
        return items

    def end(self) -> None:
        if self.pos != len(self.data):
            raise _invalid("BAD_CLAIMS")


_SENSITIVITY_BY_TEXT = {str(sensitivity): sensitivity for sensitivity in SENSITIVITIES}
_SENSITIVITY_TEXT = re.compile("|".join(_SENSITIVITY_BY_TEXT))
# The constant runs of a claims payload, each ending where a value starts.
_DIGEST_HEAD = cbor.encode_head(2, 32)
_RUN_ISS = _CLAIMS_HEAD + _KEY[ISS]
_RUN_ISS_GOVERNED = _GOVERNED_CLAIMS_HEAD + _KEY[ISS]
_RUN_ISS_SUBLEASE = _SUBLEASE_CLAIMS_HEAD + _KEY[ISS]
_RUN_CTI = _KEY[CTI] + cbor.encode_head(2, LEASE_ID_BYTES)
_RUN_CNF = _KEY[CNF] + _CNF_PREFIX
_RUN_MANIFEST = _KEY[PDA_VERSION] + _VERSION + _KEY[MANIFEST_DIGEST] + _DIGEST_HEAD
_RUN_TRUST = _KEY[TRUST_DIGEST] + _DIGEST_HEAD
_RUN_POLICY = _KEY[POLICY_DIGEST] + _DIGEST_HEAD
_RUN_SCOPE = _KEY[CONSTRAINTS] + _CONSTRAINTS_HEAD + _SCOPE


# The governance claim's map (§13.10): its members in deterministic order (shorter names
# first, then bytewise): role, model, tools, request, approvals, principal, workspace.
_GOVERNANCE_HEAD = cbor.encode_head(5, 7)
_G_ROLE, _G_MODEL, _G_TOOLS, _G_REQUEST, _G_APPROVALS, _G_PRINCIPAL, _G_WORKSPACE = (
    cbor.encode(name)
    for name in ("role", "model", "tools", "request", "approvals", "principal", "workspace")
)


def _governance(reader: _ClaimsReader) -> GovernanceClaim:
    role = reader.text(_KEY[GOVERNANCE] + _GOVERNANCE_HEAD + _G_ROLE, _IDENTIFIER)
    model_id = reader.null_or_text(_G_MODEL, _IDENTIFIER)
    tools = reader.id_list(_G_TOOLS, MAX_REQUEST_TOOLS)
    request_digest = reader.fixed(_G_REQUEST + _DIGEST_HEAD, 32)
    approvals_digest = reader.null_or_digest(_G_APPROVALS)
    principal = reader.fixed(_G_PRINCIPAL + _DIGEST_HEAD, 32)
    workspace = reader.text(_G_WORKSPACE, _IDENTIFIER)
    return GovernanceClaim(
        principal=principal,
        workspace=workspace,
        role=role,
        model=model_id,
        tools=tools,
        request_digest=request_digest,
        approvals_digest=approvals_digest,
    )


# The parent claim's map (§14.8) in deterministic order: tool, calls, lease_id.
_PARENT_HEAD = cbor.encode_head(5, 3)
_P_TOOL, _P_CALLS, _P_LEASE_ID = (cbor.encode(name) for name in ("tool", "calls", "lease_id"))


def _parent(reader: _ClaimsReader) -> ParentClaim:
    tool = reader.text(_KEY[PARENT] + _PARENT_HEAD + _P_TOOL, _IDENTIFIER)
    calls = reader.uint63(_P_CALLS)
    lease_id = reader.fixed(_P_LEASE_ID + cbor.encode_head(2, LEASE_ID_BYTES), LEASE_ID_BYTES)
    if not 1 <= calls <= MAX_SUBLEASE_CALLS:
        raise _invalid("BAD_CLAIMS")
    return ParentClaim(lease_id, tool, calls)


def _claims(payload: bytes) -> LeaseClaims:
    """Step 10: the payload is exactly the claims of §6.3 (and §13.10, §14.8) with their types."""
    reader = _ClaimsReader(payload)
    key = _KEY
    # A governed token's map has one more claim, -65547, which sorts after the others
    # (§13.10); a sub-lease has -65548 after that (§14.8).
    sublease = payload.startswith(_SUBLEASE_CLAIMS_HEAD)
    governed = sublease or payload.startswith(_GOVERNED_CLAIMS_HEAD)
    run_iss = _RUN_ISS_SUBLEASE if sublease else (_RUN_ISS_GOVERNED if governed else _RUN_ISS)
    issuer = reader.text(run_iss, _PRINTABLE)
    task_id = reader.text(key[SUB], _IDENTIFIER)
    lease_id = reader.fixed(_RUN_CTI, LEASE_ID_BYTES)
    holder = reader.fixed(_RUN_CNF, 32)
    manifest_digest = reader.fixed(_RUN_MANIFEST, 32)
    trust_digest = reader.fixed(_RUN_TRUST, 32)
    policy_digest = reader.fixed(_RUN_POLICY, 32)
    clock_epoch = reader.text(key[CLOCK_EPOCH], _EPOCH)
    issued_at_ns = reader.uint63(key[ISSUED_AT_NS])
    expires_at_ns = reader.uint63(key[EXPIRES_AT_NS])
    capability_id = reader.text(key[CAPABILITY_ID], _IDENTIFIER)
    scope = reader.text(_RUN_SCOPE, _PRINTABLE)
    reversible = reader.boolean(_REVERSIBLE)
    sensitivity = _SENSITIVITY_BY_TEXT[reader.text(_SENSITIVITY, _SENSITIVITY_TEXT)]
    hrc_required = reader.boolean(_HRC_REQUIRED)
    hrc_digest = reader.null_or_digest(key[HRC])
    governance = _governance(reader) if governed else None
    parent = _parent(reader) if sublease else None
    reader.end()
    if issued_at_ns >= expires_at_ns:
        raise _invalid("BAD_CLAIMS")
    return LeaseClaims(
        issuer=issuer,
        task_id=task_id,
        lease_id=lease_id,
        holder_public_key=holder,
        manifest_digest=manifest_digest,
        trust_digest=trust_digest,
        policy_digest=policy_digest,
        clock_epoch=clock_epoch,
        issued_at_ns=issued_at_ns,
        expires_at_ns=expires_at_ns,
        capability_id=capability_id,
        constraints=Constraints(
            scope=scope,
            reversible=reversible,
            sensitivity=sensitivity,
            hrc_required=hrc_required,
        ),
        hrc_digest=hrc_digest,
        governance=governance,
        parent=parent,
    )


def decode_unverified(token: bytes) -> DecodedToken:
    """Decode a token for inspection WITHOUT checking its signature or binding.

    Never use the result to authorize anything: use :func:`verify_token`. Raises
    ``InvalidLease`` when the token is not structurally a lease token.
    """
    if type(token) is not bytes:
        raise UsageError("a token is bytes")
    try:
        kid, protected, payload, signature = _structure(token)
        return DecodedToken(kid, _claims(payload), protected, payload, signature)
    except _Refused as refused:
        raise InvalidLease(refused.denial) from None


def _holder_proof_fields() -> tuple[Field, ...]:
    return (
        Field("challenge", model.text(r"(?:[0-9a-f]{2}){16,64}")),
        Field("signature", model.text(HEX64_PATTERN)),
    )


_HOLDER_PROOF_FIELDS = _holder_proof_fields()


def holder_signed_bytes(lease_id: bytes, challenge: bytes) -> bytes:
    """The bytes a holder signs to prove possession (spec §7.2).

    ``det([context, lease_id, challenge])``, written out directly.
    """
    return _HOLDER_PREFIX + cbor.encode_bytes(lease_id) + cbor.encode_bytes(challenge)


def sign_holder_proof(signer: Signer, lease_id: bytes, challenge: bytes) -> dict[str, str]:
    """Build a holder proof document (spec §7.2) for ``lease_id`` over ``challenge``."""
    if type(lease_id) is not bytes or len(lease_id) != LEASE_ID_BYTES:
        raise UsageError("a lease id is 16 bytes")
    if type(challenge) is not bytes or not 16 <= len(challenge) <= 64:
        raise UsageError("a challenge is 16 to 64 bytes")
    signature = signer.sign(holder_signed_bytes(lease_id, challenge))
    return {"challenge": challenge.hex(), "signature": signature.hex()}


def _check_holder_proof(claims: LeaseClaims, holder_proof: object) -> None:
    if holder_proof is None:
        raise _invalid("HOLDER_PROOF_MISSING")
    failure: Failure | None = model.validate(
        holder_proof, model.MANIFEST_LIMITS, _HOLDER_PROOF_FIELDS
    )
    if failure:
        raise _invalid("HOLDER_PROOF_MALFORMED")
    assert isinstance(holder_proof, dict)
    message = holder_signed_bytes(claims.lease_id, bytes.fromhex(holder_proof["challenge"]))
    if not verify_signature(
        claims.holder_public_key, message, bytes.fromhex(holder_proof["signature"])
    ):
        raise _invalid("HOLDER_PROOF_INVALID")


def holder_proof_failure(claims: LeaseClaims, holder_proof: object) -> Deny | None:
    """The §7.2 check of a holder proof for ``claims`` alone: why it fails, or None.

    For operations on a recorded lease other than authorization (release, sub-leases), where
    the token is the manager's own and only possession of the holder key is in question.
    """
    try:
        _check_holder_proof(claims, holder_proof)
    except _Refused as refused:
        return refused.denial
    return None


def time_standing(claims: LeaseClaims, now: MonotonicTime) -> Deny | None:
    """Epoch, then ``issued_at_ns <= now.ns < expires_at_ns`` (§7.3 steps 13-15, §8 1-3)."""
    if claims.clock_epoch != now.epoch:
        return deny(Code.LEASE_EXPIRED, "EPOCH_MISMATCH")
    if now.ns < claims.issued_at_ns:
        return deny(Code.LEASE_EXPIRED, "NOT_YET_VALID")
    if now.ns >= claims.expires_at_ns:
        return deny(Code.LEASE_EXPIRED, "EXPIRED")
    return None


def _check_args(
    issuer_public_key: bytes,
    task_id: str,
    manifest_digest: bytes,
    now: MonotonicTime,
    revoked: Collection[bytes],
) -> None:
    if type(issuer_public_key) is not bytes or len(issuer_public_key) != 32:
        raise UsageError("issuer_public_key is a 32-byte Ed25519 public key")
    if type(task_id) is not str:
        raise UsageError("task_id is a str")
    if type(manifest_digest) is not bytes or len(manifest_digest) != 32:
        raise UsageError("manifest_digest is 32 bytes")
    if not isinstance(now, MonotonicTime):
        raise UsageError("now is a MonotonicTime")
    if not isinstance(revoked, Collection) or isinstance(revoked, (str, bytes, Mapping)):
        raise UsageError("revoked is a collection of 16-byte lease ids")


def _expected_layout(token: bytes, protected: bytes) -> tuple[bytes, bytes] | None:
    """Payload and signature of a token laid out exactly as ``mint`` lays it out, else None.

    Nearly every token a verifier sees is a well-formed one from its own issuer, whose
    envelope is fully known in advance: the tag and array heads, this issuer's protected
    header, an empty map, then a byte-string payload and a 64-byte signature with shortest
    heads, and nothing after. Matching those bytes settles steps 1-8 at once. Anything else
    (another issuer, any encoding defect) goes through the general decoder, which names the
    first violation in the order of spec §2.4 and §7.3.
    """
    prefix = _TOKEN_HEAD + cbor.encode_bytes(protected) + _EMPTY_MAP
    if not token.startswith(prefix):
        return None
    reader = _ClaimsReader(token)
    reader.pos = len(prefix)
    try:
        payload = reader.item(b"", 2)
        signature = reader.item(b"", 2)
        reader.end()
    except _Refused:
        return None
    if len(signature) != SIGNATURE_BYTES:
        return None
    return payload, signature


def _signed_claims(token: bytes, issuer_public_key: bytes) -> LeaseClaims:
    """Steps 1-10 of spec §7.3: structure, kid, the issuer's signature, the claims."""
    if len(token) > MAX_TOKEN_BYTES:
        raise _invalid("TOO_LARGE")
    kid = cose_key_thumbprint(issuer_public_key)
    protected = protected_header(kid)
    layout = _expected_layout(token, protected)
    if layout is not None:
        payload, signature = layout
    else:
        token_kid, protected, payload, signature = _structure(token)
        if token_kid != kid:
            raise _invalid("UNKNOWN_KID")
    if len(signature) != SIGNATURE_BYTES or not verify_signature(
        issuer_public_key, sig_structure(protected, payload), signature
    ):
        raise _invalid("BAD_SIGNATURE")
    return _claims(payload)


def open_token(token: bytes, *, issuer_public_key: bytes) -> LeaseClaims:
    """The issuer-signed claims of a token: spec §7.3 steps 1-10 and nothing after them.

    This is what a generic CWT library's "decode and verify" does: the token is a
    deterministic COSE_Sign1 signed by ``issuer_public_key`` and carrying well-typed lease
    claims. It does NOT bind the token to a task, a manifest, the time, the revocation list
    or its holder, so it never authorizes anything on its own: an executor's gate is
    :func:`verify_token`. Raises ``InvalidLease`` with the reason of the first failed step.
    """
    if type(token) is not bytes:
        raise UsageError("a token is bytes")
    if type(issuer_public_key) is not bytes or len(issuer_public_key) != 32:
        raise UsageError("issuer_public_key is a 32-byte Ed25519 public key")
    try:
        return _signed_claims(token, issuer_public_key)
    except _Refused as refused:
        raise InvalidLease(refused.denial) from None


def verify_token(
    token: bytes,
    *,
    issuer_public_key: bytes,
    task_id: str,
    manifest_digest: bytes,
    now: MonotonicTime,
    holder_proof: object | None,
    revoked: Collection[bytes] = frozenset(),
) -> VerifiedLease:
    """The executor's gate (spec §7.3). Returns the verified lease or raises ``InvalidLease``.

    ``issuer_public_key`` must be a key the caller already trusts. ``holder_proof`` is the
    holder's proof document over a challenge the caller chose; checking that the challenge is
    fresh and unused is the caller's duty (spec §7.2).
    """
    if type(token) is not bytes:
        raise UsageError("a token is bytes")
    _check_args(issuer_public_key, task_id, manifest_digest, now, revoked)
    try:
        claims = _signed_claims(token, issuer_public_key)
        if claims.task_id != task_id:
            raise _invalid("WRONG_TASK")
        if claims.manifest_digest != manifest_digest:
            raise _invalid("WRONG_MANIFEST")
        late = time_standing(claims, now)
        if late:
            raise _Refused(late)
        if claims.lease_id in revoked:
            raise _Refused(deny(Code.LEASE_REVOKED, "REVOKED"))
        _check_holder_proof(claims, holder_proof)
    except _Refused as refused:
        raise InvalidLease(refused.denial) from None
    return VerifiedLease(claims.lease_id, claims, token)
