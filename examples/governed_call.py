"""A governed model call (spec §14) from Python: acquire, authorize, run, always release.

Runs a pooled manager in a temporary state directory on the conformance vectors' fixed keys
(public seeds: never for production) and a deterministic fake model provider. Each call
declares its demand in the signed request; the lease is released with what the call really
used, also when the provider fails, and the signed release receipt is verified offline.
"""

from __future__ import annotations

import tempfile

from pda_lease import conformance as cv
from pda_lease.adapters import FakeCalendar, FakeClock, MemoryTrustSource
from pda_lease.kernel.governance import GovernancePolicy
from pda_lease.manager import LeaseManager
from pda_lease.release import verify_release_receipt
from pda_lease.sdk import CallDenied, FakeModelProvider, Meter, ProviderError, governed_call


def main() -> None:
    provider = FakeModelProvider(price_per_1k_tokens_cents=40, fail_on="FAIL")
    clock = FakeClock(cv.EPOCH, 100 * cv.SECOND)
    with (
        tempfile.TemporaryDirectory() as state,
        LeaseManager.open(
            state,
            signer=cv.ISSUER,
            policy=GovernancePolicy.from_json(cv.pools_policy()),
            clock=clock,
            trust_source=MemoryTrustSource(cv.base_snapshot(9500)),
            calendar=FakeCalendar(),
        ) as manager,
    ):
        calls = [
            ("Summarise the quarterly report.", 4000),
            ("FAIL on purpose", 4000),
            ("A prompt with a very large context.", 9000),  # over the org's 8000
        ]
        for number, (prompt, context_tokens) in enumerate(calls):
            manifest = cv.base_manifest()
            manifest["task_id"] = f"call-{number}"
            demand = {"units": 300, "context_tokens": context_tokens, "compute": 1}
            demand["spend_cents"] = 5
            request = cv.request_for(manifest, demand=demand, at_ns=clock.now().ns)

            def ask(meter: Meter, prompt: str = prompt) -> str:
                return meter.record(provider.complete(prompt, max_tokens=256)).text

            try:
                result = governed_call(
                    manager, manifest=manifest, request=request, holder=cv.HOLDER, fn=ask
                )
            except CallDenied as denied:
                print(f"call {number}: DENY {denied.code}/{denied.reason} retry={denied.retry}")
                continue
            except ProviderError as error:
                print(f"call {number}: the provider failed ({error}); the lease was released")
                continue
            receipt = result.receipt
            verify_release_receipt(receipt.to_json(), manager.log_verifier())
            print(
                f"call {number}: {len(result.value)} characters; settled "
                f"{receipt.settled.to_json()} of {receipt.reserved and receipt.reserved.to_json()};"
                " receipt verified"
            )
        print("pools now:", manager.pools().to_json()["scopes"][0]["pools"])  # type: ignore[index]


if __name__ == "__main__":
    main()
