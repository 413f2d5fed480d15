"""The manager signs a checkpoint of its audit log with every commit (spec §12.9).

The oracle is independent of the Merkle module: the test rebuilds the root of the log's lines
with its own recursive RFC 9162 definition, and checks signatures through the C2SP note
format with the issuer's public key only.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pda_lease import LeasePolicy, json_digest, sign_holder_proof
from pda_lease.adapters import FakeClock, MemoryTrustSource
from pda_lease.cli import main
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
from pda_lease.transparency import (
    MerkleTree,
    NoteError,
    VerifierKey,
    open_checkpoint,
    sign_note,
    verify_consistency,
)

POLICY = LeasePolicy.from_json(base_policy())


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, recursively, straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:split]) + mth(leaves[split:])).digest()


def log_lines(state: Path) -> list[bytes]:
    return (state / "audit.jsonl").read_bytes().splitlines()


def open_manager(state: Path, clock: FakeClock) -> LeaseManager:
    return LeaseManager.open(
        state,
        signer=ISSUER,
        policy=POLICY,
        clock=clock,
        trust_source=MemoryTrustSource(base_snapshot()),
    )


def check(manager: LeaseManager, state: Path) -> tuple[int, bytes]:
    """The latest checkpoint verifies with the issuer key and covers the whole log exactly."""
    lines = log_lines(state)
    log_id = json.loads(lines[0])["log_id"]
    verifier = VerifierKey(POLICY.issuer, ISSUER.public_key)
    opened = open_checkpoint(manager.checkpoint(), [verifier], origin=f"pda-lease.audit/{log_id}")
    assert opened.checkpoint.size == len(lines)
    assert opened.checkpoint.root_hash == mth(lines)
    return opened.checkpoint.size, opened.checkpoint.root_hash


def test_every_commit_signs_a_checkpoint_of_the_whole_log_and_they_only_grow(
    tmp_path: Path,
) -> None:
    clock = FakeClock(EPOCH, 100 * SECOND)
    seen: list[tuple[int, bytes]] = []
    manager = open_manager(tmp_path, clock)
    seen.append(check(manager, tmp_path))
    manifest = base_manifest()
    grant = manager.acquire(manifest)
    seen.append(check(manager, tmp_path))
    manager.acquire(dict(manifest, manifest_version=9))  # a deny is recorded too
    seen.append(check(manager, tmp_path))
    proof = sign_holder_proof(HOLDER, grant.lease_id, bytes(16))  # type: ignore[union-attr]
    manager.authorize(
        grant.token,  # type: ignore[union-attr]
        proof,
        task_id=manifest["task_id"],
        manifest_digest=json_digest(manifest),
    )
    seen.append(check(manager, tmp_path))
    manager.revoke(grant.lease_id, "done")  # type: ignore[union-attr]
    seen.append(check(manager, tmp_path))
    manager.apply_trust_snapshot(dict(base_snapshot(), sequence=8))
    seen.append(check(manager, tmp_path))
    manager.close()
    with open_manager(tmp_path, clock) as reopened:  # nothing new to record: same checkpoint
        assert check(reopened, tmp_path) == seen[-1]
    tree = MerkleTree.from_leaves(log_lines(tmp_path))
    for (old_size, old_root), (new_size, new_root) in itertools.pairwise(seen):
        assert new_size > old_size
        proof_hashes = tree.consistency_proof(old_size, new_size)
        verify_consistency(old_size, new_size, old_root, new_root, proof_hashes)


def test_a_store_without_a_frontier_rebuilds_it_from_the_log(tmp_path: Path) -> None:
    clock = FakeClock(EPOCH, 100 * SECOND)
    with open_manager(tmp_path, clock) as manager:
        for number in range(5):
            manager.acquire(dict(base_manifest(), task_id=f"task-{number}"))
    connection = sqlite3.connect(tmp_path / "leases.db")
    with connection:
        connection.execute(
            "DELETE FROM meta WHERE key IN ('merkle_frontier', 'checkpoint', 'log_origin')"
        )
    connection.close()
    with open_manager(tmp_path, clock) as manager:
        check(manager, tmp_path)
        manager.acquire(dict(base_manifest(), task_id="task-after"))
        check(manager, tmp_path)


def test_a_frontier_of_the_wrong_size_is_rebuilt(tmp_path: Path) -> None:
    clock = FakeClock(EPOCH, 100 * SECOND)
    with open_manager(tmp_path, clock) as manager:
        manager.acquire(base_manifest())
    connection = sqlite3.connect(tmp_path / "leases.db")
    with connection:
        connection.execute("UPDATE meta SET value = '0' WHERE key = 'merkle_frontier'")
    connection.close()
    with open_manager(tmp_path, clock) as manager:
        manager.acquire(dict(base_manifest(), task_id="task-after"))
        check(manager, tmp_path)


# ----------------------------------------------------------------------------------- CLI


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    status = main(argv)
    out = capsys.readouterr().out
    try:
        return status, json.loads(out)
    except json.JSONDecodeError:
        return status, out


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state directory written through the API, with the CLI's seed and policy files."""
    directory = tmp_path / "state"
    with open_manager(directory, FakeClock(EPOCH, 100 * SECOND)) as manager:
        manager.acquire(base_manifest())
    (directory / "issuer.seed").write_text(
        hashlib.sha256(b"pda-lease vector key: issuer").hexdigest()
    )
    (directory / "policy.json").write_text(json.dumps(base_policy()))
    return directory


def save_checkpoint(state: Path, name: str, capsys: pytest.CaptureFixture[str]) -> str:
    status, note = run(["--state", str(state), "audit", "checkpoint"], capsys)
    assert status == 0
    path = state.parent / name
    path.write_text(note)
    return str(path)


def grow(state: Path, count: int) -> None:
    with open_manager(state, FakeClock(EPOCH, 200 * SECOND)) as manager:
        for number in range(count):
            manager.acquire(dict(base_manifest(), task_id=f"grow-{number}"))


def test_audit_consistency_proves_the_log_only_grew(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = save_checkpoint(state, "old.note", capsys)
    grow(state, 3)
    new = save_checkpoint(state, "new.note", capsys)
    status, view = run(["--state", str(state), "audit", "consistency", old, new], capsys)
    assert status == 0 and view["ok"] and view["new_size"] == view["old_size"] + 3
    status, view = run(["--state", str(state), "audit", "consistency", new, old], capsys)
    assert status == 1 and not view["ok"]
    status, _ = run(["--state", str(state), "audit", "verify"], capsys)
    assert status == 0


def test_audit_consistency_refuses_a_checkpoint_of_a_rewritten_log(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = save_checkpoint(state, "old.note", capsys)
    grow(state, 2)
    new = save_checkpoint(state, "new.note", capsys)
    # A forger with the issuer key signs a root for the same size that the log does not have.
    lines = Path(new).read_text().split("\n")
    forged_text = "\n".join([lines[0], lines[1], "A" * 43 + "=", ""])
    forged = state.parent / "forged.note"
    forged.write_text(sign_note(forged_text, POLICY.issuer, ISSUER))
    status, view = run(["--state", str(state), "audit", "consistency", old, str(forged)], capsys)
    assert status == 1 and "ROOT_MISMATCH" in view["problem"]


def test_a_checkpoint_signed_by_another_key_is_not_trusted(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = save_checkpoint(state, "old.note", capsys)
    text = Path(old).read_text().split("\n\n", 1)[0] + "\n"
    other = state.parent / "other.note"
    other.write_text(sign_note(text, POLICY.issuer, OTHER_ISSUER))
    assert main(["--state", str(state), "audit", "consistency", old, str(other)]) == 2
    with pytest.raises(NoteError):
        open_checkpoint(
            other.read_text(),
            [VerifierKey(POLICY.issuer, ISSUER.public_key)],
            origin=text.split("\n", 1)[0],
        )


def test_audit_verify_catches_a_store_checkpoint_that_is_not_the_logs(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = sqlite3.connect(state / "leases.db")
    note = connection.execute("SELECT value FROM meta WHERE key = 'checkpoint'").fetchone()[0]
    lines = note.split("\n")
    forged = sign_note("\n".join([lines[0], lines[1], "A" * 43 + "=", ""]), POLICY.issuer, ISSUER)
    with connection:
        connection.execute("UPDATE meta SET value = ? WHERE key = 'checkpoint'", (forged,))
    connection.close()
    status, view = run(["--state", str(state), "audit", "verify", "--json"], capsys)
    assert status == 1 and not view["ok"] and "Merkle root" in view["problem"]
