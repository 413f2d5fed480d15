"""C2SP signed notes, verifier keys and tlog checkpoints (pda_lease.transparency.checkpoint).

External vectors first, as an independent second path (they were produced by other
implementations, and each was re-checked here byte for byte):

* golang.org/x/mod ``sumdb/note/note_test.go`` (BSD-3-Clause, The Go Authors): the
  PeterNeumann and EnochRoot verifier keys, their signatures over the Peter Neumann quote, the
  PeterNeumann private key (whose seed must reproduce the published signature exactly, Ed25519
  being deterministic), the vkey manglings of ``TestNewVerifier`` and the malformed notes of
  ``TestOpen``.
* sigsum.org ``sigsum-go`` ``pkg/checkpoint/checkpoint_test.go`` (BSD-2-Clause): a checkpoint
  signed with the seed ``0x11 || 0^31`` (reproduced exactly) and a real sum.golang.org
  checkpoint retrieved 2024-09-23, whose verifier key is the one built into the go command
  (``src/cmd/go/internal/modfetch/key.go``). Its origin contains spaces.

Then round trips, the strict parsers (table-driven ``valid_*`` / ``invalid_*`` cases), the
trust rules (wrong, unknown, duplicate and failing keys) and the property that every
single-byte change of a signed checkpoint note is refused.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pda_lease.kernel.crypto import Ed25519Signer
from pda_lease.kernel.errors import PdaLeaseError, UsageError
from pda_lease.transparency.checkpoint import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    MAX_TREE_SIZE,
    Checkpoint,
    NoteError,
    NoteErrorReason,
    NoteSigner,
    OpenedNote,
    VerifierKey,
    ed25519_key_id,
    open_checkpoint,
    open_note,
    sign_note,
)

R = NoteErrorReason
EM = "\u2014"

# ------------------------------------------------------ golang.org/x/mod/sumdb/note vectors

GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
PETER_SIG = (
    f"{EM} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
    "fqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    f"{EM} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGw"
    "nWLox33WWd1RvMc+QQ=\n"
)
GO_NOTE = GO_TEXT + "\n" + PETER_SIG

# ------------------------------------------------ sigsum-go pkg/checkpoint/checkpoint_test.go

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n"
    "30055305\n"
    "mXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM=\n"
    "\n"
    f"{EM} sum.golang.org Az3grpgEild5qw7+5dtV13Kf1C2Xurm8q4fhdxvcsDHnqNTaxL2AFjBY+2TyGKevucFcAAl"
    "WFJJYle3EJlDCrQ+y3A8=\n"
)
SIGSUM_SEED = bytes([17]) + bytes(31)  # crypto.PrivateKey{17}
SIGSUM_ORIGIN = (
    "sigsum.org/v1/tree/e796172b92befd62d9dc67e41c2f5bc9d3100a3023b20b1ca40288dd1c679e69"
)
SIGSUM_ROOT = bytes([28, 14, 71]) + bytes(29)  # crypto.Hash{28, 14, 71}
SIGSUM_NOTE = (
    f"{SIGSUM_ORIGIN}\n"
    "10\n"
    "HA5HAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    "\n"
    f"{EM} {SIGSUM_ORIGIN} gJ2ho0n8F8olcerUF1FFdv235A/5as/coWrpLrtE7ovMeP5whgwouYExowG/lTznxu6O"
    "UGjjt5yJQ6bXtTcf718MqAQ=\n"
)

# ----------------------------------------------------------------------------- local keys

LOG_NAME = "example.com/log"
LOG_SIGNER = Ed25519Signer(hashlib.sha256(b"checkpoint test: log").digest())
OTHER_SIGNER = Ed25519Signer(hashlib.sha256(b"checkpoint test: other").digest())
WITNESS_SIGNER = Ed25519Signer(hashlib.sha256(b"checkpoint test: witness").digest())
LOG_KEY = VerifierKey(LOG_NAME, LOG_SIGNER.public_key)
WITNESS_KEY = VerifierKey("example.com/witness", WITNESS_SIGNER.public_key)
CHECKPOINT = Checkpoint(LOG_NAME, 20852163, hashlib.sha256(b"root").digest())
CHECKPOINT_NOTE = sign_note(CHECKPOINT.to_text(), LOG_NAME, LOG_SIGNER)


def signature_line(note: str) -> str:
    """The single signature line of a note produced by ``sign_note``."""
    return note[note.rindex("\n\n") + 2 :]


def raw_signature(line: str) -> bytes:
    return base64.b64decode(line.rstrip("\n").split(" ")[2])


def make_line(name: str, raw: bytes) -> str:
    return f"{EM} {name} {base64.b64encode(raw).decode()}\n"


B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def non_canonical(encoded: str) -> str:
    """The same bytes with a non-zero unused bit in the last character (needs padding)."""
    body = encoded.rstrip("=")
    assert body != encoded and B64_ALPHABET.index(body[-1]) % 2 == 0
    return body[:-1] + B64_ALPHABET[B64_ALPHABET.index(body[-1]) + 1] + encoded[len(body) :]


def reason_of(note: str | bytes, verifiers: list[VerifierKey]) -> NoteErrorReason:
    with pytest.raises(NoteError) as caught:
        open_note(note, verifiers)
    return caught.value.reason


# ------------------------------------------------------------------------ external vectors


def test_go_verifier_keys_parse_and_format_back() -> None:
    for vkey, key_id in [
        (PETER_VKEY, "c74f20a3"),
        (ENOCH_VKEY, "af0cfe78"),
        (SUMDB_VKEY, "033de0ae"),
    ]:
        key = VerifierKey.parse(vkey)
        assert key.key_id.hex() == key_id
        assert key.to_vkey() == vkey
        assert VerifierKey.parse(key.to_vkey()) == key


def test_go_signed_note_verifies_with_published_key() -> None:
    peter = VerifierKey.parse(PETER_VKEY)
    assert open_note(GO_NOTE, [peter]) == OpenedNote(GO_TEXT, (peter,))
    assert open_note(GO_NOTE.encode(), [peter]) == OpenedNote(GO_TEXT, (peter,))


def test_go_private_key_reproduces_published_signature() -> None:
    prefix_private, prefix_key, name, key_id, material = PETER_SKEY.split("+", 4)
    assert (prefix_private, prefix_key, name, key_id) == (
        "PRIVATE",
        "KEY",
        "PeterNeumann",
        "c74f20a3",
    )
    raw = base64.b64decode(material, validate=True)
    assert raw[0] == 0x01 and len(raw) == 33
    signer = Ed25519Signer(raw[1:])
    assert signer.public_key == VerifierKey.parse(PETER_VKEY).public_key
    assert ed25519_key_id(name, signer.public_key).hex() == key_id
    assert sign_note(GO_TEXT, name, signer) == GO_NOTE


def test_go_two_signer_note_ignores_the_untrusted_signature() -> None:
    peter, enoch = VerifierKey.parse(PETER_VKEY), VerifierKey.parse(ENOCH_VKEY)
    note = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter]).verified_by == (peter,)
    assert open_note(note, [enoch]).verified_by == (enoch,)
    assert open_note(note, [enoch, peter]).verified_by == (peter, enoch)  # line order
    assert reason_of(note, [VerifierKey.parse(SUMDB_VKEY)]) is R.NO_TRUSTED_SIGNATURE


def test_go_corrupted_signature_of_a_trusted_key_rejects_the_note() -> None:
    peter, enoch = VerifierKey.parse(PETER_VKEY), VerifierKey.parse(ENOCH_VKEY)
    corrupted = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]  # TestOpen "Invalid signature"
    assert reason_of(GO_TEXT + "\n" + corrupted, [peter]) is R.BAD_SIGNATURE
    # A failing trusted signature rejects the note even when another trusted one verifies.
    assert reason_of(GO_TEXT + "\n" + ENOCH_SIG + corrupted, [peter, enoch]) is R.BAD_SIGNATURE


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_NOTE,
        b"\xff" + GO_NOTE.encode(),
        GO_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")[:-1],
        GO_NOTE + "Unexpected line.\n",
    ],
    ids=[
        "invalid_no_signatures",
        "invalid_empty_block",
        "invalid_unterminated",
        "invalid_control",
        "invalid_utf8",
        "invalid_name_space",
        "invalid_trailing_line",
    ],
)
def test_go_malformed_notes(note: str | bytes) -> None:
    assert reason_of(note, [VerifierKey.parse(PETER_VKEY)]) is R.MALFORMED


def test_go_vkey_manglings_are_rejected() -> None:
    """TestNewVerifier: every proper substring and every single-character increment fails."""
    mangled = {
        PETER_VKEY[i:j]
        for i in range(len(PETER_VKEY) + 1)
        for j in range(i + 1, len(PETER_VKEY) + 1)
        if (i, j) != (0, len(PETER_VKEY))
    }
    mangled |= {
        PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        for i in range(len(PETER_VKEY))
    }
    mangled |= {
        # wrong key length with adjusted key id; unknown algorithm with adjusted key id
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    }
    for vkey in mangled:
        with pytest.raises(NoteError) as caught:
            VerifierKey.parse(vkey)
        assert caught.value.reason is R.BAD_KEY, vkey


def test_sumdb_checkpoint_verifies_and_formats_back() -> None:
    key = VerifierKey.parse(SUMDB_VKEY)
    opened = open_checkpoint(SUMDB_NOTE, [key], origin="go.sum database tree")
    assert opened.verified_by == (key,)
    expected_root = base64.b64decode("mXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM=")
    assert opened.checkpoint == Checkpoint("go.sum database tree", 30055305, expected_root)
    assert opened.checkpoint.to_text() == SUMDB_NOTE[: SUMDB_NOTE.index("\n\n") + 1]
    with pytest.raises(NoteError) as caught:
        open_checkpoint(SUMDB_NOTE, [key], origin="sum.golang.org")
    assert caught.value.reason is R.BAD_CHECKPOINT


def test_sigsum_checkpoint_signing_is_reproduced_exactly() -> None:
    signer = Ed25519Signer(SIGSUM_SEED)
    assert SIGSUM_ORIGIN.endswith(hashlib.sha256(signer.public_key).hexdigest())
    checkpoint = Checkpoint(SIGSUM_ORIGIN, 10, SIGSUM_ROOT)
    assert sign_note(checkpoint.to_text(), SIGSUM_ORIGIN, signer) == SIGSUM_NOTE
    key = VerifierKey(SIGSUM_ORIGIN, signer.public_key)
    assert open_checkpoint(SIGSUM_NOTE, [key], origin=SIGSUM_ORIGIN).checkpoint == checkpoint


def test_sigsum_extra_unknown_signature_is_ignored() -> None:
    key = VerifierKey(SIGSUM_ORIGIN, Ed25519Signer(SIGSUM_SEED).public_key)
    example = (  # exampleSig of the sigsum-go test
        f"{EM} example.org/log2 DEADBEEFAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAAAAAAAAAAAAAAA=\n"
    )
    body = SIGSUM_NOTE[: SIGSUM_NOTE.index("\n\n") + 2]
    note = body + example + signature_line(SIGSUM_NOTE)
    assert open_note(note, [key]).verified_by == (key,)


# ------------------------------------------------------------------------------ round trips

ORIGIN_CHARS = st.characters(exclude_categories=["Cs"], min_codepoint=0x20)
LINES = st.text(ORIGIN_CHARS, min_size=1, max_size=20)
CHECKPOINTS = st.builds(
    Checkpoint,
    origin=LINES,
    size=st.integers(0, MAX_TREE_SIZE),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(LINES, max_size=3).map(tuple),
)
NAMES = st.text(
    st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), exclude_characters="+"),
    min_size=1,
    max_size=20,
).filter(lambda name: not any(char.isspace() for char in name))
NOTE_TEXTS = st.lists(st.text(ORIGIN_CHARS, max_size=20), min_size=1, max_size=5).map(
    lambda lines: "".join(line + "\n" for line in lines)
)


@given(CHECKPOINTS)
def test_checkpoint_text_round_trip(checkpoint: Checkpoint) -> None:
    assert Checkpoint.parse(checkpoint.to_text()) == checkpoint


@given(NOTE_TEXTS, NAMES)
def test_note_round_trip(text: str, name: str) -> None:
    note = sign_note(text, name, LOG_SIGNER)
    key = VerifierKey(name, LOG_SIGNER.public_key)
    assert open_note(note, [key]) == OpenedNote(text, (key,))
    assert open_note(note.encode(), [key, WITNESS_KEY]) == OpenedNote(text, (key,))
    assert VerifierKey.parse(key.to_vkey()) == key


@given(CHECKPOINTS)
def test_signed_checkpoint_round_trip(checkpoint: Checkpoint) -> None:
    note = sign_note(checkpoint.to_text(), LOG_NAME, LOG_SIGNER)
    opened = open_checkpoint(note, [LOG_KEY], origin=checkpoint.origin)
    assert opened.checkpoint == checkpoint
    assert opened.verified_by == (LOG_KEY,)


# ------------------------------------------------------------------------------- tampering

NOTE_BYTES = CHECKPOINT_NOTE.encode()


def assert_refused(mutated: bytes) -> None:
    assert mutated != NOTE_BYTES
    with pytest.raises(NoteError):
        open_note(mutated, [LOG_KEY])


def test_every_byte_flip_and_deletion_is_refused() -> None:
    for index in range(len(NOTE_BYTES)):
        for mask in (0x01, 0x20, 0x80):
            flipped = NOTE_BYTES[index] ^ mask
            assert_refused(NOTE_BYTES[:index] + bytes([flipped]) + NOTE_BYTES[index + 1 :])
        assert_refused(NOTE_BYTES[:index] + NOTE_BYTES[index + 1 :])


@given(st.data())
def test_any_single_byte_substitution_is_refused(data: st.DataObject) -> None:
    """Holds for a note whose only signature is trusted (an untrusted line may change)."""
    index = data.draw(st.integers(0, len(NOTE_BYTES) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda byte: byte != NOTE_BYTES[index]))
    assert_refused(NOTE_BYTES[:index] + bytes([value]) + NOTE_BYTES[index + 1 :])


@given(st.data())
def test_any_single_byte_insertion_is_refused(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(NOTE_BYTES)))
    value = data.draw(st.integers(0, 255))
    assert_refused(NOTE_BYTES[:index] + bytes([value]) + NOTE_BYTES[index:])


# ----------------------------------------------------------------------------- trust rules


def test_wrong_key_is_rejected() -> None:
    same_name_other_key = VerifierKey(LOG_NAME, OTHER_SIGNER.public_key)
    other_name_same_key = VerifierKey("example.com/other", LOG_SIGNER.public_key)
    for verifier in (same_name_other_key, other_name_same_key, WITNESS_KEY):
        assert reason_of(CHECKPOINT_NOTE, [verifier]) is R.NO_TRUSTED_SIGNATURE


def test_matching_name_and_key_id_with_wrong_key_is_a_bad_signature() -> None:
    """A line naming a trusted key (name and id) is verified, whatever key really signed."""
    trusted = VerifierKey(LOG_NAME, OTHER_SIGNER.public_key)
    forged = make_line(
        LOG_NAME, trusted.key_id + raw_signature(signature_line(CHECKPOINT_NOTE))[4:]
    )
    note = CHECKPOINT.to_text() + "\n" + forged
    assert reason_of(note, [trusted]) is R.BAD_SIGNATURE


def test_unknown_signatures_are_ignored_when_a_trusted_one_verifies() -> None:
    log_line = signature_line(CHECKPOINT_NOTE)
    log_sig = raw_signature(log_line)
    witness_line = signature_line(sign_note(CHECKPOINT.to_text(), WITNESS_KEY.name, WITNESS_SIGNER))
    unknown = [
        witness_line,  # a valid signature by a key the caller does not trust
        make_line(LOG_NAME, bytes(4) + log_sig[4:]),  # same name, other key id
        make_line("example.com/other", log_sig),  # same key id, other name
        make_line("example.com/pq", b"\x01\x02\x03\x04" + bytes(2420)),  # other algorithm
        make_line("example.com/short", b"\x01\x02\x03\x04\x05"),
        make_line("example.com/short", b"\x01\x02\x03\x04\x05"),  # repeated: still ignored
    ]
    note = CHECKPOINT.to_text() + "\n" + "".join(unknown[:3]) + log_line + "".join(unknown[3:])
    assert open_note(note, [LOG_KEY]).verified_by == (LOG_KEY,)
    assert open_note(note, [WITNESS_KEY, LOG_KEY]).verified_by == (WITNESS_KEY, LOG_KEY)
    assert open_note(note, [WITNESS_KEY]).verified_by == (WITNESS_KEY,)


def test_duplicate_signature_by_a_trusted_key_is_rejected() -> None:
    log_line = signature_line(CHECKPOINT_NOTE)
    witness_line = signature_line(sign_note(CHECKPOINT.to_text(), WITNESS_KEY.name, WITNESS_SIGNER))
    twice = CHECKPOINT_NOTE + log_line
    assert reason_of(twice, [LOG_KEY]) is R.DUPLICATE_SIGNATURE
    witness_twice = CHECKPOINT_NOTE + witness_line + witness_line
    assert open_note(witness_twice, [LOG_KEY]).verified_by == (LOG_KEY,)
    assert reason_of(witness_twice, [LOG_KEY, WITNESS_KEY]) is R.DUPLICATE_SIGNATURE


def test_verification_raises_and_errors_are_typed() -> None:
    with pytest.raises(PdaLeaseError) as caught:
        open_note(CHECKPOINT_NOTE, [WITNESS_KEY])
    assert isinstance(caught.value, NoteError)
    assert caught.value.reason in set(NoteErrorReason)
    assert str(caught.value).startswith("NO_TRUSTED_SIGNATURE: ")
    assert {reason.value for reason in NoteErrorReason} == {
        "MALFORMED",
        "TOO_LARGE",
        "BAD_KEY",
        "NO_TRUSTED_SIGNATURE",
        "BAD_SIGNATURE",
        "DUPLICATE_SIGNATURE",
        "BAD_CHECKPOINT",
    }


# ------------------------------------------------------------------------------ size limits


def test_sixteen_trusted_signatures_are_accepted_and_the_limit_is_enforced() -> None:
    text = CHECKPOINT.to_text()
    signers = [Ed25519Signer(bytes([i + 1]) * 32) for i in range(16)]
    keys = [VerifierKey(f"example.com/w{i}", signer.public_key) for i, signer in enumerate(signers)]
    lines = [signature_line(sign_note(text, k.name, s)) for k, s in zip(keys, signers, strict=True)]
    assert open_note(text + "\n" + "".join(lines), keys).verified_by == tuple(keys)
    filler = [make_line(f"example.com/u{i}", bytes(68)) for i in range(MAX_SIGNATURES)]
    at_limit = text + "\n" + "".join(lines[:1] + filler[: MAX_SIGNATURES - 1])
    assert open_note(at_limit, keys).verified_by == (keys[0],)
    assert reason_of(at_limit + filler[-1], keys) is R.TOO_LARGE
    assert reason_of(GO_TEXT + "\n" + PETER_SIG * 101, [VerifierKey.parse(PETER_VKEY)]) is (
        R.TOO_LARGE
    )


def test_oversized_notes_are_refused() -> None:
    big_text = "x" * (MAX_NOTE_BYTES - 200) + "\n"
    note = sign_note(big_text, LOG_NAME, LOG_SIGNER)
    assert open_note(note, [LOG_KEY]).text == big_text
    padded = "y" * 200 + note  # same signature line, text too long: size first
    assert reason_of(padded, [LOG_KEY]) is R.TOO_LARGE
    assert reason_of(padded.encode(), [LOG_KEY]) is R.TOO_LARGE
    assert reason_of("é" * (MAX_NOTE_BYTES // 2) + note[-120:], [LOG_KEY]) is R.TOO_LARGE
    with pytest.raises(NoteError) as caught:
        sign_note("x" * MAX_NOTE_BYTES + "\n", LOG_NAME, LOG_SIGNER)
    assert caught.value.reason is R.TOO_LARGE


# --------------------------------------------------------------------- strict note parsing

SIG = signature_line(CHECKPOINT_NOTE)
B64 = SIG.rstrip("\n").split(" ")[2]
TEXT = CHECKPOINT.to_text()


def signed(text: str) -> str:
    return sign_note(text, LOG_NAME, LOG_SIGNER)


NOTE_CASES: dict[str, tuple[str | bytes, NoteErrorReason | None]] = {
    "valid_checkpoint": (CHECKPOINT_NOTE, None),
    "valid_text_with_empty_lines": (signed("a\n\nb\n\n"), None),
    "valid_text_of_one_newline": (signed("\n"), None),
    "valid_text_with_del_and_unicode": (signed("\x7f caf\u00e9 \u2014 \U0001f600\n"), None),
    "valid_text_with_signature_like_line": (signed(f"a\n\n{EM} x AAAAAAA=\n"), None),
    "invalid_no_blank_line": (TEXT + SIG, R.MALFORMED),
    "invalid_no_signature_line": (TEXT + "\n", R.MALFORMED),
    "invalid_blank_line_after_signatures": (CHECKPOINT_NOTE + "\n", R.MALFORMED),
    "invalid_missing_final_newline": (CHECKPOINT_NOTE[:-1], R.MALFORMED),
    "invalid_crlf": (CHECKPOINT_NOTE.replace("\n", "\r\n"), R.MALFORMED),
    "invalid_carriage_return_in_text": (TEXT[:-1] + "\r\n\n" + SIG, R.MALFORMED),
    "invalid_tab_in_text": ("a\tb\n\n" + SIG, R.MALFORMED),
    "invalid_nul": ("a\x00\n\n" + SIG, R.MALFORMED),
    "invalid_en_dash": (TEXT + "\n" + SIG.replace(EM, "\u2013"), R.MALFORMED),
    "invalid_hyphen": (TEXT + "\n" + SIG.replace(EM, "-"), R.MALFORMED),
    "invalid_no_space_after_dash": (TEXT + "\n" + SIG.replace(EM + " ", EM), R.MALFORMED),
    "invalid_two_spaces_after_name": (
        TEXT + "\n" + SIG.replace(" " + B64, "  " + B64),
        R.MALFORMED,
    ),
    "invalid_trailing_space": (TEXT + "\n" + SIG[:-1] + " \n", R.MALFORMED),
    "invalid_no_signature_field": (TEXT + "\n" + f"{EM} {LOG_NAME}\n", R.MALFORMED),
    "invalid_empty_signature": (TEXT + "\n" + f"{EM} {LOG_NAME} \n", R.MALFORMED),
    "invalid_empty_name": (TEXT + "\n" + f"{EM}  {B64}\n", R.MALFORMED),
    "invalid_name_with_plus": (TEXT + "\n" + f"{EM} a+b {B64}\n", R.MALFORMED),
    "invalid_name_with_nbsp": (TEXT + "\n" + f"{EM} a\u00a0b {B64}\n", R.MALFORMED),
    "invalid_name_with_ideographic_space": (TEXT + "\n" + f"{EM} a\u3000b {B64}\n", R.MALFORMED),
    "invalid_base64_without_padding": (TEXT + "\n" + SIG.replace("=\n", "\n"), R.MALFORMED),
    "invalid_base64_non_canonical": (
        TEXT + "\n" + SIG.replace(B64, non_canonical(B64)),
        R.MALFORMED,
    ),
    "invalid_base64_url_alphabet": (
        TEXT
        + "\n"
        + f"{EM} {LOG_NAME} "
        + base64.urlsafe_b64encode(b"\xfb\xff" * 34).decode()
        + "\n",
        R.MALFORMED,
    ),
    "invalid_signature_of_four_bytes": (TEXT + "\n" + make_line(LOG_NAME, bytes(4)), R.MALFORMED),
    "invalid_utf8_continuation": (b"a\x80\n\n" + SIG.encode(), R.MALFORMED),
    "invalid_utf8_overlong_newline": (b"a\xc0\x8a\n\n" + SIG.encode(), R.MALFORMED),
    "invalid_utf8_surrogate": (b"a\xed\xa0\x80\n\n" + SIG.encode(), R.MALFORMED),
    "invalid_str_lone_surrogate": ("a\ud800\n\n" + SIG, R.MALFORMED),
    "invalid_text_changed": (TEXT.replace("20852163", "20852164") + "\n" + SIG, R.BAD_SIGNATURE),
    "invalid_signature_truncated": (
        TEXT + "\n" + make_line(LOG_NAME, raw_signature(SIG)[:-1]),
        R.BAD_SIGNATURE,
    ),
}


@pytest.mark.parametrize("case", sorted(NOTE_CASES))
def test_note_parsing(case: str) -> None:
    note, expected = NOTE_CASES[case]
    if expected is None:
        assert open_note(note, [LOG_KEY]).verified_by == (LOG_KEY,)
    else:
        assert reason_of(note, [LOG_KEY]) is expected


def test_non_canonical_base64_case_really_is_non_canonical() -> None:
    """The padding bits of the last character differ, the decoded bytes do not."""
    for encoded in (B64, ROOT_B64):
        assert non_canonical(encoded) != encoded
        assert base64.b64decode(non_canonical(encoded)) == base64.b64decode(encoded)


# ------------------------------------------------------------------ strict checkpoint parsing

ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()


def checkpoint_text(origin: str = LOG_NAME, size: str = "5", root: str = ROOT_B64) -> str:
    return f"{origin}\n{size}\n{root}\n"


CHECKPOINT_CASES: dict[str, tuple[str, Checkpoint | None]] = {
    "valid_minimal": (checkpoint_text(size="0"), Checkpoint(LOG_NAME, 0, ROOT)),
    "valid_max_size": (
        checkpoint_text(size=str(MAX_TREE_SIZE)),
        Checkpoint(LOG_NAME, MAX_TREE_SIZE, ROOT),
    ),
    "valid_origin_with_spaces": (
        checkpoint_text(origin="go.sum database tree"),
        Checkpoint("go.sum database tree", 5, ROOT),
    ),
    "valid_origin_with_plus_and_unicode": (
        checkpoint_text(origin="l\u00f6g+1"),
        Checkpoint("l\u00f6g+1", 5, ROOT),
    ),
    "valid_extensions": (
        checkpoint_text() + "ext one\n\u2014 two\n",
        Checkpoint(LOG_NAME, 5, ROOT, ("ext one", "\u2014 two")),
    ),
    "invalid_empty_origin": (checkpoint_text(origin=""), None),
    "invalid_origin_with_tab": (checkpoint_text(origin="a\tb"), None),
    "invalid_size_leading_zero": (checkpoint_text(size="05"), None),
    "invalid_size_double_zero": (checkpoint_text(size="00"), None),
    "invalid_size_plus": (checkpoint_text(size="+5"), None),
    "invalid_size_negative": (checkpoint_text(size="-5"), None),
    "invalid_size_space": (checkpoint_text(size=" 5"), None),
    "invalid_size_trailing_space": (checkpoint_text(size="5 "), None),
    "invalid_size_underscore": (checkpoint_text(size="1_000"), None),
    "invalid_size_arabic_indic_digit": (checkpoint_text(size="\u0665"), None),
    "invalid_size_fullwidth_digit": (checkpoint_text(size="\uff15"), None),
    "invalid_size_hex": (checkpoint_text(size="0x5"), None),
    "invalid_size_empty": (checkpoint_text(size=""), None),
    "invalid_size_2_pow_64": (checkpoint_text(size=str(MAX_TREE_SIZE + 1)), None),
    "invalid_size_huge": (checkpoint_text(size="9" * 5000), None),
    "invalid_root_31_bytes": (checkpoint_text(root=base64.b64encode(ROOT[:31]).decode()), None),
    "invalid_root_33_bytes": (checkpoint_text(root=base64.b64encode(ROOT + b"\0").decode()), None),
    "invalid_root_unpadded": (checkpoint_text(root=ROOT_B64.rstrip("=")), None),
    "invalid_root_url_alphabet": (
        checkpoint_text(root=base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode()),
        None,
    ),
    "invalid_root_hex": (checkpoint_text(root=ROOT.hex()), None),
    "invalid_root_non_canonical": (checkpoint_text(root=non_canonical(ROOT_B64)), None),
    "invalid_missing_final_newline": (checkpoint_text()[:-1], None),
    "invalid_two_lines": (f"{LOG_NAME}\n5\n", None),
    "invalid_empty_extension": (checkpoint_text() + "\n", None),
    "invalid_empty_line_between_extensions": (checkpoint_text() + "a\n\nb\n", None),
    "invalid_crlf": (checkpoint_text().replace("\n", "\r\n"), None),
    "invalid_empty": ("", None),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_checkpoint_parsing(case: str) -> None:
    text, expected = CHECKPOINT_CASES[case]
    if expected is not None:
        assert Checkpoint.parse(text) == expected
        assert expected.to_text() == text
    else:
        with pytest.raises(NoteError) as caught:
            Checkpoint.parse(text)
        assert caught.value.reason is R.BAD_CHECKPOINT


def test_signed_note_that_is_not_a_checkpoint() -> None:
    note = sign_note("hello\n", LOG_NAME, LOG_SIGNER)
    with pytest.raises(NoteError) as caught:
        open_checkpoint(note, [LOG_KEY], origin=LOG_NAME)
    assert caught.value.reason is R.BAD_CHECKPOINT


def test_checkpoint_is_verified_before_it_is_parsed() -> None:
    bad_text_note = "not a checkpoint\n\n" + SIG
    with pytest.raises(NoteError) as caught:
        open_checkpoint(bad_text_note, [LOG_KEY], origin=LOG_NAME)
    assert caught.value.reason is R.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions", "error"),
    [
        ("", 1, ROOT, (), NoteError),
        ("a\nb", 1, ROOT, (), NoteError),
        (LOG_NAME, -1, ROOT, (), NoteError),
        (LOG_NAME, MAX_TREE_SIZE + 1, ROOT, (), NoteError),
        (LOG_NAME, 1, ROOT[:31], (), NoteError),
        (LOG_NAME, 1, ROOT, ("",), NoteError),
        (LOG_NAME, 1, ROOT, ("a\nb",), NoteError),
        (LOG_NAME, True, ROOT, (), UsageError),
        (LOG_NAME, 1, bytearray(ROOT), (), UsageError),
        (LOG_NAME, 1, ROOT, ["ext"], UsageError),
        (b"origin", 1, ROOT, (), UsageError),
    ],
)
def test_checkpoint_construction_is_validated(
    origin: object, size: object, root: object, extensions: object, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        Checkpoint(origin, size, root, extensions)  # type: ignore[arg-type]
    if isinstance(caught.value, NoteError):
        assert caught.value.reason is R.BAD_CHECKPOINT


# ------------------------------------------------------------------------- verifier keys

SMALL_ORDER_KEY = bytes([1]) + bytes(31)  # y = 1: the identity point (order 1)


def vkey_with_id(name: str, material: bytes) -> str:
    key_id = hashlib.sha256(name.encode() + b"\n" + material).digest()[:4].hex()
    return f"{name}+{key_id}+{base64.b64encode(material).decode()}"


PETER_RAW = base64.b64decode(PETER_VKEY.split("+", 2)[2])

VKEY_CASES: dict[str, str | None] = {
    "valid_peter": PETER_VKEY,
    "valid_unicode_name": vkey_with_id("l\u00f6g/\u2014", PETER_RAW),
    "invalid_uppercase_key_id": PETER_VKEY.replace("c74f20a3", "C74F20A3"),
    "invalid_short_key_id": PETER_VKEY.replace("c74f20a3", "c74f20a"),
    "invalid_wrong_key_id": PETER_VKEY.replace("c74f20a3", "c74f20a4"),
    "invalid_other_name": PETER_VKEY.replace("PeterNeumann", "PeterNeuman"),
    "invalid_name_with_space": vkey_with_id("Peter Neumann", PETER_RAW),
    "invalid_empty_name": vkey_with_id("", PETER_RAW),
    "invalid_algorithm_byte": vkey_with_id("PeterNeumann", b"\x04" + PETER_RAW[1:]),
    "invalid_key_length": vkey_with_id("PeterNeumann", PETER_RAW[:-1]),
    "invalid_small_order_key": vkey_with_id("PeterNeumann", b"\x01" + SMALL_ORDER_KEY),
    "invalid_extra_padding": PETER_VKEY + "=",
    "invalid_space_in_base64": PETER_VKEY.replace("ARpc", "ARpc "),
    "invalid_url_alphabet": PETER_VKEY.replace("/", "_"),
    "invalid_missing_material": "PeterNeumann+c74f20a3",
    "invalid_trailing_newline": PETER_VKEY + "\n",
}


@pytest.mark.parametrize("case", sorted(VKEY_CASES))
def test_vkey_parsing(case: str) -> None:
    vkey = VKEY_CASES[case]
    assert vkey is not None
    if case.startswith("valid_"):
        assert VerifierKey.parse(vkey).to_vkey() == vkey
    else:
        with pytest.raises(NoteError) as caught:
            VerifierKey.parse(vkey)
        assert caught.value.reason is R.BAD_KEY


def test_verifier_key_construction_is_validated() -> None:
    for name, public_key in [
        ("a+b", PETER_RAW[1:]),
        ("", PETER_RAW[1:]),
        ("a", bytes(31)),
        ("a", SMALL_ORDER_KEY),
    ]:
        with pytest.raises(NoteError) as caught:
            VerifierKey(name, public_key)
        assert caught.value.reason is R.BAD_KEY
    with pytest.raises(UsageError):
        VerifierKey("a", bytearray(PETER_RAW[1:]))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- misuse


def test_verifier_sets_are_checked() -> None:
    with pytest.raises(UsageError):
        open_note(CHECKPOINT_NOTE, [])
    with pytest.raises(UsageError):
        open_note(CHECKPOINT_NOTE, LOG_KEY)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        open_note(CHECKPOINT_NOTE, [LOG_KEY, "not a key"])  # type: ignore[list-item]
    with pytest.raises(UsageError):
        open_note(CHECKPOINT_NOTE, 42)  # type: ignore[arg-type]
    # The same key twice is harmless; two keys with the same name and key id are ambiguous.
    assert open_note(CHECKPOINT_NOTE, [LOG_KEY, LOG_KEY]).verified_by == (LOG_KEY,)


def test_ambiguous_verifier_set_is_refused() -> None:
    class Colliding(VerifierKey):  # a key id collision cannot be found, so fake one
        @property
        def key_id(self) -> bytes:
            return LOG_KEY.key_id

    with pytest.raises(UsageError):
        open_note(CHECKPOINT_NOTE, [LOG_KEY, Colliding(LOG_NAME, OTHER_SIGNER.public_key)])


class BrokenSigner:
    """A Signer whose signatures do not verify."""

    @property
    def public_key(self) -> bytes:
        return LOG_SIGNER.public_key

    def sign(self, message: bytes) -> bytes:
        return OTHER_SIGNER.sign(message)


def test_sign_note_refuses_bad_input() -> None:
    for text in ["no newline", "tab\there\n", "cr\r\n", "lone \ud800\n", ""]:
        with pytest.raises(NoteError) as caught:
            sign_note(text, LOG_NAME, LOG_SIGNER)
        assert caught.value.reason is R.MALFORMED
    for name in ["", "a b", "a+b", "a\u2028b"]:
        with pytest.raises(NoteError) as caught:
            sign_note("text\n", name, LOG_SIGNER)
        assert caught.value.reason is R.BAD_KEY
    with pytest.raises(UsageError):
        sign_note("text\n", LOG_NAME, BrokenSigner())
    with pytest.raises(UsageError):
        sign_note("text\n", LOG_NAME, object())  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        sign_note(b"text\n", LOG_NAME, LOG_SIGNER)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        open_note(bytearray(CHECKPOINT_NOTE.encode()), [LOG_KEY])  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        Checkpoint.parse(CHECKPOINT.to_text().encode())  # type: ignore[arg-type]


def test_note_signer_judges_the_key_once_and_every_signature() -> None:
    signer = NoteSigner(LOG_NAME, LOG_SIGNER)
    assert signer.sign("text\n") == sign_note("text\n", LOG_NAME, LOG_SIGNER)
    with pytest.raises(NoteError) as caught:
        signer.sign("no newline")
    assert caught.value.reason is R.MALFORMED
    with pytest.raises(NoteError) as caught:
        NoteSigner("a+b", LOG_SIGNER)
    assert caught.value.reason is R.BAD_KEY
    broken = NoteSigner(LOG_NAME, BrokenSigner())
    for _ in range(2):  # refused every time, not only the first
        with pytest.raises(UsageError):
            broken.sign("text\n")
