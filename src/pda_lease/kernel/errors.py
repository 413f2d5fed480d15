"""The one exception hierarchy of pda-lease.

Domain outcomes (a DENY, an ended lease) are values, never exceptions. Exceptions are for two
things only: an embedder using the API wrongly (``UsageError``, ``PolicyError``) and a lease
token failing verification (``InvalidLease``), which follows the pyca/cryptography rule that a
failed verification raises instead of returning a flag that can be ignored. Everything derives
from ``PdaLeaseError`` so an embedder can catch the library's errors in one place.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from pda_lease.kernel.catalog import Deny


class PdaLeaseError(Exception):
    """Root of every error raised by pda-lease."""


ReasonT = TypeVar("ReasonT", bound=enum.StrEnum)


class ReasonedError(PdaLeaseError, Generic[ReasonT]):
    """A refusal with a closed ``reason`` (what decides) and a ``detail`` (for people).

    The shared shape of the errors that verification and state checks raise outside the
    decision catalog: proofs, notes, receipts and unusable state.
    """

    def __init__(self, reason: ReasonT, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: ReasonT = reason
        self.detail = detail


class UsageError(PdaLeaseError):
    """The embedding program called the API with arguments of the wrong kind.

    This signals a programming error in the caller (for example a ``now`` that is not a
    ``MonotonicTime``), never bad content in an untrusted input: that yields a DENY.
    """


class PolicyError(UsageError):
    """A lease policy (the authority's own configuration) breaks the rules of spec §3.4."""


class InvalidLease(PdaLeaseError):
    """A lease token failed verification (spec §7). ``deny`` says why, with code and reason."""

    def __init__(self, deny: Deny) -> None:
        super().__init__(f"{deny.code}/{deny.reason}: {deny.message}")
        self.deny = deny
