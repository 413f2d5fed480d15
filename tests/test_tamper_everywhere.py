"""A log edited anywhere fails audit verify, replay and every receipt covering it (issue 4).

Each edit is made to a real manager's log; each of the three checks must refuse it and name
the line where the log stops being the one that was written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pda_lease import Grant, LeasePolicy
from pda_lease.adapters import FakeClock, MemoryTrustSource, StateError
from pda_lease.adapters.audit import verify_audit_file
from pda_lease.cli import main
from pda_lease.conformance import (
    EPOCH,
    ISSUER,
    OTHER_ISSUER,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
)
from pda_lease.manager import LeaseManager
from pda_lease.receipt import export_receipt
from pda_lease.replay import replay_file
from pda_lease.transparency import VerifierKey
from test_receipt import reseal_from


def flip_one_byte(lines: list[bytes]) -> tuple[list[bytes], int]:
    edited = list(lines)
    line = bytearray(edited[4])
    line[len(line) // 2] ^= 0x04
    edited[4] = bytes(line)
    return edited, 5


def remove_a_line(lines: list[bytes]) -> tuple[list[bytes], int]:
    return lines[:4] + lines[5:], 5


def reorder_a_pair(lines: list[bytes]) -> tuple[list[bytes], int]:
    edited = list(lines)
    edited[4], edited[5] = edited[5], edited[4]
    return edited, 5


def truncate_the_tail(lines: list[bytes]) -> tuple[list[bytes], int]:
    edited = list(lines[:-1])
    edited.append(lines[-1][: len(lines[-1]) // 2])  # a torn last line
    return edited, len(lines)


EDITS: dict[str, Callable[[list[bytes]], tuple[list[bytes], int]]] = {
    "one byte": flip_one_byte,
    "a removed line": remove_a_line,
    "a reordered pair": reorder_a_pair,
    "a truncated tail": truncate_the_tail,
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_log_fails_verify_replay_and_receipts(tmp_path: Path, edit: str) -> None:
    state = tmp_path / "state"
    with LeaseManager.open(
        state,
        signer=ISSUER,
        policy=LeasePolicy.from_json(base_policy()),
        clock=FakeClock(EPOCH, 100 * SECOND),
        trust_source=MemoryTrustSource(base_snapshot()),
    ) as manager:
        grants = [manager.acquire(dict(base_manifest(), task_id=f"task-{n}")) for n in range(6)]
        note = manager.checkpoint()
    assert all(isinstance(grant, Grant) for grant in grants)
    log = state / "audit.jsonl"
    lines = log.read_bytes().split(b"\n")[:-1]
    edited, bad_line = EDITS[edit](lines)
    log.write_bytes(b"\n".join(edited) + (b"\n" if edit != "a truncated tail" else b""))

    report = verify_audit_file(log)
    assert not report.ok and report.first_bad_line == bad_line

    replayed = replay_file(log, workers=1)
    assert not replayed.ok and replayed.chain_line == bad_line

    for grant in grants:  # every receipt: those before the edit are covered by the checkpoint
        assert isinstance(grant, Grant)
        with pytest.raises(StateError) as refused:
            export_receipt(log, note, grant.lease_id)
        assert f"line {bad_line}" in refused.value.detail


def test_replay_checks_the_merkle_root_against_a_signed_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    with LeaseManager.open(
        state,
        signer=ISSUER,
        policy=LeasePolicy.from_json(base_policy()),
        clock=FakeClock(EPOCH, 100 * SECOND),
        trust_source=MemoryTrustSource(base_snapshot()),
    ) as manager:
        for number in range(4):
            manager.acquire(dict(base_manifest(), task_id=f"task-{number}"))
        note = manager.checkpoint()
        vkey = manager.log_verifier().to_vkey()
        manager.acquire(dict(base_manifest(), task_id="after-the-checkpoint"))
    log = state / "audit.jsonl"
    (tmp_path / "checkpoint.note").write_text(note)
    argv = ["replay", "--quiet", str(log), "--checkpoint", str(tmp_path / "checkpoint.note")]
    assert main([*argv, "--issuer-key", vkey]) == 0
    assert "the checkpoint's at size" in capsys.readouterr().out
    # Rewrite an early decision's manifest and re-seal the chain: replay and the chain pass on
    # their own, but the Merkle root is no longer the one the issuer signed.
    lines = log.read_bytes().splitlines()
    index = next(i for i, line in enumerate(lines) if b'"event":"trust_snapshot"' in line)
    record = json.loads(lines[index])
    record["at"]["ns"] += 1  # when the snapshot was first used: no decision depends on it
    lines[index] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    log.write_bytes(b"\n".join(reseal_from(lines, index)) + b"\n")
    chain_only = replay_file(log, workers=1)
    assert chain_only.ok and chain_only.checkpoint_ok is None  # replay alone cannot tell
    assert main([*argv, "--issuer-key", vkey]) == 1
    assert "not the signed checkpoint's" in capsys.readouterr().out
    other = VerifierKey(POLICY_ISSUER, OTHER_ISSUER.public_key).to_vkey()
    assert main([*argv, "--issuer-key", other]) == 2  # not signed by that key


POLICY_ISSUER = LeasePolicy.from_json(base_policy()).issuer
