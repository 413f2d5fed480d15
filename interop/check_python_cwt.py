#!/usr/bin/env python3
"""Interop check: an independent COSE implementation (python-cwt) verifies pda-lease tokens.

Why this exists
---------------
pda-lease mints lease tokens as COSE_Sign1 (RFC 9052, tag 18) signed with Ed25519
(alg -19, RFC 9864), carrying CWT claims (RFC 8392) and a cnf claim (RFC 8747).
Our own verifier and our own minter share code and assumptions, so a bug in how we
build the Sig_structure, encode headers or lay out claims could go unnoticed by our
tests. This script re-verifies every token in the test vectors with python-cwt
(PyPI ``cwt``), written by other people, and checks that it:

* accepts every token we mint (``expected.decision == "GRANT"``), with the issuer
  key derived from ``input.authority.signing_seed``, and reads back the claims we
  meant to put in it (sub, cti, cnf, private claims -65543 and -65538);
* accepts every token our verifier calls valid (``expected.result == "VALID"``);
* also rejects every token our verifier rejects as a bad signature
  (``expected.result == "INVALID"``, ``code == "INVALID_TOKEN"``,
  ``reason == "BAD_SIGNATURE"``).

python-cwt route (read from cwt 3.3.0's source)
-----------------------------------------------
* The issuer key is ``COSEKey.new({1: 1, -1: 6, -2: x, 2: kid, 3: -19})`` with
  kid = RFC 9679 COSE Key Thumbprint of the key (python-cwt has no thumbprint
  helper; we compute SHA-256 over the fixed deterministic encoding).
* ``COSE.new(verify_kid=True).decode_with_headers(token, key)`` verifies the
  Sign1 signature for real: it demands a kid (protected or unprotected), only
  tries keys whose kid equals it, and returns (protected, unprotected, payload).
* ``cwt.decode(token, key)`` is python-cwt's CWT layer; it verifies again (same
  COSE code, verify_kid=True) and returns the claims map, unknown negative
  (private) claims included; it only checks exp/nbf when present (ours has none).
* ``cwt.Claims.new(claims)`` type-checks the registered claims (iss/sub text,
  cti bstr, cnf holding a COSE_Key map).

python-cwt gaps this script closes itself (for accepted tokens only)
--------------------------------------------------------------------
cwt 3.3.0 does NOT: reject trailing bytes after the token; require tag 18
(``cwt.decode`` returns an unsigned bare claims map, or one in tag 61, as if it
were valid; ``COSE.decode`` also accepts tag 17 "MAC0" verified with an Ed25519
key); compare the header alg with the key (alg -8, -7 or no alg all verify);
require kid in the protected header; or reject duplicate map keys, indefinite
lengths or non-deterministic encodings. So before trusting an acceptance, this
script requires exactly one CBOR item, tag 18, protected header == {1: -19,
4: kid} and unprotected header == {}. A rejection counts only if python-cwt
itself raised (both ``COSE.decode_with_headers`` and ``cwt.decode``).

Usage
-----
    python interop/check_python_cwt.py [VECTOR_DIR]    (default: specs/vectors)

Run it in the venv from interop/requirements.txt (cwt needs cbor2<6). Prints one
line per checked vector and ends with ``N passed, M failed``; exits 1 if any
check failed or if no vector was checked.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, cast

import cbor2
import cwt
from cwt import COSE, Claims, COSEKey
from cwt.cose_key_interface import COSEKeyInterface
from nacl.signing import SigningKey

ALG_ED25519 = -19  # RFC 9864, fully specified Ed25519
COSE_SIGN1_TAG = 18
# Deterministic CBOR of {1: 1, -1: 6, -2: h'<32 bytes>'} up to the x value (RFC 9679 input).
_OKP_ED25519_KEY_PREFIX = bytes.fromhex("a301012006215820")

CLAIM_SUB = 2
CLAIM_CTI = 7
CLAIM_CNF = 8
CLAIM_MANIFEST_DIGEST = -65538
CLAIM_EXPIRES_AT_NS = -65543

Json = Dict[str, Any]


class CheckFailed(Exception):
    """A vector did not check out; the message says why."""


@dataclass(frozen=True)
class Verified:
    """What python-cwt returned for a token it accepted."""

    protected: Dict[Any, Any]
    unprotected: Dict[Any, Any]
    claims: Dict[Any, Any]


def thumbprint(x: bytes) -> bytes:
    """RFC 9679 COSE Key Thumbprint (SHA-256) of an Ed25519 public key."""
    if len(x) != 32:
        raise CheckFailed(f"Ed25519 public key must be 32 bytes, got {len(x)}")
    return hashlib.sha256(_OKP_ED25519_KEY_PREFIX + x).digest()


def public_key_from_seed(seed_hex: str) -> bytes:
    """Derive the Ed25519 public key x from a hex 32-byte seed with PyNaCl."""
    seed = bytes.fromhex(seed_hex)
    if len(seed) != 32:
        raise CheckFailed(f"signing_seed must be 32 bytes, got {len(seed)}")
    return bytes(SigningKey(seed).verify_key)


def issuer_cose_key(x: bytes) -> COSEKeyInterface:
    """The issuer's public key as a python-cwt COSE key: kid = thumbprint, alg = -19."""
    return COSEKey.new({1: 1, -1: 6, -2: x, 2: thumbprint(x), 3: ALG_ED25519})


def _single_cbor_item(data: bytes) -> Any:
    """Decode exactly one CBOR data item; trailing bytes are an error (cwt ignores them)."""
    fp = io.BytesIO(data)
    item = cbor2.CBORDecoder(fp).decode()
    if fp.tell() != len(data):
        raise CheckFailed(f"{len(data) - fp.tell()} trailing byte(s) after the token")
    return item


def verify_with_python_cwt(token: bytes, issuer_x: bytes) -> Verified:
    """Verify a token with python-cwt and return its headers and claims.

    Raises CheckFailed (our own structural checks, see module docstring) or
    whatever python-cwt raises (DecodeError, VerifyError, ValueError, ...).
    """
    outer = _single_cbor_item(token)
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != COSE_SIGN1_TAG:
        raise CheckFailed("token is not a CBOR tag 18 (COSE_Sign1)")

    key = issuer_cose_key(issuer_x)
    # Signature check: Sign1 only, kid mandatory and matched against our key.
    try:
        protected, unprotected, payload = COSE.new(verify_kid=True).decode_with_headers(token, key)
    except Exception as err:  # noqa: BLE001 - report python-cwt's own reason
        raise CheckFailed(f"python-cwt rejected the token: {type(err).__name__}: {err}") from err
    expected_protected = {1: ALG_ED25519, 4: thumbprint(issuer_x)}
    if protected != expected_protected:
        raise CheckFailed(f"protected header {_show(protected)} != {_show(expected_protected)}")
    if unprotected != {}:
        raise CheckFailed(f"unprotected header is not empty: {_show(unprotected)}")

    # Claims through python-cwt's CWT layer (verifies the signature again).
    try:
        claims = cwt.decode(token, key)
    except Exception as err:  # noqa: BLE001 - report python-cwt's own reason
        raise CheckFailed(f"python-cwt CWT layer rejected the token: {type(err).__name__}: {err}") from err
    if not isinstance(claims, dict):
        raise CheckFailed(f"cwt.decode returned {type(claims).__name__}, not a claims map")
    if claims != cbor2.loads(payload):
        raise CheckFailed("cwt.decode claims differ from the verified COSE payload")
    Claims.new(cast(Dict[int, Any], claims))  # python-cwt's type checks of registered claims
    return Verified(protected=protected, unprotected=unprotected, claims=claims)


def python_cwt_rejection(token: bytes, issuer_x: bytes) -> Optional[str]:
    """Return why python-cwt rejects the token, or None if either entry point accepts it."""
    key = issuer_cose_key(issuer_x)
    reasons: List[str] = []
    entry_points: List[Tuple[str, Callable[[], object]]] = [
        ("COSE.decode_with_headers", lambda: COSE.new(verify_kid=True).decode_with_headers(token, key)),
        ("cwt.decode", lambda: cwt.decode(token, key)),
    ]
    for name, call in entry_points:
        try:
            call()
        except Exception as err:  # noqa: BLE001 - any python-cwt error is a rejection
            reasons.append(f"{name}: {type(err).__name__}: {err}")
        else:
            return None
    return "; ".join(reasons)


def _field(obj: Mapping[str, Any], *path: str) -> Any:
    """obj[path[0]][path[1]]...; a missing field is a CheckFailed naming the path."""
    cur: Any = obj
    for i, name in enumerate(path):
        if not isinstance(cur, Mapping) or name not in cur:
            raise CheckFailed(f"vector has no {'.'.join(path[: i + 1])}")
        cur = cur[name]
    return cur


def _show(value: Any) -> str:
    """repr() with byte strings shown as h'hex', for readable failure lines."""
    if isinstance(value, bytes):
        return f"h'{value.hex()}'"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_show(k)}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def _expect(label: str, got: Any, want: Any) -> None:
    if type(got) is not type(want) or got != want:
        raise CheckFailed(f"{label}: python-cwt decoded {_show(got)}, expected {_show(want)}")


def check_grant(vector: Json) -> str:
    """A minted token: verify with the authority key and compare the decoded claims."""
    token = bytes.fromhex(_field(vector, "expected", "token"))
    issuer_x = public_key_from_seed(_field(vector, "input", "authority", "signing_seed"))
    claims = verify_with_python_cwt(token, issuer_x).claims

    _expect("sub", claims.get(CLAIM_SUB), _field(vector, "input", "manifest", "task_id"))
    cti = claims.get(CLAIM_CTI)
    if not isinstance(cti, bytes):
        raise CheckFailed(f"cti is {type(cti).__name__}, not a byte string")
    _expect("cti (lease_id)", cti.hex(), str(_field(vector, "expected", "lease_id")).lower())

    cnf = claims.get(CLAIM_CNF)
    cnf_key = cnf.get(1) if isinstance(cnf, dict) else None
    if not isinstance(cnf_key, dict):
        raise CheckFailed(f"cnf claim has no COSE_Key: {_show(cnf)}")
    COSEKey.new(dict(cnf_key))  # python-cwt must accept it as a key
    _expect("cnf COSE_Key kty", cnf_key.get(1), 1)
    _expect("cnf COSE_Key crv", cnf_key.get(-1), 6)
    holder_x = bytes.fromhex(_field(vector, "input", "manifest", "holder", "public_key"))
    _expect("cnf COSE_Key x", cnf_key.get(-2), holder_x)

    _expect("-65543 expires_at_ns", claims.get(CLAIM_EXPIRES_AT_NS), _field(vector, "expected", "expires_at_ns"))
    digest = claims.get(CLAIM_MANIFEST_DIGEST)
    if not isinstance(digest, bytes):
        raise CheckFailed(f"-65538 manifest digest is {type(digest).__name__}, not a byte string")
    _expect("-65538 manifest_digest", digest.hex(), str(_field(vector, "expected", "manifest_digest")).lower())
    return f"verified, sub={claims[CLAIM_SUB]!r} cti={cti.hex()}"


CLAIM_PARENT = -65548


def check_sublease_grant(vector: Json) -> str:
    """A sub-lease (spec §14.8): verify with the authority key; holder, chain and expiry."""
    token = bytes.fromhex(_field(vector, "expected", "token"))
    issuer_x = public_key_from_seed(_field(vector, "input", "authority", "signing_seed"))
    claims = verify_with_python_cwt(token, issuer_x).claims
    cti = claims.get(CLAIM_CTI)
    if not isinstance(cti, bytes):
        raise CheckFailed(f"cti is {type(cti).__name__}, not a byte string")
    _expect("cti (lease_id)", cti.hex(), str(_field(vector, "expected", "lease_id")).lower())
    cnf = claims.get(CLAIM_CNF)
    cnf_key = cnf.get(1) if isinstance(cnf, dict) else None
    if not isinstance(cnf_key, dict):
        raise CheckFailed(f"cnf claim has no COSE_Key: {_show(cnf)}")
    holder_x = bytes.fromhex(_field(vector, "input", "holder_public_key"))
    _expect("cnf COSE_Key x", cnf_key.get(-2), holder_x)
    _expect("-65543 expires_at_ns", claims.get(CLAIM_EXPIRES_AT_NS), _field(vector, "expected", "expires_at_ns"))
    parent = claims.get(CLAIM_PARENT)
    if not isinstance(parent, dict):
        raise CheckFailed(f"-65548 parent claim is {_show(parent)}")
    parent_token = bytes.fromhex(_field(vector, "input", "parent_token"))
    parent_claims = verify_with_python_cwt(parent_token, issuer_x).claims
    _expect("parent lease_id", parent.get("lease_id"), parent_claims.get(CLAIM_CTI))
    _expect("parent tool", parent.get("tool"), _field(vector, "input", "tool"))
    _expect("parent calls", parent.get("calls"), _field(vector, "input", "calls"))
    return f"verified sub-lease cti={cti.hex()} of {parent_claims[CLAIM_CTI].hex()}"


def check_valid(vector: Json) -> str:
    """A verification vector our verifier accepts: python-cwt must accept it too."""
    token = bytes.fromhex(_field(vector, "input", "token"))
    issuer_x = bytes.fromhex(_field(vector, "input", "issuer_public_key"))
    verify_with_python_cwt(token, issuer_x)
    return "verified"


def check_bad_signature(vector: Json) -> str:
    """A token our verifier rejects as BAD_SIGNATURE: python-cwt must reject it too."""
    token = bytes.fromhex(_field(vector, "input", "token"))
    issuer_x = bytes.fromhex(_field(vector, "input", "issuer_public_key"))
    why = python_cwt_rejection(token, issuer_x)
    if why is None:
        raise CheckFailed("python-cwt ACCEPTED a token we reject as BAD_SIGNATURE")
    return f"rejected ({why})"


def classify(vector: Json) -> Optional[Tuple[str, Callable[[Json], str]]]:
    """Which check applies to a vector, or None if it is not one we check."""
    expected = vector.get("expected")
    if not isinstance(expected, dict):
        return None
    if expected.get("decision") == "GRANT" and vector.get("kind") == "sublease":
        return "SUBLEASE", check_sublease_grant
    if expected.get("decision") == "GRANT":
        return "GRANT", check_grant
    if expected.get("result") == "VALID":
        return "VALID", check_valid
    if (
        expected.get("result") == "INVALID"
        and expected.get("code") == "INVALID_TOKEN"
        and expected.get("reason") == "BAD_SIGNATURE"
    ):
        return "BAD_SIGNATURE", check_bad_signature
    return None


def run(vector_dir: Path) -> Tuple[int, int, int]:
    """Check every vector file in vector_dir; return (passed, failed, skipped)."""
    passed = failed = skipped = 0
    for path in sorted(vector_dir.glob("*.json")):
        try:
            vector = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(vector, dict):
                raise CheckFailed("vector file is not a JSON object")
        except Exception as err:  # noqa: BLE001 - an unreadable vector file is a failure
            failed += 1
            print(f"FAIL {path.name} [unreadable]: {type(err).__name__}: {err}")
            continue
        kind = classify(vector)
        if kind is None:
            skipped += 1
            continue
        label, check = kind
        vid = vector.get("id", path.stem)
        try:
            detail = check(vector)
        except Exception as err:  # noqa: BLE001 - python-cwt parse errors count as failures
            failed += 1
            print(f"FAIL {vid} [{label}]: {type(err).__name__}: {err}")
        else:
            passed += 1
            print(f"PASS {vid} [{label}]: {detail}")
    return passed, failed, skipped


def main(argv: List[str]) -> int:
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__)
        return 2
    default_dir = Path(__file__).resolve().parent.parent / "specs" / "vectors"
    vector_dir = Path(argv[1]) if len(argv) == 2 else default_dir
    if not vector_dir.is_dir():
        print(f"error: {vector_dir} is not a directory", file=sys.stderr)
        print("0 passed, 0 failed")
        return 1
    passed, failed, skipped = run(vector_dir)
    if skipped:
        print(f"skipped {skipped} vector(s) with nothing to check against python-cwt")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed + failed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
