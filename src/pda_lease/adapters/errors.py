"""The one error the adapters raise: a piece of state could not be read or durably written.

``StateError.reason`` is a closed enum whose members are exactly the ``UNAVAILABLE`` reasons of
the error catalog (spec §5.7), so the manager turns any adapter failure into the catalog's
typed denial with :meth:`StateError.deny`; ``detail`` is for the operator and never decides.
"""

from __future__ import annotations

import enum

from pda_lease.kernel.catalog import Code, Deny, deny
from pda_lease.kernel.errors import ReasonedError


class StateFailure(enum.StrEnum):
    """Which adapter failed (the reasons of ``Code.UNAVAILABLE``)."""

    CLOCK_UNAVAILABLE = "CLOCK_UNAVAILABLE"
    TRUST_UNAVAILABLE = "TRUST_UNAVAILABLE"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    AUDIT_UNAVAILABLE = "AUDIT_UNAVAILABLE"


class StateError(ReasonedError[StateFailure]):
    """The clock, trust source, lease store or audit log could not be used safely."""

    def deny(self) -> Deny:
        return deny(Code.UNAVAILABLE, str(self.reason))
