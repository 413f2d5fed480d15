"""The governed call (pda_lease.sdk) against a real pooled LeaseManager.

Every path is checked through what the manager durably recorded (the pools and the audit
log), not only through what ``governed_call`` returns: a call that succeeds settles the
measured usage under a receipt that verifies; a function that raises is still released and its
exception re-raised unchanged; a denial runs nothing; a revocation during the call is never
hidden.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pda_lease import conformance as cv
from pda_lease.adapters import FakeCalendar, FakeClock, MemoryTrustSource
from pda_lease.kernel.catalog import Code, Retry
from pda_lease.kernel.errors import UsageError
from pda_lease.kernel.governance import GovernancePolicy
from pda_lease.kernel.inputs import TrustSnapshot, parse_trust_snapshot
from pda_lease.manager import LeaseManager, ReleaseRejected, ReleaseRejection
from pda_lease.release import MAX_USAGE, Usage, verify_release_receipt
from pda_lease.sdk import (
    CallDenied,
    CallResult,
    Completion,
    FakeModelProvider,
    Meter,
    ProviderError,
    ReleaseFailed,
    RevokedDuringCall,
    fresh_challenge,
    governed_call,
    governed_lease,
)

DEMAND = {"units": 100, "context_tokens": 10, "compute": 1, "spend_cents": 50}


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path
        self.clock = FakeClock(cv.EPOCH, 100 * cv.SECOND)
        self.trust = MemoryTrustSource(cv.base_snapshot(9500))
        self.manager = LeaseManager.open(
            tmp_path,
            signer=cv.ISSUER,
            policy=GovernancePolicy.from_json(cv.pools_policy()),
            clock=self.clock,
            trust_source=self.trust,
            calendar=FakeCalendar(),
        )

    def task(
        self, task_id: str = "task-2026-0001", demand: dict[str, int] | None = None
    ) -> tuple[dict[str, Any], dict[str, object]]:
        manifest = cv.base_manifest()
        manifest["task_id"] = task_id
        request = cv.request_for(manifest, demand=demand or DEMAND, at_ns=self.clock.now().ns)
        return manifest, request

    def audit(self) -> list[dict[str, Any]]:
        lines = (self.path / "audit.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [entry for entry in self.audit() if entry["event"] == event]

    def in_flight(self) -> list[int]:
        scopes = self.manager.pools().to_json()["scopes"]
        assert isinstance(scopes, list)
        return [scope["pools"]["concurrency"]["used"] for scope in scopes]

    def spent(self) -> int:
        scopes = self.manager.pools().to_json()["scopes"]
        assert isinstance(scopes, list)
        used = scopes[0]["pools"]["spend_cents"]["used"]
        assert isinstance(used, int)
        return used


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Setup]:
    setup = Setup(tmp_path)
    yield setup
    setup.manager.close()


PROVIDER = FakeModelProvider(price_per_1k_tokens_cents=30)
PROMPT = "Summarise the lease manager's release rules."


# ---------------------------------------------------------------------------------- success


def test_success_returns_value_and_a_verifying_receipt_at_the_measured_usage(env: Setup) -> None:
    manifest, request = env.task()
    result = governed_call(
        env.manager,
        manifest=manifest,
        request=request,
        holder=cv.HOLDER,
        fn=lambda meter: meter.record(PROVIDER.complete(PROMPT, 32)),
    )
    assert isinstance(result, CallResult)
    expected = PROVIDER.complete(PROMPT, 32)
    assert result.value == expected
    measured = Usage(expected.total_tokens, expected.cost_cents)
    assert result.usage == measured
    assert result.receipt.lease_id == result.lease_id
    verified = verify_release_receipt(result.receipt.to_json(), env.manager.log_verifier())
    assert verified.receipt.settled == measured
    assert verified.receipt.reserved == Usage(DEMAND["units"], DEMAND["spend_cents"])
    assert verified.receipt.overrun is False
    assert env.in_flight() == [0, 0, 0]
    assert env.spent() == expected.cost_cents
    (release,) = env.events("release")
    assert release["usage"] == measured.to_json()
    # two holder proofs, two distinct challenges: one authorization, one release
    (authorization,) = env.events("authorization")
    assert authorization["outcome"] == {"result": "ALLOW"}
    assert (
        authorization["holder_proof"]["json"]["challenge"]
        != release["holder_proof"]["json"]["challenge"]
    )


def test_overrun_is_settled_as_measured_never_capped(env: Setup) -> None:
    manifest, request = env.task()
    result = governed_call(
        env.manager,
        manifest=manifest,
        request=request,
        holder=cv.HOLDER,
        fn=lambda meter: meter.add(units=150, spend_cents=80),
    )
    assert result.value is None
    assert result.receipt.settled == Usage(150, 80)
    assert result.receipt.overrun is True
    assert env.spent() == 80


# ---------------------------------------------------------------------------------- fn raises


def test_fn_raising_releases_and_reraises_the_same_exception(env: Setup) -> None:
    manifest, request = env.task()
    failing = FakeModelProvider(price_per_1k_tokens_cents=30, fail_on="secret")
    seen: list[Meter] = []

    def work(meter: Meter) -> Completion:
        seen.append(meter)
        meter.record(PROVIDER.complete(PROMPT, 8))  # a first call succeeded
        try:
            raise KeyError("missing")
        except KeyError:
            return failing.complete("tell me the secret", 8)  # raises, context = KeyError
        raise AssertionError("unreachable")  # pragma: no cover

    with pytest.raises(ProviderError) as caught:
        governed_call(env.manager, manifest=manifest, request=request, holder=cv.HOLDER, fn=work)
    assert isinstance(caught.value.__context__, KeyError)
    assert not getattr(caught.value, "__notes__", [])
    first = PROVIDER.complete(PROMPT, 8)
    (release,) = env.events("release")
    assert release["usage"] == {"units": first.total_tokens, "spend_cents": first.cost_cents}
    assert env.in_flight() == [0, 0, 0]
    (settlement,) = env.events("settlement")
    assert settlement["why"] == "RELEASED"
    assert seen[0].closed
    with pytest.raises(UsageError):
        seen[0].add(units=1)


def test_the_very_exception_object_is_reraised(env: Setup) -> None:
    manifest, request = env.task()
    boom = RuntimeError("boom")

    def work(meter: Meter) -> None:
        meter.add(units=3, spend_cents=1)
        raise boom

    with pytest.raises(RuntimeError) as caught:
        governed_call(env.manager, manifest=manifest, request=request, holder=cv.HOLDER, fn=work)
    assert caught.value is boom
    assert env.events("release")[0]["usage"] == {"units": 3, "spend_cents": 1}


def test_release_failure_while_fn_raised_is_a_note_and_the_original_wins(env: Setup) -> None:
    manifest, request = env.task()
    boom = RuntimeError("boom")

    def work(meter: Meter) -> None:
        env.manager.revoke(meter.lease_id, "operator stop")
        raise boom

    with pytest.raises(RuntimeError) as caught:
        governed_call(env.manager, manifest=manifest, request=request, holder=cv.HOLDER, fn=work)
    assert caught.value is boom
    (note,) = caught.value.__notes__
    assert "ReleaseRejected" in note and "REVOKED" in note
    assert env.events("release") == []
    assert env.in_flight() == [0, 0, 0]


def test_a_bad_meter_value_inside_fn_is_a_usage_error_and_still_releases(env: Setup) -> None:
    manifest, request = env.task()

    def work(meter: Meter) -> None:
        meter.add(units=5)
        meter.add(spend_cents=0.5)  # type: ignore[arg-type]

    with pytest.raises(UsageError):
        governed_call(env.manager, manifest=manifest, request=request, holder=cv.HOLDER, fn=work)
    assert env.events("release")[0]["usage"] == {"units": 5, "spend_cents": 0}
    assert env.in_flight() == [0, 0, 0]


# ---------------------------------------------------------------------------------- denials


def _never(meter: Meter) -> None:
    raise AssertionError("fn must not run")


def test_concurrency_denial_runs_nothing_and_carries_the_retry(env: Setup) -> None:
    held = []
    for index in (1, 2):  # the research workspace allows two leases in flight
        manifest, request = env.task(f"task-held-{index}")
        held.append(env.manager.acquire(manifest, None, request, None))
    manifest, request = env.task("task-third")
    calls: list[Meter] = []
    with pytest.raises(CallDenied) as caught:
        governed_call(
            env.manager, manifest=manifest, request=request, holder=cv.HOLDER, fn=calls.append
        )
    assert calls == []
    denied = caught.value
    assert denied.stage == "acquire" and denied.lease_id is None
    assert denied.code is Code.QUOTA_EXCEEDED
    assert denied.reason == "CONCURRENCY_EXCEEDED"
    assert denied.deny.field == "pools.workspaces.research.concurrency"
    first_expiry = min(grant.claims.expires_at_ns for grant in held)  # type: ignore[union-attr]
    assert denied.retry == Retry(epoch=cv.EPOCH, ns=first_expiry)
    assert env.events("authorization") == [] and env.events("release") == []
    assert env.in_flight() == [2, 2, 2]


def test_context_too_large_runs_nothing(env: Setup) -> None:
    manifest, request = env.task(demand={**DEMAND, "context_tokens": 9000})
    with pytest.raises(CallDenied) as caught:
        governed_call(env.manager, manifest=manifest, request=request, holder=cv.HOLDER, fn=_never)
    assert caught.value.reason == "CONTEXT_TOO_LARGE"
    assert caught.value.retry is None
    assert env.in_flight() == [0, 0, 0]


def test_concurrency_zero_policy_runs_nothing(tmp_path: Path) -> None:
    document = cv.pools_policy()
    document["pools"]["org"]["concurrency"] = 0
    clock = FakeClock(cv.EPOCH, 100 * cv.SECOND)
    with LeaseManager.open(
        tmp_path,
        signer=cv.ISSUER,
        policy=GovernancePolicy.from_json(document),
        clock=clock,
        trust_source=MemoryTrustSource(cv.base_snapshot(9500)),
        calendar=FakeCalendar(),
    ) as manager:
        manifest = cv.base_manifest()
        request = cv.request_for(manifest, demand=DEMAND, at_ns=clock.now().ns)
        with pytest.raises(CallDenied) as caught:
            governed_call(manager, manifest=manifest, request=request, holder=cv.HOLDER, fn=_never)
    assert caught.value.reason == "CONCURRENCY_EXCEEDED"
    assert caught.value.retry is None  # no time can help: 1 > 0


def _decayed() -> TrustSnapshot:
    parsed = parse_trust_snapshot(cv.base_snapshot(1000))
    assert isinstance(parsed, TrustSnapshot)
    return parsed


def test_refused_authorization_releases_the_reservation_and_runs_nothing(env: Setup) -> None:
    manifest, request = env.task()
    challenges = 0

    def challenge() -> bytes:
        # The first challenge is drawn just before authorize: trust decays in between.
        nonlocal challenges
        challenges += 1
        if challenges == 1:
            env.trust.publish(_decayed())
        return fresh_challenge()

    with pytest.raises(CallDenied) as caught:
        governed_call(
            env.manager,
            manifest=manifest,
            request=request,
            holder=cv.HOLDER,
            fn=_never,
            challenge=challenge,
        )
    denied = caught.value
    assert denied.stage == "authorize"
    assert (denied.code, denied.reason) == (Code.LEASE_REVOKED, "TRUST_DECAYED")
    assert denied.lease_id is not None and denied.release_error is None
    assert denied.__cause__ is not None
    (release,) = env.events("release")
    assert release["usage"] == {"units": 0, "spend_cents": 0}
    assert env.in_flight() == [0, 0, 0]
    assert env.spent() == 0


def test_wrong_holder_is_refused_and_the_failed_release_is_reported(env: Setup) -> None:
    manifest, request = env.task()
    with pytest.raises(CallDenied) as caught:
        governed_call(
            env.manager, manifest=manifest, request=request, holder=cv.OTHER_HOLDER, fn=_never
        )
    denied = caught.value
    assert (denied.code, denied.reason) == (Code.INVALID_TOKEN, "HOLDER_PROOF_INVALID")
    assert isinstance(denied.release_error, ReleaseRejected)
    assert denied.release_error.reason is ReleaseRejection.HOLDER_PROOF_INVALID
    assert any("HOLDER_PROOF_INVALID" in note for note in denied.__cause__.__notes__)  # type: ignore[union-attr]
    # only the holder can release: the reservation stays until the lease expires
    assert env.in_flight() == [1, 1, 1]


# ---------------------------------------------------------------------------------- revocation


def test_revocation_during_the_call_is_raised_not_hidden(env: Setup) -> None:
    manifest, request = env.task()

    def work(meter: Meter) -> str:
        meter.add(units=7, spend_cents=2)
        env.manager.revoke(meter.lease_id, "operator stop")
        return "answer"

    with pytest.raises(RevokedDuringCall) as caught:
        governed_call(env.manager, manifest=manifest, request=request, holder=cv.HOLDER, fn=work)
    revoked = caught.value
    assert isinstance(revoked, ReleaseFailed)
    assert revoked.reason is ReleaseRejection.REVOKED
    assert revoked.value == "answer"
    assert revoked.usage == Usage(7, 2)
    assert isinstance(revoked.__cause__, ReleaseRejected)
    assert revoked.__cause__.reason is ReleaseRejection.REVOKED
    # settled at its reservation by the revocation; the measured usage was not recorded
    assert env.events("release") == []
    (settlement,) = env.events("settlement")
    assert settlement["why"] == "REVOKED"
    assert settlement["settled"] == {"units": 100, "spend_cents": 50}
    assert env.in_flight() == [0, 0, 0]


def test_expiry_during_the_call_is_a_release_failure(env: Setup) -> None:
    manifest, request = env.task()

    def work(meter: Meter) -> int:
        env.clock.advance(3600 * cv.SECOND)
        return 42

    with pytest.raises(ReleaseFailed) as caught:
        governed_call(env.manager, manifest=manifest, request=request, holder=cv.HOLDER, fn=work)
    assert not isinstance(caught.value, RevokedDuringCall)
    assert caught.value.reason is ReleaseRejection.EXPIRED
    assert caught.value.value == 42


# ---------------------------------------------------------------------------------- with form


def test_with_form_releases_on_exit_and_on_error(env: Setup) -> None:
    manifest, request = env.task("task-with-1")
    with governed_lease(env.manager, manifest=manifest, request=request, holder=cv.HOLDER) as lease:
        assert lease.verified.lease_id == lease.lease_id
        lease.meter.add(units=4, spend_cents=2)
    assert lease.receipt is not None
    verify_release_receipt(lease.receipt.to_json(), env.manager.log_verifier())
    assert lease.receipt.settled == Usage(4, 2)

    manifest, request = env.task("task-with-2")
    boom = ValueError("boom")
    with (
        pytest.raises(ValueError) as caught,
        governed_lease(env.manager, manifest=manifest, request=request, holder=cv.HOLDER) as other,
    ):
        other.meter.add(units=1)
        raise boom
    assert caught.value is boom
    assert other.receipt is None and other.release_error is None
    assert [entry["usage"] for entry in env.events("release")] == [
        {"units": 4, "spend_cents": 2},
        {"units": 1, "spend_cents": 0},
    ]
    assert env.in_flight() == [0, 0, 0]
    assert other.meter.closed and other.meter.usage == Usage(1, 0)
    with pytest.raises(UsageError):
        other.meter.add(units=1)  # usage after the release would be recorded nowhere
    with pytest.raises(UsageError):
        _ = governed_lease(
            env.manager, manifest=manifest, request=request, holder=cv.HOLDER
        ).meter  # not entered


# ---------------------------------------------------------------------------------- meter


@pytest.mark.parametrize(
    "kwargs",
    [
        {"units": 1.0},
        {"spend_cents": 0.5},
        {"units": True},
        {"spend_cents": False},
        {"units": -1},
        {"spend_cents": -5},
        {"units": "3"},
        {"units": MAX_USAGE + 1},
    ],
)
def test_meter_refuses_bad_values_and_changes_nothing(kwargs: dict[str, object]) -> None:
    meter = Meter(bytes(16))
    meter.add(units=2, spend_cents=1)
    with pytest.raises(UsageError):
        meter.add(**kwargs)  # type: ignore[arg-type]
    assert meter.usage == Usage(2, 1)


def test_meter_bounds_the_total_and_closes() -> None:
    meter = Meter(bytes(16))
    meter.add(units=MAX_USAGE)
    with pytest.raises(UsageError):
        meter.add(units=1, spend_cents=1)
    assert meter.usage == Usage(MAX_USAGE, 0)
    with pytest.raises(UsageError):
        meter.record("not a completion")  # type: ignore[arg-type]
    assert meter.close() == Usage(MAX_USAGE, 0)
    with pytest.raises(UsageError):
        meter.add()


# ---------------------------------------------------------------------------------- provider


def test_provider_is_deterministic_and_integer() -> None:
    one = FakeModelProvider(price_per_1k_tokens_cents=30)
    two = FakeModelProvider(price_per_1k_tokens_cents=30)
    first = one.complete(PROMPT, 64)
    assert first == one.complete(PROMPT, 64) == two.complete(PROMPT, 64)
    assert first != one.complete(PROMPT + ".", 64)
    assert first.prompt_tokens == -(-len(PROMPT.encode()) // 4)
    assert 1 <= first.completion_tokens <= 64
    assert len(first.text.split()) == first.completion_tokens
    assert first.cost_cents == one.cost_cents(first.total_tokens)
    for value in (first.prompt_tokens, first.completion_tokens, first.cost_cents):
        assert type(value) is int
    assert one.complete("", 0) == Completion("", 0, 0, 0)


def test_provider_fails_on_request_and_refuses_bad_arguments() -> None:
    provider = FakeModelProvider(price_per_1k_tokens_cents=30, fail_on="secret")
    with pytest.raises(ProviderError):
        provider.complete("the secret plan", 8)
    for bad in (
        lambda: FakeModelProvider(price_per_1k_tokens_cents=1.5),  # type: ignore[arg-type]
        lambda: FakeModelProvider(price_per_1k_tokens_cents=-1),
        lambda: FakeModelProvider(price_per_1k_tokens_cents=1, bytes_per_token=0),
        lambda: FakeModelProvider(price_per_1k_tokens_cents=1, fail_on=""),
        lambda: provider.complete("hi", -1),
        lambda: provider.complete("hi", True),
        lambda: provider.complete(b"hi", 1),  # type: ignore[arg-type]
        lambda: provider.cost_cents(-1),
    ):
        with pytest.raises(UsageError):
            bad()


@given(
    price=st.integers(0, 1_000_000),
    a=st.integers(0, 1 << 40),
    b=st.integers(0, 1 << 40),
)
def test_cost_is_monotone_never_negative_and_rounded_up(price: int, a: int, b: int) -> None:
    provider = FakeModelProvider(price_per_1k_tokens_cents=price)
    low, high = sorted((a, b))
    assert 0 <= provider.cost_cents(low) <= provider.cost_cents(high)
    cost = provider.cost_cents(high)
    assert cost * 1000 >= high * price > (cost - 1) * 1000 or (cost == 0 and high * price == 0)


@given(prompt=st.text(max_size=200), max_tokens=st.integers(0, 512), price=st.integers(0, 10_000))
def test_completion_is_a_function_of_its_inputs(prompt: str, max_tokens: int, price: int) -> None:
    provider = FakeModelProvider(price_per_1k_tokens_cents=price)
    first = provider.complete(prompt, max_tokens)
    assert first == FakeModelProvider(price_per_1k_tokens_cents=price).complete(prompt, max_tokens)
    assert 0 <= first.completion_tokens <= max_tokens
    assert (first.completion_tokens == 0) == (max_tokens == 0)
    assert first.cost_cents == provider.cost_cents(first.total_tokens) >= 0
