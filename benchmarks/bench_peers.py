"""pda-lease beside the token libraries a user might pick instead: minting and verifying.

Why this exists
---------------
pda-lease claims to mint and verify its lease tokens faster than the general token libraries
a user could use for the same job. This script measures that claim in one process, with the
same claims, the same Ed25519 key and the same timing loop for everyone (``bench_common``:
alternating rounds, median with min and max), next to the floor no library can beat: one
libsodium ``crypto_sign`` / ``crypto_sign_open`` over a message the size of our Sig_structure.
The same sign and verify with OpenSSL (through ``cryptography``, which all four peers use) is
shown too, because a peer's figures are mostly its backend's: the notes give each library's
time above its own signature primitive.

What is measured (µs per operation)
-----------------------------------
* pda-lease: ``mint(ISSUER, claims)`` and ``open_token`` (decode, strict deterministic-CBOR
  checks, signature, typed claims), plus ``verify_token`` with a holder proof, which does more
  (binding checks and a second Ed25519 verify) and is shown apart.
* python-cwt (COSE_Sign1, alg Ed25519 -19): ``cwt.encode`` / ``cwt.decode``.
* pycose (COSE_Sign1, alg EdDSA -8: pycose 1.1.0 does not know -19): a ``Sign1Message`` over
  the claims map encoded with ``cbor2.dumps``; verify = ``Sign1Message.decode``, alg and kid
  checks, ``verify_signature``, ``cbor2.loads`` of the payload.
* PyJWT (EdDSA): ``jwt.encode`` / ``jwt.decode(..., algorithms=["EdDSA"])``, JSON claims.
* pyseto (PASETO v4.public): ``pyseto.encode`` / ``pyseto.decode(..., deserializer=json)``.

Every peer carries the claim set of ``LeaseClaims``: the CBOR peers its ``to_cbor()`` map
(integer keys, private negative claims, ``cnf``), the JSON peers its ``to_json()`` view (hex
for bytes). Keys and key objects are built once, outside the timed loop, for every library.
pda-lease's mint starts from its typed ``LeaseClaims`` (so it pays ``to_cbor()``); the peers
start from the ready claims dict. No peer is given a wall-clock ``exp``: our expiry is in the
private monotonic claims. python-cwt is the exception it cannot help: ``cwt.encode`` always adds
``exp``, ``nbf`` and ``iat`` (now + 3600 s, now, now) and ``cwt.decode`` checks them, so its
tokens carry those three claims more. Before timing, the script checks that every verify
returns the claims that were minted and rejects a token with one flipped signature byte.

How to run
----------
python-cwt and pycose need ``cbor2<6``, so this runs in its own virtual environment, from the
repository root::

    python3.11 -m venv .venv-bench
    .venv-bench/bin/pip install -r benchmarks/requirements-peers.txt
    .venv-bench/bin/pip install --no-deps -e .
    .venv-bench/bin/python benchmarks/bench_peers.py [--rounds 7] [--seconds 30] [--out PATH]

It prints a table and writes ``benchmarks/results/peers.json`` (``bench_common`` format).
"""

from __future__ import annotations

import argparse
import base64
import importlib
import importlib.metadata
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.bindings
from bench_common import (
    RESULTS_DIR,
    Bench,
    latency_rows,
    machine_facts,
    measurement,
    ratio,
    results_document,
    run_rounds,
    source_digest,
    timed_loop,
    write_results,
)

from pda_lease import (
    Authority,
    Grant,
    LeaseClaims,
    LeasePolicy,
    decode_unverified,
    open_token,
    parse_trust_snapshot,
    sign_holder_proof,
    verify_token,
)
from pda_lease.conformance import (
    CHALLENGE,
    EPOCH,
    HOLDER,
    ISSUER,
    SECOND,
    base_manifest,
    base_policy,
    base_snapshot,
    vector_seed,
)
from pda_lease.kernel.crypto import SIGNATURE_BYTES, cose_key_thumbprint
from pda_lease.kernel.inputs import MonotonicTime
from pda_lease.kernel.token import mint, sig_structure

try:
    import cbor2
    import cwt
    import jwt
    import pyseto
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from pycose.algorithms import EdDSA
    from pycose.headers import KID, Algorithm
    from pycose.keys.curves import Ed25519
    from pycose.keys.okp import OKPKey
    from pycose.messages.sign1message import Sign1Message
except ImportError as missing:
    raise SystemExit(
        f"bench_peers needs the peers' virtual environment ({missing.name} is not installed):\n"
        "  python3.11 -m venv .venv-bench\n"
        "  .venv-bench/bin/pip install -r benchmarks/requirements-peers.txt\n"
        "  .venv-bench/bin/pip install --no-deps -e .\n"
        "  .venv-bench/bin/python benchmarks/bench_peers.py"
    ) from None

Token = bytes | str
# The claim keys python-cwt's encode adds on its own: exp, nbf, iat (RFC 8392).
CWT_DEFAULT_CLAIMS = (4, 5, 6)
PASETO_V4_PUBLIC = "v4.public."
DISTRIBUTIONS = (
    "pda-lease",
    "cwt",
    "pycose",
    "PyJWT",
    "pyseto",
    "cryptography",
    "cbor2",
    "PyNaCl",
    "attrs",
)


class Peer:
    """One library's mint and verify, with what its verify must return."""

    __slots__ = ("check", "label", "mint", "name", "tamper", "verify")

    def __init__(
        self,
        name: str,
        label: str,
        mint: Callable[[], Token],
        verify: Callable[[Token], object],
        check: Callable[[object], bool],
        tamper: Callable[[Token], Token],
    ) -> None:
        self.name = name
        self.label = label
        self.mint = mint
        self.verify = verify
        self.check = check
        self.tamper = tamper


# ------------------------------------------------------------------------ tampering ---


def _flip(data: bytes, index: int) -> bytes:
    """``data`` with the lowest bit of byte ``index`` flipped."""
    changed = bytearray(data)
    changed[index] ^= 1
    return bytes(changed)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _as_bytes(token: Token) -> bytes:
    return token.encode("ascii") if isinstance(token, str) else token


def flip_cose_signature(token: Token) -> Token:
    """A COSE_Sign1 ends with its 64-byte signature: flip the signature's first byte."""
    data = _as_bytes(token)
    return _flip(data, len(data) - SIGNATURE_BYTES)


def flip_jwt_signature(token: Token) -> Token:
    """A JWS compact token ends with the base64url signature: flip its first byte."""
    text = token.decode("ascii") if isinstance(token, bytes) else token
    header, payload, signature = text.split(".")
    return ".".join((header, payload, _b64url_encode(_flip(_b64url_decode(signature), 0))))


def flip_paseto_signature(token: Token) -> Token:
    """v4.public.base64url(message || signature), no footer: flip the signature's first byte."""
    text = token.decode("ascii") if isinstance(token, bytes) else token
    if not text.startswith(PASETO_V4_PUBLIC) or text.count(".") != 2:
        raise ValueError("not a footer-less v4.public token")
    body = _b64url_decode(text[len(PASETO_V4_PUBLIC) :])
    flipped = _flip(body, len(body) - SIGNATURE_BYTES)
    return (PASETO_V4_PUBLIC + _b64url_encode(flipped)).encode("ascii")


# ---------------------------------------------------------------------------- peers ---


def lease_claims() -> LeaseClaims:
    """The claims of the conformance fixtures' base grant, from pda-lease's own kernel."""
    decision = Authority(ISSUER, LeasePolicy.from_json(base_policy())).decide(
        base_manifest(),
        parse_trust_snapshot(base_snapshot()),
        MonotonicTime(EPOCH, 100 * SECOND),
    )
    if not isinstance(decision, Grant):
        raise SystemExit(f"the base fixtures did not grant a lease: {decision!r}")
    return decision.claims


def pda_peer(claims: LeaseClaims) -> Peer:
    public_key = ISSUER.public_key

    def pda_mint() -> Token:
        return mint(ISSUER, claims)

    def pda_open(token: Token) -> object:
        return open_token(_as_bytes(token), issuer_public_key=public_key)

    return Peer(
        "pda",
        "pda-lease",
        pda_mint,
        pda_open,
        lambda opened: opened == claims,
        flip_cose_signature,
    )


def cwt_peer(claims: LeaseClaims, seed: bytes, kid: bytes) -> Peer:
    """python-cwt: COSE_Sign1, alg -19, kid = our RFC 9679 thumbprint (verify_kid is on)."""
    x = ISSUER.public_key
    private_key = cwt.COSEKey.new({1: 1, -1: 6, -2: x, -4: seed, 2: kid, 3: -19})
    public_key = cwt.COSEKey.new({1: 1, -1: 6, -2: x, 2: kid, 3: -19})
    claim_map = claims.to_cbor()

    def cwt_mint() -> Token:
        # cwt.encode writes exp, nbf and iat into the dict it is given: hand it a fresh one.
        token: bytes = cwt.encode(dict(claim_map), private_key)
        return token

    def cwt_verify(token: Token) -> object:
        decoded: object = cwt.decode(_as_bytes(token), public_key)
        return decoded

    def cwt_check(decoded: object) -> bool:
        if not isinstance(decoded, dict) or not all(
            type(decoded.get(key)) is int for key in CWT_DEFAULT_CLAIMS
        ):
            return False
        rest = {key: value for key, value in decoded.items() if key not in CWT_DEFAULT_CLAIMS}
        return rest == claim_map

    return Peer("cwt", "python-cwt", cwt_mint, cwt_verify, cwt_check, flip_cose_signature)


def pycose_peer(claims: LeaseClaims, seed: bytes, kid: bytes) -> Peer:
    """pycose: COSE_Sign1 with EdDSA (-8); the payload is ``cbor2.dumps`` of the claims map."""
    x = ISSUER.public_key
    private_key = OKPKey(crv=Ed25519, x=x, d=seed)
    public_key = OKPKey(crv=Ed25519, x=x)
    claim_map = claims.to_cbor()

    def pycose_mint() -> Token:
        message = Sign1Message(
            phdr={Algorithm: EdDSA, KID: kid}, payload=cbor2.dumps(claim_map), key=private_key
        )
        token: bytes = message.encode()
        return token

    def pycose_verify(token: Token) -> object:
        message = Sign1Message.decode(_as_bytes(token))
        if message.phdr.get(Algorithm) is not EdDSA or message.phdr.get(KID) != kid:
            raise ValueError("unexpected protected header")
        message.key = public_key
        if not message.verify_signature():
            raise ValueError("bad signature")
        if message.payload is None:
            raise ValueError("no payload")
        decoded: object = cbor2.loads(message.payload)
        return decoded

    return Peer(
        "pycose",
        "pycose",
        pycose_mint,
        pycose_verify,
        lambda decoded: decoded == claim_map,
        flip_cose_signature,
    )


def pyjwt_peer(claims: LeaseClaims, seed: bytes) -> Peer:
    """PyJWT: EdDSA over Ed25519 key objects from ``cryptography``; JSON claims."""
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    public_key = private_key.public_key()
    claim_json = claims.to_json()

    def pyjwt_mint() -> Token:
        token: str = jwt.encode(claim_json, private_key, algorithm="EdDSA")
        return token

    def pyjwt_verify(token: Token) -> object:
        decoded: object = jwt.decode(token, public_key, algorithms=["EdDSA"])
        return decoded

    return Peer(
        "pyjwt",
        "PyJWT",
        pyjwt_mint,
        pyjwt_verify,
        lambda decoded: decoded == claim_json,
        flip_jwt_signature,
    )


def pyseto_peer(claims: LeaseClaims, seed: bytes) -> Peer:
    """pyseto: PASETO v4.public; keys from PEM (pyseto's documented way in); JSON claims."""
    signing_key = Ed25519PrivateKey.from_private_bytes(seed)
    private_pem = signing_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_key = pyseto.Key.new(version=4, purpose="public", key=private_pem)
    public_key = pyseto.Key.new(version=4, purpose="public", key=public_pem)
    claim_json = claims.to_json()

    def pyseto_mint() -> Token:
        token: bytes = pyseto.encode(private_key, claim_json)
        return token

    def pyseto_verify(token: Token) -> object:
        decoded: object = pyseto.decode(public_key, token, deserializer=json).payload
        return decoded

    return Peer(
        "pyseto",
        "pyseto",
        pyseto_mint,
        pyseto_verify,
        lambda decoded: decoded == claim_json,
        flip_paseto_signature,
    )


# ----------------------------------------------------------------------- start-up checks ---


def check_peer(peer: Peer) -> Token:
    """Mint once; the verify returns the claims and rejects a flipped signature byte."""
    token = peer.mint()
    if not peer.check(peer.verify(token)):
        raise SystemExit(f"{peer.label}: verify did not return the claims that were minted")
    tampered = peer.tamper(token)
    if tampered == token:
        raise SystemExit(f"{peer.label}: tampering left the token unchanged")
    try:
        peer.verify(tampered)
    except Exception:  # any refusal is a refusal; we only need one
        return token
    raise SystemExit(f"{peer.label}: verify accepted a token with a flipped signature byte")


def check_same_key(seed: bytes) -> None:
    """Every library signs with the issuer's seed: cryptography derives the same public key."""
    derived = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    raw = derived.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if raw != ISSUER.public_key:
        raise SystemExit("cryptography and libsodium derive different keys from the seed")


# -------------------------------------------------------------------------------- facts ---


def versions() -> dict[str, str]:
    """Installed versions of every library in the race, and the C libraries under them."""
    found: dict[str, str] = {}
    for distribution in DISTRIBUTIONS:
        try:
            found[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            found[distribution] = "not installed"
    try:
        openssl = importlib.import_module("cryptography.hazmat.backends.openssl")
        found["OpenSSL (cryptography)"] = str(openssl.backend.openssl_version_text())
    except (ImportError, AttributeError):
        pass
    return found


def token_size(token: Token) -> int:
    return len(_as_bytes(token))


def print_table(rows: list[dict[str, Any]], targets: list[dict[str, Any]]) -> None:
    print(f"\n{'id':<22} {'what':<60} {'median':>8} {'min':>8} {'max':>8}  unit")
    for row in rows:
        print(
            f"{row['id']:<22} {row['label']:<60} {row['median']:>8.1f} {row['min']:>8.1f} "
            f"{row['max']:>8.1f}  {row['unit']}"
        )
    print(f"\n{'ratio':<40} {'value':>7}  {'target':<8} met")
    for target in targets:
        goal = "" if target["target"] is None else f"{target['goal']} {target['target']:g}"
        met = {True: "yes", False: "NO", None: "-"}[target["met"]]
        print(f"{target['id']:<40} {target['value']:>6.2f}x  {goal:<8} {met}")


# --------------------------------------------------------------------------------- main ---


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (7)")
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="total timed budget in seconds (30)"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "peers.json", help="results file to write"
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds is at least 1 and --seconds positive")

    facts = machine_facts()
    facts["src sha256"] = source_digest()
    seed = vector_seed("issuer")
    kid = cose_key_thumbprint(ISSUER.public_key)
    claims = lease_claims()
    check_same_key(seed)
    peers = [
        pda_peer(claims),
        cwt_peer(claims, seed, kid),
        pycose_peer(claims, seed, kid),
        pyjwt_peer(claims, seed),
        pyseto_peer(claims, seed),
    ]
    tokens = {peer.name: check_peer(peer) for peer in peers}

    # pda-lease's executor gate: open plus task, manifest, time, revocation and holder proof.
    pda_token = _as_bytes(tokens["pda"])
    proof = sign_holder_proof(HOLDER, claims.lease_id, CHALLENGE)
    now = MonotonicTime(claims.clock_epoch, claims.issued_at_ns)

    def pda_verify_with_proof() -> object:
        return verify_token(
            pda_token,
            issuer_public_key=ISSUER.public_key,
            task_id=claims.task_id,
            manifest_digest=claims.manifest_digest,
            now=now,
            holder_proof=proof,
        )

    if getattr(pda_verify_with_proof(), "claims", None) != claims:
        raise SystemExit("verify_token did not return the claims that were minted")

    # The floor: libsodium over a message the size of our Sig_structure (it is that message).
    decoded = decode_unverified(pda_token)
    message = sig_structure(decoded.protected, decoded.payload)
    public_key, secret_key = nacl.bindings.crypto_sign_seed_keypair(seed)
    signed = nacl.bindings.crypto_sign(message, secret_key)
    if nacl.bindings.crypto_sign_open(signed, public_key) != message:
        raise SystemExit("libsodium did not verify its own signature")
    try:
        nacl.bindings.crypto_sign_open(_flip(signed, 0), public_key)
    except Exception:  # any refusal is a refusal
        pass
    else:
        raise SystemExit("libsodium accepted a flipped signature byte")

    # The peers' own floor: all four sign and verify with OpenSSL through ``cryptography``.
    openssl_key = Ed25519PrivateKey.from_private_bytes(seed)
    openssl_public = openssl_key.public_key()
    openssl_signature = openssl_key.sign(message)
    if openssl_signature != signed[:SIGNATURE_BYTES]:
        raise SystemExit("OpenSSL and libsodium made different Ed25519 signatures")
    openssl_public.verify(openssl_signature, message)
    try:
        openssl_public.verify(_flip(openssl_signature, 0), message)
    except Exception:  # any refusal is a refusal
        pass
    else:
        raise SystemExit("OpenSSL accepted a flipped signature byte")

    def openssl_sign() -> object:
        return openssl_key.sign(message)

    def openssl_verify() -> object:
        openssl_public.verify(openssl_signature, message)
        return None

    def sodium_sign() -> object:
        return nacl.bindings.crypto_sign(message, secret_key)

    def sodium_verify() -> object:
        return nacl.bindings.crypto_sign_open(signed, public_key)

    by_name = {peer.name: peer for peer in peers}
    others = [peer for peer in peers if peer.name != "pda"]
    what = {
        "pda": "pda-lease",
        "cwt": "python-cwt, COSE_Sign1 Ed25519 (-19)",
        "pycose": "pycose, COSE_Sign1 EdDSA (-8)",
        "pyjwt": "PyJWT, JWS EdDSA",
        "pyseto": "pyseto, PASETO v4.public",
    }
    benches = [
        Bench("pda_mint", "pda-lease mint()", timed_loop(by_name["pda"].mint)),
        Bench("sodium_sign", "libsodium crypto_sign (floor)", timed_loop(sodium_sign)),
        Bench(
            "openssl_sign", "OpenSSL Ed25519 sign (the peers' backend)", timed_loop(openssl_sign)
        ),
        *(
            Bench(f"{peer.name}_mint", f"{what[peer.name]}: mint", timed_loop(peer.mint))
            for peer in others
        ),
        Bench(
            "pda_open",
            "pda-lease open_token() (decode, checks, signature, claims)",
            timed_loop(_bound(by_name["pda"].verify, pda_token)),
        ),
        Bench(
            "pda_verify_with_proof",
            "pda-lease verify_token() + holder proof (does more: 2 sigs)",
            timed_loop(pda_verify_with_proof),
        ),
        Bench("sodium_verify", "libsodium crypto_sign_open (floor)", timed_loop(sodium_verify)),
        Bench(
            "openssl_verify",
            "OpenSSL Ed25519 verify (the peers' backend)",
            timed_loop(openssl_verify),
        ),
        *(
            Bench(
                f"{peer.name}_verify",
                f"{what[peer.name]}: decode and verify",
                timed_loop(_bound(peer.verify, tokens[peer.name])),
            )
            for peer in others
        ),
    ]
    for bench in benches:
        bench.chunk = 50
    slice_seconds = args.seconds / (args.rounds * len(benches))
    print(
        f"{len(benches)} benchmarks, {args.rounds} rounds, {slice_seconds * 1000:.0f} ms each "
        f"per round (about {args.seconds:.0f} s timed)",
        file=sys.stderr,
    )
    rates = run_rounds(benches, args.rounds, slice_seconds)
    rows = latency_rows(benches, rates)
    digest_at_end = source_digest()
    if digest_at_end != facts["src sha256"]:
        facts["warning"] = f"src/ changed during the run (src sha256 now {digest_at_end})"
        print(f"warning: {facts['warning']}", file=sys.stderr)

    sizes = {peer.name: token_size(tokens[peer.name]) for peer in peers}
    size_rows = [
        measurement(f"{name}_token_size", f"{what[name]}: token size", [size], "bytes")
        for name, size in sizes.items()
    ]
    size_rows.append(
        measurement(
            "sodium_message_size", "Sig_structure signed by the floor", [len(message)], "bytes"
        )
    )

    targets = [
        *(
            ratio(
                f"pda_mint_vs_{peer.name}_mint",
                f"pda-lease mint / {peer.label} mint (faster than every peer)",
                rows,
                "pda_mint",
                f"{peer.name}_mint",
                target=1.0,
            )
            for peer in others
        ),
        *(
            ratio(
                f"pda_open_vs_{peer.name}_verify",
                f"pda-lease open_token / {peer.label} verify (faster than every peer)",
                rows,
                "pda_open",
                f"{peer.name}_verify",
                target=1.0,
            )
            for peer in others
        ),
        *(
            ratio(
                f"{peer.name}_mint_vs_sodium_sign",
                f"{peer.label} mint / libsodium sign (informational)",
                rows,
                f"{peer.name}_mint",
                "sodium_sign",
            )
            for peer in peers
        ),
        ratio(
            "openssl_sign_vs_sodium_sign",
            "OpenSSL sign / libsodium sign (informational)",
            rows,
            "openssl_sign",
            "sodium_sign",
        ),
        *(
            ratio(
                f"{name}_vs_sodium_verify",
                f"{label} / libsodium verify (informational)",
                rows,
                name,
                "sodium_verify",
            )
            for name, label in [
                ("pda_open", "pda-lease open_token"),
                ("pda_verify_with_proof", "pda-lease verify_token + holder proof"),
                ("openssl_verify", "OpenSSL verify"),
                *((f"{peer.name}_verify", f"{peer.label} verify") for peer in others),
            ]
        ),
    ]

    found = versions()
    median = {row["id"]: float(row["median"]) for row in rows}
    notes = [
        "versions: " + ", ".join(f"{name} {version}" for name, version in found.items()),
        "same claims: CBOR peers carry LeaseClaims.to_cbor() (integer keys, private claims, "
        "cnf), JSON peers LeaseClaims.to_json() (hex for bytes); one Ed25519 seed "
        "(vector_seed('issuer')) for all; keys built once outside the timed loop",
        "python-cwt: alg -19 (Ed25519), kid = RFC 9679 thumbprint, cwt.decode with "
        "verify_kid; cwt.encode always adds exp/nbf/iat (now+3600 s, now, now), so its token "
        "carries 3 claims more and cwt.decode checks them against the wall clock",
        "pycose 1.1.0 knows only EdDSA (-8), not Ed25519 (-19): its tokens use -8 and it "
        "cannot verify pda-lease tokens; its verify checks alg and kid, then verify_signature",
        "PyJWT: algorithms=['EdDSA']; pyseto: v4.public, no footer, no implicit assertion; "
        "neither gets a wall-clock exp (the lease's expiry is in monotonic private claims)",
        "pda-lease mint starts from the typed LeaseClaims (pays to_cbor()); peers start from "
        "the ready claims dict (python-cwt from a fresh shallow copy: cwt.encode mutates it)",
        "pda_verify_with_proof does more than any peer: binding checks and a second Ed25519 "
        "verify (the holder proof); it is not in the targets",
        "floor: libsodium crypto_sign / crypto_sign_open (PyNaCl bindings) over the "
        f"{len(message)}-byte Sig_structure of the pda-lease token",
        "above the library's own signature primitive (median us/op minus the median of "
        "libsodium for pda-lease, of OpenSSL for the peers): "
        + ", ".join(
            f"{row_id} +{median[row_id] - median[floor]:.1f}"
            for row_id, floor in [
                ("pda_mint", "sodium_sign"),
                ("pda_open", "sodium_verify"),
                *((f"{peer.name}_mint", "openssl_sign") for peer in others),
                *((f"{peer.name}_verify", "openssl_verify") for peer in others),
            ]
        ),
        "token sizes (bytes): " + ", ".join(f"{name} {size}" for name, size in sizes.items()),
    ]
    all_rows = rows + size_rows
    print_table(all_rows, targets)
    print()
    for note in notes:
        print(f"note: {note}")
    path = write_results(
        results_document("peers", facts, all_rows, targets, notes), args.out.resolve()
    )
    print(f"wrote {path}")
    return 0


def _bound(verify: Callable[[Token], object], token: Token) -> Callable[[], object]:
    """``verify`` of one fixed token, as a no-argument operation."""
    return lambda: verify(token)


if __name__ == "__main__":
    sys.exit(main())
