"""Governance through the command line (spec §13): sign, trust, stage, activate, decide, replay.

Everything runs through ``pda_lease.cli.main`` in this process against a real state directory.
The manager reads the real boot clock, so manifests get an execution window around this
machine's clock reading and requests/approvals are signed at a fresh reading of it.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pda_lease import sign_holder_proof
from pda_lease.adapters import BootClock
from pda_lease.conformance import (
    ALICE,
    BOB,
    CAROL,
    CI_BOT,
    HOLDER,
    base_manifest,
    base_policy,
    base_snapshot,
    governance_policy,
    vector_seed,
)
from pda_lease.kernel.crypto import Ed25519Signer, cose_key_thumbprint
from pda_lease.kernel.inputs import json_digest
from test_cli_state import run, write  # the CLI test helpers

HOUR_NS = 3600 * 10**9


def seed_file(tmp: Path, name: str) -> str:
    path = tmp / f"{name}.seed"
    path.write_text(vector_seed(name).hex() + "\n")
    return str(path)


class World:
    """An initialised state directory with a trusted policy key made by ``keygen``."""

    def __init__(self, tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp = tmp
        self.capsys = capsys
        self.state_dir = tmp / "state"
        self.state = ["--state", str(self.state_dir)]
        self.issuer_seed = seed_file(tmp, "issuer")
        self.seeds = {name: seed_file(tmp, name) for name in ("alice", "ci-bot", "bob", "carol")}
        status, key, err = self.run(["keygen", "--out", str(tmp / "policy-key")])
        assert status == 0, err
        self.policy_key_seed = key["seed_file"]
        self.policy_key_pub = key["public_key_file"]
        self.policy_public_key = bytes.fromhex(key["public_key"])
        status, out, err = self.run(
            [
                *self.state,
                "init",
                "--issuer-key",
                self.issuer_seed,
                "--policy",
                write(tmp / "policy.json", base_policy()),
                "--trust",
                write(tmp / "trust.json", base_snapshot(8000)),
            ]
        )
        assert status == 0, err
        assert out["issuer_kid"] == base_policy()["issuer_kid"]

    def run(self, argv: list[str]) -> tuple[int, Any, str]:
        return run(argv, self.capsys)

    def sign_policy(self, version: int, document: dict[str, Any] | None = None) -> str:
        doc_file = write(self.tmp / f"gov-{version}.json", document or governance_policy(version))
        bundle = self.tmp / f"gov-{version}.bundle"
        status, out, err = self.run(
            ["policy", "sign", doc_file, "--key", self.policy_key_seed, "--out", str(bundle)]
        )
        assert status == 0, err
        assert out["bundle"] == str(bundle) and out["version"] == version
        assert out["policy_digest"] == json_digest(document or governance_policy(version)).hex()
        assert out["signer_kid"] == cose_key_thumbprint(self.policy_public_key).hex()
        return str(bundle)

    def manifest(self, task_id: str) -> tuple[dict[str, Any], str]:
        now = BootClock().now()
        manifest = base_manifest()
        manifest["task_id"] = task_id
        manifest["window"] = {
            "epoch": now.epoch,
            "not_before_ns": max(0, now.ns - HOUR_NS),
            "not_after_ns": now.ns + HOUR_NS,
        }
        return manifest, write(self.tmp / f"{task_id}.manifest.json", manifest)

    def request(
        self, who: str, manifest_file: str, workspace: str, *extra: str, name: str = ""
    ) -> str:
        now = BootClock().now()
        status, request, err = self.run(
            [
                "request-sign",
                "--key",
                self.seeds[who],
                "--manifest",
                manifest_file,
                "--workspace",
                workspace,
                "--epoch",
                now.epoch,
                "--ns",
                str(now.ns),
                *extra,
            ]
        )
        assert status == 0, err
        assert request["requested_at"] == now.to_json()
        return write(self.tmp / f"request-{who}-{name or workspace}.json", request)

    def approval(self, who: str, manifest_file: str) -> dict[str, Any]:
        now = BootClock().now()
        status, approval, err = self.run(
            [
                "approval-sign",
                "--key",
                self.seeds[who],
                "--manifest",
                manifest_file,
                "--epoch",
                now.epoch,
                "--ns",
                str(now.ns),
            ]
        )
        assert status == 0, err
        assert approval["verdict"] == "APPROVE" and approval["signed_at"] == now.to_json()
        result: dict[str, Any] = approval
        return result

    def audit(self) -> list[dict[str, Any]]:
        lines = (self.state_dir / "audit.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line]


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> World:
    return World(tmp_path, capsys)


def _activate(world: World, version: int) -> dict[str, Any]:
    bundle = world.sign_policy(version)
    status, staged, err = world.run([*world.state, "policy", "stage", bundle])
    assert status == 0, err
    assert staged["staged"]["version"] == version
    status, activated, err = world.run([*world.state, "policy", "activate"])
    assert status == 0, err
    assert activated["activated"]["version"] == version
    result: dict[str, Any] = activated
    return result


def _authorization(world: World, grant: dict[str, Any], manifest: dict[str, Any]) -> str:
    challenge = os.urandom(16)
    proof = sign_holder_proof(HOLDER, bytes.fromhex(grant["lease_id"]), challenge)
    document = {"token": grant["token"], "holder_proof": proof, "manifest": manifest}
    return write(world.tmp / f"authz-{challenge.hex()}.json", document)


def test_governed_lifecycle_end_to_end(world: World) -> None:
    state = world.state
    policy_dir = world.state_dir / "policy"

    # Nothing active yet: show says so (exit 1); staging without a trusted key is refused.
    status, shown, _ = world.run([*state, "policy", "show"])
    assert status == 1 and shown == {"active": None}
    bundle_v1 = world.sign_policy(1)
    status, _, err = world.run([*state, "policy", "stage", bundle_v1])
    assert status == 2 and "UNTRUSTED_KEY" in err
    status, _, err = world.run([*state, "policy", "activate"])
    assert status == 2 and "NOT_STAGED" in err

    # Trust the policy key (from the .pub file keygen wrote), stage, activate, show.
    status, trusted, err = world.run([*state, "policy", "trust", world.policy_key_pub])
    assert status == 0, err
    assert trusted == {"trusted_policy_keys": [world.policy_public_key.hex()]}
    status, staged, err = world.run([*state, "policy", "stage", bundle_v1])
    assert status == 0, err
    status, shown, _ = world.run([*state, "policy", "show", "--staged"])
    assert status == 0 and shown == staged["staged"]
    status, activated, err = world.run([*state, "policy", "activate"])
    assert status == 0, err
    assert activated["previous"] is None
    assert activated["activated"] == staged["staged"]
    v1_digest = json_digest(governance_policy(1)).hex()
    assert activated["activated"]["policy_digest"] == v1_digest
    status, shown, _ = world.run([*state, "policy", "show", "--document"])
    assert status == 0
    assert shown["document"] == governance_policy(1)
    assert shown["policy_digest"] == v1_digest and shown["version"] == 1
    status, shown, _ = world.run([*state, "policy", "show", "--staged"])
    assert status == 1 and shown == {"staged": None}
    for name in ("trusted_keys.json", "active.bundle"):
        assert stat.S_IMODE(os.stat(policy_dir / name).st_mode) == 0o600, name

    # Alice, analyst in research, reads with a local model: GRANT under policy v1.
    manifest, manifest_file = world.manifest("task-read")
    request = world.request("alice", manifest_file, "research", "--model", "local-small")
    status, grant, err = world.run([*state, "acquire", manifest_file, "--request", request])
    assert status == 0, err
    assert grant["decision"] == "GRANT"
    claims = grant["claims"]
    assert claims["policy_digest"] == v1_digest
    governance = claims["governance"]
    assert governance["principal"] == ALICE.public_key.hex()
    assert (governance["workspace"], governance["role"], governance["model"]) == (
        "research",
        "analyst",
        "local-small",
    )
    assert governance["tools"] == [] and governance["approvals"] is None
    status, allowed, err = world.run([*state, "authorize", _authorization(world, grant, manifest)])
    assert status == 0 and allowed["result"] == "ALLOW", err

    # Without a request, a governed authority refuses (step G1).
    status, denied, _ = world.run([*state, "acquire", manifest_file])
    assert status == 1
    assert (denied["code"], denied["reason"]) == ("POLICY_DENIED", "REQUEST_MISSING")

    # The CI bot is not a member of research: a role it does not have is never taken.
    bot_request = world.request("ci-bot", manifest_file, "research")
    status, denied, _ = world.run([*state, "acquire", manifest_file, "--request", bot_request])
    assert status == 1
    assert denied["decision"] == "DENY"
    assert (denied["code"], denied["reason"], denied["field"]) == (
        "POLICY_DENIED",
        "WORKSPACE_NOT_ALLOWED",
        "request.workspace",
    )

    # Reading and fetching from the web needs two reviewers (network: bob and carol).
    _, web_file = world.manifest("task-web")
    tools = ["--model", "local-small", "--tool", "web.fetch", "--tool", "fs.read"]
    web_request = world.request("alice", web_file, "research", *tools, name="web")
    bob = world.approval("bob", web_file)
    carol = world.approval("carol", web_file)
    only_bob = write(world.tmp / "approvals-bob.json", [bob])
    status, denied, _ = world.run(
        [*state, "acquire", web_file, "--request", web_request, "--approvals", only_bob]
    )
    assert status == 1
    assert (denied["code"], denied["reason"], denied["field"]) == (
        "APPROVAL_REQUIRED",
        "APPROVALS_INSUFFICIENT",
        "categories.network",
    )
    status, denied, _ = world.run([*state, "acquire", web_file, "--request", web_request])
    assert status == 1 and denied["code"] == "APPROVAL_REQUIRED"
    both = write(world.tmp / "approvals-both.json", [bob, carol])
    status, web_grant, err = world.run(
        [*state, "acquire", web_file, "--request", web_request, "--approvals", both]
    )
    assert status == 0, err
    assert web_grant["decision"] == "GRANT"
    web_governance = web_grant["claims"]["governance"]
    assert web_governance["tools"] == ["fs.read", "web.fetch"]
    assert web_governance["approvals"] == json_digest([bob, carol]).hex()
    assert {bob["reviewer"], carol["reviewer"]} == {
        BOB.public_key.hex(),
        CAROL.public_key.hex(),
    }

    # Upgrade: version 2 ends every lease granted under version 1 (§8 step 5).
    upgraded = _activate(world, 2)
    assert upgraded["previous"]["version"] == 1
    v2_digest = json_digest(governance_policy(2)).hex()
    assert upgraded["activated"]["policy_digest"] == v2_digest
    status, view, _ = world.run([*state, "status", "--json"])
    assert status == 0
    by_id = {lease["lease_id"]: lease for lease in view["leases"]}
    for lease_id in (grant["lease_id"], web_grant["lease_id"]):
        assert by_id[lease_id]["state"] == "ended"
        assert (by_id[lease_id]["code"], by_id[lease_id]["reason"]) == (
            "LEASE_REVOKED",
            "POLICY_CHANGED",
        )
    status, refused, _ = world.run([*state, "authorize", _authorization(world, grant, manifest)])
    assert status == 1
    assert (refused["result"], refused["code"], refused["reason"]) == (
        "DENY",
        "LEASE_REVOKED",
        "POLICY_CHANGED",
    )
    # A new request is granted under version 2.
    request_v2 = world.request("alice", manifest_file, "research", name="v2")
    status, grant_v2, err = world.run([*state, "acquire", manifest_file, "--request", request_v2])
    assert status == 0, err
    assert grant_v2["claims"]["policy_digest"] == v2_digest

    # Rollback: the version 1 bundle, correctly signed and trusted, is refused.
    status, out, err = world.run([*state, "policy", "stage", bundle_v1])
    assert status == 2 and out == ""
    assert err.startswith("pda-lease: error:") and "ROLLBACK" in err
    status, shown, _ = world.run([*state, "policy", "show"])
    assert status == 0 and shown["version"] == 2

    # The audit log carries each active policy document and every governed request.
    entries = world.audit()
    authority = [entry for entry in entries if entry.get("event") == "authority"]
    documents = [entry["policy"] for entry in authority]
    assert documents[0] == base_policy()  # the initial, ungoverned authority
    assert governance_policy(1) in documents and governance_policy(2) in documents
    for entry in authority:
        assert entry["policy_digest"] == json_digest(entry["policy"]).hex()
    assert documents.index(governance_policy(1)) < documents.index(governance_policy(2))
    decisions = [entry for entry in entries if entry.get("event") == "decision"]
    assert len(decisions) == 7
    for entry in decisions:
        assert "request" in entry and "approvals" in entry
    # Inputs are recorded as {"json": value} (spec §12.3); an absent one as null.
    recorded = [entry["request"] for entry in decisions]
    assert {"json": json.loads(Path(request).read_text())} in recorded
    assert {"json": json.loads(Path(bot_request).read_text())} in recorded
    assert None in recorded  # the request-less acquire is recorded as such
    approvals = [entry["approvals"] for entry in decisions]
    assert {"json": [bob]} in approvals and {"json": [bob, carol]} in approvals
    by_policy = {entry["policy_digest"] for entry in decisions}
    assert by_policy == {v1_digest, v2_digest}

    # Replay re-judges every decision under the policy that was active when it was made.
    log = str(world.state_dir / "audit.jsonl")
    status, report, err = world.run(["replay", "--json", "--workers", "1", log])
    assert status == 0, (report, err)
    assert report["ok"] and report["decisions_replayed"] == 7
    # Not vacuous: a copy whose recorded denial reason was edited does not replay.
    edited = world.tmp / "edited-audit.jsonl"
    text = Path(log).read_text()
    assert text.count('"WORKSPACE_NOT_ALLOWED"') == 1
    edited.write_text(text.replace('"WORKSPACE_NOT_ALLOWED"', '"CAPABILITY_NOT_IN_ROLE"'))
    status, report, _ = world.run(["replay", "--json", "--workers", "1", str(edited)])
    assert status == 1 and not report["ok"]
    status, report, _ = world.run([*state, "audit", "verify", "--json"])
    assert status == 0 and report["ok"]


def test_activation_is_an_audit_entry_even_before_the_next_use(world: World) -> None:
    assert world.run([*world.state, "policy", "trust", world.policy_key_pub])[0] == 0
    before = len(world.audit())
    activated = _activate(world, 1)
    entries = world.audit()
    assert activated["audit_entries"] == len(entries) > before
    last_authority = [entry for entry in entries if entry.get("event") == "authority"][-1]
    assert last_authority["policy"] == governance_policy(1)


def test_policy_cli_refusals(world: World) -> None:
    state = world.state
    assert world.run([*state, "policy", "trust", world.policy_public_key.hex()])[0] == 0

    # An invalid document is never signed, and no bundle file is left behind.
    bad = write(world.tmp / "bad.json", {**governance_policy(1), "version": 0})
    out_file = world.tmp / "bad.bundle"
    status, _, err = world.run(
        ["policy", "sign", bad, "--key", world.policy_key_seed, "--out", str(out_file)]
    )
    assert status == 2 and "version" in err
    assert not out_file.exists()

    # sign never overwrites an existing file.
    bundle = world.sign_policy(1)
    before = Path(bundle).read_bytes()
    status, _, err = world.run(
        [
            "policy",
            "sign",
            str(world.tmp / "gov-1.json"),
            "--key",
            world.policy_key_seed,
            "--out",
            bundle,
        ]
    )
    assert status == 2 and "exists" in err
    assert Path(bundle).read_bytes() == before

    # A tampered bundle, a truncated one and a bundle for another issuer.
    data = bytearray(before)
    data[-1] ^= 1
    tampered = world.tmp / "tampered.bundle"
    tampered.write_bytes(bytes(data))
    status, _, err = world.run([*state, "policy", "stage", str(tampered)])
    assert status == 2 and "BAD_SIGNATURE" in err
    truncated = world.tmp / "truncated.bundle"
    truncated.write_bytes(before[:-5])
    status, _, err = world.run([*state, "policy", "stage", str(truncated)])
    assert status == 2 and "MALFORMED" in err

    other = governance_policy(5)
    other["lease_policy"]["issuer_kid"] = cose_key_thumbprint(
        Ed25519Signer(vector_seed("other-issuer")).public_key
    ).hex()
    other_bundle = world.sign_policy(5, other)
    assert world.run([*state, "policy", "stage", other_bundle])[0] == 0
    status, _, err = world.run([*state, "policy", "activate"])
    assert status == 2 and "ISSUER_MISMATCH" in err
    status, shown, _ = world.run([*state, "policy", "show"])
    assert status == 1 and shown == {"active": None}

    # A lease token is not a bundle.
    vector = json.loads(
        (Path(__file__).resolve().parent.parent / "specs/vectors/gov-grant.json").read_text()
    )
    token_file = world.tmp / "token.bin"
    token_file.write_bytes(bytes.fromhex(vector["expected"]["token"]))
    assert world.run([*state, "policy", "trust", ALICE.public_key.hex()])[0] == 0
    status, _, err = world.run([*state, "policy", "stage", str(token_file)])
    assert status == 2 and "MALFORMED" in err

    # A bad public key is unusable input.
    status, _, err = world.run([*state, "policy", "trust", "00" * 32])
    assert status == 2

    # Policy commands need an initialised state directory.
    status, _, err = world.run(
        ["--state", str(world.tmp / "uninitialised"), "policy", "stage", bundle]
    )
    assert status == 2 and "not initialised" in err


def test_a_tampered_active_bundle_stops_the_manager(world: World) -> None:
    """Fail closed: a changed active.bundle never silently falls back to policy.json."""
    assert world.run([*world.state, "policy", "trust", world.policy_key_pub])[0] == 0
    _activate(world, 1)
    _, manifest_file = world.manifest("task-read")
    request = world.request("alice", manifest_file, "research")
    assert world.run([*world.state, "acquire", manifest_file, "--request", request])[0] == 0
    active = world.state_dir / "policy" / "active.bundle"
    data = bytearray(active.read_bytes())
    data[-1] ^= 1
    active.write_bytes(bytes(data))
    status, out, err = world.run([*world.state, "acquire", manifest_file, "--request", request])
    assert status == 2 and out == "" and "BAD_SIGNATURE" in err
    status, _, err = world.run([*world.state, "policy", "show"])
    assert status == 2 and "BAD_SIGNATURE" in err
    # And an ungoverned acquire does not get through the old policy.json either.
    status, _, err = world.run([*world.state, "acquire", manifest_file])
    assert status == 2


def test_ci_bot_in_its_own_workspace(world: World) -> None:
    """The bot's role in ops allows mail.send only: files.read is not in its role."""
    assert world.run([*world.state, "policy", "trust", world.policy_key_pub])[0] == 0
    _activate(world, 1)
    _, manifest_file = world.manifest("task-bot")
    request = world.request("ci-bot", manifest_file, "ops", "--tool", "fs.read")
    status, denied, _ = world.run([*world.state, "acquire", manifest_file, "--request", request])
    assert status == 1
    assert (denied["code"], denied["reason"], denied["field"]) == (
        "POLICY_DENIED",
        "CAPABILITY_NOT_IN_ROLE",
        "capability_id",
    )
    assert CI_BOT.public_key.hex() == json.loads(Path(request).read_text())["principal"]


def test_deleting_the_active_bundle_does_not_ungovern_the_manager(world: World) -> None:
    """Fail closed (§13.3): once a governance policy is active, removing ``active.bundle``
    must neither drop the manager back to the ungoverned ``policy.json`` nor reopen rollback.

    KNOWN FAILURE (src bug, reported): ``_current_policy`` falls back to ``policy.json`` when
    ``active.bundle`` is missing, and ``PolicyStore`` keeps no version high-water mark outside
    that file, so a deleted active bundle grants without any governed request and lets a
    correctly signed older bundle be staged and activated again.
    """
    state = world.state
    assert world.run([*state, "policy", "trust", world.policy_key_pub])[0] == 0
    _activate(world, 2)
    _, manifest_file = world.manifest("task-read")
    status, denied, _ = world.run([*state, "acquire", manifest_file])
    assert status == 1 and denied["reason"] == "REQUEST_MISSING"
    (world.state_dir / "policy" / "active.bundle").unlink()
    status, decision, _ = world.run([*state, "acquire", manifest_file])
    assert status != 0, f"ungoverned {decision['decision']} after active.bundle was deleted"
    status, _, err = world.run([*state, "policy", "stage", world.sign_policy(1)])
    assert status == 2 and "ROLLBACK" in err
