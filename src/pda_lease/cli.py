"""``pda-lease``: the command-line face of the kernel and the manager. JSON in, JSON out.

Stateless commands (``decide``, ``verify``, ``standing``, ``conformance``, ...) run the pure
kernel on a vector-shaped input. State commands (``init``, ``acquire``, ``authorize``,
``revoke``, ``trust apply``, ``audit verify``, ``status``, ``approvals ...``) work on a lease
manager's state directory, given with ``--state DIR`` or ``$PDA_LEASE_STATE``; ``init`` puts
the issuer's seed (``issuer.seed``, mode 0600) and the lease policy (``policy.json``) there.

Exit status: 0 for GRANT / VALID / ACTIVE / success, 1 for DENY / INVALID / ENDED / a failed
conformance run, 2 for unusable input (unreadable file, JSON that is not strict, an input of the
wrong shape) with a one-line ``pda-lease: error: ...`` on stderr. JSON is read strictly:
duplicate object names and NaN/Infinity are refused, because their meaning is ambiguous
(spec §2.1); floats pass through so that the kernel denies them with a reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from pda_lease import conformance
from pda_lease.adapters import jsonio
from pda_lease.adapters.audit import read_leaf_hashes, verify_audit_file
from pda_lease.adapters.clock import BootClock
from pda_lease.adapters.errors import StateError
from pda_lease.adapters.store import read_committed_head, read_committed_meta
from pda_lease.governance.bundle import MAX_BUNDLE_BYTES, sign_bundle, verify_bundle
from pda_lease.governance.sources import LintMessage, PolicySourceError, lint_and_build
from pda_lease.governance.store import PolicyStore
from pda_lease.kernel.catalog import Deny
from pda_lease.kernel.crypto import Ed25519Signer, cose_key_thumbprint
from pda_lease.kernel.decide import sign_hrc
from pda_lease.kernel.errors import InvalidLease, PdaLeaseError, UsageError
from pda_lease.kernel.governance import (
    APPROVE,
    DENY,
    GovernancePolicy,
    sign_approval,
    sign_request,
)
from pda_lease.kernel.inputs import LeasePolicy, MonotonicTime, json_digest
from pda_lease.kernel.token import ALG_ED25519, decode_unverified, sign_holder_proof
from pda_lease.manager import (
    AUDIT_FILE,
    DATABASE_FILE,
    GOVERNANCE_FLOOR_KEY,
    QUARANTINE_FILE,
    LeaseManager,
    ReleaseRejected,
    ReviewStatus,
    governance_floor,
)
from pda_lease.receipt import MAX_RECEIPT_BYTES, ReceiptError, export_receipt, verify_receipt
from pda_lease.release import ReleaseReceiptError, verify_release_receipt
from pda_lease.replay import replay_file
from pda_lease.report import ReportError, daily_report
from pda_lease.transparency.checkpoint import (
    Checkpoint,
    NoteError,
    VerifierKey,
    open_checkpoint,
)
from pda_lease.transparency.merkle import Frontier, MerkleTree, ProofError, verify_consistency

MAX_INPUT_BYTES = jsonio.MAX_JSON_BYTES  # the JSON reader's own limit


class CliError(Exception):
    """Unusable input: reported on stderr, exit status 2."""


def parse_json(text: str) -> Any:
    try:
        return jsonio.parse_json(text)
    except jsonio.JsonInputError as exc:
        raise CliError(str(exc)) from None


def read_bounded(source: str, limit: int) -> bytes:
    """Read a file (``-`` is stdin), but never more than one byte past ``limit``.

    The extra byte lets the caller tell "at the limit" from "over it" without reading a
    larger input whole.
    """
    try:
        if source == "-":
            return sys.stdin.buffer.read(limit + 1)
        with open(source, "rb") as handle:
            return handle.read(limit + 1)
    except OSError as exc:
        raise CliError(f"cannot read {source}: {exc.strerror}") from None


def read_text(source: str) -> str:
    """Read a file (``-`` is stdin) of at most MAX_INPUT_BYTES, as UTF-8."""
    raw = read_bounded(source, MAX_INPUT_BYTES)
    if len(raw) > MAX_INPUT_BYTES:
        raise CliError(f"{source} is larger than {MAX_INPUT_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{source} is not UTF-8") from None


def read_json(source: str) -> Any:
    return parse_json(read_text(source))


def _input_of(document: Any) -> Any:
    """Accept a vector's ``input`` or a whole vector."""
    if type(document) is dict and "input" in document and "expected" in document:
        return document["input"]
    return document


def _print(document: object) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def _read_seed(path: str) -> bytes:
    text = read_text(path).strip()
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise CliError(f"{path} does not hold a hex seed") from None
    if len(seed) != 32:
        raise CliError(f"{path} must hold a 32-byte seed (64 hex characters)")
    return seed


def _token_bytes(source: str) -> bytes:
    hex_digits = source and all(char in "0123456789abcdefABCDEF" for char in source)
    text = source if hex_digits else read_text(source)
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise CliError("a token is given as hex, or as a file holding hex") from None


# ---------------------------------------------------------------------------------- commands


def cmd_decide(args: argparse.Namespace) -> int:
    result = conformance.run_decision(_input_of(read_json(args.file)))
    _print(result)
    return 0 if result["decision"] == "GRANT" else 1


def cmd_verify(args: argparse.Namespace) -> int:
    result = conformance.run_verification(_input_of(read_json(args.file)))
    _print(result)
    return 0 if result["result"] == "VALID" else 1


def cmd_standing(args: argparse.Namespace) -> int:
    result = conformance.run_standing(_input_of(read_json(args.file)))
    _print(result)
    return 0 if result["standing"] == "ACTIVE" else 1


def cmd_conformance(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    files = sorted(directory.glob("*.json"))
    if not files:
        raise CliError(f"no vectors (*.json) in {directory}")
    passed = failed = 0
    for path in files:
        try:
            vector = read_json(str(path))
            actual = conformance.run_vector(vector)
            ok = type(vector) is dict and actual == vector.get("expected")
            detail = (
                ""
                if ok
                else f"\n    expected {json.dumps(vector.get('expected'))}"
                f"\n    actual   {json.dumps(actual)}"
            )
        except (CliError, PdaLeaseError) as exc:
            ok, detail = False, f"\n    error: {exc}"
        passed, failed = passed + ok, failed + (not ok)
        if not ok or args.verbose:
            print(f"{'PASS' if ok else 'FAIL'} {path.name}{detail}")
    print(f"conformance: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def cmd_inspect(args: argparse.Namespace) -> int:
    token = _token_bytes(args.token)
    try:
        decoded = decode_unverified(token)
    except InvalidLease as invalid:
        _print(conformance.verification_failure(invalid.deny))
        return 1
    view = {
        "warning": "decoded WITHOUT verification; use `pda-lease verify` to authorize",
        "size_bytes": len(token),
        "protected": {"alg": ALG_ED25519, "alg_name": "Ed25519", "kid": decoded.kid.hex()},
        "claims": decoded.claims.to_json(),
        "signature": decoded.signature.hex(),
    }
    if args.json:
        _print(view)
        return 0
    claims = decoded.claims
    lifetime_ms = (claims.expires_at_ns - claims.issued_at_ns) // 1_000_000
    lines = [
        "Lease token (COSE_Sign1, Ed25519) -- NOT verified, inspection only",
        f"  size          {len(token)} bytes",
        f"  kid           {decoded.kid.hex()}",
        f"  issuer        {claims.issuer}",
        f"  task (sub)    {claims.task_id}",
        f"  lease id      {claims.lease_id.hex()}",
        f"  capability    {claims.capability_id}",
        f"  constraints   scope={claims.constraints.scope} "
        f"sensitivity={claims.constraints.sensitivity} "
        f"reversible={claims.constraints.reversible} "
        f"hrc_required={claims.constraints.hrc_required}",
        f"  holder key    {claims.holder_public_key.hex()}",
        f"  clock epoch   {claims.clock_epoch}",
        f"  issued at     {claims.issued_at_ns} ns",
        f"  expires at    {claims.expires_at_ns} ns  (lifetime {lifetime_ms} ms)",
        f"  manifest      {claims.manifest_digest.hex()}",
        f"  trust         {claims.trust_digest.hex()}",
        f"  policy        {claims.policy_digest.hex()}",
        f"  hrc           {claims.hrc_digest.hex() if claims.hrc_digest else '-'}",
    ]
    print("\n".join(lines))
    return 0


def _write_new(path: Path, text: str | bytes, mode: int) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise CliError(f"{path} exists; refusing to overwrite it") from None
    except OSError as exc:
        raise CliError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(text.encode("utf-8") if isinstance(text, str) else text)
        handle.flush()
        os.fsync(handle.fileno())


def cmd_keygen(args: argparse.Namespace) -> int:
    seed = os.urandom(32)
    signer = Ed25519Signer(seed)
    prefix = Path(args.out)
    _write_new(prefix.with_name(prefix.name + ".seed"), seed.hex() + "\n", 0o600)
    _write_new(prefix.with_name(prefix.name + ".pub"), signer.public_key.hex() + "\n", 0o644)
    _print(
        {
            "public_key": signer.public_key.hex(),
            "kid": cose_key_thumbprint(signer.public_key).hex(),
            "seed_file": f"{prefix}.seed",
            "public_key_file": f"{prefix}.pub",
        }
    )
    return 0


def _digest(document: object, what: str) -> bytes:
    """``H(det(document))``, or a usage error naming ``what`` could not be encoded."""
    try:
        return json_digest(document)
    except ValueError as exc:
        raise CliError(f"{what} not encodable: {exc}") from None


def cmd_digest(args: argparse.Namespace) -> int:
    print(_digest(read_json(args.file), "document").hex())
    return 0


def cmd_hrc_sign(args: argparse.Namespace) -> int:
    digest = _digest(read_json(args.manifest), "manifest")
    token = sign_hrc(
        Ed25519Signer(_read_seed(args.key)), digest, MonotonicTime(args.epoch, args.ns)
    )
    _print(token)
    return 0


def _time_arg(args: argparse.Namespace) -> MonotonicTime:
    """``--epoch`` and ``--ns``, or this machine's clock when both are left out."""
    if args.epoch is None and args.ns is None:
        return BootClock().now()
    if args.epoch is None or args.ns is None:
        raise CliError("give both --epoch and --ns, or neither (this machine's clock)")
    return MonotonicTime(args.epoch, args.ns)


def cmd_request_sign(args: argparse.Namespace) -> int:
    digest = _digest(read_json(args.manifest), "manifest")
    request = sign_request(
        Ed25519Signer(_read_seed(args.key)),
        workspace=args.workspace,
        model_id=args.model,
        tools=args.tool or [],
        manifest_digest=digest,
        requested_at=_time_arg(args),
        demand={
            "units": args.units,
            "context_tokens": args.context_tokens,
            "compute": args.compute,
            "spend_cents": args.spend_cents,
        },
    )
    _print(request)
    return 0


def cmd_approval_sign(args: argparse.Namespace) -> int:
    digest = _digest(read_json(args.manifest), "manifest")
    verdict = DENY if args.deny else APPROVE
    _print(sign_approval(Ed25519Signer(_read_seed(args.key)), digest, verdict, _time_arg(args)))
    return 0


def cmd_holder_prove(args: argparse.Namespace) -> int:
    try:
        lease_id = bytes.fromhex(args.lease_id)
        challenge = bytes.fromhex(args.challenge)
    except ValueError:
        raise CliError("lease id and challenge are hex") from None
    _print(sign_holder_proof(Ed25519Signer(_read_seed(args.key)), lease_id, challenge))
    return 0


def cmd_vectors(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = conformance.vector_files(conformance.all_vectors())
    for stale in directory.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} vectors to {directory}")
    return 0


# ---------------------------------------------------------------------------------- state

SEED_FILE = "issuer.seed"
POLICY_FILE = "policy.json"
POLICY_STORE_DIR = "policy"


def _state_dir(args: argparse.Namespace) -> Path:
    state = args.state or os.environ.get("PDA_LEASE_STATE")
    if not state:
        raise CliError(f"{args.command} needs a state directory: --state DIR or $PDA_LEASE_STATE")
    return Path(state)


def _open_manager(args: argparse.Namespace) -> LeaseManager:
    directory = _state_dir(args)
    if not (directory / POLICY_FILE).exists():
        raise CliError(f"{directory} is not initialised: run `pda-lease --state DIR init`")
    signer = Ed25519Signer(_read_seed(str(directory / SEED_FILE)))
    return LeaseManager.open(directory, signer=signer, policy=_current_policy(directory))


def _current_policy(directory: Path) -> LeasePolicy | GovernancePolicy:
    """The active governance bundle's policy (verified now), else the initial policy.json.

    The manager itself refuses the fallback once the directory has been governed (its store
    keeps the governance floor), so a deleted ``active.bundle`` fails closed.
    """
    active = PolicyStore(directory / POLICY_STORE_DIR).active()
    if active is not None:
        return active.policy
    return LeasePolicy.from_json(read_json(str(directory / POLICY_FILE)))


def _governance_floor(directory: Path) -> int | None:
    """The highest governance version the manager's store has committed to, if any."""
    floor = governance_floor(read_committed_meta(directory / DATABASE_FILE, GOVERNANCE_FLOOR_KEY))
    return None if floor is None else floor[0]


def _deny_view(refusal: Deny) -> dict[str, object]:
    return {**refusal.to_json(), "field": refusal.field, "recommendation": refusal.recommendation}


def cmd_init(args: argparse.Namespace) -> int:
    directory = _state_dir(args)
    seed = _read_seed(args.issuer_key)
    policy_document = read_json(args.policy)
    policy = LeasePolicy.from_json(policy_document)
    signer = Ed25519Signer(seed)
    if policy.issuer_kid != cose_key_thumbprint(signer.public_key):
        raise CliError(
            "the policy's issuer_kid is not the thumbprint of the issuer key "
            f"({cose_key_thumbprint(signer.public_key).hex()})"
        )
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {directory}: {exc.strerror}") from None
    if (directory / POLICY_FILE).exists() or (directory / SEED_FILE).exists():
        raise CliError(f"{directory} is already initialised")
    _write_new(directory / SEED_FILE, seed.hex() + "\n", 0o600)
    _write_new(directory / POLICY_FILE, json.dumps(policy_document, indent=2) + "\n", 0o644)
    with LeaseManager.open(directory, signer=signer, policy=policy) as manager:
        if args.trust:
            manager.apply_trust_snapshot(read_json(args.trust))
        head = manager.audit.head()
    _print(
        {
            "state": str(directory),
            "issuer_kid": policy.issuer_kid.hex(),
            "policy_digest": policy.digest.hex(),
            "audit_entries": head.seq + 1,
        }
    )
    return 0


def cmd_clock(args: argparse.Namespace) -> int:
    _print(BootClock().now().to_json())
    return 0


def cmd_acquire(args: argparse.Namespace) -> int:
    manifest = read_json(args.file)
    hrc = read_json(args.hrc) if args.hrc else None
    request = read_json(args.request) if args.request else None
    approvals = read_json(args.approvals) if args.approvals else None
    with _open_manager(args) as manager:
        decision = manager.acquire(manifest, hrc, request, approvals)
    if isinstance(decision, Deny):
        _print(_deny_view(decision))
        return 1
    _print({**decision.to_json(), "claims": decision.claims.to_json()})
    return 0


def _authorization_request(document: Any) -> tuple[bytes, object, str, bytes]:
    if type(document) is not dict or "token" not in document or "holder_proof" not in document:
        raise CliError(
            'an authorization request is {"token": hex, "holder_proof": {...}, '
            '"manifest": {...}} or with "task_id" and "manifest_digest" instead of "manifest"'
        )
    if type(document["token"]) is not str:
        raise CliError("token is a hex string")
    try:
        token = bytes.fromhex(document["token"])
    except ValueError:
        raise CliError("token is a hex string") from None
    if "manifest" in document:
        manifest = document["manifest"]
        if type(manifest) is not dict or type(manifest.get("task_id")) is not str:
            raise CliError("manifest is the manifest object the executor is about to run")
        return token, document["holder_proof"], manifest["task_id"], _digest(manifest, "manifest")
    task_id, digest_hex = document.get("task_id"), document.get("manifest_digest")
    if type(task_id) is not str or type(digest_hex) is not str:
        raise CliError("give either manifest, or task_id and manifest_digest (hex)")
    try:
        digest = bytes.fromhex(digest_hex)
    except ValueError:
        raise CliError("manifest_digest is 64 hex digits") from None
    if len(digest) != 32:
        raise CliError("manifest_digest is 64 hex digits")
    return token, document["holder_proof"], task_id, digest


def cmd_authorize(args: argparse.Namespace) -> int:
    token, proof, task_id, digest = _authorization_request(read_json(args.file))
    with _open_manager(args) as manager:
        try:
            verified = manager.authorize(token, proof, task_id=task_id, manifest_digest=digest)
        except InvalidLease as refused:
            view = _deny_view(refused.deny)
            del view["decision"]
            _print({"result": "DENY", **view})
            return 1
    _print(
        {
            "result": "ALLOW",
            "lease_id": verified.lease_id.hex(),
            "task_id": verified.claims.task_id,
            "capability_id": verified.claims.capability_id,
            "expires_at_ns": verified.claims.expires_at_ns,
        }
    )
    return 0


def _object_with(document: Any, required: set[str], optional: set[str], shape: str) -> Any:
    if type(document) is not dict or not required <= set(document) <= required | optional:
        raise CliError(f"expected {shape}")
    return document


def cmd_release(args: argparse.Namespace) -> int:
    document = _object_with(
        read_json(args.file),
        {"lease_id", "usage", "holder_proof"},
        set(),
        '{"lease_id": hex, "usage": {"units", "spend_cents"}, "holder_proof": {...}}',
    )
    if type(document["lease_id"]) is not str:
        raise CliError("lease_id is 32 hex digits")
    lease_id = _lease_id_argument(document["lease_id"])
    with _open_manager(args) as manager:
        try:
            receipt = manager.release(lease_id, document["usage"], document["holder_proof"])
        except ReleaseRejected as refused:
            _print({"result": "REFUSED", "reason": str(refused.reason), "detail": refused.detail})
            return 1
    _print({"result": "RELEASED", "receipt": receipt.to_json()})
    return 0


def cmd_sublease(args: argparse.Namespace) -> int:
    document = _object_with(
        read_json(args.file),
        {"parent_token", "holder_proof", "tool", "calls", "ttl_ns"},
        {"holder_public_key"},
        '{"parent_token": hex, "holder_proof": {...}, "tool": id, "calls": n, "ttl_ns": n, '
        '"holder_public_key": hex (optional)}',
    )
    if type(document["parent_token"]) is not str:
        raise CliError("parent_token is hex")
    token = _token_bytes(document["parent_token"])
    with _open_manager(args) as manager:
        decision = manager.derive_sub_lease(
            token,
            document["holder_proof"],
            tool=document["tool"],
            calls=document["calls"],
            ttl_ns=document["ttl_ns"],
            holder_public_key=document.get("holder_public_key"),
        )
    if isinstance(decision, Deny):
        _print(_deny_view(decision))
        return 1
    _print({**decision.to_json(), "claims": decision.claims.to_json()})
    return 0


def cmd_pools(args: argparse.Namespace) -> int:
    with _open_manager(args) as manager:
        try:
            status = manager.pools()
        except UsageError as exc:
            raise CliError(str(exc)) from None
    _print(status.to_json())
    return 0


def cmd_release_verify(args: argparse.Namespace) -> int:
    """Verify a release receipt offline, against the issuer key the caller trusts."""
    verifier = _verifier_key(args.issuer_key, "--issuer-key")
    document = read_json(args.file)
    if type(document) is dict and set(document) == {"result", "receipt"}:
        document = document["receipt"]  # the output of `pda-lease release`, as it is
    try:
        verified = verify_release_receipt(document, verifier)
    except ReleaseReceiptError as exc:
        _print({"ok": False, "reason": str(exc.reason), "detail": exc.detail})
        return 1
    receipt = verified.receipt
    _print(
        {
            "ok": True,
            "lease_id": receipt.lease_id.hex(),
            "settled": receipt.settled.to_json(),
            "reserved": None if receipt.reserved is None else receipt.reserved.to_json(),
            "overrun": receipt.overrun,
            "audit_seq": receipt.audit_seq,
            "checkpoint_size": verified.checkpoint.size,
        }
    )
    return 0


def cmd_report_daily(args: argparse.Namespace) -> int:
    directory = _state_dir(args)
    try:
        report = daily_report(directory / AUDIT_FILE, args.day, denials=args.denials)
    except (ReportError, StateError) as exc:
        raise CliError(str(exc)) from None
    if args.png:
        _write_new(Path(args.png), report.to_png(), 0o644)
    if args.format == "csv":
        sys.stdout.write(report.to_csv())
    elif args.format == "text":
        sys.stdout.write(report.to_text())
    else:
        _print(report.to_json())
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with _open_manager(args) as manager:
        revocation = manager.revoke(args.lease_id, args.reason)
    _print(revocation.to_json())
    return 0


def cmd_trust_apply(args: argparse.Namespace) -> int:
    snapshot = read_json(args.file)
    with _open_manager(args) as manager:
        applied = manager.apply_trust_snapshot(snapshot)
    _print(applied.to_json())
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    directory = _state_dir(args)
    committed = read_committed_head(directory / DATABASE_FILE)
    report = verify_audit_file(directory / AUDIT_FILE, committed)
    view = report.to_json()
    view["store_committed_seq"] = None if committed is None else committed.seq
    quarantine = directory / QUARANTINE_FILE
    view["quarantined_tails"] = (
        len(quarantine.read_bytes().splitlines()) if quarantine.exists() else 0
    )
    if report.ok:
        problem = _check_stored_checkpoint(args, directory)
        view["checkpoint_ok"] = problem is None
        if problem is not None:
            report = attrs.evolve(report, ok=False, first_bad_line=None, problem=problem)
            view.update(ok=False, problem=problem)
    if args.json:
        _print(view)
    elif report.ok:
        print(f"audit log OK: {report.entries} entries, head {view['head_hash']}")
    else:
        where = f" at line {report.first_bad_line}" if report.first_bad_line else ""
        print(f"audit log BROKEN{where}: {report.problem}")
    return 0 if report.ok else 1


def _check_stored_checkpoint(args: argparse.Namespace, directory: Path) -> str | None:
    """The store's latest checkpoint must be signed by the issuer and match the log's root."""
    note = read_committed_meta(directory / DATABASE_FILE, "checkpoint")
    if note is None or not (directory / SEED_FILE).exists():
        return None
    verifier = _log_verifier(args)
    try:
        checkpoint = _open_checkpoint(note, verifier)
    except NoteError as exc:
        return f"the stored checkpoint does not verify: {exc}"
    try:
        leaves = read_leaf_hashes(directory / AUDIT_FILE, checkpoint.size)
    except StateError as exc:
        return f"the stored checkpoint covers {checkpoint.size} entries: {exc.detail}"
    if Frontier().extend(leaves).root() != checkpoint.root_hash:
        return f"the log's Merkle root at size {checkpoint.size} is not the signed checkpoint's"
    return None


def _verifier_key(text: str, option: str) -> VerifierKey:
    """A C2SP verifier key given on the command line, or the path of a file holding one."""
    if os.path.exists(text):
        text = read_text(text).strip()
    try:
        return VerifierKey.parse(text)
    except NoteError as exc:
        raise CliError(f"{option}: {exc}") from None


def _log_verifier(args: argparse.Namespace) -> VerifierKey:
    """The checkpoint key to trust: ``--vkey``, else the state directory's own issuer key."""
    vkey = getattr(args, "vkey", None)
    if vkey:
        return _verifier_key(vkey, "--vkey")
    directory = _state_dir(args)
    signer = Ed25519Signer(_read_seed(str(directory / SEED_FILE)))
    policy = LeasePolicy.from_json(read_json(str(directory / POLICY_FILE)))
    return VerifierKey(policy.issuer, signer.public_key)


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    with _open_manager(args) as manager:
        note = manager.checkpoint()
        vkey = manager.log_verifier().to_vkey()
    if args.vkey_only:
        print(vkey)
    else:
        sys.stdout.write(note)
    return 0


def _open_checkpoint(note: str, verifier: VerifierKey) -> Checkpoint:
    """A checkpoint signed by ``verifier``, of whichever log its own origin line names."""
    return open_checkpoint(note, [verifier], origin=note.split("\n", 1)[0]).checkpoint


def _read_checkpoint(path: str, verifier: VerifierKey) -> Checkpoint:
    try:
        return _open_checkpoint(read_text(path), verifier)
    except NoteError as exc:
        raise CliError(f"{path}: {exc}") from None


def cmd_audit_consistency(args: argparse.Namespace) -> int:
    """Prove from the log that NEW extends OLD; both must be signed by the trusted key."""
    verifier = _log_verifier(args)
    old = _read_checkpoint(args.old, verifier)
    new = _read_checkpoint(args.new, verifier)
    view: dict[str, object] = {"old_size": old.size, "new_size": new.size}
    if old.origin != new.origin:
        view.update(ok=False, problem="the checkpoints are of different logs (origins differ)")
    elif old.size > new.size:
        view.update(ok=False, problem="the old checkpoint is larger than the new one")
    else:
        leaves = read_leaf_hashes(_state_dir(args) / AUDIT_FILE, new.size)
        tree = MerkleTree(leaves)
        proof = tree.consistency_proof(old.size, new.size)
        view["proof"] = [element.hex() for element in proof]
        try:
            verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
        except ProofError as exc:
            view.update(ok=False, problem=f"{exc.reason}: the log does not prove NEW extends OLD")
        else:
            view.update(ok=True, problem=None)
    _print(view)
    return 0 if view["ok"] else 1


def cmd_replay(args: argparse.Namespace) -> int:
    """Re-run every recorded decision and require byte-identical outcomes (spec §12.3)."""
    show = args.progress or (not args.quiet and sys.stderr.isatty())
    last = [-1]

    def progress(done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if show and percent != last[0]:
            last[0] = percent
            print(f"\rreplay: {percent:3d}% of {total:,} bytes", end="", file=sys.stderr)

    checkpoint = None
    if args.checkpoint:
        if not args.issuer_key:
            raise CliError("--checkpoint needs --issuer-key, the key that must have signed it")
        verifier = _verifier_key(args.issuer_key, "--issuer-key")
        checkpoint = _read_checkpoint(args.checkpoint, verifier)
    report = replay_file(
        args.audit_log, workers=args.workers, progress=progress, checkpoint=checkpoint
    )
    if show:
        print(file=sys.stderr)
    if args.json:
        _print(report.to_json())
    elif report.ok:
        print(
            f"replay OK: {report.entries} entries, {report.decisions_replayed} decisions "
            f"replayed byte for byte, {sum(report.decisions_checked.values())} checked by "
            f"category, {sum(report.decisions_skipped.values())} skipped (manager refusals); "
            f"Merkle root {report.merkle_root.hex() if report.merkle_root else '-'}"
            + (f", the checkpoint's at size {checkpoint.size}" if checkpoint is not None else "")
        )
    else:
        if report.checkpoint_ok is False:
            print("replay: the log's Merkle root is not the signed checkpoint's")
        if not report.chain_ok:
            print(f"replay: audit chain BROKEN at line {report.chain_line}: {report.chain_problem}")
        divergence = report.first_divergence
        if divergence is not None:
            print(
                f"replay: {report.divergences} divergence(s); first at line {divergence.line} "
                f"({divergence.what}): {divergence.detail}"
            )
            print(f"  recorded: {json.dumps(divergence.expected, sort_keys=True)}")
            print(f"  replayed: {json.dumps(divergence.actual, sort_keys=True)}")
    return 0 if report.ok else 1


def cmd_receipt_export(args: argparse.Namespace) -> int:
    with _open_manager(args) as manager:
        note = manager.checkpoint()
        lease_id = _lease_id_argument(args.lease_id)
        try:
            receipt = export_receipt(_state_dir(args) / AUDIT_FILE, note, lease_id)
        except ReceiptError as exc:
            raise CliError(str(exc)) from None
    if args.out:
        _write_new(Path(args.out), receipt.decode("utf-8"), 0o644)
    else:
        sys.stdout.write(receipt.decode("utf-8"))
    return 0


def _lease_id_argument(text: str) -> bytes:
    try:
        lease_id = bytes.fromhex(text)
    except ValueError:
        raise CliError("a lease id is 32 hex digits") from None
    if len(lease_id) != 16:
        raise CliError("a lease id is 32 hex digits")
    return lease_id


def cmd_receipt_verify(args: argparse.Namespace) -> int:
    """Verify a receipt offline, against a verifier key the caller already trusts."""
    verifier = _verifier_key(args.issuer_key, "--issuer-key")
    # One byte past the limit is enough for verify_receipt to refuse it (MALFORMED, too large).
    data = read_bounded(args.file, MAX_RECEIPT_BYTES)
    try:
        verified = verify_receipt(data, verifier)
    except ReceiptError as exc:
        _print({"ok": False, "reason": str(exc.reason), "detail": exc.detail})
        return 1
    _print({"ok": True, **verified.to_json()})
    return 0


# ---------------------------------------------------------------------------------- policy


def _policy_store(args: argparse.Namespace) -> PolicyStore:
    directory = _state_dir(args)
    if not (directory / POLICY_FILE).exists():
        raise CliError(f"{directory} is not initialised: run `pda-lease --state DIR init`")
    return PolicyStore(directory / POLICY_STORE_DIR)


def _read_bundle(source: str) -> bytes:
    data = read_bounded(source, MAX_BUNDLE_BYTES)
    if len(data) > MAX_BUNDLE_BYTES:
        raise CliError(f"{source} is larger than {MAX_BUNDLE_BYTES} bytes")
    return data


def _public_key_arg(text: str) -> bytes:
    value = text if len(text) == 64 else read_text(text).strip()
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise CliError("a public key is 64 hex digits, or a file holding them") from None
    if len(key) != 32:
        raise CliError("a public key is 64 hex digits, or a file holding them")
    return key


def _lint_view(message: LintMessage) -> dict[str, str]:
    return {
        "severity": message.severity,
        "file": message.file,
        "key": message.key,
        "code": str(message.code),
        "message": message.message,
    }


def _lint(directory: str) -> tuple[dict[str, object] | None, list[LintMessage]]:
    return lint_and_build(Path(directory))


def cmd_policy_lint(args: argparse.Namespace) -> int:
    document, messages = _lint(args.directory)
    errors = [m for m in messages if m.severity == "error"]
    if args.json:
        _print({"errors": len(errors), "messages": [_lint_view(m) for m in messages]})
    else:
        for message in messages:
            print(message)
        print(f"{len(errors)} error(s), {len(messages) - len(errors)} warning(s)")
    return 1 if errors or document is None else 0


def cmd_policy_build(args: argparse.Namespace) -> int:
    document, messages = _lint(args.directory)
    for message in messages:
        print(message, file=sys.stderr)
    if document is None:
        raise PolicySourceError(messages)
    policy = GovernancePolicy.from_json(document)  # the kernel's own judgement, §13.1
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.out:
        _write_new(Path(args.out), text, 0o644)
        _print(
            {
                "document": args.out,
                "org": policy.org,
                "version": policy.version,
                "policy_digest": policy.digest.hex(),
            }
        )
    else:
        sys.stdout.write(text)
    return 0


def cmd_policy_sign(args: argparse.Namespace) -> int:
    document = read_json(args.document)
    bundle = sign_bundle(Ed25519Signer(_read_seed(args.key)), document)
    out = Path(args.out)
    try:
        with out.open("xb") as handle:
            handle.write(bundle)
    except FileExistsError:
        raise CliError(f"{out} exists; choose a new file") from None
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror}") from None
    signer = Ed25519Signer(_read_seed(args.key))
    _print({"bundle": str(out), **verify_bundle(bundle, [signer.public_key]).to_json()})
    return 0


def cmd_policy_trust(args: argparse.Namespace) -> int:
    keys = _policy_store(args).trust(_public_key_arg(args.public_key))
    _print({"trusted_policy_keys": sorted(key.hex() for key in keys)})
    return 0


def cmd_policy_stage(args: argparse.Namespace) -> int:
    store = _policy_store(args)
    staged = store.stage(_read_bundle(args.bundle), floor=_governance_floor(_state_dir(args)))
    _print({"staged": staged.to_json()})
    return 0


def cmd_policy_activate(args: argparse.Namespace) -> int:
    store = _policy_store(args)
    directory = _state_dir(args)
    signer = Ed25519Signer(_read_seed(str(directory / SEED_FILE)))
    previous = store.active()
    activated = store.activate(
        cose_key_thumbprint(signer.public_key), floor=_governance_floor(directory)
    )
    # Open the manager under the new policy now, so that the audit log records the change
    # (an ``authority`` entry with the document) at activation rather than at the next use.
    with LeaseManager.open(directory, signer=signer, policy=activated.policy) as manager:
        head = manager.audit.head()
    _print(
        {
            "activated": activated.to_json(),
            "previous": None if previous is None else previous.to_json(),
            "audit_entries": head.seq + 1,
        }
    )
    return 0


def cmd_policy_show(args: argparse.Namespace) -> int:
    store = _policy_store(args)
    shown = store.staged() if args.staged else store.active()
    if shown is None:
        _print({"staged" if args.staged else "active": None})
        return 1
    view = (
        {**shown.to_json(), "document": dict(shown.policy.document)}
        if args.document
        else (shown.to_json())
    )
    _print(view)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with _open_manager(args) as manager:
        status = manager.status()
    if args.json:
        _print(status.to_json())
        return 0
    counts = status.counts()
    print(
        f"clock {status.now.epoch} @ {status.now.ns} ns; trust sequence "
        f"{status.trust_sequence if status.trust_sequence is not None else 'UNAVAILABLE'}; "
        f"audit {status.audit_head.seq + 1} entries"
    )
    print(", ".join(f"{count} {state}" for state, count in counts.items()))
    for lease in status.leases:
        record = lease.lease
        why = f"  ({lease.code}/{lease.reason})" if lease.reason else ""
        print(
            f"  {record.lease_id.hex()}  {lease.state:<8} {record.task_id}  "
            f"{record.capability_id}  expires {record.expires_at_ns}{why}"
        )
    return 0


def _manifest_digest_arg(text: str) -> bytes:
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise CliError("a manifest digest is 64 hex digits (pda-lease approvals list)")
    return digest


def _review_line(review: ReviewStatus) -> str:
    who = review.principal_name or review.principal.hex()[:16]
    verdicts = ", ".join(
        f"{approval.reviewer_name or approval.reviewer.hex()[:16]} {approval.verdict}"
        for approval in review.approvals
    )
    return (
        f"  {review.manifest_digest.hex()}  {review.state:<7}  {review.task_id}  "
        f"{review.capability_id}  by {who}  needs {review.rule}  "
        f"approvals: {verdicts or 'none'}"
    )


def cmd_approvals_list(args: argparse.Namespace) -> int:
    with _open_manager(args) as manager:
        reviews = manager.reviews()
    if args.json:
        _print({"reviews": [review.to_json() for review in reviews]})
        return 0
    pending = sum(review.state == "pending" for review in reviews)
    print(f"{len(reviews)} review(s): {pending} pending, {len(reviews) - pending} denied")
    for review in reviews:
        print(_review_line(review))
    return 0


def cmd_approvals_show(args: argparse.Namespace) -> int:
    digest = _manifest_digest_arg(args.digest)
    with _open_manager(args) as manager:
        review = manager.review(digest)
    if review is None:
        _print({"review": None})
        return 1
    _print(review.to_json())
    return 0


def cmd_approvals_sign(args: argparse.Namespace) -> int:
    """``approvals approve`` / ``approvals deny``: sign here, at the manager's clock, submit."""
    digest = _manifest_digest_arg(args.digest)
    signer = Ed25519Signer(_read_seed(args.key))
    with _open_manager(args) as manager:
        document = sign_approval(signer, digest, args.verdict, manager.clock.now())
        review = manager.submit_approval(document)
    _print({**review.to_json(), "submitted": document})
    return 0


def cmd_approvals_submit(args: argparse.Namespace) -> int:
    document = read_json(args.file)
    with _open_manager(args) as manager:
        review = manager.submit_approval(document)
    _print(review.to_json())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pda-lease",
        description="Decide, prove and revoke time-bound execution authority "
        "(LEASE_MANAGER_SPEC v1.0). JSON in, JSON out.",
        epilog="Exit status: 0 GRANT/VALID/ACTIVE, 1 DENY/INVALID/ENDED, 2 unusable input.",
    )
    parser.add_argument(
        "--state",
        metavar="DIR",
        help="lease manager state directory for the state commands (default $PDA_LEASE_STATE)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text)

    p = command("decide", "decide a lease: input shaped like a decision vector's input")
    p.add_argument("file", help="JSON file, or - for stdin")
    p.set_defaults(run=cmd_decide)
    p = command("verify", "verify a token: input shaped like a verification vector's input")
    p.add_argument("file", help="JSON file, or - for stdin")
    p.set_defaults(run=cmd_verify)
    p = command("standing", "re-judge a lease: input shaped like a standing vector's input")
    p.add_argument("file", help="JSON file, or - for stdin")
    p.set_defaults(run=cmd_standing)
    p = command("conformance", "run every vector in a directory; non-zero on any mismatch")
    p.add_argument("directory")
    p.add_argument("-v", "--verbose", action="store_true", help="print passing vectors too")
    p.set_defaults(run=cmd_conformance)
    p = command("inspect", "show a token's header and claims (without verifying it)")
    p.add_argument("token", help="token hex, or a file holding it, or - for stdin")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(run=cmd_inspect)
    p = command("keygen", "write a new Ed25519 key pair: PREFIX.seed (0600) and PREFIX.pub")
    p.add_argument("--out", required=True, help="path prefix of the two files")
    p.set_defaults(run=cmd_keygen)
    p = command("digest", "print H(det(document)) of a JSON document (e.g. a manifest)")
    p.add_argument("file")
    p.set_defaults(run=cmd_digest)
    p = command("hrc-sign", "sign an HRC confirmation of a manifest (as an HRC device would)")
    p.add_argument("--key", required=True, help="file with the HRC device's hex seed")
    p.add_argument("--manifest", required=True)
    p.add_argument("--epoch", required=True)
    p.add_argument("--ns", required=True, type=int)
    p.set_defaults(run=cmd_hrc_sign)
    p = command("request-sign", "sign a governed request for a manifest (as a principal)")
    p.add_argument("--key", required=True, help="file with the principal's hex seed")
    p.add_argument("--manifest", required=True)
    p.add_argument("--workspace", required=True)
    p.add_argument("--model", help="the model the task uses (default: none)")
    p.add_argument("--tool", action="append", help="a tool the task calls (repeat)")
    p.add_argument("--epoch", help="clock epoch (default: this machine's)")
    p.add_argument("--ns", type=int, help="clock reading (default: this machine's)")
    for flag, what in (
        ("--units", "rate units the task will use (e.g. model tokens)"),
        ("--context-tokens", "the largest context the task will send"),
        ("--compute", "the task's compute weight while in flight"),
        ("--spend-cents", "the most the task may spend, in cents (its reservation)"),
    ):
        p.add_argument(flag, type=int, default=0, help=f"demand (§14.2): {what}; default 0")
    p.set_defaults(run=cmd_request_sign)
    p = command("approval-sign", "sign a reviewer's approval (or --deny) of a manifest")
    p.add_argument("--key", required=True, help="file with the reviewer's hex seed")
    p.add_argument("--manifest", required=True)
    p.add_argument("--deny", action="store_true", help="a final denial instead of an approval")
    p.add_argument("--epoch", help="clock epoch (default: this machine's)")
    p.add_argument("--ns", type=int, help="clock reading (default: this machine's)")
    p.set_defaults(run=cmd_approval_sign)
    p = command("holder-prove", "sign a holder proof of possession for a lease id")
    p.add_argument("--key", required=True, help="file with the holder's hex seed")
    p.add_argument("--lease-id", required=True)
    p.add_argument("--challenge", required=True, help="the verifier's challenge, hex")
    p.set_defaults(run=cmd_holder_prove)
    p = command("init", "initialise a state directory with an issuer key and a lease policy")
    p.add_argument("--issuer-key", required=True, help="file with the issuer's hex seed")
    p.add_argument("--policy", required=True, help="lease policy JSON (spec §3.4)")
    p.add_argument("--trust", help="first trust snapshot JSON to apply")
    p.set_defaults(run=cmd_init)
    p = command("clock", "print this machine's monotonic clock reading (boot id, BOOTTIME ns)")
    p.set_defaults(run=cmd_clock)
    p = command("acquire", "decide a lease for a manifest and record it durably")
    p.add_argument("file", help="manifest JSON, or - for stdin")
    p.add_argument("--hrc", help="HRC token JSON")
    p.add_argument("--request", help="governed request JSON, signed by the principal (§13.4)")
    p.add_argument("--approvals", help="JSON array of reviewer approvals (§13.5)")
    p.set_defaults(run=cmd_acquire)
    p = command("authorize", "the executor's gate: token, holder proof and manifest")
    p.add_argument("file", help='{"token", "holder_proof", "manifest"} JSON, or - for stdin')
    p.set_defaults(run=cmd_authorize)
    p = command("release", "end a lease early and settle its usage; prints a signed receipt")
    p.add_argument(
        "file", help='{"lease_id", "usage": {"units", "spend_cents"}, "holder_proof"} JSON'
    )
    p.set_defaults(run=cmd_release)
    p = command("sublease", "derive a sub-lease for one tool call from a governed lease")
    p.add_argument(
        "file",
        help='{"parent_token", "holder_proof", "tool", "calls", "ttl_ns"'
        ', "holder_public_key"?} JSON',
    )
    p.set_defaults(run=cmd_sublease)
    p = command("pools", "what is in flight and spent now, per scope of the policy's pools")
    p.set_defaults(run=cmd_pools)
    p = command("report", "reports from the audit log")
    report = p.add_subparsers(dest="report_command", required=True)
    q = report.add_parser(
        "daily", help="spend, denials and budget alerts of one day (needs --state)"
    )
    q.add_argument("--day", type=int, help="days since 1970-01-01 UTC (default: the latest)")
    q.add_argument("--denials", choices=("day", "all"), default="day")
    q.add_argument("--format", choices=("json", "csv", "text"), default="json")
    q.add_argument("--png", help="also write a PNG chart to this new file")
    q.set_defaults(run=cmd_report_daily, command="report daily")
    p = command("revoke", "revoke a lease, durably, in every process sharing the state")
    p.add_argument("lease_id", help="lease id, 32 hex digits")
    p.add_argument("--reason", required=True)
    p.set_defaults(run=cmd_revoke)
    p = command("trust", "trust snapshot commands")
    trust = p.add_subparsers(dest="trust_command", required=True)
    q = trust.add_parser("apply", help="make a snapshot current; revoke leases whose trust fell")
    q.add_argument("file")
    q.set_defaults(run=cmd_trust_apply, command="trust apply")
    p = command("audit", "audit log commands")
    audit = p.add_subparsers(dest="audit_command", required=True)
    q = audit.add_parser("verify", help="check the whole chain; non-zero at the first bad line")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=cmd_audit_verify, command="audit verify")
    q = audit.add_parser("checkpoint", help="print the latest signed checkpoint (C2SP note)")
    q.add_argument("--vkey-only", action="store_true", help="print the verifier key instead")
    q.set_defaults(run=cmd_audit_checkpoint, command="audit checkpoint")
    q = audit.add_parser(
        "consistency", help="prove from the log that checkpoint NEW extends checkpoint OLD"
    )
    q.add_argument("old")
    q.add_argument("new")
    q.add_argument("--vkey", help="verifier key to trust (default: this state's issuer key)")
    q.set_defaults(run=cmd_audit_consistency, command="audit consistency")
    p = command("receipt", "receipts: a lease's audit entries with proofs, verifiable offline")
    receipt = p.add_subparsers(dest="receipt_command", required=True)
    q = receipt.add_parser("export", help="export the receipt of a lease (needs --state)")
    q.add_argument("lease_id")
    q.add_argument("--out", help="write to this new file instead of stdout")
    q.set_defaults(run=cmd_receipt_export, command="receipt export")
    q = receipt.add_parser("verify", help="verify a receipt against a key you already trust")
    q.add_argument("file", help="receipt file, or - for stdin")
    q.add_argument(
        "--issuer-key", required=True, help="the issuer's C2SP verifier key (or a file with it)"
    )
    q.set_defaults(run=cmd_receipt_verify, command="receipt verify")
    q = receipt.add_parser(
        "verify-release", help="verify a release receipt against a key you already trust"
    )
    q.add_argument("file", help="release receipt JSON (or the output of release), - for stdin")
    q.add_argument(
        "--issuer-key", required=True, help="the issuer's C2SP verifier key (or a file with it)"
    )
    q.set_defaults(run=cmd_release_verify, command="receipt verify-release")
    p = command("policy", "governance policy: lint, build, sign, trust, stage, activate, show")
    policy = p.add_subparsers(dest="policy_command", required=True)
    q = policy.add_parser(
        "lint", help="check a YAML policy directory; every problem with file and key"
    )
    q.add_argument("directory")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=cmd_policy_lint, command="policy lint")
    q = policy.add_parser("build", help="compile a lint-clean policy directory to its document")
    q.add_argument("directory")
    q.add_argument("--out", help="write to this new file (default: stdout)")
    q.set_defaults(run=cmd_policy_build, command="policy build")
    q = policy.add_parser("sign", help="sign a compiled policy document into a bundle")
    q.add_argument("document", help="compiled policy JSON (pda-lease policy build)")
    q.add_argument("--key", required=True, help="file with the policy key's hex seed")
    q.add_argument("--out", required=True, help="the new bundle file")
    q.set_defaults(run=cmd_policy_sign, command="policy sign")
    q = policy.add_parser("trust", help="trust a policy public key (needs --state)")
    q.add_argument("public_key", help="64 hex digits, or a file holding them")
    q.set_defaults(run=cmd_policy_trust, command="policy trust")
    q = policy.add_parser("stage", help="verify a bundle and stage it (needs --state)")
    q.add_argument("bundle", help="bundle file, or - for stdin")
    q.set_defaults(run=cmd_policy_stage, command="policy stage")
    q = policy.add_parser(
        "activate", help="make the staged bundle active: trusted, newer, this issuer's"
    )
    q.set_defaults(run=cmd_policy_activate, command="policy activate")
    q = policy.add_parser("show", help="show the active (or --staged) bundle")
    q.add_argument("--staged", action="store_true")
    q.add_argument("--document", action="store_true", help="include the policy document")
    q.set_defaults(run=cmd_policy_show, command="policy show")
    p = command("approvals", "the approvals queue of a governed manager: list, show, approve, deny")
    approvals = p.add_subparsers(dest="approvals_command", required=True)
    q = approvals.add_parser("list", help="every review request, with the approvals it has")
    q.add_argument("--json", action="store_true", help="JSON output")
    q.set_defaults(run=cmd_approvals_list, command="approvals list")
    q = approvals.add_parser("show", help="one review request (by manifest digest), as JSON")
    q.add_argument("digest", help="the manifest digest, 64 hex digits")
    q.set_defaults(run=cmd_approvals_show, command="approvals show")
    for name, verdict, what in (
        ("approve", APPROVE, "approve"),
        ("deny", DENY, "deny (final)"),
    ):
        q = approvals.add_parser(
            name, help=f"sign as a reviewer, at this machine's clock, and {what} a manifest"
        )
        q.add_argument("digest", help="the manifest digest, 64 hex digits")
        q.add_argument("--key", required=True, help="file with the reviewer's hex seed")
        q.set_defaults(run=cmd_approvals_sign, command=f"approvals {name}", verdict=verdict)
    q = approvals.add_parser(
        "submit", help="submit an approval document signed elsewhere (pda-lease approval-sign)"
    )
    q.add_argument("file", help="approval JSON, or - for stdin")
    q.set_defaults(run=cmd_approvals_submit, command="approvals submit")
    p = command("replay", "re-run every recorded decision; non-zero on any divergence")
    p.add_argument("audit_log", help="an audit.jsonl file")
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per CPU)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--progress", action="store_true", help="show progress even when piped")
    p.add_argument("--quiet", action="store_true", help="no progress")
    p.add_argument("--checkpoint", help="a signed checkpoint the log's Merkle root must match")
    p.add_argument("--issuer-key", help="the verifier key that must have signed --checkpoint")
    p.set_defaults(run=cmd_replay)
    p = command("status", "live, expired, revoked and ended leases")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_status)
    p = command("vectors", "regenerate the conformance vectors (maintainers)")
    p.add_argument("directory")
    p.set_defaults(run=cmd_vectors)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except (CliError, PdaLeaseError) as exc:
        print(f"pda-lease: error: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
