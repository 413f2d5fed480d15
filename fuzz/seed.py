"""Build the seed corpora ``fuzz/corpus/<target>/`` from the conformance vectors and a live log.

A coverage-guided fuzzer starting from nothing would spend most of its time rediscovering the
token's COSE envelope or the audit line's JSON shape. The conformance vectors already hold
valid and almost-valid tokens, manifests, snapshots and HRC tokens; receipts, checkpoints and
audit lines are produced by running the durable manager in a temporary directory (as
tests/test_receipt.py does). Each seed is named by the SHA-1 of its bytes, as libFuzzer names
the units it adds, so re-running this script adds nothing twice and keeps what the fuzzer
merged in. The log ids are random, so the manager-made seeds differ from run to run.

    .venv/bin/python fuzz/seed.py [--vectors specs/vectors] [--out fuzz/corpus]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pda_lease import Grant, InvalidLease, LeasePolicy, json_digest, sign_holder_proof
from pda_lease.adapters import FakeClock, MemoryTrustSource
from pda_lease.conformance import (
    EPOCH,
    HOLDER,
    ISSUER,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
    governance_policy,
)
from pda_lease.governance.bundle import sign_bundle
from pda_lease.kernel import cbor
from pda_lease.manager import LeaseManager
from pda_lease.receipt import export_receipt

ROOT = Path(__file__).resolve().parent.parent
# Seeds larger than this are left out: libFuzzer sizes its inputs after the largest seed, and
# the few huge vectors (a 68 KB manifest) only test a size limit that one seed byte reaches.
MAX_SEED_BYTES = 16 * 1024


def _json(value: object) -> bytes:
    """Compact JSON with \\u escapes: some vectors hold lone surrogates, which UTF-8 cannot."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("ascii")


def _vectors(directory: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict):
            yield document


def _cbor_parts(token: bytes) -> Iterator[bytes]:
    """The token and the CBOR items nested in it (protected header, claims payload)."""
    yield token
    try:
        outer = cbor.decode(token, max_depth=8, allow_top_tag=True)
    except cbor.CborError:
        return
    if isinstance(outer, cbor.Tag) and isinstance(outer.content, list):
        yield cbor.encode(outer.content)
        for part in outer.content:
            if type(part) is bytes and part:
                yield part


def vector_seeds(directory: Path) -> dict[str, list[bytes]]:
    seeds: dict[str, list[bytes]] = {
        "token": [],
        "decide": [],
        "inputs": [],
        "cbor": [],
        "governed": [],
        "bundle": [],
        "policy_yaml": [],
        "pools": [],
    }
    for vector in _vectors(directory):
        document = vector.get("input", {})
        expected = vector.get("expected", {})
        tokens = [document.get("token"), expected.get("token")]
        for token_hex in tokens:
            if type(token_hex) is str:
                token = bytes.fromhex(token_hex)
                seeds["token"].append(token)
                seeds["cbor"].extend(_cbor_parts(token))
        if vector.get("kind") == "decision" and "usage" in document:
            usage = document["usage"]
            seeds["pools"].append(_json({"request": document["request"], "usage": usage}))
            if usage is not None:
                seeds["pools"].append(_json(usage))
        if vector.get("kind") == "sublease":
            arguments = ("tool", "calls", "ttl_ns", "holder_public_key")
            seeds["pools"].append(_json({name: document.get(name) for name in arguments}))
        if vector.get("kind") == "decision" and "request" in document:
            whole = {
                name: document.get(name)
                for name in ("manifest", "request", "approvals", "hrc_token")
            }
            seeds["governed"].append(_json(whole))
            for name in ("request", "approvals"):
                if document.get(name) is not None:
                    seeds["governed"].append(_json(document[name]))
            continue
        if vector.get("kind") == "decision":
            whole = {
                name: document.get(name)
                for name in ("manifest", "trust_snapshot", "hrc_token", "now")
            }
            seeds["decide"].append(_json(whole))
            for name in ("manifest", "trust_snapshot", "hrc_token"):
                if document.get(name) is not None:
                    part = _json(document[name])
                    seeds["inputs"].append(part)
                    seeds["decide"].append(part)
        if vector.get("kind") == "standing":
            snapshot = document.get("trust_snapshot")
            if snapshot is not None:
                seeds["inputs"].append(_json(snapshot))
    small: list[object] = [[], {}, 0, -1, "", b"", None, True]
    seeds["cbor"].extend(cbor.encode(value) for value in small)
    policy = governance_policy()
    seeds["bundle"].append(sign_bundle(ISSUER, policy))  # the bundle target trusts ISSUER
    seeds["bundle"].append(_json(policy))
    examples = ROOT / "examples" / "policy"
    seeds["policy_yaml"].extend(
        path.read_bytes() for path in sorted(examples.rglob("*.yml")) if path.is_file()
    )
    return seeds


def log_seeds() -> dict[str, list[bytes]]:
    """Receipts, checkpoint notes and audit lines from a short life of a real manager."""
    policy = LeasePolicy.from_json(base_policy())
    with tempfile.TemporaryDirectory(prefix="pda-lease-seed-") as temp:
        state = Path(temp) / "state"
        manager = LeaseManager.open(
            state,
            signer=ISSUER,
            policy=policy,
            clock=FakeClock(EPOCH, 100 * SECOND),
            trust_source=MemoryTrustSource(base_snapshot()),
        )
        notes: list[str] = []
        with manager:
            manifest = base_manifest()
            first = manager.acquire(manifest)
            second = manager.acquire(dict(manifest, task_id="task-other"))
            denied = manager.acquire(dict(manifest, manifest_version=2))
            assert isinstance(first, Grant) and isinstance(second, Grant)
            assert not isinstance(denied, Grant)
            notes.append(manager.checkpoint())
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
            notes.append(manager.checkpoint())
        audit = state / "audit.jsonl"
        receipts = [
            export_receipt(audit, notes[-1], first.lease_id),
            export_receipt(audit, notes[-1], second.lease_id),
            export_receipt(audit, notes[0], second.lease_id),
        ]
        lines = audit.read_bytes().splitlines()
    checkpoint_seeds = [note.encode("utf-8") for note in notes]
    checkpoint_seeds += [note.split("\n\n", 1)[0].encode("utf-8") + b"\n" for note in notes]
    return {"receipt": receipts, "checkpoint": checkpoint_seeds, "audit": lines}


def write_corpus(out: Path, seeds: dict[str, list[bytes]]) -> dict[str, int]:
    added: dict[str, int] = {}
    for target, items in seeds.items():
        directory = out / target
        directory.mkdir(parents=True, exist_ok=True)
        added[target] = 0
        for item in items:
            if len(item) > MAX_SEED_BYTES:
                continue
            path = directory / hashlib.sha1(item).hexdigest()
            if not path.exists():
                path.write_bytes(item)
                added[target] += 1
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, default=ROOT / "specs" / "vectors")
    parser.add_argument("--out", type=Path, default=ROOT / "fuzz" / "corpus")
    args = parser.parse_args(argv)
    seeds = vector_seeds(args.vectors)
    seeds.update(log_seeds())
    for target, count in sorted(write_corpus(args.out, seeds).items()):
        print(f"{target}: {count} new seeds in {args.out / target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
