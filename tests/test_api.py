"""Misuse by an embedder raises from the one root; bad content never raises."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import pda_lease
from pda_lease import (
    Authority,
    Code,
    Deny,
    Ed25519Signer,
    Grant,
    LeasePolicy,
    MonotonicTime,
    PdaLeaseError,
    PolicyError,
    UsageError,
)
from pda_lease.conformance import (
    EPOCH,
    ISSUER,
    base_manifest,
    base_policy,
    base_snapshot,
    vector_seed,
)
from pda_lease.kernel.catalog import deny


def authority(policy: dict[str, Any] | None = None) -> Authority:
    return Authority(ISSUER, LeasePolicy.from_json(policy or base_policy()))


def test_error_hierarchy_has_one_root() -> None:
    for error in (UsageError, PolicyError, pda_lease.InvalidLease):
        assert issubclass(error, PdaLeaseError)


@pytest.mark.parametrize("bad_now", [None, 5, {"epoch": EPOCH, "ns": 5}, (EPOCH, 5)])
def test_now_must_be_a_monotonic_time(bad_now: object) -> None:
    with pytest.raises(UsageError):
        authority().decide(base_manifest(), base_snapshot(), bad_now)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("epoch", "ns"),
    [
        ("", 0),
        ("has space", 0),
        ("x" * 65, 0),
        (EPOCH, -1),
        (EPOCH, 1 << 63),
        (EPOCH, True),
        (EPOCH, 1.0),
    ],
)
def test_monotonic_time_validates(epoch: str, ns: int) -> None:
    with pytest.raises(UsageError):
        MonotonicTime(epoch, ns)


def test_seed_must_be_32_bytes_and_is_never_shown() -> None:
    with pytest.raises(UsageError):
        Ed25519Signer(b"short")
    signer = Ed25519Signer(vector_seed("issuer"))
    assert vector_seed("issuer").hex() not in repr(signer)


def _broken(path: str, value: object) -> dict[str, Any]:
    policy = copy.deepcopy(base_policy())
    *parents, last = path.split(".")
    target = policy
    for name in parents:
        target = target[name]
    target[last] = value
    return policy


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("trust_threshold.HIGH", 100),  # HIGH below MEDIUM: thresholds must not decrease
        ("lease_duration_ns.HIGH", 10**15),  # longer than 24 h and than LOW
        ("lease_duration_ns.LOW", 0),
        ("hrc_max_age_ns", 0),
        ("hrc_required_for", ["HIGH", "HIGH"]),
        ("hrc_keys", ["00" * 32]),  # small-order key
        ("issuer", "has space"),
        ("policy_version", 2),
        ("trust_threshold.LOW", 1.5),
    ],
)
def test_broken_policy_is_refused(path: str, value: object) -> None:
    with pytest.raises(PolicyError):
        LeasePolicy.from_json(_broken(path, value))


def test_policy_must_name_the_signer() -> None:
    other = Ed25519Signer(vector_seed("other-issuer"))
    with pytest.raises(PolicyError):
        Authority(other, LeasePolicy.from_json(base_policy()))


def test_unknown_catalog_pair_is_a_bug() -> None:
    with pytest.raises(UsageError):
        deny(Code.INVALID_MANIFEST, "EXPIRED")
    with pytest.raises(UsageError):
        deny(Code.INVALID_MANIFEST, "MISSING_FIELD")  # needs a field path


def test_decide_accepts_a_parsed_snapshot() -> None:
    parsed = pda_lease.parse_trust_snapshot(base_snapshot())
    assert isinstance(parsed, pda_lease.TrustSnapshot)
    now = MonotonicTime(EPOCH, 100 * 10**9)
    from_document = authority().decide(base_manifest(), base_snapshot(), now)
    from_parsed = authority().decide(base_manifest(), parsed, now)
    assert isinstance(from_document, Grant) and from_document == from_parsed


def test_deny_is_a_closed_value() -> None:
    result = authority().decide([], base_snapshot(), MonotonicTime(EPOCH, 0))
    assert isinstance(result, Deny)
    assert result.to_json() == {
        "decision": "DENY",
        "code": "INVALID_MANIFEST",
        "reason": "NOT_AN_OBJECT",
        "message": "manifest is not a JSON object",
    }
    with pytest.raises(AttributeError):
        result.reason = "OTHER"  # type: ignore[misc]


def test_public_names_are_exported() -> None:
    for name in pda_lease.__all__:
        assert hasattr(pda_lease, name), name
