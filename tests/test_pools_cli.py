"""Pools through the command line (spec §14): request demand, quota denials, release and its
receipt, sub-leases, pool status, the daily report, and policy sources with pools.

Everything runs through ``pda_lease.cli.main`` in this process against a real state directory
(real boot clock and calendar), reusing the governance CLI tests' ``World``.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from pda_lease import sign_holder_proof
from pda_lease.conformance import ALICE, HOLDER, pools_policy
from pda_lease.governance.sources import lint_and_build
from test_cli_state import write
from test_policy_cli import World

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "policy"


@pytest.fixture
def pooled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> World:
    world = World(tmp_path, capsys)
    document = pools_policy()
    document["pools"]["org"]["requests"] = 100  # the tests ask often; concurrency stays 3
    bundle = world.sign_policy(1, document)
    for argv in (
        ["policy", "trust", world.policy_key_pub],
        ["policy", "stage", bundle],
        ["policy", "activate"],
    ):
        status, _, err = world.run([*world.state, *argv])
        assert status == 0, err
    return world


def acquire(world: World, task: str, *demand: str) -> tuple[int, Any]:
    _, manifest_file = world.manifest(task)
    request = world.request("alice", manifest_file, "research", "--tool", "fs.read", *demand)
    status, out, err = world.run([*world.state, "acquire", manifest_file, "--request", request])
    assert status in (0, 1), err
    return status, out


def proof(lease_id: str) -> dict[str, str]:
    return sign_holder_proof(HOLDER, bytes.fromhex(lease_id), os.urandom(32))


def test_the_demand_is_signed_and_a_quota_denial_names_pool_and_retry(pooled: World) -> None:
    status, out = acquire(pooled, "big", "--context-tokens", "9000")
    assert status == 1
    assert (out["code"], out["reason"], out["field"]) == (
        "QUOTA_EXCEEDED",
        "CONTEXT_TOO_LARGE",
        "pools.org.context_tokens",
    )
    assert out["retry"] is None
    for index in range(2):
        status, out = acquire(pooled, f"t{index}", "--spend-cents", "10")
        assert status == 0, out
    status, out = acquire(pooled, "t2", "--spend-cents", "10")
    assert (status, out["reason"]) == (1, "CONCURRENCY_EXCEEDED")
    assert set(out["retry"]) == {"at"} and out["retry"]["at"]["ns"] > 0
    status, pools, err = pooled.run([*pooled.state, "pools"])
    assert status == 0, err
    (research,) = [s for s in pools["scopes"] if s["scope"] == "pools.workspaces.research"]
    assert research["pools"]["concurrency"] == {"used": 2, "limit": 2}
    assert research["pools"]["spend_cents"] == {"used": 20, "limit": 300}


def test_release_then_verify_its_receipt_offline(pooled: World, tmp_path: Path) -> None:
    status, grant = acquire(pooled, "r", "--units", "5", "--spend-cents", "30")
    assert status == 0
    lease = grant["lease_id"]
    document = {"lease_id": lease, "usage": {"units": 4, "spend_cents": 25}, "holder_proof": {}}
    status, out, _ = pooled.run([*pooled.state, "release", write(tmp_path / "bad.json", document)])
    assert (status, out["result"], out["reason"]) == (1, "REFUSED", "HOLDER_PROOF_INVALID")
    document["holder_proof"] = proof(lease)
    release_file = write(tmp_path / "release.json", document)
    status, out, err = pooled.run([*pooled.state, "release", release_file])
    assert status == 0, err
    receipt = out["receipt"]
    assert receipt["settled"] == {"units": 4, "spend_cents": 25}
    assert receipt["reserved"] == {"units": 5, "spend_cents": 30} and not receipt["overrun"]
    receipt_file = write(tmp_path / "receipt.json", out)
    status, vkey, _ = pooled.run([*pooled.state, "audit", "checkpoint", "--vkey-only"])
    assert status == 0
    key = vkey.strip() if isinstance(vkey, str) else vkey
    status, checked, err = pooled.run(
        ["receipt", "verify-release", receipt_file, "--issuer-key", key]
    )
    assert status == 0, err
    assert checked["ok"] and checked["lease_id"] == lease
    tampered = dict(receipt, settled={"units": 4, "spend_cents": 1})
    status, checked, _ = pooled.run(
        [
            "receipt",
            "verify-release",
            write(tmp_path / "tampered.json", tampered),
            "--issuer-key",
            key,
        ]
    )
    assert (status, checked["reason"]) == (1, "BAD_SIGNATURE")
    document["holder_proof"] = proof(lease)
    again = write(tmp_path / "again.json", document)
    status, out, _ = pooled.run([*pooled.state, "release", again])
    assert (status, out["reason"]) == (1, "ALREADY_RELEASED")
    status, out, err = pooled.run([*pooled.state, "release", write(tmp_path / "x.json", [1])])
    assert status == 2 and "expected" in err


def test_a_sub_lease_by_the_command_line(pooled: World, tmp_path: Path) -> None:
    status, grant = acquire(pooled, "p")
    assert status == 0
    request = {
        "parent_token": grant["token"],
        "holder_proof": proof(grant["lease_id"]),
        "tool": "fs.read",
        "calls": 2,
        "ttl_ns": 10**9,
    }
    status, child, err = pooled.run(
        [*pooled.state, "sublease", write(tmp_path / "s.json", request)]
    )
    assert status == 0, err
    assert child["claims"]["parent"] == {
        "lease_id": grant["lease_id"],
        "tool": "fs.read",
        "calls": 2,
    }
    request["holder_proof"] = proof(grant["lease_id"])
    request["tool"] = "web.fetch"
    status, refused, _ = pooled.run(
        [*pooled.state, "sublease", write(tmp_path / "t.json", request)]
    )
    assert (status, refused["code"], refused["reason"]) == (
        1,
        "SUBLEASE_DENIED",
        "TOOL_NOT_IN_PARENT",
    )


def test_the_daily_report_by_the_command_line(pooled: World, tmp_path: Path) -> None:
    status, grant = acquire(pooled, "d", "--spend-cents", "250")
    assert status == 0
    release = {
        "lease_id": grant["lease_id"],
        "usage": {"units": 0, "spend_cents": 280},
        "holder_proof": proof(grant["lease_id"]),
    }
    status, _, err = pooled.run([*pooled.state, "release", write(tmp_path / "r.json", release)])
    assert status == 0, err
    png = tmp_path / "day.png"
    status, report, err = pooled.run([*pooled.state, "report", "daily", "--png", str(png)])
    assert status == 0, err
    text = json.dumps(report)
    assert "280" in text and ALICE.public_key.hex() in text
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0
    status, csv_text, _ = pooled.run([*pooled.state, "report", "daily", "--format", "csv"])
    assert status == 0 and csv_text.splitlines()[0].startswith("section,")
    status, _, err = pooled.run([*pooled.state, "report", "daily", "--png", str(png)])
    assert status == 2 and "exists" in err


def test_pools_on_a_manager_without_pools_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = World(tmp_path, capsys)
    status, _, err = world.run([*world.state, "pools"])
    assert status == 2 and "no pools" in err


# ------------------------------------------------------------------------------ sources


def _with_pools(tmp_path: Path, pools_yaml: str) -> Path:
    directory = tmp_path / "policy"
    directory.mkdir()
    for source in EXAMPLE.rglob("*.yml"):
        target = directory / source.relative_to(EXAMPLE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    org = directory / "org.yml"
    org.write_text(org.read_text(encoding="utf-8") + pools_yaml, encoding="utf-8")
    return directory


def test_sources_compile_pools_with_member_names_and_nulls(tmp_path: Path) -> None:
    directory = _with_pools(
        tmp_path,
        "pools:\n  rate_window_ns: 1000\n  org: {concurrency: 2}\n"
        "  workspaces: {research: {spend_cents: 300}}\n  principals: {dave: {compute: 1}}\n"
        "  safety: {clamp: {spend_cents: 5, window_ns: 10, lease_ns: 1}}\n",
    )
    document, messages = lint_and_build(directory)
    assert document is not None, messages
    none = dict.fromkeys(
        ("concurrency", "requests", "units", "context_tokens", "compute", "spend_cents")
    )
    dave = "3a53e28946e38a519cb358fdb6169dd07321cbc5ef30f4660d3a1dddcf3853c0"  # README table
    assert document["pools"] == {
        "rate_window_ns": 1000,
        "org": {**none, "concurrency": 2},
        "workspaces": {"research": {**none, "spend_cents": 300}},
        "principals": {dave: {**none, "compute": 1}},
        "safety": {
            "cooldown": None,
            "breaker": None,
            "clamp": {"spend_cents": 5, "window_ns": 10, "lease_ns": 1},
        },
    }


@pytest.mark.parametrize(
    ("pools_yaml", "key"),
    [
        (
            "pools:\n  rate_window_ns: 0\n  org: {}\n  workspaces: {}\n  principals: {}\n"
            "  safety: {}\n",
            "pools.rate_window_ns",
        ),
        (
            "pools:\n  rate_window_ns: 1\n  org: {bogus: 1}\n  workspaces: {}\n  principals: {}\n"
            "  safety: {}\n",
            "pools.org.bogus",
        ),
        (
            "pools:\n  rate_window_ns: 1\n  org: {}\n  workspaces: {nowhere: {}}\n"
            "  principals: {}\n  safety: {}\n",
            "pools.workspaces.nowhere",
        ),
        (
            "pools:\n  rate_window_ns: 1\n  org: {}\n  workspaces: {}\n  principals: {}\n"
            "  safety: {cooldown: {denials: 0, window_ns: 1, cooldown_ns: 1}}\n",
            "pools.safety.cooldown.denials",
        ),
    ],
)
def test_sources_refuse_broken_pools(tmp_path: Path, pools_yaml: str, key: str) -> None:
    document, messages = lint_and_build(_with_pools(tmp_path, pools_yaml))
    assert document is None
    assert [(m.file, m.key) for m in messages if m.severity == "error"] == [("org.yml", key)]
