"""Tampering beyond lease tokens: HRC tokens, holder proofs, checkpoints, receipts.

tests/test_token_tamper.py covers the token itself and the holder-proof cases named there;
tests/test_checkpoint.py flips bytes of a generic checkpoint through ``open_note``;
tests/test_receipt.py flips every byte of a receipt. This file adds what those leave out.

Expected reasons are derived here from the spec, never read back from the code:

* HRC (spec §3.3, §4.2): a change that breaks the §3.3 format (a non-hex or uppercase digit, a
  wrong length, an epoch outside ``^[A-Za-z0-9-]{1,64}$``, a renamed, missing or extra member)
  is ``HRC_MALFORMED``; a well-formed ``key_id`` that is not the thumbprint of a registered key
  is ``HRC_UNKNOWN_KEY``; any other change of a signed field (``manifest_digest``,
  ``confirmed_at``) or of the signature is ``HRC_BAD_SIGNATURE`` (step 4 is judged before the
  signed fields, steps 5-8). A correctly signed HRC for another manifest, epoch or time gets
  steps 5-8.
* Holder proof (§7.2, §7.3 steps 18-19): format breaks are ``HOLDER_PROOF_MALFORMED``, a
  well-formed proof that does not verify is ``HOLDER_PROOF_INVALID``.
* Checkpoints (§12.9) and receipts (§12.11) have no reason table; they must be refused, and
  the reason asserted is the one the module documents for the check the spec names.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import cbor2
import nacl.signing
import pytest

from pda_lease import (
    Authority,
    Deny,
    Grant,
    InvalidLease,
    LeasePolicy,
    MonotonicTime,
    json_digest,
    sign_holder_proof,
    verify_token,
)
from pda_lease.adapters import FakeClock, MemoryTrustSource
from pda_lease.adapters.jsonio import JsonInputError, parse_json
from pda_lease.conformance import (
    EPOCH,
    HOLDER,
    HRC_DEVICE,
    ISSUER,
    OTHER_EPOCH,
    OTHER_HOLDER,
    OTHER_ISSUER,
    SECOND,
    UNREGISTERED_HRC,
    base_manifest,
    base_policy,
    base_snapshot,
    vector_seed,
)
from pda_lease.manager import LeaseManager
from pda_lease.receipt import ReceiptError, ReceiptFailure, export_receipt, verify_receipt
from pda_lease.transparency import NoteError, NoteErrorReason, VerifierKey, open_checkpoint

# ================================================================================ HRC tokens

POLICY_DOC = base_policy()
POLICY = LeasePolicy.from_json(POLICY_DOC)
AUTHORITY = Authority(ISSUER, POLICY)
NOW = MonotonicTime(EPOCH, 100 * SECOND)
MAX_AGE: int = POLICY_DOC["hrc_max_age_ns"]
HIGH = base_manifest("HIGH")  # HIGH needs an HRC under base_policy (hrc_required_for)
OTHER_HIGH = dict(HIGH, task_id="task-2026-0002")
SNAPSHOT = base_snapshot(9500)  # above the HIGH threshold (9000)

HRC_CONTEXT = "PDA-HRC-v1"
HEX64 = re.compile(r"[0-9a-f]{64}")
HEX128 = re.compile(r"[0-9a-f]{128}")
EPOCH_RE = re.compile(r"[A-Za-z0-9-]{1,64}")


def thumbprint(public_key: bytes) -> bytes:
    """§6.2: SHA-256 of a3 01 01 20 06 21 58 20 || x."""
    return hashlib.sha256(bytes.fromhex("a301012006215820") + public_key).digest()


def digest(document: object) -> bytes:
    """§2.3: H(det(v)); cbor2's canonical mode sorts like §2.3 for these text-keyed maps."""
    return hashlib.sha256(cbor2.dumps(document, canonical=True)).digest()


def sign_hrc_by_hand(
    seed: bytes,
    manifest_digest: bytes,
    epoch: str,
    ns: int,
    *,
    key_id: bytes | None = None,
) -> dict[str, Any]:
    """An HRC document signed with PyNaCl over det([context, digest, epoch, ns]) (§3.3)."""
    key = nacl.signing.SigningKey(seed)
    signed = cbor2.dumps([HRC_CONTEXT, manifest_digest, epoch, ns])
    return {
        "hrc_version": 1,
        "key_id": (key_id or thumbprint(bytes(key.verify_key))).hex(),
        "manifest_digest": manifest_digest.hex(),
        "confirmed_at": {"epoch": epoch, "ns": ns},
        "signature": key.sign(signed).signature.hex(),
    }


HRC_SEED = vector_seed("hrc")
HIGH_DIGEST = digest(HIGH)
CONFIRMED = 90 * SECOND  # 10 s before NOW: well within the 60 s maximum age
VALID_HRC = sign_hrc_by_hand(HRC_SEED, HIGH_DIGEST, EPOCH, CONFIRMED)
REGISTERED_KIDS = {thumbprint(bytes.fromhex(k)) for k in POLICY_DOC["hrc_keys"]}


def hrc_reason(hrc: object, manifest: dict[str, Any] = HIGH) -> str:
    decision = AUTHORITY.decide(manifest, SNAPSHOT, NOW, hrc)
    if isinstance(decision, Grant):
        return "GRANT"
    assert isinstance(decision, Deny)
    if decision.reason != "HRC_MISSING" and decision.reason.startswith("HRC_"):
        assert str(decision.code) == "HRC_REQUIRED"
    return decision.reason


def test_fixture_hrc_is_valid_and_built_independently() -> None:
    assert digest(HIGH) == json_digest(HIGH)
    assert thumbprint(HRC_DEVICE.public_key) in REGISTERED_KIDS
    assert hrc_reason(VALID_HRC) == "GRANT"
    assert hrc_reason(None) == "HRC_MISSING"


# A replacement alphabet covering every class of character a §3.3 rule distinguishes.
ALPHABET = "0123456789abcdef" + "ABCF" + "gz" + "-_. /" + "\x00\n" + "é\u2014" + "\ud800"


def hex_field_expectation(field: str, mutated: str) -> str:
    """§4.2 for a single-character change of a hex field of an otherwise valid HRC."""
    pattern = HEX128 if field == "signature" else HEX64
    if not pattern.fullmatch(mutated):
        return "HRC_MALFORMED"
    if field == "key_id":
        # Another well-formed key id: the one registered key has exactly one thumbprint.
        assert bytes.fromhex(mutated) not in REGISTERED_KIDS
        return "HRC_UNKNOWN_KEY"
    return "HRC_BAD_SIGNATURE"  # the signed digest, or the signature itself, changed


def single_character_changes(value: str) -> list[str]:
    """Every substitution from ALPHABET, every deletion, and an insertion at every position."""
    out: list[str] = []
    for index, original in enumerate(value):
        out.extend(value[:index] + c + value[index + 1 :] for c in ALPHABET if c != original)
        out.append(value[:index] + value[index + 1 :])
    for index in range(len(value) + 1):
        out.extend(value[:index] + c + value[index:] for c in "0a-")
    return out


@pytest.mark.parametrize("field", ["key_id", "manifest_digest", "signature"])
def test_every_single_character_change_of_a_hex_field(field: str) -> None:
    seen: set[str] = set()
    for mutated in single_character_changes(VALID_HRC[field]):
        expected = hex_field_expectation(field, mutated)
        seen.add(expected)
        assert hrc_reason(dict(VALID_HRC, **{field: mutated})) == expected, (field, mutated)
    assert "HRC_MALFORMED" in seen and len(seen) == 2  # both kinds of change were exercised


def test_every_single_character_change_of_the_epoch() -> None:
    """The epoch is signed: a still well-formed epoch is a bad signature, not an epoch
    mismatch (§4.2: step 4 before step 6); an ill-formed one is malformed."""
    seen = set()
    for mutated in single_character_changes(EPOCH):
        expected = "HRC_BAD_SIGNATURE" if EPOCH_RE.fullmatch(mutated) else "HRC_MALFORMED"
        seen.add(expected)
        hrc = dict(VALID_HRC, confirmed_at={"epoch": mutated, "ns": CONFIRMED})
        assert hrc_reason(hrc) == expected, mutated
    assert seen == {"HRC_BAD_SIGNATURE", "HRC_MALFORMED"}


@pytest.mark.parametrize(
    ("ns", "expected"),
    [
        (CONFIRMED + 1, "HRC_BAD_SIGNATURE"),
        (CONFIRMED - 1, "HRC_BAD_SIGNATURE"),
        (CONFIRMED ^ 1 << 40, "HRC_BAD_SIGNATURE"),
        (0, "HRC_BAD_SIGNATURE"),
        (2**63 - 1, "HRC_BAD_SIGNATURE"),  # moved into the future, not re-signed
        (-1, "HRC_MALFORMED"),
        (2**63, "HRC_MALFORMED"),
        (str(CONFIRMED), "HRC_MALFORMED"),
        (True, "HRC_MALFORMED"),
        (float(CONFIRMED), "HRC_MALFORMED"),
        (None, "HRC_MALFORMED"),
    ],
)
def test_confirmed_at_ns_moved_without_resigning(ns: object, expected: str) -> None:
    hrc = dict(VALID_HRC, confirmed_at={"epoch": EPOCH, "ns": ns})
    assert hrc_reason(hrc) == expected


@pytest.mark.parametrize(
    ("confirmed", "epoch", "expected"),
    [
        (NOW.ns + 1, EPOCH, "HRC_FROM_FUTURE"),
        (2**63 - 1, EPOCH, "HRC_FROM_FUTURE"),
        (NOW.ns - MAX_AGE, EPOCH, "HRC_TOO_OLD"),  # exactly the maximum age
        (0, EPOCH, "HRC_TOO_OLD"),
        (NOW.ns, OTHER_EPOCH, "HRC_EPOCH_MISMATCH"),
        (NOW.ns - MAX_AGE + 1, EPOCH, "GRANT"),
        (NOW.ns, EPOCH, "GRANT"),
    ],
)
def test_confirmed_at_moved_and_resigned_by_the_device(
    confirmed: int, epoch: str, expected: str
) -> None:
    hrc = sign_hrc_by_hand(HRC_SEED, HIGH_DIGEST, epoch, confirmed)
    assert hrc_reason(hrc) == expected


def test_wrong_keys_and_wrong_manifests() -> None:
    unregistered = vector_seed("unregistered-hrc")
    assert thumbprint(UNREGISTERED_HRC.public_key) not in REGISTERED_KIDS
    cases = {
        # Signed by an unregistered key under its own key id.
        "unregistered_key": (
            sign_hrc_by_hand(unregistered, HIGH_DIGEST, EPOCH, CONFIRMED),
            "HRC_UNKNOWN_KEY",
        ),
        # The issuer's and the holder's keys are not HRC devices.
        "issuer_key": (
            sign_hrc_by_hand(vector_seed("issuer"), HIGH_DIGEST, EPOCH, CONFIRMED),
            "HRC_UNKNOWN_KEY",
        ),
        "holder_key": (
            sign_hrc_by_hand(vector_seed("holder"), HIGH_DIGEST, EPOCH, CONFIRMED),
            "HRC_UNKNOWN_KEY",
        ),
        # Signed by an unregistered key, claiming the registered key's id.
        "registered_kid_other_signer": (
            sign_hrc_by_hand(
                unregistered,
                HIGH_DIGEST,
                EPOCH,
                CONFIRMED,
                key_id=thumbprint(HRC_DEVICE.public_key),
            ),
            "HRC_BAD_SIGNATURE",
        ),
        # The raw public key where its thumbprint belongs.
        "raw_key_as_key_id": (
            dict(VALID_HRC, key_id=HRC_DEVICE.public_key.hex()),
            "HRC_UNKNOWN_KEY",
        ),
        # A genuine confirmation of another manifest.
        "other_manifest": (
            sign_hrc_by_hand(HRC_SEED, digest(OTHER_HIGH), EPOCH, CONFIRMED),
            "HRC_WRONG_MANIFEST",
        ),
        # ... relabelled with this manifest's digest: the signature no longer matches.
        "other_manifest_relabelled": (
            dict(
                sign_hrc_by_hand(HRC_SEED, digest(OTHER_HIGH), EPOCH, CONFIRMED),
                manifest_digest=HIGH_DIGEST.hex(),
            ),
            "HRC_BAD_SIGNATURE",
        ),
        # Signed over the JSON text digest or over the ast_hash instead of det(manifest).
        "json_text_digest": (
            sign_hrc_by_hand(
                HRC_SEED,
                hashlib.sha256(json.dumps(HIGH, sort_keys=True).encode()).digest(),
                EPOCH,
                CONFIRMED,
            ),
            "HRC_WRONG_MANIFEST",
        ),
        # A signature over another context string.
        "other_context": (
            dict(
                VALID_HRC,
                signature=nacl.signing.SigningKey(HRC_SEED)
                .sign(cbor2.dumps(["PDA-HRC-v0", HIGH_DIGEST, EPOCH, CONFIRMED]))
                .signature.hex(),
            ),
            "HRC_BAD_SIGNATURE",
        ),
        # The signature of another valid HRC (same key, other time).
        "signature_of_another_hrc": (
            dict(
                VALID_HRC,
                signature=sign_hrc_by_hand(HRC_SEED, HIGH_DIGEST, EPOCH, CONFIRMED + 1)[
                    "signature"
                ],
            ),
            "HRC_BAD_SIGNATURE",
        ),
    }
    for name, (hrc, expected) in cases.items():
        assert hrc_reason(hrc) == expected, name


def rename(document: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return {(new if key == old else key): value for key, value in document.items()}


def test_every_single_character_change_of_a_member_name_is_malformed() -> None:
    count = 0
    for name in VALID_HRC:
        for mutated in single_character_changes(name):
            if mutated in VALID_HRC:
                continue
            assert hrc_reason(rename(VALID_HRC, name, mutated)) == "HRC_MALFORMED", mutated
            count += 1
    confirmed: dict[str, Any] = VALID_HRC["confirmed_at"]
    for name in confirmed:
        for mutated in single_character_changes(name):
            if mutated in confirmed:
                continue
            hrc = dict(VALID_HRC, confirmed_at=rename(confirmed, name, mutated))
            assert hrc_reason(hrc) == "HRC_MALFORMED", mutated
            count += 1
    assert count > 1000


def test_members_removed_added_or_retyped_are_malformed() -> None:
    confirmed: dict[str, Any] = VALID_HRC["confirmed_at"]
    non_text_name: dict[object, object] = {1: "x"}
    non_text_name.update(VALID_HRC)
    variants: list[object] = []
    for name in VALID_HRC:
        variants.append({k: v for k, v in VALID_HRC.items() if k != name})
    for name in confirmed:
        reduced = {k: v for k, v in confirmed.items() if k != name}
        variants.append(dict(VALID_HRC, confirmed_at=reduced))
    variants += [
        dict(VALID_HRC, extra=None),
        dict(VALID_HRC, confirmed=True),  # "a boolean is never an HRC" (§3.3)
        dict(VALID_HRC, confirmed_at=dict(confirmed, extra=0)),
        dict(VALID_HRC, hrc_version=2),
        dict(VALID_HRC, hrc_version=0),
        dict(VALID_HRC, hrc_version="1"),
        dict(VALID_HRC, hrc_version=True),
        dict(VALID_HRC, key_id=bytes.fromhex(VALID_HRC["key_id"])),
        dict(VALID_HRC, confirmed_at=[EPOCH, CONFIRMED]),
        dict(VALID_HRC, confirmed_at=None),
        {},
        [],
        True,
        1,
        "hrc",
        list(VALID_HRC.values()),
        non_text_name,
    ]
    for variant in variants:
        assert hrc_reason(variant) == "HRC_MALFORMED", variant


@pytest.mark.parametrize("where", ["top", "confirmed_at"])
def test_duplicated_members_in_json_text_are_refused_before_the_kernel(where: str) -> None:
    """§2.1: a reader rejects duplicate names before they reach the kernel, whichever copy a
    lax reader would keep (the first is the valid one here, the second a forgery)."""
    text = json.dumps(VALID_HRC)
    if where == "top":
        forged = text[:-1] + ', "key_id": "' + "00" * 32 + '"}'
    else:
        forged = text.replace(
            '"confirmed_at": {', '"confirmed_at": {"ns": ' + str(NOW.ns + 1) + ", "
        )
    assert forged != text
    with pytest.raises(JsonInputError, match="duplicate"):
        parse_json(forged)
    same_twice = text[:-1] + ', "hrc_version": 1}'  # even an identical duplicate
    with pytest.raises(JsonInputError, match="duplicate"):
        parse_json(same_twice)


def test_a_tampered_hrc_is_ignored_where_none_is_required() -> None:
    """§3.4: when HRC is not required the argument is not parsed or bound (claim hrc null)."""
    low = base_manifest("LOW")
    for hrc in (dict(VALID_HRC, signature="zz"), {"x": 1.5}, True, VALID_HRC):
        decision = AUTHORITY.decide(low, SNAPSHOT, NOW, hrc)
        assert isinstance(decision, Grant) and decision.claims.hrc_digest is None


def test_the_hrc_binding_is_the_digest_of_the_confirmation_used() -> None:
    """Two valid confirmations of one manifest give leases that bind different digests."""
    first = AUTHORITY.decide(HIGH, SNAPSHOT, NOW, VALID_HRC)
    other = sign_hrc_by_hand(HRC_SEED, HIGH_DIGEST, EPOCH, CONFIRMED + 1)
    second = AUTHORITY.decide(HIGH, SNAPSHOT, NOW, other)
    assert isinstance(first, Grant) and isinstance(second, Grant)
    assert first.claims.hrc_digest == digest(VALID_HRC)
    assert second.claims.hrc_digest == digest(other)
    assert first.lease_id != second.lease_id


# ============================================================================= holder proofs

LOW = base_manifest("LOW")
LOW_DIGEST = digest(LOW)


def granted(manifest: dict[str, Any]) -> Grant:
    decision = AUTHORITY.decide(manifest, SNAPSHOT, NOW)
    assert isinstance(decision, Grant), decision
    return decision


GRANT = granted(LOW)
OTHER_GRANT = granted(dict(LOW, task_id="task-2026-0002"))
CHALLENGE = bytes(range(7, 39))
PROOF = sign_holder_proof(HOLDER, GRANT.lease_id, CHALLENGE)


def proof_reason(proof: object, token: bytes = GRANT.token) -> str:
    try:
        verify_token(
            token,
            issuer_public_key=ISSUER.public_key,
            task_id=LOW["task_id"],
            manifest_digest=LOW_DIGEST,
            now=NOW,
            holder_proof=proof,
        )
    except InvalidLease as refused:
        return refused.deny.reason
    return "VALID"


def test_holder_proof_fixture_is_valid() -> None:
    assert proof_reason(PROOF) == "VALID"


@pytest.mark.parametrize("field", ["challenge", "signature"])
def test_every_single_character_change_of_a_holder_proof_field(field: str) -> None:
    """§7.2: challenge 32-128 lowercase hex of even length; signature 128 lowercase hex."""
    pattern = re.compile(r"(?:[0-9a-f]{2}){16,64}") if field == "challenge" else HEX128
    seen = set()
    for mutated in single_character_changes(PROOF[field]):
        expected = (
            "HOLDER_PROOF_INVALID" if pattern.fullmatch(mutated) else "HOLDER_PROOF_MALFORMED"
        )
        seen.add(expected)
        assert proof_reason(dict(PROOF, **{field: mutated})) == expected, mutated
    assert seen == {"HOLDER_PROOF_INVALID", "HOLDER_PROOF_MALFORMED"}


def test_whole_byte_edits_of_the_challenge_keep_it_well_formed_but_invalid() -> None:
    challenge = PROOF["challenge"]
    for index in range(0, len(challenge), 2):
        dropped = challenge[:index] + challenge[index + 2 :]  # 31 bytes: still well formed
        assert proof_reason(dict(PROOF, challenge=dropped)) == "HOLDER_PROOF_INVALID"
    assert proof_reason(dict(PROOF, challenge=challenge + "00")) == "HOLDER_PROOF_INVALID"


def test_every_single_character_change_of_a_holder_proof_member_name() -> None:
    for name in PROOF:
        for mutated in single_character_changes(name):
            if mutated in PROOF:
                continue
            assert proof_reason(rename(PROOF, name, mutated)) == "HOLDER_PROOF_MALFORMED"


def test_a_proof_for_another_lease_or_by_another_holder_is_invalid() -> None:
    for_other = sign_holder_proof(HOLDER, OTHER_GRANT.lease_id, CHALLENGE)
    assert proof_reason(for_other) == "HOLDER_PROOF_INVALID"
    # ... and the other lease's proof is valid for the other lease only.
    other_task = {"task_id": "task-2026-0002"}
    try:
        verify_token(
            OTHER_GRANT.token,
            issuer_public_key=ISSUER.public_key,
            task_id=other_task["task_id"],
            manifest_digest=digest(dict(LOW, **other_task)),
            now=NOW,
            holder_proof=for_other,
        )
    except InvalidLease as refused:  # pragma: no cover - a failure message
        raise AssertionError(refused.deny) from None
    by_other_holder = sign_holder_proof(OTHER_HOLDER, GRANT.lease_id, CHALLENGE)
    assert proof_reason(by_other_holder) == "HOLDER_PROOF_INVALID"


def test_a_tampered_proof_never_outranks_an_earlier_step() -> None:
    """§7.3 order: expiry (15) and revocation (16) are judged before the proof (17-19)."""
    bad = dict(PROOF, signature="zz")
    late = MonotonicTime(EPOCH, GRANT.claims.expires_at_ns)
    for now, revoked, expected in [
        (late, frozenset[bytes](), "EXPIRED"),
        (NOW, frozenset({GRANT.lease_id}), "REVOKED"),
    ]:
        with pytest.raises(InvalidLease) as refused:
            verify_token(
                GRANT.token,
                issuer_public_key=ISSUER.public_key,
                task_id=LOW["task_id"],
                manifest_digest=LOW_DIGEST,
                now=now,
                holder_proof=bad,
                revoked=revoked,
            )
        assert refused.value.deny.reason == expected


# ================================================================ checkpoints and receipts

ISSUER_NAME: str = POLICY_DOC["issuer"]
TRUSTED = VerifierKey(ISSUER_NAME, ISSUER.public_key)
EM_DASH = "\u2014"


def note_key_id(name: str, public_key: bytes) -> bytes:
    """c2sp.org/signed-note: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]


def sign_note_by_hand(text: str, name: str, seed: bytes) -> str:
    key = nacl.signing.SigningKey(seed)
    signature = key.sign(text.encode()).signature
    blob = base64.b64encode(note_key_id(name, bytes(key.verify_key)) + signature).decode()
    return f"{text}\n{EM_DASH} {name} {blob}\n"


def open_manager(state: Path, signer: Any = ISSUER, policy: LeasePolicy = POLICY) -> LeaseManager:
    return LeaseManager.open(
        state,
        signer=signer,
        policy=policy,
        clock=FakeClock(EPOCH, 100 * SECOND),
        trust_source=MemoryTrustSource(base_snapshot()),
    )


class Log:
    """A log with two granted leases (the first authorized once), and its checkpoint."""

    def __init__(self, state: Path, signer: Any = ISSUER, policy: LeasePolicy = POLICY) -> None:
        with open_manager(state, signer, policy) as manager:
            first = manager.acquire(base_manifest())
            second = manager.acquire(dict(base_manifest(), task_id="task-other"))
            assert isinstance(first, Grant) and isinstance(second, Grant)
            proof = sign_holder_proof(HOLDER, first.lease_id, bytes(16))
            manager.authorize(
                first.token,
                proof,
                task_id=base_manifest()["task_id"],
                manifest_digest=json_digest(base_manifest()),
            )
            self.first, self.second = first, second
            self.note = manager.checkpoint()
        self.audit = state / "audit.jsonl"
        self.origin = self.note.split("\n", 1)[0]

    def receipt(self, lease_id: bytes) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(export_receipt(self.audit, self.note, lease_id))
        return document


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    return Log(tmp_path_factory.mktemp("log") / "state")


@pytest.fixture(scope="module")
def other_log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    """Another log of the same issuer key and policy (another log id, same entry shapes)."""
    return Log(tmp_path_factory.mktemp("other") / "state")


def canonical(document: object) -> bytes:
    """§12.11: §12.3's canonical form (sorted keys, no whitespace, UTF-8), one final newline."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8") + b"\n"


def receipt_reason(document: object) -> ReceiptFailure:
    with pytest.raises(ReceiptError) as refused:
        verify_receipt(canonical(document), TRUSTED)
    return refused.value.reason


def checkpoint_reason(note: str | bytes, origin: str) -> NoteErrorReason:
    with pytest.raises(NoteError) as refused:
        open_checkpoint(note, [TRUSTED], origin=origin)
    return refused.value.reason


def test_the_log_checkpoint_opens_and_receipts_verify(log: Log) -> None:
    opened = open_checkpoint(log.note, [TRUSTED], origin=log.origin)
    assert log.origin.startswith("pda-lease.audit/")
    assert opened.checkpoint.size == len(log.audit.read_bytes().splitlines())
    verify_receipt(canonical(log.receipt(log.first.lease_id)), TRUSTED)
    # The hand-built signer reproduces the issuer's checkpoint exactly (deterministic Ed25519).
    text = log.note.split("\n\n", 1)[0] + "\n"
    assert sign_note_by_hand(text, ISSUER_NAME, vector_seed("issuer")) == log.note


def test_every_single_byte_change_of_a_log_checkpoint_is_refused(log: Log) -> None:
    """Every byte, every other value: open_checkpoint with the trusted key refuses it."""
    data = log.note.encode()
    for index in range(len(data)):
        for value in range(256):
            if value == data[index]:
                continue
            mutated = data[:index] + bytes([value]) + data[index + 1 :]
            with pytest.raises(NoteError):
                open_checkpoint(mutated, [TRUSTED], origin=log.origin)


def checkpoint_lines(note: str) -> list[str]:
    return note.split("\n\n", 1)[0].split("\n")


@pytest.mark.parametrize("edit", ["origin", "size+1", "size-1", "size0", "root", "extension"])
def test_checkpoint_edits_resigned_by_another_key_are_refused(log: Log, edit: str) -> None:
    origin, size, root = checkpoint_lines(log.note)
    other_root = base64.b64encode(hashlib.sha256(b"another tree").digest()).decode()
    lines = {
        "origin": [origin + "0", size, root],
        "size+1": [origin, str(int(size) + 1), root],
        "size-1": [origin, str(int(size) - 1), root],
        "size0": [origin, "0", root],
        "root": [origin, size, other_root],
        "extension": [origin, size, root, "extra"],
    }[edit]
    text = "\n".join(lines) + "\n"
    mallory = vector_seed("mallory")
    # Another key under another name, and under the issuer's own name: neither is trusted
    # (the name and key id must both match the trusted key to be verified, §12.9).
    for name in ("mallory", ISSUER_NAME):
        forged = sign_note_by_hand(text, name, mallory)
        assert checkpoint_reason(forged, log.origin) is NoteErrorReason.NO_TRUSTED_SIGNATURE
    # The honest signature line kept under the edited text: it no longer verifies.
    honest_line = log.note.split("\n\n", 1)[1]
    spliced = text + "\n" + honest_line
    assert checkpoint_reason(spliced, log.origin) is NoteErrorReason.BAD_SIGNATURE
    # ... nor does appending a valid signature of another key rescue it.
    extra = sign_note_by_hand(text, "mallory", mallory).split("\n\n", 1)[1]
    assert checkpoint_reason(spliced + extra, log.origin) is NoteErrorReason.BAD_SIGNATURE


def test_checkpoint_of_another_log_is_refused_for_this_origin(log: Log, other_log: Log) -> None:
    assert log.origin != other_log.origin
    # Signed by the same trusted issuer key, but for another log: the origin is checked.
    assert checkpoint_reason(other_log.note, log.origin) is NoteErrorReason.BAD_CHECKPOINT
    # The issuer signing this log's origin over the other log's tree is the issuer's own
    # statement; what a receipt then proves is judged below.
    opened = open_checkpoint(other_log.note, [TRUSTED], origin=other_log.origin)
    assert opened.checkpoint.origin == other_log.origin


def entries_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = document["entries"]
    return entries


def test_receipt_resealed_with_the_entries_of_another_lease(log: Log) -> None:
    """Lease A's id and token with lease B's (genuine, included) entries: refused, the
    entries are not about A (§12.11: "each line a sealed audit entry about this lease")."""
    first = log.receipt(log.first.lease_id)
    second = log.receipt(log.second.lease_id)
    assert receipt_reason(dict(first, entries=entries_of(second))) is ReceiptFailure.WRONG_LEASE
    # A's entries plus one of B's, in log order.
    mixed = sorted(entries_of(first) + entries_of(second)[:1], key=lambda e: int(e["seq"]))
    assert receipt_reason(dict(first, entries=mixed)) is ReceiptFailure.WRONG_LEASE
    # B's id with A's token: the token is signed by the issuer, but for another lease.
    assert (
        receipt_reason(dict(first, lease_id=log.second.lease_id.hex()))
        is ReceiptFailure.WRONG_LEASE
    )
    # B's id and token with A's entries: the entries are about another lease.
    swapped = dict(first, lease_id=second["lease_id"], token=second["token"])
    assert receipt_reason(swapped) is ReceiptFailure.WRONG_LEASE


def test_receipt_with_the_checkpoint_of_another_log(log: Log, other_log: Log) -> None:
    """Entries of this log proven under another log's signed checkpoint (same issuer key):
    the inclusion proofs do not lead to that root."""
    document = log.receipt(log.first.lease_id)
    assert receipt_reason(dict(document, checkpoint=other_log.note)) is ReceiptFailure.NOT_INCLUDED
    # And the other log's receipt with this log's checkpoint.
    theirs = other_log.receipt(other_log.first.lease_id)
    assert receipt_reason(dict(theirs, checkpoint=log.note)) is ReceiptFailure.NOT_INCLUDED


def test_receipt_with_a_checkpoint_of_another_key_or_origin(log: Log, tmp_path: Path) -> None:
    document = log.receipt(log.first.lease_id)
    text = log.note.split("\n\n", 1)[0] + "\n"
    # The same checkpoint text signed by another key (under the issuer's name).
    forged = sign_note_by_hand(text, ISSUER_NAME, vector_seed("mallory"))
    assert receipt_reason(dict(document, checkpoint=forged)) is ReceiptFailure.BAD_CHECKPOINT
    # A checkpoint signed by the trusted key but not of a pda-lease audit log.
    _, size, root = checkpoint_lines(log.note)
    foreign = "example.com/log\n" + size + "\n" + root + "\n"
    note = sign_note_by_hand(foreign, ISSUER_NAME, vector_seed("issuer"))
    assert receipt_reason(dict(document, checkpoint=note)) is ReceiptFailure.BAD_CHECKPOINT


def test_receipt_from_a_log_of_another_issuer(tmp_path: Path) -> None:
    """A genuine receipt of another issuer's log, verified against this issuer's key."""
    other_policy = LeasePolicy.from_json(
        dict(
            base_policy(),
            issuer=ISSUER_NAME,
            issuer_kid=thumbprint(OTHER_ISSUER.public_key).hex(),
        )
    )
    other = Log(tmp_path / "state", OTHER_ISSUER, other_policy)
    document = other.receipt(other.first.lease_id)
    verify_receipt(canonical(document), VerifierKey(ISSUER_NAME, OTHER_ISSUER.public_key))
    assert receipt_reason(document) is ReceiptFailure.BAD_CHECKPOINT


def test_receipt_entries_reordered_duplicated_or_moved(log: Log) -> None:
    document = log.receipt(log.first.lease_id)
    entries = entries_of(document)
    assert len(entries) >= 2
    assert receipt_reason(dict(document, entries=entries[::-1])) is ReceiptFailure.MALFORMED
    assert receipt_reason(dict(document, entries=[entries[0], *entries])) is (
        ReceiptFailure.MALFORMED
    )
    # An entry claimed at another position: its proof does not lead to the root from there.
    moved = [dict(entries[0], seq=entries[0]["seq"] - 1), *entries[1:]]
    assert receipt_reason(dict(document, entries=moved)) is ReceiptFailure.NOT_INCLUDED
    # Proofs swapped between two entries.
    swapped = [
        dict(entries[0], proof=entries[1]["proof"]),
        dict(entries[1], proof=entries[0]["proof"]),
        *entries[2:],
    ]
    assert receipt_reason(dict(document, entries=swapped)) is ReceiptFailure.NOT_INCLUDED
    # An entry beyond the checkpoint's size.
    size = int(checkpoint_lines(log.note)[1])
    beyond = [*entries, dict(entries[-1], seq=size)]
    assert receipt_reason(dict(document, entries=beyond)) is ReceiptFailure.MALFORMED
    # No entries at all.
    assert receipt_reason(dict(document, entries=[])) is ReceiptFailure.MALFORMED


def test_receipt_of_an_older_checkpoint_cannot_claim_later_entries(
    tmp_path: Path,
) -> None:
    """A receipt re-sealed under an older checkpoint (before the authorization) with the
    later entries: they lie beyond that checkpoint, so they cannot be proven under it."""
    state = tmp_path / "state"
    with open_manager(state) as manager:
        grant = manager.acquire(base_manifest())
        assert isinstance(grant, Grant)
        old_note = manager.checkpoint()
        manager.revoke(grant.lease_id, "done")
        new_note = manager.checkpoint()
    audit = state / "audit.jsonl"
    old = json.loads(export_receipt(audit, old_note, grant.lease_id))
    new = json.loads(export_receipt(audit, new_note, grant.lease_id))
    verify_receipt(canonical(old), TRUSTED)
    assert len(entries_of(new)) == len(entries_of(old)) + 1
    assert receipt_reason(dict(new, checkpoint=old_note)) in {
        ReceiptFailure.MALFORMED,  # the revocation's seq is outside the old checkpoint
        ReceiptFailure.NOT_INCLUDED,
    }
    assert receipt_reason(dict(old, checkpoint=new_note)) is ReceiptFailure.NOT_INCLUDED
