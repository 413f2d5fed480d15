"""The decision pipeline (spec §4) and lease standing (spec §8).

``decide`` is the heart of the Lease Manager: a pure, total function from the manifest, the
trust snapshot, the time and an optional HRC token to exactly one of ``Grant`` or ``Deny``. The
steps run in the order of the spec's table and the first failure decides; a ``Grant`` always
carries a complete signed token, a ``Deny`` never does.
"""

from __future__ import annotations

from collections.abc import Collection

import attrs

from pda_lease.kernel.catalog import Code, Deny, deny
from pda_lease.kernel.cbor import encode, encode_bytes, encode_head, encode_text, encode_uint
from pda_lease.kernel.crypto import (
    Signer,
    cose_key_thumbprint,
    is_valid_public_key,
    sha256,
    verify_signature,
)
from pda_lease.kernel.errors import PolicyError, UsageError
from pda_lease.kernel.governance import (
    Admitted,
    GovernanceClaim,
    GovernancePolicy,
    check_approvals,
    check_request,
    governance_claim,
)
from pda_lease.kernel.inputs import (
    UINT63_MAX,
    Constraints,
    HolderKeyMemo,
    HrcToken,
    LeasePolicy,
    MonotonicTime,
    TaskManifest,
    TrustSnapshot,
    hrc_signed_bytes,
    parse_hrc_token,
    parse_manifest,
    parse_trust_snapshot,
)
from pda_lease.kernel.model import Failure
from pda_lease.kernel.pools import Admission, check_pools
from pda_lease.kernel.token import (
    LEASE_ID_BYTES,
    MAX_SUBLEASE_CALLS,
    LeaseClaims,
    ParentClaim,
    mint,
    protected_header,
    time_standing,
)

LEASE_ID_CONTEXT = "PDA-LEASE-ID-v1"
GOVERNED_LEASE_ID_CONTEXT = "PDA-GOV-LEASE-ID-v1"
SUBLEASE_ID_CONTEXT = "PDA-SUBLEASE-ID-v1"
_LEASE_ID_PREFIX = encode_head(4, 8) + encode(LEASE_ID_CONTEXT)
_GOVERNED_LEASE_ID_PREFIX = encode_head(4, 10) + encode(GOVERNED_LEASE_ID_CONTEXT)
_NULL = encode(None)


@attrs.frozen
class Grant:
    """The decision GRANT: a signed lease token and what it says."""

    lease_id: bytes
    token: bytes = attrs.field(repr=False)
    claims: LeaseClaims
    clamped: bool = False  # the expiry was clamped after a spend spike (§14.4)

    @property
    def decision(self) -> str:
        return "GRANT"

    def to_json(self) -> dict[str, object]:
        """The ``expected`` form of a GRANT vector (spec §10, §14.4)."""
        view: dict[str, object] = {
            "decision": "GRANT",
            "lease_id": self.lease_id.hex(),
            "token": self.token.hex(),
            "manifest_digest": self.claims.manifest_digest.hex(),
            "issued_at_ns": self.claims.issued_at_ns,
            "expires_at_ns": self.claims.expires_at_ns,
        }
        if self.clamped:
            view["clamped"] = True
        return view


Decision = Grant | Deny


@attrs.frozen
class Active:
    """Standing of a lease that still holds (spec §8)."""

    lease_id: bytes
    expires_at_ns: int


class Authority:
    """An issuer: an Ed25519 signer bound to the policy it decides under (§3.5).

    The policy is a ``LeasePolicy``, or a ``GovernancePolicy`` (spec §13), which makes the
    authority *governed*: its decisions also need a signed request and, where the policy
    asks for review, approvals; its policy digest is the governance document's.
    """

    __slots__ = ("_governance", "_holder_keys", "_kid", "_policy", "_protected", "_signer")

    def __init__(self, signer: Signer, policy: LeasePolicy | GovernancePolicy) -> None:
        if not isinstance(signer, Signer):
            raise UsageError("signer must provide public_key and sign(message)")
        governance = policy if isinstance(policy, GovernancePolicy) else None
        lease_policy = policy.lease_policy if isinstance(policy, GovernancePolicy) else policy
        if not isinstance(lease_policy, LeasePolicy):
            raise UsageError(
                "policy must be a LeasePolicy or a GovernancePolicy (use their from_json)"
            )
        kid = cose_key_thumbprint(signer.public_key)
        if kid != lease_policy.issuer_kid:
            raise PolicyError("policy issuer_kid is not the thumbprint of the signer's key")
        self._signer = signer
        self._policy = lease_policy
        self._governance = governance
        self._kid = kid
        self._protected = protected_header(kid)
        self._holder_keys = HolderKeyMemo()

    @property
    def policy(self) -> LeasePolicy:
        """The lease rules (durations, thresholds, HRC); inside the governance policy if any."""
        return self._policy

    @property
    def governance(self) -> GovernancePolicy | None:
        return self._governance

    @property
    def policy_digest(self) -> bytes:
        """The digest bound into every token: the governance document's, if governed."""
        governance = self._governance
        return self._policy.digest if governance is None else governance.digest

    @property
    def policy_document(self) -> dict[str, object]:
        """The whole policy document the authority decides under (for audit records)."""
        governance = self._governance
        source = self._policy.document if governance is None else governance.document
        return dict(source)

    @property
    def public_key(self) -> bytes:
        return self._signer.public_key

    @property
    def kid(self) -> bytes:
        return self._kid

    def decide(
        self,
        manifest: object,
        trust_snapshot: object,
        now: MonotonicTime,
        hrc_token: object | None = None,
        request: object | None = None,
        approvals: object | None = None,
        usage: object | None = None,
    ) -> Decision:
        return decide(self, manifest, trust_snapshot, now, hrc_token, request, approvals, usage)

    def __repr__(self) -> str:
        governance = self._governance
        version = "" if governance is None else f", governance_version={governance.version}"
        return f"Authority(kid={self._kid.hex()}, policy_sequence={self._policy.sequence}{version})"


def lease_id_for(
    kid: bytes,
    policy_digest: bytes,
    manifest_digest: bytes,
    trust_digest: bytes,
    hrc_digest: bytes | None,
    now: MonotonicTime,
) -> bytes:
    """Spec §6.4: a lease id is a hash of every decision input.

    The hashed bytes are ``det([context, kid, policy_digest, manifest_digest, trust_digest,
    hrc_digest, epoch, ns])``, written out directly (tests compare it with the general
    encoder).
    """
    material = b"".join(
        (
            _LEASE_ID_PREFIX,
            encode_bytes(kid),
            encode_bytes(policy_digest),
            encode_bytes(manifest_digest),
            encode_bytes(trust_digest),
            _NULL if hrc_digest is None else encode_bytes(hrc_digest),
            encode_text(now.epoch),
            encode_uint(now.ns),
        )
    )
    return sha256(material)[:LEASE_ID_BYTES]


def governed_lease_id_for(
    kid: bytes,
    policy_digest: bytes,
    manifest_digest: bytes,
    trust_digest: bytes,
    hrc_digest: bytes | None,
    governance: GovernanceClaim,
    now: MonotonicTime,
) -> bytes:
    """Spec §13.10: the lease id of a governed grant also hashes the request and approvals."""
    approvals = governance.approvals_digest
    material = b"".join(
        (
            _GOVERNED_LEASE_ID_PREFIX,
            encode_bytes(kid),
            encode_bytes(policy_digest),
            encode_bytes(manifest_digest),
            encode_bytes(trust_digest),
            _NULL if hrc_digest is None else encode_bytes(hrc_digest),
            encode_bytes(governance.request_digest),
            _NULL if approvals is None else encode_bytes(approvals),
            encode_text(now.epoch),
            encode_uint(now.ns),
        )
    )
    return sha256(material)[:LEASE_ID_BYTES]


def _check_window(manifest: TaskManifest, now: MonotonicTime) -> Deny | None:
    window = manifest.window
    if window.epoch != now.epoch:
        return deny(Code.LEASE_EXPIRED, "EPOCH_MISMATCH")
    if now.ns < window.not_before_ns:
        return deny(Code.LEASE_EXPIRED, "WINDOW_NOT_OPEN")
    if now.ns >= window.not_after_ns:
        return deny(Code.LEASE_EXPIRED, "WINDOW_CLOSED")
    return None


def _check_trust(
    snapshot: TrustSnapshot,
    capability_id: str,
    threshold: int,
    code: Code,
    no_score: str,
    below: str,
) -> Deny | None:
    score = snapshot.score_for(capability_id)
    if score is None:
        return deny(code, no_score)
    if score < threshold:
        return deny(code, below)
    return None


def _check_hrc(
    policy: LeasePolicy, manifest: TaskManifest, now: MonotonicTime, document: object | None
) -> HrcToken | Deny:
    """Spec §4.2, steps 1-8."""
    if document is None:
        return deny(Code.HRC_REQUIRED, "HRC_MISSING")
    parsed = parse_hrc_token(document)
    if isinstance(parsed, Failure):
        return deny(Code.HRC_REQUIRED, "HRC_MALFORMED", parsed.path)
    key = policy.hrc_keys.get(parsed.key_id)
    if key is None:
        return deny(Code.HRC_REQUIRED, "HRC_UNKNOWN_KEY")
    signed = hrc_signed_bytes(parsed.manifest_digest, parsed.confirmed_at)
    if not verify_signature(key, signed, parsed.signature):
        return deny(Code.HRC_REQUIRED, "HRC_BAD_SIGNATURE")
    if parsed.manifest_digest != manifest.digest:
        return deny(Code.HRC_REQUIRED, "HRC_WRONG_MANIFEST")
    if parsed.confirmed_at.epoch != now.epoch:
        return deny(Code.HRC_REQUIRED, "HRC_EPOCH_MISMATCH")
    age = now.ns - parsed.confirmed_at.ns
    if age < 0:
        return deny(Code.HRC_REQUIRED, "HRC_FROM_FUTURE")
    if age >= policy.hrc_max_age_ns:
        return deny(Code.HRC_REQUIRED, "HRC_TOO_OLD")
    return parsed


def _effective(constraints: Constraints, hrc_required: bool) -> Constraints:
    """The manifest's constraints with the effective HRC requirement (§3.4)."""
    if constraints.hrc_required is hrc_required:
        return constraints
    return Constraints(
        constraints.scope, constraints.reversible, constraints.sensitivity, hrc_required
    )


def decide(
    authority: Authority,
    manifest: object,
    trust_snapshot: object,
    now: MonotonicTime,
    hrc_token: object | None = None,
    request: object | None = None,
    approvals: object | None = None,
    usage: object | None = None,
) -> Decision:
    """Spec §4: GRANT with a signed token, or DENY with code and reason. Pure and total.

    ``manifest``, ``trust_snapshot``, ``hrc_token``, ``request``, ``approvals`` and ``usage``
    are untrusted JSON-model documents (a ``TrustSnapshot`` already parsed is accepted too);
    whatever they hold, the answer is a ``Grant`` or a ``Deny``. ``authority`` and ``now`` are
    the embedder's own values; passing something else raises ``UsageError``. ``request`` and
    ``approvals`` are read only by a governed authority (spec §13.6), ``usage`` only by one
    whose policy has pools (§14.4); others ignore them.
    """
    if not isinstance(authority, Authority):
        raise UsageError("authority must be an Authority")
    if not isinstance(now, MonotonicTime):
        raise UsageError("now must be a MonotonicTime")
    policy = authority.policy

    # Step 1: structure.
    parsed = parse_manifest(manifest, authority._holder_keys)
    if isinstance(parsed, Failure):
        return deny(Code.INVALID_MANIFEST, parsed.reason, parsed.path)

    # Step G (governed only, §13.7): who asks, for what.
    governance = authority._governance
    admitted: Admitted | None = None
    if governance is not None:
        checked = check_request(governance, parsed, now, request)
        if isinstance(checked, Deny):
            return checked
        admitted = checked

    # Step 2: the execution window, in this clock epoch.
    late = _check_window(parsed, now)
    if late:
        return late

    # Step 3: trust, judged by the capability's score against the policy threshold.
    snapshot = parse_trust_snapshot(trust_snapshot)
    if isinstance(snapshot, Failure):
        return deny(Code.INSUFFICIENT_TRUST, "SNAPSHOT_INVALID", snapshot.path)
    sensitivity = parsed.constraints.sensitivity
    untrusted = _check_trust(
        snapshot,
        parsed.capability_id,
        policy.trust_threshold[sensitivity],
        Code.INSUFFICIENT_TRUST,
        "NO_SCORE",
        "BELOW_THRESHOLD",
    )
    if untrusted:
        return untrusted

    # Step P (governed with pools only, §14.4): admission against what is in flight and spent.
    admission: Admission | None = None
    if admitted is not None and admitted.policy.pools is not None:
        asked = admitted.request
        checked_pools = check_pools(
            admitted.policy.pools, asked.principal, asked.workspace, asked.demand, now, usage
        )
        if isinstance(checked_pools, Deny):
            return checked_pools
        admission = checked_pools

    # Step A (governed only, §13.8): reviewer approvals, when the request needs review.
    claim: GovernanceClaim | None = None
    if admitted is not None:
        approvals_digest = check_approvals(
            admitted.policy, parsed, now, admitted.requirements, approvals
        )
        if isinstance(approvals_digest, Deny):
            return approvals_digest
        claim = governance_claim(admitted, approvals_digest)

    # Step 4: hardware-rooted confirmation, when the policy or the manifest requires it.
    hrc_required = policy.hrc_required(parsed.constraints)
    hrc_digest: bytes | None = None
    if hrc_required:
        confirmation = _check_hrc(policy, parsed, now, hrc_token)
        if isinstance(confirmation, Deny):
            return confirmation
        hrc_digest = confirmation.digest

    # Step 5: grant. The lease never outlives its window (spec §4).
    expires_at_ns = min(now.ns + policy.lease_duration_ns[sensitivity], parsed.window.not_after_ns)
    clamp_until_ns = None if admission is None else admission.clamp_until_ns
    if clamp_until_ns is not None:
        expires_at_ns = min(expires_at_ns, clamp_until_ns)
    policy_digest = authority.policy_digest
    if claim is None:
        lease_id = lease_id_for(
            authority.kid, policy_digest, parsed.digest, snapshot.digest, hrc_digest, now
        )
    else:
        lease_id = governed_lease_id_for(
            authority.kid, policy_digest, parsed.digest, snapshot.digest, hrc_digest, claim, now
        )
    claims = LeaseClaims(
        issuer=policy.issuer,
        task_id=parsed.task_id,
        lease_id=lease_id,
        holder_public_key=parsed.holder_public_key,
        manifest_digest=parsed.digest,
        trust_digest=snapshot.digest,
        policy_digest=policy_digest,
        clock_epoch=now.epoch,
        issued_at_ns=now.ns,
        expires_at_ns=expires_at_ns,
        capability_id=parsed.capability_id,
        constraints=_effective(parsed.constraints, hrc_required),
        hrc_digest=hrc_digest,
        governance=claim,
    )
    token = mint(authority._signer, claims, protected=authority._protected)
    return Grant(lease_id, token, claims, clamped=clamp_until_ns is not None)


def sublease_id_for(
    parent_lease_id: bytes,
    tool: str,
    calls: int,
    ttl_ns: int,
    holder_public_key: bytes,
    now: MonotonicTime,
) -> bytes:
    """Spec §14.8: the lease id of a sub-lease (every argument of ``derive`` is in it)."""
    material = encode(
        [
            SUBLEASE_ID_CONTEXT,
            parent_lease_id,
            tool,
            calls,
            ttl_ns,
            holder_public_key,
            now.epoch,
            now.ns,
        ]
    )
    return sha256(material)[:LEASE_ID_BYTES]


def derive(
    authority: Authority,
    parent: LeaseClaims,
    now: MonotonicTime,
    tool: object,
    calls: object,
    ttl_ns: object,
    holder_public_key: object,
) -> Decision:
    """Spec §14.8: an attenuated sub-lease of ``parent`` for one tool, or why not. Pure.

    ``parent`` must be claims the caller verified (``verify_token``/``open_token``); the
    other arguments are untrusted and judged, first failure deciding. The child is the parent
    narrowed: one tool, at most ``calls`` authorizations (counted by the manager), an expiry
    no later than the parent's, and the ``parent`` claim that chains it to the parent's id.
    """
    if not isinstance(authority, Authority):
        raise UsageError("authority must be an Authority")
    if not isinstance(parent, LeaseClaims):
        raise UsageError("parent must be LeaseClaims (from a verified token)")
    if not isinstance(now, MonotonicTime):
        raise UsageError("now must be a MonotonicTime")
    if parent.issuer != authority.policy.issuer:
        raise UsageError("parent was not issued by this authority")
    governance = parent.governance
    if governance is None:
        return deny(Code.SUBLEASE_DENIED, "PARENT_NOT_GOVERNED")
    if parent.parent is not None:
        return deny(Code.SUBLEASE_DENIED, "PARENT_IS_SUBLEASE")
    late = time_standing(parent, now)
    if late:
        return late
    if type(tool) is not str or tool not in governance.tools:
        return deny(Code.SUBLEASE_DENIED, "TOOL_NOT_IN_PARENT")
    if type(calls) is not int or not 1 <= calls <= MAX_SUBLEASE_CALLS:
        return deny(Code.SUBLEASE_DENIED, "BAD_CALLS")
    if type(ttl_ns) is not int or not 1 <= ttl_ns <= UINT63_MAX:
        return deny(Code.SUBLEASE_DENIED, "BAD_TTL")
    if (
        type(holder_public_key) is not bytes
        or len(holder_public_key) != 32
        or not is_valid_public_key(holder_public_key)
    ):
        return deny(Code.SUBLEASE_DENIED, "BAD_HOLDER_KEY")
    lease_id = sublease_id_for(parent.lease_id, tool, calls, ttl_ns, holder_public_key, now)
    claims = attrs.evolve(
        parent,
        lease_id=lease_id,
        holder_public_key=holder_public_key,
        issued_at_ns=now.ns,
        expires_at_ns=min(parent.expires_at_ns, now.ns + ttl_ns),
        governance=attrs.evolve(governance, tools=(tool,)),
        parent=ParentClaim(parent.lease_id, tool, calls),
    )
    token = mint(authority._signer, claims, protected=authority._protected)
    return Grant(lease_id, token, claims)


def standing(
    claims: LeaseClaims,
    now: MonotonicTime,
    trust_snapshot: object,
    policy: LeasePolicy | GovernancePolicy,
    revoked: Collection[bytes] = frozenset(),
) -> Active | Deny:
    """Spec §8: does a granted lease still stand? Expiry, revocation, policy, trust decay.

    Under a ``GovernancePolicy`` the policy digest compared is the governance document's and
    the thresholds are its lease policy's (§13.1).
    """
    if not isinstance(claims, LeaseClaims):
        raise UsageError("claims must be LeaseClaims (from a Grant or a verified token)")
    if not isinstance(now, MonotonicTime):
        raise UsageError("now must be a MonotonicTime")
    policy_digest = policy.digest
    if isinstance(policy, GovernancePolicy):
        policy = policy.lease_policy
    if not isinstance(policy, LeasePolicy):
        raise UsageError("policy must be a LeasePolicy or a GovernancePolicy")
    late = time_standing(claims, now)
    if late:
        return late
    if claims.lease_id in revoked:
        return deny(Code.LEASE_REVOKED, "REVOKED")
    if claims.policy_digest != policy_digest:
        return deny(Code.LEASE_REVOKED, "POLICY_CHANGED")
    snapshot = parse_trust_snapshot(trust_snapshot)
    if isinstance(snapshot, Failure):
        return deny(Code.LEASE_REVOKED, "TRUST_SNAPSHOT_INVALID", snapshot.path)
    threshold = policy.trust_threshold[claims.constraints.sensitivity]
    decayed = _check_trust(
        snapshot,
        claims.capability_id,
        threshold,
        Code.LEASE_REVOKED,
        "TRUST_DECAYED",
        "TRUST_DECAYED",
    )
    return decayed or Active(claims.lease_id, claims.expires_at_ns)


def sign_hrc(
    signer: Signer, manifest_digest: bytes, confirmed_at: MonotonicTime
) -> dict[str, object]:
    """Build an HRC token document (spec §3.3), as a registered HRC device would."""
    if type(manifest_digest) is not bytes or len(manifest_digest) != 32:
        raise UsageError("manifest_digest is 32 bytes")
    if not isinstance(confirmed_at, MonotonicTime):
        raise UsageError("confirmed_at is a MonotonicTime")
    signature = signer.sign(hrc_signed_bytes(manifest_digest, confirmed_at))
    return {
        "hrc_version": 1,
        "key_id": cose_key_thumbprint(signer.public_key).hex(),
        "manifest_digest": manifest_digest.hex(),
        "confirmed_at": confirmed_at.to_json(),
        "signature": signature.hex(),
    }
