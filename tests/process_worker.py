"""A worker process for ``test_manager_processes.py``: one ``LeaseManager`` in its own process.

Run as ``python tests/process_worker.py MODE STATE_DIR --base-ns N [options]``. Every process
(the test and its workers) builds the same ``SharedClock``, so they agree on the time, and reads
the same trust snapshot file, so they agree on the scores.

Modes:

* ``serve``: open the state directory, print ``{"ready": true}``, then answer one JSON command
  per stdin line with one JSON reply per stdout line (see ``_serve``). The test drives several
  of these to decide exactly what happens, in which process, in which order.
* ``writer``: open the state directory and loop acquire / authorize / revoke forever, printing
  one acknowledgement line (flushed) after each call has *returned*; the test kills it with
  SIGKILL at a random moment, so a line printed is a promise the state directory must keep.

Ack lines of ``writer`` (one ``write`` each, shorter than PIPE_BUF, so never torn):
``READY``, ``GRANT <lease_id>``, ``AUTH <lease_id> <challenge>``, ``REVOKED <lease_id>
<already 0|1>`` and, for anything unexpected, ``ERROR <what>``.

With ``--pause-in-open`` the process stops (prints ``{"paused": true}`` and sleeps) at the
moment the first open has appended its audit entries and is about to commit the store, which is
a crash window the test then hits with SIGKILL.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from pda_lease import Decision, Grant, InvalidLease, LeasePolicy, json_digest, sign_holder_proof
from pda_lease.adapters import FileTrustSource
from pda_lease.adapters.store import SqliteLeaseStore
from pda_lease.conformance import EPOCH, HOLDER, ISSUER, SECOND, base_manifest, base_policy
from pda_lease.kernel.inputs import MonotonicTime
from pda_lease.manager import LeaseManager

POLICY = LeasePolicy.from_json(base_policy())
# The manifests' window is [10 s, 3600 s) of EPOCH; the shared clock starts inside it.
START_NS = 20 * SECOND


class SharedClock:
    """EPOCH time that every process agrees on: ``START_NS`` plus the CLOCK_BOOTTIME elapsed
    since ``base_ns`` (a CLOCK_BOOTTIME reading the test takes once and hands to its workers).
    It is monotonic and system-wide, so a lease granted in one process is judged at the same
    time in another."""

    def __init__(self, base_ns: int) -> None:
        self._base_ns = base_ns

    def now(self) -> MonotonicTime:
        elapsed = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - self._base_ns
        return MonotonicTime(EPOCH, START_NS + max(0, elapsed))


def boottime_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def manifest_for(task_id: str) -> dict[str, Any]:
    return dict(base_manifest(), task_id=task_id)


def open_manager(
    state_dir: str | os.PathLike[str],
    base_ns: int,
    trust_file: str | os.PathLike[str] | None = None,
) -> LeaseManager:
    trust = Path(trust_file) if trust_file is not None else Path(state_dir) / "trust.json"
    return LeaseManager.open(
        state_dir,
        signer=ISSUER,
        policy=POLICY,
        clock=SharedClock(base_ns),
        trust_source=FileTrustSource(trust),
    )


def fresh_proof(lease_id: bytes) -> tuple[dict[str, str], bytes]:
    challenge = os.urandom(32)
    return sign_holder_proof(HOLDER, lease_id, challenge), challenge


def _pause_forever(*_: object) -> None:
    """Stand still inside the store transaction until the test kills this process."""
    _emit({"paused": True})
    while True:
        time.sleep(60)


def _emit(reply: object) -> None:
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def _ack(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------------------ serve


def _acquire(manager: LeaseManager, task_id: str) -> dict[str, object]:
    return _decision(manager.acquire(manifest_for(task_id)))


def _decision(decision: Decision) -> dict[str, object]:
    if isinstance(decision, Grant):
        return {
            "decision": "GRANT",
            "lease_id": decision.lease_id.hex(),
            "token": decision.token.hex(),
        }
    return {"decision": "DENY", "code": str(decision.code), "reason": decision.reason}


def _authorize(manager: LeaseManager, command: dict[str, Any]) -> dict[str, object]:
    token = bytes.fromhex(command["token"])
    lease_id = bytes.fromhex(command["lease_id"])
    if "challenge" in command:
        challenge = bytes.fromhex(command["challenge"])
        proof = sign_holder_proof(HOLDER, lease_id, challenge)
    else:
        proof, challenge = fresh_proof(lease_id)
    task_id = command["task_id"]
    try:
        manager.authorize(
            token, proof, task_id=task_id, manifest_digest=json_digest(manifest_for(task_id))
        )
    except InvalidLease as refused:
        return {
            "result": "DENY",
            "code": str(refused.deny.code),
            "reason": refused.deny.reason,
            "challenge": challenge.hex(),
        }
    return {"result": "ALLOW", "challenge": challenge.hex()}


def _wait_until(command: dict[str, Any]) -> None:
    """A start barrier: sleep until the CLOCK_MONOTONIC instant ``start_at`` (system-wide)."""
    delay = (int(command.get("start_at", 0)) - time.monotonic_ns()) / 1e9
    if delay > 0:
        time.sleep(delay)


def _serve(manager: LeaseManager) -> None:
    """Commands: ``acquire {task_id}``, ``acquire_series {task_ids, batch}`` (single acquires,
    then the last ``batch`` ids as one ``acquire_many``; replies with the decisions and the
    CLOCK_MONOTONIC span it took), ``authorize {token, lease_id, task_id[, challenge]}``,
    ``revoke {lease_id, reason}``, ``revoke_many {lease_ids}`` (both batch commands start at
    the CLOCK_MONOTONIC instant ``start_at``, if given), ``pause_before_commit`` (the next
    store commit stops before it happens), ``quit``."""
    for text in sys.stdin:
        command: dict[str, Any] = json.loads(text)
        op = command["op"]
        try:
            if op == "quit":
                manager.close()
                _emit({"bye": True})
                return
            if op == "acquire":
                _emit(_acquire(manager, command["task_id"]))
            elif op == "acquire_series":
                _wait_until(command)
                task_ids: list[str] = command["task_ids"]
                batch = int(command["batch"])
                single = task_ids[: len(task_ids) - batch]
                started = time.monotonic_ns()
                results = [_acquire(manager, task_id) for task_id in single]
                if batch:
                    manifests = [manifest_for(task_id) for task_id in task_ids[len(single) :]]
                    results.extend(_decision(d) for d in manager.acquire_many(manifests))
                _emit({"results": results, "span": [started, time.monotonic_ns()]})
            elif op == "authorize":
                _emit(_authorize(manager, command))
            elif op == "revoke":
                revocation = manager.revoke(command["lease_id"], command.get("reason", "test"))
                _emit({"revoked": revocation.lease_id.hex(), "already": revocation.already_revoked})
            elif op == "revoke_many":
                _wait_until(command)
                started = time.monotonic_ns()
                done = []
                for lease_id in command["lease_ids"]:
                    revocation = manager.revoke(lease_id, "concurrent revoke")
                    done.append([revocation.lease_id.hex(), revocation.already_revoked])
                _emit({"revoked": done, "span": [started, time.monotonic_ns()]})
            elif op == "pause_before_commit":
                setattr(manager.store, "set_audit_head", _pause_forever)  # noqa: B010
                _emit({"armed": True})
            else:
                _emit({"error": f"unknown op {op!r}"})
        except Exception as exc:  # reported to the test, which fails on it
            _emit({"error": repr(exc), "traceback": traceback.format_exc()})


# ------------------------------------------------------------------------------ writer


def _writer(manager: LeaseManager, prefix: str, seed: int) -> None:
    """acquire / acquire_many / authorize / revoke forever; ack each call after it returns."""
    rng = random.Random(seed)
    granted: list[tuple[bytes, bytes, str]] = []  # (lease_id, token, task_id), not revoked
    counter = 0
    while True:
        roll = rng.random()
        if roll < 0.4 or not granted:
            size = rng.randint(2, 12) if roll < 0.08 else 1
            task_ids = [f"{prefix}-{counter + index}" for index in range(size)]
            counter += size
            decisions = manager.acquire_many([manifest_for(task_id) for task_id in task_ids])
            for task_id, decision in zip(task_ids, decisions, strict=True):
                if not isinstance(decision, Grant):
                    _ack(f"ERROR acquire {task_id} {decision.code}/{decision.reason}")
                    continue
                _ack(f"GRANT {decision.lease_id.hex()}")
                granted.append((decision.lease_id, decision.token, task_id))
        elif roll < 0.75:
            lease_id, token, task_id = rng.choice(granted)
            proof, challenge = fresh_proof(lease_id)
            try:
                manager.authorize(
                    token,
                    proof,
                    task_id=task_id,
                    manifest_digest=json_digest(manifest_for(task_id)),
                )
            except InvalidLease as refused:
                _ack(f"ERROR authorize {lease_id.hex()} {refused.deny.code}/{refused.deny.reason}")
                continue
            _ack(f"AUTH {lease_id.hex()} {challenge.hex()}")
        else:
            lease_id, _, _ = granted.pop(rng.randrange(len(granted)))
            revocation = manager.revoke(lease_id, "crash test")
            _ack(f"REVOKED {lease_id.hex()} {int(revocation.already_revoked)}")


# ------------------------------------------------------------------------------ main


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "writer"])
    parser.add_argument("state_dir")
    parser.add_argument("--base-ns", type=int, required=True)
    parser.add_argument("--trust-file")
    parser.add_argument("--prefix", default="task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pause-in-open", action="store_true")
    args = parser.parse_args(argv)
    if args.pause_in_open:
        setattr(SqliteLeaseStore, "set_audit_head", _pause_forever)  # noqa: B010
    manager = open_manager(args.state_dir, args.base_ns, args.trust_file)
    if args.mode == "serve":
        _emit({"ready": True})
        _serve(manager)
    else:
        _ack("READY")
        _writer(manager, args.prefix, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
