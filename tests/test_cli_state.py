"""The state commands of ``pda-lease``: init, acquire, authorize, revoke, trust, audit, status.

They run in this process against a real state directory and the real boot clock, so manifests
are built with an execution window around this machine's own clock reading.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pda_lease import Ed25519Signer, cose_key_thumbprint, sign_holder_proof
from pda_lease.adapters import BootClock
from pda_lease.cli import main
from pda_lease.conformance import HOLDER, base_manifest, base_policy, base_snapshot
from pda_lease.receipt import MAX_RECEIPT_BYTES
from pda_lease.transparency import VerifierKey

ISSUER_SEED = bytes(range(1, 33))
HOUR_NS = 3600 * 10**9


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    status = main(argv)
    captured = capsys.readouterr()
    try:
        out: Any = json.loads(captured.out)
    except json.JSONDecodeError:
        out = captured.out
    return status, out, captured.err


def write(path: Path, document: object) -> str:
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """An initialised state directory, a manifest valid for the next hour, its files."""
    signer = Ed25519Signer(ISSUER_SEED)
    (tmp_path / "issuer.seed").write_text(ISSUER_SEED.hex())
    policy = dict(base_policy(), issuer_kid=cose_key_thumbprint(signer.public_key).hex())
    now = BootClock().now()
    manifest = base_manifest()
    manifest["window"] = {
        "epoch": now.epoch,
        "not_before_ns": max(0, now.ns - HOUR_NS),
        "not_after_ns": now.ns + HOUR_NS,
    }
    state = tmp_path / "state"
    status, out, err = run(
        [
            "--state",
            str(state),
            "init",
            "--issuer-key",
            str(tmp_path / "issuer.seed"),
            "--policy",
            write(tmp_path / "policy.json", policy),
            "--trust",
            write(tmp_path / "trust.json", base_snapshot(8000)),
        ],
        capsys,
    )
    assert status == 0, err
    assert out["audit_entries"] == 3  # log_created, authority, trust_snapshot (spec §12.3)
    return {
        "tmp": tmp_path,
        "state": str(state),
        "manifest": manifest,
        "manifest_file": write(tmp_path / "manifest.json", manifest),
        "policy": policy,
    }


def _request(world: dict[str, Any], grant: dict[str, Any], challenge: bytes) -> str:
    proof = sign_holder_proof(HOLDER, bytes.fromhex(grant["lease_id"]), challenge)
    request = {"token": grant["token"], "holder_proof": proof, "manifest": world["manifest"]}
    return write(world["tmp"] / f"request-{challenge.hex()[:8]}.json", request)


def test_acquire_authorize_revoke_status_verify(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state = ["--state", world["state"]]
    status, grant, _ = run([*state, "acquire", world["manifest_file"]], capsys)
    assert status == 0 and grant["decision"] == "GRANT"
    assert grant["claims"]["sub"] == world["manifest"]["task_id"]

    request = _request(world, grant, bytes(16))
    status, allowed, _ = run([*state, "authorize", request], capsys)
    assert status == 0
    assert allowed == {
        "result": "ALLOW",
        "lease_id": grant["lease_id"],
        "task_id": world["manifest"]["task_id"],
        "capability_id": world["manifest"]["capability_id"],
        "expires_at_ns": grant["expires_at_ns"],
    }
    status, replay, _ = run([*state, "authorize", request], capsys)
    assert status == 1 and (replay["code"], replay["reason"]) == (
        "INVALID_TOKEN",
        "HOLDER_PROOF_REPLAYED",
    )

    status, revoked, _ = run([*state, "revoke", grant["lease_id"], "--reason", "done"], capsys)
    assert status == 0 and revoked["cause"] == "explicit" and not revoked["already_revoked"]
    status, again, _ = run([*state, "revoke", grant["lease_id"], "--reason", "again"], capsys)
    assert status == 0 and again["already_revoked"] and again["reason"] == "done"
    status, denied, _ = run([*state, "authorize", _request(world, grant, bytes(17))], capsys)
    assert status == 1 and (denied["code"], denied["reason"]) == ("LEASE_REVOKED", "REVOKED")

    status, view, _ = run([*state, "status", "--json"], capsys)
    assert status == 0
    assert view["counts"] == {"live": 0, "expired": 0, "revoked": 1, "ended": 0}
    assert [lease["lease_id"] for lease in view["leases"]] == [grant["lease_id"]]

    status, report, _ = run([*state, "audit", "verify", "--json"], capsys)
    assert status == 0 and report["ok"] and report["first_bad_line"] is None
    # init 3 + decision + 2 authorizations + revocation + 1 authorization = 8 entries
    assert report["entries"] == 8 and report["store_committed_seq"] == 7


def test_audit_verify_names_the_first_edited_line(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state = ["--state", world["state"]]
    assert run([*state, "acquire", world["manifest_file"]], capsys)[0] == 0
    log = Path(world["state"]) / "audit.jsonl"
    lines = log.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"sequence":1', b'"sequence":2', 1)  # the authority entry
    log.write_bytes(b"\n".join(lines))
    status, text, _ = run([*state, "audit", "verify"], capsys)
    assert status == 1 and "line 2" in text
    status, report, _ = run([*state, "audit", "verify", "--json"], capsys)
    assert status == 1 and report["first_bad_line"] == 2


def test_audit_verify_detects_a_cut_tail(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state = ["--state", world["state"]]
    assert run([*state, "acquire", world["manifest_file"]], capsys)[0] == 0
    log = Path(world["state"]) / "audit.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-1]))  # drop the committed decision entry
    status, report, _ = run([*state, "audit", "verify", "--json"], capsys)
    assert status == 1 and not report["ok"] and report["first_bad_line"] == len(lines)


def test_trust_apply_revokes_decayed_and_refuses_rollback(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state = ["--state", world["state"]]
    status, grant, _ = run([*state, "acquire", world["manifest_file"]], capsys)
    assert status == 0
    decayed = write(world["tmp"] / "t8.json", dict(base_snapshot(2999), sequence=8))
    status, applied, _ = run([*state, "trust", "apply", decayed], capsys)
    assert status == 0 and applied["sequence"] == 8 and applied["revoked"] == [grant["lease_id"]]
    older = write(world["tmp"] / "t7.json", dict(base_snapshot(9000), sequence=7))
    status, _, err = run([*state, "trust", "apply", older], capsys)
    assert status == 2 and "sequence 7" in err
    status, denied, _ = run([*state, "acquire", world["manifest_file"]], capsys)
    assert status == 1 and denied["reason"] == "BELOW_THRESHOLD"


def test_missing_trust_snapshot_denies(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    os.unlink(Path(world["state"]) / "trust.json")
    status, denied, _ = run(["--state", world["state"], "acquire", world["manifest_file"]], capsys)
    assert status == 1
    assert (denied["code"], denied["reason"]) == ("UNAVAILABLE", "TRUST_UNAVAILABLE")


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],  # no --state
        ["--state", "{missing}", "status"],  # not initialised
        ["--state", "{state}", "revoke", "00" * 16, "--reason", "x"],  # never granted
        ["--state", "{state}", "revoke", "zz", "--reason", "x"],  # not hex
        ["--state", "{state}", "revoke", "00" * 16, "--reason", "bad\nreason"],
        ["--state", "{state}", "authorize", "{manifest}"],  # not an authorization request
    ],
)
def test_unusable_requests_exit_2(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    values = {
        "state": world["state"],
        "missing": str(world["tmp"] / "nowhere"),
        "manifest": world["manifest_file"],
    }
    monkey_env = os.environ.pop("PDA_LEASE_STATE", None)
    try:
        status, _, err = run([arg.format(**values) for arg in argv], capsys)
    finally:
        if monkey_env is not None:
            os.environ["PDA_LEASE_STATE"] = monkey_env
    assert status == 2 and err.startswith("pda-lease: error: ")


def test_init_refuses_a_policy_for_another_key_and_a_second_init(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    other = world["tmp"] / "other.seed"
    other.write_text(bytes(32).hex())
    argv = ["--state", str(world["tmp"] / "s2"), "init", "--issuer-key", str(other)]
    status, _, err = run([*argv, "--policy", str(world["tmp"] / "policy.json")], capsys)
    assert status == 2 and "issuer_kid" in err
    again = ["--state", world["state"], "init", "--issuer-key", str(world["tmp"] / "issuer.seed")]
    status, _, err = run([*again, "--policy", str(world["tmp"] / "policy.json")], capsys)
    assert status == 2 and "already initialised" in err


def test_replay_of_the_state_directorys_log(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state = ["--state", world["state"]]
    assert run([*state, "acquire", world["manifest_file"]], capsys)[0] == 0
    assert run([*state, "acquire", str(world["tmp"] / "nowhere")], capsys)[0] == 2
    log = str(Path(world["state"]) / "audit.jsonl")
    status, report, _ = run(["replay", "--json", "--workers", "1", log], capsys)
    assert status == 0 and report["ok"] and report["decisions_replayed"] == 1
    lines = Path(log).read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b'"GRANT"', b'"GRANS"', 1)  # the decision entry
    Path(log).write_bytes(b"\n".join(lines))
    status, text, _ = run(["replay", "--quiet", log], capsys)
    assert status == 1 and "line 4" in text


def test_receipt_export_and_verify(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    state = ["--state", world["state"]]
    status, grant, _ = run([*state, "acquire", world["manifest_file"]], capsys)
    assert status == 0
    receipt = str(world["tmp"] / "receipt.json")
    assert run([*state, "receipt", "export", grant["lease_id"], "--out", receipt], capsys)[0] == 0
    status, vkey, _ = run([*state, "audit", "checkpoint", "--vkey-only"], capsys)
    vkey = vkey.strip()
    status, view, _ = run(["receipt", "verify", receipt, "--issuer-key", vkey], capsys)
    assert status == 0 and view["ok"] and view["lease_id"] == grant["lease_id"]
    other = Ed25519Signer(bytes(32)).public_key
    wrong = VerifierKey(vkey.split("+")[0], other).to_vkey()
    status, view, _ = run(["receipt", "verify", receipt, "--issuer-key", wrong], capsys)
    assert status == 1 and view["reason"] == "BAD_CHECKPOINT"
    status, _, err = run([*state, "receipt", "export", "00" * 16], capsys)
    assert status == 2 and "NO_GRANT" in err


def test_receipt_verify_reads_no_more_than_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receipt file far over MAX_RECEIPT_BYTES is refused (MALFORMED, too large) after
    reading one byte past the limit, never read whole."""
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as handle:
        handle.truncate(MAX_RECEIPT_BYTES * 8)  # sparse: 128 MiB of zeros, no disk used
    reads: list[int] = []
    real_open = open

    class CountingReader:
        def __init__(self, handle: Any) -> None:
            self._handle = handle

        def read(self, size: int = -1) -> bytes:
            reads.append(size)
            return bytes(self._handle.read(size))

        def __enter__(self) -> CountingReader:
            return self

        def __exit__(self, *exc_info: object) -> None:
            self._handle.close()

    def counting_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, mode, *args, **kwargs)
        return CountingReader(handle) if str(file) == str(huge) else handle

    monkeypatch.setattr("builtins.open", counting_open)
    vkey = VerifierKey("issuer", Ed25519Signer(bytes(32)).public_key).to_vkey()
    status, view, _ = run(["receipt", "verify", str(huge), "--issuer-key", vkey], capsys)
    assert status == 1 and view["reason"] == "MALFORMED" and "too large" in view["detail"]
    assert reads == [MAX_RECEIPT_BYTES + 1]
