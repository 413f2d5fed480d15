"""The governed call: acquire, authorize, run, measure and release, in one place.

Why this module exists. The lease manager (spec §12-§14) gives an executor four separate
operations: ``acquire`` reserves quota and signs a lease, ``authorize`` is the gate before the
work, and ``release`` settles what the work really used. Each is easy to call; the sequence is
easy to get wrong: an executor that forgets to release on an exception keeps a reservation in
flight until the lease expires (blocking the pools: concurrency, compute, the day's spend); one
that reuses a holder-proof challenge is refused; one that reports floats, or nothing at all,
settles the wrong amount. ``governed_call`` is that sequence written once, outside the kernel:

1. ``manager.acquire(manifest, hrc_token, request, approvals)``: a ``Deny`` raises
   ``CallDenied`` (carrying the ``Deny``: code, reason, retry) and nothing runs;
2. ``manager.authorize`` with a holder proof over a fresh challenge, bound to the manifest's
   ``task_id`` and the digest the grant was issued for: a refusal (``InvalidLease``) releases
   the lease at zero usage, so its reservation is settled at once, and raises ``CallDenied``;
3. ``fn(meter)``: the work, which records what it really used on the ``Meter``
   (``meter.add(units=..., spend_cents=...)`` or ``meter.record(completion)``);
4. ``manager.release`` with the measured usage and a second fresh holder proof, **always**:
   also when ``fn`` raises, in which case the original exception is re-raised afterwards.

Failure rules (what a demanding caller can rely on):

* ``fn`` raises: the lease is released with the usage recorded so far, then the *same*
  exception object is re-raised by a bare ``raise`` (traceback, ``__cause__`` and
  ``__context__`` untouched). If that release fails too, the release error is attached to the
  original exception as a note (``BaseException.add_note``), never raised in its place.
* ``fn`` returns but the release is refused: ``ReleaseFailed`` is raised, carrying the value,
  the measured usage and the lease id, chained (``__cause__``) from the manager's error. Its
  subclass ``RevokedDuringCall`` is the case of a lease revoked while ``fn`` ran (spec §14.7
  ``ReleaseRejected(REVOKED)``): the revocation is never hidden behind a normal return, because
  whoever revoked the lease wanted the work stopped and the measured usage was **not**
  recorded (a revoked lease is settled at its reservation when it is revoked, §14.6). The
  caller decides whether the value may still be used.

The request is the principal's signed GovernedRequest (§13.4, §14.2): this module never signs
on anyone's behalf; ``holder`` is the signer of the manifest's holder key, used only for the
two holder proofs (§7.2). A deterministic ``FakeModelProvider`` is included for demos and tests:
integer token counts and integer cents, no randomness, no I/O, no floats.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Generic, TypeVar

import attrs

from pda_lease.kernel.catalog import Code, Deny, Retry
from pda_lease.kernel.crypto import Signer
from pda_lease.kernel.errors import InvalidLease, PdaLeaseError, UsageError
from pda_lease.kernel.token import VerifiedLease, sign_holder_proof
from pda_lease.manager import LeaseManager, ReleaseRejected, ReleaseRejection
from pda_lease.release import MAX_USAGE, ReleaseReceipt, Usage

T = TypeVar("T")

CHALLENGE_BYTES = 32


def fresh_challenge() -> bytes:
    """32 bytes from the operating system's CSPRNG: the default holder-proof challenge."""
    return os.urandom(CHALLENGE_BYTES)


# ---------------------------------------------------------------------------------- errors


class CallError(PdaLeaseError):
    """Root of the governed call's own errors."""


class CallDenied(CallError):
    """The call was refused before ``fn`` ran: ``fn`` was never called.

    ``stage`` is ``"acquire"`` (the manager's decision was a ``Deny``) or ``"authorize"``
    (the grant was refused at the gate: the lease was then released at zero usage). ``deny``
    is the refusal, with its ``code``, ``reason`` and (for ``QUOTA_EXCEEDED``) ``retry``.
    ``release_error`` is set when the zero-usage release after a refused authorization failed
    too (for example ``ReleaseRejected(REVOKED)``: the lease was already settled when it was
    revoked; or ``HOLDER_PROOF_INVALID`` when ``holder`` is not the lease's holder key, in
    which case the reservation stays in flight until the lease expires).
    """

    def __init__(
        self,
        deny: Deny,
        *,
        stage: str,
        lease_id: bytes | None = None,
        release_error: Exception | None = None,
    ) -> None:
        super().__init__(f"{stage}: {deny.code}/{deny.reason}: {deny.message}")
        self.deny = deny
        self.stage = stage
        self.lease_id = lease_id
        self.release_error = release_error

    @property
    def code(self) -> Code:
        return self.deny.code

    @property
    def reason(self) -> str:
        return self.deny.reason

    @property
    def retry(self) -> Retry | None:
        return self.deny.retry


class ReleaseFailed(CallError):
    """``fn`` returned, but the lease could not be released (``__cause__`` says why).

    ``value`` is what ``fn`` returned (``None`` in the ``with governed_lease(...)`` form, where
    the value stays in the caller's scope), ``usage`` what the meter measured (not recorded),
    ``reason`` the ``ReleaseRejection`` when the manager refused (``None`` for another error,
    for example an unavailable store).
    """

    def __init__(
        self,
        lease_id: bytes,
        value: object,
        usage: Usage,
        cause: Exception,
    ) -> None:
        super().__init__(f"lease {lease_id.hex()} ran but was not released: {cause}")
        self.lease_id = lease_id
        self.value = value
        self.usage = usage
        self.reason: ReleaseRejection | None = (
            cause.reason if isinstance(cause, ReleaseRejected) else None
        )


class RevokedDuringCall(ReleaseFailed):
    """The lease was revoked while ``fn`` ran (``ReleaseRejected(REVOKED)`` on release).

    The revocation settled the lease at its reservation; the measured ``usage`` was not
    recorded. Raised instead of returning, so the revocation is never silently ignored.
    """


# ---------------------------------------------------------------------------------- meter


def _amount(value: object, name: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_USAGE:
        raise UsageError(f"{name} is an integer in [0, 2^53-1], not {value!r}")
    return value


class Meter:
    """What the governed function really used, in integers: the release settles at this.

    ``add`` refuses floats, bools, negatives and totals above 2^53-1 (``UsageError``) and
    changes nothing then. The meter is closed once the call settles; adding to a closed meter
    is a ``UsageError`` (usage after the release would be recorded nowhere).
    """

    __slots__ = ("_closed", "_spend_cents", "_units", "lease_id")

    def __init__(self, lease_id: bytes) -> None:
        self.lease_id = lease_id
        self._units = 0
        self._spend_cents = 0
        self._closed = False

    def add(self, *, units: int = 0, spend_cents: int = 0) -> None:
        if self._closed:
            raise UsageError("the meter is closed: the lease was already settled")
        total_units = _amount(self._units + _amount(units, "units"), "total units")
        total_spend = _amount(
            self._spend_cents + _amount(spend_cents, "spend_cents"), "total spend_cents"
        )
        self._units, self._spend_cents = total_units, total_spend

    def record(self, completion: Completion) -> Completion:
        """Add a model completion: its tokens as units and its cost as spend; return it."""
        if not isinstance(completion, Completion):
            raise UsageError("record takes a Completion")
        self.add(units=completion.total_tokens, spend_cents=completion.cost_cents)
        return completion

    @property
    def usage(self) -> Usage:
        return Usage(self._units, self._spend_cents)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> Usage:
        self._closed = True
        return self.usage


# ---------------------------------------------------------------------------------- the call


@attrs.frozen
class CallResult(Generic[T]):
    """A settled governed call: ``fn``'s value, the lease, the signed release receipt."""

    value: T
    lease_id: bytes
    receipt: ReleaseReceipt
    usage: Usage


class _Session:
    """One acquired lease, and the rules to settle it exactly once."""

    def __init__(
        self,
        manager: LeaseManager,
        lease_id: bytes,
        holder: Signer,
        challenge: Callable[[], bytes],
    ) -> None:
        self.manager = manager
        self.lease_id = lease_id
        self.holder = holder
        self.challenge = challenge
        self.meter = Meter(lease_id)

    def _release(self) -> ReleaseReceipt:
        usage = self.meter.close()
        proof = sign_holder_proof(self.holder, self.lease_id, self.challenge())
        return self.manager.release(self.lease_id, usage, proof)

    def settle(self, value: object) -> ReleaseReceipt:
        """Release after ``fn`` returned; a refused release raises ``ReleaseFailed``."""
        try:
            return self._release()
        except PdaLeaseError as exc:
            kind = (
                RevokedDuringCall
                if isinstance(exc, ReleaseRejected) and exc.reason is ReleaseRejection.REVOKED
                else ReleaseFailed
            )
            raise kind(self.lease_id, value, self.meter.usage, exc) from exc

    def settle_after_failure(self, failure: BaseException) -> Exception | None:
        """Release after ``failure`` was raised; never raises, notes a failed release.

        The caller re-raises ``failure`` itself (bare ``raise``), so its traceback, cause and
        context are kept; the release error is returned and noted on ``failure``.
        """
        try:
            self._release()
        except Exception as exc:
            failure.add_note(
                f"pda-lease: releasing lease {self.lease_id.hex()} after this error "
                f"failed too: {type(exc).__name__}: {exc}"
            )
            return exc
        return None


def _open(
    manager: LeaseManager,
    *,
    manifest: Mapping[str, object],
    request: object,
    holder: Signer,
    approvals: object | None,
    hrc_token: object | None,
    challenge: Callable[[], bytes],
) -> tuple[_Session, VerifiedLease]:
    """Acquire and authorize; on any failure after the grant, release before raising."""
    if not isinstance(manager, LeaseManager):
        raise UsageError("manager is a LeaseManager")
    if not isinstance(holder, Signer):
        raise UsageError("holder is the Signer of the manifest's holder key")
    if not callable(challenge):
        raise UsageError("challenge is a callable returning 16 to 64 fresh bytes")
    decision = manager.acquire(manifest, hrc_token, request, approvals)
    if isinstance(decision, Deny):
        raise CallDenied(decision, stage="acquire")
    session = _Session(manager, decision.lease_id, holder, challenge)
    try:
        task_id = manifest["task_id"]
        if type(task_id) is not str:  # pragma: no cover - the kernel granted this manifest
            raise UsageError("the manifest's task_id is a str")
        proof = sign_holder_proof(holder, decision.lease_id, challenge())
        verified = manager.authorize(
            decision.token,
            proof,
            task_id=task_id,
            manifest_digest=decision.claims.manifest_digest,
        )
    except InvalidLease as refused:
        release_error = session.settle_after_failure(refused)
        raise CallDenied(
            refused.deny,
            stage="authorize",
            lease_id=decision.lease_id,
            release_error=release_error,
        ) from refused
    except BaseException as failure:
        session.settle_after_failure(failure)
        raise
    return session, verified


def governed_call(
    manager: LeaseManager,
    *,
    manifest: Mapping[str, object],
    request: object,
    holder: Signer,
    fn: Callable[[Meter], T],
    approvals: object | None = None,
    hrc_token: object | None = None,
    challenge: Callable[[], bytes] = fresh_challenge,
) -> CallResult[T]:
    """Run ``fn`` under a lease of ``manager`` and settle exactly what it measured.

    Raises ``CallDenied`` (``fn`` not called) when the lease is denied or its authorization
    refused; re-raises whatever ``fn`` raised, after releasing the lease with the usage
    measured so far; raises ``ReleaseFailed`` / ``RevokedDuringCall`` when ``fn`` returned but
    the release was refused. See the module docstring for the full rules.
    """
    session, _ = _open(
        manager,
        manifest=manifest,
        request=request,
        holder=holder,
        approvals=approvals,
        hrc_token=hrc_token,
        challenge=challenge,
    )
    try:
        value = fn(session.meter)
    except BaseException as failure:
        session.settle_after_failure(failure)
        raise
    receipt = session.settle(value)
    return CallResult(value, session.lease_id, receipt, session.meter.usage)


class GovernedLease:
    """The ``with`` form of ``governed_call``: the block is the work.

    ``__enter__`` acquires and authorizes (``CallDenied`` as for ``governed_call``); the block
    records usage on ``lease.meter``; ``__exit__`` always releases. After a clean exit
    ``receipt`` is the release receipt (a refused release raises ``ReleaseFailed`` /
    ``RevokedDuringCall`` with ``value=None``); when the block raised, the exception propagates
    unchanged, with a note if the release failed too (``release_error`` then holds it).
    """

    def __init__(
        self,
        manager: LeaseManager,
        *,
        manifest: Mapping[str, object],
        request: object,
        holder: Signer,
        approvals: object | None = None,
        hrc_token: object | None = None,
        challenge: Callable[[], bytes] = fresh_challenge,
    ) -> None:
        self._opener: Callable[[], tuple[_Session, VerifiedLease]] = lambda: _open(
            manager,
            manifest=manifest,
            request=request,
            holder=holder,
            approvals=approvals,
            hrc_token=hrc_token,
            challenge=challenge,
        )
        self._session: _Session | None = None
        self._verified: VerifiedLease | None = None
        self.receipt: ReleaseReceipt | None = None
        self.release_error: Exception | None = None

    def _active(self) -> _Session:
        if self._session is None:
            raise UsageError("the governed lease is used only inside its with block")
        return self._session

    @property
    def lease_id(self) -> bytes:
        return self._active().lease_id

    @property
    def meter(self) -> Meter:
        return self._active().meter

    @property
    def verified(self) -> VerifiedLease:
        self._active()
        assert self._verified is not None
        return self._verified

    def __enter__(self) -> GovernedLease:
        if self._session is not None:
            raise UsageError("a GovernedLease is entered once")
        self._session, self._verified = self._opener()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        session = self._active()
        if exc is None:
            self.receipt = session.settle(None)
        else:
            self.release_error = session.settle_after_failure(exc)


def governed_lease(
    manager: LeaseManager,
    *,
    manifest: Mapping[str, object],
    request: object,
    holder: Signer,
    approvals: object | None = None,
    hrc_token: object | None = None,
    challenge: Callable[[], bytes] = fresh_challenge,
) -> GovernedLease:
    """``with governed_lease(manager, ...) as lease: ... lease.meter.add(...)``."""
    return GovernedLease(
        manager,
        manifest=manifest,
        request=request,
        holder=holder,
        approvals=approvals,
        hrc_token=hrc_token,
        challenge=challenge,
    )


# ---------------------------------------------------------------------------------- fake model

MAX_PROMPT_BYTES = 1 << 20
MAX_COMPLETION_TOKENS = 1 << 16
MAX_PRICE_PER_1K_CENTS = 1_000_000
MAX_BYTES_PER_TOKEN = 64
_VOCABULARY = (
    "lease", "grant", "quota", "audit", "trust", "proof", "token", "holder",
    "policy", "release", "pool", "spend", "window", "epoch", "digest", "receipt",
)  # fmt: skip
_DOMAIN = b"pda-lease fake model v1\x00"


class ProviderError(Exception):
    """The fake provider failed on purpose (``fail_on``): a stand-in for a remote error.

    Deliberately not a ``PdaLeaseError``: it plays the part of a foreign library's exception.
    """


@attrs.frozen
class Completion:
    """A model's answer and what it was billed: integer tokens, integer cents."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_cents: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _bounded(value: object, name: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise UsageError(f"{name} is an integer in [{low}, {high}]")
    return value


@attrs.frozen
class FakeModelProvider:
    """A deterministic model provider for demos and tests: no randomness, no I/O, no floats.

    * ``prompt_tokens`` = ceil(UTF-8 bytes of the prompt / ``bytes_per_token``);
    * ``completion_tokens`` is in ``[1, max_tokens]`` (0 when ``max_tokens`` is 0), derived
      from SHA-256 of the model name and the prompt;
    * ``cost_cents`` = ceil((prompt + completion tokens) * ``price_per_1k_tokens_cents`` /
      1000): integer cents, rounded up, so a call is never billed below its price;
    * a prompt containing ``fail_on`` raises ``ProviderError`` (to test release on error).

    Same provider, same prompt, same ``max_tokens``: same ``Completion``, in every process.
    """

    price_per_1k_tokens_cents: int
    bytes_per_token: int = 4
    fail_on: str | None = None
    model: str = "fake-small"

    def __attrs_post_init__(self) -> None:
        _bounded(
            self.price_per_1k_tokens_cents, "price_per_1k_tokens_cents", 0, MAX_PRICE_PER_1K_CENTS
        )
        _bounded(self.bytes_per_token, "bytes_per_token", 1, MAX_BYTES_PER_TOKEN)
        if self.fail_on is not None and (type(self.fail_on) is not str or not self.fail_on):
            raise UsageError("fail_on is None or a non-empty str")
        if type(self.model) is not str or not self.model:
            raise UsageError("model is a non-empty str")

    def tokens_of(self, text: str) -> int:
        """The prompt tokens of ``text``: its UTF-8 length over ``bytes_per_token``, rounded up."""
        if type(text) is not str:
            raise UsageError("text is a str")
        size = len(text.encode("utf-8"))
        if size > MAX_PROMPT_BYTES:
            raise UsageError(f"a prompt is at most {MAX_PROMPT_BYTES} bytes of UTF-8")
        return -(-size // self.bytes_per_token)

    def cost_cents(self, tokens: int) -> int:
        """What ``tokens`` tokens cost, in integer cents rounded up (monotone, never negative)."""
        _bounded(tokens, "tokens", 0, MAX_USAGE)
        return -(-(tokens * self.price_per_1k_tokens_cents) // 1000)

    def complete(self, prompt: str, max_tokens: int) -> Completion:
        prompt_tokens = self.tokens_of(prompt)
        _bounded(max_tokens, "max_tokens", 0, MAX_COMPLETION_TOKENS)
        if self.fail_on is not None and self.fail_on in prompt:
            raise ProviderError(f"the fake provider refuses prompts containing {self.fail_on!r}")
        seed = hashlib.sha256(
            _DOMAIN + self.model.encode("utf-8") + b"\x00" + prompt.encode("utf-8")
        ).digest()
        completion_tokens = (
            0 if max_tokens == 0 else 1 + int.from_bytes(seed[:8], "big") % max_tokens
        )
        words: list[str] = []
        block = 0
        while len(words) < completion_tokens:
            stream = hashlib.sha256(seed + block.to_bytes(4, "big")).digest()
            words.extend(_VOCABULARY[byte % len(_VOCABULARY)] for byte in stream)
            block += 1
        return Completion(
            " ".join(words[:completion_tokens]),
            prompt_tokens,
            completion_tokens,
            self.cost_cents(prompt_tokens + completion_tokens),
        )


__all__ = [
    "CallDenied",
    "CallError",
    "CallResult",
    "Completion",
    "FakeModelProvider",
    "GovernedLease",
    "Meter",
    "ProviderError",
    "ReleaseFailed",
    "RevokedDuringCall",
    "fresh_challenge",
    "governed_call",
    "governed_lease",
]
