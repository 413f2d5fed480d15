"""pda-lease: decide, prove and revoke time-bound execution authority.

The public API is the pure kernel (see :mod:`pda_lease.kernel` and LEASE_MANAGER_SPEC_v1.0.md):
``Authority.decide`` returns ``Grant | Deny``; ``verify_token`` is the executor's gate;
``standing`` re-judges a lease later. All errors derive from ``PdaLeaseError``.
"""

from pda_lease.kernel import *  # noqa: F403
from pda_lease.kernel import __all__ as __all__

__version__ = "0.1.0"
