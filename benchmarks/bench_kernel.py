#!/usr/bin/env python3
"""Speed of the pure kernel against the libsodium work it cannot avoid.

Why this suite exists: a decision GRANT has to sign one token, and a verification has to check
one signature (two with a holder proof); everything else the kernel does (parsing, encoding,
hashing, checks) is Python around that work. The targets say how much: ``Authority.decide``
at most 1.3x its libsodium work, ``open_token`` at most 1.2x one verify, ``verify_token``
with a holder proof at most 1.2x two verifies. This suite measures both sides of each ratio
in one process, side by side, with ``bench_common.run_rounds`` (alternating rounds), and
breaks one decide GRANT into the steps that can be called on their own, so that
``BENCHMARKS.md`` can say what bounds a decision.

Run from the repository root::

    .venv/bin/python benchmarks/bench_kernel.py [--rounds 7] [--seconds 32] [--out FILE]

It writes ``benchmarks/results/kernel.json`` (``bench_common.results_document``) and prints
the same figures as tables. Only the calls being measured are timed: manifests, holder keys,
HRC tokens and holder proofs are built untimed, in each chunk, just before its timed loop.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bench_common
import cbor2
import nacl.bindings
import report
from bench_common import Bench, timed_loop

from pda_lease import (
    Authority,
    Grant,
    LeasePolicy,
    MonotonicTime,
    TaskManifest,
    TrustSnapshot,
    decode_unverified,
    json_digest,
    open_token,
    parse_manifest,
    parse_trust_snapshot,
    sign_holder_proof,
    verify_token,
)
from pda_lease.adapters.jsonio import canonical_json
from pda_lease.conformance import (
    EPOCH,
    HOLDER,
    HRC_DEVICE,
    ISSUER,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
    hrc_for,
    vector_seed,
)
from pda_lease.kernel.cbor import encode
from pda_lease.kernel.decide import lease_id_for
from pda_lease.kernel.inputs import HolderKeyMemo, hrc_signed_bytes
from pda_lease.kernel.model import MANIFEST_LIMITS
from pda_lease.kernel.token import holder_signed_bytes, mint, sig_structure

NOW = MonotonicTime(EPOCH, 100 * SECOND)  # inside base_manifest's window [10 s, 3600 s)
HRC_CONFIRMED = MonotonicTime(EPOCH, 90 * SECOND)  # 10 s old: within the policy's 60 s
TRUST_SCORE = 9500  # files.read: above every threshold (LOW 3000 ... HIGH 9000)
TOKEN_POOL = 1024  # distinct tokens that open_token and verify_token go round
RAW_KEY_POOL = 1024  # distinct holder keys for the raw point-check rows
DECIDE_TARGET = 1.3
OPEN_TARGET = 1.2
VERIFY_TARGET = 1.2


# ---------------------------------------------------------------------------------- inputs


def holder_public_key(number: int) -> bytes:
    """The public key of the ``number``-th bench holder (a distinct seed for every number)."""
    seed = hashlib.sha256(b"pda-lease bench holder " + number.to_bytes(8, "big")).digest()
    public_key, _secret_key = nacl.bindings.crypto_sign_seed_keypair(seed)
    return bytes(public_key)


def realistic_inputs() -> dict[str, Any]:
    """The ``inputs`` a Blueprint Compiler emits for a report-mailing task: a few dozen fields,
    nested objects and lists, a body of text; a few KiB once encoded, well within spec §9."""
    paragraph = (
        "Please find attached the quarterly figures for the regional offices, with the "
        "reconciliation notes requested at the last review. Totals are in EUR; the appendix "
        "lists every adjustment made after the ledger was closed, with its approver. "
    )
    recipients = [
        {
            "name": f"Recipient {number}",
            "address": f"recipient{number}@finance.example.org",
            "kind": "to" if number < 4 else "cc",
            "locale": "en-GB" if number % 2 else "fr-FR",
        }
        for number in range(8)
    ]
    attachments = [
        {
            "path": f"/srv/reports/2026/q3/region-{number}.pdf",
            "sha256": hashlib.sha256(f"attachment {number}".encode()).hexdigest(),
            "bytes": 180_000 + 1_337 * number,
            "media_type": "application/pdf",
        }
        for number in range(4)
    ]
    steps = [
        {"op": "load", "args": {"source": "ledger:2026-q3", "columns": ["region", "total"]}},
        {"op": "filter", "args": {"field": "status", "equals": "closed"}},
        {"op": "group", "args": {"by": ["region"], "sum": ["total"]}},
        {"op": "render", "args": {"template": "quarterly-v7", "format": "pdf", "pages": 12}},
        {"op": "attach", "args": {"from": "render", "max_bytes": 10_485_760}},
        {"op": "send", "args": {"channel": "smtp", "dry_run": False}},
    ]
    return {
        "message": {
            "subject": "Quarterly figures, Q3 2026: regional offices",
            "body_text": paragraph * 6,
            "reply_to": "controller@finance.example.org",
            "priority": "normal",
            "headers": {
                "X-Request-Id": "req-7f3a9c2e-5b1d-4e8a-9f0c-1d2e3f4a5b6c",
                "X-Blueprint": "quarterly-report",
                "X-Cost-Centre": "FIN-0042",
            },
        },
        "recipients": recipients,
        "attachments": attachments,
        "delivery": {
            "not_before_ns": 20 * SECOND,
            "retry": {"max_attempts": 5, "backoff_ms": [250, 500, 1000, 2000, 4000]},
            "track_opens": False,
            "require_tls": True,
        },
        "blueprint": {
            "id": "bp-quarterly-report",
            "version": 7,
            "compiler": "pda-blueprint-compiler 2.3.1",
            "source_digest": hashlib.sha256(b"blueprint source").hexdigest(),
            "steps": steps,
        },
        "labels": ["finance", "quarterly", "regional", "external", "pdf"],
        "locale": "en-GB",
        "timezone": "Europe/London",
    }


def small_manifest() -> dict[str, Any]:
    """The conformance manifest with a minimal ``inputs``."""
    document = base_manifest()
    document["inputs"] = {"path": "/home/user/notes.txt"}
    return document


def realistic_manifest() -> dict[str, Any]:
    document = base_manifest()
    document["capability_id"] = "mail.send"
    document["inputs"] = realistic_inputs()
    return document


def variant(template: dict[str, Any], task_number: int, holder: bytes | None) -> dict[str, Any]:
    """``template`` with its own task_id and, if given, its own holder key (a shallow copy:
    the kernel never mutates its inputs)."""
    document = dict(template)
    document["task_id"] = f"bench-{task_number:010d}"
    if holder is not None:
        document["holder"] = {"public_key": holder.hex()}
    return document


def parsed(document: dict[str, Any]) -> TaskManifest:
    """The manifest parsed; a manifest the kernel refuses (say, over the spec's limits) stops
    the run, since every figure assumes a GRANT."""
    manifest = parse_manifest(document)
    if not isinstance(manifest, TaskManifest):
        raise SystemExit(f"setup: the kernel refuses the manifest: {manifest}")
    return manifest


def granted(decision: object) -> Grant:
    if not isinstance(decision, Grant):
        raise SystemExit(f"setup: expected a GRANT, got {decision}")
    return decision


class Fixtures:
    """What every benchmark shares: one authority, one parsed snapshot, task and key counters.

    Task numbers and holder keys come from counters shared by every benchmark, so no two
    decisions of a run see the same task_id, and no cold holder key is ever seen twice.
    """

    def __init__(self) -> None:
        self.authority = Authority(ISSUER, LeasePolicy.from_json(base_policy()))
        snapshot = parse_trust_snapshot(base_snapshot(score=TRUST_SCORE))
        assert isinstance(snapshot, TrustSnapshot)
        self.snapshot = snapshot
        self.tasks = itertools.count()
        self.holder_numbers = itertools.count(1)
        self.issuer_public, self.issuer_secret = nacl.bindings.crypto_sign_seed_keypair(
            vector_seed("issuer")
        )
        self.holder_public, self.holder_secret = nacl.bindings.crypto_sign_seed_keypair(
            vector_seed("holder")
        )

    def fresh_holder_keys(self, count: int) -> list[bytes]:
        return [holder_public_key(next(self.holder_numbers)) for _ in range(count)]

    def decide_documents(
        self, template: dict[str, Any], count: int, *, cold: bool
    ) -> list[dict[str, Any]]:
        keys: list[bytes | None] = [*self.fresh_holder_keys(count)] if cold else [None] * count
        return [variant(template, next(self.tasks), key) for key in keys]


# ---------------------------------------------------------------------------------- bodies


def decide_body(fixtures: Fixtures, template: dict[str, Any], *, cold: bool) -> bench_common.Body:
    """``Authority.decide`` producing a GRANT; a new task_id each call, and with ``cold`` a
    holder key never seen before in the run."""
    decide, snapshot = fixtures.authority.decide, fixtures.snapshot

    def body(n: int) -> float:
        documents = fixtures.decide_documents(template, n, cold=cold)
        start = time.perf_counter()
        decisions = [decide(document, snapshot, NOW) for document in documents]
        elapsed = time.perf_counter() - start
        for decision in decisions:
            granted(decision)
        return elapsed

    return body


def decide_hrc_body(fixtures: Fixtures) -> bench_common.Body:
    """decide on a HIGH manifest, which the policy makes require an HRC token (warm key)."""
    decide, snapshot = fixtures.authority.decide, fixtures.snapshot
    template = small_manifest()
    template["constraints"] = {**template["constraints"], "sensitivity": "HIGH"}

    def body(n: int) -> float:
        documents = fixtures.decide_documents(template, n, cold=False)
        calls = [(document, hrc_for(document, HRC_CONFIRMED.ns)) for document in documents]
        start = time.perf_counter()
        decisions = [decide(document, snapshot, NOW, hrc) for document, hrc in calls]
        elapsed = time.perf_counter() - start
        for decision in decisions:
            assert granted(decision).claims.hrc_digest is not None
        return elapsed

    return body


class TokenPool:
    """``TOKEN_POOL`` distinct granted tokens (small manifest, one holder), made at setup."""

    def __init__(self, fixtures: Fixtures) -> None:
        self.calls: list[tuple[bytes, str, bytes, bytes]] = []
        template = small_manifest()
        for _ in range(TOKEN_POOL):
            document = variant(template, next(fixtures.tasks), None)
            grant = granted(fixtures.authority.decide(document, fixtures.snapshot, NOW))
            self.calls.append(
                (grant.token, str(document["task_id"]), json_digest(document), grant.lease_id)
            )
        self.turn = 0

    def take(self, count: int) -> list[tuple[bytes, str, bytes, bytes]]:
        """The next ``count`` (token, task_id, manifest digest, lease id), round-robin."""
        taken = [self.calls[(self.turn + i) % TOKEN_POOL] for i in range(count)]
        self.turn += count
        return taken


def open_token_body(fixtures: Fixtures, pool: TokenPool) -> bench_common.Body:
    issuer_public_key = fixtures.authority.public_key

    def body(n: int) -> float:
        tokens = [token for token, _task, _digest, _lease in pool.take(n)]
        start = time.perf_counter()
        for token in tokens:
            open_token(token, issuer_public_key=issuer_public_key)
        return time.perf_counter() - start

    return body


def verify_token_body(fixtures: Fixtures, pool: TokenPool) -> bench_common.Body:
    """``verify_token`` with a holder proof over a fresh 32-byte challenge (signed untimed)."""
    issuer_public_key = fixtures.authority.public_key

    def body(n: int) -> float:
        calls = [
            (token, task_id, digest, sign_holder_proof(HOLDER, lease_id, os.urandom(32)))
            for token, task_id, digest, lease_id in pool.take(n)
        ]
        start = time.perf_counter()
        for token, task_id, digest, proof in calls:
            verify_token(
                token,
                issuer_public_key=issuer_public_key,
                task_id=task_id,
                manifest_digest=digest,
                now=NOW,
                holder_proof=proof,
            )
        return time.perf_counter() - start

    return body


def rotating(values: list[bytes]) -> Callable[[], bytes]:
    """A function returning the next of ``values`` each call, round-robin."""
    cycle = itertools.cycle(values)
    return cycle.__next__


def iter_documents(fixtures: Fixtures, template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Endless distinct variants of ``template`` (a new task_id each, the same holder)."""
    while True:
        yield variant(template, next(fixtures.tasks), None)


def parse_body(
    documents: Iterator[dict[str, Any]], holder_keys: HolderKeyMemo | None = None
) -> bench_common.Body:
    def body(n: int) -> float:
        batch = list(itertools.islice(documents, n))
        start = time.perf_counter()
        for document in batch:
            parse_manifest(document, holder_keys)
        return time.perf_counter() - start

    return body


def canonical_cbor2(document: object) -> bytes:
    # For documents whose map keys are all text, cbor2's canonical (length-first) order is
    # the bytewise order of RFC 8949 §4.2.1, so this is det(document), checked at set-up.
    return cbor2.dumps(document, canonical=True)


# ---------------------------------------------------------------------------------- suite


class KernelSuite:
    """The benchmarks, in the order every round runs them, and the facts the notes report."""

    def __init__(self) -> None:
        fixtures = Fixtures()
        self.small, self.realistic = small_manifest(), realistic_manifest()
        parsed_small, parsed_realistic = parsed(self.small), parsed(self.realistic)
        self.manifest_bytes = {
            "small": len(parsed_small.encoded),
            "realistic": len(parsed_realistic.encoded),
        }
        grant = granted(fixtures.authority.decide(self.small, fixtures.snapshot, NOW))
        decoded = decode_unverified(grant.token)
        self.to_be_signed = sig_structure(decoded.protected, decoded.payload)
        self.holder_message = holder_signed_bytes(grant.lease_id, os.urandom(32))
        self.hrc_message = hrc_signed_bytes(parsed_small.digest, HRC_CONFIRMED)
        self.token_bytes = len(grant.token)
        self.lease_id_inputs = (
            fixtures.authority.kid,
            fixtures.authority.policy.digest,
            parsed_small.digest,
            fixtures.snapshot.digest,
            None,
            NOW,
        )
        self.claims = grant.claims
        self.fixtures = fixtures
        self.benches = [*self.libsodium_benches(), *self.kernel_benches(), *self.step_benches()]

    def libsodium_benches(self) -> list[Bench]:
        """The floor: the libsodium calls alone, on messages of the real sizes."""
        fixtures = self.fixtures
        sign, sign_open = nacl.bindings.crypto_sign, nacl.bindings.crypto_sign_open
        is_valid_point = nacl.bindings.crypto_core_ed25519_is_valid_point
        to_be_signed, issuer_secret = self.to_be_signed, fixtures.issuer_secret
        issuer_public, holder_public = fixtures.issuer_public, fixtures.holder_public
        hrc_public, hrc_secret = nacl.bindings.crypto_sign_seed_keypair(vector_seed("hrc"))
        assert hrc_public == HRC_DEVICE.public_key
        signed_token = sign(to_be_signed, issuer_secret)
        signed_holder_message = sign(self.holder_message, fixtures.holder_secret)
        signed_hrc_message = sign(self.hrc_message, hrc_secret)
        next_holder_key = rotating(fixtures.fresh_holder_keys(RAW_KEY_POOL))

        def sign_token() -> None:
            sign(to_be_signed, issuer_secret)

        def verify_token_signature() -> None:
            sign_open(signed_token, issuer_public)

        def check_holder_key() -> None:
            is_valid_point(next_holder_key())

        def sign_token_and_check_holder_key() -> None:
            sign(to_be_signed, issuer_secret)
            is_valid_point(next_holder_key())

        def sign_token_and_verify_hrc() -> None:
            sign(to_be_signed, issuer_secret)
            sign_open(signed_hrc_message, hrc_public)

        def verify_token_and_holder_proof() -> None:
            sign_open(signed_token, issuer_public)
            sign_open(signed_holder_message, holder_public)

        tbs = f"{len(to_be_signed)}-byte Sig_structure"
        hrc = f"{len(self.hrc_message)}-byte HRC message"
        proof = f"{len(self.holder_message)}-byte holder-proof message"
        return [
            Bench("sodium.sign", f"crypto_sign, {tbs}", timed_loop(sign_token)),
            Bench("sodium.verify", f"crypto_sign_open, {tbs}", timed_loop(verify_token_signature)),
            Bench(
                "sodium.is_valid_point",
                "crypto_core_ed25519_is_valid_point, a holder key",
                timed_loop(check_holder_key),
            ),
            Bench(
                "sodium.sign+is_valid_point",
                f"crypto_sign ({tbs}) + is_valid_point (holder key)",
                timed_loop(sign_token_and_check_holder_key),
            ),
            Bench(
                "sodium.sign+verify_hrc",
                f"crypto_sign ({tbs}) + crypto_sign_open ({hrc})",
                timed_loop(sign_token_and_verify_hrc),
            ),
            Bench(
                "sodium.verify+verify_proof",
                f"crypto_sign_open ({tbs}) + crypto_sign_open ({proof})",
                timed_loop(verify_token_and_holder_proof),
            ),
        ]

    def kernel_benches(self) -> list[Bench]:
        fixtures = self.fixtures
        pool = TokenPool(fixtures)
        return [
            Bench(
                "decide.small.warm",
                "decide GRANT, small manifest, warm holder key",
                decide_body(fixtures, self.small, cold=False),
            ),
            Bench(
                "decide.small.cold",
                "decide GRANT, small manifest, cold holder key",
                decide_body(fixtures, self.small, cold=True),
            ),
            Bench(
                "decide.realistic.warm",
                "decide GRANT, realistic manifest, warm holder key",
                decide_body(fixtures, self.realistic, cold=False),
            ),
            Bench(
                "decide.realistic.cold",
                "decide GRANT, realistic manifest, cold holder key",
                decide_body(fixtures, self.realistic, cold=True),
            ),
            Bench(
                "decide.hrc",
                "decide GRANT with an HRC token (HIGH), small manifest, warm holder key",
                decide_hrc_body(fixtures),
            ),
            Bench(
                "open_token", "open_token (spec §7.3 steps 1-10)", open_token_body(fixtures, pool)
            ),
            Bench(
                "verify_token",
                "verify_token with a holder proof",
                verify_token_body(fixtures, pool),
            ),
        ]

    def step_benches(self) -> list[Bench]:
        """One decide GRANT (small manifest), step by step: the steps callable on their own."""
        fixtures, claims, to_be_signed = self.fixtures, self.claims, self.to_be_signed
        lease_id_inputs = self.lease_id_inputs

        def make_lease_id() -> None:
            lease_id_for(*lease_id_inputs)

        def mint_token() -> None:
            mint(ISSUER, claims)

        def sign_in_mint() -> None:
            ISSUER.sign(to_be_signed)

        small, realistic = self.small, self.realistic
        for document in (small, realistic):
            # The references encode the same bytes as the kernel (a check, not timed).
            assert canonical_cbor2(document) == encode(document)
        warm_keys = HolderKeyMemo()
        parse_manifest(small, warm_keys)

        return [
            Bench(
                "step.parse_manifest.small",
                "step: parse_manifest, small manifest",
                parse_body(iter_documents(fixtures, self.small)),
            ),
            Bench(
                "step.parse_manifest.realistic",
                "step: parse_manifest, realistic manifest",
                parse_body(iter_documents(fixtures, self.realistic)),
            ),
            Bench(
                "step.parse_manifest.small.memo",
                "step: parse_manifest, small manifest, holder key remembered (as decide does)",
                parse_body(iter_documents(fixtures, self.small), warm_keys),
            ),
            Bench(
                "reference.json.small",
                "reference: json.dumps(sort_keys) of the small manifest (C, no validation)",
                timed_loop(lambda: canonical_json(small)),
            ),
            Bench(
                "reference.json.realistic",
                "reference: json.dumps(sort_keys) of the realistic manifest (C, no validation)",
                timed_loop(lambda: canonical_json(realistic)),
            ),
            Bench(
                "reference.cbor2.small",
                "reference: cbor2.dumps(canonical) of the small manifest (compiled, no validation)",
                timed_loop(lambda: canonical_cbor2(small)),
            ),
            Bench(
                "reference.cbor2.realistic",
                "reference: cbor2.dumps(canonical) of the realistic manifest (compiled, no "
                "validation)",
                timed_loop(lambda: canonical_cbor2(realistic)),
            ),
            Bench(
                "step.lease_id_for", "step: lease_id_for (the lease id)", timed_loop(make_lease_id)
            ),
            Bench("step.mint", "step: token.mint (claims to signed token)", timed_loop(mint_token)),
            Bench(
                "step.sign",
                "step: Ed25519Signer.sign of the Sig_structure (inside mint)",
                timed_loop(sign_in_mint),
            ),
        ]

    def notes(self, rows: list[dict[str, Any]], rounds: int, slice_seconds: float) -> list[str]:
        median = {row["id"]: row["median"] for row in rows}
        steps = ("step.parse_manifest.small", "step.lease_id_for", "step.mint")
        step_sum = sum(median[step] for step in steps)
        return [
            f"{rounds} alternating rounds, {slice_seconds:.3f} s timed per benchmark per round; "
            "figures are medians over rounds (min and max shown).",
            "Every decide call has a new task_id. Warm: the same holder key every call. Cold: a "
            "holder key never seen before in the run, every call (made untimed from distinct "
            "seeds). The trust snapshot is passed parsed (a TrustSnapshot), as the manager does.",
            f"Encoded manifests: small {self.manifest_bytes['small']:,} bytes (minimal inputs); "
            f"realistic {self.manifest_bytes['realistic']:,} bytes (inputs with nested objects "
            f"and lists, as a Blueprint Compiler emits; spec limit "
            f"{MANIFEST_LIMITS.max_total_bytes:,}). Token {self.token_bytes} bytes, "
            f"Sig_structure {len(self.to_be_signed)}, holder-proof message "
            f"{len(self.holder_message)}, HRC message {len(self.hrc_message)}.",
            "HRC: the policy requires HRC for HIGH; each call has its own HRC token, signed "
            "untimed by the registered device 10 s before now.",
            f"open_token and verify_token go round {TOKEN_POOL:,} distinct tokens; each "
            "verify_token has a holder proof over a fresh 32-byte challenge, signed untimed.",
            "Targets: the denominators are real benchmarks of the same run, each one loop "
            "body doing the libsodium calls named in its label (messages signed beforehand).",
            "Breakdown: each step timed on its own, in the same rounds. parse_manifest is called "
            "as the public function, without the Authority's holder-key memory, so it checks the "
            "holder key every call (as a cold decide does), and with a warm memory (.memo, as a "
            "warm decide does); mint is called with its default "
            "arguments. Not callable on their own, so not timed: the window, trust and HRC "
            "checks (private helpers of decide) and building the claims and the Grant (inline "
            "in decide).",
            f"Sum of step medians (parse_manifest small + lease_id_for + mint) = "
            f"{step_sum:,.1f} us; decide GRANT small = {median['decide.small.warm']:,.1f} us "
            f"warm, {median['decide.small.cold']:,.1f} us cold.",
            "References: the same manifests serialized by the C JSON encoder (sorted keys) and "
            "by cbor2's compiled canonical encoder, which yield the kernel's bytes for these "
            "documents (asserted at set-up); neither validates anything. They bound from below "
            "what touching every node of the document costs from Python, even in compiled code.",
        ]


def kernel_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, plus two ratios without a target that explain them."""
    ratio = bench_common.ratio
    targets = []
    for case in ("small", "realistic"):
        for warmth in ("warm", "cold"):
            numerator = f"decide.{case}.{warmth}"
            targets.append(
                ratio(
                    f"{numerator}/sign",
                    f"decide GRANT ({case}, {warmth} holder key) / one crypto_sign "
                    "(holder-key check not in the denominator)",
                    rows,
                    numerator,
                    "sodium.sign",
                    target=DECIDE_TARGET,
                )
            )
        targets.append(
            ratio(
                f"decide.{case}.cold/sign+is_valid_point",
                f"decide GRANT ({case}, cold holder key) / crypto_sign + is_valid_point "
                "(holder-key check in the denominator)",
                rows,
                f"decide.{case}.cold",
                "sodium.sign+is_valid_point",
                target=DECIDE_TARGET,
            )
        )
    targets += [
        ratio(
            "decide.hrc/sign+verify",
            "decide GRANT with HRC (warm holder key) / crypto_sign + crypto_sign_open "
            "(holder-key check not in the denominator)",
            rows,
            "decide.hrc",
            "sodium.sign+verify_hrc",
            target=DECIDE_TARGET,
        ),
        ratio(
            "open_token/verify",
            "open_token / one crypto_sign_open",
            rows,
            "open_token",
            "sodium.verify",
            target=OPEN_TARGET,
        ),
        ratio(
            "verify_token/two_verifies",
            "verify_token with holder proof / two crypto_sign_open",
            rows,
            "verify_token",
            "sodium.verify+verify_proof",
            target=VERIFY_TARGET,
        ),
        ratio(
            "decide.small.cold/decide.small.warm",
            "decide GRANT small: cold holder key / warm holder key",
            rows,
            "decide.small.cold",
            "decide.small.warm",
        ),
        ratio(
            "decide.realistic.warm/decide.small.warm",
            "decide GRANT warm: realistic manifest / small manifest",
            rows,
            "decide.realistic.warm",
            "decide.small.warm",
        ),
    ]
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=32.0,
        help="timed seconds over all rounds and benchmarks (default 32; with the untimed "
        "set-up a run takes about 40 s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=bench_common.RESULTS_DIR / "kernel.json",
        help="results file (default benchmarks/results/kernel.json)",
    )
    args = parser.parse_args(argv)

    facts = bench_common.machine_facts()
    facts["src sha256"] = bench_common.source_digest()
    print("machine:", *(f"  {k}: {v}" for k, v in facts.items()), sep="\n", file=sys.stderr)
    suite = KernelSuite()
    slice_seconds = args.seconds / (args.rounds * len(suite.benches))
    print(f"{args.rounds} rounds x {len(suite.benches)} benchmarks", file=sys.stderr)
    rates = bench_common.run_rounds(suite.benches, args.rounds, slice_seconds)
    rows = bench_common.latency_rows(suite.benches, rates)
    digest_at_end = bench_common.source_digest()
    if digest_at_end != facts["src sha256"]:
        facts["warning"] = f"src/ changed during the run (src sha256 now {digest_at_end})"
    document = bench_common.results_document(
        "kernel",
        facts,
        rows,
        kernel_targets(rows),
        suite.notes(rows, args.rounds, slice_seconds),
    )
    path = bench_common.write_results(document, args.out)
    print("\n".join([*report.targets_table([document]), "", *report.suite_lines(document)]))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
