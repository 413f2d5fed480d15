"""The policy store (spec §13.3): trusted policy keys, the staged bundle and the active one.

It lives in ``<state>/policy/``: ``trusted_keys.json`` (the policy public keys, hex),
``staged.bundle`` and ``active.bundle`` (signed bundles exactly as received). Every read
verifies the bundle again against the trusted keys, so a file changed on disk, or a bundle
whose key is no longer trusted, is refused instead of governing (fail closed). Activation
refuses rollback: the staged version must be strictly higher than the active one.
Writes replace files atomically and durably (temporary file, fsync, rename, fsync folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pda_lease.adapters.errors import StateError, StateFailure
from pda_lease.adapters.files import replace_durably
from pda_lease.governance.bundle import (
    MAX_BUNDLE_BYTES,
    BundleError,
    BundleFailure,
    VerifiedBundle,
    verify_bundle,
)
from pda_lease.kernel.crypto import is_valid_public_key
from pda_lease.kernel.errors import UsageError

TRUSTED_KEYS_FILE = "trusted_keys.json"
STAGED_FILE = "staged.bundle"
ACTIVE_FILE = "active.bundle"
MAX_TRUSTED_KEYS = 64


def _unavailable(detail: str) -> StateError:
    return StateError(StateFailure.STORE_UNAVAILABLE, detail)


class PolicyStore:
    """Durable governance policy state in one folder (created on first write)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._directory = Path(directory)

    @property
    def directory(self) -> Path:
        return self._directory

    # ------------------------------------------------------------------ files

    def _read(self, name: str, limit: int) -> bytes | None:
        path = self._directory / name
        try:
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _unavailable(f"cannot read {path}: {error.strerror}") from None
        if len(data) > limit:
            raise _unavailable(f"{path} is larger than {limit} bytes")
        return data

    def _write(self, name: str, data: bytes) -> None:
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            replace_durably(self._directory / name, data)
        except OSError as error:
            raise _unavailable(f"cannot write {self._directory / name}: {error.strerror}") from None

    # ------------------------------------------------------------------ keys

    def trusted_keys(self) -> frozenset[bytes]:
        data = self._read(TRUSTED_KEYS_FILE, 64 * 1024)
        if data is None:
            return frozenset()
        try:
            document = json.loads(data)
        except ValueError:
            raise _unavailable(f"{TRUSTED_KEYS_FILE} is not JSON") from None
        if type(document) is not list or len(document) > MAX_TRUSTED_KEYS:
            raise _unavailable(f"{TRUSTED_KEYS_FILE} is not an array of at most 64 keys")
        keys = set()
        for item in document:
            key = _key_from_hex(item) if type(item) is str else None
            if key is None:
                raise _unavailable(f"{TRUSTED_KEYS_FILE} holds a value that is not a valid key")
            keys.add(key)
        return frozenset(keys)

    def trust(self, public_key: bytes) -> frozenset[bytes]:
        """Add a policy public key to the trusted set; returns the new set."""
        if type(public_key) is not bytes or not _valid(public_key):
            raise UsageError("a policy key is a valid 32-byte Ed25519 public key")
        keys = self.trusted_keys() | {public_key}
        if len(keys) > MAX_TRUSTED_KEYS:
            raise UsageError(f"at most {MAX_TRUSTED_KEYS} trusted policy keys")
        self._write(TRUSTED_KEYS_FILE, _keys_json(keys))
        return keys

    def distrust(self, public_key: bytes) -> frozenset[bytes]:
        """Remove a policy key. A bundle it signed stops verifying: its policy stops governing."""
        keys = self.trusted_keys() - {public_key}
        self._write(TRUSTED_KEYS_FILE, _keys_json(keys))
        return keys

    # ------------------------------------------------------------------ bundles

    def _bundle(self, name: str) -> tuple[bytes, VerifiedBundle] | None:
        data = self._read(name, MAX_BUNDLE_BYTES)
        if data is None:
            return None
        return data, verify_bundle(data, self.trusted_keys())

    def active(self) -> VerifiedBundle | None:
        """The active bundle, verified now; None before the first activation."""
        found = self._bundle(ACTIVE_FILE)
        return None if found is None else found[1]

    def staged(self) -> VerifiedBundle | None:
        found = self._bundle(STAGED_FILE)
        return None if found is None else found[1]

    def _check_newer(self, candidate: VerifiedBundle, floor: int | None) -> None:
        active = self.active()
        highest = max(
            (
                version
                for version in (floor, None if active is None else active.version)
                if version is not None
            ),
            default=None,
        )
        if highest is not None and candidate.version <= highest:
            raise BundleError(
                BundleFailure.ROLLBACK,
                f"version {candidate.version} is not higher than the highest version "
                f"activated so far ({highest})",
            )

    def stage(self, data: bytes, *, floor: int | None = None) -> VerifiedBundle:
        """Verify a bundle and keep it as the staged one (it governs nothing yet).

        ``floor`` is the highest version the manager has been governed by (its store keeps
        it, so deleting ``active.bundle`` cannot reopen an older version).
        """
        verified = verify_bundle(data, self.trusted_keys())
        self._check_newer(verified, floor)
        self._write(STAGED_FILE, data)
        return verified

    def activate(self, issuer_kid: bytes, *, floor: int | None = None) -> VerifiedBundle:
        """Make the staged bundle active: trusted, for this issuer, and newer than the active.

        ``issuer_kid`` is the thumbprint of the manager's signing key; a policy for another
        issuer would make the authority refuse to start, so it is refused here instead.
        ``floor`` is as for :meth:`stage`.
        """
        found = self._bundle(STAGED_FILE)
        if found is None:
            raise BundleError(BundleFailure.NOT_STAGED, "no bundle is staged")
        data, verified = found
        if verified.policy.lease_policy.issuer_kid != issuer_kid:
            raise BundleError(
                BundleFailure.ISSUER_MISMATCH,
                "the bundle's lease_policy.issuer_kid is not this manager's issuer key",
            )
        self._check_newer(verified, floor)
        self._write(ACTIVE_FILE, data)
        try:
            (self._directory / STAGED_FILE).unlink()
        except OSError as error:
            raise _unavailable(f"activated, but cannot remove the staged bundle: {error}") from None
        return verified


def _valid(key: bytes) -> bool:
    return len(key) == 32 and is_valid_public_key(key)


def _key_from_hex(text: str) -> bytes | None:
    if len(text) != 64 or text != text.lower():
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        return None
    return key if _valid(key) else None


def _keys_json(keys: frozenset[bytes] | set[bytes]) -> bytes:
    return (json.dumps(sorted(key.hex() for key in keys), indent=2) + "\n").encode("ascii")
