"""The pure decision kernel of pda-lease (sans-I/O, like h11's state machine).

Everything that affects a lease decision lives in this package, and only here: input parsing,
the decision pipeline, the token format, verification and standing. What may live here:
functions of their arguments over frozen values. What may not: I/O of any kind, clocks,
randomness, logging, threads, mutable globals, or imports of the adapters, the manager or the
CLI. Time, keys and state arrive as arguments. The import contract in ``pyproject.toml`` (run by
``make test``) enforces the import rule; the determinism tests enforce the rest.
"""

from pda_lease.kernel.catalog import CATALOG, Code, Deny, Retry
from pda_lease.kernel.crypto import Ed25519Signer, Signer, cose_key_thumbprint
from pda_lease.kernel.decide import (
    Active,
    Authority,
    Decision,
    Grant,
    decide,
    derive,
    sign_hrc,
    standing,
)
from pda_lease.kernel.errors import InvalidLease, PdaLeaseError, PolicyError, UsageError
from pda_lease.kernel.inputs import (
    Constraints,
    ExecutionWindow,
    HrcToken,
    LeasePolicy,
    MonotonicTime,
    Sensitivity,
    TaskManifest,
    TrustSnapshot,
    json_digest,
    parse_manifest,
    parse_trust_snapshot,
)
from pda_lease.kernel.pools import Demand
from pda_lease.kernel.token import (
    DecodedToken,
    LeaseClaims,
    ParentClaim,
    VerifiedLease,
    decode_unverified,
    open_token,
    sign_holder_proof,
    verify_token,
)

__all__ = [
    "CATALOG",
    "Active",
    "Authority",
    "Code",
    "Constraints",
    "Decision",
    "DecodedToken",
    "Demand",
    "Deny",
    "Ed25519Signer",
    "ExecutionWindow",
    "Grant",
    "HrcToken",
    "InvalidLease",
    "LeaseClaims",
    "LeasePolicy",
    "MonotonicTime",
    "ParentClaim",
    "PdaLeaseError",
    "PolicyError",
    "Retry",
    "Sensitivity",
    "Signer",
    "TaskManifest",
    "TrustSnapshot",
    "UsageError",
    "VerifiedLease",
    "cose_key_thumbprint",
    "decide",
    "decode_unverified",
    "derive",
    "json_digest",
    "open_token",
    "parse_manifest",
    "parse_trust_snapshot",
    "sign_holder_proof",
    "sign_hrc",
    "standing",
    "verify_token",
]
