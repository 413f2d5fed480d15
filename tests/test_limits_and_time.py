"""Resource limits (spec §9) and time and clock faults (spec §2.2, §4, §4.2, §7.3, §8).

**Limits.** §9: "Limits are checked before the work they bound, so oversized input costs time
and memory proportional to the limit, not to the input." Every entry point that takes untrusted
input is fed a 1 MB and a 100 MB input (bytes and strings) and a 10^6-deep nesting (built
iteratively: a Python value that deep cannot be built, walked or printed by recursion), and
must refuse it with the documented reason within a generous CPU-time bound and with a traced
peak allocation that does not grow with the input: the 100 MB input may allocate at most
``SLACK`` more than the larger of the 1 MB input's peak and the entry point's own documented
limit. The inputs are built before tracing starts, so the input itself is not counted. A
linear scan or a copy of the input fails these bounds by two orders of magnitude; scheduling
noise does not come near them.

When these tests were written, five entry points were not bounded (a string value or a member
name encoded before its length was judged, a name quoted whole into the field path, parse_json
and check_line without a size limit, an over-long integer literal escaping as ValueError); all
are fixed, and these tests keep them so.

**Time.** Every fault must fail closed: a reading before the issue time, another epoch, the
ends of the representable range, durations that would overflow, HRCs from the future or of
exactly the maximum age. Expected reasons are the spec's, computed here from its tables.
"""

from __future__ import annotations

import gc
import io
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pda_lease import (
    Active,
    Authority,
    Deny,
    Grant,
    InvalidLease,
    LeasePolicy,
    MonotonicTime,
    Sensitivity,
    UsageError,
    decode_unverified,
    json_digest,
    open_token,
    sign_holder_proof,
    standing,
    verify_token,
)
from pda_lease.adapters import FakeClock, MemoryAuditLog, MemoryLeaseStore, MemoryTrustSource
from pda_lease.adapters.audit import GENESIS_HASH, AuditProblem, check_line
from pda_lease.adapters.jsonio import JsonInputError, parse_json
from pda_lease.cli import main
from pda_lease.conformance import (
    CHALLENGE,
    EPOCH,
    HOLDER,
    ISSUER,
    OTHER_EPOCH,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
    hrc_for,
)
from pda_lease.manager import LeaseManager
from pda_lease.receipt import ReceiptError, ReceiptFailure, verify_receipt
from pda_lease.transparency import (
    NoteError,
    NoteErrorReason,
    VerifierKey,
    open_checkpoint,
    open_note,
)

# ------------------------------------------------------------------------------ fixture

MB = 1_000_000
SMALL = 1 * MB
LARGE = 100 * MB
DEEP = 10**6
SLACK = 8 << 20  # allowed peak beyond max(small input's peak, documented limit)
MAX_SECONDS = 2.0  # CPU time; a bounded refusal takes milliseconds

# Spec §9 (and the documented limits of the shell's readers, named where used).
MANIFEST_BYTES = 65_536
SNAPSHOT_BYTES = 1 << 20
TOKEN_BYTES = 4096
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT63_MAX = 2**63 - 1

POLICY = LeasePolicy.from_json(base_policy())
AUTHORITY = Authority(ISSUER, POLICY)
NOW = MonotonicTime(EPOCH, 100 * SECOND)
TASK = "task-2026-0001"
MANIFEST = base_manifest()
HIGH = base_manifest("HIGH")  # HIGH needs an HRC under base_policy (hrc_required_for)
SNAPSHOT = base_snapshot()
HIGH_SNAPSHOT = base_snapshot(9500)  # above the HIGH threshold (9000)
VERIFIER = VerifierKey(POLICY.issuer, ISSUER.public_key)


def _grant(manifest: dict[str, Any], now: MonotonicTime = NOW, hrc: object = None) -> Grant:
    decision = AUTHORITY.decide(manifest, SNAPSHOT if hrc is None else HIGH_SNAPSHOT, now, hrc)
    assert isinstance(decision, Grant), decision
    return decision


GRANT = _grant(MANIFEST)
PROOF = sign_holder_proof(HOLDER, GRANT.lease_id, CHALLENGE)


def measure(call: Callable[[], object]) -> tuple[object, float, int]:
    """(result or raised exception, CPU seconds, traced peak bytes) of ``call()``."""
    gc.collect()
    tracemalloc.start()
    try:
        started = time.process_time()
        try:
            outcome: object = call()
        except Exception as exc:  # the refusal itself is the result under test
            outcome = exc
        elapsed = time.process_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return outcome, elapsed, peak


def assert_bounded(
    make: Callable[[int], object],
    call: Callable[[object], object],
    check: Callable[[object], None],
    limit: int = 0,
    large: int = LARGE,
) -> None:
    """``call`` refuses ``make(SMALL)`` and ``make(LARGE)`` (judged by ``check``), bounded."""
    small_input = make(SMALL)
    small, _, small_peak = measure(lambda: call(small_input))
    check(small)
    large_input = make(large)
    refusal, elapsed, peak = measure(lambda: call(large_input))
    check(refusal)
    assert elapsed < MAX_SECONDS, f"{elapsed:.2f} s of CPU for a {large // MB} MB input"
    cap = max(small_peak, limit) + SLACK
    assert peak < cap, f"peak {peak / MB:.1f} MB for {large // MB} MB (cap {cap / MB:.1f} MB)"


def assert_deep_bounded(call: Callable[[], object], check: Callable[[object], None]) -> None:
    outcome, elapsed, peak = measure(call)
    check(outcome)
    assert elapsed < MAX_SECONDS
    assert peak < SLACK, f"peak {peak / MB:.1f} MB for a 10^6-deep input"


def nested_dicts(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def nested_lists(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


DEEP_DICT = nested_dicts(DEEP)
DEEP_LIST = nested_lists(DEEP)


def denial(outcome: object, code: str, reason: str, field: str | None = None) -> None:
    assert isinstance(outcome, Deny), outcome
    assert (str(outcome.code), outcome.reason) == (code, reason)
    if field is not None:
        assert outcome.field == field


def invalid(outcome: object, code: str, reason: str) -> None:
    assert isinstance(outcome, InvalidLease), outcome
    assert (str(outcome.deny.code), outcome.deny.reason) == (code, reason)


def verify(token: bytes, now: MonotonicTime = NOW, proof: object = PROOF) -> object:
    return verify_token(
        token,
        issuer_public_key=ISSUER.public_key,
        task_id=TASK,
        manifest_digest=GRANT.claims.manifest_digest,
        now=now,
        holder_proof=proof,
    )


def outcome_of(call: Callable[[], object]) -> object:
    try:
        return call()
    except Exception as exc:
        return exc


# Reasons of the §4.1 walk, and the field path written as §4.1 prescribes.
def manifest_denied(reason: str, field: str | None = None) -> Callable[[object], None]:
    return lambda outcome: denial(outcome, "INVALID_MANIFEST", reason, field)


def snapshot_denied(field: str | None = None) -> Callable[[object], None]:
    return lambda outcome: denial(outcome, "INSUFFICIENT_TRUST", "SNAPSHOT_INVALID", field)


def hrc_denied(field: str | None = None) -> Callable[[object], None]:
    return lambda outcome: denial(outcome, "HRC_REQUIRED", "HRC_MALFORMED", field)


def proof_refused(outcome: object) -> None:
    invalid(outcome, "INVALID_TOKEN", "HOLDER_PROOF_MALFORMED")


def token_too_large(outcome: object) -> None:
    invalid(outcome, "INVALID_TOKEN", "TOO_LARGE")


NAME_LARGE = 8 * MB


def with_member(document: dict[str, Any], name: object) -> dict[str, Any]:
    return {**document, str(name): 1}


def text(size: int) -> str:
    return "a" * size


# --------------------------------------------------------- §9: manifests (Authority.decide)


def test_manifest_huge_string_value_is_too_long_in_bounded_work() -> None:
    assert_bounded(
        text,
        lambda s: AUTHORITY.decide(dict(MANIFEST, inputs={"x": s}), SNAPSHOT, NOW),
        manifest_denied("STRING_TOO_LONG", "inputs.x"),
    )


def test_manifest_huge_string_value_is_too_long_in_bounded_time() -> None:
    """The part of the bound that holds today: the refusal and its time (not its memory)."""
    huge = text(LARGE)
    outcome, elapsed, _ = measure(
        lambda: AUTHORITY.decide(dict(MANIFEST, task_id=huge), SNAPSHOT, NOW)
    )
    manifest_denied("STRING_TOO_LONG", "task_id")(outcome)
    assert elapsed < MAX_SECONDS


def test_manifest_huge_member_name_is_too_long_in_bounded_work() -> None:
    assert_bounded(
        text,
        lambda s: AUTHORITY.decide(dict(MANIFEST, inputs={s: 1}), SNAPSHOT, NOW),
        manifest_denied("STRING_TOO_LONG"),
        large=NAME_LARGE,
    )


def test_manifest_with_too_many_members_is_refused_before_they_are_read() -> None:
    def make_list(size: int) -> object:
        return dict(MANIFEST, inputs={"x": [0] * (size // 8)})  # 8 bytes per slot

    assert_bounded(
        make_list,
        lambda m: AUTHORITY.decide(m, SNAPSHOT, NOW),
        manifest_denied("TOO_MANY_ITEMS", "inputs.x"),
    )
    # Member count before member names (§4.1 step 2): a million non-text names are never read.
    members = dict.fromkeys(range(10**6), 0)
    outcome, elapsed, peak = measure(
        lambda: AUTHORITY.decide(dict(MANIFEST, inputs=members), SNAPSHOT, NOW)
    )
    manifest_denied("TOO_MANY_ITEMS", "inputs")(outcome)
    assert elapsed < MAX_SECONDS and peak < SLACK


def test_manifest_whose_encoding_would_be_gigabytes_is_too_large_early() -> None:
    """1024 x 1024 strings of 4096 bytes: each within its limits, 4 GiB in all (shared
    objects, so cheap to build). The running size of §4.1 step 3 stops the walk at 64 KiB."""
    chunk = text(4096)
    row = [chunk] * 1024
    inputs = {"x": [row] * 1024}
    outcome, elapsed, peak = measure(
        lambda: AUTHORITY.decide(dict(MANIFEST, inputs=inputs), SNAPSHOT, NOW)
    )
    manifest_denied("TOO_LARGE")(outcome)
    assert isinstance(outcome, Deny) and outcome.field is not None
    assert outcome.field.startswith("inputs.x[0][")
    # 64 KiB is crossed within the first row: at string 15 (16 x 4099 bytes > 65536).
    assert outcome.field == "inputs.x[0][15]"
    assert elapsed < MAX_SECONDS and peak < SLACK


@pytest.mark.parametrize("kind", ["dict", "list"])
def test_manifest_nested_a_million_deep_is_too_deep(kind: str) -> None:
    deep: object = DEEP_DICT if kind == "dict" else DEEP_LIST
    assert_deep_bounded(
        lambda: AUTHORITY.decide(dict(MANIFEST, inputs={"x": deep}), SNAPSHOT, NOW),
        manifest_denied("TOO_DEEP"),
    )
    # The manifest itself a million levels deep: depth 17 is the first violation (§9: 16).
    assert_deep_bounded(
        lambda: AUTHORITY.decide(DEEP_DICT, SNAPSHOT, NOW),
        manifest_denied("TOO_DEEP", ".".join(["a"] * 16)),
    )


# -------------------------------------------------------------- §9: trust snapshots


def test_snapshot_huge_string_is_invalid_in_bounded_work() -> None:
    assert_bounded(
        text,
        lambda s: AUTHORITY.decide(MANIFEST, dict(SNAPSHOT, note=s), NOW),
        snapshot_denied("note"),
        SNAPSHOT_BYTES,
    )


def test_snapshot_huge_capability_name_is_invalid_in_bounded_work() -> None:
    assert_bounded(
        text,
        lambda s: AUTHORITY.decide(MANIFEST, dict(SNAPSHOT, scores={s: 1}), NOW),
        snapshot_denied(),
        SNAPSHOT_BYTES,
        large=NAME_LARGE,
    )


def test_snapshot_with_too_many_scores_or_too_deep_is_invalid_early() -> None:
    scores = dict.fromkeys(range(10**6), 1)  # §9: at most 10000 members; names not read
    outcome, elapsed, peak = measure(
        lambda: AUTHORITY.decide(MANIFEST, dict(SNAPSHOT, scores=scores), NOW)
    )
    snapshot_denied("scores")(outcome)
    assert elapsed < MAX_SECONDS and peak < SLACK
    assert_deep_bounded(
        lambda: AUTHORITY.decide(MANIFEST, dict(SNAPSHOT, scores=DEEP_DICT), NOW),
        snapshot_denied(),
    )
    assert_deep_bounded(lambda: AUTHORITY.decide(MANIFEST, DEEP_LIST, NOW), snapshot_denied("$"))


# -------------------------------------------------------------------- §9: HRC tokens


def test_hrc_huge_string_is_malformed_in_bounded_work() -> None:
    hrc = hrc_for(HIGH, 90 * SECOND)
    assert_bounded(
        text,
        lambda s: AUTHORITY.decide(HIGH, HIGH_SNAPSHOT, NOW, dict(hrc, signature=s)),
        hrc_denied("signature"),
    )


def test_hrc_huge_member_name_is_malformed_in_bounded_work() -> None:
    hrc = hrc_for(HIGH, 90 * SECOND)
    assert_bounded(
        text,
        lambda s: AUTHORITY.decide(HIGH, HIGH_SNAPSHOT, NOW, with_member(hrc, s)),
        hrc_denied(),
        large=NAME_LARGE,
    )


def test_hrc_deep_or_with_many_members_is_malformed_early() -> None:
    hrc = hrc_for(HIGH, 90 * SECOND)
    assert_deep_bounded(
        lambda: AUTHORITY.decide(HIGH, HIGH_SNAPSHOT, NOW, dict(hrc, confirmed_at=DEEP_DICT)),
        hrc_denied(),
    )
    assert_deep_bounded(lambda: AUTHORITY.decide(HIGH, HIGH_SNAPSHOT, NOW, DEEP_LIST), hrc_denied())
    wide = [0] * (LARGE // 8)
    outcome, elapsed, peak = measure(
        lambda: AUTHORITY.decide(HIGH, HIGH_SNAPSHOT, NOW, dict(hrc, extra=wide))
    )
    hrc_denied("extra")(outcome)
    assert elapsed < MAX_SECONDS and peak < SLACK


# ------------------------------------------------------------------ §9: holder proofs


def test_holder_proof_huge_string_is_malformed_in_bounded_work() -> None:
    assert_bounded(
        text,
        lambda s: outcome_of(lambda: verify(GRANT.token, proof=dict(PROOF, challenge=s))),
        proof_refused,
    )


def test_holder_proof_huge_member_name_is_malformed_in_bounded_work() -> None:
    assert_bounded(
        text,
        lambda s: outcome_of(lambda: verify(GRANT.token, proof=with_member(PROOF, s))),
        proof_refused,
        large=NAME_LARGE,
    )


def test_holder_proof_deep_is_malformed_early() -> None:
    assert_deep_bounded(
        lambda: verify(GRANT.token, proof=dict(PROOF, challenge=DEEP_LIST)), proof_refused
    )
    assert_deep_bounded(lambda: verify(GRANT.token, proof=DEEP_DICT), proof_refused)


# --------------------------------------------------------------------- §9: token bytes


@pytest.mark.parametrize("entry", ["open_token", "verify_token", "decode_unverified"])
def test_token_of_any_size_is_too_large_without_reading_it(entry: str) -> None:
    calls: dict[str, Callable[[object], object]] = {
        "open_token": lambda t: open_token(t, issuer_public_key=ISSUER.public_key),  # type: ignore[arg-type]
        "verify_token": verify,  # type: ignore[dict-item]
        "decode_unverified": decode_unverified,  # type: ignore[dict-item]
    }
    call = calls[entry]
    assert_bounded(
        lambda size: GRANT.token + b"\x81" * size,  # 0x81: array(1), i.e. nested deep
        lambda t: outcome_of(lambda: call(t)),
        token_too_large,
        TOKEN_BYTES,
    )
    # A 10^6-deep token is 10^6 bytes: the size limit decides before the depth limit (§7.3).
    token_too_large(outcome_of(lambda: call(b"\x81" * DEEP + b"\x80")))


# -------------------------------------------------------------- JSON text: parse_json


@pytest.mark.parametrize("as_bytes", [False, True])
def test_parse_json_refuses_huge_text_in_bounded_work(as_bytes: bool) -> None:
    """No limit is documented for parse_json; any limit up to the CLI's 16 MiB would do."""
    literal = '"' + "a" * (LARGE - 2) + '"'
    document: str | bytes = literal.encode() if as_bytes else literal
    outcome, elapsed, peak = measure(lambda: parse_json(document))
    assert isinstance(outcome, JsonInputError), type(outcome)
    assert elapsed < MAX_SECONDS and peak < (16 << 20) + SLACK


@pytest.mark.parametrize("opener", ["[", '{"a":'])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_parse_json_refuses_a_million_levels_deep(opener: str, as_bytes: bool) -> None:
    deep = opener * DEEP
    document: str | bytes = deep.encode() if as_bytes else deep

    def refused(outcome: object) -> None:
        assert isinstance(outcome, JsonInputError) and "too deep" in str(outcome)

    assert_deep_bounded(lambda: parse_json(document), refused)


@pytest.mark.parametrize("digits", [4301, 10**5])
def test_parse_json_refuses_an_integer_literal_beyond_the_conversion_limit(digits: int) -> None:
    with pytest.raises(JsonInputError):
        parse_json("1" * digits)


def test_parse_json_reads_integers_beyond_int64_for_the_kernel_to_deny() -> None:
    """Within the conversion limit, big integers are read exactly (the kernel denies them)."""
    for value in (2**63, 2**64, -(2**63) - 1, 10**1000):
        assert parse_json(str(value)) == value


# ---------------------------------------------------------------------------- the CLI


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[object, str, float, int]:
    """Exit status (or what escaped ``main``), stderr, CPU seconds and traced peak."""
    status, elapsed, peak = measure(lambda: main(argv))
    return status, capsys.readouterr().err, elapsed, peak


CLI_LIMIT = 16 << 20  # cli.MAX_INPUT_BYTES: what the CLI reads of any input


@pytest.mark.parametrize("command", ["decide", "inspect"])  # JSON input; token input
def test_cli_reads_at_most_its_input_limit_from_a_file(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "big.json"
    peaks = []
    for size in (SMALL, LARGE):  # 1 MB of spaces is not JSON (or an empty token): refused
        path.write_bytes(b" " * size)
        status, err, elapsed, peak = run_cli([command, str(path)], capsys)
        assert status in {1, 2} and elapsed < MAX_SECONDS
        peaks.append(peak)
    assert status == 2 and err.startswith("pda-lease: error:") and "larger than" in err
    assert peaks[1] < max(peaks[0], CLI_LIMIT) + SLACK


def test_cli_reads_at_most_its_input_limit_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Stdin:
        buffer = io.BytesIO(b"[" * LARGE)

    monkeypatch.setattr(sys, "stdin", Stdin())
    status, err, elapsed, peak = run_cli(["decide", "-"], capsys)
    assert status == 2 and "larger than" in err
    assert elapsed < MAX_SECONDS and peak < CLI_LIMIT + SLACK


def test_cli_refuses_a_million_levels_deep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * DEEP + "]" * DEEP, encoding="utf-8")
    status, err, elapsed, _ = run_cli(["decide", str(path)], capsys)
    assert status == 2 and "too deep" in err and elapsed < MAX_SECONDS


def test_cli_receipt_verify_reads_at_most_the_receipt_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """receipt.MAX_RECEIPT_BYTES (16 MiB): from a file or stdin, a larger receipt is refused
    MALFORMED (exit 1) without being read whole."""
    path = tmp_path / "receipt.json"
    peaks = []
    for size in (SMALL, LARGE):
        path.write_bytes(b" " * size)
        argv = ["receipt", "verify", str(path), "--issuer-key", VERIFIER.to_vkey()]
        status, _, elapsed, peak = run_cli(argv, capsys)
        assert status == 1 and elapsed < MAX_SECONDS
        peaks.append(peak)
    assert peaks[1] < max(peaks[0], 16 << 20) + SLACK

    class Stdin:
        buffer = io.BytesIO(b" " * LARGE)

    monkeypatch.setattr(sys, "stdin", Stdin())
    argv = ["receipt", "verify", "-", "--issuer-key", VERIFIER.to_vkey()]
    status, _, elapsed, peak = run_cli(argv, capsys)
    assert status == 1 and elapsed < MAX_SECONDS and peak < (16 << 20) + SLACK


def test_cli_refuses_an_integer_literal_beyond_the_conversion_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "digits.json"
    path.write_text('{"manifest": ' + "1" * 5000 + "}", encoding="utf-8")
    status, err, _, _ = run_cli(["decide", str(path)], capsys)
    assert status == 2 and err.startswith("pda-lease: error:")


# ---------------------------------------------------- notes and checkpoints, receipts


@pytest.mark.parametrize("as_bytes", [False, True])
@pytest.mark.parametrize("entry", ["open_note", "open_checkpoint"])
def test_notes_of_any_size_are_too_large_without_reading_them(as_bytes: bool, entry: str) -> None:
    def make(size: int) -> object:
        note = "x\n" * (size // 2) + "\n"  # a million (or fifty million) lines
        return note.encode() if as_bytes else note

    def call(note: object) -> object:
        if entry == "open_note":
            return outcome_of(lambda: open_note(note, [VERIFIER]))  # type: ignore[arg-type]
        return outcome_of(
            lambda: open_checkpoint(note, [VERIFIER], origin="o")  # type: ignore[arg-type]
        )

    def too_large(outcome: object) -> None:
        assert isinstance(outcome, NoteError) and outcome.reason is NoteErrorReason.TOO_LARGE

    assert_bounded(make, call, too_large, 256 * 1024)


def test_a_note_of_four_byte_characters_just_over_the_limit_is_too_large() -> None:
    """The str check counts UTF-8 bytes, not characters (65537 x 4 bytes > 256 KiB)."""
    note = "\U0001f600" * 65_537
    with pytest.raises(NoteError) as refused:
        open_note(note, [VERIFIER])
    assert refused.value.reason is NoteErrorReason.TOO_LARGE


def receipt_refused(reason: ReceiptFailure) -> Callable[[object], None]:
    def check(outcome: object) -> None:
        assert isinstance(outcome, ReceiptError) and outcome.reason is reason, outcome

    return check


def test_receipts_of_any_size_are_refused_in_bounded_work() -> None:
    """receipt.MAX_RECEIPT_BYTES (16 MiB): larger is MALFORMED before it is parsed."""
    assert_bounded(
        lambda size: b" " * size,
        lambda data: outcome_of(lambda: verify_receipt(data, VERIFIER)),  # type: ignore[arg-type]
        receipt_refused(ReceiptFailure.MALFORMED),
        16 << 20,
    )
    assert_deep_bounded(
        lambda: outcome_of(lambda: verify_receipt(b"[" * DEEP, VERIFIER)),
        receipt_refused(ReceiptFailure.MALFORMED),
    )


def test_receipt_with_an_integer_literal_beyond_the_conversion_limit_is_malformed() -> None:
    with pytest.raises(ReceiptError):
        verify_receipt(b"1" * 5000, VERIFIER)


def test_audit_check_line_refuses_huge_lines_in_bounded_work() -> None:
    def problem(outcome: object) -> None:
        assert isinstance(outcome, AuditProblem), outcome

    assert_bounded(
        lambda size: b'"' + b"a" * (size - 2) + b'"',
        lambda line: outcome_of(lambda: check_line(line, 0, GENESIS_HASH, 0)),  # type: ignore[arg-type]
        problem,
        8 << 20,
    )


def test_audit_check_line_refuses_a_million_levels_deep() -> None:
    def problem(outcome: object) -> None:
        assert isinstance(outcome, AuditProblem) and "too deep" in outcome.problem

    for opener in (b"[", b'{"a":'):
        line = opener * DEEP
        assert_deep_bounded(
            partial(outcome_of, partial(check_line, line, 0, GENESIS_HASH, 0)), problem
        )


def test_audit_check_line_with_an_integer_literal_beyond_the_conversion_limit() -> None:
    with pytest.raises(AuditProblem):
        check_line(b"1" * 5000, 0, GENESIS_HASH, 0)


# ------------------------------------------------------------ §4.1: integer range


OUT_OF_RANGE = [2**63, 2**64, -(2**63) - 1, -(2**64) - 1, 10**1000, -(10**1000)]


@pytest.mark.parametrize("value", OUT_OF_RANGE, ids=lambda v: f"{v}"[:12])
def test_integers_beyond_int64_are_denied_everywhere(value: int) -> None:
    # Manifest: anywhere (opaque inputs, window times): INTEGER_OUT_OF_RANGE at its path.
    decision = AUTHORITY.decide(dict(MANIFEST, inputs={"n": value}), SNAPSHOT, NOW)
    denial(decision, "INVALID_MANIFEST", "INTEGER_OUT_OF_RANGE", "inputs.n")
    window = dict(MANIFEST["window"], not_after_ns=value)
    decision = AUTHORITY.decide(dict(MANIFEST, window=window), SNAPSHOT, NOW)
    denial(decision, "INVALID_MANIFEST", "INTEGER_OUT_OF_RANGE", "window.not_after_ns")
    # Snapshot: SNAPSHOT_INVALID at the path (a name with "." is quoted, §4.1).
    scores = dict(SNAPSHOT["scores"], **{"files.read": value})
    decision = AUTHORITY.decide(MANIFEST, dict(SNAPSHOT, scores=scores), NOW)
    denial(decision, "INSUFFICIENT_TRUST", "SNAPSHOT_INVALID", 'scores["files.read"]')
    decision = AUTHORITY.decide(MANIFEST, dict(SNAPSHOT, sequence=value), NOW)
    denial(decision, "INSUFFICIENT_TRUST", "SNAPSHOT_INVALID", "sequence")
    # HRC: HRC_MALFORMED at the path.
    hrc = hrc_for(HIGH, 90 * SECOND)
    confirmed = {"epoch": EPOCH, "ns": value}
    decision = AUTHORITY.decide(HIGH, HIGH_SNAPSHOT, NOW, dict(hrc, confirmed_at=confirmed))
    denial(decision, "HRC_REQUIRED", "HRC_MALFORMED", "confirmed_at.ns")
    decision = AUTHORITY.decide(HIGH, HIGH_SNAPSHOT, NOW, dict(hrc, hrc_version=value))
    denial(decision, "HRC_REQUIRED", "HRC_MALFORMED", "hrc_version")
    # Holder proof: malformed.
    invalid(outcome_of(lambda: verify(GRANT.token, proof=dict(PROOF, n=value))), *MALFORMED)


MALFORMED = ("INVALID_TOKEN", "HOLDER_PROOF_MALFORMED")


def test_int64_bounds_are_inclusive_in_opaque_inputs() -> None:
    for value in (INT64_MIN, INT64_MAX, 0, -1):
        assert isinstance(
            AUTHORITY.decide(dict(MANIFEST, inputs={"n": value}), SNAPSHOT, NOW), Grant
        )


@pytest.mark.parametrize("value", [-1, INT64_MIN, True])
def test_window_times_below_zero_or_boolean_are_wrong_values(value: object) -> None:
    window = dict(MANIFEST["window"], not_before_ns=value)
    reason = "WRONG_TYPE" if value is True else "BAD_VALUE"
    decision = AUTHORITY.decide(dict(MANIFEST, window=window), SNAPSHOT, NOW)
    denial(decision, "INVALID_MANIFEST", reason, "window.not_before_ns")


# ================================================================== time and clock faults


def test_monotonic_time_accepts_exactly_the_uint63_range() -> None:
    for ns in (0, 1, UINT63_MAX - 1, UINT63_MAX):
        assert MonotonicTime(EPOCH, ns).ns == ns
    for bad in (-1, UINT63_MAX + 1, 2**64, -(2**63), True, False, 1.0, "0", None):
        with pytest.raises(UsageError):
            MonotonicTime(EPOCH, bad)  # type: ignore[arg-type]
    for epoch in ("", "a" * 65, "boot id", "é", 1):
        with pytest.raises(UsageError):
            MonotonicTime(epoch, 0)  # type: ignore[arg-type]
    assert MonotonicTime("a" * 64, 0).epoch == "a" * 64


def test_fake_clock_refuses_to_step_back_or_past_the_end() -> None:
    clock = FakeClock(EPOCH, UINT63_MAX - 1)
    with pytest.raises(ValueError):
        clock.advance(-1)
    clock.advance(1)
    assert clock.now() == MonotonicTime(EPOCH, UINT63_MAX)
    with pytest.raises(UsageError):
        clock.advance(1)  # 2^63 is not a MonotonicTime: no wrap-around to 0
    assert clock.now() == MonotonicTime(EPOCH, UINT63_MAX)


def manifest_with_window(not_before: int, not_after: int, epoch: str = EPOCH) -> dict[str, Any]:
    window = {"epoch": epoch, "not_before_ns": not_before, "not_after_ns": not_after}
    return dict(base_manifest(), window=window)


def expected_window(manifest: dict[str, Any], now: MonotonicTime) -> str | None:
    """§4 step 2, from the spec's table: half-open window in its own epoch."""
    window = manifest["window"]
    if window["epoch"] != now.epoch:
        return "EPOCH_MISMATCH"
    if now.ns < window["not_before_ns"]:
        return "WINDOW_NOT_OPEN"
    if now.ns >= window["not_after_ns"]:
        return "WINDOW_CLOSED"
    return None


@given(
    bounds=st.lists(st.integers(0, UINT63_MAX), min_size=2, max_size=2, unique=True).map(sorted),
    now_ns=st.one_of(st.integers(0, UINT63_MAX), st.sampled_from([0, UINT63_MAX])),
    same_epoch=st.booleans(),
)
def test_window_is_half_open_and_epoch_bound_across_the_whole_range(
    bounds: list[int], now_ns: int, same_epoch: bool
) -> None:
    manifest = manifest_with_window(bounds[0], bounds[1])
    now = MonotonicTime(EPOCH if same_epoch else OTHER_EPOCH, now_ns)
    decision = AUTHORITY.decide(manifest, SNAPSHOT, now)
    expected = expected_window(manifest, now)
    if expected is None:
        assert isinstance(decision, Grant)
        duration = POLICY.lease_duration_ns[Sensitivity.LOW]
        assert decision.claims.issued_at_ns == now_ns
        assert decision.claims.expires_at_ns == min(now_ns + duration, bounds[1])
        assert now_ns < decision.claims.expires_at_ns <= UINT63_MAX
    else:
        denial(decision, "LEASE_EXPIRED", expected)


@pytest.mark.parametrize(
    ("window", "now_ns", "expected"),
    [
        ((0, 1), 0, None),  # the very first nanosecond
        ((0, UINT63_MAX), UINT63_MAX - 1, None),  # the very last grantable nanosecond
        ((0, UINT63_MAX), UINT63_MAX, "WINDOW_CLOSED"),  # half-open: end excluded
        ((UINT63_MAX - 1, UINT63_MAX), UINT63_MAX - 2, "WINDOW_NOT_OPEN"),
        ((5, 6), 4, "WINDOW_NOT_OPEN"),
    ],
)
def test_window_edges_at_the_ends_of_time(
    window: tuple[int, int], now_ns: int, expected: str | None
) -> None:
    decision = AUTHORITY.decide(
        manifest_with_window(*window), SNAPSHOT, MonotonicTime(EPOCH, now_ns)
    )
    if expected is None:
        assert isinstance(decision, Grant)
        assert decision.claims.expires_at_ns == min(now_ns + 300 * SECOND, window[1])
    else:
        denial(decision, "LEASE_EXPIRED", expected)


def policy_with_duration(low: int) -> LeasePolicy:
    durations = {"LOW": low, "MEDIUM": min(low, 5), "HIGH": 1}
    return LeasePolicy.from_json(dict(base_policy(), lease_duration_ns=durations))


@given(
    duration=st.one_of(st.integers(1, 86_400_000_000_000), st.just(86_400_000_000_000)),
    back=st.integers(1, 2 * 86_400_000_000_000),
    not_after_back=st.integers(0, 10),
)
def test_lease_expiry_near_the_end_of_time_never_exceeds_the_window_or_wraps(
    duration: int, back: int, not_after_back: int
) -> None:
    """Extends test_lease_clamp_does_not_overflow_at_the_end_of_time: any duration, any
    reading near 2^63 - 1, any window end there. expires = min(now + d, not_after) exactly
    (§4), the lease verifies at issue and one ns before expiry, and is EXPIRED at expiry."""
    not_after = UINT63_MAX - not_after_back
    now_ns = max(0, not_after - back)
    authority = Authority(ISSUER, policy_with_duration(duration))
    manifest = manifest_with_window(0, not_after)
    now = MonotonicTime(EPOCH, now_ns)
    decision = authority.decide(manifest, SNAPSHOT, now)
    assert isinstance(decision, Grant)
    expires = decision.claims.expires_at_ns
    assert expires == min(now_ns + duration, not_after) <= UINT63_MAX
    assert expires > now_ns
    digest = json_digest(manifest)
    proof = sign_holder_proof(HOLDER, decision.lease_id, CHALLENGE)

    def at(ns: int) -> object:
        return outcome_of(
            lambda: verify_token(
                decision.token,
                issuer_public_key=ISSUER.public_key,
                task_id=TASK,
                manifest_digest=digest,
                now=MonotonicTime(EPOCH, ns),
                holder_proof=proof,
            )
        )

    assert not isinstance(at(now_ns), Exception)
    assert not isinstance(at(expires - 1), Exception)
    invalid(at(expires), "LEASE_EXPIRED", "EXPIRED")
    invalid(at(UINT63_MAX), "LEASE_EXPIRED", "EXPIRED")
    if now_ns > 0:
        invalid(at(now_ns - 1), "LEASE_EXPIRED", "NOT_YET_VALID")


def expected_time_standing(issued: int, expires: int, epoch: str, now: MonotonicTime) -> str | None:
    """§7.3 steps 13-15 and §8 steps 1-3."""
    if now.epoch != epoch:
        return "EPOCH_MISMATCH"
    if now.ns < issued:
        return "NOT_YET_VALID"
    if now.ns >= expires:
        return "EXPIRED"
    return None


@given(
    now_ns=st.one_of(
        st.integers(0, UINT63_MAX),
        st.integers(NOW.ns - 2, GRANT.claims.expires_at_ns + 2),
        st.sampled_from([0, NOW.ns - 1, NOW.ns, GRANT.claims.expires_at_ns, UINT63_MAX]),
    ),
    same_epoch=st.booleans(),
)
def test_a_clock_read_backwards_or_in_another_epoch_fails_verify_and_standing(
    now_ns: int, same_epoch: bool
) -> None:
    now = MonotonicTime(EPOCH if same_epoch else OTHER_EPOCH, now_ns)
    claims = GRANT.claims
    expected = expected_time_standing(claims.issued_at_ns, claims.expires_at_ns, EPOCH, now)
    verified = outcome_of(lambda: verify(GRANT.token, now=now))
    standing_now = standing(claims, now, SNAPSHOT, POLICY)
    if expected is None:
        assert not isinstance(verified, Exception)
        assert isinstance(standing_now, Active)
    else:
        invalid(verified, "LEASE_EXPIRED", expected)
        denial(standing_now, "LEASE_EXPIRED", expected)


EPOCH_MISMATCH = ("LEASE_EXPIRED", "EPOCH_MISMATCH")


def test_epoch_change_is_expired_at_every_step_whatever_the_number() -> None:
    """Another epoch is expired even at the very same ns, and never compared numerically."""
    for ns in (0, NOW.ns, UINT63_MAX):
        other = MonotonicTime(OTHER_EPOCH, ns)
        denial(AUTHORITY.decide(MANIFEST, SNAPSHOT, other), "LEASE_EXPIRED", "EPOCH_MISMATCH")
        invalid(outcome_of(partial(verify, GRANT.token, now=other)), *EPOCH_MISMATCH)
        denial(standing(GRANT.claims, other, SNAPSHOT, POLICY), "LEASE_EXPIRED", "EPOCH_MISMATCH")
    # An HRC from another epoch, for a window and a reading in this one.
    hrc = hrc_for(HIGH, NOW.ns - SECOND, epoch=OTHER_EPOCH)
    denial(AUTHORITY.decide(HIGH, HIGH_SNAPSHOT, NOW, hrc), "HRC_REQUIRED", "HRC_EPOCH_MISMATCH")
    # A window of another epoch, read in that epoch, with an HRC of this one.
    other_high = dict(HIGH, window=dict(HIGH["window"], epoch=OTHER_EPOCH))
    other_now = MonotonicTime(OTHER_EPOCH, NOW.ns)
    hrc = hrc_for(other_high, NOW.ns - SECOND, epoch=EPOCH)
    denial(
        AUTHORITY.decide(other_high, HIGH_SNAPSHOT, other_now, hrc),
        "HRC_REQUIRED",
        "HRC_EPOCH_MISMATCH",
    )


def expected_hrc_age(confirmed_ns: int, now_ns: int, max_age: int) -> str | None:
    """§3.3 / §4.2 steps 7-8: 0 <= now - confirmed < max age."""
    if now_ns < confirmed_ns:
        return "HRC_FROM_FUTURE"
    if now_ns - confirmed_ns >= max_age:
        return "HRC_TOO_OLD"
    return None


MAX_AGE = base_policy()["hrc_max_age_ns"]


@given(
    offset=st.one_of(
        st.integers(-2 * MAX_AGE, 2 * MAX_AGE),
        st.sampled_from([-1, 0, 1, MAX_AGE - 1, MAX_AGE, MAX_AGE + 1]),
    ),
    now_ns=st.sampled_from([200 * SECOND, 3000 * SECOND]),
)
def test_hrc_age_is_half_open_from_confirmation_to_max_age(offset: int, now_ns: int) -> None:
    """An HRC confirmed ``offset`` ns before now (negative: in the future)."""
    confirmed = now_ns - offset
    now = MonotonicTime(EPOCH, now_ns)
    decision = AUTHORITY.decide(HIGH, HIGH_SNAPSHOT, now, hrc_for(HIGH, confirmed))
    expected = expected_hrc_age(confirmed, now_ns, MAX_AGE)
    if expected is None:
        assert isinstance(decision, Grant)
        assert decision.claims.hrc_digest is not None
    else:
        denial(decision, "HRC_REQUIRED", expected)


def test_hrc_at_the_ends_of_time() -> None:
    end = manifest_with_window(0, UINT63_MAX)
    end_high = dict(end, constraints=dict(end["constraints"], sensitivity="HIGH"))
    last = MonotonicTime(EPOCH, UINT63_MAX - 1)
    assert isinstance(
        AUTHORITY.decide(end_high, HIGH_SNAPSHOT, last, hrc_for(end_high, last.ns)), Grant
    )
    old = hrc_for(end_high, last.ns - MAX_AGE)
    denial(AUTHORITY.decide(end_high, HIGH_SNAPSHOT, last, old), "HRC_REQUIRED", "HRC_TOO_OLD")
    future = hrc_for(end_high, UINT63_MAX)
    denial(
        AUTHORITY.decide(end_high, HIGH_SNAPSHOT, last, future), "HRC_REQUIRED", "HRC_FROM_FUTURE"
    )
    # Confirmed at 0, decided at 0: age 0 is valid.
    first = manifest_with_window(0, 10)
    first_high = dict(first, constraints=dict(first["constraints"], sensitivity="HIGH"))
    zero = MonotonicTime(EPOCH, 0)
    assert isinstance(
        AUTHORITY.decide(first_high, HIGH_SNAPSHOT, zero, hrc_for(first_high, 0)), Grant
    )


# ----------------------------------------------------------- the manager's clock (§12.5)


def memory_manager(clock: FakeClock) -> LeaseManager:
    return LeaseManager(
        signer=ISSUER,
        policy=POLICY,
        clock=clock,
        trust_source=MemoryTrustSource(base_snapshot()),
        store=MemoryLeaseStore(),
        audit=MemoryAuditLog(),
    )


def authorize(manager: LeaseManager, grant: Grant, challenge: bytes) -> object:
    proof = sign_holder_proof(HOLDER, grant.lease_id, challenge)
    return outcome_of(
        lambda: manager.authorize(
            grant.token, proof, task_id=TASK, manifest_digest=json_digest(base_manifest())
        )
    )


def test_manager_clock_stepped_back_within_the_epoch_fails_closed() -> None:
    """A clock that reads earlier than a grant (same epoch: a broken or reset counter) makes
    the manager refuse the lease NOT_YET_VALID (§7.3 step 14); it never treats it as live."""
    clock = FakeClock(EPOCH, 100 * SECOND)
    manager = memory_manager(clock)
    decision = manager.acquire(base_manifest())
    assert isinstance(decision, Grant)
    assert not isinstance(authorize(manager, decision, bytes(16)), Exception)
    clock.reboot(EPOCH, 100 * SECOND - 1)  # the same epoch, one ns earlier
    invalid(authorize(manager, decision, bytes([1]) * 16), "LEASE_EXPIRED", "NOT_YET_VALID")
    clock.reboot(EPOCH, 5 * SECOND)  # earlier than the window opens
    denied = manager.acquire(base_manifest())
    denial(denied, "LEASE_EXPIRED", "WINDOW_NOT_OPEN")
    invalid(authorize(manager, decision, bytes([2]) * 16), "LEASE_EXPIRED", "NOT_YET_VALID")
    (lease,) = manager.status().leases  # status never shows it live either
    assert (lease.state, lease.code, lease.reason) == ("expired", "LEASE_EXPIRED", "NOT_YET_VALID")
    # Forward again to the issue time: the same lease is live again (§8: ACTIVE at issue).
    clock.reboot(EPOCH, 100 * SECOND)
    assert not isinstance(authorize(manager, decision, bytes([3]) * 16), Exception)


def test_manager_epoch_change_ends_every_lease() -> None:
    clock = FakeClock(EPOCH, 100 * SECOND)
    manager = memory_manager(clock)
    decision = manager.acquire(base_manifest())
    assert isinstance(decision, Grant)
    clock.reboot(OTHER_EPOCH, 100 * SECOND)  # a reboot that happens to read the same ns
    invalid(authorize(manager, decision, bytes(16)), "LEASE_EXPIRED", "EPOCH_MISMATCH")
    denial(manager.acquire(base_manifest()), "LEASE_EXPIRED", "EPOCH_MISMATCH")
    states = {lease.lease.lease_id: lease for lease in manager.status().leases}
    assert states[decision.lease_id].state == "expired"
    assert states[decision.lease_id].reason == "EPOCH_MISMATCH"


def test_manager_hrc_from_the_future_or_exactly_max_age_is_refused() -> None:
    clock = FakeClock(EPOCH, 100 * SECOND)
    manager = LeaseManager(
        signer=ISSUER,
        policy=POLICY,
        clock=clock,
        trust_source=MemoryTrustSource(base_snapshot(9500)),
        store=MemoryLeaseStore(),
        audit=MemoryAuditLog(),
    )
    high = base_manifest("HIGH")
    denial(
        manager.acquire(high, hrc_for(high, 100 * SECOND + 1)), "HRC_REQUIRED", "HRC_FROM_FUTURE"
    )
    denial(
        manager.acquire(high, hrc_for(high, 100 * SECOND - MAX_AGE)), "HRC_REQUIRED", "HRC_TOO_OLD"
    )
    assert isinstance(manager.acquire(high, hrc_for(high, 100 * SECOND - MAX_AGE + 1)), Grant)
