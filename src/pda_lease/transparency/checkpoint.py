"""C2SP signed notes and transparency-log checkpoints, with Ed25519 keys. Pure: no I/O or clock.

A signed note (https://c2sp.org/signed-note) is UTF-8 text ending in a newline, a blank line,
then one or more signature lines ``"— <key name> <base64(key id || signature)>\\n"``. The key id
of an Ed25519 key is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]`` and the signature covers
the text including its final newline, not the blank line. A verifier key is written
``<name>+<8 hex digits of the key id>+<base64(0x01 || public key)>`` (the "vkey" of
golang.org/x/mod/sumdb/note). A checkpoint (https://c2sp.org/tlog-checkpoint) is a note whose
text is the log's origin, its tree size in decimal and its base64 root hash, one per line,
then optional extension lines.

The caller names the keys it trusts; nothing here trusts a key carried by the note. Opening a
note verifies every signature from a trusted key and returns the text only if at least one
verified and none failed; otherwise it raises ``NoteError``, never returns a flag. Decisions
where the specifications leave room (all fail closed):

* Signatures from keys that are not trusted (name and key id not both matching) are ignored,
  as the spec requires, but they still count towards ``MAX_SIGNATURES`` and must be well
  formed (a valid key name and at least 5 bytes of canonical base64, as in the Go reference).
* A trusted key signing twice is ``DUPLICATE_SIGNATURE`` (Go keeps the first silently).
* A trusted key whose signature fails rejects the whole note (the spec's SHOULD).
* Base64 must be canonical (padding present, unused bits zero), so that no two encodings of the
  same signature or root hash exist; vkey key ids must be lowercase hex.
* A note is at most ``MAX_NOTE_BYTES`` and carries at most ``MAX_SIGNATURES`` signatures: far
  above the 16 (post-quantum sized) signatures the spec requires accepting.
* A checkpoint origin only has to be non-empty: spaces and ``+`` are allowed (the Go checksum
  database's origin is ``go.sum database tree``); clients match it exactly.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import re
from collections.abc import Iterable

import attrs

from pda_lease.kernel.crypto import (
    PUBLIC_KEY_BYTES,
    Signer,
    is_valid_public_key,
    verify_signature,
)
from pda_lease.kernel.errors import ReasonedError, UsageError
from pda_lease.transparency.merkle import HASH_SIZE, MAX_TREE_SIZE

__all__ = [
    "ED25519_SIGNATURE_TYPE",
    "HASH_BYTES",
    "KEY_ID_BYTES",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "MAX_TREE_SIZE",
    "Checkpoint",
    "NoteError",
    "NoteErrorReason",
    "OpenedNote",
    "VerifiedCheckpoint",
    "VerifierKey",
    "ed25519_key_id",
    "open_checkpoint",
    "open_note",
    "sign_note",
]

ED25519_SIGNATURE_TYPE = 0x01
KEY_ID_BYTES = 4
HASH_BYTES = HASH_SIZE
MAX_NOTE_BYTES = 256 * 1024
MAX_SIGNATURES = 100

_SIGNATURE_PREFIX = "\u2014 "  # EM DASH, SPACE
_MIN_SIGNATURE_BYTES = KEY_ID_BYTES + 1
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls other than newline
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)
_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}", re.ASCII)


class NoteErrorReason(enum.StrEnum):
    """Why a note, a verifier key or a checkpoint was refused (closed set)."""

    MALFORMED = "MALFORMED"  # not a signed note: encoding, framing or signature line syntax
    TOO_LARGE = "TOO_LARGE"  # more than MAX_NOTE_BYTES or MAX_SIGNATURES
    BAD_KEY = "BAD_KEY"  # a verifier key (vkey, name or public key) is invalid
    NO_TRUSTED_SIGNATURE = "NO_TRUSTED_SIGNATURE"  # no signature from a trusted key
    BAD_SIGNATURE = "BAD_SIGNATURE"  # a trusted key's signature does not verify
    DUPLICATE_SIGNATURE = "DUPLICATE_SIGNATURE"  # a trusted key signed more than once
    BAD_CHECKPOINT = "BAD_CHECKPOINT"  # the text is not a valid checkpoint or origin differs


class NoteError(ReasonedError[NoteErrorReason]):
    """A note, verifier key or checkpoint was refused; ``reason`` says why."""


# ------------------------------------------------------------------------------ helpers


def _b64decode(text: str) -> bytes | None:
    """Standard base64 (RFC 4648 §4) in its one canonical form, else ``None``."""
    if not text.isascii():
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _is_valid_name(name: str) -> bool:
    """Non-empty, no Unicode space, no ``+``, no control character, valid UTF-8."""
    return (
        name != ""
        and "+" not in name
        and not any(char.isspace() for char in name)
        and _CONTROL.search(name) is None
        and _is_utf8(name)
    )


def _is_valid_line(line: str) -> bool:
    """A non-empty line of note text: no newline, no other control character, valid UTF-8."""
    return line != "" and "\n" not in line and _CONTROL.search(line) is None and _is_utf8(line)


def ed25519_key_id(name: str, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || 0x01 || public_key)[:4]``: the note key id of an Ed25519 key."""
    material = name.encode("utf-8") + b"\n" + bytes([ED25519_SIGNATURE_TYPE]) + public_key
    return hashlib.sha256(material).digest()[:KEY_ID_BYTES]


# -------------------------------------------------------------------------- verifier keys


@attrs.frozen
class VerifierKey:
    """An Ed25519 key the caller trusts to sign notes under ``name``."""

    name: str
    public_key: bytes

    def __attrs_post_init__(self) -> None:
        if type(self.name) is not str or type(self.public_key) is not bytes:
            raise UsageError("a verifier key is a str name and a bytes public key")
        if not _is_valid_name(self.name):
            raise NoteError(NoteErrorReason.BAD_KEY, "invalid key name")
        if len(self.public_key) != PUBLIC_KEY_BYTES or not is_valid_public_key(self.public_key):
            raise NoteError(NoteErrorReason.BAD_KEY, "not a valid Ed25519 public key")

    @property
    def key_id(self) -> bytes:
        return ed25519_key_id(self.name, self.public_key)

    @classmethod
    def parse(cls, vkey: str) -> VerifierKey:
        """Parse ``<name>+<hex key id>+<base64(0x01 || public key)>``; the key id must match."""
        if type(vkey) is not str:
            raise UsageError("a verifier key string is a str")
        name, plus1, rest = vkey.partition("+")
        hex_id, plus2, material = rest.partition("+")
        if not plus1 or not plus2 or _HEX_KEY_ID.fullmatch(hex_id) is None:
            raise NoteError(NoteErrorReason.BAD_KEY, "not <name>+<8 lowercase hex>+<base64>")
        raw = _b64decode(material)
        if raw is None or len(raw) != 1 + PUBLIC_KEY_BYTES or raw[0] != ED25519_SIGNATURE_TYPE:
            raise NoteError(NoteErrorReason.BAD_KEY, "key material is not base64(0x01 || key)")
        key = cls(name, raw[1:])
        if key.key_id.hex() != hex_id:
            raise NoteError(NoteErrorReason.BAD_KEY, "key id does not match name and key")
        return key

    def to_vkey(self) -> str:
        raw = bytes([ED25519_SIGNATURE_TYPE]) + self.public_key
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(raw)}"


def _index_verifiers(verifiers: Iterable[VerifierKey]) -> dict[tuple[str, bytes], VerifierKey]:
    if not isinstance(verifiers, Iterable) or isinstance(verifiers, (str, bytes, VerifierKey)):
        raise UsageError("verifiers is a collection of VerifierKey")
    index: dict[tuple[str, bytes], VerifierKey] = {}
    for key in verifiers:
        if not isinstance(key, VerifierKey):
            raise UsageError("verifiers is a collection of VerifierKey")
        ident = (key.name, key.key_id)
        known = index.setdefault(ident, key)
        if known != key:
            raise UsageError(f"two trusted keys share name and key id {key.name}+{ident[1].hex()}")
    if not index:
        raise UsageError("at least one trusted verifier key is required")
    return index


# ---------------------------------------------------------------------------- signed notes


@attrs.frozen
class _SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


def _note_text(note: str | bytes) -> str:
    """The note as a str after the encoding and size checks, or raise."""
    if type(note) is bytes:
        if len(note) > MAX_NOTE_BYTES:
            raise NoteError(NoteErrorReason.TOO_LARGE, f"note exceeds {MAX_NOTE_BYTES} bytes")
        try:
            return note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError(NoteErrorReason.MALFORMED, "note is not valid UTF-8") from None
    if type(note) is str:
        if len(note) > MAX_NOTE_BYTES:  # a char is at least one byte: skip encoding huge input
            raise NoteError(NoteErrorReason.TOO_LARGE, f"note exceeds {MAX_NOTE_BYTES} bytes")
        if not _is_utf8(note):
            raise NoteError(NoteErrorReason.MALFORMED, "note is not valid UTF-8")
        if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
            raise NoteError(NoteErrorReason.TOO_LARGE, f"note exceeds {MAX_NOTE_BYTES} bytes")
        return note
    raise UsageError("a note is str or bytes")


def _split_note(note: str | bytes) -> tuple[str, list[_SignatureLine]]:
    decoded = _note_text(note)
    if _CONTROL.search(decoded) is not None:
        raise NoteError(NoteErrorReason.MALFORMED, "control character other than newline")
    split = decoded.rfind("\n\n")
    if split < 0:
        raise NoteError(NoteErrorReason.MALFORMED, "no blank line before the signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError(NoteErrorReason.MALFORMED, "signature block missing or unterminated")
    raw_lines = block[:-1].split("\n")
    if len(raw_lines) > MAX_SIGNATURES:
        raise NoteError(NoteErrorReason.TOO_LARGE, f"more than {MAX_SIGNATURES} signatures")
    lines = []
    for raw_line in raw_lines:
        if not raw_line.startswith(_SIGNATURE_PREFIX):
            raise NoteError(NoteErrorReason.MALFORMED, "signature line must start with '— '")
        name, space, encoded = raw_line[len(_SIGNATURE_PREFIX) :].partition(" ")
        if not space or not _is_valid_name(name):
            raise NoteError(NoteErrorReason.MALFORMED, "invalid key name in signature line")
        signature = _b64decode(encoded)
        if signature is None or len(signature) < _MIN_SIGNATURE_BYTES:
            raise NoteError(NoteErrorReason.MALFORMED, "signature is not canonical base64")
        lines.append(_SignatureLine(name, signature[:KEY_ID_BYTES], signature[KEY_ID_BYTES:]))
    return text, lines


@attrs.frozen
class OpenedNote:
    """The text of a note and the trusted keys whose signatures verified, in line order."""

    text: str
    verified_by: tuple[VerifierKey, ...]


def open_note(note: str | bytes, verifiers: Iterable[VerifierKey]) -> OpenedNote:
    """Parse ``note`` strictly and verify it against the trusted ``verifiers``, or raise.

    Every signature whose name and key id match a trusted key is verified; signatures of other
    keys are ignored. Raises ``NoteError`` (``MALFORMED``, ``TOO_LARGE``,
    ``DUPLICATE_SIGNATURE``, ``BAD_SIGNATURE``, ``NO_TRUSTED_SIGNATURE``) and ``UsageError``
    when ``verifiers`` is empty or holds two different keys with the same name and key id.
    """
    trusted = _index_verifiers(verifiers)
    text, lines = _split_note(note)
    message = text.encode("utf-8")
    verified: list[VerifierKey] = []
    for line in lines:
        key = trusted.get((line.name, line.key_id))
        if key is None:
            continue  # unknown key: ignored (c2sp.org/signed-note)
        if key in verified:
            raise NoteError(
                NoteErrorReason.DUPLICATE_SIGNATURE, f"{key.name} signed the note twice"
            )
        if not verify_signature(key.public_key, message, line.signature):
            raise NoteError(
                NoteErrorReason.BAD_SIGNATURE, f"signature by trusted key {key.name} is invalid"
            )
        verified.append(key)
    if not verified:
        raise NoteError(NoteErrorReason.NO_TRUSTED_SIGNATURE, "no signature by a trusted key")
    return OpenedNote(text, tuple(verified))


class NoteSigner:
    """Signs notes with one Ed25519 ``signer`` under one key ``name``.

    The name and the signer's public key are judged once, here (a point check costs about as
    much as a verification, and a log signs a checkpoint on every commit); every signature is
    still verified under that key before it is used, so a faulty or substituted signer never
    yields a note.
    """

    __slots__ = ("_key_id", "_name", "_public_key", "_signer")

    def __init__(self, name: str, signer: Signer) -> None:
        if type(name) is not str:
            raise UsageError("name is a str")
        if not isinstance(signer, Signer):
            raise UsageError("signer must implement the Signer protocol")
        if not _is_valid_name(name):
            raise NoteError(NoteErrorReason.BAD_KEY, "invalid key name")
        public_key = signer.public_key
        if type(public_key) is not bytes or not is_valid_public_key(public_key):
            raise UsageError("the signer's public key is not a valid Ed25519 public key")
        self._name = name
        self._signer = signer
        self._public_key = public_key
        self._key_id = ed25519_key_id(name, public_key)

    def sign(self, text: str) -> str:
        """The signed note of ``text`` (see :func:`sign_note`)."""
        if type(text) is not str:
            raise UsageError("text is a str")
        _check_note_text(text)
        message = text.encode("utf-8")
        signature = self._signer.sign(message)
        if type(signature) is not bytes or not verify_signature(
            self._public_key, message, signature
        ):
            raise UsageError("the signer returned a signature that does not verify")
        encoded = _b64encode(self._key_id + signature)
        note = f"{text}\n{_SIGNATURE_PREFIX}{self._name} {encoded}\n"
        if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
            raise NoteError(NoteErrorReason.TOO_LARGE, f"note exceeds {MAX_NOTE_BYTES} bytes")
        return note


def sign_note(text: str, name: str, signer: Signer) -> str:
    """The signed note of ``text`` with one Ed25519 signature by ``signer`` under ``name``.

    ``text`` must end in a newline and contain no control character other than newline.
    Refuses (``NoteError``) anything ``open_note`` would refuse, and (``UsageError``) a signer
    whose signature does not verify under its own public key.
    """
    if type(text) is not str or type(name) is not str:
        raise UsageError("text and name are str")
    if not isinstance(signer, Signer):
        raise UsageError("signer must implement the Signer protocol")
    _check_note_text(text)
    return NoteSigner(name, signer).sign(text)


def _check_note_text(text: str) -> None:
    if not text.endswith("\n") or _CONTROL.search(text) is not None or not _is_utf8(text):
        raise NoteError(
            NoteErrorReason.MALFORMED,
            "note text must be UTF-8 ending in a newline, without other control characters",
        )


# ----------------------------------------------------------------------------- checkpoints


def _bad_checkpoint(detail: str) -> NoteError:
    return NoteError(NoteErrorReason.BAD_CHECKPOINT, detail)


@attrs.frozen
class Checkpoint:
    """A transparency log's signed tree head (c2sp.org/tlog-checkpoint)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        if (
            type(self.origin) is not str
            or type(self.size) is not int
            or type(self.root_hash) is not bytes
            or type(self.extensions) is not tuple
            or any(type(line) is not str for line in self.extensions)
        ):
            raise UsageError("a checkpoint is (str, int, bytes, tuple[str, ...])")
        if not _is_valid_line(self.origin):
            raise _bad_checkpoint("origin must be one non-empty line without control characters")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise _bad_checkpoint("tree size must fit in an unsigned 64-bit integer")
        if len(self.root_hash) != HASH_BYTES:
            raise _bad_checkpoint(f"root hash must be {HASH_BYTES} bytes")
        if not all(_is_valid_line(line) for line in self.extensions):
            raise _bad_checkpoint("extension lines must be non-empty, without control characters")

    def to_text(self) -> str:
        """The note text: origin, size, base64 root hash and extensions, each ending in \\n."""
        lines = (self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions)
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text strictly (``to_text`` is its exact inverse), or raise."""
        if type(text) is not str:
            raise UsageError("checkpoint text is a str")
        if len(text) > MAX_NOTE_BYTES:
            raise NoteError(NoteErrorReason.TOO_LARGE, f"text exceeds {MAX_NOTE_BYTES} bytes")
        if not text.endswith("\n"):
            raise _bad_checkpoint("text must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise _bad_checkpoint("origin, size and root hash lines are required")
        origin, size_line, hash_line, *extensions = lines
        if _DECIMAL.fullmatch(size_line) is None:
            raise _bad_checkpoint("tree size must be decimal digits without leading zeros")
        root_hash = _b64decode(hash_line)
        if root_hash is None:
            raise _bad_checkpoint("root hash must be canonical standard base64")
        return cls(origin, int(size_line), root_hash, tuple(extensions))


@attrs.frozen
class VerifiedCheckpoint:
    """A checkpoint whose note verified, and the trusted keys that signed it."""

    checkpoint: Checkpoint
    verified_by: tuple[VerifierKey, ...]


def open_checkpoint(
    note: str | bytes, verifiers: Iterable[VerifierKey], *, origin: str
) -> VerifiedCheckpoint:
    """Open a signed checkpoint note from the log ``origin`` (verify first, then parse)."""
    if type(origin) is not str:
        raise UsageError("origin is a str")
    opened = open_note(note, verifiers)
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != origin:
        raise _bad_checkpoint(f"origin is {checkpoint.origin!r}, expected {origin!r}")
    return VerifiedCheckpoint(checkpoint, opened.verified_by)
