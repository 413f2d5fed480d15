"""Ed25519 through libsodium (PyNaCl bindings), and the key identifiers of spec §6.2.

Signing goes through a ``Signer`` (python-tuf style): the kernel asks for a signature over one
canonical byte string and never sees how the key is stored. ``Ed25519Signer`` is the in-memory
signer built from a 32-byte seed. Verification returns a bool here only because it is private
to the kernel; every public verification path turns ``False`` into a DENY or an exception.
"""

from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

import nacl.bindings
import nacl.exceptions

from pda_lease.kernel.errors import UsageError

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
SEED_BYTES = 32

# det({1: 1, -1: 6, -2: x}) = a3 01 01 20 06 21 58 20 || x  (spec §6.2)
_COSE_KEY_PREFIX = bytes.fromhex("a301012006215820")


@runtime_checkable
class Signer(Protocol):
    """Something that signs with an Ed25519 key (RFC 8032, deterministic)."""

    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class Ed25519Signer:
    """An Ed25519 signer holding its 32-byte seed in memory."""

    __slots__ = ("_public_key", "_secret_key")

    def __init__(self, seed: bytes) -> None:
        if type(seed) is not bytes or len(seed) != SEED_BYTES:
            raise UsageError("an Ed25519 seed is exactly 32 bytes")
        self._public_key, self._secret_key = nacl.bindings.crypto_sign_seed_keypair(seed)

    @property
    def public_key(self) -> bytes:
        return bytes(self._public_key)

    def sign(self, message: bytes) -> bytes:
        signed = nacl.bindings.crypto_sign(message, self._secret_key)
        return bytes(signed[:SIGNATURE_BYTES])

    def __repr__(self) -> str:  # never show the seed
        return f"Ed25519Signer(public_key={self._public_key.hex()})"


def public_key_from_seed(seed: bytes) -> bytes:
    return Ed25519Signer(seed).public_key


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """libsodium ``crypto_sign_open``: rejects non-canonical S and small-order keys."""
    if len(signature) != SIGNATURE_BYTES or len(public_key) != PUBLIC_KEY_BYTES:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


def is_valid_public_key(public_key: bytes) -> bool:
    """A canonical Ed25519 point in the prime-order subgroup, not of small order (§3.1)."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        return False
    return bool(nacl.bindings.crypto_core_ed25519_is_valid_point(public_key))


def cose_key_thumbprint(public_key: bytes) -> bytes:
    """RFC 9679 COSE Key Thumbprint of an Ed25519 public key (spec §6.2)."""
    if type(public_key) is not bytes or len(public_key) != PUBLIC_KEY_BYTES:
        raise UsageError("an Ed25519 public key is exactly 32 bytes")
    return hashlib.sha256(_COSE_KEY_PREFIX + public_key).digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
