"""The kernel's rule tables rebuilt at test time, and the boundaries they encode (mutation).

Most of the kernel's field rules are tables built once, when their module is imported (the
catalog, the schema of each input, the policy's rules). Mutation testing activates a mutant
when a function runs, so a mutant in code that only runs at import is never seen by a test
that uses the tables built before it. The ``rebuilt`` fixture builds every table again inside
the test, under whatever code is active, and the tests then run the spec's cases through the
public entry points. Expected values come from the spec (§3, §4.1, §5, §9, §13) and, for the
vectors, from the committed files (checked against the reference model elsewhere); none is
taken from the kernel's own output.

The second half pins behaviour the rest of the suite left loose: the text of a refused
policy's error (it names the field), the recommendation of every catalog entry, the byte
offset a CBOR refusal reports, and the holder-key memo's capacity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import cbor2
import pytest
from nacl.signing import SigningKey

from pda_lease import conformance as cv
from pda_lease.kernel import catalog, cbor, crypto, governance, inputs, model, token
from pda_lease.kernel.catalog import Code, Deny, deny
from pda_lease.kernel.crypto import Ed25519Signer
from pda_lease.kernel.decide import Authority, Grant, decide
from pda_lease.kernel.errors import InvalidLease, PolicyError, ReasonedError, UsageError
from pda_lease.kernel.inputs import (
    HolderKeyMemo,
    LeasePolicy,
    MonotonicTime,
    TrustSnapshot,
    json_digest,
    parse_manifest,
    parse_trust_snapshot,
)
from pda_lease.kernel.model import Failure, Field
from test_governance import INVALID_POLICIES, _set  # the §13.1 table of refusals

ROOT = Path(__file__).resolve().parent.parent
VECTORS = sorted((ROOT / "specs" / "vectors").glob("*.json"))
NOW = MonotonicTime(cv.EPOCH, 100 * cv.SECOND)


@pytest.fixture
def rebuilt(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every import-time table of the kernel, built again now."""
    table = catalog._table()
    monkeypatch.setattr(
        catalog,
        "CATALOG",
        MappingProxyType({code: MappingProxyType(entries) for code, entries in table.items()}),
    )
    monkeypatch.setattr(inputs, "_TIME_FIELDS", inputs.time_fields())
    monkeypatch.setattr(inputs, "_MANIFEST_FIELDS", inputs._manifest_fields(inputs._hex_key))
    monkeypatch.setattr(inputs, "_SNAPSHOT_FIELDS", inputs._snapshot_fields())
    monkeypatch.setattr(inputs, "_HRC_FIELDS", inputs._hrc_fields())
    monkeypatch.setattr(inputs, "_POLICY_FIELDS", inputs._policy_fields())
    monkeypatch.setattr(token, "_HOLDER_PROOF_FIELDS", token._holder_proof_fields())
    monkeypatch.setattr(governance, "_GOVERNANCE_FIELDS", governance._governance_fields())
    monkeypatch.setattr(governance, "_REQUEST_FIELDS", governance._request_fields())
    monkeypatch.setattr(governance, "_APPROVAL_FIELDS", governance._approval_fields())
    yield


# ---------------------------------------------------------------------------------- vectors


@pytest.mark.usefixtures("rebuilt")
def test_every_vector_passes_with_tables_built_now() -> None:
    failures = []
    for path in VECTORS:
        vector = json.loads(path.read_text(encoding="utf-8"))
        if cv.run_vector(vector) != vector["expected"]:
            failures.append(path.name)
    assert failures == []


@pytest.mark.usefixtures("rebuilt")
def test_catalog_built_now_matches_the_committed_catalog() -> None:
    document = json.loads((ROOT / "specs" / "error_catalog.json").read_text(encoding="utf-8"))
    built = {
        str(code): {
            reason: {"message": entry.message, "recommendation": entry.recommendation}
            for reason, entry in entries.items()
        }
        for code, entries in catalog._table().items()
    }
    assert built == document["codes"]
    for code, entries in document["codes"].items():
        for reason, entry in entries.items():
            refusal = deny(Code(code), reason, "f.path")
            assert refusal.recommendation == entry["recommendation"]
            assert refusal.message == entry["message"].replace("{field}", "f.path")


# ---------------------------------------------------------------------------------- manifest


def manifest(**changes: Any) -> dict[str, Any]:
    document = cv.base_manifest()
    for path, value in changes.items():
        document = cv._with(document, path.replace("__", "."), value)
    return document


# (change to the base manifest, reason, field) from the §3.1 table and §4.1.
MANIFEST_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"inputs": []}, "WRONG_TYPE", "inputs"),
    ({"constraints": 5}, "WRONG_TYPE", "constraints"),
    ({"constraints__sensitivity": 5}, "WRONG_TYPE", "constraints.sensitivity"),
    ({"constraints__sensitivity": "low"}, "BAD_VALUE", "constraints.sensitivity"),
    ({"window__not_before_ns": -1}, "BAD_VALUE", "window.not_before_ns"),
    ({"window__not_before_ns": 0, "window__not_after_ns": 0}, "EMPTY_WINDOW", "window"),
    ({"window__not_after_ns": 1 << 63}, "INTEGER_OUT_OF_RANGE", "window.not_after_ns"),
    ({"holder__public_key": "zz" * 32}, "BAD_VALUE", "holder.public_key"),
    ({"holder__public_key": "00" * 32}, "BAD_HOLDER_KEY", "holder.public_key"),
    ({"manifest_version": 2}, "UNSUPPORTED_VERSION", "manifest_version"),
    ({"task_id": "a b"}, "BAD_VALUE", "task_id"),
]


@pytest.mark.usefixtures("rebuilt")
@pytest.mark.parametrize(("changes", "reason", "field"), MANIFEST_CASES)
def test_manifest_rules_built_now(changes: dict[str, Any], reason: str, field: str) -> None:
    document = manifest(**changes)
    authority = Authority(cv.ISSUER, LeasePolicy.from_json(cv.base_policy()))
    for memo in (None, HolderKeyMemo()):
        parsed = parse_manifest(document, memo)
        assert parsed == Failure(reason, field)
    refused = decide(authority, document, cv.base_snapshot(), NOW)
    assert isinstance(refused, Deny)
    assert (refused.code, refused.reason, refused.field) == ("INVALID_MANIFEST", reason, field)


@pytest.mark.usefixtures("rebuilt")
def test_a_parsed_manifest_keeps_its_encoding_and_fields() -> None:
    document = cv.base_manifest()
    parsed = parse_manifest(document)
    assert not isinstance(parsed, Failure)
    encoded = cbor2.dumps(document, canonical=True)  # text keys only: the same order (§2.3)
    assert parsed.encoded == encoded
    assert parsed.digest == hashlib.sha256(encoded).digest()
    assert parsed.ast_hash == bytes.fromhex(document["provenance"]["ast_hash"])


# ---------------------------------------------------------------------------------- snapshot


@pytest.mark.usefixtures("rebuilt")
@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"snapshot_version": 1, "sequence": 1, "scores": []}, Failure("WRONG_TYPE", "scores")),
        (
            {"snapshot_version": 2, "sequence": 1, "scores": {}},
            Failure("UNSUPPORTED_VERSION", "snapshot_version"),
        ),
        ({"snapshot_version": 1, "sequence": -1, "scores": {}}, Failure("BAD_VALUE", "sequence")),
        ({"snapshot_version": 1, "sequence": 1, "scores": {"a": 10001}}, Failure("BAD_VALUE", "a")),
        (
            {"snapshot_version": 1, "sequence": 1, "scores": {"a b": 1}},
            Failure("BAD_VALUE", 'scores["a b"]'),
        ),
    ],
)
def test_snapshot_rules_built_now(document: dict[str, Any], expected: Failure) -> None:
    if expected.path == "a":
        expected = Failure(expected.reason, "scores.a")
    assert parse_trust_snapshot(document) == expected


def test_a_hand_built_snapshot_is_judged_like_a_parsed_one() -> None:
    good = {"snapshot_version": 1, "sequence": 3, "scores": {"files.read": 5}}
    parsed = parse_trust_snapshot(good)
    assert isinstance(parsed, TrustSnapshot)
    assert TrustSnapshot(3, {"files.read": 5}, parsed.digest) == parsed
    with pytest.raises(UsageError, match=r"^TrustSnapshot is not valid at scores\.x: BAD_VALUE$"):
        TrustSnapshot(3, {"x": -1}, parsed.digest)


# ---------------------------------------------------------------------------------- policy

# (change, the PolicyError text): §3.4's rules, with the field path of §4.1.
POLICY_CASES: list[tuple[str, object, str]] = [
    ("policy_version", 2, "policy_version: UNSUPPORTED_VERSION"),
    ("sequence", -1, "sequence: BAD_VALUE"),
    ("issuer", "a b", "issuer: BAD_VALUE"),
    ("issuer_kid", "AB" * 32, "issuer_kid: BAD_VALUE"),
    ("lease_duration_ns", {"LOW": 1, "MEDIUM": 1}, "lease_duration_ns.HIGH: MISSING_FIELD"),
    ("lease_duration_ns", {"LOW": 0, "MEDIUM": 1, "HIGH": 1}, "lease_duration_ns.LOW: BAD_VALUE"),
    ("lease_duration_ns", {"LOW": 2, "MEDIUM": 3, "HIGH": 1}, "lease_duration_ns: BAD_VALUE"),
    ("lease_duration_ns", {"LOW": 2, "MEDIUM": 1, "HIGH": 2}, "lease_duration_ns: BAD_VALUE"),
    (
        "lease_duration_ns",
        {"LOW": 86_400_000_000_001, "MEDIUM": 1, "HIGH": 1},
        "lease_duration_ns.LOW: BAD_VALUE",
    ),
    ("trust_threshold", {"LOW": 1, "MEDIUM": 0, "HIGH": 2}, "trust_threshold: BAD_VALUE"),
    ("trust_threshold", {"LOW": 0, "MEDIUM": 2, "HIGH": 1}, "trust_threshold: BAD_VALUE"),
    ("trust_threshold", {"LOW": 0, "MEDIUM": 0, "HIGH": 10001}, "trust_threshold.HIGH: BAD_VALUE"),
    ("trust_threshold", [], "trust_threshold: WRONG_TYPE"),
    ("hrc_required_for", "HIGH", "hrc_required_for: WRONG_TYPE"),
    ("hrc_required_for", ["HIGH", "HIGH"], "hrc_required_for: BAD_VALUE"),
    ("hrc_required_for", ["LOW", "MEDIUM", "HIGH", "LOW"], "hrc_required_for: TOO_MANY_ITEMS"),
    ("hrc_required_for", ["HIGH", "URGENT"], "hrc_required_for[1]: BAD_VALUE"),
    ("hrc_required_for", [5], "hrc_required_for[0]: WRONG_TYPE"),
    ("hrc_keys", ["00" * 32], "hrc_keys[0]: BAD_HOLDER_KEY"),
    ("hrc_keys", ["0" * 63], "hrc_keys[0]: BAD_VALUE"),
    ("hrc_keys", [cv.HRC_DEVICE.public_key.hex()] * 2, "hrc_keys: BAD_VALUE"),
    ("hrc_keys", [cv.HRC_DEVICE.public_key.hex()] * 65, "hrc_keys: TOO_MANY_ITEMS"),
    ("hrc_max_age_ns", 0, "hrc_max_age_ns: BAD_VALUE"),
    ("hrc_max_age_ns", 3_600_000_000_001, "hrc_max_age_ns: BAD_VALUE"),
]


@pytest.mark.usefixtures("rebuilt")
@pytest.mark.parametrize(("name", "value", "text"), POLICY_CASES)
def test_policy_rules_built_now_name_the_field(name: str, value: object, text: str) -> None:
    document = {**cv.base_policy(), name: value}
    with pytest.raises(PolicyError) as refused:
        LeasePolicy.from_json(document)
    assert str(refused.value) == f"lease policy field {text}"


@pytest.mark.usefixtures("rebuilt")
def test_equal_neighbours_are_allowed_by_the_policy_order() -> None:
    document = {
        **cv.base_policy(),
        "lease_duration_ns": {"LOW": 5, "MEDIUM": 5, "HIGH": 5},
        "trust_threshold": {"LOW": 7, "MEDIUM": 7, "HIGH": 7},
        "hrc_required_for": ["LOW", "MEDIUM", "HIGH"],
    }
    policy = LeasePolicy.from_json(document)
    assert policy.sequence == document["sequence"]
    assert dict(policy.document) == document
    assert policy.digest == hashlib.sha256(cbor2.dumps(document, canonical=True)).digest()


# ---------------------------------------------------------------------------------- governance


@pytest.mark.usefixtures("rebuilt")
def test_governance_rules_built_now() -> None:
    for _, path, value, text in INVALID_POLICIES:
        with pytest.raises(PolicyError) as refused:
            governance.GovernancePolicy.from_json(_set(cv.governance_policy(), path, value))
        assert str(refused.value) == f"governance policy field {text}"
    governance.GovernancePolicy.from_json(cv.governance_policy())


@pytest.mark.usefixtures("rebuilt")
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"request_version": 2}, ("REQUEST_MALFORMED", "request.request_version")),
        ({"model": 5}, ("REQUEST_MALFORMED", "request.model")),
        ({"tools": "fs.read"}, ("REQUEST_MALFORMED", "request.tools")),
        ({"requested_at": {"epoch": cv.EPOCH}}, ("REQUEST_MALFORMED", "request.requested_at.ns")),
        ({"signature": "00"}, ("REQUEST_MALFORMED", "request.signature")),
        ({"principal": "ab"}, ("REQUEST_MALFORMED", "request.principal")),
    ],
)
def test_request_rules_built_now(change: dict[str, Any], expected: tuple[str, str]) -> None:
    document = cv.base_manifest()
    request = {**cv.request_for(document), **change}
    authority = Authority(cv.ISSUER, governance.GovernancePolicy.from_json(cv.governance_policy()))
    refused = decide(authority, document, cv.base_snapshot(), NOW, None, request)
    assert isinstance(refused, Deny)
    assert (refused.reason, refused.field) == expected


@pytest.mark.usefixtures("rebuilt")
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"approval_version": 0}, "approvals[0].approval_version"),
        ({"verdict": "approve"}, "approvals[0].verdict"),
        ({"signed_at": {"epoch": "a b", "ns": 1}}, "approvals[0].signed_at.epoch"),
        ({"reviewer": 5}, "approvals[0].reviewer"),
    ],
)
def test_approval_rules_built_now(change: dict[str, Any], field: str) -> None:
    document = cv.base_manifest()
    tools = ("fs.read", "web.fetch")
    approval = {**cv.approval_for(document, cv.BOB), **change}
    authority = Authority(cv.ISSUER, governance.GovernancePolicy.from_json(cv.governance_policy()))
    request = cv.request_for(document, tools=tools)
    refused = decide(authority, document, cv.base_snapshot(), NOW, None, request, [approval])
    assert isinstance(refused, Deny)
    assert (refused.reason, refused.field) == ("APPROVALS_MALFORMED", field)


# ---------------------------------------------------------------------------------- catalog


def test_deny_refuses_what_the_catalog_does_not_hold() -> None:
    with pytest.raises(UsageError, match="not in the error catalog"):
        deny("NO_SUCH_CODE", "X")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="not in the error catalog"):
        deny(Code.INVALID_MANIFEST, "NO_SUCH_REASON")
    with pytest.raises(UsageError, match="needs a field path"):
        deny(Code.INVALID_MANIFEST, "WRONG_TYPE")
    with pytest.raises(UsageError, match="needs a field path"):
        deny(Code.INVALID_MANIFEST, "WRONG_TYPE", "")
    plain = deny(Code.LEASE_EXPIRED, "EXPIRED", "ignored")
    assert plain.message == "the lease has expired"


def test_exception_texts_name_the_refusal() -> None:
    refusal = deny(Code.INVALID_TOKEN, "BAD_SIGNATURE")
    error = InvalidLease(refusal)
    assert str(error) == "INVALID_TOKEN/BAD_SIGNATURE: token signature does not verify"
    assert error.deny is refusal
    reasoned = ReasonedError(Code.UNAVAILABLE, "the disk is full")
    assert str(reasoned) == "UNAVAILABLE: the disk is full"
    assert (reasoned.reason, reasoned.detail) == (Code.UNAVAILABLE, "the disk is full")


# ---------------------------------------------------------------------------------- model


def test_field_paths_quote_names_that_are_not_identifier_like() -> None:
    def ok(value: object, path: str) -> Failure | None:
        return None

    plain, quoted = Field("a_b", ok), Field("a b", ok)
    assert (plain.simple, quoted.simple) == (True, False)
    assert plain.path_in("$") == "a_b"
    assert plain.path_in("x") == "x.a_b"
    assert quoted.path_in("$") == '["a b"]'
    assert quoted.path_in("x") == 'x["a b"]'
    assert model.check_object({}, "x", [quoted]) == Failure("MISSING_FIELD", 'x["a b"]')


def test_one_of_and_integer_and_any_object_report_their_reasons() -> None:
    choose = model.one_of("A", "B")
    assert choose(1, "p") == Failure("WRONG_TYPE", "p")
    assert choose("C", "p") == Failure("BAD_VALUE", "p")
    assert choose("B", "p") is None
    number = model.integer(1, 3)
    assert number(0, "p") == Failure("BAD_VALUE", "p")
    assert number(True, "p") == Failure("WRONG_TYPE", "p")
    assert number(3, "p") is None
    assert model.integer(1, 1, "UNSUPPORTED_VERSION")(2, "v") == Failure("UNSUPPORTED_VERSION", "v")
    assert model.any_object([], "p") == Failure("WRONG_TYPE", "p")
    assert model.any_object({}, "p") is None
    assert model.check_object([], "q", []) == Failure("WRONG_TYPE", "q")


# ---------------------------------------------------------------------------------- holder keys


def _keys(count: int) -> list[bytes]:
    return [
        Ed25519Signer(hashlib.sha256(b"memo %d" % index).digest()).public_key
        for index in range(count)
    ]


def test_holder_key_memo_capacity() -> None:
    assert HolderKeyMemo(1).is_valid(_keys(1)[0])
    with pytest.raises(UsageError):
        HolderKeyMemo(0)
    memo = HolderKeyMemo(2)
    first, second, third = _keys(3)
    for key in (first, second, third):
        assert memo.is_valid(key)
    assert len(memo._valid) <= 2  # at most ``capacity`` remembered
    assert not memo.is_valid(bytes(32))  # a bad key is never remembered
    assert bytes(32) not in memo._valid


def test_holder_key_memo_default_capacity_is_4096() -> None:
    memo = HolderKeyMemo()
    keys = _keys(4097)
    for key in keys[:4096]:
        memo.is_valid(key)
    assert len(memo._valid) == 4096
    memo.is_valid(keys[4096])
    assert len(memo._valid) == 1  # the memo started over


# ---------------------------------------------------------------------------------- CBOR offsets

# (input, reason, byte offset), derived by hand from RFC 8949 and spec §2.4. The offset is the
# first byte that could not be accepted: the first byte of the head that broke a rule (or where
# a missing head should start), the first content byte of a string that is cut short or not
# UTF-8, the first byte of a map key out of order, or the first trailing byte.
CBOR_OFFSETS: list[tuple[bytes, str, int]] = [
    (b"", "MALFORMED_CBOR", 0),
    (b"\x82\x01", "MALFORMED_CBOR", 2),
    (b"\x82\x01\x1c", "MALFORMED_CBOR", 2),
    (b"\x82\x01\x18", "MALFORMED_CBOR", 2),
    (b"\x81\x62\xc3", "MALFORMED_CBOR", 2),
    (b"\x81\x62\xff\xfe", "MALFORMED_CBOR", 2),
    (b"\x82\x01\x18\x05", "NON_DETERMINISTIC", 2),
    (b"\x82\x01\x9f\xff", "NON_DETERMINISTIC", 2),
    (b"\x82\x01\xf9\x00\x00", "FORBIDDEN_CBOR_TYPE", 2),
    (b"\x82\x01\xc1\x01", "FORBIDDEN_CBOR_TYPE", 2),
    (b"\x82\x01\xa1\x80\x01", "FORBIDDEN_CBOR_TYPE", 3),
    (b"\xa2\x02\x00\x01\x00", "NON_DETERMINISTIC", 3),
    (b"\x01\x02", "TRAILING_BYTES", 1),
    (b"\x81" * 9 + b"\x01", "TOO_DEEP", 8),
]


@pytest.mark.parametrize(("data", "reason", "offset"), CBOR_OFFSETS)
def test_cbor_refusals_report_their_byte_offset(data: bytes, reason: str, offset: int) -> None:
    with pytest.raises(cbor.CborError) as refused:
        cbor.decode(data, max_depth=8)
    assert (refused.value.reason, refused.value.offset) == (reason, offset)


def test_cbor_refuses_a_tag_in_the_top_tag_content() -> None:
    with pytest.raises(cbor.CborError) as refused:
        cbor.decode(b"\xd2\xd2\x01", max_depth=8, allow_top_tag=True)
    assert (refused.value.reason, refused.value.offset) == ("FORBIDDEN_CBOR_TYPE", 1)


# ---------------------------------------------------------------------------------- walk limits

# Small limits make every boundary of spec §4.1 steps 2-3 reachable with a few bytes. The
# expected encodings are RFC 8949 by hand (a1 = map of 1, 61 xx = text of 1, ...).
SMALL = model.Limits(max_depth=3, max_items=3, max_string_bytes=8, max_total_bytes=5)


@pytest.mark.parametrize(
    ("document", "limits", "expected"),
    [
        # A string exactly at the length limit passes; its encoding ends exactly at the size.
        ({"a": "x" * 8}, model.Limits(3, 3, 8, 12), bytes.fromhex("a1616168") + b"x" * 8),
        ({"a": "b"}, SMALL, bytes.fromhex("a161616162")),  # exactly 5 bytes: a text last
        ({"a": 1}, model.Limits(3, 3, 8, 4), bytes.fromhex("a1616101")),  # an integer last
        ({"a": None}, model.Limits(3, 3, 8, 4), bytes.fromhex("a16161f6")),
        (["x" * 24], model.Limits(3, 3, 24, 100), bytes.fromhex("817818") + b"x" * 24),
        ({"k" * 24: 0}, model.Limits(3, 3, 24, 100), bytes.fromhex("a17818") + b"k" * 24 + b"\x00"),
        ([24, 23, -24, -25], model.Limits(3, 4, 8, 100), bytes.fromhex("84181817373818")),
        ("top", model.Limits(3, 3, 8, 100), bytes.fromhex("63746f70")),
        ([["s"]], model.Limits(3, 3, 8, 100), bytes.fromhex("81816173")),  # text at max depth
    ],
)
def test_walk_encode_at_its_limits(document: object, limits: model.Limits, expected: bytes) -> None:
    assert model.walk_encode(document, limits) == expected
    assert cbor2.dumps(document, canonical=True) == expected


@pytest.mark.parametrize(
    ("document", "limits", "expected"),
    [
        # The size is judged where it is crossed: here at the next member, not at the empty
        # object that brought the total exactly to the limit.
        ({"a": {}, "b": 1}, model.Limits(3, 3, 8, 4), Failure("TOO_LARGE", "b")),
        ({"a": [], "b": 1}, model.Limits(3, 3, 8, 4), Failure("TOO_LARGE", "b")),
        ({"a": "bc"}, SMALL, Failure("TOO_LARGE", "a")),
        ({"a": {}}, model.Limits(3, 3, 8, 3), Failure("TOO_LARGE", "a")),  # the head crosses
        (
            {"\u00e9" * 5: 1, "b": 1.5},
            model.Limits(3, 3, 8, 100),
            Failure("FLOAT_NOT_ALLOWED", "b"),
        ),
        ({"a": "x" * 9}, model.Limits(3, 3, 8, 100), Failure("STRING_TOO_LONG", "a")),
        ([[[["s"]]]], model.Limits(3, 3, 8, 100), Failure("TOO_DEEP", "$[0][0][0]")),
        ([1, 2, 3, 4], model.Limits(3, 3, 8, 100), Failure("TOO_MANY_ITEMS", "$")),
        ({"a" * 9: 1, "b": 1.5}, model.Limits(3, 3, 8, 100), Failure("FLOAT_NOT_ALLOWED", "b")),
        ({"a" * 9: 1, 3: 2}, model.Limits(3, 3, 8, 100), Failure("NOT_JSON", "$")),
        ({"a" * 9: 1, "b": 2}, model.Limits(3, 3, 8, 100), Failure("STRING_TOO_LONG", "$")),
    ],
)
def test_walk_encode_refuses_at_its_limits(
    document: object, limits: model.Limits, expected: Failure
) -> None:
    assert model.walk_encode(document, limits) == expected


# ---------------------------------------------------------------------------------- encoder


def test_cbor_integer_keys_outside_the_range_are_refused() -> None:
    assert cbor.encode({-(1 << 64): 0}) == bytes.fromhex("a13bffffffffffffffff00")
    with pytest.raises(cbor.EncodeError):
        cbor.encode({-(1 << 64) - 1: 0})
    with pytest.raises(cbor.EncodeError):
        cbor.encode({1 << 64: 0})
    with pytest.raises(cbor.EncodeError):
        cbor.encode(-(1 << 64) - 1)


def test_public_key_from_seed_is_the_ed25519_public_key() -> None:
    seed = hashlib.sha256(b"a seed").digest()
    assert crypto.public_key_from_seed(seed) == SigningKey(seed).verify_key.encode()


# ---------------------------------------------------------------------------------- governed


def _gov_authority() -> Authority:
    return Authority(cv.ISSUER, governance.GovernancePolicy.from_json(cv.governance_policy()))


def test_authority_decide_passes_request_and_approvals() -> None:
    authority = _gov_authority()
    document = cv.base_manifest()
    tools = ("fs.read", "web.fetch")
    request = cv.request_for(document, tools=tools)
    approvals = [cv.approval_for(document, cv.BOB), cv.approval_for(document, cv.CAROL)]
    snapshot = cv.base_snapshot()
    method = authority.decide(document, snapshot, NOW, None, request, approvals)
    function = decide(authority, document, snapshot, NOW, None, request, approvals)
    assert isinstance(method, Grant) and method == function
    assert method.claims.governance is not None
    assert method.claims.governance.approvals_digest == json_digest(approvals)
    assert "governance_version=1" in repr(authority)
    plain = Authority(cv.ISSUER, LeasePolicy.from_json(cv.base_policy()))
    assert repr(plain) == f"Authority(kid={plain.kid.hex()}, policy_sequence=1)"


def test_governed_tokens_open_to_exactly_their_claims() -> None:
    authority = _gov_authority()
    document = cv.base_manifest()
    tools = ("fs.read", "web.fetch")
    cases = [
        (cv.request_for(document, model=None, tools=()), None),
        (
            cv.request_for(document, tools=tools),
            [cv.approval_for(document, cv.BOB), cv.approval_for(document, cv.CAROL)],
        ),
    ]
    for request, approvals in cases:
        grant = decide(authority, document, cv.base_snapshot(), NOW, None, request, approvals)
        assert isinstance(grant, Grant)
        claims = token.open_token(grant.token, issuer_public_key=cv.ISSUER.public_key)
        assert claims == grant.claims
        payload = cbor2.loads(grant.token).value[2]
        assert cbor.encode(claims.to_cbor()) == payload  # the general encoder agrees
        assert token.encode_claims(claims) == payload
    assert claims.governance is not None and claims.governance.approvals_digest is not None


def test_a_governance_claim_with_a_short_principal_is_not_encoded() -> None:
    grant = decide(
        _gov_authority(),
        cv.base_manifest(),
        cv.base_snapshot(),
        NOW,
        None,
        cv.request_for(cv.base_manifest()),
    )
    assert isinstance(grant, Grant) and grant.claims.governance is not None
    broken = attrs.evolve(
        grant.claims, governance=attrs.evolve(grant.claims.governance, principal=bytes(31))
    )
    with pytest.raises(cbor.EncodeError):
        token.encode_claims(broken)


def test_request_and_approval_at_the_decision_time_count() -> None:
    """Age 0 is inside every half-open interval of §13.7 and §13.8."""
    authority = _gov_authority()
    document = cv.base_manifest()
    tools = ("fs.read", "web.fetch")
    request = cv.request_for(document, tools=tools, at_ns=NOW.ns)
    approvals = [
        cv.approval_for(document, cv.BOB, at_ns=NOW.ns),
        cv.approval_for(document, cv.CAROL, at_ns=NOW.ns),
    ]
    granted = decide(authority, document, cv.base_snapshot(), NOW, None, request, approvals)
    assert isinstance(granted, Grant), granted


def test_sixty_four_approvals_are_read_sixty_five_are_too_many() -> None:
    document = cv.base_manifest()
    many = [cv.approval_for(document, cv.BOB, at_ns=SECOND_NS * (1 + n)) for n in range(65)]
    parsed = governance.parse_approvals(many[:64])
    assert isinstance(parsed, tuple) and len(parsed[0]) == 64
    assert governance.parse_approvals(many) == Failure("TOO_MANY_ITEMS", "approvals")
    assert governance.parse_approvals("x") == Failure("WRONG_TYPE", "approvals")
    assert governance.parse_approvals({}) == Failure("WRONG_TYPE", "approvals")


@pytest.mark.usefixtures("rebuilt")
def test_version_members_are_unsupported_versions() -> None:
    document = cv.base_manifest()
    digest = json_digest(document)
    request = {**cv.request_for(document), "request_version": 2}
    approval = {**cv.approval_for(document, cv.BOB), "approval_version": 2}
    hrc = {**cv.hrc_for(document, 99 * cv.SECOND), "hrc_version": 2}
    assert governance.parse_request(request) == Failure("UNSUPPORTED_VERSION", "request_version")
    assert governance.parse_approval(approval) == Failure("UNSUPPORTED_VERSION", "approval_version")
    assert inputs.parse_hrc_token(hrc) == Failure("UNSUPPORTED_VERSION", "hrc_version")
    assert digest == json_digest(document)


@pytest.mark.usefixtures("rebuilt")
def test_the_emptiest_governance_policy_is_valid() -> None:
    document = {
        **cv.governance_policy(),
        "request_max_age_ns": 1,
        "approval_ttl_ns": 1,
        "capabilities": [],
        "models": [],
        "tools": {},
        "categories": {},
        "sensitivity_review": {},
        "reviewers": {},
        "principals": {},
        "workspaces": {},
    }
    policy = governance.GovernancePolicy.from_json(document)
    assert (policy.request_max_age_ns, policy.approval_ttl_ns) == (1, 1)
    assert LeasePolicy.from_json({**cv.base_policy(), "sequence": 0}).sequence == 0


def test_sign_approval_checks_the_digest_length() -> None:
    with pytest.raises(UsageError):
        governance.sign_approval(cv.BOB, bytes(31), "APPROVE", NOW)
    with pytest.raises(UsageError):
        governance.sign_approval(cv.BOB, "00" * 32, "APPROVE", NOW)  # type: ignore[arg-type]


SECOND_NS = cv.SECOND


def test_governance_policy_fields_are_read_into_the_policy() -> None:
    document = cv.governance_policy()
    policy = governance.GovernancePolicy.from_json(document)
    assert policy.org == "acme"
    assert dict(policy.document) == document
    alice = policy.principals[cv.ALICE.public_key]
    assert (alice.name, alice.kind, dict(alice.roles)) == (
        "alice",
        "PERSON",
        {"ops": "viewer", "research": "analyst"},
    )


@pytest.mark.usefixtures("rebuilt")
def test_sixty_four_reviewers_may_share_a_rule() -> None:
    signers = [Ed25519Signer(hashlib.sha256(b"reviewer %d" % n).digest()) for n in range(65)]
    keys = sorted(signer.public_key.hex() for signer in signers)
    document = cv.governance_policy()
    document["reviewers"] = {key: f"r{index}" for index, key in enumerate(keys)}
    document["categories"]["network"] = {
        "decision": "REVIEW",
        "reviewers": keys[:64],
        "threshold": 64,
    }
    document["sensitivity_review"] = {}
    assert governance.GovernancePolicy.from_json(document).category_rules["network"].threshold == 64
    document["categories"]["network"]["reviewers"] = keys
    with pytest.raises(PolicyError, match="TOO_MANY_ITEMS"):
        governance.GovernancePolicy.from_json(document)


@pytest.mark.usefixtures("rebuilt")
def test_lowest_values_of_the_ranges_are_accepted() -> None:
    document = cv.base_manifest()
    assert LeasePolicy.from_json({**cv.base_policy(), "hrc_max_age_ns": 1}).hrc_max_age_ns == 1
    snapshot = parse_trust_snapshot({"snapshot_version": 1, "sequence": 0, "scores": {}})
    assert isinstance(snapshot, TrustSnapshot) and snapshot.sequence == 0
    request = cv.request_for(document, at_ns=0)
    parsed = governance.parse_request(request)
    assert isinstance(parsed, governance.GovernedRequest)
    assert parsed.requested_at == MonotonicTime(cv.EPOCH, 0)


@pytest.mark.usefixtures("rebuilt")
def test_request_shapes_are_judged_with_their_paths() -> None:
    document = cv.base_manifest()
    too_many = {**cv.request_for(document), "tools": [f"t{n:02d}" for n in range(17)]}
    assert governance.parse_request(too_many) == Failure("TOO_MANY_ITEMS", "tools")
    refused = decide(_gov_authority(), document, cv.base_snapshot(), NOW, None, "a request")
    assert isinstance(refused, Deny)
    assert (refused.reason, refused.field) == ("REQUEST_MALFORMED", "request")


def test_a_reviewed_grants_claim_shows_its_approvals_digest() -> None:
    document = cv.base_manifest()
    tools = ("fs.read", "web.fetch")
    approvals = [cv.approval_for(document, cv.BOB), cv.approval_for(document, cv.CAROL)]
    grant = decide(
        _gov_authority(),
        document,
        cv.base_snapshot(),
        NOW,
        None,
        cv.request_for(document, tools=tools),
        approvals,
    )
    assert isinstance(grant, Grant)
    view = grant.claims.to_json()["governance"]
    assert isinstance(view, dict)
    assert view["approvals"] == json_digest(approvals).hex()
