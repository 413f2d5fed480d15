"""Replay an audit log: re-run every recorded decision through the kernel, byte for byte.

``replay_file`` reads an audit log (spec §12.3) once, from the genesis, and for every
``decision`` entry re-runs ``pda_lease.kernel.decide.decide`` on the inputs the entry records
(the manifest, the HRC token, the trust snapshot named by ``trust_digest``, the clock reading
``at``) under the authority named by ``issuer_kid`` and ``policy_digest``, and requires the
outcome to be exactly the recorded one: for a GRANT the decision, lease id, token, manifest
digest and times; for a DENY the code, reason and field. It checks the hash chain at the same
time (``check_line`` of the audit adapter, with the same messages as ``pda-lease audit
verify``) and reports the first divergence, with both sides, and the first chain problem.

**Replaying a signature without the private key.** A replayer holds the issuer's public key
(from the ``authority`` entry), not its seed. It runs the kernel with a *verifying signer*: a
``Signer`` whose public key is the recorded issuer key and whose ``sign(message)`` returns the
signature carried by the recorded token (its last 64 bytes, which for a well-formed token are
exactly the COSE_Sign1 signature field) if that signature verifies over ``message`` under the
issuer key, and 64 zero bytes otherwise. The kernel computes the token's claims and its
Sig_structure from the recorded inputs as it did at decision time, so the replayed token is
byte-identical to the recorded one if and only if the recorded token is ``protected ||
payload`` of exactly that Sig_structure plus a valid issuer signature over it. Ed25519 (RFC
8032) is deterministic, so that signature is the one the issuer's key produces for that
message; a token whose claims, encoding or signature were changed in any way cannot be
reproduced, and one that was signed over other inputs cannot be re-signed by the replayer. The
only thing the replayer cannot tell apart is a second valid signature by the same key over the
same message, which needs the private key (and so proves the issuer signed those claims).

**What is replayed, checked or skipped** (each decision entry is exactly one of these):

* *Replayed*: re-run through the kernel and compared. This includes entries whose HRC token is
  ``{"unrecorded": why}`` (spec §12.3.1): they are re-run *without* a token. The kernel then
  reproduces every step before the HRC check exactly; if HRC was not required the token was
  ignored and the outcome must match exactly (a GRANT included); if HRC was required the
  replay says ``HRC_REQUIRED/HRC_MISSING`` and the recorded outcome must be
  ``HRC_REQUIRED/HRC_MALFORMED`` (an unrecorded token is one the kernel cannot parse), whose
  ``field`` (a path inside the token) cannot be checked. A GRANT that needed an unrecorded
  token is therefore a divergence.
* *Checked by category*: an entry whose manifest is ``{"unrecorded": why}`` cannot be re-run;
  every such manifest is structurally invalid, so its outcome must be a DENY with code
  ``INVALID_MANIFEST`` (its reason and field are not checkable). Counted by ``why``.
* *Skipped*: a manager-level refusal, ``UNAVAILABLE`` with no trust digest (the clock or the
  trust snapshot could not be read, so the kernel never ran). Counted by reason. An
  ``UNAVAILABLE`` outcome that names a trust digest is replayed, and diverges, because the
  kernel had all its inputs and never answers ``UNAVAILABLE``.

Every decision entry, whatever its kind, must name an authority (``issuer_kid`` and
``policy_digest``) and, unless skipped, a trust snapshot recorded by an earlier ``authority``
or ``trust_snapshot`` entry. Authorities are looked up by that pair rather than taken to be the
latest one recorded: processes sharing a state directory may run under different policies, and
each records its authority once, at open, so their decisions can interleave.

**Scale.** The log is streamed: the reader keeps only the authorities and the trust snapshots
it has seen (each document once, by digest) and a bounded number of chunks of raw lines in
flight. Chunks go to a pool of worker processes (``spawn``), which check the chain inside the
chunk, from the entry hash the previous chunk's last line states (that line is checked by the
previous chunk, so the whole chain is verified), and replay its decisions; results are taken
in file order, so the first divergence reported is the one with the lowest ``seq`` whatever the
number of workers. A log that fits in one chunk is replayed in-process. The size of the log is
read under a shared ``flock`` (so no append is half-written) and entries appended afterwards
are not read; the lock is not held while replaying, so a live manager is not blocked. Lines
are read with a buffered ``readline`` bounded by ``MAX_LINE_BYTES`` (the audit adapter's
``_iter_lines`` copies its pending buffer once per line, about ten times slower on a large
log). Workers are started with ``spawn``, so a *script* that calls ``replay_file`` with more
than one worker needs the usual ``if __name__ == "__main__":`` guard (the ``pda-lease``
command has one).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import itertools
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from pda_lease.adapters.audit import (
    GENESIS_HASH,
    MAX_LINE_BYTES,
    AuditProblem,
    check_line,
    merkle_leaf,
)
from pda_lease.adapters.jsonio import JsonInputError, parse_json
from pda_lease.kernel.crypto import SIGNATURE_BYTES, cose_key_thumbprint, verify_signature
from pda_lease.kernel.decide import Authority, decide, derive
from pda_lease.kernel.errors import PdaLeaseError, UsageError
from pda_lease.kernel.governance import GovernancePolicy, policy_from_json
from pda_lease.kernel.inputs import MonotonicTime, TrustSnapshot, parse_trust_snapshot
from pda_lease.kernel.model import Failure
from pda_lease.kernel.token import open_token
from pda_lease.manager import outcome_record
from pda_lease.transparency.checkpoint import Checkpoint
from pda_lease.transparency.merkle import Frontier

DEFAULT_CHUNK_LINES = 512
CHUNK_MAX_BYTES = 4 << 20
_READ_BUFFER = 1 << 20
_CACHE_LIMIT = 4096
UNRECORDED_WHY = frozenset({"FLOAT", "NOT_JSON", "TOO_DEEP", "TOO_LARGE"})

# Hints for the reader, which does not parse every line: a line that is an ``authority`` or
# ``trust_snapshot`` entry contains one of these byte strings (canonical JSON, top-level member),
# and the digests a chunk refers to appear as below. A hint may also match a nested value; the
# reader then parses the line and finds another event, or sends a document nobody uses.
_AUTHORITY_HINT = b'"event":"authority"'
_TRUST_HINT = b'"event":"trust_snapshot"'
_TRUST_REF = re.compile(rb'"trust_digest":"([0-9a-f]{64})"')
_POLICY_REF = re.compile(rb'"policy_digest":"([0-9a-f]{64})"')

_HRC_MISSING = {"decision": "DENY", "code": "HRC_REQUIRED", "reason": "HRC_MISSING", "field": None}

AuthorityKey = tuple[str, str]  # (issuer_kid hex, policy_digest hex)
AuthorityDoc = tuple[str, Mapping[str, object]]  # (issuer public key hex, policy document)


# ---------------------------------------------------------------------------------- results


@attrs.frozen
class Divergence:
    """The first entry whose replay differs from what the log records.

    ``what`` is ``outcome`` (the kernel decided otherwise), ``authority`` or ``trust`` (the
    entry names an authority or a snapshot no earlier entry recorded), ``unrecorded`` (an
    unrecorded input whose recorded outcome the kernel cannot have given) or ``entry`` (the
    entry is not what the manager writes). ``expected`` is the recorded side, ``actual`` the
    replayed one, both JSON values.
    """

    seq: int
    line: int
    what: str
    detail: str
    expected: object
    actual: object

    def to_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "line": self.line,
            "what": self.what,
            "detail": self.detail,
            "expected": self.expected,
            "actual": self.actual,
        }


@attrs.frozen
class ReplayReport:
    """The result of ``replay_file``. ``ok`` iff the chain is intact and nothing diverged.

    ``entries`` counts the entries whose chain link was verified (all of them when
    ``chain_ok``). Each decision entry is replayed, checked by category or skipped (see the
    module docstring); ``decisions_hrc_unrecorded`` counts the replayed ones whose HRC token
    was unrecorded. ``chain_line`` is the 1-based line of ``chain_problem``.
    """

    ok: bool
    entries: int
    bytes_verified: int
    decisions: int
    decisions_replayed: int
    decisions_hrc_unrecorded: int
    decisions_checked: Mapping[str, int]
    decisions_skipped: Mapping[str, int]
    divergences: int
    first_divergence: Divergence | None
    chain_ok: bool
    chain_problem: str | None
    chain_line: int | None
    events: Mapping[str, int]
    merkle_size: int = 0
    merkle_root: bytes | None = None
    checkpoint_ok: bool | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "bytes_verified": self.bytes_verified,
            "decisions": self.decisions,
            "decisions_replayed": self.decisions_replayed,
            "decisions_hrc_unrecorded": self.decisions_hrc_unrecorded,
            "decisions_checked": dict(sorted(self.decisions_checked.items())),
            "decisions_skipped": dict(sorted(self.decisions_skipped.items())),
            "divergences": self.divergences,
            "first_divergence": (
                None if self.first_divergence is None else self.first_divergence.to_json()
            ),
            "chain_ok": self.chain_ok,
            "chain_problem": self.chain_problem,
            "chain_line": self.chain_line,
            "events": dict(sorted(self.events.items())),
            "merkle_size": self.merkle_size,
            "merkle_root": None if self.merkle_root is None else self.merkle_root.hex(),
            "checkpoint_ok": self.checkpoint_ok,
        }


# ---------------------------------------------------------------------------------- context


class _ReplaySigner:
    """The verifying signer of the module docstring: returns ``candidate`` only if valid."""

    __slots__ = ("_public_key", "candidate")

    def __init__(self, public_key: bytes) -> None:
        self._public_key = public_key
        self.candidate = bytes(SIGNATURE_BYTES)

    @property
    def public_key(self) -> bytes:
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        if verify_signature(self._public_key, message, self.candidate):
            return self.candidate
        return bytes(SIGNATURE_BYTES)


def _hex_member(record: Mapping[str, object], name: str, size: int) -> bytes | None:
    value = record.get(name)
    if type(value) is not str or len(value) != 2 * size:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    return raw if raw.hex() == value else None


def authority_of(record: Mapping[str, object]) -> tuple[AuthorityKey, AuthorityDoc] | str:
    """The authority an ``authority`` entry records, or what is wrong with the entry."""
    public_key = _hex_member(record, "issuer_public_key", 32)
    if public_key is None:
        return "issuer_public_key is not 32 bytes of lowercase hex"
    policy_doc = record.get("policy")
    if type(policy_doc) is not dict:
        return "policy is not an object"
    try:
        policy = policy_from_json(policy_doc)
    except PdaLeaseError as exc:
        return f"policy is not valid: {exc}"
    kid = cose_key_thumbprint(public_key).hex()
    lease_policy = policy.lease_policy if isinstance(policy, GovernancePolicy) else policy
    if record.get("issuer_kid") != kid or lease_policy.issuer_kid.hex() != kid:
        return "issuer_kid is not the thumbprint of issuer_public_key and the policy's issuer_kid"
    if record.get("policy_digest") != policy.digest.hex():
        return "policy_digest is not the digest of the policy"
    return (kid, policy.digest.hex()), (public_key.hex(), policy_doc)


def snapshot_of(record: Mapping[str, object]) -> tuple[str, Mapping[str, object]] | str:
    """The snapshot a ``trust_snapshot`` entry records, or what is wrong with the entry."""
    document = record.get("snapshot")
    parsed = parse_trust_snapshot(document)
    if isinstance(parsed, Failure):
        return f"snapshot is not valid at {parsed.path}: {parsed.reason}"
    if record.get("digest") != parsed.digest.hex():
        return "digest is not the digest of the snapshot"
    if record.get("sequence") != parsed.sequence or type(record.get("sequence")) is not int:
        return "sequence is not the snapshot's sequence"
    assert isinstance(document, dict)
    return parsed.digest.hex(), document


@attrs.frozen
class _Chunk:
    """Consecutive raw lines (without newlines), the first being entry ``first_seq``.

    ``prev_hash`` is the entry hash the previous line states; ``authorities`` and ``snapshots``
    are the documents recorded before the chunk that its lines refer to.
    """

    first_seq: int
    prev_hash: bytes
    lines: list[bytes]
    authorities: dict[AuthorityKey, AuthorityDoc]
    snapshots: dict[str, Mapping[str, object]]


@attrs.frozen
class _ChunkResult:
    verified: int  # lines whose chain link was verified, from the first
    decisions: int
    replayed: int
    hrc_unrecorded: int
    checked: dict[str, int]
    skipped: dict[str, int]
    events: dict[str, int]
    divergences: int
    first_divergence: Divergence | None
    problem: tuple[int, str] | None  # (line, problem): the chain stops there


class _Mismatch(Exception):
    def __init__(self, what: str, detail: str, expected: object, actual: object) -> None:
        super().__init__(detail)
        self.what = what
        self.detail = detail
        self.expected = expected
        self.actual = actual


def _same(recorded: object, replayed: object) -> bool:
    """Equal as JSON values, types included (so ``true`` is not ``1`` and ``1`` not ``1.0``).

    The same answer as comparing canonical forms byte for byte, without serializing both.
    """
    if type(recorded) is not type(replayed):
        return False
    if type(recorded) is dict:
        assert isinstance(recorded, dict)
        assert isinstance(replayed, dict)
        return recorded.keys() == replayed.keys() and all(
            _same(item, replayed[key]) for key, item in recorded.items()
        )
    if type(recorded) is list:
        assert isinstance(recorded, list)
        assert isinstance(replayed, list)
        return len(recorded) == len(replayed) and all(
            _same(mine, theirs) for mine, theirs in zip(recorded, replayed, strict=True)
        )
    if type(recorded) is float:  # as their JSON texts would: -0.0 is not 0.0
        return repr(recorded) == repr(replayed)
    return recorded == replayed


def _differing(recorded: dict[str, object], replayed: dict[str, object]) -> str:
    names = sorted(
        name
        for name in set(recorded) | set(replayed)
        if name not in recorded or name not in replayed or not _same(recorded[name], replayed[name])
    )
    return "outcome differs in " + ", ".join(names)


class _Replayer:
    """Replays chunks. Holds parsed authorities and snapshots by digest (a bounded cache)."""

    def __init__(self) -> None:
        self._authorities: dict[AuthorityKey, tuple[Authority, _ReplaySigner]] = {}
        self._snapshots: dict[str, TrustSnapshot] = {}

    def _authority(self, key: AuthorityKey, doc: AuthorityDoc) -> tuple[Authority, _ReplaySigner]:
        found = self._authorities.get(key)
        if found is None:
            if len(self._authorities) >= _CACHE_LIMIT:
                self._authorities.clear()
            signer = _ReplaySigner(bytes.fromhex(doc[0]))
            found = (Authority(signer, policy_from_json(doc[1])), signer)
            self._authorities[key] = found
        return found

    def _snapshot(self, digest: str, document: Mapping[str, object]) -> TrustSnapshot:
        found = self._snapshots.get(digest)
        if found is None:
            if len(self._snapshots) >= _CACHE_LIMIT:
                self._snapshots.clear()
            parsed = parse_trust_snapshot(document)
            assert isinstance(parsed, TrustSnapshot)
            found = self._snapshots[digest] = parsed
        return found

    def run(self, chunk: _Chunk) -> _ChunkResult:
        authorities = dict(chunk.authorities)
        snapshots = dict(chunk.snapshots)
        checked: dict[str, int] = {}
        skipped: dict[str, int] = {}
        events: dict[str, int] = {}
        counts = {"decisions": 0, "replayed": 0, "hrc": 0, "divergences": 0}
        first: Divergence | None = None
        problem: tuple[int, str] | None = None
        prev = chunk.prev_hash
        verified = 0
        for index, line in enumerate(chunk.lines):
            seq = chunk.first_seq + index
            try:
                entry = check_line(line, seq, prev, 0)
                if seq == 0 and entry.event != "log_created":
                    raise AuditProblem(1, "the first entry is not 'log_created'")
            except AuditProblem as exc:
                problem = (exc.line_number, exc.problem)
                break
            except Exception as exc:  # a line that defeats the checker is a bad line
                problem = (seq + 1, f"cannot check the line: {type(exc).__name__}")
                break
            verified += 1
            prev = entry.entry_hash
            record = entry.record
            event = entry.event
            events[event] = events.get(event, 0) + 1
            try:
                if event == "authority":
                    learned = authority_of(record)
                    if isinstance(learned, str):
                        raise _Mismatch("entry", f"authority entry: {learned}", None, None)
                    authorities[learned[0]] = learned[1]
                elif event == "trust_snapshot":
                    known = snapshot_of(record)
                    if isinstance(known, str):
                        raise _Mismatch("entry", f"trust_snapshot entry: {known}", None, None)
                    snapshots[known[0]] = known[1]
                elif event in {"decision", "sub_lease"}:
                    counts["decisions"] += 1
                    if event == "decision":
                        kind, key = self._decision(record, authorities, snapshots)
                    else:
                        kind, key = self._sub_lease(record, authorities)
                    if kind == "replayed":
                        counts["replayed"] += 1
                        if key:
                            counts["hrc"] += 1
                    else:
                        tally = checked if kind == "checked" else skipped
                        tally[key] = tally.get(key, 0) + 1
            except _Mismatch as mismatch:
                counts["divergences"] += 1
                if first is None:
                    first = Divergence(
                        seq,
                        seq + 1,
                        mismatch.what,
                        mismatch.detail,
                        mismatch.expected,
                        mismatch.actual,
                    )
            except Exception as exc:  # never raise for content: name the entry instead
                counts["divergences"] += 1
                if first is None:
                    detail = f"the entry cannot be replayed: {type(exc).__name__}: {exc}"
                    first = Divergence(seq, seq + 1, "entry", detail, None, None)
        return _ChunkResult(
            verified,
            counts["decisions"],
            counts["replayed"],
            counts["hrc"],
            checked,
            skipped,
            events,
            counts["divergences"],
            first,
            problem,
        )

    def _decision(
        self,
        record: Mapping[str, object],
        authorities: Mapping[AuthorityKey, AuthorityDoc],
        snapshots: Mapping[str, Mapping[str, object]],
    ) -> tuple[str, str]:
        """Replay, check or skip one decision entry; raise ``_Mismatch`` if it diverges."""
        outcome = record.get("outcome")
        if not isinstance(outcome, dict) or outcome.get("decision") not in {"GRANT", "DENY"}:
            raise _Mismatch("entry", "outcome is not a GRANT or DENY object", outcome, None)
        kid, policy_digest = record.get("issuer_kid"), record.get("policy_digest")
        key = (str(kid), str(policy_digest))
        doc = authorities.get(key) if type(kid) is str and type(policy_digest) is str else None
        if doc is None:
            raise _Mismatch(
                "authority",
                "issuer_kid and policy_digest name no authority recorded before this entry",
                {"issuer_kid": kid, "policy_digest": policy_digest},
                None,
            )
        trust_digest = record.get("trust_digest")
        if trust_digest is None and outcome.get("code") == "UNAVAILABLE":
            reason = outcome.get("reason")
            if reason not in {"CLOCK_UNAVAILABLE", "TRUST_UNAVAILABLE"}:
                raise _Mismatch(
                    "entry",
                    "a refusal without a trust digest names no input failure",
                    outcome,
                    None,
                )
            return "skipped", f"UNAVAILABLE/{reason}"
        snapshot_doc = snapshots.get(trust_digest) if type(trust_digest) is str else None
        if snapshot_doc is None:
            raise _Mismatch(
                "trust",
                "trust_digest names no trust snapshot recorded before this entry",
                trust_digest,
                None,
            )
        assert isinstance(trust_digest, str)
        authority, signer = self._authority(key, doc)
        snapshot = self._snapshot(trust_digest, snapshot_doc)
        at = record.get("at")
        try:
            now = MonotonicTime.from_json(at)
        except (PdaLeaseError, ValueError, TypeError):
            raise _Mismatch("entry", "at is not a clock reading", at, None) from None

        manifest_member = record.get("manifest")
        manifest = _recorded_input(manifest_member, "manifest")
        if manifest is _UNRECORDED:
            assert isinstance(manifest_member, dict)
            expected = {"decision": "DENY", "code": "INVALID_MANIFEST"}
            if outcome.get("decision") != "DENY" or outcome.get("code") != "INVALID_MANIFEST":
                raise _Mismatch(
                    "unrecorded",
                    "an unrecorded manifest is invalid, so its decision is INVALID_MANIFEST",
                    outcome,
                    expected,
                )
            return "checked", f"UNRECORDED_MANIFEST/{manifest_member['unrecorded']}"
        hrc_member = record.get("hrc_token")
        hrc: object | None = None
        hrc_unrecorded = False
        if hrc_member is not None:
            hrc = _recorded_input(hrc_member, "hrc_token")
            if hrc is _UNRECORDED:
                hrc, hrc_unrecorded = None, True

        token_hex = outcome.get("token")
        signer.candidate = bytes(SIGNATURE_BYTES)
        if outcome.get("decision") == "GRANT" and type(token_hex) is str:
            with contextlib.suppress(ValueError):
                tail = bytes.fromhex(token_hex)[-SIGNATURE_BYTES:]
                if len(tail) == SIGNATURE_BYTES:
                    signer.candidate = tail
        request, request_unrecorded = _optional_input(record, "request")
        approvals, approvals_unrecorded = _optional_input(record, "approvals")
        # A pooled decision's usage snapshot (§14.6): the document the manager passed.
        usage, usage_unrecorded = _optional_input(record, "usage")
        replayed = outcome_record(
            decide(authority, manifest, snapshot, now, hrc, request, approvals, usage)
        )
        if usage_unrecorded and _reason(replayed) == _USAGE_INVALID:
            # Too large to record means over the snapshot limits: the kernel refused it.
            _expect_malformed(outcome, _USAGE_INVALID, "the usage snapshot")
            return "checked", "UNRECORDED_USAGE"
        if request_unrecorded and _reason(replayed) == _REQUEST_MISSING:
            # An input too large to record is over the request limits, so the kernel refused
            # it as malformed; replayed without it, the same step refuses it as missing.
            _expect_malformed(outcome, _REQUEST_MALFORMED, "the request")
            return "checked", "UNRECORDED_REQUEST"
        if approvals_unrecorded and _reason(replayed) == _APPROVALS_INSUFFICIENT:
            _expect_malformed(outcome, _APPROVALS_MALFORMED, "the approvals")
            return "checked", "UNRECORDED_APPROVALS"
        if hrc_unrecorded and replayed == _HRC_MISSING:
            malformed = {"decision": "DENY", "code": "HRC_REQUIRED", "reason": "HRC_MALFORMED"}
            if any(outcome.get(name) != value for name, value in malformed.items()):
                raise _Mismatch(
                    "unrecorded",
                    "HRC was required and the HRC token is unrecorded, so the decision is "
                    "HRC_REQUIRED/HRC_MALFORMED",
                    outcome,
                    malformed,
                )
        elif not _same(outcome, replayed):
            raise _Mismatch("outcome", _differing(outcome, replayed), outcome, replayed)
        return "replayed", "hrc" if hrc_unrecorded else ""

    def _sub_lease(
        self, record: Mapping[str, object], authorities: Mapping[AuthorityKey, AuthorityDoc]
    ) -> tuple[str, str]:
        """Re-run a sub-lease derivation the kernel judged (§14.8); check the others' shape.

        The manager's own refusals (unknown parent, holder proof, standing, release) depend on
        its state, not on the entry alone: they are counted as checked, not replayed.
        """
        outcome = record.get("outcome")
        if not isinstance(outcome, dict) or outcome.get("decision") not in {"GRANT", "DENY"}:
            raise _Mismatch("entry", "outcome is not a GRANT or DENY object", outcome, None)
        if record.get("judged_by") != "kernel":
            if outcome.get("decision") != "DENY":
                raise _Mismatch("entry", "only the kernel grants a sub-lease", outcome, None)
            return "checked", "SUB_LEASE_REFUSED_BY_MANAGER"
        kid, policy_digest = record.get("issuer_kid"), record.get("policy_digest")
        key = (str(kid), str(policy_digest))
        doc = authorities.get(key) if type(kid) is str and type(policy_digest) is str else None
        if doc is None:
            raise _Mismatch("authority", "the sub-lease names no recorded authority", key, None)
        authority, signer = self._authority(key, doc)
        parent = record.get("parent_token")
        if not isinstance(parent, dict) or type(parent.get("hex")) is not str:
            raise _Mismatch("entry", "a kernel-judged sub-lease records its parent", parent, None)
        try:
            now = MonotonicTime.from_json(record.get("at"))
            claims = open_token(
                bytes.fromhex(str(parent["hex"])), issuer_public_key=authority.public_key
            )
        except (PdaLeaseError, ValueError, TypeError) as exc:
            raise _Mismatch("entry", f"the parent does not open: {exc}", parent, None) from None
        arguments = []
        for name in ("tool", "calls", "ttl_ns", "holder_public_key"):
            value = _recorded_input(record.get(name), name)
            if value is _UNRECORDED:
                return "checked", "UNRECORDED_SUB_LEASE_INPUT"
            arguments.append(value)
        tool, calls, ttl_ns, holder = arguments
        if type(holder) is str and len(holder) == 64:
            with contextlib.suppress(ValueError):
                holder = bytes.fromhex(holder)
        token_hex = outcome.get("token")
        signer.candidate = bytes(SIGNATURE_BYTES)
        if outcome.get("decision") == "GRANT" and type(token_hex) is str:
            with contextlib.suppress(ValueError):
                tail = bytes.fromhex(token_hex)[-SIGNATURE_BYTES:]
                if len(tail) == SIGNATURE_BYTES:
                    signer.candidate = tail
        replayed = outcome_record(derive(authority, claims, now, tool, calls, ttl_ns, holder))
        if not _same(outcome, replayed):
            raise _Mismatch("outcome", _differing(outcome, replayed), outcome, replayed)
        return "replayed", ""


_UNRECORDED: Any = object()
_REQUEST_MISSING = ("DENY", "POLICY_DENIED", "REQUEST_MISSING")
_REQUEST_MALFORMED = ("DENY", "POLICY_DENIED", "REQUEST_MALFORMED")
_APPROVALS_INSUFFICIENT = ("DENY", "APPROVAL_REQUIRED", "APPROVALS_INSUFFICIENT")
_APPROVALS_MALFORMED = ("DENY", "APPROVAL_REQUIRED", "APPROVALS_MALFORMED")
_USAGE_INVALID = ("DENY", "QUOTA_EXCEEDED", "USAGE_INVALID")


def _reason(outcome: Mapping[str, object]) -> tuple[object, object, object]:
    return outcome.get("decision"), outcome.get("code"), outcome.get("reason")


def _optional_input(record: Mapping[str, object], name: str) -> tuple[object | None, bool]:
    """A recorded optional input (``None`` when absent) and whether it was unrecorded."""
    member = record.get(name)
    if member is None:
        return None, False
    value = _recorded_input(member, name)
    if value is _UNRECORDED:
        return None, True
    return value, False


def _expect_malformed(
    outcome: Mapping[str, object], expected: tuple[str, str, str], what: str
) -> None:
    if _reason(outcome) != expected:
        decision, code, reason = expected
        raise _Mismatch(
            "unrecorded",
            f"{what} is unrecorded (too large to record), so the decision is {code}/{reason}",
            outcome,
            {"decision": decision, "code": code, "reason": reason},
        )


def _recorded_input(member: object, name: str) -> object:
    """The value of a recorded input ``{"json": v}``, or ``_UNRECORDED``."""
    if isinstance(member, dict) and len(member) == 1:
        if "json" in member:
            return member["json"]
        if member.get("unrecorded") in UNRECORDED_WHY:
            return _UNRECORDED
    raise _Mismatch("entry", f"{name} is not a recorded input", member, None)


# ---------------------------------------------------------------------------------- workers

_WORKER: _Replayer | None = None


def _init_worker() -> None:
    global _WORKER  # noqa: PLW0603 - one replayer per worker process
    _WORKER = _Replayer()


def _run_chunk(chunk: _Chunk) -> _ChunkResult:
    assert _WORKER is not None
    return _WORKER.run(chunk)


# ---------------------------------------------------------------------------------- reader


class _Read:
    """The reader's state: position, context learned so far, and any problem it met."""

    def __init__(self) -> None:
        self.seq = 0
        self.offset = 0
        self.prev = GENESIS_HASH
        self.authorities: dict[AuthorityKey, AuthorityDoc] = {}
        self.snapshots: dict[str, Mapping[str, object]] = {}
        self.problem: tuple[int | None, str] | None = None
        self.frontier = Frontier()  # the RFC 9162 tree of the lines read (spec §12.9)
        self.leaves: list[bytes] = []  # leaf hashes read but not yet folded into it
        self.want_size: int | None = None
        self.root_at_want: bytes | None = None

    def learn(self, line: bytes) -> None:
        """Remember the authority or snapshot a line records (validated as the worker will)."""
        try:
            record = parse_json(line)
        except JsonInputError:
            return
        if not isinstance(record, dict):
            return
        if record.get("event") == "authority":
            learned = authority_of(record)
            if not isinstance(learned, str):
                self.authorities.setdefault(*learned)
        elif record.get("event") == "trust_snapshot":
            known = snapshot_of(record)
            if not isinstance(known, str):
                self.snapshots.setdefault(*known)

    def flush_leaves(self) -> None:
        self.frontier = self.frontier.extend(self.leaves)
        self.leaves = []

    def chunk(self, lines: list[bytes]) -> _Chunk:
        """Package ``lines`` with what they refer to, then learn from them and move on."""
        self.flush_leaves()
        joined = b"\n".join(lines)
        trust_refs = {match.decode() for match in _TRUST_REF.findall(joined)}
        policy_refs = {match.decode() for match in _POLICY_REF.findall(joined)}
        chunk = _Chunk(
            self.seq,
            self.prev,
            lines,
            {key: doc for key, doc in self.authorities.items() if key[1] in policy_refs},
            {digest: self.snapshots[digest] for digest in trust_refs if digest in self.snapshots},
        )
        if _AUTHORITY_HINT in joined or _TRUST_HINT in joined:
            for line in lines:
                if _AUTHORITY_HINT in line or _TRUST_HINT in line:
                    self.learn(line)
        self.seq += len(lines)
        self.prev = bytes(32)  # if the last line states no hash, its own check fails first
        with contextlib.suppress(JsonInputError, ValueError):
            last = parse_json(lines[-1])
            if isinstance(last, dict) and type(last.get("entry_hash")) is str:
                stated = bytes.fromhex(last["entry_hash"])
                if len(stated) == 32:
                    self.prev = stated
        return chunk

    def chunks(self, handle: Any, size: int, chunk_lines: int) -> Iterator[_Chunk]:
        lines: list[bytes] = []
        held = 0
        try:
            while self.offset < size:
                line = handle.readline(min(MAX_LINE_BYTES, size - self.offset))
                if not line:
                    self.problem = (self.seq + len(lines) + 1, "the log shrank while being read")
                    break
                self.offset += len(line)
                if not line.endswith(b"\n"):
                    number = self.seq + len(lines) + 1
                    if self.offset >= size:
                        self.problem = (number, "incomplete last line (torn write)")
                    else:
                        self.problem = (number, f"line is longer than {MAX_LINE_BYTES} bytes")
                    break
                lines.append(line[:-1])
                self.leaves.append(merkle_leaf(line[:-1]))
                if self.frontier.size + len(self.leaves) == self.want_size:
                    self.flush_leaves()
                    self.root_at_want = self.frontier.root()
                held += len(line)
                if len(lines) >= chunk_lines or held >= CHUNK_MAX_BYTES:
                    yield self.chunk(lines)
                    lines, held = [], 0
        except OSError as exc:
            self.problem = (self.seq + len(lines) + 1, f"read error: {exc.strerror}")
        if lines:
            yield self.chunk(lines)
        self.flush_leaves()


# ---------------------------------------------------------------------------------- driver


class _Totals:
    def __init__(self) -> None:
        self.entries = 0
        self.bytes_verified = 0
        self.decisions = 0
        self.replayed = 0
        self.hrc = 0
        self.checked: collections.Counter[str] = collections.Counter()
        self.skipped: collections.Counter[str] = collections.Counter()
        self.events: collections.Counter[str] = collections.Counter()
        self.divergences = 0
        self.first: Divergence | None = None
        self.problem: tuple[int | None, str] | None = None

    def add(self, chunk: _Chunk, result: _ChunkResult) -> None:
        self.entries += result.verified
        self.bytes_verified += sum(len(line) + 1 for line in chunk.lines[: result.verified])
        self.decisions += result.decisions
        self.replayed += result.replayed
        self.hrc += result.hrc_unrecorded
        self.checked.update(result.checked)
        self.skipped.update(result.skipped)
        self.events.update(result.events)
        self.divergences += result.divergences
        if self.first is None:
            self.first = result.first_divergence
        if result.problem is not None:
            self.problem = result.problem

    def report(
        self, reader: _Read | None = None, checkpoint: Checkpoint | None = None
    ) -> ReplayReport:
        if self.problem is None and self.entries == 0:
            self.problem = (None, "the log is empty (no 'log_created' entry)")
        chain_ok = self.problem is None
        checkpoint_ok: bool | None = None
        if checkpoint is not None:
            checkpoint_ok = (
                reader is not None
                and chain_ok
                and reader.root_at_want is not None
                and reader.root_at_want == checkpoint.root_hash
            )
        return ReplayReport(
            ok=chain_ok and self.divergences == 0 and checkpoint_ok is not False,
            merkle_size=0 if reader is None else reader.frontier.size,
            merkle_root=None if reader is None or not chain_ok else reader.frontier.root(),
            checkpoint_ok=checkpoint_ok,
            entries=self.entries,
            bytes_verified=self.bytes_verified,
            decisions=self.decisions,
            decisions_replayed=self.replayed,
            decisions_hrc_unrecorded=self.hrc,
            decisions_checked=dict(self.checked),
            decisions_skipped=dict(self.skipped),
            divergences=self.divergences,
            first_divergence=self.first,
            chain_ok=chain_ok,
            chain_problem=None if self.problem is None else self.problem[1],
            chain_line=None if self.problem is None else self.problem[0],
            events=dict(self.events),
        )


def replay_file(
    path: str | os.PathLike[str],
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk_lines: int = DEFAULT_CHUNK_LINES,
    checkpoint: Checkpoint | None = None,
) -> ReplayReport:
    """Replay every decision of the audit log at ``path``; verify its chain (module docstring).

    ``workers`` is the number of worker processes (default: one per CPU; 1 replays in this
    process). ``progress(done_bytes, total_bytes)`` is called after each chunk of
    ``chunk_lines`` lines. Never raises for the content of the file: an unreadable or broken
    log is a report with ``ok`` false naming the line. Raises ``UsageError`` for bad arguments.

    The Merkle root of the lines read is computed at the same time (``merkle_root``); with a
    ``checkpoint`` (already verified by the caller against a trusted key), the root of the
    log's first ``checkpoint.size`` lines must be its root, else ``ok`` is false.
    """
    if workers is None:
        workers = os.cpu_count() or 1
    if type(workers) is not int or workers < 1:
        raise UsageError("workers is a positive integer")
    if type(chunk_lines) is not int or chunk_lines < 1:
        raise UsageError("chunk_lines is a positive integer")
    totals = _Totals()
    try:
        handle = open(path, "rb", buffering=_READ_BUFFER)  # noqa: SIM115 - closed below
    except OSError as exc:
        totals.problem = (None, f"cannot read {os.fspath(path)}: {exc.strerror}")
        return totals.report()
    with handle:
        try:
            with contextlib.suppress(OSError):  # wait for an append in progress, then let go
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
            size = os.fstat(handle.fileno()).st_size
            with contextlib.suppress(OSError):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        except OSError as exc:
            totals.problem = (None, f"cannot read {os.fspath(path)}: {exc.strerror}")
            return totals.report()
        reader = _Read()
        reader.want_size = None if checkpoint is None else checkpoint.size
        if checkpoint is not None and checkpoint.size == 0:
            reader.root_at_want = reader.frontier.root()
        _drive(reader.chunks(handle, size, chunk_lines), totals, workers, progress, size)
        if totals.problem is None and reader.problem is not None:
            totals.problem = reader.problem
        return totals.report(reader, checkpoint)


def _drive(
    chunks: Iterator[_Chunk],
    totals: _Totals,
    workers: int,
    progress: Callable[[int, int], None] | None,
    size: int,
) -> None:
    """Run the chunks in order (in-process, or on a pool once there are two of them)."""

    def absorb(chunk: _Chunk, result: _ChunkResult) -> bool:
        totals.add(chunk, result)
        if progress is not None:
            progress(totals.bytes_verified, size)
        return totals.problem is None

    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None) if workers > 1 else None
    if second is None:
        replayer = _Replayer()
        for chunk in itertools.chain((first,), chunks):
            if not absorb(chunk, replayer.run(chunk)):
                return
        return
    in_flight: collections.deque[tuple[_Chunk, Any]] = collections.deque()
    limit = 2 * workers + 1
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:

        def settle(keep: int) -> bool:
            while len(in_flight) > keep:
                chunk, pending = in_flight.popleft()
                try:
                    result = pending.get()
                except Exception as exc:  # a crashed worker is a failed replay, not a raise
                    totals.problem = (
                        chunk.first_seq + 1,
                        f"replay worker failed: {type(exc).__name__}: {exc}",
                    )
                    return False
                if not absorb(chunk, result):
                    return False
            return True

        for chunk in itertools.chain((first, second), chunks):
            in_flight.append((chunk, pool.apply_async(_run_chunk, (chunk,))))
            if not settle(limit):
                return
        settle(0)
