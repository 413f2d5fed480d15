"""Core deterministic CBOR (RFC 8949 §4.2.1) for the profile of spec §2.3, both directions.

Why our own code instead of cbor2's switches: cbor2's ``canonical=True`` sorts map keys
length-first (RFC 7049), not bytewise; its decoder ignores trailing bytes, accepts
non-shortest arguments and unsorted maps, and folds bignum tags into integers, so it cannot
report *which* rule an input broke in the order spec §2.4 fixes. Every byte that is hashed,
signed or verified goes through this module; cbor2 serves the tests as an independent check.

The decoder accepts exactly the encodings the encoder produces: a successful decode re-encodes
to the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from pda_lease.kernel.errors import UsageError

# The profile's value universe: int, bytes, str, list/tuple, dict, bool, None (+ Tag on top).
CborValue = object

_UINT64_MAX = (1 << 64) - 1
MAX_SUPPORTED_DEPTH = 256


@attrs.frozen
class Tag:
    """A tagged item; the strict decoder yields one only at the top level."""

    number: int
    content: object


class CborError(ValueError):
    """Strict decoding failed; ``reason`` is one of the spec §2.4 reasons."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.reason = reason
        self.offset = offset


class EncodeError(ValueError):
    """A value outside the profile was given to the encoder (a bug in the caller)."""


# ---------------------------------------------------------------------------------- encoding


# One-byte heads (argument < 24) for every major type, looked up instead of built per call.
SHORT_HEADS = tuple(bytes((initial,)) for initial in range(256))


def encode_head(major: int, argument: int) -> bytes:
    """The shortest head for ``major`` with ``argument`` (RFC 8949 §3, §4.2.1)."""
    mt = major << 5
    if argument < 24:
        return SHORT_HEADS[mt | argument]
    if argument < 0x100:
        return bytes((mt | 24, argument))
    if argument < 0x10000:
        return bytes((mt | 25,)) + argument.to_bytes(2, "big")
    if argument < 0x100000000:
        return bytes((mt | 26,)) + argument.to_bytes(4, "big")
    return bytes((mt | 27,)) + argument.to_bytes(8, "big")


def encode_bytes(value: bytes) -> bytes:
    """``det`` of a byte string."""
    return encode_head(2, len(value)) + value


def encode_text(value: str) -> bytes:
    """``det`` of a text string; raises ``EncodeError`` for text that is not valid Unicode."""
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodeError("text is not valid Unicode scalar values") from exc
    return encode_head(3, len(raw)) + raw


def encode_uint(value: int) -> bytes:
    """``det`` of an unsigned integer below 2^64."""
    if type(value) is not int or not 0 <= value <= _UINT64_MAX:
        raise EncodeError("not an unsigned 64-bit integer")
    return encode_head(0, value)


def _encode_key(key: object) -> bytes:
    kind = type(key)
    if kind is str:
        assert isinstance(key, str)
        return encode_text(key)
    if kind is int:
        assert isinstance(key, int)
        if 0 <= key <= _UINT64_MAX:
            return encode_head(0, key)
        if -(1 << 64) <= key < 0:
            return encode_head(1, -1 - key)
        raise EncodeError("integer outside the 64-bit CBOR range")
    raise EncodeError("map keys must be integers or text strings")


def _encode_into(value: object, out: bytearray) -> None:
    # Dispatch on the exact type: bool is a subclass of int, and neither a bool nor any other
    # subclass may pass for an integer (spec §2.1).
    kind = type(value)
    if kind is str:
        assert isinstance(value, str)
        out += encode_text(value)
    elif kind is bytes:
        assert isinstance(value, bytes)
        out += encode_head(2, len(value))
        out += value
    elif kind is int:
        assert isinstance(value, int)
        if 0 <= value <= _UINT64_MAX:
            out += encode_head(0, value)
        elif -(1 << 64) <= value < 0:
            out += encode_head(1, -1 - value)
        else:
            raise EncodeError("integer outside the 64-bit CBOR range")
    elif kind is dict:
        assert isinstance(value, dict)
        mapping: Mapping[object, object] = value
        # Encoded keys of distinct keys are distinct, so the sort never compares the values.
        entries = sorted((_encode_key(key), item) for key, item in mapping.items())
        out += encode_head(5, len(entries))
        for encoded_key, item in entries:
            out += encoded_key
            _encode_into(item, out)
    elif value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif kind is list or kind is tuple:
        assert isinstance(value, (list, tuple))
        items: Sequence[object] = value
        out += encode_head(4, len(items))
        for item in items:
            _encode_into(item, out)
    elif kind is Tag:
        assert isinstance(value, Tag)
        out += encode_head(6, value.number)
        _encode_into(value.content, out)
    else:
        raise EncodeError(f"type {kind.__name__} is not in the CBOR profile")


def encode(value: object) -> bytes:
    """Deterministic encoding ``det(value)`` of spec §2.3; raises ``EncodeError`` outside it."""
    out = bytearray()
    _encode_into(value, out)
    return bytes(out)


# ---------------------------------------------------------------------------------- decoding

_MALFORMED = "MALFORMED_CBOR"
_TOO_DEEP = "TOO_DEEP"
_NON_DET = "NON_DETERMINISTIC"
_FORBIDDEN = "FORBIDDEN_CBOR_TYPE"
_TRAILING = "TRAILING_BYTES"

# Smallest argument that needs additional information 24, 25, 26, 27 respectively.
SHORTEST_MIN = {24: 24, 25: 0x100, 26: 0x10000, 27: 0x100000000}


class _Decoder:
    __slots__ = ("allow_top_tag", "data", "max_depth")

    def __init__(self, data: bytes, max_depth: int, allow_top_tag: bool) -> None:
        self.data = data
        self.max_depth = max_depth
        self.allow_top_tag = allow_top_tag

    def head(self, pos: int, depth: int, is_key: bool) -> tuple[int, int, int]:
        """Read and judge one head (spec §2.4 checks a-d). Returns major, argument, next pos."""
        data = self.data
        if pos >= len(data):
            raise CborError(_MALFORMED, pos)
        initial = data[pos]
        major = initial >> 5
        info = initial & 0x1F
        nxt = pos + 1
        if info < 24:
            argument = info
        elif info < 28:
            size = 1 << (info - 24)
            if nxt + size > len(data):
                raise CborError(_MALFORMED, pos)
            argument = int.from_bytes(data[nxt : nxt + size], "big")
            nxt += size
        elif info < 31 or major in (0, 1, 6, 7):
            # Reserved additional information, or 31 where it is never well formed
            # (a break outside an indefinite item, or an indefinite integer or tag).
            raise CborError(_MALFORMED, pos)
        else:
            argument = -1  # indefinite length, judged below after the depth check
        if depth > self.max_depth:
            raise CborError(_TOO_DEEP, pos)
        if major != 7:
            if info == 31 or (info >= 24 and argument < SHORTEST_MIN[info]):
                raise CborError(_NON_DET, pos)
        elif initial not in (0xF4, 0xF5, 0xF6):
            raise CborError(_FORBIDDEN, pos)
        if major == 6 and not (depth == 1 and self.allow_top_tag):
            raise CborError(_FORBIDDEN, pos)
        if is_key and major not in (0, 1, 3):
            raise CborError(_FORBIDDEN, pos)
        return major, argument, nxt

    def item(self, pos: int, depth: int, is_key: bool = False) -> tuple[object, int]:
        data = self.data
        major, argument, pos = self.head(pos, depth, is_key)
        if major == 0:
            return argument, pos
        if major == 1:
            return -1 - argument, pos
        if major in (2, 3):
            end = pos + argument
            if end > len(data):
                raise CborError(_MALFORMED, pos)
            raw = data[pos:end]
            if major == 2:
                return raw, end
            try:
                return raw.decode("utf-8"), end
            except UnicodeDecodeError:
                raise CborError(_MALFORMED, pos) from None
        if major == 4:
            items = []
            for _ in range(argument):
                value, pos = self.item(pos, depth + 1)
                items.append(value)
            return items, pos
        if major == 5:
            result: dict[object, object] = {}
            previous_key = b""
            for index in range(argument):
                key_start = pos
                key, pos = self.item(pos, depth + 1, is_key=True)
                encoded_key = data[key_start:pos]
                if index and encoded_key <= previous_key:
                    raise CborError(_NON_DET, key_start)
                previous_key = encoded_key
                value, pos = self.item(pos, depth + 1)
                result[key] = value
            return result, pos
        if major == 6:
            content, pos = self.item(pos, depth + 1)
            return Tag(argument, content), pos
        # Major type 7: only false, true and null pass the head check.
        return {0xF4: False, 0xF5: True, 0xF6: None}[data[pos - 1]], pos


def decode(data: bytes, *, max_depth: int, allow_top_tag: bool = False) -> object:
    """Strictly decode exactly one profile data item filling ``data`` (spec §2.4).

    Raises ``CborError`` with the reason of the first violation in byte order.
    """
    if type(max_depth) is not int or not 1 <= max_depth <= MAX_SUPPORTED_DEPTH:
        # The decoder recurses once per level; keep far below Python's recursion limit.
        raise UsageError(f"max_depth must be an integer in [1, {MAX_SUPPORTED_DEPTH}]")
    decoder = _Decoder(data, max_depth, allow_top_tag)
    value, end = decoder.item(0, 1)
    if end != len(data):
        raise CborError(_TRAILING, end)
    return value
