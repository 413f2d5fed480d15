"""Receipts (issue 4): a lease's audit entries with inclusion proofs, verified offline.

The verifier trusts only the key it is given; every byte of a receipt is load-bearing.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pda_lease import Grant, InvalidLease, LeasePolicy, json_digest, sign_holder_proof
from pda_lease.adapters import FakeClock, MemoryTrustSource, StateError
from pda_lease.adapters.audit import seal
from pda_lease.conformance import (
    EPOCH,
    HOLDER,
    ISSUER,
    OTHER_ISSUER,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
)
from pda_lease.manager import LeaseManager
from pda_lease.receipt import ReceiptError, ReceiptFailure, export_receipt, verify_receipt
from pda_lease.transparency import MerkleTree, VerifierKey, leaf_hash

POLICY = LeasePolicy.from_json(base_policy())
TRUSTED = VerifierKey(POLICY.issuer, ISSUER.public_key)


def build(state: Path) -> tuple[Grant, Grant, str]:
    """A log with two leases: the first granted, authorized twice (one replay), revoked."""
    manager = LeaseManager.open(
        state,
        signer=ISSUER,
        policy=POLICY,
        clock=FakeClock(EPOCH, 100 * SECOND),
        trust_source=MemoryTrustSource(base_snapshot()),
    )
    with manager:
        manifest = base_manifest()
        first = manager.acquire(manifest)
        second = manager.acquire(dict(manifest, task_id="task-other"))
        assert isinstance(first, Grant) and isinstance(second, Grant)
        proof = sign_holder_proof(HOLDER, first.lease_id, bytes(16))
        for _ in range(2):  # the second is refused HOLDER_PROOF_REPLAYED, and recorded
            with contextlib.suppress(InvalidLease):
                manager.authorize(
                    first.token,
                    proof,
                    task_id=manifest["task_id"],
                    manifest_digest=json_digest(manifest),
                )
        manager.revoke(first.lease_id, "done")
        return first, second, manager.checkpoint()


@pytest.fixture(scope="module")
def receipt(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    state = tmp_path_factory.mktemp("receipt") / "state"
    first, _, note = build(state)
    return export_receipt(state / "audit.jsonl", note, first.lease_id)


def test_a_receipt_verifies_offline_and_tells_the_leases_story(receipt: bytes) -> None:
    verified = verify_receipt(receipt, TRUSTED)
    assert [event["event"] for event in verified.events] == [
        "decision",
        "authorization",
        "authorization",
        "revocation",
    ]
    assert verified.revoked and verified.authorizations == 1
    assert verified.claims.task_id == base_manifest()["task_id"]
    document = json.loads(receipt)
    assert verified.checkpoint.size > max(entry["seq"] for entry in document["entries"])


def test_a_receipt_is_not_verified_against_a_key_found_inside_it(receipt: bytes) -> None:
    with pytest.raises(ReceiptError) as refused:
        verify_receipt(receipt, VerifierKey(POLICY.issuer, OTHER_ISSUER.public_key))
    assert refused.value.reason is ReceiptFailure.BAD_CHECKPOINT


@given(st.data())
def test_any_edit_of_any_byte_is_detected(receipt: bytes, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(receipt) - 1))
    kind = data.draw(st.sampled_from(["flip", "delete", "insert"]))
    if kind == "flip":
        mask = data.draw(st.integers(1, 255))
        edited = receipt[:position] + bytes([receipt[position] ^ mask]) + receipt[position + 1 :]
    elif kind == "delete":
        edited = receipt[:position] + receipt[position + 1 :]
    else:
        edited = (
            receipt[:position] + data.draw(st.binary(min_size=1, max_size=2)) + receipt[position:]
        )
    with pytest.raises(ReceiptError):
        verify_receipt(edited, TRUSTED)


def test_every_byte_of_the_receipt_matters(receipt: bytes) -> None:
    # Exhaustive over every position with one mask: no byte can be changed unnoticed.
    for position in range(0, len(receipt), 1):
        edited = receipt[:position] + bytes([receipt[position] ^ 0x01]) + receipt[position + 1 :]
        with pytest.raises(ReceiptError):
            verify_receipt(edited, TRUSTED)


def test_dropping_the_grant_entry_is_detected(receipt: bytes, tmp_path: Path) -> None:
    document: dict[str, Any] = json.loads(receipt)
    document["entries"] = document["entries"][1:]  # no GRANT left
    with pytest.raises(ReceiptError) as refused:
        verify_receipt(canonical(document), TRUSTED)
    assert refused.value.reason is ReceiptFailure.NO_GRANT


def canonical(document: object) -> bytes:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8") + b"\n"


def test_a_lease_never_granted_has_no_receipt(tmp_path: Path) -> None:
    _, _, note = build(tmp_path / "state")
    with pytest.raises(ReceiptError) as refused:
        export_receipt(tmp_path / "state" / "audit.jsonl", note, bytes(16))
    assert refused.value.reason is ReceiptFailure.NO_GRANT


def reseal_from(lines: list[bytes], start: int) -> list[bytes]:
    """Recompute the chain from line ``start`` on, as a forger without the issuer key would."""
    out = lines[:start]
    prev = bytes.fromhex(json.loads(lines[start - 1])["entry_hash"])
    for seq in range(start, len(lines)):
        record = json.loads(lines[seq])
        body = {k: v for k, v in record.items() if k not in {"v", "seq", "prev_hash", "entry_hash"}}
        line, sealed = seal(seq, prev, body)
        out.append(line.rstrip(b"\n"))
        prev = bytes.fromhex(str(sealed["entry_hash"]))
    return out


def test_a_rewritten_log_fails_every_receipt_covering_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first, second, note = build(state)
    log = state / "audit.jsonl"
    honest = export_receipt(log, note, second.lease_id)
    lines = log.read_bytes().splitlines()
    index = next(i for i, line in enumerate(lines) if b'"event":"revocation"' in line)
    record = json.loads(lines[index])
    record["reason"] = "never happened"  # rewrite history, then re-seal the hash chain
    lines[index] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    log.write_bytes(b"\n".join(reseal_from(lines, index)) + b"\n")
    # The chain verifies again, but the signed checkpoint's root does not match any more.
    with pytest.raises(StateError):
        export_receipt(log, note, first.lease_id)
    with pytest.raises(StateError):
        export_receipt(log, note, second.lease_id)
    verify_receipt(honest, TRUSTED)  # a receipt taken before the rewrite still stands
    # A receipt assembled from the rewritten line under the honest checkpoint is refused.
    document: dict[str, Any] = json.loads(export_receipt_unchecked(log, note, first.lease_id))
    with pytest.raises(ReceiptError) as refused:
        verify_receipt(canonical(document), TRUSTED)
    assert refused.value.reason is ReceiptFailure.NOT_INCLUDED


def export_receipt_unchecked(log: Path, note: str, lease_id: bytes) -> bytes:
    """What a forger would hand out: the honest receipt's shape with the rewritten lines."""
    lines = log.read_bytes().splitlines()
    size = int(note.split("\n")[1])
    tree = MerkleTree(leaf_hash(line) for line in lines[:size])
    lease_hex = lease_id.hex()
    entries = []
    token = ""
    for seq, line in enumerate(lines[:size]):
        record = json.loads(line)
        about = record.get("lease_id") == lease_hex or (
            record.get("event") == "decision" and record["outcome"].get("lease_id") == lease_hex
        )
        if not about:
            continue
        if record["event"] == "decision":
            token = record["outcome"]["token"]
        proof = [p.hex() for p in tree.inclusion_proof(seq, size)]
        entries.append({"seq": seq, "line": line.decode(), "proof": proof})
    return canonical(
        {
            "receipt_version": 1,
            "lease_id": lease_hex,
            "token": token,
            "checkpoint": note,
            "entries": entries,
        }
    )
